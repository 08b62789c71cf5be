"""dockerd 20.10 driving the runtime under test: ``docker run --runtime NAME ...``.

Every test runs once per runtime of ``helpers.RUNTIMES``: runc is dockerd's built-in default
runtime (the ``runc`` in ``PATH``), the others are registered in the private daemon's
daemon.json (``docker_helpers.DockerEnv``: its own data root, exec root, socket and pid file, a
private mount and network namespace, ``--bridge none``, vfs storage, cgroupfs, a cgroup parent
of its own). At teardown every container is removed and the test fails if docker or the runtime
left containers, processes (shims, the runtime's, the workload's), cgroups, runtime state, task
bundles or mounts; the module fails if anything outlives dockerd or lands in the host's docker
paths.

How dockerd 20.10.24 (through its containerd 1.6 and ``containerd-shim-runc-v2``) calls the
runtime. Every call: ``--root <exec-root>/runtime-runc/moby --log <B>/log.json --log-format json``
where B = ``<exec-root>/containerd/daemon/io.containerd.runtime.v2.task/moby/<ID>``, the cwd is B
(the root is the default runtime's for every runtime; a runtime's ``runtimeArgs`` come before
these flags):

- ``docker run``: ``create --bundle B --pid-file B/init.pid ID`` (stdio: the shim's pipes; with
  ``-t`` also ``--console-socket $TMPDIR/ptyNNN/pty.sock``, and config.json has no
  ``consoleSize``: the client sets the size through the resize API once ``start`` returned),
  ``start ID``; when it exits ``delete ID`` and then ``delete --force ID``.
- ``docker exec``: ``exec --process $TMPDIR/runc-processNNN --detach --pid-file B/<execid>.pid ID``
  (with ``-t``: ``--console-socket S`` after ``--process``; no ``--tty``, the process JSON says
  ``terminal``).
- ``docker stop -t N``: ``kill ID 15``, N seconds later ``kill ID 9``; ``docker rm -f``: ``kill ID
  9``. ``docker top``: ``ps --format json ID``.
- config.json: namespaces mount, network, uts, pid, ipc (no paths; ``--network host`` gives the
  network one the path ``<exec-root>/netns/default``); mounts ``/proc``, ``/dev`` (tmpfs),
  ``/dev/pts``, ``/sys`` (ro), ``/sys/fs/cgroup`` (ro), ``/dev/mqueue``, ``/dev/shm`` (tmpfs) and
  three regular files bound from ``<data-root>/containers/<ID>/``: ``/etc/resolv.conf``,
  ``/etc/hostname``, ``/etc/hosts`` (``rbind``, ``rprivate``); ``cgroupsPath`` ``<parent>/<ID>``;
  a seccomp profile; sysctls ``net.ipv4.ip_unprivileged_port_start`` and ``ping_group_range``.
- hooks: a container with a network namespace of its own gets the prestart hook
  ``/proc/<dockerd pid>/exe libnetwork-setkey -exec-root=<exec-root> <ID> <controller id>``: it
  reads the state JSON on its stdin and libnetwork binds ``/proc/<pid>/ns/net`` on the sandbox
  key ``<exec-root>/netns/<12 hex>``. With ``--bridge none`` a container of the default network
  mode has networking disabled: no hook, just a new network namespace.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import procs

from .docker_helpers import Docker, DockerEnv, docker_client, private_dockerd
from .helpers import ImageArchive, describe, run_on_pty, strip_tty

_ID_RE = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def docker_env(busybox_image: ImageArchive) -> Iterator[DockerEnv]:
    yield from private_dockerd(busybox_image)


@pytest.fixture
def docker(docker_env: DockerEnv, runtime_name: str, runtime_binary: str) -> Iterator[Docker]:
    yield from docker_client(docker_env, runtime_name, runtime_binary)


def run_detached(docker: Docker, name: str, cmd: list[str], *flags: str) -> tuple[str, int]:
    """``docker run -d --name NAME FLAGS IMAGE CMD``; return (container id, State.Pid)."""
    res = docker.run(cmd, "-d", "--name", name, *flags)
    assert res.returncode == 0, describe(res)
    cid = res.stdout.strip()
    assert _ID_RE.match(cid), describe(res)
    assert docker.inspect(name, "{{.State.Status}}") == "running"
    pid = int(docker.inspect(name, "{{.State.Pid}}"))
    assert pid > 0 and procs.alive(pid), f"State.Pid {pid}"
    return cid, pid


def remove(docker: Docker, name: str) -> None:
    """``docker rm -f NAME`` (the runtime's ``kill ID 9`` and ``delete``)."""
    res = docker("rm", "--force", name)
    assert res.returncode == 0, describe(res)
    assert name not in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_run_echo(docker: Docker) -> None:
    res = docker.run(["echo", "hi"], "--rm")
    assert res.returncode == 0, describe(res)
    assert res.stdout == "hi\n", describe(res)


def test_exit_status(docker: Docker) -> None:
    res = docker.run(["sh", "-c", "exit 3"], "--rm")
    assert res.returncode == 3, describe(res)


def test_stdin_is_piped(docker: Docker) -> None:
    """``run -i``: docker copies its stdin to the container and closes it at EOF."""
    data = "hello\nworld\n"
    res = docker.run(["sh", "-c", "cat; echo done"], "--rm", "-i", input=data)
    assert res.returncode == 0, describe(res)
    assert res.stdout == data + "done\n", describe(res)


def test_detached_lifecycle(docker: Docker) -> None:
    """``run -d``, ``exec``, ``top``, ``ps``, ``stop`` (the workload traps SIGTERM), ``rm``."""
    name = "life"
    script = "trap 'echo term; exit 5' TERM; echo ready; sleep 1000 & wait"
    cid, pid = run_detached(docker, name, ["sh", "-c", script])
    docker.wait_log(name, "ready\n")  # the trap is set

    # the runtime under test made it: only it can report its state
    assert docker.inspect(name, "{{.HostConfig.Runtime}}") == docker.runtime
    state = docker.runtime_state(cid)
    assert state.get("status") == "running", state
    assert state.get("pid") == pid, state

    res = docker("ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert res.returncode == 0, describe(res)
    assert f"{cid} {name}" in res.stdout.splitlines(), describe(res)

    # ``ps --format json``: the container's host pids (init's is State.Pid), sh and sleep
    res = docker("top", name, "-o", "pid")
    assert res.returncode == 0, describe(res)
    lines = res.stdout.split()
    assert lines[0] == "PID", describe(res)
    pids = [int(p) for p in lines[1:]]
    assert pid in pids and len(pids) == 2, describe(res)

    res = docker("exec", name, "echo", "from-exec")
    assert res.returncode == 0, describe(res)
    assert res.stdout == "from-exec\n", describe(res)

    res = docker("exec", name, "sh", "-c", "exit 7")
    assert res.returncode == 7, describe(res)

    res = docker("exec", "-i", name, "cat", input="to-exec\n")
    assert res.returncode == 0, describe(res)
    assert res.stdout == "to-exec\n", describe(res)

    # SIGTERM is handled: the container is gone long before the 2 s timeout's SIGKILL
    t0 = time.monotonic()
    res = docker("stop", "-t", "2", name)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, describe(res)
    assert docker.inspect(name, "{{.State.Status}}") == "exited"
    assert docker.inspect(name, "{{.State.ExitCode}}") == "5"
    assert elapsed < 2.0, f"docker stop took {elapsed:.1f}s"
    assert docker("logs", name).stdout == "ready\nterm\n"
    assert procs.wait_gone({pid}, 5.0) == set(), f"workload pid {pid} still alive"

    assert cid not in docker.container_ids()
    assert cid in docker.container_ids("-a")

    res = docker("rm", name)
    assert res.returncode == 0, describe(res)
    assert cid not in docker.container_ids("-a")


def test_stop_kills_after_timeout(docker: Docker) -> None:
    """``stop -t 2`` of a workload that does not handle SIGTERM: SIGKILL after 2 s, exit 137.

    (pid 1 of a pid namespace ignores a signal it has no handler for, even from the host.)
    """
    name = "stubborn"
    run_detached(docker, name, ["sleep", "1000"])

    t0 = time.monotonic()
    res = docker("stop", "-t", "2", name)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, describe(res)
    assert docker.inspect(name, "{{.State.Status}}") == "exited"
    assert docker.inspect(name, "{{.State.ExitCode}}") == "137"
    assert 1.5 < elapsed < 15, f"docker stop took {elapsed:.1f}s"

    res = docker("rm", name)
    assert res.returncode == 0, describe(res)


def test_tty(docker: Docker) -> None:
    """``run --rm -it`` on a pty: an interactive shell on a terminal reads lines and answers.

    (Not its size: docker 20.10 sets it only after ``start`` returned; see test_tty_resize.)
    """
    argv = docker.argv(*docker.run_args(["sh"], "--rm", "-it"))
    script = [(b"# ", b"[ -t 0 ] && [ -t 1 ] && echo tty-yes; echo $((6*7))\n"), (b"42", b"exit 4\n")]
    rc, out = run_on_pty(argv, script)
    text = strip_tty(out)
    assert re.search(r"(?m)^tty-yes$", text), f"rc={rc} output: {out!r}"
    assert re.search(r"(?m)^42$", text), f"rc={rc} output: {out!r}"
    assert rc == 4, f"rc={rc} output: {out!r}"


def test_exec_tty(docker: Docker) -> None:
    """``exec -it`` on a pty (the runtime's ``exec --tty --console-socket``): an interactive shell."""
    name = "exectty"
    run_detached(docker, name, ["sleep", "1000"])
    argv = docker.argv("exec", "-it", name, "sh")
    script = [(b"# ", b"[ -t 0 ] && [ -t 1 ] && echo tty-yes; echo $((6*7))\n"), (b"42", b"exit 3\n")]
    rc, out = run_on_pty(argv, script)
    text = strip_tty(out)
    assert re.search(r"(?m)^tty-yes$", text), f"rc={rc} output: {out!r}"
    assert re.search(r"(?m)^42$", text), f"rc={rc} output: {out!r}"
    assert rc == 3, f"rc={rc} output: {out!r}"
    remove(docker, name)


def test_tty_resize(docker: Docker) -> None:
    """``run -t``: docker's resize (``POST /containers/ID/resize``, what the client sends on
    SIGWINCH) changes the terminal's size and the workload gets SIGWINCH."""
    name = "resize"
    script = "trap 'echo \"winch $(stty size)\"' WINCH; echo ready; while :; do sleep 0.1; done"
    cid, _pid = run_detached(docker, name, ["sh", "-c", script], "-t")
    docker.wait_log(name, "ready")
    for rows, cols in ((30, 100), (31, 101)):
        status, body = docker.env.api("POST", f"/containers/{cid}/resize?h={rows}&w={cols}")
        assert status == 200, f"resize: {status} {body}"
        docker.wait_log(name, f"winch {rows} {cols}")
    remove(docker, name)


def test_etc_files_are_dockers(docker: Docker) -> None:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf are the files docker wrote (regular files
    bound from its container directory), shared both ways: docker rewrites them in place when a
    container joins a network, and a write inside lands in docker's file."""
    name = "files"
    cid, _pid = run_detached(docker, name, ["sleep", "1000"])
    files = {
        "/etc/hostname": docker.inspect(name, "{{.HostnamePath}}"),
        "/etc/hosts": docker.inspect(name, "{{.HostsPath}}"),
        "/etc/resolv.conf": docker.inspect(name, "{{.ResolvConfPath}}"),
    }
    for inside, outside in files.items():
        assert Path(outside).parent.name == cid, files
        res = docker("exec", name, "cat", inside)
        assert res.returncode == 0, describe(res)
        assert res.stdout == Path(outside).read_text(), f"{inside} != {outside}: {describe(res)}"
    assert Path(files["/etc/hostname"]).read_text() == cid[:12] + "\n"
    res = docker("exec", name, "hostname")
    assert res.stdout == cid[:12] + "\n", describe(res)

    hosts = Path(files["/etc/hosts"])
    with hosts.open("a") as f:
        f.write("10.1.2.3\tfrom-docker\n")
    res = docker("exec", name, "tail", "-n", "1", "/etc/hosts")
    assert res.stdout == "10.1.2.3\tfrom-docker\n", describe(res)
    res = docker("exec", name, "sh", "-c", "echo '10.4.5.6 from-container' >> /etc/hosts")
    assert res.returncode == 0, describe(res)
    assert hosts.read_text().endswith("10.1.2.3\tfrom-docker\n10.4.5.6 from-container\n")
    remove(docker, name)


def _bundle_config(docker: Docker, cid: str) -> dict[str, object]:
    config = json.loads((docker.bundle(cid) / "config.json").read_text())
    assert isinstance(config, dict)
    return config


def _network_namespaces(config: dict[str, object]) -> list[object]:
    linux = config["linux"]
    assert isinstance(linux, dict)
    return [ns for ns in linux["namespaces"] if ns["type"] == "network"]


def test_network_default(docker: Docker) -> None:
    """The default network mode (no bridge on this daemon: networking disabled): the runtime
    makes a new network namespace, there is no hook."""
    name = "netdefault"
    cid, pid = run_detached(docker, name, ["sleep", "1000"])
    assert docker.inspect(name, "{{.HostConfig.NetworkMode}}") == "default"
    config = _bundle_config(docker, cid)
    assert _network_namespaces(config) == [{"type": "network"}], config["linux"]
    hooks = config.get("hooks") or {}
    assert isinstance(hooks, dict) and not hooks.get("prestart"), hooks
    netns = os.readlink(f"/proc/{pid}/ns/net")
    assert netns not in (os.readlink(f"/proc/{docker.env.pid}/ns/net"), os.readlink("/proc/self/ns/net"))
    res = docker("exec", name, "cat", "/etc/hostname")
    assert res.stdout == cid[:12] + "\n", describe(res)
    remove(docker, name)


def test_network_none(docker: Docker) -> None:
    """``--network none``: docker's libnetwork-setkey prestart hook gets the container's state and
    libnetwork binds the container's network namespace (that of the state's pid) on the sandbox
    key in dockerd's mount namespace."""
    name = "netnone"
    cid, pid = run_detached(docker, name, ["sleep", "1000"], "--network", "none")
    env = docker.env
    config = _bundle_config(docker, cid)
    assert _network_namespaces(config) == [{"type": "network"}], config["linux"]
    hooks = config.get("hooks")
    assert isinstance(hooks, dict), config
    prestart = hooks.get("prestart")
    assert isinstance(prestart, list) and len(prestart) == 1, hooks
    hook = prestart[0]
    assert hook["path"] == f"/proc/{env.pid}/exe", hook
    assert hook["args"][:3] == ["libnetwork-setkey", f"-exec-root={env.exec_root}", cid], hook

    key = docker.inspect(name, "{{.NetworkSettings.SandboxKey}}")
    assert key.startswith(f"{env.exec_root}/netns/"), key
    nsfs = {mp: root for root, mp, fstype in env.daemon_mounts() if fstype == "nsfs"}
    netns = os.readlink(f"/proc/{pid}/ns/net")
    assert nsfs.get(key) == netns, f"sandbox key {key}: {nsfs.get(key)}, the container's netns {netns}"
    assert netns != os.readlink(f"/proc/{env.pid}/ns/net")
    res = docker("exec", name, "cat", "/etc/hostname")
    assert res.stdout == cid[:12] + "\n", describe(res)
    remove(docker, name)
