"""Keeping the sentry and the task it serves on one CPU while the gofer streams a tree.

A task and the sentry hand each trapped call back and forth on one CPU
(``SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP``): the sentry's answer wakes the task on the
sentry's CPU, and the sentry, preempted by it, runs on there as soon as the task traps
again.  While the gofer lists a tree for a walk (a ``Treadtree`` reply, tens of
milliseconds of its CPU, sent a directory at a time), it sleeps and wakes dozens of times,
and each time a CPU goes idle the scheduler moves whichever of the pair is runnable over
to it; the pair then wakes each other across CPUs and migrates back, with cold caches.
With two vCPUs here, os.walk of /usr/share/doc (the gofer streaming its listings
meanwhile) took 0.145 s with the pair free, 0.120 s with both pinned to one CPU; the
same walk again in the same process (no gofer work) 0.098 vs 0.092 s. Pinning only the
sentry did not help: the task was still pulled over to the idle CPU.

So while such a reply streams, the sentry and the task whose call started it are held
on the CPU the sentry is on (``sched_setaffinity`` of both to that one CPU), and given
back their own masks when the reply has been read to its end, or after
:data:`HOLD_MAX` seconds whatever happens, or at once when anything could see or
inherit the task's mask: its ``sched_getaffinity``/``sched_setaffinity`` (or another's
of it), ``/proc/PID/status`` (``Cpus_allowed``), its clone (the child would inherit
the hold).  Other tasks are never held, so a threaded workload keeps every CPU; a
sandbox whose host allows one CPU, or a task not allowed on the sentry's CPU, is not
held at all.
"""

from __future__ import annotations

import logging
import os
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, FrozenSet, Optional

log = logging.getLogger("sentry")

#: The longest a hold lasts (a walk that stops reading the reply leaves it unread).
HOLD_MAX = 0.25


class CpuHold:
    """The kernel's one hold (:meth:`begin`, :meth:`end`, :meth:`release_task`)."""

    def __init__(self, kernel: "Any", getcpu: "Any") -> None:
        self._kernel = kernel
        self._getcpu = getcpu
        self._own: "Optional[FrozenSet[int]]" = None  # the sentry's mask while held
        self._task: "Any" = None
        self._task_mask: "Optional[FrozenSet[int]]" = None
        self._pidfd = -1  # the held thread's: its mask is given back only while it lives
        self._timer: "Any" = None
        self.holds = 0  # how many were made (tests)

    @property
    def held(self) -> bool:
        return self._own is not None

    def stream(self, started: bool) -> None:
        """The gofer client's ``on_stream`` hook: a tree's reply started or ended."""
        if started:
            self.begin(self._kernel.dispatcher.current)
        else:
            self.end("the reply ended")

    def begin(self, task: "Any") -> None:
        """Hold the sentry and *task* (the task whose call is being served; None: no
        hold) on the sentry's CPU."""
        if self._own is not None or task is None or getattr(task, "exited", True):
            return
        try:
            own = frozenset(os.sched_getaffinity(0))
            if len(own) < 2:
                return
            cpu = self._getcpu()
            if cpu not in own:
                return
            mask = frozenset(os.sched_getaffinity(task.host_tid))
            if cpu not in mask or len(mask) < 2:
                return
            pidfd = os.pidfd_open(task.host_tid, _PIDFD_THREAD)
        except OSError:
            return
        try:
            os.sched_setaffinity(0, (cpu,))
        except OSError:
            os.close(pidfd)
            return
        try:
            os.sched_setaffinity(task.host_tid, (cpu,))
        except OSError:
            os.close(pidfd)
            _set(0, own)
            return
        self._own, self._task, self._task_mask, self._pidfd = own, task, mask, pidfd
        global _held_own
        _held_own = own
        self.holds += 1
        self._timer = self._kernel.ktimers.add(time.monotonic() + HOLD_MAX, self._expired)
        log.debug("cpu hold: the sentry and host thread %d on CPU %d", task.host_tid, cpu)

    def _expired(self) -> None:
        self.end("time")

    def end(self, why: str = "") -> None:
        """Give the sentry and the held task their masks back (nothing if none is held)."""
        own, self._own = self._own, None
        if own is None:
            return
        global _held_own
        _held_own = None
        log.debug("cpu hold ends: %s", why)
        task, mask, pidfd = self._task, self._task_mask, self._pidfd
        self._task = self._task_mask = None
        self._pidfd = -1
        timer, self._timer = self._timer, None
        if timer is not None:
            self._kernel.ktimers.cancel(timer)
        if task is not None and mask is not None and not task.exited and _alive(pidfd):
            _set(task.host_tid, mask)
        if pidfd >= 0:
            os.close(pidfd)
        _set(0, own)

    def release_task(self, task: "Any", why: str) -> None:
        """End the hold if it holds *task* (before anything sees or inherits its mask)."""
        if self._own is not None and self._task is task:
            self.end(why)

    def task_exited(self, task: "Any") -> None:
        """*task* exited: end a hold of it without touching its (dead) thread, whose
        number the host may give to another."""
        if self._own is not None and self._task is task:
            self._task = None
            self.end("the task exited")


#: The sentry's own mask while a hold has changed it (one kernel per sentry process).
_held_own: "Optional[FrozenSet[int]]" = None


def own_cpus() -> "set[int]":
    """The CPUs the sentry may run on, as if no hold were in force (the sandbox's /sys)."""
    return set(_held_own) if _held_own is not None else os.sched_getaffinity(0)


#: pidfd_open's flag for a pidfd of any thread (Linux 6.9).
_PIDFD_THREAD = os.O_EXCL


def _alive(pidfd: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except OSError:
        return False
    return True


def _set(tid: int, mask: "FrozenSet[int]") -> None:
    try:
        os.sched_setaffinity(tid, mask)
    except OSError:
        pass  # the thread is gone, or the host's cpuset changed meanwhile
