"""POSIX message queues (``ipc/mqueue.c``, mq_overview(7)): the queue and its descriptions.

A :class:`MessageQueue` is named in the sandbox's IPC namespace
(:attr:`sentry.kernel.ipc.IPCNamespace.mqueues`) until ``mq_unlink``; each ``mq_open``
makes a :class:`MQueueDescription` (an fd) on it.  Messages come out highest priority
first, in order within a priority.  Readiness: ``IN`` while a message is queued, ``OUT``
while there is room.  ``read`` gives Linux's one status line (``QSIZE:`` …).
"""

from __future__ import annotations

import bisect
import errno
import itertools
import weakref

from sentry.abi.linux.errors import err
from sentry.fsimpl.anon.anon import AnonFileDescription
from sentry.kernel.memacct import ACCOUNT
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT, WaitQueue
from sentry.records import replace
from sentry.vfs import abi
from sentry.vfs.inode import Stat

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD = 0, 1, 2
#: Every queue inode's size (``ipc/mqueue.c``).
FILENT_SIZE = 80

_order = itertools.count()
#: What a queued message costs the memory account beside its bytes.
MSG_COST = 128
#: What a queue costs it beside its name (root, with CAP_SYS_RESOURCE, has no
#: fs.mqueue.queues_max).
QUEUE_COST = 1024


def _give_back(charged: List[int]) -> None:
    ACCOUNT.uncharge(charged[0])


class MessageQueue:
    """One queue: attributes, owner and mode, messages, the registered notification."""

    def __init__(self, name: bytes, uid: int, gid: int, mode: int, maxmsg: int,
                 msgsize: int) -> None:
        self.name = name
        self.uid, self.gid, self.mode = uid, gid, mode
        self.maxmsg, self.msgsize = maxmsg, msgsize
        # (-priority, arrival, data): a sorted list, the next message first.
        self.msgs: List[Tuple[int, int, bytes]] = []
        self.qsize = 0
        self.queue = WaitQueue()
        # Threads parked in mq_timedreceive (a notification is for nobody waiting).
        self.receivers: "weakref.WeakSet[Any]" = weakref.WeakSet()
        # mq_notify: (owner thread group, sigev_notify, signo, sigev_value, the
        # description it registered through) or None.
        self.notify: Optional[Tuple[Any, int, int, int, Any]] = None
        # What its messages cost the memory account, given back when the queue goes.
        self._charged = [0]
        weakref.finalize(self, _give_back, self._charged)

    def add_charge(self, n: int) -> None:
        """Count *n* bytes the caller charged as the queue's, given back when it goes."""
        self._charged[0] += n

    def full(self) -> bool:
        return len(self.msgs) >= self.maxmsg

    def put(self, data: bytes, prio: int) -> bool:
        """Queue *data*; False if the sandbox's memory account cannot take it."""
        if not ACCOUNT.charge(len(data) + MSG_COST):
            return False
        self._charged[0] += len(data) + MSG_COST
        bisect.insort(self.msgs, (-prio, next(_order), data))
        self.qsize += len(data)
        self.queue.notify(EVENT_IN)
        return True

    def take(self) -> Tuple[bytes, int]:
        negprio, _n, data = self.msgs.pop(0)
        self.qsize -= len(data)
        self._charged[0] -= len(data) + MSG_COST
        ACCOUNT.uncharge(len(data) + MSG_COST)
        self.queue.notify(EVENT_OUT)
        return data, -negprio


class MQueueDescription(AnonFileDescription):
    """An open message queue (``mqd_t``)."""

    read_iter = write_iter = False
    can_write = False

    positional = True  # (mq_open's dentry_open: pread reads the status line at an offset)

    def __init__(self, mq: MessageQueue, flags: int) -> None:
        super().__init__(b"[mqueue]", flags)
        self.flags = (self.flags & ~abi.O_ACCMODE) | (flags & abi.O_ACCMODE)
        self.mq = mq
        self.anon_name = b"/" + mq.name

    def stat(self, t: Any) -> Stat:
        """The queue's inode as Linux's ``mqueue_get_inode`` makes it: a regular file
        with the queue's mode and owner, ``FILENT_SIZE`` (80) bytes long."""
        mq = self.mq
        return replace(super().stat(t), mode=abi.S_IFREG | mq.mode, uid=mq.uid, gid=mq.gid,
                       size=FILENT_SIZE)

    def wait_queue(self) -> WaitQueue:
        return self.mq.queue

    def readiness(self, mask: int) -> int:
        r = 0
        if self.mq.msgs:
            r |= EVENT_IN
        if not self.mq.full():
            r |= EVENT_OUT
        return r & mask

    def read(self, t: Any, n: int) -> bytes:
        """The status line, as Linux's ``mqueue_read_file`` (from the file position)."""
        out = self.pread(t, n, self._offset)
        self._offset += len(out)
        return out

    def pread(self, t: Any, n: int, off: int) -> bytes:
        mq = self.mq
        notify, signo, pid = 0, 0, 0
        if mq.notify is not None:
            owner, notify, sig, _v, _d = mq.notify
            signo = sig if notify == SIGEV_SIGNAL else 0
            pid = owner.tgid
        text = b"QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n" % (
            mq.qsize, notify, signo, pid)
        return text[off:off + n]

    def write(self, t: Any, data: bytes) -> int:
        raise err(errno.EINVAL)  # (mqueue_file_operations has no write)

    def release(self) -> None:
        # mqueue_flush_file: the owner's registration goes when it closes the queue
        # (here: at the last close of the description it registered through).
        n = self.mq.notify
        if n is not None and n[4] is self:
            self.mq.notify = None
