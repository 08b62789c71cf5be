"""The OCI lifecycle through the real CLI on busybox bundles: create, start, state, kill,
exec, ps, pause, resume, events, update, features, delete.

Each test drives ``runsc-py --root ROOT ...`` as runc's clients (containerd's shim, podman's
conmon) do and checks the runtime-spec state machine (creating, created, running, paused,
stopped) and runc's observable behaviour: exit statuses, error words, pids, cgroups.

The pytest process is a child subreaper (tests/conftest.py), so the sandbox process (the pid
in ``create --pid-file``) and a detached exec's waiter become its children once the CLI that
forked them exits: the tests ``waitpid`` them for their exit statuses.

``create`` and ``exec --detach`` leave processes holding the CLI's stdio (the container's),
so those two run with stdout and stderr on files, never pipes (a pipe would stay open until
the workload exits).

Every container gets ``linux.cgroupsPath`` below a parent cgroup unique to the test; the
``lc`` fixture deletes (``--force``) every container, kills what is left, checks that no
process naming the test's ``--root`` remains and removes the parent cgroup. ``runsc_root``
(tests/conftest.py) then checks that no descendant process is alive and the root is empty.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import procs
from helpers.bundle import copy_rootfs, load_config, make_bundle
from helpers.runner import BASE_ENV, Result, run, runsc_argv

CLI_TIMEOUT = 30.0
WAIT_TIMEOUT = 15.0

# Workloads.
LOOP = "while :; do sleep 0.1; done"
TRAP_TERM_7 = 'trap "exit 7" TERM; echo > /host/ready; ' + LOOP
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /host/count; sleep 0.05; done"


# -- cgroups --------------------------------------------------------------------------------


def cgroup_mounts() -> list[tuple[str, frozenset[str], bool]]:
    """(mountpoint, v1 controllers, is_v2) of every cgroup hierarchy mounted at its root."""
    out: list[tuple[str, frozenset[str], bool]] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or fields[3] != "/":
            continue
        if rest[0] == "cgroup2":
            out.append((fields[4], frozenset(), True))
        elif rest[0] == "cgroup":
            out.append((fields[4], frozenset(rest[2].split(",")), False))
    return out


def has_v1(controller: str) -> bool:
    return any(controller in ctrls for _m, ctrls, v2 in cgroup_mounts() if not v2)


def controller_dir(controller: str, path: str) -> Path:
    """The directory of cgroup *path* holding *controller*'s files: the v1 hierarchy of the
    controller when there is one (hybrid hosts), the unified one otherwise."""
    for mount, ctrls, v2 in cgroup_mounts():
        if not v2 and controller in ctrls:
            return Path(mount) / path.lstrip("/")
    for mount, _ctrls, v2 in cgroup_mounts():
        if v2:
            return Path(mount) / path.lstrip("/")
    raise AssertionError(f"no cgroup hierarchy for {controller}")


def all_cgroup_dirs(path: str) -> list[Path]:
    return [Path(mount) / path.lstrip("/") for mount, _c, _v2 in cgroup_mounts()]


def proc_cgroup(pid: int, controller: str) -> str:
    """The cgroup of *pid* for *controller* (v1 line naming it, else the v2 ``0::`` line)."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in lines:
        _n, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            return path
    for line in lines:
        n, ctrls, path = line.split(":", 2)
        if n == "0" and ctrls == "":
            return path
    raise AssertionError(f"no {controller} cgroup for {pid}: {lines}")


def remove_cgroup_tree(path: str) -> None:
    """rmdir *path* and everything below it in every hierarchy (deepest first)."""
    for top in all_cgroup_dirs(path):
        if not top.is_dir():
            continue
        dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts))
        for d in [*dirs, top]:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# -- processes --------------------------------------------------------------------------------


def exit_status(wait_status: int) -> int:
    """A wait status as a shell reports it (128+N when killed by signal N)."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def waitid_alive(pid: int) -> bool:
    """Whether child *pid* has not exited yet (without reaping it)."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is None


def alive_for(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not waitid_alive(pid):
            return False
        time.sleep(0.05)
    return True


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# -- the runtime ------------------------------------------------------------------------------


class Lifecycle:
    """The runtime under test bound to one ``--root``, with the test's bundles and cgroups."""

    def __init__(self, root: Path, work: Path, template: Path, base_config: dict[str, Any]) -> None:
        self.root = root
        self.work = work
        self.template = template
        self.base_config = base_config
        self.cgroup_parent = f"/runsc-py-test-{secrets.token_hex(6)}"
        self.ids: list[str] = []
        self.pids: set[int] = set()  # sandbox and waiter pids, reaped by the tests
        self.seen: set[int] = set()  # every pid ps --format json showed
        self.host = work / "host"
        self.host.mkdir()
        self.last_exec_out = work / "none"
        self._n = 0

    # commands

    def cli(self, *args: str, input: str | None = None, timeout: float = CLI_TIMEOUT,
            global_flags: Sequence[str] = ()) -> Result:
        argv = [*runsc_argv(), "--root", str(self.root), *global_flags, *args]
        return run(argv, timeout=timeout, input=input, env=BASE_ENV)

    def ok(self, *args: str, input: str | None = None) -> Result:
        res = self.cli(*args, input=input)
        assert res.rc == 0, f"runsc-py {' '.join(args)} failed:\n{res.describe()}"
        return res

    def cli_to_files(self, *args: str, name: str) -> tuple[int, Path, Path]:
        """Run the CLI with stdout/stderr on files (for commands leaving a process that
        holds them); returns (status, stdout file, stderr file)."""
        out = self.work / f"{name}.out"
        err = self.work / f"{name}.err"
        argv = [*runsc_argv(), "--root", str(self.root), *args]
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=BASE_ENV,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=CLI_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise AssertionError(
                    f"timeout: runsc-py {' '.join(args)}\n{err.read_text()}"
                ) from None
        return (128 - rc if rc < 0 else rc), out, err

    # bundles and containers

    def bundle(self, cid: str, args: Sequence[str], *, resources: dict[str, Any] | None = None,
               host_mount: bool = True,
               edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
        """A bundle running *args*, with the test's host dir bind-mounted at /host and the
        cgroup ``<parent>/<cid>``; *edit* changes its config last."""
        self._n += 1
        bundle = self.work / f"bundle-{cid}-{self._n}"
        bundle.mkdir()
        copy_rootfs(self.template, bundle / "rootfs")
        cfg = json.loads(json.dumps(self.base_config))
        cfg["process"]["args"] = list(args)
        if host_mount:
            cfg.setdefault("mounts", []).append(
                {"destination": "/host", "type": "bind", "source": str(self.host),
                 "options": ["rbind", "rw"]}
            )
        linux = cfg.setdefault("linux", {})
        linux["cgroupsPath"] = self.cgroup_path(cid)
        if resources is not None:
            linux.setdefault("resources", {}).update(resources)
        if edit is not None:
            edit(cfg)
        (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
        return bundle

    def cgroup_path(self, cid: str) -> str:
        return f"{self.cgroup_parent}/{cid}"

    def create(self, cid: str, args: Sequence[str], **kw: Any) -> tuple[int, Path]:
        """``create --bundle B --pid-file F ID``; returns (sandbox pid, stdout file)."""
        bundle = self.bundle(cid, args, **kw)
        pid_file = self.work / f"{cid}.pid"
        self.ids.append(cid)
        rc, out, err = self.cli_to_files(
            "create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid,
            name=f"create-{cid}",
        )
        assert rc == 0, f"create {cid} failed: rc={rc}\n{err.read_text()}"
        pid = int(pid_file.read_text())
        self.pids.add(pid)
        return pid, out

    def run_detached(self, cid: str, args: Sequence[str], **kw: Any) -> tuple[int, Path]:
        """create + start; returns (sandbox pid, stdout file)."""
        pid, out = self.create(cid, args, **kw)
        self.ok("start", cid)
        return pid, out

    def exec_detached(self, cid: str, *args: str) -> int:
        """``exec --detach --pid-file F ID ARGS``; returns the pid in F (its stdout goes
        to ``self.last_exec_out``)."""
        self._n += 1
        pid_file = self.work / f"exec{self._n}.pid"
        rc, _out, err = self.cli_to_files(
            "exec", "--detach", "--pid-file", str(pid_file), cid, *args, name=f"exec{self._n}"
        )
        assert rc == 0, f"exec --detach failed: rc={rc}\n{err.read_text()}"
        pid = int(pid_file.read_text())
        self.pids.add(pid)
        self.last_exec_out = _out
        return pid

    def wait_child(self, pid: int, timeout: float = WAIT_TIMEOUT) -> int:
        """Reap *pid* (a child of this subreaper) and return its exit status.

        :raises AssertionError: it is still alive after *timeout*, or is not our child.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                raise AssertionError(
                    f"process {pid} is not a child of the test process (a subreaper)"
                ) from None
            if got == pid:
                self.pids.discard(pid)
                return exit_status(status)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"process {pid} ({procs.cmdline(pid)}) still alive after {timeout}s"
                )
            procs.reap_zombie_children(self.pids)
            time.sleep(0.02)

    def wait_gone(self, pids: set[int], timeout: float = 5.0) -> set[int]:
        """Wait until none of *pids* is alive (reaping strays); return those left."""
        deadline = time.monotonic() + timeout
        left = {p for p in pids if procs.alive(p)}
        while left and time.monotonic() < deadline:
            procs.reap_zombie_children(self.pids)
            time.sleep(0.05)
            left = {p for p in left if procs.alive(p)}
        return left

    def state(self, cid: str) -> dict[str, Any]:
        res = self.ok("state", cid)
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def status(self, cid: str) -> str:
        return str(self.state(cid)["status"])

    def wait_status(self, cid: str, want: str, timeout: float = WAIT_TIMEOUT) -> None:
        wait_for(lambda: self.status(cid) == want, timeout, f"{cid} to be {want}")

    def ps_json(self, cid: str) -> list[int]:
        res = self.ok("ps", "--format", "json", cid)
        pids = json.loads(res.stdout)
        assert isinstance(pids, list) and all(isinstance(p, int) for p in pids), res.stdout
        self.seen.update(pids)
        return pids

    # teardown

    def my_processes(self) -> set[int]:
        """Live processes whose command line names this test's --root."""
        needle = str(self.root)
        return {
            pid for pid in procs.all_processes()
            if pid != os.getpid() and procs.alive(pid) and needle in procs.cmdline(pid)
        }

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for cid in self.ids:
            try:
                res = self.cli("delete", "--force", cid)
                if res.rc != 0:
                    problems.append(f"delete --force {cid}: {res.describe()}")
            except AssertionError as e:
                problems.append(str(e))
        mine = procs.descendants(os.getpid())
        left = self.wait_gone(self.my_processes() | ((self.seen | self.pids) & mine), 5.0)
        if left:
            problems.append("processes of the test left:\n" + procs.describe(left))
        procs.kill_all(left)
        self.pids.clear()
        self.wait_gone(left, 5.0)
        procs.reap_orphans()
        remove_cgroup_tree(self.cgroup_parent)
        left_cg = [str(d) for d in all_cgroup_dirs(self.cgroup_parent) if d.exists()]
        if left_cg:
            problems.append(f"cgroup directories left: {left_cg}")
        return problems


@pytest.fixture(scope="session")
def lifecycle_template(
    busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The busybox rootfs and the config.json ``runsc-py spec`` writes (edited by
    helpers.bundle), made once."""
    bundle = make_bundle(tmp_path_factory.mktemp("lifecycle") / "bundle", busybox_rootfs)
    return busybox_rootfs, load_config(bundle)


@pytest.fixture
def lc(
    runsc_root: Path, tmp_path: Path, lifecycle_template: tuple[Path, dict[str, Any]]
) -> Iterator[Lifecycle]:
    template, cfg = lifecycle_template
    rt = Lifecycle(runsc_root, tmp_path, template, cfg)
    problems: list[str] = []
    try:
        yield rt
    finally:
        problems = rt.cleanup()
    assert not problems, "teardown:\n" + "\n".join(problems)


# -- create / start / state -------------------------------------------------------------------


def test_create_holds_init_until_start(lc: Lifecycle) -> None:
    pid, out = lc.create("c1", ["sh", "-c", "echo ran > /host/marker; echo hello-out; exit 3"])
    st = lc.state("c1")
    assert st["status"] == "created"
    assert st["pid"] == pid
    assert st["id"] == "c1"
    assert procs.alive(pid) and waitid_alive(pid)
    # Nothing of the workload has run yet.
    time.sleep(0.5)
    assert not (lc.host / "marker").exists()
    assert out.read_text() == ""
    assert lc.status("c1") == "created"

    lc.ok("start", "c1")
    assert lc.wait_child(pid) == 3
    assert (lc.host / "marker").read_text() == "ran\n"
    assert out.read_text() == "hello-out\n"
    st = lc.state("c1")
    assert st["status"] == "stopped"
    lc.ok("delete", "c1")
    res = lc.cli("state", "c1")
    assert res.rc != 0 and "does not exist" in res.stderr


def test_start_runs_workload_state_running(lc: Lifecycle) -> None:
    pid, _out = lc.create("c1", ["sh", "-c", "echo x > /host/started; " + LOOP])
    lc.ok("start", "c1")
    wait_for(lambda: (lc.host / "started").exists(), WAIT_TIMEOUT, "the workload to run")
    st = lc.state("c1")
    assert st["status"] == "running"
    assert st["pid"] == pid
    lc.ok("kill", "c1", "KILL")
    assert lc.wait_child(pid) == 137
    assert lc.status("c1") == "stopped"


def test_exit_status_without_waitpid_state_stopped(lc: Lifecycle) -> None:
    """The state says stopped once the workload is gone, whether or not the sandbox process
    has been reaped (it is a zombie of this process meanwhile)."""
    pid, _out = lc.run_detached("c1", ["sh", "-c", "exit 3"])
    lc.wait_status("c1", "stopped")
    assert lc.state("c1")["pid"] == 0
    assert lc.wait_child(pid) == 3


def test_start_twice(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    res = lc.cli("start", "c1")
    assert res.rc != 0
    assert "cannot start an already running container" in res.stderr
    assert lc.status("c1") == "running"


def test_start_of_stopped(lc: Lifecycle) -> None:
    pid, _ = lc.run_detached("c1", ["true"])
    assert lc.wait_child(pid) == 0
    res = lc.cli("start", "c1")
    assert res.rc != 0
    assert "cannot start a container that has stopped" in res.stderr


def test_wrong_state_words(lc: Lifecycle) -> None:
    # pause of a created container, resume of a running one
    pid, _ = lc.create("c1", ["sh", "-c", LOOP])
    res = lc.cli("pause", "c1")
    assert res.rc != 0 and "container not running" in res.stderr, res.describe()
    assert lc.status("c1") == "created"
    lc.ok("start", "c1")
    res = lc.cli("resume", "c1")
    assert res.rc != 0 and "container not paused" in res.stderr, res.describe()
    assert lc.status("c1") == "running"
    lc.ok("kill", "c1", "KILL")
    assert lc.wait_child(pid) == 137
    # everything on a stopped container
    for verb in (["kill", "c1"], ["kill", "c1", "KILL"], ["pause", "c1"]):
        res = lc.cli(*verb)
        assert res.rc != 0 and "container not running" in res.stderr, (verb, res.describe())
    res = lc.cli("resume", "c1")
    assert res.rc != 0 and "container not paused" in res.stderr, res.describe()
    res = lc.cli("exec", "c1", "true")
    assert res.rc != 0 and "stopped" in res.stderr, res.describe()
    assert lc.status("c1") == "stopped"


def test_delete_of_running_needs_force(lc: Lifecycle) -> None:
    pid, _ = lc.run_detached("c1", ["sh", "-c", LOOP])
    res = lc.cli("delete", "c1")
    assert res.rc != 0, res.describe()
    assert "running" in res.stderr
    assert lc.status("c1") == "running"
    assert alive_for(pid, 0.3)
    lc.ok("delete", "--force", "c1")
    assert lc.wait_child(pid) == 137
    assert lc.cli("state", "c1").rc != 0


def test_kill_and_delete_of_created(lc: Lifecycle) -> None:
    """A created container can be signalled (its init never runs) and deleted without
    --force, as with runc."""
    pid, out = lc.create("c1", ["sh", "-c", "echo ran > /host/marker"])
    lc.ok("kill", "c1", "KILL")
    assert lc.wait_child(pid) == 137
    assert lc.status("c1") == "stopped"
    lc.ok("delete", "c1")
    pid2, _ = lc.create("c2", ["sh", "-c", "echo ran > /host/marker"])
    lc.ok("delete", "c2")
    assert lc.wait_child(pid2) == 137
    assert lc.cli("state", "c2").rc != 0
    assert not (lc.host / "marker").exists()
    assert out.read_text() == ""


@pytest.mark.parametrize(
    "verb",
    [
        ["state"], ["start"], ["kill"], ["kill", "--all", "{id}", "KILL"], ["pause"],
        ["resume"], ["ps"], ["delete"], ["exec", "{id}", "true"], ["events", "--stats"],
        ["update", "--resources", "-"],
    ],
    ids=lambda v: "-".join(x for x in v if x != "{id}"),
)
def test_unknown_id(lc: Lifecycle, verb: list[str]) -> None:
    cid = "no-such-" + secrets.token_hex(3)
    args = [cid if a == "{id}" else a for a in verb]
    if "{id}" not in verb:
        args.append(cid)
    res = lc.cli(*args, input='{"pids":{"limit":10}}')
    assert res.rc != 0, res.describe()
    assert "does not exist" in res.stderr, res.describe()


def test_create_existing_id_leaves_first_intact(lc: Lifecycle) -> None:
    pid, out = lc.create("c1", ["sh", "-c", "echo first; exit 5"])
    bundle2 = lc.bundle("c1", ["sh", "-c", "echo second > /host/second; exit 6"])
    pid_file2 = lc.work / "second.pid"
    rc, out2, err2 = lc.cli_to_files(
        "create", "--bundle", str(bundle2), "--pid-file", str(pid_file2), "c1", name="dup"
    )
    assert rc != 0
    assert "exists" in err2.read_text()
    assert not pid_file2.exists()
    assert (lc.work / "c1.pid").read_text() == str(pid)
    st = lc.state("c1")
    assert st["status"] == "created" and st["pid"] == pid
    assert waitid_alive(pid)
    lc.ok("start", "c1")
    assert lc.wait_child(pid) == 5
    assert out.read_text() == "first\n"
    assert out2.read_text() == ""
    assert not (lc.host / "second").exists()


# -- kill -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [None, "TERM", "SIGTERM", "15"], ids=str)
def test_kill_term_with_trap(lc: Lifecycle, sig: str | None) -> None:
    pid, _ = lc.run_detached("c1", ["sh", "-c", TRAP_TERM_7])
    wait_for(lambda: (lc.host / "ready").exists(), WAIT_TIMEOUT, "the trap to be set")
    lc.ok("kill", "c1", *([sig] if sig is not None else []))
    assert lc.wait_child(pid) == 7
    assert lc.status("c1") == "stopped"


def test_kill_term_without_handler_ignored_kill_works(lc: Lifecycle) -> None:
    pid, _ = lc.run_detached("c1", ["sh", "-c", "echo > /host/ready; " + LOOP])
    wait_for(lambda: (lc.host / "ready").exists(), WAIT_TIMEOUT, "the workload to run")
    lc.ok("kill", "c1", "TERM")
    assert alive_for(pid, 1.0), "SIGTERM to an init without a handler must be ignored"
    assert lc.status("c1") == "running"
    lc.ok("kill", "c1", "9")
    assert lc.wait_child(pid) == 137
    assert lc.status("c1") == "stopped"


def test_kill_all(lc: Lifecycle) -> None:
    pid, _ = lc.run_detached("c1", ["sh", "-c", LOOP])
    waiter = lc.exec_detached("c1", "sh", "-c", LOOP)
    before = lc.ps_json("c1")
    lc.ok("kill", "--all", "c1", "KILL")
    assert lc.wait_child(pid) == 137
    assert lc.wait_child(waiter) == 137
    assert not lc.wait_gone(set(before))
    assert lc.status("c1") == "stopped"


# -- exec -------------------------------------------------------------------------------------


def test_exec_output_status_pid1_ppid0(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    res = lc.cli("exec", "c1", "sh", "-c", "echo hi; exit 4")
    assert res.rc == 4, res.describe()
    assert res.stdout == "hi\n"
    res = lc.cli("exec", "c1", "sh", "-c", "echo $PPID; ps -o pid,args")
    assert res.rc == 0, res.describe()
    lines = res.stdout.splitlines()
    assert lines[0] == "0"
    pids = {ln.split()[0] for ln in lines[2:]}
    assert "1" in pids, res.stdout
    first = next(ln for ln in lines[2:] if ln.split()[0] == "1")
    assert "while" in first, res.stdout


def test_exec_env_cwd_user(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    res = lc.cli("exec", "--cwd", "/bin", "--env", "FOO=bar", "c1", "sh", "-c",
                 'pwd; echo "$FOO"; echo "$PATH"')
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == ["/bin", "bar", "/bin:/sbin:/usr/bin:/usr/sbin"]
    res = lc.cli("exec", "--user", "65534:65534", "c1", "sh", "-c", "id -u; id -g")
    assert res.rc == 0, res.describe()
    assert res.stdout.split() == ["65534", "65534"]


def test_exec_takes_its_callers_nice(lc: Lifecycle) -> None:
    # runc's exec'd process inherits runc exec's nice value, not the container's.
    lc.run_detached("c1", ["sh", "-c", LOOP])
    stat_nice = "cut -d' ' -f19 /proc/self/stat; cut -d' ' -f19 /proc/1/stat"
    argv = [*runsc_argv(), "--root", str(lc.root), "exec", "c1", "sh", "-c", stat_nice]
    res = run(["nice", "-n", "7", *argv], env=BASE_ENV, timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.split() == ["7", "0"], res.describe()


def test_exec_process_file(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    proc = {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", 'echo "$FOO"; pwd; exit 2'],
        "env": ["PATH=/bin", "FOO=from-json"],
        "cwd": "/tmp",
    }
    pfile = lc.work / "process.json"
    pfile.write_text(json.dumps(proc))
    res = lc.cli("exec", "--process", str(pfile), "c1")
    assert res.rc == 2, res.describe()
    assert res.stdout.splitlines() == ["from-json", "/tmp"]


def test_exec_missing_program(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    res = lc.cli("exec", "c1", "no-such-program")
    assert res.rc != 0, res.describe()
    assert "no-such-program" in res.stderr
    assert "not found" in res.stderr or "no such file" in res.stderr.lower(), res.stderr
    res = lc.cli("exec", "c1", "/bin/no-such-program")
    assert res.rc != 0, res.describe()
    assert "no-such-program" in res.stderr
    assert lc.status("c1") == "running"


def test_exec_detach_status_and_signal(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    waiter = lc.exec_detached("c1", "sh", "-c", "sleep 1; exit 5")
    assert procs.alive(waiter)
    assert lc.wait_child(waiter) == 5

    waiter = lc.exec_detached(
        "c1", "sh", "-c", 'trap "exit 9" TERM; echo > /host/trapped; ' + LOOP
    )
    wait_for(lambda: (lc.host / "trapped").exists(), WAIT_TIMEOUT, "the exec's trap")
    assert alive_for(waiter, 0.2)
    os.kill(waiter, signal.SIGTERM)
    assert lc.wait_child(waiter) == 9
    assert lc.status("c1") == "running"


def test_exec_detach_stdout(lc: Lifecycle) -> None:
    """A detached exec's stdout is the exec CLI's (as runc's): here a file."""
    lc.run_detached("c1", ["sh", "-c", LOOP])
    waiter = lc.exec_detached("c1", "sh", "-c", "echo detached-out; exit 0")
    assert lc.wait_child(waiter) == 0
    assert lc.last_exec_out.read_text() == "detached-out\n"


# -- ps ---------------------------------------------------------------------------------------


def test_ps_lists_init_pid(lc: Lifecycle) -> None:
    # A workload that forks no short-lived children, so every listed pid is still alive
    # when the test looks (a LOOP's `sleep 0.1` may exit in between).
    pid, _ = lc.run_detached("c1", ["sleep", "1000"])
    pids = lc.ps_json("c1")
    assert pids, "ps --format json lists no process"
    assert all(procs.alive(p) for p in pids), pids
    assert lc.state("c1")["pid"] in pids, f"state pid {pid} not in ps --format json {pids}"


def test_ps_lists_detached_exec(lc: Lifecycle) -> None:
    lc.run_detached("c1", ["sh", "-c", LOOP])
    before = lc.ps_json("c1")
    waiter = lc.exec_detached("c1", "sh", "-c", LOOP)
    after = lc.ps_json("c1")
    assert before
    assert waiter in after, f"exec --detach pid {waiter} not in ps --format json {after}"
    table = lc.ok("ps", "c1").stdout
    assert "PID" in table.splitlines()[0]


# -- pause / resume ---------------------------------------------------------------------------


def test_pause_resume_counter(lc: Lifecycle) -> None:
    count = lc.host / "count"
    pid, _ = lc.run_detached("c1", ["sh", "-c", COUNTER])
    wait_for(lambda: count.exists() and count.read_text().strip() not in ("", "1"),
             WAIT_TIMEOUT, "the counter to run")

    lc.ok("pause", "c1")
    assert lc.status("c1") == "paused"
    first = count.read_text()
    time.sleep(0.5)
    assert count.read_text() == first, "the counter moved while paused"
    assert lc.state("c1")["pid"] == pid
    res = lc.cli("pause", "c1")
    assert res.rc != 0 and "container not running" in res.stderr, res.describe()

    lc.ok("resume", "c1")
    assert lc.status("c1") == "running"
    wait_for(lambda: count.read_text() not in (first, ""), 5.0, "the counter to move after resume")

    # kill -9 of a paused container, then delete
    lc.ok("pause", "c1")
    assert lc.status("c1") == "paused"
    lc.ok("kill", "c1", "KILL")
    assert lc.wait_child(pid) == 137
    assert lc.status("c1") == "stopped"
    lc.ok("delete", "c1")
    assert lc.cli("state", "c1").rc != 0


# -- the sandbox process killed from outside --------------------------------------------------


def test_sigkill_sandbox_process(lc: Lifecycle) -> None:
    pid, _ = lc.run_detached("c1", ["sh", "-c", LOOP])
    waiter = lc.exec_detached("c1", "sh", "-c", LOOP)
    workload = set(lc.ps_json("c1"))
    assert workload
    os.kill(pid, signal.SIGKILL)
    assert lc.wait_child(pid) == 137
    left = lc.wait_gone(workload)
    assert not left, "workload processes outlived the sandbox:\n" + procs.describe(left)
    assert lc.wait_child(waiter) == 137
    assert lc.status("c1") == "stopped"
    lc.ok("delete", "c1")
    assert not any(d.exists() for d in all_cgroup_dirs(lc.cgroup_path("c1")))


# -- cgroups ----------------------------------------------------------------------------------


def _read(path: Path) -> str:
    return path.read_text().strip()


def test_cgroups_resources_update_events(lc: Lifecycle) -> None:
    resources = {"pids": {"limit": 64}, "memory": {"limit": 268435456}}
    path = lc.cgroup_path("c1")
    pid, _ = lc.create("c1", ["sh", "-c", LOOP], resources=resources)
    for ctrl in ("pids", "memory"):
        assert proc_cgroup(pid, ctrl) == path

    pids_dir = controller_dir("pids", path)
    mem_dir = controller_dir("memory", path)
    assert _read(pids_dir / "pids.max") == "64"
    if has_v1("memory"):
        assert int(_read(mem_dir / "memory.limit_in_bytes")) == 268435456
    else:
        assert _read(mem_dir / "memory.max") == "268435456"

    lc.ok("start", "c1")
    workload = lc.ps_json("c1")
    assert workload
    for host_pid in workload:
        try:
            for ctrl in ("pids", "memory"):
                assert proc_cgroup(host_pid, ctrl) == path, host_pid
        except FileNotFoundError:  # a `sleep` of the loop that has just exited
            continue
    procs_in_cgroup = {int(x) for x in _read(pids_dir / "cgroup.procs").split()}
    assert pid in procs_in_cgroup
    # exec --detach's waiter, which stands for its process, is in the container's cgroup
    # (as runc's exec'd process is), in every hierarchy, by the time exec returns
    waiter = lc.exec_detached("c1", "sh", "-c", LOOP)
    assert proc_cgroup_text_has(Path(f"/proc/{waiter}/cgroup").read_text(), path)

    lc.ok("update", "--resources", "-", "c1", input=json.dumps({"pids": {"limit": 100}}))
    assert _read(pids_dir / "pids.max") == "100"

    res = lc.ok("events", "--stats", "c1")
    event = json.loads(res.stdout)
    assert event["type"] == "stats"
    assert event["id"] == "c1"
    data = event["data"]
    assert "memory" in data and "pids" in data, data
    assert data["pids"]["current"] >= 1
    assert data["pids"]["limit"] == 100
    assert data["memory"]["usage"]["limit"] == 268435456

    lc.ok("kill", "c1", "KILL")
    assert lc.wait_child(pid) == 137
    assert lc.wait_child(waiter) == 137
    lc.ok("delete", "c1")
    left = [str(d) for d in all_cgroup_dirs(path) if d.exists()]
    assert not left, f"cgroup directories left after delete: {left}"


# -- logging, features, version ---------------------------------------------------------------


def test_log_json_error(lc: Lifecycle) -> None:
    log = lc.work / "runsc.log"
    res = lc.cli("start", "no-such-ctr", global_flags=["--log", str(log), "--log-format", "json"])
    assert res.rc != 0
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    errors = [e for e in entries if e.get("level") == "error"]
    assert errors, entries
    assert any("does not exist" in str(e.get("msg")) for e in errors), errors


def test_features_and_version(lc: Lifecycle) -> None:
    res = lc.ok("features")
    doc = json.loads(res.stdout)
    assert doc["ociVersionMax"].startswith("1.")
    assert "ociVersionMin" in doc
    res = lc.ok("--version")
    assert res.stdout.splitlines()[0].startswith("runc version "), res.stdout
    assert any(line.startswith("spec: ") for line in res.stdout.splitlines()), res.stdout


# -- hooks and the network namespace ---------------------------------------------------------

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


def _recording_hook(out: Path, kind: str, **extra: Any) -> dict[str, Any]:
    """A host hook that saves its stdin (the state), environment and network namespace
    (and that of the state's pid) under *out*, and appends *kind* to ``out/order``."""
    script = (
        f'cat > "{out}/{kind}.json"; env > "{out}/{kind}.env"; '
        f'readlink /proc/self/ns/net > "{out}/{kind}.netns"; '
        f'echo "$1" >> "{out}/order"'
    )
    return {"path": "/bin/sh", "args": ["sh", "-c", script, "hook", kind],
            "env": [f"HOOK_KIND={kind}"], **extra}


def _ns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_hooks_order_state_env_netns(lc: Lifecycle) -> None:
    out = lc.work / "hooks"
    out.mkdir()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {kind: [_recording_hook(out, kind)] for kind in HOOK_KINDS}
        cfg["annotations"] = {"org.example/key": "v"}

    pid, _ = lc.create("c1", ["sh", "-c", LOOP], edit=edit)
    order = lambda: (out / "order").read_text().split()  # noqa: E731
    assert order() == ["prestart", "createRuntime", "createContainer"]
    for kind in ("prestart", "createRuntime", "createContainer"):
        st = json.loads((out / f"{kind}.json").read_text())
        assert st["status"] == "creating" and st["pid"] == pid and st["id"] == "c1", st
        assert st["annotations"] == {"org.example/key": "v"}
        assert Path(st["bundle"]).is_dir()
        env = (out / f"{kind}.env").read_text().splitlines()
        # Exactly the hook's env (sh adds PWD/SHLVL/_ of its own), nothing of ours.
        assert f"HOOK_KIND={kind}" in env and not any(e.startswith("HOME=") for e in env), env
    # The sandbox has a network namespace of its own (config.json lists "network"); the
    # hooks that runc runs in the container's namespaces run in it.
    assert _ns(pid) != _ns("self")
    assert (out / "createContainer.netns").read_text().strip() == _ns(pid)
    assert (out / "createRuntime.netns").read_text().strip() == _ns("self")

    lc.ok("start", "c1")
    assert order()[3:] == ["startContainer", "poststart"]
    assert json.loads((out / "startContainer.json").read_text())["status"] == "created"
    assert json.loads((out / "poststart.json").read_text())["status"] == "running"
    assert (out / "startContainer.netns").read_text().strip() == _ns(pid)

    lc.ok("kill", "c1", "KILL")
    lc.wait_child(pid)
    lc.ok("delete", "c1")
    assert order()[5:] == ["poststop"]
    st = json.loads((out / "poststop.json").read_text())
    assert st["status"] == "stopped" and st["pid"] == 0


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_destroys_container(lc: Lifecycle, kind: str) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {kind: [{"path": "/bin/sh",
                                "args": ["sh", "-c", "echo no-network >&2; exit 4"]}]}

    bundle = lc.bundle("c1", ["sh", "-c", "echo ran > /host/ran"], edit=edit)
    res = lc.cli("create", "--bundle", str(bundle), "c1")
    assert res.rc != 0
    assert f"error running {kind} hook #0" in res.stderr, res.stderr
    assert "exit status 4" in res.stderr and "no-network" in res.stderr, res.stderr
    assert "does not exist" in lc.cli("state", "c1").stderr
    assert not lc.my_processes()
    assert not any(d.exists() for d in all_cgroup_dirs(lc.cgroup_path("c1")))
    assert not (lc.host / "ran").exists()


def test_hook_timeout(lc: Lifecycle) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"],
                                           "timeout": 1}]}

    bundle = lc.bundle("c1", ["true"], edit=edit)
    t0 = time.monotonic()
    res = lc.cli("create", "--bundle", str(bundle), "c1")
    assert res.rc != 0 and "timeout after 1s" in res.stderr, res.stderr
    assert time.monotonic() - t0 < 15
    assert "does not exist" in lc.cli("state", "c1").stderr


def test_failing_start_hook_stops_container_poststart_failure_does_not(lc: Lifecycle) -> None:
    fail = {"path": "/bin/false", "args": ["false"]}
    pid, _ = lc.create("c1", ["sh", "-c", LOOP],
                       edit=lambda cfg: cfg.update(hooks={"startContainer": [fail]}))
    res = lc.cli("start", "c1")
    assert res.rc != 0 and "error running startContainer hook #0" in res.stderr, res.stderr
    lc.wait_child(pid)
    assert lc.status("c1") == "stopped"

    pid, _ = lc.create("c2", ["sh", "-c", LOOP],
                       edit=lambda cfg: cfg.update(hooks={"poststart": [fail]}))
    lc.ok("start", "c2")
    assert lc.status("c2") == "running"
    lc.ok("kill", "c2", "KILL")
    lc.wait_child(pid)


def test_hooks_with_run(lc: Lifecycle) -> None:
    out = lc.host / "hooks"
    out.mkdir()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {kind: [_recording_hook(out, kind)] for kind in HOOK_KINDS}

    bundle = lc.bundle("c1", ["sh", "-c", "cat /host/hooks/order > /host/seen; exit 5"],
                       edit=edit)
    lc.ids.append("c1")
    assert lc.cli("run", "--keep", "--bundle", str(bundle), "c1").rc == 5
    # init ran only after the hooks before start.
    assert (lc.host / "seen").read_text().split()[:4] == list(HOOK_KINDS[:4])
    assert (out / "order").read_text().split() == list(HOOK_KINDS[:-1])
    lc.ok("delete", "c1")
    assert (out / "order").read_text().split() == list(HOOK_KINDS)
    # Without --keep, run deletes the container itself (as runc run): poststop included.
    (out / "order").unlink()
    assert lc.cli("run", "--bundle", str(bundle), "c1").rc == 5
    assert (out / "order").read_text().split() == list(HOOK_KINDS)
    assert "does not exist" in lc.cli("state", "c1").stderr


def test_hooks_get_the_callers_open_files_limit(lc: Lifecycle) -> None:
    """The CLI raises its soft RLIMIT_NOFILE for the sentry and the gofer; a hook it runs
    gets the caller's, as runc's do (here a soft limit of 1,000 under the usual hard one)."""
    import resource

    out = lc.host / "hooks"
    out.mkdir()

    def edit(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
            "sh", "-c", f'cat > /dev/null; ulimit -n > "{out}/soft"; ulimit -Hn > "{out}/hard"']}]}

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1000, hard))
    try:
        lc.create("c1", ["sh", "-c", LOOP], edit=edit)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (out / "soft").read_text().split() == ["1000"]
    assert (out / "hard").read_text().split() == [str(hard)]


def test_network_namespace_path_joined(lc: Lifecycle) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        wait_for(lambda: _ns(holder.pid) != _ns("self"), WAIT_TIMEOUT, "unshare")
        path = f"/proc/{holder.pid}/ns/net"

        def join(cfg: dict[str, Any]) -> None:
            cfg["linux"]["namespaces"] = [
                {"type": t} for t in ("pid", "ipc", "uts", "mount")
            ] + [{"type": "network", "path": path}]

        pid, _ = lc.create("c1", ["sh", "-c", LOOP], edit=join)
        assert _ns(pid) == _ns(holder.pid)

        def host_net(cfg: dict[str, Any]) -> None:
            cfg["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount"}]

        pid2, _ = lc.create("c2", ["sh", "-c", LOOP], edit=host_net)
        assert _ns(pid2) == _ns("self")

        def not_net(cfg: dict[str, Any]) -> None:
            cfg["linux"]["namespaces"] = [{"type": "network", "path": "/proc/self/ns/uts"}]

        bundle = lc.bundle("c3", ["true"], edit=not_net)
        res = lc.cli("create", "--bundle", str(bundle), "c3")
        assert res.rc != 0 and "not a network namespace" in res.stderr, res.stderr
        assert "does not exist" in lc.cli("state", "c3").stderr
    finally:
        holder.kill()
        holder.wait()


# -- engines' shapes ------------------------------------------------------------------------


def test_long_state_path_control_socket(lc: Lifecycle) -> None:
    """The control socket's path exceeds sun_path's 108 bytes (docker: a 64-digit id under
    /run/docker/runtime-NAME/moby/); every command still reaches the sandbox."""
    cid = "c" + "0123456789abcdef" * 7
    pid, _ = lc.run_detached(cid, ["sh", "-c", LOOP])
    assert len(str(lc.root / cid / "control.sock")) > 108
    res = lc.ok("exec", cid, "sh", "-c", "echo via-long-path")
    assert res.stdout == "via-long-path\n"
    assert pid in lc.ps_json(cid)
    lc.ok("kill", cid, "KILL")
    assert lc.wait_child(pid) == 137


def test_file_bind_mounts(lc: Lifecycle) -> None:
    """Bind mounts of single files (engines' /etc/hosts, /etc/resolv.conf, /etc/hostname):
    read-write writes through, read-only refuses, neither can be renamed away."""
    rw = lc.work / "resolv"
    rw.write_text("nameserver 192.0.2.1\n")
    ro = lc.work / "hostname"
    ro.write_text("from-host\n")

    def binds(cfg: dict[str, Any]) -> None:
        cfg["mounts"] += [
            {"destination": "/etc/resolv.conf", "type": "bind", "source": str(rw),
             "options": ["rbind", "rprivate"]},
            {"destination": "/etc/hostname", "type": "bind", "source": str(ro),
             "options": ["bind", "ro"]},
        ]

    script = (
        "cat /etc/resolv.conf /etc/hostname; echo nameserver 192.0.2.2 >> /etc/resolv.conf; "
        "echo x > /etc/hostname || echo ro-refused; mv /etc/resolv.conf /etc/r2 || echo busy; "
        "ls /etc/hostname/ 2>/dev/null || echo not-a-dir"
    )
    bundle = lc.bundle("c1", ["sh", "-c", script], edit=binds)
    lc.ids.append("c1")
    res = lc.cli("run", "--bundle", str(bundle), "c1")
    assert res.rc == 0, res.describe()
    assert res.stdout.split("\n")[:5] == [
        "nameserver 192.0.2.1", "from-host", "ro-refused", "busy", "not-a-dir"
    ], res.stdout
    assert "Read-only file system" in res.stderr and "busy" in res.stderr, res.stderr
    assert rw.read_text() == "nameserver 192.0.2.1\nnameserver 192.0.2.2\n"
    assert ro.read_text() == "from-host\n"


def test_run_joins_cgroup(lc: Lifecycle) -> None:
    """run places the sandbox process in linux.cgroupsPath with its resources before the
    workload runs, as create does, and every host process of the sandbox (the sentry it
    prestarts, the gofer, the workload's) with it; delete removes it; a failed run
    leaves none."""
    seen = lc.work / "cgroup"
    # The sandbox process's /proc/PID/cgroup, then each descendant's (one file, separated).
    probe = (
        "import json, sys; pid = json.load(sys.stdin)['pid']; todo = [pid]; texts = []\n"
        "while todo:\n"
        "    p = todo.pop()\n"
        "    texts.append(open(f'/proc/{p}/cgroup').read())\n"
        "    todo += [int(c) for c in open(f'/proc/{p}/task/{p}/children').read().split()]\n"
        f"open('{seen}', 'w').write('\\n--\\n'.join(texts))"
    )

    def edit(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"poststart": [{"path": "/usr/bin/python3",
                                       "args": ["python3", "-c", probe]}]}

    bundle = lc.bundle("c1", ["sh", "-c", "exit 4"], resources={"pids": {"limit": 64}},
                       edit=edit)
    lc.ids.append("c1")
    assert lc.cli("run", "--keep", "--bundle", str(bundle), "c1").rc == 4
    texts = seen.read_text().split("\n--\n")
    assert len(texts) >= 4, texts  # the sandbox process, the sentry, the gofer, init
    assert all(proc_cgroup_text_has(t, lc.cgroup_path("c1")) for t in texts), texts
    if has_v1("pids"):
        assert (controller_dir("pids", lc.cgroup_path("c1")) / "pids.max").read_text() == "64\n"
    lc.ok("delete", "c1")
    assert not any(d.exists() for d in all_cgroup_dirs(lc.cgroup_path("c1")))
    # Without --keep, run removes the cgroup it made once the workload is gone.
    seen.unlink()
    assert lc.cli("run", "--bundle", str(bundle), "c1").rc == 4
    texts = seen.read_text().split("\n--\n")
    assert len(texts) >= 4 and all(proc_cgroup_text_has(t, lc.cgroup_path("c1"))
                                   for t in texts), texts
    assert not any(d.exists() for d in all_cgroup_dirs(lc.cgroup_path("c1")))

    bad = lc.bundle("c2", ["/no/such/program"])
    res = lc.cli("run", "--bundle", str(bad), "c2")
    assert res.rc != 0 and "no/such/program" in res.stderr, res.stderr
    assert not any(d.exists() for d in all_cgroup_dirs(lc.cgroup_path("c2")))


def proc_cgroup_text_has(text: str, path: str) -> bool:
    """Whether every line of a /proc/PID/cgroup text of a hierarchy the sandbox joins
    (the v2 one, and each v1 one with a controller runsc-py uses) names *path*."""
    from runsc_py.cgroups import V1_CONTROLLERS

    lines = [line.split(":", 2) for line in text.splitlines()]
    relevant = [p for _n, ctrls, p in lines
                if ctrls == "" or set(ctrls.split(",")) & set(V1_CONTROLLERS)]
    return bool(relevant) and all(p == path for p in relevant)


def test_pod_uts_namespace_gives_hostname(lc: Lifecycle) -> None:
    """As a CRI pod: the sandbox container names the host (new UTS namespace + hostname),
    another container gets only that namespace's path and reports the same hostname."""

    def pod(cfg: dict[str, Any]) -> None:
        cfg["hostname"] = "pod-host"
        cfg["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]

    pause, _ = lc.run_detached("pause", ["sh", "-c", LOOP], edit=pod)
    uts = f"/proc/{pause}/ns/uts"
    assert os.readlink(uts) != os.readlink("/proc/self/ns/uts")

    def member(cfg: dict[str, Any]) -> None:
        cfg.pop("hostname", None)
        cfg["linux"]["namespaces"] = [{"type": t} for t in ("pid", "mount")] + [
            {"type": "uts", "path": uts}
        ]

    bundle = lc.bundle("app", ["hostname"], edit=member)
    lc.ids.append("app")
    res = lc.cli("run", "--bundle", str(bundle), "app")
    assert (res.rc, res.stdout) == (0, "pod-host\n"), res.describe()
    lc.ok("kill", "pause", "KILL")
    lc.wait_child(pause)
