"""containerd through ``ctr``: the runc v2 shim calling the runtime under test.

Every ``ctr run`` is ``ctr run --runtime io.containerd.runc.v2 --runc-binary BIN --runc-root
ROOT --fifo-dir DIR --cgroup PARENT/ID [FLAGS] IMAGE ID CMD...`` (see ``Ctr.run_args``); the
``ctr`` fixture removes every task and container afterwards, even when the test failed.
"""

from __future__ import annotations

import re
import subprocess

from .helpers import TIMEOUT, Containerd, Ctr, describe, run_on_pty, strip_tty


def test_exit_status_and_stdout(ctr: Ctr) -> None:
    # (The pause before the exit: ctr run deletes the task once it exited, and the
    # containerd client cancels its copy of the output before it waits for it there; the
    # last write was lost now and then, with runc too: once in a full suite run, stderr
    # empty.)
    res = ctr.run("exit3", ["sh", "-c", "echo hi; echo oops >&2; sleep 0.2; exit 3"], "--rm")
    assert res.returncode == 3, describe(res)
    assert res.stdout == "hi\n", describe(res)
    assert res.stderr == "oops\n", describe(res)


def test_killed_by_signal(ctr: Ctr) -> None:
    """``ctr run`` waits for the task; a SIGKILL from ``ctr task kill`` makes it exit 137.

    (``sh -c 'kill -9 $$'`` as the container's init does nothing: pid 1 of a pid namespace
    ignores SIGKILL from inside its namespace. The exec test covers a self-inflicted SIGKILL.)
    """
    proc = subprocess.Popen(
        ctr.argv(*ctr.run_args("killed", ["sleep", "1000"], "--rm")),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        st = ctr.containerd.wait_status("killed", "RUNNING")
        assert st is not None and st[1] == "RUNNING", f"task: {st}"
        kill = ctr("tasks", "kill", "-s", "SIGKILL", "killed")
        assert kill.returncode == 0, describe(kill)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 137, f"rc={proc.returncode}\n{out}\n{err}"


def test_stdin_is_piped(ctr: Ctr) -> None:
    """ctr copies its stdin to the container and, at EOF, closes the container's stdin.

    Only once the task exists: ctr 1.6 drops an EOF it reads before that (``stdinCloser`` has
    no closer yet) and the container then never sees EOF. So the input is written once the task
    runs.
    """
    data = "hello\nworld\n"
    proc = subprocess.Popen(
        ctr.argv(*ctr.run_args("stdin", ["sh", "-c", "cat; echo done"], "--rm")),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        st = ctr.containerd.wait_status("stdin", "RUNNING")
        assert st is not None and st[1] == "RUNNING", f"task: {st}"
        out, err = proc.communicate(data, timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{out}\n{err}"
    assert out == data + "done\n", f"rc={proc.returncode}\n{out}\n{err}"


def test_detached_lifecycle(ctr: Ctr) -> None:
    cid = "life"
    res = ctr.run(cid, ["sleep", "1000"], "-d")
    assert res.returncode == 0, describe(res)

    st = ctr.containerd.wait_status(cid, "RUNNING")
    assert st is not None and st[1] == "RUNNING", f"task: {st}"
    init_pid = st[0]
    assert init_pid > 0

    res = ctr.exec(cid, "e1", ["echo", "from-exec"])
    assert res.returncode == 0, describe(res)
    assert res.stdout == "from-exec\n", describe(res)

    res = ctr.exec(cid, "e2", ["sh", "-c", "exit 7"])
    assert res.returncode == 7, describe(res)

    # an exec'd process is not the pid-namespace init, so it can kill itself
    res = ctr.exec(cid, "e3", ["sh", "-c", "kill -9 $$"])
    assert res.returncode == 137, describe(res)

    res = ctr("tasks", "ps", cid)
    assert res.returncode == 0, describe(res)
    pids = [int(line.split()[0]) for line in res.stdout.splitlines()[1:] if line.strip()]
    assert init_pid in pids, describe(res)

    res = ctr("tasks", "pause", cid)
    assert res.returncode == 0, describe(res)
    assert ctr.containerd.tasks()[cid][1] == "PAUSED"

    res = ctr("tasks", "resume", cid)
    assert res.returncode == 0, describe(res)
    assert ctr.containerd.tasks()[cid][1] == "RUNNING"

    res = ctr("tasks", "kill", "-s", "SIGKILL", cid)
    assert res.returncode == 0, describe(res)
    st = ctr.containerd.wait_status(cid, "STOPPED")
    assert st is not None and st[1] == "STOPPED", f"task: {st}"

    res = ctr("tasks", "rm", cid)
    assert res.returncode == 0, describe(res)
    assert cid not in ctr.containerd.tasks()
    res = ctr("containers", "rm", cid)
    assert res.returncode == 0, describe(res)
    assert cid not in ctr.containerd.containers()


def test_tty(ctr: Ctr) -> None:
    """``ctr run --rm -t`` on a pty: an interactive shell reads a line and answers."""
    argv = ctr.argv(*ctr.run_args("tty", ["sh"], "--rm", "-t"))
    rc, out = run_on_pty(argv, [(b"# ", b"echo $((6*7)); exit 5\r")])
    text = strip_tty(out)
    assert re.search(r"(?m)^42$", text), f"rc={rc} output: {out!r}"
    assert rc == 5, f"rc={rc} output: {out!r}"


def test_exec_tty(ctr: Ctr) -> None:
    """``ctr task exec -t`` into a running task: its own terminal, of the caller's size."""
    res = ctr.run("bg", ["sh", "-c", "while :; do sleep 1; done"], "-d")
    assert res.returncode == 0, describe(res)
    argv = ctr.argv(
        "tasks", "exec", "--fifo-dir", str(ctr.containerd.fifo_dir), "--exec-id", "e1", "-t",
        "bg", "sh",
    )  # fmt: skip
    rc, out = run_on_pty(argv, [(b"# ", b"stty size; echo $((6*7)); exit 6\r")])
    text = strip_tty(out)
    assert re.search(r"(?m)^42$", text), f"rc={rc} output: {out!r}"
    assert re.search(r"(?m)^24 80$", text), f"rc={rc} output: {out!r}"
    assert rc == 6, f"rc={rc} output: {out!r}"


def test_cri_plugin_loads(containerd_cri: Containerd) -> None:
    """The CRI variant of the private containerd: the plugin is up, one handler per runtime."""
    res = containerd_cri.ctr("plugins", "ls")
    assert res.returncode == 0, describe(res)
    cri = [line.split() for line in res.stdout.splitlines() if " cri " in f" {line} "]
    assert cri and cri[0][-1] == "ok", describe(res) + containerd_cri.log_tail()
