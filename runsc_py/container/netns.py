"""The sandbox process's network namespace (``linux.namespaces``' ``network`` entry).

The sentry's pid/ipc/uts/mount namespaces are its own emulation; the network namespace is
the one container namespace that is a host one: sockets that reach a network are made by
the sandbox process, in its network namespace. As runc: no ``network`` entry keeps the
runtime's namespace (``--net=host``), an entry without a path makes a new, empty one (only
a down ``lo``; docker's ``libnetwork-setkey`` hook and CNI configure it through
``/proc/PID/ns/net``), and a path is joined (every container of a CRI pod joins the pod's).

Python 3.11's :mod:`os` has no ``setns``/``unshare``, hence libc through ctypes.
"""

from __future__ import annotations

import ctypes
import errno
import os

from runsc_py.errors import InvalidSpec, quote

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int, nstype: int) -> None:
    """:raises OSError: setns(2) failed."""
    if _libc.setns(fd, nstype) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def unshare(flags: int) -> None:
    """:raises OSError: unshare(2) failed."""
    if _libc.unshare(flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def enter(network: str | None) -> None:
    """Put the calling process into the network namespace config.json asks for.

    :param network: None (stay), "" (a new one) or a namespace file to join.
    :raises InvalidSpec: the path cannot be opened or is not a network namespace.
    :raises OSError: a new namespace cannot be made.
    """
    if network is None:
        return
    if network == "":
        unshare(CLONE_NEWNET)
        return
    where = f"config.json: linux.namespaces: network path {quote(network)}"
    try:
        fd = os.open(network, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise InvalidSpec(f"{where}: {e.strerror}") from None
    try:
        setns(fd, CLONE_NEWNET)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise InvalidSpec(f"{where}: not a network namespace") from None
        raise InvalidSpec(f"{where}: {e.strerror}") from None
    finally:
        os.close(fd)
