"""The container's cgroup: where the whole sandbox (sentry, gofer, every workload process)
runs, with config.json's ``linux.resources`` applied.

Both layouts are handled: cgroup v1 (one hierarchy per controller; these machines are
"hybrid", with an almost empty cgroup2 at ``unified`` that runc also joins) and the unified
v2 hierarchy. ``cgroupsPath`` is a path below each hierarchy's root, or the systemd
driver's ``slice:prefix:name``, turned into the path systemd would use
(``/system.slice/prefix-name.scope``) without asking systemd, as runc's cgroupfs driver does
when systemd is absent. Empty: ``/<id>``, runc's default.

``pause``/``resume`` do not use the freezer: a workload thread waiting for the sentry's
answer to a trapped syscall sleeps killable, which the freezer cannot freeze, so the cgroup
would stay ``FREEZING``; the sentry stops its tasks itself (see ``Kernel.pause``).
"""

from __future__ import annotations

import errno
import os
import time
from sentry.records import dataclass

from runsc_py.errors import InvalidSpec, StateError, quote
from runsc_py.log import logger

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices")
_PERIOD_DEFAULT = 100000


@dataclass
class Hierarchy:
    mountpoint: str
    controllers: frozenset[str]  # empty for the v2 hierarchy (or a named v1 one)
    v2: bool


def hierarchies() -> list[Hierarchy]:
    """The cgroup hierarchies this process sees, from /proc/self/mountinfo."""
    out: list[Hierarchy] = []
    seen: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or fields[3] != "/":
            continue
        fstype, mountpoint = rest[0], fields[4].replace("\\040", " ")
        if fstype == "cgroup2":
            key = "v2"
            h = Hierarchy(mountpoint, frozenset(), True)
        elif fstype == "cgroup":
            ctrls = frozenset(o for o in rest[2].split(",") if o in V1_CONTROLLERS)
            if not ctrls:
                continue
            key = ",".join(sorted(ctrls))
            h = Hierarchy(mountpoint, ctrls, False)
        else:
            continue
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def cgroup_path(spec_path: str | None, container_id: str) -> str:
    """config.json's ``linux.cgroupsPath`` as a path below the hierarchy roots.

    :raises InvalidSpec: a relative path with ``..``, or a malformed systemd triple.
    """
    if not spec_path:
        return "/" + container_id
    if ":" in spec_path:
        parts = spec_path.split(":")
        if len(parts) != 3:
            raise InvalidSpec(
                f"linux.cgroupsPath {quote(spec_path)}: expected slice:prefix:name"
            )
        slice_, prefix, name = parts
        slice_ = slice_ or "system.slice"
        if not slice_.endswith(".slice") or "/" in slice_:
            raise InvalidSpec(f"linux.cgroupsPath {quote(spec_path)}: bad slice")
        # a-b-c.slice lives in /a.slice/a-b.slice/a-b-c.slice
        stem = slice_[: -len(".slice")]
        dirs, acc = [], []
        for piece in stem.split("-") if stem != "-" else []:
            acc.append(piece)
            dirs.append("-".join(acc) + ".slice")
        unit = name if name.endswith(".slice") else (f"{prefix}-{name}.scope" if prefix else
                                                     f"{name}.scope")
        return "/" + "/".join([*dirs, unit])
    path = os.path.normpath("/" + spec_path)
    if any(p == ".." for p in spec_path.split("/")):
        raise InvalidSpec(f"linux.cgroupsPath {quote(spec_path)} must not contain '..'")
    return path


class Cgroup:
    """The container's cgroup in every hierarchy."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.hierarchies = hierarchies()

    def dirs(self) -> Iterator[tuple[Hierarchy, str]]:
        for h in self.hierarchies:
            yield h, os.path.join(h.mountpoint, self.path.lstrip("/"))

    def _dir(self, controller: str) -> str | None:
        """The directory that holds *controller*'s files (the v2 one on a pure v2 host)."""
        v2_only = self.v2_only
        for h, d in self.dirs():
            if controller in h.controllers or (h.v2 and v2_only):
                return d
        return None

    @property
    def v2_only(self) -> bool:
        return bool(self.hierarchies) and all(h.v2 for h in self.hierarchies)

    def create(self) -> None:
        """:raises StateError: a directory cannot be made."""
        for h, d in self.dirs():
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as e:
                self.destroy()
                raise StateError(f"cannot create cgroup {d}: {e.strerror}") from None
            if "cpuset" in h.controllers:
                _inherit_cpuset(h.mountpoint, d)
        if self.v2_only:
            _enable_v2_controllers(self.hierarchies[0].mountpoint, self.path)

    def join_self(self) -> Callable[[list[int]], None]:
        """Move the calling process into the cgroup: now into every hierarchy that counts
        or limits it, and into the others by the function returned, which moves the
        processes given there too (the caller's children made in between, which were
        born in the rest).

        A move whose writer takes the cgroup core's thread-group lock waits for an RCU
        grace period when no other move took it lately (~10-25 ms here, the first write
        of a ``run``): every write to a ``cgroup.procs`` does, and a v1 hierarchy's
        ``tasks`` written "0" by a single-threaded process does not.  On a "hybrid" host
        (these machines) the v2 hierarchy has no controller enabled and the v1 ones hold
        them all (memory, pids): the caller joins those by ``tasks`` and returns, and
        the v2 move, which only places the processes for the hierarchy's readers
        (systemd, runc's own bookkeeping), is made once the caller has something to do
        meanwhile (the sandbox process: a prestarted sentry importing).  Elsewhere (pure
        v2, a v2 hierarchy with controllers, a threaded caller) everything is joined
        now and the function returned moves only the processes given.

        :raises StateError: it cannot be moved.
        """
        try:
            single = len(os.listdir("/proc/self/task")) == 1
        except OSError:
            single = False  # not known: every hierarchy now, by cgroup.procs
        later: list[str] = []
        for h, d in self.dirs():
            if not h.v2 and single:
                _join(d, "tasks", 0)
            elif h.v2 and single and not _v2_controllers(d):
                later.append(d)
            else:
                _join(d, "cgroup.procs", 0)

        def rest(pids: list[int]) -> None:
            for d in later:
                for pid in (0, *pids):
                    _join(d, "cgroup.procs", pid)

        return rest

    def apply(self, resources: dict[str, Any]) -> None:
        """Write ``linux.resources`` (memory, cpu, pids) to the controllers.

        :raises InvalidSpec: the kernel refused a value (its errno says why).
        """
        writes: list[tuple[str | None, str, str]] = []
        v2 = self.v2_only
        mem = resources.get("memory") or {}
        if mem.get("limit") is not None:
            limit = int(mem["limit"])
            if v2:
                writes.append((self._dir("memory"), "memory.max", _v2max(limit)))
            else:
                writes.append((self._dir("memory"), "memory.limit_in_bytes", str(limit)))
            if mem.get("swap") is not None and not v2:
                writes.append((self._dir("memory"), "memory.memsw.limit_in_bytes",
                               str(int(mem["swap"]))))
        if mem.get("reservation") is not None:
            name = "memory.low" if v2 else "memory.soft_limit_in_bytes"
            writes.append((self._dir("memory"), name, str(int(mem["reservation"]))))
        cpu = resources.get("cpu") or {}
        if cpu.get("shares"):
            shares = int(cpu["shares"])
            if v2:
                weight = 1 + ((shares - 2) * 9999) // 262142 if shares >= 2 else 1
                writes.append((self._dir("cpu"), "cpu.weight", str(weight)))
            else:
                writes.append((self._dir("cpu"), "cpu.shares", str(shares)))
        if cpu.get("quota") is not None or cpu.get("period") is not None:
            period = int(cpu.get("period") or _PERIOD_DEFAULT)
            quota = int(cpu["quota"]) if cpu.get("quota") is not None else -1
            if v2:
                writes.append((self._dir("cpu"), "cpu.max",
                               f"{quota if quota > 0 else 'max'} {period}"))
            else:
                writes.append((self._dir("cpu"), "cpu.cfs_period_us", str(period)))
                writes.append((self._dir("cpu"), "cpu.cfs_quota_us", str(quota)))
        if cpu.get("cpus"):
            writes.append((self._dir("cpuset"), "cpuset.cpus", str(cpu["cpus"])))
        if cpu.get("mems"):
            writes.append((self._dir("cpuset"), "cpuset.mems", str(cpu["mems"])))
        pids = resources.get("pids") or {}
        # 0 is runc's "not set" (a pids.max of 0 would refuse every fork).
        if pids.get("limit"):
            writes.append((self._dir("pids"), "pids.max", _v2max(int(pids["limit"]))))
        for d, name, value in writes:
            if d is None:
                logger.debug("cgroup: no hierarchy for %s", name)
                continue
            try:
                _write(os.path.join(d, name), value)
            except OSError as e:
                raise InvalidSpec(
                    f"linux.resources: cannot set {name} to {value}: {e.strerror}"
                ) from None

    # -- stats ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """cpu, memory and pids usage in the shape of ``runc events --stats``'s ``data``."""
        v2 = self.v2_only
        data: dict[str, Any] = {}
        cpu_dir = self._dir("cpuacct") if not v2 else self._dir("cpu")
        if cpu_dir is not None:
            if v2:
                kv = _keyed(os.path.join(cpu_dir, "cpu.stat"))
                data["cpu"] = {"usage": {"total": kv.get("usage_usec", 0) * 1000,
                                         "user": kv.get("user_usec", 0) * 1000,
                                         "kernel": kv.get("system_usec", 0) * 1000},
                               "throttling": {}}
            else:
                total = _int(os.path.join(cpu_dir, "cpuacct.usage"))
                kv = _keyed(os.path.join(cpu_dir, "cpuacct.stat"))
                tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
                data["cpu"] = {"usage": {"total": total, "user": kv.get("user", 0) * tick,
                                         "kernel": kv.get("system", 0) * tick},
                               "throttling": {}}
        mem_dir = self._dir("memory")
        if mem_dir is not None:
            if v2:
                usage = _int(os.path.join(mem_dir, "memory.current"))
                limit = _int(os.path.join(mem_dir, "memory.max"))
                events = _keyed(os.path.join(mem_dir, "memory.events"))
                fail = events.get("oom", 0)
            else:
                usage = _int(os.path.join(mem_dir, "memory.usage_in_bytes"))
                limit = _int(os.path.join(mem_dir, "memory.limit_in_bytes"))
                fail = _int(os.path.join(mem_dir, "memory.failcnt"))
            data["memory"] = {"usage": {"usage": usage, "limit": limit, "failcnt": fail},
                              "raw": _keyed(os.path.join(mem_dir, "memory.stat"))}
        pids_dir = self._dir("pids")
        if pids_dir is not None:
            data["pids"] = {"current": _int(os.path.join(pids_dir, "pids.current")),
                            "limit": _int(os.path.join(pids_dir, "pids.max"))}
        return data

    def oom_kills(self) -> int:
        """How many processes the OOM killer ended in this cgroup so far."""
        d = self._dir("memory")
        if d is None:
            return 0
        name = "memory.events" if self.v2_only else "memory.oom_control"
        return _keyed(os.path.join(d, name)).get("oom_kill", 0)

    def destroy(self) -> None:
        """Remove the cgroup (its processes must be gone); never raises."""
        for _h, d in self.dirs():
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        logger.debug("cannot remove cgroup %s: %s", d, e.strerror)
                        break
                    time.sleep(0.01)  # the last process is still being torn down


def _join(d: str, name: str, pid: int) -> None:
    try:
        _write(os.path.join(d, name), str(pid))
    except OSError as e:
        raise StateError(f"cannot join cgroup {d}: {e.strerror}") from None


def _v2_controllers(d: str) -> str:
    """The controllers the v2 cgroup *d* has (its ``cgroup.controllers``: those its
    parent enables); "" on a hybrid host, whose controllers are the v1 hierarchies'."""
    try:
        with open(os.path.join(d, "cgroup.controllers"), encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return "?"  # unknown: as if it had some


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _v2max(value: int) -> str:
    return "max" if value < 0 else str(value)


def _int(path: str) -> int:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return 0
    if text == "max":
        return 0
    try:
        return int(text)
    except ValueError:
        return 0


def _keyed(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                k, _, v = line.partition(" ")
                try:
                    out[k] = int(v)
                except ValueError:
                    continue
    except OSError:
        pass
    return out


def _inherit_cpuset(root: str, leaf: str) -> None:
    """A new v1 cpuset cgroup is empty (no process can join): copy cpus/mems down."""
    rel = os.path.relpath(leaf, root)
    d = root
    for part in [] if rel == "." else rel.split(os.sep):
        parent, d = d, os.path.join(d, part)
        for name in ("cpuset.cpus", "cpuset.mems"):
            path = os.path.join(d, name)
            try:
                with open(path, encoding="ascii") as f:
                    if f.read().strip():
                        continue
                with open(os.path.join(parent, name), encoding="ascii") as f:
                    _write(path, f.read().strip())
            except OSError as e:
                logger.debug("cpuset %s: %s", path, e.strerror)


def _enable_v2_controllers(root: str, path: str) -> None:
    """Delegate the controllers down to the container's cgroup (v2)."""
    try:
        with open(os.path.join(root, "cgroup.controllers"), encoding="ascii") as f:
            ctrls = f.read().split()
    except OSError:
        return
    d = root
    for part in path.strip("/").split("/")[:-1] if path.strip("/") else []:
        for c in ctrls:
            try:
                _write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
            except OSError:
                pass
        d = os.path.join(d, part)
    for c in ctrls:
        try:
            _write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
        except OSError:
            pass
