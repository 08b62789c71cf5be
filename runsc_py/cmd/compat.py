"""``compat``: will a program behave the same in the sandbox? (``compat suite``: a whole suite.)"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

import click

from runsc_py import spec
from runsc_py.context import GlobalOptions
from runsc_py.errors import UserError
from sentry.config import DEFAULT_PIDS_LIMIT

_ID_RANGE = click.IntRange(0, spec.MAX_ID)
_REPORT = "report"


class CompatGroup(click.Group):
    """``compat suite …`` runs :func:`runsc_py.compat.suite.suite`; anything else is the
    command to compare (``compat [flags] [--] CMD …``), run by the hidden ``report``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] == "suite":
            suite = importlib.import_module("runsc_py.compat.suite").suite
            assert isinstance(suite, click.Command)
            return "suite", suite, args[1:]
        return _REPORT, report, args

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["suite"]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "suite":
            return self.resolve_command(ctx, ["suite"])[1]
        return None

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS] [--] CMD [ARGS]...  |  compat suite DIR|--list FILE [SUITE-OPTIONS]"]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([
                ("suite", "Run a conformance suite natively and sandboxed, per case "
                 "(`compat suite --help`)."),
            ])


@click.group(
    "compat",
    cls=CompatGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Default normalisation (--no-default-normalize turns it off), applied to stdout and
stderr of both runs before they are compared, in this order:
  pids             pid=12, "pid 12", PPid: 3, tid/tgid/pgid/pgrp/sid N -> <pid>;
                   /proc/12/ -> /proc/<pid>/; name[12] -> name[<pid>]
  dates and times  2026-12-04[T03:17:24.1+00:00] -> <date>; "Fri Dec  4 03:17:24 UTC
                   2026", ls -l's "Dec  4 03:17" -> <date>; 03:17:24 -> <time>;
                   Unix times 1600000000..1999999999 -> <epoch>; 0.25s, 12ms -> <duration>
--normalize REGEX (repeatable) replaces each match with <*>, after the defaults.

\b
Exit status: 0 same; 1 differs (exit status or signal, normalised stdout or stderr,
a run timed out, or the sandbox refused something: an unsupported syscall or
variant); 3 could not run
(the command is not found, or either run could not start); 2 usage error.

\b
--json prints one object (schema 1): verdict ("same" | "differs" | "could not run"),
reasons [str], command [str], native / sandbox {exit_code, signal, signal_name,
timed_out, seconds}, output {stdout, stderr: {same, diff (unified, normalised),
native_bytes, sandbox_bytes}}, normalize [{name, pattern, replacement}], unsupported
[{family (syscall|ioctl|fcntl|prctl|socket|setsockopt|getsockopt|xattr|clone),
detail, binary, count}], syscalls [{nr, name, family, count, fast (answered on the C fast path,
whose opens may fetch a file from the gofer themselves: not in gofer_requests),
sentry_us (the sentry's Python time on the others; a fork's and an exec's events count as
their call's), gofer_requests and gofer_us (the gofer requests it made for them and their
round trips, part of sentry_us), support (full|partial|unsupported|denied), policy, note}]
(missing first), totals {calls, distinct, fast, sentry_us, gofer_requests, gofer_us},
families [{family, calls, syscalls, calls_by_support,
refused_variants?}], not_counted [syscalls the host runs without a stop],
denied_by_filter [syscalls the seccomp filter refuses before the sentry sees them].
When a run could not start, only schema, command, verdict and reasons.""",
)
@click.option("--cwd", default=None, metavar="DIR",
              help="Working directory of both runs (default: the current one).")
@click.option("--env", "env_vars", multiple=True, metavar="K=V",
              help="Set a variable (repeatable).")
@click.option("--clear-env", is_flag=True,
              help="Start from an empty environment, then apply --env.")
@click.option("--uid", type=_ID_RANGE, default=None, help="User id (default: the caller's).")
@click.option("--gid", type=_ID_RANGE, default=None, help="Group id (default: the caller's).")
@click.option("--hostname", default=None, help="Hostname (default: the host's).")
@click.option("--network", type=click.Choice(["none", "host"]), default="none",
              show_default=True,
              help="none: both runs in a network namespace of their own with loopback up.")
@click.option("--pids-limit", type=int, default=DEFAULT_PIDS_LIMIT, show_default=True,
              help="The sandbox's task limit (the native run has the host's).")
@click.option("--memory-limit", default=None, metavar="SIZE",
              help="The sandbox's memory limit (the native run has the host's).")
@click.option("--normalize", "rules", multiple=True, metavar="REGEX",
              help="Replace matches with <*> in both outputs before comparing (repeatable).")
@click.option("--no-default-normalize", is_flag=True,
              help="Compare the outputs without the default rules (dates, times, pids).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Stop a run that takes longer (the sandbox gets "
              "SIGTERM first, so its counts up to then are kept; default: no limit).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (schema below).")
@click.option("--html", "html_file", default=None, metavar="FILE",
              help="Also write the report as one self-contained HTML page.")
def compat(**_params: Any) -> None:
    """Run CMD natively and in the sandbox; report the differences and every syscall it
    made: how often, how the sandbox supports it, and what the sandbox refused.

    The native run is pid 1 of fresh pid and mount namespaces (as in the sandbox); the
    sandboxed one is `runsc-py do`'s. Both get stdin /dev/null and the same environment,
    working directory, ids and hostname.

    `compat suite DIR|--list FILE` scores a whole conformance suite instead.
    """


class _Verbatim(click.Command):
    """Takes every argument as the command to compare: CMD's own options (``-h``,
    ``--json``) and a ``--`` among them are CMD's, not this program's."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params["command"] = tuple(args)
        return []


@click.command(_REPORT, cls=_Verbatim, hidden=True, add_help_option=False)
@click.pass_context
def report(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Compare one command (the group's flags are in the parent context)."""
    from runsc_py.compat import report as rep

    assert ctx.parent is not None
    p = ctx.parent.params
    opts = ctx.find_object(GlobalOptions)
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise click.UsageError("no command to compare")
    try:
        cwd = os.path.abspath(p["cwd"]) if p["cwd"] else os.getcwd()
    except OSError as e:
        raise UserError(f"cannot determine the current directory: {e.strerror}") from None
    env = {} if p["clear_env"] else dict(os.environ)
    for entry in spec.validate_env(list(p["env_vars"]), "--env", host_bytes=True):
        key, _, value = entry.partition("=")
        env[key] = value
    try:
        rules = rep.compile_rules(list(p["rules"]), not p["no_default_normalize"])
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--normalize") from None
    settings = rep.RunSettings(
        argv=argv, env=env, cwd=cwd, uid=p["uid"], gid=p["gid"],
        hostname=p["hostname"],
        network=p["network"], pids_limit=p["pids_limit"], memory_limit=p["memory_limit"],
        timeout=p["timeout"], global_args=_global_args(opts),
    )
    try:
        native = rep.run_native(settings)
    except rep.CouldNotRun as e:
        result = rep.could_not_run(settings, "native", str(e))
    else:
        try:
            sandboxed = rep.run_sandboxed(settings)
        except rep.CouldNotRun as e:
            result = rep.could_not_run(settings, "sandbox", str(e))
        else:
            result = rep.build(settings, native, sandboxed, rules)
    if p["html_file"]:
        from runsc_py.compat import html

        try:
            with open(p["html_file"], "w", encoding="utf-8") as f:
                f.write(html.render(result))
        except OSError as e:
            raise UserError(f"--html {p['html_file']}: {e.strerror}") from None
    if p["as_json"]:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(rep.render_text(result))
    ctx.exit(rep.exit_code(result))


def _global_args(opts: GlobalOptions | None) -> list[str]:
    """The global flags the sandboxed `runsc-py do` gets: this invocation's."""
    if opts is None:
        return []
    args = ["--root", opts.root, "--platform", opts.platform]
    if opts.log.debug:
        args.append("--debug")
    if opts.log.debug_log:
        args += ["--debug-log", opts.log.debug_log]
    if opts.strace:
        args.append("--strace")
    if opts.python_only:
        args.append("--python-only")
    return args
