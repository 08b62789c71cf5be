"""tmpfs directories: a name → inode dict.

Link counts follow Linux: a directory has 2 + its subdirectories; a regular
file one per name.  ``opaque`` is the overlay's "trusted.overlay.opaque"
mark (an upper directory that hides the lower one).
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem, TmpfsInode, owner_of, parent_gid
from sentry.vfs import abi
from sentry.vfs.file import DirectoryDescription, FileDescription
from sentry.vfs.inode import DirEntry, Inode, dirents_of, now_ns

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class TmpfsDir(TmpfsInode):
    """A directory held in memory."""

    def __init__(self, fs: TmpfsFilesystem, mode: int, uid: int, gid: int) -> None:
        super().__init__(fs, abi.S_IFDIR | (mode & 0o7777), uid, gid)
        self.nlink = 2
        self.entries: Dict[bytes, Inode] = {}
        self.opaque = False

    def data_size(self) -> int:
        # Linux tmpfs: BOGO_DIRENT_SIZE (20) per entry, "." and ".." included; no blocks.
        return (len(self.entries) + 2) * 20

    def data_blocks(self, size: int) -> int:
        return 0

    def _touch(self) -> None:
        self.mtime_ns = self.ctime_ns = now_ns()

    def _check(self, name: bytes) -> None:
        self.fs.check_writable()
        if name in self.entries:
            raise err(errno.EEXIST)

    def lookup(self, t: Any, name: bytes) -> Optional[Inode]:
        return self.entries.get(name)

    def iterdir(self, t: Any) -> List[DirEntry]:
        return dirents_of(self.entries)

    def is_empty_dir(self, t: Any) -> bool:
        return not self.entries

    def _new_ids(self, t: Any) -> tuple:
        uid, gid = owner_of(t)
        return uid, parent_gid(self, gid)

    def add(self, name: bytes, inode: Inode) -> Inode:
        """Insert *inode* as *name* (the caller built it; no checks)."""
        self.entries[name] = inode
        if inode.is_dir:
            self.nlink += 1
        self._touch()
        return inode

    def create(self, t: Any, name: bytes, mode: int, flags: int) -> Inode:
        from sentry.fsimpl.tmpfs.regular_file import TmpfsFile

        self._check(name)
        uid, gid = self._new_ids(t)
        return self.add(name, TmpfsFile(self.fs, mode, uid, gid))

    def mkdir(self, t: Any, name: bytes, mode: int) -> Inode:
        self._check(name)
        uid, gid = self._new_ids(t)
        mode &= 0o7777
        if self.mode & abi.S_ISGID:
            mode |= abi.S_ISGID
        return self.add(name, TmpfsDir(self.fs, mode, uid, gid))

    def mknod(self, t: Any, name: bytes, mode: int, rdev: int) -> Inode:
        from sentry.fsimpl.tmpfs.tmpfs import TmpfsSpecial

        if mode & abi.S_IFMT == abi.S_IFREG:
            return self.create(t, name, mode & 0o7777, abi.O_RDONLY)
        self._check(name)
        uid, gid = self._new_ids(t)
        return self.add(name, TmpfsSpecial(self.fs, mode, uid, gid, rdev))

    def symlink(self, t: Any, name: bytes, target: bytes) -> Inode:
        from sentry.fsimpl.tmpfs.tmpfs import TmpfsSymlink

        self._check(name)
        uid, gid = self._new_ids(t)
        return self.add(name, TmpfsSymlink(self.fs, target, uid, gid))

    def link(self, t: Any, name: bytes, target: Inode) -> Inode:
        self._check(name)
        if not isinstance(target, TmpfsInode) or target.fs is not self.fs:
            raise err(errno.EXDEV)
        target.nlink += 1
        target.ctime_ns = now_ns()
        return self.add(name, target)

    def _remove(self, name: bytes) -> Inode:
        self.fs.check_writable()
        child = self.entries.pop(name)
        assert isinstance(child, TmpfsInode)
        if child.is_dir:
            self.nlink -= 1
            child.nlink = 0
        else:
            # The data stays, and counts, while descriptions are open: the inode
            # gives it back when it is freed (TmpfsFile.__del__), as Linux's tmpfs
            # frees its pages at eviction.
            child.nlink -= 1
        child.ctime_ns = now_ns()
        self._touch()
        return child

    def unlink(self, t: Any, name: bytes, child: Inode) -> None:
        self._remove(name)

    def rmdir(self, t: Any, name: bytes, child: Inode) -> None:
        if isinstance(child, TmpfsDir) and child.entries:
            raise err(errno.ENOTEMPTY)
        self._remove(name)

    def rename(
        self,
        t: Any,
        old_name: bytes,
        child: Inode,
        new_dir: Inode,
        new_name: bytes,
        replaced: Optional[Inode],
        flags: int,
    ) -> None:
        self.fs.check_writable()
        if not isinstance(new_dir, TmpfsDir) or new_dir.fs is not self.fs:
            raise err(errno.EXDEV)
        if flags & abi.RENAME_EXCHANGE:
            assert replaced is not None
            self.entries[old_name] = replaced
            new_dir.entries[new_name] = child
            if new_dir is not self and child.is_dir != replaced.is_dir:
                moved_dir = 1 if child.is_dir else -1
                self.nlink -= moved_dir
                new_dir.nlink += moved_dir
        else:
            if replaced is not None:
                new_dir._remove(new_name)
            del self.entries[old_name]
            new_dir.entries[new_name] = child
            if child.is_dir and new_dir is not self:
                self.nlink -= 1
                new_dir.nlink += 1
        n = now_ns()
        for ino in (child, replaced):
            if isinstance(ino, TmpfsInode):
                ino.ctime_ns = n
        self._touch()
        new_dir._touch()

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return DirectoryDescription(vd, self, flags)
