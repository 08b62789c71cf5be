"""Round trips of every gofer operation against a temporary tree."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

import pytest
from gofer_testlib import Gofer, in_mount_namespace
from helpers import procs

from gofer import linux
from gofer.client import GoferClient
from gofer.protocol import (
    PROTOCOL_VERSION,
    WALKOPEN_OR_WALK,
    Rerror,
    Rwalk,
    Rwalkopen,
    Twalkopen,
)


def _walk1(c: GoferClient, h: int, *names: bytes) -> int:
    entries = c.walk(h, list(names))
    assert len(entries) == len(names)
    return entries[-1][0]


def test_version_and_attach(client: GoferClient, tree: Path) -> None:
    assert client.version() == PROTOCOL_VERSION
    _, st = client.attach(0)
    host = os.stat(tree)
    assert (st.dev, st.ino, st.mode) == (host.st_dev, host.st_ino, host.st_mode)
    with pytest.raises(OSError) as e:
        client.attach(1)
    assert e.value.errno == errno.ENOENT


def test_walk_and_stat(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    entries = client.walk(root, [b"d", b"f"])
    assert [stat.S_IFMT(st.mode) for _, st in entries] == [stat.S_IFDIR, stat.S_IFREG]
    host = os.stat(tree / "d" / "f")
    st = client.stat(entries[1][0])
    assert (st.ino, st.size, st.nlink, st.mtime_ns) == (
        host.st_ino,
        6,
        host.st_nlink,
        host.st_mtime_ns,
    )
    assert client.walk(root, []) == []


def test_requests_are_counted_and_timed_only_when_asked(client: GoferClient) -> None:
    """The client counts the requests it sends (what the compat report gives each call),
    and adds up their round trips only with ``timing`` (the report's times)."""
    root, _ = client.attach(0)
    before = client.requests
    client.walk(root, [b"d"])
    client.stat(root)
    assert client.requests == before + 2
    assert client.round_trips == 0.0
    client.timing = True
    client.stat(root)
    client.walk(root, [b"file"])
    assert client.requests == before + 4
    assert client.round_trips > 0.0


def test_walk_stopping_rules(client: GoferClient) -> None:
    root, _ = client.attach(0)
    with pytest.raises(OSError) as e:
        client.walk(root, [b"missing", b"x"])
    assert e.value.errno == errno.ENOENT
    # a later missing component shortens the result
    assert len(client.walk(root, [b"d", b"missing", b"x"])) == 1
    # a symlink is returned and not followed, its target with it (no Treadlink needed)
    entries = client.walk(root, [b"lnk", b"anything"])
    assert len(entries) == 1 and stat.S_ISLNK(entries[0][1].mode)
    assert entries[0][1].target == b"d/f"
    assert [st.target for _, st in client.walk(root, [b"d", b"f"])] == [None, None]
    # a non-directory ends the walk
    entries = client.walk(root, [b"file", b"x"])
    assert len(entries) == 1 and stat.S_ISREG(entries[0][1].mode)
    # walking from a non-directory handle is ENOTDIR
    with pytest.raises(OSError) as e:
        client.walk(entries[0][0], [b"x"])
    assert e.value.errno == errno.ENOTDIR


def test_walk_longer_than_one_message(client: GoferClient, tree: Path) -> None:
    names = [b"n%d" % i for i in range(300)]
    os.makedirs(tree.joinpath(*[n.decode() for n in names]))
    root, _ = client.attach(0)
    entries = client.walk(root, names)
    assert len(entries) == 300
    assert (
        entries[-1][1].ino
        == os.stat(tree.joinpath(*[n.decode() for n in names])).st_ino
    )
    # a gap after the first message's worth still returns the prefix
    assert len(client.walk(root, names[:200] + [b"missing"] + names[200:])) == 200


def test_open_read_write_append_trunc(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    h = _walk1(client, root, b"file")
    fd = client.open(h, os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"0123456789"
        assert os.get_inheritable(fd) is False
        assert not fcntl_flags(fd) & os.O_NONBLOCK
    finally:
        os.close(fd)
    fd = client.open(h, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"ab")
    os.close(fd)
    assert (tree / "file").read_bytes() == b"0123456789ab"
    fd = client.open(h, os.O_RDWR | os.O_TRUNC)
    os.write(fd, b"xy")
    os.close(fd)
    assert (tree / "file").read_bytes() == b"xy"
    with pytest.raises(OSError) as e:
        client.open(h, os.O_RDWR | os.O_CREAT)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        client.open(h, os.O_ACCMODE)
    assert e.value.errno == errno.EINVAL


def fcntl_flags(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_GETFL)


def test_open_directory(client: GoferClient) -> None:
    root, _ = client.attach(0)
    fd = client.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sorted(os.listdir(fd)) == ["d", "file", "lnk"]
    finally:
        os.close(fd)
    d = _walk1(client, root, b"d")
    with pytest.raises(OSError) as e:
        client.open(d, os.O_WRONLY)
    assert e.value.errno == errno.EISDIR
    f = _walk1(client, root, b"file")
    with pytest.raises(OSError) as e:
        client.open(f, os.O_RDONLY | os.O_DIRECTORY)
    assert e.value.errno == errno.ENOTDIR


def test_readlink(client: GoferClient) -> None:
    root, _ = client.attach(0)
    assert client.readlink(_walk1(client, root, b"lnk")) == b"d/f"
    with pytest.raises(OSError) as e:
        client.readlink(_walk1(client, root, b"file"))
    assert e.value.errno == errno.EINVAL


def test_readdir(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    got = {name: (ino, dt) for name, ino, dt in client.readdir(root)}
    assert got == {
        b"d": (os.lstat(tree / "d").st_ino, 4),
        b"file": (os.lstat(tree / "file").st_ino, 8),
        b"lnk": (os.lstat(tree / "lnk").st_ino, 10),
    }
    assert client.readdir(_walk1(client, root, b"d", b"e")) == []
    with pytest.raises(OSError) as e:
        client.readdir(_walk1(client, root, b"file"))
    assert e.value.errno == errno.ENOTDIR


def test_readdir_5000_entries(client: GoferClient, tree: Path) -> None:
    big = tree / "big"
    big.mkdir()
    names = {f"{i:04d}-{'x' * 40}".encode() for i in range(5000)}
    # hard links: creating 5000 inodes costs seconds on this VM's disk
    for n in names:
        os.link(tree / "file", big / n.decode())
    root, _ = client.attach(0)
    entries = client.readdir(_walk1(client, root, b"big"))
    assert len(entries) == 5000
    assert {n for n, _, _ in entries} == names
    ino = os.stat(tree / "file").st_ino
    assert all(i == ino and dt == 8 for _, i, dt in entries)


def test_create(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    h, st, fd = client.create(root, b"new", os.O_RDWR, 0o4640, 1234, 5678)
    try:
        os.write(fd, b"data")
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, 10) == b"data"
    finally:
        os.close(fd)
    host = os.stat(tree / "new")
    assert (host.st_uid, host.st_gid, stat.S_IMODE(host.st_mode)) == (
        1234,
        5678,
        0o4640,
    )
    assert (st.ino, st.uid, st.gid, stat.S_IMODE(st.mode)) == (
        host.st_ino,
        1234,
        5678,
        0o4640,
    )
    assert client.stat(h).size == 4
    for name, code in ((b"new", errno.EEXIST), (b"lnk", errno.EEXIST)):
        with pytest.raises(OSError) as e:
            client.create(root, name, os.O_WRONLY, 0o644, 0, 0)
        assert e.value.errno == code
    with pytest.raises(OSError) as e:
        client.create(root, b"x", os.O_WRONLY | os.O_DIRECTORY, 0o644, 0, 0)
    assert e.value.errno == errno.EINVAL


def test_mkdir(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    h, st = client.mkdir(root, b"nd", 0o1750, 7, 8)
    host = os.stat(tree / "nd")
    assert stat.S_ISDIR(host.st_mode) and stat.S_IMODE(host.st_mode) == 0o1750
    assert (host.st_uid, host.st_gid, st.ino) == (7, 8, host.st_ino)
    os.close(client.create(h, b"inside", os.O_WRONLY, 0o600, 0, 0)[2])
    assert (tree / "nd" / "inside").exists()
    with pytest.raises(OSError) as e:
        client.mkdir(root, b"d", 0o755, 0, 0)
    assert e.value.errno == errno.EEXIST


def test_symlink(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    h, st = client.symlink(root, b"s", b"/nowhere/../x", 9, 10)
    assert os.readlink(tree / "s") == "/nowhere/../x"
    host = os.lstat(tree / "s")
    assert stat.S_ISLNK(st.mode) and (host.st_uid, host.st_gid) == (9, 10)
    assert client.readlink(h) == b"/nowhere/../x"
    with pytest.raises(OSError) as e:
        client.symlink(root, b"s2", b"", 0, 0)
    assert e.value.errno == errno.ENOENT


def test_link(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    f = _walk1(client, root, b"file")
    _, st = client.link(root, b"hard", f)
    assert (
        st.nlink == 2 and os.stat(tree / "hard").st_ino == os.stat(tree / "file").st_ino
    )
    # a symlink is linked itself, not its target
    lh = _walk1(client, root, b"lnk")
    _, lst = client.link(root, b"hardlnk", lh)
    assert stat.S_ISLNK(lst.mode) and os.readlink(tree / "hardlnk") == "d/f"
    with pytest.raises(OSError) as e:
        client.link(root, b"dirlink", _walk1(client, root, b"d"))
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        client.link(root, b"hard", f)
    assert e.value.errno == errno.EEXIST


def test_unlink(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    client.unlink(root, b"file", 0)
    assert not (tree / "file").exists()
    client.unlink(root, b"lnk")
    assert (tree / "d" / "f").exists() and not os.path.lexists(tree / "lnk")
    d = _walk1(client, root, b"d")
    with pytest.raises(OSError) as e:
        client.unlink(d, b"e", 0)
    assert e.value.errno == errno.EISDIR
    with pytest.raises(OSError) as e:
        client.unlink(d, b"f", linux.AT_REMOVEDIR)
    assert e.value.errno == errno.ENOTDIR
    with pytest.raises(OSError) as e:
        client.unlink(root, b"d", linux.AT_REMOVEDIR)
    assert e.value.errno == errno.ENOTEMPTY
    client.unlink(d, b"e", linux.AT_REMOVEDIR)
    assert not (tree / "d" / "e").exists()
    with pytest.raises(OSError) as e:
        client.unlink(d, b"f", 0x1)
    assert e.value.errno == errno.EINVAL


def test_rename(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    d = _walk1(client, root, b"d")
    f = _walk1(client, root, b"file")
    client.rename(root, b"file", d, b"moved")
    assert (tree / "d" / "moved").read_bytes() == b"0123456789"
    # the handle follows its inode to the new name
    fd = client.open(f, os.O_RDONLY)
    assert os.read(fd, 3) == b"012"
    os.close(fd)
    with pytest.raises(OSError) as e:
        client.rename(d, b"moved", d, b"f", linux.RENAME_NOREPLACE)
    assert e.value.errno == errno.EEXIST
    df = _walk1(client, d, b"f")
    client.rename(d, b"moved", d, b"f", linux.RENAME_EXCHANGE)
    assert (tree / "d" / "f").read_bytes() == b"0123456789"
    assert (tree / "d" / "moved").read_bytes() == b"hello\n"
    for h, want in ((f, b"0123456789"), (df, b"hello\n")):
        fd = client.open(h, os.O_RDONLY)
        assert os.read(fd, 100) == want
        os.close(fd)
    with pytest.raises(OSError) as e:
        client.rename(d, b"f", d, b"g", linux.RENAME_EXCHANGE | linux.RENAME_NOREPLACE)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        client.rename(d, b"f", d, b"g", linux.RENAME_WHITEOUT)
    assert e.value.errno == errno.EINVAL


def test_setattr(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    f = _walk1(client, root, b"file")
    client.setattr(f, mode=0o2751)
    assert stat.S_IMODE(os.stat(tree / "file").st_mode) == 0o2751
    client.setattr(f, uid=42)
    client.setattr(f, gid=43)
    host = os.stat(tree / "file")
    assert (host.st_uid, host.st_gid) == (42, 43)
    client.setattr(f, size=3)
    assert (tree / "file").read_bytes() == b"012"
    client.setattr(f, size=10000)
    assert os.stat(tree / "file").st_size == 10000
    client.setattr(f, atime_ns=1_000_000_001, mtime_ns=2_000_000_002)
    host = os.stat(tree / "file")
    assert (host.st_atime_ns, host.st_mtime_ns) == (1_000_000_001, 2_000_000_002)
    client.setattr(f, mtime_ns=-1)
    host = os.stat(tree / "file")
    assert host.st_atime_ns == 1_000_000_001 and host.st_mtime_ns > 2_000_000_002
    client.setattr(f)  # nothing to change
    d = _walk1(client, root, b"d")
    with pytest.raises(OSError) as e:
        client.setattr(d, size=0)
    assert e.value.errno == errno.EISDIR
    client.setattr(d, mode=0o700, uid=1, gid=2)
    host = os.stat(tree / "d")
    assert (stat.S_IMODE(host.st_mode), host.st_uid, host.st_gid) == (0o700, 1, 2)
    client.setattr(root, mode=0o711)
    assert stat.S_IMODE(os.stat(tree).st_mode) == 0o711


def test_setattr_symlink_never_follows(client: GoferClient, tree: Path) -> None:
    target = tree / "d" / "f"
    before = os.stat(target)
    root, _ = client.attach(0)
    s = _walk1(client, root, b"lnk")
    with pytest.raises(OSError) as e:
        client.setattr(s, mode=0o777)
    assert e.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as e:
        client.setattr(s, size=0)
    assert e.value.errno == errno.EINVAL
    client.setattr(s, uid=77, gid=78, mtime_ns=5_000_000_000)
    link = os.lstat(tree / "lnk")
    assert (link.st_uid, link.st_gid, link.st_mtime_ns) == (77, 78, 5_000_000_000)
    after = os.stat(target)
    assert (
        after.st_mode,
        after.st_uid,
        after.st_gid,
        after.st_mtime_ns,
        after.st_size,
    ) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
        before.st_mtime_ns,
        before.st_size,
    )


def test_statfs(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    s = client.statfs(root)
    host = os.statvfs(tree)
    assert s["f_bsize"] == host.f_bsize and s["f_namelen"] == host.f_namemax
    assert s["f_blocks"] == host.f_blocks and s["f_files"] == host.f_files
    assert s["f_type"] != 0
    # the gofer's clone of the root's mount is nosuid and nodev
    assert s["f_flags"] & os.ST_NOSUID and s["f_flags"] & os.ST_NODEV
    assert not s["f_flags"] & os.ST_RDONLY


def test_close(client: GoferClient) -> None:
    root, _ = client.attach(0)
    d = _walk1(client, root, b"d")
    f = _walk1(client, d, b"f")
    client.close(d)
    client.close(root)
    # a child outlives its parent's handle: its reopen still needs the parent fd
    fd = client.open(f, os.O_RDONLY)
    assert os.read(fd, 10) == b"hello\n"
    os.close(fd)
    client.close(f)
    for op in (
        client.stat,
        client.close,
        client.readdir,
        client.readlink,
        client.statfs,
    ):
        with pytest.raises(OSError) as e:
            op(f)
        assert e.value.errno == errno.EBADF


def test_handles_do_not_leak_fds(gofer: Gofer, client: GoferClient) -> None:
    root, _ = client.attach(0)
    client.close(root)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    for _ in range(50):
        root, _ = client.attach(0)
        handles = [h for h, _ in client.walk(root, [b"d", b"e"])]
        fd = client.open(handles[-1], os.O_RDONLY | os.O_DIRECTORY)
        os.close(fd)
        client.readdir(handles[0])
        h, _, fd = client.create(handles[-1], b"t", os.O_WRONLY, 0o600, 0, 0)
        os.close(fd)
        client.unlink(handles[-1], b"t")
        for x in [h, *handles, root]:
            client.close(x)
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_client_is_thread_safe(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    f = _walk1(client, root, b"file")
    ino = os.stat(tree / "file").st_ino
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(200):
                assert client.stat(f).ino == ino
                assert len(client.readdir(root)) == 3
        except BaseException as e:  # noqa: BLE001 - reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_close_many(client: GoferClient) -> None:
    """Several handles released in one request; one that is not open gives EBADF after
    the others are closed all the same."""
    from gofer.protocol import MAX_CLOSE

    root, _ = client.attach(0)
    handles = [_walk1(client, root, b"d") for _ in range(MAX_CLOSE + 3)]
    client.close_many(handles[:-1])  # two requests
    for h in handles[:-1]:
        with pytest.raises(OSError) as e:
            client.stat(h)
        assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        client.close_many([handles[-1], handles[0]])
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        client.stat(handles[-1])
    assert e.value.errno == errno.EBADF
    client.close(root)


def _lstat_fields(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_size, st.st_mtime_ns)


def test_readdirstat(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    got = {n: (s.dev, s.ino, s.mode, s.nlink, s.size, s.mtime_ns)  # type: ignore[union-attr]
           for n, s in client.readdirstat(root)}
    # lstat, as a walk reports it: the symlink itself, never its target
    assert got == {n.encode(): _lstat_fields(os.lstat(tree / n)) for n in ("d", "file", "lnk")}
    # a listing of a directory walked to by name, without a handle for it
    sub = client.readdirstat(root, [b"d"])
    assert {n for n, _ in sub} == {b"e", b"f"}
    assert client.readdirstat(root, [b"d", b"e"]) == []
    os.symlink("d", tree / "dlnk")  # a symlink to a directory is never walked through
    for names, code in (([b"file"], errno.ENOTDIR), ([b"missing"], errno.ENOENT),
                        ([b"lnk"], errno.ENOTDIR), ([b".."], errno.EINVAL),
                        ([b"d/e"], errno.EINVAL), ([b"dlnk"], errno.ENOTDIR),
                        ([b"dlnk", b"e"], errno.ENOTDIR), ([b"d", b"f", b"x"], errno.ENOTDIR),
                        ([b"d", b"missing", b"e"], errno.ENOENT),
                        ([b"d", b".."], errno.EINVAL), ([b"d", b""], errno.EINVAL)):
        with pytest.raises(OSError) as e:
            client.readdirstat(root, names)
        assert e.value.errno == code, names


def test_readdirstat_carries_symlink_targets(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    listing = dict(client.readdirstat(root))
    assert listing[b"lnk"].target == b"d/f"  # type: ignore[union-attr]
    assert listing[b"file"].target is None  # type: ignore[union-attr]
    os.symlink("x" * 4000, tree / "d" / "long")
    got = client.readtree(root, [], [b"d"], 100)
    assert dict(got[(b"d",)])[b"long"].target == b"x" * 4000  # type: ignore[union-attr]


def test_readdirstat_many_entries(client: GoferClient, tree: Path) -> None:
    big = tree / "big"
    big.mkdir()
    names = {f"{i:04d}-{'y' * 60}".encode() for i in range(3000)}
    for n in names:
        os.link(tree / "file", big / n.decode())
    root, _ = client.attach(0)
    entries = client.readdirstat(root, [b"big"])  # several replies
    assert {n for n, _ in entries} == names
    ino = os.stat(tree / "file").st_ino
    assert all(s is not None and s.ino == ino for _, s in entries)


def test_listing_is_readdirstat_indexed(client: GoferClient, tree: Path) -> None:
    """GoferClient.listing (the sentry's) gives readdirstat's entries, batches joined,
    errors the same."""
    big = tree / "big"
    big.mkdir()
    for i in range(3000):
        os.link(tree / "file", big / f"{i:04d}-{'y' * 60}")
    root, _ = client.attach(0)
    for names in ([], [b"d"], [b"d", b"e"], [b"big"]):  # the last in several replies
        client.readdirstat(root, names)  # (a symlink's atime moves at its first readlink)
        want = dict(client.readdirstat(root, names))
        got = client.listing(root, names)
        assert dict(got.items()) == want and len(got) == len(want), names
    assert client.listing(root)[b"lnk"].target == b"d/f"  # type: ignore[union-attr]
    for names, code in (([b"file"], errno.ENOTDIR), ([b"missing"], errno.ENOENT)):
        with pytest.raises(OSError) as e:
            client.listing(root, names)
        assert e.value.errno == code, names


def test_walkopen(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    h, st, fd = client.walkopen(root, [b"d", b"f"], os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"hello\n"
        assert (st.dev, st.ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    finally:
        os.close(fd)
    # the handle names the file: it can be opened again, and stats as the file
    assert client.stat(h).ino == os.stat(tree / "d" / "f").st_ino
    for names, flags, code in (([b"lnk"], os.O_RDONLY, errno.ELOOP),
                               ([b"missing"], os.O_RDONLY, errno.ENOENT),
                               ([b"lnk", b"x"], os.O_RDONLY, errno.ENOTDIR),
                               ([], os.O_RDONLY, errno.EINVAL),
                               ([b"file"], os.O_RDWR | os.O_WRONLY, errno.EINVAL)):
        with pytest.raises(OSError) as e:
            client.walkopen(root, names, flags)
        assert e.value.errno == code, names


def test_fetch(gofer: Gofer, client: GoferClient, tree: Path) -> None:
    """Tfetch (the sentry's C side's open of a file its stat cache knows): a regular file
    everyone may read, named by a path beneath the handle, comes opened read-only with
    its attributes and no handle; a symlink anywhere on the path is ELOOP (the gofer
    follows none), a directory, a FIFO and a file only its owner may read are EACCES
    and are not opened (a host writer waiting for the FIFO's reader waits on), a missing
    name ENOENT, an empty name, "..", "." or a flag but O_NOFOLLOW EINVAL; nothing
    leaks.  (A mount crossed: test_fetch_crosses_no_mount.)"""
    os.mkfifo(tree / "fifo")
    (tree / "private").write_bytes(b"mine")
    os.chmod(tree / "private", 0o600)
    os.symlink("d", tree / "dl")
    writer_opened = threading.Event()

    def writer() -> None:
        fd = os.open(tree / "fifo", os.O_WRONLY)  # waits for a reader
        writer_opened.set()
        os.close(fd)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    for path, flags, want in ((b"d/f", 0, b"hello\n"), (b"file", os.O_NOFOLLOW, b"0123456789")):
        st, fd = client.fetch(root, path, flags)
        try:
            host = os.fstat(fd)
            assert os.read(fd, 100) == want
            assert (st.dev, st.ino, st.mode, st.size) == (
                host.st_dev, host.st_ino, host.st_mode, host.st_size)
            assert st.ino == os.stat(tree / os.fsdecode(path)).st_ino
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
            assert fl & os.O_ACCMODE == os.O_RDONLY and not fl & os.O_NONBLOCK
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        finally:
            os.close(fd)
    d_handle = _walk1(client, root, b"d")
    st, fd = client.fetch(d_handle, b"f")  # beneath any handle
    os.close(fd)
    for path, flags, code in ((b"lnk", 0, errno.ELOOP), (b"lnk/x", 0, errno.ENOTDIR),
                              (b"dl/f", 0, errno.ELOOP), (b"dl/f", os.O_NOFOLLOW, errno.ELOOP),
                              (b"d", 0, errno.EACCES), (b"fifo", 0, errno.EACCES),
                              (b"private", 0, errno.EACCES), (b"d/missing", 0, errno.ENOENT),
                              (b"", 0, errno.EINVAL), (b"d//f", 0, errno.EINVAL),
                              (b"../root/file", 0, errno.EINVAL), (b"./file", 0, errno.EINVAL),
                              (b"/file", 0, errno.EINVAL), (b"file", os.O_RDWR, errno.EINVAL),
                              (b"file", os.O_CREAT, errno.EINVAL)):
        with pytest.raises(OSError) as e:
            client.fetch(root, path, flags)
        assert e.value.errno in ((code, errno.ELOOP) if path == b"lnk/x" else (code,)), path
    client.close(d_handle)
    assert not writer_opened.wait(0.2)  # the FIFO was never opened for reading
    os.close(os.open(tree / "fifo", os.O_RDONLY | os.O_NONBLOCK))  # (releases the writer)
    th.join(5)
    assert writer_opened.is_set()
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def _sent_at_first_read(client: GoferClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets how many requests *client* had sent when it first read a reply
    after the list was cleared: two requests sent together show as the count after both."""
    sent: list[int] = []
    recv = client._recv_data

    def counting_recv() -> Any:
        if not sent:
            sent.append(client.requests)
        return recv()

    monkeypatch.setattr(client, "_recv_data", counting_recv)
    return sent


def test_listing_fetch(gofer: Gofer, client: GoferClient, tree: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """listing_fetch: a directory's listing and a Tfetch of one of its names sent before
    either reply is read (one round trip); the fetch's (Stat, fd) is the listed file's,
    None for a name the gofer does not fetch (a symlink, a directory, a file only its
    owner may read, a missing one); a directory that cannot be listed raises its error
    with the fetch's reply read too (the channel stays in step); nothing leaks."""
    (tree / "d" / "private").write_bytes(b"mine")
    os.chmod(tree / "d" / "private", 0o600)
    os.symlink("f", tree / "d" / "lnk")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    mine = len(os.listdir("/proc/self/fd"))
    sent_at_first_read = _sent_at_first_read(client, monkeypatch)
    for _ in range(3):
        sent_at_first_read.clear()
        before = client.requests
        listing, got = client.listing_fetch(root, [b"d"], b"f")
        assert sent_at_first_read == [before + 2]  # both sent, then the replies read
        assert sorted(listing) == [b"e", b"f", b"lnk", b"private"]
        assert got is not None
        st, fd = got
        try:
            assert os.read(fd, 100) == b"hello\n"
            listed = listing[b"f"]
            assert (st.dev, st.ino, st.mode, st.size, st.mtime_ns) == (
                listed.dev, listed.ino, listed.mode, listed.size, listed.mtime_ns)
        finally:
            os.close(fd)
        for name in (b"lnk", b"e", b"private", b"missing"):
            listing, got = client.listing_fetch(root, [b"d"], name)
            assert got is None and b"f" in listing, name
        d = _walk1(client, root, b"d")
        listing, got = client.listing_fetch(d, [], b"f")  # the directory's own handle
        assert got is not None and b"f" in listing
        os.close(got[1])
        client.close(d)
        for names in ([b"missing"], [b"file"]):
            with pytest.raises(OSError) as e:
                client.listing_fetch(root, names, b"f")
            assert e.value.errno in (errno.ENOENT, errno.ENOTDIR), names
        assert client.readdirstat(root, [b"d"])  # (in step: its own reply)
    assert not client.broken
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base
    assert len(os.listdir("/proc/self/fd")) == mine


def test_walk_and_open_siblings(gofer: Gofer, client: GoferClient, tree: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """walk_and_open_siblings: a Twalk of the directories on the way (a handle for each)
    and a Twalkopen of the name below them, both sent before either reply is read; the
    open's answer as walk_or_open_siblings gives it (a sibling symlink's target with
    it), its error returned beside the walk's entries; the walk's own error raised with
    the open's reply read and given back; the channel stays in step, nothing leaks."""
    (tree / "d" / "e" / "g").write_bytes(b"below")
    os.symlink("g", tree / "d" / "e" / "lnk")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    mine = len(os.listdir("/proc/self/fd"))
    sent_at_first_read = _sent_at_first_read(client, monkeypatch)
    for _ in range(3):
        sent_at_first_read.clear()
        before = client.requests
        entries, opened = client.walk_and_open_siblings(root, [b"d", b"e"], b"g", os.O_RDONLY)
        assert sent_at_first_read == [before + 2]  # both sent, then the replies read
        assert [st.ino for _, st in entries] == [os.stat(tree / "d").st_ino,
                                                 os.stat(tree / "d" / "e").st_ino]
        assert not isinstance(opened, OSError)
        h, st, fd, hops = opened
        assert os.read(fd, 100) == b"below" and hops == []
        os.close(fd)
        client.close_many([h, *(eh for eh, _ in entries)])
        entries, opened = client.walk_and_open_siblings(root, [b"d", b"e"], b"lnk", os.O_RDONLY)
        assert not isinstance(opened, OSError)
        h, st, fd, hops = opened
        assert fd < 0 and stat.S_ISLNK(st.mode) and [n for n, _, _, _ in hops] == [b"g"]
        os.close(hops[0][3])
        client.close_many([h, hops[0][1], *(eh for eh, _ in entries)])
        entries, opened = client.walk_and_open_siblings(root, [b"d", b"e"], b"missing",
                                                        os.O_RDONLY)
        assert len(entries) == 2
        assert isinstance(opened, OSError) and opened.errno == errno.ENOENT
        client.close_many([eh for eh, _ in entries])
        with pytest.raises(OSError) as e:  # (the walk's first name: its error)
            client.walk_and_open_siblings(root, [b"missing", b"e"], b"g", os.O_RDONLY)
        assert e.value.errno == errno.ENOENT
        # a walk that stops short (at a file): its entries, and the open's error
        entries, opened = client.walk_and_open_siblings(root, [b"file", b"e"], b"g",
                                                        os.O_RDONLY)
        assert len(entries) == 1 and isinstance(opened, OSError)
        assert opened.errno == errno.ENOTDIR
        client.close_many([eh for eh, _ in entries])
        assert client.readdirstat(root, [b"d"])  # (in step: its own reply)
    # the walk's error with an open that succeeded: the open's handle and fds given back
    real_recv = client._recv
    swapped = []

    def walk_fails() -> Any:
        msg, fds = real_recv()
        if isinstance(msg, Rwalk) and not swapped:
            swapped.extend(h for h, _ in msg.entries)
            return Rerror(errno.EACCES), fds
        return msg, fds

    monkeypatch.setattr(client, "_recv", walk_fails)
    for name in (b"g", b"lnk"):
        swapped.clear()
        with pytest.raises(OSError) as e:
            client.walk_and_open_siblings(root, [b"d", b"e"], name, os.O_RDONLY)
        assert e.value.errno == errno.EACCES and len(swapped) == 2
        monkeypatch.setattr(client, "_recv", real_recv)
        client.close_many(swapped)  # (the walk's, which the test took)
        monkeypatch.setattr(client, "_recv", walk_fails)
    monkeypatch.setattr(client, "_recv", real_recv)
    assert not client.broken and client.readdirstat(root, [b"d"])
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base
    assert len(os.listdir("/proc/self/fd")) == mine


def test_listing_along(gofer: Gofer, client: GoferClient, tree: Path) -> None:
    """listing_along (Tlistalong): the first directory's listing as ``listing`` gives it,
    then each small directory the names along go down to, in one request, each listing
    what its own ``listing`` would be; it stops (no error) at a missing name, a file, a
    symlink, a directory of more than one block (dir_blocks: its subdirectories counted)
    and after MAX_ALONG; the first directory's errors are Treaddirstat's; a bad name is
    EINVAL; the channel stays in step and nothing leaks."""
    from gofer.protocol import MAX_ALONG, SUBDIRS_PER_BLOCK

    chain = tree / "a" / "b" / "c"
    chain.mkdir(parents=True)
    (chain / "file").write_bytes(b"x")
    (tree / "a" / "b" / "f").write_bytes(b"y")
    os.symlink("c", tree / "a" / "b" / "clnk")
    for i in range(2 * SUBDIRS_PER_BLOCK + 4):  # (two blocks by its subdirectories,
        # and by its size where link counts leave subdirectories out: btrfs)
        (tree / "a" / "wide" / (f"s{i:03d}" + "w" * 100)).mkdir(parents=True)
    deep = tree / "deep"
    names = [b"x%d" % i for i in range(MAX_ALONG + 3)]
    deep.joinpath(*[n.decode() for n in names]).mkdir(parents=True)
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))

    def plain(listing: Any) -> dict:  # (listing a directory moves its atime)
        return {n: st if isinstance(st, int) else (st.ino, st.mode, st.size, st.mtime_ns)
                for n, st in listing.items()}

    def listings(names: list[bytes], along: list[bytes]) -> list[dict]:
        before = client.requests
        got = client.listing_along(root, names, along)
        assert client.requests == before + 1
        return [plain(x) for x in got]

    def own(*names: bytes) -> dict:
        return plain(client.listing(root, list(names)))

    for _ in range(2):
        full = listings([], [b"a", b"b", b"c", b"file"])
        assert full == [own(), own(b"a"), own(b"a", b"b"), own(b"a", b"b", b"c")]
        assert listings([b"a"], [b"b", b"c"]) == [own(b"a"), own(b"a", b"b"),
                                                    own(b"a", b"b", b"c")]
        assert listings([b"a"], []) == [own(b"a")]
        for along, n in (([b"missing", b"b"], 1), ([b"b", b"f", b"c"], 2),
                         ([b"b", b"clnk", b"file"], 2), ([b"wide", b"s000" + b"w" * 100], 1),
                         ([b"b", b"missing"], 2)):
            assert len(listings([b"a"], along)) == n, along
        got = listings([b"deep"], names)
        assert len(got) == 1 + MAX_ALONG and got[-1] == own(b"deep", *names[:MAX_ALONG])
        for names_, code in (([b"file"], errno.ENOTDIR), ([b"missing"], errno.ENOENT),
                             ([b"lnk"], errno.ENOTDIR)):
            with pytest.raises(OSError) as e:
                client.listing_along(root, names_, [b"x"])
            assert e.value.errno == code, names_
        for along in ([b".."], [b"b/c"], [b""], [b"b", b"."]):
            with pytest.raises(OSError) as e:
                client.listing_along(root, [b"a"], along)
            assert e.value.errno == errno.EINVAL, along
        assert own(b"a")  # (in step: its own reply)
    assert not client.broken
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_listing_along_has_a_budget(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The directories along stop once the entries listed after the first reach the
    gofer's budget (the reply is built whole; sizes say little on some file systems)."""
    from gofer import server as gs
    from gofer.protocol import Rlistalong, Tattach, Tlistalong, Tversion, encode

    (tree / "d" / "e" / "x" / "y").mkdir(parents=True)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    root = os.open(tree, os.O_PATH | os.O_DIRECTORY)
    try:
        srv = gs.GoferServer(a, [(root, True)])
        srv.dispatch(encode(Tversion(PROTOCOL_VERSION)))
        srv.dispatch(encode(Tattach(0)))

        def count(budget: int) -> int:
            monkeypatch.setattr(gs, "_ALONG_ENTRIES", budget)
            reply = srv.dispatch(encode(Tlistalong(1, [], [b"d", b"e", b"x", b"y"])))
            assert isinstance(reply, gs._Reply)
            first = next(iter(reply.msgs))
            assert isinstance(first, Rlistalong)
            return first.count

        assert count(4096) == 5
        assert count(1) == 2  # (d's two entries spend it)
        assert count(3) == 3  # (and e's one)
    finally:
        os.close(root)
        a.close()
        b.close()


def test_listing_along_crosses_no_mount(tmp_path: Path,
                                        start_gofer: Callable[..., Gofer]) -> None:
    """A Tlistalong lists no directory beyond a mount point (RESOLVE_NO_XDEV): the
    listings stop before it, though a walk and a listing of its own reach it."""
    root = tmp_path / "root"
    (root / "d" / "mnt").mkdir(parents=True)

    def check() -> int:
        (root / "d" / "mnt" / "inner").mkdir()
        g = start_gofer((root, True))
        try:
            h, _ = g.client.attach(0)
            got = g.client.listing_along(h, [], [b"d", b"mnt", b"inner"])
            if len(got) != 2:
                return 1
            return 0 if b"inner" in g.client.listing(h, [b"d", b"mnt"]) else 2
        finally:
            g.stop()

    assert in_mount_namespace([["-t", "tmpfs", "none", str(root / "d" / "mnt")]], check) == 0


def test_fetch_crosses_no_mount(tmp_path: Path, start_gofer: Callable[..., Gofer]) -> None:
    """Tfetch's one openat2 crosses no mount (RESOLVE_NO_XDEV): a file below a mount
    point under the root is EXDEV, though a walk would reach it."""
    root = tmp_path / "root"
    (root / "mnt").mkdir(parents=True)

    def check() -> int:
        (root / "mnt" / "inner").write_bytes(b"on tmpfs")
        g = start_gofer((root, True))
        try:
            h, _ = g.client.attach(0)
            code = 1
            try:
                g.client.fetch(h, b"mnt/inner")
            except OSError as e:
                code = 0 if e.errno == errno.EXDEV else 2
            walked = g.client.walk(h, [b"mnt", b"inner"])
            return code if len(walked) == 2 else 3
        finally:
            g.stop()

    assert in_mount_namespace([["-t", "tmpfs", "none", str(root / "mnt")]], check) == 0


def test_walk_or_open(gofer: Gofer, client: GoferClient, tree: Path) -> None:
    """Twalkopen with WALKOPEN_OR_WALK: a regular file everyone may read is walked to
    and opened; a symlink, a directory, a FIFO, a file only its owner may read and one
    whose open fails (a write lease held on the host) are walked to only (no fd), each
    handle as a Twalk's; through directories on the way (*via*: only the last name gets
    a handle) the same; a missing name, or directory on the way, is ENOENT; the flag
    with a write mode is EINVAL; nothing leaks."""
    os.mkfifo(tree / "fifo")
    (tree / "private").write_bytes(b"mine")
    os.chmod(tree / "private", 0o600)
    (tree / "leased").write_bytes(b"lease")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    for _ in range(3):
        h, st, fd = client.walk_or_open(root, b"file", os.O_RDONLY)
        assert fd >= 0 and os.read(fd, 100) == b"0123456789"
        assert (st.dev, st.ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        os.close(fd)
        client.close(h)
        for name, kind in ((b"lnk", stat.S_ISLNK), (b"d", stat.S_ISDIR),
                           (b"fifo", stat.S_ISFIFO), (b"private", stat.S_ISREG)):
            h, st, fd = client.walk_or_open(root, name, os.O_RDONLY)
            assert fd == -1 and kind(st.mode), name
            assert client.stat(h).ino == os.lstat(tree / os.fsdecode(name)).st_ino
            assert st.target == (b"d/f" if name == b"lnk" else None), name
            if name == b"lnk":
                assert client.readlink(h) == b"d/f"
            client.close(h)
        with pytest.raises(OSError) as e:
            client.walk_or_open(root, b"missing", os.O_RDONLY)
        assert e.value.errno == errno.ENOENT
        h, st, fd = client.walk_or_open(root, b"f", os.O_RDONLY, [b"d"])
        assert fd >= 0 and os.read(fd, 100) == b"hello\n"
        assert client.stat(h).ino == os.stat(tree / "d" / "f").st_ino == st.ino
        os.close(fd)
        client.close(h)
        h, st, fd = client.walk_or_open(root, b"e", os.O_RDONLY, [b"d"])
        assert fd == -1 and stat.S_ISDIR(st.mode)
        assert client.stat(h).ino == os.stat(tree / "d" / "e").st_ino
        client.close(h)
        for name, via in ((b"missing", [b"d"]), (b"f", [b"nodir"])):
            with pytest.raises(OSError) as e:
                client.walk_or_open(root, name, os.O_RDONLY, via)
            assert e.value.errno == errno.ENOENT
        for names, flags in (([b"file"], os.O_WRONLY), ([b"file"], os.O_RDONLY | os.O_TRUNC)):
            with pytest.raises(OSError) as e:
                client._call_fd(Twalkopen(root, names, flags | WALKOPEN_OR_WALK), Rwalkopen)
            assert e.value.errno == errno.EINVAL, (names, flags)
    lease = os.open(tree / "leased", os.O_RDONLY)
    # (the lease break is SIGIO to this process, whose default action ends it)
    old_handler = signal.signal(signal.SIGIO, signal.SIG_IGN)
    try:
        fcntl.fcntl(lease, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        h, st, fd = client.walk_or_open(root, b"leased", os.O_RDONLY)
        assert fd == -1 and stat.S_ISREG(st.mode)  # (EWOULDBLOCK: the open is the sentry's)
        client.close(h)
    finally:
        os.close(lease)
        signal.signal(signal.SIGIO, old_handler)
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_walk_or_open_siblings(gofer: Gofer, client: GoferClient, tree: Path) -> None:
    """Twalkopen with WALKOPEN_SIBLINGS: a symlink to a sibling (its target one name)
    comes with what it names walked to or opened, on through a chain of such links up to
    SIBLING_HOPS, each with its handle; a target with a slash, a file, a directory end
    the chain, a missing target ends it with no entry; without WALKOPEN_OR_WALK the flag
    is EINVAL; nothing leaks."""
    from gofer.protocol import SIBLING_HOPS, WALKOPEN_SIBLINGS

    for link, target in (("l3", "l2"), ("l2", "l1"), ("l1", "file"), ("dl", "d"),
                         ("dang", "missing"), ("slash", "d/f"), ("loop", "loop")):
        os.symlink(target, tree / link)
    for i in range(SIBLING_HOPS + 2):
        os.symlink(f"c{i + 1}" if i <= SIBLING_HOPS else "file", tree / f"c{i}")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    for _ in range(2):
        h, st, fd, hops = client.walk_or_open_siblings(root, b"l3", os.O_RDONLY)
        assert fd == -1 and st.target == b"l2"
        assert [(n, stat.S_ISLNK(s.mode), f >= 0) for n, _, s, f in hops] == [
            (b"l2", True, False), (b"l1", True, False), (b"file", False, True)]
        assert os.read(hops[-1][3], 100) == b"0123456789"
        os.close(hops[-1][3])
        assert [client.stat(hh).ino for _, hh, _, _ in hops] == [
            os.lstat(tree / n).st_ino for n in ("l2", "l1", "file")]
        for handle in (h, *(hh for _, hh, _, _ in hops)):
            client.close(handle)
        h, st, fd, hops = client.walk_or_open_siblings(root, b"dl", os.O_RDONLY)
        assert [(n, stat.S_ISDIR(s.mode), f) for n, _, s, f in hops] == [(b"d", True, -1)]
        for handle in (h, hops[0][1]):
            client.close(handle)
        for name in (b"dang", b"slash", b"file"):
            h, st, fd, hops = client.walk_or_open_siblings(root, name, os.O_RDONLY)
            assert hops == [] and (fd >= 0) == (name == b"file"), name
            if fd >= 0:
                os.close(fd)
            client.close(h)
        h, st, fd, hops = client.walk_or_open_siblings(root, b"loop", os.O_RDONLY)
        assert [n for n, _, _, _ in hops] == [b"loop"] * SIBLING_HOPS
        for handle in (h, *(hh for _, hh, _, _ in hops)):
            client.close(handle)
        h, st, fd, hops = client.walk_or_open_siblings(root, b"c0", os.O_RDONLY)
        assert [n for n, _, _, _ in hops] == [f"c{i}".encode() for i in range(1, SIBLING_HOPS + 1)]
        assert all(f == -1 for _, _, _, f in hops)  # (the chain goes on past them)
        for handle in (h, *(hh for _, hh, _, _ in hops)):
            client.close(handle)
        with pytest.raises(OSError) as e:
            client._call_fd(Twalkopen(root, [b"l3"], os.O_RDONLY | WALKOPEN_SIBLINGS), Rwalkopen)
        assert e.value.errno == errno.EINVAL
        h, _, fd = client.walk_or_open(root, b"l3", os.O_RDONLY)  # (in step: one message)
        client.close(h)
    assert not client.broken
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_walkopen_and_readdirstat_leak_nothing(gofer: Gofer, client: GoferClient) -> None:
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    for _ in range(30):
        client.readdirstat(root, [b"d", b"e"])
        with pytest.raises(OSError):
            client.readdirstat(root, [b"d", b"missing"])
        with pytest.raises(OSError):
            client.walkopen(root, [b"d", b"e"], os.O_WRONLY)  # a directory: EISDIR
        h, _, fd = client.walkopen(root, [b"d", b"f"], os.O_RDONLY)
        os.close(fd)
        client.close(h)
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_readtree_lists_subtrees_depth_first(gofer: Gofer, client: GoferClient,
                                            tree: Path) -> None:
    """Treadtree: the named subdirectories and everything below them, depth first in
    listing order, each directory's entries as readdirstat gives them; symlinks, files
    and missing names are not descended into; the budget stops it between directories;
    nothing is leaked, and the channel stays in step."""
    top = tree / "d"
    for i in range(6):
        for j in range(i % 3):
            (top / f"s{i}" / f"n{j}" / "deep").mkdir(parents=True)
            (top / f"s{i}" / f"n{j}" / "deep" / "f").write_text("x")
        (top / f"s{i}").mkdir(exist_ok=True)
        (top / f"s{i}" / "file").write_text("y")
    os.symlink("s1", top / "tos1")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    names = [f"s{i}".encode() for i in range(6)] + [b"tos1", b"f", b"missing"]
    got = client.readtree(root, [b"d"], names, 100000)

    def native(rel: tuple[bytes, ...]) -> dict[bytes, tuple[int, int]]:
        path = top.joinpath(*(os.fsdecode(n) for n in rel))
        return {os.fsencode(e.name): (e.inode(), e.stat(follow_symlinks=False).st_mode)
                for e in os.scandir(path)}

    want: list[tuple[bytes, ...]] = []
    for i in range(6):
        want.append((f"s{i}".encode(),))
        for j in range(i % 3):
            want += [(f"s{i}".encode(), f"n{j}".encode()),
                     (f"s{i}".encode(), f"n{j}".encode(), b"deep")]
    assert sorted(got) == sorted(want)
    for rel, entries in got.items():
        assert {n: (st.ino, st.mode) for n, st in entries} == native(rel), rel
    # Depth first, in the order the names were given: a parent before its children.
    order = list(got)
    for rel in order:
        if len(rel) > 1:
            assert order.index(rel[:-1]) < order.index(rel)
    assert [r for r in order if len(r) == 1] == [(f"s{i}".encode(),) for i in range(6)]
    # A small budget stops after the directory that used it up.
    small = client.readtree(root, [b"d"], names, 3)
    assert list(small) == order[:len(small)] and 1 <= len(small) < len(order)
    assert client.readtree(root, [b"d"], [], 100) == {}
    for args, code in (([b"missing"], errno.ENOENT), ([b"file"], errno.ENOTDIR)):
        with pytest.raises(OSError) as e:
            client.readtree(root, args, [b"x"], 10)
        assert e.value.errno == code, args
    for bad in (b"..", b"s1/n0", b""):
        with pytest.raises(OSError) as e:
            client.readtree(root, [b"d"], [bad], 10)
        assert e.value.errno == errno.EINVAL, bad
    assert {n for n, _ in client.readdirstat(root)} == {b"d", b"file", b"lnk"}
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def _make_tree(top: Path, suffix: str) -> None:
    """60 directories of 3 of 40 files each (~7,400 entries), the files' names ending
    in *suffix*."""
    for i in range(60):
        for j in range(3):
            (top / f"s{i:02d}" / f"n{j}").mkdir(parents=True)
            for k in range(40):
                (top / f"s{i:02d}" / f"n{j}" / f"f{k:02d}{suffix}").write_text("x")


def test_readtree_streams(gofer: Gofer, client: GoferClient, tree: Path) -> None:
    """readtree_start: listings are taken as they come, before the reply has ended; any
    other request gets its own reply (the reply's messages that came before it are kept
    for the fetch); a failed one says why."""
    _make_tree(tree / "d", "")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    names = [f"s{i:02d}".encode() for i in range(60)]
    fetch = client.readtree_start(root, [b"d"], names, 100000)
    first = fetch.take((b"s00",))
    assert first is not None and {n for n, _ in first} == {b"n0", b"n1", b"n2"}
    assert not fetch.done  # ~7,400 entries: far more than one channel buffer holds
    assert fetch.take((b"s00", b"n1")) is not None
    assert fetch.take((b"s00", b"n1")) is None  # taken already
    # Another request: its own reply, whether the gofer answered it between the stream's
    # messages or after them.
    assert {n for n, _ in client.readdirstat(root)} == {b"d", b"file", b"lnk"}
    fetch.wait()
    assert fetch.done and fetch.error is None and len(fetch.tops) == 60
    last = fetch.take((b"s59", b"n2"))
    assert last is not None and len(last) == 40
    assert fetch.take((b"nothing",)) is None
    bad = client.readtree_start(root, [b"missing"], names, 10)
    assert bad.take((b"s00",)) is None and bad.done
    assert bad.error is not None and bad.error.errno == errno.ENOENT
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_readtree_answers_requests_between_its_messages(gofer: Gofer, client: GoferClient,
                                                        tree: Path) -> None:
    """Requests sent while a Treadtree's reply streams are answered between two of its
    messages, not after its end: their replies come while the fetch is not done (the
    stream's messages before each are kept for the fetch), a reply with a fd and a
    failing one among them; another Treadtree meanwhile waits for the first to end;
    both fetches complete as they would alone, and nothing leaks.  (A stream lists for
    tens of ms here; a test process kept off the CPU that long sees it end first: up to
    three tries.)"""
    _make_tree(tree / "d", "-" + "y" * 60)
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    names = [f"s{i:02d}".encode() for i in range(60)]
    between = 0
    for _ in range(3):
        fetch = client.readtree_start(root, [b"d"], names, 100000)
        assert fetch.take((b"s00",)) is not None
        h, st, fd = client.walkopen(root, [b"file"], os.O_RDONLY)
        answered_between = not fetch.done
        assert os.read(fd, 100) == b"0123456789" and stat.S_ISREG(st.mode)
        os.close(fd)
        client.close(h)
        with pytest.raises(OSError) as e:
            client.walk(root, [b"missing"])
        assert e.value.errno == errno.ENOENT
        again = client.readtree_start(root, [b"d"], names[:2], 100000)  # (after the first)
        assert fetch.done and fetch.error is None and len(fetch.tops) == 60
        assert sum(len(fetch.take((f"s{i:02d}".encode(), b"n2")) or ()) for i in range(60)) \
            == 60 * 40
        again.wait()
        assert again.error is None and again.tops == {b"s00", b"s01"}
        between += answered_between
        if between:
            break
    assert between, "every request was answered after the stream's end"
    assert not client.broken
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base


def test_readtree_reply_is_sent_whole_unread(gofer: Gofer, client: GoferClient,
                                             tree: Path) -> None:
    """The gofer's end of the channel holds a whole Treadtree reply of this size: the
    gofer sends all of it while the sentry reads none (a walk goes on meanwhile), so that
    a request the walk makes later waits for the rest to be read, not produced."""
    _make_tree(tree / "d", "-" + "x" * 40)
    root, _ = client.attach(0)
    names = [f"s{i:02d}".encode() for i in range(60)]
    fetch = client.readtree_start(root, [b"d"], names, 100000)
    # Wait until the gofer stopped working (asleep, no CPU time for 0.4 s): done, or
    # stopped on a full channel.
    deadline = time.monotonic() + 20
    last, quiet = procs.cpu_time(gofer.pid), 0
    while quiet < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = procs.cpu_time(gofer.pid)
        quiet = quiet + 1 if now == last and now[0] == "S" else 0
        last = now
    fetch.poll()  # what has come, without waiting for more
    assert fetch.done and fetch.error is None and len(fetch.tops) == 60
    assert len(fetch.results) == 60 * 4
    assert sum(len(fetch.take((f"s{i:02d}".encode(), b"n0")) or ()) for i in range(60)) == 2400


def test_listing_loop_in_c_matches_its_python_twin(tmp_path: Path) -> None:
    """Treaddirstat's and Treadtree's listing loop (native/src/listing.c) gives what the
    Python loop gives: every kind of entry (files, a FIFO, directories, symlinks with
    short and PATH_MAX-long targets, a mount point: its inode number only), names up to
    NAME_MAX, a listing past one batch; each batch within the budget unless it is one
    entry, and the subdirectories a Treadtree visits next."""
    import socket

    from gofer import server as gs
    from gofer.protocol import PackedEntries, _pack_stat_entries, _unpack_stat_entries

    assert gs._nlib is not None, "the native extension is not built (scripts/setup.sh)"
    d = tmp_path / "d"
    (d / "sub" / "inner").mkdir(parents=True)
    (d / "mnt").mkdir()
    (d / "file").write_bytes(b"x" * 5000)
    os.mkfifo(d / "fifo")
    os.symlink("sub/inner", d / "short")
    os.symlink("t" * 4095, d / "longest")
    for i in range(400):
        (d / (f"{i:03d}" + "n" * 252)).write_bytes(b"")
    subprocess.run(["mount", "-t", "tmpfs", "none", str(d / "mnt")], check=True)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        srv = gs.GoferServer(a, [])
        dev = os.stat(d).st_dev
        budget = 16384

        def run(python: bool) -> list:
            srv.python_listing = python
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                return srv._entry_batches(fd, dev, budget)
            finally:
                os.close(fd)

        c_batches, py_batches = run(False), run(True)
    finally:
        subprocess.run(["umount", str(d / "mnt")], check=True)
        a.close()
        b.close()
    assert all(isinstance(x, PackedEntries) for x in c_batches) and len(c_batches) > 1

    def entries(batches: list) -> list:
        out = []
        for x in batches:
            out += _unpack_stat_entries(_pack_stat_entries(x), 0)
        return out

    got, want = entries(c_batches), entries(py_batches)
    assert [(n, s.target if not isinstance(s, int) else s) for n, s in got] == \
        [(n, s.target if not isinstance(s, int) else s) for n, s in want]
    def fields(s: object) -> object:  # (reading a link's target moves its atime)
        return s if isinstance(s, int) else (s.dev, s.ino, s.mode, s.nlink, s.uid, s.gid,
                                             s.rdev, s.size, s.blksize, s.blocks,
                                             s.mtime_ns, s.ctime_ns)

    assert [(n, fields(s)) for n, s in got] == [(n, fields(s)) for n, s in want]
    kinds = dict(got)
    assert isinstance(kinds[b"mnt"], int) and kinds[b"longest"].target == b"t" * 4095
    for x in c_batches:
        assert x.count == 1 or len(x.body) <= budget
    assert list(gs._subdirs(c_batches)) == list(gs._subdirs(py_batches)) == [
        n for n, s in want if not isinstance(s, int) and stat.S_ISDIR(s.mode)]
    assert b"sub" in list(gs._subdirs(c_batches))


def test_native_openat2_is_linux_openat2(tree: Path) -> None:
    """The gofer's openat2 through the native module opens what ctypes' does (the same
    inode, flags and resolve rules) and fails with the same errno."""
    from gofer import server

    assert server._nlib is not None  # the build has the extension
    root = os.open(tree, os.O_PATH | os.O_DIRECTORY)
    try:
        cases = [(b"d/f", os.O_RDONLY, server.RESOLVE), (b"d", os.O_PATH, server.RESOLVE),
                 (b"lnk", os.O_RDONLY, server.RESOLVE), (b"lnk", os.O_PATH | os.O_NOFOLLOW, 0),
                 (b"../outside/secret", os.O_RDONLY, server.RESOLVE), (b"missing", 0, 0),
                 (b"file", os.O_RDONLY | os.O_DIRECTORY, 0), (b"d/f", os.O_RDONLY, 1 << 40)]
        for name, flags, resolve in cases:
            got = []
            for fn in (server._openat2, linux.openat2):
                try:
                    fd = fn(root, name, flags | os.O_CLOEXEC, resolve)
                except OSError as e:
                    got.append(e.errno)
                    continue
                st = os.fstat(fd)
                got.append((st.st_ino, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_LARGEFILE))
                os.close(fd)
            assert got[0] == got[1], (name, got)
        for fn in (server._openat2, linux.openat2):  # a mode without O_CREAT: EINVAL
            with pytest.raises(OSError) as e:
                fn(root, b"d", os.O_PATH, server.RESOLVE, 0o600)
            assert e.value.errno == errno.EINVAL
    finally:
        os.close(root)


def _fd_table_full(then: Callable[[], None]) -> None:
    """Run *then* with this process's soft RLIMIT_NOFILE at the fds it has open (so a
    received fd cannot be installed: MSG_CTRUNC), the limit restored after."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    try:
        # (fill every number below the limit, so the next fd has nowhere to go)
        held = []
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as e:
            assert e.errno == errno.EMFILE
        try:
            then()
        finally:
            for fd in held:
                os.close(fd)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_reply_fd_this_process_cannot_take_fails_that_request_only(
        client: GoferClient, tree: Path) -> None:
    """A reply whose fd cannot be received (the fd table full) fails its request with
    ENFILE; the handle the gofer made for it is closed, a file Tcreate made is removed
    again, and the channel goes on (it was marked broken: EPROTO from then on)."""
    root = client.attach(0)[0]
    before = set(os.listdir(tree))
    errs: list[int] = []

    def requests() -> None:
        for call in (lambda: client.walkopen(root, [b"file"], os.O_RDONLY),
                     lambda: client.create(root, b"lost", os.O_RDWR, 0o644, 0, 0)):
            with pytest.raises(OSError) as e:
                call()
            errs.append(e.value.errno)

    _fd_table_full(requests)
    assert errs == [errno.ENFILE, errno.ENFILE]
    assert set(os.listdir(tree)) == before  # (no "lost")
    h, _, fd = client.walkopen(root, [b"file"], os.O_RDONLY)  # the channel still works
    assert os.read(fd, 100) == (tree / "file").read_bytes()
    os.close(fd)
    client.close(h)


def _gofer_room(pid: int, room: int) -> None:
    """Lower the gofer's soft RLIMIT_NOFILE so that exactly *room* more fds fit."""
    import resource

    used = sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd"))
    limit = 0
    for cand in range(used[-1] + room + 2):
        if cand - sum(1 for fd in used if fd < cand) == room:
            limit = cand
    hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))


def test_out_of_fds_a_walk_fails_whole_and_a_link_is_undone(gofer: Gofer, tree: Path) -> None:
    """The gofer out of fds: a walk whose second name cannot be opened fails with EMFILE
    (it answered the first name only, which the sentry took for a name moved under it:
    ESTALE) and keeps no handle of it; a link whose new name it cannot open is removed
    again (it stayed, and a retry got EEXIST)."""
    client = gofer.client
    root = client.attach(0)[0]
    target = client.walk(root, [b"file"])[0][0]
    count = lambda: len(os.listdir(f"/proc/{gofer.pid}/fd"))  # noqa: E731
    before = count()
    _gofer_room(gofer.pid, 1)
    with pytest.raises(OSError) as e:
        client.walk(root, [b"d", b"e"])
    assert e.value.errno == errno.EMFILE
    assert count() == before
    _gofer_room(gofer.pid, 0)
    with pytest.raises(OSError) as e:
        client.link(root, b"linked", target)
    assert e.value.errno == errno.EMFILE
    assert not (tree / "linked").exists()
    _gofer_room(gofer.pid, 64)
    h, _ = client.link(root, b"linked", target)  # with room, as before
    assert (tree / "linked").read_bytes() == (tree / "file").read_bytes()
    assert client.walk(root, [b"d", b"e"])
