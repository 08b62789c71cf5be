"""Unix-domain sockets, held in sentry memory (always emulated, design §6).

Every type (``SOCK_STREAM``: a byte stream each way; ``SOCK_DGRAM``/
``SOCK_SEQPACKET``: message boundaries kept), from ``socketpair(2)`` or named
(a path: a socket node in the sandbox's file system; an abstract name: the
sandbox's own namespace) with ``listen``/``accept``/``connect``.

Semantics (unix(7)): a stream or seqpacket send to a peer that closed or shut
down reading gives ``EPIPE`` (and ``SIGPIPE`` for a stream, unless
``MSG_NOSIGNAL``); a read after the peer's write side is gone returns EOF; each
direction holds :data:`BUFFER` bytes before a sender blocks.  A datagram socket,
paired or not, has an inbox of its own and a default destination
(``dgram_peer``): a peer's close is seen at the next send (``ECONNREFUSED``, then
disconnected), never as end of file, and ``shutdown`` is its own end's only.
Single-threaded, no locks.

Ancillary data rides with what it was sent with (:class:`Anc`): the sender's
credentials always (``SCM_CREDENTIALS``, given to a receiver with
``SO_PASSCRED``), and passed descriptions (``SCM_RIGHTS``), each holding one
reference while in flight.  On a stream, a read glues segments together but
stops after one that carried descriptions, and (with ``SO_PASSCRED``) between
senders, as Linux's ``unix_stream_read_generic``.  A cycle of sockets that only
messages in flight refer to (a socket sent over itself, closed) is found and
freed by :func:`collect`, Linux's ``unix_gc``.
"""

from __future__ import annotations

import errno
import _signal as signal
from collections import deque

from sentry.abi.linux.errors import LinuxError, WouldBlock, err
from sentry.kernel.memacct import ACCOUNT
from sentry.kernel.waiter import EVENT_ALL, EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT, EVENT_RDHUP, \
    WaitQueue
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry, kern_mount
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, Inode, SetAttr, Stat, StatFS, apply_attrs, now_ns

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Deque, Dict, List, Optional, Set, Tuple

AF_UNIX = 1
SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET = 1, 2, 5
BUFFER = 212992  # net.core.wmem_default
MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL = 0x2, 0x40, 0x100, 0x4000
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
SOCKFS_MAGIC = 0x534F434B
_RDNORM, _WRNORM, _WRBAND = 0x040, 0x100, 0x200


class SockFilesystem(Filesystem):
    """The internal file system of sockets (never mounted in the tree)."""

    fstype = "sockfs"
    magic = SOCKFS_MAGIC
    sb_noexec = True

    def root_inode(self) -> Inode:
        return SockInode(self, 0, 0)

    def statfs(self, t: Any) -> StatFS:
        return StatFS(type=self.magic, fsid=self.dev)


class SockInode(Inode):
    def __init__(self, fs: Filesystem, uid: int, gid: int) -> None:
        super().__init__(fs, fs.next_ino(), abi.S_IFSOCK | 0o777, uid, gid)
        self.atime_ns = self.mtime_ns = self.ctime_ns = now_ns()

    def setattr(self, t: Any, attr: SetAttr) -> None:
        """fchmod, fchown and futimens of a socket change its own inode (sockfs_setattr;
        the VFS checked the caller may)."""
        apply_attrs(self, attr)

    def open(self, t: Any, vd: VirtualDentry, flags: int) -> FileDescription:
        # Opening a socket through /proc/PID/fd is ENXIO on Linux too.
        raise err(errno.ENXIO)

    def stat(self) -> Stat:
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=1, uid=self.uid, gid=self.gid,
            rdev=0, size=0, blksize=4096, blocks=0, atime_ns=self.atime_ns,
            mtime_ns=self.mtime_ns, ctime_ns=self.ctime_ns,
        )


_FS: Optional[Tuple[SockFilesystem, Mount]] = None


def _sockfs() -> Tuple[SockFilesystem, Mount]:
    global _FS
    if _FS is None:
        fs = SockFilesystem()
        mount = kern_mount(fs, fs.root_inode(), "sockfs")
        _FS = (fs, mount)
    return _FS


if TYPE_CHECKING:  # (an annotation only)
    Cred = Tuple[int, int, int]  # (pid, uid, gid)
#: What a receiver with SO_PASSCRED is told of a message sent with no credentials (neither
#: end passed them at the time: pid 0, the overflow uid and gid), and at end of stream.
NO_CRED: Cred = (0, 65534, 65534)
EOF_CRED: Cred = (0, 0, 0)
#: SCM_MAX_FD: descriptions one message may carry.
MAX_FDS = 253


class Anc:
    """What rides with a message or stream segment: the sender's credentials, the
    descriptions passed with it (one reference each while in flight), and the user
    they count against (Linux's ``unix_inflight``)."""

    __slots__ = ("cred", "fds", "user")

    def __init__(self, cred: Optional[Cred], fds: Optional[List[FileDescription]] = None,
                 user: int = 0) -> None:
        self.cred = cred
        self.fds = fds
        self.user = user


def _room(n: int) -> None:
    """Queued bytes are the sandbox's memory: with its account spent a send fails
    with ``ENOBUFS``, as when ``sock_alloc_send_pskb`` cannot allocate."""
    if not ACCOUNT.room(n):
        raise err(errno.ENOBUFS)


class Channel:
    """One direction of a connection: bytes (stream) or messages (dgram/seqpacket).

    A stream holds segments ``[bytes, Anc]``; a send with no descriptions from the
    sender of the last segment (which carries none) is appended to it, so plain
    traffic stays one buffer.  Datagrams are ``(bytes, sender name, Anc)``.
    """

    _size = 0

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.segs: Deque[List[Any]] = deque()
        self.msgs: Deque[Tuple[bytes, Optional[bytes], Anc]] = deque()
        self.size = 0
        self.closed_write = False   # the sender will send no more (close/SHUT_WR)
        self.closed_read = False    # the receiver will read no more (close/SHUT_RD)

    @property
    def size(self) -> int:
        """Bytes queued; they count in the sandbox's memory account
        (:mod:`sentry.kernel.memacct`; senders check :func:`_room` first)."""
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        ACCOUNT.add(value - self._size)
        self._size = value

    def __del__(self) -> None:
        ACCOUNT.uncharge(self._size)

    @property
    def empty(self) -> bool:
        return not self.segs if self.stream else not self.msgs

    def first_len(self) -> int:
        """FIONREAD: bytes queued (stream) or the next datagram's length."""
        if self.stream:
            return self.size
        return len(self.msgs[0][0]) if self.msgs else 0

    def put(self, data: bytes, anc: Anc, src: Optional[bytes] = None) -> None:
        self.size += len(data)
        if anc.fds:
            _in_flight(anc, +1)
        if not self.stream:
            self.msgs.append((bytes(data), src, anc))
            return
        last = self.segs[-1] if self.segs else None
        if last is not None and anc.fds is None and last[1].fds is None \
                and last[1].cred == anc.cred:
            last[0] += data
        else:
            self.segs.append([bytearray(data), anc])

    def purge(self) -> None:
        """Drop everything queued; descriptions in flight lose their reference."""
        ancs = [seg[1] for seg in self.segs] + [m[2] for m in self.msgs]
        self.segs.clear()
        self.msgs.clear()
        self.size = 0
        for anc in ancs:
            drop_fds(anc)


class UnixSocket(FileDescription):
    """One end of a unix socket."""

    pollable = True
    mmap_refuses_late = True  # (sock_no_mmap)
    positional = False

    def __init__(self, vd: VirtualDentry, inode: Inode, stype: int, flags: int) -> None:
        super().__init__(vd, inode, abi.O_RDWR | (flags & abi.O_NONBLOCK))
        self.stype = stype
        self.stream = stype == SOCK_STREAM
        self.splice_nonblock = self.stream  # (unix_stream_splice_read)
        self.peer: Optional["UnixSocket"] = None
        self.rx: Optional[Channel] = None
        self.tx: Optional[Channel] = None
        self.queue = WaitQueue()
        self.anon_name = b"socket:[%d]" % inode.ino
        # Names (sun_path bytes; abstract ones start with NUL): this end's, its peer's.
        self.name: Optional[bytes] = None
        self.peer_name: Optional[bytes] = None
        self.bound_key: Optional[Tuple[int, int]] = None  # the socket node's (dev, ino)
        # SO_PEERCRED: (pid, uid, gid) of the peer when the connection was made.
        self.peer_cred: Optional[Tuple[int, int, int]] = None
        self.listen_cred: Tuple[int, int, int] = (0, 0, 0)
        self.listening = False
        self.backlog = 0
        self.pending: Deque["UnixSocket"] = deque()
        self.flag_opts: Dict[int, int] = {}  # setsockopt flags with no effect (SO_REUSEADDR…)
        self.dgram_peer: Optional["UnixSocket"] = None  # a datagram socket's connect() target
        # A datagram socket connected, or connected to (Linux's TCP_ESTABLISHED, which the
        # target keeps: /proc/net/unix's state).
        self.dgram_connected = False
        self.last_src: Optional[bytes] = None  # sender name of the message last received
        self.passcred = False  # SO_PASSCRED
        self.inflight = 0  # messages in flight that carry this socket (garbage collection)
        self.so_error = 0  # a pending error (SO_ERROR): ECONNRESET when the peer dropped data
        self.shut_rd = False  # shutdown(2) of this end (datagram sockets keep only these)
        self.shut_wr = False
        self.released = False
        if stype == SOCK_DGRAM:
            self.rx = Channel(False)  # its inbox
        LIVE[inode.ino] = self

    # -- connection state ------------------------------------------------------
    def wait_queue(self) -> WaitQueue:
        return self.queue

    def _notify_both(self, events: int = EVENT_ALL) -> None:
        self.queue.notify(events)
        if self.peer is not None:
            self.peer.queue.notify(events)

    def shutdown(self, how: int) -> None:
        """shutdown(2): this end, and a connected peer's opposite side (Linux's
        ``unix_shutdown``; no ``ENOTCONN``)."""
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise err(errno.EINVAL)
        if how in (SHUT_RD, SHUT_RDWR):
            self.shut_rd = True
            if self.peer is not None and self.rx is not None:
                self.rx.closed_read = True
        if how in (SHUT_WR, SHUT_RDWR):
            self.shut_wr = True
            if self.tx is not None:
                self.tx.closed_write = True
        self._notify_both()

    def decref(self) -> None:
        super().decref()
        if self.inflight and self.refs == self.inflight:
            maybe_collect()  # only messages in flight refer to it now: perhaps garbage

    def release(self) -> None:
        self.released = True
        if self.inode is not None and LIVE.get(self.inode.ino) is self:
            del LIVE[self.inode.ino]
        if self.bound_key is not None and _BOUND.get(self.bound_key) is self:
            del _BOUND[self.bound_key]
        if self.name is not None and self.name[:1] == b"\0" and _ABSTRACT.get(self.name) is self:
            del _ABSTRACT[self.name]
        while self.pending:  # connections never accepted: their clients see the end
            self.pending.popleft().release()
        peer = self.peer
        if peer is not None and self.rx is not None and not self.rx.empty:
            peer.so_error = errno.ECONNRESET  # it sent what nobody will read (unix_release_sock)
        if self.rx is not None:
            self.rx.closed_read = True
            self.rx.purge()  # unix_release_sock: what was sent to it is gone
        if self.tx is not None:
            self.tx.closed_write = True
        self._notify_both()
        if _INFLIGHT_SOCKS:
            maybe_collect()  # Linux runs its collector at each release while any is in flight

    # -- data --------------------------------------------------------------------
    def send(self, t: Any, data: bytes, flags: int, fds: Optional[List[FileDescription]] = None,
             cred: Optional[Cred] = None) -> int:
        """Send *data*, with *fds* passed (``SCM_RIGHTS``) and *cred* (``SCM_CREDENTIALS``,
        checked by the caller; the sender's own by default)."""
        if self.stype == SOCK_DGRAM:
            if self.dgram_peer is None:
                raise err(errno.EPIPE if self.shut_wr else errno.ENOTCONN)
            return deliver(t, self, self.dgram_peer, data, flags, fds, cred)
        ch = self.tx
        if ch is None:
            raise err(errno.EPIPE if self.shut_wr else errno.ENOTCONN)
        if ch.closed_write or ch.closed_read:
            # Only a stream raises SIGPIPE: seqpacket sends are unix_dgram_sendmsg's.
            if self.stream and not flags & MSG_NOSIGNAL and t is not None:
                t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
            raise err(errno.EPIPE)
        n = len(data)
        free = BUFFER - ch.size
        if ch.stream:
            if n == 0:
                return 0  # no segment, so nothing rides (unix_stream_sendmsg)
            if free <= 0 or len(ch.segs) >= MAX_ENTRIES:
                self._block(flags, EVENT_OUT)
            k = min(n, free)
            _room(k)
            ch.put(data[:k], _anc(t, fds, cred, self, self.peer))
        else:
            if n > BUFFER:
                raise err(errno.EMSGSIZE)
            if free < n or len(ch.msgs) >= MAX_ENTRIES:
                self._block(flags, EVENT_OUT)
            _room(n)
            ch.put(data, _anc(t, fds, cred, self, self.peer))
            k = n
        if self.peer is not None:
            self.peer.queue.notify(EVENT_IN)
        return k

    def recv(self, t: Any, n: int, flags: int) -> Tuple[bytes, int]:
        """Returns (data, full message length) — the latter for ``MSG_TRUNC``.  Passed
        descriptions are dropped (closed), as for a receive with no control buffer."""
        data, full, _cred, fds = self.recv_anc(t, n, flags)
        if fds:
            drop_refs(fds)
        return data, full

    def recv_anc(self, t: Any, n: int, flags: int
                 ) -> Tuple[bytes, int, Optional[Cred], Optional[List[FileDescription]]]:
        """A receive with its ancillary data: (data, full length, the sender's credentials
        (:data:`NO_CRED` if none rode; ``None`` for a stream read by a socket without
        ``SO_PASSCRED``), the passed descriptions, one reference each now the caller's)."""
        ch = self.rx
        if ch is None:
            if self.stype == SOCK_STREAM or self.stype == SOCK_SEQPACKET:
                raise err(errno.EINVAL if self.stype == SOCK_STREAM else errno.ENOTCONN)
            self._block(flags, EVENT_IN)
            raise AssertionError("unreachable")
        if self.so_error and (ch.empty or not self.stream):
            # Reported once: a stream's after the data queued, a seqpacket's before it
            # (unix_dgram_recvmsg checks the socket's error first).
            e, self.so_error = self.so_error, 0
            raise err(e)
        if ch.empty:
            if ch.closed_write or ch.closed_read:
                return b"", 0, EOF_CRED if self.stream else None, None
            if self.shut_rd and self.stype == SOCK_DGRAM and not (
                    self.nonblocking or flags & MSG_DONTWAIT):
                return b"", 0, None, None  # a blocking wait ends; a non-blocking one EAGAINs
            self._block(flags, EVENT_IN)
        peek = bool(flags & MSG_PEEK)
        fds: Optional[List[FileDescription]] = None
        cred: Optional[Cred] = None
        if ch.stream:
            out, cred, fds = _stream_take(ch, n, peek, self.passcred)
            full = len(out)
        else:
            msg, src, anc = ch.msgs[0]
            out = msg[:n]
            full = len(msg)
            self.last_src = src
            cred = anc.cred or NO_CRED
            if peek:
                fds = peek_fds(anc)
            else:
                ch.msgs.popleft()
                ch.size -= len(msg)
                fds = take_fds(anc)
        if not peek and self.peer is not None:
            self.peer.queue.notify(EVENT_OUT)
        elif not peek and self.stype == SOCK_DGRAM:
            self.queue.notify(EVENT_OUT)  # room for senders by name
        return out, full, cred, fds

    def _block(self, flags: int, mask: int) -> None:
        if self.nonblocking or flags & MSG_DONTWAIT:
            raise err(errno.EAGAIN)
        raise WouldBlock([(self.queue, mask | EVENT_HUP | EVENT_ERR)])

    def read(self, t: Any, n: int) -> bytes:
        return self.recv(t, n, 0)[0]

    def write(self, t: Any, data: bytes) -> int:
        return self.send(t, data, 0)

    def seek(self, t: Any, off: int, whence: int) -> int:
        raise err(errno.ESPIPE)

    def readiness(self, mask: int) -> int:
        """Linux's ``unix_poll``: ``RDHUP`` once nothing more can be received, ``HUP``
        once nothing can be sent either (or never connected), ``OUT`` while this end's
        unread bytes stay under a quarter of the buffer (``unix_writable``), whatever
        the shutdown state.  No ``ERR``: Linux sets it only for a peer that closed with
        data unread (``ECONNRESET``), which is not tracked."""
        rx, tx = self.rx, self.tx
        r = 0
        if self.stype == SOCK_DGRAM:
            return self._dgram_readiness() & (mask | EVENT_HUP | EVENT_ERR)
        rcv_shut = rx is not None and (rx.closed_write or rx.closed_read)
        snd_shut = tx is not None and (tx.closed_write or tx.closed_read)
        if rcv_shut:
            r |= EVENT_IN | _RDNORM | EVENT_RDHUP
            if snd_shut:
                r |= EVENT_HUP
        if rx is not None and not rx.empty:
            r |= EVENT_IN | _RDNORM
        if self.so_error:
            r |= EVENT_ERR
        if self.listening:
            return (EVENT_IN | _RDNORM if self.pending else 0) & (mask | EVENT_HUP | EVENT_ERR)
        if self.peer is None and self.stype != SOCK_DGRAM:
            r |= EVENT_HUP
        if tx is None or tx.size * 4 <= BUFFER:
            r |= EVENT_OUT | _WRNORM | _WRBAND
        return r & (mask | EVENT_HUP | EVENT_ERR)

    def _dgram_readiness(self) -> int:
        """``unix_dgram_poll``: this end's shutdown, its inbox, and ``OUT`` unless the
        default destination is not connected back and its queue is full."""
        r = 0
        if self.shut_rd:
            r |= EVENT_IN | _RDNORM | EVENT_RDHUP
            if self.shut_wr:
                r |= EVENT_HUP
        if self.rx is not None and not self.rx.empty:
            r |= EVENT_IN | _RDNORM
        other = self.dgram_peer
        if other is None or other.released or other.dgram_peer is self or other.rx is None \
                or len(other.rx.msgs) <= MAX_DGRAM_QLEN:
            r |= EVENT_OUT | _WRNORM | _WRBAND
        return r

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd == 0x541B:  # FIONREAD
            t.mem.write_i32(arg, self.rx.first_len() if self.rx is not None else 0)
            return 0
        from sentry.fsimpl.sock.inet import netdev_ioctl

        r = netdev_ioctl(t, cmd, arg)  # interface queries work on any socket
        if r is not None:
            return r
        raise err(errno.ENOTTY)


def _stream_take(ch: Channel, n: int, peek: bool, passcred: bool
                 ) -> Tuple[bytes, Optional[Cred], Optional[List[FileDescription]]]:
    """Up to *n* bytes from a stream, gluing segments as ``unix_stream_read_generic``:
    never past a segment that carried descriptions, nor (*passcred*) across senders.
    The descriptions are taken with the first byte of their segment."""
    out = bytearray()
    first = True
    cred: Optional[Cred] = None
    fds: Optional[List[FileDescription]] = None
    segs = ch.segs
    i = 0
    while i < len(segs):
        buf, anc = segs[i]
        if passcred:
            if first:
                cred = anc.cred
            elif anc.cred != cred:
                break  # never glue what different writers sent
        first = False
        chunk = bytes(buf[: n - len(out)])
        out += chunk
        if anc.fds:
            fds = peek_fds(anc) if peek else take_fds(anc)
        if peek:
            i += 1
        else:
            ch.size -= len(chunk)
            if len(chunk) < len(buf):
                del buf[: len(chunk)]
                break
            segs.popleft()
        if fds is not None or len(out) >= n:
            break
    return bytes(out), (cred or NO_CRED) if passcred else None, fds


#: Messages (or stream segments) one direction holds, whatever their size: zero-length
#: datagrams cost the sentry memory too (Linux charges each skb's truesize).
MAX_ENTRIES = BUFFER // 512


def _anc(t: Any, fds: Optional[List[FileDescription]], cred: Optional[Cred],
         sender: UnixSocket, receiver: Optional[UnixSocket]) -> Anc:
    """Credentials ride when given, or when either end passes them (Linux's
    ``unix_maybe_add_creds``)."""
    if cred is None and (sender.passcred or (receiver is not None and receiver.passcred)):
        cred = _cred(t)
    return Anc(cred, fds or None, t.creds.uid if t is not None else 0)


# -- descriptions in flight ------------------------------------------------------
_USER_INFLIGHT: Dict[int, int] = {}  # real uid -> descriptions it has in flight
_INFLIGHT_SOCKS: Set[UnixSocket] = set()  # unix sockets carried by some message


def _in_flight(anc: Anc, delta: int) -> None:
    """Account *anc*'s descriptions entering (+1: a reference each) or leaving flight."""
    fds = anc.fds or []
    for f in fds:
        if delta > 0:
            f.incref()
        if isinstance(f, UnixSocket):
            f.inflight += delta
            if f.inflight:
                _INFLIGHT_SOCKS.add(f)
            else:
                _INFLIGHT_SOCKS.discard(f)
    left = _USER_INFLIGHT.get(anc.user, 0) + delta * len(fds)
    if left:
        _USER_INFLIGHT[anc.user] = left
    else:
        _USER_INFLIGHT.pop(anc.user, None)


def too_many_in_flight(t: Any) -> bool:
    """Linux's ``too_many_unix_fds``: the sender's user has more descriptions in flight
    than its RLIMIT_NOFILE, and neither CAP_SYS_RESOURCE nor CAP_SYS_ADMIN."""
    from sentry.abi.linux import capability as cap

    return (_USER_INFLIGHT.get(t.creds.uid, 0) > t.fdtable.limit
            and not t.creds.capable(cap.CAP_SYS_RESOURCE)
            and not t.creds.capable(cap.CAP_SYS_ADMIN))


def take_fds(anc: Anc) -> Optional[List[FileDescription]]:
    """The descriptions *anc* carries, their references handed to the caller."""
    fds = anc.fds
    if fds:
        _in_flight(anc, -1)
        anc.fds = None
    return fds


def peek_fds(anc: Anc) -> Optional[List[FileDescription]]:
    """``MSG_PEEK``: new references to the descriptions, which stay in flight."""
    if not anc.fds:
        return None
    for f in anc.fds:
        f.incref()
    return list(anc.fds)


def drop_fds(anc: Anc) -> None:
    fds = take_fds(anc)
    if fds:
        drop_refs(fds)


_DROPS: List[FileDescription] = []
_dropping = [False]


def drop_refs(fds: List[FileDescription]) -> None:
    """Drop one reference of each.  Iterative: a socket released here may drop the ones it
    carried, and so on down a chain a workload built as long as it liked."""
    _DROPS.extend(fds)
    if _dropping[0]:
        return
    _dropping[0] = True
    try:
        while _DROPS:
            _DROPS.pop().decref()
    finally:
        _dropping[0] = False


def _carried(s: UnixSocket) -> List[UnixSocket]:
    """Unix sockets in flight in messages that *s* (or, listening, its unaccepted
    connections) would receive."""
    out: List[UnixSocket] = []
    for sock in [s, *s.pending]:
        ch = sock.rx
        if ch is None:
            continue
        for anc in [seg[1] for seg in ch.segs] + [m[2] for m in ch.msgs]:
            out.extend(f for f in anc.fds or () if isinstance(f, UnixSocket))
    return out


_gc_ticks = [0]


def maybe_collect() -> None:
    """Run :func:`collect` once enough sockets were closed since the last run: as many as
    half the sockets in flight.  A closed socket that is in flight makes one more
    candidate, so collecting at each such close would cost the square of a chain's length;
    this way each close costs O(1) amortized, and garbage stays within a constant factor
    of what is in flight."""
    _gc_ticks[0] += 1
    if _gc_ticks[0] * 2 >= len(_INFLIGHT_SOCKS):
        _gc_ticks[0] = 0
        collect()


def collect() -> None:
    """Free cycles of sockets that only messages in flight refer to (Linux's ``unix_gc``).

    Candidates are sockets all of whose references are in flight.  Each reference from a
    candidate's own queue is taken off; a candidate with references left is reachable
    from outside, and so is all it carries.  The rest can never be received: their queues
    are purged, which drops the last references.
    """
    if _dropping[0]:
        return  # references are being dropped: the counts settle, and decref calls again
    cands = {s for s in _INFLIGHT_SOCKS if s.refs == s.inflight}
    if not cands:
        return
    left = {s: s.inflight for s in cands}
    for c in cands:
        for x in _carried(c):
            if x in left:
                left[x] -= 1
    reachable = [s for s in cands if left[s] > 0]
    seen = set(reachable)
    while reachable:
        for x in _carried(reachable.pop()):
            if x in cands and x not in seen:
                seen.add(x)
                reachable.append(x)
    garbage = [s for s in cands if s not in seen]
    for s in garbage:
        for sock in [s, *s.pending]:
            if sock.rx is not None:
                sock.rx.purge()


#: Every unix socket of the sandbox not released yet, by its inode number (/proc/net/unix).
LIVE: Dict[int, "UnixSocket"] = {}


def proc_net_unix() -> bytes:
    """``/proc/net/unix`` (``unix_seq_show``), in inode order: a socket's kernel address
    (hashed, as Linux shows one), its references (2, the file's and the reader's, and one
    for each open socket whose peer or datagram destination it is), ``__SO_ACCEPTCON``
    for a listener, its type, its state (``SS_CONNECTED`` once connected, a datagram
    socket's destination too; ``SS_CONNECTING`` and no inode for a connection not
    accepted yet; else ``SS_UNCONNECTED``), and its name (an abstract one with ``@`` for
    NULs; an accepted connection its listener's)."""
    live = list(LIVE.values())
    embryos = {id(p) for s in live if s.listening for p in s.pending}
    held: Dict[int, int] = {}
    for s in live:
        for other in (s.peer, s.dgram_peer):
            if other is not None:
                held[id(other)] = held.get(id(other), 0) + 1
    out = [b"Num       RefCount Protocol Flags    Type St Inode Path\n"]
    for ino, s in sorted(LIVE.items()):
        embryo = id(s) in embryos
        connected = s.peer is not None or s.dgram_connected
        line = b"%016x: %08X %08X %08X %04X %02X %5d" % (
            (ino * 0x9E3779B1) & 0xFFFFFFFF, 2 + held.get(id(s), 0), 0,
            0x10000 if s.listening else 0, s.stype, 2 if embryo else 3 if connected else 1,
            0 if embryo else ino)
        if s.name is not None:
            line += (b" @" + s.name[1:].replace(b"\0", b"@") if s.name[:1] == b"\0"
                     else b" " + s.name)
        out.append(line + b"\n")
    return b"".join(out)


# Bound names of this sandbox: path names by their socket node's (dev, ino), abstract ones
# (the sandbox's own namespace) by name. One sandbox per sentry process.
_BOUND: Dict[Tuple[int, int], "UnixSocket"] = {}
_ABSTRACT: Dict[bytes, "UnixSocket"] = {}
_autobind = [0]


def _cred(t: Any) -> Tuple[int, int, int]:
    return (t.tgid, t.creds.euid, t.creds.egid) if t is not None else (0, 0, 0)


def bind(t: Any, s: UnixSocket, name: bytes) -> None:
    """bind(2): *name* is sun_path as given (empty: autobind an abstract name).

    A path name makes a socket node in the sandbox's file system (``EADDRINUSE`` if the
    name exists); an abstract one lives in the sandbox's own namespace.
    """
    if s.name is not None:
        raise err(errno.EINVAL)
    if not name:
        _autobind[0] += 1
        name = b"\0%05x" % _autobind[0]
    if name[:1] == b"\0":
        if name in _ABSTRACT:
            raise err(errno.EADDRINUSE)
        _ABSTRACT[name] = s
        s.name = name
        return
    vfs = t.kernel.vfs
    try:
        vfs.mknod_at(t, abi.AT_FDCWD, name, abi.S_IFSOCK | 0o777, 0)
    except LinuxError as e:
        raise err(errno.EADDRINUSE if e.errno == errno.EEXIST else e.errno) from None
    st = vfs.resolve(t, abi.AT_FDCWD, name, follow=False).dentry.inode.stat()
    s.bound_key = (st.dev, st.ino)
    _BOUND[s.bound_key] = s
    s.name = name


def _dgram_target(t: Any, name: bytes) -> UnixSocket:
    target = lookup(t, name)
    if target.stype != SOCK_DGRAM:
        raise err(errno.ECONNREFUSED if name[:1] == b"\0" else errno.EPROTOTYPE)
    return target


def connect_dgram(t: Any, s: UnixSocket, name: bytes) -> None:
    """connect(2) of a datagram socket: the default destination, and the only socket
    it takes datagrams from from now on (others get ``EPERM``)."""
    target = _dgram_target(t, name)
    s.dgram_peer = target
    s.peer_name = target.name
    s.dgram_connected = target.dgram_connected = True


def send_to(t: Any, s: UnixSocket, name: bytes, data: bytes, flags: int,
            fds: Optional[List[FileDescription]] = None, cred: Optional[Cred] = None) -> int:
    """sendto(2)/sendmsg(2) of a datagram socket to a name."""
    return deliver(t, s, _dgram_target(t, name), data, flags, fds, cred)


#: net.unix.max_dgram_qlen: datagrams queued for a socket that is not connected back to
#: the sender before further sends wait.
MAX_DGRAM_QLEN = 10


def deliver(t: Any, s: UnixSocket, target: UnixSocket, data: bytes, flags: int,
            fds: Optional[List[FileDescription]] = None, cred: Optional[Cred] = None) -> int:
    if s.shut_wr:
        raise err(errno.EPIPE)
    if target.released or target.rx is None:
        if s.dgram_peer is target:
            # unix_dgram_disconnected: the dead peer is forgotten, and so is what was queued.
            s.dgram_peer = None
            s.peer_name = None
            s.dgram_connected = False  # (TCP_CLOSE again)
            assert s.rx is not None
            s.rx.purge()
        raise err(errno.ECONNREFUSED)
    if target.dgram_peer is not None and target.dgram_peer is not s:
        raise err(errno.EPERM)  # it takes datagrams from its peer only (unix_may_send)
    if target.shut_rd:
        raise err(errno.EPIPE)
    ch = target.rx
    n = len(data)
    if n > BUFFER:
        raise err(errno.EMSGSIZE)
    full = len(ch.msgs) > MAX_DGRAM_QLEN if target.dgram_peer is not s else \
        len(ch.msgs) >= MAX_ENTRIES
    if BUFFER - ch.size < n or full:
        if s.nonblocking or flags & MSG_DONTWAIT:
            raise err(errno.EAGAIN)
        raise WouldBlock([(target.queue, EVENT_OUT)])
    _room(n)
    if s.passcred and s.name is None:
        bind(t, s, b"")  # a sender that passes credentials gets a name (unix_autobind)
    ch.put(data, _anc(t, fds, cred, s, target), s.name)
    target.queue.notify(EVENT_IN)
    return n


def listen(t: Any, s: UnixSocket, backlog: int) -> None:
    if s.stype == SOCK_DGRAM:
        raise err(errno.EOPNOTSUPP)
    if s.name is None or s.peer is not None:
        raise err(errno.EINVAL)
    s.listening = True
    s.backlog = max(0, min(backlog, 4096))
    s.listen_cred = _cred(t)
    s.queue.notify(EVENT_OUT)


def lookup(t: Any, name: bytes) -> UnixSocket:
    """The socket bound to *name* (``ECONNREFUSED`` if none; path errors as open's)."""
    if name[:1] == b"\0":
        target = _ABSTRACT.get(name)
    else:
        from sentry.vfs import permissions as perm

        inode = t.kernel.vfs.resolve(t, abi.AT_FDCWD, name, follow=True).dentry.inode
        if (inode.mode & abi.S_IFMT) != abi.S_IFSOCK:
            raise err(errno.ECONNREFUSED)
        perm.check(t.creds, inode, perm.MAY_WRITE)
        st = inode.stat()
        target = _BOUND.get((st.dev, st.ino))
    if target is None:
        raise err(errno.ECONNREFUSED)
    return target


def connect(t: Any, s: UnixSocket, name: bytes) -> None:
    """connect(2) of a stream or seqpacket socket to a listening one: a new connected
    end is queued for its accept."""
    target = lookup(t, name)
    if s.peer is not None or s.listening:
        raise err(errno.EISCONN)
    if not target.listening:
        raise err(errno.ECONNREFUSED)
    if target.stype != s.stype:
        # A path finds the socket, then its type is wrong; an abstract name is looked up
        # per type, so there is none (Linux's unix_find_other).
        raise err(errno.ECONNREFUSED if name[:1] == b"\0" else errno.EPROTOTYPE)
    if len(target.pending) > target.backlog:
        if s.nonblocking:
            raise err(errno.EAGAIN)
        raise WouldBlock([(target.queue, EVENT_OUT | EVENT_HUP)])
    if s.passcred and s.name is None:
        bind(t, s, b"")  # unix_stream_connect autobinds a socket that passes credentials
    server = new_socket(t, s.stype, 0)
    server.passcred = target.passcred
    stream = s.stype == SOCK_STREAM
    cs, sc = Channel(stream), Channel(stream)
    s.peer, server.peer = server, s
    s.tx, server.rx = cs, cs
    server.tx, s.rx = sc, sc
    server.name = target.name
    s.peer_name, server.peer_name = target.name, s.name
    s.peer_cred, server.peer_cred = target.listen_cred, _cred(t)
    target.pending.append(server)
    target.queue.notify(EVENT_IN)
    s.queue.notify(EVENT_OUT)


def accept(t: Any, s: UnixSocket) -> UnixSocket:
    if not s.listening:
        raise err(errno.EINVAL)
    if not s.pending:
        s._block(0, EVENT_IN)
    conn = s.pending.popleft()
    s.queue.notify(EVENT_OUT)  # room in the backlog
    return conn


def new_socket(t: Any, stype: int, flags: int) -> UnixSocket:
    fs, mount = _sockfs()
    uid, gid = (t.creds.euid, t.creds.egid) if t is not None else (0, 0)
    inode = SockInode(fs, uid, gid)
    vd = VirtualDentry(mount, Dentry(b"socket:[%d]" % inode.ino, None, inode))
    return UnixSocket(vd, inode, stype, flags)


def new_pair(t: Any, stype: int, flags: int) -> Tuple[UnixSocket, UnixSocket]:
    """socketpair(2): two connected ends."""
    a = new_socket(t, stype, flags)
    b = new_socket(t, stype, flags)
    a.peer_cred = b.peer_cred = _cred(t)  # init_peercred: the creator's, for both
    if stype == SOCK_DGRAM:
        a.dgram_peer, b.dgram_peer = b, a
        a.dgram_connected = b.dgram_connected = True
        return a, b
    stream = stype == SOCK_STREAM
    ab, ba = Channel(stream), Channel(stream)
    a.peer, b.peer = b, a
    a.tx, b.rx = ab, ab
    b.tx, a.rx = ba, ba
    return a, b
