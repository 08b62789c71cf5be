"""Unix-domain sockets, held in sentry memory (always emulated, design §6).

What exists today: connected pairs from ``socketpair(2)`` of every type
(``SOCK_STREAM``: a byte stream each way; ``SOCK_DGRAM``/``SOCK_SEQPACKET``:
message boundaries kept), and unconnected sockets from ``socket(AF_UNIX)``
whose ``connect`` finds no listener (path-named sockets, ``bind``/``listen``/
``accept`` and ``SCM_RIGHTS`` come with the networking issue).

Semantics (unix(7)): a send to a peer that closed or shut down reading gives
``EPIPE`` and ``SIGPIPE`` (unless ``MSG_NOSIGNAL``); a stream read after the
peer's write side is gone returns EOF; each direction holds
:data:`BUFFER` bytes before a sender blocks.  Single-threaded, no locks.
"""

from __future__ import annotations

import errno
import signal
from collections import deque
from typing import Any, Deque, Dict, Optional, Tuple

from sentry.abi.linux.errors import LinuxError, WouldBlock, err
from sentry.kernel.waiter import EVENT_ALL, EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT, EVENT_RDHUP, \
    WaitQueue
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, Inode, Stat, StatFS, now_ns

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

    def root_inode(self) -> Inode:
        return SockInode(self, 0, 0)

    def statfs(self, t: Any) -> StatFS:
        return StatFS(type=self.magic, fsid=self.dev)


class SockInode(Inode):
    def __init__(self, fs: Filesystem, uid: int, gid: int) -> None:
        super().__init__(fs, fs.next_ino(), abi.S_IFSOCK | 0o777, uid, gid)
        self.t_ns = now_ns()

    def open(self, t: Any, vd: VirtualDentry, flags: int) -> FileDescription:
        # Opening a socket through /proc/PID/fd is ENXIO on Linux too.
        raise err(errno.ENXIO)

    def stat(self) -> Stat:
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=1, uid=self.uid, gid=self.gid,
            rdev=0, size=0, blksize=4096, blocks=0, atime_ns=self.t_ns, mtime_ns=self.t_ns,
            ctime_ns=self.t_ns,
        )


_FS: Optional[Tuple[SockFilesystem, Mount]] = None


def _sockfs() -> Tuple[SockFilesystem, Mount]:
    global _FS
    if _FS is None:
        fs = SockFilesystem()
        mount = Mount(fs, Dentry(b"", None, fs.root_inode()), None, None, False, "sockfs", "")
        _FS = (fs, mount)
    return _FS


class Channel:
    """One direction of a connection: bytes (stream) or messages (dgram/seqpacket)."""

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.data = bytearray()
        self.msgs: Deque[bytes] = deque()
        self.srcs: Deque[Optional[bytes]] = deque()  # each message's sender name (datagrams)
        self.size = 0
        self.closed_write = False   # the sender will send no more (close/SHUT_WR)
        self.closed_read = False    # the receiver will read no more (close/SHUT_RD)

    @property
    def empty(self) -> bool:
        return not self.data if self.stream else not self.msgs


class UnixSocket(FileDescription):
    """One end of a unix socket."""

    pollable = True

    def __init__(self, vd: VirtualDentry, inode: Inode, stype: int, flags: int) -> None:
        super().__init__(vd, inode, abi.O_RDWR | (flags & abi.O_NONBLOCK))
        self.stype = stype
        self.stream = stype == SOCK_STREAM
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
        self.last_src: Optional[bytes] = None  # sender name of the message last received
        self.released = False

    # -- connection state ------------------------------------------------------
    def wait_queue(self) -> WaitQueue:
        return self.queue

    def _notify_both(self, events: int = EVENT_ALL) -> None:
        self.queue.notify(events)
        if self.peer is not None:
            self.peer.queue.notify(events)

    def shutdown(self, how: int) -> None:
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise err(errno.EINVAL)
        if self.peer is None:
            raise err(errno.ENOTCONN)
        assert self.rx is not None and self.tx is not None
        if how in (SHUT_RD, SHUT_RDWR):
            self.rx.closed_read = True
        if how in (SHUT_WR, SHUT_RDWR):
            self.tx.closed_write = True
        self._notify_both()

    def release(self) -> None:
        self.released = True
        if self.bound_key is not None and _BOUND.get(self.bound_key) is self:
            del _BOUND[self.bound_key]
        if self.name is not None and self.name[:1] == b"\0" and _ABSTRACT.get(self.name) is self:
            del _ABSTRACT[self.name]
        while self.pending:  # connections never accepted: their clients see the end
            self.pending.popleft().release()
        if self.rx is not None:
            self.rx.closed_read = True
        if self.tx is not None:
            self.tx.closed_write = True
        self._notify_both()

    # -- data --------------------------------------------------------------------
    def send(self, t: Any, data: bytes, flags: int) -> int:
        ch = self.tx
        if ch is None and self.dgram_peer is not None:
            return deliver(t, self, self.dgram_peer, data, flags)
        if ch is None:
            raise err(errno.ENOTCONN if self.stype != SOCK_DGRAM else errno.EDESTADDRREQ)
        if ch.closed_write or ch.closed_read:
            if not flags & MSG_NOSIGNAL and t is not None:
                t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
            raise err(errno.EPIPE)
        n = len(data)
        free = BUFFER - ch.size
        if ch.stream:
            if n == 0:
                return 0
            if free <= 0:
                self._block(flags, EVENT_OUT)
            k = min(n, free)
            ch.data += data[:k]
            ch.size += k
        else:
            if n > BUFFER:
                raise err(errno.EMSGSIZE)
            if free < n:
                self._block(flags, EVENT_OUT)
            ch.msgs.append(bytes(data))
            ch.srcs.append(None)
            ch.size += n
            k = n
        if self.peer is not None:
            self.peer.queue.notify(EVENT_IN)
        return k

    def recv(self, t: Any, n: int, flags: int) -> Tuple[bytes, int]:
        """Returns (data, full message length) — the latter for ``MSG_TRUNC``."""
        ch = self.rx
        if ch is None:
            if self.stype == SOCK_STREAM or self.stype == SOCK_SEQPACKET:
                raise err(errno.EINVAL if self.stype == SOCK_STREAM else errno.ENOTCONN)
            self._block(flags, EVENT_IN)
            raise AssertionError("unreachable")
        if ch.empty:
            if ch.closed_write or ch.closed_read:
                return b"", 0
            self._block(flags, EVENT_IN)
        peek = bool(flags & MSG_PEEK)
        if ch.stream:
            out = bytes(ch.data[:n])
            if not peek:
                del ch.data[: len(out)]
                ch.size -= len(out)
            full = len(out)
        else:
            msg = ch.msgs[0]
            out = msg[:n]
            full = len(msg)
            self.last_src = ch.srcs[0] if ch.srcs else None
            if not peek:
                ch.msgs.popleft()
                if ch.srcs:
                    ch.srcs.popleft()
                ch.size -= len(msg)
        if not peek and self.peer is not None:
            self.peer.queue.notify(EVENT_OUT)
        elif not peek and self.stype == SOCK_DGRAM:
            self.queue.notify(EVENT_OUT)  # room for senders by name
        return out, full

    def _block(self, flags: int, mask: int) -> None:
        if self.nonblocking or flags & MSG_DONTWAIT:
            raise err(errno.EAGAIN)
        raise WouldBlock([(self.queue, mask | EVENT_HUP | EVENT_ERR)])

    def read(self, t: Any, n: int) -> bytes:
        return self.recv(t, n, 0)[0]

    def write(self, t: Any, data: bytes) -> int:
        return self.send(t, data, 0)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        raise err(errno.ESPIPE)

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        raise err(errno.ESPIPE)

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
        rcv_shut = rx is not None and (rx.closed_write or rx.closed_read)
        snd_shut = tx is not None and (tx.closed_write or tx.closed_read)
        if rcv_shut:
            r |= EVENT_IN | _RDNORM | EVENT_RDHUP
            if snd_shut:
                r |= EVENT_HUP
        if rx is not None and not rx.empty:
            r |= EVENT_IN | _RDNORM
        if self.listening:
            return (EVENT_IN | _RDNORM if self.pending else 0) & (mask | EVENT_HUP | EVENT_ERR)
        if self.peer is None and self.stype != SOCK_DGRAM:
            r |= EVENT_HUP
        if tx is None or tx.size * 4 <= BUFFER:
            r |= EVENT_OUT | _WRNORM | _WRBAND
        return r & (mask | EVENT_HUP | EVENT_ERR)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd == 0x541B:  # FIONREAD
            n = 0
            if self.rx is not None:
                n = len(self.rx.data) if self.rx.stream else (len(self.rx.msgs[0]) if self.rx.msgs else 0)
            t.mem.write_i32(arg, n)
            return 0
        raise err(errno.ENOTTY)


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
        _dgram_inbox(s)
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
    _dgram_inbox(s)


def _dgram_inbox(s: UnixSocket) -> None:
    """A bound datagram socket receives what is sent to its name."""
    if s.stype == SOCK_DGRAM and s.rx is None:
        s.rx = Channel(False)


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


def send_to(t: Any, s: UnixSocket, name: bytes, data: bytes, flags: int) -> int:
    """sendto(2)/sendmsg(2) of a datagram socket to a name."""
    return deliver(t, s, _dgram_target(t, name), data, flags)


def deliver(t: Any, s: UnixSocket, target: UnixSocket, data: bytes, flags: int) -> int:
    if target.released or target.rx is None:
        raise err(errno.ECONNREFUSED)
    if target.dgram_peer is not None and target.dgram_peer is not s:
        raise err(errno.EPERM)  # it takes datagrams from its peer only (unix_may_send)
    ch = target.rx
    n = len(data)
    if n > BUFFER:
        raise err(errno.EMSGSIZE)
    if BUFFER - ch.size < n:
        if s.nonblocking or flags & MSG_DONTWAIT:
            raise err(errno.EAGAIN)
        raise WouldBlock([(target.queue, EVENT_OUT)])
    ch.msgs.append(bytes(data))
    ch.srcs.append(s.name)
    ch.size += n
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
    server = new_socket(t, s.stype, 0)
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
    stream = stype == SOCK_STREAM
    ab, ba = Channel(stream), Channel(stream)
    a.peer, b.peer = b, a
    a.tx, b.rx = ab, ab
    b.tx, a.rx = ba, ba
    return a, b
