"""Design §7.4 and §6 "Gofer": the gofer is confined even against a hostile sentry.

A compromised sentry is in the gofer's threat model. Once confined the gofer (host root)
holds only the capabilities it uses (``gofer.filter.KEEP_CAPS``) and runs under a seccomp
filter built from one declared allowlist (``gofer.filter.ALLOWED``) that kills the process
for anything else. Each test names the rule it protects:

- the running gofer, started as the sentry starts it (``gofer.server.spawn``), shows the
  filter and exactly the declared capabilities in ``/proc/PID/status``, and uses each of them;
- the filter's BPF allows exactly the declared syscalls, and each argument check holds
  (``helpers.bpf`` interprets the program for concrete and all argument values);
- a confined process (``confine`` in a child, as the gofer does) that makes a forbidden call
  dies of SIGSYS, while the calls the server and CPython's allocator need still work;
- a gofer with only read-only roots has neither the change calls nor the capabilities only
  changes need, and answers change requests with EROFS;
- a gofer that dies of SIGSYS stops its sandbox;
- hostile protocol traffic (handles after close, too many names, magic links, links and
  renames across roots, flags the server refuses, fds sent to it, fd exhaustion, random
  bytes) gets an error reply and never a file outside the roots; the gofer keeps serving.

tests/unit/gofer/ covers the ordinary protocol errors (bad names, bad handles, garbage
headers, symlinks out of the root, special files, swapped names); these tests add to them.

Run: ``python3 -m pytest tests/security/test_confined_gofer.py`` (as root).
"""

from __future__ import annotations

import errno
import os
import random
import resource
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import bpf, procs
from helpers.runner import BASE_ENV, REPO, runsc_argv

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gofer import filter as gofer_filter  # noqa: E402
from gofer import protocol as p  # noqa: E402
from gofer.client import GoferClient  # noqa: E402
from gofer.server import spawn  # noqa: E402

NR_MAX = 548
CHANNEL_FD = 3  # the channel's fd number in a spawned gofer
KILL = bpf.SECCOMP_RET_KILL_PROCESS
ALLOW = bpf.SECCOMP_RET_ALLOW
AT_FDCWD = -100


# ---------------------------------------------------------------- helpers


class Gofer:
    """A gofer started as the sentry starts it, with a versioned client."""

    def __init__(self, roots: list[tuple[str, bool]]) -> None:
        self.pid, self.sock = spawn(roots)
        self.client = GoferClient(self.sock)
        self.client.version()
        self.status: int | None = None

    def alive(self) -> bool:
        return os.waitpid(self.pid, os.WNOHANG) == (0, 0)

    def stop(self) -> int:
        if self.status is None:
            self.sock.close()
            deadline = time.monotonic() + 5
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.status = status
                    break
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    self.status = os.waitpid(self.pid, 0)[1]
                    break
                time.sleep(0.01)
        return self.status


@pytest.fixture
def start_gofer() -> Iterator[Callable[..., Gofer]]:
    started: list[Gofer] = []

    def start(*roots: tuple[Path, bool]) -> Gofer:
        g = Gofer([(str(r), ro) for r, ro in roots])
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{d/f, file} and, beside it, outside/secret that must never be served."""
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"hello\n")
    (root / "file").write_bytes(b"0123456789")
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_bytes(b"secret\n")
    return root


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f)


def _serving(g: Gofer, tree: Path) -> None:
    """The gofer survived: alive, still filtered, and answering."""
    assert g.alive(), "the gofer died"
    h, st = g.client.attach(0)
    assert st.ino == os.stat(tree).st_ino
    g.client.close(h)


def _ask(sock: socket.socket, data: bytes, fds: list[int] | None = None) -> tuple[p.Message, int]:
    """Send one raw datagram; returns the decoded reply and how many fds came with it."""
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)
    reply, anc, _, _ = sock.recvmsg(p.MAX_MESSAGE, socket.CMSG_SPACE(64))
    got = 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for fd in struct.unpack(f"<{len(payload) // 4}i", payload):
                os.close(fd)
                got += 1
    return p.decode(reply), got


def _errno(call: Callable[..., object], *args: object) -> int:
    with pytest.raises(OSError) as e:
        call(*args)
    return e.value.errno


# ---------------------------------------------------------------- the running gofer


@pytest.mark.parametrize("readonly", [False, True], ids=["rw", "ro"])
def test_running_gofer_is_filtered_with_declared_capabilities(tree: Path, readonly: bool,
                                                              start_gofer: Callable[..., Gofer]):
    """§6 Gofer: seccomp filter mode, no_new_privs, and exactly KEEP_CAPS in the effective and
    permitted sets (with only read-only roots, only CAP_DAC_OVERRIDE); nothing inheritable or
    ambient; the bounding set holds no more, so no exec could bring another one back."""
    g = start_gofer((tree, readonly))
    st = _status(g.pid)
    keep = gofer_filter.kept_caps(not readonly)
    assert keep == (0b11011 if not readonly else 0b10)  # CHOWN DAC_OVERRIDE FOWNER FSETID
    assert st["Seccomp"].strip() == "2" and st["Seccomp_filters"].strip() == "1"
    assert st["NoNewPrivs"].strip() == "1"
    assert int(st["CapEff"], 16) == keep
    assert int(st["CapPrm"], 16) == keep
    assert int(st["CapBnd"], 16) == keep
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    names = {c.name for c in gofer_filter.KEEP_CAPS.values()}
    assert names == {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID"}
    _serving(g, tree)


def test_each_kept_capability_is_used(tree: Path, start_gofer: Callable[..., Gofer]):
    """§6 Gofer: "no capability it does not use", read the other way: each one kept is what
    lets a root sandbox do what Linux lets root do on files another user owns."""
    other = 4321
    locked = tree / "locked"
    locked.mkdir(mode=0o000)
    (locked / "inner").write_bytes(b"x")
    os.chown(locked, other, other)
    (tree / "theirs").write_bytes(b"y")
    os.chown(tree / "theirs", other, other)
    os.chmod(tree / "theirs", 0o000)
    g = start_gofer((tree, False))
    c = g.client
    root, _ = c.attach(0)
    # CAP_DAC_OVERRIDE: search a mode-0 directory, open a mode-0 file for writing.
    (inner, _), = c.walk(c.walk(root, [b"locked"])[0][0], [b"inner"])
    os.close(c.open(inner, os.O_RDWR))
    (theirs, _), = c.walk(root, [b"theirs"])
    os.close(c.open(theirs, os.O_RDWR))
    # CAP_CHOWN: a new file gets the sandbox's owner.
    _, st = c.mkdir(root, b"new", 0o755, other, other + 1)
    assert (st.uid, st.gid) == (other, other + 1)
    # CAP_FOWNER: chmod and set times of a file the gofer does not own.
    c.setattr(theirs, mode=0o640, mtime_ns=0)
    assert os.stat(tree / "theirs").st_mtime_ns == 0
    # CAP_FSETID: the set-group-ID bit stays on a file of a group the gofer is not in.
    c.setattr(theirs, mode=0o2755)
    assert stat.S_IMODE(os.stat(tree / "theirs").st_mode) == 0o2755
    _serving(g, tree)


# ---------------------------------------------------------------- the filter as data


@pytest.mark.parametrize("writable", [True, False], ids=["rw", "ro"])
def test_filter_allows_exactly_the_declared_syscalls(writable: bool):
    """§6 Gofer: the allowlist is one table; interpreting the BPF for every number finds that
    table and nothing else (less its write rows for a gofer with only read-only roots), and
    every row says why it is there."""
    prog = gofer_filter.export_bpf(CHANNEL_FD, writable)
    declared = {r.nr for r in gofer_filter.allowed(writable)}
    assert len({r.nr for r in gofer_filter.ALLOWED}) == len(gofer_filter.ALLOWED)
    writes = {r.name for r in gofer_filter.ALLOWED if r.writes}
    assert writes == {"mkdirat", "symlinkat", "linkat", "unlinkat", "renameat2", "fchownat",
                      "fchmodat2", "utimensat", "fchmod", "ftruncate", "fsetxattr",
                      "fremovexattr"}
    assert bpf.allowed_set(prog, range(NR_MAX)) == declared
    assert all(r.why for r in gofer_filter.ALLOWED)
    for nr in range(NR_MAX):
        if nr not in declared:
            assert bpf.actions_for(prog, nr) == {KILL}, nr


def test_syscall_numbers_are_the_kernels():
    """The allowlist's numbers are the x86-64 numbers of the names it gives (as libseccomp
    knows them), so the table that documents a row is the table that builds it."""
    import pyseccomp

    for rule in gofer_filter.ALLOWED:
        assert rule.nr == pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, rule.name), rule.name
    assert set(gofer_filter.SYSCALL_NUMBERS) == {r.name for r in gofer_filter.ALLOWED}


FORBIDDEN = ["execve", "execveat", "fork", "clone", "clone3", "socket", "socketpair", "connect",
             "sendto", "ptrace", "process_vm_readv", "mount", "umount2", "open_tree",
             "move_mount", "fsopen", "mount_setattr", "pivot_root", "chroot", "unshare", "setns",
             "open", "openat", "open_by_handle_at", "name_to_handle_at", "ioctl", "prctl",
             "capset", "setuid", "setresuid", "setgroups", "seccomp", "bpf", "io_uring_setup",
             "kill", "tgkill", "dup", "dup2", "chdir", "fchdir", "mprotect", "read", "pwrite64",
             "mknodat", "keyctl", "perf_event_open", "userfaultfd"]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_forbidden_syscall_is_killed_whatever_its_arguments(name: str):
    """§6 Gofer: no exec, fork, socket, ptrace, mount or namespace call, no path-based open,
    no id or capability change after confinement: every such call kills the gofer."""
    import pyseccomp

    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    assert bpf.actions_for(gofer_filter.export_bpf(CHANNEL_FD, True), nr) == {KILL}


def test_foreign_abi_is_killed():
    """§6 Gofer: int 0x80 (i386) and x32 numbers are killed like any forbidden call."""
    prog = gofer_filter.export_bpf(CHANNEL_FD, True)
    openat2 = gofer_filter.Rule("openat2", (), "").nr
    assert bpf.run(prog, bpf.seccomp_data(openat2, args=(5,))) == ALLOW
    assert bpf.run(prog, bpf.seccomp_data(openat2 | 0x40000000, args=(5,))) == KILL
    assert bpf.run(prog, bpf.seccomp_data(5, arch=bpf.AUDIT_ARCH_I386)) == KILL


_SEXT_FDCWD = AT_FDCWD & 0xFFFFFFFFFFFFFFFF  # -100 sign-extended, as glibc passes it
_ZEXT_FDCWD = AT_FDCWD & 0xFFFFFFFF  # the same int with a clean upper half

# (syscall, arguments, allowed?) — each row one argument check of gofer.filter.ALLOWED.
ARG_CASES = [
    *[case for name, i in (("openat2", 0), ("newfstatat", 0), ("readlinkat", 0),
                           ("mkdirat", 0), ("unlinkat", 0), ("fchownat", 0), ("fchmodat2", 0),
                           ("utimensat", 0), ("symlinkat", 1), ("renameat2", 0),
                           ("renameat2", 2), ("linkat", 0), ("linkat", 2))
      for case in (
          (name, {i: 5}, True),
          (name, {i: _SEXT_FDCWD}, False),
          (name, {i: _ZEXT_FDCWD}, False),
          (name, {i: 0xFFFFFFFF}, False),  # -1 (any negative dirfd)
      )],
    *[case for name in ("flistxattr", "fgetxattr", "fsetxattr", "fremovexattr")
      for case in (
          (name, {0: 5}, True),
          (name, {0: _SEXT_FDCWD}, False),
          (name, {0: 0xFFFFFFFF}, False),
      )],
    ("fsetxattr", {4: 1}, True),  # XATTR_CREATE
    ("fsetxattr", {4: 2}, True),  # XATTR_REPLACE
    ("fsetxattr", {4: 3}, True),  # both: EEXIST or ENODATA, as Linux says
    ("fsetxattr", {4: 4}, False),
    ("fsetxattr", {4: 0x100}, False),
    ("fsetxattr", {4: 0xFFFFFFFF}, False),
    ("linkat", {4: 0x1000}, False),  # AT_EMPTY_PATH: link an fd by itself
    ("linkat", {4: 0x400}, False),  # AT_SYMLINK_FOLLOW
    ("recvmsg", {0: CHANNEL_FD, 2: socket.MSG_CMSG_CLOEXEC}, True),
    ("recvmsg", {0: CHANNEL_FD, 2: socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT}, True),
    ("recvmsg", {0: CHANNEL_FD + 1, 2: socket.MSG_CMSG_CLOEXEC}, False),
    ("recvmsg", {0: CHANNEL_FD, 2: socket.MSG_CMSG_CLOEXEC | socket.MSG_PEEK}, False),
    ("sendmsg", {0: CHANNEL_FD, 2: 0}, True),
    ("sendmsg", {0: 4, 2: 0}, False),
    ("sendmsg", {0: CHANNEL_FD, 2: socket.MSG_OOB}, False),
    ("write", {0: 2}, True),
    ("write", {0: 1}, False),
    ("write", {0: 4}, False),
    ("fcntl", {1: 3}, True),  # F_GETFL
    ("fcntl", {1: 4}, True),  # F_SETFL
    ("fcntl", {1: 2}, False),  # F_SETFD
    ("fcntl", {1: 0}, False),  # F_DUPFD
    ("fcntl", {1: 1030}, False),  # F_DUPFD_CLOEXEC
    ("mmap", {2: 3, 3: 0x22}, True),  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    ("mmap", {2: 7, 3: 0x22}, False),  # + PROT_EXEC
    ("mmap", {2: 1, 3: 0x02, 4: 5}, False),  # a file mapping
    ("clock_gettime", {0: 1}, True),  # CLOCK_MONOTONIC
    ("clock_gettime", {0: 0}, False),
]


@pytest.mark.parametrize("name,args,allowed", ARG_CASES,
                         ids=[f"{n}-{sorted(a.items())}" for n, a, _ in ARG_CASES])
def test_argument_checks(name: str, args: dict[int, int], allowed: bool):
    """§6 Gofer: file calls only beneath a real dirfd (never AT_FDCWD, however it is
    extended), the channel only through sendmsg/recvmsg with the server's flags, no
    executable or file mapping, stderr only."""
    import pyseccomp

    prog = gofer_filter.export_bpf(CHANNEL_FD, True)
    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    base = {"recvmsg": {0: CHANNEL_FD, 2: socket.MSG_CMSG_CLOEXEC},
            "sendmsg": {0: CHANNEL_FD}, "write": {0: 2}, "fcntl": {1: 3},
            "mmap": {2: 3, 3: 0x22}, "clock_gettime": {0: 1}}.get(name, {i: 5 for i in range(6)})
    argv = [0] * 6
    for i, v in {**base, **args}.items():
        argv[i] = v
    if name in ("linkat", "fsetxattr") and 4 not in args:
        argv[4] = 0
    ret = bpf.run(prog, bpf.seccomp_data(nr, args=argv))
    assert ret == (ALLOW if allowed else KILL)


# ---------------------------------------------------------------- the filter, loaded

_CHILD = r"""
import ctypes, errno, fcntl, mmap, os, socket, sys
from gofer import linux, server
from gofer.protocol import PROTOCOL_VERSION, MsgId, Rerror, Tstat, Tversion, decode, encode

code = compile(sys.argv[2], "<attempt>", "exec")
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.malloc.restype = ctypes.c_void_p
libc.realloc.restype = ctypes.c_void_p
libc.realloc.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
libc.free.argtypes = (ctypes.c_void_p,)
other, chan = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
(fd, _), = server.confine([(sys.argv[1].encode(), sys.argv[3] == "ro")], chan.fileno())
try:
    exec(code)
except BaseException as e:  # a traceback would read source files: report it by hand
    os.write(2, repr(e).encode())
    os._exit(3)
os._exit(0)
"""


def _confined(root: Path, attempt: str, readonly: bool = False
              ) -> subprocess.CompletedProcess[bytes]:
    """Run *attempt* in a fresh process right after ``confine`` (roots open, filter loaded)."""
    return subprocess.run([sys.executable, "-P", "-s", "-c", _CHILD, str(root), attempt,
                           "ro" if readonly else "rw"],
                          env={"PYTHONPATH": str(REPO)}, capture_output=True, timeout=30,
                          check=False)


KILLED = {
    "execve": 'os.execv("/bin/true", ["true"])',
    "fork": "os.fork()",
    "socket": "socket.socket(socket.AF_INET, socket.SOCK_STREAM)",
    "open a host path": 'open("/etc/passwd", "rb")',
    "stat a host path": 'os.stat("/")',
    "openat2 from AT_FDCWD": "linux.openat2(linux.AT_FDCWD, b'etc', os.O_PATH, 0)",
    "openat beneath a root": "os.open('d', os.O_RDONLY, dir_fd=fd)",
    "open_by_handle_at": "libc.syscall(304, fd, None, 0)",
    "linkat AT_EMPTY_PATH": "linux.linkat(fd, b'', fd, b'x', linux.AT_EMPTY_PATH)",
    "executable memory": "mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)",
    "write to stdout": "os.write(1, b'x')",
    "dup": "os.dup(fd)",  # fcntl(F_DUPFD_CLOEXEC)
    "fcntl F_SETFD": "fcntl.fcntl(fd, fcntl.F_SETFD, 0)",
    "ioctl": "fcntl.ioctl(chan.fileno(), 0x541B, b'1234')",
    "ptrace": "libc.syscall(101, 0, 0, 0, 0)",  # PTRACE_TRACEME: harmless if it ran
    "mount": "linux.mount(None, b'/', None, linux.MS_REC | linux.MS_PRIVATE)",
    "open_tree": "linux.open_tree_clone(fd)",
    "unshare": "linux.unshare(linux.CLONE_NEWNS)",
    "fchdir out of the chroot": "os.fchdir(fd)",
    "prctl": "linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)",
    "capset": "linux.capset(0, 0, 0)",
    "setuid": "os.setuid(1000)",
    "kill": "os.kill(1, 0)",  # signal 0 only checks; no getpid() first
    "send on the channel": "chan.send(b'x')",
    "sendmsg on another socket": "other.sendmsg([b'x'])",
    "recvmsg without CMSG_CLOEXEC": "chan.recvmsg(1)",
}


@pytest.mark.parametrize("what", sorted(KILLED))
def test_forbidden_call_kills_a_confined_process(tree: Path, what: str):
    """§6 Gofer: fail closed. After confine, a forbidden call (or a forbidden argument) ends
    the process with SIGSYS before the kernel does anything."""
    r = _confined(tree, KILLED[what])
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr[-2000:])


ALLOWED_WORK = {
    "a lookup and an open beneath a root": (
        "f = linux.openat2(fd, b'd', os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, server.RESOLVE)\n"
        "g = linux.openat2(f, b'f', os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, server.RESOLVE)\n"
        "assert os.fstat(g).st_size == 6\n"
        "os.close(g); os.close(f)"),
    "glibc's large chunks: mmap, mremap, munmap": (
        "a = libc.malloc(64 << 20)\n"
        "a = libc.realloc(a, 128 << 20)\n"
        "assert a\n"
        "libc.free(a)"),
    "CPython's arenas and the heap": "x = [bytes(1000) for _ in range(50000)]\ndel x",
    "a report on stderr": "print('gofer: a report', file=sys.stderr)",
    # frames and warnings in real source files: the default hooks would read them
    "extended attributes on a re-opened fd": (
        "g = linux.openat2(fd, b'file', os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, "
        "server.RESOLVE)\n"
        "os.setxattr(g, b'user.k', b'v', 1)\n"
        "assert os.listxattr(g) == ['user.k'] and os.getxattr(g, b'user.k') == b'v'\n"
        "os.removexattr(g, b'user.k')\n"
        "os.close(g)"),
    "the interpreter's own reports": (
        "import warnings\n"
        "server.report_without_sources()\n"
        "warnings.warn_explicit('odd', RuntimeWarning, server.__file__, 10)\n"
        "try:\n"
        "    linux.openat2(fd, b'missing', os.O_PATH, 0)\n"
        "except OSError as e:\n"
        "    sys.excepthook(OSError, e, e.__traceback__)"),
    "a handler bug fails one request": (
        "srv = server.GoferServer(chan, [(fd, False)])\n"
        "def boom(msg):\n"
        "    raise RuntimeError('bug')\n"
        "srv._handlers[MsgId.TSTAT] = boom\n"
        "srv.dispatch(encode(Tversion(PROTOCOL_VERSION)))\n"
        "assert srv.dispatch(encode(Tstat(1))) == Rerror(errno.EIO)"),
}


@pytest.mark.parametrize("what", sorted(ALLOWED_WORK))
def test_what_the_gofer_needs_still_works_confined(tree: Path, what: str):
    """§6 Gofer: the allowlist is complete for the server's paths, its error reports and the
    interpreter's allocator (a missing entry would kill the gofer in the middle of a
    sandbox's work)."""
    r = _confined(tree, ALLOWED_WORK[what])
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    if what == "a handler bug fails one request":
        assert b"RuntimeError: bug" in r.stderr and b'in boom' in r.stderr
    if what == "the interpreter's own reports":
        assert b"RuntimeWarning: odd" in r.stderr and b"FileNotFoundError" in r.stderr


def test_a_gofer_killed_by_its_filter_stops_the_sandbox(runsc_root: Path, tmp_path: Path):
    """§7.2 fail closed: a gofer that dies of SIGSYS (what its filter does to a forbidden call)
    stops the sandbox with a clear message, status 137, instead of leaving it running on
    with every file failing, or hanging."""
    proc = subprocess.Popen(
        [*runsc_argv(), "--root", str(runsc_root), "do", "--", "/bin/sh", "-c",
         "echo up; sleep 30; echo never"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=BASE_ENV, cwd=tmp_path, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        gofers = [pid for pid in procs.descendants(proc.pid) if procs.is_gofer(pid)]
        assert len(gofers) == 1, [procs.cmdline(pid) for pid in procs.descendants(proc.pid)]
        assert _status(gofers[0])["Seccomp"].strip() == "2"
        t0 = time.monotonic()
        os.kill(gofers[0], signal.SIGSYS)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 137 and b"never" not in out, (proc.returncode, out, err)
    assert f"the gofer (pid {gofers[0]}) died".encode() in err, err


READ_ONLY_KILLED = {
    "mkdir": "os.mkdir('x', dir_fd=fd)",
    "unlink": "os.unlink('file', dir_fd=fd)",
    "rename": "linux.renameat2(fd, b'file', fd, b'moved', 0)",
    "chown": "linux.fchown_path_fd(fd, 0, 0)",
    "utimes": "linux.utimens_path_fd(fd, (0, linux.UTIME_NOW), (0, linux.UTIME_NOW))",
    "setxattr": ("g = linux.openat2(fd, b'file', os.O_RDONLY | os.O_CLOEXEC, server.RESOLVE)\n"
                 "os.setxattr(g, b'user.k', b'v')"),
    "removexattr": ("g = linux.openat2(fd, b'file', os.O_RDONLY | os.O_CLOEXEC, "
                    "server.RESOLVE)\n"
                    "try:\n"
                    "    os.removexattr(g, b'user.k')\n"
                    "except OSError as e:\n"
                    "    assert e.errno == errno.ENODATA"),
}


@pytest.mark.parametrize("what", sorted(READ_ONLY_KILLED))
def test_read_only_gofer_cannot_change_anything(tree: Path, what: str):
    """§6 Gofer: with only read-only roots the change calls are not on the allowlist at all
    (the mount is read-only too; this is the layer under it)."""
    before = sorted(os.listdir(tree))
    r = _confined(tree, READ_ONLY_KILLED[what], readonly=True)
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr[-2000:])
    assert sorted(os.listdir(tree)) == before
    # the same call is allowed to a gofer with a writable root
    r = _confined(tree, READ_ONLY_KILLED[what], readonly=False)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])


def test_read_only_gofer_answers_changes_with_erofs(tree: Path,
                                                    start_gofer: Callable[..., Gofer]):
    """§6 Gofer: a read-only gofer refuses every change before making a call, so a sentry's
    write requests get EROFS and never a call its filter would kill it for."""
    g = start_gofer((tree, True))
    c = g.client
    root, _ = c.attach(0)
    (f, _), = c.walk(root, [b"file"])
    for call, args in ((c.create, (root, b"n", os.O_WRONLY, 0o644, 0, 0)),
                       (c.mkdir, (root, b"n", 0o755, 0, 0)),
                       (c.symlink, (root, b"n", b"t", 0, 0)),
                       (c.link, (root, b"n", f)), (c.unlink, (root, b"file")),
                       (c.rename, (root, b"file", root, b"n")),
                       (c.setattr, (f, 0o600)), (c.setattr, (f, None, 5)),
                       (c.setattr, (f, None, None, None, 0)), (c.open, (f, os.O_RDWR)),
                       (c.open, (f, os.O_RDONLY | os.O_TRUNC)),
                       (c.setxattr, (f, b"user.k", b"v")), (c.removexattr, (f, b"user.k"))):
        assert _errno(call, *args) == errno.EROFS, call
    assert _status(g.pid)["Seccomp"].strip() == "2"
    _serving(g, tree)


# ---------------------------------------------------------------- a hostile sentry


def test_host_security_labels_are_out_of_reach(tree: Path,
                                               start_gofer: Callable[..., Gofer]):
    """§7.4: a sandbox never reads or changes a host file's trusted.* or security.*
    attributes (SELinux labels, file capabilities, overlayfs metadata), whatever a
    (compromised) sentry sends: only user.* is listed, read, set or removed."""
    os.setxattr(tree / "file", "trusted.overlay.opaque", b"y")
    os.setxattr(tree / "file", "security.selinux", b"system_u:object_r:etc_t:s0\0")
    g = start_gofer((tree, False))
    c = g.client
    root, _ = c.attach(0)
    (f, _), = c.walk(root, [b"file"])
    assert c.listxattr(f) == []
    caps = struct.pack("<IIIII", 0x02000001, 1 << 21, 0, 0, 0)  # v2: CAP_SYS_ADMIN
    for name in (b"trusted.overlay.opaque", b"security.selinux", b"security.capability",
                 b"system.posix_acl_access"):
        assert _errno(c.getxattr, f, name) == errno.ENODATA
        assert _errno(c.setxattr, f, name, caps) == errno.EOPNOTSUPP
        assert _errno(c.removexattr, f, name) == errno.EOPNOTSUPP
    assert os.getxattr(tree / "file", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(tree / "file", "security.selinux").startswith(b"system_u")
    assert "security.capability" not in os.listxattr(tree / "file")
    _serving(g, tree)


def test_handles_after_close_are_ebadf(tree: Path, start_gofer: Callable[..., Gofer]):
    """§7.4: a closed handle names nothing; a child's handle keeps working, beneath its own
    directory, after its parent's handle is closed."""
    g = start_gofer((tree, False))
    c = g.client
    root, _ = c.attach(0)
    (d, _), = c.walk(root, [b"d"])
    (f, _), = c.walk(d, [b"f"])
    c.close(d)
    c.close(root)
    for call in (lambda: c.stat(d), lambda: c.walk(d, [b"f"]), lambda: c.open(d, os.O_RDONLY),
                 lambda: c.readdir(d), lambda: c.create(d, b"n", os.O_WRONLY, 0o644, 0, 0),
                 lambda: c.link(d, b"n", f), lambda: c.rename(d, b"f", d, b"g"),
                 lambda: c.setattr(d, mode=0o777), lambda: c.close(d), lambda: c.close(root)):
        assert _errno(call) == errno.EBADF
    fd = c.open(f, os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"hello\n"
    finally:
        os.close(fd)
    _serving(g, tree)


def test_walk_limits(tree: Path, start_gofer: Callable[..., Gofer]):
    """§7.4: too many names, a name longer than its datagram, a huge root index: EINVAL or
    ENOENT, never a partial walk."""
    g = start_gofer((tree, False))
    root, _ = g.client.attach(0)
    too_many = p.HEADER.pack(p.MsgId.TWALK, 0) + struct.pack("<IH", root, p.MAX_WALK + 1) + (
        b"\x01\x00d" * (p.MAX_WALK + 1))
    assert _ask(g.sock, too_many) == (p.Rerror(errno.EINVAL), 0)
    lying = p.HEADER.pack(p.MsgId.TWALK, 0) + struct.pack("<IHH", root, 1, 0xFFFF) + b"d"
    assert _ask(g.sock, lying) == (p.Rerror(errno.EINVAL), 0)
    deep = p.encode(p.Twalk(root, [b"x" * 255] * p.MAX_WALK))
    assert _ask(g.sock, deep) == (p.Rerror(errno.ENOENT), 0)
    for index in (1, 2**32 - 1):
        assert _ask(g.sock, p.encode(p.Tattach(index))) == (p.Rerror(errno.ENOENT), 0)
    _serving(g, tree)


def test_magic_links_in_a_root_are_not_followed(tree: Path, start_gofer: Callable[..., Gofer]):
    """§7.4: symlinks to the gofer's own fds (/proc/self/fd/N: the channel, a root) and to
    other processes' roots are returned as links, never opened or walked through."""
    targets = ["/proc/self/fd/3", "/proc/self/fd/4", "/proc/self/root", "/proc/1/root",
               "/proc/self/cwd", "/proc/thread-self/fd/4"]
    for i, t in enumerate(targets):
        os.symlink(t, tree / f"m{i}")
    g = start_gofer((tree, False))
    c = g.client
    root, _ = c.attach(0)
    for i, t in enumerate(targets):
        entries = c.walk(root, [f"m{i}".encode(), b"etc", b"passwd"])
        assert len(entries) == 1 and stat.S_ISLNK(entries[0][1].mode)
        h = entries[0][0]
        assert c.readlink(h) == t.encode()
        for flags in (os.O_RDONLY, os.O_RDONLY | os.O_DIRECTORY, os.O_RDWR):
            assert _errno(c.open, h, flags) == errno.ELOOP
        assert _errno(c.walk, h, [b"etc"]) == errno.ENOTDIR
        assert _errno(c.readdir, h) == errno.ENOTDIR
    _serving(g, tree)


def test_links_and_renames_stay_in_their_root(tree: Path, start_gofer: Callable[..., Gofer]):
    """§7.4 (hard links): a file of another root (here the directory beside the rootfs,
    served read-only as a second root) cannot be linked or renamed into this one, and a
    directory cannot be hard linked."""
    outside = tree.parent / "outside"
    g = start_gofer((tree, False), (outside, True))
    c = g.client
    root, _ = c.attach(0)
    other, _ = c.attach(1)
    (secret, _), = c.walk(other, [b"secret"])
    assert _errno(lambda: c.link(root, b"stolen", secret)) == errno.EXDEV
    assert _errno(lambda: c.rename(other, b"secret", root, b"stolen")) == errno.EXDEV
    assert _errno(lambda: c.rename(root, b"file", other, b"planted")) == errno.EXDEV
    (d, _), = c.walk(root, [b"d"])
    assert _errno(lambda: c.link(root, b"dlink", d)) == errno.EPERM
    assert _errno(lambda: c.link(root, b"rootlink", root)) == errno.EPERM
    assert not (tree / "stolen").exists() and not (outside / "planted").exists()
    assert os.stat(outside / "secret").st_nlink == 1
    _serving(g, tree)


@pytest.mark.parametrize("flags", [os.O_CREAT, os.O_PATH, os.O_TMPFILE, os.O_NOATIME,
                                   os.O_DIRECT, os.O_SYNC, 0o20000, os.O_ACCMODE],
                         ids=["O_CREAT", "O_PATH", "O_TMPFILE", "O_NOATIME", "O_DIRECT",
                              "O_SYNC", "FASYNC", "O_ACCMODE"])
def test_open_flags_the_server_does_not_take(tree: Path, start_gofer: Callable[..., Gofer],
                                              flags: int):
    """§7.4: Topen/Tcreate take only the flags the sentry needs; the rest (an O_PATH fd, an
    unnamed O_TMPFILE, atime games, signals by FASYNC) are EINVAL and no fd is sent."""
    g = start_gofer((tree, False))
    root, _ = g.client.attach(0)
    (f, _), = g.client.walk(root, [b"file"])
    assert _ask(g.sock, p.encode(p.Topen(f, flags))) == (p.Rerror(errno.EINVAL), 0)
    if flags not in (os.O_CREAT, os.O_ACCMODE):
        req = p.Tcreate(root, b"new", flags | os.O_WRONLY, 0o644, 0, 0)
        assert _ask(g.sock, p.encode(req)) == (p.Rerror(errno.EINVAL), 0)
    assert not (tree / "new").exists()
    _serving(g, tree)


def test_fds_sent_by_the_client_are_never_used_or_kept(tree: Path,
                                                        start_gofer: Callable[..., Gofer]):
    """§7.4: the sentry has no reason to send fds. An fd of the host's / with a request, or
    more fds than the server's ancillary buffer holds (the kernel truncates), gets EINVAL;
    the gofer's fd table is as before."""
    g = start_gofer((tree, False))
    before = sorted(os.listdir(f"/proc/{g.pid}/fd"))
    host_root = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        assert _ask(g.sock, p.encode(p.Tattach(0)), [host_root]) == (p.Rerror(errno.EINVAL), 0)
        many = [host_root] * 250
        assert _ask(g.sock, p.encode(p.Tattach(0)), many) == (p.Rerror(errno.EINVAL), 0)
    finally:
        os.close(host_root)
    assert sorted(os.listdir(f"/proc/{g.pid}/fd")) == before
    _serving(g, tree)


def test_fd_exhaustion_is_an_error_reply(tree: Path, start_gofer: Callable[..., Gofer]):
    """§7.6: a client that holds handles until the gofer runs out of fds gets EMFILE, and the
    gofer serves again once it closes them."""
    g = start_gofer((tree, False))
    c = g.client
    root, _ = c.attach(0)
    resource.prlimit(g.pid, resource.RLIMIT_NOFILE, (40, 40))
    handles = []
    with pytest.raises(OSError) as e:
        for _ in range(100):
            handles.append(c.walk(root, [b"d"])[0][0])
    assert e.value.errno == errno.EMFILE and len(handles) > 20
    assert _errno(lambda: c.open(root, os.O_RDONLY | os.O_DIRECTORY)) == errno.EMFILE
    assert g.alive()
    for h in handles:
        c.close(h)
    fd = c.open(c.walk(root, [b"file"])[0][0], os.O_RDONLY)
    os.close(fd)
    _serving(g, tree)


def test_random_datagrams_never_kill_the_gofer(tree: Path, start_gofer: Callable[..., Gofer]):
    """§7.4, §6: random bytes behind every message id (and fds now and then) get a reply;
    none drives the gofer into a call its filter forbids or out of its roots."""
    (tree / "d" / "sub").mkdir()
    os.symlink("/etc", tree / "etc")
    g = start_gofer((tree, False))
    root, _ = g.client.attach(0)
    g.client.walk(root, [b"d", b"sub"])
    rng = random.Random(4242)
    ids = sorted(p.MSG_IDS) + [0, 256, 0xFFFF]
    r, w = os.pipe()
    try:
        for i in range(1500):
            body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 4, 6, 9, 40, 300])))
            # handles in use are small numbers: aim some of the bytes at them
            if len(body) >= 4 and rng.random() < 0.7:
                body = struct.pack("<I", rng.randrange(6)) + body[4:]
            data = p.HEADER.pack(rng.choice(ids), 0 if rng.random() < 0.9 else 1) + body
            if i % 50:
                g.sock.send(data)
            else:
                socket.send_fds(g.sock, [data], [r, w])
            while True:
                reply, anc, _, _ = g.sock.recvmsg(p.MAX_MESSAGE, socket.CMSG_SPACE(16))
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        for fd in struct.unpack(f"<{len(payload) // 4}i", payload):
                            target = os.readlink(f"/proc/self/fd/{fd}")
                            os.close(fd)
                            assert target.startswith(str(tree)), target
                msg = p.decode(reply)
                if not (isinstance(msg, p.Rreaddir) and not msg.last):
                    break
    finally:
        os.close(r)
        os.close(w)
    assert (tree.parent / "outside" / "secret").read_bytes() == b"secret\n"
    _serving(g, tree)
    assert g.stop() == 0  # and it still exits cleanly, not by SIGSYS
