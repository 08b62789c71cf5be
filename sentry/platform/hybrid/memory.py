"""Task memory through ``process_vm_readv``/``process_vm_writev`` (no ptrace stop)."""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.mm.memory import MAX_ARG_STRLEN, TaskMemory
from sentry.platform.hybrid import native as N

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import List

# The highest user address on x86_64 (47-bit address space).
USER_TOP = 1 << 47


class HostMemory(TaskMemory):
    """The memory of host thread *host_tid* (any thread of the process works)."""

    __slots__ = ("pid",)

    def __init__(self, host_tid: int) -> None:
        self.pid = host_tid

    def read(self, addr: int, n: int) -> bytes:
        if n == 0:
            return b""
        if addr <= 0 or n < 0 or addr + n > USER_TOP:
            raise err(errno.EFAULT)
        try:
            b = N.mem_read(self.pid, addr, n)
        except OSError:
            raise err(errno.EFAULT) from None
        if len(b) != n:
            raise err(errno.EFAULT)
        return b

    def read_string_array(self, addr: int, max_total: int = 2 * 1024 * 1024) -> List[bytes]:
        """As :meth:`TaskMemory.read_string_array` (the same snapshot and errors), in C: an
        execve's argv and envp (a shell's 40 variables) cost ~80 us in Python."""
        try:
            return N.read_strv(self.pid, addr, max_total, MAX_ARG_STRLEN)
        except OSError as e:
            raise err(e.errno or errno.EFAULT) from None

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        if addr <= 0 or addr + len(data) > USER_TOP:
            raise err(errno.EFAULT)
        try:
            n = N.mem_write(self.pid, addr, data)
        except OSError:
            raise err(errno.EFAULT) from None
        if n != len(data):
            raise err(errno.EFAULT)
