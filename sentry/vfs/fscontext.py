"""A task's file-system context: root, working directory and umask.

Shared by ``CLONE_FS`` clones, copied by ``fork`` (:meth:`FSContext.fork`).
``chroot`` changes :attr:`root`; path resolution never goes above it.
"""

from __future__ import annotations


from sentry.vfs import statcache
from sentry.vfs.dentry import VirtualDentry

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Optional


class FSContext:
    """Root, cwd and umask of a task.

    :ivar key: names this root and cwd for the C stat cache (:mod:`sentry.vfs.statcache`):
        the place's (``statcache.place_key``), the same for every context there.
    """

    __slots__ = ("root", "cwd", "umask", "key")

    def __init__(self, root: VirtualDentry, cwd: VirtualDentry, umask: int = 0o022,
                 key: Optional[int] = None) -> None:
        self.root = root
        self.cwd = cwd
        self.umask = umask & 0o777
        self.key = statcache.place_key(root, cwd) if key is None else key

    def fork(self) -> "FSContext":
        """An independent copy (``fork`` or ``clone`` without ``CLONE_FS``)."""
        return FSContext(self.root, self.cwd, self.umask, self.key)
