"""signalfd(2) and signalfd4: the file is :mod:`sentry.fsimpl.signalfd.signalfd`.

Checks and their order are ``fs/signalfd.c``'s: ``sizemask`` other than 8 ``EINVAL``,
the mask is read (``EFAULT``), flags other than ``SFD_CLOEXEC``/``SFD_NONBLOCK``
``EINVAL``; then ``fd`` -1 makes a file, and any other fd must be an open signalfd
whose mask is replaced (``EBADF``, else ``EINVAL``; the flags do not change it).
SIGKILL and SIGSTOP are dropped from the mask without an error.
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.signalfd.signalfd import SFD_CLOEXEC, SFD_NONBLOCK, SignalFileDescription
from sentry.syscalls.linux.args import SyscallArgs

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

_SIGSET_SIZE = 8


def _signalfd4(t: Any, fd: int, mask_addr: int, sizemask: int, flags: int) -> int:
    if sizemask != _SIGSET_SIZE:
        raise err(errno.EINVAL)
    mask = struct.unpack("<Q", t.mem.read(mask_addr, _SIGSET_SIZE))[0]
    if flags & ~(SFD_CLOEXEC | SFD_NONBLOCK):
        raise err(errno.EINVAL)
    if fd != -1:
        d = t.fdtable.get(fd)
        if d.is_path:
            raise err(errno.EBADF)
        if not isinstance(d, SignalFileDescription):
            raise err(errno.EINVAL)
        d.set_mask(t, mask)
        return fd
    d = SignalFileDescription(t.kernel, mask, flags)
    try:
        return t.fdtable.install(d, bool(flags & SFD_CLOEXEC))
    except LinuxError:
        d.decref()
        raise


def signalfd(t: Any, a: SyscallArgs) -> int:
    """signalfd(2) without flags."""
    return _signalfd4(t, a.int(0), a[1], a[2], 0)


def signalfd4(t: Any, a: SyscallArgs) -> int:
    """signalfd4(2): ``SFD_CLOEXEC``, ``SFD_NONBLOCK``."""
    return _signalfd4(t, a.int(0), a[1], a[2], a.int(3))
