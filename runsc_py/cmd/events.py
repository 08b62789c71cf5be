"""``events``: resource usage and OOM events of a container, as runc prints them."""

from __future__ import annotations

import json
import time

import click

from runsc_py.cgroups import Cgroup
from runsc_py.container import lifecycle
from runsc_py.container.state import STOPPED, StateStore
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


def _event(kind: str, container_id: str, data: object) -> str:
    return json.dumps({"type": kind, "id": container_id, "data": data})


@click.command("events")
@click.option("--stats", is_flag=True, help="Print the statistics once and exit.")
@click.option("--interval", default="5s", show_default=True, metavar="DURATION",
              help="Time between statistics (e.g. 500ms, 5s, 1m).")
@click.argument("container_id", metavar="ID")
@pass_options
def events(opts: GlobalOptions, stats: bool, interval: str, container_id: str) -> None:
    """Print container ID's stats every --interval, and an ``oom`` event whenever the OOM
    killer acts in its cgroup, until it stops."""
    period = _duration(interval)
    if stats:
        click.echo(_event("stats", container_id, lifecycle.stats(opts.root, container_id)))
        return
    store = StateStore(opts.root)
    st = store.load(container_id)
    cg = Cgroup(st.cgroup_path) if st.cgroup_path else None
    ooms = cg.oom_kills() if cg is not None else 0
    next_stats = time.monotonic()
    while store.load(container_id).current_status() != STOPPED:
        if cg is not None:
            now_ooms = cg.oom_kills()
            if now_ooms > ooms:
                ooms = now_ooms
                click.echo(_event("oom", container_id, None))
        if time.monotonic() >= next_stats:
            click.echo(_event("stats", container_id, lifecycle.stats(opts.root, container_id)))
            next_stats += period
        time.sleep(min(period, 0.2))


def _duration(text: str) -> float:
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            try:
                value = float(text[: -len(suffix)]) * scale
            except ValueError:
                break
            if value > 0:
                return value
            break
    raise click.BadParameter(f"{text!r} is not a positive duration", param_hint="--interval")
