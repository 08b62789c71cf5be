"""POSIX message queues: mq_open(2) and friends (:mod:`sentry.fsimpl.mqueue.mqueue`).

The queues live in the sandbox's IPC namespace, named without the leading slash (libc
strips it).  ``mq_timedsend`` to a full queue and ``mq_timedreceive`` from an empty one
park on the queue until there is room or a message, the absolute ``CLOCK_REALTIME``
timeout (``ETIMEDOUT``) or a signal (restarted under ``SA_RESTART``, as Linux's
``-ERESTARTSYS``).  ``mq_notify`` takes ``SIGEV_NONE`` and ``SIGEV_SIGNAL`` (a signal with
``SI_MESGQ``, the sender's pid and uid, and the registered ``sigev_value`` when a message
comes to an empty queue nobody waits on); ``SIGEV_THREAD`` needs a netlink socket of a
kind the sandbox does not have (``EINVAL``).
"""

from __future__ import annotations

import errno
import struct
import time
import weakref

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import ERESTARTSYS, LinuxError, WouldBlock, err
from sentry.fsimpl.mqueue.mqueue import (
    MSG_COST, QUEUE_COST, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, MessageQueue, MQueueDescription,
)
from sentry.kernel import ipc
from sentry.kernel.memacct import ACCOUNT
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT
from sentry.syscalls.linux.sys_poll import _deadline, _done
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

MQ_PRIO_MAX = 32768
HARD_MSGMAX, HARD_MSGSIZEMAX = 65536, 16 * 1024 * 1024
NAME_MAX = 255
SI_MESGQ = -3
_ATTR = struct.Struct("<4q32x")  # mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs
_OPEN_FLAGS = (abi.O_ACCMODE | abi.O_CREAT | abi.O_EXCL | abi.O_NONBLOCK | abi.O_CLOEXEC)


def _queues(t: "Task") -> Dict[bytes, MessageQueue]:
    return ipc.namespace(t.kernel).mqueues


def _limit(t: "Task", key: str, default: int) -> int:
    return ipc.namespace(t.kernel).sysctl(key, str(default))[0]


def _may(t: "Task", mq: MessageQueue, want: int) -> bool:
    """``inode_permission`` of the queue's mode for *want* (4 read, 2 write)."""
    c = t.creds
    if c.capable(cap.CAP_DAC_OVERRIDE):
        return True
    mode = mq.mode
    if c.fsuid == mq.uid:
        bits = mode >> 6
    elif mq.gid == c.fsgid or mq.gid in c.groups:
        bits = mode >> 3
    else:
        bits = mode
    return not want & ~bits & 7


def _name(t: "Task", addr: int) -> bytes:
    name = t.mem.read_cstring(addr)
    if len(name) > NAME_MAX:
        raise err(errno.ENAMETOOLONG)
    if not name:
        raise err(errno.ENOENT)  # getname of ""
    if b"/" in name or name in (b".", b".."):
        raise err(errno.EACCES)
    return name


def mq_open(t: "Task", a: "SyscallArgs") -> int:
    """mq_open(2)."""
    name_addr, oflag, mode, attr_addr = a[0], a.int(1), a.uint(2), a[3]
    # The attributes are copied first, whatever oflag says (the syscall's own copy).
    attr = _ATTR.unpack(t.mem.read(attr_addr, _ATTR.size)) if attr_addr else None
    name = _name(t, name_addr)
    qs = _queues(t)
    mq = qs.get(name)
    if mq is None:
        if not oflag & abi.O_CREAT:
            raise err(errno.ENOENT)
        c = t.creds
        if attr is None:
            maxmsg = _limit(t, "fs.mqueue.msg_default", 10)
            msgsize = _limit(t, "fs.mqueue.msgsize_default", 8192)
        else:
            maxmsg, msgsize = attr[1], attr[2]
            if maxmsg <= 0 or msgsize <= 0:
                raise err(errno.EINVAL)
            if c.capable(cap.CAP_SYS_RESOURCE):
                if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
                    raise err(errno.EINVAL)
            elif (maxmsg > _limit(t, "fs.mqueue.msg_max", 10)
                  or msgsize > _limit(t, "fs.mqueue.msgsize_max", 8192)):
                raise err(errno.EINVAL)
        if (len(qs) >= _limit(t, "fs.mqueue.queues_max", 256)
                and not c.capable(cap.CAP_SYS_RESOURCE)):
            raise err(errno.ENFILE)
        if not ACCOUNT.charge(QUEUE_COST + len(name)):
            raise err(errno.ENOMEM)
        mq = MessageQueue(name, c.fsuid, c.fsgid, mode & ~t.fs.umask & 0o7777, maxmsg, msgsize)
        mq.add_charge(QUEUE_COST + len(name))
        fresh = True
    else:
        if oflag & abi.O_CREAT and oflag & abi.O_EXCL:
            raise err(errno.EEXIST)
        if oflag & abi.O_ACCMODE == abi.O_ACCMODE:
            raise err(errno.EINVAL)
        want = {abi.O_RDONLY: 4, abi.O_WRONLY: 2, abi.O_RDWR: 6}[oflag & abi.O_ACCMODE]
        if not _may(t, mq, want):
            raise err(errno.EACCES)
        fresh = False
    d = MQueueDescription(mq, oflag & _OPEN_FLAGS)
    try:
        fd = t.fdtable.install(d, bool(oflag & abi.O_CLOEXEC))
    except LinuxError:
        d.decref()
        raise
    if fresh:
        qs[name] = mq
    return int(fd)


def mq_unlink(t: "Task", a: "SyscallArgs") -> int:
    """mq_unlink(2): the name goes; open descriptions keep the queue."""
    name = _name(t, a[0])
    qs = _queues(t)
    mq = qs.get(name)
    if mq is None:
        raise err(errno.ENOENT)
    # Only the owner, or a caller that may override permissions (Linux 6.18 answers
    # EACCES to anybody else).
    c = t.creds
    if c.fsuid != mq.uid and not (c.capable(cap.CAP_DAC_OVERRIDE) or c.capable(cap.CAP_FOWNER)):
        raise err(errno.EACCES)
    del qs[name]
    return 0


def _desc(t: "Task", fd: int) -> MQueueDescription:
    d = t.fdtable.get(fd)
    if not isinstance(d, MQueueDescription):
        raise err(errno.EBADF)
    return d


def _abs_timeout(t: "Task", addr: int) -> Optional[float]:
    """Seconds from now to the absolute ``CLOCK_REALTIME`` timeout (None: none)."""
    if not addr:
        return None
    sec, nsec = struct.unpack("<qq", t.mem.read(addr, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise err(errno.EINVAL)
    return max(0.0, sec + nsec / 1e9 - time.time())


#: task → (SyscallArgs of its parked send, what its first run copied in).
_SENDING: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def mq_timedsend(t: "Task", a: "SyscallArgs") -> int:
    """mq_timedsend(2)."""
    fd, ptr, length, prio, ts = a.int(0), a[1], a[2], a[3], a[4]
    prev = _SENDING.get(t)
    if prev is not None and prev[0] is a and a.attempt > 0:
        d, data, timeout = prev[1]
    else:
        if prio >= MQ_PRIO_MAX:
            raise err(errno.EINVAL)
        timeout = _abs_timeout(t, ts)
        d = _desc(t, fd)
        if not d.writable():
            raise err(errno.EBADF)
        if length > d.mq.msgsize:
            raise err(errno.EMSGSIZE)
        if not ACCOUNT.room(length + MSG_COST):
            raise err(errno.ENOMEM)  # before the copy: the sentry would hold it
        data = t.mem.read(ptr, length) if length else b""
        _SENDING[t] = (a, (d, data, timeout))
    mq = d.mq
    dl = _deadline(t, a, timeout)
    if mq.full():
        if d.nonblocking:
            _send_done(t)
            raise err(errno.EAGAIN)
        if a.timed_out or timeout == 0:
            _send_done(t)
            raise err(errno.ETIMEDOUT)
        raise WouldBlock([(mq.queue, EVENT_OUT)], deadline=dl, restart=ERESTARTSYS,
                         on_interrupt=lambda: _send_done(t))
    _send_done(t)
    # A message to an empty queue that no receiver waits on is what mq_notify reports.
    tell = not mq.msgs and mq.notify is not None and not _receivers(mq)
    if not mq.put(data, prio):
        raise err(errno.ENOMEM)
    if tell:
        _notify(t, mq)
    return 0


def _send_done(t: "Task") -> None:
    _SENDING.pop(t, None)
    _done(t)


def _receivers(mq: MessageQueue) -> bool:
    """Whether a thread is parked in mq_timedreceive on *mq*."""
    return any(not w.exited and w.parked is not None for w in mq.receivers)


def _notify(t: "Task", mq: MessageQueue) -> None:
    """``__do_notify``: the registered process is told once, then unregistered."""
    assert mq.notify is not None
    owner, how, signo, value, _d = mq.notify
    mq.notify = None
    if how != SIGEV_SIGNAL or not signo or owner.zombie:
        return
    k = t.kernel
    target = k.pick_thread(owner, signo)
    if target is None:
        return
    info = struct.pack("<iiiiiIq", signo, 0, SI_MESGQ, 0, t.tgid, t.creds.uid, value)
    k.signal_task(target, signo, t, info=info.ljust(128, b"\0"))


def mq_timedreceive(t: "Task", a: "SyscallArgs") -> int:
    """mq_timedreceive(2)."""
    fd, ptr, length, prio_addr, ts = a.int(0), a[1], a[2], a[3], a[4]
    timeout = _abs_timeout(t, ts) if not (a.attempt > 0) else None
    d = _desc(t, fd)
    if not d.readable():
        raise err(errno.EBADF)
    mq = d.mq
    if length < mq.msgsize:
        raise err(errno.EMSGSIZE)
    dl = _deadline(t, a, timeout)
    waiters = mq.receivers
    waiters.discard(t)
    if not mq.msgs:
        if d.nonblocking:
            _done(t)
            raise err(errno.EAGAIN)
        if a.timed_out or (dl is not None and dl <= time.monotonic()):
            _done(t)
            raise err(errno.ETIMEDOUT)
        waiters.add(t)
        raise WouldBlock([(mq.queue, EVENT_IN)], deadline=dl, restart=ERESTARTSYS,
                         on_interrupt=lambda: _recv_interrupted(t, mq))
    data, prio = mq.msgs[0][2], -mq.msgs[0][0]
    t.mem.write(ptr, data)
    if prio_addr:
        t.mem.write(prio_addr, struct.pack("<I", prio))
    mq.take()
    _done(t)
    return len(data)


def _recv_interrupted(t: "Task", mq: MessageQueue) -> None:
    mq.receivers.discard(t)
    _done(t)


def mq_notify(t: "Task", a: "SyscallArgs") -> int:
    """mq_notify(2)."""
    fd, sev_addr = a.int(0), a[1]
    how = signo = value = 0
    if sev_addr:
        value, signo, how = struct.unpack("<qii", t.mem.read(sev_addr, 16))
        if how not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            raise err(errno.EINVAL)
        if how == SIGEV_SIGNAL and not 0 <= signo <= 64:
            raise err(errno.EINVAL)
        if how == SIGEV_THREAD:
            t.kernel.note_unsupported(t, "mq_notify", "SIGEV_THREAD")
            raise err(errno.EINVAL)
    d = _desc(t, fd)
    mq = d.mq
    if not sev_addr:
        if mq.notify is not None and mq.notify[0] is t.tg:
            mq.notify = None
        return 0
    if mq.notify is not None:
        raise err(errno.EBUSY)
    mq.notify = (t.tg, how, signo, value, d)
    return 0


def mq_getsetattr(t: "Task", a: "SyscallArgs") -> int:
    """mq_getsetattr(2): only ``O_NONBLOCK`` can change."""
    fd, new_addr, old_addr = a.int(0), a[1], a[2]
    new = None
    if new_addr:
        new = _ATTR.unpack(t.mem.read(new_addr, _ATTR.size))
        if new[0] & ~abi.O_NONBLOCK:
            raise err(errno.EINVAL)
    d = _desc(t, fd)
    mq = d.mq
    old = _ATTR.pack(d.flags & abi.O_NONBLOCK, mq.maxmsg, mq.msgsize, len(mq.msgs))
    if new is not None:
        d.flags = (d.flags & ~abi.O_NONBLOCK) | (new[0] & abi.O_NONBLOCK)
    if old_addr:
        t.mem.write(old_addr, old)
    return 0
