"""``run``: create and start a container from a bundle, in the foreground."""

from __future__ import annotations

import os

import click

from runsc_py import spec
from runsc_py.container import lifecycle
from runsc_py.container.state import validate_id
from runsc_py.context import GlobalOptions, pass_options
from runsc_py.errors import Unsupported


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
    status = lifecycle.run_foreground(
        opts.root,
        cfg,
        bundle=loaded.bundle,
        config_path=loaded.config_path,
        annotations=loaded.annotations,
        pid_file=pid_file,
        keep_when_stopped=keep,
        hooks=loaded.hooks,
        namespaces=loaded.host_namespaces,
        cgroup=(loaded.cgroups_path, loaded.resources),
    )
    ctx.exit(status)
