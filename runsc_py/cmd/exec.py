"""``exec``: run a new process inside a running container."""

from __future__ import annotations

import json

import click

from runsc_py import spec
from runsc_py.console import open_console
from runsc_py.container import exec as exec_
from runsc_py.container.state import StateStore
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions
from runsc_py.errors import InvalidSpec, Unsupported


def _user(value: str) -> tuple[int, int | None]:
    uid, _, gid = value.partition(":")
    try:
        return int(uid), (int(gid) if gid else None)
    except ValueError:
        raise InvalidSpec(f"--user {value!r}: only numeric uid[:gid] is supported") from None


def _load_process(path: str) -> spec.ProcessSpec:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as e:
        raise InvalidSpec(f"--process {path}: {e.strerror}") from None
    try:
        value = json.loads(data)
    except ValueError as e:
        raise InvalidSpec(f"--process {path}: not JSON: {e}") from None
    return spec.validate_process(value, "process")


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("--process", "-p", "process_file", default=None, metavar="FILE",
              help="OCI process JSON (replaces the command line and the flags below).")
@click.option("--detach", "-d", is_flag=True, help="Return once the process runs.")
@click.option("--pid-file", default=None, metavar="FILE",
              help="Write the pid that stands for the process here.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a terminal.")
@click.option("--console-socket", default=None, metavar="PATH")
@click.option("--cwd", default=None, metavar="DIR", help="Working directory in the container.")
@click.option("--env", "-e", multiple=True, metavar="K=V", help="Add an environment variable.")
@click.option("--user", "-u", default=None, metavar="UID[:GID]")
@click.option("--additional-gids", "-g", multiple=True, type=int)
@click.option("--cap", "-c", multiple=True, hidden=True)
@click.option("--no-new-privs", is_flag=True, hidden=True)
@click.option("--apparmor", default=None, hidden=True)
@click.option("--process-label", default=None, hidden=True)
@click.option("--preserve-fds", type=int, default=0, hidden=True)
@click.option("--ignore-paused", is_flag=True, hidden=True)
@click.option("--cgroup", multiple=True, hidden=True)
@click.argument("container_id", metavar="ID")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_options
def exec_cmd(
    opts: GlobalOptions,
    process_file: str | None,
    detach: bool,
    pid_file: str | None,
    tty: bool,
    console_socket: str | None,
    cwd: str | None,
    env: tuple[str, ...],
    user: str | None,
    additional_gids: tuple[int, ...],
    cap: tuple[str, ...],
    no_new_privs: bool,
    apparmor: str | None,
    process_label: str | None,
    preserve_fds: int,
    ignore_paused: bool,
    cgroup: tuple[str, ...],
    container_id: str,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (or the --process JSON) in container ID."""
    if preserve_fds:
        raise Unsupported("--preserve-fds is not supported")
    if process_file is not None:
        proc = _load_process(process_file)
    else:
        if not command:
            raise InvalidSpec("exec: no command (give COMMAND or --process FILE)")
        loaded = _container_spec(opts.root, container_id)
        proc = spec.ProcessSpec(
            args=list(command),
            env=list(loaded.env) if loaded is not None else [],
            cwd=loaded.cwd if loaded is not None else "/",
            uid=loaded.uid if loaded is not None else 0,
            gid=loaded.gid if loaded is not None else 0,
        )
        if cwd is not None:
            proc.cwd = cwd
        if user is not None:
            proc.uid, gid = _user(user)
            if gid is not None:
                proc.gid = gid
        proc.additional_gids = list(additional_gids)
        proc.env = spec.validate_env(proc.env + list(env), "--env")
        proc.terminal = tty
    stdio: tuple[int, int, int] = (0, 1, 2)
    if proc.terminal:
        if console_socket is None:
            raise InvalidSpec("a terminal (--tty or process.terminal) needs --console-socket")
        replica = open_console(console_socket, proc.console_size)
        stdio = (replica, replica, replica)
    elif console_socket is not None:
        raise InvalidSpec("--console-socket given without a terminal (--tty)")
    exec_.exec_process(
        opts.root, container_id, proc, detach=detach, pid_file=pid_file, stdio=stdio
    )


def _container_spec(root: str, container_id: str) -> spec.BundleSpec | None:
    """The container's config.json, for the defaults of an exec (env, cwd, user)."""
    st = StateStore(root).load(container_id)
    if st.config_path is None:
        return None
    try:
        return spec.validate(spec.read_config(st.config_path), st.bundle, st.config_path)
    except (InvalidSpec, Unsupported):
        return None
