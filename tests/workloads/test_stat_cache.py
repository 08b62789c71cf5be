"""The C fast path's stat cache never answers what the sandbox changed (differential).

A program stats files of a tree that exists before the sandbox starts (the root
overlay's trusted lower layer, whose answers the cache keeps), changes the tree through
every kind of operation between two stats of the same names, and prints what each stat
says. Native execution on a copy of the tree is the reference; the sandbox must print the
same with the fast path (cache) and without it (--python-only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"  # static: it runs from the tree as "sh"

PROGRAM = r'''
import ctypes, errno, os, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_STATX, AT_FDCWD, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS = 332, -100, 0x100, 0x7FF

def statx(path, follow):
    buf = ctypes.create_string_buffer(256)
    r = libc.syscall(SYS_STATX, AT_FDCWD, os.fsencode(path), 0 if follow else AT_SYMLINK_NOFOLLOW,
                     STATX_BASIC_STATS, buf)
    if r < 0:
        raise OSError(ctypes.get_errno(), "statx")
    nlink, uid, _, mode = struct.unpack_from("<IIIH", buf.raw, 16)
    size, = struct.unpack_from("<Q", buf.raw, 40)
    return mode, size, nlink, uid

def show(label, path, follow=True):
    try:
        st = os.stat(path) if follow else os.lstat(path)
        # (a directory's size is the file system's own: tmpfs and ext4 differ)
        size = "-" if (st.st_mode >> 12) == 4 else st.st_size
        what = f"mode={st.st_mode:o} size={size} nlink={st.st_nlink} uid={st.st_uid}"
        x = statx(path, follow)
        xsize = "-" if (x[0] >> 12) == 4 else x[1]
        what += f" statx={x[0]:o}/{xsize}/{x[2]}/{x[3]}"
    except OSError as e:
        what = errno.errorcode[e.errno]
    # readlink's answers are kept too (the last component never followed)
    try:
        link = os.readlink(path)
        what += f" link={link[:12]}({len(link)})"
    except OSError as e:
        what += " link=" + errno.errorcode[e.errno]
    # access's F_OK and ENOENT answers are kept too (faccessat2 for the nofollow one)
    what += f" access={int(os.access(path, os.F_OK, follow_symlinks=follow))}"
    what += f"/{int(os.access(path, os.R_OK | os.X_OK, follow_symlinks=follow))}"
    # and a listed directory's missing names are ENOENT for open too
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)))
        what += " open=ok"
    except OSError as e:
        what += " open=" + errno.errorcode[e.errno]
    print(label, path, what)

def twice(label, *paths, follow=True):
    for p in paths:
        show(label, p, follow)
        show(label, p, follow)

os.chdir(sys.argv[1])
root = os.getcwd()
twice("start", "f", "d/g", "d/sub/h", "missing", "d/missing", "ln", "d/..//f", root + "/f",
      "d/missing/x", "nodir/x/y", "d/sub/./h", "d/sub/../g", root + "/d//g", "e/nothere")
os.listdir("e")  # listed: every name of e not in it is missing
twice("start-nofollow", "ln", "dirln/g", "longln", "d/newln", "dirln", root + "/ln", follow=False)
# write through the file: copy-up, new size
with open("f", "a") as fh:
    fh.write("more\n")
twice("appended", "f", root + "/f", "./f", "d/../f")
# rename over a name that was stat'ed
with open("d/new", "w") as fh:
    fh.write("brand new contents\n")
os.rename("d/new", "d/g")
twice("renamed-over", "d/g", root + "/d/g")
# a name that was missing appears; one that was there goes
with open("missing", "w") as fh:
    fh.write("x\n")
os.unlink("d/sub/h")
os.mkdir("e/nothere")
twice("created-removed", "missing", "d/sub/h", root + "/missing", "e/nothere", "d/missing/x")
# hard link: both names, one inode
os.link("d/g", "d/g2")
twice("linked", "d/g", "d/g2")
# chmod of a file and a directory
os.chmod("d/g", 0o600)
os.chmod("d/sub", 0o700)
twice("chmod", "d/g", "d/sub")
# a symlink replaced by a file, a directory renamed away
os.unlink("ln")
with open("ln", "w") as fh:
    fh.write("not a link\n")
os.rename("d/sub", "d/sub2")
twice("replaced", "ln", "d/sub", "d/sub2")
twice("replaced-nofollow", "ln", follow=False)
# a symlink where a name was missing, another retargeted
os.symlink("g", "d/newln")
os.unlink("dirln")
os.symlink("e", "dirln")
twice("new-links", "d/newln", "dirln", root + "/ln", follow=False)
# search permission: a directory closed to others, then an unprivileged process
os.chmod("d", 0o700)
twice("root-in-closed-dir", "d/g", root + "/d/g")  # kept, for tasks that search any dir
in_child(lambda: twice("nobody", "d/g", root + "/d/g", "f"), uid=65534, gid=65534)
os.chmod("d", 0o755)
# the same with a file still on the lower layer: root's answers are not nobody's
os.chmod("e", 0o700)
twice("root-in-closed-dir", "e/file01", root + "/e/file01")
in_child(lambda: twice("nobody", "e/file01", root + "/e/file01"), uid=65534, gid=65534)
os.chmod("e", 0o755)
# cwd changes: the same relative name means another file
os.chdir("d")
twice("in-d", "g", "f", "../f")
os.chdir("..")
twice("back", "g", "f")
# chroot: absolute names start elsewhere
def in_chroot():
    os.chroot("d")
    twice("chroot", "/g", "/f", "/sub2")
in_child(in_chroot)
twice("after-chroot", "/f", root + "/f")
# An open directory of the lower layer: fstat, listings to the end and back (listdir(fd)
# reads a dup of the fd to the end, then rewinds: the shared offset moves), a change.
fd = os.open(root + "/e", os.O_RDONLY | os.O_DIRECTORY)
first = os.fstat(fd)
def fstat_line(label):
    # (a merged overlay directory keeps the lower one's link count: compare times)
    st = os.fstat(fd)
    print(label, f"mode={st.st_mode:o} changed={st.st_mtime_ns != first.st_mtime_ns}")
fstat_line("open-dir")
fstat_line("open-dir")
print("listing", sorted(os.listdir(fd)))
print("listing", sorted(os.listdir(fd)))
it = os.scandir(root + "/e")
print("scandir", sorted(x.name for x in it))
print("scandir-again", sorted(x.name for x in it))
it.close()
os.mkdir(root + "/e/new")
fstat_line("after-mkdir")
print("listing", sorted(os.listdir(fd)))
in_child(lambda: print("child-listing", sorted(os.listdir(fd))))
os.close(fd)
# A copy-up with no new name (a write to a lower-layer file) drops the answers about the
# file and its directories, and only those: their names and times change from then on
# with no bump but a created name's (which stales kept errors only).
cx = root + "/c/x"
twice("copy-up-before", "c", "c/x", "c/x/y", "c/lnk", "c/x/sub", "c/x/nope", "c/x/new")
print("c/x listing", sorted(os.listdir("c/x")))
cfd = os.open(cx, os.O_RDONLY | os.O_DIRECTORY)
xfirst = os.fstat(cfd).st_mtime_ns
def x_times(label):
    for _ in range(2):  # the second from the cache, if anything kept it
        print(label, "c/x changed:", os.stat("c/x").st_mtime_ns != xfirst,
              os.stat(cx + "/").st_mtime_ns != xfirst, os.fstat(cfd).st_mtime_ns != xfirst)
x_times("copy-up-before")
with open("c/x/y", "a") as fh:
    fh.write("longer\n")
twice("copied-up", "c/x/y", "c/lnk", root + "/c/lnk", "c/x", "c/x/sub", "c/x/nope")
with open("c/x/new", "w") as fh:
    fh.write("n\n")
twice("created-in-copied", "c/x/new", root + "/c/x/new", "c/x/nope", "c/x", "c/x/sub", "c")
x_times("created-in-copied")
print("c/x listing", sorted(os.listdir("c/x")))
fd2 = os.open(cx, os.O_RDONLY | os.O_DIRECTORY)
print("c/x fd listing", sorted(os.listdir(fd2)))
os.close(fd2)
os.close(cfd)
# a directory only the sandbox made, walked through with "..": its removal is only a
# name going (which stales the kept ENOENTs), so nothing walked through it is kept
os.mkdir("made")
twice("through-made", "made/../d/g", "made/../e/file01", "made/../ln")
os.rmdir("made")
twice("made-removed", "made/../d/g", "made/../e/file01", "made/../ln")
# a file's own attributes, asked by its path and through a symlink, kept before
twice("own-before", "e/file02", "e/file03", "ln")
os.chmod("e/file02", 0o640)
os.utime("e/file03", (1, 1))
os.truncate(root + "/f", 2)
twice("own-after", "e/file02", "e/file03", "ln", root + "/f")
print("e/file03 mtime", os.stat("e/file03").st_mtime_ns)
# A lower-layer file's name goes (an unlink, as a build's "as" removes the object file it
# writes again): the answers about it, through a symlink to it and the errors of paths
# through it go; those of its neighbours stay right.
def link_of(path):
    try:
        return os.readlink(path)
    except OSError as e:
        return errno.errorcode[e.errno]
# (readlink first: its EINVAL is kept as such, not found from a listing's lstat answer)
print("readlink-before", link_of("q/gone"), link_of("q/gone"))
os.unlink("q/gone")
print("readlink-removed", link_of("q/gone"), link_of("q/gone"))
twice("remove-before", "r/gone", "r/gone/x", "r/ln-gone", "r/kept", "r/kept/x", "r/nope")
twice("remove-before-nofollow", "r/ln-gone", follow=False)
rfd = os.open("r/gone", os.O_RDONLY)
os.unlink("r/gone")
twice("removed", "r/gone", "r/gone/x", "r/ln-gone", "r/kept", "r/kept/x", "r/nope",
      root + "/r/gone", "r/../r/gone")
twice("removed-nofollow", "r/ln-gone", follow=False)
print("read from the removed file's fd", os.read(rfd, 100))
os.close(rfd)
os.unlink("r/kept")
twice("removed-second", "r/kept", "r/kept/x", "r/gone")
# The program a process runs loses its name: /proc/self/exe says so.
import subprocess
out = subprocess.run([root + "/r/sh", "-c", "readlink /proc/self/exe; readlink /proc/self/exe;"
                      " rm " + root + "/r/sh; readlink /proc/self/exe; readlink /proc/self/exe"],
                     capture_output=True, text=True).stdout
print("exe", out.replace(root, "ROOT").split("\n"))
# A name appears in one directory: its kept ENOENTs go, whatever path reached it (a
# symlink to it, "..", an absolute one, a dangling symlink's target); another
# directory's creation leaves them, and theirs stay right.
appear = ("m/one/new", "m/two/new", "m/ln-one/new", "m/one/../one/new", root + "/m/one/new",
          "m/one/new/deeper", "m/dangling", "m/one/../new", "m/ln-one/../new")
twice("appear-before", *appear)
open("m/two/other", "w").close()
twice("appear-elsewhere", *appear)
with open("m/one/new", "w") as fh:
    fh.write("now here\n")
twice("appeared", *appear)
with open("m/new", "w") as fh:  # what "m/one/../new" looked up and missed
    fh.write("above\n")
twice("appeared-above", *appear)
os.mkdir("m/nowhere")
twice("appeared-target", "m/dangling", "m/dangling/x", "m/two/new")
# Chains of symlinks to siblings ("libpython3.11 -> libpython3.11-stdlib ->
# libpython3.11-minimal"), followed in C up to a limit, a loop, one that dangles; then the
# middle of one retargeted: what leads through it changes too.
os.listdir("k")
chains = ("k/l1", "k/l2", "k/loop-a", "k/c0", "k/c1", "k/c8", "k/d0")
twice("chain", *chains)
twice("chain-nofollow", *chains, follow=False)
os.unlink("k/l2")
os.symlink("gone", "k/l2")
twice("chain-retargeted", *chains)
# Files renamed (an editor's save, git's index.lock over its index), one over another, one
# to a missing name, two exchanged: the answers about them and the errors through their
# names go, a missing name's ENOENT too.
print("readlink-rename-first", link_of("p/a"), link_of("p/a"))  # (kept as EINVAL itself)
os.rename("p/a", "p/b")
print("readlink-renamed-first", link_of("p/a"), link_of("p/a"), link_of("p/b"))
names = ("s/old", "s/target", "s/fresh", "s/other", "s/old/x", "s/target/x", "s/fresh/x",
         "s/ln-old", "s/kept")
twice("rename-before", *names)
print("readlink-rename-before", link_of("s/other"), link_of("s/other"))
os.rename("s/old", "s/target")
os.rename("s/other", "s/fresh")
twice("renamed", *names)
print("readlink-renamed", link_of("s/other"), link_of("s/other"))
libc.syscall(316, AT_FDCWD, b"s/target", AT_FDCWD, b"s/fresh", 2)  # RENAME_EXCHANGE
twice("exchanged", "s/target", "s/fresh", "s/kept")
out = subprocess.run([root + "/s/sh", "-c", "readlink /proc/self/exe; readlink /proc/self/exe;"
                      " mv " + root + "/s/sh " + root + "/s/sh2; readlink /proc/self/exe;"
                      " readlink /proc/self/exe"], capture_output=True, text=True).stdout
print("exe-renamed", out.replace(root, "ROOT").split("\n"))
'''


def _tree(base: Path) -> Path:
    t = base
    (t / "d" / "sub").mkdir(parents=True)
    (t / "f").write_text("file f\n")
    (t / "d" / "g").write_text("g\n")
    (t / "d" / "sub" / "h").write_text("h h h\n")
    (t / "ln").symlink_to("f")
    (t / "dirln").symlink_to("d")
    (t / "longln").symlink_to("x" * 300)  # longer than the C cache keeps
    (t / "e" / "sub").mkdir(parents=True)
    for i in range(30):
        (t / "e" / f"file{i:02d}").write_text("x" * i)
    (t / "c" / "x" / "sub").mkdir(parents=True)
    (t / "c" / "x" / "y").write_text("y\n")
    (t / "c" / "lnk").symlink_to("x/y")
    (t / "r").mkdir()
    (t / "q").mkdir()
    (t / "s").mkdir()
    (t / "p").mkdir()
    (t / "m" / "one").mkdir(parents=True)
    (t / "m" / "two").mkdir()
    (t / "m" / "ln-one").symlink_to("one")
    (t / "m" / "dangling").symlink_to("nowhere")
    (t / "k").mkdir()
    (t / "k" / "file").write_text("at the end of the chains\n")
    (t / "k" / "l1").symlink_to("l2")
    (t / "k" / "l2").symlink_to("file")
    (t / "k" / "loop-a").symlink_to("loop-b")
    (t / "k" / "loop-b").symlink_to("loop-a")
    for k in range(9):  # c0 -> c1 -> ... -> c8 -> file: nine links
        (t / "k" / f"c{k}").symlink_to(f"c{k + 1}" if k < 8 else "file")
    (t / "k" / "d0").symlink_to("dangling-nowhere")
    (t / "p" / "a").write_text("renamed first\n")
    for name, text in (("old", "old\n"), ("target", "the target\n"), ("other", "other!\n"),
                       ("kept", "kept here\n")):
        (t / "s" / name).write_text(text)
    (t / "s" / "ln-old").symlink_to("old")
    shutil.copy2(BUSYBOX, t / "s" / "sh")
    (t / "q" / "gone").write_text("read as a link\n")
    (t / "r" / "gone").write_text("to be removed\n")
    (t / "r" / "kept").write_text("removed later\n")
    (t / "r" / "ln-gone").symlink_to("gone")
    shutil.copy2(BUSYBOX, t / "r" / "sh")
    for p in (t, t / "d", t / "d" / "sub", t / "e", t / "e" / "sub", t / "c", t / "c" / "x",
              t / "c" / "x" / "sub", t / "r", t / "q", t / "s", t / "p", t / "m",
              t / "m" / "one", t / "m" / "two", t / "k"):
        p.chmod(0o755)
    return t


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_stat_answers_follow_every_change(sandbox, tmp_path, python_only):
    want, got, boxed_tree = sandbox.python_on_trees(PROGRAM, _tree, tmp_path,
                                                    python_only=python_only)
    assert got.splitlines() == want.splitlines()
    # The sandbox wrote its changes to memory: the host tree is as it was.
    assert (boxed_tree / "f").read_text() == "file f\n"


def test_listing_does_not_hide_a_mount(sandbox, busybox_bundle):
    """A listing of a directory pre-fills answers for its entries; an entry the sandbox
    mounted a file system over must still stat as that file system's root, not as the
    image's directory below it (and twice: the second stat is the cache's)."""
    from helpers.bundle import edit_config

    below = busybox_bundle / "rootfs" / "data" / "mnt"
    below.mkdir(parents=True)
    (below / "below").write_text("hidden\n")
    (busybox_bundle / "rootfs" / "data" / "file").write_text("f\n")
    script = ("ls /data > /dev/null; stat -c '%d %i' /data /data/mnt /data/mnt /data/file; "
              "stat -c '%d %i' /data/mnt/below 2>/dev/null || echo no-below")
    edit_config(busybox_bundle, args=["sh", "-c", script], mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data/mnt", "type": "tmpfs", "source": "tmpfs"},
    ])
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    data, mnt1, mnt2, file, below_line = res.stdout.splitlines()
    assert mnt1 == mnt2
    assert mnt1.split()[0] != data.split()[0], res.describe()  # another file system
    assert file.split()[0] == data.split()[0]
    assert below_line == "no-below", res.describe()


def _c_stats(runsc_root, cwd, code):
    """The compat report's newfstatat row of *code* run in *cwd* (native and sandbox)."""
    return _c_row(runsc_root, cwd, code, "newfstatat")


def _c_row(runsc_root, cwd, code, name):
    """The compat report's row of syscall *name* for *code* run in *cwd* (native and
    sandbox)."""
    from helpers.runner import compat_calls

    return compat_calls(["/usr/bin/python3", "-I", "-c", code], runsc_root, cwd)[name]


def _a_and_bs(tmp_path):
    """A tree of a file "a" and 200 files "b000".."b199"."""
    t = tmp_path / "t"
    t.mkdir()
    (t / "a").write_text("a\n")
    for i in range(200):
        (t / f"b{i:03d}").write_text("b\n")
    return t


def test_answers_outlive_the_removal_of_another_file(runsc_root, tmp_path):
    """A lower-layer file's removal drops the answers about that file only (and kept
    errors): a stat of another file after each of 200 unlinks is still C's (the compat
    report's count; a removal made every answer stale, as a build's object files did)."""
    t = _a_and_bs(tmp_path)
    # (compat runs it natively first: the files come back for the sandbox's run)
    code = ("import os\nfor i in range(200):\n    os.stat('a')\n    os.unlink(f'b{i:03d}')\n"
            "for i in range(200):\n    open(f'b{i:03d}', 'w').write('b\\n')\n")
    stats = _c_stats(runsc_root, t, code)
    assert stats["count"] >= 200 and stats["fast"] >= 190, stats


def test_answers_outlive_a_file_renamed_over_another(runsc_root, tmp_path):
    """A file renamed over a lower-layer file (git writes its index so, an editor saves
    so) drops the answers about those two only: a stat of another file after each of 200
    such renames is still C's (the compat report's count)."""
    t = _a_and_bs(tmp_path)
    code = ("import os\nfor i in range(200):\n    os.stat('a')\n"
            "    open(f'b{i:03d}.lock', 'w').write('new\\n')\n"
            "    os.rename(f'b{i:03d}.lock', f'b{i:03d}')\n")
    stats = _c_stats(runsc_root, t, code)
    assert stats["count"] >= 200 and stats["fast"] >= 190, stats


def test_a_directory_gone_back_to_finds_its_answers(runsc_root, tmp_path):
    """The C side keys relative paths' answers by the place (root and cwd): a process that
    changes back to a directory, or another one that changes to it (git to its work tree's
    top), finds the answers made there.  200 stats, each after a chdir there and back:
    all but the first are C's (the compat report's count; a new key at every chdir made
    each one Python's)."""
    t = tmp_path / "t"
    (t / "d").mkdir(parents=True)
    (t / "d" / "f").write_text("f\n")
    code = "import os\nfor i in range(200):\n    os.chdir('d')\n    os.stat('f')\n    os.chdir('..')\n"
    stats = _c_stats(runsc_root, t, code)
    assert stats["count"] >= 200 and stats["fast"] >= 190, stats


def test_a_missing_name_outlives_new_names_elsewhere(runsc_root, tmp_path):
    """A kept ENOENT goes stale only when a name appears in its own directory: 200 stats
    of a missing name, each after a file is created in another directory, stay C's (the
    compat report's count; every creation made every ENOENT stale, as a compiler's
    temporary files did to its include paths' missing headers).  The name is missing from
    a directory the sandbox made, whose ENOENTs C keeps one by one (a lower-layer
    directory's listing answers them)."""
    t = tmp_path / "t"
    (t / "B").mkdir(parents=True)
    # (compat runs it natively first: what it makes is gone for the sandbox's run)
    code = ("import os\nos.mkdir('A')\nfor i in range(200):\n    try:\n"
            "        os.stat('A/nope')\n    except FileNotFoundError:\n        pass\n"
            "    open(f'B/b{i:03d}', 'w').close()\n"
            "for i in range(200):\n    os.unlink(f'B/b{i:03d}')\nos.rmdir('A')\n")
    stats = _c_stats(runsc_root, t, code)
    assert stats["count"] >= 200 and stats["fast"] >= 190, stats


ACCESS_PROGRAM = r'''
import os, sys

top = sys.argv[1]
MODES = (("R", os.R_OK), ("X", os.X_OK), ("RX", os.R_OK | os.X_OK), ("W", os.W_OK),
         ("F", os.F_OK))

def ask(who):
    for name in sorted(os.listdir(top)):
        for path in (f"{top}/{name}", f"{top}/{name}/inner"):
            answers = []
            for label, mode in MODES:
                got = {os.access(path, mode) for _ in range(3)}  # the repeats: C's
                answers.append(label + "=" + "/".join(str(int(g)) for g in sorted(got)))
            print(who, path.replace(top, "TREE"), " ".join(answers))

ask("root")
in_child(lambda: ask("1000"), uid=1000, gid=1000, groups=[])
# a change the cached answers must follow
os.chmod(f"{top}/f600", 0o604)
os.chmod(f"{top}/d755", 0o700)
ask("root-after")
in_child(lambda: ask("1000-after"), uid=1000, gid=1000, groups=[])
'''


def _access_tree(top: Path, made: list) -> Path:
    """Files and directories of every class and permission access(2) tells apart: owned
    by root, by uid 1000, or by root with group 1000; each directory holds a file.  Made
    in /var/tmp, which uid 1000 may search (pytest's own directories are root's only),
    and added to *made* for the test to remove."""
    import tempfile

    t = Path(tempfile.mkdtemp(prefix=f"runsc-access-{top.name}-", dir="/var/tmp"))
    made.append(t)
    t.chmod(0o755)
    files = {"f644": (0o644, 0, 0), "f600": (0o600, 0, 0), "f755": (0o755, 0, 0),
             "f711": (0o711, 0, 0), "f000": (0o000, 0, 0), "f070": (0o070, 0, 0),
             "f001": (0o001, 0, 0), "u600": (0o600, 1000, 1000), "u640": (0o640, 1000, 1000),
             "u604": (0o604, 1000, 1000), "u070": (0o070, 1000, 1000),
             "u007": (0o007, 1000, 1000), "u100": (0o100, 1000, 1000),
             "g040": (0o040, 0, 1000), "g004": (0o004, 0, 1000), "g050": (0o050, 0, 1000)}
    for name, (mode, uid, gid) in files.items():
        p = t / name
        p.write_text(name)
        os.chown(p, uid, gid)
        p.chmod(mode)
    dirs = {"d700": (0o700, 0, 0), "d755": (0o755, 0, 0), "d711": (0o711, 0, 0),
            "d000": (0o000, 0, 0), "d750g": (0o750, 0, 1000), "ud700": (0o700, 1000, 1000)}
    for name, (mode, uid, gid) in dirs.items():
        d = t / name
        d.mkdir()
        (d / "inner").write_text("inner")
        (d / "inner").chmod(0o644)
        os.chown(d, uid, gid)
        d.chmod(mode)
    return t


@contextlib.contextmanager
def _access_trees() -> Iterator[list]:
    """The list :func:`_access_tree` adds its trees to; each is removed at the end. Skips
    where /var/tmp is mounted noexec: Linux refuses X_OK of a file there (the sandbox sees
    it as part of its root, whose mount is not)."""
    if os.statvfs("/var/tmp").f_flag & os.ST_NOEXEC:
        pytest.skip("/var/tmp is mounted noexec")
    made: list = []
    try:
        yield made
    finally:
        for t in made:
            shutil.rmtree(t, ignore_errors=True)


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_access_permission_answers(sandbox, tmp_path, python_only):
    """access(2)'s R_OK and X_OK answers of the trusted lower layer, which C gives a task
    whose real ids are its own from the stat cache's answer (sc_access) and Python
    otherwise: as root (CAP_DAC_OVERRIDE: X_OK needs an execute bit on a file) and as
    uid 1000 without supplementary groups (owner, group and other classes), three times
    each, before and after a chmod; natively the same."""
    with _access_trees() as made:
        want, got, _ = sandbox.python_on_trees(
            ACCESS_PROGRAM, lambda top: _access_tree(top, made), tmp_path,
            python_only=python_only)
        assert got.splitlines() == want.splitlines()
        # (both users asked, and the chmod's answer is there: a check of the check)
        assert "1000 TREE/u640 R=1" in got and "1000 TREE/f600 R=0" in got, got
        assert "1000-after TREE/f600 R=1" in got, got
        if not python_only:
            # C answered the repeats (the first one walks in Python): root's R_OK of a file
            # only its group may read (the sandbox's tree; the native one is gone)
            path = str(made[-1] / "g040")
            code = f"import os\nfor _ in range(5): assert os.access({path!r}, os.R_OK)"
            row = _c_row(sandbox.root, tmp_path, code, "access")
            assert row["fast"] >= 4, row


ACCESS_CREDS_PROGRAM = r'''
import ctypes, errno, os, struct, sys

top = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_EACCESS = -100, 0x200
PATHS = ("d700/inner", "d700/missing", "ud700/inner", "ud700/missing", "d755/inner",
         "f600", "u600")

def acc(path, mode, flags):
    ctypes.set_errno(0)
    r = libc.faccessat(AT_FDCWD, path.encode(), mode, flags)
    return "0" if r == 0 else errno.errorcode[ctypes.get_errno()]

def ask(who):
    for name in PATHS:
        row = []
        for label, flags in (("real", 0), ("eaccess", AT_EACCESS)):
            for m, mode in (("F", os.F_OK), ("R", os.R_OK)):
                got = {acc(f"{top}/{name}", mode, flags) for _ in range(3)}  # repeats: C's
                row.append(f"{label}-{m}=" + "/".join(sorted(got)))
        print(who, name, " ".join(row), flush=True)

def capset_effective(effective):
    hdr = struct.pack("II", 0x20080522, 0)
    data = ctypes.create_string_buffer(24)
    assert libc.syscall(125, hdr, data) == 0  # capget
    words = list(struct.unpack("6I", data.raw))
    words[0], words[3] = effective & 0xFFFFFFFF, effective >> 32
    assert libc.syscall(126, hdr, struct.pack("6I", *words)) == 0  # capset

def child(label, setup):
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        setup()
        ask(label)
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)

# root first: the answers its walks keep are the ones C would find for the children
ask("root")
child("real-65534", lambda: os.setresuid(65534, 0, 0))
child("real-1000", lambda: os.setresuid(1000, 0, 0))
child("fsuid-65534", lambda: libc.setfsuid(65534))
child("no-effective-caps", lambda: capset_effective(0))
def no_fixup():
    assert libc.prctl(28, 1 << 2, 0, 0, 0) == 0  # PR_SET_SECUREBITS, NO_SETUID_FIXUP
    os.setresuid(65534, 0, 0)
child("no-fixup-real-65534", no_fixup)
def fixup_cleared():  # the bit set, the effective set cut to CAP_SETPCAP, the bit cleared
    assert libc.prctl(28, 1 << 2, 0, 0, 0) == 0
    capset_effective(1 << 8)
    assert libc.prctl(28, 0, 0, 0, 0) == 0
child("fixup-cleared", fixup_cleared)
'''


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_access_walks_with_the_real_ids(sandbox, tmp_path, python_only):
    """access(2) without AT_EACCESS walks the whole path, not only checks the file, with
    the real ids and access's capabilities (the permitted set for a real uid 0, none
    otherwise; the effective set under SECBIT_NO_SETUID_FIXUP: access_override_creds),
    and with AT_EACCESS with the file-system ids and the effective set: a real uid that
    may not search a directory gets EACCES, not the file's answer nor ENOENT, also where
    the stat cache kept root's answers (C leaves those tasks' access to Python); and a
    file-system uid or an effective set that may not search does not stop access. A
    change of the securebits alone changes access's capabilities (C hears of it)."""
    with _access_trees() as made:
        want, got, _ = sandbox.python_on_trees(
            ACCESS_CREDS_PROGRAM, lambda top: _access_tree(top, made), tmp_path,
            python_only=python_only)
        assert got.splitlines() == want.splitlines()
        # (a check of the check: each credential's own answers are there)
        assert "real-65534 d700/inner real-F=EACCES" in got, got
        assert "fsuid-65534 d700/inner real-F=0 real-R=0 eaccess-F=EACCES" in got, got
        assert "no-effective-caps ud700/inner real-F=0" in got, got
        assert "fixup-cleared u600 real-F=0 real-R=0 eaccess-F=0 eaccess-R=EACCES" in got, got
