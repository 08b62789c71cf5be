"""overlay: a writable tmpfs upper layer over a read-only lower layer.

The root file system's default (gVisor's too): the lower layer (the gofer's
root 0) is never written; every change lands in the sentry's tmpfs.

- Lookup: the upper entry wins; a whiteout (a 0/0 character device in the
  upper layer) hides the lower one; an *opaque* upper directory hides the
  whole lower directory; an upper directory over a lower directory merges.
- Copy-up (:meth:`OverlayInode.copy_up`) on the first write-open, truncate,
  chmod/chown/utimes, link, or rename: parents first, then the file (data,
  symlink target, mode, owner, times).  A directory is copied up empty and
  stays merged; renaming a directory that has a lower part copies its whole
  tree up and makes it opaque (the overlayfs "redirect_dir" alternative).
- Removal of a name the lower layer has leaves a whiteout; ``mkdir`` over a
  whiteout makes the new directory opaque.
- Listing merges both layers without duplicates or whiteouts.
- ``st_ino``: a directory keeps the lower inode number while it has one; a
  non-directory shows the lower number until copy-up, then the upper one.
  ``st_dev`` is the overlay's (both layers are given the overlay's device
  number, so ``fstat`` of an open layer file agrees with ``stat``).
- Hard links in the lower layer are copied up separately (no index).
- Extended attributes are the layer's that holds the file; a copy-up copies those the
  lower layer reports (a gofer's: ``user.*``), and setting or removing one copies up
  first (removing one the lower file lacks is ``ENODATA`` without a copy-up, as
  ``ovl_xattr_set``).  The root's upper directory takes the lower root's at the first
  change.

Ownership: each overlay inode maps its looked-up children *weakly*, so there
is at most one live overlay inode per name (the VFS's dentries and the overlay
agree on which object was copied up) while the VFS's dentry cache alone
decides how long one lives (see :mod:`sentry.vfs.dentry`); the map follows
creates, removals and renames.  A child holds its parent.  An overlay inode
holds no state of its own: the upper layer (the tmpfs) keeps every change,
copied-up files, whiteouts and opaque directories, so a freed child is rebuilt
identically from its layers by the next lookup, with the same ``st_ino``
(the lower file's number comes from the host).  Freeing one frees its lower
inode, and so the gofer handle behind it.
"""

from __future__ import annotations

import errno
import stat as _st
import weakref

from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.tmpfs.directory import TmpfsDir
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem
from sentry.fsimpl.tmpfs.tmpfs import TmpfsSpecial, TmpfsSymlink, is_whiteout
from sentry.vfs import abi, statcache
from sentry.vfs import xattr as xa
from sentry.vfs.file import DirectoryDescription, FileDescription
from sentry.vfs.inode import DirEntry, Filesystem, Inode, SetAttr, Stat, StatFS, open_special

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

#: First inode number of the upper tmpfs: far above any lower-layer number.
UPPER_INO_BASE = 1 << 48
_COPY_CHUNK = 1 << 20


class OverlayFilesystem(Filesystem):
    """An overlay of a new tmpfs upper layer over *lower* (read-only)."""

    fstype = "overlay"
    magic = abi.OVERLAYFS_SUPER_MAGIC
    holds_host_fds = True  # (its inodes hold their lower layer's)

    def __init__(self, lower: Filesystem, upper: Optional[TmpfsFilesystem] = None) -> None:
        super().__init__(readonly=False)
        self.upper = upper if upper is not None else TmpfsFilesystem(ino_base=UPPER_INO_BASE)
        self.lower = lower
        # One device number for the whole overlay (see the module docstring).
        self.upper.dev = self.dev
        self.lower.dev = self.dev
        up_root = self.upper.root_inode()
        lo_root = lower.root_inode()
        assert isinstance(up_root, TmpfsDir)
        up_root.mode = lo_root.mode
        up_root.uid, up_root.gid = lo_root.uid, lo_root.gid
        lo_st = lo_root.stat()
        up_root.atime_ns, up_root.mtime_ns, up_root.ctime_ns = (
            lo_st.atime_ns, lo_st.mtime_ns, lo_st.ctime_ns)
        self._root = OverlayInode(self, None, b"", up_root, lo_root)
        # The upper root was made here, not copied up: it takes the lower root's
        # extended attributes at the first change of one (until then they are read there).
        self.root_xattrs_pending = True

    def root_inode(self) -> Inode:
        return self._root

    def statfs(self, t: Any) -> StatFS:
        s = self.lower.statfs(t)
        s.type = self.magic
        s.fsid = self.dev
        s.flags &= ~abi.ST_RDONLY
        return s


class OverlayInode(Inode):
    """A file of the overlay: its upper and/or lower inode."""

    fs: OverlayFilesystem
    #: Its name was removed while only the lower layer had it (a whiteout now stands
    #: there): the file is gone for the overlay although the lower one still has a link.
    removed = False

    def __init__(
        self,
        fs: OverlayFilesystem,
        parent: Optional["OverlayInode"],
        name: bytes,
        upper: Optional[Inode],
        lower: Optional[Inode],
    ) -> None:
        self.fs = fs
        self.locks = None
        self.parent = parent
        self.name = name
        self.upper = upper
        self.lower = lower
        self._children: "weakref.WeakValueDictionary[bytes, OverlayInode]" = (
            weakref.WeakValueDictionary()
        )

    # -- attributes follow the layer that holds the file ------------------
    @property
    def layer(self) -> Inode:
        layer = self.upper if self.upper is not None else self.lower
        assert layer is not None
        return layer

    @property
    def mode(self) -> int:  # type: ignore[override]
        return self.layer.mode

    @property
    def uid(self) -> int:  # type: ignore[override]
        return self.layer.uid

    @property
    def gid(self) -> int:  # type: ignore[override]
        return self.layer.gid

    @property
    def ids_mapped(self) -> bool:  # type: ignore[override]
        return self.layer.ids_mapped

    @property
    def ino(self) -> int:  # type: ignore[override]
        if self.lower is not None and (self.upper is None or _st.S_ISDIR(self.mode)):
            return self.lower.ino
        return self.layer.ino

    def block_size(self) -> int:
        return self.layer.block_size()

    def stat(self) -> Stat:
        s = self.layer.stat()
        s.dev = self.fs.dev
        s.ino = self.ino
        if self.upper is not None and self.lower is not None and self._lower_visible() \
                and _st.S_ISDIR(s.mode):
            # A merged directory: its size, blocks and links are the lower
            # directory's (the upper one is a tmpfs shell holding changes);
            # owner, mode and times are the upper's, which started as copies.
            lo = self.lower.stat()
            s.size, s.blocks, s.blksize, s.nlink = lo.size, lo.blocks, lo.blksize, lo.nlink
        if self.removed:
            s.nlink = 0
        return s

    # -- layer helpers ---------------------------------------------------------
    def _upper_dir(self) -> TmpfsDir:
        assert isinstance(self.upper, TmpfsDir)
        return self.upper

    def _lower_visible(self) -> bool:
        return self.lower is not None and not (
            isinstance(self.upper, TmpfsDir) and self.upper.opaque
        )

    def _lower_has(self, t: Any, name: bytes) -> bool:
        if not self._lower_visible() or self.lower is None or not self.lower.is_dir:
            return False
        return self.lower.lookup(t, name) is not None

    def _clear_whiteout(self, name: bytes) -> bool:
        """Remove a whiteout for *name* in the upper directory; True if there was one."""
        up = self._upper_dir()
        w = up.entries.get(name)
        if w is not None and is_whiteout(w):
            del up.entries[name]
            return True
        return False

    def _whiteout(self, name: bytes) -> None:
        up = self._upper_dir()
        up.add(name, TmpfsSpecial(up.fs, abi.S_IFCHR, 0, 0, 0))

    # -- copy-up -----------------------------------------------------------------
    def copy_up(self, t: Any) -> None:
        """Give this file an upper copy (parents first).  :raises LinuxError: ``ENOSPC``."""
        if self.upper is not None:
            return
        statcache.forget(self.ino)
        assert self.parent is not None and self.lower is not None
        if self.parent.upper is None:
            # Its directories are copied up first, each with its attributes: their names
            # are asked for at once (gofer Tlistxattrs).
            self.lower.list_xattrs_up()
        self.parent.copy_up(t)
        pup = self.parent._upper_dir()
        lo = self.lower
        st = lo.stat()
        perms = st.mode & 0o7777
        self.parent._clear_whiteout(self.name)
        if lo.is_dir:
            up: Inode = TmpfsDir(pup.fs, perms, st.uid, st.gid)
        elif lo.is_reg:
            from sentry.fsimpl.tmpfs.regular_file import TmpfsFile

            f = TmpfsFile(pup.fs, perms, st.uid, st.gid)
            desc = lo.open(t, None, abi.O_RDONLY)  # type: ignore[arg-type]
            try:
                off = 0
                while True:
                    chunk = desc.pread(t, _COPY_CHUNK, off)
                    if not chunk:
                        break
                    f.write_at(off, chunk)
                    off += len(chunk)
            finally:
                desc.decref()
            up = f
        elif lo.is_symlink:
            up = TmpfsSymlink(pup.fs, lo.readlink(t), st.uid, st.gid)
        else:
            up = TmpfsSpecial(pup.fs, st.mode, st.uid, st.gid, st.rdev)
        xa.copy_all(t, lo, up)
        assert hasattr(up, "atime_ns")
        up.atime_ns, up.mtime_ns = st.atime_ns, st.mtime_ns  # type: ignore[attr-defined]
        up.ctime_ns = st.ctime_ns  # type: ignore[attr-defined]
        if not lo.ids_mapped:
            up.ids_mapped = False  # type: ignore[misc]  # still the unmapped owner's
        # Copy-up is not a change of the directory: keep its times (overlayfs does).
        times = (pup.atime_ns, pup.mtime_ns, pup.ctime_ns)  # type: ignore[attr-defined]
        pup.add(self.name, up)
        pup.atime_ns, pup.mtime_ns, pup.ctime_ns = times  # type: ignore[attr-defined]
        self.upper = up

    def copy_up_tree(self, t: Any) -> None:
        """Copy up this directory and everything below it, then make it opaque."""
        self.copy_up(t)
        if not self.is_dir or self.lower is None:
            return
        for name, _, _ in self.iterdir(t):
            child = self.lookup(t, name)
            assert child is not None
            child.copy_up_tree(t)
        self._upper_dir().opaque = True
        self.lower = None

    # -- metadata ----------------------------------------------------------
    def setattr(self, t: Any, attr: SetAttr) -> None:
        if (self.is_dir or self.is_symlink) and (
                attr.mode is not None or attr.uid is not None or attr.gid is not None):
            # A directory's mode and owners decide what a walk through it may find: any
            # kept answer may depend on them (and a symlink's owner on protected_symlinks).
            statcache.invalidate()
        # Any other change is this file's own: its copy-up forgets the answers kept about
        # it (statcache.forget), and none is kept about a file copied up already.  A
        # build's O_TRUNC and chmod of its output no longer drop every header's answer.
        self.copy_up(t)
        assert self.upper is not None
        self.upper.setattr(t, attr)

    # -- extended attributes ---------------------------------------------------
    def _xattr_layer(self) -> Inode:
        if self.parent is None and self.fs.root_xattrs_pending and self.lower is not None:
            return self.lower
        return self.layer

    def getxattr(self, t: Any, name: bytes) -> bytes:
        return self._xattr_layer().getxattr(t, name)

    def listxattr(self, t: Any) -> List[bytes]:
        return self._xattr_layer().listxattr(t)

    def _xattr_copy_up(self, t: Any) -> Inode:
        # No stat cache answer needs dropping: it keeps only files not copied up, and
        # copy_up forgets the answers about each file it copies (statcache.forget).
        self.copy_up(t)
        assert self.upper is not None
        if self.parent is None and self.fs.root_xattrs_pending:
            if self.lower is not None:
                xa.copy_all(t, self.lower, self.upper)
            self.fs.root_xattrs_pending = False
        return self.upper

    def setxattr(self, t: Any, name: bytes, value: bytes, flags: int) -> None:
        self._xattr_copy_up(t).setxattr(t, name, value, flags)

    def removexattr(self, t: Any, name: bytes) -> None:
        if self.upper is None:
            assert self.lower is not None
            self.lower.getxattr(t, name)  # ENODATA: nothing to copy up for
        self._xattr_copy_up(t).removexattr(t, name)

    # -- directories -----------------------------------------------------------
    def lookup(self, t: Any, name: bytes) -> Optional["OverlayInode"]:
        return self._lookup(t, name, False)

    def lookup_open(self, t: Any, name: bytes) -> Optional["OverlayInode"]:
        # A name only the lower layer has is opened there (until a write copies it up).
        return self._lookup(t, name, True)

    def lookup_on(self, t: Any, name: bytes, rest: List[bytes],
                  last_opens: bool) -> Optional["OverlayInode"]:
        return self._lookup(t, name, False, rest, last_opens)

    def _lookup(self, t: Any, name: bytes, opening: bool,
                rest: Optional[List[bytes]] = None,
                opens: bool = False) -> Optional["OverlayInode"]:
        if not self.is_dir:
            raise err(errno.ENOTDIR)
        c = self._children.get(name)
        if c is not None:
            return c
        up = self.upper.lookup(t, name) if self.upper is not None else None
        if up is not None and is_whiteout(up):
            return None
        lo = None
        if self._lower_visible() and self.lower is not None and (
            up is None or (up.is_dir and not getattr(up, "opaque", False))
        ):
            if opening and up is None:
                lo = self.lower.lookup_open(t, name)
            elif rest and up is None:
                lo = self.lower.lookup_on(t, name, rest, opens)
            else:
                lo = self.lower.lookup(t, name)
            if up is not None and (lo is None or not lo.is_dir):
                lo = None
        if up is None and lo is None:
            return None
        c = OverlayInode(self.fs, self, name, up, lo)
        self._children[name] = c
        return c

    def iterdir(self, t: Any) -> List[DirEntry]:
        if not self.is_dir:
            raise err(errno.ENOTDIR)
        out: List[DirEntry] = []
        lower: Dict[bytes, DirEntry] = {}
        if self._lower_visible() and self.lower is not None:
            lower = {e[0]: e for e in self.lower.iterdir(t)}
        if self.upper is not None:
            for name, ino, dt in self.upper.iterdir(t):
                child = self.upper.lookup(t, name)
                if child is None or is_whiteout(child):
                    lower.pop(name, None)
                    continue
                lo = lower.pop(name, None)
                c = self._children.get(name)
                if c is None and (child.is_dir and not getattr(child, "opaque", False)
                                  and lo is not None and lo[2] == abi.DT_DIR):
                    try:
                        c = self.lookup(t, name)  # A merged directory: the lower's st_ino.
                    except LinuxError:
                        ino = lo[1]  # the gofer refuses what is below (a kernel file system)
                if c is not None:
                    ino = c.ino
                out.append((name, ino, dt))
        out.extend(lower.values())
        return out

    def is_empty_dir(self, t: Any) -> bool:
        return not self.iterdir(t)

    def _new(self, name: bytes, up: Inode) -> "OverlayInode":
        c = OverlayInode(self.fs, self, name, up, None)
        self._children[name] = c
        return c

    def create(self, t: Any, name: bytes, mode: int, flags: int) -> Inode:
        statcache.appeared(self.ino)  # a new name; a copy-up below forgets its own files
        self.copy_up(t)
        self._clear_whiteout(name)
        return self._new(name, self._upper_dir().create(t, name, mode, flags))

    def mkdir(self, t: Any, name: bytes, mode: int) -> Inode:
        statcache.appeared(self.ino)  # a new name; a copy-up below forgets its own files
        self.copy_up(t)
        had_whiteout = self._clear_whiteout(name)
        up = self._upper_dir().mkdir(t, name, mode)
        if had_whiteout or self._lower_has(t, name):
            assert isinstance(up, TmpfsDir)
            up.opaque = True
        return self._new(name, up)

    def mknod(self, t: Any, name: bytes, mode: int, rdev: int) -> Inode:
        statcache.appeared(self.ino)  # a new name; a copy-up below forgets its own files
        self.copy_up(t)
        self._clear_whiteout(name)
        return self._new(name, self._upper_dir().mknod(t, name, mode, rdev))

    def symlink(self, t: Any, name: bytes, target: bytes) -> Inode:
        statcache.appeared(self.ino)  # a new name; a copy-up below forgets its own files
        self.copy_up(t)
        self._clear_whiteout(name)
        return self._new(name, self._upper_dir().symlink(t, name, target))

    def link(self, t: Any, name: bytes, target: Inode) -> Inode:
        statcache.appeared(self.ino)  # a new name; a copy-up below forgets its own files
        if not isinstance(target, OverlayInode) or target.fs is not self.fs:
            raise err(errno.EXDEV)
        target.copy_up(t)
        self.copy_up(t)
        self._clear_whiteout(name)
        assert target.upper is not None
        self._upper_dir().link(t, name, target.upper)
        # One overlay inode for both names while it lives (as overlayfs hashes its
        # inodes by the upper one), so e.g. inotify watches of it see both.
        self._children[name] = target
        return target

    def _remove(self, t: Any, name: bytes, child: Inode, rmdir: bool) -> None:
        assert isinstance(child, OverlayInode)
        lower_has = self._lower_has(t, name)
        if child.lower is None and not lower_has and not rmdir:
            # Only the upper layer had it (the sandbox made it): no answer about it was
            # kept (it is not the lower layer's), and nothing that was missing appears;
            # but a program run from it is " (deleted)" now in C's /proc/self/exe answer,
            # which appeared() stales with this directory's ENOENTs.  A directory's
            # removal bumps every answer: one walked through it to the lower layer
            # ("made/../f", a build directory's "../include") was kept.
            statcache.appeared(self.ino)
        elif not rmdir and not child.is_dir and not child.is_symlink:
            # A file's name: nothing was walked through it (statcache.removed).
            statcache.removed(child.ino)
        else:
            statcache.invalidate()
        self.copy_up(t)
        up = self._upper_dir()
        if child.upper is not None:
            if rmdir:
                assert isinstance(child.upper, TmpfsDir)
                for n in [n for n, i in child.upper.entries.items() if is_whiteout(i)]:
                    del child.upper.entries[n]
                up.rmdir(t, name, child.upper)
            else:
                up.unlink(t, name, child.upper)
        if lower_has:
            self._whiteout(name)
            if child.upper is None:
                child.removed = True
        self._children.pop(name, None)

    def unlink(self, t: Any, name: bytes, child: Inode) -> None:
        self._remove(t, name, child, False)

    def rmdir(self, t: Any, name: bytes, child: Inode) -> None:
        self._remove(t, name, child, True)

    def rename(
        self, t: Any, old_name: bytes, child: Inode, new_dir: Inode, new_name: bytes,
        replaced: Optional[Inode], flags: int,
    ) -> None:
        if any(i is not None and (i.is_dir or i.is_symlink) for i in (child, replaced)):
            statcache.invalidate()  # a walk went through one (no other flag gets here)
        else:
            # Files: nothing walked through either name (statcache.removed); both are
            # copied up below, and each name's kept ENOENTs go.
            statcache.removed(child.ino)
            if replaced is not None:
                statcache.removed(replaced.ino)
            else:
                statcache.appeared(new_dir.ino)
        if not isinstance(new_dir, OverlayInode) or new_dir.fs is not self.fs:
            raise err(errno.EXDEV)
        assert isinstance(child, OverlayInode)
        assert replaced is None or isinstance(replaced, OverlayInode)
        self.copy_up(t)
        new_dir.copy_up(t)
        child.copy_up_tree(t) if child.is_dir else child.copy_up(t)
        exchange = bool(flags & abi.RENAME_EXCHANGE)
        if replaced is not None:
            replaced.copy_up_tree(t) if (exchange and replaced.is_dir) else replaced.copy_up(t)
            if replaced.is_dir and not exchange:
                assert isinstance(replaced.upper, TmpfsDir)
                for n in [n for n, i in replaced.upper.entries.items() if is_whiteout(i)]:
                    del replaced.upper.entries[n]
        else:
            new_dir._clear_whiteout(new_name)
        old_lower_has = self._lower_has(t, old_name)
        new_lower_has = new_dir._lower_has(t, new_name)
        up_old, up_new = self._upper_dir(), new_dir._upper_dir()
        up_replaced = up_new.entries.get(new_name)
        assert child.upper is not None
        up_old.rename(t, old_name, child.upper, up_new, new_name, up_replaced, flags)
        self._children.pop(old_name, None)
        new_dir._children.pop(new_name, None)
        child.parent, child.name = new_dir, new_name
        new_dir._children[new_name] = child
        if child.is_dir and new_lower_has:
            assert isinstance(child.upper, TmpfsDir)
            child.upper.opaque = True
        if exchange:
            assert replaced is not None and replaced.upper is not None
            replaced.parent, replaced.name = self, old_name
            self._children[old_name] = replaced
            if replaced.is_dir and old_lower_has:
                assert isinstance(replaced.upper, TmpfsDir)
                replaced.upper.opaque = True
        elif old_lower_has:
            self._whiteout(old_name)

    # -- symlinks and open ---------------------------------------------------
    def readlink(self, t: Any) -> bytes:
        return self.layer.readlink(t)

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        if self.is_dir:
            return DirectoryDescription(vd, self, flags)
        if _st.S_ISFIFO(self.mode):
            return open_special(t, self, vd, flags)
        if (flags & abi.O_ACCMODE) != abi.O_RDONLY and self.is_reg:
            self.copy_up(t)
        return self.layer.open(t, vd, flags)
