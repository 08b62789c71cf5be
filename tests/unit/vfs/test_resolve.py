"""Path resolution, mounts, fd tables, fs contexts."""

import errno

import pytest

from sentry.abi.linux.errors import LinuxError
from sentry.vfs import abi
from sentry.vfs.fdtable import FDTable
from sentry.vfs.file import FileDescription
from vfs_testlib import errno_of


def path(env, vd):
    return env.vfs.path_for_task(env.t, vd)


def test_dotdot_at_root_stays(env):
    vd = env.vfs.resolve(env.t, abi.AT_FDCWD, b"/../../etc/../..")
    assert path(env, vd) == b"/"


def test_symlink_relative_and_absolute(env):
    vd = env.vfs.resolve(env.t, abi.AT_FDCWD, b"/lib/libc.so")
    assert path(env, vd) == b"/usr/lib/libc.so"
    vd = env.vfs.resolve(env.t, abi.AT_FDCWD, b"/abs_link")
    assert path(env, vd) == b"/usr/lib/libc.so"
    vd = env.vfs.resolve(env.t, abi.AT_FDCWD, b"/abs_link", follow=False)
    assert vd.dentry.inode.is_symlink


def test_symlink_loop_eloop(env):
    assert errno_of(env.vfs.resolve, env.t, abi.AT_FDCWD, b"/loop1") == errno.ELOOP
    assert errno_of(env.vfs.open_at, env.t, abi.AT_FDCWD, b"/abs_link",
                    abi.O_RDONLY | abi.O_NOFOLLOW, 0) == errno.ELOOP


def test_trailing_slash(env):
    assert errno_of(env.vfs.resolve, env.t, abi.AT_FDCWD, b"/etc/passwd/") == errno.ENOTDIR
    assert env.vfs.resolve(env.t, abi.AT_FDCWD, b"/lib/", follow=False).dentry.inode.is_dir
    assert errno_of(env.vfs.resolve, env.t, abi.AT_FDCWD, b"/etc/passwd/x") == errno.ENOTDIR
    assert errno_of(env.vfs.resolve, env.t, abi.AT_FDCWD, b"") == errno.ENOENT


def test_chroot_absolute_symlink_and_dotdot(env):
    t = env.t
    vfs = env.vfs
    vfs.mkdir_at(t, abi.AT_FDCWD, b"/tmp/jail", 0o755)
    vfs.mkdir_at(t, abi.AT_FDCWD, b"/tmp/jail/usr", 0o755)
    vfs.symlink_at(t, b"/usr", abi.AT_FDCWD, b"/tmp/jail/u")
    vfs.chroot(t, vfs.resolve(t, abi.AT_FDCWD, b"/tmp/jail"))
    vd = vfs.resolve(t, abi.AT_FDCWD, b"/u")
    assert vfs.path_of(vd, vfs.root())[0] == b"/tmp/jail/usr"
    vd = vfs.resolve(t, abi.AT_FDCWD, b"/../../../usr")
    assert vfs.path_of(vd, vfs.root())[0] == b"/tmp/jail/usr"
    assert path(env, vd) == b"/usr"


def test_mount_crossing_both_ways(env):
    t, vfs = env.t, env.vfs
    vd = vfs.resolve(t, abi.AT_FDCWD, b"/tmp2")
    assert vd.mount.fs.fstype == "tmpfs" and vd.dentry is vd.mount.root
    up = vfs.resolve(t, abi.AT_FDCWD, b"/tmp2/../etc/passwd")
    assert up.dentry.inode.is_reg
    assert path(env, vfs.resolve(t, abi.AT_FDCWD, b"/dev/shm/..")) == b"/dev"


def test_fdtable_dup_cloexec_fork():
    tab = FDTable(limit=8)
    d = FileDescription(None, None, abi.O_RDONLY)
    fd = tab.install(d)
    assert fd == 0
    d.incref()
    assert tab.install(d, cloexec=True, minfd=5) == 5
    assert tab.get_cloexec(5)
    child = tab.fork()
    assert d.refs == 4
    child.close_on_exec()
    assert 5 not in child and d.refs == 3
    child.release_all()
    assert d.refs == 2
    with pytest.raises(LinuxError) as e:
        tab.get(3)
    assert e.value.errno == errno.EBADF
    for _ in range(6):
        d.incref()
        tab.install(d)
    with pytest.raises(LinuxError) as e:
        tab.install(d)
    assert e.value.errno == errno.EMFILE


def test_release_on_last_close():
    released = []

    class D(FileDescription):
        def release(self):
            released.append(1)

    tab = FDTable()
    d = D(None, None, 0)
    tab.install(d)
    d.incref()
    tab.install_at(7, d)
    tab.close(0)
    assert not released
    tab.close(7)
    assert released == [1]


def test_fscontext_fork(env):
    fs2 = env.t.fs.fork()
    fs2.umask = 0o077
    assert env.t.fs.umask == 0o022


def test_permissions_non_root(lower):
    from vfs_testlib import Env

    e = Env(lower, uid=1000, gid=1000)
    assert errno_of(e.vfs.open_at, e.t, abi.AT_FDCWD, b"/etc/passwd", abi.O_WRONLY, 0) in (
        errno.EACCES,)
    assert errno_of(e.vfs.mkdir_at, e.t, abi.AT_FDCWD, b"/etc/x", 0o755) == errno.EACCES
    e.vfs.mkdir_at(e.t, abi.AT_FDCWD, b"/tmp/mine", 0o700)
    st = e.vfs.resolve(e.t, abi.AT_FDCWD, b"/tmp/mine").dentry.inode.stat()
    assert st.uid == 1000 and st.mode & 0o777 == 0o700


def test_open_exec(env):
    desc, p = env.vfs.open_exec(env.t, b"/bin/true")
    assert p == b"/bin/true"
    desc.decref()
    assert errno_of(env.vfs.open_exec, env.t, b"/etc/passwd") == errno.EACCES
    assert errno_of(env.vfs.open_exec, env.t, b"/etc") == errno.EACCES


def test_proc_mounts_and_self(env):
    t = env.t
    d = env.vfs.open_at(t, abi.AT_FDCWD, b"/proc/self/mounts", abi.O_RDONLY, 0)
    text = d.read(t, 100000)
    assert b"overlay / overlay rw" in text and b" /proc proc " in text
    assert env.vfs.readlink_at(t, abi.AT_FDCWD, b"/proc/self") == b"1"
