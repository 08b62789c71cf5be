"""Robust futex lists: get_robust_list(2).

``set_robust_list`` passes to the host (the caller's own list), so the head lives in the
host kernel's task.  ``get_robust_list`` is checked here with the sandbox's pids and
credentials (``ESRCH``, then ptrace's read permission, ``EPERM``) and then run by the
host (``CONTINUE``): the pid is the same number there (the workload's pid namespace), the
host's own check passes for the sandbox's processes (one host uid), and the call only
writes the head and length to the caller's memory.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import CONTINUE, err
from sentry.kernel.task import ptrace_may_access

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs


def get_robust_list(t: "Task", a: "SyscallArgs") -> int:
    """get_robust_list(2): the caller's, or another sandbox thread's with ptrace's read
    permission (the host reads the head ``set_robust_list`` gave it)."""
    pid = a.int(0)
    if pid:
        target = t.kernel.task_by_tid(pid)
        if target is None or target.exited:
            raise err(errno.ESRCH)
        if not ptrace_may_access(t, target):
            raise err(errno.EPERM)
    return CONTINUE
