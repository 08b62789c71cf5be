"""Invariant 4: the gofer cannot be led outside its roots.

Each test names the path it tries: symlinks (absolute, relative with '..',
into /proc), '..' and '/' in names, device nodes, FIFOs and sockets, names
swapped under a handle, and the gofer's own view of the host.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from gofer_testlib import Gofer

from gofer.client import GoferClient


def test_symlinks_out_are_returned_not_followed(client: GoferClient, tree: Path) -> None:
    outside = tree.parent / "outside"
    os.symlink(outside, tree / "abs")
    os.symlink("../outside", tree / "rel")
    os.symlink("d/../../outside/secret", tree / "deep")
    os.symlink("/etc/passwd", tree / "passwd")
    root, _ = client.attach(0)
    for name, target in ((b"abs", os.fsencode(outside)), (b"rel", b"../outside"),
                         (b"deep", b"d/../../outside/secret"), (b"passwd", b"/etc/passwd")):
        entries = client.walk(root, [name, b"secret"])
        assert len(entries) == 1, name
        h, st = entries[0]
        assert stat.S_ISLNK(st.mode)
        assert st.ino == os.lstat(tree / name.decode()).st_ino
        assert client.readlink(h) == target
        for flags in (os.O_RDONLY, os.O_RDONLY | os.O_DIRECTORY, os.O_WRONLY):
            with pytest.raises(OSError) as e:
                client.open(h, flags)
            assert e.value.errno == errno.ELOOP
        with pytest.raises(OSError) as e:
            client.readdir(h)
        assert e.value.errno == errno.ENOTDIR
        with pytest.raises(OSError) as e:
            client.walk(h, [b"secret"])
        assert e.value.errno == errno.ENOTDIR


def test_symlink_to_etc_passwd_cannot_be_opened_or_changed(client: GoferClient,
                                                          tree: Path) -> None:
    os.symlink("/etc/passwd", tree / "pw")
    before = os.stat("/etc/passwd")
    root, _ = client.attach(0)
    (h, _), = client.walk(root, [b"pw"])
    with pytest.raises(OSError) as e:
        client.open(h, os.O_RDONLY)
    assert e.value.errno == errno.ELOOP
    with pytest.raises(OSError) as e:
        client.setattr(h, mode=0o666)
    assert e.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as e:
        client.setattr(h, size=0)
    assert e.value.errno == errno.EINVAL
    after = os.stat("/etc/passwd")
    assert (after.st_mode, after.st_size, after.st_mtime_ns) == (
        before.st_mode, before.st_size, before.st_mtime_ns)
    # a hard link to the symlink is the symlink, not /etc/passwd
    _, st = client.link(root, b"pw2", h)
    assert stat.S_ISLNK(st.mode) and os.stat("/etc/passwd").st_nlink == before.st_nlink


@pytest.mark.parametrize("bad", [b"..", b".", b"", b"a/b", b"/etc", b"d/..", b"x\0y"])
def test_bad_names_refused(client: GoferClient, bad: bytes) -> None:
    root, _ = client.attach(0)
    d = client.walk(root, [b"d"])[0][0]
    with pytest.raises(OSError) as e:
        client.walk(d, [bad])
    assert e.value.errno == errno.EINVAL
    # also when the bad name is not the first: nothing is walked at all
    with pytest.raises(OSError) as e:
        client.walk(root, [b"d", bad])
    assert e.value.errno == errno.EINVAL
    calls: list[Callable[[], object]] = [
        lambda: client.create(d, bad, os.O_WRONLY, 0o644, 0, 0),
        lambda: client.mkdir(d, bad, 0o755, 0, 0),
        lambda: client.symlink(d, bad, b"t", 0, 0),
        lambda: client.unlink(d, bad),
        lambda: client.rename(d, b"f", d, bad),
        lambda: client.rename(d, bad, d, b"g"),
        lambda: client.link(d, bad, client.walk(d, [b"f"])[0][0]),
    ]
    for call in calls:
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EINVAL


def test_long_name_refused(client: GoferClient) -> None:
    root, _ = client.attach(0)
    with pytest.raises(OSError) as e:
        client.walk(root, [b"x" * 256])
    assert e.value.errno == errno.ENAMETOOLONG


def test_special_files_refused(client: GoferClient, tree: Path) -> None:
    os.mknod(tree / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(tree / "blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    os.mkfifo(tree / "fifo")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tree / "sock"))
    s.close()
    root, _ = client.attach(0)
    for name, kind in ((b"null", stat.S_IFCHR), (b"blk", stat.S_IFBLK),
                       (b"fifo", stat.S_IFIFO), (b"sock", stat.S_IFSOCK)):
        entries = client.walk(root, [name, b"x"])
        assert len(entries) == 1
        h, st = entries[0]
        assert stat.S_IFMT(st.mode) == kind
        # a FIFO opened for reading would block forever if it were ever opened
        for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            with pytest.raises(OSError) as e:
                client.open(h, flags)
            assert e.value.errno == errno.EACCES, name
        with pytest.raises(OSError) as e:
            client.setattr(h, size=0)
        assert e.value.errno == errno.EINVAL


def test_name_swapped_under_handle_is_stale(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    (h, _), = client.walk(root, [b"file"])
    os.rename(tree / "file", tree / "elsewhere")
    (tree / "file").write_bytes(b"impostor")
    with pytest.raises(OSError) as e:
        client.open(h, os.O_RDONLY)
    assert e.value.errno == errno.ESTALE
    with pytest.raises(OSError) as e:
        client.setattr(h, size=0)
    assert e.value.errno == errno.ESTALE
    assert (tree / "file").read_bytes() == b"impostor"
    with pytest.raises(OSError) as e:
        client.link(root, b"l", h)
    assert e.value.errno == errno.ESTALE
    # swapping in a symlink to a secret is no better
    os.unlink(tree / "file")
    os.symlink(tree.parent / "outside" / "secret", tree / "file")
    with pytest.raises(OSError) as e:
        client.open(h, os.O_RDONLY)
    assert e.value.errno == errno.ESTALE
    os.unlink(tree / "file")
    with pytest.raises(OSError) as e:
        client.open(h, os.O_RDONLY)
    assert e.value.errno == errno.ESTALE
    # a directory handle whose name became a symlink to '/' reads nothing outside
    (d, _), = client.walk(root, [b"d"])
    os.rename(tree / "d", tree / "d.old")
    os.symlink("/", tree / "d")
    for call in (lambda: client.readdir(d), lambda: client.open(d, os.O_RDONLY)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.ESTALE
    # lookups beneath the handle still use the directory it was opened on
    assert client.walk(d, [b"f"])[0][1].ino == os.stat(tree / "d.old" / "f").st_ino
    with pytest.raises(OSError) as e:
        client.walk(d, [b"etc"])
    assert e.value.errno == errno.ENOENT


def test_proc_magic_links_unreachable(start_gofer: Callable[..., Gofer], tree: Path) -> None:
    os.symlink("/proc/self/root", tree / "magic")
    g = start_gofer((tree, False))
    c = g.client
    root, _ = c.attach(0)
    entries = c.walk(root, [b"magic", b"etc"])
    assert len(entries) == 1 and stat.S_ISLNK(entries[0][1].mode)
    h = entries[0][0]
    for flags in (os.O_RDONLY, os.O_RDONLY | os.O_DIRECTORY):
        with pytest.raises(OSError) as e:
            c.open(h, flags)
        assert e.value.errno in (errno.ELOOP, errno.ENOTDIR)
    # /proc itself can never be a root (test_gofer_kernelfs), so its magic links
    # are not reachable at all.


def test_gofer_sees_no_host(gofer: Gofer) -> None:
    pid = gofer.pid
    # its root is an empty tmpfs, and its mount and network namespaces are its own
    assert os.listdir(f"/proc/{pid}/root") == []
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    for ns in ("mnt", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
    with open(f"/proc/{pid}/net/dev") as f:
        devices = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    assert devices == {"lo"}
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f)
    assert status["NoNewPrivs"].strip() == "1"


def test_gofer_holds_only_its_fds(tree: Path, start_gofer: Callable[..., Gofer]) -> None:
    r, w = os.pipe()
    os.set_inheritable(r, True)
    os.set_inheritable(w, True)
    try:
        g = start_gofer((tree, False))
    finally:
        os.close(r)
        os.close(w)
    fds = sorted(int(n) for n in os.listdir(f"/proc/{g.pid}/fd"))
    # stdout, stderr, the channel, and one fd per root: no stdin, no inherited pipe
    assert fds == [1, 2, 3, 4]
    assert os.readlink(f"/proc/{g.pid}/fd/3").startswith("socket:")
