"""A hostile client gets errors, never a crash: the server keeps serving.

Also the client's side: a malformed reply is EPROTO and poisons the channel.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from gofer_testlib import Gofer, socketpair

from gofer import protocol as p
from gofer.client import GoferClient


def _ask(sock: socket.socket, data: bytes, fds: list[int] | None = None) -> p.Message:
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)
    reply, anc, _, _ = sock.recvmsg(p.MAX_MESSAGE, socket.CMSG_SPACE(16))
    assert anc == []
    return p.decode(reply)


def _assert_serving(g: Gofer, tree: Path) -> None:
    root, st = g.client.attach(0)
    assert st.ino == os.stat(tree).st_ino
    g.client.close(root)
    assert os.waitpid(g.pid, os.WNOHANG) == (0, 0)


def test_requests_before_version(tree: Path, start_gofer: Callable[..., Gofer]) -> None:
    g = start_gofer((tree, False), version=False)
    assert _ask(g.sock, p.encode(p.Tattach(0))) == p.Rerror(errno.EPROTO)
    assert _ask(g.sock, p.encode(p.Tversion(p.PROTOCOL_VERSION + 1))) == p.Rerror(
        errno.EPROTONOSUPPORT)
    with pytest.raises(OSError) as e:
        g.client.attach(0)
    assert e.value.errno == errno.EPROTO
    assert g.client.version() == p.PROTOCOL_VERSION
    _assert_serving(g, tree)


@pytest.mark.parametrize("data", [
    b"\x00",
    b"\xff\xff\x00\x00",
    struct.pack("<HH", p.MsgId.RATTACH, 7) + b"\0" * 108,       # a reply, its CPU field set
    struct.pack("<HH", p.MsgId.TSTAT, 0),
    struct.pack("<HH", p.MsgId.TWALK, 0) + struct.pack("<IH", 1, 5) + b"\x01\x00a",
    struct.pack("<HH", p.MsgId.RATTACH, 0) + b"\0" * 108,       # a reply sent as a request
    p.encode(p.Rerror(1)),
    struct.pack("<HH", p.MsgId.TSETATTR, 0) + b"\xff" * 44,
    b"\x03\x00\x00\x00" + b"x" * (p.MAX_MESSAGE + 100),           # truncated by the server
], ids=lambda d: d[:6].hex())
def test_garbage_gets_einval(gofer: Gofer, tree: Path, data: bytes) -> None:
    assert _ask(gofer.sock, data) == p.Rerror(errno.EINVAL)
    _assert_serving(gofer, tree)


def test_empty_datagram_is_not_eof(gofer: Gofer, tree: Path) -> None:
    assert _ask(gofer.sock, b"") == p.Rerror(errno.EINVAL)
    _assert_serving(gofer, tree)


def test_fds_sent_to_server_are_refused_and_closed(gofer: Gofer, tree: Path) -> None:
    before = len(os.listdir(f"/proc/{gofer.pid}/fd"))
    r, w = os.pipe()
    try:
        reply = _ask(gofer.sock, p.encode(p.Tattach(0)), [r, w, r, w])
    finally:
        os.close(r)
        os.close(w)
    assert reply == p.Rerror(errno.EINVAL)
    assert len(os.listdir(f"/proc/{gofer.pid}/fd")) == before
    _assert_serving(gofer, tree)


@pytest.mark.parametrize("handle", [0, 999, 2**32 - 1])
def test_bad_handles_are_ebadf(client: GoferClient, handle: int) -> None:
    root, _ = client.attach(0)
    calls: list[Callable[[], object]] = [
        lambda: client.stat(handle),
        lambda: client.walk(handle, [b"d"]),
        lambda: client.open(handle, os.O_RDONLY),
        lambda: client.readlink(handle),
        lambda: client.readdir(handle),
        lambda: client.create(handle, b"x", os.O_WRONLY, 0o644, 0, 0),
        lambda: client.mkdir(handle, b"x", 0o755, 0, 0),
        lambda: client.symlink(handle, b"x", b"t", 0, 0),
        lambda: client.link(root, b"x", handle),
        lambda: client.link(handle, b"x", root),
        lambda: client.unlink(handle, b"x"),
        lambda: client.rename(handle, b"x", root, b"y"),
        lambda: client.rename(root, b"file", handle, b"y"),
        lambda: client.setattr(handle, mode=0o644),
        lambda: client.statfs(handle),
        lambda: client.close(handle),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EBADF, i


def test_out_of_range_arguments(client: GoferClient, tree: Path) -> None:
    root, _ = client.attach(0)
    (f, _), = client.walk(root, [b"file"])
    for call, code in (
        (lambda: client.setattr(f, size=2**63 + 5), errno.EINVAL),
        (lambda: client.setattr(f, atime_ns=-(2**63)), None),
        (lambda: client.open(f, 0xFFFFFFFF), errno.EINVAL),
        (lambda: client.unlink(root, b"file", 0xFFFFFFFF), errno.EINVAL),
        (lambda: client.rename(root, b"file", root, b"x", 0xFFFFFFFF), errno.EINVAL),
        (lambda: client.symlink(root, b"s", b"t" * 5000, 0, 0), errno.ENAMETOOLONG),
        (lambda: client.stat(-1), errno.EINVAL),
    ):
        try:
            call()
        except OSError as e:
            assert code is None or e.errno == code
        else:
            assert code is None
    assert (tree / "file").read_bytes() == b"0123456789"
    assert client.stat(f).ino == os.stat(tree / "file").st_ino


def _fuzz_request(rng: random.Random) -> bytes:
    """A valid request on small handles and a few names, then maybe mangled."""
    names = [b"d", b"f", b"e", b"file", b"lnk", b"z", b"..", b"a/b"]

    def h() -> int:
        return rng.randrange(8)

    def name() -> bytes:
        return rng.choice(names)

    makers: list[Callable[[], p.Message]] = [
        lambda: p.Tattach(rng.randrange(2)),
        lambda: p.Twalk(h(), [name() for _ in range(rng.randrange(4))]),
        lambda: p.Tstat(h()),
        lambda: p.Topen(h(), rng.choice([0, 1, 2, 0o1000, 0o200000, 0o100, 0xFFFF])),
        lambda: p.Treadlink(h()),
        lambda: p.Treaddir(h()),
        lambda: p.Tcreate(h(), name(), rng.choice([0, 1, 2, 0o200000]), 0o644, 0, 0),
        lambda: p.Tmkdir(h(), name(), 0o755, 1, 1),
        lambda: p.Tsymlink(h(), name(), name(), 0, 0),
        lambda: p.Tlink(h(), name(), h()),
        lambda: p.Tunlink(h(), name(), rng.choice([0, 0x200, 1])),
        lambda: p.Trename(h(), name(), h(), name(), rng.choice([0, 1, 2, 3, 4])),
        lambda: p.Tsetattr(h(), mode=rng.choice([None, 0o755]), size=rng.choice([None, 0, 5]),
                           mtime_ns=rng.choice([None, -1, 0])),
        lambda: p.Tstatfs(h()),
        lambda: p.Tclose(h()),
    ]
    msg = rng.choice(makers)()
    data = bytearray(p.encode(msg))
    mangle = rng.random()
    if mangle < 0.2:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif mangle < 0.3:
        del data[rng.randrange(len(data)):]
    elif mangle < 0.4:
        data += bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 9)))
    return bytes(data)


def test_fuzz_keeps_serving(gofer: Gofer, tree: Path) -> None:
    rng = random.Random(1234)
    kinds: set[type[p.Message]] = set()
    for _ in range(1000):
        gofer.sock.send(_fuzz_request(rng))
        while True:
            data, anc, _, _ = gofer.sock.recvmsg(p.MAX_MESSAGE, socket.CMSG_SPACE(16))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    for fd in struct.unpack(f"<{len(payload) // 4}i", payload):
                        os.close(fd)
            reply = p.decode(data)
            kinds.add(type(reply))
            if not (isinstance(reply, p.Rreaddir) and not reply.last):
                break
    # most operations got past decoding into the handlers and succeeded
    assert len(kinds) > 10, kinds
    assert os.waitpid(gofer.pid, os.WNOHANG) == (0, 0)
    h, _ = gofer.client.attach(0)
    assert gofer.client.stat(h).ino == os.stat(tree).st_ino


# ---- the client facing a broken server ---------------------------------------


def test_client_malformed_reply_poisons_channel() -> None:
    a, b = socketpair()
    with a, b:
        c = GoferClient(a)
        b.send(b"\x01")  # queued before the request: the client reads it as the reply
        with pytest.raises(OSError) as e:
            c.stat(1)
        assert e.value.errno == errno.EPROTO
        with pytest.raises(OSError) as e:
            c.stat(1)
        assert e.value.errno == errno.EPROTO


def test_client_wrong_reply_type_and_stray_fds() -> None:
    a, b = socketpair()
    r, w = os.pipe()
    with a, b:
        c = GoferClient(a)
        socket.send_fds(b, [p.encode(p.Rclose())], [r])
        os.close(r)
        with pytest.raises(OSError) as e:
            c.stat(1)
        assert e.value.errno == errno.EPROTO
        # the stray fd was closed by the client: the pipe has no reader left
        with pytest.raises(BrokenPipeError):
            os.write(w, b"x")
    os.close(w)


def test_client_open_reply_without_fd() -> None:
    a, b = socketpair()
    with a, b:
        c = GoferClient(a)
        b.send(p.encode(p.Ropen()))
        with pytest.raises(OSError) as e:
            c.open(1, os.O_RDONLY)
        assert e.value.errno == errno.EPROTO


def test_client_error_reply_closes_fds() -> None:
    a, b = socketpair()
    r, w = os.pipe()
    with a, b:
        c = GoferClient(a)
        socket.send_fds(b, [p.encode(p.Rerror(errno.EACCES))], [r])
        os.close(r)
        with pytest.raises(OSError) as e:
            c.open(1, os.O_RDONLY)
        assert e.value.errno == errno.EACCES
        with pytest.raises(BrokenPipeError):
            os.write(w, b"x")
        # an error reply is well-formed: the channel stays usable
        b.send(p.encode(p.Rstat(p.Stat(*range(13)))))
        assert c.stat(1).ino == 1
    os.close(w)


def test_client_sees_server_hang_up() -> None:
    a, b = socketpair()
    with a:
        c = GoferClient(a)
        b.close()
        with pytest.raises(OSError) as e:
            c.stat(1)
        assert e.value.errno in (errno.EPIPE, errno.ECONNRESET)
