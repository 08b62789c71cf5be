"""pidfd_open(2), pidfd_send_signal(2), pidfd_getfd(2): the file is
:mod:`sentry.fsimpl.pidfd.pidfd`.

Everything stays inside the sandbox: a pidfd names a sandbox process by the
sentry's books (never a host pidfd), signals go the way ``kill(2)``'s do (sandbox
permissions, the pid-1 rules, the sandbox's siginfo), and ``pidfd_getfd`` copies a
reference to a description of the target's sandbox fd table.  Checks and their
order are ``kernel/pid.c``'s and ``kernel/signal.c``'s (Linux 6.9+, with
``PIDFD_THREAD``).
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel.task import ptrace_may_access
from sentry.fsimpl.pidfd.pidfd import PIDFD_THREAD, PidfdDescription, PidRef, pidfd_of
from sentry.syscalls.linux import sys_signal
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

PIDFD_NONBLOCK = abi.O_NONBLOCK
# pidfd_send_signal's scope flags (include/uapi/linux/pidfd.h).
PIDFD_SIGNAL_THREAD, PIDFD_SIGNAL_THREAD_GROUP, PIDFD_SIGNAL_PROCESS_GROUP = 1, 2, 4
_SCOPES = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP
SI_USER, SI_TKILL = 0, -6


def pidfd_open(t: "Task", a: "SyscallArgs") -> int:
    """pidfd_open(2): ``PIDFD_NONBLOCK``, ``PIDFD_THREAD``; the fd is close-on-exec."""
    pid, flags = a.int(0), a.uint(1)
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD) or pid <= 0:
        raise err(errno.EINVAL)
    k = t.kernel
    tg = k.thread_groups.get(pid)
    if tg is not None and (tg.reaped or (tg.zombie and not k.host_pid_alive(tg.host_tgid))):
        k.forget_thread_group(tg)
        tg = None
    task = k.task_by_tid(pid)
    if task is not None and task.exited:
        task = None
    if tg is None and task is None:
        raise err(errno.ESRCH)
    if tg is None:
        # A thread that is not a process's leader: only a thread pidfd names it
        # (ENOENT, as Linux 6.18 answers; older kernels said EINVAL).
        assert task is not None
        if not flags & PIDFD_THREAD:
            raise err(errno.ENOENT)
        d = PidfdDescription(task.tg, task, flags)
    else:
        d = PidfdDescription(tg, None, flags)
    try:
        return t.fdtable.install(d, True)
    except LinuxError:
        d.decref()
        raise


def pidfd_send_signal(t: "Task", a: "SyscallArgs") -> int:
    """pidfd_send_signal(2): scope flags, a caller's siginfo under Linux's rules."""
    fd, sig, info_ptr, flags = a.int(0), a.int(1), a[2], a.uint(3)
    if flags & ~_SCOPES or bin(flags).count("1") > 1:
        raise err(errno.EINVAL)
    d = _signal_ref(t.fdtable.get(fd))
    if flags:
        scope = flags
    else:
        scope = PIDFD_SIGNAL_THREAD if d.thread else PIDFD_SIGNAL_THREAD_GROUP
    info = None
    if info_ptr:
        info = t.mem.read(info_ptr, 128)
        signo, code = struct.unpack_from("<i", info, 0)[0], struct.unpack_from("<i", info, 8)[0]
        if signo != sig:
            raise err(errno.EINVAL)
        # Only a signal to oneself may carry a siginfo the kernel would make.
        if (d.pid != t.tid or scope == PIDFD_SIGNAL_PROCESS_GROUP) and (
                code >= 0 or code == SI_TKILL):
            raise err(errno.EPERM)
    if scope == PIDFD_SIGNAL_PROCESS_GROUP:
        if d.reaped():
            raise err(errno.ESRCH)
        return _signal_pgrp(t, d.pid, sig, info)
    if d.reaped():
        raise err(errno.ESRCH)
    sys_signal._check_sig(sig)
    tg = d.tg
    if not sys_signal._may_signal(t, tg):
        raise err(errno.EPERM)
    target = d.target() if scope == PIDFD_SIGNAL_THREAD else None
    if not sig or tg.zombie or not tg.tasks or (scope == PIDFD_SIGNAL_THREAD and target is None):
        return 0  # an exiting process takes no signal (Linux's prepare_signal)
    k = t.kernel
    if scope == PIDFD_SIGNAL_THREAD:
        assert target is not None
        if tg is k.init_tg and not k.init_has_handler(sig):
            return 0
        k.signal_task(target, sig, t, info, code=None if info else SI_TKILL)
    else:
        _signal_group(t, tg, sig, info)
    return 0


def _signal_ref(desc: Any) -> PidRef:
    """The process a ``pidfd_send_signal`` fd names (``pidfd_to_pid``): a pidfd, or an
    fd of a ``/proc/PID`` directory (a process: ``open`` drops ``O_EXCL``, which is
    ``PIDFD_THREAD``, from ``f_flags``).

    :raises LinuxError: ``EBADF`` for any other file, an ``O_PATH`` one too.
    """
    if isinstance(desc, PidfdDescription):
        return desc
    tg = getattr(desc.inode, "process", None) if not desc.is_path else None
    if tg is None:
        raise err(errno.EBADF)
    return PidRef(tg, None, False)


def _signal_group(t: "Task", tg: Any, sig: int, info: "bytes | None") -> None:
    """kill(2) of *tg*, with the caller's siginfo if it gave one (delivered to the thread
    the signal picks, as ``kill_pid_info`` does; pid 1 only a signal it handles)."""
    k = t.kernel
    if info is None:
        k.signal_group(tg, sig, sender=t)
        return
    dest = k.pick_thread(tg, sig)
    if dest is not None and not (tg is k.init_tg and not k.init_has_handler(sig)):
        k.signal_task(dest, sig, t, info)


def _signal_pgrp(t: "Task", pgid: int, sig: int, info: "bytes | None") -> int:
    """The process group *pgid* (``kill_pgrp_info``): ``ESRCH`` if it is empty,
    the last error if no member could be signalled."""
    k = t.kernel
    members = [tg for tg in k.thread_groups.values() if not tg.reaped and tg.pgid == pgid]
    if not members:
        raise err(errno.ESRCH)
    sys_signal._check_sig(sig)
    allowed = [tg for tg in members if sys_signal._may_signal(t, tg)]
    if not allowed:
        raise err(errno.EPERM)
    for tg in allowed:
        if not sig or tg.zombie or not tg.tasks:
            continue
        _signal_group(t, tg, sig, info)
    return 0


def pidfd_getfd(t: "Task", a: "SyscallArgs") -> int:
    """pidfd_getfd(2): a new close-on-exec fd for the target's description."""
    pidfd, fd, flags = a.int(0), a.int(1), a.uint(2)
    if flags:
        raise err(errno.EINVAL)
    d = pidfd_of(t.fdtable.get(pidfd))
    target = d.target()
    if target is None:
        raise err(errno.ESRCH)  # gone, or exiting (its files are released)
    if not ptrace_may_access(t, target):
        raise err(errno.EPERM)
    fdt = target.fdtable
    desc = fdt.lookup(fd) if fdt is not None and fd >= 0 else None
    if desc is None:
        raise err(errno.EBADF)
    desc.incref()
    try:
        return t.fdtable.install(desc, True)
    except LinuxError:
        desc.decref()
        raise
