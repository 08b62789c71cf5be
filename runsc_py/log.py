"""The CLI's logging: ``--log``, ``--log-format``, ``--debug`` and ``--debug-log``.

``--log FILE`` receives what containerd and podman read back: with ``--log-format json``, one
JSON object a line, ``{"level": "error", "msg": "...", "time": "<RFC 3339>"}`` (the shim
reports the last ``error`` line to the user). ``--debug-log`` receives everything at debug
level, tracebacks included, and is handed to the sentry too.

Handlers are attached per invocation and closed by :func:`close`, because one process may run
several commands (tests drive the CLI in-process).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import time
from sentry.records import dataclass
from typing import TextIO

from runsc_py.errors import UserError

logger = logging.getLogger("runsc_py")
logger.propagate = False
logger.setLevel(logging.DEBUG)
# Without any handler, logging's last-resort handler would print warnings and errors on
# stderr a second time.
logger.addHandler(logging.NullHandler())

LOG_FORMATS = ("text", "json")

# logrus' level names, which the Go clients parse.
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}


def rfc3339(ts: float | None = None) -> str:
    """Local time with its UTC offset, as Go's ``time.RFC3339Nano`` parses it."""
    if ts is None:
        ts = time.time()
    return (
        datetime.datetime.fromtimestamp(ts)
        .astimezone()
        .isoformat(timespec="microseconds")
    )


def _level_name(levelno: int) -> str:
    return _LEVEL_NAMES.get(levelno, logging.getLevelName(levelno).lower())


class JSONFormatter(logging.Formatter):
    """logrus' JSONFormatter: level, msg, time."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info:
            msg = msg + "\n" + self.formatException(record.exc_info)
        return json.dumps(
            {
                "level": _level_name(record.levelno),
                "msg": msg,
                "time": rfc3339(record.created),
            },
            ensure_ascii=False,
        )


class TextFormatter(logging.Formatter):
    """logrus' TextFormatter: ``time="..." level=... msg="..."``; tracebacks follow the line."""

    def format(self, record: logging.LogRecord) -> str:
        msg = json.dumps(record.getMessage(), ensure_ascii=False)
        line = f'time="{rfc3339(record.created)}" level={_level_name(record.levelno)} msg={msg}'
        if record.exc_info:
            line = line + "\n" + self.formatException(record.exc_info)
        return line


class _NotEchoed(logging.Filter):
    """Drops records the CLI already printed on stderr itself (``extra={"echoed": True}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "echoed", False)


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
    level = logging.DEBUG if opts.debug else logging.INFO
    formatter: logging.Formatter = (
        JSONFormatter() if opts.log_format == "json" else TextFormatter()
    )
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
        handler: logging.Handler = logging.StreamHandler(
            _open_append(debug_path, "debug log")
        )
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(TextFormatter())
        logger.addHandler(handler)
    if opts.log:
        handler = logging.StreamHandler(_open_append(opts.log, "log file"))
        handler.setLevel(level)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    elif opts.debug:
        # runc logs to stderr when --log is not given.
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(formatter)
        handler.addFilter(_NotEchoed())
        logger.addHandler(handler)
    return debug_path


def has_debug_destination() -> bool:
    """Whether a debug-level record (a traceback) would be written anywhere."""
    return any(
        h.level <= logging.DEBUG and not isinstance(h, logging.NullHandler)
        for h in logger.handlers
    )


def flush_stdio() -> None:
    """Flush stdout and stderr before a process ends with ``os._exit`` (no interpreter
    clean-up does it); a closed or broken stream is left as it is."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def close() -> None:
    """Detach and close this invocation's handlers (stderr is left open)."""
    for handler in list(logger.handlers):
        if isinstance(handler, logging.NullHandler):
            continue
        logger.removeHandler(handler)
        handler.flush()
        handler.close()
    while _opened:
        _opened.pop().close()
