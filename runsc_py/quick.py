"""The commands an engine runs several times per container, without the CLI framework.

containerd's shim, docker and podman call ``start``, ``state``, ``kill`` and ``delete``
once or more for every container, each a fresh process; click (with what it imports) was
about a third of what each cost. :func:`run` takes exactly the argument forms they use
(the global flags as ``runsc-py --help`` lists them, then the verb, its flags and
arguments) and runs the same :mod:`~runsc_py.container.lifecycle` call as the click
command, with the same messages, log lines and exit codes (:mod:`runsc_py.cli`'s
``RunscGroup.invoke``); anything else (``--help``, a flag it does not know, a missing or
extra argument, ``--``) returns None and the CLI parses it as always, with its own
messages.
"""

from __future__ import annotations

import os
import sys

#: Global flags that take a value, and those that do not (``runsc-py --help``).
_VALUE_FLAGS = ("--root", "--log", "--log-format", "--debug-log", "--platform")
_BOOL_FLAGS = ("--debug", "--strace", "--python-only")
#: Each verb's flags (all without a value: name -> the keyword they set) and how many
#: arguments it takes (least, most).
_VERBS: dict[str, tuple[dict[str, str], int, int]] = {
    "state": ({}, 1, 1),
    "start": ({}, 1, 1),
    "kill": ({"--all": "all_", "-a": "all_"}, 1, 2),
    "delete": ({"--force": "force", "-f": "force"}, 1, 1),
}


def parse(args: list[str]) -> tuple[dict[str, str | None], set[str], str, dict[str, bool],
                                    list[str]] | None:
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
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            glob[name] = value
        elif name in _BOOL_FLAGS and not eq:
            bools.add(name)
        else:
            return None
        i += 1
    if i >= len(args) or args[i] not in _VERBS:
        return None
    if not glob["--root"] or not glob["--platform"] or glob["--log-format"] not in ("text", "json"):
        return None  # the CLI's own error
    verb = args[i]
    known, least, most = _VERBS[verb]
    flags = {key: False for key in known.values()}
    rest: list[str] = []
    for arg in args[i + 1:]:
        if arg.startswith("-") and arg != "-":
            if arg not in known:
                return None
            flags[known[arg]] = True
        else:
            rest.append(arg)
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
    from runsc_py.errors import EXIT_INTERNAL, UserError, one_line

    try:
        log.configure(log.LogOptions(log=glob["--log"], log_format=glob["--log-format"] or "",
                                     debug="--debug" in bools,
                                     debug_log=glob["--debug-log"]), verb)
        _call(os.path.abspath(str(glob["--root"])), verb, flags, rest)
        return 0
    except UserError as e:
        _report(e.msg)
        return e.exit_code
    # As the CLI's: a bug is one line, its traceback in the debug log.
    except Exception as e:  # noqa: BLE001
        log.logger.debug("internal error", exc_info=True)
        hint = "" if log.has_debug_destination() else " (--debug-log FILE records the traceback)"
        _report(f"internal error: {type(e).__name__}: {one_line(str(e))}{hint}")
        return EXIT_INTERNAL
    finally:
        log.close()


def _call(root: str, verb: str, flags: dict[str, bool], rest: list[str]) -> None:
    from runsc_py.container import lifecycle

    if verb == "state":
        import json

        sys.stdout.write(json.dumps(lifecycle.state(root, rest[0]), indent=2) + "\n")
    elif verb == "start":
        lifecycle.start(root, rest[0])
    elif verb == "kill":
        from runsc_py.signals import parse_signal

        lifecycle.kill(root, rest[0], parse_signal(rest[1] if len(rest) > 1 else "SIGTERM"),
                       flags["all_"])
    else:
        lifecycle.delete(root, rest[0], flags["force"])


def _report(msg: str) -> None:
    # As runsc_py.cli._report: the log first (stderr may not be writable).
    from runsc_py.log import logger

    logger.error("%s", msg, extra={"echoed": True})
    line = f"runsc-py: {msg}\n"
    try:
        if "\033" in line and not sys.stderr.isatty():
            import re  # as click.echo: no terminal, no colour codes

            line = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", line)
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
