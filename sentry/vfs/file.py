"""Open file descriptions.

A :class:`FileDescription` is what an fd number refers to (``struct file``):
an offset, status flags and the file it was opened on.  fd tables hold
references to it (``dup``, ``fork`` and ``SCM_RIGHTS`` share one description);
:meth:`FileDescription.release` runs when the last reference goes.

Errno rules of the base class, which every implementation keeps:

- ``read``/``write`` on a description not open for it: ``EBADF`` (checked by
  the handler with :meth:`readable`/:meth:`writable` before calling);
- ``read``/``write`` not supported by the file: ``EINVAL``;
- ``seek`` on a stream (pipe, socket, tty): ``ESPIPE``; ``pread``/``pwrite`` on a file
  that takes none (:attr:`FileDescription.positional`: those, and anonymous-inode
  files): ``ESPIPE``, before the access mode; on a file that takes them but has no
  read or write operation: ``EINVAL``, as ``read``/``write``;
- negative resulting offset in ``seek``: ``EINVAL``; ``pread`` with a negative
  offset: ``EINVAL`` (checked by the handler);
- ``getdents`` on a non-directory: ``ENOTDIR``;
- ``ioctl`` the file does not know: ``ENOTTY``;
- ``truncate`` of anything but a regular file: ``EINVAL``;
- ``fallocate`` not supported: ``EOPNOTSUPP``; on a pipe: ``ESPIPE``;
- a read or write that would block raises :class:`WouldBlock` on
  :meth:`wait_queue` unless ``O_NONBLOCK`` is set, then ``EAGAIN``.

Readiness: :meth:`readiness` returns the ready subset of a poll mask
(``EVENT_*`` of :mod:`sentry.kernel.waiter`) without side effects, and
:meth:`wait_queue` is notified whenever it may have changed.  Only files with
:attr:`FileDescription.pollable` set may join an epoll set (Linux: the file has
a ``poll`` operation; regular files and directories do not, ``EPERM``).

Host fds: :attr:`host_fd` is set when the description is backed by a host fd
held by the sentry whose host behaviour equals the sandbox behaviour for
``read``/``write``/``pread64``/``pwrite64``/``lseek`` (a file the gofer opened:
its host offset *is* the description's offset).  A fast path may then serve
those calls directly on it; if the host call returns ``EAGAIN`` (a
non-blocking host fd standing for a blocking description, see
:class:`sentry.fsimpl.host.host.HostFileDescription`) the fast path must fall
back to the Python handler, which parks the call.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT, WaitQueue
from sentry.vfs import abi, fsnotify

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

#: ``EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM`` (include/linux/poll.h).
DEFAULT_POLLMASK = EVENT_IN | EVENT_OUT | 0x040 | 0x100

if TYPE_CHECKING:
    from sentry.vfs.dentry import VirtualDentry
    from sentry.vfs.inode import Inode, Stat, StatFS

#: One directory entry as descriptions return them: ``(ino, d_type, name)``.
if TYPE_CHECKING:  # (an annotation only)
    Dirent = Tuple[int, int, bytes]


class FileDescription:
    """Base open file description.

    :ivar vd: where it was opened (``None`` for anonymous files set up
        without a mount; pipes and sockets have an anonymous mount).
    :ivar inode: the file (``vd.dentry.inode`` for path-opened files).
    :ivar flags: access mode and status flags (``O_APPEND``, ``O_NONBLOCK`` ...);
        never ``O_CLOEXEC`` (a per-fd flag) or the open-time-only flags.
    :ivar offset: the file offset for seekable files.
    :ivar host_fd: see the module docstring.
    :ivar refs: fd-table references; :meth:`release` runs at 0.
    """

    #: ``anon_inode:[...]``-style name for /proc/pid/fd when there is no path.
    anon_name: Optional[bytes] = None
    #: The offset is the host fd's (gofer and host files, which override :attr:`offset`
    #: with an ``lseek``): the host checks a call's range itself (``rw_verify_area``)
    #: for the count the sentry passes on.
    host_offset = False
    #: A byte stream (pipe, stream socket, tty): a blocking write of more than
    #: fits sleeps until all of it is written, and a short count from
    #: :meth:`write` means "full for now", not "no more room ever".
    stream = False
    #: The file takes ``pread``/``pwrite`` at an offset (Linux's ``FMODE_PREAD``/
    #: ``FMODE_PWRITE``, which pipes, ttys, sockets and anonymous-inode files lack): a
    #: positioned call on one that does not is ``ESPIPE`` before the fd's access mode
    #: is looked at (``pread`` of a pipe's write end).
    positional = True
    #: The file has Linux's ``read_iter``/``write_iter`` (not only ``read``/``write``, or
    #: nothing): AIO refuses a read or write of a file without (``EINVAL`` at
    #: submission). Directories, inotify, message queues and most /proc/PID files have a
    #: plain ``read`` only, epoll, pidfds and io_uring files neither, eventfd, /dev/full,
    #: timerfd and signalfd no ``write_iter``.
    read_iter = True
    write_iter = True
    #: The file has a read (or read_iter), a write (or write_iter) at all (Linux's
    #: ``FMODE_CAN_READ``/``FMODE_CAN_WRITE``): readv and writev of one that has not are
    #: ``EINVAL`` before anything else is looked at. epoll, pidfds and io_uring files have
    #: neither; timerfd, signalfd, inotify, message queues and directories no write.
    can_read = True
    can_write = True
    #: A regular file with no host fd to map whose ``MAP_PRIVATE`` mapping is a copy of
    #: its bytes (``sys_mm.snapshot_fd``): a donated host file.  Linux maps no file whose
    #: file system has no ``mmap`` (procfs: ``ENODEV``, after the access checks).
    mmap_copies = False
    #: The file is a host file (``host_fd``: a gofer file, a donated one) whose file
    #: system says whether ``MAP_SHARED_VALIDATE`` takes ``MAP_SYNC``
    #: (``sys_mm.takes_map_sync``).
    validates_on_host = False
    #: Its ``ENODEV`` for a mapping is its own ``mmap``'s (a socket's ``sock_mmap``),
    #: which Linux calls after ``MAP_GROWSDOWN``'s check, not a missing ``mmap`` (before).
    mmap_refuses_late = False

    @property
    def on_noexec_sb(self) -> bool:
        """Its file system runs nothing (``Filesystem.sb_noexec``)."""
        inode = self.inode
        return inode is not None and inode.fs.sb_noexec

    def own_statfs(self) -> Optional["StatFS"]:
        """``fstatfs``'s answer where it is not the file system's the description was
        opened on (None: that one's): a donated host fd's is the host object's."""
        return None

    #: A read-only open of a trusted lower-layer file: the stat cache's key its host fd
    #: goes back under when it is released, for C to re-open (statcache.reopen_key).
    reopen_key: Optional[Tuple[Any, ...]] = None
    #: The file can be a ``splice``/``sendfile`` source (Linux's ``splice_read``, which
    #: pipes, anonymous-inode files and /dev/null lack: ``EINVAL``).
    splice_read = True
    #: ``SPLICE_F_NONBLOCK`` (or sendfile into an ``O_NONBLOCK`` pipe) makes reading it
    #: into a pipe nonblocking: only a unix stream socket's ``splice_read`` takes it
    #: (``MSG_DONTWAIT``); TCP and everything read through ``copy_splice_read`` wait as
    #: the file's own ``O_NONBLOCK`` says.
    splice_nonblock = False
    #: ``epoll_ctl`` may watch it (see the module docstring).
    pollable = False
    #: A write takes the count without reading the bytes (``write_null``: /dev/null,
    #: /dev/zero), as :mod:`sentry.syscalls.linux.sys_file`'s writes and C serve it.
    swallows_writes = False
    #: Every write fails with this errno without reading the bytes (``write_full``:
    #: /dev/full); 0: writes are the file's.
    write_fails = 0
    #: The file has Linux's ``fasync``: ``O_ASYNC`` makes it send ``SIGIO``
    #: (:mod:`sentry.vfs.fasync`).  Without it ``F_SETFL`` drops ``O_ASYNC`` and
    #: ``FIOASYNC`` fails with ``ENOTTY``.
    has_fasync = True
    #: The inode a path open made this description on (:mod:`sentry.vfs.fsnotify`:
    #: its events and open count); ``None`` for anonymous files and ``O_PATH``.
    notify_inode: Optional["Inode"] = None
    #: Run with the description when its last reference goes, before :meth:`release`
    #: (epoll sets drop their interest in it, as Linux's ``eventpoll_release``).
    #: Keyed by the owner, which adds and removes its own entry.
    release_hooks: Optional[Dict[Any, Callable[["FileDescription"], None]]] = None
    #: The inode whose write access this description holds (opened for writing by
    #: path: :meth:`Inode.get_write_access <sentry.vfs.inode.Inode.get_write_access>`),
    #: given back at the last reference.
    write_inode: Optional["Inode"] = None

    def __init__(self, vd: Optional["VirtualDentry"], inode: Optional["Inode"], flags: int) -> None:
        self.vd = vd
        self.inode = inode
        self.flags = flags & ~(
            abi.O_CREAT | abi.O_EXCL | abi.O_NOCTTY | abi.O_TRUNC | abi.O_CLOEXEC
        )
        self._offset = 0
        self.host_fd: Optional[int] = None
        self.refs = 1
        self._queue: Optional[WaitQueue] = None

    # -- references --------------------------------------------------------
    def incref(self) -> None:
        self.refs += 1

    def decref(self) -> None:
        """Drop one reference; :meth:`release` on the last."""
        self.refs -= 1
        if self.refs == 0:
            from sentry.vfs.locks import release_description

            if self.notify_inode is not None:
                fsnotify.closed(self)
            if self.write_inode is not None:
                self.write_inode.put_write_access()
                self.write_inode = None
            release_description(self)
            hooks = self.release_hooks
            if hooks:
                self.release_hooks = None
                for hook in list(hooks.values()):
                    hook(self)
            self.release()

    def release(self) -> None:
        """Free what the description holds (its last reference went)."""

    # -- flags ---------------------------------------------------------------
    @property
    def is_path(self) -> bool:
        """Opened with ``O_PATH``: no I/O at all (``EBADF``)."""
        return bool(self.flags & abi.O_PATH)

    def readable(self) -> bool:
        """Open for reading (not ``O_WRONLY``, not ``O_PATH``)."""
        return not self.is_path and (self.flags & abi.O_ACCMODE) in (abi.O_RDONLY, abi.O_RDWR)

    def writable(self) -> bool:
        """Open for writing (``O_WRONLY`` or ``O_RDWR``, not ``O_PATH``)."""
        return not self.is_path and (self.flags & abi.O_ACCMODE) in (abi.O_WRONLY, abi.O_RDWR)

    @property
    def nonblocking(self) -> bool:
        return bool(self.flags & abi.O_NONBLOCK)

    def set_status_flags(self, flags: int) -> None:
        """``F_SETFL``: replace the changeable status flags (``abi.SETFL_MASK``).

        :raises LinuxError: ``EINVAL`` for ``O_ASYNC`` (no SIGIO emulation).
        """
        if flags & abi.O_ASYNC:
            raise err(errno.EINVAL)
        self.flags = (self.flags & ~abi.SETFL_MASK) | (flags & abi.SETFL_MASK)

    # -- offset ------------------------------------------------------------
    @property
    def offset(self) -> int:
        return self._offset

    @offset.setter
    def offset(self, v: int) -> None:
        self._offset = v

    # -- I/O -----------------------------------------------------------------
    def read(self, t: Any, n: int) -> bytes:
        """Read up to *n* bytes at the offset (advancing it); ``b""`` at EOF."""
        raise err(errno.EINVAL)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        """Read up to *n* bytes at *off* without moving the offset (the handler said
        ``ESPIPE`` first for a file that is not :attr:`positional`)."""
        raise err(errno.EINVAL)

    def unread(self, t: Any, data: bytes) -> None:
        """Take back *data*, the tail of what the last :meth:`read` returned,
        which could not be copied to the workload (Linux consumes only what
        it copied out).  Files with an offset move it back; pipes keep the
        bytes.  The default (devices, host streams) cannot: the bytes are lost.
        """

    def write(self, t: Any, data: bytes) -> int:
        """Write *data* at the offset (or the end with ``O_APPEND``); returns the count."""
        raise err(errno.EINVAL)

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        """Write *data* at *off* without moving the offset (``ESPIPE``: as :meth:`pread`)."""
        raise err(errno.EINVAL)

    def seek(self, t: Any, off: int, whence: int) -> int:
        """``lseek``: returns the new offset."""
        raise err(errno.ESPIPE)

    def shared_mapping_fd(self, t: Any) -> int:
        """A host fd whose ``MAP_SHARED`` mapping is this file's (the sentry keeps it).

        :raises LinuxError: ``ENODEV``: the file cannot be mapped shared.
        """
        raise err(errno.ENODEV)

    def mmap_offset(self, off: int, length: int, prot: int) -> int:
        """Where a mapping of the file at offset *off* starts in the host file of
        :meth:`shared_mapping_fd`: *off* itself, but for files whose mmap offsets name
        regions (io_uring's rings).

        :raises LinuxError: the mapping is refused.
        """
        return off

    def size(self) -> int:
        """The size ``SEEK_END`` is relative to."""
        return self.stat(None).size

    def generic_seek(self, off: int, whence: int) -> int:
        """``lseek`` for a seekable file of :meth:`size` bytes."""
        if whence == abi.SEEK_SET:
            new = off
        elif whence == abi.SEEK_CUR:
            new = self.offset + off
        elif whence == abi.SEEK_END:
            new = self.size() + off
        elif whence in (abi.SEEK_DATA, abi.SEEK_HOLE):
            size = self.size()
            if off < 0 or off >= size:
                raise err(errno.ENXIO)
            new = off if whence == abi.SEEK_DATA else size
        else:
            raise err(errno.EINVAL)
        if new < 0:
            raise err(errno.EINVAL)
        self.offset = new
        return new

    def stat(self, t: Any) -> "Stat":
        """``fstat``."""
        if self.inode is None:
            raise err(errno.EBADF)
        return self.inode.stat()

    def getdents(self, t: Any) -> List[Dirent]:
        """All entries of a directory, ``.`` and ``..`` first; the handler
        serves them from index :attr:`offset` and advances it."""
        raise err(errno.ENOTDIR)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        """A device-specific ioctl (the handler serves the generic ones)."""
        raise err(errno.ENOTTY)

    def truncate(self, t: Any, size: int) -> None:
        """``ftruncate`` (the handler checked :meth:`writable`)."""
        raise err(errno.EINVAL)

    #: The file has an ``fsync`` operation (Linux's ``f_op->fsync``): files of file
    #: systems (regular files, their directories) do; pipes, sockets, devices, the
    #: anonymous files and procfs's do not, and ``fsync``, ``fdatasync``, aio's and
    #: io_uring's fsync of them are ``EINVAL``.  A write's ``RWF_DSYNC`` syncs only a
    #: file that has one (``generic_write_sync`` is the file systems' own call).
    fsync_op = False

    def fsync(self, t: Any) -> None:
        """``fsync``/``fdatasync``: ``EINVAL`` without :attr:`fsync_op`; a class that
        sets it flushes its data here (memory file systems need nothing)."""
        if not self.fsync_op:
            raise err(errno.EINVAL)

    def fallocate(self, t: Any, mode: int, off: int, length: int) -> None:
        """``fallocate``."""
        raise err(errno.EOPNOTSUPP)

    # -- readiness -----------------------------------------------------------
    def readiness(self, mask: int) -> int:
        """The ready events among *mask*; files that never block are always ready
        (Linux's ``DEFAULT_POLLMASK`` for a file without a ``poll`` operation)."""
        return mask & DEFAULT_POLLMASK

    def wait_queue(self) -> WaitQueue:
        """The queue notified when :meth:`readiness` may have changed."""
        if self._queue is None:
            self._queue = WaitQueue()
        return self._queue

    def ready_or_block(self, mask: int) -> None:
        """Raise ``EAGAIN`` or :class:`WouldBlock` unless some of *mask* is ready."""
        if self.readiness(mask) & mask:
            return
        if self.nonblocking:
            raise err(errno.EAGAIN)
        from sentry.abi.linux.errors import WouldBlock

        raise WouldBlock([(self.wait_queue(), mask)])

    # -- naming ------------------------------------------------------------
    def fdinfo(self) -> bytes:
        """The file's own lines of ``/proc/<pid>/fdinfo/<fd>`` after the common ones."""
        return b""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} flags={self.flags:o}>"


class PathDescription(FileDescription):
    """An ``O_PATH`` description: a handle on a place, no I/O (``EBADF``)."""

    def read(self, t: Any, n: int) -> bytes:
        raise err(errno.EBADF)

    def write(self, t: Any, data: bytes) -> int:
        raise err(errno.EBADF)

    def getdents(self, t: Any) -> List[Dirent]:
        raise err(errno.EBADF)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        raise err(errno.EBADF)

    def seek(self, t: Any, off: int, whence: int) -> int:
        raise err(errno.EBADF)


class DirectoryDescription(FileDescription):
    """A directory opened for reading: ``getdents`` from :meth:`Inode.iterdir`.

    The listing is taken when the offset is 0 (open, ``rewinddir``), as Linux
    readdir sees a consistent listing for one pass.
    """

    read_iter = write_iter = False
    can_write = False

    def __init__(self, vd: "VirtualDentry", inode: "Inode", flags: int) -> None:
        super().__init__(vd, inode, flags)
        self._listing: Optional[List[Dirent]] = None
        # Undo the marks of fd slots whose C fast path answers getdents at the end of the
        # listing (sentry.platform.hybrid.fastfd): run when the offset moves.
        self.end_marks: List[Callable[[], None]] = []
        # The stat cache's key of the directory (base, prefix, generation), once a listing
        # handed its answers over: C looks paths relative to its fds up under it.
        self.dir_key: Optional[Tuple[int, bytes, int]] = None

    @property
    def fsync_op(self) -> bool:  # type: ignore[override]
        """A directory's file system says (procfs's and sysfs's have no ``fsync``)."""
        return self.inode is not None and self.inode.fs.dir_fsync

    def getdents(self, t: Any) -> List[Dirent]:
        if self._listing is None or self.offset == 0:
            self._listing = self.list_entries(t)
        return self._listing

    def list_entries(self, t: Any) -> List[Dirent]:
        """``.``, ``..`` and the directory's entries."""
        assert self.inode is not None and self.vd is not None
        d = self.vd.dentry
        parent = d.parent.inode if d.parent is not None else self.inode
        out: List[Dirent] = [
            (self.inode.ino, abi.DT_DIR, b"."),
            (parent.ino, abi.DT_DIR, b".."),
        ]
        out.extend((ino, dt, name) for name, ino, dt in self.inode.iterdir(t))
        return out

    def read(self, t: Any, n: int) -> bytes:
        raise err(errno.EISDIR)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        raise err(errno.EISDIR)

    def seek(self, t: Any, off: int, whence: int) -> int:
        for undo in self.end_marks:
            undo()
        self.end_marks.clear()
        return self._seek(off, whence)

    def _seek(self, off: int, whence: int) -> int:
        if whence == abi.SEEK_SET:
            new = off
        elif whence == abi.SEEK_CUR:
            new = self.offset + off
        else:
            raise err(errno.EINVAL)
        if new < 0:
            raise err(errno.EINVAL)
        self.offset = new
        return new
