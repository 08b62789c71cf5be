"""POSIX interval timers (timer_create(2) and friends), kept per process.

A timer is a :class:`PosixTimer` in its process's ``ThreadGroup.posix_timers``, by id.
Ids are Linux's: a per-process counter that starts at 0 and moves on at every create
(a deleted id is not handed out again before the counter wraps); a forked child starts
with none and its own counter; exec deletes them all and keeps the counter.

Clock timers (REALTIME, MONOTONIC, BOOTTIME, TAI) are :mod:`sentry.kernel.ktimer`
callbacks at monotonic deadlines; an absolute time becomes a deadline when it is set.
CPU-time timers read the host's clock of the process (``clock_gettime`` of its CPU
clock) or thread (``/proc/TID/schedstat``) and look again when the time left could
have been used at the earliest (a process's threads could all run meanwhile), so an
idle process costs a callback per time left, not a poll.

Expiry (``SIGEV_SIGNAL``): the signal is queued on the host thread with
``rt_tgsigqueueinfo`` and Linux's siginfo (``SI_TIMER``, ``si_timerid``, the
``sigev_value``), so a handler or ``sigwaitinfo`` sees it as on Linux.  While the
timer's signal is still pending, further expirations are overruns, not signals; the
count goes into ``si_overrun`` at the signal-delivery stop (``Kernel._sandbox_siginfo``
calls :meth:`PosixTimer.delivered`) and is what ``timer_getoverrun`` then says.  A
signal taken by ``sigwaitinfo`` (a host call, no delivery stop) is seen as taken at
the next expiry, and shows ``si_overrun`` 0.
"""

from __future__ import annotations

import struct
import time

from sentry import logger
from sentry.kernel.ktimer import Timer
from sentry.platform.hybrid import native as N

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task, ThreadGroup

log = logger.get(__name__)

NSEC = 1_000_000_000
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4
SI_TIMER = -2
TIMER_ABSTIME = 1
CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE = 4, 5, 6
CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 7, 8, 9, 11
# Clocks that exist but have no timers (timer_create: EOPNOTSUPP).
NO_TIMER_CLOCKS = (CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE)
WALL_CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI)
ALARM_CLOCKS = (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM)
_CPUCLOCK_SCHED, _CPUCLOCK_PERTHREAD, _CLOCKFD = 2, 4, 3
# A process's timers the sentry keeps at most (Linux: the id space); EAGAIN past it.
MAX_TIMERS = 1 << 15
# The shortest wait before looking at a CPU clock again.
_CPU_POLL_MIN = 0.001
# How often a periodic timer whose signal is still pending looks whether it was taken
# (by sigwaitinfo, which the sentry does not see), when its period is shorter.
_PENDING_POLL_NS = 10_000_000
_DELAYTIMER_MAX = 0x7FFFFFFF
_HOST_CLOCK = {CLOCK_REALTIME: time.CLOCK_REALTIME, CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
               CLOCK_BOOTTIME: time.CLOCK_BOOTTIME, CLOCK_TAI: time.CLOCK_TAI}


def _now_ns(clock: int) -> int:
    return time.clock_gettime_ns(_HOST_CLOCK[clock])


class CpuClock:
    """A CPU clock of a sandbox process or thread, read on the host (nanoseconds)."""

    def __init__(self, kernel: "Kernel", host_id: int, thread: bool, nthreads_of: "ThreadGroup") -> None:
        self.kernel = kernel
        self.host_id = host_id
        self.thread = thread
        self.tg = nthreads_of

    def now(self) -> Optional[int]:
        """The clock's value, None once its task is gone."""
        try:
            if self.thread:
                return int(self.kernel.host_file(f"{self.host_id}/schedstat").split()[0])
            return time.clock_gettime_ns(((~self.host_id) << 3) | _CPUCLOCK_SCHED)
        except (OSError, ValueError, IndexError):
            return None

    def parallelism(self) -> int:
        """How many threads could use this clock's time at once."""
        return 1 if self.thread else max(1, len(self.tg.tasks))


class PosixTimer:
    """One timer: its clock, notification and arming (Linux's ``struct k_itimer``)."""

    def __init__(self, tg: "ThreadGroup", timer_id: int, clock: int, cpu: Optional[CpuClock],
                 notify: int, signo: int, value: bytes, target_tid: int) -> None:
        self.tg = tg
        self.kernel: "Kernel" = tg.kernel
        self.id = timer_id
        self.clock = clock
        self.cpu = cpu
        self.notify = notify
        self.signo = signo
        self.value = value            # sigev_value, 8 bytes
        self.target_tid = target_tid  # SIGEV_THREAD_ID's thread, else 0
        # Armed: the next expiry (a monotonic deadline in ns, or a CPU clock value),
        # and the period (ns, 0: one-shot).
        self.armed = False
        self.expires = 0
        self.interval = 0
        self._ktimer: Optional[Timer] = None
        # The signal of the expiry at `queued_at` is pending on `queued_task`; expirations
        # meanwhile counted in `overrun`.  `overrun_last`: timer_getoverrun's answer.
        self.queued_task: Optional["Task"] = None
        self.queued_at = 0
        self.overrun = 0
        self.overrun_last = 0
        # Its pending signal belongs to an earlier arming: Linux drops it at delivery
        # (unless an expiry of the new arming comes first and takes it over).
        self.stale = False

    # -- clocks -----------------------------------------------------------

    def _clock_now(self) -> Optional[int]:
        """Now on the timer's own time line (monotonic ns, or the CPU clock)."""
        if self.cpu is not None:
            return self.cpu.now()
        return time.monotonic_ns()

    # -- arming -------------------------------------------------------------

    def settime(self, flags: int, value: int, interval: int) -> Tuple[int, int]:
        """timer_settime: arm (*value* ns, relative or ``TIMER_ABSTIME``) or disarm (0);
        the previous setting as :meth:`gettime` gives it."""
        old = self.gettime()
        self._cancel()
        self.overrun = 0
        self.overrun_last = 0
        self._forget_signal()
        if value == 0:
            self.armed = False
            self.interval = 0
            return old
        self.interval = interval
        if self.cpu is not None:
            now = self.cpu.now()
            if now is None:
                self.armed = False
                return old
            self.expires = value if flags & TIMER_ABSTIME else now + value
        elif flags & TIMER_ABSTIME:
            # An absolute time on its clock, fixed as a monotonic deadline now.
            self.expires = time.monotonic_ns() + value - _now_ns(self.clock)
        else:
            self.expires = time.monotonic_ns() + value
        self.armed = True
        self._schedule()
        return old

    def gettime(self) -> Tuple[int, int]:
        """(time left in ns, interval in ns); a one-shot timer that expired is (0, 0)
        as Linux shows it, a periodic one the time to its next expiry."""
        if not self.armed:
            return 0, self.interval
        now = self._clock_now()
        if now is None:
            return 0, self.interval
        self._forward(now)
        left = self.expires - now
        if left <= 0:
            # Expired, its callback not yet run: Linux says 1 ns (0 for SIGEV_NONE).
            return (0 if self.notify == SIGEV_NONE else 1), self.interval
        return left, self.interval

    def _forward(self, now: int) -> None:
        """Move a periodic timer's next expiry past *now* (the periods between are
        expirations the callback counts when it runs late, or overruns of the pending
        signal, which its delivery counts by the time)."""
        if self.interval and self.expires <= now and (self.notify == SIGEV_NONE
                                                      or self.queued_task is not None):
            n = (now - self.expires) // self.interval + 1
            self.expires += n * self.interval

    def _schedule(self) -> None:
        if self.cpu is None:
            expires = self.expires
            if self.queued_task is not None and self.interval < _PENDING_POLL_NS:
                # Its signal is pending: Linux re-arms the timer only when the signal is
                # taken, and so does a delivery here (delivered()). Until then, look now
                # and then only: at every short period (stress-ng's hrtimers: tens of
                # microseconds, 32 processes) the sentry did nothing else.
                expires = max(expires, time.monotonic_ns() + _PENDING_POLL_NS)
            deadline = expires / NSEC
        else:
            now = self.cpu.now()
            if now is None:
                return
            left = max(0, self.expires - now) / NSEC / self.cpu.parallelism()
            deadline = time.monotonic() + max(_CPU_POLL_MIN, left)
        self._ktimer = self.kernel.ktimers.add(deadline, self._fire)

    def _cancel(self) -> None:
        if self._ktimer is not None:
            self.kernel.ktimers.cancel(self._ktimer)
            self._ktimer = None

    def _forget_signal(self) -> None:
        """Re-armed or deleted: a signal still pending is stale."""
        self.stale = self.queued_task is not None and self._still_pending()
        if not self.stale:
            self.queued_task = None

    def delete(self) -> None:
        self._cancel()
        self.armed = False
        self._forget_signal()
        if self.stale:
            dropped = self.tg.posix_timers_dropped
            if len(dropped) >= 64:
                for tid in [i for i, tm in dropped.items() if not tm._still_pending()]:
                    del dropped[tid]
            dropped[self.id] = self

    # -- expiry -------------------------------------------------------------

    def _fire(self) -> None:
        self._ktimer = None
        if not self.armed or self.tg.zombie:
            return
        now = self._clock_now()
        if now is None:
            return  # the thread of a thread CPU clock is gone: the clock stopped
        if now < self.expires:
            self._schedule()  # a CPU clock that has not got there yet
            return
        at = self.expires
        if self.interval:
            n = (now - self.expires) // self.interval + 1
            self.expires += n * self.interval
        else:
            self.armed = False
        if self.notify != SIGEV_NONE:
            self._signal(at, (now - at) // self.interval if self.interval else 0)
        if self.armed:
            self._schedule()

    def _still_pending(self) -> bool:
        """Whether the signal this timer queued is still pending on the host thread."""
        t = self.queued_task
        if t is None or t.exited:
            return False
        bit = 1 << (self.signo - 1)
        if not self.kernel.sigmask_bits(t, "SigPnd") & bit:
            # Taken off the queue, but perhaps at its delivery stop, which the loop has
            # not handled yet: the stop's siginfo says.
            try:
                info = N.getsiginfo(t.host_tid)
            except OSError:
                return False
            signo, _, code, _, timer_id = struct.unpack_from("<iiiii", info)
            return signo == self.signo and code == SI_TIMER and timer_id == self.id
        if self.signo < 32:
            return True
        # A real-time signal queues: another timer's instance may be the pending one.
        return not any(o is not self and o.queued_task is t and o.signo == self.signo
                       for o in self.tg.posix_timers.values())

    def _signal(self, at: int, missed: int) -> None:
        if self.queued_task is not None:
            if self._still_pending():
                if self.stale:
                    # The new arming's expiry takes over the pending signal.
                    self.stale = False
                    self.queued_at = at
                    self.overrun = missed
                else:
                    self.overrun += 1 + missed
                return
            # Taken without a delivery stop (sigwaitinfo): what it missed meanwhile.
            if not self.stale:
                self.overrun_last = min(self.overrun, _DELAYTIMER_MAX)
            self.queued_task = None
            self.stale = False
        k = self.kernel
        tg = self.tg
        if self.notify & SIGEV_THREAD_ID:
            t = tg.tasks.get(self.target_tid)
            if t is None or t.exited:
                return
        else:
            t = k.pick_thread(tg, self.signo)
            if t is None:
                return
        if tg is k.init_tg and not k.init_has_handler(self.signo):
            return  # the namespace's init ignores a signal it has no handler for
        info = (struct.pack("<iiiiii", self.signo, 0, SI_TIMER, 0, self.id, missed)
                + self.value).ljust(128, b"\0")
        if k.queue_signal_info(t, self.signo, info):
            self.queued_task = t
            self.queued_at = at
            self.overrun = missed

    def delivered(self, now_ns: int) -> int:
        """Its signal reaches a handler now: the overrun count it carries; a periodic
        timer runs again from its next period (Linux's ``posixtimer_rearm``)."""
        n = self.overrun
        if self.interval and self.cpu is None:
            n = max(n, (now_ns - self.queued_at) // self.interval)
        n = min(n, _DELAYTIMER_MAX)
        self.overrun_last = n
        self.overrun = 0
        if self.armed and self.interval and self.cpu is None:
            self._forward(now_ns)
            self.queued_task = None
            self._cancel()
            self._schedule()
        self.queued_task = None
        return n


#: :func:`on_delivery`'s answer for a signal Linux drops.
DROP = b""


def on_delivery(kernel: "Kernel", t: "Task", host_info: bytes) -> Optional[bytes]:
    """At a signal-delivery stop with an ``SI_TIMER`` siginfo: the siginfo with the
    timer's overrun count, :data:`DROP` for the signal of a timer re-armed or deleted
    since it was queued (Linux 6.13+ drops it), None: not one of this process's."""
    timer_id = struct.unpack_from("<i", host_info, 16)[0]
    tm = t.tg.posix_timers.get(timer_id)
    if tm is None:
        dead = t.tg.posix_timers_dropped.pop(timer_id, None)
        return DROP if dead is not None and dead.queued_task is t else None
    if tm.queued_task is None:
        return None
    if tm.stale:
        tm.stale = False
        tm.queued_task = None
        return DROP
    n = tm.delivered(time.monotonic_ns())
    return host_info[:20] + struct.pack("<i", n) + host_info[24:]


def delete_all(tg: "ThreadGroup") -> None:
    """exec and exit: the process's timers go."""
    timers: Dict[int, PosixTimer] = tg.posix_timers
    for tm in list(timers.values()):
        tm.delete()
    timers.clear()
    if tg.zombie:
        tg.posix_timers_dropped.clear()
