"""The sentry's kernel object and its event loop.

One :class:`Kernel` per sandbox.  It owns every task and thread group, the
dispatcher of trapped syscalls, and the ptrace side of the platform
(process creation, exec, exit, signal-delivery stops).  Everything runs on one
thread: handlers never block, they park (see :mod:`sentry.kernel.dispatch`).

Host pids: the sentry lives outside the sandbox's pid namespace, so it names
tasks by their *host* tid (``Task.host_tid``); the sandbox tid is the same
thread's pid inside the namespace (read from ``/proc/PID/status`` ``NSpid``).
"""

from __future__ import annotations

import collections
import errno
import fcntl
import os
import resource
import _signal as signal
import struct
import time
import weakref
from sentry import logger
from sentry.records import dataclass, field

from sentry.config import DEFAULT_PIDS_LIMIT, BootConfig
from sentry.kernel.compat import CompatRecorder
from sentry.kernel.credentials import privilege_changed
from sentry.kernel.dispatch import Dispatcher
from sentry.kernel import credentials, memacct, posix_timers, ptrace
from sentry.kernel import keys
from sentry.kernel import proc_events as cn_proc
from sentry.kernel.cpuhold import CpuHold
from sentry.kernel.ktimer import TimerQueue
from sentry.kernel.task import Credentials, Task, ThreadGroup
from sentry.kernel.waiter import EVENT_HUP, EVENT_IN, WaitQueue
from sentry.loader import loader
from sentry.mm.mm import AddressSpace
from sentry.platform.hybrid import native as N
from sentry.platform.hybrid.memory import HostMemory
from sentry.syscalls.linux import linux64
from sentry.abi.linux import capability as cap
from sentry.vfs import abi, fsnotify, locks, statcache
from sentry.vfs import permissions as perm

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

log = logger.get("sentry")

PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 1, 2, 3, 4
PTRACE_EVENT_SECCOMP, PTRACE_EVENT_STOP = 7, 128
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_PARENT, CLONE_THREAD, CLONE_PIDFD = 0x4000, 0x8000, 0x10000, 0x1000
SYS_EXECVE, SYS_EXECVEAT, SYS_MMAP = 59, 322, 9
SYS_CLONE, SYS_FORK, SYS_VFORK, SYS_CLONE3 = 56, 57, 58, 435
SYS_RT_SIGACTION = 13
SYS_GETDENTS64, SYS_NEWFSTATAT, SYS_STATX = 217, 262, 332
SYS_READLINK, SYS_READLINKAT, SYS_OPENAT = 89, 267, 257
#: getuid, getgid, geteuid, getegid: answered in C from the ids _sync_ids mirrors.
SYS_GETXID = (102, 104, 107, 108)
SYS_PRLIMIT64 = 302
_RLIM_INFINITY = (1 << 64) - 1  # the books' unlimited (sys_process.get_rlimit)
#: access, faccessat, faccessat2
SYS_ACCESS = (21, 269, 439)
#: getxattr, lgetxattr: ENODATA in C for names no file of the trusted lower layer has
SYS_GETXATTRS = (191, 192)
#: fcntl: F_GETFD, F_SETFD, F_GETFL and F_DUPFD(_CLOEXEC) of a directory C opened
SYS_FCNTL = 72
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100
STUB_FD = 1000
U64 = (1 << 64) - 1
SI_USER, SI_KERNEL, SI_QUEUE, SI_TKILL = 0, 0x80, -1, -6
_CLD_LAST = 6  # CLD_EXITED … CLD_CONTINUED
_OVERFLOW_UID = 65534
SIGRTMIN_KERNEL = 32
# Sentry-queued siginfo kept per real-time signal and thread (the host's own
# queue limit, RLIMIT_SIGPENDING, is far above what a workload gets through).
_MAX_SENT_INFO = 4096
#: si_value of a signal queued with tgkill (what a real-time record sent so is matched by).
_NO_VALUE = bytes(8)

# Host uid and gid of a sandbox's workload processes: this base plus the sentry's pid,
# so no two sandboxes share one (pids stay below 2**22).  The range is one that
# systemd's allocation rules leave unused (1879048192…2147352575: above the container
# ranges, below the foreign-image one); useradd's subordinate ranges end far below it.
WORKLOAD_HOST_ID_BASE = 0x70000000

# Offset of uc_sigmask in the x86-64 rt_sigframe at the handler's entry rsp:
# pretcode (8), then ucontext: uc_flags (8), uc_link (8), uc_stack (24),
# uc_mcontext (struct sigcontext, 256).
_UC_SIGMASK_OFFSET = 8 + 8 + 8 + 24 + 256


def _status_mask(status: Dict[str, str], field: str) -> int:
    """A signal-set field of /proc/TID/status (SigBlk, SigPnd, …) as an int (0 if unreadable)."""
    try:
        return int(status.get(field, "0"), 16)
    except ValueError:
        return 0


class _MaskWait:
    """State of :meth:`Kernel.end_wait_with_mask` for one thread."""

    __slots__ = ("mask", "own", "frame_pending")

    def __init__(self, mask: int) -> None:
        self.mask = mask
        self.own: Optional[int] = None    # the thread's mask, once the call's is installed
        self.frame_pending = False       # single-stepping into the handler


STOP_SIGNALS = (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
DEFAULT_IGNORED = (signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH)
_KILLS_BY_DEFAULT = ((1 << 64) - 1) & ~sum(1 << (x - 1) for x in (
    signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH,
    signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))
FAULT_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGSYS,
                 signal.SIGTRAP)
EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLET = 0x1, 0x4, 0x2000, 1 << 31
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000


def _signed(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


RLIMIT_NPROC, RLIMIT_NOFILE, RLIM_NLIMITS = 6, 7, 16


def _clone_regs(regs: List[int]) -> Tuple[int, ...]:
    """What a clone3 rewritten into clone is known by when it starts again: the registers
    clone takes and the rip of its syscall instruction."""
    return (regs[N.RDI], regs[N.RSI], regs[N.RDX], regs[N.R10], regs[N.R8], regs[N.RIP])


def _start_rlimits(setup: Optional["ProcessSetup"]) -> Tuple[Dict[int, Tuple[int, int]],
                                                            List[Tuple[int, int, int]]]:
    """The resource limits a process the sentry starts has (unsigned; RLIMIT_NOFILE is
    its fd table's): the sentry's own, which the host process inherits, with
    ``process.rlimits`` over them; and those of them the host process gets set.
    RLIMIT_NPROC stays in the sentry's books (:func:`sys_process._check_nproc`): the
    host would count every workload task, whatever its sandbox uid, as one user's."""
    books: Dict[int, Tuple[int, int]] = {}
    for res in range(RLIM_NLIMITS):
        if res != RLIMIT_NOFILE:
            soft, hard = resource.getrlimit(res)
            books[res] = (soft & U64, hard & U64)
    host = []
    for res, soft, hard in setup.rlimits if setup is not None else ():
        books[res] = (soft, hard)
        if res != RLIMIT_NPROC:
            host.append((res, soft, hard))
    return books, host


def _spawn(k: "Kernel", nsflags: int, join_fds: Optional[List[int]],
           rlimits: List[Tuple[int, int, int]]) -> Tuple[int, int]:
    try:
        if join_fds is not None and k.spawner is not None:
            # A confined sentry: the supervisor makes the process, the sentry seizes it.
            pid, sync = k.spawner(rlimits)
            return pid, N.spawn_attach(pid, sync)
        k.cpu_hold.end("spawn")  # the child would inherit the sentry's held mask
        return N.spawn_task(k.stub_fd, k.bpf, nsflags, k.host_id, join_fds, rlimits)
    except N.RlimitError as e:
        raise _rlimit_refused(rlimits, e) from None


def _rlimit_refused(rlimits: List[Tuple[int, int, int]], e: Any) -> ProcessSetupError:
    res, soft, hard = rlimits[e.index]
    return ProcessSetupError(
        e.errno, f"setting resource limit {res} ({soft}, {hard}): "
                 f"{os.strerror(e.errno or errno.EPERM)}")


@dataclass
class ProcessSetup:
    """What a process the sentry starts (init, an exec) gets before its program loads:
    ``process.noNewPrivileges``, ``process.rlimits`` (resource, soft, hard; set on the
    host process, which enforces them), ``process.oomScoreAdj`` and, for an exec, the
    nice value of its caller (``None``: the sentry's, which is the sandbox's creator's)."""

    no_new_privs: bool = False
    rlimits: List[Tuple[int, int, int]] = field(default_factory=list)
    oom_score_adj: int = 0
    oom_score_adj_min: int = 0
    nice: Optional[int] = None


class ProcessSetupError(OSError):
    """The host refused part of a :class:`ProcessSetup` (``strerror`` says which)."""


# The longest one wait of the event loop (it recomputes the next deadline after it).
_MAX_WAIT_MS = 1 << 30


class SandboxExit(BaseException):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


#: pidfd_open's flag for a pidfd of any thread (Linux 6.9; O_EXCL's value).
_PIDFD_THREAD = os.O_EXCL
#: nsfs's ``_IOR(0xb7, 0x8, int)``: a pid of the caller's namespace in the fd's.
_NS_GET_PID_IN_PIDNS = (2 << 30) | (4 << 16) | (0xB7 << 8) | 0x8


class Kernel:
    def __init__(self, cfg: BootConfig) -> None:
        self.cfg = cfg
        self.hostname = cfg.hostname
        self.domainname = "(none)"
        # /proc/PID/uid_map and gid_map: linux.uidMappings/gidMappings or the identity.
        self.uid_map = list(cfg.uid_map)
        self.gid_map = list(cfg.gid_map)
        # The sandbox's namespaced sysctls (/proc/sys), from sentry.fsimpl.proc.sysctl.
        self.sysctl: Dict[str, str] = {}
        # The System V IPC namespace (sentry.kernel.ipc.namespace makes it at first use).
        self.ipc: Any = None
        # The lowest oom_score_adj a workload process may give its host process.
        self.host_oom_floor = 0
        # What init got (ProcessSetup); an exec'd process gets the same unless it asks.
        self.init_setup: Optional[ProcessSetup] = None
        self.boot_time = time.monotonic()
        self.tasks: Dict[int, Task] = {}          # host tid → task
        self.by_tid: Dict[int, Task] = {}         # sandbox tid → task
        self.thread_groups: Dict[int, ThreadGroup] = {}
        self.counters: Dict[str, int] = {}
        # Per-syscall counts and refused variants (the compat report; always kept).
        self.compat = CompatRecorder()
        self.vfs: Any = None                      # set by boot: the sandbox's VirtualFilesystem
        self.open_exec: Optional[Callable[..., Any]] = None
        self.procfd = -1                          # host /proc, opened at boot (see ARCHITECTURE.md)
        self.zero_fds = (-1, -1)                  # host /dev/zero read-only, read-write (boot)
        self.gadget = 0
        #: init's host process (setting itself up: native.Spawning) and its limits'
        #: books, between :meth:`spawn_init` and :meth:`start_init`.
        self._init_spawned: Optional[Tuple[Any, Any]] = None
        self.dispatcher = Dispatcher(self, N.respond)
        self.fd_handlers: Dict[int, Callable[[int], None]] = {}
        self.init_tg: Optional[ThreadGroup] = None
        # Signals to the sentry process that came before the workload started.
        self.early_host_signals: List[int] = []
        # The donated terminal (a console's replica) whose job-control signals the sentry
        # passes on to the sandbox's foreground process group (boot sets it).
        self.console: Any = None
        # host tid → wait status of a new child seen before its parent's fork event
        self._early_stops: Dict[int, int] = {}
        # fd tables a CLONE_FILES clone shared between processes (the loader lends no
        # fds to an exec of a process using one).
        self._files_shared_by_processes: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._next_fdt = 0
        self._free_fdt_ids: List[int] = []
        self.exit_status: Optional[int] = None
        self.timers: Dict[int, Any] = {}          # tgid → ITIMER_REAL state
        self.ktimers = TimerQueue()               # callbacks at deadlines (timerfd)
        # The sentry and the task it serves kept on one CPU while the gofer works for it.
        self.cpu_hold = CpuHold(self, N.getcpu)
        self.strace_out: Optional[Callable[[str], None]] = None
        # --strace logs every call, so none may be answered in C.
        self.python_only = cfg.python_only or cfg.strace
        # The pids limit (config.pids_limit; 0: none): see check_pids.
        limit = DEFAULT_PIDS_LIMIT if cfg.pids_limit is None else cfg.pids_limit
        self.pids_limit = max(0, limit)
        memacct.configure(cfg.memory_limit)
        self.fdtables_by_id: Dict[int, Any] = {}
        # (key base, O_NOFOLLOW, path, generation) of a file C re-opened -> the name its
        # mappings show in /proc/PID/maps (_name_mapping)
        self._filec_names: Dict[Tuple[int, int, bytes, int], bytes] = {}
        self.gofer: Any = None
        self.stub_fd = -1
        self.bpf = b""
        # The unprivileged host uid/gid every workload process runs under (rt.c
        # drop_privileges); the sandbox's own identities are Task.creds.
        self.host_id = WORKLOAD_HOST_ID_BASE + os.getpid()
        # The host pid clients know the sandbox by (the container's pid): the supervisor's.
        self.sandbox_pid = os.getpid()
        # init's pid, ipc, uts, net and mnt namespaces, for processes that join (exec).
        self.ns_fds: List[int] = []
        # Whether the kernel translates pids by a namespace's fd (_sandbox_tid).
        self._pidns_ioctl = True
        # Once the sentry is confined: makes a joining process, (rlimits) -> (pid, sync fd).
        self.spawner: Optional[Callable[[List[Tuple[int, int, int]]], Tuple[int, int]]] = None
        # Likewise: re-opens a donated host fd, (fd, flags) -> new fd (HostInode.open).
        self.reopen: Optional[Callable[[int, int], int]] = None
        # pause: ptrace stops and notifications kept until resume.
        self.paused = False
        # A task of the sandbox has been traced by another (ptrace._link): for good.
        self.ptrace_used = False
        self._paused_stops: List[Any] = []
        self._paused_notifs: List[Any] = []

    # -- host facts -------------------------------------------------------

    def host_file(self, name: str) -> bytes:
        """The host's ``/proc/<name>`` (meminfo, cpuinfo, loadavg, uptime, stat)."""
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.procfd)
        try:
            out = b""
            while True:
                b = os.read(fd, 65536)
                if not b:
                    return out
                out += b
        finally:
            os.close(fd)

    def host_task_status(self, host_tid: int) -> Dict[str, str]:
        """Fields of the host's ``/proc/<tid>/status`` of a sandbox thread."""
        try:
            raw = self.host_file(f"{host_tid}/status")
        except OSError:
            return {}
        out = {}
        for line in raw.decode("utf-8", "replace").splitlines():
            k, _, v = line.partition(":")
            out[k] = v.strip()
        return out

    def host_task_stat(self, host_tid: int) -> List[str]:
        """The fields of the host's ``/proc/<tid>/stat`` after the command name."""
        try:
            raw = self.host_file(f"{host_tid}/stat").decode()
        except OSError:
            return []
        return raw[raw.rfind(")") + 2:].split()

    def set_host_oom_score_adj(self, tg: ThreadGroup, value: int) -> None:
        """Make the host's OOM killer see *tg*'s process as the sandbox does, never less
        likely to be chosen than the sandbox itself (:attr:`host_oom_floor`)."""
        try:
            fd = os.open(f"{tg.host_tgid}/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC,
                         dir_fd=self.procfd)
        except OSError:
            return
        try:
            os.write(fd, b"%d" % max(value, self.host_oom_floor))
        except OSError as e:
            log.debug("oom_score_adj of host process %d: %s", tg.host_tgid, e)
        finally:
            os.close(fd)

    def open_mem(self, host_pid: int) -> int:
        return os.open(f"{host_pid}/mem", os.O_RDWR | os.O_CLOEXEC, dir_fd=self.procfd)

    # -- tasks ------------------------------------------------------------

    def _sandbox_tid(self, host_tid: int) -> int:
        """The sandbox tid of host thread *host_tid* (at every clone): translated into the
        sandbox's pid namespace by its nsfs fd (``NS_GET_PID_IN_PIDNS``, Linux 6.11: one
        ioctl); on an older kernel, the last ``NSpid`` of a pidfd's fdinfo
        (``/proc/self/fdinfo``: the sentry's own proc entries, made once), else of its
        ``/proc/TID/status``, whose first read made the new task's proc entries: ~65 us a
        fork here, against ~20 for the fdinfo and ~2 for the ioctl."""
        if self._pidns_ioctl and self.ns_fds:
            try:
                return fcntl.ioctl(self.ns_fds[0], _NS_GET_PID_IN_PIDNS, host_tid)
            except OSError as e:
                if e.errno == errno.ESRCH:  # gone, or not in the sandbox's namespace
                    raise OSError(errno.ESRCH, f"no sandbox pid for {host_tid}") from None
                # ENOTTY: a kernel without it; anything else would be a sentry bug (ns_fds
                # not starting with the pid namespace's), which /proc's way survives.
                self._pidns_ioctl = False
                if e.errno != errno.ENOTTY:
                    log.warning("NS_GET_PID_IN_PIDNS: %s; pids from /proc from now on", e)
        return self._sandbox_tid_proc(host_tid)

    def _sandbox_tid_proc(self, host_tid: int) -> int:
        """:meth:`_sandbox_tid` from ``/proc`` (its twin on a kernel without the ioctl)."""
        raw = b""
        try:
            pidfd = os.pidfd_open(host_tid, _PIDFD_THREAD)
        except OSError:
            pidfd = -1  # a kernel before 6.9 and a thread that is no leader
        if pidfd >= 0:
            try:
                fd = os.open(f"self/fdinfo/{pidfd}", os.O_RDONLY | os.O_CLOEXEC,
                             dir_fd=self.procfd)
                try:
                    raw = os.read(fd, 4096)
                finally:
                    os.close(fd)
            finally:
                os.close(pidfd)
        if b"\nNSpid:" not in raw:
            fd = os.open(f"{host_tid}/status", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.procfd)
            try:
                raw = os.read(fd, 16384)
            finally:
                os.close(fd)
        i = raw.find(b"\nNSpid:")
        ns = raw[i + 7:raw.find(b"\n", i + 7)].split() if i >= 0 else []
        # (A pidfd's task that died meanwhile shows NSpid -1.)
        if not ns or int(ns[-1]) <= 0:
            raise OSError(errno.ESRCH, f"no NSpid for {host_tid}")
        return int(ns[-1])

    def new_fdt_id(self) -> int:
        # The C side keeps a bounded number of tables (MAX_FDT in rt.c): the ids of
        # released tables are used again, or a sandbox that forks often would run out.
        if self._free_fdt_ids:
            return self._free_fdt_ids.pop()
        self._next_fdt += 1
        return self._next_fdt

    def free_fdt_id(self, fdt_id: int) -> None:
        self._free_fdt_ids.append(fdt_id)

    def register(self, t: Task) -> None:
        self.tasks[t.host_tid] = t
        self.by_tid[t.tid] = t
        t.tg.tasks[t.tid] = t
        self.thread_groups[t.tgid] = t.tg
        self.sync_fast(t)

    def sync_fast(self, t: Task) -> None:
        fdt_id = getattr(t.fdtable, "fast_id", -1)
        N.task_set(t.host_tid, t.tid, t.tgid, t.ppid, fdt_id)
        self._sync_ids(t)
        self._sync_process(t)
        if statcache.enabled():
            self._sync_stat_view(t)

    def _sync_process(self, t: Task) -> None:
        """What C answers of *t*'s process in its slot: its RLIMIT_STACK (glibc's
        ``prlimit64(0, RLIMIT_STACK, NULL, old)`` at every program's start) and the
        signals whose handler copy the sentry keeps (any other ``rt_sigaction`` query is
        the host's: Python asks one of every signal at its start)."""
        if not self.python_only:
            cur, mx = t.tg.rlimits.get(resource.RLIMIT_STACK, (_RLIM_INFINITY, _RLIM_INFINITY))
            N.task_set_stack_limit(t.host_tid, cur, mx)
            N.task_set_sa_forced(t.host_tid, t.tg.sa_forced, t.tg.sa_restart)

    def sync_process(self, tg: ThreadGroup) -> None:
        """*tg*'s resource limits or kept handler copies changed (``setrlimit``,
        ``prlimit64``, ``rt_sigaction``, an exec): its tasks' slots in C follow."""
        for t in tg.tasks.values():
            self._sync_process(t)

    def _sync_ids(self, t: Task) -> None:
        """*t*'s real and effective ids in C, which answers getuid & co. with them, and
        whether C may answer its access(2) questions (sc_access): only while the
        credentials access(2) walks and checks with are the task's own
        (permissions.access_creds), so that the stat cache's walk was access's, its real
        ids are its effective ones (C checks with the former) and no supplementary group
        but its own could make a file's group its class."""
        if not self.python_only:
            c = t.creds
            caps = perm.access_caps(c)
            ok = (perm.access_creds(c) is c and c.uid == c.euid and c.gid == c.egid
                  and all(g == c.gid for g in c.groups))
            N.task_set_ids(t.host_tid, c.uid, c.euid, c.gid, c.egid, ok,
                           (caps >> cap.CAP_DAC_OVERRIDE & 1)
                           | (caps >> cap.CAP_DAC_READ_SEARCH & 1) << 1)

    def _sync_stat_view(self, t: Task) -> None:
        """The stat cache's view of *t*: its cwd key, whether its root is the sandbox's, and
        whether it may search any directory."""
        N.task_set_fs(t.host_tid, t.fs.key, t.fs.root == self.vfs.root(), statcache.search_all(t))

    def _sync_fs(self, fs: Any) -> None:
        """Every task sharing *fs* has its new root and cwd in the stat cache's view."""
        for t in self.tasks.values():
            if t.fs is fs:
                self._sync_stat_view(t)

    def _sync_creds(self, creds: Any) -> None:
        """Every task with *creds* has its new ids in C and its new effective set in the
        stat cache's view."""
        for t in self.tasks.values():
            if t.creds is creds:
                self._sync_ids(t)
                if statcache.enabled():
                    self._sync_stat_view(t)

    def task_by_tid(self, tid: int) -> Optional[Task]:
        return self.by_tid.get(tid)

    def host_pid_alive(self, host_pid: int) -> bool:
        """Whether the host still has the process (a zombie counts; a reaped one does not).

        ``kill(pid, 0)`` (EPERM: it exists too): ~1.5 us, where a ``stat`` of
        ``/proc/PID`` took ~25 (the proc entry of a process is made on its first lookup),
        and init's waits ask it of every child they reap.  Not for 0 or below, which
        ``kill`` reads as process groups."""
        if host_pid <= 0:
            return False
        try:
            os.kill(host_pid, 0)
        except PermissionError:
            return True
        except OSError:
            return False
        return True

    def forget_thread_group(self, tg: ThreadGroup) -> None:
        """A zombie was reaped by its parent's (host-run) wait."""
        self.thread_groups.pop(tg.tgid, None)
        if tg.parent is not None:
            tg.parent.children.pop(tg.tgid, None)
        if tg.mm is not None:
            tg.mm.release()
        tg.reaped = True
        tg.pidfd_queue.notify(EVENT_IN | EVENT_HUP)

    def pids_in_use(self) -> int:
        """Tasks that hold a pid, as the pids cgroup counts them: live threads, zombie
        processes not yet reaped, clones checked but not yet seen to happen, and new
        children seen stopped before a fork event said whose they are.

        Such a child is counted as soon as it is seen, not when its event claims it: one
        whose parent was killed at its fork event (or before it stopped there) is never
        claimed, and stays stopped until the sandbox ends; uncounted, a workload could
        pile up any number of them on the host.  Until its event comes, a claimed one is
        counted twice (its parent's pending clone too), for a turn or two of the loop."""
        n = len(self.tasks) + len(self._early_stops)
        for tg in self.thread_groups.values():
            if tg.zombie:
                n += 1
        for t in self.tasks.values():
            if t.pending_clone is not None:
                n += 1
        return n

    def check_pids(self) -> None:
        """Refuse a new task at the pids limit, as the pids cgroup makes fork/clone fail
        with ``EAGAIN`` (``pids_can_fork``).  Zombies the host has reaped behind the
        sentry's back are dropped first, so they do not count.

        :raises LinuxError: ``EAGAIN``.
        """
        limit = self.pids_limit
        # A bound of pids_in_use first: the exact count walks every task.
        if not limit or (2 * len(self.tasks) + len(self.thread_groups) + len(self._early_stops)
                         < limit):
            return
        if self.pids_in_use() < limit:
            return
        self.prune_reaped()
        if self.pids_in_use() >= limit:
            from sentry.abi.linux.errors import err

            self.counters["pids_limit_hits"] = self.counters.get("pids_limit_hits", 0) + 1
            raise err(errno.EAGAIN)

    @staticmethod
    def release_exe(tg: ThreadGroup) -> None:
        """The process no longer runs its program, nor will it run the one it was about
        to exec: give back their ``deny_write_access`` (Linux's ``exe_file``)."""
        vd, tg.exe_vd = tg.exe_vd, None
        if vd is not None:
            vd.dentry.inode.allow_write_access()
        if tg.pending_exec is not None:
            tg.pending_exec.release_exe()

    def prune_reaped(self) -> None:
        for tg in list(self.thread_groups.values()):
            if tg.zombie and not self.host_pid_alive(tg.host_tgid):
                self.forget_thread_group(tg)

    # -- timers -------------------------------------------------------------

    def set_real_timer(self, tg: ThreadGroup, value: float, interval: float) -> None:
        """ITIMER_REAL: SIGALRM to *tg* after *value* seconds, then every *interval*."""
        if value <= 0:
            self.timers.pop(tg.tgid, None)
        else:
            self.timers[tg.tgid] = (time.monotonic() + value, interval)

    def _fire_timers(self) -> None:
        now = time.monotonic()
        for tgid, (deadline, interval) in list(self.timers.items()):
            if deadline > now:
                continue
            if interval > 0:
                self.timers[tgid] = (deadline + interval * max(1, int((now - deadline) / interval) + 1),
                                     interval)
            else:
                del self.timers[tgid]
            tg = self.thread_groups.get(tgid)
            if tg is not None and not tg.zombie:
                self.signal_group(tg, signal.SIGALRM)

    def _next_deadline(self) -> Optional[float]:
        if not self.timers and not self.dispatcher.timed and not self.ktimers:
            return None  # (most turns of the loop: nothing is timed)
        ds = [d for d, _ in self.timers.values()]
        for dl in (self.dispatcher.next_deadline(), self.ktimers.next_deadline()):
            if dl is not None:
                ds.append(dl)
        return min(ds) if ds else None

    # -- signals ----------------------------------------------------------

    def _sig_sets(self, t: Task, fields: Tuple[bytes, ...]) -> List[int]:
        """Signal-set *fields* of the host's /proc/TID/status (0 each if unreadable), from
        one read, found in the bytes, not through :meth:`host_task_status`'s dict of every
        line (~25 us an exit)."""
        try:
            raw = self.host_file(f"{t.host_tid}/status")
        except OSError:
            return [0] * len(fields)
        out = []
        for name in fields:
            at = raw.find(b"\n" + name + b":")
            try:
                out.append(int(raw[at + len(name) + 2:raw.index(b"\n", at + 1)].strip(), 16)
                           if at >= 0 else 0)
            except ValueError:
                out.append(0)
        return out

    def _sigmask_bits(self, t: Task, field: str) -> int:
        """One signal-set field of the host's /proc/TID/status (0 if unreadable), as
        :meth:`_sig_sets` (a periodic timer asks at each expiry whether its signal is still
        pending)."""
        return self._sig_sets(t, (field.encode(),))[0]

    sigmask_bits = _sigmask_bits

    def queue_signal_info(self, t: Task, signo: int, info: bytes) -> bool:
        """Queue *signo* on *t* with a siginfo the kernel makes (a timer's ``SI_TIMER``):
        the host keeps it as given, so nothing is recorded for the delivery stop."""
        if N.sigqueue(t.tg.host_tgid, t.host_tid, signo, info) < 0:
            return False
        self.after_signal(t, signo)
        return True

    def signal_task(self, t: Task, signo: int, sender: Optional[Task] = None,
                    info: Optional[bytes] = None, code: Optional[int] = None) -> None:
        """Queue *signo* on thread *t* as a host signal; interrupt its parked call if handled.

        The siginfo the workload sees is the sandbox's: *info* (a complete siginfo
        from ``rt_sigqueueinfo``), else ``si_code`` *code* (default ``SI_USER``
        from a *sender*, ``SI_KERNEL`` without one) with the sender's pid and uid.
        The host cannot carry it (it zeroes ``si_pid`` of a signal from outside
        the pid namespace, and lets nobody forge ``SI_USER``), so it is recorded
        on the thread and put in place at the signal-delivery stop
        (:meth:`_sandbox_siginfo`).
        """
        forged = info is None
        if info is not None:
            info = struct.pack("<i", signo) + info[4:128].ljust(124, b"\0")
        else:
            if code is None:
                code = SI_USER if sender is not None else SI_KERNEL
            pid, uid = (sender.tgid, sender.creds.uid) if sender is not None else (0, 0)
            info = struct.pack("<iiiiiI", signo, 0, code, 0, pid, uid).ljust(128, b"\0")
        si_code = struct.unpack_from("<i", info, 8)[0]
        # The host lets no other process queue a kernel-made code (a process's own
        # siginfo to itself may have one): the record carries it to the delivery.
        by_tgkill = forged or si_code >= 0 or si_code == SI_TKILL
        # A standard signal already pending keeps the first one's siginfo (asked before
        # the send, which makes it pending); the record is made once the send worked.
        keep = signo >= SIGRTMIN_KERNEL or not (
            self._sigmask_bits(t, "SigPnd") & (1 << (signo - 1)))
        if by_tgkill:
            ret = N.tgkill(t.tg.host_tgid, t.host_tid, signo)
        else:
            ret = N.sigqueue(t.tg.host_tgid, t.host_tid, signo, info)
        if ret < 0:
            return
        if keep:
            # What the host's siginfo will hold where a queued one has its value:
            # tgkill's none, sigqueue's this one's (a real-time record is matched by it).
            self._record_siginfo(t, signo, info, _NO_VALUE if by_tgkill else info[24:32])
        self.after_signal(t, signo)

    def _record_siginfo(self, t: Task, signo: int, info: bytes, value: bytes) -> None:
        """Keep *info* for the delivery of *signo* to *t*; *value*: the 8 bytes at
        ``si_value`` the host's siginfo of it will show.  A standard signal has one
        (the caller leaves the record of one that was pending already); real-time
        signals queue, each with its own.
        """
        if signo < SIGRTMIN_KERNEL:
            t.sent_info[signo] = collections.deque(((value, info),))
        else:
            q = t.sent_info.setdefault(signo, collections.deque(maxlen=_MAX_SENT_INFO))
            q.append((value, info))

    def _sandbox_siginfo(self, t: Task, sig: int) -> bool:
        """At *sig*'s delivery stop: give the handler the sandbox's siginfo; False: drop
        the signal (a POSIX timer's, re-armed or deleted since it was queued).

        A signal the sentry queued gets the siginfo the sentry recorded: the host
        shows it with ``si_pid == 0`` and a negative ``si_code``.  A real-time
        signal is matched by its value, so a record whose signal was taken another
        way is dropped rather than given to the next one.  Signals the host made
        for the workload itself (SIGCHLD, faults, a process signalling itself)
        carry their own siginfo, but with the sender's host uid in ``si_uid``,
        which becomes its sandbox uid.
        """
        pid = t.host_tid
        try:
            host = N.getsiginfo(pid)
        except OSError:
            return True
        rec = None
        if struct.unpack_from("<i", host, 8)[0] == posix_timers.SI_TIMER:
            rec = posix_timers.on_delivery(self, t, host)
            if rec == posix_timers.DROP:
                return False
        if rec is None:
            rec = self.sandbox_siginfo(t, sig, host)
        if rec is not None:
            try:
                N.setsiginfo(pid, rec)
            except OSError:
                pass
        return True

    def sandbox_siginfo(self, t: Task, sig: int, host: bytes) -> Optional[bytes]:
        """The siginfo the sandbox sees for *sig* taken off *t* with *host*'s siginfo
        (None: the host's is the right one): the one the sentry recorded (the record
        is used up), or the host's with the sender's host uid made its sandbox uid.

        The workload's host processes all run as :attr:`host_id`, so a siginfo the
        host made from one (a SIGCHLD's, a ``kill`` a process ran on the host) names
        that id in ``si_uid``; the sandbox sees the sender's own uid instead.
        """
        h_code, h_pid = struct.unpack_from("<i", host, 8)[0], struct.unpack_from("<i", host, 16)[0]
        if h_pid != 0 and struct.unpack_from("<I", host, 20)[0] == self.host_id and (
                (sig == signal.SIGCHLD and 0 < h_code <= _CLD_LAST)
                or h_code in (SI_USER, SI_QUEUE, SI_TKILL)):
            return host[:20] + struct.pack("<I", self.sandbox_uid(h_pid)) + host[24:]
        q = t.sent_info.get(sig)
        if not q:
            return None
        if h_pid != 0 or h_code >= 0:
            # The host's own, or one the sentry queued whole (sigqueue: the sender's
            # pid in it): that one's record is used up, not left for a later signal.
            if sig >= SIGRTMIN_KERNEL and h_code < 0:
                for i, (_, r) in enumerate(q):
                    if r[:48] == host[:48]:
                        del q[i]
                        break
                if not q:
                    t.sent_info.pop(sig, None)
            return None
        rec = None
        if sig < SIGRTMIN_KERNEL:
            rec = q.popleft()[1]
        else:
            while q:
                value, r = q.popleft()
                if value == host[24:32]:
                    rec = r
                    break
        if not q:
            t.sent_info.pop(sig, None)
        return rec

    def sandbox_uid(self, tgid: int) -> int:
        """The sandbox uid of process *tgid* (a zombie's at its exit; the overflow uid
        for one the sentry no longer knows)."""
        tg = self.thread_groups.get(tgid)
        if tg is None:
            return _OVERFLOW_UID
        t = tg.leader or next(iter(tg.tasks.values()), None)
        if t is not None:
            return t.creds.uid
        return tg.exit_uid if tg.exit_uid is not None else _OVERFLOW_UID

    def signalfd_notify(self, tg: ThreadGroup) -> None:
        """A signal became pending in *tg*: wake its signalfd readers and watchers
        (Linux's ``signalfd_notify``, a wake-up of every waiter on each signal)."""
        tg.signalfd_queue.notify(EVENT_IN)

    def after_signal(self, t: Task, signo: int) -> None:
        """A host signal is pending on *t*: end its parked call if the signal acts now.

        - a handler will run: the call ends with EINTR or a restart (``SA_RESTART``);
        - the default action kills or stops: the call ends with a restart code so
          the thread reaches the signal.  Linux turns a fatal signal into SIGKILL,
          which ends any killable wait, but not for a traced process, so a parked
          thread would never see it;
        - blocked, ignored, or ignored by default: nothing happens, unless the thread
          is traced (its tracer sees every signal at a stop).
        """
        # First, so that a parked signalfd read of the signal is retried (and takes
        # it) before the interruption below, as Linux's read dequeues it.
        self.signalfd_notify(t.tg)
        if t.parked is None or signo == signal.SIGKILL:
            return
        if t.parked.ready:
            # Its event came too (a child's exit with its SIGCHLD) and it is about to be
            # retried: Linux completes a wait whose event is there, so the signal acts on
            # the call only if the retry parks it again; decided then (run_ready), and
            # only then are the host's signal sets read (~25-80 us a read).
            p = t.parked
            if p.signals is None:
                p.signals = []
            p.signals.append(signo)
            return
        self.signal_acts(t, signo)

    def signal_acts(self, t: Task, signo: int) -> None:
        """End *t*'s parked call (not ready) if host signal *signo* acts on it now
        (:meth:`after_signal`)."""
        if t.parked is None:
            return
        bit = 1 << (signo - 1)
        blk, cgt, ign = self._sig_sets(t, (b"SigBlk", b"SigCgt", b"SigIgn"))
        blocked = t.parked.sigmask
        if blocked is None:
            blocked = blk
        if blocked & bit and signo != signal.SIGSTOP:
            return
        if cgt & bit:
            self.dispatcher.interrupt(t, signo)
        elif t.ptrace is not None or (not ign & bit and signo not in DEFAULT_IGNORED):
            # A tracee stops for every signal, ignored ones too (sig_ignored).
            self.dispatcher.interrupt(t, 0)

    # -- waits with their own signal mask (ppoll, pselect6) ---------------

    def pending_acts(self, t: Task, sigmask: int) -> bool:
        """Whether a signal pending on *t* would end a wait under *sigmask*.

        It does if the mask lets it through and it is caught, or its default
        action kills (stop signals and ignored ones leave the wait alone).
        """
        st = self.host_task_status(t.host_tid)

        def bits(field: str) -> int:
            return _status_mask(st, field)

        act = (bits("SigPnd") | bits("ShdPnd")) & ~sigmask & ~bits("SigIgn")
        if act & bits("SigCgt"):
            return True
        # The namespace's init is not killed by a default action.
        return t.tg is not self.init_tg and bool(act & _KILLS_BY_DEFAULT)

    def end_wait_with_mask(self, t: Task, sigmask: int) -> None:
        """A ppoll/pselect6 wait ends for a signal: deliver it under the call's mask.

        Linux installs the call's mask for the wait and, when a handler runs,
        saves the thread's own mask in the signal frame so that ``sigreturn``
        brings it back.  The host holds the mask here, so the sentry does the
        same in three ptrace steps (the caller answers the call with
        ``ERESTARTNOHAND`` right after this):

        1. ``PTRACE_INTERRUPT`` before the answer: the thread stops on its way
           back to user mode (``PTRACE_EVENT_STOP``), before it takes a signal;
        2. there, if a signal still acts under *sigmask* (:meth:`pending_acts`),
           the thread's mask becomes *sigmask* (``PTRACE_SETSIGMASK``) and its
           own is kept; otherwise the call simply restarts;
        3. at the signal-delivery stop, a caught signal is delivered with
           ``PTRACE_SINGLESTEP``, which stops the thread at the handler's first
           instruction with the frame built; the frame's ``uc_sigmask`` gets the
           thread's own mask.  The handler runs under *sigmask* plus its
           ``sa_mask``, ``ERESTARTNOHAND`` became ``EINTR``, and ``sigreturn``
           restores the old mask, as on Linux.  A fatal signal just kills.
        """
        if N.interrupt(t.host_tid) == 0:
            t.mask_wait = _MaskWait(sigmask)

    def _mask_wait_stop(self, t: Task) -> None:
        """Step 2 of :meth:`end_wait_with_mask` (the thread is in its EVENT_STOP)."""
        mw = t.mask_wait
        pid = t.host_tid
        if self.pending_acts(t, mw.mask):
            mw.own = N.getsigmask(pid)
            N.setsigmask(pid, mw.mask)
        else:
            t.mask_wait = None
        ptrace.host_resume(t)

    def _mask_wait_deliver(self, t: Task, sig: int) -> None:
        """Step 3: *sig* is about to be delivered under the call's mask."""
        mw = t.mask_wait
        pid = t.host_tid
        if self._sigmask_bits(t, "SigCgt") & (1 << (sig - 1)):
            mw.frame_pending = True
            N.singlestep(pid, sig)
            return
        t.mask_wait = None
        bit = 1 << (sig - 1)
        if t.tg is self.init_tg or not bit & _KILLS_BY_DEFAULT or self._sigmask_bits(t, "SigIgn") & bit:
            # It will not kill after all: the thread's own mask again (the host
            # re-queues the signal if that blocks it; the call restarts).
            N.setsigmask(pid, mw.own)
        # Otherwise it kills: the mask no longer matters, and restoring a mask
        # that blocks it would make the host re-queue it instead.
        ptrace.host_resume(t, sig)

    def _mask_wait_frame(self, t: Task) -> None:
        """The handler's first instruction: put the thread's own mask in its frame."""
        mw = t.mask_wait
        t.mask_wait = None
        pid = t.host_tid
        frame = N.getregs(pid)[N.RSP]
        try:
            t.mem.write(frame + _UC_SIGMASK_OFFSET, struct.pack("<Q", mw.own))
        except Exception:
            log.warning("cannot restore the signal mask in %r's frame", t)
        ptrace.host_resume(t)

    def pick_thread(self, tg: ThreadGroup, signo: int) -> Optional[Task]:
        """The thread Linux would deliver a process-directed signal to."""
        bit = 1 << (signo - 1)
        cands = sorted(tg.tasks.values(), key=lambda x: x.tid != tg.tgid)
        if len(cands) == 1 and not cands[0].exited:
            return cands[0]  # blocked or not (no /proc read: a SIGCHLD at every child's exit)
        live = None
        for t in cands:
            if t.exited or self.leader_gone(t):
                continue
            live = live or t
            p = t.parked
            blocked = p.sigmask if p is not None and p.sigmask is not None else None
            if blocked is None:
                blocked = self._sigmask_bits(t, "SigBlk")
            if not blocked & bit:
                return t
        return live if live is not None else cands[0] if cands else None

    def init_has_handler(self, signo: int) -> bool:
        """Whether the namespace's init takes *signo* from inside the sandbox.

        Linux drops such a signal when init has no handler for it, unless it is
        blocked (the handler may change before it is unblocked).
        """
        tg = self.init_tg
        if tg is None:
            return False
        bit = 1 << (signo - 1)
        for t in tg.tasks.values():
            if self._sigmask_bits(t, "SigCgt") & bit:
                return True
            if self._sigmask_bits(t, "SigBlk") & bit:
                return True
            if self._sigwait_set(t) & bit:
                return True
        return False

    def _sigwait_set(self, t: Task) -> int:
        """The set *t* waits for in ``rt_sigtimedwait`` (0 if it does not).

        The wait takes the set out of the thread's blocked mask (``SigBlk``) and keeps
        the mask it had in ``real_blocked``, which Linux's ``sig_ignored`` also looks
        at and ``/proc`` does not show: a signal being waited for counts as blocked.
        """
        from sentry.abi.linux.errors import LinuxError

        try:
            f = self.host_file(f"{t.host_tid}/syscall").split()
            if len(f) < 2 or f[0] != b"128":
                return 0
            return int(struct.unpack("<Q", t.mem.read(int(f[1], 16), 8))[0])
        except (OSError, ValueError, LinuxError):
            return 0

    def signal_group(self, tg: ThreadGroup, signo: int, sender: Optional[Task] = None,
                     from_outside: bool = False, code: Optional[int] = None,
                     info: Optional[bytes] = None) -> None:
        """kill(2) semantics for a thread group (*info*: a complete siginfo, as
        :meth:`signal_task` takes it)."""
        if tg is self.init_tg and not from_outside and signo != 0:
            # The pid namespace's init only gets the signals it has a handler
            # for from inside the namespace, SIGKILL and SIGSTOP included.
            if not self.init_has_handler(signo):
                return
        t = self.pick_thread(tg, signo)
        if t is None:
            return
        if signo in (signal.SIGKILL,):
            self._kill_group(tg)
            return
        self.signal_task(t, signo, sender, info=info, code=code)

    # -- boot -------------------------------------------------------------

    def spawn_init(self, stub_fd: int, gadget: int, bpf: bytes,
                   setup: Optional[ProcessSetup] = None) -> None:
        """Start init's host process (fresh namespaces, empty root, the filter, the stub
        exec'd) ahead of :meth:`start_init`, which waits until it is stopped at its exec
        event and loads its program: boot calls it before it builds the mount tree, and
        the process sets itself up on the other CPU meanwhile (~2 ms).  A sentry that
        never starts it kills it at :meth:`shutdown`.

        :raises ProcessSetupError, OSError: as :meth:`start_init`.
        """
        nsflags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET
        self.gadget = gadget
        self.stub_fd, self.bpf = stub_fd, bpf
        self.loop = N.Loop()
        for nr in (39, 110, 186) if not self.python_only else ():
            N.set_fast(nr, True)
        if not self.python_only:
            for nr in (0, 1, 2, 3, 5, 8, 9, 16, 17, 40, SYS_GETDENTS64, SYS_NEWFSTATAT, SYS_STATX,
                       SYS_READLINK, SYS_READLINKAT, SYS_OPENAT, *SYS_ACCESS, *SYS_GETXID,
                       SYS_PRLIMIT64, SYS_RT_SIGACTION, *SYS_GETXATTRS, SYS_FCNTL):
                N.set_fast(nr, True)
            self.sync_stops_plain()
            statcache.enable(N.statcache_bump, N.statcache_put, N.statcache_gen, self._sync_fs,
                             N.statcache_bump_missing, N.statcache_put_listing,
                             N.task_set_exe, N.statcache_put_wire, N.statcache_put_dirc,
                             N.statcache_put_dirc_child, N.statcache_want_statx,
                             N.statcache_forget, N.reopen_put, N.reopen_take,
                             N.statcache_removed, N.statcache_appeared, N.filec_mapx)
            N.reopen_cap(statcache.kept_fds_budget())
            self.dispatcher.pipe_wait = self._pipe_wait
            self.dispatcher.pipe_wait_write = self._pipe_wait_write
            self.dispatcher.pipe_unwait = N.pipe_unwait
            N.dirc_enable(not fsnotify.active)
            locks.on_classic_lock = N.posix_locks
            credentials.on_change = self._sync_creds
        books, host_limits = _start_rlimits(setup)
        self.cpu_hold.end("spawn")  # the child would inherit the sentry's held mask
        try:
            # It sets itself up on the other CPU while boot builds the mount tree
            # (start_init waits for it).
            task = N.spawn_begin(stub_fd, bpf, nsflags, self.host_id, host_limits)
        except N.RlimitError as e:
            raise _rlimit_refused(host_limits, e) from None
        try:
            # What a process joining the sandbox later (exec) enters, in rt.c's order.
            self.ns_fds = [os.open(f"{task.pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC,
                                   dir_fd=self.procfd)
                           for ns in ("pid", "ipc", "uts", "net", "mnt")]
        except OSError:
            N.spawn_abandon(task)
            raise
        self._init_spawned = (task, books)

    def start_init(self, stub_fd: int, gadget: int, bpf: bytes, creds: Credentials,
                   fdtable: Any, fs: Any, argv: List[bytes], envp: List[bytes],
                   path: bytes, hold: bool = False, setup: Optional[ProcessSetup] = None) -> None:
        """Start the sandbox's init in fresh namespaces (:meth:`spawn_init`, unless it
        was called already) and load its program.

        :param hold: leave it stopped before its first instruction until
            :meth:`release_init` (``create``, then ``start``).
        :param setup: what the process gets before its program is loaded
            (``no_new_privs``, resource limits, ``oom_score_adj``).
        """
        if self._init_spawned is None:
            self.spawn_init(stub_fd, gadget, bpf, setup)
        assert self._init_spawned is not None
        (task, books), self._init_spawned = self._init_spawned, None
        host_pid, listener = task.pid, N.spawn_end(task)
        tg = ThreadGroup(self, 1, host_pid)
        tg.rlimits = books
        self.init_tg = tg
        self._start_process(tg, listener, creds, fdtable, fs, argv, envp, path, hold, setup)

    def release_init(self) -> None:
        """Let a held init run its first instruction (``start``)."""
        tg = self.init_tg
        assert tg is not None and tg.held
        tg.held = False
        N.cont(tg.host_tgid, 0)

    def spawn_process(self, creds: Credentials, fdtable: Any, fs: Any, argv: List[bytes],
                      envp: List[bytes], path: bytes,
                      setup: Optional[ProcessSetup] = None) -> ThreadGroup:
        """Start a new process in the running sandbox (``exec``): same pid, mount, ipc,
        uts and net namespaces as init, no parent inside the sandbox (its ppid is 0),
        its own session.  Its exit runs the thread group's ``on_exit`` callbacks.

        :raises OSError: the process could not be made or its program not loaded (the
            errno is the execve's), or the sandbox is at its pids limit (``EAGAIN``).
        """
        if self.pids_limit:
            self.prune_reaped()
            if self.pids_in_use() >= self.pids_limit:
                raise OSError(errno.EAGAIN, "the sandbox is at its pids limit")
        books, host_limits = _start_rlimits(setup)
        host_pid, listener = _spawn(self, 0, self.ns_fds, host_limits)
        tg = ThreadGroup(self, self._sandbox_tid(host_pid), host_pid)
        tg.rlimits = books
        self._start_process(tg, listener, creds, fdtable, fs, argv, envp, path, False, setup)
        return tg

    def _start_process(self, tg: ThreadGroup, listener: int, creds: Credentials,
                       fdtable: Any, fs: Any, argv: List[bytes], envp: List[bytes],
                       path: bytes, hold: bool, setup: Optional[ProcessSetup] = None) -> None:
        host_pid = tg.host_tgid
        tg.listener = listener
        tg.mm = AddressSpace(self, tg)
        t = Task(self, tg, tg.tgid, host_pid, creds, fdtable, fs, HostMemory(host_pid))
        # The nice value is the caller's, inherited through the sentry as runc's
        # container process inherits runc's (OCI has no field for it); an exec's caller
        # says its own.
        if setup is not None and setup.nice is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, host_pid, setup.nice)
            except OSError as e:  # lower than the sentry's: needs the host's CAP_SYS_NICE
                log.warning("exec: keeping nice %d (the host refused %d: %s)",
                            os.getpriority(os.PRIO_PROCESS, host_pid), setup.nice, e.strerror)
        t.nice = os.getpriority(os.PRIO_PROCESS, host_pid)
        policy = os.sched_getscheduler(host_pid)  # likewise (chrt -b / -i)
        if policy in (os.SCHED_BATCH, os.SCHED_IDLE):
            t.sched_policy = policy
        if setup is not None:
            t.no_new_privs = setup.no_new_privs
            tg.oom_score_adj, tg.oom_score_adj_min = setup.oom_score_adj, setup.oom_score_adj_min
        try:
            N.Loop.add_listener(listener)
        except OSError:
            os.close(listener)
            os.kill(host_pid, signal.SIGKILL)
            N.waitpid(host_pid)
            raise
        self.register(t)
        try:
            # The limits are on the host process already (rt_spawn_task: before its
            # program exists, as runc sets them before exec; fork passes them on).
            plan = loader.prepare(t, path, argv, envp, self._open_exec)
        except Exception:
            os.kill(host_pid, signal.SIGKILL)
            N.waitpid(host_pid)
            self._forget_unstarted(t)
            raise
        t.pending_exec = plan
        tg.held = hold
        # Its exec was the stub's own, not notified: lend the program now, so that it is
        # mapped from its file rather than copied (python3's 6.8 MB: ~10 ms a start).
        sig = loader.lend_at_exec_event(t, plan, self.gadget, N.inject_lend,
                                        HostMemory(host_pid).write)
        if self._do_exec(t, host_pid, resume=not hold) and sig:
            N.tgkill(host_pid, host_pid, sig)  # held back meanwhile, as an inject's

    def _forget_unstarted(self, t: Task) -> None:
        self.tasks.pop(t.host_tid, None)
        self.by_tid.pop(t.tid, None)
        N.task_del(t.host_tid)
        self.thread_groups.pop(t.tgid, None)
        if t.tg.mm is not None:
            t.tg.mm.release()

    def _open_exec(self, t: Task, path: bytes):
        assert self.open_exec is not None
        return self.open_exec(t, path)

    def watch_host_fd(self, fd: int, queue: WaitQueue) -> None:
        """Notify *queue* on every readiness edge of host fd *fd* (EPOLLET)."""
        token = fd | N.Loop.TOK_WATCH
        try:
            self.loop.add_fd(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, token)
        except OSError as e:
            if e.errno == errno.EPERM:  # regular files are always ready
                return
            raise
        self.fd_handlers[token] = queue.notify

    def unwatch_host_fd(self, fd: int) -> None:
        if self.fd_handlers.pop(fd | N.Loop.TOK_WATCH, None) is not None:
            N.Loop.del_fd(fd)

    def sync_host_fds(self) -> None:
        """Tell the watched host fds' queues now of the edges that already happened.

        The loop reports an edge only after the notifications queued ahead of it, so a
        loopback send's peer, readable when the send returned, would still look idle to
        a wait that asks right after (epoll's ready list is what it was told)."""
        for token, events in self.loop.take_watched():
            h = self.fd_handlers.get(token)
            if h is not None:
                h(events)

    def add_fd_handler(self, fd: int, events: int, handler: Callable[[int], None]) -> None:
        """Call *handler(events)* from the loop whenever host fd *fd* is ready (level)."""
        self.loop.add_fd(fd, events, fd)
        self.fd_handlers[fd] = handler

    def remove_fd_handler(self, fd: int) -> None:
        if self.fd_handlers.pop(fd, None) is not None:
            N.Loop.del_fd(fd)

    def note_unsupported(self, t: Task, family: str, detail: str) -> bool:
        """*t* asked for something the sentry does not implement where Linux would have
        done it (an ioctl request, an fcntl command, a socket family …): count it for the
        compat report and log it once per (family, detail, binary).  True the first time."""
        return self.compat.note(t.tg.exe_path, family, detail)

    # -- the loop ---------------------------------------------------------

    def run(self) -> int:
        """Serve the sandbox until its init exits; returns the exit status."""
        try:
            while True:
                dl = self._next_deadline()
                # A deadline may be years away (alarm(UINT_MAX)); the wait takes an int of ms.
                timeout = -1 if dl is None else min(max(0, int((dl - time.monotonic()) * 1000) + 1),
                                                    _MAX_WAIT_MS)
                ev = self.loop.next_event(timeout)
                kind = ev.kind
                self._apply_fast_changes()
                if kind == N.EV_NOTIF:
                    notif = (ev.listener, ev.id, ev.pid, ev.nr, tuple(ev.args))
                    if self.paused:
                        self._paused_notifs.append(notif)
                    else:
                        self._on_notif(*notif)
                elif kind == N.EV_PTRACE:
                    self._on_wait(ev.wpid, ev.wstatus)
                elif kind == N.EV_FD:
                    h = self.fd_handlers.get(ev.token)
                    if h is not None:
                        h(ev.events)
                elif kind == N.EV_ERROR:
                    raise OSError(ev.err, "sentry event loop: " + os.strerror(ev.err))
                if self.paused:
                    continue
                if self.timers:
                    self._fire_timers()
                if self.ktimers:
                    self.ktimers.fire()
                self.dispatcher.run_ready()
        except SandboxExit as e:
            return e.status

    # -- pause ----------------------------------------------------------------

    def pause(self) -> None:
        """Stop every workload thread (``pause``), invisibly to the workload.

        A thread in user mode or in a host syscall is stopped by ``PTRACE_INTERRUPT``; a
        thread waiting for the sentry gets no answer, and stops on its way back to user
        mode if a C fast handler answered it.  Every ptrace stop and notification that
        comes meanwhile is kept and handled at :meth:`resume`; timers and parked calls
        wait too.  The sentry itself runs on (the control server answers).
        """
        if self.paused:
            return
        self.paused = True
        self.sync_stops_plain()
        for t in list(self.tasks.values()):
            N.interrupt(t.host_tid)

    def sync_stops_plain(self) -> None:
        """Tell C whether it may resume the host stops it resumes as Python would
        (rt.c ``sigaction_stop_c``): not while paused (they wait for the resume), never
        again once a task of the sandbox was traced by another (its tracer decides)."""
        if not self.python_only:
            N.stops_plain(not self.paused and not self.ptrace_used)

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self.sync_stops_plain()
        stops, self._paused_stops = self._paused_stops, []
        notifs, self._paused_notifs = self._paused_notifs, []
        for pid, status in stops:
            self._on_wait(pid, status)
        for notif in notifs:
            self._on_notif(*notif)
        self.dispatcher.run_ready()

    @staticmethod
    def _pipe_wait(buf: Any, listener: int, notif_id: int, pid: int, addr: int,
                   n: int) -> bool:
        """C may answer a read parked on a pipe, unless inotify watches (its events are
        Python's)."""
        return not fsnotify.active and N.pipe_wait(buf, listener, notif_id, pid, addr, n)

    @staticmethod
    def _pipe_wait_write(buf: Any, listener: int, notif_id: int, pid: int, nr: int, fd: int,
                         a1: int, a2: int, a3: int) -> bool:
        """C may complete a write or sendfile parked on a full pipe, unless inotify
        watches (its events are Python's)."""
        return not fsnotify.active and N.pipe_wait_write(buf, listener, notif_id, pid, nr, fd,
                                                         a1, a2, a3)

    def _apply_fast_changes(self) -> None:
        """Apply what C did since Python last looked: the file mappings it made (named by
        the descriptions at their fds, so before any close), the calls it parked on pipes
        (at the fds they name, so before any close), the parked calls it answered or handed
        back, then its closes, then the directories it opened (a close C served comes back
        to Python at once, so no open C made later can have reused its number before it is
        applied)."""
        while True:
            m = N.mapped_pop()
            if m is None:
                break
            self._name_mapping(*m)
        while True:
            parked = N.parked_pop()
            if parked is None:
                break
            self.dispatcher.adopt(*parked)
        if self.dispatcher.c_waits:  # (C ends only the calls parked there)
            self.dispatcher.pipe_waits_ended(N.pipe_waits_ended())
        while True:
            c = N.closed_pop()
            if c is None:
                break
            fdt_id, fd = c
            table = self.fdtables_by_id.get(fdt_id)
            if table is not None:
                table.close_from_fast(fd)
        while True:
            o = N.opened_pop()
            if o is None:
                return
            fdt_id, fd, serial = o
            table = self.fdtables_by_id.get(fdt_id)
            if table is not None:
                table.opened_in_fast(fd, serial)

    def _name_mapping(self, tid: int, fdt_id: int, fd: int, dev: int, ino: int,
                      path: Optional[bytes], base: int, flags: int, gen: int) -> None:
        """Name in /proc/PID/maps a mapping C made of the host file (*dev*, *ino*) at *fd*
        of table *fdt_id* for the task *tid*, as ``sys_mm.mmap_file`` does: by the
        description there, or, for a file *tid* re-opened in C by *path* (*base*, *flags*,
        *gen*: its key; it may have no description, closed in C since), by what that path
        names from its place, which nothing changed since the open (kept by key: the next
        exec maps the same libraries by the same paths)."""
        t = self.tasks.get(tid)
        mm = t.tg.mm if t is not None else None
        if t is None or mm is None:
            return
        if path is None:
            table = self.fdtables_by_id.get(fdt_id)
            desc = table.lookup(fd) if table is not None else None
            if desc is None:
                return
            name = self.vfs.describe(t, desc)
        else:
            key = (base, flags & abi.O_NOFOLLOW, path, gen)
            name = self._filec_names.get(key)
            if name is None:
                try:
                    vd = self.vfs.resolve(t, abi.AT_FDCWD, path,
                                          follow=not flags & abi.O_NOFOLLOW)
                except Exception as e:  # noqa: BLE001 - a bug: unnamed, the sentry goes on
                    # The sentry changed nothing since C mapped it (it handles this first).
                    log.error("cannot name the mapping of %r C made: %s", path, e)
                    return
                name = self.vfs.path_for_task(t, vd)
                if len(self._filec_names) >= 4096:
                    self._filec_names.clear()
                self._filec_names[key] = name
        mm.name_host_key(dev, ino, os.fsdecode(name))

    def _on_notif(self, listener: int, notif_id: int, pid: int, nr: int, args: tuple) -> None:
        t = self.tasks.get(pid)
        if t is None:
            # A thread the sentry does not know cannot be served.
            N.respond(listener, notif_id, 0, -errno.ENOSYS, 0)
            return
        self.dispatcher.syscall(t, notif_id, nr, args)

    # -- ptrace events ----------------------------------------------------

    def handle_wait_status(self, pid: int, status: int) -> None:
        """A wait status collected outside the loop (during a synchronous ptrace exchange)."""
        self._on_wait(pid, status)

    def _on_wait(self, pid: int, status: int) -> None:
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            if self._paused_stops:
                # A stop kept while paused, of a task that exited since (killed): replayed
                # at the resume, with the task gone, it would read as a new child's first
                # stop and be counted by the pids limit for ever.
                self._paused_stops = [(p, st) for p, st in self._paused_stops if p != pid]
            self._on_exit(pid, status)
            return
        if not os.WIFSTOPPED(status):
            return
        if self.paused:
            self._paused_stops.append((pid, status))
            return
        sig = os.WSTOPSIG(status)
        event = status >> 16
        t = self.tasks.get(pid)
        if t is None:
            # A new child stopped before its parent's fork event was handled.
            self._early_stops[pid] = status
            return
        if t.clone3_child_regs is not None:
            # The first stop of a child of a clone3 run as clone (it has run no code yet).
            from sentry.syscalls.linux.sys_process import restore_clone3_regs

            restore_clone3_regs(pid, t.clone3_child_regs)
            t.clone3_child_regs = None
        if t.ptrace_leftover and ptrace.leftover_stop(self, t, status):
            return
        if self.compat.timing and event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK,
                                            PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC):
            # (the compat report's times: a fork's or an exec's event is its call's)
            if event == PTRACE_EVENT_EXEC:
                plan = t.tg.pending_exec
                nr = plan.nr if plan is not None else SYS_EXECVE
            else:
                nr = t.clone_nr
            mark = self.compat.mark(self.gofer)
            self._on_event(t, pid, event, sig, status)
            self.compat.timed(nr, self.gofer, mark)
            return
        self._on_event(t, pid, event, sig, status)

    def _on_event(self, t: Task, pid: int, event: int, sig: int = 0, status: int = 0) -> None:
        """_on_wait's stop of task *t* (host tid *pid*): *event* (status >> 16), *sig*."""
        if event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE):
            try:
                child = self._on_clone(t, event)
                if not ptrace.event(self, t, event, child.tid):
                    ptrace.host_resume(t)
            except ProcessLookupError:
                # Killed at its event (another thread's exit_group): its exit comes next.
                # (A process it forked then stays stopped, unknown, in _early_stops, until
                # the sandbox's end, counted by the pids limit: pids_in_use.)
                pass
        elif event in (ptrace.PTRACE_EVENT_EXIT, ptrace.PTRACE_EVENT_VFORK_DONE):
            # Host events only a workload tracer asks for (ptrace._sync_host_options).
            msg = N.geteventmsg(pid)
            if event == ptrace.PTRACE_EVENT_VFORK_DONE:
                c = self.tasks.get(msg)
                msg = c.tid if c is not None else 0
            if not ptrace.event(self, t, event, msg):
                ptrace.host_resume(t)
        elif event == PTRACE_EVENT_EXEC:
            self._on_exec_event(t, pid)
        elif event == PTRACE_EVENT_SECCOMP:
            try:
                if self.compat.timing:
                    mark = self.compat.mark(self.gofer)
                    nr = self._on_seccomp_stop(t)
                    self.compat.timed(nr, self.gofer, mark)
                else:
                    self._on_seccomp_stop(t)
            except ProcessLookupError:
                pass  # killed during its stop (another thread's exit_group): its exit next
        elif event == PTRACE_EVENT_STOP:
            hook, t.stop_hook = t.stop_hook, None
            if sig not in STOP_SIGNALS and hook is not None and hook(t):
                # The stop the hook asked for; it resumed the thread.  A tracer's
                # PTRACE_INTERRUPT wanted a stop too: it gets the next one.
                if t.ptrace is not None and t.ptrace.interrupt:
                    N.interrupt(pid)
            elif sig not in STOP_SIGNALS and t.mask_wait is not None and t.mask_wait.own is None:
                self._mask_wait_stop(t)
            elif sig in STOP_SIGNALS:
                # A group stop (job control): the task stays stopped, and
                # PTRACE_LISTEN keeps its events coming (SIGCONT, SIGKILL).  A
                # tracee stays in it for its tracer, who reports it instead.
                if not ptrace.on_group_stop(self, t, status):
                    N.listen(pid)
                self.task_group_stopped(t)
            else:
                # The first stop of an auto-attached child, or the end of a group stop
                # (SIGCONT): run on.  The end is the process's continue whether or not a
                # tracer holds the thread for itself (a listening one re-traps).
                if t.group_stop:
                    self.group_stopped(t.tg, False)
                if not ptrace.on_event_stop(self, t, status):
                    ptrace.host_resume(t)
        elif t.mask_wait is not None and t.mask_wait.own is not None:
            if t.mask_wait.frame_pending and sig == signal.SIGTRAP:
                self._mask_wait_frame(t)
            else:
                self._sandbox_siginfo(t, sig)
                self._mask_wait_deliver(t, sig)
        else:
            # A syscall stop a workload tracer asked for, or a signal-delivery stop:
            # deliver the signal natively (a tracee's tracer decides first).
            if sig == ptrace.SYSCALL_TRAP:
                if not ptrace.syscall_stop(self, t):
                    ptrace.host_resume(t)  # (a tracer's, left behind: nobody's now)
                return
            if not self._sandbox_siginfo(t, sig):
                ptrace.host_resume(t)
                return
            if ptrace.signal_stop(self, t, sig):
                return
            if sig in FAULT_SIGNALS and t.tg is self.init_tg and self._init_fault(t, sig):
                return
            ptrace.host_resume(t, 0 if self.orphaned_stop(t, sig) else sig)

    def _init_fault(self, t: Task, sig: int) -> bool:
        """A fault (SIGSEGV…) in the namespace's init that no handler takes.

        Linux kills an init that faults, but not one that is being traced (the
        tracer might fix it up): the signal would be dropped and the fault
        repeat forever.  So the sentry ends it, and reports the fault signal.
        """
        try:
            code = struct.unpack_from("<i", N.getsiginfo(t.host_tid), 8)[0]
        except OSError:
            return False
        if code <= 0:  # sent by a process, not a fault: init's rules apply
            return False
        bit = 1 << (sig - 1)
        handled = self._sigmask_bits(t, "SigCgt") & bit
        blocked = self._sigmask_bits(t, "SigBlk") & bit
        if handled and not blocked:
            return False
        t.tg.fatal_signal = sig
        self._kill_group(t.tg)
        return True

    @staticmethod
    def _kill_group(tg: ThreadGroup) -> None:
        try:
            os.kill(tg.host_tgid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone; its exit is on the way

    kill_group = _kill_group

    def host_signal(self, signo: int, from_tty: bool) -> None:
        """A signal to the sentry process (kill(1), the terminal): the sandbox's share."""
        tg = self.init_tg
        if tg is None:
            # Before the workload exists: it gets the signal as soon as it does (a
            # terminal's resize or ^Z then means nothing: init reads the size itself).
            if signo not in (signal.SIGWINCH, signal.SIGTSTP):
                self.early_host_signals.append(signo)
            return
        if tg.zombie:
            return
        if from_tty and self.console is not None:
            self._terminal_signal(signo)
            return
        if self.init_has_handler(signo):
            if not from_tty:  # the terminal already delivered it to the workload
                self.signal_group(tg, signo, from_outside=True, code=SI_USER)
            return
        if self.cfg.exit_on_unhandled_signal:
            tg.fatal_signal = signo
            self._kill_group(tg)
        elif not from_tty:
            self.signal_group(tg, signo, from_outside=True, code=SI_USER)

    def _terminal_signal(self, signo: int) -> None:
        """A signal of the console's (^C, ^\\, ^Z, SIGWINCH of a resize) to the sandbox's
        foreground process group of the terminal (TIOCSPGRP's, else init's), as the line
        discipline's kill_pgrp: the pid namespace's init only takes it with a handler."""
        init = self.init_tg
        fg = getattr(self.console, "fg_pgrp", None)
        pgrp = fg if fg is not None else (init.pgid if init is not None else 1)
        for tg in self.process_group(pgrp):
            self.signal_group(tg, signo, code=SI_KERNEL)

    def orphaned_stop(self, t: Task, sig: int) -> bool:
        """Whether delivering *sig* to *t* is a job-control stop Linux does not take
        (``get_signal``: SIGTSTP, SIGTTIN or SIGTTOU without a handler, in a process
        group no parent can continue).  The host's groups are not the sandbox's, so its
        own check cannot say: the sentry drops the signal (after a tracer's say)."""
        return (sig in STOP_SIGNALS and sig != signal.SIGSTOP and self.pgrp_orphaned(t.tg.pgid)
                and not self._sigmask_bits(t, "SigCgt") & 1 << (sig - 1))

    def _kill_orphaned_pgrps(self, tg: ThreadGroup, orphans: List[ThreadGroup]) -> None:
        """``kill_orphaned_pgrp`` at *tg*'s exit: a process group the exit leaves with no
        parent in another group of its session (*tg*'s own, if its parent was that link;
        a child's, the child reparented already) gets SIGHUP then SIGCONT if one of its
        processes is stopped, so that a stopped job nobody can continue ends (or goes on,
        with a handler).  The host's groups are not the sandbox's: its own check cannot."""
        candidates = []
        p = tg.parent
        if p is not None and p.pgid != tg.pgid and p.sid == tg.sid:
            candidates.append(tg.pgid)
        for ctg in orphans:
            if ctg.pgid != tg.pgid and ctg.sid == tg.sid and ctg.pgid not in candidates:
                candidates.append(ctg.pgid)
        for pgid in candidates:
            members = self.process_group(pgid)
            if not any(x.stopped for x in members) or not self.pgrp_orphaned(pgid):
                continue
            for signo in (signal.SIGHUP, signal.SIGCONT):
                for x in members:
                    self.signal_group(x, signo, code=SI_KERNEL)

    def pgrp_orphaned(self, pgrp: int) -> bool:
        """``will_become_orphaned_pgrp``: no member of process group *pgrp* has a parent
        in another group of its session (the only link through which job control can
        continue it)."""
        for tg in self.process_group(pgrp):
            p = tg.parent
            if p is None or p.zombie:
                continue
            if p.pgid != pgrp and p.sid == tg.sid:
                return False
        return True

    def process_group(self, pgid: int) -> List[ThreadGroup]:
        """The thread groups of process group *pgid* that can still take a signal."""
        return [tg for tg in self.thread_groups.values()
                if tg.pgid == pgid and not tg.zombie and not tg.reaped and tg.tasks]

    def task_group_stopped(self, t: Task) -> None:
        """*t* stopped for its group's job-control stop (a tracee for its tracer too).
        The others' calls the sentry holds end, so that they reach the stop too."""
        t.group_stop = True
        tg = t.tg
        tg.stopping = True
        for x in list(tg.tasks.values()):
            if x.parked is not None and not x.group_stop:
                self.dispatcher.interrupt(x, 0, stopping=True)
        self.group_stop_done(tg)

    def group_stop_done(self, tg: ThreadGroup) -> None:
        """Book *tg*'s stop once every thread left has taken part in it (at a thread's
        stop or exit), as the kernel does (SIGNAL_STOP_STOPPED, the parent's SIGCHLD):
        before that, the host's wait(WUNTRACED) the sentry lets run has nothing to
        report and blocks, and a signal that ends it (another child's SIGCHLD) restarts
        it into a wait the sentry would take for an already reported stop."""
        if tg.stopped or not tg.stopping or not tg.tasks:
            return  # (no stop under way: a thread's exit costs no walk of the others)
        missing = [x for x in tg.tasks.values() if not x.group_stop]
        if not missing or (len(missing) == 1 and self.leader_gone(missing[0])):
            # (the kernel does not wait for an exited main thread either)
            self.group_stopped(tg, True)

    def leader_gone(self, t: Task) -> bool:
        """Whether *t* is a main thread that exited while its threads run on: the host's
        zombie, of which the sentry hears only when the last one goes (so it is still in
        its books).  It takes no signal and no part in a stop, and lists as no thread."""
        if t.tid != t.tg.tgid or len(t.tg.tasks) < 2:
            return False
        try:
            raw = self.host_file(f"{t.host_tid}/status")
        except OSError:
            return True
        return b"\nState:\tZ" in raw or b"\nState:\tX" in raw

    def group_stopped(self, tg: ThreadGroup, stopped: bool) -> None:
        """Book a job-control stop or continue for wait(WUNTRACED/WCONTINUED).  A
        continue of a stop some threads took part in, not all, is one too (the kernel's
        SIGNAL_STOP_CONTINUED is set whether or not the stop had ended)."""
        if stopped:
            if tg.stopped:
                return
            tg.stopped = True
            tg.stop_pending, tg.cont_pending = True, False
        else:
            if not tg.stopped and not any(x.group_stop for x in tg.tasks.values()):
                return
            for x in tg.tasks.values():
                x.group_stop = False
            tg.stopped = tg.stopping = False
            tg.stop_pending, tg.cont_pending = False, True
        parent = tg.parent
        if parent is not None:
            parent.child_events.notify()
            pt = self.pick_thread(parent, signal.SIGCHLD)
            if pt is not None:
                self.after_signal(pt, signal.SIGCHLD)

    def _on_clone(self, parent: Task, event: int) -> Task:
        child_host = N.geteventmsg(parent.host_tid)
        flags = parent.pending_clone
        parent.pending_clone = None
        saved, parent.clone3_saved = parent.clone3_saved, None
        parent.clone3_as_clone = None
        if saved is not None:
            # A clone3 run as clone: both threads get back the registers it changed.
            from sentry.syscalls.linux.sys_process import restore_clone3_regs

            restore_clone3_regs(parent.host_tid, saved)
        if flags is None:
            flags = {PTRACE_EVENT_FORK: signal.SIGCHLD,
                     PTRACE_EVENT_VFORK: CLONE_VM | CLONE_VFORK | signal.SIGCHLD}.get(event, 0)
        tid = self._sandbox_tid(child_host)
        if flags & CLONE_THREAD:
            tg = parent.tg
            fdtable, fs = parent.fdtable, parent.fs
        else:
            tg = ThreadGroup(self, tid, child_host)
            tg.listener = parent.tg.listener
            ptg = parent.tg.parent if flags & CLONE_PARENT and parent.tg.parent else parent.tg
            tg.parent = ptg
            ptg.children[tid] = tg
            tg.exit_signal = flags & 0xFF
            tg.exe_path, tg.argv, tg.envp, tg.comm = (parent.tg.exe_path, parent.tg.argv,
                                                       parent.tg.envp, parent.tg.comm)
            tg.exe_vd = parent.tg.exe_vd  # the copied mm runs the same file
            if tg.exe_vd is not None:
                tg.exe_vd.dentry.inode.deny_write_access()
            tg.auxv = parent.tg.auxv
            tg.pgid, tg.sid = parent.tg.pgid, parent.tg.sid
            tg.sa_restart = set(parent.tg.sa_restart)
            tg.sa_forced = dict(parent.tg.sa_forced)
            tg.sigchld_nocldstop = parent.tg.sigchld_nocldstop
            tg.oom_score_adj = parent.tg.oom_score_adj
            tg.oom_score_adj_min = parent.tg.oom_score_adj_min
            tg.rlimits = dict(parent.tg.rlimits)
            tg.mm = parent.tg.mm.fork(tg) if parent.tg.mm is not None else AddressSpace(self, tg)
            fdtable = parent.fdtable if flags & CLONE_FILES else parent.fdtable.fork()
            if flags & CLONE_FILES:
                self._files_shared_by_processes.add(fdtable)
            fs = parent.fs if flags & CLONE_FS else parent.fs.fork()
        creds = parent.creds if flags & CLONE_THREAD else parent.creds.copy()
        child = Task(self, tg, tid, child_host, creds, fdtable, fs, HostMemory(child_host))
        child.nice, child.sched_policy = parent.nice, parent.sched_policy
        child.ioprio, child.personality = parent.ioprio, parent.personality
        if parent.sched_reset_on_fork:
            # SCHED_FLAG_RESET_ON_FORK: the child starts with nice 0 or more (sched_fork;
            # the sandbox's policies are all normal ones, which it keeps).
            if parent.nice < 0:
                child.nice = 0
                try:
                    os.setpriority(os.PRIO_PROCESS, child_host, 0)
                except OSError:
                    pass
        child.no_new_privs = parent.no_new_privs
        keys.on_clone(parent, child, bool(flags & CLONE_THREAD))
        self.register(child)
        cn_proc.proc_fork(parent, child, flags)
        if flags & CLONE_PIDFD:
            from sentry.syscalls.linux.sys_process import clone_pidfd

            clone_pidfd(parent, child)
        ptrace.on_clone(self, parent, child, event, flags)
        if not flags & CLONE_THREAD:
            self.cpu_hold.forked(parent, child)
        st = self._early_stops.pop(child_host, None)
        if saved is not None:
            if st is not None:
                restore_clone3_regs(child_host, saved)
            else:
                child.clone3_child_regs = saved  # put back at its first stop (_on_wait)
        if st is not None:
            # Its first stop, as if it came now: the trap of an auto-attached child, or
            # the stop of a group stop it joined at its birth (the host counts it as
            # taken part: it must stay stopped, and the sentry count it, as any other).
            self._on_event(child, child_host, st >> 16, os.WSTOPSIG(st), st)
        return child

    def _on_exit(self, pid: int, status: int) -> None:
        t = self.tasks.pop(pid, None)
        N.task_del(pid)
        if t is None:
            self._early_stops.pop(pid, None)
            return
        t.exited = True
        self.cpu_hold.task_exited(t)
        cn_proc.proc_exit(t, status)
        keys.on_exit(t)
        self.dispatcher.drop(t)
        if t.ptrace is not None or t.ptracees or t.ptrace_zombies:
            ptrace.on_exit(self, t, status)
        tg = t.tg
        self.by_tid.pop(t.tid, None)
        tg.tasks.pop(t.tid, None)
        if t.tid != tg.tgid:
            tg.pidfd_queue.notify(EVENT_IN | EVENT_HUP)  # a thread pidfd's thread is reaped
            self.group_stop_done(tg)  # (the stop waited for this thread no more)
            return
        # The leader's exit, as the tracer sees it, is the process's exit.
        for other in list(tg.tasks.values()):
            self.tasks.pop(other.host_tid, None)
            self.by_tid.pop(other.tid, None)
            N.task_del(other.host_tid)
            self.dispatcher.drop(other)
            other.exited = True
            keys.on_exit(other)
            if other.ptrace is not None or other.ptracees or other.ptrace_zombies:
                ptrace.on_exit(self, other, status)
        tg.tasks.clear()
        tg.exit_uid = t.creds.uid
        tg.exit_status = status
        tg.zombie = True
        tg.pidfd_queue.notify(EVENT_IN)
        self.release_exe(tg)  # exit_mm: the program is writable again
        if t.fdtable is not None and not any(x.fdtable is t.fdtable for x in self.tasks.values()):
            t.fdtable.release_all(tg)
        self.timers.pop(tg.tgid, None)
        posix_timers.delete_all(tg)
        if tg is self.init_tg:
            self.exit_status = status
            if tg.fatal_signal:
                raise SandboxExit(128 + tg.fatal_signal)
            raise SandboxExit(os.WEXITSTATUS(status) if os.WIFEXITED(status)
                              else 128 + os.WTERMSIG(status))
        if tg.parent is None:
            # An exec'd process: the sentry is its host parent and has reaped it.
            self.forget_thread_group(tg)
        for cb in tg.on_exit:
            cb(status)
        tg.on_exit.clear()
        # Orphans go to init, as the host kernel does in the pid namespace.
        init = self.init_tg
        orphans = list(tg.children.values())
        for ctg in orphans:
            ctg.parent = init
            if init is not None:
                init.children[ctg.tgid] = ctg
            for ct in ctg.tasks.values():
                self.sync_fast(ct)
        tg.children.clear()
        self._kill_orphaned_pgrps(tg, orphans)
        parent = tg.parent
        if parent is not None:
            parent.child_events.notify()
            if tg.exit_signal:
                pt = self.pick_thread(parent, tg.exit_signal)
                if pt is not None:
                    self.after_signal(pt, tg.exit_signal)

    # -- exec ---------------------------------------------------------------

    def _on_seccomp_stop(self, t: Task) -> int:
        """A traced call's stop; returns its number.

        :raises ProcessLookupError: the task is gone (killed since the stop)."""
        pid = t.host_tid
        regs = N.getregs(pid)
        nr = regs[N.ORIG_RAX]
        if not (nr in (SYS_EXECVE, SYS_EXECVEAT) and t.tg.pending_exec_rewritten == pid):
            self.compat.count(nr)  # (a rewritten exec's second stop is the same call)
        if nr in (SYS_EXECVE, SYS_EXECVEAT):
            if t.tg.pending_exec_rewritten == pid:
                ptrace.host_resume(t)
                return SYS_EXECVE if t.tg.pending_exec is None else t.tg.pending_exec.nr
            self._exec_trap(t, regs)
        elif nr == SYS_RT_SIGACTION:
            from sentry.syscalls.linux import sys_signal
            sys_signal.sigaction_stop(self, t, regs)
        elif nr in (SYS_CLONE, SYS_FORK, SYS_VFORK, SYS_CLONE3):
            from sentry.abi.linux.errors import LinuxError
            from sentry.syscalls.linux import sys_process
            # The clone a clone3 became, started again (a signal came before the host ran
            # it: ERESTARTNOINTR): still that clone3, whose registers its parent and child
            # get back (its registers and rip are those the sentry set).
            booked = t.clone3_as_clone
            again = nr == SYS_CLONE and t.clone3_saved is not None and booked is not None \
                and booked[0] == _clone_regs(regs)
            t.clone_nr = SYS_CLONE3 if again else nr
            try:
                if again:
                    assert booked is not None
                    if t.pending_clone is None:  # (a handler's call came between: booked again)
                        sys_process.book_clone(t, booked[1] or 0, booked[2])
                elif nr == SYS_CLONE3:
                    # A booking still here is of a clone the host never made (no event
                    # came: a signal restarted it, ERESTARTNOINTR); counted again by the
                    # pids check, it refused a fork at the limit (299 of 300).
                    t.pending_clone = None
                    t.clone3_saved = sys_process.clone3_stop(t, regs)
                    N.setregs(pid, regs)  # now a clone(2) with its arguments in registers
                    t.clone3_as_clone = (_clone_regs(regs), t.pending_clone,
                                         t.pending_pidfd_addr)
                else:
                    t.clone3_saved = t.clone3_as_clone = None
                    t.pending_clone = None  # (as above)
                    sys_process.clone_stop(t, nr, regs[N.RDI], regs[N.RDX])
                    if nr == SYS_CLONE and regs[N.RDI] & sys_process.CLONE_PIDFD:
                        regs[N.RDI] &= ~sys_process.CLONE_PIDFD  # the sentry's pidfd
                        N.setregs(pid, regs)
            except LinuxError as e:
                t.clone3_saved = t.clone3_as_clone = None
                regs[N.ORIG_RAX] = U64
                regs[N.RAX] = (-e.errno) & U64
                N.setregs(pid, regs)
            if self.cfg.strace:
                self.strace_raw(t, f"{linux64.NAMES[nr]}({regs[N.RDI]:#x}) -> host")
            ptrace.host_resume(t)
        else:
            # Nothing else is traced; fail the call rather than run it blind.
            regs[N.ORIG_RAX] = U64
            regs[N.RAX] = (-errno.ENOSYS) & U64
            N.setregs(pid, regs)
            ptrace.host_resume(t)
        return nr

    def run_to_syscall_exit(self, t: Task) -> Optional[int]:
        """From a seccomp stop, run the (possibly rewritten) call to its exit stop.

        Returns the raw ``rax``, the task still stopped; ``None`` if it died.
        Signals that arrive meanwhile are re-queued after the caller resumes it.
        """
        pid = t.host_tid
        N.syscall_cont(pid, 0)
        while True:
            _w, status = N.waitpid(pid)
            if not os.WIFSTOPPED(status):
                self.handle_wait_status(pid, status)
                return None
            sig = os.WSTOPSIG(status)
            if sig in (signal.SIGTRAP, ptrace.SYSCALL_TRAP) and status >> 16 == 0:
                return N.getregs(pid)[N.RAX]
            t.requeue_signals.append(sig)
            N.syscall_cont(pid, 0)

    def resume_after_stop(self, t: Task, syscall_exit: bool = False) -> None:
        """Resume a task stopped by the sentry, re-queueing signals it held back.

        :param syscall_exit: it is at the exit stop of its own call
            (:meth:`run_to_syscall_exit`), which its tracer may have asked to see.
        """
        if not (syscall_exit and ptrace.syscall_exit(self, t)):
            ptrace.host_resume(t)
        sigs, t.requeue_signals = t.requeue_signals, []
        for sig in sigs:
            N.tgkill(t.tg.host_tgid, t.host_tid, sig)

    def _fdtable_shared(self, t: Task) -> bool:
        """Whether another process may use *t*'s fd table (a ``CLONE_FILES`` clone without
        ``CLONE_THREAD`` shared it, then its host fd table too); not undone when the
        other exits, so the loader lends nothing to such a table's processes."""
        return t.fdtable in self._files_shared_by_processes

    def _exec_trap(self, t: Task, regs: List[int]) -> None:
        from sentry.abi.linux.errors import LinuxError
        pid = t.host_tid
        nr = regs[N.ORIG_RAX]
        try:
            if nr == SYS_EXECVE:
                path_ptr, argv_ptr, envp_ptr = regs[N.RDI], regs[N.RSI], regs[N.RDX]
                dirfd, flags = -100, 0
            else:
                dirfd = _signed(regs[N.RDI]) & 0xFFFFFFFF
                dirfd = dirfd - (1 << 32) if dirfd >> 31 else dirfd
                path_ptr, argv_ptr, envp_ptr, flags = regs[N.RSI], regs[N.RDX], regs[N.R10], regs[N.R8]
            path = t.mem.read_cstring(path_ptr)
            path_len = len(path)  # (the stub's exec below names "": the NUL after it)
            argv = t.mem.read_string_array(argv_ptr)
            envp = t.mem.read_string_array(envp_ptr)
            if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
                raise LinuxError(errno.EINVAL)
            if dirfd != -100 and (not path.startswith(b"/") or not path):
                # execveat relative to a directory fd, or of the fd itself.
                if not path:
                    if not flags & AT_EMPTY_PATH:
                        raise LinuxError(errno.ENOENT)
                    path = self.vfs.describe(t, t.fdtable.get(dirfd))
                else:
                    base = self.vfs.path_for_task(t, self.vfs.fd_vd(t, dirfd))
                    path = base.rstrip(b"/") + b"/" + path
            plan = loader.prepare(t, path, argv, envp, self._open_exec)
            plan.nr = nr
        except LinuxError as e:
            regs[N.ORIG_RAX] = U64
            regs[N.RAX] = (-e.errno) & U64
            N.setregs(pid, regs)
            ptrace.host_resume(t)
            if self.cfg.strace:
                self.strace_raw(t, f"execve(...) = -{errno.errorcode.get(e.errno, e.errno)}")
            return
        if self.cfg.strace:
            self.strace_raw(t, f"execve({plan.execfn!r}, {plan.argv!r}) -> loader")
        if len(t.tg.tasks) > 1:
            self.cpu_hold.release_group(t.tg, "exec")
            for other in t.tg.tasks.values():
                if other is not t:
                    self.dispatcher.take_back_from_c(other)
        if t.tg.pending_exec is not None:
            t.tg.pending_exec.release_exe()
        t.tg.pending_exec = plan
        t.tg.pending_exec_rewritten = pid
        # Replace the call by execveat(STUB_FD, "", NULL, NULL, AT_EMPTY_PATH): the host
        # gives the task a fresh address space running the stub.  The "" is the NUL
        # that ends the path the sentry just read.  Marked, the call is notified
        # (the filter re-runs after this stop) and the loader lends the program's host
        # fds then; not while another process shares the fd table (it could put another
        # file at those numbers before the exec), nor when the task holds them already.
        regs[N.ORIG_RAX] = SYS_EXECVEAT
        regs[N.RDI] = STUB_FD
        regs[N.RSI] = path_ptr + path_len
        regs[N.RDX] = 0
        regs[N.R10] = 0
        regs[N.R8] = AT_EMPTY_PATH
        to_lend = plan.to_lend()
        lend = (bool(to_lend) and not self._fdtable_shared(t)
                and not loader.held_already(t, to_lend))
        regs[N.R9] = loader.LEND_MARK if lend else 0
        N.setregs(pid, regs)
        ptrace.host_resume(t)

    def _on_exec_event(self, t: Task, pid: int) -> None:
        tg = t.tg
        former = N.geteventmsg(pid)
        former_tid = t.tid
        if former != pid:
            # A non-leader thread exec'd: it now has the leader's tid, whose task goes on
            # as the new program's, with no call of the leader's parked.
            leader = self.tasks.get(pid)
            if leader is not None:
                self.dispatcher.drop(leader)
            old = self.tasks.pop(former, None)
            if old is not None:
                former_tid = old.tid
                self.by_tid.pop(old.tid, None)
                tg.tasks.pop(old.tid, None)
                N.task_del(former)
        for other in list(tg.tasks.values()):
            if other.host_tid != pid:
                self.tasks.pop(other.host_tid, None)
                self.by_tid.pop(other.tid, None)
                tg.tasks.pop(other.tid, None)
                N.task_del(other.host_tid)
                self.dispatcher.drop(other)
                if other.ptrace is not None or other.ptracees or other.ptrace_zombies:
                    other.exited = True
                    ptrace.on_exit(self, other, signal.SIGKILL)
        t = self.tasks.get(pid) or t
        plan = tg.pending_exec
        tg.pending_exec = None
        tg.pending_exec_rewritten = 0
        if plan is None:
            log.error("exec event without a prepared image in %r", t)
            self._kill_group(tg)
            return
        if self._do_exec(t, pid, plan, resume=False) and not ptrace.after_exec(self, t,
                                                                              former_tid):
            ptrace.host_resume(t)

    def _do_exec(self, t: Task, pid: int, plan: Any = None, resume: bool = True) -> bool:
        """Load *plan* into *t* at its exec event; False: it failed and the process is
        being killed."""
        if plan is None:
            plan = t.pending_exec
            t.pending_exec = None
        tg = t.tg
        if plan.creds is not None:
            self._exec_creds(t, plan)
        regs = N.getregs(pid)
        inj = loader.Injector(pid, self.gadget, self.open_mem, N.inject, HostMemory(pid).write,
                              N.inject_batch)
        try:
            new = loader.apply(t, plan, inj, regs, lambda a, n: N.mem_read(pid, a, n),
                               os.urandom(16))
        except Exception:
            log.exception("exec of %r failed after the point of no return", plan.path)
            plan.release_exe()
            self._kill_group(tg)
            return False
        finally:
            inj.close()
            plan.close_fds()
        if tg.mm is None:
            tg.mm = AddressSpace(self, tg)
        tg.mm.reset(plan.mapped, plan.names)
        tg.exe_path = plan.path
        self.release_exe(tg)  # the old image's program
        tg.exe_vd, plan.exe_vd = plan.exe_vd, None
        tg.sa_restart = set()  # exec resets every handler
        tg.sa_forced = {}
        self.sync_process(tg)
        tg.sigchld_nocldstop = False
        posix_timers.delete_all(tg)  # exit_itimers
        keys.on_exec(t)
        tg.argv = plan.argv
        tg.envp = plan.envp
        # Linux names the task after the path given to execve, not the resolved
        # file (a busybox applet run as /bin/sh is "sh").
        tg.comm = os.path.basename(plan.execfn)[:15]
        statcache.self_exe_at_exec(t, self.vfs)
        cn_proc.proc_exec(t)
        if t.fdtable is not None:
            t.fdtable.close_on_exec(tg)
        N.setregs(pid, new)
        for sig in inj.signals:
            N.tgkill(tg.host_tgid, pid, sig)
        if resume:
            ptrace.host_resume(t)
        return True

    @staticmethod
    def _exec_creds(t: Task, plan: Any) -> None:
        """Install the credentials execve computed (fs/exec.c ``begin_new_exec`` and
        ``commit_creds``): a process whose ids or privileges change stops being dumpable
        and loses its parent-death signal."""
        old, new = t.creds, plan.creds
        t.creds = new
        cn_proc.proc_id(t, old)
        t.kernel._sync_ids(t)
        if statcache.enabled():
            t.kernel._sync_stat_view(t)
        t.tg.dumpable = 0 if old.euid != old.uid or old.egid != old.gid else 1
        if privilege_changed(new, old):
            t.tg.dumpable = 0
            t.pdeathsig = 0
        if plan.secure:
            t.pdeathsig = 0
            t.personality &= ~0x0740000  # PER_CLEAR_ON_SETID

    def shutdown(self) -> None:
        """Kill whatever is left of the sandbox and release its files."""
        if self._init_spawned is not None:  # made, never started (boot failed)
            (task, _), self._init_spawned = self._init_spawned, None
            N.spawn_abandon(task)
        tg = self.init_tg
        if tg is not None and not tg.zombie:
            try:
                os.kill(tg.host_tgid, signal.SIGKILL)
            except OSError:
                pass
            else:
                # Every task is the sentry's tracee, so an exited one waits for the
                # sentry's wait before its parent can reap it, and a dying init waits
                # (zap_pid_ns_processes) until all of them are reaped: reap them all,
                # not only init, or both sides wait forever.
                while True:
                    try:
                        w, _st = N.waitpid(-1)
                    except OSError:
                        break
                    if w == tg.host_tgid:
                        break
        for fd in self.ns_fds:
            os.close(fd)
        self.ns_fds = []
        for table in list(self.fdtables_by_id.values()):
            try:
                table.release_all()
            except Exception:
                log.exception("releasing an fd table at shutdown")
        for g in list(self.thread_groups.values()):
            if g.mm is not None:
                g.mm.release()

    # -- strace -------------------------------------------------------------

    def strace_log(self, t: Task, nr: int, args: Any, ret: Optional[int]) -> None:
        from sentry.kernel.strace import format_call
        self.strace_raw(t, format_call(t, nr, args, ret))

    def strace_raw(self, t: Task, text: str) -> None:
        log.info("[%5d] %s", t.tid, text)
