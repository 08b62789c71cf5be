"""``ps``: the processes of a running container."""

from __future__ import annotations

import json
import time

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


@click.command("ps")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
    show_default=True,
)
@click.argument("container_id", metavar="ID")
@click.argument("ps_args", nargs=-1)
@pass_options
def ps(opts: GlobalOptions, fmt: str, container_id: str, ps_args: tuple[str, ...]) -> None:
    """List the processes of container ID.

    ``--format json`` prints the host pids clients know the processes by (what containerd's
    shim matches against its own): the sandbox process for init, the waiter for an exec'd
    process, the host pid of any other; the table shows the sandbox's own pids too.
    """
    procs = lifecycle.ps(opts.root, container_id)
    if fmt == "json":
        click.echo(json.dumps([p.get("client_pid", p["host_pid"]) for p in procs]))
        return
    now = time.monotonic()
    click.echo(f"{'UID':>6} {'PID':>7} {'PPID':>7} {'HOST-PID':>9} {'ELAPSED':>9} CMD")
    for p in procs:
        age = max(0, int(now - float(p.get("start", now))))  # type: ignore[arg-type]
        h, rest = divmod(age, 3600)
        t = f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"
        click.echo(
            f"{p['uid']:>6} {p['pid']:>7} {p['ppid']:>7} {p['host_pid']:>9} {t:>9} {p['cmd']}"
        )
