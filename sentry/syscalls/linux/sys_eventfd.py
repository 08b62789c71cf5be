"""eventfd(2) and eventfd2: the counter is :mod:`sentry.fsimpl.eventfd.eventfd`."""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.eventfd.eventfd import EFD_SEMAPHORE, EventFileDescription
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

_EFD_FLAGS = abi.O_CLOEXEC | abi.O_NONBLOCK | EFD_SEMAPHORE


def _eventfd2(t: Any, initval: int, flags: int) -> int:
    if flags & ~_EFD_FLAGS:
        raise err(errno.EINVAL)
    d = EventFileDescription(initval, flags)
    try:
        return t.fdtable.install(d, bool(flags & abi.O_CLOEXEC))
    except LinuxError:
        d.decref()
        raise


def eventfd(t: Any, a: SyscallArgs) -> int:
    """eventfd(2) without flags."""
    return _eventfd2(t, a.uint(0), 0)


def eventfd2(t: Any, a: SyscallArgs) -> int:
    """eventfd2(2): ``EFD_CLOEXEC``, ``EFD_NONBLOCK``, ``EFD_SEMAPHORE``."""
    return _eventfd2(t, a.uint(0), a.int(1))
