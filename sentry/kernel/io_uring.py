"""io_uring instances (``io_uring/io_uring.c``): the rings an ``io_uring_setup`` returns
an fd for, their completions, their waiters.

An instance is an anonymous file (``anon_inode:[io_uring]``, ``O_RDWR``) whose rings are
Linux's ``struct io_rings`` (SQ and CQ heads and tails, masks, entries, ``sq_dropped``,
``sq_flags``, ``cq_flags``, ``cq_overflow``, the CQEs from byte 64, then the SQ index
array) and the SQE array, in the pages a process maps ``MAP_SHARED`` from the fd and
reads and writes.  Both live in one memfd the sentry holds for the instance: the rings at
offset 0, the SQEs at :data:`SQES_BASE` (the file is sparse), so that the workload's own
``mmap`` of the fd at ``IORING_OFF_SQ_RING`` or ``IORING_OFF_SQES`` is the host's
``mmap`` of the memfd at that very offset (:meth:`IoUringFile.mmap_offset`); the region
at ``IORING_OFF_CQ_RING`` is the same pages as the SQ ring's (Linux's single mapping),
mapped from offset 0.

The sentry reads the SQ tail, the index array and each SQE, and writes the CQEs, the CQ
tail and the SQ head, with ``pread``/``pwrite`` on that memfd, never through the task's
memory: a process that unmapped or remapped its rings cannot make the sentry read or
write anywhere else.  The heads and tails the kernel owns (SQ head, CQ tail) are kept
here and only written to the ring; the ones the process owns (SQ tail, CQ head) are read
from it, masked, as Linux does.

A CQE that finds the CQ ring full is kept in order on an overflow list
(``IORING_FEAT_NODROP``): ``IORING_SQ_CQ_OVERFLOW`` is set in ``sq_flags`` until an
``io_uring_enter`` that waits flushes the list into the ring.  The memfd is charged to
the sandbox's memory account and closed with the description's last reference (close,
exec's close-on-exec, exit): a forked child shares the description.

Everything here is plain sentry state, changed only on the event-loop thread.
"""

from __future__ import annotations

import collections
import errno
import os
import struct

from sentry.abi.linux.errors import err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.memacct import ACCOUNT
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT, WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Deque, Set, Tuple

PAGE = 4096
IORING_MAX_ENTRIES = 32768
IORING_MAX_CQ_ENTRIES = 2 * IORING_MAX_ENTRIES

IORING_OFF_SQ_RING, IORING_OFF_CQ_RING, IORING_OFF_SQES = 0, 0x8000000, 0x10000000
IORING_OFF_MMAP_MASK = 0xF8000000
#: Where the SQE array starts in the memfd: its own mmap offset.
SQES_BASE = IORING_OFF_SQES

IORING_SQ_CQ_OVERFLOW = 2

#: ``struct io_rings`` (Linux 6.x): the offsets io_uring_setup reports.
SQ_HEAD, SQ_TAIL, CQ_HEAD, CQ_TAIL = 0, 4, 8, 12
SQ_RING_MASK, CQ_RING_MASK, SQ_RING_ENTRIES, CQ_RING_ENTRIES = 16, 20, 24, 28
SQ_DROPPED, SQ_FLAGS, CQ_FLAGS, CQ_OVERFLOW = 32, 36, 40, 44
#: What a CQE waiting on the overflow list holds in the sentry (its bytes object and the
#: deque's slot), charged to the sandbox's account.
_OVERFLOW_COST = 80
CQES = 64
SMP_CACHE_BYTES = 64

#: ``struct io_uring_sqe``: opcode, flags, ioprio, fd, off/addr2, addr, len, the op's
#: flags word, user_data, buf_index, personality, splice_fd_in/file_index, addr3, pad.
SQE = struct.Struct("<BBHiQQIIQHHiQQ")
#: ``struct io_uring_cqe``: user_data, res, flags.
CQE = struct.Struct("<QiI")
assert SQE.size == 64 and CQE.size == 16

if TYPE_CHECKING:
    Sqe = Tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, int]
else:  # (other modules import the name)
    Sqe = tuple


def _roundup_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


def ring_sizes(entries: int, cq_entries: int, clamp: bool, cqsize: bool) -> Tuple[int, int]:
    """``(sq_entries, cq_entries)`` as ``io_uring_create`` sizes them.

    :raises LinuxError: ``EINVAL``.
    """
    def size(n: int, most: int) -> int:
        if n == 0 or (n > most and not clamp):
            raise err(errno.EINVAL)
        return _roundup_pow2(min(n, most))

    sq = size(entries, IORING_MAX_ENTRIES)
    cq = size(cq_entries, IORING_MAX_CQ_ENTRIES) if cqsize else 2 * sq
    if cq < sq:
        raise err(errno.EINVAL)
    return sq, cq


def array_offset(cq_entries: int) -> int:
    """Where the SQ index array follows the CQEs (``rings_size``: cache-line aligned)."""
    off = CQES + cq_entries * CQE.size
    return (off + SMP_CACHE_BYTES - 1) & ~(SMP_CACHE_BYTES - 1)


class IoUringFile(AnonFileDescription):
    """One ``struct io_ring_ctx``: its memfd, its private heads and tails, its overflow
    list and its waiters (every fd and every process that holds the description)."""

    read_iter = write_iter = False
    can_read = can_write = False

    def __init__(self, sq_entries: int, cq_entries: int, setup_flags: int) -> None:
        super().__init__(b"[io_uring]", 0)
        self.sq_entries, self.cq_entries, self.setup_flags = sq_entries, cq_entries, setup_flags
        self.array = array_offset(cq_entries)
        self.rings_size = self.array + 4 * sq_entries
        self.sqes_size = SQE.size * sq_entries
        self.charged = ((self.rings_size + PAGE - 1) & ~(PAGE - 1)) + (
            (self.sqes_size + PAGE - 1) & ~(PAGE - 1))
        self.sq_head = 0        # cached_sq_head: the next SQE to take
        self.cq_tail = 0        # cached_cq_tail: where the next CQE goes
        self.sq_dropped = 0
        self.cq_overflow = 0    # CQEs lost (the sentry's account refused to keep them)
        self.overflow: Deque[bytes] = collections.deque()
        #: Requests waiting for their files (sys_io_uring._Polled).
        self.polled: Set[Any] = set()
        self.queue = WaitQueue()
        self.fd = -1
        if not ACCOUNT.charge(self.charged):
            self.charged = 0
            raise err(errno.ENOMEM)
        try:
            self.fd = os.memfd_create("[io_uring]", os.MFD_CLOEXEC)
            os.ftruncate(self.fd, SQES_BASE + self.sqes_size)
            os.pwrite(self.fd, struct.pack("<4I", sq_entries - 1, cq_entries - 1, sq_entries,
                                           cq_entries), SQ_RING_MASK)
        except OSError:
            self.release()
            raise err(errno.ENOMEM) from None

    # -- the file ------------------------------------------------------------
    def seek(self, t: Any, off: int, whence: int) -> int:
        raise err(errno.ESPIPE)  # io_uring's fops have no llseek

    def wait_queue(self) -> WaitQueue:
        return self.queue

    def readiness(self, mask: int) -> int:
        """``io_uring_poll``: writable while the SQ ring has room, readable with CQEs."""
        r = 0
        if self.fd < 0:
            return 0
        tail = self.read_u32s(SQ_TAIL, 1)[0]
        if (tail - self.sq_head) & 0xFFFFFFFF < self.sq_entries:
            r |= EVENT_OUT
        if self.cq_ready() or self.overflow:
            r |= EVENT_IN
        return r & mask

    def shared_mapping_fd(self, t: Any) -> int:
        if self.fd < 0:
            raise err(errno.ENODEV)
        return self.fd

    def mmap_offset(self, off: int, length: int, prot: int) -> int:
        """Where the region the workload maps at *off* starts in the memfd
        (``io_uring_mmap``: the offset's region bits choose; the rest is ignored).

        :raises LinuxError: ``EPERM`` for ``PROT_EXEC`` (a ``noexec`` internal mount),
            ``ENOMEM`` for an offset that names no region, as 6.18's unmapped-area hook.
        """
        if prot & 4:
            raise err(errno.EPERM)
        region = off & IORING_OFF_MMAP_MASK
        if region in (IORING_OFF_SQ_RING, IORING_OFF_CQ_RING):
            return 0
        if region == IORING_OFF_SQES:
            return SQES_BASE
        raise err(errno.ENOMEM)

    def fdinfo(self) -> bytes:
        sq_tail = self.read_u32s(SQ_TAIL, 1)[0]
        cq_head = self.read_u32s(CQ_HEAD, 1)[0]
        return (b"SqMask:\t0x%x\nSqHead:\t%u\nSqTail:\t%u\nCachedSqHead:\t%u\nCqMask:\t0x%x\n"
                b"CqHead:\t%u\nCqTail:\t%u\nCachedCqTail:\t%u\nCQOverflowList:\t%d\n" % (
                    self.sq_entries - 1, self.sq_head & 0xFFFFFFFF, sq_tail,
                    self.sq_head & 0xFFFFFFFF, self.cq_entries - 1, cq_head,
                    self.cq_tail & 0xFFFFFFFF, self.cq_tail & 0xFFFFFFFF, len(self.overflow)))

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.charged:
            ACCOUNT.uncharge(self.charged)
            self.charged = 0
        ACCOUNT.uncharge(_OVERFLOW_COST * len(self.overflow))
        self.overflow.clear()
        for req in list(self.polled):
            req.drop()  # (the ring is gone: their completions would go nowhere)
            for r in req.chain:
                r.put_file()
        self.queue.notify(EVENT_IN)

    # -- ring memory -----------------------------------------------------------
    def read_u32s(self, off: int, n: int) -> Tuple[int, ...]:
        return struct.unpack(f"<{n}I", os.pread(self.fd, 4 * n, off))

    def write_u32(self, off: int, v: int) -> None:
        os.pwrite(self.fd, struct.pack("<I", v & 0xFFFFFFFF), off)

    def sq_pending(self) -> int:
        """SQEs the process published and the sentry has not taken."""
        tail = self.read_u32s(SQ_TAIL, 1)[0]
        return min((tail - self.sq_head) & 0xFFFFFFFF, self.sq_entries)

    def take_sqe(self) -> Tuple[bool, Sqe]:
        """The next SQE (``io_get_sqe``): ``(False, ...)`` if its index is out of
        range (dropped and counted in ``sq_dropped``); the SQ head moves either way."""
        slot = self.sq_head & (self.sq_entries - 1)
        self.sq_head = (self.sq_head + 1) & 0xFFFFFFFF
        index = self.read_u32s(self.array + 4 * slot, 1)[0]
        if index >= self.sq_entries:
            self.sq_dropped += 1
            self.write_u32(SQ_DROPPED, self.sq_dropped)
            return False, (0,) * 14  # type: ignore[return-value]
        raw = os.pread(self.fd, SQE.size, SQES_BASE + SQE.size * index)
        return True, SQE.unpack(raw)  # type: ignore[return-value]

    def commit_sq_head(self) -> None:
        self.write_u32(SQ_HEAD, self.sq_head)

    def cq_ready(self) -> int:
        """CQEs in the ring the process has not reaped (its head, read back)."""
        if self.fd < 0:
            return 0
        head = self.read_u32s(CQ_HEAD, 1)[0]
        return min((self.cq_tail - head) & 0xFFFFFFFF, self.cq_entries)

    def post(self, user_data: int, res: int, flags: int = 0) -> None:
        """A completion at the CQ tail, or on the overflow list if the ring is full
        (or CQEs already wait there: order is kept)."""
        if self.fd < 0:
            return
        cqe = CQE.pack(user_data & 0xFFFFFFFFFFFFFFFF, res, flags)
        if self.overflow or self.cq_ready() >= self.cq_entries:
            if not ACCOUNT.charge(_OVERFLOW_COST):
                # io_cqring_event_overflow when it cannot allocate: the CQE is lost and
                # counted (a process that never reaps cannot grow the sentry without end).
                self.cq_overflow = (self.cq_overflow + 1) & 0xFFFFFFFF
                self.write_u32(CQ_OVERFLOW, self.cq_overflow)
                self._set_sq_flags(IORING_SQ_CQ_OVERFLOW)
                return
            if not self.overflow:
                self._set_sq_flags(IORING_SQ_CQ_OVERFLOW)
            self.overflow.append(cqe)
        else:
            self._put(cqe)
        self.queue.notify(EVENT_IN)

    def _put(self, cqe: bytes) -> None:
        slot = self.cq_tail & (self.cq_entries - 1)
        os.pwrite(self.fd, cqe, CQES + CQE.size * slot)
        self.cq_tail = (self.cq_tail + 1) & 0xFFFFFFFF
        self.write_u32(CQ_TAIL, self.cq_tail)

    def flush_overflow(self) -> None:
        """``io_cqring_overflow_flush``: what fits moves into the ring."""
        if not self.overflow or self.fd < 0:
            return
        room = self.cq_entries - self.cq_ready()
        while self.overflow and room > 0:
            self._put(self.overflow.popleft())
            ACCOUNT.uncharge(_OVERFLOW_COST)
            room -= 1
        if not self.overflow:
            self._set_sq_flags(0)

    def _set_sq_flags(self, flags: int) -> None:
        self.write_u32(SQ_FLAGS, flags)
