"""sentry.kernel.aio: ring geometry as Linux's ioctx_alloc/aio_setup_ring computes it, the
ring's header and events in the memfd, reaping from head, slots, aio-nr, kill and release."""

from __future__ import annotations

import errno
import gc
import os
import struct
from typing import Iterator

import pytest
from sentry.abi.linux.errors import LinuxError
from sentry.kernel import aio


class _Kernel:
    """Only an identity: aio-nr is kept per kernel."""


@pytest.fixture(autouse=True)
def _collect() -> Iterator[None]:
    """Contexts and their table refer to each other: collect them here, so that no
    collection they prompt runs during a later test that counts the memory account."""
    yield
    gc.collect()


def test_ring_size_follows_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aio, "POSSIBLE_CPUS", 2)
    # max(nr, 4 * cpus) * 2 + 2 events after a 32-byte header, in whole pages.
    assert aio.ring_size(1) == (127, 4096)
    assert aio.ring_size(8) == (127, 4096)
    assert aio.ring_size(64) == (255, 8192)
    assert aio.ring_size(200) == (511, 16384)
    monkeypatch.setattr(aio, "POSSIBLE_CPUS", 64)
    assert aio.ring_size(1) == (639, 20480)


@pytest.mark.parametrize("nr,code", [(0x7FFFFFFF, errno.EINVAL), (0x80000000, errno.EAGAIN),
                                     (65537, errno.EAGAIN)])
def test_ring_size_limits(nr: int, code: int) -> None:
    with pytest.raises(LinuxError) as e:
        aio.ring_size(nr)
    assert e.value.errno == code


def _ctx(table: aio.AioTable, nr: int = 1) -> aio.Context:
    slots, size = aio.ring_size(nr)
    ctx = table.new_context(nr, slots, size)
    table.add(ctx, 0x7F0000000000 + ctx.index * (1 << 20))
    return ctx


def test_ring_events_and_reaping() -> None:
    k = _Kernel()
    table = aio.AioTable(k)  # type: ignore[arg-type]
    try:
        ctx = _ctx(table, 8)
        assert aio.aio_nr(k) == 8  # type: ignore[arg-type]
        hdr = aio.RING_HEADER.unpack(os.pread(table.fd, 32, ctx.offset))
        assert hdr == (0, ctx.nr_events, 0, 0, 0xA10A10A1, 1, 0, 32)
        ctx.complete(0x1000, 7, 5)
        ctx.complete(0x2000, 8, -errno.EINTR, 1)
        raw, head = ctx.take(1)
        assert aio.IO_EVENT.unpack(raw) == (7, 0x1000, 5, 0)
        ctx.commit(head)
        # The process reaps the second one itself: head moved in the ring.
        os.pwrite(table.fd, struct.pack("<I", 2), ctx.offset + 8)
        assert ctx.take(8) == (b"", -1)
        # A second context takes the next free id, its ring the next stride.
        ctx2 = _ctx(table)
        assert ctx2.index == 1 and ctx2.offset == aio.RING_STRIDE
        assert aio.aio_nr(k) == 9  # type: ignore[arg-type]
        ctx.kill()
        assert ctx.dead and aio.aio_nr(k) == 1  # type: ignore[arg-type]
        assert _ctx(table).index == 0  # the lowest free id again, a new stride
    finally:
        table.release()
    assert table.fd == -1 and aio.aio_nr(k) == 0  # type: ignore[arg-type]


def test_slots_run_out_until_reaped() -> None:
    table = aio.AioTable(_Kernel())  # type: ignore[arg-type]
    try:
        ctx = _ctx(table)
        done = 0
        while ctx.has_room():
            ctx.complete(done, done, 0)
            done += 1
        assert done == ctx.nr_events - 1
        raw, head = ctx.take(3)
        ctx.commit(head)
        assert ctx.has_room()
        # Reaped by hand: the ring's head is read again when the slots look used up.
        while ctx.has_room():
            ctx.complete(0, 0, 0)
        os.pwrite(table.fd, struct.pack("<I", ctx.tail), ctx.offset + 8)
        assert ctx.has_room() and ctx.unreaped == 0
    finally:
        table.release()
