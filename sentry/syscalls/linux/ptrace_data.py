"""python-ptrace's syscall tables, without python-ptrace.

The sentry takes syscall names (``ptrace/syscall/linux/x86_64.py``) and prototypes
(``ptrace/syscall/prototypes.py``) from python-ptrace; both are plain data modules.
Importing them the usual way runs the ``ptrace.syscall`` package's ``__init__``, which
loads the whole tracer (ctypes bindings, a ``ldconfig -p`` fork to find libc): ~35 ms of
every sentry's start for two dicts.  They are loaded here from their files instead.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType


def _load(*parts: str) -> ModuleType:
    name = "_runsc_py_ptrace_" + "_".join(parts)
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    spec = importlib.util.find_spec("ptrace")  # finds the package, runs nothing of it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("python-ptrace is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "syscall", *parts) + ".py"
    file_spec = importlib.util.spec_from_file_location(name, path)
    assert file_spec is not None and file_spec.loader is not None
    mod = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(mod)
    sys.modules[name] = mod
    return mod


#: {number: name} of x86-64 syscalls.
SYSCALL_NAMES: dict = _load("linux", "x86_64").SYSCALL_NAMES
#: {name: (return type, ((type, name), ...))}.
SYSCALL_PROTOTYPES: dict = _load("prototypes").SYSCALL_PROTOTYPES
