"""execve finds what a path names now, though the sentry keeps the walks of executables'
paths (differential).

A program runs executables of a tree that exists before the sandbox starts (the root
overlay's trusted lower layer, where the sentry keeps the walk of an executable's path
while nothing can change it: vfs._resolve_exec), changes the tree between two runs of the
same paths, and prints what each run printed or how execve failed.  Native execution on a
copy of the tree is the reference; the sandbox must print the same with the fast path
(the walks kept) and without it (--python-only: none kept).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROGRAM = r'''
import errno, os, sys

def run(label, path, cwd=None):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        try:
            if cwd:
                os.chdir(cwd)
            os.execv(path, [path])
        except OSError as e:
            os.write(1, errno.errorcode[e.errno].encode())
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    print(label, path, "->", out.decode().strip())

def twice(label, *paths, cwd=None):
    for p in paths:
        run(label, p, cwd)
        run(label, p, cwd)

def script(path, text, mode=0o755):
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\necho " + text + "\n")
    os.chmod(path, mode)

os.chdir(sys.argv[1])
root = os.getcwd()
twice("start", "bin/tool", root + "/bin/tool", "bin/link", "bin/dirlink/tool", "bin/missing",
      "bin/plain", "bin")
# programs unlinked, renamed over another, renamed to a new name, with no other change of
# names between (a build's link step unlinks the program it writes again)
twice("x-start", "x/a", "x/b", "x/c", "x/d")
os.unlink("x/a")
twice("x-unlinked", "x/a", root + "/x/a")
os.rename("x/b", "x/c")
twice("x-renamed-over", "x/c", "x/b")
os.rename("x/d", "x/e")
twice("x-renamed-away", "x/d", "x/e")
# the program rewritten in place (a copy-up), a new one where one was missing
script("bin/tool", "tool-rewritten")
script("bin/missing", "now-there")
twice("rewritten", "bin/tool", root + "/bin/tool", "bin/link", "bin/missing")
# a symlink retargeted, a program renamed over another, a directory renamed away
os.unlink("bin/link")
os.symlink("tool2", "bin/link")
twice("retargeted", "bin/link")
os.rename("bin/tool2", "bin/tool")
twice("renamed-over", "bin/tool", "bin/link")
os.rename("sub", "sub-moved")
twice("dir-renamed", "bin/dirlink/tool", "sub-moved/tool")
# permissions: the execute bit taken away and given back; a directory closed to others
os.chmod("bin/tool", 0o644)
twice("not-executable", "bin/tool")
os.chmod("bin/tool", 0o755)
twice("executable-again", "bin/tool")
os.chmod("bin", 0o700)
twice("root-in-closed-dir", "bin/tool")
in_child(lambda: twice("nobody", "bin/tool", root + "/bin/tool"), uid=65534, gid=65534)
os.chmod("bin", 0o755)
# a directory only its owner may search: its owner runs a program in it, then another user
for uid, label in ((65534, "owner"), (65533, "stranger"), (65534, "owner-again")):
    in_child(lambda: twice(label, "priv/tool", root + "/priv/tool"), uid=uid, gid=65534)
# relative to another cwd: the same name, another program
twice("cwd-bin", "./tool", cwd="bin")
twice("cwd-other", "./tool", cwd="other")
'''


def _tree(base: Path) -> Path:
    (base / "bin").mkdir(parents=True)
    (base / "sub").mkdir()
    (base / "other").mkdir()
    for path, text in (("bin/tool", "tool-one"), ("bin/tool2", "tool-two"),
                       ("sub/tool", "sub-tool"), ("other/tool", "other-tool")):
        (base / path).write_text(f"#!/bin/sh\necho {text}\n")
        (base / path).chmod(0o755)
    (base / "x").mkdir()
    for name in "abcd":
        (base / "x" / name).write_text(f"#!/bin/sh\necho x-{name}\n")
        (base / "x" / name).chmod(0o755)
    (base / "x").chmod(0o755)
    (base / "bin" / "plain").write_text("#!/bin/sh\necho plain\n")
    (base / "bin" / "plain").chmod(0o644)
    (base / "bin" / "link").symlink_to("tool")
    (base / "bin" / "dirlink").symlink_to("../sub")
    for p in (base, base / "bin", base / "sub", base / "other"):
        p.chmod(0o755)
    (base / "priv").mkdir()
    (base / "priv" / "tool").write_text("#!/bin/sh\necho priv-tool\n")
    (base / "priv" / "tool").chmod(0o755)
    os.chown(base / "priv", 65534, 65534)
    (base / "priv").chmod(0o700)
    return base


@pytest.mark.parametrize("python_only", [False, True], ids=["fast-path", "python-only"])
def test_exec_finds_what_the_path_names_now(sandbox, tmp_path, python_only):
    want, got, boxed_tree = sandbox.python_on_trees(PROGRAM, _tree, tmp_path,
                                                    python_only=python_only)
    assert "tool-rewritten" in want and "EACCES" in want
    assert got.splitlines() == want.splitlines()
    # The sandbox wrote its changes to memory: the host tree is as it was.
    assert (boxed_tree / "bin" / "tool").read_text() == "#!/bin/sh\necho tool-one\n"
