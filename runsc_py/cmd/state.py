"""``state``: print a container's OCI state."""

from __future__ import annotations

import json

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("state")
@click.argument("container_id", metavar="ID")
@pass_options
def state(opts: GlobalOptions, container_id: str) -> None:
    """Print the OCI state of container ID as JSON."""
    click.echo(json.dumps(lifecycle.state(opts.root, container_id), indent=2))
