"""The sandbox tid of a host thread (``Kernel._sandbox_tid``): the nsfs ioctl and its
``/proc`` twin give the same pid, for a process and for a thread, in a pid namespace of
the test's own (``unshare -p -f``); the ioctl says ESRCH for a process outside it."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time

import pytest

from sentry.kernel.kernel import Kernel

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root and unshare(1) for a pid namespace")

# The namespace's pid 1: a Python that starts a thread beside its main one.
_SCRIPT = """
import threading, time
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
time.sleep(30)
"""


def _kernel(pidns_fd: int, procfd: int, ioctl: bool) -> Kernel:
    k = Kernel.__new__(Kernel)
    k.ns_fds = [pidns_fd]
    k.procfd = procfd
    k._pidns_ioctl = ioctl
    return k


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _has_the_ioctl() -> bool:
    """Linux 6.11 or later (NS_GET_PID_IN_PIDNS)."""
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 11)


def test_ioctl_and_proc_agree() -> None:
    outer = subprocess.Popen(["unshare", "-p", "-f", "--kill-child", sys.executable, "-c",
                              _SCRIPT])
    procfd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    pidns = -1
    try:
        deadline = time.monotonic() + 10
        while True:
            kids = _children(outer.pid)
            tids = os.listdir(f"/proc/{kids[0]}/task") if kids else []
            if len(tids) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(tids) == 2, "the namespace's process did not start its thread"
        leader = kids[0]
        thread = next(int(t) for t in tids if int(t) != leader)
        pidns = os.open(f"/proc/{leader}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        by_ioctl = _kernel(pidns, procfd, True)
        by_proc = _kernel(pidns, procfd, False)
        assert by_ioctl._sandbox_tid(leader) == by_proc._sandbox_tid(leader) == 1
        tid = by_proc._sandbox_tid(thread)
        assert tid > 1
        assert by_ioctl._sandbox_tid(thread) == tid
        # On a kernel that has it, the ioctl answered (a wrong request number gets ENOTTY
        # and falls back to /proc, which would agree as well).
        assert by_ioctl._pidns_ioctl == _has_the_ioctl()
        if not _has_the_ioctl():
            return
        # The test process is not in that namespace: the ioctl has no pid for it (the
        # /proc twin would take the innermost NSpid, its own; every task of a sandbox is
        # in the sandbox's namespace).
        with pytest.raises(OSError) as e:
            by_ioctl._sandbox_tid(os.getpid())
        assert e.value.errno == errno.ESRCH
        assert by_ioctl._pidns_ioctl
    finally:
        outer.kill()
        outer.wait()
        os.close(procfd)
        if pidns >= 0:
            os.close(pidns)
