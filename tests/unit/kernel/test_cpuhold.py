"""The CPU hold (sentry.kernel.cpuhold) on real host threads: what it pins, what it gives
back and when, and when it does not pin at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from sentry.kernel.cpuhold import HOLD_IDLE, HOLD_MAX, CpuHold
from sentry.kernel.ktimer import TimerQueue
from sentry.platform.hybrid import native

CPUS = frozenset(os.sched_getaffinity(0))


class _Task:
    def __init__(self, host_tid: int) -> None:
        self.host_tid = host_tid
        self.exited = False


class _Dispatcher:
    current: object = None


class _Kernel:
    def __init__(self) -> None:
        self.ktimers = TimerQueue()
        self.dispatcher = _Dispatcher()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def child():
    """A host process standing in for the task (its affinity is what the hold changes)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p
    p.kill()
    p.wait()


@pytest.fixture(autouse=True)
def own_mask():
    yield
    os.sched_setaffinity(0, CPUS)  # whatever a failing test left


def _hold(child) -> tuple[CpuHold, _Kernel, _Clock, _Task]:
    k, clock = _Kernel(), _Clock()
    hold = CpuHold(k, native.getcpu, clock)
    task = _Task(child.pid)
    k.dispatcher.current = task
    return hold, k, clock, task


def _fire(k: _Kernel, clock: _Clock, at: float) -> None:
    clock.now = at
    k.ktimers.fire(at)


def test_a_request_pins_both_to_the_sentrys_cpu_until_requests_stop(child) -> None:
    hold, k, clock, task = _hold(child)
    hold.request()
    if len(CPUS) < 2:  # one CPU: nothing to hold
        assert not hold.held and os.sched_getaffinity(child.pid) == CPUS
        return
    assert hold.held and hold.holds == 1
    mine = os.sched_getaffinity(0)
    assert len(mine) == 1 and os.sched_getaffinity(child.pid) == mine
    # Requests keep it: each one moves the idle end on.
    for step in range(1, 5):
        _fire(k, clock, 1000.0 + step * HOLD_IDLE * 0.9)
        hold.request()
        assert hold.held
    assert hold.holds == 1  # one hold at a time
    _fire(k, clock, clock.now + HOLD_IDLE)  # idle
    assert not hold.held
    assert os.sched_getaffinity(0) == CPUS and os.sched_getaffinity(child.pid) == CPUS
    assert k.ktimers.next_deadline() is None
    hold.end("test")  # nothing held: nothing done


def test_a_stream_holds_until_its_end_and_at_most_hold_max(child) -> None:
    hold, k, clock, _task = _hold(child)
    hold.stream(True)
    if not hold.held:
        assert len(CPUS) < 2
        return
    _fire(k, clock, 1000.0 + HOLD_IDLE * 3)  # no request meanwhile: the stream keeps it
    assert hold.held
    hold.stream(False)
    _fire(k, clock, clock.now + HOLD_IDLE)
    assert not hold.held and os.sched_getaffinity(child.pid) == CPUS
    # However busy, a hold ends after HOLD_MAX; the next request makes a new one.
    hold.stream(True)
    start = clock.now
    while clock.now < start + HOLD_MAX:
        _fire(k, clock, clock.now + HOLD_IDLE / 2)
        hold.request()
    _fire(k, clock, start + HOLD_MAX)
    hold.request()
    assert hold.held and hold.holds == 3
    hold.end("test")
    assert os.sched_getaffinity(0) == CPUS


def test_release_of_the_held_task_only(child) -> None:
    hold, k, clock, task = _hold(child)
    hold.request()
    if not hold.held:
        return  # one CPU (the first test checks that)
    hold.release_task(_Task(os.getpid()), "test")  # not the held one
    assert hold.held
    hold.release_task(task, "test")
    assert not hold.held and os.sched_getaffinity(child.pid) == CPUS
    assert os.sched_getaffinity(0) == CPUS


def test_a_dead_task_is_not_touched(child) -> None:
    hold, k, clock, task = _hold(child)
    hold.request()
    if not hold.held:
        return
    child.send_signal(signal.SIGKILL)
    child.wait()  # reaped: its number may be anyone's now
    hold.end("test")  # the pidfd says it is gone: only the sentry's mask comes back
    assert os.sched_getaffinity(0) == CPUS
    k.dispatcher.current = _Task(os.getpid())  # the main thread stands in for a live one
    hold.request()
    hold.task_exited(k.dispatcher.current)
    assert not hold.held and os.sched_getaffinity(0) == CPUS


def test_no_hold_without_a_task_or_a_choice(child) -> None:
    hold, k, clock, task = _hold(child)
    k.dispatcher.current = None  # no call being served (boot, the control server)
    hold.request()
    assert not hold.held
    task.exited = True
    k.dispatcher.current = task
    hold.request()
    assert not hold.held
    cpu = min(CPUS)
    others = CPUS - {cpu}
    if others:
        # A task that may not run on the sentry's CPU is left where it may run.
        fixed = CpuHold(k, lambda: cpu)
        os.sched_setaffinity(child.pid, others)
        k.dispatcher.current = _Task(child.pid)
        fixed.request()
        assert not fixed.held and os.sched_getaffinity(child.pid) == others
    os.sched_setaffinity(0, {cpu})  # a sentry allowed one CPU holds nothing
    k.dispatcher.current = _Task(child.pid)
    hold.request()
    assert not hold.held


def _sleeper() -> subprocess.Popen:
    """A process started now: it inherits this process's (held) mask, as a fork's child
    inherits its parent's."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_fork_moves_the_hold_to_the_child(child) -> None:
    """The parent is held over its fork; at the fork event the hold moves to the child
    (born with the held mask) and the parent stays held beside it; both get the parent's
    mask back when the short fork hold ends."""
    from sentry.kernel.cpuhold import FORK_IDLE

    hold, k, clock, parent = _hold(child)
    hold.forking(parent)
    if not hold.held:
        assert len(CPUS) < 2
        return
    mine = os.sched_getaffinity(0)
    assert os.sched_getaffinity(child.pid) == mine
    kid = _sleeper()
    try:
        assert os.sched_getaffinity(kid.pid) == mine
        son = _Task(kid.pid)
        hold.forked(parent, son)
        assert hold.held and hold._task is son
        assert os.sched_getaffinity(child.pid) == mine and os.sched_getaffinity(kid.pid) == mine
        hold.forked(parent, son)  # not the held task any more: nothing happens
        assert os.sched_getaffinity(kid.pid) == mine
        _fire(k, clock, clock.now + FORK_IDLE)
        assert not hold.held
        assert os.sched_getaffinity(kid.pid) == CPUS and os.sched_getaffinity(0) == CPUS
        assert os.sched_getaffinity(child.pid) == CPUS
        # Held for another task: a fork leaves the hold where it is.
        k.dispatcher.current = son
        hold.request()
        hold.forking(parent)
        assert hold._task is son
        hold.forked(parent, _Task(os.getpid()))
        assert hold._task is son
        hold.end("test")
    finally:
        kid.kill()
        kid.wait()


def test_the_hold_goes_back_to_the_parent_when_its_child_exits(child) -> None:
    """A loop of forks keeps the parent, each child and the sentry on one CPU: the child's
    exit gives the hold back to the parent, until it has not forked for FORK_IDLE."""
    from sentry.kernel.cpuhold import FORK_IDLE

    hold, k, clock, parent = _hold(child)
    hold.forking(parent)
    if not hold.held:
        return
    mine = os.sched_getaffinity(0)
    for _ in range(2):
        kid = _sleeper()
        son = _Task(kid.pid)
        hold.forked(parent, son)
        kid.kill()
        kid.wait()
        son.exited = True
        hold.task_exited(son)
        assert hold.held and hold._task is parent and hold.holds == 1
        assert os.sched_getaffinity(child.pid) == mine
        _fire(k, clock, clock.now + FORK_IDLE / 2)
        hold.forking(parent)  # the next fork: still the same hold
        assert hold.holds == 1
    kid = _sleeper()
    try:
        hold.forked(parent, _Task(kid.pid))
        kid.kill()
        kid.wait()
        hold.task_exited(hold._task)
        _fire(k, clock, clock.now + FORK_IDLE)  # no fork since: over
        assert not hold.held
        assert os.sched_getaffinity(child.pid) == CPUS and os.sched_getaffinity(0) == CPUS
    finally:
        kid.kill()
        kid.wait()


def test_a_parent_held_beside_its_child_is_let_go_first(child) -> None:
    """What the parent does while its child is held never shows or passes on the hold: a
    look at its mask (the hold ends), a second fork (that child is born with the parent's
    own mask), its exit (its thread is left alone); and it is let go when its child asks
    the gofer for something."""
    hold, k, clock, parent = _hold(child)
    hold.forking(parent)
    if not hold.held:
        return
    kids = [_sleeper() for _ in range(3)]
    try:
        hold.forked(parent, _Task(kids[0].pid))
        hold.release_task(parent, "affinity")
        assert not hold.held
        assert os.sched_getaffinity(kids[0].pid) == CPUS
        assert os.sched_getaffinity(child.pid) == CPUS and os.sched_getaffinity(0) == CPUS

        hold.forking(parent)
        mine = os.sched_getaffinity(0)
        son = _Task(kids[1].pid)
        os.sched_setaffinity(son.host_tid, mine)  # born with the held mask
        hold.forked(parent, son)
        hold.forking(parent)  # a second fork while the first child is held
        assert os.sched_getaffinity(child.pid) == CPUS
        assert hold.held and hold._task is son and os.sched_getaffinity(son.host_tid) == mine
        hold.forked(parent, _Task(kids[2].pid))  # born unheld: nothing to move
        assert hold._task is son and hold._parent is None
        hold.end("test")

        # The child asks the gofer for something: at work, its parent may be too.
        hold.forking(parent)
        mine = os.sched_getaffinity(0)
        os.sched_setaffinity(son.host_tid, mine)
        hold.forked(parent, son)
        assert os.sched_getaffinity(child.pid) == mine
        k.dispatcher.current = son
        hold.request()
        assert os.sched_getaffinity(child.pid) == CPUS and hold._parent is None
        assert hold.held and os.sched_getaffinity(son.host_tid) == mine
        hold.end("test")

        hold.forking(parent)
        hold.forked(parent, son)
        parent.exited = True
        hold.task_exited(parent)  # the child's hold goes on alone
        assert hold.held and hold._task is son and hold._parent is None
        son.exited = True
        hold.task_exited(son)
        assert not hold.held and os.sched_getaffinity(0) == CPUS
    finally:
        for kid in kids:
            kid.kill()
            kid.wait()


def test_a_hold_that_ends_during_a_fork_leaves_the_child_its_own_mask(child) -> None:
    """The hold can end between the fork's stop and its event (its timer, another task's
    look at the parent's mask): the child, born with the held mask, gets the parent's own
    at the event."""
    hold, k, clock, parent = _hold(child)
    hold.forking(parent)
    if not hold.held:
        return
    kid = _sleeper()  # born now: the held mask
    try:
        assert os.sched_getaffinity(kid.pid) == os.sched_getaffinity(0) != CPUS
        hold.release_task(parent, "affinity")  # the hold ends before the fork event
        assert os.sched_getaffinity(kid.pid) != CPUS
        hold.forked(parent, _Task(kid.pid))
        assert os.sched_getaffinity(kid.pid) == CPUS and not hold.held
        assert not hold._forking
    finally:
        kid.kill()
        kid.wait()


def test_an_exec_in_a_threaded_process_ends_a_hold_of_its_threads(child) -> None:
    """A thread that execs takes the leader's number: a hold of any thread of the group
    (or of one beside its child) ends first."""
    hold, k, clock, task = _hold(child)
    task.tg = object()
    hold.request()
    if not hold.held:
        return
    hold.release_group(object(), "exec")  # another group: nothing happens
    assert hold.held
    hold.release_group(task.tg, "exec")
    assert not hold.held and os.sched_getaffinity(child.pid) == CPUS
