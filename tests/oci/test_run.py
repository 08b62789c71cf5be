"""``run``: state transitions, pid file, exit status, and cleanup when the start fails."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from runsc_py.errors import UserError
from sentry.config import BootConfig
from tests.oci.oci_helpers import FakeSandbox, minimal_config


def _state_file(root: Path, cid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / cid / "state.json").read_text())
    return data


def test_run_exit_status_state_and_pid_file(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle()
    pid_file = tmp_path / "init.pid"
    seen_at = tmp_path / "seen.json"

    def during(cfg: BootConfig) -> int:
        # In the sandbox process: run's child (it has a cgroup), as runc's init is.
        seen_at.write_text(json.dumps({
            "me": os.getpid(),
            "parent": os.getppid(),
            "pid_file": pid_file.read_text(),
            "state": _state_file(root, "c1"),
            "cli_state": json.loads(cli("state", "c1").stdout),
        }))
        return 3

    fake_sandbox.action = during
    result = cli("run", "--keep", "--bundle", str(bundle), "--pid-file", str(pid_file), "c1")
    assert result.exit_code == 3, result.output
    assert result.stderr == ""

    seen = json.loads(seen_at.read_text())
    sandbox = seen["me"]
    assert seen["parent"] == os.getpid() != sandbox
    assert seen["pid_file"] == str(sandbox)
    running = seen["state"]
    assert running["status"] == "running"
    assert running["pid"] == sandbox
    assert running["bundle"] == str(bundle)
    assert running["runsc_py"]["sandbox_pid"] == sandbox
    assert running["runsc_py"]["control_socket"] == str(root / "c1" / "control.sock")
    assert running["runsc_py"]["config_path"] == str(bundle / "config.json")
    assert seen["cli_state"]["status"] == "running"
    assert seen["cli_state"]["pid"] == sandbox

    stopped = _state_file(root, "c1")
    assert stopped["status"] == "stopped"
    assert stopped["runsc_py"]["exit_status"] == 3
    assert stopped["runsc_py"]["finished"]
    assert pid_file.read_text() == str(sandbox)
    with pytest.raises(ChildProcessError):  # reaped by run
        os.waitpid(sandbox, os.WNOHANG)

    shown = json.loads(cli("state", "c1").stdout)
    assert shown["status"] == "stopped"
    assert shown["pid"] == 0
    assert shown["id"] == "c1"
    assert shown["ociVersion"] == "1.1.0"
    assert shown["rootfs"] == str(bundle / "rootfs")

    assert cli("delete", "c1").exit_code == 0
    assert list(root.iterdir()) == []


def test_run_boot_config(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    fake_sandbox: FakeSandbox,
    tmp_path: Path,
) -> None:
    cfg = minimal_config()
    cfg["process"].update(
        args=["/bin/sh", "-c", "echo hi"], env=["A=1", "B=x=y"], cwd="/work"
    )
    cfg["process"]["user"] = {"uid": 1000, "gid": 100, "additionalGids": [5, 6]}
    cfg["annotations"] = {"io.kubernetes.cri.container-type": "sandbox"}
    cfg["mounts"] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["mode=755"],
        },
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["ro", "nosuid"],
        },
        {"destination": "/tmp/", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
    ]
    bundle = make_bundle(cfg)
    debug_log = tmp_path / "debug.log"
    result = cli(
        "--strace",
        "--debug",
        "--debug-log",
        str(debug_log),
        "--platform",
        "ptrace",
        "--python-only",
        "run",
        "-b",
        str(bundle),
        "box1",
    )
    assert result.exit_code == 0, result.output
    (boot,) = fake_sandbox.calls
    assert boot.argv == ["/bin/sh", "-c", "echo hi"]
    assert boot.env == ["A=1", "B=x=y"]
    assert boot.cwd == "/work"
    assert (boot.uid, boot.gid, boot.additional_gids) == (1000, 100, [5, 6])
    assert boot.hostname == "box"
    assert boot.root_path == str(bundle / "rootfs")
    assert boot.root_readonly is True
    assert boot.overlay is True
    assert boot.stdio == (0, 1, 2)
    assert boot.container_id == "box1"
    assert (boot.strace, boot.debug, boot.python_only, boot.platform) == (
        True,
        True,
        True,
        "ptrace",
    )
    assert boot.debug_log == str(debug_log)
    assert [(m.destination, m.type, m.readonly) for m in boot.mounts] == [
        ("/proc", "proc", False),
        ("/dev", "dev", False),
        ("/dev/pts", "devpts", False),
        ("/sys", "sysfs", True),
        ("/tmp", "tmpfs", False),
        ("/sys/fs/cgroup", "cgroup2", True),
        ("/dev/mqueue", "mqueue", False),
    ]
    assert boot.mounts[1].options == ["mode=755"]
    assert boot.mounts[3].options == ["nosuid"]
    assert "/sys/fs/cgroup of type cgroup" in debug_log.read_text()


def test_run_defaults_bundle_to_cwd(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    fake_sandbox: FakeSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = make_bundle()
    monkeypatch.chdir(bundle)
    result = cli("run", "c1")
    assert result.exit_code == 0, result.output
    assert fake_sandbox.calls[0].root_path == str(bundle / "rootfs")


def test_hostname_missing_uses_default(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = minimal_config()
    del cfg["hostname"]
    del cfg["process"]["user"]
    assert cli("run", "-b", str(make_bundle(cfg)), "c1").exit_code == 0
    boot = fake_sandbox.calls[0]
    assert boot.hostname == "runsc-py"
    assert (boot.uid, boot.gid) == (0, 0)


def test_duplicate_id(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle()
    assert cli("run", "--keep", "-b", str(bundle), "c1").exit_code == 0
    before = (root / "c1" / "state.json").read_text()
    result = cli("run", "-b", str(bundle), "c1")
    assert result.exit_code == 1
    assert result.stderr == "runsc-py: container with id exists: c1\n"
    assert (root / "c1" / "state.json").read_text() == before
    assert len(fake_sandbox.calls) == 1


def test_invalid_ids(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle()
    for bad in (
        "a/b",
        "..",
        ".",
        "",
        "x y",
        "caf\u00e9",
        "../../etc",
        "a" * 256,
        "a\nb",
    ):
        result = cli("run", "-b", str(bundle), bad)
        assert result.exit_code == 1, bad
        assert result.stderr.startswith("runsc-py: invalid container id"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    for good in ("a+b,c-d.e_F9", "x" * 255):
        assert cli("run", "--keep", "-b", str(bundle), good).exit_code == 0
    assert sorted(p.name for p in root.iterdir()) == sorted(["a+b,c-d.e_F9", "x" * 255])
    assert len(fake_sandbox.calls) == 2


def test_detach_refused(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    result = cli("run", "-d", "-b", str(make_bundle()), "c1")
    assert result.exit_code == 1
    assert "run --detach is not supported" in result.stderr
    assert list(root.iterdir()) == []
    assert fake_sandbox.calls == []


def test_sentry_refusal_leaves_nothing(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    def refuse(cfg: BootConfig) -> int:
        assert (root / "c1" / "state.json").exists()
        raise UserError("rootfs cannot be served")

    fake_sandbox.action = refuse
    pid_file = tmp_path / "pid"
    result = cli("run", "-b", str(make_bundle()), "--pid-file", str(pid_file), "c1")
    assert result.exit_code == 1
    assert result.stderr == "runsc-py: rootfs cannot be served\n"
    assert list(root.iterdir()) == []
    assert not pid_file.exists()


def test_sentry_boot_error_is_a_user_error(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class BootError(Exception):
        pass

    monkeypatch.setattr(
        sys.modules["sentry.boot"], "BootError", BootError, raising=False
    )

    def refuse(cfg: BootConfig) -> int:
        raise BootError("executable file not found in $PATH: 'nope'")

    fake_sandbox.action = refuse
    result = cli("run", "-b", str(make_bundle()), "c1")
    assert result.exit_code == 1
    assert result.stderr == ("runsc-py: executable file not found in $PATH: 'nope'\n")
    assert list(root.iterdir()) == []


def test_sentry_crash_is_internal_error(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    def crash(cfg: BootConfig) -> int:
        raise KeyError("boom")

    fake_sandbox.action = crash
    debug_log = tmp_path / "d.log"
    result = cli("--debug-log", str(debug_log), "run", "-b", str(make_bundle()), "c1")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines == ["runsc-py: internal error: KeyError: 'boom'"]
    assert list(root.iterdir()) == []
    text = debug_log.read_text()
    assert "Traceback (most recent call last)" in text
    assert "KeyError: 'boom'" in text

    result = cli("run", "-b", str(make_bundle()), "c1")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "runsc-py: internal error: KeyError: 'boom' (--debug-log FILE records the traceback)"
    ]


def test_bad_exit_status_from_sentry(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    fake_sandbox.status = 300
    result = cli("run", "-b", str(make_bundle()), "c1")
    assert result.exit_code == 2
    assert "not an exit status" in result.stderr
    assert list(root.iterdir()) == []


def test_pid_file_unwritable(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    result = cli(
        "run",
        "-b",
        str(make_bundle()),
        "--pid-file",
        str(tmp_path / "no" / "pid"),
        "c1",
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("runsc-py: cannot write pid file")
    assert list(root.iterdir()) == []
    assert fake_sandbox.calls == []


def test_root_created_when_missing(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    new_root = tmp_path / "a" / "b"
    result = cli("run", "--keep", "-b", str(make_bundle()), "c1", root_dir=new_root)
    assert result.exit_code == 0, result.output
    assert (new_root / "c1" / "state.json").exists()
    assert oct(new_root.stat().st_mode & 0o777) == "0o700"


def test_root_unusable(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("run", "-b", str(make_bundle()), "c1", root_dir=blocker / "root")
    assert result.exit_code == 1
    assert result.stderr.startswith("runsc-py: cannot create state root")
    assert fake_sandbox.calls == []


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_run_before_the_workload_starts_aborts_cleanly(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
    signo: int,
) -> None:
    """A terminating signal sent to the run process while its sandbox process (a child of
    it) is still starting is passed on to the child, whose start ends with 128+N; nothing
    is left: no state, no pid file, no child."""
    seen_at = tmp_path / "sandbox.pid"

    def starting(cfg: BootConfig) -> int:
        seen_at.write_text(str(os.getpid()))
        os.kill(os.getppid(), signo)  # the run process
        time.sleep(30)
        raise AssertionError("the signal did not interrupt the start")

    fake_sandbox.action = starting
    pid_file = tmp_path / "pid"
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    result = cli("run", "-b", str(make_bundle()), "--pid-file", str(pid_file), "c1")
    assert result.exit_code == 128 + signo, result.output
    assert list(root.iterdir()) == []
    assert not pid_file.exists()
    assert {s: signal.getsignal(s) for s in before} == before
    with pytest.raises(ChildProcessError):  # reaped by run
        os.waitpid(int(seen_at.read_text()), os.WNOHANG)
