"""rt.c ``sc_fetch`` against a gofer the test plays on a socketpair.

The test process plays the workload (its own memory is the task's, as in
test_fast_twins.py) and, in a thread, the gofer: it reads each Tfetch C sends and
answers what the test says.  C must send the path from the root, '.' and '..' worked
out, or the place's path before a relative one; take a reply whose file is the stat
answer's and give the task a fd that reads it; leave the open to Python (and not ask
again) after a lasting error or another file; ask again after a passing error; and
after a reply that is no Tfetch's, fetch nothing more and say so (rt_fetch_broken).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from gofer.protocol import Rerror, Rfetch, Rwalk, Stat, Tfetch, decode, encode
from helpers.selftask import drop, self_task
from sentry.platform.hybrid import native as N
from sentry.vfs import abi

SYS_READ, SYS_CLOSE, SYS_OPENAT = 0, 3, 257
AT_FDCWD = -100 & (2**64 - 1)
DEV, ROOT_HANDLE, PLACE = 0x5151, 5, 77
INO, SIZE, MTIME, CTIME = 4242, 11, 1_700_000_000_123_456_789, 1_700_000_001_000_000_007


def _stat(ino: int = INO, ctime: int = CTIME) -> Stat:
    """The attributes a reply gives the test's file (the answers' but *ino* and *ctime*)."""
    return Stat(dev=1, ino=ino, mode=0o100644, nlink=1, uid=0, gid=0, rdev=0, size=SIZE,
                blksize=4096, blocks=8, atime_ns=1, mtime_ns=MTIME, ctime_ns=ctime)


class World:
    def __init__(self, tmp: Path, sentry: socket.socket, gofer: socket.socket) -> None:
        self.sentry, self.gofer = sentry, gofer
        self.file = tmp / "content"
        self.file.write_bytes(b"hello fetch")
        self.keep: List[Any] = []
        self.fds: List[int] = []

    def answer(self, path: bytes, base: int = 0, ino: int = INO, mode: int = 0o100644,
               dev: int = DEV) -> None:
        """The stat cache's answer for *path* (a regular file everyone may read)."""
        st = abi.pack_stat_values(dev, ino, 1, mode, 0, 0, 0, SIZE, 4096, 8, 1, MTIME, CTIME)
        N.statcache_put(N.SC_STAT, base, False, path, st, 0, N.statcache_gen())

    def open(self, path: bytes, reply: Optional[Callable[[Tfetch], Tuple[bytes, int]]]
             ) -> Tuple[Optional[int], Optional[Tfetch]]:
        """openat(AT_FDCWD, path, O_RDONLY) through C, the test's gofer answering with
        *reply* (None: it expects no request); the fd C gave (None: Python's) and the
        request it got."""
        got: List[Tfetch] = []

        def gofer() -> None:
            data = self.gofer.recv(8192)
            req = decode(data)
            assert isinstance(req, Tfetch)
            got.append(req)
            assert reply is not None
            msg, fd = reply(req)
            fds = [fd] if fd >= 0 else []
            if fd == -2:  # (two fds, which no reply carries)
                fds = [os.open(self.file, os.O_RDONLY) for _ in range(2)]
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))
                   ] if fds else []
            try:
                self.gofer.sendmsg([msg], anc)
            finally:
                for x in fds:
                    os.close(x)

        th = threading.Thread(target=gofer, daemon=True)
        if reply is not None:
            th.start()
        c = ctypes.create_string_buffer(path + b"\0")
        self.keep.append(c)
        r = N.fast_call(os.getpid(), SYS_OPENAT, [AT_FDCWD, ctypes.addressof(c), os.O_RDONLY,
                                                  0, 0, 0])
        if reply is not None:
            th.join(10)
        else:
            assert self.pending() is None  # C asked nothing
        fd = None if r is None else int(r)
        if fd is not None:
            self.fds.append(fd)
        return fd, (got[0] if got else None)

    def pending(self) -> Optional[Tfetch]:
        """The request C sent and nobody answered yet (a fetch ahead), None if none."""
        self.gofer.setblocking(False)
        try:
            req = decode(self.gofer.recv(8192))
        except BlockingIOError:
            return None
        finally:
            self.gofer.setblocking(True)
        assert isinstance(req, Tfetch)
        return req

    def read(self, fd: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = N.fast_call(os.getpid(), SYS_READ, [fd, ctypes.addressof(buf), 64, 0, 0, 0])
        assert n is not None and n >= 0
        return buf.raw[:n]

    def fetched(self, ino: int = INO, ctime: int = CTIME) -> Callable[[Tfetch], Tuple[bytes, int]]:
        """A reply with the test's file opened, its attributes those of the answers (but
        *ino* and *ctime*)."""
        def reply(_req: Tfetch) -> Tuple[bytes, int]:
            return (encode(Rfetch(_stat(ino, ctime))),
                    os.open(self.file, os.O_RDONLY | os.O_CLOEXEC))
        return reply


def _error(code: int) -> Callable[[Tfetch], Tuple[bytes, int]]:
    return lambda _req: (encode(Rerror(code)), -1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    t = self_task()
    N.task_set_fs(os.getpid(), PLACE, True, False)
    N.dirc_enable(True)
    N.statcache_bump()  # (a generation of its own: no answer or failure of another test)
    sentry_end, gofer_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    N.fetch_setup(sentry_end.fileno(), ROOT_HANDLE, DEV)
    w = World(tmp_path, sentry_end, gofer_end)
    try:
        yield w
    finally:
        N.fetch_setup(-1, 0, 0)
        N.fetch_place(PLACE, b"")
        for fd in w.fds:
            N.fast_call(os.getpid(), SYS_CLOSE, [fd, 0, 0, 0, 0, 0])
        N.reopen_cap(0)  # (the fds the closes kept go)
        N.reopen_cap(1 << 30)
        N.statcache_bump()
        drop(t)
        sentry_end.close()
        gofer_end.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_fetched_file_is_the_tasks(world: World) -> None:
    before = N.fetch_count()
    world.answer(b"/fetch-test/f")
    fd, req = world.open(b"/fetch-test/f", world.fetched())
    assert req == Tfetch(ROOT_HANDLE, 0, b"fetch-test/f")
    assert fd is not None and world.read(fd) == b"hello fetch"
    assert N.fetch_count() == before + 1 and not N.fetch_broken()
    # '.', '..' and doubled slashes are worked out; a relative path is the place's
    world.answer(b"//fetch-test/./sub/../g")
    fd, req = world.open(b"//fetch-test/./sub/../g", world.fetched())
    assert req is not None and req.path == b"fetch-test/g" and fd is not None
    N.fetch_place(PLACE, b"/the/cwd")
    world.answer(b"rel/h", base=PLACE)
    fd, req = world.open(b"rel/h", world.fetched())
    assert req is not None and req.path == b"the/cwd/rel/h" and fd is not None
    assert world.read(fd) == b"hello fetch"


def test_no_answer_no_fetch(world: World) -> None:
    """Nothing is asked for a path the cache has no answer for, one whose answer is not
    a regular file everyone may read or is another file system's, or one relative to a
    place C was not told of."""
    assert world.open(b"/fetch-test/unknown", None)[0] is None
    world.answer(b"/fetch-test/private", mode=0o100600)
    assert world.open(b"/fetch-test/private", None)[0] is None
    world.answer(b"/fetch-test/other-fs", dev=DEV + 1)
    assert world.open(b"/fetch-test/other-fs", None)[0] is None
    world.answer(b"rel/nowhere", base=PLACE)
    assert world.open(b"rel/nowhere", None)[0] is None


def test_failures_are_pythons(world: World) -> None:
    """A lasting error and another file leave the open to Python and are not asked again
    in the generation; a passing error is asked again; the fd of another file is closed."""
    failures = N.fetch_count(failures=True)
    world.answer(b"/fetch-test/loop")
    assert world.open(b"/fetch-test/loop", _error(errno.ELOOP)) == (None, Tfetch(
        ROOT_HANDLE, 0, b"fetch-test/loop"))
    assert world.open(b"/fetch-test/loop", None)[0] is None
    world.answer(b"/fetch-test/busy")
    for _ in range(2):
        fd, req = world.open(b"/fetch-test/busy", _error(errno.EMFILE))
        assert fd is None and req is not None
    for name, reply in ((b"ino", world.fetched(ino=INO + 1)),
                        (b"ctime", world.fetched(ctime=CTIME + 1))):
        path = b"/fetch-test/other-" + name
        world.answer(path)
        fds = _open_fds()
        fd, req = world.open(path, reply)
        assert fd is None and req is not None and _open_fds() == fds, name
        assert world.open(path, None)[0] is None
    assert N.fetch_count(failures=True) == failures + 5
    # EXDEV (another host mount): the directory's other files are not asked for either
    world.answer(b"/fetch-test/mnt/a")
    world.answer(b"/fetch-test/mnt/b")
    world.answer(b"/fetch-test/b")
    assert world.open(b"/fetch-test/mnt/a", _error(errno.EXDEV))[1] is not None
    assert world.open(b"/fetch-test/mnt/b", None)[0] is None
    assert world.open(b"/fetch-test/b", world.fetched())[0] is not None
    assert not N.fetch_broken()


def test_a_reply_that_is_no_fetchs_stops_fetching(world: World) -> None:
    """Another message, an Rfetch without its fd or with two: C fetches nothing more and
    says so; no fd stays open."""
    world.answer(b"/fetch-test/a")
    fds = _open_fds()

    fetched = encode(Rfetch(_stat()))
    # (fd -2: the test's gofer sends two fds, which no reply carries)
    for name, reply in (("another message", lambda _r: (encode(Rwalk([])), -1)),
                        ("no fd", lambda _r: (fetched, -1)), ("two fds", lambda _r: (fetched, -2))):
        N.fetch_setup(world.sentry.fileno(), ROOT_HANDLE, DEV)
        assert not N.fetch_broken()
        fd, req = world.open(b"/fetch-test/a", reply)
        assert fd is None and req is not None and N.fetch_broken(), name
        assert world.open(b"/fetch-test/a", None)[0] is None, name
    assert _open_fds() == fds


def test_files_opened_in_listing_order_are_fetched_ahead(world: World) -> None:
    """Once an open is of the file after the one opened before in its directory's listing,
    C asks for the regular file after it too, without waiting (a directory, a symlink and
    a name with no answer are passed over); the next open takes that fd without a request
    of its own.  A reply that comes after a change (a bump, the file's copy-up) is not
    kept (its fd is closed), and a pending reply is read before anything else uses the
    channel (fetch_settle, which Python's requests call first).  An open out of that
    order asks nothing ahead; while the order holds, the first file of a directory goes
    on with it."""
    # (a reply that does not come fails the test rather than hanging it)
    world.sentry.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 5, 0))
    names = [b"a", b"b", b"sub", b"ln", b"nothing", b"c", b"d", b"e"]
    files = [b"a", b"b", b"c", b"d", b"e"]
    ino = {n: INO + 1 + i for i, n in enumerate(files)}

    def answers(top: bytes = b"/ahead/", listing: Optional[List[bytes]] = None) -> None:
        """This generation's lstat and stat answers, and the directory's names."""
        gen = N.statcache_gen()
        for n in files if listing is None else listing:
            st = abi.pack_stat_values(DEV, ino.get(n, INO), 1, 0o100644, 0, 0, 0, SIZE, 4096,
                                      8, 1, MTIME, CTIME)
            for nofollow in (True, False):
                N.statcache_put(N.SC_STAT, 0, nofollow, top + n, st, 0, gen)
        if listing is None:
            N.statcache_put(N.SC_STAT, 0, True, top + b"sub", abi.pack_stat_values(
                DEV, 9, 2, 0o40755, 0, 0, 0, 4096, 4096, 8, 1, MTIME, CTIME), 0, gen)
            N.statcache_put(N.SC_STAT, 0, True, top + b"ln", abi.pack_stat_values(
                DEV, 10, 1, 0o120777, 0, 0, 0, 1, 4096, 8, 1, MTIME, CTIME), 0, gen)
            N.statcache_put(N.SC_STAT, 0, False, top + b"ln", abi.pack_stat_values(
                DEV, ino[b"e"], 1, 0o100644, 0, 0, 0, SIZE, 4096, 8, 1, MTIME, CTIME), 0, gen)
        N.statcache_put_dir(0, top, b"".join(n + b"\0" for n in (
            names if listing is None else listing)), gen)

    pending = world.pending

    def reply_for(req: Tfetch) -> Tuple[bytes, int]:
        return world.fetched(ino=ino[req.path.rsplit(b"/", 1)[1]])(req)

    def answer(req: Tfetch) -> None:
        msg, fd = reply_for(req)
        world.gofer.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     struct.pack("i", fd))])
        os.close(fd)

    def open_kept(path: bytes) -> int:
        """openat in C with no request of its own (the reply of one asked ahead)."""
        c = ctypes.create_string_buffer(path + b"\0")
        r = N.fast_call(os.getpid(), SYS_OPENAT, [AT_FDCWD, ctypes.addressof(c),
                                                  os.O_RDONLY, 0, 0, 0])
        assert r is not None and r >= 0, path
        world.fds.append(int(r))
        return int(r)

    answers()
    asked, used = N.fetch_ahead_count(), N.fetch_ahead_count(used=True)
    assert world.open(b"/ahead/a", reply_for)[0] is not None
    assert pending() is None  # one open: no order yet
    assert world.open(b"/ahead/b", reply_for)[0] is not None
    req = pending()  # b came after a: c ahead (past a directory, a symlink, no answer)
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/c")
    answer(req)
    fd = open_kept(b"/ahead/c")
    assert world.read(fd) == b"hello fetch"
    req = pending()
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/d")
    assert (N.fetch_ahead_count(), N.fetch_ahead_count(used=True)) == (asked + 2, used + 1)
    # a change before the reply came: the fd is not kept, d is fetched again
    answer(req)
    N.statcache_bump()
    answers()
    fds = _open_fds()
    fd, req = world.open(b"/ahead/d", reply_for)
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/d") and fd is not None
    assert _open_fds() == fds + 1  # (d's fd; the one that came ahead was closed)
    # d was the one expected (the order goes on across the change): e is asked ahead
    req = pending()
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/e")
    answer(req)
    assert world.read(open_kept(b"/ahead/e")) == b"hello fetch"
    assert pending() is None  # (no file after e)
    # out of order: c is neither the one expected nor its directory's first
    assert world.open(b"/ahead/c", reply_for)[0] is not None
    assert pending() is None
    # in order again (d after c): e ahead, whose reply is read before the channel's next
    # use (Python's request here)
    world.open(b"/ahead/d", reply_for)
    req = pending()
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/e")
    answer(req)
    N.fetch_settle()
    world.gofer.sendmsg([encode(Rerror(errno.EIO))])  # (what Python's request would read)
    assert decode(world.sentry.recv(8192)) == Rerror(errno.EIO)
    assert world.read(open_kept(b"/ahead/e")) == b"hello fetch"
    # e copied up (statcache.forget of its inode: no bump) after it was asked ahead: the
    # fd that comes is not kept, and e's open is Python's (its answers went too)
    world.open(b"/ahead/c", reply_for)
    world.open(b"/ahead/d", reply_for)
    req = pending()
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/e")
    fds = _open_fds()
    N.statcache_forget(ino[b"e"])
    answer(req)
    assert world.open(b"/ahead/e", None)[0] is None
    assert _open_fds() == fds
    # while the order holds (d was expected; e's open was Python's), the first file of a
    # directory goes on with it: a asks b ahead, and so on to e; then another directory's
    answers()
    world.open(b"/ahead/a", reply_for)
    req = pending()
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead/b")
    answer(req)
    open_kept(b"/ahead/b")
    answer(pending())
    open_kept(b"/ahead/c")
    answer(pending())
    open_kept(b"/ahead/d")
    answer(pending())
    open_kept(b"/ahead/e")
    assert pending() is None
    files.extend([b"x", b"y"])
    ino.update({b"x": INO + 20, b"y": INO + 21})
    answers(b"/ahead2/", [b"x", b"y"])
    world.open(b"/ahead2/x", reply_for)
    req = pending()
    assert req == Tfetch(ROOT_HANDLE, 0, b"ahead2/y")
    answer(req)
    assert world.read(open_kept(b"/ahead2/y")) == b"hello fetch"
    assert not N.fetch_broken()
