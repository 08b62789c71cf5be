"""The sandbox's cgroup (``cgroup2`` at ``/sys/fs/cgroup``): its limits, as a container sees
its own cgroup through a cgroup namespace.

The sandbox is one cgroup, its root (``/proc/PID/cgroup`` says ``0::/``), read-only as a
container's ``/sys/fs/cgroup`` is.  Programs size themselves by it: a JVM's heap and
processor count, Go's ``GOMAXPROCS``, libuv's constrained memory read ``memory.max`` and
``cpu.max`` of the cgroup ``/proc/self/cgroup`` names, found through
``/proc/self/mountinfo``'s ``cgroup2`` mount; without one they take the host's.  The
values are the sandbox's configuration (``linux.resources``, ``do --memory-limit`` and
``--pids-limit``) and the sentry's counts, read at each open:

- ``memory.max`` the memory limit in whole pages (``max`` for none),
  ``memory.current`` the sum of the sandbox's processes' proportional set sizes on the
  host (a shared page once) plus what the sentry holds for it (tmpfs data, pipes: the
  memory account), ``memory.high``/``swap.max`` ``max``, ``memory.low``/``min`` 0;
- ``cpu.max`` the CFS quota and period (``max 100000`` for none), ``cpu.weight`` from
  the shares as runc converts them (100 for none);
- ``pids.max`` the pids limit, ``pids.current`` the tasks the sentry counts against it
  (children the host reaped for a wait dropped first);
- ``cpuset.cpus.effective`` the CPUs of the sentry's affinity at boot (as ``/sys``
  shows them);
- ``cgroup.procs``/``cgroup.threads`` the sandbox's processes and threads,
  ``cgroup.controllers`` ``cpuset cpu memory pids``, and the core files of a non-root
  cgroup; ``/proc/cgroups`` lists those controllers on the unified hierarchy.

Statistics the sentry does not keep (``cpu.stat``, ``memory.stat``, ``memory.events``,
``io.*``) are absent rather than made up.
"""

from __future__ import annotations

from sentry.fsimpl.proc.filesystem import ProcDir, ProcFile, ProcFilesystem
from sentry.vfs.file import DEFAULT_POLLMASK

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

CGROUP2_SUPER_MAGIC = 0x63677270
#: cpu.max's period when the configuration gives a quota without one (the kernel's default).
DEFAULT_PERIOD = 100_000


class CgroupFilesystem(ProcFilesystem):
    """One ``cgroup2`` instance: the sandbox's cgroup at its root (module docstring)."""

    fstype = "cgroup2"
    magic = CGROUP2_SUPER_MAGIC
    block_size = 4096
    sb_noexec = False
    dir_fsync = True

    def _make_root(self) -> ProcDir:
        # The CPUs at boot (build_mount_tree), before the sentry holds one for a task
        # (sentry.kernel.cpuhold), as /sys's lists.
        from sentry.vfs.mount_tree import affinity_list

        self.cpus = affinity_list()
        return ProcDir(self, b"/", lambda t: _children(self), mode=0o755)


def _max(v: "Optional[int]") -> bytes:
    return b"max\n" if not v or v <= 0 else b"%d\n" % v


def _memory_max(v: "Optional[int]") -> bytes:
    """A memory limit as the kernel keeps it: in whole pages."""
    return _max(v // 4096 * 4096 if v and v > 0 else v)


def cpu_max(cfg: Any) -> bytes:
    """``cpu.max``: ``$MAX $PERIOD`` (runc's conversion of quota and period)."""
    quota, period = getattr(cfg, "cpu_quota", None), getattr(cfg, "cpu_period", None)
    period = period if period and period > 0 else DEFAULT_PERIOD
    if quota is None or quota <= 0:
        return b"max %d\n" % period
    return b"%d %d\n" % (quota, period)


def cpu_weight(cfg: Any) -> bytes:
    """``cpu.weight`` from ``cpu.shares`` (runc's ConvertCPUSharesToCgroupV2Value: 2..262144
    onto 1..10000); 100 without shares."""
    shares = getattr(cfg, "cpu_shares", None)
    if not shares:
        return b"100\n"
    shares = min(max(shares, 2), 262144)
    return b"%d\n" % (1 + ((shares - 2) * 9999) // 262142)


def memory_current(k: Any) -> int:
    """What the sandbox holds, in whole pages: its processes' memory on the host, each
    page once (the sum of their proportional set sizes, ``smaps_rollup``'s ``Pss``: a
    page shared by N of them counts 1/N in each) and the sentry's memory account (tmpfs
    data, pipe pages)."""
    from sentry.kernel.memacct import ACCOUNT

    total = ACCOUNT.used
    for tg in list(k.thread_groups.values()):
        if tg.zombie or not tg.tasks:
            continue
        try:
            raw = k.host_file(f"{tg.host_tgid}/smaps_rollup")
            at = raw.index(b"\nPss:") + 5
            total += int(raw[at:raw.index(b"kB", at)]) * 1024
        except (OSError, ValueError):
            pass  # (gone meanwhile)
    return total // 4096 * 4096


def proc_cgroups() -> bytes:
    """``/proc/cgroups``: the controllers the sandbox's cgroup has, each on the unified
    hierarchy (0), as on a cgroup v2 host; a JVM reads it first to tell v2 from v1 (and
    wants cpuset, cpu, cpuacct and memory there)."""
    out = [b"#subsys_name\thierarchy\tnum_cgroups\tenabled\n"]
    for name in (b"cpuset", b"cpu", b"cpuacct", b"memory", b"pids"):
        out.append(b"%s\t0\t1\t1\n" % name)
    return b"".join(out)


def _procs(k: Any) -> bytes:
    return b"".join(b"%d\n" % tgid for tgid, tg in sorted(k.thread_groups.items())
                    if not tg.zombie and tg.tasks)


def _threads(k: Any) -> bytes:
    """The live threads: not a leader that has exited while its threads run on (the
    host's zombie, of which the sentry hears only when the last one goes)."""
    return b"".join(b"%d\n" % tid for tid in sorted(
        t.tid for t in list(k.tasks.values()) if not t.exited and not k.leader_gone(t)))


def _pids_current(k: Any) -> int:
    k.prune_reaped()  # (children the host reaped for a wait: no longer counted)
    return k.pids_in_use()


#: Files whose contents never change here (a cgroup without children, never frozen).
_FIXED = {
    b"cgroup.controllers": b"cpuset cpu memory pids\n", b"cgroup.subtree_control": b"\n",
    b"cgroup.type": b"domain\n", b"cgroup.events": b"populated 1\nfrozen 0\n",
    b"cgroup.freeze": b"0\n", b"cgroup.max.depth": b"max\n",
    b"cgroup.max.descendants": b"max\n",
    b"cgroup.stat": b"nr_descendants 0\nnr_dying_descendants 0\n",
    b"cpuset.cpus": b"\n", b"cpuset.mems": b"\n", b"cpuset.mems.effective": b"0\n",
    b"memory.high": b"max\n", b"memory.low": b"0\n", b"memory.min": b"0\n",
    b"memory.swap.max": b"max\n",
}


def _children(fs: CgroupFilesystem) -> "Dict[bytes, Any]":
    k = fs.kernel
    cfg = k.cfg
    files: "Dict[bytes, Callable[[Any], bytes]]" = {
        b"cgroup.procs": lambda r: _procs(k),
        b"cgroup.threads": lambda r: _threads(k),
        b"cpu.max": lambda r: cpu_max(cfg),
        b"cpu.weight": lambda r: cpu_weight(cfg),
        b"cpuset.cpus.effective": lambda r: fs.cpus,
        b"memory.max": lambda r: _memory_max(cfg.memory_limit),
        b"memory.current": lambda r: b"%d\n" % memory_current(k),
        b"pids.max": lambda r: _max(k.pids_limit),
        b"pids.current": lambda r: b"%d\n" % _pids_current(k),
    }
    for name, data in _FIXED.items():
        files[name] = lambda r, data=data: data  # type: ignore[misc]
    c: "Dict[bytes, Any]" = {}
    for name, fn in sorted(files.items()):
        # (cgroup files are 0644 or 0444; the mount is read-only either way)
        mode = 0o444 if name in _READ_ONLY else 0o644
        c[name] = (lambda name=name, fn=fn, mode=mode: ProcFile(  # type: ignore[misc]
            fs, b"/" + name, fn, mode, poll=DEFAULT_POLLMASK, read_iter=True))
    return c


#: The files the kernel makes read-only (the rest are 0644: a writable mount could set them).
_READ_ONLY = frozenset((
    b"cgroup.controllers", b"cgroup.events", b"cgroup.stat", b"memory.current",
    b"pids.current",
))
