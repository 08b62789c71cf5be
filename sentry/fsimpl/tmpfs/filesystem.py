"""tmpfs: a file system held in sentry memory.

Used for ``tmpfs`` mounts, the upper layer of the root overlay, ``/dev`` and
``/dev/shm``.  Inodes own their data (regular files: a ``bytearray``;
directories: a name → inode dict), so hard links are the same object under
two names.  Sizes are accounted per file system: past ``size_limit`` bytes a
write fails with ``ENOSPC`` (the sentry's memory is the sandbox's memory).  Every
instance also charges the sandbox's one account (:mod:`sentry.kernel.memacct`): its
file data and a fixed cost per inode, so many small instances or many empty files
cannot grow the sentry past the sandbox's memory either.

Extended attributes (:meth:`TmpfsInode.setxattr` …) are kept in the inode as Linux's tmpfs
keeps them: ``user.*``, ``trusted.*`` and ``security.*``; POSIX ACL names read as absent and
cannot be set.  ``user.*`` attributes count against the file system's inode space as on
Linux (``nr_inodes`` × 1 KiB; this tmpfs reports 2^20 inodes), every attribute against the
sandbox's memory account: ``ENOSPC`` past either.

Ownership and locking: inodes belong to the file system; single-threaded, no
locks.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel.memacct import ACCOUNT, INODE_COST
from sentry.vfs import abi
from sentry.vfs import xattr as xa
from sentry.vfs.inode import Filesystem, Inode, SimpleStatMixin, StatFS, now_ns

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional

#: Default size limit of one tmpfs instance.
DEFAULT_SIZE_LIMIT = 512 << 20
#: Inodes a tmpfs reports (statfs ``f_files``); the sentry sets no limit on them.
MAX_INODES = 1 << 20
#: What Linux's tmpfs counts an inode for in its inode space (``BOGO_INODE_SIZE``), which
#: ``user.*`` attributes share: ``nr_inodes`` × this many bytes of them at most.
BOGO_INODE_SIZE = 1024
#: The namespaces of the attributes a tmpfs keeps (``shmem_xattr_handlers``).
XATTR_PREFIXES = (xa.USER, xa.TRUSTED, xa.SECURITY)


def owner_of(t: Any) -> tuple:
    """(uid, gid) a new file of *t* gets (fs ids; root for the sentry's own calls)."""
    if t is None:
        return 0, 0
    return t.creds.fsuid, t.creds.fsgid


class TmpfsFilesystem(Filesystem):
    """One tmpfs instance.

    :param ino_base: first inode number (the overlay's upper layer starts high
        so its numbers never collide with the lower layer's).
    :param root_mode: permission bits of the root directory.
    """

    fstype = "tmpfs"
    magic = abi.TMPFS_MAGIC

    def __init__(
        self,
        readonly: bool = False,
        size_limit: int = DEFAULT_SIZE_LIMIT,
        ino_base: int = 0,
        root_mode: int = 0o1777,
        root_uid: int = 0,
        root_gid: int = 0,
    ) -> None:
        super().__init__(readonly)
        self.size_limit = size_limit
        self.used = 0
        # What is left of the inode space for user.* attributes (shmem's free_ispace).
        self.free_ispace = MAX_INODES * BOGO_INODE_SIZE
        self._ino_base = ino_base
        from sentry.fsimpl.tmpfs.directory import TmpfsDir

        self._root = TmpfsDir(self, root_mode, root_uid, root_gid)

    def next_ino(self) -> int:
        return self._ino_base + super().next_ino()

    def has_room(self, more: int) -> bool:
        """Whether *more* bytes of file data fit, in this instance and in the sandbox."""
        return more <= 0 or (self.used + more <= self.size_limit and ACCOUNT.room(more))

    def charge(self, delta: int) -> None:
        """Count *delta* bytes more (or fewer) of file data (checked by :meth:`has_room`
        where a write could be refused)."""
        self.used += delta
        ACCOUNT.add(delta)

    def root_inode(self) -> Inode:
        return self._root

    def statfs(self, t: Any) -> StatFS:
        s = super().statfs(t)
        s.blocks = self.size_limit // 4096
        s.bfree = s.bavail = max(0, self.size_limit - self.used) // 4096
        s.files = s.ffree = MAX_INODES
        return s

    def open_device(self, t: Any, inode: Inode, vd: Any, flags: int) -> Any:
        """Open a character device node: the sentry's emulation of its device numbers
        (``linux.devices`` may put nodes on any tmpfs), else ``ENXIO``."""
        from sentry.fsimpl.dev.dev import open_device

        return open_device(t, inode, vd, flags)


class TmpfsInode(SimpleStatMixin, Inode):
    """Common part of tmpfs inodes: attributes kept in the object."""

    fs: TmpfsFilesystem

    # What this inode holds of the sandbox's memory account (0 until charged).
    _acct = 0
    #: Its extended attributes, once it has had one.
    xattrs: Optional[xa.SimpleXattrs] = None
    # What its user.* attributes hold of the file system's inode space.
    _ispace = 0

    def __init__(self, fs: TmpfsFilesystem, mode: int, uid: int, gid: int, rdev: int = 0) -> None:
        # An inode is sentry memory for as long as it lives (linked, open or cached).
        if not ACCOUNT.charge(INODE_COST):
            raise err(errno.ENOSPC)
        self._acct = INODE_COST
        Inode.__init__(self, fs, fs.next_ino(), mode, uid, gid)
        self.nlink = 1
        self.rdev = rdev
        self._init_times()

    def __del__(self) -> None:
        ACCOUNT.uncharge(self._acct)
        if self._ispace:
            self.fs.free_ispace += self._ispace

    def setattr(self, t: Any, attr: Any) -> None:
        self.fs.check_writable()
        if attr.size is not None:
            raise err(errno.EINVAL)
        self.apply_setattr(attr)

    # -- extended attributes (mm/shmem.c shmem_xattr_handler_*) -----------------
    def getxattr(self, t: Any, name: bytes) -> bytes:
        if name in xa.POSIX_ACLS:
            raise err(errno.ENODATA)  # Linux's tmpfs keeps ACLs; none is ever set here
        xa.resolve(name, XATTR_PREFIXES)
        if self.xattrs is None:
            raise err(errno.ENODATA)
        return self.xattrs.get(name)

    def listxattr(self, t: Any) -> List[bytes]:
        return self.xattrs.names() if self.xattrs is not None else []

    def setxattr(self, t: Any, name: bytes, value: bytes, flags: int) -> None:
        if name in xa.POSIX_ACLS:
            raise xa.refused(t, "setxattr", name)
        self._set_xattr(name, value, flags)

    def removexattr(self, t: Any, name: bytes) -> None:
        if name in xa.POSIX_ACLS:
            self.fs.check_writable()
            self.ctime_ns = now_ns()  # there is none: removing it is a change of nothing
            return
        self._set_xattr(name, None, xa.XATTR_REPLACE)

    def _set_xattr(self, name: bytes, value: Optional[bytes], flags: int) -> None:
        """``shmem_xattr_handler_set``: *value* None removes.  A new value must fit
        before the old one is given back (Linux reserves first)."""
        xa.resolve(name, XATTR_PREFIXES)
        self.fs.check_writable()
        xs = self.xattrs
        if xs is None:
            if value is None:
                raise err(errno.ENODATA)
            xs = self.xattrs = xa.SimpleXattrs()
        user = name.startswith(xa.USER)
        cost = xa.space(name, len(value)) if value is not None else 0
        if cost:
            if user and self.fs.free_ispace < cost or not ACCOUNT.charge(cost):
                raise err(errno.ENOSPC)
            if user:
                self.fs.free_ispace -= cost
        try:
            old = xs.set(name, value, flags)
        except LinuxError:
            ACCOUNT.uncharge(cost)
            if user:
                self.fs.free_ispace += cost
            raise
        freed = xa.space(name, len(old)) if old is not None else 0
        ACCOUNT.uncharge(freed)
        self._acct += cost - freed
        if user:
            self.fs.free_ispace += freed
            self._ispace += cost - freed
        self.ctime_ns = now_ns()


def parent_gid(parent: Optional[Inode], gid: int) -> int:
    """The group of a new file: the directory's if it is set-group-ID."""
    if parent is not None and parent.mode & abi.S_ISGID:
        return parent.gid
    return gid
