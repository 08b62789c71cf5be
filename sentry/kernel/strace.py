"""``--strace``: one line per workload syscall with decoded arguments and result.

Argument names and C types come from python-ptrace's prototype table; strings
(``const char *`` paths) are read from the task for display only (a handler
always reads its own copy).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Optional

from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES

from sentry.syscalls.linux import linux64

if TYPE_CHECKING:
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


def format_call(t: "Task", nr: int, args: Any, ret: Optional[int]) -> str:
    name = linux64.NAMES.get(nr, f"syscall_{nr}")
    proto = SYSCALL_PROTOTYPES.get(name)
    if proto is None:
        shown = ", ".join(hex(args[i]) for i in range(6))
    else:
        shown = ", ".join(_fmt_arg(t, ctype, an, args[i]) for i, (ctype, an) in enumerate(proto[1]))
    return f"{name}({shown}) = {format_result(ret)}"
