"""timerfd_create(2), timerfd_settime, timerfd_gettime.

The timer is :mod:`sentry.fsimpl.timerfd.timerfd`; checks and their order are
``fs/timerfd.c``'s.  The ``*_ALARM`` clocks need ``CAP_WAKE_ALARM`` (``EPERM``).
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.timerfd.timerfd import (
    ALARM_CLOCKS, CLOCKS, NSEC, TFD_SETTIME_FLAGS, TimerFileDescription, _ns,
)
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

_ITS = struct.Struct("<qqqq")  # struct itimerspec: it_interval, it_value


def _timerfd(t: Any, fd: int) -> TimerFileDescription:
    d = t.fdtable.get(fd)
    if d.is_path:
        raise err(errno.EBADF)
    if not isinstance(d, TimerFileDescription):
        raise err(errno.EINVAL)
    return d


def _put(t: Any, addr: int, value: int, interval: int) -> None:
    t.mem.write(addr, _ITS.pack(interval // NSEC, interval % NSEC, value // NSEC, value % NSEC))


def timerfd_create(t: Any, a: SyscallArgs) -> int:
    """timerfd_create(2): ``TFD_CLOEXEC``, ``TFD_NONBLOCK``."""
    clockid, flags = a.int(0), a.int(1)
    if flags & ~(abi.O_CLOEXEC | abi.O_NONBLOCK) or clockid not in CLOCKS:
        raise err(errno.EINVAL)
    if clockid in ALARM_CLOCKS and not t.creds.capable(cap.CAP_WAKE_ALARM):
        raise err(errno.EPERM)
    d = TimerFileDescription(t.kernel.ktimers, clockid, flags)
    try:
        return t.fdtable.install(d, bool(flags & abi.O_CLOEXEC))
    except LinuxError:
        d.decref()
        raise


def timerfd_settime(t: Any, a: SyscallArgs) -> int:
    """timerfd_settime(2): ``TFD_TIMER_ABSTIME``, ``TFD_TIMER_CANCEL_ON_SET`` (accepted;
    the sandbox's clock is never set, so nothing is cancelled)."""
    fd, flags, new, old = a.int(0), a.int(1), a[2], a[3]
    isec, insec, vsec, vnsec = _ITS.unpack(t.mem.read(new, _ITS.size))
    if flags & ~TFD_SETTIME_FLAGS or not (
            isec >= 0 and vsec >= 0 and 0 <= insec < NSEC and 0 <= vnsec < NSEC):
        raise err(errno.EINVAL)
    d = _timerfd(t, fd)
    if d.clockid in ALARM_CLOCKS and not t.creds.capable(cap.CAP_WAKE_ALARM):
        raise err(errno.EPERM)
    ovalue, ointerval = d.settime(flags, _ns(vsec, vnsec), _ns(isec, insec))
    if old:
        _put(t, old, ovalue, ointerval)
    return 0


def timerfd_gettime(t: Any, a: SyscallArgs) -> int:
    """timerfd_gettime(2)."""
    d = _timerfd(t, a.int(0))
    value, interval = d.gettime()
    _put(t, a[1], value, interval)
    return 0
