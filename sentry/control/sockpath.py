"""Unix socket paths longer than ``sun_path`` (108 bytes).

A container's control socket lives in its state directory, and engines make long ones
(docker: ``/run/docker/runtime-NAME/moby/<64 hex digits>/``). The path is reached through
the directory's fd instead: ``/proc/self/fd/N/NAME`` resolves like the real path (the
kernel walks the magic link) and always fits. Abstract sockets would fit too, but anyone
in the network namespace may connect to those; a path keeps the directory's permissions.
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Iterator

SUN_PATH_MAX = 107  # bytes, without the terminating NUL


@contextlib.contextmanager
def short_path(path: str) -> Iterator[str]:
    """A path naming the same socket file as *path* that fits ``sun_path``.

    :raises OSError: the directory cannot be opened.
    """
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        yield path
        return
    directory, name = os.path.split(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)
