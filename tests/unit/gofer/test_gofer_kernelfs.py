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
    import signal

    from gofer import linux
    from gofer_testlib import wait_exit

    root = tmp_path / "root"
    (root / "sub" / "p").mkdir(parents=True)
    pid = os.fork()
    if pid == 0:  # in a mount namespace of its own, so that nothing stays mounted
        code = 1
        try:
            linux.unshare(linux.CLONE_NEWNS)
            subprocess.run(["mount", "--make-rprivate", "/"], check=True)
            subprocess.run(["mount", "-t", "proc", "proc", str(root / "sub" / "p")], check=True)
            g = start_gofer((root, True))
            try:
                c: GoferClient = g.client
                h, _ = c.attach(0)
                try:
                    c.walk(h, [b"sub", b"p"])
                    code = 2
                except OSError as e:
                    code = 0 if e.errno == errno.EACCES else 3
                if code == 0 and len(c.walk(h, [b"sub", b"missing"])) != 1:
                    code = 4
            finally:
                g.stop()
        except BaseException as e:  # noqa: BLE001 - the child says why, and exits
            os.write(2, f"{type(e).__name__}: {e}\n".encode())
        finally:
            os._exit(code)
    status = wait_exit(pid, 60)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0


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
