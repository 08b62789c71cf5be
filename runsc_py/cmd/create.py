"""``create``: start a container's sandbox with init held before its first instruction."""

from __future__ import annotations

import os

import click

from runsc_py import spec
from runsc_py.container import lifecycle
from runsc_py.container.state import validate_id
from runsc_py.context import GlobalOptions, pass_options
from runsc_py.errors import InvalidSpec, Unsupported


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
    validate_id(container_id)
    if preserve_fds:
        raise Unsupported("--preserve-fds is not supported")
    loaded = spec.load_bundle(bundle if bundle is not None else os.getcwd())
    if loaded.terminal and console_socket is None:
        raise InvalidSpec("process.terminal is true: --console-socket is required")
    if console_socket is not None and not loaded.terminal:
        raise InvalidSpec("--console-socket given but process.terminal is false")
    cfg = opts.apply(loaded.boot_config(container_id))
    lifecycle.create(
        opts.root,
        cfg,
        bundle=loaded.bundle,
        config_path=loaded.config_path,
        annotations=loaded.annotations,
        pid_file=pid_file,
        cgroups_path=loaded.cgroups_path,
        resources=loaded.resources,
        console=(console_socket, loaded.console_size) if console_socket else None,
        hooks=loaded.hooks,
        namespaces=loaded.host_namespaces,
    )
