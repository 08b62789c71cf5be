"""Drive real container engines (containerd's ``ctr`` for now) against an OCI runtime binary.

Nothing here talks to a registry or touches the host's engine state:

- :func:`build_busybox_image` makes a one-layer image from Debian's ``busybox-static`` with
  ``umoci`` (``init`` / ``new`` / ``unpack`` / ``repack`` / ``config``) and turns it into a
  ``docker-archive`` with ``skopeo copy``, which ``ctr images import`` loads.
- :class:`Containerd` is a private containerd: its own config.toml, root, state, gRPC/ttrpc
  sockets and ``opt`` directory in one temporary directory. It runs in a private mount
  namespace where that directory's ``run/`` is bind-mounted on ``/run``, because containerd 1.6
  hard-codes ``/run/containerd/s/`` for the shims' sockets (and the runc shim's default runtime
  root is ``/run/containerd/runc/<namespace>``): the host's ``/run/containerd`` is never
  created. The snapshot and rootfs mounts stay in that namespace too.
- :meth:`Containerd.ctr` runs ``ctr --address SOCK -n runsc-test ...`` with a timeout.
- :class:`Ctr` (the ``ctr`` fixture) binds that to one runtime binary: ``ctr.run_args`` builds
  ``ctr run --runtime io.containerd.runc.v2 --runc-binary BIN --runc-root DIR --fifo-dir DIR
  --cgroup PARENT/ID ...`` and :meth:`Ctr.cleanup` kills and removes every task and container.
- With ``cri=True`` the daemon also runs its CRI plugin (what kubelet talks to; the client is
  ``cri.py``): one runtime handler per entry of :data:`RUNTIMES`, images in namespace
  ``k8s.io``, the sandbox ("pause") image :data:`PAUSE_REF` built like the busybox one (its
  entrypoint a long sleep), and a private CNI setup in ``<base>/cni``: a loopback-only pod
  network (see :func:`write_cni_setup`), so every pod gets a network namespace of its own
  (mounted under the daemon's state directory) and no host interface, route or firewall rule
  is touched. libcni keeps a cache in ``/var/lib/cni``, so the daemon's mount namespace has
  an overlay on ``/var/lib`` whose upper layer is ``<base>/varlib``: nothing is written to
  the host's.

Runtimes under test: :data:`RUNTIMES`, name -> absolute path of a runc-compatible binary. Every
test that takes the ``runtime_binary`` fixture runs once per entry. Adding a runtime is one line.
"""

from __future__ import annotations

import abc
import errno
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from helpers import procs
from helpers.procs import reap_zombie_children  # noqa: F401 - the clients tests import it from here
from helpers.bundle import build_busybox_rootfs

REPO = Path(__file__).resolve().parents[2]

#: The runtimes the client tests run against: name -> absolute path (None: not installed, and
#: then every test of that runtime fails). runc is the reference. To test runsc-py add:
#:     "runsc-py": str(REPO / ".venv" / "bin" / "runsc-py"),
RUNTIMES: dict[str, str | None] = {
    "runc": shutil.which("runc"),
    "runsc-py": str(REPO / ".venv" / "bin" / "runsc-py"),
}
NAMESPACE = "runsc-test"
IMAGE_REF = "docker.io/runsc-test/busybox:latest"
#: The CRI plugin's sandbox image: busybox with a long sleep as its entrypoint (no registry, so
#: no registry.k8s.io/pause).
PAUSE_REF = "docker.io/runsc-test/pause:latest"
PAUSE_ENTRYPOINT = ("sleep", "2147483647")
#: The containerd namespace of the CRI plugin's images, pods and containers.
CRI_NAMESPACE = "k8s.io"
#: Debian's containernetworking-plugins.
CNI_PLUGIN_DIR = Path("/usr/lib/cni")
#: The shim every test uses; ``--runc-binary`` picks the runtime it calls.
SHIM_RUNTIME = "io.containerd.runc.v2"

#: Default timeout of one client command, seconds.
TIMEOUT = float(os.environ.get("RUNSC_CLIENT_TIMEOUT", "30"))

#: Pids of the live daemons' Popen objects (never reaped behind subprocess's back).
LIVE_DAEMON_PIDS: set[int] = set()

#: Host paths a private containerd must never create.
HOST_ENGINE_PATHS = ("/run/containerd", "/var/lib/containerd", "/opt/containerd")
#: ... and, with the CRI plugin, the default homes of libcni's cache and of pod netns mounts.
HOST_CNI_PATHS = ("/var/lib/cni", "/run/netns")

IMAGE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]


class ToolMissing(AssertionError):
    """A program the client tests need is not installed (a failure, never a skip)."""


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(
            f"{name} is not installed: scripts/test.sh installs the client-test packages "
            "(containerd runc umoci skopeo podman)"
        )
    return path


def run(
    argv: Sequence[str],
    *,
    timeout: float = TIMEOUT,
    input: str | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run *argv* with a timeout (stdin /dev/null unless *input*); text output captured."""
    try:
        res = subprocess.run(
            list(argv),
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        msg = f"timed out after {timeout}s: {' '.join(argv)}\n{_text(e.stdout)}{_text(e.stderr)}"
        raise AssertionError(msg) from None
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {res.returncode}\n{res.stdout}{res.stderr}")
    return res


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")


def describe(res: subprocess.CompletedProcess[str]) -> str:
    return f"rc={res.returncode}\n--- stdout ---\n{res.stdout}\n--- stderr ---\n{res.stderr}"


# --------------------------------------------------------------------------- the image


@dataclass
class ImageArchive:
    path: Path  # a docker-archive tarball
    ref: str  # the name ctr images import gives it


def build_busybox_image(
    workdir: Path,
    ref: str = IMAGE_REF,
    *,
    entrypoint: Sequence[str] = (),
    cmd: Sequence[str] = ("sh",),
) -> ImageArchive:
    """Build the busybox image in *workdir* (which must exist and be empty); see the module doc.

    The image config has *entrypoint* (none by default) and *cmd* (``sh``) and :data:`IMAGE_ENV`.
    """
    umoci = require_tool("umoci")
    skopeo = require_tool("skopeo")
    layout = workdir / "oci"
    bundle = workdir / "bundle"
    image = f"{layout}:latest"
    run([umoci, "init", "--layout", str(layout)], check=True)
    run([umoci, "new", "--image", image], check=True)
    run([umoci, "unpack", "--image", image, str(bundle)], check=True)
    # bin/busybox + a symlink per applet, /etc/passwd and /etc/group with root, /tmp, /root, ...
    build_busybox_rootfs(bundle / "rootfs")
    run([umoci, "repack", "--image", image, str(bundle)], check=True)
    config = [umoci, "config", "--image", image, "--config.workingdir", "/"]
    for arg in entrypoint:
        config += ["--config.entrypoint", arg]
    for arg in cmd:
        config += ["--config.cmd", arg]
    for kv in IMAGE_ENV:
        config += ["--config.env", kv]
    run(config, check=True)
    archive = workdir / "busybox.tar"
    short = ref.removeprefix("docker.io/")
    run([skopeo, "copy", "-q", f"oci:{image}", f"docker-archive:{archive}:{short}"], check=True)
    shutil.rmtree(bundle)
    shutil.rmtree(layout)
    return ImageArchive(archive, ref)


def build_pause_image(workdir: Path) -> ImageArchive:
    """The CRI sandbox image :data:`PAUSE_REF` in *workdir* (existing, empty): busybox whose
    entrypoint sleeps "forever", as the pause container does (stopping a pod SIGKILLs it)."""
    return build_busybox_image(workdir, PAUSE_REF, entrypoint=PAUSE_ENTRYPOINT, cmd=())


# --------------------------------------------------------------------------- containerd

_DISABLED_PLUGINS = [
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
]
CRI_PLUGIN = "io.containerd.grpc.v1.cri"


def _toml_str(s: str | Path) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


#: The pod network of the CRI tests: loopback only. CNI_STUB_PLUGIN follows the loopback
#: plugin because the CRI plugin refuses a pod whose CNI result has no address on ``eth0``
#: ("failed to find network info for sandbox"), and a loopback result names ``lo``.
CNI_NETWORK = "lo-only"
CNI_STUB_PLUGIN = "lo-as-eth0"

#: CNI_STUB_PLUGIN: creates nothing; ADD answers that ``eth0`` has 127.0.0.1/8 (the pod's
#: loopback address, so the pod IP the CRI reports is 127.0.0.1). DEL and CHECK succeed.
_CNI_STUB_SCRIPT = r"""#!/bin/sh
# A CNI plugin that creates nothing (see tests/clients/helpers.py, CNI_STUB_PLUGIN).
cat >/dev/null
case "$CNI_COMMAND" in
ADD)
  printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],' "$CNI_NETNS"
  printf '"ips":[{"version":"4","address":"127.0.0.1/8","interface":0}],"dns":{}}\n'
  ;;
VERSION)
  printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}\n'
  ;;
esac
exit 0
"""


def write_cni_setup(bin_dir: Path, conf_dir: Path) -> None:
    """The CRI plugin's CNI directories (existing): *conf_dir* gets the one network,
    :data:`CNI_NETWORK` (``loopback`` then :data:`CNI_STUB_PLUGIN`); *bin_dir* gets a link to
    Debian's ``loopback`` plugin and the stub script."""
    loopback = CNI_PLUGIN_DIR / "loopback"
    if not os.access(loopback, os.X_OK):
        raise ToolMissing(
            f"{loopback} is not installed: scripts/test.sh installs containernetworking-plugins"
        )
    (bin_dir / "loopback").symlink_to(loopback)
    stub = bin_dir / CNI_STUB_PLUGIN
    stub.write_text(_CNI_STUB_SCRIPT)
    stub.chmod(0o755)
    conflist = {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [{"type": "loopback"}, {"type": CNI_STUB_PLUGIN}],
    }
    (conf_dir / f"10-{CNI_NETWORK}.conflist").write_text(json.dumps(conflist, indent=2) + "\n")


def containerd_config(
    base: Path, *, cri: bool, runtimes: dict[str, str | None], sandbox_image: str = PAUSE_REF
) -> str:
    """config.toml of a private containerd living in *base*."""
    disabled = list(_DISABLED_PLUGINS) if cri else [*_DISABLED_PLUGINS, CRI_PLUGIN]
    lines = [
        "version = 2",
        f"root = {_toml_str(base / 'root')}",
        f"state = {_toml_str(base / 'state')}",
        "oom_score = 0",
        "disabled_plugins = [" + ", ".join(_toml_str(p) for p in disabled) + "]",
        "",
        "[grpc]",
        f"  address = {_toml_str(base / 'c.sock')}",
        "[ttrpc]",
        f"  address = {_toml_str(base / 'c.sock.ttrpc')}",
        "[debug]",
        '  address = ""',
        '  level = "info"',
        "[metrics]",
        '  address = ""',
        "",
        # the default /opt/containerd would be created on the host
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {_toml_str(base / 'opt')}",
    ]
    if cri:
        cri_key = f'plugins."{CRI_PLUGIN}"'
        lines += [
            "",
            f"[{cri_key}]",
            # root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj would fail
            "  restrict_oom_score_adj = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            f"  sandbox_image = {_toml_str(sandbox_image)}",
            # never load an AppArmor profile into the host's kernel
            "  disable_apparmor = true",
            # pod network namespaces under <base>/state, not /var/run/netns
            "  netns_mounts_under_state_dir = true",
            f"[{cri_key}.cni]",
            f"  bin_dir = {_toml_str(base / 'cni' / 'bin')}",
            f"  conf_dir = {_toml_str(base / 'cni' / 'net.d')}",
            "  max_conf_num = 1",
            f"[{cri_key}.containerd]",
            '  default_runtime_name = "runc"',
        ]
        for name, binary in runtimes.items():
            key = f'{cri_key}.containerd.runtimes."{name}"'
            lines += [
                f"[{key}]",
                f"  runtime_type = {_toml_str(SHIM_RUNTIME)}",
                f"[{key}.options]",
                f"  BinaryName = {_toml_str(binary or name)}",
                f"  Root = {_toml_str(base / 'cri-rt' / name)}",
            ]
    return "\n".join(lines) + "\n"


def _read_mountpoints(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    out = []
    for line in Path(mountinfo).read_text().splitlines():
        mp = line.split()[4]
        for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
            mp = mp.replace(esc, ch)
        out.append(mp)
    return out


def mounts_under(path: Path) -> list[str]:
    p = str(path).rstrip("/")
    return [m for m in _read_mountpoints() if m == p or m.startswith(p + "/")]


def unmount_under(path: Path) -> list[str]:
    """Lazily unmount everything at or below *path* (deepest first); return what was mounted."""
    found = mounts_under(path)
    for mp in sorted(found, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    return found


def pids_with_arg(needle: str) -> set[int]:
    """Live processes whose argv contains *needle* as one argument."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle.encode() in argv and procs.alive(int(entry)):
            out.add(int(entry))
    return out


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_dirs(relpath: str) -> list[Path]:
    """``/sys/fs/cgroup/<hierarchy>/<relpath>`` for every mounted hierarchy where it exists."""
    rel = relpath.strip("/")
    out = []
    if (CGROUP_ROOT / "cgroup.procs").exists():  # pure cgroup v2
        cands = [CGROUP_ROOT / rel]
    else:
        cands = [h / rel for h in sorted(CGROUP_ROOT.iterdir()) if h.is_dir() and not h.is_symlink()]
    for c in cands:
        if c.is_dir():
            out.append(c)
    return out


def remove_cgroup_tree(relpath: str) -> list[str]:
    """Kill what is left in cgroup *relpath* (any hierarchy) and rmdir it bottom-up.
    Return the directories that had to be removed below it (leftovers of a runtime)."""
    leftovers: list[str] = []
    for top in cgroup_dirs(relpath):
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        leftovers += [str(d) for d in dirs]
        for d in [*dirs, top]:
            freezer = d / "freezer.state"
            if freezer.exists():
                try:
                    freezer.write_text("THAWED")
                except OSError:
                    pass
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    try:
                        pids = [int(x) for x in (d / "cgroup.procs").read_text().split()]
                    except OSError:
                        pids = []
                    procs.kill_all(set(pids))
                    time.sleep(0.1)
    return leftovers


def kill_new_processes(before: set[int]) -> list[str]:
    """Kill the descendants of the test process that are not in *before* (a daemon's
    teardown, once no private daemon runs); return the complaint, if any."""
    left = procs.descendants(os.getpid()) - before
    if not left:
        return []
    problem = "processes left running:\n" + procs.describe(left)
    procs.kill_all(left)
    procs.wait_gone(left, 5.0)
    return [problem]


def still_running_after_cleanup(before: set[int]) -> list[str]:
    """What a test's cleanup left running below the test process (shims, the runtime's
    processes, the workload), waited for up to 10 s, then killed."""
    alive = procs.wait_gone(procs.descendants(os.getpid()) - before, 10.0)
    if not alive:
        return []
    problem = "processes left running after cleanup:\n" + procs.describe(alive)
    procs.kill_all(alive)
    procs.wait_gone(alive, 5.0)
    return [problem]


class EngineCli(abc.ABC):
    """What the docker and podman clients of the tests share: ``self(*args)`` runs the
    engine's command line; *name* is its name in messages."""

    name = "engine"

    @abc.abstractmethod
    def __call__(
        self, *args: str, timeout: float = TIMEOUT, input: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...

    def inspect(self, name: str, fmt: str) -> str:
        res = self("inspect", "--type", "container", "--format", fmt, name)
        assert res.returncode == 0, f"{self.name} inspect {name}: {describe(res)}"
        return res.stdout.strip()

    def container_ids(self, *flags: str) -> list[str]:
        """``ps --no-trunc -q FLAGS`` (``-a`` for all)."""
        res = self("ps", "--no-trunc", "-q", *flags)
        assert res.returncode == 0, f"{self.name} ps: {describe(res)}"
        return res.stdout.split()

    def wait_log(self, name: str, text: str, timeout: float = TIMEOUT) -> str:
        """Poll ``logs NAME`` until its stdout contains *text*; return the last stdout."""
        deadline = time.monotonic() + timeout
        while True:
            res = self("logs", name)
            if text in res.stdout:
                return res.stdout
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never in the log of {name}: {describe(res)}")
            time.sleep(0.1)


@dataclass
class Containerd:
    """A private containerd in *base* (see the module doc). Start with :meth:`start`."""

    base: Path
    cri: bool = False
    runtimes: dict[str, str | None] = field(default_factory=lambda: dict(RUNTIMES))
    namespace: str = NAMESPACE
    #: the CRI plugin's ``sandbox_image`` (with ``cri``)
    sandbox_image: str = PAUSE_REF
    proc: subprocess.Popen[bytes] | None = None
    _before: set[int] = field(default_factory=set)
    _host_paths_before: dict[str, bool] = field(default_factory=dict)

    @property
    def sock(self) -> Path:
        return self.base / "c.sock"

    @property
    def log_path(self) -> Path:
        return self.base / "containerd.log"

    @property
    def fifo_dir(self) -> Path:
        return self.base / "fifo"

    @property
    def cgroup_parent(self) -> str:
        """Cgroup parent of every container of this daemon (unique per daemon)."""
        return f"/{NAMESPACE}-{self.base.name}"

    def runtime_root(self, name: str) -> Path:
        """``--runc-root`` of the runtime *name* (the shim passes it to the runtime as --root)."""
        return self.base / "rt" / name

    def cri_runtime_root(self, name: str) -> Path:
        """The ``Root`` option of the CRI runtime handler *name*: its shims run the runtime with
        ``--root <it>/k8s.io``."""
        return self.base / "cri-rt" / name

    @property
    def cri_state_dir(self) -> Path:
        """The CRI plugin's state (volatile) directory: pods' ``shm`` and ``netns`` mounts."""
        return self.base / "state" / CRI_PLUGIN

    def daemon_mounts_under(self, path: Path) -> list[str]:
        """Mount points at or below *path* in containerd's private mount namespace."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        p = str(path).rstrip("/")
        try:
            mountpoints = _read_mountpoints(f"/proc/{self.proc.pid}/mountinfo")
        except OSError:
            return []
        return [m for m in mountpoints if m == p or m.startswith(p + "/")]

    # ---- lifecycle

    def start(self, timeout: float = 30.0) -> None:
        containerd = require_tool("containerd")
        require_tool("ctr")
        require_tool("containerd-shim-runc-v2")
        unshare = require_tool("unshare")
        host_paths = HOST_ENGINE_PATHS + (HOST_CNI_PATHS if self.cri else ())
        self._host_paths_before = {p: os.path.lexists(p) for p in host_paths}
        for d in ("root", "state", "run", "opt", "fifo", "rt", "cni/bin", "cni/net.d"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        cfg = self.base / "config.toml"
        cfg.write_text(
            containerd_config(
                self.base, cri=self.cri, runtimes=self.runtimes, sandbox_image=self.sandbox_image
            )
        )
        # In the daemon's own mount namespace: the base's run/ on /run (see the module doc) and,
        # for the CRI plugin, an overlay on /var/lib that keeps libcni's cache in the base.
        script = 'mount --bind "$0" /run'
        extra: list[str] = []
        if self.cri:
            write_cni_setup(self.base / "cni" / "bin", self.base / "cni" / "net.d")
            upper, work = self.base / "varlib" / "upper", self.base / "varlib" / "work"
            upper.mkdir(parents=True)
            work.mkdir()
            script += ' && mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$1,workdir=$2" /var/lib'
            script += " && shift 2"
            extra = [str(upper), str(work)]
        self._before = procs.descendants(os.getpid())
        # unshare and sh exec: the Popen's pid is containerd's.
        argv = [
            unshare, "--mount", "--propagation", "private", "--",
            "sh", "-c", script + ' && exec "$@"', str(self.base / "run"), *extra,
            containerd, "--config", str(cfg),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        LIVE_DAEMON_PIDS.add(self.proc.pid)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"containerd exited with {self.proc.returncode}\n{self.log_tail()}")
            res = subprocess.run(
                ["ctr", "--address", str(self.sock), "version"],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=10,
            )
            if res.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"containerd not ready after {timeout}s\n{self.log_tail()}")
            time.sleep(0.1)
        self.ctr("namespaces", "create", self.namespace, check=False)

    def stop(self) -> list[str]:
        """Stop containerd and everything it left; return complaints (leftovers found)."""
        problems: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                problems.append("containerd ignored SIGTERM for 10 s")
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None:
            LIVE_DAEMON_PIDS.discard(self.proc.pid)
        # shims outlive containerd by design; kill them, then whatever they still ran
        shims = pids_with_arg(str(self.sock))
        if shims:
            problems.append("shims left running:\n" + procs.describe(shims))
            procs.kill_all(shims)
            procs.wait_gone(shims, 5.0)
        # what the runtime left in the containers' cgroups is killed by remove_cgroup_tree below;
        # anything else new below the test process is ours only if no other daemon is running
        if not LIVE_DAEMON_PIDS:
            problems += kill_new_processes(self._before)
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        leftover_cgroups = remove_cgroup_tree(self.cgroup_parent)
        if leftover_cgroups:
            problems.append("cgroups left: " + ", ".join(leftover_cgroups))
        mounted = unmount_under(self.base)
        if mounted:
            problems.append("mounts left on the host: " + ", ".join(mounted))
        for p, existed in self._host_paths_before.items():
            if not existed and os.path.lexists(p):
                problems.append(f"{p} was created on the host")
        return problems

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no containerd log)"
        return "--- containerd log (tail) ---\n" + "\n".join(lines[-n:])

    # ---- the client

    def ctr(
        self,
        *args: str,
        timeout: float = TIMEOUT,
        input: str | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``ctr --address SOCK -n NAMESPACE ARGS``, with a timeout (stdin /dev/null unless *input*)."""
        argv = ["ctr", "--address", str(self.sock), "-n", self.namespace, *args]
        res = run(argv, timeout=timeout, input=input)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {describe(res)}\n{self.log_tail()}")
        return res

    def import_image(self, image: ImageArchive) -> None:
        res = self.ctr("images", "import", str(image.path), timeout=120, check=True)
        names = self.ctr("images", "ls", "-q", check=True).stdout.split()
        assert image.ref in names, f"import gave {names}, not {image.ref}\n{res.stdout}"

    def containers(self) -> list[str]:
        return self.ctr("containers", "ls", "-q", check=True).stdout.split()

    def tasks(self) -> dict[str, tuple[int, str]]:
        """``ctr task ls``: id -> (pid, status)."""
        out: dict[str, tuple[int, str]] = {}
        for line in self.ctr("tasks", "ls", check=True).stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3:
                out[parts[0]] = (int(parts[1]), parts[2])
        return out

    def wait_status(self, cid: str, status: str, timeout: float = TIMEOUT) -> tuple[int, str] | None:
        """Poll ``ctr task ls`` until *cid* has *status*; return its last (pid, status)."""
        deadline = time.monotonic() + timeout
        while True:
            cur = self.tasks().get(cid)
            if (cur is not None and cur[1] == status) or time.monotonic() > deadline:
                return cur
            time.sleep(0.1)

    def remove_everything(self) -> list[str]:
        """Kill and delete every task and container of the namespace; return complaints."""
        problems: list[str] = []
        for cid in self.containers():
            task = self.tasks().get(cid)
            if task is not None and task[1] != "STOPPED":
                if task[1] == "PAUSED":
                    self.ctr("tasks", "resume", cid)
                self.ctr("tasks", "kill", "--all", "-s", "SIGKILL", cid)
                st = self.wait_status(cid, "STOPPED")
                if st is not None and st[1] != "STOPPED":
                    problems.append(f"task {cid} still {st[1]} {TIMEOUT} s after SIGKILL")
            if cid in self.tasks():
                res = self.ctr("tasks", "delete", "--force", cid)
                if res.returncode != 0:
                    problems.append(f"ctr task rm -f {cid}: {describe(res)}")
            res = self.ctr("containers", "delete", cid)
            if res.returncode != 0:
                problems.append(f"ctr c rm {cid}: {describe(res)}")
        left = self.containers()
        if left:
            problems.append(f"containers left: {left}")
        return problems


# --------------------------------------------------------------------------- per-test client


class Ctr:
    """``ctr`` bound to one containerd and one runtime binary (the ``ctr`` fixture).

    ``ctr(*args)`` is :meth:`Containerd.ctr`; :meth:`run_args` builds a ``ctr run`` that uses the
    runtime under test; :meth:`cleanup` runs at teardown, whatever the test did.
    """

    def __init__(self, containerd: Containerd, runtime_name: str, runtime_binary: str) -> None:
        self.containerd = containerd
        self.runtime_name = runtime_name
        self.runtime_binary = runtime_binary
        self.image = IMAGE_REF
        #: ``--runc-root``; the shim runs the runtime with ``--root <it>/<namespace>``
        self.runtime_root = containerd.runtime_root(runtime_name)
        self.runtime_state = self.runtime_root / containerd.namespace

    def __call__(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.containerd.ctr(*args, **kw)  # type: ignore[arg-type]

    def runtime_flags(self) -> list[str]:
        return [
            "--runtime", SHIM_RUNTIME,
            "--runc-binary", self.runtime_binary,
            "--runc-root", str(self.runtime_root),
        ]  # fmt: skip

    def run_args(self, cid: str, cmd: Sequence[str], *flags: str) -> list[str]:
        """``run RUNTIME-FLAGS --fifo-dir D --cgroup P/ID FLAGS IMAGE ID CMD...``"""
        return [
            "run",
            *self.runtime_flags(),
            "--fifo-dir", str(self.containerd.fifo_dir),
            "--cgroup", f"{self.containerd.cgroup_parent}/{cid}",
            *flags,
            self.image,
            cid,
            *cmd,
        ]  # fmt: skip

    def run(
        self, cid: str, cmd: Sequence[str], *flags: str, input: str | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return self.containerd.ctr(*self.run_args(cid, cmd, *flags), input=input, timeout=timeout)

    def exec(
        self, cid: str, exec_id: str, cmd: Sequence[str], *flags: str, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return self.containerd.ctr(
            "tasks", "exec", "--fifo-dir", str(self.containerd.fifo_dir), "--exec-id", exec_id,
            *flags, cid, *cmd,
            timeout=timeout,
        )  # fmt: skip

    def argv(self, *args: str) -> list[str]:
        """The full command line of ``ctr ARGS`` (for running it yourself, e.g. on a pty)."""
        return ["ctr", "--address", str(self.containerd.sock), "-n", self.containerd.namespace, *args]

    def cleanup(self) -> list[str]:
        """Remove every task and container; complain about what the runtime left behind."""
        problems = self.containerd.remove_everything()
        if self.runtime_state.is_dir():
            left = sorted(p.name for p in self.runtime_state.iterdir())
            if left:
                problems.append(f"runtime root {self.runtime_state} not empty: {left}")
                for name in left:
                    p = self.runtime_state / name
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        return problems


# --------------------------------------------------------------------------- terminals


def run_on_pty(
    argv: Sequence[str],
    script: Sequence[tuple[bytes, bytes]],
    *,
    timeout: float = TIMEOUT,
    rows: int = 24,
    cols: int = 80,
) -> tuple[int, bytes]:
    """Run *argv* with a new pty as its stdin/stdout/stderr (and controlling terminal).

    *script* is a list of (wait_for, send): read until *wait_for* appears in the output since the
    previous step, then write *send*. Then read until the program closes the terminal and exits.
    Return (exit status, 128+N when killed by signal N; everything read). On timeout the
    process group is killed and AssertionError raised with the output so far.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def child_setup() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, preexec_fn=child_setup)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        mark = 0
        steps = list(script)
        while True:
            if steps and steps[0][0] in out[mark:]:
                mark = out.index(steps[0][0], mark) + len(steps[0][0])
                os.write(master, steps.pop(0)[1])
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                msg = f"timed out after {timeout}s on a pty: {' '.join(argv)}\noutput: {out!r}"
                raise AssertionError(msg)
            r, _, _ = select.select([master], [], [], min(left, 0.5))
            if not r:
                continue
            try:
                data = os.read(master, 4096)
            except OSError as e:  # EIO: every slave fd is closed
                if e.errno != errno.EIO:
                    raise
                data = b""
            if not data:
                break
            out += data
        if steps:
            raise AssertionError(f"never saw {steps[0][0]!r} on the pty: {out!r}")
        rc = proc.wait(max(0.1, deadline - time.monotonic()))
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
        raise
    finally:
        os.close(master)
    return (128 - rc if rc < 0 else rc), out


def strip_tty(out: bytes) -> str:
    """Terminal output as text lines: CRs and ANSI escape sequences dropped."""
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", out).replace(b"\r", b"")
    return text.decode(errors="replace")
