"""POSIX timers: timer_create(2), timer_settime, timer_gettime, timer_getoverrun,
timer_delete.

The timers are :mod:`sentry.kernel.posix_timers`; the checks and their order are
``kernel/time/posix-timers.c``'s: the sigevent is read first (``EFAULT``), then the
clock is checked (``EINVAL``, ``EOPNOTSUPP`` for a clock without timers), an id is
taken, the sigevent checked (``EINVAL``), the id written (``EFAULT``) and the CPU
clock's task looked up (``EINVAL``): the last three fail with the id used up, as on
Linux.
"""

from __future__ import annotations

import errno
import _signal as signal
import struct

from sentry.abi.linux.errors import err
from sentry.kernel import posix_timers as pt

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

_SIGEVENT_SIZE = 64
_ITS = struct.Struct("<qqqq")  # struct itimerspec: it_interval, it_value
_SIGRTMAX = 64
_INT_MAX = 0x7FFFFFFF


def _check_clock(clockid: int) -> None:
    """The clock has timers (``EINVAL``: no such clock; ``EOPNOTSUPP``: no timers)."""
    if clockid < 0:
        if clockid & 7 == pt._CLOCKFD:
            raise err(errno.EOPNOTSUPP)  # a posix-clock fd: no timers
        return
    if clockid in pt.NO_TIMER_CLOCKS:
        raise err(errno.EOPNOTSUPP)
    if clockid not in pt.WALL_CLOCKS + pt.ALARM_CLOCKS + (
            pt.CLOCK_PROCESS_CPUTIME_ID, pt.CLOCK_THREAD_CPUTIME_ID):
        raise err(errno.EINVAL)


def _cpu_clock(t: "Task", clockid: int) -> Optional[pt.CpuClock]:
    """The CPU clock *clockid* names, None for a wall clock (``EINVAL``: no such task)."""
    k = t.kernel
    if clockid == pt.CLOCK_PROCESS_CPUTIME_ID:
        return pt.CpuClock(k, t.tg.host_tgid, False, t.tg)
    if clockid == pt.CLOCK_THREAD_CPUTIME_ID:
        return pt.CpuClock(k, t.host_tid, True, t.tg)
    if clockid >= 0:
        return None
    if clockid & 3 == 3:
        raise err(errno.EINVAL)  # no such CPU clock kind
    pid = ~(clockid >> 3)
    thread = bool(clockid & pt._CPUCLOCK_PERTHREAD)
    if pid == 0:
        return pt.CpuClock(k, t.host_tid if thread else t.tg.host_tgid, thread, t.tg)
    other = k.task_by_tid(pid)
    if other is None or other.exited:
        raise err(errno.EINVAL)
    if thread:
        if other.tg is not t.tg:
            raise err(errno.EINVAL)
        return pt.CpuClock(k, other.host_tid, True, t.tg)
    if other.tid != other.tgid:
        raise err(errno.EINVAL)
    return pt.CpuClock(k, other.tg.host_tgid, False, other.tg)


def _new_id(t: "Task") -> int:
    tg = t.tg
    if len(tg.posix_timers) >= pt.MAX_TIMERS:
        raise err(errno.EAGAIN)
    i = tg.next_timer_id
    while i in tg.posix_timers:
        i = (i + 1) & _INT_MAX
    tg.next_timer_id = (i + 1) & _INT_MAX
    return i


def _sigevent(t: "Task", ev: Optional[bytes], timer_id: int) -> Tuple[int, int, bytes, int]:
    """(notify, signo, sigev_value, target tid) of a sigevent (Linux's good_sigevent)."""
    if ev is None:
        return pt.SIGEV_SIGNAL, signal.SIGALRM, struct.pack("<iI", timer_id, 0), 0
    value = ev[:8]
    signo, notify, tid = struct.unpack_from("<iii", ev, 8)
    if notify == pt.SIGEV_SIGNAL | pt.SIGEV_THREAD_ID:
        other = t.kernel.task_by_tid(tid)
        if other is None or other.exited or other.tg is not t.tg:
            raise err(errno.EINVAL)
    elif notify not in (pt.SIGEV_SIGNAL, pt.SIGEV_THREAD, pt.SIGEV_NONE):
        raise err(errno.EINVAL)
    else:
        tid = 0
    if notify != pt.SIGEV_NONE and not 0 < signo <= _SIGRTMAX:
        raise err(errno.EINVAL)
    return notify, signo, value, tid


def _timer(t: "Task", timer_id: int) -> pt.PosixTimer:
    tm = t.tg.posix_timers.get(timer_id)
    if tm is None:
        raise err(errno.EINVAL)
    return tm


def _put(t: "Task", addr: int, value: int, interval: int) -> None:
    ns = pt.NSEC
    t.mem.write(addr, _ITS.pack(interval // ns, interval % ns, value // ns, value % ns))


def timer_create(t: "Task", a: "SyscallArgs") -> int:
    """timer_create(2): wall and CPU clocks; SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID
    (SIGEV_THREAD, glibc's, reaches the kernel as SIGEV_THREAD_ID)."""
    clockid, sevp, idp = a.int(0), a[1], a[2]
    ev = t.mem.read(sevp, _SIGEVENT_SIZE) if sevp else None
    _check_clock(clockid)
    timer_id = _new_id(t)
    notify, signo, value, tid = _sigevent(t, ev, timer_id)
    t.mem.write(idp, struct.pack("<i", timer_id))
    if clockid in pt.ALARM_CLOCKS:
        # alarm_timer_create: the sandbox has no RTC to wake the machine with.
        raise err(errno.EOPNOTSUPP)
    cpu = _cpu_clock(t, clockid)
    t.tg.posix_timers[timer_id] = pt.PosixTimer(t.tg, timer_id, clockid, cpu, notify, signo,
                                                value, tid)
    return 0


def timer_settime(t: "Task", a: "SyscallArgs") -> int:
    """timer_settime(2): relative or ``TIMER_ABSTIME`` (other flag bits are ignored, as
    by Linux), a period, the old setting."""
    timer_id, flags, new, old = a.int(0), a.int(1), a[2], a[3]
    if not new:
        raise err(errno.EINVAL)
    isec, insec, vsec, vnsec = _ITS.unpack(t.mem.read(new, _ITS.size))
    if not (isec >= 0 and vsec >= 0 and 0 <= insec < pt.NSEC and 0 <= vnsec < pt.NSEC):
        raise err(errno.EINVAL)
    tm = _timer(t, timer_id)
    ovalue, ointerval = tm.settime(flags, vsec * pt.NSEC + vnsec, isec * pt.NSEC + insec)
    if old:
        _put(t, old, ovalue, ointerval)
    return 0


def timer_gettime(t: "Task", a: "SyscallArgs") -> int:
    """timer_gettime(2)."""
    value, interval = _timer(t, a.int(0)).gettime()
    _put(t, a[1], value, interval)
    return 0


def timer_getoverrun(t: "Task", a: "SyscallArgs") -> int:
    """timer_getoverrun(2): the overruns of the last signal delivered."""
    return _timer(t, a.int(0)).overrun_last


def timer_delete(t: "Task", a: "SyscallArgs") -> int:
    """timer_delete(2)."""
    tm = _timer(t, a.int(0))
    tm.delete()
    del t.tg.posix_timers[tm.id]
    return 0
