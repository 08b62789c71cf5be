"""procfs (see :mod:`sentry.fsimpl.proc.filesystem` and :mod:`sentry.fsimpl.proc.proc`)."""
