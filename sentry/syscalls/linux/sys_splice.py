"""splice(2), tee(2), vmsplice(2): moving bytes through a pipe, in the sentry.

The sandbox's pipes are sentry buffers (:mod:`sentry.fsimpl.pipe.pipe`), so "splicing" is a
copy through the sentry, as ``sendfile`` is; what matters is Linux's contract:

- ``splice``: one end a pipe (else ``EINVAL``); an offset only for the end that is not a
  pipe (``ESPIPE``) and has pread/pwrite (``EINVAL``); an ``O_APPEND`` output ``EINVAL``.  The call waits for
  data in an input pipe (none and no writer: 0) and for room in an output pipe (no
  reader: ``EPIPE`` and ``SIGPIPE``); ``SPLICE_F_NONBLOCK`` or an ``O_NONBLOCK`` pipe
  turns those waits into ``EAGAIN``.  Nothing is taken from the input before the output
  has room, so a call that parks never loses bytes; what a socket or file would not take
  goes back to the front of the pipe.
- ``tee``: copy between two pipes without consuming.
- ``vmsplice``: user memory into a pipe's write end, or out of its read end.

Each call moves at most one pipe's worth (and :data:`MAX_IO`), as Linux moves at most the
pipe's buffers; callers loop.  A regular file's bytes (``splice`` and ``sendfile`` into a
pipe) go in a page to a slot, as Linux puts the file's page-cache pages in, only in free
slots and never added to by a later ``write`` (:meth:`PipeDescription.write_file_pages`):
16 pages less 100 bytes from a file fill a default pipe that a byte written then finds
full, and from an unaligned offset a pipe takes 64 KiB less the offset in its page.
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.pipe.pipe import PipeDescription
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import (
    MAX_IO, MSG_DONTWAIT, UIO_MAXIOV, verify_area,
)
from sentry.vfs import abi
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT = 1, 2, 4, 8
SPLICE_F_ALL = 0xF


def _pipe(d: FileDescription) -> Optional[PipeDescription]:
    return d if isinstance(d, PipeDescription) else None


def _wait_data(p: PipeDescription, nonblock: bool) -> bool:
    """Wait for bytes in the pipe *p* is the read end of; False at end of file."""
    pipe = p.pipe
    if pipe.buf:
        return True
    if pipe.writers == 0:
        return False
    if nonblock:
        raise err(errno.EAGAIN)
    raise WouldBlock([(pipe.queue, EVENT_IN | EVENT_HUP)])


def _wait_room(t: Any, p: PipeDescription, nonblock: bool) -> int:
    """Wait for room in the pipe *p* is the write end of; the free bytes."""
    p.check_reader(t)
    pipe = p.pipe
    if pipe.free > 0:
        return pipe.free
    if nonblock:
        raise err(errno.EAGAIN)
    raise WouldBlock([(pipe.queue, EVENT_OUT | EVENT_ERR)])


def _offset(t: Any, d: FileDescription, addr: int) -> Optional[int]:
    """The offset at *addr* for a file that has pread/pwrite (``EINVAL`` otherwise: a
    socket, a tty, an eventfd; a pipe's offset is ``ESPIPE``, checked before)."""
    if not addr:
        return None
    if not d.positional:
        raise err(errno.EINVAL)
    off = struct.unpack("<q", t.mem.read(addr, 8))[0]
    if off < 0:
        raise err(errno.EINVAL)
    return off


def splice(t: Any, a: SyscallArgs) -> int:
    """splice(2)."""
    fd_in, off_in_addr, fd_out, off_out_addr = a.int(0), a[1], a.int(2), a[3]
    n, flags = min(a[4], MAX_IO), a.uint(5)
    if n == 0:
        return 0  # (the syscall's first check: nothing is looked at)
    if flags & ~SPLICE_F_ALL:
        raise err(errno.EINVAL)
    in_d = t.fdtable.get(fd_in)
    out_d = t.fdtable.get(fd_out)
    if not in_d.readable() or not out_d.writable():
        raise err(errno.EBADF)
    ip, op = _pipe(in_d), _pipe(out_d)
    if ip is None and op is None:
        raise err(errno.EINVAL)
    if ip is not None and off_in_addr or op is not None and off_out_addr:
        raise err(errno.ESPIPE)
    # A pipe's O_NONBLOCK is SPLICE_F_NONBLOCK (both pipes': either one's), as do_splice.
    if ip is not None and in_d.nonblocking or op is not None and out_d.nonblocking:
        flags |= SPLICE_F_NONBLOCK
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    if ip is not None and op is not None:
        if ip.pipe is op.pipe:
            raise err(errno.EINVAL)
        if not _wait_data(ip, nonblock):
            return 0
        room = _wait_room(t, op, nonblock)
        data = ip.read(t, min(n, room))
        return op.write(t, data)
    if ip is not None:  # pipe -> file or socket
        off = _offset(t, out_d, off_out_addr)
        if out_d.flags & abi.O_APPEND:
            raise err(errno.EINVAL)  # (a pipe written from a file or a pipe may be O_APPEND)
        verify_area(out_d, off if off is not None else out_d.offset, a[4])
        if not _wait_data(ip, nonblock):
            return 0
        if off is None and not out_d.readiness(EVENT_OUT) & EVENT_OUT:
            out_d.ready_or_block(EVENT_OUT)  # room first: nothing taken by a parked call
        data = ip.read(t, n)
        if off is not None:
            k = out_d.pwrite(t, data, off)
            t.mem.write(off_out_addr, struct.pack("<q", off + k))
        else:
            k = out_d.write(t, data)
        if k < len(data):
            ip.unread(t, data[k:])
        return k
    assert op is not None  # file or socket -> pipe
    off = _offset(t, in_d, off_in_addr)
    pos = off if off is not None else in_d.offset
    verify_area(in_d, pos, a[4])  # (before any wait for room, as Linux 6.8+)
    room = _wait_room(t, op, nonblock)
    if not in_d.splice_read:
        raise err(errno.EINVAL)  # (vfs_splice_read: no splice_read)
    # A regular file's pages go a page to a slot (filemap_splice_read), in free slots.
    at = -1
    if in_d.inode is not None and in_d.inode.is_reg:
        at = pos
        room = op.pipe.page_room(at)
        if room == 0:  # free bytes in the last slot only: full for a file's pages
            if nonblock:
                raise err(errno.EAGAIN)
            raise WouldBlock([(op.pipe.queue, EVENT_OUT | EVENT_ERR)])
    want = min(n, room)
    if off is not None:
        data = in_d.pread(t, want, off)
    elif nonblock and in_d.splice_nonblock:
        data = in_d.recv(t, want, MSG_DONTWAIT)[0]
    else:
        data = in_d.read(t, want)
    if not data:
        return 0
    k = op.write(t, data) if at < 0 else op.write_file_pages(t, data, at)
    if off is not None:
        t.mem.write(off_in_addr, struct.pack("<q", off + k))
    elif k < len(data) and at >= 0:
        in_d.offset = in_d.offset - (len(data) - k)  # (the memory account ran out)
    return k


def tee(t: Any, a: SyscallArgs) -> int:
    """tee(2): copy between two pipes, leaving the input as it was."""
    in_d, out_d = t.fdtable.get(a.int(0)), t.fdtable.get(a.int(1))
    n, flags = min(a[2], MAX_IO), a.uint(3)
    if flags & ~SPLICE_F_ALL:
        raise err(errno.EINVAL)
    ip, op = _pipe(in_d), _pipe(out_d)
    if ip is None or op is None or not ip.is_reader or not op.is_writer or ip.pipe is op.pipe:
        raise err(errno.EINVAL)
    if n == 0:
        return 0
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    if not _wait_data(ip, nonblock or in_d.nonblocking):
        return 0
    room = _wait_room(t, op, nonblock or out_d.nonblocking)
    return op.write(t, bytes(ip.pipe.buf[:min(n, room)]))


def _iovecs(t: Any, addr: int, count: int) -> List[Tuple[int, int]]:
    if count > UIO_MAXIOV:
        raise err(errno.EINVAL)
    raw = t.mem.read(addr, 16 * count) if count else b""
    vecs = [struct.unpack_from("<QQ", raw, 16 * i) for i in range(count)]
    if any(ln > (1 << 63) - 1 for _b, ln in vecs):
        raise err(errno.EINVAL)
    return vecs


def vmsplice(t: Any, a: SyscallArgs) -> int:
    """vmsplice(2): user memory into a pipe (its write end) or out of it (its read end)."""
    d = t.fdtable.get(a.int(0))
    flags = a.uint(3)
    p = _pipe(d)
    if p is None:
        raise err(errno.EBADF)
    if flags & ~SPLICE_F_ALL:
        raise err(errno.EINVAL)
    vecs = _iovecs(t, a[1], a.uint(2))
    total = min(sum(ln for _b, ln in vecs), MAX_IO)
    nonblock = bool(flags & SPLICE_F_NONBLOCK) or d.nonblocking
    if d.writable() and not d.readable() or p.is_writer and not p.is_reader:
        if total == 0:
            return 0
        room = _wait_room(t, p, nonblock)
        want = min(total, room)
        chunks = []
        for base, ln in vecs:
            if want <= 0:
                break
            chunks.append(t.mem.read(base, min(ln, want)))
            want -= len(chunks[-1])
        return p.write(t, b"".join(chunks))
    if not p.is_reader:
        raise err(errno.EBADF)
    if total == 0:
        return 0
    if not _wait_data(p, nonblock):
        return 0
    data = p.read(t, total)
    off = 0
    for base, ln in vecs:
        if off >= len(data):
            break
        chunk = data[off: off + ln]
        t.mem.write(base, chunk)
        off += len(chunk)
    return len(data)
