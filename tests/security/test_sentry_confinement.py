"""Defense in depth: the sentry confines itself once the workload runs.

Seen from the host, a running sandbox's sentry (the child of the process the caller
started, the supervisor) runs as the workload's unprivileged host id with no capability
but CAP_NET_BIND_SERVICE, ``no_new_privs``, not dumpable, two seccomp filters, and an empty
read-only root in a mount namespace of its own. A call outside its allowlist kills it, and
the whole sandbox with it (fail closed): the workload is gone, ``do`` says why, a bundle's
state says stopped and ``delete`` works. The test makes the sentry make such a call by
injecting it with ptrace, as an attacker who had taken over the sentry would.

Run: ``python3 -m pytest tests/security/test_sentry_confinement.py``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import procs
from helpers.runner import BASE_ENV, runsc_argv

_WORKLOAD_HOST_ID_BASE = 0x70000000
_CAP_NET_BIND_SERVICE = 1 << 10

# ---- a minimal ptrace syscall injector ---------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_PEEKTEXT, PTRACE_GETREGS, PTRACE_SETREGS = 1, 12, 13
PTRACE_CONT, PTRACE_SYSCALL, PTRACE_DETACH = 7, 24, 17
PTRACE_EVENT_STOP = 128
_WALL = 0x40000000
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207


class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
        "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
        "gs_base", "ds", "es", "fs", "gs")]


def _pt(req: int, pid: int, addr: int = 0, data: object = None) -> int:
    ctypes.set_errno(0)
    r = _libc.ptrace(req, pid, ctypes.c_void_p(addr), data)
    e = ctypes.get_errno()
    if r == -1 and e:
        raise OSError(e, f"ptrace({req}): {os.strerror(e)}")
    return r


def inject(pid: int, nr: int, args: list[int], strings: dict[int, bytes] | None = None
           ) -> int | None:
    """Make *pid* call syscall *nr*; its return value, or None if the call killed it.

    The process must be blocked in a system call (the sentry waits in epoll): its
    instruction pointer is then just past a ``syscall`` instruction, which runs again with
    the new registers. *strings* puts bytes on its stack, below the red zone, for
    pointer arguments (index -> bytes)."""
    _pt(PTRACE_SEIZE, pid)
    try:
        for _ in range(100):
            _pt(PTRACE_INTERRUPT, pid)
            _, st = os.waitpid(pid, _WALL)
            assert os.WIFSTOPPED(st) and st >> 16 == PTRACE_EVENT_STOP, hex(st)
            regs = Regs()
            _pt(PTRACE_GETREGS, pid, 0, ctypes.byref(regs))
            word = _pt(PTRACE_PEEKTEXT, pid, regs.rip - 2) & 0xFFFF
            # Stopped inside a blocking call, which it can make again (as a restart
            # would, or after EINTR): not one that has completed.
            rax = ctypes.c_longlong(regs.rax).value
            if word == 0x050F and (rax == -errno.EINTR or -516 <= rax <= -512):
                break
            _pt(PTRACE_CONT, pid)
            time.sleep(0.02)
        else:
            raise AssertionError("the sentry never blocked in a system call")
        saved = Regs.from_buffer_copy(regs)
        new = Regs.from_buffer_copy(regs)
        argv = list(args)
        if strings:
            sp = (regs.rsp - 4096) & ~15
            with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
                for i, data in strings.items():
                    sp -= (len(data) + 16) & ~15
                    mem.seek(sp)
                    mem.write(data)
                    argv[i] = sp
        for name, value in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), argv, strict=False):
            setattr(new, name, value & 0xFFFFFFFFFFFFFFFF)
        new.rax, new.orig_rax, new.rip = nr, 0xFFFFFFFFFFFFFFFF, regs.rip - 2
        _pt(PTRACE_SETREGS, pid, 0, ctypes.byref(new))
        for _stop in ("entry", "exit"):
            _pt(PTRACE_SYSCALL, pid)
            _, st = os.waitpid(pid, _WALL)
            if not os.WIFSTOPPED(st):
                return None
        _pt(PTRACE_GETREGS, pid, 0, ctypes.byref(new))
        if _sigsys_pending(pid):
            # The filter's kill (the call was skipped, SIGSYS forced): let it happen.
            _pt(PTRACE_DETACH, pid)
            return None
        ret = ctypes.c_longlong(new.rax).value
        # Run the interrupted call again, as a restart would.
        saved.rax, saved.rip = saved.orig_rax, saved.rip - 2
        _pt(PTRACE_SETREGS, pid, 0, ctypes.byref(saved))
        _pt(PTRACE_DETACH, pid)
        return ret
    except ChildProcessError:
        return None


def _sigsys_pending(pid: int) -> bool:
    bit = 1 << (signal.SIGSYS - 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("SigPnd", "ShdPnd") and int(value, 16) & bit:
            return True
    return False


# ---- sandboxes ----------------------------------------------------------------------


def _start_do(root: Path, cwd: Path) -> subprocess.Popen[bytes]:
    argv = runsc_argv() + ["--root", str(root), "do", "--", "/bin/sh", "-c",
                           "echo READY; exec sleep 60"]
    cli = subprocess.Popen(argv, env=BASE_ENV, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    deadline = time.monotonic() + 30
    out = b""
    while b"READY\n" not in out and time.monotonic() < deadline:
        if select.select([cli.stdout], [], [], 1)[0]:
            chunk = os.read(cli.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
    assert b"READY\n" in out, (out, cli.stderr.read() if cli.poll() is not None else b"")
    return cli


def _sentry_of(supervisor: int) -> int:
    """The supervisor's child that traces the workload."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tree = procs.descendants(supervisor)
        tracers = {procs.tracer_of(p) for p in tree} & tree
        if len(tracers) == 1:
            return tracers.pop()
        time.sleep(0.05)
    raise AssertionError(f"no single sentry under {supervisor}: {procs.describe(tree)}")


def _status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


@pytest.fixture
def running(runsc_root: Path, tmp_path: Path):
    cli = _start_do(runsc_root, tmp_path)
    try:
        yield cli, _sentry_of(cli.pid)
    finally:
        procs.stop_cli(cli)


def test_sentry_holds_nothing(running):
    cli, sentry = running
    st = _status(sentry)
    host_id = _WORKLOAD_HOST_ID_BASE + sentry
    assert st["Uid"].split() == [str(host_id)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(host_id)] * 4, st["Gid"]
    assert st["Groups"] == ""
    assert int(st["CapEff"], 16) == int(st["CapPrm"], 16) == _CAP_NET_BIND_SERVICE, st
    assert int(st["CapBnd"], 16) == _CAP_NET_BIND_SERVICE, st
    assert int(st["CapInh"], 16) == int(st["CapAmb"], 16) == 0, st
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2" and int(st["Seccomp_filters"]) >= 2, st
    # Its root: an empty, read-only tmpfs in a mount namespace of its own.
    assert os.listdir(f"/proc/{sentry}/root") == []
    assert os.readlink(f"/proc/{sentry}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    root_line = [ln.split() for ln in Path(f"/proc/{sentry}/mountinfo").read_text().splitlines()
                 if ln.split()[4] == "/"]
    assert len(root_line) == 1 and "tmpfs" in root_line[0] and "ro" in root_line[0][5].split(","), \
        root_line
    # The supervisor (the pid the caller knows) is unconfined; the workload still runs.
    assert _status(cli.pid)["Seccomp"] == "0"
    assert cli.poll() is None


def test_path_calls_need_a_directory_fd(running):
    """openat of a path relative to the (empty) cwd is refused, not fatal."""
    _cli, sentry = running
    at_fdcwd = -100
    ret = inject(sentry, 257, [at_fdcwd, 0, os.O_RDONLY, 0], {1: b"/etc/passwd\0"})
    assert ret == -errno.EACCES, ret
    # TIOCSTI on fd 0 likewise (the caller's terminal, if it were one).
    assert inject(sentry, 16, [0, 0x5412, 0], {2: b"x\0"}) == -errno.EPERM
    assert procs.alive(sentry)


@pytest.mark.parametrize("call", ["execve", "mount", "socket_packet", "unshare"])
def test_forbidden_call_kills_the_sandbox(runsc_root, tmp_path, call):
    cli = _start_do(runsc_root, tmp_path)
    try:
        sentry = _sentry_of(cli.pid)
        workload = {p for p in procs.descendants(cli.pid) if procs.tracer_of(p) == sentry}
        assert workload
        if call == "execve":
            ret = inject(sentry, 59, [0, 0, 0], {0: b"/bin/sh\0"})
        elif call == "mount":
            ret = inject(sentry, 165, [0, 0, 0, 0, 0], {0: b"none\0", 1: b"/\0", 2: b"tmpfs\0"})
        elif call == "socket_packet":
            ret = inject(sentry, 41, [17, 3, 0])  # AF_PACKET, SOCK_RAW
        else:
            ret = inject(sentry, 272, [0x00020000])  # unshare(CLONE_NEWNS)
        assert ret is None, f"{call} returned {ret}"
        status = cli.wait(timeout=20)
        assert status == 128 + signal.SIGSYS, status
        err = cli.stderr.read().decode()
        assert "the sentry was killed by signal 31" in err, err
        assert procs.wait_gone(workload, 10) == set()
        assert procs.descendants(cli.pid, live_only=True) == set()
    finally:
        procs.stop_cli(cli)


def test_forbidden_call_in_a_bundle_leaves_it_stopped(runsc_root, busybox_bundle, tmp_path):
    """create + start a bundle, kill its sentry with a forbidden call: the state says
    stopped with the status, delete removes it, nothing is left running."""
    cfg = json.loads((busybox_bundle / "config.json").read_text())
    cfg["process"]["args"] = ["sleep", "60"]
    (busybox_bundle / "config.json").write_text(json.dumps(cfg))
    base = runsc_argv() + ["--root", str(runsc_root)]
    cid = f"confine-{os.getpid()}"

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(base + list(args), env=BASE_ENV, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    with open(tmp_path / "create.out", "wb") as out:
        # The container's stdio is create's: not a pipe this test would wait on.
        r = subprocess.run(base + ["create", "--bundle", str(busybox_bundle), cid], env=BASE_ENV,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=60)
    assert r.returncode == 0, (tmp_path / "create.out").read_text()
    try:
        cli("start", cid)
        supervisor = json.loads(cli("state", cid).stdout)["pid"]
        sentry = _sentry_of(supervisor)
        # An exec'd process works through the confined sentry (the supervisor starts it).
        r = cli("exec", cid, "sh", "-c", "echo exec-ok; id -u")
        assert r.stdout.split() == ["exec-ok", "0"], r
        workload = {p for p in procs.descendants(supervisor) if procs.tracer_of(p) == sentry}
        assert inject(sentry, 59, [0, 0, 0], {0: b"/bin/sh\0"}) is None
        deadline = time.monotonic() + 20
        while json.loads(cli("state", cid).stdout)["status"] != "stopped":
            assert time.monotonic() < deadline, cli("state", cid).stdout
            time.sleep(0.1)
        assert procs.wait_gone(workload | {sentry, supervisor}, 10) == set()
    finally:
        cli("delete", "--force", cid, check=False)
    assert cli("state", cid, check=False).returncode != 0


def test_cli_prints_the_allowlists():
    """``syscalls --sentry`` and ``--gofer`` print the tables the filters are built from."""
    from sentry import confine

    def cli(*args: str) -> list[dict[str, object]]:
        r = subprocess.run(runsc_argv() + ["syscalls", *args, "-f", "json"], env=BASE_ENV,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    sentry = cli("--sentry")
    assert sorted(e["name"] for e in sentry) == sorted(confine.allowed_calls())
    names = {e["name"] for e in sentry}
    assert not names & {"execve", "execveat", "clone", "clone3", "fork", "vfork", "mount",
                        "setns", "unshare", "bpf", "ptrace_traceme", "io_uring_setup"}
    by_name = {e["name"]: e for e in sentry}
    assert by_name["openat"]["nr"] == 257 and "AT_FDCWD" in str(by_name["openat"]["note"])
    gofer = cli("--gofer")
    assert {e["name"] for e in gofer} >= {"openat2", "recvmsg", "sendmsg"}
    assert "execve" not in {e["name"] for e in gofer}
