"""The CLI's commands (click), one module each, loaded when used (:data:`runsc_py.cli.COMMANDS`)."""

from __future__ import annotations

import click

from runsc_py.context import GlobalOptions

#: Passes the global flags (:class:`~runsc_py.context.GlobalOptions`) to a command.
pass_options = click.make_pass_decorator(GlobalOptions)
