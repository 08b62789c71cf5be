"""Sentry timers: run a callback on the event loop at a monotonic deadline.

The loop (:meth:`sentry.kernel.kernel.Kernel.run`) sleeps no longer than
:meth:`TimerQueue.next_deadline` and calls :meth:`TimerQueue.fire` on every
turn, so a timer costs nothing while it waits (no polling).  Callbacks run on
the loop's thread, after the deadline (never before), and must not block; they
may add or cancel timers.  While the sandbox is paused the loop fires nothing,
so callbacks come late: users count elapsed periods from the clock, never from
the number of callbacks (timerfd does).
"""

from __future__ import annotations

import heapq
import itertools
import time

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, List, Optional


class Timer:
    """A scheduled callback; :meth:`TimerQueue.cancel` it, or let it fire once."""

    __slots__ = ("deadline", "seq", "callback", "active")

    def __init__(self, deadline: float, seq: int, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.callback = callback
        self.active = True

    def __lt__(self, other: "Timer") -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class TimerQueue:
    """One-shot timers ordered by deadline (``time.monotonic()`` seconds)."""

    def __init__(self) -> None:
        self._heap: List[Timer] = []
        self._seq = itertools.count()
        self._cancelled = 0  # cancelled timers still in the heap

    def add(self, deadline: float, callback: Callable[[], None]) -> Timer:
        """Run *callback* once the monotonic clock reaches *deadline*."""
        tm = Timer(deadline, next(self._seq), callback)
        heapq.heappush(self._heap, tm)
        return tm

    def cancel(self, tm: Optional[Timer]) -> None:
        """Forget *tm*.

        It leaves the heap when it reaches the top, or when cancelled timers are
        half of the heap (a workload re-arming a far-off timer in a loop must not
        grow the sentry's memory).
        """
        if tm is None or not tm.active:
            return
        tm.active = False
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [x for x in self._heap if x.active]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def next_deadline(self) -> Optional[float]:
        heap = self._heap
        while heap and not heap[0].active:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0].deadline if heap else None

    def fire(self, now: Optional[float] = None) -> None:
        """Run the callbacks of every timer whose deadline is at or before *now*."""
        if now is None:
            now = time.monotonic()
        heap = self._heap
        while heap and (not heap[0].active or heap[0].deadline <= now):
            tm = heapq.heappop(heap)
            if tm.active:
                tm.active = False
                tm.callback()
            else:
                self._cancelled -= 1

    def __len__(self) -> int:
        return sum(1 for tm in self._heap if tm.active)

    def __bool__(self) -> bool:
        """Whether any timer is kept (cancelled ones too, until they are dropped): the
        event loop's test before it looks at the clock (__len__ counts)."""
        return bool(self._heap)
