"""Advisory locks kept by the sentry: POSIX record locks, OFD locks and flock(2).

State lives on the inode (:attr:`sentry.vfs.inode.Inode.locks`), so every
description of one file sees the same locks.  A record lock's *owner* is the
thread group for classic ``F_SETLK`` locks and the description for
``F_OFD_SETLK`` locks; the two kinds conflict with each other like in Linux.
flock(2) locks belong to the description.  Blocking requests wait on the
state's :class:`WaitQueue`, which is notified on every release.

A classic owner that exited (``owner.zombie``: the thread group's leader is
gone) holds nothing: its records are dropped the next time the state is
looked at, and :func:`release_dead_owners` drops them (waking waiters) when
the exiting process's fd table is released.

Not emulated: deadlock detection (``EDEADLK``) between blocked ``F_SETLKW``
callers, and mandatory locking.
"""

from __future__ import annotations

import errno
from sentry.records import dataclass

from sentry.abi.linux.errors import err
from sentry.kernel.waiter import WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

F_RDLCK = 0
F_WRLCK = 1
F_UNLCK = 2

LOCK_SH = 1
LOCK_EX = 2
LOCK_NB = 4
LOCK_UN = 8

#: "To end of file and beyond": the end of a lock with ``l_len == 0``.
OFFSET_MAX = (1 << 63) - 1

#: Called once, at the first classic record lock set (the C fast path then leaves every
#: close to Python, which releases the closing process's locks: rt.c rt_posix_locks).
on_classic_lock: Optional[Callable[[], None]] = None


@dataclass
class RecordLock:
    """A locked byte range ``[start, end]`` (inclusive)."""

    owner: Any
    type: int
    start: int
    end: int
    pid: int
    ofd: bool


class LockState:
    """The locks of one inode."""

    def __init__(self) -> None:
        self.records: List[RecordLock] = []
        self.flocks: Dict[int, tuple] = {}  # id(desc) -> (desc, LOCK_SH|LOCK_EX)
        self.queue = WaitQueue()


def state_of(inode: Any) -> LockState:
    """The lock state of *inode*, created on first use."""
    if inode.locks is None:
        inode.locks = LockState()
    return inode.locks


def _overlaps(a: RecordLock, start: int, end: int) -> bool:
    return a.start <= end and start <= a.end


def _dead(owner: Any) -> bool:
    """A classic-lock owner (thread group) that exited."""
    return getattr(owner, "zombie", False) is True


def _prune(st: LockState) -> bool:
    """Drop the records of exited owners; True if any went (waiters were woken)."""
    live = [lk for lk in st.records if not _dead(lk.owner)]
    if len(live) == len(st.records):
        return False
    st.records = live
    st.queue.notify()
    return True


def release_dead_owners(inode: Any) -> None:
    """Drop the record locks of exited owners on *inode*, waking waiters."""
    if inode is not None and inode.locks is not None:
        _prune(inode.locks)


def test_lock(inode: Any, owner: Any, ltype: int, start: int, end: int) -> Optional[RecordLock]:
    """The first lock of another owner that conflicts with the request, or ``None``."""
    st = inode.locks
    if st is None:
        return None
    _prune(st)
    for lk in st.records:
        if lk.owner is owner or not _overlaps(lk, start, end):
            continue
        if ltype == F_WRLCK or lk.type == F_WRLCK:
            return lk
    return None


def _remove_range(st: LockState, owner: Any, start: int, end: int) -> bool:
    """Drop *owner*'s locking of ``[start, end]``, splitting ranges; True if changed."""
    changed = False
    out: List[RecordLock] = []
    for lk in st.records:
        if lk.owner is not owner or not _overlaps(lk, start, end):
            out.append(lk)
            continue
        changed = True
        if lk.start < start:
            out.append(RecordLock(lk.owner, lk.type, lk.start, start - 1, lk.pid, lk.ofd))
        if lk.end > end:
            out.append(RecordLock(lk.owner, lk.type, end + 1, lk.end, lk.pid, lk.ofd))
    st.records = out
    return changed


def set_lock(
    inode: Any, owner: Any, pid: int, ltype: int, start: int, end: int, ofd: bool
) -> bool:
    """Apply a lock or unlock; returns False (nothing changed) on a conflict."""
    st = state_of(inode)
    _prune(st)
    if ltype == F_UNLCK:
        if _remove_range(st, owner, start, end):
            st.queue.notify()
        return True
    if test_lock(inode, owner, ltype, start, end) is not None:
        return False
    global on_classic_lock
    if not ofd and on_classic_lock is not None:
        hook, on_classic_lock = on_classic_lock, None
        hook()
    downgraded = _remove_range(st, owner, start, end)
    st.records.append(RecordLock(owner, ltype, start, end, pid, ofd))
    # Coalesce adjacent ranges of the same owner and type (Linux does, and
    # F_GETLK reports whole ranges).
    mine = sorted(
        (lk for lk in st.records if lk.owner is owner and lk.type == ltype), key=lambda lk: lk.start
    )
    others = [lk for lk in st.records if not (lk.owner is owner and lk.type == ltype)]
    merged: List[RecordLock] = []
    for lk in mine:
        if merged and merged[-1].end + 1 >= lk.start:
            merged[-1].end = max(merged[-1].end, lk.end)
        else:
            merged.append(RecordLock(lk.owner, lk.type, lk.start, lk.end, lk.pid, lk.ofd))
    st.records = others + merged
    if downgraded:
        st.queue.notify()
    return True


def release_owner(inode: Any, owner: Any) -> None:
    """Drop every record lock of *owner* on *inode* (a classic-lock owner closed an fd)."""
    st = inode.locks
    if st is not None and _remove_range(st, owner, 0, OFFSET_MAX):
        st.queue.notify()


def flock(inode: Any, desc: Any, op: int) -> bool:
    """flock(2) for *desc*: returns False on a conflict (the caller blocks or fails).

    :raises LinuxError: ``EINVAL`` for an unknown operation.
    """
    st = state_of(inode)
    kind = op & ~LOCK_NB
    key = id(desc)
    if kind == LOCK_UN:
        if st.flocks.pop(key, None) is not None:
            st.queue.notify()
        return True
    if kind not in (LOCK_SH, LOCK_EX):
        raise err(errno.EINVAL)
    prev = st.flocks.get(key)
    if prev is not None:
        if prev[1] == kind:
            return True
        # A conversion is not atomic (flock(2)): the old lock goes first, and
        # stays gone if the new one conflicts.
        del st.flocks[key]
        st.queue.notify()
    for k, (_, held) in st.flocks.items():
        if k != key and (kind == LOCK_EX or held == LOCK_EX):
            return False
    st.flocks[key] = (desc, kind)
    return True


def release_description(desc: Any) -> None:
    """The last reference of *desc* went: drop its OFD locks and flock."""
    inode = desc.inode
    if inode is None or inode.locks is None:
        return
    st = inode.locks
    changed = st.flocks.pop(id(desc), None) is not None
    changed = _remove_range(st, desc, 0, OFFSET_MAX) or changed
    if changed:
        st.queue.notify()
