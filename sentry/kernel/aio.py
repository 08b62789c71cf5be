"""Linux native AIO contexts (``fs/aio.c``): the ring each ``io_setup`` maps, its events.

A context belongs to an address space (Linux's ``mm->ioctx_table``): a forked child does
not inherit it, an exec or the exit destroys it.  Its id, the handle ``io_setup`` returns,
is the address of the ring mapped in the process, and the ring is Linux's:
``struct aio_ring`` (``id``, ``nr``, ``head``, ``tail``, ``magic`` ``0xa10a10a1``,
``compat_features`` 1, ``incompat_features`` 0, ``header_length`` 32) followed by
``struct io_event`` slots, in the pages a process maps ``MAP_SHARED`` and may read and
write.  Completions are written there and ``tail`` moved, and ``io_getevents`` takes
events from ``head`` (which the process may have moved itself) as ``aio_read_events_ring``
does, so libaio and fio's user-space reaping see what they would see on Linux.

The ring pages live in one memfd per address space (:class:`AioTable`, the sentry's only
host fd for it), each ring at its own multiple of :data:`RING_STRIDE` (4 GiB, more than
the largest ring; the file is sparse), never reused (a forked child may still map a
destroyed context's ring, as on Linux it keeps the pages), so that the offset of a
mapping in its ring (``/proc/PID/maps``) is its offset in the memfd modulo the stride: the sentry
writes events with ``pwrite`` on that memfd, never through the task's memory, so a
process that unmapped or remapped its ring cannot make the sentry write anywhere else.
A destroyed ring's pages are punched out of the memfd.

Lookup is Linux's ``lookup_ioctx``: the 32-bit ``id`` is read from the ring *in the
process's memory* at the handle's address (a handle that is not mapped, a ring the
process unmapped, a forked child's view of its parent's context: ``EINVAL``), then must
name a live context of this address space whose address is the handle.

Requests are done at submit (:mod:`sentry.syscalls.linux.sys_aio`), except
``IOCB_CMD_POLL`` on a file not yet ready, which waits on the file's queue
(:class:`Request`) and can be cancelled.  ``fs.aio-nr`` counts the ``nr_events`` of
every live context of the sandbox against ``fs.aio-max-nr`` (65536).

Everything here is plain sentry state, changed only on the event-loop thread.
"""

from __future__ import annotations

import errno
import os
import struct
import weakref

from sentry import logger
from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel.memacct import ACCOUNT
from sentry.kernel.waiter import EVENT_IN, WaitQueue
from sentry.mm.mm import AIO_RING_STRIDE

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

log = logger.get("sentry")

PAGE = 4096
AIO_RING_MAGIC = 0xA10A10A1
AIO_RING_COMPAT_FEATURES = 1
AIO_RING_INCOMPAT_FEATURES = 0
#: ``struct aio_ring``: id, nr, head, tail, magic, compat/incompat features, header length.
RING_HEADER = struct.Struct("<8I")
#: ``struct io_event``: data, obj (the iocb's address), res, res2.
IO_EVENT = struct.Struct("<QQqq")
assert RING_HEADER.size == IO_EVENT.size == 32
_HEAD_OFF, _TAIL_OFF = 8, 12

#: Rings are this far apart in the memfd (the largest is 256 MiB and a page).
RING_STRIDE = AIO_RING_STRIDE
#: ``fs.aio-max-nr``'s default (``/proc/sys/fs/aio-max-nr``).
AIO_MAX_NR = 65536
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


def _possible_cpus() -> int:
    """``num_possible_cpus()`` of the host, which sizes Linux's rings (read at import,
    before the sentry's root is emptied)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        n = 0
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
        return max(n, 1)
    except (OSError, ValueError):
        return os.cpu_count() or 1


POSSIBLE_CPUS = _possible_cpus()


def ring_size(nr_events: int) -> Tuple[int, int]:
    """``(slots, bytes)`` of the ring ``io_setup(nr_events)`` maps (``ioctx_alloc`` and
    ``aio_setup_ring``, in their 32-bit arithmetic).

    :raises LinuxError: ``EINVAL`` (too many events), ``EAGAIN`` (over ``aio-max-nr``,
        or a count that wraps to 0).
    """
    n = max(nr_events, POSSIBLE_CPUS * 4)
    n = (n * 2) & 0xFFFFFFFF
    if n > 0x10000000 // IO_EVENT.size:
        raise err(errno.EINVAL)
    if n == 0 or nr_events > AIO_MAX_NR:
        raise err(errno.EAGAIN)
    n += 2  # the ring's head/tail overlap entry, "2 for good luck"
    pages = (RING_HEADER.size + IO_EVENT.size * n + PAGE - 1) // PAGE
    return (pages * PAGE - RING_HEADER.size) // IO_EVENT.size, pages * PAGE


# -- the sandbox's fs.aio-nr --------------------------------------------------

_AIO_NR: "weakref.WeakKeyDictionary[Any, List[int]]" = weakref.WeakKeyDictionary()


def _nr_cell(kernel: "Kernel") -> List[int]:
    cell = _AIO_NR.get(kernel)
    if cell is None:
        cell = _AIO_NR[kernel] = [0]
    return cell


def aio_nr(kernel: "Kernel") -> int:
    """``/proc/sys/fs/aio-nr``: the events of every live context of the sandbox."""
    return _nr_cell(kernel)[0]


def aio_nr_room(kernel: "Kernel", n: int) -> bool:
    return aio_nr(kernel) + n <= AIO_MAX_NR


# -- contexts ------------------------------------------------------------------

class Request:
    """An ``IOCB_CMD_POLL`` waiting for its file (on the context's ``active`` list,
    which ``io_cancel`` searches); holds a reference to the file and the eventfd."""

    __slots__ = ("ctx", "obj", "data", "desc", "events", "resfd", "key")

    def __init__(self, ctx: "Context", obj: int, data: int, desc: Any, events: int,
                 resfd: Any) -> None:
        self.ctx, self.obj, self.data, self.desc, self.events, self.resfd = (
            ctx, obj, data, desc, events, resfd)
        self.key = 0

    def wake(self, _events: int) -> None:
        ready = self.desc.readiness(self.events) & self.events
        if ready:
            self.finish(ready)

    def finish(self, res: int) -> None:
        """Complete with *res* (a poll mask; 0 when cancelled) and let go of the file."""
        ctx = self.ctx
        if ctx.active.pop(self.obj, None) is not self:
            return
        self.desc.wait_queue().unsubscribe(self.key)
        ctx.in_flight -= 1
        resfd, self.resfd = self.resfd, None
        ctx.complete(self.obj, self.data, res, resfd=resfd)
        if resfd is not None:
            resfd.decref()
        self.desc.decref()


class Context:
    """One ``struct kioctx``: its ring in the table's memfd, its completions, its waiters."""

    def __init__(self, table: "AioTable", index: int, addr: int, offset: int, size: int,
                 nr_events: int, max_reqs: int) -> None:
        self.table = table
        self.index = index          # ring->id, the slot in the table
        self.addr = addr            # the handle: where the ring is mapped
        self.offset = offset        # of the ring in the table's memfd
        self.size = size
        self.nr_events = nr_events  # ring slots (the trusted copy of ring->nr)
        self.max_reqs = max_reqs    # what io_setup asked for: counted in aio-nr
        self.tail = 0
        # Completions in the ring not known to be reaped (refreshed from the ring's
        # head, which the process may move, when the ring looks full).
        self.unreaped = 0
        self.in_flight = 0
        self.active: Dict[int, Request] = {}
        self.dead = False
        self.queue = WaitQueue()

    # -- ring --------------------------------------------------------------
    def _pread(self, n: int, off: int) -> bytes:
        return os.pread(self.table.fd, n, self.offset + off)

    def _pwrite(self, data: bytes, off: int) -> None:
        os.pwrite(self.table.fd, data, self.offset + off)

    def write_header(self) -> None:
        self._pwrite(RING_HEADER.pack(self.index, self.nr_events, 0, 0, AIO_RING_MAGIC,
                                      AIO_RING_COMPAT_FEATURES, AIO_RING_INCOMPAT_FEATURES,
                                      RING_HEADER.size), 0)

    def _head(self) -> int:
        return int(struct.unpack("<I", self._pread(4, _HEAD_OFF))[0])

    def has_room(self) -> bool:
        """Whether a request may be submitted (``aio_get_req``): requests in flight and
        completions not yet reaped take the ring's slots but one."""
        if self.dead or self.in_flight + self.unreaped < self.nr_events - 1:
            return True  # (a dead context's completions go nowhere)
        self.unreaped = (self.tail - self._head() % self.nr_events) % self.nr_events
        return self.in_flight + self.unreaped < self.nr_events - 1

    def complete(self, obj: int, data: int, res: int, res2: int = 0, resfd: Any = None) -> None:
        """``aio_complete``: the event into the ring at ``tail``, then the eventfd
        (``IOCB_FLAG_RESFD``) and the waiters.  Nothing for a destroyed context."""
        if self.dead:
            return
        slot = self.tail
        try:
            self._pwrite(IO_EVENT.pack(data, obj, res, res2), RING_HEADER.size * (slot + 1))
            self.tail = (slot + 1) % self.nr_events
            self._pwrite(struct.pack("<I", self.tail), _TAIL_OFF)
        except OSError:
            log.exception("aio: writing a completion to the ring")
            return
        self.unreaped += 1
        if resfd is not None:
            resfd.signal(1)
        self.queue.notify(EVENT_IN)

    def take(self, want: int) -> Tuple[bytes, int]:
        """Up to *want* events from the ring at ``head`` (``aio_read_events_ring``):
        their bytes and the head to :meth:`commit` once they reached the caller."""
        if want <= 0 or self.dead:
            return b"", -1
        raw_head, raw_tail = struct.unpack("<II", self._pread(8, _HEAD_OFF))
        if raw_head == raw_tail:
            return b"", -1
        nr = self.nr_events
        head, tail = raw_head % nr, raw_tail % nr
        out: List[bytes] = []
        got = 0
        while got < want and head != tail:
            avail = min((tail if head <= tail else nr) - head, want - got)
            out.append(self._pread(avail * IO_EVENT.size, IO_EVENT.size * (head + 1)))
            got += avail
            head = (head + avail) % nr
        return b"".join(out), head

    def commit(self, head: int) -> None:
        self._pwrite(struct.pack("<I", head), _HEAD_OFF)
        self.unreaped = (self.tail - head) % self.nr_events

    # -- life --------------------------------------------------------------
    def kill(self) -> None:
        """``kill_ioctx``: dead, out of the table and of aio-nr, pending polls cancelled
        (their events go nowhere), waiters woken (a parked ``io_getevents`` ends with
        ``EINVAL``), the ring's pages freed."""
        if self.dead:
            return
        for req in list(self.active.values()):
            req.finish(0)
        self.dead = True
        table = self.table
        if table.contexts.get(self.index) is self:
            del table.contexts[self.index]
        _nr_cell(table.kernel)[0] -= self.max_reqs
        ACCOUNT.uncharge(self.size)
        if table.fd >= 0:
            try:
                from sentry.platform.hybrid import native as N

                N.fallocate(table.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, self.offset,
                            self.size)
            except (OSError, ImportError):
                pass
        self.queue.notify(EVENT_IN)


class AioTable:
    """An address space's contexts (``mm->ioctx_table``) and the memfd of their rings."""

    def __init__(self, kernel: "Kernel") -> None:
        self.kernel = kernel
        self.fd = -1
        self.rings = 0  # rings made: the next goes at this many strides (never reused)
        self.contexts: Dict[int, Context] = {}

    def ring_fd(self) -> int:
        """The memfd, made at the first ``io_setup``.  :raises LinuxError: ``ENOMEM``."""
        if self.fd < 0:
            try:
                self.fd = os.memfd_create("[aio]", os.MFD_CLOEXEC)
            except OSError:
                raise err(errno.ENOMEM) from None
        return self.fd

    def new_context(self, nr_events: int, slots: int, size: int) -> Context:
        """A context whose ring is written in the memfd, not yet mapped (its address
        is set once the process mapped it).

        :raises LinuxError: ``EAGAIN`` over ``aio-max-nr``, ``ENOMEM``.
        """
        if not aio_nr_room(self.kernel, nr_events):
            raise err(errno.EAGAIN)
        fd = self.ring_fd()  # (first: a charge made before it failed stayed)
        if not ACCOUNT.charge(size):
            raise err(errno.ENOMEM)
        offset = self.rings * RING_STRIDE
        index = 0
        while index in self.contexts:  # the lowest free slot, as ioctx_add_table
            index += 1
        ctx = Context(self, index, 0, offset, size, slots, nr_events)
        try:
            os.ftruncate(fd, offset + size)
            ctx.write_header()
        except OSError:
            ACCOUNT.uncharge(size)
            raise err(errno.ENOMEM) from None
        self.rings += 1
        return ctx

    def add(self, ctx: Context, addr: int) -> None:
        """The process mapped *ctx*'s ring at *addr*: it is live."""
        ctx.addr = addr
        self.contexts[ctx.index] = ctx
        _nr_cell(self.kernel)[0] += ctx.max_reqs

    def discard(self, ctx: Context) -> None:
        """A context made by :meth:`new_context` that was never mapped."""
        ACCOUNT.uncharge(ctx.size)

    def lookup(self, t: "Task", ctx_id: int) -> Context:
        """``lookup_ioctx``.  :raises LinuxError: ``EINVAL``."""
        try:
            index = struct.unpack("<I", t.mem.read(ctx_id, 4))[0]
        except LinuxError:
            raise err(errno.EINVAL) from None
        ctx = self.contexts.get(index)
        if ctx is None or ctx.addr != ctx_id or ctx.dead:
            raise err(errno.EINVAL)
        return ctx

    def release(self) -> None:
        """``exit_aio``: every context killed, the memfd closed (mappings keep their pages)."""
        for ctx in list(self.contexts.values()):
            ctx.kill()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


#: Thread groups whose exit releases their address space's AIO table.
_EXIT_HOOKED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def table_of(t: "Task", create: bool = False) -> Optional[AioTable]:
    """The AIO table of *t*'s address space (made on first use with *create*); the
    process's exit releases it, as an exec does (:meth:`sentry.mm.mm.AddressSpace.drop_aio`)."""
    mm = t.tg.mm
    if mm is None:
        return None
    table: Optional[AioTable] = mm.aio
    if table is None and create:
        table = mm.aio = AioTable(t.kernel)
        tg = t.tg
        if tg not in _EXIT_HOOKED:
            _EXIT_HOOKED.add(tg)

            def at_exit(_status: int) -> None:
                if tg.mm is not None:
                    tg.mm.drop_aio()

            tg.on_exit.append(at_exit)
    return table


def lookup(t: "Task", ctx_id: int) -> Context:
    """The live context *ctx_id* of *t*'s address space.  :raises LinuxError: ``EINVAL``."""
    table = table_of(t)
    if table is None:
        raise err(errno.EINVAL)
    return table.lookup(t, ctx_id)
