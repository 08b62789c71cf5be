"""Process syscalls: ids, clone/fork/vfork, wait, process groups, prctl, limits."""

from __future__ import annotations

import errno
import os
import resource
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import CONTINUE, WouldBlock, err
from sentry.kernel import proc_events as cn_proc
from sentry.kernel import ptrace as kptrace
from sentry.kernel.waiter import EVENT_ALL
from sentry.platform.hybrid import native as N

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Tuple
    from sentry.kernel.task import Task, ThreadGroup
    from sentry.syscalls.linux.args import SyscallArgs

CSIGNAL = 0xFF
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED = 0x100000, 0x200000, 0x400000
CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP = 0x800000, 0x1000000, 0x2000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x4000000, 0x8000000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_IO = 0x40000000, 0x80000000
CLONE_NEWTIME = 0x80  # (clone3 only: for clone(2) a bit of the exit signal)

_NS_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
    CLONE_NEWPID | CLONE_NEWNET
_ALLOWED = CSIGNAL | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_PTRACE | \
    CLONE_VFORK | CLONE_PARENT | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | \
    CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_CHILD_SETTID | CLONE_IO

WNOHANG, WUNTRACED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 4, 8, 0x01000000
__WNOTHREAD, __WALL, __WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
SIGCHLD = 17


def getpid(t: "Task", a: "SyscallArgs") -> int:
    """getpid(2).  Python twin of the C fast handler."""
    return t.tgid


def gettid(t: "Task", a: "SyscallArgs") -> int:
    """gettid(2).  Python twin of the C fast handler."""
    return t.tid


def getppid(t: "Task", a: "SyscallArgs") -> int:
    """getppid(2).  Python twin of the C fast handler."""
    return t.ppid


# -- clone ------------------------------------------------------------------

def _ns_names(flags: int) -> str:
    names = {CLONE_NEWNS: "CLONE_NEWNS", CLONE_NEWCGROUP: "CLONE_NEWCGROUP",
             CLONE_NEWUTS: "CLONE_NEWUTS", CLONE_NEWIPC: "CLONE_NEWIPC",
             CLONE_NEWUSER: "CLONE_NEWUSER", CLONE_NEWPID: "CLONE_NEWPID",
             CLONE_NEWNET: "CLONE_NEWNET"}
    return "|".join(n for bit, n in names.items() if flags & bit)


def book_clone(t: "Task", flags: int, pidfd_addr: int = 0) -> None:
    """Check and book a clone.  ``CLONE_PIDFD`` is the sentry's: the host's clone runs
    without it (the caller strips it), and a sandbox pidfd of the child is installed
    in the parent and stored at *pidfd_addr* at the clone event (:func:`clone_pidfd`).
    """
    if flags & _NS_FLAGS:
        if flags & CLONE_NEWUSER or t.creds.capable(cap.CAP_SYS_ADMIN):
            # Linux would make the namespaces (compat report).
            t.kernel.note_unsupported(t, "clone", "namespace flags " + _ns_names(flags))
        raise err(errno.EPERM)
    if flags & ~(_ALLOWED | CLONE_PIDFD):
        # CLONE_UNTRACED would start a task the sentry cannot see.
        raise err(errno.EINVAL)
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise err(errno.EINVAL)
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise err(errno.EINVAL)
    if flags & CLONE_PIDFD and flags & CLONE_DETACHED:
        raise err(errno.EINVAL)
    _check_nproc(t)
    t.kernel.check_pids()
    if flags & CLONE_PIDFD and not t.fdtable.free_below_limit():
        raise err(errno.EMFILE)
    if flags & CLONE_THREAD:
        # A thread would inherit the CPU a hold keeps this one on (sentry.kernel.cpuhold).
        t.kernel.cpu_hold.release_task(t, "clone")
    else:
        # A process is born on the hold's CPU, and the hold moves to it at the fork event.
        t.kernel.cpu_hold.forking(t)
    # Booked here, consumed at the ptrace fork/clone event of this thread: the
    # thread cannot start another syscall in between.
    t.pending_clone = flags
    t.pending_pidfd_addr = pidfd_addr


def clone_pidfd(parent: "Task", child: "Task") -> None:
    """``CLONE_PIDFD`` at the clone event: the child's pidfd (a thread pidfd for
    ``CLONE_THREAD``, as Linux 6.9+) in the parent, close-on-exec, its number stored
    at the booked address (a fault there is not reported: the child exists)."""
    from sentry.fsimpl.pidfd.pidfd import PIDFD_THREAD, PidfdDescription

    addr, parent.pending_pidfd_addr = parent.pending_pidfd_addr, 0
    thread = child.tid != child.tg.tgid
    d = PidfdDescription(child.tg, child if thread else None, PIDFD_THREAD if thread else 0)
    try:
        fd = parent.fdtable.install(d, True)
    except Exception:
        d.decref()
        return
    try:
        parent.mem.write(addr, struct.pack("<i", fd))
    except Exception:
        pass


SYS_CLONE, SYS_FORK, SYS_VFORK = 56, 57, 58


def clone_flags(nr: int, rdi: int) -> int:
    """The clone flags of a traced clone/fork/vfork (a register, so no TOCTOU)."""
    if nr == SYS_FORK:
        return 17
    if nr == SYS_VFORK:
        return CLONE_VM | CLONE_VFORK | 17
    return rdi & 0xFFFFFFFF


def clone_stop(t: "Task", nr: int, rdi: int, pidfd_addr: int = 0) -> None:
    """clone(2), fork(2), vfork(2) at their ``RET_TRACE`` stop: check and book.

    They are traced rather than notified: a signal that arrives before the
    sentry receives a notification ends the wait with ``ERESTARTSYS`` (``EINTR``
    without ``SA_RESTART``), while Linux always restarts a fork
    (``ERESTARTNOINTR``); in a ptrace stop no signal interrupts.

    :raises LinuxError: the errno the call fails with.
    """
    flags = clone_flags(nr, rdi)
    # clone(2)'s CLONE_PIDFD stores the pidfd where CLONE_PARENT_SETTID stores the tid.
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID:
        raise err(errno.EINVAL)
    book_clone(t, flags, pidfd_addr)


SYS_CLONE3 = 435
_CLONE_ARGS = struct.Struct("<11Q")  # struct clone_args up to CLONE_ARGS_SIZE_VER2
CLONE_ARGS_SIZE_VER0 = 64


def clone3_stop(t: "Task", regs: List[int]) -> Tuple[int, ...]:
    """clone3(2) at its ``RET_TRACE`` stop: the arguments are read once and the call is
    rewritten into clone(2) with them in registers, so the host never reads workload
    memory that another thread could change after the check.

    Returns the registers clone took over (rdi, rsi, rdx, r10, r8), which the caller
    puts back in the parent at its clone event and in the child at its first stop, as
    a clone3 would have left them.  What clone cannot say (``CLONE_CLEAR_SIGHAND``,
    ``CLONE_INTO_CGROUP``, ``set_tid``) is ``ENOSYS``, so a caller falls back to clone.

    :raises LinuxError: the errno the call fails with.
    """
    addr, size = regs[N.RDI], regs[N.RSI]
    if size < CLONE_ARGS_SIZE_VER0:
        raise err(errno.EINVAL)
    if size > 4096:
        raise err(errno.E2BIG)
    raw = t.mem.read(addr, size)
    if any(raw[_CLONE_ARGS.size:]):
        raise err(errno.E2BIG)  # a newer struct whose extra fields are set
    (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
     set_tid_size, cgroup) = _CLONE_ARGS.unpack(raw[:_CLONE_ARGS.size].ljust(_CLONE_ARGS.size,
                                                                          b"\0"))
    if exit_signal & ~0xFF or exit_signal > 64:
        raise err(errno.EINVAL)
    if flags & 0xFF & ~CLONE_NEWTIME:  # CSIGNAL bits: exit_signal is a field
        raise err(errno.EINVAL)
    if flags & CLONE_NEWTIME:
        # A namespace, refused as the others are (_clone); clone(2) cannot say it (its
        # low byte is the exit signal).
        if t.creds.capable(cap.CAP_SYS_ADMIN):
            t.kernel.note_unsupported(t, "clone", "namespace flags CLONE_NEWTIME")
        raise err(errno.EPERM)
    if (stack == 0) != (stack_size == 0):
        raise err(errno.EINVAL)
    if (set_tid == 0) != (set_tid_size == 0):
        raise err(errno.EINVAL)
    if flags >> 32 or set_tid_size or cgroup:
        raise err(errno.ENOSYS)
    if flags & (CLONE_THREAD | CLONE_PARENT) and exit_signal:
        raise err(errno.EINVAL)
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID and pidfd == parent_tid:
        raise err(errno.EINVAL)
    cflags = flags | exit_signal
    book_clone(t, cflags, pidfd)
    cflags &= ~CLONE_PIDFD
    saved = (regs[N.RDI], regs[N.RSI], regs[N.RDX], regs[N.R10], regs[N.R8])
    regs[N.ORIG_RAX] = SYS_CLONE
    regs[N.RDI] = cflags
    regs[N.RSI] = (stack + stack_size) & 0xFFFFFFFFFFFFFFFF if stack else 0
    regs[N.RDX] = parent_tid
    regs[N.R10] = child_tid
    regs[N.R8] = tls
    return saved


def restore_clone3_regs(host_tid: int, saved: Tuple[int, ...]) -> None:
    """Put back the registers a rewritten clone3 used (the thread is in a ptrace stop;
    nothing if it is gone: killed since, its exit comes next)."""
    try:
        regs = N.getregs(host_tid)
        regs[N.RDI], regs[N.RSI], regs[N.RDX], regs[N.R10], regs[N.R8] = saved
        N.setregs(host_tid, regs)
    except OSError:
        pass



# -- wait -------------------------------------------------------------------

def _prune_reaped(t: "Task") -> None:
    """Forget children the host already reaped (after an earlier continued wait)."""
    k = t.kernel
    for ctg in list(t.tg.children.values()):
        if ctg.zombie and not k.host_pid_alive(ctg.host_tgid):
            k.forget_thread_group(ctg)


def _wait_children(t: "Task", match) -> List["ThreadGroup"]:
    _prune_reaped(t)
    out = [c for c in t.tg.children.values() if match(c)]
    return out


def _one_zombie_left(t: "Task", zombies: List["ThreadGroup"]) -> bool:
    """Whether one of *zombies* is still the host's to reap; the ones the host reaped
    already are forgotten on the way.  In children order, the order the host reaps
    ``-1`` waits in, so the first one is usually there: O(1) a wait, where checking
    every zombie made init reaping N orphans O(N^2)."""
    k = t.kernel
    for c in zombies:
        if k.host_pid_alive(c.host_tgid):
            return True
        k.forget_thread_group(c)
    return False


def _wait(t: "Task", match, options: int, exited: bool = True, tmatch=None,
          report: "Optional[Callable[[Optional[kptrace.Report]], int]]" = None) -> int:
    """Decide a wait on the caller's children that *match* and, with *tmatch*, on its
    tracees (:mod:`sentry.kernel.ptrace`): those the sentry reports itself with
    *report* (a stop the host does not know of, or the exit of a tracee that is not a
    child); a child's exit the host reports (``CONTINUE``)."""
    if tmatch is not None and report is not None:
        rep = kptrace.wait_report(t, tmatch, options, exited)
        if rep is not None:
            return report(rep)
    kids = [c for c in t.tg.children.values() if match(c)]
    ready = [c for c in kids if (exited and c.zombie)
             or (options & WUNTRACED and c.stop_pending)
             or (options & WCONTINUED and c.cont_pending)]
    # A zombie in the books may be one the host reaped already (an earlier continued
    # wait): make sure one that can be reported is left before letting the host wait.
    if ready and all(c.zombie for c in ready) and not _one_zombie_left(t, ready):
        ready = []
    if not ready:
        kids = _wait_children(t, match)
    if not kids:
        if tmatch is None or report is None or not kptrace.has_tracees(t, tmatch, options):
            raise err(errno.ECHILD)
        if options & WNOHANG:
            return report(None)  # the host has no child of the caller to say so
        raise WouldBlock([(t.tg.child_events, EVENT_ALL)])
    if options & WNOHANG or ready:
        # The host's wait runs on the same children the sentry sees (the
        # sandbox's pid namespace holds nothing else) and reports what the
        # sentry saw; a reported stop/continue is consumed unless WNOWAIT.
        if not options & WNOWAIT:
            # The host reports the first ready child in the same order (its children
            # list, oldest first): a zombie before a stopped child is what it reports,
            # and the stop stays to be reported.
            c = ready[0] if ready else None
            if c is not None and not c.zombie:
                c.stop_pending = c.cont_pending = False
        return CONTINUE
    raise WouldBlock([(t.tg.child_events, EVENT_ALL)])


def _pid_matcher(t: "Task", pid: int):
    if pid > 0:
        return lambda c: c.tgid == pid
    if pid == 0:
        pg = t.tg.pgid
        return lambda c: c.pgid == pg
    if pid == -1:
        return lambda c: True
    return lambda c: c.pgid == -pid


def _tracee_matcher(t: "Task", pid: int):
    """Which tracees a wait for *pid* names, by (tid, pgid): a thread by its own id."""
    if pid > 0:
        return lambda tid, pg: tid == pid
    if pid == 0:
        pg0 = t.tg.pgid
        return lambda tid, pg: pg == pg0
    if pid == -1:
        return lambda tid, pg: True
    return lambda tid, pg: pg == -pid


_RUSAGE_SIZE = 144


def _wait4_report(t: "Task", a: "SyscallArgs", rep: "Optional[kptrace.Report]") -> int:
    if rep is None:
        return 0
    if a[1]:
        t.mem.write(a[1], struct.pack("<i", rep.status))
    if a[3]:
        t.mem.write(a[3], bytes(_RUSAGE_SIZE))  # (no usage kept for a stop)
    return rep.tid


def _waitid_report(t: "Task", a: "SyscallArgs", rep: "Optional[kptrace.Report]") -> int:
    if a[2]:
        if rep is None:
            t.mem.write(a[2], bytes(28))  # si_signo … si_status, as Linux clears them
        else:
            t.mem.write(a[2], struct.pack("<iiiiiIi", SIGCHLD, 0, rep.code, 0, rep.tid,
                                          rep.uid, rep.si_status))
    if a[4]:
        t.mem.write(a[4], bytes(_RUSAGE_SIZE))
    return 0


def wait4(t: "Task", a: "SyscallArgs") -> int:
    """wait4(2)."""
    options = a.uint(2)
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE):
        raise err(errno.EINVAL)
    pid = a.int(0)
    return _wait(t, _pid_matcher(t, pid), options, tmatch=_tracee_matcher(t, pid),
                 report=lambda rep: _wait4_report(t, a, rep))


def waitid(t: "Task", a: "SyscallArgs") -> int:
    """waitid(2)."""
    idtype, ident, options = a.int(0), a.int(1), a.uint(3)
    if options & ~(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL
                   | __WCLONE) or not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise err(errno.EINVAL)
    if idtype == P_ALL:
        pid = -1
    elif idtype == P_PID:
        if ident <= 0:
            raise err(errno.EINVAL)
        pid = ident
    elif idtype == P_PGID:
        if ident < 0:
            raise err(errno.EINVAL)
        pid = -ident if ident else 0
    elif idtype == P_PIDFD:
        if ident < 0:
            raise err(errno.EINVAL)
        return _waitid_pidfd(t, a, ident, options)
    else:
        raise err(errno.EINVAL)
    return _wait(t, _pid_matcher(t, pid), options, exited=bool(options & WEXITED),
                 tmatch=_tracee_matcher(t, pid), report=lambda rep: _waitid_report(t, a, rep))


def _waitid_pidfd(t: "Task", a: "SyscallArgs", fd: int, options: int) -> int:
    """waitid(P_PIDFD): the child the pidfd names.  The sentry decides as for
    ``P_PID``; the host runs the call on a host pidfd of the child installed in the
    task at the sandbox fd's number (as ``mmap_shared`` does), opened with the
    sandbox pidfd's ``O_NONBLOCK``: without ``WNOHANG`` a non-blocking pidfd of a
    child not ready is ``EAGAIN``."""
    from sentry.fsimpl.pidfd.pidfd import pidfd_of
    from sentry.kernel.kernel import STUB_FD

    d = pidfd_of(t.fdtable.get(fd))
    tg = d.tg
    # A thread pidfd of a thread other than a leader names no child (PIDTYPE_PID).
    target = None if d.task is not None else tg
    if d.nonblocking:
        options |= WNOHANG
    ret = _wait(t, lambda c: c is target, options, exited=bool(options & WEXITED))
    if fd == STUB_FD or tg.reaped:
        raise err(errno.ECHILD)
    try:
        host = os.pidfd_open(tg.host_tgid, os.O_NONBLOCK if d.nonblocking else 0)
    except OSError:
        raise err(errno.ECHILD) from None
    try:
        N.addfd(t.tg.listener, a.notif_id, host, fd)
    except OSError as e:
        raise err(e.errno or errno.ECHILD) from None
    finally:
        os.close(host)
    return ret


WSTOPPED = WUNTRACED


# -- process groups and sessions ---------------------------------------------

def _tg_of(t: "Task", pid: int) -> "ThreadGroup":
    if pid == 0:
        return t.tg
    tg = t.kernel.thread_groups.get(pid)
    if tg is None or tg.zombie:
        raise err(errno.ESRCH)
    return tg


def getpgid(t: "Task", a: "SyscallArgs") -> int:
    """getpgid(2)."""
    return _tg_of(t, a.int(0)).pgid


def getpgrp(t: "Task", a: "SyscallArgs") -> int:
    """getpgrp(2)."""
    return t.tg.pgid


def getsid(t: "Task", a: "SyscallArgs") -> int:
    """getsid(2)."""
    return _tg_of(t, a.int(0)).sid


def setpgid(t: "Task", a: "SyscallArgs") -> int:
    """setpgid(2)."""
    pid, pgid = a.int(0), a.int(1)
    if pgid < 0:
        raise err(errno.EINVAL)
    tg = _tg_of(t, pid)
    if tg is not t.tg and tg.parent is not t.tg:
        raise err(errno.ESRCH)
    if tg.sid == tg.tgid:
        raise err(errno.EPERM)
    if tg.sid != t.tg.sid:
        raise err(errno.EPERM)
    target = pgid or tg.tgid
    if target != tg.tgid and not any(
        x.pgid == target and x.sid == t.tg.sid and not x.zombie
        for x in t.kernel.thread_groups.values()
    ):
        raise err(errno.EPERM)
    tg.pgid = target
    return 0


def setsid(t: "Task", a: "SyscallArgs") -> int:
    """setsid(2)."""
    tg = t.tg
    if any(x.pgid == tg.tgid and x is not tg and not x.zombie
           for x in t.kernel.thread_groups.values()) or tg.pgid == tg.tgid:
        raise err(errno.EPERM)
    tg.sid = tg.pgid = tg.tgid
    cn_proc.proc_sid(t)
    return tg.sid


def _check_nproc(t: "Task") -> None:
    """RLIMIT_NPROC (copy_process): a user other than root may not own more tasks than
    its soft limit unless it has CAP_SYS_RESOURCE or CAP_SYS_ADMIN.  The sentry counts:
    the host sees every workload thread as one unprivileged host user, whatever its
    sandbox uid, so the host process keeps the sentry's own RLIMIT_NPROC."""
    c = t.creds
    if c.uid == 0 or c.capable(cap.CAP_SYS_RESOURCE) or c.capable(cap.CAP_SYS_ADMIN):
        return
    limit = get_rlimit(t, RLIMIT_NPROC)[0]
    if limit >= 1 << 63:
        return
    if sum(1 for x in t.kernel.tasks.values() if x.creds.uid == c.uid) >= limit:
        raise err(errno.EAGAIN)


# -- prctl ------------------------------------------------------------------

PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS = 7, 8
PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP, PR_CAPBSET_READ, PR_CAPBSET_DROP = 15, 16, 21, 23, 24
PR_GET_SECUREBITS, PR_SET_SECUREBITS = 27, 28
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_GET_TID_ADDRESS = 40
PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_LOWER = 1, 2, 3
PR_CAP_AMBIENT_CLEAR_ALL = 4
#: Settings of the caller's own host thread or process that touch nothing else, which the
#: host keeps, inherits and answers as Linux: PR_GET/SET_TSC, PR_SET/GET_TIMERSLACK,
#: PR_MCE_KILL(_GET), PR_SET/GET_THP_DISABLE, PR_GET/SET_SPECULATION_CTRL.
_HOST_OWN = frozenset((25, 26, 29, 30, 33, 34, PR_SET_THP_DISABLE, PR_GET_THP_DISABLE, 52, 53))


def prctl(t: "Task", a: "SyscallArgs") -> int:
    """prctl(2)."""
    op = a.int(0)
    if op == PR_SET_NAME:
        name = t.mem.read_partial(a[1], 16).split(b"\0", 1)[0][:15]
        if t.tid == t.tgid:
            t.tg.comm = name
        t.comm = name
        cn_proc.proc_comm(t, name)
        return 0
    if op == PR_GET_NAME:
        name = getattr(t, "comm", None) or t.tg.comm
        t.mem.write(a[1], name[:15].ljust(16, b"\0"))
        return 0
    if op == PR_SET_PDEATHSIG:
        sig = a.int(1)
        if not 0 <= sig <= 64:
            raise err(errno.EINVAL)
        t.pdeathsig = sig
        return 0
    if op == PR_GET_PDEATHSIG:
        t.mem.write_i32(a[1], getattr(t, "pdeathsig", 0))
        return 0
    if op == PR_GET_DUMPABLE:
        return getattr(t.tg, "dumpable", 1)
    if op == PR_SET_DUMPABLE:
        if a[1] not in (0, 1):
            raise err(errno.EINVAL)
        t.tg.dumpable = a[1]
        return 0
    if op == PR_SET_NO_NEW_PRIVS:
        if a[1] != 1 or a[2] or a[3] or a[4]:
            raise err(errno.EINVAL)
        t.no_new_privs = True
        return 0
    if op == PR_GET_NO_NEW_PRIVS:
        if a[1] or a[2] or a[3] or a[4]:
            raise err(errno.EINVAL)
        return int(t.no_new_privs)
    if op == PR_GET_SECCOMP:
        return 2
    if op in _CAP_OPS:
        return _CAP_OPS[op](t, a)
    if op == PR_SET_CHILD_SUBREAPER:
        t.tg.subreaper = bool(a[1])
        return 0
    if op == PR_GET_CHILD_SUBREAPER:
        t.mem.write_i32(a[1], int(getattr(t.tg, "subreaper", False)))
        return 0
    if op in _HOST_OWN:
        return CONTINUE
    from sentry.kernel import compat

    t.kernel.note_unsupported(t, "prctl", compat.prctl_name(op))
    raise err(errno.EINVAL)


def _capbset_read(t: "Task", a: "SyscallArgs") -> int:
    c = a.int(1)
    if not cap.valid(c):
        raise err(errno.EINVAL)
    return t.creds.bounding >> c & 1


def _capbset_drop(t: "Task", a: "SyscallArgs") -> int:
    c = a.int(1)
    if not cap.valid(c):
        raise err(errno.EINVAL)
    if not t.creds.capable(cap.CAP_SETPCAP):
        raise err(errno.EPERM)
    t.creds.cap_bounding = t.creds.bounding & ~(1 << c)
    return 0


def _get_keepcaps(t: "Task", a: "SyscallArgs") -> int:
    return int(t.creds.has_keep_caps())


def _set_keepcaps(t: "Task", a: "SyscallArgs") -> int:
    if a[1] > 1:
        raise err(errno.EINVAL)
    c = t.creds
    if c.securebits & (cap.SECBIT_KEEP_CAPS << 1):  # locked
        raise err(errno.EPERM)
    c.securebits = (c.securebits & ~cap.SECBIT_KEEP_CAPS) | (cap.SECBIT_KEEP_CAPS * a[1])
    return 0


def _get_securebits(t: "Task", a: "SyscallArgs") -> int:
    return t.creds.securebits


def _set_securebits(t: "Task", a: "SyscallArgs") -> int:
    """PR_SET_SECUREBITS (``cap_prctl``'s rules): only with CAP_SETPCAP, only known bits,
    a locked bit keeps its value, and a lock, once set, stays."""
    bits = a[1]
    c = t.creds
    locked = (c.securebits & cap.SECURE_ALL_LOCKS) >> 1
    if ((c.securebits ^ bits) & locked or (c.securebits & ~bits) & cap.SECURE_ALL_LOCKS
            or bits & ~(cap.SECURE_ALL_BITS | cap.SECURE_ALL_LOCKS)
            or not c.capable(cap.CAP_SETPCAP)):
        raise err(errno.EPERM)
    c.securebits = bits
    return 0


def _cap_ambient(t: "Task", a: "SyscallArgs") -> int:
    sub, c_num = a[1], a.int(2)
    c = t.creds
    if sub == PR_CAP_AMBIENT_CLEAR_ALL:
        if a[2] or a[3] or a[4]:
            raise err(errno.EINVAL)
        c.cap_ambient = 0
        return 0
    if a[3] or a[4] or not cap.valid(c_num):
        raise err(errno.EINVAL)
    bit = 1 << c_num
    if sub == PR_CAP_AMBIENT_IS_SET:
        return int(bool(c.ambient & bit))
    if sub == PR_CAP_AMBIENT_LOWER:
        c.cap_ambient = c.ambient & ~bit
        return 0
    if sub == PR_CAP_AMBIENT_RAISE:
        if (not c.permitted & bit or not c.inheritable & bit
                or c.securebits & cap.SECBIT_NO_CAP_AMBIENT_RAISE):
            raise err(errno.EPERM)
        c.cap_ambient = c.ambient | bit
        return 0
    raise err(errno.EINVAL)


_CAP_OPS = {
    PR_CAPBSET_READ: _capbset_read,
    PR_CAPBSET_DROP: _capbset_drop,
    PR_GET_KEEPCAPS: _get_keepcaps,
    PR_SET_KEEPCAPS: _set_keepcaps,
    PR_GET_SECUREBITS: _get_securebits,
    PR_SET_SECUREBITS: _set_securebits,
    PR_CAP_AMBIENT: _cap_ambient,
}


# -- limits -----------------------------------------------------------------

RLIMIT_STACK, RLIMIT_NPROC, RLIMIT_NOFILE = 3, 6, 7
# fs.nr_open: the largest RLIMIT_NOFILE (and fd number) the sandbox allows.
NR_OPEN = 1 << 20
RLIM_INFINITY = (1 << 64) - 1
_RLIM = struct.Struct("<QQ")


def _host_rlimit(host_pid: int, res: int, new=None):
    """prlimit on the host.  Python's resource module takes and gives rlim_t as a signed
    64-bit value (RLIM_INFINITY is -1, 2**64-2 is -2); the sandbox's are unsigned."""
    if new is None:
        lim = resource.prlimit(host_pid, res)
    else:
        lim = resource.prlimit(host_pid, res, tuple(v - (1 << 64) if v >> 63 else v for v in new))
    return tuple(v + (1 << 64) if v < 0 else v for v in lim)


def get_rlimit(t: "Task", res: int) -> tuple:
    """(soft, hard) of resource *res* for *t*'s process (unsigned; 2**64-1: unlimited).

    RLIMIT_NOFILE is the sandbox fd table's; the others are the sentry's books
    (``ThreadGroup.rlimits``), which the host process mirrors and enforces, but
    RLIMIT_NPROC, which the sentry enforces (:func:`_check_nproc`).
    """
    if res == RLIMIT_NOFILE:
        table = t.fdtable
        return table.limit, getattr(table, "hard_limit", table.limit)
    return t.tg.rlimits.get(res, (RLIM_INFINITY, RLIM_INFINITY))


def _rlimit(caller: "Task", t: "Task", res: int, new_ptr: int, old_ptr: int) -> int:
    if not 0 <= res < 16:
        raise err(errno.EINVAL)
    new = None
    if new_ptr:
        cur, mx = _RLIM.unpack(caller.mem.read(new_ptr, 16))
        if cur > mx:
            raise err(errno.EINVAL)
        new = (cur, mx)
    old = get_rlimit(t, res)
    result = 0
    if new is not None:
        if res == RLIMIT_NOFILE and new[1] > NR_OPEN:
            raise err(errno.EPERM)
        if new[1] > old[1] and not caller.creds.capable(cap.CAP_SYS_RESOURCE):
            raise err(errno.EPERM)
        if res == RLIMIT_NOFILE:
            t.fdtable.limit = min(new[0], NR_OPEN)
            t.fdtable.hard_limit = new[1]
        elif res != RLIMIT_NPROC:
            result = _set_host_rlimit(caller, t, res, old, new)
        if res != RLIMIT_NOFILE:
            t.tg.rlimits[res] = new
            if res == RLIMIT_STACK:
                t.kernel.sync_process(t.tg)
    if old_ptr:
        caller.mem.write(old_ptr, _RLIM.pack(*old))
    return result


def _set_host_rlimit(caller: "Task", t: "Task", res: int, old: tuple, new: tuple) -> int:
    """Give *t*'s host process the new limit: 0 when the sentry did, ``CONTINUE`` when
    the caller's own call must (the host runs it on the caller's own process).

    The workload's host processes run as an unprivileged host uid (rt.c
    ``drop_privileges``), so the sentry's prlimit on them needs the host's
    CAP_SYS_RESOURCE.  Without it a process still sets its own limits, as any
    process may, but cannot raise a hard one.
    """
    try:
        _host_rlimit(t.tg.host_tgid, res, new)
        return 0
    except ValueError:
        raise err(errno.EINVAL) from None
    except OSError as e:
        if e.errno != errno.EPERM or caller.tg is not t.tg or new[1] > old[1]:
            raise err(e.errno or errno.EPERM) from None
    return CONTINUE


def prlimit64(t: "Task", a: "SyscallArgs") -> int:
    """prlimit64(2)."""
    pid = a.int(0)
    target = t
    if pid not in (0, t.tgid):
        tg = t.kernel.thread_groups.get(pid)
        if tg is None or tg.zombie or tg.leader is None:
            raise err(errno.ESRCH)
        target = tg.leader
        c, tc = t.creds, target.creds
        # check_prlimit_permission
        same = (c.uid == tc.uid == tc.euid == tc.suid and c.gid == tc.gid == tc.egid == tc.sgid)
        if not same and not c.capable(cap.CAP_SYS_RESOURCE):
            raise err(errno.EPERM)
    return _rlimit(t, target, a.int(1), a[2], a[3])


def getrlimit(t: "Task", a: "SyscallArgs") -> int:
    """getrlimit(2)."""
    return _rlimit(t, t, a.int(0), 0, a[1])


def setrlimit(t: "Task", a: "SyscallArgs") -> int:
    """setrlimit(2)."""
    return _rlimit(t, t, a.int(0), a[1], 0)


def getrusage(t: "Task", a: "SyscallArgs") -> int:
    """getrusage(2): times and max RSS from the host's accounting of the sandbox threads."""
    who = a.int(0)
    k = t.kernel
    fields = k.host_task_stat(t.tg.host_tgid)
    tick = os.sysconf("SC_CLK_TCK")
    if who == 0 or who == 1:  # RUSAGE_SELF, RUSAGE_THREAD
        ut, st = (int(fields[11]), int(fields[12])) if fields else (0, 0)
        status = k.host_task_status(t.tg.host_tgid)
        maxrss = int(status.get("VmHWM", "0 kB").split()[0])
    elif who == -1:  # RUSAGE_CHILDREN
        ut, st = (int(fields[13]), int(fields[14])) if fields else (0, 0)
        maxrss = 0
    else:
        raise err(errno.EINVAL)

    def tv(ticks: int):
        us = ticks * 1_000_000 // tick
        return us // 1_000_000, us % 1_000_000

    data = struct.pack("<qqqq", *tv(ut), *tv(st)) + struct.pack("<14q", maxrss, *([0] * 13))
    t.mem.write(a[1], data)
    return 0


def _affinity_target(t: "Task", pid: int) -> "Task | None":
    """None: the caller's own thread (the host runs the call, CONTINUE); else the sandbox
    thread *pid*, whose host thread the sentry acts on itself (a call that names another
    process never runs on the host with the workload's arguments)."""
    if pid == 0 or pid == t.tid:
        t.kernel.cpu_hold.release_task(t, "affinity")  # its own mask, not a hold's
        return None
    if pid < 0:
        raise err(errno.ESRCH)
    target = t.kernel.task_by_tid(pid)
    if target is None or target.exited:
        raise err(errno.ESRCH)
    t.kernel.cpu_hold.release_task(target, "affinity")
    return target


def sched_getaffinity(t: "Task", a: "SyscallArgs") -> int:
    """sched_getaffinity(2): the thread's host CPU mask."""
    target = _affinity_target(t, a.int(0))
    if target is None:
        return CONTINUE
    size = a[1]
    ncpu = os.cpu_count() or 1
    need = max(8, ((ncpu + 63) // 64) * 8)
    if size < need or size & 7:
        raise err(errno.EINVAL)
    try:
        cpus = os.sched_getaffinity(target.host_tid)
    except OSError:
        raise err(errno.ESRCH) from None
    mask = 0
    for c in cpus:
        mask |= 1 << c
    t.mem.write(a[2], mask.to_bytes(need, "little"))
    return need


def sched_setaffinity(t: "Task", a: "SyscallArgs") -> int:
    """sched_setaffinity(2): CPU placement of a sandbox thread, applied on the host."""
    target = _affinity_target(t, a.int(0))
    if target is None:
        return CONTINUE
    if (t.creds.euid not in (target.creds.uid, target.creds.euid)
            and not t.creds.capable(cap.CAP_SYS_NICE)):
        raise err(errno.EPERM)
    raw = t.mem.read(a[2], min(a[1], 128))
    mask = int.from_bytes(raw, "little")
    cpus = [i for i in range(len(raw) * 8) if mask >> i & 1]
    try:
        os.sched_setaffinity(target.host_tid, cpus)
    except OSError as e:
        raise err(e.errno or errno.EINVAL) from None
    return 0
