"""epoll_create(2), epoll_create1, epoll_ctl(2), epoll_wait(2), epoll_pwait, epoll_pwait2.

The instance and its rules are :mod:`sentry.fsimpl.epoll.epoll`.  A wait with
nothing ready parks on the instance's queue with its deadline (fixed at the
first attempt, :func:`sentry.syscalls.linux.sys_poll._deadline`) and runs again
when an item becomes ready.  A signal ends it with ``EINTR`` whatever
``SA_RESTART`` says (epoll_wait is never restarted, signal(7)), also after a
stop signal and ``SIGCONT``.  ``epoll_pwait``'s and ``epoll_pwait2``'s mask
holds for the wait only, as ``ppoll``'s (see :mod:`sentry.syscalls.linux.sys_poll`).

The instance a wait started on is kept across its retries: Linux holds the
file for the whole call, so closing the fd in another thread does not end it.
"""

from __future__ import annotations

import errno
import struct
import weakref

from sentry.abi.linux.errors import LinuxError, WouldBlock, err
from sentry.fsimpl.epoll.epoll import (
    EP_MAX_EVENTS, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLEXCLUSIVE,
    EPOLLEXCLUSIVE_OK_BITS, EPOLLWAKEUP, EVENT_SIZE, EpollInstance,
)
from sentry.kernel.waiter import EVENT_IN
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import access_ok
from sentry.syscalls.linux.sys_poll import _deadline, _done, _sigmask, _timespec
from sentry.vfs import abi
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

#: task → (SyscallArgs of its current wait, the instance it waits on).
_WAITING: "weakref.WeakKeyDictionary[Any, Tuple[SyscallArgs, EpollInstance]]" = (
    weakref.WeakKeyDictionary()
)


def _create(t: Any, flags: int) -> int:
    if flags & ~abi.O_CLOEXEC:
        raise err(errno.EINVAL)
    ep = EpollInstance(0, t.creds.uid, t.kernel.sync_host_fds)
    try:
        return t.fdtable.install(ep, bool(flags & abi.O_CLOEXEC))
    except LinuxError:
        ep.decref()
        raise


def epoll_create(t: Any, a: SyscallArgs) -> int:
    """epoll_create(2): *size* must be positive and is otherwise ignored."""
    if a.int(0) <= 0:
        raise err(errno.EINVAL)
    return _create(t, 0)


def epoll_create1(t: Any, a: SyscallArgs) -> int:
    """epoll_create1(2): ``EPOLL_CLOEXEC`` only."""
    return _create(t, a.int(0))


def _fdget(t: Any, fd: int) -> FileDescription:
    """The description of *fd* for epoll (``O_PATH`` fds do not count: ``EBADF``)."""
    d = t.fdtable.get(fd)
    if d.is_path:
        raise err(errno.EBADF)
    return d


def epoll_ctl(t: Any, a: SyscallArgs) -> int:
    """epoll_ctl(2), with Linux's order of checks (``do_epoll_ctl``)."""
    epfd, op, fd = a.int(0), a.int(1), a.int(2)
    events = data = 0
    if op != EPOLL_CTL_DEL:
        events, data = struct.unpack("<IQ", t.mem.read(a[3], EVENT_SIZE))
    epd = _fdget(t, epfd)
    target = _fdget(t, fd)
    if not target.pollable:
        raise err(errno.EPERM)
    # No wakeup sources in the sandbox: as a kernel without CONFIG_PM_SLEEP.
    events &= ~EPOLLWAKEUP
    if epd is target or not isinstance(epd, EpollInstance):
        raise err(errno.EINVAL)
    if op != EPOLL_CTL_DEL and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD:
            raise err(errno.EINVAL)
        if op == EPOLL_CTL_ADD and (isinstance(target, EpollInstance)
                                    or events & ~EPOLLEXCLUSIVE_OK_BITS):
            raise err(errno.EINVAL)
    if op == EPOLL_CTL_ADD:
        epd.add(target, fd, events, data)
    elif op == EPOLL_CTL_DEL:
        epd.delete(target, fd)
    elif op == EPOLL_CTL_MOD:
        epd.modify(target, fd, events, data)
    else:
        raise err(errno.EINVAL)
    return 0


def _wait(t: Any, a: SyscallArgs, epfd: int, buf: int, maxevents: int,
          timeout: Optional[float], sigmask: Optional[int] = None) -> int:
    prev = _WAITING.get(t)
    if prev is not None and prev[0] is a and a.attempt > 0:
        ep = prev[1]
    else:
        d = _fdget(t, epfd)
        if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
            raise err(errno.EINVAL)
        if not access_ok(buf, maxevents * EVENT_SIZE):
            raise err(errno.EFAULT)
        if not isinstance(d, EpollInstance):
            raise err(errno.EINVAL)
        ep = d
        _WAITING[t] = (a, ep)
    dl = _deadline(t, a, timeout)
    ep.sync()
    if ep.ready:
        n = _copy_events(t, ep, buf, maxevents)
        if n:
            _finish(t)
            return n
    if timeout == 0 or a.timed_out:
        _finish(t)
        return 0
    raise WouldBlock([(ep.queue, EVENT_IN)], deadline=dl, restart=errno.EINTR, sigmask=sigmask,
                     on_interrupt=lambda: _finish(t))


def _finish(t: Any) -> None:
    _WAITING.pop(t, None)
    _done(t)


def _copy_events(t: Any, ep: EpollInstance, buf: int, maxevents: int) -> int:
    """Deliver ready events to *buf*; the count (``EFAULT`` if not even one fits)."""
    scan = ep.send_events(maxevents)
    if not scan.events:
        return 0
    raw = b"".join(struct.pack("<IQ", ev, data) for ev, data in scan.events)
    try:
        t.mem.write(buf, raw)
        return len(scan.events)
    except LinuxError as e:
        if e.errno != errno.EFAULT:
            raise
    # Some of the buffer is not writable: deliver what fits, take the rest back.
    k = 0
    while k < len(scan.events):
        try:
            t.mem.write(buf + k * EVENT_SIZE, raw[k * EVENT_SIZE:(k + 1) * EVENT_SIZE])
        except LinuxError:
            break
        k += 1
    scan.undo_from(k)
    if k == 0:
        _finish(t)
        raise err(errno.EFAULT)
    return k


def _ms(ms: int) -> Optional[float]:
    return None if ms < 0 else ms / 1000.0


def epoll_wait(t: Any, a: SyscallArgs) -> int:
    """epoll_wait(2): *timeout* in ms, negative waits for ever."""
    return _wait(t, a, a.int(0), a[1], a.int(2), _ms(a.int(3)))


def epoll_pwait(t: Any, a: SyscallArgs) -> int:
    """epoll_pwait(2): epoll_wait with a signal mask for the wait."""
    mask = _sigmask(t, a[4], a[5])
    return _wait(t, a, a.int(0), a[1], a.int(2), _ms(a.int(3)), mask)


def epoll_pwait2(t: Any, a: SyscallArgs) -> int:
    """epoll_pwait2(2): the timeout is a timespec (NULL waits for ever)."""
    timeout = _timespec(t, a[3])
    mask = _sigmask(t, a[4], a[5])
    return _wait(t, a, a.int(0), a[1], a.int(2), timeout, mask)
