"""What may differ between native and sandboxed output, and nothing else.

Tests are written so that their output is already stable (fixed mtimes, sorted listings, no raw
pids printed); the normaliser only covers what cannot be avoided, and only when a test asks.
"""

from __future__ import annotations

import re
import socket

_TIME = re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\b")


def normalize(
    text: str,
    *,
    hostnames: dict[str, str] | None = None,
    pids: bool = False,
    times: bool = False,
) -> str:
    """Return *text* with the requested differences erased.

    :param hostnames: each key replaced by its value (e.g. the host's name → ``HOST``).
    :param pids: every whitespace-delimited integer in a ``PID``-like column (any run of digits
        standing alone) replaced by ``<N>``. Coarse: use only on text whose other numbers are
        not the point.
    :param times: ``HH:MM[:SS]`` replaced by ``<T>``.
    """
    for old, new in (hostnames or {}).items():
        text = text.replace(old, new)
    if times:
        text = _TIME.sub("<T>", text)
    if pids:
        text = re.sub(r"(?<![\w.-])\d+(?![\w.-])", "<N>", text)
    return text


def host_hostname() -> str:
    return socket.gethostname()


def ps_commands(ps_output: str) -> tuple[set[int], list[str]]:
    """Parse busybox ``ps -o pid,args`` output into (pids, sorted list of commands)."""
    pids: set[int] = set()
    cmds: list[str] = []
    for line in ps_output.splitlines()[1:]:
        parts = line.split(None, 1)
        if not parts or not parts[0].isdigit():
            continue
        pids.add(int(parts[0]))
        cmds.append(parts[1].strip() if len(parts) > 1 else "")
    return pids, sorted(cmds)
