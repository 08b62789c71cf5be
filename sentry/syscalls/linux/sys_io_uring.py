"""io_uring: io_uring_setup(2), io_uring_enter(2), io_uring_register(2).

The instances and their rings are :mod:`sentry.kernel.io_uring`.  As native AIO
(:mod:`sentry.syscalls.linux.sys_aio`), the requests are the sentry's own and done when
``io_uring_enter`` takes them, through the same code the matching syscalls run (the
descriptions' ``pread``/``pwrite``/``read``/``write``/``fsync``, and the ``fallocate``,
``fadvise64``, ``sync_file_range``, ``statx``, ``openat``, ``close``, ``setxattr``,
``getxattr`` handlers; ``MADVISE`` only the hints, after madvise's checks); the host
kernel's io_uring is never reached.  The order of the
CQEs is Linux's for requests that complete inline: the SQEs taken, each chain run when
its last SQE arrives (its head completing in order with the unlinked requests), and the
rest of each chain after them, one link at a time, as Linux's task work runs it (a
failed link, or a short read or write, cancels the rest of its chain with
``-ECANCELED`` unless it is a hard link).

A read of an empty pipe or socket, or a write to a full one, waits on the file as
Linux's armed poll does: ``io_uring_enter`` goes on, and the request (then the rest of
its chain) is issued again when the file's queue fires.
"""

from __future__ import annotations

import collections
import errno
import struct
import weakref

from sentry import logger
from sentry.abi.linux.errors import LinuxError, WouldBlock, err
from sentry.kernel.io_uring import (
    CQ_FLAGS, CQ_HEAD, CQ_OVERFLOW, CQ_RING_ENTRIES, CQ_RING_MASK, CQ_TAIL, CQES,
    SQ_DROPPED, SQ_FLAGS, SQ_HEAD, SQ_RING_ENTRIES, SQ_RING_MASK, SQ_TAIL, IoUringFile, Sqe,
    ring_sizes,
)
from sentry.syscalls.linux import sys_file, sys_stat, sys_xattr
from sentry.syscalls.linux.args import SyscallArgs
from sentry.syscalls.linux.sys_aio import _read, _write
from sentry.syscalls.linux.sys_file import (
    MAX_IO, MAX_RW_COUNT, RWF_NOWAIT, RWF_SUPPORTED, UIO_MAXIOV, _deliver, _gather,
    _scatter, _verify_at_offset, access_ok, read_iovecs,
)
from sentry.fsimpl.inotify.inotify import InotifyFileDescription
from sentry.kernel.memacct import ACCOUNT
from sentry.mm.mm import host_mapped
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT
from sentry.syscalls.linux.sys_poll import _sigmask

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Deque, Dict, List, Optional, Tuple
    from sentry.kernel.task import Task
    from sentry.vfs.file import FileDescription

log = logger.get("sentry")

# -- io_uring_setup ------------------------------------------------------------------

IORING_SETUP_CQSIZE, IORING_SETUP_CLAMP = 1 << 3, 1 << 4
IORING_SETUP_SUBMIT_ALL, IORING_SETUP_COOP_TASKRUN = 1 << 7, 1 << 8
IORING_SETUP_TASKRUN_FLAG, IORING_SETUP_SINGLE_ISSUER = 1 << 9, 1 << 12
IORING_SETUP_DEFER_TASKRUN = 1 << 13
#: The setup flags honoured (the others, SQPOLL, IOPOLL, ATTACH_WQ, R_DISABLED, SQE128,
#: CQE32, NO_MMAP, REGISTERED_FD_ONLY, NO_SQARRAY, ...: EINVAL, as a kernel without them).
#: The task-run and single-issuer ones are scheduling hints that hold trivially when
#: every request completes in the submitting call.
_SETUP_FLAGS = (IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL
                | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG
                | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)

IORING_FEAT_SINGLE_MMAP, IORING_FEAT_NODROP, IORING_FEAT_SUBMIT_STABLE = 1, 2, 4
IORING_FEAT_RW_CUR_POS, IORING_FEAT_CUR_PERSONALITY = 8, 16
FEATURES = (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE
            | IORING_FEAT_RW_CUR_POS | IORING_FEAT_CUR_PERSONALITY)

#: ``struct io_uring_params``: sq_entries, cq_entries, flags, sq_thread_cpu,
#: sq_thread_idle, features, wq_fd, resv[3]; then io_sqring_offsets and
#: io_cqring_offsets (eight u32 and a u64 each).
_PARAMS = struct.Struct("<10I8IQ8IQ")
assert _PARAMS.size == 120


def io_uring_setup(t: "Task", a: SyscallArgs) -> int:
    """io_uring_setup(2): an instance whose rings the process maps from the fd."""
    entries, addr = a.uint(0), a[1]
    p = list(_PARAMS.unpack(t.mem.read(addr, _PARAMS.size)))
    flags, cq_want = p[2], p[1]
    if any(p[7:10]):
        raise err(errno.EINVAL)
    if flags & ~_SETUP_FLAGS:
        raise err(errno.EINVAL)
    if flags & IORING_SETUP_TASKRUN_FLAG and not flags & (
            IORING_SETUP_COOP_TASKRUN | IORING_SETUP_DEFER_TASKRUN):
        raise err(errno.EINVAL)
    if flags & IORING_SETUP_DEFER_TASKRUN and not flags & IORING_SETUP_SINGLE_ISSUER:
        raise err(errno.EINVAL)
    sq, cq = ring_sizes(entries, cq_want, bool(flags & IORING_SETUP_CLAMP),
                        bool(flags & IORING_SETUP_CQSIZE))
    ring = IoUringFile(sq, cq, flags)
    try:
        p[0], p[1], p[5] = sq, cq, FEATURES
        p[10:19] = [SQ_HEAD, SQ_TAIL, SQ_RING_MASK, SQ_RING_ENTRIES, SQ_FLAGS, SQ_DROPPED,
                    ring.array, 0, 0]
        p[19:28] = [CQ_HEAD, CQ_TAIL, CQ_RING_MASK, CQ_RING_ENTRIES, CQ_OVERFLOW, CQES,
                    CQ_FLAGS, 0, 0]
        t.mem.write(addr, _PARAMS.pack(*p))
        return int(t.fdtable.install(ring, cloexec=True))
    except LinuxError:
        ring.decref()
        raise


def _ring(t: "Task", fd: int) -> IoUringFile:
    """:raises LinuxError: ``EBADF``, ``EOPNOTSUPP`` (not an io_uring fd)."""
    d = t.fdtable.get(fd)
    if not isinstance(d, IoUringFile):
        raise err(errno.EOPNOTSUPP)
    return d


# -- requests ------------------------------------------------------------------------

IOSQE_FIXED_FILE, IOSQE_IO_DRAIN, IOSQE_IO_LINK, IOSQE_IO_HARDLINK = 1, 2, 4, 8
IOSQE_ASYNC, IOSQE_BUFFER_SELECT, IOSQE_CQE_SKIP_SUCCESS = 16, 32, 64
_SQE_FLAGS = 0x7F
_LINKS = IOSQE_IO_LINK | IOSQE_IO_HARDLINK

OP_NOP, OP_READV, OP_WRITEV, OP_FSYNC = 0, 1, 2, 3
OP_SYNC_FILE_RANGE, OP_FALLOCATE, OP_OPENAT, OP_CLOSE = 8, 17, 18, 19
OP_STATX, OP_READ, OP_WRITE, OP_FADVISE, OP_MADVISE = 21, 22, 23, 24, 25
OP_SETXATTR, OP_GETXATTR = 42, 44
#: ``IORING_OP_LAST`` of 6.18: opcodes at or past it fail at submission.
IORING_OP_LAST = 63
IORING_FSYNC_DATASYNC = 1
AT_FDCWD = -100

# SQE fields (see sentry.kernel.io_uring.SQE).
_OPCODE, _FLAGS, _IOPRIO, _FD, _OFF, _ADDR, _LEN, _OPFLAGS, _USER_DATA = range(9)
_BUF_INDEX, _PERSONALITY, _FILE_INDEX, _ADDR3 = 9, 10, 11, 12


class _Req:
    """One SQE taken from the ring: its fields, and the result it must reach to keep its
    chain going (a short read or write fails a link)."""

    __slots__ = ("sqe", "expect", "file")

    def __init__(self, sqe: Sqe) -> None:
        self.sqe = sqe
        self.expect: Optional[int] = None
        self.file: Optional["FileDescription"] = None  # held while the request waits

    def put_file(self) -> None:
        if self.file is not None:
            self.file.decref()
            self.file = None


def _file(t: "Task", r: _Req) -> "FileDescription":
    """The request's file: looked up once (a request that waits keeps it, as Linux's
    reference does, whatever the process does with the fd meanwhile)."""
    if r.file is not None:
        return r.file
    _no_fixed(r)
    d: "FileDescription" = t.fdtable.get(r.sqe[_FD])
    return d


def _no_fixed(r: _Req) -> None:
    if r.sqe[_FLAGS] & IOSQE_FIXED_FILE:
        raise err(errno.EBADF)  # no registered files


def _hold(r: _Req, d: "FileDescription") -> None:
    if r.file is None:
        d.incref()
        r.file = d


def _op_nop(t: "Task", r: _Req) -> int:
    if r.sqe[_OPFLAGS]:
        raise err(errno.EINVAL)
    _no_fixed(r)
    return 0


def _op_rw(t: "Task", r: _Req) -> int:
    """READ/WRITE/READV/WRITEV at ``off``, or at the file position for -1."""
    sqe = r.sqe
    opcode, addr, n, rw_flags = sqe[_OPCODE], sqe[_ADDR], sqe[_LEN], sqe[_OPFLAGS]
    write = opcode in (OP_WRITE, OP_WRITEV)
    d = _file(t, r)
    if rw_flags & ~RWF_SUPPORTED:
        raise err(errno.EOPNOTSUPP)
    if d.is_path or not (d.writable() if write else d.readable()):
        raise err(errno.EBADF)
    if isinstance(d, InotifyFileDescription):
        # (Linux reads a file without read_iter through its plain read, loop_rw_iter,
        # once a poll says it is ready: inotify's events. Not done here. The others take
        # the paths below: a directory's read is EISDIR, epoll's and a pidfd's EINVAL.)
        raise err(errno.EINVAL)
    if opcode in (OP_READV, OP_WRITEV):
        if n > UIO_MAXIOV:
            raise err(errno.EINVAL)
        iov, count = read_iovecs(t, addr, n)
    else:
        count = min(n, MAX_RW_COUNT)
        if not access_ok(addr, count):
            raise err(errno.EFAULT)
        iov = [(addr, count)]
    r.expect = min(count, MAX_IO)
    off = sqe[_OFF]
    # rw_verify_area, before anything is read or a poll armed: of the offset given (a
    # pipe's or socket's too), or at the file position (a stream has none)
    if off != (1 << 64) - 1:
        if off >= 1 << 63 or off + count >= 1 << 63:
            raise err(errno.EINVAL)
    else:
        _verify_at_offset(d, count, r.expect)
    if d.stream:
        # A pipe or socket that is not ready: a poll is armed (6.18 does so even for an
        # O_NONBLOCK file, which supports nowait I/O), unless RWF_NOWAIT asks for EAGAIN.
        mask = (EVENT_OUT if write else EVENT_IN) | EVENT_ERR | EVENT_HUP
        if r.expect and not d.readiness(mask) & mask:
            if rw_flags & RWF_NOWAIT:
                raise err(errno.EAGAIN)
            _hold(r, d)
            raise WouldBlock([(d.wait_queue(), mask)])
    if off == (1 << 64) - 1 or d.stream:
        return _at_position(t, d, iov, r.expect, write)
    if write:
        return _write(t, d, iov, off, rw_flags, [None, None, 0])
    return _read(t, d, iov, r.expect, off, rw_flags)


def _at_position(t: "Task", d: "FileDescription", iov: List[Tuple[int, int]], total: int,
                 write: bool) -> int:
    """``IORING_FEAT_RW_CUR_POS``: the file's own position, which moves."""
    if write:
        return d.write(t, _gather(t, iov))
    return _deliver(t, d, d.read(t, total), lambda b: _scatter(t, iov, b))


def _no_extra(sqe: Sqe, *fields: int) -> None:
    if any(sqe[i] for i in fields):
        raise err(errno.EINVAL)


def _op_fsync(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _ADDR, _BUF_INDEX, _FILE_INDEX)
    if sqe[_OPFLAGS] & ~IORING_FSYNC_DATASYNC:
        raise err(errno.EINVAL)
    d = _file(t, r)
    if d.is_path:
        raise err(errno.EBADF)
    d.fsync(t)
    return 0


def _call(t: "Task", handler: Callable[[Any, SyscallArgs], int], *args: int) -> int:
    """The syscall handler with the SQE's arguments (the same checks, the same work)."""
    six = (tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * 6)[:6]
    return handler(t, SyscallArgs(0, six))  # type: ignore[arg-type]


def _op_sync_file_range(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _ADDR, _BUF_INDEX, _FILE_INDEX)
    _file(t, r)
    return _call(t, sys_file.sync_file_range, sqe[_FD], sqe[_OFF], sqe[_LEN], sqe[_OPFLAGS])


def _op_fallocate(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _BUF_INDEX, _OPFLAGS, _FILE_INDEX)
    _file(t, r)
    # off is the offset, addr the length, len the mode.
    return _call(t, sys_file.fallocate, sqe[_FD], sqe[_LEN], sqe[_OFF], sqe[_ADDR])


def _op_fadvise(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _BUF_INDEX, _FILE_INDEX)
    _file(t, r)
    return _call(t, sys_file.fadvise64, sqe[_FD], sqe[_OFF], sqe[_LEN], sqe[_OPFLAGS])


def _op_statx(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _BUF_INDEX, _FILE_INDEX)
    _no_fixed(r)
    return _call(t, sys_stat.statx, sqe[_FD], sqe[_ADDR], sqe[_OPFLAGS], sqe[_LEN], sqe[_OFF])


def _op_openat(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _BUF_INDEX, _FILE_INDEX)
    _no_fixed(r)
    fd = sqe[_FD]
    return sys_file._openat(t, fd - (1 << 32) if fd >= 1 << 31 else fd, sqe[_ADDR],
                            sqe[_OPFLAGS], sqe[_LEN])


def _op_close(t: "Task", r: _Req) -> int:
    sqe = r.sqe
    _no_extra(sqe, _OFF, _ADDR, _LEN, _OPFLAGS, _BUF_INDEX, _FILE_INDEX)
    _no_fixed(r)
    if isinstance(t.fdtable.get(sqe[_FD]), IoUringFile):
        raise err(errno.EBADF)  # io_close: a ring cannot close itself (or another)
    t.fdtable.close(sqe[_FD], lock_owner=t.tg)
    return 0


def _op_xattr(t: "Task", r: _Req) -> int:
    """SETXATTR/GETXATTR by path: addr3 the path, addr the name, off the value."""
    sqe = r.sqe
    _no_extra(sqe, _IOPRIO, _BUF_INDEX)
    _no_fixed(r)
    if sqe[_OPCODE] == OP_GETXATTR:
        if sqe[_OPFLAGS]:
            raise err(errno.EINVAL)
        return _call(t, sys_xattr.getxattr, sqe[_ADDR3], sqe[_ADDR], sqe[_OFF], sqe[_LEN])
    return _call(t, sys_xattr.setxattr, sqe[_ADDR3], sqe[_ADDR], sqe[_OFF], sqe[_LEN],
                 sqe[_OPFLAGS])


#: Advice that changes nothing the process can see but the kernel's paging (which the
#: host does on its own): NORMAL, RANDOM, SEQUENTIAL, WILLNEED, COLD, PAGEOUT.
_MADV_HINTS = (0, 1, 2, 3, 20, 21)
_PAGE = 4096


def _op_madvise(t: "Task", r: _Req) -> int:
    """MADVISE: the hints after madvise's checks (a range with a hole in the host's
    mappings of the process: ``ENOMEM``); other advice would change the process's memory,
    which the sentry does not reach from here: ``-EOPNOTSUPP``."""
    sqe = r.sqe
    _no_extra(sqe, _BUF_INDEX, _FILE_INDEX)
    _no_fixed(r)
    addr, length, advice = sqe[_ADDR], sqe[_LEN], sqe[_OPFLAGS]
    if advice not in _MADV_HINTS:
        raise err(errno.EOPNOTSUPP)
    if addr & (_PAGE - 1):
        raise err(errno.EINVAL)
    end = (addr + length + _PAGE - 1) & ~(_PAGE - 1)
    if end < addr or end > 1 << 47:
        raise err(errno.EINVAL if end < addr else errno.ENOMEM)
    if not host_mapped(t, addr, end):
        raise err(errno.ENOMEM)
    return 0


_OPS: Dict[int, Callable[["Task", _Req], int]] = {
    OP_NOP: _op_nop, OP_READV: _op_rw, OP_WRITEV: _op_rw, OP_FSYNC: _op_fsync,
    OP_SYNC_FILE_RANGE: _op_sync_file_range, OP_FALLOCATE: _op_fallocate,
    OP_OPENAT: _op_openat, OP_CLOSE: _op_close, OP_STATX: _op_statx, OP_READ: _op_rw,
    OP_WRITE: _op_rw, OP_FADVISE: _op_fadvise, OP_MADVISE: _op_madvise, OP_SETXATTR: _op_xattr,
    OP_GETXATTR: _op_xattr,
}
_READS = (OP_READ, OP_READV)


def _init_error(sqe: Sqe) -> int:
    """``io_init_req``'s checks: the error that fails the SQE at submission (0: none)."""
    opcode, flags = sqe[_OPCODE], sqe[_FLAGS]
    if opcode >= IORING_OP_LAST or flags & ~_SQE_FLAGS:
        return errno.EINVAL
    if flags & IOSQE_BUFFER_SELECT and opcode not in _READS:
        return errno.EOPNOTSUPP
    if sqe[_PERSONALITY]:
        return errno.EINVAL  # no registered personalities
    return 0


def _issue(t: "Task", r: _Req) -> int:
    """The request done now: its result (a negative errno for a failure)."""
    sqe = r.sqe
    op = _OPS.get(sqe[_OPCODE])
    if op is None:
        return -errno.EINVAL  # an opcode of Linux's this sentry does not do
    if sqe[_FLAGS] & IOSQE_BUFFER_SELECT:
        return -errno.ENOBUFS  # no provided buffers
    try:
        return op(t, r)
    except LinuxError as e:
        return -e.errno


def _failed(r: _Req, res: int) -> bool:
    """Whether *res* breaks *r*'s soft link (an error, or a short read or write)."""
    return res < 0 or (r.expect is not None and res != r.expect)


# -- io_uring_enter ------------------------------------------------------------------

IORING_ENTER_GETEVENTS, IORING_ENTER_SQ_WAKEUP, IORING_ENTER_SQ_WAIT = 1, 2, 4
_ENTER_FLAGS = IORING_ENTER_GETEVENTS | IORING_ENTER_SQ_WAKEUP | IORING_ENTER_SQ_WAIT

#: Work of one io_uring_enter: ("run" | "cancel", chain) in the order Linux completes it.
if TYPE_CHECKING:  # (an annotation only)
    _Work = Deque[Tuple[str, List[_Req]]]


#: Tasks whose io_uring_enter is parked in its wait: the call's args (its submission is
#: done; a retry only waits).
_WAITING: "weakref.WeakKeyDictionary[Any, SyscallArgs]" = weakref.WeakKeyDictionary()


def _take(ring: IoUringFile, to_submit: int) -> Tuple[int, _Work]:
    """``io_submit_sqes``: up to *to_submit* SQEs taken from the ring into chains.
    Returns the count taken and the work: each chain whose head completes inline, in
    order (the rest of a chain follows later, :func:`_run`)."""
    work: _Work = collections.deque()
    chain: List[_Req] = []
    n = min(to_submit, ring.sq_pending())
    done = 0
    while done < n:
        ok, sqe = ring.take_sqe()
        if not ok:
            break  # an index past the SQEs: dropped, and the submission ends
        done += 1
        r = _Req(sqe)
        e = _init_error(sqe)
        if e:
            if chain:  # the open chain fails with it
                work.append(("cancel", chain))
                chain = []
            work.append(("fail", [r]))
            if not ring.setup_flags & IORING_SETUP_SUBMIT_ALL:
                break
            continue
        chain.append(r)
        if not sqe[_FLAGS] & _LINKS:
            work.append(("run", chain))
            chain = []
    if chain:
        work.append(("run", chain))  # a chain left open at the end is queued as it is
    ring.commit_sq_head()
    return done, work


def _post(ring: IoUringFile, r: _Req, res: int) -> None:
    r.put_file()
    if res >= 0 and r.sqe[_FLAGS] & IOSQE_CQE_SKIP_SUCCESS:
        return
    ring.post(r.sqe[_USER_DATA], res)


def _run(t: "Task", ring: IoUringFile, work: _Work) -> None:
    """Each chain's head now; the rest of a chain is queued behind everything already
    there, as Linux's task work runs it.  A request whose file is not ready waits on the
    file (:class:`_Polled`) with the rest of its chain."""
    while work:
        kind, chain = work.popleft()
        if kind == "cancel":
            for r in chain:
                _post(ring, r, -errno.ECANCELED)
            continue
        if kind == "fail":
            _post(ring, chain[0], -errno.EINVAL)
            continue
        head, rest = chain[0], chain[1:]
        try:
            res = _issue(t, head)
        except WouldBlock as wb:
            cost = _POLLED_COST * len(chain)
            if ACCOUNT.charge(cost):
                _Polled(t, ring, chain, wb.queues, cost)
                continue
            # The sandbox's account refuses to hold another waiting request: it fails
            # (ENOMEM), as the rest of its chain.
            res = -errno.ENOMEM
        except Exception:  # a sentry bug: this request fails, the rest go on
            log.exception("io_uring: opcode %d", head.sqe[_OPCODE])
            res = -errno.EIO
        _post(ring, head, res)
        if rest:
            hard = bool(head.sqe[_FLAGS] & IOSQE_IO_HARDLINK)
            work.append(("cancel" if _failed(head, res) and not hard else "run", rest))


#: What a request waiting for its file holds in the sentry (its _Req, SQE tuple, the
#: subscription), per request of its chain; charged to the sandbox's account.
_POLLED_COST = 512


class _Polled:
    """A request whose file would block (Linux's armed poll): it holds its file and is
    issued again when the file's queue fires, then the rest of its chain runs.  The
    submitter's exit completes it with ``-ECANCELED``; the ring's release drops it."""

    __slots__ = ("t", "ring", "chain", "keys", "cost")

    def __init__(self, t: "Task", ring: IoUringFile, chain: List[_Req], queues: Any,
                 cost: int) -> None:
        self.t, self.ring, self.chain, self.cost = t, ring, chain, cost
        ring.polled.add(self)
        self.keys = [(q, q.subscribe(mask | EVENT_ERR | EVENT_HUP, self.wake))
                     for q, mask in queues]

    def drop(self) -> None:
        for q, key in self.keys:
            q.unsubscribe(key)
        self.keys = []
        self.ring.polled.discard(self)
        ACCOUNT.uncharge(self.cost)
        self.cost = 0

    def wake(self, _events: int) -> None:
        if not self.keys:
            return  # (already woken by another queue of the same notify)
        self.drop()
        work: _Work = collections.deque([("run", self.chain)])
        if self.t.exited or self.ring.fd < 0:
            work = collections.deque([("cancel", self.chain)])
        try:
            _run(self.t, self.ring, work)
        except Exception:  # never into the notifier's call
            log.exception("io_uring: a polled request")


def io_uring_enter(t: "Task", a: SyscallArgs) -> int:
    """io_uring_enter(2): the SQEs taken and done, then with ``IORING_ENTER_GETEVENTS``
    a wait for *min_complete* CQEs (with the *sig* mask for the wait, as ppoll's)."""
    flags = a.uint(3)
    if _WAITING.get(t) is not a or a.attempt == 0:
        if flags & ~_ENTER_FLAGS:
            raise err(errno.EINVAL)
        ring = _ring(t, a.int(0))
        done, work = _take(ring, a.uint(1))
        a.done = done
        _run(t, ring, work)
    else:
        ring = _ring(t, a.int(0))
    _WAITING.pop(t, None)
    if not flags & IORING_ENTER_GETEVENTS:
        return a.done
    ring.flush_overflow()
    want = min(a.uint(2), ring.cq_entries)
    if ring.cq_ready() >= want or ring.fd < 0:
        return a.done
    # (io_cqring_wait looks at the mask only when it has to wait.)
    mask = _sigmask(t, a[4], a[5]) if a[4] else None
    _WAITING[t] = a

    def interrupted() -> None:
        _WAITING.pop(t, None)

    # A signal ends the wait with EINTR (or the count submitted), whatever SA_RESTART says.
    raise WouldBlock([(ring.queue, EVENT_IN)], restart=errno.EINTR, sigmask=mask,
                     on_interrupt=interrupted)


# -- io_uring_register ---------------------------------------------------------------

IORING_REGISTER_PROBE = 8
IORING_REGISTER_LAST = 36
IO_URING_OP_SUPPORTED = 1
#: ``struct io_uring_probe``: last_op, ops_len, resv, resv2[3]; then ``io_uring_probe_op``
#: (op, resv, flags, resv2) per op.
_PROBE, _PROBE_OP = struct.Struct("<BBH3I"), struct.Struct("<BBHI")


def io_uring_register(t: "Task", a: SyscallArgs) -> int:
    """io_uring_register(2): ``IORING_REGISTER_PROBE``; the rest ``EINVAL``."""
    opcode, arg, nr = a.uint(1), a[2], a.uint(3)
    if opcode >= IORING_REGISTER_LAST:
        raise err(errno.EINVAL)
    _ring(t, a.int(0))
    if opcode != IORING_REGISTER_PROBE:
        raise err(errno.EINVAL)
    if not arg or nr > 256:
        raise err(errno.EINVAL)
    nr = min(nr, IORING_OP_LAST)
    if any(t.mem.read(arg, _PROBE.size + _PROBE_OP.size * nr)):
        raise err(errno.EINVAL)  # io_probe: the caller's buffer must be zeroed
    out = [_PROBE.pack(IORING_OP_LAST - 1, nr, 0, 0, 0, 0)]
    for op in range(nr):
        out.append(_PROBE_OP.pack(op, 0, IO_URING_OP_SUPPORTED if op in _OPS else 0, 0))
    t.mem.write(arg, b"".join(out))
    return 0
