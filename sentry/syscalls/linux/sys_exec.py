"""The notified half of execve: lending the program's host fds.

``execve``/``execveat`` are traced: at the ptrace stop the sentry's loader
prepares the image and rewrites the call into the ``execveat`` of the stub
(``sentry/kernel/kernel.py`` ``_exec_trap``).  When the program or its
interpreter has a host fd, the rewritten call carries
:data:`sentry.loader.loader.LEND_MARK` in its sixth register, which execveat
does not use; the filter, re-run by the kernel after the stop, notifies that
call, and this handler installs the fds in the task before the host runs it.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import CONTINUE, err
from sentry.loader import loader

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs


def execveat_lend(t: "Task", a: "SyscallArgs") -> Any:
    """execveat(2) marked with ``LEND_MARK``: the sentry's own rewritten call, or else
    the workload's (``EINVAL``: the host never runs a workload's execveat)."""
    tg = t.tg
    plan = tg.pending_exec
    if plan is None or tg.pending_exec_rewritten != t.host_tid:
        raise err(errno.EINVAL)
    # The sentry's own call: the workload's execve was counted at its trace stop.
    t.kernel.compat.counts[a.nr] -= 1
    loader.lend(t, plan, a.notif_id)
    return CONTINUE
