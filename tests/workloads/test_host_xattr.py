"""Extended attributes of host files in a container, and stress-ng's xattr stressor.

A bundle binds one host directory read-write and one read-only; their files and a file of
the image carry user.*, trusted.* and security.* attributes set on the host.  The sandbox
sees and changes the bind mounts' user.* attributes on the host (through the gofer), never
their trusted.* or security.* ones, gets EROFS on the read-only one, and keeps its changes
to an image file in memory, the file's own attributes copied up with it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.bundle import edit_config
from helpers.runner import BASE_ENV, run_bundle, run_sandbox

PROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

static void list(const char *p)
{
    char b[1024];
    long n = listxattr(p, b, sizeof b);
    printf("list %s:", p);
    for (long off = 0; n > 0 && off < n; off += strlen(b + off) + 1)
        printf(" %s", b + off);
    printf("\n");
}

static void get(const char *p, const char *name)
{
    char v[256];
    long n = getxattr(p, name, v, sizeof v - 1);
    if (n < 0)
        printf("get %s %s: %s\n", p, name, strerrorname_np(errno));
    else
        printf("get %s %s: %.*s\n", p, name, (int)n, v);
}

static void set(const char *p, const char *name, const char *v)
{
    int r = setxattr(p, name, v, strlen(v), 0);
    printf("set %s %s: %s\n", p, name, r < 0 ? strerrorname_np(errno) : "ok");
}

static void rm(const char *p, const char *name)
{
    int r = removexattr(p, name);
    printf("remove %s %s: %s\n", p, name, r < 0 ? strerrorname_np(errno) : "ok");
}

int main(void)
{
    list("/rw/f");
    get("/rw/f", "user.host");
    get("/rw/f", "trusted.host");
    get("/rw/f", "security.host");
    set("/rw/f", "user.new", "from the sandbox");
    rm("/rw/f", "user.host");
    set("/rw/f", "trusted.new", "x");
    set("/rw/f", "security.new", "x");
    rm("/rw/f", "trusted.host");
    list("/rw/f");
    list("/ro/f");
    set("/ro/f", "user.new", "x");
    rm("/ro/f", "user.ro");
    list("/image");
    set("/image", "user.new", "in memory");
    set("/image", "trusted.new", "in memory too");
    list("/image");
    get("/image", "user.image");
    return 0;
}
"""

EXPECTED = """\
list /rw/f: user.host
get /rw/f user.host: from the host
get /rw/f trusted.host: ENODATA
get /rw/f security.host: ENODATA
set /rw/f user.new: ok
remove /rw/f user.host: ok
set /rw/f trusted.new: EOPNOTSUPP
set /rw/f security.new: EOPNOTSUPP
remove /rw/f trusted.host: EOPNOTSUPP
list /rw/f: user.new
list /ro/f: user.ro
set /ro/f user.new: EROFS
remove /ro/f user.ro: EROFS
list /image: user.image
set /image user.new: ok
set /image trusted.new: ok
list /image: user.new user.image trusted.new
get /image user.image: kept
"""


def test_host_files_attributes_through_the_gofer(sandbox, runsc_root: Path, busybox_bundle: Path,
                                                 c_program, tmp_path: Path) -> None:
    if sandbox.native_only:
        return
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rootfs = busybox_bundle / "rootfs"
    for d in (rw, ro, rootfs / "rw", rootfs / "ro"):
        d.mkdir()
    for f in (rw / "f", ro / "f", rootfs / "image"):
        f.write_bytes(b"data\n")
    os.setxattr(rw / "f", "user.host", b"from the host")
    os.setxattr(rw / "f", "trusted.host", b"host only")
    os.setxattr(rw / "f", "security.host", b"host label")
    os.setxattr(ro / "f", "user.ro", b"1")
    os.setxattr(rootfs / "image", "user.image", b"kept")
    src = tmp_path / "probe.c"
    src.write_text(PROBE_C)
    shutil.copy(c_program(src, static=True), rootfs / "probe")
    cfg = edit_config(busybox_bundle, args=["/probe"], mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/rw", "type": "bind", "source": str(rw), "options": ["rbind", "rw"]},
        {"destination": "/ro", "type": "bind", "source": str(ro), "options": ["rbind", "ro"]},
    ])
    # CAP_SYS_ADMIN (not in the default set) may change trusted.* and security.*: what
    # stops it on a host file is the sandbox, not a missing capability.
    for kind, caps in cfg["process"]["capabilities"].items():
        if kind != "ambient":
            caps.append("CAP_SYS_ADMIN")
    (busybox_bundle / "config.json").write_text(json.dumps(cfg))
    res = run_bundle(busybox_bundle, root=runsc_root, timeout=60, container_id="xattr1")
    assert res.rc == 0, res.describe()
    assert res.stdout == EXPECTED, res.describe()
    # On the host: the sandbox's user.* change, nothing else.
    assert os.getxattr(rw / "f", "user.new") == b"from the sandbox"
    assert sorted(os.listxattr(rw / "f")) == ["security.host", "trusted.host", "user.new"]
    assert os.listxattr(ro / "f") == ["user.ro"]
    assert os.listxattr(rootfs / "image") == ["user.image"]


@pytest.mark.skipif(shutil.which("stress-ng", path=BASE_ENV["PATH"]) is None,
                    reason="stress-ng is not installed")
def test_stress_ng_xattr_stressor(runsc_root: Path, tmp_path: Path) -> None:
    """stress-ng's xattr stressor (every call, flag and error it checks) passes sandboxed,
    in a directory of the host's disk (the overlay's upper layer in the sandbox)."""
    res = run_sandbox(["stress-ng", "--xattr", "1", "-t", "3"], root=runsc_root, env=BASE_ENV,
                      cwd=tmp_path, timeout=120)
    assert res.rc == 0, res.describe()
    assert "successful run completed" in res.stdout + res.stderr, res.describe()
    assert "fail" not in res.stdout + res.stderr, res.describe()
