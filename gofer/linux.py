"""Host system calls the gofer needs that :mod:`os` does not expose (x86-64).

Every wrapper raises :class:`OSError` with the host errno on failure.  The gofer
calls most of these after it has chrooted into an empty directory, so nothing
here may import or load anything lazily: libc is resolved once at import.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
SYS_CAPGET = 125
SYS_CAPSET = 126
SYS_GETDENTS64 = 217
SYS_FCHOWNAT = 260
SYS_LINKAT = 265
SYS_UTIMENSAT = 280
SYS_RENAMEAT2 = 316
SYS_OPEN_TREE = 428
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432
SYS_OPENAT2 = 437
SYS_MOUNT_SETATTR = 442
SYS_FCHMODAT2 = 452

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
FSOPEN_CLOEXEC = 1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 1

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# include/uapi/linux/capability.h: 64-bit sets as two u32 words.
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

DT_UNKNOWN = 0


class OpenHow(ctypes.Structure):
    """``struct open_how`` (include/uapi/linux/openat2.h)."""

    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


class MountAttr(ctypes.Structure):
    """``struct mount_attr`` (include/uapi/linux/mount.h), MOUNT_ATTR_SIZE_VER0."""

    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class CapHeader(ctypes.Structure):
    """``struct __user_cap_header_struct``."""

    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    """``struct __user_cap_data_struct``; version 3 takes two (capabilities 0-31, 32-63)."""

    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class StatFs(ctypes.Structure):
    """``struct statfs`` as x86-64 glibc lays it out."""

    _fields_ = [
        ("f_type", ctypes.c_long),
        ("f_bsize", ctypes.c_long),
        ("f_blocks", ctypes.c_uint64),
        ("f_bfree", ctypes.c_uint64),
        ("f_bavail", ctypes.c_uint64),
        ("f_files", ctypes.c_uint64),
        ("f_ffree", ctypes.c_uint64),
        ("f_fsid", ctypes.c_int * 2),
        ("f_namelen", ctypes.c_long),
        ("f_frsize", ctypes.c_long),
        ("f_flags", ctypes.c_long),
        ("f_spare", ctypes.c_long * 4),
    ]


assert ctypes.sizeof(OpenHow) == 24
assert ctypes.sizeof(MountAttr) == 32
assert ctypes.sizeof(StatFs) == 120


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _L(v: int) -> ctypes.c_long:
    return ctypes.c_long(v)


def openat2(dirfd: int, name: bytes, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2); returns the new fd.

    :raises OSError: with the kernel's errno.
    """
    how = OpenHow(flags, mode, resolve)
    return _check(
        _syscall(
            _L(SYS_OPENAT2), _L(dirfd), ctypes.c_char_p(name), ctypes.byref(how),
            _L(ctypes.sizeof(how)),
        )
    )


def renameat2(olddir: int, oldname: bytes, newdir: int, newname: bytes, flags: int) -> None:
    """renameat2(2).

    :raises OSError: with the kernel's errno.
    """
    _check(
        _syscall(
            _L(SYS_RENAMEAT2), _L(olddir), ctypes.c_char_p(oldname), _L(newdir),
            ctypes.c_char_p(newname), _L(flags),
        )
    )


def linkat(olddir: int, oldname: bytes, newdir: int, newname: bytes, flags: int) -> None:
    """linkat(2); ``flags`` 0 links a symlink itself rather than its target.

    :raises OSError: with the kernel's errno.
    """
    _check(
        _syscall(
            _L(SYS_LINKAT), _L(olddir), ctypes.c_char_p(oldname), _L(newdir),
            ctypes.c_char_p(newname), _L(flags),
        )
    )


def fchmod_path_fd(fd: int, mode: int) -> None:
    """chmod the inode an O_PATH fd names, never following a symlink.

    fchmodat2(2) (Linux 6.6) with AT_EMPTY_PATH works on O_PATH fds; a symlink
    gives EOPNOTSUPP as fchmodat(AT_SYMLINK_NOFOLLOW) does.

    :raises OSError: with the kernel's errno.
    """
    _check(
        _syscall(
            _L(SYS_FCHMODAT2), _L(fd), ctypes.c_char_p(b""), _L(mode),
            _L(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW),
        )
    )


def fchown_path_fd(fd: int, uid: int, gid: int) -> None:
    """chown the inode an O_PATH fd names (a symlink itself, never its target).

    ``-1`` leaves that id unchanged.

    :raises OSError: with the kernel's errno.
    """
    _check(
        _syscall(
            _L(SYS_FCHOWNAT), _L(fd), ctypes.c_char_p(b""), _L(uid), _L(gid),
            _L(AT_EMPTY_PATH),
        )
    )


def utimens_path_fd(fd: int, atime: tuple[int, int], mtime: tuple[int, int]) -> None:
    """Set the times of the inode an O_PATH fd names; each time is (sec, nsec).

    nsec may be UTIME_NOW or UTIME_OMIT.  utimensat(fd, NULL) rejects O_PATH
    fds, so this passes "" with AT_EMPTY_PATH.

    :raises OSError: with the kernel's errno.
    """
    times = (Timespec * 2)(Timespec(*atime), Timespec(*mtime))
    _check(
        _syscall(
            _L(SYS_UTIMENSAT), _L(fd), ctypes.c_char_p(b""), times, _L(AT_EMPTY_PATH)
        )
    )


def fstatfs(fd: int) -> StatFs:
    """fstatfs(2); works on O_PATH fds.

    :raises OSError: with the kernel's errno.
    """
    buf = StatFs()
    _check(_libc.fstatfs(ctypes.c_int(fd), ctypes.byref(buf)))
    return buf


def getdents64(fd: int, buf: ctypes.Array[ctypes.c_char]) -> int:
    """getdents64(2) into ``buf``; returns the number of bytes filled, 0 at the end.

    :raises OSError: with the kernel's errno.
    """
    return _check(_syscall(_L(SYS_GETDENTS64), _L(fd), buf, _L(len(buf))))


def open_tree_clone(dirfd: int) -> int:
    """A detached recursive clone of the mount tree at ``dirfd`` (open_tree(2)).

    :raises OSError: with the kernel's errno.
    """
    return _check(
        _syscall(
            _L(SYS_OPEN_TREE), _L(dirfd), ctypes.c_char_p(b""),
            _L(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH),
        )
    )


def mount_setattr_recursive(fd: int, attr_set: int) -> None:
    """Set mount attributes on a whole (detached) mount tree.

    :raises OSError: with the kernel's errno.
    """
    attr = MountAttr(attr_set, 0, 0, 0)
    _check(
        _syscall(
            _L(SYS_MOUNT_SETATTR), _L(fd), ctypes.c_char_p(b""),
            _L(AT_EMPTY_PATH | AT_RECURSIVE), ctypes.byref(attr), _L(ctypes.sizeof(attr)),
        )
    )


def fsmount_tmpfs(size: bytes, attrs: int) -> int:
    """A new detached tmpfs mount (fsopen/fsconfig/fsmount); returns its fd.

    :raises OSError: with the kernel's errno.
    """
    fsfd = _check(_syscall(_L(SYS_FSOPEN), ctypes.c_char_p(b"tmpfs"), _L(FSOPEN_CLOEXEC)))
    try:
        _check(
            _syscall(
                _L(SYS_FSCONFIG), _L(fsfd), _L(FSCONFIG_SET_STRING), ctypes.c_char_p(b"size"),
                ctypes.c_char_p(size), _L(0),
            )
        )
        _check(_syscall(_L(SYS_FSCONFIG), _L(fsfd), _L(FSCONFIG_CMD_CREATE), None, None, _L(0)))
        return _check(_syscall(_L(SYS_FSMOUNT), _L(fsfd), _L(FSMOUNT_CLOEXEC), _L(attrs)))
    finally:
        os.close(fsfd)


def unshare(flags: int) -> None:
    """unshare(2).

    :raises OSError: with the kernel's errno.
    """
    _check(_libc.unshare(ctypes.c_int(flags)))


def mount(source: bytes | None, target: bytes, fstype: bytes | None, flags: int) -> None:
    """mount(2) without data.

    :raises OSError: with the kernel's errno.
    """
    _check(
        _libc.mount(
            ctypes.c_char_p(source), ctypes.c_char_p(target), ctypes.c_char_p(fstype),
            ctypes.c_ulong(flags), None,
        )
    )


def prctl(option: int, arg2: int) -> int:
    """prctl(2) with one argument; returns the call's result.

    :raises OSError: with the kernel's errno.
    """
    return _check(
        _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                    ctypes.c_ulong(0), ctypes.c_ulong(0))
    )


def capget() -> tuple[int, int, int]:
    """This process's (effective, permitted, inheritable) capability sets as bit masks.

    :raises OSError: with the kernel's errno.
    """
    hdr = CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (CapData * 2)()
    _check(_syscall(_L(SYS_CAPGET), ctypes.byref(hdr), data))
    return tuple(  # type: ignore[return-value]
        getattr(data[0], f) | getattr(data[1], f) << 32
        for f in ("effective", "permitted", "inheritable")
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this process's capability sets (bit masks of capability numbers).

    :raises OSError: with the kernel's errno (EPERM: a set grows).
    """
    hdr = CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (CapData * 2)()
    for i in range(2):
        data[i].effective = (effective >> 32 * i) & 0xFFFFFFFF
        data[i].permitted = (permitted >> 32 * i) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> 32 * i) & 0xFFFFFFFF
    _check(_syscall(_L(SYS_CAPSET), ctypes.byref(hdr), data))
