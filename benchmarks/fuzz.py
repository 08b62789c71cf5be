#!/usr/bin/env python3
"""Fuzzing the sandbox's syscall surface at scale (design §7; run on demand, never in CI).

``python3 benchmarks/fuzz.py`` (or ``benchmarks/run.py --only fuzz``):

1. ``tests/security/src/fuzz.c`` (see its header) in ``runsc-py do``: 10^6 calls by
   default from 4 threads, every syscall number, hostile arguments. Reported: calls/s,
   worker restarts, and whether every invariant held (exit 0 "fuzz ok": every answer a
   value or an errno Linux could give; no traceback in the sentry's debug log; the host's
   canary tree unchanged; no fuzzer file on the host; no process left).
2. Debian's ``trinity`` *inside the sandbox* (never on the host: the host's binary is only
   looked for with ``shutil.which``; the command line is always ``runsc-py do -- ...``), as
   uid/gid 65534 (``setpriv``; trinity refuses root without ``--dangerous``), 64-bit calls
   only (``-a64``: the filter kills a foreign ABI by design), ``-C`` children, for
   ``--trinity-seconds`` (``timeout -s KILL`` inside the sandbox), its socket fds left out
   (:data:`TRINITY_FLAGS`). Reported: the seconds trinity ran (the sandbox's clock), the
   syscalls it made (its own progress line, every 10,000), those the sentry answered (its
   debug log's last line) and a second sandbox started halfway through. Trinity must be
   killed by its time limit, the sandbox must end by itself within a grace period after
   that, with no traceback in the debug log, no process left and nothing written to the
   host.

   What trinity found: the sandbox used to hang at "Generating file descriptors". The C
   loop answered trinity's getpid spin on its fast path and never returned to Python, so
   no sandbox timer fired (``timeout`` inside never killed anything; tests/syscalls
   fast_spin.c); ``perf_event_open`` answered EPERM, which trinity retries for ever (Linux
   refuses it with EACCES: test_filter.py); the confined sentry was killed by its own
   filter at the first ``sigqueue`` (``rt_tgsigqueueinfo`` was missing from its
   allowlist: siginfo.c); unix sockets refused SOL_SOCKET options Linux keeps
   (unix_sockopt.c); and a child killed right after its file ``mmap`` returned left the
   sentry writing the mapping's bytes into an address space that was gone, for ever
   (tests/unit/syscalls/test_mm_fill.py).

Exit status 0 when both held. The 10^5-call CI version is
``tests/security/test_fuzz_syscalls.py``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

from helpers import procs  # noqa: E402
from helpers.runner import BASE_ENV, runsc_argv  # noqa: E402
from security.test_fuzz_syscalls import (  # noqa: E402
    fuzz_droppings,
    implemented_numbers,
    make_canary,
    snapshot,
)

SRC = HERE.parent / "tests" / "security" / "src" / "fuzz.c"
CC = shutil.which("cc") or "cc"


def run(argv: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str, float]:
    """(status or None on timeout, stdout, stderr, seconds); a timeout kills the group."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=BASE_ENV,
                         cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc: int | None = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = None
    return rc, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0


def log_problems(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    found = []
    if "Traceback" in text:
        i = text.index("Traceback")
        found.append("traceback in the sentry's log:\n" + text[max(0, i - 300):i + 3000])
    if "internal error" in text:
        found.append("internal error in the sentry's log")
    return found


def leftovers(before: set[int]) -> list[str]:
    left = procs.wait_gone(procs.descendants(os.getpid()) - before, 5.0)
    if not left:
        return []
    desc = procs.describe(left)
    procs.kill_all(left)
    return ["processes left:\n" + desc]


def fuzz(work: Path, opts: argparse.Namespace) -> list[str]:
    exe = work / "fuzz"
    subprocess.run([CC, "-O2", "-g", "-pthread", "-std=gnu11", "-o", str(exe), str(SRC)], check=True)
    canary = make_canary(work)
    cwd = work / "fuzz-cwd"
    cwd.mkdir()
    root = work / "root-fuzz"
    root.mkdir()
    log = work / "fuzz.log"
    before_tree, before = snapshot(canary), procs.descendants(os.getpid())
    argv = runsc_argv() + ["--root", str(root), "--debug-log", str(log), "do", "--", str(exe),
                           str(opts.seed), str(opts.calls), str(opts.threads), str(canary),
                           implemented_numbers()]
    rc, out, err, secs = run(argv, cwd, max(600.0, opts.calls / 500))
    problems = []
    head = out.splitlines()[0] if out else ""
    m = re.search(r"calls=(\d+) seconds=([\d.]+) calls_per_s=(\d+)", head)
    print(f"fuzz.c: {opts.calls:,} calls asked, {opts.threads} threads, seed {opts.seed}")
    print(f"  {head}" if head else "  (no summary)")
    print(f"  wall {secs:.1f} s (with sandbox start and stop)")
    if rc is None:
        problems.append(f"the sandbox did not end within {max(600.0, opts.calls / 500):.0f} s (hang)")
    elif rc != 0 or "fuzz ok" not in out:
        bad = [ln for ln in out.splitlines() if ln.startswith(("IMPOSSIBLE", "HANG", "thread "))]
        problems.append(f"exit status {rc}: " + "\n".join(bad or out.splitlines()[-5:] or [err[-2000:]]))
    enosys = [ln for ln in out.splitlines() if ln.startswith("ENOSYS from")]
    if enosys:
        print("  " + "\n  ".join(enosys))
    if not m and rc == 0:
        problems.append("no summary line")
    problems += log_problems(log)
    if snapshot(canary) != before_tree:
        problems.append("the host's canary tree changed")
    dropped = fuzz_droppings(cwd, canary, Path("/tmp"))
    if dropped:
        problems.append(f"fuzzer files on the host: {dropped}")
    problems += leftovers(before)
    return problems


#: trinity's socket setup sets random options on every socket it makes, and the protocol
#: it draws some of them from is read past the end of its table (45 entries, index taken
#: modulo 46), which kills trinity's main process with SIGSEGV after a few hundred tries,
#: natively too.  So its socket fds are left out; its children still make sockets.
TRINITY_FLAGS = ["-q", "-a64", "-l", "off", "--disable-fds=sockets"]


def beside(work: Path, delay: float) -> tuple[int | None, str, float]:
    """A second sandbox started *delay* s into the trinity run: (status, stdout, seconds)."""
    time.sleep(delay)
    root = work / "root-beside"
    root.mkdir()
    rc, out, _err, secs = run(runsc_argv() + ["--root", str(root), "do", "--", "sh", "-c",
                                              "echo alive; sleep 1; echo still"], work, 60.0)
    return rc, out, secs


def trinity(work: Path, opts: argparse.Namespace) -> list[str]:
    if shutil.which("trinity") is None:  # looked for, never run, on the host
        return ["trinity is not installed (Debian package 'trinity')"]
    cwd = work / "trinity-cwd"
    cwd.mkdir()
    os.chmod(cwd, 0o1777)  # trinity runs as 65534 and makes its test files in its cwd
    root = work / "root-trinity"
    root.mkdir()
    log = work / "trinity.log"
    before = procs.descendants(os.getpid())
    fuzzer = ["timeout", "-s", "KILL", str(opts.trinity_seconds),
              "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
              "trinity", *TRINITY_FLAGS, "-C", str(opts.trinity_children), "-s", str(opts.seed)]
    # The shell inside times trinity with the sandbox's clock and reports timeout's status.
    script = ('echo "trinity-start $(date +%s.%N)"; "$@"; echo "trinity-status $?"; '
              'echo "trinity-end $(date +%s.%N)"')
    inside = ["sh", "-c", script, "sh", *fuzzer]
    argv = runsc_argv() + ["--root", str(root), "--debug-log", str(log), "do", "--", *inside]
    grace = 60.0
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        second = pool.submit(beside, work, opts.trinity_seconds / 2)
        rc, out, err, secs = run(argv, cwd, opts.trinity_seconds + grace)
        b_rc, b_out, b_secs = second.result()
    print(f"trinity in the sandbox: {opts.trinity_children} children, {opts.trinity_seconds} s, "
          f"seed {opts.seed}")
    marks = dict(re.findall(r"^trinity-(start|end|status) (\S+)$", out, re.M))
    ran = float(marks["end"]) - float(marks["start"]) if "start" in marks and "end" in marks else None
    text = log.read_text(errors="replace") if log.exists() else ""
    served = re.search(r"the sentry answered (\d+) workload syscalls \((\d+) on the C fast", text)
    problems = []
    if ran is not None:
        print(f"  trinity ran {ran:.1f} s; timeout's status {marks.get('status')} "
              f"(137: it killed trinity at the limit)")
    progress = re.findall(r"(\d+) iterations\. \[F:(\d+) S:(\d+)", out)
    if progress:  # trinity's main prints one every 10,000 calls of its children
        n, failed, ok = (int(x) for x in progress[-1])
        print(f"  trinity's last progress line: {n:,} fuzzed syscalls ({failed:,} failed, "
              f"{ok:,} succeeded)")
    if served:
        print(f"  the sentry answered {int(served[1]):,} syscalls ({int(served[2]):,} on the C "
              f"fast path): {int(served[1]) / max(ran or secs, 1e-3):,.0f}/s; the host ran the "
              "calls the filter lets through")
    print(f"  sandbox status {rc}, wall {secs:.1f} s")
    print(f"  a second sandbox {opts.trinity_seconds / 2:.0f} s in: status {b_rc}, "
          f"{b_secs:.1f} s, output {b_out.split()}")
    if rc is None:
        problems.append(f"the sandbox did not end {grace:.0f} s after trinity's time limit (hang); "
                        "last output:\n" + "\n".join(out.splitlines()[-8:]))
    elif rc != 0:
        problems.append(f"unexpected status {rc}: {err[-1500:]}")
    elif marks.get("status") != "137":
        problems.append(f"trinity ended before its time limit (timeout's status "
                        f"{marks.get('status')}); last output:\n" + "\n".join(out.splitlines()[-8:]))
    if not served:
        problems.append("no syscall count in the sentry's log (did it die?)")
    if b_rc != 0 or b_out.split() != ["alive", "still"]:
        problems.append(f"the second sandbox beside trinity failed: status {b_rc}, {b_out!r}")
    left = sorted(p.name for p in cwd.iterdir())
    if left:
        problems.append(f"trinity's files reached the host: {left[:10]}")
    problems += log_problems(log)
    problems += leftovers(before)
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trinity-seconds", type=int, default=120)
    ap.add_argument("--trinity-children", type=int, default=2)
    ap.add_argument("--only", choices=("fuzz", "trinity"), default=None)
    opts = ap.parse_args()
    procs.become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="rfuzz"))
    problems: list[str] = []
    try:
        if opts.only in (None, "fuzz"):
            problems += fuzz(work, opts)
        if opts.only in (None, "trinity"):
            problems += trinity(work, opts)
    finally:
        procs.reap_orphans()
        shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print("PROBLEM:", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
