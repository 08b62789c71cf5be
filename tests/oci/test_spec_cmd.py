"""``spec``: the default config.json is valid for ``run`` and is never overwritten."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.oci.oci_helpers import FakeSandbox


def test_spec_writes_default(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("spec", "--bundle", str(tmp_path))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["ociVersion"] == "1.1.0"
    proc = cfg["process"]
    assert proc["args"] == ["sh"]
    assert proc["terminal"] is False
    assert proc["cwd"] == "/"
    assert proc["user"] == {"uid": 0, "gid": 0}
    assert [e.split("=")[0] for e in proc["env"]] == ["PATH", "TERM"]
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert cfg["hostname"] == "runsc-py"
    assert {m["destination"]: m["type"] for m in cfg["mounts"]} == {
        "/proc": "proc",
        "/dev": "tmpfs",
        "/dev/pts": "devpts",
        "/dev/shm": "tmpfs",
        "/dev/mqueue": "mqueue",
        "/sys": "sysfs",
        "/sys/fs/cgroup": "cgroup",
    }
    assert {ns["type"] for ns in cfg["linux"]["namespaces"]} >= {
        "pid",
        "mount",
        "uts",
        "ipc",
    }


def test_spec_defaults_to_cwd(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("spec").exit_code == 0
    assert (tmp_path / "config.json").is_file()


def test_spec_refuses_overwrite(cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("mine")
    result = cli("spec", "-b", str(tmp_path))
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"runsc-py: {tmp_path / 'config.json'} already exists; remove it first\n"
    )
    assert (tmp_path / "config.json").read_text() == "mine"


def test_spec_refuses_dangling_symlink(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    os.symlink(tmp_path / "elsewhere", tmp_path / "config.json")
    result = cli("spec", "-b", str(tmp_path))
    assert result.exit_code == 1
    assert not (tmp_path / "elsewhere").exists()


def test_spec_missing_bundle(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("spec", "-b", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "is not a directory" in result.stderr


def test_default_spec_runs(
    cli: Callable[..., Result], tmp_path: Path, fake_sandbox: FakeSandbox
) -> None:
    assert cli("spec", "-b", str(tmp_path)).exit_code == 0
    (tmp_path / "rootfs").mkdir()
    result = cli("run", "-b", str(tmp_path), "c1")
    assert result.exit_code == 0, result.output
    boot = fake_sandbox.calls[0]
    assert boot.argv == ["sh"]
    assert boot.root_readonly is True and boot.overlay is True
    assert boot.hostname == "runsc-py"
    # The image has no /tmp and config.json mounts none there: a private tmpfs, first.
    assert [(m.destination, m.type, m.readonly) for m in boot.mounts] == [
        ("/tmp", "tmpfs", False),
        ("/proc", "proc", False),
        ("/dev", "dev", False),
        ("/dev/pts", "devpts", False),
        ("/dev/shm", "tmpfs", False),
        ("/dev/mqueue", "mqueue", False),
        ("/sys", "sysfs", True),
        ("/sys/fs/cgroup", "cgroup2", True),
    ]
