"""eventfd: a 64-bit counter as a file (``fs/eventfd.c``, eventfd(2)).

- ``read`` of fewer than 8 bytes: ``EINVAL``.  With the counter at 0 it blocks
  (``EAGAIN`` with ``O_NONBLOCK``); otherwise it returns the counter and resets
  it to 0, or, with ``EFD_SEMAPHORE``, returns 1 and decrements it.
- ``write`` of other than exactly 8 bytes (newer kernels, this host's 6.18 among
  them; older ones took 8 or more) or of ``0xffffffffffffffff``: ``EINVAL``.  It
  adds the value unless the counter would pass ``0xfffffffffffffffe``: then it
  blocks until a read makes room (``EAGAIN`` with ``O_NONBLOCK``).  Writing 0
  is a write like any other: it wakes readers and edge-triggered epoll sets.
  (Linux's ``writev`` writes each segment on its own, so 4+4 bytes is ``EINVAL``;
  here the segments are gathered first and make one 8-byte write.)
- readiness: ``IN`` while the counter is non-zero, ``OUT`` while a write of 1
  would not block, ``ERR`` if the counter is at its maximum (only kernel
  signalling can get it there).

Every successful read notifies ``OUT`` and every write ``IN``, as Linux wakes
its queue on each, so an ``EPOLLET`` watcher sees each one as a new event.
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.waiter import EVENT_ERR, EVENT_IN, EVENT_OUT, WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Set

EFD_SEMAPHORE = 0o1
ULLONG_MAX = (1 << 64) - 1

# eventfd ids (fdinfo "eventfd-id"), the smallest free one as Linux's ida gives.
_ids: Set[int] = set()


def _new_id() -> int:
    i = 0
    while i in _ids:
        i += 1
    _ids.add(i)
    return i


class EventFileDescription(AnonFileDescription):
    """One eventfd counter (shared by every fd that refers to the description)."""

    write_iter = False  # (eventfd_fops: read_iter, write)

    def __init__(self, initval: int, flags: int) -> None:
        super().__init__(b"[eventfd]", flags)
        self.count = initval
        self.semaphore = bool(flags & EFD_SEMAPHORE)
        self.id = _new_id()
        self.queue = WaitQueue()

    def wait_queue(self) -> WaitQueue:
        return self.queue

    def read(self, t: Any, n: int) -> bytes:
        if n < 8:
            raise err(errno.EINVAL)
        if self.count == 0:
            if self.nonblocking:
                raise err(errno.EAGAIN)
            raise WouldBlock([(self.queue, EVENT_IN)])
        v = 1 if self.semaphore else self.count
        self.count -= v
        self.queue.notify(EVENT_OUT)
        return struct.pack("<Q", v)

    def write(self, t: Any, data: bytes) -> int:
        if len(data) != 8:
            raise err(errno.EINVAL)
        v = struct.unpack_from("<Q", data)[0]
        if v == ULLONG_MAX:
            raise err(errno.EINVAL)
        if ULLONG_MAX - self.count <= v:
            if self.nonblocking:
                raise err(errno.EAGAIN)
            raise WouldBlock([(self.queue, EVENT_OUT)])
        self.count += v
        self.queue.notify(EVENT_IN)
        return 8

    def signal(self, n: int = 1) -> None:
        """``eventfd_signal``: the kernel adds *n* (an AIO completion with
        ``IOCB_FLAG_RESFD``), never blocking: the counter stops at its maximum."""
        self.count += min(n, ULLONG_MAX - self.count)
        self.queue.notify(EVENT_IN)

    def readiness(self, mask: int) -> int:
        r = 0
        if self.count > 0:
            r |= EVENT_IN
        if self.count == ULLONG_MAX:
            r |= EVENT_ERR
        if ULLONG_MAX - 1 > self.count:
            r |= EVENT_OUT
        return r & (mask | EVENT_ERR)

    def fdinfo(self) -> bytes:
        return b"eventfd-count: %16x\neventfd-id: %d\neventfd-semaphore: %d\n" % (
            self.count, self.id, self.semaphore)

    def release(self) -> None:
        _ids.discard(self.id)
