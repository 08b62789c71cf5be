"""The test process as a sandbox task, for tests that call the C fast path directly.

Its own memory is the task's memory (process_vm_readv/writev on itself) and the C tables
map its pid to the task, with a fresh fd table mirrored into C.
"""

from __future__ import annotations

import os

from sentry.config import BootConfig
from sentry.kernel.kernel import Kernel
from sentry.kernel.task import Credentials, Task, ThreadGroup
from sentry.platform.hybrid import native as N
from sentry.platform.hybrid.fastfd import FastFDTable
from sentry.platform.hybrid.memory import HostMemory
from sentry.syscalls.linux.args import SyscallArgs


def self_task() -> Task:
    """A task (tid 9 of thread group 7, parent 3) that is this process; undo with
    :func:`drop`."""
    kernel = Kernel(BootConfig(argv=["x"], env=[]))
    table = FastFDTable(kernel)
    tg = ThreadGroup(kernel, 7, os.getpid())
    t = Task(kernel, tg, 9, os.getpid(), Credentials(), table, None, HostMemory(os.getpid()))
    tg.parent = ThreadGroup(kernel, 3, 0)
    N.task_set(os.getpid(), t.tid, t.tgid, t.ppid, table.fast_id)
    return t


def drop(t: Task) -> None:
    """Release the task's fds and take it out of the C tables."""
    t.fdtable.release_all()
    N.task_del(os.getpid())


def py_call(t: Task, handler, nr: int, *args: int) -> int:
    """The Python handler *handler* of syscall *nr* for *t*: its result, ``-errno`` for a
    Linux error (what C's twin answers)."""
    try:
        return handler(t, SyscallArgs(nr, tuple(list(args) + [0] * (6 - len(args)))))
    except Exception as e:  # LinuxError
        return -e.errno  # type: ignore[attr-defined]
