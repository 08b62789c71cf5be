"""The CPU hold (sentry.kernel.cpuhold) on real host threads: what it pins, what it gives
back, and when it does not pin at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sentry.kernel.cpuhold import HOLD_MAX, CpuHold
from sentry.kernel.ktimer import TimerQueue
from sentry.platform.hybrid import native

CPUS = frozenset(os.sched_getaffinity(0))


class _Task:
    def __init__(self, host_tid: int) -> None:
        self.host_tid = host_tid
        self.exited = False


class _Kernel:
    def __init__(self) -> None:
        self.ktimers = TimerQueue()


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


def test_hold_pins_both_to_the_current_cpu_and_gives_back_their_masks(child) -> None:
    mask = sorted(CPUS)
    os.sched_setaffinity(child.pid, mask)
    k = _Kernel()
    hold = CpuHold(k, native.getcpu)
    task = _Task(child.pid)
    hold.begin(task)
    if len(CPUS) < 2:
        assert not hold.held and os.sched_getaffinity(child.pid) == set(mask)
        return
    assert hold.held and hold.holds == 1
    mine = os.sched_getaffinity(0)
    assert len(mine) == 1 and os.sched_getaffinity(child.pid) == mine
    assert k.ktimers.next_deadline() is not None  # the bound
    hold.begin(task)  # one hold at a time
    assert hold.holds == 1
    hold.end()
    assert not hold.held
    assert os.sched_getaffinity(0) == CPUS and os.sched_getaffinity(child.pid) == set(mask)
    assert k.ktimers.next_deadline() is None
    hold.end()  # nothing held: nothing done


def test_release_and_the_time_bound(child) -> None:
    k = _Kernel()
    hold = CpuHold(k, native.getcpu)
    task, other = _Task(child.pid), _Task(os.getpid())
    hold.begin(task)
    assert hold.held == (len(CPUS) > 1)
    if not hold.held:
        return  # one CPU: nothing to hold (test_hold_pins_both... checks that)
    hold.release_task(other, "test")  # not the held one
    assert hold.held
    hold.release_task(task, "test")
    assert not hold.held and os.sched_getaffinity(child.pid) == CPUS
    hold.begin(task)
    k.ktimers.fire(time.monotonic() + HOLD_MAX + 1)
    assert not hold.held
    assert os.sched_getaffinity(0) == CPUS and os.sched_getaffinity(child.pid) == CPUS


def test_a_dead_task_is_not_touched(child) -> None:
    k = _Kernel()
    hold = CpuHold(k, native.getcpu)
    task = _Task(child.pid)
    hold.begin(task)
    assert hold.held == (len(CPUS) > 1)
    if not hold.held:
        return
    child.send_signal(signal.SIGKILL)
    child.wait()  # reaped: its number may be anyone's now
    hold.end()  # the pidfd says it is gone: only the sentry's mask comes back
    assert os.sched_getaffinity(0) == CPUS
    hold.begin(_Task(os.getpid()))  # the main thread stands in for a live one
    hold.task_exited(hold._task)
    assert not hold.held and os.sched_getaffinity(0) == CPUS


def test_no_hold_without_a_task_or_a_choice(child) -> None:
    k = _Kernel()
    hold = CpuHold(k, native.getcpu)
    hold.begin(None)  # no call being served
    assert not hold.held
    gone = _Task(child.pid)
    gone.exited = True
    hold.begin(gone)
    assert not hold.held
    cpu = native.getcpu()
    others = CPUS - {cpu}
    if others:
        # A task that may not run on the sentry's CPU is left where it may run.
        os.sched_setaffinity(child.pid, others)
        hold.begin(_Task(child.pid))
        assert not hold.held and os.sched_getaffinity(child.pid) == others
    os.sched_setaffinity(0, {cpu})  # a sentry allowed one CPU holds nothing
    hold.begin(_Task(child.pid))
    assert not hold.held
