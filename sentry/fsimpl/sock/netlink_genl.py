"""Generic netlink (``NETLINK_GENERIC``), the sentry's: the ``nlctrl`` controller and the
``TASKSTATS`` family.

Linux's generic netlink (``net/netlink/genetlink.c``) multiplexes families over one
protocol; a program finds a family's id by name with ``CTRL_CMD_GETFAMILY`` to ``nlctrl``
(``GENL_ID_CTRL``).  The sandbox has two families, answered by the sentry from its books
(no host socket of this protocol exists, so the host's taskstats never describes a host
process to the sandbox):

- ``nlctrl``: ``CTRL_CMD_GETFAMILY`` by ``CTRL_ATTR_FAMILY_NAME`` or ``_ID`` answers
  ``CTRL_CMD_NEWFAMILY`` with the attributes and order of ``ctrl_fill_info`` (name, id,
  version, header size, maxattr, ops with their flags, multicast groups), or ``ENOENT``; a
  dump lists both families.
- ``TASKSTATS`` (``kernel/taskstats.c``): ``TASKSTATS_CMD_GET`` (``GENL_ADMIN_PERM``:
  ``CAP_NET_ADMIN``) with ``TASKSTATS_CMD_ATTR_PID`` or ``_TGID`` answers
  ``TASKSTATS_CMD_NEW`` with ``TASKSTATS_TYPE_AGGR_PID``/``_AGGR_TGID`` nesting the id and
  ``TASKSTATS_TYPE_STATS`` (``struct taskstats`` version 13, 416 bytes, as
  ``/usr/include/linux/taskstats.h``; no ``TASKSTATS_TYPE_NULL`` pad, x86-64 needs none).
  An unknown pid is ``ESRCH``.  Registering a cpumask for exit records is ``EINVAL``, what
  Linux answers a caller outside the initial pid namespace (the sandbox's is not);
  ``CGROUPSTATS_CMD_GET`` is ``EINVAL`` (no cgroup file system).

Errors and acks are ``netlink_rcv_skb``'s: every request message is handled; an error,
or ``NLM_F_ACK``, gets an ``NLMSG_ERROR``.  The statistics come from the sentry (ids,
names, times) and from the host's ``/proc/TID/{stat,status,schedstat}`` of the sandbox
thread (CPU times, faults, context switches, run delay); delay accounting (off by default
on Linux) and I/O accounting (the sentry does a sandbox's file I/O) are zeros.
"""

from __future__ import annotations

import errno
import os
import struct
import time

from sentry.abi.linux import capability as cap
from sentry.fsimpl.sock.netlink import (
    NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_DONE, NLMSG_MIN_TYPE, SentryNetlinkSocket,
    _NLMSGHDR,
)

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

GENL_HDR = struct.Struct("<BBH")  # cmd, version, reserved
GENL_ID_CTRL = 0x10
TASKSTATS_FAMILY_ID = 0x13  # GENL_START_ALLOC: the first id a kernel hands out
CTRL_CMD_NEWFAMILY, CTRL_CMD_GETFAMILY, CTRL_CMD_GETPOLICY = 1, 3, 10
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_VERSION = 1, 2, 3
CTRL_ATTR_HDRSIZE, CTRL_ATTR_MAXATTR, CTRL_ATTR_OPS, CTRL_ATTR_MCAST_GROUPS = 4, 5, 6, 7
CTRL_ATTR_OP_ID, CTRL_ATTR_OP_FLAGS = 1, 2
CTRL_ATTR_MCAST_GRP_NAME, CTRL_ATTR_MCAST_GRP_ID = 1, 2
GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_CMD_CAP_HASPOL = 1, 2, 4, 8
GENL_NAMSIZ = 16

TASKSTATS_CMD_GET, TASKSTATS_CMD_NEW, CGROUPSTATS_CMD_GET = 1, 2, 4
TASKSTATS_TYPE_PID, TASKSTATS_TYPE_TGID, TASKSTATS_TYPE_STATS = 1, 2, 3
TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_AGGR_TGID = 4, 5
TASKSTATS_CMD_ATTR_PID, TASKSTATS_CMD_ATTR_TGID = 1, 2
TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK = 3, 4
TASKSTATS_VERSION = 13
TASKSTATS_SIZE = 416


class Family:
    """A generic netlink family as ``nlctrl`` describes it."""

    def __init__(self, name: bytes, fid: int, version: int, ops: List[Tuple[int, int]],
                 mcgrps: Optional[List[Tuple[int, bytes]]] = None) -> None:
        self.name, self.id, self.version = name, fid, version
        self.ops = dict(ops)  # cmd -> flags (GENL_ADMIN_PERM | GENL_CMD_CAP_*)
        self.mcgrps = mcgrps or []


NLCTRL = Family(b"nlctrl", GENL_ID_CTRL, 2, [
    (CTRL_CMD_GETFAMILY, GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP | GENL_CMD_CAP_HASPOL),
    (CTRL_CMD_GETPOLICY, GENL_CMD_CAP_DUMP | GENL_CMD_CAP_HASPOL)],
    [(GENL_ID_CTRL, b"notify")])
TASKSTATS = Family(b"TASKSTATS", TASKSTATS_FAMILY_ID, 1, [
    (TASKSTATS_CMD_GET, GENL_ADMIN_PERM | GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL),
    (CGROUPSTATS_CMD_GET, GENL_CMD_CAP_DO | GENL_CMD_CAP_HASPOL)])
FAMILIES = {f.id: f for f in (NLCTRL, TASKSTATS)}


def nla(atype: int, data: bytes) -> bytes:
    """One attribute, padded to 4 bytes (``nla_len`` without the padding)."""
    a = struct.pack("<HH", 4 + len(data), atype) + data
    return a + bytes(-len(a) % 4)


def parse_attrs(data: bytes, off: int = 0) -> Dict[int, bytes]:
    """Attributes from *off*: type -> payload (the last of a type wins, as nla_parse)."""
    out: Dict[int, bytes] = {}
    while off + 4 <= len(data):
        alen, atype = struct.unpack_from("<HH", data, off)
        if alen < 4 or off + alen > len(data):
            break
        out[atype & 0x3FFF] = data[off + 4: off + alen]
        off += (alen + 3) & ~3
    return out


def family_attrs(f: Family) -> bytes:
    """ctrl_fill_info's attributes."""
    out = (nla(CTRL_ATTR_FAMILY_NAME, f.name + b"\0")
           + nla(CTRL_ATTR_FAMILY_ID, struct.pack("<H", f.id))
           + nla(CTRL_ATTR_VERSION, struct.pack("<I", f.version))
           + nla(CTRL_ATTR_HDRSIZE, struct.pack("<I", 0))
           + nla(CTRL_ATTR_MAXATTR, struct.pack("<I", 0)))  # per-op policies: 0
    ops = b"".join(nla(i + 1, nla(CTRL_ATTR_OP_ID, struct.pack("<I", cmd))
                       + nla(CTRL_ATTR_OP_FLAGS, struct.pack("<I", flags)))
                   for i, (cmd, flags) in enumerate(f.ops.items()))
    out += nla(CTRL_ATTR_OPS, ops)
    if f.mcgrps:
        grps = b"".join(nla(i + 1, nla(CTRL_ATTR_MCAST_GRP_ID, struct.pack("<I", gid))
                            + nla(CTRL_ATTR_MCAST_GRP_NAME, name + b"\0"))
                        for i, (gid, name) in enumerate(f.mcgrps))
        out += nla(CTRL_ATTR_MCAST_GROUPS, grps)
    return out


# struct taskstats (version 13) by field: (offset, struct format).
TASKSTATS_FIELDS = {
    "version": (0, "H"), "ac_exitcode": (4, "I"), "ac_flag": (8, "B"), "ac_nice": (9, "b"),
    "cpu_count": (16, "Q"), "cpu_delay_total": (24, "Q"), "cpu_run_real_total": (64, "Q"),
    "cpu_run_virtual_total": (72, "Q"), "ac_comm": (80, "32s"), "ac_sched": (112, "B"),
    "ac_uid": (120, "I"), "ac_gid": (124, "I"), "ac_pid": (128, "I"), "ac_ppid": (132, "I"),
    "ac_btime": (136, "I"), "ac_etime": (144, "Q"), "ac_utime": (152, "Q"),
    "ac_stime": (160, "Q"), "ac_minflt": (168, "Q"), "ac_majflt": (176, "Q"),
    "hiwater_rss": (200, "Q"), "hiwater_vm": (208, "Q"), "nvcsw": (272, "Q"),
    "nivcsw": (280, "Q"), "ac_utimescaled": (288, "Q"), "ac_stimescaled": (296, "Q"),
    "cpu_scaled_run_real_total": (304, "Q"), "ac_btime64": (344, "Q"), "ac_tgid": (368, "I"),
    "ac_tgetime": (376, "Q"),
}


def pack_taskstats(fields: Dict[str, Any]) -> bytes:
    """A ``struct taskstats`` with *fields* set and the rest zero."""
    buf = bytearray(TASKSTATS_SIZE)
    for name, value in fields.items():
        off, fmt = TASKSTATS_FIELDS[name]
        struct.pack_into("<" + fmt, buf, off, value)
    return bytes(buf)


def _int(v: Optional[str]) -> int:
    try:
        return int((v or "0").split()[0])
    except ValueError:
        return 0


def _thread_stats(k: Any, x: Any, now: float) -> Dict[str, Any]:
    """The per-thread counters: CPU times, faults, context switches, schedstat."""
    tick_us = 1_000_000 // os.sysconf("SC_CLK_TCK")
    stat = k.host_task_stat(x.host_tid)
    status = k.host_task_status(x.host_tid)
    try:
        sched = [int(v) for v in k.host_file(f"{x.host_tid}/schedstat").split()[:3]]
    except (OSError, ValueError):
        sched = [0, 0, 0]
    utime = _int(stat[11] if len(stat) > 12 else None) * tick_us
    stime = _int(stat[12] if len(stat) > 12 else None) * tick_us
    return {
        "ac_utime": utime, "ac_stime": stime, "ac_utimescaled": utime,
        "ac_stimescaled": stime, "cpu_run_real_total": (utime + stime) * 1000,
        "cpu_scaled_run_real_total": (utime + stime) * 1000,
        "ac_minflt": _int(stat[7] if len(stat) > 9 else None),
        "ac_majflt": _int(stat[9] if len(stat) > 9 else None),
        "nvcsw": _int(status.get("voluntary_ctxt_switches")),
        "nivcsw": _int(status.get("nonvoluntary_ctxt_switches")),
        "hiwater_rss": _int(status.get("VmHWM")), "hiwater_vm": _int(status.get("VmPeak")),
        "cpu_run_virtual_total": sched[0] if sched else 0,
        "cpu_delay_total": sched[1] if len(sched) > 1 else 0,
        "cpu_count": sched[2] if len(sched) > 2 else 0,
    }


def task_stats(k: Any, x: Any) -> bytes:
    """fill_stats: one thread (bacct_add_tsk, xacct_add_tsk, the schedstat part of
    delayacct_add_tsk)."""
    tg = x.tg
    now = time.monotonic()
    etime = int(max(0.0, now - tg.start_time) * 1_000_000)
    btime = int(time.time() - etime / 1_000_000)
    f = _thread_stats(k, x, now)
    f.update({
        "version": TASKSTATS_VERSION, "ac_nice": max(-128, min(127, x.nice)),
        "ac_sched": x.sched_policy & 0xFF,
        "ac_comm": (x.comm or tg.comm)[:15], "ac_uid": x.creds.uid, "ac_gid": x.creds.gid,
        "ac_pid": x.tid, "ac_tgid": tg.tgid, "ac_ppid": tg.ppid, "ac_etime": etime,
        "ac_tgetime": etime, "ac_btime": max(0, min(btime, 0xFFFFFFFF)), "ac_btime64": btime,
    })
    return pack_taskstats(f)


def group_stats(k: Any, tg: Any) -> bytes:
    """fill_stats_for_tgid: the live threads' elapsed and CPU times and context switches
    summed (Linux fills nothing else without delay accounting)."""
    now = time.monotonic()
    total: Dict[str, Any] = {"version": TASKSTATS_VERSION, "ac_etime": 0, "ac_utime": 0,
                             "ac_stime": 0, "nvcsw": 0, "nivcsw": 0, "cpu_count": 0,
                             "cpu_delay_total": 0, "cpu_run_virtual_total": 0,
                             "cpu_run_real_total": 0, "cpu_scaled_run_real_total": 0}
    for x in list(tg.tasks.values()):
        f = _thread_stats(k, x, now)
        total["ac_etime"] += int(max(0.0, now - tg.start_time) * 1_000_000)
        for key in total:
            if key not in ("version", "ac_etime"):
                total[key] += f[key]
    return pack_taskstats(total)


class GenericSocket(SentryNetlinkSocket):
    """A sandbox ``NETLINK_GENERIC`` socket (see the module docstring)."""

    def join(self, t: Any, groups: int) -> int:
        return groups  # nlctrl's "notify": nothing is ever registered, so nothing comes

    def receive(self, t: Any, data: bytes) -> None:
        """netlink_rcv_skb."""
        off = 0
        while off + _NLMSGHDR.size <= len(data):
            mlen, mtype, mflags, _seq, _pid = _NLMSGHDR.unpack_from(data, off)
            if mlen < _NLMSGHDR.size or off + mlen > len(data):
                break
            msg = data[off: off + mlen]
            error = 0
            if mflags & NLM_F_REQUEST and mtype >= NLMSG_MIN_TYPE:
                error = self._request(t, msg)
            if error or mflags & 0x4:  # NLM_F_ACK
                self.reply_ack(msg, -error)
            off += (mlen + 3) & ~3

    def _reply(self, mtype: int, flags: int, seq: int, cmd: int, version: int,
               attrs: bytes) -> None:
        body = GENL_HDR.pack(cmd, version, 0) + attrs
        self.deliver(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), mtype, flags, seq, self.port)
                     + body)

    def _request(self, t: Any, msg: bytes) -> int:
        """genl_rcv_msg: one request; the errno to acknowledge it with (0: none)."""
        _len, mtype, mflags, seq, _pid = _NLMSGHDR.unpack_from(msg)
        fam = FAMILIES.get(mtype)
        if fam is None:
            return errno.ENOENT
        if len(msg) < _NLMSGHDR.size + GENL_HDR.size:
            return errno.EINVAL
        cmd = msg[_NLMSGHDR.size]
        flags = fam.ops.get(cmd)
        if flags is None:
            return errno.EOPNOTSUPP
        if flags & GENL_ADMIN_PERM and not t.creds.capable(cap.CAP_NET_ADMIN):
            return errno.EPERM
        attrs = parse_attrs(msg, _NLMSGHDR.size + GENL_HDR.size)
        if mflags & NLM_F_DUMP == NLM_F_DUMP:
            if not flags & GENL_CMD_CAP_DUMP:
                return errno.EOPNOTSUPP
            for f in FAMILIES.values():  # CTRL_CMD_GETFAMILY and GETPOLICY dumps
                if cmd == CTRL_CMD_GETFAMILY:
                    self._reply(GENL_ID_CTRL, NLM_F_MULTI, seq, CTRL_CMD_NEWFAMILY,
                                NLCTRL.version, family_attrs(f))
            self.deliver(_NLMSGHDR.pack(_NLMSGHDR.size + 4, NLMSG_DONE, NLM_F_MULTI, seq,
                                        self.port) + struct.pack("<i", 0))
            return 0
        if fam is NLCTRL:
            return self._getfamily(seq, attrs)
        if cmd == CGROUPSTATS_CMD_GET:
            return errno.EINVAL
        return self._taskstats(t, seq, attrs)

    def _getfamily(self, seq: int, attrs: Dict[int, bytes]) -> int:
        """ctrl_getfamily: by id, then by name (which wins)."""
        res: Optional[Family] = None
        error = errno.EINVAL
        if CTRL_ATTR_FAMILY_ID in attrs:
            raw = attrs[CTRL_ATTR_FAMILY_ID]
            if len(raw) < 2:
                return errno.ERANGE
            res = FAMILIES.get(struct.unpack_from("<H", raw)[0])
            error = errno.ENOENT
        if CTRL_ATTR_FAMILY_NAME in attrs:
            raw = attrs[CTRL_ATTR_FAMILY_NAME]
            if b"\0" not in raw:
                return errno.EINVAL  # NLA_NUL_STRING
            name = raw.split(b"\0", 1)[0]
            if len(name) > GENL_NAMSIZ - 1:
                return errno.ERANGE
            res = next((f for f in FAMILIES.values() if f.name == name), None)
            error = errno.ENOENT
        if res is None:
            return error
        self._reply(GENL_ID_CTRL, 0, seq, CTRL_CMD_NEWFAMILY, NLCTRL.version, family_attrs(res))
        return 0

    def _taskstats(self, t: Any, seq: int, attrs: Dict[int, bytes]) -> int:
        """taskstats_user_cmd."""
        if (TASKSTATS_CMD_ATTR_REGISTER_CPUMASK in attrs
                or TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK in attrs):
            return errno.EINVAL  # not the initial pid namespace
        for kind in (TASKSTATS_CMD_ATTR_PID, TASKSTATS_CMD_ATTR_TGID):
            if kind in attrs:
                raw = attrs[kind]
                break
        else:
            return errno.EINVAL
        if len(raw) < 4:
            return errno.ERANGE
        pid = struct.unpack_from("<I", raw)[0]
        k = t.kernel
        x = k.task_by_tid(pid) if 0 < pid < 1 << 31 else None
        if x is None or x.exited:
            return errno.ESRCH
        if kind == TASKSTATS_CMD_ATTR_PID:
            aggr, ptype, stats = TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, task_stats(k, x)
        else:
            aggr, ptype, stats = (TASKSTATS_TYPE_AGGR_TGID, TASKSTATS_TYPE_TGID,
                                  group_stats(k, x.tg))
        body = nla(ptype, struct.pack("<I", pid)) + nla(TASKSTATS_TYPE_STATS, stats)
        self._reply(TASKSTATS.id, 0, seq, TASKSTATS_CMD_NEW, TASKSTATS.version,
                    nla(aggr, body))
        return 0
