"""Many sandboxes at once, and what the death of one sandbox's sentry or gofer takes down.

§7.2 (fail closed: a sentry crash or kill leaves no workload process) and §7.6 (a sandbox
hurts only itself), across sandboxes:

- Twenty sandboxes (``do`` and ``run`` of bundles, different ids) run a mixed workload at
  the same time: each writes and reads back its own files, binds the same TCP port on its
  own loopback and sees its own hostname; none sees another's.
- ``kill -9`` of a sandbox process (the pid its client knows), of its sentry (the tracer of
  its workload: the same process today) or of its gofer stops exactly that sandbox, for every
  way a sandbox is started (``create``/``start``, ``run``, ``do``): every workload process
  (children and an exec'd process included) and the gofer are gone, the exit status is what
  a client reaping the sandbox process gets (137), ``state`` says stopped, ``kill`` says
  "container not running" (what containerd's shim takes as "already gone"), and ``delete``
  leaves no process, state directory, cgroup or mount. Sandboxes beside them run on and
  finish with the right output.

What kills the workload when its sentry dies is ``PTRACE_O_EXITKILL`` (every workload
thread is the sentry's tracee) and the death of the pid namespace's init; the gofer has
``PR_SET_PDEATHSIG``. When the gofer dies the sentry sees its socket hang up and stops the
sandbox (status 137, one line on stderr).

``create`` leaves the sandbox process holding the CLI's stdout and stderr (the container's
stdio), so every command that leaves a process behind runs with them on files: a pipe would
not reach its end until the sandbox exits.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import procs
from helpers.bundle import edit_config, load_config, make_bundle
from helpers.runner import BASE_ENV, Result, run_sandbox, runsc, runsc_argv

SYSTEM_PYTHON = "/usr/bin/python3"
CLI_TIMEOUT = 60.0
# From the kill to every process of the sandbox gone and its state stopped.
GONE_TIMEOUT = 10.0

DO_SCRIPT = r'''
import os, socket, sys, time
me = sys.argv[1]
os.makedirs("/tmp/own", exist_ok=True)
with open("/tmp/own/who", "w") as f:
    f.write(me)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 8080))  # every sandbox its own loopback: no EADDRINUSE
srv.listen()
c = socket.create_connection(("127.0.0.1", 8080))
s, _ = srv.accept()
c.sendall(me.encode())
got = s.recv(100).decode()
total = sum(i * i for i in range(20000))
time.sleep(0.3)  # the others run meanwhile
print(me, got, open("/tmp/own/who").read(), sorted(os.listdir("/tmp/own")), total)
'''

BUNDLE_SCRIPT = r'''
echo "$ID" > /tmp/who
i=0; while [ $i -lt 300 ]; do i=$((i+1)); done
sleep 0.3
echo "$ID $(cat /tmp/who) $(hostname) $(ls /tmp | tr '\n' ' ')$i"
'''

# A workload with children: init (sh) and two sleeps.
FAMILY = "echo ready; sleep 100 & sleep 100 & wait"
# The same, reading files through the gofer all the time (its death comes mid-request).
FAMILY_IO = "echo ready; sleep 100 & while :; do cat /etc/passwd >/dev/null; sleep 0.05; done & wait"
# A bystander of the bundle kind: waits for /tmp/go (made by an exec after the kills).
BUNDLE_KEEPER = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.2; done; echo done $(cat /tmp/go)"
# A bystander of the do kind: waits for a line on stdin.
DO_KEEPER = "echo ready; read x; echo got $x"


# -- cgroups ----------------------------------------------------------------------------------


def _cgroup_mounts() -> list[Path]:
    """Every cgroup hierarchy (v1 and v2) mounted at its root."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and rest and fields[3] == "/" and rest[0] in ("cgroup", "cgroup2"):
            out.append(Path(fields[4]))
    return out


def _cgroup_dirs(path: str) -> list[Path]:
    return [m / path.lstrip("/") for m in _cgroup_mounts() if (m / path.lstrip("/")).is_dir()]


def _remove_cgroup_tree(path: str) -> None:
    """Kill whatever is left in cgroup *path* and below, then remove the directories."""
    left = set()
    for top in _cgroup_dirs(path):
        for procs_file in top.rglob("cgroup.procs"):
            try:
                left |= {int(p) for p in procs_file.read_text().split()}
            except OSError:
                pass
    procs.kill_all(left)
    procs.wait_gone(left, 5.0)
    for top in _cgroup_dirs(path):
        for d in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)) + [top]:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    """A parent cgroup path of the test's own, removed at the end."""
    parent = f"/runsc-py-test-{secrets.token_hex(6)}"
    try:
        yield parent
    finally:
        _remove_cgroup_tree(parent)


# -- the runtime --------------------------------------------------------------------------


def _bundle(tmp: Path, rootfs: Path, name: str, script: str, cgroup: str,
            hostname: str | None = None) -> Path:
    b = make_bundle(tmp / name, rootfs)
    edit_config(b, args=["sh", "-c", script], hostname=hostname)
    cfg = load_config(b)
    cfg.setdefault("linux", {})["cgroupsPath"] = cgroup
    (b / "config.json").write_text(json.dumps(cfg, indent=2))
    return b


def _spawn(root: Path, args: list[str], out: Path, *,
           stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """``runsc-py --root ROOT ARGS`` with stdout and stderr on ``OUT.out``/``OUT.err``."""
    with open(f"{out}.out", "wb") as fo, open(f"{out}.err", "wb") as fe:
        return subprocess.Popen(
            [*runsc_argv(), "--root", str(root), *args], stdin=stdin, stdout=fo, stderr=fe,
            env=BASE_ENV, start_new_session=True,
        )


def _finish(proc: subprocess.Popen[bytes], timeout: float = CLI_TIMEOUT) -> int:
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"timeout: {proc.args!r}") from None
    return 128 - rc if rc < 0 else rc


def _cli(root: Path, *args: str) -> Result:
    return runsc(list(args), root=root, env=BASE_ENV, timeout=CLI_TIMEOUT)


def _wait_status(pid: int, timeout: float) -> int:
    """Reap *pid*, a child of the test process (a subreaper); 128+N if killed by signal N."""
    deadline = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        if time.monotonic() > deadline:
            raise AssertionError(f"{pid} ({procs.cmdline(pid)}) alive after {timeout}s")
        time.sleep(0.02)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _pieces(sandbox: int) -> tuple[int, set[int], int]:
    """(sentry, workload, gofer) below the sandbox process *sandbox*: the sentry is the
    tracer of the workload's processes (the sandbox process itself, or a child of it)."""
    tree = procs.descendants(sandbox) | {sandbox}
    tracer = {pid: procs.tracer_of(pid) for pid in tree}
    sentry = next((t for t in tracer.values() if t in tree), 0)
    workload = {pid for pid, t in tracer.items() if sentry and t == sentry}
    gofer = next((pid for pid in tree if procs.is_gofer(pid)), 0)
    return sentry, workload, gofer


@dataclass
class Box:
    """One sandbox of the kill test, and what to kill: its "sandbox" process (the pid its
    client knows), its "sentry" or its "gofer"."""

    name: str
    how: str  # "create", "run" or "do"
    victim: str  # "sandbox", "sentry", "gofer" or "" (a bystander)
    script: str
    out: Path
    cid: str = ""
    proc: subprocess.Popen[bytes] | None = None
    sandbox: int = 0
    sentry: int = 0
    gofer: int = 0
    workload: set[int] = field(default_factory=set)
    waiter: int = 0  # a detached exec's waiter

    def stdout(self) -> str:
        return _text(Path(f"{self.out}.out"))

    def stderr(self) -> str:
        return _text(Path(f"{self.out}.err"))

    def pieces(self) -> set[int]:
        return {self.sandbox, self.sentry, self.gofer, self.waiter, *self.workload} - {0}


def _wait_running(box: Box, tasks: int, timeout: float = CLI_TIMEOUT) -> None:
    """Wait until the workload said ready and *tasks* processes are the sentry's tracees."""
    deadline = time.monotonic() + timeout
    while True:
        if box.proc is not None and box.proc.poll() is not None:
            raise AssertionError(f"{box.name} exited early:\n{box.stdout()}\n{box.stderr()}")
        if "ready" in box.stdout():
            box.sentry, box.workload, box.gofer = _pieces(box.sandbox)
            if len(box.workload) >= tasks and box.gofer:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{box.name} not running after {timeout}s: "
                                 f"{box.stdout()!r} {box.stderr()!r} {box.workload}")
        time.sleep(0.05)


def _our_mounts(*needles: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if any(n in line for n in needles)]


# -- twenty at once ---------------------------------------------------------------------------


def _do(root: Path, tmp: Path, n: int) -> tuple[str, str]:
    me = f"do{n}"
    res = run_sandbox([SYSTEM_PYTHON, "-I", str(tmp / "do.py"), me], root=root, env=BASE_ENV,
                      cwd="/", timeout=180)
    assert res.rc == 0, res.describe()
    return me, res.stdout


def _run(root: Path, bundle: Path, cid: str) -> tuple[str, str]:
    res = runsc(["run", "--bundle", str(bundle), cid], root=root, env=BASE_ENV, timeout=180)
    assert res.rc == 0, res.describe()
    return cid, res.stdout


def test_twenty_sandboxes_at_once(runsc_root: Path, busybox_rootfs: Path, tmp_path: Path,
                                  cgroup_parent: str) -> None:
    """§7.6: twenty sandboxes side by side each see only their own files, port and name."""
    (tmp_path / "do.py").write_text(DO_SCRIPT)
    tag = secrets.token_hex(3)
    bundles = {}
    for n in range(8):
        cid = f"box{n}-{tag}"
        bundles[cid] = _bundle(tmp_path, busybox_rootfs, f"b{n}", BUNDLE_SCRIPT.replace("$ID", cid),
                               f"{cgroup_parent}/{cid}", hostname=f"host{n}")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            jobs = [pool.submit(_do, runsc_root, tmp_path, n) for n in range(12)]
            jobs += [pool.submit(_run, runsc_root, b, cid) for cid, b in bundles.items()]
            results = dict(j.result() for j in jobs)
        total = sum(i * i for i in range(20000))
        for n in range(12):
            me = f"do{n}"
            assert results[me] == f"{me} {me} {me} ['who'] {total}\n", results[me]
        for n, cid in enumerate(bundles):
            assert results[cid] == f"{cid} {cid} host{n} who 300\n", results[cid]
    finally:
        for cid in bundles:
            _cli(runsc_root, "delete", "--force", cid)
    assert not _cgroup_dirs(cgroup_parent + "/box0-" + tag)


# -- kill -9 of a sentry or a gofer -------------------------------------------------------------


def test_kill9_of_a_sentry_or_gofer_stops_only_its_sandbox(
    runsc_root: Path, busybox_rootfs: Path, tmp_path: Path, cgroup_parent: str
) -> None:
    """§7.2, §7.6: kill -9 of one sandbox's sentry or gofer ends that sandbox only, leaves
    nothing ``delete`` cannot clean, and clients see status 137 and "container not running"."""
    tag = secrets.token_hex(3)
    boxes = {
        f"{how}-{victim or 'keep'}": Box(f"{how}-{victim or 'keep'}", how, victim, script,
                                         tmp_path / f"{how}-{victim or 'keep'}")
        for how, victim, script in [
            ("create", "sandbox", FAMILY), ("create", "sentry", FAMILY),
            ("create", "gofer", FAMILY_IO), ("create", "", BUNDLE_KEEPER),
            ("run", "sentry", FAMILY), ("run", "gofer", FAMILY),
            ("do", "sentry", FAMILY), ("do", "gofer", FAMILY_IO), ("do", "", DO_KEEPER),
        ]
    }
    killed = [box for box in boxes.values() if box.victim]
    ids = []
    keeper_stdin: int | None = None
    mounts_before = len(_our_mounts(str(tmp_path), str(runsc_root)))
    try:
        for box in boxes.values():
            if box.how == "do":
                stdin = subprocess.DEVNULL
                if box.script == DO_KEEPER:
                    stdin, keeper_stdin = os.pipe()
                box.proc = _spawn(runsc_root, ["do", "--", "/bin/sh", "-c", box.script], box.out,
                                  stdin=stdin)
                if box.script == DO_KEEPER:
                    os.close(stdin)
                box.sandbox = box.proc.pid
                continue
            box.cid = f"{box.name}-{tag}"
            ids.append(box.cid)
            b = _bundle(tmp_path, busybox_rootfs, f"bundle-{box.name}", box.script,
                        f"{cgroup_parent}/{box.cid}")
            if box.how == "run":
                box.proc = _spawn(runsc_root, ["run", "--keep", "--bundle", str(b), box.cid],
                                  box.out)
                box.sandbox = box.proc.pid
                continue
            pid_file = tmp_path / f"{box.name}.pid"
            rc = _finish(_spawn(runsc_root, ["create", "--bundle", str(b), "--pid-file",
                                             str(pid_file), box.cid], box.out))
            assert rc == 0, f"create {box.cid}: {rc} {box.stderr()}"
            # The create CLI has exited: the sandbox process is now a child of this process
            # (a subreaper), as it is of containerd's shim.
            box.sandbox = int(pid_file.read_text())
            res = _cli(runsc_root, "start", box.cid)
            assert res.rc == 0, res.describe()
        # An exec'd process in two of them: it and its waiter go too.
        for name in ("create-sentry", "create-gofer"):
            box = boxes[name]
            _wait_running(box, 3)
            pid_file = tmp_path / f"{name}-exec.pid"
            rc = _finish(_spawn(runsc_root, ["exec", "--detach", "--pid-file", str(pid_file),
                                             box.cid, "sleep", "100"], tmp_path / f"{name}-exec"))
            assert rc == 0, _text(tmp_path / f"{name}-exec.err")
            box.waiter = int(pid_file.read_text())
            _wait_running(box, 4)
        for box in boxes.values():
            _wait_running(box, 3 if box.victim else 1)
        # A do sandbox's id is made up by do; `list` finds it by its pid.
        listed = json.loads(_cli(runsc_root, "list", "--format", "json").stdout)
        for box in boxes.values():
            if box.how == "do":
                box.cid = next(c["id"] for c in listed if c["pid"] == box.sandbox)

        # The kills, all at once.
        t0 = time.monotonic()
        for box in killed:
            os.kill(getattr(box, box.victim), signal.SIGKILL)
        # Statuses this test reads itself: sandbox processes and waiters, its children.
        keep = {p for box in boxes.values() for p in (box.sandbox, box.waiter) if p}
        timings: dict[str, float] = {}
        while len(timings) < len(killed) and time.monotonic() < t0 + GONE_TIMEOUT:
            procs.reap_zombie_children(keep)
            for box in killed:
                if box.name not in timings and not any(procs.alive(p) for p in box.pieces()):
                    timings[box.name] = time.monotonic() - t0
            time.sleep(0.01)
        for box in killed:
            left = {p for p in box.pieces() if procs.alive(p)}
            assert not left, (f"{box.name}: alive {GONE_TIMEOUT}s after the kill:\n"
                              + procs.describe(left))

        # What the process a client reaps says: 137 (killed, or exited 137).
        for box in killed:
            if box.proc is not None:
                assert _finish(box.proc, GONE_TIMEOUT) == 137, (box.name, box.stderr())
            else:
                assert _wait_status(box.sandbox, GONE_TIMEOUT) == 137, (box.name, box.stderr())
            if box.waiter:
                assert _wait_status(box.waiter, GONE_TIMEOUT) == 137, box.name
            if box.victim == "gofer":
                assert f"the gofer (pid {box.gofer}) died; the sandbox is stopped" in box.stderr(), \
                    (box.name, box.stderr())

        # state, kill and delete, as containerd's shim calls them. A bundle's state stays
        # until deleted; do removes its own unless it was killed before it could.
        for box in killed:
            if box.how == "do" and not (runsc_root / box.cid).exists():
                continue
            st = json.loads(_cli(runsc_root, "state", box.cid).stdout)
            assert (st["status"], st["pid"]) == ("stopped", 0), (box.name, st)
            res = _cli(runsc_root, "kill", box.cid, "9")
            assert res.rc != 0 and "container not running" in res.stderr, (box.name, res.describe())
            res = _cli(runsc_root, "delete", box.cid)
            assert res.rc == 0, (box.name, res.describe())
            assert not (runsc_root / box.cid).exists(), box.name
            if box.how != "do":
                assert not _cgroup_dirs(f"{cgroup_parent}/{box.cid}"), box.name
        assert len(_our_mounts(str(tmp_path), str(runsc_root))) == mounts_before

        # The bystanders run on and finish with the right output.
        bystander = boxes["create-keep"]
        assert all(procs.alive(p) for p in (bystander.sentry, bystander.gofer))
        st = json.loads(_cli(runsc_root, "state", bystander.cid).stdout)
        assert st["status"] == "running", st
        res = _cli(runsc_root, "exec", bystander.cid, "sh", "-c", "echo go > /tmp/go; echo made")
        assert (res.rc, res.stdout) == (0, "made\n"), res.describe()
        assert _wait_status(bystander.sandbox, 30) == 0
        assert bystander.stdout() == "ready\ndone go\n", bystander.stdout()
        res = _cli(runsc_root, "delete", bystander.cid)
        assert res.rc == 0, res.describe()
        assert keeper_stdin is not None
        os.write(keeper_stdin, b"go\n")
        os.close(keeper_stdin)
        keeper_stdin = None
        dokeep = boxes["do-keep"]
        assert dokeep.proc is not None and _finish(dokeep.proc, 30) == 0, dokeep.stderr()
        assert dokeep.stdout() == "ready\ngot go\n", dokeep.stdout()
        print("\nkill -9 to every process gone:",
              ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    finally:
        if keeper_stdin is not None:
            os.close(keeper_stdin)
        for box in boxes.values():
            if box.proc is not None and box.proc.poll() is None:
                os.killpg(box.proc.pid, signal.SIGKILL)
                box.proc.wait()
        for cid in ids:
            _cli(runsc_root, "delete", "--force", cid)
        for entry in runsc_root.iterdir():
            _cli(runsc_root, "delete", "--force", entry.name)
        procs.reap_zombie_children({box.proc.pid for box in boxes.values() if box.proc is not None})
