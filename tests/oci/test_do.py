"""``do``: the host's root as an in-memory overlay, the caller's environment and identity."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from sentry.config import BootConfig
from tests.oci.oci_helpers import FakeSandbox


def test_do_defaults(
    cli: Callable[..., Result],
    root: Path,
    fake_sandbox: FakeSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNSC_PY_TEST_VAR", "v1")
    during = {}

    def sandbox(cfg: BootConfig) -> int:
        during["entries"] = [p.name for p in root.iterdir()]
        return 7

    fake_sandbox.action = sandbox
    result = cli("do", "--", "ls", "-l", "/")
    assert result.exit_code == 7, result.output
    (boot,) = fake_sandbox.calls
    assert boot.argv == ["ls", "-l", "/"]
    assert boot.cwd == str(tmp_path)
    assert "RUNSC_PY_TEST_VAR=v1" in boot.env
    assert len(boot.env) == len(os.environ)
    assert (boot.uid, boot.gid) == (os.getuid(), os.getgid())
    assert boot.hostname == socket.gethostname()
    assert boot.root_path == "/"
    assert boot.overlay is True and boot.root_readonly is False
    assert boot.stdio == (0, 1, 2)
    assert [(m.destination, m.type) for m in boot.mounts] == [
        ("/proc", "proc"),
        ("/dev", "dev"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup", "cgroup2"),
    ]
    # While it runs, the sandbox is a container like any other; afterwards it is gone.
    assert during["entries"] == [boot.container_id]
    assert boot.container_id.startswith("do-")
    assert list(root.iterdir()) == []


def test_do_flags(cli: Callable[..., Result], fake_sandbox: FakeSandbox) -> None:
    result = cli(
        "--strace",
        "do",
        "--cwd",
        "/usr",
        "--clear-env",
        "--env",
        "A=1",
        "--env",
        "B=2=3",
        "--env",
        "A=4",
        "--uid",
        "1000",
        "--gid",
        "100",
        "--hostname",
        "h",
        "true",
    )
    assert result.exit_code == 0, result.output
    (boot,) = fake_sandbox.calls
    assert boot.argv == ["true"]
    assert boot.env == ["A=4", "B=2=3"]
    assert boot.cwd == "/usr"
    assert (boot.uid, boot.gid, boot.hostname, boot.strace) == (1000, 100, "h", True)


def test_do_without_double_dash_keeps_options_for_the_command(
    cli: Callable[..., Result], fake_sandbox: FakeSandbox
) -> None:
    assert cli("do", "ls", "-l", "--env", "x").exit_code == 0
    assert fake_sandbox.calls[0].argv == ["ls", "-l", "--env", "x"]


def test_do_relative_cwd(
    cli: Callable[..., Result],
    fake_sandbox: FakeSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("do", "--cwd", "sub", "true").exit_code == 0
    assert fake_sandbox.calls[0].cwd == str(tmp_path / "sub")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--env", "NOVALUE", "true"], "--env[0]: must be KEY=value"),
        (["--env", "=x", "true"], "--env[0]: must be KEY=value"),
        (["--hostname", "h" * 65, "true"], "--hostname: longer than 64 bytes"),
    ],
)
def test_do_errors(
    args: list[str],
    expected: str,
    cli: Callable[..., Result],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    result = cli("do", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"runsc-py: {expected}")
    assert len(result.stderr.splitlines()) == 1
    assert fake_sandbox.calls == []
    assert list(root.iterdir()) == []


def test_do_usage_errors(cli: Callable[..., Result], fake_sandbox: FakeSandbox) -> None:
    assert cli("do").exit_code == 2
    assert cli("do", "--uid", "-1", "true").exit_code == 2
    assert fake_sandbox.calls == []


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_signal_before_the_workload_starts_aborts_cleanly(
    cli: Callable[..., Result], root: Path, fake_sandbox: FakeSandbox, signo: int,
) -> None:
    """A terminating signal that arrives while the sandbox is still starting (the sentry
    has not taken the signals over yet) ends the start with 128+N and leaves no state,
    instead of killing the process with the state directory in place."""
    def starting(cfg: BootConfig) -> int:
        assert [p.name for p in root.iterdir()] == [cfg.container_id]
        os.kill(os.getpid(), signo)
        raise AssertionError("the signal did not interrupt the start")

    fake_sandbox.action = starting
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    result = cli("do", "--", "true")
    assert result.exit_code == 128 + signo, result.output
    assert list(root.iterdir()) == []
    assert {s: signal.getsignal(s) for s in before} == before
