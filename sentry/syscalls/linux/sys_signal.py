"""Signal syscalls the sentry emulates (the rest pass to the host; see the table).

Dispositions, masks, frames and ``rt_sigreturn`` are native: every signal the
sentry sends is a real host signal queued on the target thread.  The sentry
decides *whether* and *where* a signal goes (sandbox pids, init protection,
permissions) and ends a parked syscall of the receiving thread.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, List

from sentry.abi.linux.errors import err

if TYPE_CHECKING:
    from sentry.kernel.task import Task, ThreadGroup
    from sentry.syscalls.linux.args import SyscallArgs

NSIG = 64


def _check_sig(sig: int) -> None:
    if not 0 <= sig <= NSIG:
        raise err(errno.EINVAL)


def _may_signal(t: "Task", tg: "ThreadGroup") -> bool:
    c = t.creds
    if c.euid == 0:
        return True
    leader = tg.leader or next(iter(tg.tasks.values()), None)
    if leader is None:
        return False
    tc = leader.creds
    return c.uid in (tc.uid, tc.suid) or c.euid in (tc.uid, tc.suid)


def _targets(t: "Task", pid: int) -> List["ThreadGroup"]:
    k = t.kernel
    # Zombies are still there for kill(2) (signal 0 succeeds, others are no-ops).
    live = [tg for tg in k.thread_groups.values() if not tg.reaped]
    if pid > 0:
        return [tg for tg in live if tg.tgid == pid]
    if pid == 0:
        return [tg for tg in live if tg.pgid == t.tg.pgid]
    if pid == -1:
        return [tg for tg in live if tg.tgid != 1 and tg is not t.tg]
    return [tg for tg in live if tg.pgid == -pid]


def kill(t: "Task", a: "SyscallArgs") -> int:
    """kill(2)."""
    pid, sig = a.int(0), a.int(1)
    _check_sig(sig)
    if pid == -(1 << 31):
        raise err(errno.ESRCH)
    targets = _targets(t, pid)
    if not targets:
        raise err(errno.ESRCH)
    allowed = [tg for tg in targets if _may_signal(t, tg)]
    if not allowed:
        raise err(errno.EPERM)
    if sig:
        for tg in allowed:
            if not tg.zombie and tg.tasks:
                t.kernel.signal_group(tg, sig, sender=t)
    return 0


def _thread(t: "Task", tgid: int, tid: int, sig: int) -> int:
    _check_sig(sig)
    if tid <= 0 or tgid == 0 or tgid < -1:
        raise err(errno.EINVAL)
    target = t.kernel.task_by_tid(tid)
    if target is None or target.exited or (tgid > 0 and target.tgid != tgid):
        raise err(errno.ESRCH)
    if not _may_signal(t, target.tg):
        raise err(errno.EPERM)
    if sig:
        if target.tg is t.kernel.init_tg and not t.kernel.init_has_handler(sig):
            return 0
        t.kernel.signal_task(target, sig, t)
    return 0


def tgkill(t: "Task", a: "SyscallArgs") -> int:
    """tgkill(2)."""
    return _thread(t, a.int(0), a.int(1), a.int(2))


def tkill(t: "Task", a: "SyscallArgs") -> int:
    """tkill(2)."""
    return _thread(t, -1, a.int(0), a.int(1))


SI_TKILL = -6


def _queue_info(t: "Task", ptr: int, to_self: bool) -> bytes:
    info = t.mem.read(ptr, 128)
    code = struct.unpack_from("<i", info, 8)[0]
    # Only the kernel may send SI_USER/SI_KERNEL-style codes to another process.
    if (code >= 0 or code == SI_TKILL) and not to_self:
        raise err(errno.EPERM)
    return info


def rt_sigqueueinfo(t: "Task", a: "SyscallArgs") -> int:
    """rt_sigqueueinfo(2): the siginfo (and its value) reach the target."""
    pid, sig = a.int(0), a.int(1)
    _check_sig(sig)
    info = _queue_info(t, a[2], pid == t.tgid)
    tg = t.kernel.thread_groups.get(pid)
    if tg is None or tg.reaped:
        raise err(errno.ESRCH)
    if not _may_signal(t, tg):
        raise err(errno.EPERM)
    if sig and not tg.zombie and tg.tasks:
        target = t.kernel.pick_thread(tg, sig)
        if target is not None and not (tg is t.kernel.init_tg and
                                       not t.kernel.init_has_handler(sig)):
            t.kernel.signal_task(target, sig, t, info)
    return 0


def rt_tgsigqueueinfo(t: "Task", a: "SyscallArgs") -> int:
    """rt_tgsigqueueinfo(2): the siginfo (and its value) reach the thread."""
    tgid, tid, sig = a.int(0), a.int(1), a.int(2)
    _check_sig(sig)
    info = _queue_info(t, a[3], tgid == t.tgid)
    if tid <= 0 or tgid <= 0:
        raise err(errno.EINVAL)
    target = t.kernel.task_by_tid(tid)
    if target is None or target.exited or target.tgid != tgid:
        raise err(errno.ESRCH)
    if not _may_signal(t, target.tg):
        raise err(errno.EPERM)
    if sig and not (target.tg is t.kernel.init_tg and not t.kernel.init_has_handler(sig)):
        t.kernel.signal_task(target, sig, t, info)
    return 0
