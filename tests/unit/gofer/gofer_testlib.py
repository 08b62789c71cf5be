"""Helpers shared by the gofer tests: a running gofer and a patient reaper."""

from __future__ import annotations

from collections.abc import Callable
import os
import signal
import socket
import time
from pathlib import Path

from gofer.client import GoferClient
from gofer.server import spawn


REPO = Path(__file__).resolve().parents[3]


def wait_exit(pid: int, timeout: float = 5.0) -> int | None:
    """Reap ``pid``; returns its wait status, or None if it is still running."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)


class Gofer:
    """One running gofer: its pid, the sentry's socket and a versioned client."""

    def __init__(self, roots: list[tuple[str, bool]]) -> None:
        self.pid, self.sock = spawn(roots)
        self.client = GoferClient(self.sock)
        self.reaped = False

    def stop(self) -> int | None:
        if self.reaped:
            return None
        self.sock.close()
        status = wait_exit(self.pid)
        if status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.reaped = True
        return status


def in_mount_namespace(mounts: list[list[str]], check: Callable[[], int]) -> int:
    """Run *check* in a forked child with a mount namespace of its own (so that nothing
    stays mounted), after the ``mount`` commands *mounts* (their arguments); the child's
    exit code: *check*'s, 1 if anything raised (said on stderr)."""
    import subprocess

    from gofer import linux

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            linux.unshare(linux.CLONE_NEWNS)
            subprocess.run(["mount", "--make-rprivate", "/"], check=True)
            for args in mounts:
                subprocess.run(["mount", *args], check=True)
            got = check()
            code = got if isinstance(got, int) else 1
        except BaseException as e:  # noqa: BLE001 - the child says why, and exits
            os.write(2, f"{type(e).__name__}: {e}\n".encode())
        finally:
            os._exit(code)
    status = wait_exit(pid, 60)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return -1
    return os.waitstatus_to_exitcode(status)


def socketpair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
