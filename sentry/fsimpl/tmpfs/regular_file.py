"""tmpfs regular files: data in a ``bytearray``, descriptions with an offset."""

from __future__ import annotations

import errno
from typing import Any

from sentry.abi.linux.errors import err
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem, TmpfsInode
from sentry.vfs import abi
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import SetAttr, now_ns

#: Largest file offset (MAX_LFS_FILESIZE); writes past it: ``EFBIG``.
MAX_FILE_SIZE = (1 << 63) - 1

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02


class TmpfsFile(TmpfsInode):
    """A regular file held in memory."""

    def __init__(self, fs: TmpfsFilesystem, mode: int, uid: int, gid: int) -> None:
        super().__init__(fs, abi.S_IFREG | (mode & 0o7777), uid, gid)
        self.data = bytearray()

    def data_size(self) -> int:
        return len(self.data)

    def data_blocks(self, size: int) -> int:
        # Linux tmpfs counts whole pages.
        return (size + 4095) // 4096 * 8

    def resize(self, size: int) -> None:
        """Set the length (zero-filling growth).  :raises LinuxError: ``ENOSPC``, ``EFBIG``."""
        if size > MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        delta = size - len(self.data)
        if delta > 0:
            if self.fs.used + delta > self.fs.size_limit:
                raise err(errno.ENOSPC)
            self.data.extend(bytes(delta))
        elif delta < 0:
            del self.data[size:]
        if self.nlink > 0:
            self.fs.used += delta

    def write_at(self, off: int, data: bytes) -> int:
        """Write *data* at *off*, growing the file; returns ``len(data)``."""
        if not data:
            return 0
        end = off + len(data)
        if end > MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        if end > len(self.data):
            self.resize(end)
        self.data[off:end] = data
        self.mtime_ns = self.ctime_ns = now_ns()
        return len(data)

    def setattr(self, t: Any, attr: SetAttr) -> None:
        self.fs.check_writable()
        if attr.size is not None:
            self.resize(attr.size)
        self.apply_setattr(attr)

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return TmpfsFileDescription(vd, self, flags)


class TmpfsFileDescription(FileDescription):
    """An open tmpfs regular file."""

    inode: TmpfsFile

    def read(self, t: Any, n: int) -> bytes:
        out = self.pread(t, n, self.offset)
        self.offset += len(out)
        return out

    def unread(self, t: Any, data: bytes) -> None:
        self.offset -= len(data)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        data = self.inode.data
        return bytes(data[off : off + n]) if off < len(data) else b""

    def write(self, t: Any, data: bytes) -> int:
        if self.flags & abi.O_APPEND:
            self.offset = len(self.inode.data)
        n = self.inode.write_at(self.offset, data)
        self.offset += n
        return n

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        # pwrite on an O_APPEND file appends (a Linux bug kept for compatibility).
        if self.flags & abi.O_APPEND:
            off = len(self.inode.data)
        return self.inode.write_at(off, data)

    def seek(self, t: Any, off: int, whence: int) -> int:
        return self.generic_seek(off, whence)

    def size(self) -> int:
        return len(self.inode.data)

    def truncate(self, t: Any, size: int) -> None:
        self.inode.setattr(t, SetAttr(size=size, mtime_ns=now_ns()))

    def fallocate(self, t: Any, mode: int, off: int, length: int) -> None:
        """Mode 0 and ``FALLOC_FL_KEEP_SIZE`` (reserve: nothing to do beyond the
        size check), ``PUNCH_HOLE|KEEP_SIZE`` (zero the range); others ``EOPNOTSUPP``."""
        end = off + length
        if end > MAX_FILE_SIZE:
            raise err(errno.EFBIG)
        if mode == 0:
            if end > len(self.inode.data):
                self.inode.resize(end)
                self.inode.ctime_ns = now_ns()
            return
        if mode == FALLOC_FL_KEEP_SIZE:
            if self.inode.fs.used + max(0, end - len(self.inode.data)) > self.inode.fs.size_limit:
                raise err(errno.ENOSPC)
            return
        if mode == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
            data = self.inode.data
            stop = min(end, len(data))
            if off < stop:
                data[off:stop] = bytes(stop - off)
                self.inode.mtime_ns = self.inode.ctime_ns = now_ns()
            return
        raise err(errno.EOPNOTSUPP)
