"""Keeping the sentry and the task it serves on one CPU while the gofer works for it.

A task and the sentry hand each trapped call back and forth on one CPU
(``SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP``): the sentry's answer wakes the task on the
sentry's CPU, and the sentry, preempted by it, runs on there as soon as the task traps
again.  But the sentry sleeps in ``epoll_wait``, which does not carry the listener's
same-CPU wake-up, and while the gofer works (each request wakes it; a ``Treadtree``
reply is tens of milliseconds of its CPU, sent a directory at a time, sleeping whenever
ten messages wait unread) a CPU goes idle and busy again many times: each time the
scheduler moves whichever of the pair is runnable over to the idle one, and the two then
wake each other across CPUs and migrate back, with cold caches.  With two vCPUs here,
pinning both to one CPU (the gofer free): os.walk of /usr/share/doc 0.145 -> 0.120 s
(the same walk again in the same process, without gofer work, 0.098 -> 0.092), the
imports 94 -> 78 ms, git status 49.8 -> 45.2 ms.  Pinning only the sentry, or only the
gofer, or moving the gofer off its CPU while it streams, did not help: the task was
still pulled over to the idle CPU.

So while the gofer works for a task's call, the sentry and that task are held on the CPU
the sentry is on (``sched_setaffinity`` of both to that one CPU): from a request the
sentry sends while serving the task (:meth:`CpuHold.request`) or the start of a
``Treadtree`` reply (:meth:`CpuHold.stream`), until :data:`HOLD_IDLE` after the last
request or the reply's end, and :data:`HOLD_MAX` at most (a later request makes a new
hold, on the CPU the sentry is on then).

A fork is held too (:meth:`CpuHold.forking`, :meth:`CpuHold.forked`): a new process
starts on the idle CPU, away from the sentry that serves it, and is pulled back at its
first answer.  So the parent is held over its fork (if nothing else is), the child is
born with the held mask, and at the fork event the hold moves to the child (whose own
mask is the parent's) for :data:`FORK_IDLE` unless it asks the gofer for something.
200 fork+exec of coreutils' true: 374 -> 348 ms; two busy children side by side:
158 -> 160 ms.  The parent stays on that CPU with its child (a shell waits for it), and
when the child exits the hold goes back to the parent for :data:`FORK_IDLE`, so that a
loop of forks (a shell script, make) keeps all three on one CPU: with the parent given
its mask back at the fork event, it woke from its wait on the other CPU, and every
exchange of the next fork's stops crossed CPUs again (200 fork+exec of busybox `true`
388 -> 368 ms, A/B medians of 15).  The parent is given its mask back when the child
asks the gofer for something (a child at work, whose parent may be busy too: a parent
computing beside a child walking /usr/share/doc took 28% longer when kept), and before
it forks again or clones a thread, as for anything that could see it.

A hold gives both their own masks back when it ends, and first thing when anything could
see or inherit the task's mask: its ``sched_getaffinity``/``sched_setaffinity`` (or
another's of it), ``/proc/PID/status`` (``Cpus_allowed``), its clone of a thread (which
would inherit the hold), a process the sentry spawns, its exit (its thread is then left
alone: a thread pidfd says whether the number is still its).  Other tasks are never
held, so a threaded workload keeps every CPU; a sentry allowed one CPU, or a task not
allowed on the sentry's CPU, holds nothing.
"""

from __future__ import annotations

import os
import _signal as signal
import time

from sentry import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, FrozenSet, Optional, Tuple

log = logger.get("sentry")

#: A hold ends this long after the gofer's last request or reply for it (imports: 86 ->
#: 75 ms at 50 ms, 85 -> 79 at 10).
HOLD_IDLE = 0.05
#: The longest one hold lasts: a walk that stops reading a reply leaves it unread, and a
#: long stream of requests gets a CPU chosen afresh now and then.
HOLD_MAX = 0.25
#: A hold moved to a forked child ends this long after the fork unless the child asks the
#: gofer for something: a fork+exec's child has exec'd and exited by then, and a busy child
#: running beside others is not kept from the other CPUs for long.
FORK_IDLE = 0.005


class CpuHold:
    """The kernel's one hold: made by :meth:`request`, :meth:`stream` and
    :meth:`forking` (moved to the child by :meth:`forked`), ended by its timer,
    :meth:`end`, :meth:`release_task` and :meth:`task_exited`."""

    def __init__(self, kernel: "Any", getcpu: "Any", clock: "Any" = time.monotonic) -> None:
        self._kernel = kernel
        self._getcpu = getcpu
        self._clock = clock
        self._own: "Optional[FrozenSet[int]]" = None  # the sentry's mask while held
        self._task: "Any" = None
        self._task_mask: "Optional[FrozenSet[int]]" = None
        self._pidfd = -1  # the held thread's: its mask is given back only while it lives
        # The held task's parent (and its pidfd) while the held task is the child a fork
        # made: held on the CPU with it, with the same mask to give back.
        self._parent: "Optional[Tuple[Any, int]]" = None
        # Forks of the held task in flight: task -> the mask it had before the hold.  The
        # hold may end before the fork event (its timer; a look at the parent's mask by
        # another task), and the child was born with the held mask all the same.
        self._forking: "Dict[Any, FrozenSet[int]]" = {}
        self._timer: "Any" = None
        self._since = self._last = 0.0  # when the hold began; the last request or reply
        self._streaming = False  # a Treadtree reply is coming: no idle end meanwhile
        self._idle = HOLD_IDLE  # how long this hold lasts without requests
        self.holds = 0  # how many were made (tests)

    @property
    def held(self) -> bool:
        return self._own is not None

    def request(self) -> None:
        """The gofer client's ``on_request`` hook: a request is being sent."""
        self._last = self._clock()
        self._idle = HOLD_IDLE
        if self._own is None:
            self.begin(self._kernel.dispatcher.current)
        elif self._parent is not None:
            self._drop_parent()  # a child at work: its parent may be too

    def stream(self, started: bool) -> None:
        """The gofer client's ``on_stream`` hook: a tree's reply started or ended."""
        self._last = self._clock()
        self._streaming = started
        if self._parent is not None:
            self._drop_parent()
        if started and self._own is None:
            self.begin(self._kernel.dispatcher.current)
        elif not started and self._own is not None:
            self._arm()  # idle from now on

    def forking(self, task: "Any") -> None:
        """*task* is about to fork (not a thread): hold it (if nothing is held) so that
        the child is born on the sentry's CPU, where :meth:`forked` moves the hold to it
        (a new process otherwise starts on the idle CPU, away from the sentry that serves
        it, and is pulled back at its first answer)."""
        self._forking.pop(task, None)  # (one whose clone failed on the host)
        if self._own is None:
            self.begin(task)
        elif self._parent is not None and self._parent[0] is task:
            # Held beside its child: its next child is born with its own mask instead.
            self._drop_parent()
        if self._own is not None and self._task is task:
            assert self._task_mask is not None
            self._forking[task] = self._task_mask
            self._last = self._clock()  # (no idle end between here and the fork event)

    def forked(self, parent: "Any", child: "Any") -> None:
        """*parent*'s fork made *child*, which inherited the held mask: the hold goes to
        the child (its own mask the one the parent had), the parent stays held beside it
        (a parent held beside the parent before gets its mask back)."""
        born_held = self._forking.pop(parent, None)
        if self._own is None or self._task is not parent or child.exited:
            if born_held is not None and not child.exited:
                _set(child.host_tid, born_held)  # the hold ended meanwhile: its own mask
            return
        mask = self._task_mask
        assert mask is not None
        try:
            pidfd = os.pidfd_open(child.host_tid, _PIDFD_THREAD)
        except OSError:
            _set(child.host_tid, mask)  # it is alive: its fork event is being handled
            self.end("fork")
            return
        self._drop_parent()
        self._parent = (parent, self._pidfd)
        self._task, self._pidfd = child, pidfd
        self._last = self._clock()
        self._idle = FORK_IDLE
        self._arm()

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
        self.holds += 1
        self._since = self._last = self._clock()
        self._idle = HOLD_IDLE
        self._arm()
        log.debug("cpu hold: the sentry and host thread %d on CPU %d", task.host_tid, cpu)

    def _arm(self) -> None:
        """(Re)set the hold's timer: its idle end (none while a reply streams) or its
        longest, whichever comes first."""
        if self._timer is not None:
            self._kernel.ktimers.cancel(self._timer)
        due = self._since + HOLD_MAX
        if not self._streaming:
            due = min(due, self._last + self._idle)
        self._timer = self._kernel.ktimers.add(due, self._check)

    def _check(self) -> None:
        """The hold's timer: end it if idle or too long, else look again later (requests
        only move the idle end on: no timer is touched per request)."""
        self._timer = None
        now = self._clock()
        # The same sums as _arm's, so that a timer it sets is never already due.
        if now >= self._since + HOLD_MAX:
            self.end("time")
        elif not self._streaming and now >= self._last + self._idle:
            self.end("idle")
        else:
            self._arm()

    def end(self, why: str = "") -> None:
        """Give the sentry and the held task their masks back (nothing if none is held)."""
        own, self._own = self._own, None
        if own is None:
            return
        log.debug("cpu hold ends: %s", why)
        self._drop_parent()
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

    def _drop_parent(self) -> None:
        """Give the parent held beside the held task (if any) its mask back."""
        parent, self._parent = self._parent, None
        if parent is None:
            return
        task, pidfd = parent
        mask = self._task_mask
        if mask is not None and not task.exited and _alive(pidfd):
            _set(task.host_tid, mask)
        os.close(pidfd)

    def release_task(self, task: "Any", why: str) -> None:
        """End the hold if it holds *task*, or its parent beside it (before anything
        sees or inherits its mask)."""
        if self._own is not None and (
                self._task is task or (self._parent is not None and self._parent[0] is task)):
            self.end(why)

    def release_group(self, tg: "Any", why: str) -> None:
        """End the hold if it holds a thread of *tg* (a thread of it execs: the exec'ing
        thread takes the leader's number, and the thread pidfd of either no longer names
        the thread whose mask the hold changed)."""
        held = [self._task] + ([self._parent[0]] if self._parent is not None else [])
        if self._own is not None and any(getattr(x, "tg", None) is tg for x in held):
            self.end(why)

    def task_exited(self, task: "Any") -> None:
        """*task* exited: end a hold of it without touching its (dead) thread, whose
        number the host may give to another; if a parent was held beside it, the hold
        goes back to the parent for :data:`FORK_IDLE`."""
        self._forking.pop(task, None)
        if self._own is None:
            return
        parent = self._parent
        if parent is not None and parent[0] is task:
            self._parent = None  # its thread is left alone
            os.close(parent[1])
        elif self._task is task:
            if parent is not None and not parent[0].exited and _alive(parent[1]):
                os.close(self._pidfd)
                self._parent = None
                self._task, self._pidfd = parent
                self._last = self._clock()
                self._idle = FORK_IDLE
                self._arm()
                log.debug("cpu hold: back to host thread %d", parent[0].host_tid)
                return
            self._task = None
            self.end("the task exited")


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
