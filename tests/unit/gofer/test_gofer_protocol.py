"""Wire format: every message packs and unpacks to itself; malformed input is refused."""

from __future__ import annotations

import stat
import struct

import pytest

from gofer import protocol as p


def _stat(seed: int = 1) -> p.Stat:
    return p.Stat(
        dev=seed,
        ino=2**63 + seed,
        mode=0o100644,
        nlink=3,
        uid=1000,
        gid=2**32 - 2,
        rdev=0x0103,
        size=2**40,
        blksize=4096,
        blocks=16,
        atime_ns=-5,
        mtime_ns=1_700_000_000_123_456_789,
        ctime_ns=7,
    )


def _dir(seed: int) -> p.Stat:
    st = _stat(seed)
    st.mode = 0o40755
    return st


def _link(target: bytes) -> p.Stat:
    st = _stat(5)
    st.mode = 0o120777
    st.target = target
    return st


SAMPLES: list[p.Message] = [
    p.Tversion(p.PROTOCOL_VERSION),
    p.Rversion(1, p.MAX_MESSAGE),
    p.Tattach(2),
    p.Rattach(7, _stat()),
    p.Twalk(9, [b"a", b"\xff\xfebytes", b"x" * 255]),
    p.Twalk(9, []),
    p.Rwalk([(1, _stat(1)), (2, _stat(2))]),
    p.Rwalk([]),
    p.Tstat(4),
    p.Rstat(_stat(3)),
    p.Topen(4, 0o2 | 0o1000),
    p.Ropen(),
    p.Treadlink(5),
    p.Rreadlink(b"../../etc/passwd"),
    p.Treaddir(6),
    p.Rreaddir([(b"a", 1, 4), (b"bb", 2**64 - 1, 8)], False),
    p.Rreaddir([], True),
    p.Tcreate(1, b"new", 0o101, 0o4755, 1000, 1001),
    p.Rcreate(11, _stat(4)),
    p.Tmkdir(1, b"dir", 0o1777, 0, 0),
    p.Rmkdir(12, _stat(5)),
    p.Tsymlink(1, b"s", b"/abs/target", 5, 6),
    p.Rsymlink(13, _stat(6)),
    p.Tlink(1, b"hard", 13),
    p.Rlink(14, _stat(7)),
    p.Tunlink(1, b"gone", 0x200),
    p.Runlink(),
    p.Trename(1, b"old", 2, b"new", 2),
    p.Rrename(),
    p.Tsetattr(3),
    p.Tsetattr(3, mode=0o644, uid=1, gid=2, size=0, atime_ns=-1, mtime_ns=123),
    p.Tsetattr(3, size=2**40, mtime_ns=-1),
    p.Rsetattr(),
    p.Tstatfs(3),
    p.Rstatfs(0xEF53, 4096, 1, 2, 3, 4, 5, 255, 4096, 0x1026),
    p.Tclose(3),
    p.Rclose(),
    p.Tclosemany([]),
    p.Tclosemany([3, 4, 2**32 - 1]),
    p.Treaddirstat(6, []),
    p.Treaddirstat(6, [b"a", b"b"]),
    p.Rreaddirstat([(b"a", _stat(8)), (b"mnt", 2**64 - 1)], False),
    p.Rreaddirstat([], True),
    p.Tlistalong(6, [b"a"], [b"x", b"y"]),
    p.Tlistalong(6, [], []),
    p.Rlistalong(1),
    p.Rlistalong(p.MAX_ALONG + 1),
    p.Treadtree(6, [b"a"], [b"x", b"y"], 4096),
    p.Treadtree(6, [], [], 0),
    p.Rreadtree([b"x", b"sub"], [(b"a", _stat(8)), (b"mnt", 7)], True, False),
    p.Rreadtree([], [], True, True),
    p.Rreaddirstat([(b"ln", _link(b"target/of/it")), (b"ln0", _link(b""))], True),
    p.Twalkopen(2, [b"dir", b"file"], 0o2000),
    p.Rwalkopen(15, _stat(9)),
    p.Tfetch(1, 0, b"usr/lib/python3.11/os.py"),
    p.Tfetch(2**32 - 1, 0o400000, b"x"),
    p.Rfetch(_stat(10)),
    p.Tlistxattrs(3, [b"tmp", b"a"]),
    p.Rlistxattrs([[b"user.a"], [], [b"user.b", b"user.c"]]),
    p.Rlistxattrs([]),
    p.Tlistxattr(2, []),
    p.Tlistxattr(2, [b"dir", b"file"]),
    p.Rlistxattr([b"user.a", b"user." + b"x" * 250]),
    p.Rlistxattr([]),
    p.Tgetxattr(3, b"user.mime_type"),
    p.Rgetxattr(b"\0\xff" * 100),
    p.Rgetxattr(b""),
    p.Tsetxattr(3, b"user.k", b"v" * p.XATTR_SIZE_MAX, p.XATTR_CREATE),
    p.Tsetxattr(3, b"user.k", b"", 0),
    p.Rsetxattr(),
    p.Tremovexattr(3, b"user.k"),
    p.Rremovexattr(),
    p.Rerror(13),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(msg: p.Message) -> None:
    data = p.encode(msg)
    assert struct.unpack_from("<HH", data) == (msg.MSG_ID, 0)
    assert p.decode(data) == msg
    assert type(msg).unpack(msg.pack()) == msg


def test_listing_carries_symlink_targets() -> None:
    msg = p.decode(p.encode(p.Rreaddirstat([(b"ln", _link(b"t")), (b"f", _stat(1))], True)))
    assert isinstance(msg, p.Rreaddirstat)
    assert [st.target for _, st in msg.entries] == [b"t", None]  # type: ignore[union-attr]
    # A target on anything but a symlink is a malformed reply.
    bad = p.encode(p.Rreaddirstat([(b"ln", _link(b"t"))], True))
    mode_at = bad.index(struct.pack("<I", 0o120777))
    bad = bad[:mode_at] + struct.pack("<I", 0o100644) + bad[mode_at + 4:]
    with pytest.raises(p.ProtocolError):
        p.decode(bad)


def test_walk_carries_symlink_targets() -> None:
    msg = p.decode(p.encode(p.Rwalk([(1, _dir(1)), (2, _link(b"libz.so.1.2.13"))])))
    assert isinstance(msg, p.Rwalk)
    assert [st.target for _, st in msg.entries] == [None, b"libz.so.1.2.13"]
    # A target the server could not read goes empty: unknown, for a Treadlink to ask.
    msg = p.decode(p.encode(p.Rwalk([(3, _link(b""))])))
    assert isinstance(msg, p.Rwalk) and msg.entries[0][1].target is None
    # A symlink's entry cut short before its target is a malformed reply.
    data = p.encode(p.Rwalk([(2, _link(b"t"))]))
    with pytest.raises(p.ProtocolError):
        p.decode(data[:-3])


_LISTINGS = [
    [],
    [(b"f", _stat(1))],
    [(b"ln", _link(b"target/of/it")), (b"ln0", _link(b"")), (b"f", _stat(2)), (b"mnt", 2**64 - 1),
     (b"d" * 255, _stat(3)), (b"sub", _dir(4))],
    [(b"a", _stat(1)), (b"a", _stat(2))],  # a name twice: the last one, as dict() keeps it
]


@pytest.mark.parametrize("entries", _LISTINGS, ids=range(len(_LISTINGS)))
def test_listing_is_the_decoded_entries(entries: list) -> None:
    wire = p._pack_stat_entries(entries)
    decoded = p._unpack_stat_entries(wire, 0)
    listing = p.Listing(len(entries), wire[4:])
    assert listing.wire == decoded.wire == wire[4:]
    want = dict(decoded)
    assert len(listing) == len(want)
    assert list(listing) == list(want) == list(listing.keys())
    assert dict(listing.items()) == want
    assert list(listing.values()) == list(want.values())
    # getdents's view, read from the wire: what decoding each entry gives (an inode
    # number alone is a directory on the host: a mount point)
    assert listing.dirents() == [
        (name, st, 4) if isinstance(st, int) else (name, st.ino, (st.mode & 0o170000) >> 12)
        for name, st in want.items()]
    # a fetch ahead's subdirectories: the entries whose Stat says directory
    assert listing.subdirs() == [name for name, st in want.items()
                                 if not isinstance(st, int) and stat.S_ISDIR(st.mode)]
    for name, st in want.items():
        assert name in listing
        assert listing[name] == st and listing.get(name) == st
        assert getattr(listing[name], "target", None) == getattr(st, "target", None)
        assert listing[name] is listing[name]  # decoded once
    assert b"absent" not in listing and listing.get(b"absent") is None
    with pytest.raises(KeyError):
        listing[b"absent"]


def test_listing_refuses_what_decoding_refuses() -> None:
    entries = [(b"ln", _link(b"t")), (b"f", _stat(1)), (b"m", 5)]
    good = p._pack_stat_entries(entries)[4:]
    mode_at = good.index(struct.pack("<I", 0o120777))
    bad = {
        "short": (3, good[:-1]),
        "trailing": (3, good + b"x"),
        "fewer said": (2, good),
        "more said": (4, good),
        "bad kind": (1, b"\x03" + good[1:]),
        "name past the end": (1, good[:3]),
        "target of a file": (3, good[:mode_at] + struct.pack("<I", 0o100644) + good[mode_at + 4:]),
    }
    assert p.Listing(3, good)  # (the good one parses)
    for count, wire in bad.values():  # (keys: what each one gets wrong)
        with pytest.raises(p.ProtocolError):
            p._unpack_stat_entries(struct.pack("<I", count) + wire, 0)
        with pytest.raises(p.ProtocolError):
            p.Listing(count, wire)


@pytest.mark.parametrize("name", [b"", b".", b"..", b"a/b", b"/", b"a\0b", b"\0", b"x" * 256])
def test_listing_refuses_a_name_that_is_no_file_name(name: bytes) -> None:
    # What getdents would show and the stat cache keep: a broken or hostile gofer's names
    # are refused whole, in any place of the listing (C's wire_name_ok does the same).
    for entries in ([(name, _stat(1))], [(b"a", _stat(1)), (name, 7), (b"b", _dir(2))]):
        wire = p._pack_stat_entries(entries)
        with pytest.raises(p.ProtocolError):
            p._unpack_stat_entries(wire, 0)
        with pytest.raises(p.ProtocolError):
            p.Listing(len(entries), wire[4:])
    # and their neighbours are file names
    for ok in (b"...", b".a", b"a.", b"x" * 255, b"\xff", b" "):
        assert ok in p.Listing(2, p._pack_stat_entries([(b"a", 1), (ok, 2)])[4:])



def test_every_message_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(p.MESSAGES.values())
    assert set(p.MESSAGES) == p.MSG_IDS


def test_stat_pack_unpack() -> None:
    st = _stat(9)
    assert p.Stat.unpack(st.pack()) == st
    with pytest.raises(p.ProtocolError):
        p.Stat.unpack(st.pack()[:-1])


def test_setattr_none_fields_stay_none() -> None:
    msg = p.decode(p.encode(p.Tsetattr(3, uid=0, atime_ns=0)))
    assert isinstance(msg, p.Tsetattr)
    assert (msg.mode, msg.uid, msg.gid, msg.size, msg.atime_ns, msg.mtime_ns) == (
        None,
        0,
        None,
        None,
        0,
        None,
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",
        struct.pack("<HH", 999, 0),  # unknown id
        struct.pack("<HH", p.MsgId.RCLOSE, 1),  # a reply's CPU field set
        struct.pack("<HH", p.MsgId.TSTAT, 0) + b"\0" * 3,  # short body
        struct.pack("<HH", p.MsgId.TSTAT, 0) + b"\0" * 5,  # trailing byte
        struct.pack("<HHIH", p.MsgId.TWALK, 0, 1, 1)
        + struct.pack("<H", 10)
        + b"abc",  # short name
        struct.pack("<HHIH", p.MsgId.TWALK, 0, 1, p.MAX_WALK + 1)
        + b"".join(struct.pack("<H", 1) + b"a" for _ in range(p.MAX_WALK + 1)),
        struct.pack("<HH", p.MsgId.RREADDIR, 0) + struct.pack("<BI", 2, 0),  # bad flag
        struct.pack("<HH", p.MsgId.TSETATTR, 0)
        + struct.pack("<IIIIIQqq", 1, 1 << 9, 0, 0, 0, 0, 0, 0),
        struct.pack("<HH", p.MsgId.ROPEN, 0) + b"x",
        struct.pack("<HHIH", p.MsgId.TSETXATTR, 0, 1, 6) + b"user.a"
        + struct.pack("<I", p.XATTR_SIZE_MAX + 1) + b"v" * (p.XATTR_SIZE_MAX + 1)
        + struct.pack("<I", 0),  # a value longer than Linux takes
        struct.pack("<HHI", p.MsgId.RGETXATTR, 0, 5) + b"abc",  # short value
        struct.pack("<HHIHH", p.MsgId.TLISTALONG, 0, 1, 0, p.MAX_ALONG + 1)
        + b"".join(struct.pack("<H", 1) + b"a" for _ in range(p.MAX_ALONG + 1)),
        struct.pack("<HHH", p.MsgId.RLISTALONG, 0, 0),  # no listing
        struct.pack("<HHH", p.MsgId.RLISTALONG, 0, p.MAX_ALONG + 2),  # more than asked
    ],
)
def test_malformed_is_refused(data: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(data)


@pytest.mark.parametrize(
    "msg",
    [
        p.Tstat(-1),
        p.Tattach(2**32),
        p.Twalk(1, [b"x" * 70000]),
        p.Tcreate(1, b"a", 0, 0, -5, 0),
    ],
)
def test_unencodable_is_refused(msg: p.Message) -> None:
    with pytest.raises(p.ProtocolError):
        p.encode(msg)


def test_oversized_message_is_refused() -> None:
    with pytest.raises(p.ProtocolError):
        p.encode(p.Rreaddir([(b"n" * 255, 1, 8)] * 300, True))


def test_closemany_has_a_bound() -> None:
    body = struct.pack("<H", p.MAX_CLOSE + 1) + b"\0\0\0\0" * (p.MAX_CLOSE + 1)
    data = struct.pack("<HH", p.MsgId.TCLOSEMANY, 0) + body
    with pytest.raises(p.ProtocolError):
        p.decode(data)


def test_spin_budget_follows_what_polling_bought() -> None:
    """Waits that end within the limit let the next poll grow back to it; waits longer than
    the limit (the other side had no CPU) halve it, towards sleeping at once."""
    from gofer.protocol import Spin

    s = Spin(300e-6)
    assert s.budget == 300e-6
    for _ in range(20):
        s.waited(2e-3)
    assert s.budget < 1e-9
    s.waited(50e-6)
    assert s.budget == 10e-6          # a quick answer while sleeping: probe again
    for _ in range(10):
        s.waited(5e-6)
    assert s.budget == 300e-6         # never past the limit


def test_recvmsg_polling_sleeps_once_polling_stopped_paying() -> None:
    """With no budget left the call sleeps in recvmsg at once and still gets the message."""
    import socket
    import threading
    import time

    from gofer.protocol import Spin, recvmsg_polling

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s = Spin(300e-6)
        s.budget = 0.0
        threading.Timer(0.02, lambda: b.send(b"late")).start()
        t0 = time.perf_counter()
        data, _, _, _ = recvmsg_polling(a, 64, 0, 0, s)
        assert data == b"late" and time.perf_counter() - t0 >= 0.015
        assert s.budget == 0.0        # a long wait halves nothing into something
        b.send(b"now")
        assert recvmsg_polling(a, 64, 0, 0, s)[0] == b"now"
        assert s.budget == 10e-6
    finally:
        a.close()
        b.close()


def test_readtree_batch_undecoded() -> None:
    """A Rreadtree's path and flags without decoding its entries (the sentry hands most
    listings on as they came); unpack_entries decodes them as the full decode would."""
    entries = [(b"a", _stat(8)), (b"mnt", 7), (b"ln", _link(b"a"))]
    msg = p.Rreadtree([b"x", b"sub"], entries, True, False)
    got = p.unpack_readtree_batch(p.encode(msg))
    assert got is not None
    path, count, wire, last, done = got
    assert (path, count, last, done) == ([b"x", b"sub"], 3, True, False)
    assert list(p.unpack_entries(count, wire)) == list(p.decode(p.encode(msg)).entries)  # type: ignore[attr-defined]
    assert p.unpack_entries(count, wire).wire == wire
    assert p.unpack_readtree_batch(p.encode(p.Rreadtree([], [], True, True)))[1:] == (
        0, b"", True, True)  # type: ignore[index]
    assert p.unpack_readtree_batch(p.encode(p.Rerror(13))) is None
    data = p.encode(msg)
    deep = data[:5] + struct.pack("<H", p.MAX_WALK + 1) + data[7:]
    # cut in the flags, in a name's length, in a name, in the count; a bad flag; too deep
    for bad in (data[:5], data[:8], data[:9], data[:16], data[:4] + b"\x07" + data[5:], deep):
        with pytest.raises(p.ProtocolError):
            p.unpack_readtree_batch(bad)
    assert p.unpack_readtree_batch(data[:19])[:3] == ([b"x", b"sub"], 3, b"")  # type: ignore[index]
    with pytest.raises(p.ProtocolError):
        p.unpack_entries(count + 1, wire)
    with pytest.raises(p.ProtocolError):
        p.unpack_entries(count, wire[:-1])


def test_a_request_says_its_senders_cpu() -> None:
    """The header's second field: a request's sender's CPU + 1, 0 when not said, 0 in
    every reply (the gofer keeps off that CPU: GoferServer.keep_off)."""
    data = p.encode(p.Tstat(7), 3)
    assert struct.unpack_from("<HH", data) == (p.MsgId.TSTAT, 4)
    assert p.sender_cpu(data) == 3 and p.decode(data) == p.Tstat(7)
    for cpu in (-1, 0xFFFF, 1 << 20):  # not said, or past the field
        assert p.sender_cpu(p.encode(p.Tstat(7), cpu)) == -1
    assert p.sender_cpu(p.encode(p.Tstat(7))) == -1
    reply = p.encode(p.Rclose(), 3)
    assert struct.unpack_from("<HH", reply) == (p.MsgId.RCLOSE, 0)
    assert p.MsgId.TREADTREE in p.REQUEST_IDS and p.MsgId.RREADTREE not in p.REQUEST_IDS


def test_fetch_layout_is_the_one_c_writes_and_reads() -> None:
    """rt.c ``sc_fetch`` writes Tfetch and reads Rfetch (and Rerror) by hand: the header,
    the handle, the flags and the path's length and bytes; the attributes' inode number,
    mode, size and modification time at the offsets it reads them from."""
    assert p.encode(p.Tfetch(0x01020304, 0o400000, b"usr/lib")) == (
        bytes([46, 0, 0, 0]) + (0x01020304).to_bytes(4, "little")
        + (0o400000).to_bytes(4, "little") + (7).to_bytes(2, "little") + b"usr/lib")
    st = p.Stat(dev=11, ino=0x1122334455667788, mode=0o100644, nlink=1, uid=0, gid=0,
                rdev=0, size=0x0A0B0C0D0E, blksize=4096, blocks=8, atime_ns=5,
                mtime_ns=0x0102030405060708, ctime_ns=6)
    data = p.encode(p.Rfetch(st))
    assert data[:4] == bytes([47, 0, 0, 0]) and len(data) == 4 + 92
    body = data[4:]
    assert int.from_bytes(body[8:16], "little") == st.ino
    assert int.from_bytes(body[16:20], "little") == st.mode
    assert int.from_bytes(body[44:52], "little") == st.size
    assert int.from_bytes(body[76:84], "little") == st.mtime_ns
    assert p.encode(p.Rerror(40)) == bytes([255, 0, 0, 0, 40, 0, 0, 0])
