"""``run``: create and start a container from a bundle, in the foreground."""

from __future__ import annotations

import click

from runsc_py import verbs
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("run")
@click.option(
    "--bundle",
    "-b",
    default=None,
    metavar="DIR",
    help="Bundle directory holding config.json (default: the current directory).",
)
@click.option(
    "--pid-file", default=None, metavar="FILE", help="Write the container's pid here."
)
@click.option(
    "--detach", "-d", is_flag=True, help="Not supported: run stays in the foreground."
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the stopped container's state (and cgroup) for a later `delete`; by default "
    "they are removed once the workload exits, as runc does.",
)
@click.argument("container_id", metavar="ID")
@pass_options
@click.pass_context
def run(
    ctx: click.Context,
    opts: GlobalOptions,
    bundle: str | None,
    pid_file: str | None,
    detach: bool,
    keep: bool,
    container_id: str,
) -> None:
    """Run a container in the foreground; exits with the workload's status.

    Once the workload has exited the container is deleted (poststop hooks, state, cgroup),
    as ``runc run`` does, unless ``--keep`` leaves it ``stopped`` for ``delete``."""
    ctx.exit(verbs.run(opts, bundle, pid_file, detach, keep, container_id))
