"""``start``: let a created container's init run."""

from __future__ import annotations

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("start")
@click.argument("container_id", metavar="ID")
@pass_options
def start(opts: GlobalOptions, container_id: str) -> None:
    """Start the workload of created container ID."""
    lifecycle.start(opts.root, container_id)
