"""The sentry's loggers, with the standard library's :mod:`logging` imported only when a
record is to be written somewhere.

``logging`` (with ``traceback``, ``linecache``, ``tokenize``, ``textwrap`` and ``string``
under it) was ~3 ms of every start's critical path, though a sandbox started without
``--debug``, ``--debug-log`` or ``--strace`` writes no record at all.  A :class:`Logger`
here has the calls the sentry makes (``debug``, ``info``, ``warning``, ``error``,
``exception``, with ``logging``'s arguments) and passes a record of at least the
threshold on to ``logging.getLogger(name)``:

- WARNING until boot sets it: what ``logging`` writes when nothing configured it (to
  stderr, through its last-resort handler), in the supervisor and in a sentry before its
  boot;
- what :func:`sentry.boot._setup_logging` sets from the log options: DEBUG or INFO, with
  ``logging`` configured there and then (before confinement: a confined sentry can import
  nothing the code bundle does not hold), or :data:`OFF` for a sandbox without a log, whose
  records go nowhere (as before, to a ``NullHandler``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
#: Above every level: no record is passed on.
OFF = 100

_threshold = WARNING


def set_threshold(level: int) -> None:
    """Pass records of *level* and above on to :mod:`logging` from now on."""
    global _threshold
    _threshold = level


def enabled(level: int) -> bool:
    """Whether a record of *level* would be passed on (to skip the work of making one)."""
    return level >= _threshold


class Logger:
    """``logging.getLogger(name)``, imported at the first record it passes on."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def log(self, level: int, msg: object, *args: Any, **kw: Any) -> None:
        if level >= _threshold:
            import logging

            logging.getLogger(self.name).log(level, msg, *args, **kw)

    def debug(self, msg: object, *args: Any, **kw: Any) -> None:
        self.log(DEBUG, msg, *args, **kw)

    def info(self, msg: object, *args: Any, **kw: Any) -> None:
        self.log(INFO, msg, *args, **kw)

    def warning(self, msg: object, *args: Any, **kw: Any) -> None:
        self.log(WARNING, msg, *args, **kw)

    def error(self, msg: object, *args: Any, **kw: Any) -> None:
        self.log(ERROR, msg, *args, **kw)

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kw: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self.log(ERROR, msg, *args, exc_info=exc_info, **kw)


def get(name: str) -> Logger:
    """The sentry's logger *name* (``logging.getLogger``'s names)."""
    return Logger(name)
