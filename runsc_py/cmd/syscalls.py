"""``syscalls``: the syscall compatibility table, or the host allowlist with --host."""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

from runsc_py.cmd.list import format_table
from runsc_py.errors import one_line

_TABLE_MODULE = "sentry.syscalls.linux.linux64"


def confinement_rows(which: str) -> list[dict[str, Any]]:
    """The host calls the confined sentry or gofer may make, in number order."""
    if which == "sentry":
        rows_: list[dict[str, Any]] = importlib.import_module("sentry.confine").describe()
        return rows_
    rules = importlib.import_module("gofer.filter").allowed(True)
    return sorted(
        (
            {
                "nr": r.nr,
                "name": r.name,
                "note": r.why
                + ("; argument checks" if r.alternatives else "")
                + ("; writable roots only" if r.writes else ""),
            }
            for r in rules
        ),
        key=lambda e: int(e["nr"]),
    )


def rows(host: bool) -> list[dict[str, Any]]:
    """The table's entries in syscall-number order, as plain dicts."""
    table = importlib.import_module(_TABLE_MODULE)
    if host:
        entries = sorted(table.host_allowlist(), key=lambda e: e.nr)
        return [{"nr": e.nr, "name": e.name, "note": e.note or ""} for e in entries]
    return [
        {
            "nr": e.nr,
            "name": e.name,
            "support": e.support,
            "policy": e.policy,
            "note": e.note or "",
        }
        for e in table.TABLE
        if e is not None
    ]


@click.command("syscalls")
@click.option(
    "--host", is_flag=True, help="Only the syscalls the host executes without a stop."
)
@click.option(
    "--sentry", is_flag=True, help="The host calls the confined sentry may make (its filter)."
)
@click.option(
    "--gofer", is_flag=True, help="The host calls the confined gofer may make (its filter)."
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    help="Output format.",
)
def syscalls(host: bool, sentry: bool, gofer: bool, fmt: str) -> None:
    """Print the syscall compatibility table (or an allowlist: --host, --sentry, --gofer)."""
    if host + sentry + gofer > 1:
        raise click.UsageError("--host, --sentry and --gofer exclude each other")
    if sentry or gofer:
        entries = confinement_rows("sentry" if sentry else "gofer")
        host = True  # the same columns
    else:
        entries = rows(host)
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2))
        return
    keys = (
        ["nr", "name", "note"] if host else ["nr", "name", "support", "policy", "note"]
    )
    table = [[k.upper() for k in keys]]
    table += [[one_line(str(e[k])) for k in keys] for e in entries]
    click.echo(format_table(table))
