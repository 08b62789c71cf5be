"""The gofer wire protocol: versioned, binary, handle based.

One message is one SOCK_SEQPACKET datagram: a 4-byte header (``<HH``: message
id, then the CPU the sender of a request is on + 1, 0 when it does not say and
in every reply: :data:`HEADER`) followed by the message body, all little-endian.
Requests are ``T*`` messages, replies ``R*``; every
request is answered by its ``R*`` message or by :class:`Rerror`.  ``Tversion``
must be the first request on a channel and its layout never changes.

Handles are u32 names of server-side O_PATH fds.  Host fds (from ``Topen`` and
``Tcreate``) travel as SCM_RIGHTS ancillary data on the reply.  ``Treaddir`` is
answered by a sequence of ``Rreaddir`` messages, the last one flagged.

Extended attributes (``Tlistxattr``, ``Tgetxattr``, ``Tsetxattr``, ``Tremovexattr``,
lisafs's ``FListXattr`` …) are ``user.*`` only: the server lists no other namespace,
reads none (``ENODATA``) and sets or removes none (``EOPNOTSUPP``), so a sandbox never
reads or changes a host file's security labels or trusted attributes.  A message holds
a value of ``XATTR_SIZE_MAX`` (64 KiB) with its name: :data:`MAX_MESSAGE` leaves room.

Every message is a dataclass with ``pack() -> bytes`` (body) and
``unpack(body) -> message``; :func:`encode` and :func:`decode` add and parse
the header.  Malformed input raises :class:`ProtocolError`.
"""

from __future__ import annotations

import abc
import os
import _socket as socket
import stat
import struct
import time
from collections.abc import Iterable, Iterator

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self, TypeGuard, dataclass_transform
else:
    def dataclass_transform() -> object:  # (tells type checkers only)
        return lambda f: f

PROTOCOL_VERSION = 6

#: Largest datagram either side sends or accepts: an extended attribute's value of
#: XATTR_SIZE_MAX with its name and the header fit.
MAX_MESSAGE = 65536 + 4096
#: Extended attributes: longest name, largest value, longest list (Linux's limits).
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
XATTR_CREATE = 1
XATTR_REPLACE = 2
#: The one namespace of extended attributes the gofer serves.
XATTR_USER_PREFIX = b"user."
#: Most names one Twalk may carry (the client splits longer walks).
MAX_WALK = 128
#: Twalkopen's flag for "open it if it is a regular file everyone may read, else just
#: walk to it": the sentry's lookup of a name about to be opened read-only, which may be
#: a symlink, a directory or a device it then handles as a walked name, or a file only
#: some may read, which it checks the opener may before asking for the fd (so the gofer
#: opens nothing on the host that no sandbox user may).  No open(2) flag has this bit.
WALKOPEN_OR_WALK = 1 << 31
#: With WALKOPEN_OR_WALK: when the name is a symlink to a sibling (its target a name, no
#: slash: a library's soname link, gcc -> gcc-12), the gofer also walks to (or opens, as
#: the flag says) what it names in the same directory, up to SIBLING_HOPS links, each
#: one more message of the reply (:func:`sibling_target` says whether one follows): the
#: lookup of the link and then of its target were two round trips.
WALKOPEN_SIBLINGS = 1 << 30
SIBLING_HOPS = 4
MAX_CLOSE = 256
NAME_MAX = 255
PATH_MAX = 4096


class ProtocolError(ValueError):
    """A message that does not decode: the server answers it with EINVAL."""


class MsgId:
    """Message type ids, the header's u16 (plain ints: an IntEnum of them, with the enum
    module, was ~1 ms of every sentry's start); :data:`MSG_IDS` holds them all."""

    TVERSION = 1
    RVERSION = 2
    TATTACH = 3
    RATTACH = 4
    TWALK = 5
    RWALK = 6
    TSTAT = 7
    RSTAT = 8
    TOPEN = 9
    ROPEN = 10
    TREADLINK = 11
    RREADLINK = 12
    TREADDIR = 13
    RREADDIR = 14
    TCREATE = 15
    RCREATE = 16
    TMKDIR = 17
    RMKDIR = 18
    TSYMLINK = 19
    RSYMLINK = 20
    TLINK = 21
    RLINK = 22
    TUNLINK = 23
    RUNLINK = 24
    TRENAME = 25
    RRENAME = 26
    TSETATTR = 27
    RSETATTR = 28
    TSTATFS = 29
    RSTATFS = 30
    TCLOSE = 31
    RCLOSE = 32
    TCLOSEMANY = 33
    TREADDIRSTAT = 34
    RREADDIRSTAT = 35
    TWALKOPEN = 36
    RWALKOPEN = 37
    TLISTXATTR = 38
    RLISTXATTR = 39
    TGETXATTR = 40
    RGETXATTR = 41
    TSETXATTR = 42
    RSETXATTR = 43
    TREMOVEXATTR = 44
    RREMOVEXATTR = 45
    TFETCH = 46
    RFETCH = 47
    TLISTXATTRS = 48
    RLISTXATTRS = 49
    TREADTREE = 60
    RREADTREE = 61
    TLISTALONG = 62
    RLISTALONG = 63
    RERROR = 255


#: Every message starts with its id and a field that is 0 in a reply and, in a request,
#: the CPU the client is on + 1 (0: not said): the gofer keeps off that CPU
#: (:meth:`gofer.server.GoferServer.keep_off`).
HEADER = struct.Struct("<HH")
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_HAS_LEN = struct.Struct("<BH")
#: A Stat's inode number and mode, as Stat.STRUCT lays them out (after its dev).
_INO_MODE = struct.Struct("<8xQI")
#: A directory's ``d_type`` (DT_DIR: its mode's type bits, as every d_type).
_DT_DIR = stat.S_IFDIR >> 12


class _Reader:
    """Sequential decoder over one body; every short read is a ProtocolError."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._off = 0

    def _take(self, s: struct.Struct) -> int:
        if self._off + s.size > len(self._data):
            raise ProtocolError("message too short")
        (v,) = s.unpack_from(self._data, self._off)
        self._off += s.size
        return int(v)

    def u8(self) -> int:
        return self._take(_U8)

    def u16(self) -> int:
        return self._take(_U16)

    def u32(self) -> int:
        return self._take(_U32)

    def u64(self) -> int:
        return self._take(_U64)

    def i64(self) -> int:
        return self._take(_I64)

    def raw(self, n: int) -> bytes:
        if self._off + n > len(self._data):
            raise ProtocolError("message too short")
        v = bytes(self._data[self._off:self._off + n])
        self._off += n
        return v

    def name(self) -> bytes:
        return self.raw(self.u16())

    @property
    def offset(self) -> int:
        return self._off

    def stat(self) -> Stat:
        return Stat.unpack(self.raw(Stat.STRUCT.size))

    def end(self) -> None:
        if self._off != len(self._data):
            raise ProtocolError("trailing bytes in message")


def _name(b: bytes) -> bytes:
    if len(b) > 0xFFFF:
        raise ProtocolError("name too long to encode")
    return _U16.pack(len(b)) + b


@dataclass_transform()
def dataclass(cls: Any) -> Any:
    """A light ``dataclasses.dataclass``: the fields (annotations that are not ClassVars,
    bases first) get a positional/keyword ``__init__`` (class attributes are defaults),
    ``__eq__`` and ``__repr__`` from :class:`_Fields`.  ``dataclasses`` builds and
    compiles code for each of the ~45 classes at import, about 25 ms of every sentry's and
    gofer's start."""
    fields: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, ann in klass.__dict__.get("__annotations__", {}).items():
            if "ClassVar" not in str(ann) and name not in fields:
                fields.append(name)
    cls._fields = tuple(fields)
    return cls


class _Fields:
    _fields: ClassVar[tuple[str, ...]] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, *args: Any, **kw: Any) -> None:
        names = self._fields
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}: too many arguments")
        for name, value in zip(names, args, strict=False):
            setattr(self, name, value)
        for name in names[len(args):]:
            if name in kw:
                setattr(self, name, kw.pop(name))
            elif not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__}: missing {name}")
        if kw:
            raise TypeError(f"{type(self).__name__}: unexpected {', '.join(kw)}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"


@dataclass
class Stat(_Fields):
    """File attributes as the host's stat(2) reports them."""

    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    STRUCT: ClassVar[struct.Struct] = struct.Struct("<QQIQIIQqqqqqq")

    def __init__(self, dev: int, ino: int, mode: int, nlink: int, uid: int, gid: int,
                 rdev: int, size: int, blksize: int, blocks: int, atime_ns: int,
                 mtime_ns: int, ctime_ns: int) -> None:
        # Written out: a listing makes one per entry.
        self.dev, self.ino, self.mode, self.nlink, self.uid, self.gid = (
            dev, ino, mode, nlink, uid, gid)
        self.rdev, self.size, self.blksize, self.blocks = rdev, size, blksize, blocks
        self.atime_ns, self.mtime_ns, self.ctime_ns = atime_ns, mtime_ns, ctime_ns
        #: A symlink's target, where a listing or an Rwalk carried it (not a field: not in
        #: pack(); those messages carry it after the attributes).
        self.target: bytes | None = None

    def pack(self) -> bytes:
        return self.STRUCT.pack(
            self.dev, self.ino, self.mode, self.nlink, self.uid, self.gid, self.rdev,
            self.size, self.blksize, self.blocks, self.atime_ns, self.mtime_ns, self.ctime_ns,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Stat:
        if len(data) != cls.STRUCT.size:
            raise ProtocolError("bad Stat size")
        return cls(*cls.STRUCT.unpack(data))

    @classmethod
    def from_os(cls, st: os.stat_result) -> Stat:
        """Build from an :class:`os.stat_result`."""
        return cls(
            st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_rdev,
            st.st_size, st.st_blksize, st.st_blocks, st.st_atime_ns, st.st_mtime_ns,
            st.st_ctime_ns,
        )




class Message(_Fields, abc.ABC):
    """Base of every message; subclasses are (light) dataclasses with a MSG_ID."""

    MSG_ID: ClassVar[int]

    @abc.abstractmethod
    def pack(self) -> bytes:
        """The message body."""

    @classmethod
    @abc.abstractmethod
    def unpack(cls, body: bytes) -> Self:
        """The message a body encodes.  :raises ProtocolError: malformed."""


# ---- messages with no body -------------------------------------------------


class _Empty(Message):
    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, body: bytes) -> Self:
        if body:
            raise ProtocolError("unexpected body")
        return cls()


@dataclass
class Ropen(_Empty):
    """The opened fd rides along as SCM_RIGHTS."""

    MSG_ID: ClassVar[int] = MsgId.ROPEN


@dataclass
class Runlink(_Empty):
    MSG_ID: ClassVar[int] = MsgId.RUNLINK


@dataclass
class Rrename(_Empty):
    MSG_ID: ClassVar[int] = MsgId.RRENAME


@dataclass
class Rsetattr(_Empty):
    MSG_ID: ClassVar[int] = MsgId.RSETATTR


@dataclass
class Rclose(_Empty):
    MSG_ID: ClassVar[int] = MsgId.RCLOSE


@dataclass
class Rsetxattr(_Empty):
    MSG_ID: ClassVar[int] = MsgId.RSETXATTR


@dataclass
class Rremovexattr(_Empty):
    MSG_ID: ClassVar[int] = MsgId.RREMOVEXATTR


# ---- messages naming one handle --------------------------------------------


class _HandleOnly(Message):
    handle: int

    def pack(self) -> bytes:
        return _U32.pack(self.handle)

    @classmethod
    def unpack(cls, body: bytes) -> Self:
        r = _Reader(body)
        msg = cls(r.u32())  # type: ignore[call-arg]
        r.end()
        return msg


@dataclass
class Tstat(_HandleOnly):
    MSG_ID: ClassVar[int] = MsgId.TSTAT
    handle: int


@dataclass
class Treadlink(_HandleOnly):
    MSG_ID: ClassVar[int] = MsgId.TREADLINK
    handle: int


@dataclass
class Treaddir(_HandleOnly):
    MSG_ID: ClassVar[int] = MsgId.TREADDIR
    handle: int


def _pack_walk(handle: int, names: list[bytes]) -> bytes:
    return _U32.pack(handle) + _U16.pack(len(names)) + b"".join(_name(n) for n in names)


def _unpack_walk(r: _Reader) -> tuple[int, list[bytes]]:
    handle = r.u32()
    count = r.u16()
    if count > MAX_WALK:
        raise ProtocolError("too many names in walk")
    return handle, [r.name() for _ in range(count)]


class _HandleNames(Message):
    """A handle and the names a walk from it takes."""

    handle: int
    names: list[bytes]

    def pack(self) -> bytes:
        return _pack_walk(self.handle, self.names)

    @classmethod
    def unpack(cls, body: bytes) -> Self:
        r = _Reader(body)
        msg = cls(*_unpack_walk(r))  # type: ignore[call-arg]
        r.end()
        return msg


@dataclass
class Treaddirstat(_HandleNames):
    """List the directory ``names`` walks to beneath ``handle`` (``[]``: the handle's
    own) with each entry's attributes, in Rreaddirstat batches.  The walk registers no
    handles."""

    MSG_ID: ClassVar[int] = MsgId.TREADDIRSTAT
    handle: int
    names: list[bytes]


#: Most directories a Tlistalong lists after its first.
MAX_ALONG = 16
#: A directory counts one block per this many subdirectories if that makes more blocks
#: than its size does (:func:`dir_blocks`): ext4 packs ~150 short names into one block,
#: so by size alone /etc (149 entries, 79 of them directories), /usr/share/locale (198)
#: and a git repository's .git/objects (255) were one block and listed at their first
#: lookup, ~0.3-0.6 ms each here, where git status and a C start-up look up a few names
#: in them (~50 us a walk).  git status inside 29.8 -> 27.8 ms (A/B medians of 21), the
#: imports workload the same.
SUBDIRS_PER_BLOCK = 32


def dir_blocks(size: int, nlink: int) -> int:
    """A directory's size in blocks, as the sentry weighs a listing against walks: its
    own size's, or its subdirectories' count (link count less 2) per SUBDIRS_PER_BLOCK
    if that is larger (a file system whose directory sizes say little).  A directory of
    at most one is listed at its first lookup; a Tlistalong lists only those."""
    return max(size // 4096, (nlink - 2) // SUBDIRS_PER_BLOCK)


@dataclass
class Tlistalong(Message):
    """List the directory ``names`` walks to beneath ``handle``, as Treaddirstat does,
    then each directory the names ``along`` go down to from it, one after another, for
    as long as the next is a directory of at most one block (:func:`dir_blocks`)
    reached without a symlink, crossing no mount and on the same device, and the
    entries listed after the first stay under the gofer's budget: an ``Rlistalong``
    saying how many were listed (at least the first), then each one's Rreaddirstat
    batches in order.  The sentry walking through small directories it has not listed
    yet (/tmp/x/repo/.git/refs/heads, site-packages/pkg/__pycache__) made one request a
    directory.  Nothing is registered.  A name along that no walk takes (empty, ``.``,
    ``..``, with a slash, longer than NAME_MAX) fails the request as Twalk's names do
    (EINVAL, ENAMETOOLONG); a directory along that cannot be listed ends the listings
    without an error (the client asks for it on its own, and gets the error then)."""

    MSG_ID: ClassVar[int] = MsgId.TLISTALONG
    handle: int
    names: list[bytes]
    along: list[bytes]

    def pack(self) -> bytes:
        return (_pack_walk(self.handle, self.names) + _U16.pack(len(self.along))
                + b"".join(_name(n) for n in self.along))

    @classmethod
    def unpack(cls, body: bytes) -> Tlistalong:
        r = _Reader(body)
        handle, names = _unpack_walk(r)
        count = r.u16()
        if count > MAX_ALONG:
            raise ProtocolError("too many names along")
        msg = cls(handle, names, [r.name() for _ in range(count)])
        r.end()
        return msg


@dataclass
class Rlistalong(Message):
    """How many listings of a Tlistalong follow (1 + the directories along listed)."""

    MSG_ID: ClassVar[int] = MsgId.RLISTALONG
    count: int

    def pack(self) -> bytes:
        return _U16.pack(self.count)

    @classmethod
    def unpack(cls, body: bytes) -> Rlistalong:
        r = _Reader(body)
        count = r.u16()
        if not 1 <= count <= MAX_ALONG + 1:
            raise ProtocolError("bad listing count")
        msg = cls(count)
        r.end()
        return msg


#: Most subdirectories one Treadtree names.
MAX_TREE_SUBDIRS = 1024


@dataclass
class Treadtree(Message):
    """Listings with attributes (as Treaddirstat) of the subdirectories ``subdirs`` of
    the directory ``names`` walks to beneath ``handle`` and of the directories below
    them, depth first in listing order (the order a tree walk reads them), until about
    ``budget`` entries were sent: each listed directory's batches are Rreadtree
    messages naming its path below that directory, the last one marked ``done``.  A
    directory that cannot be listed, a mount point or a symlink is not descended
    into; the walk registers no handles.  Once its first message is sent, the gofer
    answers other requests that come meanwhile between two of its messages (the client
    tells the reply's messages from theirs by type: no reply to anything else is an
    Rreadtree; the stream never sends an Rerror after its first message); another
    Treadtree then is ``EBUSY``."""

    MSG_ID: ClassVar[int] = MsgId.TREADTREE
    handle: int
    names: list[bytes]
    subdirs: list[bytes]
    budget: int

    def pack(self) -> bytes:
        return (_pack_walk(self.handle, self.names) + _U32.pack(self.budget)
                + _U16.pack(len(self.subdirs)) + b"".join(_name(n) for n in self.subdirs))

    @classmethod
    def unpack(cls, body: bytes) -> Treadtree:
        r = _Reader(body)
        handle, names = _unpack_walk(r)
        budget = r.u32()
        count = r.u16()
        if count > MAX_TREE_SUBDIRS:
            raise ProtocolError("too many subdirectories in readtree")
        subdirs = [r.name() for _ in range(count)]
        r.end()
        return cls(handle, names, subdirs, budget)


@dataclass
class Tlistxattr(_HandleNames):
    """The ``user.*`` extended attributes' names of the file ``names`` walk to beneath
    ``handle`` (``[]``: the handle's own; the walk registers no handles, as
    :class:`Treaddirstat`'s: a file known from its directory's listing has none yet)."""

    MSG_ID: ClassVar[int] = MsgId.TLISTXATTR
    handle: int
    names: list[bytes]


@dataclass
class Rlistxattr(Message):
    MSG_ID: ClassVar[int] = MsgId.RLISTXATTR
    names: list[bytes]

    def pack(self) -> bytes:
        return _U16.pack(len(self.names)) + b"".join(_name(n) for n in self.names)

    @classmethod
    def unpack(cls, body: bytes) -> Rlistxattr:
        r = _Reader(body)
        names = [r.name() for _ in range(r.u16())]
        r.end()
        return cls(names)


@dataclass
class Tlistxattrs(_HandleNames):
    """Tlistxattr of every file ``names`` walk through beneath ``handle`` (``names[:1]``
    to ``names``: at least one), in one round trip: the copy-up of a path's directories
    copies each one's attributes."""

    MSG_ID: ClassVar[int] = MsgId.TLISTXATTRS
    handle: int
    names: list[bytes]


@dataclass
class Rlistxattrs(Message):
    """Each walked file's ``user.*`` attribute names, in the walk's order."""

    MSG_ID: ClassVar[int] = MsgId.RLISTXATTRS
    lists: list[list[bytes]]

    def pack(self) -> bytes:
        return _U16.pack(len(self.lists)) + b"".join(
            _U16.pack(len(names)) + b"".join(_name(n) for n in names) for names in self.lists)

    @classmethod
    def unpack(cls, body: bytes) -> Rlistxattrs:
        r = _Reader(body)
        count = r.u16()
        if count > MAX_WALK:
            raise ProtocolError("too many lists")
        lists = [[r.name() for _ in range(r.u16())] for _ in range(count)]
        r.end()
        return cls(lists)


class _HandleXattrName(Message):
    """A handle and an extended attribute's name."""

    handle: int
    name: bytes

    def pack(self) -> bytes:
        return _U32.pack(self.handle) + _name(self.name)

    @classmethod
    def unpack(cls, body: bytes) -> Self:
        r = _Reader(body)
        msg = cls(r.u32(), r.name())  # type: ignore[call-arg]
        r.end()
        return msg


@dataclass
class Tgetxattr(_HandleXattrName):
    """The whole value of one ``user.*`` attribute (at most XATTR_SIZE_MAX bytes)."""

    MSG_ID: ClassVar[int] = MsgId.TGETXATTR
    handle: int
    name: bytes


@dataclass
class Rgetxattr(Message):
    MSG_ID: ClassVar[int] = MsgId.RGETXATTR
    value: bytes

    def pack(self) -> bytes:
        return _U32.pack(len(self.value)) + self.value

    @classmethod
    def unpack(cls, body: bytes) -> Rgetxattr:
        r = _Reader(body)
        n = r.u32()
        if n > XATTR_SIZE_MAX:
            raise ProtocolError("xattr value too large")
        msg = cls(r.raw(n))
        r.end()
        return msg


@dataclass
class Tsetxattr(Message):
    """Set one ``user.*`` attribute; ``flags`` XATTR_CREATE, XATTR_REPLACE, neither or both."""

    MSG_ID: ClassVar[int] = MsgId.TSETXATTR
    handle: int
    name: bytes
    value: bytes
    flags: int

    def pack(self) -> bytes:
        return (_U32.pack(self.handle) + _name(self.name) + _U32.pack(len(self.value))
                + self.value + _U32.pack(self.flags))

    @classmethod
    def unpack(cls, body: bytes) -> Tsetxattr:
        r = _Reader(body)
        handle, name = r.u32(), r.name()
        n = r.u32()
        if n > XATTR_SIZE_MAX:
            raise ProtocolError("xattr value too large")
        msg = cls(handle, name, r.raw(n), r.u32())
        r.end()
        return msg


@dataclass
class Tremovexattr(_HandleXattrName):
    MSG_ID: ClassVar[int] = MsgId.TREMOVEXATTR
    handle: int
    name: bytes


@dataclass
class Tstatfs(_HandleOnly):
    MSG_ID: ClassVar[int] = MsgId.TSTATFS
    handle: int


@dataclass
class Tclose(_HandleOnly):
    MSG_ID: ClassVar[int] = MsgId.TCLOSE
    handle: int


@dataclass
class Tclosemany(Message):
    """Release several handles in one round trip (answered by :class:`Rclose`)."""

    MSG_ID: ClassVar[int] = MsgId.TCLOSEMANY
    handles: list[int]

    def pack(self) -> bytes:
        return _U16.pack(len(self.handles)) + b"".join(_U32.pack(h) for h in self.handles)

    @classmethod
    def unpack(cls, body: bytes) -> Tclosemany:
        r = _Reader(body)
        count = r.u16()
        if count > MAX_CLOSE:
            raise ProtocolError("too many handles in close")
        handles = [r.u32() for _ in range(count)]
        r.end()
        return cls(handles)


# ---- replies carrying a new handle and its attributes ----------------------


class _HandleStat(Message):
    handle: int
    stat: Stat

    def pack(self) -> bytes:
        return _U32.pack(self.handle) + self.stat.pack()

    @classmethod
    def unpack(cls, body: bytes) -> Self:
        r = _Reader(body)
        msg = cls(r.u32(), r.stat())  # type: ignore[call-arg]
        r.end()
        return msg


@dataclass
class Rattach(_HandleStat):
    MSG_ID: ClassVar[int] = MsgId.RATTACH
    handle: int
    stat: Stat


@dataclass
class Rcreate(_HandleStat):
    """The opened fd rides along as SCM_RIGHTS."""

    MSG_ID: ClassVar[int] = MsgId.RCREATE
    handle: int
    stat: Stat


@dataclass
class Rmkdir(_HandleStat):
    MSG_ID: ClassVar[int] = MsgId.RMKDIR
    handle: int
    stat: Stat


@dataclass
class Rsymlink(_HandleStat):
    MSG_ID: ClassVar[int] = MsgId.RSYMLINK
    handle: int
    stat: Stat


@dataclass
class Rlink(_HandleStat):
    MSG_ID: ClassVar[int] = MsgId.RLINK
    handle: int
    stat: Stat


# ---- the rest ---------------------------------------------------------------


@dataclass
class Tversion(Message):
    MSG_ID: ClassVar[int] = MsgId.TVERSION
    version: int

    def pack(self) -> bytes:
        return _U32.pack(self.version)

    @classmethod
    def unpack(cls, body: bytes) -> Tversion:
        r = _Reader(body)
        msg = cls(r.u32())
        r.end()
        return msg


@dataclass
class Rversion(Message):
    MSG_ID: ClassVar[int] = MsgId.RVERSION
    version: int
    max_message: int

    def pack(self) -> bytes:
        return _U32.pack(self.version) + _U32.pack(self.max_message)

    @classmethod
    def unpack(cls, body: bytes) -> Rversion:
        r = _Reader(body)
        msg = cls(r.u32(), r.u32())
        r.end()
        return msg


@dataclass
class Rerror(Message):
    MSG_ID: ClassVar[int] = MsgId.RERROR
    errno: int

    def pack(self) -> bytes:
        return _U32.pack(self.errno)

    @classmethod
    def unpack(cls, body: bytes) -> Rerror:
        r = _Reader(body)
        msg = cls(r.u32())
        r.end()
        return msg


@dataclass
class Tattach(Message):
    MSG_ID: ClassVar[int] = MsgId.TATTACH
    root: int

    def pack(self) -> bytes:
        return _U32.pack(self.root)

    @classmethod
    def unpack(cls, body: bytes) -> Tattach:
        r = _Reader(body)
        msg = cls(r.u32())
        r.end()
        return msg


@dataclass
class Twalk(_HandleNames):
    """Walk ``names`` beneath ``handle``, each name getting a handle (Rwalk).  A name
    after the first that is not there ends the walk, and the entries so far are the
    answer; a non-directory ends it too; any other failure fails the whole walk."""

    MSG_ID: ClassVar[int] = MsgId.TWALK
    handle: int
    names: list[bytes]


@dataclass
class Rwalk(Message):
    """Each name walked: its handle and attributes; a symlink's entry is followed by its
    target (empty: the server could not read it), so that a walk through it needs no
    ``Treadlink`` (ld.so's ``libz.so.1 -> libz.so.1.2.13``, Python's ``python3 ->
    python3.11``)."""

    MSG_ID: ClassVar[int] = MsgId.RWALK
    entries: list[tuple[int, Stat]]

    def pack(self) -> bytes:
        out = [_U16.pack(len(self.entries))]
        for h, st in self.entries:
            out.append(_U32.pack(h) + st.pack())
            if stat.S_ISLNK(st.mode):
                out.append(_name(st.target or b""))
        return b"".join(out)

    @classmethod
    def unpack(cls, body: bytes) -> Rwalk:
        r = _Reader(body)
        entries = []
        for _ in range(r.u16()):
            h, st = r.u32(), r.stat()
            if stat.S_ISLNK(st.mode):
                st.target = r.name() or None
            entries.append((h, st))
        r.end()
        return cls(entries)


class _StatOnly(Message):
    """A reply that is one Stat (its layout, nothing after it)."""

    stat: Stat

    def pack(self) -> bytes:
        return self.stat.pack()

    @classmethod
    def unpack(cls, body: bytes) -> Self:
        return cls(Stat.unpack(body))  # type: ignore[call-arg]


@dataclass
class Rstat(_StatOnly):
    MSG_ID: ClassVar[int] = MsgId.RSTAT
    stat: Stat


@dataclass
class Topen(Message):
    MSG_ID: ClassVar[int] = MsgId.TOPEN
    handle: int
    flags: int

    def pack(self) -> bytes:
        return _U32.pack(self.handle) + _U32.pack(self.flags)

    @classmethod
    def unpack(cls, body: bytes) -> Topen:
        r = _Reader(body)
        msg = cls(r.u32(), r.u32())
        r.end()
        return msg


@dataclass
class Rreadlink(Message):
    MSG_ID: ClassVar[int] = MsgId.RREADLINK
    target: bytes

    def pack(self) -> bytes:
        return _name(self.target)

    @classmethod
    def unpack(cls, body: bytes) -> Rreadlink:
        r = _Reader(body)
        msg = cls(r.name())
        r.end()
        return msg


@dataclass
class Rreaddir(Message):
    """One batch of directory entries; ``last`` marks the final batch."""

    MSG_ID: ClassVar[int] = MsgId.RREADDIR
    entries: list[tuple[bytes, int, int]]
    last: bool

    ENTRY_OVERHEAD: ClassVar[int] = 8 + 1 + 2

    def pack(self) -> bytes:
        return _U8.pack(1 if self.last else 0) + _U32.pack(len(self.entries)) + b"".join(
            _U64.pack(ino) + _U8.pack(dtype) + _name(name) for name, ino, dtype in self.entries
        )

    @classmethod
    def unpack(cls, body: bytes) -> Rreaddir:
        r = _Reader(body)
        last = r.u8()
        if last > 1:
            raise ProtocolError("bad flag")
        entries = []
        for _ in range(r.u32()):
            ino = r.u64()
            dtype = r.u8()
            entries.append((r.name(), ino, dtype))
        r.end()
        return cls(entries, bool(last))


class PackedEntries:
    """Entries already in :func:`_pack_stat_entries`' form (the gofer's listing loop in C,
    native/src/listing.c): *count* of them in *body*, and the names of those that are
    directories on the listed device (a Treadtree visits them next)."""

    __slots__ = ("count", "body", "subdirs")

    def __init__(self, count: int, body: bytes, subdirs: list[bytes]) -> None:
        self.count, self.body, self.subdirs = count, body, subdirs

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[bytes, Stat | int]]:
        return iter(_unpack_stat_entries(_U32.pack(self.count) + self.body, 0))


@dataclass
class Rreaddirstat(Message):
    """One batch of a directory's entries with their attributes (``lstat``); ``last``
    marks the final batch.  An entry the server will not describe without a walk (a
    mount point) has only its directory entry's inode number (an int instead of a
    Stat): the client walks it for more."""

    MSG_ID: ClassVar[int] = MsgId.RREADDIRSTAT
    entries: list[tuple[bytes, Stat | int]] | PackedEntries
    last: bool

    ENTRY_OVERHEAD: ClassVar[int] = 1 + 2 + Stat.STRUCT.size

    def pack(self) -> bytes:
        return _U8.pack(1 if self.last else 0) + _pack_stat_entries(self.entries)

    @classmethod
    def unpack(cls, body: bytes) -> Rreaddirstat:
        if len(body) < 1:
            raise ProtocolError("message too short")
        last = body[0]
        if last > 1:
            raise ProtocolError("bad flag")
        return cls(_unpack_stat_entries(body, 1), bool(last))


def _pack_stat_entries(entries: list[tuple[bytes, Stat | int]] | PackedEntries) -> bytes:
    """Each entry: a kind byte (0: an inode number follows, 1: a Stat, 2: a Stat and the
    symlink's target), the name, then what the kind says."""
    if isinstance(entries, PackedEntries):
        return _U32.pack(entries.count) + entries.body
    out = [_U32.pack(len(entries))]
    for name, st in entries:
        if isinstance(st, Stat):
            if st.target is None:
                out += [_U8.pack(1), _name(name), st.pack()]
            else:
                out += [_U8.pack(2), _name(name), st.pack(), _name(st.target)]
        else:
            out += [_U8.pack(0), _name(name), _U64.pack(st)]
    return b"".join(out)


class Entries(list):
    """Decoded stat entries (name, Stat or inode number), and ``wire``: the same entries as
    they came, without their count (the sentry's C side takes a listing's stat answers
    from that: native.statcache_put_wire)."""

    __slots__ = ("wire",)

    def __init__(self, entries: Iterable[tuple[bytes, Stat | int]] = (), wire: bytes = b"") -> None:
        super().__init__(entries)
        self.wire = wire


def _unpack_stat_entries(body: bytes, off: int) -> Entries:
    """The (name, Stat or inode number) entries from *off* (their count) to the end of
    *body*, each decoded (:class:`Listing` decodes them as they are asked for)."""
    if len(body) < off + 4:
        raise ProtocolError("message too short")
    (count,) = _U32.unpack_from(body, off)
    wire = body[off + 4:]
    return Entries([(name, _decode_entry(wire, at))
                    for name, at in _scan_stat_entries(wire, count).items()], wire)


def _scan_stat_entries(wire: bytes, count: int) -> dict[bytes, int]:
    """The *count* stat entries of a listing (*wire*: after their count) checked, and
    each one's name -> offset, in order; none decoded (:func:`_decode_entry`).  Written
    out (no _Reader): a listing has one entry per file, and this runs in the sentry for
    every directory it lists.  Each name must be a file name (1-255 bytes, no NUL or
    ``/``, not ``.`` or ``..``), as the gofer's own checks of a request's names: a
    listing is where getdents gets its names and the stat cache its keys (C's
    ``wire_name_ok`` refuses the same, a backstop).

    :raises ProtocolError: if they are malformed.
    """
    n = len(wire)
    out: dict[bytes, int] = {}
    off = 0
    has_len, stat_size, u16 = _HAS_LEN.unpack_from, Stat.STRUCT.size, _U16.unpack_from
    try:
        for _ in range(count):
            has, ln = has_len(wire, off)
            end = off + 3 + ln
            if has > 2:
                raise ProtocolError("bad flag")
            if end > n:
                raise ProtocolError("message too short")
            out[wire[off + 3:end]] = off
            if has == 1:
                off = end + stat_size
            elif has == 2:
                (tlen,) = u16(wire, end + stat_size)
                # (the mode: a target only for a symlink)
                if (_U32.unpack_from(wire, end + 16)[0] & 0o170000) != 0o120000:
                    raise ProtocolError("bad symlink target")
                off = end + stat_size + 2 + tlen
            else:
                off = end + 8
            if off > n:
                raise ProtocolError("message too short")
    except struct.error:
        raise ProtocolError("message too short") from None
    if off != n:
        raise ProtocolError("trailing bytes in message")
    # The names checked at once (a check per entry tripled this function's time):
    # joined by "/", a name with a "/" shows as one "/" too many.
    if out:
        joined = b"/".join(out)
        if b"\0" in joined or joined.count(b"/") != len(out) - 1 or b"" in out \
                or b"." in out or b".." in out or max(map(len, out)) > 255:
            raise ProtocolError("bad name in a listing")
    return out


class Listing:
    """A directory's stat entries as they came (``wire``: a listing's entries without their
    count, what the sentry's C side takes: native.statcache_put_wire), a read-only mapping
    from each name to its Stat, or its inode number where only a walk may describe it (as
    :func:`_unpack_stat_entries` gives them).  Checked whole when made, each entry decoded
    at its first use: a lookup in a listed directory decodes one entry, not all of them
    (the sentry lists a directory for its first lookup)."""

    __slots__ = ("wire", "_at", "_got")

    def __init__(self, count: int = 0, wire: bytes = b"") -> None:
        """:raises ProtocolError: if the entries are malformed."""
        self.wire = wire
        self._at = _scan_stat_entries(wire, count)
        self._got: dict[bytes, Stat | int] = {}

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, name: object) -> bool:
        return name in self._at

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._at)

    def keys(self) -> Iterable[bytes]:
        return self._at.keys()

    def __getitem__(self, name: bytes) -> Stat | int:
        got = self._got.get(name)
        if got is None:
            got = self._got[name] = _decode_entry(self.wire, self._at[name])
        return got

    def get(self, name: bytes, default: Any = None) -> Any:
        return self[name] if name in self._at else default

    def items(self) -> Iterator[tuple[bytes, Stat | int]]:
        for name in self._at:
            yield name, self[name]

    def values(self) -> Iterator[Stat | int]:
        for name in self._at:
            yield self[name]

    def dirents(self) -> list[tuple[bytes, int, int]]:
        """Each entry's (name, inode number, ``d_type``), in order, read from the wire
        without decoding its Stat: a getdents of a listed directory needs two of its
        thirteen fields (/usr/lib/python3.11's 208 entries at every Python start-up).  An
        entry with an inode number only is a directory on the host."""
        wire = self.wire
        ino_mode, u64 = _INO_MODE.unpack_from, _U64.unpack_from
        out = []
        for name, off in self._at.items():
            end = off + 3 + len(name)
            if wire[off]:  # (has a Stat: _HAS_LEN's flag)
                ino, mode = ino_mode(wire, end)
                out.append((name, ino, (mode & 0o170000) >> 12))
            else:
                out.append((name, u64(wire, end)[0], _DT_DIR))
        return out


    def subdirs(self) -> list[bytes]:
        """The names of the entries whose Stat says directory, in order, read from the wire
        as :meth:`dirents` does (not the entries with an inode number only): a tree walk's
        fetch ahead picks them out of /usr/share/doc's 920 entries."""
        wire = self.wire
        ino_mode = _INO_MODE.unpack_from
        return [name for name, off in self._at.items()
                if wire[off] and ino_mode(wire, off + 3 + len(name))[1] & 0o170000 == stat.S_IFDIR]


def _decode_entry(wire: bytes, off: int) -> Stat | int:
    """The Stat (or inode number) of the entry at *off* of checked entries."""
    has, ln = _HAS_LEN.unpack_from(wire, off)
    end = off + 3 + ln
    if not has:
        return int(_U64.unpack_from(wire, end)[0])
    st = Stat(*Stat.STRUCT.unpack_from(wire, end))
    if has == 2:
        at = end + Stat.STRUCT.size
        (tlen,) = _U16.unpack_from(wire, at)
        st.target = wire[at + 2:at + 2 + tlen]
    return st


@dataclass
class Rreadtree(Message):
    """One batch of a Treadtree reply: entries of the directory ``path`` names below
    the requested one (as Rreaddirstat's); ``last``: the directory's final batch,
    ``done``: the reply's final message (which may have no path and no entries)."""

    MSG_ID: ClassVar[int] = MsgId.RREADTREE
    path: list[bytes]
    entries: list[tuple[bytes, Stat | int]] | PackedEntries
    last: bool
    done: bool

    def pack(self) -> bytes:
        flags = (1 if self.last else 0) | (2 if self.done else 0)
        return (_U8.pack(flags) + _U16.pack(len(self.path))
                + b"".join(_name(n) for n in self.path) + _pack_stat_entries(self.entries))

    @classmethod
    def unpack(cls, body: bytes) -> Rreadtree:
        flags, path, off = _readtree_head(body, 0)
        return cls(path, _unpack_stat_entries(body, off), bool(flags & 1), bool(flags & 2))


#: A Rreadtree's flags and path depth.
_READTREE_HEAD = struct.Struct("<BH")


def _readtree_head(data: bytes, off: int) -> tuple[int, list[bytes], int]:
    """A Rreadtree's flags and path at *off* of *data* (the entries follow), and the
    offset after them.  Direct struct reads: a walk reads a datagram per directory
    (:func:`unpack_readtree_batch`), and a reader took ~7 us of each.

    :raises ProtocolError: if they are cut short or malformed.
    """
    end = len(data)
    if off + _READTREE_HEAD.size > end:
        raise ProtocolError("message too short")
    flags, depth = _READTREE_HEAD.unpack_from(data, off)
    off += _READTREE_HEAD.size
    if flags > 3:
        raise ProtocolError("bad flag")
    if depth > MAX_WALK:
        raise ProtocolError("path too deep")
    path = []
    for _ in range(depth):
        if off + 2 > end:
            raise ProtocolError("message too short")
        (n,) = _U16.unpack_from(data, off)
        off += 2
        if off + n > end:
            raise ProtocolError("message too short")
        path.append(bytes(data[off:off + n]))
        off += n
    return flags, path, off


def _is_message(data: bytes, msg_id: int) -> bool:
    """Whether the datagram *data* is a message *msg_id* (False: another one).

    :raises ProtocolError: if its header is malformed.
    """
    return _header(data) == msg_id


def unpack_readtree_batch(data: bytes) -> tuple[list[bytes], int, bytes, bool, bool] | None:
    """A Rreadtree datagram without decoding its entries (a tree walk's sentry hands most
    listings to its C side as they came, and decodes only those it looks into:
    :func:`unpack_entries`): (path, entry count, the entries, last, done); None for any
    other message (decode it).

    :raises ProtocolError: if the header or the path is malformed.
    """
    if _header(data) != MsgId.RREADTREE:
        return None
    flags, path, off = _readtree_head(data, HEADER.size)
    if off + 4 > len(data):
        raise ProtocolError("message too short")
    (count,) = _U32.unpack_from(data, off)
    return path, count, data[off + 4:], bool(flags & 1), bool(flags & 2)


def unpack_readdirstat_batch(data: bytes) -> tuple[int, bytes, bool] | None:
    """A Rreaddirstat datagram without decoding its entries (:class:`Listing` checks
    them): (entry count, the entries, last); None for any other message (decode it).

    :raises ProtocolError: if its header or flag is malformed.
    """
    if not _is_message(data, MsgId.RREADDIRSTAT):
        return None
    if len(data) < HEADER.size + 5:
        raise ProtocolError("message too short")
    last = data[HEADER.size]
    if last > 1:
        raise ProtocolError("bad flag")
    (count,) = _U32.unpack_from(data, HEADER.size + 1)
    return count, bytes(data[HEADER.size + 5:]), bool(last)


def unpack_entries(count: int, wire: bytes) -> Entries:
    """*count* stat entries as a listing carries them (after their count).

    :raises ProtocolError: if they are malformed.
    """
    return _unpack_stat_entries(_U32.pack(count) + wire, 0)


@dataclass
class Twalkopen(Message):
    """Walk ``names`` beneath ``handle`` and open the last one for I/O in one round trip
    (Twalk plus Topen); only the last one gets a handle.  With :data:`WALKOPEN_OR_WALK`
    in ``flags`` (read-only): the last name is opened only if it is a regular file
    everyone may read, and answered as a walk to it alone would (``Rwalk`` of one entry,
    its handle, no fd) if it is anything else or its open fails."""

    MSG_ID: ClassVar[int] = MsgId.TWALKOPEN
    handle: int
    names: list[bytes]
    flags: int

    def pack(self) -> bytes:
        return _pack_walk(self.handle, self.names) + _U32.pack(self.flags)

    @classmethod
    def unpack(cls, body: bytes) -> Twalkopen:
        r = _Reader(body)
        handle, names = _unpack_walk(r)
        msg = cls(handle, names, r.u32())
        r.end()
        return msg


@dataclass
class Rwalkopen(_HandleStat):
    """The new handle and its attributes; the fd travels as SCM_RIGHTS."""

    MSG_ID: ClassVar[int] = MsgId.RWALKOPEN
    handle: int
    stat: Stat


@dataclass
class Tfetch(Message):
    """Open the regular file *path* (names joined by ``/``, relative) beneath ``handle``
    read-only, in one ``openat2`` that follows no symlink and crosses no mount, if
    everyone may read it: its attributes (``Rfetch``) and the fd, no handle made.  The
    sentry's C side sends it itself for a file its stat cache knows (rt.c ``sc_fetch``);
    its layout is written out there too."""

    MSG_ID: ClassVar[int] = MsgId.TFETCH
    handle: int
    flags: int  # O_NOFOLLOW or 0 (the open's; every component is walked without
    #             following symlinks anyway)
    path: bytes

    def pack(self) -> bytes:
        return _U32.pack(self.handle) + _U32.pack(self.flags) + _name(self.path)

    @classmethod
    def unpack(cls, body: bytes) -> Tfetch:
        r = _Reader(body)
        msg = cls(r.u32(), r.u32(), r.name())
        r.end()
        return msg


@dataclass
class Rfetch(_StatOnly):
    """The fetched file's attributes; the fd travels as SCM_RIGHTS.  (Not an Rstat: a
    reply is checked by its class.)"""

    MSG_ID: ClassVar[int] = MsgId.RFETCH
    stat: Stat


@dataclass
class Tcreate(Message):
    MSG_ID: ClassVar[int] = MsgId.TCREATE
    dir_handle: int
    name: bytes
    flags: int
    mode: int
    uid: int
    gid: int

    def pack(self) -> bytes:
        return (_U32.pack(self.dir_handle) + _name(self.name)
                + struct.pack("<IIII", self.flags, self.mode, self.uid, self.gid))

    @classmethod
    def unpack(cls, body: bytes) -> Tcreate:
        r = _Reader(body)
        msg = cls(r.u32(), r.name(), r.u32(), r.u32(), r.u32(), r.u32())
        r.end()
        return msg


@dataclass
class Tmkdir(Message):
    MSG_ID: ClassVar[int] = MsgId.TMKDIR
    dir_handle: int
    name: bytes
    mode: int
    uid: int
    gid: int

    def pack(self) -> bytes:
        return (_U32.pack(self.dir_handle) + _name(self.name)
                + struct.pack("<III", self.mode, self.uid, self.gid))

    @classmethod
    def unpack(cls, body: bytes) -> Tmkdir:
        r = _Reader(body)
        msg = cls(r.u32(), r.name(), r.u32(), r.u32(), r.u32())
        r.end()
        return msg


@dataclass
class Tsymlink(Message):
    MSG_ID: ClassVar[int] = MsgId.TSYMLINK
    dir_handle: int
    name: bytes
    target: bytes
    uid: int
    gid: int

    def pack(self) -> bytes:
        return (_U32.pack(self.dir_handle) + _name(self.name) + _name(self.target)
                + struct.pack("<II", self.uid, self.gid))

    @classmethod
    def unpack(cls, body: bytes) -> Tsymlink:
        r = _Reader(body)
        msg = cls(r.u32(), r.name(), r.name(), r.u32(), r.u32())
        r.end()
        return msg


@dataclass
class Tlink(Message):
    MSG_ID: ClassVar[int] = MsgId.TLINK
    dir_handle: int
    name: bytes
    target_handle: int

    def pack(self) -> bytes:
        return _U32.pack(self.dir_handle) + _name(self.name) + _U32.pack(self.target_handle)

    @classmethod
    def unpack(cls, body: bytes) -> Tlink:
        r = _Reader(body)
        msg = cls(r.u32(), r.name(), r.u32())
        r.end()
        return msg


@dataclass
class Tunlink(Message):
    MSG_ID: ClassVar[int] = MsgId.TUNLINK
    dir_handle: int
    name: bytes
    flags: int

    def pack(self) -> bytes:
        return _U32.pack(self.dir_handle) + _name(self.name) + _U32.pack(self.flags)

    @classmethod
    def unpack(cls, body: bytes) -> Tunlink:
        r = _Reader(body)
        msg = cls(r.u32(), r.name(), r.u32())
        r.end()
        return msg


@dataclass
class Trename(Message):
    MSG_ID: ClassVar[int] = MsgId.TRENAME
    old_dir: int
    old_name: bytes
    new_dir: int
    new_name: bytes
    flags: int

    def pack(self) -> bytes:
        return (_U32.pack(self.old_dir) + _name(self.old_name) + _U32.pack(self.new_dir)
                + _name(self.new_name) + _U32.pack(self.flags))

    @classmethod
    def unpack(cls, body: bytes) -> Trename:
        r = _Reader(body)
        msg = cls(r.u32(), r.name(), r.u32(), r.name(), r.u32())
        r.end()
        return msg


# Tsetattr validity bits.
SETATTR_MODE = 1 << 0
SETATTR_UID = 1 << 1
SETATTR_GID = 1 << 2
SETATTR_SIZE = 1 << 3
SETATTR_ATIME = 1 << 4
SETATTR_MTIME = 1 << 5
_SETATTR_ALL = (SETATTR_MODE | SETATTR_UID | SETATTR_GID | SETATTR_SIZE
                | SETATTR_ATIME | SETATTR_MTIME)
#: A time of -1 in Tsetattr means "now" (UTIME_NOW).
TIME_NOW = -1


@dataclass
class Tsetattr(Message):
    """Change attributes; a field left None is not changed."""

    MSG_ID: ClassVar[int] = MsgId.TSETATTR
    handle: int
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None

    _BODY: ClassVar[struct.Struct] = struct.Struct("<IIIIIQqq")

    def pack(self) -> bytes:
        valid = 0
        for bit, v in ((SETATTR_MODE, self.mode), (SETATTR_UID, self.uid),
                       (SETATTR_GID, self.gid), (SETATTR_SIZE, self.size),
                       (SETATTR_ATIME, self.atime_ns), (SETATTR_MTIME, self.mtime_ns)):
            if v is not None:
                valid |= bit
        return self._BODY.pack(
            self.handle, valid, self.mode or 0, self.uid or 0, self.gid or 0,
            self.size or 0, self.atime_ns or 0, self.mtime_ns or 0,
        )

    @classmethod
    def unpack(cls, body: bytes) -> Tsetattr:
        if len(body) != cls._BODY.size:
            raise ProtocolError("bad Tsetattr size")
        handle, valid, mode, uid, gid, size, atime, mtime = cls._BODY.unpack(body)
        if valid & ~_SETATTR_ALL:
            raise ProtocolError("unknown setattr bits")
        return cls(
            handle,
            mode if valid & SETATTR_MODE else None,
            uid if valid & SETATTR_UID else None,
            gid if valid & SETATTR_GID else None,
            size if valid & SETATTR_SIZE else None,
            atime if valid & SETATTR_ATIME else None,
            mtime if valid & SETATTR_MTIME else None,
        )


STATFS_FIELDS = ("f_type", "f_bsize", "f_blocks", "f_bfree", "f_bavail", "f_files",
                 "f_ffree", "f_namelen", "f_frsize", "f_flags")


@dataclass
class Rstatfs(Message):
    MSG_ID: ClassVar[int] = MsgId.RSTATFS
    f_type: int
    f_bsize: int
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_files: int
    f_ffree: int
    f_namelen: int
    f_frsize: int
    f_flags: int

    _BODY: ClassVar[struct.Struct] = struct.Struct("<qqQQQQQqqq")

    def pack(self) -> bytes:
        return self._BODY.pack(*(getattr(self, f) for f in STATFS_FIELDS))

    @classmethod
    def unpack(cls, body: bytes) -> Rstatfs:
        if len(body) != cls._BODY.size:
            raise ProtocolError("bad Rstatfs size")
        return cls(*cls._BODY.unpack(body))

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in STATFS_FIELDS}


MESSAGES: dict[int, type[Message]] = {
    cls.MSG_ID: cls
    for cls in (
        Tversion, Rversion, Tattach, Rattach, Twalk, Rwalk, Tstat, Rstat, Topen, Ropen,
        Treadlink, Rreadlink, Treaddir, Rreaddir, Tcreate, Rcreate, Tmkdir, Rmkdir,
        Tsymlink, Rsymlink, Tlink, Rlink, Tunlink, Runlink, Trename, Rrename,
        Tsetattr, Rsetattr, Tstatfs, Rstatfs, Tclose, Rclose, Tclosemany, Treaddirstat,
        Rreaddirstat, Twalkopen, Rwalkopen, Treadtree, Rreadtree, Rerror,
        Tlistxattr, Rlistxattr, Tgetxattr, Rgetxattr, Tsetxattr, Rsetxattr, Tremovexattr,
        Rremovexattr, Tfetch, Rfetch, Tlistxattrs, Rlistxattrs, Tlistalong, Rlistalong,
    )
}
#: Every message type id.
MSG_IDS: frozenset[int] = frozenset(v for k, v in vars(MsgId).items() if k.isupper())
assert set(MESSAGES) == MSG_IDS
#: The ids of requests (the client's messages), whose header may carry its CPU.
REQUEST_IDS: frozenset[int] = frozenset(i for i, cls in MESSAGES.items()
                                        if cls.__name__.startswith("T"))
assert all(cls.__name__[0] in "TR" for cls in MESSAGES.values())


def encode(msg: Message, cpu: int = -1) -> bytes:
    """Header plus body of ``msg``; *cpu*: a request's sender's CPU (-1: not said).

    :raises ProtocolError: if a field does not fit its wire type, or the
        message exceeds :data:`MAX_MESSAGE`.
    """
    hint = cpu + 1 if 0 <= cpu < 0xFFFF and msg.MSG_ID in REQUEST_IDS else 0
    try:
        data = HEADER.pack(msg.MSG_ID, hint) + msg.pack()
    except struct.error as e:
        raise ProtocolError(str(e)) from None
    if len(data) > MAX_MESSAGE:
        raise ProtocolError("message too large")
    return data


def _header(data: bytes) -> int:
    """A datagram's message id, its header checked.

    :raises ProtocolError: it is shorter than the header, or a reply's CPU field is not 0.
    """
    if len(data) < HEADER.size:
        raise ProtocolError("message shorter than its header")
    raw_id, cpu = HEADER.unpack_from(data)
    if cpu != 0 and raw_id not in REQUEST_IDS:
        raise ProtocolError("a reply's CPU field is not zero")
    return int(raw_id)


def sibling_target(target: bytes | None) -> TypeGuard[bytes]:
    """Whether a symlink's *target* names a sibling of the link (one name, no slash):
    after a walked symlink with such a target, a Twalkopen with :data:`WALKOPEN_SIBLINGS`
    sends one more message, while fewer than :data:`SIBLING_HOPS` were."""
    return (target is not None and 0 < len(target) <= NAME_MAX and target not in (b".", b"..")
            and b"/" not in target and b"\0" not in target)


def message_id(data: bytes) -> int:
    """A datagram's message id (:data:`HEADER`), -1 if it is shorter than the header."""
    return HEADER.unpack_from(data)[0] if len(data) >= HEADER.size else -1


def sender_cpu(data: bytes) -> int:
    """The CPU a request's sender said it is on (:data:`HEADER`), -1 if none."""
    return (HEADER.unpack_from(data)[1] if len(data) >= HEADER.size else 0) - 1


def decode(data: bytes) -> Message:
    """Parse one datagram.

    :raises ProtocolError: on an unknown id, a reply whose CPU field is not zero, or a
        malformed body.
    """
    raw_id = _header(data)
    cls = MESSAGES.get(raw_id)
    if cls is None:
        raise ProtocolError(f"unknown message id {raw_id}")
    return cls.unpack(bytes(data[HEADER.size:]))


__all__ = [
    "PROTOCOL_VERSION", "REQUEST_IDS", "sender_cpu", "MAX_ALONG", "SUBDIRS_PER_BLOCK",
    "dir_blocks", "MAX_MESSAGE", "MAX_WALK", "MAX_TREE_SUBDIRS", "MAX_CLOSE", "NAME_MAX", "PATH_MAX",
    "ProtocolError", "Spin", "Entries", "Listing", "unpack_readtree_batch", "unpack_entries",
    "unpack_readdirstat_batch",
    "MsgId", "MSG_IDS", "Stat", "Message", "encode", "decode", "MESSAGES", "STATFS_FIELDS",
    "SETATTR_MODE", "SETATTR_UID", "SETATTR_GID", "SETATTR_SIZE", "SETATTR_ATIME",
    "SETATTR_MTIME", "TIME_NOW", "XATTR_NAME_MAX", "XATTR_SIZE_MAX", "XATTR_LIST_MAX",
    "XATTR_CREATE", "XATTR_REPLACE", "XATTR_USER_PREFIX",
] + [cls.__name__ for cls in MESSAGES.values()]


# ---- transport --------------------------------------------------------------------------

#: How long each side of the channel polls at most before it sleeps (seconds). On these VMs
#: waking a process that sleeps on another vCPU costs ~35 µs each way: a Python SEQPACKET
#: ping-pong between two processes takes ~80 µs per round trip when both sleep and ~7 µs when
#: both poll. The sentry waits for each reply (it always comes soon unless the disk is slow),
#: and the gofer waits a little for the next request, which in a path walk or a tree walk
#: follows within tens of microseconds.
CLIENT_SPIN = 300e-6
SERVER_SPIN = 300e-6


class Spin:
    """How long one side polls before it sleeps, adapted to what polling bought lately.

    Polling pays only while the other side has a CPU of its own. Beside a CPU hog it takes
    the CPU the other side needs and the peer's answer comes late whatever: ``python3 -c
    pass`` under two busy loops on two vCPUs took 0.53 s polling, 0.27 s sleeping at once.
    So a wait that ended (polling or sleeping) within *limit* doubles the next poll, up to
    *limit* (at least 10 us, so that sleeping waits keep probing); a longer one halves it.
    """

    __slots__ = ("limit", "budget")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.budget = limit

    def waited(self, seconds: float) -> None:
        if seconds <= self.limit:
            self.budget = min(self.limit, max(2 * self.budget, 10e-6))
        else:
            self.budget /= 2


#: The channel's recvmsg flags as plain ints: socket's ``MsgFlag`` enum costs ~1.5 us an
#: operation, and every request and reply made three (~3,700 in one tree walk).
MSG_CMSG_CLOEXEC = int(socket.MSG_CMSG_CLOEXEC)
MSG_DONTWAIT = int(socket.MSG_DONTWAIT)
MSG_TRUNC = int(socket.MSG_TRUNC)
MSG_TRUNCATED = MSG_TRUNC | int(socket.MSG_CTRUNC)


def recvmsg_polling(sock: socket.socket, bufsize: int, ancbufsize: int, flags: int,
                    spin: Spin) -> tuple[bytes, list[tuple[int, int, bytes]], int, Any]:
    """``sock.recvmsg``, polling without sleeping for up to *spin*'s budget first."""
    start = time.perf_counter()
    deadline = start + spin.budget
    nowait = flags | MSG_DONTWAIT
    while True:
        try:
            got = sock.recvmsg(bufsize, ancbufsize, nowait)
            spin.waited(time.perf_counter() - start)
            return got
        except BlockingIOError:
            if time.perf_counter() >= deadline:
                got = sock.recvmsg(bufsize, ancbufsize, flags)
                spin.waited(time.perf_counter() - start)
                return got
