"""Socket syscalls: unix-domain sockets emulated in the sentry, inet sockets over host
sockets the sentry holds (:mod:`sentry.fsimpl.sock.inet`).

``AF_UNIX``: ``socketpair`` of every type; sockets bound to a path (a socket node in the
sandbox's file system) or an abstract name (the sandbox's own namespace), ``listen``/
``accept``/``connect`` between them, datagrams by name; ``SCM_RIGHTS`` (any sandbox file)
and ``SCM_CREDENTIALS``.  ``AF_INET``/``AF_INET6``: TCP and UDP.  Other families are
``EAFNOSUPPORT``, which is what a kernel built without them answers, so programs fall back
cleanly.
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel import compat
from sentry.fsimpl.sock.inet import AF_INET, AF_INET6, InetSocket, decode_addr, encode_addr
from sentry.fsimpl.sock import unix
from sentry.fsimpl.sock.netlink import AF_NETLINK, NetlinkSocket, SentryNetlinkSocket
from sentry.fsimpl.sock.unix import (
    AF_UNIX, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_WAITALL, SOCK_DGRAM, SOCK_SEQPACKET,
    SOCK_STREAM, UnixSocket, new_pair, new_socket,
)
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import stream_write
from sentry.vfs import abi
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
MSG_TRUNC, MSG_CMSG_CLOEXEC = 0x20, 0x40000000
SOL_SOCKET = 1
SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_DOMAIN, SO_PASSCRED, SO_PEERCRED = 3, 4, 7, 8, 39, 16, 17
SO_ACCEPTCONN, SO_PROTOCOL = 30, 38
SCM_RIGHTS, SCM_CREDENTIALS = 1, 2
MSG_CTRUNC = 0x8
#: net.core.optmem_max: the largest control buffer sendmsg takes (else ENOBUFS).
OPTMEM_MAX = 131072
_CMSGHDR = struct.Struct("<QII")  # cmsg_len, cmsg_level, cmsg_type
_SEND_FLAGS = MSG_DONTWAIT | MSG_NOSIGNAL | 0x8000 | 0x800  # | MSG_MORE | MSG_EOR
_RECV_FLAGS = MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL | MSG_TRUNC | MSG_CMSG_CLOEXEC


def _decode_type(raw: int) -> Tuple[int, int, bool]:
    stype = raw & 0xF
    if raw & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise err(errno.EINVAL)
    if stype not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise err(errno.ESOCKTNOSUPPORT if stype in (3, 4, 6, 10) else errno.EINVAL)
    return stype, abi.O_NONBLOCK if raw & SOCK_NONBLOCK else 0, bool(raw & SOCK_CLOEXEC)


def _sock(t: Any, fd: int) -> UnixSocket:
    d = t.fdtable.get(fd)
    if not isinstance(d, UnixSocket):
        raise err(errno.ENOTSOCK)
    return d


def socketpair(t: Any, a: SyscallArgs) -> int:
    """socketpair(2): ``AF_UNIX`` of every type."""
    domain, raw, proto = a.int(0), a.int(1), a.int(2)
    if domain != AF_UNIX:
        raise err(errno.EAFNOSUPPORT if domain not in (2, 10) else errno.EOPNOTSUPP)
    stype, flags, cloexec = _decode_type(raw)
    if proto not in (0, AF_UNIX):
        raise err(errno.EPROTONOSUPPORT)
    table = t.fdtable
    if not table.free_below_limit(2):
        raise err(errno.EMFILE)
    x, y = new_pair(t, stype, flags)
    fx = table.install(x, cloexec)
    fy = table.install(y, cloexec)
    try:
        t.mem.write(a[3], struct.pack("<ii", fx, fy))
    except Exception:
        table.close(fx)
        table.close(fy)
        raise
    return 0


def socket(t: Any, a: SyscallArgs) -> int:
    """socket(2): ``AF_UNIX``, and TCP/UDP over ``AF_INET``/``AF_INET6``."""
    try:
        return _socket(t, a)
    except LinuxError as e:
        if e.errno in _NOT_OFFERED or (e.errno == errno.EPERM and a.int(1) & 0xF == 3):
            t.kernel.note_unsupported(
                t, "socket", compat.socket_name(a.int(0), a.int(1), a.int(2)))
        raise


# socket(2)'s answers for a family, type or protocol the sandbox does not offer (a raw
# socket is EPERM, as without CAP_NET_RAW).
_NOT_OFFERED = (errno.EAFNOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EPROTONOSUPPORT)


def _socket(t: Any, a: SyscallArgs) -> int:
    domain, raw, proto = a.int(0), a.int(1), a.int(2)
    if domain in (AF_INET, AF_INET6):
        if raw & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC):
            raise err(errno.EINVAL)
        if not t.fdtable.free_below_limit(1):
            raise err(errno.EMFILE)
        s = InetSocket.create(t, domain, raw & 0xF, proto)
        if raw & SOCK_NONBLOCK:
            s.flags |= abi.O_NONBLOCK
        return t.fdtable.install(s, bool(raw & SOCK_CLOEXEC))
    if domain == AF_NETLINK:
        if raw & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC):
            raise err(errno.EINVAL)
        if not t.fdtable.free_below_limit(1):
            raise err(errno.EMFILE)
        nl = NetlinkSocket.create_nl(t, raw & 0xF, proto)
        if raw & SOCK_NONBLOCK:
            nl.flags |= abi.O_NONBLOCK
        return t.fdtable.install(nl, bool(raw & SOCK_CLOEXEC))
    if domain != AF_UNIX:
        raise err(errno.EAFNOSUPPORT)
    stype, flags, cloexec = _decode_type(raw)
    if proto != 0:
        raise err(errno.EPROTONOSUPPORT)
    if not t.fdtable.free_below_limit(1):
        raise err(errno.EMFILE)  # (before a socket exists: /proc/net/unix lists them)
    return t.fdtable.install(new_socket(t, stype, flags), cloexec)


def _any_sock(t: Any, fd: int) -> Any:
    d = t.fdtable.get(fd)
    if not isinstance(d, (UnixSocket, InetSocket)):
        raise err(errno.ENOTSOCK)
    return d


def _inet_addr(t: Any, s: InetSocket, addr: int, addrlen: int) -> Tuple[Any, ...]:
    if addrlen < 0 or addrlen > 128:
        raise err(errno.EINVAL)
    return decode_addr(s.family, t.mem.read(addr, addrlen))


def connect(t: Any, a: SyscallArgs) -> int:
    """connect(2): inet sockets through the host; no path-named unix sockets exist yet,
    so nothing is listening."""
    d = _any_sock(t, a.int(0))
    if isinstance(d, NetlinkSocket):
        d.connect_nl(t, *_inet_addr(t, d, a[1], a.int(2)))
        return 0
    if isinstance(d, InetSocket):
        d.connect(t, _inet_addr(t, d, a[1], a.int(2)))
        return 0
    if d.stype != SOCK_DGRAM:
        unix.connect(t, d, _unix_name(t, a[1], a.int(2), allow_empty=False))
    else:
        unix.connect_dgram(t, d, _unix_name(t, a[1], a.int(2), allow_empty=False))
    return 0


def bind(t: Any, a: SyscallArgs) -> int:
    """bind(2): inet sockets through the host; unix names (:func:`unix.bind`)."""
    d = _any_sock(t, a.int(0))
    if not isinstance(d, InetSocket):
        unix.bind(t, d, _unix_name(t, a[1], a.int(2), allow_empty=True))
        return 0
    addr = _inet_addr(t, d, a[1], a.int(2))
    if isinstance(d, NetlinkSocket):
        d.bind_nl(t, *addr)
        return 0
    # inet_bind: a port below net.ipv4.ip_unprivileged_port_start (the sandbox's own
    # sysctl) needs CAP_NET_BIND_SERVICE; the host socket is the sentry's, which may.
    port = addr[1]
    start = int(getattr(t.kernel, "sysctl", {}).get("net.ipv4.ip_unprivileged_port_start",
                                                       "1024"))
    if port and port < start and not t.creds.capable(cap.CAP_NET_BIND_SERVICE):
        raise err(errno.EACCES)
    try:
        d.sock.bind(addr)
    except OSError as e:
        raise err(e.errno or errno.EIO) from None
    return 0


def listen(t: Any, a: SyscallArgs) -> int:
    """listen(2): inet and unix stream/seqpacket sockets."""
    d = _any_sock(t, a.int(0))
    if not isinstance(d, InetSocket):
        unix.listen(t, d, a.int(1))
        return 0
    if not d.stream:
        raise err(errno.EOPNOTSUPP)
    try:
        d.sock.listen(max(0, min(a.int(1), 4096)))
    except OSError as e:
        raise err(e.errno or errno.EIO) from None
    return 0


def accept4(t: Any, a: SyscallArgs) -> int:
    """accept4(2) (and accept(2): flags 0): inet and unix stream/seqpacket sockets."""
    flags = a.int(3) if a.nr == 288 else 0
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise err(errno.EINVAL)
    d = _any_sock(t, a.int(0))
    if not t.fdtable.free_below_limit(1):
        raise err(errno.EMFILE)
    if isinstance(d, UnixSocket):
        if d.stype == SOCK_DGRAM:
            raise err(errno.EOPNOTSUPP)
        uconn = unix.accept(t, d)
        if flags & SOCK_NONBLOCK:
            uconn.flags |= abi.O_NONBLOCK
        fd = t.fdtable.install(uconn, bool(flags & SOCK_CLOEXEC))
        if a[1]:
            _put_bytes(t, a[1], a[2], _unix_addr(uconn.peer_name))
        return fd
    if not d.stream:
        raise err(errno.EOPNOTSUPP)
    conn, addr = d.accept(t)
    if flags & SOCK_NONBLOCK:
        conn.flags |= abi.O_NONBLOCK
    fd = t.fdtable.install(conn, bool(flags & SOCK_CLOEXEC))
    if a[1]:
        _put_bytes(t, a[1], a[2], encode_addr(d.family, addr))
    return fd


def accept(t: Any, a: SyscallArgs) -> int:
    return accept4(t, a)


def _send(t: Any, a: SyscallArgs, fd: int, data: bytes, flags: int) -> int:
    s = _sock(t, fd)
    if flags & ~_SEND_FLAGS:
        raise err(errno.EOPNOTSUPP)
    if s.stream and data and not (s.nonblocking or flags & MSG_DONTWAIT):
        return stream_write(t, a, len(data), lambda off: data[off:], lambda b: s.send(t, b, flags))
    return s.send(t, data, flags)


def _recv(t: Any, fd: int, n: int, flags: int) -> Tuple[bytes, int]:
    s = _sock(t, fd)
    if flags & ~_RECV_FLAGS:
        raise err(errno.EOPNOTSUPP)
    if n < 0:
        raise err(errno.EINVAL)
    return s.recv(t, n, flags)


def _recv_waitall(t: Any, a: SyscallArgs, fd: int, n: int, flags: int,
                  put: Callable[[int, bytes], None]) -> Optional[int]:
    """``MSG_WAITALL`` on a blocking stream socket: receive until *n* bytes.

    Returns ``None`` when the flag does not apply (datagrams, ``MSG_PEEK``,
    non-blocking); the caller then receives once.  ``put(off, data)`` copies a
    chunk out at *off*.  Progress is in ``a.done`` across parks; end of stream,
    an error after some bytes, or a signal ending the wait (the dispatcher)
    returns the count so far, as Linux's ``unix_stream_read_generic`` does.
    """
    s = _sock(t, fd)
    if not (flags & MSG_WAITALL and s.stream) or flags & (MSG_PEEK | MSG_DONTWAIT) or s.nonblocking:
        return None
    while a.done < n:
        try:
            data, _full = _recv(t, fd, n - a.done, flags & ~MSG_WAITALL)
        except LinuxError:
            if a.done:
                break
            raise
        if not data:
            break
        put(a.done, data)
        a.done += len(data)
    return a.done


def sendto(t: Any, a: SyscallArgs) -> int:
    """sendto(2): inet sockets (with a destination or connected); connected unix sockets
    (a destination address is EISCONN)."""
    n = a[2]
    if n > 1 << 30:
        raise err(errno.EMSGSIZE)
    d = _any_sock(t, a.int(0))
    if isinstance(d, InetSocket):
        dest = _inet_addr(t, d, a[4], a.int(5)) if a[4] else None
        return d.send(t, t.mem.read(a[1], n), a.int(3), dest)
    data = t.mem.read(a[1], n)
    if a[4]:
        if d.stype == SOCK_DGRAM and d.peer is None:
            if a.int(3) & ~_SEND_FLAGS:
                raise err(errno.EOPNOTSUPP)
            return unix.send_to(t, d, _unix_name(t, a[4], a.int(5), allow_empty=False), data,
                                a.int(3))
        raise err(errno.EISCONN)
    return _send(t, a, a.int(0), data, a.int(3))


def recvfrom(t: Any, a: SyscallArgs) -> int:
    """recvfrom(2): inet sockets give the source address; the peer of an unnamed unix
    socket has none (``addrlen`` = 0)."""
    n = min(a[2], 1 << 26)
    d = _any_sock(t, a.int(0))
    if isinstance(d, InetSocket):
        return _inet_recv(t, a, d, n, a.int(3), lambda off, b: t.mem.write(a[1] + off, b),
                          a[4], a[5])[0]
    got = _recv_waitall(t, a, a.int(0), n, a.int(3), lambda off, b: t.mem.write(a[1] + off, b))
    if got is not None:
        if a[4] and a[5]:
            t.mem.write(a[5], struct.pack("<I", 0))
        return got
    data, full = _recv(t, a.int(0), n, a.int(3))
    if data:
        t.mem.write(a[1], data)
    if a[4] and a[5]:
        src = d.last_src if d.stype == SOCK_DGRAM else None
        if src is None:
            t.mem.write(a[5], struct.pack("<I", 0))
        else:
            _put_bytes(t, a[4], a[5], _unix_addr(src))
    return full if a.int(3) & MSG_TRUNC else len(data)


def _inet_recv(t: Any, a: SyscallArgs, d: InetSocket, n: int, flags: int,
               put: Callable[[int, bytes], None], addr: int, lenp: int) -> Tuple[int, bool]:
    """One receive on an inet socket (``MSG_WAITALL`` on a blocking stream: until *n*
    bytes, progress in ``a.done`` across parks); the source address to *addr*.

    :returns: the call's result, and whether a datagram was cut short.
    """
    waitall = (flags & MSG_WAITALL and d.stream and not flags & (MSG_PEEK | MSG_DONTWAIT)
               and not d.nonblocking)
    # Datagrams: the host reports the real length with MSG_TRUNC (udp(7)).
    host_flags = (flags & ~MSG_WAITALL) | (0 if d.stream else MSG_TRUNC)
    while True:
        try:
            data, count, src = d.recv(t, n - a.done, host_flags)
        except LinuxError:
            if waitall and a.done:
                return a.done, False
            raise
        put(a.done, data)
        if not waitall:
            break
        a.done += len(data)
        if not data or a.done >= n:
            return a.done, False
    if addr and lenp:
        if src is None:
            t.mem.write(lenp, struct.pack("<I", 0))
        else:
            _put_bytes(t, addr, lenp, encode_addr(d.family, src))
    return (count if flags & MSG_TRUNC else len(data)), count > len(data)


_MSGHDR = struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags


def _iovecs(t: Any, iov: int, iovlen: int) -> List[Tuple[int, int]]:
    if iovlen > 1024:
        raise err(errno.EMSGSIZE)
    raw = t.mem.read(iov, 16 * iovlen) if iovlen else b""
    out = [struct.unpack_from("<QQ", raw, i * 16) for i in range(iovlen)]
    if sum(n for _, n in out) > 1 << 31:
        raise err(errno.EINVAL)
    return out


def _cmsg_align(n: int) -> int:
    return (n + 7) & ~7


def _parse_control(t: Any, control: int, controllen: int
                   ) -> Tuple[List[FileDescription], Optional[unix.Cred], bool]:
    """A sendmsg control buffer (``__scm_send``): the descriptions of ``SCM_RIGHTS``, the
    credentials of ``SCM_CREDENTIALS`` (checked as ``scm_check_creds``), and whether
    there was any message at all.  Levels other than ``SOL_SOCKET`` are ignored."""
    fds: List[FileDescription] = []
    cred: Optional[unix.Cred] = None
    if controllen > OPTMEM_MAX:
        raise err(errno.ENOBUFS)
    raw = t.mem.read(control, controllen) if controllen >= _CMSGHDR.size else b""
    off, seen = 0, False
    while off + _CMSGHDR.size <= len(raw):
        clen, level, ctype = _CMSGHDR.unpack_from(raw, off)
        if clen < _CMSGHDR.size or clen > len(raw) - off:
            raise err(errno.EINVAL)
        seen = True
        if level == SOL_SOCKET:
            body = raw[off + _CMSGHDR.size: off + clen]
            if ctype == SCM_RIGHTS:
                num = len(body) // 4
                if len(fds) + num > unix.MAX_FDS:
                    raise err(errno.EINVAL)
                for fd in struct.unpack_from("<%di" % num, body):
                    fds.append(t.fdtable.get(fd))  # EBADF
            elif ctype == SCM_CREDENTIALS:
                if len(body) != 12:
                    raise err(errno.EINVAL)
                cred = _check_creds(t, *struct.unpack("<iII", body))
            else:
                raise err(errno.EINVAL)
        off += _cmsg_align(clen)
    return fds, cred, seen


def _check_creds(t: Any, pid: int, uid: int, gid: int) -> unix.Cred:
    """``SCM_CREDENTIALS`` a sender may claim: its own pid, uid and gid (real, effective
    or saved), or others with CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID."""
    if uid == 0xFFFFFFFF or gid == 0xFFFFFFFF:
        raise err(errno.EINVAL)
    c = t.creds
    if not ((pid == t.tgid or c.capable(cap.CAP_SYS_ADMIN))
            and (uid in (c.uid, c.euid, c.suid) or c.capable(cap.CAP_SETUID))
            and (gid in (c.gid, c.egid, c.sgid) or c.capable(cap.CAP_SETGID))):
        raise err(errno.EPERM)
    if pid != t.tgid and t.kernel.task_by_tid(pid) is None:
        raise err(errno.ESRCH)
    return (pid, uid, gid)


def sendmsg(t: Any, a: SyscallArgs) -> int:
    """sendmsg(2): ancillary data of unix sockets (``SCM_RIGHTS``, ``SCM_CREDENTIALS``);
    inet sockets take none."""
    return _sendmsg_one(t, a, a.int(0), a[1], a.int(2), whole=True)


def _sendmsg_one(t: Any, a: SyscallArgs, fd: int, hdr: int, flags: int, whole: bool) -> int:
    """One message; *whole*: a blocking stream send sleeps until all of it went (progress
    in ``a.done``), else one attempt (sendmmsg keeps its own progress)."""
    name, namelen, iov, iovlen, control, controllen, _f = _MSGHDR.unpack(
        t.mem.read(hdr, _MSGHDR.size))
    d = _any_sock(t, fd)
    vecs = _iovecs(t, iov, iovlen)
    if isinstance(d, InetSocket):
        if controllen:
            _fds, _cred, seen = _parse_control(t, control, controllen)
            if seen:  # IP_PKTINFO, IP_TTL… are not offered; SOL_SOCKET ones are EINVAL
                if not _fds and _cred is None:
                    level, ctype = struct.unpack("<ii", t.mem.read(control + 8, 8))
                    t.kernel.note_unsupported(
                        t, "sendmsg", compat.cmsg_name(level, ctype, d.family))
                    raise err(errno.EOPNOTSUPP)
                raise err(errno.EINVAL)
        data = b"".join(t.mem.read(base, n) for base, n in vecs)
        dest = _inet_addr(t, d, name, namelen) if name else None
        return d.send(t, data, flags, dest)
    if flags & ~_SEND_FLAGS:
        raise err(errno.EOPNOTSUPP)
    fds: List[FileDescription] = []
    cred: Optional[unix.Cred] = None
    if controllen and a.done == 0:
        fds, cred, _seen = _parse_control(t, control, controllen)
        if fds and unix.too_many_in_flight(t):
            raise err(errno.ETOOMANYREFS)
    data = b"".join(t.mem.read(base, n) for base, n in vecs)
    if name:
        if d.stype == SOCK_DGRAM and d.peer is None:
            return unix.send_to(t, d, _unix_name(t, name, namelen, allow_empty=False), data,
                                flags, fds, cred)
        raise err(errno.EISCONN)
    if whole and d.stream and data and not (d.nonblocking or flags & MSG_DONTWAIT):
        # Descriptions and credentials ride with the first part (Linux's first skb).
        return stream_write(t, a, len(data), lambda off: data[off:],
                            lambda b: d.send(t, b, flags, fds if a.done == 0 else None,
                                             cred if a.done == 0 else None))
    return d.send(t, data, flags, fds, cred)


def _scatter_at(t: Any, vecs: List[Tuple[int, int]], off: int, data: bytes) -> None:
    """Copy *data* into the iovecs *vecs*, starting *off* bytes into them."""
    for base, n in vecs:
        if not data:
            break
        if off >= n:
            off -= n
            continue
        chunk = data[: n - off]
        t.mem.write(base + off, chunk)
        data = data[len(chunk):]
        off = 0


def recvmsg(t: Any, a: SyscallArgs) -> int:
    """recvmsg(2): data into the iovecs; unix sockets' ancillary data (passed descriptions,
    the sender's credentials with ``SO_PASSCRED``)."""
    return _recvmsg_one(t, a, a.int(0), a[1], a.int(2), waitall=True)


def _recvmsg_one(t: Any, a: SyscallArgs, fd: int, hdr: int, flags: int, waitall: bool) -> int:
    name, namelen, iov, iovlen, control, controllen, _f = _MSGHDR.unpack(
        t.mem.read(hdr, _MSGHDR.size))
    vecs = _iovecs(t, iov, iovlen)
    total = sum(n for _, n in vecs)
    d = _any_sock(t, fd)
    if isinstance(d, InetSocket):
        lenp = hdr + 8  # msg_namelen, an int inside the header
        ret, cut = _inet_recv(t, a, d, min(total, 1 << 26),
                              flags if waitall else flags & ~MSG_WAITALL,
                              lambda off, b: _scatter_at(t, vecs, off, b), name,
                              lenp if name else 0)
        namelen = struct.unpack("<I", t.mem.read(lenp, 4))[0] if name else 0
        t.mem.write(hdr, _MSGHDR.pack(name, namelen, iov, iovlen, control, 0,
                                      MSG_TRUNC if cut else 0))
        return ret
    if flags & ~_RECV_FLAGS:
        raise err(errno.EOPNOTSUPP)
    if waitall and flags & MSG_WAITALL and d.stream and not flags & (MSG_PEEK | MSG_DONTWAIT) \
            and not d.nonblocking:
        return _recvmsg_waitall(t, a, d, hdr, vecs, total, flags)
    data, full, cred, fds = d.recv_anc(t, min(total, 1 << 26), flags)
    _scatter_at(t, vecs, 0, data)
    out_flags = MSG_TRUNC if full > len(data) else 0
    used, ctrunc = _put_control(t, d, control, controllen, flags, cred, fds)
    src = d.last_src if d.stype == SOCK_DGRAM else None
    out_namelen = 0
    if name and src is not None:
        sa = _unix_addr(src)
        t.mem.write(name, sa[:namelen])
        out_namelen = len(sa)
    t.mem.write(hdr, _MSGHDR.pack(name, out_namelen, iov, iovlen, control, used,
                                  out_flags | ctrunc))
    return full if flags & MSG_TRUNC else len(data)


def _recvmsg_waitall(t: Any, a: SyscallArgs, d: UnixSocket, hdr: int,
                     vecs: List[Tuple[int, int]], total: int, flags: int) -> int:
    """``MSG_WAITALL`` on a blocking unix stream: until *total* bytes, the end of the
    stream, or a part that carried descriptions (whose control is the call's)."""
    name, _nl, iov, iovlen, control, controllen, _f = _MSGHDR.unpack(
        t.mem.read(hdr, _MSGHDR.size))
    used, ctrunc = 0, 0
    while a.done < total:
        try:
            data, _full, cred, fds = d.recv_anc(t, total - a.done, flags & ~MSG_WAITALL)
        except LinuxError:
            if a.done:
                break
            raise
        _scatter_at(t, vecs, a.done, data)
        a.done += len(data)
        if fds or (cred is not None and not used):
            used, ctrunc = _put_control(t, d, control, controllen, flags, cred, fds)
        if not data or fds:
            break
    t.mem.write(hdr, _MSGHDR.pack(name, 0, iov, iovlen, control, used, ctrunc))
    return a.done


def _put_control(t: Any, d: UnixSocket, control: int, controllen: int, flags: int,
                 cred: Optional[unix.Cred], fds: Optional[List[FileDescription]]
                 ) -> Tuple[int, int]:
    """Ancillary data out, as Linux's ``scm_recv``: the credentials (``SO_PASSCRED``),
    then as many passed descriptions as the buffer holds and the fd table takes, the
    rest closed.  Returns (bytes of control used, ``MSG_CTRUNC`` or 0)."""
    used, trunc = 0, 0
    room = max(controllen, 0)
    if d.passcred:
        body = struct.pack("<iII", *(cred if cred is not None else unix.NO_CRED))
        if room < _CMSGHDR.size:
            trunc = MSG_CTRUNC
        else:
            cmlen = _CMSGHDR.size + len(body)
            if room < cmlen:
                trunc = MSG_CTRUNC
                cmlen = room
            t.mem.write(control, (_CMSGHDR.pack(cmlen, SOL_SOCKET, SCM_CREDENTIALS) + body)[:cmlen])
            used = min(_cmsg_align(cmlen), room)  # the padding is skipped, not written
    if fds:
        space = room - used
        fdmax = min(len(fds), (space - _CMSGHDR.size) // 4) if space > _CMSGHDR.size else 0
        cloexec = bool(flags & MSG_CMSG_CLOEXEC)
        got: List[int] = []
        for f in fds[:fdmax]:
            try:
                got.append(t.fdtable.install(f, cloexec))
            except LinuxError:
                break
        if got:
            cmlen = _CMSGHDR.size + 4 * len(got)
            t.mem.write(control + used, _CMSGHDR.pack(cmlen, SOL_SOCKET, SCM_RIGHTS)
                        + struct.pack("<%di" % len(got), *got))
            used += min(_cmsg_align(cmlen), space)
        if len(got) < len(fds):
            trunc = MSG_CTRUNC
            unix.drop_refs(fds[len(got):])
    return used, trunc


_MMSGHDR = 64  # struct mmsghdr: a msghdr and msg_len, padded


def _each_message(t: Any, a: SyscallArgs, one: Callable[[SyscallArgs, int, int], int],
                  flags_for: Callable[[int], int]) -> int:
    """sendmmsg/recvmmsg: *one(args, header, flags)* for each ``struct mmsghdr``, its
    ``msg_len`` filled in.  ``a.done`` counts the messages done, across parks, so an error
    or a signal after some messages returns their count; each message gets arguments of
    its own (its own ``done``)."""
    vec, vlen = a[1], min(a.uint(2), 1024)
    while a.done < vlen:
        hdr = vec + a.done * _MMSGHDR
        try:
            n = one(SyscallArgs(a.nr, a.raw()), hdr, flags_for(a.done))
        except LinuxError:
            if a.done:
                break
            raise
        t.mem.write(hdr + _MSGHDR.size, struct.pack("<I", n))
        a.done += 1
    return a.done


def sendmmsg(t: Any, a: SyscallArgs) -> int:
    """sendmmsg(2): each message as sendmsg."""
    fd, flags = a.int(0), a.int(3)
    _any_sock(t, fd)
    return _each_message(t, a, lambda m, hdr, f: _sendmsg_one(t, m, fd, hdr, f, whole=False),
                         lambda _i: flags)


MSG_WAITFORONE = 0x10000


def recvmmsg(t: Any, a: SyscallArgs) -> int:
    """recvmmsg(2): each message as recvmsg.  ``MSG_WAITFORONE`` waits for the first only.
    A timeout is taken as Linux checks it, after each datagram; here a datagram that is
    not there yet once one was received ends the call (Linux waits on until the timeout
    has passed)."""
    fd, flags = a.int(0), a.int(3)
    if a[4]:
        sec, nsec = struct.unpack("<qq", t.mem.read(a[4], 16))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise err(errno.EINVAL)
    _any_sock(t, fd)
    later = MSG_DONTWAIT if flags & MSG_WAITFORONE or a[4] else 0
    return _each_message(t, a, lambda m, hdr, f: _recvmsg_one(t, m, fd, hdr, f, waitall=False),
                         lambda i: flags & ~MSG_WAITFORONE | (later if i else 0))


def shutdown(t: Any, a: SyscallArgs) -> int:
    """shutdown(2)."""
    d = _any_sock(t, a.int(0))
    if isinstance(d, InetSocket):
        how = a.int(1)
        if how not in (0, 1, 2):
            raise err(errno.EINVAL)
        try:
            d.sock.shutdown(how)
        except OSError as e:
            raise err(e.errno or errno.EIO) from None
        return 0
    _sock(t, a.int(0)).shutdown(a.int(1))
    return 0


def _put_opt(t: Any, optval: int, optlen_ptr: int, value: bytes) -> int:
    have = struct.unpack("<i", t.mem.read(optlen_ptr, 4))[0]
    if have < 0:
        raise err(errno.EINVAL)
    out = value[:have]
    t.mem.write(optval, out)
    t.mem.write(optlen_ptr, struct.pack("<i", len(out)))
    return 0


def getsockopt(t: Any, a: SyscallArgs) -> int:
    """getsockopt(2): the SOL_SOCKET options programs ask of unix sockets; an allowlist
    of socket/TCP/IP/IPv6 options of inet sockets, read from the host socket."""
    try:
        return _getsockopt(t, a)
    except LinuxError as e:
        if e.errno == errno.ENOPROTOOPT:
            _note_sockopt(t, a, "getsockopt")
        raise


def _note_sockopt(t: Any, a: SyscallArgs, which: str) -> None:
    d = t.fdtable.get(a.int(0))
    family = getattr(d, "family", AF_UNIX)
    t.kernel.note_unsupported(t, which, compat.sockopt_name(a.int(1), a.int(2), family))


def _getsockopt(t: Any, a: SyscallArgs) -> int:
    d = _any_sock(t, a.int(0))
    level, opt = a.int(1), a.int(2)
    if isinstance(d, InetSocket):
        have = struct.unpack("<i", t.mem.read(a[4], 4))[0]
        if have < 0:
            raise err(errno.EINVAL)
        return _put_opt(t, a[3], a[4], d.getsockopt(level, opt, have))
    s = _sock(t, a.int(0))
    if level != SOL_SOCKET:
        raise err(errno.EOPNOTSUPP)
    if opt == SO_ERROR:
        e, s.so_error = s.so_error, 0  # read once, as sock_error
        return _put_opt(t, a[3], a[4], struct.pack("<i", e))
    ints = {SO_TYPE: s.stype, SO_SNDBUF: 212992, SO_RCVBUF: 212992,
            SO_DOMAIN: AF_UNIX, SO_PASSCRED: int(s.passcred), SO_ACCEPTCONN: int(s.listening),
            SO_PROTOCOL: 0}
    if opt in _UNIX_DEFAULTS:
        return _put_opt(t, a[3], a[4], struct.pack("<i", s.flag_opts.get(opt, _UNIX_DEFAULTS[opt])))
    if opt == SO_LINGER:
        linger = (s.flag_opts.get(SO_LINGER, 0), s.flag_opts.get(_LINGER_SECS, 0))
        return _put_opt(t, a[3], a[4], struct.pack("<ii", *linger))
    if opt in ints:
        return _put_opt(t, a[3], a[4], struct.pack("<i", ints[opt]))
    if opt == SO_PEERCRED:
        # Set by connect/accept and socketpair (init_peercred); none: pid 0, uid/gid -1.
        cred = s.peer_cred if s.peer_cred is not None else (0, 0xFFFFFFFF, 0xFFFFFFFF)
        return _put_opt(t, a[3], a[4], struct.pack("<iII", *cred))
    raise err(errno.ENOPROTOOPT)


def setsockopt(t: Any, a: SyscallArgs) -> int:
    """setsockopt(2): inet sockets: an allowlist passed to the host socket (timeouts kept
    by the sentry); unix sockets: SO_PASSCRED; buffer sizes, SO_LINGER and the socket
    flags and marks Linux keeps but never consults for them, accepted with no effect."""
    try:
        return _setsockopt(t, a)
    except LinuxError as e:
        if e.errno == errno.ENOPROTOOPT:
            _note_sockopt(t, a, "setsockopt")
        raise


def _setsockopt(t: Any, a: SyscallArgs) -> int:
    d = _any_sock(t, a.int(0))
    level, opt = a.int(1), a.int(2)
    if isinstance(d, InetSocket):
        n = a.int(4)
        if n < 0:
            raise err(errno.EINVAL)
        value = t.mem.read(a[3], min(n, 256)) if n else b""
        if isinstance(d, SentryNetlinkSocket):
            d.setsockopt_nl(t, level, opt, value)  # group membership checks the caller
        else:
            d.setsockopt(level, opt, value)
        return 0
    us = _sock(t, a.int(0))
    if level != SOL_SOCKET:
        raise err(errno.EOPNOTSUPP)  # unix sockets have no protocol options
    # sk_setsockopt: an int at least (optlen is unsigned), read before the option is looked at.
    if a[4] & 0xFFFFFFFF < 4:
        raise err(errno.EINVAL)
    val = t.mem.read_i32(a[3])
    if opt == SO_PASSCRED:
        us.passcred = val != 0
        return 0
    if opt in (SO_SNDBUF, SO_RCVBUF, 32, 33):  # + SO_SNDBUFFORCE/RCVBUFFORCE
        return 0
    if opt in _UNIX_FLAG_OPTS:
        # Kept for getsockopt; they change nothing for unix sockets on Linux either.
        us.flag_opts[opt] = int(val != 0)
        return 0
    if opt in _UNIX_ADMIN_OPTS:
        # SO_DEBUG on, SO_PRIORITY outside 0..6, any SO_MARK: CAP_NET_ADMIN (EACCES for
        # SO_DEBUG, EPERM for the others); no effect on a unix socket either way.
        admin = t.creds.capable(cap.CAP_NET_ADMIN)
        if opt == SO_DEBUG and val and not admin:
            raise err(errno.EACCES)
        if ((opt == SO_PRIORITY and not 0 <= val <= 6) or opt == SO_MARK) and not admin:
            raise err(errno.EPERM)
        us.flag_opts[opt] = int(val != 0) if opt == SO_DEBUG else val
        return 0
    if opt in (SO_BUSY_POLL, SO_INCOMING_CPU):
        if opt == SO_BUSY_POLL and val < 0:  # sk_setsockopt: any time but a negative one
            raise err(errno.EINVAL)
        us.flag_opts[opt] = val
        return 0
    if opt == SO_ZEROCOPY:
        raise err(errno.EOPNOTSUPP)  # inet TCP/UDP and RDS sockets only
    if opt == SO_LINGER:
        if a[4] & 0xFFFFFFFF < 8:
            raise err(errno.EINVAL)
        secs = t.mem.read_i32(a[3] + 4)
        us.flag_opts[SO_LINGER] = int(val != 0)
        if val:  # turning it off keeps the time, as Linux does
            us.flag_opts[_LINGER_SECS] = secs
        return 0
    raise err(errno.ENOPROTOOPT)


# SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST, SO_DONTROUTE, SO_REUSEPORT, SO_NO_CHECK,
# SO_WIFI_STATUS, SO_NOFCS, SO_SELECT_ERR_QUEUE: socket flags unix sockets never consult;
# SO_PASSSEC (no security module: no SCM_SECURITY) and SO_OOBINLINE (no MSG_OOB here).
_UNIX_FLAG_OPTS = (2, 9, 6, 5, 15, 11, 41, 43, 45, 34, 10)
SO_BUSY_POLL, SO_INCOMING_CPU, SO_ZEROCOPY = 46, 49, 60
SO_RCVLOWAT, SO_SNDLOWAT, SO_TIMESTAMP, SO_TIMESTAMPNS, SO_PEEK_OFF = 18, 19, 29, 35, 42
SO_DEBUG, SO_PRIORITY, SO_LINGER, SO_MARK = 1, 12, 13, 36
_UNIX_ADMIN_OPTS = (SO_DEBUG, SO_PRIORITY, SO_MARK)
# What getsockopt says of a unix socket's options until they are set (sock_init_data):
# the flags and admin options 0; the low marks 1; timestamps off; no peek offset (-1);
# SO_BUSY_POLL 0; SO_INCOMING_CPU -1; SO_ZEROCOPY off.  (Setting the low marks, timestamps
# or a peek offset would change what a read does, which the sentry does not model:
# ENOPROTOOPT.)
_UNIX_DEFAULTS = {**dict.fromkeys(_UNIX_FLAG_OPTS + _UNIX_ADMIN_OPTS, 0),
                  SO_RCVLOWAT: 1, SO_SNDLOWAT: 1, SO_TIMESTAMP: 0, SO_TIMESTAMPNS: 0,
                  SO_PEEK_OFF: -1, SO_BUSY_POLL: 0, SO_INCOMING_CPU: -1, SO_ZEROCOPY: 0}
_LINGER_SECS = -SO_LINGER  # flag_opts key of l_linger (SO_LINGER's is l_onoff)


def getsockname(t: Any, a: SyscallArgs) -> int:
    """getsockname(2): inet sockets' host address; unnamed unix sockets report just the
    family."""
    d = _any_sock(t, a.int(0))
    if isinstance(d, NetlinkSocket):
        return _put_bytes(t, a[1], a[2], d.name())
    if isinstance(d, InetSocket):
        try:
            addr = d.sock.getsockname()
        except OSError as e:
            raise err(e.errno or errno.EIO) from None
        return _put_bytes(t, a[1], a[2], encode_addr(d.family, addr))
    return _put_bytes(t, a[1], a[2], _unix_addr(d.name))


def getpeername(t: Any, a: SyscallArgs) -> int:
    """getpeername(2)."""
    d = _any_sock(t, a.int(0))
    if isinstance(d, NetlinkSocket):
        return _put_bytes(t, a[1], a[2], encode_addr(AF_NETLINK, (0, 0)))  # the kernel
    if isinstance(d, InetSocket):
        try:
            addr = d.sock.getpeername()
        except OSError as e:
            raise err(e.errno or errno.EIO) from None
        return _put_bytes(t, a[1], a[2], encode_addr(d.family, addr))
    s = _sock(t, a.int(0))
    if s.peer is None and s.dgram_peer is None:
        raise err(errno.ENOTCONN)
    return _put_bytes(t, a[1], a[2], _unix_addr(s.peer_name))


def _unix_name(t: Any, addr: int, addrlen: int, allow_empty: bool) -> bytes:
    """sun_path of a sandbox ``sockaddr_un``: a path up to its NUL, or an abstract name
    (leading NUL, exactly ``addrlen - 2`` bytes); empty only for bind's autobind."""
    if addrlen < 2 or addrlen > 110:
        raise err(errno.EINVAL)
    raw = t.mem.read(addr, addrlen)
    if struct.unpack_from("<H", raw)[0] != AF_UNIX:
        raise err(errno.EINVAL if not allow_empty else errno.EINVAL)
    path = raw[2:]
    if path[:1] == b"\0":
        return path
    path = path.split(b"\0", 1)[0]
    if not path and not allow_empty:
        raise err(errno.EINVAL)
    return path


def _unix_addr(name: Optional[bytes]) -> bytes:
    """A ``sockaddr_un`` as getsockname/accept report it (a path with its NUL)."""
    if name is None:
        return struct.pack("<H", AF_UNIX)
    if name[:1] == b"\0":
        return struct.pack("<H", AF_UNIX) + name
    return struct.pack("<H", AF_UNIX) + name + b"\0"


def _put_bytes(t: Any, addr: int, lenp: int, value: bytes) -> int:
    """Copy a socket address out as Linux does: truncated to the caller's length, the
    length written back being the full one."""
    have = struct.unpack("<i", t.mem.read(lenp, 4))[0]
    if have < 0:
        raise err(errno.EINVAL)
    if have:
        t.mem.write(addr, value[:have])
    t.mem.write(lenp, struct.pack("<i", len(value)))
    return 0


def _put_addr(t: Any, addr: int, lenp: int) -> int:
    have = struct.unpack("<i", t.mem.read(lenp, 4))[0]
    if have < 0:
        raise err(errno.EINVAL)
    t.mem.write(addr, struct.pack("<H", AF_UNIX)[:have])
    t.mem.write(lenp, struct.pack("<i", 2))
    return 0
