"""Linux errors as values, and the internal signals for blocking and interruption.

Handlers raise :class:`LinuxError` (use :func:`err`, which returns a preallocated
instance) and the dispatcher turns it into ``-errno``.  A handler that must wait
raises :class:`WouldBlock`; the dispatcher parks the trapped syscall and runs the
handler again from the start when one of the named wait queues fires, the
deadline passes, or a signal interrupts it.  Handlers are therefore written so
that a retry before success has no side effects.
"""

from __future__ import annotations

import errno as _errno

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Sequence, Tuple
    from sentry.kernel.waiter import WaitQueue

# Kernel-internal restart codes (include/linux/errno.h).  Returned to a trapped
# thread only when a host signal is pending on it, so the host kernel's signal
# code turns them into EINTR or a restart exactly as Linux would.
ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516


class LinuxError(Exception):
    """A syscall failure: the handler's result is ``-self.errno``."""

    __slots__ = ("errno",)

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno

    def __repr__(self) -> str:
        return f"LinuxError({_errno.errorcode.get(self.errno, self.errno)})"


_PREALLOCATED = {e: LinuxError(e) for e in _errno.errorcode}


def err(errno: int) -> LinuxError:
    """Return the shared :class:`LinuxError` for *errno* (raise it).

    Raising an exception object that already has a traceback prepends to it, so a shared
    instance would collect every frame it was ever raised through (with their locals) —
    memory without bound, one chain per failed syscall.  Its traceback and context are
    cleared first: each raise holds only its own frames, until the next one.
    """
    e = _PREALLOCATED.get(errno)
    if e is None:
        return LinuxError(errno)
    e.__traceback__ = None
    e.__context__ = None
    e.__cause__ = None
    return e


class WouldBlock(Exception):
    """The call cannot complete now; park it.

    :param queues: ``(queue, event_mask)`` pairs; a notification on any of them
        with an overlapping mask re-runs the handler.
    :param deadline: absolute ``time.monotonic()`` at which the handler is run
        again with ``timed_out`` set on the context (``None``: no deadline).
    :param restart: the code used when a signal interrupts the wait:
        ``ERESTARTSYS`` (restart under ``SA_RESTART``), ``ERESTARTNOHAND``
        (restart only if no handler runs, e.g. poll), or ``EINTR`` (never).
    :param sigmask: the signal mask in force during the wait (``ppoll``,
        ``pselect6``); ``None``: the thread's own.
    :param on_interrupt: run when a signal ends the wait, before the answer
        (``select``-family calls write the time left back, as Linux does).

    ``pipe``: a ``read`` waits for bytes in this pipe (:mod:`sentry.fsimpl.pipe.pipe`'s
    ``Pipe``), which C's fast path may answer it with, or a ``write`` or ``sendfile``
    waits for room in it, which C may complete it in (:class:`Dispatcher`).
    """

    def __init__(
        self,
        queues: Sequence[Tuple["WaitQueue", int]] = (),
        deadline: Optional[float] = None,
        restart: int = ERESTARTSYS,
        sigmask: Optional[int] = None,
        on_interrupt: Optional[Callable[[], None]] = None,
    ) -> None:
        super().__init__()
        self.on_interrupt = on_interrupt
        self.queues = queues
        self.deadline = deadline
        self.restart = restart
        self.sigmask = sigmask
        self.pipe: Any = None


class _Continue(int):
    """Marker result: let the host execute the call with its own registers (``observe``)."""


#: A handler returns this to have the host run the call (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``).
CONTINUE = _Continue(0)
