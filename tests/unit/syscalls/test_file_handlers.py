"""File syscall handlers driven with FakeMemory."""

import errno
import os
import struct

import pytest

from sentry.abi.linux.errors import WouldBlock
from sentry.syscalls.linux import sys_file, sys_fs, sys_pipe, sys_poll, sys_stat
from sentry.vfs import abi
from vfs_testlib import make_task

AT = abi.AT_FDCWD


def test_open_write_seek_read(env):
    fd = env.call(sys_file.openat, AT, env.put(b"/tmp/f"), abi.O_RDWR | abi.O_CREAT, 0o600)
    assert fd == 0
    buf = env.put(b"hello world")
    assert env.call(sys_file.write, fd, buf, 11) == 11
    assert env.call(sys_file.lseek, fd, 6, abi.SEEK_SET) == 6
    out = env.alloc(32)
    assert env.call(sys_file.read, fd, out, 32) == 5
    assert env.t.mem.read(out, 5) == b"world"
    assert env.call(sys_file.pread64, fd, out, 5, 0) == 5
    assert env.t.mem.read(out, 5) == b"hello"
    assert env.call(sys_file.read, 99, out, 1) == -errno.EBADF
    assert env.call(sys_file.fcntl, fd, sys_file.F_GETFL) & abi.O_ACCMODE == abi.O_RDWR
    assert env.call(sys_file.openat, AT, env.put(b"/tmp/f"), abi.O_CREAT | abi.O_EXCL, 0) == -errno.EEXIST


def test_stat_matches_host(env, lower):
    buf = env.alloc(144)
    assert env.call(sys_stat.stat, env.put(b"/usr/lib/libc.so"), buf) == 0
    f = abi.unpack_stat(env.t.mem.read(buf, 144))
    st = os.stat(os.path.join(lower, "usr/lib/libc.so"))
    assert f[1] == st.st_ino and f[3] == st.st_mode and f[8] == st.st_size
    assert f[13] == st.st_mtime_ns // 10**9 and f[14] == st.st_mtime_ns % 10**9
    assert env.call(sys_stat.lstat, env.put(b"/lib"), buf) == 0
    assert abi.unpack_stat(env.t.mem.read(buf, 144))[3] & abi.S_IFMT == abi.S_IFLNK
    sx = env.alloc(256)
    assert env.call(sys_stat.statx, AT, env.put(b"/etc/passwd"), 0, abi.STATX_BASIC_STATS, sx) == 0
    mask, = struct.unpack_from("<I", env.t.mem.read(sx, 4))
    size, = struct.unpack_from("<Q", env.t.mem.read(sx + 40, 8))
    assert mask & abi.STATX_BASIC_STATS == abi.STATX_BASIC_STATS and size == 26
    fs = env.alloc(120)
    assert env.call(sys_stat.statfs, env.put(b"/tmp2"), fs) == 0
    assert struct.unpack_from("<q", env.t.mem.read(fs, 8))[0] == abi.TMPFS_MAGIC


def test_getdents64_layout(env):
    fd = env.call(sys_file.open, env.put(b"/data"), abi.O_RDONLY | abi.O_DIRECTORY)
    buf = env.alloc(4096)
    n = env.call(sys_fs.getdents64, fd, buf, 4096)
    ents = abi.parse_dirents64(env.t.mem.read(buf, n))
    assert sorted(e[3] for e in ents) == [b".", b"..", b"a", b"b", b"sub"]
    assert env.call(sys_fs.getdents64, fd, buf, 4096) == 0
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_SET) == 0
    assert env.call(sys_fs.getdents64, fd, buf, 10) == -errno.EINVAL
    assert env.call(sys_fs.getdents, fd, buf, 4096) > 0


def test_dup_cloexec_and_fcntl(env):
    fd = env.call(sys_file.open, env.put(b"/etc/passwd"), abi.O_RDONLY | abi.O_CLOEXEC)
    assert env.call(sys_file.fcntl, fd, sys_file.F_GETFD) == 1
    assert env.call(sys_file.dup2, fd, 10) == 10
    assert env.call(sys_file.fcntl, 10, sys_file.F_GETFD) == 0
    assert env.call(sys_file.dup3, fd, fd, abi.O_CLOEXEC) == -errno.EINVAL
    assert env.call(sys_file.fcntl, fd, sys_file.F_DUPFD_CLOEXEC, 20) == 20
    assert env.call(sys_file.close, 20) == 0
    assert env.call(sys_file.close, 20) == -errno.EBADF
    assert env.call(sys_file.fcntl, fd, 999) == -errno.EINVAL


def test_record_locks(env):
    t1 = env.t
    t2 = make_task(env.kernel, env.vfs, tid=2)
    fl = env.alloc(32)
    fd1 = env.call(sys_file.open, env.put(b"/tmp/l"), abi.O_RDWR | abi.O_CREAT, 0o644)
    p = env.put(b"/tmp/l")
    t2.mem.write(p, b"/tmp/l\0")
    fd2 = env.call(sys_file.open, p, abi.O_RDWR, t=t2)
    lock = struct.pack("<hh4xqqi4x", 1, 0, 0, 10, 0)
    t1.mem.write(fl, lock)
    assert env.call(sys_file.fcntl, fd1, sys_file.F_SETLK, fl) == 0
    t2.mem.write(fl, lock)
    assert env.call(sys_file.fcntl, fd2, sys_file.F_SETLK, fl, t=t2) == -errno.EAGAIN
    with pytest.raises(WouldBlock):
        env.call(sys_file.fcntl, fd2, sys_file.F_SETLKW, fl, t=t2)
    assert env.call(sys_file.fcntl, fd2, sys_file.F_GETLK, fl, t=t2) == 0
    ltype, _, start, ln, pid = struct.unpack("<hh4xqqi4x", t2.mem.read(fl, 32))
    assert (ltype, start, ln, pid) == (1, 0, 10, 1)
    env.call(sys_file.close, fd1)  # closing any fd drops the process's locks
    t2.mem.write(fl, lock)
    assert env.call(sys_file.fcntl, fd2, sys_file.F_SETLK, fl, t=t2) == 0
    assert env.call(sys_file.flock, fd2, 2 | 4, t=t2) == 0


def test_pipe2_and_poll(env):
    fds = env.alloc(8)
    assert env.call(sys_pipe.pipe2, fds, abi.O_NONBLOCK | abi.O_CLOEXEC) == 0
    r, w = struct.unpack("<ii", env.t.mem.read(fds, 8))
    assert env.call(sys_pipe.pipe2, fds, abi.O_DIRECT) == -errno.EINVAL
    pfd = env.alloc(16)
    env.t.mem.write(pfd, struct.pack("<ihhihh", r, 1, 0, w, 4, 0))
    assert env.call(sys_poll.poll, pfd, 2, 0) == 1
    assert struct.unpack("<ihhihh", env.t.mem.read(pfd, 16))[5] == 4
    env.t.mem.write(pfd, struct.pack("<ihh", r, 1, 0))
    with pytest.raises(WouldBlock) as e:
        env.call(sys_poll.poll, pfd, 1, 1000)
    assert e.value.deadline is not None
    buf = env.put(b"x")
    assert env.call(sys_file.write, w, buf, 1) == 1
    assert env.call(sys_poll.poll, pfd, 1, -1) == 1
    n = env.alloc(4)
    assert env.call(sys_file.ioctl, r, sys_file.FIONREAD, n) == 0
    assert env.t.mem.read_i32(n) == 1
    assert env.call(sys_file.fcntl, r, sys_file.F_GETPIPE_SZ) == 65536
    rset = env.alloc(8)
    env.t.mem.write(rset, (1 << r).to_bytes(8, "little"))
    assert env.call(sys_poll.select, r + 1, rset, 0, 0, 0) == 1
    env.call(sys_file.close, w)
    out = env.alloc(4)
    assert env.call(sys_file.read, r, out, 4) == 1
    assert env.call(sys_file.read, r, out, 4) == 0


def test_fs_handlers(env):
    e = env
    assert e.call(sys_fs.mkdir, e.put(b"/tmp/d"), 0o755) == 0
    assert e.call(sys_fs.chdir, e.put(b"/tmp/d")) == 0
    buf = e.alloc(64)
    assert e.call(sys_fs.getcwd, buf, 64) == 7
    assert e.t.mem.read(buf, 7) == b"/tmp/d\0"
    assert e.call(sys_fs.getcwd, buf, 3) == -errno.ERANGE
    assert e.call(sys_fs.symlink, e.put(b"target"), e.put(b"ln")) == 0
    assert e.call(sys_stat.readlink, e.put(b"ln"), buf, 64) == 6
    assert e.call(sys_fs.rmdir, e.put(b"/tmp/d")) == -errno.ENOTEMPTY
    assert e.call(sys_fs.unlink, e.put(b"ln")) == 0
    assert e.call(sys_fs.rmdir, e.put(b"/tmp/d")) == 0
    assert e.call(sys_fs.getcwd, buf, 64) == -errno.ENOENT
    assert e.call(sys_fs.umask, 0o077) == 0o022
    assert e.call(sys_stat.access, e.put(b"/etc/passwd"), abi.R_OK | abi.W_OK) == 0
    assert e.call(sys_stat.access, e.put(b"/nope"), abi.F_OK) == -errno.ENOENT
    assert e.call(sys_fs.mknod, e.put(b"/tmp/dev"), abi.S_IFCHR | 0o600, 0x103) == -errno.EPERM
    ts = e.alloc(32)
    e.t.mem.write(ts, struct.pack("<qqqq", 5, 0, 7, abi.UTIME_OMIT))
    assert e.call(sys_fs.utimensat, AT, e.put(b"/etc/passwd"), ts, 0) == 0
    st = e.vfs.resolve(e.t, AT, b"/etc/passwd").dentry.inode.stat()
    assert st.atime_ns == 5 * 10**9 and st.mtime_ns != 7 * 10**9
    assert e.call(sys_fs.rename, e.put(b"/etc/passwd"), e.put(b"/etc/pw")) == 0
    assert e.call(sys_fs.link, e.put(b"/etc/pw"), e.put(b"/etc/pw2")) == 0
    assert e.vfs.resolve(e.t, AT, b"/etc/pw2").dentry.inode.stat().nlink == 2
