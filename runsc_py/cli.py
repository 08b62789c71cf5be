"""The ``runsc-py`` command: global flags (before the verb, as with runc) and error reporting.

Errors a user can cause (:class:`~runsc_py.errors.UserError`) become one line on stderr,
``runsc-py: <msg>``, the same message in the ``--log`` file, and their exit code. Any other
exception is a bug: its traceback goes to the debug log and the user sees one
``internal error`` line with exit status 2 (:func:`runsc_py.quick.report`,
:func:`~runsc_py.quick.report_bug`, which the quick path uses too).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any, NoReturn

import click

import importlib

from runsc_py import log
from runsc_py.container.state import DEFAULT_ROOT
from runsc_py.context import GlobalOptions
from runsc_py.errors import EXIT_INTERNAL, UserError
from runsc_py.launch import exit_now
from runsc_py.log import LogOptions
from runsc_py.quick import report, report_bug
from runsc_py.version import version_text


# Command name → "module:attribute". A command's module (and what it imports: the
# lifecycle, the spec, the sentry) is imported only when that command runs: engines call
# the CLI several times per container, and start-up is most of what a cheap command costs.
COMMANDS = {
    "do": "do:do", "spec": "spec:spec", "run": "run:run", "create": "create:create",
    "start": "start:start", "state": "state:state", "kill": "kill:kill",
    "exec": "exec:exec_cmd", "ps": "ps:ps", "pause": "pause:pause", "resume": "pause:resume",
    "events": "events:events", "update": "update:update", "features": "features:features",
    "list": "list:list_", "delete": "delete:delete", "syscalls": "syscalls:syscalls",
    "compat": "compat:compat",
}


class RunscGroup(click.Group):
    """Loads each command on first use; maps exceptions from any command to one-line
    messages and exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attr = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(f"runsc_py.cmd.{module}"), attr)
        assert isinstance(command, click.Command) and command.name == cmd_name
        self.add_command(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (
            click.exceptions.Exit,
            click.exceptions.ClickException,
            click.exceptions.Abort,
        ):
            raise
        except UserError as e:
            report(e.msg)
            ctx.exit(e.exit_code)
        except Exception as e:  # noqa: BLE001 - see runsc_py.quick.report_bug
            report_bug(e)
            ctx.exit(EXIT_INTERNAL)
        finally:
            log.close()


def entry() -> NoReturn:
    """The ``runsc-py`` program (console script, ``python3 -m runsc_py``): :data:`main`,
    then the end of the process without the interpreter's clean-up
    (:func:`runsc_py.launch.exit_now`): nothing is left to do by then: ``invoke`` closed
    the log, and ``run`` and ``do`` have reaped the sandbox and removed what they made.
    :data:`main` itself still returns or raises (``CliRunner``)."""
    gc.enable()  # off while the command imported (runsc_py.launch.entry)
    try:
        main(prog_name="runsc-py")
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        try:
            print(code, file=sys.stderr)
        except (OSError, ValueError):
            pass
        status = 1
    exit_now(status)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_text())
    ctx.exit(0)


@click.group(cls=RunscGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    default=DEFAULT_ROOT,
    show_default=True,
    metavar="DIR",
    help="Directory holding container state.",
)
@click.option(
    "--log",
    "log_file",
    default=None,
    metavar="FILE",
    help="Write log messages (errors included) to FILE.",
)
@click.option(
    "--log-format",
    type=click.Choice(log.LOG_FORMATS),
    default="text",
    show_default=True,
    help="Format of the --log file.",
)
@click.option("--debug", is_flag=True, help="Log at debug level.")
@click.option(
    "--debug-log",
    default=None,
    metavar="FILE",
    help="Debug log of the CLI and the sentry; a trailing / names a directory, "
    "%TIMESTAMP% and %COMMAND% are substituted.",
)
@click.option("--strace", is_flag=True, help="Log every syscall of the workload.")
@click.option(
    "--platform",
    default="hybrid",
    show_default=True,
    metavar="NAME",
    help="How workload syscalls are trapped.",
)
@click.option("--python-only", is_flag=True, hidden=True)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.pass_context
def main(
    ctx: click.Context,
    root: str,
    log_file: str | None,
    log_format: str,
    debug: bool,
    debug_log: str | None,
    strace: bool,
    platform: str,
    python_only: bool,
) -> None:
    """runsc-py: an OCI runtime running containers on a user-space kernel."""
    if not root:
        raise click.BadParameter("must not be empty", param_hint="--root")
    if not platform:
        raise click.BadParameter("must not be empty", param_hint="--platform")
    opts = GlobalOptions(
        root=os.path.abspath(root),
        log=LogOptions(
            log=log_file, log_format=log_format, debug=debug, debug_log=debug_log
        ),
        strace=strace,
        platform=platform,
        python_only=python_only,
    )
    ctx.obj = opts
    opts.debug_log_path = log.configure(opts.log, ctx.invoked_subcommand or "")

