"""The ``runsc-py`` command: global flags (before the verb, as with runc) and error reporting.

Errors a user can cause (:class:`~runsc_py.errors.UserError`) become one line on stderr,
``runsc-py: <msg>``, the same message in the ``--log`` file, and their exit code. Any other
exception is a bug: its traceback goes to the debug log and the user sees one
``internal error`` line with exit status 2.
"""

from __future__ import annotations

import os
from typing import Any

import click

from runsc_py import log
from runsc_py.cmd.create import create
from runsc_py.cmd.delete import delete
from runsc_py.cmd.do import do
from runsc_py.cmd.events import events
from runsc_py.cmd.exec import exec_cmd
from runsc_py.cmd.features import features
from runsc_py.cmd.kill import kill
from runsc_py.cmd.list import list_
from runsc_py.cmd.pause import pause, resume
from runsc_py.cmd.ps import ps
from runsc_py.cmd.run import run
from runsc_py.cmd.spec import spec
from runsc_py.cmd.start import start
from runsc_py.cmd.state import state
from runsc_py.cmd.syscalls import syscalls
from runsc_py.cmd.update import update
from runsc_py.container.state import DEFAULT_ROOT
from runsc_py.context import GlobalOptions
from runsc_py.errors import EXIT_INTERNAL, UserError, one_line
from runsc_py.log import LogOptions, logger
from runsc_py.version import version_text


def _report(msg: str) -> None:
    # The log first: engines read it, and stderr may not be writable (containerd's shim
    # gives a pod's sandbox container /dev/null opened read-only as fds 0-2).
    logger.error("%s", msg, extra={"echoed": True})
    try:
        click.echo(f"runsc-py: {msg}", err=True)
    except OSError:
        pass


class RunscGroup(click.Group):
    """Maps exceptions from any command to one-line messages and exit codes."""

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
            _report(e.msg)
            ctx.exit(e.exit_code)
        # The one place a blind catch is the design: a bug becomes one line plus a traceback
        # in the debug log, never a traceback on the user's terminal.
        except Exception as e:  # noqa: BLE001
            logger.debug("internal error", exc_info=True)
            hint = (
                ""
                if log.has_debug_destination()
                else " (--debug-log FILE records the traceback)"
            )
            _report(f"internal error: {type(e).__name__}: {one_line(str(e))}{hint}")
            ctx.exit(EXIT_INTERNAL)
        finally:
            log.close()


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


# The hidden internal commands (boot, gofer) are registered next to these.
for _command in (
    do, spec, run, create, start, state, kill, exec_cmd, ps, pause, resume, events, update,
    features, list_, delete, syscalls,
):
    main.add_command(_command)
