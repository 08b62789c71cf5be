"""ptrace(2) between the sandbox's own processes; the sentry answers for the tracer
(:mod:`sentry.kernel.ptrace`).  No workload request reaches the host's ptrace: the
sentry makes the host requests itself, on its own tracees, with its own buffers."""

from __future__ import annotations


from sentry.kernel import ptrace as kptrace

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs


def ptrace(t: "Task", a: "SyscallArgs") -> int:
    """ptrace(2)."""
    return kptrace.request(t, a.long(0), a.int(1), a[2], a[3])
