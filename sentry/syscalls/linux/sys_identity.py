"""Credentials: the sandbox's identities from ``process.user`` and capabilities from
``process.capabilities``, never the host's.  Changing ids needs ``CAP_SETUID`` /
``CAP_SETGID``; the capability sets follow uid changes as on Linux
(:mod:`sentry.kernel.credentials`).
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.kernel import proc_events as cn_proc
from sentry.kernel.credentials import fix_setfsuid, fix_setuid

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

NGROUPS_MAX = 65536
_KEEP = 0xFFFFFFFF  # (uid_t)-1: leave unchanged


def getuid(t: "Task", a: "SyscallArgs") -> int:
    """getuid(2)."""
    return t.creds.uid


def geteuid(t: "Task", a: "SyscallArgs") -> int:
    """geteuid(2)."""
    return t.creds.euid


def getgid(t: "Task", a: "SyscallArgs") -> int:
    """getgid(2)."""
    return t.creds.gid


def getegid(t: "Task", a: "SyscallArgs") -> int:
    """getegid(2)."""
    return t.creds.egid


def getresuid(t: "Task", a: "SyscallArgs") -> int:
    """getresuid(2)."""
    c = t.creds
    for ptr, v in ((a[0], c.uid), (a[1], c.euid), (a[2], c.suid)):
        t.mem.write(ptr, struct.pack("<I", v))
    return 0


def getresgid(t: "Task", a: "SyscallArgs") -> int:
    """getresgid(2)."""
    c = t.creds
    for ptr, v in ((a[0], c.gid), (a[1], c.egid), (a[2], c.sgid)):
        t.mem.write(ptr, struct.pack("<I", v))
    return 0


def getgroups(t: "Task", a: "SyscallArgs") -> int:
    """getgroups(2)."""
    size = a.int(0)
    groups = t.creds.groups
    if size < 0:
        raise err(errno.EINVAL)
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise err(errno.EINVAL)
    if groups:
        t.mem.write(a[1], struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


def setgroups(t: "Task", a: "SyscallArgs") -> int:
    """setgroups(2)."""
    size = a.int(0)
    if not 0 <= size <= NGROUPS_MAX:
        raise err(errno.EINVAL)
    if not t.creds.capable(cap.CAP_SETGID):
        raise err(errno.EPERM)
    raw = t.mem.read(a[1], size * 4) if size else b""
    t.creds.groups = list(struct.unpack(f"<{size}I", raw))
    return 0


def _privileged(t: "Task", kind: str) -> bool:
    return t.creds.capable(cap.CAP_SETUID if kind == "u" else cap.CAP_SETGID)


def _setres(t: "Task", kind: str, r: int, e: int, s: int) -> int:
    c = t.creds
    cur = (c.uid, c.euid, c.suid) if kind == "u" else (c.gid, c.egid, c.sgid)
    privileged = _privileged(t, kind)
    for v in (r, e, s):
        if v != _KEEP and not privileged and v not in cur:
            raise err(errno.EPERM)
    return _setres_priv(t, kind, r, e, s)


def setresuid(t: "Task", a: "SyscallArgs") -> int:
    """setresuid(2)."""
    return _setres(t, "u", a.uint(0), a.uint(1), a.uint(2))


def setresgid(t: "Task", a: "SyscallArgs") -> int:
    """setresgid(2)."""
    return _setres(t, "g", a.uint(0), a.uint(1), a.uint(2))


def setreuid(t: "Task", a: "SyscallArgs") -> int:
    """setreuid(2)."""
    r, e = a.uint(0), a.uint(1)
    c = t.creds
    s = _KEEP
    if r != _KEEP or (e != _KEEP and e != c.uid):
        s = e if e != _KEEP else c.euid
    if not _privileged(t, "u"):
        if r != _KEEP and r not in (c.uid, c.euid):
            raise err(errno.EPERM)
        if e != _KEEP and e not in (c.uid, c.euid, c.suid):
            raise err(errno.EPERM)
    return _setres_priv(t, "u", r, e, s)


def setregid(t: "Task", a: "SyscallArgs") -> int:
    """setregid(2)."""
    r, e = a.uint(0), a.uint(1)
    c = t.creds
    s = _KEEP
    if r != _KEEP or (e != _KEEP and e != c.gid):
        s = e if e != _KEEP else c.egid
    if not _privileged(t, "g"):
        if r != _KEEP and r not in (c.gid, c.egid):
            raise err(errno.EPERM)
        if e != _KEEP and e not in (c.gid, c.egid, c.sgid):
            raise err(errno.EPERM)
    return _setres_priv(t, "g", r, e, s)


def _setres_priv(t: "Task", kind: str, r: int, e: int, s: int) -> int:
    c = t.creds
    cur = (c.uid, c.euid, c.suid) if kind == "u" else (c.gid, c.egid, c.sgid)
    nr = cur[0] if r == _KEEP else r
    ne = cur[1] if e == _KEEP else e
    ns = cur[2] if s == _KEEP else s
    old = c.copy()
    if kind == "u":
        c.uid, c.euid, c.suid, c.fsuid = nr, ne, ns, ne
        fix_setuid(c, old)
    else:
        c.gid, c.egid, c.sgid, c.fsgid = nr, ne, ns, ne
    cn_proc.proc_id(t, old)
    return 0


def setuid(t: "Task", a: "SyscallArgs") -> int:
    """setuid(2)."""
    uid = a.uint(0)
    if uid == _KEEP:
        raise err(errno.EINVAL)
    if _privileged(t, "u"):
        return _setres_priv(t, "u", uid, uid, uid)
    if uid not in (t.creds.uid, t.creds.suid):
        raise err(errno.EPERM)
    return _setres_priv(t, "u", _KEEP, uid, _KEEP)


def setgid(t: "Task", a: "SyscallArgs") -> int:
    """setgid(2)."""
    gid = a.uint(0)
    if gid == _KEEP:
        raise err(errno.EINVAL)
    if _privileged(t, "g"):
        return _setres_priv(t, "g", gid, gid, gid)
    if gid not in (t.creds.gid, t.creds.sgid):
        raise err(errno.EPERM)
    return _setres_priv(t, "g", _KEEP, gid, _KEEP)


def setfsuid(t: "Task", a: "SyscallArgs") -> int:
    """setfsuid(2): returns the previous fsuid."""
    old = t.creds.fsuid
    uid = a.uint(0)
    c = t.creds
    if uid != _KEEP and uid != old and (_privileged(t, "u")
                                         or uid in (c.uid, c.euid, c.suid, c.fsuid)):
        before = c.copy()
        c.fsuid = uid
        fix_setfsuid(c, old)
        cn_proc.proc_id(t, before)
    return old


def setfsgid(t: "Task", a: "SyscallArgs") -> int:
    """setfsgid(2): returns the previous fsgid."""
    old = t.creds.fsgid
    gid = a.uint(0)
    c = t.creds
    if gid != _KEEP and (_privileged(t, "g") or gid in (c.gid, c.egid, c.sgid, c.fsgid)):
        before = c.copy()
        c.fsgid = gid
        cn_proc.proc_id(t, before)
    return old


_CAP_VERSIONS = (cap.LINUX_CAPABILITY_VERSION_1, cap.LINUX_CAPABILITY_VERSION_2,
                 cap.LINUX_CAPABILITY_VERSION_3)


def _cap_header(t: "Task", a: "SyscallArgs") -> tuple:
    """The header's (version, pid); an unknown version is answered with the preferred
    one written back, and ``EINVAL`` unless the data pointer is NULL (a probe)."""
    version, pid = struct.unpack("<Ii", t.mem.read(a[0], 8))
    if version not in _CAP_VERSIONS:
        t.mem.write(a[0], struct.pack("<I", cap.LINUX_CAPABILITY_VERSION_3))
        if a[1] == 0:
            return None, pid
        raise err(errno.EINVAL)
    if pid < 0:
        raise err(errno.EINVAL)
    return version, pid


def capget(t: "Task", a: "SyscallArgs") -> int:
    """capget(2): the effective, permitted and inheritable sets of a sandbox thread."""
    version, pid = _cap_header(t, a)
    if version is None:
        return 0
    target = t
    if pid not in (0, t.tid):
        found = t.kernel.task_by_tid(pid)
        if found is None or found.exited:
            raise err(errno.ESRCH)
        target = found
    if a[1] == 0:
        return 0
    c = target.creds
    sets = (c.effective, c.permitted, c.inheritable)
    if version == cap.LINUX_CAPABILITY_VERSION_1:
        t.mem.write(a[1], struct.pack("<III", *(s & 0xFFFFFFFF for s in sets)))
    else:
        # Two __user_cap_data_struct: the low 32 capabilities of each set, then the high.
        t.mem.write(a[1], struct.pack("<IIIIII", *(s & 0xFFFFFFFF for s in sets),
                                      *(s >> 32 for s in sets)))
    return 0


def capset(t: "Task", a: "SyscallArgs") -> int:
    """capset(2): the caller's own sets, within what ``cap_capset`` allows."""
    version, pid = _cap_header(t, a)
    if version is None:
        raise err(errno.EINVAL)
    if pid not in (0, t.tid):
        raise err(errno.EPERM)
    n = 1 if version == cap.LINUX_CAPABILITY_VERSION_1 else 2
    words = struct.unpack(f"<{3 * n}I", t.mem.read(a[1], 12 * n))
    eff, prm, inh = ((words[i] | (words[3 + i] << 32 if n == 2 else 0)) & cap.ALL_CAPS
                     for i in range(3))
    c = t.creds
    if not c.capable(cap.CAP_SETPCAP) and inh & ~(c.inheritable | c.permitted):
        raise err(errno.EPERM)
    if inh & ~(c.inheritable | c.bounding):
        raise err(errno.EPERM)
    if prm & ~c.permitted or eff & ~prm:
        raise err(errno.EPERM)
    c.cap_effective, c.cap_permitted, c.cap_inheritable = eff, prm, inh
    c.cap_ambient = c.ambient & prm & inh
    return 0
