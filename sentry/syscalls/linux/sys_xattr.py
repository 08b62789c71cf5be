"""Extended attributes: no file system of the sentry keeps any yet.

Lookups still resolve the path (so a missing file is ``ENOENT``), then report
no attributes: ``getxattr`` → ``ENODATA``, ``listxattr`` → empty, and setting
or removing one → ``EOPNOTSUPP``, which is what Linux answers on a file system
without xattr support.  ``ls -l`` asks for ACLs and SELinux labels this way.
"""

from __future__ import annotations

import errno
from typing import Any

from sentry.abi.linux.errors import LinuxError, err
from sentry.syscalls.linux.args import SyscallArgs

AT_FDCWD = -100
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536


def _path(t: Any, ptr: int, follow: bool) -> None:
    path = t.mem.read_cstring(ptr)
    if not path:
        raise err(errno.ENOENT)
    t.kernel.vfs.resolve(t, AT_FDCWD, path, follow=follow)


def _fd(t: Any, fd: int) -> None:
    d = t.fdtable.get(fd)
    if d.is_path:
        raise err(errno.EBADF)


def _name(t: Any, ptr: int) -> bytes:
    name = t.mem.read_cstring(ptr, XATTR_NAME_MAX + 1)
    if not name or len(name) > XATTR_NAME_MAX:
        raise err(errno.ERANGE)
    return bytes(name)


def _refused(t: Any, a: SyscallArgs, name: bytes) -> LinuxError:
    """EOPNOTSUPP for setting or removing *name*, which ext4 and tmpfs keep (compat report:
    the call and the attribute's namespace, ``user.*``)."""
    space = name.split(b".", 1)[0].decode(errors="replace")
    call = {188: "setxattr", 189: "lsetxattr", 190: "fsetxattr", 197: "removexattr",
            198: "lremovexattr", 199: "fremovexattr"}.get(a.nr, "xattr")
    t.kernel.note_unsupported(t, "xattr", f"{call} {space}.*")
    return err(errno.EOPNOTSUPP)


def _get(t: Any, a: SyscallArgs) -> int:
    _name(t, a[1])
    raise err(errno.ENODATA)


def getxattr(t: Any, a: SyscallArgs) -> int:
    """getxattr(2)."""
    _path(t, a[0], True)
    return _get(t, a)


def lgetxattr(t: Any, a: SyscallArgs) -> int:
    """lgetxattr(2)."""
    _path(t, a[0], False)
    return _get(t, a)


def fgetxattr(t: Any, a: SyscallArgs) -> int:
    """fgetxattr(2)."""
    _fd(t, a.int(0))
    return _get(t, a)


def listxattr(t: Any, a: SyscallArgs) -> int:
    """listxattr(2): no attributes."""
    _path(t, a[0], True)
    return 0


def llistxattr(t: Any, a: SyscallArgs) -> int:
    """llistxattr(2): no attributes."""
    _path(t, a[0], False)
    return 0


def flistxattr(t: Any, a: SyscallArgs) -> int:
    """flistxattr(2): no attributes."""
    _fd(t, a.int(0))
    return 0


def _set(t: Any, a: SyscallArgs) -> int:
    name = _name(t, a[1])
    if a[3] > XATTR_SIZE_MAX:
        raise err(errno.E2BIG)
    raise _refused(t, a, name)


def setxattr(t: Any, a: SyscallArgs) -> int:
    """setxattr(2): not supported by the sentry's file systems."""
    _path(t, a[0], True)
    return _set(t, a)


def lsetxattr(t: Any, a: SyscallArgs) -> int:
    """lsetxattr(2): not supported by the sentry's file systems."""
    _path(t, a[0], False)
    return _set(t, a)


def fsetxattr(t: Any, a: SyscallArgs) -> int:
    """fsetxattr(2): not supported by the sentry's file systems."""
    _fd(t, a.int(0))
    return _set(t, a)


def removexattr(t: Any, a: SyscallArgs) -> int:
    """removexattr(2)."""
    _path(t, a[0], True)
    raise _refused(t, a, _name(t, a[1]))


def lremovexattr(t: Any, a: SyscallArgs) -> int:
    """lremovexattr(2)."""
    _path(t, a[0], False)
    raise _refused(t, a, _name(t, a[1]))


def fremovexattr(t: Any, a: SyscallArgs) -> int:
    """fremovexattr(2)."""
    _fd(t, a.int(0))
    raise _refused(t, a, _name(t, a[1]))
