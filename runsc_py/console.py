"""Terminals for ``process.terminal``: a host pty pair whose master goes to the client over
``--console-socket`` (as runc sends it) and whose replica is the process's stdio.

The sandbox donates the replica to the workload like any stdio terminal (the sentry serves
``TCGETS/TCSETS*``, ``TIOCGWINSZ/TIOCSWINSZ`` on it and keeps the foreground process group
``TIOCGPGRP/TIOCSPGRP`` as the sandbox's own view). For ``create`` the replica is also the
controlling terminal of the sandbox process's session, so the line discipline's ``^C`` and
``^\\`` reach the sandbox's host process group, workload processes included.
"""

from __future__ import annotations

import array
import fcntl
import os
import _socket as socket  # (socket.py imports enum and selectors: ~4 ms of a CLI start)
import struct
import termios

from runsc_py.errors import UserError


def open_console(console_socket: str, size: tuple[int, int] | None) -> int:
    """Make a pty pair, send its master over *console_socket*; returns the replica fd.

    :raises UserError: the socket cannot be reached.
    """
    master, replica = os.openpty()
    try:
        os.set_inheritable(replica, False)
        if size is not None:
            rows, cols = size
            fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(10)
            sock.connect(console_socket)
            name = os.ttyname(replica).encode()
            sock.sendmsg(
                [name],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [master]).tobytes())],
            )
        except OSError as e:
            raise UserError(
                f"--console-socket {console_socket}: {e.strerror or e}"
            ) from None
        finally:
            sock.close()
    except BaseException:
        os.close(replica)
        raise
    finally:
        os.close(master)
    return replica


def make_controlling(fd: int) -> None:
    """Make terminal *fd* the controlling terminal of the caller's (new) session."""
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
