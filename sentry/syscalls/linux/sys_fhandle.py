"""name_to_handle_at(2), open_by_handle_at(2): refused, as gVisor refuses them.

No sandbox file system hands out file handles (a handle would name a file by
something other than a path walked beneath the sandbox's root), so
``name_to_handle_at`` answers ``EOPNOTSUPP``, Linux's answer for a file system
without export operations.  ``open_by_handle_at`` needs ``CAP_DAC_READ_SEARCH``
in the sandbox (``EPERM``, Linux's first check) and is then ``EOPNOTSUPP``:
there is no handle it could decode.  Neither ever reaches the host.
"""

from __future__ import annotations

import errno

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs


def name_to_handle_at(t: "Task", a: "SyscallArgs") -> int:
    """name_to_handle_at(2): ``EOPNOTSUPP`` (no file system exports handles)."""
    raise err(errno.EOPNOTSUPP)


def open_by_handle_at(t: "Task", a: "SyscallArgs") -> int:
    """open_by_handle_at(2): ``EPERM`` without ``CAP_DAC_READ_SEARCH``, else
    ``EOPNOTSUPP``."""
    if not t.creds.capable(cap.CAP_DAC_READ_SEARCH):
        raise err(errno.EPERM)
    raise err(errno.EOPNOTSUPP)
