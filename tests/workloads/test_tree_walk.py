"""A tree walk over the trusted lower layer sees what Linux shows (differential).

A program walks a tree that exists before the sandbox starts: after a few subdirectories
listed one by one, the sentry fetches the listings of everything below their parent ahead
(gofer ``Treadtree``, depth first, a budget of entries at a time, so a big tree takes
several fetches and some directories are listed on their own). What the walk prints (every
entry with its type, size, link target and what a followed symlink leads to) must match a
native walk of a copy of the tree, before and after the program changes the tree through
the sandbox (the changes go to the overlay's upper layer, over listings fetched ahead):
with the C fast path and without it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.cpu_checks import PRELUDE, check_report

PROGRAM = r'''
import os, sys

def walk(label):
    out = []
    for top, dirs, files in os.walk(".", followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(top, name)
            st = os.lstat(p)
            kind = "d" if os.path.isdir(p) else "f"  # follows a symlink, as os.walk's is_dir
            size = "-" if (st.st_mode >> 12) == 4 else st.st_size
            link = os.readlink(p) if os.path.islink(p) else ""
            out.append(f"{label} {p} {st.st_mode:o} {size} {kind} {link}")
    print("\n".join(out))
    print(label, "entries", len(out))

os.chdir(sys.argv[1])
walk("before")
# Changes through the sandbox, over directories whose listings came ahead.
os.mkdir("t05/new")
with open("t05/new/file", "w") as f:
    f.write("new\n")
os.unlink("t10/a01/f000")
os.rename("t20", "t20-renamed")
for name in os.listdir("t30/a02/b00"):
    os.unlink("t30/a02/b00/" + name)
os.rmdir("t30/a02/b00")
os.symlink("t05", "t05-link")
with open("t39/a03/f001", "a") as f:
    f.write("appended\n")
walk("after")
'''


def _tree(base: Path) -> Path:
    """40 top directories of 4 subdirectories of 3 more, files at every level: about
    6,800 entries, more than one fetch ahead asks for."""
    for i in range(40):
        top = base / f"t{i:02d}"
        for j in range(4):
            mid = top / f"a{j:02d}"
            for k in range(3):
                (mid / f"b{k:02d}").mkdir(parents=True)
                for n in range(8):
                    (mid / f"b{k:02d}" / f"f{n:03d}").write_text("x" * n)
            for n in range(12):
                (mid / f"f{n:03d}").write_text("y" * n)
        (top / "to-a00").symlink_to("a00")
        (top / "dangling").symlink_to("nowhere")
        (top / "up").symlink_to("..")
    return base


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_walk_matches_native(sandbox, tmp_path, python_only):
    want, got, boxed_tree = sandbox.python_on_trees(PROGRAM, _tree, tmp_path,
                                                    python_only=python_only, timeout=300)
    assert got.splitlines() == want.splitlines()
    assert "before entries 6" in got  # the tree is as big as meant
    # The sandbox's changes stayed in memory.
    assert (boxed_tree / "t20").is_dir() and (boxed_tree / "t10" / "a01" / "f000").exists()
    shutil.rmtree(boxed_tree)


CPU_PROGRAM = PRELUDE + r'''
CHECKS = [("fork", fork_cpus), ("thread", thread_cpus), ("status", status_cpus),
          ("affinity", lambda: repr(sorted(os.sched_getaffinity(0))))]
print("start", sorted(os.sched_getaffinity(0)), status_cpus())
n = 0
for top, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in files:
        os.lstat(os.path.join(top, name))
    n += 1
    # A check after every directory, each kind in turn: a hold (if any) began at the
    # listing of one of them, and the next check ends it unless the reply ended first.
    kind, check = CHECKS[n % len(CHECKS)]
    print(kind, check())
print("end", sorted(os.sched_getaffinity(0)), status_cpus())
'''


def test_a_walk_keeps_the_programs_cpus(runsc_root, tmp_path):
    """While the gofer streams a tree's listings the sentry holds the walking task on its
    CPU (sentry.kernel.cpuhold); nothing the task can see or hand on shows it: its
    affinity, its /proc status, a forked child's or a new thread's affinity are the
    task's own, at any point of the walk, and each of those ends a hold first."""
    import os

    from tests.helpers.runner import runsc

    tree = _tree(tmp_path / "tree")
    prog = tmp_path / "prog.py"
    prog.write_text(CPU_PROGRAM)
    log = tmp_path / "debug.log"
    res = runsc(["--debug", "do", "--", "/usr/bin/python3", "-I", str(prog), str(tree)],
                root=runsc_root, debug_log=str(log), timeout=300)
    assert res.rc == 0, res.describe()
    lines = res.stdout.splitlines()
    mine = sorted(os.sched_getaffinity(0))
    assert lines[0].startswith(f"start {mine} ")
    want = {"fork": repr((mine, lines[0].split()[-1])), "thread": repr(mine),
            "status": lines[0].split()[-1], "affinity": repr(mine)}
    check_report(lines, want)
    text = log.read_text()
    if len(mine) < 2:
        assert "cpu hold:" not in text  # one CPU: nothing to hold
        return
    assert "cpu hold:" in text
    # The checks met holds: each kind ended one (a fork and a thread by their clone).
    ended = {w for w in ("clone", "/proc status", "affinity") if f"cpu hold ends: {w}" in text}
    assert ended == {"clone", "/proc status", "affinity"}, text[-3000:]
    shutil.rmtree(tree)


LAST_READ = '''
import os, sys
d = sys.argv[1]
want = sorted(os.listdir(d))  # Python's first listing: the directory is C's to open then
for _ in range(50):
    it = os.scandir(d)  # C opens it and reads it whole
    names = sorted(next(it).name for _ in range(len(want)))
    os.uname()  # Python's turn: it makes the description of the directory C opened
    rest = list(it)  # the last getdents64, at the end of the listing: 0
    it.close()
    assert names == want and rest == [], (names, rest)
# a directory of several reads (scandir's 32 KiB), C's to open (at most 1,024 entries):
# not at the end at Python's turn
big = sys.argv[2]
want_big = sorted(os.listdir(big))
it = os.scandir(big)
first = [next(it).name]
os.uname()
assert sorted(first + [e.name for e in it]) == want_big
it.close()
# read to the end in C, Python's turn, then rewound (listdir of a fd rewinds it): all again
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
assert sorted(os.listdir(fd)) == want
os.uname()
assert sorted(os.listdir(fd)) == want and sorted(os.listdir(fd)) == want
os.close(fd)
print("ok", len(want), len(want_big))
'''


def test_a_directory_c_read_to_its_end_ends_in_c(runsc_root, tmp_path):
    """A directory C opened and read to the end of its listing, whose description Python
    made on a turn it took meanwhile (os.walk stats a directory's entries before its last
    getdents64; a symlink out of the tree is Python's), answers that last read with 0 in
    C, as after a read of Python's to the end, not in Python."""
    from tests.helpers.runner import compat_calls

    d = tmp_path / "d"
    d.mkdir()
    for i in range(12):
        (d / f"f{i:02d}").write_text("x" * i)
    (d / "sub").mkdir()
    d.chmod(0o755)
    big = tmp_path / "big"
    big.mkdir()
    for i in range(900):  # 80-byte records: three reads of 32 KiB
        (big / (f"{i:05d}-" + "n" * 54)).touch()
    big.chmod(0o755)
    prog = tmp_path / "prog.py"
    prog.write_text(LAST_READ)
    getdents = compat_calls(["/usr/bin/python3", "-I", str(prog), str(d), str(big)],
                            runsc_root)["getdents64"]
    # 50 scandirs of two reads each, all C's: Python's are the first listing's and the
    # interpreter's start-up's (6 here; without this, 56)
    assert getdents["count"] >= 100 and getdents["fast"] >= getdents["count"] - 20, getdents


RELATIVE = '''
import os, sys
d = sys.argv[1]
want = sorted(os.listdir(d))  # Python's first listing: the directory is C's to open then
size = {n: os.stat(os.path.join(d, n)).st_size for n in want}
for _ in range(20):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)  # C opens it
    os.uname()  # Python's turn: it makes the description of the directory C opened
    for name in want:  # as tar reads a directory's files: through the fd it opened it by
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        f = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=fd)
        assert st.st_size == size[name] and os.read(f, 100) == b"x" * size[name]
        os.close(f)
    os.close(fd)
print("ok", len(want))
'''


def test_paths_relative_to_a_directory_c_opened_stay_c_s(runsc_root, tmp_path):
    """A directory C opened keeps its key when Python makes its description: the stats
    and opens of its files relative to its fd (tar's) are C's, not Python's."""
    from tests.helpers.runner import compat_calls

    d = tmp_path / "d"
    d.mkdir()
    for i in range(12):
        (d / f"f{i:02d}").write_text("x" * i)
        (d / f"f{i:02d}").chmod(0o644)
    d.chmod(0o755)
    prog = tmp_path / "prog.py"
    prog.write_text(RELATIVE)
    calls = compat_calls(["/usr/bin/python3", "-I", str(prog), str(d)], runsc_root)
    # 240 stats and 240 opens relative to the fd, and 20 opens of the directory, all C's:
    # Python's are the interpreter's start-up's (17 and 26 here; without this, 257 and 266)
    stat, opened = calls["newfstatat"], calls["openat"]
    assert stat["count"] >= 240 and stat["fast"] >= stat["count"] - 60, stat
    assert opened["count"] >= 260 and opened["fast"] >= opened["count"] - 60, opened
