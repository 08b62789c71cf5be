"""The sandbox's memory account (invariant 6): tmpfs data and inodes, pipe pages and unix
socket buffers are charged to it, refused past it with Linux's errno, and given back when
the object that held them goes."""

from __future__ import annotations

import errno

import pytest

from sentry.abi.linux.errors import LinuxError
from sentry.fsimpl.pipe.pipe import PAGE, Pipe
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem
from sentry.kernel import memacct
from sentry.kernel.memacct import ACCOUNT, INODE_COST


@pytest.fixture
def room(monkeypatch):
    """Leave *n* bytes of room in the account for the test."""

    def leave(n: int) -> None:
        monkeypatch.setattr(ACCOUNT, "limit", ACCOUNT.used + n)

    return leave


def test_budget_keeps_a_reserve_and_a_floor():
    assert memacct.budget(1 << 30) == (1 << 30) - memacct.RESERVE
    assert memacct.budget(64 << 20) == 8 << 20
    assert memacct.budget(None) > 0


def test_tmpfs_data_and_inodes_are_charged_until_the_inode_goes(room):
    fs = TmpfsFilesystem()
    root = fs.root_inode()
    start = ACCOUNT.used
    room(2 * INODE_COST + 10000)
    f = root.create(None, b"f", 0o644, 0)
    assert ACCOUNT.used == start + INODE_COST
    f.write_at(0, b"x" * 9000)
    with pytest.raises(LinuxError) as e:
        f.write_at(9000, b"x" * 3000)
    assert e.value.errno == errno.ENOSPC
    del e  # its traceback holds f
    # Unlinked but still referenced (an open description): it still counts.
    root.unlink(None, b"f", f)
    assert ACCOUNT.used == start + INODE_COST + 9000
    g = root.create(None, b"g", 0o644, 0)
    with pytest.raises(LinuxError) as e:
        root.create(None, b"h", 0o644, 0)  # no room for another inode
    del e
    del f
    assert ACCOUNT.used == start + INODE_COST
    root.unlink(None, b"g", g)
    del g
    assert ACCOUNT.used == start


def test_pipe_pages_are_charged_and_given_back(room):
    start = ACCOUNT.used
    room(3 * PAGE)
    p = Pipe()
    assert p.push(b"x" * (5 * PAGE)) == 3 * PAGE  # the account stops it, not the pipe
    assert ACCOUNT.used == start + 3 * PAGE
    p.pop(PAGE + 10)
    assert ACCOUNT.used == start + 2 * PAGE
    del p
    assert ACCOUNT.used == start
