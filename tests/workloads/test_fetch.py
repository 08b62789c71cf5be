"""Files the C fast path fetches from the gofer itself (rt.c ``sc_fetch``, gofer Tfetch)
behave as files Python opened.

A read-only open of a file C has a stat answer for (its own, or from its directory's
listing), a regular file of the trusted lower layer everyone may read, by an absolute
path, is C's even the first time: it asks the gofer for the fd on the sentry's channel
and installs it as a re-open's.  A program lists directories, opens, reads, maps and
closes their files, opens a file of a directory and then its siblings, opens through a
symlinked directory (which the gofer does not follow: Python opens those), a file only
its owner may read, and files written since: natively and in the sandbox (fast path
and Python only) it must print the same; and the opens of a listed directory's files
must have been C's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

PROGRAM = r'''
import mmap, os, sys

T = sys.argv[1]

def p(*a):
    print(*a, flush=True)

def once(path, n=6, flags=0):
    try:
        fd = os.open(path, os.O_RDONLY | flags)
    except OSError as e:
        return e.strerror
    try:
        return os.read(fd, n)
    finally:
        os.close(fd)

# a listing, then each file opened by its absolute path: read, pread, seek, fstat
names = sorted(os.listdir(T + "/many"))
for name in names:
    path = f"{T}/many/{name}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    st = os.fstat(fd)
    p(name, os.read(fd, 8), os.pread(fd, 3, 2), os.lseek(fd, 0, os.SEEK_END), st.st_size,
      oct(st.st_mode), st.st_ino == os.stat(path).st_ino, st.st_dev == os.stat(path).st_dev)
    os.close(fd)
# opened again (a kept fd now), and mapped: Python makes the description at the mmap
for name in names[:3]:
    with open(f"{T}/many/{name}", "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        p("mmap", name, m[:10], os.readlink(f"/proc/self/fd/{f.fileno()}"))
        m.close()
# a stat's answer is enough
os.stat(T + "/one/a")
p("stat then open", once(T + "/one/a"), once(T + "/one/a", flags=os.O_NOFOLLOW))
# one file of a directory opened, then its siblings
p("siblings", [once(f"{T}/pyc/{n}") for n in ("x1", "x2", "x3", "x4")])
# two at once, and a dup: offsets of their own, and a shared one
a = os.open(T + "/pyc/x5", os.O_RDONLY)
b = os.open(T + "/pyc/x5", os.O_RDONLY)
d = os.dup(a)
p("two", os.read(a, 2), os.read(b, 3), os.read(d, 2))
for x in (a, b, d):
    os.close(x)
# a fork's child reads a file fetched before the fork, and one of its own
fd = os.open(T + "/many/" + names[5], os.O_RDONLY)
pid = os.fork()
if pid == 0:
    p("child", os.read(fd, 4), once(T + "/many/" + names[6]))
    os._exit(0)
os.waitpid(pid, 0)
p("parent", os.read(fd, 4))
os.close(fd)
# relative to the cwd, and with "." and ".." in the path
os.chdir(T + "/rel")
os.listdir(".")
p("relative", [once(n) for n in ("r0", "r1", "./r2", "../rel/r3", "../one/../rel/r4")])
p("up", once("../one/a"), once(T + "/rel/../pyc/./x1"), once(T + "/one/../via/../one/a"))
# ".." after a symlink: the sandbox's file is sub/x, the path written out names x, a file
# of the same size and times (C's check of the fetched fd refuses it)
os.stat(T + "/deep/../x")
p("dotdot after a symlink", once(T + "/deep/../x"), once(T + "/x"))
os.rename(T + "/rel", T + "/moved")  # the cwd's place has another path now
p("cwd moved", [once(n) for n in ("r5", "r6")], os.getcwd().replace(T, "T"))
os.chdir(T)
# through a symlinked directory (the gofer follows no symlink: Python opens these)
p("via symlink", [once(f"{T}/via/{n}") for n in sorted(os.listdir(T + "/via"))])
# a file only its owner may read (never fetched; root reads it all the same)
os.listdir(T + "/priv")
p("private", once(T + "/priv/secret"), once(T + "/priv/open"))
# written (the overlay copies it up): later opens read what was written
os.listdir(T + "/w")
p("before write", once(T + "/w/f"), once(T + "/w/g"))
fd = os.open(T + "/w/f", os.O_WRONLY)
os.write(fd, b"NEW")
os.close(fd)
p("after write", once(T + "/w/f"), once(T + "/w/g"))
os.rename(T + "/w/g", T + "/w/h")
p("after rename", once(T + "/w/g"), once(T + "/w/h"))
'''


def _tree(top: Path) -> Path:
    t = top / "tree"
    for d in ("many", "one", "pyc", "real", "priv", "w", "rel", "sub/inner"):
        (t / d).mkdir(parents=True)
    for i in range(40):
        (t / "many" / f"m{i:02d}").write_bytes(f"file number {i:02d} ".encode() * (i + 1))
    (t / "one" / "a").write_bytes(b"just one")
    for i in range(1, 6):
        (t / "pyc" / f"x{i}").write_bytes(f"compiled {i}".encode())
    for i in range(3):
        (t / "real" / f"r{i}").write_bytes(f"real {i}".encode())
    for i in range(7):
        (t / "rel" / f"r{i}").write_bytes(f"relative {i}".encode())
    (t / "via").symlink_to("real")
    (t / "x").write_bytes(b"x at the top")
    (t / "sub" / "x").write_bytes(b"x in sub....")
    (t / "deep").symlink_to("sub/inner")
    (t / "priv" / "secret").write_bytes(b"secret")
    (t / "priv" / "secret").chmod(0o600)
    (t / "priv" / "open").write_bytes(b"open to all")
    (t / "w" / "f").write_bytes(b"old f")
    (t / "w" / "g").write_bytes(b"old g")
    for p in t.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
        elif p.is_file() and not p.is_symlink() and p.name != "secret":
            p.chmod(0o644)
    t.chmod(0o755)
    for f in (t / "x", t / "sub" / "x"):
        os.utime(f, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    return t


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_fetched_files_are_opened_files(sandbox, tmp_path, python_only):
    want, got, boxed_tree = sandbox.python_on_trees(PROGRAM, _tree, tmp_path,
                                                    python_only=python_only)
    assert got.splitlines() == want.splitlines()
    assert "mmap" in want and "after write b'NEW f'" in want
    assert "dotdot after a symlink b'x in s' b'x at t'" in want
    # The sandbox wrote its changes to memory: the host tree is as it was.
    assert (boxed_tree / "w" / "f").read_bytes() == b"old f"


def test_opens_of_a_listed_directory_are_answered_in_c(runsc_root, tmp_path):
    """40 files opened once each by their absolute paths after their directory was
    listed, and 7 by paths relative to the cwd: C fetched them (the sentry's exit line
    counts its fetches; each was the file's first open, so no kept fd could answer it),
    and the compat report counts those openats as C's, and C's fetches among openat's
    gofer requests."""
    from helpers.runner import compat_calls

    t = _tree(tmp_path)
    code = ("import os, sys\nd = sys.argv[1] + '/many'\nfor n in sorted(os.listdir(d)):\n"
            "    fd = os.open(d + '/' + n, os.O_RDONLY)\n    os.read(fd, 4)\n    os.close(fd)\n"
            "os.chdir(sys.argv[1] + '/rel')\nfor n in sorted(os.listdir('.')):\n"
            "    fd = os.open(n, os.O_RDONLY)\n    os.read(fd, 4)\n    os.close(fd)\n")
    openat = compat_calls(["/usr/bin/python3", "-I", "-c", code, str(t)], runsc_root,
                          t)["openat"]
    assert openat["count"] >= 47 and openat["fast"] >= 47, openat
    fetched = _exit_line(runsc_root, tmp_path, code, t, r"which fetched (\d+) files from "
                         r"the gofer itself, (\d+) asked for in vain")
    assert int(fetched.group(1)) >= 47 and int(fetched.group(2)) == 0, fetched.group(0)
    # (Python's own opens made ~35 requests: fewer than C's fetches)
    assert openat["gofer_requests"] >= int(fetched.group(1)), (openat, fetched.group(0))
    assert 0 < openat["gofer_us"] <= openat["sentry_us"], openat


def _exit_line(runsc_root: Path, tmp_path: Path, code: str, t: Path, pattern: str) -> Any:
    """*pattern*'s match in the sentry's exit line (the debug log) of a ``do`` of the
    Python *code* with the tree *t* as its argument."""
    import re

    from helpers.runner import BASE_ENV, runsc

    log = tmp_path / "debug.log"
    log.unlink(missing_ok=True)
    res = runsc(["--debug-log", str(log), "do", "--", "/usr/bin/python3", "-I", "-c", code,
                 str(t)], root=runsc_root, env=dict(BASE_ENV), cwd=t, timeout=120)
    assert res.rc == 0, res.describe()
    got = re.search(pattern, log.read_text())
    assert got is not None, log.read_text()[-2000:]
    return got


def test_files_read_in_listing_order_are_fetched_ahead(runsc_root, tmp_path):
    """A directory's 40 files opened and read in its listing's order: C fetched each next
    one ahead of its open (the sentry's exit line counts them); in reverse order, none of
    them."""
    t = _tree(tmp_path)
    for order, ahead in (("os.listdir(d)", 30), ("reversed(os.listdir(d))", 0)):
        code = ("import os, sys\nd = sys.argv[1] + '/many'\n"
                f"for n in {order}:\n"
                "    with open(d + '/' + n, 'rb') as f:\n        f.read()\n")
        got = _exit_line(runsc_root, tmp_path, code, t, r"(\d+) asked for in vain, (\d+) "
                         r"ahead of their open, (\d+) of those opened next")
        vain, asked, used = map(int, got.groups())
        assert vain == 0, got.group(0)
        if ahead:
            assert asked >= ahead and used >= asked - 2, got.group(0)
        else:
            assert asked <= 2, got.group(0)  # (the interpreter's own start-up may)
