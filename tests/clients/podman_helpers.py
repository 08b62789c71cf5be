"""podman (with conmon) driving an OCI runtime binary, without touching the host's podman state.

:class:`PodmanEnv` is one private podman installation in a temporary directory:

- storage (``vfs``) in ``root/`` and ``runroot/``, libpod's tmp dir (state, file locks, events
  log, exit files) in ``tmp/``, all named on every command line (``--root``, ``--runroot``,
  ``--tmpdir``, ``--storage-driver vfs``, ``--cgroup-manager cgroupfs``, ``--events-backend
  file``) and in the ``containers.conf`` / ``storage.conf`` that ``CONTAINERS_CONF`` /
  ``CONTAINERS_STORAGE_CONF`` point at. The containers.conf also sets ``lock_type = "file"``
  (the default shm lock segment ``/dev/shm/libpod_lock`` is shared by every podman of the
  host), the CNI backend with a private config dir, ``pull_policy = "never"``, the
  ``default_ulimits`` this host needs (root lacks ``CAP_SYS_RESOURCE``: nofile 20000, nproc
  4096) and the ``k8s-file`` log driver (the container's log stays in its userdata directory).
- every podman command runs (``nsenter --mount``) in a private mount namespace held by a
  ``sleep`` process (the *holder*), where a directory of the env is bind-mounted on ``/run`` and
  another on ``/var/lib/containers``. podman 4.3 does not pass ``--runtime-flag`` on to the
  ``podman container cleanup`` that conmon runs when a container exits, so the runtime can only
  be given a private state directory this way: runc keeps its state in ``/run/runc`` and
  runsc-py in ``/run/runsc-py`` (podman never passes ``--root``). ``podman load`` writes
  containers/image's blob-info cache to ``/var/lib/containers/cache`` whatever the storage
  root; the bind keeps that out of the host too. (When the host has no ``/var/lib/containers``
  the bind goes on ``/var/lib`` instead.) The mounts podman makes (the containers' ``/dev/shm``)
  stay in that namespace and vanish with it.
- containers get ``--network none`` (no CNI plugin runs) and ``--cgroup-parent`` a cgroup unique
  to the env, so what they leave is easy to find; podman puts every conmon in ``<parent>/conmon``
  and keeps that cgroup (libpod's design), the containers are ``<parent>/libpod-<id>``.

:class:`Podman` (the ``podman`` fixture) binds an env to one runtime binary (``podman --runtime
BIN``); :meth:`Podman.cleanup` removes every container and reports what podman or the runtime
left: containers, processes, cgroups, runtime state, mounts.

Debugging: with ``RUNSC_PODMAN_DEBUG=DIR`` in the environment, ``--runtime`` is a wrapper script
``DIR/bin/<name>/<basename>`` (same basename, so podman treats it as the real binary) that appends
each call's argv and cwd to ``DIR/calls.log``; for runsc-py it also adds ``--debug-log DIR/debug/``.
Never used by default.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
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
    TIMEOUT,
    ImageArchive,
    cgroup_dirs,
    describe,
    mounts_under,
    reap_zombie_children,
    remove_cgroup_tree,
    require_tool,
    run,
    unmount_under,
)

#: The image as ``podman load`` names it (the archive's tag).
PODMAN_IMAGE = IMAGE_REF

#: Host paths podman (or the runtimes it calls) would create or fill when not kept private:
#: their entries are compared before and after.
HOST_PODMAN_PATHS = (
    "/var/lib/containers",
    "/run/containers",
    "/run/libpod",
    "/run/podman",
    "/var/lib/cni",
    "/etc/cni/net.d",
    "/dev/shm/libpod_lock",
)

#: Entries of the private /run that would be podman's own state on the host's /run.
PODMAN_RUN_ENTRIES = ("containers", "libpod", "podman", "crun")

#: Cgroups podman itself keeps below the cgroup parent (shared by every conmon).
PODMAN_OWN_CGROUPS = ("conmon",)

DEBUG_ENV = "RUNSC_PODMAN_DEBUG"

_ID_RE = re.compile(r"^[0-9a-f]{64}$")


def is_container_id(s: str) -> bool:
    return bool(_ID_RE.match(s))


def _toml_str(s: str | Path) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entries(path: str) -> frozenset[str] | None:
    """Every path below *path* (relative), or None if *path* does not exist."""
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path) or os.path.islink(path):
        return frozenset()
    out = set()
    for dirpath, dirnames, filenames in os.walk(path):
        rel = os.path.relpath(dirpath, path)
        for n in dirnames + filenames:
            out.add(os.path.normpath(os.path.join(rel, n)))
    return frozenset(out)


def _mountpoints(mountinfo: Path) -> list[str]:
    out = []
    for line in mountinfo.read_text().splitlines():
        mp = line.split()[4]
        for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
            mp = mp.replace(esc, ch)
        out.append(mp)
    return out


def runtime_wrapper(debug_dir: Path, name: str, binary: str) -> str:
    """The debugging wrapper of *binary* (see the module doc); return its path."""
    wrapper = debug_dir / "bin" / name / os.path.basename(binary)
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    (debug_dir / "debug").mkdir(parents=True, exist_ok=True)
    extra = f' --debug-log "{debug_dir}/debug/"' if name == "runsc-py" else ""
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$(date +%T.%N) {name} pid=$$ ppid=$PPID cwd=$(pwd) argv: $*" >> "{debug_dir}/calls.log"\n'
        f'exec "{binary}"{extra} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


class PodmanEnv:
    """A private podman installation in *base* (see the module doc). Start with :meth:`start`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.runroot = base / "runroot"
        self.tmpdir = base / "tmp"
        self.bigtmp = base / "vartmp"
        self.netdir = base / "net.d"
        self.private_run = base / "run"
        self.private_varlib = base / "varlib"
        self.containers_conf = base / "containers.conf"
        self.storage_conf = base / "storage.conf"
        #: Cgroup parent of every container of this env (unique per env).
        self.cgroup_parent = f"/runsc-podman-{base.name}"
        self.holder: subprocess.Popen[bytes] | None = None
        self._host_before: dict[str, frozenset[str] | None] = {}
        self._before: set[int] = set()
        self.podman_bin = ""
        self.nsenter = ""

    # ---- configuration

    def containers_conf_text(self) -> str:
        return "\n".join([
            "[containers]",
            'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]',
            'log_driver = "k8s-file"',
            "",
            "[network]",
            'network_backend = "cni"',
            'cni_plugin_dirs = ["/usr/lib/cni"]',
            f"network_config_dir = {_toml_str(self.netdir)}",
            "",
            "[engine]",
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            f"events_logfile_path = {_toml_str(self.tmpdir / 'events' / 'events.log')}",
            'lock_type = "file"',
            'pull_policy = "never"',
            f"tmp_dir = {_toml_str(self.tmpdir)}",
            f"static_dir = {_toml_str(self.root / 'libpod')}",
            f"volume_path = {_toml_str(self.root / 'volumes')}",
            f"image_copy_tmp_dir = {_toml_str(self.bigtmp)}",
        ]) + "\n"  # fmt: skip

    def storage_conf_text(self) -> str:
        return "\n".join([
            "[storage]",
            'driver = "vfs"',
            f"graphroot = {_toml_str(self.root)}",
            f"runroot = {_toml_str(self.runroot)}",
        ]) + "\n"  # fmt: skip

    # ---- lifecycle

    def start(self, timeout: float = 10.0) -> None:
        self.podman_bin = require_tool("podman")
        require_tool("conmon")
        self.nsenter = require_tool("nsenter")
        unshare = require_tool("unshare")
        self._host_before = {p: _entries(p) for p in HOST_PODMAN_PATHS}
        for d in (self.root, self.runroot, self.tmpdir, self.bigtmp, self.netdir, self.private_run,
                  self.private_varlib):  # fmt: skip
            d.mkdir(parents=True, exist_ok=True)
        self.containers_conf.write_text(self.containers_conf_text())
        self.storage_conf.write_text(self.storage_conf_text())
        self._before = procs.descendants(os.getpid())
        varlib_target = "/var/lib/containers" if os.path.isdir("/var/lib/containers") else "/var/lib"
        script = 'mount --bind "$1" /run && mount --bind "$2" "$3" && exec sleep infinity'
        argv = [
            unshare, "--mount", "--propagation", "private", "--",
            "sh", "-c", script, "sh", str(self.private_run), str(self.private_varlib), varlib_target,
        ]  # fmt: skip
        self.holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        LIVE_DAEMON_PIDS.add(self.holder.pid)
        deadline = time.monotonic() + timeout
        while not procs.cmdline(self.holder.pid).startswith("sleep "):
            if self.holder.poll() is not None:
                err = self.holder.stderr.read().decode(errors="replace") if self.holder.stderr else ""
                raise AssertionError(f"mount namespace holder failed: rc={self.holder.returncode}\n{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mount namespace holder not ready after {timeout}s")
            time.sleep(0.02)

    def stop(self) -> list[str]:
        """Stop the holder, remove what is left; return complaints (leftovers found)."""
        problems: list[str] = []
        if self.holder is not None:
            problems += [f"mounts left in podman's namespace: {m}" for m in self.namespace_mounts()]
            if self.holder.poll() is None:
                self.holder.send_signal(signal.SIGKILL)
            self.holder.wait(10)
            LIVE_DAEMON_PIDS.discard(self.holder.pid)
            if self.holder.stderr is not None:
                self.holder.stderr.close()
        if not LIVE_DAEMON_PIDS:
            problems += kill_new_processes(self._before)
            reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        leftover = [c for c in remove_cgroup_tree(self.cgroup_parent)
                    if Path(c).name not in PODMAN_OWN_CGROUPS]  # fmt: skip
        if leftover:
            problems.append("cgroups left: " + ", ".join(leftover))
        mounted = unmount_under(self.base)
        if mounted:
            problems.append("mounts left on the host: " + ", ".join(mounted))
        for name in PODMAN_RUN_ENTRIES:
            if (self.private_run / name).exists():
                problems.append(f"podman wrote /run/{name} (kept out of the host by the private /run)")
        problems += self.host_changes()
        return problems

    def host_changes(self) -> list[str]:
        problems = []
        for path, before in self._host_before.items():
            after = _entries(path)
            if before is None and after is not None:
                problems.append(f"{path} was created on the host")
            elif before is not None and after is not None and after - before:
                problems.append(f"new on the host in {path}: {sorted(after - before)}")
        return problems

    def namespace_mounts(self) -> list[str]:
        """Mount points below the env's directories in the holder's namespace (its binds excluded)."""
        if self.holder is None or self.holder.poll() is not None:
            return []
        try:
            mps = _mountpoints(Path(f"/proc/{self.holder.pid}/mountinfo"))
        except OSError:
            return []
        base = str(self.base)
        return [m for m in mps if m == base or m.startswith(base + "/")]

    def unmount_in_namespace(self, mountpoint: str) -> None:
        assert self.holder is not None
        run([self.nsenter, f"--mount=/proc/{self.holder.pid}/ns/mnt", "--", "umount", "-l", mountpoint])

    # ---- the client

    def env_argv(self) -> list[str]:
        """``env VARS nsenter --mount=HOLDER --wd=BASE --``: prefix of every podman command."""
        assert self.holder is not None, "PodmanEnv.start() first"
        return [
            "env",
            f"CONTAINERS_CONF={self.containers_conf}",
            f"CONTAINERS_STORAGE_CONF={self.storage_conf}",
            f"TMPDIR={self.bigtmp}",
            self.nsenter, f"--mount=/proc/{self.holder.pid}/ns/mnt", f"--wd={self.base}", "--",
        ]  # fmt: skip

    def podman_argv(self, runtime: str | None, *args: str) -> list[str]:
        argv = [
            *self.env_argv(),
            self.podman_bin,
            "--root", str(self.root),
            "--runroot", str(self.runroot),
            "--tmpdir", str(self.tmpdir),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]  # fmt: skip
        if runtime is not None:
            argv += ["--runtime", runtime]
        return [*argv, *args]

    def podman(
        self, *args: str, runtime: str | None = None, timeout: float = TIMEOUT, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(self.podman_argv(runtime, *args), timeout=timeout, input=input)

    def load_image(self, image: ImageArchive) -> None:
        res = self.podman("load", "-q", "-i", str(image.path), timeout=120)
        assert res.returncode == 0, f"podman load: {describe(res)}"
        res = self.podman("images", "--format", "{{.Repository}}:{{.Tag}}")
        names = res.stdout.split()
        assert PODMAN_IMAGE in names, f"podman load gave {names}, not {PODMAN_IMAGE}\n{describe(res)}"

    def log_files(self) -> str:
        """The runtime's and the containers' log files still in podman's directories."""
        out = []
        for top in (self.root / "vfs-containers", self.runroot / "vfs-containers"):
            if not top.is_dir():
                continue
            for p in sorted(top.glob("*/userdata/**/*")):
                if p.is_file() and (p.name == "oci-log" or p.name.endswith(".log")):
                    text = p.read_text(errors="replace")[-4000:]
                    out.append(f"--- {p} ---\n{text}")
        return "\n".join(out)


def private_podman(image: ImageArchive) -> Iterator[PodmanEnv]:
    """Body of a ``podman_env`` fixture: a started :class:`PodmanEnv` with *image* loaded."""
    # short: conmon's attach socket path lives below it (sun_path is 108 bytes)
    base = Path(tempfile.mkdtemp(prefix="rpm", dir="/tmp"))
    env = PodmanEnv(base)
    problems: list[str] = []
    try:
        env.start()
        env.load_image(image)
        yield env
    finally:
        problems += env.stop()
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        pytest.fail("private podman teardown:\n" + "\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------- per-test client


class Podman(EngineCli):
    """podman bound to one :class:`PodmanEnv` and one runtime binary (the ``podman`` fixture)."""

    name = "podman"

    def __init__(self, env: PodmanEnv, runtime_name: str, runtime_binary: str) -> None:
        self.env = env
        self.runtime_name = runtime_name
        self.runtime_binary = runtime_binary
        debug = os.environ.get(DEBUG_ENV)
        self.runtime = runtime_wrapper(Path(debug), runtime_name, runtime_binary) if debug else runtime_binary
        self.image = PODMAN_IMAGE
        #: The runtime's default root, as the runtime sees it (podman passes no ``--root``) ...
        self.runtime_root_in_ns = f"/run/{os.path.basename(runtime_binary)}"
        #: ... and where that is on the host.
        self.runtime_root = env.private_run / os.path.basename(runtime_binary)
        self._before: set[int] = set()

    def __call__(
        self, *args: str, timeout: float = TIMEOUT, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.env.podman(*args, runtime=self.runtime, timeout=timeout, input=input)

    def argv(self, *args: str) -> list[str]:
        """The full command line of ``podman ARGS`` (for running it yourself, e.g. on a pty)."""
        return self.env.podman_argv(self.runtime, *args)

    def run_args(self, cmd: Sequence[str], *flags: str) -> list[str]:
        """``run --network none --cgroup-parent P FLAGS IMAGE CMD...``"""
        parent = self.env.cgroup_parent
        return ["run", "--network", "none", "--cgroup-parent", parent, *flags, self.image, *cmd]

    def run(
        self, cmd: Sequence[str], *flags: str, input: str | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return self(*self.run_args(cmd, *flags), input=input, timeout=timeout)

    def start_watch(self) -> None:
        self._before = procs.descendants(os.getpid())

    def cleanup(self) -> list[str]:
        """Remove every container; complain about what podman or the runtime left behind."""
        problems: list[str] = []
        left = self.container_ids("-a", "--external")
        if left:
            # (also after a failed ``run -d``: podman keeps a container whose start failed)
            problems.append(f"containers left (removed now): {left}\n" + self.env.log_files())
        for cid in left:
            res = self("rm", "--force", "--time", "0", cid)
            if res.returncode != 0:
                problems.append(f"podman rm -f {cid}: {describe(res)}")
        still = self.container_ids("-a", "--external")
        if still:
            problems.append(f"containers podman cannot remove: {still}")
        # conmon, the runtime's processes and the workload must all be gone
        problems += still_running_after_cleanup(self._before)
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        for top in cgroup_dirs(self.env.cgroup_parent):
            for child in sorted(p for p in top.iterdir() if p.is_dir()):
                if child.name not in PODMAN_OWN_CGROUPS:
                    problems.append(f"cgroup left: {child}")
                    remove_cgroup_tree(f"{self.env.cgroup_parent}/{child.name}")
        if self.runtime_root.is_dir():
            entries = sorted(p.name for p in self.runtime_root.iterdir())
            if entries:
                problems.append(f"runtime state left in {self.runtime_root_in_ns}: {entries}")
                for name in entries:
                    p = self.runtime_root / name
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        for mp in self.env.namespace_mounts():
            problems.append(f"mount left in podman's namespace: {mp}")
            self.env.unmount_in_namespace(mp)
        host = mounts_under(self.env.base)
        if host:
            problems.append("mounts left on the host: " + ", ".join(host))
        return problems


def podman_client(env: PodmanEnv, runtime_name: str, runtime_binary: str) -> Iterator[Podman]:
    """Body of a ``podman`` fixture: a :class:`Podman` whose teardown fails on leftovers."""

    client = Podman(env, runtime_name, runtime_binary)
    client.start_watch()
    problems: list[str] = []
    try:
        yield client
    finally:
        problems += client.cleanup()
    if problems:
        pytest.fail(f"[{runtime_name}] cleanup:\n" + "\n".join(problems), pytrace=False)
