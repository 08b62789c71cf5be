"""The control server: how the CLI reaches a running sandbox.

A ``SOCK_SEQPACKET`` unix socket in the container's state directory (mode 0600, the
directory is root's), served by the sentry's event loop.  One request per message, a JSON
object ``{"cmd": …}``; file descriptors ride along with ``SCM_RIGHTS`` (``exec``'s stdio).
Every reply is a JSON object, ``{"error": "…"}`` for a refused request.

Commands:

- ``start``: release init, held before its first instruction since ``create``.
- ``signal {signo, all}``: a signal from outside the sandbox to init (Linux's rule for a pid
  namespace's init: only signals it handles, and SIGKILL/SIGSTOP), or with ``all`` to every
  process.
- ``ps``: the sandbox's processes.
- ``pause``, ``resume``: stop and continue every workload thread
  (:meth:`~sentry.kernel.kernel.Kernel.pause`).
- ``exec {process}`` + stdio fds: a new process in the sandbox.  The connection stays open:
  the reply ``{"pid", "host_pid"}`` comes when it started, ``{"exit": wait status}`` when it
  exits; ``{"cmd": "signal", "signo"}`` on the same connection signals it, and a connection
  closed before the process exited kills it (the CLI waiting for it was killed).

Handlers run on the loop thread and never block: a request is read when the loop reports
the connection readable, and a reply that does not fit (the client stopped reading) drops
the connection.
"""

from __future__ import annotations

import array
import errno
import os
import _signal as signal
import _socket as socket
import struct

from runsc_py import jsonc
from sentry import logger
from sentry.control.sockpath import short_path

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import ThreadGroup

log = logger.get("sentry")

MAX_MSG = 1 << 20
MAX_FDS = 3
EPOLLIN, EPOLLHUP, EPOLLRDHUP = 0x1, 0x10, 0x2000

if TYPE_CHECKING:  # (an annotation only)
    ExecStarter = Callable[[Dict[str, Any], List[int]], "ThreadGroup"]


class ControlError(Exception):
    """A request the sandbox refuses; its message goes back to the CLI."""


def recv_message(sock: socket.socket,
                 max_fds: int = MAX_FDS) -> tuple[Optional[Dict[str, Any]], List[int]]:
    """One message and the fds that came with it (up to *max_fds*); (None, []) at end of
    stream.

    :raises ControlError: not a JSON object.
    """
    fds = array.array("i")
    data, anc, _flags, _addr = sock.recvmsg(MAX_MSG, socket.CMSG_SPACE(max_fds * fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    try:
        msg = jsonc.loads(data)
    except ValueError:
        msg = None
    if not isinstance(msg, dict):
        for fd in fds:
            os.close(fd)
        raise ControlError("malformed control message")
    return msg, list(fds)


class _Conn:
    def __init__(self, server: "ControlServer", sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.exec_tg: Optional["ThreadGroup"] = None
        self.closed = False

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def send(self, reply: Dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.sock.send(jsonc.dumps(reply).encode())
        except OSError as e:
            log.debug("control: reply dropped: %s", e)
            self.close()

    def on_ready(self, events: int) -> None:
        while not self.closed:
            try:
                msg, fds = recv_message(self.sock)
            except BlockingIOError:
                return
            except ControlError as e:
                self.send({"error": str(e)})
                continue
            except OSError:
                msg, fds = None, []
            if msg is None:
                self.close()
                return
            try:
                self.send(self.server.handle(self, msg, fds))
            except ControlError as e:
                self.send({"error": str(e)})
            finally:
                for fd in fds:
                    os.close(fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.kernel.remove_fd_handler(self.fd)
        self.sock.close()
        tg = self.exec_tg
        if tg is not None and not tg.zombie:
            # Nobody is left to report its exit to: end it, as a killed `runc exec` would.
            self.server.kernel.signal_group(tg, signal.SIGKILL, from_outside=True)


class ControlServer:
    """Listens on *path*; requests are served by the kernel's loop."""

    def __init__(self, kernel: "Kernel", path: str, start_exec: ExecStarter) -> None:
        self.kernel = kernel
        self.path = path
        self.start_exec = start_exec
        # sandbox pid of an exec'd process → host pid of the waiter that stands for it
        self.waiters: Dict[int, int] = {}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            with short_path(path) as short:
                self.sock.bind(short)
        finally:
            os.umask(old)
        self.sock.listen(64)
        self.sock.setblocking(False)
        kernel.add_fd_handler(self.sock.fileno(), EPOLLIN, self._accept)

    def close(self) -> None:
        try:
            self.kernel.remove_fd_handler(self.sock.fileno())
        except (OSError, ValueError):
            pass
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def _accept(self, events: int) -> None:
        while True:
            try:
                fd, _ = self.sock._accept()  # type: ignore[attr-defined]  # (socket.py's accept wraps it)
                s = socket.socket(fileno=fd)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("control: accept: %s", e)
                return
            s.setblocking(False)
            conn = _Conn(self, s)
            self.kernel.add_fd_handler(conn.fd, EPOLLIN | EPOLLRDHUP, conn.on_ready)

    # -- requests -----------------------------------------------------------

    def handle(self, conn: _Conn, msg: Dict[str, Any], fds: List[int]) -> Dict[str, Any]:
        cmd = msg.get("cmd")
        k = self.kernel
        if cmd == "start":
            tg = k.init_tg
            if tg is None or not tg.held:
                raise ControlError("container already started")
            k.release_init()
            return {}
        if cmd == "signal":
            signo = _signo(msg.get("signo"))
            if conn.exec_tg is not None:
                if not conn.exec_tg.zombie:
                    k.signal_group(conn.exec_tg, signo, from_outside=True)
                return {}
            self._signal(signo, bool(msg.get("all")))
            return {}
        if cmd == "ps":
            return {"processes": self._ps()}
        if cmd in ("pause", "resume"):
            if k.init_tg is None or k.init_tg.zombie:
                raise ControlError("container not running")
            k.pause() if cmd == "pause" else k.resume()
            return {}
        if cmd == "exec":
            if conn.exec_tg is not None:
                raise ControlError("one exec per connection")
            if k.paused:
                raise ControlError("cannot exec in a paused container")
            process = msg.get("process")
            if not isinstance(process, dict):
                raise ControlError("exec: no process")
            try:
                tg = self.start_exec(process, fds)
            except OSError as e:
                argv = process.get("argv") or ["?"]
                raise ControlError(
                    f"exec: {jsonc.dumps(str(argv[0]))}: "
                    f"{e.strerror or os.strerror(e.errno or errno.EIO)}"
                ) from None
            conn.exec_tg = tg
            # The process that stands for it on the host (the exec's waiter).
            creds = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                         struct.calcsize("3i"))
            self.waiters[tg.tgid] = struct.unpack("3i", creds)[0]
            tg.on_exit.append(lambda status: self._exec_exited(conn, tg, status))
            return {"pid": tg.tgid, "host_pid": tg.host_tgid}
        raise ControlError(f"unknown control command {cmd!r}")

    def _exec_exited(self, conn: _Conn, tg: "ThreadGroup", status: int) -> None:
        conn.exec_tg = None
        self.waiters.pop(tg.tgid, None)
        conn.send({"exit": status})

    def _signal(self, signo: int, all_: bool) -> None:
        k = self.kernel
        init = k.init_tg
        if init is None or init.zombie:
            raise ControlError("container not running")
        groups = [g for g in k.thread_groups.values() if not g.zombie] if all_ else [init]
        for tg in groups:
            if tg is init and signo not in (0, signal.SIGKILL, signal.SIGSTOP):
                # From an ancestor pid namespace, init gets only what it handles.
                if not k.init_has_handler(signo):
                    continue
            k.signal_group(tg, signo, from_outside=True)

    def _ps(self) -> List[Dict[str, Any]]:
        """Every live process; ``client_pid`` is the host pid a client knows it by: the
        sandbox process for init (the container's pid), the waiter for an exec'd one."""
        out = []
        for tg in sorted(self.kernel.thread_groups.values(), key=lambda g: g.tgid):
            if tg.zombie or not tg.tasks:
                continue
            leader = tg.tasks.get(tg.tgid) or next(iter(tg.tasks.values()))
            out.append({
                "pid": tg.tgid,
                "host_pid": tg.host_tgid,
                "client_pid": (self.kernel.sandbox_pid if tg is self.kernel.init_tg
                               else self.waiters.get(tg.tgid, tg.host_tgid)),
                "ppid": tg.parent.tgid if tg.parent is not None else 0,
                "uid": leader.creds.euid,
                "start": tg.start_time,
                "cmd": b" ".join(tg.argv).decode("utf-8", "replace") or tg.comm.decode(),
                "threads": len(tg.tasks),
            })
        return out


def _signo(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 64:
        raise ControlError(f"invalid signal {value!r}")
    return value
