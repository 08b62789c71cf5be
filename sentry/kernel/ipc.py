"""The sandbox's System V IPC namespace: semaphore sets, message queues, shared memory.

One namespace per sandbox (:func:`namespace`), kept by the sentry as gVisor's sentry
keeps it: the host's IPC objects are never used.  The rules are Linux's (``ipc/util.c``,
``ipc/sem.c``, ``ipc/msg.c``, ``ipc/shm.c``):

- ids are ``seq * 32768 + index`` (``ipc_buildid``), the index the lowest free one, the
  sequence number of each index bumped at every new object;
- a key other than ``IPC_PRIVATE`` names at most one object; ``IPC_RMID`` turns the key
  of an object that lives on (attached shared memory) into ``IPC_PRIVATE``;
- access is :func:`ipcperms`: the mode's owner bits for the creator or owner, group bits
  for either group, other bits otherwise, ``CAP_IPC_OWNER`` overriding;
- the limits are the namespace's sysctls (``kernel.sem``, ``kernel.msg*``,
  ``kernel.shm*``), read at each call as ``/proc/sys`` shows them.

Shared memory segments are memfds the sentry holds; attaching one maps that memfd into
the task (:mod:`sentry.syscalls.linux.sys_ipc`).  Everything here is plain sentry state,
changed only on the event-loop thread.
"""

from __future__ import annotations

import errno
import os
import struct
import time
import weakref

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.kernel.waiter import WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
SEQ_MULTIPLIER = 32768
S_IRUGO, S_IWUGO, S_IXUGO = 0o444, 0o222, 0o111
S_IRWXUGO = 0o777
#: Shared memory mode bits the kernel keeps beside the permissions.
SHM_DEST, SHM_LOCKED = 0o1000, 0o2000

#: ``struct ipc64_perm`` (x86_64): key, uid, gid, cuid, cgid, mode, seq, two unused longs.
PERM = struct.Struct("<iIIIIIHHxxxxQQ")
assert PERM.size == 48


class Perm:
    """``struct kern_ipc_perm``: who may do what with one object."""

    __slots__ = ("key", "uid", "gid", "cuid", "cgid", "mode", "seq", "id", "index",
                 "ctime", "removed")

    def __init__(self, key: int, t: "Task", mode: int) -> None:
        c = t.creds
        self.key = key
        self.uid = self.cuid = c.euid
        self.gid = self.cgid = c.egid
        self.mode = mode & S_IRWXUGO
        self.seq = 0
        self.id = -1
        self.index = -1
        self.ctime = int(time.time())
        self.removed = False

    def pack(self) -> bytes:
        return PERM.pack(self.key, self.uid, self.gid, self.cuid, self.cgid,
                         self.mode, self.seq & 0xFFFF, 0, 0, 0)


def ipcperms(t: "Task", p: Perm, flag: int) -> bool:
    """``ipcperms``: may *t* have the access of *flag*'s ``rwx`` bits (any of the three
    classes) to *p*?"""
    c = t.creds
    requested = (flag >> 6 | flag >> 3 | flag) & 7
    granted = p.mode
    if c.euid in (p.cuid, p.uid):
        granted >>= 6
    elif _in_group(t, p.cgid) or _in_group(t, p.gid):
        granted >>= 3
    return not (requested & ~granted & 7) or c.capable(cap.CAP_IPC_OWNER)


def _in_group(t: "Task", gid: int) -> bool:
    c = t.creds
    return gid == c.egid or gid in c.groups


def owner_or_admin(t: "Task", p: Perm) -> bool:
    """``ipcctl_obtain_check``: the creator, the owner, or ``CAP_SYS_ADMIN``
    (``IPC_SET``, ``IPC_RMID``)."""
    c = t.creds
    return c.euid in (p.cuid, p.uid) or c.capable(cap.CAP_SYS_ADMIN)


def set_perm(p: Perm, uid: int, gid: int, mode: int) -> None:
    """``ipc_update_perm`` (``IPC_SET``)."""
    p.uid, p.gid = uid, gid
    p.mode = (p.mode & ~S_IRWXUGO) | (mode & S_IRWXUGO)


class Registry:
    """``struct ipc_ids``: one kind of object by id and key."""

    def __init__(self) -> None:
        self.by_index: Dict[int, Any] = {}
        self.by_key: Dict[int, Any] = {}
        self.seq: Dict[int, int] = {}

    def add(self, obj: Any, limit: int) -> None:
        """Give *obj* (whose ``perm`` is set) the lowest free index and a new id.

        :raises LinuxError: ``ENOSPC``: *limit* objects already.
        """
        if len(self.by_index) >= min(limit, SEQ_MULTIPLIER):
            raise err(errno.ENOSPC)
        i = 0
        while i in self.by_index:
            i += 1
        seq = self.seq.get(i, -1) + 1
        if seq * SEQ_MULTIPLIER + i > 0x7FFFFFFF:
            seq = 0
        self.seq[i] = seq
        p = obj.perm
        p.index, p.seq, p.id = i, seq, seq * SEQ_MULTIPLIER + i
        self.by_index[i] = obj
        if p.key != IPC_PRIVATE:
            self.by_key[p.key] = obj

    def find(self, ident: int) -> Any:
        """The object of id *ident* (:raises LinuxError: ``EINVAL``)."""
        if ident < 0:
            raise err(errno.EINVAL)
        obj = self.by_index.get(ident % SEQ_MULTIPLIER)
        if obj is None or obj.perm.id != ident:
            raise err(errno.EINVAL)
        return obj

    def at(self, index: int) -> Any:
        """The object at *index* (``*_STAT``; :raises LinuxError: ``EINVAL``)."""
        obj = self.by_index.get(index) if 0 <= index < SEQ_MULTIPLIER else None
        if obj is None:
            raise err(errno.EINVAL)
        return obj

    def remove(self, obj: Any) -> None:
        p = obj.perm
        if self.by_index.get(p.index) is obj:
            del self.by_index[p.index]
        self.forget_key(obj)
        p.removed = True

    def forget_key(self, obj: Any) -> None:
        p = obj.perm
        if p.key != IPC_PRIVATE and self.by_key.get(p.key) is obj:
            del self.by_key[p.key]
        p.key = IPC_PRIVATE

    def max_index(self) -> int:
        return max(self.by_index, default=-1)


# -- semaphores ----------------------------------------------------------------

SEMVMX = 32767
SEMAEM = SEMVMX


class SemSet:
    """``struct sem_array``."""

    def __init__(self, perm: Perm, nsems: int) -> None:
        self.perm = perm
        self.vals: List[int] = [0] * nsems
        self.pids: List[int] = [0] * nsems
        self.otime = 0
        # Woken at every change of a value (and at removal): parked semops try again.
        self.queue = WaitQueue()
        # Parked semops: task → (semnum, waits for zero).
        self.waiters: "weakref.WeakKeyDictionary[Task, Tuple[int, bool]]" = (
            weakref.WeakKeyDictionary())

    def count(self, semnum: int, zero: bool) -> int:
        """``GETNCNT`` / ``GETZCNT``: threads parked on *semnum*."""
        return sum(1 for w, (n, z) in self.waiters.items()
                   if n == semnum and z == zero and not w.exited)


class MsgQueue:
    """``struct msg_queue``."""

    def __init__(self, perm: Perm, qbytes: int) -> None:
        self.perm = perm
        self.msgs: List[Tuple[int, bytes]] = []
        self.cbytes = 0
        self.qbytes = qbytes
        self.stime = self.rtime = 0
        self.lspid = self.lrpid = 0
        # Woken when a message comes or goes (parked senders and receivers try again).
        self.queue = WaitQueue()


class ShmSegment:
    """``struct shmid_kernel``: its pages are the memfd's."""

    def __init__(self, perm: Perm, size: int, memfd: int, cpid: int) -> None:
        self.perm = perm
        self.size = size
        self.memfd = memfd
        self.ro_fd = -1
        self.cpid = cpid
        self.lpid = 0
        self.atime = self.dtime = 0
        st = os.fstat(memfd)
        self.host_key = (st.st_dev, st.st_ino)

    @property
    def pages(self) -> int:
        return (self.size + 4095) // 4096

    def close(self) -> None:
        for fd in (self.memfd, self.ro_fd):
            if fd >= 0:
                os.close(fd)
        self.memfd = self.ro_fd = -1


class IPCNamespace:
    def __init__(self, kernel: "Kernel") -> None:
        self.kernel = kernel
        self.sems = Registry()
        self.msgs = Registry()
        self.shms = Registry()
        # shmat in flight: a host fd table (by the sandbox fd table sharing it) → the
        # thread whose segment is lent at SHM_LEND_FD until its stop maps it; others of
        # that table wait on attach_queue (sys_ipc.shmat).
        self.attaching: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
        self.attach_queue = WaitQueue()
        # POSIX message queues by name (sentry.fsimpl.mqueue).
        self.mqueues: Dict[bytes, Any] = {}
        # SEM_UNDO adjustments: thread group → {(semid, semnum): adjustment}.
        self.undo: Dict[Any, Dict[Tuple[int, int], int]] = {}

    def sysctl(self, key: str, default: str) -> List[int]:
        table = getattr(self.kernel, "sysctl", None) or {}
        return [int(x) for x in table.get(key, default).split()]

    # kernel.sem: SEMMSL SEMMNS SEMOPM SEMMNI
    def sem_limits(self) -> List[int]:
        return self.sysctl("kernel.sem", "32000 1024000000 500 32000")

    def shm_total_pages(self) -> int:
        return sum(s.pages for s in self.shms.by_index.values())

    # -- SEM_UNDO ------------------------------------------------------------

    def exit_sem(self, tg: Any) -> None:
        """``exit_sem``: apply a process's undo adjustments, each value kept within
        ``[0, SEMVMX]``."""
        adj = self.undo.pop(tg, None)
        if not adj:
            return
        touched = set()
        for (semid, semnum), v in adj.items():
            try:
                s = self.sems.find(semid)
            except Exception:
                continue
            if semnum >= len(s.vals) or not v:
                continue
            s.vals[semnum] = min(max(s.vals[semnum] + v, 0), SEMVMX)
            s.pids[semnum] = tg.tgid
            touched.add(s)
        for s in touched:
            s.queue.notify()

    def clear_undo(self, semid: int, semnum: Optional[int]) -> None:
        """``SETVAL``/``SETALL``/``IPC_RMID``: forget adjustments of *semnum* (None: all)."""
        for adj in self.undo.values():
            for k in [k for k in adj if k[0] == semid and (semnum is None or k[1] == semnum)]:
                del adj[k]

    # -- shared memory attachment counts ---------------------------------------

    def attach_counts(self) -> Dict[Tuple[int, int], int]:
        """Attachments of every segment, from the host's maps of every process
        (``shm_nattch``: one per mapping, as Linux counts one per vma)."""
        counts: Dict[Tuple[int, int], int] = {}
        keys = {s.host_key for s in self.shms.by_index.values()}
        if not keys:
            return counts
        for tg in list(self.kernel_thread_groups()):
            leader = next(iter(tg.tasks.values()), None)
            if leader is None:
                continue
            try:
                text = self.kernel.host_file(f"{leader.host_tid}/maps")
            except OSError:
                continue
            for line in text.splitlines():
                f = line.split(None, 5)
                if len(f) < 5 or f[4] == b"0":
                    continue
                try:
                    maj, mnr = (int(x, 16) for x in f[3].split(b":"))
                    k = (os.makedev(maj, mnr), int(f[4]))
                except ValueError:
                    continue
                if k in keys:
                    counts[k] = counts.get(k, 0) + 1
        return counts

    def kernel_thread_groups(self) -> List[Any]:
        seen: Dict[int, Any] = {}
        for t in list(getattr(self.kernel, "tasks", {}).values()):
            if not t.exited and t.tg.host_tgid not in seen:
                seen[t.tg.host_tgid] = t.tg
        return list(seen.values())

    def reap_segments(self) -> None:
        """Destroy removed segments (``SHM_DEST``) no process maps any more
        (``shm_destroy``); the host frees the pages with the last mapping."""
        dying = [s for s in self.shms.by_index.values() if s.perm.mode & SHM_DEST]
        if not dying:
            return
        counts = self.attach_counts()
        for s in dying:
            if not counts.get(s.host_key, 0):
                self.shms.remove(s)
                s.close()


def proc_shm(k: "Kernel") -> bytes:
    """``/proc/sysvipc/shm`` (``sysvipc_shm_proc_show``)."""
    ns = namespace(k)
    counts = ns.attach_counts()
    out = [b"       key      shmid perms                  size  cpid  lpid nattch   uid   gid  "
           b"cuid  cgid      atime      dtime      ctime                   rss                  "
           b"swap\n"]
    for _i, s in sorted(ns.shms.by_index.items()):
        p = s.perm
        try:
            rss = os.fstat(s.memfd).st_blocks * 512
        except OSError:
            rss = 0
        out.append(b"%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n" % (
            p.key, p.id, p.mode, s.size, s.cpid, s.lpid, counts.get(s.host_key, 0), p.uid,
            p.gid, p.cuid, p.cgid, s.atime, s.dtime, p.ctime, rss, 0))
    return b"".join(out)


def proc_sem(k: "Kernel") -> bytes:
    """``/proc/sysvipc/sem``."""
    out = [b"       key      semid perms      nsems   uid   gid  cuid  cgid      otime      "
           b"ctime\n"]
    for _i, s in sorted(namespace(k).sems.by_index.items()):
        p = s.perm
        out.append(b"%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n" % (
            p.key, p.id, p.mode, len(s.vals), p.uid, p.gid, p.cuid, p.cgid, s.otime, p.ctime))
    return b"".join(out)


def proc_msg(k: "Kernel") -> bytes:
    """``/proc/sysvipc/msg``."""
    out = [b"       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  "
           b"cgid      stime      rtime      ctime\n"]
    for _i, q in sorted(namespace(k).msgs.by_index.items()):
        p = q.perm
        out.append(b"%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n" % (
            p.key, p.id, p.mode, q.cbytes, len(q.msgs), q.lspid, q.lrpid, p.uid, p.gid,
            p.cuid, p.cgid, q.stime, q.rtime, p.ctime))
    return b"".join(out)


def namespace(k: "Kernel") -> IPCNamespace:
    """The sandbox's IPC namespace (made at first use)."""
    ns: Optional[IPCNamespace] = k.ipc
    if ns is None:
        ns = IPCNamespace(k)
        k.ipc = ns
    return ns
