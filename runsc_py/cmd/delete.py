"""``delete``: remove a stopped container, or kill and remove it with --force."""

from __future__ import annotations

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("delete")
@click.option(
    "--force", "-f", is_flag=True, help="Kill the container if it is running."
)
@click.argument("container_id", metavar="ID")
@pass_options
def delete(opts: GlobalOptions, force: bool, container_id: str) -> None:
    """Delete container ID and its state."""
    lifecycle.delete(opts.root, container_id, force)
