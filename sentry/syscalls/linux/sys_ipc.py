"""System V IPC: semaphores, message queues, shared memory (:mod:`sentry.kernel.ipc`).

Blocking calls (``semop`` that cannot proceed, ``msgsnd`` to a full queue, ``msgrcv``
with nothing to take) park on the object's wait queue and run again from the start at
each change; their arguments are copied once, at the first run, and kept for the
retries.  A signal ends the wait with ``EINTR`` (System V IPC calls are never
restarted); a removal wakes the waiters with ``EIDRM``.

``shmat`` maps the segment's memfd with the host's ``mmap``: the handler lends the
memfd to the task at :data:`SHM_LEND_FD` (``SECCOMP_IOCTL_NOTIF_ADDFD``), asks for a
``PTRACE_EVENT_STOP`` and answers ``-ERESTARTNOINTR``; at that stop, on the thread's way
back to user mode, the sentry runs ``mmap`` and then ``close`` of the lent fd in the
thread at the stub's ``syscall`` instruction (the two calls the filter lets through from
there for that fd), and the thread leaves with the address.  ``shmdt`` runs ``munmap``
of the segment's mappings the same way.  Attachments are counted from the host's maps
(a mapping of the memfd is an attachment, as a vma is on Linux), so fork, exit, and a
plain ``munmap`` count as they do on Linux.
"""

from __future__ import annotations

import errno
import os
import struct
import time
import weakref

from sentry import logger
from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import ERESTARTNOINTR, LinuxError, WouldBlock, err
from sentry.kernel import ipc
from sentry.kernel.ipc import (
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT,
    PERM, S_IRUGO, S_IWUGO, S_IXUGO, SEMAEM, SEMVMX, SHM_DEST, SHM_LOCKED, IPCNamespace,
    MsgQueue, Perm, SemSet, ShmSegment,
)
from sentry.kernel.memacct import ACCOUNT
from sentry.loader.loader import SHM_LEND_FD
from sentry.kernel.waiter import EVENT_IN
from sentry.syscalls.linux.sys_poll import _deadline, _done, _timespec

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

log = logger.get("sentry")

U64 = (1 << 64) - 1
PAGE = 4096

# semctl commands
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL = 11, 12, 13, 14, 15, 16, 17
SEM_STAT, SEM_INFO, SEM_STAT_ANY = 18, 19, 20
SEM_UNDO = 0x1000
# msgctl / msgrcv
MSG_STAT, MSG_INFO, MSG_STAT_ANY = 11, 12, 13
MSG_NOERROR, MSG_EXCEPT, MSG_COPY = 0o10000, 0o20000, 0o40000
# shmctl / shmat
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO, SHM_STAT_ANY = 11, 12, 13, 14, 15
SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHM_HUGETLB = 0o4000
SHMLBA = PAGE
RLIMIT_MEMLOCK = 8

#: What a queued message costs the sandbox's memory account beside its bytes (the
#: sentry's tuple and object headers).
MSG_COST = 128

#: What a semaphore set costs the memory account beside 16 bytes a semaphore.
SEM_SET_COST = 512


_SEMBUF = struct.Struct("<HhH")  # sem_num, sem_op, sem_flg
_SEMID_DS = struct.Struct("<48sqQqQQQQ")
_MSQID_DS = struct.Struct("<48sqqqQQQiiQQ")
_SHMID_DS = struct.Struct("<48sQqqqiiQQQ")
_SEMINFO = struct.Struct("<10i")
_MSGINFO = struct.Struct("<7iHxx")
_SHMINFO = struct.Struct("<9Q")
_SHM_INFO = struct.Struct("<i4x5Q")

#: task → (the SyscallArgs of its parked call, what its first run copied in).
_PENDING: "weakref.WeakKeyDictionary[Any, Tuple[Any, Any]]" = weakref.WeakKeyDictionary()


def _ns(t: "Task") -> IPCNamespace:
    return ipc.namespace(t.kernel)


def _pending(t: "Task", a: "SyscallArgs") -> Any:
    prev = _PENDING.get(t)
    if prev is not None and prev[0] is a and a.attempt > 0:
        return prev[1]
    return None


def _finish(t: "Task") -> None:
    _PENDING.pop(t, None)
    _done(t)


def _get(t: "Task", reg: ipc.Registry, key: int, flg: int,
         make: Any, check: Any) -> int:
    """``ipcget``: the id for *key*, made by ``make()`` or checked by ``check(obj)``."""
    if key == IPC_PRIVATE:
        return int(make().perm.id)
    obj = reg.by_key.get(key)
    if obj is None:
        if not flg & IPC_CREAT:
            raise err(errno.ENOENT)
        return int(make().perm.id)
    if flg & IPC_CREAT and flg & IPC_EXCL:
        raise err(errno.EEXIST)
    check(obj)
    if not ipc.ipcperms(t, obj.perm, flg):
        raise err(errno.EACCES)
    return int(obj.perm.id)


def _lookup(reg: ipc.Registry, cmd: int, ident: int, stat_cmds: Tuple[int, int]) -> Any:
    """The object a ``*ctl`` names: an index for the ``*_STAT`` commands, else an id."""
    return reg.at(ident) if cmd in stat_cmds else reg.find(ident)


def _read_perm_set(t: "Task", buf: int) -> Tuple[int, int, int]:
    """uid, gid, mode of the ``struct ipc64_perm`` at *buf* (``IPC_SET``)."""
    f = PERM.unpack(t.mem.read(buf, PERM.size))
    return f[1], f[2], f[5]


def _check_set(t: "Task", p: Perm) -> None:
    if not ipc.owner_or_admin(t, p):
        raise err(errno.EPERM)


def _stat_access(t: "Task", p: Perm, cmd: int, any_cmd: int) -> None:
    if cmd != any_cmd and not ipc.ipcperms(t, p, S_IRUGO):
        raise err(errno.EACCES)


# -- semaphores ------------------------------------------------------------------


def semget(t: "Task", a: "SyscallArgs") -> int:
    """semget(2)."""
    key, nsems, flg = a.int(0), a.int(1), a.int(2)
    ns = _ns(t)
    semmsl, semmns, _opm, semmni = ns.sem_limits()
    if nsems < 0 or nsems > semmsl:
        raise err(errno.EINVAL)

    def make() -> SemSet:
        if nsems == 0:
            raise err(errno.EINVAL)
        used = sum(len(s.vals) for s in ns.sems.by_index.values())
        if used + nsems > semmns:
            raise err(errno.ENOSPC)
        # The sentry's two lists of nsems slots and the set itself (sem_array and its
        # sems are kernel memory the memory cgroup charges on Linux).
        cost = SEM_SET_COST + 16 * nsems
        if not ACCOUNT.charge(cost):
            raise err(errno.ENOMEM)
        s = SemSet(Perm(key, t, flg), nsems)
        try:
            ns.sems.add(s, semmni)
        except LinuxError:
            ACCOUNT.uncharge(cost)
            raise
        return s

    def check(s: SemSet) -> None:
        if nsems > len(s.vals):
            raise err(errno.EINVAL)

    return _get(t, ns.sems, key, flg, make, check)


def semop(t: "Task", a: "SyscallArgs") -> int:
    """semop(2)."""
    return _semtimedop(t, a, 0)


def semtimedop(t: "Task", a: "SyscallArgs") -> int:
    """semtimedop(2)."""
    return _semtimedop(t, a, a[3])


def _semtimedop(t: "Task", a: "SyscallArgs", ts: int) -> int:
    ns = _ns(t)
    semid, sops_addr, nsops = a.int(0), a[1], a.uint(2)
    kept = _pending(t, a)
    if kept is None:
        if nsops < 1 or semid < 0:
            raise err(errno.EINVAL)
        if nsops > ns.sem_limits()[2]:
            raise err(errno.E2BIG)
        raw = t.mem.read(sops_addr, nsops * _SEMBUF.size)
        sops = [_SEMBUF.unpack_from(raw, i * _SEMBUF.size) for i in range(nsops)]
        timeout = _timespec(t, ts) if ts else None
        s: SemSet = ns.sems.find(semid)
        if max(op[0] for op in sops) >= len(s.vals):
            raise err(errno.EFBIG)
        alter = any(op[1] for op in sops)
        if not ipc.ipcperms(t, s.perm, S_IWUGO if alter else S_IRUGO):
            raise err(errno.EACCES)
        kept = (sops, timeout, s)
        _PENDING[t] = (a, kept)
    sops, timeout, s = kept
    dl = _deadline(t, a, timeout)
    s.waiters.pop(t, None)
    if s.perm.removed:
        _finish(t)
        raise err(errno.EIDRM)
    undo = ns.undo.get(t.tg, {}) if any(op[2] & SEM_UNDO for op in sops) else {}
    vals = list(s.vals)
    adj: Dict[int, int] = {}
    blocked: Optional[Tuple[int, bool]] = None
    for num, op, flg in sops:
        v = vals[num]
        if op == 0:
            if v:
                blocked = (num, True)
        elif v + op < 0:
            blocked = (num, False)
        elif v + op > SEMVMX:
            _finish(t)
            raise err(errno.ERANGE)
        if blocked is not None:
            if flg & IPC_NOWAIT:
                _finish(t)
                raise err(errno.EAGAIN)
            break
        if op and flg & SEM_UNDO:
            nadj = adj.get(num, undo.get((semid, num), 0)) - op
            if not -SEMAEM - 1 <= nadj <= SEMAEM:
                _finish(t)
                raise err(errno.ERANGE)
            adj[num] = nadj
        vals[num] = v + op
    if blocked is None:
        s.vals = vals
        for num, _op, _f in sops:
            s.pids[num] = t.tgid
        s.otime = int(time.time())
        if adj:
            if t.tg not in ns.undo:
                tg = t.tg

                def at_exit(_status: int) -> None:
                    ns.exit_sem(tg)

                tg.on_exit.append(at_exit)
            u = ns.undo.setdefault(t.tg, {})
            for num, v in adj.items():
                u[(semid, num)] = v
        _finish(t)
        if any(op[1] for op in sops):
            s.queue.notify(EVENT_IN)
        return 0
    if a.timed_out:
        _finish(t)
        raise err(errno.EAGAIN)
    s.waiters[t] = blocked

    def interrupted() -> None:
        s.waiters.pop(t, None)
        _finish(t)

    raise WouldBlock([(s.queue, EVENT_IN)], deadline=dl, restart=errno.EINTR,
                     on_interrupt=interrupted)


def _semds(s: SemSet) -> bytes:
    return _SEMID_DS.pack(s.perm.pack(), s.otime, 0, s.perm.ctime, 0, len(s.vals), 0, 0)


def semctl(t: "Task", a: "SyscallArgs") -> int:
    """semctl(2)."""
    ns = _ns(t)
    semid, semnum, cmd, arg = a.int(0), a.int(1), a.int(2), a[3]
    if cmd in (IPC_INFO, SEM_INFO):
        semmsl, semmns, semopm, semmni = ns.sem_limits()
        used = ns.sems.by_index.values()
        info = [semmni, 1024000000, semmns, semmns, semmsl, semopm, semopm, 20, SEMVMX, SEMAEM]
        if cmd == SEM_INFO:
            info[7] = len(used)   # semusz: sets
            info[9] = sum(len(x.vals) for x in used)  # semaem: semaphores
        t.mem.write(arg, _SEMINFO.pack(*info))
        return max(ns.sems.max_index(), 0)
    if semid < 0:
        raise err(errno.EINVAL)
    s: SemSet = _lookup(ns.sems, cmd, semid, (SEM_STAT, SEM_STAT_ANY))
    p = s.perm
    if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
        _stat_access(t, p, cmd, SEM_STAT_ANY)
        t.mem.write(arg, _semds(s))
        return int(p.id) if cmd != IPC_STAT else 0
    if cmd == IPC_RMID:
        _check_set(t, p)
        ns.sems.remove(s)
        ACCOUNT.uncharge(SEM_SET_COST + 16 * len(s.vals))
        ns.clear_undo(p.id, None)
        s.queue.notify(EVENT_IN)
        return 0
    if cmd == IPC_SET:
        uid, gid, mode = _read_perm_set(t, arg)
        _check_set(t, p)
        ipc.set_perm(p, uid, gid, mode)
        p.ctime = int(time.time())
        return 0
    if cmd in (GETVAL, GETPID, GETNCNT, GETZCNT):
        if not ipc.ipcperms(t, p, S_IRUGO):
            raise err(errno.EACCES)
        if not 0 <= semnum < len(s.vals):
            raise err(errno.EINVAL)
        if cmd == GETVAL:
            return s.vals[semnum]
        if cmd == GETPID:
            return s.pids[semnum]
        return s.count(semnum, cmd == GETZCNT)
    if cmd == GETALL:
        if not ipc.ipcperms(t, p, S_IRUGO):
            raise err(errno.EACCES)
        t.mem.write(arg, struct.pack(f"<{len(s.vals)}H", *s.vals))
        return 0
    if cmd == SETVAL:
        if not 0 <= semnum < len(s.vals):
            raise err(errno.EINVAL)
        val = a.int(3)
        if not 0 <= val <= SEMVMX:
            raise err(errno.ERANGE)
        if not ipc.ipcperms(t, p, S_IWUGO):
            raise err(errno.EACCES)
        s.vals[semnum] = val
        s.pids[semnum] = t.tgid
        ns.clear_undo(p.id, semnum)
        p.ctime = int(time.time())
        s.queue.notify(EVENT_IN)
        return 0
    if cmd == SETALL:
        if not ipc.ipcperms(t, p, S_IWUGO):
            raise err(errno.EACCES)
        vals = list(struct.unpack(f"<{len(s.vals)}H", t.mem.read(arg, 2 * len(s.vals))))
        if any(v > SEMVMX for v in vals):
            raise err(errno.ERANGE)
        s.vals = vals
        s.pids = [t.tgid] * len(vals)
        ns.clear_undo(p.id, None)
        p.ctime = int(time.time())
        s.queue.notify(EVENT_IN)
        return 0
    raise err(errno.EINVAL)


# -- message queues -----------------------------------------------------------------


def _msg_limits(ns: IPCNamespace) -> Tuple[int, int, int]:
    """msgmax, msgmnb, msgmni."""
    return (ns.sysctl("kernel.msgmax", "8192")[0], ns.sysctl("kernel.msgmnb", "16384")[0],
            ns.sysctl("kernel.msgmni", "32000")[0])


def msgget(t: "Task", a: "SyscallArgs") -> int:
    """msgget(2)."""
    key, flg = a.int(0), a.int(1)
    ns = _ns(t)
    _max, mnb, mni = _msg_limits(ns)

    def make() -> MsgQueue:
        q = MsgQueue(Perm(key, t, flg), mnb)
        ns.msgs.add(q, mni)
        return q

    return _get(t, ns.msgs, key, flg, make, lambda q: None)


def msgsnd(t: "Task", a: "SyscallArgs") -> int:
    """msgsnd(2)."""
    ns = _ns(t)
    msqid, msgp, msgsz, flg = a.int(0), a[1], a.long(2), a.int(3)
    kept = _pending(t, a)
    if kept is None:
        msgmax = _msg_limits(ns)[0]
        if msgsz > msgmax or msgsz < 0 or msqid < 0:
            raise err(errno.EINVAL)
        mtype = struct.unpack("<q", t.mem.read(msgp, 8))[0]
        if mtype < 1:
            raise err(errno.EINVAL)
        if not ACCOUNT.room(msgsz + MSG_COST):
            raise err(errno.ENOMEM)  # before the copy: the sentry would hold it
        text = t.mem.read(msgp + 8, msgsz) if msgsz else b""
        q: MsgQueue = ns.msgs.find(msqid)
        if not ipc.ipcperms(t, q.perm, S_IWUGO):
            raise err(errno.EACCES)
        kept = (mtype, text, q)
        _PENDING[t] = (a, kept)
    mtype, text, q = kept
    if q.perm.removed:
        _finish(t)
        raise err(errno.EIDRM)
    if q.cbytes + len(text) > q.qbytes or len(q.msgs) + 1 > q.qbytes:
        if flg & IPC_NOWAIT:
            _finish(t)
            raise err(errno.EAGAIN)
        raise WouldBlock([(q.queue, EVENT_IN)], restart=errno.EINTR,
                         on_interrupt=lambda: _finish(t))
    if not ACCOUNT.charge(len(text) + MSG_COST):
        _finish(t)
        raise err(errno.ENOMEM)
    q.msgs.append((mtype, text))
    q.cbytes += len(text)
    q.lspid = t.tgid
    q.stime = int(time.time())
    _finish(t)
    q.queue.notify(EVENT_IN)
    return 0


def _pick(q: MsgQueue, msgtyp: int, flg: int) -> int:
    """The index of the message ``msgrcv`` takes, or -1."""
    if msgtyp == 0:
        return 0 if q.msgs else -1
    if msgtyp > 0:
        for i, (mt, _x) in enumerate(q.msgs):
            if (mt != msgtyp) if flg & MSG_EXCEPT else (mt == msgtyp):
                return i
        return -1
    best, best_type = -1, -msgtyp + 1
    for i, (mt, _x) in enumerate(q.msgs):
        if mt < best_type:
            best, best_type = i, mt
    return best


def msgrcv(t: "Task", a: "SyscallArgs") -> int:
    """msgrcv(2)."""
    ns = _ns(t)
    msqid, msgp, msgsz, msgtyp, flg = a.int(0), a[1], a.long(2), a.long(3), a.int(4)
    kept = _pending(t, a)
    if kept is None:
        if msqid < 0 or msgsz < 0:
            raise err(errno.EINVAL)
        if flg & MSG_COPY:
            return _msgrcv_copy(t, ns, msqid, msgp, msgsz, msgtyp, flg)
        q: MsgQueue = ns.msgs.find(msqid)
        if not ipc.ipcperms(t, q.perm, S_IRUGO):
            raise err(errno.EACCES)
        kept = q
        _PENDING[t] = (a, kept)
    q = kept
    if q.perm.removed:
        _finish(t)
        raise err(errno.EIDRM)
    i = _pick(q, msgtyp, flg)
    if i < 0:
        if flg & IPC_NOWAIT:
            _finish(t)
            raise err(errno.ENOMSG)
        raise WouldBlock([(q.queue, EVENT_IN)], restart=errno.EINTR,
                         on_interrupt=lambda: _finish(t))
    mtype, text = q.msgs[i]
    if len(text) > msgsz and not flg & MSG_NOERROR:
        _finish(t)
        raise err(errno.E2BIG)
    n = min(len(text), msgsz)
    try:
        t.mem.write(msgp, struct.pack("<q", mtype) + text[:n])
    except LinuxError:
        _finish(t)
        raise
    del q.msgs[i]
    q.cbytes -= len(text)
    ACCOUNT.uncharge(len(text) + MSG_COST)
    q.lrpid = t.tgid
    q.rtime = int(time.time())
    _finish(t)
    q.queue.notify(EVENT_IN)
    return n


#: How much of a MSG_COPY buffer is read at a time to see that it is readable.
_PROBE = 4096


def _msgrcv_copy(t: "Task", ns: Any, msqid: int, msgp: int, msgsz: int, index: int,
                 flg: int) -> int:
    """msgrcv(2) with ``MSG_COPY`` (CRIU's; Linux with ``CONFIG_CHECKPOINT_RESTORE``, as
    Debian's): a copy of the message at *index* of the queue (0 the oldest), which stays
    there, with the queue's times and pids as they were.  Only with ``IPC_NOWAIT`` and
    without ``MSG_EXCEPT`` (``EINVAL``); no message at *index*: ``ENOMSG``.  As
    ``do_msgrcv``: the buffer is read first (``prepare_copy`` loads *msgsz* bytes, at
    most ``msgmax``, from it: ``EFAULT``; ``ENOMEM`` past the memory account, as its
    allocation), and a message longer than that copy is
    ``EINVAL`` (``copy_msg``), which ``MSG_NOERROR`` with a short buffer meets after
    ``E2BIG`` is waived."""
    if flg & MSG_EXCEPT or not flg & IPC_NOWAIT:
        raise err(errno.EINVAL)
    room = min(msgsz, _msg_limits(ns)[0])
    if not ACCOUNT.room(room + MSG_COST):
        raise err(errno.ENOMEM)  # (Linux's copy is an allocation of that size)
    for off in range(0, room, _PROBE):  # readable? a page at a time, none of it kept
        t.mem.read(msgp + off, min(_PROBE, room - off))
    q: MsgQueue = ns.msgs.find(msqid)
    if not ipc.ipcperms(t, q.perm, S_IRUGO):
        raise err(errno.EACCES)
    if q.perm.removed:
        raise err(errno.EIDRM)
    if not 0 <= index < len(q.msgs):
        raise err(errno.ENOMSG)
    mtype, text = q.msgs[index]
    if len(text) > msgsz and not flg & MSG_NOERROR:
        raise err(errno.E2BIG)
    if len(text) > room:
        raise err(errno.EINVAL)
    t.mem.write(msgp, struct.pack("<q", mtype) + text)
    return len(text)


def msgctl(t: "Task", a: "SyscallArgs") -> int:
    """msgctl(2)."""
    ns = _ns(t)
    msqid, cmd, buf = a.int(0), a.int(1), a[2]
    if cmd in (IPC_INFO, MSG_INFO):
        msgmax, mnb, mni = _msg_limits(ns)
        info = [mnb // 1024 * mni, mni, msgmax, mnb, mni, 16, mnb // 1024 * mni, 0xFFFF]
        if cmd == MSG_INFO:
            qs = ns.msgs.by_index.values()
            info[0] = len(qs)                           # msgpool: queues in use
            info[1] = sum(len(q.msgs) for q in qs)      # msgmap: messages
            info[6] = sum(q.cbytes for q in qs)         # msgtql: bytes
        t.mem.write(buf, _MSGINFO.pack(*info))
        return max(ns.msgs.max_index(), 0)
    if msqid < 0:
        raise err(errno.EINVAL)
    q: MsgQueue = _lookup(ns.msgs, cmd, msqid, (MSG_STAT, MSG_STAT_ANY))
    p = q.perm
    if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
        _stat_access(t, p, cmd, MSG_STAT_ANY)
        t.mem.write(buf, _MSQID_DS.pack(p.pack(), q.stime, q.rtime, p.ctime, q.cbytes,
                                        len(q.msgs), q.qbytes, q.lspid, q.lrpid, 0, 0))
        return int(p.id) if cmd != IPC_STAT else 0
    if cmd == IPC_RMID:
        _check_set(t, p)
        ns.msgs.remove(q)
        ACCOUNT.uncharge(q.cbytes + MSG_COST * len(q.msgs))
        q.msgs.clear()
        q.cbytes = 0
        q.queue.notify(EVENT_IN)
        return 0
    if cmd == IPC_SET:
        raw = _MSQID_DS.unpack(t.mem.read(buf, _MSQID_DS.size))
        perm = PERM.unpack(raw[0])
        uid, gid, mode, qbytes = perm[1], perm[2], perm[5], raw[6]
        _check_set(t, p)
        if qbytes > _msg_limits(ns)[1] and not t.creds.capable(cap.CAP_SYS_RESOURCE):
            raise err(errno.EPERM)
        ipc.set_perm(p, uid, gid, mode)
        q.qbytes = qbytes
        p.ctime = int(time.time())
        q.queue.notify(EVENT_IN)
        return 0
    raise err(errno.EINVAL)


# -- shared memory -------------------------------------------------------------------


def _shm_limits(ns: IPCNamespace) -> Tuple[int, int, int]:
    """shmmax, shmall, shmmni."""
    return (ns.sysctl("kernel.shmmax", str(U64 - (1 << 24)))[0],
            ns.sysctl("kernel.shmall", str(U64 - (1 << 24)))[0],
            ns.sysctl("kernel.shmmni", "4096")[0])


def shmget(t: "Task", a: "SyscallArgs") -> int:
    """shmget(2); ``SHM_HUGETLB`` is refused (``EINVAL``: no huge pages here)."""
    key, size, flg = a.int(0), a[1], a.int(2)
    ns = _ns(t)
    ns.reap_segments()
    shmmax, shmall, shmmni = _shm_limits(ns)

    def make() -> ShmSegment:
        if size < 1 or size > shmmax:
            raise err(errno.EINVAL)
        if flg & SHM_HUGETLB:
            t.kernel.note_unsupported(t, "shmget", "SHM_HUGETLB")
            raise err(errno.EINVAL)
        pages = (size + PAGE - 1) // PAGE
        if ns.shm_total_pages() + pages > shmall:
            raise err(errno.ENOSPC)
        if pages * PAGE > (1 << 63) - 1:
            raise err(errno.EINVAL)  # shmem_file_setup: past MAX_LFS_FILESIZE
        if len(ns.shms.by_index) >= min(shmmni, ipc.SEQ_MULTIPLIER):
            raise err(errno.ENOSPC)
        try:
            fd = os.memfd_create(f"SYSV{key & 0xFFFFFFFF:08x}", os.MFD_CLOEXEC)
        except OSError:
            raise err(errno.ENOMEM) from None
        try:
            os.ftruncate(fd, pages * PAGE)
        except (OSError, OverflowError):
            os.close(fd)
            raise err(errno.ENOMEM) from None
        seg = ShmSegment(Perm(key, t, flg), size, fd, t.tgid)
        ns.shms.add(seg, shmmni)
        return seg

    def check(seg: ShmSegment) -> None:
        if size > seg.size:
            raise err(errno.EINVAL)

    return _get(t, ns.shms, key, flg, make, check)


def _nattch(ns: IPCNamespace, seg: ShmSegment) -> int:
    return ns.attach_counts().get(seg.host_key, 0)


def shmctl(t: "Task", a: "SyscallArgs") -> int:
    """shmctl(2)."""
    ns = _ns(t)
    ns.reap_segments()
    shmid, cmd, buf = a.int(0), a.int(1), a[2]
    if cmd == IPC_INFO:
        shmmax, shmall, shmmni = _shm_limits(ns)
        t.mem.write(buf, _SHMINFO.pack(shmmax, 1, shmmni, 4096, shmall, 0, 0, 0, 0))
        return max(ns.shms.max_index(), 0)
    if cmd == SHM_INFO:
        segs = list(ns.shms.by_index.values())
        tot = sum(s.pages for s in segs)
        rss = sum(os.fstat(s.memfd).st_blocks * 512 // PAGE for s in segs)
        t.mem.write(buf, _SHM_INFO.pack(len(segs), tot, rss, 0, 0, 0))
        return max(ns.shms.max_index(), 0)
    if shmid < 0:
        raise err(errno.EINVAL)
    seg: ShmSegment = _lookup(ns.shms, cmd, shmid, (SHM_STAT, SHM_STAT_ANY))
    p = seg.perm
    if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
        _stat_access(t, p, cmd, SHM_STAT_ANY)
        t.mem.write(buf, _SHMID_DS.pack(p.pack(), seg.size, seg.atime, seg.dtime, p.ctime,
                                        seg.cpid, seg.lpid, _nattch(ns, seg), 0, 0))
        return int(p.id) if cmd != IPC_STAT else 0
    if cmd == IPC_RMID:
        _check_set(t, p)
        p.mode |= SHM_DEST
        ns.shms.forget_key(seg)
        ns.reap_segments()
        return 0
    if cmd == IPC_SET:
        uid, gid, mode = _read_perm_set(t, buf)
        _check_set(t, p)
        ipc.set_perm(p, uid, gid, mode)
        p.ctime = int(time.time())
        return 0
    if cmd in (SHM_LOCK, SHM_UNLOCK):
        if not t.creds.capable(cap.CAP_IPC_LOCK):
            if t.creds.euid not in (p.uid, p.cuid):
                raise err(errno.EPERM)
            if cmd == SHM_LOCK and t.tg.rlimits.get(RLIMIT_MEMLOCK, (1, 1))[0] == 0:
                raise err(errno.EPERM)
        if cmd == SHM_LOCK:
            p.mode |= SHM_LOCKED
        else:
            p.mode &= ~SHM_LOCKED
        return 0
    raise err(errno.EINVAL)


class _Attach:
    """What a shmat's stop does: map *length* bytes of the lent fd at *addr*."""

    __slots__ = ("nr", "addr", "length", "prot", "flags", "seg")

    def __init__(self, nr: int, addr: int, length: int, prot: int, flags: int,
                 seg: ShmSegment) -> None:
        self.nr, self.addr, self.length, self.prot, self.flags, self.seg = (
            nr, addr, length, prot, flags, seg)


PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_FIXED, MAP_FIXED_NOREPLACE = 0x01, 0x10, 0x100000
SYS_MMAP, SYS_CLOSE, SYS_MUNMAP, SYS_SHMAT = 9, 3, 11, 30


def shmat(t: "Task", a: "SyscallArgs") -> int:
    """shmat(2): the segment's memfd mapped by the host at a stop of the thread."""

    ns = _ns(t)
    shmid, addr, flg = a.int(0), a[1], a.int(2)
    if shmid < 0:
        raise err(errno.EINVAL)
    flags = MAP_SHARED
    if addr:
        if addr & (SHMLBA - 1):
            if not flg & SHM_RND:
                raise err(errno.EINVAL)
            addr &= ~(SHMLBA - 1)
            if addr == 0 and flg & SHM_REMAP:
                raise err(errno.EINVAL)
        flags |= MAP_FIXED if flg & SHM_REMAP else MAP_FIXED_NOREPLACE
    elif flg & SHM_REMAP:
        raise err(errno.EINVAL)
    if flg & SHM_RDONLY:
        prot, acc = PROT_READ, S_IRUGO
    else:
        prot, acc = PROT_READ | PROT_WRITE, S_IRUGO | S_IWUGO
    if flg & SHM_EXEC:
        prot |= PROT_EXEC
        acc |= S_IXUGO
    seg: ShmSegment = ns.shms.find(shmid)
    if not ipc.ipcperms(t, seg.perm, acc):
        raise err(errno.EACCES)
    lend_for_stop(t, a, seg.memfd if prot & PROT_WRITE else _ro_fd(t, seg))
    req = _Attach(a.nr, addr, seg.pages * PAGE, prot, flags, seg)
    _reap_at_exit(ns, t.tg)
    t.stop_hook = lambda task: _attach_stop(task, req)
    raise LinuxError(ERESTARTNOINTR)


def lend_for_stop(t: "Task", a: "SyscallArgs", fd: int) -> None:
    """Lend the sentry's *fd* to the thread of call *a* at :data:`SHM_LEND_FD` and ask for
    the stop at which it maps it (``shmat``; ``io_setup``, :mod:`sys_aio`; an io_uring
    ring mapped from elsewhere in its memfd, :func:`sys_mm.mmap_file`); the caller sets
    ``t.stop_hook`` and answers ``ERESTARTNOINTR``, the hook ends with :func:`_attach_done`.

    :raises WouldBlock: another thread of the host fd table is lending (the number is the
        same for all: one lend at a time).
    :raises LinuxError: ``EMFILE``, ``ENOMEM``.
    """
    from sentry.platform.hybrid import native as N

    ns = _ns(t)
    holder = ns.attaching.get(t.fdtable)
    if holder is not None and holder is not t and not holder.exited:
        # (Also looked at again every 0.1 s: a holder that dies never notifies.)
        raise WouldBlock([(ns.attach_queue, EVENT_IN)], deadline=time.monotonic() + 0.1,
                         restart=ERESTARTNOINTR)
    try:
        N.addfd(t.tg.listener, a.notif_id, fd, SHM_LEND_FD)
    except OSError as e:
        raise err(errno.EMFILE if e.errno == errno.EBADF else (e.errno or errno.ENOMEM)) from None
    if N.interrupt(t.host_tid) != 0:
        raise err(errno.ENOMEM)
    ns.attaching[t.fdtable] = t


#: Thread groups that destroy removed segments they were the last to map when they exit.
_REAPS: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _reap_at_exit(ns: IPCNamespace, tg: Any) -> None:
    """Have *tg*'s exit destroy a removed segment it held the last mapping of (Linux's
    ``shm_close`` at ``exit_mmap``); a forked child that inherited the mapping and exits
    last leaves it to the next shm call."""
    if tg in _REAPS:
        return
    _REAPS.add(tg)

    def at_exit(_status: int) -> None:
        ns.reap_segments()

    tg.on_exit.append(at_exit)


def _ro_fd(t: "Task", seg: ShmSegment) -> int:
    """The memfd re-opened read-only: a ``SHM_RDONLY`` mapping the host never lets
    become writable (``mprotect`` ``EACCES``, as Linux)."""
    if seg.ro_fd < 0:
        from sentry.fsimpl.tmpfs.regular_file import reopen_read_only

        seg.ro_fd = reopen_read_only(t, seg.memfd)
    return seg.ro_fd


def _in_stop(t: "Task", nr: int, run: Any, label: str = "") -> bool:
    """At the interrupt stop of call *nr*: block signals, ``run(regs)`` → the call's
    result, restore the mask, and resume the thread with that result (*label*: the
    call's name for strace; shmat's or shmdt's by default; io_setup's and io_destroy's
    stops are the same, :mod:`sentry.syscalls.linux.sys_aio`)."""
    from sentry.kernel.signal_dequeue import SIGINFO_SIZE, _restore_mask
    from sentry.platform.hybrid import native as N

    pid = t.host_tid
    try:
        regs = N.getregs(pid)
    except OSError:
        return True
    if regs[N.ORIG_RAX] != nr or regs[N.RAX] != (-ERESTARTNOINTR) & U64:
        return False  # another stop: the call restarts and is served again
    scratch = (regs[N.RSP] - 128 - 2 * SIGINFO_SIZE) & ~15
    try:
        own = N.getsigmask(pid)
        N.setsigmask(pid, U64)
        try:
            ret = run(regs)
        finally:
            _restore_mask(t, regs, own, scratch)
    except OSError:
        return True  # the thread died (or broke the stub and was killed)
    regs[N.RAX] = ret & U64
    N.setregs(pid, regs)
    k = t.kernel
    k.resume_after_stop(t)
    if k.cfg.strace:
        name = label or ("shmat" if nr == SYS_SHMAT else "shmdt")
        k.strace_raw(t, f"{name} at its stop: {ret:#x}" if ret >= 0 else f"{name} at its stop: {ret}")
    return True


def _attach_done(ns: IPCNamespace, t: "Task") -> None:
    if ns.attaching.get(t.fdtable) is t:
        del ns.attaching[t.fdtable]
        ns.attach_queue.notify(EVENT_IN)


def map_lent(t: "Task", regs: List[int], addr: int, length: int, prot: int, flags: int,
             off: int) -> int:
    """At the stop :func:`lend_for_stop` asked for: the thread maps the lent fd at *off*,
    then closes it; mmap's raw result."""
    from sentry.kernel.signal_dequeue import _call

    ret = int(_call(t, regs, SYS_MMAP, addr, length, prot, flags, SHM_LEND_FD, off))
    _call(t, regs, SYS_CLOSE, SHM_LEND_FD)
    return ret


def _attach_stop(t: "Task", req: _Attach) -> bool:
    def run(regs: List[int]) -> int:
        ret = map_lent(t, regs, req.addr, req.length, req.prot, req.flags, 0)
        if ret == -errno.EEXIST:
            return -errno.EINVAL  # the range is in use (find_vma_intersection)
        if ret >= 0 or ret < -4095:
            seg = req.seg
            seg.atime = int(time.time())
            seg.lpid = t.tgid
            mm = t.tg.mm
            if mm is not None and seg.memfd >= 0:
                mm.name_host_file(seg.memfd, f"/SYSV{seg.perm.key & 0xFFFFFFFF:08x} (deleted)")
        return ret

    try:
        return _in_stop(t, req.nr, run)
    finally:
        # Done, or not its stop (the call restarts and lends again).
        _attach_done(_ns(t), t)


def _segment_maps(t: "Task", ns: IPCNamespace) -> List[Tuple[int, int, int, Any]]:
    """(start, end, offset, segment) of each mapping of a segment in *t*'s process."""
    by_key = {s.host_key: s for s in ns.shms.by_index.values()}
    out = []
    try:
        text = t.kernel.host_file(f"{t.host_tid}/maps")
    except OSError:
        raise err(errno.EINVAL) from None
    for line in text.splitlines():
        f = line.split(None, 5)
        if len(f) < 5 or f[4] == b"0":
            continue
        try:
            maj, mnr = (int(x, 16) for x in f[3].split(b":"))
            seg = by_key.get((os.makedev(maj, mnr), int(f[4])))
        except ValueError:
            continue
        if seg is not None:
            lo, hi = (int(x, 16) for x in f[0].split(b"-"))
            out.append((lo, hi, int(f[2], 16), seg))
    return out


def shmdt(t: "Task", a: "SyscallArgs") -> int:
    """shmdt(2): every mapping of the segment attached at *addr* unmapped by the host."""
    from sentry.platform.hybrid import native as N

    ns = _ns(t)
    addr = a[0]
    if addr & (PAGE - 1):
        raise err(errno.EINVAL)
    maps = _segment_maps(t, ns)
    # do_shmdt: the first segment vma at or after addr with vm_start - offset == addr,
    # then every vma of that file within the segment's size from addr.
    seg = None
    for lo, _hi, off, s in maps:
        if lo >= addr and lo - off == addr:
            seg = s
            break
    if seg is None:
        raise err(errno.EINVAL)
    end = addr + seg.pages * PAGE
    ranges = [(lo, min(hi, end)) for lo, hi, off, s in maps
              if s is seg and lo >= addr and lo < end and lo - off == addr]
    if N.interrupt(t.host_tid) != 0:
        raise err(errno.ENOMEM)
    nr = a.nr
    t.stop_hook = lambda task: _detach_stop(task, nr, ranges, seg)
    raise LinuxError(ERESTARTNOINTR)


def _detach_stop(t: "Task", nr: int, ranges: List[Tuple[int, int]], seg: ShmSegment) -> bool:
    from sentry.kernel.signal_dequeue import _call

    def run(regs: List[int]) -> int:
        for lo, hi in ranges:
            _call(t, regs, SYS_MUNMAP, lo, hi - lo)
        seg.dtime = int(time.time())
        seg.lpid = t.tgid
        _ns(t).reap_segments()
        return 0

    return _in_stop(t, nr, run)
