"""ptrace(2) between the sandbox's own processes (gVisor's ``kernel/ptrace.go``).

Every workload thread is already the sentry's host tracee, and a host task has one tracer,
so a workload tracer never traces on the host: the sentry keeps the sandbox's ptrace
relations in its books and answers for the tracer.  A tracee's *emulated* stop is always a
host ptrace stop of the sentry's that the sentry does not resume: the host stop and the
stop the tracer sees are the same kind (a signal-delivery stop, a syscall-entry or -exit
stop, an event stop, a group stop), so registers, siginfo and the signal the tracer resumes
with are the host's own, and the host resume request is the tracer's (``PTRACE_CONT``,
``PTRACE_SYSCALL``, ``PTRACE_SINGLESTEP``).  A few stops have no host stop of their kind
and are *synthetic*: the ``SIGSTOP`` an auto-attached child starts with (its host stop is
the sentry's own ``PTRACE_EVENT_STOP``), and an exec's event and syscall-exit stops (the
loader has run the new image's set-up in the task by then, so the host's execve has
returned); a signal given when resuming one is queued instead of delivered.  A signal given
at an event or group stop is dropped, as Linux drops it.

Tracees have ``PTRACE_O_TRACESYSGOOD`` on their host task (their host syscall stops are
``SIGTRAP | 0x80``, never taken for a signal), and the host events their tracer asked for
that the sentry does not use (exit, vfork done).  A tracer that dies detaches its tracees
(``exit_ptrace``; ``PTRACE_O_EXITKILL`` kills them); one the sentry finds on its way out
(``PF_EXITING``: a dying pid-namespace init waits for every process to be reaped) gets no
stops any more.

Where the tracer learns of a stop: its wait (``sys_process`` asks :func:`wait_report`
before anything else; the host knows nothing of these stops) and a ``SIGCHLD``
(``CLD_TRAPPED``) the sentry sends, unless the tracer ignores ``SIGCHLD`` or set
``SA_NOCLDSTOP`` (``do_notify_parent_cldstop``).

State: a traced task's :class:`Tracee` (``Task.ptrace``), and on the tracing thread the
tracees (``Task.ptracees``) and the exits of tracees that are not its own children
(``Task.ptrace_zombies``), which only the tracer can wait for.  Lock order: none, one
thread.
"""

from __future__ import annotations

import collections
import errno
import os
import _signal as signal
import struct

from sentry import logger
from sentry.abi.linux.errors import err
from sentry.kernel import proc_events as cn_proc
from sentry.platform.hybrid import native as N

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, List, NamedTuple, Optional, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

log = logger.get("sentry")

# Requests (include/uapi/linux/ptrace.h, arch/x86/include/uapi/asm/ptrace-abi.h).
PTRACE_TRACEME, PTRACE_PEEKTEXT, PTRACE_PEEKDATA, PTRACE_PEEKUSR = 0, 1, 2, 3
PTRACE_POKETEXT, PTRACE_POKEDATA, PTRACE_POKEUSR, PTRACE_CONT = 4, 5, 6, 7
PTRACE_KILL, PTRACE_SINGLESTEP, PTRACE_GETREGS, PTRACE_SETREGS = 8, 9, 12, 13
PTRACE_GETFPREGS, PTRACE_SETFPREGS, PTRACE_ATTACH, PTRACE_DETACH = 14, 15, 16, 17
PTRACE_OLDSETOPTIONS, PTRACE_SYSCALL, PTRACE_ARCH_PRCTL = 21, 24, 30
PTRACE_SETOPTIONS, PTRACE_GETEVENTMSG, PTRACE_GETSIGINFO, PTRACE_SETSIGINFO = (
    0x4200, 0x4201, 0x4202, 0x4203)
PTRACE_GETREGSET, PTRACE_SETREGSET, PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4204, 0x4205, 0x4206, 0x4207
PTRACE_LISTEN, PTRACE_GETSIGMASK, PTRACE_SETSIGMASK = 0x4208, 0x420A, 0x420B
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD, PTRACE_O_TRACEFORK, PTRACE_O_TRACEVFORK = 0x1, 0x2, 0x4
PTRACE_O_TRACECLONE, PTRACE_O_TRACEEXEC, PTRACE_O_TRACEVFORKDONE = 0x8, 0x10, 0x20
PTRACE_O_TRACEEXIT, PTRACE_O_TRACESECCOMP, PTRACE_O_EXITKILL = 0x40, 0x80, 0x100000
PTRACE_O_SUSPEND_SECCOMP = 0x200000
PTRACE_O_MASK = 0xFF | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP

PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 1, 2, 3, 4
PTRACE_EVENT_VFORK_DONE, PTRACE_EVENT_EXIT, PTRACE_EVENT_STOP = 5, 6, 128
_EVENT_OPTION = {PTRACE_EVENT_FORK: PTRACE_O_TRACEFORK, PTRACE_EVENT_VFORK: PTRACE_O_TRACEVFORK,
                 PTRACE_EVENT_CLONE: PTRACE_O_TRACECLONE, PTRACE_EVENT_EXEC: PTRACE_O_TRACEEXEC,
                 PTRACE_EVENT_VFORK_DONE: PTRACE_O_TRACEVFORKDONE,
                 PTRACE_EVENT_EXIT: PTRACE_O_TRACEEXIT}
# The options of the sentry's own host seize (native/src/rt.c SEIZE_OPTIONS); the events a
# workload tracer asks for beyond them are added on its tracee's host task.
HOST_OPTIONS = (PTRACE_O_EXITKILL | PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE
                | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC)
_HOST_EXTRA = PTRACE_O_TRACEEXIT | PTRACE_O_TRACEVFORKDONE
# A traced task's host syscall stops are marked (SIGTRAP | 0x80), so that they are told
# from a SIGTRAP without asking (PTRACE_GET_SYSCALL_INFO needs the mark too).
SYSCALL_TRAP = signal.SIGTRAP | 0x80

PTRACE_SYSCALL_INFO_ENTRY, PTRACE_SYSCALL_INFO_EXIT = 1, 2
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED = 1, 2, 3, 4
SI_USER = 0
_PF_EXITING = 0x4
AUDIT_ARCH_X86_64 = 0xC000003E
SYS_EXECVE = 59
TRAP_TRACE = 2

# Stop kinds.
SIGNAL, SYSCALL, EVENT, GROUP = "signal", "syscall", "event", "group"
_STOP_SIGNALS = (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
_SIGINFO = struct.Struct("<iiiiiIi")  # signo, errno, code, pad, pid, uid, status
_REGS_SIZE = 27 * 8                   # struct user_regs_struct
_FPREGS_SIZE = 512                    # struct user_i387_struct
_USER_SIZE = 912                      # struct user (PEEKUSR/POKEUSR offsets below it)
_REGSET_MAX = 1 << 16
_SYSCALL_INFO_SIZE = 88               # struct ptrace_syscall_info
_ARCH_SET_GS, _ARCH_SET_FS, _ARCH_GET_FS, _ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004


class Stop:
    """One stop the tracer may see: Linux's ``exit_code`` (signal | event << 8)."""

    __slots__ = ("code", "kind", "synthetic", "reported", "info", "entry")

    def __init__(self, code: int, kind: str, synthetic: bool = False,
                 info: Optional[bytes] = None, entry: bool = False) -> None:
        self.code = code
        self.kind = kind
        self.synthetic = synthetic
        self.reported = False        # a wait took it (the tracee stays stopped)
        self.info = info             # the siginfo of a synthetic stop, or a tracer's
        self.entry = entry           # a syscall-entry stop

    @property
    def status(self) -> int:
        """The wait status."""
        return (self.code << 8) | 0x7F


class Tracee:
    """A traced task's side of the relation."""

    __slots__ = ("tracer", "seized", "options", "stop", "resume", "message", "first_stop",
                 "interrupt", "listening", "host_options", "nr", "exec_exit",
                 "interrupt_after_call")

    def __init__(self, tracer: "Task", seized: bool, options: int) -> None:
        self.tracer = tracer
        self.seized = seized
        self.options = options
        self.stop: Optional[Stop] = None
        # The host resume request the tracer asked for last: the sentry's own resumes
        # of the task (after its seccomp and event stops) use it too.
        self.resume = PTRACE_CONT
        self.message = 0             # PTRACE_GETEVENTMSG
        self.first_stop = False      # an auto-attached child, before its first stop
        self.interrupt = False       # PTRACE_INTERRUPT asked, its stop not yet seen
        self.listening = False       # PTRACE_LISTEN: in a group stop, not in a ptrace stop
        self.host_options = HOST_OPTIONS
        self.nr = -1                 # the call of the last syscall-entry stop
        # The exit of an exec whose event stop the tracer has not resumed yet.
        self.exec_exit = False
        # PTRACE_INTERRUPT asked at a syscall-entry stop: the stop comes once the call
        # has run (its host exit stop, which the sentry asks for, sends the interrupt).
        self.interrupt_after_call = False


if TYPE_CHECKING:
    class Zombie(NamedTuple):
        """The exit of a tracee that only its tracer waits for (a thread, another's
        child)."""

        tid: int
        pgid: int
        uid: int
        status: int

    class Report(NamedTuple):
        tid: int
        uid: int
        code: int            # CLD_*
        status: int          # wait status
        si_status: int
else:  # the same without typing (see sentry.records)
    Zombie = collections.namedtuple("Zombie", "tid pgid uid status")
    Report = collections.namedtuple("Report", "tid uid code status si_status")


# -- the sentry's resumes ------------------------------------------------------

def host_resume(t: "Task", sig: int = 0) -> None:
    """Resume *t* from a host stop the way its tracer asked (``PTRACE_CONT`` when untraced)."""
    st = t.ptrace
    req = st.resume if st is not None else PTRACE_CONT
    pid = t.host_tid
    if req == PTRACE_SYSCALL:
        N.syscall_cont(pid, sig)
    elif req == PTRACE_SINGLESTEP:
        N.singlestep(pid, sig)
    else:
        N.cont(pid, sig)


# -- stops ---------------------------------------------------------------------

def _sigchld_ignored(k: "Kernel", tracer: "Task") -> bool:
    return bool(k.sigmask_bits(tracer, "SigIgn") & (1 << (signal.SIGCHLD - 1)))


def _notify(k: "Kernel", tracer: "Task", tid: int, uid: int, code: int, si_status: int) -> None:
    """Wake the tracer's waits and send it ``SIGCHLD`` (``do_notify_parent_cldstop`` for a
    stop, ``do_notify_parent`` for an exit the host does not tell it of)."""
    tg = tracer.tg
    tg.child_events.notify()
    if tg.zombie or not tg.tasks:
        return
    if _sigchld_ignored(k, tracer) or (code == CLD_TRAPPED and tg.sigchld_nocldstop):
        return
    pt = k.pick_thread(tg, signal.SIGCHLD)
    if pt is not None:
        info = _SIGINFO.pack(signal.SIGCHLD, 0, code, 0, tid, uid, si_status).ljust(128, b"\0")
        k.signal_task(pt, signal.SIGCHLD, info=info)


def _exiting(k: "Kernel", t: "Task") -> bool:
    """Whether *t*'s host task is on its way out (``PF_EXITING``) while the sentry has not
    seen it go: a pid namespace's dying init waits there until all its processes are
    reaped, and Linux has detached its tracees before (``exit_ptrace``)."""
    f = k.host_task_stat(t.host_tid)
    return len(f) > 6 and bool(int(f[6]) & _PF_EXITING)


def enter_stop(k: "Kernel", t: "Task", stop: Stop) -> None:
    """*t* (host-stopped) stops for its tracer."""
    st = t.ptrace
    assert st is not None
    if _exiting(k, st.tracer):
        st.stop = stop
        unlink(k, t)
        return
    st.stop = stop
    st.listening = False
    # Any trap ends a pending PTRACE_INTERRUPT (ptrace_stop clears JOBCTL_TRAP_STOP; a
    # host trap cleared the host's, and one still pending is resumed as nobody's).
    st.interrupt = st.interrupt_after_call = False
    _sync_host_options(t)
    _notify(k, st.tracer, t.tid, t.creds.uid, CLD_TRAPPED, stop.code & 0x7F)


def syscall_stop(k: "Kernel", t: "Task") -> bool:
    """A host syscall stop (``SIGTRAP | 0x80``: a tracee's host task has
    ``PTRACE_O_TRACESYSGOOD``): the tracee stops there if its tracer resumed it with
    ``PTRACE_SYSCALL`` (True); otherwise it is nobody's.

    A signal that comes before the sentry receives a notification ends the host's seccomp
    wait with ``-ERESTARTSYS`` and the host restarts the call (``sys_signal.sigaction_stop``):
    the tracer sees that exit, the signal's stop and the restarted call, as Linux shows a
    call a signal interrupted.
    """
    st = t.ptrace
    if st is not None and st.interrupt_after_call and st.resume != PTRACE_SYSCALL:
        # The exit of the call an interrupt was asked at the entry of: the tracee stops
        # for it on its way out, before any signal (the caller resumes it).
        st.interrupt_after_call = False
        st.interrupt = N.interrupt(t.host_tid) == 0
        return False
    if st is None or st.resume != PTRACE_SYSCALL:
        return False
    entry = False
    try:
        _n, raw = N.ptrace_get(PTRACE_GET_SYSCALL_INFO, t.host_tid, _SYSCALL_INFO_SIZE,
                               _SYSCALL_INFO_SIZE)
        if raw[0] == PTRACE_SYSCALL_INFO_ENTRY:
            st.nr = struct.unpack_from("<Q", raw, 24)[0]
            entry = True
    except OSError:
        pass
    return syscall_exit(k, t, entry)


def syscall_exit(k: "Kernel", t: "Task", entry: bool = False) -> bool:
    """*t* is at a syscall stop (one the sentry ran its call to, or the host's; *entry*:
    a syscall-entry stop): it stops there for its tracer if that resumed it with
    ``PTRACE_SYSCALL`` (True)."""
    st = t.ptrace
    if st is None or st.resume != PTRACE_SYSCALL:
        return False
    good = 0x80 if st.options & PTRACE_O_TRACESYSGOOD else 0
    enter_stop(k, t, Stop(signal.SIGTRAP | good, SYSCALL, entry=entry))
    return True


def signal_stop(k: "Kernel", t: "Task", sig: int) -> bool:
    """A signal-delivery stop (siginfo already the sandbox's): every signal but SIGKILL
    stops a tracee, whatever its disposition (``sig_ignored``).  True: *t* stays stopped."""
    if t.ptrace is None or sig == signal.SIGKILL:
        return False
    enter_stop(k, t, Stop(sig, SIGNAL))
    return True


def on_group_stop(k: "Kernel", t: "Task", status: int) -> bool:
    """A group stop (``PTRACE_EVENT_STOP`` with a stop signal): reported to the tracer as a
    stop of that signal (with the event for a seized tracee), and the tracee stays in it
    until the tracer resumes it or, seized, lets it listen."""
    st = t.ptrace
    if st is None:
        return False
    sig = os.WSTOPSIG(status)
    code = sig | (PTRACE_EVENT_STOP << 8) if st.seized else sig
    enter_stop(k, t, Stop(code, GROUP))
    return True


def on_event_stop(k: "Kernel", t: "Task", status: int) -> bool:
    """A ``PTRACE_EVENT_STOP`` that is no group stop: an auto-attached child's first stop,
    the stop ``PTRACE_INTERRUPT`` asked for, or the end of a listened group stop."""
    st = t.ptrace
    if st is None:
        return False
    if st.first_stop:
        st.first_stop = False
        if st.seized:
            enter_stop(k, t, Stop(signal.SIGTRAP | PTRACE_EVENT_STOP << 8, EVENT))
        else:
            # Linux starts it with SIGSTOP pending: a signal-delivery stop.
            info = _SIGINFO.pack(signal.SIGSTOP, 0, SI_USER, 0, 0, 0, 0).ljust(128, b"\0")
            enter_stop(k, t, Stop(signal.SIGSTOP, SIGNAL, synthetic=True, info=info))
        return True
    if st.interrupt or st.listening:
        st.interrupt = False
        sig = os.WSTOPSIG(status)
        if sig in _STOP_SIGNALS:  # the re-trap of a group stop (an attach, a listen)
            enter_stop(k, t, Stop(sig | (PTRACE_EVENT_STOP << 8 if st.seized else 0), GROUP))
        else:
            enter_stop(k, t, Stop((status >> 8) & 0xFFFF, EVENT))
        return True
    return False


def event(k: "Kernel", t: "Task", ev: int, message: int, synthetic: bool = False) -> bool:
    """*t* is at a host event stop: stop for the tracer if it asked for event *ev*."""
    st = t.ptrace
    if st is None or not st.options & _EVENT_OPTION.get(ev, 0):
        return False
    st.message = message
    enter_stop(k, t, Stop(signal.SIGTRAP | ev << 8, EVENT, synthetic=synthetic))
    return True


def on_clone(k: "Kernel", parent: "Task", child: "Task", ev: int, flags: int) -> None:
    """The fork/vfork/clone event of *parent*: a traced parent's child is traced too when
    the tracer asked for this kind of event or the call said ``CLONE_PTRACE``
    (``ptrace_init_task``); it starts stopped (``first_stop``)."""
    st = parent.ptrace
    if st is None:
        return
    CLONE_PTRACE = 0x2000
    if not (st.options & _EVENT_OPTION[ev] or flags & CLONE_PTRACE):
        return
    _link(child, st.tracer, st.seized, st.options)
    assert child.ptrace is not None
    child.ptrace.first_stop = True
    child.ptrace.host_options = st.host_options  # the host's auto-attach inherits them


def after_exec(k: "Kernel", t: "Task", former_tid: int) -> bool:
    """After an exec's image is in place: the exec event if the tracer asked for it
    (message: the thread id the exec'ing thread had), else the legacy ``SIGTRAP`` of a
    tracee that is not seized; then the exec's syscall-exit stop for a tracer that
    resumed with ``PTRACE_SYSCALL``.  True: *t* stays stopped.

    The loader ran the new image's set-up in the task at the stub, so the host's execve
    has returned by now: its exit stop is made here (synthetic), with ``orig_rax`` the
    exec's and ``rax`` 0 as Linux shows them."""
    st = t.ptrace
    if st is None:
        return False
    if event(k, t, PTRACE_EVENT_EXEC, former_tid, synthetic=True):
        st.exec_exit = True
        return True
    if not st.seized:
        k.signal_task(t, signal.SIGTRAP, sender=t)
    return _exec_exit(k, t)


def _exec_exit(k: "Kernel", t: "Task") -> bool:
    st = t.ptrace
    assert st is not None
    st.exec_exit = False
    if st.resume != PTRACE_SYSCALL:
        return False
    pid = t.host_tid
    try:
        regs = N.getregs(pid)
        regs[N.ORIG_RAX] = st.nr if st.nr in (SYS_EXECVE, 322) else SYS_EXECVE
        regs[N.RAX] = 0
        N.setregs(pid, regs)
    except OSError:
        return False
    good = 0x80 if st.options & PTRACE_O_TRACESYSGOOD else 0
    enter_stop(k, t, Stop(signal.SIGTRAP | good, SYSCALL, synthetic=True))
    return True


# -- the relation --------------------------------------------------------------

def _link(tracee: "Task", tracer: "Task", seized: bool, options: int) -> None:
    tracee.ptrace = Tracee(tracer, seized, options)
    tracer.ptracees[tracee.tid] = tracee
    k = tracee.kernel
    if not k.ptrace_used:  # (C resumes no stop of its own from now on)
        k.ptrace_used = True
        k.sync_stops_plain()


def _sync_host_options(t: "Task") -> None:
    """Give *t*'s host task the events its tracer asked for beyond the sentry's own (exit,
    vfork done), or take them back; *t* is host-stopped."""
    st = t.ptrace
    if st is None:
        return
    want = HOST_OPTIONS | PTRACE_O_TRACESYSGOOD | (st.options & _HOST_EXTRA)
    have = st.host_options
    if have == want:
        return
    try:
        N.ptrace(PTRACE_SETOPTIONS, t.host_tid, 0, want)
    except OSError:
        return
    st.host_options = want


def unlink(k: "Kernel", t: "Task", sig: int = 0) -> None:
    """End *t*'s tracing (``__ptrace_detach``); a stopped tracee runs on with *sig*, or
    goes back into its group stop."""
    st = t.ptrace
    if st is None:
        return
    st.tracer.ptracees.pop(t.tid, None)
    t.ptrace = None
    if t.exited:
        return
    stopped = st.stop is not None
    if st.host_options != HOST_OPTIONS and stopped:
        try:
            N.ptrace(PTRACE_SETOPTIONS, t.host_tid, 0, HOST_OPTIONS)
        except OSError:
            pass
    if not stopped:
        # Running under PTRACE_SYSCALL or SINGLESTEP (a tracer that exited): the host
        # task makes one more stop of that kind, which is the sentry's to swallow.
        t.ptrace_leftover = st.resume != PTRACE_CONT
        return
    stop = st.stop
    assert stop is not None
    if stop.kind == GROUP:
        # Back in its group stop (__ptrace_unlink), the sentry's to keep.
        N.listen(t.host_tid)
        k.task_group_stopped(t)
        return
    if stop.kind == EVENT:
        sig = 0
    if t.tg.stopped:
        # Its process is still stopped: it goes back into the group stop on its way
        # out (__ptrace_unlink sets JOBCTL_STOP_PENDING again), after *sig*.  The host's
        # stop is still in force, so an interrupt re-traps it as one.
        N.interrupt(t.host_tid)
    if stop.synthetic:
        N.cont(t.host_tid, 0)
        if sig:
            k.signal_task(t, sig)
    else:
        N.cont(t.host_tid, 0 if k.orphaned_stop(t, sig) else sig)


def on_exit(k: "Kernel", t: "Task", status: int) -> None:
    """*t* exited: its tracer (not its parent) learns of it; its own tracees are detached,
    and killed with ``PTRACE_O_EXITKILL`` (``exit_ptrace``)."""
    for tracee in list(t.ptracees.values()):
        st = tracee.ptrace
        if st is not None and st.options & PTRACE_O_EXITKILL:
            k.kill_group(tracee.tg)
        unlink(k, tracee)
    t.ptrace_zombies.clear()
    st = t.ptrace
    if st is None:
        return
    tracer = st.tracer
    tracer.ptracees.pop(t.tid, None)
    t.ptrace = None
    if t.tid == t.tg.tgid and t.tg.parent is tracer.tg:
        return  # its parent's wait reports it, and the host reaps it
    tracer.ptrace_zombies.append(Zombie(t.tid, t.tg.pgid, t.creds.uid, status))
    code, si = _exit_code(status)
    _notify(k, tracer, t.tid, t.creds.uid, code, si)


def _exit_code(status: int) -> Tuple[int, int]:
    if os.WIFEXITED(status):
        return CLD_EXITED, os.WEXITSTATUS(status)
    return (CLD_DUMPED if os.WCOREDUMP(status) else CLD_KILLED), os.WTERMSIG(status)


def leftover_stop(k: "Kernel", t: "Task", status: int) -> bool:
    """The first host stop of a task its tracer left running under ``PTRACE_SYSCALL`` or
    ``PTRACE_SINGLESTEP``: a syscall stop or the step's trap is nobody's (True: it was,
    and the task runs on); anything else is handled as usual.  Either way the task is
    resumed with ``PTRACE_CONT`` from here on."""
    t.ptrace_leftover = False
    sig = os.WSTOPSIG(status)
    if status >> 16 or sig not in (signal.SIGTRAP, SYSCALL_TRAP):
        return False
    if sig == signal.SIGTRAP:
        try:
            code = struct.unpack_from("<i", N.getsiginfo(t.host_tid), 8)[0]
        except OSError:
            return False
        if code != TRAP_TRACE:
            return False
    N.cont(t.host_tid, 0)
    return True


# -- wait ----------------------------------------------------------------------

if TYPE_CHECKING:  # (an annotation only)
    Matcher = Callable[[int, int], bool]  # (tid, pgid) -> whether the wait names it
WNOWAIT, WNOTHREAD = 0x01000000, 0x20000000


def _tracers(t: "Task", options: int) -> List["Task"]:
    return [t] if options & WNOTHREAD else list(t.tg.tasks.values())


def has_tracees(t: "Task", match: Matcher, options: int) -> bool:
    """Whether the caller's process (the caller alone with ``__WNOTHREAD``) traces a task
    *match* names, or holds such a tracee's exit: then a wait has something to wait for."""
    for tr in _tracers(t, options):
        if any(match(x.tid, x.tg.pgid) for x in tr.ptracees.values()):
            return True
        if any(match(z.tid, z.pgid) for z in tr.ptrace_zombies):
            return True
    return False


def wait_report(t: "Task", match: Matcher, options: int,
                exited: bool = True) -> Optional[Report]:
    """A stop or (with *exited*: ``WEXITED``) an exit of one of the caller's tracees that a
    wait reports now (``ptrace_do_wait``: a stop with or without ``WUNTRACED``, whatever
    ``__WCLONE`` says); taken unless ``WNOWAIT``."""
    keep = bool(options & WNOWAIT)
    for tr in _tracers(t, options):
        for tracee in tr.ptracees.values():
            st = tracee.ptrace
            if st is None or st.stop is None or st.stop.reported:
                continue
            if not match(tracee.tid, tracee.tg.pgid):
                continue
            if not keep:
                st.stop.reported = True
            code = st.stop.code
            return Report(tracee.tid, tracee.creds.uid, CLD_TRAPPED, (code << 8) | 0x7F, code)
        for i, z in enumerate(tr.ptrace_zombies if exited else ()):
            if match(z.tid, z.pgid):
                if not keep:
                    del tr.ptrace_zombies[i]
                code, si = _exit_code(z.status)
                return Report(z.tid, z.uid, code, z.status, si)
    return None


# -- requests ------------------------------------------------------------------

def _stopped_tracee(t: "Task", pid: int) -> "Task":
    """``ptrace_check_attach``: *pid* is the caller's tracee and in a ptrace stop."""
    target = t.kernel.task_by_tid(pid)
    if target is None or target.exited or target.ptrace is None or target.ptrace.tracer is not t:
        raise err(errno.ESRCH)
    if target.ptrace.stop is None:
        raise err(errno.ESRCH)
    return target


def _tracee(t: "Task", pid: int) -> "Task":
    target = t.kernel.task_by_tid(pid)
    if target is None or target.exited or target.ptrace is None or target.ptrace.tracer is not t:
        raise err(errno.ESRCH)
    return target


def traceme(t: "Task") -> int:
    """PTRACE_TRACEME: the parent (a thread of it) becomes the tracer."""
    if t.ptrace is not None:
        raise err(errno.EPERM)
    parent = t.tg.parent
    tracer = None
    if parent is not None and not parent.zombie:
        tracer = parent.leader or next(iter(parent.tasks.values()), None)
    if tracer is None or tracer.exited:
        raise err(errno.EPERM)  # init and exec'd processes: their parent is the host's
    _link(t, tracer, False, 0)
    return 0


def attach(t: "Task", pid: int, seize: bool, addr: int, flags: int) -> int:
    """PTRACE_ATTACH (a SIGSTOP follows) and PTRACE_SEIZE."""
    from sentry.kernel.task import ptrace_may_access

    k = t.kernel
    if seize:
        if addr != 0 or flags & ~PTRACE_O_MASK:
            raise err(errno.EIO)
        if flags & PTRACE_O_SUSPEND_SECCOMP:
            raise err(errno.EINVAL)  # as a kernel without CHECKPOINT_RESTORE
    target = k.task_by_tid(pid)
    if target is None or target.exited or target.tg.zombie:
        raise err(errno.ESRCH)
    if target.tg is t.tg or target.ptrace is not None or not ptrace_may_access(t, target):
        raise err(errno.EPERM)
    _link(target, t, seize, flags if seize else 0)
    cn_proc.proc_ptrace(target, t)
    st = target.ptrace
    assert st is not None
    if target.group_stop:
        # Already in a group stop, where the sentry let its host task listen: it re-traps
        # and stops for the tracer (JOBCTL_TRAP_STOP).
        st.interrupt = N.interrupt(target.host_tid) == 0
    if not seize:
        # (send_sig_info(SEND_SIG_PRIV): SI_KERNEL; pending behind a group stop's re-trap,
        # it is the tracer's next stop once it resumes the tracee there, as gdb shows.)
        k.signal_task(target, signal.SIGSTOP)
    # (Host options a seize asks for are given at the tracee's first stop: it runs.)
    return 0


def resume(t: "Task", req: int, pid: int, sig: int) -> int:
    """PTRACE_CONT, PTRACE_SYSCALL, PTRACE_SINGLESTEP with signal *sig*: delivered at a
    signal-delivery stop, queued at a syscall stop (``ptrace_report_syscall``), dropped at
    an event or group stop."""
    target = _stopped_tracee(t, pid)
    if not 0 <= sig <= 64:
        raise err(errno.EIO)
    st = target.ptrace
    assert st is not None and st.stop is not None
    stop, st.stop = st.stop, None
    st.resume = req
    _sync_host_options(target)
    if stop.kind in (EVENT, GROUP):
        sig = 0
    if st.exec_exit and _exec_exit(t.kernel, target):
        return 0  # the exec's exit comes first
    if req == PTRACE_SYSCALL:
        st.interrupt_after_call = False  # (the call's exit stop ends it)
    if stop.synthetic:
        host_resume(target, 0)
        if sig:
            t.kernel.signal_task(target, sig)
        return 0
    sig = 0 if t.kernel.orphaned_stop(target, sig) else sig
    if st.interrupt_after_call:
        # (At a syscall-entry stop: the call's exit stop is the sentry's, to send the
        # interrupt at.  A stop the sentry makes for the call itself, rt_sigaction's,
        # clone's, resumes as the tracer asked: the interrupt is lost there.)
        N.syscall_cont(target.host_tid, sig)
    else:
        host_resume(target, sig)
    return 0


def detach(t: "Task", pid: int, sig: int) -> int:
    target = _stopped_tracee(t, pid)
    if not 0 <= sig <= 64:
        raise err(errno.EIO)
    unlink(t.kernel, target, sig)
    cn_proc.proc_ptrace(target, None)
    return 0


def kill(t: "Task", pid: int) -> int:
    """PTRACE_KILL: kills a stopped tracee (an obsolete request: a running one goes on)."""
    target = _tracee(t, pid)
    if target.ptrace is not None and target.ptrace.stop is not None:
        t.kernel.kill_group(target.tg)
    return 0


def interrupt(t: "Task", pid: int) -> int:
    target = _tracee(t, pid)
    st = target.ptrace
    assert st is not None
    if not st.seized:
        raise err(errno.EIO)
    if st.interrupt:
        return 0
    # (Stopped, the host task keeps the trap pending until it is resumed: Linux's
    # JOBCTL_TRAP_STOP, which get_signal takes before any signal, so the interrupt's stop
    # comes before a signal pending meanwhile, a SIGCONT's say.  Not at a syscall-entry
    # stop: the call runs first, and the host's pending trap would end the sentry's own
    # wait or stop for it (a -ERESTARTSYS exit and a restart the tracer sees, or the trap
    # spent on the sentry's stop).  Under PTRACE_SYSCALL the exit stop ends it, as on
    # Linux; otherwise the call's host exit stop sends it: resume.)
    if st.stop is not None and st.stop.entry:
        st.interrupt_after_call = True
        return 0
    if N.interrupt(target.host_tid) == 0:
        st.interrupt = True
        if st.stop is None and target.parked is not None:
            # A call the sentry holds: end it with its restart code, so the thread
            # reaches the stop (Linux's interruptible sleep ends the same way).
            t.kernel.dispatcher.interrupt(target, 0)
    return 0


def listen(t: "Task", pid: int) -> int:
    target = _stopped_tracee(t, pid)
    st = target.ptrace
    assert st is not None and st.stop is not None
    # (ptrace_listen asks the stop's siginfo, as the tracer may have set it; the host's
    # stop must be a PTRACE_EVENT_STOP too for the host's listen: a group or interrupt
    # stop, not one whose siginfo a tracer only made look like one.)
    stop = st.stop
    if (not st.seized or stop.synthetic or stop.code >> 8 != PTRACE_EVENT_STOP
            or _si_code(stop) >> 8 != PTRACE_EVENT_STOP):
        raise err(errno.EIO)
    if N.listen(target.host_tid) < 0:
        raise err(errno.EIO)
    st.stop = None
    st.listening = True
    return 0


def set_options(t: "Task", pid: int, options: int) -> int:
    target = _stopped_tracee(t, pid)
    if options & ~PTRACE_O_MASK:
        raise err(errno.EINVAL)
    if options & PTRACE_O_SUSPEND_SECCOMP:
        raise err(errno.EINVAL)
    st = target.ptrace
    assert st is not None
    st.options = options
    _sync_host_options(target)
    return 0


def _in_stub(addr: int, n: int) -> bool:
    from sentry.mm.mm import STUB_BASE, STUB_END

    return addr < STUB_END and addr + n > STUB_BASE


def _no_siginfo(st: Tracee) -> bool:
    """Whether the tracee's stop has no siginfo: a group stop reported to a tracer that
    did not seize it (``do_signal_stop``'s ``ptrace_stop`` passes none, and Linux's
    ``PTRACE_GETSIGINFO``/``PTRACE_SETSIGINFO`` fail with ``EINVAL``: how gdb tells a
    group stop from a signal's)."""
    return st.stop is not None and st.stop.kind == GROUP and not st.seized


def _si_code(stop: Stop) -> int:
    """The ``si_code`` of the stop's siginfo (a tracer may have set it): a group or
    event stop's is its exit code."""
    if stop.info is not None:
        return int.from_bytes(stop.info[8:12], "little", signed=True)
    return stop.code if stop.kind != SIGNAL else 0


def _notify_info(t: "Task", code: int) -> bytes:
    """The siginfo of a syscall, event or (seized) group stop of *t*, as
    ``ptrace_do_notify`` makes it: the stop's signal, its exit code, and the tracee's own
    pid and real uid.  (The host's names the host task: its uid is the workload's
    unprivileged host id, which the sandbox never shows.)"""
    return _SIGINFO.pack(code & 0x7F, 0, code, 0, t.tid, t.creds.uid, 0).ljust(128, b"\0")


def request(t: "Task", req: int, pid: int, addr: int, data: int) -> int:
    """One ptrace request by *t* (the handler decodes nothing else).

    :raises LinuxError: the errno.
    """
    if req == PTRACE_TRACEME:
        return traceme(t)
    if req in (PTRACE_ATTACH, PTRACE_SEIZE):
        return attach(t, pid, req == PTRACE_SEIZE, addr, data & 0xFFFFFFFF)
    if req == PTRACE_KILL:
        return kill(t, pid)
    if req == PTRACE_INTERRUPT:
        return interrupt(t, pid)
    if req in (PTRACE_CONT, PTRACE_SYSCALL, PTRACE_SINGLESTEP):
        return resume(t, req, pid, data)
    if req == PTRACE_DETACH:
        return detach(t, pid, data)
    if req == PTRACE_LISTEN:
        return listen(t, pid)
    if req in (PTRACE_SETOPTIONS, PTRACE_OLDSETOPTIONS):
        return set_options(t, pid, data)
    target = _stopped_tracee(t, pid)
    st = target.ptrace
    assert st is not None and st.stop is not None
    host = target.host_tid
    try:
        if req in (PTRACE_PEEKTEXT, PTRACE_PEEKDATA, PTRACE_PEEKUSR):
            if req == PTRACE_PEEKUSR and (addr & 7 or addr >= _USER_SIZE):
                raise err(errno.EIO)
            if req != PTRACE_PEEKUSR and _in_stub(addr, 8):
                raise err(errno.EIO)  # the sandbox's stub is not the workload's
            _r, word = N.ptrace_get(req, host, addr, 8)
            t.mem.write(data, word)
            return 0
        if req in (PTRACE_POKETEXT, PTRACE_POKEDATA):
            if _in_stub(addr, 8):
                raise err(errno.EIO)
            return N.ptrace(req, host, addr, data)
        if req == PTRACE_POKEUSR:
            return N.ptrace(req, host, addr, data)
        if req in (PTRACE_GETREGS, PTRACE_GETFPREGS):
            size = _REGS_SIZE if req == PTRACE_GETREGS else _FPREGS_SIZE
            t.mem.write(data, N.ptrace_get(req, host, 0, size)[1])
            return 0
        if req in (PTRACE_SETREGS, PTRACE_SETFPREGS):
            size = _REGS_SIZE if req == PTRACE_SETREGS else _FPREGS_SIZE
            return N.ptrace_set(req, host, 0, t.mem.read(data, size))
        if req in (PTRACE_GETREGSET, PTRACE_SETREGSET):
            base, length = struct.unpack("<QQ", t.mem.read(data, 16))
            length = min(length, _REGSET_MAX)
            if req == PTRACE_GETREGSET:
                got = N.ptrace_regset(req, host, addr, bytes(length))
                t.mem.write(base, got)
                t.mem.write(data + 8, struct.pack("<Q", len(got)))
            else:
                N.ptrace_regset(req, host, addr, t.mem.read(base, length))
            return 0
        if req in (PTRACE_GETSIGINFO, PTRACE_SETSIGINFO) and _no_siginfo(st):
            raise err(errno.EINVAL)
        if req == PTRACE_GETSIGINFO:
            info = st.stop.info
            if info is None and st.stop.kind != SIGNAL:
                info = _notify_info(target, st.stop.code)
            elif info is None:
                info = N.ptrace_get(req, host, 0, 128)[1]
            t.mem.write(data, info)
            return 0
        if req == PTRACE_SETSIGINFO:
            info = t.mem.read(data, 128)
            if st.stop.synthetic or st.stop.kind != SIGNAL:
                st.stop.info = info
                return 0
            return N.ptrace_set(req, host, 0, info)
        if req == PTRACE_GETSIGMASK:
            if addr != 8:
                raise err(errno.EINVAL)
            t.mem.write(data, N.ptrace_get(req, host, 8, 8)[1])
            return 0
        if req == PTRACE_SETSIGMASK:
            if addr != 8:
                raise err(errno.EINVAL)
            return N.ptrace_set(req, host, 8, t.mem.read(data, 8))
        if req == PTRACE_GETEVENTMSG:
            t.mem.write(data, struct.pack("<Q", st.message & 0xFFFFFFFFFFFFFFFF))
            return 0
        if req == PTRACE_GET_SYSCALL_INFO:
            size = min(addr, _SYSCALL_INFO_SIZE)
            if st.stop.synthetic and st.stop.kind == SYSCALL:
                regs = N.getregs(host)
                # op, arch, ip, sp, exit.rval, exit.is_error (an exec's exit: 0)
                info = struct.pack("<B3xIQQqB", PTRACE_SYSCALL_INFO_EXIT, AUDIT_ARCH_X86_64,
                                   regs[N.RIP], regs[N.RSP], 0, 0)
                n = len(info)
            else:
                n, info = N.ptrace_get(req, host, _SYSCALL_INFO_SIZE, _SYSCALL_INFO_SIZE)
            t.mem.write(data, info[:min(size, n)])
            return n
        if req == PTRACE_ARCH_PRCTL:
            # arch_ptrace: the option is *data*, its argument *addr*; the bases are
            # registers of the stopped task.
            if data in (_ARCH_GET_FS, _ARCH_GET_GS):
                regs = N.getregs(host)
                base = regs[N.FS_BASE if data == _ARCH_GET_FS else N.GS_BASE]
                t.mem.write(addr, struct.pack("<Q", base))
                return 0
            if data in (_ARCH_SET_FS, _ARCH_SET_GS):
                return N.ptrace(req, host, addr, data)
            raise err(errno.EINVAL)
    except OSError as e:
        raise err(e.errno or errno.EIO) from None
    raise err(errno.EIO)
