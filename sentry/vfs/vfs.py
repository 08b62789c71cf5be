"""The virtual file system of one sandbox: mount tree, path resolution and the
file operations the syscall handlers call.

Path resolution (:meth:`VirtualFilesystem.resolve`) follows Linux's
``fs/namei.c``:

- an absolute path, and an absolute symlink target, start at the task's root
  (``t.fs.root``, which ``chroot`` moves); ``..`` at that root stays there, so
  a walk never leaves it;
- ``..`` at the root of a mount continues from the mount point, and every
  step onto a mount point enters the mount on top (both directions cross);
- at most :data:`MAXSYMLINKS` (40) symlinks per resolution, then ``ELOOP``;
  an empty symlink target is ``ENOENT``;
- "magic" links (``/proc/<pid>/fd/N``, ``/proc/<pid>/cwd``) jump to the file
  itself instead of resolving their text (:meth:`Inode.get_link`);
- search permission is checked on every directory walked through;
- a trailing slash requires a directory and makes a final symlink be
  followed; ``O_NOFOLLOW``/``AT_SYMLINK_NOFOLLOW`` leave a final symlink
  alone; ``AT_EMPTY_PATH`` with ``""`` names the dirfd itself.

openat2(2)'s ``RESOLVE_*`` flags (:class:`Resolve`) act inside the walk, at the
step Linux's ``namei.c`` checks them, never on its result: the walk is one step of
the sentry's event loop, so no rename or mount runs between a check and the next
step (Linux re-checks with ``rename_lock``/``mount_lock`` and fails with
``EAGAIN``; here nothing can move).

Every handler that takes a path calls one method here; the VFS checks what is
independent of the file system (types, permissions, read-only mounts,
``EXDEV``, ``EBUSY``) and calls the inode (:mod:`sentry.vfs.inode`).

The dentry cache keeps a dentry while something live refers to it (an open
description, a cwd or root, a mount, a cached child) and, per file system,
the :data:`~sentry.vfs.inode.DENTRY_CACHE_SIZE` most recently walked ones
(:meth:`Filesystem.touch_dentry`, called on every lookup; fewer for a while after the
host ran out of fds: :func:`~sentry.vfs.inode.reclaim_dentries`); anything else is
evicted and looked up again on the next walk (see :mod:`sentry.vfs.dentry`).
Removed names leave the cache at once (unlink/rmdir/rename).  A file system others
may change (``Filesystem.revalidate``: a bind mount with the ``shared`` file access
policy) has every cached name looked up again at each walk through it, as Linux's
``d_revalidate``: the dentry stays while the name still means the same file, else the
fresh lookup replaces it.
"""

from __future__ import annotations

import errno
import stat as _st

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel.credentials import Credentials
from sentry.vfs import abi, fsnotify, statcache
from sentry.vfs import permissions as perm
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry
from sentry.vfs.file import FileDescription, PathDescription
from sentry.vfs.inode import Filesystem, Inode, SetAttr, Stat, now_ns
from sentry.vfs.mount_options import MNT_NOATIME, MNT_NODIRATIME, MNT_RELATIME

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

MAXSYMLINKS = 40


# openat2(2)'s how->resolve (include/uapi/linux/openat2.h).
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 0x08, 0x10, 0x20
RESOLVE_VALID = 0x3F


class Resolve:
    """The ``RESOLVE_*`` flags of one walk (openat2(2)), checked at each step:

    - ``NO_XDEV``: any step onto another mount (a mount point, ``..`` out of a
      mount, an absolute symlink or magic link landing elsewhere): ``EXDEV``;
      an absolute path argument starts on the root's mount and is allowed;
    - ``NO_SYMLINKS``: following any symlink: ``ELOOP``; ``NO_MAGICLINKS``:
      following a magic link (``/proc/PID/fd/N``): ``ELOOP``;
    - ``BENEATH``: the walk's root is the dirfd; an absolute path or symlink, ``..``
      at the dirfd and any magic link: ``EXDEV``;
    - ``IN_ROOT``: the dirfd is the walk's root (absolute paths and symlinks start
      there, ``..`` stays there); a magic link: ``EXDEV``;
    - ``CACHED``: a name not in the dentry cache: ``EAGAIN``.
    """

    __slots__ = ("flags", "anchor", "mount")

    def __init__(self, flags: int, anchor: VirtualDentry) -> None:
        self.flags = flags
        self.anchor = anchor
        self.mount: Optional[Mount] = None  # the NO_XDEV walk's mount, set at its start

    @property
    def scoped(self) -> bool:
        return bool(self.flags & (RESOLVE_BENEATH | RESOLVE_IN_ROOT))

    def start(self, cur: VirtualDentry) -> None:
        if self.mount is None:
            self.mount = cur.mount

    def jump_root(self, cur: VirtualDentry, root: VirtualDentry) -> None:
        """An absolute symlink from *cur* to *root* (Linux's ``nd_jump_root``)."""
        if self.flags & RESOLVE_BENEATH:
            raise err(errno.EXDEV)
        if self.flags & RESOLVE_NO_XDEV and cur.mount is not root.mount:
            raise err(errno.EXDEV)

    def symlink(self) -> None:
        """A symlink is about to be followed."""
        if self.flags & RESOLVE_NO_SYMLINKS:
            raise err(errno.ELOOP)

    def magic(self, cur: VirtualDentry, to: VirtualDentry) -> None:
        """A magic link from *cur* to *to* (Linux's ``nd_jump_link``)."""
        if self.flags & RESOLVE_NO_MAGICLINKS:
            raise err(errno.ELOOP)
        if self.flags & RESOLVE_NO_XDEV and cur.mount is not to.mount:
            raise err(errno.EXDEV)
        if self.scoped:
            raise err(errno.EXDEV)

    def dotdot_at_root(self) -> None:
        if self.flags & RESOLVE_BENEATH:
            raise err(errno.EXDEV)

    def moved(self, cur: VirtualDentry) -> None:
        """The walk is now at *cur* (after a lookup or ``..``)."""
        if self.flags & RESOLVE_NO_XDEV and cur.mount is not self.mount:
            raise err(errno.EXDEV)


#: Credentials for the sentry's own operations (building the mount tree): every privilege.
ROOT_CREDS = Credentials()


def creds_of(t: Any) -> Any:
    """``t.creds``, or full privileges for the sentry's own calls (``t`` None)."""
    return ROOT_CREDS if t is None else t.creds


class MountpointInode(Inode):
    """An empty directory that exists only as a mount point in the sentry.

    Made when a mount's destination is missing in a file system the sentry
    cannot (or must not) write, as runc would create it.
    """

    def __init__(self, fs: Filesystem, directory: bool = True) -> None:
        mode = abi.S_IFDIR | 0o755 if directory else abi.S_IFREG | 0o644
        super().__init__(fs, (1 << 62) + fs.next_ino(), mode)
        self._t = now_ns()

    def stat(self) -> Stat:
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=2 if self.is_dir else 1,
            uid=0, gid=0, rdev=0, size=0, blksize=4096, blocks=0,
            atime_ns=self._t, mtime_ns=self._t, ctime_ns=self._t,
        )

    def lookup(self, t: Any, name: bytes) -> Optional[Inode]:
        return None

    def iterdir(self, t: Any) -> list:
        return []

    def open(self, t: Any, vd: VirtualDentry, flags: int) -> FileDescription:
        from sentry.vfs.file import DirectoryDescription

        if not self.is_dir:
            raise err(errno.ENXIO)
        return DirectoryDescription(vd, self, flags)


#: Executables' walks kept (_resolve_exec) before all are forgotten.
EXEC_WALKS_MAX = 256


#: Flags that make an open more than a read-only open of what exists (create, truncate,
#: a place but no file, a directory the caller insists on; O_TMPFILE never walks).
_NOT_A_READ_OPEN = abi.O_CREAT | abi.O_TRUNC | abi.O_PATH | abi.O_DIRECTORY


def _opens_for_reading(flags: int) -> bool:
    """Whether open(2) *flags* open an existing file read-only, for which the last
    lookup of the path may open it as well (:meth:`Inode.lookup_open`)."""
    return flags & abi.O_ACCMODE == abi.O_RDONLY and not flags & _NOT_A_READ_OPEN


def _split(path: bytes) -> List[bytes]:
    return [p for p in path.split(b"/") if p]


class VirtualFilesystem:
    """The mount tree and file operations of one sandbox."""

    def __init__(self) -> None:
        self.mounts: List[Mount] = []
        self._covering: Dict[VirtualDentry, Mount] = {}
        self.root_mount: Optional[Mount] = None
        # (key base, path) -> (stat cache generation, where exec's walk led): _resolve_exec
        self._exec_walks: Dict[Tuple[int, bytes], Tuple[int, VirtualDentry]] = {}

    # ------------------------------------------------------------------ mounts
    def mount(
        self,
        fs: Filesystem,
        at: Optional[VirtualDentry],
        readonly: bool = False,
        source: str = "none",
        options: str = "",
        root: Optional[Inode] = None,
        flags: int = MNT_RELATIME,
        root_dentry: Optional[Dentry] = None,
    ) -> Mount:
        """Mount *fs* (its root, the inode *root*, or for a bind mount of a place in the
        tree its dentry *root_dentry*) at *at*, with per-mount *flags*.

        ``at=None`` makes the root mount.  Mounting on an already covered place
        stacks on top of the mount that is there.
        """
        statcache.invalidate()
        if root_dentry is not None:
            rdentry = root_dentry
        else:
            rdentry = Dentry(b"", None, root if root is not None else fs.root_inode())
        if at is None:
            m = Mount(fs, rdentry, None, None, readonly, source, options, flags)
            self.root_mount = m
        else:
            at = self._follow_mounts(at)
            m = Mount(fs, rdentry, at.mount, at.dentry, readonly, source, options, flags)
            at.mount.children.append(m)
            at.dentry.mounts += 1
            self._covering[at] = m
        self.mounts.append(m)
        statcache.mounted(self.mounts)
        return m

    def root(self) -> VirtualDentry:
        """The root of the mount tree (the initial root of every task)."""
        assert self.root_mount is not None
        return VirtualDentry(self.root_mount, self.root_mount.root)

    def _follow_mounts(self, vd: VirtualDentry) -> VirtualDentry:
        while vd.dentry.mounts:
            m = self._covering.get(vd)
            if m is None:
                break
            vd = VirtualDentry(m, m.root)
        return vd

    def ensure_mountpoint(self, t: Any, path: bytes, directory: bool = True) -> VirtualDentry:
        """The place at absolute *path* for a mount, creating missing components.

        A missing component is made with ``mkdir`` (or, for the last one of a
        file mount, *directory* false, ``create``) where the file system and
        mount are writable (for the root overlay that is the sentry's tmpfs
        upper layer), else as a sentry-only :class:`MountpointInode`.
        Symlinks on the way are followed inside the sandbox's root.
        """
        cur = self.root()
        parts = _split(path)
        for i, name in enumerate(parts):
            want_dir = directory or i < len(parts) - 1
            refused = False
            try:
                nxt = self._lookup(t, cur, name, follow_mounts=True)
            except LinuxError as e:
                # The gofer refuses to serve what is there (e.g. the host's
                # /proc under a `do` root): the mount covers it, on a
                # sentry-only mount point (the name is listed from below).
                if e.errno != errno.EACCES:
                    raise
                nxt = None
                refused = True
            if nxt is None:
                fs = cur.mount.fs
                inode: Optional[Inode] = None
                if not refused and not fs.readonly and not cur.mount.readonly:
                    try:
                        if want_dir:
                            inode = cur.dentry.inode.mkdir(t, name, 0o755)
                        else:
                            inode = cur.dentry.inode.create(t, name, 0o644, abi.O_RDONLY)
                            inode.open(t, VirtualDentry(cur.mount, Dentry(name, cur.dentry, inode)),
                                       abi.O_RDONLY).decref()
                    except LinuxError:
                        inode = None
                if inode is None:
                    inode = MountpointInode(fs, want_dir)
                d = Dentry(name, cur.dentry, inode)
                cur.dentry.children[name] = d
                nxt = VirtualDentry(cur.mount, d)
            elif nxt.inode.is_symlink:
                nxt = self._walk(t, cur, name, True, self.root())
            if want_dir and not nxt.inode.is_dir:
                raise err(errno.ENOTDIR)
            cur = nxt
        return cur

    def lookup_existing(self, path: bytes) -> Optional[VirtualDentry]:
        """The place at absolute *path*, symlinks followed inside the tree, with the
        sentry's privileges (building the tree); None if it does not exist."""
        root = self.root()
        try:
            return self._walk(None, root, path, True, root)
        except LinuxError as e:
            # EACCES: the gofer refuses to serve what is there (a kernel file system).
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return None
            raise

    # -------------------------------------------------------------- path names
    def path_of(self, vd: VirtualDentry, root: VirtualDentry) -> Tuple[bytes, bool]:
        """The absolute path of *vd* as seen from *root*, and whether it is reachable.

        An unreachable place (outside *root*) gets the path from the global root.
        """
        parts: List[bytes] = []
        cur = vd
        reachable = True
        while cur != root:
            m, d = cur
            if d is m.root:
                if m.parent is None or m.mountpoint is None:
                    reachable = False
                    break
                cur = VirtualDentry(m.parent, m.mountpoint)
                continue
            if d.parent is None:
                reachable = False
                break
            parts.append(d.name)
            cur = VirtualDentry(m, d.parent)
        return b"/" + b"/".join(reversed(parts)), reachable

    def path_for_task(self, t: Any, vd: VirtualDentry) -> bytes:
        """The path of *vd* as ``/proc/<pid>/fd`` and friends show it to *t*."""
        path, reachable = self.path_of(vd, t.fs.root if t is not None else self.root())
        if vd.dentry.dead:
            path += b" (deleted)"
        return path

    def describe(self, t: Any, desc: FileDescription) -> bytes:
        """The link text of ``/proc/<pid>/fd/N`` for *desc*."""
        if desc.anon_name is not None:
            return desc.anon_name
        if desc.vd is None:
            return b"anon_inode:[unknown]"
        return self.path_for_task(t, desc.vd)

    def getcwd(self, t: Any) -> bytes:
        """getcwd(2)'s string.  :raises LinuxError: ``ENOENT`` if the cwd was removed."""
        cwd = t.fs.cwd
        if cwd.dentry.dead:
            raise err(errno.ENOENT)
        path, reachable = self.path_of(cwd, t.fs.root)
        return path if reachable else b"(unreachable)" + path

    # ---------------------------------------------------------- walking steps
    def _may_search(self, t: Any, vd: VirtualDentry) -> None:
        # A directory everyone may search needs no more (generic_permission's answer for
        # any caller, as there are no ACLs): one attribute read per walked component
        # instead of four and the class checks.
        inode = vd.dentry.inode
        if t is not None and inode.mode & 0o111 != 0o111:
            perm.check(t.creds, inode, perm.MAY_EXEC)

    def _lookup_dentry(self, t: Any, vd: VirtualDentry, name: bytes,
                       cached: bool = False, opening: bool = False,
                       rest: Optional[List[bytes]] = None,
                       rest_opens: bool = False) -> Optional[Dentry]:
        d = vd.dentry
        if d.inode.dead_dir:
            return None  # A removed directory has no entries (IS_DEADDIR).
        fs = vd.mount.fs
        child = d.children.get(name)
        if child is not None:
            if not fs.revalidate or child.mounts:
                fs.touch_dentry(child)
                return child
            if cached:
                raise err(errno.EAGAIN)  # RESOLVE_CACHED: revalidating takes a lookup
            return self._revalidate(t, d, name, child, fs)
        if cached:
            raise err(errno.EAGAIN)  # RESOLVE_CACHED: it would take a lookup
        if opening:
            inode = d.inode.lookup_open(t, name)
        elif rest:
            inode = d.inode.lookup_on(t, name, rest, rest_opens)
        else:
            inode = d.inode.lookup(t, name)
        if inode is None:
            return None
        child = Dentry(name, d, inode)
        if fs.cache_dentries:
            d.children[name] = child
            fs.touch_dentry(child)
        return child

    @staticmethod
    def _revalidate(t: Any, d: Dentry, name: bytes, child: Dentry,
                    fs: Filesystem) -> Optional[Dentry]:
        """Look *name* up again in a file system others may change (Linux's
        ``d_revalidate``): the cached dentry stays if the name still means its file;
        otherwise it leaves the cache (descriptions open through it keep their file)
        and the fresh result takes its place."""
        fresh = d.inode.lookup(t, name)
        if fresh is not None and fs.same_file(child.inode, fresh):
            fs.touch_dentry(child)
            return child
        if d.children.get(name) is child:
            del d.children[name]
        fs.forget_dentry(child)
        if fresh is None:
            return None
        new = Dentry(name, d, fresh)
        d.children[name] = new
        fs.touch_dentry(new)
        return new

    def _lookup(
        self, t: Any, vd: VirtualDentry, name: bytes, follow_mounts: bool = True,
        res: Optional[Resolve] = None, opening: bool = False,
        rest: Optional[List[bytes]] = None, rest_opens: bool = False,
    ) -> Optional[VirtualDentry]:
        cached = res is not None and bool(res.flags & RESOLVE_CACHED)
        child = self._lookup_dentry(t, vd, name, cached, opening, rest, rest_opens)
        if child is None:
            return None
        out = VirtualDentry(vd.mount, child)
        out = self._follow_mounts(out) if follow_mounts else out
        if res is not None:
            res.moved(out)
        return out

    def _parent(self, vd: VirtualDentry, root: VirtualDentry) -> VirtualDentry:
        while True:
            if vd == root:
                return vd
            m, d = vd
            if d is m.root:
                if m.parent is None or m.mountpoint is None:
                    return vd
                vd = VirtualDentry(m.parent, m.mountpoint)
                continue
            break
        parent = d.parent if d.parent is not None else d
        return self._follow_mounts(VirtualDentry(vd.mount, parent))

    def _walk(
        self,
        t: Any,
        start: VirtualDentry,
        path: bytes,
        follow_last: bool,
        root: VirtualDentry,
        links: Optional[List[int]] = None,
        res: Optional[Resolve] = None,
        track: Optional[List[VirtualDentry]] = None,
        opening: bool = False,
    ) -> VirtualDentry:
        """Resolve *path* from *start*; see the module docstring.  *res*: openat2's
        resolve flags, whose scoped root (``BENEATH``/``IN_ROOT``) is *root*.
        *opening*: the last component is about to be opened read-only
        (:meth:`Inode.lookup_open`)."""
        if links is None:
            links = [0]
        cur = root if path.startswith(b"/") else start
        if res is not None:
            res.start(cur)
        stack = list(reversed(_split(path)))
        trailing = path.endswith(b"/")
        while stack:
            name = stack.pop()
            last = not stack
            if not cur.dentry.inode.is_dir:
                raise err(errno.ENOTDIR)
            self._may_search(t, cur)
            if track is not None:
                track.append(cur)
            if name == b".":
                continue
            if name == b"..":
                if res is not None:
                    if cur == root:
                        res.dotdot_at_root()
                    cur = self._parent(cur, root)
                    res.moved(cur)
                    continue
                cur = self._parent(cur, root)
                continue
            if len(name) > 255:
                raise err(errno.ENAMETOOLONG)
            child = self._lookup(t, cur, name, res=res,
                                 opening=opening and last and not trailing, rest=stack,
                                 rest_opens=opening and not trailing)
            if child is None:
                raise err(errno.ENOENT)
            if child.dentry.inode.is_symlink and (not last or follow_last or trailing):
                if track is not None:
                    track.append(child)
                if res is not None:
                    res.symlink()
                links[0] += 1
                if links[0] > MAXSYMLINKS:
                    raise err(errno.ELOOP)
                magic = child.dentry.inode.get_link(t)
                if magic is not None:
                    if res is not None:
                        res.magic(cur, magic)
                    cur = magic
                    continue
                target = child.dentry.inode.readlink(t)
                if not target:
                    raise err(errno.ENOENT)
                if target.startswith(b"/"):
                    if res is not None:
                        res.jump_root(cur, root)
                    cur = root
                if last and target.endswith(b"/"):
                    trailing = True
                stack.extend(reversed(_split(target)))
                continue
            cur = child
        if trailing and not cur.dentry.inode.is_dir:
            raise err(errno.ENOTDIR)
        return cur

    def fd_vd(self, t: Any, dirfd: int) -> VirtualDentry:
        """The place *dirfd* names (``AT_FDCWD``: the cwd).  :raises LinuxError: ``EBADF``."""
        if dirfd == abi.AT_FDCWD:
            return t.fs.cwd
        desc = t.fdtable.get(dirfd)
        if desc.vd is None:
            raise err(errno.ENOTDIR)
        return desc.vd

    def _start(self, t: Any, dirfd: int, path: bytes, res: Optional[Resolve] = None) -> VirtualDentry:
        if path.startswith(b"/"):
            if res is None or not res.scoped:
                return t.fs.root
            if res.flags & RESOLVE_BENEATH:
                raise err(errno.EXDEV)
            if not res.anchor.dentry.inode.is_dir:
                raise err(errno.ENOTDIR)
            return res.anchor
        vd = self.fd_vd(t, dirfd)
        if not vd.dentry.inode.is_dir:
            raise err(errno.ENOTDIR)
        return vd

    def resolve_flags(self, t: Any, dirfd: int, path: bytes, flags: int) -> Resolve:
        """A :class:`Resolve` for openat2's *flags* relative to *dirfd* (its anchor for
        ``BENEATH``/``IN_ROOT``).

        :raises LinuxError: ``EBADF``, ``ENOTDIR`` for a scoped walk's dirfd.
        """
        if flags & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) and not (
                path.startswith(b"/") and flags & RESOLVE_BENEATH):
            anchor = self.fd_vd(t, dirfd)
        else:
            anchor = t.fs.root
        return Resolve(flags, anchor)

    def _root_for(self, t: Any, res: Optional[Resolve]) -> VirtualDentry:
        return res.anchor if res is not None and res.scoped else t.fs.root

    def resolve(
        self, t: Any, dirfd: int, path: bytes, follow: bool = True, empty_path: bool = False,
        res: Optional[Resolve] = None, track: Optional[List[VirtualDentry]] = None,
        opening: bool = False,
    ) -> VirtualDentry:
        """The place *path* names relative to *dirfd*.

        :param follow: follow a final symlink (not ``AT_SYMLINK_NOFOLLOW``).
        :param empty_path: ``AT_EMPTY_PATH``: ``b""`` names *dirfd* itself.
        :param track: gets every directory searched and symlink followed, in order
            (:mod:`sentry.vfs.statcache` decides from them whether the answer may be kept).
        :param opening: the caller opens what the path names read-only
            (:func:`_opens_for_reading`): the last lookup may open it too.
        :raises LinuxError: ``ENOENT`` (also for ``b""`` without *empty_path*),
            ``ENOTDIR``, ``ELOOP``, ``EACCES``, ``EBADF``, ``ENAMETOOLONG``.
        """
        if not path:
            if empty_path:
                return self.fd_vd(t, dirfd)
            raise err(errno.ENOENT)
        return self._walk(t, self._start(t, dirfd, path, res), path, follow,
                          self._root_for(t, res), res=res, track=track, opening=opening)

    def resolve_parent(self, t: Any, dirfd: int, path: bytes,
                       res: Optional[Resolve] = None) -> Tuple[VirtualDentry, bytes, bool]:
        """The directory that would hold *path*'s last component, that name, and
        whether *path* had a trailing slash.  The name may be ``b""`` (path
        ``/``), ``b"."`` or ``b".."``: callers give their syscall's errno.
        """
        if not path:
            raise err(errno.ENOENT)
        parts = _split(path)
        trailing = path.endswith(b"/")
        start = self._start(t, dirfd, path, res)
        root = self._root_for(t, res)
        if not parts:
            return root, b"", trailing
        name = parts[-1]
        head = b"/".join(parts[:-1])
        if path.startswith(b"/"):
            head = b"/" + head
        if res is not None:
            res.start(start)
        parent = self._walk(t, start, head, True, root, res=res) if head else start
        if not parent.dentry.inode.is_dir:
            raise err(errno.ENOTDIR)
        self._may_search(t, parent)
        if len(name) > 255:
            raise err(errno.ENAMETOOLONG)
        return parent, name, trailing

    # ---------------------------------------------------------------- checks
    @staticmethod
    def check_writable(vd: VirtualDentry) -> None:
        """:raises LinuxError: ``EROFS`` for a read-only mount or file system."""
        if vd.mount.readonly or vd.mount.fs.readonly:
            raise err(errno.EROFS)

    def _may_modify_dir(self, t: Any, vd: VirtualDentry) -> None:
        if vd.dentry.inode.dead_dir:
            raise err(errno.ENOENT)
        self.check_writable(vd)
        if t is not None:
            perm.check(t.creds, vd.dentry.inode, perm.MAY_WRITE | perm.MAY_EXEC)

    @staticmethod
    def _add_child(parent: VirtualDentry, name: bytes, inode: Inode) -> VirtualDentry:
        d = Dentry(name, parent.dentry, inode)
        if parent.mount.fs.cache_dentries:
            parent.dentry.children[name] = d
            parent.mount.fs.touch_dentry(d)
        return VirtualDentry(parent.mount, d)

    @staticmethod
    def _drop_child(parent: VirtualDentry, name: bytes) -> None:
        d = parent.dentry.children.pop(name, None)
        if d is not None:
            d.dead = True
            parent.mount.fs.forget_dentry(d)

    # ------------------------------------------------------------------ open
    def open_at(self, t: Any, dirfd: int, path: bytes, flags: int, mode: int,
                res: Optional[Resolve] = None) -> FileDescription:
        """openat(2) without the fd table: the new description; *res*: openat2's
        resolve flags.  An open without ``O_CREAT`` (nor *res*) whose path names nothing
        hands its ``ENOENT`` to the C stat cache as a stat's would: the listed directory
        where the walk stopped then answers the next opens of names it has not got
        (sc_absent: gcc's include path search, Python's and ld.so's candidates).

        :raises LinuxError: the errnos of open(2); ``EOPNOTSUPP`` for ``O_TMPFILE``.
        """
        if flags & abi.O_TMPFILE == abi.O_TMPFILE:
            raise err(errno.EOPNOTSUPP)
        if flags & abi.O_PATH:
            flags &= abi.O_PATH | abi.O_CLOEXEC | abi.O_DIRECTORY | abi.O_NOFOLLOW
        created = False
        if flags & abi.O_CREAT:
            parent, name, trailing = self.resolve_parent(t, dirfd, path, res)
            vd, created = self._open_create(t, parent, name, trailing, flags, mode, res)
        else:
            track: Optional[List[VirtualDentry]] = (
                [] if res is None and t is not None and statcache.enabled() else None)
            try:
                vd = self.resolve(t, dirfd, path, follow=not flags & abi.O_NOFOLLOW, res=res,
                                  track=track,
                                  opening=_opens_for_reading(flags))
            except LinuxError as e:
                if track is not None and e.errno == errno.ENOENT:
                    statcache.keep(t, statcache.STAT, dirfd, path, bool(flags & abi.O_NOFOLLOW),
                                   track, None, None, -errno.ENOENT, self.root())
                raise
            if track is not None and not flags & (abi.O_ACCMODE | abi.O_PATH | abi.O_TRUNC):
                # A read-only open of a file of the trusted lower layer: its host fd is
                # kept under this key when released, for C to re-open (rt.c
                # sc_open_file); one kept already is this open's.
                root = self.root()
                key = statcache.reopen_key(t, dirfd, path, flags, track, vd, root)
                if key is not None:
                    lower = statcache.trusted_gofer_inode(vd.dentry.inode)
                    if lower is not None and lower._pending_fd is None:
                        fd = statcache.reopen_take(key)
                        if fd >= 0:
                            lower._pending_fd = (fd, abi.O_RDONLY)
                    desc = self.open_vd(t, vd, flags, created)
                    desc.reopen_key = key
                    statcache.opened(t, key, track, vd, root)
                    return desc
        return self.open_vd(t, vd, flags, created)

    def _open_create(
        self, t: Any, parent: VirtualDentry, name: bytes, trailing: bool, flags: int, mode: int,
        res: Optional[Resolve] = None,
    ) -> Tuple[VirtualDentry, bool]:
        links = [0]
        root = self._root_for(t, res)
        while True:
            if trailing or name in (b"", b".", b".."):
                raise err(errno.EISDIR)
            child = self._lookup(t, parent, name, res=res)
            if child is None:
                self._may_modify_dir(t, parent)
                perms = mode & 0o7777 & ~(t.fs.umask if t is not None else 0)
                inode = parent.dentry.inode.create(t, name, perms, flags)
                if fsnotify.active:
                    fsnotify.created(parent.dentry, name, inode)
                return self._add_child(parent, name, inode), True
            if flags & abi.O_EXCL:
                raise err(errno.EEXIST)
            if not child.dentry.inode.is_symlink:
                return child, False
            if flags & abi.O_NOFOLLOW:
                raise err(errno.ELOOP)
            if res is not None:
                res.symlink()
            links[0] += 1
            if links[0] > MAXSYMLINKS:
                raise err(errno.ELOOP)
            magic = child.dentry.inode.get_link(t)
            if magic is not None:
                if res is not None:
                    res.magic(parent, magic)
                return magic, False
            target = child.dentry.inode.readlink(t)
            if not target:
                raise err(errno.ENOENT)
            parts = _split(target)
            if target.startswith(b"/"):
                if res is not None:
                    res.jump_root(parent, root)
                start = root
            else:
                start = parent
            if not parts:
                return start, False
            head = b"/".join(parts[:-1])
            parent = self._walk(t, start, head, True, root, links, res) if head else start
            if not parent.dentry.inode.is_dir:
                raise err(errno.ENOTDIR)
            self._may_search(t, parent)
            name = parts[-1]
            trailing = target.endswith(b"/")

    def open_vd(self, t: Any, vd: VirtualDentry, flags: int, created: bool = False) -> FileDescription:
        """Open the file at *vd* (resolved already) with open(2) *flags*."""
        inode = vd.dentry.inode
        if flags & abi.O_PATH:
            if flags & abi.O_DIRECTORY and not inode.is_dir:
                raise err(errno.ENOTDIR)
            return PathDescription(vd, inode, flags)
        # (do_open's O_DIRECTORY check before may_open's ELOOP: O_NOFOLLOW|O_DIRECTORY
        # of a symlink is ENOTDIR)
        if flags & abi.O_DIRECTORY and not inode.is_dir:
            raise err(errno.ENOTDIR)
        if inode.is_symlink:
            raise err(errno.ELOOP)
        if vd.mount.nodev and (inode.mode & abi.S_IFMT) in (abi.S_IFCHR, abi.S_IFBLK):
            raise err(errno.EACCES)  # may_open_dev
        acc = flags & abi.O_ACCMODE
        if acc == abi.O_ACCMODE:
            raise err(errno.EINVAL)
        want = 0
        if acc in (abi.O_RDONLY, abi.O_RDWR):
            want |= perm.MAY_READ
        if acc in (abi.O_WRONLY, abi.O_RDWR) or flags & abi.O_TRUNC:
            want |= perm.MAY_WRITE
        if inode.is_dir and (want & perm.MAY_WRITE or flags & abi.O_CREAT):
            raise err(errno.EISDIR)
        if want & perm.MAY_WRITE and (inode.is_reg or inode.is_dir):
            self.check_writable(vd)
        if not created and t is not None:
            perm.check(t.creds, inode, want)
        truncate = bool(flags & abi.O_TRUNC and inode.is_reg and not created)
        writer = acc != abi.O_RDONLY and inode.is_reg
        if (writer or truncate) and inode.write_count < 0:
            raise err(errno.ETXTBSY)  # a running program (do_dentry_open, handle_truncate)
        if truncate:
            inode.setattr(t, SetAttr(size=0, mtime_ns=now_ns()))
        desc = inode.open(t, vd, flags & ~abi.O_TRUNC)
        if writer:
            inode.get_write_access()
            desc.write_inode = inode
        fsnotify.opened(desc, inode, truncate)
        return desc

    def open_path(self, t: Any, path: bytes, flags: int) -> FileDescription:
        """Open *path* relative to *t*'s cwd, following symlinks (for the loader)."""
        return self.open_at(t, abi.AT_FDCWD, path, flags, 0)

    def open_exec(self, t: Any, path: bytes) -> Tuple[FileDescription, bytes]:
        """Open an executable for execve: a read-only description and its absolute path.

        :raises LinuxError: the resolution errnos, ``EACCES`` if the file is not
            a regular file, is on a ``noexec`` mount or is not executable by *t*,
            ``ETXTBSY`` if it is open for writing.
            (``ENOEXEC`` is the loader's to decide.)
        """
        vd = self._resolve_exec(t, path)
        inode = vd.dentry.inode
        if not inode.is_reg or vd.mount.noexec:
            raise err(errno.EACCES)
        perm.check(creds_of(t), inode, perm.MAY_EXEC)
        if inode.write_count > 0:
            raise err(errno.ETXTBSY)  # open for writing (do_open_execat)
        desc = self.open_vd(t, vd, abi.O_RDONLY)
        return desc, self.path_for_task(t, vd)

    def _resolve_exec(self, t: Any, path: bytes) -> VirtualDentry:
        """:meth:`resolve` of an executable's path, kept while nothing can change what it
        walks to (the stat cache's rule and generation, :mod:`sentry.vfs.statcache`): a
        shell or a build runs the same few programs again and again.  A file's own name
        changes without a new generation (an unlink, a rename of or over it:
        ``statcache.removed``), but either leaves it no longer :func:`statcache.trusted`
        (removed, or copied up by the rename): a kept walk to such a file is walked again."""
        gen = statcache.generation()
        base = statcache.key_base(t, abi.AT_FDCWD, path, self.root()) if gen is not None \
            else None
        if base is not None:
            hit = self._exec_walks.get((base, path))
            if hit is not None and hit[0] == gen and not hit[1].dentry.dead \
                    and statcache.trusted(hit[1].dentry.inode):
                return hit[1]
        track: List[VirtualDentry] = []
        vd = self.resolve(t, abi.AT_FDCWD, path, follow=True, track=track,
                          opening=True)
        if gen is not None and base is not None and statcache.walk_kept(base, track, vd):
            if len(self._exec_walks) >= EXEC_WALKS_MAX:
                self._exec_walks.clear()
            self._exec_walks[(base, path)] = (gen, vd)
        return vd

    def may_exec(self, t: Any, vd: VirtualDentry) -> bool:
        """Whether *t* may execute the file at *vd* (regular, permitted, not ``noexec``)."""
        inode = vd.dentry.inode
        return inode.is_reg and not vd.mount.noexec and perm.mode_allows(
            creds_of(t), inode.mode, inode.uid, inode.gid, perm.MAY_EXEC,
            mapped=inode.ids_mapped,
        )

    # -------------------------------------------------------------- creation
    def mkdir_at(self, t: Any, dirfd: int, path: bytes, mode: int) -> None:
        """mkdirat(2)."""
        parent, name, _ = self.resolve_parent(t, dirfd, path)
        if name in (b"", b".", b".."):
            raise err(errno.EEXIST)
        if self._lookup(t, parent, name) is not None:
            raise err(errno.EEXIST)
        self._may_modify_dir(t, parent)
        perms = mode & 0o1777 & ~t.fs.umask
        inode = parent.dentry.inode.mkdir(t, name, perms)
        if fsnotify.active:
            fsnotify.created(parent.dentry, name, inode)
        self._add_child(parent, name, inode)

    def mknod_at(self, t: Any, dirfd: int, path: bytes, mode: int, rdev: int) -> None:
        """mknodat(2) for regular files, FIFOs and sockets (devices: ``EPERM``)."""
        ftype = mode & abi.S_IFMT
        if ftype == 0:
            ftype = abi.S_IFREG
        if ftype in (abi.S_IFCHR, abi.S_IFBLK):
            raise err(errno.EPERM)
        if ftype not in (abi.S_IFREG, abi.S_IFIFO, abi.S_IFSOCK):
            raise err(errno.EINVAL)
        parent, name, trailing = self.resolve_parent(t, dirfd, path)
        if name in (b"", b".", b".."):
            raise err(errno.EEXIST)
        if self._lookup(t, parent, name) is not None:
            raise err(errno.EEXIST)
        if trailing:
            raise err(errno.ENOENT)
        self._may_modify_dir(t, parent)
        perms = mode & 0o7777 & ~t.fs.umask
        inode = parent.dentry.inode.mknod(t, name, ftype | perms, 0)
        if fsnotify.active:
            fsnotify.created(parent.dentry, name, inode)
        self._add_child(parent, name, inode)

    def symlink_at(self, t: Any, target: bytes, dirfd: int, path: bytes) -> None:
        """symlinkat(2)."""
        if not target:
            raise err(errno.ENOENT)
        parent, name, trailing = self.resolve_parent(t, dirfd, path)
        if name in (b"", b".", b".."):
            raise err(errno.EEXIST)
        if self._lookup(t, parent, name) is not None:
            raise err(errno.EEXIST)
        if trailing:
            raise err(errno.ENOENT)
        self._may_modify_dir(t, parent)
        inode = parent.dentry.inode.symlink(t, name, target)
        if fsnotify.active:
            fsnotify.created(parent.dentry, name, inode)
        self._add_child(parent, name, inode)

    def link_at(
        self, t: Any, olddirfd: int, oldpath: bytes, newdirfd: int, newpath: bytes, flags: int
    ) -> None:
        """linkat(2).  :raises LinuxError: ``EINVAL`` for unknown flags."""
        if flags & ~(abi.AT_SYMLINK_FOLLOW | abi.AT_EMPTY_PATH):
            raise err(errno.EINVAL)
        old = self.resolve(
            t, olddirfd, oldpath, follow=bool(flags & abi.AT_SYMLINK_FOLLOW),
            empty_path=bool(flags & abi.AT_EMPTY_PATH),
        )
        if old.dentry.inode.is_dir:
            raise err(errno.EPERM)
        parent, name, trailing = self.resolve_parent(t, newdirfd, newpath)
        if name in (b"", b".", b".."):
            raise err(errno.EEXIST)
        if self._lookup(t, parent, name) is not None:
            raise err(errno.EEXIST)
        if trailing:
            raise err(errno.ENOENT)
        if old.mount is not parent.mount:
            raise err(errno.EXDEV)
        self._may_modify_dir(t, parent)
        if old.dentry.dead and old.dentry.inode.stat().nlink == 0:
            raise err(errno.ENOENT)
        inode = parent.dentry.inode.link(t, name, old.dentry.inode)
        if fsnotify.active:
            fsnotify.linked(parent.dentry, name, old.dentry.inode)
        self._add_child(parent, name, inode)

    # --------------------------------------------------------------- removal
    def unlink_at(self, t: Any, dirfd: int, path: bytes, flags: int) -> None:
        """unlinkat(2) (``AT_REMOVEDIR``: rmdir).  :raises LinuxError: ``EINVAL`` for other flags."""
        if flags & ~abi.AT_REMOVEDIR:
            raise err(errno.EINVAL)
        rmdir = bool(flags & abi.AT_REMOVEDIR)
        parent, name, trailing = self.resolve_parent(t, dirfd, path)
        if rmdir:
            if name == b".":
                raise err(errno.EINVAL)
            if name == b"..":
                raise err(errno.ENOTEMPTY)
            if name == b"":
                raise err(errno.EBUSY)
        elif name in (b"", b".", b".."):
            raise err(errno.EISDIR)
        child = self._lookup(t, parent, name, follow_mounts=False)
        if child is None:
            raise err(errno.ENOENT)
        inode = child.dentry.inode
        if rmdir:
            if not inode.is_dir:
                raise err(errno.ENOTDIR)
        else:
            if inode.is_dir:
                raise err(errno.EISDIR)
            if trailing:
                raise err(errno.ENOTDIR)
        self._may_modify_dir(t, parent)
        if child.dentry.mounts:
            raise err(errno.EBUSY)
        if rmdir:
            if not inode.is_empty_dir(t):
                raise err(errno.ENOTEMPTY)
            parent.dentry.inode.rmdir(t, name, inode)
            inode.dead_dir = True
        else:
            parent.dentry.inode.unlink(t, name, inode)
        self._drop_child(parent, name)
        child.dentry.dead = True
        parent.mount.fs.forget_dentry(child.dentry)
        if fsnotify.active:
            fsnotify.removed(parent.dentry, name, inode, rmdir)

    def rename_at(
        self, t: Any, olddirfd: int, oldpath: bytes, newdirfd: int, newpath: bytes, flags: int
    ) -> None:
        """renameat2(2).  ``RENAME_WHITEOUT`` is refused (``EINVAL``)."""
        if flags & ~(abi.RENAME_NOREPLACE | abi.RENAME_EXCHANGE):
            raise err(errno.EINVAL)
        if flags & abi.RENAME_NOREPLACE and flags & abi.RENAME_EXCHANGE:
            raise err(errno.EINVAL)
        op, oname, otrail = self.resolve_parent(t, olddirfd, oldpath)
        np, nname, ntrail = self.resolve_parent(t, newdirfd, newpath)
        if oname in (b"", b".", b"..") or nname in (b"", b".", b".."):
            raise err(errno.EBUSY)
        if op.mount is not np.mount:
            raise err(errno.EXDEV)
        src = self._lookup(t, op, oname, follow_mounts=False)
        if src is None:
            raise err(errno.ENOENT)
        dst = self._lookup(t, np, nname, follow_mounts=False)
        exchange = bool(flags & abi.RENAME_EXCHANGE)
        if exchange and dst is None:
            raise err(errno.ENOENT)
        if flags & abi.RENAME_NOREPLACE and dst is not None:
            raise err(errno.EEXIST)
        sinode = src.dentry.inode
        if not sinode.is_dir and (otrail or ntrail):
            if not exchange or dst is None or not dst.dentry.inode.is_dir:
                raise err(errno.ENOTDIR)
        self._may_modify_dir(t, op)
        self._may_modify_dir(t, np)
        if dst is not None and dst.dentry is src.dentry:
            return
        if dst is not None and dst.dentry.inode is sinode:
            return  # Two links of one file: rename does nothing (rename(2)).
        if src.dentry.mounts or (dst is not None and dst.dentry.mounts):
            raise err(errno.EBUSY)
        if sinode.is_dir and self._is_ancestor(src.dentry, np.dentry):
            raise err(errno.EINVAL)
        dinode = dst.dentry.inode if dst is not None else None
        if exchange:
            assert dinode is not None
            if dinode.is_dir and self._is_ancestor(dst.dentry, op.dentry):  # type: ignore[union-attr]
                raise err(errno.EINVAL)
        elif dinode is not None:
            if dinode.is_dir and self._is_ancestor(dst.dentry, op.dentry):  # type: ignore[union-attr]
                raise err(errno.ENOTEMPTY)
            if sinode.is_dir and not dinode.is_dir:
                raise err(errno.ENOTDIR)
            if not sinode.is_dir and dinode.is_dir:
                raise err(errno.EISDIR)
            if dinode.is_dir and not dinode.is_empty_dir(t):
                raise err(errno.ENOTEMPTY)
        if t is not None and op.dentry is not np.dentry:
            # Moving a directory rewrites its "..": Linux wants write access to it.
            if sinode.is_dir:
                perm.check(t.creds, sinode, perm.MAY_WRITE)
            if exchange and dinode is not None and dinode.is_dir:
                perm.check(t.creds, dinode, perm.MAY_WRITE)
        op.dentry.inode.rename(t, oname, sinode, np.dentry.inode, nname, dinode, flags)
        if dinode is not None and dinode.is_dir and not exchange:
            dinode.dead_dir = True
        self._rename_dentries(op, oname, src.dentry, np, nname, dst.dentry if dst else None, exchange)
        if fsnotify.active:
            fsnotify.moved(op.dentry, oname, np.dentry, nname, sinode, dinode, exchange)

    @staticmethod
    def _is_ancestor(a: Dentry, d: Optional[Dentry]) -> bool:
        while d is not None:
            if d is a:
                return True
            d = d.parent
        return False

    @staticmethod
    def _rename_dentries(
        op: VirtualDentry, oname: bytes, src: Dentry, np: VirtualDentry, nname: bytes,
        dst: Optional[Dentry], exchange: bool,
    ) -> None:
        odir, ndir = op.dentry, np.dentry
        fs = op.mount.fs
        odir.children.pop(oname, None)
        ndir.children.pop(nname, None)
        src.name, src.parent = nname, ndir
        if fs.cache_dentries:
            ndir.children[nname] = src
            fs.touch_dentry(src)
        if dst is not None:
            if exchange:
                dst.name, dst.parent = oname, odir
                if fs.cache_dentries:
                    odir.children[oname] = dst
                    fs.touch_dentry(dst)
            else:
                dst.dead = True
                fs.forget_dentry(dst)

    # -------------------------------------------------------------- metadata
    def readlink_at(self, t: Any, dirfd: int, path: bytes) -> bytes:
        """readlinkat(2)'s target (``b""`` path: the dirfd itself, an ``O_PATH`` symlink)."""
        vd = self.resolve(t, dirfd, path, follow=False, empty_path=True)
        inode = vd.dentry.inode
        if not inode.is_symlink:
            raise err(errno.EINVAL if path else errno.ENOENT)
        return inode.readlink(t)

    def setattr(self, t: Any, vd: VirtualDentry, attr: SetAttr) -> None:
        """Apply *attr* to the file at *vd* after the read-only check."""
        self.check_writable(vd)
        vd.dentry.inode.setattr(t, attr)
        if fsnotify.active:
            fsnotify.attr_changed(vd.dentry, attr)

    def chmod(self, t: Any, vd: VirtualDentry, mode: int) -> None:
        """chmod(2) family.  :raises LinuxError: ``EOPNOTSUPP`` for a symlink (Linux
            6.6's ``notify_change``, after ``EROFS``), ``EPERM`` unless owner or root."""
        inode = vd.dentry.inode
        creds = creds_of(t)
        if inode.is_symlink:
            self.check_writable(vd)
            raise err(errno.EOPNOTSUPP)
        if not perm.is_owner_or_root(creds, inode):
            raise err(errno.EPERM)
        mode &= 0o7777
        if (not inode.is_dir and not perm.in_group(creds, inode.gid)
                and not (inode.ids_mapped and creds.capable(cap.CAP_FSETID))):
            mode &= ~abi.S_ISGID
        self.setattr(t, vd, SetAttr(mode=mode))

    def chown(self, t: Any, vd: VirtualDentry, uid: int, gid: int) -> None:
        """chown(2) family; ``-1`` leaves an id alone.

        :raises LinuxError: ``EPERM`` for a change only ``CAP_CHOWN`` may make.
        """
        inode = vd.dentry.inode
        creds = creds_of(t)
        new_uid = None if uid == -1 else uid
        new_gid = None if gid == -1 else gid
        if not (inode.ids_mapped and creds.capable(cap.CAP_CHOWN)):
            owner = creds.fsuid == inode.uid
            if new_uid is not None and not (owner and new_uid == inode.uid):
                raise err(errno.EPERM)
            if new_gid is not None and not (
                owner and (new_gid == inode.gid or perm.in_group(creds, new_gid))
            ):
                raise err(errno.EPERM)
        attr = SetAttr(uid=new_uid, gid=new_gid)
        if not inode.is_dir and (new_uid is not None or new_gid is not None):
            # chown clears set-user-ID and (if group-executable) set-group-ID.
            mode = inode.mode & 0o7777
            cleared = mode & ~abi.S_ISUID
            if mode & 0o010:
                cleared &= ~abi.S_ISGID
            if cleared != mode:
                attr.mode = cleared
        if attr.empty():
            self.check_writable(vd)
            return
        self.setattr(t, vd, attr)

    def utimens(self, t: Any, vd: VirtualDentry, atime: Optional[int], mtime: Optional[int],
                explicit: bool) -> None:
        """utimensat(2) on *vd*: times in ns, ``None`` to omit, ``abi.UTIME_NOW``.

        :param explicit: some time was given explicitly (not NULL or
            ``UTIME_NOW``): only the owner or root may do that (``EPERM``);
            otherwise write permission suffices (``EACCES``).
        """
        inode = vd.dentry.inode
        creds = creds_of(t)
        if not perm.is_owner_or_root(creds, inode):
            if explicit:
                raise err(errno.EPERM)
            self.check_writable(vd)
            perm.check(creds, inode, perm.MAY_WRITE)
        n = now_ns()
        a = n if atime == abi.UTIME_NOW else atime
        m = n if mtime == abi.UTIME_NOW else mtime
        if a is None and m is None:
            return
        self.setattr(t, vd, SetAttr(atime_ns=a, mtime_ns=m))

    def truncate(self, t: Any, vd: VirtualDentry, size: int) -> None:
        """truncate(2) on a path.  :raises LinuxError: ``EISDIR``, ``EINVAL``, ``EACCES``."""
        inode = vd.dentry.inode
        if inode.is_dir:
            raise err(errno.EISDIR)
        if not inode.is_reg:
            raise err(errno.EINVAL)
        if size < 0:
            raise err(errno.EINVAL)
        self.check_writable(vd)
        perm.check(creds_of(t), inode, perm.MAY_WRITE)
        if inode.write_count < 0:
            raise err(errno.ETXTBSY)  # a running program (vfs_truncate)
        attr = SetAttr(size=size, mtime_ns=now_ns())
        inode.setattr(t, attr)
        if fsnotify.active:
            fsnotify.attr_changed(vd.dentry, attr)

    def access_at(self, t: Any, dirfd: int, path: bytes, mode: int, flags: int) -> None:
        """faccessat2(2).  :raises LinuxError: ``EINVAL`` for bad *mode* or *flags*."""
        if mode & ~7:
            raise err(errno.EINVAL)
        if flags & ~(abi.AT_EACCESS | abi.AT_SYMLINK_NOFOLLOW | abi.AT_EMPTY_PATH):
            raise err(errno.EINVAL)
        vd = self.resolve(
            t, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW,
            empty_path=bool(flags & abi.AT_EMPTY_PATH),
        )
        self.access_check(t, vd, mode, flags)

    def access_check(self, t: Any, vd: VirtualDentry, mode: int, flags: int) -> None:
        """faccessat2(2)'s question about the file at *vd*.  :raises LinuxError:
        ``EROFS``, ``ETXTBSY``, ``EACCES``."""
        inode = vd.dentry.inode
        if mode & abi.X_OK and inode.is_reg and vd.mount.noexec:
            # do_faccessat: a regular file of a noexec mount is no one's to execute, before
            # any other check (the C fast path answers only the root overlay's files, whose
            # mount is never noexec).
            raise err(errno.EACCES)
        if mode & abi.W_OK and (inode.is_reg or inode.is_dir or inode.is_symlink):
            self.check_writable(vd)
        if not perm.mode_allows(
            t.creds, inode.mode, inode.uid, inode.gid, mode, use_real=not flags & abi.AT_EACCESS,
            mapped=inode.ids_mapped,
        ):
            raise err(errno.EACCES)

    def statfs(self, t: Any, vd: VirtualDentry) -> Any:
        """statfs of the file system at *vd*, with the mount's flags (``ST_*``)."""
        m = vd.mount
        s = m.fs.statfs(t)
        if m.readonly:
            s.flags |= abi.ST_RDONLY
        for mnt_flag, st_flag in ((m.nosuid, abi.ST_NOSUID), (m.nodev, abi.ST_NODEV),
                                  (m.noexec, abi.ST_NOEXEC),
                                  (m.flags & MNT_NOATIME, abi.ST_NOATIME),
                                  (m.flags & MNT_NODIRATIME, abi.ST_NODIRATIME),
                                  (m.flags & MNT_RELATIME, abi.ST_RELATIME)):
            if mnt_flag:
                s.flags |= st_flag
        return s

    # ------------------------------------------------------------- cwd/root
    def chdir(self, t: Any, vd: VirtualDentry) -> None:
        """Make *vd* the cwd.  :raises LinuxError: ``ENOTDIR``, ``EACCES``."""
        if not vd.dentry.inode.is_dir:
            raise err(errno.ENOTDIR)
        self._may_search(t, vd)
        t.fs.cwd = vd
        statcache.fs_changed(t.fs)

    def chroot(self, t: Any, vd: VirtualDentry) -> None:
        """Make *vd* the root.

        :raises LinuxError: ``ENOTDIR``, ``EACCES``, ``EPERM`` (no ``CAP_SYS_CHROOT``).
        """
        if not vd.dentry.inode.is_dir:
            raise err(errno.ENOTDIR)
        self._may_search(t, vd)
        if not t.creds.capable(cap.CAP_SYS_CHROOT):
            raise err(errno.EPERM)
        t.fs.root = vd
        statcache.fs_changed(t.fs)

    # -------------------------------------------------------------- /proc
    def mount_entries(self, t: Any) -> List[Tuple[Mount, bytes]]:
        """Mounts visible from *t*'s root with their mount-point paths (``/proc/mounts``)."""
        root = t.fs.root if t is not None else self.root()
        out = []
        for m in self.mounts:
            if m.parent is None or m.mountpoint is None:
                vd = VirtualDentry(m, m.root)
            else:
                vd = VirtualDentry(m.parent, m.mountpoint)
            path, reachable = self.path_of(vd, root)
            if m is root.mount and root.dentry is not m.root:
                continue
            if reachable:
                out.append((m, path))
        return out


def is_dir_mode(mode: int) -> bool:
    return _st.S_ISDIR(mode)
