"""pipe(2) and pipe2(2): sentry pipes (:mod:`sentry.fsimpl.pipe.pipe`)."""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import err
from sentry.fsimpl.pipe.pipe import new_pipe
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any


def _pipe2(t: Any, addr: int, flags: int) -> int:
    if flags & ~(abi.O_CLOEXEC | abi.O_NONBLOCK | abi.O_DIRECT):
        raise err(errno.EINVAL)
    if flags & abi.O_DIRECT:
        # Packet-mode pipes are not emulated.
        raise err(errno.EINVAL)
    table = t.fdtable
    if not table.free_below_limit(2):
        raise err(errno.EMFILE)
    r, w = new_pipe(t, flags)
    cloexec = bool(flags & abi.O_CLOEXEC)
    rfd = table.install(r, cloexec)
    wfd = table.install(w, cloexec)
    try:
        t.mem.write(addr, struct.pack("<ii", rfd, wfd))
    except Exception:
        table.close(rfd)
        table.close(wfd)
        raise
    return 0


def pipe(t: Any, a: SyscallArgs) -> int:
    """pipe(2)."""
    return _pipe2(t, a[0], 0)


def pipe2(t: Any, a: SyscallArgs) -> int:
    """pipe2(2): ``O_CLOEXEC``, ``O_NONBLOCK``; ``O_DIRECT`` is ``EINVAL``."""
    return _pipe2(t, a[0], a.int(1))
