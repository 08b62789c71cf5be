"""What ``create`` and ``run`` do once their arguments are parsed, without the CLI
framework: the click commands (:mod:`runsc_py.cmd.create`, :mod:`runsc_py.cmd.run`) and
the quick path (:mod:`runsc_py.quick`) both call these."""

from __future__ import annotations

import os

from runsc_py import spec
from runsc_py.container import lifecycle
from runsc_py.container.state import validate_id
from runsc_py.context import GlobalOptions
from runsc_py.errors import InvalidSpec, Unsupported

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
