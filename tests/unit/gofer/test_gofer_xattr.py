"""Extended attributes through the gofer: user.* only, on regular files and directories.

The host's trusted.* and security.* attributes are never listed or read, and never set or
removed (a sandbox must not change a host file's security labels); a read-only root
refuses changes with EROFS before any call; names and values past Linux's limits are
refused; a file known only from its directory's listing is listed by walking to it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from gofer_testlib import Gofer

from gofer import protocol as p
from gofer.client import GoferClient


def _errno(call: Callable[..., object], *args: object) -> int:
    with pytest.raises(OSError) as e:
        call(*args)
    return e.value.errno


def _walk1(c: GoferClient, h: int, *names: bytes) -> int:
    entries = c.walk(h, list(names))
    assert len(entries) == len(names)
    return entries[-1][0]


def test_user_attributes_round_trip(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    f = _walk1(client, root, b"file")
    assert client.listxattr(f) == []
    client.setxattr(f, b"user.a", b"one")
    client.setxattr(f, b"user.empty", b"")
    assert os.getxattr(tree / "file", "user.a") == b"one"
    assert sorted(client.listxattr(f)) == [b"user.a", b"user.empty"]
    assert client.getxattr(f, b"user.a") == b"one"
    assert client.getxattr(f, b"user.empty") == b""
    big = bytes(range(256)) * 16  # 4 KiB: what ext4 keeps in one block, less its header
    client.setxattr(f, b"user.big", big[:3000])
    assert client.getxattr(f, b"user.big") == big[:3000]
    assert _errno(client.setxattr, f, b"user.a", b"x", p.XATTR_CREATE) == errno.EEXIST
    assert _errno(client.setxattr, f, b"user.b", b"x", p.XATTR_REPLACE) == errno.ENODATA
    client.setxattr(f, b"user.a", b"two", p.XATTR_REPLACE)
    assert os.getxattr(tree / "file", "user.a") == b"two"
    client.removexattr(f, b"user.a")
    assert _errno(client.getxattr, f, b"user.a") == errno.ENODATA
    assert _errno(client.removexattr, f, b"user.a") == errno.ENODATA
    d = _walk1(client, root, b"d")
    client.setxattr(d, b"user.dir", b"1")
    assert client.listxattr(d) == [b"user.dir"]


def test_list_walks_to_a_file_without_a_handle(client: GoferClient, tree: Path) -> None:
    os.setxattr(tree / "d" / "f", "user.deep", b"v")
    root, _ = client.attach(0)
    assert client.listxattr(root, [b"d", b"f"]) == [b"user.deep"]
    assert client.listxattr(root, [b"d"]) == []
    assert _errno(client.listxattr, root, [b"d", b"missing"]) == errno.ENOENT
    assert _errno(client.listxattr, root, [b".."]) == errno.EINVAL


def test_other_namespaces_are_never_served(client: GoferClient, tree: Path) -> None:
    """The host's trusted.* and security.* attributes stay the host's: not listed, read,
    set or removed, whatever a (compromised) sentry asks."""
    os.setxattr(tree / "file", "trusted.host", b"secret")
    os.setxattr(tree / "file", "security.label", b"host")
    os.setxattr(tree / "file", "user.ok", b"1")
    root, _ = client.attach(0)
    f = _walk1(client, root, b"file")
    assert client.listxattr(f) == [b"user.ok"]
    for name in (b"trusted.host", b"security.label", b"system.posix_acl_access", b"user."):
        assert _errno(client.getxattr, f, name) == errno.ENODATA, name
    for name in (b"trusted.host", b"trusted.new", b"security.label", b"security.capability",
                 b"system.posix_acl_access", b"other.x", b"user."):
        assert _errno(client.setxattr, f, name, b"x") == errno.EOPNOTSUPP, name
        assert _errno(client.removexattr, f, name) == errno.EOPNOTSUPP, name
    assert os.getxattr(tree / "file", "trusted.host") == b"secret"
    assert os.getxattr(tree / "file", "security.label") == b"host"


def test_limits_and_bad_requests(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    f = _walk1(client, root, b"file")
    assert _errno(client.getxattr, f, b"user." + b"n" * 251) == errno.ERANGE
    assert _errno(client.setxattr, f, b"user.a\0b", b"x") == errno.ERANGE
    assert _errno(client.setxattr, f, b"user.a", b"x", 4) == errno.EINVAL
    assert _errno(client.setxattr, f, b"user.new", b"x", 3) == errno.ENODATA  # as Linux
    assert _errno(client.getxattr, 999, b"user.a") == errno.EBADF
    # Only regular files and directories: a symlink or a FIFO is not opened.
    lnk = _walk1(client, root, b"lnk")
    assert _errno(client.listxattr, lnk) == errno.ELOOP
    assert _errno(client.setxattr, lnk, b"user.a", b"x") == errno.ELOOP
    os.mkfifo(tree / "fifo")
    fifo = _walk1(client, root, b"fifo")
    assert _errno(client.getxattr, fifo, b"user.a") == errno.EACCES


def test_read_only_root_refuses_changes(tree: Path, start_gofer: Callable[..., Gofer]) -> None:
    os.setxattr(tree / "file", "user.kept", b"v")
    c = start_gofer((tree, True)).client
    root, _ = c.attach(0)
    f = _walk1(c, root, b"file")
    assert c.listxattr(f) == [b"user.kept"]
    assert c.getxattr(f, b"user.kept") == b"v"
    assert _errno(c.setxattr, f, b"user.new", b"x") == errno.EROFS
    assert _errno(c.removexattr, f, b"user.kept") == errno.EROFS
    assert os.listxattr(tree / "file") == ["user.kept"]


def test_lists_of_every_file_a_walk_passes(gofer: Gofer, client: GoferClient,
                                           tree: Path) -> None:
    """Tlistxattrs: each file's user.* names, in the walk's order (what a copy-up of a
    path's directories needs, in one round trip), the same as a Tlistxattr of each; at
    least one name; a missing one is ENOENT; nothing is registered or leaked."""
    os.setxattr(tree / "d", "user.on-d", b"1")
    os.setxattr(tree / "d" / "f", "user.on-f", b"2")
    root, _ = client.attach(0)
    base = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    assert client.listxattrs(root, [b"d", b"e"]) == [[b"user.on-d"], []]
    assert client.listxattrs(root, [b"d", b"f"]) == [[b"user.on-d"], [b"user.on-f"]]
    assert client.listxattrs(root, [b"d", b"f"]) == [client.listxattr(root, [b"d"]),
                                                     client.listxattr(root, [b"d", b"f"])]
    d = _walk1(client, root, b"d")
    assert client.listxattrs(d, [b"f"]) == [[b"user.on-f"]]
    client.close(d)
    assert _errno(client.listxattrs, root, []) == errno.EINVAL
    assert _errno(client.listxattrs, root, [b"d", b"missing"]) == errno.ENOENT
    assert _errno(client.listxattrs, root, [b".."]) == errno.EINVAL
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == base
