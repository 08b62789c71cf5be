"""rt.c's cache of host fds kept for re-opens holds at most its cap (rt_reopen_cap: the
sentry's share of its RLIMIT_NOFILE, statcache.kept_fds_budget): at the cap a put makes
room by closing the oldest entry's fd, wherever in the table it is; a cap of 0 keeps
nothing (the caller keeps its fd); lowering the cap closes what is over it."""

from __future__ import annotations

import errno
import os

import pytest

from sentry.platform.hybrid import native as N

REG = 0o100444


def _put(key: bytes, fd: int) -> bool:
    return N.reopen_put(0, False, key, N.statcache_gen(), fd, 1, REG, 7, 0, 0)


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as e:
        return e.errno == errno.EBADF
    return False


@pytest.fixture
def table():
    yield
    N.reopen_cap(1 << 30)  # (back to the table's size)
    for i in range(64):
        fd = N.reopen_take(0, False, b"/cap-test/%d" % i, N.statcache_gen())
        if fd >= 0:
            os.close(fd)


def test_the_cache_keeps_its_cap_and_drops_the_oldest(table) -> None:
    N.reopen_cap(3)
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(5)]
    for i, fd in enumerate(fds):
        assert _put(b"/cap-test/%d" % i, fd)
    assert _closed(fds[0]) and _closed(fds[1])  # the two oldest made room
    got = [N.reopen_take(0, False, b"/cap-test/%d" % i, N.statcache_gen()) for i in range(5)]
    assert got == [-1, -1, fds[2], fds[3], fds[4]]
    for fd in got[2:]:
        os.close(fd)


def test_a_cap_of_0_keeps_nothing_and_a_lower_cap_closes_the_rest(table) -> None:
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]
    for i, fd in enumerate(fds):
        assert _put(b"/cap-test/%d" % i, fd)
    N.reopen_cap(1)
    assert sum(_closed(fd) for fd in fds) == 3
    N.reopen_cap(0)
    assert all(_closed(fd) for fd in fds)
    spare = os.open("/dev/null", os.O_RDONLY)
    assert not _put(b"/cap-test/9", spare)  # not kept: still the caller's
    assert not _closed(spare)
    os.close(spare)
