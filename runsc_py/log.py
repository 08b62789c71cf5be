"""The CLI's logging: ``--log``, ``--log-format``, ``--debug`` and ``--debug-log``.

``--log FILE`` receives what containerd and podman read back: with ``--log-format json``, one
JSON object a line, ``{"level": "error", "msg": "...", "time": "<RFC 3339>"}`` (the shim
reports the last ``error`` line to the user). ``--debug-log`` receives everything at debug
level, tracebacks included, and is handed to the sentry too.

Handlers are attached per invocation and closed by :func:`close`, because one process may run
several commands (tests drive the CLI in-process).
"""

from __future__ import annotations

import _thread
import os
import sys
import time
from sentry.records import dataclass

from runsc_py import jsonc
from runsc_py.errors import UserError

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, TextIO

# Not the logging package: it (with the re, traceback, string and threading modules it
# imports) is a fifth of what a cheap command (start, state, kill, delete: several per
# container for every engine) costs to start; a few dozen lines do what the CLI needs.
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50

LOG_FORMATS = ("text", "json")

# logrus' level names, which the Go clients parse.
_LEVEL_NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error",
                CRITICAL: "fatal"}


def rfc3339(ts: float | None = None) -> str:
    """Local time with its UTC offset, as Go's ``time.RFC3339Nano`` parses it: what
    ``datetime.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="microseconds")``
    says, without importing :mod:`datetime` (~2 ms of ``create``, ``run`` and ``start``,
    which record their times).  Microseconds rounded half to even, as ``fromtimestamp``."""
    if ts is None:
        ts = time.time()
    whole = int(ts // 1)
    us = round((ts - whole) * 1e6)
    if us >= 1_000_000:
        whole, us = whole + 1, us - 1_000_000
    lt = time.localtime(whole)
    off = lt.tm_gmtoff or 0
    sign = "-" if off < 0 else "+"
    hh, rest = divmod(abs(off), 3600)
    mm, ss = divmod(rest, 60)
    zone = f"{sign}{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss else "")
    return (f"{lt.tm_year:04d}-{lt.tm_mon:02d}-{lt.tm_mday:02d}T{lt.tm_hour:02d}:"
            f"{lt.tm_min:02d}:{lt.tm_sec:02d}.{us:06d}{zone}")


def _traceback(exc_info: Any) -> str:
    import traceback

    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


def format_json(level: int, msg: str, created: float) -> str:
    """logrus' JSONFormatter: level, msg, time."""
    return jsonc.dumps({"level": _LEVEL_NAMES[level], "msg": msg, "time": rfc3339(created)},
                       ensure_ascii=False)


def format_text(level: int, msg: str, created: float) -> str:
    """logrus' TextFormatter: ``time="..." level=... msg="..."``."""
    return f'time="{rfc3339(created)}" level={_LEVEL_NAMES[level]} ' \
           f'msg={jsonc.dumps(msg, ensure_ascii=False)}'


class _Handler:
    """Where records of at least *level* go, one line each (a traceback follows its line
    in either format); *echoed*: also those the CLI printed on stderr itself."""

    __slots__ = ("stream", "level", "fmt", "echoed")

    def __init__(self, stream: TextIO, level: int, fmt: Any, echoed: bool = True) -> None:
        self.stream = stream
        self.level = level
        self.fmt = fmt
        self.echoed = echoed


class Logger:
    """The CLI's logger (what it needs of :class:`logging.Logger`): ``debug``, ``warning``
    and ``error`` with %-style arguments, ``exc_info`` and ``extra={"echoed": True}``
    (a record the CLI already printed on stderr: not written to stderr again)."""

    def __init__(self) -> None:
        self.handlers: list[_Handler] = []
        self._lock = _thread.allocate_lock()

    def log(self, level: int, msg: object, *args: object, exc_info: Any = None,
            extra: dict[str, Any] | None = None) -> None:
        handlers = [h for h in self.handlers if level >= h.level]
        if not handlers:
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):  # a bad format loses its formatting, not the call
            text = f"{msg} {args!r}"
        if exc_info:
            text = text + "\n" + _traceback(exc_info)
        echoed = bool(extra and extra.get("echoed"))
        created = time.time()
        with self._lock:
            for h in handlers:
                if echoed and not h.echoed:
                    continue
                try:
                    h.stream.write(h.fmt(level, text, created) + "\n")
                    h.stream.flush()
                except (OSError, ValueError):
                    pass  # a full disk or a closed stream loses the line, not the command

    def debug(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(DEBUG, msg, *args, **kw)

    def warning(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(WARNING, msg, *args, **kw)

    def error(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(ERROR, msg, *args, **kw)


logger = Logger()
# A child forked while another thread wrote a line must not inherit its lock taken.
os.register_at_fork(after_in_child=lambda: setattr(logger, "_lock", _thread.allocate_lock()))


@dataclass
class LogOptions:
    """The global logging flags.

    :param log: ``--log`` path, or None.
    :param log_format: ``text`` or ``json``.
    :param debug: ``--debug``: debug level everywhere.
    :param debug_log: ``--debug-log`` as given (may be a directory ending in ``/`` and
        contain ``%TIMESTAMP%`` / ``%COMMAND%``).
    """

    log: str | None = None
    log_format: str = "text"
    debug: bool = False
    debug_log: str | None = None


def resolve_debug_log(pattern: str, command: str, now: float | None = None) -> str:
    """Expand a ``--debug-log`` value into an absolute file path.

    As in runsc, a value ending in ``/`` names a directory that receives one file per
    invocation, and ``%TIMESTAMP%`` / ``%COMMAND%`` are substituted, so one static flag in a
    containerd or podman configuration still gives each call its own file.
    """
    import datetime

    if now is None:
        now = time.time()
    stamp = datetime.datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S.%f")
    if pattern.endswith("/"):
        pattern = pattern + "runsc-py.log.%TIMESTAMP%.%COMMAND%"
    path = pattern.replace("%TIMESTAMP%", stamp).replace("%COMMAND%", command or "none")
    return os.path.abspath(path)


# Files opened by configure(), closed by close(); stderr is never among them.
_opened: list[TextIO] = []


def _open_append(path: str, what: str) -> TextIO:
    try:
        # Lives as long as the invocation; close() closes it.
        f = open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
    except OSError as e:
        raise UserError(f"cannot open {what} {path}: {e.strerror}") from None
    _opened.append(f)
    return f


def configure(opts: LogOptions, command: str) -> str | None:
    """Attach this invocation's handlers to :data:`logger`.

    :returns: the absolute debug log path, or None.
    :raises UserError: a log file cannot be opened.
    """
    close()
    level = DEBUG if opts.debug else INFO
    fmt = format_json if opts.log_format == "json" else format_text
    debug_path: str | None = None
    if opts.debug_log:
        debug_path = resolve_debug_log(opts.debug_log, command)
        parent = os.path.dirname(debug_path)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            raise UserError(
                f"cannot create debug log directory {parent}: {e.strerror}"
            ) from None
        logger.handlers.append(_Handler(_open_append(debug_path, "debug log"), DEBUG,
                                        format_text))
    if opts.log:
        logger.handlers.append(_Handler(_open_append(opts.log, "log file"), level, fmt))
    elif opts.debug:
        # runc logs to stderr when --log is not given.
        logger.handlers.append(_Handler(sys.stderr, DEBUG, fmt, echoed=False))
    return debug_path


def has_debug_destination() -> bool:
    """Whether a debug-level record (a traceback) would be written anywhere."""
    return any(h.level <= DEBUG for h in logger.handlers)


def flush_stdio() -> None:
    """Flush stdout and stderr before a process ends with ``os._exit`` (no interpreter
    clean-up does it); a closed or broken stream is left as it is."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def close() -> None:
    """Detach this invocation's handlers and close its files (stderr is left open)."""
    logger.handlers.clear()
    while _opened:
        try:
            _opened.pop().close()
        except OSError:
            pass
