"""podman 4.3 with conmon driving the runtime under test: ``podman --runtime BIN ...``.

Every test runs once per runtime of ``helpers.RUNTIMES`` (runc is the reference). podman runs in
a private installation (``podman_helpers.PodmanEnv``: vfs storage, libpod state, file locks,
events, /run and /var/lib/containers all in a temporary directory); every container gets
``--network none`` and a cgroup parent of its own. At teardown every container is removed and
the test fails if podman or the runtime left containers, processes (conmon, the runtime's, the
workload's), cgroups, runtime state or mounts; the module fails if anything landed in the host's
podman paths.

How podman 4.3 + conmon 2.1.6 call the runtime (no ``--root``: the runtime's default root; runc
also gets ``--log-format=json --log <userdata>/oci-log`` because its basename is in
``runtime_supports_json``, runsc-py does not):

- ``podman run``: conmon runs ``create --bundle <root>/vfs-containers/ID/userdata --pid-file
  <runroot>/vfs-containers/ID/userdata/pidfile [--console-socket /tmp/conmon-term.XXX] ID``,
  podman ``start ID``; when the container exits, ``podman container cleanup`` (conmon's exit
  command) or podman runs ``delete --force ID``.
- ``podman exec``: conmon runs ``exec --pid-file <userdata>/EXECID/exec_pid --process
  <userdata>/EXECID/exec-process-NNN --detach [--tty --console-socket S] ID``.
- ``podman stop -t N``: ``kill ID 15``, after N seconds ``kill ID 9``; then ``delete --force``.
- ``podman info``: ``--version``.

Every container podman makes has bind mounts of regular files (``/etc/hostname``,
``/etc/hosts``, ``/run/.containerenv`` from the userdata directory), so every container test
here also exercises file bind mounts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from helpers import procs

from .helpers import ImageArchive, describe, run_on_pty, strip_tty
from .podman_helpers import Podman, PodmanEnv, is_container_id, podman_client, private_podman


@pytest.fixture(scope="module")
def podman_env(busybox_image: ImageArchive) -> Iterator[PodmanEnv]:
    yield from private_podman(busybox_image)


@pytest.fixture
def podman(podman_env: PodmanEnv, runtime_name: str, runtime_binary: str) -> Iterator[Podman]:
    yield from podman_client(podman_env, runtime_name, runtime_binary)


def test_info_reports_runtime(podman: Podman) -> None:
    """``podman info`` runs ``RUNTIME --version`` and reports its first line."""
    res = podman("info", "--format", "{{.Host.OCIRuntime.Path}}\n{{.Host.OCIRuntime.Version}}")
    assert res.returncode == 0, describe(res)
    path, version = res.stdout.split("\n", 1)
    assert path == podman.runtime, describe(res)
    assert version.startswith("runc version "), describe(res)


def test_run_echo(podman: Podman) -> None:
    res = podman.run(["echo", "hi"], "--rm")
    assert res.returncode == 0, describe(res)
    assert res.stdout == "hi\n", describe(res)


def test_exit_status(podman: Podman) -> None:
    res = podman.run(["sh", "-c", "exit 3"], "--rm")
    assert res.returncode == 3, describe(res)


def test_stdin_is_piped(podman: Podman) -> None:
    """``run -i``: podman copies its stdin to the container and closes it at EOF."""
    data = "hello\nworld\n"
    res = podman.run(["sh", "-c", "cat; echo done"], "--rm", "-i", input=data)
    assert res.returncode == 0, describe(res)
    assert res.stdout == data + "done\n", describe(res)


def test_detached_lifecycle(podman: Podman) -> None:
    """``run -d``, ``exec``, ``ps``, ``stop`` (the workload traps SIGTERM), ``rm``."""
    name = "life"
    script = "trap 'echo term; exit 5' TERM; echo ready; sleep 1000 & wait"
    res = podman.run(["sh", "-c", script], "-d", "--name", name)
    assert res.returncode == 0, describe(res)
    cid = res.stdout.strip()
    assert is_container_id(cid), describe(res)
    podman.wait_log(name, "ready\n")  # the trap is set

    assert podman.inspect(name, "{{.State.Status}}") == "running"
    pid = int(podman.inspect(name, "{{.State.Pid}}"))
    assert pid > 0 and procs.alive(pid), f"State.Pid {pid}"

    res = podman("ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert res.returncode == 0, describe(res)
    assert f"{cid} {name}" in res.stdout.splitlines(), describe(res)

    res = podman("exec", name, "echo", "from-exec")
    assert res.returncode == 0, describe(res)
    assert res.stdout == "from-exec\n", describe(res)

    res = podman("exec", name, "sh", "-c", "exit 7")
    assert res.returncode == 7, describe(res)

    res = podman("exec", "-i", name, "cat", input="to-exec\n")
    assert res.returncode == 0, describe(res)
    assert res.stdout == "to-exec\n", describe(res)

    # SIGTERM is handled: the container is gone long before the 2 s timeout's SIGKILL
    t0 = time.monotonic()
    res = podman("stop", "-t", "2", name)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, describe(res)
    assert podman.inspect(name, "{{.State.Status}}") == "exited"
    assert podman.inspect(name, "{{.State.ExitCode}}") == "5"
    assert elapsed < 2.0, f"podman stop took {elapsed:.1f}s"
    assert podman("logs", name).stdout == "ready\nterm\n"
    assert procs.wait_gone({pid}, 5.0) == set(), f"workload pid {pid} still alive"

    assert cid not in podman.container_ids()
    assert cid in podman.container_ids("-a")

    res = podman("rm", name)
    assert res.returncode == 0, describe(res)
    assert cid not in podman.container_ids("-a", "--external")


def test_stop_kills_after_timeout(podman: Podman) -> None:
    """``stop -t 2`` of a workload that does not handle SIGTERM: SIGKILL after 2 s, exit 137.

    (pid 1 of a pid namespace ignores a signal it has no handler for, even from the host.)
    """
    name = "stubborn"
    res = podman.run(["sleep", "1000"], "-d", "--name", name)
    assert res.returncode == 0, describe(res)
    assert podman.inspect(name, "{{.State.Status}}") == "running"

    t0 = time.monotonic()
    res = podman("stop", "-t", "2", name)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, describe(res)
    assert podman.inspect(name, "{{.State.Status}}") == "exited"
    assert podman.inspect(name, "{{.State.ExitCode}}") == "137"
    assert 1.5 < elapsed < 15, f"podman stop took {elapsed:.1f}s"

    res = podman("rm", name)
    assert res.returncode == 0, describe(res)


def test_tty(podman: Podman) -> None:
    """``run --rm -it`` on a pty: an interactive shell reads lines and answers."""
    argv = podman.argv(*podman.run_args(["sh"], "--rm", "-it"))
    rc, out = run_on_pty(argv, [(b"# ", b"echo $((6*7))\n"), (b"42", b"exit\n")])
    text = strip_tty(out)
    assert re.search(r"(?m)^42$", text), f"rc={rc} output: {out!r}"
    assert rc == 0, f"rc={rc} output: {out!r}"
