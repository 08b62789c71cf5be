"""``kill``: send a signal to a container's init, or with --all to every process in it."""

from __future__ import annotations

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions
from runsc_py.signals import parse_signal


@click.command("kill")
@click.option("--all", "-a", "all_", is_flag=True, help="Signal every process.")
@click.argument("container_id", metavar="ID")
@click.argument("signal_", metavar="[SIGNAL]", default="SIGTERM")
@pass_options
def kill(opts: GlobalOptions, all_: bool, container_id: str, signal_: str) -> None:
    """Send SIGNAL (a name or number, default SIGTERM) to container ID."""
    lifecycle.kill(opts.root, container_id, parse_signal(signal_), all_)
