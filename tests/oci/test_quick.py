"""``create``, ``start``, ``state``, ``kill``, ``delete`` and ``run`` without the CLI
framework (:mod:`runsc_py.quick`): for every form engines use, the same exit status,
output, stderr, ``--log`` lines and state left behind as the click CLI's, run side by side
on twin containers and bundles; any other form is left to the CLI. (Their successful
runs with real sandboxes: tests/clients, which drive the program through containerd,
docker and podman.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runsc_py import quick
from runsc_py.container import process
from tests.oci.oci_helpers import REPO, minimal_config, record_container

#: The two ways of running the program: its console entry (which takes the quick path),
#: and the click CLI alone.
QUICK = [sys.executable, "-m", "runsc_py"]
CLICK = [sys.executable, "-c", "from runsc_py.cli import entry; entry()"]


def _run(argv: list[str], args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([*argv, *args], capture_output=True, text=True, env=env,
                          cwd=str(REPO), timeout=60, check=False)


@pytest.fixture
def sleepers() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["sleep", "100"])
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _dead_pid() -> tuple[int, int | None]:
    p = subprocess.Popen(["true"])
    start = process.start_time(p.pid)
    p.wait()
    return p.pid, start


#: Containers a case starts from: none, a stopped one, a running one (a sleeping process
#: stands for its sandbox), a created one.
SCENES = ("none", "stopped", "running", "created")

#: (scene, arguments after the global flags)
CASES = [
    ("none", ["state", "c1"]),
    ("none", ["start", "c1"]),
    ("none", ["kill", "c1"]),
    ("none", ["kill", "c1", "9"]),
    ("none", ["delete", "c1"]),
    ("none", ["delete", "--force", "c1"]),
    ("none", ["delete", "-f", "c1"]),
    ("none", ["state", "../x"]),
    ("none", ["delete", "--force", "../x"]),
    ("stopped", ["state", "c1"]),
    ("stopped", ["start", "c1"]),
    ("stopped", ["kill", "c1", "15"]),
    ("stopped", ["kill", "--all", "c1", "9"]),
    ("stopped", ["delete", "c1"]),
    ("running", ["state", "c1"]),
    ("running", ["start", "c1"]),
    ("running", ["delete", "c1"]),
    ("running", ["kill", "c1", "SIGNOPE"]),
    ("running", ["kill", "c1", "0"]),
    ("running", ["delete", "c1", "--force"]),
    ("created", ["state", "c1"]),
    ("created", ["start", "c1"]),
    ("created", ["kill", "-a", "c1", "KILL"]),
    ("created", ["delete", "c1"]),
]

#: create and run before they start a sandbox: (scene, bundle, arguments); bundles:
#: "plain" (a config, an empty rootfs), "terminal" (process.terminal), "noconfig",
#: "norootfs".
BUNDLE_CASES = [
    ("none", "terminal", ["create", "--bundle", "{bundle}", "c1"]),
    ("none", "terminal", ["run", "-b", "{bundle}", "c1"]),
    ("none", "plain", ["create", "--bundle={bundle}", "--console-socket", "/nope", "c1"]),
    ("none", "plain", ["run", "--bundle", "{bundle}", "--detach", "c1"]),
    ("none", "plain", ["run", "-d", "--keep", "--bundle", "{bundle}", "c1"]),
    ("none", "noconfig", ["create", "-b", "{bundle}", "--pid-file", "{base}/pid", "c1"]),
    ("none", "noconfig", ["run", "--bundle", "{bundle}", "c1"]),
    ("none", "norootfs", ["create", "--bundle", "{bundle}", "c1"]),
    ("none", "norootfs", ["run", "--bundle", "{bundle}", "--pid-file={base}/pid", "c1"]),
    ("none", "plain", ["create", "--bundle", "{bundle}", "../x"]),
    ("stopped", "plain", ["create", "--no-pivot", "--no-new-keyring", "-b", "{bundle}",
                          "c1"]),
    ("stopped", "plain", ["run", "--bundle", "{bundle}", "c1"]),
]


def _bundle(base: Path, kind: str) -> Path:
    b = base / "bundle"
    b.mkdir()
    if kind != "norootfs":
        (b / "rootfs").mkdir()
    cfg = minimal_config()
    cfg["process"]["terminal"] = kind == "terminal"
    if kind != "noconfig":
        (b / "config.json").write_text(json.dumps(cfg))
    return b


#: Global flags cases run with: an engine's, and the rest of the set.
GLOBALS = [
    ["--log", "{log}", "--log-format", "json"],
    ["--log={log}", "--debug"],
    ["--debug"],
    ["--debug-log", "{dir}/"],
    ["--platform=hybrid", "--strace", "--python-only"],
]


def _scene(root: Path, scene: str, sleepers: Callable[[], subprocess.Popen[bytes]]) -> int:
    """The container of *scene* in *root*; its process's pid (0: none)."""
    root.mkdir(parents=True)
    if scene == "stopped":
        pid, start = _dead_pid()
        record_container(root, "c1", pid, start)
        return pid
    if scene in ("running", "created"):
        p = sleepers()
        record_container(root, "c1", p.pid, process.start_time(p.pid), status=scene)
        return p.pid
    return 0


_TIME = re.compile(r'time="[^"]*"|"time": "[^"]*"|\d{8}-\d{6}\.\d{6}')


def _outcome(base: Path, pid: int, proc: subprocess.CompletedProcess[str],
             ) -> dict[str, object]:
    def clean(text: str) -> str:
        text = _TIME.sub("<time>", text.replace(str(base), "<base>"))
        return re.sub(rf"\b{pid}\b", "<pid>", text) if pid else text

    logs = {}
    for f in sorted(base.rglob("*")):
        if f.is_file() and f.parent.name in ("logs", "debug"):
            logs[f.parent.name] = sorted(clean(f.read_text()).splitlines())
    return {
        "status": proc.returncode,
        "stdout": clean(proc.stdout),
        "stderr": clean(proc.stderr),
        "logs": logs,
        "left": sorted(p.name for p in (base / "root").iterdir()),
    }


def _twins(tmp_path: Path, scene: str, kind: str | None, args: list[str], glob: list[str],
           sleepers: Callable[[], subprocess.Popen[bytes]]) -> dict[str, dict[str, object]]:
    """*args* (``{bundle}`` and ``{base}`` filled in) run by both paths, each on its own
    copy of *scene* (and of a bundle of *kind*): their outcomes."""
    got = {}
    for name, argv in (("quick", QUICK), ("click", CLICK)):
        base = tmp_path / name
        pid = _scene(base / "root", scene, sleepers)
        (base / "logs").mkdir()
        bundle = _bundle(base, kind) if kind is not None else None
        flags = [g.format(log=base / "logs" / "log", dir=base / "debug") for g in glob]
        verb = [a.format(bundle=bundle, base=base) for a in args]
        assert quick.parse([*flags, *verb]) is not None
        proc = _run(argv, ["--root", str(base / "root"), *flags, *verb])
        got[name] = _outcome(base, pid, proc)
    return got


@pytest.mark.parametrize("glob", GLOBALS, ids=lambda g: " ".join(g).replace("{", ""))
@pytest.mark.parametrize("scene,args", CASES, ids=lambda c: str(c))
def test_quick_path_is_the_clis(tmp_path: Path, scene: str, args: list[str], glob: list[str],
                                sleepers: Callable[[], subprocess.Popen[bytes]]) -> None:
    got = _twins(tmp_path, scene, None, args, glob, sleepers)
    assert got["quick"] == got["click"]


@pytest.mark.parametrize("glob", GLOBALS[:2], ids=lambda g: " ".join(g).replace("{", ""))
@pytest.mark.parametrize("scene,kind,args", BUNDLE_CASES, ids=lambda c: str(c))
def test_quick_create_and_run_are_the_clis(
        tmp_path: Path, scene: str, kind: str, args: list[str], glob: list[str],
        sleepers: Callable[[], subprocess.Popen[bytes]]) -> None:
    got = _twins(tmp_path, scene, kind, args, glob, sleepers)
    assert got["quick"]["status"] != 0  # refused before any sandbox started
    assert got["quick"] == got["click"]


@pytest.mark.parametrize("glob", [[], GLOBALS[0]], ids=["no flags", "engine flags"])
@pytest.mark.parametrize("args,status", [
    (["do", "--", "/bin/sh", "-c", "echo out; echo err >&2; pwd; id -u; exit 3"], 3),
    (["do", "/bin/true"], 0),
    (["do", "sh", "-c", "exit 7"], 7),
    (["do", "--", "/nonexistent"], 1),
], ids=lambda a: " ".join(a) if isinstance(a, list) else str(a))
def test_quick_do_is_the_clis(tmp_path: Path, args: list[str], status: int, glob: list[str],
                              sleepers: Callable[[], subprocess.Popen[bytes]]) -> None:
    """do without flags of its own, with a real sandbox each way."""
    got = _twins(tmp_path, "none", None, args, glob, sleepers)
    assert got["quick"] == got["click"]
    assert got["quick"]["status"] == status


@pytest.mark.parametrize("flags", [["--log", "{base}/no/such/dir/log"],
                                   ["--debug-log", "/proc/no/such/dir/"],
                                   ["--log", "{base}/logdir", "--log-format", "json"]],
                         ids=["log in no directory", "debug log in /proc", "log is a directory"])
def test_quick_log_errors_are_the_clis(tmp_path: Path, flags: list[str]) -> None:
    """A log file that cannot be opened: the same message and status both ways, and
    nothing made."""
    got = {}
    for name, argv in (("quick", QUICK), ("click", CLICK)):
        base = tmp_path / name
        (base / "logdir").mkdir(parents=True)
        args = ["--root", str(base / "root"), *(f.format(base=base) for f in flags),
                "delete", "--force", "c1"]
        assert quick.parse(args) is not None
        proc = _run(argv, args)
        got[name] = (proc.returncode, proc.stdout,
                     proc.stderr.replace(str(base), "<base>"),
                     sorted(p.name for p in base.iterdir()))
    assert got["quick"] == got["click"]
    assert got["quick"][0] == 1 and got["quick"][2].startswith("runsc-py: cannot ")
    assert got["quick"][3] == ["logdir"]


def test_state_output(tmp_path: Path, sleepers: Callable[[], subprocess.Popen[bytes]]) -> None:
    """What the twins compare is real: the state a running container shows."""
    p = sleepers()
    record_container(tmp_path, "c1", p.pid, process.start_time(p.pid))
    proc = _run(QUICK, ["--root", str(tmp_path), "state", "c1"])
    assert proc.returncode == 0 and proc.stderr == ""
    shown = json.loads(proc.stdout)
    assert (shown["id"], shown["pid"], shown["status"]) == ("c1", p.pid, "running")
    assert proc.stdout == json.dumps(shown, indent=2) + "\n"


@pytest.mark.parametrize("args", [
    ["state"], ["state", "a", "b"], ["kill", "a", "9", "x"], ["delete"],
    ["--help"], ["state", "--help"], ["state", "-h", "c1"], ["--version"],
    ["kill", "c1", "-9"], ["delete", "-x", "c1"], ["delete", "-af", "c1"],
    ["state", "--", "c1"], ["--root", "", "state", "c1"], ["--root"],
    ["--log-format", "yaml", "state", "c1"], ["--debug=1", "state", "c1"],
    ["--platform=", "state", "c1"], ["--nope", "state", "c1"], ["list"], ["exec", "c1"],
    ["stat", "c1"], [], ["create", "--preserve-fds", "3", "c1"], ["create", "-bdir", "c1"],
    ["create", "--bundle", "c1"], ["create", "--bundle", "-x", "c1"], ["run", "--keep=1", "c1"],
    ["run", "-b", "b", "--pid-file"], ["create", "--console-socket=/s"],
    ["do"], ["do", "--"], ["do", "--cwd", "/", "true"], ["do", "-h"],
])
def test_other_forms_are_the_clis(args: list[str], tmp_path: Path) -> None:
    """Left to the CLI (its messages and exit codes, not the quick path's guesses)."""
    assert quick.parse(args) is None
    root = ["--root", str(tmp_path)]
    a, b = _run(QUICK, [*root, *args]), _run(CLICK, [*root, *args])
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


#: What the per-container commands leave out: the CLI framework, and the standard
#: library's pure-Python layers over C modules they use directly (runsc_py.jsonc, _signal,
#: _socket), each of which pulled in enum, functools, collections or re (~5 ms together).
_NOT_IMPORTED = {"click", "logging", "runsc_py.cli", "typing", "json", "re", "enum",
                 "functools", "collections", "contextlib", "signal", "socket", "selectors",
                 "importlib", "datetime"}


def _imported(proc: subprocess.CompletedProcess[str]) -> set[str]:
    """The modules a ``-X importtime`` run's stderr says were imported."""
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["state", "nope"], ["delete", "nope"], ["kill", "nope", "9"],
                                  ["start", "nope"]])
def test_quick_path_imports_no_cli_framework(tmp_path: Path, args: list[str]) -> None:
    # As the console script starts it (-m would import runpy, and contextlib with it).
    proc = _run([sys.executable, "-X", "importtime", "-c",
                 "from runsc_py.launch import entry; entry()"],
                ["--root", str(tmp_path), *args])
    assert proc.returncode == 1
    imported = _imported(proc)
    assert "runsc_py.quick" in imported and "runsc_py.container.lifecycle" in imported
    assert not imported & _NOT_IMPORTED


def test_control_client_imports_none_of_them() -> None:
    """What start and kill of a live container add: the control client."""
    code = ("import sys; import runsc_py.container.control, runsc_py.signals; "
            "print(sorted(set(sys.modules) & set(sys.argv[1:])))")
    proc = subprocess.run([sys.executable, "-c", code, *_NOT_IMPORTED], capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_sandbox_verbs_import_no_socket_py(tmp_path: Path) -> None:
    """What a sandbox's processes import (the CLI of do, run and create for the
    container's namespaces and the hostname, the sentry, the gofer): _socket, not
    socket.py with enum and selectors (each process's imports go to the one stderr)."""
    proc = _run([sys.executable, "-X", "importtime", "-c",
                 "from runsc_py.launch import entry; entry()"],
                ["--root", str(tmp_path), "do", "--", "/bin/true"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = _imported(proc)
    assert "runsc_py.verbs" in imported and "runsc_py.container.hostns" in imported
    assert not imported & {"socket", "selectors", "enum"}
