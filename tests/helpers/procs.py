"""Process-tree inspection for leak and kill tests.

The test process makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so anything the
runtime starts stays its descendant even after its parent dies or daemonises; then "no process
left" is "no live descendant of the test process".
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (the state first), or None if
    it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rindex(")") + 2 :].split()


def _stat(pid: int) -> tuple[int, str] | None:
    """(ppid, state) of *pid*, or None if it is gone."""
    rest = _stat_fields(pid)
    return None if rest is None else (int(rest[1]), rest[0])


def cpu_time(pid: int) -> tuple[str, int]:
    """(state, utime + stime in clock ticks) of *pid*; ("X", -1) if it is gone."""
    rest = _stat_fields(pid)
    return ("X", -1) if rest is None else (rest[0], int(rest[11]) + int(rest[12]))


def all_processes() -> dict[int, tuple[int, str]]:
    """pid → (ppid, state) for every process on the host."""
    procs: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                procs[int(entry)] = st
    return procs


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "<gone>"


def is_gofer(pid: int) -> bool:
    """A gofer: forked by a sentry (its name says so) or ``python3 -m gofer``."""
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() == "runsc-py-gofer":
            return True
    except OSError:
        return False
    return " -m gofer" in cmdline(pid)


def tracer_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root: int, *, live_only: bool = True) -> set[int]:
    """Pids below *root* (not *root* itself); zombies excluded when *live_only*."""
    procs = all_processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    if live_only:
        out = {p for p in out if procs[p][1] not in ("Z", "X")}
    return out


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def reap_orphans() -> None:
    """Collect zombies reparented to this (subreaper) process. Call only when no Popen is live."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reap_zombie_children(keep: Iterable[int] = ()) -> None:
    """Reap this process's zombie children except *keep* (pids a live Popen owns).

    A test process is a child subreaper: what it adopts (containerd's shims, workload
    processes whose sandbox died) becomes a zombie here, and a pid-namespace init cannot
    finish exiting until every other process of its namespace is reaped. containerd's
    shim and conmon reap whatever they adopt; so do the tests.
    """
    keep = set(keep)
    me = os.getpid()
    for pid, (ppid, state) in all_processes().items():
        if ppid == me and state == "Z" and pid not in keep:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_all(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait until none of *pids* is alive; return those still alive after *timeout*."""
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left


def describe(pids: set[int]) -> str:
    return "\n".join(f"  {p}: {cmdline(p)}" for p in sorted(pids))


def stop_cli(cli: subprocess.Popen[bytes]) -> None:
    """End a runsc-py CLI the way a caller would (SIGTERM: it cleans up), killing its
    process group if it does not go; then close its pipes."""
    if cli.poll() is None:
        cli.send_signal(signal.SIGTERM)
        try:
            cli.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait(timeout=10)
    for f in (cli.stdin, cli.stdout, cli.stderr):
        if f is not None:
            f.close()
