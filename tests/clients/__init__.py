"""Tests through real container engines (containerd's ctr, ...) against each runtime in
``helpers.RUNTIMES``; see ``helpers`` and ``conftest``."""
