"""epoll instances (``fs/eventpoll.c``, epoll(7)).

An :class:`EpollInstance` is an open file description holding an *interest
list* of :class:`EpollItem`\\ s, each keyed by (watched description, fd number)
as Linux keys them, and a *ready list* (FIFO) of items that may have events.

How readiness reaches it: each item subscribes, for its whole life, to the
watched description's wait queue (Linux's ``ep_poll_callback``).  A
notification whose events overlap the item's interest puts the item on the
ready list (once) and notifies the instance's own queue, which wakes parked
``epoll_wait`` calls, ``poll``/``select`` on the epoll fd and the epoll sets
watching this one.  ``ADD``/``MOD`` also check the file at once and queue the
item if it is ready.  ``epoll_wait`` (:meth:`EpollInstance.send_events`)
takes the ready list in order, checks each item's readiness again and reports
it if it has any of the requested events; then:

- level-triggered items go back at the tail, so the next wait checks them again;
- ``EPOLLET`` items stay off until the next notification, i.e. until something
  new happens on the file (the file's own rules decide what is new: every pipe
  write, every eventfd write, a timerfd expiration ...);
- ``EPOLLONESHOT`` items are disabled (interest reduced to the private bits)
  until ``EPOLL_CTL_MOD``.

Items that are not ready when checked just leave the ready list; items past
``maxevents`` stay at its head.  An item disappears by ``EPOLL_CTL_DEL`` or
when the watched description's last reference goes
(:attr:`FileDescription.release_hooks`), not when one of several fds for it is
closed: events then keep coming for the closed fd number, and ``DEL`` with
another fd of the same description fails with ``ENOENT``.

Nesting: an epoll instance may watch another (never itself).  ``ADD`` of an
epoll target runs Linux's check (``ep_loop_check``): the new link must not
close a loop, and the longest chain through it may have at most
:data:`EP_MAX_NESTS` links (five instances), else ``ELOOP``.

Differences from Linux, each because nothing in the sandbox can observe more:
``EPOLLEXCLUSIVE`` is accepted with Linux's argument rules but every waiter
is woken (Linux wakes one epoll set per exclusive item); ``EPOLLWAKEUP`` is
always dropped, as a kernel without ``CONFIG_PM_SLEEP`` does (the sandbox has
no wakeup sources; the host kernel here drops it too); the wakeup-path limits
of ``reverse_path_check`` (``EINVAL`` past 1000 direct watchers of one file
...) are not counted; the busy-poll ioctls are accepted and remembered only.

Single-threaded (the sentry's loop): no locks.  A notification that arrives
while a scan runs (a readiness check that notifies) is kept aside and merged
after it, as Linux's ``ovflist``.
"""

from __future__ import annotations

import errno
import os
import struct
from collections import OrderedDict
from functools import partial

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.waiter import EVENT_ALL, EVENT_ERR, EVENT_HUP, EVENT_IN, WaitQueue
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLIN, EPOLLOUT, EPOLLRDNORM = 0x001, 0x004, 0x040
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLEXCLUSIVE_OK_BITS = EPOLLIN | EPOLLOUT | EVENT_ERR | EVENT_HUP | EPOLLWAKEUP | EPOLLET | \
    EPOLLEXCLUSIVE
EP_MAX_NESTS = 4
#: struct epoll_event is packed on x86-64: u32 events, u64 data.
EVENT_SIZE = 12
EP_MAX_EVENTS = 0x7FFFFFFF // EVENT_SIZE
EPIOCSPARAMS = 0x40088A01
EPIOCGPARAMS = 0x80088A02
NAPI_POLL_WEIGHT = 64

#: fs.epoll.max_user_watches by Linux's rule, 4% of memory, at what a watch costs the
#: sentry (about 1 KiB; Linux's cost: 184 bytes).
MAX_USER_WATCHES = (os.sysconf("SC_PHYS_PAGES") // 25) * os.sysconf("SC_PAGE_SIZE") // 1024
# Watches per sandbox user (the creator's real uid, Linux's ep->user).
_watches: Dict[int, int] = {}


class EpollItem:
    """One interest: *desc* as fd *fd*, its event mask and user data."""

    __slots__ = ("ep", "desc", "fd", "events", "data", "_sub")

    def __init__(self, ep: "EpollInstance", desc: FileDescription, fd: int, events: int,
                 data: int) -> None:
        self.ep = ep
        self.desc = desc
        self.fd = fd
        self.events = events
        self.data = data
        self._sub: Optional[Tuple[WaitQueue, int]] = None

    def poll(self) -> int:
        """The requested events the file has now (Linux's ``ep_item_poll``)."""
        want = self.events & ~EP_PRIVATE_BITS
        if not want:
            return 0
        return self.desc.readiness(want) & self.events

    def __repr__(self) -> str:
        return f"<EpollItem fd={self.fd} events={self.events:#x}>"


class EpollInstance(AnonFileDescription):
    """An epoll set; *uid* is charged for its watches.

    :param sync_host: called before the set's readiness is looked at, to hear of the
        edges of watched host fds that already happened (``Kernel.sync_host_fds``).
    """

    read_iter = write_iter = False
    can_read = can_write = False

    def __init__(self, flags: int, uid: int = 0,
                 sync_host: Optional[Callable[[], None]] = None) -> None:
        super().__init__(b"[eventpoll]", flags)
        self.uid = uid
        self.sync_host = sync_host
        self.items: Dict[Tuple[int, int], EpollItem] = {}
        self.ready: "OrderedDict[EpollItem, None]" = OrderedDict()
        self.queue = WaitQueue()
        # Items of other epoll sets that watch this one (Linux's ep->refs).
        self.watchers: Dict[EpollItem, None] = {}
        self._scanning = False
        self._overflow: List[EpollItem] = []
        self.busy_poll = (0, 0, 0)

    def wait_queue(self) -> WaitQueue:
        return self.queue

    # -- readiness -------------------------------------------------------------
    def _callback(self, item: EpollItem, events: int) -> None:
        """The watched file's queue was notified (Linux's ``ep_poll_callback``)."""
        if not item.events & ~EP_PRIVATE_BITS:
            return  # disabled (EPOLLONESHOT fired)
        if not events & item.events:
            return
        if self._scanning:
            if item not in self._overflow:
                self._overflow.append(item)
        elif item not in self.ready:
            self.ready[item] = None
        self.queue.notify(EVENT_IN)

    def has_events(self) -> bool:
        """Whether some item on the ready list is ready; drops those that are not."""
        for item in list(self.ready):
            if item.poll():
                return True
            del self.ready[item]
        return False

    def sync(self) -> None:
        """Have the items of host files hear of what already happened on the host (a
        loopback send has made its peer readable before it returns; the event loop may
        not have said so yet)."""
        if self.sync_host is not None:
            self.sync_host()

    def readiness(self, mask: int) -> int:
        self.sync()
        return (EPOLLIN | EPOLLRDNORM) & mask if self.ready and self.has_events() else 0

    def _link(self, item: EpollItem) -> None:
        if item not in self.ready:
            self.ready[item] = None
            self.queue.notify(EVENT_IN)

    # -- epoll_ctl ---------------------------------------------------------------
    def add(self, desc: FileDescription, fd: int, events: int, data: int) -> None:
        """``EPOLL_CTL_ADD`` (arguments checked by the caller).

        :raises LinuxError: ``ELOOP`` (nesting), ``EEXIST``, ``ENOSPC`` (watch limit).
        """
        if isinstance(desc, EpollInstance) and not _loop_check(self, desc):
            raise err(errno.ELOOP)
        key = (id(desc), fd)
        if key in self.items:
            raise err(errno.EEXIST)
        if _watches.get(self.uid, 0) >= MAX_USER_WATCHES:
            raise err(errno.ENOSPC)
        _watches[self.uid] = _watches.get(self.uid, 0) + 1
        item = EpollItem(self, desc, fd, events | EVENT_ERR | EVENT_HUP, data)
        self.items[key] = item
        q = desc.wait_queue()
        item._sub = (q, q.subscribe(EVENT_ALL, partial(self._callback, item), head=True))
        if desc.release_hooks is None:
            desc.release_hooks = {}
        desc.release_hooks[item] = partial(self._forget_released, item)
        if isinstance(desc, EpollInstance):
            desc.watchers[item] = None
        if item.poll():
            self._link(item)

    def modify(self, desc: FileDescription, fd: int, events: int, data: int) -> None:
        """``EPOLL_CTL_MOD``: new mask and data (re-arms ``EPOLLONESHOT``).

        :raises LinuxError: ``ENOENT``; ``EINVAL`` for an ``EPOLLEXCLUSIVE`` item.
        """
        item = self.items.get((id(desc), fd))
        if item is None:
            raise err(errno.ENOENT)
        if item.events & EPOLLEXCLUSIVE:
            raise err(errno.EINVAL)
        item.events = events | EVENT_ERR | EVENT_HUP
        item.data = data
        if item.poll():
            self._link(item)

    def delete(self, desc: FileDescription, fd: int) -> None:
        """``EPOLL_CTL_DEL``.  :raises LinuxError: ``ENOENT``."""
        item = self.items.get((id(desc), fd))
        if item is None:
            raise err(errno.ENOENT)
        self._forget(item)

    def _forget_released(self, item: EpollItem, desc: FileDescription) -> None:
        self._forget(item)

    def _forget(self, item: EpollItem) -> None:
        """Drop *item* for good (DEL, or its file's last reference went)."""
        if self.items.get((id(item.desc), item.fd)) is not item:
            return
        del self.items[(id(item.desc), item.fd)]
        self.ready.pop(item, None)
        if item in self._overflow:
            self._overflow.remove(item)
        if item._sub is not None:
            q, key = item._sub
            q.unsubscribe(key)
            item._sub = None
        hooks = item.desc.release_hooks
        if hooks is not None:
            hooks.pop(item, None)
        if isinstance(item.desc, EpollInstance):
            item.desc.watchers.pop(item, None)
        n = _watches.get(self.uid, 0) - 1
        if n > 0:
            _watches[self.uid] = n
        else:
            _watches.pop(self.uid, None)

    # -- epoll_wait ----------------------------------------------------------------
    def send_events(self, maxevents: int) -> "Scan":
        """Take up to *maxevents* events off the ready list (Linux's ``ep_send_events``).

        The caller copies :attr:`Scan.events` out and, if that faults part way,
        gives back what was not delivered with :meth:`Scan.undo_from`.
        """
        batch = list(self.ready)
        self.ready.clear()
        self._scanning = True
        self._overflow = []
        scan = Scan(self, batch)
        try:
            for i, item in enumerate(batch):
                if len(scan.events) >= maxevents:
                    scan.leftover = i
                    break
                revents = item.poll()
                if not revents:
                    continue
                scan.delivered.append((i, item, item.events))
                scan.events.append((revents, item.data))
                if item.events & EPOLLONESHOT:
                    item.events &= EP_PRIVATE_BITS
                elif not item.events & EPOLLET:
                    scan.requeue.append(item)
        finally:
            self._scanning = False
            scan.finish()
        return scan

    # -- file ------------------------------------------------------------------
    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd == EPIOCGPARAMS:
            usecs, budget, prefer = self.busy_poll
            t.mem.write(arg, struct.pack("<IHBB", usecs, budget, prefer, 0))
            return 0
        if cmd == EPIOCSPARAMS:
            usecs, budget, prefer, pad = struct.unpack("<IHBB", t.mem.read(arg, 8))
            if pad or usecs > 0x7FFFFFFF or prefer > 1:
                raise err(errno.EINVAL)
            if budget > NAPI_POLL_WEIGHT and not t.creds.capable(cap.CAP_NET_ADMIN):
                raise err(errno.EPERM)
            self.busy_poll = (usecs, budget, prefer)
            return 0
        raise err(errno.EINVAL)

    def fdinfo(self) -> bytes:
        out = []
        for item in sorted(self.items.values(), key=lambda it: (id(it.desc), it.fd)):
            d = item.desc
            try:
                pos = d.offset
            except Exception:
                pos = 0
            ino = d.inode.ino if d.inode is not None else 0
            dev = d.inode.fs.dev if d.inode is not None else 0
            out.append(b"tfd: %8d events: %8x data: %16x  pos:%d ino:%x sdev:%x\n" % (
                item.fd, item.events, item.data, pos, ino, dev))
        return b"".join(out)

    def release(self) -> None:
        for item in list(self.items.values()):
            self._forget(item)
        self.queue.notify(EVENT_IN)


class Scan:
    """One :meth:`EpollInstance.send_events`: what it delivered, and how to take it back."""

    def __init__(self, ep: EpollInstance, batch: List[EpollItem]) -> None:
        self.ep = ep
        self.batch = batch
        self.leftover = len(batch)
        #: (revents, data) in order.
        self.events: List[Tuple[int, int]] = []
        #: (index in batch, item, its events before delivery) per event.
        self.delivered: List[Tuple[int, EpollItem, int]] = []
        self.requeue: List[EpollItem] = []

    def finish(self) -> None:
        """Linux's ``ep_done_scan``: items not reached first, then those notified during
        the scan, then the level-triggered ones just delivered."""
        ep = self.ep
        new: "OrderedDict[EpollItem, None]" = OrderedDict()
        for item in self.batch[self.leftover:]:
            new[item] = None
        requeued = set(self.requeue)
        for item in ep._overflow:
            if item not in requeued:
                new.setdefault(item, None)
        ep._overflow = []
        for item in self.requeue:
            new.setdefault(item, None)
        ep.ready = new

    def undo_from(self, k: int) -> None:
        """Only the first *k* events reached the workload: the rest were never taken."""
        if k >= len(self.delivered):
            return
        cut = self.delivered[k][0]
        for _, item, old in self.delivered[k:]:
            item.events = old
        ep = self.ep
        back = [it for it in self.batch[cut:self.leftover]]
        dropped = set(back)
        rest = [it for it in ep.ready if it not in dropped]
        ep.ready = OrderedDict((it, None) for it in back + rest)
        del self.events[k:]
        del self.delivered[k:]


# ------------------------------------------------------------------ nesting
def _loop_check(ep: EpollInstance, to: EpollInstance) -> bool:
    """Whether *ep* may watch *to*: no loop, at most :data:`EP_MAX_NESTS` links on any
    chain through the new one (Linux's ``ep_loop_check``)."""
    down: Dict[EpollInstance, int] = {}

    def depth_below(e: EpollInstance, depth: int) -> int:
        if e in down:
            return down[e]
        down[e] = 0
        result = 0
        for item in e.items.values():
            child = item.desc
            if not isinstance(child, EpollInstance):
                continue
            if child is ep or depth > EP_MAX_NESTS:
                result = EP_MAX_NESTS + 1
            else:
                result = max(result, depth_below(child, depth + 1) + 1)
            if result > EP_MAX_NESTS:
                break
        down[e] = result
        return result

    up: Dict[EpollInstance, int] = {}

    def depth_above(e: EpollInstance) -> int:
        if e in up:
            return up[e]
        result = 0
        for item in e.watchers:
            result = max(result, depth_above(item.ep) + 1)
        up[e] = result
        return result

    depth = depth_below(to, 0)
    if depth > EP_MAX_NESTS:
        return False
    return depth + 1 + depth_above(ep) <= EP_MAX_NESTS

