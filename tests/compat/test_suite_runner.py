"""``compat suite``: per-case scoring of a suite natively and sandboxed.

The fixtures are tiny suites built in the test: a plain passing and a failing script, a TAP
script, a fake googletest binary (a shell script that answers ``--gtest_list_tests`` and
``--gtest_filter``), and a C program making a call the sandbox does not implement (the first
of :data:`CANDIDATES` that ``runsc-py syscalls`` calls unsupported), which passes natively and
fails sandboxed: the work list.
Each runs through the real runner, natively and under ``runsc-py do``.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import procs
from helpers.cbuild import compile_c
from helpers.runner import BASE_ENV, REPO

SUITE = [sys.executable, "-c", "from runsc_py.compat.suite import suite; suite()"]

#: Calls the C program can make, each of which succeeds natively; the test uses the first
#: one the sandbox's table says is unsupported.
CANDIDATES = ("shmget", "msgget", "semget", "io_setup", "sysfs")

UNSUPPORTED_CALL = r"""
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/aio_abi.h>
int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "shmget";
    int id;
    if (strcmp(which, "shmget") == 0) {
        id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        if (id >= 0) shmctl(id, IPC_RMID, NULL);
    } else if (strcmp(which, "msgget") == 0) {
        id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (id >= 0) msgctl(id, IPC_RMID, NULL);
    } else if (strcmp(which, "semget") == 0) {
        id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        if (id >= 0) semctl(id, 0, IPC_RMID);
    } else if (strcmp(which, "io_setup") == 0) {
        aio_context_t ctx = 0;
        id = syscall(SYS_io_setup, 1, &ctx);
        if (id >= 0) syscall(SYS_io_destroy, ctx);
    } else {
        id = syscall(SYS_sysfs, 3);  /* the number of filesystem types */
    }
    if (id < 0) { perror(which); return 1; }
    return 0;
}
"""

FAKE_GTEST = """#!/bin/sh
# a stand-in for a googletest binary: answers --gtest_list_tests and --gtest_filter
case "$1" in
--gtest_list_tests) printf 'Suite.\\n  Pass1\\n  Pass2\\n  Fail1\\n  DISABLED_Off\\n'
                    printf 'Typed/0.  # TypeParam = int\\n  Pass3\\n' ;;
--gtest_filter=Suite.Pass1|--gtest_filter=Suite.Pass2|--gtest_filter=Typed/0.Pass3)
    echo '[  PASSED  ] 1 test.' ;;
--gtest_filter=Suite.Fail1) echo '[  FAILED  ] 1 test'; exit 1 ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""

TAP = """#!/bin/sh
echo 1..4
echo 'ok 1 - first'
echo 'not ok 2 - second'
echo 'ok 3 - third # SKIP not here'
echo '# a comment'
echo 'ok 4 - fourth'
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _env() -> dict[str, str]:
    # the runner passes its environment to the runs; PYTHONPATH lets it import the checkout
    return dict(BASE_ENV, PYTHONPATH=str(REPO))


def _suite(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SUITE + args, env=_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def _unsupported_sysv() -> str:
    # this checkout's table, as the suite runs this checkout's sandbox
    cli = [sys.executable, "-c", "from runsc_py.cli import main; main(prog_name='runsc-py')"]
    out = subprocess.run([*cli, "syscalls", "--format", "json"], env=_env(), capture_output=True,
                         text=True, timeout=60, check=True).stdout
    table = json.loads(out)
    for e in table:
        if e["name"] in CANDIDATES and e["support"] == "unsupported":
            return str(e["name"])
    pytest.fail(f"the sandbox implements all of {CANDIDATES} now: add another unsupported call")


@pytest.fixture
def no_leftovers():
    """Fail if a process started during the test is still alive at its end."""
    before = procs.descendants(os.getpid())
    yield
    left = procs.wait_gone(procs.descendants(os.getpid()) - before, 10.0)
    try:
        assert not left, "processes left behind:\n" + procs.describe(left)
    finally:
        procs.kill_all(left)
        procs.reap_zombie_children()


def test_counts_per_case_and_work_list(tmp_path, no_leftovers):
    call = _unsupported_sysv()
    suite = tmp_path / "suite"
    suite.mkdir()
    _script(suite / "pass.sh", "#!/bin/sh\nexit 0\n")
    _script(suite / "fail.sh", "#!/bin/sh\necho broken >&2\nexit 3\n")
    _script(suite / "skip.sh", "#!/bin/sh\nexit 77\n")
    _script(suite / "tap.sh", TAP)
    _script(suite / "gtest.sh", FAKE_GTEST)
    (suite / "data.txt").write_text("not executable, not a case\n")
    src = tmp_path / "sysv.c"
    src.write_text(UNSUPPORTED_CALL)
    exe = compile_c(src, tmp_path / "bin")
    _script(suite / "sysv.sh", f"#!/bin/sh\nexec {exe} {call}\n")

    state = tmp_path / "state.jsonl"
    r = _suite([str(suite), "--json", "--state", str(state), "--jobs", "2"])
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    by = {s["source"]: s for s in rep["sources"]}
    assert set(by) == {"pass.sh", "fail.sh", "skip.sh", "tap.sh", "gtest.sh", "sysv.sh"}
    assert (by["pass.sh"]["cases"], by["pass.sh"]["native_pass"], by["pass.sh"]["sandbox_pass"]) == (1, 1, 1)
    assert (by["fail.sh"]["cases"], by["fail.sh"]["native_pass"], by["fail.sh"]["sandbox_pass"]) == (1, 0, 0)
    assert (by["skip.sh"]["native_skip"], by["skip.sh"]["native_pass"]) == (1, 0)
    # TAP: 4 planned tests, one fails, one is a skip
    assert (by["tap.sh"]["cases"], by["tap.sh"]["native_pass"], by["tap.sh"]["native_skip"]) == (4, 2, 1)
    assert by["tap.sh"]["sandbox_pass"] == 2
    # gtest: DISABLED_ left out; each case ran on its own
    g = by["gtest.sh"]
    assert (g["cases"], g["native_pass"], g["sandbox_pass"]) == (4, 3, 3)
    assert (by["sysv.sh"]["native_pass"], by["sysv.sh"]["sandbox_pass"]) == (1, 0)
    t = rep["total"]
    assert (t["cases"], t["native_pass"], t["sandbox_pass"], t["native_pass_sandbox_not"]) == (12, 7, 6, 1)
    assert [w["case"] for w in rep["work_list"]] == ["sysv.sh"]
    reason = rep["work_list"][0]["reason"]
    # the sentry's "unsupported syscall" warning, then the program's own message
    assert reason.startswith("unsupported: syscall") and f"({call})" in reason, reason
    assert f"{call}: Function not implemented" in reason

    # one state line per finished run: 9 units (gtest split in 4), natively and sandboxed
    lines = [json.loads(x) for x in state.read_text().splitlines()]
    assert len(lines) == 18
    gtest_units = sorted(x["unit"] for x in lines if x["source"] == "gtest.sh" and x["mode"] == "native")
    assert gtest_units == ["gtest.sh::Suite.Fail1", "gtest.sh::Suite.Pass1", "gtest.sh::Suite.Pass2",
                           "gtest.sh::Typed/0.Pass3"]

    # the text report, from the state alone; without the failing case the status is 0
    r = _suite([str(suite), "--state", str(state), "--filter", "^(pass|tap)"])
    assert r.returncode == 0, r.stderr
    assert "0 runs to do" in r.stderr
    assert "TOTAL" in r.stdout and "work list" not in r.stdout
    r = _suite([str(suite), "--state", str(state)])
    assert r.returncode == 1
    assert "work list (passes natively, not sandboxed):\n  sysv.sh: fail" in r.stdout


def test_list_file_and_could_not_run(tmp_path, no_leftovers):
    lst = tmp_path / "cases.list"
    lst.write_text("# comment line\n\nsh -c 'exit 0'  # trailing comment\ntrue\nfalse\n")
    r = _suite(["--list", str(lst), "--json"])
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert [s["source"] for s in rep["sources"]] == ["sh -c 'exit 0'", "true", "false"]
    assert (rep["total"]["cases"], rep["total"]["native_pass"], rep["total"]["sandbox_pass"]) == (3, 2, 2)

    lst.write_text("no-such-command-here --x\n")
    assert _suite(["--list", str(lst)]).returncode == 3
    assert _suite(["--list", str(tmp_path / "missing.list")]).returncode == 3
    assert _suite([str(tmp_path)]).returncode == 3  # no executable in it
    lst.write_text("true\n")
    assert _suite(["--list", str(lst), "--runtime-prefix", "no-such-runtime-here"]).returncode == 3
    assert _suite([]).returncode == 2  # usage


def test_resume_after_the_runner_is_killed(tmp_path, no_leftovers):
    suite = tmp_path / "suite"
    suite.mkdir()
    for i in range(6):
        _script(suite / f"case{i}.sh", "#!/bin/sh\nsleep 0.3\n")
    state = tmp_path / "state.jsonl"
    args = [str(suite), "--state", str(state), "--jobs", "1", "--json"]
    before = procs.descendants(os.getpid())
    scratch_before = set(glob.glob("/tmp/cs*"))
    runner = subprocess.Popen(SUITE + args, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if state.exists() and state.read_text().count("\n") >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the runner wrote nothing to its state file")
    finally:
        runner.kill()  # the runner alone: its runs must die with it
        runner.wait()
    # its runs die with it (parent-death signal), nothing is left in flight
    assert not procs.wait_gone(procs.descendants(os.getpid()) - before, 10.0)
    procs.reap_zombie_children()
    # the work directory of the run in flight stays (the runner died before its cleanup):
    # at most that one, and it goes here
    left = set(glob.glob("/tmp/cs*")) - scratch_before
    for d in left:
        shutil.rmtree(d)
    assert len(left) <= 1, left

    first = state.read_text()
    done = [json.loads(x) for x in first.splitlines() if x.strip()]
    assert 3 <= len(done) < 12
    r = _suite(args)
    assert r.returncode == 0, r.stderr
    assert f"{12 - len(done)} runs to do ({len(done)} in the state)" in r.stderr
    after = state.read_text()
    assert after.startswith(first)
    keys = [(x["unit"], x["mode"]) for x in map(json.loads, after.splitlines()) if x]
    assert len(keys) == len(set(keys)) == 12  # nothing ran twice
    rep = json.loads(r.stdout)
    assert (rep["total"]["cases"], rep["total"]["native_pass"], rep["total"]["sandbox_pass"]) == (6, 6, 6)
    # a runner that ends removes every work directory it made
    assert set(glob.glob("/tmp/cs*")) - scratch_before == set()


def test_timeout_kills_the_whole_case(tmp_path, no_leftovers):
    marker = tmp_path / "hang.sh"
    # a process tree: a background loop in a session of its own, and a foreground sleep
    _script(marker, "#!/bin/sh\nsetsid sh -c 'while :; do sleep 1; done' &\nsleep 1000\n")
    lst = tmp_path / "cases.list"
    lst.write_text(f"{marker}\ntrue\n")
    t0 = time.monotonic()
    r = _suite(["--list", str(lst), "--timeout", "3", "--json"])
    assert time.monotonic() - t0 < 60
    assert r.returncode == 0, r.stderr  # nothing passes natively and fails sandboxed
    rep = json.loads(r.stdout)
    hang = next(s for s in rep["sources"] if s["source"] == str(marker))
    assert (hang["native_pass"], hang["sandbox_pass"]) == (0, 0)
    assert "timeout" in r.stderr
    # nothing of the case is left, anywhere on the host
    deadline = time.monotonic() + 10
    while True:
        left = [p for p in procs.all_processes() if str(tmp_path) in procs.cmdline(p)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, [procs.cmdline(p) for p in left]
