"""What ``create``, ``run`` and ``do`` do once their arguments are parsed, without the CLI
framework: the click commands (:mod:`runsc_py.cmd.create`, :mod:`runsc_py.cmd.run`,
:mod:`runsc_py.cmd.do`) and the quick path (:mod:`runsc_py.quick`) both call these."""

from __future__ import annotations

import os

from runsc_py import spec
from runsc_py.container import lifecycle
from runsc_py.container.hostns import HostNamespaces
from runsc_py.container.state import validate_id
from runsc_py.context import GlobalOptions
from runsc_py.errors import InvalidSpec, Unsupported, UserError
from sentry.config import DEFAULT_PIDS_LIMIT

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any


def _from_bundle(loaded: spec.BundleSpec, pid_file: str | None) -> dict[str, Any]:
    """What create and run both hand the lifecycle from the bundle."""
    return {"bundle": loaded.bundle, "config_path": loaded.config_path,
            "annotations": loaded.annotations, "pid_file": pid_file, "hooks": loaded.hooks,
            "namespaces": loaded.host_namespaces}


def create(opts: GlobalOptions, bundle: str | None, pid_file: str | None,
           console_socket: str | None, preserve_fds: int, container_id: str) -> None:
    """Create container ID: the sandbox starts and waits for ``start``."""
    validate_id(container_id)
    if preserve_fds:
        raise Unsupported("--preserve-fds is not supported")
    loaded = spec.load_bundle(bundle if bundle is not None else os.getcwd())
    if loaded.terminal and console_socket is None:
        raise InvalidSpec("process.terminal is true: --console-socket is required")
    if console_socket is not None and not loaded.terminal:
        raise InvalidSpec("--console-socket given but process.terminal is false")
    cfg = opts.apply(loaded.boot_config(container_id))
    lifecycle.create(
        opts.root,
        cfg,
        cgroups_path=loaded.cgroups_path,
        resources=loaded.resources,
        console=(console_socket, loaded.console_size) if console_socket else None,
        **_from_bundle(loaded, pid_file),
    )


def run(opts: GlobalOptions, bundle: str | None, pid_file: str | None, detach: bool,
        keep: bool, container_id: str) -> int:
    """Run container ID in the foreground; the workload's exit status."""
    if detach:
        raise Unsupported("run --detach is not supported; run in the foreground")
    validate_id(container_id)
    loaded = spec.load_bundle(bundle if bundle is not None else os.getcwd())
    if loaded.terminal:
        raise Unsupported(
            "config.json: process.terminal: run in the foreground has no terminal of its own; "
            "use create --console-socket, or set it to false"
        )
    cfg = opts.apply(loaded.boot_config(container_id))
    return lifecycle.run_foreground(
        opts.root,
        cfg,
        keep_when_stopped=keep,
        cgroup=(loaded.cgroups_path, loaded.resources),
        **_from_bundle(loaded, pid_file),
    )


def do(opts: GlobalOptions, command: tuple[str, ...] | list[str], *, cwd: str | None = None,
       env_vars: tuple[str, ...] = (), clear_env: bool = False, uid: int | None = None,
       gid: int | None = None, hostname: str | None = None, network: str = "none",
       pids_limit: int = DEFAULT_PIDS_LIMIT, memory_limit: str | None = None,
       profile: str | None = None, compat_report: str | None = None) -> int:
    """Run *command* sandboxed against the host's / (``do``'s flags as keywords); the
    workload's exit status."""
    import _socket as socket  # (socket.py imports enum and selectors: ~4 ms of a CLI start)

    if cwd is None:
        try:
            cwd = os.getcwd()
        except OSError as e:
            raise UserError(
                f"cannot determine the current directory: {e.strerror}"
            ) from None
    env = {} if clear_env else dict(os.environ)
    for entry in spec.validate_env(list(env_vars), "--env", host_bytes=True):
        key, _, value = entry.partition("=")
        env[key] = value
    cfg = spec.host_root_config(
        list(command),
        env=[f"{k}={v}" for k, v in env.items()],
        cwd=os.path.abspath(cwd),
        uid=os.getuid() if uid is None else uid,
        gid=os.getgid() if gid is None else gid,
        hostname=socket.gethostname() if hostname is None else hostname,
        # os.urandom, not secrets: that imports hmac and OpenSSL for six bytes.
        container_id="do-" + os.urandom(6).hex(),
    )
    cfg.pids_limit = max(0, pids_limit)
    cfg.profile = None if profile is None else os.path.abspath(profile)
    cfg.compat_report = None if compat_report is None else os.path.abspath(compat_report)
    cgroup = None
    if memory_limit is not None:
        from sentry.vfs.mount_options import parse_size

        try:
            limit = parse_size(memory_limit, 0)
        except ValueError:
            raise UserError(f"--memory-limit {memory_limit!r}: not a size") from None
        if limit <= 0:
            raise UserError("--memory-limit must be above 0")
        cfg.memory_limit = limit
        resources: dict[str, Any] = {"memory": {"limit": limit}}
        if pids_limit > 0:
            # The host's count includes the sentry and the gofer.
            resources["pids"] = {"limit": pids_limit + 64}
        cgroup = (None, resources)
    return lifecycle.run_foreground(
        opts.root,
        opts.apply(cfg),
        bundle="",
        config_path=None,
        annotations={},
        pid_file=None,
        keep_when_stopped=False,
        namespaces=HostNamespaces(network="" if network == "none" else None),
        cgroup=cgroup,
    )
