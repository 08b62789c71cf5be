"""The real program in a child process: exit codes, stderr, and nothing left behind."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.oci.oci_helpers import run_subprocess


def test_version(cli: Callable[..., Result]) -> None:
    proc = run_subprocess("--version")
    assert proc.returncode == 0
    assert re.fullmatch(
        r"runc version 0\.1\.0 \(runsc-py\)\ncommit: ([0-9a-f]{40}|[0-9a-f]{64}|unknown)\nspec: 1\.1\.0\n",
        proc.stdout,
    ), proc.stdout
    assert cli("--version").stdout == proc.stdout


def test_unknown_container(root: Path) -> None:
    proc = run_subprocess("--root", str(root), "state", "ghost")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == 'runsc-py: container "ghost" does not exist\n'
    proc = run_subprocess("--root", str(root), "delete", "--force", "ghost")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_missing_rootfs(root: Path, make_bundle: Callable[..., Path]) -> None:
    bundle = make_bundle(rootfs=False)
    proc = run_subprocess(
        "--root", str(root), "run", "--bundle", str(bundle), "c1", fake_status=0
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        f'runsc-py: config.json: root.path: rootfs "{bundle / "rootfs"}" does not exist\n'
    )
    assert list(root.iterdir()) == []


def test_malformed_json_with_json_log(
    root: Path, make_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    bundle = make_bundle(raw=b'{"ociVersion": ')
    log = tmp_path / "log.json"
    proc = run_subprocess(
        "--root",
        str(root),
        "--log",
        str(log),
        "--log-format",
        "json",
        "run",
        "-b",
        str(bundle),
        "c1",
        cwd=bundle,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1
    assert "malformed JSON" in proc.stderr and "Traceback" not in proc.stderr
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["level"] == "error" and "malformed JSON" in record["msg"]
    assert list(root.iterdir()) == []


def test_run_exit_status(
    root: Path, make_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    bundle = make_bundle()
    pid_file = tmp_path / "pid"
    proc = run_subprocess(
        "--root",
        str(root),
        "run",
        "--keep",
        "-b",
        str(bundle),
        "--pid-file",
        str(pid_file),
        "c1",
        fake_status=3,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ""
    pid = int(pid_file.read_text())
    state = json.loads(run_subprocess("--root", str(root), "state", "c1").stdout)
    assert (state["status"], state["pid"]) == ("stopped", 0)
    recorded = json.loads((root / "c1" / "state.json").read_text())
    assert recorded["pid"] == pid
    assert recorded["runsc_py"]["exit_status"] == 3
    assert run_subprocess("--root", str(root), "delete", "c1").returncode == 0
    assert list(root.iterdir()) == []


def test_run_removes_the_container_unless_kept(
    root: Path, make_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    """As ``runc run``: once the workload exited, its status is run's and the container is
    gone (its id free again); ``--keep`` leaves it stopped for ``delete``."""
    bundle = make_bundle()
    pid_file = tmp_path / "pid"
    for _ in range(2):
        proc = run_subprocess(
            "--root", str(root), "run", "-b", str(bundle), "--pid-file", str(pid_file), "c1",
            fake_status=5,
        )
        assert (proc.returncode, proc.stderr) == (5, "")
        assert list(root.iterdir()) == []
        assert int(pid_file.read_text()) > 0
    proc = run_subprocess("--root", str(root), "state", "c1")
    assert (proc.returncode, proc.stderr) == (1, 'runsc-py: container "c1" does not exist\n')


def test_duplicate_id(root: Path, make_bundle: Callable[..., Path]) -> None:
    bundle = make_bundle()
    assert (
        run_subprocess(
            "--root", str(root), "run", "--keep", "-b", str(bundle), "c1", fake_status=0
        ).returncode
        == 0
    )
    proc = run_subprocess(
        "--root", str(root), "run", "-b", str(bundle), "c1", fake_status=0
    )
    assert proc.returncode == 1
    assert proc.stderr == "runsc-py: container with id exists: c1\n"
    # The first is intact, and its delete removes its cgroup too.
    assert run_subprocess("--root", str(root), "delete", "c1").returncode == 0


def test_spec_refuses_overwrite(tmp_path: Path) -> None:
    assert run_subprocess("spec", "--bundle", str(tmp_path)).returncode == 0
    json.loads((tmp_path / "config.json").read_text())
    proc = run_subprocess("spec", "--bundle", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.endswith("already exists; remove it first\n")
