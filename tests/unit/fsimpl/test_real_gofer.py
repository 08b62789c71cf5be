"""The gofer file system against the real gofer process (skipped if it cannot start)."""

import errno
import os
import stat

import pytest

from sentry.abi.linux.errors import LinuxError
from sentry.config import MountSpec
from sentry.vfs import abi
from vfs_testlib import FakeKernel, make_task


@pytest.fixture
def real(lower, tmp_path):
    from gofer.client import GoferClient
    from gofer.server import spawn
    from sentry.config import BootConfig
    from sentry.vfs.mount_tree import build_mount_tree

    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "f").write_bytes(b"bound")
    cfg = BootConfig(argv=["/x"], env=[], root_path=lower,
                     mounts=[MountSpec("/mnt/rw", "bind", str(bind)), MountSpec("/dev", "dev")])
    pid, sock = spawn([(lower, True), (str(bind), False)])
    client = GoferClient(sock)
    client.version()
    k = FakeKernel()
    vfs = build_mount_tree(cfg, client, k)
    k.vfs = vfs
    yield vfs, make_task(k, vfs), str(bind)
    sock.close()
    os.waitpid(pid, 0)


def test_real_gofer_roundtrip(real, lower):
    vfs, t, bind = real
    d = vfs.open_at(t, abi.AT_FDCWD, b"/usr/lib/libc.so", abi.O_RDONLY, 0)
    assert d.host_fd is not None and d.read(t, 8) == b"libclibc"
    assert d.stat(t).ino == os.stat(os.path.join(lower, "usr/lib/libc.so")).st_ino
    w = vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/new", abi.O_WRONLY | abi.O_CREAT, 0o644)
    w.write(t, b"hello")
    w.decref()
    with open(os.path.join(bind, "new"), "rb") as f:
        assert f.read() == b"hello"
    vfs.mkdir_at(t, abi.AT_FDCWD, b"/etc/newdir", 0o755)
    assert not os.path.exists(os.path.join(lower, "etc/newdir"))
    dd = vfs.open_at(t, abi.AT_FDCWD, b"/etc", abi.O_RDONLY | abi.O_DIRECTORY, 0)
    assert {n for _, _, n in dd.getdents(t)} >= {b"passwd", b"newdir"}


def test_a_shared_mount_walks_as_before(real):
    """A file system others may change (a rw bind mount: shared) lists nothing along a
    walk and sends no open with a walk: its lookups ask as before, name by name."""
    vfs, t, bind = real
    os.makedirs(os.path.join(bind, "x", "y"))
    with open(os.path.join(bind, "x", "y", "f"), "wb") as f:
        f.write(b"shared")
    inode = vfs.resolve(t, abi.AT_FDCWD, b"/mnt/rw").dentry.inode
    assert not inode.fs.trusted
    client = inode.client

    def refused(*args):
        raise AssertionError("not on a shared file system")

    client.listing_along = client.walk_and_open_siblings = refused
    try:
        d = vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/x/y/f", abi.O_RDONLY, 0)
        try:
            assert d.read(t, 100) == b"shared"
        finally:
            d.decref()
        st = vfs.resolve(t, abi.AT_FDCWD, b"/mnt/rw/x/y/f").dentry.inode.stat()
        assert st.ino == os.stat(os.path.join(bind, "x", "y", "f")).st_ino
    finally:
        del client.listing_along, client.walk_and_open_siblings


class _Requests:
    """A GoferClient that counts the walks and listings asked of it."""

    def __init__(self, client):
        self._c = client
        self.walks = []
        self.listings = []
        self.walk_opens = []
        self.walkopens = []
        self.opens = []
        self.xattr_lists = []
        self.listing_fetches = []
        self.alongs = []  # (names, along, directories listed)
        self.walks_and_opens = []  # (via, name) walked and opened in one round trip

    def __getattr__(self, name):
        return getattr(self._c, name)

    def listxattr(self, h, names=None):
        self.xattr_lists.append(("one", names))
        return self._c.listxattr(h, names)

    def listxattrs(self, h, names):
        self.xattr_lists.append(("chain", names))
        return self._c.listxattrs(h, names)

    def walk(self, h, names):
        self.walks.append(names)
        return self._c.walk(h, names)

    def listing(self, h, names=None):
        self.listings.append(names)
        return self._c.listing(h, names)

    def listing_along(self, h, names, along):
        got = self._c.listing_along(h, names, along)
        self.alongs.append((names, along, len(got)))
        # (each directory listed, as if listed on its own)
        self.listings.extend([*names, *along[:i]] for i in range(len(got)))
        return got

    def listing_fetch(self, h, names, name):
        self.listing_fetches.append((names, name))
        return self._c.listing_fetch(h, names, name)

    def walk_and_open_siblings(self, h, via, name, flags):
        # (both logged as the two requests they are; sent together: one round trip)
        self.walks.append(list(via))
        self.walk_opens.append(name)
        self.walks_and_opens.append((list(via), name))
        return self._c.walk_and_open_siblings(h, via, name, flags)

    def walk_or_open(self, h, name, flags, via=()):
        self.walk_opens.append(name if not via else [*via, name])
        return self._c.walk_or_open(h, name, flags, via)

    def walk_or_open_siblings(self, h, name, flags, via=()):
        self.walk_opens.append(name if not via else [*via, name])
        return self._c.walk_or_open_siblings(h, name, flags, via)

    def walkopen(self, h, names, flags):
        self.walkopens.append(names)
        return self._c.walkopen(h, names, flags)

    def open(self, h, flags):
        self.opens.append(flags)
        return self._c.open(h, flags)


@pytest.fixture
def counted(lower):
    """A function that starts a gofer over *lower* (once the test made its tree there) and
    returns the mount tree over it, a task and the counting client; all stopped after."""
    from gofer.client import GoferClient
    from gofer.server import spawn
    from sentry.config import BootConfig
    from sentry.vfs.mount_tree import build_mount_tree

    started = []

    def start():
        pid, sock = spawn([(lower, True)])
        started.append((pid, sock))
        client = _Requests(GoferClient(sock))
        client.version()
        k = FakeKernel()
        vfs = build_mount_tree(BootConfig(argv=["/x"], env=[], root_path=lower, mounts=[]),
                               client, k)
        k.vfs = vfs
        return vfs, make_task(k, vfs), client

    yield start
    for pid, sock in started:
        sock.close()
        os.waitpid(pid, 0)


def _subdirs(path: str, n: int) -> None:
    """*n* empty subdirectories d000, d001, ... of *path* (made too): a directory the
    sentry walks for its first lookups rather than listing it (SUBDIRS_PER_BLOCK)."""
    for i in range(n):
        os.makedirs(os.path.join(path, f"d{i:03d}"))


def test_a_directory_of_many_subdirectories_is_walked_before_listed(lower, counted):
    """A directory with few entries is listed at the first lookup that misses; one with
    many subdirectories (/etc, /usr/share/locale: one 4 KiB block on ext4 for all that)
    only after LIST_AFTER_LOOKUPS_PER_BLOCK lookups per 32 of them, walked until then;
    its entries are the same either way."""
    from gofer.protocol import SUBDIRS_PER_BLOCK
    from sentry.fsimpl.gofer.filesystem import LIST_AFTER_LOOKUPS_PER_BLOCK

    few = os.path.join(lower, "few")
    wide = os.path.join(lower, "wide")
    os.mkdir(few)
    for i in range(3):
        with open(os.path.join(few, f"f{i}"), "wb") as f:
            f.write(b"%d" % i)
    ndirs = 2 * SUBDIRS_PER_BLOCK + 6
    _subdirs(wide, ndirs)
    vfs, t, client = counted()
    vfs.resolve(t, abi.AT_FDCWD, b"/wide")  # the root's listing
    client.walks.clear()
    client.listings.clear()
    assert vfs.resolve(t, abi.AT_FDCWD, b"/few/f1").dentry.inode.stat().size == 1
    assert client.listings == [[b"few"]] and client.walks == []
    with pytest.raises(LinuxError):
        vfs.resolve(t, abi.AT_FDCWD, b"/few/absent")
    assert client.listings == [[b"few"]] and client.walks == []
    client.listings.clear()
    lookups = LIST_AFTER_LOOKUPS_PER_BLOCK * 2  # 2 blocks of subdirectories
    for i in range(lookups - 1):
        st = vfs.resolve(t, abi.AT_FDCWD, b"/wide/d%03d" % i).dentry.inode.stat()
        assert st.ino == os.stat(os.path.join(wide, f"d{i:03d}")).st_ino
    assert client.listings == []
    # (the first from the root's handle through /wide, which came in the root's listing
    # without one, in the same request: /wide adopts the handle it brought)
    assert client.walks == [[b"wide", b"d000"]] + [[b"d%03d" % i] for i in range(1, lookups - 1)]
    client.walks.clear()
    last = b"/wide/d%03d" % (ndirs - 1)
    assert vfs.resolve(t, abi.AT_FDCWD, last).dentry.inode.stat().ino == \
        os.stat(os.path.join(lower, last.decode()[1:])).st_ino
    assert len(client.listings) == 1 and client.walks == []  # (from /wide's handle)
    with pytest.raises(LinuxError):
        vfs.resolve(t, abi.AT_FDCWD, b"/wide/absent")
    assert client.walks == []


def test_a_name_looked_up_to_be_opened_is_walked_and_opened_in_one_request(lower, counted):
    """An open whose last name is not cached (in a directory walked, not listed) walks
    to it and opens it in one request when it is a regular file everyone may read, and
    the description reads the file; a symlink, a directory, a FIFO, a file only its
    owner may read and a name that is not there are answered by the same request as a
    walk would (no second walk for them), and what they name opens as before.  Opens
    that write or create, or ask for a directory, look the name up as before (a walk,
    then an open or a copy-up)."""
    from gofer.protocol import SUBDIRS_PER_BLOCK

    wide = os.path.join(lower, "wide")
    _subdirs(wide, 4 * SUBDIRS_PER_BLOCK)  # walked, not listed, for its first 16 lookups
    for name in ("a", "b", "c", "w"):
        with open(os.path.join(wide, name), "wb") as f:
            f.write(b"file " + name.encode())
    os.symlink("b", os.path.join(wide, "link"))
    os.mkfifo(os.path.join(wide, "fifo"))
    with open(os.path.join(wide, "private"), "wb") as f:
        f.write(b"mine")
    os.chmod(os.path.join(wide, "private"), 0o600)
    vfs, t, client = counted()
    vfs.resolve(t, abi.AT_FDCWD, b"/wide/d000")  # (/wide's handle)
    client.listings.clear()  # (the root's)

    def opened(path, flags=abi.O_RDONLY):
        client.walks.clear()
        client.walk_opens.clear()
        client.walkopens.clear()
        client.opens.clear()
        return vfs.open_at(t, abi.AT_FDCWD, path, flags, 0)

    d = opened(b"/wide/a", abi.O_RDONLY | abi.O_CLOEXEC | abi.O_NOFOLLOW)
    assert d.read(t, 100) == b"file a"
    assert client.walk_opens == [b"a"] and client.walks == [] and client.opens == []
    d = opened(b"/wide/link")  # the link walked, its target (a sibling) opened with it
    assert d.read(t, 100) == b"file b"
    assert client.walk_opens == [b"link"] and client.walks == [] and client.opens == []
    d = opened(b"/wide/d001")  # a directory opened without O_DIRECTORY
    assert d.inode.is_dir and d.inode.lower._pending_fd is None  # (no fd kept for it)
    assert client.walk_opens == [b"d001"] and client.walks == [] and client.opens == []
    # A file not everyone may read: walked, then opened once the opener was let.
    d = opened(b"/wide/private")
    assert d.read(t, 100) == b"mine"
    assert client.walk_opens == [b"private"] and client.walks == [] \
        and client.opens == [abi.O_RDONLY]
    d = opened(b"/wide/fifo", abi.O_RDONLY | abi.O_NONBLOCK)
    assert stat.S_ISFIFO(d.inode.mode)
    assert client.walk_opens == [b"fifo"] and client.walks == [] and client.opens == []
    with pytest.raises(LinuxError) as e:
        opened(b"/wide/absent")
    assert e.value.errno == errno.ENOENT
    assert client.walk_opens == [b"absent"] and client.walks == []
    # A name cached already is opened in one request too: a regular file of this trusted
    # file system gave its handle back once opened, and is walked to from its directory.
    assert opened(b"/wide/a").read(t, 100) == b"file a"
    assert client.walk_opens == [] and client.walks == [] and client.opens == []
    assert client.walkopens == [[b"a"]]
    # So is the file only its owner may read, opened by the handle its lookup walked to.
    assert opened(b"/wide/private").read(t, 100) == b"mine"
    assert client.walk_opens == [] and client.walks == [] and client.opens == []
    assert client.walkopens == [[b"private"]]
    # Not for an open that asks for a directory, nor one that writes.
    opened(b"/wide/d002", abi.O_RDONLY | abi.O_DIRECTORY)
    assert client.walk_opens == [] and client.walks == [[b"d002"]] and client.walkopens == []
    opened(b"/wide/c", abi.O_RDONLY | abi.O_TRUNC)
    assert client.walk_opens == [] and client.walks == [[b"c"]] and client.walkopens == []
    opened(b"/wide/w", abi.O_WRONLY)
    assert client.walk_opens == [] and client.walks == [[b"w"]] and client.walkopens == []
    with open(os.path.join(wide, "w"), "rb") as f:
        assert f.read() == b"file w"  # (copied up, the lower file untouched)
    assert client.listings == []  # (4 blocks of subdirectories: walked all along)


def test_an_open_in_a_directory_about_to_be_listed_fetches_the_file_with_the_listing(
        lower, counted):
    """The first lookup in a small directory lists it; when that lookup is an open's last
    name (read-only), the file's fd is asked for in the same round trip (a Tfetch after
    the Treaddirstat) and the open takes it: no walk, no open request.  A name the
    fetch does not open (a symlink, a directory, a file only its owner may read, a
    missing name) is looked up in the listing and opened as before; the listing is kept
    either way.  (Each directory below a parent of its own: three small leaves listed
    below one parent would fetch their siblings' listings ahead.)"""
    for d in ("p1", "p2", "p3", "p4", "p5"):
        os.makedirs(os.path.join(lower, d, "s"))
        for name in ("a", "b"):
            with open(os.path.join(lower, d, "s", name), "wb") as f:
                f.write(f"{d} {name}".encode())
    os.symlink("b", os.path.join(lower, "p2", "s", "link"))
    with open(os.path.join(lower, "p3", "s", "private"), "wb") as f:
        f.write(b"mine")
    os.chmod(os.path.join(lower, "p3", "s", "private"), 0o600)
    os.mkdir(os.path.join(lower, "p5", "s", "sub"))
    vfs, t, client = counted()

    def opened(path):
        for log in (client.walks, client.walk_opens, client.walkopens, client.opens,
                    client.listings, client.listing_fetches):
            log.clear()
        return vfs.open_at(t, abi.AT_FDCWD, path, abi.O_RDONLY, 0)

    d = opened(b"/p1/s/a")
    assert d.read(t, 100) == b"p1 a"
    assert client.listing_fetches == [([b"p1", b"s"], b"a")]
    assert (client.walks, client.walk_opens, client.walkopens, client.opens) == ([], [], [], [])
    d = opened(b"/p1/s/b")  # listed now: walked and opened from the nearest handle
    assert d.read(t, 100) == b"p1 b" and client.listing_fetches == [] \
        and client.walkopens == [[b"p1", b"s", b"b"]]
    d = opened(b"/p2/s/link")  # no fetch through a symlink: its target opened as before
    assert d.read(t, 100) == b"p2 b"
    assert client.listing_fetches == [([b"p2", b"s"], b"link")]
    assert client.walkopens == [[b"p2", b"s", b"b"]]
    d = opened(b"/p3/s/private")  # not everyone's: checked, then opened as before
    assert d.read(t, 100) == b"mine"
    assert client.listing_fetches == [([b"p3", b"s"], b"private")]
    assert client.walkopens == [[b"p3", b"s", b"private"]]
    with pytest.raises(LinuxError) as e:
        opened(b"/p4/s/missing")
    assert e.value.errno == errno.ENOENT
    assert client.listing_fetches == [([b"p4", b"s"], b"missing")]
    d = opened(b"/p4/s/a")  # (the listing was kept)
    assert d.read(t, 100) == b"p4 a" and client.listing_fetches == [] and client.listings == []
    d = opened(b"/p5/s/sub")  # a directory opened without O_DIRECTORY
    assert d.inode.is_dir and d.inode.lower._pending_fd is None
    assert client.listing_fetches == [([b"p5", b"s"], b"sub")]


def test_a_lookup_in_a_directory_without_a_handle_walks_from_the_one_above(lower, counted):
    """A directory that came in its parent's listing has no gofer handle; a lookup in it
    that walks (it is not listed: many subdirectories) walks from the nearest handle above
    through its names in the same request.  A plain lookup (Twalk): the directories on
    the way adopt the handles it brought, so the next lookup walks from there; a missing
    name is remembered.  An open's lookup (Twalkopen: only the file gets a handle) only
    from the parent's handle, else behind a walk that gives the directories on the way
    their handles, sent before either reply is read (one round trip)."""
    from gofer.protocol import SUBDIRS_PER_BLOCK

    for d in ("wide", "top/wide", "top/wide2", "deep/er/wide"):
        _subdirs(os.path.join(lower, d), 4 * SUBDIRS_PER_BLOCK)  # walked, not listed
        with open(os.path.join(lower, d, "a"), "wb") as f:
            f.write(b"file a")
    vfs, t, client = counted()

    def looked_up(path, opening=False):
        for log in (client.walks, client.walk_opens, client.walkopens, client.opens):
            log.clear()
        if opening:
            d = vfs.open_at(t, abi.AT_FDCWD, path, abi.O_RDONLY, 0)
            assert d.read(t, 100) == b"file a"
            return
        if path.endswith(b"/absent"):
            for _ in range(2):  # (the second time remembered: no request)
                with pytest.raises(LinuxError) as e:
                    vfs.resolve(t, abi.AT_FDCWD, path)
                assert e.value.errno == errno.ENOENT
            return
        st = vfs.resolve(t, abi.AT_FDCWD, path).dentry.inode.stat()
        assert st.ino == os.stat(os.path.join(lower, path.decode()[1:])).st_ino

    dirs = {d: vfs.resolve(t, abi.AT_FDCWD, d).dentry.inode.lower
            for d in (b"/wide", b"/top/wide", b"/top/wide2", b"/deep/er/wide")}
    assert all(i.handle is None for i in dirs.values())  # (from their parents' listings)
    client.listings.clear()
    looked_up(b"/top/wide2/d001")  # from the root's handle: /top and /top/wide2 adopt
    assert client.walks == [[b"top", b"wide2", b"d001"]] and dirs[b"/top/wide2"].handle
    looked_up(b"/top/wide2/absent")
    assert client.walks == [[b"absent"]]
    looked_up(b"/top/wide/absent")  # the walk stopped at the directory: still adopted
    assert client.walks == [[b"wide", b"absent"]] and dirs[b"/top/wide"].handle
    looked_up(b"/wide/a", opening=True)  # from the root's handle
    assert client.walk_opens == [[b"wide", b"a"]] and client.walks == []
    assert client.walkopens == [] and client.opens == [] and dirs[b"/wide"].handle is None
    client.walks_and_opens.clear()
    looked_up(b"/deep/er/wide/a", opening=True)  # three names up: a walk for its own too
    assert client.walks == [[b"deep", b"er", b"wide"]] and client.walk_opens == [b"a"]
    assert client.walks_and_opens == [([b"deep", b"er", b"wide"], b"a")]
    assert dirs[b"/deep/er/wide"].handle is not None
    looked_up(b"/deep/er/wide/a", opening=True)  # (cached: no lookup)
    assert client.walks == [] and client.walk_opens == []
    assert client.listings == []  # (the directories are walked: many subdirectories)


def test_a_symlink_to_a_sibling_comes_with_what_it_names(lower, counted):
    """An open whose last name is a symlink to a sibling (its target one name: a
    library's soname link, gcc -> gcc-12 -> x86_64-linux-gnu-gcc-12) in a directory that
    is walked gets what the links name in the same request, and the lookups that follow
    the links take it: one request for the whole chain.  A link whose target has a slash,
    a dangling one and one to a directory open or fail as before; what a walk brought
    that no lookup took (the open was O_NOFOLLOW) is given back at the next lookup
    there: the gofer holds no fd for it."""
    from gofer.protocol import SUBDIRS_PER_BLOCK

    wide = os.path.join(lower, "wide")
    _subdirs(wide, 4 * SUBDIRS_PER_BLOCK)  # walked, not listed
    for name in ("real", "real2"):
        with open(os.path.join(wide, name), "wb") as f:
            f.write(b"the file")
    for link, target in (("l3", "l2"), ("l2", "l1"), ("l1", "real"), ("up", "../wide/real"),
                         ("dangling", "missing"), ("todir", "d000"),
                         ("far", "f4"), ("f4", "f3"), ("f3", "f2"), ("f2", "f1"),
                         ("f1", "f0"), ("f0", "real"), ("loop", "loop"),
                         ("n2", "n1"), ("n1", "real2")):
        os.symlink(target, os.path.join(wide, link))
    vfs, t, client = counted()
    wide_inode = vfs.resolve(t, abi.AT_FDCWD, b"/wide/d001").dentry.parent.inode.lower

    def opened(path, flags=abi.O_RDONLY):
        for log in (client.walks, client.walk_opens, client.walkopens, client.opens,
                    client.listings):
            log.clear()
        return vfs.open_at(t, abi.AT_FDCWD, path, flags, 0)

    d = opened(b"/wide/l3")
    assert d.read(t, 100) == b"the file"
    assert client.walk_opens == [b"l3"] and client.walks == [] and client.walkopens == []
    assert client.opens == []
    d = opened(b"/wide/up")  # a slash in the target: looked up by the link walk
    assert d.read(t, 100) == b"the file"
    assert client.walk_opens == [b"up"] and client.walkopens == [[b"real"]]
    with pytest.raises(LinuxError) as e:
        opened(b"/wide/dangling")
    assert e.value.errno == errno.ENOENT
    assert client.walk_opens == [b"dangling", b"missing"]  # (the gofer's ENOENT ended it)
    d = opened(b"/wide/todir")
    assert d.inode.is_dir and client.walk_opens == [b"todir"] and client.walks == []
    d = opened(b"/wide/far")  # past SIBLING_HOPS links: the rest as before
    assert d.read(t, 100) == b"the file"
    assert client.walk_opens == [b"far", b"f0"]
    with pytest.raises(LinuxError) as e:
        opened(b"/wide/loop")
    assert e.value.errno == errno.ELOOP
    with pytest.raises(LinuxError) as e:  # brought its targets, then did not follow them
        opened(b"/wide/n2", abi.O_RDONLY | abi.O_NOFOLLOW)
    assert e.value.errno == errno.ELOOP and client.walk_opens == [b"n2"]
    hops = dict(wide_inode._hops)
    assert set(hops) == {b"n1", b"real2"} and hops[b"real2"][2] >= 0  # (opened: its fd)
    released = len(wide_inode.fs._released)
    vfs.resolve(t, abi.AT_FDCWD, b"/wide/d002")  # another name: given back
    assert wide_inode._hops is None
    assert wide_inode.fs._released[released:] == [hops[b"n1"][0], hops[b"real2"][0]]
    with pytest.raises(OSError):
        os.fstat(hops[b"real2"][2])  # (closed)


def test_a_trusted_directory_remembers_names_it_has_not_got(lower, counted, monkeypatch):
    """A name walked to and not found in a trusted directory that is not listed is not
    asked for again (ld.so's /etc/ld.so.preload at every start), nor opened; up to
    ABSENT_MAX names, past which the gofer is asked each time; a listing made later
    answers as before."""
    from sentry.fsimpl.gofer import filesystem
    from gofer.protocol import SUBDIRS_PER_BLOCK

    monkeypatch.setattr(filesystem, "ABSENT_MAX", 5)
    wide = os.path.join(lower, "wide")
    _subdirs(wide, 8 * SUBDIRS_PER_BLOCK)  # walked, not listed, for its first 32 lookups
    vfs, t, client = counted()
    vfs.resolve(t, abi.AT_FDCWD, b"/wide/d000")  # (/wide's handle)
    client.walks.clear()
    client.walk_opens.clear()
    for _ in range(3):
        for path in (b"/wide/ld.so.preload", b"/wide/absent"):
            with pytest.raises(LinuxError) as e:
                vfs.open_at(t, abi.AT_FDCWD, path, abi.O_RDONLY, 0)
            assert e.value.errno == errno.ENOENT
            with pytest.raises(LinuxError) as e:
                vfs.resolve(t, abi.AT_FDCWD, path)
            assert e.value.errno == errno.ENOENT
    assert client.walk_opens == [b"ld.so.preload", b"absent"] and client.walks == []
    for i in range(filesystem.ABSENT_MAX - 2):
        with pytest.raises(LinuxError):
            vfs.resolve(t, abi.AT_FDCWD, b"/wide/x%d" % i)
    client.walks.clear()
    for _ in range(2):
        with pytest.raises(LinuxError):
            vfs.resolve(t, abi.AT_FDCWD, b"/wide/one-too-many")
    assert client.walks == [[b"one-too-many"]] * 2
    assert client.listings == [[]]  # (the root's)


def test_the_names_remembered_not_there_are_bounded_per_file_system(lower, counted,
                                                                   monkeypatch):
    """The workload chooses the names: all of a file system's directories remember at
    most ABSENT_TOTAL of them; a directory listed since gives its share back."""
    from sentry.fsimpl.gofer import filesystem
    from gofer.protocol import SUBDIRS_PER_BLOCK

    monkeypatch.setattr(filesystem, "ABSENT_TOTAL", 2)
    for top in ("a", "b"):
        _subdirs(os.path.join(lower, top), 8 * SUBDIRS_PER_BLOCK)
    vfs, t, client = counted()
    for top in (b"/a", b"/b"):
        vfs.resolve(t, abi.AT_FDCWD, top + b"/d000")  # (their handles)

    def misses(path):
        client.walks.clear()
        client.walk_opens.clear()
        for _ in range(2):
            with pytest.raises(LinuxError):
                vfs.resolve(t, abi.AT_FDCWD, path)
        return len(client.walks)

    assert [misses(b"/a/x"), misses(b"/a/y"), misses(b"/a/z"), misses(b"/b/x")] == [1, 1, 2, 2]
    d = vfs.open_at(t, abi.AT_FDCWD, b"/a", abi.O_RDONLY | abi.O_DIRECTORY, 0)
    assert len(d.getdents(t)) == 8 * SUBDIRS_PER_BLOCK + 2  # /a listed: its two given back
    assert [misses(b"/b/y"), misses(b"/b/z"), misses(b"/b/w")] == [1, 1, 2]


def test_a_shared_directory_forgets_names_it_has_not_got(real):
    """A rw bind mount (shared: others may change it) asks the gofer at every lookup: a
    file made on the host after a lookup missed is found."""
    vfs, t, bind = real
    with pytest.raises(LinuxError):
        vfs.resolve(t, abi.AT_FDCWD, b"/mnt/rw/later")
    with open(os.path.join(bind, "later"), "wb") as f:
        f.write(b"now")
    d = vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/later", abi.O_RDONLY, 0)
    assert d.read(t, 10) == b"now"


def test_out_of_fds_mknod_is_enomem_and_an_open_enfile(real, monkeypatch):
    """The gofer (or the sentry) out of fds even after the cached dentries went: a
    creating open fails with ENFILE, as Linux's do when the system's file table is full;
    mknod(2) of a regular file, which the gofer makes with the same Tcreate, with ENOMEM
    (it opens nothing, and ENFILE is none of its errors).  (That the gofer removes a file
    whose fd could not be sent is test_gofer_ops'.)"""
    from sentry.fsimpl.gofer import filesystem as gofer_fs

    vfs, t, bind = real
    client = vfs.resolve(t, abi.AT_FDCWD, b"/mnt/rw").mount.fs.client

    def create(*args, **kw):  # (gofer_call picks the errno by the method's name)
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(client, "create", create)
    # Nothing to free: the errno comes at once (the reclaim would also visit file systems
    # other tests left for the collector, whose fake clients have no close_many).
    monkeypatch.setattr(gofer_fs.vfs_inode, "reclaim_dentries", lambda: 0)
    with pytest.raises(LinuxError) as e:
        vfs.open_at(t, abi.AT_FDCWD, b"/mnt/rw/new", abi.O_WRONLY | abi.O_CREAT, 0o644)
    assert e.value.errno == errno.ENFILE
    with pytest.raises(LinuxError) as e:
        vfs.mknod_at(t, abi.AT_FDCWD, b"/mnt/rw/node", stat.S_IFREG | 0o644, 0)
    assert e.value.errno == errno.ENOMEM


def test_a_walk_below_a_large_directory_picks_its_subdirectories_out_once(lower, counted,
                                                                         monkeypatch):
    """Each subdirectory a walk lists by a request of its own (its listing was not fetched
    ahead: here every fetch fails) goes through the parent's entries for the ones left to
    fetch: picked out of the listing once, not gone through again at every listing (a
    find of /usr/share/doc went through its 913 entries ~700 times)."""
    import gofer.protocol as P
    from sentry.fsimpl.gofer.filesystem import PREFETCH_AFTER

    top = os.path.join(lower, "top")
    for i in range(20):
        os.makedirs(os.path.join(top, f"d{i:02d}"))
        with open(os.path.join(top, f"f{i:02d}"), "wb"):
            pass
    vfs, t, client = counted()
    tree_asks = []

    def no_fetch(h, names, subdirs, budget):
        tree_asks.append(list(subdirs))
        raise OSError(5, "no fetch ahead here")

    client.readtree_start = no_fetch

    def listdir(path):
        d = vfs.open_at(t, abi.AT_FDCWD, path, abi.O_RDONLY | abi.O_DIRECTORY, 0)
        try:
            return sorted(n for _, _, n in d.getdents(t) if n not in (b".", b".."))
        finally:
            d.decref()

    assert len(listdir(b"/top")) == 40
    decoded = []
    real_subdirs = P.Listing.subdirs

    def counted_subdirs(self):
        decoded.append(len(self))
        return real_subdirs(self)

    monkeypatch.setattr(P.Listing, "subdirs", counted_subdirs)
    for i in range(20):
        assert listdir(b"/top/d%02d" % i) == []
    # every PREFETCH_AFTER listings, the rest was asked for ahead (and not fetched)
    assert [set(a) for a in tree_asks] == [
        {b"d%02d" % j for j in range(i + 1, 20)}
        for i in range(PREFETCH_AFTER - 1, 19, PREFETCH_AFTER)]
    assert decoded.count(40) == 1  # /top's listing, picked out once


class _RecordedWalk:
    """A gofer's mount tree over *lower* (``counted``) whose Treadtree requests are
    recorded (``trees``: names, subdirs, the fetch), walked in os.walk's order."""

    def __init__(self, lower, counted):
        self.lower = lower
        self.vfs, self.t, self.client = counted()
        self.trees = []
        real_start = self.client._c.readtree_start

        def readtree_start(h, names, subdirs, budget):
            fetch = real_start(h, names, subdirs, budget)
            self.trees.append((list(names), list(subdirs), fetch))
            return fetch

        self.client.readtree_start = readtree_start

    def listdir(self, path):
        d = self.vfs.open_at(self.t, abi.AT_FDCWD, path, abi.O_RDONLY | abi.O_DIRECTORY, 0)
        try:
            return [(n, dt) for _, dt, n in d.getdents(self.t) if n not in (b".", b"..")]
        finally:
            d.decref()

    def walk(self, name):
        """Walk /*name* (a directory, then each subdirectory in turn), check it saw what
        os.walk sees, and return /*name*'s entries in listing order and the one fetch
        asked for its subdirectories."""
        order = [n for n, _ in self.listdir(b"/" + name)]
        seen = []

        def visit(path):
            entries = self.listdir(path)
            seen.append((path, sorted(n for n, _ in entries)))
            for n, dt in entries:
                if dt == abi.DT_DIR:
                    visit(path + b"/" + n)

        visit(b"/" + name)
        native = [(os.fsencode("/" + os.path.relpath(p, self.lower)),
                   sorted(os.fsencode(n) for n in ds + fs))
                  for p, ds, fs in os.walk(os.path.join(self.lower, os.fsdecode(name)))]
        assert sorted(seen) == sorted(native)
        asked = [(subdirs, fetch) for names, subdirs, fetch in self.trees if names == [name]]
        assert len(asked) == 1, self.trees
        assert asked[0][1].error is None
        return order, asked[0][0], asked[0][1]


def test_a_walk_fetches_below_the_directory_it_is_in_first(lower, counted):
    """A walk that reads the PREFETCH_AFTER-th subdirectory of a directory by a request of
    its own goes below that one next: the fetch ahead of its siblings starts with it (its
    own listing again, dropped as it comes), so its subdirectories' listings come at the
    head of the reply rather than after every sibling's (each own request waited for the
    whole reply: os.walk of a 50,000-file tree stood 17 to 70 ms at each such fetch).  A
    subdirectory with no subdirectories is not listed again."""
    from sentry.fsimpl.gofer.filesystem import PREFETCH_AFTER

    for i in range(6):
        for j in range(4):
            os.makedirs(os.path.join(lower, "top", f"d{i}", f"s{j}"))
            with open(os.path.join(lower, "top", f"d{i}", f"s{j}", "f"), "wb") as f:
                f.write(b"%d.%d" % (i, j))
        os.makedirs(os.path.join(lower, "flat", f"d{i}"))
    w = _RecordedWalk(lower, counted)
    order, subdirs, fetch = w.walk(b"top")
    own = order[:PREFETCH_AFTER]  # listed by requests of their own
    # the walk was in the last of them: the reply starts with its subdirectories
    assert subdirs == [own[-1], *order[PREFETCH_AFTER:]]
    assert (own[-1],) not in fetch.arrived and (own[-1],) not in fetch.results
    assert fetch.arrived[0][0] == own[-1] and len(fetch.arrived[0]) == 2
    assert not [n for n in w.client.listings if n[:2] == [b"top", own[-1]] and len(n) > 2]
    order, subdirs, fetch = w.walk(b"flat")
    assert subdirs == order[PREFETCH_AFTER:]  # leaves: nothing below the last to fetch


def test_a_walk_below_a_fetch_that_ran_out_asks_only_what_did_not_come(lower, counted,
                                                                      monkeypatch):
    """The fetch that starts below the directory the walk is in may run out of its budget
    inside it: the fetch that directory then asks for its own subdirectories leaves out
    those whose listings came in its parent's reply (they were walked already); and a
    directory too large to list again for little of the budget is not (budgets made
    small here: 40 entries, then 80)."""
    import sentry.fsimpl.gofer.filesystem as gfs

    monkeypatch.setattr(gfs, "PREFETCH_BUDGET", 40)
    monkeypatch.setattr(gfs, "PREFETCH_BUDGET_MAX", 80)
    for i in range(4):
        for j in range(10):
            os.makedirs(os.path.join(lower, "deep", f"d{i}", f"s{j}"))
            for k in range(10):
                with open(os.path.join(lower, "deep", f"d{i}", f"s{j}", f"f{k}"), "wb"):
                    pass
        os.makedirs(os.path.join(lower, "big", f"b{i}", "x"))
        for k in range(20):  # more than a quarter of the budget
            with open(os.path.join(lower, "big", f"b{i}", f"f{k}"), "wb"):
                pass
    w = _RecordedWalk(lower, counted)
    order, subdirs, fetch = w.walk(b"deep")
    own = order[:gfs.PREFETCH_AFTER]
    assert subdirs[0] == own[-1]
    assert fetch.arrived[0][0] == own[-1] and len(fetch.arrived[0]) == 2
    came = {k[1] for k in fetch.arrived if len(k) == 2 and k[0] == own[-1]}
    assert 0 < len(came) < 10  # the budget ran out inside it
    below = [s for n, s, _ in w.trees if n == [b"deep", own[-1]]]
    assert below, w.trees
    assert not set(below[0]) & came
    assert len(below[0]) == 10 - len(came) - gfs.PREFETCH_AFTER
    order, subdirs, fetch = w.walk(b"big")
    assert subdirs == order[gfs.PREFETCH_AFTER:]  # 21 entries each: not listed again


def _recorded_trees(client) -> list:
    """Each Treadtree *client* asks for from now on: (its subdirectories in order, budget)."""
    asked = []
    real_start = client._c.readtree_start

    def readtree_start(h, names, subdirs, budget):
        asked.append((list(subdirs), budget))
        return real_start(h, names, subdirs, budget)

    client.readtree_start = readtree_start
    return asked


def test_lookups_in_small_leaf_directories_fetch_their_small_leaf_siblings(lower, counted):
    """A file looked up in one small leaf directory after another (git status's stats)
    lists each; from the PREFETCH_AFTER-th on, the small leaf siblings not listed yet are
    fetched ahead in one request of LEAF_PREFETCH_BUDGET entries, and their files are then
    found without one; a sibling with subdirectories or of more than one block is not
    fetched, lookups listing those do not count, and neither does a program reading a
    sibling (nor the leaf listings towards a tree walk's fetch)."""
    from sentry.fsimpl.gofer.filesystem import LEAF_PREFETCH_BUDGET, PREFETCH_AFTER

    repo = os.path.join(lower, "repo")
    for i in range(8):
        os.makedirs(os.path.join(repo, f"d{i}"))
        for j in range(5):
            with open(os.path.join(repo, f"d{i}", f"f{j}"), "wb") as f:
                f.write(b"%d.%d" % (i, j))
    for name in ("tree", "read"):
        os.makedirs(os.path.join(repo, name, "below"))
        with open(os.path.join(repo, name, "f0"), "wb"):
            pass
    os.makedirs(os.path.join(repo, "big"))
    for j in range(400):  # past one block
        with open(os.path.join(repo, "big", f"a-long-file-name-{j:04d}"), "wb"):
            pass
    assert os.stat(os.path.join(repo, "big")).st_size > 4096
    if os.stat(repo).st_nlink != 2 + 11:
        pytest.skip("a file system whose link counts leave subdirectories out (btrfs)")
    vfs, t, client = counted()
    asked = _recorded_trees(client)
    vfs.resolve(t, abi.AT_FDCWD, b"/repo/tree")  # /repo's listing
    # lookups listing directories that are not small leaves count for nothing
    client.listings.clear()
    vfs.resolve(t, abi.AT_FDCWD, b"/repo/tree/f0")
    for j in range(64):  # until /repo/big is listed
        vfs.resolve(t, abi.AT_FDCWD, b"/repo/big/a-long-file-name-%04d" % j)
        if len(client.listings) == 2:
            break
    assert len(client.listings) == 2
    # nor does a program reading a sibling, for the leaves
    d = vfs.open_at(t, abi.AT_FDCWD, b"/repo/read", abi.O_RDONLY | abi.O_DIRECTORY, 0)
    try:
        assert {n for _, _, n in d.getdents(t)} >= {b"below", b"f0"}
    finally:
        d.decref()
    client.listings.clear()
    for i in range(PREFETCH_AFTER - 1):
        vfs.resolve(t, abi.AT_FDCWD, b"/repo/d%d/f1" % i)
    assert asked == []
    vfs.resolve(t, abi.AT_FDCWD, b"/repo/d%d/f1" % (PREFETCH_AFTER - 1))
    assert len(client.listings) == PREFETCH_AFTER
    fetched = [b"d%d" % i for i in range(PREFETCH_AFTER, 8)]  # (after the last listed)
    assert asked == [(fetched, LEAF_PREFETCH_BUDGET)]
    client.listings.clear()
    client.walks.clear()
    for i in range(8):
        for j in range(5):
            d = vfs.resolve(t, abi.AT_FDCWD, b"/repo/d%d/f%d" % (i, j))
            assert d.dentry.inode.stat().size == 3
    assert client.listings == [] and client.walks == []
    assert asked == [(fetched, LEAF_PREFETCH_BUDGET)]


def test_small_leaves_are_fetched_in_the_order_name_scans_want_them(lower, counted):
    """Lookups going through small leaf directories by name (git status's two threads,
    one from the start of its index, one from the middle): the fetch ahead brings the
    directories after each one listed so far in turn, those before the first last, so
    that neither scan waits for the other's listings to come first."""
    from sentry.fsimpl.gofer.filesystem import PREFETCH_AFTER, _scan_order

    assert _scan_order([b"b", b"e", b"c", b"a", b"g", b"h"], {b"d", b"f"}) == [
        b"e", b"g", b"h", b"a", b"b", b"c"]
    assert _scan_order([b"x", b"y"], set()) == [b"x", b"y"]
    assert _scan_order([b"a", b"a-b"], set()) == [b"a-b", b"a"]  # git's "a-b/" < "a/"
    repo = os.path.join(lower, "repo")
    for i in range(8):
        os.makedirs(os.path.join(repo, f"d{i}"))
        with open(os.path.join(repo, f"d{i}", "f"), "wb"):
            pass
    if os.stat(repo).st_nlink != 2 + 8:
        pytest.skip("a file system whose link counts leave subdirectories out (btrfs)")
    vfs, t, client = counted()
    asked = _recorded_trees(client)
    vfs.resolve(t, abi.AT_FDCWD, b"/repo/d0")  # /repo's listing
    assert PREFETCH_AFTER == 3
    for i in (0, 4, 5):
        vfs.resolve(t, abi.AT_FDCWD, b"/repo/d%d/f" % i)
    assert [subdirs for subdirs, _ in asked] == [[b"d1", b"d6", b"d2", b"d7", b"d3"]]
    client.listings.clear()
    for i in (1, 6, 2, 7, 3):
        vfs.resolve(t, abi.AT_FDCWD, b"/repo/d%d/f" % i)
    assert client.listings == []


def test_released_fds_kept_for_reopens_are_bounded(lower, counted, monkeypatch):
    """A released read-only description leaves its host fd on its inode for the next
    open (no request then), as long as the sentry keeps fewer than its budget
    (statcache.kept_fds_budget); past it the fd is closed, and an open takes its kept
    fd out of the count."""
    from sentry.fsimpl.gofer import filesystem as gfs

    for name in ("a", "b", "c"):
        with open(os.path.join(lower, name), "wb") as f:
            f.write(name.encode())
    vfs, t, client = counted()
    monkeypatch.setattr(gfs, "_kept", [0, 2])

    def opened(path):
        d = vfs.open_at(t, abi.AT_FDCWD, path, abi.O_RDONLY, 0)
        return d, d.inode.lower if hasattr(d.inode, "lower") else d.inode

    inodes = []
    for path in (b"/a", b"/b", b"/c"):
        d, inode = opened(path)
        inodes.append(inode)
        d.decref()  # released: its fd kept, if the budget allows
    assert [i._pending_fd is not None for i in inodes] == [True, True, False]
    assert gfs._kept[0] == 2
    client.walkopens.clear()
    d, inode = opened(b"/a")  # takes its kept fd: no request
    assert inode is inodes[0] and client.walkopens == [] and gfs._kept[0] == 1
    assert d.read(t, 10) == b"a"
    d2, _ = opened(b"/c")  # none kept: walked and opened
    assert client.walkopens == [[b"c"]] and d2.read(t, 10) == b"c"
    d.decref()  # a's fd kept again (b's is the other)
    d2.decref()  # c's closed: the budget is full
    assert gfs._kept[0] == 2
    assert [i._pending_fd is not None for i in inodes] == [True, True, False]


def test_a_paths_directories_copied_up_list_their_attributes_in_one_request(lower, counted):
    """A file made under lower directories copies each of them up with its attributes:
    their names are asked for in one request (Tlistxattrs, from the root) rather than one
    a directory, and kept (a trusted file's cannot change); the copies have them."""
    deep = os.path.join(lower, "deep", "a", "b", "c")
    os.makedirs(deep)
    os.makedirs(os.path.join(lower, "deep", "a", "other"))
    try:
        os.setxattr(os.path.join(lower, "deep", "a", "b"), "user.mark", b"on b")
    except OSError as e:
        pytest.skip(f"no user xattrs on the test's file system: {e}")
    vfs, t, client = counted()
    vfs.resolve(t, abi.AT_FDCWD, b"/deep/a/b/c")
    client.xattr_lists.clear()
    vfs.open_at(t, abi.AT_FDCWD, b"/deep/a/b/c/new", abi.O_CREAT | abi.O_WRONLY, 0o644).decref()
    assert client.xattr_lists == [("chain", [b"deep", b"a", b"b", b"c"])]
    b = vfs.resolve(t, abi.AT_FDCWD, b"/deep/a/b")
    assert b.dentry.inode.getxattr(t, b"user.mark") == b"on b"
    assert b.dentry.inode.listxattr(t) == [b"user.mark"]
    # a sibling directory copied up later, its parent copied already: its own list only
    client.xattr_lists.clear()
    vfs.open_at(t, abi.AT_FDCWD, b"/deep/a/other/new", abi.O_CREAT | abi.O_WRONLY,
                0o644).decref()
    assert [kind for kind, _ in client.xattr_lists] == ["one"], client.xattr_lists


def test_a_failed_list_of_a_paths_attributes_is_not_asked_again(lower, counted, monkeypatch):
    """When Tlistxattrs fails, each directory copied up asks Tlistxattr for its own names,
    and the copy-ups of the directories above do not ask Tlistxattrs again."""
    deep = os.path.join(lower, "fail", "a", "b")
    os.makedirs(deep)
    try:
        os.setxattr(os.path.join(lower, "fail", "a"), "user.mark", b"on a")
    except OSError as e:
        pytest.skip(f"no user xattrs on the test's file system: {e}")
    vfs, t, client = counted()

    def refused(h, names):
        client.xattr_lists.append(("chain", names))
        raise OSError(errno.E2BIG, "refused by the test")

    monkeypatch.setattr(client, "listxattrs", refused)
    vfs.resolve(t, abi.AT_FDCWD, b"/fail/a/b")
    client.xattr_lists.clear()
    vfs.open_at(t, abi.AT_FDCWD, b"/fail/a/b/new", abi.O_CREAT | abi.O_WRONLY, 0o644).decref()
    kinds = [kind for kind, _ in client.xattr_lists]
    assert kinds == ["chain", "one", "one", "one"], client.xattr_lists
    a = vfs.resolve(t, abi.AT_FDCWD, b"/fail/a")
    assert a.dentry.inode.getxattr(t, b"user.mark") == b"on a"


def test_a_walk_through_small_directories_lists_them_in_one_request(lower, counted):
    """A lookup that lists a small directory for a walk going on below it lists the small
    directories the walk goes through in the same request (Tlistalong), but not its last
    name, nor, when that name is opened, the directory it is in (listed with the file's
    fetch: listing_fetch); the lookups below then make none.  It stops at a directory of
    more than one block, a symlink and a ``..``, each then looked up as before; what
    every walk finds is the host's file."""
    from gofer.protocol import SUBDIRS_PER_BLOCK

    deep = os.path.join(lower, "a", "b", "c", "d")
    os.makedirs(os.path.join(deep, "sub"))
    for d in (deep, os.path.join(lower, "a", "b")):
        with open(os.path.join(d, "file"), "wb") as f:
            f.write(b"in " + d.encode())
    os.symlink("b", os.path.join(lower, "a", "lnk"))
    _subdirs(os.path.join(lower, "w"), 2 * SUBDIRS_PER_BLOCK + 6)
    os.makedirs(os.path.join(lower, "w", "d000", "x", "y"))
    with open(os.path.join(lower, "w", "d000", "x", "y", "f"), "wb") as f:
        f.write(b"wide")
    os.makedirs(os.path.join(lower, "o", "p", "q"))
    with open(os.path.join(lower, "o", "p", "q", "file"), "wb") as f:
        f.write(b"dotdot")
    os.makedirs(os.path.join(lower, "r", "s", "u"))
    with open(os.path.join(lower, "r", "s", "u", "g"), "wb") as f:
        f.write(b"fetched")
    os.makedirs(os.path.join(lower, "m", "n"))
    os.makedirs(os.path.join(lower, "d1", "d2", "d3"))
    os.makedirs(os.path.join(lower, "k", "s1", "s2"))
    os.makedirs(os.path.join(lower, "k", "t1", "t2"))
    with open(os.path.join(lower, "d1", "d2", "d3", "f"), "wb") as f:
        f.write(b"dots")
    vfs, t, client = counted()

    def found(path):
        for log in (client.alongs, client.listings, client.walks, client.listing_fetches,
                    client.walk_opens, client.walkopens):
            log.clear()
        st = vfs.resolve(t, abi.AT_FDCWD, path).dentry.inode.stat()
        host = os.stat(os.path.join(lower, os.fsdecode(path).lstrip("/")))
        assert (st.ino, st.mode, st.size) == (host.st_ino, host.st_mode, host.st_size), path
        return client.alongs[:]

    assert found(b"/a/b/c/d/file") == [([], [b"a", b"b", b"c", b"d"], 5)]
    assert client.listings == [[], [b"a"], [b"a", b"b"], [b"a", b"b", b"c"],
                               [b"a", b"b", b"c", b"d"]]
    for path in (b"/a/b/c/d/sub", b"/a/b/file", b"/a/b/c/d"):
        assert found(path) == [] and client.listings == [] and client.walks == [], path
    assert found(b"/a/lnk/c/d/file") == []  # (all listed by now)
    with pytest.raises(LinuxError) as e:
        vfs.resolve(t, abi.AT_FDCWD, b"/a/b/c/d/missing")
    assert e.value.errno == errno.ENOENT and client.walks == []
    # a name too long after a missing one: the walk's ENOENT comes first, as Linux's
    for path, code in ((b"/m/n/missing/" + b"x" * 256 + b"/y", errno.ENOENT),
                       (b"/m/n/" + b"x" * 256 + b"/y", errno.ENAMETOOLONG)):
        with pytest.raises(LinuxError) as e:
            vfs.resolve(t, abi.AT_FDCWD, path)
        assert e.value.errno == code, path
    # a directory of many subdirectories ends the listings along; walked as before
    assert found(b"/w/d000/x/y/f") == [([], [b"x", b"y"], 3)]  # (from d000's handle)
    assert client.walks == [[b"w", b"d000"]]
    assert found(b"/w/d000/x/y/f") == [] and client.walks == []
    # '..' ends them, the name before it not listed (nothing is looked up in it); '.' is
    # passed over; the walk is the host's
    assert found(b"/o/p/../p/q/file") == [([b"o", b"p"], [b"q"], 2)]
    assert client.listings == [[b"o"], [b"o", b"p"], [b"o", b"p", b"q"]]
    assert found(b"/d1/./d2/./d3/f") == [([b"d1"], [b"d2", b"d3"], 3)]  # (/ was listed)
    # listings brought along for the next name are dropped by a lookup of another
    k = vfs.resolve(t, abi.AT_FDCWD, b"/k").dentry.inode.lower
    s1 = k.lookup_on(t, b"s1", [b"f", b"s2"], False)
    assert s1._listing is not None and s1._along is not None
    assert s1.lookup(t, b"other") is None and s1._along is None
    assert s1.lookup(t, b"s2")._listing is None
    # RESOLVE_CACHED: a name not cached is EAGAIN, with no request
    from sentry.vfs.vfs import RESOLVE_CACHED
    for log in (client.alongs, client.listings, client.walks, client.walks_and_opens):
        log.clear()
    res = vfs.resolve_flags(t, abi.AT_FDCWD, b"/k/t1/t2/f", RESOLVE_CACHED)
    with pytest.raises(LinuxError) as e:
        vfs.open_at(t, abi.AT_FDCWD, b"/k/t1/t2/f", abi.O_RDONLY, 0, res)
    assert e.value.errno == errno.EAGAIN
    assert (client.alongs, client.listings, client.walks, client.walks_and_opens) == \
        ([], [], [], [])
    # an open: the file's directory is listed with the fetch of the file, not along
    for log in (client.alongs, client.listings, client.listing_fetches, client.walkopens):
        log.clear()
    d = vfs.open_at(t, abi.AT_FDCWD, b"/r/s/u/g", abi.O_RDONLY, 0)
    try:
        assert d.read(t, 100) == b"fetched"
    finally:
        d.decref()
    assert client.alongs == [([b"r"], [b"s"], 2)]  # (/ was listed)
    assert client.listing_fetches == [([b"r", b"s", b"u"], b"g")]
    assert client.walkopens == []


def test_an_open_below_a_walked_directory_walks_and_opens_in_one_round_trip(lower, counted):
    """An open whose path's next-to-last name is walked to (its directory is not listed)
    sends the Twalkopen of the last name with that walk (walk_and_open_siblings), and
    the last name's lookup takes what it brought: one round trip, where the walk and
    then the open were two.  A symlink to a sibling comes with its target, a missing
    last name is answered without a request; a file on the way is looked up as
    before; what the lookup did not take is given back at the next lookup there."""
    from gofer.protocol import SUBDIRS_PER_BLOCK

    wide = os.path.join(lower, "wide")
    _subdirs(wide, 4 * SUBDIRS_PER_BLOCK)  # walked, not listed
    for d in ("d000", "d001", "d002", "d003", "d004"):
        with open(os.path.join(wide, d, "f"), "wb") as f:
            f.write(d.encode())
    os.chmod(os.path.join(wide, "d004"), 0o700)
    os.symlink("f", os.path.join(wide, "d001", "lnk"))
    with open(os.path.join(wide, "file"), "wb") as f:
        f.write(b"a file")
    vfs, t, client = counted()
    vfs.resolve(t, abi.AT_FDCWD, b"/wide/d009")  # (/wide's handle)

    def logs():
        return (client.walks, client.walk_opens, client.walkopens, client.opens,
                client.listings, client.listing_fetches, client.walks_and_opens)

    def opened(path):
        for log in logs():
            log.clear()
        d = vfs.open_at(t, abi.AT_FDCWD, path, abi.O_RDONLY, 0)
        try:
            return d.read(t, 100)
        finally:
            d.decref()

    assert opened(b"/wide/d000/f") == b"d000"
    assert client.walks_and_opens == [([b"d000"], b"f")]
    assert (client.walkopens, client.opens, client.listings, client.listing_fetches) == \
        ([], [], [], [])
    assert opened(b"/wide/d001/lnk") == b"d001"  # (the link's target came with it)
    assert client.walks_and_opens == [([b"d001"], b"lnk")]
    assert (client.walkopens, client.opens, client.listing_fetches) == ([], [], [])
    with pytest.raises(LinuxError) as e:
        opened(b"/wide/d002/missing")  # (the open sent with the walk found it missing)
    assert e.value.errno == errno.ENOENT
    assert client.walks_and_opens == [([b"d002"], b"missing")]
    assert (client.walkopens, client.opens, client.listings, client.listing_fetches) == \
        ([], [], [], [])
    assert opened(b"/wide/d002/f") == b"d002"  # (d002 was walked: its own lookup now)
    with pytest.raises(LinuxError) as e:
        opened(b"/wide/file/x")
    assert e.value.errno == errno.ENOTDIR
    # what the lookup of the last name did not take (here the lookup is called alone,
    # as if the walk stopped before that name) is given back by the next lookup there
    parent = vfs.resolve(t, abi.AT_FDCWD, b"/wide").dentry.inode.lower
    child = parent.lookup_on(t, b"d003", [b"f"], True)
    (h, _, fd), = child._hops.values()
    released = []
    real_release = child.fs.handle_released
    child.fs.handle_released = lambda handle: (released.append(handle),
                                               real_release(handle))
    try:
        assert fd >= 0
        assert child.lookup(t, b"missing") is None
        assert child._hops is None and released == [h]
    finally:
        del child.fs.handle_released
    with pytest.raises(OSError):
        os.fstat(fd)  # (closed)
    # a directory not everyone may search: nothing kept for a lookup its caller may not
    # get to (the gofer holds no fd for it)
    child = parent.lookup_on(t, b"d004", [b"f"], True)
    assert child._hops is None

