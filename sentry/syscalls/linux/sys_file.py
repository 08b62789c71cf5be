"""File I/O and fd syscalls: read/write family, open, close, dup, fcntl, locks, ioctl.

Every handler decodes its arguments explicitly, copies workload memory once,
and works on the task's fd table (``t.fdtable``) and the sandbox VFS
(``t.kernel.vfs``).  One call moves at most :data:`MAX_IO` bytes (a short
read or write, which callers handle), so a workload cannot make the sentry
allocate without bound.
"""

from __future__ import annotations

import errno
import stat
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, WouldBlock, err
from sentry.kernel import compat
from sentry.kernel.waiter import EVENT_ALL, EVENT_OUT
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import abi
from sentry.vfs import fasync, fsnotify, locks
from sentry.vfs.file import FileDescription
from sentry.vfs.fsnotify import IN_ACCESS, IN_MODIFY

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

MAX_IO = 4 << 20
UIO_MAXIOV = 1024
MAX_RW_COUNT = 0x7FFFF000
#: Highest end of a user buffer ``access_ok`` accepts (x86-64, 4-level paging).
TASK_SIZE_MAX = (1 << 47) - 4096

F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_SETOWN = 8
F_GETOWN = 9
F_SETSIG = 10
F_GETSIG = 11
F_SETOWN_EX = 15
F_GETOWN_EX = 16
F_GETLEASE = 1025
F_NOTIFY = 1026
F_OFD_GETLK = 36
F_OFD_SETLK = 37
F_OFD_SETLKW = 38
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032
F_ADD_SEALS = 1033
F_GET_SEALS = 1034
#: The fcntl commands an O_PATH fd takes (check_fcntl_cmd; F_DUPFD_QUERY and
#: F_CREATED_QUERY came after 6.1): the others are EBADF.
_ON_PATH = frozenset((F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL))
FD_CLOEXEC = 1

FIONBIO = 0x5421
FIONREAD = 0x541B
FIONCLEX = 0x5450
FIOCLEX = 0x5451
FIOASYNC = 0x5452
FIOSETOWN, SIOCSPGRP, FIOGETOWN, SIOCGPGRP = 0x8901, 0x8902, 0x8903, 0x8904
FIOQSIZE, FIGETBSZ, FIFREEZE, FITHAW = 0x5460, 0x2, 0xC0045877, 0xC0045878

CLOSE_RANGE_UNSHARE = 2
CLOSE_RANGE_CLOEXEC = 4

_FLOCK = struct.Struct("<hh4xqqi4x")


def vfs_of(t: Any) -> Any:
    """The sandbox's :class:`~sentry.vfs.vfs.VirtualFilesystem`."""
    return t.kernel.vfs


def read_path(t: Any, addr: int) -> bytes:
    """The path string at *addr*.  :raises LinuxError: ``EFAULT``, ``ENAMETOOLONG``."""
    return t.mem.read_cstring(addr)


def _readable(t: Any, fd: int) -> FileDescription:
    d = t.fdtable.get(fd)
    if not d.readable():
        raise err(errno.EBADF)
    return d


def _writable(t: Any, fd: int) -> FileDescription:
    d = t.fdtable.get(fd)
    if not d.writable():
        raise err(errno.EBADF)
    return d


def _positioned(t: Any, fd: int, write: bool) -> FileDescription:
    """The description of a call at an offset (pread64, preadv, pwritev2 at an offset
    ≥ 0, ...): ``EBADF`` for no fd (``O_PATH`` included), ``ESPIPE`` for a file without
    pread/pwrite (``FMODE_PREAD``: a pipe's write end too), then ``EBADF`` for the
    access mode, in Linux's order."""
    d = t.fdtable.get(fd)
    if not d.positional:  # (an O_PATH description is one: readable()'s EBADF follows)
        raise err(errno.ESPIPE)
    if not (d.writable() if write else d.readable()):
        raise err(errno.EBADF)
    return d


def _count(a: SyscallArgs, i: int) -> int:
    n = a[i]
    if n > (1 << 63) - 1:
        raise err(errno.EINVAL)
    return min(n, MAX_IO)


def access_ok(addr: int, n: int) -> bool:
    """Linux's ``access_ok(addr, n)``: the range ends inside the user address space."""
    return addr + n <= TASK_SIZE_MAX


def _io_count(a: SyscallArgs, buf: int, cnt: int) -> int:
    """The byte count of a read/write-family call with buffer arg *buf* and count
    arg *cnt*, clamped like ``vfs_read``/``vfs_write`` (then to :data:`MAX_IO`).

    :raises LinuxError: ``EFAULT`` if the buffer does not fit in the user
        address space (checked before the count, as Linux does).
    """
    n = a[cnt]
    if not access_ok(a[buf], n):
        raise err(errno.EFAULT)
    return min(n, MAX_RW_COUNT, MAX_IO)


def read_iovecs(t: Any, addr: int, cnt: int) -> Tuple[List[Tuple[int, int]], int]:
    """The ``struct iovec`` array at *addr*, as ``import_iovec`` checks it, and its
    total length.

    Each segment must fit in the user address space; the total is clamped
    to :data:`MAX_RW_COUNT` (later segments shortened or emptied).

    :raises LinuxError: ``EINVAL`` (more than :data:`UIO_MAXIOV`), ``EFAULT``.
    """
    if cnt < 0 or cnt > UIO_MAXIOV:
        raise err(errno.EINVAL)
    if cnt == 0:
        return [], 0
    raw = t.mem.read(addr, 16 * cnt)
    segs = [struct.unpack_from("<QQ", raw, 16 * i) for i in range(cnt)]
    # copy_iovec_from_user: a length that is negative as an ssize_t is EINVAL, before any
    # address is looked at; one segment is clamped before its check (import_ubuf).
    if any(ln >> 63 for _, ln in segs):
        raise err(errno.EINVAL)
    out = []
    total = 0
    for base, ln in segs:
        if cnt == 1:
            ln = min(ln, MAX_RW_COUNT)
        if not access_ok(base, ln):
            raise err(errno.EFAULT)
        ln = min(ln, MAX_RW_COUNT - total)
        total += ln
        out.append((base, ln))
    return out, total


#: The largest file offset (loff_t).
_OFF_MAX = (1 << 63) - 1


def verify_area(d: FileDescription, off: int, count: int) -> None:
    """``rw_verify_area`` of a positional read or write of *count* bytes at *off*
    (checked >= 0): ``EINVAL`` if the range overflows a file offset, whatever the file
    (a regular file said ``EFBIG``, /dev/null took the bytes)."""
    if off + count > _OFF_MAX and not d.stream:
        raise err(errno.EINVAL)


def _verify_at_offset(d: FileDescription, count: int, passed_on: int) -> None:
    """:func:`verify_area` of a read or write of *count* bytes at the file offset
    (``read``, ``write``, ``readv``, ``writev``, ``sendfile``'s input without an offset
    and its output): after an ``lseek`` near the largest offset a memfd's or tmpfs
    file's write said ``EFBIG`` and its read 0.  A file whose offset is its host fd's
    (:attr:`FileDescription.host_offset`) is the host's to check when the host call
    gets the whole count (*passed_on*: what it gets; else the offset is asked for)."""
    if d.stream or not count or (d.host_offset and passed_on >= count):
        return
    if d.offset + count > _OFF_MAX:
        raise err(errno.EINVAL)


def copy_out(t: Any, addr: int, data: bytes) -> int:
    """Copy *data* to workload memory at *addr*, as far as it is writable.

    :returns: the bytes copied before the first fault (a short copy).
    :raises LinuxError: ``EFAULT`` if nothing could be copied.
    """
    if not data:
        return 0
    try:
        t.mem.write(addr, data)
        return len(data)
    except LinuxError as e:
        if e.errno != errno.EFAULT:
            raise
    done = 0
    while done < len(data):
        step = min(len(data) - done, 4096 - ((addr + done) & 4095))
        try:
            t.mem.write(addr + done, data[done : done + step])
        except LinuxError:
            break
        done += step
    if done == 0:
        raise err(errno.EFAULT)
    return done


def _scatter(t: Any, iov: List[Tuple[int, int]], data: bytes) -> int:
    """Copy *data* over the segments; the count copied before the first fault.

    :raises LinuxError: ``EFAULT`` if nothing could be copied.
    """
    pos = 0
    for base, ln in iov:
        if pos >= len(data):
            break
        chunk = data[pos : pos + ln]
        if not chunk:
            continue
        try:
            k = copy_out(t, base, chunk)
        except LinuxError:
            if pos == 0:
                raise
            return pos
        pos += k
        if k < len(chunk):
            break
    return pos


def _gather(t: Any, iov: List[Tuple[int, int]]) -> bytes:
    """The bytes of the segments up to the first fault (at most :data:`MAX_IO`).

    :raises LinuxError: ``EFAULT`` if there was something to copy and nothing could be.
    """
    out = bytearray()
    want = 0
    for base, ln in iov:
        room = MAX_IO - len(out)
        if room <= 0:
            break
        if not ln:
            continue
        want += min(ln, room)
        chunk = t.mem.read_partial(base, min(ln, room))
        out += chunk
        if len(chunk) < min(ln, room):
            break
    if want and not out:
        raise err(errno.EFAULT)
    return bytes(out)


def _copy_in(t: Any, addr: int, n: int) -> bytes:
    """Up to *n* bytes at *addr*, stopping at the first fault (a short write).

    :raises LinuxError: ``EFAULT`` if *n* > 0 and nothing is readable.
    """
    if n == 0:
        return b""
    data = t.mem.read_partial(addr, n)
    if not data:
        raise err(errno.EFAULT)
    return data


def _deliver(t: Any, d: FileDescription, data: bytes, copy: Any) -> int:
    """Copy what a read returned with *copy*; give back what could not be copied.

    Linux never consumes bytes it failed to copy: the offset of a file stays
    (or moves by the short count) and a pipe keeps them.
    """
    try:
        k = copy(data)
    except LinuxError:
        d.unread(t, data)
        raise
    if k < len(data):
        d.unread(t, data[k:])
    return k


# ---------------------------------------------------------------- read/write
def read(t: Any, a: SyscallArgs) -> int:
    """read(2)."""
    d = _readable(t, a.int(0))
    n = _io_count(a, 1, 2)
    _verify_at_offset(d, a[2], n)
    data = d.read(t, n)
    k = _deliver(t, d, data, lambda b: copy_out(t, a[1], b))
    if fsnotify.active and k:
        fsnotify.file_event(d, IN_ACCESS)
    return k


def stream_write(t: Any, a: SyscallArgs, total: int, rest: Callable[[int], bytes],
                 put: Callable[[bytes], int]) -> int:
    """A blocking write of *total* bytes to a byte stream: sleep while it is full.

    ``rest(off)`` gives the caller's bytes from *off* on (fewer after a fault),
    ``put`` writes some of them or raises :class:`WouldBlock`.  Progress lives
    in ``a.done`` across parks, so a retry goes on where the last attempt
    stopped, and a signal that ends the wait gets the partial count
    (:meth:`Dispatcher.interrupt`).  An error after some bytes went (``EPIPE``,
    a fault) returns the count, as Linux's ``pipe_write`` does.
    """
    while a.done < total:
        try:
            chunk = rest(a.done)
            if not chunk:
                break
            k = put(chunk)
            if k <= 0:
                break  # no progress and no wait: never spin
            a.done += k
        except LinuxError:
            if a.done:
                break
            raise
    return a.done


def _unread_write(d: FileDescription, count: int) -> Optional[int]:
    """A write of *count* bytes (its buffer checked, clamped as ``vfs_write`` or
    ``import_iovec`` clamp it) answered without reading them: /dev/full's errno
    (``write_full``), /dev/null's and /dev/zero's count (``write_null``: an unmapped
    buffer in the user range is no ``EFAULT``; C serves write(2) the same way,
    ``RT_FD_NULL``); None: the file's own write."""
    if d.write_fails:
        raise err(d.write_fails)
    return count if d.swallows_writes else None


def write(t: Any, a: SyscallArgs) -> int:
    """write(2)."""
    d = _writable(t, a.int(0))
    n = _io_count(a, 1, 2)
    _verify_at_offset(d, a[2], n)
    k = _unread_write(d, min(a[2], MAX_RW_COUNT))
    if k is None:
        # (a write that parked midway goes on from where it was, whatever O_NONBLOCK
        # says now: then it puts what fits and returns what went, as pipe_write)
        if d.stream and n and (not d.nonblocking or a.done):
            k = stream_write(t, a, n, lambda off: _copy_in(t, a[1] + off, n - off),
                             lambda b: d.write(t, b))
        else:
            k = d.write(t, _copy_in(t, a[1], n))
    if fsnotify.active and k:
        fsnotify.file_event(d, IN_MODIFY)
    return k


def pread64(t: Any, a: SyscallArgs) -> int:
    """pread64(2)."""
    off = a.long(3)
    if off < 0:  # checked before the fd, as Linux does
        raise err(errno.EINVAL)
    d = _positioned(t, a.int(0), False)
    n = _io_count(a, 1, 2)
    verify_area(d, off, a[2])
    data = d.pread(t, n, off)
    k = copy_out(t, a[1], data)
    if fsnotify.active and k:
        fsnotify.file_event(d, IN_ACCESS)
    return k


def pwrite64(t: Any, a: SyscallArgs) -> int:
    """pwrite64(2)."""
    off = a.long(3)
    if off < 0:  # checked before the fd, as Linux does
        raise err(errno.EINVAL)
    d = _positioned(t, a.int(0), True)
    n = _io_count(a, 1, 2)
    verify_area(d, off, a[2])
    k = _unread_write(d, min(a[2], MAX_RW_COUNT))
    if k is None:
        k = d.pwrite(t, _copy_in(t, a[1], n), off)
    if fsnotify.active and k:
        fsnotify.file_event(d, IN_MODIFY)
    return k


def readv(t: Any, a: SyscallArgs) -> int:
    """readv(2)."""
    d = _readable(t, a.int(0))
    iov, total = read_iovecs(t, a[1], a.int(2))  # (total: at most MAX_RW_COUNT)
    _verify_at_offset(d, total, min(total, MAX_IO))
    return _readv(t, d, iov, total)


def _readv(t: Any, d: FileDescription, iov: List[Tuple[int, int]], total: int) -> int:
    """readv's read (and preadv2's at the file offset) of the vector read once, its
    range checked by the caller."""
    data = d.read(t, min(total, MAX_IO))
    k = _deliver(t, d, data, lambda b: _scatter(t, iov, b))
    if fsnotify.active:  # vfs_readv: even for 0 bytes
        fsnotify.file_event(d, IN_ACCESS)
    return k


def writev(t: Any, a: SyscallArgs) -> int:
    """writev(2)."""
    d = _writable(t, a.int(0))
    iov, total = read_iovecs(t, a[1], a.int(2))
    if not total:
        return 0  # vfs_writev: nothing to write is 0, the file not asked (a pipe's reader)
    _verify_at_offset(d, total, total)
    return _writev(t, a, d, iov, total)


def _writev(t: Any, a: SyscallArgs, d: FileDescription, iov: List[Tuple[int, int]],
            total: int) -> int:
    """writev's write of *total* (> 0) bytes (and pwritev2's at the file offset) of the
    vector read once, its range checked by the caller."""
    k = _unread_write(d, total)
    if k is None:
        data = _gather(t, iov)
        if d.stream and not d.nonblocking:
            k = stream_write(t, a, len(data), lambda off: data[off:], lambda b: d.write(t, b))
        else:
            k = d.write(t, data)
    if fsnotify.active and k:
        fsnotify.file_event(d, IN_MODIFY)
    return k


def preadv(t: Any, a: SyscallArgs) -> int:
    """preadv(2) (on x86_64 the whole offset is in ``pos_l``)."""
    off = a.long(3)
    if off < 0:  # checked before the fd, as Linux does
        raise err(errno.EINVAL)
    d = _positioned(t, a.int(0), False)
    iov, total = read_iovecs(t, a[1], a.int(2))
    verify_area(d, off, total)
    return _preadv(t, d, iov, total, off)


def _preadv(t: Any, d: FileDescription, iov: List[Tuple[int, int]], total: int,
            off: int) -> int:
    """preadv's read at *off* (>= 0; preadv2's too) of the vector read once, its range
    checked by the caller."""
    data = d.pread(t, min(total, MAX_IO), off)
    k = _scatter(t, iov, data)
    if fsnotify.active:  # vfs_readv: even for 0 bytes
        fsnotify.file_event(d, IN_ACCESS)
    return k


def pwritev(t: Any, a: SyscallArgs) -> int:
    """pwritev(2)."""
    off = a.long(3)
    if off < 0:  # checked before the fd, as Linux does
        raise err(errno.EINVAL)
    d = _positioned(t, a.int(0), True)
    iov, total = read_iovecs(t, a[1], a.int(2))
    if not total:
        return 0  # (vfs_writev, as writev)
    verify_area(d, off, total)
    return _pwritev(t, d, iov, total, off)


def _pwritev(t: Any, d: FileDescription, iov: List[Tuple[int, int]], total: int,
             off: int) -> int:
    """pwritev's write of *total* (> 0) bytes at *off* (pwritev2's too) of the vector
    read once, its range checked by the caller."""
    k = _unread_write(d, total)
    if k is None:
        k = d.pwrite(t, _gather(t, iov), off)
    if fsnotify.active and k:
        fsnotify.file_event(d, IN_MODIFY)
    return k


# preadv2/pwritev2 flags (include/uapi/linux/fs.h).
RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT = 0x01, 0x02, 0x04, 0x08
RWF_APPEND, RWF_NOAPPEND, RWF_ATOMIC, RWF_DONTCACHE = 0x10, 0x20, 0x40, 0x80
RWF_NOSIGNAL = 0x100
RWF_SUPPORTED = 0x1FF


def _rwf_check(d: FileDescription, flags: int, write: bool) -> None:
    """``kiocb_set_rw_flags``: which RWF_* flags this call may have."""
    if not (d.can_write if write else d.can_read):
        raise err(errno.EINVAL)  # FMODE_CAN_READ/WRITE: no read or write at all
    if not (d.write_iter if write else d.read_iter) and flags & ~RWF_HIPRI:
        # do_loop_readv_writev: a file with only read/write (a directory, most /proc/PID
        # files, inotify, eventfd's and /dev/full's writes) takes no flag but HIPRI
        raise err(errno.EOPNOTSUPP)
    if flags & ~RWF_SUPPORTED:
        raise err(errno.EOPNOTSUPP)
    if flags & RWF_APPEND and flags & RWF_NOAPPEND:
        raise err(errno.EINVAL)
    # No sandbox file does atomic or uncached writes.
    if flags & (RWF_ATOMIC | RWF_DONTCACHE):
        raise err(errno.EOPNOTSUPP)
    if write and flags & RWF_NOWAIT and not d.stream and not d.swallows_writes:
        # A buffered file write cannot promise not to wait (ext4's answer); /dev/null
        # and /dev/zero never wait (FMODE_NOWAIT).
        raise err(errno.EOPNOTSUPP)
    if write and flags & RWF_NOSIGNAL and d.stream:
        # Linux 6.15+ keeps SIGPIPE from such a write; not done here, so refused as
        # by earlier kernels, which callers fall back from.
        raise err(errno.EOPNOTSUPP)


def _with_flags(d: FileDescription, flags: int, write: bool, op: Callable[[], int]) -> int:
    """Run *op* with the status flags RWF_* turn on or off for this call only."""
    want = d.flags
    if flags & RWF_NOWAIT:
        want |= abi.O_NONBLOCK
    if write and flags & RWF_APPEND:
        want |= abi.O_APPEND
    if write and flags & RWF_NOAPPEND:
        want &= ~abi.O_APPEND
    if want == d.flags:
        return op()
    old = d.flags
    d.set_status_flags(want & abi.SETFL_MASK)
    try:
        return op()
    finally:
        d.set_status_flags(old & abi.SETFL_MASK)


def preadv2(t: Any, a: SyscallArgs) -> int:
    """preadv2(2): offset -1 reads at the file position (as readv); RWF_HIPRI is a
    hint, RWF_NOWAIT fails with EAGAIN where the read would wait; RWF_DSYNC/SYNC/
    APPEND/NOAPPEND mean nothing to a read."""
    off, flags = a.long(3), a.uint(5)
    if off < -1:
        raise err(errno.EINVAL)
    d = _readable(t, a.int(0)) if off == -1 else _positioned(t, a.int(0), False)
    iov, total = read_iovecs(t, a[1], a.int(2))
    if total == 0:
        if fsnotify.active:
            fsnotify.file_event(d, IN_ACCESS)
        return 0
    # vfs_readv: the range, then the flags (kiocb_set_rw_flags)
    if off == -1:
        _verify_at_offset(d, total, min(total, MAX_IO))
    else:
        verify_area(d, off, total)
    _rwf_check(d, flags, False)
    if off == -1:
        return _with_flags(d, flags, False, lambda: _readv(t, d, iov, total))
    return _with_flags(d, flags, False, lambda: _preadv(t, d, iov, total, off))


def pwritev2(t: Any, a: SyscallArgs) -> int:
    """pwritev2(2): offset -1 writes at the file position (as writev); RWF_APPEND
    writes at the end and RWF_NOAPPEND at the offset whatever O_APPEND says;
    RWF_DSYNC/RWF_SYNC sync the file after the write; RWF_HIPRI is a hint."""
    off, flags = a.long(3), a.uint(5)
    if off < -1:
        raise err(errno.EINVAL)
    d = _writable(t, a.int(0)) if off == -1 else _positioned(t, a.int(0), True)
    iov, total = read_iovecs(t, a[1], a.int(2))
    if total == 0:
        return 0
    # vfs_writev: the range, then the flags (kiocb_set_rw_flags)
    if off == -1:
        _verify_at_offset(d, total, total)
    else:
        verify_area(d, off, total)
    _rwf_check(d, flags, True)
    if off == -1:
        k = _with_flags(d, flags, True, lambda: _writev(t, a, d, iov, total))
    else:
        k = _with_flags(d, flags, True, lambda: _pwritev(t, d, iov, total, off))
    if k > 0 and flags & (RWF_DSYNC | RWF_SYNC) and d.fsync_op:
        d.fsync(t)
    return k


def lseek(t: Any, a: SyscallArgs) -> int:
    """lseek(2)."""
    d = t.fdtable.get(a.int(0))
    if d.is_path:
        raise err(errno.EBADF)
    return d.seek(t, a.long(1), a.int(2))


# ------------------------------------------------------------------ open/close
def _openat(t: Any, dirfd: int, path_addr: int, flags: int, mode: int) -> int:
    path = read_path(t, path_addr)
    table = t.fdtable
    if not table.free_below_limit():
        raise err(errno.EMFILE)
    desc = vfs_of(t).open_at(t, dirfd, path, flags | abi.O_LARGEFILE, mode)
    try:
        return table.install(desc, cloexec=bool(flags & abi.O_CLOEXEC))
    except Exception:
        desc.decref()
        raise


# struct open_how (include/uapi/linux/openat2.h): flags, mode, resolve.
_OPEN_HOW = struct.Struct("<QQQ")
_PAGE_SIZE = 4096
#: VALID_OPEN_FLAGS: openat2 refuses anything else (open/openat ignore it).
_OPENAT2_VALID = abi.O_VALID
#: What O_PATH may come with (O_PATH_FLAGS).
_O_PATH_FLAGS = abi.O_DIRECTORY | abi.O_NOFOLLOW | abi.O_PATH | abi.O_CLOEXEC
_O_TMPFILE_BIT = abi.O_TMPFILE & ~abi.O_DIRECTORY


def openat2(t: Any, a: SyscallArgs) -> int:
    """openat2(2): ``struct open_how`` checked as Linux's ``build_open_flags`` (every
    unknown bit ``EINVAL``), the ``RESOLVE_*`` flags applied by the VFS walk."""
    from sentry.vfs.vfs import RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT, RESOLVE_VALID

    dirfd, path_addr, how_addr, usize = a.int(0), a[1], a[2], a[3]
    if usize < _OPEN_HOW.size:
        raise err(errno.EINVAL)
    if usize > _PAGE_SIZE:
        raise err(errno.E2BIG)
    raw = t.mem.read(how_addr, usize)
    if any(raw[_OPEN_HOW.size:]):
        raise err(errno.E2BIG)  # a newer struct whose extra fields are set
    flags, mode, resolve = _OPEN_HOW.unpack_from(raw)
    if flags & ~_OPENAT2_VALID or resolve & ~RESOLVE_VALID:
        raise err(errno.EINVAL)
    if resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT:
        raise err(errno.EINVAL)
    if flags & (abi.O_CREAT | _O_TMPFILE_BIT):
        if mode & ~0o7777:
            raise err(errno.EINVAL)
    elif mode:
        raise err(errno.EINVAL)
    if flags & (abi.O_DIRECTORY | abi.O_CREAT) == abi.O_DIRECTORY | abi.O_CREAT:
        raise err(errno.EINVAL)
    if flags & _O_TMPFILE_BIT:
        if not flags & abi.O_DIRECTORY or flags & abi.O_ACCMODE == abi.O_RDONLY:
            raise err(errno.EINVAL)
    if flags & abi.O_PATH and flags & ~_O_PATH_FLAGS:
        raise err(errno.EINVAL)
    if resolve & RESOLVE_CACHED and flags & (abi.O_TRUNC | abi.O_CREAT | _O_TMPFILE_BIT):
        raise err(errno.EAGAIN)
    path = read_path(t, path_addr)
    table = t.fdtable
    if not table.free_below_limit():
        raise err(errno.EMFILE)
    vfs = vfs_of(t)
    res = vfs.resolve_flags(t, dirfd, path, resolve) if resolve and path else None
    if not flags & abi.O_PATH:
        flags |= abi.O_LARGEFILE
    desc = vfs.open_at(t, dirfd, path, flags, mode, res)
    try:
        return table.install(desc, cloexec=bool(flags & abi.O_CLOEXEC))
    except Exception:
        desc.decref()
        raise


def open(t: Any, a: SyscallArgs) -> int:  # noqa: A001 - the syscall's name
    """open(2)."""
    return _openat(t, abi.AT_FDCWD, a[0], a.int(1), a.uint(2))


def openat(t: Any, a: SyscallArgs) -> int:
    """openat(2)."""
    return _openat(t, a.int(0), a[1], a.int(2), a.uint(3))


def creat(t: Any, a: SyscallArgs) -> int:
    """creat(2)."""
    return _openat(t, abi.AT_FDCWD, a[0], abi.O_CREAT | abi.O_WRONLY | abi.O_TRUNC, a.uint(1))


def close(t: Any, a: SyscallArgs) -> int:
    """close(2)."""
    t.fdtable.close(a.int(0), lock_owner=t.tg)
    return 0


def close_range(t: Any, a: SyscallArgs) -> int:
    """close_range(2).  ``CLOSE_RANGE_UNSHARE`` is refused with ``EINVAL``
    (unsharing the table is the kernel's clone machinery, not done here)."""
    first, last, flags = a.uint(0), a.uint(1), a.uint(2)
    if flags & ~CLOSE_RANGE_CLOEXEC or first > last:
        raise err(errno.EINVAL)
    t.fdtable.close_range(first, last, bool(flags & CLOSE_RANGE_CLOEXEC), lock_owner=t.tg)
    return 0


def dup(t: Any, a: SyscallArgs) -> int:
    """dup(2)."""
    d = t.fdtable.get(a.int(0))
    d.incref()
    try:
        return t.fdtable.install(d)
    except Exception:
        d.decref()
        raise


def _dup3(t: Any, old: int, new: int, cloexec: bool) -> int:
    d = t.fdtable.get(old)
    if new < 0 or new >= t.fdtable.limit:
        raise err(errno.EBADF)
    d.incref()
    t.fdtable.install_at(new, d, cloexec, lock_owner=t.tg)
    return new


def dup2(t: Any, a: SyscallArgs) -> int:
    """dup2(2)."""
    old, new = a.int(0), a.int(1)
    if old == new:
        t.fdtable.get(old)
        return new
    return _dup3(t, old, new, False)


def dup3(t: Any, a: SyscallArgs) -> int:
    """dup3(2)."""
    old, new, flags = a.int(0), a.int(1), a.int(2)
    if flags & ~abi.O_CLOEXEC or old == new:
        raise err(errno.EINVAL)
    return _dup3(t, old, new, bool(flags & abi.O_CLOEXEC))


# ------------------------------------------------------------------- fcntl
def _lock_range(d: FileDescription, whence: int, start: int, length: int) -> Tuple[int, int]:
    """The inclusive byte range of a ``struct flock`` (``flock64_to_posix_lock``).

    :raises LinuxError: ``EINVAL`` for a bad *whence* or a negative start,
        ``EOVERFLOW`` for a range past :data:`locks.OFFSET_MAX`.
    """
    if whence == abi.SEEK_SET:
        base = 0
    elif whence == abi.SEEK_CUR:
        base = d.offset
    elif whence == abi.SEEK_END:
        base = d.stat(None).size
    else:
        raise err(errno.EINVAL)
    if start > locks.OFFSET_MAX - base:
        raise err(errno.EOVERFLOW)
    s = base + start
    if s < 0:
        raise err(errno.EINVAL)
    if length > 0:
        if length - 1 > locks.OFFSET_MAX - s:
            raise err(errno.EOVERFLOW)
        return s, s + length - 1
    if length < 0:
        if s + length < 0:
            raise err(errno.EINVAL)
        return s + length, s - 1
    return s, locks.OFFSET_MAX


def _fcntl_lock(t: Any, d: FileDescription, cmd: int, addr: int) -> int:
    ltype, whence, start, length, pid = _FLOCK.unpack(t.mem.read(addr, _FLOCK.size))
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    if ofd and pid != 0:
        raise err(errno.EINVAL)
    if ltype not in (locks.F_RDLCK, locks.F_WRLCK, locks.F_UNLCK):
        raise err(errno.EINVAL)
    if d.inode is None:
        raise err(errno.EBADF)
    s, e = _lock_range(d, whence, start, length)
    owner: Any = d if ofd else t.tg
    if cmd in (F_GETLK, F_OFD_GETLK):
        if ltype == locks.F_UNLCK:
            raise err(errno.EINVAL)
        c = locks.test_lock(d.inode, owner, ltype, s, e)
        if c is None:
            out = _FLOCK.pack(locks.F_UNLCK, whence, start, length, pid)
        else:
            ln = 0 if c.end >= locks.OFFSET_MAX else c.end - c.start + 1
            out = _FLOCK.pack(c.type, abi.SEEK_SET, c.start, ln, -1 if c.ofd else c.pid)
        t.mem.write(addr, out)
        return 0
    if ltype == locks.F_RDLCK and not d.readable():
        raise err(errno.EBADF)
    if ltype == locks.F_WRLCK and not d.writable():
        raise err(errno.EBADF)
    if locks.set_lock(d.inode, owner, t.tgid, ltype, s, e, ofd):
        return 0
    if cmd in (F_SETLKW, F_OFD_SETLKW):
        raise WouldBlock([(locks.state_of(d.inode).queue, EVENT_ALL)])
    raise err(errno.EAGAIN)


def fcntl(t: Any, a: SyscallArgs) -> int:
    """fcntl(2): dup, fd and status flags (``O_ASYNC`` too), record locks (classic and
    OFD), pipe size, the ``SIGIO`` owner (:mod:`sentry.vfs.fasync`).

    File seals: :mod:`sentry.syscalls.linux.sys_memfd`; directory notifications
    (``F_NOTIFY``): :mod:`sentry.vfs.dnotify`.  ``F_SETLEASE`` is refused with ``EINVAL``
    (no lease is ever held: ``F_GETLEASE`` says ``F_UNLCK``).
    """
    fd, cmd = a.int(0), a.int(1)
    d = t.fdtable.get(fd)
    if d.is_path and cmd not in _ON_PATH:
        raise err(errno.EBADF)  # check_fcntl_cmd: an O_PATH fd takes dup, fd and fl flags
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        minfd = a.int(2)
        if minfd < 0:
            raise err(errno.EINVAL)
        d.incref()
        try:
            return t.fdtable.install(d, cloexec=cmd == F_DUPFD_CLOEXEC, minfd=minfd)
        except Exception:
            d.decref()
            raise
    if cmd == F_GETFD:
        return FD_CLOEXEC if t.fdtable.get_cloexec(fd) else 0
    if cmd == F_SETFD:
        t.fdtable.set_cloexec(fd, bool(a.int(2) & FD_CLOEXEC))
        return 0
    if cmd == F_GETFL:
        return d.flags
    if cmd == F_SETFL:
        flags = a.int(2)
        d.set_status_flags(flags & ~abi.O_ASYNC)
        if d.has_fasync and bool(flags & abi.O_ASYNC) != bool(d.flags & abi.O_ASYNC):
            fasync.set_async(t, d, bool(flags & abi.O_ASYNC), fd)
        return 0
    if cmd in (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW):
        return _fcntl_lock(t, d, cmd, a[2])
    if cmd == F_GETOWN:
        return fasync.get_owner(d)
    if cmd == F_SETOWN:
        fasync.set_owner(t, d, a.int(2))
        return 0
    if cmd == F_GETOWN_EX:
        t.mem.write(a[2], fasync.get_owner_ex(d))
        return 0
    if cmd == F_SETOWN_EX:
        fasync.set_owner_ex(t, d, t.mem.read(a[2], 8))
        return 0
    if cmd == F_GETSIG:
        return fasync.get_sig(d)
    if cmd == F_SETSIG:
        fasync.set_sig(d, a.int(2))  # do_fcntl takes it as an int (argi)
        return 0
    if cmd == F_GETLEASE:
        return locks.F_UNLCK  # no lease is ever held (F_SETLEASE is refused)
    if cmd in (F_ADD_SEALS, F_GET_SEALS):
        from sentry.syscalls.linux.sys_memfd import add_seals, get_seals

        return get_seals(d) if cmd == F_GET_SEALS else add_seals(d, a.uint(2))
    if cmd == F_NOTIFY:
        from sentry.vfs import dnotify

        dnotify.notify(t, d, a.uint(2), fd)
        return 0
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        getter = getattr(d, "get_pipe_size", None)
        if getter is None:
            raise err(errno.EBADF)
        if cmd == F_GETPIPE_SZ:
            return getter()
        return d.set_pipe_size(t, a.int(2))  # type: ignore[attr-defined]
    t.kernel.note_unsupported(t, "fcntl", compat.fcntl_name(cmd))
    raise err(errno.EINVAL)


def flock(t: Any, a: SyscallArgs) -> int:
    """flock(2)."""
    d = t.fdtable.get(a.int(0))
    op = a.int(1)
    if d.is_path or d.inode is None:
        raise err(errno.EBADF)
    if locks.flock(d.inode, d, op):
        return 0
    if op & locks.LOCK_NB:
        raise err(errno.EWOULDBLOCK)
    raise WouldBlock([(locks.state_of(d.inode).queue, EVENT_ALL)])


def ioctl(t: Any, a: SyscallArgs) -> int:
    """ioctl(2): what Linux's ``do_vfs_ioctl`` answers for any file (FIOCLEX/FIONCLEX,
    FIONBIO, FIOASYNC, FIOQSIZE, FIGETBSZ, FIFREEZE/FITHAW, a regular file's FIONREAD),
    then the file's own (ttys, pipes, sockets, random(4))."""
    fd, cmd, arg = a.int(0), a.uint(1), a[2]
    d = t.fdtable.get(fd)
    if d.is_path:
        raise err(errno.EBADF)
    if cmd == FIOCLEX:
        t.fdtable.set_cloexec(fd, True)
        return 0
    if cmd == FIONCLEX:
        t.fdtable.set_cloexec(fd, False)
        return 0
    if cmd == FIONBIO:
        on = t.mem.read_i32(arg)
        flags = d.flags | abi.O_NONBLOCK if on else d.flags & ~abi.O_NONBLOCK
        d.set_status_flags(flags & abi.SETFL_MASK)
        return 0
    if cmd == FIOASYNC:
        on = bool(t.mem.read_i32(arg))
        if not d.has_fasync:
            if on != bool(d.flags & abi.O_ASYNC):
                raise err(errno.ENOTTY)
            return 0
        fasync.set_async(t, d, on, fd)
        return 0
    if cmd in (FIOSETOWN, SIOCSPGRP):
        fasync.set_owner(t, d, t.mem.read_i32(arg))
        return 0
    if cmd in (FIOGETOWN, SIOCGPGRP):
        t.mem.write_i32(arg, fasync.get_owner(d))
        return 0
    if cmd == FIONREAD and d.inode is not None and d.inode.is_reg:
        t.mem.write_i32(arg, max(0, min(d.size() - d.offset, 0x7FFFFFFF)))
        return 0
    if cmd == FIOQSIZE:
        # The bytes a regular file, directory or symlink holds (inode_get_bytes).
        st = d.stat(t)
        if stat.S_IFMT(st.mode) not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
            raise err(errno.ENOTTY)
        t.mem.write(arg, struct.pack("<q", st.blocks * 512))
        return 0
    if cmd == FIGETBSZ:
        t.mem.write_i32(arg, d.inode.block_size() if d.inode is not None else 4096)
        return 0
    if cmd in (FIFREEZE, FITHAW):
        # No sandbox freezes a file system (its own have no freeze; the host's are not
        # its to freeze): EOPNOTSUPP, and a thaw of one not frozen is EINVAL; both take
        # CAP_SYS_ADMIN first.
        if not t.creds.capable(cap.CAP_SYS_ADMIN):
            raise err(errno.EPERM)
        raise err(errno.EOPNOTSUPP if cmd == FIFREEZE else errno.EINVAL)
    try:
        return d.ioctl(t, cmd, arg)
    except LinuxError as e:
        if e.errno == errno.ENOTTY and not compat.ioctl_refused_by_linux(d, cmd):
            t.kernel.note_unsupported(
                t, "ioctl", f"{compat.ioctl_name(cmd)} on {compat.file_kind(d)}")
        raise


# ------------------------------------------------------------ sizes, sync
def ftruncate(t: Any, a: SyscallArgs) -> int:
    """ftruncate(2)."""
    d = t.fdtable.get(a.int(0))
    length = a.long(1)
    if d.is_path:
        raise err(errno.EBADF)
    if length < 0 or not d.writable() or d.inode is None or not d.inode.is_reg:
        raise err(errno.EINVAL)
    d.truncate(t, length)
    if fsnotify.active:
        fsnotify.file_event(d, IN_MODIFY)
    return 0


def truncate(t: Any, a: SyscallArgs) -> int:
    """truncate(2)."""
    path = read_path(t, a[0])
    length = a.long(1)
    if length < 0:
        raise err(errno.EINVAL)
    vfs = vfs_of(t)
    vfs.truncate(t, vfs.resolve(t, abi.AT_FDCWD, path, follow=True), length)
    return 0


def fsync(t: Any, a: SyscallArgs) -> int:
    """fsync(2): ``EINVAL`` for a file without an fsync operation (a pipe, a socket, a
    device, an anonymous file, procfs's files and directories)."""
    d = t.fdtable.get(a.int(0))
    if d.is_path:
        raise err(errno.EBADF)
    d.fsync(t)
    return 0


def fdatasync(t: Any, a: SyscallArgs) -> int:
    """fdatasync(2)."""
    return fsync(t, a)


def fallocate(t: Any, a: SyscallArgs) -> int:
    """fallocate(2) (``EOPNOTSUPP`` where the file system cannot)."""
    d = t.fdtable.get(a.int(0))
    mode, off, length = a.int(1), a.long(2), a.long(3)
    if off < 0 or length <= 0:
        raise err(errno.EINVAL)
    if not d.writable():
        raise err(errno.EBADF)
    if d.inode is not None and d.inode.is_dir:
        raise err(errno.EISDIR)
    if d.inode is None or not d.inode.is_reg:
        if d.inode is not None and d.inode.mode & _S_IFMT == abi.S_IFIFO:
            raise err(errno.ESPIPE)  # (vfs_fallocate: any FIFO, a donated host one too)
        raise err(errno.ENODEV)
    d.fallocate(t, mode, off, length)
    if fsnotify.active:
        fsnotify.file_event(d, IN_MODIFY)
    return 0


def fadvise64(t: Any, a: SyscallArgs) -> int:
    """fadvise64(2): advice is checked and taken; caching stays the host's business.
    ``ESPIPE`` for a pipe only (``ksys_fadvise64_64``): a socket's, a tty's or an
    eventfd's advice is checked and does nothing (``generic_fadvise``'s no-op
    backing device), as a file's here."""
    d = t.fdtable.get(a.int(0))
    length, advice = a.long(2), a.int(3)
    if d.is_path:
        raise err(errno.EBADF)
    if d.inode is not None and d.inode.mode & _S_IFMT == abi.S_IFIFO:
        raise err(errno.ESPIPE)  # (an anonymous pipe's inode is one too)
    if not 0 <= advice <= 5 or length < 0:
        raise err(errno.EINVAL)
    return 0


_S_IFMT, _S_IFREG, _S_IFBLK, _S_IFDIR, _S_IFLNK = 0o170000, 0o100000, 0o060000, 0o040000, 0o120000
_SYNC_FILE_RANGE_FLAGS = 7  # WAIT_BEFORE | WRITE | WAIT_AFTER


def readahead(t: Any, a: SyscallArgs) -> int:
    """readahead(2): the checks of ``ksys_readahead``; caching is the host's (0)."""
    d = t.fdtable.get(a.int(0))
    if d.is_path or not d.readable():
        raise err(errno.EBADF)
    if d.stat(t).mode & _S_IFMT not in (_S_IFREG, _S_IFBLK):
        raise err(errno.EINVAL)
    if a.long(2) < 0:
        raise err(errno.EINVAL)  # generic_fadvise: a negative length
    return 0


def sync_file_range(t: Any, a: SyscallArgs) -> int:
    """sync_file_range(2): Linux's checks, then the file synced as ``fdatasync`` when
    ``SYNC_FILE_RANGE_WRITE`` asks for writeback (the sentry's files have no range sync);
    a file without an fsync operation (procfs's) has nothing to write back: 0."""
    fd, off, nbytes, flags = a.int(0), a.long(1), a.long(2), a.uint(3)
    # The fd first (the syscall's fdget), then sync_file_range()'s own checks.
    d = t.fdtable.get(fd)
    if d.is_path:
        raise err(errno.EBADF)
    if flags & ~_SYNC_FILE_RANGE_FLAGS:
        raise err(errno.EINVAL)
    end = off + nbytes
    if off < 0 or end < 0 or end > (1 << 63) - 1 or end < off:
        raise err(errno.EINVAL)
    if d.stat(t).mode & _S_IFMT not in (_S_IFREG, _S_IFBLK, _S_IFDIR, _S_IFLNK):
        raise err(errno.ESPIPE)
    if flags & 2 and d.fsync_op:
        d.fsync(t)
    return 0


# ------------------------------------------------------------- copies
def sendfile(t: Any, a: SyscallArgs) -> int:
    """sendfile(2): one chunk of up to :data:`MAX_IO` bytes per call.  Checked in
    ``do_sendfile``'s order: the offset given, the input (``EBADF``, ``ESPIPE`` with an
    offset, its range), then the output (``EBADF``; into a file: its range,
    ``O_APPEND``, an input that cannot seek: a pipe, a socket; into a pipe: a reader, then
    room), then a count of 0, then an input that cannot be spliced from (``EINVAL``:
    a pipe, an eventfd, /dev/null)."""
    off_addr = a[2]
    off = -1
    if off_addr:
        off = struct.unpack("<q", t.mem.read(off_addr, 8))[0]
    in_d = _readable(t, a.int(1))
    if off_addr and not in_d.positional:
        raise err(errno.ESPIPE)  # (no FMODE_PREAD)
    count = _count(a, 3)
    if off_addr and off < 0:
        raise err(errno.EINVAL)
    pos = off if off_addr else in_d.offset  # (one lseek for a file whose offset is the host's)
    verify_area(in_d, pos, a[3])
    out_d = _writable(t, a.int(0))
    from sentry.fsimpl.pipe.pipe import PipeDescription

    into_pipe = out_d if isinstance(out_d, PipeDescription) else None
    if into_pipe is None:
        # do_splice_direct: the output's range, no O_APPEND, an input that can seek
        _verify_at_offset(out_d, min(a[3], MAX_RW_COUNT), 0)
        if out_d.flags & abi.O_APPEND:
            raise err(errno.EINVAL)
        if not in_d.positional:
            raise err(errno.EINVAL)  # (splice_direct_to_actor: FMODE_LSEEK)
    else:
        # splice_file_to_pipe: no reader is EPIPE before the input gives up anything, and
        # it waits for room even for a count of 0
        into_pipe.check_reader(t)
        # Wait for room first, so that no input is consumed by a call that then parks.
        out_d.ready_or_block(EVENT_OUT)
    if count == 0:
        return 0
    if not in_d.splice_read:
        raise err(errno.EINVAL)  # (vfs_splice_read: no splice_read)
    if into_pipe is None:
        out_d.ready_or_block(EVENT_OUT)
    # A regular file into a pipe: PipeDescription.write_file_pages.
    from_file = in_d.inode is not None and in_d.inode.is_reg
    pages = into_pipe if from_file else None
    if pages is not None:
        # A file into a pipe goes a page to a slot (Linux splices its pages in), and only
        # what fits is read: busybox tar sends each file whole, and reading all of a
        # large one for each pipe's worth that went in made it quadratic.
        at = pos
        count = min(count, pages.pipe.page_room(at))
    elif into_pipe is not None:
        # Anything else (a socket, a device) gives up only what the pipe takes: the rest
        # stays in the input, which may not take it back.
        count = min(count, into_pipe.pipe.free)
    if off >= 0:
        data = in_d.pread(t, count, off)
    elif into_pipe is not None and out_d.nonblocking and in_d.splice_nonblock:
        data = in_d.recv(t, count, MSG_DONTWAIT)[0]  # type: ignore[attr-defined]  # (a unix socket)
    else:
        data = in_d.read(t, count)
    if not data:
        return 0
    n = out_d.write(t, data) if pages is None else pages.write_file_pages(t, data, at)
    if off_addr:
        t.mem.write(off_addr, struct.pack("<q", off + n))
    elif n < len(data) and from_file:
        in_d.offset = in_d.offset - (len(data) - n)
    if fsnotify.active and n:
        fsnotify.file_event(in_d, IN_ACCESS)
        fsnotify.file_event(out_d, IN_MODIFY)
    return n


#: recv's flag, for a unix socket spliced into a pipe without blocking (sendfile, splice)
MSG_DONTWAIT = 0x40


def copy_file_range(t: Any, a: SyscallArgs) -> int:
    """copy_file_range(2) between regular files, through the sentry.

    Never ``EXDEV`` (any two regular files can be copied this way); one chunk
    of up to :data:`MAX_IO` bytes per call, which callers loop over.
    """
    in_d = _readable(t, a.int(0))
    out_d = _writable(t, a.int(2))
    off_in_addr, off_out_addr, length, flags = a[1], a[3], _count(a, 4), a.uint(5)
    if flags:
        raise err(errno.EINVAL)
    for d in (in_d, out_d):
        if d.inode is None:
            raise err(errno.EINVAL)
        if d.inode.is_dir:
            raise err(errno.EISDIR)
        if not d.inode.is_reg:
            raise err(errno.EINVAL)
    if out_d.flags & abi.O_APPEND:
        raise err(errno.EBADF)
    off_in = struct.unpack("<q", t.mem.read(off_in_addr, 8))[0] if off_in_addr else in_d.offset
    off_out = struct.unpack("<q", t.mem.read(off_out_addr, 8))[0] if off_out_addr else out_d.offset
    if off_in < 0 or off_out < 0:
        raise err(errno.EINVAL)
    if in_d.inode is out_d.inode and off_in < off_out + length and off_out < off_in + length:
        raise err(errno.EINVAL)
    if length == 0:
        return 0
    data = in_d.pread(t, length, off_in)
    n = out_d.pwrite(t, data, off_out) if data else 0
    if off_in_addr:
        t.mem.write(off_in_addr, struct.pack("<q", off_in + n))
    else:
        in_d.offset = off_in + n
    if off_out_addr:
        t.mem.write(off_out_addr, struct.pack("<q", off_out + n))
    else:
        out_d.offset = off_out + n
    if fsnotify.active and n:
        fsnotify.file_event(in_d, IN_ACCESS)
        fsnotify.file_event(out_d, IN_MODIFY)
    return n
