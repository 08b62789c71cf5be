"""^C on a terminal reaches the sandbox's foreground process group only (what the shell set
with TIOCSPGRP), natively and under ``runsc-py do``: an interactive shell's foreground job
is interrupted, its background job and the shell itself go on.

The workload's host processes are in a host process group of their own, so the host's line
discipline signals only the sentry, which passes the signal on (``Kernel._terminal_signal``).
"""

from __future__ import annotations

import os
import pty
import select
import time
from collections.abc import Sequence
from pathlib import Path

from helpers.runner import BASE_ENV, runsc_argv, runsc_global_flags


def _session(argv: Sequence[str]) -> tuple[int, str]:
    """Drive an interactive ``sh -i`` on a new pty: a background job, a foreground job
    interrupted with ^C, then a check that the background job lives."""
    env = {**BASE_ENV, "PS1": "$ "}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs at once
        os.execve(argv[0], list(argv), env)
    out = b""

    def read_until(pattern: bytes, timeout: float = 20.0) -> None:
        nonlocal out
        deadline = time.monotonic() + timeout
        while pattern not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        read_until(b"$ ")
        os.write(fd, b"sleep 300 & echo bg-started\n")
        read_until(b"bg-started\r\n")
        read_until(b"$ ")
        mark = len(out)
        os.write(fd, b"sleep 60; echo not-interrupted\n")
        time.sleep(1.0)
        os.write(fd, b"\x03")
        time.sleep(1.0)
        os.write(fd, b"kill -0 %1 && echo bg-alive; kill %1; exit 7\n")
        read_until(b"bg-alive", 10.0)
        read_until(b"\x00", 2.0)
    finally:
        status = _reap(pid)
        os.close(fd)
    return status, out[mark:].decode(errors="replace")


def _reap(pid: int, timeout: float = 15.0) -> int:
    """The session's exit status; killed (and -9) if it did not end by itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def test_ctrl_c_reaches_the_foreground_job_only(runsc_root: Path) -> None:
    rc, native = _session(["/bin/sh", "-i"])
    assert rc == 7 and "\nbg-alive\r" in native and "\nnot-interrupted" not in native, native
    argv = [*runsc_argv(), *runsc_global_flags(root=runsc_root), "do", "--", "/bin/sh", "-i"]
    rc, sandbox = _session(argv)
    # (The order of the terminal's echo and the shell's output is timing's, not compared.)
    assert rc == 7 and "\nbg-alive\r" in sandbox and "\nnot-interrupted" not in sandbox, sandbox


def _run_on_pty(argv: Sequence[str], timeout: float = 30.0) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs at once
        os.execve(argv[0], list(argv), BASE_ENV)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
    finally:
        _reap(pid)
        os.close(fd)
    return out.decode(errors="replace").replace("\r\n", "\n")


def test_console_has_a_name(runsc_root: Path) -> None:
    """ttyname(3) of the console works: /proc/self/fd/0 names /dev/console and that node
    is the same terminal (runc binds the pty at /dev/console)."""
    script = "tty; test -c /dev/console && echo char-device; echo written > /dev/console"
    argv = [*runsc_argv(), *runsc_global_flags(root=runsc_root), "do", "--", "/bin/sh", "-c",
            script]
    assert _run_on_pty(argv) == "/dev/console\nchar-device\nwritten\n"
