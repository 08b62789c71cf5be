"""splice(2), tee(2), vmsplice(2): moving bytes through a pipe, in the sentry.

The sandbox's pipes are sentry buffers (:mod:`sentry.fsimpl.pipe.pipe`), so "splicing" is a
copy through the sentry, as ``sendfile`` is; what matters is Linux's contract:

- ``splice``: one end a pipe (else ``EINVAL``); an offset only for the end that is not a
  pipe (``ESPIPE``) and has pread/pwrite (``EINVAL``); an ``O_APPEND`` output ``EINVAL``.  The call waits for
  data in an input pipe (none and no writer: 0) and for room in an output pipe (no
  reader: ``EPIPE`` and ``SIGPIPE``); ``SPLICE_F_NONBLOCK`` or an ``O_NONBLOCK`` pipe
  turns those waits into ``EAGAIN``.  Nothing is taken from the input before the output
  has room, so a call that parks never loses bytes; what a socket or file would not take
  goes back to the front of the pipe.  A host pipe (the sandbox's stdio) is looked at
  with the host's ``tee`` first and only what went is read out of it
  (:func:`_host_peek`, :func:`_host_take`).
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

import _signal as signal
import errno
import os
import struct

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.host.host import HostFileDescription
from sentry.fsimpl.pipe.pipe import PipeDescription
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT
from sentry.platform.hybrid import native
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_file import (
    MAX_IO, MSG_DONTWAIT, UIO_MAXIOV, _scatter, verify_area,
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


def _host_pipe(d: FileDescription) -> Optional[HostFileDescription]:
    """A pipe the sandbox was given (its stdio under a container engine, a FIFO passed
    in): the bytes are the host's, so moving them is the host's splice or tee where the
    other end is a host fd too, else a read or write of it on the sandbox's side."""
    return d if isinstance(d, HostFileDescription) and d.fifo else None


def _host_io(fn: Any, nonblock: bool) -> Any:
    """A host pipe's read or write (*fn*): its park, where it would wait, is ``EAGAIN``
    for a nonblocking splice (``SPLICE_F_NONBLOCK`` without the pipe's ``O_NONBLOCK``)."""
    try:
        return fn()
    except WouldBlock:
        if nonblock:
            raise err(errno.EAGAIN) from None
        raise


_PEEK: List[int] = []  # the sentry's own host pipe (read end, write end) for _host_peek


def _host_peek(t: Any, hp: HostFileDescription, n: int, nonblock: bool) -> bytes:
    """Up to *n* of the bytes in the host pipe *hp*, left in it (the host's tee into a
    pipe of the sentry's own, read back): a splice or vmsplice takes from a host pipe only
    what its output took (:func:`_host_take`), as Linux takes from a pipe only what was
    written. ``b""`` at its end; a wait parks on *hp* (``EAGAIN`` when *nonblock*)."""
    if not _PEEK:
        _PEEK.extend(os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC))
    r = native.tee(hp.host_fd, _PEEK[1], n, SPLICE_F_NONBLOCK)  # type: ignore[arg-type]
    if r == -errno.EAGAIN:
        if nonblock:
            raise err(errno.EAGAIN)
        hp._block(EVENT_IN)
    if r < 0:
        raise err(-r)
    out = []
    while r > 0:  # (the whole of it: the sentry's pipe is left empty)
        chunk = os.read(_PEEK[0], r)
        out.append(chunk)
        r -= len(chunk)
    return b"".join(out)


def _host_take(t: Any, hp: HostFileDescription, k: int) -> None:
    """Take the *k* bytes :func:`_host_peek` showed out of the host pipe *hp* (they are
    there: only the sandbox reads it; a reader outside that took them first ends it)."""
    while k > 0:
        try:
            got = os.read(hp.host_fd, k)  # type: ignore[arg-type]
        except OSError:
            return
        if not got:
            return
        k -= len(got)


def _park_host(hp: HostFileDescription, other: FileDescription, hp_is_input: bool) -> None:
    """Park a host call between the host pipe *hp* and *other* that would have waited: on
    *other* when *hp* is ready (it is the end that is not), else on *hp*."""
    mask = EVENT_IN if hp_is_input else EVENT_OUT
    if hp.readiness(mask) & mask and isinstance(other, HostFileDescription):
        other._block(EVENT_OUT if hp_is_input else EVENT_IN)
    hp._block(mask)


def _host_splice(t: Any, in_d: FileDescription, off_in: Optional[int], out_d: FileDescription,
                 off_out: Optional[int], n: int, hp: HostFileDescription, nonblock: bool) -> int:
    """Both ends host fds, one of them the host pipe *hp*: the host's splice, never
    waiting; a wait parks on the end that is not ready."""
    try:
        return os.splice(in_d.host_fd, out_d.host_fd, n, off_in, off_out,  # type: ignore[arg-type]
                         SPLICE_F_NONBLOCK)
    except BlockingIOError:
        if nonblock:
            raise err(errno.EAGAIN) from None
        _park_host(hp, out_d if hp is in_d else in_d, hp is in_d)
        raise AssertionError("unreachable") from None
    except OSError as e:
        if e.errno == errno.EPIPE:
            t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
        raise err(e.errno or errno.EIO) from None


def _splice_host_pipe(t: Any, a: SyscallArgs, in_d: FileDescription, out_d: FileDescription,
                      n: int, nonblock: bool, ends: tuple) -> int:
    """splice with a host pipe at one end or both (the checks of both pipes made; *ends*:
    ``splice``'s sandbox and host pipes of each side, ``(ip, op, hin, hout)``)."""
    ip, op, hin, hout = ends
    if hin is not None and op is not None:  # host pipe -> sandbox pipe: room first
        room = _wait_room(t, op, nonblock)
        data = _host_peek(t, hin, min(n, room), nonblock)
        k = op.write(t, data) if data else 0  # (short if the memory account refuses)
        _host_take(t, hin, k)
        return k
    if ip is not None and hout is not None:  # sandbox pipe -> host pipe: what went
        if not _wait_data(ip, nonblock):
            return 0
        k = _host_io(lambda: hout.write(t, ip.pipe.peek(n)), nonblock)
        ip.read(t, k)
        return k
    if hin is not None and hout is not None:
        return _host_splice(t, in_d, None, out_d, None, n, hin, nonblock)
    if hin is not None:
        other, off_addr = out_d, a[3]
    else:
        other, off_addr = in_d, a[1]
    off = _offset(t, other, off_addr)
    pos = off if off is not None else other.offset
    if other is out_d and other.flags & abi.O_APPEND:
        raise err(errno.EINVAL)
    verify_area(other, pos, a[4])
    if other is in_d and not other.splice_read:
        raise err(errno.EINVAL)
    hp = hin if hin is not None else hout
    assert hp is not None
    if other.host_fd is not None:  # a host pipe, a gofer or host file, a host socket
        off_in, off_out = (None, off) if hin is not None else (off, None)
        k = _host_splice(t, in_d, off_in, out_d, off_out, n, hp, nonblock)
    elif not other.positional:
        # A sandbox socket or terminal: what it would not take (or give back) cannot be
        # returned to the host pipe. Not done (Linux can).
        t.kernel.note_unsupported(t, "splice", "a host pipe and a sandbox stream")
        raise err(errno.EINVAL)
    elif hin is not None:  # host pipe -> a sandbox file: what it took leaves the pipe
        data = _host_peek(t, hin, n, nonblock)
        if not data:
            return 0
        k = other.pwrite(t, data, pos) if off is not None else other.write(t, data)
        _host_take(t, hin, k)
    else:  # a sandbox file -> host pipe: only what went is read
        data = other.pread(t, n, pos)
        if not data:
            return 0
        k = _host_io(lambda: hout.write(t, data), nonblock)  # type: ignore[union-attr]
        if off is None:
            other.offset = pos + k
    if off is not None:
        t.mem.write(off_addr, struct.pack("<q", off + k))
    return k


def _wait_data(p: PipeDescription, nonblock: bool) -> bool:
    """Wait for bytes in the pipe *p* is the read end of; False at end of file."""
    pipe = p.pipe
    if pipe.size:
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
    free = pipe.free
    if free > 0:
        return free
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
    hin, hout = _host_pipe(in_d), _host_pipe(out_d)
    in_pipe, out_pipe = ip is not None or hin is not None, op is not None or hout is not None
    if not in_pipe and not out_pipe:
        raise err(errno.EINVAL)
    if in_pipe and off_in_addr or out_pipe and off_out_addr:
        raise err(errno.ESPIPE)
    # A pipe's O_NONBLOCK is SPLICE_F_NONBLOCK (both pipes': either one's), as do_splice.
    if in_pipe and in_d.nonblocking or out_pipe and out_d.nonblocking:
        flags |= SPLICE_F_NONBLOCK
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    if hin is not None or hout is not None:
        return _splice_host_pipe(t, a, in_d, out_d, n, nonblock, (ip, op, hin, hout))
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
    """tee(2): copy between two pipes, leaving the input as it was. In ``sys_tee``'s
    and ``do_tee``'s order: the flags, a count of 0, the fds (``EBADF`` for the access
    modes), then two different pipes (``EINVAL``); either pipe's ``O_NONBLOCK`` is
    ``SPLICE_F_NONBLOCK``."""
    n, flags = min(a[2], MAX_IO), a.uint(3)
    if flags & ~SPLICE_F_ALL:
        raise err(errno.EINVAL)
    if n == 0:
        return 0
    in_d, out_d = t.fdtable.get(a.int(0)), t.fdtable.get(a.int(1))
    if not in_d.readable() or not out_d.writable():
        raise err(errno.EBADF)
    ip, op = _pipe(in_d), _pipe(out_d)
    hin, hout = _host_pipe(in_d), _host_pipe(out_d)
    if ip is None and hin is None or op is None and hout is None \
            or ip is not None and op is not None and ip.pipe is op.pipe:
        raise err(errno.EINVAL)
    nonblock = bool(flags & SPLICE_F_NONBLOCK) or in_d.nonblocking or out_d.nonblocking
    if hin is not None and hout is not None:  # two host pipes: the host's tee
        r = native.tee(hin.host_fd, hout.host_fd, n, SPLICE_F_NONBLOCK)  # type: ignore[arg-type]
        if r == -errno.EAGAIN:
            if nonblock:
                raise err(errno.EAGAIN)
            _park_host(hin, hout, True)
        if r == -errno.EPIPE:
            t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
        if r < 0:
            raise err(-r)
        return r
    if hout is not None:  # a sandbox pipe into a host pipe
        assert ip is not None
        if not _wait_data(ip, nonblock):
            return 0
        return int(_host_io(lambda: hout.write(t, ip.pipe.peek(n)), nonblock))
    assert op is not None
    if hin is not None:  # a host pipe into a sandbox pipe: its bytes looked at, not taken
        room = _wait_room(t, op, nonblock)
        data = _host_peek(t, hin, min(n, room), nonblock)
        return op.write(t, data) if data else 0
    assert ip is not None  # (link_pipe: data in the input first, then room in the output)
    if not _wait_data(ip, nonblock):
        return 0
    room = _wait_room(t, op, nonblock)
    return op.write(t, ip.pipe.peek(min(n, room)))


def _iovecs(t: Any, addr: int, count: int) -> List[Tuple[int, int]]:
    if count > UIO_MAXIOV:
        raise err(errno.EINVAL)
    raw = t.mem.read(addr, 16 * count) if count else b""
    vecs = [struct.unpack_from("<QQ", raw, 16 * i) for i in range(count)]
    if any(ln > (1 << 63) - 1 for _b, ln in vecs):
        raise err(errno.EINVAL)
    return vecs


def _vmsplice_host_pipe(t: Any, hp: HostFileDescription, vecs: List[Tuple[int, int]],
                        total: int, nonblock: bool) -> int:
    """vmsplice of a host pipe: a write of the memory into it (its write end), a read out
    of it (its read end), as much as it takes or has now."""
    if hp.writable():
        if total == 0:
            return 0
        data = _vm_gather(t, vecs, total)
        return int(_host_io(lambda: hp.write(t, data), nonblock))
    if not hp.readable():
        raise err(errno.EBADF)
    if total == 0:
        return 0
    k = _scatter(t, vecs, _host_peek(t, hp, total, nonblock))
    _host_take(t, hp, k)  # (what reached the memory before a fault)
    return k


def _vm_gather(t: Any, vecs: List[Tuple[int, int]], want: int) -> bytes:
    """The first *want* bytes of the segments (``EFAULT`` for any unreadable one)."""
    chunks = []
    for base, ln in vecs:
        if want <= 0:
            break
        chunks.append(t.mem.read(base, min(ln, want)))
        want -= len(chunks[-1])
    return b"".join(chunks)


def vmsplice(t: Any, a: SyscallArgs) -> int:
    """vmsplice(2): user memory into a pipe (its write end) or out of it (its read end)."""
    d = t.fdtable.get(a.int(0))
    flags = a.uint(3)
    p, hp = _pipe(d), _host_pipe(d)
    if p is None and hp is None:
        raise err(errno.EBADF)
    if flags & ~SPLICE_F_ALL:
        raise err(errno.EINVAL)
    vecs = _iovecs(t, a[1], a.uint(2))
    total = min(sum(ln for _b, ln in vecs), MAX_IO)
    nonblock = bool(flags & SPLICE_F_NONBLOCK) or d.nonblocking
    if hp is not None:
        return _vmsplice_host_pipe(t, hp, vecs, total, nonblock)
    assert p is not None
    if d.writable() and not d.readable() or p.is_writer and not p.is_reader:
        if total == 0:
            return 0
        room = _wait_room(t, p, nonblock)
        return p.write(t, _vm_gather(t, vecs, min(total, room)))
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
