"""The sandbox tid of a host thread (``Kernel._sandbox_tid``): the nsfs ioctl and its
``/proc`` twin give the same pid, for a process and for a thread, in a pid namespace of
the test's own (``unshare -p -f``); the ioctl says ESRCH for a process outside it."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time

import pytest

from sentry.kernel.kernel import Kernel

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root and unshare(1) for a pid namespace")

# In the namespace: a shell (pid 1) whose child runs a thread beside its main one.
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
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_ioctl_and_proc_agree() -> None:
    outer = subprocess.Popen(["unshare", "-p", "-f", "--kill-child", "/usr/bin/python3", "-c",
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
        if not by_ioctl._pidns_ioctl:
            pytest.skip("a kernel before 6.11 (no NS_GET_PID_IN_PIDNS): only /proc's way")
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
