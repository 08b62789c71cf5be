"""Signal names and numbers as runc's ``kill`` takes them."""

from __future__ import annotations

import _signal

from runsc_py.errors import UserError

SIGRTMIN, SIGRTMAX = 34, 64

#: The names signal.Signals has (aliases too), from the C module: without the enum.
_NAMES = {name: value for name, value in vars(_signal).items()
          if name.isupper() and name.startswith("SIG") and not name.startswith("SIG_")}


def parse_signal(text: str) -> int:
    """``9``, ``KILL``, ``SIGKILL``, ``sigterm``, ``RTMIN+3`` → a signal number.

    :raises UserError: not a signal.
    """
    raw = text.strip()
    if raw.isdigit():
        n = int(raw)
        if 1 <= n <= SIGRTMAX:
            return n
        raise UserError(f"invalid signal {text!r}")
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    for base, n in (("SIGRTMIN", SIGRTMIN), ("SIGRTMAX", SIGRTMAX)):
        if name == base:
            return n
        if name.startswith(base + "+") or name.startswith(base + "-"):
            off = name[len(base) :]
            if off[1:].isdigit():
                v = n + int(off)
                if SIGRTMIN <= v <= SIGRTMAX:
                    return v
            raise UserError(f"invalid signal {text!r}")
    try:
        return int(_NAMES[name])
    except KeyError:
        raise UserError(f"invalid signal {text!r}") from None
