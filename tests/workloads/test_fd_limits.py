"""A sandbox opens any number of files one after another under a low RLIMIT_NOFILE.

The sentry holds a host fd for each gofer file the sandbox has open, and the gofer one for
each handle; both keep some beyond that (the sentry released read-only fds for re-opens,
the gofer the walked nodes above a handle). What they keep must stay within the limit
they run under, whatever the workload opened before: a program opening 6,000 distinct
files, each closed before the next, in a tree four directories deep, must see them all
under `prlimit --nofile=1024:1024` (the gofer held ~6 fds per file it had opened, and
EMFILE came at the 330th) and under a shell's usual soft limit of 1,024 (the sentry's
kept fds reached it at the ~1,300th open, and its gofer channel broke: EPROTO from then
on).
"""

from __future__ import annotations

import resource
import shutil

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


def _tree(top):
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
LIMITS = [
    pytest.param("1024:1024", False, id="hard-1024"),
    pytest.param("1024:1024", True, id="hard-1024-python-only"),
    pytest.param(f"1024:{HARD}", False, id="soft-1024"),
]


@pytest.mark.parametrize("limit,python_only", LIMITS)
def test_many_files_under_a_low_fd_limit(runsc_root, tmp_path, limit, python_only):
    prlimit = shutil.which("prlimit")
    assert prlimit, "prlimit (util-linux) not found"
    top = tmp_path / "t"
    _tree(top)
    argv = [prlimit, f"--nofile={limit}", "--", *runsc_argv(),
            *runsc_global_flags(root=runsc_root, python_only=python_only),
            "do", "--", "/usr/bin/python3", "-I", "-c", PROGRAM, str(top)]
    res = run(argv, env=dict(BASE_ENV), timeout=240)
    assert res.rc == 0, res.describe()
    assert res.stdout.strip() == _want()
