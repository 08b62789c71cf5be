"""config.json as the container sees it, against runc: the same busybox bundle, configured the
way docker and podman send it, runs under ``runc run`` and under ``runsc-py run``, and the
workload's view must match.

Each test builds two copies of one bundle (runc writes into its rootfs and bind sources, so
each runtime gets its own), runs the same probe script in both, and compares what is
meaningful: capability sets and NoNewPrivs, resource limits (``ulimit -a`` and
/proc/self/limits), umask, ids, oom_score_adj, masked and read-only paths, sysctls, device
nodes, the per-mount options of the config's own mounts, noexec/nodev/nosuid, what the
capabilities allow, set-user-ID programs, user namespace mappings, and refusals. Not compared:
inode numbers, mount ids, file system types of bind mounts (the sandbox's are 9p), mounts
runc makes of kernel files the sandbox does not have (/proc/kcore, /proc/bus …, cgroup
mounts), and the sandbox's own /tmp tmpfs.

runc (/usr/sbin/runc) gets its own ``--root`` in the test's tmp dir; every container is
deleted with ``--force`` and no cgroup named after it may be left (the ``runsc_root``
fixture checks that no process is left and that runsc-py's root is empty).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.bundle import BUNDLE_ENV, copy_rootfs
from helpers.runner import Result, run, runsc, runsc_argv

RUNC = "/usr/sbin/runc"
TIMEOUT = 60.0

#: Docker's default capability set (moby's oci/caps/defaults.go), as docker sends it: the
#: same list in bounding, effective and permitted, nothing inheritable or ambient.
DOCKER_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip
MASKED = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
]  # fmt: skip
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def runc_spec_mounts() -> list[dict[str, Any]]:
    """The mounts ``runc spec`` writes (and docker and podman send, give or take options)."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]  # fmt: skip


def base_config(args: list[str]) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": BUNDLE_ENV,
            "cwd": "/",
            "capabilities": {k: list(DOCKER_CAPS) for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "cfgview",
        "mounts": runc_spec_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }


def sections(out: str) -> dict[str, list[str]]:
    """The probe's output split at its ``== name`` lines."""
    parts: dict[str, list[str]] = {}
    cur = parts.setdefault("", [])
    for line in out.splitlines():
        if line.startswith("== "):
            cur = parts.setdefault(line[3:], [])
        else:
            cur.append(line)
    return parts


def mountinfo(lines: list[str]) -> dict[str, tuple[frozenset[str], str, frozenset[str]]]:
    """mount point → (per-mount options, file system type, superblock options)."""
    out = {}
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        out[fields[4]] = (frozenset(fields[5].split(",")), rest[0],
                          frozenset(rest[2].split(",")) if len(rest) > 2 else frozenset())
    return out


def leftover_cgroups(cid: str) -> list[str]:
    root = Path("/sys/fs/cgroup")
    found: list[str] = []
    for depth in range(1, 5):
        found += [str(p) for p in root.glob("/".join(["*"] * depth + [cid])) if p.is_dir()]
    return found


class Pair:
    """Bundles for runc and runsc-py made from one config, and runs of both."""

    def __init__(self, rootfs: Path, tmp: Path, runsc_root: Path, probe: Path) -> None:
        self.rootfs, self.tmp, self.runsc_root, self.probe = rootfs, tmp, runsc_root, probe
        self.runc_root = tmp / "runc-root"
        self.runc_root.mkdir()
        self.token = secrets.token_hex(3)
        self.n = 0

    def _bundle(self, name: str, make: Callable[[Path], dict[str, Any]]) -> Path:
        bundle = self.tmp / name
        bundle.mkdir()
        rootfs = copy_rootfs(self.rootfs, bundle / "rootfs")
        shutil.copy2(self.probe, rootfs / "bin" / "credprobe")
        (rootfs / "mnt").mkdir(exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(make(bundle)))
        return bundle

    def run(self, make: Callable[[Path], dict[str, Any]]) -> tuple[Result, Result]:
        """Run the config *make(bundle)* builds under runc, then under runsc-py."""
        self.n += 1
        cid = f"cv{self.token}{self.n}"
        runc_bundle = self._bundle(f"runc{self.n}", make)
        runsc_bundle = self._bundle(f"runsc{self.n}", make)
        runc_argv = [RUNC, "--root", str(self.runc_root)]
        try:
            ref = run([*runc_argv, "run", "--bundle", str(runc_bundle), cid], timeout=TIMEOUT)
        finally:
            run([*runc_argv, "delete", "--force", cid], timeout=TIMEOUT)
        try:
            box = runsc(["run", "--bundle", str(runsc_bundle), cid], root=self.runsc_root,
                        timeout=TIMEOUT)
        finally:
            runsc(["delete", "--force", cid], root=self.runsc_root, timeout=TIMEOUT)
        assert not leftover_cgroups(cid), leftover_cgroups(cid)
        return ref, box


@pytest.fixture
def pair(busybox_rootfs: Path, tmp_path: Path, runsc_root: Path,
         c_program: Callable[..., Path]) -> Pair:
    if not os.access(RUNC, os.X_OK):
        pytest.fail(f"{RUNC} is missing: the reference runtime is part of the test setup "
                    "(apt-get install runc, scripts/test.sh does)", pytrace=False)
    probe = c_program("tests/oci/src/credprobe.c", static=True)
    return Pair(busybox_rootfs, tmp_path, runsc_root, probe)


def _both_ok(ref: Result, box: Result) -> None:
    assert ref.rc == 0, "runc:\n" + ref.describe()
    assert box.rc == 0, "runsc-py:\n" + box.describe()


# -- the docker-shaped config ------------------------------------------------------------------

VIEW_SCRIPT = r"""
echo "== caps"; grep -E '^(Cap|NoNewPrivs)' /proc/self/status
echo "== credprobe"; credprobe ids
echo "== ulimit"; ulimit -a
echo "== limits"; cat /proc/self/limits
echo "== umask"; umask
echo "== id"; id
echo "== oom"; cat /proc/self/oom_score_adj
echo 600 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj
echo "== masked file"; cat /mnt/rw/masked-file; echo "rc=$?"
echo "== masked dir"; ls -A /mnt/rw/masked-dir | wc -l; touch /mnt/rw/masked-dir/x 2>&1; echo "rc=$?"
echo "== readonly"; touch /mnt/rw/ro-sub/x 2>&1; echo "rc=$?"; touch /mnt/rw/fine; echo "rc=$?"
echo "== proc sys"; touch /proc/sys/kernel/shmmni 2>&1; echo "rc=$?"
echo "== sysctl"
for k in kernel/shmmax kernel/sem fs/mqueue/msg_max kernel/domainname \
         net/ipv4/ping_group_range net/ipv4/ip_unprivileged_port_start; do
  echo "$k=$(cat /proc/sys/$k)"
done
echo "== uname"; uname -n
echo "== devices"
stat -c '%n %F %t:%T %a %u:%g' /dev/null /dev/zero /dev/full /dev/random /dev/urandom \
  /dev/tty /dev/shm/null2 /dev/fifo
for l in ptmx fd stdin stdout stderr; do echo "$l -> $(readlink /dev/$l)"; done
echo "== nodev"; cat /dev/shm/null2 2>&1; echo "rc=$?"; cat /dev/null; echo "rc=$?"
echo "== noexec"; /mnt/ro/busybox true 2>&1; echo "rc=$?"; /mnt/rw/busybox true; echo "rc=$?"
cp /bin/busybox /mnt/tmp/bb; credprobe access /mnt/ro/busybox /mnt/rw/busybox /mnt/tmp/bb \
  /mnt/tmp /bin/busybox
echo "== ro"; touch /mnt/ro/x 2>&1; echo "rc=$?"
echo "== tmpfs"; stat -c '%a %u:%g' /mnt/tmp; touch /mnt/tmp/f; echo "rc=$?"
echo "== mountinfo"; cat /proc/self/mountinfo
"""

#: The mounts of the config itself (and of its masked/read-only paths) whose options compare.
OWN_MOUNTS = [
    "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/mnt/rw", "/mnt/ro",
    "/mnt/tmp", "/proc/sys", "/mnt/rw/masked-dir", "/mnt/rw/masked-file", "/mnt/rw/ro-sub",
]  # fmt: skip
#: Those whose file system is the same kind in both (not a host file system seen through the
#: gofer), so type and superblock options compare too.
SAME_FS = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/mnt/tmp",
           "/proc/sys", "/mnt/rw/masked-dir", "/mnt/rw/masked-file"]


def docker_like(bundle: Path) -> dict[str, Any]:
    """A config as docker/podman send it, with every field of issue 5 item 10 set."""
    rw, ro = bundle / "rw", bundle / "ro"
    for d in (rw, ro, rw / "masked-dir", rw / "ro-sub"):
        d.mkdir()
    (rw / "masked-dir" / "secret").write_text("hidden\n")
    (rw / "masked-file").write_text("hidden\n")
    for d in (rw, ro):
        shutil.copy2(bundle / "rootfs" / "bin" / "busybox", d / "busybox")
    cfg = base_config(["sh", "-c", VIEW_SCRIPT])
    proc = cfg["process"]
    proc["user"] = {"uid": 0, "gid": 0, "umask": 0o027, "additionalGids": [10, 20]}
    proc["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_NPROC", "hard": 1024, "soft": 512},
        {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
        {"type": "RLIMIT_STACK", "hard": 8388608, "soft": 4194304},
        {"type": "RLIMIT_MEMLOCK", "hard": 65536, "soft": 65536},
        {"type": "RLIMIT_FSIZE", "hard": 2097152, "soft": 1048576},
        {"type": "RLIMIT_MSGQUEUE", "hard": 409600, "soft": 204800},
    ]
    proc["oomScoreAdj"] = 500
    cfg["mounts"] += [
        {"destination": "/mnt/rw", "type": "bind", "source": str(rw), "options": ["rbind", "rprivate"]},
        {"destination": "/mnt/ro", "type": "bind", "source": str(ro),
         "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
        {"destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1770", "uid=5", "gid=6"]},
    ]  # fmt: skip
    linux = cfg["linux"]
    linux["maskedPaths"] += ["/mnt/rw/masked-dir", "/mnt/rw/masked-file", "/no/such/path"]
    linux["readonlyPaths"] += ["/mnt/rw/ro-sub", "/no/such/other"]
    linux["sysctl"] = {
        "kernel.shmmax": "1000000",
        "kernel.sem": "250 32000 32 128",
        "fs.mqueue.msg_max": "20",
        "kernel.domainname": "cfgview.example",
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "0",
    }
    linux["devices"] = [
        {"path": "/dev/shm/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 5, "gid": 6},
        {"path": "/dev/fifo", "type": "p", "fileMode": 0o600},
    ]
    return cfg


def test_docker_config_seen_as_runc_shows_it(pair: Pair) -> None:
    ref, box = pair.run(docker_like)
    _both_ok(ref, box)
    want, got = sections(ref.stdout), sections(box.stdout)
    for name in ("caps", "credprobe", "ulimit", "limits", "umask", "id", "oom", "masked file",
                 "masked dir", "readonly", "proc sys", "sysctl", "uname", "devices", "nodev",
                 "noexec", "ro", "tmpfs"):
        assert got.get(name) == want.get(name), (
            f"section {name!r}:\nrunc:     {want.get(name)}\nrunsc-py: {got.get(name)}\n"
            + box.describe())
    # What the fields say, not only that both agree.
    assert want["caps"][2] == "CapEff:\t00000000a80425fb", want["caps"]
    assert want["caps"][-1] == "NoNewPrivs:\t1"
    assert want["umask"] == ["0027"] and want["oom"] == ["500", "600"]
    assert want["masked file"] == ["rc=0"] and want["masked dir"][0] == "0"
    assert "Read-only file system" in want["readonly"][0]
    assert "Permission denied" in want["noexec"][0] and want["noexec"][1] == "rc=126"
    # access(2)'s X_OK of a regular file on a noexec mount is EACCES, whatever its mode
    for path in ("/mnt/ro/busybox", "/mnt/tmp/bb"):
        assert f"{path} X_OK=Permission denied R_OK=ok" in "\n".join(want["noexec"]), path
    ref_mounts, box_mounts = mountinfo(want["mountinfo"]), mountinfo(got["mountinfo"])
    for point in OWN_MOUNTS:
        assert point in box_mounts, f"{point} not mounted in the sandbox:\n{box.stdout}"
        assert box_mounts[point][0] == ref_mounts[point][0], (
            point, ref_mounts[point], box_mounts[point])
    for point in SAME_FS:
        assert box_mounts[point][1:] == ref_mounts[point][1:], (
            point, ref_mounts[point], box_mounts[point])
    # Masked and read-only paths that the sandbox does not have are skipped, as runc skips
    # the ones it does not have (/no/such/path), and nothing else is mounted on them.
    assert "/no/such/path" not in box_mounts and "/no/such/other" not in box_mounts


# -- the container's cgroup: its limits as the workload reads them ---------------------------

# runc mounts the host's hierarchies (v1 here: a directory a controller, cpu shares; v2: one
# cgroup); the sandbox its own cgroup v2.  The probe reads whichever is there and prints what
# a program sizing itself takes from it.
CGROUP_SCRIPT = r"""
cg=/sys/fs/cgroup
first() { for f in "$@"; do if [ -r "$cg/$f" ]; then cat "$cg/$f"; return; fi; done; echo none; }
echo "== memory"; first memory.max memory/memory.limit_in_bytes
echo "== pids"; first pids.max pids/pids.max
if [ -r $cg/cpu.max ]; then read q p < $cg/cpu.max; w=$(cat $cg/cpu.weight)
else q=$(first cpu/cpu.cfs_quota_us); p=$(first cpu/cpu.cfs_period_us)
     w=$(( 1 + ($(first cpu/cpu.shares) - 2) * 9999 / 262142 )); fi
echo "== cpu"; echo "quota $q period $p weight $w"
echo "== write"; f=$cg/pids.max; [ -e $f ] || f=$cg/pids/pids.max; echo 5 2>&1 > $f; echo "rc=$?"
echo "== fstype"; grep -c ' /sys/fs/cgroup[/ ].* - cgroup2\? ' /proc/self/mountinfo
"""


def test_cgroup_limits_seen_as_runc_shows_them(pair: Pair) -> None:
    def make(bundle: Path) -> dict[str, Any]:
        cfg = base_config(["sh", "-c", CGROUP_SCRIPT])
        cfg["linux"]["resources"].update({
            "memory": {"limit": 100_000_000}, "pids": {"limit": 64},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
        })
        return cfg

    ref, box = pair.run(make)
    _both_ok(ref, box)
    want, got = sections(ref.stdout), sections(box.stdout)
    # (the kernel keeps a memory limit in whole pages)
    assert want["memory"] == [str(100_000_000 // 4096 * 4096)] and want["pids"] == ["64"], ref.stdout
    assert want["cpu"] == ["quota 50000 period 100000 weight 20"], ref.stdout
    for name in ("memory", "pids", "cpu"):
        assert got[name] == want[name], (name, want[name], got[name], box.describe())
    # read-only, as runc mounts it; and found as a cgroup mount (v2: one line, cgroup2)
    assert "Read-only file system" in want["write"][0] and want["write"][1] == "rc=1"
    assert "Read-only file system" in got["write"][0] and got["write"][1] == "rc=1", box.stdout
    assert int(want["fstype"][0]) >= 1 and got["fstype"] == ["1"], box.stdout


# -- capabilities: what root may do -------------------------------------------------------------

CAPS_SCRIPT = r"""
echo "== chown"; chown 5 /tmp/mine 2>&1; echo "rc=$?"
echo "== dac"; cat /secret 2>&1; echo "rc=$?"; echo x >> /secret 2>&1; echo "rc=$?"
echo "== search"; ls /private 2>&1; echo "rc=$?"
echo "== fowner"; chmod 600 /theirs 2>&1; echo "rc=$?"; touch -d '2001-01-01' /theirs 2>&1; echo "rc=$?"
echo "== hostname"; hostname other 2>&1; echo "rc=$?"
echo "== chroot"; chroot / true 2>&1; echo "rc=$?"
echo "== mknod"; mknod /tmp/p p 2>&1; echo "rc=$?"
echo "== kill"; credprobe kill
echo "== bind"; credprobe bind 80; credprobe bind 8080
echo "== setuid"; credprobe setuid
"""


def _caps_bundle(caps: list[str]) -> Callable[[Path], dict[str, Any]]:
    def make(bundle: Path) -> dict[str, Any]:
        rootfs = bundle / "rootfs"
        (rootfs / "tmp" / "mine").write_text("root's\n")
        for name, mode in (("secret", 0o600), ("theirs", 0o644)):
            (rootfs / name).write_text("uid 5's\n")
            os.chown(rootfs / name, 5, 5)
            os.chmod(rootfs / name, mode)
        (rootfs / "private").mkdir()
        os.chown(rootfs / "private", 5, 5)
        os.chmod(rootfs / "private", 0o700)
        cfg = base_config(["sh", "-c", CAPS_SCRIPT])
        cfg["process"]["capabilities"] = {k: list(caps)
                                          for k in ("bounding", "effective", "permitted")}
        return cfg

    return make


@pytest.mark.parametrize(
    "caps",
    [
        pytest.param(DOCKER_CAPS, id="docker-default"),
        pytest.param(["CAP_AUDIT_WRITE"], id="almost-none"),
        pytest.param(DOCKER_CAPS + ["CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH"], id="more"),
        pytest.param([c for c in DOCKER_CAPS if c not in ("CAP_KILL", "CAP_DAC_OVERRIDE")],
                     id="no-kill-no-dac-override"),
    ],
)
def test_capabilities_decide_what_root_may_do(pair: Pair, caps: list[str]) -> None:
    ref, box = pair.run(_caps_bundle(caps))
    _both_ok(ref, box)
    want, got = sections(ref.stdout), sections(box.stdout)
    assert got == want, f"runc:\n{ref.stdout}\nrunsc-py:\n{box.stdout}\n{box.stderr}"
    denied = {name for name, lines in want.items() if name and lines[-1] == "rc=1"}
    if caps is DOCKER_CAPS:
        assert denied == {"hostname"}, want  # no CAP_SYS_ADMIN
    elif "CAP_SYS_ADMIN" in caps:
        assert not denied, want
    elif "CAP_SETUID" in caps:
        assert denied == {"dac", "search", "hostname"}, want
    else:
        assert denied == {"chown", "dac", "search", "fowner", "hostname", "chroot"}, want
        assert want["bind"] == ["bind 80=Permission denied", "bind 8080=ok"], want
        assert want["kill"][0] == "child-setresuid=failed", want
    if "CAP_SETUID" in caps and "CAP_KILL" not in caps:
        assert want["kill"][1] == "kill=Operation not permitted", want


# -- set-user-ID programs: nosuid mounts and noNewPrivileges ------------------------------------


def _suid_bundle(no_new_privs: bool) -> Callable[[Path], dict[str, Any]]:
    def make(bundle: Path) -> dict[str, Any]:
        host = bundle / "suid-host"
        host.mkdir()
        rootfs = bundle / "rootfs"
        for target in (rootfs / "bin" / "suidprobe", host / "suidprobe"):
            shutil.copy2(rootfs / "bin" / "credprobe", target)
            os.chown(target, 0, 0)
            os.chmod(target, 0o4755)
        cfg = base_config(["sh", "-c",
                           "echo '== plain'; credprobe ids; echo '== suid'; suidprobe ids;"
                           " echo '== nosuid'; /mnt/nosuid/suidprobe ids;"
                           " echo '== status'; grep -E '^(Cap|NoNewPrivs)' /proc/self/status"])
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["noNewPrivileges"] = no_new_privs
        cfg["process"]["capabilities"] = {"bounding": list(DOCKER_CAPS)}
        cfg["mounts"].append({"destination": "/mnt/nosuid", "type": "bind", "source": str(host),
                              "options": ["rbind", "nosuid"]})
        return cfg

    return make


@pytest.mark.parametrize("no_new_privs", [False, True], ids=["privs", "no-new-privs"])
def test_setuid_programs(pair: Pair, no_new_privs: bool) -> None:
    ref, box = pair.run(_suid_bundle(no_new_privs))
    _both_ok(ref, box)
    assert sections(box.stdout) == sections(ref.stdout), (
        f"runc:\n{ref.stdout}\nrunsc-py:\n{box.stdout}")
    suid = sections(ref.stdout)["suid"][0]
    assert ("euid=1000" if no_new_privs else "euid=0 ") in suid, suid


# -- user namespace mappings -------------------------------------------------------------------


@pytest.fixture
def userns_pair(busybox_rootfs: Path, runsc_root: Path,
                c_program: Callable[..., Path]) -> Iterator[Pair]:
    """A :class:`Pair` whose bundles the mapped root (host uid 100000) can reach under runc:
    outside pytest's 0700 tmp tree, in a directory others may search."""
    tmp = Path(tempfile.mkdtemp(prefix="cv", dir="/tmp"))
    try:
        os.chmod(tmp, 0o711)
        yield Pair(busybox_rootfs, tmp, runsc_root, c_program("tests/oci/src/credprobe.c",
                                                                static=True))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_user_namespace_mappings(userns_pair: Pair) -> None:
    def make(bundle: Path) -> dict[str, Any]:
        data = bundle / "data"
        data.mkdir()
        (data / "f").write_text("host root's\n")
        (bundle / "rootfs" / "mnt" / "data").mkdir()  # the mapped root could not make it
        os.chmod(bundle, 0o711)
        cfg = base_config(["sh", "-c",
                           "echo '== maps'; cat /proc/self/uid_map /proc/self/gid_map;"
                           " echo '== id'; id;"
                           " echo '== owners'; stat -c '%n %u:%g' / /bin/busybox /dev /proc/uptime"
                           " /mnt/data/f;"
                           " echo '== write'; echo x > /mnt/data/f 2>&1; echo rc=$?;"
                           " touch /mnt/data/new 2>&1; echo rc=$?"])
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["mounts"].append({"destination": "/mnt/data", "type": "bind", "source": str(data),
                              "options": ["rbind"]})
        return cfg

    ref, box = userns_pair.run(make)
    _both_ok(ref, box)
    assert sections(box.stdout) == sections(ref.stdout), (
        f"runc:\n{ref.stdout}\nrunsc-py:\n{box.stdout}")
    assert sections(ref.stdout)["maps"] == ["         0     100000      65536"] * 2


# -- refusals ------------------------------------------------------------------------------------


def _edit(fn: Callable[[dict[str, Any]], None]) -> Callable[[Path], dict[str, Any]]:
    def make(bundle: Path) -> dict[str, Any]:
        cfg = base_config(["true"])
        fn(cfg)
        return copy.deepcopy(cfg)

    return make


def _sysctl(keys: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    return lambda c: c["linux"].__setitem__("sysctl", keys)


@pytest.mark.parametrize(
    ("edit", "runc_words", "runsc_words"),
    [
        pytest.param(_sysctl({"kernel.panic": "1"}),
                     'sysctl "kernel.panic" is not in a separate kernel namespace', None,
                     id="sysctl-host"),
        pytest.param(_sysctl({"vm.overcommit_memory": "1"}),
                     'sysctl "vm.overcommit_memory" is not in a separate kernel namespace', None,
                     id="sysctl-vm"),
        pytest.param(_sysctl({"kernel.hostname": "x"}),
                     'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI '
                     '"hostname" field', None, id="sysctl-hostname"),
        pytest.param(_sysctl({"net.ipv4.ip_forward": "yes"}),
                     "write /proc/sys/net/ipv4/ip_forward: invalid argument",
                     'sysctl "net.ipv4.ip_forward": invalid value "yes"', id="sysctl-value"),
        pytest.param(_sysctl({"net.bogus.key": "1"}),
                     "open /proc/sys/net/bogus/key: no such file or directory",
                     "no /proc/sys/net/bogus/key", id="sysctl-missing"),
        pytest.param(lambda c: c["process"].__setitem__(
            "rlimits", [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]),
                     "wrong rlimit value: RLIMIT_BOGUS", None, id="rlimit-type"),
        pytest.param(lambda c: c["process"].__setitem__(
            "rlimits", [{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}]),
                     "error setting rlimit type 7: invalid argument",
                     "soft limit 20 is above the hard limit 10", id="rlimit-soft-above-hard"),
        pytest.param(lambda c: c["process"]["capabilities"]["effective"].append("CAP_SYS_ADMIN"),
                     "unable to apply caps: operation not permitted",
                     "CAP_SYS_ADMIN not in process.capabilities.permitted", id="caps-not-permitted"),
        pytest.param(lambda c: c["linux"]["namespaces"].append({"type": "user"}),
                     "User namespaces enabled, but no uid mappings found", None,
                     id="userns-no-maps"),
    ],
)
def test_refused_like_runc(pair: Pair, edit: Callable[[dict[str, Any]], None],
                           runc_words: str, runsc_words: str | None) -> None:
    """What runc refuses, runsc-py refuses before starting anything: runc's words where the
    rule is runc's, the kernel's objection where runc only learns it from the kernel."""
    ref, box = pair.run(_edit(edit))
    # runc's log line quotes its message: its inner quotes are escaped.
    assert ref.rc != 0 and runc_words in ref.stderr.replace('\\"', '"'), ref.describe()
    assert box.rc != 0 and (runsc_words or runc_words) in box.stderr, box.describe()
    assert len(box.stderr.strip().splitlines()) == 1, box.describe()


def test_device_the_sandbox_cannot_emulate_is_refused(pair: Pair) -> None:
    """runc makes any node; the sandbox refuses what it would have to fake, in one line."""
    fuse = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}
    ref, box = pair.run(_edit(lambda c: c["linux"].__setitem__("devices", [fuse])))
    assert ref.rc == 0, ref.describe()
    assert box.rc != 0 and "/dev/fuse" in box.stderr, box.describe()
    assert "c 10:229" in box.stderr and len(box.stderr.strip().splitlines()) == 1, box.describe()


# -- exec: a process joining the container gets its view ------------------------------------

EXEC_SCRIPT = ("echo '== caps'; grep -E '^(Cap|NoNewPrivs)' /proc/self/status;"
               " echo '== limits'; ulimit -n; ulimit -u; echo '== oom'; cat /proc/self/oom_score_adj;"
               " echo '== id'; id")


def _start(argv: list[str], bundle: Path, cid: str, out: Path) -> int:
    """``create`` (its stdio on files: the container keeps them) then ``start``; returns the
    pid in --pid-file (the process that stands for the container, a child of this one)."""
    pid_file = out.with_suffix(".pid")
    with open(out, "wb") as fo:
        proc = subprocess.run([*argv, "create", "--bundle", str(bundle), "--pid-file",
                               str(pid_file), cid], stdin=subprocess.DEVNULL, stdout=fo,
                              stderr=fo, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, out.read_text()
    res = run([*argv, "start", cid], timeout=TIMEOUT)
    assert res.rc == 0, res.describe()
    return int(pid_file.read_text())


def test_exec_gets_the_containers_view(pair: Pair) -> None:
    """``exec`` with no process.json: the container's capabilities, no_new_privs, limits and
    oom_score_adj (runc exec builds its process from the container's)."""

    def make(bundle: Path) -> dict[str, Any]:
        cfg = base_config(["sleep", "30"])
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 512},
                                     {"type": "RLIMIT_NPROC", "hard": 300, "soft": 200}]
        cfg["process"]["oomScoreAdj"] = 300
        cfg["process"]["capabilities"] = {k: DOCKER_CAPS[:5]
                                          for k in ("bounding", "effective", "permitted")}
        return cfg

    pair.n += 1
    cid = f"cv{pair.token}x{pair.n}"
    outs = []
    for name, argv in (("runc", [RUNC, "--root", str(pair.runc_root)]),
                       ("runsc", runsc_argv() + ["--root", str(pair.runsc_root)])):
        bundle = pair._bundle(f"{name}-exec", make)
        pid = _start(argv, bundle, cid, pair.tmp / f"{name}-exec.out")
        try:
            outs.append(run([*argv, "exec", cid, "sh", "-c", EXEC_SCRIPT], timeout=TIMEOUT))
        finally:
            run([*argv, "delete", "--force", cid], timeout=TIMEOUT)
            os.waitpid(pid, 0)
        assert not leftover_cgroups(cid), leftover_cgroups(cid)
    ref, box = outs
    _both_ok(ref, box)
    want, got = sections(ref.stdout), sections(box.stdout)
    # The limits are the container's (runtime-spec: exec's process has them). runc 1.1.5
    # here sometimes gives the exec'd process the hard RLIMIT_NOFILE (2048) as its soft
    # one (seen in one full run out of three), so the container's values are the
    # reference for that section, not runc's output.
    assert got.pop("limits") == ["512", "200"], box.stdout
    want.pop("limits")
    assert got == want, f"runc:\n{ref.stdout}\nrunsc-py:\n{box.stdout}"
