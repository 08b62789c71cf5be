"""``compat suite``: score a runtime on a conformance suite, natively and sandboxed, per case.

A suite is a directory of test binaries (every executable regular file in it, not recursing)
or a list file (one command a line, shell words, ``#`` comments). Each command is a *source*;
how it splits into *cases* depends on what it is:

- **gtest**: the executable file contains the string ``gtest_list_tests`` and answers
  ``--gtest_list_tests`` (run natively) with a test list; each listed test (``DISABLED_``
  ones excluded) is one case, run alone with ``--gtest_filter=Suite.Name``. Exit 0 passes,
  unless gtest reports the test skipped.
- **TAP**: the native run prints a plan line (``1..N``); each top-level ``ok``/``not ok``
  line is one case, keyed by its number; ``# SKIP`` and ``# TODO`` are skips; a planned test
  with no line (the program died or bailed out) fails.
- **plain**: one case; exit status 0 passes, 77 (automake's convention) is a skip.

CPython's regression tests are plain commands in a list file, one module a line:
``/usr/bin/python3.11 -m test test_os`` (``benchmarks/compat_scores.py`` writes such a file).

Every unit (a source, or one gtest case) runs twice, each in a fresh temporary working
directory that is also ``$TMPDIR``, stdin ``/dev/null``:

- natively, as pid 1 of a fresh pid namespace with its own ``/proc``, IPC and UTS namespaces
  (``unshare --pid --fork --kill-child --mount-proc --ipc --uts``; without root, directly);
- sandboxed, behind the sandbox prefix: by default ``runsc-py --root R --debug-log L do --``
  run by this interpreter from this module's checkout (R and L private to the run; the log's
  "unsupported ..." warnings become the reason of a failure), or ``--runtime-prefix CMD`` to
  score another runtime.

Process hygiene: each run is its own session, started through ``setpriv --pdeathsig KILL``
so that it dies with the runner; on a timeout its process group and every descendant are
SIGKILLed (a sandbox dies with its supervisor, a native run with its namespace's init). The
runner is a child subreaper while it runs: whatever a run leaves behind is reparented to it,
killed and reaped.

Resuming: each finished run is appended to ``--state`` (JSON lines) at once; a rerun with the
same state file skips the runs it holds (a sandboxed run only if it was taken with the same
prefix).

Exit status: 0 when every case that passes natively passes sandboxed; 1 when some does not
(the work list); 2 for a usage error; 3 when the suite could not be run (no cases, a command
or the prefix not found, the state file unusable).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

EXIT_OK = 0
EXIT_REGRESSIONS = 1
EXIT_COULD_NOT_RUN = 3

#: Plain exit status meaning "skipped" (automake, meson).
SKIP_STATUS = 77

PASS, FAIL, SKIP, TIMEOUT, ERROR, MISSING = "pass", "fail", "skip", "timeout", "error", "missing"

NATIVE = "native"
SANDBOX = "sandbox"
DEFAULT_RUNTIME = "runsc-py"

_STATE_VERSION = 1
_TAIL = 400  # characters of output kept as a failure's reason
_GTEST_MARK = b"gtest_list_tests"
_PR_SET_CHILD_SUBREAPER = 36


class CouldNotRun(Exception):
    """The suite cannot be run at all (exit status :data:`EXIT_COULD_NOT_RUN`)."""


# ---------------------------------------------------------------------------------------------
# Sources, units and cases


@dataclass(frozen=True)
class Source:
    """One command of the suite. *name* identifies it in the state and the report."""

    name: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Unit:
    """One command line to run in both modes: a whole source, or one gtest case of it."""

    source: Source
    kind: str  # "gtest" or "whole" (plain or TAP, decided by the native output)
    case: str | None = None

    @property
    def key(self) -> str:
        return self.source.name if self.case is None else f"{self.source.name}::{self.case}"

    @property
    def argv(self) -> list[str]:
        if self.case is None:
            return list(self.source.argv)
        return [*self.source.argv, f"--gtest_filter={self.case}"]


def sources_from_dir(d: Path) -> list[Source]:
    """Every executable regular file directly in *d*, by name."""
    if not d.is_dir():
        raise CouldNotRun(f"{d}: not a directory")
    out = []
    for p in sorted(d.iterdir()):
        if p.is_file() and os.access(p, os.X_OK):
            out.append(Source(p.name, (str(p.resolve()),)))
    return out


def sources_from_list(path: Path) -> list[Source]:
    """One source per non-empty, non-comment line of *path* (shell words)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise CouldNotRun(f"{path}: {e.strerror}") from None
    out = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            raise CouldNotRun(f"{path}:{n}: {e}") from None
        if not words:
            continue
        name = shlex.join(words)
        if name not in seen:
            seen.add(name)
            out.append(Source(name, tuple(words)))
    return out


def _executable(argv0: str, env: dict[str, str]) -> str | None:
    if "/" in argv0:
        return argv0 if os.access(argv0, os.X_OK) else None
    return shutil.which(argv0, path=env.get("PATH"))


def _mentions_gtest(exe: str) -> bool:
    try:
        with open(exe, "rb") as f:
            prev = b""
            while chunk := f.read(1 << 20):
                if _GTEST_MARK in prev[-len(_GTEST_MARK) :] + chunk:
                    return True
                prev = chunk
    except OSError:
        return False
    return False


def parse_gtest_list(text: str) -> list[str]:
    """``Suite.Name`` of each test in ``--gtest_list_tests`` output, DISABLED_ ones left out."""
    cases: list[str] = []
    suite: str | None = None
    for line in text.splitlines():
        body = line.split("#", 1)[0].rstrip()
        if not body:
            continue
        if not line[0].isspace():
            suite = body.strip() if body.strip().endswith(".") else None
            continue
        name = body.strip()
        if suite is None or " " in name:
            continue
        if name.startswith("DISABLED_") or suite.startswith("DISABLED_"):
            continue
        cases.append(suite + name)
    return cases


# ---------------------------------------------------------------------------------------------
# TAP


_TAP_PLAN = re.compile(r"^1\.\.(\d+)\b")
_TAP_LINE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$")


def parse_tap(text: str) -> dict[str, Any] | None:
    """The top-level TAP results of *text*: ``{"plan": N, "cases": {num: [status, desc]}}``,
    or None when there is no plan line (then the output is not TAP).
    """
    plan: int | None = None
    cases: dict[str, list[str]] = {}
    n = 0
    for line in text.splitlines():
        if line.startswith("Bail out!"):
            break
        m = _TAP_PLAN.match(line)
        if m:
            plan = int(m.group(1))
            continue
        m = _TAP_LINE.match(line)
        if not m:
            continue
        n = int(m.group(2)) if m.group(2) else n + 1
        directive = (m.group(4) or "").upper()
        if directive.startswith("SKIP") or directive.startswith("TODO"):
            status = SKIP
        else:
            status = PASS if m.group(1) == "ok" else FAIL
        cases[str(n)] = [status, m.group(3)]
    if plan is None:
        return None
    return {"plan": plan, "cases": cases}


# ---------------------------------------------------------------------------------------------
# Running one command


class ProcessKeeper:
    """The runs in flight, and the leftovers of finished ones.

    The runner is a child subreaper (when the kernel allows), so an orphan of a run becomes
    its child; :meth:`sweep` kills and reaps every child that is neither a run in flight nor
    one the process had before (the runner may be embedded in a process with children of its
    own). Starting a run and sweeping hold one lock, so a just-forked run is never taken for
    an orphan.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[int] = set()
        self._before = _children()
        self.stopping = False

    @staticmethod
    def become_subreaper() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # best effort: only hygiene

    def start(self, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self.stopping:
                raise KeyboardInterrupt
            proc = subprocess.Popen(argv, start_new_session=True, **kw)
            self._live.add(proc.pid)
            return proc

    def finish(self, proc: subprocess.Popen[bytes]) -> None:
        """Reap a run (killed by now) and forget it."""
        with self._lock:
            proc.wait()
            self._live.discard(proc.pid)

    def kill_tree(self, pid: int) -> None:
        """SIGKILL *pid*'s process group and every descendant of *pid*; wait for them to go."""
        tree = _descendants(pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for p in (pid, *tree):
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _wait_gone(tree, 10.0)

    def kill_all(self) -> None:
        """Kill every run in flight and refuse new ones (an interrupt)."""
        with self._lock:
            self.stopping = True
            for pid in self._live:
                self.kill_tree(pid)

    def sweep(self) -> None:
        """Kill and reap this process's children that are not runs in flight."""
        with self._lock:
            strays = _children() - self._live - self._before
            for pid in strays:
                for p in (*_descendants(pid), pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            for pid in strays:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (ppid, state) of every process on the host."""
    out: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2 :].split()
        out[int(entry)] = (int(rest[1]), rest[0])
    return out


def _children() -> set[int]:
    me = os.getpid()
    return {p for p, (pp, _s) in _processes().items() if pp == me}


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state) in _processes().items():
        children.setdefault(ppid, []).append(pid)
    out: set[int] = set()
    todo = [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait until *pid* (a child) exits, without reaping it; False at the timeout."""
    fd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(fd)


def _wait_gone(pids: Iterable[int], timeout: float) -> None:
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        procs = _processes()
        pending = {p for p in pending if p in procs and procs[p][1] not in ("Z", "X")}
        if pending:
            time.sleep(0.05)


@dataclass
class Runtime:
    """How the two modes start a command."""

    native_prefix: list[str]
    sandbox_prefix: list[str] | None  # None: the default runsc-py prefix, built per run
    sandbox_id: str  # recorded in the state; a sandboxed result is reused only for the same id
    env: dict[str, str]
    timeout: float


@dataclass
class RunOutcome:
    status: str
    rc: int | None
    seconds: float
    stdout: str
    reason: str
    unsupported: list[str] = field(default_factory=list)


def _reason(rc: int | None, stderr: str, stdout: str) -> str:
    for text in (stderr, stdout):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if lines:
            return lines[-1][-_TAIL:]
    return "" if rc is None else f"exit status {rc}"


def _unsupported(log: Path) -> list[str]:
    """What the sentry refused, from its "unsupported ..." warnings in a debug log: e.g.
    "syscall 29 (shmget)", "fcntl F_NOTIFY"."""
    found: list[str] = []
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return found
    for m in re.finditer(r"WARNING unsupported (.+?) by ", text):
        item = m.group(1)
        if item not in found:
            found.append(item)
    return found


def _this_runsc() -> list[str]:
    """This interpreter running the runsc-py this module belongs to (not whichever one
    ``python -m runsc_py`` would find: a checkout being scored scores its own sandbox)."""
    top = str(Path(__file__).resolve().parents[2])
    boot = (f"import sys, runpy; sys.path.insert(0, {top!r}); "
            "runpy.run_module('runsc_py', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", boot]


def run_command(keeper: ProcessKeeper, rt: Runtime, mode: str, argv: list[str]) -> RunOutcome:
    """Run *argv* natively or sandboxed in a fresh work directory; kill it at the timeout."""
    scratch = Path(tempfile.mkdtemp(prefix="cs", dir="/tmp"))
    try:
        work = scratch / "w"
        work.mkdir()
        log = scratch / "log"
        if mode == NATIVE:
            prefix = rt.native_prefix
        elif rt.sandbox_prefix is not None:
            prefix = rt.sandbox_prefix
        else:
            prefix = [*_this_runsc(), "--root", str(scratch / "r"), "--debug-log", str(log),
                      "do", "--"]
        full = ["setpriv", "--pdeathsig", "KILL", "--", *prefix, *argv]
        env = dict(rt.env, TMPDIR=str(work))
        t0 = time.monotonic()
        with open(scratch / "out", "wb+") as out, open(scratch / "err", "wb+") as err:
            try:
                proc = keeper.start(full, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    cwd=work, env=env)
            except OSError as e:
                return RunOutcome(ERROR, None, 0.0, "", f"cannot start: {e}")
            try:
                timed_out = not _wait_exit(proc.pid, rt.timeout)
            finally:
                # The group and the descendants go in any case: leftovers of a run that
                # exited (it is not reaped yet, so its pid still names it), or the whole
                # run on a timeout or an interrupt.
                keeper.kill_tree(proc.pid)
                keeper.finish(proc)
            seconds = time.monotonic() - t0
            out.seek(0)
            stdout = out.read().decode(errors="replace")
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        rc = proc.returncode
        rc = 128 - rc if rc < 0 else rc
        unsupported = _unsupported(log) if mode == SANDBOX else []
        if timed_out:
            status, reason = TIMEOUT, f"timeout after {rt.timeout:g}s"
        elif rc == 0:
            status, reason = PASS, ""
        elif rc == SKIP_STATUS:
            status, reason = SKIP, _reason(rc, stderr, stdout)
        else:
            status, reason = FAIL, f"exit {rc}: {_reason(rc, stderr, stdout)}"
        if unsupported:
            reason = f"unsupported: {', '.join(unsupported)}; {reason}"
        return RunOutcome(status, None if timed_out else rc, seconds, stdout, reason, unsupported)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


_GTEST_SKIPPED = re.compile(r"^\[  SKIPPED \] 1 test", re.M)


def record_for(unit: Unit, mode: str, rt: Runtime, o: RunOutcome) -> dict[str, Any]:
    """The state line of one finished run."""
    rec: dict[str, Any] = {
        "v": _STATE_VERSION,
        "unit": unit.key,
        "source": unit.source.name,
        "mode": mode,
        "runtime": NATIVE if mode == NATIVE else rt.sandbox_id,
        "status": o.status,
        "rc": o.rc,
        "seconds": round(o.seconds, 3),
        "reason": o.reason,
        "stdout_sha256": hashlib.sha256(o.stdout.encode()).hexdigest(),
    }
    if o.unsupported:
        rec["unsupported"] = o.unsupported
    if unit.kind == "gtest":
        if o.status == PASS and _GTEST_SKIPPED.search(o.stdout):
            rec["status"] = SKIP
    else:
        tap = parse_tap(o.stdout)
        if tap is not None:
            rec["tap"] = tap
    return rec


# ---------------------------------------------------------------------------------------------
# The state file


class State:
    """Finished runs, loaded from and appended to a JSON-lines file (or kept in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is None:
            return
        try:
            if path.exists():
                for line in path.read_text().splitlines():
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a crash: that run is redone
                    if isinstance(rec, dict) and rec.get("v") == _STATE_VERSION:
                        self.records[(rec["unit"], rec["mode"], rec["runtime"])] = rec
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            # A crash may have left a partial last line: start on a fresh one.
            if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
                os.write(self._fd, b"\n")
        except OSError as e:
            raise CouldNotRun(f"state file {path}: {e.strerror}") from None

    def get(self, unit: Unit, mode: str, runtime: str) -> dict[str, Any] | None:
        return self.records.get((unit.key, mode, runtime))

    def add(self, rec: dict[str, Any]) -> None:
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        with self._lock:
            self.records[(rec["unit"], rec["mode"], rec["runtime"])] = rec
            if self._fd is not None:
                os.write(self._fd, line)  # one write on O_APPEND: whole lines only

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------------------------------------
# The run


def discover(keeper: ProcessKeeper, rt: Runtime, src: Source) -> list[Unit]:
    """The units of *src*: one per gtest case if it is a gtest binary, else the whole."""
    exe = _executable(src.argv[0], rt.env)
    if exe is None:
        raise CouldNotRun(f"{src.argv[0]}: command not found (in {src.name!r})")
    if _mentions_gtest(exe):
        probe = run_command(keeper, rt, NATIVE, [*src.argv, "--gtest_list_tests"])
        if probe.status == PASS:
            cases = parse_gtest_list(probe.stdout)
            if cases:
                return [Unit(src, "gtest", c) for c in cases]
    return [Unit(src, "whole")]


def _progress(msg: str) -> None:
    click.echo(msg, err=True)


def run_suite(
    sources: Sequence[Source],
    rt: Runtime,
    state: State,
    *,
    jobs: int,
    case_filter: re.Pattern[str] | None,
    quiet: bool = False,
) -> list[Unit]:
    """Run every unit of *sources* not already in *state* in both modes; return the units."""
    keeper = ProcessKeeper()
    keeper.become_subreaper()
    units: list[Unit] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            for src_units in pool.map(lambda s: discover(keeper, rt, s), sources):
                units += [u for u in src_units if case_filter is None or case_filter.search(u.key)]
            todo = [
                (u, mode)
                for u in units
                for mode in (NATIVE, SANDBOX)
                if state.get(u, mode, NATIVE if mode == NATIVE else rt.sandbox_id) is None
            ]
            if not quiet:
                _progress(f"compat suite: {len(units)} units, {len(todo)} runs to do "
                          f"({2 * len(units) - len(todo)} in the state)")
            futures = {
                pool.submit(run_command, keeper, rt, mode, u.argv): (u, mode) for u, mode in todo
            }
            done = 0
            for fut in concurrent.futures.as_completed(futures):
                u, mode = futures[fut]
                rec = record_for(u, mode, rt, fut.result())
                state.add(rec)
                keeper.sweep()
                done += 1
                if not quiet:
                    _progress(f"[{done}/{len(todo)}] {mode:7} {rec['status']:7} "
                              f"{rec['seconds']:7.1f}s {u.key}")
        except BaseException:
            keeper.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            keeper.sweep()
    return units


# ---------------------------------------------------------------------------------------------
# The report


@dataclass
class CaseResult:
    case: str
    source: str
    native: str
    sandbox: str
    reason: str = ""


def _tap_cases(unit: Unit, nat: dict[str, Any], box: dict[str, Any]) -> Iterator[CaseResult]:
    tap = nat["tap"]
    numbers = {str(i) for i in range(1, tap["plan"] + 1)} | set(tap["cases"])
    btap = box.get("tap") or {"cases": {}}
    for num in sorted(numbers, key=int):
        n_status, desc = tap["cases"].get(num, [MISSING, ""])
        if num in btap["cases"]:
            b_status = btap["cases"][num][0]
        else:
            b_status = TIMEOUT if box["status"] == TIMEOUT else MISSING
        name = f"{unit.key}::{num}" + (f" {desc}" if desc else "")
        reason = "" if b_status == PASS else box["reason"] or f"TAP: {b_status}"
        yield CaseResult(name, unit.source.name, n_status, b_status, reason)


def collect(
    units: Sequence[Unit], rt: Runtime, state: State, *, compare_stdout: bool
) -> list[CaseResult]:
    """Per-case results of *units* from *state* (the native run decides plain vs TAP)."""
    out: list[CaseResult] = []
    for u in units:
        nat = state.get(u, NATIVE, NATIVE)
        box = state.get(u, SANDBOX, rt.sandbox_id)
        if nat is None or box is None:
            continue  # interrupted before both halves ran: not a result yet
        if u.kind == "whole" and "tap" in nat:
            out += _tap_cases(u, nat, box)
            continue
        b_status, reason = box["status"], box["reason"]
        if compare_stdout and b_status == PASS and box["stdout_sha256"] != nat["stdout_sha256"]:
            b_status, reason = FAIL, "stdout differs from the native run's"
        out.append(CaseResult(u.key, u.source.name, nat["status"], b_status, reason))
    return out


def summarize(cases: Sequence[CaseResult], sources: Sequence[Source]) -> dict[str, Any]:
    def counts(cs: Sequence[CaseResult]) -> dict[str, Any]:
        n = len(cs)
        np_ = sum(c.native == PASS for c in cs)
        sp = sum(c.sandbox == PASS for c in cs)
        both = sum(c.native == PASS and c.sandbox == PASS for c in cs)
        return {
            "cases": n,
            "native_pass": np_,
            "sandbox_pass": sp,
            "native_skip": sum(c.native == SKIP for c in cs),
            "native_pass_sandbox_pass": both,
            "native_pass_sandbox_not": np_ - both,
            "sandbox_only_pass": sum(c.native != PASS and c.sandbox == PASS for c in cs),
            "native_rate": np_ / n if n else None,
            "sandbox_rate": sp / n if n else None,
            "sandbox_rate_of_native_pass": both / np_ if np_ else None,
        }

    by_source: dict[str, list[CaseResult]] = {}
    for c in cases:
        by_source.setdefault(c.source, []).append(c)
    return {
        "total": counts(cases),
        "sources": [
            {"source": s.name, **counts(by_source.get(s.name, []))} for s in sources
        ],
        "work_list": [
            {"case": c.case, "sandbox": c.sandbox, "reason": c.reason}
            for c in cases
            if c.native == PASS and c.sandbox != PASS
        ],
    }


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def render_text(summary: dict[str, Any], sandbox_id: str) -> str:
    lines = [
        f"{'source':48} {'cases':>6} {'native':>7} {'':6} {'sandbox':>7} {'':6} "
        f"{'of native':>9}  ({sandbox_id})"
    ]

    def row(name: str, c: dict[str, Any]) -> str:
        shown = name if len(name) <= 48 else "…" + name[-47:]
        return (
            f"{shown:48} {c['cases']:6d} {c['native_pass']:7d} {_pct(c['native_rate'])} "
            f"{c['sandbox_pass']:7d} {_pct(c['sandbox_rate'])} "
            f"{_pct(c['sandbox_rate_of_native_pass']):>9}"
        )

    for s in summary["sources"]:
        lines.append(row(s["source"], s))
    lines.append(row("TOTAL", summary["total"]))
    t = summary["total"]
    lines.append(
        f"{t['native_pass_sandbox_not']} of {t['native_pass']} natively passing cases do not pass "
        f"sandboxed; {t['native_skip']} skipped natively; {t['sandbox_only_pass']} pass only "
        "sandboxed"
    )
    if summary["work_list"]:
        lines.append("")
        lines.append("work list (passes natively, not sandboxed):")
        for w in summary["work_list"]:
            lines.append(f"  {w['case']}: {w['sandbox']}" + (f" — {w['reason']}" if w["reason"] else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The command


def _native_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare:
        return [unshare, "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts", "--"]
    return []


@click.command("suite", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--list", "list_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Run the commands listed in FILE (one a line, shell words, # comments).")
@click.option("--runtime-prefix", default=None, metavar="CMD",
              help="Prefix that runs a command sandboxed (shell words), e.g. 'proot'. "
              "Default: this runsc-py's 'do --'.")
@click.option("--jobs", "-j", type=click.IntRange(1), default=None,
              help="Runs in parallel (default: the number of CPUs).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0,
              show_default=True, help="Seconds one run (native or sandboxed) may take.")
@click.option("--state", "state_path", type=click.Path(path_type=Path), default=None,
              metavar="FILE", help="JSON-lines results file: appended as runs finish; a rerun "
              "skips what it holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--filter", "case_filter", default=None, metavar="REGEX",
              help="Only units whose id matches (source name, or source::Suite.Case for gtest).")
@click.option("--compare-stdout", is_flag=True,
              help="A sandboxed plain or gtest case passes only if its stdout is the native one's.")
def suite(
    directory: Path | None,
    list_file: Path | None,
    runtime_prefix: str | None,
    jobs: int | None,
    timeout: float,
    state_path: Path | None,
    as_json: bool,
    case_filter: str | None,
    compare_stdout: bool,
) -> None:
    """Run a conformance suite natively and sandboxed; print pass rates and the work list.

    DIRECTORY holds test binaries (every executable file in it); or --list FILE names the
    commands. gtest binaries run one case at a time, TAP output counts per test, anything
    else by exit status (0 pass, 77 skip). Exit status: 0 when every natively passing case
    passes sandboxed, 1 otherwise, 3 when the suite could not be run.
    """
    ctx = click.get_current_context()
    if (directory is None) == (list_file is None):
        raise click.UsageError("give a DIRECTORY or --list FILE (one of them)")
    try:
        pattern = re.compile(case_filter) if case_filter else None
    except re.error as e:
        raise click.BadParameter(str(e), param_hint="--filter") from None
    env = dict(os.environ)
    try:
        if runtime_prefix is not None:
            prefix: list[str] | None = shlex.split(runtime_prefix)
            if not prefix or _executable(prefix[0], env) is None:
                raise CouldNotRun(f"runtime prefix {runtime_prefix!r}: command not found")
            sandbox_id = shlex.join(prefix)
        else:
            prefix, sandbox_id = None, DEFAULT_RUNTIME
        if shutil.which("setpriv") is None:
            raise CouldNotRun("setpriv (util-linux) not found")
        sources = sources_from_dir(directory) if directory else sources_from_list(list_file)  # type: ignore[arg-type]
        if not sources:
            raise CouldNotRun("no commands in the suite")
        rt = Runtime(_native_prefix(), prefix, sandbox_id, env, timeout)
        state = State(state_path)
        try:
            units = run_suite(sources, rt, state, jobs=jobs or os.cpu_count() or 1,
                              case_filter=pattern, quiet=False)
            if not units:
                raise CouldNotRun("no case matches")
            summary = summarize(collect(units, rt, state, compare_stdout=compare_stdout), sources)
        finally:
            state.close()
    except CouldNotRun as e:
        click.echo(f"runsc-py: compat suite: {e}", err=True)
        ctx.exit(EXIT_COULD_NOT_RUN)
    summary["runtime"] = sandbox_id
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    else:
        click.echo(render_text(summary, sandbox_id))
    ctx.exit(EXIT_REGRESSIONS if summary["work_list"] else EXIT_OK)
