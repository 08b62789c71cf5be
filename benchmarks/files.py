#!/usr/bin/env python3
"""runsc-py on file-heavy programs and start-up: native vs proot vs ``runsc-py do``.

Run on demand, never in CI: ``python3 benchmarks/files.py`` (``benchmarks/run.py --only files``
runs it too; about 5 minutes on a 2-vCPU VM, most of it the 50k-file walk under the sandbox and
the profile run). One run, every ratio taken in it; each cell is the median of ``--reps``, the
three ways interleaved rep by rep so that host noise hits them alike. It never asserts a timing:
it prints the numbers, the ratios and the targets beside them.

Workloads, each run natively, under ``proot`` (a ptrace tool, not a sandbox: the peer to beat)
and under ``runsc-py do``; wall time of the whole command, and, where a target asks for it, the
time the workload measures itself (so the sandbox's start-up is not in it):

- ``os.walk`` + ``lstat`` of /usr/share/doc, and of a 50,000-file tree generated in a temporary
  directory (timed inside the Python program);
- ``python3 -I -c pass``; ``python3 -c 'import asyncio, json, email, http.client, sqlite3,
  decimal'`` (the imports timed inside);
- a busybox ``sh`` loop of 200 fork+exec of busybox ``true`` (timed with the shell's own clock,
  ``$EPOCHREALTIME``); ``tar cf - /usr/share/doc | wc -c``; ``gcc -O2`` of a small C file (many
  execs and header reads); ``git status`` in a generated 1,000-file repository (timed with the
  shell's clock around it).

Targets: every whole command faster under runsc-py than under proot; inside the workload, the
walks and ``git status`` <= 5x native, the imports <= 4x, fork+exec <= 3x. The output of each
workload (timings aside) is compared with the native one; a difference is reported.

Start-up (root, runc, busybox-static): ``runsc-py run`` + ``delete`` of a busybox bundle running
``true`` and ``runsc-py do -- /bin/true`` against runc's ``run`` (+ ``delete`` if it kept the
container) of the same bundle (``oci.py``'s bundle and runtime driver); target <= 3x runc.

A second table gives each whole command's CPU time (user + sys of all its processes, the
sandbox's sentry, gofer and supervisor included): what busy CPUs make a command wait for
(it is as noisy as wall time on these VMs: 15 runs of ``do -- python3 -I -c pass``, CPU
97-141 ms, wall 72-102).

``--hog N`` runs the whole measurement beside N busy loops (processes spinning in user
space, as a CPU-bound neighbour does; started before and killed after), so that the same
table can be read idle and on busy CPUs.

``--profile`` (default; ``--no-profile`` skips it) runs the slowest workload under runsc-py twice
more: with ``do --compat-report`` (the sentry's Python time by syscall, the calls the C fast
path answered, the gofer requests made for them and their round trips) and with ``do
--profile`` (cProfile of the sentry), and prints the top syscalls and functions;
``--profile-only NAME`` profiles that workload without the table. proot, gcc and git are
optional: a missing one is named and its column or row skipped (``apt-get install
proot``). Options: ``--reps``, ``--only walk,walk50k,pass,imports,fork,tar,gcc,git,startup``,
``--files`` (the big tree's size).
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.runner import BASE_ENV, runsc_argv  # noqa: E402

PYTHON = "/usr/bin/python3"
BUSYBOX = "/bin/busybox"
DOC = "/usr/share/doc"
TIMEOUT = 600
RUNNERS = ("native", "proot", "runsc-py")

#: Walks a tree, lstat()s every entry, prints the time it took and what it saw.
WALK = """\
import os, sys, time
t0 = time.perf_counter()
n = size = 0
for top, dirs, files in os.walk(sys.argv[1]):
    for name in dirs + files:
        size += os.lstat(os.path.join(top, name)).st_size
        n += 1
print(f"inside_s={time.perf_counter() - t0:.6f}")
print(f"entries={n} bytes={size}")
"""
IMPORTS = """\
import time
t0 = time.perf_counter()
import asyncio, json, email, http.client, sqlite3, decimal
print(f"inside_s={time.perf_counter() - t0:.6f}")
"""
#: Wraps a shell command between two readings of busybox sh's clock.
SH_TIMED = 's=$EPOCHREALTIME; {cmd}; e=$EPOCHREALTIME; echo "inside_epoch=$s $e"'
C_SOURCE = """\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static double mean(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

int main(int argc, char **argv) {
    double v[16];
    for (int i = 0; i < 16; i++) v[i] = sqrt((double)i + argc);
    printf("%s %.3f\\n", argv[0], mean(v, 16));
    return strlen(argv[0]) > 1000 ? EXIT_FAILURE : EXIT_SUCCESS;
}
"""


class BenchError(RuntimeError):
    pass


@dataclass
class Workload:
    name: str  # short name, for --only and --profile-only
    label: str
    argv: list[str]
    cwd: Path
    inside_target: float | None = None  # x native, timed inside
    skip: str = ""  # why it cannot run here


@dataclass
class Cell:
    wall: list[float] = field(default_factory=list)  # s
    inside: list[float] = field(default_factory=list)  # s
    cpu: list[float] = field(default_factory=list)  # s, user + sys of all its processes
    error: str = ""
    output: str = ""

    def med(self, inside: bool = False) -> float | None:
        v = self.inside if inside else self.wall
        return statistics.median(v) if v and not self.error else None

    def med_cpu(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu and not self.error else None


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


#: The CPU time (user + sys) of the command :func:`run_once` ran last, every process of it
#: that was waited for (the sandbox's and proot's are: their supervisor or tracer reaps
#: them), read as this process's children's before and after it (the busy loops of --hog
#: are reaped only at the end).
last_cpu = 0.0


def run_once(argv: list[str], cwd: Path) -> tuple[float, float | None, str]:
    """Wall time, the time the workload printed (if any), and its output less timings;
    its CPU time in :data:`last_cpu`."""
    global last_cpu
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=BASE_ENV, cwd=cwd, timeout=TIMEOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"timeout after {TIMEOUT} s") from e
    wall = time.perf_counter() - t0
    last_cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(f"rc={proc.returncode}: {msg[-1] if msg else ''}"[:80])
    inside = None
    rest = []
    for line in proc.stdout.splitlines():
        if m := re.fullmatch(r"inside_s=([\d.]+)", line):
            inside = float(m.group(1))
        elif m := re.fullmatch(r"inside_epoch=([\d.]+) ([\d.]+)", line):
            inside = float(m.group(2)) - float(m.group(1))
        else:
            rest.append(line)
    return wall, inside, "\n".join(rest)


def make_tree(top: Path, files: int) -> None:
    """*files* empty files, 100 a directory, 25 directories a parent."""
    per_dir, fanout = 100, 25
    for i in range(-(-files // per_dir)):
        d = top / f"d{i // fanout:03d}" / f"e{i % fanout:02d}"
        d.mkdir(parents=True)
        for j in range(min(per_dir, files - i * per_dir)):
            (d / f"f{j:03d}.txt").touch()


def make_repo(top: Path, files: int) -> str:
    """A git repository of *files* small committed files, index clean; '' or why not."""
    git = shutil.which("git")
    if not git:
        return "git not found: apt-get install git"
    past = time.time() - 3600  # no racily clean entries: status must not re-read files
    for i in range(files):
        f = top / f"dir{i // 50:02d}" / f"file{i:04d}.c"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"int f{i}(void) {{ return {i}; }}\n")
        os.utime(f, (past, past))
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "files"], ["status"]):
        proc = subprocess.run([git, *ident, *args], cwd=top, capture_output=True, text=True,
                              env=BASE_ENV, timeout=TIMEOUT, check=False)  # fmt: skip
        if proc.returncode:
            return f"git {args[0]} failed: {proc.stderr.strip()[:80]}"
    return ""


def workloads(work: Path, opts: argparse.Namespace) -> list[Workload]:
    bb = work / "bb"
    bb.mkdir()
    (bb / "true").symlink_to(BUSYBOX)
    loop = f"i=0; while [ $i -lt 200 ]; do {bb}/true; i=$((i + 1)); done"
    tree = work / "tree"
    repo = work / "repo"
    src = work / "hello.c"
    src.write_text(C_SOURCE)
    gcc = shutil.which("gcc")
    git = shutil.which("git") or "git"
    have_bb = "" if os.access(BUSYBOX, os.X_OK) else f"{BUSYBOX} not found: apt-get install busybox-static"
    wl = [
        Workload("walk", f"os.walk+lstat {DOC}", [PYTHON, "-I", "-c", WALK, DOC], work, 5.0),
        Workload(
            "walk50k",
            f"os.walk+lstat {opts.files:,}-file tree",
            [PYTHON, "-I", "-c", WALK, str(tree)],
            work,
            5.0,
        ),  # fmt: skip
        Workload("pass", "python3 -I -c pass", [PYTHON, "-I", "-c", "pass"], work),
        Workload("imports", "python3 -c 'import asyncio, json, ...'", [PYTHON, "-c", IMPORTS], work, 4.0),
        Workload(
            "fork",
            "busybox sh: 200 fork+exec",
            [BUSYBOX, "sh", "-c", SH_TIMED.format(cmd=loop)],
            work,
            3.0,
            have_bb,
        ),  # fmt: skip
        Workload(
            "tar",
            f"tar cf - {DOC} | wc -c",
            [BUSYBOX, "sh", "-c", SH_TIMED.format(cmd=f"tar cf - {DOC} 2>/dev/null | wc -c")],
            work,
            None,
            have_bb,
        ),  # fmt: skip
        Workload(
            "gcc",
            "gcc -O2 hello.c",
            [gcc or "gcc", "-O2", "-o", str(work / "hello"), str(src), "-lm"],
            work,
            None,
            "" if gcc else "gcc not found: apt-get install gcc",
        ),  # fmt: skip
        Workload(
            "git",
            f"git status, {opts.repo_files:,} files",
            [BUSYBOX, "sh", "-c", SH_TIMED.format(cmd=f"{git} status")],
            repo,
            5.0,
            have_bb,
        ),  # fmt: skip
    ]
    only = set(opts.only.split(","))
    wl = [w for w in wl if w.name in only]
    for w in wl:
        if w.skip:
            continue
        if w.name == "walk50k":
            tree.mkdir()
            make_tree(tree, opts.files)
        elif w.name == "git":
            repo.mkdir()
            w.skip = make_repo(repo, opts.repo_files)
    return wl


BUNDLE_PROBE = "from runsc_py import codebundle; print(codebundle.install() is not None)"


def bundle_unused(argv: list[str]) -> str:
    """Why the build *argv* imports its modules from their files at each start rather than
    from its code bundle (a bundle built for another interpreter, or none), or '' if it uses it (or
    this cannot tell: not a launcher script). Every start then costs ~20 ms more: a table
    measured so says little about the code."""
    try:
        with open(argv[0], "rb") as f:
            first = f.readline()
    except OSError:
        return ""
    if len(argv) != 1 or not first.startswith(b"#!"):
        return ""
    python = first[2:].split()[0].decode()
    probe = subprocess.run([python, "-c", BUNDLE_PROBE], capture_output=True, text=True, cwd="/",
                           timeout=TIMEOUT, check=False)  # fmt: skip
    if probe.stdout.strip() == "True":
        return ""
    return (f"{argv[0]} does not use its code bundle (built for another interpreter, or none: "
            f"{python} -m sentry.precompute builds it): each start imports from files")


def prefixes(work: Path) -> dict[str, list[str] | None]:
    proot = shutil.which("proot")
    return {
        "native": [],
        "proot": [proot] if proot else None,
        "runsc-py": [*runsc_argv(), "--root", str(work / "state"), "do", "--"],
    }


def measure(wl: list[Workload], pre: dict[str, list[str] | None], reps: int) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for w in wl:
        if w.skip:
            continue
        try:
            run_once(w.argv, w.cwd)  # warm the page cache
        except BenchError:
            pass
        for _ in range(reps):
            for rn, p in pre.items():
                if p is None:
                    continue
                c = cells.setdefault((w.name, rn), Cell())
                if c.error:
                    continue
                try:
                    wall, inside, out = run_once(p + w.argv, w.cwd)
                except BenchError as e:
                    c.error = str(e)
                    continue
                c.wall.append(wall)
                c.cpu.append(last_cpu)
                if inside is not None:
                    c.inside.append(inside)
                c.output = out
        print(f"  measured {w.name}", file=sys.stderr, flush=True)
    return cells


def secs(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def report(wl: list[Workload], cells: dict[tuple[str, str], Cell]) -> list[str]:
    """Print the table; return the verdicts against the targets."""
    head = ("workload", "native", "proot", "runsc-py", "rs/native", "rs/proot", "target",
            "inside: native", "proot", "runsc-py", "rs/native", "target")  # fmt: skip
    rows: list[tuple[str, ...]] = []
    cpu_rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    notes: list[str] = []
    for w in wl:
        if w.skip:
            notes.append(f"{w.name}: skipped ({w.skip})")
            continue
        nat, pro, box = (cells.get((w.name, rn), Cell(error="not run")) for rn in RUNNERS)
        for rn, c in (("native", nat), ("proot", pro), ("runsc-py", box)):
            if c.error and c.error != "not run":
                notes.append(f"{w.name} under {rn}: {c.error}")
        if box.output != nat.output and not box.error and not nat.error:
            notes.append(f"{w.name}: runsc-py's output differs from native's: {box.output[:60]!r} "
                         f"vs {nat.output[:60]!r}")  # fmt: skip
        n, p, b = nat.med(), pro.med(), box.med()
        ni, pi, bi = nat.med(True), pro.med(True), box.med(True)
        has_inside = ni is not None and bi is not None
        itarget = f"<= {w.inside_target:g}x" if w.inside_target else ""
        inside = (secs(ni), secs(pi), secs(bi), ratio(bi, ni), itarget) if has_inside else ("",) * 5
        rows.append((w.label, secs(n), secs(p), secs(b), ratio(b, n), ratio(b, p), "< 1x proot", *inside))
        nc, pc, bc = nat.med_cpu(), pro.med_cpu(), box.med_cpu()
        cpu_rows.append((w.label, secs(nc), secs(pc), secs(bc), ratio(bc, nc), ratio(bc, pc)))
        if b is not None and p is not None:
            verdicts.append(f"{w.name}: whole command runsc-py/proot {b / p:.2f} (target < 1): "
                            + ("met" if b < p else "MISSED"))  # fmt: skip
        if w.inside_target and bi is not None and ni:
            ok = bi / ni <= w.inside_target
            verdicts.append(f"{w.name}: inside runsc-py/native {bi / ni:.2f} "
                            f"(target <= {w.inside_target:g}): " + ("met" if ok else "MISSED"))  # fmt: skip
    table(head, rows)
    # What a busy CPU makes each runner's whole command wait for.
    print()
    table(("CPU time, user + sys of every process", "native", "proot", "runsc-py", "rs/native",
           "rs/proot"), cpu_rows)
    for n_ in notes:
        print("note: " + n_)
    return verdicts


# --------------------------------------------------------------------------- start-up


def startup(work: Path, reps: int) -> list[str]:
    """runsc-py run+delete and do -- /bin/true against runc run(+delete) of one bundle."""
    if os.geteuid() != 0:
        return ["start-up: skipped (needs root: runc and cgroups)"]
    if not shutil.which("runc"):
        return ["start-up: skipped (runc not found: apt-get install runc)"]
    if not os.access(BUSYBOX, os.X_OK):
        return [f"start-up: skipped ({BUSYBOX} not found: apt-get install busybox-static)"]
    import oci
    from clients.helpers import RUNTIMES, remove_cgroup_tree
    from helpers.bundle import build_busybox_rootfs

    bundle = work / "bundle"
    bundle.mkdir()
    build_busybox_rootfs(bundle / "rootfs")
    oci.checked(oci.run(["runc", "spec", "--bundle", str(bundle)]), "runc spec")
    (bundle / "config.json").rename(bundle / "config.json.orig")
    cg = f"/runsc-fbench-{work.name}"
    # The build the rest of the table measured (RUNSC_PY too: helpers.runner), when that is
    # one executable; the checkout's otherwise (run + delete starts a binary).
    argv = runsc_argv()
    own = argv[0] if len(argv) == 1 else RUNTIMES["runsc-py"] or "runsc-py"
    runtimes = {"runc": shutil.which("runc") or "runc", "runsc-py": own}
    directs = {name: oci.Direct(name, binary, work, bundle) for name, binary in runtimes.items()}
    do = [*argv, "--root", str(work / "state"), "do", "--", "/bin/true"]
    vals: dict[str, list[float]] = {"runc": [], "runsc-py": [], "do": []}
    lines: list[str] = []
    try:
        for i in range(reps + 1):  # the first is a warm-up
            for name, d in directs.items():
                cid = f"fb-{name}-{i}"
                oci.write_config(bundle, ["true"], f"{cg}/{cid}")
                t0 = time.perf_counter()
                d.run_fg(cid)
                d.delete_if_kept(cid)
                if i:
                    vals[name].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_once(do, work)
            if i:
                vals["do"].append(time.perf_counter() - t0)
    except (AssertionError, oci.BenchError, BenchError) as e:
        lines.append(f"start-up: failed: {str(e).splitlines()[0][:100]}")
    finally:
        for d in directs.values():
            lines += [f"start-up cleanup: {p}" for p in d.cleanup()]
        remove_cgroup_tree(cg)
    if lines:
        return lines
    med = {k: statistics.median(v) for k, v in vals.items()}
    print()
    rows = [
        ("runc run (+ delete) of the bundle, true", f"{med['runc'] * 1e3:.0f} ms", "1.00x", ""),
        ("runsc-py run + delete of the bundle, true", f"{med['runsc-py'] * 1e3:.0f} ms",
         ratio(med["runsc-py"], med["runc"]), "<= 3x"),
        ("runsc-py do -- /bin/true", f"{med['do'] * 1e3:.0f} ms", ratio(med["do"], med["runc"]), "<= 3x"),
    ]  # fmt: skip
    table((f"start-up, median of {reps}", "wall", "x runc", "target"), rows)
    for key, label in (("runsc-py", "run+delete"), ("do", "do /bin/true")):
        r = med[key] / med["runc"]
        lines.append(f"start-up {label}: x runc {r:.2f} (target <= 3): " + ("met" if r <= 3 else "MISSED"))
    return lines


# --------------------------------------------------------------------------- profile


def syscall_times(w: Workload, work: Path, top: int) -> None:
    """One more run of *w* with a compat report: the syscalls the sentry spent most of
    its Python time on (how many of each the C fast path answered, and the gofer requests
    the others made with their round trips)."""
    import json

    out = work / f"sentry-{w.name}.compat.json"
    argv = [*runsc_argv(), "--root", str(work / "state"), "do", "--compat-report", str(out),
            "--", *w.argv]
    try:
        wall, _inside, _ = run_once(argv, w.cwd)
        calls = json.loads(out.read_text())["syscalls"]
    except (BenchError, OSError, ValueError, KeyError) as e:
        print(f"\nsyscall times of {w.name}: the run failed: {e}")
        return
    try:
        table_json = subprocess.run([*runsc_argv(), "syscalls", "--format", "json"],
                                    capture_output=True, text=True, timeout=60).stdout
        names = {str(e["nr"]): e["name"] for e in json.loads(table_json)}
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        names = {}
    rows = sorted(calls.items(), key=lambda kv: -kv[1].get("sentry_us", 0))[:top]
    total = sum(c.get("sentry_us", 0) for c in calls.values())
    gofer = sum(c.get("gofer_us", 0) for c in calls.values())
    print(f"\nthe sentry's Python time by syscall, {w.label} (wall {wall:.2f} s, "
          f"{total / 1000:.1f} ms in all, {gofer / 1000:.1f} of it the gofer's round trips; "
          "a fork's and an exec's events count as their call's):")
    table(("syscall", "calls", "C fast path", "sentry ms", "us a Python call", "gofer requests",
           "gofer ms"),
          [(names.get(nr, nr), str(c["count"]), str(c["fast"]),
            f"{c.get('sentry_us', 0) / 1000:.1f}",
            f"{c.get('sentry_us', 0) / max(1, c['count'] - c['fast']):.0f}",
            str(c.get("gofer_requests", 0)), f"{c.get('gofer_us', 0) / 1000:.1f}")
           for nr, c in rows])


def profile(w: Workload, work: Path, top: int) -> None:
    """One more run of *w* under runsc-py with the sentry under cProfile; print its top."""
    syscall_times(w, work, top)
    out = work / f"sentry-{w.name}.prof"
    argv = [*runsc_argv(), "--root", str(work / "state"), "do", "--profile", str(out), "--", *w.argv]
    try:
        wall, _inside, _ = run_once(argv, w.cwd)
    except BenchError as e:
        print(f"\nprofile of {w.name}: the run failed: {e}")
        return
    print(f"\nprofile of the sentry, {w.label} (wall {wall:.2f} s under cProfile), top {top}:")
    for key in ("cumulative", "tottime"):
        print(f"-- by {key} time")
        st = pstats.Stats(str(out), stream=sys.stdout)
        st.strip_dirs().sort_stats(key).print_stats(top)
    print("-- gofer round trips, by the request that made them")
    st.print_callers(r"client.py:\d+\(_call\)")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per cell (median)")
    ap.add_argument("--only", default="walk,walk50k,pass,imports,fork,tar,gcc,git,startup")
    ap.add_argument("--files", type=int, default=50_000, help="files in the generated tree")
    ap.add_argument("--repo-files", type=int, default=1_000, help="files in the git repository")
    ap.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                    help="profile the sentry on the slowest workload")  # fmt: skip
    ap.add_argument("--profile-only", metavar="NAME", help="only profile this workload")
    ap.add_argument("--top", type=int, default=15, help="functions the profile prints")
    ap.add_argument("--hog", type=int, default=0, metavar="N",
                    help="measure beside N busy loops (CPU-bound neighbours)")
    opts = ap.parse_args()
    if opts.profile_only:
        opts.only = opts.profile_only
    work = Path(tempfile.mkdtemp(prefix="rfbench"))
    hogs = [subprocess.Popen([PYTHON, "-c", "while True: pass"]) for _ in range(opts.hog)]
    try:
        wl = workloads(work, opts)
        if opts.profile_only:
            for w in wl:
                if w.skip:
                    print(f"{w.name}: {w.skip}")
                else:
                    profile(w, work, opts.top)
            return 0
        pre = prefixes(work)
        load = os.getloadavg()
        print(f"runsc-py on file-heavy workloads: reps={opts.reps} (median) cpus={os.cpu_count()} "
              f"loadavg={load[0]:.2f} busy loops={opts.hog}; wall time of the whole command, "
              f"and inside the workload")  # fmt: skip
        if pre["proot"] is None:
            print("proot not installed: apt-get install proot (its column is skipped)")
        stale = bundle_unused(runsc_argv())
        if stale:
            print(f"WARNING: {stale}")
        cells = measure(wl, pre, opts.reps)
        verdicts = report(wl, cells)
        if "startup" in opts.only.split(","):
            verdicts += startup(work, max(5, 3 * opts.reps))
        print()
        for v in verdicts:
            print(v)
        if opts.profile:
            timed = [(c.med(), w) for w in wl if (c := cells.get((w.name, "runsc-py"))) and c.med()]
            if timed:
                profile(max(timed, key=lambda t: t[0] or 0)[1], work, opts.top)
        return 0
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
