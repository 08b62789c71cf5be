"""Which ``newfstatat`` answers the C fast path may give without the sentry's Python, and
when they go stale.

The C side (native/src/rt.c, "stat cache") keeps answers keyed by (base, nofollow,
path): base 0 for an absolute path, else the key of the task's cwd.  It answers only
tasks whose root is the sandbox's (a ``chroot``'d task always comes to Python).  An
answer is kept (:func:`keep`) only when nothing but the sentry itself could change it:

- every directory the walk searched is on the root overlay (or a trusted gofer root)
  and searchable by everyone (``x`` for owner, group and others), so the answer is the
  same whoever asks; or, for a task that may search any directory (``CAP_DAC_OVERRIDE``
  or ``CAP_DAC_READ_SEARCH``: root, mostly), whose owner is mapped, and the answer is
  kept under a key of its own (``SEARCH_ALL``, bit 63 of the base; the C side knows each
  task's bit, re-sent whenever an effective set is assigned);
- every symlink followed and the file itself are on the read-only lower layer (not
  copied up) of a trusted gofer file system: their attributes cannot change;
- a missing name (``ENOENT``) under such directories is kept too.

Every change the sentry makes to names, attributes or mounts calls :func:`invalidate`,
which makes every kept answer stale at once (a generation number): the VFS's name
operations, ``setattr`` and mounts; the removal or rename of a name of a file that is
no directory and no symlink calls :func:`removed` instead, which drops the answers about
that file only.  The overlay's copy-up of a file changes nothing
yet, but from then on the file may change without one: it calls :func:`forget`, which
drops the answers about that file only.  A name appearing in a directory calls
:func:`appeared`: the kept ``ENOENT``s of that directory go.  A task's cwd key is its
place's, the same for the same root and cwd (:func:`fs_changed`).
"""

from __future__ import annotations

import array
import errno
import itertools
import weakref

from sentry.abi.linux import capability as cap
from sentry.vfs import abi
from sentry.vfs.dentry import VirtualDentry

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

_keys = itertools.count(1)

#: Set by the kernel when the C fast path serves newfstatat (None: nothing to keep).
_bump: Optional[Callable[[], None]] = None
_put: Optional[Callable[..., None]] = None
_gen: Optional[Callable[[], int]] = None
_sync_fs: Optional[Callable[[Any], None]] = None
#: Makes the kept error answers stale, and only those (invalidate_missing).
_bump_missing: Optional[Callable[[], None]] = None
#: A listed directory's answers, the stats its symlinks follow to and its names (C answers
#: ENOENT for a path through it whose next component is not one of them) in one call
#: (native.statcache_put_listing); None: no pre-filling.
_put_listing: Optional[Callable[..., None]] = None
#: The same from the entries as the gofer sent them (native.statcache_put_wire); None:
#: the Python loop of _fill only.
_put_wire: Optional[Callable[..., bool]] = None
#: Drops every kept answer about one file (native.statcache_forget); None: invalidate.
_forget: Optional[Callable[[int], None]] = None
#: The same for a file one of whose names went, and C's /proc/self/exe answers
#: (native.statcache_removed); None: invalidate.
_removed: Optional[Callable[[int], None]] = None
#: Makes the kept ENOENTs of one directory stale (native.statcache_appeared); None:
#: invalidate_missing.
_appeared: Optional[Callable[[int], None]] = None
#: Keeps a released read-only host fd for C to re-open (native.reopen_put), and takes one
#: back for an open Python serves (native.reopen_take); None: nothing is kept.
_reopen_put: Optional[Callable[..., bool]] = None
_reopen_take: Optional[Callable[..., int]] = None
#: sizeof(struct stat)
_STAT_SIZE = 144


def enable(bump: Callable[[], None], put: Callable[..., None], gen: Callable[[], int],
           sync_fs: Callable[[Any], None],
           bump_missing: Optional[Callable[[], None]] = None,
           put_listing: Optional[Callable[..., None]] = None,
           set_exe: Optional[Callable[[int, bytes, int], None]] = None,
           put_wire: Optional[Callable[..., bool]] = None,
           put_dirc: Optional[Callable[..., bool]] = None,
           put_dirc_child: Optional[Callable[..., bool]] = None,
           want_statx: Optional[Callable[[], None]] = None,
           forget: Optional[Callable[[int], None]] = None,
           reopen_put: Optional[Callable[..., bool]] = None,
           reopen_take: Optional[Callable[..., int]] = None,
           removed: Optional[Callable[[int], None]] = None,
           appeared: Optional[Callable[[int], None]] = None,
           filec_mapx: Optional[Callable[[bool], None]] = None) -> None:
    global _bump, _put, _gen, _sync_fs, _bump_missing, _put_listing, _set_exe, _put_wire
    global _put_dirc, _put_dirc_child, _want_statx, _forget, _reopen_put, _reopen_take
    global _removed, _appeared, _filec_mapx
    _bump, _put, _gen, _sync_fs, _forget = bump, put, gen, sync_fs, forget
    _removed, _appeared, _filec_mapx = removed, appeared, filec_mapx
    _reopen_put, _reopen_take = reopen_put, reopen_take
    _bump_missing = bump_missing if bump_missing is not None else bump
    _put_listing, _set_exe, _put_wire = put_listing, set_exe, put_wire
    _put_dirc, _put_dirc_child, _want_statx = put_dirc, put_dirc_child, want_statx
    if want_statx is not None and _kinds_seen & (1 << STATX):
        want_statx()


def disable() -> None:
    global _bump, _put, _gen, _sync_fs, _bump_missing, _put_listing, _set_exe, _put_wire
    global _put_dirc, _put_dirc_child, _want_statx, _forget, _reopen_put, _reopen_take
    global _removed, _appeared, _filec_mapx
    _bump = _put = _gen = _sync_fs = _bump_missing = _put_listing = _set_exe = None
    _put_wire = _put_dirc = _put_dirc_child = _want_statx = _forget = None
    _reopen_put = _reopen_take = _removed = _appeared = _filec_mapx = None
    on_new_place(None)


def kept_fds_budget() -> int:
    """How many released read-only host fds the sentry keeps for re-opens, C's
    (native.reopen_cap) and, as many again, the gofer inodes' (GoferInode._pending_fd):
    an eighth of its RLIMIT_NOFILE each.  The rest is for what the sandbox holds (each
    open gofer file, a task's listener and pidfd...); kept fds past the limit made the
    sentry's next receipt of a gofer fd fail (MSG_CTRUNC), which breaks the channel."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return soft // 8


def enabled() -> bool:
    return _put is not None


#: Gives C a task's readlink("/proc/self/exe") answer (host tid, target, generation).
_set_exe: Optional[Callable[[int, bytes, int], None]] = None
#: The generation in which "/proc/self/exe" was last seen to resolve to procfs's link,
#: and whether it did.
_proc_checked: List[Any] = [None, False]
PROC_SELF_EXE = b"/proc/self/exe"


def self_exe(t: Any, target: bytes) -> None:
    """*t*'s ``readlink("/proc/self/exe")`` is *target* (Python just answered it) until a
    name or a mount changes: C answers it from now on."""
    if _set_exe is not None and _gen is not None:
        _set_exe(t.host_tid, target, _gen())


def self_exe_at_exec(t: Any, vfs: Any) -> None:
    """*t*'s process just exec'd: what C answered for its /proc/self/exe is no longer
    right; the new program's path is, if "/proc/self/exe" leads to procfs's link from
    the sandbox's root (checked once a generation, by a real walk) and *t* is not
    chroot'ed (then C does not answer anyway)."""
    if _set_exe is None or _gen is None:
        return
    from sentry.fsimpl.proc.filesystem import ProcFilesystem, ProcSymlink

    gen = _gen()
    target = b""
    if t.fs.root == vfs.root() and t.tg.exe_vd is not None:
        if _proc_checked[0] != gen:
            ok = False
            try:
                vd = vfs.resolve(t, -100, PROC_SELF_EXE, follow=False)
                ok = isinstance(vd.mount.fs, ProcFilesystem) and \
                    isinstance(vd.dentry.inode, ProcSymlink)
            except Exception:  # noqa: BLE001 - no /proc there, a bad mount: Python answers
                ok = False
            _proc_checked[:] = [gen, ok]
        if _proc_checked[1]:
            target = vfs.path_for_task(t, t.tg.exe_vd)
    _set_exe(t.host_tid, target, gen)


def new_key() -> int:
    """A cwd key no other cwd state has had."""
    return next(_keys)


def invalidate() -> None:
    """Something that a kept answer may depend on changed."""
    if _bump is not None:
        _bump()


#: Tells C whether it may map a file it re-opened ``PROT_EXEC`` (native.filec_mapx).
_filec_mapx: Optional[Callable[[bool], None]] = None


def mounted(mounts: List[Any]) -> None:
    """The mount tree is now *mounts*: C may map the files it re-opens (rt.c
    ``sc_open_file``, of gofer and overlay file systems, which it does not know the mount
    of) with ``PROT_EXEC`` only while no mount of such a file system is ``noexec``; else
    those mappings are Python's (``sys_mm.mmap_file``), which refuses them on one."""
    if _filec_mapx is not None:
        _filec_mapx(not any(m.noexec and m.fs.holds_host_fds for m in mounts))


def forget(ino: int) -> None:
    """The overlay is about to copy the file *ino* of its lower layer up: every kept
    answer about it goes (its stat and statx answers under any path, a directory's names
    and the entries C opens it with, the fstat answer of a fd open on it), since from now
    on it may change without an :func:`invalidate` (a file created in a copied-up
    directory moves its times and names and calls :func:`appeared` only).  The answers
    about other files stay, those walked through it included: the copy has the lower
    directory's names, owner and mode, and a change to any of those invalidates (the
    removal or rename of a directory or a symlink, ``setattr``) or is the named file's
    own (:func:`removed`).  Its parents are copied up
    first, each forgotten the same way, so every listing that holds this file's entry
    goes with them.  A git index.lock, a log written in a lower-layer directory: the
    answers of the rest of the tree stay.  (The answers Python keeps later see the copy:
    :func:`trusted` and :func:`_listed` refuse a copied-up file.)"""
    if _forget is not None:
        _forget(ino)
    elif _bump is not None:
        _bump()


def removed(ino: int) -> None:
    """A name of the file *ino*, which is no directory and no symlink, went or now names
    another file (an unlink, a rename of it or over it): nothing walks through such a
    file, so the answers that can be wrong now are those about it: its stat and statx
    under any name, which its inode number finds, as :func:`forget` drops them (a hard
    link's count changes too); the fds C keeps to re-open it by its path; a readlink's
    ``EINVAL`` of it (:func:`keep` hands that error over with the file's inode number,
    and C keeps no other error but ``ENOENT``; ``file/x``'s ``ENOTDIR`` is not kept).
    Its directory is copied up next (the removal makes a whiteout there), which forgets
    that directory's answers and listings.  The rest of the tree's answers stay: a build
    that writes its object file over the last one (as unlinks it first), an editor's
    backup, a lock file of the lower layer dropped every kept answer, and the next
    compiler run opened every header through the gofer again.  (A program it runs is shown " (deleted)" by
    ``/proc/PID/exe``: C's answer of that link goes too.)"""
    if _removed is not None:
        _removed(ino)
    elif _bump is not None:
        _bump()


def appeared(dir_ino: int) -> None:
    """A name appeared in the directory *dir_ino* (or one that only the upper layer had
    went): :func:`invalidate_missing`, for the kept ``ENOENT``s whose lookup failed in that
    directory only (:func:`keep` hands each one over with the directory's inode number;
    the others, and C's ``/proc/self/exe`` answers, as before).  A missing name's answer
    depends on nothing else a creation changes: the directories before it exist (their
    removal or rename bumps every answer) and the name is looked up in that directory
    only.  A directory keeps its inode number over its copy-up (overlay ``ino``)."""
    if _appeared is not None:
        _appeared(dir_ino)
    else:
        invalidate_missing()


def invalidate_missing() -> None:
    """A name appeared in a directory of the root overlay that is copied up already (its
    creation copies it up first otherwise, which :func:`forget` s its answers), or a name
    that only the upper layer had went away.  Only kept errors can be wrong now: a
    kept answer about a file that exists is about a lower-layer file not copied up,
    walked through directories whose names found there stay (a name goes only by a
    removal of a lower-layer name or a rename, which invalidate), and a copied-up
    directory's own attributes and names were dropped at its copy-up and are never
    kept again; so ``ENOENT`` of the new name, or of a path through it, is the only
    answer to drop.  File creation in /tmp, a lock file: the stat answers of headers,
    libraries and modules stay."""
    if _bump_missing is not None:
        _bump_missing()


#: cwd dentry -> {(root's mount and dentry, cwd's mount): the key of that place}: a
#: dentry the dentry cache lets go takes its keys with it (its next place gets a new one).
_places: "weakref.WeakKeyDictionary[Any, Dict[Tuple[Any, Any, Any], int]]" = \
    weakref.WeakKeyDictionary()


def place_key(root: VirtualDentry, cwd: VirtualDentry) -> int:
    """The cwd key of (*root*, *cwd*): the same for every context at that place."""
    keys = _places.get(cwd.dentry)
    if keys is None:
        keys = _places[cwd.dentry] = {}
    where = (root.mount, root.dentry, cwd.mount)
    key = keys.get(where)
    if key is None:
        key = keys[where] = new_key()
        if _new_place is not None:
            _new_place(key, root, cwd)
    return key


#: Tells C where a new place is (native.fetch_place, boot._fetch_in_c); None: nothing.
_new_place: Optional[Callable[[int, VirtualDentry, VirtualDentry], None]] = None


def on_new_place(hook: Optional[Callable[[int, VirtualDentry, VirtualDentry], None]]) -> None:
    """Call *hook* (key, root, cwd) for every place key made from now on."""
    global _new_place
    _new_place = hook


def fs_changed(fs: Any) -> None:
    """*fs* (an FSContext) has a new root or cwd: every task sharing it tells the C side.
    The key is the place's (the same root and cwd, the same dentries, have the same one):
    the answers of relative paths kept from there are every such task's.  git changes to
    its work tree's top at its start, already the cwd: with a new key at every chdir,
    the next git status found none of the answers the last one left, and its first stat
    in each directory was Python's again."""
    fs.key = place_key(fs.root, fs.cwd)
    if _sync_fs is not None:
        _sync_fs(fs)


_INODE_TYPES: Optional[Tuple[type, type]] = None


def _inode_types() -> Tuple[Any, Any]:
    """(GoferInode, OverlayInode), imported at the first call (they import this module):
    an import statement costs ~0.5 us even when the module is loaded, and the checks below
    run a few times a directory level of every prefill and kept walk."""
    global _INODE_TYPES
    if _INODE_TYPES is None:
        from sentry.fsimpl.gofer.filesystem import GoferInode
        from sentry.fsimpl.overlay.filesystem import OverlayInode

        _INODE_TYPES = (GoferInode, OverlayInode)
    return _INODE_TYPES


def trusted(inode: Any) -> bool:
    """A file whose attributes cannot change: the lower layer, not copied up, of a
    trusted (read-only, exclusive) gofer file system."""
    GoferInode, OverlayInode = _inode_types()

    if isinstance(inode, OverlayInode):
        if inode.upper is not None or inode.removed:
            return False
        inode = inode.lower
    return isinstance(inode, GoferInode) and inode.fs.trusted


def trusted_gofer_inode(inode: Any) -> Any:
    """The gofer inode behind *inode* if it is :func:`trusted` (the overlay's lower
    layer's, not copied up), else None."""
    GoferInode, OverlayInode = _inode_types()

    if isinstance(inode, OverlayInode):
        if inode.upper is not None or inode.removed:
            return None
        inode = inode.lower
    return inode if isinstance(inode, GoferInode) and inode.fs.trusted else None


#: Directories C may open (rt.c ``sc_open_dir``): one Python listed, and one a tree fetch
#: brought below it (statcache._keep_dirs).
_put_dirc: Optional[Callable[..., bool]] = None
_put_dirc_child: Optional[Callable[..., bool]] = None
#: Tells C that the answers it hands over from listings should include statx's.
_want_statx: Optional[Callable[[], None]] = None


#: Bit 63 of a key's base: the answer was made by (and is for) tasks that may search any
#: directory (rt.c sc_lookup sets it the same way).
SEARCH_ALL = 1 << 63


def search_all(t: Any) -> bool:
    """Whether *t* may search any directory whose owner is mapped (``CAP_DAC_OVERRIDE`` or
    ``CAP_DAC_READ_SEARCH`` effective: permissions.mode_allows)."""
    eff = t.creds.effective
    return bool(eff >> cap.CAP_DAC_OVERRIDE & 1 or eff >> cap.CAP_DAC_READ_SEARCH & 1)


def _searchable(inode: Any, any_dir: bool) -> bool:
    """A directory of the root overlay or a trusted gofer root that everyone may search,
    or (*any_dir*: the asking task may search any directory) whose owner is mapped."""
    GoferInode, OverlayInode = _inode_types()

    if isinstance(inode, OverlayInode):
        lower_fs = getattr(inode.fs.lower, "trusted", False)
        if not lower_fs:
            return False
    elif not (isinstance(inode, GoferInode) and inode.fs.trusted):
        return False
    return inode.mode & 0o111 == 0o111 or (any_dir and inode.ids_mapped)


#: Answer kinds (rt.h ``RT_SC_*``): ``struct stat``, ``struct statx``, and a symlink's
#: target (``readlink``, whose last component is never followed).
STAT, STATX, LINK = 0, 1, 2
#: Kinds asked for so far (bits): a listing pre-fills statx answers only once a program
#: of the sandbox has used statx (half the work for the many that never do).
_kinds_seen = 1 << STAT


def generation() -> Optional[int]:
    """The generation kept answers belong to (None: nothing is kept)."""
    return _gen() if _gen is not None else None


def key_base(t: Any, dirfd: int, path: bytes, root: VirtualDentry) -> Optional[int]:
    """The base of the key a walk of (*dirfd*, *path*) by *t* is kept under: 0 for an
    absolute path, the cwd's key for one relative to it, with SEARCH_ALL for a task that
    may search any directory; None if it cannot be kept (another root, another dirfd)."""
    if not path or t.fs.root != root:
        return None
    if path.startswith(b"/"):
        base = 0
    elif dirfd == -100:  # AT_FDCWD
        base = t.fs.key
    else:
        return None
    return base | SEARCH_ALL if search_all(t) else base


def walk_kept(base: int, track: List[VirtualDentry], found: Optional[VirtualDentry]) -> bool:
    """Whether a walk's result may be kept under a key of *base* (key_base; see the
    module docstring): the directories it searched (*track*) are searchable by everyone
    (or, under a SEARCH_ALL key, have a mapped owner), the symlinks it followed and the
    file it found (if any) cannot change."""
    any_dir = bool(base & SEARCH_ALL)
    for vd in track:
        inode = vd.dentry.inode
        if inode.is_dir:
            if not _searchable(inode, any_dir):
                return False
        elif not trusted(inode):  # a symlink followed
            return False
    return found is None or trusted(found.dentry.inode)


def reopen_key(t: Any, dirfd: int, path: bytes, flags: int, track: List[VirtualDentry],
               found: VirtualDentry, root: VirtualDentry) -> Optional[Tuple[Any, ...]]:
    """The key a read-only open of (*dirfd*, *path*) with *flags* that found *found*
    through *track* keeps its host fd under when it is released (C re-opens the file by
    it: rt.c ``sc_open_file``), or None: another root or dirfd, a walk a stat answer could
    not be kept for (a directory not everyone may search, a symlink or a file that may
    change), a file not everyone may read, no fast path.  (base, nofollow, path, gen)."""
    if _reopen_put is None or _gen is None:
        return None
    inode = found.dentry.inode
    if not inode.is_reg or inode.mode & 0o444 != 0o444:
        return None
    base = key_base(t, dirfd, path, root)
    if base is None or path.endswith(b"/") or not walk_kept(base, track, found):
        return None
    return (base, bool(flags & abi.O_NOFOLLOW), path, _gen())


def reopen_take(key: Tuple[Any, ...]) -> int:
    """The host fd C keeps under *key* (the caller owns it now), -1 if none."""
    if _reopen_take is None:
        return -1
    return _reopen_take(key[0], key[1], key[2], key[3])


def reopen_put(key: Tuple[Any, ...], fd: int, ino: int, mode: int, dev: int, uid: int,
               gid: int) -> bool:
    """Give C the released read-only host *fd* of the file *key* found (reopen_key), which
    it re-opens for the next open of that key in the same generation; False: not taken
    (another generation, no fast path), the caller still owns it."""
    if _reopen_put is None:
        return False
    return _reopen_put(key[0], key[1], key[2], key[3], fd, ino, mode, dev, uid, gid)


def keep(t: Any, kind: int, dirfd: int, path: bytes, nofollow: bool,
         track: List[VirtualDentry], found: Optional[VirtualDentry], answer: Optional[bytes],
         error: int, root: VirtualDentry) -> None:
    """Give the C side (*kind*, *path*, *nofollow*)'s answer if it may keep it: the packed
    stat or statx (*answer*) of *found*, or *error* (a negative errno, only ``-ENOENT``)."""
    global _kinds_seen
    if not _kinds_seen & (1 << kind):
        _kinds_seen |= 1 << kind
        if kind == STATX and _want_statx is not None:
            _want_statx()
    if _put is None or _gen is None:
        return
    base = key_base(t, dirfd, path, root)
    if base is None or not walk_kept(base, track, found):
        return
    any_dir = bool(base & SEARCH_ALL)
    err_ino = 0  # the directory an ENOENT's lookup failed in; the file a readlink's EINVAL
    if error == -errno.ENOENT:
        if track and track[-1].dentry.inode.is_dir:
            err_ino = track[-1].dentry.inode.ino
    elif error and found is not None:
        err_ino = found.dentry.inode.ino
    _put(kind, base, nofollow, path, answer, error, _gen(), err_ino)
    if found is None:
        # A name missing from a listed directory: the others are asked next (importlib's
        # candidates for a package, a compiler's include path), and are missing too
        # unless listed. The directory goes over whole, under the paths that walk to it.
        where = track[-1] if track else None
        if where is not None and where.dentry.inode.is_dir:
            lower = _listed(where, any_dir)
            prefixes = _prefixes(t, where, root, any_dir) if lower is not None else None
            if prefixes:
                _fill(where, lower, prefixes)
        return
    # A program that stats one file of a directory stats its siblings next (git status,
    # a build's dependency checks): the directory's other answers go with this one.
    if kind != LINK:
        _fill_siblings(t, base, path, track, found, root)


def _fill_siblings(t: Any, base: int, path: bytes, track: List[VirtualDentry],
                   found: VirtualDentry, root: VirtualDentry) -> None:
    """The answers of every entry of the directory the walk to *found* ended in, under
    the same prefix, when the walk followed no symlink (so the prefix walks to it), and
    the directory for C to open (statcache._keep_dirs)."""
    if not track or not track[-1].dentry.inode.is_dir:
        return
    d = found.dentry
    name = d.name
    if d.parent is not track[-1].dentry or not (path == name or path.endswith(b"/" + name)):
        return
    if any(not vd.dentry.inode.is_dir for vd in track):
        return
    where = track[-1]
    any_dir = bool(base & SEARCH_ALL)
    lower = _listed(where, any_dir)
    if lower is not None and _fill(where, lower, [(base, path[:len(path) - len(name)])]) \
            and _put_dirc is not None:
        # and C may open it (git reads the directories whose files it stat'ed, for
        # untracked files; a copy-up since, its index.lock, leaves them kept)
        prefixes = _prefixes(t, where, root, any_dir)
        if prefixes:
            _keep_dirs(t.kernel.vfs, where, lower, prefixes)


def opened(t: Any, key: Tuple[Any, ...], track: List[VirtualDentry], found: VirtualDentry,
           root: VirtualDentry) -> None:
    """A read-only open Python served of a file C could re-open (*key*: reopen_key's):
    a program that opens one file of a directory opens its siblings next (importlib's
    ``.pyc`` files in a ``__pycache__``, a compiler's headers), which C then opens
    itself, fetching each from the gofer (rt.c ``sc_fetch``) by the answers its
    directory's listing hands over here (as a stat's: :func:`keep`).  (A key means
    the C side is there: reopen_key.)"""
    _fill_siblings(t, key[0], key[2], track, found, root)


#: Directories with more entries are not pre-filled: their entries would push the
#: answers of other directories out of the C table.
PREFILL_MAX = 1024


def _listed(vd: VirtualDentry, any_dir: bool) -> Optional[Any]:
    """The trusted gofer directory behind *vd*, if its listing may pre-fill answers: listed
    already, not too large, searchable (_searchable), not removed (a removed cwd's paths
    would name whatever is made there next)."""
    GoferInode, OverlayInode = _inode_types()

    inode = vd.dentry.inode
    if inode.dead_dir:
        return None
    lower = inode.lower if isinstance(inode, OverlayInode) and inode.upper is None else inode
    if not isinstance(lower, GoferInode) or not lower.fs.trusted or \
            not _searchable(inode, any_dir):
        return None
    listing = lower.listed()
    if listing is None or len(listing) > PREFILL_MAX:
        return None
    return lower


#: (directory, base, prefix) -> (generation, with statx answers) of the last pre-fill, so
#: a directory whose files are stat'ed one by one is pre-filled once per generation (and
#: again once statx answers are wanted).
_filled: Dict[Tuple[int, int, bytes], Tuple[int, bool]] = {}


def _fill_stamp(gen: int) -> Tuple[int, bool]:
    """What a fill in generation *gen* puts: _filled's value (and C's fill stamp)."""
    return gen, bool(_kinds_seen & (1 << STATX))


def _fill(vd: VirtualDentry, lower: Any, prefixes: List[Tuple[int, bytes]]) -> bool:
    """Hand over the answers of every entry of *vd* (its gofer directory *lower*) under
    each (base, prefix): the prefix is a string that walks to *vd* ("" or ending in
    "/").  False if they went over in this generation already."""
    from sentry.vfs import abi

    if _put_listing is None or _gen is None:
        return False  # (an optimisation only)
    gen = _gen()
    stamp = _fill_stamp(gen)
    statx = stamp[1]
    todo = [(b, p) for b, p in prefixes if _filled.get((id(lower), b, p)) != stamp]
    if not todo:
        return False
    if len(_filled) > 4096:
        _filled.clear()
    for b, p in todo:
        _filled[(id(lower), b, p)] = stamp
    fs = lower.fs
    children = vd.dentry.children
    mnt_id = vd.mount.id
    ino = vd.dentry.inode.ino
    listing = lower.listed()
    put_wire = _put_wire
    wire = lower.listed_wire() if put_wire is not None and fs.idmaps is None else None
    if put_wire is not None and wire is not None:
        # C takes the answers from the entries as the gofer sent them (the loop below is
        # its twin, for id-mapped file systems).
        # (Iterating a WeakValueDictionary costs ~3 us even when it is empty, as it mostly
        # is here: a directory is listed before its children are walked.)
        skip = b"".join(n + b"\0" for n, c in list(children.items()) if c.mounts) \
            if children else b""
        mnt = mnt_id if statx else None
        if all(put_wire(b, p, wire, len(listing), fs.dev, skip, gen, mnt, ino)
               for b, p in todo):
            return True
    names = list(listing)
    index = {name: i for i, name in enumerate(names)}
    # Each entry's lstat (and statx) answer; None: not one to keep.
    stats: List[Optional[bytes]] = []
    statxs: List[Optional[bytes]] = []
    for name in names:
        st = listing[name]
        child = children.get(name)
        # (A host mount point, or one the sandbox mounted there: the path leads into it.)
        if isinstance(st, int) or (child is not None and child.mounts):
            stats.append(None)
            statxs.append(None)
        elif statx:
            stat = fs.stat_of(st)
            stats.append(abi.pack_stat(stat))
            statxs.append(abi.pack_statx(stat, 0, mnt_id))
        else:
            stats.append(fs.packed_stat(st))
            statxs.append(None)
    # stat() follows a symlink: its answer is kept only for a link to a sibling that is no
    # link, or to one that links on to such a sibling (os.walk's is_dir on a DT_LNK entry,
    # "libfoo -> libfoo-base", "libpython3.11 -> libpython3.11-stdlib ->
    # libpython3.11-minimal"): sibling_end.
    follow = array.array("i", [-1]) * len(names)
    for i, name in enumerate(names):
        if stats[i] is None:
            continue
        st = listing[name]
        follow[i] = i if st.mode & 0o170000 != 0o120000 else sibling_end(listing, index, stats, st)
    # the whole listing goes too: every other name is missing (the overlay's upper layer
    # has nothing here, or _listed would not have given it)
    blob = b"".join(name + b"\0" for name in names)
    none, nonex = bytes(_STAT_SIZE), bytes(abi.STATX_SIZE_BYTES)
    has = bytes(a is not None for a in stats)
    packed = b"".join(a if a is not None else none for a in stats)
    packedx = b"".join(a if a is not None else nonex for a in statxs) if statx else None
    for base, prefix in todo:
        _put_listing(base, prefix, blob, len(names), packed, packedx, follow.tobytes(), has, gen,
                     ino)
    return True


#: How many symlinks to siblings a kept stat answer follows at most (rt.c's
#: SC_SIBLING_HOPS): a chain of Debian's package doc links is two or three long; Linux
#: follows 40 in a path, and the paths these answers are kept under have none.
SIBLING_HOPS = 8


def sibling_end(listing: Any, index: Dict[bytes, int], stats: List[Optional[bytes]],
                st: Any) -> int:
    """The index of the entry the symlink *st* of *listing* leads to through siblings
    only (each target a name of the same directory), if that entry is no symlink and kept
    (*stats*), within SIBLING_HOPS links; -1 otherwise (a target elsewhere, missing, a
    mount point, a loop, a longer chain: Python follows it)."""
    for _ in range(SIBLING_HOPS):
        target: bytes = getattr(st, "target", None) or b""
        j = index.get(target, -1) if b"/" not in target else -1
        if j < 0 or stats[j] is None:
            return -1
        st = listing[target]
        if st.mode & 0o170000 != 0o120000:
            return j
    return -1


#: (directory dentry, mount, cwd key, search-all) -> (generation of its last prefill(), what
#: it returned).
_prefilled: Dict[Tuple[int, int, int, bool], Tuple[int, Optional[Tuple[int, bytes]]]] = {}


def prefill(t: Any, desc: Any, root: VirtualDentry) -> Optional[Tuple[int, bytes]]:
    """Give the C side the ``lstat``/``stat`` answers of every entry of the trusted
    directory *desc* just listed, under the paths a program that walks the tree uses:
    the directory's absolute path and, below the task's cwd, its relative one.  A tree
    walk (``os.walk``, ``find``) stats what it lists; each answer here costs the sentry a
    few microseconds, and the stat then none.  Returns the directory's absolute key
    (base, prefix) if its answers went over (C then looks paths relative to its fd up
    under it: FastFDTable.set_dir_key)."""
    if _put is None or _gen is None or t.fs.root != root or desc.vd is None:
        return None
    vd = desc.vd
    any_dir = search_all(t)
    # The same directory read again from the same cwd in the same generation: done already
    # (a program that lists one directory over and over paid ~90 us a getdents here).
    seen = (id(vd.dentry), id(vd.mount), t.fs.key, any_dir)
    gen = _gen()
    done = _prefilled.get(seen)
    if done is not None and done[0] == gen:
        return done[1]
    if len(_prefilled) > 4096:
        _prefilled.clear()
    _prefilled[seen] = (gen, None)
    lower = _listed(vd, any_dir)
    if lower is None:
        return None
    prefixes = _prefixes(t, vd, root, any_dir)
    if not prefixes:
        return None
    _fill(vd, lower, prefixes)
    if _put_dirc is not None:
        _keep_dirs(t.kernel.vfs, vd, lower, prefixes)
    _prefilled[seen] = (gen, prefixes[0])
    return prefixes[0]


def dir_key(t: Any, desc: Any, root: VirtualDentry) -> Optional[Tuple[int, bytes]]:
    """The absolute key (base, prefix) of the directory *desc*, as :func:`prefill` gives
    one (whatever the size of its listing, which is not needed: nothing is handed over):
    the C side opened it (its answers went over then), and Python made its description
    now (FastFDTable.opened_in_fast).  None if no path can be trusted to it."""
    if _put is None or _gen is None or t.fs.root != root or desc.vd is None:
        return None
    any_dir = search_all(t)
    inode = desc.vd.dentry.inode
    if inode.dead_dir or trusted_gofer_inode(inode) is None or not _searchable(inode, any_dir):
        return None
    prefixes = _prefixes(t, desc.vd, root, any_dir)
    return prefixes[0] if prefixes else None


#: (generation, the absolute paths of every mount point + "/"): _mounted_below
_mount_paths: List[Any] = [None, ()]


def _mounted_below(vfs: Any, prefix: bytes) -> bool:
    """Whether something is mounted at or below a path that starts with *prefix* (an
    absolute directory path ending in "/")."""
    gen = _gen() if _gen is not None else None
    if _mount_paths[0] != gen:
        paths = tuple(path.rstrip(b"/") + b"/" for m, path in vfs.mount_entries(None)
                      if m.parent is not None)
        _mount_paths[:] = [gen, paths]
    return any(p.startswith(prefix) for p in _mount_paths[1])


def _dir_key(prefix: bytes) -> bytes:
    """A directory's path from a prefix that walks to it ("/a/b/" -> "/a/b"; "/"; "")."""
    return prefix[:-1] if len(prefix) > 1 else prefix


def _up(prefix: bytes, levels: int) -> Optional[bytes]:
    """The prefix of the directory *levels* above the one *prefix* walks to; None if it
    is above the start of a relative prefix."""
    for _ in range(levels):
        if prefix in (b"", b"/"):
            return None
        cut = prefix.rfind(b"/", 0, len(prefix) - 1)
        prefix = prefix[:cut + 1] if cut >= 0 else b""
    return prefix


def _keep_dirs(vfs: Any, vd: VirtualDentry, lower: Any, prefixes: List[Tuple[int, bytes]]) -> None:
    """Let C open the directory *vd* just listed (its trusted gofer directory *lower*,
    not copied up) by the paths of *prefixes* (rt.c ``sc_open_dir``: a fd, getdents64,
    fstat and close without Python), and the directories the Treadtree its listing came
    in (or asked for) has brought so far, with the directory that fetch started from
    (:func:`_keep_anchor`): their open, reading and close never reach Python either, nor
    a stat under them (``sc_fill_parent``).  Only a directory everyone may read and
    search, on a file system without an id mapping, with no mount below it; C checks
    each fetched one's mode from its parent's entries, and keeps nothing under a parent
    it does not have."""
    if not _keep_dir(vfs, vd, lower, prefixes):
        return
    got = lower.tree_fetch()
    if got is None:
        return
    fetch, depth = got
    fetch.poll()
    arrived = fetch.arrived
    if fetch.handed == len(arrived):
        return
    anchors = [(b, a) for b, a in ((b, _up(p, depth)) for b, p in prefixes) if a is not None]
    if depth and anchors:
        # The directory the fetch started from, which the fetched ones are put under: a
        # program that stats files directory by directory (git status) never lists it.
        # (Each time: a generation may have moved since the last hand-over.)
        _keep_anchor(vfs, vd, depth, anchors)
    results = fetch.results
    put_child, gen_of = _put_dirc_child, _gen
    if put_child is None or gen_of is None:
        return
    gen = gen_of()
    for rel in arrived[fetch.handed:]:
        entries = results.get(rel)
        if entries is None:
            continue  # taken: listed by Python, which kept it then
        name = rel[-1]
        for base, anchor in anchors:
            parent = anchor + b"/".join(rel[:-1]) if len(rel) > 1 else _dir_key(anchor)
            put_child(base, parent, name, entries.body, entries.count, gen)
    fetch.handed = len(arrived)


def _keep_dir(vfs: Any, vd: VirtualDentry, lower: Any, prefixes: List[Tuple[int, bytes]]) -> bool:
    """Let C open the one directory *vd* (_keep_dirs); False if it may not."""
    fs = lower.fs
    inode = vd.dentry.inode
    if fs.idmaps is not None or inode.mode & 0o555 != 0o555:
        return False
    absolute = prefixes[0][1]
    if _mounted_below(vfs, absolute):
        return False
    wire = lower.listed_wire()
    put, gen_of = _put_dirc, _gen
    if wire is None or put is None or gen_of is None:
        return False
    from sentry.vfs import abi

    gen = gen_of()
    d = vd.dentry
    up = d.parent.inode if d.parent is not None else inode  # as list_entries' ".."
    st = abi.pack_stat(inode.stat())
    n = len(lower.listed())
    done = _fill_stamp(gen)
    for base, prefix in prefixes:
        # (answers _fill put under the same prefix in this generation, with statx's if C
        # wants those too: C need not put them again)
        filled = _filled.get((id(lower), base, prefix)) == done
        put(base, _dir_key(prefix), st, up.ino, fs.dev, vd.mount.id, wire, n, gen, filled)
    return True


def _keep_anchor(vfs: Any, vd: VirtualDentry, depth: int, anchors: List[Tuple[int, bytes]]) -> None:
    """Keep for C the directory *depth* levels above *vd*, whose prefixes are *anchors*
    (its absolute one first), if it may be (listed, trusted, not copied up, searchable:
    statcache._listed)."""
    m, d = vd
    for _ in range(depth):
        if d is m.root or d.parent is None:
            return
        d = d.parent
    if _gen is None:
        return  # (_keep_dir keeps nothing then)
    gen = _gen()
    seen = (id(d), tuple(anchors))
    if _anchored.get(seen) == gen:
        return  # kept already in this generation (each hand-over of a walk asks)
    at = VirtualDentry(m, d)
    lower = _listed(at, bool(anchors[0][0] & SEARCH_ALL))
    if lower is not None and _keep_dir(vfs, at, lower, anchors):
        if len(_anchored) > 4096:
            _anchored.clear()
        _anchored[seen] = gen


#: (anchor directory's dentry, its prefixes) -> generation it was kept for C in.
_anchored: Dict[Tuple[int, Tuple[Tuple[int, bytes], ...]], int] = {}


def _prefixes(t: Any, vd: VirtualDentry, root: VirtualDentry,
              any_dir: bool) -> Optional[List[Tuple[int, bytes]]]:
    """The (base, prefix) keys of the paths that walk to the directory *vd*: its absolute
    path, and below the task's cwd its relative one; None if no path can be trusted to."""
    # The directory's path from the root, through directories everyone may search, none
    # of them covered by a mount (a path naming it would lead elsewhere).
    names: List[bytes] = []
    rel: Optional[List[bytes]] = None
    cwd = t.fs.cwd
    cur = vd
    while True:
        if cur == cwd:
            rel = list(names)
        if cur == root:
            break
        m, d = cur
        if d is m.root or d.parent is None or d.mounts or \
                not _searchable(d.parent.inode, any_dir):
            return None
        names.append(d.name)
        cur = VirtualDentry(m, d.parent)
    names.reverse()
    flag = SEARCH_ALL if any_dir else 0
    prefixes = [(flag, b"/" + b"".join(n + b"/" for n in names))]
    if rel is not None:
        rel.reverse()
        prefixes.append((t.fs.key | flag, b"".join(n + b"/" for n in rel)))
    return prefixes
