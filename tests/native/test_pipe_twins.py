"""C's pipe path (rt.c "pipes") and its Python twin give the same results on the same state.

The test process plays the workload, as in test_fast_twins: two pipes, one driven through
the C handler (``rt_fast_call``) and, where C declines, through the Python handler on the
same descriptions (as the loop would go on), the other through the Python handler only.
Results, bytes read, the pipes' fill (bytes, slots, the room a write finds) and the memory
account must agree after every call, and C must have served the calls it is there for.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import random
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from helpers.selftask import drop, py_call, self_task
from sentry.fsimpl.gofer.regular_file import GoferFileDescription
from sentry.fsimpl.host.host import HostInode
from sentry.fsimpl.pipe.pipe import Pipe, new_pipe
from sentry.kernel.memacct import ACCOUNT
from sentry.kernel.task import Task
from sentry.platform.hybrid import native as N
from sentry.syscalls.linux import sys_file
from sentry.vfs import abi

SYS_READ, SYS_WRITE, SYS_SENDFILE = 0, 1, 40
# (read end, write end) of the pipe C serves, of its twin, and the file sendfile reads
C_R, C_W, PY_R, PY_W = 5, 6, 7, 8
C_IN, PY_IN = 9, 10
BAD = 1  # an address that is never mapped
EAGAIN, EFAULT, ENOMEM = 11, 14, 12


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Task]:
    t = self_task()
    table = t.fdtable
    for rfd, wfd in ((C_R, C_W), (PY_R, PY_W)):
        # nonblocking: a call that would wait says EAGAIN instead of parking
        r, w = new_pipe(t, abi.O_NONBLOCK)
        table.install_at(rfd, r)
        table.install_at(wfd, w)
    f = tmp_path / "data"
    f.write_bytes(random.Random(5).randbytes(300_000))
    for fd in (C_IN, PY_IN):
        hfd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
        table.install_at(fd, GoferFileDescription(None, HostInode(hfd), os.O_RDONLY, hfd))
    yield t
    drop(t)


def _pipe(t: Task, fd: int) -> Pipe:
    return t.fdtable.get(fd).pipe  # type: ignore[attr-defined, no-any-return]


_HANDLERS = {SYS_READ: sys_file.read, SYS_WRITE: sys_file.write, SYS_SENDFILE: sys_file.sendfile}


def _c_then_py(t: Task, nr: int, *args: int) -> Tuple[int, bool]:
    """The call through C, or through Python where C declines (as the loop goes on);
    whether C served it."""
    r = N.fast_call(os.getpid(), nr, list(args) + [0] * (6 - len(args)))
    if r is not None:
        return r, True
    return py_call(t, _HANDLERS[nr], nr, *args), False


def _state(p: Pipe) -> Tuple[int, int, int, bool]:
    return p.size, p.nslots, p.free, p.full


def _same(t: Task) -> None:
    assert _state(_pipe(t, C_R)) == _state(_pipe(t, PY_R))


class _Twin:
    """The same calls on both pipes, compared."""

    def __init__(self, t: Task) -> None:
        self.t = t
        self.served: List[Tuple[int, int, bool]] = []

    def write(self, data: bytes) -> int:
        buf = ctypes.create_string_buffer(data, max(len(data), 1))
        addr = ctypes.addressof(buf)
        used = ACCOUNT.used
        rc, by_c = _c_then_py(self.t, SYS_WRITE, C_W, addr, len(data))
        c_charged = ACCOUNT.used - used
        used = ACCOUNT.used
        rp = py_call(self.t, sys_file.write, SYS_WRITE, PY_W, addr, len(data))
        assert (rc, c_charged) == (rp, ACCOUNT.used - used), f"write of {len(data)}"
        _same(self.t)
        self.served.append((SYS_WRITE, len(data), by_c))
        return rc

    def read(self, n: int) -> bytes:
        b1 = ctypes.create_string_buffer(max(n, 1))
        b2 = ctypes.create_string_buffer(max(n, 1))
        rc, by_c = _c_then_py(self.t, SYS_READ, C_R, ctypes.addressof(b1), n)
        rp = py_call(self.t, sys_file.read, SYS_READ, PY_R, ctypes.addressof(b2), n)
        assert rc == rp, f"read of {n}"
        assert b1.raw == b2.raw
        _same(self.t)
        self.served.append((SYS_READ, n, by_c))
        return b1.raw[:max(rc, 0)]

    def sendfile(self, count: int) -> int:
        rc, by_c = _c_then_py(self.t, SYS_SENDFILE, C_W, C_IN, 0, count)
        rp = py_call(self.t, sys_file.sendfile, SYS_SENDFILE, PY_W, PY_IN, 0, count)
        assert rc == rp, f"sendfile of {count}"
        offsets = [self.t.fdtable.get(fd).offset for fd in (C_IN, PY_IN)]
        assert offsets[0] == offsets[1]
        _same(self.t)
        self.served.append((SYS_SENDFILE, count, by_c))
        return rc

    def c_served(self, nr: int) -> List[int]:
        return [n for call, n, by_c in self.served if call == nr and by_c]


def test_writes_and_reads_of_every_size(world: Task) -> None:
    """Writes that merge into the last slot or not, fill the pipe, find it full; reads that
    drain slots or part of one; empty reads."""
    tw = _Twin(world)
    rng = random.Random(1)
    sizes = [1, 17, 100, 4095, 4096, 4097, 5000, 8192, 10000, 65536, 70000]
    got_c = bytearray()
    sent = bytearray()
    for _ in range(400):
        if rng.random() < 0.55:
            data = rng.randbytes(rng.choice(sizes))
            k = tw.write(data)
            if k > 0:
                sent += data[:k]
        else:
            got_c += tw.read(rng.choice(sizes[:-2]))
    got_c += tw.read(1 << 20)
    assert bytes(got_c) == bytes(sent)
    # what C is there for: a write that fits whole into a pipe nothing waits on, a read
    # of a pipe with bytes in it
    assert len(tw.c_served(SYS_WRITE)) > 50 and len(tw.c_served(SYS_READ)) > 50
    assert tw.read(10) == b""  # empty: EAGAIN, Python's
    assert tw.served[-1] == (SYS_READ, 10, False)


def test_a_write_that_does_not_fit_whole(world: Task) -> None:
    """A nonblocking write past PIPE_BUF puts what fits and says how much, in C as in
    Python (pipe_write); a full pipe's EAGAIN is Python's."""
    tw = _Twin(world)
    assert tw.write(b"x" * 60000) == 60000
    # 14 whole slots and one of 2,656 bytes: 10,000's remainder (1,808) does not fit
    # in the last slot, and one free slot takes a page
    assert tw.write(b"y" * 10000) == 4096
    assert tw.served[-1][2] is True
    assert tw.write(b"z") == -EAGAIN  # full
    assert tw.served[-1][2] is False
    tw.read(4096)
    assert tw.write(b"z" * 100) == 100
    assert tw.served[-1][2] is True


def test_read_faults(world: Task) -> None:
    """A read into memory that is not there, wholly or past a page: C declines and leaves
    the pipe as it was; Python copies what it can and keeps the rest."""
    tw = _Twin(world)
    tw.write(bytes(range(256)) * 40)
    rc, by_c = _c_then_py(world, SYS_READ, C_R, BAD, 10)
    assert (rc, by_c) == (-EFAULT, False)
    assert py_call(world, sys_file.read, SYS_READ, PY_R, BAD, 10) == -EFAULT
    _same(world)
    area = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 0) == 0
    at = base + mmap.PAGESIZE - 100
    rc, by_c = _c_then_py(world, SYS_READ, C_R, at, 5000)
    first = area[mmap.PAGESIZE - 100:mmap.PAGESIZE]
    assert (rc, by_c) == (100, False)
    assert py_call(world, sys_file.read, SYS_READ, PY_R, at, 5000) == 100
    assert area[mmap.PAGESIZE - 100:mmap.PAGESIZE] == first == bytes(range(100))
    _same(world)
    assert tw.read(20000) == (bytes(range(256)) * 40)[100:]
    libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 3)
    del first
    area.close()


def test_a_watched_pipe_is_pythons(world: Task) -> None:
    """A subscriber on the queue (a parked call, epoll, poll, O_ASYNC) must hear of every
    change: C leaves the pipe's calls to Python until it goes."""
    tw = _Twin(world)
    heard: List[int] = []
    queue = _pipe(world, C_R).queue
    key = queue.subscribe(0xFFFFFFFF, heard.append)
    tw.write(b"abc")
    tw.read(2)
    assert [by_c for _, _, by_c in tw.served] == [False, False] and heard
    queue.unsubscribe(key)
    tw.write(b"d")
    tw.read(5)
    assert [by_c for _, _, by_c in tw.served][2:] == [True, True]


def test_no_reader_is_pythons(world: Task) -> None:
    """EPIPE and SIGPIPE are Python's: C never writes into a pipe without a reader."""
    p = _pipe(world, C_W)
    p.readers = 0
    try:
        buf = ctypes.create_string_buffer(b"x")
        args = [C_W, ctypes.addressof(buf), 1, 0, 0, 0]
        assert N.fast_call(os.getpid(), SYS_WRITE, args) is None
        assert N.fast_call(os.getpid(), SYS_SENDFILE, [C_W, C_IN, 0, 10, 0, 0]) is None
    finally:
        p.readers = 1
    assert p.size == 0


def test_the_account_refuses_a_page(world: Task, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the memory account spent a write that needs a new slot fails with ENOMEM, and
    C leaves it to Python (which says so); one that merges into the last slot goes."""
    tw = _Twin(world)
    tw.write(b"a" * 100)
    monkeypatch.setattr(ACCOUNT, "limit", ACCOUNT.used)
    assert tw.write(b"b" * 100) == 100
    assert tw.served[-1][2] is True
    # its remainder goes into the last slot, the rest finds no page: a short write (C's,
    # as any write past PIPE_BUF that fits in part)
    assert tw.write(b"c" * 5000) == 904
    assert tw.served[-1][2] is True
    assert tw.write(b"d" * 8192) == -ENOMEM
    assert tw.served[-1][2] is False
    assert tw.sendfile(10) == -ENOMEM
    assert tw.served[-1][2] is False


@pytest.mark.parametrize("start", [0, 100, 4096, 5000])
def test_sendfile_a_slot_per_file_page(world: Task, start: int) -> None:
    """sendfile of a gofer file into the pipe: a slot per file page, only what the free
    slots take, the file's offset moved by what went; a later write never merges into
    a file's page."""
    tw = _Twin(world)
    for fd in (C_IN, PY_IN):
        os.lseek(world.fdtable.get(fd).host_fd, start, os.SEEK_SET)
    for count in (1, 5000, 70000, 300000, 10):
        k = tw.sendfile(count)
        if k == -EAGAIN:  # full
            tw.read(1 << 20)
            k = tw.sendfile(count)
        assert k > 0
        tw.write(b"w")
        tw.read(3000)
    assert len(tw.c_served(SYS_SENDFILE)) >= 3
    while tw.read(1 << 20):
        pass
    # past the end of the file: 0
    for fd in (C_IN, PY_IN):
        os.lseek(world.fdtable.get(fd).host_fd, 0, os.SEEK_END)
    assert tw.sendfile(100) == 0


def test_sendfile_of_anything_but_a_gofer_file_is_pythons(world: Task) -> None:
    """An offset given, a count of 0, a pipe or host file as the input: Python's."""
    off = ctypes.c_int64(0)
    for args in ([C_W, C_IN, ctypes.addressof(off), 10], [C_W, C_IN, 0, 0],
                 [C_W, PY_R, 0, 10], [C_R, C_IN, 0, 10]):
        assert N.fast_call(os.getpid(), SYS_SENDFILE, args + [0, 0]) is None


def test_a_pipe_slot_needs_its_pipe(world: Task) -> None:
    """Only rt_fd_set_pipe marks a slot a pipe's end: a pipe kind without its pipe would
    have C read through no buffer."""
    with pytest.raises(OSError):
        N.fd_set(world.fdtable.fast_id, 20, -1, N.FD_PIPE_R)
    with pytest.raises(OSError):
        N.fd_set(world.fdtable.fast_id, 20, -1, N.FD_PIPE_W | N.FD_READ)


def test_a_parked_read_whose_call_is_gone_is_forgotten(world: Task) -> None:
    """A read parked on the pipe (rt_pipe_wait) whose notification is gone when C puts
    bytes in (here its listener is no listener: the task killed) is only forgotten: not
    copied out, its bytes left in the pipe for another reader; one Python ended itself
    is forgotten without a word."""
    p = _pipe(world, C_R)
    buf = ctypes.create_string_buffer(100)
    assert N.pipe_waits_ended() == []
    assert N.pipe_wait(p.cbuf, -1, 77, os.getpid(), ctypes.addressof(buf), 100)
    assert not N.pipe_wait(p.cbuf, -1, 78, os.getpid(), ctypes.addressof(buf), 100)  # one
    data = ctypes.create_string_buffer(b"hello", 5)
    N.dirc_enable(True)  # (what C may do without Python's notice: inotify turns it off)
    try:
        assert _c_then_py(world, SYS_WRITE, C_W, ctypes.addressof(data), 5) == (5, True)
    finally:
        N.dirc_enable(False)
    assert N.pipe_waits_ended() == [(-1, 77, False, 0)]  # (not handed back: gone)
    assert p.size == 5 and buf.raw[:5] == b"\0" * 5
    assert N.pipe_wait(p.cbuf, -1, 79, os.getpid(), ctypes.addressof(buf), 100)
    assert N.pipe_unwait(p.cbuf, -1, 79) == -1  # (a read's)
    assert _c_then_py(world, SYS_WRITE, C_W, ctypes.addressof(data), 5) == (5, True)
    assert N.pipe_waits_ended() == [] and p.size == 10
