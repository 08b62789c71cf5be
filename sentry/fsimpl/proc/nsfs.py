"""/proc/PID/ns: each namespace of a process as a link ``type:[inode]`` that opens the
namespace's nsfs file (Linux's ``ns_get_link``, ``fs/nsfs.c``).

A sandbox's processes run in host namespaces: the ones the sentry made for the sandbox
(pid, ipc, uts, mount, cgroup, time, and net unless it shares the caller's) and the
host's user namespace (there is no other). A link shows the host's name of its host
thread's namespace (the ``readlink`` of ``/proc/TID/ns/NAME`` under the sentry's ``/proc``
fd), as a runc container's ``/proc/self/ns`` does: two processes share a namespace when
their links say the same. What a link opens is an inode of an internal nsfs with the
namespace's inode number (mode 0444, nsfs's device and magic) and no read or write;
``setns(2)`` of it is refused, as every ``setns``.
"""

from __future__ import annotations

import errno
import os

from sentry.abi.linux.errors import err
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry, kern_mount
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, Inode, Stat, StatFS

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

#: The links of /proc/PID/ns (Linux 6.1), in its order.
NAMES = (b"cgroup", b"ipc", b"mnt", b"net", b"pid", b"pid_for_children", b"time",
         b"time_for_children", b"user", b"uts")
NSFS_MAGIC = 0x6E736673


class NsFilesystem(Filesystem):
    """The internal file system of namespace files (never mounted in the tree)."""

    fstype = "nsfs"
    magic = NSFS_MAGIC
    sb_noexec = True

    def root_inode(self) -> Inode:
        raise err(errno.ENOENT)

    def statfs(self, t: Any) -> StatFS:
        return StatFS(type=self.magic, fsid=self.dev)


class NsInode(Inode):
    """A namespace's file: its inode number is the namespace's."""

    def __init__(self, fs: Filesystem, ino: int) -> None:
        super().__init__(fs, ino, abi.S_IFREG | 0o444, 0, 0)

    def open(self, t: Any, vd: VirtualDentry, flags: int) -> FileDescription:
        return NsFileDescription(vd, self, flags)

    def stat(self) -> Stat:
        return Stat(dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=1, uid=0, gid=0,
                    rdev=0, size=0, blksize=4096, blocks=0, atime_ns=0, mtime_ns=0,
                    ctime_ns=0)


class NsFileDescription(FileDescription):
    """An open namespace file: no read or write (``EINVAL``), nothing to seek."""

    can_read = can_write = False
    read_iter = write_iter = False


_NSFS: Optional[Tuple[NsFilesystem, Mount]] = None
#: The namespace files made so far, by inode number (a stat sees one inode per namespace).
_INODES: Dict[int, NsInode] = {}


def _nsfs() -> Tuple[NsFilesystem, Mount]:
    global _NSFS
    if _NSFS is None:
        fs = NsFilesystem()
        _NSFS = (fs, kern_mount(fs, NsInode(fs, 0), "nsfs"))
    return _NSFS


def link_text(kernel: Any, task: Any, name: bytes) -> bytes:
    """``type:[inode]`` of *task*'s namespace *name*, as its host thread's link says.

    :raises LinuxError: ``ENOENT`` if the host says nothing (the thread is gone).
    """
    try:
        return os.readlink(b"%d/ns/%s" % (task.host_tid, name), dir_fd=kernel.procfd)
    except (OSError, AttributeError):
        raise err(errno.ENOENT) from None


def place(kernel: Any, task: Any, name: bytes) -> VirtualDentry:
    """Where the link *name* of *task* leads: its namespace's nsfs file."""
    text = link_text(kernel, task, name)
    try:
        ino = int(text[text.index(b"[") + 1:text.index(b"]")])
    except ValueError:
        raise err(errno.ENOENT) from None
    fs, mount = _nsfs()
    inode = _INODES.get(ino)
    if inode is None:
        inode = _INODES[ino] = NsInode(fs, ino)
    return VirtualDentry(mount, Dentry(text, None, inode))
