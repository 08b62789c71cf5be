"""Tasks (threads) and thread groups (processes) as the sentry keeps them.

Every sandbox task is a real host thread in the sandbox's own pid namespace,
so sandbox tids equal the host tids *inside* that namespace.  The sentry lives
outside it and talks to the host with ``host_tid`` (its view of the same
thread).  Ownership: the kernel object owns every task; a task owns references
to its fd table, fs context and credentials, which ``clone`` shares or copies.
"""

from __future__ import annotations

import time

from sentry.kernel.credentials import Credentials
from sentry.kernel.waiter import WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.mm.memory import TaskMemory
    from sentry.mm.mm import AddressSpace


class ThreadGroup:
    """A process: its tasks, its parent and children, its image and exit state."""

    def __init__(self, kernel: "Kernel", tgid: int, host_tgid: int) -> None:
        self.kernel = kernel
        self.tgid = tgid
        self.host_tgid = host_tgid
        # The seccomp listener its notifications come on (the filter is inherited by
        # fork and clone and kept across exec; every started process has its own).
        self.listener = -1
        # Stopped before its first instruction until released (``create`` → ``start``).
        self.held = False
        # Called with the wait status when the process exits (exec'd processes).
        self.on_exit: List[Callable[[int], None]] = []
        self.tasks: Dict[int, "Task"] = {}
        self.parent: Optional["ThreadGroup"] = None
        self.children: Dict[int, "ThreadGroup"] = {}
        # Wakes wait4/waitid of the parent when a child changes state.
        self.child_events = WaitQueue()
        # Notified when a signal becomes pending on one of its threads (Linux's
        # sighand->signalfd_wqh): signalfd reads and polls wait on it.
        self.signalfd_queue = WaitQueue()
        # Notified when one of its threads exits and when it is reaped: its pidfds'
        # readiness (Linux's pid->wait_pidfd).
        self.pidfd_queue = WaitQueue()
        self.pgid = tgid
        self.sid = tgid
        # Resource limits (soft, hard), unsigned, but RLIMIT_NOFILE (the fd table's).
        # The host process has the same ones, except RLIMIT_NPROC (sentry-counted).
        self.rlimits: Dict[int, Tuple[int, int]] = {}
        # The image (set by the loader at every exec).
        self.exe_path = ""          # absolute sandbox path of the executable
        # Where the executable is (a VirtualDentry); the process holds its inode's
        # deny_write_access until it exits or execs (Kernel.release_exe).
        self.exe_vd: Any = None
        self.argv: List[bytes] = []
        self.envp: List[bytes] = []
        self.auxv = b""  # the image's auxiliary vector, as /proc/PID/auxv shows it
        self.mm: Optional["AddressSpace"] = None
        self.comm = b""
        self.start_time = time.monotonic()
        # Exit: set when the leader's exit has been seen by the tracer.
        self.exit_status: Optional[int] = None   # raw wait status
        self.exit_uid: Optional[int] = None      # the leader's sandbox uid at its exit
        self.zombie = False
        self.reaped = False
        self.exit_signal = 17  # SIGCHLD
        # Job control: stopped now (every thread took part in the stop: the kernel's
        # SIGNAL_STOP_STOPPED); a stop / continue not yet reported to wait().
        self.stopped = False
        # A group stop is under way (from its first thread's stop to the continue): a
        # call the sentry holds for another thread ends, so that thread reaches it.
        self.stopping = False
        self.dumpable = 1
        # The signal the sentry ended this process for (an unhandled fault in
        # init, or a signal to the sentry in `do` mode): its exit status.
        self.fatal_signal = 0
        self.subreaper = False
        # Signals whose handler the workload installed with SA_RESTART (the host
        # always has it; see sys_signal.sigaction_stop).
        self.sa_restart: set = set()
        # signal -> (handler, flags, restorer, mask) as the kernel keeps the workload's
        # action, for the handlers the host holds with an SA_RESTART the workload did not
        # ask for: a query of one is answered from here (sys_signal.rt_sigaction).
        self.sa_forced: dict = {}
        # SIGCHLD's SA_NOCLDSTOP (no SIGCHLD for a child's stop, ptrace stops included).
        self.sigchld_nocldstop = False
        self.stop_pending = False
        self.cont_pending = False
        # execve in progress: the prepared image, and the host tid whose
        # syscall the sentry rewrote into the exec of the stub.
        self.pending_exec: Any = None
        self.pending_exec_rewritten = 0
        # /proc/PID/oom_score_adj (process.oomScoreAdj), and the value below which only
        # CAP_SYS_RESOURCE may go (the kernel's oom_score_adj_min).
        self.oom_score_adj = 0
        self.oom_score_adj_min = 0
        # POSIX timers by id (sentry.kernel.posix_timers) and the next id to try.
        self.posix_timers: Dict[int, Any] = {}
        # Deleted timers whose signal is still pending (dropped at its delivery).
        self.posix_timers_dropped: Dict[int, Any] = {}
        self.next_timer_id = 0

    @property
    def leader(self) -> Optional["Task"]:
        return self.tasks.get(self.tgid)

    @property
    def ppid(self) -> int:
        """Sandbox pid of the parent; 0 for the sandbox's init."""
        return self.parent.tgid if self.parent is not None else 0


class Task:
    """One sandbox thread.

    Attributes handlers use:

    - ``tid``, ``tgid`` (sandbox ids), ``host_tid`` (the sentry's view)
    - ``tg``: the :class:`ThreadGroup`; ``kernel``: the :class:`Kernel`
    - ``creds``: :class:`Credentials` (shared by the thread group)
    - ``fdtable``: :class:`sentry.vfs.fdtable.FDTable` (shared with ``CLONE_FILES``)
    - ``fs``: :class:`sentry.vfs.fscontext.FSContext` (root, cwd, umask; shared with ``CLONE_FS``)
    - ``mem``: :class:`sentry.mm.memory.TaskMemory`
    """

    def __init__(
        self,
        kernel: "Kernel",
        tg: ThreadGroup,
        tid: int,
        host_tid: int,
        creds: Credentials,
        fdtable: Any,
        fs: Any,
        mem: "TaskMemory",
    ) -> None:
        self.kernel = kernel
        self.tg = tg
        self.tid = tid
        self.host_tid = host_tid
        self.creds = creds
        self.fdtable = fdtable
        self.fs = fs
        self.mem = mem
        self.exited = False
        # Stopped for its group's job-control stop (the kernel's group_stop_count
        # share): the group's stop is booked once every thread has (Kernel.group_stopped).
        self.group_stop = False
        # Syscall currently parked for this thread (set by the dispatcher).
        self.parked: Any = None
        # The SyscallArgs of the call being served (set by the dispatcher).
        self.syscall_args: Any = None
        # clone flags recorded when the clone syscall was let through, consumed
        # at the ptrace fork/clone event.
        self.pending_clone: Optional[int] = None
        # Where a booked CLONE_PIDFD clone stores the pidfd (sys_process.clone_pidfd).
        self.pending_pidfd_addr = 0
        # Registers a clone3 rewritten into clone must get back (sys_process.clone3_stop):
        # the parent's at its clone event, until its next clone-family stop; and the
        # registers the rewritten clone has (with rip), by which its restart is known, with
        # its booking (flags, CLONE_PIDFD among them, and pidfd address) to make again.
        self.clone3_saved: Optional[Tuple[int, ...]] = None
        self.clone3_as_clone: Optional[Tuple[Tuple[int, ...], Optional[int], int]] = None
        # A child of a clone3 run as clone: what it gets back at its first stop (_on_wait).
        self.clone3_child_regs: Optional[Tuple[int, ...]] = None
        # The number of its last clone-family call (the compat report's times).
        self.clone_nr = 56
        # Exec prepared at the execve trap, consumed at the exec event.
        self.pending_exec: Any = None
        self.clear_child_tid = 0
        self.comm = b""           # PR_SET_NAME of this thread ("" : the group's)
        self.pdeathsig = 0
        # prctl(PR_SET_NO_NEW_PRIVS) / process.noNewPrivileges; inherited, never cleared.
        self.no_new_privs = False
        # Signals that arrived while the sentry held the thread in a ptrace stop.
        self.requeue_signals: List[int] = []
        # A ppoll/pselect6 wait ended by a signal, on its way to the handler
        # with the call's signal mask (see Kernel.end_wait_with_mask).
        self.mask_wait: Any = None
        # Offered the thread's next PTRACE_EVENT_STOP, which the sentry asked for with
        # PTRACE_INTERRUPT (a signalfd read's dequeue); True: it was the hook's, and
        # the hook resumed the thread.  Dropped at any stop.
        self.stop_hook: Optional[Callable[["Task"], bool]] = None
        # getpriority/setpriority and sched_getscheduler/sched_setscheduler (inherited).
        self.nice = 0
        self.sched_policy = 0
        # ioprio_set(2)'s value (0: none set, IOPRIO_CLASS_NONE); inherited.
        self.ioprio = 0
        # sched_setattr(2)'s SCHED_FLAG_RESET_ON_FORK.
        self.sched_reset_on_fork = False
        # personality(2) (inherited, kept at exec but for PER_CLEAR_ON_SETID at a set-ID one).
        self.personality = 0
        # siginfo of signals the sentry queued, by signal, until delivered.
        self.sent_info: Dict[int, Any] = {}
        # ptrace(2) between sandbox processes (sentry.kernel.ptrace): the traced side (a
        # Tracee, None when untraced); the tasks this one traces, by tid; the exits of
        # tracees only this one waits for; a PTRACE_SYSCALL/SINGLESTEP its tracer left
        # running on the host when it went (the next such stop is swallowed).
        self.ptrace: Any = None
        self.ptracees: Dict[int, "Task"] = {}
        self.ptrace_zombies: List[Any] = []
        self.ptrace_leftover = False
        # Its thread, process and session keyrings (sentry.kernel.keys.TaskKeyrings;
        # None: none yet).
        self.keyrings: Any = None

    @property
    def tgid(self) -> int:
        return self.tg.tgid

    @property
    def ppid(self) -> int:
        return self.tg.ppid

    def __repr__(self) -> str:
        return f"<Task tid={self.tid} host={self.host_tid}>"


def ptrace_may_access(t: Task, target: Task) -> bool:
    """Linux's ``__ptrace_may_access`` with ``PTRACE_MODE_REALCREDS`` on the sandbox's
    credentials (read and attach modes differ only in LSMs the sandbox has none of): the
    same process; else the caller's real uid and gid are all of the target's ids, the
    target is dumpable and its permitted capabilities are the caller's
    (``cap_ptrace_access_check``); ``CAP_SYS_PTRACE`` overrides all three."""
    from sentry.abi.linux import capability as cap

    if target.tg is t.tg:
        return True
    c, tc = t.creds, target.creds
    if c.capable(cap.CAP_SYS_PTRACE):
        return True
    return (c.uid == tc.euid == tc.suid == tc.uid and c.gid == tc.egid == tc.sgid == tc.gid
            and target.tg.dumpable == 1
            and not (tc.cap_permitted or 0) & ~(c.cap_permitted or 0))
