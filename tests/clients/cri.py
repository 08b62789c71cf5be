"""A small CRI client: the gRPC calls kubelet makes to a container runtime (containerd's CRI plugin).

The API is ``cri_api.proto`` (this directory), the subset of Kubernetes' ``runtime.v1`` the tests
use. :func:`compile_api` turns it into Python with ``grpc_tools.protoc`` at test time (the
``cri_api`` fixture does it once per session, in a temporary directory) and imports the result:
a :class:`CriApi` with the messages (``api.pb``) and the stubs (``api.grpc``).

:class:`CriClient` wraps the stubs, one method per call, over the daemon's unix socket; a failed
call raises :class:`CriError` with the gRPC status and the server's message. It also builds the
configs kubelet would send (:meth:`CriClient.pod_config`, :meth:`CriClient.container_config`)
and decodes containerd's verbose ``info`` (:meth:`CriClient.container_info`, which holds the
OCI spec the runtime was given). :func:`parse_cri_log` reads a container log file.

:class:`CriSession` (the ``cri`` fixture) is one test's kubelet: a client, the runtime handler
under test, the pods it ran, and the cleanup that removes them and checks what is left.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc

from .helpers import (
    CRI_NAMESPACE,
    IMAGE_REF,
    TIMEOUT,
    Containerd,
    cgroup_dirs,
    remove_cgroup_tree,
)

PROTO = Path(__file__).resolve().with_name("cri_api.proto")
#: The generated modules' names (protoc derives them from the .proto's file name).
PB_MODULE = "cri_api_pb2"
GRPC_MODULE = "cri_api_pb2_grpc"

#: The CRI API version kubelet announces in Version.
API_VERSION = "v1"


@dataclass(frozen=True)
class CriApi:
    pb: ModuleType  # messages and enums: pb.RunPodSandboxRequest, pb.CONTAINER_RUNNING, ...
    grpc: ModuleType  # pb2_grpc: RuntimeServiceStub, ImageServiceStub


_loaded: CriApi | None = None


def compile_api(outdir: Path) -> CriApi:
    """Compile :data:`PROTO` into *outdir* (existing) and import it.

    The generated modules register their descriptors in protobuf's global pool, so this is done
    once per process: a second call returns the modules already imported.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    argv = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"--proto_path={PROTO.parent}",
        f"--python_out={outdir}",
        f"--grpc_python_out={outdir}",
        str(PROTO),
    ]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise AssertionError(f"protoc failed (rc={res.returncode}):\n{res.stdout}{res.stderr}")
    # the _grpc module does "import cri_api_pb2": it must be in sys.modules under that name
    pb = _import(PB_MODULE, outdir / f"{PB_MODULE}.py")
    stubs = _import(GRPC_MODULE, outdir / f"{GRPC_MODULE}.py")
    _loaded = CriApi(pb, stubs)
    return _loaded


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class CriError(AssertionError):
    """A CRI call failed: ``code`` is the gRPC status (``grpc.StatusCode``), ``details`` the
    server's message (containerd's error text, e.g. ``failed to create containerd task: ...``)."""

    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"CRI {method}: {code.name}: {details}")
        self.method = method
        self.code = code
        self.details = details


class CriClient:
    """The CRI's RuntimeService and ImageService on unix socket *socket*.

    Messages are ``self.pb`` classes; every call has a deadline (*timeout* seconds unless the
    method takes its own).
    """

    def __init__(self, api: CriApi, socket: Path, *, timeout: float = TIMEOUT) -> None:
        self.api = api
        self.pb = api.pb
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self._runtime = api.grpc.RuntimeServiceStub(self.channel)
        self._images = api.grpc.ImageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, stub: Any, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return getattr(stub, method)(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            # a unary call's error is also a grpc.Call
            raise CriError(method, e.code(), e.details() or "") from None  # type: ignore[attr-defined]

    # ---- RuntimeService

    def version(self) -> Any:
        return self._call(self._runtime, "Version", self.pb.VersionRequest(version=API_VERSION))

    def run_pod_sandbox(self, config: Any, runtime_handler: str, *, timeout: float | None = None) -> str:
        req = self.pb.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        return str(self._call(self._runtime, "RunPodSandbox", req, timeout).pod_sandbox_id)

    def stop_pod_sandbox(self, pod_id: str) -> None:
        self._call(self._runtime, "StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))

    def remove_pod_sandbox(self, pod_id: str) -> None:
        self._call(self._runtime, "RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))

    def pod_sandbox_status(self, pod_id: str, *, verbose: bool = False) -> Any:
        """The PodSandboxStatusResponse (``.status``; with *verbose* also ``.info``)."""
        req = self.pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose)
        return self._call(self._runtime, "PodSandboxStatus", req)

    def list_pod_sandboxes(self) -> list[Any]:
        return list(self._call(self._runtime, "ListPodSandbox", self.pb.ListPodSandboxRequest()).items)

    def create_container(
        self, pod_id: str, config: Any, sandbox_config: Any, *, timeout: float | None = None
    ) -> str:
        req = self.pb.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config, sandbox_config=sandbox_config
        )
        return str(self._call(self._runtime, "CreateContainer", req, timeout).container_id)

    def start_container(self, container_id: str, *, timeout: float | None = None) -> None:
        req = self.pb.StartContainerRequest(container_id=container_id)
        self._call(self._runtime, "StartContainer", req, timeout)

    def stop_container(self, container_id: str, grace: int) -> None:
        """StopContainer: the stop signal, then SIGKILL after *grace* seconds (0: SIGKILL now)."""
        req = self.pb.StopContainerRequest(container_id=container_id, timeout=grace)
        self._call(self._runtime, "StopContainer", req, self.timeout + grace)

    def remove_container(self, container_id: str) -> None:
        self._call(
            self._runtime, "RemoveContainer", self.pb.RemoveContainerRequest(container_id=container_id)
        )

    def list_containers(self, pod_id: str = "") -> list[Any]:
        """Every container (of pod *pod_id* if given)."""
        req = self.pb.ListContainersRequest(filter=self.pb.ContainerFilter(pod_sandbox_id=pod_id))
        return list(self._call(self._runtime, "ListContainers", req).containers)

    def container_status(self, container_id: str, *, verbose: bool = False) -> Any:
        """The ContainerStatusResponse (``.status``; with *verbose* also ``.info``)."""
        req = self.pb.ContainerStatusRequest(container_id=container_id, verbose=verbose)
        return self._call(self._runtime, "ContainerStatus", req)

    def exec_sync(self, container_id: str, cmd: Sequence[str], *, timeout: int = 0) -> Any:
        """ExecSync: ``.stdout``, ``.stderr`` (bytes), ``.exit_code``. *timeout*: seconds, 0 none
        (the gRPC deadline is the client's timeout plus it)."""
        req = self.pb.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout)
        return self._call(self._runtime, "ExecSync", req, self.timeout + timeout)

    # ---- ImageService

    def list_images(self) -> list[Any]:
        return list(self._call(self._images, "ListImages", self.pb.ListImagesRequest()).images)

    def image_status(self, ref: str) -> Any | None:
        """The Image *ref* names, or None if there is none."""
        req = self.pb.ImageStatusRequest(image=self.pb.ImageSpec(image=ref))
        res = self._call(self._images, "ImageStatus", req)
        return res.image if res.HasField("image") else None

    # ---- what kubelet sends

    def pod_config(
        self,
        name: str,
        *,
        uid: str,
        namespace: str = "default",
        log_directory: Path | None = None,
        cgroup_parent: str = "",
        hostname: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Any:
        """A PodSandboxConfig as kubelet makes it for an ordinary pod: pod network and IPC,
        a pid namespace per container."""
        ns = self.pb.NamespaceOption(network=self.pb.POD, pid=self.pb.CONTAINER, ipc=self.pb.POD)
        return self.pb.PodSandboxConfig(
            metadata=self.pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
            hostname=hostname or name,
            log_directory=str(log_directory) if log_directory is not None else "",
            labels=dict(labels or {}),
            linux=self.pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=self.pb.LinuxSandboxSecurityContext(namespace_options=ns),
            ),
        )

    def container_config(
        self,
        name: str,
        image: str,
        *,
        command: Sequence[str] = (),
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log_path: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Any:
        ns = self.pb.NamespaceOption(network=self.pb.POD, pid=self.pb.CONTAINER, ipc=self.pb.POD)
        return self.pb.ContainerConfig(
            metadata=self.pb.ContainerMetadata(name=name, attempt=0),
            image=self.pb.ImageSpec(image=image),
            command=list(command),
            args=list(args),
            envs=[self.pb.KeyValue(key=k, value=v) for k, v in (env or {}).items()],
            labels=dict(labels or {}),
            log_path=log_path,
            linux=self.pb.LinuxContainerConfig(
                security_context=self.pb.LinuxContainerSecurityContext(namespace_options=ns)
            ),
        )

    # ---- containerd's verbose info

    def container_info(self, container_id: str) -> dict[str, Any]:
        """containerd's verbose ContainerStatus info: ``pid``, ``sandboxID``, ``runtimeSpec``
        (the config.json the runtime got), ``runtimeType``, ``runtimeOptions``..."""
        return _info(self.container_status(container_id, verbose=True).info)

    def pod_info(self, pod_id: str) -> dict[str, Any]:
        """containerd's verbose PodSandboxStatus info: ``pid``, ``runtimeSpec``, ``runtimeHandler``,
        ``netNamespaceClosed``..."""
        return _info(self.pod_sandbox_status(pod_id, verbose=True).info)

    # ---- waiting

    def wait_container_state(self, container_id: str, state: int, timeout: float = TIMEOUT) -> Any:
        """Poll ContainerStatus until the container is in *state*; return the last ``.status``."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.container_status(container_id).status
            if st.state == state or time.monotonic() > deadline:
                return st
            time.sleep(0.1)

    def state_name(self, state: int) -> str:
        return str(self.pb.ContainerState.Name(state))


def _info(info: Mapping[str, str]) -> dict[str, Any]:
    raw = info.get("info")
    assert raw is not None, f"no 'info' in the verbose status: {sorted(info)}"
    data = json.loads(raw)
    assert isinstance(data, dict), raw
    return data


# --------------------------------------------------------------------------- container logs


@dataclass(frozen=True)
class LogLine:
    time: str  # RFC 3339 with nanoseconds
    stream: str  # stdout | stderr
    tag: str  # F (full line) | P (partial: continued by the next line of the stream)
    content: str


# e.g. "2016-10-06T00:17:09.669794202Z stdout F hello" (time in the node's zone: Z or +hh:mm)
_LOG_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<stream>stdout|stderr) (?P<tag>[FP]) (?P<content>.*)"
)


def parse_cri_log(text: str) -> list[LogLine]:
    """The lines of a CRI container log file; AssertionError on a line not in the CRI format."""
    out = []
    rows = text.split("\n")
    if rows[-1] == "":  # the newline that ends the last line (or an empty file)
        rows.pop()
    for i, line in enumerate(rows):
        m = _LOG_LINE.fullmatch(line)
        assert m is not None, f"log line {i + 1} is not in the CRI format: {line!r}\n--- log ---\n{text}"
        out.append(LogLine(m["time"], m["stream"], m["tag"], m["content"]))
    return out


def stream_lines(lines: Iterable[LogLine], stream: str) -> list[str]:
    """The full lines of *stream*, partial lines joined."""
    out: list[str] = []
    pending = ""
    for line in lines:
        if line.stream != stream:
            continue
        pending += line.content
        if line.tag == "F":
            out.append(pending)
            pending = ""
    if pending:
        out.append(pending)
    return out


# --------------------------------------------------------------------------- pods of one test


@dataclass
class Pod:
    id: str
    config: Any  # the PodSandboxConfig it was run with (CreateContainer sends it again)
    log_dir: Path
    cgroup_parent: str


class CriSession:
    """One test's view of the CRI (the ``cri`` fixture): a :class:`CriClient` on the private
    containerd, the runtime handler under test, and the pods it ran.

    Pods get what kubelet gives them: a log directory (``<base>/logs/<ns>_<name>_<uid>``) and a
    cgroup parent of their own (``<daemon cgroup parent>/pod<uid>``; containerd puts each
    container in ``<it>/<container id>``, and removing the pod's directory is kubelet's job:
    :meth:`cleanup` does it).
    """

    def __init__(self, client: CriClient, containerd: Containerd, handler: str) -> None:
        self.client = client
        self.pb = client.pb
        self.containerd = containerd
        self.handler = handler
        self.image = IMAGE_REF
        #: the runtime's ``--root`` (the handler's Root option + the namespace)
        self.runtime_state = containerd.cri_runtime_root(handler) / CRI_NAMESPACE
        self.pods: list[Pod] = []

    def run_pod(self, name: str) -> Pod:
        uid = uuid.uuid4().hex[:12]
        log_dir = self.containerd.base / "logs" / f"default_{name}_{uid}"
        cgroup_parent = f"{self.containerd.cgroup_parent}/pod{uid}"
        config = self.client.pod_config(name, uid=uid, log_directory=log_dir, cgroup_parent=cgroup_parent)
        # kubelet makes the log directory; containerd only creates the files
        log_dir.mkdir(parents=True)
        pod = Pod("", config, log_dir, cgroup_parent)
        self.pods.append(pod)
        pod.id = self.client.run_pod_sandbox(config, self.handler, timeout=2 * TIMEOUT)
        return pod

    def create_container(
        self,
        pod: Pod,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """CreateContainer of the busybox image in *pod*, logging to ``<name>/0.log``."""
        (pod.log_dir / name).mkdir(exist_ok=True)
        config = self.client.container_config(
            name, self.image, command=command, env=env, log_path=f"{name}/0.log"
        )
        return self.client.create_container(pod.id, config, pod.config, timeout=2 * TIMEOUT)

    def run_container(
        self, pod: Pod, name: str, command: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> str:
        """CreateContainer + StartContainer."""
        cid = self.create_container(pod, name, command, env=env)
        self.client.start_container(cid, timeout=2 * TIMEOUT)
        return cid

    def cleanup(self) -> list[str]:
        """Remove every container and pod (as kubelet would: StopContainer, RemoveContainer,
        StopPodSandbox, RemovePodSandbox) and the pods' cgroup directories; return complaints
        about what could not be removed or what the runtime left behind."""
        problems: list[str] = []
        c = self.client

        def attempt(what: str, fn: Any, *args: Any) -> None:
            try:
                fn(*args)
            except CriError as e:
                problems.append(f"{what}: {e}")

        try:
            for ctr in c.list_containers():
                # kubelet stops before it removes, whatever the state (a no-op once exited)
                attempt(f"StopContainer {ctr.id}", c.stop_container, ctr.id, 0)
                attempt(f"RemoveContainer {ctr.id}", c.remove_container, ctr.id)
            for sb in c.list_pod_sandboxes():
                attempt(f"StopPodSandbox {sb.id}", c.stop_pod_sandbox, sb.id)
                attempt(f"RemovePodSandbox {sb.id}", c.remove_pod_sandbox, sb.id)
            left_ctrs = [x.id for x in c.list_containers()]
            left_pods = [x.id for x in c.list_pod_sandboxes()]
        except CriError as e:
            problems.append(f"cleanup: {e}")
            left_ctrs, left_pods = [], []
        if left_ctrs:
            problems.append(f"containers left after cleanup: {left_ctrs}")
        if left_pods:
            problems.append(f"pods left after cleanup: {left_pods}")
        # containerd's own leftovers: its containers and tasks in k8s.io (the images stay)
        problems += self.containerd.remove_everything()
        # the runtime's
        if self.runtime_state.is_dir():
            left = sorted(p.name for p in self.runtime_state.iterdir())
            if left:
                problems.append(f"runtime root {self.runtime_state} not empty: {left}")
                for name in left:
                    p = self.runtime_state / name
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        # pod netns and shm mounts, containers' rootfs mounts (in the daemon's mount namespace)
        for d in (
            self.containerd.cri_state_dir,
            self.containerd.base / "state" / "io.containerd.runtime.v2.task",
        ):
            mounted = self.containerd.daemon_mounts_under(d)
            if mounted:
                problems.append("mounts left in containerd's namespace: " + ", ".join(mounted))
        # every container cgroup must be gone; the pod's own directory is ours to remove
        for pod in self.pods:
            for top in cgroup_dirs(pod.cgroup_parent):
                for child in sorted(p for p in top.iterdir() if p.is_dir()):
                    problems.append(f"cgroup left: {child}")
            remove_cgroup_tree(pod.cgroup_parent)
        return problems
