"""File-system namespace syscalls: cwd/root, create/remove/rename, links,
ownership and modes, times, umask, directory listing, sync."""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import err
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import read_path, vfs_of
from sentry.vfs import abi, fsnotify, statcache
from sentry.vfs.file import DirectoryDescription
from sentry.vfs.dentry import VirtualDentry

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple


# ------------------------------------------------------------ cwd and root
def getcwd(t: Any, a: SyscallArgs) -> int:
    """getcwd(2): the length including the NUL."""
    buf, size = a[0], a[1]
    path = vfs_of(t).getcwd(t) + b"\0"
    if len(path) > size:
        raise err(errno.ERANGE)
    t.mem.write(buf, path)
    return len(path)


def chdir(t: Any, a: SyscallArgs) -> int:
    """chdir(2)."""
    vfs = vfs_of(t)
    vfs.chdir(t, vfs.resolve(t, abi.AT_FDCWD, read_path(t, a[0]), follow=True))
    return 0


def fchdir(t: Any, a: SyscallArgs) -> int:
    """fchdir(2)."""
    d = t.fdtable.get(a.int(0))
    if d.vd is None:
        raise err(errno.ENOTDIR)
    vfs_of(t).chdir(t, d.vd)
    return 0


def chroot(t: Any, a: SyscallArgs) -> int:
    """chroot(2) (needs sandbox root: ``EPERM`` otherwise)."""
    vfs = vfs_of(t)
    vfs.chroot(t, vfs.resolve(t, abi.AT_FDCWD, read_path(t, a[0]), follow=True))
    return 0


# ------------------------------------------------------------ creation
def mkdir(t: Any, a: SyscallArgs) -> int:
    """mkdir(2)."""
    vfs_of(t).mkdir_at(t, abi.AT_FDCWD, read_path(t, a[0]), a.uint(1))
    return 0


def mkdirat(t: Any, a: SyscallArgs) -> int:
    """mkdirat(2)."""
    vfs_of(t).mkdir_at(t, a.int(0), read_path(t, a[1]), a.uint(2))
    return 0


def mknod(t: Any, a: SyscallArgs) -> int:
    """mknod(2): regular files, FIFOs, sockets; devices ``EPERM``."""
    vfs_of(t).mknod_at(t, abi.AT_FDCWD, read_path(t, a[0]), a.uint(1), a[2])
    return 0


def mknodat(t: Any, a: SyscallArgs) -> int:
    """mknodat(2): regular files, FIFOs, sockets; devices ``EPERM``."""
    vfs_of(t).mknod_at(t, a.int(0), read_path(t, a[1]), a.uint(2), a[3])
    return 0


def symlink(t: Any, a: SyscallArgs) -> int:
    """symlink(2)."""
    target = read_path(t, a[0])
    vfs_of(t).symlink_at(t, target, abi.AT_FDCWD, read_path(t, a[1]))
    return 0


def symlinkat(t: Any, a: SyscallArgs) -> int:
    """symlinkat(2)."""
    target = read_path(t, a[0])
    vfs_of(t).symlink_at(t, target, a.int(1), read_path(t, a[2]))
    return 0


def link(t: Any, a: SyscallArgs) -> int:
    """link(2)."""
    old = read_path(t, a[0])
    vfs_of(t).link_at(t, abi.AT_FDCWD, old, abi.AT_FDCWD, read_path(t, a[1]), 0)
    return 0


def linkat(t: Any, a: SyscallArgs) -> int:
    """linkat(2)."""
    flags = a.int(4)
    old = b"" if (a[1] == 0 and flags & abi.AT_EMPTY_PATH) else read_path(t, a[1])
    vfs_of(t).link_at(t, a.int(0), old, a.int(2), read_path(t, a[3]), flags)
    return 0


# ------------------------------------------------------------ removal, rename
def unlink(t: Any, a: SyscallArgs) -> int:
    """unlink(2)."""
    vfs_of(t).unlink_at(t, abi.AT_FDCWD, read_path(t, a[0]), 0)
    return 0


def unlinkat(t: Any, a: SyscallArgs) -> int:
    """unlinkat(2)."""
    vfs_of(t).unlink_at(t, a.int(0), read_path(t, a[1]), a.int(2))
    return 0


def rmdir(t: Any, a: SyscallArgs) -> int:
    """rmdir(2)."""
    vfs_of(t).unlink_at(t, abi.AT_FDCWD, read_path(t, a[0]), abi.AT_REMOVEDIR)
    return 0


def rename(t: Any, a: SyscallArgs) -> int:
    """rename(2)."""
    old = read_path(t, a[0])
    vfs_of(t).rename_at(t, abi.AT_FDCWD, old, abi.AT_FDCWD, read_path(t, a[1]), 0)
    return 0


def renameat(t: Any, a: SyscallArgs) -> int:
    """renameat(2)."""
    old = read_path(t, a[1])
    vfs_of(t).rename_at(t, a.int(0), old, a.int(2), read_path(t, a[3]), 0)
    return 0


def renameat2(t: Any, a: SyscallArgs) -> int:
    """renameat2(2): ``RENAME_NOREPLACE``, ``RENAME_EXCHANGE``; ``RENAME_WHITEOUT`` is ``EINVAL``."""
    old = read_path(t, a[1])
    vfs_of(t).rename_at(t, a.int(0), old, a.int(2), read_path(t, a[3]), a.uint(4))
    return 0


# ------------------------------------------------------------ modes, owners
def _at(t: Any, dirfd: int, path_addr: int, flags: int, allowed: int) -> VirtualDentry:
    if flags & ~allowed:
        raise err(errno.EINVAL)
    path = b"" if (path_addr == 0 and flags & abi.AT_EMPTY_PATH) else read_path(t, path_addr)
    return vfs_of(t).resolve(
        t, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW,
        empty_path=bool(flags & abi.AT_EMPTY_PATH),
    )


def _fd_vd(t: Any, fd: int) -> VirtualDentry:
    d = t.fdtable.get(fd)
    if d.vd is None or d.is_path:
        raise err(errno.EBADF)
    return d.vd


def chmod(t: Any, a: SyscallArgs) -> int:
    """chmod(2)."""
    vfs_of(t).chmod(t, _at(t, abi.AT_FDCWD, a[0], 0, 0), a.uint(1))
    return 0


def fchmod(t: Any, a: SyscallArgs) -> int:
    """fchmod(2)."""
    vfs_of(t).chmod(t, _fd_vd(t, a.int(0)), a.uint(1))
    return 0


def fchmodat(t: Any, a: SyscallArgs) -> int:
    """fchmodat(2) (the syscall has no flags argument)."""
    vfs_of(t).chmod(t, _at(t, a.int(0), a[1], 0, 0), a.uint(2))
    return 0


def fchmodat2(t: Any, a: SyscallArgs) -> int:
    """fchmodat2(2) (Linux 6.6): ``AT_SYMLINK_NOFOLLOW`` (a symlink's mode cannot change:
    ``EOPNOTSUPP``), ``AT_EMPTY_PATH``."""
    vd = _at(t, a.int(0), a[1], a.int(3), abi.AT_SYMLINK_NOFOLLOW | abi.AT_EMPTY_PATH)
    vfs_of(t).chmod(t, vd, a.uint(2))
    return 0


def _owner(v: int) -> int:
    """A uid_t/gid_t argument: ``(uid_t)-1`` leaves the id alone (the VFS's -1); any other
    32-bit value is an id, 2**31 and above included."""
    v &= 0xFFFFFFFF
    return -1 if v == 0xFFFFFFFF else v


def chown(t: Any, a: SyscallArgs) -> int:
    """chown(2)."""
    vfs_of(t).chown(t, _at(t, abi.AT_FDCWD, a[0], 0, 0), _owner(a[1]), _owner(a[2]))
    return 0


def lchown(t: Any, a: SyscallArgs) -> int:
    """lchown(2)."""
    vd = _at(t, abi.AT_FDCWD, a[0], abi.AT_SYMLINK_NOFOLLOW, abi.AT_SYMLINK_NOFOLLOW)
    vfs_of(t).chown(t, vd, _owner(a[1]), _owner(a[2]))
    return 0


def fchown(t: Any, a: SyscallArgs) -> int:
    """fchown(2)."""
    vfs_of(t).chown(t, _fd_vd(t, a.int(0)), _owner(a[1]), _owner(a[2]))
    return 0


def fchownat(t: Any, a: SyscallArgs) -> int:
    """fchownat(2)."""
    vd = _at(t, a.int(0), a[1], a.int(4), abi.AT_SYMLINK_NOFOLLOW | abi.AT_EMPTY_PATH)
    vfs_of(t).chown(t, vd, _owner(a[2]), _owner(a[3]))
    return 0


# ------------------------------------------------------------ times
_NS = 1_000_000_000


def _apply_times(t: Any, vd: VirtualDentry, times: Optional[Tuple[int, int]]) -> int:
    """*times*: ``None`` for "now" (NULL pointer), else (atime, mtime) with UTIME_* values."""
    if times is None:
        vfs_of(t).utimens(t, vd, abi.UTIME_NOW, abi.UTIME_NOW, explicit=False)
        return 0
    at, mt = times
    explicit = any(x not in (abi.UTIME_NOW, abi.UTIME_OMIT) for x in times)
    vfs_of(t).utimens(
        t, vd, None if at == abi.UTIME_OMIT else at, None if mt == abi.UTIME_OMIT else mt,
        explicit=explicit,
    )
    return 0


def _timespec(sec: int, nsec: int) -> int:
    if nsec in (abi.UTIME_NOW, abi.UTIME_OMIT):
        return nsec
    if nsec < 0 or nsec >= _NS:
        raise err(errno.EINVAL)
    return sec * _NS + nsec


def utimensat(t: Any, a: SyscallArgs) -> int:
    """utimensat(2) (a NULL path with a dirfd is futimens)."""
    dirfd, path_addr, times_addr, flags = a.int(0), a[1], a[2], a.int(3)
    if flags & ~(abi.AT_SYMLINK_NOFOLLOW | abi.AT_EMPTY_PATH):
        raise err(errno.EINVAL)
    times = None
    if times_addr:
        s0, n0, s1, n1 = struct.unpack("<qqqq", t.mem.read(times_addr, 32))
        times = (_timespec(s0, n0), _timespec(s1, n1))
    if path_addr == 0:
        if dirfd == abi.AT_FDCWD:
            raise err(errno.EFAULT)
        d = t.fdtable.get(dirfd)
        if d.vd is None:
            raise err(errno.EBADF)
        vd = d.vd
    else:
        vd = _at(t, dirfd, path_addr, flags, abi.AT_SYMLINK_NOFOLLOW | abi.AT_EMPTY_PATH)
    if times is not None and times == (abi.UTIME_OMIT, abi.UTIME_OMIT):
        return 0
    return _apply_times(t, vd, times)


def _timevals(t: Any, addr: int) -> Optional[Tuple[int, int]]:
    if addr == 0:
        return None
    s0, u0, s1, u1 = struct.unpack("<qqqq", t.mem.read(addr, 32))
    if not (0 <= u0 < 1_000_000 and 0 <= u1 < 1_000_000):
        raise err(errno.EINVAL)
    return s0 * _NS + u0 * 1000, s1 * _NS + u1 * 1000


def utime(t: Any, a: SyscallArgs) -> int:
    """utime(2)."""
    times = None
    if a[1]:
        at, mt = struct.unpack("<qq", t.mem.read(a[1], 16))
        times = (at * _NS, mt * _NS)
    return _apply_times(t, _at(t, abi.AT_FDCWD, a[0], 0, 0), times)


def utimes(t: Any, a: SyscallArgs) -> int:
    """utimes(2)."""
    times = _timevals(t, a[1])
    return _apply_times(t, _at(t, abi.AT_FDCWD, a[0], 0, 0), times)


def futimesat(t: Any, a: SyscallArgs) -> int:
    """futimesat(2)."""
    times = _timevals(t, a[2])
    return _apply_times(t, _at(t, a.int(0), a[1], 0, 0), times)


def umask(t: Any, a: SyscallArgs) -> int:
    """umask(2)."""
    old = t.fs.umask
    t.fs.umask = a.uint(0) & 0o777
    return old


# ------------------------------------------------------------ listing
def _getdents(t: Any, a: SyscallArgs, old_layout: bool) -> int:
    d = t.fdtable.get(a.int(0))
    if d.is_path:
        raise err(errno.EBADF)
    addr, count = a[1], a.uint(2)
    fresh = d.offset == 0
    entries = d.getdents(t)
    if fresh and statcache.enabled():
        key = statcache.prefill(t, d, vfs_of(t).root())
        set_key = getattr(t.fdtable, "set_dir_key", None)
        if key is not None and set_key is not None:
            set_key(a.int(0), key)
    if d.inode is not None and d.inode.dead_dir:
        raise err(errno.ENOENT)  # iterate_dir() on a removed directory
    if fsnotify.active:  # iterate_dir: every call, even one that then fails
        fsnotify.file_event(d, fsnotify.IN_ACCESS)
    i = d.offset
    if old_layout:
        buf = bytearray()
        while i < len(entries):
            ino, dtype, name = entries[i]
            if len(buf) + abi.dirent_size(name) > count:
                break
            buf += abi.pack_dirent(ino, i + 1, dtype, name)
            i += 1
        out = bytes(buf)
    else:
        out, i = abi.pack_dirents64(entries, i, count)
    if not out and i < len(entries):
        raise err(errno.EINVAL)
    if out:
        t.mem.write(addr, out)
    d.offset = i
    if i == len(entries) and isinstance(d, DirectoryDescription):
        at_end = getattr(t.fdtable, "at_end", None)
        if at_end is not None:
            at_end(a.int(0), d)
    return len(out)


def getdents64(t: Any, a: SyscallArgs) -> int:
    """getdents64(2); ``d_off`` is the index of the next entry (``lseek`` accepts it)."""
    return _getdents(t, a, old_layout=False)


def getdents(t: Any, a: SyscallArgs) -> int:
    """getdents(2) (the old ``linux_dirent`` layout)."""
    return _getdents(t, a, old_layout=True)


# ------------------------------------------------------------ sync
def sync(t: Any, a: SyscallArgs) -> int:
    """sync(2): tmpfs data lives in sentry memory and gofer-backed writes go
    straight to the host kernel's page cache; there is nothing held back to flush."""
    return 0


def syncfs(t: Any, a: SyscallArgs) -> int:
    """syncfs(2): see :func:`sync`; checks the fd."""
    t.fdtable.get(a.int(0))
    return 0
