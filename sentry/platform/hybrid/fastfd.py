"""The fd table mirrored into the C fast path.

:class:`FastFDTable` is the sentry's :class:`~sentry.vfs.fdtable.FDTable` plus a
copy, in C, of the fds whose descriptions are backed by a host fd with the
sandbox's semantics (``read``/``write``/``lseek``/``fstat`` can go straight to
the host fd), and of the ends of sandbox pipes (whose buffer is C's).  Every
mutation of the table updates the copy.  A ``close`` the C side served is queued
there and applied here (:meth:`close_from_fast`) before Python handles anything
else.
"""

from __future__ import annotations

import errno
import os

from sentry import logger
from sentry.abi.linux.errors import LinuxError
from sentry.fsimpl.gofer.regular_file import GoferFileDescription
from sentry.fsimpl.host.host import HostFileDescription
from sentry.fsimpl.pipe.pipe import PipeDescription
from sentry.platform.hybrid import native as N
from sentry.vfs import abi
from sentry.vfs import fsnotify
from sentry.vfs.fdtable import NOFILE_LIMIT, FDTable
from sentry.vfs import statcache
from sentry.vfs.file import DirectoryDescription, FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional
    from sentry.kernel.kernel import Kernel

log = logger.get("sentry")


def fast_kinds(desc: FileDescription) -> int:
    """Which calls the C side may serve for *desc* (``N.FD_*`` bits; 0: none).

    Host-backed descriptions whose Python handlers do exactly the host call:
    donated stdio (``HostFileDescription``) and the gofer's regular files; and a
    sandbox pipe's ends (``FD_PIPE_R``/``FD_PIPE_W``: C reads and writes its buffer).
    ``fstat`` is served when the Python stat is the host's ``fstat`` with the
    sandbox's device number and owner, which the C side substitutes
    (:func:`stat_overrides`): always for stdio, and for gofer files on
    read-only mounts or of the trusted lower layer (an overlay copies such a file
    up to change it), whose owner cannot change under an open description; not those
    of a shared bind mount, whose owner the host may change (a chown there showed in
    fstat only through a path's stat, and never on a read-only one).
    """
    if fsnotify.active and desc.notify_inode is not None:
        return 0  # its reads, writes and close make inotify events: Python serves them
    if isinstance(desc, PipeDescription):
        # a sandbox pipe's end: C reads and writes its buffer while nothing waits on it
        return (N.FD_PIPE_R if desc.is_reader else 0) | (N.FD_PIPE_W if desc.is_writer else 0)
    if desc.host_fd is None:
        # A directory of the trusted lower layer: its fstat answer cannot change until
        # the sentry changes something (the stat cache's generation), and getdents at the
        # end of its listing is 0 until the offset moves.
        if isinstance(desc, DirectoryDescription) and statcache.enabled() and \
                statcache.trusted(desc.inode):
            return N.FD_BLOB | N.FD_NOTTY
        if desc.swallows_writes and desc.writable():
            return N.FD_NULL  # a script's > /dev/null (tar cf - DIR > /dev/null: 9,937)
        return 0
    if isinstance(desc, HostFileDescription):
        k = N.FD_STAT | (N.FD_SEEK if desc.seekable else 0)
        regular = desc.inode is not None and desc.inode.is_reg
        if not desc.is_tty and not desc.random and (regular or not desc.seekable):
            # isatty(3), a terminal's size: ENOTTY, as HostFileDescription.ioctl answers
            # every request but FIONREAD of a host file that is no terminal (a shell asks
            # the size of its stderr after each command), but random(4)'s (EINVAL); not
            # for a block device, which FD_SEEK | FD_NOTTY would make a regular file to
            # C's sendfile
            k |= N.FD_NOTTY
    elif isinstance(desc, GoferFileDescription):
        # a regular file: isatty(3) is ENOTTY (Python's open() asks of every file)
        k = N.FD_SEEK | N.FD_NOTTY
        vd = desc.vd
        # (not a shared mount's: others change its files' owners, and its stat asks the
        # gofer each time)
        shared = desc.inode is not None and getattr(desc.inode.fs, "revalidate", False)
        if vd is not None and not shared and (
                vd.mount.readonly or vd.mount.fs.readonly or statcache.trusted(desc.inode)):
            k |= N.FD_STAT
        if desc.readable():
            # mmap lends its host fd (sys_mm.mmap_file), PROT_EXEC unless noexec
            k |= N.FD_MAP if vd is not None and vd.mount.noexec else N.FD_MAP | N.FD_MAPX
    else:
        return 0
    if desc.readable():
        k |= N.FD_READ
    if desc.writable():
        k |= N.FD_WRITE
    return k


def remirror_all(kernel: "Kernel", on: bool = True) -> None:
    """Decide again, for every fd of every table, whether the C side serves it (inotify
    watches came or went: :data:`sentry.vfs.fsnotify.on_active_change`); C opens
    directories only while nothing watches (their opens, reads and closes make events)."""
    if not kernel.python_only and statcache.enabled():
        N.dirc_enable(not fsnotify.active)
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
    """Also tells the C side which fds are open and the table's RLIMIT_NOFILE: C opens
    directories itself (rt.c ``sc_open_dir``) at the lowest free fd, and Python makes
    their descriptions (:meth:`opened_in_fast`) before it handles anything else."""

    def __init__(self, kernel: "Kernel", limit: int = NOFILE_LIMIT) -> None:
        self.kernel = kernel
        self.fast_id = kernel.new_fdt_id()
        super().__init__(limit)
        self.hard_limit = limit
        kernel.fdtables_by_id[self.fast_id] = self

    @property  # type: ignore[override]
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value
        if not self.kernel.python_only:
            N.fdt_set_limit(self.fast_id, value)

    def _mirror(self, fd: int, desc: FileDescription) -> None:
        k = 0 if self.kernel.python_only else fast_kinds(desc)
        if k:
            try:
                if isinstance(desc, PipeDescription):
                    N.fd_set_pipe(self.fast_id, fd, desc.pipe.cbuf, k, desc.nonblock_cell)
                else:
                    N.fd_set(self.fast_id, fd, desc.host_fd or 0, k, *stat_overrides(desc))
            except OSError:
                return  # more live tables than the C side holds: Python serves this one
            if k & N.FD_BLOB:
                assert desc.inode is not None
                gen = N.statcache_gen()
                N.fd_set_blob(self.fast_id, fd, abi.pack_stat(desc.inode.stat()), gen,
                              desc.vd.mount.id if desc.vd is not None else 0)
                key = getattr(desc, "dir_key", None)
                if key is not None and key[2] == gen:  # a dup of a directory read already
                    N.fd_set_dir_key(self.fast_id, fd, key[0], key[1], gen)
        else:
            N.fd_clear(self.fast_id, fd)

    def install(self, desc: FileDescription, cloexec: bool = False, minfd: int = 0) -> int:
        fd = super().install(desc, cloexec, minfd)
        self._mirror(fd, desc)
        N.fd_used(self.fast_id, fd, True)
        return fd

    def install_at(self, fd: int, desc: FileDescription, cloexec: bool = False,
                   lock_owner: Any = None) -> Optional[FileDescription]:
        old = super().install_at(fd, desc, cloexec, lock_owner)
        self._mirror(fd, desc)
        N.fd_used(self.fast_id, fd, True)
        return old

    def set_dir_key(self, fd: int, key: tuple) -> None:
        """The stat cache's absolute key (base, prefix) of the directory at *fd*, which a
        getdents64 just handed over (statcache.prefill): C looks paths relative to the fd
        up under it, and under any other fd of the same description (fts reads a
        directory through one fd and stats its entries through a dup), in this
        generation."""
        if self.kernel.python_only:
            return
        desc = self._fds.get(fd)
        if not isinstance(desc, DirectoryDescription):
            return
        gen = N.statcache_gen()
        desc.dir_key = (key[0], key[1], gen)
        for other, d in (self._fds.items() if desc.refs > 1 else ((fd, desc),)):
            if d is desc:
                N.fd_set_dir_key(self.fast_id, other, key[0], key[1], gen)

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
        N.fd_used(self.fast_id, fd, False)
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

    def opened_in_fast(self, fd: int, serial: int) -> None:
        """C opened a file or a directory (at *fd*; its entry *serial* in the opened
        ring): make its description, as the opening task's ``openat`` would have (a file:
        :meth:`_file_opened_in_fast`); a directory's at the place in its listing C's
        getdents64 left it, installed at every fd C has it at (a dup C made shares it),
        each with its close-on-exec flag.  Nothing if C closed it."""
        finfo = N.filec_info(self.fast_id, fd, serial)  # (a look at one slot)
        if finfo is not None:
            self._file_opened_in_fast(fd, finfo)
            return
        info = N.dirc_info(self.fast_id, serial)  # (a scan of the table)
        if info is None:
            return
        tid, path, flags, index, at_end, fds = info
        t = self.kernel.tasks.get(tid)
        try:
            if t is None or t.fdtable is not self:
                raise LinuxError(errno.ESRCH)
            desc = self.kernel.vfs.open_at(t, abi.AT_FDCWD, path, flags | abi.O_LARGEFILE, 0)
        except LinuxError as e:
            # The sentry changed nothing since C opened it (it handles this first): a bug.
            log.error("cannot make the description of fd %d (%r) C opened: %s", fd, path, e)
            for other, _ in fds:
                N.fd_clear(self.fast_id, other)
                N.fd_used(self.fast_id, other, False)
            return
        desc.offset = index
        # Paths relative to its fds stay C's (tar opens and stats a directory's files
        # through the fd it read it by): the key C had for it goes with the slot, and
        # the install gives each fd the description's (_mirror).
        if isinstance(desc, DirectoryDescription):
            key = statcache.dir_key(t, desc, self.kernel.vfs.root())
            if key is not None:
                desc.dir_key = (key[0], key[1], N.statcache_gen())
        for i, (other, cloexec) in enumerate(fds):
            if i:
                desc.incref()
            self.install_at(other, desc, cloexec=cloexec)
        # C's reader was at the end of the listing already (os.walk read it whole and
        # stats its entries before its last getdents64; a stat of a symlink out of the
        # tree gave Python this turn): C answers that last read with 0, as after a read
        # of Python's to the end (the walk of /usr/share/doc: Python's getdents64 34 -> 22),
        # if the description's own listing ends there too.
        try:
            at_end = at_end and index >= len(desc.getdents(t))
        except LinuxError:
            at_end = False  # (its next read, Python's, meets the error)
        if at_end:
            for other, _ in fds:
                self.at_end(other, desc)

    def _file_opened_in_fast(self, fd: int, info: tuple) -> None:
        """C re-opened a file at *fd* on the host fd kept for its path (rt.c
        ``sc_open_file``): make its description, as the opening task's ``openat`` would
        have, on that host fd (whose offset is where C's reads left it), and install it."""
        tid, path, flags, host_fd, base, gen, ino = info
        t = self.kernel.tasks.get(tid)
        vfs = self.kernel.vfs
        taken = False  # the description owns host_fd
        try:
            if t is None or t.fdtable is not self:
                raise LinuxError(errno.ESRCH)
            vd = vfs.resolve(t, abi.AT_FDCWD, path, follow=not flags & abi.O_NOFOLLOW)
            lower = statcache.trusted_gofer_inode(vd.dentry.inode)
            if lower is None or not lower.is_reg or lower.ino != ino:
                raise LinuxError(errno.ESTALE)  # not the file C read (a bug if so)
            # The gofer inode's open takes a host fd left for it (GoferInode.open).
            kept, lower._pending_fd = lower._pending_fd, (host_fd, abi.O_RDONLY)
            try:
                desc = vfs.open_vd(t, vd, flags | abi.O_LARGEFILE)
            finally:
                now = lower._pending_fd
                taken = now is None or now[0] != host_fd
                if now is not None and taken:
                    # (a release of the file's description during the open kept its fd
                    # here: one of the two stays, the other is closed)
                    if kept is None:
                        kept = now
                    else:
                        lower.drop_pending(now)
                lower._pending_fd = kept
        except Exception as e:  # noqa: BLE001 - a bug: the fd goes, the sentry goes on
            # The sentry changed nothing since C opened it (it handles this first).
            log.error("cannot make the description of fd %d (%r) C opened: %s", fd, path, e)
            N.fd_clear(self.fast_id, fd)
            N.fd_used(self.fast_id, fd, False)
            if not taken:
                os.close(host_fd)
            return
        desc.reopen_key = (base, bool(flags & abi.O_NOFOLLOW), path, gen)
        self.install_at(fd, desc, cloexec=bool(flags & abi.O_CLOEXEC))

    def fork(self) -> "FastFDTable":
        new = FastFDTable(self.kernel, self.limit)
        new.hard_limit = self.hard_limit
        new._fds = dict(self._fds)
        new._cloexec = set(self._cloexec)
        for fd, d in new._fds.items():
            d.incref()
            new._mirror(fd, d)
            N.fd_used(new.fast_id, fd, True)
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
