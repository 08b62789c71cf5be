"""Internet sockets (``AF_INET``, ``AF_INET6``; TCP and UDP): host sockets the sentry holds.

The mechanism is gVisor's "hostinet", reduced to what is safe: each sandbox socket is a
host socket made by the sentry, in the sandbox process's network namespace (a new one with
``lo`` up, the one config.json names, or the host's only when asked: see
``runsc_py/container/hostns.py``), and driven by the sentry: the workload never holds the
host fd. Every call is the host call made on the sentry's copy, with the sandbox's
arguments checked and copied (addresses decoded and re-encoded, socket options from an
allowlist), so the host kernel's TCP/UDP does the protocol work.

The host socket is always non-blocking. A sandbox call that would block parks on the
description's wait queue, which the event loop notifies on each readiness edge of the host
fd (:class:`~sentry.fsimpl.host.host.HostFileDescription`); the call then runs again.
``SO_RCVTIMEO``/``SO_SNDTIMEO`` become the park's deadline (then ``EAGAIN``), as Linux
times out a blocking call. A blocking ``connect`` parks until the host socket is writable
and reports ``SO_ERROR``.

Not offered (Linux's answer for a kernel without them): raw and packet sockets
(``EPERM``/``EAFNOSUPPORT``), ancillary data (``EOPNOTSUPP``).  Passed over a unix socket
(``SCM_RIGHTS``), an inet socket is the same sentry description in the receiver, so it
stays behind the sentry.
"""

from __future__ import annotations

import errno
import fcntl
import _signal as signal
import _socket as socket
import struct
import time
import weakref

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.host.host import HostFileDescription
from sentry.kernel import compat
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

AF_INET, AF_INET6, AF_NETLINK = 2, 10, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6 = 0, 6, 17, 41
SOL_SOCKET = 1
SO_ERROR, SO_TYPE, SO_RCVTIMEO, SO_SNDTIMEO = 4, 3, 20, 21
SO_DOMAIN, SO_PROTOCOL = 39, 38
MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL, MSG_TRUNC = 0x2, 0x40, 0x100, 0x4000, 0x20
MSG_OOB, MSG_MORE, MSG_CONFIRM, MSG_EOR = 0x1, 0x8000, 0x800, 0x80
SEND_FLAGS = MSG_OOB | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_CONFIRM | MSG_EOR
RECV_FLAGS = MSG_OOB | MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_TRUNC

# (level, option) → value size the sandbox may set and get, passed to the host socket.
# Options not here are ENOPROTOOPT (none of them reach the host).
_OPTIONS: Dict[Tuple[int, int], int] = {
    # SOL_SOCKET: DEBUG, REUSEADDR, DONTROUTE, BROADCAST, SNDBUF, RCVBUF, KEEPALIVE,
    # OOBINLINE, PRIORITY, LINGER (struct linger), RCVLOWAT, SNDLOWAT, TIMESTAMP,
    # REUSEPORT, BUSY_POLL, INCOMING_CPU
    **{(SOL_SOCKET, o): 4 for o in (1, 2, 5, 6, 7, 8, 9, 10, 12, 18, 19, 29, 15, 46, 49)},
    (SOL_SOCKET, 13): 8,
    # IPPROTO_TCP: NODELAY, MAXSEG, CORK, KEEPIDLE, KEEPINTVL, KEEPCNT, SYNCNT, LINGER2,
    # DEFER_ACCEPT, WINDOW_CLAMP, QUICKACK, USER_TIMEOUT, FASTOPEN, NOTSENT_LOWAT
    **{(IPPROTO_TCP, o): 4 for o in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 18, 23, 25)},
    # IPPROTO_IP: TOS, TTL, RECVERR, MTU_DISCOVER, MULTICAST_TTL, MULTICAST_LOOP,
    # FREEBIND, BIND_ADDRESS_NO_PORT
    **{(IPPROTO_IP, o): 4 for o in (1, 2, 11, 10, 33, 34, 15, 24)},
    # IPPROTO_IPV6: UNICAST_HOPS, MULTICAST_HOPS, MULTICAST_LOOP, RECVERR, V6ONLY, TCLASS
    **{(IPPROTO_IPV6, o): 4 for o in (16, 18, 19, 25, 26, 67)},
}
# Read-only: TCP_INFO (struct tcp_info), TCP_CONGESTION (name), SO_ACCEPTCONN,
# SO_BINDTODEVICE (an interface name; setting it is not offered).
_GET_ONLY: Dict[Tuple[int, int], int] = {
    (IPPROTO_TCP, 11): 232, (IPPROTO_TCP, 13): 16, (SOL_SOCKET, 30): 4, (SOL_SOCKET, 25): 16,
}

# netdevice(7): ifreq queries that only read (GIFNAME, GIFFLAGS, GIFADDR, GIFDSTADDR,
# GIFBRDADDR, GIFNETMASK, GIFMETRIC, GIFMTU, GIFHWADDR, GIFMAP, GIFINDEX, GIFTXQLEN); the
# SIOCSIF* range changes interfaces.
_IFREQ_GET = frozenset({0x8910, 0x8913, 0x8915, 0x8917, 0x8919, 0x891B, 0x891D, 0x8921,
                        0x8927, 0x8970, 0x8933, 0x8942})
_IFREQ_SIZE = 40
SIOCGIFCONF = 0x8912
_SIOCSIF_FIRST, _SIOCSIF_LAST = 0x8914, 0x8960
# FIONREAD/SIOCINQ, TIOCOUTQ/SIOCOUTQ, SIOCOUTQNSD, SIOCATMARK
_QUEUE_IOCTLS = frozenset({0x541B, 0x5411, 0x894B, 0x8905})

_SOCKADDR_IN = struct.Struct("!H2s4s8x")  # family (host order, fixed below), port, addr
_SOCKADDR_IN6 = struct.Struct("!H2sI16sI")


def decode_addr(family: int, raw: bytes) -> Tuple[Any, ...]:
    """A sandbox ``sockaddr`` for *family* as a Python socket address.

    :raises LinuxError: EINVAL (too short), EAFNOSUPPORT (another family).
    """
    if len(raw) < 2:
        raise err(errno.EINVAL)
    fam = struct.unpack_from("<H", raw)[0]
    if family == AF_NETLINK:
        if len(raw) < 12 or fam != AF_NETLINK:
            raise err(errno.EINVAL)
        return struct.unpack_from("<II", raw, 4)  # (port id, groups)
    if family == AF_INET:
        if len(raw) < 16:
            raise err(errno.EINVAL)
        if fam != AF_INET:
            raise err(errno.EAFNOSUPPORT)
        _, port, addr = _SOCKADDR_IN.unpack_from(raw)
        return (socket.inet_ntop(socket.AF_INET, addr), struct.unpack("!H", port)[0])
    if len(raw) < 24:
        raise err(errno.EINVAL)
    if fam != AF_INET6:
        raise err(errno.EAFNOSUPPORT)
    _, port, flow, addr, scope = _SOCKADDR_IN6.unpack_from(raw.ljust(28, b"\0"))
    return (socket.inet_ntop(socket.AF_INET6, addr), struct.unpack("!H", port)[0], flow,
            scope if len(raw) >= 28 else 0)


def encode_addr(family: int, addr: Any) -> bytes:
    """A Python socket address as the sandbox's ``sockaddr_in``/``sockaddr_in6`` (or
    ``sockaddr_nl``)."""
    if family == AF_NETLINK:
        return struct.pack("<HHII", AF_NETLINK, 0, addr[0] & 0xFFFFFFFF, addr[1] & 0xFFFFFFFF)
    if family == AF_INET:
        host, port = addr[0], addr[1]
        return struct.pack("<H", AF_INET) + struct.pack("!H", port) + \
            socket.inet_pton(socket.AF_INET, host) + b"\0" * 8
    host, port, flow, scope = addr
    return struct.pack("<H", AF_INET6) + struct.pack("!HI", port, flow) + \
        socket.inet_pton(socket.AF_INET6, host.split("%")[0]) + struct.pack("<I", scope)


_NETDEV_SOCK: List[socket.socket] = []


def netdev_ioctl(t: Any, cmd: int, arg: int) -> Optional[int]:
    """netdevice(7) on any socket (glibc's ``if_nametoindex`` asks a unix socket): the
    queries that only read (``SIOCGIF*``, ``SIOCGIFCONF``) are asked of the host in the
    sandbox's network namespace, through a datagram socket of the sentry's; the ones that
    change an interface or a route are ``EPERM``, as without ``CAP_NET_ADMIN``.  ``None``:
    not one of these."""
    if cmd in _IFREQ_GET:
        req = t.mem.read(arg, _IFREQ_SIZE)
        t.mem.write(arg, _host(fcntl.ioctl, _netdev_fd(), cmd, req))
        return 0
    if cmd == SIOCGIFCONF:
        return _ifconf(t, arg)
    if _SIOCSIF_FIRST <= cmd <= _SIOCSIF_LAST or cmd in (0x890B, 0x890C):  # + SIOCADD/DELRT
        if t.creds.capable(cap.CAP_NET_ADMIN):  # Linux would (compat report)
            t.kernel.note_unsupported(
                t, "ioctl", f"{compat.ioctl_name(cmd)}: changes the network")
        raise err(errno.EPERM)
    return None


def _netdev_fd() -> int:
    if not _NETDEV_SOCK:
        _NETDEV_SOCK.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC))
    return _NETDEV_SOCK[0].fileno()


def _ifconf(t: Any, arg: int) -> int:
    """SIOCGIFCONF: ``struct ifconf`` holds a pointer, so the sentry builds the records
    (one per interface with an IPv4 address) and copies out what fits the caller's
    buffer, or only the size needed for a NULL buffer."""
    length, buf = struct.unpack("<i4xQ", t.mem.read(arg, 16))
    if length < 0:
        raise err(errno.EINVAL)
    out = bytearray()
    for _i, name in socket.if_nameindex():
        try:
            out += fcntl.ioctl(_netdev_fd(), 0x8915,  # SIOCGIFADDR
                               struct.pack("16s24x", name.encode()))
        except OSError:
            continue
    if buf:
        out = out[: length - length % _IFREQ_SIZE]
        t.mem.write(buf, bytes(out))
    t.mem.write(arg, struct.pack("<i", len(out)))
    return 0


def _host(fn: Any, *args: Any) -> Any:
    """A host socket call; ``BlockingIOError`` propagates, other errors become the
    sandbox's errno (:func:`_sandbox_errno`)."""
    try:
        return fn(*args)
    except BlockingIOError:
        raise
    except OSError as e:
        raise err(_sandbox_errno(e)) from None


def _sandbox_errno(e: OSError) -> int:
    """The errno a host socket call's failure is to the sandbox: the sentry's EMFILE (its
    own fd table full, which every host socket is in) is ENFILE, the system's file table
    being full as the sandbox sees it; its own table is the sentry's to fill."""
    if e.errno == errno.EMFILE:
        return errno.ENFILE
    return e.errno or errno.EIO


#: The sandbox's own TCP/UDP sockets by host inode number (socket diagnostics show only them).
BY_HOST_INO: "weakref.WeakValueDictionary[int, InetSocket]" = weakref.WeakValueDictionary()


class InetSocket(HostFileDescription):
    """A sandbox TCP/UDP socket over a non-blocking host socket."""

    on_noexec_sb = True  # type: ignore[assignment]  # (sockfs's, not the host file's)
    mmap_refuses_late = True  # (sock_mmap: no tcp_mmap here, sock_no_mmap for UDP)
    validates_on_host = False

    def __init__(self, sock: socket.socket, family: int, stype: int, protocol: int,
                 uid: int = 0, gid: int = 0) -> None:
        self.sock = sock
        super().__init__(sock.fileno(), uid, gid)
        if family in (socket.AF_INET, socket.AF_INET6) and self.inode is not None:
            BY_HOST_INO[self.inode.ino] = self
        self.flags = (self.flags & ~abi.O_ACCMODE) | abi.O_RDWR
        self.family, self.stype, self.protocol = family, stype, protocol
        self.stream = stype == SOCK_STREAM
        self.connecting = False
        self.timeouts = {SO_RCVTIMEO: 0.0, SO_SNDTIMEO: 0.0}
        self._deadlines: "weakref.WeakKeyDictionary[Any, Tuple[int, float]]" = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def create(cls, t: Any, family: int, stype: int, protocol: int) -> "InetSocket":
        """socket(2) for these families.

        :raises LinuxError: EPERM (raw), ESOCKTNOSUPPORT, EPROTONOSUPPORT, host errors.
        """
        if stype == SOCK_RAW:
            raise err(errno.EPERM)  # no CAP_NET_RAW for sandboxes
        if stype not in (SOCK_STREAM, SOCK_DGRAM):
            raise err(errno.ESOCKTNOSUPPORT)
        want = IPPROTO_TCP if stype == SOCK_STREAM else IPPROTO_UDP
        if protocol not in (0, want):
            raise err(errno.EPROTONOSUPPORT)
        sock = _host(socket.socket, family, stype | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                     protocol)
        return cls.adopt(t, sock, family, stype, want)

    @classmethod
    def adopt(cls, t: Any, sock: socket.socket, family: int, stype: int,
              protocol: int) -> "InetSocket":
        c = t.creds
        desc = cls(sock, family, stype, protocol, c.euid, c.egid)
        if getattr(t.kernel, "loop", None) is not None:
            desc.watch(t.kernel)
        return desc

    def release(self) -> None:
        if self.inode is not None and BY_HOST_INO.get(self.inode.ino) is self:
            del BY_HOST_INO[self.inode.ino]
        self.sock.detach()  # the description closes the fd itself
        super().release()

    # -- blocking ------------------------------------------------------------

    def wait(self, t: Any, mask: int, dontwait: bool = False) -> None:
        """Park the current call until the host socket may be ready for *mask*
        (``EAGAIN`` for a non-blocking call or once the socket's timeout passed)."""
        if self.nonblocking or dontwait:
            raise err(errno.EAGAIN)
        timeout = self.timeouts[SO_RCVTIMEO if mask & EVENT_IN else SO_SNDTIMEO]
        if not timeout:
            raise WouldBlock([(self._hq, mask)])
        a = getattr(t, "syscall_args", None)
        if a is None:
            raise WouldBlock([(self._hq, mask)])
        if a.timed_out:
            self._deadlines.pop(t, None)
            raise err(errno.EAGAIN)
        prev = self._deadlines.get(t)
        if prev is None or prev[0] != a.notif_id:
            prev = (a.notif_id, time.monotonic() + timeout)
            self._deadlines[t] = prev
        raise WouldBlock([(self._hq, mask)], deadline=prev[1])

    # -- data ------------------------------------------------------------------

    def read(self, t: Any, n: int) -> bytes:
        return self.recv(t, n, 0)[0]

    def write(self, t: Any, data: bytes) -> int:
        return self.send(t, data, 0, None)

    def send(self, t: Any, data: bytes, flags: int, addr: Optional[Tuple[Any, ...]]) -> int:
        """send/sendto: the host's count; ``EPIPE`` raises ``SIGPIPE`` unless
        ``MSG_NOSIGNAL``."""
        if flags & ~SEND_FLAGS:
            raise err(errno.EOPNOTSUPP)
        host_flags = (flags & ~MSG_DONTWAIT) | MSG_DONTWAIT | MSG_NOSIGNAL
        try:
            if addr is None:
                return int(self.sock.send(data, host_flags))
            return int(self.sock.sendto(data, host_flags, addr))
        except BlockingIOError:
            self.wait(t, EVENT_OUT, bool(flags & MSG_DONTWAIT))
            raise AssertionError("unreachable") from None
        except OSError as e:
            if e.errno == errno.EPIPE and not flags & MSG_NOSIGNAL and t is not None:
                t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
            raise err(e.errno or errno.EIO) from None

    def recv(self, t: Any, n: int, flags: int) -> Tuple[bytes, int, Any]:
        """recv/recvfrom: (data, the host's count, source address).

        The count is the datagram's real length with ``MSG_TRUNC`` (udp(7)), so it can
        exceed ``len(data)``.
        """
        if flags & ~RECV_FLAGS:
            raise err(errno.EOPNOTSUPP)
        host_flags = (flags & ~(MSG_WAITALL | MSG_DONTWAIT)) | MSG_DONTWAIT
        buf = bytearray(n)
        try:
            if self.stream:
                got = self.sock.recv_into(buf, n, host_flags)
                return bytes(buf[:got]), got, None
            got, src = self.sock.recvfrom_into(buf, n, host_flags)
            return bytes(buf[:min(got, n)]), got, src
        except BlockingIOError:
            self.wait(t, EVENT_IN, bool(flags & MSG_DONTWAIT))
            raise AssertionError("unreachable") from None
        except OSError as e:
            raise err(e.errno or errno.EIO) from None

    # -- connections -------------------------------------------------------------

    def connect(self, t: Any, addr: Tuple[Any, ...]) -> None:
        """connect(2); a blocking stream connect parks until it completes."""
        if self.connecting:
            # A retry of a parked (or interrupted and restarted) connect.
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.connecting = False
                raise err(code)
            if self.readiness(EVENT_OUT) & EVENT_OUT:
                self.connecting = False
                return
            if self.nonblocking:
                raise err(errno.EALREADY)
            self.wait(t, EVENT_OUT)
        try:
            self.sock.connect(addr)
        except BlockingIOError:
            if not self.stream:
                raise err(errno.EAGAIN) from None
            self.connecting = True
            if self.nonblocking:
                raise err(errno.EINPROGRESS) from None
            self.wait(t, EVENT_OUT)
        except OSError as e:
            if e.errno == errno.EINPROGRESS:
                self.connecting = True
                if self.nonblocking:
                    raise err(errno.EINPROGRESS) from None
                self.wait(t, EVENT_OUT)
            raise err(e.errno or errno.EIO) from None

    def accept(self, t: Any) -> Tuple["InetSocket", Any]:
        """accept(2): a new description for the next connection and its address."""
        try:
            fd, addr = self.sock._accept()  # type: ignore[attr-defined]  # (socket.py's accept wraps it)
            # (family, type and protocol given: _socket asks the host for each otherwise,
            # three calls an accept)
            conn = socket.socket(self.family, self.stype, self.protocol, fileno=fd)
        except BlockingIOError:
            self.wait(t, EVENT_IN)
            raise AssertionError("unreachable") from None
        except OSError as e:
            raise err(_sandbox_errno(e)) from None
        conn.setblocking(False)
        return InetSocket.adopt(t, conn, self.family, self.stype, self.protocol), addr

    # -- ioctls ----------------------------------------------------------------------

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        """The socket's queues (``FIONREAD``, ``SIOCOUTQ``…) from the host socket, and
        the interface queries of netdevice(7) (:func:`netdev_ioctl`)."""
        if cmd in _QUEUE_IOCTLS:
            t.mem.write(arg, _host(fcntl.ioctl, self.sock.fileno(), cmd, b"\0" * 4))
            return 0
        r = netdev_ioctl(t, cmd, arg)
        if r is not None:
            return r
        return super().ioctl(t, cmd, arg)

    # -- options -------------------------------------------------------------------

    def setsockopt(self, level: int, opt: int, value: bytes) -> None:
        if level == SOL_SOCKET and opt in (SO_RCVTIMEO, SO_SNDTIMEO):
            if len(value) < 16:
                raise err(errno.EINVAL)
            sec, usec = struct.unpack_from("<qq", value)
            if sec < 0 or not 0 <= usec < 1_000_000:
                raise err(errno.EDOM)
            self.timeouts[opt] = sec + usec / 1e6
            return
        size = _OPTIONS.get((level, opt))
        if size is None:
            raise err(errno.ENOPROTOOPT)
        if len(value) < min(size, 4):
            raise err(errno.EINVAL)
        _host(self.sock.setsockopt, level, opt, value[:size])

    def getsockopt(self, level: int, opt: int, buflen: int) -> bytes:
        if level == SOL_SOCKET:
            if opt in (SO_RCVTIMEO, SO_SNDTIMEO):
                v = self.timeouts[opt]
                return struct.pack("<qq", int(v), int(round((v - int(v)) * 1e6)))
            if opt == SO_TYPE:
                return struct.pack("<i", self.stype)
            if opt == SO_DOMAIN:
                return struct.pack("<i", self.family)
            if opt == SO_PROTOCOL:
                return struct.pack("<i", self.protocol)
            if opt == SO_ERROR:
                return struct.pack("<i", _host(self.sock.getsockopt, level, opt))
        size = _OPTIONS.get((level, opt)) or _GET_ONLY.get((level, opt))
        if size is None:
            raise err(errno.ENOPROTOOPT)
        return bytes(_host(self.sock.getsockopt, level, opt, max(min(buflen, size), 0) or size))
