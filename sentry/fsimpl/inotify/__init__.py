"""inotify instances (see the module of this package)."""
