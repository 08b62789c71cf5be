"""``spec``: write a default config.json into a bundle."""

from __future__ import annotations

import os

import click

from runsc_py import spec as oci_spec


@click.command("spec")
@click.option(
    "--bundle",
    "-b",
    default=None,
    metavar="DIR",
    help="Bundle directory to write config.json into (default: the current directory).",
)
def spec(bundle: str | None) -> None:
    """Write a default config.json (refuses to overwrite one)."""
    oci_spec.write_default_spec(bundle if bundle is not None else os.getcwd())
