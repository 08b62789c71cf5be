"""Programs that make their own pseudo-terminals inside the sandbox, compared with the same
programs natively (do mode; pty numbers normalised): Python's ``pty.fork`` and
``pty.spawn``, util-linux's ``script -qc``, and an expect-like driver of an interactive
shell (a prompt, a foreground job with job control, ``^C``, ``exit``).

Natively the ptys come from the host's devpts; in the sandbox from the sandbox's own.
"""

from __future__ import annotations

import re
import shutil

import pytest

PYTHON = "/usr/bin/python3"

FORK = r"""
import os, pty
pid, fd = pty.fork()
if pid == 0:
    print("child", os.isatty(0), os.ttyname(0), os.getsid(0) == os.getpid(),
          os.tcgetpgrp(0) == os.getpgrp())
    line = input()
    print("got", repr(line), flush=True)
    input()  # (natively, output a child writes just before it exits can be lost to EIO)
    os._exit(3)
out = b""
while not out.endswith(b"\r\n"):  # the child's first line, then its input
    out += os.read(fd, 1024)
os.write(fd, b"hello\x7f\x7fp\n")
while not out.endswith(b"\r\n") or b"got" not in out:  # its answer, then let it go
    out += os.read(fd, 1024)
os.write(fd, b"\n")
while True:
    try:
        d = os.read(fd, 1024)
    except OSError as e:
        print("master:", e.strerror)
        break
    if not d:
        break
    out += d
print(repr(out))
print("status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""

SPAWN = r"""
import pty, sys
status = pty.spawn(["/bin/sh", "-c", "read x; echo got $x; tty; stty size"])
print("status", status)
"""

# An expect-like session: wait for the prompt, type, wait for the answer.
EXPECT = r"""
import os, pty, select, time
pid, fd = pty.fork()
if pid == 0:
    os.execve("/bin/sh", ["sh", "-i"], {"PS1": "$ ", "PATH": "/usr/bin:/bin"})
out = b""
def expect(pat, timeout=20.0):
    global out
    end = time.monotonic() + timeout
    while pat not in out and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return False
            if not d:
                return False
            out += d
    found = pat in out
    if found:
        out = out[out.index(pat) + len(pat):]
    return found
log = []
log.append(expect(b"$ "))
os.write(fd, b"echo $((6*7))\n")
log.append(expect(b"42\r\n"))
log.append(expect(b"$ "))
os.write(fd, b"sleep 0.2; echo slept\n")
log.append(expect(b"slept\r\n"))
log.append(expect(b"$ "))
os.write(fd, b"sleep 30; echo not-interrupted\n")
time.sleep(1.0)
os.write(fd, b"\x03")
log.append(expect(b"$ "))
os.write(fd, b"stty -echo; echo quiet\n")
log.append(expect(b"quiet\r\n"))
log.append(expect(b"$ "))
os.write(fd, b"exit 5\n")
expect(b"\x00", 5.0)
print(log, b"not-interrupted" in out)
print("status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def _norm(text: str) -> str:
    return re.sub(r"/dev/pts/\d+", "/dev/pts/N", text)


def _compare(sandbox, cmd, *, input=None):
    from helpers.runner import run_native

    native = run_native(cmd, input=input, timeout=60)
    assert native.rc == 0, native.describe()
    boxed = sandbox.do(cmd, input=input, timeout=60)
    assert boxed.rc == native.rc, boxed.describe()
    assert _norm(boxed.stdout) == _norm(native.stdout), boxed.describe()
    return native


def test_python_pty_fork_matches_native(sandbox):
    native = _compare(sandbox, [PYTHON, "-c", FORK])
    assert "got 'help'" in native.stdout and "status 3" in native.stdout


def test_python_pty_spawn_matches_native(sandbox):
    native = _compare(sandbox, [PYTHON, "-c", SPAWN], input="abc\n")
    assert "got abc" in native.stdout and "/dev/pts/" in native.stdout


def _has_signalfd() -> bool:
    from sentry.syscalls.linux import linux64

    e = linux64.entry(289)  # signalfd4: script waits for its child through one
    return e is not None and e.handler is not None


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux's script is missing")
@pytest.mark.skipif(not _has_signalfd(), reason="script needs signalfd")
def test_script_matches_native(sandbox):
    native = _compare(sandbox, ["script", "-qc", "echo hi; tty", "/dev/null"])
    assert native.stdout.startswith("hi\r\n/dev/pts/"), native.stdout


def test_expect_like_shell_session_matches_native(sandbox):
    native = _compare(sandbox, [PYTHON, "-c", EXPECT])
    assert "[True, True, True, True, True, True, True, True] False" in native.stdout
    assert "status 5" in native.stdout
