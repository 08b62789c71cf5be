"""``compat CMD``: run one command natively and in the sandbox and report what differs.

Both runs get stdin ``/dev/null``, stdout and stderr captured, the same environment and
working directory:

- natively as pid 1 of a fresh pid and mount namespace with its own ``/proc`` (``unshare
  --pid --fork --kill-child --mount-proc``), in a network namespace of its own with
  loopback up for ``--network none`` (the sandbox's default), with ``--hostname`` in a UTS
  namespace of its own, and ``--uid``/``--gid`` taken with ``setuid``/``setgid``;
- sandboxed by ``runsc-py do`` (the same global flags and ``do`` flags) with the hidden
  ``--compat-report FILE``: the sentry writes the per-syscall counts and the variants it
  refused (:mod:`sentry.kernel.compat`) there when the workload exits.

The report (:func:`build`) is plain data: the JSON output is exactly it, and the text and
HTML renderings (:func:`render_text`, :mod:`runsc_py.compat.html`) read only it.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The ``--json`` document's version; bump it when a field changes meaning.
SCHEMA = 1

EXIT_SAME, EXIT_DIFFERS, EXIT_COULD_NOT_RUN = 0, 1, 3
SAME, DIFFERS, COULD_NOT_RUN = "same", "differs", "could not run"

#: Default output normalisation: (name, pattern, replacement), applied in this order.
DEFAULT_RULES: list[tuple[str, str, str]] = [
    # Pids first: "pid 1712345678" is a pid, not a time.
    # pid=12, "pid 12", PPid:\t3, tid: 4; /proc/12/; name[12]: (syslog style)
    ("pid", r"(?i)\b(p?pid|tid|tgid|pgid|pgrp|sid)\b([=:]?[ \t]*)\d+", r"\1\2<pid>"),
    ("proc-pid", r"/proc/\d+(?=/|\b)", "/proc/<pid>"),
    ("bracket-pid", r"\b([A-Za-z_][\w.-]*)\[\d+\]", r"\1[<pid>]"),
    # 2026-12-04, 2026-12-04T03:17:24.123+00:00, 2026-12-04 03:17
    ("iso-datetime",
     r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
     r"(?: ?(?:Z|[+-]\d{2}:?\d{2}))?\b", "<date>"),
    # date(1)/ctime: "Fri Dec  4 03:17:24 UTC 2026"; ls -l: "Dec  4 03:17", "Dec  4  2025"
    ("month-day",
     r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +)?"
     r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2}"
     r"(?: +\d{1,2}:\d{2}(?::\d{2})?(?: +[A-Z]{2,5})?)?(?: +\d{4})?\b", "<date>"),
    ("clock", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>"),
    ("epoch", r"\b1[6-9]\d{8}(?:\.\d+)?\b", "<epoch>"),
    ("duration", r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|sec|secs|seconds)\b", "<duration>"),
]

# The table's handler modules grouped into the families the report shows.
FAMILIES: dict[str, str] = {
    "sys_file": "file", "sys_stat": "file", "sys_fs": "file", "sys_xattr": "file",
    "sys_fhandle": "file", "sys_splice": "file", "sys_memfd": "file",
    "sys_inotify": "file", "sys_pipe": "ipc", "sys_poll": "events", "sys_epoll": "events",
    "sys_eventfd": "events", "sys_timerfd": "time", "sys_signalfd": "signal",
    "sys_socket": "network", "sys_process": "process", "sys_pidfd": "process",
    "sys_sched": "process", "sys_identity": "process", "sys_futex": "process",
    "sys_signal": "signal", "sys_time": "time", "sys_timer": "time", "sys_sys": "system",
    "sys_mm": "memory",
}
OTHER = "other"

_SUPPORT_RANK = {"unsupported": 0, "denied": 1, "partial": 2, "full": 3}

# Run natively as pid 1 of the new namespaces: lead a new session (as a container's init
# does, runc's and the sandbox's: ps shows it "Ss"), bring loopback up, set the hostname and
# ids, then exec the command with exactly the environment given (a Python started with -I -S
# reads none of it, and its locale coercion must not reach the command).
_NATIVE_HELPER = r"""
import fcntl, json, os, socket, struct, sys
c = json.loads(sys.argv[1])
argv = sys.argv[2:]
try:
    os.setsid()
    if c["lo_up"]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", 0x1 | 0x40))  # SIOCSIFFLAGS
        s.close()
    if c["hostname"] is not None:
        socket.sethostname(c["hostname"])
    if c["gid"] is not None:
        os.setgroups([])
        os.setgid(c["gid"])
    if c["uid"] is not None:
        os.setuid(c["uid"])
    os.chdir(c["cwd"])
    os.execvpe(argv[0], argv, c["env"])
except OSError as e:
    sys.stderr.write(c["marker"] + f"{argv[0]}: {e.strerror}\n")
    os._exit(127)
"""
_MARKER = "runsc-py compat: native: cannot run "


class CouldNotRun(Exception):
    """The command could not be started natively or in the sandbox."""


@dataclass
class RunSettings:
    """What both runs share (the ``do`` flags) and how the sandbox is reached."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    uid: int | None = None
    gid: int | None = None
    hostname: str | None = None
    network: str = "none"
    pids_limit: int | None = None
    memory_limit: str | None = None
    timeout: float | None = None
    # Global flags for the sandboxed `runsc-py` (--root, --debug-log ...).
    global_args: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    sentry: dict[str, Any] | None = None   # the sandbox's --compat-report

    def status(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "signal": self.signal,
            "signal_name": _signame(self.signal),
            "timed_out": self.timed_out,
            "seconds": round(self.seconds, 3),
        }


def _signame(signo: int | None) -> str | None:
    if not signo:
        return None
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"SIG{signo}"


#: After a timeout, how long a sandbox has to end on SIGTERM (and write its report).
_GRACE = 10.0


def _run(argv: list[str], env: dict[str, str] | None, cwd: str, timeout: float | None,
         term_first: bool = False) -> tuple[int, str, str, float, bool]:
    """Run *argv* in a session of its own, stdin /dev/null, output into temporary files;
    at the timeout, SIGTERM it first with *term_first* (``do`` ends the sandbox and the
    sentry writes its report), then SIGKILL its process group.  Returns (returncode,
    stdout, stderr, seconds, timed_out)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env, cwd=cwd, start_new_session=True)
        except OSError as e:
            raise CouldNotRun(f"{argv[0]}: {e.strerror}") from None
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            if term_first:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=_GRACE)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.returncode is None or timed_out:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), seconds, timed_out)


def _which(argv0: str, env: dict[str, str], cwd: str) -> str | None:
    if "/" in argv0:
        p = os.path.join(cwd, argv0)
        return p if os.path.isfile(p) and os.access(p, os.X_OK) else None
    return shutil.which(argv0, path=env.get("PATH", os.defpath))


def run_native(s: RunSettings) -> RunResult:
    """The command natively, as pid 1 of fresh pid and mount namespaces (see the module)."""
    if _which(s.argv[0], s.env, s.cwd) is None:
        raise CouldNotRun(f"{s.argv[0]}: command not found")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise CouldNotRun("unshare (util-linux) not found")
    ns = ["--pid", "--fork", "--kill-child", "--mount-proc"]
    if s.network == "none":
        ns.append("--net")
    if s.hostname is not None:
        ns.append("--uts")
    conf = {"lo_up": s.network == "none", "hostname": s.hostname, "uid": s.uid,
            "gid": s.gid, "cwd": s.cwd, "env": s.env, "marker": _MARKER}
    argv = [unshare, *ns, "--", sys.executable, "-I", "-S", "-c", _NATIVE_HELPER,
            json.dumps(conf), *s.argv]
    rc, out, err, secs, timed_out = _run(argv, None, s.cwd, s.timeout)
    if rc == 127 and _MARKER in err:
        raise CouldNotRun(err.strip().splitlines()[-1].replace("runsc-py compat: ", ""))
    if rc != 0 and not out and err.startswith("unshare:"):
        raise CouldNotRun(err.strip().splitlines()[0])
    return _result(rc, out, err, secs, timed_out)


def _result(rc: int, out: str, err: str, secs: float, timed_out: bool,
            sentry: dict[str, Any] | None = None) -> RunResult:
    if timed_out:
        # The sentry's counts up to the timeout, when it could still write them.
        return RunResult(None, None, out, err, secs, True, sentry)
    if sentry is not None:
        return RunResult(sentry.get("exit_code"), sentry.get("signal"), out, err, secs,
                         False, sentry)
    if rc < 0:
        # unshare --fork dies of the signal that killed the command.
        return RunResult(None, -rc, out, err, secs)
    return RunResult(rc, None, out, err, secs)


def run_sandboxed(s: RunSettings) -> RunResult:
    """The command under ``runsc-py do`` (this interpreter), with ``--compat-report``."""
    with tempfile.TemporaryDirectory(prefix="runsc-compat-") as tmp:
        report = Path(tmp) / "report.json"
        do = ["do", "--clear-env", "--cwd", s.cwd, "--network", s.network,
              "--compat-report", str(report)]
        for k, v in s.env.items():
            do += ["--env", f"{k}={v}"]
        for flag, value in (("--uid", s.uid), ("--gid", s.gid), ("--hostname", s.hostname),
                            ("--pids-limit", s.pids_limit),
                            ("--memory-limit", s.memory_limit)):
            if value is not None:
                do += [flag, str(value)]
        argv = [sys.executable, "-m", "runsc_py", *s.global_args, *do, "--", *s.argv]
        rc, out, err, secs, timed_out = _run(argv, dict(os.environ), s.cwd, s.timeout,
                                             term_first=True)
        sentry = None
        try:
            sentry = json.loads(report.read_text())
        except (OSError, ValueError):
            pass
    if sentry is None and not timed_out:
        # The workload never ran to its end under the sentry: `do` said why on stderr.
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        raise CouldNotRun(lines[-1] if lines else f"runsc-py do exited with status {rc}")
    return _result(rc, out, err, secs, timed_out, sentry)


# -- comparing ---------------------------------------------------------------------------


def compile_rules(user: list[str], defaults: bool) -> list[tuple[str, re.Pattern[str], str]]:
    """The rules in the order they apply: the defaults (unless turned off), then the
    user's ``--normalize`` patterns (each match becomes ``<*>``).

    :raises ValueError: a pattern that does not compile.
    """
    rules = [(n, re.compile(p), r) for n, p, r in DEFAULT_RULES] if defaults else []
    for i, pat in enumerate(user):
        try:
            rules.append((f"user-{i + 1}", re.compile(pat), "<*>"))
        except re.error as e:
            raise ValueError(f"--normalize {pat!r}: {e}") from None
    return rules


def normalize(text: str, rules: list[tuple[str, re.Pattern[str], str]]) -> str:
    for _name, pat, repl in rules:
        text = pat.sub(repl, text)
    return text


def _diff(name: str, native: str, sandbox: str) -> str:
    return "".join(difflib.unified_diff(
        native.splitlines(keepends=True), sandbox.splitlines(keepends=True),
        fromfile=f"native/{name}", tofile=f"sandbox/{name}", n=2))


def _table() -> tuple[dict[int, Any], dict[str, str]]:
    """The syscall table's entries by number, and each name's family."""
    table = importlib.import_module("sentry.syscalls.linux.linux64")
    entries = {e.nr: e for e in table.TABLE if e is not None}
    families: dict[str, str] = {}
    for module, rows in table._ROWS:
        for row in rows:
            families[row[0]] = FAMILIES.get(module, OTHER)
    return entries, families


def _support(e: Any) -> str:
    if e is None:
        return "unsupported"
    return "denied" if e.policy == "deny" else str(e.support)


def build(s: RunSettings, native: RunResult, sandbox: RunResult,
          rules: list[tuple[str, re.Pattern[str], str]]) -> dict[str, Any]:
    """The report: verdict, both runs, output diffs, syscalls, unsupported variants."""
    entries, families = _table()
    sentry = sandbox.sentry or {}
    syscalls: list[dict[str, Any]] = []
    for key, c in (sentry.get("syscalls") or {}).items():
        nr = int(key)
        e = entries.get(nr)
        name = e.name if e is not None else f"syscall_{nr}"
        syscalls.append({
            "nr": nr, "name": name, "count": int(c["count"]), "fast": int(c["fast"]),
            # the sentry's Python time on them (calls answered in C: only C's waits for
            # its own fetches), and the gofer requests made for them (C's fetches too)
            # and their round trips (part of that)
            "sentry_us": int(c.get("sentry_us", 0)),
            "gofer_requests": int(c.get("gofer_requests", 0)),
            "gofer_us": int(c.get("gofer_us", 0)),
            "family": families.get(name, OTHER), "support": _support(e),
            "policy": e.policy if e is not None else "emulate",
            "note": (e.note if e is not None else "") or "",
        })
    syscalls.sort(key=lambda r: (_SUPPORT_RANK.get(r["support"], 0), -r["count"], r["nr"]))
    unsupported = list(sentry.get("unsupported") or [])
    unsupported.sort(key=lambda u: (u["family"] != "syscall", -u["count"], u["family"],
                                    u["detail"]))
    fams: dict[str, dict[str, Any]] = {}
    for r in syscalls:
        f = fams.setdefault(r["family"], {"family": r["family"], "calls": 0, "syscalls": 0,
                                          "calls_by_support": {}})
        f["calls"] += r["count"]
        f["syscalls"] += 1
        by = f["calls_by_support"]
        by[r["support"]] = by.get(r["support"], 0) + r["count"]
    for u in unsupported:
        if u["family"] == "syscall":
            continue
        fam = {"ioctl": "file", "fcntl": "file", "xattr": "file", "prctl": "process",
               "clone": "process", "socket": "network", "setsockopt": "network",
               "getsockopt": "network"}.get(u["family"], OTHER)
        f = fams.setdefault(fam, {"family": fam, "calls": 0, "syscalls": 0,
                                  "calls_by_support": {}})
        f["refused_variants"] = f.get("refused_variants", 0) + u["count"]

    output: dict[str, Any] = {}
    for stream in ("stdout", "stderr"):
        a = normalize(getattr(native, stream), rules)
        b = normalize(getattr(sandbox, stream), rules)
        output[stream] = {"same": a == b, "diff": _diff(stream, a, b),
                          "native_bytes": len(getattr(native, stream).encode()),
                          "sandbox_bytes": len(getattr(sandbox, stream).encode())}
    reasons = []
    if native.timed_out or sandbox.timed_out:
        # Nothing to compare an unfinished run with (its output is cut anywhere).
        which = ("both runs" if native.timed_out and sandbox.timed_out
                 else "native run" if native.timed_out else "sandboxed run")
        reasons.append(f"{which} timed out after {s.timeout:g}s")
    elif (native.exit_code, native.signal) != (sandbox.exit_code, sandbox.signal):
        reasons.append(f"exit: native {_how(native)}, sandbox {_how(sandbox)}")
    for stream in ("stdout", "stderr"):
        if not output[stream]["same"]:
            reasons.append(f"{stream} differs")
    # A number that names no Linux syscall is ENOSYS natively too: shown, not a difference.
    gaps = {(u["family"], u["detail"]) for u in unsupported
            if not (u["family"] == "syscall" and u["detail"].isdigit())}
    if gaps:
        n = len(gaps)
        reasons.append(f"{n} unsupported variant{'s' if n != 1 else ''} hit")
    hit_unsupported = [r["name"] for r in syscalls if r["support"] in ("unsupported", "denied")]
    if hit_unsupported and not any(u["family"] == "syscall" for u in unsupported):
        reasons.append("unsupported syscalls used: " + ", ".join(hit_unsupported))
    table_mod = importlib.import_module("sentry.syscalls.linux.linux64")
    return {
        "schema": SCHEMA,
        "command": list(s.argv),
        "verdict": DIFFERS if reasons else SAME,
        "reasons": reasons,
        "native": native.status(),
        "sandbox": sandbox.status(),
        "output": output,
        "normalize": [{"name": n, "pattern": p.pattern, "replacement": r} for n, p, r in rules],
        "unsupported": unsupported,
        "syscalls": syscalls,
        "totals": {
            "calls": sum(r["count"] for r in syscalls),
            "fast": sum(r["fast"] for r in syscalls),
            "sentry_us": sum(r["sentry_us"] for r in syscalls),
            "gofer_requests": sum(r["gofer_requests"] for r in syscalls),
            "gofer_us": sum(r["gofer_us"] for r in syscalls),
            "distinct": len(syscalls),
        },
        "families": sorted(fams.values(), key=lambda f: (-f["calls"], f["family"])),
        # Rows with an argument check (anonymous mmap) are counted when it fails.
        "not_counted": sorted(e.name + (" (partly)" if e.arg_check else "")
                              for e in table_mod.host_allowlist()),
        # Answered by the filter (EPERM …) before the sentry sees them: a program using
        # one (unshare, mount, ptrace …) is not told apart from one that does not.
        "denied_by_filter": sorted(e.name for e in table_mod.TABLE
                                   if e is not None and e.policy == "deny"),
    }


def could_not_run(s: RunSettings, which: str, why: str) -> dict[str, Any]:
    """The report when one run could not start."""
    return {"schema": SCHEMA, "command": list(s.argv), "verdict": COULD_NOT_RUN,
            "reasons": [f"{which}: {why}"]}


def exit_code(report: dict[str, Any]) -> int:
    return {SAME: EXIT_SAME, DIFFERS: EXIT_DIFFERS}.get(report["verdict"], EXIT_COULD_NOT_RUN)


def _how(st: Any) -> str:
    if isinstance(st, RunResult):
        st = st.status()
    if st["timed_out"]:
        return "timed out"
    if st["signal"]:
        return f"killed by {st['signal_name']}"
    return f"exit {st['exit_code']}"


# -- text --------------------------------------------------------------------------------


def render_text(r: dict[str, Any]) -> str:
    """The terminal rendering: verdict, missing pieces first, then the syscall table and
    the output diff."""
    from runsc_py.cmd.list import format_table
    from runsc_py.errors import one_line

    cmd = " ".join(r["command"])
    lines = [f"compat: {r['verdict'].upper()}  ({one_line(cmd)})"]
    for why in r["reasons"]:
        lines.append(f"  - {why}")
    if r["verdict"] == COULD_NOT_RUN:
        return "\n".join(lines)
    lines.append(f"  exit: native {_how(r['native'])}, sandbox {_how(r['sandbox'])}; "
                 f"stdout {'same' if r['output']['stdout']['same'] else 'differs'}, "
                 f"stderr {'same' if r['output']['stderr']['same'] else 'differs'}")
    if r["unsupported"]:
        lines += ["", "Not done by the sandbox (refused variants):"]
        rows = [["FAMILY", "WHAT", "BINARY", "COUNT"]]
        rows += [[u["family"], one_line(u["detail"]), one_line(u["binary"] or "?"),
                  str(u["count"])] for u in r["unsupported"]]
        lines.append(format_table(rows))
    weak = [x for x in r["syscalls"] if x["support"] != "full"]
    if weak:
        lines += ["", "Syscalls used that the sandbox supports partly or not at all:"]
        rows = [["SYSCALL", "CALLS", "SUPPORT", "NOTE"]]
        rows += [[x["name"], str(x["count"]), x["support"], one_line(x["note"])[:100]]
                 for x in weak]
        lines.append(format_table(rows))
    t = r["totals"]
    lines += ["", f"By family ({t['calls']} calls to {t['distinct']} syscalls, {t['fast']} "
              "answered on the C fast path):"]
    width = max((f["calls"] for f in r["families"]), default=1) or 1
    for f in r["families"]:
        bar = "#" * max(1 if f["calls"] else 0, round(30 * f["calls"] / width))
        extra = f", {f['refused_variants']} refused" if f.get("refused_variants") else ""
        lines.append(f"  {f['family']:<8} {f['calls']:>8}  {bar}  ({f['syscalls']} syscalls"
                     f"{extra})")
    lines += ["", "Every syscall (calls the host runs without a stop are not counted: "
              + ", ".join(r["not_counted"]) + "):"]
    lines.append("(Denied by the filter, never seen: " + ", ".join(r["denied_by_filter"])
                 + ".)")
    lines.append(f"(SENTRY MS: the sentry's Python time on the calls it served, "
                 f"{t.get('sentry_us', 0) / 1000:.1f} ms in all; a fork's and an exec's "
                 "events count as their call's; calls answered in C are timed only while "
                 "C waits for a file it fetched from the gofer for an open. "
                 f"GOFER: the requests made for them, C's fetches among them, "
                 f"{t.get('gofer_requests', 0)} in all, and the ms of their round trips, "
                 f"{t.get('gofer_us', 0) / 1000:.1f}, part of SENTRY MS.)")
    rows = [["NR", "SYSCALL", "FAMILY", "CALLS", "FAST", "SENTRY MS", "GOFER", "GOFER MS",
             "SUPPORT"]]
    rows += [[str(x["nr"]), x["name"], x["family"], str(x["count"]), str(x["fast"]),
              f"{x.get('sentry_us', 0) / 1000:.1f}", str(x.get("gofer_requests", 0)),
              f"{x.get('gofer_us', 0) / 1000:.1f}", x["support"]] for x in r["syscalls"]]
    lines.append(format_table(rows))
    for stream in ("stdout", "stderr"):
        if r["output"][stream]["diff"]:
            lines += ["", r["output"][stream]["diff"].rstrip("\n")]
    return "\n".join(lines)
