"""tmpfs: files in sentry memory (see :mod:`sentry.fsimpl.tmpfs.filesystem`)."""
