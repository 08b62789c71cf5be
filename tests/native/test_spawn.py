"""rt_spawn_begin / rt_spawn_end: init's host process sets itself up (a CLONE_VM child in
the caller's memory until its exec) while the caller goes on running.

The child shares the caller's thread-local storage: a libc call of its that set errno
wrote the caller's, and one that read errno back could read the caller's instead (its
check of PR_CAPBSET_DROP's EINVAL then failed: "setup failed at step 125", 2 boots in 20
under load).  Here the caller makes failing system calls the whole time the child sets
itself up, many times over: every child must end at its exec event, and every error the
caller sees must be its own."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from sentry import boot
from sentry.kernel.kernel import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID
from sentry.kernel.kernel import CLONE_NEWUTS, WORKLOAD_HOST_ID_BASE
from sentry.platform.hybrid import native as N
from sentry.precompute import workload_filter

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="fresh namespaces need root")

NSFLAGS = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET
HOST_ID = WORKLOAD_HOST_ID_BASE + os.getpid()


@pytest.fixture
def stub():
    fd, _gadget = boot._stub_memfd()
    yield fd
    os.close(fd)


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, os.WNOHANG | 0x40000000)  # __WALL: a traced child
    while True:
        try:
            os.waitpid(pid, 0x40000000)
        except ChildProcessError:
            return


def test_the_caller_runs_while_init_sets_itself_up(stub) -> None:
    bpf = workload_filter()
    wrong: list[int | None] = []
    for _ in range(60):
        task = N.spawn_begin(stub, bpf, NSFLAGS, HOST_ID)
        try:
            for _ in range(300):  # ~1-2 ms of failing calls: the child's setup
                try:
                    os.stat("/nonexistent/runsc-py-test")
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        wrong.append(e.errno)
            listener = N.spawn_end(task)
        except BaseException:
            if task._stack is not None:
                N.spawn_abandon(task)
            raise
        os.close(listener)
        with open(f"/proc/{task.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines())
        _kill(task.pid)
        assert status["Uid"].split()[0] == str(HOST_ID)
        assert status["CapBnd"].strip() == "0000000000000000"
        assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    assert wrong == []


def test_an_abandoned_spawn_leaves_nothing(stub) -> None:
    task = N.spawn_begin(stub, workload_filter(), NSFLAGS, HOST_ID)
    N.spawn_abandon(task)
    with pytest.raises(ChildProcessError):
        os.waitpid(task.pid, os.WNOHANG | 0x40000000)
    with pytest.raises(ValueError):
        N.spawn_end(task)  # its stack is released once
