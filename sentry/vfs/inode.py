"""The file-system side of the VFS: :class:`Filesystem` and :class:`Inode`.

A file system implementation (``sentry/fsimpl/<fs>/``) subclasses both.  The
VFS (:mod:`sentry.vfs.vfs`) owns path resolution, the dentry cache, mounts and
every check that does not depend on the file system: permissions, read-only
mounts, the type checks of each syscall (``EISDIR``, ``ENOTDIR``, ``ENOTEMPTY``
for non-empty targets, ``EXDEV`` across mounts, ``EBUSY`` on mount points).
An inode method is therefore called only when the operation is legal in the
VFS's view; it raises :class:`~sentry.abi.linux.errors.LinuxError` for
what only the file system can know (``ENOSPC``, ``EROFS`` of a read-only
layer, ``EPERM`` for an operation it does not support).

Errno rules of the base methods (what an implementation that does not
override them returns):

- directory operations on a non-directory: ``ENOTDIR``;
- creating in a directory of a file system that cannot create: ``EPERM``;
- ``readlink`` of a non-symlink: ``EINVAL``;
- ``setattr`` on a file system that cannot change metadata: ``EPERM``;
- ``open``: ``ENXIO`` (no way to open this kind of file);
- extended attributes on a file system that keeps none (Linux's inode without
  ``IOP_XATTR``): ``getxattr``/``setxattr``/``removexattr`` ``EOPNOTSUPP``,
  ``listxattr`` empty.  The VFS (:mod:`sentry.vfs.xattr`) has made the permission
  and namespace checks before any of them is called.

Ownership: an inode belongs to its file system; dentries (``sentry.vfs.dentry``)
hold inodes, open file descriptions hold a dentry.  Everything runs on the
sentry's single event-loop thread, so there are no locks.
"""

from __future__ import annotations

import abc
import errno
import itertools
import weakref
from collections import OrderedDict
import stat as _st
import time
from sentry.records import dataclass, replace

from sentry.abi.linux.errors import err
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple
    from sentry.vfs.dentry import Dentry, VirtualDentry
    from sentry.vfs.file import FileDescription
    from sentry.vfs.locks import LockState

# Dev minor numbers for sentry file systems (major 0, like Linux anonymous
# block devices).  Starts high enough not to look like the host's.
_dev_counter = itertools.count(0x40)

#: How many recently used dentries each file system keeps cached although
#: nothing else refers to them (see :meth:`Filesystem.touch_dentry`).
DENTRY_CACHE_SIZE = 4096

#: The least a file system's LRU is cut to by :func:`reclaim_dentries`, and how long
#: (seconds) a cut LRU stays at its size before it may hold twice as many again.
DENTRY_CACHE_FLOOR = 64
DENTRY_CACHE_REGROW = 10.0

#: Every file system whose inodes may hold host resources (for :func:`reclaim_dentries`).
_filesystems: "weakref.WeakSet[Filesystem]" = weakref.WeakSet()


def reclaim_dentries() -> int:
    """Halve the LRU of cached dentries (not below :data:`DENTRY_CACHE_FLOOR`) of every
    file system whose inodes may hold host fds (:attr:`Filesystem.holds_host_fds`):
    the host ran out of fds (a gofer handle, a kept fd on an inode, each is one), and
    the dentries dropped free what their inodes held, unless something else refers to
    them.  Linux shrinks its dentry cache under memory pressure the same way.  A cut LRU
    may grow again, twice as large each :data:`DENTRY_CACHE_REGROW` seconds
    (:meth:`Filesystem.touch_dentry`).  Then each file system gives back at once what its
    freed inodes held (:meth:`Filesystem.release_host_fds`).  Returns how many dentries
    left the LRUs and host fds were given back."""
    dropped = 0
    now = time.monotonic()
    filesystems = list(_filesystems)
    for fs in filesystems:
        lru = fs._dentry_lru
        if len(lru) <= DENTRY_CACHE_FLOOR:
            continue
        fs._lru_cap = max(DENTRY_CACHE_FLOOR, len(lru) // 2)
        fs._lru_cut_at = now
        while len(lru) > fs._lru_cap:
            lru.popitem(last=False)
            dropped += 1
    for fs in filesystems:
        dropped += fs.release_host_fds()
    return dropped


def now_ns() -> int:
    """Current wall-clock time in nanoseconds (file timestamps)."""
    return time.time_ns()


@dataclass
class Stat:
    """What ``stat`` reports about a file (the fields of ``struct stat``)."""

    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    btime_ns: Optional[int] = None

    def copy(self, **changes: Any) -> "Stat":
        return replace(self, **changes)


@dataclass
class StatFS:
    """What ``statfs`` reports (the fields of ``struct statfs``)."""

    type: int
    bsize: int = 4096
    blocks: int = 0
    bfree: int = 0
    bavail: int = 0
    files: int = 0
    ffree: int = 0
    fsid: int = 0
    namelen: int = 255
    frsize: int = 4096
    flags: int = abi.ST_VALID


@dataclass
class SetAttr:
    """A metadata change; ``None`` fields are left alone.

    Timestamps are absolute nanoseconds (the VFS resolves ``UTIME_NOW``).
    """

    mode: Optional[int] = None  # permission bits only (07777)
    uid: Optional[int] = None
    gid: Optional[int] = None
    size: Optional[int] = None
    atime_ns: Optional[int] = None
    mtime_ns: Optional[int] = None

    def empty(self) -> bool:
        return all(
            v is None for v in (self.mode, self.uid, self.gid, self.size, self.atime_ns, self.mtime_ns)
        )


#: One directory entry as inodes report them: ``(name, ino, d_type)``.
if TYPE_CHECKING:
    DirEntry = Tuple[bytes, int, int]
else:  # (other modules import the name)
    DirEntry = tuple


class Filesystem(abc.ABC):
    """One mounted file system instance.

    :ivar fstype: the name in ``/proc/mounts`` (``"tmpfs"``, ``"proc"`` ...).
    :ivar magic: ``f_type`` of ``statfs``.
    :ivar dev: the device number reported in ``st_dev`` (allocated per instance).
    :ivar readonly: the file system itself refuses changes (``EROFS``), whatever
        the mount says.
    :ivar cache_dentries: the VFS may cache lookups (false for synthetic file
        systems whose entries come and go, e.g. ``/proc``).
    :ivar revalidate: others than the sandbox may change names here (a shared bind
        mount): the VFS looks a cached name up again at every walk through it and keeps
        the dentry only if :meth:`same_file` says the name still means that file.
    :ivar dir_fsync: its directories have an ``fsync`` operation (false for procfs and
        sysfs, whose directory operations have none: ``EINVAL``).
    """

    fstype = "none"
    magic = 0
    #: Runs nothing (Linux's ``SB_I_NOEXEC``: procfs and the kernel's internal pipefs,
    #: sockfs, anon_inodefs, nsfs): an executable mapping of its files is ``EPERM``
    #: whatever the mount (``sys_mm._check_noexec``).
    sb_noexec = False
    cache_dentries = True
    revalidate = False
    dir_fsync = True
    #: ``s_blocksize``, what ``FIGETBSZ`` says of any of its files (procfs and devpts:
    #: 1024; the page size for the others the sandbox has).
    block_size = 4096
    #: Its inodes may hold host fds (gofer handles, fds kept for re-opens): its cached
    #: dentries are dropped when the host runs out (reclaim_dentries).
    holds_host_fds = False

    def __init__(self, readonly: bool = False) -> None:
        self.dev = next(_dev_counter)
        self.readonly = readonly
        self._next_ino = itertools.count(1)
        # Recently used dentries of this file system, oldest first (values unused), and
        # how many it keeps if fewer than DENTRY_CACHE_SIZE (reclaim_dentries).
        self._dentry_lru: "OrderedDict[Dentry, None]" = OrderedDict()
        self._lru_cap = DENTRY_CACHE_SIZE
        self._lru_cut_at = 0.0
        if self.holds_host_fds:
            _filesystems.add(self)

    def release_host_fds(self) -> int:
        """Give back now the host fds freed inodes left to be given back later (a
        file system that batches them: the gofer's handles); how many (reclaim_dentries)."""
        return 0

    @property
    def sb_readonly(self) -> bool:
        """The superblock's ro flag as ``/proc/PID/mountinfo`` shows it."""
        return self.readonly

    def touch_dentry(self, d: "Dentry") -> None:
        """Keep *d* cached as the most recently used dentry of this file system.

        Beyond :data:`DENTRY_CACHE_SIZE` (or the smaller size a reclaim cut the
        LRU to, twice as large again each DENTRY_CACHE_REGROW seconds) the least
        recently used one is dropped from the LRU; it stays cached only while
        something else refers to it (see :mod:`sentry.vfs.dentry`).
        """
        lru = self._dentry_lru
        if d in lru:
            lru.move_to_end(d)
            return
        lru[d] = None
        cap = self._lru_cap
        if cap < DENTRY_CACHE_SIZE and len(lru) > cap:
            now = time.monotonic()
            if now - self._lru_cut_at > DENTRY_CACHE_REGROW:
                cap = self._lru_cap = min(DENTRY_CACHE_SIZE, 2 * cap)
                self._lru_cut_at = now
        cap = min(DENTRY_CACHE_SIZE, cap)  # (DENTRY_CACHE_SIZE may be set lower later)
        while len(lru) > cap:
            lru.popitem(last=False)

    def same_file(self, cached: "Inode", fresh: "Inode") -> bool:
        """Whether *fresh*, just looked up by the name of *cached*, is the same file
        (only asked when :attr:`revalidate`); if so *cached* may take its attributes."""
        return cached is fresh

    def forget_dentry(self, d: "Dentry") -> None:
        """Drop *d* from the LRU (it was removed from the tree)."""
        self._dentry_lru.pop(d, None)

    def next_ino(self) -> int:
        """A fresh inode number in this file system."""
        return next(self._next_ino)

    def statfs(self, t: Any) -> StatFS:
        """``statfs`` of this file system."""
        flags = abi.ST_VALID | (abi.ST_RDONLY if self.readonly else 0)
        return StatFS(type=self.magic, fsid=self.dev, flags=flags)

    @abc.abstractmethod
    def root_inode(self) -> "Inode":
        """The root directory."""

    def check_writable(self) -> None:
        """:raises LinuxError: ``EROFS`` if the file system is read-only."""
        if self.readonly:
            raise err(errno.EROFS)


class Inode(abc.ABC):
    """A file in a :class:`Filesystem`.

    Subclasses keep ``mode`` (type and permission bits), ``uid`` and ``gid``
    current, since the VFS reads them on every path walk; everything else is
    reported by :meth:`stat`.

    :cvar dead_dir: set by the VFS on a directory that was removed (``rmdir``,
        or replaced by ``rename``): nothing can be looked up, created or
        listed in it any more (``ENOENT``, Linux's ``IS_DEADDIR``).
    """

    dead_dir = False

    #: inotify watches (:mod:`sentry.vfs.fsnotify`), ``None`` while there are none.
    watches: Optional[List[Any]] = None
    #: Descriptions opened by path and not yet released (``IN_DELETE_SELF`` waits for 0).
    opens = 0
    #: The last name went while descriptions were open: ``IN_DELETE_SELF`` at the last close.
    delete_pending = False
    #: Linux's ``i_writecount``: descriptions open for writing (> 0), or processes
    #: running the file as their program (< 0, one each): each refuses the other
    #: with ``ETXTBSY``.  Counted on the VFS's inode (an overlay's, not a layer's),
    #: which a running process keeps alive by holding its dentry.
    write_count = 0

    #: Owner and group are ids of the sandbox (a user namespace mapping may leave a
    #: host file's unmapped: then no capability overrides its permissions).
    ids_mapped = True

    def __init__(self, fs: Filesystem, ino: int, mode: int, uid: int = 0, gid: int = 0) -> None:
        self.fs = fs
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        # Record locks and flock(2) state (sentry.vfs.locks), created lazily.
        self.locks: Optional["LockState"] = None

    # -- write access against execution (fs/namei.c, fs/exec.c) ---------------
    def get_write_access(self) -> None:
        """A description opens the file for writing.  :raises LinuxError: ``ETXTBSY``
        while a process runs it."""
        if self.write_count < 0:
            raise err(errno.ETXTBSY)
        self.write_count += 1

    def put_write_access(self) -> None:
        self.write_count -= 1

    def deny_write_access(self) -> None:
        """A process runs the file.  :raises LinuxError: ``ETXTBSY`` while it is open
        for writing."""
        if self.write_count > 0:
            raise err(errno.ETXTBSY)
        self.write_count -= 1

    def allow_write_access(self) -> None:
        self.write_count += 1

    # -- type helpers ------------------------------------------------------
    @property
    def is_dir(self) -> bool:
        return _st.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return _st.S_ISREG(self.mode)

    @property
    def is_symlink(self) -> bool:
        return _st.S_ISLNK(self.mode)

    # -- metadata ------------------------------------------------------------
    @abc.abstractmethod
    def stat(self) -> Stat:
        """The file's attributes."""

    def block_size(self) -> int:
        """``FIGETBSZ``: its file system's ``s_blocksize``."""
        return self.fs.block_size

    def setattr(self, t: Any, attr: SetAttr) -> None:
        """Change metadata (the VFS has checked permission).

        A size change on a non-regular file is refused by the VFS before this.
        :raises LinuxError: ``EPERM`` unless overridden.
        """
        raise err(errno.EPERM)

    # -- extended attributes (fs/xattr.c: the file system's handlers) -------------
    def getxattr(self, t: Any, name: bytes) -> bytes:
        """The whole value of *name*.

        :raises LinuxError: ``ENODATA`` if the file has no such attribute,
            ``EOPNOTSUPP`` for a namespace the file system does not keep, ``EINVAL``
            for a bare namespace prefix (``user.``).
        """
        raise err(errno.EOPNOTSUPP)

    def listxattr(self, t: Any) -> List[bytes]:
        """Every attribute's name, ``trusted.*`` included (the VFS hides those from
        callers without ``CAP_SYS_ADMIN``)."""
        return []

    def list_xattrs_up(self) -> None:
        """Have this file's and its directories' attribute names fetched at once, before
        the overlay copies them up one after another (a gofer file's: Tlistxattrs);
        nothing for a file system whose names cost no request."""
        return None

    def setxattr(self, t: Any, name: bytes, value: bytes, flags: int) -> None:
        """Set *name* to *value*; *flags* ``XATTR_CREATE`` (``EEXIST`` if it exists) or
        ``XATTR_REPLACE`` (``ENODATA`` if not).  Updates ``st_ctime``.

        :raises LinuxError: as :meth:`getxattr`, and ``ENOSPC``, ``EROFS``.
        """
        raise err(errno.EOPNOTSUPP)

    def removexattr(self, t: Any, name: bytes) -> None:
        """Remove *name*.  :raises LinuxError: ``ENODATA`` if it does not exist, or as
        :meth:`setxattr`."""
        raise err(errno.EOPNOTSUPP)

    # -- directories -------------------------------------------------------
    def lookup(self, t: Any, name: bytes) -> Optional["Inode"]:
        """The child *name* (never ``.``/``..``), or ``None`` if absent."""
        raise err(errno.ENOTDIR)

    def lookup_open(self, t: Any, name: bytes) -> Optional["Inode"]:
        """:meth:`lookup` of a name the caller is about to open read-only (nothing created
        or truncated): a file system whose lookups are round trips may open the file in
        the same one (the gofer's ``Twalkopen``)."""
        return self.lookup(t, name)

    def lookup_on(self, t: Any, name: bytes, rest: List[bytes],
                  last_opens: bool) -> Optional["Inode"]:
        """:meth:`lookup` of a name a path walk goes on from, through the names *rest*
        (reversed: the next is last, as the walk's stack holds them; the caller's, read
        during the call only), whose last is about to be opened read-only if
        *last_opens* (:meth:`lookup_open`): a file system whose lookups are round trips
        may list the directories along, or send that open, in the same one (the
        gofer's ``Tlistalong``, a ``Twalkopen`` sent with the walk)."""
        return self.lookup(t, name)

    def iterdir(self, t: Any) -> List[DirEntry]:
        """All entries except ``.`` and ``..``."""
        raise err(errno.ENOTDIR)

    def is_empty_dir(self, t: Any) -> bool:
        """True if the directory has no entries besides ``.`` and ``..``."""
        return not self.iterdir(t)

    def create(self, t: Any, name: bytes, mode: int, flags: int) -> "Inode":
        """Create regular file *name* (absent) with permission bits *mode*.

        *flags* are the open flags of the ``open`` that follows, which a file
        system may use to open the file in the same round trip.
        """
        raise err(errno.EPERM)

    def mkdir(self, t: Any, name: bytes, mode: int) -> "Inode":
        """Create directory *name* (absent)."""
        raise err(errno.EPERM)

    def mknod(self, t: Any, name: bytes, mode: int, rdev: int) -> "Inode":
        """Create a FIFO, socket or device node (*mode* includes the type)."""
        raise err(errno.EPERM)

    def symlink(self, t: Any, name: bytes, target: bytes) -> "Inode":
        """Create symlink *name* -> *target*."""
        raise err(errno.EPERM)

    def link(self, t: Any, name: bytes, target: "Inode") -> "Inode":
        """Create hard link *name* to *target* (same file system, not a directory).

        :returns: the inode now reachable as *name* (the same object where the
            file system can share it).
        """
        raise err(errno.EPERM)

    def unlink(self, t: Any, name: bytes, child: "Inode") -> None:
        """Remove non-directory *name* (whose inode is *child*)."""
        raise err(errno.EPERM)

    def rmdir(self, t: Any, name: bytes, child: "Inode") -> None:
        """Remove empty directory *name*."""
        raise err(errno.EPERM)

    def rename(
        self,
        t: Any,
        old_name: bytes,
        child: "Inode",
        new_dir: "Inode",
        new_name: bytes,
        replaced: Optional["Inode"],
        flags: int,
    ) -> None:
        """Move *old_name* of this directory to *new_name* in *new_dir*.

        The VFS has checked every type rule, ``RENAME_NOREPLACE`` and the
        emptiness of a replaced directory; with ``RENAME_EXCHANGE`` *replaced*
        is the other file and both names swap.
        """
        raise err(errno.EPERM)

    # -- symlinks ----------------------------------------------------------
    def readlink(self, t: Any) -> bytes:
        """The symlink's target.  :raises LinuxError: ``EINVAL`` if not a symlink."""
        raise err(errno.EINVAL)

    def get_link(self, t: Any) -> Optional["VirtualDentry"]:
        """For "magic" links (``/proc/self/fd/N``): the file to jump to, else ``None``."""
        return None

    # -- opening -----------------------------------------------------------
    def open(self, t: Any, vd: "VirtualDentry", flags: int) -> "FileDescription":
        """A new description (the VFS has checked permissions and types).

        ``O_TRUNC`` has already been applied and is not in *flags*.
        """
        raise err(errno.ENXIO)

    def fifo_pipe(self) -> Any:
        """The sentry pipe behind a FIFO inode (created on first use)."""
        pipe = getattr(self, "_fifo", None)
        if pipe is None:
            from sentry.fsimpl.pipe.pipe import Pipe

            pipe = Pipe()
            self._fifo = pipe
        return pipe

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ino={self.ino} mode={self.mode:o}>"


def open_special(t: Any, inode: Inode, vd: "VirtualDentry", flags: int) -> "FileDescription":
    """Open a FIFO (the sentry pipe of the inode), or refuse another special file.

    Sockets give ``ENXIO`` (as Linux does for a socket inode); device nodes
    that no sentry device backs give ``ENXIO`` too.
    """
    if _st.S_ISFIFO(inode.mode):
        from sentry.fsimpl.pipe.pipe import open_fifo

        return open_fifo(t, inode.fifo_pipe(), vd, flags)
    raise err(errno.ENXIO)


class SimpleStatMixin:
    """Stat fields kept in the inode itself (tmpfs, proc, dev)."""

    fs: Filesystem
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    rdev: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    btime_ns: int

    def _init_times(self) -> None:
        n = now_ns()
        self.atime_ns = self.mtime_ns = self.ctime_ns = self.btime_ns = n

    def data_size(self) -> int:
        return 0

    def data_blocks(self, size: int) -> int:
        """``st_blocks`` (512-byte units) for *size* bytes of data."""
        return (size + 511) // 512

    def stat(self) -> Stat:
        size = self.data_size()
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=self.nlink,
            uid=self.uid, gid=self.gid, rdev=self.rdev, size=size,
            blksize=4096, blocks=self.data_blocks(size),
            atime_ns=self.atime_ns, mtime_ns=self.mtime_ns, ctime_ns=self.ctime_ns,
            btime_ns=self.btime_ns,
        )

    def apply_setattr(self, attr: SetAttr) -> None:
        """Apply the metadata part of *attr* (size is the caller's business)."""
        apply_attrs(self, attr)


def apply_attrs(inode: Any, attr: SetAttr) -> None:
    """Set the mode bits, owner and times *attr* gives on *inode*, which keeps them in
    its fields (``simple_setattr``), and its ctime to now."""
    if attr.mode is not None:
        inode.mode = (inode.mode & abi.S_IFMT) | (attr.mode & 0o7777)
    if attr.uid is not None:
        inode.uid = attr.uid
    if attr.gid is not None:
        inode.gid = attr.gid
    if attr.atime_ns is not None:
        inode.atime_ns = attr.atime_ns
    if attr.mtime_ns is not None:
        inode.mtime_ns = attr.mtime_ns
    inode.ctime_ns = now_ns()


def dirents_of(entries: Dict[bytes, Inode]) -> List[DirEntry]:
    """``(name, ino, d_type)`` for a name → inode map, in insertion order."""
    return [(n, i.ino, abi.dtype_of_mode(i.mode)) for n, i in entries.items()]
