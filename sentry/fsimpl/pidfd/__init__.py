"""pidfd file descriptions (see the module of this package)."""
