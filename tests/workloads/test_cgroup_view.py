"""The sandbox's own cgroup (cgroup v2 at /sys/fs/cgroup, read-only) in ``do`` mode: its
limits are the ones ``do`` was given, its counts the sentry's, and programs that size
themselves by it (Node's ``process.constrainedMemory`` here; the JVM's heap, Go's
GOMAXPROCS) take them rather than the host's.  (The same files against runc, from a config.json's resources:
tests/oci/test_config_view.py.)"""

from __future__ import annotations

import os

from helpers.runner import runsc

SCRIPT = r"""
cd /sys/fs/cgroup
for f in memory.max pids.max cpu.max cpu.weight cgroup.controllers cgroup.type; do
  echo "$f=$(cat $f)"
done
echo "self=$(cat /proc/self/cgroup)"
grep ' /sys/fs/cgroup ' /proc/self/mountinfo | sed 's/^[0-9]* [0-9]* [0-9:]* //'
grep -c . /proc/cgroups
sleep 30 &
sleeper=$!
grep -qx "$sleeper" cgroup.procs && echo "sleeper listed"
grep -qx 1 cgroup.procs && echo "init listed"
echo "pids.current=$(cat pids.current)"
kill $sleeper
(echo 5 > pids.max) 2>&1 | tail -1
echo "memory.current>1MiB=$([ "$(cat memory.current)" -gt 1048576 ] && echo yes)"
echo "memory.current in pages=$([ $(( $(cat memory.current) % 4096 )) = 0 ] && echo yes)"
sh -c 'exit 0'; sh -c 'exit 0'
echo "pids.current after reaped children=$(cat pids.current)"
echo "cpus=$(cat cpuset.cpus.effective) $(cat cpuset.cpus.effective) $(cat cpuset.cpus.effective)"
stat -c 'mode=%a' .
"""


def test_do_limits_are_the_cgroups(runsc_root):
    r = runsc(["do", "--memory-limit", "256M", "--pids-limit", "77", "--", "/bin/busybox", "sh",
               "-c", SCRIPT], root=runsc_root, timeout=60)
    assert r.rc == 0, r.describe()
    lines = r.stdout.splitlines()
    assert lines[:7] == [
        f"memory.max={256 << 20}", "pids.max=77", "cpu.max=max 100000", "cpu.weight=100",
        "cgroup.controllers=cpuset cpu memory pids", "cgroup.type=domain", "self=0::/",
    ], r.stdout
    assert lines[7] == "/ /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw"
    assert lines[8] == "6"  # /proc/cgroups: a header and five controllers
    assert "sleeper listed" in lines and "init listed" in lines, r.stdout
    # init's sh, the sleeper, the subshell of $(cat ...) and cat: each a task the limit counts
    current = next(int(x.split("=")[1]) for x in lines if x.startswith("pids.current="))
    assert 3 <= current <= 6, r.stdout
    assert any("Read-only file system" in x for x in lines), r.stdout
    assert "memory.current>1MiB=yes" in lines, r.stdout
    assert "memory.current in pages=yes" in lines, r.stdout
    # reaped children are not counted: sh and the $(cat) subshell with its cat, at most
    assert int(next(x for x in lines if x.startswith("pids.current after")).split("=")[1]) <= 3
    # the boot's CPUs every time (not the one the sentry holds a moment)
    cpus = next(x for x in lines if x.startswith("cpus=")).split("=")[1].split()
    assert len(set(cpus)) == 1 and cpus[0] == _cpu_list(sorted(os.sched_getaffinity(0))), lines
    assert "mode=755" in lines, r.stdout


def _cpu_list(cpus: list[int]) -> str:
    from sentry.vfs.mount_tree import cpu_list

    return cpu_list(cpus)


def test_cgroup_files_can_be_watched(runsc_root):
    """epoll takes them (procfs's default readiness: readable), as the kernel's."""
    r = runsc(["do", "--", "/usr/bin/python3", "-c",
               "import select; e = select.epoll(); f = open('/sys/fs/cgroup/cgroup.events');"
               " e.register(f, select.EPOLLIN | select.EPOLLPRI); print(len(e.poll(1)))"],
              root=runsc_root, timeout=60)
    assert r.rc == 0, r.describe()
    assert r.stdout.strip() == "1"


def test_without_limits_the_cgroup_says_max(runsc_root):
    r = runsc(["do", "--pids-limit", "0", "--", "/bin/busybox", "sh", "-c",
               "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"],
              root=runsc_root, timeout=60)
    assert r.rc == 0, r.describe()
    assert r.stdout.split() == ["max", "max"]


def test_node_takes_the_sandboxs_memory_limit(runsc_root):
    assert os.access("/usr/bin/node", os.X_OK), "nodejs is missing: scripts/test.sh installs it"
    r = runsc(["do", "--memory-limit", "300M", "--", "/usr/bin/node", "-e",
               "console.log(process.constrainedMemory())"], root=runsc_root, timeout=60)
    assert r.rc == 0, r.describe()
    assert r.stdout.strip() == str(300 << 20)
