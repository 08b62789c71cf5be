"""Linux file ABI for the VFS: flag values and struct packing (x86_64).

Everything here is pure data: the constants the file syscalls decode, and
packers for the structures they copy out to the workload (``struct stat``,
``struct statx``, ``struct statfs``, ``linux_dirent64`` and the old
``linux_dirent``).  Layouts follow ``arch/x86/include/uapi/asm/stat.h``,
``include/uapi/linux/stat.h`` and ``include/uapi/asm-generic/statfs.h``.
"""

from __future__ import annotations

import os
import stat as _st
import struct

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import List, Tuple
    from sentry.vfs.inode import Stat, StatFS

# open(2) flags (asm-generic/fcntl.h, x86_64 values).
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_ACCMODE = 0o3
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_ASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE = 0o20000000 | O_DIRECTORY

#: Every flag open(2) accepts; anything else is ignored by Linux, so we do too.
O_VALID = (
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK
    | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW
    | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE
)
#: Status flags F_SETFL may change (fs/fcntl.c SETFL_MASK, minus O_ASYNC which
#: needs SIGIO delivery we do not emulate: F_SETFL with it fails with EINVAL).
SETFL_MASK = O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT

# *at(2) flags.
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000

# renameat2(2).
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

# lseek(2).
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4

# utimensat(2).
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

# access(2).
F_OK = 0
X_OK = 1
W_OK = 2
R_OK = 4

# Directory entry types (d_type).
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12


def dtype_of_mode(mode: int) -> int:
    """The ``d_type`` for an ``st_mode``."""
    return (mode >> 12) & 0xF


# statx(2).
STATX_TYPE = 0x1
STATX_MODE = 0x2
STATX_NLINK = 0x4
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_CTIME = 0x80
STATX_INO = 0x100
STATX_SIZE = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF
STATX_BTIME = 0x800
STATX_MNT_ID = 0x1000
STATX__RESERVED = 0x80000000

# statfs f_type values (include/uapi/linux/magic.h).
TMPFS_MAGIC = 0x01021994
PROC_SUPER_MAGIC = 0x9FA0
OVERLAYFS_SUPER_MAGIC = 0x794C7630
V9FS_MAGIC = 0x01021997
PIPEFS_MAGIC = 0x50495045
SYSFS_MAGIC = 0x62656572
ANON_INODE_FS_MAGIC = 0x09041934

# statfs f_flags (ST_*).
ST_RDONLY = 0x0001
ST_NOSUID = 0x0002
ST_NODEV = 0x0004
ST_NOEXEC = 0x0008
ST_VALID = 0x0020
ST_NOATIME = 0x0400
ST_NODIRATIME = 0x0800
ST_RELATIME = 0x1000

S_IFMT = 0o170000
S_IFDIR = _st.S_IFDIR
S_IFREG = _st.S_IFREG
S_IFLNK = _st.S_IFLNK
S_IFIFO = _st.S_IFIFO
S_IFCHR = _st.S_IFCHR
S_IFBLK = _st.S_IFBLK
S_IFSOCK = _st.S_IFSOCK
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000

_STAT = struct.Struct("<QQQIIIiQqqqqqqqqq24x")
assert _STAT.size == 144
_STATFS = struct.Struct("<qqQQQQQIIqqq32x")
assert _STATFS.size == 120
_STATX_HEAD = struct.Struct("<IIQIIIHHQQQQ")
_STATX_TS = struct.Struct("<qIi")
_STATX_TAIL = struct.Struct("<IIIIQII")
STATX_SIZE_BYTES = 256
_DIRENT64_HEAD = struct.Struct("<QqHB")
_DIRENT_HEAD = struct.Struct("<QqH")


def encode_dev(dev: int) -> int:
    """A device number as the kernel's ``new_encode_dev`` writes it in ``st_dev``."""
    return dev


def pack_stat(s: "Stat") -> bytes:
    """``struct stat`` (144 bytes) for *s*."""
    return pack_stat_values(s.dev, s.ino, s.nlink, s.mode, s.uid, s.gid, s.rdev, s.size,
                            s.blksize, s.blocks, s.atime_ns, s.mtime_ns, s.ctime_ns)


def pack_stat_values(dev: int, ino: int, nlink: int, mode: int, uid: int, gid: int, rdev: int,
                     size: int, blksize: int, blocks: int, atime_ns: int, mtime_ns: int,
                     ctime_ns: int) -> bytes:
    """``struct stat`` (144 bytes) of these fields (:func:`pack_stat` without a Stat)."""
    return _STAT.pack(
        dev, ino, nlink, mode, uid, gid, 0, rdev, size, blksize, blocks,
        atime_ns // 1_000_000_000, atime_ns % 1_000_000_000,
        mtime_ns // 1_000_000_000, mtime_ns % 1_000_000_000,
        ctime_ns // 1_000_000_000, ctime_ns % 1_000_000_000,
    )


def unpack_stat(b: bytes) -> tuple:
    """The fields of a packed ``struct stat`` (for tests and tools)."""
    return _STAT.unpack(b)


def _ts(ns: int) -> bytes:
    return _STATX_TS.pack(ns // 1_000_000_000, ns % 1_000_000_000, 0)


def pack_statx(s: "Stat", mask: int, mnt_id: int) -> bytes:
    """``struct statx`` (256 bytes) for *s*.

    Every basic field is always filled in (like most Linux file systems) and
    reported in ``stx_mask``; ``btime`` is reported only when the file system
    knows it (``s.btime_ns`` not None).
    """
    out_mask = STATX_BASIC_STATS | STATX_MNT_ID
    btime = s.btime_ns if s.btime_ns is not None else 0
    if s.btime_ns is not None:
        out_mask |= STATX_BTIME
    del mask  # Linux fills what it has regardless of the request; so do we.
    head = _STATX_HEAD.pack(
        out_mask, s.blksize, 0, s.nlink, s.uid, s.gid, s.mode & 0xFFFF, 0,
        s.ino, s.size, s.blocks, 0,
    )
    tail = _STATX_TAIL.pack(
        os.major(s.rdev), os.minor(s.rdev), os.major(s.dev), os.minor(s.dev),
        mnt_id, 0, 0,
    )
    body = head + _ts(s.atime_ns) + _ts(btime) + _ts(s.ctime_ns) + _ts(s.mtime_ns) + tail
    return body + bytes(STATX_SIZE_BYTES - len(body))


def pack_statfs(s: "StatFS") -> bytes:
    """``struct statfs`` (120 bytes) for *s*."""
    return _STATFS.pack(
        s.type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree,
        s.fsid & 0xFFFFFFFF, (s.fsid >> 32) & 0xFFFFFFFF, s.namelen, s.frsize, s.flags,
    )


_PADS = [bytes(n) for n in range(9)]


def pack_dirents64(entries: List[Tuple[int, int, bytes]], start: int, count: int,
                   ) -> Tuple[bytes, int]:
    """``linux_dirent64`` records of ``entries[start:]`` (ino, d_type, name) that fit in
    *count* bytes, ``d_off`` the index of the next entry: (the records, the index after
    the last one packed).  One pass, no call per entry but the header's pack (a getdents of
    a listed directory is mostly this)."""
    head = _DIRENT64_HEAD.pack
    hsize = _DIRENT64_HEAD.size
    pads = _PADS
    parts: List[bytes] = []
    used = 0
    i = start
    n = len(entries)
    while i < n:
        ino, dtype, name = entries[i]
        reclen = (hsize + len(name) + 8) & ~7
        if used + reclen > count:
            break
        i += 1
        parts += (head(ino, i, reclen, dtype), name, pads[reclen - hsize - len(name)])
        used += reclen
    return b"".join(parts), i


def dirent_size(name: bytes) -> int:
    """``d_reclen`` of an old ``linux_dirent`` for *name* (NUL and ``d_type`` included)."""
    return (_DIRENT_HEAD.size + len(name) + 2 + 7) & ~7


def pack_dirent(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    """One old-layout ``linux_dirent`` (getdents(2)): ``d_type`` is the last byte."""
    reclen = dirent_size(name)
    rec = _DIRENT_HEAD.pack(ino, off, reclen) + name
    rec += bytes(reclen - len(rec) - 1)
    return rec + bytes([dtype])


def parse_dirents64(buf: bytes) -> list:
    """Decode ``linux_dirent64`` records into ``(ino, off, type, name)`` (tests, tools)."""
    out = []
    i = 0
    while i < len(buf):
        ino, off, reclen, dtype = _DIRENT64_HEAD.unpack_from(buf, i)
        name = buf[i + _DIRENT64_HEAD.size : i + reclen].split(b"\0", 1)[0]
        out.append((ino, off, dtype, name))
        i += reclen
    return out
