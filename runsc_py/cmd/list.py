"""``list``: the containers under --root, as runc prints them."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from runsc_py.container import lifecycle
from runsc_py.cmd import pass_options
from runsc_py.context import GlobalOptions


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Align columns as Go's tabwriter does for runc (min width 12, padding 3)."""
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("".join(cells))
    return "\n".join(lines)


@click.command("list")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    help="Output format.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the container ids.")
@pass_options
def list_(opts: GlobalOptions, fmt: str, quiet: bool) -> None:
    """List containers."""
    entries = lifecycle.list_states(opts.root)
    if quiet:
        for st, _ in entries:
            click.echo(st.id)
        return
    if fmt == "json":
        click.echo(json.dumps([oci for _, oci in entries]))
        return
    rows: list[list[str]] = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for _, oci in entries:
        rows.append(
            [
                str(oci["id"]),
                str(oci["pid"]),
                str(oci["status"]),
                str(oci["bundle"]),
                str(oci["created"]),
                str(oci["owner"]),
            ]
        )
    click.echo(format_table(rows))
