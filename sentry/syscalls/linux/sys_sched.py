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

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List
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


# -- I/O priorities (block/ioprio.c) -------------------------------------------

IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER = 1, 2, 3
IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 0, 1, 2, 3
_IOPRIO_CLASS_SHIFT = 13


def _ioprio_targets(t: "Task", which: int, who: int) -> List[Any]:
    if which not in (IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER):
        raise err(errno.EINVAL)
    return _targets(t, which - 1, who)


def _task_ioprio(x: Any) -> int:
    """What ioprio_get reports for *x*: the value it set, 0 (``IOPRIO_CLASS_NONE``,
    the scheduler's choice from the nice value) if none."""
    return int(x.ioprio)


def _ioprio_best(p: int, q: int) -> int:
    pc, qc = p >> _IOPRIO_CLASS_SHIFT or IOPRIO_CLASS_BE, q >> _IOPRIO_CLASS_SHIFT or IOPRIO_CLASS_BE
    if pc == qc:
        return min(p, q)
    return q if pc > qc else p


def ioprio_get(t: "Task", a: "SyscallArgs") -> int:
    """ioprio_get(2): the best priority of the targets (kept per thread by the sentry)."""
    targets = _ioprio_targets(t, a.int(0), a.int(1))
    if not targets:
        raise err(errno.ESRCH)
    best = _task_ioprio(targets[0])
    for x in targets[1:]:
        best = _ioprio_best(best, _task_ioprio(x))
    return best


def ioprio_set(t: "Task", a: "SyscallArgs") -> int:
    """ioprio_set(2): Linux's checks (the real-time class needs ``CAP_SYS_NICE`` or
    ``CAP_SYS_ADMIN``; another user's threads ``CAP_SYS_NICE``); the value is kept and
    read back, the host's I/O scheduling is not changed."""
    which, who, prio = a.int(0), a.int(1), a.int(2)
    cls, level = (prio >> _IOPRIO_CLASS_SHIFT) & 7, prio & 7
    if prio < 0 or prio > 0xFFFF:
        raise err(errno.EINVAL)
    if cls == IOPRIO_CLASS_RT:
        if not (t.creds.capable(cap.CAP_SYS_NICE) or t.creds.capable(cap.CAP_SYS_ADMIN)):
            raise err(errno.EPERM)
    elif cls == IOPRIO_CLASS_NONE:
        if level:
            raise err(errno.EINVAL)
    elif cls not in (IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE):
        raise err(errno.EINVAL)
    targets = _ioprio_targets(t, which, who)
    if not targets:
        raise err(errno.ESRCH)
    for x in targets:
        if (x.creds.uid not in (t.creds.euid, t.creds.uid)
                and not t.creds.capable(cap.CAP_SYS_NICE)):
            raise err(errno.EPERM)
        x.ioprio = prio
    return 0


# -- sched_getattr/sched_setattr (kernel/sched/syscalls.c) -------------------

SCHED_ATTR_SIZE_VER0, SCHED_ATTR_SIZE_VER1 = 48, 56
SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS = 0x01, 0x08, 0x10
SCHED_FLAG_UTIL_CLAMP = 0x20 | 0x40
SCHED_FLAG_ALL = 0x7F
_PAGE = 4096
_ATTR = struct.Struct("<IIQiIQQQII")  # sched_attr, VER1


def sched_getattr(t: "Task", a: "SyscallArgs") -> int:
    """sched_getattr(2): the policy and nice value the sentry keeps (utilization clamps
    read as the unclamped 0 and 1024)."""
    pid, addr, usize, flags = a.int(0), a[1], a.uint(2), a.uint(3)
    if not addr or pid < 0 or usize > _PAGE or usize < SCHED_ATTR_SIZE_VER0 or flags:
        raise err(errno.EINVAL)
    x = _task(t, pid)
    size = min(usize, _ATTR.size)
    sflags = SCHED_FLAG_RESET_ON_FORK if x.sched_reset_on_fork else 0
    data = _ATTR.pack(size, x.sched_policy, sflags, x.nice, 0, 0, 0, 0, 0, 1024)
    t.mem.write(addr, data[:size])
    return 0


def sched_setattr(t: "Task", a: "SyscallArgs") -> int:
    """sched_setattr(2): normal policies with a nice value (applied to the host thread as
    ``setpriority`` does), ``SCHED_FLAG_RESET_ON_FORK``/``KEEP_POLICY``/``KEEP_PARAMS``;
    real-time and deadline policies ``EPERM`` as for sched_setscheduler; utilization
    clamps ``EOPNOTSUPP`` (as a kernel without ``CONFIG_UCLAMP_TASK``)."""
    pid, addr, flags = a.int(0), a[1], a.uint(2)
    if not addr or pid < 0 or flags:
        raise err(errno.EINVAL)
    size = struct.unpack("<I", t.mem.read(addr, 4))[0] or SCHED_ATTR_SIZE_VER0
    if size < SCHED_ATTR_SIZE_VER0 or size > _PAGE:
        t.mem.write(addr, struct.pack("<I", _ATTR.size))
        raise err(errno.E2BIG)
    raw = t.mem.read(addr, size)
    if any(raw[_ATTR.size:]):
        t.mem.write(addr, struct.pack("<I", _ATTR.size))
        raise err(errno.E2BIG)
    (_, policy, sflags, nice, prio, runtime, deadline, period, umin,
     umax) = _ATTR.unpack(raw[:_ATTR.size].ljust(_ATTR.size, b"\0"))
    if sflags & SCHED_FLAG_UTIL_CLAMP and size < SCHED_ATTR_SIZE_VER1:
        raise err(errno.EINVAL)
    nice = max(-20, min(19, nice))
    if policy & 0x80000000:
        raise err(errno.EINVAL)
    x = _task(t, pid)
    if sflags & SCHED_FLAG_KEEP_POLICY:
        policy = x.sched_policy
    if sflags & SCHED_FLAG_KEEP_PARAMS:
        nice, prio = x.nice, 0
    if policy not in _NORMAL + _REALTIME + (SCHED_DEADLINE,) or sflags & ~SCHED_FLAG_ALL:
        raise err(errno.EINVAL)
    if prio > 99 or (policy in _REALTIME) != (prio != 0):
        raise err(errno.EINVAL)
    if policy == SCHED_DEADLINE and (deadline == 0 or runtime > deadline
                                     or (period and deadline > period)):
        raise err(errno.EINVAL)
    reset = x.sched_reset_on_fork if sflags & SCHED_FLAG_KEEP_POLICY else bool(
        sflags & SCHED_FLAG_RESET_ON_FORK)
    privileged = t.creds.capable(cap.CAP_SYS_NICE)
    if policy not in _NORMAL:
        raise err(errno.EPERM)
    if not privileged:
        if nice < x.nice and 20 - nice > _rlimit_nice(x):
            raise err(errno.EPERM)
        if x.sched_policy == SCHED_IDLE and policy != SCHED_IDLE and 20 - x.nice > _rlimit_nice(x):
            raise err(errno.EPERM)
        if x.creds.euid != t.creds.euid and x.creds.uid != t.creds.euid:
            raise err(errno.EPERM)
        if x.sched_reset_on_fork and not reset:
            raise err(errno.EPERM)
    if sflags & SCHED_FLAG_UTIL_CLAMP:
        if umin > 1024 or umax > 1024 or umin > umax:
            raise err(errno.EINVAL)
        raise err(errno.EOPNOTSUPP)
    x.sched_policy = policy
    x.sched_reset_on_fork = reset
    if nice != x.nice:
        x.nice = nice
        try:
            os.setpriority(os.PRIO_PROCESS, x.host_tid, nice)
        except OSError:
            pass
    return 0
