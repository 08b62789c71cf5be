"""Faults and signals that end a sandbox, with the exit status a shell would see.

- A fault in the first process (pid 1) with no handler kills it (139 for SIGSEGV),
  as natively; traced, Linux would drop the signal and re-fault forever.
- In ``do`` mode a SIGTERM/SIGINT to runsc-py that the workload does not handle ends
  the sandbox (128+N), like interrupting a plain command; nothing is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from helpers.runner import BASE_ENV, runsc_argv

SEGV = r"""
#include <stdio.h>
int main(void) { printf("before\n"); fflush(stdout); *(volatile int *)0 = 1; return 0; }
"""


def test_segfault_of_init_is_fatal(sandbox, c_program, tmp_path: Path):
    src = tmp_path / "segv.c"
    src.write_text(SEGV)
    exe = c_program(src)
    res = sandbox.do([str(exe)], cwd=tmp_path, timeout=30)
    assert (res.rc, res.stdout) == (128 + signal.SIGSEGV, "before\n"), res.describe()


def test_sigterm_to_runsc_do_ends_an_unhandling_workload(runsc_root, tmp_path: Path):
    argv = runsc_argv() + ["--root", str(runsc_root), "do", "--", "/bin/sleep", "100"]
    p = subprocess.Popen(argv, env=BASE_ENV, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(1.0)
        assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(10) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
