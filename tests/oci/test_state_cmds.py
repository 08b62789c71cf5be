"""``state``, ``list`` and ``delete``: unknown ids, computed status, killing with --force."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from runsc_py.container import process
from runsc_py.container.state import StateStore
from tests.oci.oci_helpers import REPO, FakeSandbox, record_container as _record, run_subprocess


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "100"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize("verb", [["state"], ["delete"], ["delete", "-f"], ["list"]])
def test_unknown_ids(verb: list[str], cli: Callable[..., Result]) -> None:
    if verb == ["list"]:
        result = cli("list")
        assert result.exit_code == 0
        assert result.stdout.split() == [
            "ID",
            "PID",
            "STATUS",
            "BUNDLE",
            "CREATED",
            "OWNER",
        ]
        return
    result = cli(*verb, "nope")
    if verb == ["delete", "-f"]:
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    else:
        assert result.exit_code == 1
        assert result.stderr == 'runsc-py: container "nope" does not exist\n'


def test_invalid_id_is_an_error_even_with_force(cli: Callable[..., Result]) -> None:
    for verb in (["state"], ["delete", "--force"]):
        result = cli(*verb, "../x")
        assert result.exit_code == 1
        assert result.stderr.startswith("runsc-py: invalid container id")


def test_list_missing_root(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("list", "--format", "json", root_dir=tmp_path / "absent")
    assert (result.exit_code, result.stdout) == (0, "[]\n")
    assert not (tmp_path / "absent").exists()


def test_running_container_lifecycle(
    cli: Callable[..., Result], root: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _record(root, "c1", sleeper.pid, process.start_time(sleeper.pid))

    shown = json.loads(cli("state", "c1").stdout)
    assert shown == {
        "ociVersion": "1.1.0",
        "id": "c1",
        "pid": sleeper.pid,
        "status": "running",
        "bundle": "/bundle",
        "rootfs": "/bundle/rootfs",
        "created": "2024-01-02T03:04:05.000000+00:00",
        "owner": "root" if os.getuid() == 0 else shown["owner"],
        "annotations": {"k": "v"},
    }

    table = cli("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[:5] == [
        "c1",
        str(sleeper.pid),
        "running",
        "/bundle",
        "2024-01-02T03:04:05.000000+00:00",
    ]
    assert table[0].index("PID") == table[1].index(str(sleeper.pid))
    assert cli("list", "-q").stdout == "c1\n"
    listed = json.loads(cli("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == ["c1"] and listed[0]["status"] == "running"

    result = cli("delete", "c1")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "runsc-py: cannot delete container c1 that is not stopped: running\n"
    )
    assert sleeper.poll() is None
    assert (root / "c1").is_dir()

    result = cli("delete", "--force", "c1")
    assert (result.exit_code, result.stderr) == (0, "")
    assert sleeper.wait(timeout=5) == -9
    assert list(root.iterdir()) == []


def test_dead_process_reads_as_stopped(cli: Callable[..., Result], root: Path) -> None:
    proc = subprocess.Popen(["true"])
    start = process.start_time(proc.pid)
    proc.wait()
    _record(root, "c1", proc.pid, start)
    assert json.loads(cli("state", "c1").stdout)["status"] == "stopped"
    assert cli("delete", "c1").exit_code == 0
    assert list(root.iterdir()) == []


def test_recycled_pid_is_not_killed(
    cli: Callable[..., Result], root: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    start = process.start_time(sleeper.pid)
    assert start is not None
    # The same pid with another start time: the recorded process is gone and the pid reused.
    _record(root, "c1", sleeper.pid, start - 1)
    assert json.loads(cli("state", "c1").stdout)["status"] == "stopped"
    assert cli("delete", "--force", "c1").exit_code == 0
    assert sleeper.poll() is None
    assert list(root.iterdir()) == []


def test_created_container_is_killed_without_force(
    cli: Callable[..., Result], root: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _record(root, "c1", sleeper.pid, process.start_time(sleeper.pid), status="created")
    assert cli("delete", "c1").exit_code == 0
    assert sleeper.wait(timeout=5) == -9
    assert list(root.iterdir()) == []


def test_corrupt_state(cli: Callable[..., Result], root: Path) -> None:
    (root / "c1").mkdir()
    (root / "c1" / "lock").write_text("")
    (root / "c1" / "state.json").write_text("{not json")
    result = cli("state", "c1")
    assert result.exit_code == 1
    assert result.stderr.startswith("runsc-py: state of container c1 is corrupt")
    assert cli("list", "-q").stdout == ""
    result = cli("delete", "c1")
    assert result.exit_code == 1
    assert "delete --force removes it" in result.stderr
    assert cli("delete", "--force", "c1").exit_code == 0
    assert list(root.iterdir()) == []


def test_delete_force_removes_what_a_state_dir_holds_without_following_links(
    cli: Callable[..., Result], root: Path, tmp_path: Path
) -> None:
    """``delete --force`` empties a container's directory level by level through fds: a
    symlink in it (to a directory or a file outside) is removed, never followed, and
    whatever is nested below goes too."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    c = root / "c2"
    (c / "sub" / "deeper").mkdir(parents=True)
    (c / "lock").write_text("")
    (c / "state.json").write_text("{not json")
    (c / "sub" / "deeper" / "f").write_text("x")
    (c / "to-dir").symlink_to(outside)
    (c / "sub" / "to-file").symlink_to(outside / "keep")
    os.mkfifo(c / "sub" / "fifo")
    assert cli("delete", "--force", "c2").exit_code == 0
    assert list(root.iterdir()) == []
    assert (outside / "keep").read_text() == "k"


def test_state_removal_reports_what_stays() -> None:
    """What cannot be removed is reported with its path, and the rest is removed."""
    from runsc_py.container.state import _remove_tree

    assert _remove_tree("/nonexistent/runsc-py-state") == []
    errors = _remove_tree("/proc/self/fd")  # entries procfs refuses to unlink
    assert errors and all(e.startswith("/proc/self/fd") for e in errors)


def test_state_dir_without_state_is_not_a_container(
    cli: Callable[..., Result], root: Path
) -> None:
    (root / "half").mkdir()
    assert cli("state", "half").exit_code == 1
    assert cli("list", "-q").stdout == ""
    (root / "stray-file").write_text("x")
    assert cli("list", "-q").stdout == ""


def test_list_after_runs(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle()
    for cid in ("b", "a", "c"):
        assert cli("run", "--keep", "-b", str(bundle), cid).exit_code == 0
    assert cli("list", "-q").stdout == "a\nb\nc\n"
    listed = json.loads(cli("list", "-f", "json").stdout)
    assert [(c["id"], c["status"], c["pid"], c["bundle"]) for c in listed] == [
        (cid, "stopped", 0, str(bundle)) for cid in ("a", "b", "c")
    ]


def test_delete_waits_for_the_lock_and_sees_removal(root: Path) -> None:
    _record(root, "c1", 0, None, status="stopped")
    store = StateStore(str(root))
    with store.locked("c1") as locked:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runsc_py", "--root", str(root), "delete", "c1"],
            cwd=str(REPO),
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
        # Still blocked on the lock this test holds.
        assert proc.poll() is None
        locked.destroy()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err == 'runsc-py: container "c1" does not exist\n'


def test_racing_runs_of_one_id(root: Path, make_bundle: Callable[..., Path]) -> None:
    bundle = make_bundle()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda _: run_subprocess(
                    "--root", str(root), "run", "--keep", "-b", str(bundle), "c1",
                    fake_status=0,
                ),
                range(4),
            )
        )
    assert sorted(r.returncode for r in results) == [0, 1, 1, 1]
    for r in results:
        assert r.stderr in ("", "runsc-py: container with id exists: c1\n")
    assert [p.name for p in root.iterdir()] == ["c1"]
    assert run_subprocess("--root", str(root), "delete", "c1").returncode == 0
