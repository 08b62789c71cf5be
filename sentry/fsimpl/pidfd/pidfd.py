"""pidfd: a process (or, with ``PIDFD_THREAD``, a thread) as a file (``kernel/pid.c``,
``fs/pidfs.c``, pidfd_open(2)).

A description names a sandbox :class:`ThreadGroup` (and a thread for a thread
pidfd); it holds no host resource, so a pid the host reuses is never confused
with it: the sentry's books say whether the process is alive, a zombie, or reaped.

- readiness (Linux's ``pidfd_poll``): ``IN|RDNORM`` once the process has exited (a
  zombie); ``IN|RDNORM|HUP`` once it is reaped (a thread pidfd: once the thread is
  gone, as a non-leader thread is reaped at its exit).  The queue is the process's
  :attr:`ThreadGroup.pidfd_queue`, notified at each exit and reap the sentry sees.
- ``read``/``write``: ``EINVAL``; ``/proc/PID/fd`` shows ``anon_inode:[pidfd]``
  (gVisor's name; Linux 6.9+ shows its pidfs inode).
- ``/proc/PID/fdinfo``: ``Pid:`` and ``NSpid:`` lines, the sandbox pid, ``-1`` once
  reaped.

A reap done by the host (the parent's host-run ``wait``) is seen lazily: the
process is a zombie in the books whose host pid is gone.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.waiter import EVENT_HUP, EVENT_IN, WaitQueue
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional
    from sentry.kernel.task import Task, ThreadGroup

#: ``PIDFD_THREAD`` (``O_EXCL``): the pidfd names one thread.
PIDFD_THREAD = abi.O_EXCL
#: ``EPOLLRDNORM``.
_RDNORM = 0x040


class PidRef:
    """The process *tg*, or its thread *task*, as a pidfd names it (Linux: a
    ``struct pid``); *thread*: signals go to that thread by default."""

    def __init__(self, tg: "ThreadGroup", task: Optional["Task"], thread: bool) -> None:
        self.tg = tg
        self.task = task
        self.pid = task.tid if task is not None else tg.tgid
        self.thread = thread

    def reaped(self) -> bool:
        """Whether the pid is gone (Linux: the ``struct pid`` has no task)."""
        if self.task is not None:
            return self.task.exited
        tg = self.tg
        if tg.reaped:
            return True
        return tg.zombie and not tg.kernel.host_pid_alive(tg.host_tgid)

    def exited(self) -> bool:
        """Whether the process (the thread) has exited: a zombie or reaped."""
        if self.task is not None:
            return self.task.exited
        return self.tg.zombie or self.tg.reaped

    def target(self) -> Optional["Task"]:
        """The live task a signal or ``pidfd_getfd`` acts on (the leader for a process)."""
        if self.task is not None:
            return None if self.task.exited else self.task
        tg = self.tg
        if tg.zombie or tg.reaped:
            return None
        return tg.leader or next(iter(tg.tasks.values()), None)


class PidfdDescription(PidRef, AnonFileDescription):
    """A pidfd of process *tg*, or of its thread *task* (a thread other than the
    leader, which only a thread pidfd names).  *flags*: ``PIDFD_NONBLOCK``,
    ``PIDFD_THREAD``."""

    on_noexec_sb = True  # type: ignore[assignment]  # (pidfs's)

    read_iter = write_iter = False
    can_read = can_write = False

    positional = True  # (pidfs's dentry_open; nothing to read: EINVAL)

    def __init__(self, tg: "ThreadGroup", task: Optional["Task"], flags: int) -> None:
        AnonFileDescription.__init__(self, b"[pidfd]", flags)
        PidRef.__init__(self, tg, task, bool(flags & PIDFD_THREAD))
        if self.thread:
            self.flags |= PIDFD_THREAD  # kept in f_flags, as Linux does

    def wait_queue(self) -> WaitQueue:
        return self.tg.pidfd_queue

    def readiness(self, mask: int) -> int:
        if self.reaped():
            r = EVENT_IN | _RDNORM | EVENT_HUP
        elif self.exited():
            r = EVENT_IN | _RDNORM
        else:
            r = 0
        return r & (mask | EVENT_HUP)

    def fdinfo(self) -> bytes:
        pid = -1 if self.reaped() else self.pid
        return b"Pid:\t%d\nNSpid:\t%d\n" % (pid, pid)


def pidfd_of(desc: Any) -> PidfdDescription:
    """*desc* as a pidfd.

    :raises LinuxError: ``EBADF`` when it is another kind of file.
    """
    if not isinstance(desc, PidfdDescription):
        raise err(errno.EBADF)
    return desc
