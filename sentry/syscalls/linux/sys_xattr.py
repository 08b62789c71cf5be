"""Extended attributes: getxattr(2), listxattr(2), setxattr(2), removexattr(2) and their
``l`` (no final symlink followed) and ``f`` (an open description) forms.

The handlers decode the arguments and copy the workload's memory in Linux's order
(``fs/xattr.c``): a set checks its flags (``EINVAL``), the name (``ERANGE`` if empty or
longer than 255 bytes), the size (``E2BIG`` past 64 KiB) and reads the value before it
resolves the path; a get, a remove and a list resolve it after the name.  Then
:mod:`sentry.vfs.xattr` makes the VFS's checks and asks the file's inode: tmpfs (and so
the overlay's upper layer) keeps attributes in memory, gofer files (the overlay's lower
layer, bind mounts) have their host file's ``user.*`` ones only.  An ``O_PATH``
description is ``EBADF``.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import LinuxError, err
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import xattr as xa

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

AT_FDCWD = -100


def _path(t: Any, ptr: int, follow: bool) -> Tuple[Any, Any]:
    """The (VirtualDentry, inode) a path argument names."""
    path = t.mem.read_cstring(ptr)
    vd = t.kernel.vfs.resolve(t, AT_FDCWD, path, follow=follow)
    return vd, vd.dentry.inode


def _fd(t: Any, fd: int) -> Tuple[Optional[Any], Any]:
    """The (VirtualDentry or None, inode) of an fd: for a file opened by path the VFS's
    inode (an overlay file's, which copies up), else the description's own."""
    d = t.fdtable.get(fd)
    if d.is_path:
        raise err(errno.EBADF)
    if d.vd is not None:
        return d.vd, d.vd.dentry.inode
    return None, d.inode if d.inode is not None else xa.ANONYMOUS


def _name(t: Any, ptr: int) -> bytes:
    """The attribute's name (``import_xattr_name``).  :raises LinuxError: ``ERANGE``
    if empty or longer than ``XATTR_NAME_MAX``, ``EFAULT``."""
    try:
        name = t.mem.read_cstring(ptr, xa.XATTR_NAME_MAX)
    except LinuxError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise err(errno.ERANGE) from None
        raise
    if not name:
        raise err(errno.ERANGE)
    return bytes(name)


# ---------------------------------------------------------------- get


def _copy_out(t: Any, addr: int, size: int, data: bytes, limit: int) -> int:
    """A get or list's answer: *data*'s length for a size of 0, else *data* written to
    *addr* if it fits in *size* (capped at *limit*): ERANGE, E2BIG past the limit."""
    size = min(size, limit)
    if size == 0:
        return len(data)
    if len(data) > size:
        raise err(errno.E2BIG if size >= limit else errno.ERANGE)
    t.mem.write(addr, data)
    return len(data)


def _get(t: Any, a: SyscallArgs, vd: Optional[Any], inode: Any, name: bytes) -> int:
    return _copy_out(t, a[2], a[3], xa.get(t, vd, inode, name), xa.XATTR_SIZE_MAX)


def getxattr(t: Any, a: SyscallArgs) -> int:
    """getxattr(2)."""
    name = _name(t, a[1])
    return _get(t, a, *_path(t, a[0], True), name)


def lgetxattr(t: Any, a: SyscallArgs) -> int:
    """lgetxattr(2)."""
    name = _name(t, a[1])
    return _get(t, a, *_path(t, a[0], False), name)


def fgetxattr(t: Any, a: SyscallArgs) -> int:
    """fgetxattr(2)."""
    vd, inode = _fd(t, a.int(0))
    return _get(t, a, vd, inode, _name(t, a[1]))


# ---------------------------------------------------------------- list


def _list(t: Any, a: SyscallArgs, inode: Any) -> int:
    names: List[bytes] = xa.list_names(t, inode)
    return _copy_out(t, a[1], a[2], b"".join(n + b"\0" for n in names), xa.XATTR_LIST_MAX)


def listxattr(t: Any, a: SyscallArgs) -> int:
    """listxattr(2)."""
    return _list(t, a, _path(t, a[0], True)[1])


def llistxattr(t: Any, a: SyscallArgs) -> int:
    """llistxattr(2)."""
    return _list(t, a, _path(t, a[0], False)[1])


def flistxattr(t: Any, a: SyscallArgs) -> int:
    """flistxattr(2)."""
    return _list(t, a, _fd(t, a.int(0))[1])


# ---------------------------------------------------------------- set


def _set_args(t: Any, a: SyscallArgs) -> Tuple[bytes, bytes, int]:
    """(name, value, flags) of a set (``setxattr_copy``), before the file is looked up."""
    flags = a.int(4)
    if flags & ~(xa.XATTR_CREATE | xa.XATTR_REPLACE):
        raise err(errno.EINVAL)
    name = _name(t, a[1])
    size = a[3]
    if size > xa.XATTR_SIZE_MAX:
        raise err(errno.E2BIG)
    value = t.mem.read(a[2], size) if size else b""
    return name, value, flags


def setxattr(t: Any, a: SyscallArgs) -> int:
    """setxattr(2)."""
    name, value, flags = _set_args(t, a)
    xa.set(t, *_path(t, a[0], True), name, value, flags)
    return 0


def lsetxattr(t: Any, a: SyscallArgs) -> int:
    """lsetxattr(2)."""
    name, value, flags = _set_args(t, a)
    xa.set(t, *_path(t, a[0], False), name, value, flags)
    return 0


def fsetxattr(t: Any, a: SyscallArgs) -> int:
    """fsetxattr(2)."""
    vd, inode = _fd(t, a.int(0))
    name, value, flags = _set_args(t, a)
    xa.set(t, vd, inode, name, value, flags)
    return 0


# ---------------------------------------------------------------- remove


def removexattr(t: Any, a: SyscallArgs) -> int:
    """removexattr(2)."""
    name = _name(t, a[1])
    xa.remove(t, *_path(t, a[0], True), name)
    return 0


def lremovexattr(t: Any, a: SyscallArgs) -> int:
    """lremovexattr(2)."""
    name = _name(t, a[1])
    xa.remove(t, *_path(t, a[0], False), name)
    return 0


def fremovexattr(t: Any, a: SyscallArgs) -> int:
    """fremovexattr(2)."""
    vd, inode = _fd(t, a.int(0))
    xa.remove(t, vd, inode, _name(t, a[1]))
    return 0
