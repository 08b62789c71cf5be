"""The C pipe buffer (native/src/pipe.c) against a model of Linux's pipe fill rules.

The model is fs/pipe.c's accounting as the sentry's pipes kept it in Python before the
buffer moved to C: a ring of page-sized slots, a write's sub-page remainder merged into
the last slot if it fits there whole, a regular file's bytes (splice, sendfile) a slot per
file page that no later write adds to, a slot freed once drained, a page of the memory
account per occupied slot.  Random sequences of every operation must leave the same bytes,
slots, room and account; and the sentry's memory for a pipe must stay near what the
account charges for it, whatever its capacity.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Deque, Iterator

import pytest

from sentry.kernel.memacct import ACCOUNT
from sentry.platform.hybrid import native as N

PAGE = 4096


class Model:
    """fs/pipe.c's fill rules, with an account of its own (limit and used)."""

    def __init__(self, limit: int) -> None:
        self.buf = bytearray()
        self.slots: Deque[int] = deque()
        self.cap = 65536
        self.tail_merge = True
        self.limit, self.used = limit, 0

    @property
    def free(self) -> int:
        tail = PAGE - self.slots[-1] if self.slots and self.tail_merge else 0
        return tail + max(0, self.cap // PAGE - len(self.slots)) * PAGE

    def page_room(self, off: int) -> int:
        free = self.cap // PAGE - len(self.slots)
        return free * PAGE - off % PAGE if free > 0 else 0

    def _fill(self, n: int, done: int, first: int) -> int:
        take = first
        while done < n and len(self.slots) < self.cap // PAGE and self.used + PAGE <= self.limit:
            self.used += PAGE
            k = min(take, n - done)
            self.slots.append(k)
            done += k
            take = PAGE
        return done

    def push(self, data: bytes, off: int = -1) -> int:
        n, done = len(data), 0
        if off < 0:
            part = n % PAGE
            if part and self.slots and self.tail_merge and self.slots[-1] + part <= PAGE:
                self.slots[-1] += part
                done = part
            done = self._fill(n, done, PAGE)
        else:
            done = self._fill(n, 0, PAGE - off % PAGE)
        if done:
            self.buf += data[:done]
            self.tail_merge = off < 0
        return done

    def pop(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        k = len(out)
        while k:
            if self.slots[0] <= k:
                k -= self.slots.popleft()
                self.used -= PAGE
            else:
                self.slots[0] -= k
                k = 0
        return out

    def unpop(self, data: bytes) -> None:
        self.buf[:0] = data
        k = len(data)
        if self.slots and self.slots[0] + k <= PAGE:
            self.slots[0] += k
            return
        while k:
            c = k % PAGE or PAGE
            self.slots.appendleft(c)
            self.used += PAGE
            k -= c

    def discard(self) -> None:
        self.buf.clear()
        self.used -= len(self.slots) * PAGE
        self.slots.clear()
        self.tail_merge = True
        self.cap = 65536


@pytest.fixture
def account() -> Iterator[None]:
    limit = ACCOUNT.limit
    yield
    ACCOUNT.limit = limit


def _slots(p) -> list:
    return [p.slots[(p.s_head + i) % p.s_cap] for i in range(p.nslots)]


def _same(p, m: Model, start: int, ctx: object) -> None:
    assert (p.size, p.nslots, _slots(p)) == (len(m.buf), len(m.slots), list(m.slots)), ctx
    assert (p.cap, bool(p.tail_merge), N.pipe_free_bytes(p)) == (m.cap, m.tail_merge, m.free), ctx
    assert ACCOUNT.used - start == m.used, ctx
    assert N.pipe_pop(p, p.size, keep=True) == bytes(m.buf), ctx
    # the sentry holds about what the account charges: four times the bytes at most
    # (16 KiB at least), four slots' entries a slot
    assert p.alloc <= max(4 * p.size + 2 * PAGE, 16384), ctx
    assert p.s_cap <= max(4 * p.nslots + 4, 64), ctx


@pytest.mark.parametrize("seed", range(8))
def test_random_sequences_match_the_model(seed: int, account: None) -> None:
    rng = random.Random(seed)
    for run in range(12):
        start = ACCOUNT.used
        room = rng.choice([1 << 40, rng.randrange(0, 40) * PAGE])
        ACCOUNT.limit = start + room
        p, m = N.pipe_new(), Model(room)
        for step in range(250):
            op, ctx = rng.random(), (seed, run, step)
            if op < 0.3:
                data = rng.randbytes(rng.choice([1, 17, 4095, 4096, 4097, 5000, 8192,
                                                 rng.randrange(1, 300000)]))
                assert N.pipe_push(p, data) == m.push(data), ctx
            elif op < 0.42:
                off = rng.randrange(0, 1 << 20)
                n = min(rng.choice([1, 100, 4096, 5000, rng.randrange(1, 300000)]),
                        m.page_room(off))
                if n:
                    data = rng.randbytes(n)
                    assert N.pipe_push(p, data, off) == m.push(data, off), ctx
            elif op < 0.7:
                n = rng.choice([1, 17, 4096, 4097, rng.randrange(1, 300000)])
                got = N.pipe_pop(p, n)
                assert got == m.pop(n), ctx
                if got and rng.random() < 0.4:  # a copy-out that fell short
                    back = got[rng.randrange(len(got)):]
                    N.pipe_unpop(p, back)
                    m.unpop(back)
            elif op < 0.76:
                cap = rng.choice([PAGE, 8192, 65536, 1 << 20, 1 << 31])
                if cap // PAGE >= len(m.slots):
                    N.pipe_resize(p, cap)
                    m.cap = cap
            elif op < 0.78:
                N.pipe_discard(p)
                m.discard()
            elif op < 0.9:
                n = rng.choice([1, 100, 4096, 5000, 65536, rng.randrange(1, 1 << 20)])
                twin = Model(m.limit)
                twin.buf, twin.slots = bytearray(m.buf), deque(m.slots)
                twin.cap, twin.tail_merge, twin.used = m.cap, m.tail_merge, m.used
                assert bool(N.lib.rt_pipe_fits(p, n, -1)) == (twin.push(b"x" * n) == n), ctx
            else:
                off = rng.randrange(0, 1 << 40)
                assert N.pipe_page_room(p, off) == m.page_room(off), ctx
            _same(p, m, start, ctx)
        del p  # freed: its pages go back
        assert ACCOUNT.used == start


def test_memory_follows_the_bytes(account: None) -> None:
    """A reader that keeps a byte of a full 1 MiB pipe, a pipe emptied, a write the
    account refuses, a capacity of 2 GiB: the sentry holds about what is charged."""
    start = ACCOUNT.used
    p = N.pipe_new()
    N.pipe_resize(p, 1 << 20)
    assert N.pipe_push(p, b"x" * (1 << 20)) == 1 << 20
    assert p.alloc >= 1 << 20
    N.pipe_pop(p, (1 << 20) - 1)
    assert p.size == 1 and p.alloc <= 16384 and ACCOUNT.used - start == PAGE
    N.pipe_pop(p, 1)
    assert p.alloc == 0 and p.buf == N.ffi.NULL and ACCOUNT.used == start
    ACCOUNT.limit = ACCOUNT.used  # spent
    assert N.pipe_push(p, b"y" * 100000) == 0
    assert p.alloc == 0 and p.size == 0
    ACCOUNT.limit = start + (1 << 30)
    N.pipe_resize(p, 1 << 31)
    assert N.pipe_push(p, b"z") == 1
    assert p.s_cap <= 16 and p.alloc <= 16384
    N.pipe_discard(p)
    assert (p.alloc, p.s_cap, p.cap) == (0, 0, 65536) and ACCOUNT.used == start


def test_a_full_pipe_streams_in_order(account: None) -> None:
    """A full 1 MiB pipe read and written a page and a bit at a time: its ring wraps
    hundreds of times and every byte comes out once, in order."""
    p = N.pipe_new()
    N.pipe_resize(p, 1 << 20)
    sent = got = 0

    def chunk(at: int, n: int) -> bytes:
        return bytes((at + i) % 251 for i in range(n))

    while N.pipe_push(p, chunk(sent, 4096)) == 4096:
        sent += 4096
    for step in range(3000):
        n = 4096 + step % 7
        out = N.pipe_pop(p, n)
        assert out == chunk(got, len(out))
        got += len(out)
        k = N.pipe_push(p, chunk(sent, n))
        sent += k
    while p.size:
        out = N.pipe_pop(p, 65536)
        assert out == chunk(got, len(out))
        got += len(out)
    assert got == sent > 3000 * 4096
