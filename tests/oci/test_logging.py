"""``--log`` / ``--log-format`` / ``--debug`` / ``--debug-log``: what containerd and podman
read back, and where tracebacks go."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from runsc_py.log import resolve_debug_log
from tests.oci.oci_helpers import REPO, FakeSandbox, minimal_config


def test_json_log_lines(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    tmp_path: Path,
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    log = tmp_path / "log.json"
    log.write_text('{"level":"info","msg":"earlier","time":"2024-01-01T00:00:00Z"}\n')
    cfg = minimal_config()
    cfg["process"]["cwd"] = "relative"
    result = cli(
        "--log",
        str(log),
        "--log-format",
        "json",
        "--debug",
        "run",
        "-b",
        str(make_bundle(cfg)),
        "c1",
    )
    assert result.exit_code == 1
    msg = 'config.json: process.cwd: must be an absolute path, not "relative"'
    assert result.stderr == f"runsc-py: {msg}\n"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0]["msg"] == "earlier"
    for rec in records:
        assert set(rec) == {"level", "msg", "time"}
        datetime.datetime.fromisoformat(rec["time"])
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)", rec["time"]
        ), rec["time"]
    assert records[-1]["level"] == "error"
    assert records[-1]["msg"] == msg
    assert list(root.iterdir()) == []
    assert fake_sandbox.calls == []


def test_text_log_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    result = cli("--log", str(log), "state", "nope")
    assert result.exit_code == 1
    (line,) = log.read_text().splitlines()
    assert re.fullmatch(
        r'time="[^"]+" level=error msg="container \\"nope\\" does not exist"', line
    )


def test_info_is_not_debug(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    tmp_path: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = minimal_config()
    cfg["mounts"] = [{"destination": "/sys/fs/cgroup", "type": "cgroup"}]
    log = tmp_path / "log.json"
    assert (
        cli(
            "--log",
            str(log),
            "--log-format",
            "json",
            "run",
            "-b",
            str(make_bundle(cfg)),
            "c1",
        ).exit_code
        == 0
    )
    assert not log.exists() or log.read_text() == ""
    assert (
        cli(
            "--log",
            str(log),
            "--log-format",
            "json",
            "--debug",
            "run",
            "-b",
            str(make_bundle(cfg)),
            "c2",
        ).exit_code
        == 0
    )
    debug = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r["level"] == "debug" and "cgroup" in r["msg"] for r in debug)


def test_debug_without_log_goes_to_stderr_once(cli: Callable[..., Result]) -> None:
    result = cli("--debug", "state", "nope")
    assert result.exit_code == 1
    assert result.stderr.count("does not exist") == 1


def test_unwritable_log(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("--log", str(tmp_path / "no" / "log"), "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("runsc-py: cannot open log file")


def test_debug_log_directory(cli: Callable[..., Result], tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    assert cli("--debug-log", str(directory) + "/", "state", "nope").exit_code == 1
    (path,) = directory.iterdir()
    assert path.name.startswith("runsc-py.log.") and path.name.endswith(".state")
    assert "does not exist" in path.read_text()


def test_resolve_debug_log_patterns(tmp_path: Path) -> None:
    path = resolve_debug_log(str(tmp_path) + "/x-%COMMAND%-%TIMESTAMP%.txt", "run", 0.0)
    assert re.fullmatch(
        re.escape(str(tmp_path)) + r"/x-run-\d{8}-\d{6}\.\d{6}\.txt", path
    )


def test_error_logged_when_stderr_is_read_only(tmp_path: Path) -> None:
    """containerd's shim gives a pod's sandbox container /dev/null opened read-only as fds
    0-2: the error must still reach --log, where containerd reads it."""
    log = tmp_path / "log.json"
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "runsc_py", "--root", str(tmp_path / "root"), "--log",
             str(log), "--log-format", "json", "create", "--bundle",
             str(tmp_path / "missing"), "c1"],
            stdin=null, stdout=null, stderr=null, cwd=str(REPO), timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        os.close(null)
    assert proc.returncode == 1
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["level"] == "error" and "is not a directory" in record["msg"], record
