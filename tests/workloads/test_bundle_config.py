"""Bundle mode honours config.json: process args/env/cwd/user, root readonly, hostname,
and mounts of type tmpfs, proc and bind (served by the gofer, ``ro`` honoured).

Each expectation is what runc gives for the same config (a container sees exactly
these values); the host side is checked directly.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.bundle import edit_config, load_config

SCRIPT = r"""
pwd; echo "FOO=$FOO"; hostname
cat /data/in
echo written > /data/out && echo data-rw-ok
echo nope > /ro/f 2>/dev/null || echo ro-refused
cat /ro/f
touch /scratch/z && ls /scratch
echo x > /rootfile 2>/dev/null && echo root-write-ok
ls /proc/1/cmdline >/dev/null && echo proc-ok
"""


def _bundle(busybox_bundle: Path, tmp_path: Path, *, readonly_root: bool,
            uid: int = 0, gid: int = 0, script: str = SCRIPT) -> tuple[Path, Path]:
    data = tmp_path / "data"
    ro = tmp_path / "ro"
    data.mkdir()
    ro.mkdir()
    (data / "in").write_text("from-host\n")
    (ro / "f").write_text("read-only-content\n")
    (busybox_bundle / "rootfs" / "data").mkdir(exist_ok=True)
    cfg = load_config(busybox_bundle)
    cfg["process"]["user"] = {"uid": uid, "gid": gid}
    (busybox_bundle / "config.json").write_text(json.dumps(cfg))
    edit_config(
        busybox_bundle,
        args=["sh", "-c", script],
        env=["PATH=/bin", "FOO=bar"],
        cwd="/tmp",
        hostname="cfg-host",
        readonly=readonly_root,
        mounts=[
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "rw"]},
            {"destination": "/ro", "type": "bind", "source": str(ro), "options": ["rbind", "ro"]},
        ],
    )
    return data, ro


def test_config_is_honoured(sandbox, busybox_bundle, tmp_path):
    data, ro = _bundle(busybox_bundle, tmp_path, readonly_root=False)
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == [
        "/tmp", "FOO=bar", "cfg-host",
        "from-host",
        "data-rw-ok",
        "ro-refused",
        "read-only-content",
        "z",
        "root-write-ok",
        "proc-ok",
    ], res.describe()
    # the rw bind mount reached the host, the ro one did not change
    assert (data / "out").read_text() == "written\n"
    assert (ro / "f").read_text() == "read-only-content\n"
    # the root overlay never writes the image
    assert not (busybox_bundle / "rootfs" / "rootfile").exists()


def test_readonly_root_refuses_writes(sandbox, busybox_bundle, tmp_path):
    _bundle(busybox_bundle, tmp_path, readonly_root=True)
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    assert "root-write-ok" not in res.stdout
    assert "data-rw-ok" in res.stdout


def test_process_user_is_the_identity(sandbox, busybox_bundle, tmp_path):
    """process.user sets the ids, and permissions follow them (as under runc)."""
    script = "id -u; id -g; echo x > /data/out || echo denied; echo ok > /dev/null && echo dev-ok"
    data, _ = _bundle(busybox_bundle, tmp_path, readonly_root=False, uid=1000, gid=1001,
                      script=script)
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.stdout.splitlines() == ["1000", "1001", "denied", "dev-ok"], res.describe()
    assert not (data / "out").exists()


def test_tmp_is_a_private_tmpfs_unless_the_image_has_files_there(sandbox, busybox_bundle, tmp_path):
    """gVisor's rule: no /tmp mount in config.json and an empty /tmp in the image → a tmpfs,
    so a read-only root still has a writable /tmp; files the image keeps in /tmp stay visible."""
    script = "echo hi > /tmp/x && cat /tmp/x; ls /tmp; grep ' /tmp ' /proc/mounts | cut -d' ' -f3"
    edit_config(busybox_bundle, args=["sh", "-c", script], readonly=True,
                mounts=[{"destination": "/proc", "type": "proc", "source": "proc"}])
    tmp = busybox_bundle / "rootfs" / "tmp"
    tmp.mkdir(exist_ok=True)
    for f in tmp.iterdir():
        f.unlink()
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == ["hi", "x", "tmpfs"], res.describe()
    assert not (tmp / "x").exists()

    (tmp / "kept").write_text("from the image\n")
    edit_config(busybox_bundle, args=["sh", "-c", "cat /tmp/kept; echo hi > /tmp/x || echo ro"])
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.stdout.splitlines()[0] == "from the image", res.describe()
    assert "ro" in res.stdout.splitlines()[1:], res.describe()
