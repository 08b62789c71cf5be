"""``exec``: a new process in a running sandbox, and the host process that stands for it.

The process itself is made by the sentry (it joins the sandbox's namespaces, and the sentry
is its host parent), so a client that wants a pid to signal and reap gets a *waiter*: the
CLI process (or, with ``--detach``, a child of it that outlives it) that holds the control
connection, forwards every signal it receives to the process, and exits with the process's
status (re-raising the signal that killed it). containerd's shim and conmon are subreapers:
they reap the detached waiter and read the exec's status from it.
"""

from __future__ import annotations

import os
import resource
import signal
from typing import Any, NoReturn

from runsc_py import log
from runsc_py.container import control
from runsc_py.container.lifecycle import write_pid_file
from runsc_py.container.state import CREATING, PAUSED, STOPPED, StateStore
from runsc_py.errors import UserError, WrongState
from runsc_py.log import logger
from runsc_py.spec import ProcessSpec

# Signals a waiter forwards: every one it can catch, except those about itself.
_NOT_FORWARDED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGTTIN, signal.SIGTTOU}
# The exit status of a waiter whose sandbox went away: its process was killed with it.
STATUS_SANDBOX_GONE = 128 + signal.SIGKILL


def exec_process(
    root: str,
    container_id: str,
    proc: ProcessSpec,
    *,
    detach: bool,
    pid_file: str | None,
    stdio: tuple[int, int, int] = (0, 1, 2),
) -> int:
    """Start *proc* in the container; with *detach*, return once it runs (its waiter's pid
    in *pid_file*), otherwise wait for it and exit this process with its status.

    :raises WrongState: the container is not created or running.
    :raises UserError: the sandbox refused the process (no such program, bad cwd …).
    """
    st = StateStore(root).load(container_id)
    status = st.current_status()
    if status in (STOPPED, CREATING):
        raise WrongState("cannot exec in a stopped container")
    if status == PAUSED:
        raise WrongState("cannot exec in a paused container")
    request: dict[str, Any] = {"cmd": "exec", "process": proc.to_control()}
    # The process runs at this caller's nice value, as runc's exec'd process inherits
    # runc's (OCI has no field for it).
    request["process"]["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    if not detach:
        conn = control.Connection(st.control_socket, container_id)
        reply = conn.request(request, stdio)
        logger.debug("exec: pid %s in the sandbox", reply.get("pid"))
        _wait(conn)
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _detached_waiter(st.control_socket, container_id, request, stdio, w, st.cgroup_path)
    os.close(w)
    with open(r, "rb") as f:
        report = f.read().decode("utf-8", "replace")
    if report != "ok":
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        raise UserError(report or "exec failed")
    if pid_file is not None:
        write_pid_file(pid_file, pid)
    return pid


def _detached_waiter(
    path: str, container_id: str, request: dict[str, Any], stdio: tuple[int, int, int], w: int,
    cgroup_path: str | None,
) -> NoReturn:
    try:
        moved = None
        if cgroup_path is not None:
            # The process that stands for the exec is in the container's cgroup, as
            # runc's exec'd process is; a hybrid host's v2 move (an RCU grace period's
            # wait: Cgroup.join_self) while the sentry starts the process.
            from runsc_py.cgroups import Cgroup

            moved = Cgroup(cgroup_path).join_self()
        os.setsid()
        conn = control.Connection(path, container_id)
        conn.send(request, stdio)
        if moved is not None:
            moved([])
        conn.receive()
        # The process has its own copies of the stdio; holding ours would keep a pipe's
        # reader from seeing the end of its output.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        for fd in set(stdio) - {0, 1, 2}:
            os.close(fd)
        os.write(w, b"ok")
        os.close(w)
    except BaseException as e:  # noqa: BLE001 - the child must always exit here
        msg = str(e) if isinstance(e, UserError) else f"internal error: {type(e).__name__}: {e}"
        try:
            os.write(w, msg.encode("utf-8", "replace")[:4000] or b"exec failed")
        finally:
            os._exit(1)
    _wait(conn)


def _wait(conn: control.Connection) -> NoReturn:
    """Forward signals to the exec'd process until it exits; exit like it."""

    def forward(signo: int, _frame: object) -> None:
        try:
            conn.send({"cmd": "signal", "signo": signo})
        except UserError:
            pass

    for sig in signal.valid_signals():
        if sig not in _NOT_FORWARDED:
            try:
                signal.signal(sig, forward)
            except (OSError, ValueError):
                pass
    conn.sock.settimeout(None)
    status: int | None = None
    try:
        while status is None:
            reply = conn.receive()
            value = reply.get("exit")
            if isinstance(value, int) and not isinstance(value, bool):
                status = value
    except UserError as e:
        logger.debug("exec: %s", e)
    log.close()
    if status is None:
        os._exit(STATUS_SANDBOX_GONE)
    exit_like(status)


def exit_like(wait_status: int) -> NoReturn:
    """Exit with a wait status: the same code, or killed by the same signal (no core)."""
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else 1)
