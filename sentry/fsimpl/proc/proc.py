"""The contents of ``/proc``: the root, ``/proc/<pid>``, ``/proc/<pid>/task/<tid>``
and ``/proc/sys``.

The kernel version the sandbox reports is :data:`KERNEL_RELEASE` (like gVisor,
a fixed sandbox version, never the host's).  Access to another process's
``fd/``, ``environ`` and ``exe``/``cwd``/``root`` links needs the same
effective uid or sandbox root (``EACCES``), as ptrace access checks do.
"""

from __future__ import annotations

import errno
import os
import time

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.fsimpl.proc.filesystem import (
    ABSENT, Children, ProcDir, ProcFile, ProcFilesystem, ProcSymlink,
)
from sentry.fsimpl.proc.cgroupfs import proc_cgroups
from sentry.fsimpl.proc.net import net_children
from sentry.kernel import aio, ipc
from sentry.kernel import keys, memacct
from sentry.mm.mm import STUB_BASE, STUB_END
from sentry.vfs.dentry import VirtualDentry
from sentry.vfs.file import DEFAULT_POLLMASK
from sentry.vfs.inode import Inode
from sentry.vfs.mount_options import show as show_mount_flags

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

KERNEL_RELEASE = "6.1.0-runsc-py"
KERNEL_VERSION = b"Linux version %s (runsc-py@sandbox) (gcc) #1 SMP Sun Jan 10 15:06:54 PST 2016\n" % (
    KERNEL_RELEASE.encode()
)
FILESYSTEMS = b"".join(
    b"nodev\t%s\n" % n for n in (b"sysfs", b"tmpfs", b"proc", b"devpts", b"mqueue", b"overlay",
                                 b"9p", b"pipefs", b"cgroup2")
)
#: /proc/PID/limits rows by resource number (fs/proc/base.c ``lnames``).
LIMIT_NAMES = (
    ("Max cpu time", "seconds"), ("Max file size", "bytes"), ("Max data size", "bytes"),
    ("Max stack size", "bytes"), ("Max core file size", "bytes"),
    ("Max resident set", "bytes"), ("Max processes", "processes"),
    ("Max open files", "files"), ("Max locked memory", "bytes"),
    ("Max address space", "bytes"), ("Max file locks", "locks"),
    ("Max pending signals", "signals"), ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""), ("Max realtime priority", ""), ("Max realtime timeout", "us"),
)
RLIM_INFINITY = (1 << 64) - 1
#: ``EPOLLIN | EPOLLRDNORM``.
_POLL_IN = 0x001 | 0x040
OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX = -1000, 1000
OOM_DISABLE, OOM_ADJUST_MAX = -17, 15


def _b(s: str) -> bytes:
    return s.encode()


def _leader(tg: Any) -> Any:
    t = tg.leader
    if t is None and tg.tasks:
        t = next(iter(tg.tasks.values()))
    return t


def _may_inspect(reader: Any, target: Any) -> Callable[[Any], None]:
    """A check raising ``EACCES`` unless the reader is root or has the target's euid."""

    def check(t: Any) -> None:
        if t is None or target is None:
            return
        if t.creds.euid != target.creds.euid and not t.creds.capable(cap.CAP_SYS_PTRACE):
            raise err(errno.EACCES)

    return check


# ---------------------------------------------------------------- the root
def _self_target(r: Any) -> bytes:
    if r is None:
        raise err(errno.ENOENT)
    return b"%d" % r.tgid


def _thread_self_target(r: Any) -> bytes:
    if r is None:
        raise err(errno.ENOENT)
    return b"%d/task/%d" % (r.tgid, r.tid)


def _listed_process(tg: Any) -> bool:
    return not getattr(tg, "reaped", False) and bool(tg.tasks)


def root_lookup(fs: ProcFilesystem, t: Any, name: bytes) -> Any:
    """The root's entry *name* without making the whole listing (``readlink
    /proc/self/exe`` at every busybox applet's start made it twice: 69 us a call): the
    factory of ``self``, ``thread-self`` or a process's directory, :data:`ABSENT` for a
    pid that is not listed, None for any other name (:func:`root_children` decides)."""
    if name == b"self":
        return lambda: ProcSymlink(fs, b"/self", _self_target)
    if name == b"thread-self":
        return lambda: ProcSymlink(fs, b"/thread-self", _thread_self_target)
    if name.isdigit() and name == b"%d" % int(name):
        tg = fs.kernel.thread_groups.get(int(name))
        if tg is None or not _listed_process(tg):
            return ABSENT
        return lambda: pid_dir(fs, tg)
    return None


def root_children(fs: ProcFilesystem, t: Any) -> Children:
    k = fs.kernel
    c: Children = {}
    c[b"self"] = lambda: ProcSymlink(fs, b"/self", _self_target)
    c[b"thread-self"] = lambda: ProcSymlink(fs, b"/thread-self", _thread_self_target)
    for tgid, tg in sorted(k.thread_groups.items()):
        if not _listed_process(tg):
            continue
        c[b"%d" % tgid] = (lambda tg=tg: pid_dir(fs, tg))  # type: ignore[misc]
    files: Dict[bytes, Callable[[Any], bytes]] = {
        b"meminfo": lambda r: k.host_file("meminfo"),
        b"cpuinfo": lambda r: k.host_file("cpuinfo"),
        b"uptime": lambda r: _uptime(k),
        b"loadavg": lambda r: _loadavg(k),
        b"version": lambda r: KERNEL_VERSION,
        b"stat": lambda r: _stat(k),
        b"filesystems": lambda r: FILESYSTEMS,
        b"cgroups": lambda r: proc_cgroups(),
        b"keys": lambda r: keys.proc_keys(k, r),
        b"key-users": lambda r: keys.proc_key_users(k),
    }
    for name, fn in files.items():
        c[name] = (lambda name=name, fn=fn: ProcFile(  # type: ignore[misc]
            fs, b"/" + name, fn, poll=DEFAULT_POLLMASK, read_iter=True))
    c[b"mounts"] = lambda: ProcSymlink(fs, b"/mounts", lambda r: b"self/mounts")
    c[b"net"] = lambda: ProcSymlink(fs, b"/net", lambda r: b"self/net")
    c[b"sys"] = lambda: ProcDir(fs, b"/sys", lambda r: sys_children(fs, b"/sys", _sys_tree(k)),
                                nlink=1)
    c[b"sysvipc"] = lambda: ProcDir(fs, b"/sysvipc", lambda r: sys_children(
        fs, b"/sysvipc", {b"shm": ipc.proc_shm, b"sem": ipc.proc_sem, b"msg": ipc.proc_msg}))
    return c


def _uptime(k: Any) -> bytes:
    boot = getattr(k, "boot_time", None)
    up = time.monotonic() - boot if boot is not None else 0.0
    return b"%.2f %.2f\n" % (up, up)


def _task_count(k: Any) -> int:
    return sum(len(tg.tasks) for tg in k.thread_groups.values())


def _loadavg(k: Any) -> bytes:
    host = k.host_file("loadavg").split()
    avgs = b" ".join(host[:3]) if len(host) >= 3 else b"0.00 0.00 0.00"
    last = max(k.thread_groups) if k.thread_groups else 0
    return b"%s 1/%d %d\n" % (avgs, _task_count(k), last)


def _stat(k: Any) -> bytes:
    out = []
    for line in k.host_file("stat").splitlines():
        key = line.split(b" ", 1)[0]
        if key == b"btime":
            # The sandbox's boot, as /proc/uptime and the start times (stat field 22) count
            # from it: ps dates a process btime + starttime.
            boot = getattr(k, "boot_time", None)
            if boot is not None:
                line = b"btime %d" % int(time.time() - (time.monotonic() - boot))
            out.append(line)
        elif key.startswith(b"cpu") or key in (b"intr", b"ctxt", b"softirq"):
            out.append(line)
    out.append(b"processes %d" % len(k.thread_groups))
    out.append(b"procs_running 1")
    out.append(b"procs_blocked 0")
    return b"\n".join(out) + b"\n"


# ---------------------------------------------------------------- /proc/sys
_SYS_TREE: Dict[bytes, Any] = {
    b"kernel": {
        b"hostname": lambda k: _b(k.hostname) + b"\n",
        b"domainname": lambda k: _b(getattr(k, "domainname", "(none)")) + b"\n",
        b"ostype": lambda k: b"Linux\n",
        b"osrelease": lambda k: _b(KERNEL_RELEASE) + b"\n",
        b"version": lambda k: b"#1 SMP Sun Jan 10 15:06:54 PST 2016\n",
        b"pid_max": lambda k: b"4194304\n",
        b"ngroups_max": lambda k: b"65536\n",
        b"cap_last_cap": lambda k: b"40\n",
        # Global ones programs read: the host's, which it enforces for the sandbox's
        # processes as for any (as a runc container sees them), read-only; without
        # them, the defaults fork_init and the version reported compute.
        b"threads-max": lambda k: _host_sysctl(k, "kernel/threads-max", b"%d" % max(
            20, min(memacct.HOST_MEMORY // (16384 * 8), 0x3FFFFFFF))),
        b"perf_event_paranoid": lambda k: _host_sysctl(k, "kernel/perf_event_paranoid", b"2"),
        b"randomize_va_space": lambda k: _host_sysctl(k, "kernel/randomize_va_space", b"2"),
        b"core_pattern": lambda k: b"core\n",
        b"keys": {
            name.encode(): (lambda k, v=v: b"%d\n" % v)
            for name, v in keys.DEFAULT_LIMITS.items()
        },
        b"random": {
            b"boot_id": lambda k: _boot_id(k),
            b"uuid": lambda k: _uuid4() + b"\n",
        },
    },
    b"vm": {
        b"overcommit_memory": lambda k: b"0\n",
        b"max_map_count": lambda k: b"65530\n",
        b"swappiness": lambda k: _host_sysctl(k, "vm/swappiness", b"60"),
        b"mmap_min_addr": lambda k: _host_sysctl(k, "vm/mmap_min_addr", b"4096"),
    },
    # A sandbox makes no user namespace (unshare and clone refuse CLONE_NEWUSER).
    b"user": {
        b"max_user_namespaces": lambda k: b"0\n",
    },
    b"fs": {
        b"pipe-max-size": lambda k: b"1048576\n",
        b"nr_open": lambda k: b"1048576\n",
        b"aio-nr": lambda k: b"%d\n" % aio.aio_nr(k),
        b"aio-max-nr": lambda k: b"%d\n" % aio.AIO_MAX_NR,
        # (files_maxfiles_init: a tenth of memory in KiB)
        b"file-max": lambda k: _host_sysctl(k, "fs/file-max", b"%d" % max(
            8192, memacct.HOST_MEMORY // 1024 // 10)),
        # the sandbox's inotify limits (sentry.fsimpl.inotify.inotify)
        b"inotify": {
            b"max_user_instances": lambda k: b"%d\n" % _inotify().MAX_USER_INSTANCES,
            b"max_user_watches": lambda k: b"%d\n" % _inotify().MAX_USER_WATCHES,
            b"max_queued_events": lambda k: b"%d\n" % _inotify().MAX_QUEUED_EVENTS,
        },
    },
}


def ns_children(fs: ProcFilesystem, path: bytes, task: Any, uid: int, gid: int,
                check: Callable[[Any], None]) -> Children:
    """/proc/PID/ns: a magic link a namespace (:mod:`sentry.fsimpl.proc.nsfs`), read and
    followed by whoever may inspect the process (``PTRACE_MODE_READ``)."""
    from sentry.fsimpl.proc import nsfs

    k = fs.kernel
    c: Children = {}
    for name in nsfs.NAMES:
        c[name] = (lambda name=name: ProcSymlink(  # type: ignore[misc]
            fs, path + b"/ns/" + name,
            lambda r, name=name: nsfs.link_text(k, task, name),  # type: ignore[misc]
            lambda r, name=name: nsfs.place(k, task, name),  # type: ignore[misc]
            uid=uid, gid=gid, check=check))
    return c


def _host_sysctl(k: Any, name: str, default: bytes) -> bytes:
    """The host's ``/proc/sys/<name>``, which it enforces for the sandbox's processes as
    for any (*default* if it cannot be read)."""
    try:
        return k.host_file("sys/" + name)
    except OSError:
        return default + b"\n"


def _inotify() -> Any:
    from sentry.fsimpl.inotify import inotify

    return inotify


def _uuid4() -> bytes:
    """A random (version 4) UUID in its text form, as the kernel's generate_random_uuid
    (the uuid module costs every sentry 6 ms of imports: platform, _uuid)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


def _boot_id(k: Any) -> bytes:
    bid = getattr(k, "_proc_boot_id", None)
    if bid is None:
        bid = _uuid4().decode()
        try:
            k._proc_boot_id = bid
        except AttributeError:
            pass
    return _b(bid) + b"\n"


def _sys_tree(k: Any) -> Dict[bytes, Any]:
    """The /proc/sys tree: the fixed entries and the sandbox's namespaced sysctls
    (``kernel.sysctl``, leaves ``("sysctl", key)``)."""

    def copy(tree: Dict[bytes, Any]) -> Dict[bytes, Any]:
        return {n: copy(v) if isinstance(v, dict) else v for n, v in tree.items()}

    out = copy(_SYS_TREE)
    for key in getattr(k, "sysctl", {}):
        parts = key.encode().split(b".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = ("sysctl", key)
    return out


def sys_children(fs: ProcFilesystem, path: bytes, tree: Dict[bytes, Any]) -> Children:
    k = fs.kernel
    c: Children = {}
    for name, v in tree.items():
        p = path + b"/" + name
        if isinstance(v, dict):
            c[name] = (lambda p=p, v=v: ProcDir(  # type: ignore[misc]
                fs, p, lambda r: sys_children(fs, p, v), nlink=1 if p.startswith(b"/sys/") else None))
        elif isinstance(v, tuple):
            c[name] = (lambda p=p, key=v[1]: ProcFile(  # type: ignore[misc]
                fs, p, lambda r: _b(k.sysctl[key]) + b"\n", 0o644,
                write=lambda r, data: _write_sysctl(k, key, data), poll=DEFAULT_POLLMASK,
                read_iter=True))
        else:
            c[name] = (lambda p=p, v=v: ProcFile(  # type: ignore[misc]
                fs, p, lambda r: v(k), poll=DEFAULT_POLLMASK, read_iter=True))
    return c


def _write_sysctl(k: Any, key: str, data: bytes) -> int:
    from sentry.fsimpl.proc.sysctl import SysctlError, writer

    try:
        writer(k.sysctl, key)(data.decode())
    except (SysctlError, UnicodeDecodeError):
        raise err(errno.EINVAL) from None
    return len(data)


# ---------------------------------------------------------------- /proc/<pid>
def pid_dir(fs: ProcFilesystem, tg: Any) -> Inode:
    leader = _leader(tg)
    uid, gid = (leader.creds.euid, leader.creds.egid) if leader is not None else (0, 0)
    path = b"/%d" % tg.tgid
    d = ProcDir(fs, path, lambda r: task_children(fs, path, tg, leader, True), uid=uid, gid=gid)
    # pidfd_send_signal(2) takes an fd of this directory for the process
    # (tgid_pidfd_to_pid); not of /proc/PID/task/TID.
    d.process = tg
    return d


def task_children(fs: ProcFilesystem, path: bytes, tg: Any, task: Any, is_process: bool) -> Children:
    k = fs.kernel
    vfs = fs.vfs
    uid, gid = (task.creds.euid, task.creds.egid) if task is not None else (0, 0)
    check = _may_inspect(None, task)
    c: Children = {}

    def f(name: bytes, fn: Callable[[Any], bytes], mode: int = 0o444,
          chk: Optional[Callable[[Any], None]] = None) -> None:
        c[name] = (lambda: ProcFile(fs, path + b"/" + name, fn, mode, uid, gid, chk))

    f(b"stat", lambda r: _pid_stat(k, tg, task, r))
    f(b"status", lambda r: _pid_status(k, tg, task, r))
    f(b"cmdline", lambda r: b"".join(a + b"\0" for a in tg.argv))
    f(b"environ", lambda r: b"".join(e + b"\0" for e in tg.envp), 0o400, check)
    f(b"comm", lambda r: _comm(tg) + b"\n", 0o644)
    f(b"maps", lambda r: _maps(tg))
    # mounts_poll: IN|RDNORM (ERR|PRI once the mount table changed, not tracked).
    c[b"mounts"] = lambda: ProcFile(fs, path + b"/mounts", lambda r: _mounts(vfs, task),
                                    uid=uid, gid=gid, poll=_POLL_IN, read_iter=True)
    c[b"mountinfo"] = lambda: ProcFile(fs, path + b"/mountinfo",
                                       lambda r: _mountinfo(vfs, task), uid=uid, gid=gid,
                                       poll=_POLL_IN, read_iter=True)
    f(b"limits", lambda r: _limits(task))
    f(b"auxv", lambda r: tg.auxv, 0o400, check)
    f(b"statm", lambda r: _statm(k, tg))
    # One cgroup v2 hierarchy, the container at its root (what gVisor shows too).
    f(b"cgroup", lambda r: b"0::/\n")
    c[b"oom_score_adj"] = lambda: ProcFile(
        fs, path + b"/oom_score_adj", lambda r: b"%d\n" % tg.oom_score_adj, 0o644, uid, gid,
        write=lambda r, data: _write_oom(k, r, tg, data, legacy=False))
    c[b"oom_adj"] = lambda: ProcFile(
        fs, path + b"/oom_adj", lambda r: b"%d\n" % _oom_adj(tg.oom_score_adj), 0o644, uid, gid,
        write=lambda r, data: _write_oom(k, r, tg, data, legacy=True))
    f(b"oom_score", lambda r: _oom_score(k, tg))
    # The identity mapping of a sandbox with no user namespace, or linux.uidMappings.
    f(b"uid_map", lambda r: _id_map(k.uid_map))
    f(b"gid_map", lambda r: _id_map(k.gid_map))
    f(b"setgroups", lambda r: b"allow\n")
    # No audit: no session (the kernel's "unset", AUDIT_SID_UNSET). (No loginuid: a
    # write to it must work or pam_loginuid fails a session, where its absence is
    # ignored.)
    f(b"sessionid", lambda r: b"4294967295")
    f(b"personality", lambda r: b"%08x\n" % (getattr(task, "personality", 0) & 0xFFFFFFFF),
      0o400, check)

    def exe_target(r: Any) -> bytes:
        if tg.exe_vd is not None:  # " (deleted)" once replaced or removed
            return vfs.path_for_task(r, tg.exe_vd)
        if not tg.exe_path:
            raise err(errno.ENOENT)
        return _b(tg.exe_path) if isinstance(tg.exe_path, str) else tg.exe_path

    # A magic link to the file the process runs (renamed or replaced, it is still
    # the one whose writes fail with ETXTBSY).
    c[b"exe"] = lambda: ProcSymlink(fs, path + b"/exe", exe_target, jump=lambda r: tg.exe_vd,
                                    uid=uid, gid=gid, check=check)
    for name in (b"cwd", b"root"):
        c[name] = (lambda name=name: ProcSymlink(  # type: ignore[misc]
            fs, path + b"/" + name,
            lambda r, name=name: vfs.path_for_task(r, _fs_vd(task, name)),  # type: ignore[misc]
            lambda r, name=name: _fs_vd(task, name), uid=uid, gid=gid, check=check,  # type: ignore[misc]
        ))
    c[b"fd"] = lambda: ProcDir(fs, path + b"/fd", lambda r: fd_children(fs, path, task),
                               0o500, uid, gid, size=lambda: _fd_count(task))
    if task is not None:
        c[b"ns"] = lambda: ProcDir(fs, path + b"/ns",
                                   lambda r: ns_children(fs, path, task, uid, gid, check),
                                   0o511, uid, gid)
    c[b"fdinfo"] = lambda: ProcDir(fs, path + b"/fdinfo", lambda r: fdinfo_children(fs, path, task),
                                   0o500, uid, gid)
    # The sandbox's one network namespace (sentry.fsimpl.proc.net).
    c[b"net"] = lambda: ProcDir(fs, path + b"/net", lambda r: net_children(fs, path + b"/net"))
    if is_process:
        c[b"task"] = lambda: ProcDir(fs, path + b"/task", lambda r: _threads(fs, path, tg))
    return c


def _statm(k: Any, tg: Any) -> bytes:
    """The host's page counts of the process (sizes only: nothing of the host shows), the
    size without the stub's pages (as VmSize)."""
    leader = tg.leader or next(iter(tg.tasks.values()), None)
    if leader is None or tg.zombie:
        return b"0 0 0 0 0 0 0\n"
    try:
        fields = k.host_file(f"{leader.host_tid}/statm").split()
    except OSError:
        return b"0 0 0 0 0 0 0\n"
    if fields and fields[0].isdigit():
        fields[0] = b"%d" % max(0, int(fields[0]) - (STUB_END - STUB_BASE) // 4096)
    return b" ".join(fields) + b"\n"


def _threads(fs: ProcFilesystem, path: bytes, tg: Any) -> Children:
    c: Children = {}
    for tid, task in sorted(tg.tasks.items()):
        p = path + b"/task/%d" % tid
        c[b"%d" % tid] = (lambda p=p, task=task: ProcDir(  # type: ignore[misc]
            fs, p, lambda r: task_children(fs, p, tg, task, False),
            uid=task.creds.euid, gid=task.creds.egid,
        ))
    return c


def _fs_vd(task: Any, which: bytes) -> VirtualDentry:
    if task is None or task.fs is None:
        raise err(errno.ENOENT)
    return task.fs.cwd if which == b"cwd" else task.fs.root


def _desc_vd(desc: Any) -> Optional[VirtualDentry]:
    if desc.vd is not None:
        return desc.vd
    if desc.inode is not None:
        from sentry.fsimpl.host.host import anon_vd

        return anon_vd(desc.inode, desc.anon_name or b"anon")
    return None


def _fd_count(task: Any) -> int:
    if task is None or task.fdtable is None:
        return 0
    return sum(1 for _ in task.fdtable)


def fd_children(fs: ProcFilesystem, path: bytes, task: Any) -> Children:
    c: Children = {}
    if task is None or task.fdtable is None:
        return c
    check = _may_inspect(None, task)
    for fd, desc in task.fdtable:
        c[b"%d" % fd] = (lambda fd=fd, desc=desc: ProcSymlink(  # type: ignore[misc]
            fs, path + b"/fd/%d" % fd,
            lambda r, desc=desc: fs.vfs.describe(r, desc),  # type: ignore[misc]
            lambda r, desc=desc: _desc_vd(desc),  # type: ignore[misc]
            uid=task.creds.euid, gid=task.creds.egid, check=check,
        ))
    return c


def fdinfo_children(fs: ProcFilesystem, path: bytes, task: Any) -> Children:
    c: Children = {}
    if task is None or task.fdtable is None:
        return c
    for fd, desc in task.fdtable:
        def info(r: Any, fd: int = fd, desc: Any = desc) -> bytes:
            try:
                pos = desc.offset
            except Exception:
                pos = 0
            cloexec = 0o2000000 if task.fdtable.lookup(fd) is desc and task.fdtable.get_cloexec(fd) else 0
            mnt = desc.vd.mount.id if desc.vd is not None else 0
            ino = desc.inode.ino if desc.inode is not None else 0
            return b"pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n" % (
                pos, desc.flags | cloexec, mnt, ino) + desc.fdinfo()

        c[b"%d" % fd] = (lambda fd=fd, info=info: ProcFile(  # type: ignore[misc]
            fs, path + b"/fdinfo/%d" % fd, info, 0o400, task.creds.euid, task.creds.egid))
    return c


def _comm(tg: Any) -> bytes:
    if tg.comm:
        return tg.comm[:15]
    exe = tg.exe_path if isinstance(tg.exe_path, bytes) else _b(tg.exe_path or "")
    return os.path.basename(exe)[:15]


def _maps(tg: Any) -> bytes:
    mm = tg.mm
    if mm is None:
        return b""
    text = mm.maps_text()
    return text.encode() if isinstance(text, str) else text


def _state(k: Any, task: Any, reader: Any = None) -> str:
    if task is None:
        return "Z (zombie)"
    if task is reader:
        # The reader is running (in this read); its host thread waits for the sentry's answer.
        return "R (running)"
    state = k.host_task_status(task.host_tid).get("State", "S (sleeping)")
    if state.startswith("t"):
        # Every workload thread is the sentry's host tracee, so any host stop is a tracing
        # stop: the sandbox's is one only for a stop its own tracer holds; a group stop
        # (the host task listening for the sentry) is "T", a stop of the sentry's own
        # (an injection, a call it runs to its exit) a sleep.
        st = task.ptrace
        if st is not None and st.stop is not None:
            return "t (tracing stop)"
        if task.group_stop or task.tg.stopped:
            return "T (stopped)"
        return "S (sleeping)"
    return state


def _without_stub_kb(value: str) -> str:
    """A host ``Vm*`` size (``"N kB"``) without the stub's pages, which every workload
    process maps and /proc/PID/maps does not show."""
    n, _, unit = value.partition(" ")
    try:
        return f"{max(0, int(n) - (STUB_END - STUB_BASE) // 1024)} {unit}"
    except ValueError:
        return value


def _pid_status(k: Any, tg: Any, task: Any, reader: Any = None) -> bytes:
    hold = getattr(k, "cpu_hold", None)
    if hold is not None and task is not None:
        hold.release_task(task, "/proc status")  # Cpus_allowed: its own mask
    host = k.host_task_status(task.host_tid) if task is not None else {}
    for key in ("VmPeak", "VmSize"):
        if key in host:
            host[key] = _without_stub_kb(host[key])
    cr = task.creds if task is not None else None
    tid = task.tid if task is not None else tg.tgid
    lines: List[str] = [
        f"Name:\t{_comm(tg).decode(errors='replace')}",
        f"Umask:\t{task.fs.umask:04o}" if task is not None and task.fs is not None else "Umask:\t0022",
        f"State:\t{_state(k, task, reader)}",
        f"Tgid:\t{tg.tgid}",
        "Ngid:\t0",
        f"Pid:\t{tid}",
        f"PPid:\t{tg.ppid}",
        f"TracerPid:\t{task.ptrace.tracer.tid if task is not None and task.ptrace else 0}",
    ]
    if cr is not None:
        lines.append(f"Uid:\t{cr.uid}\t{cr.euid}\t{cr.suid}\t{cr.fsuid}")
        lines.append(f"Gid:\t{cr.gid}\t{cr.egid}\t{cr.sgid}\t{cr.fsgid}")
        lines.append("FDSize:\t%d" % (task.fdtable.limit if task.fdtable is not None else 64))
        lines.append("Groups:\t" + " ".join(str(g) for g in cr.groups))
    lines += [f"NStgid:\t{tg.tgid}", f"NSpid:\t{tid}", f"NSpgid:\t{tg.pgid}", f"NSsid:\t{tg.sid}"]
    for key in ("VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon", "RssFile",
                "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE", "VmSwap"):
        if key in host:
            lines.append(f"{key}:\t{host[key]}")
    lines.append(f"Threads:\t{len(tg.tasks)}")
    for key in ("SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"):
        if key in host:
            lines.append(f"{key}:\t{host[key]}")
    if cr is not None:
        lines += [f"CapInh:\t{cr.inheritable:016x}", f"CapPrm:\t{cr.permitted:016x}",
                  f"CapEff:\t{cr.effective:016x}", f"CapBnd:\t{cr.bounding:016x}",
                  f"CapAmb:\t{cr.ambient:016x}"]
    lines.append(f"NoNewPrivs:\t{int(task is not None and task.no_new_privs)}")
    for key in ("Seccomp", "Cpus_allowed", "Cpus_allowed_list",
                "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
        if key in host:
            lines.append(f"{key}:\t{host[key]}")
    return ("\n".join(lines) + "\n").encode()


def _pid_stat(k: Any, tg: Any, task: Any, reader: Any = None) -> bytes:
    host: List[str] = []
    if task is not None and hasattr(k, "host_task_stat"):
        host = list(k.host_task_stat(task.host_tid))
    # Fields after "(comm)": 50 of them (fs/proc/array.c do_task_stat).
    f = host + ["0"] * (50 - len(host)) if len(host) < 50 else host[:50]
    state = _state(k, task, reader)[:1]
    f[0] = state
    f[1] = str(tg.ppid)
    f[2] = str(tg.pgid)
    f[3] = str(tg.sid)
    f[4] = "0"            # tty_nr
    f[5] = "-1"           # tpgid
    f[17] = str(len(tg.tasks))
    boot = getattr(k, "boot_time", None)
    f[19] = str(int(max(0.0, tg.start_time - boot) * 100)) if boot is not None else "0"
    if f[20].isdigit():
        f[20] = str(max(0, int(f[20]) - (STUB_END - STUB_BASE)))  # vsize, as VmSize
    for i in (25, 26, 27, 28, 29, 42, 43, 44, 45, 46, 47, 48):
        f[i] = "0"  # code/stack addresses: not the sentry's to reveal here
    tid = task.tid if task is not None else tg.tgid
    return b"%d (%s) %s\n" % (tid, _comm(tg), " ".join(f).encode())


def _limits(task: Any) -> bytes:
    from sentry.syscalls.linux.sys_process import get_rlimit

    def fmt(v: int) -> str:
        return "unlimited" if v >= RLIM_INFINITY else str(v)

    out = "Limit                     Soft Limit           Hard Limit           Units     \n"
    for res, (name, unit) in enumerate(LIMIT_NAMES):
        try:
            soft, hard = get_rlimit(task, res) if task is not None else (0, 0)
        except OSError:
            soft = hard = 0
        out += f"{name:<26}{fmt(soft):<21}{fmt(hard):<21}"
        out += f"{unit:<10}\n" if unit else "\n"
    return out.encode()


def _oom_adj(score_adj: int) -> int:
    """The legacy ``oom_adj`` view of ``oom_score_adj`` (C division, toward zero)."""
    if score_adj == OOM_SCORE_ADJ_MAX:
        return OOM_ADJUST_MAX
    return int(score_adj * -OOM_DISABLE / OOM_SCORE_ADJ_MAX)


def _write_oom(k: Any, t: Any, tg: Any, data: bytes, legacy: bool) -> int:
    """A write to oom_score_adj (or the legacy oom_adj): the sandbox's value, checked as
    ``__set_oom_adj`` does, and the workload's host process follows it, never below the
    value the sandbox started with (the engine's choice for the host's OOM killer)."""
    try:
        value = int(data.strip().decode("ascii"), 0)
    except (UnicodeDecodeError, ValueError):
        raise err(errno.EINVAL) from None
    if legacy:
        if not OOM_DISABLE <= value <= OOM_ADJUST_MAX:
            raise err(errno.EINVAL)
        value = (OOM_SCORE_ADJ_MAX if value == OOM_ADJUST_MAX
                 else int(value * OOM_SCORE_ADJ_MAX / -OOM_DISABLE))
    elif not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        raise err(errno.EINVAL)
    privileged = t is not None and t.creds.capable(cap.CAP_SYS_RESOURCE)
    if value < tg.oom_score_adj_min and not privileged:
        raise err(errno.EACCES)
    tg.oom_score_adj = value
    if privileged and not legacy:
        tg.oom_score_adj_min = value
    k.set_host_oom_score_adj(tg, value)
    return len(data)


def _oom_score(k: Any, tg: Any) -> bytes:
    leader = _leader(tg)
    if leader is None or tg.zombie:
        return b"0\n"
    try:
        return k.host_file(f"{leader.host_tid}/oom_score")
    except OSError:
        return b"0\n"


def _id_map(extents: Any) -> bytes:
    return b"".join(b"%10u %10u %10u\n" % tuple(e) for e in extents)


def _fs_options(m: Any) -> bytes:
    return b"," + m.options.encode() if m.options else b""


def _mounts(vfs: Any, task: Any) -> bytes:
    """/proc/PID/mounts (show_vfsmnt): ro/rw of mount or file system, the per-mount
    flags, the file system's options."""
    out = []
    for m, path in vfs.mount_entries(task):
        opts = show_mount_flags(m.readonly or m.fs.sb_readonly, m.flags).encode()
        out.append(b"%s %s %s %s%s 0 0\n" % (m.source.encode() or b"none", path,
                                            m.fs.fstype.encode(), opts, _fs_options(m)))
    return b"".join(out)


def _fs_root(m: Any) -> bytes:
    """The mount's root as a path inside its file system (``/sys`` for a bind of
    /proc/sys onto itself); ``/`` for a whole file system."""
    parts = []
    d = m.root
    while d.parent is not None:
        parts.append(d.name)
        d = d.parent
    return b"/" + b"/".join(reversed(parts))


def _mountinfo(vfs: Any, task: Any) -> bytes:
    """/proc/PID/mountinfo (show_mountinfo): the per-mount options, then after ``-`` the
    file system's type, source and superblock options."""
    out = []
    for m, path in vfs.mount_entries(task):
        parent = m.parent.id if m.parent is not None else m.id
        sb = b"ro" if m.fs.sb_readonly else b"rw"
        out.append(b"%d %d 0:%d %s %s %s - %s %s %s%s\n" % (
            m.id, parent, m.fs.dev, _fs_root(m), path,
            show_mount_flags(m.readonly, m.flags).encode(), m.fs.fstype.encode(),
            m.source.encode() or b"none", sb, _fs_options(m),
        ))
    return b"".join(out)
