"""Signal syscalls the sentry emulates (the rest pass to the host; see the table).

Dispositions, masks, frames and ``rt_sigreturn`` are native: every signal the
sentry sends is a real host signal queued on the target thread.  The sentry
decides *whether* and *where* a signal goes (sandbox pids, init protection,
permissions) and ends a parked syscall of the receiving thread.
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import CONTINUE, err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List
    from sentry.kernel.task import Task, ThreadGroup
    from sentry.syscalls.linux.args import SyscallArgs

NSIG = 64


def _check_sig(sig: int) -> None:
    if not 0 <= sig <= NSIG:
        raise err(errno.EINVAL)


def _may_signal(t: "Task", tg: "ThreadGroup") -> bool:
    c = t.creds
    if c.capable(cap.CAP_KILL):
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
    if pid == t.tgid and len(t.tg.tasks) == 1:
        # To itself: the host sends it from the caller, so siginfo (SI_USER,
        # the sender's pid) and the pid-1 rules are exactly Linux's, but for
        # si_uid, the host uid the workload runs as, which the sentry makes the
        # sandbox's where it sees the siginfo (Kernel.sandbox_siginfo).  With one
        # thread the receiver is the caller, so no parked call needs ending.
        if sig:
            t.kernel.signalfd_notify(t.tg)
        return CONTINUE
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
    if tid == t.tid and tgid in (-1, t.tgid):
        # raise(): the caller itself receives it (see kill).
        if sig:
            t.kernel.signalfd_notify(t.tg)
        return CONTINUE
    target = t.kernel.task_by_tid(tid)
    if target is None or target.exited or (tgid > 0 and target.tgid != tgid):
        raise err(errno.ESRCH)
    if not _may_signal(t, target.tg):
        raise err(errno.EPERM)
    if sig:
        if target.tg is t.kernel.init_tg and not t.kernel.init_has_handler(sig):
            return 0
        t.kernel.signal_task(target, sig, t, code=SI_TKILL)
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


# -- rt_sigaction -------------------------------------------------------------

SA_RESTART = 0x10000000
SA_NOCLDSTOP = 1
SA_RESETHAND = 0x80000000
#: The flags the kernel keeps (UAPI_SA_FLAGS on x86-64: NOCLDSTOP, NOCLDWAIT, SIGINFO,
#: EXPOSE_TAGBITS, RESTORER, ONSTACK, RESTART, NODEFER, RESETHAND); do_sigaction clears
#: the rest.
_UAPI_SA_FLAGS = 0x1 | 0x2 | 0x4 | 0x800 | 0x04000000 | 0x08000000 | 0x10000000 | \
    0x40000000 | 0x80000000
SIGCHLD = 17
_KSIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask
SIGKILL, SIGSTOP = 9, 19
# Below the x86-64 red zone (128 bytes) of the thread's stack: free at a syscall.
_SCRATCH_BELOW_SP = 512


def rt_sigaction(t: "Task", a: "SyscallArgs") -> Any:
    """rt_sigaction(2) without a new action (a query), which the filter notifies
    instead of stopping the thread (a ptrace stop costs several times a notification, and
    Python alone asks about every signal at start-up).  The host's answer is the
    workload's except for a handler the sentry installed with a forced SA_RESTART
    (sigaction_stop): that one is given from the sentry's copy, with the handler gone back
    to SIG_DFL if SA_RESETHAND reset it on the host at a delivery."""
    sig, oact = a[0] & 0xFFFFFFFF, a[2]
    saved = t.tg.sa_forced.get(sig)
    if saved is None or not oact:
        return CONTINUE  # the host checks and answers it as Linux does
    if a[3] != 8:
        raise err(errno.EINVAL)
    handler, flags, restorer, mask = saved
    if flags & SA_RESETHAND:
        from sentry.kernel.kernel import _status_mask

        caught = _status_mask(t.kernel.host_task_status(t.host_tid), "SigCgt")
        if not caught >> (sig - 1) & 1:
            handler = 0  # SIG_DFL
    t.mem.write(oact, _KSIGACTION.pack(handler, flags, restorer, mask))
    return 0


def sigaction_stop(k: Any, t: "Task", regs: List[int]) -> None:
    """rt_sigaction(2) at its ``RET_TRACE`` stop; the host runs it.

    A trapped call that a signal ends before the sentry has received it returns
    ``ERESTARTSYS`` from the host's seccomp wait: ``EINTR`` without
    ``SA_RESTART``, where Linux would not have failed at all (``dup2`` does not
    return ``EINTR``).  So every handler is installed on the host with
    ``SA_RESTART``, which makes those restarts invisible; the workload's own flag
    is kept in ``tg.sa_restart``, shown back through ``oldact``, and used when
    the sentry ends a parked call (:meth:`Dispatcher.interrupt`).
    """
    from sentry.platform.hybrid import native as N

    sig = regs[N.RDI] & 0xFFFFFFFF
    act, oact, size = regs[N.RSI], regs[N.RDX], regs[N.R10]
    valid = 1 <= sig <= NSIG and size == 8 and sig not in (SIGKILL, SIGSTOP)
    new_restart = None
    handler: Any = None
    flags = 0
    if act and valid:
        try:
            handler, flags, restorer, mask = _KSIGACTION.unpack(t.mem.read(act, 32))
        except Exception:
            handler = None  # the host reports EFAULT itself
        if handler is not None:
            new_restart = handler > 1 and bool(flags & SA_RESTART)
            if handler > 1 and not flags & SA_RESTART:
                scratch = (regs[N.RSP] - _SCRATCH_BELOW_SP) & ~15
                try:
                    t.mem.write(scratch, _KSIGACTION.pack(handler, flags | SA_RESTART, restorer, mask))
                    regs[N.RSI] = scratch
                    N.setregs(t.host_tid, regs)
                except Exception:
                    pass  # no stack room: install it as asked
    old_restart = sig in t.tg.sa_restart
    ok = valid
    at_exit = False
    # Only a handler the sentry added SA_RESTART to needs its old flags shown back as the
    # workload gave them, and the books say whether there is one (every handler is
    # installed through this stop; exec resets them): for SIG_DFL or SIG_IGN, and for a
    # handler with the workload's own SA_RESTART (installed as given), the host's answer
    # is right as it is, and the call needs no run to its exit (~0.1-0.4 ms a stop here).
    # The new action is installed whatever happens to oact, as Linux does it first.
    if oact and valid and sig in t.tg.sa_forced:
        res = k.run_to_syscall_exit(t)
        if res is None:
            return
        at_exit = True
        # EFAULT after the new action was read (the sentry read it too) is oact's: Linux
        # has installed the action by then (rt_sigaction copies oact out last).
        ok = res == 0 or (res == (-errno.EFAULT) & ((1 << 64) - 1) and handler is not None)
        if res == 0:
            try:
                h, f, r, m = _KSIGACTION.unpack(t.mem.read(oact, 32))
                if h > 1:  # a handler: show the workload's own SA_RESTART
                    f = (f | SA_RESTART) if old_restart else (f & ~SA_RESTART)
                    t.mem.write(oact, _KSIGACTION.pack(h, f, r, m))
            except Exception:
                pass
    if ok and new_restart is not None:
        if new_restart:
            t.tg.sa_restart.add(sig)
        else:
            t.tg.sa_restart.discard(sig)
        if handler > 1 and not new_restart:
            # As do_sigaction keeps it: known flags only, SIGKILL and SIGSTOP never
            # blocked.
            t.tg.sa_forced[sig] = (handler, flags & _UAPI_SA_FLAGS, restorer,
                                   mask & ~(1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1)))
        else:
            t.tg.sa_forced.pop(sig, None)
        k.sync_process(t.tg)
    if ok and handler is not None and sig == SIGCHLD:
        t.tg.sigchld_nocldstop = bool(flags & SA_NOCLDSTOP)
    k.resume_after_stop(t, syscall_exit=at_exit)
