"""inotify_init(2), inotify_init1, inotify_add_watch(2), inotify_rm_watch(2).

The instance is :mod:`sentry.fsimpl.inotify.inotify`; the events come from the VFS
(:mod:`sentry.vfs.fsnotify`), so they are those of changes the sandbox makes: a change
behind the sentry's back (the host's side of a bind mount) is not seen.
"""

from __future__ import annotations

import errno
import functools

from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.inotify import inotify as ino
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import read_path, vfs_of
from sentry.vfs import abi, fsnotify
from sentry.vfs import permissions as perm
from sentry.vfs.fsnotify import (
    IN_ALL_EVENTS, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_IGNORED, IN_ISDIR, IN_MASK_ADD,
    IN_MASK_CREATE, IN_ONESHOT, IN_ONLYDIR, IN_Q_OVERFLOW, IN_UNMOUNT,
)

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

IN_CLOEXEC, IN_NONBLOCK = abi.O_CLOEXEC, abi.O_NONBLOCK
#: Every bit inotify_add_watch takes (ALL_INOTIFY_BITS).
_ALL_BITS = (IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ONLYDIR
             | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE | IN_MASK_ADD | IN_ISDIR
             | IN_ONESHOT)


def _inotify_init1(t: Any, flags: int) -> int:
    if flags & ~(IN_CLOEXEC | IN_NONBLOCK):
        raise err(errno.EINVAL)
    if ino.instances >= ino.MAX_USER_INSTANCES:
        raise err(errno.EMFILE)
    # The C fast path of this sandbox's fd tables follows the watches (one kernel a
    # sentry process; unit tests' fake kernels have no fast path).
    kernel: Any = getattr(t, "kernel", None)
    if hasattr(kernel, "fdtables_by_id"):
        from sentry.platform.hybrid.fastfd import remirror_all

        fsnotify.on_active_change = functools.partial(remirror_all, kernel)
    else:
        fsnotify.on_active_change = None
    d = ino.InotifyFileDescription(flags)
    try:
        return t.fdtable.install(d, bool(flags & IN_CLOEXEC))
    except LinuxError:
        d.decref()
        raise


def inotify_init(t: Any, a: SyscallArgs) -> int:
    """inotify_init(2)."""
    return _inotify_init1(t, 0)


def inotify_init1(t: Any, a: SyscallArgs) -> int:
    """inotify_init1(2): ``IN_NONBLOCK``, ``IN_CLOEXEC``."""
    return _inotify_init1(t, a.int(0))


def _instance(t: Any, fd: int) -> ino.InotifyFileDescription:
    d = t.fdtable.get(fd)
    if not isinstance(d, ino.InotifyFileDescription):
        raise err(errno.EINVAL)
    return d


def inotify_add_watch(t: Any, a: SyscallArgs) -> int:
    """inotify_add_watch(2): Linux checks the mask, then the fd, then the path."""
    fd, mask = a.int(0), a.uint(2)
    if mask & IN_MASK_ADD and mask & IN_MASK_CREATE:
        raise err(errno.EINVAL)
    if mask & ~_ALL_BITS or not mask & _ALL_BITS:
        raise err(errno.EINVAL)
    d = _instance(t, fd)
    path = read_path(t, a[1])
    vd = vfs_of(t).resolve(t, abi.AT_FDCWD, path, follow=not mask & IN_DONT_FOLLOW)
    if mask & IN_ONLYDIR and not vd.dentry.inode.is_dir:
        raise err(errno.ENOTDIR)
    perm.check(t.creds, vd.dentry.inode, perm.MAY_READ)
    return d.add_watch(vd, mask)


def inotify_rm_watch(t: Any, a: SyscallArgs) -> int:
    """inotify_rm_watch(2): the watch ends with ``IN_IGNORED``."""
    _instance(t, a.int(0)).rm_watch(a.int(1))
    return 0
