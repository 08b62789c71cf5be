"""A task's file-system context: root, working directory and umask.

Shared by ``CLONE_FS`` clones, copied by ``fork`` (:meth:`FSContext.fork`).
``chroot`` changes :attr:`root`; path resolution never goes above it.
"""

from __future__ import annotations

from sentry.vfs.dentry import VirtualDentry


class FSContext:
    """Root, cwd and umask of a task."""

    __slots__ = ("root", "cwd", "umask")

    def __init__(self, root: VirtualDentry, cwd: VirtualDentry, umask: int = 0o022) -> None:
        self.root = root
        self.cwd = cwd
        self.umask = umask & 0o777

    def fork(self) -> "FSContext":
        """An independent copy (``fork`` or ``clone`` without ``CLONE_FS``)."""
        return FSContext(self.root, self.cwd, self.umask)
