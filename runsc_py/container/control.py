"""The CLI's side of the control socket (the server is :mod:`sentry.control.server`)."""

from __future__ import annotations

import sys

# The C module: socket.py imports enum and selectors (with collections), ~2.5 ms of every
# start and kill.
import _socket as socket

from runsc_py import jsonc
from runsc_py.errors import UserError
from sentry.control.sockpath import short_path

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

MAX_MSG = 1 << 20
TIMEOUT = 10.0


class ControlUnavailable(UserError):
    """The sandbox process is gone or does not answer."""


class Connection:
    """One connection to a sandbox's control server.

    :raises ControlUnavailable: nothing listens at *path*.
    """

    def __init__(self, path: str, container_id: str, timeout: float | None = TIMEOUT) -> None:
        self.container_id = container_id
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        try:
            with short_path(path) as short:
                self.sock.connect(short)
        except OSError:
            self.sock.close()
            raise ControlUnavailable("container not running") from None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> None:
        data = jsonc.dumps(msg).encode()
        anc = []
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds))]
        try:
            self.sock.sendmsg([data], anc)
        except OSError as e:
            raise ControlUnavailable(
                f"container {self.container_id}: control socket: {e.strerror or e}"
            ) from None

    def receive(self) -> dict[str, Any]:
        """The next reply.

        :raises UserError: the sandbox refused the request (its message).
        :raises ControlUnavailable: the sandbox went away or did not answer in time.
        """
        try:
            data = self.sock.recv(MAX_MSG)
        except TimeoutError:
            raise ControlUnavailable(
                f"container {self.container_id}: the sandbox did not answer"
            ) from None
        except InterruptedError:
            raise
        except OSError as e:
            raise ControlUnavailable(
                f"container {self.container_id}: control socket: {e.strerror or e}"
            ) from None
        if not data:
            raise ControlUnavailable("container not running")
        try:
            reply = jsonc.loads(data)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ControlUnavailable(f"container {self.container_id}: malformed reply")
        if "error" in reply:
            raise UserError(str(reply["error"]))
        return reply

    def request(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> dict[str, Any]:
        self.send(msg, fds)
        return self.receive()


def request(path: str, container_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    """One request on a fresh connection."""
    with Connection(path, container_id) as c:
        return c.request(msg)
