"""Bounded lifetime of gofer handles: dentry eviction against the real gofer."""

import gc
import os
import weakref

import pytest

import sentry.vfs.inode as vfs_inode
from sentry.abi.linux.errors import LinuxError
from sentry.config import MountSpec
from sentry.fsimpl.gofer.filesystem import RELEASE_BATCH
from sentry.vfs import abi
from vfs_testlib import FakeKernel, make_task

#: A small LRU bound for the tests (the production one is DENTRY_CACHE_SIZE).
BOUND = 128
#: Handles that may be live beyond the bound: roots, directories above the
#: cached files, and handles freed but not closed yet (closed RELEASE_BATCH at a time,
#: per file system).
SLACK = 64 + 2 * RELEASE_BATCH
#: Two gofer-backed file systems are walked (the root overlay's lower layer and
#: the rw bind), each with its own LRU.
LIMIT = 2 * BOUND + SLACK


class CountingClient:
    """A GoferClient that tracks live handles and checks how they are used.

    Every handle is closed at most once and never used after its close.
    """

    def __init__(self, client):
        self._c = client
        self.live = set()
        self.closed = set()
        self.peak = 0
        self.readlinks = 0

    def _new(self, h):
        assert h not in self.live, f"handle {h} handed out twice"
        self.closed.discard(h)  # the gofer may reuse a closed handle's number
        self.live.add(h)
        self.peak = max(self.peak, len(self.live))

    def _use(self, h):
        assert h in self.live, f"handle {h} used while not live"

    def version(self):
        return self._c.version()

    def attach(self, i):
        h, st = self._c.attach(i)
        self._new(h)
        return h, st

    def walk(self, h, names):
        self._use(h)
        out = self._c.walk(h, names)
        for nh, _ in out:
            self._new(nh)
        return out

    def stat(self, h):
        self._use(h)
        return self._c.stat(h)

    def open(self, h, flags):
        self._use(h)
        return self._c.open(h, flags)

    def readlink(self, h):
        self.readlinks += 1
        self._use(h)
        return self._c.readlink(h)

    def readdir(self, h):
        self._use(h)
        return self._c.readdir(h)

    def readdirstat(self, h, names=None):
        self._use(h)
        return self._c.readdirstat(h, names)

    def listing(self, h, names=None):
        self._use(h)
        return self._c.listing(h, names)

    def listing_along(self, h, names, along):
        self._use(h)  # (no handle made)
        return self._c.listing_along(h, names, along)

    def listing_fetch(self, h, names, name):
        self._use(h)  # (no handle made: the fetched file's fd only)
        return self._c.listing_fetch(h, names, name)

    def readtree_start(self, h, names, subdirs, budget):
        self._use(h)
        return self._c.readtree_start(h, names, subdirs, budget)

    def walk_or_open_siblings(self, h, name, flags, via=()):
        self._use(h)
        nh, st, fd, hops = self._c.walk_or_open_siblings(h, name, flags, via)
        for handle in (nh, *(hh for _, hh, _, _ in hops)):
            self._new(handle)
        return nh, st, fd, hops

    def walk_and_open_siblings(self, h, via, name, flags):
        self._use(h)
        entries, opened = self._c.walk_and_open_siblings(h, via, name, flags)
        for nh, _ in entries:
            self._new(nh)
        if not isinstance(opened, OSError):
            nh, st, fd, hops = opened
            for handle in (nh, *(hh for _, hh, _, _ in hops)):
                self._new(handle)
        return entries, opened

    def walk_or_open(self, h, name, flags, via=()):
        self._use(h)
        nh, st, fd = self._c.walk_or_open(h, name, flags, via)
        self._new(nh)
        return nh, st, fd

    def walkopen(self, h, names, flags):
        self._use(h)
        nh, st, fd = self._c.walkopen(h, names, flags)
        self._new(nh)
        return nh, st, fd

    def statfs(self, h):
        self._use(h)
        return self._c.statfs(h)

    def setattr(self, h, **kw):
        self._use(h)
        return self._c.setattr(h, **kw)

    def listxattr(self, h, names=None):
        self._use(h)
        return self._c.listxattr(h, names)

    def listxattrs(self, h, names):
        self._use(h)
        return self._c.listxattrs(h, names)

    def getxattr(self, h, name):
        self._use(h)
        return self._c.getxattr(h, name)

    def create(self, h, name, flags, mode, uid, gid):
        self._use(h)
        nh, st, fd = self._c.create(h, name, flags, mode, uid, gid)
        self._new(nh)
        return nh, st, fd

    def mkdir(self, h, name, mode, uid, gid):
        self._use(h)
        nh, st = self._c.mkdir(h, name, mode, uid, gid)
        self._new(nh)
        return nh, st

    def symlink(self, h, name, target, uid, gid):
        self._use(h)
        nh, st = self._c.symlink(h, name, target, uid, gid)
        self._new(nh)
        return nh, st

    def link(self, h, name, target):
        self._use(h)
        self._use(target)
        nh, st = self._c.link(h, name, target)
        self._new(nh)
        return nh, st

    def unlink(self, h, name, flags=0):
        self._use(h)
        return self._c.unlink(h, name, flags)

    def rename(self, od, on, nd, nn, flags=0):
        self._use(od)
        self._use(nd)
        return self._c.rename(od, on, nd, nn, flags)

    def close(self, h):
        assert h not in self.closed, f"handle {h} closed twice"
        self._use(h)
        self._c.close(h)
        self.live.discard(h)
        self.closed.add(h)

    def close_many(self, hs):
        assert len(set(hs)) == len(hs), f"handles closed twice in one request: {hs}"
        for h in hs:
            assert h not in self.closed, f"handle {h} closed twice"
            self._use(h)
        self._c.close_many(hs)
        self.live.difference_update(hs)
        self.closed.update(hs)


def _fill(root, ndirs, nfiles, prefix="f"):
    paths = []
    for i in range(ndirs):
        d = os.path.join(root, "many", f"d{i}")
        os.makedirs(d, exist_ok=True)
        for j in range(nfiles):
            with open(os.path.join(d, f"{prefix}{j}"), "wb") as f:
                f.write(b"%d/%d" % (i, j))
            paths.append(f"/many/d{i}/{prefix}{j}".encode())
    return paths


@pytest.fixture
def pressure_tree(lower):
    """3x BOUND distinct files under /many of the lower layer."""
    return _fill(lower, 6, BOUND // 2)


@pytest.fixture
def gofer(lower, tmp_path, monkeypatch, pressure_tree):
    from gofer.client import GoferClient
    from gofer.server import spawn
    from sentry.config import BootConfig
    from sentry.vfs.mount_tree import build_mount_tree

    monkeypatch.setattr(vfs_inode, "DENTRY_CACHE_SIZE", BOUND)
    bind = tmp_path / "bind"
    bind.mkdir()
    bind_paths = [p.replace(b"/many/", b"/mnt/rw/many/", 1) for p in _fill(str(bind), 6, BOUND // 2)]
    cfg = BootConfig(argv=["/x"], env=[], root_path=lower,
                     mounts=[MountSpec("/mnt/rw", "bind", str(bind)), MountSpec("/dev", "dev")])
    pid, sock = spawn([(lower, True), (str(bind), False)])
    real = GoferClient(sock)
    real.version()
    client = CountingClient(real)
    k = FakeKernel()
    vfs = build_mount_tree(cfg, client, k)
    k.vfs = vfs
    yield vfs, make_task(k, vfs), client, pid, str(bind), bind_paths
    sock.close()
    os.waitpid(pid, 0)


def _gofer_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def _queued(vfs):
    """Handles freed but not closed yet, of every gofer file system."""
    out = set()
    for m in vfs.mounts:
        fs = getattr(m.fs, "lower", m.fs)
        out.update(getattr(fs, "_released", ()))
    return out


def _press(vfs, t, client, paths, pid=None):
    """Walk every path (stat), checking the live handle count as it goes."""
    for p in paths:
        vfs.resolve(t, abi.AT_FDCWD, p).dentry.inode.stat()
        assert len(client.live) <= LIMIT
    if pid is not None:
        assert _gofer_fds(pid) <= LIMIT + 16


def test_bound_is_a_constant():
    assert vfs_inode.DENTRY_CACHE_SIZE == 4096 or vfs_inode.DENTRY_CACHE_SIZE == BOUND


def test_walk_keeps_handles_bounded(gofer, pressure_tree):
    vfs, t, client, pid, _, bind_paths = gofer
    fds_before = _gofer_fds(pid)
    for _ in range(2):  # the second round looks evicted names up again
        _press(vfs, t, client, pressure_tree, pid)
        _press(vfs, t, client, bind_paths, pid)
    assert client.peak <= LIMIT
    assert client.closed  # eviction really closed handles
    assert _gofer_fds(pid) <= fds_before + LIMIT


def test_open_description_survives_pressure(gofer, pressure_tree):
    vfs, t, client, _, _, bind_paths = gofer
    d = vfs.open_at(t, abi.AT_FDCWD, b"/usr/lib/libc.so", abi.O_RDONLY, 0)
    w = vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/many/d0/f1", abi.O_RDWR, 0)
    # A regular file of the trusted lower layer gives its handle back once opened (its
    # host fd is what the description reads); the shared bind's keeps its handle.
    assert d.inode.handle is None
    handles = (w.inode.handle,)
    _press(vfs, t, client, pressure_tree + bind_paths)
    assert all(h in client.live for h in handles)
    assert d.pread(t, 8, 0) == b"libclibc"
    assert d.stat(t).ino == vfs.resolve(t, abi.AT_FDCWD, b"/usr/lib/libc.so").inode.stat().ino
    assert w.read(t, 10) == b"0/1"
    # The description's dentry is still the cached one: stat through the path agrees.
    assert vfs.resolve(t, abi.AT_FDCWD, b"/mnt/rw/many/d0/f1").dentry is w.vd.dentry
    d.decref()
    w.decref()
    del d, w
    gc.collect()
    _press(vfs, t, client, pressure_tree + bind_paths)  # both file systems' LRUs
    # Freed: closed, or queued for the file system's next batch of closes (a trusted
    # lower layer's walk from listings frees too few handles to fill a batch).
    assert all(h not in client.live or h in _queued(vfs) for h in handles)


def test_unlinked_open_file_closes_handle_on_last_release(gofer, pressure_tree):
    vfs, t, client, _, bind, bind_paths = gofer
    w = vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/gone", abi.O_RDWR | abi.O_CREAT, 0o644)
    w.write(t, b"still here")
    h = w.inode.handle
    vfs.unlink_at(t, abi.AT_FDCWD, b"/mnt/rw/gone", 0)
    assert not os.path.exists(os.path.join(bind, "gone"))
    _press(vfs, t, client, pressure_tree)
    assert h in client.live
    assert w.pread(t, 100, 0) == b"still here"
    assert vfs.describe(t, w).endswith(b" (deleted)")
    w.incref()  # a dup: the handle stays until the last reference goes
    w.decref()
    vfs.resolve(t, abi.AT_FDCWD, b"/etc/passwd")
    assert h in client.live
    w.decref()
    del w
    # Closed with the next batch of freed handles of its file system.
    _press(vfs, t, client, bind_paths)
    assert h not in client.live and h in client.closed


@pytest.fixture
def deep_tree(lower):
    """/deep/a/b/c/d/leaf in the lower layer, made before the sandbox starts: the
    lower layer is exclusive (nothing but the sandbox changes it while it runs)."""
    deep = os.path.join(lower, "deep", "a", "b", "c", "d")
    os.makedirs(deep)
    with open(os.path.join(deep, "leaf"), "wb") as f:
        f.write(b"leaf")


def test_cwd_survives_pressure(deep_tree, gofer, pressure_tree):
    vfs, t, client, _, _, _ = gofer
    vfs.chdir(t, vfs.resolve(t, abi.AT_FDCWD, b"/deep/a/b/c/d"))
    _press(vfs, t, client, pressure_tree)
    assert vfs.getcwd(t) == b"/deep/a/b/c/d"
    f = vfs.open_at(t, abi.AT_FDCWD, b"leaf", abi.O_RDONLY, 0)
    assert f.read(t, 10) == b"leaf"
    f.decref()
    up = vfs.resolve(t, abi.AT_FDCWD, b"../../..")
    assert vfs.path_of(up, t.fs.root)[0] == b"/deep/a"


def test_relookup_keeps_st_ino(gofer, pressure_tree, lower):
    vfs, t, client, _, bind, bind_paths = gofer
    names = [b"/etc/passwd", b"/data/sub", b"/many/d0/f0", bind_paths[0], b"/mnt/rw/many/d1"]
    hosts = [os.path.join(lower, "etc/passwd"), os.path.join(lower, "data/sub"),
             os.path.join(lower, "many/d0/f0"), os.path.join(bind, "many/d0/f0"),
             os.path.join(bind, "many/d1")]
    first = []
    refs = []
    for n in names:
        vd = vfs.resolve(t, abi.AT_FDCWD, n)
        first.append(vd.inode.stat().ino)
        refs.append(weakref.ref(vd.dentry))
        del vd
    assert first == [os.stat(h).st_ino for h in hosts]
    _press(vfs, t, client, pressure_tree[1:] + bind_paths[1:])
    gc.collect()
    assert all(r() is None for r in refs)  # really evicted
    again = [vfs.resolve(t, abi.AT_FDCWD, n).inode.stat().ino for n in names]
    assert again == first
    # getdents agrees with stat after re-lookup too.
    dd = vfs.open_at(t, abi.AT_FDCWD, b"/data", abi.O_RDONLY | abi.O_DIRECTORY, 0)
    ents = {n: ino for ino, _, n in dd.getdents(t)}
    dd.decref()
    assert ents[b"sub"] == os.stat(os.path.join(lower, "data/sub")).st_ino


def test_overlay_state_survives_pressure(gofer, pressure_tree, lower):
    vfs, t, client, _, _, _ = gofer
    w = vfs.open_at(t, abi.AT_FDCWD, b"/etc/passwd", abi.O_WRONLY | abi.O_TRUNC, 0)
    w.write(t, b"copied up\n")
    w.decref()
    del w
    vfs.unlink_at(t, abi.AT_FDCWD, b"/data/a", 0)
    vfs.unlink_at(t, abi.AT_FDCWD, b"/data/sub/c", 0)
    vfs.unlink_at(t, abi.AT_FDCWD, b"/data/sub", abi.AT_REMOVEDIR)
    vfs.mkdir_at(t, abi.AT_FDCWD, b"/data/sub", 0o700)  # opaque over the lower dir
    copied_ino = vfs.resolve(t, abi.AT_FDCWD, b"/etc/passwd").inode.stat().ino
    etc_ino = vfs.resolve(t, abi.AT_FDCWD, b"/etc").inode.stat().ino
    assert etc_ino == os.stat(os.path.join(lower, "etc")).st_ino
    _press(vfs, t, client, pressure_tree)
    gc.collect()
    _press(vfs, t, client, pressure_tree[:BOUND])
    f = vfs.open_at(t, abi.AT_FDCWD, b"/etc/passwd", abi.O_RDONLY, 0)
    assert f.read(t, 100) == b"copied up\n"
    f.decref()
    assert vfs.resolve(t, abi.AT_FDCWD, b"/etc/passwd").inode.stat().ino == copied_ino
    assert vfs.resolve(t, abi.AT_FDCWD, b"/etc").inode.stat().ino == etc_ino
    with pytest.raises(LinuxError):
        vfs.resolve(t, abi.AT_FDCWD, b"/data/a")
    with pytest.raises(LinuxError):
        vfs.resolve(t, abi.AT_FDCWD, b"/data/sub/c")
    assert vfs.resolve(t, abi.AT_FDCWD, b"/data/sub").inode.mode & 0o777 == 0o700
    dd = vfs.open_at(t, abi.AT_FDCWD, b"/data", abi.O_RDONLY | abi.O_DIRECTORY, 0)
    names = {n for _, _, n in dd.getdents(t)}
    dd.decref()
    assert b"a" not in names and {b"b", b"sub"} <= names
    with open(os.path.join(lower, "etc/passwd"), "rb") as h:
        assert h.read().startswith(b"root:")  # the lower layer was never written


@pytest.fixture
def lower_link(lower):
    os.symlink("many", os.path.join(lower, "link"))  # before the sandbox starts (exclusive)


def test_symlink_target_read_once(lower_link, gofer):
    """A symlink's target is never asked of the gofer where the listing (the root's
    trusted lower layer is listed) or the walk (the rw bind mount's) that found the inode
    carried it, nor at every walk through it; else once per inode (it cannot change:
    another target is another inode)."""
    vfs, t, client, _, bind, _ = gofer
    os.symlink("many", os.path.join(bind, "link"))
    for path in (b"/link", b"/mnt/rw/link"):
        before = client.readlinks
        for _ in range(3):
            assert vfs.resolve(t, abi.AT_FDCWD, path + b"/d0", follow=True).inode.is_dir
            assert vfs.readlink_at(t, abi.AT_FDCWD, path) == b"many"
        assert client.readlinks - before == 0, path
    # A walk whose reply carried no target (the gofer could not read it) reads it once.
    real_walk = client.walk

    def walk_without_targets(h, names):
        out = real_walk(h, names)
        for _, st in out:
            st.target = None
        return out

    os.symlink("many", os.path.join(bind, "link2"))
    client.walk = walk_without_targets
    try:
        before = client.readlinks
        for _ in range(3):
            assert vfs.resolve(t, abi.AT_FDCWD, b"/mnt/rw/link2/d0", follow=True).inode.is_dir
            assert vfs.readlink_at(t, abi.AT_FDCWD, b"/mnt/rw/link2") == b"many"
        assert client.readlinks - before == 1
    finally:
        client.walk = real_walk
