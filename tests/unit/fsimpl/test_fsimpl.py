"""tmpfs, overlay, pipes, dev, proc."""

import errno
import os
import signal

import pytest

from sentry.abi.linux.errors import LinuxError, WouldBlock
from sentry.fsimpl.pipe.pipe import PIPE_BUF, new_pipe
from sentry.vfs import abi
from vfs_testlib import errno_of


def names(env, p):
    d = env.vfs.open_at(env.t, abi.AT_FDCWD, p, abi.O_RDONLY | abi.O_DIRECTORY, 0)
    return sorted(n for _, _, n in d.getdents(env.t) if n not in (b".", b".."))


def read_file(env, p):
    d = env.vfs.open_at(env.t, abi.AT_FDCWD, p, abi.O_RDONLY, 0)
    return d.read(env.t, 1 << 20)


def write_file(env, p, data, flags=abi.O_WRONLY | abi.O_CREAT | abi.O_TRUNC):
    d = env.vfs.open_at(env.t, abi.AT_FDCWD, p, flags, 0o644)
    d.write(env.t, data)
    d.decref()


def test_tmpfs_rename_cases(env):
    v, t = env.vfs, env.t
    write_file(env, b"/tmp2/a", b"1")
    write_file(env, b"/tmp2/b", b"2")
    v.mkdir_at(t, abi.AT_FDCWD, b"/tmp2/d", 0o755)
    v.mkdir_at(t, abi.AT_FDCWD, b"/tmp2/e", 0o755)
    write_file(env, b"/tmp2/e/x", b"x")
    assert errno_of(v.rename_at, t, abi.AT_FDCWD, b"/tmp2/a", abi.AT_FDCWD, b"/tmp2/b",
                    abi.RENAME_NOREPLACE) == errno.EEXIST
    v.rename_at(t, abi.AT_FDCWD, b"/tmp2/a", abi.AT_FDCWD, b"/tmp2/b", 0)
    assert read_file(env, b"/tmp2/b") == b"1"
    assert errno_of(v.rename_at, t, abi.AT_FDCWD, b"/tmp2/d", abi.AT_FDCWD, b"/tmp2/e", 0) == errno.ENOTEMPTY
    assert errno_of(v.rename_at, t, abi.AT_FDCWD, b"/tmp2/d", abi.AT_FDCWD, b"/tmp2/b", 0) == errno.ENOTDIR
    assert errno_of(v.rename_at, t, abi.AT_FDCWD, b"/tmp2/b", abi.AT_FDCWD, b"/tmp2/d", 0) == errno.EISDIR
    assert errno_of(v.rename_at, t, abi.AT_FDCWD, b"/tmp2/d", abi.AT_FDCWD, b"/tmp2/d/z", 0) == errno.EINVAL
    v.rename_at(t, abi.AT_FDCWD, b"/tmp2/b", abi.AT_FDCWD, b"/tmp2/d", abi.RENAME_EXCHANGE)
    assert read_file(env, b"/tmp2/d") == b"1"
    assert v.resolve(t, abi.AT_FDCWD, b"/tmp2/b").dentry.inode.is_dir
    v.rename_at(t, abi.AT_FDCWD, b"/tmp2/b", abi.AT_FDCWD, b"/tmp2/e/sub", 0)
    root = v.resolve(t, abi.AT_FDCWD, b"/tmp2").dentry.inode
    assert root.stat().nlink == 3  # ., .., e
    assert errno_of(v.rename_at, t, abi.AT_FDCWD, b"/tmp2/d", abi.AT_FDCWD, b"/etc/d", 0) == errno.EXDEV


def test_overlay_copy_up_and_whiteouts(env, lower):
    v, t = env.vfs, env.t
    before = v.resolve(t, abi.AT_FDCWD, b"/data/a").dentry.inode.stat().ino
    assert before == os.stat(os.path.join(lower, "data/a")).st_ino
    write_file(env, b"/data/a", b"new", abi.O_WRONLY | abi.O_APPEND)
    assert read_file(env, b"/data/a") == b"Anew"
    with open(os.path.join(lower, "data/a"), "rb") as f:
        assert f.read() == b"A"  # the lower layer is never written
    v.unlink_at(t, abi.AT_FDCWD, b"/data/b", 0)
    assert names(env, b"/data") == [b"a", b"sub"]
    assert os.path.exists(os.path.join(lower, "data/b"))
    write_file(env, b"/data/b", b"again")
    assert read_file(env, b"/data/b") == b"again"
    assert names(env, b"/data") == [b"a", b"b", b"sub"]
    # rmdir + mkdir: the new directory is opaque.
    v.unlink_at(t, abi.AT_FDCWD, b"/data/sub/c", 0)
    v.unlink_at(t, abi.AT_FDCWD, b"/data/sub", abi.AT_REMOVEDIR)
    v.mkdir_at(t, abi.AT_FDCWD, b"/data/sub", 0o755)
    assert names(env, b"/data/sub") == []
    # rename of a lower directory copies the tree up.
    v.rename_at(t, abi.AT_FDCWD, b"/usr", abi.AT_FDCWD, b"/usr2", 0)
    assert read_file(env, b"/usr2/lib/libc.so") == b"libc" * 100
    assert errno_of(v.resolve, t, abi.AT_FDCWD, b"/usr") == errno.ENOENT
    assert b"usr" not in names(env, b"/") and b"usr2" in names(env, b"/")
    v.chmod(t, v.resolve(t, abi.AT_FDCWD, b"/etc/passwd"), 0o600)
    assert os.stat(os.path.join(lower, "etc/passwd")).st_mode & 0o777 == 0o644


def test_overlay_merged_readdir_no_dups(env):
    write_file(env, b"/data/a", b"x")
    write_file(env, b"/data/new", b"y")
    assert names(env, b"/data") == [b"a", b"b", b"new", b"sub"]


def test_readonly_root(lower):
    from vfs_testlib import Env

    e = Env(lower, root_readonly=True, overlay=False)
    assert errno_of(e.vfs.mkdir_at, e.t, abi.AT_FDCWD, b"/x", 0o755) == errno.EROFS
    assert errno_of(e.vfs.open_at, e.t, abi.AT_FDCWD, b"/etc/passwd", abi.O_RDWR, 0) == errno.EROFS


def test_pipe_blocking_eof_epipe(env):
    t = env.t
    r, w = new_pipe(t, 0)
    with pytest.raises(WouldBlock):
        r.read(t, 10)
    assert w.write(t, b"hello") == 5
    assert r.read(t, 3) == b"hel"
    big = b"x" * 70000
    n = w.write(t, big)
    # Linux's page slots: the 368-byte remainder joins the slot holding "lo", then 15
    # free pages take 4096 bytes each; the rest waits (fs/pipe.c pipe_write).
    assert n == 368 + 15 * 4096
    with pytest.raises(WouldBlock):
        w.write(t, b"y" * PIPE_BUF)
    with pytest.raises(WouldBlock):
        w.write(t, b"y")
    assert r.read(t, 1) == b"l"
    with pytest.raises(WouldBlock):  # no slot is free until a whole page is read
        w.write(t, b"y")
    w.decref()
    assert r.read(t, 100000) == b"o" + big[:n]
    assert r.read(t, 10) == b""
    r2, w2 = new_pipe(t, abi.O_NONBLOCK)
    assert errno_of(r2.read, t, 1) == errno.EAGAIN
    r2.decref()
    assert errno_of(w2.write, t, b"z") == errno.EPIPE
    assert env.kernel.signals == [(t.tid, signal.SIGPIPE)]


def test_dev_nodes(env):
    t = env.t
    z = env.vfs.open_at(t, abi.AT_FDCWD, b"/dev/zero", abi.O_RDONLY, 0)
    assert z.read(t, 4) == b"\0" * 4
    f = env.vfs.open_at(t, abi.AT_FDCWD, b"/dev/full", abi.O_WRONLY, 0)
    assert errno_of(f.write, t, b"x") == errno.ENOSPC
    n = env.vfs.open_at(t, abi.AT_FDCWD, b"/dev/null", abi.O_RDWR, 0)
    assert n.read(t, 4) == b"" and n.write(t, b"abc") == 3
    assert errno_of(env.vfs.open_at, t, abi.AT_FDCWD, b"/dev/tty", abi.O_RDWR, 0) == errno.ENXIO
    assert len(env.vfs.open_at(t, abi.AT_FDCWD, b"/dev/urandom", 0, 0).read(t, 16)) == 16


def test_proc_pid_files(env):
    t = env.t
    t.tg.argv = [b"/bin/true", b"-x"]
    t.tg.exe_path = "/bin/true"
    assert read_file(env, b"/proc/self/cmdline") == b"/bin/true\0-x\0"
    st = read_file(env, b"/proc/1/status")
    assert b"Tgid:\t1\n" in st and b"Uid:\t0\t0\t0\t0" in st and b"VmRSS:\t1234 kB" in st
    assert env.vfs.readlink_at(t, abi.AT_FDCWD, b"/proc/self/exe") == b"/bin/true"
    fd = t.fdtable.install(env.vfs.open_at(t, abi.AT_FDCWD, b"/etc/passwd", 0, 0))
    assert env.vfs.readlink_at(t, abi.AT_FDCWD, b"/proc/self/fd/%d" % fd) == b"/etc/passwd"
    d = env.vfs.open_at(t, abi.AT_FDCWD, b"/proc/self/fd/%d" % fd, abi.O_RDONLY, 0)
    assert d.read(t, 100).startswith(b"root:")
    r, w = new_pipe(t, 0)
    pfd = t.fdtable.install(w)
    assert env.vfs.readlink_at(t, abi.AT_FDCWD, b"/proc/self/fd/%d" % pfd).startswith(b"pipe:[")
    w2 = env.vfs.open_at(t, abi.AT_FDCWD, b"/dev/fd/%d" % pfd, abi.O_WRONLY, 0)
    w2.write(t, b"via proc")
    assert r.read(t, 100) == b"via proc"
    assert read_file(env, b"/proc/sys/kernel/hostname") == b"sandbox\n"
    # Random (version 4) UUIDs in the kernel's text form; boot_id stays, uuid changes.
    import re
    import uuid

    ids = [read_file(env, b"/proc/sys/kernel/random/" + n) for n in (b"uuid", b"uuid",
                                                                    b"boot_id", b"boot_id")]
    for got in ids:
        assert re.fullmatch(rb"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\n", got), got
        u = uuid.UUID(got.strip().decode())
        assert (u.version, u.variant) == (4, uuid.RFC_4122)
    assert ids[0] != ids[1] and ids[2] == ids[3]
    assert b"6.1.0-runsc-py" in read_file(env, b"/proc/version")
    assert names(env, b"/proc/self/task") == [b"1"]
    assert b"1" in names(env, b"/proc")


def test_fifo_in_tmpfs(env):
    t = env.t
    env.vfs.mknod_at(t, abi.AT_FDCWD, b"/tmp2/f", abi.S_IFIFO | 0o644, 0)
    flags = abi.O_WRONLY | abi.O_NONBLOCK
    assert errno_of(env.vfs.open_at, t, abi.AT_FDCWD, b"/tmp2/f", flags, 0) == errno.ENXIO
    with pytest.raises(WouldBlock):
        env.vfs.open_at(t, abi.AT_FDCWD, b"/tmp2/f", abi.O_RDONLY, 0)
    w = env.vfs.open_at(t, abi.AT_FDCWD, b"/tmp2/f", abi.O_WRONLY, 0)
    r = env.vfs.open_at(t, abi.AT_FDCWD, b"/tmp2/f", abi.O_RDONLY, 0)
    w.write(t, b"q")
    assert r.read(t, 5) == b"q"
    assert errno_of(env.vfs.mknod_at, t, abi.AT_FDCWD, b"/tmp2/c", abi.S_IFCHR | 0o644, 0) == errno.EPERM


def test_tmpfs_enospc():
    from sentry.fsimpl.tmpfs.regular_file import TmpfsFile
    from sentry.fsimpl.tmpfs.tmpfs import TmpfsFilesystem

    fs = TmpfsFilesystem(size_limit=100)
    f = TmpfsFile(fs, 0o644, 0, 0)
    f.write_at(0, b"x" * 100)
    with pytest.raises(LinuxError) as e:
        f.write_at(100, b"y")
    assert e.value.errno == errno.ENOSPC
