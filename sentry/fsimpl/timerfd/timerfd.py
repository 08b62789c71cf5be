"""timerfd: a timer whose expirations are read from a file (``fs/timerfd.c``).

The state is Linux's: a timer that is running (``active``, next expiration
``expiry``) or not, the period ``interval``, the expirations not yet read
(``ticks``) and ``expired`` (it went off and, if periodic, has not been
re-armed yet).  As on Linux:

- an expiration sets ``expired``, adds one tick and notifies ``IN``; the timer
  then stops.  A periodic timer is re-armed only by a ``read`` or
  ``timerfd_gettime``, which count the periods that passed meanwhile (the
  kernel's ``hrtimer_forward_now``), so a timer nobody reads wakes its
  watchers once, not once per period (an ``EPOLLET`` watcher sees one event);
- ``read`` (8 bytes at least, else ``EINVAL``) returns the count and zeroes
  it, blocks while it is 0 (``EAGAIN`` with ``O_NONBLOCK``);
- ``timerfd_settime`` discards unread expirations; an absolute time in the
  past expires at once (a periodic one counts every period since);
- readiness is ``IN`` only.

Expirations come from the sentry's timer queue (:mod:`sentry.kernel.ktimer`):
one callback per expiration that matters, never polling.  The loop may run a
callback late (a busy loop, a paused sandbox); whoever looks first (a read,
``gettime``, the callback) counts the expiration at its due time, so counts
never depend on that lateness.  Deadlines are kept on ``CLOCK_MONOTONIC``: an
absolute ``CLOCK_REALTIME`` time is converted when it is set, so a later
change of the host's wall clock does not move it, and
``TFD_TIMER_CANCEL_ON_SET`` never cancels (the sandbox cannot set the clock);
``CLOCK_BOOTTIME`` runs as ``CLOCK_MONOTONIC`` while the host does not suspend,
and the ``*_ALARM`` clocks cannot wake a suspended host.
"""

from __future__ import annotations

import errno
import struct
import time

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.ktimer import Timer, TimerQueue
from sentry.kernel.waiter import EVENT_IN, WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM = 8, 9
CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM,
          CLOCK_BOOTTIME_ALARM)
ALARM_CLOCKS = (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM)
# The host clock an absolute time of each clock is read against.
_BASE = {CLOCK_REALTIME: time.CLOCK_REALTIME, CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
         CLOCK_BOOTTIME: time.CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM: time.CLOCK_REALTIME,
         CLOCK_BOOTTIME_ALARM: time.CLOCK_BOOTTIME}

TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2
TFD_SETTIME_FLAGS = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
#: ``_IOW('T', 0, __u64)``: checkpoint/restore sets the tick count.
TFD_IOC_SET_TICKS = 0x40085400

NSEC = 1_000_000_000
KTIME_MAX = (1 << 63) - 1


def _ns(sec: int, nsec: int) -> int:
    return min(sec * NSEC + nsec, KTIME_MAX)


class TimerFileDescription(AnonFileDescription):
    """One timerfd; *timers* is the sentry's timer queue (``Kernel.ktimers``)."""

    write_iter = can_write = False  # (no write at all)

    def __init__(self, timers: TimerQueue, clockid: int, flags: int) -> None:
        super().__init__(b"[timerfd]", flags)
        self.timers = timers
        self.clockid = clockid
        self.queue = WaitQueue()
        self.active = False
        self.expiry = 0            # CLOCK_MONOTONIC ns of the running timer's expiration
        self.interval = 0          # ns; 0: one-shot
        self.ticks = 0
        self.expired = False
        self.settime_flags = 0
        self._timer: Optional[Timer] = None

    def wait_queue(self) -> WaitQueue:
        return self.queue

    # -- the timer -----------------------------------------------------------
    def _start(self, expiry: int) -> None:
        self.timers.cancel(self._timer)
        self.active = True
        self.expiry = expiry
        self._timer = self.timers.add(expiry / NSEC, self._on_timer)

    def _stop(self) -> None:
        self.timers.cancel(self._timer)
        self._timer = None
        self.active = False

    def _on_timer(self) -> None:
        self._timer = None
        if not self.active:
            return
        if time.monotonic_ns() < self.expiry:
            # The float deadline rounded down a little: once more, at the same time.
            self._timer = self.timers.add(self.expiry / NSEC, self._on_timer)
            return
        self._catch_up(time.monotonic_ns())

    def _catch_up(self, now: int) -> None:
        """The expiration is due: count it now (the callback may not have run yet)."""
        if self.active and now >= self.expiry:
            self._stop()
            self.expired = True
            self.ticks += 1
            self.queue.notify(EVENT_IN)

    def _forward(self, now: int) -> int:
        """Move the expiration past *now* by whole periods; how many it moved."""
        if now < self.expiry:
            return 0
        orun = (now - self.expiry) // self.interval + 1
        self.expiry += orun * self.interval
        return orun

    def _rearm(self, now: int) -> int:
        """A periodic timer that went off runs again; the extra periods that passed."""
        extra = 0
        if self.expired and self.interval:
            extra = self._forward(now) - 1
            self._start(self.expiry)
        self.expired = False
        return extra

    def _remaining(self, now: int) -> int:
        return max(0, self.expiry - now) if self.active else 0

    # -- timerfd_settime / timerfd_gettime ---------------------------------------
    def gettime(self) -> Tuple[int, int]:
        """``timerfd_gettime``: (ns to the next expiration or 0, interval ns)."""
        now = time.monotonic_ns()
        self._catch_up(now)
        if self.expired and self.interval:
            self.ticks += self._rearm(now)
        return self._remaining(now), self.interval

    def settime(self, flags: int, value: int, interval: int) -> Tuple[int, int]:
        """``timerfd_settime`` with checked arguments; returns the old setting."""
        now = time.monotonic_ns()
        self._catch_up(now)
        if self.expired and self.interval:
            self._forward(now)
            old = (max(0, self.expiry - now), self.interval)
        else:
            old = (self._remaining(now), self.interval)
        self._stop()
        self.expired = False
        self.ticks = 0
        self.interval = interval
        if value:
            if flags & TFD_TIMER_ABSTIME:
                value = now + (value - time.clock_gettime_ns(_BASE[self.clockid]))
            else:
                value = now + value
            self._start(min(value, KTIME_MAX))
        self.settime_flags = flags & TFD_SETTIME_FLAGS
        return old

    # -- file --------------------------------------------------------------------
    def read(self, t: Any, n: int) -> bytes:
        if n < 8:
            raise err(errno.EINVAL)
        now = time.monotonic_ns()
        self._catch_up(now)
        if not self.ticks:
            if self.nonblocking:
                raise err(errno.EAGAIN)
            raise WouldBlock([(self.queue, EVENT_IN)])
        ticks = self.ticks + self._rearm(now)
        self.ticks = 0
        return struct.pack("<Q", ticks)

    def readiness(self, mask: int) -> int:
        due = self.ticks or (self.active and time.monotonic_ns() >= self.expiry)
        return EVENT_IN & mask if due else 0

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd != TFD_IOC_SET_TICKS:
            raise err(errno.ENOTTY)
        ticks = struct.unpack("<Q", t.mem.read(arg, 8))[0]
        if not ticks:
            raise err(errno.EINVAL)
        self.ticks = ticks
        self.queue.notify(EVENT_IN)
        return 0

    def fdinfo(self) -> bytes:
        value = self._remaining(time.monotonic_ns())
        return (b"clockid: %d\nticks: %d\nsettime flags: 0%o\nit_value: (%d, %d)\n"
                b"it_interval: (%d, %d)\n" % (
                    self.clockid, self.ticks, self.settime_flags, value // NSEC, value % NSEC,
                    self.interval // NSEC, self.interval % NSEC))

    def release(self) -> None:
        self._stop()
