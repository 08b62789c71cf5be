"""``do``: run one command in a sandbox over the host's root filesystem (writes stay in
memory), like ``runsc do``."""

from __future__ import annotations

import os
import socket

from typing import Any

import click

from runsc_py import spec
from runsc_py.container import lifecycle
from runsc_py.container.hostns import HostNamespaces
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions
from runsc_py.errors import UserError
from sentry.config import DEFAULT_PIDS_LIMIT
from sentry.vfs.mount_options import parse_size

_ID_RANGE = click.IntRange(0, spec.MAX_ID)


@click.command(
    "do",
    # Everything after the command name belongs to the command: `do ls -l` works without `--`.
    context_settings={"allow_interspersed_args": False},
)
@click.option(
    "--cwd",
    default=None,
    metavar="DIR",
    help="Working directory (default: the current one).",
)
@click.option(
    "--env",
    "env_vars",
    multiple=True,
    metavar="K=V",
    help="Set a variable (repeatable).",
)
@click.option(
    "--clear-env",
    is_flag=True,
    help="Start from an empty environment, then apply --env.",
)
@click.option(
    "--uid", type=_ID_RANGE, default=None, help="User id (default: the caller's)."
)
@click.option(
    "--gid", type=_ID_RANGE, default=None, help="Group id (default: the caller's)."
)
@click.option("--hostname", default=None, help="Hostname (default: the host's).")
@click.option(
    "--network",
    type=click.Choice(["none", "host"]),
    default="none",
    show_default=True,
    help="none: a network namespace of its own with only loopback; host: the caller's.",
)
@click.option(
    "--pids-limit",
    type=int,
    default=DEFAULT_PIDS_LIMIT,
    show_default=True,
    help="Most tasks (threads included) the sandbox may hold; 0: no limit but the host's.",
)
@click.option(
    "--memory-limit",
    default=None,
    metavar="SIZE",
    help="Run the sandbox in a cgroup of its own with this memory limit (bytes, or "
    "k/m/g); it also bounds what the sentry holds for it (tmpfs, pipes).",
)
@click.option(
    "--profile",
    default=None,
    metavar="FILE",
    help="Debugging: write cProfile statistics of the sentry to FILE when it exits "
    "(read them with `python3 -m pstats FILE`).",
)
@click.option(
    "--compat-report",
    default=None,
    metavar="FILE",
    hidden=True,
    help="Write the workload's per-syscall counts and refused variants (JSON) to FILE "
    "when it exits (what `compat` reads).",
)
@click.argument("command", nargs=-1, required=True, metavar="-- CMD [ARGS]...")
@pass_options
@click.pass_context
def do(
    ctx: click.Context,
    opts: GlobalOptions,
    cwd: str | None,
    env_vars: tuple[str, ...],
    clear_env: bool,
    uid: int | None,
    gid: int | None,
    hostname: str | None,
    network: str,
    pids_limit: int,
    memory_limit: str | None,
    profile: str | None,
    compat_report: str | None,
    command: tuple[str, ...],
) -> None:
    """Run CMD sandboxed against the host's / (read-only, writes kept in memory)."""
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
    status = lifecycle.run_foreground(
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
    ctx.exit(status)
