"""The code bundle: the project's modules served from one file while their sources are
unchanged, and from their files as usual once edited (or without a bundle)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from runsc_py import codebundle

REPO = Path(codebundle.TOP)

_PROBE = """
import sys
from runsc_py import codebundle
f = codebundle.install(sys.argv[1])
import sentry.vfs.statcache as m, gofer.protocol
print(f is not None, f.served if f else 0, type(m.__spec__.loader).__name__, m.__file__)
print(type(gofer.protocol.__spec__.loader).__name__)
"""


def _probe(bundle: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(bundle)], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split("\n")


def test_unchanged_modules_come_from_the_bundle(tmp_path):
    bundle = tmp_path / "code.bundle"
    n = codebundle.build(str(bundle))
    assert n > 150
    first, second = _probe(bundle)[:2]
    ok, served, loader, path = first.split()
    assert ok == "True" and int(served) >= 2 and loader == "BundleFinder"
    assert path == str(REPO / "sentry" / "vfs" / "statcache.py")
    assert second == "BundleFinder"


def test_an_edited_module_comes_from_its_file(tmp_path):
    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))
    src = REPO / "sentry" / "vfs" / "statcache.py"
    st = src.stat()
    try:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        first, second = _probe(bundle)[:2]
    finally:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert first.split()[2] == "SourceFileLoader"
    assert second == "BundleFinder"


def test_no_bundle_or_a_foreign_one_changes_nothing(tmp_path):
    assert _probe(tmp_path / "missing")[0].split()[:3] == ["False", "0", "SourceFileLoader"]
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00not marshal")
    assert _probe(junk)[0].split()[0] == "False"
    import marshal

    other = tmp_path / "other"
    other.write_bytes(marshal.dumps(("0 cpython-99 9.9", {})))
    assert _probe(other)[0].split()[0] == "False"
    # The right layout for another interpreter: its index's tag is not this one's.
    index = marshal.dumps(("2 cpython-99 9.9", {}))
    other.write_bytes(b"RSPYCODE" + len(index).to_bytes(8, "little") + index)
    assert _probe(other)[0].split()[0] == "False"


def test_another_build_of_the_interpreter_uses_it_unless_its_bytecode_differs(
        tmp_path, monkeypatch):
    """A bundle built by another build of this Python (a security update: another
    ``sys.version``, the same bytecode magic) is used; one built for other bytecode is not."""
    bundle = tmp_path / "code.bundle"
    monkeypatch.setattr(sys, "version", "3.11.2 (main, Jan  1 2020, 00:00:00) [GCC 1.0]")
    codebundle.build(str(bundle))
    first = _probe(bundle)[0].split()
    assert first[0] == "True" and first[2] == "BundleFinder"
    monkeypatch.undo()
    external = sys.modules["_frozen_importlib_external"]
    monkeypatch.setattr(external, "MAGIC_NUMBER", b"\x00\x00\r\n")
    codebundle.build(str(bundle))
    assert _probe(bundle)[0].split()[:3] == ["False", "0", "SourceFileLoader"]


def test_a_truncated_bundle_is_not_used(tmp_path):
    """An index naming code past the file's end (a copy cut short) is refused whole: a
    mapping read past its end would be a SIGBUS, not an ImportError."""
    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) - 100])
    assert _probe(bundle)[0].split()[:3] == ["False", "0", "SourceFileLoader"]
    bundle.write_bytes(data[:20])  # the index itself cut short
    assert _probe(bundle)[0].split()[:3] == ["False", "0", "SourceFileLoader"]


_RECORDS_PROBE = """
import builtins, sys
from runsc_py import codebundle
f = codebundle.install(sys.argv[1])
compiled = []
real = builtins.compile
def counting(src, filename, *a, **kw):
    if filename == "<record>":
        compiled.append(src)
    return real(src, filename, *a, **kw)
builtins.compile = counting
from sentry.config import BootConfig, MountSpec
from sentry.syscalls.linux import linux64
cfg = BootConfig(argv=["true"], env=[])
print(len(f.generated_at) if f else 0, len(compiled), cfg.argv, linux64.TABLE[0].name)
"""


def test_record_inits_come_compiled_from_the_bundle(tmp_path):
    """The records' generated ``__init__`` methods are compiled once, when the bundle is
    built, not at every start; without the bundle they are compiled as before."""
    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))

    def probe(path):
        out = subprocess.run([sys.executable, "-c", _RECORDS_PROBE, str(path)], cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.split()

    generated, compiled, argv, name = probe(bundle)
    assert int(generated) > 10 and compiled == "0"
    assert argv == "['true']" and name == "read"
    generated, compiled, _, _ = probe(tmp_path / "none")
    assert generated == "0" and int(compiled) > 2


_PTRACE_PROBE = """
import sys
from runsc_py import codebundle
f = codebundle.install(sys.argv[1])
from sentry.syscalls.linux import ptrace_data as p
lazy = "_runsc_py_ptrace_prototypes" not in sys.modules
import os, posix
def refuse(*args, **kw):  # (as in a confined sentry: no stat of any file now)
    raise PermissionError(13, "confined")
os.stat = posix.stat = refuse
protos = len(p.SYSCALL_PROTOTYPES)
loaders = {n: type(sys.modules[n].__spec__.loader).__name__ for n in p.BUNDLE_MODULES}
print(repr((loaders, "importlib.util" in sys.modules, len(p.SYSCALL_NAMES),
            p.SYSCALL_NAMES.get(39), protos, lazy)))
"""


def test_python_ptrace_tables_come_from_the_bundle(tmp_path):
    """The two data modules of python-ptrace the sentry loads from their files (its
    BUNDLE_MODULES) are in the bundle, served from it without importlib.util's package
    search (the prototypes only at their first use), and loaded from their files again
    without a bundle (both at import): the same tables."""
    import ast

    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))

    def probe(path: Path) -> tuple:
        out = subprocess.run([sys.executable, "-c", _PTRACE_PROBE, str(path)], cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=True)
        return ast.literal_eval(out.stdout.strip().splitlines()[-1])

    loaders, util, n, getpid, protos, lazy = probe(bundle)
    assert set(loaders) == {"_runsc_py_ptrace_linux_x86_64", "_runsc_py_ptrace_prototypes"}
    assert set(loaders.values()) == {"BundleFinder"} and not util
    assert getpid == "getpid" and n > 300 and protos > 300
    assert lazy  # (only --strace reads the prototypes: loaded at their first use)
    loaders, util, n2, getpid, protos2, lazy = probe(tmp_path / "none")
    assert "BundleFinder" not in set(loaders.values()) and util
    assert (n2, getpid, protos2) == (n, "getpid", protos) and not lazy


def test_a_sandbox_says_in_its_debug_log_where_its_modules_came_from(tmp_path):
    """The checkout's own bundle is in use by a sandbox it starts (the README's commands
    build it for the interpreter they run), and the debug log says so: a bundle left unused
    costs every start ~20 ms without any other sign."""
    from helpers.runner import runsc

    log = tmp_path / "debug.log"
    res = runsc(["do", "--", "/bin/true"], root=tmp_path / "state", debug_log=str(log),
                timeout=60)
    assert res.rc == 0, res.describe()
    (line,) = [x for x in log.read_text().splitlines() if " imports: " in x]
    m = re.search(r"imports: (\d+) modules from the code bundle, (\d+) from their files", line)
    assert m is not None, line
    # (a module edited since the bundle was built comes from its file: not counted here)
    assert int(m.group(1)) > 50, line
