"""The proc connector (``NETLINK_CONNECTOR``, ``CN_IDX_PROC``/``CN_VAL_PROC``), the sentry's.

Linux's ``drivers/connector/cn_proc.c`` multicasts a ``struct cn_msg`` carrying a ``struct
proc_event`` (``include/uapi/linux/cn_proc.h``) to the sockets bound to group
``CN_IDX_PROC`` whenever a task forks, execs, changes ids, starts a session, is renamed,
is attached or detached by ptrace, or exits.  Here the events are the sandbox's own, made by
the sentry from its books at the same points (:func:`proc_fork` … :func:`proc_exit`, one
call each from the kernel's code paths), with sandbox pids and ids: no host socket of this
protocol exists, so the host's connector never reports a host process to the sandbox.

What Linux does and this follows:

- Binding to (or ``NETLINK_ADD_MEMBERSHIP`` of) group ``CN_IDX_PROC`` needs
  ``CAP_NET_ADMIN`` (``cn_bind``: ``EPERM``); the sandbox's root with it stands for the
  initial user namespace's.  Other connector groups bind but carry nothing.
- A ``PROC_CN_MCAST_LISTEN``/``IGNORE`` control message (``cn_proc_mcast_ctl``; the 4-byte
  op or the 8-byte ``struct proc_input`` with an event mask) changes the count of
  listeners and the sending socket's filter; without ``CAP_NET_ADMIN`` it changes nothing
  and its ack carries ``EPERM``.  The ack is a ``PROC_EVENT_NONE`` event (``err``, the
  request's ``ack + 1``; its ``seq`` is the event counter's, as ``send_msg`` overwrites
  the one ``cn_proc_ack`` set) multicast like any event.  Only the first message of a
  send is read and errors are never reported to the sender (``cn_rx_skb``).
- Events are made only while the count is positive, and a closed socket does not lower
  it (``cn_release``), only ``IGNORE`` does.  A member that never sent a control message
  gets every event, one that sent ``IGNORE`` none (``cn_filter``).
- Each event is an ``NLMSG_DONE`` message from port 0 with the event's ``seq`` (a counter),
  ``cn_msg.len`` the size of ``struct proc_event`` (40) whatever the event, the unused
  bytes zero; pids are task ids (``pid``) and thread group ids (``tgid``).
- Per socket, queued events are bounded (:class:`~.netlink.SentryNetlinkSocket`): past the
  receive buffer an event is dropped and the next receive is ``ENOBUFS``.
"""

from __future__ import annotations

import errno
import struct
import time

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.fsimpl.sock.netlink import NLMSG_DONE, SentryNetlinkSocket, _NLMSGHDR

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional

CN_IDX_PROC = CN_VAL_PROC = 1
#: Groups of the connector (CN_NETLINK_USERS + 0xf); bits past them are dropped at bind.
CN_GROUPS_MASK = (1 << 26) - 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2

PROC_EVENT_NONE, PROC_EVENT_FORK, PROC_EVENT_EXEC, PROC_EVENT_UID = 0, 1, 2, 4
PROC_EVENT_GID, PROC_EVENT_SID, PROC_EVENT_PTRACE, PROC_EVENT_COMM = 0x40, 0x80, 0x100, 0x200
PROC_EVENT_NONZERO_EXIT, PROC_EVENT_COREDUMP = 0x20000000, 0x40000000
PROC_EVENT_EXIT = 0x80000000
PROC_EVENT_ALL = (PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_UID | PROC_EVENT_GID
                  | PROC_EVENT_SID | PROC_EVENT_PTRACE | PROC_EVENT_COMM
                  | PROC_EVENT_NONZERO_EXIT | PROC_EVENT_COREDUMP | PROC_EVENT_EXIT)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
CLONE_PARENT, CLONE_THREAD = 0x8000, 0x10000

CN_MSG = struct.Struct("<IIIIHH")   # id.idx, id.val, seq, ack, len, flags
PROC_EVENT_HEAD = struct.Struct("<IIQ")  # what, cpu, timestamp_ns (aligned(8))
PROC_EVENT_SIZE = 40                # the header and the largest union member (exit, comm)
_UNION_SIZE = PROC_EVENT_SIZE - PROC_EVENT_HEAD.size

# The sandbox's connector state (one sandbox per sentry process): sockets that are members
# of CN_IDX_PROC, proc_event_num_listeners, and the event counter.
_MEMBERS: List["ConnectorSocket"] = []
_state = {"listeners": 0, "seq": 0}


def encode_event(what: int, data: bytes, seq: int, ack: int = 0,
                 timestamp_ns: Optional[int] = None, cpu: int = 0) -> bytes:
    """One connector message as a receive returns it: ``nlmsghdr``, ``cn_msg``,
    ``proc_event`` (*data* is the union's member, zero-padded)."""
    ts = time.monotonic_ns() if timestamp_ns is None else timestamp_ns
    ev = PROC_EVENT_HEAD.pack(what, cpu, ts) + data.ljust(_UNION_SIZE, b"\0")
    cn = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, seq, ack, PROC_EVENT_SIZE, 0) + ev
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, seq, 0) + cn


def _wanted(s: "ConnectorSocket", what: int, exit_code: int) -> bool:
    """cn_filter: whether member *s* gets an event."""
    if s.mcast_op is None:
        return True
    if s.mcast_op == PROC_CN_MCAST_IGNORE:
        return False
    if s.event_type == PROC_EVENT_ALL:
        return True
    if s.event_type & PROC_EVENT_NONZERO_EXIT and what == PROC_EVENT_EXIT and exit_code:
        return True
    return bool(s.event_type & what)


def _send(what: int, data: bytes, ack: int = 0, exit_code: int = 0) -> None:
    seq = _state["seq"]  # send_msg: the event counter, an ack's too
    _state["seq"] = (seq + 1) & 0xFFFFFFFF
    msg = encode_event(what, data, seq, ack)
    for s in list(_MEMBERS):
        if _wanted(s, what, exit_code):
            s.deliver(msg, CN_IDX_PROC)


def _active() -> bool:
    return bool(_MEMBERS) and _state["listeners"] > 0


class ConnectorSocket(SentryNetlinkSocket):
    """A sandbox ``NETLINK_CONNECTOR`` socket (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mcast_op: Optional[int] = None  # sk_user_data's op: None until a control message
        self.event_type = PROC_EVENT_ALL

    def join(self, t: Any, groups: int) -> int:
        if groups & CN_IDX_PROC and not t.creds.capable(cap.CAP_NET_ADMIN):
            raise err(errno.EPERM)
        return groups & CN_GROUPS_MASK

    def _set_groups(self, groups: int) -> None:
        member = bool(groups & CN_IDX_PROC)
        if member and self not in _MEMBERS:
            _MEMBERS.append(self)
        elif not member and self in _MEMBERS:
            _MEMBERS.remove(self)
        self.groups = groups

    def receive(self, t: Any, data: bytes) -> None:
        """cn_rx_skb: the first message only, dropped silently if malformed or not for
        the proc connector."""
        if len(data) < _NLMSGHDR.size + CN_MSG.size:
            return
        mlen = _NLMSGHDR.unpack_from(data)[0]
        if mlen < _NLMSGHDR.size + CN_MSG.size or mlen > len(data):
            return
        idx, val, seq, ack, clen, _flags = CN_MSG.unpack_from(data, _NLMSGHDR.size)
        body = _NLMSGHDR.size + CN_MSG.size
        if mlen < body + clen or (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
            return
        self._mcast_ctl(t, data[body: body + clen], seq, ack)

    def _mcast_ctl(self, t: Any, payload: bytes, seq: int, ack: int) -> None:
        """cn_proc_mcast_ctl."""
        error = 0
        if not t.creds.capable(cap.CAP_NET_ADMIN):
            error = errno.EPERM
        elif len(payload) in (4, 8):
            op = struct.unpack_from("<I", payload)[0]
            ev = PROC_EVENT_ALL
            if len(payload) == 8:
                ev = struct.unpack_from("<I", payload, 4)[0] & PROC_EVENT_ALL or PROC_EVENT_ALL
            prev, self.mcast_op, self.event_type = self.mcast_op, op, ev
            if op == PROC_CN_MCAST_LISTEN:
                if prev != PROC_CN_MCAST_LISTEN:
                    _state["listeners"] += 1
            elif op == PROC_CN_MCAST_IGNORE:
                if prev is not None and prev != PROC_CN_MCAST_IGNORE:
                    _state["listeners"] = max(0, _state["listeners"] - 1)
                self.event_type = PROC_EVENT_NONE
            else:
                error = errno.EINVAL
        else:
            return  # neither form: ignored, no ack
        if _active():  # cn_proc_ack: only while someone listens
            _send(PROC_EVENT_NONE, struct.pack("<I", error), ack=(ack + 1) & 0xFFFFFFFF)


# -- events (one call each from the kernel's code paths) ----------------------------------

def _parent_ids(tg: Any) -> "tuple[int, int]":
    """(pid, tgid) of a process's parent as the sandbox sees it (0: outside it)."""
    p = getattr(tg, "parent", None)
    return (p.tgid, p.tgid) if p is not None else (0, 0)


def proc_fork(parent: Any, child: Any, flags: int) -> None:
    """copy_process: PROC_EVENT_FORK (a thread's parent is its creator's parent)."""
    if not _active():
        return
    if flags & (CLONE_THREAD | CLONE_PARENT):
        ppid, ptgid = _parent_ids(parent.tg)
    else:
        ppid, ptgid = parent.tid, parent.tg.tgid
    _send(PROC_EVENT_FORK, struct.pack("<iiii", ppid, ptgid, child.tid, child.tg.tgid))


def proc_exec(t: Any) -> None:
    """exec_binprm: PROC_EVENT_EXEC."""
    if _active():
        _send(PROC_EVENT_EXEC, struct.pack("<ii", t.tg.tgid, t.tg.tgid))  # now the leader


def proc_id(t: Any, old: Any) -> None:
    """commit_creds: PROC_EVENT_UID if a uid changed, PROC_EVENT_GID if a gid did (the
    real and effective ids)."""
    if not _active():
        return
    new = t.creds
    if (old.uid, old.euid, old.suid, old.fsuid) != (new.uid, new.euid, new.suid, new.fsuid):
        _send(PROC_EVENT_UID, struct.pack("<iiII", t.tid, t.tg.tgid, new.uid, new.euid))
    if (old.gid, old.egid, old.sgid, old.fsgid) != (new.gid, new.egid, new.sgid, new.fsgid):
        _send(PROC_EVENT_GID, struct.pack("<iiII", t.tid, t.tg.tgid, new.gid, new.egid))


def proc_sid(t: Any) -> None:
    """setsid: PROC_EVENT_SID."""
    if _active():
        _send(PROC_EVENT_SID, struct.pack("<ii", t.tid, t.tg.tgid))


def proc_comm(t: Any, comm: bytes) -> None:
    """prctl(PR_SET_NAME): PROC_EVENT_COMM (an exec renames without one)."""
    if _active():
        _send(PROC_EVENT_COMM, struct.pack("<ii16s", t.tid, t.tg.tgid, comm[:15]))


def proc_ptrace(target: Any, tracer: Any) -> None:
    """ptrace_attach (*tracer*) and ptrace_detach (``None``): PROC_EVENT_PTRACE."""
    if _active():
        who = (tracer.tid, tracer.tg.tgid) if tracer is not None else (0, 0)
        _send(PROC_EVENT_PTRACE, struct.pack("<iiii", target.tid, target.tg.tgid, *who))


def proc_exit(t: Any, status: int) -> None:
    """do_exit: PROC_EVENT_EXIT with the wait status as ``exit_code``; a leader's exit
    seen by the sentry is its group's, so the threads still booked exit first."""
    if not _active():
        return
    tg = t.tg
    tasks = [x for x in tg.tasks.values() if x is not t] if t.tid == tg.tgid else []
    ppid, ptgid = _parent_ids(tg)
    code = status & 0xFFFF
    for x in tasks + [t]:
        sig = tg.exit_signal if x.tid == tg.tgid else 0xFFFFFFFF  # a thread's is -1
        _send(PROC_EVENT_EXIT, struct.pack("<iiIIii", x.tid, tg.tgid, code, sig & 0xFFFFFFFF,
                                           ppid, ptgid), exit_code=code)
