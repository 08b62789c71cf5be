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

Only ``podman info`` is tested here for now: every container podman makes has bind mounts of
regular files (``/etc/hostname``, ``/etc/hosts``, ``/run/.containerenv`` from the userdata
directory), and runsc-py's gofer opens every bind source as a directory, so ``create`` fails
(``gofer: confinement failed: [Errno 20] Not a directory``). The container tests (run, exit
status, ``-i``, ``-d`` + exec/ps/stop/rm, ``-it`` on a pty) pass on runc and wait for that.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import ImageArchive, describe
from .podman_helpers import Podman, PodmanEnv, podman_client, private_podman


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
