"""``do``: run one command in a sandbox over the host's root filesystem (writes stay in
memory), like ``runsc do``."""

from __future__ import annotations

import click

from runsc_py import spec, verbs
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions
from sentry.config import DEFAULT_PIDS_LIMIT

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
    ctx.exit(verbs.do(opts, command, cwd=cwd, env_vars=env_vars, clear_env=clear_env, uid=uid,
                      gid=gid, hostname=hostname, network=network, pids_limit=pids_limit,
                      memory_limit=memory_limit, profile=profile,
                      compat_report=compat_report))
