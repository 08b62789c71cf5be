"""tmpfs regular files: data in a ``bytearray`` or a memfd, descriptions with an offset.

A file mapped ``MAP_SHARED`` moves its data into a memfd the sentry holds
(:meth:`TmpfsFile.shared_fd`): the task maps the memfd, and from then on the
sentry reads and writes the memfd too, so both views are the same pages.
Large files move there too, so that sparse files cost only what is written.

File seals (``fcntl(F_ADD_SEALS)``, memfd_create(2)) are kept in
:attr:`TmpfsFile.seals` and enforced here on ``write``, ``truncate``,
``fallocate`` and ``chmod`` with Linux's ``EPERM`` (``mm/shmem.c``).  What a
mapping does is the host kernel's business, so the host memfd carries the
seals that concern data (``WRITE``, ``FUTURE_WRITE``, ``GROW``, ``SHRINK``):
the host then refuses a writable shared mapping of a write-sealed file, clears
``VM_MAYWRITE`` of read-only ones (``mprotect(PROT_WRITE)`` is ``EACCES``),
refuses hole punching through ``madvise(MADV_REMOVE)``, and answers
``F_SEAL_WRITE`` with ``EBUSY`` while any process has a writable shared
mapping.  A read-only description lends a read-only host fd (the memfd
re-opened through ``/proc/self/fd``), so its mapping can never become writable.
"""

from __future__ import annotations

import errno
import fcntl
import os
import weakref

from sentry.abi.linux.errors import err
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem, TmpfsInode
from sentry.vfs import abi
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import SetAttr, now_ns

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Set

#: Largest file offset (MAX_LFS_FILESIZE); writes past it: ``EFBIG``.
MAX_FILE_SIZE = (1 << 63) - 1

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
#: A file longer than this moves from a bytearray into a memfd (sparse, page-granular).
DENSE_MAX = 8 << 20

F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8
F_SEAL_FUTURE_WRITE, F_SEAL_EXEC = 0x10, 0x20
F_ALL_SEALS = 0x3F
#: The seals the host memfd carries (F_SEAL_EXEC is about the sandbox's mode, not the host's).
_HOST_SEALS = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE
_PAGE = 4096


def reopen_read_only(t: Any, fd: int) -> int:
    """The sentry's host *fd* (a memfd) re-opened read-only through its ``/proc`` fd: a
    mapping of it the host never lets become writable.  :raises LinuxError: the open's
    errno, ``ENOMEM`` for the sentry's own ``EMFILE`` (no errno of the sandbox's)."""
    try:
        return os.open(f"self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=t.kernel.procfd)
    except OSError as e:
        raise err(errno.ENOMEM if e.errno in (errno.EMFILE, errno.ENFILE)
                  else e.errno or errno.ENOMEM) from None

class TmpfsFile(TmpfsInode):
    """A regular file held in memory.

    Small files are a ``bytearray``.  A file that is mapped ``MAP_SHARED``, or
    grows past :data:`DENSE_MAX`, moves into a memfd (:meth:`shared_fd`): the
    host then keeps its pages, sparse like Linux's tmpfs (a 4 GiB file with one
    byte written costs one page).  What a file costs the file system
    (``fs.used``, against ``size_limit``, and the sandbox's memory account) is
    its length while dense and its allocated pages in a memfd, for as long as the
    inode lives: an unlinked file still open keeps its data, as on Linux.

    :ivar seals: ``F_SEAL_*``; every tmpfs file starts with ``F_SEAL_SEAL`` (no
        sealing) except a memfd made with ``MFD_ALLOW_SEALING``.
    """

    seals = F_SEAL_SEAL
    charged = 0  # bytes this file counts in fs.used and the sandbox's account

    def __init__(self, fs: TmpfsFilesystem, mode: int, uid: int, gid: int) -> None:
        super().__init__(fs, abi.S_IFREG | (mode & 0o7777), uid, gid)
        self.data = bytearray()
        # The pages of a dense file that were written (or allocated), once it has a hole
        # (a truncate or a write past its end leaving a whole page never written); None:
        # every page up to its length.  st_blocks counts them, as Linux's tmpfs counts
        # the pages it allocated.
        self._pages: Optional[Set[int]] = None
        # Once moved: the memfd holding the data (``data`` is then unused).
        self.memfd: Optional[int] = None
        self._size = 0
        # The memfd re-opened read-only, lent for mappings of read-only descriptions.
        self._memfd_ro: Optional[int] = None

    def data_size(self) -> int:
        return self._size if self.memfd is not None else len(self.data)

    def data_blocks(self, size: int) -> int:
        if self.memfd is not None:
            return os.fstat(self.memfd).st_blocks
        # Linux tmpfs counts the pages it allocated: those written.
        if self._pages is not None:
            return len(self._pages) * 8
        return (size + 4095) // 4096 * 8

    def _unwritten_to(self, end: int) -> None:
        """A dense file grows, its growth up to *end* never written: a page there (a
        partial one too) is a hole, and the written pages are tracked from then on."""
        have = (len(self.data) + _PAGE - 1) // _PAGE
        if self._pages is None and (end + _PAGE - 1) // _PAGE > have:
            self._pages = set(range(have))

    def _written(self, off: int, end: int) -> None:
        """``[off, end)`` of a dense file was written (or allocated)."""
        if self._pages is not None and end > off:
            self._pages.update(range(off // _PAGE, (end + _PAGE - 1) // _PAGE))

    def _recharge(self) -> None:
        cost = os.fstat(self.memfd).st_blocks * 512 if self.memfd is not None else len(self.data)
        self.fs.charge(cost - self.charged)
        self.charged = cost

    def __del__(self) -> None:
        # The inode is gone (no name, no description, no cached dentry): so is its data.
        # (charged is 0 on an object whose construction failed: no fs then.)
        if self.charged:
            self.fs.charge(-self.charged)
            self.charged = 0
        super().__del__()

    def _room(self, more: int) -> None:
        if not self.fs.has_room(more):
            raise err(errno.ENOSPC)

    def read_at(self, off: int, n: int) -> bytes:
        """Up to *n* bytes at *off* (``b""`` past the end)."""
        if self.memfd is not None:
            n = min(n, self._size - off)
            return os.pread(self.memfd, n, off) if n > 0 else b""
        return bytes(self.data[off : off + n]) if off < len(self.data) else b""

    def shared_fd(self) -> int:
        """The memfd holding the data (the data moves there on the first call)."""
        if self.memfd is None:
            # A file that may ever be sealed gets a sealable memfd; the seals are
            # added once the data is in.
            sealable = self.seals != F_SEAL_SEAL
            try:
                fd = os.memfd_create("runsc-py-tmpfs", os.MFD_CLOEXEC | (
                    os.MFD_ALLOW_SEALING if sealable else 0))
            except OSError:
                raise err(errno.ENOMEM) from None  # (the sentry's fds or memory)
            try:
                os.ftruncate(fd, len(self.data))
                view = memoryview(self.data)
                # (only the pages written: the memfd's holes stay holes, st_blocks the same)
                spans = ([(0, len(view))] if self._pages is None else
                         [(p * _PAGE, min((p + 1) * _PAGE, len(view))) for p in sorted(self._pages)])
                for lo, hi in spans:
                    pos = lo
                    while pos < hi:
                        pos += os.pwrite(fd, view[pos:hi], pos)
                if sealable:
                    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                                self.seals & (_HOST_SEALS | F_SEAL_SEAL))
            except OSError:
                os.close(fd)
                raise err(errno.ENOMEM) from None
            self._size = len(self.data)
            self.data = bytearray()
            self._pages = None
            self.memfd = fd
            weakref.finalize(self, os.close, fd)
            self._recharge()
        return self.memfd

    def shared_fd_for(self, t: Any, writable: bool) -> int:
        """The host fd to lend for a shared mapping through a description that is
        *writable* or not: the memfd, or for a read-only one the memfd re-opened
        read-only, whose mappings the host never lets become writable."""
        fd = self.shared_fd()
        if writable:
            return fd
        if self._memfd_ro is None:
            ro = reopen_read_only(t, fd)
            self._memfd_ro = ro
            weakref.finalize(self, os.close, ro)
        return self._memfd_ro

    # -- seals (memfd_create(2), fcntl(2) F_ADD_SEALS) -------------------------
    def add_seals(self, seals: int) -> None:
        """``F_ADD_SEALS`` of *seals* (the caller checked the description is writable).

        :raises LinuxError: ``EINVAL`` for unknown seals, ``EPERM`` once
            ``F_SEAL_SEAL`` is set, ``EBUSY`` for ``F_SEAL_WRITE`` while a process
            has a writable shared mapping (the host's count of the memfd's).
        """
        if seals & ~F_ALL_SEALS:
            raise err(errno.EINVAL)
        if self.seals & F_SEAL_SEAL:
            raise err(errno.EPERM)
        # F_SEAL_EXEC on an executable file seals it against writing too
        # (memfd_add_seals: W^X from the start), before the mapping check.
        if seals & F_SEAL_EXEC and self.mode & 0o111:
            seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE
        host = seals & _HOST_SEALS
        if self.memfd is not None and host & ~self.seals:
            try:
                fcntl.fcntl(self.memfd, fcntl.F_ADD_SEALS, host)
            except OSError as e:
                raise err(e.errno or errno.EBUSY) from None
        self.seals |= seals

    def _check_write(self, off: int, n: int) -> int:
        """How many of *n* bytes at *off* the seals let a write store (``EPERM``: none).

        With ``F_SEAL_GROW`` Linux writes page by page and stops at the first
        page-sized chunk that would grow the file (``shmem_write_begin``).
        """
        if self.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
            raise err(errno.EPERM)
        size = self.data_size()
        if self.seals & F_SEAL_GROW and off + n > size:
            allowed = (size & ~(_PAGE - 1)) - off
            if allowed <= 0:
                raise err(errno.EPERM)
            return allowed
        return n

    def resize(self, size: int, hole_end: int = -1) -> None:
        """Set the length (zero-filling growth), the growth up to *hole_end* (-1: all of
        it, a truncate's) left unwritten: a write's or fallocate's past the end is
        written from there.  :raises LinuxError: ``ENOSPC``, ``EFBIG``."""
        if size > MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        if self.memfd is None and size > DENSE_MAX:
            self.shared_fd()
        if self.memfd is not None:
            try:
                os.ftruncate(self.memfd, size)  # growth allocates nothing
            except OSError as e:
                raise err(e.errno or errno.ENOSPC) from None
            self._size = size
        else:
            delta = size - len(self.data)
            self._room(delta)
            if delta > 0:
                self._unwritten_to(size if hole_end < 0 else min(hole_end, size))
                self.data.extend(bytes(delta))
            elif delta < 0:
                del self.data[size:]
                if self._pages is not None:  # (the pages past the end go)
                    last = (size + _PAGE - 1) // _PAGE
                    self._pages = {p for p in self._pages if p < last}
        self._recharge()

    def write_at(self, off: int, data: bytes) -> int:
        """Write *data* at *off*, growing the file; returns the count (short only
        when ``F_SEAL_GROW`` stops it).  :raises LinuxError: ``EPERM`` (seals)."""
        if not data:
            return 0
        if self.seals != F_SEAL_SEAL:
            n = self._check_write(off, len(data))
            data = data[:n]
        end = off + len(data)
        if end > MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        if self.memfd is not None or end > DENSE_MAX:
            self._room(len(data))  # at most this many new pages' worth
        if end > self.data_size():
            self.resize(end, off)
        if self.memfd is not None:
            view = memoryview(data)
            pos = 0
            while pos < len(view):
                pos += os.pwrite(self.memfd, view[pos:], off + pos)
            self._recharge()
        else:
            self.data[off:end] = data
            self._written(off, end)
        self.mtime_ns = self.ctime_ns = now_ns()
        return len(data)

    def zero_range(self, off: int, end: int) -> None:
        """Zero ``[off, end)`` within the file (``FALLOC_FL_PUNCH_HOLE``: pages are freed)."""
        stop = min(end, self.data_size())
        if off >= stop:
            return
        if self.memfd is None and (off + _PAGE - 1) // _PAGE < stop // _PAGE:
            # A whole page is freed: Linux's st_blocks drops, which a bytearray
            # (dense, every page counted) cannot show; the memfd is sparse.
            self.shared_fd()
        if self.memfd is not None:
            from sentry.platform.hybrid import native as N

            try:
                N.fallocate(self.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, stop - off)
            except OSError as e:
                raise err(e.errno or errno.EIO) from None
            self._recharge()
        else:
            self.data[off:stop] = bytes(stop - off)
        self.mtime_ns = self.ctime_ns = now_ns()

    def setattr(self, t: Any, attr: SetAttr) -> None:
        self.fs.check_writable()
        if self.seals != F_SEAL_SEAL:
            if (self.seals & F_SEAL_EXEC and attr.mode is not None
                    and (self.mode ^ attr.mode) & 0o111):
                raise err(errno.EPERM)
            if attr.size is not None:
                size = self.data_size()
                if (attr.size < size and self.seals & F_SEAL_SHRINK
                        or attr.size > size and self.seals & F_SEAL_GROW):
                    raise err(errno.EPERM)
        if attr.size is not None:
            self.resize(attr.size)
        self.apply_setattr(attr)

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return TmpfsFileDescription(vd, self, flags)


class TmpfsFileDescription(FileDescription):
    """An open tmpfs regular file."""

    inode: TmpfsFile
    fsync_op = True  # (shmem's noop_fsync)

    def read(self, t: Any, n: int) -> bytes:
        out = self.pread(t, n, self.offset)
        self.offset += len(out)
        return out

    def unread(self, t: Any, data: bytes) -> None:
        self.offset -= len(data)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        return self.inode.read_at(off, n)

    def write(self, t: Any, data: bytes) -> int:
        if self.flags & abi.O_APPEND:
            self.offset = self.inode.data_size()
        n = self.inode.write_at(self.offset, data)
        self.offset += n
        return n

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        # pwrite on an O_APPEND file appends (a Linux bug kept for compatibility).
        if self.flags & abi.O_APPEND:
            off = self.inode.data_size()
        return self.inode.write_at(off, data)

    def seek(self, t: Any, off: int, whence: int) -> int:
        return self.generic_seek(off, whence)

    def size(self) -> int:
        return self.inode.data_size()

    def shared_mapping_fd(self, t: Any) -> int:
        return self.inode.shared_fd_for(t, self.writable())

    def truncate(self, t: Any, size: int) -> None:
        self.inode.setattr(t, SetAttr(size=size, mtime_ns=now_ns()))

    def fallocate(self, t: Any, mode: int, off: int, length: int) -> None:
        """Mode 0 and ``FALLOC_FL_KEEP_SIZE`` (reserve: nothing to do beyond the
        size check), ``PUNCH_HOLE|KEEP_SIZE`` (zero the range); others ``EOPNOTSUPP``."""
        end = off + length
        if end > MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        seals = self.inode.seals
        if seals != F_SEAL_SEAL and mode in (0, FALLOC_FL_KEEP_SIZE,
                                             FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE):
            # shmem_fallocate: a punched hole is a write; growth (even KEEP_SIZE) is growth.
            if mode & FALLOC_FL_PUNCH_HOLE:
                if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
                    raise err(errno.EPERM)
            elif seals & F_SEAL_GROW and end > self.inode.data_size():
                raise err(errno.EPERM)
        if mode == 0:
            if end > self.inode.data_size():
                self.inode.resize(end, off)
                self.inode.ctime_ns = now_ns()
            if self.inode.memfd is None:
                self.inode._written(off, end)  # (holes in the range are allocated)
            return
        if mode == FALLOC_FL_KEEP_SIZE:
            if not self.inode.fs.has_room(end - self.inode.data_size()):
                raise err(errno.ENOSPC)
            return
        if mode == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
            self.inode.zero_range(off, end)
            return
        raise err(errno.EOPNOTSUPP)
