"""tmpfs entry points, symlinks and special files.

``TmpfsFilesystem`` (filesystem.py) is the file system; this module adds the
non-regular, non-directory inodes: symlinks, FIFOs (a sentry pipe per inode),
sockets and character devices (opened through
:meth:`TmpfsFilesystem.open_device`: the sentry's emulated devices), and the
overlay whiteout (a 0/0 character device, as Linux overlayfs marks them).
"""

from __future__ import annotations

import stat as _st

from sentry.fsimpl.tmpfs.directory import TmpfsDir
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem, TmpfsInode
from sentry.fsimpl.tmpfs.regular_file import TmpfsFile, TmpfsFileDescription
from sentry.vfs import abi
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import open_special

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "TmpfsDir", "TmpfsFile", "TmpfsFileDescription", "TmpfsFilesystem", "TmpfsSpecial",
    "TmpfsSymlink", "is_whiteout",
]


class TmpfsSymlink(TmpfsInode):
    """A symlink: the target bytes."""

    def __init__(self, fs: TmpfsFilesystem, target: bytes, uid: int, gid: int) -> None:
        super().__init__(fs, abi.S_IFLNK | 0o777, uid, gid)
        self.target = target

    def data_size(self) -> int:
        return len(self.target)

    def data_blocks(self, size: int) -> int:
        # Linux tmpfs keeps targets shorter than 128 bytes in the inode, longer ones in a page.
        return 0 if size < 128 else 8

    def readlink(self, t: Any) -> bytes:
        return self.target


class TmpfsSpecial(TmpfsInode):
    """A FIFO, socket or character/block device node."""

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        if _st.S_ISCHR(self.mode):
            return self.fs.open_device(t, self, vd, flags)
        return open_special(t, self, vd, flags)


def is_whiteout(inode: Any) -> bool:
    """True for an overlay whiteout (a 0/0 character device in the upper layer)."""
    return isinstance(inode, TmpfsSpecial) and _st.S_ISCHR(inode.mode) and inode.rdev == 0
