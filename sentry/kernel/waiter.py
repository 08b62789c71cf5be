"""Wait queues: how parked syscalls learn that they may make progress.

A :class:`WaitQueue` belongs to whatever can change readiness (a pipe, a task's
children, a timer).  A parked syscall subscribes a callback with an event mask;
``notify(mask)`` calls every subscriber whose mask overlaps.  Callbacks run on
the sentry's single event-loop thread and must not block.

Order: subscribers added with ``head=True`` are called first, newest first (Linux's
``add_wait_queue`` inserts at the head; epoll's watchers use it, so events that
become ready together reach an epoll set's ready list in Linux's order), then
the others, oldest first (Linux's exclusive waiters, e.g. blocked readers).
"""

from __future__ import annotations


TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, Dict

# Event bits, the poll(2) values so file readiness and wait masks are one thing.
EVENT_IN = 0x001
EVENT_PRI = 0x002
EVENT_OUT = 0x004
EVENT_ERR = 0x008
EVENT_HUP = 0x010
EVENT_NVAL = 0x020
EVENT_RDHUP = 0x2000
EVENT_ALL = 0xFFFFFFFF


class WaitQueue:
    """A set of subscribers, each a callback with an event mask."""

    __slots__ = ("_subs", "_head", "_next")

    def __init__(self) -> None:
        self._subs: Dict[int, tuple] = {}
        self._head: Dict[int, tuple] = {}
        self._next = 0

    def subscribe(self, mask: int, callback: Callable[[int], None], head: bool = False) -> int:
        """Call ``callback(events)`` on each notify overlapping *mask*; returns a key.

        :param head: be called before every subscriber already there (see the module
            docstring).
        """
        self._next += 1
        (self._head if head else self._subs)[self._next] = (mask, callback)
        return self._next

    def unsubscribe(self, key: int) -> None:
        if self._subs.pop(key, None) is None:
            self._head.pop(key, None)

    def notify(self, events: int = EVENT_ALL) -> None:
        # Hang-up and error concern every waiter (poll(2) reports them unasked): a read
        # waiting for data must see the writers' end.
        always = events & (EVENT_ERR | EVENT_HUP)
        subs = list(self._subs.values())
        if self._head:
            subs[:0] = reversed(self._head.values())
        for mask, cb in subs:
            if mask & events or always:
                cb(events)

    def __len__(self) -> int:
        return len(self._subs) + len(self._head)
