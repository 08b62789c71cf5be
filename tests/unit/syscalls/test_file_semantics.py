"""Linux semantics of the file handlers the differential programs check:
record locks across processes, removed directories, EFAULT on copy-out,
``access_ok`` on buffer ranges."""

import errno
import os
import struct

import pytest

from sentry.abi.linux.errors import WouldBlock
from sentry.syscalls.linux import sys_file, sys_fs, sys_pipe
from sentry.vfs import abi, locks
from vfs_testlib import make_task

AT = abi.AT_FDCWD
FLOCK = struct.Struct("<hh4xqqi4x")
SIZE_MAX = (1 << 64) - 1
SSIZE_MAX = (1 << 63) - 1


def _open(env, path, flags=abi.O_RDWR | abi.O_CREAT, t=None):
    t = t or env.t
    p = env.alloc(len(path) + 1)
    t.mem.write(p, path + b"\0")
    return env.call(sys_file.open, p, flags, 0o644, t=t)


def _lock(env, t, fd, cmd, ltype, start, length):
    fl = env.alloc(FLOCK.size)
    t.mem.write(fl, FLOCK.pack(ltype, abi.SEEK_SET, start, length, 0))
    r = env.call(sys_file.fcntl, fd, cmd, fl, t=t)
    return r, FLOCK.unpack(t.mem.read(fl, FLOCK.size))


# ------------------------------------------------------------------ locks
def test_exited_process_locks_are_gone(env):
    parent = env.t
    child = make_task(env.kernel, env.vfs, tid=2)
    pfd = _open(env, b"/tmp/lk")
    cfd = _open(env, b"/tmp/lk", t=child)
    assert _lock(env, child, cfd, sys_file.F_SETLK, locks.F_WRLCK, 10, 10)[0] == 0
    r, (ltype, _, start, ln, _) = _lock(env, parent, pfd, sys_file.F_GETLK, locks.F_WRLCK, 12, 0)
    assert (r, ltype, start, ln) == (0, locks.F_WRLCK, 10, 10)
    # The child exits without closing: the exit path releases its fd table
    # with no lock owner, after marking the thread group a zombie.
    child.tg.zombie = True
    r, (ltype, _, start, ln, _) = _lock(env, parent, pfd, sys_file.F_GETLK, locks.F_WRLCK, 12, 0)
    assert (r, ltype, start, ln) == (0, locks.F_UNLCK, 12, 0)
    assert _lock(env, parent, pfd, sys_file.F_SETLK, locks.F_WRLCK, 0, 0)[0] == 0


def test_exit_release_wakes_lock_waiters(env):
    parent = env.t
    child = make_task(env.kernel, env.vfs, tid=2)
    pfd = _open(env, b"/tmp/lk")
    cfd = _open(env, b"/tmp/lk", t=child)
    assert _lock(env, child, cfd, sys_file.F_SETLK, locks.F_WRLCK, 0, 0)[0] == 0
    with pytest.raises(WouldBlock) as wb:
        _lock(env, parent, pfd, sys_file.F_SETLKW, locks.F_WRLCK, 0, 0)
    (queue, mask), = wb.value.queues
    woken = []
    queue.subscribe(mask, woken.append)
    child.tg.zombie = True
    child.fdtable.release_all()
    assert woken
    assert _lock(env, parent, pfd, sys_file.F_SETLKW, locks.F_WRLCK, 0, 0)[0] == 0


def test_unlock_splits_and_close_of_any_fd_releases(env):
    parent = env.t
    child = make_task(env.kernel, env.vfs, tid=2)
    pfd = _open(env, b"/tmp/lk")
    cfd = _open(env, b"/tmp/lk", t=child)
    assert _lock(env, parent, pfd, sys_file.F_SETLK, locks.F_WRLCK, 0, 0)[0] == 0
    assert _lock(env, parent, pfd, sys_file.F_SETLK, locks.F_UNLCK, 5, 5)[0] == 0
    assert _lock(env, child, cfd, sys_file.F_SETLK, locks.F_WRLCK, 5, 5)[0] == 0
    r, (ltype, _, start, ln, _) = _lock(env, child, cfd, sys_file.F_GETLK, locks.F_WRLCK, 8, 0)
    assert (ltype, start, ln) == (locks.F_WRLCK, 10, 0)
    other = _open(env, b"/tmp/lk", abi.O_RDONLY)
    assert env.call(sys_file.close, other) == 0
    assert _lock(env, child, cfd, sys_file.F_SETLK, locks.F_WRLCK, 0, 0)[0] == 0


def test_lock_range_overflow(env):
    fd = _open(env, b"/tmp/lk")
    off_max = (1 << 63) - 1
    assert _lock(env, env.t, fd, sys_file.F_SETLK, locks.F_WRLCK, off_max, 2)[0] == -errno.EOVERFLOW
    assert _lock(env, env.t, fd, sys_file.F_SETLK, locks.F_WRLCK, off_max, 1)[0] == 0
    assert _lock(env, env.t, fd, sys_file.F_SETLK, locks.F_WRLCK, 5, -6)[0] == -errno.EINVAL
    assert _lock(env, env.t, fd, sys_file.F_SETLK, locks.F_WRLCK, 5, -5)[0] == 0


def test_flock_conversion_drops_old_lock_on_conflict(env):
    child = make_task(env.kernel, env.vfs, tid=2)
    a = _open(env, b"/tmp/fl")
    b = _open(env, b"/tmp/fl", t=child)
    assert env.call(sys_file.flock, a, locks.LOCK_SH) == 0
    assert env.call(sys_file.flock, b, locks.LOCK_SH, t=child) == 0
    # Upgrading fails against the other shared lock, and the old one is gone
    # (flock(2): conversion is not atomic).
    assert env.call(sys_file.flock, a, locks.LOCK_EX | locks.LOCK_NB) == -errno.EWOULDBLOCK
    assert env.call(sys_file.flock, b, locks.LOCK_EX | locks.LOCK_NB, t=child) == 0


# ----------------------------------------------------------- removed dirs
def test_create_in_removed_directory_is_enoent(env):
    e = env
    assert e.call(sys_fs.mkdir, e.put(b"/tmp/gone"), 0o755) == 0
    dfd = e.call(sys_file.open, e.put(b"/tmp/gone"), abi.O_RDONLY | abi.O_DIRECTORY)
    assert e.call(sys_fs.chdir, e.put(b"/tmp/gone")) == 0
    assert e.call(sys_fs.rmdir, e.put(b"/tmp/gone")) == 0
    assert e.call(sys_file.open, e.put(b"x"), abi.O_CREAT | abi.O_WRONLY, 0o644) == -errno.ENOENT
    assert e.call(sys_fs.mkdir, e.put(b"sub"), 0o755) == -errno.ENOENT
    assert e.call(sys_fs.symlink, e.put(b"t"), e.put(b"l")) == -errno.ENOENT
    assert e.call(sys_file.open, e.put(b"x"), abi.O_RDONLY) == -errno.ENOENT
    buf = e.alloc(256)
    assert e.call(sys_fs.getdents64, dfd, buf, 256) == -errno.ENOENT
    assert e.call(sys_fs.chdir, e.put(b"..")) == 0
    assert e.call(sys_fs.mkdir, e.put(b"gone"), 0o755) == 0  # a new directory is alive


def test_directory_replaced_by_rename_is_dead(env):
    e = env
    assert e.call(sys_fs.mkdir, e.put(b"/tmp/a"), 0o755) == 0
    assert e.call(sys_fs.mkdir, e.put(b"/tmp/b"), 0o755) == 0
    assert e.call(sys_fs.chdir, e.put(b"/tmp/b")) == 0
    assert e.call(sys_fs.rename, e.put(b"/tmp/a"), e.put(b"/tmp/b")) == 0
    assert e.call(sys_file.open, e.put(b"x"), abi.O_CREAT | abi.O_WRONLY, 0o644) == -errno.ENOENT
    assert e.call(sys_file.open, e.put(b"/tmp/b/x"), abi.O_CREAT | abi.O_WRONLY, 0o644) >= 0


# --------------------------------------------------------------- EFAULT
def _file_with(env, data):
    fd = _open(env, b"/tmp/data")
    assert env.call(sys_file.write, fd, env.put(data), len(data)) == len(data)
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_SET) == 0
    return fd


def test_read_efault_keeps_offset(env):
    fd = _file_with(env, b"0123456789")
    unmapped = env.t.mem.base + len(env.t.mem.buf) + 4096  # in the user range, not mapped
    assert env.call(sys_file.read, fd, unmapped, 10) == -errno.EFAULT
    assert env.call(sys_file.read, fd, 1, 10) == -errno.EFAULT
    assert env.call(sys_file.read, fd, 0xFFFFFFFFFF600000, 10) == -errno.EFAULT
    iov = env.alloc(16)
    env.t.mem.write(iov, struct.pack("<QQ", unmapped, 10))
    assert env.call(sys_file.readv, fd, iov, 1) == -errno.EFAULT
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_CUR) == 0
    out = env.alloc(16)
    assert env.call(sys_file.read, fd, out, 16) == 10


def test_read_short_copy_moves_offset_by_copied_bytes(env):
    fd = _file_with(env, b"0123456789")
    end = env.t.mem.base + len(env.t.mem.buf)  # page aligned: the last 6 bytes are mapped
    assert env.call(sys_file.read, fd, end - 6, 10) == 6
    assert env.t.mem.read(end - 6, 6) == b"012345"
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_CUR) == 6


def test_pipe_read_efault_keeps_data(env):
    fds = env.alloc(8)
    assert env.call(sys_pipe.pipe2, fds, abi.O_NONBLOCK) == 0
    r, w = struct.unpack("<ii", env.t.mem.read(fds, 8))
    assert env.call(sys_file.write, w, env.put(b"hello"), 5) == 5
    unmapped = env.t.mem.base + len(env.t.mem.buf) + 4096
    assert env.call(sys_file.read, r, unmapped, 5) == -errno.EFAULT
    out = env.alloc(8)
    assert env.call(sys_file.read, r, out, 8) == 5
    assert env.t.mem.read(out, 5) == b"hello"


def test_huge_counts_are_efault(env):
    fd = _file_with(env, b"0123456789")
    buf = env.alloc(64)
    assert env.call(sys_file.read, fd, buf, SIZE_MAX) == -errno.EFAULT
    assert env.call(sys_file.read, fd, buf, SSIZE_MAX) == -errno.EFAULT
    assert env.call(sys_file.write, fd, buf, SIZE_MAX) == -errno.EFAULT
    assert env.call(sys_file.pread64, fd, buf, SIZE_MAX, 0) == -errno.EFAULT
    iov = env.alloc(32)
    env.t.mem.write(iov, struct.pack("<QQQQ", buf, SSIZE_MAX, buf, SSIZE_MAX))
    assert env.call(sys_file.writev, fd, iov, 2) == -errno.EFAULT
    assert env.call(sys_file.readv, fd, iov, 2) == -errno.EFAULT
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_CUR) == 0
    # A count past MAX_RW_COUNT inside the address space is clamped, not refused.
    assert env.call(sys_file.read, fd, buf, 1 << 40) == 10


def test_negative_offset_checked_before_fd(env):
    buf = env.alloc(8)
    assert env.call(sys_file.pread64, 999, buf, 4, -4) == -errno.EINVAL
    assert env.call(sys_file.pwrite64, 999, buf, 4, -4) == -errno.EINVAL


@pytest.mark.parametrize("path", [b"/etc/passwd", b"/proc/meminfo"])
def test_read_efault_keeps_offset_of_gofer_and_proc_files(env, path):
    fd = env.call(sys_file.open, env.put(path), abi.O_RDONLY)
    assert fd >= 0
    unmapped = env.t.mem.base + len(env.t.mem.buf) + 4096
    assert env.call(sys_file.read, fd, unmapped, 8) == -errno.EFAULT
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_CUR) == 0


def test_read_efault_keeps_offset_of_host_file(env, tmp_path):
    from sentry.fsimpl.host.host import HostFileDescription

    p = tmp_path / "hostfile"
    p.write_bytes(b"0123456789")
    fd = env.t.fdtable.install(HostFileDescription(os.open(p, os.O_RDONLY)))
    unmapped = env.t.mem.base + len(env.t.mem.buf) + 4096
    assert env.call(sys_file.read, fd, unmapped, 8) == -errno.EFAULT
    assert env.call(sys_file.lseek, fd, 0, abi.SEEK_CUR) == 0
