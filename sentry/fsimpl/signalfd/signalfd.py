"""signalfd: pending signals read from a file (``fs/signalfd.c``, signalfd(2)).

The description holds only a mask; whose signals it shows is decided by who uses it
(Linux's ``current``): a read takes the reading thread's own pending signals and its
process's shared ones, ``poll`` reports ``IN`` while one of the mask is pending for
the polling thread.  So after ``fork`` the child reads its own signals through the
inherited description.

- ``read`` of fewer than 128 bytes: ``EINVAL``.  Otherwise as many ``struct
  signalfd_siginfo`` as fit and are pending, taken off the queues (they are not
  delivered); none pending: it blocks (``EAGAIN`` with ``O_NONBLOCK``) until one
  comes, and a signal that ends the wait restarts it under ``SA_RESTART``.  How the
  sentry takes host signals off a thread: :mod:`sentry.kernel.signal_dequeue`.
- The wait queue is the one of the process that asks (Linux's
  ``current->sighand->signalfd_wqh``, :attr:`ThreadGroup.signalfd_queue`), notified
  on every signal sent to it.  An epoll set therefore hears of the signals of the
  process that added the fd, and reports them as the waiter sees them (the quirk
  signalfd(2) documents for a child after ``fork``).
- ``write``: ``EINVAL``; no ``ioctl`` (``ENOTTY``); ``O_ASYNC`` is not kept (Linux's
  signalfd has no ``fasync``): ``F_SETFL`` drops it, ``FIOASYNC`` is ``ENOTTY``.
- ``/proc/PID/fdinfo``: ``sigmask:`` and the mask, as ``render_sigset_t`` prints it.
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel import signal_dequeue
from sentry.kernel.waiter import EVENT_IN, WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Tuple

SFD_CLOEXEC = 0o2000000
SFD_NONBLOCK = 0o4000
SIGKILL, SIGSTOP = 9, 19
#: Never in a signalfd's mask (dropped without an error, as Linux does).
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
SIGINFO_SIZE = signal_dequeue.SIGINFO_SIZE
_NR_READ, _NR_READV = 0, 19

# struct signalfd_siginfo (<linux/signalfd.h>): signo errno code pid uid fd tid band
# overrun trapno status int ptr utime stime addr addr_lsb pad2 syscall call_addr arch.
_SSI = struct.Struct("<IiiIIiIIIIiiQQQQHHiQI28x")

# siginfo_layout() (kernel/signal.c): which union member a siginfo carries.
SIL_KILL, SIL_TIMER, SIL_POLL, SIL_FAULT, SIL_FAULT_MCEERR, SIL_CHLD, SIL_RT, SIL_SYS = range(8)
SI_USER, SI_KERNEL, SI_TIMER, SI_SIGIO = 0, 0x80, -2, -5
SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGCHLD, SIGPOLL, SIGSYS = 4, 5, 7, 8, 11, 17, 29, 31
NSIGPOLL = 6
BUS_MCEERR_AR, BUS_MCEERR_AO = 4, 5
# sig_sicodes[]: the highest si_code of each signal's own codes, and their layout.
_SICODES = {SIGILL: (11, SIL_FAULT), SIGFPE: (15, SIL_FAULT), SIGSEGV: (10, SIL_FAULT),
            SIGBUS: (5, SIL_FAULT), SIGTRAP: (6, SIL_FAULT), SIGCHLD: (6, SIL_CHLD),
            SIGPOLL: (NSIGPOLL, SIL_POLL), SIGSYS: (2, SIL_SYS)}


def siginfo_layout(sig: int, code: int) -> int:
    """``siginfo_layout`` of x86-64 (the fault variants that share ``si_addr`` merged)."""
    if SI_USER < code < SI_KERNEL:
        own = _SICODES.get(sig)
        if own is not None and code <= own[0]:
            if sig == SIGBUS and BUS_MCEERR_AR <= code <= BUS_MCEERR_AO:
                return SIL_FAULT_MCEERR
            return own[1]
        return SIL_POLL if code <= NSIGPOLL else SIL_KILL
    if code == SI_TIMER:
        return SIL_TIMER
    if code == SI_SIGIO:
        return SIL_POLL
    return SIL_RT if code < 0 else SIL_KILL


def signalfd_siginfo(info: bytes) -> bytes:
    """A ``siginfo_t`` as a read gives it (``signalfd_copyinfo``): the fields of its
    layout, the rest zero."""
    signo, errno_, code = struct.unpack_from("<iii", info, 0)
    f = dict(pid=0, uid=0, fd=0, tid=0, band=0, overrun=0, trapno=0, status=0, int_=0,
             ptr=0, utime=0, stime=0, addr=0, lsb=0, syscall=0, call_addr=0, arch=0)
    layout = siginfo_layout(signo, code)
    if layout in (SIL_KILL, SIL_RT, SIL_CHLD):
        f["pid"], f["uid"] = struct.unpack_from("<iI", info, 16)
    if layout in (SIL_TIMER, SIL_RT):
        f["ptr"] = struct.unpack_from("<Q", info, 24)[0]
        f["int_"] = struct.unpack_from("<i", info, 24)[0]
    if layout == SIL_TIMER:
        f["tid"], f["overrun"] = struct.unpack_from("<iI", info, 16)
    elif layout == SIL_POLL:
        f["band"] = struct.unpack_from("<Q", info, 16)[0] & 0xFFFFFFFF
        f["fd"] = struct.unpack_from("<i", info, 24)[0]
    elif layout in (SIL_FAULT, SIL_FAULT_MCEERR):
        f["addr"] = struct.unpack_from("<Q", info, 16)[0]
        if layout == SIL_FAULT_MCEERR:
            f["lsb"] = struct.unpack_from("<H", info, 24)[0]
    elif layout == SIL_CHLD:
        f["status"] = struct.unpack_from("<i", info, 24)[0]
        f["utime"], f["stime"] = struct.unpack_from("<QQ", info, 32)
    elif layout == SIL_SYS:
        f["call_addr"] = struct.unpack_from("<Q", info, 16)[0]
        f["syscall"], f["arch"] = struct.unpack_from("<iI", info, 24)
    return _SSI.pack(signo & 0xFFFFFFFF, errno_, code, f["pid"] & 0xFFFFFFFF, f["uid"],
                     f["fd"], f["tid"] & 0xFFFFFFFF, f["band"], f["overrun"], f["trapno"],
                     f["status"], f["int_"], f["ptr"], f["utime"], f["stime"], f["addr"],
                     f["lsb"], 0, f["syscall"], f["call_addr"], f["arch"])


def _segments(t: Any, n: int) -> List[Tuple[int, int]]:
    """The buffer of the read being served (``read`` or ``readv``).

    :raises LinuxError: ``EINVAL`` for any other way of reading (aio, io_uring;
        sendfile and splice stop earlier, at ``splice_read``).
    """
    a = t.syscall_args
    if a is None or a.nr not in (_NR_READ, _NR_READV):
        raise err(errno.EINVAL)
    if a.nr == _NR_READ:
        return [(a[1], n)]
    from sentry.syscalls.linux.sys_file import read_iovecs
    return read_iovecs(t, a[1], a.int(2))[0]


class SignalFileDescription(AnonFileDescription):
    """One signalfd: the signal mask (bit ``signo - 1``) it reads."""

    write_iter = can_write = False  # (no write at all)

    #: Linux's signalfd has no ``fasync`` (see the module docstring).
    has_fasync = False

    def __init__(self, kernel: Any, mask: int, flags: int) -> None:
        super().__init__(b"[signalfd]", flags)
        self.kernel = kernel
        self.mask = mask & ~UNBLOCKABLE
        # Waits of calls made when no task is current (none in the sandbox's own use).
        self._idle = WaitQueue()

    def _current(self) -> Any:
        return self.kernel.dispatcher.current

    def set_mask(self, t: Any, mask: int) -> None:
        """``signalfd(fd, mask)`` on this description: wakes the caller's waiters."""
        self.mask = mask & ~UNBLOCKABLE
        t.kernel.signalfd_notify(t.tg)

    def wait_queue(self) -> WaitQueue:
        t = self._current()
        return t.tg.signalfd_queue if t is not None else self._idle

    def readiness(self, mask: int) -> int:
        t = self._current()
        if t is None or not mask & EVENT_IN:
            return 0
        return EVENT_IN if signal_dequeue.takeable(self.kernel, t, self.mask) else 0

    def read(self, t: Any, n: int) -> bytes:
        if n < SIGINFO_SIZE:
            raise err(errno.EINVAL)
        segments = _segments(t, n)
        if not signal_dequeue.takeable(t.kernel, t, self.mask):
            if self.nonblocking:
                raise err(errno.EAGAIN)
            raise WouldBlock([(t.tg.signalfd_queue, EVENT_IN)])
        dest = signal_dequeue.Destination(t, segments)
        raise signal_dequeue.start(t, self.mask, n // SIGINFO_SIZE, dest, signalfd_siginfo)

    def fdinfo(self) -> bytes:
        return b"sigmask:\t%016x\n" % self.mask
