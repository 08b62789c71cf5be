"""Invariant 5 (design §7): host kernel state is never served.

A root whose mount tree contains the host's /proc or /sys (the host's `/` in
`do` mode) must not let the sandbox read host processes through the gofer.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from gofer.client import GoferClient


@pytest.mark.parametrize("name", [b"proc", b"sys"])
def test_kernel_fs_under_a_root_is_refused(start_gofer: Callable, name: bytes) -> None:
    g = start_gofer(("/", True))
    c: GoferClient = g.client
    root, _ = c.attach(0)
    with pytest.raises(OSError) as e:
        c.walk(root, [name])
    assert e.value.errno == errno.EACCES
    with pytest.raises(OSError) as e:
        c.walk(root, [name, b"self"])
    assert e.value.errno == errno.EACCES
    # A listing walked to by names (one openat2 when it can, which crosses no mount):
    # the kernel file system is refused as the walk refuses it, at any depth.
    for names in ([name], [name, b"self"], [name, b"self", b"fd"]):
        with pytest.raises(OSError) as e:
            c.readdirstat(root, names)
        assert e.value.errno == errno.EACCES, names


def test_a_walk_refused_at_a_later_name_fails_whole(tmp_path: Path,
                                                   start_gofer: Callable) -> None:
    """A kernel file system mounted below a directory: a walk through the directory to
    it fails with EACCES as a walk to it alone does (the sentry walks from a handle above
    a directory and the name in one request: a refused name must not read as a missing
    one, which a walk that stops short says), while a missing later name ends the walk
    with the entries before it."""
    from gofer_testlib import in_mount_namespace

    root = tmp_path / "root"
    (root / "sub" / "p").mkdir(parents=True)

    def check() -> int:
        g = start_gofer((root, True))
        try:
            c: GoferClient = g.client
            h, _ = c.attach(0)
            try:
                c.walk(h, [b"sub", b"p"])
                return 2
            except OSError as e:
                if e.errno != errno.EACCES:
                    return 3
            return 0 if len(c.walk(h, [b"sub", b"missing"])) == 1 else 4
        finally:
            g.stop()

    assert in_mount_namespace([["-t", "proc", "proc", str(root / "sub" / "p")]], check) == 0


def test_ordinary_mount_crossing_still_works(start_gofer: Callable) -> None:
    # /usr and /etc are plain directories (or plain file systems): walks go on.
    g = start_gofer(("/", True))
    c: GoferClient = g.client
    root, _ = c.attach(0)
    got = c.walk(root, [b"usr", b"bin"])
    assert len(got) == 2



def test_listing_across_a_mount_point(start_gofer: Callable, tmp_path: Path) -> None:
    """A listing walked to by names through a mount point (which the one-openat2 path
    does not cross: RESOLVE_NO_XDEV) lists the mounted file system, as the walk does."""
    below = tmp_path / "top" / "mnt"
    below.mkdir(parents=True)
    (below / "hidden").write_bytes(b"")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "listing-test", str(below)], check=True)
    try:
        (below / "sub").mkdir()
        (below / "sub" / "f").write_bytes(b"x")
        g = start_gofer((tmp_path, True))
        c: GoferClient = g.client
        root, _ = c.attach(0)
        assert {n for n, _ in c.readdirstat(root, [b"top", b"mnt"])} == {b"sub"}
        got = dict(c.readdirstat(root, [b"top", b"mnt", b"sub"]))
        assert list(got) == [b"f"]
        assert got[b"f"].ino == os.stat(below / "sub" / "f").st_ino  # type: ignore[union-attr]
        g.stop()
    finally:
        subprocess.run(["umount", "-l", str(below)], check=False)


def test_kernel_fs_as_a_root_is_refused() -> None:
    from gofer.server import spawn

    pid, sock = spawn([("/proc", True)])
    try:
        c = GoferClient(sock)
        with pytest.raises(OSError):
            c.version()
            c.attach(0)
    finally:
        sock.close()
        import os
        os.waitpid(pid, 0)
