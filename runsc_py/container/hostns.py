"""The host namespaces a sandbox process enters: network and UTS (``linux.namespaces``).

The sentry's pid/ipc/mount namespaces are its own emulation; the network and UTS namespaces
are the container namespaces that are host ones:

- network: sockets that reach a network are made by the sandbox process, in its network
  namespace. As runc: no ``network`` entry keeps the runtime's namespace (``--net=host``),
  an entry without a path makes a new one, whose ``lo`` is brought up (as gVisor's and
  docker's are; docker's ``libnetwork-setkey`` hook and CNI configure the rest through
  ``/proc/PID/ns/net``), and a path is joined (every container of a CRI pod joins the
  pod's).
- UTS: the hostname the sentry reports is its own (config.json's ``hostname``), but a CRI
  pod names it only once, in its sandbox container, and gives the pod's other containers
  the sandbox's UTS namespace path instead. So a new UTS namespace gets the container's
  hostname (other containers can read it through ``/proc/PID/ns/uts``, as with runc's
  init), and a joined one gives its hostname to a container that has none of its own.

Python 3.11's :mod:`os` has no ``setns``/``unshare``/``sethostname``, hence libc.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import _socket as socket  # (socket.py imports enum and selectors: ~4 ms of a CLI start)
import struct
from sentry.records import dataclass

from runsc_py.errors import InvalidSpec, quote

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def setns(fd: int, nstype: int) -> None:
    """:raises OSError: setns(2) failed."""
    _check(_libc.setns(fd, nstype))


def unshare(flags: int) -> None:
    """:raises OSError: unshare(2) failed."""
    _check(_libc.unshare(flags))


def sethostname(name: str) -> None:
    """:raises OSError: sethostname(2) failed."""
    data = name.encode()
    _check(_libc.sethostname(data, len(data)))


SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Bring ``lo`` up in the caller's network namespace (a new one has it down).

    :raises OSError: the ioctl failed.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


def _join(path: str, nstype: int, kind: str) -> None:
    where = f"config.json: linux.namespaces: {kind} path {quote(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise InvalidSpec(f"{where}: {e.strerror}") from None
    try:
        setns(fd, nstype)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise InvalidSpec(f"{where}: not a {kind} namespace") from None
        raise InvalidSpec(f"{where}: {e.strerror}") from None
    finally:
        os.close(fd)


@dataclass
class HostNamespaces:
    """What config.json asks of the sandbox process's network and UTS namespaces.

    Each is None (stay in the runtime's), "" (a new one) or a namespace file to join;
    *hostname* is config.json's (None: not given).
    """

    network: str | None = None
    uts: str | None = None
    hostname: str | None = None

    def enter(self) -> str | None:
        """Put the calling process into these namespaces.

        :returns: the hostname the sandbox is to report (None: its default).
        :raises InvalidSpec: a path cannot be opened or is the wrong kind of namespace.
        :raises OSError: a new namespace cannot be made.
        """
        if self.network == "":
            unshare(CLONE_NEWNET)
            loopback_up()
        elif self.network is not None:
            _join(self.network, CLONE_NEWNET, "network")
        if self.uts == "":
            unshare(CLONE_NEWUTS)
            if self.hostname is not None:
                sethostname(self.hostname)
        elif self.uts is not None:
            _join(self.uts, CLONE_NEWUTS, "uts")
            if self.hostname is None:
                return socket.gethostname()
        return self.hostname
