"""The gofer file system against the real gofer process (skipped if it cannot start)."""

import os

import pytest

from sentry.config import MountSpec
from sentry.vfs import abi
from vfs_testlib import FakeKernel, make_task


@pytest.fixture
def real(lower, tmp_path):
    from gofer.client import GoferClient
    from gofer.server import spawn
    from sentry.config import BootConfig
    from sentry.vfs.mount_tree import build_mount_tree

    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "f").write_bytes(b"bound")
    cfg = BootConfig(argv=["/x"], env=[], root_path=lower,
                     mounts=[MountSpec("/mnt/rw", "bind", str(bind)), MountSpec("/dev", "dev")])
    pid, sock = spawn([(lower, True), (str(bind), False)])
    client = GoferClient(sock)
    client.version()
    k = FakeKernel()
    vfs = build_mount_tree(cfg, client, k)
    k.vfs = vfs
    yield vfs, make_task(k, vfs), str(bind)
    sock.close()
    os.waitpid(pid, 0)


def test_real_gofer_roundtrip(real, lower):
    vfs, t, bind = real
    d = vfs.open_at(t, abi.AT_FDCWD, b"/usr/lib/libc.so", abi.O_RDONLY, 0)
    assert d.host_fd is not None and d.read(t, 8) == b"libclibc"
    assert d.stat(t).ino == os.stat(os.path.join(lower, "usr/lib/libc.so")).st_ino
    w = vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/new", abi.O_WRONLY | abi.O_CREAT, 0o644)
    w.write(t, b"hello")
    w.decref()
    with open(os.path.join(bind, "new"), "rb") as f:
        assert f.read() == b"hello"
    vfs.mkdir_at(t, abi.AT_FDCWD, b"/etc/newdir", 0o755)
    assert not os.path.exists(os.path.join(lower, "etc/newdir"))
    dd = vfs.open_at(t, abi.AT_FDCWD, b"/etc", abi.O_RDONLY | abi.O_DIRECTORY, 0)
    assert {n for _, _, n in dd.getdents(t)} >= {b"passwd", b"newdir"}
