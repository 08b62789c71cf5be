"""Pipes and FIFOs, held in sentry memory.

A :class:`Pipe` is a byte buffer (64 KiB by default, ``F_SETPIPE_SZ`` up to 1 MiB,
``fs.pipe-max-size``, or 2 GiB with ``CAP_SYS_RESOURCE``) with reader and writer counts
and one :class:`WaitQueue`.  The buffer is C's (native/src/pipe.c), shared with the C
fast path, which serves ``read``, ``write`` and ``sendfile`` of a gofer file into it
while nothing subscribes to the queue and the call needs no wait (bytes to read, room
for all of a write, a reader): these methods and the syscall handlers are its Python
twin (``tests/native/test_pipe_twins.py``; the buffer against a model of Linux's fill
rules: ``test_pipe_buffer.py``).  Anonymous pipes (pipe(2)) live in an internal
``pipefs``; a FIFO inode of any file system owns a :class:`Pipe` created on its first
open (:func:`open_fifo`).  Its data goes when the last description of either side is
closed (Linux frees the ``pipe_inode_info``), so a FIFO opened again starts empty.

Fullness is Linux's: the buffer is a ring of page-sized slots (capacity / 4 KiB
of them), a write fills new slots after merging its sub-page remainder into the
last slot if that fits, and a read frees a slot only once it is drained.  So a
full pipe stays unwritable (no ``POLLOUT``, ``EAGAIN``) until a whole slot is
read, however many bytes are free (fs/pipe.c: ``pipe_write``, ``pipe_poll``).
Each occupied slot is a page of the sandbox's memory account
(:mod:`sentry.kernel.memacct`), as Linux charges pipe pages to the memory cgroup: with
the account spent a write that stored nothing fails with ``ENOMEM``.

Semantics (pipe(7)):

- read: data → up to *n* bytes; empty and no writer → EOF; empty otherwise →
  ``EAGAIN`` (``O_NONBLOCK``) or block.
- write: no reader → ``SIGPIPE`` (``t.kernel.signal_task``) and ``EPIPE``;
  up to ``PIPE_BUF`` bytes are written atomically or not at all (block /
  ``EAGAIN``), as they fit in the last slot or in one new slot; a larger write
  writes what fits and returns that count.  The
  syscall layer (:func:`sentry.syscalls.linux.sys_file.stream_write`) turns
  that into Linux's blocking behaviour: it parks with the progress kept and
  goes on until all is written, answering the partial count if a signal
  interrupts.
- FIFO open: ``O_RDONLY`` waits for a writer and ``O_WRONLY`` for a reader
  unless ``O_NONBLOCK`` (then a writer gets ``ENXIO``); ``O_RDWR`` never waits.
  A waiting opener is recorded by tid so the other side can proceed (the one
  side effect before blocking, harmless on a retry).

Ownership: descriptions own a reader/writer count each, released in
:meth:`PipeDescription.release`.  Single-threaded, no locks.
"""

from __future__ import annotations

import errno
import _signal as signal

from sentry.abi.linux.capability import CAP_SYS_RESOURCE
from sentry.abi.linux.errors import WouldBlock, err
from sentry.platform.hybrid import native as N
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT, EVENT_ALL, WaitQueue
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry, kern_mount
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, Inode, SetAttr, Stat, StatFS, apply_attrs, now_ns

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Set, Tuple

PIPE_BUF = 4096
#: The size of one slot of the ring (a page).
PAGE = 4096
#: /proc/sys/fs/pipe-max-size.
MAX_CAPACITY = 1 << 20

FIONREAD = 0x541B
_RDNORM, _WRNORM = 0x040, 0x100


class PipeFilesystem(Filesystem):
    """The internal file system of anonymous pipes (never mounted in the tree)."""

    fstype = "pipefs"
    magic = abi.PIPEFS_MAGIC
    sb_noexec = True

    def root_inode(self) -> Inode:
        return PipeInode(self, 0, 0)

    def statfs(self, t: Any) -> StatFS:
        return StatFS(type=self.magic, fsid=self.dev)


class PipeInode(Inode):
    """The inode of an anonymous pipe (``S_IFIFO``, mode 0600)."""

    def __init__(self, fs: Filesystem, uid: int, gid: int) -> None:
        super().__init__(fs, fs.next_ino(), abi.S_IFIFO | 0o600, uid, gid)
        self.atime_ns = self.mtime_ns = self.ctime_ns = now_ns()

    def setattr(self, t: Any, attr: SetAttr) -> None:
        """fchmod, fchown and futimens of a pipe change its own inode (pipefs's
        simple_setattr; the VFS checked the caller may)."""
        apply_attrs(self, attr)

    def open(self, t: Any, vd: VirtualDentry, flags: int) -> FileDescription:
        """Re-opening through ``/proc/<pid>/fd/N`` (``/dev/stdin`` of a pipe) opens the same
        pipe. Linux's fifo_open never waits for a partner nor refuses an O_NONBLOCK writer
        with ENXIO on pipefs (``is_pipe``): ``echo x | cat /dev/stdin`` reads at once."""
        pipe = getattr(self, "pipe", None)
        if pipe is None:
            raise err(errno.ENXIO)
        return PipeDescription(pipe, vd, self, flags)

    def stat(self) -> Stat:
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=1, uid=self.uid,
            gid=self.gid, rdev=0, size=0, blksize=4096, blocks=0,
            atime_ns=self.atime_ns, mtime_ns=self.mtime_ns, ctime_ns=self.ctime_ns,
        )


_PIPEFS: Optional[PipeFilesystem] = None
_PIPE_MOUNT: Optional[Mount] = None


def _pipefs() -> Tuple[PipeFilesystem, Mount]:
    global _PIPEFS, _PIPE_MOUNT
    if _PIPEFS is None or _PIPE_MOUNT is None:
        _PIPEFS = PipeFilesystem()
        _PIPE_MOUNT = kern_mount(_PIPEFS, _PIPEFS.root_inode(), "pipefs")
    return _PIPEFS, _PIPE_MOUNT


def pipe_size_for(t: Any, size: int) -> int:
    """``F_SETPIPE_SZ``'s *size* rounded up to a power-of-two number of pages, checked.

    :raises LinuxError: ``EINVAL`` (too large for an int), ``EPERM`` past the maximum
        (``fs.pipe-max-size``) for a task without ``CAP_SYS_RESOURCE``.
    """
    if size < 0 or size > (1 << 31):
        raise err(errno.EINVAL)
    cap = PIPE_BUF
    while cap < size:
        cap <<= 1
    if cap > MAX_CAPACITY and (t is None or not t.creds.capable(CAP_SYS_RESOURCE)):
        raise err(errno.EPERM)
    return cap


class PipeQueue(WaitQueue):
    """A pipe's wait queue, which tells its buffer whether anything subscribes: C's fast
    path serves a pipe's reads and writes only while nothing does (no one to wake, no
    epoll event or ``SIGIO`` to make) but the calls parked on it that C completes itself
    (:meth:`c_waiter`): a ``read`` when it puts bytes in, a ``write`` or ``sendfile``
    when its reads make room."""

    __slots__ = ("_buf", "_c_keys")

    def __init__(self, buf: Any) -> None:
        super().__init__()
        self._buf = buf
        self._c_keys: Set[int] = set()

    def _sync(self) -> None:
        self._buf.watched = 1 if len(self) > len(self._c_keys) else 0

    def subscribe(self, mask: int, callback: Callable[[int], None], head: bool = False) -> int:
        key = super().subscribe(mask, callback, head)
        self._sync()
        return key

    def unsubscribe(self, key: int) -> None:
        super().unsubscribe(key)
        self._c_keys.discard(key)
        self._sync()

    def c_waiter(self, key: int, on: bool = True) -> None:
        """The subscription *key* is a parked call C completes itself (``rt_pipe_wait``,
        ``rt_pipe_wait_write``): it does not keep C from the pipe; *on* false: no longer."""
        if on:
            self._c_keys.add(key)
        else:
            self._c_keys.discard(key)
        self._sync()


class Pipe:
    """The shared state of a pipe or FIFO.  Its bytes, slots and reader count are in C
    (:attr:`cbuf`, native/src/pipe.c), where C's fast path reads and writes them too."""

    def __init__(self) -> None:
        self.cbuf = N.pipe_new()
        # Opens of each side so far (Linux r_counter/w_counter): a FIFO reader
        # that never saw a writer does not report POLLHUP.
        self.r_counter = 0
        self.w_counter = 0
        self.queue = PipeQueue(self.cbuf)
        self.waiting_readers: Dict[int, int] = {}
        self.waiting_writers: Dict[int, int] = {}

    @property
    def readers(self) -> int:
        return int(self.cbuf.readers)

    @readers.setter
    def readers(self, n: int) -> None:
        self.cbuf.readers = n

    @property
    def writers(self) -> int:
        return int(self.cbuf.writers)

    @writers.setter
    def writers(self, n: int) -> None:
        self.cbuf.writers = n

    @property
    def size(self) -> int:
        """The bytes held."""
        return int(self.cbuf.size)

    @property
    def capacity(self) -> int:
        return int(self.cbuf.cap)

    @property
    def nslots(self) -> int:
        """The occupied slots."""
        return int(self.cbuf.nslots)

    @property
    def free(self) -> int:
        """The bytes a write would take now, whole: the last slot's tail room and
        the free slots (a write of at most this many bytes is never cut short)."""
        return N.pipe_free_bytes(self.cbuf)

    def page_room(self, file_off: int) -> int:
        """The bytes of a regular file from *file_off* on that splice or sendfile can put
        in now: a slot per file page (the first from *file_off* to its page's end), in free
        slots only (filemap_splice_read)."""
        return N.pipe_page_room(self.cbuf, file_off)

    @property
    def full(self) -> bool:
        """Every slot is occupied (Linux's ``pipe_full``)."""
        return self.cbuf.nslots >= self.cbuf.cap // PAGE

    def push(self, data: bytes, file_off: int = -1) -> int:
        """Store what fits of *data* as ``pipe_write`` does; the count stored.

        The sub-page remainder goes into the last slot first if it fits there
        whole, the rest into new slots a page at a time while slots are free and the
        memory account takes a page (Linux charges pipe pages to the memory cgroup).
        *file_off* >= 0: *data* are a regular file's bytes from there on, as splice and
        sendfile put them in: a new slot per file page, none added to the last slot nor
        taking more.
        """
        return N.pipe_push(self.cbuf, data, file_off)

    def pop(self, n: int) -> bytes:
        """Take up to *n* bytes from the front, freeing the slots drained."""
        return N.pipe_pop(self.cbuf, n)

    def peek(self, n: int) -> bytes:
        """Up to *n* bytes from the front, left there."""
        return N.pipe_pop(self.cbuf, n, keep=True)

    def unpop(self, data: bytes) -> None:
        """Put back bytes just taken by :meth:`pop` (their copy-out failed).  The last
        slot, and so whether a write may add to it, stays what it was.

        :raises LinuxError: ``ENOMEM`` if the sentry has no memory for them (they are lost).
        """
        try:
            N.pipe_unpop(self.cbuf, data)
        except OSError:
            raise err(errno.ENOMEM) from None

    def resize(self, cap: int) -> None:
        """A new capacity (the caller checked the occupied slots fit)."""
        N.pipe_resize(self.cbuf, cap)

    def discard(self) -> None:
        """The last description is gone: drop the data, back to the default size."""
        N.pipe_discard(self.cbuf)


class PipeDescription(FileDescription):
    """One end (or both, for a FIFO opened ``O_RDWR``) of a pipe."""

    stream = True
    positional = False
    splice_read = False
    pollable = True

    def __init__(
        self, pipe: Pipe, vd: VirtualDentry, inode: Inode, flags: int, fifo: bool = False
    ) -> None:
        # Its O_NONBLOCK where C reads it (rt_fd_set_pipe): C parks its blocking calls
        # itself, as read and _store would park them (Dispatcher.adopt).
        self.nonblock_cell = N.flag_cell()
        super().__init__(vd, inode, flags)
        self.pipe = pipe
        self.is_reader = self.readable()
        self.is_writer = self.writable()
        if self.is_reader:
            pipe.readers += 1
            pipe.r_counter += 1
        if self.is_writer:
            pipe.writers += 1
            pipe.w_counter += 1
        # Anonymous pipes always had a writer (Linux: f_version 0 vs w_counter 1).
        self._w_seen = pipe.w_counter if fifo else -1
        if not fifo:
            self.anon_name = b"pipe:[%d]" % inode.ino
        pipe.queue.notify(EVENT_ALL)

    @property  # type: ignore[override]
    def flags(self) -> int:
        return self._flags

    @flags.setter
    def flags(self, v: int) -> None:
        self._flags = v
        self.nonblock_cell[0] = 1 if v & abi.O_NONBLOCK else 0

    def wait_queue(self) -> WaitQueue:
        return self.pipe.queue

    def read(self, t: Any, n: int) -> bytes:
        p = self.pipe
        if n == 0:
            return b""
        if p.size:
            # Linux wakes writers only when the pipe was full (pipe_read's was_full):
            # an EPOLLET watcher of the write end sees no event for other reads.
            was_full = p.full
            out = p.pop(n)
            if was_full:
                p.queue.notify(EVENT_OUT)
            return out
        if p.writers == 0:
            return b""
        if self.nonblocking:
            raise err(errno.EAGAIN)
        wb = WouldBlock([(p.queue, EVENT_IN | EVENT_HUP)])
        wb.pipe = p  # (a read(2) C may answer when it puts bytes in: Dispatcher._park)
        raise wb

    def unread(self, t: Any, data: bytes) -> None:
        if data:
            self.pipe.unpop(data)
            self.pipe.queue.notify(EVENT_IN)

    def write(self, t: Any, data: bytes) -> int:
        return self._store(t, data, -1)

    def write_file_pages(self, t: Any, data: bytes, file_off: int) -> int:
        """:meth:`write` of a regular file's bytes from *file_off* on, spliced or sent
        (``sendfile``) into the pipe: a slot per file page (:meth:`Pipe.push`)."""
        return self._store(t, data, file_off)

    def check_reader(self, t: Any) -> None:
        """``EPIPE`` (and ``SIGPIPE`` to *t*) if no reader is left: what a write finds
        first, before it takes anything from its source (sendfile)."""
        if self.pipe.readers == 0:
            if t is not None:
                t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
            raise err(errno.EPIPE)

    def _store(self, t: Any, data: bytes, file_off: int) -> int:
        p = self.pipe
        n = len(data)
        if n == 0:
            return 0  # pipe_write: a null write succeeds, reader or not
        self.check_reader(t)
        k = p.push(data, file_off)
        if k == 0:
            if not p.full:
                # The sandbox's memory account is spent (pipe_write's failed alloc_page).
                raise err(errno.ENOMEM)
            if self.nonblocking:
                raise err(errno.EAGAIN)
            wb = WouldBlock([(p.queue, EVENT_OUT | EVENT_ERR)])
            wb.pipe = p  # (a write(2) C may complete when its reads make room: _park)
            raise wb
        p.queue.notify(EVENT_IN)
        return k

    def ready_or_block(self, mask: int) -> None:
        try:
            super().ready_or_block(mask)
        except WouldBlock as wb:
            if mask == EVENT_OUT and self.is_writer:
                wb.pipe = self.pipe  # (sendfile's wait for room, which C may end: _park)
            raise

    def readiness(self, mask: int) -> int:
        p = self.pipe
        r = 0
        if self.is_reader:
            if p.size:
                r |= EVENT_IN | _RDNORM
            if p.writers == 0 and p.w_counter != self._w_seen:
                r |= EVENT_HUP
        if self.is_writer:
            if not p.full:
                r |= EVENT_OUT | _WRNORM
            if p.readers == 0:
                r |= EVENT_ERR
        return r & (mask | EVENT_HUP | EVENT_ERR)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd == FIONREAD:
            t.mem.write_i32(arg, self.pipe.size)
            return 0
        raise err(errno.ENOTTY)

    def get_pipe_size(self) -> int:
        """``F_GETPIPE_SZ``."""
        return self.pipe.capacity

    def set_pipe_size(self, t: Any, size: int) -> int:
        """``F_SETPIPE_SZ``: round up to a power-of-two number of pages.

        :raises LinuxError: ``EINVAL`` (size too large for an int), ``EPERM``
            past the maximum for a non-root task, ``EBUSY`` if the occupied
            slots would not fit.
        """
        cap = pipe_size_for(t, size)
        if cap // PAGE < self.pipe.nslots:
            raise err(errno.EBUSY)
        self.pipe.resize(cap)
        self.pipe.queue.notify(EVENT_OUT)
        return cap

    def release(self) -> None:
        p = self.pipe
        if self.is_reader:
            p.readers -= 1
        if self.is_writer:
            p.writers -= 1
        if p.readers == 0 and p.writers == 0 and not p.waiting_readers and not p.waiting_writers:
            p.discard()
        p.queue.notify(EVENT_ALL)


def new_pipe(t: Any, flags: int) -> Tuple[PipeDescription, PipeDescription]:
    """pipe2(2): a read end and a write end (status flags from *flags*)."""
    fs, mount = _pipefs()
    uid, gid = (t.creds.euid, t.creds.egid) if t is not None else (0, 0)
    inode = PipeInode(fs, uid, gid)
    vd = VirtualDentry(mount, Dentry(b"pipe:[%d]" % inode.ino, None, inode))
    pipe = Pipe()
    inode.pipe = pipe  # type: ignore[attr-defined]
    extra = flags & abi.O_NONBLOCK
    r = PipeDescription(pipe, vd, inode, abi.O_RDONLY | extra)
    w = PipeDescription(pipe, vd, inode, abi.O_WRONLY | extra)
    return r, w


def open_fifo(t: Any, pipe: Pipe, vd: VirtualDentry, flags: int) -> PipeDescription:
    """open(2) of a FIFO; see the module docstring for when it waits."""
    acc = flags & abi.O_ACCMODE
    tid = t.tid if t is not None else 0
    nonblock = bool(flags & abi.O_NONBLOCK)
    if acc == abi.O_RDONLY:
        seen = pipe.waiting_readers.get(tid)
        if (
            not nonblock and pipe.writers == 0 and not pipe.waiting_writers
            and (seen is None or seen == pipe.w_counter)
        ):
            pipe.waiting_readers[tid] = pipe.w_counter
            pipe.queue.notify(EVENT_ALL)
            raise WouldBlock([(pipe.queue, EVENT_ALL)])
        pipe.waiting_readers.pop(tid, None)
    elif acc == abi.O_WRONLY:
        seen = pipe.waiting_writers.get(tid)
        if pipe.readers == 0 and not pipe.waiting_readers and (
            seen is None or seen == pipe.r_counter
        ):
            if nonblock:
                raise err(errno.ENXIO)
            pipe.waiting_writers[tid] = pipe.r_counter
            pipe.queue.notify(EVENT_ALL)
            raise WouldBlock([(pipe.queue, EVENT_ALL)])
        pipe.waiting_writers.pop(tid, None)
    return PipeDescription(pipe, vd, vd.dentry.inode, flags, fifo=True)
