"""A sandbox opens any number of files under a low RLIMIT_NOFILE.

The sentry holds a host fd for each gofer file the sandbox has open, and the gofer one for
each handle; both keep some beyond that (the sentry released read-only fds for re-opens,
the gofer the walked nodes above a handle). What they keep must stay within the limit
they run under, whatever the workload opened before: a program opening 6,000 distinct
files of a tree four directories deep, each closed before the next, must see them all
under `prlimit --nofile=1024:1024` (the gofer held a node for every directory above each
file it had opened: EMFILE at the 108th file) and under a shell's usual soft limit of
1,024 (the sentry's kept fds reached it at the 1,234th, and its gofer channel broke:
EPROTO from then on). Files held open at once need one sentry fd each: past what the
sentry can hold, an open fails with ENFILE and nothing else does; below the hard limit,
the soft one is no bound (the CLI raises it for the sentry and the gofer), while the
sandbox still sees the caller's.
"""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

import pytest

from helpers.runner import BASE_ENV, run, runsc_argv, runsc_global_flags

A, B, F = 30, 10, 20  # directories a/b/c, files in each

PROGRAM = f"""
import os, sys
top = sys.argv[1]
opened = got = 0
for a in range({A}):
    for b in range({B}):
        for f in range({F}):
            fd = os.open(f"{{top}}/a{{a:02d}}/b{{b}}/c/f{{f:02d}}", os.O_RDONLY)
            opened += 1
            got += len(os.read(fd, 8))
            os.close(fd)
# the same files again: re-opens (kept fds, or walks again)
for a in range({A}):
    fd = os.open(f"{{top}}/a{{a:02d}}/b0/c/f00", os.O_RDONLY)
    got += len(os.read(fd, 8))
    os.close(fd)
print("opened", opened, "read", got)
"""


def _tree(top: Path) -> None:
    for a in range(A):
        for b in range(B):
            d = top / f"a{a:02d}" / f"b{b}" / "c"
            d.mkdir(parents=True)
            for f in range(F):
                (d / f"f{f:02d}").write_bytes(b"x" * (1 + f % 3))


def _want() -> str:
    per = sum(1 + f % 3 for f in range(F))
    return f"opened {A * B * F} read {A * B * per + A}"


HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
#: What prlimit may set and the sandbox shows: the sentry caps a sandbox's limits at
#: 2^20 (sentry/boot.py), and no limit may exceed fs.nr_open.
with open("/proc/sys/fs/nr_open") as _f:
    TOP = min(HARD, 1 << 20, int(_f.read()))
LIMITS = [
    pytest.param("1024:1024", False, id="hard-1024"),
    pytest.param("1024:1024", True, id="hard-1024-python-only"),
    pytest.param(f"1024:{TOP}", False, id="soft-1024"),
]


def _prlimit(nofile: str) -> list[str]:
    """The argv prefix that runs a command under ``prlimit --nofile=NOFILE``."""
    prlimit = shutil.which("prlimit")
    assert prlimit, "prlimit (util-linux) not found"
    return [prlimit, f"--nofile={nofile}", "--"]


def _python_on_tree(runsc_root: Path, tmp_path: Path, limit: str, program: str,
                    python_only: bool = False) -> str:
    """*program* run by python3 in `do` under `prlimit --nofile=LIMIT`, with the path of
    a fresh tree (_tree) as its argument; its output (it must succeed)."""
    top = tmp_path / "t"
    _tree(top)
    argv = [*_prlimit(limit), *runsc_argv(),
            *runsc_global_flags(root=runsc_root, python_only=python_only),
            "do", "--", "/usr/bin/python3", "-I", "-c", program, str(top)]
    res = run(argv, env=dict(BASE_ENV), timeout=240)
    assert res.rc == 0, res.describe()
    return res.stdout


@pytest.mark.parametrize("limit,python_only", LIMITS)
def test_many_files_under_a_low_fd_limit(runsc_root: Path, tmp_path: Path, limit: str,
                                        python_only: bool) -> None:
    out = _python_on_tree(runsc_root, tmp_path, limit, PROGRAM, python_only)
    assert out.strip() == _want()


HOLD = r"""
import errno, os, sys
top = sys.argv[1]
names = [f"{top}/a{a:02d}/b{b}/c/f{f:02d}" for a in range(3) for b in range(10) for f in range(20)]
held, failed = [], set()
r, w = os.pipe()
pid = os.fork()  # two processes: each may hold 1,024 fds, the sentry all of theirs
for name in names:
    try:
        held.append(os.open(name, os.O_RDONLY))
    except OSError as e:
        failed.add(errno.errorcode[e.errno])
for fd in held:
    os.close(fd)
if pid == 0:
    os.write(w, (",".join(sorted(failed)) or "none").encode())
    os._exit(0)
os.waitpid(pid, 0)
child = os.read(r, 100).decode()
# everything still works: opens, reads, a listing
fd = os.open(names[0], os.O_RDONLY)
ok = os.read(fd, 8) == b"x" and len(os.listdir(f"{top}/a02/b9/c")) == 20
os.close(fd)
print("parent", ",".join(sorted(failed)) or "none", "child", child, "after", ok)
"""


def _hold(runsc_root: Path, tmp_path: Path, limit: str) -> list[str]:
    out = _python_on_tree(runsc_root, tmp_path, limit, HOLD)
    words = out.split()
    assert words[-1] == "True" and "EPROTO" not in out, out
    return words


def test_an_fd_the_sentry_cannot_take_fails_that_open_only(runsc_root: Path,
                                                           tmp_path: Path) -> None:
    """Two processes holding 600 gofer files open each, the sentry under a hard limit of
    1,024: opens past what it can hold fail with ENFILE (the system's file table is
    full, as the sandbox sees it), and once they are closed everything works again
    (the gofer's reply whose fd could not be received broke the channel: EPROTO for
    every file request after)."""
    words = _hold(runsc_root, tmp_path, "1024:1024")
    assert "ENFILE" in (words[1] + words[3]), words


@pytest.mark.skipif(TOP < 4096, reason="needs a hard RLIMIT_NOFILE of 4,096 or more")
def test_a_soft_limit_below_the_hard_one_is_no_bound(runsc_root: Path, tmp_path: Path) -> None:
    """The same 1,200 files held open under a soft limit of 1,024 and a hard one of 4,096
    or more: every open works (the sentry ran at the soft limit, and failed them)."""
    words = _hold(runsc_root, tmp_path, f"1024:{TOP}")
    assert (words[1], words[3]) == ("none", "none"), words


def test_do_gives_the_sandbox_the_callers_limit(runsc_root: Path) -> None:
    """The CLI raises its own soft limit for the sentry and the gofer; the sandbox's
    processes still get the caller's (as a command run by the caller would), here
    1,000 soft and the hard one (at most 2^20, the sandbox's cap)."""
    cmd = ["/bin/sh", "-c", "ulimit -n; ulimit -Hn"]
    limit = _prlimit(f"1000:{TOP}")
    native = run([*limit, *cmd], env=dict(BASE_ENV))
    boxed = run([*limit, *runsc_argv(), *runsc_global_flags(root=runsc_root), "do", "--", *cmd],
                env=dict(BASE_ENV))
    assert native.rc == 0 and boxed.rc == 0, boxed.describe()
    assert boxed.stdout.split() == native.stdout.split() == ["1000", str(TOP)]


def test_a_shared_bind_mount_walked_whole_under_a_hard_limit_of_1024(
        runsc_root: Path, busybox_bundle: Path, tmp_path: Path) -> None:
    """A shared bind mount's cached inodes each hold a gofer handle (its names are looked
    up again at each walk): 6,000 files of one under a hard limit of 1,024 filled the
    gofer's fd table, and find and cat got EMFILE. Out of fds, the sentry drops cached
    dentries (inode.reclaim_dentries) and asks again."""
    from helpers.bundle import edit_config

    data = tmp_path / "data"
    _tree(data)
    (busybox_bundle / "rootfs" / "data").mkdir(exist_ok=True)
    script = "find /data -type f | xargs cat | wc -c; find /data -type f | wc -l"
    edit_config(busybox_bundle, args=["sh", "-c", script], mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "rw"]},
    ])
    argv = [*_prlimit("1024:1024"), *runsc_argv(), "--root", str(runsc_root),
            "run", "--bundle", str(busybox_bundle), "fd1"]
    res = run(argv, env=dict(BASE_ENV), timeout=240)
    assert res.rc == 0 and res.stderr == "", res.describe()
    per = sum(1 + f % 3 for f in range(F))
    assert res.stdout.split() == [str(A * B * per), str(A * B * F)]


SOCKETS = r"""
import errno, os, socket
held, failed = [], set()
r, w = os.pipe()
pid = os.fork()  # two processes of 700 sockets each: the sentry holds a host socket each
for i in range(700):
    try:
        held.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    except OSError as e:
        failed.add(errno.errorcode[e.errno])
if pid == 0:  # (the child's go to the parent, which holds its own until then)
    os.write(w, ",".join(sorted(failed)).encode() + b".")
    os._exit(0)
got = b""
while not got.endswith(b"."):
    got += os.read(r, 100)
os.waitpid(pid, 0)
failed |= set(filter(None, got[:-1].decode().split(",")))
for s in held:
    s.close()
s = socket.socket()
s.close()
print(sorted(failed))
"""


def test_a_socket_the_sentry_cannot_make_is_enfile(runsc_root: Path, tmp_path: Path) -> None:
    """Inet sockets past what the sentry can hold under a hard limit of 1,024 fail with
    ENFILE (the system's file table is full, as the sandbox sees it), not EMFILE (the
    process's own, which is not), and a socket can be made again after."""
    out = _python_on_tree(runsc_root, tmp_path, "1024:1024", SOCKETS)
    assert out.split() == ["['ENFILE']"], out


MAPS = r"""
import errno, mmap, os
os.makedirs("/tmp/maps")  # (the overlay's upper layer: tmpfs, in the sentry)
maps, failed = [], set()
for i in range(1500):
    fd = os.open(f"/tmp/maps/f{i}", os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, b"x" * 4096)
    if i % 2:  # a read-only description: the memfd re-opened read-only is lent
        os.close(fd)
        fd = os.open(f"/tmp/maps/f{i}", os.O_RDONLY)
    try:
        maps.append(mmap.mmap(fd, 4096, mmap.MAP_SHARED,
                              mmap.PROT_READ | (0 if i % 2 else mmap.PROT_WRITE)))
    except OSError as e:
        failed.add(errno.errorcode[e.errno])
    os.close(fd)
for m in maps:
    m.close()
print(sorted(failed), len(maps) > 500)
"""


def test_a_shared_mapping_the_sentry_has_no_fd_for_is_enomem(runsc_root: Path,
                                                              tmp_path: Path) -> None:
    """A tmpfs file mapped MAP_SHARED moves into a memfd the sentry holds (and a read-only
    description's mapping gets it re-opened read-only): 1,500 of them under a hard limit
    of 1,024 fail past what it can hold with ENOMEM (mmap(2)'s "no memory is
    available"), not EFAULT (the sentry's own EMFILE, caught as a bug) nor EMFILE."""
    out = _python_on_tree(runsc_root, tmp_path, "1024:1024", MAPS)
    assert out.split() == ["['ENOMEM']", "True"], out


HIGH_FD = r"""
import mmap, os, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
fd = os.open("/etc/passwd", os.O_RDONLY)
os.dup2(fd, 5000)
m = mmap.mmap(5000, 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
print(m[:5] == open("/etc/passwd", "rb").read(5), soft)
"""


@pytest.mark.skipif(TOP <= 5000, reason="needs a hard RLIMIT_NOFILE above 5,000")
def test_a_mapping_of_a_high_fd_number(runsc_root: Path, tmp_path: Path) -> None:
    """A program that raised its soft limit maps a file by fd 5,000, as natively: the host
    runs the mmap with the file lent at that number in the workload's own host process,
    which inherited the sentry's soft limit (1,024, the caller's: EBADF before the CLI
    raised it)."""
    out = _python_on_tree(runsc_root, tmp_path, f"1024:{TOP}", HIGH_FD)
    assert out.split() == ["True", "1024"], out
