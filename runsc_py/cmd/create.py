"""``create``: start a container's sandbox with init held before its first instruction."""

from __future__ import annotations

import click

from runsc_py import verbs
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("create")
@click.option(
    "--bundle",
    "-b",
    default=None,
    metavar="DIR",
    help="Bundle directory holding config.json (default: the current directory).",
)
@click.option(
    "--pid-file", default=None, metavar="FILE", help="Write the sandbox process's pid here."
)
@click.option(
    "--console-socket",
    default=None,
    metavar="PATH",
    help="Unix socket to send the terminal's master fd to (process.terminal).",
)
@click.option("--no-pivot", is_flag=True, hidden=True)
@click.option("--no-new-keyring", is_flag=True, hidden=True)
@click.option("--preserve-fds", type=int, default=0, hidden=True)
@click.argument("container_id", metavar="ID")
@pass_options
def create(
    opts: GlobalOptions,
    bundle: str | None,
    pid_file: str | None,
    console_socket: str | None,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
    container_id: str,
) -> None:
    """Create container ID: the sandbox starts and waits for ``start``."""
    verbs.create(opts, bundle, pid_file, console_socket, preserve_fds, container_id)
