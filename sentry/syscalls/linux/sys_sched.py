"""Scheduling policy and nice values, as the sandbox sees them.

CPU placement and time slices stay the host's: the workload's threads are host
threads scheduled as the sentry's own (``SCHED_OTHER``).  What the sentry keeps is
what a program can read back: each thread's policy (``SCHED_OTHER``,
``SCHED_BATCH`` or ``SCHED_IDLE``; the real-time ones need a privilege the
sandbox does not grant, so they are ``EPERM`` as for an unprivileged process) and
each thread's nice value for ``getpriority``/``setpriority``, which the sentry
also applies to the host thread.  Lowering a nice value needs ``CAP_SYS_NICE`` or
room under ``RLIMIT_NICE``, as on Linux.
"""

from __future__ import annotations

import errno
import os
import resource
import struct
from typing import TYPE_CHECKING, Any, List

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
_NORMAL = (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE)
_REALTIME = (SCHED_FIFO, SCHED_RR)
PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
# The time slice sched_rr_get_interval reports for a normal thread (CFS's default
# minimum granularity), in nanoseconds.
_SLICE_NS = 3_000_000


def _task(t: "Task", pid: int) -> "Task":
    if pid < 0:
        raise err(errno.EINVAL)
    if pid == 0:
        return t
    target = t.kernel.task_by_tid(pid)
    if target is None or target.exited:
        raise err(errno.ESRCH)
    return target


def sched_getscheduler(t: "Task", a: "SyscallArgs") -> int:
    """sched_getscheduler(2)."""
    return _task(t, a.int(0)).sched_policy


def sched_setscheduler(t: "Task", a: "SyscallArgs") -> int:
    """sched_setscheduler(2): the normal policies (priority 0); real-time ones ``EPERM``."""
    target = _task(t, a.int(0))
    policy = a.int(1) & ~SCHED_RESET_ON_FORK
    if not a[2]:
        raise err(errno.EINVAL)
    prio = struct.unpack("<i", t.mem.read(a[2], 4))[0]
    if policy in _REALTIME:
        if not 1 <= prio <= 99:
            raise err(errno.EINVAL)
        raise err(errno.EPERM)
    if policy not in _NORMAL or prio != 0:
        raise err(errno.EINVAL)
    target.sched_policy = policy
    return 0


def sched_getparam(t: "Task", a: "SyscallArgs") -> int:
    """sched_getparam(2): priority 0 (normal policies have no static priority)."""
    _task(t, a.int(0))
    if not a[1]:
        raise err(errno.EINVAL)
    t.mem.write(a[1], struct.pack("<i", 0))
    return 0


def sched_setparam(t: "Task", a: "SyscallArgs") -> int:
    """sched_setparam(2): only priority 0 fits a normal policy."""
    _task(t, a.int(0))
    if not a[1]:
        raise err(errno.EINVAL)
    if struct.unpack("<i", t.mem.read(a[1], 4))[0] != 0:
        raise err(errno.EINVAL)
    return 0


def sched_get_priority_max(t: "Task", a: "SyscallArgs") -> int:
    """sched_get_priority_max(2)."""
    policy = a.int(0)
    if policy in _REALTIME:
        return 99
    if policy in _NORMAL or policy == SCHED_DEADLINE:
        return 0
    raise err(errno.EINVAL)


def sched_get_priority_min(t: "Task", a: "SyscallArgs") -> int:
    """sched_get_priority_min(2)."""
    policy = a.int(0)
    if policy in _REALTIME:
        return 1
    if policy in _NORMAL or policy == SCHED_DEADLINE:
        return 0
    raise err(errno.EINVAL)


def sched_rr_get_interval(t: "Task", a: "SyscallArgs") -> int:
    """sched_rr_get_interval(2): a normal thread's time slice."""
    _task(t, a.int(0))
    t.mem.write(a[1], struct.pack("<qq", 0, _SLICE_NS))
    return 0


def _targets(t: "Task", which: int, who: int) -> List[Any]:
    k = t.kernel
    if who < 0:
        raise err(errno.ESRCH)
    if which == PRIO_PROCESS:
        return [_task(t, who) if who else t]
    if which == PRIO_PGRP:
        pgid = who or t.tg.pgid
        return [x for tg in k.thread_groups.values() if not tg.zombie and tg.pgid == pgid
                for x in tg.tasks.values()]
    if which == PRIO_USER:
        uid = who or t.creds.uid
        return [x for tg in k.thread_groups.values() if not tg.zombie
                for x in tg.tasks.values() if x.creds.uid == uid]
    raise err(errno.EINVAL)


def _rlimit_nice(t: "Task") -> int:
    """RLIMIT_NICE of *t*'s process: ``20 - nice`` it may reach."""
    from sentry.syscalls.linux.sys_process import get_rlimit

    soft = get_rlimit(t, resource.RLIMIT_NICE)[0]
    return soft if soft < 1 << 63 else 40


def getpriority(t: "Task", a: "SyscallArgs") -> int:
    """getpriority(2): the raw syscall returns ``20 - nice`` of the highest-priority target."""
    targets = _targets(t, a.int(0), a.int(1))
    if not targets:
        raise err(errno.ESRCH)
    return 20 - min(x.nice for x in targets)


def setpriority(t: "Task", a: "SyscallArgs") -> int:
    """setpriority(2): nice values in [-20, 19]; lowering one needs root."""
    targets = _targets(t, a.int(0), a.int(1))
    if not targets:
        raise err(errno.ESRCH)
    nice = max(-20, min(19, a.int(2)))
    for x in targets:
        privileged = t.creds.capable(cap.CAP_SYS_NICE)
        if x.creds.euid != t.creds.euid and x.creds.uid != t.creds.euid and not privileged:
            raise err(errno.EPERM)
        if nice < x.nice and not privileged and 20 - nice > _rlimit_nice(x):
            raise err(errno.EACCES)
    for x in targets:
        x.nice = nice
        try:
            os.setpriority(os.PRIO_PROCESS, x.host_tid, nice)
        except OSError:
            pass  # a thread that just exited; the book keeps the value
    return 0
