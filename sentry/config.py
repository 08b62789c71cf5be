"""What the CLI hands the sentry: one sandbox's boot configuration.

The CLI (``runsc_py``) validates the OCI spec or the ``do`` flags and builds a
:class:`BootConfig`; :func:`sentry.boot.run_sandbox` runs it and returns the
exit status (the workload's, or 128+N when it was killed by signal N).
"""

from __future__ import annotations

from sentry.records import dataclass, field

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple


@dataclass
class MountSpec:
    """One mount in the sandbox's mount tree.

    :param destination: absolute path inside the sandbox.
    :param type: ``"bind"`` (served by the gofer from *source*), ``"tmpfs"``, ``"proc"``,
        ``"devtmpfs"``-like ``"dev"`` (the sentry's /dev), ``"sysfs"``, ``"cgroup2"``
        (the sandbox's cgroup, for an OCI ``cgroup`` or ``cgroup2`` mount).
    :param source: host path for ``bind``; ignored otherwise.
    :param readonly: the ``ro`` option.
    :param options: the remaining OCI options: per-mount flags (``nosuid``, ``noexec``,
        ``strictatime`` …) and the file system's data (``mode=755``, ``size=64m``), see
        :mod:`sentry.vfs.mount_options`.
    :param file_access: a bind mount's policy (gVisor's ``--file-access-mounts``):
        ``"shared"``, others may change the files, so cached names are looked up again
        at each walk and attributes at each stat; ``"exclusive"``, only this sandbox
        changes them, so names and (for ``ro``) attributes stay cached.
    """

    destination: str
    type: str
    source: str = ""
    readonly: bool = False
    options: List[str] = field(default_factory=list)
    file_access: str = "shared"


@dataclass
class Capabilities:
    """``process.capabilities`` as bit masks (``1 << CAP_*``)."""

    bounding: int = 0
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0


@dataclass
class DeviceSpec:
    """One ``linux.devices`` entry: a node the sentry creates in the sandbox's tree.

    :param kind: ``"c"`` (character device; only ones the sentry emulates), ``"p"``
        (FIFO).
    """

    path: str
    kind: str
    major: int = 0
    minor: int = 0
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


#: The pids limit of a sandbox whose configuration sets none: far below the host's
#: ``kernel.pid_max`` (32768 by default), so that one fork bomb cannot take every host pid.
DEFAULT_PIDS_LIMIT = 4096

#: ``/proc/PID/uid_map`` of a sandbox without user namespace mappings.
IDENTITY_MAP = [(0, 0, 4294967295)]


@dataclass
class BootConfig:
    """Everything the sentry needs to start a sandbox's first process.

    :param root_path: host path of the root filesystem (served by the gofer only).
    :param root_readonly: ``root.readonly`` in the spec: the root is mounted read-only
        in the sandbox (no overlay writes either).
    :param overlay: ``/`` is an overlay with a sentry tmpfs upper layer over the gofer's
        read-only lower layer, so the host rootfs is never modified.
    :param stdio: host fds (in the calling process) donated as the workload's 0, 1, 2.
    """

    argv: List[str]
    env: List[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: List[int] = field(default_factory=list)
    hostname: str = "runsc-py"
    root_path: str = "/"
    root_readonly: bool = False
    overlay: bool = True
    mounts: List[MountSpec] = field(default_factory=list)
    stdio: Tuple[int, int, int] = (0, 1, 2)
    container_id: str = ""
    debug: bool = False
    debug_log: Optional[str] = None
    strace: bool = False
    # ``do --profile FILE``: cProfile statistics of the sentry, written to FILE at its exit.
    profile: Optional[str] = None
    # ``do --compat-report FILE``: per-syscall counts and refused variants (JSON,
    # sentry.kernel.compat), written to FILE when the workload has exited.
    compat_report: Optional[str] = None
    # RLIMIT_NOFILE (soft, hard) of the sandbox's fd tables; None: 1024/1024 (runc's default).
    nofile: Optional[Tuple[int, int]] = None
    # process.rlimits other than RLIMIT_NOFILE: (resource, soft, hard), set on init's
    # host process (the host enforces them) and so inherited by every process.
    rlimits: List[Tuple[int, int, int]] = field(default_factory=list)
    # The most tasks (threads included, zombies until reaped) the sandbox holds at once,
    # counted as the pids cgroup counts them: linux.resources.pids.limit, ``do
    # --pids-limit``; None: DEFAULT_PIDS_LIMIT; 0 or less: no limit but the host's.
    pids_limit: Optional[int] = None
    # linux.resources.memory.limit (bytes): bounds what the sentry holds for the sandbox
    # (tmpfs data of every instance); None: half the host's memory (sentry.kernel.memacct).
    memory_limit: Optional[int] = None
    # linux.resources.cpu quota, period (µs) and shares: the host cgroup's; shown to the
    # sandbox in its cgroup's cpu.max and cpu.weight (sentry.fsimpl.proc.cgroupfs).
    cpu_quota: Optional[int] = None
    cpu_period: Optional[int] = None
    cpu_shares: Optional[int] = None
    # process.capabilities; None: every capability for uid 0, none otherwise (do mode).
    capabilities: Optional[Capabilities] = None
    no_new_privileges: bool = False
    umask: int = 0o022
    # process.oomScoreAdj; None: the value the sandbox process inherited.
    oom_score_adj: Optional[int] = None
    # linux.uidMappings / gidMappings as (container id, host id, size): the sandbox's
    # /proc/PID/uid_map view.
    uid_map: List[Tuple[int, int, int]] = field(default_factory=lambda: list(IDENTITY_MAP))
    gid_map: List[Tuple[int, int, int]] = field(default_factory=lambda: list(IDENTITY_MAP))
    # linux.maskedPaths / readonlyPaths (paths inside the sandbox; missing ones skipped).
    masked_paths: List[str] = field(default_factory=list)
    readonly_paths: List[str] = field(default_factory=list)
    # linux.sysctl, validated: dotted key → value, shown under /proc/sys.
    sysctl: Dict[str, str] = field(default_factory=dict)
    devices: List[DeviceSpec] = field(default_factory=list)
    # SIGTERM/SIGHUP/SIGINT/SIGQUIT to the sentry that the sandbox's init does not
    # handle end the sandbox with 128+N (``do``, like a plain command); otherwise they
    # are only forwarded, and init ignores them as a container's init does (``run``).
    exit_on_unhandled_signal: bool = False
    # Force every syscall through the Python handlers (C fast path off).
    python_only: bool = False
    platform: str = "hybrid"
    # create: init is held before its first instruction until the control server's start.
    hold_init: bool = False
    # Where the control server listens (the container's state directory); None: no server.
    control_socket: Optional[str] = None
