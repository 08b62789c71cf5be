"""sentry/vfs/fsnotify.py and the inotify instance: what the differential test
(tests/syscalls/src/inotify.c) cannot see -- bounded queues, the cost-free state
without watches, watches ending with their instance, the C fast path standing aside."""

from __future__ import annotations

import errno
import os

import pytest

from sentry.fsimpl.inotify import inotify as ino
from sentry.syscalls.linux import sys_file, sys_inotify
from sentry.vfs import abi, fsnotify
from sentry.vfs.fsnotify import IN_ACCESS, IN_ALL_EVENTS, IN_IGNORED, IN_MODIFY, IN_Q_OVERFLOW

from vfs_testlib import Env


@pytest.fixture(autouse=True)
def _no_leftover_watches():
    yield
    assert fsnotify.active == 0, "a test left watches behind"


def _read_all(d: ino.InotifyFileDescription) -> list:
    data = d.read(None, 1 << 30) if d.events else b""
    out, pos = [], 0
    while pos < len(data):
        wd, mask, cookie, n = ino._EVENT.unpack_from(data, pos)
        name = data[pos + 16:pos + 16 + n].rstrip(b"\0")
        out.append((wd, mask, cookie, name))
        pos += 16 + n
    return out


def test_queue_is_bounded_with_one_overflow_event():
    d = ino.InotifyFileDescription(abi.O_NONBLOCK)
    try:
        for i in range(ino.MAX_QUEUED_EVENTS + 5000):
            d.deliver(1, IN_MODIFY, 0, b"n%d" % i)
        assert len(d.events) == ino.MAX_QUEUED_EVENTS + 1
        assert d.events[-1] == ino._OVERFLOW
        assert d.nbytes == sum(len(e) for e in d.events)
        evs = _read_all(d)
        assert evs[-1] == (-1, IN_Q_OVERFLOW, 0, b"")
        d.deliver(1, IN_MODIFY, 0, b"again")  # room again, and a new overflow may come
        assert _read_all(d) == [(1, IN_MODIFY, 0, b"again")] and not d.overflowed
    finally:
        d.decref()


def test_merge_only_the_last_identical_event():
    d = ino.InotifyFileDescription(abi.O_NONBLOCK)
    try:
        d.deliver(1, IN_MODIFY, 0, b"f")
        d.deliver(1, IN_MODIFY, 7, b"f")  # the cookie is not compared
        d.deliver(1, IN_ACCESS, 0, b"f")
        d.deliver(1, IN_MODIFY, 0, b"f")
        d.deliver(2, IN_IGNORED, 0, b"")
        d.deliver(2, IN_IGNORED, 0, b"")  # never merged into an IN_IGNORED
        assert [(w, m) for w, m, _, _ in _read_all(d)] == [
            (1, IN_MODIFY), (1, IN_ACCESS), (1, IN_MODIFY), (2, IN_IGNORED), (2, IN_IGNORED)]
    finally:
        d.decref()


def test_read_sizes_and_names_padded():
    d = ino.InotifyFileDescription(abi.O_NONBLOCK)
    try:
        d.deliver(1, IN_MODIFY, 0, b"x" * 15)  # 15 + NUL: 16 bytes of name
        d.deliver(1, IN_ACCESS, 0, b"x" * 16)  # 16 + NUL: 32 bytes of name
        with pytest.raises(Exception) as e:
            d.read(None, 31)
        assert getattr(e.value, "errno", None) == errno.EINVAL
        assert len(d.read(None, 32 + 47)) == 32  # the second does not fit: stop there
        assert len(d.read(None, 48)) == 48
    finally:
        d.decref()


def test_watches_end_with_their_instance_and_cost_nothing_after(tmp_path):
    env = Env(str(tmp_path))
    t = env.t
    os.mkdir(tmp_path / "d")
    fd = env.call(sys_inotify.inotify_init1, abi.O_NONBLOCK)
    assert fd >= 0
    wd = env.call(sys_inotify.inotify_add_watch, fd, env.put(b"/d"),
                  IN_ALL_EVENTS)
    assert wd == 1 and fsnotify.active == 1
    inode = env.vfs.resolve(t, abi.AT_FDCWD, b"/d").dentry.inode
    assert inode.watches and inode.watches[0].wd == wd
    f = env.call(sys_file.openat, abi.AT_FDCWD, env.put(b"/d/f"),
                 abi.O_CREAT | abi.O_RDWR, 0o600)
    assert f >= 0
    desc = t.fdtable.get(fd)
    assert [m for _, m, _, _ in _read_all(desc)] == [fsnotify.IN_CREATE, fsnotify.IN_OPEN]
    env.call(sys_file.close, fd)
    assert fsnotify.active == 0 and inode.watches is None
    child = t.fdtable.get(f)
    assert child.notify_inode is not None and child.notify_inode.opens == 1
    env.call(sys_file.close, f)
    assert child.notify_inode.opens == 0


def test_gofer_files_leave_the_fast_path_while_watched(tmp_path):
    from sentry.fsimpl.gofer.regular_file import GoferFileDescription
    from sentry.platform.hybrid import fastfd

    (tmp_path / "g").write_bytes(b"data")
    env = Env(str(tmp_path), overlay=False)
    t = env.t
    desc = env.vfs.open_at(t, abi.AT_FDCWD, b"/g", abi.O_RDONLY, 0)
    try:
        assert isinstance(desc, GoferFileDescription) and desc.host_fd is not None
        assert fastfd.fast_kinds(desc) != 0
        fd = env.call(sys_inotify.inotify_init, 0)
        assert env.call(sys_inotify.inotify_add_watch, fd, env.put(b"/"),
                        IN_ACCESS) == 1
        assert fastfd.fast_kinds(desc) == 0
        env.call(sys_file.close, fd)
        assert fastfd.fast_kinds(desc) != 0
    finally:
        desc.decref()
