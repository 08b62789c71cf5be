"""inode.reclaim_dentries: the host out of fds, the LRU of every file system whose inodes
may hold host fds is halved (not below the floor), the others are left alone, and a cut
LRU may double again once DENTRY_CACHE_REGROW seconds passed."""

from __future__ import annotations

import weakref
from typing import Any

import pytest

from sentry.vfs import inode as vfs_inode


class _Fs(vfs_inode.Filesystem):
    def root_inode(self) -> Any:
        return None  # (not asked here)


class _HoldingFs(_Fs):
    holds_host_fds = True


class _D:
    """A stand-in dentry (the LRU only keys on it)."""


def _fill(fs: vfs_inode.Filesystem, n: int) -> list[_D]:
    ds = [_D() for _ in range(n)]
    for d in ds:
        fs.touch_dentry(d)
    return ds


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only this test's file systems: the reclaim asks each it knows to give its host fds
    # back, and other tests' left for the collector may have fake gofer clients.
    monkeypatch.setattr(vfs_inode, "_filesystems", weakref.WeakSet())
    monkeypatch.setattr(vfs_inode, "DENTRY_CACHE_SIZE", 1000)
    monkeypatch.setattr(vfs_inode, "DENTRY_CACHE_FLOOR", 64)


def test_only_file_systems_holding_host_fds_are_cut(small: None) -> None:
    holding, other, tiny = _HoldingFs(), _Fs(), _HoldingFs()
    kept = _fill(holding, 1000), _fill(other, 1000), _fill(tiny, 50)
    dropped = vfs_inode.reclaim_dentries()
    assert len(holding._dentry_lru) == 500 and len(other._dentry_lru) == 1000
    assert len(tiny._dentry_lru) == 50  # (under the floor: left)
    assert dropped >= 500
    # the newest stay
    assert list(holding._dentry_lru)[-1] is kept[0][-1]
    # again: halved again, never below the floor
    for _ in range(5):
        vfs_inode.reclaim_dentries()
    assert len(holding._dentry_lru) == 64
    _fill(holding, 100)  # new dentries: the cap holds
    assert len(holding._dentry_lru) == 64


def test_a_cut_lru_doubles_again_after_a_while(small: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fs = _HoldingFs()
    now = [1000.0]
    monkeypatch.setattr(vfs_inode.time, "monotonic", lambda: now[0])
    _fill(fs, 1000)
    vfs_inode.reclaim_dentries()
    assert fs._lru_cap == 500
    _fill(fs, 100)
    assert len(fs._dentry_lru) == 500  # within DENTRY_CACHE_REGROW: still 500
    now[0] += vfs_inode.DENTRY_CACHE_REGROW + 1
    _fill(fs, 600)
    assert fs._lru_cap == 1000 and len(fs._dentry_lru) == 1000  # doubled, not past the size
    now[0] += vfs_inode.DENTRY_CACHE_REGROW + 1
    _fill(fs, 10)
    assert fs._lru_cap == 1000 and len(fs._dentry_lru) == 1000
