"""The sandbox's memory account: what the sentry holds in its own memory for the workload.

Anonymous memory is the workload's host processes' own and the cgroup limits it. What
the sentry keeps for the sandbox is sentry memory, which the workload makes grow by
syscalls: tmpfs file data (every instance: ``tmpfs`` mounts, the overlay's upper layer,
``/dev``), tmpfs inodes and pipe buffers.  gVisor charges its tmpfs to the sandbox's
memory; here each of these is charged to one account per sandbox (one sentry process is
one sandbox), so a workload that fills it gets ``ENOSPC`` (tmpfs) or ``ENOMEM`` (a pipe
write, as Linux's failed page allocation) before the sentry outgrows the cgroup's limit
and the OOM killer picks the sentry.

The limit comes from ``linux.resources.memory.limit``, less what the sentry, the gofer
and the workload's own processes need beside it (:data:`RESERVE`, at least an eighth of
the limit left); without one, half the host's memory (Linux's default tmpfs size).

Single-threaded, like the rest of the sentry.
"""

from __future__ import annotations

import os

from sentry.platform.hybrid import native

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Optional

#: What a memory limit keeps back for the sentry's own heap, the gofer and the
#: workload's processes.
RESERVE = 64 << 20

#: What one tmpfs inode costs the account: the sentry's objects for a file (inode,
#: dentry, its name in the directory), measured with benchmarks/limits.py.
INODE_COST = 1024


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 30


# Asked once, at import (boot): a confined sentry makes no host calls it need not.
HOST_MEMORY = _host_memory()


def budget(memory_limit: Optional[int]) -> int:
    """The account's limit for a sandbox with *memory_limit* (None: none)."""
    if memory_limit is None or memory_limit <= 0:
        return HOST_MEMORY // 2
    return max(memory_limit // 8, memory_limit - RESERVE)


class MemoryAccount:
    """Bytes charged against a limit.  Callers refuse what :meth:`charge` refuses with
    their own errno (tmpfs: ``ENOSPC``).

    Its numbers (limit, used, peak) are C's ``struct rt_acct``, so that C's pipe path
    charges pipe pages to the same account.
    """

    __slots__ = ("_n",)

    def __init__(self, limit: int) -> None:
        self._n = native.acct()
        self._n.limit = limit

    @property
    def limit(self) -> int:
        return int(self._n.limit)

    @limit.setter
    def limit(self, v: int) -> None:
        self._n.limit = v

    @property
    def used(self) -> int:
        return int(self._n.used)

    @property
    def peak(self) -> int:
        return int(self._n.peak)

    def charge(self, n: int) -> bool:
        """Charge *n* bytes; False (nothing charged) if that would pass the limit."""
        c = self._n
        if n > 0 and c.used + n > c.limit:
            return False
        self.add(n)
        return True

    def room(self, n: int) -> bool:
        """Whether *n* more bytes would fit."""
        return n <= 0 or self._n.used + n <= self._n.limit

    def add(self, n: int) -> None:
        """Count *n* bytes (negative: give back) that the caller checked with :meth:`room`."""
        c = self._n
        c.used += n
        if c.used > c.peak:
            c.peak = c.used

    def uncharge(self, n: int) -> None:
        self._n.used -= n


#: The sentry's one account (set up by the kernel from the boot configuration).
ACCOUNT = MemoryAccount(budget(None))


def configure(memory_limit: Optional[int]) -> None:
    """Set the account's limit from the sandbox's memory limit (what is charged stays)."""
    ACCOUNT.limit = budget(memory_limit)
