"""The gofer's life: it exits on EOF, dies with its parent, fails closed at start-up."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gofer_testlib import REPO, Gofer, socketpair, wait_exit

from gofer.client import GoferClient
from gofer.protocol import PROTOCOL_VERSION
from gofer.server import spawn


def _gone(pid: int) -> bool:
    """True once ``pid`` (not our child) has exited: vanished or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_exits_cleanly_on_eof(gofer: Gofer) -> None:
    gofer.client.attach(0)
    status = gofer.stop()
    assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_exits_on_eof_before_version(tree: Path) -> None:
    pid, sock = spawn([(str(tree), False)])
    sock.close()
    status = wait_exit(pid)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0


def test_dies_with_its_parent(tree: Path) -> None:
    """Invariant 2: nothing outlives the sentry, even with the channel still open."""
    ours, theirs = socketpair()
    script = (
        "import os, socket, sys, time\n"
        "from gofer.server import spawn\n"
        f"link = socket.socket(fileno={theirs.fileno()})\n"
        f"pid, sock = spawn([({str(tree)!r}, False)])\n"
        "socket.send_fds(link, [str(pid).encode()], [sock.fileno()])\n"
        "time.sleep(60)\n"
    )
    helper = subprocess.Popen([sys.executable, "-c", script], pass_fds=[theirs.fileno()],
                              env={"PYTHONPATH": str(REPO)})
    theirs.close()
    try:
        msg, fds, _, _ = socket.recv_fds(ours, 64, 1)
        gofer_pid = int(msg)
        # The test now holds the gofer's channel, so only PDEATHSIG can end it.
        chan = socket.socket(fileno=fds[0])
        c = GoferClient(chan)
        assert c.version() == PROTOCOL_VERSION
        assert not _gone(gofer_pid)
        helper.kill()
        helper.wait()
        deadline = time.monotonic() + 5
        while not _gone(gofer_pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _gone(gofer_pid)
        with pytest.raises(OSError):
            c.stat(1)
        chan.close()
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
        ours.close()


def test_bad_root_fails_closed(tmp_path: Path) -> None:
    pid, sock = spawn([(str(tmp_path / "missing"), False)])
    c = GoferClient(sock)
    with pytest.raises(OSError) as e:
        c.version()
    assert e.value.errno == errno.ECONNRESET
    sock.close()
    status = wait_exit(pid)
    assert status is not None and os.waitstatus_to_exitcode(status) == 1


def test_file_root_is_the_file_alone(tmp_path: Path) -> None:
    """A regular file as a root (a file bind mount) is served; nothing beside it is."""
    (tmp_path / "f").write_bytes(b"resolv")
    (tmp_path / "secret").write_bytes(b"x")
    pid, sock = spawn([(str(tmp_path / "f"), False), (str(tmp_path / "f"), True)])
    client = GoferClient(sock)
    try:
        client.version()
        handle, st = client.attach(0)
        assert st.size == 6 and st.ino == (tmp_path / "f").stat().st_ino
        for name in (b"secret", b"f"):
            with pytest.raises(OSError) as e:
                client.walk(handle, [name])
            assert e.value.errno == errno.ENOTDIR
        with pytest.raises(OSError):
            client.readdir(handle)
        fd = client.open(handle, os.O_RDWR)
        try:
            os.pwrite(fd, b"R", 0)
        finally:
            os.close(fd)
        assert (tmp_path / "f").read_bytes() == b"Resolv"
        ro, _ = client.attach(1)
        with pytest.raises(OSError) as e:
            client.open(ro, os.O_RDWR)
        assert e.value.errno == errno.EROFS
    finally:
        sock.close()
    assert wait_exit(pid) is not None


def test_fifo_root_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    pid, sock = spawn([(str(tmp_path / "p"), False)])
    with pytest.raises(OSError):
        GoferClient(sock).version()
    sock.close()
    assert wait_exit(pid) is not None


def test_main_rejects_non_seqpacket_fd(tmp_path: Path) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "gofer", "--sock-fd", str(b.fileno()), "--root", str(tmp_path)],
            pass_fds=[b.fileno()], env={"PYTHONPATH": str(REPO)}, capture_output=True,
            timeout=10, check=False,
        )
    finally:
        a.close()
        b.close()
    assert r.returncode == 2 and b"seqpacket" in r.stderr


def test_main_exits_if_parent_already_gone(tmp_path: Path) -> None:
    a, b = socketpair()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "gofer", "--sock-fd", str(b.fileno()), "--root",
             f"{tmp_path}:ro", "--parent-pid", "1"],
            pass_fds=[b.fileno()], env={"PYTHONPATH": str(REPO)}, timeout=10, check=False,
        )
    finally:
        a.close()
        b.close()
    assert r.returncode == 1


def test_signal_mask_is_not_inherited(tree: Path, start_gofer: Callable[..., Gofer]) -> None:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGCHLD})
    try:
        g = start_gofer((tree, False))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    with open(f"/proc/{g.pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f)
    assert int(status["SigBlk"], 16) == 0


def test_received_fds_are_cloexec(gofer: Gofer) -> None:
    root, _ = gofer.client.attach(0)
    fd = gofer.client.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)



def test_keeps_off_the_cpu_its_client_is_on(gofer: Gofer) -> None:
    """Each request says the client's CPU; the confined gofer (its filter lets it set
    its own CPUs) moves off it, and back onto it when the client is on another."""
    start = os.sched_getaffinity(gofer.pid)
    c = gofer.client
    want = start
    for cpu in sorted(start)[:2]:
        c.cpu = lambda cpu=cpu: cpu
        c.attach(0)
        # (with one CPU there is none to move to: it stays, asking nothing of the host)
        want = start - {cpu} if len(start) > 1 else start
        assert os.sched_getaffinity(gofer.pid) == want
    for said in (-1, 65533):  # not said, or not one of its CPUs: left as it is
        c.cpu = lambda said=said: said
        c.attach(0)
        assert os.sched_getaffinity(gofer.pid) == want
    assert c.version() == PROTOCOL_VERSION  # alive, served on


def test_keep_off() -> None:
    """GoferServer.keep_off: a call only when the CPU changes and is one of its own,
    never leaving it no CPU."""
    from gofer.server import GoferServer

    a, b = socketpair()
    calls: list[tuple[int, frozenset[int]]] = []
    try:
        srv = GoferServer(a, [], cpus=frozenset({0, 1, 2}),
                          set_cpus=lambda pid, cpus: calls.append((pid, cpus)))
        for cpu in (1, 1, -1, 7, 2, 1):
            srv.keep_off(cpu)
        assert calls == [(0, frozenset({0, 2})), (0, frozenset({0, 1})), (0, frozenset({0, 2}))]
        one = GoferServer(a, [], cpus=frozenset({3}), set_cpus=lambda pid, cpus: calls.append((pid, cpus)))
        one.keep_off(3)
        assert len(calls) == 3

        def refused(pid: int, cpus: frozenset[int]) -> None:
            calls.append((pid, cpus))
            raise OSError(errno.EINVAL, "a cpuset without those CPUs")

        shrunk = GoferServer(a, [], cpus=frozenset({0, 1}), set_cpus=refused)
        for cpu in (0, 0, 1):  # asked once a CPU, refused or not; served on
            shrunk.keep_off(cpu)
        assert calls[3:] == [(0, frozenset({1})), (0, frozenset({0}))]
    finally:
        a.close()
        b.close()
