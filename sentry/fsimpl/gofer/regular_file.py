"""Open gofer regular files: I/O on the host fd the gofer donated.

The host fd's own offset is the description's offset, and its host
semantics are the sandbox's, so :attr:`host_fd` is set for the C fast path.
The sentry owns the fd and closes it in :meth:`GoferFileDescription.release`.
"""

from __future__ import annotations

import errno
import fcntl
import os

from sentry.abi.linux.errors import err
from sentry.vfs import abi, statcache
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Inode, Stat

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any


def _host(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except OSError as e:
        raise err(e.errno or errno.EIO) from None


class _HostOwner:
    """A host fstat's owner and group, for ``GoferFilesystem.sandbox_ids``."""

    __slots__ = ("uid", "gid")

    def __init__(self, uid: int, gid: int) -> None:
        self.uid = uid
        self.gid = gid


class GoferFileDescription(FileDescription):
    """A regular file opened through the gofer."""

    host_offset = True
    fsync_op = True
    validates_on_host = True

    def __init__(self, vd: Any, inode: Inode, flags: int, fd: int) -> None:
        super().__init__(vd, inode, flags)
        self.host_fd = fd
        self._fd = fd

    @property  # type: ignore[override]
    def offset(self) -> int:
        return _host(os.lseek, self._fd, 0, os.SEEK_CUR)

    @offset.setter
    def offset(self, v: int) -> None:
        _host(os.lseek, self._fd, v, os.SEEK_SET)

    def read(self, t: Any, n: int) -> bytes:
        return _host(os.read, self._fd, n)

    def unread(self, t: Any, data: bytes) -> None:
        if data:
            _host(os.lseek, self._fd, -len(data), os.SEEK_CUR)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        return _host(os.pread, self._fd, n, off)

    def write(self, t: Any, data: bytes) -> int:
        return _host(os.write, self._fd, data)

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        return _host(os.pwrite, self._fd, data, off)

    def seek(self, t: Any, off: int, whence: int) -> int:
        if whence not in (abi.SEEK_SET, abi.SEEK_CUR, abi.SEEK_END, abi.SEEK_DATA, abi.SEEK_HOLE):
            raise err(errno.EINVAL)
        return _host(os.lseek, self._fd, off, whence)

    def stat(self, t: Any) -> Stat:
        st = _host(os.fstat, self._fd)
        inode = self.inode
        assert inode is not None
        uid, gid = inode.uid, inode.gid
        fs: Any = inode.fs
        if fs.revalidate:
            # a shared mount's file: the host may have changed its owner since the inode
            # last looked (a walk through its name revalidates that; an fd does not)
            uid, gid, _ = fs.sandbox_ids(_HostOwner(st.st_uid, st.st_gid))
        return Stat(
            dev=fs.dev, ino=st.st_ino, mode=st.st_mode, nlink=st.st_nlink,
            uid=uid, gid=gid, rdev=0, size=st.st_size,
            blksize=st.st_blksize, blocks=st.st_blocks, atime_ns=st.st_atime_ns,
            mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns,
        )

    def size(self) -> int:
        return _host(os.fstat, self._fd).st_size

    def shared_mapping_fd(self, t: Any) -> int:
        """The gofer's host fd itself: its access mode is the sandbox's (the host refuses
        ``PROT_WRITE`` on a read-only one), and writes reach the file as on Linux."""
        return self._fd

    def set_status_flags(self, flags: int) -> None:
        super().set_status_flags(flags)
        # Keep the host fd's O_APPEND equal to ours (the fast path writes on it).
        cur = _host(fcntl.fcntl, self._fd, fcntl.F_GETFL)
        want = (cur & ~os.O_APPEND) | (os.O_APPEND if self.flags & abi.O_APPEND else 0)
        if want != cur:
            _host(fcntl.fcntl, self._fd, fcntl.F_SETFL, want)

    def truncate(self, t: Any, size: int) -> None:
        _host(os.ftruncate, self._fd, size)

    def fsync(self, t: Any) -> None:
        _host(os.fsync, self._fd)

    def fallocate(self, t: Any, mode: int, off: int, length: int) -> None:
        """Mode 0 only (``posix_fallocate`` on the host fd); others ``EOPNOTSUPP``."""
        if mode != 0:
            raise err(errno.EOPNOTSUPP)
        _host(os.posix_fallocate, self._fd, off, length)

    def release(self) -> None:
        # Keep a read-only host fd for the next read-only open: every exec opens the
        # same program and libraries again, and each open is a gofer round trip.  A
        # fresh open's state: offset 0, no status flags (locks are the sentry's own).
        # Kept by C under the key the open found the file by, while nothing changed
        # (statcache.reopen_key: C re-opens it, rt.c sc_open_file), else by the inode.
        from sentry.fsimpl.gofer.filesystem import GoferInode

        inode = self.inode
        key = self.reopen_key
        to_c = key is not None and self.vd is not None and statcache.trusted(self.vd.dentry.inode)
        if self.flags & abi.O_ACCMODE == abi.O_RDONLY and isinstance(inode, GoferInode) and (
                to_c or inode.may_keep_fd()):
            try:
                os.lseek(self._fd, 0, os.SEEK_SET)
                fcntl.fcntl(self._fd, fcntl.F_SETFL, 0)
                if key is not None and to_c and statcache.reopen_put(key, self._fd, inode.ino, inode.mode,
                                                 inode.fs.dev, inode.uid, inode.gid):
                    return
                if inode.keep_released_fd(self._fd):
                    return
            except OSError:
                pass
        try:
            os.close(self._fd)
        except OSError:
            pass
