"""Files the C fast path re-opens (rt.c ``sc_open_file``) behave as freshly opened files.

A read-only open of a file of the trusted lower layer keeps its host fd, when closed,
under the key of the path it was opened by; the next open of that key in the same
generation is answered in C on that fd, and Python makes the description only when it
handles something (statcache.reopen_key, FastFDTable._file_opened_in_fast). A program
opens, reads and closes files of a tree made before the sandbox started, again and
again, and between those changes the tree (a write, a chmod, a rename, an unlink),
forks, dups and execs: natively and in the sandbox (fast path and Python only) it must
print the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PROGRAM = r'''
import errno, fcntl, os, stat, sys

T = sys.argv[1]
os.chdir(T)

def p(*a):
    print(*a, flush=True)

def once(path, n=4, flags=0):
    try:
        fd = os.open(path, os.O_RDONLY | flags)
    except OSError as e:
        return errno.errorcode[e.errno]
    try:
        return os.read(fd, n)
    finally:
        os.close(fd)

# open, read, close, again: each open starts at offset 0 (absolute and relative paths)
for i in range(3):
    fd = os.open(T + "/f", os.O_RDONLY)
    p("abs", i, os.read(fd, 4), os.lseek(fd, 0, os.SEEK_CUR))
    os.close(fd)
for i in range(3):
    p("rel", i, once("f", 6))

# two opens at once have offsets of their own
a = os.open("f", os.O_RDONLY)
b = os.open("f", os.O_RDONLY)
p("two", os.read(a, 3), os.read(b, 5), os.read(a, 3), os.read(b, 1))
os.close(b)
os.close(a)

# what the fd says of itself
for i in range(2):
    fd = os.open("f", os.O_RDONLY)
    st, named = os.fstat(fd), os.stat("f")
    p("fstat", i, st.st_ino == named.st_ino, st.st_dev == named.st_dev, st.st_size,
      oct(st.st_mode), st.st_uid, st.st_nlink, st.st_mtime_ns == named.st_mtime_ns)
    p("fcntl", i, oct(fcntl.fcntl(fd, fcntl.F_GETFL)), fcntl.fcntl(fd, fcntl.F_GETFD))
    p("proc", i, os.readlink(f"/proc/self/fd/{fd}"))
    p("seek", i, os.lseek(fd, -3, os.SEEK_END), os.read(fd, 10), os.pread(fd, 4, 1))
    os.close(fd)

# with tar's flags (O_NONBLOCK, O_NOCTTY, O_NOFOLLOW): nothing changes for a regular
# file but its status flags
for i in range(3):
    fd = os.open("f", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)
    p("nonblock", i, oct(fcntl.fcntl(fd, fcntl.F_GETFL)), os.read(fd, 5), os.read(fd, 100),
      os.read(fd, 1))
    os.close(fd)

# a dup and a fork's child share the description (its offset)
once("f")
fd = os.open("f", os.O_RDONLY)
d = os.dup(fd)
p("dup", os.read(fd, 2), os.read(d, 2))
pid = os.fork()
if pid == 0:
    os.read(fd, 3)
    os._exit(0)
os.waitpid(pid, 0)
p("after child", os.lseek(d, 0, os.SEEK_CUR), os.read(fd, 2))
os.close(d)
os.close(fd)

# the lowest free fds, as many opens of one file as asked
fds = [os.open("f", os.O_RDONLY) for _ in range(5)]
p("fds", [x - fds[0] for x in fds], [os.read(x, 1) for x in fds])
for x in reversed(fds):
    os.close(x)
p("after fds", once("f", 2))

# a symlink followed, then not; a second name of the file
for i in range(2):
    p("ln", i, once("ln"), once("ln", flags=os.O_NOFOLLOW))
for i in range(2):
    p("hard link", i, once("hl"))

# across an exec: a close-on-exec fd is gone, another one is open where it was read to
once("k")
once("k2")
ce = os.open("k", os.O_RDONLY)
keep = os.open("k2", os.O_RDONLY)
os.set_inheritable(keep, True)
os.read(keep, 2)
pid = os.fork()
if pid == 0:
    code = ("import os, sys\n"
            "ce, keep = int(sys.argv[1]), int(sys.argv[2])\n"
            "try:\n    os.fstat(ce); print('exec: ce open', flush=True)\n"
            "except OSError as e: print('exec: ce', e.errno, flush=True)\n"
            "print('exec: keep', os.read(keep, 3), flush=True)\n")
    os.execv(sys.executable, [sys.executable, "-I", "-c", code, str(ce), str(keep)])
os.waitpid(pid, 0)
p("parent keep", os.read(keep, 2))
os.close(ce)
os.close(keep)

# the file written (the overlay copies it up): later opens read what was written
for i in range(2):
    p("before write", i, once("f"))
fd = os.open("f", os.O_WRONLY)
os.write(fd, b"XYZ")
os.close(fd)
for i in range(2):
    p("after write", i, once("f"), once(T + "/f"))

# a chmod (a copy-up too), then opens
for i in range(2):
    p("g", i, once("g"))
os.chmod("g", 0o640)
fd = os.open("g", os.O_RDONLY)
p("g after chmod", os.read(fd, 4), oct(os.fstat(fd).st_mode))
os.close(fd)

# renamed and removed names
for i in range(2):
    p("h", i, once("sub/h"))
os.rename("sub/h", "sub/h2")
p("h renamed", once("sub/h"), once("sub/h2"))
os.unlink("sub/h2")
p("h2 removed", once("sub/h2"), once(T + "/sub/h2"))
for i in range(2):
    p("u", i, once("u"), once("r1"))
os.unlink("u")
os.rename("r2", "r1")
p("u removed", once("u"), once(T + "/u"))
p("r1 replaced", once("r1"), once(T + "/r1"))
for i in range(2):
    p("m", i, once("sub/m"))
os.rename("sub", "sub2")
p("sub renamed", once("sub/m"), once("sub2/m"))

# a directory's files read in its listing's order (tar's, cp -r's: C fetches the next
# one ahead), the next one changed and the one after it removed before their turn
names = os.listdir("seq")
got = {}
for i, n in enumerate(names):
    got[n] = once("seq/" + n, 20)
    if i == 3:
        with open("seq/" + names[4], "wb") as f:
            f.write(b"changed")
        os.unlink("seq/" + names[5])
p("seq", sorted(got.items()))
# the same, the next file removed while C has asked for it ahead
names = os.listdir("seq2")
got = {}
for i, n in enumerate(names):
    got[n] = once("seq2/" + n, 20)
    if i == 3:
        os.unlink("seq2/" + names[4])
p("seq2", sorted(got.items()))

# a file not everyone may read (no fd is kept for it; root reads it anyway)
for i in range(2):
    p("private", i, once("private"))
'''


LOCKS = r'''
import fcntl, os, struct, sys

T = sys.argv[1]
os.chdir(T)
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2

def holder(fd):
    """Who another process finds holding a lock on the file (F_GETLK for a write lock)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", F_WRLCK, 0, 0, 0, 0))
        os.write(w, b"locked" if struct.unpack_from("h", got)[0] != F_UNLCK else b"free")
        os._exit(0)
    os.waitpid(pid, 0)
    return os.read(r, 16).decode()

p_fd = os.open("f", os.O_RDONLY)
os.close(os.open("f", os.O_RDONLY))   # its host fd is kept
fcntl.lockf(p_fd, fcntl.LOCK_SH)
print("after the lock:", holder(p_fd))
c_fd = os.open("f", os.O_RDONLY)      # re-opened on the kept fd
os.read(c_fd, 2)
os.close(c_fd)                        # any close of the file drops the process's locks
print("after closing another fd:", holder(p_fd))
fcntl.lockf(p_fd, fcntl.LOCK_SH)
os.close(os.open("f", os.O_RDONLY))
print("after an open and close:", holder(p_fd))
os.close(p_fd)
'''


def _tree(top: Path) -> Path:
    t = top / "tree"
    (t / "sub").mkdir(parents=True)
    (t / "f").write_bytes(b"0123456789abcdefghij")
    (t / "g").write_bytes(b"gggg-file")
    (t / "k").write_bytes(b"kkkkkk")
    (t / "k2").write_bytes(b"0123456789")
    (t / "sub" / "h").write_bytes(b"hhhh")
    (t / "sub" / "m").write_bytes(b"mmmm")
    (t / "u").write_bytes(b"uuuu")
    (t / "r1").write_bytes(b"r1r1")
    (t / "r2").write_bytes(b"r2r2")
    for d in ("seq", "seq2"):
        (t / d).mkdir()
        for i in range(8):
            (t / d / f"s{i}").write_bytes(b"%s file %d" % (d.encode(), i))
            (t / d / f"s{i}").chmod(0o644)
        (t / d).chmod(0o755)
    (t / "private").write_bytes(b"secret")
    (t / "private").chmod(0o600)
    (t / "ln").symlink_to("f")
    (t / "hl").hardlink_to(t / "f")
    for p in (t, t / "sub"):
        p.chmod(0o755)
    for name in ("f", "g", "k", "k2", "u", "r1", "r2", "sub/h", "sub/m"):
        (t / name).chmod(0o644)
    return t


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_reopened_files_are_fresh_opens(sandbox, tmp_path, python_only):
    want, got, boxed_tree = sandbox.python_on_trees(PROGRAM, _tree, tmp_path,
                                                    python_only=python_only)
    assert got.splitlines() == want.splitlines()
    # The sandbox wrote its changes to memory: the host tree is as it was.
    assert (boxed_tree / "f").read_bytes() == b"0123456789abcdefghij"
    assert (boxed_tree / "sub" / "h").exists()


def test_reopens_are_answered_in_c(runsc_root, tmp_path):
    """200 opens of one file: all but the first are C's (the compat report's count),
    half of them with the flags tar opens its files with (O_NONBLOCK among them)."""
    from helpers.runner import compat_calls

    t = _tree(tmp_path)
    code = ("import os\ntar = os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC\n"
            "for i in range(200):\n"
            "    fd = os.open('f', os.O_RDONLY | (tar if i % 2 else 0))\n"
            "    os.read(fd, 4)\n    os.close(fd)\n")
    openat = compat_calls(["/usr/bin/python3", "-I", "-c", code], runsc_root, t)["openat"]
    assert openat["count"] >= 200 and openat["fast"] >= 199, openat


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_closing_a_reopened_file_drops_record_locks(sandbox, tmp_path, python_only):
    """A record lock goes at any close of the file by its process, a fd C opened and
    Python never saw included (rt.c rt_posix_locks: such closes are Python's then)."""
    want, got, _ = sandbox.python_on_trees(LOCKS, _tree, tmp_path, python_only=python_only)
    assert got.splitlines() == want.splitlines()
    assert "after closing another fd: free" in want
