"""Run the runsc-py CLI and the native references, every call with a timeout.

Every process is started in its own session; on timeout the whole process group is killed
(SIGKILL) and :class:`CommandTimeout` is raised with what was captured so far.

How runsc-py is found: ``$RUNSC_PY`` (a command line, split on spaces) if set; else a
``runsc-py`` console script next to ``sys.executable``; else the repository's own
(``.venv/bin/runsc-py``, which ``scripts/setup.sh`` installs: the benchmarks run with the
system's ``python3``); else one on ``$PATH`` that is not a pyenv shim; else ``sys.executable``
running the ``runsc_py`` package from the repository through
``runpy`` (the equivalent of ``python3 -m runsc_py``, but without PYTHONPATH or a changed cwd, so
that do mode's "caller's env and cwd" stays exactly what the test passed).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[2]

#: Default timeout of one command, seconds. Sandboxed runs are slower than native ones.
TIMEOUT = float(os.environ.get("RUNSC_TEST_TIMEOUT", "60"))

#: The environment both halves of a differential test get unless a test passes its own.
BASE_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
}

UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"


class Result(NamedTuple):
    """What a command did: exit status (128+N when killed by signal N), stdout, stderr."""

    rc: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"rc={self.rc}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


class CommandTimeout(AssertionError):
    """A command outlived its timeout (its process group was killed)."""


def _status(rc: int) -> int:
    # subprocess reports death by signal N as -N; shells and runsc-py report 128+N.
    return 128 - rc if rc < 0 else rc


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(
    argv: Sequence[str],
    *,
    timeout: float | None = None,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    text: bool = True,
) -> Result:
    """Run *argv* in a new session; return :class:`Result`.

    :raises CommandTimeout: after killing the process group, if *timeout* expired.
    """
    timeout = TIMEOUT if timeout is None else timeout
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(BASE_ENV if env is None else env),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # A process outside the group holds the pipes (a sandbox process is in a
            # session of its own): stop reading rather than wait for it.
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    f.close()
            proc.wait()
            out, err = b"", b"(output not collected: the pipes are held by another process)"
        raise CommandTimeout(
            f"timeout after {timeout}s: {list(argv)!r}\n--- stdout ---\n"
            f"{out.decode(errors='replace')}\n--- stderr ---\n{err.decode(errors='replace')}"
        ) from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
    # Leftovers that outlive the command are not killed here: the ``runsc_root`` fixture
    # finds them (they are descendants of the test process, a subreaper) and fails the test.
    if text:
        return Result(
            _status(proc.returncode),
            out.decode(errors="replace"),
            err.decode(errors="replace"),
        )
    return Result(_status(proc.returncode), out, err)  # type: ignore[arg-type]


def runsc_argv() -> list[str]:
    """The command line that starts runsc-py (see the module docstring)."""
    override = os.environ.get("RUNSC_PY")
    if override:
        return override.split()
    for beside in (Path(sys.executable).parent / "runsc-py", REPO / ".venv" / "bin" / "runsc-py"):
        if beside.is_file() and os.access(beside, os.X_OK):
            return [str(beside)]
    found = shutil.which("runsc-py")
    if found and "/shims/" not in found:
        return [found]
    boot = (
        f"import sys, runpy; sys.path.insert(0, {str(REPO)!r}); "
        "runpy.run_module('runsc_py', run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", boot]


def runsc_global_flags(
    *,
    root: str | os.PathLike[str] | None = None,
    python_only: bool = False,
    debug_log: str | None = None,
) -> list[str]:
    flags: list[str] = []
    if root is not None:
        flags += ["--root", str(root)]
    if debug_log is not None:
        flags += ["--debug-log", debug_log]
    if python_only:
        flags.append("--python-only")
    return flags


def runsc(
    args: Sequence[str],
    *,
    root: str | os.PathLike[str] | None = None,
    python_only: bool = False,
    debug_log: str | None = None,
    timeout: float | None = None,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Result:
    """Run ``runsc-py [global flags] ARGS``."""
    argv = runsc_argv() + runsc_global_flags(root=root, python_only=python_only, debug_log=debug_log)
    return run(argv + list(args), timeout=timeout, input=input, env=env, cwd=cwd)


def run_native(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    input: str | bytes | None = None,
    timeout: float | None = None,
    pidns: bool = True,
) -> Result:
    """The native reference of do mode.

    With *pidns* (default) the command runs as pid 1 of a fresh pid namespace with its own
    /proc (``unshare --pid --fork --mount-proc``), as it is pid 1 in the sandbox; the command
    itself is exec'd by unshare, so nothing else differs. Note Linux's pid-1 rule: a signal with
    the default action sent from inside the namespace to pid 1 is ignored (``kill -9 $$`` in the
    first shell does nothing), natively and in a faithful sandbox alike.
    """
    argv = list(cmd)
    if pidns:
        argv = [UNSHARE, "--pid", "--fork", "--mount-proc", "--", *argv]
    return run(argv, env=env, cwd=cwd, input=input, timeout=timeout)


def run_sandbox(
    cmd: Sequence[str],
    *,
    root: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    input: str | bytes | None = None,
    timeout: float | None = None,
    python_only: bool = False,
    strace: bool = False,
) -> Result:
    """``runsc-py --root ROOT do -- CMD`` with the caller's env/cwd/stdin being *env*/*cwd*/*input*."""
    args = (["--strace"] if strace else []) + ["do", "--", *cmd]
    return runsc(
        args,
        root=root,
        python_only=python_only,
        env=env,
        cwd=cwd,
        input=input,
        timeout=timeout,
    )


def run_bundle(
    bundle: str | os.PathLike[str],
    args: Sequence[str] | None = None,
    *,
    root: str | os.PathLike[str],
    container_id: str = "t1",
    timeout: float | None = None,
    python_only: bool = False,
    input: str | bytes | None = None,
) -> Result:
    """``runsc-py --root ROOT run --bundle BUNDLE ID``, foreground.

    With *args*, ``process.args`` of the bundle's config.json is replaced first.
    """
    if args is not None:
        from .bundle import edit_config

        edit_config(bundle, args=list(args))
    try:
        return runsc(
            ["run", "--bundle", str(bundle), container_id],
            root=root,
            python_only=python_only,
            timeout=timeout,
            input=input,
            env=BASE_ENV,
        )
    finally:
        # run deletes the container it ran (as runc run does); one a timeout cut short
        # may still be there.
        runsc(["delete", "--force", container_id], root=root, env=BASE_ENV)


def compat_calls(argv: Sequence[str], root: str | os.PathLike[str], cwd: Path | None = None,
                 ) -> dict[str, dict]:
    """The compat report's rows by syscall name for *argv* run natively and in the
    sandbox (``runsc-py compat --json``), which must exit 0 with the same verdict."""
    import json

    res = runsc(["compat", "--json", "--", *argv], root=root, env=dict(BASE_ENV), cwd=cwd,
                timeout=120)
    assert res.rc == 0, res.describe()
    report = json.loads(res.stdout)
    assert report["verdict"] == "same", report["reasons"]
    return {s["name"]: s for s in report["syscalls"]}
