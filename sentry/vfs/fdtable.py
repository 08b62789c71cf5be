"""fd tables: numbers → open file descriptions, with the close-on-exec flag.

A table is shared by the threads of a ``CLONE_FILES`` clone and copied by
``fork`` (the copy shares the descriptions: each installed fd is one
reference, see :meth:`FileDescription.decref`).

Closing an fd also drops the POSIX record locks its process held on the file
(POSIX's famous rule); pass the thread group as *lock_owner* to get that.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.vfs.file import FileDescription
from sentry.vfs.locks import release_dead_owners, release_owner

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

#: RLIMIT_NOFILE of every sandbox process (the soft and hard limit).
NOFILE_LIMIT = 1024


class FDTable:
    """One fd table.  All fds are in ``[0, limit)``."""

    def __init__(self, limit: int = NOFILE_LIMIT) -> None:
        self.limit = limit
        self._fds: Dict[int, FileDescription] = {}
        self._cloexec: Set[int] = set()

    def get(self, fd: int) -> FileDescription:
        """:raises LinuxError: ``EBADF`` if *fd* is not open."""
        d = self._fds.get(fd)
        if d is None:
            raise err(errno.EBADF)
        return d

    def lookup(self, fd: int) -> Optional[FileDescription]:
        """The description of *fd*, or ``None``."""
        return self._fds.get(fd)

    def free_below_limit(self, n: int = 1) -> bool:
        """Whether *n* fds could be installed now: Linux's test is the lowest free numbers
        against RLIMIT_NOFILE, not the count of open fds (fds above a lowered limit stay)."""
        fd = 0
        for _ in range(n):
            while fd in self._fds:
                fd += 1
            if fd >= self.limit:
                return False
            fd += 1
        return True

    def install(self, desc: FileDescription, cloexec: bool = False, minfd: int = 0) -> int:
        """Install *desc* (taking over one reference) at the lowest free fd >= *minfd*.

        :raises LinuxError: ``EINVAL`` if *minfd* is out of range (``F_DUPFD``),
            ``EMFILE`` if the table is full.
        """
        if minfd < 0 or minfd >= self.limit:
            raise err(errno.EINVAL)
        fd = minfd
        while fd in self._fds:
            fd += 1
        if fd >= self.limit:
            raise err(errno.EMFILE)
        self._fds[fd] = desc
        if cloexec:
            self._cloexec.add(fd)
        return fd

    def install_at(
        self, fd: int, desc: FileDescription, cloexec: bool = False, lock_owner: Any = None
    ) -> Optional[FileDescription]:
        """Install *desc* (taking over one reference) at *fd*, closing what was there.

        :returns: nothing useful for callers beyond tests: the replaced
            description (already released by this call), or ``None``.
        :raises LinuxError: ``EBADF`` if *fd* is outside the limit (``dup2``).
        """
        if fd < 0 or fd >= self.limit:
            raise err(errno.EBADF)
        old = self._fds.get(fd)
        self._fds[fd] = desc
        if cloexec:
            self._cloexec.add(fd)
        else:
            self._cloexec.discard(fd)
        if old is not None:
            self._drop(old, lock_owner)
        return old

    def close(self, fd: int, lock_owner: Any = None) -> FileDescription:
        """Remove *fd*; returns its description (released if that was the last reference).

        :raises LinuxError: ``EBADF``.
        """
        d = self._fds.pop(fd, None)
        if d is None:
            raise err(errno.EBADF)
        self._cloexec.discard(fd)
        self._drop(d, lock_owner)
        return d

    @staticmethod
    def _drop(desc: FileDescription, lock_owner: Any) -> None:
        if lock_owner is not None and desc.inode is not None and desc.inode.locks is not None:
            release_owner(desc.inode, lock_owner)
        desc.decref()

    def get_cloexec(self, fd: int) -> bool:
        """:raises LinuxError: ``EBADF``."""
        self.get(fd)
        return fd in self._cloexec

    def set_cloexec(self, fd: int, on: bool) -> None:
        """:raises LinuxError: ``EBADF``."""
        self.get(fd)
        if on:
            self._cloexec.add(fd)
        else:
            self._cloexec.discard(fd)

    def fork(self) -> "FDTable":
        """A copy for a forked process, sharing the descriptions."""
        new = FDTable(self.limit)
        new._fds = dict(self._fds)
        new._cloexec = set(self._cloexec)
        for d in new._fds.values():
            d.incref()
        return new

    def close_on_exec(self, lock_owner: Any = None) -> None:
        """Close every fd marked close-on-exec (at a successful execve)."""
        for fd in sorted(self._cloexec):
            if fd in self._fds:
                self.close(fd, lock_owner)
        self._cloexec.clear()

    def close_range(self, first: int, last: int, cloexec_only: bool, lock_owner: Any = None) -> None:
        """close_range(2) over ``[first, last]``."""
        for fd in sorted(f for f in self._fds if first <= f <= last):
            if cloexec_only:
                self._cloexec.add(fd)
            else:
                self.close(fd, lock_owner)

    def release_all(self, lock_owner: Any = None) -> None:
        """Close everything (the last task using the table exited).

        The record locks of processes that exited go too (with *lock_owner*
        None the caller is the exit path, whose thread group is a zombie by
        now), so that waiters for them wake up.
        """
        for fd in sorted(self._fds):
            d = self._fds.get(fd)
            if d is None:
                continue
            inode = d.inode
            self.close(fd, lock_owner)
            release_dead_owners(inode)

    def __iter__(self) -> Iterator[Tuple[int, FileDescription]]:
        """``(fd, description)`` in fd order (``/proc/pid/fd``)."""
        return iter(sorted(self._fds.items()))

    def fds(self) -> List[int]:
        return sorted(self._fds)

    def __len__(self) -> int:
        return len(self._fds)

    def __contains__(self, fd: int) -> bool:
        return fd in self._fds
