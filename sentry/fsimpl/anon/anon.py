"""anon_inodefs: where epoll, eventfd and timerfd descriptions live.

Linux backs these files with one shared inode of an internal file system
(``fs/anon_inodes.c``): every such file reports the same ``st_ino`` and
``st_dev``, ``st_mode`` 0600 with no file-type bits, owner root, size 0;
``fstatfs`` says ``ANON_INODE_FS_MAGIC``; ``/proc/<pid>/fd/N`` reads
``anon_inode:[<name>]`` and cannot be re-opened (``ENXIO``).

:class:`AnonFileDescription` is the common base: no offset (``lseek`` always
returns 0, Linux's ``noop_llseek``), not :attr:`positional` (``pread``/``pwrite``
give ``ESPIPE``, the handlers' first check; a pidfd and a queue have positioned I/O),
``read``/``write`` ``EINVAL`` unless the file has them, and it may join an
epoll set.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.vfs import abi
from sentry.vfs.dentry import VirtualDentry, kern_mount
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, Inode, Stat, StatFS

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple


class AnonFilesystem(Filesystem):
    """The internal file system of anonymous inodes (never mounted in the tree)."""

    fstype = "anon_inodefs"
    magic = abi.ANON_INODE_FS_MAGIC
    sb_noexec = True

    def root_inode(self) -> Inode:
        return AnonInode(self)

    def statfs(self, t: Any) -> StatFS:
        return StatFS(type=self.magic, fsid=self.dev)


class AnonInode(Inode):
    """The shared inode: mode 0600 without a type, root's, empty."""

    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs, fs.next_ino(), 0o600, 0, 0)

    def open(self, t: Any, vd: VirtualDentry, flags: int) -> FileDescription:
        raise err(errno.ENXIO)

    def setattr(self, t: Any, attr: Any) -> None:
        """The inode every anonymous file shares takes no change (fchmod, fchown,
        futimens of an eventfd, epoll, timerfd, signalfd or inotify fd: Linux's
        anon_inode_setattr)."""
        raise err(errno.EOPNOTSUPP)

    def stat(self) -> Stat:
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=1, uid=self.uid, gid=self.gid,
            rdev=0, size=0, blksize=4096, blocks=0, atime_ns=0, mtime_ns=0, ctime_ns=0,
        )


_ANON: Optional[Tuple[AnonInode, VirtualDentry]] = None


def anon_place() -> Tuple[AnonInode, VirtualDentry]:
    """The shared inode and the place every anonymous file is opened at."""
    global _ANON
    if _ANON is None:
        fs = AnonFilesystem()
        inode = AnonInode(fs)
        mount = kern_mount(fs, inode, "anon_inodefs")
        _ANON = (inode, VirtualDentry(mount, mount.root))
    return _ANON


class AnonFileDescription(FileDescription):
    """Base of the anonymous-inode files; *name* is the ``[...]`` of the fd link."""

    pollable = True
    positional = False
    splice_read = False

    def __init__(self, name: bytes, flags: int) -> None:
        inode, vd = anon_place()
        super().__init__(vd, inode, abi.O_RDWR | (flags & abi.O_NONBLOCK))
        self.anon_name = b"anon_inode:" + name

    def seek(self, t: Any, off: int, whence: int) -> int:
        return 0
