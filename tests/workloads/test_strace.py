"""``--strace`` logs every workload syscall with decoded arguments and its result in the
debug log, like ``runsc --strace`` (calls the C fast path would answer included)."""

from __future__ import annotations

from pathlib import Path

from helpers.runner import BASE_ENV, runsc


def test_strace_logs_calls_with_arguments(runsc_root, tmp_path: Path):
    log = tmp_path / "debug.log"
    script = "echo hello > /dev/null; cat /etc/hostname >/dev/null; echo $$"
    res = runsc(["--strace", "do", "--", "/bin/sh", "-c", script],
                root=runsc_root, env=BASE_ENV, timeout=60, debug_log=str(log))
    assert res.rc == 0, res.describe()
    text = log.read_text()
    assert "openat(-100, '/etc/hostname'" in text
    assert "write(1, b'hello\\n', 6) = 6" in text
    assert "getpid() = 1" in text
    assert "execve(" in text
