"""The global flags, given to every command (by click's context object, or by :mod:`runsc_py.quick`)."""

from __future__ import annotations

from sentry.records import dataclass, field

from runsc_py.log import LogOptions

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:  # annotations only: most commands never load the sentry's config
    from sentry.config import BootConfig


@dataclass
class GlobalOptions:
    """Flags given before the verb, as with runc.

    :param root: state directory (``--root``).
    :param debug_log_path: ``--debug-log`` resolved to this invocation's file.
    """

    root: str
    log: LogOptions = field(default_factory=LogOptions)
    strace: bool = False
    platform: str = "hybrid"
    python_only: bool = False
    debug_log_path: str | None = None

    def apply(self, cfg: BootConfig) -> BootConfig:
        """Copy the flags that reach the sentry into *cfg*."""
        cfg.debug = self.log.debug
        cfg.debug_log = self.debug_log_path
        cfg.strace = self.strace
        cfg.platform = self.platform
        cfg.python_only = self.python_only
        return cfg

