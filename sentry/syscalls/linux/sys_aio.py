"""Linux native AIO: io_setup(2), io_destroy(2), io_submit(2), io_cancel(2),
io_getevents(2), io_pgetevents.

The contexts and their rings are :mod:`sentry.kernel.aio`.  As in gVisor, the I/O is
the sentry's own and done at submit, through the descriptions' read and write paths
(``pread``/``pwrite`` at ``aio_offset``, RWF flags as ``preadv2``/``pwritev2``); each
request queues its ``io_event`` and signals its eventfd (``IOCB_FLAG_RESFD``) before
``io_submit`` returns.  Linux does the same for every file without real asynchronous
I/O: a read of an empty pipe or socket, or a write to a full one, blocks in
``io_submit`` (the call parks; a signal completes that request with ``-EINTR``, or the
count a stream write moved, and ``io_submit`` returns the requests submitted so far
with it).  ``IOCB_CMD_POLL`` completes at once on a ready file and otherwise waits on
the file's queue until it is (cancellable with ``io_cancel``: ``-EINPROGRESS``, and an
event with ``res`` 0).  ``IOCB_CMD_FSYNC``/``FDSYNC`` sync the file at submit.

The ring is mapped into the process by the process itself: ``io_setup`` lends the
table's memfd at host fd :data:`SHM_LEND_FD` and asks for a ``PTRACE_EVENT_STOP``, at
which the thread runs ``mmap(MAP_SHARED)`` of the ring's pages and ``close`` at the
stub's gadget (what ``shmat`` does, :mod:`sentry.syscalls.linux.sys_ipc`);
``io_destroy`` has it run ``munmap`` of the ring the same way.
"""

from __future__ import annotations

import errno
import struct
import weakref

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import (
    ERESTARTNOHAND, ERESTARTNOINTR, LinuxError, WouldBlock, err,
)
from sentry.fsimpl.eventfd.eventfd import EventFileDescription
from sentry.kernel import aio
from sentry.kernel.aio import IO_EVENT, Context, Request
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN
from sentry.mm.mm import AIO_RING_NAME
from sentry.syscalls.linux.sys_file import (
    MAX_IO, MAX_RW_COUNT, RWF_APPEND, RWF_ATOMIC, RWF_DONTCACHE, RWF_DSYNC, RWF_NOAPPEND, RWF_NOWAIT,
    RWF_SUPPORTED, RWF_SYNC, UIO_MAXIOV, _deliver, _gather, _scatter, _with_flags,
    access_ok, read_iovecs,
)
from sentry.syscalls.linux.sys_poll import _deadline, _done, _sigmask
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC = 0, 1, 2, 3
IOCB_CMD_POLL, IOCB_CMD_NOOP, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV = 5, 6, 7, 8
IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO = 1, 2
#: ``struct iocb``: data, key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset,
#: reserved2, flags, resfd.
IOCB = struct.Struct("<QIIHhIQQqQII")
assert IOCB.size == 64
_KEY_OFF = 8
KIOCB_KEY = 0
#: ``struct __aio_sigset``: the mask's address and size.
_AIO_SIGSET = struct.Struct("<QQ")
_IOPRIO_CLASS_SHIFT = 13
SYS_MMAP, SYS_CLOSE, SYS_MUNMAP = 9, 3, 11
PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1


# ---------------------------------------------------------------- io_setup / destroy

def io_setup(t: "Task", a: "SyscallArgs") -> int:
    """io_setup(2): a context whose ring the thread maps at a stop (see the module)."""
    from sentry.syscalls.linux.sys_ipc import lend_for_stop

    nr, ctxp = a.uint(0), a[1]
    if struct.unpack("<Q", t.mem.read(ctxp, 8))[0] != 0 or nr == 0:
        raise err(errno.EINVAL)
    slots, size = aio.ring_size(nr)
    if not aio.aio_nr_room(t.kernel, nr):
        raise err(errno.EAGAIN)
    table = aio.table_of(t, create=True)
    if table is None:
        raise err(errno.ENOMEM)
    lend_for_stop(t, a, table.ring_fd())
    call = a.nr
    t.stop_hook = lambda task: _setup_stop(task, call, nr, slots, size, ctxp)
    raise LinuxError(ERESTARTNOINTR)


def _setup_stop(t: "Task", call: int, nr: int, slots: int, size: int, ctxp: int) -> bool:
    """At io_setup's stop: the ring written and mapped, the handle stored at *ctxp*."""
    from sentry.kernel.signal_dequeue import _call
    from sentry.loader.loader import SHM_LEND_FD
    from sentry.syscalls.linux.sys_ipc import _attach_done, _in_stop, _ns, map_lent

    def run(regs: List[int]) -> int:
        table = aio.table_of(t, create=True)
        if table is None:
            _call(t, regs, SYS_CLOSE, SHM_LEND_FD)
            return -errno.ENOMEM
        try:
            ctx = table.new_context(nr, slots, size)
        except LinuxError as e:
            _call(t, regs, SYS_CLOSE, SHM_LEND_FD)
            return -e.errno
        addr = map_lent(t, regs, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, ctx.offset)
        if -4096 < addr < 0:
            table.discard(ctx)
            return addr
        table.add(ctx, addr)
        mm = t.tg.mm
        if mm is not None and table.fd >= 0:
            mm.name_host_file(table.fd, AIO_RING_NAME)
        try:
            t.mem.write(ctxp, struct.pack("<Q", addr))
        except LinuxError:
            ctx.kill()  # put_user failed: kill_ioctx, as io_setup does
            _call(t, regs, SYS_MUNMAP, addr, size)
            return -errno.EFAULT
        return 0

    try:
        return _in_stop(t, call, run, "io_setup")
    finally:
        _attach_done(_ns(t), t)


def io_destroy(t: "Task", a: "SyscallArgs") -> int:
    """io_destroy(2): the context killed and its ring unmapped by the thread at a stop."""
    from sentry.platform.hybrid import native as N

    ctx = aio.lookup(t, a[0])
    if N.interrupt(t.host_tid) != 0:
        raise err(errno.ENOMEM)
    call, addr = a.nr, ctx.addr
    t.stop_hook = lambda task: _destroy_stop(task, call, addr)
    raise LinuxError(ERESTARTNOINTR)


def _destroy_stop(t: "Task", call: int, addr: int) -> bool:
    from sentry.kernel.signal_dequeue import _call
    from sentry.syscalls.linux.sys_ipc import _in_stop

    def run(regs: List[int]) -> int:
        table = aio.table_of(t)
        ctx = None
        if table is not None:
            ctx = next((c for c in table.contexts.values() if c.addr == addr), None)
        if ctx is None:
            return -errno.EINVAL  # another thread destroyed it first
        ctx.kill()
        # kill_ioctx unmaps whatever is at the ring's address now, as Linux's vm_munmap.
        _call(t, regs, SYS_MUNMAP, ctx.addr, ctx.size)
        return 0

    return _in_stop(t, call, run, "io_destroy")


# ---------------------------------------------------------------- io_submit

#: task → (SyscallArgs of its io_submit parked on a blocking file, its context, the
#: bytes a blocking stream write of the current request moved).
_SUBMITTING: "weakref.WeakKeyDictionary[Any, List[Any]]" = weakref.WeakKeyDictionary()


def io_submit(t: "Task", a: "SyscallArgs") -> int:
    """io_submit(2): every request done now; the count submitted, or the first one's error."""
    nr, iocbpp = a.long(1), a[2]
    if nr < 0:
        raise err(errno.EINVAL)
    state = _SUBMITTING.get(t)
    if state is not None and state[0] is a and a.attempt > 0:
        ctx = state[1]
    else:
        ctx = aio.lookup(t, a[0])
        state = [a, ctx, 0]
        _SUBMITTING[t] = state
    nr = min(nr, ctx.nr_events)
    ret = 0
    while a.done < nr:
        try:
            uiocb = struct.unpack("<Q", t.mem.read(iocbpp + 8 * a.done, 8))[0]
            _submit_one(t, ctx, uiocb, state)
        except LinuxError as e:
            ret = -e.errno
            break
        # (WouldBlock: parked in a request; the retry goes on from it, state kept.)
        a.done += 1
        state[2] = 0
    _SUBMITTING.pop(t, None)
    if a.done:
        return a.done
    raise err(-ret)


def _submit_one(t: "Task", ctx: Context, uiocb: int, state: List[Any]) -> None:
    """``io_submit_one``: the checks Linux makes before it takes the request (each a
    submit error), then the request, whose result is its event's ``res``."""
    (data, _key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset, reserved2, flags,
     resfd) = IOCB.unpack(t.mem.read(uiocb, IOCB.size))
    if reserved2 or nbytes >= 1 << 63:
        raise err(errno.EINVAL)
    if not ctx.has_room():
        raise err(errno.EAGAIN)
    d = t.fdtable.get(fildes)
    if d.is_path:
        raise err(errno.EBADF)
    efd: Optional[EventFileDescription] = None
    if flags & IOCB_FLAG_RESFD:
        e = t.fdtable.get(resfd)
        if e.is_path:
            raise err(errno.EBADF)
        if not isinstance(e, EventFileDescription):
            raise err(errno.EINVAL)
        efd = e
    t.mem.write(uiocb + _KEY_OFF, struct.pack("<I", KIOCB_KEY))
    if opcode in (IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV):
        res = _rw(t, ctx, d, uiocb, data, opcode, buf, nbytes, offset, rw_flags, flags,
                  reqprio, efd, state)
    elif opcode in (IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC):
        res = _fsync(t, d, buf, nbytes, offset, rw_flags)
    elif opcode == IOCB_CMD_POLL:
        _poll(t, ctx, d, uiocb, data, buf, nbytes, offset, rw_flags, efd)
        return
    else:
        raise err(errno.EINVAL)
    ctx.complete(uiocb, data, res, resfd=efd)


def _ioprio_check(t: "Task", prio: int) -> None:
    """``ioprio_check_cap`` of ``aio_reqprio`` (``IOCB_FLAG_IOPRIO``; hint bits ignored)."""
    cls, level = (prio >> _IOPRIO_CLASS_SHIFT) & 7, prio & 7
    if cls == 1:  # IOPRIO_CLASS_RT
        if not (t.creds.capable(cap.CAP_SYS_NICE) or t.creds.capable(cap.CAP_SYS_ADMIN)):
            raise err(errno.EPERM)
    elif cls == 0:  # IOPRIO_CLASS_NONE
        if level:
            raise err(errno.EINVAL)
    elif cls not in (2, 3):  # BE, IDLE
        raise err(errno.EINVAL)


def _rw(t: "Task", ctx: Context, d: FileDescription, uiocb: int, data: int, opcode: int,
        buf: int, nbytes: int, offset: int, rw_flags: int, flags: int, reqprio: int,
        efd: Optional[EventFileDescription], state: List[Any]) -> int:
    """``aio_read``/``aio_write``: the submit checks, then the I/O; its result."""
    write = opcode in (IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV)
    if flags & IOCB_FLAG_IOPRIO:
        _ioprio_check(t, reqprio)
    # kiocb_set_rw_flags (a buffered file write's RWF_NOWAIT fails in the write below).
    if rw_flags & ~RWF_SUPPORTED:
        raise err(errno.EOPNOTSUPP)
    if rw_flags & RWF_APPEND and rw_flags & RWF_NOAPPEND:
        raise err(errno.EINVAL)
    if rw_flags & (RWF_ATOMIC | RWF_DONTCACHE):
        raise err(errno.EOPNOTSUPP)  # no sandbox file does atomic or uncached writes
    if not (d.writable() if write else d.readable()):
        raise err(errno.EBADF)
    if not (d.write_iter if write else d.read_iter):
        raise err(errno.EINVAL)  # (aio_read/aio_write: no read_iter/write_iter)
    if opcode in (IOCB_CMD_PREADV, IOCB_CMD_PWRITEV):
        iov, count = read_iovecs(t, buf, min(nbytes, UIO_MAXIOV + 1))
    else:
        count = min(nbytes, MAX_RW_COUNT)
        if not access_ok(buf, count):
            raise err(errno.EFAULT)
        iov = [(buf, count)]
    # rw_verify_area
    if offset < 0 or offset + count >= 1 << 63:
        raise err(errno.EINVAL)
    try:
        if write:
            return _write(t, d, iov, offset, rw_flags, state)
        return _read(t, d, iov, min(count, MAX_IO), offset, rw_flags)
    except LinuxError as e:
        return -e.errno
    except WouldBlock as wb:
        # Blocked in io_submit, as Linux's read_iter/write_iter of such a file is.
        moved = state[2]
        raise WouldBlock(wb.queues, wb.deadline, restart=errno.EINTR,
                         on_interrupt=lambda: _interrupted(t, state, ctx, uiocb, data, efd,
                                                           moved)) from None


def _read(t: "Task", d: FileDescription, iov: List[Tuple[int, int]], total: int,
          offset: int, rw_flags: int) -> int:
    """A read at *offset* of *total* bytes into *iov* (what it holds, at most MAX_IO)."""
    if d.positional:
        return _with_flags(d, rw_flags, False, lambda: _pread_into(t, d, iov, total, offset))
    if d.stream and total == 0:
        return 0  # pipe_read of nothing
    # A file without a position (pipe, socket, tty, eventfd): read_iter ignores ki_pos.
    return _with_flags(d, rw_flags, False, lambda: _read_into(t, d, iov, total))


def _pread_into(t: "Task", d: FileDescription, iov: List[Tuple[int, int]], total: int,
                offset: int) -> int:
    chunk = d.pread(t, total, offset)
    return _scatter(t, iov, chunk) if chunk else 0


def _read_into(t: "Task", d: FileDescription, iov: List[Tuple[int, int]], total: int) -> int:
    """A read at the file's own position; bytes that could not be copied are given back."""
    return _deliver(t, d, d.read(t, total), lambda b: _scatter(t, iov, b))


def _write(t: "Task", d: FileDescription, iov: List[Tuple[int, int]], offset: int,
           rw_flags: int, state: List[Any]) -> int:
    if rw_flags & RWF_NOWAIT and not d.stream:
        raise err(errno.EOPNOTSUPP)  # a buffered file write cannot promise not to wait
    payload = _gather(t, iov)
    if d.positional:
        k = _with_flags(d, rw_flags, True, lambda: d.pwrite(t, payload, offset))
    elif d.stream and not d.nonblocking and not rw_flags & RWF_NOWAIT and payload:
        # A blocking stream write takes everything (pipe_write): its progress is kept
        # across parks, and a signal ends it with the count moved.
        while state[2] < len(payload):
            try:
                n = _with_flags(d, rw_flags, True, lambda: d.write(t, payload[state[2]:]))
            except LinuxError:
                if state[2]:
                    break
                raise
            if n <= 0:
                break
            state[2] += n
        k = state[2]
    else:
        k = _with_flags(d, rw_flags, True, lambda: d.write(t, payload))
    if k > 0 and rw_flags & (RWF_DSYNC | RWF_SYNC) and d.fsync_op:
        d.fsync(t)
    return k


def _interrupted(t: "Task", state: List[Any], ctx: Context, uiocb: int, data: int,
                 efd: Optional[EventFileDescription], moved: int) -> None:
    """A signal ended a request blocked in io_submit: it completes with what it did
    (``aio_rw_done`` turns the restart into ``-EINTR``) and counts as submitted; the
    requests after it are not (a short submission)."""
    ctx.complete(uiocb, data, moved if moved else -errno.EINTR, resfd=efd)
    state[0].done += 1
    if _SUBMITTING.get(t) is state:
        del _SUBMITTING[t]


def _fsync(t: "Task", d: FileDescription, buf: int, nbytes: int, offset: int,
           rw_flags: int) -> int:
    """``aio_fsync``: only files with an ``fsync`` operation (``aio_prep_fsync``); the
    sync is done now."""
    if buf or nbytes or offset or rw_flags:
        raise err(errno.EINVAL)
    if not d.fsync_op:
        raise err(errno.EINVAL)
    try:
        d.fsync(t)
    except LinuxError as e:
        return -e.errno
    return 0


def _poll(t: "Task", ctx: Context, d: FileDescription, uiocb: int, data: int, buf: int,
          nbytes: int, offset: int, rw_flags: int, efd: Optional[EventFileDescription]) -> None:
    """``aio_poll``: one-shot; done now if the file is ready, else when it becomes so."""
    if buf & 0xFFFF != buf or offset or nbytes or rw_flags:
        raise err(errno.EINVAL)
    events = buf | EVENT_ERR | EVENT_HUP
    ready = d.readiness(events) & events
    if ready:
        ctx.complete(uiocb, data, ready, resfd=efd)
        return
    d.incref()
    if efd is not None:
        efd.incref()
    req = Request(ctx, uiocb, data, d, events, efd)
    old = ctx.active.pop(uiocb, None)
    if old is not None:
        old.finish(0)  # an iocb submitted again while pending: the kernel would keep both
    ctx.active[uiocb] = req
    ctx.in_flight += 1
    req.key = d.wait_queue().subscribe(events, req.wake)


# ---------------------------------------------------------------- io_cancel

def io_cancel(t: "Task", a: "SyscallArgs") -> int:
    """io_cancel(2): only a pending ``IOCB_CMD_POLL`` can be cancelled (``EINPROGRESS``:
    its event comes with ``res`` 0); anything else, done or unknown, is ``EINVAL``."""
    uiocb = a[1]
    key = struct.unpack("<I", t.mem.read(uiocb + _KEY_OFF, 4))[0]
    if key != KIOCB_KEY:
        raise err(errno.EINVAL)
    ctx = aio.lookup(t, a[0])
    req = ctx.active.get(uiocb)
    if req is None:
        raise err(errno.EINVAL)
    req.finish(0)
    raise err(errno.EINPROGRESS)


# ---------------------------------------------------------------- io_getevents

#: task → (SyscallArgs of its parked wait, the context it waits on).
_WAITING: "weakref.WeakKeyDictionary[Any, Tuple[Any, Context]]" = weakref.WeakKeyDictionary()


def _timeout(t: "Task", addr: int) -> Optional[float]:
    """The relative timeout (``None``: none); Linux does not check ``tv_nsec``."""
    if not addr:
        return None
    sec, nsec = struct.unpack("<qq", t.mem.read(addr, 16))
    return max(0.0, sec + nsec / 1e9) if (sec, nsec) != (0, 0) else 0.0


def _getevents(t: "Task", a: "SyscallArgs", timeout: Optional[float],
               sigmask: Optional[int], restart: int) -> int:
    prev = _WAITING.get(t)
    if prev is not None and prev[0] is a and a.attempt > 0:
        ctx = prev[1]
    else:
        ctx = aio.lookup(t, a[0])
        min_nr, nr = a.long(1), a.long(2)
        if not 0 <= min_nr <= nr:
            raise err(errno.EINVAL)
        _WAITING[t] = (a, ctx)
    min_nr, nr, events = a.long(1), a.long(2), a[3]
    dl = _deadline(t, a, timeout)
    raw, head = ctx.take(nr - a.done)
    if raw:
        try:
            t.mem.write(events + a.done * IO_EVENT.size, raw)
        except LinuxError:
            # aio_read_events_ring: nothing taken; what earlier rounds took is the answer.
            _finish(t)
            if a.done:
                return a.done
            raise
        ctx.commit(head)
        a.done += len(raw) // IO_EVENT.size
    if ctx.dead and not a.done:
        _finish(t)
        raise err(errno.EINVAL)
    if a.done >= min_nr or timeout == 0 or a.timed_out or ctx.dead:
        _finish(t)
        return a.done
    raise WouldBlock([(ctx.queue, EVENT_IN)], deadline=dl, restart=restart, sigmask=sigmask,
                     on_interrupt=lambda: _finish(t))


def _finish(t: "Task") -> None:
    _WAITING.pop(t, None)
    _done(t)


def io_getevents(t: "Task", a: "SyscallArgs") -> int:
    """io_getevents(2): up to *nr* events; waits for *min_nr* until the relative timeout
    (``EINTR`` on a signal, whatever ``SA_RESTART`` says, unless some were taken)."""
    timeout = _timeout(t, a[4]) if a.attempt == 0 else None
    return _getevents(t, a, timeout, None, errno.EINTR)


def io_pgetevents(t: "Task", a: "SyscallArgs") -> int:
    """io_pgetevents(2): io_getevents with a signal mask for the wait, as ``ppoll``'s."""
    timeout = _timeout(t, a[4]) if a.attempt == 0 else None
    mask = None
    if a[5]:
        addr, size = _AIO_SIGSET.unpack(t.mem.read(a[5], _AIO_SIGSET.size))
        mask = _sigmask(t, addr, size)
    return _getevents(t, a, timeout, mask, ERESTARTNOHAND)
