"""``/proc/PID/net`` (and ``/proc/net``, a link to ``self/net``): the sandbox's network.

The sandbox has one network namespace, the sentry's own (the sandbox process's: a new one
with ``lo`` up, the one config.json names, or the host's when asked), in which the sentry
holds the host sockets behind the sandbox's TCP and UDP sockets
(:mod:`sentry.fsimpl.sock.inet`).  So every process's ``net`` directory is the same, and
what it shows is read from the sentry's ``/proc/self/net`` at each open:

- the namespace's interfaces, addresses, routes and counters (``dev``, ``if_inet6``,
  ``route``, ``ipv6_route``, ``snmp``, ``netstat``, ``sockstat``, …: :data:`PASSED`), what
  netlink and the netdevice ioctls show of it already;
- the socket tables (``tcp``, ``udp``, their IPv6 and other protocols': :data:`TABLES`)
  with the rows of the sandbox's own sockets only (in the host's namespace the others
  are the host's business), each with the uid of its owner in the sandbox rather than
  the sentry's host uid, and ``tcp``'s row numbers counted again (``udp``'s first column
  is a hash bucket, kept).  Sockets in ``TIME_WAIT`` belong to no file (inode 0) and are
  left out;
- ``unix``: the sandbox's unix sockets live in the sentry, not on the host: made from
  them (:func:`sentry.fsimpl.sock.unix.proc_net_unix`).

The netlink, packet and netfilter files are not offered (``ENOENT``, as a kernel without
them).
"""

from __future__ import annotations

import os

from sentry.fsimpl.proc.filesystem import ProcFile
from sentry.vfs.file import DEFAULT_POLLMASK

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, FrozenSet, List, Optional, Tuple

    from sentry.fsimpl.proc.filesystem import ProcFilesystem

#: Read through from the sentry's ``/proc/self/net`` where the host has them.
PASSED = frozenset((
    b"anycast6", b"arp", b"dev", b"dev_mcast", b"fib_trie", b"fib_triestat", b"if_inet6",
    b"igmp", b"igmp6", b"ipv6_route", b"mcfilter", b"mcfilter6", b"netstat", b"protocols",
    b"psched", b"route", b"rt6_stats", b"snmp", b"snmp6", b"sockstat", b"sockstat6",
))
#: Socket tables, the sandbox's rows only.  The sandbox makes TCP and UDP sockets alone
#: (raw and ICMP ones are refused), so the others show their header.
TABLES = frozenset((
    b"tcp", b"tcp6", b"udp", b"udp6", b"udplite", b"udplite6", b"raw", b"raw6", b"icmp",
    b"icmp6",
))
#: Tables whose first column numbers the rows (``tcp4_seq_show``: the iterator's count).
_NUMBERED = frozenset((b"tcp", b"tcp6"))

_host_names: "Optional[FrozenSet[bytes]]" = None


def _host_has(k: Any) -> "FrozenSet[bytes]":
    """The names in the sentry's ``/proc/self/net`` (what the host kernel has; once)."""
    global _host_names
    if _host_names is None:
        try:
            fd = os.open("self/net", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                         dir_fd=k.procfd)
        except OSError:
            return frozenset()
        try:
            _host_names = frozenset(os.fsencode(n) for n in os.listdir(fd))
        finally:
            os.close(fd)
    return _host_names


def socket_table(k: Any, name: bytes) -> bytes:
    """Table *name* with the rows of the sandbox's own sockets (module docstring)."""
    from sentry.fsimpl.sock.inet import BY_HOST_INO

    raw = k.host_file("self/net/" + name.decode())
    lines = raw.split(b"\n")
    out = [lines[0]]
    n = 0
    for line in lines[1:]:
        # A row: its number (or bucket) and ":", five fields, the retransmits, the uid
        # ("%5u" after a space), the timeout, the inode, the rest.
        f = _fields(line)
        if len(f) < 10 or not line[f[0][0]:f[0][1] - 1].isdigit():
            continue
        try:
            sock = BY_HOST_INO.get(int(line[f[9][0]:f[9][1]]))
        except ValueError:
            continue
        if sock is None or sock.inode is None:
            continue
        e0, e6, e7 = f[0][1], f[6][1], f[7][1]
        num = line[:e0 - 1]
        if name in _NUMBERED:
            num = b"%4d" % n  # (tcp4_seq_show's "%4d:", whatever the host's count)
        row = b"%s%s %5d%s" % (num, line[e0 - 1:e6], sock.inode.uid, line[e7:])
        if line.endswith(b" "):  # (padded to the table's width: seq_pad)
            row = row.rstrip(b" ").ljust(len(line))
        out.append(row)
        n += 1
    return b"\n".join(out) + b"\n"


def _fields(line: bytes) -> "List[Tuple[int, int]]":
    """Where each space-separated field of *line* starts and ends."""
    out: "List[Tuple[int, int]]" = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] == 0x20:
            i += 1
        if i >= n:
            return out
        j = line.find(b" ", i)
        j = n if j < 0 else j
        out.append((i, j))
        i = j


def net_children(fs: "ProcFilesystem", path: bytes) -> "Dict[bytes, Any]":
    """The entries of a ``net`` directory at *path*."""
    k = fs.kernel
    have = _host_has(k)
    c: Dict[bytes, Any] = {}
    for name in sorted(have & (PASSED | TABLES)):
        if name in TABLES:
            def content(r: Any, name: bytes = name) -> bytes:
                return socket_table(k, name)
        else:
            def content(r: Any, name: bytes = name) -> bytes:
                return k.host_file("self/net/" + name.decode())
        c[name] = (lambda name=name, content=content: ProcFile(  # type: ignore[misc]
            fs, path + b"/" + name, content, poll=DEFAULT_POLLMASK, read_iter=True))
    c[b"unix"] = lambda: ProcFile(fs, path + b"/unix", _unix, poll=DEFAULT_POLLMASK,
                                  read_iter=True)
    return c


def _unix(r: Any) -> bytes:
    from sentry.fsimpl.sock.unix import proc_net_unix

    return proc_net_unix()
