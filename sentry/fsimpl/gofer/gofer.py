"""Gofer-backed file system: entry point.

:class:`GoferFilesystem` (filesystem.py) serves one gofer root; the lower
layer of the root overlay is root 0, bind mounts are roots 1.. in the order
the bind mounts appear in the boot configuration (see
:func:`sentry.vfs.mount_tree.build_mount_tree`).
"""

from sentry.fsimpl.gofer.filesystem import GoferFilesystem, GoferInode
from sentry.fsimpl.gofer.regular_file import GoferFileDescription

__all__ = ["GoferFileDescription", "GoferFilesystem", "GoferInode"]
