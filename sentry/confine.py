"""The sentry confines itself once the workload may run (:func:`confine_sentry`).

Until then the sentry is host root: it starts the gofer, builds the mount tree, spawns
init in fresh namespaces, binds the control socket.  From then on it needs none of that:
files come from the gofer, memory and registers of tasks it already traces, sockets from
calls in the sandbox's network namespace (where it already is), and new processes for
``exec`` from the supervisor (:mod:`sentry.supervisor`).  So, in this order:

1. Every module it could import later is imported now or can be imported from the code
   bundle without opening a file (its root is about to be empty; :func:`preload`).
2. A mount namespace of its own whose root is an empty read-only tmpfs (``pivot_root``,
   the old root detached): no host path is left to open.
3. It becomes the workload's host identity (``Kernel.host_id``: uid and gid, no groups)
   with no capability but ``CAP_NET_BIND_SERVICE`` (workloads bind low ports through its
   host sockets), an empty bounding set, ``no_new_privs`` and not dumpable.  Its tracees
   have the same uid, so ptrace, ``process_vm_*`` and ``/proc/PID/mem`` still work on
   them and on nothing else (no ``CAP_SYS_PTRACE``: a host process of another uid is out
   of reach); not dumpable, it cannot itself be traced by a workload process that got
   past its filter.
4. A seccomp filter from :data:`SYSCALLS`, the host calls it makes while serving, with
   argument checks: path calls only relative to a directory fd it holds (never the
   empty cwd; the calls without one fail), ``socket`` only for the families the sandbox
   offers, no ``TIOCSTI`` or ``TIOCLINUX`` on a donated terminal.  Any other call kills the sentry (and so, by
   ``PTRACE_O_EXITKILL``, the whole sandbox): fail closed.  Not in the list, among
   others: ``execve``, ``clone``/``fork``, ``mount``, ``setns``, ``unshare``, ``bpf``,
   ``io_uring_*``, ``perf_event_open``, module and key calls, ``open`` (without ``at``).

``ptrace``'s target cannot be checked by a filter; the uid is what limits it to the
sandbox's own processes.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import importlib.machinery
import os
import _signal as signal
import sys
import time

from sentry import logger
from gofer import bpf

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

log = logger.get("sentry")

#: The host calls the sentry makes after start, by what they are for.
SYSCALLS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("files it holds", (
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
        "lseek", "ioctl", "fstat", "fstatfs", "getdents64", "ftruncate", "fallocate",
        "fsync", "fdatasync", "fchmod", "fchown", "sendfile", "splice", "tee", "vmsplice",
        "copy_file_range", "memfd_create", "pipe2", "flock",
    )),
    ("paths under a directory fd it holds", (
        "openat", "newfstatat", "statx", "readlinkat", "faccessat", "faccessat2",
        "unlinkat", "mkdirat", "renameat2", "fchownat", "fchmodat", "utimensat", "linkat",
        "symlinkat", "mknodat",
    )),
    ("paths without a directory fd", (
        "open", "creat", "stat", "lstat", "access", "readlink", "unlink", "rmdir", "mkdir",
        "rename", "link", "symlink", "chmod", "chown", "lchown", "mknod", "utimes",
    )),
    ("memory", (
        "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mincore",
    )),
    ("the event loop", (
        "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
        "poll", "ppoll", "select", "pselect6", "eventfd2", "timerfd_create",
        "timerfd_settime", "timerfd_gettime", "signalfd4", "futex", "nanosleep",
        "clock_nanosleep", "sched_yield",
    )),
    ("tasks it traces", (
        "ptrace", "process_vm_readv", "process_vm_writev", "wait4", "waitid", "kill",
        "tgkill", "tkill", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "prlimit64",
        "getpriority", "setpriority", "sched_getaffinity", "sched_setaffinity",
        "sched_getscheduler", "sched_setscheduler", "sched_getparam", "sched_setparam",
        "getpgid", "setpgid", "getsid", "kcmp",
    )),
    ("sockets", (
        "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
        "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "shutdown",
        "getsockname", "getpeername", "setsockopt", "getsockopt",
    )),
    ("signals", (
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
        "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack",
        "restart_syscall",
    )),
    ("facts", (
        "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
        "getresuid", "getresgid", "getgroups", "getpgrp", "uname", "getrandom",
        "clock_gettime", "clock_getres", "gettimeofday", "time", "getrusage", "times",
        "sysinfo", "getrlimit", "getcwd", "umask", "getcpu", "rseq", "set_robust_list",
    )),
    ("the end", ("exit", "exit_group")),
)

#: Path calls whose first argument is a directory fd: denied (EACCES) for AT_FDCWD.
_FDCWD_CALLS = ("openat", "newfstatat", "statx", "readlinkat", "faccessat", "faccessat2",
                "unlinkat", "mkdirat", "fchownat", "fchmodat", "utimensat", "mknodat")
#: Path calls that take no directory fd: refused (EACCES) whatever their arguments, so a
#: path relative to the (empty) root or cwd fails rather than kill the sentry (the control
#: socket's unlink at the end does that, for one).
_CWD_CALLS = ("open", "creat", "stat", "lstat", "access", "readlink", "unlink", "rmdir",
              "mkdir", "rename", "link", "symlink", "chmod", "chown", "lchown", "mknod",
              "utimes")
#: renameat2/linkat/symlinkat: both directory arguments.
_FDCWD_PAIRS = (("renameat2", 0, 2), ("linkat", 0, 2), ("symlinkat", 1, 1))

_AT_FDCWD = 0xFFFFFF9C
_LOW32 = 0xFFFFFFFF
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
_AF_UNIX, _AF_INET, _AF_INET6, _AF_NETLINK = 1, 2, 10, 16
_NETLINK_ROUTE = 0

_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_REC, _MS_PRIVATE, _MNT_DETACH = 0x4000, 1 << 18, 2
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_KEEPCAPS, _PR_CAPBSET_DROP = 1, 4, 8, 24
_PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
_CAP_NET_BIND_SERVICE = 10
_SYS_CAPSET, _SYS_PIVOT_ROOT = 126, 155

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _sys(nr: int, *args: Any) -> int:
    r = _libc.syscall(ctypes.c_long(nr), *args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(r)


def _prctl(option: int, a2: int = 0, a3: int = 0) -> None:
    if _libc.prctl(option, ctypes.c_ulong(a2), ctypes.c_ulong(a3), ctypes.c_ulong(0),
                   ctypes.c_ulong(0)) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl({option}): {os.strerror(e)}")


def confine_sentry(kernel: Any, link: Any) -> None:
    """Confine this process (the sentry) as the module says; *link* is the supervisor's
    (:class:`sentry.supervisor.SentryLink`), which starts exec'd processes from now on.

    :raises OSError: a step failed; the caller must not go on serving the workload.
    """
    kernel.spawner = link.spawn
    kernel.reopen = link.reopen
    preload()
    programs = filter_programs()
    empty_root()
    drop_privileges(kernel.host_id, kernel.sandbox_pid)
    install_filter(programs)
    log.debug("sentry confined: uid %d, empty root, %d host calls allowed",
              kernel.host_id, len(allowed_calls()))


_preloaded = False
#: The modules :func:`preload` left to be imported at their first use.
_later: List[str] = []

#: What boot imports (``sentry.boot._run_sentry``), with all they import: the kernel, the
#: VFS and the file systems of the mount tree, the loader, the gofer client.  Most syscall
#: handler modules are not among them (``linux64.handler`` imports one at its first call).
BOOT_MODULES = ("gofer.client", "sentry.kernel.kernel", "sentry.kernel.task",
                "sentry.mm.memory", "sentry.precompute", "sentry.vfs.fscontext",
                "sentry.fsimpl.proc.sysctl", "sentry.vfs.mount_tree", "sentry.control.server")

#: Never imported by a sandbox's sentry: the gofer's server; the workload filter's
#: builder, needed (with pyseccomp) at boot only if the install-time cache has not got its
#: program (sentry.precompute).
_NEVER = ("gofer.server", "sentry.platform.hybrid.filter")


def preload() -> None:
    """Import what boot needs, and make sure every other module of the sentry and the
    gofer client can still be imported once the sentry is confined (its root empty): from
    the code bundle (``runsc_py.codebundle``), checked against its source now and with what
    it imports from outside the project imported now, or else (no bundle, or a module
    edited since it was built) imported now from its file.  Boot calls it while the gofer
    starts; the prestarted sentry, while it waits for its work (and then
    :func:`import_more`)."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    for name in BOOT_MODULES:
        importlib.import_module(name)
    from runsc_py import codebundle

    finder = codebundle.installed()
    import gofer
    import sentry

    for pkg in (sentry, gofer):
        for name in _submodules(pkg.__path__[0], pkg.__name__):
            if name in sys.modules or name.endswith("__main__") or name in _NEVER:
                continue
            if finder is not None and finder.importable_later(name):
                _later.append(name)
            else:
                importlib.import_module(name)
    time.localtime()  # libc reads the time zone file once


def import_more(stop: Callable[[], bool]) -> None:
    """Import the modules :func:`preload` left for later, one at a time until *stop*
    says to (the prestarted sentry's work has come)."""
    while _later and not stop():
        name = _later.pop(0)
        if name not in sys.modules:
            importlib.import_module(name)


def _submodules(path: str, prefix: str) -> Iterator[str]:
    """The modules and packages below the package directory *path* (what
    ``pkgutil.walk_packages`` finds, at a tenth of its cost: one ``scandir`` a directory,
    no ``inspect.getmodulename`` a file)."""
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        name = entry.name
        if entry.is_dir():
            if name.isidentifier() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                yield f"{prefix}.{name}"
                yield from _submodules(entry.path, f"{prefix}.{name}")
            continue
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                mod = name[: -len(suffix)]
                if mod.isidentifier() and mod != "__init__":
                    yield f"{prefix}.{mod}"
                break


_SUFFIXES = tuple(sorted(importlib.machinery.all_suffixes(), key=len, reverse=True))


def empty_root() -> None:
    """A mount namespace of its own rooted at an empty read-only tmpfs, the old root
    detached (as rt.c does for init)."""
    from gofer import linux

    linux.unshare(_CLONE_NEWNS)
    linux.mount(None, b"/", None, _MS_REC | _MS_PRIVATE)
    for target in (b"/mnt", b"/tmp", b"/run", b"/var", b"/"):
        if _libc.mount(b"none", target, b"tmpfs", ctypes.c_ulong(_MS_NOSUID | _MS_NODEV | _MS_NOEXEC),
                       b"size=4k,mode=0555") == 0:
            break
    else:
        e = ctypes.get_errno()
        raise OSError(e, f"mount of an empty tmpfs: {os.strerror(e)}")
    os.chdir(target)
    _sys(_SYS_PIVOT_ROOT, b".", b".")
    if _libc.umount2(b".", _MNT_DETACH) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount2: {os.strerror(e)}")
    os.chdir("/")
    if _libc.mount(None, b"/", None, ctypes.c_ulong(_MS_REMOUNT | _MS_RDONLY | _MS_NOSUID
                                                   | _MS_NODEV | _MS_NOEXEC), None) < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"remount of the empty root: {os.strerror(e)}")


def drop_privileges(host_id: int, supervisor: int) -> None:
    """Become *host_id*:*host_id* with only CAP_NET_BIND_SERVICE, for good."""
    for cap in range(64):
        if cap == _CAP_NET_BIND_SERVICE:
            continue
        try:
            _prctl(_PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno == errno.EINVAL:
                break
            raise
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    _prctl(_PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(host_id, host_id, host_id)
    os.setresuid(host_id, host_id, host_id)
    _prctl(_PR_SET_KEEPCAPS, 0)
    bit = 1 << _CAP_NET_BIND_SERVICE
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (ctypes.c_uint32 * 6)(bit, bit, 0, 0, 0, 0)  # effective, permitted, inheritable
    _sys(_SYS_CAPSET, hdr, data)
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    # The change of uid cleared the parent-death signal: the sentry must still die with
    # the supervisor.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        os.setresuid(0, 0, 0)
    except PermissionError:
        return
    raise OSError(errno.EPERM, "the sentry could become root again")


def allowed_calls() -> List[str]:
    return [name for _, names in SYSCALLS for name in names]


#: (family, protocol or None for any): what ``socket`` may create.
_SOCKETS = ((_AF_UNIX, None), (_AF_INET, None), (_AF_INET6, None), (_AF_NETLINK, _NETLINK_ROUTE))


def _refusals() -> Iterator[Tuple[str, int, Optional[Tuple[int, int]], str]]:
    """The argument checks: (call, errno, (argument, value) compared on its low 32 bits,
    or None for any arguments, and how ``syscalls --sentry`` says it)."""
    for name in _FDCWD_CALLS:
        yield name, errno.EACCES, (0, _AT_FDCWD), "AT_FDCWD: EACCES"
    for name, a, b in _FDCWD_PAIRS:
        for arg in sorted({a, b}):
            yield name, errno.EACCES, (arg, _AT_FDCWD), "AT_FDCWD: EACCES"
    for name in _CWD_CALLS:
        yield name, errno.EACCES, None, "always EACCES"
    yield "ioctl", errno.EPERM, (1, _TIOCSTI), "TIOCSTI: EPERM"
    yield "ioctl", errno.EPERM, (1, _TIOCLINUX), "TIOCLINUX: EPERM"


def describe() -> List[Dict[str, Any]]:
    """The allowlist as ``runsc-py syscalls --sentry`` prints it: number, name, what the
    sentry makes the call for, and the argument checks on it, if any."""
    import pyseccomp as sc

    checks: Dict[str, List[str]] = {"socket": ["AF_UNIX, AF_INET, AF_INET6, "
                                               "AF_NETLINK/NETLINK_ROUTE only"]}
    for name, _errno, _cond, text in _refusals():
        if text not in checks.setdefault(name, []):
            checks[name].append(text)
    out = []
    for why, names in SYSCALLS:
        for name in names:
            note = "; ".join([why, *checks.get(name, [])])
            out.append({"nr": sc.resolve_syscall(sc.Arch.NATIVE, name), "name": name,
                        "note": note})
    return sorted(out, key=lambda e: e["nr"])


def build_filters() -> List[Any]:
    """The two filters :func:`install_filter` loads: the allowlist (anything else kills
    the process), then the argument checks (:func:`_refusals`: a refused case fails with
    its errno).  Two, because libseccomp lets an unconditional rule override conditional
    ones of the same call; the kernel applies the stricter answer of the two."""
    import pyseccomp as sc

    allow = sc.SyscallFilter(defaction=sc.KILL_PROCESS)
    for name in allowed_calls():
        if name != "socket":
            allow.add_rule(sc.ALLOW, name)
    for family, protocol in _SOCKETS:
        conds = [sc.Arg(0, sc.MASKED_EQ, _LOW32, family)]
        if protocol is not None:
            conds.append(sc.Arg(2, sc.MASKED_EQ, _LOW32, protocol))
        allow.add_rule(sc.ALLOW, "socket", *conds)

    args = sc.SyscallFilter(defaction=sc.ALLOW)
    for name, err_no, cond, _text in _refusals():
        if cond is None:
            args.add_rule(sc.ERRNO(err_no), name)
        else:
            args.add_rule(sc.ERRNO(err_no), name, sc.Arg(cond[0], sc.MASKED_EQ, _LOW32, cond[1]))
    return [allow, args]


def _export(f: Any) -> bytes:
    import tempfile

    with tempfile.TemporaryFile() as tf:
        f.export_bpf(tf)
        tf.seek(0)
        return tf.read()


#: What the sentry's programs are built from (every table is in this module).
_SOURCE = bpf.source(__file__)


def program_builders() -> Dict[str, Tuple[str, Callable[[], bytes]]]:
    """The sentry's two programs by cache name (:mod:`sentry.precompute`): (key, builder)."""
    k = bpf.key(_SOURCE)
    return {"sentry-args": (k, lambda: _export(build_filters()[1])),
            "sentry-allow": (k, lambda: _export(build_filters()[0]))}


def filter_programs() -> List[bytes]:
    """The programs :func:`install_filter` loads, in order: from the install-time cache
    when they were built from this module as it is now, else built with libseccomp.
    The argument checks first: loading a filter takes calls the allowlist kills."""
    builders = program_builders()
    return [bpf.program(name, *builders[name]) for name in ("sentry-args", "sentry-allow")]


def install_filter(programs: Optional[List[bytes]] = None) -> None:
    """Load :func:`filter_programs` (computed before the root went, or now)."""
    for prog in programs if programs is not None else filter_programs():
        bpf.load(prog)
