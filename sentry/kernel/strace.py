"""``--strace``: one line per workload syscall with decoded arguments and result.

Argument names and C types come from python-ptrace's prototype table; strings
(``const char *`` paths) are read from the task for display only (a handler
always reads its own copy).
"""

from __future__ import annotations

import errno

from sentry.syscalls.linux.ptrace_data import SYSCALL_PROTOTYPES

from sentry.syscalls.linux import linux64

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional
    from sentry.kernel.task import Task

_STR_TYPES = ("const char *",)
_STR_NAMES = ("filename", "pathname", "path", "oldname", "newname", "name", "specialfile",
              "library", "old", "new")
_SIGNED = ("int", "long", "pid_t", "off_t", "loff_t")


def _fmt_arg(t: "Task", ctype: str, name: str, v: int) -> str:
    if ctype in _STR_TYPES and name in _STR_NAMES and v:
        try:
            s = t.mem.read_cstring(v, 256)
            return repr(s.decode("utf-8", "replace"))
        except Exception:
            return hex(v)
    if ctype in _SIGNED:
        v &= 0xFFFFFFFFFFFFFFFF if ctype != "int" else 0xFFFFFFFF
        bits = 32 if ctype == "int" else 64
        if v >> (bits - 1):
            v -= 1 << bits
        return str(v)
    if "*" in ctype:
        return hex(v) if v else "NULL"
    return str(v) if v < 4096 else hex(v)


def format_result(ret: Optional[int]) -> str:
    if ret is None:
        return "... (parked)"
    if type(ret).__name__ == "_Continue":
        return "(host)"
    if ret < 0:
        return f"-1 {errno.errorcode.get(-ret, str(-ret))}"
    return str(ret) if ret < 4096 else hex(ret)


# Calls whose buffer argument (index 1, length index 2) is data worth showing,
# like strace does: before the call for writes, after it for reads.
_OUT_BUF = {"write", "pwrite64", "sendto"}
_IN_BUF = {"read", "pread64", "recvfrom"}
_SHOW = 48


def _buf(t: "Task", addr: int, n: int) -> str:
    try:
        data = t.mem.read(addr, min(n, _SHOW))
    except Exception:
        return hex(addr)
    return repr(data) + ("..." if n > _SHOW else "")


def format_call(t: "Task", nr: int, args: Any, ret: Optional[int]) -> str:
    name = linux64.NAMES.get(nr, f"syscall_{nr}")
    proto = SYSCALL_PROTOTYPES.get(name)
    if proto is None:
        shown = [hex(args[i]) for i in range(6)]
    else:
        shown = [_fmt_arg(t, ctype, an, args[i]) for i, (ctype, an) in enumerate(proto[1])]
    if name in _OUT_BUF and len(shown) > 2:
        shown[1] = _buf(t, args[1], args[2])
    elif name in _IN_BUF and len(shown) > 2 and isinstance(ret, int) and ret > 0 \
            and type(ret).__name__ != "_Continue":
        shown[1] = _buf(t, args[1], ret)
    return f"{name}({', '.join(shown)}) = {format_result(ret)}"
