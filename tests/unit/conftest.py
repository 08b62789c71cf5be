"""Shared fixtures of the vfs, fsimpl and syscalls unit tests: a sandbox-like VFS over a
temporary host tree."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "vfs"))

from vfs_testlib import Env  # noqa: E402


@pytest.fixture
def lower(tmp_path):
    """A small host tree used as the root file system's lower layer."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_bytes(b"root:x:0:0::/root:/bin/sh\n")
    (root / "bin").mkdir()
    (root / "bin" / "true").write_bytes(b"\x7fELF fake")
    os.chmod(root / "bin" / "true", 0o755)
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "libc.so").write_bytes(b"libc" * 100)
    os.symlink("usr/lib", root / "lib")
    os.symlink("/usr/lib/libc.so", root / "abs_link")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "data").mkdir()
    (root / "data" / "a").write_bytes(b"A")
    (root / "data" / "b").write_bytes(b"B")
    (root / "data" / "sub").mkdir()
    (root / "data" / "sub" / "c").write_bytes(b"C")
    return str(root)


@pytest.fixture
def env(lower):
    """Overlay root over *lower*, /proc, /dev, /tmp2 tmpfs."""
    from sentry.config import MountSpec

    return Env(lower, [MountSpec("/proc", "proc"), MountSpec("/dev", "dev"),
                       MountSpec("/tmp2", "tmpfs")])
