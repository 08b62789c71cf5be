"""The arguments of one trapped syscall."""

from __future__ import annotations


TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Tuple

# SyscallArgs has a method named "int"; annotations inside the class use this.
_Int = int


def s32(v: int) -> int:
    """The low 32 bits of *v* as a signed int (how the kernel reads an ``int`` argument)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & (1 << 63) else v


class SyscallArgs:
    """Number and the six raw register arguments (unsigned 64-bit).

    ``a[i]`` is the raw value; :meth:`int` decodes a C ``int`` (fd, flags),
    :meth:`long` a signed ``long`` (offsets).  ``timed_out`` is set when the
    dispatcher re-runs a parked call because its deadline passed; ``done`` is
    the progress of a blocking stream write that parked midway.
    """

    __slots__ = ("nr", "_a", "timed_out", "attempt", "done", "notif_id")

    def __init__(self, nr: _Int, args: Tuple[_Int, _Int, _Int, _Int, _Int, _Int]) -> None:
        self.nr = nr
        self._a = args
        self.timed_out = False
        self.attempt = 0
        # Bytes a blocking stream write already moved before it parked: kept
        # across retries, and the answer if a signal ends the wait (Linux
        # returns the partial count rather than EINTR).
        self.done = 0
        # The seccomp notification being answered (for SECCOMP_IOCTL_NOTIF_ADDFD).
        self.notif_id = 0

    def __getitem__(self, i: _Int) -> _Int:
        return self._a[i]

    def int(self, i: _Int) -> _Int:
        return s32(self._a[i])

    def uint(self, i: _Int) -> _Int:
        return self._a[i] & 0xFFFFFFFF

    def long(self, i: _Int) -> _Int:
        return s64(self._a[i])

    def raw(self) -> Tuple[_Int, _Int, _Int, _Int, _Int, _Int]:
        return self._a

    def __repr__(self) -> str:
        return f"SyscallArgs({self.nr}, {', '.join(hex(x) for x in self._a)})"
