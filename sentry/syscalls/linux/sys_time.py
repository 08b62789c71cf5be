"""Time syscalls the sentry emulates; clocks and sleeps pass to the host (see the table)."""

from __future__ import annotations

import errno
import os
import struct
import time

from sentry.abi.linux.errors import CONTINUE, err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Tuple
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
_CPU_TIMERS = (ITIMER_VIRTUAL, ITIMER_PROF)
_TV = struct.Struct("<qq")


def times(t: "Task", a: "SyscallArgs") -> int:
    """times(2): the host's accounting of this process, in clock ticks."""
    f = t.kernel.host_task_stat(t.tg.host_tgid)
    vals = [int(x) for x in f[11:15]] if len(f) >= 15 else [0, 0, 0, 0]
    if a[0]:
        t.mem.write(a[0], struct.pack("<4q", *vals))
    hz = os.sysconf("SC_CLK_TCK")
    return int((time.monotonic() - t.kernel.boot_time) * hz) + 1


def _remaining(t: "Task") -> Tuple[float, float]:
    timer = t.kernel.timers.get(t.tgid)
    if timer is None:
        return 0.0, 0.0
    deadline, interval = timer
    return max(0.0, deadline - time.monotonic()), interval


def _tv(sec: float) -> bytes:
    us = int(round(sec * 1_000_000))
    return _TV.pack(us // 1_000_000, us % 1_000_000)


def alarm(t: "Task", a: "SyscallArgs") -> int:
    """alarm(2): seconds left on the previous alarm, rounded like Linux."""
    left, _ = _remaining(t)
    secs = a.uint(0)
    t.kernel.set_real_timer(t.tg, float(secs), 0.0)
    if left == 0:
        return 0
    whole = int(left)
    return whole + (1 if left - whole >= 0.5 or whole == 0 else 0)


def getitimer(t: "Task", a: "SyscallArgs") -> int:
    """getitimer(2): ITIMER_REAL is the sentry's; the CPU-time timers are the host's."""
    which = a.int(0)
    if which in _CPU_TIMERS:
        return CONTINUE
    if which != ITIMER_REAL:
        raise err(errno.EINVAL)
    left, interval = _remaining(t)
    t.mem.write(a[1], _tv(interval) + _tv(left))
    return 0


def setitimer(t: "Task", a: "SyscallArgs") -> int:
    """setitimer(2).

    ``ITIMER_REAL`` is a sentry timer (wall-clock time, SIGALRM through the
    sentry's signal code).  ``ITIMER_VIRTUAL``/``ITIMER_PROF`` count the
    caller's own CPU time and signal only the caller, so the host runs them:
    they cannot expire while a thread is parked in the sentry, because a
    parked thread uses no CPU.
    """
    which = a.int(0)
    if which in _CPU_TIMERS:
        return CONTINUE
    if which != ITIMER_REAL:
        raise err(errno.EINVAL)
    raw = t.mem.read(a[1], 32) if a[1] else bytes(32)
    isec, iusec, vsec, vusec = struct.unpack("<4q", raw)
    if not (0 <= iusec < 1_000_000 and 0 <= vusec < 1_000_000) or isec < 0 or vsec < 0:
        raise err(errno.EINVAL)
    if a[2]:
        left, interval = _remaining(t)
        t.mem.write(a[2], _tv(interval) + _tv(left))
    t.kernel.set_real_timer(t.tg, vsec + vusec / 1e6, isec + iusec / 1e6)
    return 0
