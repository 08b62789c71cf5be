"""epoll, eventfd and timerfd descriptions and the sentry's timer queue, without a tracee.

The differential programs (tests/syscalls/src/{epoll,eventfd,timerfd}.c) check the
behaviour against Linux; these pin down the pieces those programs cannot reach directly:
the ready list's bookkeeping, the loop check, release hooks, timer counting on a fake
clock, the timer heap's compaction.
"""

import errno
import struct

import pytest

from sentry.abi.linux.errors import LinuxError, WouldBlock
from sentry.fsimpl.epoll import epoll as E
from sentry.fsimpl.eventfd.eventfd import EFD_SEMAPHORE, EventFileDescription
from sentry.fsimpl.pipe.pipe import new_pipe
from sentry.fsimpl.timerfd import timerfd as TF
from sentry.kernel.ktimer import TimerQueue
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT, WaitQueue
from sentry.vfs import abi


def _errno(fn, *args):
    with pytest.raises(LinuxError) as ei:
        fn(*args)
    return ei.value.errno


def _take(ep, n=16):
    scan = ep.send_events(n)
    return [(data, ev) for ev, data in scan.events]


def test_level_edge_oneshot_on_a_pipe():
    r, w = new_pipe(None, 0)
    ep = E.EpollInstance(0)
    ep.add(r, 3, EVENT_IN, 1)
    ep.add(r, 4, EVENT_IN | E.EPOLLET, 2)
    ep.add(r, 5, EVENT_IN | E.EPOLLONESHOT, 3)
    assert _take(ep) == []
    w.write(None, b"x")
    # Watchers are called newest first, as Linux's add_wait_queue orders them.
    assert _take(ep) == [(3, EVENT_IN), (2, EVENT_IN), (1, EVENT_IN)]
    assert _take(ep) == [(1, EVENT_IN)]
    w.write(None, b"y")
    assert _take(ep) == [(1, EVENT_IN), (2, EVENT_IN)]
    ep.modify(r, 5, EVENT_IN | E.EPOLLONESHOT, 4)
    assert _take(ep) == [(1, EVENT_IN), (4, EVENT_IN)]
    r.read(None, 10)
    assert _take(ep) == []
    assert not ep.ready


def test_interest_goes_with_the_last_reference():
    r, w = new_pipe(None, 0)
    ep = E.EpollInstance(0)
    r.incref()  # a dup
    ep.add(r, 3, EVENT_IN, 1)
    w.write(None, b"x")
    r.decref()  # close(3): the dup keeps the description
    assert _take(ep) == [(1, EVENT_IN)]
    assert _errno(ep.delete, r, 4) == errno.ENOENT
    r.decref()
    assert ep.items == {} and not ep.ready and r.release_hooks is None
    assert len(r.pipe.queue) == 0


def test_closing_an_epoll_set_unhooks_everything():
    r, w = new_pipe(None, 0)
    inner, outer = E.EpollInstance(0), E.EpollInstance(0)
    inner.add(r, 3, EVENT_IN, 1)
    outer.add(inner, 4, EVENT_IN, 2)
    assert inner.watchers
    inner.decref()
    assert outer.items == {} and len(r.pipe.queue) == 0 and not r.release_hooks


def test_loop_check_depth_and_cycles():
    eps = [E.EpollInstance(0) for _ in range(7)]
    for i in range(1, 5):
        eps[i].add(eps[i - 1], 3, EVENT_IN, i)
    assert _errno(eps[5].add, eps[4], 3, EVENT_IN, 5) == errno.ELOOP  # a sixth level
    assert _errno(eps[0].add, eps[4], 3, EVENT_IN, 0) == errno.ELOOP  # a cycle
    assert _errno(eps[0].add, eps[6], 3, EVENT_IN, 0) == errno.ELOOP  # depth above
    eps[2].add(eps[6], 3, EVENT_IN, 0)


def test_faulting_copy_gives_events_back():
    pipes = [new_pipe(None, 0) for _ in range(3)]
    ep = E.EpollInstance(0)
    for i, (r, w) in enumerate(pipes):
        ep.add(r, 3 + i, EVENT_IN | E.EPOLLET, i)
        w.write(None, b"x")
    scan = ep.send_events(16)
    assert [d for _, d in scan.events] == [0, 1, 2]
    scan.undo_from(1)
    assert list(ep.ready) == [ep.items[(id(pipes[1][0]), 4)], ep.items[(id(pipes[2][0]), 5)]]
    assert _take(ep) == [(1, EVENT_IN), (2, EVENT_IN)]


def test_maxevents_leaves_the_rest_first():
    pipes = [new_pipe(None, 0) for _ in range(3)]
    ep = E.EpollInstance(0)
    for i, (r, w) in enumerate(pipes):
        ep.add(r, 3 + i, EVENT_IN, i)
        w.write(None, b"x")
    assert _take(ep, 1) == [(0, EVENT_IN)]
    assert _take(ep, 2) == [(1, EVENT_IN), (2, EVENT_IN)]
    assert _take(ep) == [(0, EVENT_IN), (1, EVENT_IN), (2, EVENT_IN)]


def test_eventfd_counter_and_semaphore():
    e = EventFileDescription(0, 0)
    assert _errno(e.read, None, 4) == errno.EINVAL
    with pytest.raises(WouldBlock):
        e.read(None, 8)
    assert e.write(None, struct.pack("<Q", 5)) == 8
    assert _errno(e.write, None, struct.pack("<QQ", 1, 1)) == errno.EINVAL
    assert _errno(e.write, None, struct.pack("<Q", (1 << 64) - 1)) == errno.EINVAL
    assert e.read(None, 8) == struct.pack("<Q", 5)
    s = EventFileDescription(2, abi.O_NONBLOCK | EFD_SEMAPHORE)
    assert s.read(None, 8) == struct.pack("<Q", 1)
    assert s.read(None, 8) == struct.pack("<Q", 1)
    assert _errno(s.read, None, 8) == errno.EAGAIN
    e.write(None, struct.pack("<Q", (1 << 64) - 2))
    assert e.readiness(EVENT_IN | EVENT_OUT) == EVENT_IN
    with pytest.raises(WouldBlock):
        e.write(None, struct.pack("<Q", 1))


class _Clock:
    def __init__(self, monkeypatch):
        self.now = 1_000_000_000
        monkeypatch.setattr(TF.time, "monotonic_ns", lambda: self.now)


def test_timerfd_counts_periods_and_wakes_once(monkeypatch):
    clock = _Clock(monkeypatch)
    q = TimerQueue()
    t = TF.TimerFileDescription(q, TF.CLOCK_MONOTONIC, abi.O_NONBLOCK)
    wakes = []
    t.queue.subscribe(EVENT_IN, wakes.append)
    t.settime(0, 10_000_000, 10_000_000)
    assert q.next_deadline() == pytest.approx(1.01)
    clock.now += 35_000_000
    q.fire(clock.now / 1e9)
    assert wakes == [EVENT_IN] and q.next_deadline() is None  # stopped until read
    assert t.readiness(EVENT_IN) == EVENT_IN
    assert t.read(None, 8) == struct.pack("<Q", 3)
    assert q.next_deadline() == pytest.approx(1.04)  # re-armed on the period grid
    assert _errno(t.read, None, 8) == errno.EAGAIN
    value, interval = t.gettime()
    assert (value, interval) == (5_000_000, 10_000_000)
    clock.now += 100_000_000  # no callback ran (a late loop): the read counts it anyway
    assert t.read(None, 8) == struct.pack("<Q", 10)
    old = t.settime(0, 0, 0)
    assert old[1] == 10_000_000 and q.next_deadline() is None


def test_timer_queue_compacts_cancelled_timers():
    q = TimerQueue()
    keep = q.add(5.0, lambda: None)
    for _ in range(1000):
        q.cancel(q.add(1e9, lambda: None))
    assert len(q._heap) < 200 and len(q) == 1
    fired = []
    q.add(1.0, lambda: fired.append(1))
    q.fire(2.0)
    assert fired == [1] and q.next_deadline() == 5.0
    q.cancel(keep)
    assert q.next_deadline() is None


def test_wait_queue_order():
    q = WaitQueue()
    calls = []
    q.subscribe(EVENT_IN, lambda e: calls.append("a"))
    q.subscribe(EVENT_IN, lambda e: calls.append("h1"), head=True)
    q.subscribe(EVENT_IN, lambda e: calls.append("b"))
    k = q.subscribe(EVENT_IN, lambda e: calls.append("h2"), head=True)
    q.notify(EVENT_IN)
    assert calls == ["h2", "h1", "a", "b"]
    q.unsubscribe(k)
    assert len(q) == 3
