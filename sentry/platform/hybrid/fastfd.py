"""The fd table mirrored into the C fast path.

:class:`FastFDTable` is the sentry's :class:`~sentry.vfs.fdtable.FDTable` plus a
copy, in C, of the fds whose descriptions are backed by a host fd with the
sandbox's semantics (``read``/``write``/``lseek``/``fstat`` can go straight to
the host fd).  Every mutation of the table updates the copy.  A ``close`` the C
side served is queued there and applied here (:meth:`close_from_fast`) before
Python handles anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from sentry.abi.linux.errors import LinuxError
from sentry.fsimpl.gofer.regular_file import GoferFileDescription
from sentry.fsimpl.host.host import HostFileDescription
from sentry.platform.hybrid import native as N
from sentry.vfs import abi
from sentry.vfs import fsnotify
from sentry.vfs.fdtable import NOFILE_LIMIT, FDTable
from sentry.vfs import statcache
from sentry.vfs.file import DirectoryDescription, FileDescription

if TYPE_CHECKING:
    from sentry.kernel.kernel import Kernel


def fast_kinds(desc: FileDescription) -> int:
    """Which calls the C side may serve for *desc* (``N.FD_*`` bits; 0: none).

    Host-backed descriptions whose Python handlers do exactly the host call:
    donated stdio (``HostFileDescription``) and the gofer's regular files.
    ``fstat`` is served when the Python stat is the host's ``fstat`` with the
    sandbox's device number and owner, which the C side substitutes
    (:func:`stat_overrides`): always for stdio, and for gofer files on
    read-only mounts or of the trusted lower layer (an overlay copies such a file
    up to change it), whose owner cannot change under an open description.
    """
    if fsnotify.active and desc.notify_inode is not None:
        return 0  # its reads, writes and close make inotify events: Python serves them
    if desc.host_fd is None:
        # A directory of the trusted lower layer: its fstat answer cannot change until
        # the sentry changes something (the stat cache's generation), and getdents at the
        # end of its listing is 0 until the offset moves.
        if isinstance(desc, DirectoryDescription) and statcache.enabled() and \
                statcache.trusted(desc.inode):
            return N.FD_BLOB | N.FD_NOTTY
        return 0
    if isinstance(desc, HostFileDescription):
        k = N.FD_STAT | (N.FD_SEEK if desc.seekable else 0)
    elif isinstance(desc, GoferFileDescription):
        # a regular file: isatty(3) is ENOTTY (Python's open() asks of every file)
        k = N.FD_SEEK | N.FD_NOTTY
        vd = desc.vd
        if vd is not None and (vd.mount.readonly or vd.mount.fs.readonly
                               or statcache.trusted(desc.inode)):
            k |= N.FD_STAT
    else:
        return 0
    if desc.readable():
        k |= N.FD_READ
    if desc.writable():
        k |= N.FD_WRITE
    return k


def remirror_all(kernel: "Kernel", on: bool = True) -> None:
    """Decide again, for every fd of every table, whether the C side serves it (inotify
    watches came or went: :data:`sentry.vfs.fsnotify.on_active_change`)."""
    for table in list(kernel.fdtables_by_id.values()):
        for fd, desc in list(table._fds.items()):
            table._mirror(fd, desc)


def stat_overrides(desc: FileDescription) -> tuple:
    """(dev, uid, gid) the sandbox's fstat of *desc* shows."""
    inode = desc.inode
    if inode is None:
        return 0, 0, 0
    return inode.fs.dev, inode.uid, inode.gid


class FastFDTable(FDTable):
    def __init__(self, kernel: "Kernel", limit: int = NOFILE_LIMIT) -> None:
        super().__init__(limit)
        self.hard_limit = limit
        self.kernel = kernel
        self.fast_id = kernel.new_fdt_id()
        kernel.fdtables_by_id[self.fast_id] = self

    def _mirror(self, fd: int, desc: FileDescription) -> None:
        k = 0 if self.kernel.python_only else fast_kinds(desc)
        if k:
            try:
                N.fd_set(self.fast_id, fd, desc.host_fd or 0, k, *stat_overrides(desc))
            except OSError:
                return  # more live tables than the C side holds: Python serves this one
            if k & N.FD_BLOB:
                assert desc.inode is not None
                N.fd_set_blob(self.fast_id, fd, abi.pack_stat(desc.inode.stat()),
                              N.statcache_gen())
        else:
            N.fd_clear(self.fast_id, fd)

    def install(self, desc: FileDescription, cloexec: bool = False, minfd: int = 0) -> int:
        fd = super().install(desc, cloexec, minfd)
        self._mirror(fd, desc)
        return fd

    def install_at(self, fd: int, desc: FileDescription, cloexec: bool = False,
                   lock_owner: Any = None) -> Optional[FileDescription]:
        old = super().install_at(fd, desc, cloexec, lock_owner)
        self._mirror(fd, desc)
        return old

    def at_end(self, fd: int, desc: DirectoryDescription) -> None:
        """*desc* (at *fd*) was read to the end of its listing: the C side answers the
        next getdents with 0 until the offset moves (a FD_BLOB slot only)."""
        if self.kernel.python_only:
            return
        fdt = self.fast_id
        N.fd_set_eof(fdt, fd, True)
        desc.end_marks.append(lambda: N.fd_set_eof(fdt, fd, False))

    def close(self, fd: int, lock_owner: Any = None) -> FileDescription:
        d = super().close(fd, lock_owner)
        N.fd_clear(self.fast_id, fd)
        return d

    def close_from_fast(self, fd: int) -> None:
        owner = None
        for t in self.kernel.tasks.values():
            if t.fdtable is self:
                owner = t.tg
                break
        try:
            super().close(fd, owner)
        except LinuxError:
            pass

    def fork(self) -> "FastFDTable":
        new = FastFDTable(self.kernel, self.limit)
        new.hard_limit = self.hard_limit
        new._fds = dict(self._fds)
        new._cloexec = set(self._cloexec)
        for fd, d in new._fds.items():
            d.incref()
            new._mirror(fd, d)
        return new

    def release_all(self, lock_owner: Any = None) -> None:
        super().release_all(lock_owner)
        if self.kernel.fdtables_by_id.get(self.fast_id) is self:
            try:
                N.fdt_clear(self.fast_id)
            except OSError:
                pass  # an id past the C side's tables: nothing there
            del self.kernel.fdtables_by_id[self.fast_id]
            self.kernel.free_fdt_id(self.fast_id)
