"""Every C fast handler and its Python twin give the same result on the same state.

The test process plays the workload: its own memory is the task's memory
(process_vm_readv/writev on itself), and the C tables map its pid to a task.
Each call runs once through the C handler (``rt_fast_call``, which does not
answer anything) on one description and once through the Python handler on a
twin description of the same file, and results, buffers and offsets must agree.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest

from helpers.selftask import drop, py_call, self_task
from sentry.fsimpl.host.host import HostFileDescription
from sentry.kernel.task import Task
from sentry.platform.hybrid import native as N
from sentry.platform.hybrid.fastfd import fast_kinds
from sentry.syscalls.linux import sys_file, sys_process, sys_stat

SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_FSTAT, SYS_LSEEK, SYS_PREAD64 = 0, 1, 3, 5, 8, 17
SYS_GETPID, SYS_GETPPID, SYS_GETTID = 39, 110, 186
C_FD, PY_FD = 5, 6
BAD = 1  # an address that is never mapped


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Tuple[Task, Path]]:
    t = self_task()
    table = t.fdtable
    f = tmp_path / "data"
    f.write_bytes(bytes(range(256)) * 40)
    for fd in (C_FD, PY_FD):
        table.install_at(fd, HostFileDescription(os.open(f, os.O_RDWR | os.O_CLOEXEC), 1000, 1001))
    yield t, f
    drop(t)


def _buf(n: int) -> Tuple[ctypes.Array, int]:
    b = ctypes.create_string_buffer(n)
    return b, ctypes.addressof(b)


def _c(nr: int, *args: int) -> int:
    r = N.fast_call(os.getpid(), nr, list(args) + [0] * (6 - len(args)))
    assert r is not None, f"C fast handler {nr} declined"
    return r


def _fast_lstat(path_addr: int, addr: int) -> Optional[int]:
    """The C fast handler's lstat of the path at *path_addr* into *addr* (None: Python's)."""
    return N.fast_call(os.getpid(), SYS_NEWFSTATAT,
                       [AT_FDCWD & (2**64 - 1), path_addr, addr, AT_SYMLINK_NOFOLLOW, 0, 0])


def _offsets(t: Task) -> Tuple[int, int]:
    return tuple(os.lseek(t.fdtable.get(fd).host_fd, 0, os.SEEK_CUR) for fd in (C_FD, PY_FD))


def test_ids(world: Tuple[Task, Path]) -> None:
    t, _ = world
    for nr, handler in ((SYS_GETPID, sys_process.getpid), (SYS_GETTID, sys_process.gettid),
                        (SYS_GETPPID, sys_process.getppid)):
        assert _c(nr) == py_call(t, handler, nr)
    assert (_c(SYS_GETPID), _c(SYS_GETTID), _c(SYS_GETPPID)) == (7, 9, 3)


def test_user_and_group_ids(world: Tuple[Task, Path]) -> None:
    """getuid/geteuid/getgid/getegid: Python's until the task's ids are mirrored, then C's,
    and again C's after each change the credentials' hook reports."""
    from sentry.kernel import credentials
    from sentry.syscalls.linux import sys_identity as ident

    t, _ = world
    calls = ((102, ident.getuid), (107, ident.geteuid), (104, ident.getgid),
             (108, ident.getegid))
    pid = os.getpid()
    N.task_set(pid, t.tid, t.tgid, 3, t.fdtable.fast_id)         # a fresh slot: no ids
    N.task_del(pid)
    N.task_set(pid, t.tid, t.tgid, 3, t.fdtable.fast_id)
    for nr, _h in calls:
        assert N.fast_call(pid, nr, [0] * 6) is None
    t.creds = credentials.Credentials(uid=1000, euid=1001, gid=2000, egid=2001)
    synced = []

    def sync(c: credentials.Credentials) -> None:
        synced.append(c)
        N.task_set_ids(pid, c.uid, c.euid, c.gid, c.egid)

    old, credentials.on_change = credentials.on_change, sync
    try:
        sync(t.creds)
        for nr, h in calls:
            assert _c(nr) == py_call(t, h, nr)
        assert [_c(nr) for nr, _h in calls] == [1000, 1001, 2000, 2001]
        t.creds.euid = 0                                            # seteuid(0)
        t.creds.egid = 7
        assert [_c(nr) for nr, _h in calls] == [1000, 0, 2000, 7]
        assert all(_c(nr) == py_call(t, h, nr) for nr, h in calls)
    finally:
        credentials.on_change = old


@pytest.mark.parametrize("n", [0, 1, 100, 4096, 20000])
def test_read(world: Tuple[Task, Path], n: int) -> None:
    t, _ = world
    for _ in range(3):
        b1, a1 = _buf(max(n, 1))
        b2, a2 = _buf(max(n, 1))
        assert _c(SYS_READ, C_FD, a1, n) == py_call(t, sys_file.read, SYS_READ, PY_FD, a2, n)
        assert b1.raw == b2.raw
        o1, o2 = _offsets(t)
        assert o1 == o2


def test_read_into_a_bad_buffer(world: Tuple[Task, Path]) -> None:
    t, _ = world
    assert _c(SYS_READ, C_FD, BAD, 10) == py_call(t, sys_file.read, SYS_READ, PY_FD, BAD, 10) == -14
    assert _offsets(t) == (0, 0)


def test_pread_and_lseek(world: Tuple[Task, Path]) -> None:
    t, _ = world
    for off in (0, 7, 10239, 10240, 20000):
        b1, a1 = _buf(64)
        b2, a2 = _buf(64)
        assert _c(SYS_PREAD64, C_FD, a1, 64, off) == \
            py_call(t, sys_file.pread64, SYS_PREAD64, PY_FD, a2, 64, off)
        assert b1.raw == b2.raw
    for off, whence in ((5, 0), (3, 1), (-10, 2), (0, 3), (-1, 0), (0, 9)):
        assert _c(SYS_LSEEK, C_FD, off & (2**64 - 1), whence) == \
            py_call(t, sys_file.lseek, SYS_LSEEK, PY_FD, off & (2**64 - 1), whence)


def test_write(world: Tuple[Task, Path]) -> None:
    t, f = world
    payload = ctypes.create_string_buffer(b"hello, twins", 12)
    addr = ctypes.addressof(payload)
    assert _c(SYS_WRITE, C_FD, addr, 12) == py_call(t, sys_file.write, SYS_WRITE, PY_FD, addr, 12) == 12
    assert _offsets(t) == (12, 12)
    assert _c(SYS_WRITE, C_FD, BAD, 5) == py_call(t, sys_file.write, SYS_WRITE, PY_FD, BAD, 5)
    assert f.read_bytes()[:12] == b"hello, twins"


def test_fstat(world: Tuple[Task, Path]) -> None:
    t, _ = world
    b1, a1 = _buf(144)
    b2, a2 = _buf(144)
    assert _c(SYS_FSTAT, C_FD, a1) == py_call(t, sys_stat.fstat, SYS_FSTAT, PY_FD, a2) == 0
    # same file: only st_ino may not differ either; the whole struct must match
    assert b1.raw == b2.raw
    uid, gid = int.from_bytes(b1.raw[28:32], "little"), int.from_bytes(b1.raw[32:36], "little")
    assert (uid, gid) == (1000, 1001)  # the sandbox owner, not the host's
    assert _c(SYS_FSTAT, C_FD, BAD) == py_call(t, sys_stat.fstat, SYS_FSTAT, PY_FD, BAD) == -14


def test_close(world: Tuple[Task, Path]) -> None:
    t, _ = world
    assert _c(SYS_CLOSE, C_FD) == 0
    # queued for the Python table, which the loop drains before anything else
    assert N.closed_pop() == (t.fdtable.fast_id, C_FD)
    t.fdtable.close_from_fast(C_FD)
    assert py_call(t, sys_file.close, SYS_CLOSE, PY_FD) == 0
    assert C_FD not in t.fdtable and PY_FD not in t.fdtable
    # both now EBADF: C declines (Python answers), Python says EBADF
    assert N.fast_call(os.getpid(), SYS_CLOSE, [C_FD, 0, 0, 0, 0, 0]) is None
    assert py_call(t, sys_file.close, SYS_CLOSE, C_FD) == -9


def test_terminal_ioctls_on_a_regular_file(world: Tuple[Task, Path]) -> None:
    """isatty(3) (TCGETS) and TIOCGWINSZ on a FD_NOTTY slot (a regular file or directory)
    are ENOTTY in C, as Python answers on the same file; any other request goes to Python."""
    t, _ = world
    SYS_IOCTL, TCGETS, TIOCGWINSZ, FIONREAD = 16, 0x5401, 0x5413, 0x541B
    buf, addr = _buf(64)
    table = t.fdtable
    d = table.get(C_FD)
    N.fd_set(table.fast_id, C_FD, d.host_fd, N.FD_READ | N.FD_NOTTY)
    for cmd in (TCGETS, TIOCGWINSZ):
        assert _c(SYS_IOCTL, C_FD, cmd, addr) == -25
        assert py_call(t, sys_file.ioctl, SYS_IOCTL, PY_FD, cmd, addr) == -25
    assert N.fast_call(os.getpid(), SYS_IOCTL, [C_FD, FIONREAD, addr, 0, 0, 0]) is None
    # a host file that is no terminal is mirrored FD_NOTTY: C's answer is Python's
    assert fast_kinds(table.get(PY_FD)) & N.FD_NOTTY
    assert _c(SYS_IOCTL, PY_FD, TIOCGWINSZ, addr) == -25
    N.fd_set(table.fast_id, PY_FD, table.get(PY_FD).host_fd, N.FD_READ)
    assert N.fast_call(os.getpid(), SYS_IOCTL, [PY_FD, TCGETS, addr, 0, 0, 0]) is None  # no NOTTY


SYS_NEWFSTATAT, AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW = 262, -100, 0x1000, 0x100


def _cstr(s: bytes) -> Tuple[ctypes.Array, int]:
    b = ctypes.create_string_buffer(s)
    return b, ctypes.addressof(b)


def test_fstatat_empty_path(world: Tuple[Task, Path]) -> None:
    """glibc's fstat: newfstatat(fd, "", AT_EMPTY_PATH), the same answer as fstat."""
    t, _ = world
    empty_buf, empty = _cstr(b"")
    b1, a1 = _buf(144)
    b2, a2 = _buf(144)
    assert _c(SYS_NEWFSTATAT, C_FD, empty, a1, AT_EMPTY_PATH) == \
        py_call(t, sys_stat.newfstatat, SYS_NEWFSTATAT, PY_FD, empty, a2, AT_EMPTY_PATH) == 0
    assert b1.raw == b2.raw
    # a non-empty path is not an fstat: only the cache may answer, and it is empty here
    name_buf, name = _cstr(b"x")
    assert N.fast_call(os.getpid(), SYS_NEWFSTATAT, [C_FD, name, a1, AT_EMPTY_PATH, 0, 0]) is None
    del name_buf


def test_stat_cache_answers_only_what_it_was_given(world: Tuple[Task, Path]) -> None:
    """The C stat cache: exact (base, nofollow, path) keys, one generation, tasks whose root
    is the sandbox's; anything else goes to Python."""
    st = bytes(range(144))
    pid = os.getpid()
    buf, addr = _buf(144)
    keep = [_cstr(p) for p in (b"/usr/lib/x", b"lib/x", b"/usr/lib/y")]
    abs_path, rel_path, other = (a for _, a in keep)

    def call(path: int, flags: int = 0, dirfd: int = AT_FDCWD) -> int | None:
        return N.fast_call(pid, SYS_NEWFSTATAT, [dirfd & (2**64 - 1), path, addr, flags, 0, 0])

    N.task_set_fs(pid, 77, True, False)
    gen = N.statcache_gen()
    N.statcache_put(N.SC_STAT, 0, False, b"/usr/lib/x", st, 0, gen)
    N.statcache_put(N.SC_STAT, 77, True, b"lib/x", None, -2, gen)
    assert call(abs_path) == 0 and buf.raw == st
    assert call(abs_path, AT_SYMLINK_NOFOLLOW) is None  # another key
    assert call(other) is None
    assert call(rel_path, AT_SYMLINK_NOFOLLOW) == -2     # a kept ENOENT
    assert call(rel_path) is None
    assert call(rel_path, AT_SYMLINK_NOFOLLOW, dirfd=C_FD) is None  # not the cwd
    assert call(abs_path, 0x800) == 0                    # AT_NO_AUTOMOUNT changes nothing
    assert call(abs_path, 0x4000) is None                # any other flag: Python checks it
    N.task_set_fs(pid, 78, True, False)                         # chdir: relative names mean others
    assert call(rel_path, AT_SYMLINK_NOFOLLOW) is None
    assert call(abs_path) == 0
    N.task_set_fs(pid, 78, False, False)                        # chroot: nothing from the cache
    assert call(abs_path) is None
    N.task_set_fs(pid, 78, True, False)
    assert call(abs_path, 0, dirfd=0) == 0               # dirfd is ignored for an absolute path
    assert N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), abs_path, BAD, 0, 0, 0]) == -14
    N.statcache_bump()                                   # any change: every answer is stale
    assert call(abs_path) is None
    N.statcache_put(N.SC_STAT, 0, False, b"/usr/lib/x", st, 0, gen)  # made before: refused
    assert call(abs_path) is None


def test_stat_cache_a_new_name_stales_only_errors(world: Tuple[Task, Path]) -> None:
    """rt_statcache_bump_missing (a name appeared): the kept ENOENTs go, the answers about
    files that exist and the listed names stay; a full bump takes everything."""
    st = bytes(range(144))
    pid = os.getpid()
    buf, addr = _buf(144)
    keep = [_cstr(p) for p in (b"/usr/lib/here", b"/tmp/new", b"/usr/share/nope")]
    here, new, nope = (a for _, a in keep)

    N.task_set_fs(pid, 9, True, False)
    gen = N.statcache_gen()
    N.statcache_put(N.SC_STAT, 0, True, b"/usr/lib/here", st, 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/tmp/new", None, -2, gen)
    N.statcache_put_dir(0, b"/usr/share/", b"doc\0man\0", gen)
    assert [_fast_lstat(a, addr) for a in (here, new, nope)] == [0, -2, -2]
    N.statcache_bump_missing()
    assert N.statcache_gen() == gen                   # the answers put with it still count
    assert _fast_lstat(new, addr) is None                # the kept error is gone
    assert _fast_lstat(here, addr) == 0 and buf.raw == st  # what exists stays
    assert _fast_lstat(nope, addr) == -2                 # a listed directory's names stay
    N.statcache_put(N.SC_STAT, 0, True, b"/tmp/new", None, -2, gen)  # kept again
    assert _fast_lstat(new, addr) == -2
    N.statcache_bump()
    assert [_fast_lstat(a, addr) for a in (here, new, nope)] == [None, None, None]


def test_stat_cache_a_removed_name_stales_its_file_and_errors(world: Tuple[Task, Path]) -> None:
    """rt_statcache_removed(ino) (a lower-layer file's name went): the answers about that
    file go, a readlink's EINVAL kept with its inode number too; the answers about other
    files, the kept ENOENTs of a known directory and the generation stay.  An EINVAL with
    no inode number is not kept (nothing would drop it)."""
    from sentry.vfs import abi

    SYS_READLINK = 89
    pid = os.getpid()
    buf, addr = _buf(144)
    keep = [_cstr(p) for p in (b"/r/gone", b"/r/kept", b"/r/nope", b"/r/file")]
    gone, kept, nope, file = (a for _, a in keep)

    def st(ino: int) -> bytes:
        return abi.pack_stat_values(0x99, ino, 1, 0o100644, 0, 0, 0, 7, 4096, 8, 1, 2, 3)

    def call(nr: int, path: int) -> int | None:
        if nr == SYS_NEWFSTATAT:
            return N.fast_call(pid, nr, [AT_FDCWD & (2**64 - 1), path, addr,
                                         AT_SYMLINK_NOFOLLOW, 0, 0])
        return N.fast_call(pid, nr, [path, addr, 144, 0, 0, 0])  # readlink

    N.task_set_fs(pid, 13, True, False)
    gen = N.statcache_gen()
    N.statcache_put(N.SC_STAT, 0, True, b"/r/gone", st(501), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/r/kept", st(502), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/r/nope", None, -2, gen, 600)  # missing in /r
    N.statcache_put(N.SC_LINK, 0, True, b"/r/file", None, -22, gen)
    assert call(SYS_READLINK, file) is None               # no inode number: not kept
    N.statcache_put(N.SC_LINK, 0, True, b"/r/file", None, -22, gen, 501)
    assert call(SYS_NEWFSTATAT, gone) == 0 and call(SYS_NEWFSTATAT, kept) == 0
    assert call(SYS_READLINK, file) == -22 and call(SYS_NEWFSTATAT, nope) == -2
    assert call(SYS_READLINK, kept) == -22             # (from its lstat answer)
    N.statcache_removed(501)
    assert N.statcache_gen() == gen
    assert call(SYS_NEWFSTATAT, gone) is None          # the file's own answer
    assert call(SYS_READLINK, file) is None            # its EINVAL went with it
    assert call(SYS_NEWFSTATAT, kept) == 0 and buf.raw == st(502)  # another file's
    assert call(SYS_READLINK, kept) == -22             # (still from its lstat answer)
    assert call(SYS_NEWFSTATAT, nope) == -2            # a missing name stays missing
    # Another file's removal leaves an EINVAL, its own drops it.
    N.statcache_put(N.SC_LINK, 0, True, b"/r/file", None, -22, gen, 503)
    N.statcache_removed(502)
    assert call(SYS_READLINK, file) == -22
    N.statcache_removed(503)
    assert call(SYS_READLINK, file) is None
    N.statcache_bump()


def test_stat_cache_a_new_name_stales_its_directorys_errors(world: Tuple[Task, Path]) -> None:
    """rt_statcache_appeared(dir) (a name appeared in a directory): a kept ENOENT whose
    lookup failed in that directory goes; one of another directory stays; one of no known
    directory goes (as at rt_statcache_bump_missing)."""
    pid = os.getpid()
    buf, addr = _buf(144)
    keep = [_cstr(p) for p in (b"/a/x", b"/b/y", b"/c/z")]
    ax, by, cz = (a for _, a in keep)

    N.task_set_fs(pid, 14, True, False)
    gen = N.statcache_gen()
    N.statcache_put(N.SC_STAT, 0, True, b"/a/x", None, -2, gen, 601)
    N.statcache_put(N.SC_STAT, 0, True, b"/b/y", None, -2, gen, 602)
    N.statcache_put(N.SC_STAT, 0, True, b"/c/z", None, -2, gen)  # no directory said
    assert [_fast_lstat(a, addr) for a in (ax, by, cz)] == [-2, -2, -2]
    N.statcache_appeared(602)
    assert [_fast_lstat(a, addr) for a in (ax, by, cz)] == [-2, None, None]
    N.statcache_appeared(601)
    assert _fast_lstat(ax, addr) is None
    N.statcache_put(N.SC_STAT, 0, True, b"/a/x", None, -2, gen, 601)  # kept again
    assert _fast_lstat(ax, addr) == -2
    N.statcache_bump_missing()                           # a name appeared, anywhere
    assert _fast_lstat(ax, addr) is None
    N.statcache_put(N.SC_STAT, 0, True, b"/a/x", None, -2, gen, 601)
    N.statcache_bump()
    assert _fast_lstat(ax, addr) is None


def test_stat_cache_forget_drops_one_file(world: Tuple[Task, Path]) -> None:
    """rt_statcache_forget(ino) (the overlay copies the file up): its stat and statx
    answers under every path go, with the listing of a directory of that number (names
    and the directory C opens), every listing whose directory was not said, and the fstat
    answer of a fd C opened on it; the other answers and the generation stay."""
    from gofer.protocol import Stat, _pack_stat_entries
    from sentry.vfs import abi
    from sentry.vfs.inode import Stat as VStat

    t, _ = world
    pid = os.getpid()
    N.task_set_fs(pid, 12, True, False)
    N.dirc_enable(True)
    dev, gen = 0x4321, N.statcache_gen()

    def st(ino: int, mode: int = 0o100644) -> bytes:
        return abi.pack_stat_values(dev, ino, 1, mode, 0, 0, 0, 7, 4096, 8, 1, 2, 3)

    def stx(ino: int) -> bytes:
        return abi.pack_statx(VStat(dev=dev, ino=ino, mode=0o100644, nlink=1, uid=0, gid=0,
                                    rdev=0, size=7, blksize=4096, blocks=8, atime_ns=1,
                                    mtime_ns=2, ctime_ns=3), 0, 9)

    buf, addr = _buf(256)
    keep: list = []

    def stat(p: bytes, follow: bool = False) -> int | None:
        keep.append(c := _cstr(p))
        return N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), c[1], addr,
                                                 0 if follow else AT_SYMLINK_NOFOLLOW, 0, 0])

    def statx(p: bytes) -> int | None:
        keep.append(c := _cstr(p))
        return N.fast_call(pid, 332, [AT_FDCWD & (2**64 - 1), c[1], AT_SYMLINK_NOFOLLOW,
                                      0x7FF, addr, 0])

    def opendir(p: bytes) -> int | None:
        keep.append(c := _cstr(p))
        return N.fast_call(pid, 257, [AT_FDCWD & (2**64 - 1), c[1], 0o200000, 0, 0, 0])

    # /d (ino 20) holds a (10), b (11) and ln -> a; /e's listing is of no known directory,
    # /f's of 21; /k (5) is kept for C to open, with one entry
    N.statcache_put(N.SC_STAT, 0, True, b"/d/a", st(10), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/d/b", st(11), 0, gen)
    N.statcache_put(N.SC_STAT, 0, False, b"/d/ln", st(10), 0, gen)  # followed: a's answer
    N.statcache_put(N.SC_STATX, 0, True, b"/d/a", stx(10), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/d/gone", None, -2, gen)
    N.statcache_put_dir(0, b"/d/", b"a\0b\0ln\0", gen, 20)
    N.statcache_put_dir(0, b"/e/", b"x\0", gen)
    N.statcache_put_dir(0, b"/f/", b"x\0", gen, 21)
    wire = _pack_stat_entries([(b"z", Stat(77, 30, 0o100644, 1, 0, 0, 0, 1, 4096, 8, 1, 2,
                                           3))])[4:]
    me = abi.pack_stat_values(dev, 5, 2, 0o40755, 0, 0, 0, 4096, 4096, 8, 1, 2, 3)
    fds: list = []
    try:
        assert N.statcache_put_dirc(0, b"/k", me, 4, dev, 9, wire, 1, gen)
        assert stat(b"/d/a") == 0 and statx(b"/d/a") == 0 and stat(b"/d/ln", True) == 0
        assert stat(b"/d/b") == 0 and stat(b"/d/gone") == -2 and stat(b"/d/nope") == -2
        assert stat(b"/e/nope") == -2 and stat(b"/f/nope") == -2
        fds.append(fd := opendir(b"/k"))
        assert fd is not None and fd >= 0 and _c(SYS_FSTAT, fd, addr) == 0
        N.statcache_forget(10)                                    # a: its answers only
        assert N.statcache_gen() == gen
        assert stat(b"/d/a") is None and statx(b"/d/a") is None
        assert stat(b"/d/ln", True) is None                       # a's answer, by another path
        assert stat(b"/d/b") == 0 and stat(b"/d/gone") == -2      # the rest stays
        assert stat(b"/d/nope") == -2 and stat(b"/f/nope") == -2  # d's and f's names
        assert stat(b"/e/nope") is None                           # no directory said: gone
        assert _c(SYS_FSTAT, fd, addr) == 0
        fds.append(again := opendir(b"/k"))                       # C opens it (closed below)
        assert again is not None
        N.statcache_forget(20)                                    # d: its names
        assert stat(b"/d/nope") is None and stat(b"/d/b") == 0 and stat(b"/f/nope") == -2
        N.statcache_forget(5)                                     # k: opened in Python now,
        assert opendir(b"/k") is None                             # and the open fd's fstat
        assert N.fast_call(pid, SYS_FSTAT, [fd, addr, 0, 0, 0, 0]) is None
        assert stat(b"/k/z") == 0                                 # its entries' answers stay
        N.statcache_put(N.SC_STAT, 0, True, b"/d/a", st(10), 0, gen)  # kept again, same gen
        assert stat(b"/d/a") == 0
    finally:
        for fd in fds:
            if fd is not None and fd >= 0:
                N.fast_call(pid, SYS_CLOSE, [fd, 0, 0, 0, 0, 0])
        N.dirc_enable(False)
        while N.opened_pop() is not None:
            pass


def _answer(fill: int, mode: int, size: int = 144, mode_at: int = 24, mode_len: int = 4) -> bytes:
    """A kept stat (or statx: size 256, mode at 28, 2 bytes) answer: *fill* bytes, *mode*."""
    b = bytearray([fill]) * size
    b[mode_at:mode_at + mode_len] = mode.to_bytes(mode_len, "little")
    return bytes(b)


S_IFREG, S_IFLNK = 0o100000, 0o120000


def test_stat_cache_put_listing(world: Tuple[Task, Path]) -> None:
    """A listed directory's answers in one call are the ones the per-answer puts give:
    each kept entry's lstat, the stat of the entry it follows to (itself, a sibling), none
    for an entry not kept, and the listing's names (a name not there is ENOENT)."""
    import array

    pid = os.getpid()
    N.task_set_fs(pid, 11, True, False)
    buf, addr = _buf(144)
    gen = N.statcache_gen()
    names = [b"file", b"link", b"dangling", b"mnt"]
    stats = [_answer(i + 1, m) for i, m in enumerate((S_IFREG, S_IFLNK, S_IFLNK, S_IFREG))]
    has = bytes([1, 1, 1, 0])                      # "mnt": a mount point, not kept
    follow = array.array("i", [0, 0, -1, -1])     # link -> file; dangling: no stat answer
    N.statcache_put_listing(0, b"/lst/", b"".join(n + b"\0" for n in names), 4,
                            b"".join(stats), None, follow.tobytes(), has, gen)

    def call(name: bytes, flags: int) -> int | None:
        c = _cstr(b"/lst/" + name)
        return N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), c[1], addr, flags, 0, 0])

    for name, i in ((b"file", 0), (b"link", 1), (b"dangling", 2)):
        assert call(name, AT_SYMLINK_NOFOLLOW) == 0 and buf.raw == stats[i], name
    assert call(b"file", 0) == 0 and buf.raw == stats[0]         # (its lstat answer)
    assert call(b"link", 0) == 0 and buf.raw == stats[0]         # followed to its sibling
    assert call(b"dangling", 0) is None                          # Python follows it
    assert call(b"mnt", AT_SYMLINK_NOFOLLOW) is None             # not kept: Python
    assert call(b"other", AT_SYMLINK_NOFOLLOW) == -2             # not in the listing
    N.statcache_put_listing(0, b"/old/", b"x\0", 1, stats[0], None, follow[:1].tobytes(),
                            b"\1", gen - 1)                       # made before a change
    old = _cstr(b"/old/x")
    assert N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), old[1], addr,
                                             AT_SYMLINK_NOFOLLOW, 0, 0]) is None


def test_stat_cache_put_wire(world: Tuple[Task, Path]) -> None:
    """A listing's answers taken by C from the entries as the gofer sent them are the ones
    statcache._fill's Python loop hands over (each entry's packed lstat, a symlink to a
    sibling that is no symlink followed to it, through up to SIBLING_HOPS links to
    siblings, nothing for a mount point or a skipped name, the names); entries that do not
    parse are refused whole."""
    import array

    from gofer.protocol import Stat, _pack_stat_entries
    from sentry.vfs import abi
    from sentry.vfs.statcache import SIBLING_HOPS, sibling_end

    pid = os.getpid()
    N.task_set_fs(pid, 11, True, False)
    gen = N.statcache_gen()
    dev = 0x1234

    def st(ino: int, mode: int, target: bytes | None = None, t: int = 1_700_000_000_123_456_789,
           ) -> Stat:
        s = Stat(77, ino, mode, 3, 1000, 1001, 0x0102, 4096 + ino, 4096, 8, t, t + 1, -t)
        s.target = target
        return s

    entries: list = [
        (b"file", st(10, 0o100644)),
        (b"dir", st(11, 0o40755)),
        (b"to-file", st(12, 0o120777, b"file")),
        (b"to-link", st(13, 0o120777, b"to-file")),       # a link to a link: to file
        (b"loop-a", st(19, 0o120777, b"loop-b")),         # a loop: Python's (ELOOP)
        (b"loop-b", st(20, 0o120777, b"loop-a")),
        (b"away", st(14, 0o120777, b"/etc/passwd")),      # elsewhere: Python's
        (b"dangling", st(15, 0o120777, b"nothing")),
        (b"old", st(16, 0o100600, None, -1_500_000_001)),  # before 1970
        (b"mnt", 99),                                      # a mount point: walked only
        (b"covered", st(17, 0o40700)),                     # the sandbox mounted on it
        (b"plain-link", st(18, 0o120777)),                 # its target not carried
    ]
    # chains to file: c0 through SIBLING_HOPS links (followed), d0 through one more
    for p, n in ((b"c", SIBLING_HOPS), (b"d", SIBLING_HOPS + 1)):
        entries += [(p + b"%d" % k, st(100 + k, 0o120777, p + b"%d" % (k + 1) if k < n - 1
                                       else b"file")) for k in range(n)]
    wire = _pack_stat_entries(entries)[4:]
    assert N.statcache_put_wire(0, b"/w/", wire, len(entries), dev, b"covered\0", gen)
    # the Python loop's answers, as _fill packs them (fs.packed_stat, follow, has)
    names = [n for n, _ in entries]
    index = {n: i for i, n in enumerate(names)}
    stats = [None if isinstance(x, int) or n == b"covered" else abi.pack_stat_values(
        dev, x.ino, x.nlink, x.mode, x.uid, x.gid, x.rdev, x.size, x.blksize, x.blocks,
        x.atime_ns, x.mtime_ns, x.ctime_ns) for n, x in entries]
    follow = array.array("i", [-1] * len(entries))
    listing = dict(entries)
    for i, (_n, x) in enumerate(entries):
        if stats[i] is not None:
            follow[i] = i if x.mode & 0o170000 != 0o120000 else sibling_end(listing, index,
                                                                            stats, x)
    N.statcache_put_listing(0, b"/p/", b"".join(n + b"\0" for n in names), len(names),
                            b"".join(a or bytes(144) for a in stats), None, follow.tobytes(),
                            bytes(a is not None for a in stats), gen)
    buf, addr = _buf(144)

    def call(prefix: bytes, name: bytes, flags: int) -> Tuple[int | None, bytes]:
        c = _cstr(prefix + name)
        r = N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), c[1], addr, flags, 0, 0])
        return r, buf.raw if r == 0 else b""

    for name in names + [b"missing"]:
        for flags in (0, AT_SYMLINK_NOFOLLOW):
            assert call(b"/w/", name, flags) == call(b"/p/", name, flags), (name, flags)
    assert call(b"/w/", b"file", 0)[0] == 0 and call(b"/w/", b"to-file", 0)[0] == 0
    for name in (b"to-link", b"c0", b"d1"):                       # chains to file
        assert call(b"/w/", name, 0) == call(b"/w/", b"file", 0), name
    for name in (b"loop-a", b"d0", b"dangling"):                  # Python's
        assert call(b"/w/", name, 0)[0] is None, name
    assert call(b"/w/", b"away", 0)[0] is None and call(b"/w/", b"mnt", 0)[0] is None
    assert call(b"/w/", b"missing", 0)[0] == -2
    # readlink of a symlink whose target the entry carried: the target, from C
    tbuf, taddr = _buf(64)
    c = _cstr(b"/w/away")
    assert N.fast_call(pid, 89, [c[1], taddr, 64, 0, 0, 0]) == len(b"/etc/passwd")
    assert tbuf.raw[:11] == b"/etc/passwd"
    c = _cstr(b"/w/plain-link")                                       # not carried
    assert N.fast_call(pid, 89, [c[1], taddr, 64, 0, 0, 0]) is None
    c = _cstr(b"/w/file")                                             # no symlink
    assert N.fast_call(pid, 89, [c[1], taddr, 64, 0, 0, 0]) == -22
    # getxattr/lgetxattr of what no such file has (ls -l's questions): ENODATA in C, as
    # GoferInode.getxattr; any other name, or a path without a kept answer: Python
    SYS_GETXATTR, SYS_LGETXATTR = 191, 192
    for path, nr, name, want in (
            (b"/w/file", SYS_GETXATTR, b"security.selinux", -61),
            (b"/w/file", SYS_LGETXATTR, b"system.posix_acl_access", -61),
            (b"/w/dir", SYS_GETXATTR, b"system.posix_acl_default", -61),
            (b"/w/to-file", SYS_LGETXATTR, b"security.capability", -61),
            (b"/w/to-file", SYS_GETXATTR, b"security.selinux", -61),   # followed: file's
            (b"/w/away", SYS_GETXATTR, b"security.selinux", None),     # not followed here
            (b"/w/file", SYS_GETXATTR, b"user.mime_type", None),
            (b"/w/file", SYS_GETXATTR, b"security.selinuxx", None),
            (b"/w/missing", SYS_GETXATTR, b"security.selinux", None)):
        c, n = _cstr(path), _cstr(name)
        assert N.fast_call(pid, nr, [c[1], n[1], taddr, 64, 0, 0]) == want, (path, name)
    # a name with a '/', a short entry, more entries than said: refused, nothing kept
    bad_name = _pack_stat_entries([(b"a/b", st(1, 0o100644))])[4:]
    assert not N.statcache_put_wire(0, b"/b1/", bad_name, 1, dev, b"", gen)
    assert not N.statcache_put_wire(0, b"/b2/", wire[:-3], len(entries), dev, b"", gen)
    assert not N.statcache_put_wire(0, b"/b3/", wire, len(entries) - 1, dev, b"", gen)
    for prefix in (b"/b1/", b"/b2/", b"/b3/"):
        assert call(prefix, b"file", AT_SYMLINK_NOFOLLOW)[0] is None
        assert call(prefix, b"zzz", AT_SYMLINK_NOFOLLOW)[0] is None  # no names kept either


def test_proc_self_exe(world: Tuple[Task, Path]) -> None:
    """readlink("/proc/self/exe") from the task's own answer (rt_task_set_exe): up to
    bufsiz bytes; gone with a change of either generation, a chroot, a new answer."""
    pid = os.getpid()
    N.task_set_fs(pid, 12, True, False)
    buf, addr = _buf(64)
    path = _cstr(b"/proc/self/exe")
    other = _cstr(b"/proc/self/cwd")

    def call(p: int = path[1], size: int = 64) -> int | None:
        return N.fast_call(pid, 89, [p, addr, size, 0, 0, 0])  # readlink

    N.statcache_put(N.SC_STAT, 0, True, b"/warm", bytes(144), 0, N.statcache_gen())
    assert call() is None                             # none given: Python
    N.task_set_exe(pid, b"/usr/bin/busybox", N.statcache_gen())
    assert call() == 16 and buf.raw[:16] == b"/usr/bin/busybox"
    assert call(size=4) == 4 and buf.raw[:4] == b"/usr"
    assert call(other[1]) is None                     # only that path
    N.task_set_fs(pid, 12, False, False)              # chroot'ed
    assert call() is None
    N.task_set_fs(pid, 12, True, False)
    assert call() == 16
    N.statcache_bump_missing()                        # a name appeared (or went)
    assert call() is None
    N.task_set_exe(pid, b"/bin/true", N.statcache_gen())
    assert call() == 9 and buf.raw[:9] == b"/bin/true"
    N.task_set_exe(pid, b"/bin/true", N.statcache_gen() - 1)  # made before a change
    assert call() is None
    N.task_set_exe(pid, b"/bin/true", N.statcache_gen())
    N.statcache_bump()
    assert call() is None
    N.task_set_exe(pid, b"", N.statcache_gen())       # an exec that cannot tell
    assert call() is None


def test_stat_cache_keeps_a_walks_answers(world: Tuple[Task, Path]) -> None:
    """A tree walk's listings hand over thousands of answers before it stats the first
    ones: 12,000 of them (over a third of the table) are all still there, a second put of a path
    replaces its answer, and the ones used recently survive the next 32,768."""
    pid = os.getpid()
    N.task_set_fs(pid, 5, True, False)
    buf, addr = _buf(144)
    gen = N.statcache_gen()
    paths = [b"/walk/d%d/f%d" % (i // 10, i) for i in range(12000)]
    for i, p in enumerate(paths):
        N.statcache_put(N.SC_STAT, 0, True, p, i.to_bytes(4, "little") * 36, 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, paths[0], b"\xee" * 144, 0, gen)

    def call(p: bytes) -> int | None:
        c = _cstr(p)
        return N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), c[1], addr,
                                                 AT_SYMLINK_NOFOLLOW, 0, 0])

    assert call(paths[0]) == 0 and buf.raw == b"\xee" * 144
    for i in range(1, 12000, 97):
        assert call(paths[i]) == 0 and buf.raw == i.to_bytes(4, "little") * 36, paths[i]
    hot = paths[1:12000:97]
    for i in range(32768):
        N.statcache_put(N.SC_STAT, 0, True, b"/other/%d" % i, bytes(144), 0, gen)
        if i % 512 == 0:
            for p in hot:
                assert call(p) == 0, p


def test_stat_cache_statx(world: Tuple[Task, Path]) -> None:
    """statx answers are their own (256-byte struct) and do not depend on the mask."""
    SYS_STATX = 332
    pid = os.getpid()
    N.task_set_fs(pid, 5, True, False)
    keep = _cstr(b"/etc/some")
    buf, addr = _buf(256)
    gen = N.statcache_gen()
    blob = _answer(7, S_IFREG, 256, 28, 2)
    N.statcache_put(N.SC_STATX, 0, True, b"/etc/some", blob, 0, gen)
    link = _cstr(b"/etc/link")
    N.statcache_put(N.SC_STATX, 0, True, b"/etc/link", _answer(8, S_IFLNK, 256, 28, 2), 0, gen)

    def call(flags: int, mask: int) -> int | None:
        return N.fast_call(pid, SYS_STATX, [AT_FDCWD & (2**64 - 1), keep[1], flags, mask, addr, 0])

    assert call(AT_SYMLINK_NOFOLLOW, 0x7FF) == 0 and buf.raw == blob
    assert call(AT_SYMLINK_NOFOLLOW | 0x2000, 0) == 0      # AT_STATX_FORCE_SYNC
    assert call(AT_SYMLINK_NOFOLLOW | 0x6000, 0) is None   # both sync kinds: EINVAL in Python
    assert call(AT_SYMLINK_NOFOLLOW, 0x80000000) is None   # STATX__RESERVED: EINVAL in Python
    assert call(0, 0x7FF) == 0 and buf.raw == blob         # follow: no symlink, the same
    assert N.fast_call(pid, SYS_STATX, [AT_FDCWD & (2**64 - 1), link[1], 0, 0x7FF, addr,
                                        0]) is None        # a symlink's: Python follows it
    # the stat answer of the same path is not the statx one
    assert N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), keep[1], addr,
                                             AT_SYMLINK_NOFOLLOW, 0, 0]) is None


def test_stat_cache_readlink(world: Tuple[Task, Path]) -> None:
    """readlink/readlinkat answers: the target cut to bufsiz (no NUL, the count), kept
    errors, a key of their own (not a stat's), bufsiz <= 0 and other dirfds to Python;
    without an answer of its own, EINVAL for a path whose lstat answer is no symlink's."""
    SYS_READLINK, SYS_READLINKAT = 89, 267
    pid = os.getpid()
    N.task_set_fs(pid, 5, True, False)
    buf, addr = _buf(64)
    gen = N.statcache_gen()
    N.statcache_put(N.SC_LINK, 0, True, b"/usr/bin/cc", b"gcc-12", 0, gen)
    N.statcache_put(N.SC_LINK, 5, True, b"lib", None, -22, gen, 77)  # EINVAL: no symlink
    N.statcache_put(N.SC_LINK, 0, True, b"/long", b"y" * 300, 0, gen)  # not kept
    cc, lib, long_, other = (_cstr(p) for p in (b"/usr/bin/cc", b"lib", b"/long", b"/x"))

    def rl(path: Tuple[ctypes.Array, int], size: int = 64) -> int | None:
        return N.fast_call(pid, SYS_READLINK, [path[1], addr, size, 0, 0, 0])

    def rlat(dirfd: int, path: Tuple[ctypes.Array, int], size: int = 64) -> int | None:
        return N.fast_call(pid, SYS_READLINKAT, [dirfd & (2**64 - 1), path[1], addr, size, 0, 0])

    ctypes.memset(addr, 0x2E, 64)
    assert rl(cc) == 6 and buf.raw[:7] == b"gcc-12."              # no NUL written
    ctypes.memset(addr, 0x2E, 64)
    assert rl(cc, 3) == 3 and buf.raw[:4] == b"gcc."              # cut to bufsiz
    assert rlat(AT_FDCWD, cc) == 6 and rlat(C_FD, cc) == 6      # absolute: dirfd ignored
    assert rl(lib) == -22 and rlat(AT_FDCWD, lib) == -22
    assert rlat(C_FD, lib) is None                              # relative to another fd
    assert rl(cc, 0) is None and rl(cc, -1) is None             # Python's EINVAL
    assert rl(long_) is None and rl(other) is None
    assert N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), cc[1], addr,
                                             AT_SYMLINK_NOFOLLOW, 0, 0]) is None
    assert rl(cc, 64) == 6
    assert N.fast_call(pid, SYS_READLINK, [cc[1], BAD, 64, 0, 0, 0]) == -14
    # a listed file: only its lstat answer (a directory here), a symlink's, a stat's
    N.statcache_put(N.SC_STAT, 0, True, b"/usr/lib", _answer(1, 0o40000), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/usr/sl", _answer(2, S_IFLNK), 0, gen)
    N.statcache_put(N.SC_STAT, 0, False, b"/usr/f", _answer(3, S_IFREG), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/usr/gone", None, -2, gen)
    usr_lib, sl, f, gone = (_cstr(p) for p in (b"/usr/lib", b"/usr/sl", b"/usr/f", b"/usr/gone"))
    assert rl(usr_lib) == -22 and rlat(AT_FDCWD, usr_lib) == -22
    assert rl(sl) is None                                       # its target: Python's
    assert rl(f) is None                                        # a stat follows: not lstat's
    assert rl(gone) is None                                     # (kept errors are their own)
    N.statcache_bump()
    assert rl(cc) is None and rl(usr_lib) is None


def test_stat_cache_missing_names_of_a_listed_directory(world: Tuple[Task, Path]) -> None:
    """A directory whose names Python handed over: a path through it whose next component
    is not one of them is ENOENT for stat, readlink and open (without O_CREAT); a present
    one, ".", "..", "//", another cwd or a later generation go to Python."""
    SYS_OPEN, SYS_OPENAT, SYS_READLINK = 2, 257, 89
    O_CREAT, O_DIRECTORY, O_TMPFILE, O_PATH = 0o100, 0o200000, 0o20200000, 0o10000000
    pid = os.getpid()
    N.task_set_fs(pid, 7, True, False)
    buf, addr = _buf(256)
    gen = N.statcache_gen()
    N.statcache_put_dir(0, b"/usr/local/include/", b"stdio.h\0bits\0", gen)
    N.statcache_put_dir(7, b"", b"a.c\0", gen)                      # the cwd

    def stat(p: bytes) -> int | None:
        c = _cstr(p)
        return N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), c[1], addr, 0, 0, 0])

    def opn(p: bytes, flags: int = 0, dirfd: int = AT_FDCWD) -> int | None:
        c = _cstr(p)
        return N.fast_call(pid, SYS_OPENAT, [dirfd & (2**64 - 1), c[1], flags, 0, 0, 0])

    for p in (b"/usr/local/include/x.h", b"/usr/local/include/sys/types.h",
              b"/usr/local/include/x.h/", b"b.c", b"sub/b.c"):
        assert stat(p) == -2, p
        assert opn(p) == -2 and opn(p, 0o2 | 0o1000000 | 0o4000 | 0o400 | 0o2000000) == -2, p
    c = _cstr(b"/usr/local/include/nolink")
    assert N.fast_call(pid, SYS_READLINK, [c[1], addr, 64, 0, 0, 0]) == -2
    assert N.fast_call(pid, SYS_OPEN, [c[1], 0, 0, 0, 0, 0]) == -2
    for p in (b"/usr/local/include/stdio.h", b"/usr/local/include/bits/x.h", b"a.c",
              b"/usr/local/include/./x.h", b"/usr/local/include/../x", b"/usr/local//include/x",
              b"/usr/x", b"./b.c"):
        assert stat(p) is None and opn(p) is None, p
    for flags in (O_CREAT, O_TMPFILE, O_PATH, 3, O_DIRECTORY | O_CREAT):
        assert opn(b"/usr/local/include/x.h", flags) is None, flags
    assert opn(b"b.c", 0, dirfd=C_FD) is None                  # relative to another fd
    N.task_set_fs(pid, 8, True, False)                          # chdir
    assert stat(b"b.c") is None and stat(b"/usr/local/include/x.h") == -2
    N.task_set_fs(pid, 8, True, True)                           # may search any directory
    assert stat(b"/usr/local/include/x.h") is None              # another key
    N.task_set_fs(pid, 8, True, False)
    N.statcache_put_dir(0, b"/opt/", b"x" * 20000 + b"\0", gen)     # too many names: refused
    assert stat(b"/opt/y") is None
    N.statcache_bump()
    assert stat(b"/usr/local/include/x.h") is None


def test_stat_cache_search_all_key(world: Tuple[Task, Path]) -> None:
    """An answer made by a task that may search any directory is for such tasks only."""
    pid = os.getpid()
    keep = _cstr(b"/root/secret")
    buf, addr = _buf(144)
    N.statcache_put(N.SC_STAT, 1 << 63, False, b"/root/secret", bytes(144), 0, N.statcache_gen())

    def call() -> int | None:
        return N.fast_call(pid, SYS_NEWFSTATAT, [AT_FDCWD & (2**64 - 1), keep[1], addr, 0, 0, 0])

    N.task_set_fs(pid, 9, True, False)
    assert call() is None
    N.task_set_fs(pid, 9, True, True)
    assert call() == 0


def test_stat_cache_access(world: Tuple[Task, Path]) -> None:
    """access/faccessat/faccessat2 of a task whose access_ok holds: ENOENT for a missing
    path (kept or of a listed directory), 0 for F_OK of a path with a kept stat answer (the
    nofollow one for AT_SYMLINK_NOFOLLOW), a permission question from that answer
    (test_stat_cache.py's test_access_permission_answers has the rest); a bad mode or
    flag, AT_EMPTY_PATH or an unknown path go to Python. For a task whose access(2)
    credentials are not its own (access walks with the real ids) all go to Python but F_OK
    with AT_EACCESS."""
    SYS_ACCESS, SYS_FACCESSAT, SYS_FACCESSAT2 = 21, 269, 439
    AT_EACCESS, R_OK, X_OK = 0x200, 4, 1
    pid = os.getpid()
    N.task_set_fs(pid, 11, True, False)
    N.task_set_ids(pid, 0, 0, 0, 0, True, 3)
    gen = N.statcache_gen()
    N.statcache_put(N.SC_STAT, 0, False, b"/etc/gitconfig", bytes(144), 0, gen)
    N.statcache_put(N.SC_STAT, 0, True, b"/etc/link", _answer(0, S_IFLNK), 0, gen)
    N.statcache_put(N.SC_STAT, 0, False, b"/etc/gone", None, -2, gen)
    N.statcache_put_dir(0, b"/etc/", b"gitconfig\0link\0", gen)
    here, there, link, gone = (_cstr(p) for p in (b"/etc/gitconfig", b"/etc/ld.so.preload",
                                                  b"/etc/link", b"/etc/gone"))
    at = AT_FDCWD & (2**64 - 1)

    def call(nr: int, p: int, mode: int = 0, flags: int = 0) -> int | None:
        args = [p, mode, 0, 0, 0, 0] if nr == SYS_ACCESS else [at, p, mode, flags, 0, 0]
        return N.fast_call(pid, nr, args)

    for nr in (SYS_ACCESS, SYS_FACCESSAT, SYS_FACCESSAT2):
        assert call(nr, here[1]) == 0
        assert call(nr, there[1]) == -2 and call(nr, there[1], R_OK) == -2
        assert call(nr, gone[1], R_OK | X_OK) == -2
        assert call(nr, here[1], R_OK) == 0    # (mode 0: CAP_DAC_OVERRIDE, access_caps 3)
        assert call(nr, here[1], 8) is None             # EINVAL is Python's
        assert call(nr, link[1]) is None                # only its nofollow answer is kept
    assert call(SYS_FACCESSAT2, link[1], 0, AT_SYMLINK_NOFOLLOW) == 0
    assert call(SYS_FACCESSAT2, here[1], 0, AT_EACCESS) == 0
    assert call(SYS_FACCESSAT2, here[1], 0, AT_EMPTY_PATH) is None
    assert call(SYS_FACCESSAT2, here[1], 0, 0x8000) is None
    N.task_set_ids(pid, 65534, 0, 0, 0, False, 0)   # setresuid(65534, 0, 0)
    for nr in (SYS_ACCESS, SYS_FACCESSAT, SYS_FACCESSAT2):
        assert call(nr, here[1]) is None and call(nr, there[1]) is None
        assert call(nr, here[1], R_OK) is None
    assert call(SYS_FACCESSAT2, here[1], 0, AT_EACCESS) == 0
    N.task_set_ids(pid, 0, 0, 0, 0, True, 3)
    N.statcache_bump()
    assert call(SYS_ACCESS, here[1]) is None and call(SYS_ACCESS, there[1]) is None


def test_prlimit64_stack_query(world: Tuple[Task, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """prlimit64(0 or its pid, RLIMIT_STACK, NULL, old): C answers from the limit the
    kernel mirrored, as Python from the books; after a change the mirror follows; any
    other form of the call is Python's."""
    t, _ = world
    pid = os.getpid()
    SYS_PRLIMIT64, RLIMIT_STACK, RLIMIT_NOFILE = 302, 3, 7
    N.task_set(pid, t.tid, t.tgid, t.ppid, t.fdtable.fast_id)
    assert N.fast_call(pid, SYS_PRLIMIT64, [0, RLIMIT_STACK, 0, 8, 0, 0]) is None  # not mirrored
    t.tg.tasks[t.tid] = t
    t.tg.rlimits[RLIMIT_STACK] = (8 << 20, (1 << 64) - 1)
    t.kernel.sync_process(t.tg)
    c_buf, c_addr = _buf(16)
    p_buf, p_addr = _buf(16)
    for who in (0, t.tgid):
        assert _c(SYS_PRLIMIT64, who, RLIMIT_STACK, 0, c_addr) == 0
        assert py_call(t, sys_process.prlimit64, SYS_PRLIMIT64, who, RLIMIT_STACK, 0, p_addr) == 0
        assert c_buf.raw == p_buf.raw == (8 << 20).to_bytes(8, "little") + b"\xff" * 8
    assert _c(SYS_PRLIMIT64, 0, RLIMIT_STACK, 0, BAD) == py_call(
        t, sys_process.prlimit64, SYS_PRLIMIT64, 0, RLIMIT_STACK, 0, BAD) == -14  # EFAULT
    # Lowered through Python (the set path): C's copy follows.
    new_buf, new_addr = _buf(16)
    new_buf.raw = (1 << 20).to_bytes(8, "little") + (2 << 20).to_bytes(8, "little")
    # (Not this test process's own host limit: the host part is left out.)
    monkeypatch.setattr(sys_process, "_set_host_rlimit", lambda *a: 0)
    assert sys_process._rlimit(t, t, RLIMIT_STACK, new_addr, 0) == 0
    assert t.tg.rlimits[RLIMIT_STACK] == (1 << 20, 2 << 20)
    assert _c(SYS_PRLIMIT64, 0, RLIMIT_STACK, 0, c_addr) == 0
    assert c_buf.raw == new_buf.raw
    # Python's: another process, another resource, a new limit given, no old buffer.
    for args in ((t.tgid + 1, RLIMIT_STACK, 0, c_addr), (0, RLIMIT_NOFILE, 0, c_addr),
                 (0, RLIMIT_STACK, new_addr, c_addr), (0, RLIMIT_STACK, 0, 0)):
        assert N.fast_call(pid, SYS_PRLIMIT64, [*args, 0, 0]) is None


def test_rt_sigaction_query(world: Tuple[Task, Path]) -> None:
    """rt_sigaction(sig, NULL, old), the only form the filter notifies: C lets the host
    answer it (CONTINUE), as Python does, unless the sentry keeps that handler's copy
    (a handler it forced SA_RESTART on) and there is an old buffer: Python's then."""
    from sentry.abi.linux.errors import CONTINUE
    from sentry.syscalls.linux import sys_signal

    t, _ = world
    pid = os.getpid()
    SYS_RT_SIGACTION, SIGUSR1, SIGTERM = 13, 10, 15
    N.task_set(pid, t.tid, t.tgid, t.ppid, t.fdtable.fast_id)
    assert N.fast_call(pid, SYS_RT_SIGACTION, [SIGTERM, 0, 8, 8, 0, 0]) is None  # not mirrored
    t.tg.tasks[t.tid] = t
    t.kernel.sync_process(t.tg)
    buf, addr = _buf(32)
    for sig in (1, SIGUSR1, SIGTERM, 64, 0, 65, 1 << 31):
        for oact in (0, addr):
            assert _c(SYS_RT_SIGACTION, sig, 0, oact, 8) is CONTINUE
            assert py_call(t, sys_signal.rt_sigaction, SYS_RT_SIGACTION, sig, 0, oact, 8) is CONTINUE
    t.tg.sa_forced[SIGUSR1] = (0x1234, 0x04000000, 0x5678, 0)
    t.kernel.sync_process(t.tg)
    assert N.fast_call(pid, SYS_RT_SIGACTION, [SIGUSR1, 0, addr, 8, 0, 0]) is None
    assert py_call(t, sys_signal.rt_sigaction, SYS_RT_SIGACTION, SIGUSR1, 0, addr, 8) == 0
    assert buf.raw[:8] == (0x1234).to_bytes(8, "little")
    assert _c(SYS_RT_SIGACTION, SIGUSR1, 0, 0, 8) is CONTINUE  # no old buffer
    assert _c(SYS_RT_SIGACTION, SIGTERM, 0, addr, 8) is CONTINUE
    del t.tg.sa_forced[SIGUSR1]
    t.kernel.sync_process(t.tg)
    assert _c(SYS_RT_SIGACTION, SIGUSR1, 0, addr, 8) is CONTINUE
    # A new action is never the fast path's (the filter traces it; C declines it anyway).
    assert N.fast_call(pid, SYS_RT_SIGACTION, [SIGTERM, addr, 0, 8, 0, 0]) is None


def test_dirc_open_getdents_fstat_close(world: Tuple[Task, Path]) -> None:
    """A directory kept for C (rt_statcache_put_dirc) is opened at the lowest free fd under
    the table's limit, its getdents64 records are Python's (".", "..", then the entries
    with d_off the next index: abi.pack_dirents64) however the buffer cuts them, fstat is
    the kept stat, and Python learns of the open (rt_opened_pop, rt_dirc_info) unless C
    closed it first.  Its subdirectories come from its entries (put_dirc_child): only a
    directory everyone may read and search, under a parent C has."""
    import random

    from gofer.protocol import Stat, _pack_stat_entries
    from sentry.vfs import abi

    t, _ = world
    pid = os.getpid()
    table = t.fdtable
    N.task_set_fs(pid, 11, True, False)
    N.dirc_enable(True)
    gen = N.statcache_gen()
    dev = 0x4321

    def st(ino: int, mode: int) -> Stat:
        return Stat(77, ino, mode, 2, 1000, 1001, 0, 4096, 4096, 8, 10**18, 2 * 10**18, 3)

    entries: list = [(b"early", st(10, 0o40755))]
    entries += [(b"f%03d" % i, st(100 + i, 0o100644)) for i in range(60)]
    entries += [(b"sub", st(7, 0o40755)), (b"closed", st(8, 0o40750)), (b"mnt", 99),
                (b"a-long-name-" + b"x" * 200, st(9, 0o100600))]
    wire = _pack_stat_entries(entries)[4:]
    me = abi.pack_stat_values(dev, 5, 3, 0o40755, 0, 0, 0, 4096, 4096, 8, 1, 2, 3)
    SYS_OPENAT, SYS_GETDENTS64 = 257, 217
    O_DIRECTORY, O_CLOEXEC = 0o200000, 0o2000000
    flags = O_DIRECTORY | O_CLOEXEC
    try:
        assert N.statcache_put_dirc(0, b"/kept", me, 4, dev, 9, wire, len(entries), gen)
        assert not N.statcache_put_dirc(0, b"/stale", me, 4, dev, 9, wire, len(entries), gen - 1)
        closed = abi.pack_stat_values(dev, 6, 3, 0o40750, 0, 0, 0, 4096, 4096, 8, 1, 2, 3)
        assert not N.statcache_put_dirc(0, b"/closed", closed, 4, dev, 9, wire, len(entries), gen)
        path = _cstr(b"/kept")
        recs, _ = abi.pack_dirents64(
            [(5, abi.DT_DIR, b"."), (4, abi.DT_DIR, b"..")]
            + [(x if isinstance(x, int) else x.ino,
                abi.DT_DIR if isinstance(x, int) else (x.mode & 0o170000) >> 12, n)
               for n, x in entries], 0, 1 << 20)
        # Python's fds 5 and 6 are open: the lowest free is 0, then 1
        assert _c(SYS_OPENAT, AT_FDCWD, path[1], flags) == 0
        assert _c(SYS_OPENAT, AT_FDCWD, path[1], flags) == 1
        rnd = random.Random(7)
        buf, addr = _buf(8192)
        got = b""
        while True:
            n = rnd.choice([64, 100, 300, 4096])
            r = _c(SYS_GETDENTS64, 0, addr, n)
            if r == -22:  # the next record does not fit
                assert recs[len(got) + 16] + 256 * recs[len(got) + 17] > n
                continue
            assert r >= 0
            if r == 0:
                break
            got += buf.raw[:r]
        assert got == recs
        assert _c(SYS_GETDENTS64, 1, BAD, 4096) == -14  # EFAULT, nothing read
        fbuf, faddr = _buf(144)
        assert _c(SYS_FSTAT, 1, faddr) == 0 and fbuf.raw == me
        # a path relative to its fd is looked up under its key ("/kept/"), as fts stats
        rel, full = _cstr(b"f001"), _cstr(b"/kept/f001")
        rbuf, raddr = _buf(144)
        abuf, aaddr = _buf(144)
        assert _c(SYS_NEWFSTATAT, 1, rel[1], raddr, AT_SYMLINK_NOFOLLOW) == 0
        assert _c(SYS_NEWFSTATAT, AT_FDCWD, full[1], aaddr, AT_SYMLINK_NOFOLLOW) == 0
        assert rbuf.raw == abuf.raw
        missing = _cstr(b"nothing-here")
        assert _c(SYS_NEWFSTATAT, 1, missing[1], raddr, AT_SYMLINK_NOFOLLOW) == -2
        for fd_, p_ in ((1, b"./f001"), (1, b"../kept/f001"), (C_FD, b"f001")):
            c = _cstr(p_)
            assert N.fast_call(pid, SYS_NEWFSTATAT, [fd_, c[1], raddr, AT_SYMLINK_NOFOLLOW,
                                                     0, 0]) is None, (fd_, p_)
        # statx(fd, "", AT_EMPTY_PATH) (ls asks a directory's inode number so): the
        # kept stat as abi.pack_statx packs it, with the mount's id
        from sentry.vfs.inode import Stat as VStat

        xbuf, xaddr = _buf(256)
        empty = _cstr(b"")
        assert _c(332, 1, empty[1], 0x1000, 0x100, xaddr) == 0
        assert xbuf.raw == abi.pack_statx(VStat(dev=dev, ino=5, mode=0o40755, nlink=3, uid=0,
                                                gid=0, rdev=0, size=4096, blksize=4096,
                                                blocks=8, atime_ns=1, mtime_ns=2, ctime_ns=3),
                                          0, 9)
        assert N.fast_call(pid, 332, [1, empty[1], 0x1000 | 0x6000, 0x100, xaddr, 0]) is None
        assert N.fast_call(pid, 332, [1, empty[1], 0x1000 | 0x400, 0x100, xaddr, 0]) is None
        # Python learns of fd 1 (still open; fd 0 is closed below first)
        assert _c(SYS_CLOSE, 0) == 0
        opened = [N.opened_pop(), N.opened_pop(), N.opened_pop()]
        assert opened[2] is None
        (fdt0, fd0, s0), (fdt1, fd1, s1) = opened[0], opened[1]
        assert (fdt0, fd0, fdt1, fd1) == (table.fast_id, 0, table.fast_id, 1)
        assert N.dirc_info(fdt0, s0) is None  # closed in C
        assert _c(SYS_GETDENTS64, 1, addr, 0) == -22
        assert N.dirc_info(fdt1, s1) == (pid, b"/kept", flags, 0, False, [(1, True)])
        # fcntl (fts's): F_GETFD/F_SETFD of the fd, F_GETFL the description's flags as
        # FileDescription keeps them, F_DUPFD_CLOEXEC a second fd sharing the reader
        SYS_FCNTL, F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = \
            72, 0, 1, 2, 3, 4, 1030
        assert _c(SYS_FCNTL, 1, F_GETFD) == 1
        assert _c(SYS_FCNTL, 1, F_SETFD, 0) == 0 and _c(SYS_FCNTL, 1, F_GETFD) == 0
        assert _c(SYS_FCNTL, 1, F_GETFL) == (flags | 0o100000) & ~0o2000000
        dup = _c(SYS_FCNTL, 1, F_DUPFD_CLOEXEC, 3)
        assert dup == 3 and _c(SYS_FCNTL, dup, F_GETFD) == 1
        assert _c(SYS_FCNTL, 1, F_DUPFD, 0) == 0  # the lowest free: 0
        assert N.dirc_info(fdt1, s1)[5] == [(1, False), (3, True), (0, False)]
        assert _c(SYS_CLOSE, 0) == 0
        r1 = _c(SYS_GETDENTS64, 1, addr, 100)
        got = buf.raw[:r1]
        assert N.dirc_info(fdt1, s1)[4] is False  # records left: not at the end
        while (r := _c(SYS_GETDENTS64, dup, addr, 4096)) > 0:
            got += buf.raw[:r]
        assert got == recs and _c(SYS_GETDENTS64, 1, addr, 4096) == 0  # one reader
        assert N.dirc_info(fdt1, s1)[4] is True  # read to the end
        assert _c(SYS_NEWFSTATAT, dup, rel[1], raddr, AT_SYMLINK_NOFOLLOW) == 0  # its key
        assert rbuf.raw == abuf.raw
        for args in ((1, F_DUPFD, 1 << 20), (1, F_DUPFD, 2**64 - 1), (1, F_SETFL, 0),
                     (1, 5, 0)):   # past the limit, negative, F_SETFL, F_GETLK: Python's
            assert N.fast_call(pid, SYS_FCNTL, [*args, 0, 0, 0]) is None, args
        assert _c(SYS_CLOSE, 1) == 0
        assert N.dirc_info(fdt1, s1)[5] == [(3, True)]  # open at the dup still
        assert _c(SYS_CLOSE, dup) == 0
        assert N.dirc_info(fdt1, s1) is None
        # what C declines: a write open, O_CREAT, a relative path without a kept cwd,
        # a directory not kept, one not everyone may read
        for p, fl in ((b"/kept", 1), (b"/kept", 0o100 | O_DIRECTORY), (b"kept", flags),
                      (b"/nothing", flags), (b"/closed", flags), (b"/kept/.", flags)):
            c = _cstr(p)
            assert N.fast_call(pid, SYS_OPENAT, [AT_FDCWD & (2**64 - 1), c[1], fl, 0, 0, 0]) \
                in (None, -2), p
        # "/kept/" and "/kept//" name it too (opendir("dir/"), git's scan for untracked
        # files): opened in C, the same directory
        for p in (b"/kept/", b"/kept//"):
            c = _cstr(p)
            fd = _c(SYS_OPENAT, AT_FDCWD, c[1], flags)
            assert fd >= 0 and _c(SYS_FSTAT, fd, faddr) == 0 and fbuf.raw == me, p
            r = _c(SYS_GETDENTS64, fd, addr, 1 << 13)
            assert buf.raw[:r] == recs[:r] and r > 0
            assert _c(SYS_CLOSE, fd) == 0
        while N.opened_pop() is not None:
            pass
        # subdirectories: from the parent's entries
        sub_wire = _pack_stat_entries([(b"x", st(300, 0o100644))])[4:]
        assert N.statcache_put_dirc_child(0, b"/kept", b"sub", sub_wire, 1, gen)
        for name in (b"closed", b"mnt", b"f001", b"nothing"):
            assert not N.statcache_put_dirc_child(0, b"/kept", name, sub_wire, 1, gen)
        assert not N.statcache_put_dirc_child(0, b"/other", b"sub", sub_wire, 1, gen)
        assert not N.statcache_put_dirc_child(11, b"/kept", b"sub", sub_wire, 1, gen)
        # each search starts after the entry found last (a fetch's listings come in the
        # parent's order) and comes round to the start: "early" is the first entry, and
        # "nothing" above went round once and stopped
        assert N.statcache_put_dirc_child(0, b"/kept", b"early", sub_wire, 1, gen)
        assert N.statcache_put_dirc_child(0, b"/kept", b"sub", sub_wire, 1, gen)
        assert N.statcache_put_dirc_child(0, b"/kept", b"early", sub_wire, 1, gen)
        early = _cstr(b"/kept/early")
        fd = _c(SYS_OPENAT, AT_FDCWD, early[1], O_DIRECTORY)
        assert fd >= 0 and _c(SYS_FSTAT, fd, faddr) == 0
        assert fbuf.raw[8:16] == (10).to_bytes(8, "little")  # its st_ino
        assert _c(SYS_CLOSE, fd) == 0
        while N.opened_pop() is not None:
            pass
        subp = _cstr(b"/kept/sub")
        fd = _c(SYS_OPENAT, AT_FDCWD, subp[1], O_DIRECTORY)
        assert fd == 0
        # and relative to its parent's fd (fts's openat): the same directory, in C
        assert _c(SYS_FSTAT, fd, faddr) == 0
        sub_stat = fbuf.raw
        kept = _c(SYS_OPENAT, AT_FDCWD, path[1], O_DIRECTORY)
        sub_rel = _cstr(b"sub")
        fd2 = _c(SYS_OPENAT, kept, sub_rel[1], O_DIRECTORY)
        assert fd2 not in (fd, kept)
        assert _c(SYS_FSTAT, fd2, faddr) == 0 and fbuf.raw == sub_stat
        assert _c(SYS_CLOSE, fd2) == 0 and _c(SYS_CLOSE, kept) == 0
        assert _c(SYS_FSTAT, fd, faddr) == 0
        assert fbuf.raw == abi.pack_stat_values(dev, 7, 2, 0o40755, 1000, 1001, 0, 4096, 4096,
                                                8, 10**18, 2 * 10**18, 3)
        r = _c(SYS_GETDENTS64, fd, addr, 4096)
        assert buf.raw[:r] == abi.pack_dirents64(
            [(7, abi.DT_DIR, b"."), (5, abi.DT_DIR, b".."), (300, abi.DT_REG, b"x")], 0, 4096)[0]
        # its entries' answers were handed over at the open: lstat of /kept/sub/x in C
        xp = _cstr(b"/kept/sub/x")
        assert _c(SYS_NEWFSTATAT, AT_FDCWD, xp[1], faddr, AT_SYMLINK_NOFOLLOW) == 0
        assert _c(SYS_CLOSE, fd) == 0
        while N.opened_pop() is not None:
            pass
        # the table's limit: fds 0..4 taken, 5 and 6 Python's: none below 7
        table.limit = 7
        held = [_c(SYS_OPENAT, AT_FDCWD, path[1], flags) for _ in range(5)]
        assert held == [0, 1, 2, 3, 4]
        assert N.fast_call(pid, SYS_OPENAT, [AT_FDCWD & (2**64 - 1), path[1], flags, 0, 0, 0]) \
            is None
        for fd in held:
            assert _c(SYS_CLOSE, fd) == 0
        table.limit = 1024
        # a generation later nothing is kept
        N.statcache_bump()
        assert N.fast_call(pid, SYS_OPENAT, [AT_FDCWD & (2**64 - 1), path[1], flags, 0, 0, 0]) \
            is None
    finally:
        N.dirc_enable(False)
        while N.opened_pop() is not None:
            pass


def test_a_stat_under_a_kept_directory_hands_its_entries_over(world: Tuple[Task, Path]) -> None:
    """A stat, access or readlink that finds no answer under a directory kept for C
    (sc_fill_parent) puts the directory's entries' answers as its open would, and answers;
    not when Python said it put them already (``filled``), nor for a directory of more
    than 1,024 entries or with an entry named ".." (a gofer's that is broken or hostile:
    nothing of it), nor a generation later."""
    from gofer.protocol import Stat, _pack_stat_entries
    from sentry.vfs import abi

    t, _ = world
    pid = os.getpid()
    N.task_set_fs(pid, 11, True, False)
    N.task_set_ids(pid, 0, 0, 0, 0, True, 3)  # (its access(2) questions are C's)
    gen = N.statcache_gen()
    dev = 0x4321

    def st(ino: int, mode: int) -> Stat:
        return Stat(77, ino, mode, 1, 1000, 1001, 0, 5, 4096, 8, 10**18, 2 * 10**18, 3)

    wire = _pack_stat_entries([(b"f", st(100, 0o100644)), (b"d", st(101, 0o40755))])[4:]
    me = abi.pack_stat_values(dev, 5, 3, 0o40755, 0, 0, 0, 4096, 4096, 8, 1, 2, 3)
    big = _pack_stat_entries([(b"f%04d" % i, st(200 + i, 0o100644)) for i in range(1025)])[4:]
    dots = _pack_stat_entries([(b"f", st(100, 0o100644)), (b"..", st(1, 0o40755))])[4:]
    SYS_ACCESS, SYS_READLINK = 21, 89
    buf, addr = _buf(144)
    try:
        assert N.statcache_put_dirc(0, b"/fill", me, 4, dev, 9, wire, 2, gen)
        assert N.statcache_put_dirc(0, b"/done", me, 4, dev, 9, wire, 2, gen, filled=True)
        assert N.statcache_put_dirc(0, b"/big", me, 4, dev, 9, big, 1025, gen)
        assert N.statcache_put_dirc(0, b"/later", me, 4, dev, 9, wire, 2, gen)
        assert N.statcache_put_dirc(0, b"/dots", me, 4, dev, 9, dots, 2, gen)
        assert N.statcache_put_dirc(0, b"/fill2", me, 4, dev, 9, wire, 2, gen)
        f = _cstr(b"/fill/f")
        assert _c(SYS_NEWFSTATAT, AT_FDCWD, f[1], addr, AT_SYMLINK_NOFOLLOW) == 0
        assert buf.raw == abi.pack_stat_values(dev, 100, 1, 0o100644, 1000, 1001, 0, 5, 4096, 8,
                                               10**18, 2 * 10**18, 3)
        for p, nr, args, want in (
                (b"/fill/nothing", SYS_NEWFSTATAT, (addr, 0), -2),  # its names went too
                (b"/fill/d", SYS_ACCESS, (0,), 0),
                (b"/fill/f", SYS_READLINK, (addr, 100), -22)):
            c = _cstr(p)
            assert _c(nr, *(() if nr != SYS_NEWFSTATAT else (AT_FDCWD,)), c[1], *args) == want, p
        for p in (b"/done/f", b"/big/f0001", b"/dots/f", b"/dots/.."):
            c = _cstr(p)  # (kept alive while C reads it)
            assert _fast_lstat(c[1], addr) is None, p
        # once a generation: its answers gone (the file changed), the listing is not put
        # again; one not put yet in this generation still is (the control)
        N.statcache_forget(100)
        assert _fast_lstat(f[1], addr) is None
        f2 = _cstr(b"/fill2/f")
        assert _fast_lstat(f2[1], addr) == 0
        N.statcache_bump()
        later = _cstr(b"/later/f")
        assert _fast_lstat(later[1], addr) is None
    finally:
        N.statcache_bump()


def test_dirc_mutated_entries(world: Tuple[Task, Path]) -> None:
    """Entries that do not parse (a compromised gofer's) make C decline the open, never
    records past them."""
    import random

    from gofer.protocol import Stat, _pack_stat_entries
    from sentry.vfs import abi

    pid = os.getpid()
    N.task_set_fs(pid, 11, True, False)
    N.dirc_enable(True)
    gen = N.statcache_gen()
    good = _pack_stat_entries([(b"n%d" % i, Stat(1, 10 + i, 0o40755, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1))
                               for i in range(20)])[4:]
    me = abi.pack_stat_values(1, 5, 3, 0o40755, 0, 0, 0, 4096, 4096, 8, 1, 2, 3)
    rnd = random.Random(99)
    buf, addr = _buf(65536)
    try:
        for i in range(500):
            b = bytearray(good)
            for _ in range(rnd.randint(1, 4)):
                at = rnd.randrange(len(b))
                if rnd.random() < 0.5:
                    b[at] = rnd.randrange(256)
                else:
                    del b[at:]
                if not b:
                    b = bytearray(b"\x01")
            p = b"/mut%d" % i
            count = rnd.randint(0, 25)
            assert N.statcache_put_dirc(0, p, me, 4, 1, 9, bytes(b), count, gen)
            c = _cstr(p)
            fd = N.fast_call(pid, 257, [AT_FDCWD & (2**64 - 1), c[1], 0o200000, 0, 0, 0])
            if fd is None:
                continue
            r = _c(217, fd, addr, 65536)
            assert 48 <= r <= 48 + 24 * count + len(b)
            assert _c(SYS_CLOSE, fd) == 0
    finally:
        N.dirc_enable(False)
        while N.opened_pop() is not None:
            pass


def test_stat_cache_put_wire_statx(world: Tuple[Task, Path]) -> None:
    """With a mount id, the answers C takes from a listing's entries include the statx ones,
    byte for byte abi.pack_statx's (as statcache._fill's Python loop packs them); and so
    do the answers a directory C opens hands over, once a program used statx."""
    from gofer.protocol import Stat, _pack_stat_entries
    from sentry.vfs import abi
    from sentry.vfs.inode import Stat as VStat

    SYS_STATX, SYS_OPENAT = 332, 257
    pid = os.getpid()
    N.task_set_fs(pid, 11, True, False)
    gen = N.statcache_gen()
    dev, mnt = (8 << 8) | 3, 42

    def st(ino: int, mode: int, t: int, rdev: int = 0) -> Stat:
        return Stat(77, ino, mode, 3, 1000, 1001, rdev, 4096 + ino, 4096, 8, t, t + 7, -t)

    entries: list = [(b"file", st(10, 0o100644, 1_700_000_000_123_456_789)),
                     (b"old", st(11, 0o100600, -1_500_000_001)),
                     (b"dev", st(12, 0o20666, 5, (1 << 8) | 3)),
                     (b"dir", st(13, 0o40755, 0))]
    wire = _pack_stat_entries(entries)[4:]
    assert N.statcache_put_wire(0, b"/sx/", wire, len(entries), dev, b"", gen, mnt)
    buf, addr = _buf(256)

    def statx(path: bytes) -> Tuple[int | None, bytes]:
        c = _cstr(path)
        r = N.fast_call(pid, SYS_STATX, [AT_FDCWD & (2**64 - 1), c[1], AT_SYMLINK_NOFOLLOW,
                                         0x7FF, addr, 0])
        return r, buf.raw if r == 0 else b""

    for name, x in entries:
        want = abi.pack_statx(VStat(dev=dev, ino=x.ino, mode=x.mode, nlink=x.nlink, uid=x.uid,
                                    gid=x.gid, rdev=x.rdev, size=x.size, blksize=x.blksize,
                                    blocks=x.blocks, atime_ns=x.atime_ns, mtime_ns=x.mtime_ns,
                                    ctime_ns=x.ctime_ns), 0, mnt)
        assert statx(b"/sx/" + name) == (0, want), name
    # without a mount id: stat answers only
    assert N.statcache_put_wire(0, b"/s0/", wire, len(entries), dev, b"", gen)
    assert statx(b"/s0/file")[0] is None
    # a directory C opens hands its entries' statx answers over once they are wanted
    me = abi.pack_stat_values(dev, 5, 3, 0o40755, 0, 0, 0, 4096, 4096, 8, 1, 2, 3)
    N.dirc_enable(True)
    try:
        for path, want_statx in ((b"/d1", False), (b"/d2", True)):
            if want_statx:
                N.statcache_want_statx()
            assert N.statcache_put_dirc(0, path, me, 4, dev, mnt, wire, len(entries), gen)
            c = _cstr(path)
            fd = _c(SYS_OPENAT, AT_FDCWD, c[1], 0o200000)
            assert _c(SYS_CLOSE, fd) == 0
            got = statx(path + b"/file")
            assert (got[0] == 0) is want_statx, path
    finally:
        N.dirc_enable(False)
        while N.opened_pop() is not None:
            pass
