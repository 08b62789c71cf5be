"""Seccomp programs built once at install time, and loading one without libseccomp.

Every filter runsc-py installs (the workload's, the sentry's two, the gofer's) depends only
on tables in the source, not on the sandbox: building them with libseccomp at every start
cost each sentry and each gofer ~20 ms (importing ``pyseccomp`` runs ``ldconfig -p`` twice
through ``ctypes.util.find_library``; then the rules are compiled).  ``scripts/setup.sh``
runs ``python -m sentry.precompute``, which builds them all and writes :data:`CACHE`: per
program, the classic-BPF bytes and the key of what they were built from (those inputs
themselves).

A program is taken from the cache only if its key matches the one computed now from the
same inputs (the builder module's source and the table it reads, see :func:`key`); anything
else (no cache, a table or a builder changed since, another program) builds it with
libseccomp as before.  So the cache can make a start faster, never make a filter differ
from the tables.

This module is imported by the sentry and by the gofer before they confine themselves: it
imports nothing heavy, and :func:`load` needs nothing but the ``seccomp`` call.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

from runsc_py import jsonc

#: The cache file ``python -m sentry.precompute`` writes (not in the repository).
CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp-programs.json")

_SYS_SECCOMP = 317
_SECCOMP_SET_MODE_FILTER = 1
_SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_entries: dict[str, dict[str, str]] | None = None


def key(*parts: str | bytes | None) -> str:
    """The key of a program built from *parts* (each a builder's source, a table's repr):
    the parts themselves, compared whole (no digest: ``hashlib`` loads OpenSSL, whose exit
    handlers make calls the gofer's filter kills).  Empty, which matches nothing, if a part
    is None (a source that could not be read)."""
    if any(part is None for part in parts):
        return ""
    texts = [p.decode(errors="surrogateescape") if isinstance(p, bytes) else str(p)
             for p in parts]
    return "".join(f"{len(t)}:{t}" for t in texts)


def source(module_file: str) -> bytes | None:
    """The source of the module whose ``__file__`` is *module_file*, for :func:`key`
    (None if it cannot be read)."""
    path = module_file[:-1] if module_file.endswith(".pyc") else module_file
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _read_cache() -> dict[str, dict[str, str]]:
    global _entries
    if _entries is None:
        try:
            with open(CACHE, encoding="ascii") as f:
                data = jsonc.loads(f.read())
            _entries = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            _entries = {}
    return _entries


def program(name: str, program_key: str, build: Callable[[], bytes]) -> bytes:
    """Program *name* from the cache if it was built from what *program_key* says, else
    ``build()`` (libseccomp)."""
    entry = _read_cache().get(name) if program_key else None
    if isinstance(entry, dict) and entry.get("key") == program_key:
        try:
            prog = bytes.fromhex(entry.get("bpf", ""))
        except ValueError:
            prog = b""
        if prog and len(prog) % _SOCK_FILTER_SIZE == 0:
            return prog
    return build()


def write_cache(programs: dict[str, tuple[str, bytes]], path: str = CACHE) -> None:
    """Write *programs* (name -> (key, bytes)) to *path*, atomically."""
    import json  # (at install time only)

    data = {name: {"key": k, "bpf": prog.hex()} for name, (k, prog) in sorted(programs.items())}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def load(prog: bytes) -> None:
    """Install the classic-BPF program *prog* on this thread (``seccomp(2)``
    ``SECCOMP_SET_MODE_FILTER``, no flags: what libseccomp's ``seccomp_load`` does with its
    default attributes).  The caller has set ``PR_SET_NO_NEW_PRIVS`` (or holds
    ``CAP_SYS_ADMIN``).

    :raises OSError: the kernel refused it.
    """
    n, rest = divmod(len(prog), _SOCK_FILTER_SIZE)
    if rest or not 0 < n <= 4096:
        raise OSError(22, "not a classic-BPF program")
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(n, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                     ctypes.c_long(0), ctypes.byref(fprog)) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(e)}")
