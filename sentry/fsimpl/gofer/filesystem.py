"""Files served by the gofer: the root file system's lower layer and bind mounts.

Every inode holds the attributes the gofer last reported and, once something needs
one, a gofer handle (from ``attach``/``walk``/``create``...).  The file access policy
(gVisor's) says what may be cached: a *trusted* file system (read-only and
``exclusive``: the root's lower layer, an ``exclusive`` ``ro`` bind) cannot change at
all, so a directory is listed once with every entry's attributes (``readdirstat``)
and later lookups in it, missing names included, cost no request; its inodes get a
handle only when something needs one (an open, a listing, a readlink), and a regular
file gives it back once the request is done.  A ``shared`` one (bind mounts by
default) may change behind the sentry's back: the VFS looks each cached name up again
at every walk (``Filesystem.revalidate``) and ``stat`` asks the gofer.  Regular files
are read and written through the host fd ``open`` returns
(:mod:`sentry.fsimpl.gofer.regular_file`).  Nothing here opens a host path.

Handle lifetime: a :class:`GoferInode` owns its handle.  The inode lives as
long as something refers to it: a cached dentry (the VFS cache evicts
unreferenced dentries beyond a bounded LRU, see :mod:`sentry.vfs.dentry`), an
open description, an overlay inode using it as its lower layer.  When the
inode is freed its handle is queued on the file system and closed
(``Tclose``) before the file system's next gofer request: closing from the
finalizer itself could run in the middle of another request on the channel.
Each handle belongs to exactly one inode, so it is closed exactly once, and
never while an inode that could use it is alive.

Errors: :class:`OSError` from the client becomes :class:`LinuxError` with the
same errno.
"""

from __future__ import annotations

import errno
import os
import stat as _st

from gofer.protocol import MAX_ALONG, MAX_TREE_SUBDIRS, MAX_WALK, NAME_MAX, Listing, dir_blocks
from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.tmpfs.filesystem import owner_of
from sentry.kernel.idmap import OVERFLOW_ID, IdMap
from sentry.vfs import abi, statcache
from sentry.vfs import inode as vfs_inode
from sentry.vfs import xattr as xa
from sentry.vfs.file import DirectoryDescription, FileDescription
from sentry.vfs.inode import DirEntry, Filesystem, Inode, SetAttr, Stat, StatFS, open_special

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:  # (an annotation only)
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar
    T = TypeVar("T")
    #: What a walk brought for a lookup to take (GoferInode._keep_hops): the name, its
    #: handle, Stat and fd (-1: none); a name found missing has no handle and no Stat.
    _Hop = Tuple[bytes, Optional[int], Any, int]

#: ``Inode.write_count`` of gofer files, by host identity ``(st_dev, st_ino)``: every
#: name (hard links) and every mount of one host file counts together, as Linux's
#: ``i_writecount`` is the inode's.  An entry is live only while the file is held open
#: (a writer's description and its handle; a running program's mapping and the fds its
#: exec lent, on a trusted file system, where no handle is kept), so the host cannot
#: reuse the inode number meanwhile.
_WRITE_COUNTS: Dict[Tuple[int, int], int] = {}


def call(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Run a gofer client call (:func:`gofer_call`), turning :class:`OSError` into
    :class:`LinuxError`."""
    try:
        return gofer_call(fn, *args, **kw)
    except OSError as e:
        raise err(e.errno or errno.EIO) from None


#: The client calls that give the sentry a file's fd: out of fds, they fail with ENFILE
#: as an open does on Linux; the others with ENOMEM, as a lookup that cannot allocate.
_OPENING_CALLS = frozenset({"open", "walkopen", "walk_or_open", "walk_or_open_siblings",
                            "create"})


def gofer_call(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Run a gofer client call; when the gofer or the sentry is out of fds (the gofer's
    EMFILE, a reply's fd the sentry could not take), drop cached dentries
    (:func:`~sentry.vfs.inode.reclaim_dentries`: their inodes' handles and kept fds go
    with them) and try once more.  Still out: ``ENFILE`` for an open (the sandbox's file
    table is full as it sees it; EMFILE would say its own fd table is), ``ENOMEM`` for
    anything else.  A request that failed so did nothing (the gofer undoes a creation
    whose new entry it could not open, and a walk fails whole; a lost fd's handle was
    closed and its created file removed), so it may be sent again."""
    try:
        return fn(*args, **kw)
    except OSError as e:
        if e.errno not in (errno.EMFILE, errno.ENFILE):
            raise
    if vfs_inode.reclaim_dentries():
        try:
            return fn(*args, **kw)
        except OSError as e:
            if e.errno not in (errno.EMFILE, errno.ENFILE):
                raise
    code = errno.ENFILE if getattr(fn, "__name__", "") in _OPENING_CALLS else errno.ENOMEM
    raise OSError(code, os.strerror(code))



#: The namespaces of extended attributes a host file system keeps (ext4's, xfs's); the
#: sandbox reaches only user.* (see GoferInode.getxattr).
_HOST_XATTR_PREFIXES = (xa.USER, xa.TRUSTED, xa.SECURITY)

#: Freed handles closed together in one request (release_handles).
RELEASE_BATCH = 64

#: Released read-only host fds kept on gofer inodes for their next open
#: (GoferInode.keep_released_fd), and how many may be at once (the limit is the
#: sentry's: statcache.kept_fds_budget).
_kept = [0, statcache.kept_fds_budget()]

#: The longest path (bytes of its names) below which subdirectories' listings are
#: fetched ahead.
PREFETCH_PATH_MAX = 256
#: Subdirectories listed one by one before the rest are fetched ahead.
PREFETCH_AFTER = 3
#: Entries the first fetch ahead below a directory asks for; each later one below the same
#: directory asks for twice as many, up to PREFETCH_BUDGET_MAX.
PREFETCH_BUDGET = 4096
PREFETCH_BUDGET_MAX = 8192
#: Entries a fetch ahead of small leaf directories asks for (_prefetch_subdirs): git
#: status's 1,000-file repository has 17 more of 50 entries after the first three.
LEAF_PREFETCH_BUDGET = 1024

#: Per-mount file access policies (gVisor's ``--file-access``): ``exclusive``, the
#: sandbox is the only one that changes the files (the root's lower layer, by default);
#: ``shared``, others may change them too (bind mounts, by default).
FILE_ACCESS_EXCLUSIVE, FILE_ACCESS_SHARED = "exclusive", "shared"
FILE_ACCESS_POLICIES = (FILE_ACCESS_EXCLUSIVE, FILE_ACCESS_SHARED)

#: A directory of a trusted file system is listed with attributes (one request) instead
#: of walked name by name at the first lookup that misses the cache if it takes one 4 KiB
#: block (one request like the walk it replaces, and a program that looks up one of its
#: files looks up its siblings next, as git status does), and once such lookups
#: outnumber this many per block if it is larger: the listing of a large one only pays
#: off after many lookups in it.  (/usr/bin, 1,100 entries in 9 blocks, cost ~4 ms to
#: list, a walk ~60 us; at 1 a block, the ninth lookup of a Python start-up listed it,
#: for nothing: python3 -I -c pass 88.9 -> 85.6 ms at 4, the imports workload 202 -> 186.)
LIST_AFTER_LOOKUPS_PER_BLOCK = 4

#: How many names a trusted directory that is not listed remembers it has not got (a
#: lookup of one asks the gofer again once there are more), and how many all of a file
#: system's directories remember together: the workload chooses the names, so what it
#: can make the sentry hold this way is bounded (~1.5 MiB at 255 bytes a name).
ABSENT_MAX = 64
ABSENT_TOTAL = 4096



def _small_leaf(st: Any) -> bool:
    """Whether a directory entry is a directory with no subdirectories (its link count is
    2: not on every file system, btrfs gives 1) that takes one 4 KiB block: what a program
    that looks files up directory by directory lists one after another (git status stats
    a repository's files in index order, a build checks each source directory), and what
    costs little to fetch ahead for nothing (it has nothing below it)."""
    return not isinstance(st, int) and _st.S_ISDIR(st.mode) and st.nlink == 2 \
        and st.size <= 4096


def _walk_goes_below(child: "GoferInode", budget: int) -> bool:
    """Whether a fetch ahead of *budget* entries, asked as a walk reads *child*, should
    start below it (_prefetch_subdirs): it has subdirectories (its own listing says,
    not the link count, which btrfs makes 1) and few enough entries that listing it again
    takes little of the budget (a large one would take it all, for nothing)."""
    listing = child._listing
    if child._fetch is not None or listing is None or len(listing) > budget // 4:
        return False
    return any(dtype == abi.DT_DIR for _, _, dtype in listing.dirents())


def _scan_order(names: List[bytes], asked: set) -> List[bytes]:
    """*names* (small leaf directories) in the order lookups going through them by name
    want them: each name *asked* for already is where such a scan is, the names after it
    (up to the next asked one) its next ones, taken from each scan in turn; names before
    any asked one come last.  git status stats its index in name order, in two threads
    (preload_index) that start at the first and the middle entry: with its 1,000-file
    repository's three first listings for dir00, dir10 and dir11, the fetch brings dir01,
    dir12, dir02, dir13, ...  (In the listing's order, hash order, the first lookup after
    the three waited for most of the reply.)  Names compare as git's index has them, a
    directory as ``name/``."""
    runs: List[List[bytes]] = [[]]
    for name in sorted([*names, *asked], key=lambda n: n + b"/"):
        if name in asked:
            runs.append([])
        else:
            runs[-1].append(name)
    # (*asked* keeps every name listed or fetched before: most of its runs are empty; the
    # positions sorted once, not a turn through every run per position)
    scans = [r for r in runs[1:] if r]
    order = sorted((i, k) for k, run in enumerate(scans) for i in range(len(run)))
    return [scans[k][i] for i, k in order] + runs[0]


def _fetched_below(fetch: Any, path: Tuple[bytes, ...]) -> set:
    """The names of the subdirectories of the directory at *path* in the Treadtree reply
    *fetch* whose listings came in it."""
    depth = len(path)
    return {k[depth] for k in fetch.arrived if len(k) == depth + 1 and k[:depth] == path}


def _same_file(got: Any, listed: Any) -> bool:
    """Whether a file the gofer opened by name (*got*, its attributes) is the one a
    listing showed under that name (*listed*): the inode and what would say it changed
    (as rt.c's check of a fetch)."""
    return (got.dev, got.ino, got.mode, got.size, got.mtime_ns, got.ctime_ns) == (
        listed.dev, listed.ino, listed.mode, listed.size, listed.mtime_ns, listed.ctime_ns)


def _walkable_name(name: bytes) -> bool:
    """Whether the gofer walks *name* as it is (no ``.``/``..``, not longer than
    NAME_MAX): a request naming any other fails whole."""
    return name not in (b".", b"..") and len(name) <= NAME_MAX


def _blocks(st: Any) -> int:
    """A directory's size in blocks, for LIST_AFTER_LOOKUPS_PER_BLOCK (the gofer's
    Tlistalong weighs the directories it lists along by the same measure)."""
    return dir_blocks(st.size, st.nlink)


class GoferFilesystem(Filesystem):
    """One gofer root (``attach(root_index)``).

    :param client: a connected :class:`gofer.client.GoferClient` (``version`` done).
    :param idmaps: the sandbox's (uid, gid) :class:`~sentry.kernel.idmap.IdMap` when
        ``linux.uidMappings`` are in force: owners go through them both ways.
    """

    holds_host_fds = True

    fstype = "9p"
    magic = abi.V9FS_MAGIC

    def __init__(self, client: Any, root_index: int, readonly: bool, source: str = "",
                 idmaps: Optional[Tuple[IdMap, IdMap]] = None,
                 file_access: str = FILE_ACCESS_EXCLUSIVE) -> None:
        super().__init__(readonly)
        if file_access not in FILE_ACCESS_POLICIES:
            raise ValueError(f"file access policy {file_access!r}")
        self.file_access = file_access
        # Nothing but the sandbox changes an exclusive file system, and nothing at all
        # changes a read-only exclusive one: its names and attributes are cached for as
        # long as the sentry holds them (directory listings with attributes, handle-less
        # inodes).  A shared one may change behind the sentry's back: the VFS looks each
        # cached name up again on every walk (revalidate) and stat asks the gofer.
        self.trusted = readonly and file_access == FILE_ACCESS_EXCLUSIVE
        #: What its directories may still remember of names they have not got.
        self.absent_left = ABSENT_TOTAL
        self.revalidate = file_access == FILE_ACCESS_SHARED
        self.client = client
        self.root_index = root_index
        self.source = source
        self.idmaps = idmaps
        # Handles of freed inodes, closed by release_handles().
        self._released: List[int] = []
        handle, st = call(client.attach, root_index)
        self._root = GoferInode(self, handle, st)

    def stat_of(self, st: Any, uid: Optional[int] = None, gid: Optional[int] = None) -> Stat:
        """The sandbox's view of a gofer Stat (owners mapped unless given)."""
        if uid is None or gid is None:
            uid, gid, _ = self.sandbox_ids(st)
        return Stat(
            dev=self.dev, ino=st.ino, mode=st.mode, nlink=st.nlink, uid=uid, gid=gid,
            rdev=st.rdev, size=st.size, blksize=st.blksize, blocks=st.blocks,
            atime_ns=st.atime_ns, mtime_ns=st.mtime_ns, ctime_ns=st.ctime_ns,
        )

    def packed_stat(self, st: Any) -> bytes:
        """``abi.pack_stat(self.stat_of(st))``, without the Stat in between (a listing
        pre-fills the stat cache with one an entry)."""
        uid, gid, _ = self.sandbox_ids(st)
        return abi.pack_stat_values(self.dev, st.ino, st.nlink, st.mode, uid, gid, st.rdev,
                                    st.size, st.blksize, st.blocks, st.atime_ns, st.mtime_ns,
                                    st.ctime_ns)

    def same_file(self, cached: Inode, fresh: Inode) -> bool:
        """Whether two inodes are one host file (revalidation); if so *cached* takes
        *fresh*'s attributes (a chmod on the host shows at once)."""
        assert isinstance(cached, GoferInode) and isinstance(fresh, GoferInode)
        a, b = cached._st, fresh._st
        if (a.dev, a.ino, _st.S_IFMT(a.mode)) != (b.dev, b.ino, _st.S_IFMT(b.mode)):
            return False
        cached._set_attrs(b)
        return True

    def root_inode(self) -> Inode:
        return self._root

    def handle_released(self, handle: int) -> None:
        """Queue *handle* (its inode was freed) for closing."""
        self._released.append(handle)

    def sandbox_ids(self, st: Any) -> Tuple[int, int, bool]:
        """A host stat's owner and group as the sandbox sees them, and whether both are
        mapped (an unmapped one shows as the overflow id)."""
        if self.idmaps is None:
            return st.uid, st.gid, True
        uid, gid = self.idmaps[0].to_sandbox(st.uid), self.idmaps[1].to_sandbox(st.gid)
        return (OVERFLOW_ID if uid is None else uid, OVERFLOW_ID if gid is None else gid,
                uid is not None and gid is not None)

    def host_ids(self, uid: Optional[int], gid: Optional[int], err_no: int) -> Tuple[Any, Any]:
        """Sandbox owner ids as host ones (None stays None).

        :raises LinuxError: *err_no* for an id the mapping does not cover.
        """
        if self.idmaps is None:
            return uid, gid
        hu = None if uid is None else self.idmaps[0].to_host(uid)
        hg = None if gid is None else self.idmaps[1].to_host(gid)
        if (uid is not None and hu is None) or (gid is not None and hg is None):
            raise err(err_no)
        return hu, hg

    def release_host_fds(self) -> int:
        n = len(self._released)
        self.release_handles(force=True)
        return n

    def release_handles(self, force: bool = False) -> None:
        """Close the handles of freed inodes (between two gofer requests), RELEASE_BATCH
        at a time: a walk over more files than the dentry cache holds frees one handle per
        lookup, and a round trip for each close would double its cost.  A freed handle
        only keeps a host fd open in the gofer until then.  *force*: whatever their
        number (the gofer is out of fds)."""
        if not self._released or (len(self._released) < RELEASE_BATCH and not force):
            return
        released, self._released = self._released, []
        try:
            self.client.close_many(released)
        except OSError:
            pass  # A broken channel: nothing is left to release.

    def statfs(self, t: Any) -> StatFS:
        d = call(self.client.statfs, self._root.gofer_handle())
        flags = abi.ST_VALID | (abi.ST_RDONLY if self.readonly else 0)
        return StatFS(
            type=self.magic, bsize=d["f_bsize"], blocks=d["f_blocks"], bfree=d["f_bfree"],
            bavail=d["f_bavail"], files=d["f_files"], ffree=d["f_ffree"], fsid=self.dev,
            namelen=d["f_namelen"], frsize=d["f_frsize"], flags=flags,
        )


class GoferInode(Inode):
    """A file behind a gofer handle.

    On a trusted file system (read-only and exclusive) an inode may start without a
    handle: one built from its directory's listing knows its attributes, which cannot
    change, and gets a handle (a walk of its name beneath its parent, checked to be the
    same host file) only when something needs one: an open, a listing, a readlink.
    ``stat`` of a file a program only looked at costs no request, and the gofer holds
    no fd for it.
    """

    fs: GoferFilesystem

    def __init__(self, fs: GoferFilesystem, handle: Optional[int], st: Any,
                 parent: Optional["GoferInode"] = None, name: bytes = b"") -> None:
        uid, gid, mapped = fs.sandbox_ids(st)
        super().__init__(fs, st.ino, st.mode, uid, gid)
        self.ids_mapped = mapped
        self.handle = handle
        # Where to walk for a handle (only while there is none).
        self._parent = parent if handle is None else None
        self._name = name
        # A trusted directory's parent, and listings of its subdirectories fetched ahead
        # (a tree walk lists them all: _prefetch_subdirs).
        self._up = parent if fs.trusted else None
        # The Treadtree reply this directory's subdirectories' listings may come in
        # (_prefetch_subdirs), this directory's path in it, and (for the directory whose
        # subdirectories were asked for) which ones were.
        self._fetch: Any = None
        self._fetch_path: Tuple[bytes, ...] = ()
        self._fetch_names: Optional[set] = None
        self._asked: Optional[set] = None  # subdirectories listed or fetched ahead
        # Its subdirectories not listed or fetched ahead yet, in listing order, once a walk
        # below it began (_prefetch_subdirs); [] once there are none.
        self._unfetched: Optional[List[bytes]] = None
        self._small_leaves: Optional[set] = None  # of them, once lookups asked (_small_leaf)
        self._own_lists = 0  # subdirectories listed by a request of their own, read
        self._leaf_lists = 0  # and small leaves listed for lookups (_small_leaf)
        self._fetches = 0  # fetches ahead below this directory
        self._st = st
        self._pending_fd: Optional[tuple] = None
        # A directory's: what a walk through a symlink to a sibling brought for the lookup
        # of its target here (name -> handle, attributes, fd or -1), taken by that lookup.
        self._hops: Optional[Dict[bytes, Tuple[Optional[int], Any, int]]] = None
        # A symlink's, once read (or as the listing it came from carried it).
        self._target: Optional[bytes] = getattr(st, "target", None)
        # A trusted directory's entries with their attributes (an inode number: walk it),
        # once listed; and how many lookups missed before that.
        self._listing: Optional[Listing] = None
        self._lookups = 0
        # A trusted directory's: the listings a Tlistalong brought along for the walk
        # going on below it (the names down from it, each listing's), taken by its next
        # lookup (_lookup).
        self._along: Optional[Tuple[List[bytes], List[Listing]]] = None
        # A trusted directory's names walked to and not there, while it is not listed
        # (at most ABSENT_MAX of them).
        self._absent: Optional[set] = None
        # A trusted file's user.* attribute names, once listed (they cannot change), and
        # whether a Tlistxattrs that would have listed them failed (list_xattrs_up).
        self._xattrs: Optional[List[bytes]] = None
        self._xattrs_failed = False

    def __del__(self) -> None:
        # Only bookkeeping here: see the module docstring.
        pending = self.__dict__.get("_pending_fd")
        if pending is not None:
            self.drop_pending(pending)
        handle = self.__dict__.get("handle")
        if handle is not None:
            self.fs.handle_released(handle)
        if self.__dict__.get("_hops"):
            self._drop_hops()
        if self.__dict__.get("_absent"):
            self._forget_absent()

    def _anchor(self) -> Tuple[int, List[bytes], List["GoferInode"]]:
        """The nearest handle at or above this inode, the names from it down to this
        inode, and the handle-less inodes they name (top first)."""
        names: List[bytes] = []
        chain: List[GoferInode] = []
        node = self
        while node.handle is None:
            if len(names) == MAX_WALK:
                node.gofer_handle()  # a deeper path than one request walks
                break
            names.append(node._name)
            chain.append(node)
            assert node._parent is not None
            node = node._parent
        names.reverse()
        chain.reverse()
        assert node.handle is not None
        return node.handle, names, chain

    def gofer_handle(self) -> int:
        """This file's gofer handle, walked for now if the inode has none yet (one walk
        from the nearest handle above, whose steps the inodes on the way adopt too).

        :raises LinuxError: ``ESTALE`` if a name now names another host file (only
            the host could have changed a trusted file system), or the walk's error.
        """
        if self.handle is not None:
            return self.handle
        return self._walk_here(*self._anchor())

    def _walk_here(self, h: int, names: List[bytes], chain: List["GoferInode"]) -> int:
        """This file's handle, walked to from its :meth:`_anchor` (*h*, *names*, *chain*)."""
        self.fs.release_handles()
        self._adopt_steps(chain, call(self.client.walk, h, names))  # (chain ends with this)
        assert self.handle is not None
        return self.handle

    def _adopt_steps(self, chain: List["GoferInode"], res: List[Tuple[int, Any]],
                     ) -> List[Tuple[int, Any]]:
        """Give the inodes of *chain* (the handle-less ones from an anchor down, as
        :meth:`_anchor` lists them) the handles a walk through them brought, in order
        (each must be the same file: else ESTALE); returns the walk's entries after them.
        A walk that stopped before the chain's end is ESTALE too (a trusted file system
        does not change); a lookup's that stopped at it did not find the name."""
        for i, (h, st) in enumerate(res[:len(chain)]):
            try:
                chain[i]._adopt(h, st)
            except BaseException:
                for extra, _ in res[i + 1:]:
                    self.fs.handle_released(extra)
                raise
        if len(res) < len(chain):
            raise err(errno.ESTALE)
        return res[len(chain):]

    def _keeps_no_handle(self) -> bool:
        """A regular file of a trusted file system, which needs a handle only for the
        request at hand (an open, an xattr read): its next open walks from the nearest
        handle above in the same request (Twalkopen), and its attributes never change.

        Kept, the handle would hold a gofer fd for every file a program opened while the
        inode is cached, and a walk's ancestors with it (the gofer's nodes on the way,
        one fd each): opening 2,000 files of /usr left the gofer holding 5,500 fds, and
        the sandbox got EMFILE at its next open once the gofer's RLIMIT_NOFILE was
        reached (330 files of a deep tree under a limit of 2,048)."""
        return self.fs.trusted and self.is_reg and self._up is not None

    def _drop_handle(self) -> None:
        """Give the handle back (queued for closing); the next walk starts from the
        parent again."""
        h, self.handle = self.handle, None
        self._parent = self._up
        if h is not None:
            self.fs.handle_released(h)

    def _adopt(self, h: int, st: Any) -> None:
        """Take *h*, just walked by name, as this inode's handle if it is the same file."""
        if (st.dev, st.ino, _st.S_IFMT(st.mode)) != (
                self._st.dev, self._st.ino, _st.S_IFMT(self._st.mode)):
            self.fs.handle_released(h)
            raise err(errno.ESTALE)
        self.handle = h
        self._parent = None

    @property
    def client(self) -> Any:
        return self.fs.client

    @property
    def write_count(self) -> int:
        return _WRITE_COUNTS.get((self._st.dev, self._st.ino), 0)

    @write_count.setter
    def write_count(self, n: int) -> None:
        key = (self._st.dev, self._st.ino)
        if n:
            _WRITE_COUNTS[key] = n
        else:
            _WRITE_COUNTS.pop(key, None)

    def _refresh(self) -> Any:
        st = call(self.client.stat, self.gofer_handle())
        self._set_attrs(st)
        return st

    def _set_attrs(self, st: Any) -> None:
        self._st = st
        self.mode = st.mode
        self.uid, self.gid, self.ids_mapped = self.fs.sandbox_ids(st)

    def stat(self) -> Stat:
        st = self._st if self.fs.trusted else self._refresh()
        return self.fs.stat_of(st, self.uid, self.gid)

    def block_size(self) -> int:
        """The host file system's, as its ``st_blksize`` gives it (ext4's block size: a
        file system made with 1 KiB blocks says 1024)."""
        return self.stat().blksize or 4096

    def listed(self) -> Optional[Listing]:
        """A trusted directory's entries with their gofer attributes, if listed already."""
        return self._listing

    def tree_fetch(self) -> Optional[Tuple[Any, int]]:
        """The Treadtree reply this directory's listing came in, or that it asked for its
        subdirectories, and how many levels below the reply's directory this one is."""
        if self._fetch is None:
            return None
        return self._fetch, len(self._fetch_path)

    def listed_wire(self) -> Optional[bytes]:
        """The same listing's entries as the gofer sent them (the Listing's wire), if
        listed: what the stat cache's C side takes (statcache._fill and _keep_dirs, for a
        directory statcache._listed let through, not over PREFILL_MAX entries)."""
        return self._listing.wire if self._listing is not None else None

    def setattr(self, t: Any, attr: SetAttr) -> None:
        self.fs.check_writable()
        uid, gid = self.fs.host_ids(attr.uid, attr.gid, errno.EINVAL)
        call(
            self.client.setattr, self.gofer_handle(), mode=attr.mode, uid=uid, gid=gid,
            size=attr.size, atime_ns=attr.atime_ns, mtime_ns=attr.mtime_ns,
        )
        self._refresh()

    # -- directories -------------------------------------------------------
    def lookup(self, t: Any, name: bytes) -> Optional[Inode]:
        return self._lookup(name, False)

    def lookup_open(self, t: Any, name: bytes) -> Optional[Inode]:
        return self._lookup(name, True)

    def lookup_on(self, t: Any, name: bytes, rest: List[bytes],
                  last_opens: bool) -> Optional[Inode]:
        return self._lookup(name, False, rest, last_opens)

    def _lookup(self, name: bytes, opening: bool, rest: Optional[List[bytes]] = None,
                opens: bool = False) -> Optional[Inode]:
        """*name*'s inode, from the listing if there is one; else walked to, and opened in
        the same round trip when it is about to be opened read-only (*opening*).  For a
        walk that goes on through more names (*rest*, reversed; the last of them about
        to be opened if *opens*), a listing made lists the directories along too
        (:meth:`_list_along`), and a walk to a directory whose one name after it is
        opened sends that open with it (:meth:`_walk_then_open`, kept for the lookup
        there as a sibling symlink's targets are: :meth:`_keep_hops`)."""
        if not self.is_dir:
            raise err(errno.ENOTDIR)
        # (listings a Tlistalong brought for the walk's next name here: the next lookup
        # takes them, and keeps them only if it is of that name)
        along, self._along = self._along, None
        if self._hops is not None:
            hop = self._hops.pop(name, None)
            if hop is not None:
                h, st, fd = hop
                if st is None:
                    return None  # (an open sent with the walk here found it missing)
                assert h is not None
                return self._walked_inode(name, h, st, fd)
            self._drop_hops()  # (looked up for something else: not followed after all)
        listing = self._listing
        if listing is None and self.fs.trusted:
            listing = self._fetched()
        if listing is None and self.fs.trusted:
            self._lookups += 1
            blocks = _blocks(self._st)
            if blocks <= 1 or self._lookups >= LIST_AFTER_LOOKUPS_PER_BLOCK * blocks:
                if opening:
                    return self._list_opening(name)
                if rest:
                    listing, along = self._list_along(name, rest, opens)
                else:
                    listing = self._list()
        if listing is not None:
            if name not in listing:
                return None  # a trusted directory's listing is complete
            st = listing[name]
            if not isinstance(st, int):
                child = GoferInode(self.fs, None, st, self, name)
                if along is not None and along[0][0] == name and child.is_dir:
                    child._take_along(along)
                return child
        elif self._absent is not None and name in self._absent:
            return None
        # From this directory's handle, or (it has none: it came in its parent's listing)
        # from the nearest one above, through its names: the walk to this directory for
        # a handle and then the lookup were two round trips.  An open's walk leaves the
        # directories on the way without a handle (only the file gets one), so each later
        # open in this one would walk them again: merged only from the parent's handle,
        # else sent behind a walk that gives them their handles (one round trip too).
        start, via, chain = self._anchor()  # (its own handle, if it has one)
        trusted = self.fs.trusted
        if len(via) >= MAX_WALK or (opening and len(via) > 1 and not trusted):
            start, via, chain = self._walk_here(start, via, chain), [], []
        self.fs.release_handles()
        fd = -1
        ahead: List[_Hop] = []  # (for the lookups in *name*)
        try:
            if opening and len(via) > 1:
                # (the directories on the way get their handles with it: below)
                h, st, fd, sibling_hops = self._walk_and_open(start, via, chain, name)
                if sibling_hops:
                    self._keep_hops(sibling_hops)
            elif not opening:
                last = rest[0] if rest is not None and len(rest) == 1 and opens else None
                if (last is not None and trusted and _walkable_name(last)
                        and len(via) + 2 <= MAX_WALK):
                    res, ahead = self._walk_opening_ahead(start, via, chain, name, last)
                else:
                    res = gofer_call(self.client.walk, start, [*via, name])
                    res = self._adopt_steps(chain, res)
                if not res:  # (the walk stopped at this directory)
                    self._not_there(name)
                    return None
                h, st = res[0]  # (the one name after the directory's)
            else:
                # About to be opened read-only: the gofer opens it in the same request if
                # it is a regular file everyone may read (Twalkopen with WALKOPEN_OR_WALK;
                # else walked only, as by Twalk).  Python's imports, ld.so's libraries,
                # gcc's headers: a lookup and then an open were two round trips each.
                # (The directories on the way get no handle.)  In a trusted directory a
                # symlink to a sibling (a library's soname link) comes with what it names
                # (WALKOPEN_SIBLINGS), which the lookup that follows it here takes.
                if trusted:
                    h, st, fd, sibling_hops = gofer_call(self.client.walk_or_open_siblings,
                                                         start, name, abi.O_RDONLY, via)
                    if sibling_hops:
                        self._keep_hops(sibling_hops)
                else:
                    h, st, fd = gofer_call(self.client.walk_or_open, start, name,
                                           abi.O_RDONLY, via)
        except OSError as e:
            if e.errno == errno.ENOENT:
                # (A Twalk says ENOENT only for its first name, here a directory on the
                # way: the host moved it.  A Twalkopen through them says it for any
                # name; those directories are cached ones of a trusted file system,
                # which does not change: the name is not there.)
                if via and not opening:
                    raise err(errno.ESTALE) from None
                self._not_there(name)
                return None
            raise err(e.errno or errno.EIO) from None
        return self._walked_inode(name, h, st, fd, ahead)

    def _walk_then_open(self, start: int, names: List[bytes], chain: List["GoferInode"],
                        last: bytes) -> Tuple[List[Tuple[int, Any]], Any]:
        """The walk of *names* from the handle *start* (through *chain*, the handle-less
        inodes they name, which adopt its steps) and the Twalkopen of *last* below it
        (WALKOPEN_OR_WALK, WALKOPEN_SIBLINGS), in one round trip
        (``walk_and_open_siblings``): the walk's entries after *chain* (as
        :meth:`_adopt_steps`), and the open's answer (as ``walk_or_open_siblings``
        gives it) or its error.  What the open brought is given back if the adoption
        fails; the walk's error is raised."""
        entries, opened = gofer_call(self.client.walk_and_open_siblings, start, names,
                                     last, abi.O_RDONLY)
        try:
            return self._adopt_steps(chain, entries), opened
        except BaseException:
            if not isinstance(opened, OSError):
                self._give_back_opened(opened)
            raise

    def _walk_and_open(self, start: int, via: List[bytes], chain: List["GoferInode"],
                       name: bytes) -> Tuple[int, Any, int, List[Tuple[bytes, int, Any, int]]]:
        """The lookup of *name*, about to be opened read-only, in this trusted directory
        reached from the handle *start* through *via* (*chain*'s names, handle-less
        inodes): the walk that gives them their handles and the Twalkopen of *name*
        below them in one round trip (:meth:`_walk_then_open`); the open's answer as
        ``walk_or_open_siblings`` gives it, its error raised once the walk's handles
        were taken.  /usr/bin/git's exec, ld.so's directory, the locale and gconv files
        of every C program's start: the walk for this directory's handle and then the
        open were two round trips."""
        _, opened = self._walk_then_open(start, via, chain, name)
        if not isinstance(opened, OSError):
            return opened
        if opened.errno not in (errno.EMFILE, errno.ENFILE):
            raise opened
        # (out of fds: ask again from the new handle, as gofer_call would)
        return gofer_call(self.client.walk_or_open_siblings, self.gofer_handle(), name,
                          abi.O_RDONLY)

    def _walk_opening_ahead(self, start: int, via: List[bytes], chain: List["GoferInode"],
                            name: bytes, last: bytes,
                            ) -> Tuple[List[Tuple[int, Any]], List["_Hop"]]:
        """The walk to *name* in this trusted directory (from *start* through *via*, as
        :meth:`_lookup` walks), when the walk's one name after it, *last*, is about to be
        opened read-only: that open's Twalkopen is sent with the walk
        (:meth:`_walk_then_open`), and what it brought is kept on *name*'s inode for the
        lookup of *last* there, as the targets of a symlink to a sibling are
        (:meth:`_keep_hops`: taken by that lookup, given back by any other, or at the
        inode's end).  The walk's entries after *chain*, and that (name, handle, Stat,
        fd) list: a missing *last* as (*last*, None, None, -1), which its lookup answers
        without a request; empty if the open failed otherwise, or the walk ended at no
        directory or at one not everyone may search (whose caller may not get to the
        lookup of *last*: the gofer's fd is not held for it), and that lookup asks on
        its own.
        /usr/share/locale/locale.alias, .../gconv/gconv-modules.cache, a loose .git
        object, a package's first .pyc: the walk and then the open were two round trips.
        (A small directory reached so is not listed at that first open, as a lookup in
        it would have listed it: at its next lookup, if any.)"""
        res, opened = self._walk_then_open(start, [*via, name], chain, last)
        mode = res[0][1].mode if res else 0
        if not _st.S_ISDIR(mode) or mode & 0o111 != 0o111:
            if not isinstance(opened, OSError):
                self._give_back_opened(opened)
            return res, []
        if isinstance(opened, OSError):
            # (not there: the lookup of *last* needs no request; any other error is
            # its own to get)
            return res, [(last, None, None, -1)] if opened.errno == errno.ENOENT else []
        h, st, fd, hops = opened
        return res, [(last, h, st, fd), *hops]

    def _give_back_opened(self, opened: Tuple[int, Any, int, List[Tuple[bytes, int, Any, int]]],
                          ) -> None:
        """Give back what a walk_or_open_siblings answer brought (handles, fds)."""
        h, _, fd, hops = opened
        self._give_back(h, fd)
        for _, hh, _, hfd in hops:
            self._give_back(hh, hfd)

    def _walked_inode(self, name: bytes, h: int, st: Any, fd: int,
                      hops: Sequence["_Hop"] = ()) -> "GoferInode":
        """The inode of *name* as a walk (or an open, *fd*) found it, with its handle;
        *hops*: what its lookups are to take (:meth:`_keep_hops`), given back if the
        inode cannot be made."""
        handle: Optional[int] = h
        if fd >= 0 and self.fs.trusted:
            # Opened: the fd is what the open needs, and the handle would hold a gofer
            # fd for as long as the inode is cached (_keeps_no_handle).
            self.fs.handle_released(h)
            handle = None
        try:
            child = GoferInode(self.fs, handle, st, self, name)
        except BaseException:
            self._give_back(handle, fd)
            for _, hh, _, hfd in hops:
                self._give_back(hh, hfd)
            raise
        if fd >= 0:
            child._pending_fd = (fd, abi.O_RDONLY)  # for the open that follows
        if hops:
            child._keep_hops(hops)
        return child

    def _keep_hops(self, hops: Sequence["_Hop"]) -> None:
        """Keep what a walk through a symlink to a sibling (or an open sent with the walk
        to this directory) brought, for the lookups here that follow (a chain that comes
        back to a name: the latest); a name found missing has no handle and no Stat."""
        assert self._hops is None  # (_lookup took or gave back the last ones)
        kept = self._hops = {}
        for name, h, st, fd in hops:
            old = kept.pop(name, None)
            if old is not None:
                self._give_back(old[0], old[2])
            kept[name] = (h, st, fd)

    def _drop_hops(self) -> None:
        """Give back what a walk through a symlink to a sibling brought for its targets'
        lookups, which did not come (the handles, the fds)."""
        hops, self._hops = self._hops, None
        for h, _, fd in (hops or {}).values():
            self._give_back(h, fd)

    def _give_back(self, h: Optional[int], fd: int) -> None:
        """Release a walked handle (None: none kept) and close its file's fd (-1: none)."""
        if fd >= 0:
            os.close(fd)
        if h is not None:
            self.fs.handle_released(h)

    def _not_there(self, name: bytes) -> None:
        """A walk found no *name* here: in a trusted directory (nothing changes it) the
        next lookup of it needs no request.  ld.so looks for /etc/ld.so.preload at each
        program's start, gcc's driver for its programs in the same few directories,
        Python for the same files beside its executable."""
        fs = self.fs
        if fs.trusted and fs.absent_left > 0 and self._listing is None:
            if self._absent is None:
                self._absent = set()
            if len(self._absent) < ABSENT_MAX:
                self._absent.add(name)
                fs.absent_left -= 1

    def _forget_absent(self) -> None:
        """Listed now: the listing says what is not there."""
        absent, self._absent = self._absent, None
        if absent:
            self.fs.absent_left += len(absent)

    def _list_opening(self, name: bytes) -> Optional[Inode]:
        """:meth:`_lookup` of *name*, about to be opened read-only, in this trusted
        directory about to be listed: the listing and the file's fd asked for in one
        round trip (``listing_fetch``: a Tfetch after the Treaddirstat), the fd kept for
        the open that follows if it is the listed file (a regular file everyone may
        read; else the open asks as it would have).  The locale files, a .git object, a
        module's .pyc in a directory not listed yet: the listing and then the open were
        two round trips."""
        h, names, _ = self._anchor()
        self.fs.release_handles()
        listing, got = call(self.client.listing_fetch, h, names, name)
        fd = got[1] if got is not None else -1
        try:
            self._keep_listing(listing, False)
            st = listing.get(name)
            if st is None:
                return None  # a trusted directory's listing is complete
            if isinstance(st, int):
                return self._lookup(name, True)  # (walked: no fetch is its file)
            child = GoferInode(self.fs, None, st, self, name)
            if got is not None and _same_file(got[0], st):
                child._pending_fd, fd = (fd, abi.O_RDONLY), -1  # for the open that follows
            return child
        finally:
            if fd >= 0:
                os.close(fd)

    def _list_along(self, name: bytes, rest: List[bytes], opens: bool,
                    ) -> Tuple[Listing, Optional[Tuple[List[bytes], List[Listing]]]]:
        """:meth:`_list` (not fetched ahead) of this trusted directory for the lookup of
        *name*, a directory a walk goes on from through *rest* (reversed, as the walk's
        stack): the directories *name* and the names after it go down to are listed in
        the same round trip while each is small (one block: the listing its own first
        lookup would make), down to a ``..`` at most (``Tlistalong``).  Its
        listing, and the others for *name*'s inode to take (:meth:`_take_along`).
        /tmp/x/repo/.git/refs/heads, usr/local/lib/python3.11/dist-packages: a round trip
        a directory.  Not the walk's last name (a walk to a directory does not list it),
        nor one a ``..`` goes back up from (the walk looks nothing up in it; a ``.`` is
        passed over); when the last name is about to be opened (*opens*), the directory
        it is in is left to its own lookup, which lists it and fetches the file in one
        round trip (:meth:`_list_opening`)."""
        names_along = [name]
        for n in reversed(rest):
            if n == b".":
                continue  # (the walk stays where it is)
            if n == b"..":
                names_along.pop()  # (the walk looks nothing up in the one before)
                break
            # (a name too long is the walk's ENAMETOOLONG when it gets there, after any
            # error before it: the gofer would refuse the whole request for it)
            if not _walkable_name(n) or len(names_along) >= MAX_ALONG:
                break
            names_along.append(n)
        else:
            # (not the walk's last name, which only needs its directory's listing; nor,
            # when it is to be opened, that directory, which _list_opening lists)
            del names_along[-2 if opens else -1:]
        if not names_along:
            return self._list(), None
        h, names, _ = self._anchor()
        self.fs.release_handles()
        listings = call(self.client.listing_along, h, names, names_along)
        self._keep_listing(listings[0], False)
        more = listings[1:]
        return listings[0], ((names_along[:len(more)], more) if more else None)

    def _take_along(self, along: Tuple[List[bytes], List[Listing]]) -> None:
        """Keep this new directory's listing, which a Tlistalong brought with its parent's
        (*along*: the names from this one down and their listings), as if listed by a
        request of its own; the ones below wait for the lookup of the next name here."""
        names, listings = along
        self._keep_listing(listings[0], False)
        if len(listings) > 1:
            self._along = (names[1:], listings[1:])

    def _list(self, reading: bool = False) -> Listing:
        """The entries with their attributes, in one request (kept if trusted), or fetched
        ahead by the parent after this inode was made (looked up before the walk got
        here).  *reading*: for a program that reads the directory (getdents), which in a
        tree walk its siblings' listings are fetched ahead for (_prefetch_subdirs); a
        listing for lookups that missed is no sign of a walk, except among small leaf
        directories (:func:`_small_leaf`), whose small leaf siblings are fetched ahead."""
        if self.fs.trusted:
            fetched = self._fetched()
            if fetched is not None:
                return fetched
        h, names, _ = self._anchor()
        self.fs.release_handles()
        listing = call(self.client.listing, h, names)
        if self.fs.trusted:
            self._keep_listing(listing, reading)
        return listing

    def _keep_listing(self, listing: Listing, reading: bool) -> None:
        """Keep this trusted directory's *listing*, just asked for (see :meth:`_list`)."""
        self._listing = listing
        self._forget_absent()
        up = self._up
        if up is not None and up._listing is not None:
            up._prefetch_subdirs(self, reading)

    def _fetched(self) -> Optional[Listing]:
        """This directory's listing from the Treadtree reply its parent's listing asked for
        or came in (read up to it if it has not come yet), kept; None if there is none or
        the reply has not got it."""
        up = self._up
        if up is None or up._fetch is None or (
                up._fetch_names is not None and self._name not in up._fetch_names):
            return None
        fetch, path = up._fetch, up._fetch_path + (self._name,)
        listing = fetch.take_listing(path)
        if listing is None:
            return None
        self._listing = listing
        self._forget_absent()
        if self._fetch is None:  # its subdirectories' listings may be in the same reply
            self._fetch, self._fetch_path = fetch, path
        return listing

    def _prefetch_subdirs(self, child: "GoferInode", reading: bool) -> None:
        """A subdirectory of this listed directory, *child*, was listed by a request of its
        own, for a program reading it (*reading*) or looking names up in it.  Once
        PREFETCH_AFTER of them were, a tree walk is going on, which lists the others and
        what is below them next: ask for those listings now, depth first, in one request
        (Treadtree) of PREFETCH_BUDGET entries, twice that the next time.  The reply is
        read as the subdirectories' inodes ask for their listings
        (:class:`gofer.client.TreeFetch`): the sentry goes on with the first ones while
        the gofer lists the rest.  A walk reading *child* goes below it next, and every
        other request waits behind the reply: so the reply starts with *child*'s
        subdirectories (*child* listed again, its listing dropped as it comes), if its
        listing has some and few entries (:func:`_walk_goes_below`; os.walk of a
        50,000-file tree waited 17, 45 and 70 ms for replies about *child*'s siblings
        before it could list *child*'s first subdirectory; inside 1.03 -> 0.96 s, A/B
        medians of 9).  (A program
        looking for a file in a few directories lists one or two: listing all their
        siblings would be waste.)  Lookups count only in small leaf directories
        (:func:`_small_leaf`), apart from reads, and fetch only those, at most
        LEAF_PREFETCH_BUDGET entries: git status stats a 1,000-file
        repository's 20 directories' files one directory after another, 20 listings at
        ~0.3 ms of the sentry each (inside 27.4 -> 26.0 and 27.4 -> 25.2 ms, alternated
        medians of 21; python3 and gcc fetch nothing more, or next to nothing)."""
        assert self._listing is not None
        listed = child._name
        if self._unfetched == []:
            return  # every subdirectory was listed or fetched (a walk lists each)
        if not reading and not (listed in self._listing and _small_leaf(self._listing[listed])):
            return
        asked = self._asked if self._asked is not None else set()
        self._asked = asked
        asked.add(listed)
        # (Each kind counts on its own: lookups in two small leaves and a program reading
        # a third directory are neither a tree walk nor a leaf-by-leaf scan.)
        if reading:
            self._own_lists += 1
            if self._own_lists < PREFETCH_AFTER:
                return
        else:
            self._leaf_lists += 1
            if self._leaf_lists < PREFETCH_AFTER:
                return
        h, names, _ = self._anchor()
        if sum(len(n) for n in names) > PREFETCH_PATH_MAX:
            return  # (until a directory on the way has a handle of its own)
        if self._fetch is not None:
            # What its last fetch brought counts as asked, the rest may be asked again; a
            # listing that came in its parent's reply brought some of its subdirectories'
            # too (their walk went on below them).  (A dropped listing was asked already.)
            self._fetch.wait()
            asked.update(_fetched_below(self._fetch, self._fetch_path))
        # (The listing's subdirectories are picked out once: each of a walk's own listings
        # below a large directory went through all its entries again, ~0.1 s of a find of
        # /usr/share/doc's 913 directories.)
        unfetched = self._unfetched
        if unfetched is None:
            unfetched = self._listing.subdirs()
        unfetched = self._unfetched = [n for n in unfetched if n not in asked]
        if reading:
            subdirs = unfetched[:MAX_TREE_SUBDIRS]
        else:
            if self._small_leaves is None:
                listing = self._listing
                self._small_leaves = {n for n in unfetched if _small_leaf(listing[n])}
            leaves = self._small_leaves
            subdirs = _scan_order([n for n in unfetched if n in leaves], asked)[:MAX_TREE_SUBDIRS]
        if not subdirs:
            return
        if reading:
            budget = min(PREFETCH_BUDGET << self._fetches, PREFETCH_BUDGET_MAX)
            self._fetches += 1
            self._own_lists = 0
        else:
            # (small leaves hold a block's entries each: a few dozen of them, never a
            # tree walk's budget, which every other request would wait behind)
            budget = LEAF_PREFETCH_BUDGET
            self._leaf_lists = 0
        below = reading and _walk_goes_below(child, budget)
        if below:
            subdirs = [listed, *subdirs[:MAX_TREE_SUBDIRS - 1]]
        try:
            self._fetch = self.client.readtree_start(h, names, subdirs, budget)
        except OSError:
            return  # the listings will be asked for one by one
        self._fetch_path = ()
        self._fetch_names = set(subdirs)
        if below:
            self._fetch.drop((listed,))
            self._fetch_names.discard(listed)  # (its listing is not in the reply)
            child._fetch, child._fetch_path = self._fetch, (listed,)

    def iterdir(self, t: Any) -> List[DirEntry]:
        if not self.is_dir:
            raise err(errno.ENOTDIR)
        if self.fs.trusted:
            # Listing with attributes costs the gofer an lstat per entry and saves a
            # request for every later lookup or stat in the directory (ls -l, a tree walk,
            # Python's import path cache).
            listing = self._listing if self._listing is not None else self._list(reading=True)
            return listing.dirents()
        dir_handle = self.gofer_handle()
        self.fs.release_handles()
        return [(n, ino, dt) for n, ino, dt in call(self.client.readdir, dir_handle)]

    def create(self, t: Any, name: bytes, mode: int, flags: int) -> Inode:
        self.fs.check_writable()
        uid, gid = owner_of(t)
        uid, gid = self.fs.host_ids(uid, gid, errno.EOVERFLOW)
        h, st, fd = call(
            self.client.create, self.gofer_handle(), name, flags & (abi.O_ACCMODE | abi.O_APPEND),
            mode & 0o7777, uid, gid,
        )
        child = GoferInode(self.fs, h, st)
        child._pending_fd = (fd, flags & abi.O_ACCMODE)
        return child

    def mknod(self, t: Any, name: bytes, mode: int, rdev: int) -> Inode:
        if not _st.S_ISREG(mode):
            raise err(errno.EPERM)
        try:
            child = self.create(t, name, mode, abi.O_RDONLY)
        except LinuxError as e:
            if e.errno != errno.ENFILE:
                raise
            # The gofer's create opens the file it makes, out of fds it fails as an open
            # does (gofer_call); mknod(2) opens nothing and has no ENFILE: Linux says
            # ENOMEM when it cannot get the memory.
            raise err(errno.ENOMEM) from None
        assert isinstance(child, GoferInode) and child._pending_fd is not None
        child.drop_pending(child._pending_fd)
        child._pending_fd = None
        return child

    def mkdir(self, t: Any, name: bytes, mode: int) -> Inode:
        self.fs.check_writable()
        uid, gid = owner_of(t)
        uid, gid = self.fs.host_ids(uid, gid, errno.EOVERFLOW)
        h, st = call(self.client.mkdir, self.gofer_handle(), name, mode & 0o7777, uid, gid)
        return GoferInode(self.fs, h, st)

    def symlink(self, t: Any, name: bytes, target: bytes) -> Inode:
        self.fs.check_writable()
        uid, gid = owner_of(t)
        uid, gid = self.fs.host_ids(uid, gid, errno.EOVERFLOW)
        h, st = call(self.client.symlink, self.gofer_handle(), name, target, uid, gid)
        return GoferInode(self.fs, h, st)

    def link(self, t: Any, name: bytes, target: Inode) -> Inode:
        self.fs.check_writable()
        if not isinstance(target, GoferInode) or target.fs is not self.fs:
            raise err(errno.EXDEV)
        h, st = call(self.client.link, self.gofer_handle(), name,
                     target.gofer_handle())
        return GoferInode(self.fs, h, st)

    def unlink(self, t: Any, name: bytes, child: Inode) -> None:
        self.fs.check_writable()
        call(self.client.unlink, self.gofer_handle(), name, 0)

    def rmdir(self, t: Any, name: bytes, child: Inode) -> None:
        self.fs.check_writable()
        call(self.client.unlink, self.gofer_handle(), name, abi.AT_REMOVEDIR)

    def rename(
        self, t: Any, old_name: bytes, child: Inode, new_dir: Inode, new_name: bytes,
        replaced: Optional[Inode], flags: int,
    ) -> None:
        self.fs.check_writable()
        if not isinstance(new_dir, GoferInode) or new_dir.fs is not self.fs:
            raise err(errno.EXDEV)
        call(self.client.rename, self.gofer_handle(), old_name, new_dir.gofer_handle(),
             new_name, flags)

    # -- symlinks ----------------------------------------------------------
    def readlink(self, t: Any) -> bytes:
        if not self.is_symlink:
            raise err(errno.EINVAL)
        # A symlink's target never changes (another target is another inode): one round
        # trip per inode, not one per path walk through it (/bin -> usr/bin at every exec).
        if self._target is None:
            self._target = call(self.client.readlink, self.gofer_handle())
        return self._target

    # -- extended attributes ----------------------------------------------------
    # user.* only, through the gofer (lisafs's FGetXattr …); a host file's trusted.* and
    # security.* attributes are never read (ENODATA) nor changed (EOPNOTSUPP) from the
    # sandbox, and its POSIX ACLs read as absent.  Names are checked here as the host's
    # file system would (ext4's namespaces), so the gofer is asked only what it serves.

    def getxattr(self, t: Any, name: bytes) -> bytes:
        if name not in xa.POSIX_ACLS:
            xa.resolve(name, _HOST_XATTR_PREFIXES)
        if not name.startswith(xa.USER) or not (self.is_reg or self.is_dir):
            raise err(errno.ENODATA)
        value = call(self.client.getxattr, self.gofer_handle(), name)
        if self._keeps_no_handle():
            self._drop_handle()  # (tar --xattrs reads every file's)
        return value

    def listxattr(self, t: Any) -> List[bytes]:
        if not (self.is_reg or self.is_dir):
            return []
        if self._xattrs is not None:
            return list(self._xattrs)
        h, names, _ = self._anchor()
        self.fs.release_handles()
        got = call(self.client.listxattr, h, names)
        if self.fs.trusted:
            self._xattrs = list(got)
        return got

    def list_xattrs_up(self) -> None:
        """Have this trusted file's and its directories' attribute names listed, in one
        request (Tlistxattrs from the file system's root): the overlay copies a path's
        directories up one after another, and each copy asked for its names (git's
        ``.git/index.lock`` under three directories: four round trips).  Nothing if they
        are known or cannot be asked for so; a failure leaves each to :meth:`listxattr`."""
        if (not self.fs.trusted or self._xattrs is not None or self._xattrs_failed
                or not (self.is_reg or self.is_dir)):
            return
        chain: List[GoferInode] = []
        node = self
        while node._up is not None:
            chain.append(node)
            node = node._up
        root = self.fs.root_inode()
        if node is not root or not chain or len(chain) > MAX_WALK:
            return
        assert isinstance(root, GoferInode) and root.handle is not None
        chain.reverse()
        self.fs.release_handles()
        try:
            lists = self.client.listxattrs(root.handle, [n._name for n in chain])
        except OSError:
            # (not asked again for the directories above, which the copy-up reaches next)
            for inode in chain:
                inode._xattrs_failed = True
            return
        for inode, names in zip(chain, lists, strict=True):
            if inode._xattrs is None:
                inode._xattrs = names

    def _xattr_change(self, t: Any, call_name: str, name: bytes) -> int:
        self.fs.check_writable()
        if name not in xa.POSIX_ACLS:
            xa.resolve(name, _HOST_XATTR_PREFIXES)
        if not name.startswith(xa.USER):
            raise xa.refused(t, call_name, name)
        return self.gofer_handle()

    def setxattr(self, t: Any, name: bytes, value: bytes, flags: int) -> None:
        h = self._xattr_change(t, "setxattr", name)
        call(self.client.setxattr, h, name, value, flags)

    def removexattr(self, t: Any, name: bytes) -> None:
        h = self._xattr_change(t, "removexattr", name)
        call(self.client.removexattr, h, name)

    # -- open --------------------------------------------------------------
    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        if self.is_dir:
            return DirectoryDescription(vd, self, flags)
        if _st.S_ISFIFO(self.mode):
            return open_special(t, self, vd, flags)
        if not self.is_reg:
            raise err(errno.EACCES if _st.S_ISCHR(self.mode) or _st.S_ISBLK(self.mode) else errno.ENXIO)
        from sentry.fsimpl.gofer.regular_file import GoferFileDescription

        acc = flags & abi.O_ACCMODE
        pending, self._pending_fd = self._pending_fd, None
        if pending is not None and pending[1] == acc:
            if len(pending) > 2:
                _kept[0] -= 1  # (taken)
            fd = pending[0]
        else:
            if pending is not None:
                self.drop_pending(pending)
            fd = self._open_fd(acc | (flags & abi.O_APPEND))
        return GoferFileDescription(vd, self, flags, fd)

    @staticmethod
    def drop_pending(pending: tuple) -> None:
        """Close a ``_pending_fd`` taken off an inode (out of :data:`_kept`'s count if
        it was in it)."""
        if len(pending) > 2:
            _kept[0] -= 1
        try:
            os.close(pending[0])
        except OSError:
            pass

    def may_keep_fd(self) -> bool:
        """Whether :meth:`keep_released_fd` would keep a fd: none kept here yet, and the
        sentry keeps less than its budget's worth (:data:`_kept`)."""
        return self._pending_fd is None and _kept[0] < _kept[1]

    def keep_released_fd(self, fd: int) -> bool:
        """Keep the read-only host *fd* of a released description for this file's next
        read-only open (if :meth:`may_keep_fd`); False: the caller still owns it."""
        if not self.may_keep_fd():
            return False
        self._pending_fd = (fd, abi.O_RDONLY, True)  # (counted in _kept)
        _kept[0] += 1
        return True

    def _open_fd(self, flags: int) -> int:
        """A host fd from the gofer; an inode without a handle walks its name and opens
        it in one request."""
        if self.handle is None:
            anchor, names, _ = self._anchor()
            self.fs.release_handles()
            h, st, fd = call(self.client.walkopen, anchor, names, flags)
            try:
                self._adopt(h, st)
            except BaseException:
                os.close(fd)
                raise
        else:
            self.fs.release_handles()
            fd = call(self.client.open, self.handle, flags)
        if self._keeps_no_handle():
            self._drop_handle()
        return fd
