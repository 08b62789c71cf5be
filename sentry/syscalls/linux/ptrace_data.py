"""python-ptrace's syscall tables, without python-ptrace.

The sentry takes syscall names (``ptrace/syscall/linux/x86_64.py``) and prototypes
(``ptrace/syscall/prototypes.py``) from python-ptrace; both are plain data modules.
Importing them the usual way runs the ``ptrace.syscall`` package's ``__init__``, which
loads the whole tracer (ctypes bindings, a ``ldconfig -p`` fork to find libc): ~35 ms of
every sentry's start for two dicts.  They are loaded here from their files instead.
"""

from __future__ import annotations

import os
import sys

from runsc_py import codebundle

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from types import ModuleType

#: The modules :func:`_load` loaded from their files (name -> path): the code bundle
#: keeps them (``runsc_py.codebundle``), and serves them while they are unchanged, without
#: the package search and importlib.util (~1.8 ms of every start).
BUNDLE_MODULES: dict = {}


def _bundled(name: str) -> bool:
    """Whether the code bundle serves module *name* (its file stat'ed once, the first
    time: a confined sentry asks again without a stat)."""
    finder = codebundle.installed()
    if finder is None or not finder.importable_later(name):
        return False
    BUNDLE_MODULES[name] = finder.entries[name][1]  # (a bundle built here keeps it)
    return True


def _load(*parts: str) -> ModuleType:
    name = "_runsc_py_ptrace_" + "_".join(parts)
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    if _bundled(name):
        import importlib

        return importlib.import_module(name)
    import importlib.util

    spec = importlib.util.find_spec("ptrace")  # finds the package, runs nothing of it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("python-ptrace is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "syscall", *parts) + ".py"
    file_spec = importlib.util.spec_from_file_location(name, path)
    assert file_spec is not None and file_spec.loader is not None
    mod = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(mod)
    sys.modules[name] = mod
    BUNDLE_MODULES[name] = os.path.abspath(path)
    return mod


#: {number: name} of x86-64 syscalls.
SYSCALL_NAMES: dict = _load("linux", "x86_64").SYSCALL_NAMES

#: {name: (return type, ((type, name), ...))}: only ``--strace`` reads them, so they are
#: loaded at their first use (:func:`__getattr__`) when the bundle can serve them then,
#: which is checked now, before a sentry is confined (~0.4 ms of every sentry's boot);
#: else now, from their file.
if TYPE_CHECKING:
    SYSCALL_PROTOTYPES: dict
elif not _bundled("_runsc_py_ptrace_prototypes"):
    SYSCALL_PROTOTYPES = _load("prototypes").SYSCALL_PROTOTYPES


if not TYPE_CHECKING:  # (mypy would type every name of the module as its result)

    def __getattr__(name: str) -> dict:
        if name != "SYSCALL_PROTOTYPES":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value: dict = _load("prototypes").SYSCALL_PROTOTYPES
        globals()[name] = value
        return value
