"""The ``runsc-py`` program's first step, before the CLI (click) is imported.

``do`` runs its sandbox in this process, and its sentry spends its first ~100 ms importing
the sentry.  So when the command line asks for one, the sentry is
forked first (:func:`sentry.supervisor.prestart`) and imports while this process imports
the CLI and prepares the sandbox, on the other CPU.  Only what can be seen from the raw
arguments: the global flags before the verb (as ``runsc-py --help`` lists them), then
``do`` without ``--memory-limit`` (a sandbox in a cgroup of its own: a prestarted sentry
would have allocated outside it).  Anything else, or a ``do`` that fails before it starts
its sandbox, leaves nothing behind: :func:`runsc_py.cli.entry` discards an unused one.
"""

from __future__ import annotations

import gc
import sys

TYPE_CHECKING = False  # typing costs ~3 ms of a cheap command (runsc_py.quick)
if TYPE_CHECKING:
    from typing import NoReturn

#: The global flags that take a value (``--flag VALUE``; ``--flag=VALUE`` is one word).
_VALUE_FLAGS = frozenset({"--root", "--log", "--log-format", "--debug-log", "--platform"})


def prestarts(args: list[str]) -> bool:
    """Whether *args* (without the program name) run ``do`` in a sandbox of no cgroup."""
    i = _verb_at(args)
    if i >= len(args) or args[i] != "do":
        return False
    for arg in args[i + 1:]:
        if arg == "--" or not arg.startswith("-"):
            return True
        if arg.startswith("--memory-limit") or arg in ("-h", "--help"):
            return False
    return True


#: What both the CLI and the sentry import (the sentry's boot and supervisor, ctypes,
#: _pickle for the work the CLI hands over), imported once before the fork rather than by
#: each after it.  Only what both need: the rest is imported by each on its own CPU after
#: the fork.  (No typing, json, pickle.py or re: the sentry imports none of them,
#: tests/unit/test_preload.py.)
_COMMON = ("sentry.boot", "sentry.supervisor", "sentry.control.server", "ctypes", "_pickle")


#: The verbs that start a sentry, whose imports the code bundle speeds up (the quick verbs'
#: too, below).
_SANDBOX_VERBS = frozenset({"do", "run", "create", "exec"})


def _verb_at(args: list[str]) -> int:
    """Where the verb is in *args*: after the global flags (as ``runsc-py --help`` lists
    them); ``len(args)`` if there is none."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _VALUE_FLAGS else 1
    return min(i, len(args))


def _verb(args: list[str]) -> str:
    i = _verb_at(args)
    return args[i] if i < len(args) else ""


#: The verbs engines run for every container, taken without the CLI framework when their
#: arguments have the usual form (:mod:`runsc_py.quick`).
_QUICK_VERBS = frozenset({"create", "start", "state", "kill", "delete", "run", "do"})


def entry() -> NoReturn:
    """The console script and ``python3 -m runsc_py``."""
    # A command is mostly its imports (the sentry's, for a sandbox), which make little
    # garbage, and the cyclic collector ran all through them: a young collection every
    # 700 allocations, full ones that walked every object made so far.  It is off until
    # a process that lives on turns it on: the supervisor (sentry.supervisor.run), a
    # foreground run's wait, click's commands (runsc_py.cli.entry), the sentry when its
    # boot ends, the gofer.  (sentry.prestart.fork also freezes what the two hold.)
    gc.disable()
    verb = _verb(sys.argv[1:])
    if verb in _SANDBOX_VERBS:
        _raise_nofile()
    if verb in _SANDBOX_VERBS or verb in _QUICK_VERBS:
        from runsc_py import codebundle

        codebundle.install()
    if prestarts(sys.argv[1:]):
        import importlib

        for name in _COMMON:
            importlib.import_module(name)
        from sentry import supervisor

        supervisor.prestart()
    if verb in _QUICK_VERBS:
        from runsc_py import quick

        status = quick.run(sys.argv[1:])
        if status is not None:
            exit_now(status)
    from runsc_py.cli import entry as cli_entry

    cli_entry()


def _raise_nofile() -> None:
    """Raise the soft RLIMIT_NOFILE to the hard one (as Go's runtime does for runsc),
    for the sentry, the gofer and the supervisor this process becomes or starts (the
    verbs that start a sandbox or a process in one: _SANDBOX_VERBS): the
    sentry holds a host fd for each gofer file the sandbox has open and keeps some for
    re-opens, and at a shell's usual 1,024 a sandbox's ~1,300th open of a distinct file
    failed, its gofer channel broken by a reply whose fd could not be received."""
    import resource

    global _caller_nofile
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            return  # a hard limit above fs.nr_open (lowered since): the soft one stays
        _caller_nofile = (soft, hard)


#: RLIMIT_NOFILE as the caller set it, before _raise_nofile (None: not raised).
_caller_nofile: tuple[int, int] | None = None


def raised_from() -> tuple[int, int] | None:
    """The caller's RLIMIT_NOFILE if this process raised its own since, else None."""
    return _caller_nofile


def caller_nofile() -> tuple[int, int]:
    """RLIMIT_NOFILE as the caller of this command has it (what `do` gives the sandbox,
    as a command run by the caller would have), whatever _raise_nofile did since."""
    if _caller_nofile is not None:
        return _caller_nofile
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)


def exit_now(status: int) -> NoReturn:
    """End the process with *status* without the interpreter's clean-up (engines run the
    CLI several times per container, and tearing down every module it imported was a sixth
    of what a cheap command cost): output flushed, the sentry's logging (``do``, ``run``)
    shut down, an unused prestarted sentry discarded."""
    import os

    from runsc_py.log import flush_stdio

    flush_stdio()
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    supervisor = sys.modules.get("sentry.supervisor")
    if supervisor is not None:
        supervisor.discard_prestarted()  # prestart()'s, if nothing used it
    os._exit(status & 0xFF)
