"""Unix socket paths longer than ``sun_path`` (108 bytes).

A container's control socket lives in its state directory, and engines make long ones
(docker: ``/run/docker/runtime-NAME/moby/<64 hex digits>/``). The path is reached through
the directory's fd instead: ``/proc/self/fd/N/NAME`` resolves like the real path (the
kernel walks the magic link) and always fits. Abstract sockets would fit too, but anyone
in the network namespace may connect to those; a path keeps the directory's permissions.
"""

from __future__ import annotations

import os

SUN_PATH_MAX = 107  # bytes, without the terminating NUL


class short_path:  # noqa: N801 - used as a function: with short_path(p) as short
    """``with short_path(path) as short``: a path naming the same socket file as *path*
    that fits ``sun_path``, for the block.  (A class, not contextlib's decorator: the
    CLI's cheap commands do not import contextlib, functools and collections.)

    :raises OSError: the directory cannot be opened.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> str:
        if len(os.fsencode(self.path)) <= SUN_PATH_MAX:
            return self.path
        directory, name = os.path.split(self.path)
        self._fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self._fd}/{name}"

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
