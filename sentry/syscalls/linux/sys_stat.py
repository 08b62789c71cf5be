"""File status syscalls: stat family, statx, access, readlink, statfs.

Structures are packed by :mod:`sentry.vfs.abi` (x86_64 layouts).
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import LinuxError, err
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import read_path, vfs_of
from sentry.vfs import abi, statcache
from sentry.vfs import permissions as perm
from sentry.vfs.inode import Stat

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Tuple

_STAT_FLAGS = abi.AT_SYMLINK_NOFOLLOW | abi.AT_EMPTY_PATH | abi.AT_NO_AUTOMOUNT


def _stat_at(t: Any, dirfd: int, path_addr: int, flags: int) -> Tuple[Stat, int]:
    """The attributes and mount id of what (dirfd, path, flags) names."""
    path = b"" if (path_addr == 0 and flags & abi.AT_EMPTY_PATH) else read_path(t, path_addr)
    if not path and flags & abi.AT_EMPTY_PATH and dirfd != abi.AT_FDCWD:
        d = t.fdtable.get(dirfd)
        return d.stat(t), d.vd.mount.id if d.vd is not None else 0
    vd = vfs_of(t).resolve(
        t, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW,
        empty_path=bool(flags & abi.AT_EMPTY_PATH),
    )
    return vd.dentry.inode.stat(), vd.mount.id


def stat(t: Any, a: SyscallArgs) -> int:
    """stat(2)."""
    st, _ = _stat_at(t, abi.AT_FDCWD, a[0], 0)
    t.mem.write(a[1], abi.pack_stat(st))
    return 0


def lstat(t: Any, a: SyscallArgs) -> int:
    """lstat(2)."""
    st, _ = _stat_at(t, abi.AT_FDCWD, a[0], abi.AT_SYMLINK_NOFOLLOW)
    t.mem.write(a[1], abi.pack_stat(st))
    return 0


def fstat(t: Any, a: SyscallArgs) -> int:
    """fstat(2)."""
    d = t.fdtable.get(a.int(0))
    t.mem.write(a[1], abi.pack_stat(d.stat(t)))
    return 0


def newfstatat(t: Any, a: SyscallArgs) -> int:
    """newfstatat(2).  Answers that cannot change until the sentry changes something are
    handed to the C fast path, which gives them again without Python
    (:mod:`sentry.vfs.statcache`)."""
    flags = a.int(3)
    if flags & ~_STAT_FLAGS:
        raise err(errno.EINVAL)
    if not statcache.enabled() or flags & abi.AT_EMPTY_PATH:
        st, _ = _stat_at(t, a.int(0), a[1], flags)
        t.mem.write(a[2], abi.pack_stat(st))
        return 0
    vd, keep = _stat_kept(t, statcache.STAT, a.int(0), a[1], flags)
    data = abi.pack_stat(vd.dentry.inode.stat())
    t.mem.write(a[2], data)
    keep(data)
    return 0


def _stat_kept(t: Any, kind: int, dirfd: int, path_addr: int,
               flags: int) -> Tuple[Any, Callable[[bytes], None]]:
    """Resolve (dirfd, path) for a stat whose answer the C cache may keep: the place, and
    what hands the packed answer over.  A missing name's ``ENOENT`` is handed over here."""
    path = read_path(t, path_addr)
    nofollow = bool(flags & abi.AT_SYMLINK_NOFOLLOW)
    vfs = vfs_of(t)
    track: List[Any] = []
    try:
        vd = vfs.resolve(t, dirfd, path, follow=not nofollow, track=track)
    except LinuxError as e:
        if e.errno == errno.ENOENT:
            statcache.keep(t, kind, dirfd, path, nofollow, track, None, None, -errno.ENOENT,
                           vfs.root())
        raise
    return vd, lambda data: statcache.keep(t, kind, dirfd, path, nofollow, track, vd, data, 0,
                                           vfs.root())


def statx(t: Any, a: SyscallArgs) -> int:
    """statx(2): every basic field is filled in, ``stx_mask`` says so."""
    dirfd, path_addr, flags, mask, buf = a.int(0), a[1], a.int(2), a.uint(3), a[4]
    if flags & ~(_STAT_FLAGS | abi.AT_STATX_SYNC_TYPE):
        raise err(errno.EINVAL)
    if flags & abi.AT_STATX_SYNC_TYPE == abi.AT_STATX_SYNC_TYPE:
        raise err(errno.EINVAL)
    if mask & abi.STATX__RESERVED:
        raise err(errno.EINVAL)
    if not statcache.enabled() or flags & abi.AT_EMPTY_PATH:
        st, mnt_id = _stat_at(t, dirfd, path_addr, flags)
        t.mem.write(buf, abi.pack_statx(st, mask, mnt_id))
        return 0
    vd, keep = _stat_kept(t, statcache.STATX, dirfd, path_addr, flags)
    data = abi.pack_statx(vd.dentry.inode.stat(), mask, vd.mount.id)
    t.mem.write(buf, data)
    keep(data)
    return 0


def _access(t: Any, dirfd: int, path_addr: int, mode: int, flags: int) -> int:
    """faccessat2's work.  A missing path's ``ENOENT`` and the file's attributes are
    handed to the C fast path as newfstatat's (the same walk finds or misses the file),
    which answers ``F_OK`` from them, and ``R_OK``/``X_OK`` of a task whose real ids are
    its own (``sc_access``, this function's twin: ``Kernel._sync_ids`` says when): the
    dynamic loader asks ``access("/etc/ld.so.preload")`` at every exec, git
    ``access(path, R_OK)`` before it reads each of its config files."""
    own = t.creds
    walker = own if flags & abi.AT_EACCESS else perm.access_creds(own)
    if walker is own and statcache.enabled() and not mode & ~7 and not flags & ~(
            abi.AT_EACCESS | abi.AT_SYMLINK_NOFOLLOW):
        vd, keep = _stat_kept(t, statcache.STAT, dirfd, path_addr, flags)
        keep(abi.pack_stat(vd.dentry.inode.stat()))
        vfs_of(t).access_check(t, vd, mode, flags)
        return 0
    path = b"" if (path_addr == 0 and flags & abi.AT_EMPTY_PATH) else read_path(t, path_addr)
    # do_faccessat: the whole walk, not only the file's own check, is made with the real
    # ids (and access's capabilities), as the task for the length of this call (the
    # sentry is one thread; nothing of this walk is kept for the stat cache)
    t.creds = walker
    try:
        vfs_of(t).access_at(t, dirfd, path, mode, flags)
    finally:
        t.creds = own
    return 0


def access(t: Any, a: SyscallArgs) -> int:
    """access(2)."""
    return _access(t, abi.AT_FDCWD, a[0], a.int(1), 0)


def faccessat(t: Any, a: SyscallArgs) -> int:
    """faccessat(2) (the syscall has no flags argument)."""
    return _access(t, a.int(0), a[1], a.int(2), 0)


def faccessat2(t: Any, a: SyscallArgs) -> int:
    """faccessat2(2)."""
    return _access(t, a.int(0), a[1], a.int(2), a.int(3))


def _readlink(t: Any, dirfd: int, path_addr: int, buf: int, size: int) -> int:
    """readlink/readlinkat.  Answers that cannot change until the sentry changes something
    (a target, ``EINVAL`` for a file that is no symlink, ``ENOENT``) are handed to the C
    fast path as :func:`newfstatat`'s are: a compiler's ``realpath`` of every include
    directory asks the same hundred paths a thousand times."""
    if size <= 0:
        raise err(errno.EINVAL)
    path = read_path(t, path_addr)
    vfs = vfs_of(t)
    if not path or not statcache.enabled():
        target = vfs.readlink_at(t, dirfd, path)[:size]
        t.mem.write(buf, target)
        return len(target)
    track: List[Any] = []
    try:
        vd = vfs.resolve(t, dirfd, path, follow=False, track=track)
    except LinuxError as e:
        if e.errno == errno.ENOENT:
            statcache.keep(t, statcache.LINK, dirfd, path, True, track, None, None,
                           -errno.ENOENT, vfs.root())
        raise
    inode = vd.dentry.inode
    if not inode.is_symlink:
        statcache.keep(t, statcache.LINK, dirfd, path, True, track, vd, None, -errno.EINVAL,
                       vfs.root())
        raise err(errno.EINVAL)
    full = inode.readlink(t)
    statcache.keep(t, statcache.LINK, dirfd, path, True, track, vd, full, 0, vfs.root())
    if path == statcache.PROC_SELF_EXE and t.fs.root == vfs.root():
        statcache.self_exe(t, full)  # (a busybox applet's first call, Go's, Rust's)
    target = full[:size]
    t.mem.write(buf, target)
    return len(target)


def readlink(t: Any, a: SyscallArgs) -> int:
    """readlink(2)."""
    return _readlink(t, abi.AT_FDCWD, a[0], a[1], a.int(2))


def readlinkat(t: Any, a: SyscallArgs) -> int:
    """readlinkat(2)."""
    return _readlink(t, a.int(0), a[1], a[2], a.int(3))


def statfs(t: Any, a: SyscallArgs) -> int:
    """statfs(2)."""
    vfs = vfs_of(t)
    vd = vfs.resolve(t, abi.AT_FDCWD, read_path(t, a[0]), follow=True)
    t.mem.write(a[1], abi.pack_statfs(vfs.statfs(t, vd)))
    return 0


def fstatfs(t: Any, a: SyscallArgs) -> int:
    """fstatfs(2)."""
    d = t.fdtable.get(a.int(0))
    own = d.own_statfs()
    if own is not None:
        s = own
    elif d.vd is not None:
        s = vfs_of(t).statfs(t, d.vd)
    elif d.inode is not None:
        s = d.inode.fs.statfs(t)
    else:
        raise err(errno.EBADF)
    t.mem.write(a[1], abi.pack_statfs(s))
    return 0
