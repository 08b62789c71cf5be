"""``pause`` and ``resume``: freeze and thaw every process of a container (the sentry too)."""

from __future__ import annotations

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("pause")
@click.argument("container_id", metavar="ID")
@pass_options
def pause(opts: GlobalOptions, container_id: str) -> None:
    """Suspend every process of container ID."""
    lifecycle.pause(opts.root, container_id, True)


@click.command("resume")
@click.argument("container_id", metavar="ID")
@pass_options
def resume(opts: GlobalOptions, container_id: str) -> None:
    """Resume a paused container ID."""
    lifecycle.pause(opts.root, container_id, False)
