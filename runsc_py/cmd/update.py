"""``update``: change a running container's resource limits (its cgroup)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from runsc_py import spec
from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions
from runsc_py.errors import InvalidSpec


def _size(text: str | None) -> int | None:
    """runc's memory sizes: bytes, or with a k/m/g suffix; -1 for unlimited."""
    if text is None:
        return None
    t = text.strip().lower()
    scale = 1
    for suffix, mult in (("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)):
        if t.endswith(suffix):
            t, scale = t[:-1], mult
            break
    try:
        return int(t) * scale if int(t) >= 0 else -1
    except ValueError:
        raise InvalidSpec(f"invalid size {text!r}") from None


@click.command("update")
@click.option("--resources", "-r", default=None, metavar="FILE",
              help="linux.resources JSON from FILE ('-' for standard input).")
@click.option("--memory", default=None)
@click.option("--memory-reservation", default=None)
@click.option("--memory-swap", default=None)
@click.option("--cpu-shares", type=int, default=None)
@click.option("--cpu-quota", type=int, default=None)
@click.option("--cpu-period", type=int, default=None)
@click.option("--cpuset-cpus", default=None)
@click.option("--cpuset-mems", default=None)
@click.option("--pids-limit", type=int, default=None)
@click.option("--blkio-weight", type=int, default=None, hidden=True)
@click.option("--kernel-memory", default=None, hidden=True)
@click.option("--kernel-memory-tcp", default=None, hidden=True)
@click.option("--cpu-rt-period", type=int, default=None, hidden=True)
@click.option("--cpu-rt-runtime", type=int, default=None, hidden=True)
@click.option("--l3-cache-schema", default=None, hidden=True)
@click.option("--mem-bw-schema", default=None, hidden=True)
@click.argument("container_id", metavar="ID")
@pass_options
def update(opts: GlobalOptions, resources: str | None, container_id: str,
           **flags: Any) -> None:
    """Update the resource limits of container ID."""
    if resources is not None:
        try:
            if resources == "-":
                data = sys.stdin.buffer.read(1 << 20)
            else:
                with open(resources, "rb") as f:
                    data = f.read(1 << 20)
            value = json.loads(data)
        except OSError as e:
            raise InvalidSpec(f"--resources {resources}: {e.strerror}") from None
        except ValueError as e:
            raise InvalidSpec(f"--resources: not JSON: {e}") from None
        res = spec.validate_resources(value, "resources")
    else:
        memory = {k: v for k, v in {
            "limit": _size(flags["memory"]),
            "reservation": _size(flags["memory_reservation"]),
            "swap": _size(flags["memory_swap"]),
        }.items() if v is not None}
        cpu = {k: v for k, v in {
            "shares": flags["cpu_shares"], "quota": flags["cpu_quota"],
            "period": flags["cpu_period"], "cpus": flags["cpuset_cpus"],
            "mems": flags["cpuset_mems"],
        }.items() if v is not None}
        res = {"memory": memory, "cpu": cpu}
        if flags["pids_limit"] is not None:
            res["pids"] = {"limit": flags["pids_limit"]}
    lifecycle.update(opts.root, container_id, res)
