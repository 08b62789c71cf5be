"""The proc connector and generic netlink's TASKSTATS in the sandbox, served by the sentry.

stress-ng's netlink-proc and netlink-task stressors run and pass; the proc connector
reports the sandbox's own processes with sandbox pids in the order Linux does (compared
with a native run in the initial pid namespace, where the connector answers: Linux ignores
a listen request from another pid namespace, so the differential runner's usual native
reference as pid 1 of a new namespace would get no events); and it never reports a host
process.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_native, run_sandbox

SRC = Path(__file__).resolve().parent / "src"
needs_stress_ng = pytest.mark.skipif(shutil.which("stress-ng", path=BASE_ENV["PATH"]) is None,
                                     reason="stress-ng is not installed")


@needs_stress_ng
@pytest.mark.parametrize("stressor", ["netlink-proc", "netlink-task"])
def test_stress_ng_netlink_stressor(stressor: str, runsc_root: Path, tmp_path: Path) -> None:
    res = run_sandbox(["stress-ng", f"--{stressor}", "1", "-t", "3", "--metrics"],
                      root=runsc_root, env=BASE_ENV, cwd=tmp_path, timeout=120)
    out = res.stdout + res.stderr
    assert res.rc == 0, res.describe()
    assert "successful run completed" in out, res.describe()
    assert "fail" not in out and "skipp" not in out, res.describe()
    line = next((x for x in out.splitlines() if f"] {stressor} " in x), "")
    assert line and int(line.split()[4]) > 0, res.describe()  # bogo ops counted


def test_proc_connector_events_match_native(c_program, runsc_root: Path, tmp_path: Path) -> None:
    exe = c_program(SRC / "cn_proc_events.c")
    native = run_native([str(exe)], cwd=tmp_path, pidns=False, timeout=30)
    boxed = run_sandbox([str(exe)], root=runsc_root, env=BASE_ENV, cwd=tmp_path, timeout=60)
    assert boxed.rc == 0, boxed.describe()
    assert "exit C code 0x700 signal 17 parent P" in boxed.stdout, boxed.describe()
    if native.rc != 0 or "exit C" not in native.stdout:
        pytest.skip(f"no native proc connector to compare with:\n{native.describe()}")
    assert boxed.stdout.splitlines() == native.stdout.splitlines(), boxed.describe()


def test_proc_connector_never_reports_host_processes(c_program, runsc_root: Path,
                                                     tmp_path: Path) -> None:
    """Invariant: the sandbox learns nothing of host processes through the proc connector
    (events are the sentry's books, never the host's connector)."""
    exe = c_program(SRC / "cn_proc_events.c")
    stop = time.monotonic() + 12
    spawned = [0]

    def churn() -> None:  # host processes fork, exec, change name and exit meanwhile
        while time.monotonic() < stop:
            subprocess.run(["/bin/sh", "-c", "true; /bin/true"], check=False)
            spawned[0] += 1

    th = threading.Thread(target=churn, daemon=True)
    th.start()
    try:
        res = run_sandbox([str(exe), "watch", "4"], root=runsc_root, env=BASE_ENV,
                          cwd=tmp_path, timeout=60)
    finally:
        stop = 0
        th.join()
    assert res.rc == 0, res.describe()
    assert spawned[0] > 0
    assert res.stdout.splitlines() == ["listening", "events: 0"], res.describe()
