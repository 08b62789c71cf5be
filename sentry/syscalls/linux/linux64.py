"""The amd64 syscall table: number → name, handler, host policy, support, note.

This table is the spine of the sentry.  The dispatcher indexes :data:`TABLE` by
number; the seccomp filter is generated from the policies
(:mod:`sentry.platform.hybrid.filter`); ``runsc-py syscalls`` prints it.

Host policies (design §5):

- ``emulate``: the filter sends the call to the sentry, which implements it.
- ``pass``: the filter lets the host run it without a stop.  Only calls acting
  on the caller's own memory or thread state; each row says why it is safe.
- ``observe``: trapped, booked by the sentry, then run by the host with the same
  register arguments (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``).  Only for calls
  whose arguments are all in registers (no time-of-check/time-of-use on memory)
  and whose host effect stays inside the sandbox's own pid namespace.
- ``trace``: the filter returns ``RET_TRACE``: the call needs register control
  (execve for the loader, file mmap), so it pays for one ptrace stop.
- ``deny``: the filter answers an errno itself: ``-EPERM``, or the row's
  ``deny_errno`` where Linux refuses an unprivileged caller otherwise.

An unknown or unsupported number returns ``-ENOSYS`` and is logged once per binary.
"""

from __future__ import annotations

import errno
import importlib
from sentry import logger
from sentry.records import dataclass

from sentry.syscalls.linux.ptrace_data import SYSCALL_NAMES as _PTRACE_NAMES

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

EMULATE, PASS, OBSERVE, TRACE, DENY = "emulate", "pass", "observe", "trace", "deny"
FULL, PARTIAL, UNSUPPORTED = "full", "partial", "unsupported"

# Highest number this table covers (the filter sends anything above to the sentry).
MAX_NR = 462

if TYPE_CHECKING:  # (an annotation only)
    Handler = Callable[..., int]


@dataclass(frozen=True)
class Entry:
    nr: int
    name: str
    #: (handler module below ``sentry.syscalls.linux``, function) or None; the function is
    #: :attr:`handler`, looked up at its first use (:func:`handler`).
    ref: Optional[Tuple[str, str]]
    policy: str
    support: str
    note: str = ""
    # For pass rows that check an argument in the filter: (arg index, mask, value):
    # the call passes only when (arg & mask) == value, otherwise it is handled
    # per `else_policy`.
    arg_check: Optional[Tuple[int, int, int]] = None
    else_policy: str = EMULATE
    # The argument check of `else_policy` ((arg & mask) == value); None: the
    # complement of `arg_check`.  Calls matching neither are notified.
    else_check: Optional[Tuple[int, int, int]] = None
    # The errno a deny row's filter answers.
    deny_errno: int = errno.EPERM
    # For trace rows: (arg index, value): the call is notified instead when that
    # argument equals the value (the handler serves that case).
    notify_if: Optional[Tuple[int, int]] = None

    @property
    def handler(self) -> Optional[Handler]:
        """The function serving this row (None: ``ENOSYS``), its module imported now if
        no call has needed it yet."""
        return handler(self.nr)


def _names() -> Dict[int, str]:
    names = {nr: n for nr, n in _PTRACE_NAMES.items() if nr < 512}
    names.update({
        283: "timerfd_create",  # python-ptrace says "timerfd"
        441: "epoll_pwait2", 442: "mount_setattr", 443: "quotactl_fd",
        444: "landlock_create_ruleset", 445: "landlock_add_rule", 446: "landlock_restrict_self",
        447: "memfd_secret", 448: "process_mrelease", 449: "futex_waitv",
        450: "set_mempolicy_home_node", 451: "cachestat", 452: "fchmodat2",
        453: "map_shadow_stack", 454: "futex_wake", 455: "futex_wait", 456: "futex_requeue",
        457: "statmount", 458: "listmount", 459: "lsm_get_self_attr", 460: "lsm_set_self_attr",
        461: "lsm_list_modules", 462: "mseal",
    })
    return names


NAMES: Dict[int, str] = _names()
NUMBERS: Dict[str, int] = {v: k for k, v in NAMES.items()}

MAP_ANONYMOUS = 0x20
MAP_SHARED = 0x01

# Writing a running program (deny_write_access: what a process exec'd, while it runs).
_TXTBSY = ("ETXTBSY when writing (or O_TRUNC of) a running program; ENFILE when the "
           "sentry or the gofer is out of host fds even after dropping cached dentries")
#: fsync & fdatasync.
_FSYNC = ("EINVAL for a file without an fsync operation (pipes, sockets, devices, anonymous "
          "files, procfs, sysfs's directories, message queues); gofer and host files synced")
#: getuid & co.
_IDS_C = "C fast path (the task's ids mirrored at every change)"
#: access & co. answered in C from the stat cache.
_ACCESS_C = ("C fast path from the stat cache: ENOENT for a path it knows is absent, 0 for "
             "F_OK of one it kept a stat answer for, and R_OK/X_OK from that answer's mode "
             "and owner for a task whose real ids are its effective ones, that has no "
             "other group and whose effective capabilities are those access(2) uses; W_OK, "
             "AT_EACCESS and other tasks' questions go to Python, which walks the whole path "
             "with access's credentials (the real ids; the permitted set for a real uid 0, "
             "none otherwise) as Linux's access_override_creds does")
#: open/openat answered in C: a path the stat cache knows is absent, a directory it
#: keeps, a file whose host fd it keeps or fetches from the gofer itself.
_ABSENT = ("; C fast path: ENOENT for a name a listed directory of the read-only lower "
            "layer lacks (the stat cache), and a read-only open of a directory of that layer "
            "a listing or a tree walk's fetch brought, or of a file of that layer everyone "
            "may read whose last read-only open by the same path left its host fd, or which "
            "the stat cache has an answer for (C asks the gofer for its fd itself: Tfetch; "
            "for opens in a directory's listing order, the next file's ahead) "
            "(a fd C hands out; Python makes the description before it handles anything "
            "else)")

# (module, [(name, policy, support, note), ...]).  An emulated or observed row's handler
# is the module's function of the same name (mmap and execveat say otherwise in _build).
_ROWS: List[Tuple[str, List[Tuple[str, str, str, str]]]] = [
    ("sys_file", [
        ("read", EMULATE, FULL, "C fast path for host-backed files and sandbox pipes "
         "nothing else waits on (bytes in them; a blocking read of an empty one waits in C "
         "for a writer's bytes)"),
        ("write", EMULATE, FULL, "C fast path for host-backed files, /dev/null, /dev/zero "
         "(the count, the bytes never read, as write_null) and sandbox pipes nothing else "
         "waits on (a reader, room for all of it; past PIPE_BUF what fits; a blocking one "
         "waits in C for room for the rest); a blocking stream (pipe, "
         "socket) takes all bytes, or a partial count when a signal comes"),
        ("pread64", EMULATE, FULL, "C fast path for host-backed files"),
        ("pwrite64", EMULATE, FULL, "to /dev/null, /dev/zero the count, the bytes never read"),
        ("readv", EMULATE, FULL, ""),
        ("writev", EMULATE, FULL, "a blocking stream (pipe, socket) takes all bytes, or a partial "
         "count when a signal comes; to /dev/null, /dev/zero the segments' total, never read"),
        ("preadv", EMULATE, FULL, ""),
        ("pwritev", EMULATE, FULL, "to /dev/null, /dev/zero the segments' total, never read"),
        ("preadv2", EMULATE, PARTIAL,
         "offset -1 (the file position), RWF_HIPRI (a hint), RWF_NOWAIT (EAGAIN where it "
         "would wait), RWF_NOSIGNAL (no effect on a read); RWF_ATOMIC/DONTCACHE EOPNOTSUPP; "
         "a file with a plain read only (directories, /proc/PID files, inotify) takes no "
         "flag but HIPRI (EOPNOTSUPP), one with no read (epoll, pidfd) is EINVAL"),
        ("pwritev2", EMULATE, PARTIAL,
         "offset -1, RWF_HIPRI, RWF_DSYNC/SYNC (the file synced after the write), RWF_APPEND/"
         "NOAPPEND; RWF_NOWAIT on streams EAGAIN where it would wait, on /dev/null and "
         "/dev/zero the count, on a regular file EOPNOTSUPP (a buffered write, as ext4); on "
         "/dev/full any flag but RWF_HIPRI EOPNOTSUPP (no write_iter); "
         "RWF_NOSIGNAL on files (no effect), on "
         "streams EOPNOTSUPP (SIGPIPE not suppressed); RWF_ATOMIC/DONTCACHE EOPNOTSUPP"),
        ("lseek", EMULATE, FULL, "C fast path for host-backed files"),
        ("open", EMULATE, FULL, _TXTBSY + _ABSENT), ("openat", EMULATE, FULL, _TXTBSY + _ABSENT),
        ("openat2", EMULATE, FULL,
         "open_how checked as Linux (E2BIG/EINVAL); RESOLVE_NO_XDEV, NO_MAGICLINKS, "
         "NO_SYMLINKS, BENEATH, IN_ROOT applied at each step of the sentry's walk (no race: "
         "nothing moves during a walk); RESOLVE_CACHED: EAGAIN for a name not in the "
         "dentry cache. " + _TXTBSY),
        ("creat", EMULATE, FULL, _TXTBSY),
        ("close", EMULATE, FULL, "C fast path for host-backed files and directories C "
         "opened"),
        ("dup", EMULATE, FULL, ""), ("dup2", EMULATE, FULL, ""), ("dup3", EMULATE, FULL, ""),
        ("fcntl", EMULATE, PARTIAL, "dup, fd/fl flags, record locks incl. OFD, pipe size, "
         "O_ASYNC with F_SETOWN(_EX)/F_GETOWN(_EX) (SIGIO on readiness), F_ADD_SEALS/"
         "F_GET_SEALS (memfds and tmpfs files), F_NOTIFY (dnotify: SIGIO for events on a "
         "directory's entries; a request ends when its description is released, not at any "
         "close by its owner), F_SETSIG/F_GETSIG (the signal with SIGPOLL's siginfo: "
         "si_code the reason, si_band, si_fd), F_GETLEASE (F_UNLCK); F_SETLEASE is EINVAL; "
         "an O_PATH fd takes dup and the fd and file flags only (EBADF); "
         "C fast path: F_GETFD, "
         "F_SETFD, F_GETFL, F_DUPFD(_CLOEXEC) of a directory C opened"),
        ("flock", EMULATE, FULL, ""),
        ("ioctl", EMULATE, PARTIAL, "FIONREAD, FIOCLEX, FIONBIO, FIOASYNC, FIOSETOWN/"
         "FIOGETOWN, SIOCSPGRP/SIOCGPGRP, FIOQSIZE, FIGETBSZ (procfs, devpts 1024, else 4096), "
         "FIFREEZE/FITHAW (no freeze: EOPNOTSUPP/EINVAL after the EPERM check); ptys: "
         "tty_ioctl(4) (termios incl. TCGETS2/TCGETA, window size, process group, session, "
         "TIOCSCTTY/TIOCNOTTY, TCFLSH, TCXONC, TIOCPKT, "
         "TIOCSTI, TIOCSIG, TIOCGPTN/TIOCSPTLCK/TIOCGPTPEER, TIOCGLCKTRMIOS/TIOCSLCKTRMIOS; "
         "no modem lines, TIOCGSERIAL, "
         "TIOCCONS: ENOTTY); a donated terminal: termios, window size, TIOCGPGRP/TIOCSPGRP/"
         "TIOCGSID in the sentry; sockets: SIOCINQ/OUTQ, the "
         "netdevice SIOCGIF* queries and SIOCGIFCONF (the sandbox's network namespace), "
         "SIOCSIF*/SIOCADDRT EPERM; random(4) (the sandbox's and a donated host one): "
         "RNDGETENTCNT (256), the CAP_SYS_ADMIN requests (no effect), EINVAL for any other; "
         "C fast path: TCGETS/TIOCGWINSZ on a regular file or directory (ENOTTY)"),
        ("ftruncate", EMULATE, FULL, ""), ("truncate", EMULATE, FULL, _TXTBSY),
        ("fsync", EMULATE, FULL, _FSYNC), ("fdatasync", EMULATE, FULL, _FSYNC),
        ("fallocate", EMULATE, PARTIAL,
         "tmpfs: 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE (zeros; whole pages freed); gofer files: 0; "
         "other modes EOPNOTSUPP"),
        ("fadvise64", EMULATE, FULL, "advice checked and accepted; caching is the host's"),
        ("readahead", EMULATE, FULL, "fd checks (EBADF, EINVAL for a non-regular file), then "
         "0: caching is the host's"),
        ("sync_file_range", EMULATE, FULL, "flags and range checked (EINVAL), EBADF, ESPIPE as "
         "Linux; SYNC_FILE_RANGE_WRITE syncs a file that has fsync as fdatasync"),
        ("sendfile", EMULATE, FULL, "into a pipe: only what fits is read (from a file or a "
                                    "socket), a file a page to a slot; C fast path for a gofer "
                                    "file into a sandbox pipe nothing else waits on (no "
                                    "offset; a blocking one into a full pipe waits in C)"),
        ("copy_file_range", EMULATE, PARTIAL, ""),
        ("close_range", EMULATE, FULL, ""),
    ]),
    ("sys_stat", [
        ("stat", EMULATE, FULL, ""), ("lstat", EMULATE, FULL, ""),
        ("fstat", EMULATE, FULL, "C fast path for host-backed files (stdio, gofer files of "
         "read-only mounts or of the trusted lower layer) and directories of that layer"),
        ("newfstatat", EMULATE, FULL, "C fast path: answers the sentry kept for paths that "
         "cannot change until it changes something (the stat cache: a stat that follows "
         "takes the lstat answer of a file that is no symlink; absolute, relative to the "
         "cwd, or to a directory's fd once it was read), and fstat's empty path"),
        ("statx", EMULATE, FULL, "C fast path from the stat cache, as newfstatat (a "
         "listing's entries hand their statx answers over once a program used statx), and "
         "for an fd whose fstat C answers (a directory of the read-only lower layer)"),
        ("access", EMULATE, FULL, _ACCESS_C), ("faccessat", EMULATE, FULL, _ACCESS_C),
        ("faccessat2", EMULATE, FULL, _ACCESS_C),
        ("readlink", EMULATE, FULL, "C fast path from the stat cache (targets up to 256 bytes, "
         "also those a listing carried; EINVAL, also for a path whose kept lstat answer is "
         "no symlink's; ENOENT), and for "
         "/proc/self/exe from the task's program path set at exec"),
        ("readlinkat", EMULATE, FULL, "C fast path from the stat cache, as readlink"),
        ("statfs", EMULATE, PARTIAL, ""), ("fstatfs", EMULATE, PARTIAL, ""),
    ]),
    ("sys_fs", [
        ("getcwd", EMULATE, FULL, ""), ("chdir", EMULATE, FULL, ""), ("fchdir", EMULATE, FULL, ""),
        ("chroot", EMULATE, FULL, "needs CAP_SYS_CHROOT"),
        ("mkdir", EMULATE, FULL, ""), ("mkdirat", EMULATE, FULL, ""),
        ("mknod", EMULATE, PARTIAL, "FIFOs and regular files; no device nodes"),
        ("mknodat", EMULATE, PARTIAL, "FIFOs and regular files; no device nodes"),
        ("unlink", EMULATE, FULL, ""), ("unlinkat", EMULATE, FULL, ""), ("rmdir", EMULATE, FULL, ""),
        ("rename", EMULATE, FULL, ""), ("renameat", EMULATE, FULL, ""),
        ("renameat2", EMULATE, PARTIAL, "RENAME_NOREPLACE, RENAME_EXCHANGE; no RENAME_WHITEOUT"),
        ("symlink", EMULATE, FULL, ""), ("symlinkat", EMULATE, FULL, ""),
        ("link", EMULATE, FULL, ""), ("linkat", EMULATE, FULL, ""),
        ("chmod", EMULATE, FULL, ""), ("fchmod", EMULATE, FULL, ""), ("fchmodat", EMULATE, FULL, ""),
        ("fchmodat2", EMULATE, FULL,
         "AT_SYMLINK_NOFOLLOW (a symlink: EOPNOTSUPP, as Linux 6.6+), AT_EMPTY_PATH"),
        ("chown", EMULATE, FULL, ""), ("fchown", EMULATE, FULL, ""), ("lchown", EMULATE, FULL, ""),
        ("fchownat", EMULATE, FULL, ""),
        ("utimensat", EMULATE, FULL, ""), ("utime", EMULATE, FULL, ""), ("utimes", EMULATE, FULL, ""),
        ("futimesat", EMULATE, FULL, ""),
        ("umask", EMULATE, FULL, ""),
        ("getdents64", EMULATE, FULL, "C fast path for a directory C opened, and at the end of "
         "a listing of the read-only lower layer"), ("getdents", EMULATE, FULL, ""),
        ("sync", EMULATE, FULL, ""), ("syncfs", EMULATE, FULL, ""),
    ]),
    ("sys_pipe", [("pipe", EMULATE, FULL, ""), ("pipe2", EMULATE, FULL, "")]),
    ("sys_poll", [
        ("poll", EMULATE, FULL, ""),
        ("ppoll", EMULATE, FULL, "the signal mask holds for the wait; a handler runs under it"),
        ("select", EMULATE, FULL, "the timeval gets the time left, also on EINTR"),
        ("pselect6", EMULATE, FULL, "the signal mask holds for the wait; a handler runs under it"),
    ]),
    ("sys_epoll", [
        ("epoll_create", EMULATE, FULL, ""), ("epoll_create1", EMULATE, FULL, ""),
        ("epoll_ctl", EMULATE, PARTIAL,
         "level, EPOLLET, EPOLLONESHOT, nesting (ELOOP) as Linux; EPOLLEXCLUSIVE accepted but "
         "every waiter is woken; EPOLLWAKEUP dropped (no wakeup sources, as without "
         "CONFIG_PM_SLEEP); no wakeup-path limits (reverse_path_check)"),
        ("epoll_wait", EMULATE, FULL, "parks on the epoll set; a signal ends it with EINTR"),
        ("epoll_pwait", EMULATE, FULL, "the signal mask holds for the wait; a handler runs under it"),
        ("epoll_pwait2", EMULATE, FULL, "the signal mask holds for the wait; a handler runs under it"),
    ]),
    ("sys_eventfd", [
        ("eventfd", EMULATE, FULL, ""),
        ("eventfd2", EMULATE, FULL, "EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC"),
    ]),
    ("sys_timerfd", [
        ("timerfd_create", EMULATE, PARTIAL,
         "every clock Linux takes (ALARM ones need CAP_WAKE_ALARM) on sentry timers; BOOTTIME "
         "runs as MONOTONIC and ALARM clocks cannot wake a suspended host"),
        ("timerfd_settime", EMULATE, PARTIAL,
         "an absolute REALTIME time is fixed when set (a later host clock change does not "
         "move it); TFD_TIMER_CANCEL_ON_SET accepted, never cancels (the sandbox cannot set "
         "the clock)"),
        ("timerfd_gettime", EMULATE, FULL, ""),
    ]),
    ("sys_signalfd", [
        ("signalfd", EMULATE, PARTIAL, "as signalfd4 without flags"),
        ("signalfd4", EMULATE, PARTIAL,
         "a read takes the reader's host signals at a ptrace stop (rt_sigtimedwait run in "
         "the thread), with the sandbox's siginfo. A process-directed signal the sentry "
         "sends is queued on the one thread Linux would wake, so a sibling thread's read "
         "does not see it; epoll hears of the signals the sentry sends or sees, not of "
         "ITIMER_VIRTUAL/PROF's (host timers)"),
    ]),
    ("sys_xattr", [
        (n, EMULATE, PARTIAL,
         "tmpfs and the overlay's upper layer keep user.*, trusted.* (CAP_SYS_ADMIN) and "
         "security.* in memory, with Linux's checks, flags and limits (user.* in the inode "
         "space, as tmpfs); a copy-up keeps the lower file's. Host files (the lower layer, "
         "bind mounts) have their user.* attributes only, through the gofer (set EROFS on a "
         "read-only mount): the sandbox never reads or sets a host file's trusted.* or "
         "security.* (get ENODATA, list omits, set EOPNOTSUPP). POSIX ACLs are not kept "
         "(get ENODATA, set EOPNOTSUPP); proc, devpts and anonymous files keep none"
         + ("; C fast path: ENODATA for security.selinux, security.capability and the "
            "POSIX ACLs of a path with a kept stat answer (what ls -l asks of every file)"
            if n in ("getxattr", "lgetxattr") else ""))
        for n in ("getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
                  "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
                  "fremovexattr")
    ]),
    ("sys_inotify", [
        ("inotify_init", EMULATE, FULL, ""),
        ("inotify_init1", EMULATE, FULL, "IN_NONBLOCK, IN_CLOEXEC"),
        ("inotify_add_watch", EMULATE, PARTIAL,
         "events of what the sandbox does through the sentry's VFS on any of its file "
         "systems (a host-side change to a bind mount is not seen); no IN_UNMOUNT; "
         "watch/instance limits are the sandbox's (65536/128), not per user"),
        ("inotify_rm_watch", EMULATE, FULL, ""),
    ]),
    ("sys_splice", [
        ("splice", EMULATE, PARTIAL,
         "a copy through the sentry (its pipes are sentry buffers), Linux's rules: one end a "
         "pipe, offsets, waits and SPLICE_F_NONBLOCK, nothing taken before the output has "
         "room; at most a pipe's worth a call, a file's bytes a slot per page; a host pipe "
         "(given stdio) the host's splice with another host fd, else a copy taking only what "
         "went; not between a host pipe and a sandbox socket or terminal"),
        ("tee", EMULATE, FULL, "sandbox and host pipes (the host's tee between two host "
         "pipes)"),
        ("vmsplice", EMULATE, PARTIAL, "a copy into or out of a pipe, a host pipe's too (no "
         "page gifting)"),
    ]),
    ("sys_memfd", [
        ("memfd_create", EMULATE, PARTIAL,
         "an unnamed file of a private tmpfs (MAP_SHARED shares its pages); seals as Linux "
         "6.x (MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL/MFD_EXEC, vm.memfd_noexec 0), carried by "
         "the host memfd for mappings; MFD_HUGETLB is EINVAL"),
    ]),
    ("sys_socket", [
        ("socketpair", EMULATE, FULL, "AF_UNIX, every type"),
        ("socket", EMULATE, PARTIAL,
         "AF_UNIX; AF_INET/AF_INET6 TCP and UDP over host sockets the sentry holds, in the "
         "sandbox's network namespace; AF_NETLINK NETLINK_ROUTE read-only (RTM_GET* to the "
         "host, changes answered -EPERM), NETLINK_SOCK_DIAG (the sandbox's inet sockets), "
         "NETLINK_CONNECTOR (the proc connector: the sandbox's process events) and "
         "NETLINK_GENERIC (nlctrl and TASKSTATS) served by the sentry; other protocols "
         "EPROTONOSUPPORT; raw EPERM; other families EAFNOSUPPORT; an inet socket the "
         "sentry is out of host fds for ENFILE"),
        ("connect", EMULATE, PARTIAL,
         "inet: the host's (a blocking connect parks until done); unix stream/seqpacket: "
         "to a listening socket by path or abstract name; unix datagram: the default "
         "destination and only sender"),
        ("bind", EMULATE, PARTIAL,
         "inet: the host's (a port below net.ipv4.ip_unprivileged_port_start needs "
         "CAP_NET_BIND_SERVICE); unix: a socket node in the sandbox's file system, an "
         "abstract name (the sandbox's own), or autobind"),
        ("listen", EMULATE, PARTIAL, "inet and unix stream/seqpacket sockets"),
        ("accept", EMULATE, PARTIAL, "inet and unix (parks until a connection)"),
        ("accept4", EMULATE, PARTIAL, "inet and unix; SOCK_NONBLOCK/SOCK_CLOEXEC"),
        ("sendto", EMULATE, PARTIAL,
         "inet (with a destination); unix datagrams to a name; connected unix sockets"),
        ("recvfrom", EMULATE, PARTIAL,
         "inet and unix datagrams with the source address; connected unix sockets "
         "(MSG_WAITALL waits for the count)"),
        ("sendmsg", EMULATE, PARTIAL,
         "unix: SCM_RIGHTS (any sandbox file, 253 a message, ETOOMANYREFS past RLIMIT_NOFILE "
         "in flight without CAP_SYS_RESOURCE/ADMIN), SCM_CREDENTIALS (checked as Linux); "
         "inet: no ancillary data (EOPNOTSUPP)"),
        ("recvmsg", EMULATE, PARTIAL,
         "unix: passed files installed (MSG_CMSG_CLOEXEC, MSG_CTRUNC and the rest closed "
         "when the buffer or fd table is short), SCM_CREDENTIALS with SO_PASSCRED; "
         "cycles of sockets in flight are collected as Linux's unix_gc"),
        ("sendmmsg", EMULATE, PARTIAL, "as sendmsg for each; a blocking stream message "
         "that only partly fits ends the call"),
        ("recvmmsg", EMULATE, PARTIAL, "as recvmsg for each; MSG_WAITFORONE; with a timeout, "
         "a datagram not there yet after the first ends the call (Linux waits out the "
         "timeout); no MSG_WAITALL on inet"),
        ("shutdown", EMULATE, FULL, ""),
        ("getsockopt", EMULATE, PARTIAL,
         "unix: SOL_SOCKET basics, SO_PEERCRED, Linux's defaults of the low marks, "
         "timestamps, SO_PEEK_OFF, SO_BUSY_POLL, SO_INCOMING_CPU, SO_ZEROCOPY; inet: an "
         "allowlist of socket/TCP/IP/IPv6 options from the host socket, SO_RCVTIMEO/SNDTIMEO "
         "kept by the sentry"),
        ("setsockopt", EMULATE, PARTIAL,
         "unix: SO_PASSCRED; buffer sizes, socket flags, SO_PASSSEC, SO_OOBINLINE, "
         "SO_BUSY_POLL, SO_INCOMING_CPU kept with no effect; low marks, timestamps, a peek "
         "offset ENOPROTOOPT; inet: the allowlist, others ENOPROTOOPT"),
        ("getsockname", EMULATE, PARTIAL, ""), ("getpeername", EMULATE, PARTIAL, ""),
    ]),
    ("sys_process", [
        ("getpid", EMULATE, FULL, "C fast path"), ("getppid", EMULATE, FULL, "C fast path"),
        ("gettid", EMULATE, FULL, "C fast path"),
        ("clone", TRACE, PARTIAL,
         "flags checked at a ptrace stop (no namespaces), then run by the host; the child is "
         "attached by ptrace. Traced, not notified: a fork must restart, never fail with EINTR. "
         "CLONE_PIDFD: the sentry's pidfd (the host's clone runs without the flag)"),
        ("fork", TRACE, FULL, "as clone"),
        ("vfork", TRACE, FULL, "as clone"),
        ("clone3", TRACE, PARTIAL,
         "at a ptrace stop its arguments are read once and the call becomes a clone(2) with "
         "them in registers (no re-read the workload could race); the registers clone used "
         "are put back in parent and child (not in the parent if the host's clone fails); "
         "CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP, set_tid: ENOSYS, so callers fall back; "
         "CLONE_PIDFD as clone's"),
        ("exit", PASS, FULL, "ends the calling thread; the sentry sees it as a ptrace exit"),
        ("exit_group", PASS, FULL, "ends the calling process; the sentry sees it as a ptrace exit"),
        ("wait4", OBSERVE, FULL,
         "blocking and child choice in the sentry; the host reaps a child the sentry saw exit"),
        ("waitid", OBSERVE, FULL,
         "blocking and child choice in the sentry; the host reaps a child the sentry saw exit; "
         "P_PIDFD: a host pidfd of the child is put at the sandbox fd's number for the host's "
         "call (a pidfd at fd 1000, the stub's host fd, is ECHILD)"),
        ("getpgid", EMULATE, FULL, ""), ("setpgid", EMULATE, PARTIAL, "sentry book-keeping"),
        ("getpgrp", EMULATE, FULL, ""), ("getsid", EMULATE, FULL, ""),
        ("setsid", EMULATE, PARTIAL, "sentry book-keeping"),
        ("set_tid_address", PASS, FULL, "the caller's own clear_child_tid pointer"),
        ("prctl", EMULATE, PARTIAL,
         "PR_SET_NAME/GET_NAME, PDEATHSIG, DUMPABLE, NO_NEW_PRIVS, KEEPCAPS, CAPBSET_READ/"
         "DROP, CAP_AMBIENT, SECUREBITS, CHILD_SUBREAPER (sandbox credentials); the caller's "
         "own TSC, TIMERSLACK, MCE_KILL, THP_DISABLE and SPECULATION_CTRL: the host "
         "(CONTINUE)"),
        ("arch_prctl", PASS, FULL, "the caller's own FS/GS base and CPUID faulting"),
        ("set_robust_list", PASS, FULL, "the caller's own robust futex list"),
        ("getrlimit", EMULATE, FULL, "as prlimit64 (RLIMIT_NOFILE is the sandbox fd table's)"),
        ("prlimit64", EMULATE, PARTIAL,
         "RLIMIT_NOFILE: the sandbox fd table's; others: the host process's (process.rlimits "
         "are set there); a higher hard limit needs CAP_SYS_RESOURCE; other processes by "
         "sandbox pid; RLIMIT_NPROC also counted by the sentry at clone; the query of the "
         "caller's own RLIMIT_STACK (glibc's at every start) is answered in C"),
        ("setrlimit", EMULATE, PARTIAL, "own process only; as prlimit64"),
        ("getrusage", EMULATE, PARTIAL, ""),
        ("sched_getaffinity", EMULATE, FULL,
         "own thread: the host (CONTINUE); another sandbox thread: the sentry reads its mask; "
         "a CPU hold of the thread (a tree walk's) ends first"),
        ("sched_setaffinity", EMULATE, FULL,
         "own thread: the host (CONTINUE); another sandbox thread: the sentry sets it; a CPU "
         "hold of the thread ends first"),
        ("sched_yield", PASS, FULL, "yields the caller's CPU"),
        ("getcpu", PASS, FULL, "reads the caller's CPU number"),
        ("execve", TRACE, FULL,
         "the sentry's loader builds the image (one ptrace stop; argv/envp read in C, each "
         "page once: E2BIG for a string past MAX_ARG_STRLEN or 2 MiB of arguments, EFAULT); "
         "credentials as Linux: "
         "set-ID bits (not on nosuid mounts or with no_new_privs), capability sets; "
         "EACCES on noexec mounts; ETXTBSY for a file open for writing, and the program "
         "stays unwritable while it runs"),
        ("execveat", TRACE, FULL,
         "the sentry's loader builds the image (one ptrace stop); the program's host fds "
         "are lent at the notification of the rewritten call (for a process the sentry "
         "starts, at a getppid the stub makes), and its segments mapped from them in two "
         "batches the stub's loop runs"),
    ]),
    ("sys_pidfd", [
        ("pidfd_open", EMULATE, PARTIAL,
         "a sandbox process (PIDFD_THREAD: thread) by the sentry's books; PIDFD_NONBLOCK; "
         "poll/epoll readable at exit, HUP once reaped; fdinfo Pid/NSpid; the fd link reads "
         "anon_inode:[pidfd]. fstat shows the one anon inode (mode 0600), not Linux 6.9+'s "
         "pidfs inode per process (mode 0700, st_ino naming the process); no pidfd ioctls "
         "(PIDFD_GET_INFO, namespaces): ENOTTY"),
        ("pidfd_send_signal", EMULATE, FULL,
         "as kill(2) (sandbox permissions, pid-1 rules, the sandbox's siginfo); scope flags "
         "THREAD/THREAD_GROUP/PROCESS_GROUP; a caller's siginfo with Linux's checks; a "
         "/proc/PID directory fd names the process as a pidfd does"),
        ("pidfd_getfd", EMULATE, FULL,
         "dups the target's sandbox description (close-on-exec); ptrace access checked on "
         "sandbox credentials (same ids and dumpable, or CAP_SYS_PTRACE)"),
    ]),
    ("sys_fhandle", [
        ("name_to_handle_at", EMULATE, UNSUPPORTED,
         "EOPNOTSUPP, as gVisor: no sandbox file system hands out file handles"),
        ("open_by_handle_at", EMULATE, UNSUPPORTED,
         "EPERM without CAP_DAC_READ_SEARCH in the sandbox, else EOPNOTSUPP, as gVisor"),
    ]),
    ("sys_sched", [
        ("sched_getscheduler", EMULATE, FULL, "SCHED_OTHER unless set (threads stay the host's)"),
        ("sched_setscheduler", EMULATE, PARTIAL, "normal policies kept; real-time ones EPERM"),
        ("sched_getparam", EMULATE, FULL, "priority 0"),
        ("sched_setparam", EMULATE, FULL, "priority 0 only (normal policies)"),
        ("sched_get_priority_max", EMULATE, FULL, ""),
        ("sched_get_priority_min", EMULATE, FULL, ""),
        ("sched_rr_get_interval", EMULATE, PARTIAL, "a fixed 3 ms slice"),
        ("getpriority", EMULATE, FULL,
         "nice values kept per thread (sandbox pids, pgrps, uids); init starts at the caller's"),
        ("setpriority", EMULATE, FULL, "checked with sandbox creds, applied to the host threads"),
        ("ioprio_get", EMULATE, FULL,
         "kept per thread (inherited); unset: 0 (IOPRIO_CLASS_NONE), as Linux"),
        ("ioprio_set", EMULATE, PARTIAL,
         "Linux's checks; the value is kept and read back, the host's I/O scheduling is "
         "unchanged"),
        ("sched_getattr", EMULATE, FULL, "policy, nice, SCHED_FLAG_RESET_ON_FORK; utilization "
         "clamps read as 0/1024"),
        ("sched_setattr", EMULATE, PARTIAL,
         "normal policies with nice (applied to the host thread), RESET_ON_FORK, KEEP_POLICY/"
         "KEEP_PARAMS; real-time and deadline EPERM as sched_setscheduler; utilization clamps "
         "EOPNOTSUPP"),
    ]),
    ("sys_identity", [
        ("getuid", EMULATE, FULL, _IDS_C), ("geteuid", EMULATE, FULL, _IDS_C),
        ("getgid", EMULATE, FULL, _IDS_C), ("getegid", EMULATE, FULL, _IDS_C),
        ("getresuid", EMULATE, FULL, ""),
        ("getresgid", EMULATE, FULL, ""), ("getgroups", EMULATE, FULL, ""),
        ("setuid", EMULATE, FULL, "CAP_SETUID; capability sets follow uid changes"),
        ("setgid", EMULATE, FULL, "CAP_SETGID"),
        ("setreuid", EMULATE, FULL, "as setuid"), ("setregid", EMULATE, FULL, "as setgid"),
        ("setresuid", EMULATE, FULL, "as setuid"), ("setresgid", EMULATE, FULL, "as setgid"),
        ("setgroups", EMULATE, FULL, "CAP_SETGID"),
        ("setfsuid", EMULATE, FULL, "as setuid (the fs capability fixup)"),
        ("setfsgid", EMULATE, FULL, "as setgid"),
        ("capget", EMULATE, FULL, "sandbox credentials (process.capabilities)"),
        ("capset", EMULATE, FULL, "own thread, cap_capset's rules"),
    ]),
    ("sys_signal", [
        ("rt_sigaction", TRACE, FULL,
         "run by the host at a ptrace stop with SA_RESTART added to every handler, so a signal "
         "that ends a trapped call before the sentry received it restarts it; the sentry "
         "keeps the workload's own SA_RESTART and answers parked calls by it; a query (no "
         "new action) is notified instead and run by the host (CONTINUE, given in C), or "
         "answered from the sentry's copy of a handler it added SA_RESTART to; the stop of "
         "a SIG_DFL or SIG_IGN the sentry keeps nothing about is resumed in C"),
        ("rt_sigprocmask", PASS, FULL, "the caller's own mask"),
        ("rt_sigreturn", PASS, FULL, "returns from the caller's own handler frame"),
        ("restart_syscall", PASS, FULL,
         "resumes the caller's own interrupted host call (futex/nanosleep with a timeout "
         "after a signal stop); it acts only on the thread's kernel restart block"),
        ("sigaltstack", PASS, FULL, "the caller's own alternate stack"),
        ("rt_sigpending", PASS, FULL, "the caller's own pending set"),
        ("rt_sigsuspend", PASS, FULL, "waits for a host signal, which the sentry queues"),
        ("rt_sigtimedwait", PASS, FULL,
         "waits for a host signal, which the sentry queues (a sentry-queued one shows si_pid "
         "0; a host-made one, SIGCHLD or a process's signal to itself, the host uid)"),
        ("pause", PASS, FULL, "waits for a host signal, which the sentry queues"),
        ("kill", EMULATE, FULL,
         "sandbox pids, permissions and pid-1 rules in the sentry; queued as a host signal, "
         "the sandbox siginfo (SI_USER, sender pid/uid) set at delivery. A single-threaded "
         "process signalling itself is run by the host (its si_uid made the sandbox's)"),
        ("tkill", EMULATE, FULL, "as tgkill"),
        ("tgkill", EMULATE, FULL, "as kill; a thread signalling itself is run by the host"),
        ("rt_sigqueueinfo", EMULATE, FULL, "the caller's siginfo reaches the handler"),
        ("rt_tgsigqueueinfo", EMULATE, FULL, "the caller's siginfo reaches the handler"),
    ]),
    ("sys_ptrace", [
        ("ptrace", EMULATE, PARTIAL,
         "between sandbox processes, in the sentry's books (every workload thread is the "
         "sentry's host tracee): a tracee's stops are host stops of the sentry it does not "
         "resume, its registers, memory and a signal's siginfo the host's, reached by the "
         "sentry's own requests; a syscall, event or seized group stop's siginfo as "
         "ptrace_do_notify makes it (sandbox pid and uid), none at an attached tracer's "
         "group stop (EINVAL); waits and SIGCHLD (CLD_TRAPPED) by the sentry. An "
         "INTERRUPT at the entry of a call the sentry stops for itself (rt_sigaction, "
         "clone, execve) and then CONT is lost. TRACEME, ATTACH, SEIZE, "
         "INTERRUPT, LISTEN, CONT, SYSCALL, SINGLESTEP, KILL, DETACH, PEEK/POKE TEXT/DATA/USER "
         "(the stub's pages EIO), GET/SETREGS, GET/SETFPREGS, GET/SETREGSET, GET/SETSIGINFO, "
         "GET/SETSIGMASK, SETOPTIONS (every option but SUSPEND_SECCOMP, EINVAL), GETEVENTMSG, "
         "GET_SYSCALL_INFO, ARCH_PRCTL; others EIO (SYSEMU, PEEKSIGINFO, SECCOMP_GET_*). No "
         "Yama. A traced thread's exit, and a non-child tracee's, reach the tracer; the real "
         "parent of another's tracee may see its exit first"),
    ]),
    ("sys_time", [
        ("clock_gettime", PASS, FULL, "reads a clock (also in the vDSO)"),
        ("clock_getres", PASS, FULL, "reads a clock"),
        ("gettimeofday", PASS, FULL, "reads a clock (also in the vDSO)"),
        ("time", PASS, FULL, "reads a clock (also in the vDSO)"),
        ("nanosleep", PASS, FULL, "sleeps the caller; host signals interrupt it natively"),
        ("clock_nanosleep", PASS, FULL, "sleeps the caller; host signals interrupt it natively"),
        ("times", EMULATE, PARTIAL, ""),
        ("alarm", EMULATE, FULL, "sentry timer; SIGALRM queued by the sentry"),
        ("setitimer", EMULATE, FULL,
         "ITIMER_REAL: a sentry timer; ITIMER_VIRTUAL/PROF (the caller's CPU time): the host"),
        ("getitimer", EMULATE, FULL, "as setitimer"),
    ]),
    ("sys_timer", [
        ("timer_create", EMULATE, PARTIAL,
         "per process (not inherited by fork, deleted at exec), Linux's ids; REALTIME/"
         "MONOTONIC/BOOTTIME/TAI on sentry timers (an absolute REALTIME time is fixed when "
         "set; BOOTTIME runs as MONOTONIC); PROCESS/THREAD_CPUTIME_ID and pid CPU clocks from "
         "the host's accounting, looked at when the time left could have been used (expiry "
         "late by up to a few ms, PROF/VIRT clocks count as SCHED); ALARM clocks EOPNOTSUPP "
         "(no RTC); SIGEV_SIGNAL/THREAD/THREAD_ID with Linux's siginfo (SI_TIMER, "
         "si_timerid, si_value), SIGEV_NONE"),
        ("timer_settime", EMULATE, PARTIAL,
         "relative, TIMER_ABSTIME, periods, old value; expirations while its signal is "
         "pending are overruns, counted into si_overrun at delivery (a signal taken with "
         "sigwaitinfo shows si_overrun 0); the pending signal of an earlier arming is dropped "
         "at delivery as by Linux 6.13+, but sigwaitinfo still takes it"),
        ("timer_gettime", EMULATE, FULL, ""),
        ("timer_getoverrun", EMULATE, PARTIAL, "the overruns of the last signal delivered "
         "to a handler (or seen taken at the next expiry)"),
        ("timer_delete", EMULATE, FULL, ""),
    ]),
    ("sys_sys", [
        ("uname", EMULATE, FULL, "sandbox hostname, fixed kernel release"),
        ("sethostname", EMULATE, FULL, "needs CAP_SYS_ADMIN"),
        ("setdomainname", EMULATE, FULL, "needs CAP_SYS_ADMIN"),
        ("sysinfo", EMULATE, PARTIAL, ""),
        ("personality", EMULATE, PARTIAL,
         "PER_LINUX (and PER_BSD, as gVisor) with ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT, "
         "SHORT_INODE, WHOLE_SECONDS: kept per thread, inherited, read back (the loader's "
         "layout does not change); flags the host would have to honour (READ_IMPLIES_EXEC, "
         "address limits, MMAP_PAGE_ZERO, UNAME26, STICKY_TIMEOUTS) and other personas EINVAL"),
        ("syslog", EMULATE, PARTIAL,
         "an empty kernel log (reads return 0 bytes, a blocking READ too); every action "
         "needs CAP_SYSLOG or CAP_SYS_ADMIN (dmesg_restrict 1)"),
        ("getrandom", PASS, FULL, "fills the caller's own buffer"),
    ]),
    ("sys_mm", [
        ("mmap", PASS, FULL,
         "anonymous: host; file: the file's host fd (the gofer's, a memfd for tmpfs; "
         "read-only for a read-only description) installed in the task and the call run "
         "by the host, so MAP_PRIVATE is the host's copy-on-write; PROT_EXEC of a file on "
         "a noexec mount EPERM; a gofer file's given in C (ld.so's libraries); /dev/zero: "
         "the host's; /proc files ENODEV (proc_create's EIO); Linux's order of the "
         "address, offset, type, flag and access checks; no map below mmap_min_addr nor "
         "MAP_LOCKED past RLIMIT_MEMLOCK for root (the host process has no capability)"),
        ("munmap", PASS, FULL, "the caller's own address space"),
        ("mprotect", PASS, FULL, "the caller's own address space"),
        ("madvise", PASS, FULL, "the caller's own address space"),
        ("mremap", PASS, FULL, "the caller's own address space"),
        ("brk", PASS, FULL, "the caller's own heap"),
        ("mincore", PASS, FULL, "the caller's own address space"),
        ("msync", PASS, FULL, "the caller's own mappings (a shared one writes the file it maps)"),
        ("mlock", PASS, PARTIAL, "the caller's own address space; the host process has no "
         "capabilities, so a sandbox CAP_IPC_LOCK does not lift RLIMIT_MEMLOCK"),
        ("mlock2", PASS, PARTIAL, "as mlock (MLOCK_ONFAULT, flags checked by the host)"),
        ("munlock", PASS, FULL, "the caller's own address space"),
        ("mlockall", PASS, PARTIAL, "as mlock: MCL_CURRENT/FUTURE/ONFAULT by the host, which "
         "applies RLIMIT_MEMLOCK (the sandbox's) whatever the sandbox capabilities"),
        ("munlockall", PASS, FULL, "the caller's own address space"),
        ("membarrier", PASS, FULL, "orders the caller's own threads"),
        ("futex", PASS, FULL, "the caller's own memory (private and shared-anonymous words)"),
        ("rseq", PASS, FULL, "the caller's own restartable sequences"),
        # Protection keys and NUMA policies are the caller's own thread register (PKRU) and
        # address space: the host answers exactly as it would natively, including "no pkeys"
        # (on a CPU without PKU: EINVAL for the first pkey_alloc of a process, then ENOSPC).
        ("pkey_alloc", PASS, FULL, "the caller's own PKRU and address space; without PKU on "
         "the host no key is available (EINVAL/ENOSPC as the host kernel)"),
        ("pkey_free", PASS, FULL, "the caller's own keys"),
        ("pkey_mprotect", PASS, FULL, "as mprotect, with a key of the caller's own"),
        ("get_mempolicy", PASS, FULL, "the caller's own NUMA policy (the host's nodes)"),
        ("set_mempolicy", PASS, FULL, "the caller's own NUMA policy (the host's nodes)"),
        ("mbind", PASS, FULL, "the caller's own address space's NUMA policy (the host's nodes)"),
        ("set_mempolicy_home_node", PASS, FULL, "the caller's own address space's NUMA "
         "policy"),
    ]),
    ("sys_ipc", [
        ("semget", EMULATE, FULL, "the sandbox's own IPC namespace (sentry); limits from its "
         "kernel.sem"),
        ("semop", EMULATE, FULL, "blocking waits park (EINTR on a signal, EIDRM on removal); "
         "SEM_UNDO applied at process exit"),
        ("semtimedop", EMULATE, FULL, "as semop; EAGAIN at the timeout"),
        ("semctl", EMULATE, FULL, "GETVAL/SETVAL/GETALL/SETALL/GETPID/GETNCNT/GETZCNT, "
         "IPC_STAT/SET/RMID, IPC_INFO/SEM_INFO, SEM_STAT(_ANY)"),
        ("msgget", EMULATE, FULL, "the sandbox's own IPC namespace (sentry)"),
        ("msgsnd", EMULATE, FULL, "a full queue parks (IPC_NOWAIT: EAGAIN)"),
        ("msgrcv", EMULATE, FULL, "msgtyp 0/>0/<0, MSG_EXCEPT, MSG_NOERROR, IPC_NOWAIT, "
         "MSG_COPY (a copy of the message at index msgtyp, left in the queue)"),
        ("msgctl", EMULATE, FULL, "IPC_STAT/SET/RMID, IPC_INFO/MSG_INFO, MSG_STAT(_ANY)"),
        ("shmget", EMULATE, PARTIAL, "a segment is a memfd the sentry holds; SHM_HUGETLB "
         "EINVAL"),
        ("shmat", EMULATE, FULL, "the memfd lent at host fd 1003 and mapped MAP_SHARED by an "
         "mmap the sentry has the thread run at a ptrace stop (then closed); SHM_RND, "
         "SHM_RDONLY (read-only fd), SHM_REMAP, SHM_EXEC"),
        ("shmdt", EMULATE, FULL, "the segment's mappings from that address unmapped the same "
         "way"),
        ("shmctl", EMULATE, FULL, "IPC_STAT/SET/RMID (destroyed with its last mapping), "
         "IPC_INFO/SHM_INFO, SHM_STAT(_ANY), SHM_LOCK/UNLOCK (a flag); nattch counted from "
         "the host's maps"),
    ]),
    ("sys_mq", [
        ("mq_open", EMULATE, PARTIAL, "queues in the sandbox's IPC namespace (sentry), limits "
         "from its fs.mqueue sysctls; not listed in /dev/mqueue; RLIMIT_MSGQUEUE not counted; "
         "fstat shows an anonymous inode"),
        ("mq_unlink", EMULATE, FULL, ""),
        ("mq_timedsend", EMULATE, FULL, "a full queue parks until room, the absolute timeout "
         "(ETIMEDOUT) or a signal; O_NONBLOCK EAGAIN"),
        ("mq_timedreceive", EMULATE, FULL, "highest priority first; parks as mq_timedsend"),
        ("mq_notify", EMULATE, PARTIAL, "SIGEV_NONE and SIGEV_SIGNAL (SI_MESGQ, sender pid/uid, "
         "sigev_value); SIGEV_THREAD EINVAL (needs netlink); a registration ends at the last "
         "close of the description it was made through, not at any close by its process"),
        ("mq_getsetattr", EMULATE, FULL, "O_NONBLOCK of the description"),
    ]),
    ("sys_aio", [
        ("io_setup", EMULATE, FULL, "Linux's ring (struct aio_ring header, magic 0xa10a10a1, "
         "io_event slots) in a memfd of the process's, mapped MAP_SHARED by an mmap the "
         "thread runs at a ptrace stop (as shmat); the sentry keeps head/tail/events up to "
         "date, so libaio's user-space reaping works; contexts per address space (a forked "
         "child gets EINVAL); fs.aio-nr/aio-max-nr (65536) are the sandbox's"),
        ("io_destroy", EMULATE, FULL, "pending polls cancelled, the ring unmapped by the "
         "thread at a stop"),
        ("io_submit", EMULATE, PARTIAL, "PREAD/PWRITE/PREADV/PWRITEV done at submit through "
         "the file's pread/pwrite (RWF flags as preadv2/pwritev2), FSYNC/FDSYNC synced at "
         "submit, POLL completes when the file is ready; NOOP EINVAL as Linux; a read of an "
         "empty pipe/socket or a write to a full one blocks in io_submit as on Linux, and a "
         "signal ends it with that request's -EINTR (or partial count) and the requests "
         "before it: the later ones are not submitted (Linux goes on); IOCB_FLAG_RESFD "
         "signals the eventfd"),
        ("io_cancel", EMULATE, FULL, "a pending IOCB_CMD_POLL: EINPROGRESS and an event with "
         "res 0; done or unknown requests EINVAL (as Linux, not the man page's EAGAIN)"),
        ("io_getevents", EMULATE, FULL, "events taken from the ring at its head (which the "
         "process may move); parks until min_nr or the relative timeout; a signal: EINTR, "
         "or the count already taken"),
        ("io_pgetevents", EMULATE, FULL, "io_getevents with a signal mask for the wait, as "
         "ppoll's"),
    ]),
    ("sys_io_uring", [
        ("io_uring_setup", EMULATE, PARTIAL, "the sentry's own rings (the host's io_uring is "
         "never reached): Linux's struct io_rings layout and offsets in a memfd the sentry "
         "holds, which the process maps itself at IORING_OFF_SQ_RING/CQ_RING/SQES "
         "(anon_inode:[io_uring]); CQSIZE, CLAMP, SUBMIT_ALL and the task-run/single-issuer "
         "hints; SQPOLL, IOPOLL, ATTACH_WQ, R_DISABLED, SQE128, CQE32, NO_MMAP, "
         "REGISTERED_FD_ONLY, NO_SQARRAY EINVAL (as a kernel without them); features "
         "SINGLE_MMAP, NODROP, SUBMIT_STABLE, RW_CUR_POS, CUR_PERSONALITY"),
        ("io_uring_enter", EMULATE, PARTIAL, "SQEs read from the memfd and done at once "
         "through the syscalls' own code: NOP, READ, WRITE, READV, WRITEV (offset -1: the "
         "file position), FSYNC (DATASYNC), SYNC_FILE_RANGE, FALLOCATE, FADVISE, STATX, "
         "OPENAT, CLOSE, SETXATTR, GETXATTR, MADVISE (the hints NORMAL, RANDOM, "
         "SEQUENTIAL, WILLNEED, COLD, PAGEOUT after madvise's checks; other advice "
         "-EOPNOTSUPP); other opcodes complete with -EINVAL; "
         "IO_LINK/HARDLINK chains (-ECANCELED), DRAIN/ASYNC trivially, CQE_SKIP_SUCCESS; "
         "FIXED_FILE -EBADF (no registered files); CQ overflow kept (NODROP) and flushed "
         "by GETEVENTS; GETEVENTS waits with the sig mask; a read or write of a pipe or "
         "socket that is not ready waits on the file (an armed poll, even O_NONBLOCK, as "
         "6.18) and is done when it is; EXT_ARG, REGISTERED_RING EINVAL"),
        ("io_uring_register", EMULATE, PARTIAL, "IORING_REGISTER_PROBE (the opcodes above); "
         "buffers, files, eventfds, personalities, restrictions and the rest EINVAL"),
    ]),
    ("sys_keys", [
        ("add_key", EMULATE, FULL, "the sandbox's own key service (sentry), never the host's "
         "keyrings: user, logon (unreadable) and keyring types, create or update in the "
         "keyring, per-user quotas (kernel.keys.* defaults: EDQUOT)"),
        ("request_key", EMULATE, FULL, "searches the caller's thread, process and session "
         "keyrings; no upcall, as Linux without /sbin/request-key: ENOKEY when not found, "
         "with callout info ENOENT and a negative key left for 60 s"),
        ("keyctl", EMULATE, PARTIAL, "GET_KEYRING_ID, JOIN_SESSION_KEYRING, UPDATE, REVOKE, "
         "CHOWN, SETPERM, DESCRIBE, CLEAR, LINK, UNLINK, SEARCH, READ, SET_REQKEY_KEYRING, "
         "SET_TIMEOUT, INVALIDATE, GET_SECURITY (no LSM label), MOVE, CAPABILITIES, "
         "SESSION_TO_PARENT (applied at once; EPERM for init, whose parent is outside); "
         "INSTANTIATE/NEGATE/REJECT EPERM and "
         "ASSUME_AUTHORITY ENOKEY (no upcall ever holds authority); GET_PERSISTENT, "
         "DH_COMPUTE, PKEY_*, RESTRICT_KEYRING, WATCH_KEY EOPNOTSUPP as a kernel built "
         "without them"),
    ]),
    ("sys_futex", [
        ("get_robust_list", EMULATE, FULL,
         "sandbox pids and ptrace read permission checked by the sentry, then the host reads "
         "the head set_robust_list gave it (CONTINUE)"),
    ]),
]

_DENIED = [
    "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "userfaultfd", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "mount", "umount2", "pivot_root",
    "process_vm_readv", "process_vm_writev", "kcmp", "setns", "unshare", "seccomp",
    "lookup_dcookie", "iopl", "ioperm",
    "acct", "quotactl", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
    "move_mount", "mount_setattr", "process_madvise", "memfd_secret",
    "vhangup", "modify_ldt", "uselib",
]

_NOTES_DENY = "host-dangerous; the filter answers EPERM"

#: Denied calls Linux refuses with another errno when the facility is not allowed to
#: the caller: programs take their "not permitted" path on that errno only.
_DENY_ERRNO = {
    # kernel.perf_event_paranoid forbidding the event (perf_event_open(2)); trinity, for
    # one, counts only EACCES as refusal and retries any other errno for ever.
    "perf_event_open": (errno.EACCES, "host-dangerous; the filter answers EACCES, as a host "
                        "whose perf_event_paranoid forbids it"),
}


def _build() -> List[Optional[Entry]]:
    table: List[Optional[Entry]] = [None] * (MAX_NR + 1)
    for modname, rows in _ROWS:
        for name, policy, support, note in rows:
            nr = NUMBERS[name]
            # TRACE rows are served at their ptrace stop by the kernel, not by a handler.
            ref = (modname, name) if policy in (EMULATE, OBSERVE) else None
            arg_check = else_check = notify_if = None
            else_policy = EMULATE
            if name == "mmap":
                # Anonymous: the host. A file mapping: notified (sys_mm.mmap_file hands
                # the task the file's host fd).
                arg_check = (3, MAP_ANONYMOUS, MAP_ANONYMOUS)
                ref = (modname, "mmap_file")
            if name == "execveat":
                # The execveat the sentry rewrote an execve into, marked: notified, so
                # the loader can lend the program's host fds (sys_exec).
                from sentry.loader.loader import LEND_MARK

                notify_if, ref = (5, LEND_MARK), ("sys_exec", "execveat_lend")
            if name == "rt_sigaction":
                # A query (no new action): notified, not traced (sys_signal.rt_sigaction).
                notify_if, ref = (1, 0), (modname, name)
            table[nr] = Entry(nr, name, ref, policy, support, note, arg_check, else_policy,
                              else_check, notify_if=notify_if)
    for name in _DENIED:
        nr = NUMBERS[name]
        if table[nr] is None:
            err, note = _DENY_ERRNO.get(name, (errno.EPERM, _NOTES_DENY))
            table[nr] = Entry(nr, name, None, DENY, UNSUPPORTED, note, deny_errno=err)
    for nr, name in NAMES.items():
        if nr <= MAX_NR and table[nr] is None:
            table[nr] = Entry(nr, name, None, EMULATE, UNSUPPORTED, "ENOSYS")
    return table


TABLE: List[Optional[Entry]] = _build()

_UNRESOLVED: Any = object()
#: Each number's handler once looked up (:func:`handler`).
_HANDLERS: List[Optional[Handler]] = [_UNRESOLVED] * (MAX_NR + 1)


def handler(nr: int) -> Optional[Handler]:
    """The function serving syscall *nr*; None for a number the sentry does not serve
    (``ENOSYS``).  The handler modules are imported here, the first time one of their
    calls comes: a sandbox imports only those its workload uses, after boot
    (``sentry.confine.preload`` says how that works once the sentry is confined)."""
    if not 0 <= nr <= MAX_NR:
        return None
    h = _HANDLERS[nr]
    if h is _UNRESOLVED:
        h = _HANDLERS[nr] = _resolve(TABLE[nr])
    return h


def _resolve(e: Optional[Entry]) -> Optional[Handler]:
    if e is None or e.ref is None:
        return None
    modname, func = e.ref
    try:
        h = getattr(importlib.import_module(f"{__package__}.{modname}"), func, None)
    except Exception:  # a sentry bug (tests/unit/syscalls/test_table.py): ENOSYS, logged
        logger.get(__name__).exception("syscall table: importing %s for %s failed",
                                       modname, e.name)
        return None
    if not callable(h):
        logger.get(__name__).error("syscall table: %s.%s, the handler of %s, does "
                                   "not exist", modname, func, e.name)
        return None
    return h  # type: ignore[no-any-return]


def host_allowlist() -> List[Entry]:
    """The entries the seccomp filter lets through without a stop (``pass``)."""
    return [e for e in TABLE if e is not None and e.policy == PASS]


def entry(nr: int) -> Optional[Entry]:
    return TABLE[nr] if 0 <= nr <= MAX_NR else None
