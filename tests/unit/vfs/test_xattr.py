"""Extended attributes (sentry/vfs/xattr.py, sys_xattr.py and each file system's part).

tmpfs keeps user.*, trusted.* and security.* in memory with Linux's checks, flags and
limits; the overlay reads the layer holding the file and copies up (with the lower file's
attributes) before a change; gofer files have their host file's user.* attributes only;
proc, pipes and anonymous files keep none.  The differential test (tests/syscalls/src/
xattr.c) compares the same rules with Linux; these cover what it cannot reach.
"""

from __future__ import annotations

import errno
import gc
import os
import struct

import pytest

from sentry.config import MountSpec
from sentry.fsimpl.pipe.pipe import new_pipe
from sentry.kernel.memacct import ACCOUNT
from sentry.syscalls.linux import sys_xattr as sx
from sentry.vfs import abi
from sentry.vfs import xattr as xa
from vfs_testlib import Env, make_task

XATTR_CREATE, XATTR_REPLACE = 1, 2


class X:
    """The xattr syscalls of one task, with paths and names as bytes."""

    def __init__(self, env: Env, t=None) -> None:
        self.env, self.t = env, t or env.t

    def _s(self, b: bytes) -> int:
        return self.env.put(b)

    def set(self, path: bytes, name: bytes, value: bytes, flags: int = 0,
            fn=sx.setxattr) -> int:
        return self.env.call(fn, self._s(path), self._s(name), self._s(value), len(value),
                             flags, t=self.t)

    def fset(self, fd: int, name: bytes, value: bytes, flags: int = 0) -> int:
        return self.env.call(sx.fsetxattr, fd, self._s(name), self._s(value), len(value),
                             flags, t=self.t)

    def get(self, path: bytes, name: bytes, size: int = 256, fn=sx.getxattr):
        buf = self.env.alloc(max(size, 1))
        r = self.env.call(fn, self._s(path), self._s(name), buf, size, t=self.t)
        if r < 0 or size == 0:
            return r
        return self.t.mem.read(buf, r)

    def fget(self, fd: int, name: bytes, size: int = 256):
        buf = self.env.alloc(max(size, 1))
        r = self.env.call(sx.fgetxattr, fd, self._s(name), buf, size, t=self.t)
        return r if r < 0 or size == 0 else self.t.mem.read(buf, r)

    def list(self, path: bytes, size: int = 4096, fn=sx.listxattr):
        buf = self.env.alloc(max(size, 1))
        r = self.env.call(fn, self._s(path), buf, size, t=self.t)
        if r < 0 or size == 0:
            return r
        return self.t.mem.read(buf, r).split(b"\0")[:-1]

    def remove(self, path: bytes, name: bytes, fn=sx.removexattr) -> int:
        return self.env.call(fn, self._s(path), self._s(name), t=self.t)


def _create(env: Env, path: bytes, mode: int = 0o644) -> None:
    env.vfs.open_at(env.t, abi.AT_FDCWD, path, abi.O_WRONLY | abi.O_CREAT, mode).decref()


def _inode(env: Env, path: bytes):
    return env.vfs.resolve(env.t, abi.AT_FDCWD, path, follow=False).dentry.inode


def _user(env: Env, uid: int = 1000):
    t = make_task(env.kernel, env.vfs, tid=7, uid=uid, gid=uid)
    t.mem = env.t.mem  # the arguments are put there
    return t


def test_tmpfs_set_get_list_remove(env):
    x = X(env)
    _create(env, b"/tmp2/f")
    assert x.list(b"/tmp2/f") == [] and x.list(b"/tmp2/f", 0) == 0
    assert x.get(b"/tmp2/f", b"user.a") == -errno.ENODATA
    for name in (b"user.b", b"user.a", b"trusted.t", b"security.s", b"user.B"):
        assert x.set(b"/tmp2/f", name, b"v:" + name) == 0
    # Linux's tmpfs lists in descending byte order (its rbtree walked backwards).
    assert x.list(b"/tmp2/f") == [b"user.b", b"user.a", b"user.B", b"trusted.t",
                                  b"security.s"]
    assert x.list(b"/tmp2/f", 0) == 42
    assert x.list(b"/tmp2/f", 41) == -errno.ERANGE
    assert x.get(b"/tmp2/f", b"user.a") == b"v:user.a"
    assert x.get(b"/tmp2/f", b"user.a", 0) == 8
    assert x.get(b"/tmp2/f", b"user.a", 7) == -errno.ERANGE
    assert x.set(b"/tmp2/f", b"user.a", b"w", XATTR_CREATE) == -errno.EEXIST
    assert x.set(b"/tmp2/f", b"user.c", b"w", XATTR_REPLACE) == -errno.ENODATA
    assert x.set(b"/tmp2/f", b"user.a", b"w", XATTR_REPLACE) == 0
    assert x.set(b"/tmp2/f", b"user.e", b"") == 0 and x.get(b"/tmp2/f", b"user.e") == b""
    assert x.remove(b"/tmp2/f", b"user.a") == 0
    assert x.remove(b"/tmp2/f", b"user.a") == -errno.ENODATA
    assert x.get(b"/tmp2/f", b"user.a") == -errno.ENODATA
    # Namespaces tmpfs does not keep, and bare prefixes.
    assert x.set(b"/tmp2/f", b"system.x", b"v") == -errno.EOPNOTSUPP
    assert x.set(b"/tmp2/f", b"other.x", b"v") == -errno.EOPNOTSUPP
    assert x.get(b"/tmp2/f", b"other.x") == -errno.EOPNOTSUPP
    assert x.set(b"/tmp2/f", b"user.", b"v") == -errno.EINVAL
    assert x.get(b"/tmp2/f", b"trusted.") == -errno.EINVAL
    # The l variants do not follow a final symlink.
    env.vfs.symlink_at(env.t, b"f", abi.AT_FDCWD, b"/tmp2/ln")
    assert x.get(b"/tmp2/ln", b"user.b") == b"v:user.b"
    assert x.get(b"/tmp2/ln", b"user.b", fn=sx.lgetxattr) == -errno.ENODATA
    assert x.list(b"/tmp2/ln", fn=sx.llistxattr) == []
    assert x.set(b"/tmp2/ln", b"trusted.l", b"1", fn=sx.lsetxattr) == 0
    assert x.list(b"/tmp2/ln", fn=sx.llistxattr) == [b"trusted.l"]
    assert x.remove(b"/tmp2/ln", b"trusted.l", fn=sx.lremovexattr) == 0


def test_argument_errors_in_linux_order(env):
    x = X(env)
    _create(env, b"/tmp2/f")
    # A set checks flags, name and size before the path.
    assert x.set(b"/tmp2/missing", b"user.a", b"v", 4) == -errno.EINVAL
    assert x.set(b"/tmp2/missing", b"", b"v") == -errno.ERANGE
    assert x.set(b"/tmp2/missing", b"user." + b"n" * 251, b"v") == -errno.ERANGE
    assert x.set(b"/tmp2/missing", b"user." + b"n" * 250, b"v") == -errno.ENOENT
    big = env.put(b"v" * (xa.XATTR_SIZE_MAX + 1))
    assert env.call(sx.setxattr, env.put(b"/tmp2/missing"), env.put(b"user.a"), big,
                    xa.XATTR_SIZE_MAX + 1, 0) == -errno.E2BIG
    assert env.call(sx.setxattr, env.put(b"/tmp2/f"), env.put(b"user.a"), 0, 5,
                    0) == -errno.EFAULT
    assert env.call(sx.setxattr, env.put(b"/tmp2/f"), 0, 0, 0, 0) == -errno.EFAULT
    # A get, a list and a remove look the name up before the path (get, remove) ...
    assert x.get(b"/tmp2/missing", b"") == -errno.ERANGE
    assert x.remove(b"/tmp2/missing", b"") == -errno.ERANGE
    assert x.list(b"/tmp2/missing") == -errno.ENOENT
    # ... and the largest value fits.
    assert x.set(b"/tmp2/f", b"user.big", b"b" * xa.XATTR_SIZE_MAX) == 0
    assert x.get(b"/tmp2/f", b"user.big", 70000) == b"b" * xa.XATTR_SIZE_MAX


def test_permissions_and_namespaces(env):
    """xattr_permission: user.* only on regular files and directories, owner of a sticky
    directory, read/write permission; trusted.* and security.* need CAP_SYS_ADMIN."""
    x = X(env)
    _create(env, b"/tmp2/f", 0o644)
    env.vfs.mknod_at(env.t, abi.AT_FDCWD, b"/tmp2/fifo", abi.S_IFIFO | 0o666, 0)
    assert x.set(b"/tmp2/fifo", b"user.a", b"v") == -errno.EPERM
    assert x.get(b"/tmp2/fifo", b"user.a") == -errno.ENODATA
    assert x.set(b"/tmp2/fifo", b"trusted.a", b"v") == 0
    assert x.set(b"/tmp2/f", b"user.a", b"v") == 0
    assert x.set(b"/tmp2/f", b"trusted.t", b"v") == 0
    u = X(env, _user(env))
    assert u.get(b"/tmp2/f", b"user.a") == b"v"  # mode 644: readable
    assert u.set(b"/tmp2/f", b"user.a", b"w") == -errno.EACCES
    assert u.remove(b"/tmp2/f", b"user.a") == -errno.EACCES
    assert u.get(b"/tmp2/f", b"trusted.t") == -errno.ENODATA
    assert u.set(b"/tmp2/f", b"trusted.t", b"w") == -errno.EPERM
    assert u.list(b"/tmp2/f") == [b"user.a"]  # no trusted.*, no permission needed
    assert u.set(b"/tmp2/f", b"security.s", b"w") == -errno.EPERM
    assert u.get(b"/tmp2/f", b"security.s") == -errno.ENODATA  # no check on reading
    env.vfs.chmod(env.t, env.vfs.resolve(env.t, abi.AT_FDCWD, b"/tmp2/f"), 0o600)
    assert u.get(b"/tmp2/f", b"user.a") == -errno.EACCES
    assert u.list(b"/tmp2/f") == [b"user.a"]
    # A sticky directory: writable by all, its user.* attributes only by its owner.
    env.vfs.mkdir_at(env.t, abi.AT_FDCWD, b"/tmp2/sticky", 0o1777)
    env.vfs.chmod(env.t, env.vfs.resolve(env.t, abi.AT_FDCWD, b"/tmp2/sticky"), 0o1777)
    assert u.set(b"/tmp2/sticky", b"user.a", b"v") == -errno.EPERM
    assert x.set(b"/tmp2/sticky", b"user.a", b"v") == 0
    env.vfs.mkdir_at(env.t, abi.AT_FDCWD, b"/tmp2/open", 0o777)
    env.vfs.chmod(env.t, env.vfs.resolve(env.t, abi.AT_FDCWD, b"/tmp2/open"), 0o777)
    assert u.set(b"/tmp2/open", b"user.a", b"v") == 0


def test_file_capabilities_are_checked_as_linux(env):
    x = X(env)
    _create(env, b"/tmp2/f")
    v2 = struct.pack("<IIIII", 0x02000001, 1, 0, 0, 0)
    v3 = struct.pack("<IIIIII", 0x03000000, 1, 0, 0, 0, 0)
    assert x.set(b"/tmp2/f", b"security.capability", b"junk") == -errno.EINVAL
    assert x.set(b"/tmp2/f", b"security.capability", v2[:-1]) == -errno.EINVAL
    assert x.set(b"/tmp2/f", b"security.capability", v3[:20]) == -errno.EINVAL
    assert x.set(b"/tmp2/f", b"security.capability", v3) == 0
    assert x.set(b"/tmp2/f", b"security.capability", v2) == 0
    assert x.get(b"/tmp2/f", b"security.capability") == v2
    u = X(env, _user(env))
    env.vfs.chmod(env.t, env.vfs.resolve(env.t, abi.AT_FDCWD, b"/tmp2/f"), 0o666)
    assert u.set(b"/tmp2/f", b"security.capability", v2) == -errno.EPERM
    assert u.remove(b"/tmp2/f", b"security.capability") == -errno.EPERM
    assert x.remove(b"/tmp2/f", b"security.capability") == 0


def test_acls_are_absent_and_refused(env):
    x = X(env)
    _create(env, b"/tmp2/f")
    acl = b"system.posix_acl_access"
    assert x.get(b"/tmp2/f", acl) == -errno.ENODATA
    assert x.remove(b"/tmp2/f", acl) == 0  # no ACL to remove: nothing changes
    assert x.set(b"/tmp2/f", acl, struct.pack("<I", 2)) == -errno.EOPNOTSUPP
    refused = {(f, d) for (f, d, _) in env.kernel.compat.variants}
    assert ("xattr", "setxattr system.*") in refused
    assert x.get(b"/proc/self/status", acl) == -errno.EOPNOTSUPP


def test_ctime(env):
    x = X(env)
    _create(env, b"/tmp2/f")
    ino = _inode(env, b"/tmp2/f")
    ino.ctime_ns = 1
    assert x.set(b"/tmp2/f", b"user.a", b"v") == 0
    assert ino.stat().ctime_ns > 1
    ino.ctime_ns = 1
    assert x.set(b"/tmp2/f", b"user.a", b"v", XATTR_CREATE) == -errno.EEXIST
    assert ino.stat().ctime_ns == 1  # a failed change changes nothing
    assert x.remove(b"/tmp2/f", b"user.a") == 0
    assert ino.stat().ctime_ns > 1


def test_tmpfs_inode_space_and_memory_account(env):
    """user.* attributes count against the inode space (simple_xattr_space: 40 + name +
    value), every attribute against the sandbox's memory account, both given back."""
    x = X(env)
    _create(env, b"/tmp2/f")
    ino = _inode(env, b"/tmp2/f")
    fs = ino.fs
    # What earlier tests left for the collector gives its memory back when collected: not
    # in the middle of this count.
    gc.collect()
    before_acct = ACCOUNT.used
    fs.free_ispace = 2048
    assert x.set(b"/tmp2/f", b"user.a", b"v" * (2048 - 46)) == 0
    assert fs.free_ispace == 0
    assert x.set(b"/tmp2/f", b"user.b", b"") == -errno.ENOSPC
    # A replacement must fit before the old value is given back (Linux reserves first).
    assert x.set(b"/tmp2/f", b"user.a", b"w") == -errno.ENOSPC
    assert x.set(b"/tmp2/f", b"trusted.t", b"t" * 5000) == 0  # not in the inode space
    assert ACCOUNT.used == before_acct + 2048 + 5049
    assert x.remove(b"/tmp2/f", b"user.a") == 0
    assert fs.free_ispace == 2048
    assert x.set(b"/tmp2/f", b"user.a", b"w") == 0
    assert fs.free_ispace == 2048 - 47
    # An inode freed gives both back (one that no error's traceback still holds).
    _create(env, b"/tmp2/h")
    h = _inode(env, b"/tmp2/h")
    assert x.set(b"/tmp2/h", b"user.h", b"h" * 100) == 0
    assert fs.free_ispace == 2048 - 47 - 146
    gc.collect()
    used = ACCOUNT.used
    env.vfs.unlink_at(env.t, abi.AT_FDCWD, b"/tmp2/h", 0)
    del h
    gc.collect()
    assert fs.free_ispace == 2048 - 47
    assert ACCOUNT.used == used - 146 - 1024  # the inode's own cost went too
    # The sandbox's account bounds every namespace.
    _create(env, b"/tmp2/g")
    limit, ACCOUNT.limit = ACCOUNT.limit, ACCOUNT.used + 100
    try:
        assert x.set(b"/tmp2/g", b"trusted.t", b"t" * 200) == -errno.ENOSPC
        assert x.set(b"/tmp2/g", b"trusted.t", b"t" * 10) == 0
    finally:
        ACCOUNT.limit = limit


def test_fd_variants(env):
    x = X(env)
    _create(env, b"/tmp2/f")
    d = env.vfs.open_at(env.t, abi.AT_FDCWD, b"/tmp2/f", abi.O_RDONLY, 0)
    fd = env.t.fdtable.install(d)
    assert x.fset(fd, b"user.a", b"v") == 0  # a read-only description may set them
    assert x.fget(fd, b"user.a") == b"v"
    assert env.call(sx.flistxattr, fd, 0, 0) == 7
    assert env.call(sx.fremovexattr, fd, env.put(b"user.a")) == 0
    assert x.fget(999, b"user.a") == -errno.EBADF
    p = env.vfs.open_at(env.t, abi.AT_FDCWD, b"/tmp2/f", abi.O_PATH, 0)
    pfd = env.t.fdtable.install(p)
    assert x.fget(pfd, b"user.a") == -errno.EBADF
    assert x.fset(pfd, b"user.a", b"v") == -errno.EBADF
    assert env.call(sx.flistxattr, pfd, 0, 0) == -errno.EBADF
    r, w = new_pipe(env.t, 0)
    rfd = env.t.fdtable.install(r)
    assert x.fget(rfd, b"user.a") == -errno.ENODATA
    assert x.fget(rfd, b"trusted.a") == -errno.EOPNOTSUPP
    assert x.fset(rfd, b"user.a", b"v") == -errno.EPERM
    assert x.fset(rfd, b"trusted.a", b"v") == -errno.EOPNOTSUPP
    assert env.call(sx.flistxattr, rfd, 0, 0) == 0


def test_proc_keeps_none(env):
    x = X(env)
    assert x.get(b"/proc/self/status", b"user.a") == -errno.EOPNOTSUPP
    assert x.list(b"/proc/self/status") == []
    assert x.set(b"/proc/self", b"user.a", b"v") == -errno.EOPNOTSUPP


def test_overlay_reads_the_lower_file_and_copies_it_up(env, lower):
    host = os.path.join(lower, "data", "a")
    os.setxattr(host, "user.kept", b"from the host")
    os.setxattr(host, "trusted.host", b"never seen")
    x = X(env)
    assert x.list(b"/data/a") == [b"user.kept"]
    assert x.get(b"/data/a", b"user.kept") == b"from the host"
    assert x.get(b"/data/a", b"trusted.host") == -errno.ENODATA
    assert x.get(b"/data/a", b"other.x") == -errno.EOPNOTSUPP
    # Removing what the lower file lacks copies nothing up.
    assert x.remove(b"/data/a", b"user.none") == -errno.ENODATA
    assert _inode(env, b"/data/a").upper is None
    assert x.set(b"/data/a", b"user.new", b"1") == 0
    assert _inode(env, b"/data/a").upper is not None
    assert x.list(b"/data/a") == [b"user.new", b"user.kept"]
    assert x.set(b"/data/a", b"trusted.t", b"in the upper layer") == 0
    assert x.remove(b"/data/a", b"user.kept") == 0
    assert os.getxattr(host, "user.kept") == b"from the host"  # never written
    assert "user.new" not in os.listxattr(host)
    # A directory copied up for a new name keeps its attributes too.
    os.setxattr(os.path.join(lower, "data", "sub"), "user.dir", b"d")
    _create(env, b"/data/sub/new")
    assert x.list(b"/data/sub") == [b"user.dir"]
    assert _inode(env, b"/data/sub").upper.listxattr(None) == [b"user.dir"]


def test_overlay_root_takes_the_lower_roots_attributes(env, lower):
    os.setxattr(lower, "user.root", b"r")
    x = X(env)
    assert x.list(b"/") == [b"user.root"]
    assert x.set(b"/", b"user.more", b"m") == 0
    assert x.list(b"/") == [b"user.root", b"user.more"]
    assert "user.more" not in os.listxattr(lower)


@pytest.fixture
def binds(lower, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    for d in (rw, ro):
        d.mkdir()
        (d / "f").write_bytes(b"x")
    os.setxattr(ro / "f", "user.ro", b"1")
    return Env(lower, [MountSpec("/rw", "bind", str(rw)),
                       MountSpec("/ro", "bind", str(ro), readonly=True)]), rw, ro


def test_bind_mounts_write_user_attributes_through_the_gofer(binds):
    env, rw, ro = binds
    x = X(env)
    assert x.set(b"/rw/f", b"user.a", b"v") == 0
    assert os.getxattr(rw / "f", "user.a") == b"v"
    assert x.get(b"/rw/f", b"user.a") == b"v" and x.list(b"/rw/f") == [b"user.a"]
    assert x.set(b"/rw/f", b"user.a", b"w", XATTR_CREATE) == -errno.EEXIST
    assert x.remove(b"/rw/f", b"user.a") == 0 and os.listxattr(rw / "f") == []
    for name in (b"trusted.t", b"security.selinux"):
        assert x.set(b"/rw/f", name, b"v") == -errno.EOPNOTSUPP
        assert x.get(b"/rw/f", name) == -errno.ENODATA
    assert os.listxattr(rw / "f") == []
    refused = {d for (f, d, _) in env.kernel.compat.variants if f == "xattr"}
    assert {"setxattr trusted.*", "setxattr security.*"} <= refused
    assert x.get(b"/ro/f", b"user.ro") == b"1"
    assert x.set(b"/ro/f", b"user.ro", b"2") == -errno.EROFS
    assert x.remove(b"/ro/f", b"user.ro") == -errno.EROFS
    assert x.set(b"/ro/f", b"", b"2") == -errno.ERANGE  # the name first
