"""What the confined gofer may still ask of the host: syscalls and capabilities.

The gofer is host root holding the container's roots; a compromised sentry (or a
bug in the server) is in its threat model.  Once :func:`gofer.server.confine`
has opened the roots and chrooted into an empty tmpfs, it gives up every
capability but :data:`KEEP_CAPS` and installs a seccomp filter built from
:data:`ALLOWED`, one declared allowlist (as gVisor's runsc/fsgofer/filter):

- file calls on fds the gofer holds: every ``*at`` call must name a real dirfd,
  never ``AT_FDCWD`` (the chroot makes such paths reach only an empty tmpfs
  anyway; the filter makes it certain); the extended attribute calls only in their
  ``f*`` form, on an fd (no path at all);
- ``sendmsg``/``recvmsg`` on the channel's fd only, with the flags the server uses;
- the memory calls of CPython's and glibc's allocators, never executable memory;
- ``write`` to stderr (error reports), ``sched_setaffinity`` of itself (off the
  sentry's CPU), ``exit_group``.

A gofer whose roots are all read-only (the rootfs under the default overlay, ``do``
mode) also goes without the rows and capabilities only changes need (``Rule.writes``,
``Cap.writes``): it answers every change with EROFS before making any call.

Anything else kills the process (``SECCOMP_RET_KILL_PROCESS``): no ``execve``, no
socket, ``ptrace``, mount, namespace, ``prctl``, capability or id change, no
``openat``/``open_by_handle_at``, no ``ioctl``.  The sentry sees the channel
close and the sandbox stops: fail closed.

The list was taken from ``strace -f`` of gofers serving the gofer unit tests and
sandboxes running the file-heavy differential, busybox, host-program and OCI
tests, then narrowed with argument checks; every row says why it is needed.
What BPF cannot check (``openat2``'s ``struct open_how`` is a pointer) the
server checks itself (RESOLVE_BENEATH on every lookup).
"""

from __future__ import annotations

import collections
import errno
import fcntl
import mmap
import _socket as socket
import time

from gofer import bpf, linux

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import NamedTuple
    import pyseccomp as seccomp

#: A mask/value pair on one syscall argument: ``(args[index] & mask) == value``.
ArgCheck = tuple[int, int, int]

#: Placeholder value in an :data:`ArgCheck`: the channel's fd, known at install time.
CHANNEL = -1

_LOW32 = 0xFFFFFFFF
_AT_FDCWD_SIGN = 0x80000000  # an int dirfd < 0 (AT_FDCWD) has bit 31 set
_PROT_EXEC = mmap.PROT_EXEC
_MAP_ANONYMOUS = mmap.MAP_ANONYMOUS
_F_GETFL = fcntl.F_GETFL
_F_SETFL = fcntl.F_SETFL
_CLOCK_MONOTONIC = time.CLOCK_MONOTONIC
_MSG_DONTWAIT = socket.MSG_DONTWAIT
_MSG_CMSG_CLOEXEC = socket.MSG_CMSG_CLOEXEC
_XATTR_CREATE, _XATTR_REPLACE = 1, 2  # linux/xattr.h


def _dirfd(index: int) -> ArgCheck:
    """Argument *index* is a real fd (>= 0), so a path is resolved beneath it."""
    return (index, _AT_FDCWD_SIGN, 0)


def _fd(index: int) -> ArgCheck:
    """Argument *index* is a real fd (>= 0)."""
    return (index, _AT_FDCWD_SIGN, 0)


def _eq(index: int, value: int) -> ArgCheck:
    """The int argument *index* (its low 32 bits) equals *value*."""
    return (index, _LOW32, value)


if TYPE_CHECKING:
    class _Rule(NamedTuple):
        name: str
        alternatives: tuple[tuple[ArgCheck, ...], ...]
        why: str
        writes: bool = False

    class _Cap(NamedTuple):
        name: str
        why: str
        writes: bool
else:  # the same without typing (see sentry.records)
    _Rule = collections.namedtuple("_Rule", "name alternatives why writes", defaults=(False,))
    _Cap = collections.namedtuple("_Cap", "name why writes")


class Rule(_Rule):
    """One allowlisted syscall.

    :param name: the syscall's name; its x86-64 number is in :data:`SYSCALL_NUMBERS`.
    :param alternatives: sets of :data:`ArgCheck` ANDed together; the call is allowed if
        any set holds.  Empty: allowed with any arguments.
    :param why: what in the gofer makes the call.
    :param writes: only a gofer with a writable root makes it (a gofer whose roots are all
        read-only answers every change with EROFS before any call).
    """

    __slots__ = ()

    @property
    def nr(self) -> int:
        return SYSCALL_NUMBERS[self.name]


#: x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl) of the allowlisted calls, given
#: here rather than looked up by name so that a libseccomp older than a call it has no name
#: for (fchmodat2 is Linux 6.6) still builds the filter.
SYSCALL_NUMBERS: dict[str, int] = {
    "write": 1, "close": 3, "poll": 7, "mmap": 9, "munmap": 11, "brk": 12, "mremap": 25,
    "sendmsg": 46, "recvmsg": 47, "fcntl": 72, "ftruncate": 77, "fchmod": 91, "fstatfs": 138,
    "getdents64": 217, "clock_gettime": 228, "exit_group": 231, "mkdirat": 258,
    "fchownat": 260, "newfstatat": 262, "unlinkat": 263, "linkat": 265, "symlinkat": 266,
    "readlinkat": 267, "utimensat": 280, "renameat2": 316, "openat2": 437, "fchmodat2": 452,
    "fsetxattr": 190, "fgetxattr": 193, "flistxattr": 196, "fremovexattr": 199,
    "sched_setaffinity": 203,
}


def _any(name: str, why: str, writes: bool = False) -> Rule:
    return Rule(name, (), why, writes)


ALLOWED: tuple[Rule, ...] = (
    # ---- the channel
    Rule("recvmsg", ((_eq(0, CHANNEL), _eq(2, _MSG_CMSG_CLOEXEC)),
                     (_eq(0, CHANNEL), _eq(2, _MSG_CMSG_CLOEXEC | _MSG_DONTWAIT))),
         "requests (recvmsg_polling: non-blocking polls, then a blocking wait)"),
    Rule("sendmsg", ((_eq(0, CHANNEL), _eq(2, 0)),),
         "replies, with an fd as SCM_RIGHTS"),
    _any("poll", "the channel's POLLRDHUP after an empty datagram (_peer_gone)"),
    # ---- files beneath the fds the gofer holds
    Rule("openat2", ((_dirfd(0),),),
         "every lookup and open (RESOLVE_BENEATH|NO_MAGICLINKS|NO_SYMLINKS, checked by "
         "the server: struct open_how is a pointer)"),
    Rule("newfstatat", ((_dirfd(0),),),
         "fstat (AT_EMPTY_PATH) of handles and opened fds; lstat of a name beneath a "
         "dirfd (stale-handle checks, readdir's DT_UNKNOWN)"),
    _any("fstatfs", "kernel file systems are refused; Tstatfs"),
    Rule("readlinkat", ((_dirfd(0),),),
         "Treadlink, and a symlink's target in Twalk's and Twalkopen's Rwalk (readlinkat(fd, "
         "\"\")); a listing's symlink targets (a name beneath a dirfd)"),
    _any("getdents64", "Treaddir"),
    Rule("mkdirat", ((_dirfd(0),),), "Tmkdir", writes=True),
    Rule("symlinkat", ((_dirfd(1),),), "Tsymlink", writes=True),
    Rule("linkat", ((_dirfd(0), _dirfd(2), _eq(4, 0)),),
         "Tlink: by name, flags 0 (never AT_EMPTY_PATH or AT_SYMLINK_FOLLOW)", writes=True),
    Rule("unlinkat", ((_dirfd(0),),), "Tunlink, and undoing a failed create", writes=True),
    Rule("renameat2", ((_dirfd(0), _dirfd(2)),), "Trename", writes=True),
    Rule("fchownat", ((_dirfd(0),),), "owners of new entries; Tsetattr uid/gid", writes=True),
    Rule("fchmodat2", ((_dirfd(0),),), "Tsetattr mode (on an O_PATH fd)", writes=True),
    Rule("utimensat", ((_dirfd(0),),), "Tsetattr times (on an O_PATH fd)", writes=True),
    _any("fchmod", "set-id bits of a new file after its chown cleared them", writes=True),
    _any("ftruncate", "Tsetattr size", writes=True),
    Rule("flistxattr", ((_fd(0),),),
         "Tlistxattr, on a re-opened fd (an O_PATH one is EBADF to the f*xattr calls)"),
    Rule("fgetxattr", ((_fd(0),),), "Tgetxattr"),
    Rule("fsetxattr", ((_fd(0), (4, _LOW32 & ~(_XATTR_CREATE | _XATTR_REPLACE), 0)),),
         "Tsetxattr: flags XATTR_CREATE, XATTR_REPLACE or neither (or both: Linux says "
         "EEXIST or ENODATA)", writes=True),
    Rule("fremovexattr", ((_fd(0),),), "Tremovexattr", writes=True),
    Rule("fcntl", ((_eq(1, _F_GETFL),), (_eq(1, _F_SETFL),)),
         "clearing O_NONBLOCK on a re-opened fd"),
    _any("close", "handles, re-opened fds after sending, fds a client sends"),
    # ---- memory (CPython's arenas and glibc malloc; never executable)
    Rule("mmap", (((2, _PROT_EXEC, 0), (3, _MAP_ANONYMOUS, _MAP_ANONYMOUS)),),
         "pymalloc arenas and large malloc chunks: anonymous, not executable"),
    _any("munmap", "freeing them"),
    _any("mremap", "glibc realloc of an mmap'd chunk (a large list or bytes growing)"),
    _any("brk", "glibc malloc's main heap"),
    # ---- the process
    Rule("write", ((_eq(0, 2),),), "error reports on stderr"),
    Rule("clock_gettime", ((_eq(0, _CLOCK_MONOTONIC),),),
         "time.perf_counter in recvmsg_polling, when the vDSO falls back to the syscall "
         "(a clock source without vDSO support)"),
    Rule("sched_setaffinity", ((_eq(0, 0),),),
         "its own CPUs: off the one the sentry is on (GoferServer.keep_off)"),
    _any("exit_group", "the end"),
)


class Cap(_Cap):
    """A capability the gofer keeps: its name, why, and whether only writes need it."""

    __slots__ = ()


#: Capabilities the gofer keeps after confinement (numbers from linux/capability.h).  Every
#: other one leaves the effective, permitted, inheritable, ambient and bounding sets, and a
#: gofer whose roots are all read-only keeps only those reads need.  Unlike gVisor's gofer
#: it keeps neither CAP_DAC_READ_SEARCH (only open_by_handle_at and linkat(AT_EMPTY_PATH)
#: would use it; DAC_OVERRIDE already grants read and search) nor CAP_SYS_CHROOT (the
#: chroot is done before the drop).
KEEP_CAPS: dict[int, Cap] = {
    0: Cap("CAP_CHOWN", "new entries get the sandbox's owner; Tsetattr uid/gid", True),
    1: Cap("CAP_DAC_OVERRIDE", "the sentry checks permissions itself; host modes must not "
                               "stop an open, a lookup or a create it allowed", False),
    3: Cap("CAP_FOWNER", "chmod/utimes of files the gofer does not own, unlink and rename "
                         "in sticky directories, hard links to others' files", True),
    4: Cap("CAP_FSETID", "keep set-id bits where the sandbox's caller may (chmod of a file "
                         "of another group, truncation by open)", True),
}


def kept_caps(writable: bool) -> int:
    """The mask of :data:`KEEP_CAPS` a gofer with (or without) a writable root keeps."""
    return sum(1 << n for n, c in KEEP_CAPS.items() if writable or not c.writes)


_CAP_SETPCAP = 8


def _value(v: int, channel_fd: int) -> int:
    return channel_fd if v == CHANNEL else v


def allowed(writable: bool) -> list[Rule]:
    """The rows of :data:`ALLOWED` a gofer with (or without) a writable root needs."""
    return [r for r in ALLOWED if writable or not r.writes]


def build(channel_fd: int, writable: bool) -> seccomp.SyscallFilter:
    """The filter for a gofer whose channel is *channel_fd*; not loaded yet."""
    import pyseccomp as seccomp  # only when the install-time cache has no such program

    f = seccomp.SyscallFilter(seccomp.KILL_PROCESS)
    # libseccomp's bad-arch action: int 0x80 / ia32 and x32 numbers are killed too.
    f.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    for rule in allowed(writable):
        if not rule.alternatives:
            f.add_rule(seccomp.ALLOW, rule.nr)
        for checks in rule.alternatives:
            f.add_rule(seccomp.ALLOW, rule.nr, *(
                seccomp.Arg(i, seccomp.MASKED_EQ, mask, _value(v, channel_fd))
                for i, mask, v in checks))
    return f


def export_bpf(channel_fd: int, writable: bool) -> bytes:
    """The classic-BPF program :func:`install` loads (for tests and inspection)."""
    import tempfile  # here: every sentry imports this module (12 ms with shutil, random)

    with tempfile.TemporaryFile() as tf:
        build(channel_fd, writable).export_bpf(tf)
        tf.seek(0)
        return tf.read()


def program(channel_fd: int, writable: bool) -> bytes:
    """:func:`export_bpf`'s program, from the install-time cache (:mod:`gofer.bpf`) when it
    was built from this module as it is now."""
    return bpf.program(program_name(channel_fd, writable), program_key(channel_fd, writable),
                       lambda: export_bpf(channel_fd, writable))


def program_name(channel_fd: int, writable: bool) -> str:
    return f"gofer-{channel_fd}-{'rw' if writable else 'ro'}"


def program_key(channel_fd: int, writable: bool) -> str:
    return bpf.key(_SOURCE, repr((channel_fd, writable)))


#: What the programs are built from (every table and rule is in this module).
_SOURCE = bpf.source(__file__)


def install(prog: bytes) -> None:
    """Load *prog* (:func:`program`) into this (single-threaded, ``no_new_privs``)
    process; there is no way back.

    :raises OSError: if the kernel refuses it.
    """
    bpf.load(prog)


def drop_capabilities(writable: bool) -> int:
    """Keep only :func:`kept_caps` (those this process has); returns the mask kept.

    The bounding set is emptied of the rest first, while CAP_SETPCAP is still
    effective (without it, as for a gofer that is not root, there is nothing to
    drop from a set that no exec could use: the filter refuses execve).

    :raises OSError: if a drop fails.
    """
    effective, permitted, _ = linux.capget()
    keep = kept_caps(writable) & permitted
    if effective & (1 << _CAP_SETPCAP):
        cap = 0
        while True:
            try:
                in_bounding = linux.prctl(linux.PR_CAPBSET_READ, cap)
            except OSError as e:
                if e.errno == errno.EINVAL:  # past the last capability this kernel knows
                    break
                raise
            if in_bounding and not keep & (1 << cap):
                linux.prctl(linux.PR_CAPBSET_DROP, cap)
            cap += 1
    linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    linux.capset(keep, keep, 0)
    return keep


__all__ = ["ALLOWED", "KEEP_CAPS", "Cap", "Rule", "allowed", "build", "drop_capabilities",
           "export_bpf", "install", "kept_caps"]
