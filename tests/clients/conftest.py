"""Fixtures of the client tests (real container engines driving a runtime binary).

- ``busybox_image`` (session): :class:`ImageArchive` of the busybox-static image (docker-archive,
  built with umoci + skopeo in a temporary directory removed at the end of the session).
- ``containerd`` (package): a private :class:`Containerd` without the CRI plugin, the image
  imported as ``IMAGE_REF`` in namespace ``runsc-test``. Stopped by pid when the package's tests
  are done; the teardown fails if it had to kill shims or processes, remove cgroups or unmount
  anything, or if the host's /run/containerd, /var/lib/containerd or /opt/containerd appeared.
- ``pause_image`` (session): the CRI sandbox image ``PAUSE_REF`` (busybox, entrypoint a long
  sleep), built like ``busybox_image``.
- ``containerd_cri`` (package): the same with the CRI plugin on and one runtime handler per
  entry of ``RUNTIMES`` (``runtime_type = io.containerd.runc.v2``, ``BinaryName`` = the binary,
  ``Root`` = ``Containerd.cri_runtime_root(name)``), ``sandbox_image`` = ``PAUSE_REF``, a
  loopback-only CNI network in its base directory; both images imported in namespace
  ``k8s.io`` (the CRI plugin's), where its ``ctr`` works too.
- ``cri_api`` (session): ``cri_api.proto`` compiled with ``grpc_tools.protoc`` into a temporary
  directory (removed at the end of the session) and imported (:class:`cri.CriApi`).
- ``runtime_name`` / ``runtime_binary``: parametrized over ``helpers.RUNTIMES`` (the test id is
  the name); a runtime that is not installed fails its tests.
- ``ctr``: a :class:`Ctr` for ``containerd`` + the runtime. At teardown every task and container
  is killed and removed; the test then fails if that did not work, if the runtime's root keeps
  an entry, if a container cgroup stays, or if any process started during the test (the
  shims, the runtime's) is still alive 10 s later.
- ``cri``: a :class:`cri.CriSession` for ``containerd_cri`` + the runtime's handler. At teardown
  every container and pod is stopped and removed through the CRI, as kubelet does; the test then
  fails if that did not work, if containerd or the runtime's root keeps an entry, if a pod
  netns/shm or rootfs mount stays in the daemon's mount namespace, if a container cgroup stays,
  or if any process started during the test is still alive 10 s later.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from helpers import procs

from .cri import CriApi, CriClient, CriSession, compile_api
from .helpers import (
    CRI_NAMESPACE,
    LIVE_DAEMON_PIDS,
    NAMESPACE,
    RUNTIMES,
    Containerd,
    Ctr,
    ImageArchive,
    build_busybox_image,
    build_pause_image,
    cgroup_dirs,
    reap_zombie_children,
    remove_cgroup_tree,
)


@pytest.fixture(scope="session")
def busybox_image() -> Iterator[ImageArchive]:
    work = Path(tempfile.mkdtemp(prefix="rsimg", dir="/tmp"))
    try:
        yield build_busybox_image(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def pause_image() -> Iterator[ImageArchive]:
    work = Path(tempfile.mkdtemp(prefix="rsimg", dir="/tmp"))
    try:
        yield build_pause_image(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def cri_api() -> Iterator[CriApi]:
    out = Path(tempfile.mkdtemp(prefix="rscri", dir="/tmp"))
    try:
        yield compile_api(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _private_containerd(
    *, cri: bool, images: Sequence[ImageArchive], namespace: str = NAMESPACE
) -> Iterator[Containerd]:
    # short: the sockets live in there (sun_path is 108 bytes)
    base = Path(tempfile.mkdtemp(prefix="rcd", dir="/tmp"))
    daemon = Containerd(base, cri=cri, namespace=namespace)
    problems: list[str] = []
    try:
        daemon.start()
        for image in images:
            daemon.import_image(image)
        yield daemon
        problems += daemon.remove_everything()
    finally:
        problems += daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        pytest.fail("private containerd teardown:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="package")
def containerd(busybox_image: ImageArchive) -> Iterator[Containerd]:
    yield from _private_containerd(cri=False, images=[busybox_image])


@pytest.fixture(scope="package")
def containerd_cri(busybox_image: ImageArchive, pause_image: ImageArchive) -> Iterator[Containerd]:
    yield from _private_containerd(cri=True, images=[busybox_image, pause_image], namespace=CRI_NAMESPACE)


@pytest.fixture(params=list(RUNTIMES))
def runtime_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runtime_binary(runtime_name: str) -> str:
    path = RUNTIMES[runtime_name]
    if not path or not os.path.isabs(path) or not os.access(path, os.X_OK):
        pytest.fail(f"runtime {runtime_name}: {path!r} is not an executable absolute path", pytrace=False)
    return path


@pytest.fixture
def ctr(containerd: Containerd, runtime_name: str, runtime_binary: str) -> Iterator[Ctr]:
    before = procs.descendants(os.getpid())
    client = Ctr(containerd, runtime_name, runtime_binary)
    problems: list[str] = []
    try:
        yield client
    finally:
        problems += client.cleanup()
        # a shim exits once its last task is deleted; the runtime's processes must be gone too
        new = procs.descendants(os.getpid()) - before
        left = procs.wait_gone(new, 10.0)
        if left:
            problems.append("processes left running after cleanup:\n" + procs.describe(left))
            procs.kill_all(left)
            procs.wait_gone(left, 5.0)
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        for top in cgroup_dirs(containerd.cgroup_parent):
            for child in sorted(p for p in top.iterdir() if p.is_dir()):
                problems.append(f"cgroup left: {child}")
                remove_cgroup_tree(f"{containerd.cgroup_parent}/{child.name}")
    if problems:
        pytest.fail(
            f"[{runtime_name}] cleanup:\n" + "\n".join(problems) + "\n" + containerd.log_tail(), pytrace=False
        )


@pytest.fixture
def cri(
    containerd_cri: Containerd, cri_api: CriApi, runtime_name: str, runtime_binary: str
) -> Iterator[CriSession]:
    before = procs.descendants(os.getpid())
    client = CriClient(cri_api, containerd_cri.sock)
    session = CriSession(client, containerd_cri, runtime_name)
    problems: list[str] = []
    try:
        yield session
    finally:
        problems += session.cleanup()
        client.close()
        # the pod's shim exits once its last task is deleted; the runtime's processes must be gone
        new = procs.descendants(os.getpid()) - before
        left = procs.wait_gone(new, 10.0)
        if left:
            problems.append("processes left running after cleanup:\n" + procs.describe(left))
            procs.kill_all(left)
            procs.wait_gone(left, 5.0)
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
    if problems:
        pytest.fail(
            f"[{runtime_name}] CRI cleanup:\n" + "\n".join(problems) + "\n" + containerd_cri.log_tail(),
            pytrace=False,
        )
