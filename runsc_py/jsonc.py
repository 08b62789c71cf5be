"""JSON for the commands engines run for every container, without :mod:`json`.

``json`` imports ``re`` (with its parser and compiler) for patterns its C accelerator
does not use: ~2 ms of a ``start``, ``kill``, ``state`` or ``delete`` of ~20 ms, and
containerd's shim runs five such commands per container.  This module calls the
accelerator (``_json``, the standard library's C half of ``json``) directly and gives
what :func:`json.loads` and :func:`json.dumps` give for the calls the runtime makes:

- :func:`loads` of a ``str`` or UTF-8 ``bytes``: the same values, and on malformed input
  the same :class:`json.JSONDecodeError` (``json`` is imported then, for the error);
- :func:`dumps` with ``ensure_ascii`` and ``default`` as ``json.dumps`` takes them, and
  ``indent=2`` (the state file, the ``state`` command's output): the same text.

``tests/unit/test_jsonc.py`` compares both ways with ``json`` on random documents.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE's characters
_INF = float("inf")
_CONSTANTS = {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}


class _Context:
    """What ``_json.make_scanner`` reads of a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # its attributes are read


def _error(msg: str, doc: str, pos: int) -> ValueError:
    from json import JSONDecodeError

    return JSONDecodeError(msg, doc, pos)


def loads(s: str | bytes | bytearray) -> Any:
    """``json.loads(s)`` (bytes: UTF-8)."""
    if not isinstance(s, str):
        s = bytes(s).decode("utf-8")
    if s.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", s, 0)
    start = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(s, start)
    except StopIteration as e:
        raise _error("Expecting value", s, e.value) from None
    if end != len(s) and s[end:].strip(_WHITESPACE):
        raise _error("Extra data", s, len(s) - len(s[end:].lstrip(_WHITESPACE)))
    return obj


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _INF:
        return "Infinity"
    if o == -_INF:
        return "-Infinity"
    return float.__repr__(o)


def dumps(obj: Any, *, indent: Optional[int] = None, ensure_ascii: bool = True,
          default: Optional[Callable[[Any], Any]] = None) -> str:
    """``json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, default=default)``."""
    enc = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    dflt = default if default is not None else _no_default
    if indent is None:
        if isinstance(obj, str):
            return enc(obj)
        it = _json.make_encoder({}, dflt, enc, None, ": ", ", ", False, False, True)
        return "".join(it(obj, 0))
    out: list[str] = []
    _pretty(obj, 0, " " * indent, out, enc, dflt, {})
    return "".join(out)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return _float(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def _pretty(o: Any, level: int, unit: str, out: list[str], enc: Callable[[str], str],
            dflt: Callable[[Any], Any], markers: dict[int, Any]) -> None:
    """json.encoder._make_iterencode with an indent (its item separator ``,``)."""
    if isinstance(o, str):
        out.append(enc(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, (list, tuple, dict)):
        if not o:
            out.append("[]" if not isinstance(o, dict) else "{}")
            return
        if id(o) in markers:
            raise ValueError("Circular reference detected")
        markers[id(o)] = o
        pad = "\n" + unit * (level + 1)
        if isinstance(o, dict):
            out.append("{")
            for i, (k, v) in enumerate(o.items()):
                out.append(pad if i == 0 else "," + pad)
                out.append(enc(_key(k)))
                out.append(": ")
                _pretty(v, level + 1, unit, out, enc, dflt, markers)
            out.append("\n" + unit * level + "}")
        else:
            out.append("[")
            for i, v in enumerate(o):
                out.append(pad if i == 0 else "," + pad)
                _pretty(v, level + 1, unit, out, enc, dflt, markers)
            out.append("\n" + unit * level + "]")
        del markers[id(o)]
    else:
        if id(o) in markers:
            raise ValueError("Circular reference detected")
        markers[id(o)] = o
        _pretty(dflt(o), level, unit, out, enc, dflt, markers)
        del markers[id(o)]
