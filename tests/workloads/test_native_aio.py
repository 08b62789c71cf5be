"""Linux native AIO under real programs: stress-ng's ``aiol`` stressor (io_setup, io_submit
of reads, writes, vectored I/O, polls, fsync, io_getevents/io_pgetevents, io_cancel) and its
``aio`` stressor (POSIX AIO: glibc's threads) pass in the sandbox, and the sandbox's own
``fs.aio-nr`` follows its contexts (io_setup adds nr_events; io_destroy, the process's exit
and an exec give them back; a forked child's contexts are its own)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_sandbox

STRESS_NG = shutil.which("stress-ng", path=BASE_ENV["PATH"])


@pytest.mark.skipif(STRESS_NG is None, reason="stress-ng is not installed")
@pytest.mark.parametrize("stressor", ["aiol", "aio"])
def test_stress_ng_aio(runsc_root: Path, tmp_path: Path, stressor: str) -> None:
    assert STRESS_NG is not None
    argv = [STRESS_NG, f"--{stressor}", "1", "-t", "3", "--temp-path", str(tmp_path)]
    res = run_sandbox(argv, root=runsc_root, env=BASE_ENV, cwd=tmp_path, timeout=120)
    assert res.rc == 0, res.describe()
    assert "successful run completed" in res.stdout + res.stderr, res.describe()
    assert "fail" not in res.stdout + res.stderr, res.describe()


AIO_NR = textwrap.dedent('''
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    SETUP, DESTROY = 206, 207

    def nr():
        with open("/proc/sys/fs/aio-nr") as f:
            return int(f.read())

    def setup(n):
        ctx = ctypes.c_ulong(0)
        assert libc.syscall(SETUP, n, ctypes.byref(ctx)) == 0, ctypes.get_errno()
        return ctx.value

    with open("/proc/sys/fs/aio-max-nr") as f:
        print("max", f.read().strip())
    print("start", nr())
    ctx = setup(32)
    print("after setup 32", nr())
    pid = os.fork()
    if pid == 0:
        setup(5)
        print("child after setup 5", nr(), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    print("child exited", nr())
    pid = os.fork()
    if pid == 0:
        setup(7)
        print("child before exec", nr(), flush=True)
        os.execv("/bin/sh", ["sh", "-c", "echo after exec $(cat /proc/sys/fs/aio-nr)"])
    os.waitpid(pid, 0)
    assert libc.syscall(DESTROY, ctypes.c_ulong(ctx)) == 0
    print("after destroy", nr())
''')


def test_aio_nr(runsc_root: Path, tmp_path: Path) -> None:
    script = tmp_path / "aio_nr.py"
    script.write_text(AIO_NR)
    res = run_sandbox(["/usr/bin/python3", "-I", "-u", str(script)], root=runsc_root, env=BASE_ENV,
                      cwd=tmp_path, timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == [
        "max 65536", "start 0", "after setup 32 32", "child after setup 5 37", "child exited 32",
        "child before exec 39", "after exec 32", "after destroy 0",
    ], res.describe()
