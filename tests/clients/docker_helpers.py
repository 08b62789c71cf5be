"""dockerd 20.10 (Debian's docker.io) driving an OCI runtime binary, without touching the host's
docker state.

:class:`DockerEnv` is one private dockerd in a temporary directory *base* (short: the sockets of
dockerd's containerd and of the shims' console live below it, and ``sun_path`` is 108 bytes):

- ``dockerd --data-root base/data --exec-root base/x --pidfile base/d.pid -H unix://base/d.sock
  --config-file base/daemon.json --bridge none --iptables=false --ip-masq=false
  --ip-forward=false --storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs
  --cgroup-parent /runsc-docker-<base name>``. daemon.json registers every runtime of
  ``helpers.RUNTIMES`` but runc under its name (``{"runtimes": {"runsc-py": {"path": BIN}}}``; runc
  is dockerd's built-in default runtime, the ``runc`` of ``PATH``) and sets
  ``deprecated-key-path`` (the daemon's identity key, by default ``/etc/docker/key.json``).
- it runs in a private mount namespace (``unshare --mount --propagation private``) where
  ``base/run`` is bind-mounted on ``/run``: dockerd writes ``/run/docker`` (plugins) and the
  containerd it starts (``base/x/containerd/containerd.toml``, root ``base/data/containerd``,
  state ``base/x/containerd``) puts its shims' sockets in ``/run/containerd/s``, whatever their
  configuration says. The containers' ``/dev/shm`` mounts and libnetwork's netns bind mounts
  (``base/x/netns/*``) stay in that namespace too, where ``/opt`` is read-only: that containerd
  has no setting for its ``opt`` plugin's directory and would create ``/opt/containerd`` on the
  host (the plugin fails to load, nothing uses it). It also has a network namespace of its own
  (``unshare --net``): no interface, route or sysctl of the host can change. ``TMPDIR`` is
  ``base/tmp``, so the shims' temporary files (``runc-process*``, ``pty*/pty.sock``) land there.
- the client is ``/usr/bin/docker -H unix://base/d.sock`` with ``DOCKER_CONFIG=base/cli``
  (``/usr/local/bin/docker`` may be a different, newer client).
- :meth:`DockerEnv.stop` sends SIGTERM to dockerd (by pid) and waits; dockerd stops its
  containerd. It then fails if any process still mentions *base* (argv or environment: dockerd's
  containerd, a shim, a runtime process), if a container cgroup or a host mount below *base* is
  left, or if the host's ``/var/lib/docker``, ``/run/docker``, ``/etc/docker``,
  ``/run/containerd``, ``/opt/containerd``, ``~/.docker``, network interfaces or ``ip_forward`` changed.

:class:`Docker` (the ``docker`` fixture) binds an env to one runtime: ``docker run --runtime
NAME``. :meth:`Docker.cleanup` removes every container and reports what docker or the runtime
left: containers, processes, cgroups, runtime state, task bundles, mounts in dockerd's namespace.

Debugging: with ``RUNSC_DOCKER_DEBUG=DIR`` in the environment every runtime is registered as a
wrapper script (runc as the runtime ``runc-debug``) that appends each call's argv and cwd to
``DIR/calls.log`` and copies the ``config.json`` of every ``create`` to ``DIR/config-*.json``;
runsc-py also gets ``runtimeArgs: ["--debug-log", "DIR/debug/"]``. Never used by default.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from helpers import procs

from .helpers import (
    EngineCli,
    kill_new_processes,
    still_running_after_cleanup,
    IMAGE_REF,
    LIVE_DAEMON_PIDS,
    RUNTIMES,
    TIMEOUT,
    ImageArchive,
    ToolMissing,
    cgroup_dirs,
    describe,
    mounts_under,
    reap_zombie_children,
    remove_cgroup_tree,
    require_tool,
    run,
    unmount_under,
)

DOCKERD = "/usr/sbin/dockerd"
#: Debian's client, the same version as the daemon (not /usr/local/bin/docker).
DOCKER = "/usr/bin/docker"
#: The image as ``docker load`` names it (the archive's tag).
DOCKER_IMAGE = IMAGE_REF.removeprefix("docker.io/")
#: dockerd's built-in runtime (the ``runc`` found in ``PATH``); it cannot be redefined.
BUILTIN_RUNTIME = "runc"

#: Host paths dockerd (or its containerd, shims and runtimes) would create or fill when not kept
#: private; their trees are compared before and after.
HOST_DOCKER_PATHS = (
    "/var/lib/docker",
    "/run/docker",
    "/etc/docker",
    "/run/containerd",
    "/opt/containerd",
    "/run/docker.sock",
    "/run/docker.pid",
    os.path.expanduser("~/.docker"),
)

DEBUG_ENV = "RUNSC_DOCKER_DEBUG"

#: containerd's v2 task directory (the bundles) and dockerd's runtime root, below the exec-root.
#: dockerd 20.10 gives every runtime the root of its default runtime: ``runtime-runc/moby``.
TASK_DIR = "containerd/daemon/io.containerd.runtime.v2.task/moby"
RUNTIME_ROOT = "runtime-runc/moby"


def _tree_state(path: str) -> dict[str, tuple[int, int, int]] | None:
    """relative path -> (mode, size, mtime_ns) of *path* and everything below it; None if absent."""
    if not os.path.lexists(path):
        return None
    out: dict[str, tuple[int, int, int]] = {}

    def note(rel: str, full: str) -> None:
        try:
            st = os.lstat(full)
        except OSError:
            return
        out[rel] = (st.st_mode, st.st_size, st.st_mtime_ns)

    note(".", path)
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, filenames in os.walk(path):
            for n in dirnames + filenames:
                full = os.path.join(dirpath, n)
                note(os.path.relpath(full, path), full)
    return out


def _host_network() -> tuple[frozenset[str], str]:
    return frozenset(os.listdir("/sys/class/net")), Path("/proc/sys/net/ipv4/ip_forward").read_text()


def _mountinfo(path: Path) -> list[tuple[str, str, str]]:
    """(root, mount point, fs type) of every line of a mountinfo file."""
    out = []
    for line in path.read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        root, mp = fields[3], fields[4]
        for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
            mp = mp.replace(esc, ch)
        out.append((root, mp, fields[sep + 1]))
    return out


def pids_mentioning(needle: str) -> set[int]:
    """Live processes whose argv or environment contains *needle* (the test process excluded)."""
    out = set()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        blobs = []
        for name in ("cmdline", "environ"):
            try:
                blobs.append(Path(f"/proc/{entry}/{name}").read_bytes())
            except OSError:
                pass
        if any(needle.encode() in b for b in blobs) and procs.alive(int(entry)):
            out.add(int(entry))
    return out


def runtime_wrapper(debug_dir: Path, name: str, binary: str) -> str:
    """The debugging wrapper of *binary* (see the module doc); return its path."""
    wrapper = debug_dir / "bin" / name
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    (debug_dir / "debug").mkdir(parents=True, exist_ok=True)
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$(date +%T.%N) {name} pid=$$ ppid=$PPID cwd=$(pwd) argv: $*" >> "{debug_dir}/calls.log"\n'
        'case " $* " in *" create "*)\n'
        f'  [ -f config.json ] && cp config.json "{debug_dir}/config-{name}-$(date +%s%N).json";;\n'
        "esac\n"
        f'exec "{binary}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class DockerEnv:
    """A private dockerd in *base* (see the module doc). Start with :meth:`start`."""

    def __init__(self, base: Path, runtimes: dict[str, str | None] | None = None) -> None:
        self.base = base
        self.data_root = base / "data"
        self.exec_root = base / "x"
        self.private_run = base / "run"
        self.tmp = base / "tmp"
        self.client_config = base / "cli"
        self.sock = base / "d.sock"
        self.pidfile = base / "d.pid"
        self.config_file = base / "daemon.json"
        self.log_path = base / "dockerd.log"
        #: Cgroup parent of every container of this daemon (unique per daemon).
        self.cgroup_parent = f"/runsc-docker-{base.name}"
        self.runtimes = dict(RUNTIMES if runtimes is None else runtimes)
        debug = os.environ.get(DEBUG_ENV)
        self.debug_dir = Path(debug) if debug else None
        self.proc: subprocess.Popen[bytes] | None = None
        self._before: set[int] = set()
        self._host_before: dict[str, dict[str, tuple[int, int, int]] | None] = {}
        self._net_before: tuple[frozenset[str], str] | None = None

    # ---- configuration

    def runtime_flag(self, name: str) -> str:
        """The ``--runtime`` value under which the runtime *name* is registered."""
        if name == BUILTIN_RUNTIME:
            return f"{name}-debug" if self.debug_dir else name
        return name

    def daemon_config(self) -> dict[str, object]:
        runtimes: dict[str, dict[str, object]] = {}
        for name, binary in self.runtimes.items():
            if binary is None or (name == BUILTIN_RUNTIME and self.debug_dir is None):
                continue
            entry: dict[str, object] = {"path": binary}
            if self.debug_dir is not None:
                entry["path"] = runtime_wrapper(self.debug_dir, name, binary)
                if name == "runsc-py":
                    entry["runtimeArgs"] = ["--debug-log", f"{self.debug_dir}/debug/"]
            runtimes[self.runtime_flag(name)] = entry
        return {"runtimes": runtimes, "deprecated-key-path": str(self.base / "key.json")}

    def dockerd_args(self) -> list[str]:
        return [
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "-H", f"unix://{self.sock}",
            "--config-file", str(self.config_file),
            "--bridge", "none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--storage-driver", "vfs",
            "--exec-opt", "native.cgroupdriver=cgroupfs",
            "--cgroup-parent", self.cgroup_parent,
        ]  # fmt: skip

    # ---- lifecycle

    def start(self, timeout: float = 30.0) -> None:
        unshare = require_tool("unshare")
        for tool in (DOCKERD, DOCKER):
            if not os.access(tool, os.X_OK):
                raise ToolMissing(f"{tool} is not installed: scripts/test.sh installs docker.io")
        self._host_before = {p: _tree_state(p) for p in HOST_DOCKER_PATHS}
        self._net_before = _host_network()
        for d in (self.data_root, self.exec_root, self.private_run, self.tmp, self.client_config):
            d.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(self.daemon_config(), indent=2) + "\n")
        self._before = procs.descendants(os.getpid())
        # unshare and sh exec: the Popen's pid is dockerd's. /opt read-only in its mount
        # namespace: the containerd dockerd starts has no setting for its "opt" plugin's
        # directory and would create /opt/containerd on the host (the plugin is skipped).
        argv = [
            unshare, "--mount", "--net", "--propagation", "private", "--",
            "sh", "-c",
            'mount --bind "$0" /run && mount --bind /opt /opt && mount -o remount,bind,ro /opt'
            ' && exec "$@"',
            str(self.private_run), DOCKERD, *self.dockerd_args(),
        ]  # fmt: skip
        env = dict(os.environ, TMPDIR=str(self.tmp))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        LIVE_DAEMON_PIDS.add(self.proc.pid)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockerd exited with {self.proc.returncode}\n{self.log_tail()}")
            if self.sock.exists() and self.docker("version", timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"dockerd not ready after {timeout}s\n{self.log_tail()}")
            time.sleep(0.1)
        pid = self.pidfile.read_text().strip()
        assert pid == str(self.proc.pid), f"--pidfile has {pid!r}, dockerd is {self.proc.pid}"

    def stop(self) -> list[str]:
        """Stop dockerd and check what is left; return complaints (leftovers found)."""
        problems: list[str] = []
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    problems.append("dockerd ignored SIGTERM for 30 s\n" + self.log_tail())
                    self.proc.kill()
                    self.proc.wait(10)
            LIVE_DAEMON_PIDS.discard(self.proc.pid)
        # dockerd stops its containerd; nothing may outlive it
        left = procs.wait_gone(pids_mentioning(str(self.base)), 10.0)
        if left:
            problems.append(f"processes mentioning {self.base} left running:\n" + procs.describe(left))
            procs.kill_all(left)
            procs.wait_gone(left, 5.0)
        if not LIVE_DAEMON_PIDS:
            problems += kill_new_processes(self._before)
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        leftover = remove_cgroup_tree(self.cgroup_parent)
        if leftover:
            problems.append("cgroups left: " + ", ".join(leftover))
        mounted = unmount_under(self.base)
        if mounted:
            problems.append("mounts left on the host: " + ", ".join(mounted))
        problems += self.host_changes()
        return problems

    def host_changes(self) -> list[str]:
        problems = []
        for path, before in self._host_before.items():
            after = _tree_state(path)
            if before == after:
                continue
            if before is None:
                problems.append(f"{path} was created on the host")
            elif after is None:
                problems.append(f"{path} was removed from the host")
            else:
                changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
                problems.append(f"changed on the host in {path}: {changed}")
        if self._net_before is not None and _host_network() != self._net_before:
            problems.append(f"host network changed: {self._net_before} -> {_host_network()}")
        return problems

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no dockerd log)"
        return "--- dockerd log (tail) ---\n" + "\n".join(lines[-n:])

    # ---- inspection

    @property
    def pid(self) -> int:
        assert self.proc is not None, "DockerEnv.start() first"
        return self.proc.pid

    def task_dir(self) -> Path:
        """containerd's task (bundle) directory: one ``<id>/`` per live container."""
        return self.exec_root / TASK_DIR

    def runtime_root(self) -> Path:
        """The ``--root`` dockerd's shims give every runtime."""
        return self.exec_root / RUNTIME_ROOT

    def daemon_mounts(self) -> list[tuple[str, str, str]]:
        """(root, mount point, fs type) of the mounts below *base* in dockerd's namespace."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            mounts = _mountinfo(Path(f"/proc/{self.proc.pid}/mountinfo"))
        except OSError:
            return []
        base = str(self.base)
        return [m for m in mounts if m[1] == base or m[1].startswith(base + "/")]

    def own_mounts(self) -> set[str]:
        """Mount points dockerd keeps for its whole life: the data root (made a shared mount)
        and the bind of its own network namespace (``netns/default``, for ``--network host``)."""
        return {str(self.data_root), str(self.exec_root / "netns" / "default")}

    # ---- the client

    def docker_argv(self, *args: str) -> list[str]:
        return [DOCKER, "-H", f"unix://{self.sock}", *args]

    def client_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = str(self.client_config)
        return env

    def docker(
        self, *args: str, timeout: float = TIMEOUT, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(self.docker_argv(*args), timeout=timeout, input=input, env=self.client_env())

    def api(self, method: str, path: str, timeout: float = TIMEOUT) -> tuple[int, str]:
        """One request to the Engine API on the daemon's socket (for what the 20.10 client has no
        command for, e.g. ``POST /containers/ID/resize?h=H&w=W``); return (status, body)."""
        conn = _UnixHTTPConnection(str(self.sock), timeout)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    def load_image(self, image: ImageArchive) -> None:
        res = self.docker("load", "-i", str(image.path), timeout=120)
        assert res.returncode == 0, f"docker load: {describe(res)}"
        res = self.docker("images", "--format", "{{.Repository}}:{{.Tag}}")
        names = res.stdout.split()
        assert DOCKER_IMAGE in names, f"docker load gave {names}, not {DOCKER_IMAGE}\n{describe(res)}"


def private_dockerd(image: ImageArchive) -> Iterator[DockerEnv]:
    """Body of a ``docker_env`` fixture: a started :class:`DockerEnv` with *image* loaded."""
    # short: see the module doc
    base = Path(tempfile.mkdtemp(prefix="rdk", dir="/tmp"))
    env = DockerEnv(base)
    problems: list[str] = []
    try:
        env.start()
        env.load_image(image)
        yield env
    finally:
        problems += env.stop()
        # (stop() unmounted what was left; never cross into a mount anyway)
        subprocess.run(["rm", "-rf", "--one-file-system", str(base)], timeout=60, check=False)
    if problems:
        pytest.fail("private dockerd teardown:\n" + "\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------- per-test client


class Docker(EngineCli):
    """docker bound to one :class:`DockerEnv` and one runtime (the ``docker`` fixture)."""

    name = "docker"

    def __init__(self, env: DockerEnv, runtime_name: str, runtime_binary: str) -> None:
        self.env = env
        self.runtime_name = runtime_name
        self.runtime_binary = runtime_binary
        #: the ``--runtime`` of every container
        self.runtime = env.runtime_flag(runtime_name)
        self.image = DOCKER_IMAGE
        self._before: set[int] = set()

    def __call__(
        self, *args: str, timeout: float = TIMEOUT, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.env.docker(*args, timeout=timeout, input=input)

    def argv(self, *args: str) -> list[str]:
        """The full command line of ``docker ARGS`` (for running it yourself, e.g. on a pty),
        its environment set by ``env``."""
        env = ["env", "-u", "DOCKER_HOST", "-u", "DOCKER_CONTEXT", f"DOCKER_CONFIG={self.env.client_config}"]
        return [*env, *self.env.docker_argv(*args)]

    def run_args(self, cmd: Sequence[str], *flags: str) -> list[str]:
        """``run --runtime NAME FLAGS IMAGE CMD...``"""
        return ["run", "--runtime", self.runtime, *flags, self.image, *cmd]

    def run(
        self, cmd: Sequence[str], *flags: str, input: str | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return self(*self.run_args(cmd, *flags), input=input, timeout=timeout)

    def bundle(self, cid: str) -> Path:
        """The OCI bundle containerd made for container *cid* (while it exists as a task)."""
        return self.env.task_dir() / cid

    def runtime_state(self, cid: str) -> dict[str, object]:
        """``RUNTIME --root <dockerd's runtime root> state CID``, run by the test: only the runtime
        that created the container can answer."""
        root = str(self.env.runtime_root())
        res = run([self.runtime_binary, "--root", root, "state", cid])
        assert res.returncode == 0, f"{self.runtime_name} state {cid}: {describe(res)}"
        state = json.loads(res.stdout)
        assert isinstance(state, dict), res.stdout
        return state

    def start_watch(self) -> None:
        self._before = procs.descendants(os.getpid())

    def cleanup(self) -> list[str]:
        """Remove every container; complain about what docker or the runtime left behind."""
        problems: list[str] = []
        left = self.container_ids("-a")
        if left:
            problems.append(f"containers left (removed now): {left}")
        for cid in left:
            res = self("rm", "--force", cid)
            if res.returncode != 0:
                problems.append(f"docker rm -f {cid}: {describe(res)}")
        still = self.container_ids("-a")
        if still:
            problems.append(f"containers docker cannot remove: {still}")
        # the shims, the runtime's processes and the workload must all be gone
        problems += still_running_after_cleanup(self._before)
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        for top in cgroup_dirs(self.env.cgroup_parent):
            for child in sorted(p for p in top.iterdir() if p.is_dir()):
                problems.append(f"cgroup left: {child}")
                remove_cgroup_tree(f"{self.env.cgroup_parent}/{child.name}")
        for what, d in (("runtime state", self.env.runtime_root()), ("task bundles", self.env.task_dir())):
            entries = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
            if entries:
                problems.append(f"{what} left in {d}: {entries}")
        own = self.env.own_mounts()
        for _root, mp, fstype in self.env.daemon_mounts():
            if mp not in own:
                problems.append(f"mount left in dockerd's namespace: {mp} ({fstype})")
        host = mounts_under(self.env.base)
        if host:
            problems.append("mounts left on the host: " + ", ".join(host))
        if problems:
            problems.append(self.env.log_tail())
        return problems


def docker_client(env: DockerEnv, runtime_name: str, runtime_binary: str) -> Iterator[Docker]:
    """Body of a ``docker`` fixture: a :class:`Docker` whose teardown fails on leftovers."""

    client = Docker(env, runtime_name, runtime_binary)
    client.start_watch()
    problems: list[str] = []
    try:
        yield client
    finally:
        problems += client.cleanup()
    if problems:
        pytest.fail(f"[{runtime_name}] cleanup:\n" + "\n".join(problems), pytrace=False)
