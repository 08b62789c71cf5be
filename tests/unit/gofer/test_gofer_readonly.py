"""A read-only root refuses every mutation with EROFS, in the gofer and in the kernel."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from gofer_testlib import Gofer

from gofer import linux
from gofer.client import GoferClient


@pytest.fixture
def ro(tree: Path, start_gofer: Callable[..., Gofer]) -> GoferClient:
    return start_gofer((tree, True)).client


def _snapshot(tree: Path) -> dict[str, tuple[int, int, int, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for n in dirnames + filenames + ["."]:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, st.st_nlink)
    return out


def test_readonly_refuses_mutations(ro: GoferClient, tree: Path) -> None:
    before = _snapshot(tree)
    root, _ = ro.attach(0)
    (d, _), (f, _) = ro.walk(root, [b"d", b"f"])
    (lnk, _), = ro.walk(root, [b"lnk"])
    calls: list[Callable[[], object]] = [
        lambda: ro.create(root, b"new", os.O_WRONLY, 0o644, 0, 0),
        lambda: ro.create(root, b"new", os.O_RDONLY, 0o644, 0, 0),
        lambda: ro.mkdir(root, b"nd", 0o755, 0, 0),
        lambda: ro.symlink(root, b"s", b"t", 0, 0),
        lambda: ro.link(root, b"h", f),
        lambda: ro.unlink(d, b"f"),
        lambda: ro.unlink(d, b"e", linux.AT_REMOVEDIR),
        lambda: ro.rename(d, b"f", root, b"g"),
        lambda: ro.rename(d, b"f", d, b"e", linux.RENAME_EXCHANGE),
        lambda: ro.setattr(f, mode=0o777),
        lambda: ro.setattr(f, uid=1),
        lambda: ro.setattr(f, gid=1),
        lambda: ro.setattr(f, size=0),
        lambda: ro.setattr(f, atime_ns=0),
        lambda: ro.setattr(f, mtime_ns=-1),
        lambda: ro.setattr(lnk, uid=1),
        lambda: ro.setattr(root, mode=0o700),
        lambda: ro.open(f, os.O_WRONLY),
        lambda: ro.open(f, os.O_RDWR),
        lambda: ro.open(f, os.O_RDONLY | os.O_TRUNC),
        lambda: ro.open(f, os.O_WRONLY | os.O_APPEND),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EROFS, i
    assert _snapshot(tree) == before


def test_readonly_allows_reads(ro: GoferClient, tree: Path) -> None:
    root, _ = ro.attach(0)
    (d, _), (f, _) = ro.walk(root, [b"d", b"f"])
    fd = ro.open(f, os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"hello\n"
        # the fd comes from a read-only mount: even the fd's holder cannot write
        # through it to the host file's metadata
        with pytest.raises(OSError) as e:
            os.fchmod(fd, 0o777)
        assert e.value.errno == errno.EROFS
    finally:
        os.close(fd)
    assert sorted(n for n, _, _ in ro.readdir(d)) == [b"e", b"f"]
    assert ro.readlink(ro.walk(root, [b"lnk"])[0][0]) == b"d/f"
    ro.setattr(f)  # changing nothing is not a mutation
    assert ro.statfs(root)["f_flags"] & os.ST_RDONLY


def test_readonly_and_writable_roots_side_by_side(tree: Path,
                                                  start_gofer: Callable[..., Gofer]) -> None:
    other = tree.parent / "rw"
    other.mkdir()
    c = start_gofer((tree, True), (other, False)).client
    ro_root, _ = c.attach(0)
    rw_root, _ = c.attach(1)
    _, _, fd = c.create(rw_root, b"ok", os.O_WRONLY, 0o644, 0, 0)
    os.close(fd)
    assert (other / "ok").exists()
    # nothing crosses between roots; as in Linux, the crossing is reported
    # before the read-only mount
    (f, _), = c.walk(ro_root, [b"file"])
    for call in (lambda: c.link(rw_root, b"x", f),
                 lambda: c.rename(rw_root, b"ok", ro_root, b"ok")):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EXDEV
    assert not (tree / "ok").exists() and (other / "ok").exists()
    third = tree.parent / "rw2"
    third.mkdir()
    c2 = start_gofer((other, False), (third, False)).client
    a, _ = c2.attach(0)
    b, _ = c2.attach(1)
    (ok, _), = c2.walk(a, [b"ok"])
    for call in (lambda: c2.link(b, b"x", ok), lambda: c2.rename(a, b"ok", b, b"ok")):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EXDEV
