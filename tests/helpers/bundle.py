"""Busybox root filesystems, OCI bundles, and the chroot native reference.

The rootfs is built from Debian's ``busybox-static`` (``/bin/busybox``): ``bin/busybox`` plus one
relative symlink per applet in ``bin/``, ``/etc/passwd``, ``/etc/group``, and empty ``tmp``,
``proc``, ``dev``, ``sys``, ``root`` directories. A bundle is that rootfs copied to
``BUNDLE/rootfs`` plus the ``config.json`` written by ``runsc-py spec`` and edited here.

The native reference (:func:`run_chroot_native`) runs the same argv in a copy of the same rootfs
with ``chroot``, as pid 1 of a fresh pid namespace with that namespace's /proc mounted on the
rootfs' /proc, a UTS namespace carrying the config's hostname, /dev a tmpfs with the OCI default
character devices bind-mounted from the host, and exactly the config's environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .runner import UNSHARE, Result, run, runsc

BUSYBOX = Path("/bin/busybox")
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"

SETUP_HINT = (
    "busybox-static is not installed (/bin/busybox missing): run the repository's setup step "
    "(apt-get install busybox-static, see .ci/ or the README); tests never install packages"
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"

#: process.env of the bundles (and so of the native reference).
BUNDLE_ENV = ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "TERM=dumb", "LANG=C"]
HOSTNAME = "runsc-test"
DEV_NODES = ("null", "zero", "full", "random", "urandom")


def busybox_applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, timeout=30, check=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def build_busybox_rootfs(dest: Path) -> Path:
    """Create a busybox rootfs at *dest* (which must not exist); return *dest*."""
    if not BUSYBOX.is_file():
        raise FileNotFoundError(SETUP_HINT)
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "tmp",
        "proc",
        "dev",
        "sys",
        "root",
    ):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    for applet in busybox_applets():
        link = dest / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    (dest / "etc" / "hostname").write_text(HOSTNAME + "\n")
    return dest


def copy_rootfs(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def load_config(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((Path(bundle) / "config.json").read_text())


def edit_config(
    bundle: str | os.PathLike[str],
    *,
    args: Sequence[str] | None = None,
    env: Sequence[str] | None = None,
    hostname: str | None = None,
    cwd: str | None = None,
    mounts: list[dict[str, Any]] | None = None,
    readonly: bool | None = None,
) -> dict[str, Any]:
    """Change fields of BUNDLE/config.json in place; return the new config."""
    cfg = load_config(bundle)
    proc = cfg.setdefault("process", {})
    proc["terminal"] = False
    if args is not None:
        proc["args"] = list(args)
    if env is not None:
        proc["env"] = list(env)
    if cwd is not None:
        proc["cwd"] = cwd
    if hostname is not None:
        cfg["hostname"] = hostname
    if mounts is not None:
        cfg["mounts"] = mounts
    if readonly is not None:
        cfg.setdefault("root", {})["readonly"] = readonly
    (Path(bundle) / "config.json").write_text(json.dumps(cfg, indent=2))
    return cfg


def make_bundle(bundle: Path, rootfs_template: Path, *, args: Sequence[str] = ("sh",)) -> Path:
    """Copy the rootfs into BUNDLE/rootfs, run ``runsc-py spec`` and edit the config.

    :raises AssertionError: if ``runsc-py spec`` fails or writes an unexpected config.
    """
    bundle.mkdir(parents=True, exist_ok=True)
    copy_rootfs(rootfs_template, bundle / "rootfs")
    res = runsc(["spec", "--bundle", str(bundle)], timeout=30)
    assert res.rc == 0, f"runsc-py spec failed:\n{res.describe()}"
    cfg = load_config(bundle)
    assert cfg["process"]["args"] == ["sh"], cfg["process"]
    assert cfg["root"]["path"] == "rootfs", cfg["root"]
    edit_config(bundle, args=args, env=BUNDLE_ENV, hostname=HOSTNAME, cwd="/", readonly=False)
    return bundle


_WRAPPER = (
    r"""set -e
R=$1; H=$2; shift 2
mount -t tmpfs -o mode=755,size=1m tmpfs "$R/dev"
for d in DEVS; do : > "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
hostname "$H"
exec UNSHARE --pid --fork --mount-proc="$R/proc" CHROOT "$R" "$@"
""".replace("DEVS", " ".join(DEV_NODES))
    .replace("UNSHARE", UNSHARE)
    .replace("CHROOT", CHROOT)
)


def run_chroot_native(
    rootfs: Path,
    args: Sequence[str],
    *,
    env: Sequence[str] = BUNDLE_ENV,
    hostname: str = HOSTNAME,
    timeout: float | None = None,
    input: str | bytes | None = None,
) -> Result:
    """Run *args* natively in *rootfs* as the bundle would run them (see the module docstring).

    The mounts live in a private mount namespace and vanish with it; the rootfs' files are
    changed by the command, so pass a copy.
    """
    argv = [
        UNSHARE, "--mount", "--uts", "--propagation", "private",
        "/bin/sh", "-c", _WRAPPER, "wrapper", str(rootfs), hostname,
        "/bin/env", "-i", *env, *args,
    ]  # fmt: skip
    return run(argv, env={}, timeout=timeout, input=input)
