"""Dentries, mounts and virtual dentries.

A :class:`Dentry` is a name of an inode in its file system's tree; the VFS
caches them (children by name) so repeated walks do not ask the file system
again, and so mount points and cwds have a stable identity.  A :class:`Mount`
places a file system's root dentry at a dentry of another mount.  A
:class:`VirtualDentry` is the pair (mount, dentry): the same dentry reached
through two bind mounts is two different places (``..`` differs).

Ownership and lifetime: a dentry holds its inode and its parent; a parent
maps its cached children *weakly*.  So a dentry stays cached exactly while
something live refers to it: an open file description (its ``vd``), a task's
cwd or root (:class:`~sentry.vfs.fscontext.FSContext`), a mount (its root or
mount point), a cached child (through ``parent``), or its file system's LRU of
recently used dentries (:meth:`Filesystem.touch_dentry
<sentry.vfs.inode.Filesystem.touch_dentry>`, bounded by
:data:`~sentry.vfs.inode.DENTRY_CACHE_SIZE`, less for a while after the host ran out of
fds: :func:`~sentry.vfs.inode.reclaim_dentries`).  When the last reference goes
the dentry, and then its inode, are freed; a file system whose inodes hold
host or gofer resources releases them then (see
:class:`sentry.fsimpl.gofer.filesystem.GoferInode`).  The next walk of the
name looks it up again.  Mounts are owned by the
:class:`~sentry.vfs.vfs.VirtualFilesystem`.
"""

from __future__ import annotations

import collections
import itertools
import weakref

from sentry.vfs.mount_options import MNT_NODEV, MNT_NOEXEC, MNT_NOSUID, MNT_RELATIME

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import List, NamedTuple, Optional
    from sentry.vfs.inode import Filesystem, Inode


class Dentry:
    """A named inode in a file-system tree.

    :ivar name: the last path component (``b""`` for a file-system root).
    :ivar parent: the parent dentry (``None`` for a file-system root or an
        anonymous file such as a pipe).
    :ivar children: cached lookups, by name (weak: see the module docstring).
    :ivar mounts: how many mounts sit on this dentry (0: skip the mount table).
    :ivar dead: unlinked; paths of it are reported with `` (deleted)``.
    """

    __slots__ = ("name", "parent", "inode", "children", "mounts", "dead", "__weakref__")

    def __init__(self, name: bytes, parent: Optional["Dentry"], inode: "Inode") -> None:
        self.name = name
        self.parent = parent
        self.inode = inode
        self.children: "weakref.WeakValueDictionary[bytes, Dentry]" = weakref.WeakValueDictionary()
        self.mounts = 0
        self.dead = False

    def __repr__(self) -> str:
        return f"<Dentry {self.name!r} {self.inode!r}>"


_mount_ids = itertools.count(1)


class Mount:
    """A file system mounted somewhere.

    :ivar parent: the mount this one sits in (``None`` for the root mount).
    :ivar mountpoint: the dentry of *parent* it covers.
    :ivar readonly: the mount's ``ro`` flag (``EROFS`` for changes through it).
    :ivar source: the source column of ``/proc/mounts``.
    :ivar options: the file system's options as ``/proc/mounts`` shows them after the
        per-mount ones (e.g. ``"size=65536k,mode=755"``).
    :ivar flags: per-mount flags (:mod:`sentry.vfs.mount_options` ``MNT_*``):
        ``nosuid``, ``nodev``, ``noexec`` are enforced by the VFS and the loader.
    """

    def __init__(
        self,
        fs: "Filesystem",
        root: Dentry,
        parent: Optional["Mount"],
        mountpoint: Optional[Dentry],
        readonly: bool = False,
        source: str = "none",
        options: str = "",
        flags: int = MNT_RELATIME,
    ) -> None:
        self.id = next(_mount_ids)
        self.fs = fs
        self.root = root
        self.parent = parent
        self.mountpoint = mountpoint
        self.readonly = readonly
        self.source = source
        self.options = options
        self.flags = flags
        self.children: List["Mount"] = []

    @property
    def nosuid(self) -> bool:
        return bool(self.flags & MNT_NOSUID)

    @property
    def nodev(self) -> bool:
        return bool(self.flags & MNT_NODEV)

    @property
    def noexec(self) -> bool:
        return bool(self.flags & MNT_NOEXEC)

    def __repr__(self) -> str:
        return f"<Mount {self.id} {self.fs.fstype}>"


if TYPE_CHECKING:
    _VirtualDentry = NamedTuple("_VirtualDentry", [("mount", Mount), ("dentry", Dentry)])
else:  # the same without typing (see sentry.records)
    _VirtualDentry = collections.namedtuple("_VirtualDentry", "mount dentry")


def kern_mount(fs: "Filesystem", root: "Inode", source: str) -> Mount:
    """A kernel-internal mount of *fs* at *root* (Linux's ``kern_mount``: pipefs, sockfs,
    anon_inodefs, memfd's shmem, nsfs): in no mount tree, and with no mount option, so
    ``fstatfs`` of its files shows ``ST_VALID`` alone."""
    return Mount(fs, Dentry(b"", None, root), None, None, source=source, flags=0)


class VirtualDentry(_VirtualDentry):
    """A place in the mount tree: a dentry as reached through a mount."""

    __slots__ = ()

    @property
    def inode(self) -> "Inode":
        return self.dentry.inode
