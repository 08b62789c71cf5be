"""Defense in depth: a workload's host processes have nothing to lose.

Seen from the host, every host process of a running workload runs as an unprivileged uid
and gid that no host user has (all four of real, effective, saved and file-system ids), in
no supplementary group, with every capability set empty (the bounding set included),
``no_new_privs`` and the seccomp filter; so a process that got past the filter would hold
no privilege. Inside, the sandbox's own identities are unchanged: ``id`` and
``/proc/self/status`` show the caller's (do mode) or config.json's ``process.user``.

Run: ``python3 -m pytest tests/security`` (needs busybox-static).
"""

from __future__ import annotations

import json
import os
import pwd
import select
import subprocess
import time
from pathlib import Path

import pytest
from helpers import procs
from helpers.runner import BASE_ENV, runsc_argv

_FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
           "NoNewPrivs", "Seccomp")
_VIEW = "id; grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):' /proc/self/status"
# The workload reports its own view, then waits (two host processes: sh and sleep).
_SCRIPT = f"{_VIEW}; echo READY; sleep 60 & wait"


def _status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in _FIELDS:
            out[key] = value.strip()
    return out


def _workload_pids(cli_pid: int) -> set[int]:
    """Host processes under *cli_pid* traced by a process of the same tree (the sentry)."""
    tree = procs.descendants(cli_pid) | {cli_pid}
    return {pid for pid in tree if procs.tracer_of(pid) in tree}


def _run_and_inspect(argv: list[str], cwd: Path) -> tuple[str, dict[int, dict[str, str]]]:
    """Start *argv* (runsc-py running ``_SCRIPT``), read the workload's own view up to
    READY, then each workload host process's /proc status; kill it all."""
    cli = subprocess.Popen(argv, env=BASE_ENV, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    view = b""
    try:
        deadline = time.monotonic() + 30
        while b"READY\n" not in view and time.monotonic() < deadline:
            ready, _, _ = select.select([cli.stdout], [], [], 1)
            if ready:
                chunk = os.read(cli.stdout.fileno(), 4096)
                if not chunk:
                    break
                view += chunk
        assert b"READY\n" in view, (view, cli.stderr.read() if cli.poll() is not None else b"")
        statuses: dict[int, dict[str, str]] = {}
        deadline = time.monotonic() + 10
        # sh and its sleep child
        while len(statuses) < 2 and time.monotonic() < deadline:
            for pid in _workload_pids(cli.pid):
                try:
                    st = _status(pid)
                except OSError:
                    continue
                if st.get("Seccomp") == "2":
                    statuses[pid] = st
            time.sleep(0.05)
        return view.decode(), statuses
    finally:
        procs.stop_cli(cli)


def _assert_unprivileged(statuses: dict[int, dict[str, str]]) -> int:
    """Every workload host process holds nothing; returns the host id they run as."""
    assert len(statuses) >= 2, statuses
    host_users = {u.pw_uid for u in pwd.getpwall()}
    ids = set()
    for pid, st in statuses.items():
        uids, gids = st["Uid"].split(), st["Gid"].split()
        assert len(uids) == len(gids) == 4, (pid, st)
        assert len(set(uids)) == 1 and len(set(gids)) == 1, (pid, st)
        uid, gid = int(uids[0]), int(gids[0])
        assert uid != 0 and gid != 0, (pid, st)
        assert uid not in host_users, f"host process {pid} runs as a host user's uid {uid}"
        assert st["Groups"] == "", (pid, st)
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, (pid, cap, st)
        assert st["NoNewPrivs"] == "1", (pid, st)
        assert st["Seccomp"] == "2", (pid, st)
        ids.add((uid, gid))
    assert len(ids) == 1, f"one host id per sandbox: {ids}"
    return ids.pop()[0]


def _view_fields(view: str) -> dict[str, str]:
    out = {}
    for line in view.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in _FIELDS:
            out[key] = " ".join(value.split())
    return out


def test_do_mode_host_processes_hold_nothing(runsc_root, tmp_path):
    """A root workload in do mode: unprivileged on the host, root with every
    capability in its own view."""
    argv = runsc_argv() + ["--root", str(runsc_root), "do", "--", "/bin/sh", "-c", _SCRIPT]
    view, statuses = _run_and_inspect(argv, tmp_path)
    host_id = _assert_unprivileged(statuses)
    assert view.startswith("uid=0(root) gid=0(root)"), view
    fields = _view_fields(view)
    assert fields["Uid"] == fields["Gid"] == "0 0 0 0", view
    assert int(fields["CapEff"], 16) != 0 and int(fields["CapBnd"], 16) != 0, view
    assert fields["NoNewPrivs"] == "0", view
    assert str(host_id) not in view


def test_two_sandboxes_have_different_host_ids(runsc_root, tmp_path):
    """Sandboxes do not share a host id: one cannot signal or ptrace the other's processes
    should both get past their filters."""
    argv = runsc_argv() + ["--root", str(runsc_root), "do", "--", "/bin/sh", "-c", _SCRIPT]
    first = subprocess.Popen(argv, env=BASE_ENV, cwd=tmp_path, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        _, statuses = _run_and_inspect(argv, tmp_path)
        other = _assert_unprivileged(statuses)
        deadline = time.monotonic() + 20
        first_ids: set[int] = set()
        while not first_ids and time.monotonic() < deadline:
            for pid in _workload_pids(first.pid):
                try:
                    st = _status(pid)
                except OSError:
                    continue
                if st.get("Seccomp") == "2":
                    first_ids.add(int(st["Uid"].split()[0]))
            time.sleep(0.05)
        assert first_ids and other not in first_ids, (first_ids, other)
    finally:
        procs.stop_cli(first)


def test_config_user_is_the_sandbox_view_only(runsc_root, busybox_bundle):
    """config.json's ``process.user`` (with additional groups) and capabilities are what
    the workload sees; its host processes still hold no id or capability of them."""
    cfg_path = busybox_bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["process"]["user"] = {"uid": 1234, "gid": 2345, "additionalGids": [3456]}
    cfg["process"]["args"] = ["sh", "-c", _SCRIPT]
    cfg["process"]["terminal"] = False
    cfg_path.write_text(json.dumps(cfg))
    argv = runsc_argv() + ["--root", str(runsc_root), "run", "--bundle", str(busybox_bundle),
                           "hostid"]
    try:
        view, statuses = _run_and_inspect(argv, busybox_bundle)
    finally:
        subprocess.run(runsc_argv() + ["--root", str(runsc_root), "delete", "--force", "hostid"],
                       env=BASE_ENV, capture_output=True, timeout=30)
    host_id = _assert_unprivileged(statuses)
    fields = _view_fields(view)
    assert fields["Uid"] == "1234 1234 1234 1234", view
    assert fields["Gid"] == "2345 2345 2345 2345", view
    assert fields["Groups"] == "3456", view
    assert host_id not in (1234, 2345, 3456)


_SETUID = """
import os
os.setgroups([])
os.setresgid(2000, 2000, 2000)
os.setresuid(1000, 1000, 0)
print(os.getresuid(), os.getresgid(), os.getgroups())
os.setresuid(0, 0, 0)  # back through the saved set-user-ID
print(os.getresuid())
os.setresuid(1000, 1000, 1000)
try:
    os.setresuid(0, 0, 0)
except PermissionError:
    print("no way back")
"""


@pytest.mark.parametrize("cmd,expected", [
    # chown is the sandbox's: root gives a file any owner, which it then has.
    (["/bin/sh", "-c", "touch f && chown 4321:4322 f && stat -c '%u:%g' f"], "4321:4322"),
    # setuid is the sandbox's: root becomes anyone, back through the saved id, and
    # not back once every id is dropped.
    (["python3", "-c", _SETUID],
     "(1000, 1000, 0) (2000, 2000, 2000) []\n(0, 0, 0)\nno way back"),
])
def test_sandbox_identity_operations_still_work(sandbox, tmp_path, cmd, expected):
    """The host id changes nothing the sandbox does with its own identities."""
    res = sandbox.do(cmd, cwd=tmp_path)
    assert res.rc == 0, res.describe()
    assert res.stdout.strip() == expected, res.describe()
