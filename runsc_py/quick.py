"""The commands an engine runs for every container, without the CLI framework.

containerd's shim, docker and podman call ``create``, ``start``, ``state``, ``kill`` and
``delete`` once or more for every container, each a fresh process whose cost was mostly
imports: click (with what it imports) about a third of a cheap command's. :func:`run`
takes exactly the argument forms they use (the global flags as ``runsc-py --help`` lists
them, then the verb, its flags and arguments; ``run``, and ``do`` without flags of its
own, too) and makes the same call as the click command (:mod:`runsc_py.verbs`,
:mod:`~runsc_py.container.lifecycle`), with the same messages, log lines and exit codes
(:mod:`runsc_py.cli`'s ``RunscGroup.invoke``); anything else (``--help``, a flag it does
not know, a missing or extra argument, ``--``, a flag's value that starts with ``-``)
returns None and the CLI parses it as always, with its own messages.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

#: Global flags that take a value, and those that do not (``runsc-py --help``).
_VALUE_FLAGS = ("--root", "--log", "--log-format", "--debug-log", "--platform")
_BOOL_FLAGS = ("--debug", "--strace", "--python-only")
#: Each verb's flags (flag -> the keyword it sets and whether it takes a value) and how
#: many arguments it takes (least, most).
_BUNDLE = {"--bundle": ("bundle", True), "-b": ("bundle", True),
           "--pid-file": ("pid_file", True)}
_VERBS: dict[str, tuple[dict[str, tuple[str, bool]], int, int]] = {
    "state": ({}, 1, 1),
    "start": ({}, 1, 1),
    "kill": ({"--all": ("all_", False), "-a": ("all_", False)}, 1, 2),
    "delete": ({"--force": ("force", False), "-f": ("force", False)}, 1, 1),
    "create": ({**_BUNDLE, "--console-socket": ("console_socket", True),
                "--no-pivot": ("no_pivot", False), "--no-new-keyring": ("no_keyring", False)},
               1, 1),
    "run": ({**_BUNDLE, "--detach": ("detach", False), "-d": ("detach", False),
             "--keep": ("keep", False)}, 1, 1),
}


def parse(args: list[str]) -> tuple[dict[str, str | None], set[str], str,
                                    dict[str, str | bool | None], list[str]] | None:
    """(global flags with a value, those without, verb, its flags, arguments) of *args*
    (no program name), or None if they are not in a form :func:`run` takes."""
    from runsc_py.container.state import DEFAULT_ROOT

    glob: dict[str, str | None] = {"--root": DEFAULT_ROOT, "--log": None,
                                   "--log-format": "text", "--debug-log": None,
                                   "--platform": "hybrid"}
    bools: set[str] = set()
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name in _VALUE_FLAGS:
            if not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    return None
                i += 1
                value = args[i]
            glob[name] = value
        elif name in _BOOL_FLAGS and not eq:
            bools.add(name)
        else:
            return None
        i += 1
    if not glob["--root"] or not glob["--platform"] or glob["--log-format"] not in ("text", "json"):
        return None  # the CLI's own error
    if i < len(args) and args[i] == "do":
        # Everything after the verb is the command (as click's, interspersed args off);
        # do's own flags are click's to parse.
        command = args[i + 2:] if args[i + 1:i + 2] == ["--"] else args[i + 1:]
        if not command or (args[i + 1] != "--" and args[i + 1].startswith("-")):
            return None
        return glob, bools, "do", {}, command
    if i >= len(args) or args[i] not in _VERBS:
        return None
    verb = args[i]
    known, least, most = _VERBS[verb]
    flags: dict[str, str | bool | None] = {}
    for key, takes in known.values():
        flags[key] = None if takes else False
    rest: list[str] = []
    j = i + 1
    while j < len(args):
        arg = args[j]
        j += 1
        if not arg.startswith("-") or arg == "-":
            rest.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in known:
            return None
        key, takes = known[name]
        if not takes:
            if eq:
                return None
            flags[key] = True
            continue
        if not eq:
            if j >= len(args) or args[j].startswith("-"):
                return None
            value = args[j]
            j += 1
        flags[key] = value
    if not least <= len(rest) <= most:
        return None
    return glob, bools, verb, flags, rest


def run(args: list[str]) -> int | None:
    """Run *args* if :func:`parse` takes them; the exit status, or None."""
    parsed = parse(args)
    if parsed is None:
        return None
    glob, bools, verb, flags, rest = parsed
    from runsc_py import log
    from runsc_py.errors import EXIT_INTERNAL, UserError

    try:
        opts = log.LogOptions(log=glob["--log"], log_format=glob["--log-format"] or "",
                              debug="--debug" in bools, debug_log=glob["--debug-log"])
        debug_log_path = log.configure(opts, verb)
        return _call(glob, bools, opts, debug_log_path, verb, flags, rest)
    except UserError as e:
        report(e.msg)
        return e.exit_code
    except (EOFError, KeyboardInterrupt):
        _echo("\nAborted!\n")  # as click's
        return 1
    except Exception as e:  # noqa: BLE001 - see report_bug
        report_bug(e)
        return EXIT_INTERNAL
    finally:
        log.close()


def _call(glob: dict[str, str | None], bools: set[str], log_opts: Any,
          debug_log_path: str | None, verb: str, flags: dict[str, str | bool | None],
          rest: list[str]) -> int:
    root = os.path.abspath(str(glob["--root"]))
    if verb in ("create", "run", "do"):
        from runsc_py import verbs
        from runsc_py.context import GlobalOptions

        opts = GlobalOptions(root=root, log=log_opts, strace="--strace" in bools,
                             platform=str(glob["--platform"]),
                             python_only="--python-only" in bools,
                             debug_log_path=debug_log_path)
        if verb == "do":
            return verbs.do(opts, rest)
        bundle, pid_file = _text(flags["bundle"]), _text(flags["pid_file"])
        if verb == "create":
            verbs.create(opts, bundle, pid_file, _text(flags["console_socket"]), 0, rest[0])
            return 0
        return verbs.run(opts, bundle, pid_file, bool(flags["detach"]), bool(flags["keep"]),
                         rest[0])
    from runsc_py.container import lifecycle

    if verb == "state":
        from runsc_py import jsonc

        sys.stdout.write(jsonc.dumps(lifecycle.state(root, rest[0]), indent=2) + "\n")
    elif verb == "start":
        lifecycle.start(root, rest[0])
    elif verb == "kill":
        from runsc_py.signals import parse_signal

        lifecycle.kill(root, rest[0], parse_signal(rest[1] if len(rest) > 1 else "SIGTERM"),
                       bool(flags["all_"]))
    else:
        lifecycle.delete(root, rest[0], bool(flags["force"]))
    return 0


def _text(v: str | bool | None) -> str | None:
    return v if isinstance(v, str) else None


def report(msg: str) -> None:
    """A user's error: the log first (engines read it, and stderr may not be writable:
    containerd's shim gives a pod's sandbox container /dev/null opened read-only as fds
    0-2), then ``runsc-py: <msg>`` on stderr. The click CLI reports the same way."""
    from runsc_py.log import logger

    logger.error("%s", msg, extra={"echoed": True})
    _echo(f"runsc-py: {msg}\n")


def report_bug(e: Exception) -> None:
    """A bug (any other exception): one ``internal error`` line, its traceback in the
    debug log, never on the user's terminal. (The one place a blind catch is the design,
    in both CLI paths.)"""
    from runsc_py import log
    from runsc_py.errors import one_line

    log.logger.debug("internal error", exc_info=True)
    hint = "" if log.has_debug_destination() else " (--debug-log FILE records the traceback)"
    report(f"internal error: {type(e).__name__}: {one_line(str(e))}{hint}")


def _echo(text: str) -> None:
    try:
        if "\033" in text and not sys.stderr.isatty():
            import re  # as click.echo: no terminal, no colour codes

            text = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
