"""The project's own modules as one file of code objects, mapped once at start-up.

A sandbox's sentry imports every module of ``sentry`` and ``gofer`` before it confines
itself (``sentry.confine.preload``: a confined sentry can open no file), ~160 modules on
the critical path of every start.  Each import through the path finder stats its
directories, opens and reads a ``.pyc``; from here it is one mapping of this bundle
(``code.bundle`` next to this module, built at install time by ``python -m
sentry.precompute``) and each module's code unmarshalled from memory.

The file is an index (name -> where its code is) followed by the code, and is mapped, not
read: install reads the index (~20 KiB) and maps the rest, and each import unmarshals its
module's code from the mapping.  Reading the whole file (~2.8 MB) and unmarshalling it
into one ``bytes`` per module made ~1,900 page faults and took 12-18 ms here, on the
critical path before anything else was imported; the mapping's pages are the page
cache's, shared by every sandbox, and only the imported modules' are touched.  The
builder replaces the file atomically (a new inode): a mapping of the old one stays valid.

The bundle also holds the code of what the project generates at import: the records'
``__init__`` methods (``sentry.records``), compiled here rather than at every start (~40 us a
small class, ~250 us ``BootConfig``: ~1.5 ms of every sandbox's start), keyed by their
source (the same source compiles to the same code, so they never go stale).

A module is served from the bundle only while its source file has the size and
modification time it had when the bundle was built (one ``stat`` per import, the check a
``.pyc`` makes): an edited module is imported from its file as usual, whatever the
bundle says.  A bundle of another interpreter version, or none, changes nothing.

Imported before anything else of the project (:func:`runsc_py.launch.entry`), for the
verbs that start a sentry and the per-container ones (``start``, ``kill``, ``state``,
``delete``: their modules and records' code from the mapping, ~0.7 ms of ~12): besides
what the interpreter has loaded at start, it imports only :mod:`mmap`.
"""

from __future__ import annotations

import marshal
import mmap
import os
import sys

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, Dict, Optional, Sequence, Tuple

    #: name -> (is a package, path relative to TOP, source size, source mtime_ns, offset
    #: of its marshalled code after the index, its length, the modules outside the project
    #: it imports anywhere in its source (:func:`_outside_imports`))
    Entry = Tuple[bool, str, int, int, int, int, Tuple[str, ...]]
else:
    # The import system's own class (importlib.machinery's, without importing importlib:
    # the per-container commands install the bundle too).
    ModuleSpec = type(sys.__spec__)

#: The packages whose modules go in the bundle.
PACKAGES = ("sentry", "gofer", "runsc_py")
_HERE = os.path.dirname(os.path.abspath(__file__))
#: The repository (or site-packages) directory holding the packages.
TOP = os.path.dirname(_HERE)
PATH = os.path.join(_HERE, "code.bundle")
_FORMAT = 4
#: The file's first bytes, then the index's length (8 bytes, little-endian), the index
#: (marshalled (tag, entries)) and the modules' code.
_MAGIC = b"RSPYCODE"
_HEAD = len(_MAGIC) + 8


def _tag() -> str:
    """What a bundle must have been built by to be used: this file format and the
    interpreter's bytecode (its magic number, what decides whether a ``.pyc`` can be
    used), not its exact build. A security update of the interpreter keeps the magic of
    its minor version; with its build date in the tag (``sys.version``), every start
    after one ignored the bundle until the next install (~20 ms of a ``do --
    /bin/true``: 56 -> 75 ms), and the test command's own packages update Debian's
    interpreter after setup builds the bundle (``libpython3.11-testsuite`` needs its
    exact version). A module the update changed is not served from the bundle anyway:
    each is checked against its file."""
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    return f"{_FORMAT} {sys.implementation.cache_tag} {magic.hex()}"


class BundleFinder:
    """A meta path finder and loader serving the bundle's up-to-date modules."""

    def __init__(self, entries: Dict[str, Entry], code: memoryview,
                 generated: Optional[Dict[str, Tuple[int, int]]] = None) -> None:
        self.entries = entries
        self.code = code  # the mapped code section
        #: source -> where its code is: what ``sentry.records`` compiles at import
        self.generated_at = generated or {}
        self.served = 0
        #: The modules imported before it was installed (it could serve none of them).
        self.before = frozenset(sys.modules)
        #: The modules found up to date by :meth:`importable_later`: served without a stat.
        self.checked: set = set()

    def _fresh(self, e: Entry) -> bool:
        try:
            st = os.stat(os.path.join(TOP, e[1]))
        except OSError:
            return False
        # Edited since the bundle was built: the file's, as usual.
        return st.st_size == e[2] and st.st_mtime_ns == e[3]

    def find_spec(self, name: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        e = self.entries.get(name)
        if e is None or (name not in self.checked and not self._fresh(e)):
            return None
        is_pkg, rel = e[0], e[1]
        origin = os.path.join(TOP, rel)
        # (A loader by duck typing: importlib.abc.Loader would import importlib.resources,
        # 14 ms.)
        spec = ModuleSpec(name, self, origin=origin, is_package=is_pkg)  # type: ignore[arg-type]
        spec.has_location = True
        if is_pkg:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        offset, length = self.entries[module.__name__][4:6]
        code = marshal.loads(self.code[offset:offset + length])
        self.served += 1
        exec(code, module.__dict__)

    def generated(self, src: str) -> Any:
        """The code of *src*, a source the project generates and compiles at import
        (``sentry.records``' ``__init__`` methods), if the bundle has it; else None."""
        at = self.generated_at.get(src)
        if at is None:
            return None
        return marshal.loads(self.code[at[0]:at[0] + at[1]])

    def importable_later(self, name: str) -> bool:
        """Whether module *name* can be imported from the bundle later without opening a
        file, as a confined sentry must (``sentry.confine.preload``): it is in the bundle
        and up to date (checked now, and not again), and what it imports from outside the
        project is imported now.  False: it must be imported now, from its file."""
        if name in self.checked:
            return True
        e = self.entries.get(name)
        if e is None or not self._fresh(e):
            return False
        for outside in e[6]:
            if outside not in sys.modules:
                try:
                    __import__(outside)
                except ImportError:
                    pass  # the module's own import meets the same (an optional one)
        self.checked.add(name)
        return True

    def get_source(self, name: str) -> Optional[str]:
        """For tracebacks (linecache): the source file, if it can still be read."""
        try:
            with open(os.path.join(TOP, self.entries[name][1]), encoding="utf-8") as f:
                return f.read()
        except (OSError, KeyError, UnicodeDecodeError):
            return None


def installed() -> Optional[BundleFinder]:
    """The bundle :func:`install` put in ``sys.meta_path``, if any."""
    for f in sys.meta_path:
        if isinstance(f, BundleFinder):
            return f
    return None


def summary() -> str:
    """Where this process's modules of the project came from, for a debug log: a bundle
    not used (built for another interpreter, or none) costs every start ~20 ms."""
    f = installed()
    if f is None:
        return (f"no code bundle in use ({PATH}: none, or built for another interpreter; "
                f"python -m sentry.precompute builds it): the project's modules came from "
                f"their files")
    files = sorted(name for name, m in list(sys.modules.items())
                   if name in f.entries and name not in f.before and m is not None
                   and not isinstance(getattr(m.__spec__, "loader", None), BundleFinder))
    out = f"{f.served} modules from the code bundle, {len(files)} from their files"
    return out + (f" ({', '.join(files[:8])}{', ...' if len(files) > 8 else ''})" if files else "")


def install(path: str = PATH) -> Optional[BundleFinder]:
    """Serve imports from the bundle at *path* from now on (first in ``sys.meta_path``);
    None if there is none usable."""
    f = installed()
    if f is not None:
        return f
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = os.read(fd, _HEAD)
        if len(head) != _HEAD or head[:len(_MAGIC)] != _MAGIC:
            return None
        n = int.from_bytes(head[len(_MAGIC):], "little")
        size = os.fstat(fd).st_size
        if n > size - _HEAD:
            return None
        raw = os.read(fd, n)
        if len(raw) != n:
            return None
        data = marshal.loads(raw)
        if (not isinstance(data, tuple) or len(data) != 3 or data[0] != _tag()
                or not isinstance(data[1], dict) or not isinstance(data[2], dict)):
            return None
        code_size = size - _HEAD - n
        for at in [e[4:6] for e in data[1].values()] + list(data[2].values()):
            if at[0] < 0 or at[1] < 0 or at[0] + at[1] > code_size:
                return None  # not what build wrote: a mapping would fault past its end
        mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    except (OSError, EOFError, ValueError, TypeError, IndexError):
        return None
    finally:
        os.close(fd)
    finder = BundleFinder(data[1], memoryview(mapped)[_HEAD + n:], data[2])
    sys.meta_path.insert(0, finder)
    return finder


#: The packages whose docstrings are left out of the bundle: nothing reads them at run
#: time, and they are an eighth of the code unmarshalled at every start (the sentry's
#: ~160 modules: 2.4 -> 2.1 MB, ~2 ms and ~140 page faults less of its preload).  The CLI's
#: stay: click prints them as the commands' help.
_NO_DOCSTRINGS = ("sentry", "gofer")


def _without_docstrings(src: bytes, filename: str) -> Any:
    """*src*'s syntax tree without its module, class and function docstrings (line numbers
    unchanged, for tracebacks)."""
    import ast

    tree = ast.parse(src, filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
    return tree


def _outside_imports(src: bytes, filename: str) -> Tuple[str, ...]:
    """The modules outside :data:`PACKAGES` that importing the module *src* imports: its
    import statements outside functions (a function's own imports run when it is called,
    as they always did), not those only a type checker reads (``if TYPE_CHECKING:``); for
    ``from a import b``, ``a`` and, when it is a module, ``a.b``."""
    import ast
    import importlib.util

    found: set = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.If) and _type_checking(node.test):
            for other in node.orelse:
                visit(other)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                try:
                    if importlib.util.find_spec(sub) is not None:
                        found.add(sub)
                except (ImportError, ValueError):
                    pass
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(src, filename))
    return tuple(sorted(n for n in found if n.split(".")[0] not in PACKAGES))


def _type_checking(test: Any) -> bool:
    import ast

    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _generated_sources(entries: Dict[str, Entry]) -> list:
    """The sources the project's modules generate and compile as they are imported (the
    records' ``__init__`` methods): every module is imported here, in the builder's process,
    and ``sentry.records`` keeps what it compiled."""
    import importlib

    for name in sorted(entries):
        if not name.endswith("__main__"):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - one that cannot be imported here adds nothing
                pass
    from sentry import records

    return sorted(records.sources)


def _outside_data_modules(entries: Dict[str, Entry]) -> Dict[str, str]:
    """Modules from outside the project that a module of it loads from their files under
    a name of its own (its ``BUNDLE_MODULES``: name -> absolute path; python-ptrace's
    syscall tables, ``sentry.syscalls.linux.ptrace_data``), to be served from the bundle
    as the project's are (checked against their file the same way)."""
    out: Dict[str, str] = {}
    for name in entries:
        mod = sys.modules.get(name)
        extra = getattr(mod, "BUNDLE_MODULES", None) if mod is not None else None
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if os.path.isabs(v)})
    return out


def build(path: str = PATH) -> int:
    """Compile every module of :data:`PACKAGES` into the bundle at *path* (atomically);
    returns how many."""
    entries: Dict[str, Entry] = {}
    blobs: list = []
    offset = 0

    def add(name: str, is_pkg: bool, where: str, full: str, strip: bool) -> None:
        """Compile the module *name* from its file *full* (*where*: the entry's path,
        relative to TOP for the project's); *strip*: without docstrings."""
        nonlocal offset
        st = os.stat(full)
        with open(full, "rb") as f:
            src = f.read()
        source: Any = _without_docstrings(src, full) if strip else src
        code = marshal.dumps(compile(source, full, "exec", dont_inherit=True))
        entries[name] = (is_pkg, where, st.st_size, st.st_mtime_ns, offset, len(code),
                         _outside_imports(src, full))
        blobs.append(code)
        offset += len(code)

    for pkg in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(TOP, pkg)):
            dirnames[:] = sorted(d for d in dirnames if d.isidentifier())
            if "__init__.py" not in filenames:
                dirnames[:] = []
                continue
            rel_dir = os.path.relpath(dirpath, TOP)
            for fn in sorted(filenames):
                if not fn.endswith(".py") or not fn[:-3].isidentifier():
                    continue
                rel = os.path.join(rel_dir, fn)
                parts = rel_dir.split(os.sep)
                is_pkg = fn == "__init__.py"
                name = ".".join(parts if is_pkg else parts + [fn[:-3]])
                if name == __name__:
                    continue  # imported before the bundle is there
                add(name, is_pkg, rel, os.path.join(TOP, rel), pkg in _NO_DOCSTRINGS)
    sources = _generated_sources(entries)  # (imports every module of the project)
    for name, full in sorted(_outside_data_modules(entries).items()):
        add(name, False, full, full, False)
    generated: Dict[str, Tuple[int, int]] = {}
    for src in sources:
        code = marshal.dumps(compile(src, "<record>", "exec", dont_inherit=True))
        generated[src] = (offset, len(code))
        blobs.append(code)
        offset += len(code)
    index = marshal.dumps((_tag(), entries, generated))
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(index).to_bytes(8, "little") + index)
        f.writelines(blobs)
    os.replace(tmp, path)
    return len(entries)
