"""Tracers in the sandbox: stress-ng's vm-segv stressor and strace.

vm-segv forks children that ``PTRACE_TRACEME``, stop themselves with ``SIGSTOP``, and are
stepped from syscall stop to syscall stop by their parent until, having unmapped their whole
address space, they stop with ``SIGSEGV``; the parent then kills them.  While ptrace was
refused (EPERM) the child stopped itself anyway and its parent's plain ``waitpid`` waited
for ever.  strace uses the rest: ``PTRACE_SEIZE`` with options, syscall stops read with
``PTRACE_GET_SYSCALL_INFO``, fork, exec and exit events, ``PTRACE_INTERRUPT``.

Every run has a timeout; on expiry the runner kills the command's process group (the
sandbox's processes go with their sentry: ``PTRACE_O_EXITKILL``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_sandbox

STRESS_NG = shutil.which("stress-ng", path=BASE_ENV["PATH"])
STRACE = shutil.which("strace", path=BASE_ENV["PATH"])


@pytest.mark.skipif(STRESS_NG is None, reason="stress-ng is not installed")
def test_stress_ng_vm_segv(runsc_root: Path, tmp_path: Path) -> None:
    res = run_sandbox([STRESS_NG, "--vm-segv", "1", "-t", "3", "--metrics-brief"],
                      root=runsc_root, env=BASE_ENV, cwd=tmp_path, timeout=60)
    out = res.stdout + res.stderr
    assert res.rc == 0, res.describe()
    assert "successful run completed" in out, res.describe()
    assert "fail" not in out, res.describe()


@pytest.mark.skipif(STRACE is None, reason="strace is not installed")
def test_strace_in_the_sandbox(runsc_root: Path, tmp_path: Path) -> None:
    """strace -f of a shell pipeline: every call paired, children followed, no complaint
    from strace about the stops it was given."""
    script = "echo hi; ls / | head -1 > /dev/null; exit 3"
    # (strace -o would write into the sandbox's in-memory /tmp: its trace goes to stderr)
    res = run_sandbox([STRACE, "-f", "/bin/sh", "-c", script],
                      root=runsc_root, env=BASE_ENV, cwd=tmp_path, timeout=60)
    assert res.rc == 3, res.describe()
    assert res.stdout == "hi\n", res.describe()
    text = res.stderr
    complaints = [line for line in text.splitlines()
                  if line.startswith("strace:") and not line.endswith(" attached")]
    assert not complaints, text[-3000:]
    assert 'execve("/bin/sh", ["/bin/sh", "-c", ' in text
    assert 'write(1, "hi\\n", 3)' in text
    assert "+++ exited with 3 +++" in text
    pids = {line.split()[1].rstrip("]") for line in text.splitlines() if line.startswith("[pid")}
    assert len(pids) >= 2, text[-3000:]  # both sides of the pipe, besides the shell
    assert text.count("<unfinished ...>") == text.count("resumed>"), text[-3000:]
