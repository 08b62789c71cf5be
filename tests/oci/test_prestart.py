"""The sentry forked before the CLI's imports (runsc_py/launch.py, sentry.supervisor.prestart):
which command lines get one, and that one is never left behind or used where it must not be."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers import procs
from helpers.runner import BASE_ENV, runsc_argv
from runsc_py.launch import prestarts


@pytest.mark.parametrize("args, expected", [
    (["do", "--", "true"], True),
    (["do", "true"], True),
    (["--root", "/x", "--debug", "--log-format", "json", "do", "--cwd", "/", "--", "ls"], True),
    (["--root=/x", "do", "--env", "A=B", "true"], True),
    (["do", "--memory-limit", "64m", "--", "true"], False),
    (["do", "--memory-limit=64m", "true"], False),
    (["do", "--help"], False),
    (["do", "--", "--memory-limit"], True),  # the workload's argument
    (["run", "--bundle", "b", "id"], False),
    (["create", "id"], False),
    (["--root", "do", "state", "x"], False),  # "do" is --root's value
    ([], False),
    (["--debug"], False),
])
def test_which_commands_prestart(args: list[str], expected: bool):
    assert prestarts(args) is expected


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*runsc_argv(), "--root", str(tmp_path / "root"), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, env=BASE_ENV,
                          cwd=tmp_path, timeout=120, start_new_session=True)


@pytest.mark.parametrize("args", [
    ["do", "--bogus", "--", "true"],  # click refuses it
    ["do", "--", "/nonexistent/program"],  # the sentry refuses it
    ["do", "--uid", "-5", "--", "true"],
])
def test_a_failed_do_leaves_no_process(args: list[str], tmp_path: Path):
    """Invariant 8: whichever way a ``do`` that prestarted a sentry fails, no process is
    left (the prestarted sentry is killed and reaped before the CLI exits)."""
    procs.become_subreaper()
    before = procs.descendants(os.getpid())
    r = _run(args, tmp_path)
    assert r.returncode != 0, r
    procs.reap_zombie_children()
    assert procs.descendants(os.getpid()) - before == set()


def test_prestarted_sentry_is_confined_in_the_clis_namespaces(tmp_path: Path):
    """The prestarted sentry is the CLI's child, joined the network namespace ``do`` made,
    and confined itself (filter mode 2), as a sentry forked later would have."""
    script = "echo $$; read line"
    p = subprocess.Popen([*runsc_argv(), "--root", str(tmp_path / "root"), "do", "--",
                          "/bin/sh", "-c", script], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=BASE_ENV, cwd=tmp_path,
                         start_new_session=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"1"
        kids = procs.descendants(p.pid)
        sentries = [k for k in kids if procs.tracer_of(k) == 0 and not procs.is_gofer(k)
                    and Path(f"/proc/{k}/status").read_text().count("Seccomp:\t2")]
        assert len(sentries) == 1, [procs.cmdline(k) for k in kids]
        sentry = sentries[0]
        assert os.readlink(f"/proc/{sentry}/ns/net") == os.readlink(f"/proc/{p.pid}/ns/net")
        assert os.readlink(f"/proc/{p.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        assert int(Path(f"/proc/{sentry}/status").read_text().split("PPid:")[1].split()[0]) \
            == p.pid
    finally:
        p.communicate(b"\n", timeout=60)
    assert p.returncode == 0
