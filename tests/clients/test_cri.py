"""containerd's CRI plugin driven over gRPC as kubelet drives it, once per runtime handler.

Each test is one kubelet: RunPodSandbox (the pause container, a loopback-only pod network),
CreateContainer/StartContainer of busybox containers logging to files, ExecSync,
ContainerStatus, StopContainer/RemoveContainer, StopPodSandbox/RemovePodSandbox. The handler
is ``runtime_type = io.containerd.runc.v2`` with ``BinaryName`` = the runtime under test, so
the pause container and every app container are made by that runtime. The ``cri`` fixture
removes whatever a test leaves and checks that nothing of the pods stays (see conftest).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from .cri import CriApi, CriClient, CriError, CriSession, parse_cri_log, stream_lines
from .helpers import IMAGE_REF, PAUSE_REF, TIMEOUT, Containerd

# The app containers' init: print to both streams, leave a marker for ExecSync, then wait; on
# SIGTERM (StopContainer's stop signal) say so and exit 42. sh, not sleep, is the pid-namespace
# init, which ignores a signal it has no handler for.
MAIN = (
    'echo out-line; echo err-line >&2; echo "$WHO" > /tmp/marker; '
    "trap 'kill $!; echo got-term; exit 42' TERM; sleep 1000 & wait $!"
)


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def exec_until_ok(cri: CriSession, cid: str, cmd: Sequence[str], timeout: float = TIMEOUT) -> Any:
    """ExecSync *cmd* until it exits 0 (the container's init may not have got there yet)."""
    deadline = time.monotonic() + timeout
    while True:
        res = cri.client.exec_sync(cid, cmd)
        if res.exit_code == 0 or time.monotonic() > deadline:
            return res
        time.sleep(0.1)


def read_log(path: Path, want: str, timeout: float = TIMEOUT) -> str:
    """The log file once it contains *want* (the shim writes it asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        if want in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def describe_exec(res: Any) -> str:
    return f"exit_code={res.exit_code} stdout={res.stdout!r} stderr={res.stderr!r}"


def network_path(spec: dict[str, Any]) -> str | None:
    for ns in spec.get("linux", {}).get("namespaces", []):
        if ns.get("type") == "network":
            return ns.get("path")
    return None


def test_version_and_images(containerd_cri: Containerd, cri_api: CriApi) -> None:
    """Version and the ImageService: both images imported in k8s.io are the CRI's."""
    with CriClient(cri_api, containerd_cri.sock) as client:
        v = client.version()
        assert (v.runtime_name, v.runtime_api_version) == ("containerd", "v1"), v
        tags = {t for image in client.list_images() for t in image.repo_tags}
        assert {IMAGE_REF, PAUSE_REF} <= tags, tags
        image = client.image_status(IMAGE_REF)
        assert image is not None and image.size > 0, image
        assert client.image_status("docker.io/runsc-test/no-such-image:latest") is None


def test_pod_lifecycle(cri: CriSession) -> None:
    """The kubelet sequence for a one-container pod, with every status on the way."""
    pb, client = cri.pb, cri.client
    pod = cri.run_pod("life")

    st = client.pod_sandbox_status(pod.id).status
    assert st.state == pb.SANDBOX_READY, st
    assert st.runtime_handler == cri.handler, st
    assert st.network.ip == "127.0.0.1", st  # the loopback-only network
    pod_info = client.pod_info(pod.id)
    pod_spec = pod_info["runtimeSpec"]
    assert pod_spec["annotations"]["io.kubernetes.cri.container-type"] == "sandbox", pod_spec["annotations"]
    netns = network_path(pod_spec)
    assert netns is not None and netns.startswith(f"{cri.containerd.cri_state_dir}/netns/"), pod_spec["linux"]

    cid = cri.create_container(pod, "main", sh(MAIN), env={"WHO": "main"})
    st = client.container_status(cid).status
    assert st.state == pb.CONTAINER_CREATED, st
    assert st.log_path == str(pod.log_dir / "main" / "0.log"), st

    client.start_container(cid, timeout=2 * TIMEOUT)
    st = client.container_status(cid).status
    assert st.state == pb.CONTAINER_RUNNING, st
    assert st.started_at >= st.created_at > 0, st
    assert [(c.id, c.pod_sandbox_id, c.state) for c in client.list_containers(pod.id)] == [
        (cid, pod.id, pb.CONTAINER_RUNNING)
    ]
    # what containerd gave the runtime: an app container of this pod, in the pod's network
    spec = client.container_info(cid)["runtimeSpec"]
    assert spec["annotations"]["io.kubernetes.cri.container-type"] == "container", spec["annotations"]
    assert spec["annotations"]["io.kubernetes.cri.sandbox-id"] == pod.id, spec["annotations"]
    assert network_path(spec) == f"/proc/{pod_info['pid']}/ns/net", spec["linux"]

    res = exec_until_ok(cri, cid, ["cat", "/tmp/marker"])
    assert (res.exit_code, res.stdout, res.stderr) == (0, b"main\n", b""), describe_exec(res)
    res = client.exec_sync(cid, sh("echo exec-out; echo exec-err >&2; exit 3"))
    assert (res.exit_code, res.stdout, res.stderr) == (3, b"exec-out\n", b"exec-err\n"), describe_exec(res)
    res = client.exec_sync(cid, sh("kill -9 $$"))
    assert res.exit_code == 137, describe_exec(res)
    assert client.container_status(cid).status.state == pb.CONTAINER_RUNNING

    client.stop_container(cid, 10)
    st = client.container_status(cid).status
    assert st.state == pb.CONTAINER_EXITED, st
    assert st.exit_code == 42, st
    assert st.reason == "Error", st
    assert st.finished_at >= st.started_at, st

    lines = parse_cri_log(read_log(pod.log_dir / "main" / "0.log", "got-term"))
    assert stream_lines(lines, "stdout") == ["out-line", "got-term"], lines
    assert stream_lines(lines, "stderr") == ["err-line"], lines

    client.stop_container(cid, 10)  # kubelet stops before it removes: a no-op now
    client.remove_container(cid)
    with pytest.raises(CriError) as e:
        client.container_status(cid)
    assert e.value.code.name == "NOT_FOUND", e.value
    assert client.list_containers(pod.id) == []

    client.stop_pod_sandbox(pod.id)
    st = client.pod_sandbox_status(pod.id).status
    assert st.state == pb.SANDBOX_NOTREADY, st
    client.remove_pod_sandbox(pod.id)
    assert pod.id not in [p.id for p in client.list_pod_sandboxes()]
    with pytest.raises(CriError) as e:
        client.pod_sandbox_status(pod.id)
    assert e.value.code.name == "NOT_FOUND", e.value
    # the runtime forgot both containers (the pause one and ours); the log file is kubelet's
    assert not cri.runtime_state.is_dir() or list(cri.runtime_state.iterdir()) == []
    assert (pod.log_dir / "main" / "0.log").is_file()


def test_two_containers_in_a_pod(cri: CriSession) -> None:
    """ExecSync reaches the container it names: each reads back its own env and files."""
    pb, client = cri.pb, cri.client
    pod = cri.run_pod("pair")
    alpha = cri.run_container(pod, "alpha", sh(MAIN), env={"WHO": "alpha"})
    beta = cri.run_container(pod, "beta", sh(MAIN), env={"WHO": "beta"})
    assert alpha != beta
    listed = {c.id: (c.metadata.name, c.state) for c in client.list_containers(pod.id)}
    assert listed == {alpha: ("alpha", pb.CONTAINER_RUNNING), beta: ("beta", pb.CONTAINER_RUNNING)}

    for cid, who in ((alpha, "alpha"), (beta, "beta")):
        res = exec_until_ok(cri, cid, sh('cat /tmp/marker && echo "$WHO"'))
        assert (res.exit_code, res.stdout) == (0, f"{who}\n{who}\n".encode()), describe_exec(res)
    # the pod's hostname, though containerd gives it only to the pod's sandbox container
    # (the others get its UTS namespace path)
    for cid in (alpha, beta):
        res = client.exec_sync(cid, ["hostname"])
        assert (res.exit_code, res.stdout) == (0, b"pair\n"), describe_exec(res)
    # a file one container writes is not in the other's root
    res = client.exec_sync(alpha, sh("echo only-alpha > /tmp/alpha-only"))
    assert res.exit_code == 0, describe_exec(res)
    res = client.exec_sync(beta, ["cat", "/tmp/alpha-only"])
    assert res.exit_code != 0, describe_exec(res)

    # SIGKILL at once: 128 + 9; the other container runs on
    client.stop_container(alpha, 0)
    st = client.container_status(alpha).status
    assert (st.state, st.exit_code) == (pb.CONTAINER_EXITED, 137), st
    assert client.container_status(beta).status.state == pb.CONTAINER_RUNNING
    res = client.exec_sync(beta, sh('echo "$WHO"'))
    assert (res.exit_code, res.stdout) == (0, b"beta\n"), describe_exec(res)

    client.stop_container(beta, 10)
    st = client.container_status(beta).status
    assert (st.state, st.exit_code) == (pb.CONTAINER_EXITED, 42), st
    for cid in (alpha, beta):
        client.remove_container(cid)
    client.stop_pod_sandbox(pod.id)
    client.remove_pod_sandbox(pod.id)
    assert client.list_containers() == [] and client.list_pod_sandboxes() == []


def test_container_exits_on_its_own(cri: CriSession) -> None:
    """A container whose process exits: EXITED with its status, its output in the log."""
    pb, client = cri.pb, cri.client
    pod = cri.run_pod("exits")
    seven = cri.run_container(pod, "seven", sh("echo bye; echo oops >&2; exit 7"))
    zero = cri.run_container(pod, "zero", ["true"])

    st = client.wait_container_state(seven, pb.CONTAINER_EXITED)
    assert (st.state, st.exit_code, st.reason) == (pb.CONTAINER_EXITED, 7, "Error"), st
    # (not finished_at >= started_at: containerd stamps started_at once the start call returns,
    # and a process this short may have exited by then)
    assert st.started_at > 0 and st.finished_at > 0, st
    st = client.wait_container_state(zero, pb.CONTAINER_EXITED)
    assert (st.state, st.exit_code, st.reason) == (pb.CONTAINER_EXITED, 0, "Completed"), st

    lines = parse_cri_log(read_log(pod.log_dir / "seven" / "0.log", "oops"))
    assert stream_lines(lines, "stdout") == ["bye"], lines
    assert stream_lines(lines, "stderr") == ["oops"], lines
    assert parse_cri_log((pod.log_dir / "zero" / "0.log").read_text()) == []

    with pytest.raises(CriError) as e:
        client.exec_sync(seven, ["true"])
    assert "CONTAINER_EXITED" in e.value.details, e.value

    # the pod's sandbox is still up
    assert client.pod_sandbox_status(pod.id).status.state == pb.SANDBOX_READY
    for cid in (seven, zero):
        client.stop_container(cid, 10)
        client.remove_container(cid)
    client.stop_pod_sandbox(pod.id)
    client.remove_pod_sandbox(pod.id)
    assert client.list_containers() == [] and client.list_pod_sandboxes() == []
