"""inotify: an instance as a file (``fs/notify/inotify``, inotify(7)).

An :class:`InotifyFileDescription` is the group of its watches
(:class:`~sentry.vfs.fsnotify.Watch`) and the queue of their events, each kept
packed as ``struct inotify_event`` with the name NUL-padded to a multiple of
16 bytes, as ``read`` returns it.

- ``read`` returns whole events, as many as fit; a buffer too small for the
  first one is ``EINVAL``.  With none queued it blocks (``EAGAIN`` with
  ``IN_NONBLOCK``).  The description is read-only: ``write`` is ``EBADF``;
  ``lseek`` 0, ``pread`` ``ESPIPE``.
- An event identical to the last one queued (wd, mask, name; the cookie is not
  compared) is dropped (``inotify_merge``); a merge wakes nobody.
- At :data:`MAX_QUEUED_EVENTS` events (``fs.inotify.max_queued_events``) one
  ``IN_Q_OVERFLOW`` (wd -1) goes at the end and further events are lost until it
  is read, so a queue holds at most that many plus one: its memory is bounded.
- readiness: ``IN|RDNORM`` while an event is queued; every queued event notifies.
- ``ioctl``: ``FIONREAD`` (the bytes queued), ``INOTIFY_IOC_SETNEXTWD``.
- ``/proc/PID/fdinfo`` has Linux's ``inotify wd:… ino:… sdev:… mask:…`` lines
  (without the file handle).

Watch descriptors are allocated cyclically from 1, as Linux's
``idr_alloc_cyclic``: a removed wd is not reused at once.  Limits are the
sandbox's, not per user: :data:`MAX_USER_INSTANCES` instances (``EMFILE``) and
:data:`MAX_USER_WATCHES` watches (``ENOSPC``).
"""

from __future__ import annotations

import errno
import struct
from collections import deque

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.waiter import EVENT_IN, WaitQueue
from sentry.vfs import abi, fsnotify
from sentry.vfs.dentry import VirtualDentry
from sentry.vfs.fsnotify import (
    IN_ALL_EVENTS, IN_EXCL_UNLINK, IN_IGNORED, IN_MASK_ADD, IN_MASK_CREATE, IN_ONESHOT,
    IN_Q_OVERFLOW, Watch,
)

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Deque, Dict, List

MAX_QUEUED_EVENTS = 16384
MAX_USER_INSTANCES = 128
MAX_USER_WATCHES = 65536
INT_MAX = 2**31 - 1

FIONREAD = 0x541B
INOTIFY_IOC_SETNEXTWD = 0x40044900
#: ``EPOLLRDNORM``: inotify_poll reports it with ``EPOLLIN``.
_RDNORM = 0x040

_EVENT = struct.Struct("<iIII")
_OVERFLOW = _EVENT.pack(-1, IN_Q_OVERFLOW, 0, 0)
#: What a watch keeps of add_watch's mask.
_WATCH_BITS = IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK

instances = 0  # live inotify instances in the sandbox


def pack_event(wd: int, mask: int, cookie: int, name: bytes) -> bytes:
    """One ``struct inotify_event``: the name NUL-terminated and padded to 16 bytes."""
    if not name:
        return _EVENT.pack(wd, mask, cookie, 0)
    size = (len(name) + 1 + 15) & ~15
    return _EVENT.pack(wd, mask, cookie, size) + name.ljust(size, b"\0")


class InotifyFileDescription(AnonFileDescription):
    """One inotify instance: its watches (by wd) and its event queue."""

    read_iter = write_iter = False
    can_write = False

    def __init__(self, flags: int) -> None:
        global instances
        super().__init__(b"inotify", flags)
        self.flags = abi.O_RDONLY | (flags & abi.O_NONBLOCK)
        self.events: Deque[bytes] = deque()
        self.nbytes = 0
        self.overflowed = False  # the IN_Q_OVERFLOW event is in the queue
        self.watches: Dict[int, Watch] = {}
        self._next_wd = 1
        self.queue = WaitQueue()
        self._last_read: List[bytes] = []
        instances += 1

    def wait_queue(self) -> WaitQueue:
        return self.queue

    # -- the group side of fsnotify -------------------------------------------
    def deliver(self, wd: int, mask: int, cookie: int, name: bytes) -> None:
        """Queue an event (``fsnotify_insert_event`` with ``inotify_merge``)."""
        events = self.events
        if len(events) >= MAX_QUEUED_EVENTS:
            if self.overflowed:
                return
            self.overflowed = True
            rec = _OVERFLOW
        else:
            rec = pack_event(wd, mask, cookie, name)
            if events:
                last = events[-1]
                if (last[:8] == rec[:8] and last[12:] == rec[12:]
                        and not _EVENT.unpack_from(last)[1] & IN_IGNORED):
                    return
        events.append(rec)
        self.nbytes += len(rec)
        self.queue.notify(EVENT_IN)

    def watch_ended(self, w: Watch, ignored: bool) -> None:
        self.watches.pop(w.wd, None)
        if ignored:
            self.deliver(w.wd, IN_IGNORED, 0, b"")

    # -- inotify_add_watch / inotify_rm_watch ----------------------------------
    def add_watch(self, vd: VirtualDentry, arg: int) -> int:
        """Watch the file at *vd* for *arg*'s events, or change this instance's watch
        of it (``IN_MASK_ADD`` adds to the mask, ``IN_MASK_CREATE`` wants none yet).

        :returns: the watch descriptor.
        :raises LinuxError: ``EEXIST`` (``IN_MASK_CREATE``), ``ENOSPC`` (too many watches).
        """
        inode = vd.dentry.inode
        bits = arg & _WATCH_BITS
        for w in inode.watches or ():
            if w.group is self:
                if arg & IN_MASK_CREATE:
                    raise err(errno.EEXIST)
                w.mask = w.mask | bits if arg & IN_MASK_ADD else bits
                return w.wd
        if fsnotify.active >= MAX_USER_WATCHES:
            raise err(errno.ENOSPC)
        wd = self._next_wd
        while wd in self.watches:
            wd = wd + 1 if wd < INT_MAX else 1
        self._next_wd = wd + 1 if wd < INT_MAX else 1
        w = Watch(self, wd, bits, inode, vd.dentry)
        self.watches[wd] = w
        fsnotify.attach(w)
        return wd

    def rm_watch(self, wd: int) -> None:
        """:raises LinuxError: ``EINVAL`` for a wd this instance does not have."""
        w = self.watches.get(wd)
        if w is None:
            raise err(errno.EINVAL)
        fsnotify.detach(w)

    # -- the file --------------------------------------------------------------
    def read(self, t: Any, n: int) -> bytes:
        events = self.events
        if not events:
            if self.nonblocking:
                raise err(errno.EAGAIN)
            raise WouldBlock([(self.queue, EVENT_IN)])
        out: List[bytes] = []
        size = 0
        while events and size + len(events[0]) <= n:
            rec = events.popleft()
            if rec is _OVERFLOW:
                self.overflowed = False
            out.append(rec)
            size += len(rec)
        if not out:
            raise err(errno.EINVAL)
        self.nbytes -= size
        self._last_read = out
        return b"".join(out)

    def unread(self, t: Any, data: bytes) -> None:
        # Events not wholly copied out go back to the head of the queue.
        back: List[bytes] = []
        left = len(data)
        for rec in reversed(self._last_read):
            if left <= 0:
                break
            back.append(rec)
            left -= len(rec)
        for rec in back:
            self.events.appendleft(rec)
            self.nbytes += len(rec)
            if rec is _OVERFLOW:
                self.overflowed = True
        self._last_read = []

    def readiness(self, mask: int) -> int:
        return mask & (EVENT_IN | _RDNORM) if self.events else 0

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd == FIONREAD:
            t.mem.write_i32(arg, self.nbytes)
            return 0
        if cmd == INOTIFY_IOC_SETNEXTWD:
            if not 1 <= arg <= INT_MAX:
                raise err(errno.EINVAL)
            self._next_wd = arg
            return 0
        raise err(errno.ENOTTY)

    def fdinfo(self) -> bytes:
        lines = []
        for w in reversed(list(self.watches.values())):  # newest first, as Linux lists marks
            lines.append(b"inotify wd:%x ino:%x sdev:%x mask:%x ignored_mask:0\n" % (
                w.wd, w.inode.ino, w.inode.fs.dev, w.mask))
        return b"".join(lines)

    def release(self) -> None:
        global instances
        instances -= 1
        for w in list(self.watches.values()):
            fsnotify.detach(w, ignored=False)
        self.events.clear()
        self.nbytes = 0
