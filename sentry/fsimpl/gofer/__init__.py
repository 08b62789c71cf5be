"""gofer file system (see the modules of this package)."""
