"""Route netlink (``AF_NETLINK``, ``NETLINK_ROUTE``), read-only, over a host socket.

What glibc (``getifaddrs``, ``if_nameindex``), iproute2's ``ip addr``/``ip link``/``ip
route`` and language runtimes need is to *read* the interfaces, addresses and routes of
the sandbox's network namespace.  Like :mod:`sentry.fsimpl.sock.inet`, each sandbox socket
is a host socket the sentry made in that namespace and drives; the workload never holds
it.  The host socket is the sentry's, whose credentials would let it change the network,
so every message the workload sends is checked first:

- requests of the ``RTM_GET*`` kinds below go to the host, except ones naming another
  network namespace (``IFLA_TARGET_NETNSID``, ``IFLA_NET_NS_PID``/``FD``,
  ``IFA_TARGET_NETNSID``);
- any other request (``RTM_NEWLINK``, ``RTM_NEWADDR``, ``RTM_DELROUTE``…) is answered by
  the sentry with the ``NLMSG_ERROR`` ``-EPERM`` a process without ``CAP_NET_ADMIN`` gets
  (``sendmsg`` itself succeeds, as on Linux);
- messages go to the kernel only: a destination or ``connect`` with another port or with
  multicast groups is ``EPERM``.

Port ids are the sandbox's: ``bind`` and ``getsockname`` see the id the workload chose or
was given (its pid first, as Linux's autobind), and the host's own id in a reply's
``nlmsg_pid`` is rewritten to it (glibc drops replies whose ``nlmsg_pid`` is not its
socket's).

``NETLINK_SOCK_DIAG`` (``ss``) is the sentry's own (its host socket is a route socket
nothing is sent to): ``SOCK_DIAG_BY_FAMILY`` for ``AF_INET``/``AF_INET6`` TCP or UDP
dumps the sandbox's own inet sockets (addresses from the host sockets, a TCP state from
``TCP_INFO``, a listener's accept queue and backlog, the sandbox owner and inode), by the
request's state mask and family; of the attributes only the shutdown state (0: not
recorded) and ``AF_INET6``'s v6only, none that a request's ``ext`` asks for (memory, TCP
info, congestion); a request's bytecode filter is not run
(``ss`` runs its filter itself too).  Other families (unix, netlink, packet) are the
``ENOENT`` of a kernel without their diag module, looking up one socket (no ``NLM_F_DUMP``)
is ``EOPNOTSUPP``, ``SOCK_DESTROY`` and multicast groups ``EPERM``.

``NETLINK_CONNECTOR`` (the proc connector, :mod:`.netlink_connector`) and
``NETLINK_GENERIC`` (nlctrl and TASKSTATS, :mod:`.netlink_genl`) are wholly the sentry's:
:class:`SentryNetlinkSocket` never has a host netlink socket (its host fd is an unnamed
``AF_UNIX`` datagram socket nothing can reach, so the description has an inode and a
readiness like any socket), and everything it reads the sentry queued.  Other netlink
protocols are ``EPROTONOSUPPORT``, a kernel without them.
"""

from __future__ import annotations

import errno
import _socket as socket
import struct
from collections import deque

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.fsimpl.sock.inet import InetSocket, _host
from sentry.kernel import compat
from sentry.kernel.waiter import EVENT_IN

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Deque, Dict, List, Optional, Tuple

AF_NETLINK = 16
NETLINK_ROUTE = 0
NETLINK_SOCK_DIAG = 4
NETLINK_CONNECTOR, NETLINK_GENERIC = 11, 16
NLMSG_DONE = 3
# sock_diag requests: TCPDIAG_GETSOCK, DCCPDIAG_GETSOCK, SOCK_DIAG_BY_FAMILY; SOCK_DESTROY.
TCPDIAG_GETSOCK, DCCPDIAG_GETSOCK, SOCK_DIAG_BY_FAMILY, SOCK_DESTROY = 18, 19, 20, 21
_INET_DIAG_REQ_SIZE = 56  # struct inet_diag_req_v2 and the older inet_diag_req
INET_DIAG_REQ_PROTOCOL = 3
NLM_F_MULTI, NLM_F_DUMP = 0x2, 0x300
IPPROTO_TCP, IPPROTO_UDP = 6, 17
# struct inet_diag_req_v2 up to its states (the socket id after it is not needed for a dump).
_INET_DIAG_REQ_V2 = struct.Struct("<BBBBI")
# struct inet_diag_msg: family, state, timer, retrans; the id (ports big-endian, addresses,
# interface, cookie); expires, rqueue, wqueue, uid, inode.
_INET_DIAG_MSG = struct.Struct("<BBBBHH16s16sIIIIIIII")
TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN = 1, 7, 10
INET_DIAG_SHUTDOWN, INET_DIAG_SKV6ONLY = 8, 11
_TCP_INFO = 11
SOCK_DGRAM, SOCK_RAW = 2, 3
SOL_NETLINK = 270
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_CAPPED = 0x100
NLMSG_MIN_TYPE = 0x10
_NLMSGHDR = struct.Struct("<IHHII")  # len, type, flags, seq, pid
_SOCKADDR_NL = struct.Struct("<HHII")  # family, pad, pid, groups
MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC = 0x2, 0x40, 0x20
NETLINK_NO_ENOBUFS, NETLINK_CAP_ACK = 5, 10

# RTM_GET* requests that only read: link, addr, route, neigh, rule, qdisc, tclass,
# tfilter, multicast, anycast, neightbl, addrlabel, netconf, stats, nexthop.
READ_ONLY = frozenset({18, 22, 26, 30, 34, 38, 42, 46, 58, 62, 66, 74, 82, 94, 106})
RTM_GETLINK, RTM_GETADDR = 18, 22
# Attributes that point a request at another network namespace: (type, header size, attrs).
_OTHER_NS_ATTRS = {
    RTM_GETLINK: (16, {19, 28, 46}),  # ifinfomsg; IFLA_NET_NS_PID/FD, IFLA_TARGET_NETNSID
    RTM_GETADDR: (8, {10}),           # ifaddrmsg; IFA_TARGET_NETNSID
}
# Options a netlink socket may set and get: NETLINK_ADD/DROP_MEMBERSHIP, PKTINFO,
# BROADCAST_ERROR, NO_ENOBUFS, CAP_ACK, EXT_ACK, GET_STRICT_CHK (not LISTEN_ALL_NSID,
# which would show other namespaces' events).
_NL_OPTS = frozenset({1, 2, 3, 4, 5, 10, 11, 12})
# SOL_SOCKET: SNDBUF, RCVBUF, PASSCRED, TIMESTAMP, RCVBUFFORCE, SNDBUFFORCE.
_SOCK_OPTS = frozenset({7, 8, 16, 29, 32, 33})

# Port ids bound in this sandbox (one sandbox per sentry process).
_PORTS: Dict[int, "NetlinkSocket"] = {}
_rover = [-4096]


def _nl_opt_value(opt: int, value: bytes) -> int:
    """A SOL_NETLINK option's int: ENOPROTOOPT for an option not offered, EINVAL for
    fewer than four bytes."""
    if opt not in _NL_OPTS:
        raise err(errno.ENOPROTOOPT)
    if len(value) < 4:
        raise err(errno.EINVAL)
    return int(struct.unpack_from("<I", value)[0])


def _nlmsgerr(msg: bytes, seq: int, error: int, capped: bool, port: int) -> bytes:
    """netlink_ack's ``NLMSG_ERROR``: *error* (0: an ack) and the request, whole or, when
    *capped*, only its header (``NLM_F_CAPPED``)."""
    body = struct.pack("<i", error) + (msg[:_NLMSGHDR.size] if capped else msg)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), NLMSG_ERROR,
                          NLM_F_CAPPED if capped else 0, seq, port) + body


def decode_nl(raw: bytes) -> Tuple[int, int]:
    """A sandbox ``sockaddr_nl``: (port id, groups).  :raises LinuxError: EINVAL."""
    if len(raw) < _SOCKADDR_NL.size:
        raise err(errno.EINVAL)
    fam, _pad, pid, groups = _SOCKADDR_NL.unpack_from(raw)
    if fam != AF_NETLINK:
        raise err(errno.EINVAL)
    return pid, groups


def encode_nl(pid: int, groups: int) -> bytes:
    return _SOCKADDR_NL.pack(AF_NETLINK, 0, pid & 0xFFFFFFFF, groups & 0xFFFFFFFF)


class NetlinkSocket(InetSocket):
    """A sandbox ``NETLINK_ROUTE`` socket (see the module docstring)."""

    def __init__(self, sock: socket.socket, stype: int, uid: int = 0, gid: int = 0,
                 protocol: int = NETLINK_ROUTE) -> None:
        super().__init__(sock, AF_NETLINK, stype, protocol, uid, gid)
        self.port = 0  # the sandbox's port id (0: not bound yet)
        self.groups = 0
        self.cap_ack = False
        self.local: Deque[bytes] = deque()  # the sentry's own replies, read first

    @classmethod
    def create_nl(cls, t: Any, stype: int, protocol: int) -> "NetlinkSocket":
        if stype not in (SOCK_RAW, SOCK_DGRAM):
            raise err(errno.ESOCKTNOSUPPORT)
        if protocol in (NETLINK_CONNECTOR, NETLINK_GENERIC):
            return _sentry_family(protocol).create_local(t, stype, protocol)
        if protocol not in (NETLINK_ROUTE, NETLINK_SOCK_DIAG):
            raise err(errno.EPROTONOSUPPORT)
        # A sock_diag socket is served by the sentry: its host socket is a route socket
        # (the one netlink protocol the sentry's filter lets it make) it sends nothing to.
        sock = _host(socket.socket, socket.AF_NETLINK,
                     stype | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        _host(sock.bind, (0, 0))  # a host port id of the kernel's choosing
        c = t.creds
        desc = cls(sock, stype, c.euid, c.egid, protocol)
        if getattr(t.kernel, "loop", None) is not None:
            desc.watch(t.kernel)
        return desc

    def release(self) -> None:
        if self.port and _PORTS.get(self.port) is self:
            del _PORTS[self.port]
        super().release()

    # -- addresses -------------------------------------------------------------

    def bind_nl(self, t: Any, pid: int, groups: int) -> None:
        """bind(2): a port id (0: the kernel's choice) and multicast groups (read-only
        notifications of this namespace)."""
        if self.port and pid and pid != self.port:
            raise err(errno.EINVAL)
        if groups and self.protocol == NETLINK_SOCK_DIAG:
            raise err(errno.EPERM)  # socket destroy events: not offered
        self._join(groups)
        self._take_port(t, pid)
        self.groups = groups

    def _join(self, groups: int) -> None:
        old = self.groups
        for bit in range(32):
            mask = 1 << bit
            if groups & mask and not old & mask:
                _host(self.sock.setsockopt, SOL_NETLINK, 1, bit + 1)
            elif old & mask and not groups & mask:
                _host(self.sock.setsockopt, SOL_NETLINK, 2, bit + 1)

    def _take_port(self, t: Any, pid: int) -> None:
        """bind's port id: *pid* (EADDRINUSE if another socket has it), or the kernel's
        choice for 0; nothing if this socket has one already."""
        if not self.port:
            if pid:
                if pid in _PORTS:
                    raise err(errno.EADDRINUSE)
                self._claim(pid)
            else:
                self._autobind(t)

    def _claim(self, pid: int) -> None:
        self.port = pid & 0xFFFFFFFF
        _PORTS[self.port] = self

    def _autobind(self, t: Any) -> None:
        """netlink_autobind: the process's pid if free, else a negative id."""
        pid = t.tgid if t is not None else 0
        if pid in _PORTS or not pid:
            while (_rover[0] & 0xFFFFFFFF) in _PORTS:
                _rover[0] -= 1
            pid = _rover[0]
            _rover[0] -= 1
        self._claim(pid)

    def name(self) -> bytes:
        return encode_nl(self.port, self.groups)

    def connect_nl(self, t: Any, pid: int, groups: int) -> None:
        if pid or groups:
            raise err(errno.EPERM)  # only the kernel is reachable
        if not self.port:
            self._autobind(t)

    # -- data ------------------------------------------------------------------

    def send(self, t: Any, data: bytes, flags: int, addr: Optional[Tuple[Any, ...]]) -> int:
        """Check each message; pass the reading ones to the host, answer the rest."""
        if addr is not None and (addr[0] or addr[1]):
            raise err(errno.EPERM)
        if not self.port:
            self._autobind(t)
        passed = bytearray()
        off = 0
        while off + _NLMSGHDR.size <= len(data):
            mlen, mtype, mflags, seq, _pid = _NLMSGHDR.unpack_from(data, off)
            if mlen < _NLMSGHDR.size or off + mlen > len(data):
                break  # the kernel stops at a malformed header too
            msg = data[off: off + mlen]
            if self.protocol == NETLINK_SOCK_DIAG:
                self._diag(t, mtype, mflags, seq, msg)
            elif not mflags & NLM_F_REQUEST or mtype < NLMSG_MIN_TYPE or self._allowed(mtype, msg):
                passed += msg + bytes((-mlen) % 4)
            else:
                if t.creds.capable(cap.CAP_NET_ADMIN):  # Linux would (compat report)
                    t.kernel.note_unsupported(t, "netlink", compat.rtm_name(mtype))
                self._reply_error(msg, mtype, mflags, seq, -errno.EPERM)
            off += (mlen + 3) & ~3
        if passed:
            try:
                _host(self.sock.send, bytes(passed), MSG_DONTWAIT)
            except BlockingIOError:
                self.wait(t, 0x4, bool(flags & MSG_DONTWAIT))
        return len(data)

    def _diag(self, t: Any, mtype: int, mflags: int, seq: int, msg: bytes) -> None:
        """Answer one sock_diag request (see the module docstring)."""
        if not mflags & NLM_F_REQUEST or mtype < NLMSG_MIN_TYPE:
            return
        body = msg[_NLMSGHDR.size:]
        if mtype == SOCK_DESTROY:
            t.kernel.note_unsupported(t, "netlink", "SOCK_DESTROY")
            error = errno.EPERM
        elif mtype == TCPDIAG_GETSOCK and len(body) >= _INET_DIAG_REQ_SIZE:
            # The older request (struct inet_diag_req): TCP, its states after the id.
            family, states = body[0], struct.unpack_from("<I", body, 52)[0]
            error = self._dump(t, family, IPPROTO_TCP, states, mflags, seq)
        elif mtype == DCCPDIAG_GETSOCK:
            error = errno.EINVAL  # as Linux since DCCP went
        elif mtype != SOCK_DIAG_BY_FAMILY or len(body) < _INET_DIAG_REQ_SIZE:
            error = errno.EINVAL
        else:
            family, proto, _ext, _pad, states = _INET_DIAG_REQ_V2.unpack_from(body)
            a = _INET_DIAG_REQ_SIZE
            while a + 4 <= len(body):  # INET_DIAG_REQ_PROTOCOL: a protocol past 255 (MPTCP)
                alen, atype = struct.unpack_from("<HH", body, a)
                if alen < 4:
                    break
                if atype == INET_DIAG_REQ_PROTOCOL and alen >= 8:
                    proto = struct.unpack_from("<I", body, a + 4)[0]
                a += (alen + 3) & ~3
            error = self._dump(t, family, proto, states, mflags, seq)
        if error:
            self._reply_error(msg, mtype, mflags, seq, -error)

    def _dump(self, t: Any, family: int, proto: int, states: int, mflags: int,
              seq: int) -> int:
        """Queue the dump of the sandbox's sockets a request asks for; or the errno."""
        if family not in (socket.AF_INET, socket.AF_INET6):
            t.kernel.note_unsupported(t, "netlink", f"SOCK_DIAG_BY_FAMILY family {family}")
            return errno.ENOENT  # sock_diag without that family's module
        if not mflags & NLM_F_DUMP:
            t.kernel.note_unsupported(t, "netlink", "SOCK_DIAG_BY_FAMILY of one socket")
            return errno.EOPNOTSUPP
        # A dump of a protocol with no diag handler (raw, SCTP, DCCP, MPTCP …) ends at once
        # with ENOENT in its NLMSG_DONE, as Linux's inet_diag dump does.
        done = 0 if proto in (IPPROTO_TCP, IPPROTO_UDP) else -errno.ENOENT
        for rec in _inet_diag_records(family, proto, states) if not done else []:
            self.local.append(_NLMSGHDR.pack(_NLMSGHDR.size + len(rec), SOCK_DIAG_BY_FAMILY,
                                             NLM_F_MULTI, seq, self.port) + rec)
        self.local.append(_NLMSGHDR.pack(_NLMSGHDR.size + 4, NLMSG_DONE, NLM_F_MULTI, seq,
                                         self.port) + struct.pack("<i", done))
        self._hq.notify(EVENT_IN)
        return 0

    @staticmethod
    def _allowed(mtype: int, msg: bytes) -> bool:
        if mtype not in READ_ONLY:
            return False
        spec = _OTHER_NS_ATTRS.get(mtype)
        if spec is None:
            return True
        off = _NLMSGHDR.size + spec[0]
        while off + 4 <= len(msg):
            alen, atype = struct.unpack_from("<HH", msg, off)
            if alen < 4:
                break
            if atype & 0x3FFF in spec[1]:
                return False
            off += (alen + 3) & ~3
        return True

    def _reply_error(self, msg: bytes, mtype: int, mflags: int, seq: int, error: int) -> None:
        """netlink_ack: an ``nlmsgerr`` echoing the request (only its header with
        ``NETLINK_CAP_ACK``)."""
        self.local.append(_nlmsgerr(msg, seq, error, self.cap_ack, self.port))
        self._hq.notify(EVENT_IN)

    def recv(self, t: Any, n: int, flags: int) -> Tuple[bytes, int, Any]:
        if self.local:
            msg = self.local[0] if flags & MSG_PEEK else self.local.popleft()
            return msg[:n], len(msg), (0, 0)
        buf = bytearray(max(n, 0))
        try:
            got, src = self.sock.recvfrom_into(buf, n, (flags & (MSG_PEEK | MSG_TRUNC))
                                               | MSG_DONTWAIT)
        except BlockingIOError:
            self.wait(t, EVENT_IN, bool(flags & MSG_DONTWAIT))
            raise AssertionError("unreachable") from None
        except OSError as e:
            raise err(e.errno or errno.EIO) from None
        data = self._own_port(bytes(buf[:min(got, n)]))
        return data, got, src

    def _own_port(self, data: bytes) -> bytes:
        """Replies carry the host socket's port id; the sandbox knows its own."""
        host_port = self.sock.getsockname()[0]
        out = bytearray(data)
        off = 0
        while off + _NLMSGHDR.size <= len(out):
            mlen = struct.unpack_from("<I", out, off)[0]
            if struct.unpack_from("<I", out, off + 12)[0] == host_port:
                struct.pack_into("<I", out, off + 12, self.port)
            if mlen < _NLMSGHDR.size:
                break
            off += (mlen + 3) & ~3
        return bytes(out)

    def readiness(self, mask: int) -> int:
        r = super().readiness(mask)
        if self.local:
            r |= EVENT_IN & mask
        return r

    # -- options ---------------------------------------------------------------

    def setsockopt(self, level: int, opt: int, value: bytes) -> None:
        if level == SOL_NETLINK:
            v = _nl_opt_value(opt, value)
            if opt == 1 and self.protocol == NETLINK_SOCK_DIAG:
                raise err(errno.EPERM)  # socket destroy events: not offered
            if opt in (1, 2) and not 0 < v <= 32:
                raise err(errno.EINVAL)  # groups of NETLINK_ROUTE: 1..32 (RTNLGRP_MAX > 32
                # exists, but only these are offered)
            _host(self.sock.setsockopt, level, opt, value[:4])
            if opt == 10:
                self.cap_ack = v != 0
            if opt in (1, 2):
                bit = 1 << (v - 1)
                self.groups = self.groups | bit if opt == 1 else self.groups & ~bit
            return
        if level == 1 and opt in _SOCK_OPTS:
            if len(value) < 4:
                raise err(errno.EINVAL)
            _host(self.sock.setsockopt, level, opt, value[:4])
            return
        super().setsockopt(level, opt, value)

    def getsockopt(self, level: int, opt: int, buflen: int) -> bytes:
        if level == SOL_NETLINK:
            if opt not in _NL_OPTS or opt in (1, 2):
                raise err(errno.ENOPROTOOPT)
            return bytes(_host(self.sock.getsockopt, level, opt, 4))
        if level == 1 and opt in _SOCK_OPTS:
            return bytes(_host(self.sock.getsockopt, level, opt, 4))
        return super().getsockopt(level, opt, buflen)


class SentryNetlinkSocket(NetlinkSocket):
    """A netlink socket whose kernel side is the sentry (see the module docstring).

    Subclasses answer what the workload sends (:meth:`receive`) and queue messages with
    :meth:`deliver`.  The receive queue is bounded as a socket's receive buffer is
    (``SO_RCVBUF``, each message charged about an skb's true size): past it a message is
    dropped and the next receive fails once with ``ENOBUFS`` (``netlink_overrun``), unless
    ``NETLINK_NO_ENOBUFS``.
    """

    #: Bytes charged per queued message besides its length (an skb's overhead).
    SKB_OVERHEAD = 640
    #: The port id the kernel's messages come from and the groups a receive reports.
    source: Tuple[int, int] = (0, 0)

    def __init__(self, sock: socket.socket, stype: int, uid: int = 0, gid: int = 0,
                 protocol: int = NETLINK_ROUTE) -> None:
        super().__init__(sock, stype, uid, gid, protocol)
        self.queued_bytes = 0
        self.rcvbuf = 212992  # net.core.rmem_default
        self.overrun = False
        self.opts: Dict[int, int] = {}
        self.sources: Deque[Tuple[int, int]] = deque()

    @classmethod
    def create_local(cls, t: Any, stype: int, protocol: int) -> "SentryNetlinkSocket":
        sock = _host(socket.socket, socket.AF_UNIX,
                     socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        c = t.creds
        desc = cls(sock, stype, c.euid, c.egid, protocol)
        if getattr(t.kernel, "loop", None) is not None:
            desc.watch(t.kernel)
        return desc

    # -- what subclasses provide --------------------------------------------------------

    def receive(self, t: Any, data: bytes) -> None:
        """Act on what the workload sent to the kernel (one ``sendmsg``'s bytes)."""
        raise NotImplementedError

    def join(self, t: Any, groups: int) -> int:
        """The multicast groups *groups* as this family keeps them (bits past its
        groups dropped).  :raises LinuxError: EPERM."""
        return 0

    # -- queue ---------------------------------------------------------------------

    def deliver(self, msg: bytes, group: int = 0) -> bool:
        """Queue one message from the kernel side; False if the receive buffer is full."""
        cost = len(msg) + self.SKB_OVERHEAD
        if self.queued_bytes + cost > self.rcvbuf:
            if not self.opts.get(NETLINK_NO_ENOBUFS):
                self.overrun = True
                self._hq.notify(EVENT_IN)
            return False
        self.queued_bytes += cost
        self.local.append(msg)
        self.sources.append((0, group))
        self._hq.notify(EVENT_IN)
        return True

    def recv(self, t: Any, n: int, flags: int) -> Tuple[bytes, int, Any]:
        if self.overrun and not flags & MSG_PEEK:
            self.overrun = False  # sock_error: reported once, before any queued message
            raise err(errno.ENOBUFS)
        if not self.local:
            self.wait(t, EVENT_IN, bool(flags & MSG_DONTWAIT))
            raise AssertionError("unreachable")
        if flags & MSG_PEEK:
            msg, src = self.local[0], self.sources[0]
        else:
            msg, src = self.local.popleft(), self.sources.popleft()
            self.queued_bytes -= len(msg) + self.SKB_OVERHEAD
        return msg[:n], len(msg), src

    def readiness(self, mask: int) -> int:
        r = super().readiness(mask)
        if self.overrun:
            r |= EVENT_IN & mask
        return r

    # -- addresses and data --------------------------------------------------------

    def bind_nl(self, t: Any, pid: int, groups: int) -> None:
        if self.port and pid and pid != self.port:
            raise err(errno.EINVAL)
        groups = self.join(t, groups) if groups else 0
        self._take_port(t, pid)
        self._set_groups(groups)

    def _set_groups(self, groups: int) -> None:
        self.groups = groups

    def send(self, t: Any, data: bytes, flags: int, addr: Optional[Tuple[Any, ...]]) -> int:
        if addr is not None and (addr[0] or addr[1]):
            raise err(errno.EPERM)  # only the kernel is reachable
        if not self.port:
            self._autobind(t)
        self.receive(t, data)
        return len(data)

    def reply_ack(self, msg: bytes, error: int) -> None:
        """netlink_ack: ``NLMSG_ERROR`` with *error* (0: an ack), echoing the request
        whole on an error unless ``NETLINK_CAP_ACK``, else only its header."""
        _len, _type, _flags, seq, _pid = _NLMSGHDR.unpack_from(msg)
        capped = not error or bool(self.opts.get(NETLINK_CAP_ACK, 0))
        self.deliver(_nlmsgerr(msg, seq, error, capped, self.port))

    # -- options ---------------------------------------------------------------------

    def setsockopt_nl(self, t: Any, level: int, opt: int, value: bytes) -> None:
        """setsockopt(2), with the caller (group membership checks its privileges)."""
        if level == SOL_NETLINK:
            v = _nl_opt_value(opt, value)
            if opt in (1, 2):  # NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP
                if not 0 < v <= 32:
                    raise err(errno.EINVAL)
                bit = 1 << (v - 1)
                if opt == 1:
                    bit = self.join(t, bit)
                    if not self.port:
                        self._autobind(t)
                self._set_groups(self.groups | bit if opt == 1 else self.groups & ~bit)
                return
            self.opts[opt] = int(v != 0)
            return
        if level == 1 and opt in (8, 33):  # SO_RCVBUF, SO_RCVBUFFORCE: the queue's bound
            super().setsockopt(level, opt, value)
            self.rcvbuf = int(_host(self.sock.getsockopt, 1, 8))
            return
        super().setsockopt(level, opt, value)

    def getsockopt(self, level: int, opt: int, buflen: int) -> bytes:
        if level == SOL_NETLINK:
            if opt not in _NL_OPTS or opt in (1, 2):
                raise err(errno.ENOPROTOOPT)
            return struct.pack("<i", self.opts.get(opt, 0))
        return super().getsockopt(level, opt, buflen)

    def release(self) -> None:
        self._set_groups(0)
        super().release()


_SENTRY_FAMILIES: Dict[int, Any] = {}


def _sentry_family(protocol: int) -> Any:
    """The socket class of a netlink protocol the sentry serves itself."""
    if not _SENTRY_FAMILIES:
        from sentry.fsimpl.sock.netlink_connector import ConnectorSocket
        from sentry.fsimpl.sock.netlink_genl import GenericSocket

        _SENTRY_FAMILIES.update({NETLINK_CONNECTOR: ConnectorSocket,
                                 NETLINK_GENERIC: GenericSocket})
    return _SENTRY_FAMILIES[protocol]


def _inet_diag_records(family: int, proto: int, states: int) -> List[bytes]:
    """inet_diag_msg bodies of the sandbox's own sockets of *family*/*proto* whose state is
    in *states* (a bit per TCP state)."""
    from sentry.fsimpl.sock.inet import BY_HOST_INO

    out = []
    for ino, s in sorted(BY_HOST_INO.items()):
        if s.family != family or s.protocol != proto or s.inode is None:
            continue
        try:
            local = s.sock.getsockname()
        except OSError:
            continue
        try:
            peer = s.sock.getpeername()
        except OSError:
            peer = None
        rq = wq = 0
        if proto == IPPROTO_TCP:
            try:
                info = s.sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
            except OSError:
                continue
            state = info[0]
            if state == TCP_CLOSE:
                continue  # in no table a dump walks (not listening nor connected)
            if state == TCP_LISTEN:
                # tcp_diag_get_info: a listener's accept queue and backlog
                rq, wq = struct.unpack_from("<II", info, 24)  # tcpi_unacked, tcpi_sacked
        elif not local[1]:
            continue  # an unbound UDP socket is in no table either
        else:
            state = TCP_ESTABLISHED if peer is not None else TCP_CLOSE
        if not states & (1 << state):
            continue
        # Attributes Linux always adds: INET_DIAG_SHUTDOWN (none recorded: 0), and for
        # AF_INET6 INET_DIAG_SKV6ONLY (ss prints a dual-stack listener's peer as "*").
        attrs = struct.pack("<HHB3x", 5, INET_DIAG_SHUTDOWN, 0)
        if family == socket.AF_INET6:
            try:
                v6only = s.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            except OSError:
                v6only = 0
            attrs += struct.pack("<HHB3x", 5, INET_DIAG_SKV6ONLY, 1 if v6only else 0)
        out.append(_INET_DIAG_MSG.pack(
            family, state, 0, 0, socket.htons(local[1]), socket.htons(peer[1] if peer else 0),
            _addr(family, local[0]), _addr(family, peer[0]) if peer else bytes(16),
            0, ino & 0xFFFFFFFF, ino >> 32, 0, rq, wq, s.inode.uid, ino & 0xFFFFFFFF) + attrs)
    return out


def _addr(family: int, host: str) -> bytes:
    return socket.inet_pton(family, host.split("%")[0]).ljust(16, b"\0")
