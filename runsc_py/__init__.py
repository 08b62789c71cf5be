"""runsc-py: an OCI runtime that runs containers on a user-space kernel (the sentry)."""

__version__ = "0.1.0"
