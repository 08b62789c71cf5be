"""poll(2), ppoll(2), select(2), pselect6(2) over any file description.

Readiness comes from :meth:`FileDescription.readiness`; when nothing is ready
the call parks on every description's wait queue with a deadline
(:class:`WouldBlock`).  The handler runs again from the start on a wake-up;
the deadline of the first attempt is kept per task (:data:`_DEADLINES`, keyed
by the task and holding the very ``SyscallArgs`` of the call) so a retry does
not extend the timeout.  ``poll``/``ppoll`` restart with ``ERESTARTNOHAND``;
select/pselect6 too (Linux's ``poll_select_finish`` does the same).

Signal masks: ``ppoll``'s and ``pselect6``'s mask is in force for the wait
only.  The parked call carries it (``WouldBlock(sigmask=...)``): it decides
which signals end the wait, and a signal that does is delivered under it with
the thread's own mask restored by ``sigreturn``
(:meth:`sentry.kernel.kernel.Kernel.end_wait_with_mask`).  A call that
completes without waiting never touches the thread's mask, as on Linux.

Remaining time is written back for ``select`` (timeval), ``pselect6`` and
``ppoll`` (timespec), as the Linux syscalls do, also when a signal ends the
wait (so a restarted or re-issued call waits only for what is left).
"""

from __future__ import annotations

import errno
import struct
import time
import weakref

from sentry.abi.linux.errors import ERESTARTNOHAND, WouldBlock, err
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_NVAL, EVENT_OUT, EVENT_PRI
from sentry.syscalls.linux.args import SyscallArgs

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

POLLRDNORM = 0x040
POLLRDBAND = 0x080
POLLWRNORM = 0x100
POLLWRBAND = 0x200
_POLLIN_SET = EVENT_IN | POLLRDNORM | POLLRDBAND | EVENT_HUP | EVENT_ERR
_POLLOUT_SET = EVENT_OUT | POLLWRNORM | POLLWRBAND | EVENT_ERR
_POLLEX_SET = EVENT_PRI

#: task → (SyscallArgs of its current poll-family call, absolute deadline).
_DEADLINES: "weakref.WeakKeyDictionary[Any, Tuple[SyscallArgs, Optional[float]]]" = (
    weakref.WeakKeyDictionary()
)


def _deadline(t: Any, a: SyscallArgs, timeout: Optional[float]) -> Optional[float]:
    """The absolute deadline of this call (fixed at its first run)."""
    prev = _DEADLINES.get(t)
    if prev is not None and prev[0] is a and a.attempt > 0:
        return prev[1]
    dl = None if timeout is None else time.monotonic() + timeout
    _DEADLINES[t] = (a, dl)
    return dl


def _done(t: Any) -> None:
    _DEADLINES.pop(t, None)


def _remaining(dl: Optional[float]) -> float:
    return 0.0 if dl is None else max(0.0, dl - time.monotonic())


_UNBLOCKABLE = (1 << (9 - 1)) | (1 << (19 - 1))  # SIGKILL, SIGSTOP


def _sigmask(t: Any, addr: int, size: int) -> Optional[int]:
    """The call's signal mask (``None``: no mask argument)."""
    if not addr:
        return None
    if size != 8:
        raise err(errno.EINVAL)
    return struct.unpack("<Q", t.mem.read(addr, 8))[0] & ~_UNBLOCKABLE


def _timespec(t: Any, addr: int) -> Optional[float]:
    if addr == 0:
        return None
    sec, nsec = struct.unpack("<qq", t.mem.read(addr, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise err(errno.EINVAL)
    return sec + nsec / 1e9


def _write_timespec(t: Any, addr: int, secs: float) -> None:
    ns = int(secs * 1e9)
    t.mem.write(addr, struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000))


def _waits(t: Any, a: SyscallArgs, timeout: Optional[float], sigmask: Optional[int]) -> bool:
    """Whether a call that found nothing ready parks.

    It does until its timeout; Linux's ``do_poll``/``do_select`` also check for a
    pending signal before they give up on a zero or expired timeout, so a ppoll or
    pselect6 whose mask opens a pending signal ends with it (parking ends the wait
    at once) even with a zero timeout.
    """
    if timeout != 0 and not a.timed_out:
        return True
    return sigmask is not None and bool(t.kernel.pending_acts(t, sigmask))


# ------------------------------------------------------------------ poll
def _do_poll(
    t: Any, a: SyscallArgs, fds_addr: int, nfds: int, timeout: Optional[float],
    sigmask: Optional[int] = None, writeback: Optional[Callable[[Optional[float]], None]] = None,
) -> Tuple[int, Optional[float]]:
    """Returns (ready count, deadline); raises WouldBlock while waiting."""
    if nfds < 0 or nfds > t.fdtable.limit:
        raise err(errno.EINVAL)
    raw = bytearray(t.mem.read(fds_addr, 8 * nfds)) if nfds else bytearray()
    dl = _deadline(t, a, timeout)
    count = 0
    queues: List[Tuple[Any, int]] = []
    for i in range(nfds):
        fd, events, _ = struct.unpack_from("<ihh", raw, 8 * i)
        events &= 0xFFFF
        rev = 0
        if fd >= 0:
            d = t.fdtable.lookup(fd)
            if d is None:
                rev = EVENT_NVAL
            else:
                want = events | EVENT_ERR | EVENT_HUP
                rev = d.readiness(want) & want
                if not rev:
                    queues.append((d.wait_queue(), want))
        struct.pack_into("<h", raw, 8 * i + 6, rev if rev < 0x8000 else rev - 0x10000)
        if rev:
            count += 1
    if count == 0 and _waits(t, a, timeout, sigmask):
        raise WouldBlock(queues, deadline=dl, restart=ERESTARTNOHAND, sigmask=sigmask,
                         on_interrupt=None if writeback is None else lambda: writeback(dl))
    _done(t)
    if nfds:
        t.mem.write(fds_addr, bytes(raw))
    return count, dl


def poll(t: Any, a: SyscallArgs) -> int:
    """poll(2)."""
    ms = a.int(2)
    timeout = None if ms < 0 else ms / 1000.0
    return _do_poll(t, a, a[0], a.uint(1), timeout)[0]


def ppoll(t: Any, a: SyscallArgs) -> int:
    """ppoll(2) (see the module docstring for the signal mask)."""
    timeout = _timespec(t, a[2])
    mask = _sigmask(t, a[3], a[4])

    def writeback(dl: Optional[float]) -> None:
        if a[2]:
            _write_timespec(t, a[2], _remaining(dl))

    count, dl = _do_poll(t, a, a[0], a.uint(1), timeout, mask, writeback)
    writeback(dl)
    return count


# ------------------------------------------------------------------ select
def _read_set(t: Any, addr: int, nbytes: int) -> int:
    if addr == 0 or nbytes == 0:
        return 0
    return int.from_bytes(t.mem.read(addr, nbytes), "little")


def _do_select(
    t: Any, a: SyscallArgs, nfds: int, addrs: Tuple[int, int, int], timeout: Optional[float],
    sigmask: Optional[int] = None, writeback: Optional[Callable[[Optional[float]], None]] = None,
) -> Tuple[int, Optional[float]]:
    if nfds < 0:
        raise err(errno.EINVAL)
    nfds = min(nfds, t.fdtable.limit)
    nbytes = ((nfds + 63) // 64) * 8
    sets = [_read_set(t, addr, nbytes) for addr in addrs]
    dl = _deadline(t, a, timeout)
    masks = (_POLLIN_SET, _POLLOUT_SET, _POLLEX_SET)
    out = [0, 0, 0]
    count = 0
    queues: List[Tuple[Any, int]] = []
    for fd in range(nfds):
        bit = 1 << fd
        if not (sets[0] | sets[1] | sets[2]) & bit:
            continue
        d = t.fdtable.lookup(fd)
        if d is None:
            _done(t)
            raise err(errno.EBADF)
        want = 0
        for k in range(3):
            if sets[k] & bit:
                want |= masks[k]
        ready = d.readiness(want | EVENT_ERR | EVENT_HUP)
        hit = False
        for k in range(3):
            if sets[k] & bit and ready & masks[k]:
                out[k] |= bit
                count += 1
                hit = True
        if not hit:
            queues.append((d.wait_queue(), want | EVENT_ERR | EVENT_HUP))
    if count == 0 and _waits(t, a, timeout, sigmask):
        raise WouldBlock(queues, deadline=dl, restart=ERESTARTNOHAND, sigmask=sigmask,
                         on_interrupt=None if writeback is None else lambda: writeback(dl))
    _done(t)
    for k, addr in enumerate(addrs):
        if addr and nbytes:
            t.mem.write(addr, out[k].to_bytes(nbytes, "little"))
    return count, dl


def select(t: Any, a: SyscallArgs) -> int:
    """select(2); writes the remaining time back to the timeval."""
    tv = a[4]
    timeout = None
    if tv:
        sec, usec = struct.unpack("<qq", t.mem.read(tv, 16))
        if sec < 0 or usec < 0:
            raise err(errno.EINVAL)
        timeout = sec + usec / 1e6
    def writeback(dl: Optional[float]) -> None:
        if tv:
            us = int(_remaining(dl) * 1e6)
            t.mem.write(tv, struct.pack("<qq", us // 1_000_000, us % 1_000_000))

    count, dl = _do_select(t, a, a.int(0), (a[1], a[2], a[3]), timeout, None, writeback)
    writeback(dl)
    return count


def pselect6(t: Any, a: SyscallArgs) -> int:
    """pselect6(2) (see the module docstring for the signal mask)."""
    timeout = _timespec(t, a[4])
    mask = None
    if a[5]:
        ss, ss_len = struct.unpack("<QQ", t.mem.read(a[5], 16))
        mask = _sigmask(t, ss, ss_len)
    def writeback(dl: Optional[float]) -> None:
        if a[4]:
            _write_timespec(t, a[4], _remaining(dl))

    count, dl = _do_select(t, a, a.int(0), (a[1], a[2], a[3]), timeout, mask, writeback)
    writeback(dl)
    return count
