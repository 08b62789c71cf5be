#!/usr/bin/env python3
"""runsc-py against runc as an OCI runtime: container start-up time and idle memory.

Run on demand as root, never in CI: ``python3 benchmarks/oci.py`` (default run about 50 s on an
idle 2-vCPU VM; ``python3 benchmarks/run.py --only oci`` runs it too). It needs what tests/clients
needs: containerd, ctr, containerd-shim-runc-v2, runc, umoci, skopeo, busybox-static. Both
runtimes are measured in the same run, interleaved rep by rep so that host noise hits both
alike; only the runsc-py/runc ratios are meant to be compared across runs (design §8).
``--runsc-py BINARY`` measures another build (any runc-compatible executable).

- Start-up, median and p90 of ``--reps`` after ``--warmup``:
  ``ctr run --rm --runtime io.containerd.runc.v2 --runc-binary BIN IMG ID true`` against a
  private containerd (tests/clients/helpers.py's: own config, root, state, sockets, in its own
  mount namespace; stopped by pid at the end), and the runtime alone on a bundle with the same
  busybox rootfs: ``BIN run`` (foreground), and the sequence the shim itself runs for a
  ``ctr run --rm`` (``create``, ``start``, the init's exit, ``delete``, ``delete --force``), each
  step timed. ``ctr run`` minus that sequence is what containerd, the shim and ctr add.
- Idle memory: a detached ``sleep 1000`` (``ctr run -d``, and ``BIN create`` + ``start``).
  Once its processes are idle (same pids, no CPU tick used for ``--quiet`` s), RSS, PSS and USS
  (Private_Clean + Private_Dirty) of every process in the container's cgroup, from
  /proc/PID/smaps_rollup. The shim is not in that cgroup (and is excluded by name anyway):
  for runc that is the workload; for runsc-py the sandbox process (the sentry), the gofer and
  the workload. PSS divides a page among every process mapping it, on the whole host (other
  Python processes share libpython with the sentry and the gofer), so it moves with what else
  runs; USS does not.

Nothing is left behind: tasks, containers, runtime state, cgroups and the temporary directory
are removed, the daemon and every shim are stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from clients.helpers import (  # noqa: E402
    LIVE_DAEMON_PIDS,
    RUNTIMES,
    Containerd,
    Ctr,
    build_busybox_image,
    cgroup_dirs,
    describe,
    reap_zombie_children,
    remove_cgroup_tree,
    require_tool,
    run,
)
from helpers import procs  # noqa: E402
from helpers.bundle import build_busybox_rootfs  # noqa: E402

#: Timeout of one runtime or ctr command, seconds.
TIMEOUT = 60.0
SHORT = {"runc": "rc", "runsc-py": "rs"}  # container-id prefixes
#: The runtime commands the runc v2 shim runs for ``ctr run --rm`` (the init's exit between).
STEPS = {
    "create": "create",
    "start": "start",
    "exit": "start returned -> init reaped",
    "delete": "delete",
    "delete -f": "delete --force (the shim's 2nd)",
}


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- statistics


def median(vals: Sequence[float]) -> float:
    return statistics.median(vals)


def p90(vals: Sequence[float]) -> float:
    if len(vals) < 2:
        return vals[0]
    return statistics.quantiles(vals, n=10, method="inclusive")[8]


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


# --------------------------------------------------------------------------- processes


def checked(res: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if res.returncode != 0:
        raise BenchError(f"{what}: {describe(res)}")
    return res


def wait_blocking(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """*proc*'s exit status, waited for in waitpid, killed after *timeout* seconds.

    Not ``subprocess.run(timeout=...)`` without pipes: its wait polls with sleeps that
    double up to 50 ms, so a create that took 77 ms measured 114 (0.5 + 1 + ... + 32 + 50)
    and runc's 14 ms one 16 or 32."""
    import threading

    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        return proc.wait()
    finally:
        timer.cancel()


def timed(fn: Callable[..., object], *args: object) -> float:
    """Wall time of fn(*args), ms."""
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1e3


def cgroup_pids(relpath: str) -> set[int]:
    """Live processes of cgroup *relpath* in any hierarchy, shims excluded."""
    pids: set[int] = set()
    for d in cgroup_dirs(relpath):
        try:
            pids |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
        except OSError:
            pass
    return {p for p in pids if procs.alive(p) and "containerd-shim" not in procs.cmdline(p)}


def cpu_ticks(pid: int) -> int:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    rest = data[data.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])  # utime + stime, every thread


def wait_idle(relpath: str, quiet: float, timeout: float = 30.0) -> set[int]:
    """The pids of cgroup *relpath* once none appeared, left or used CPU for *quiet* seconds."""
    deadline = time.monotonic() + timeout
    prev: tuple[frozenset[int], int] | None = None
    while True:
        pids = frozenset(cgroup_pids(relpath))
        snap = (pids, sum(cpu_ticks(p) for p in pids))
        if pids and snap == prev:
            return set(pids)
        if time.monotonic() > deadline:
            raise BenchError(f"cgroup {relpath} not idle after {timeout}s: {sorted(pids)}")
        prev = snap
        time.sleep(quiet)


@dataclass
class ProcMem:
    pid: int
    role: str
    cmd: str
    rss: int  # kB
    pss: int
    uss: int


def smaps_rollup(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, val = line.partition(":")
        out[key] = int(val.split()[0])
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def short_cmd(pid: int) -> str:
    """argv with absolute paths cut to their last component."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "<gone>"
    return " ".join(os.path.basename(a) if a.startswith("/") else a for a in argv if a)


def measure_memory(pids: set[int], init_pid: int, runtime: str) -> list[ProcMem]:
    rows = []
    for pid in sorted(pids):
        if procs.is_gofer(pid):
            role = "gofer"
        elif pid == init_pid and runtime == "runsc-py":
            role = "sandbox process"  # (the supervisor; the engine's "init" pid)
        elif runtime == "runsc-py" and comm(pid) == "runsc-py":
            role = "sentry"
        else:
            role = "workload"
        try:
            m = smaps_rollup(pid)
        except OSError:
            continue
        uss = m["Private_Clean"] + m["Private_Dirty"]
        rows.append(ProcMem(pid, role, f"[{comm(pid)}] {short_cmd(pid)}"[:56], m["Rss"], m["Pss"], uss))
    return rows


def ctr_run_true(c: Ctr, cid: str) -> None:
    checked(c.run(cid, ["true"], "--rm"), f"{c.runtime_name} ctr run --rm")


# --------------------------------------------------------------------------- the runtime alone


class Direct:
    """One runtime binary on the benchmark's bundle, with its own --root; no engine."""

    def __init__(self, name: str, binary: str, work: Path, bundle: Path) -> None:
        self.name = name
        self.binary = binary
        self.root = work / "direct-root" / name
        self.bundle = bundle
        self.errlog = work / f"direct-{name}.err"
        self.live: dict[str, int] = {}  # created containers -> init pid

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *args]

    def cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        return checked(run(self.argv(*args), timeout=TIMEOUT), f"{self.name} {args[0]}")

    def run_fg(self, cid: str) -> None:
        self.cmd("run", "--bundle", str(self.bundle), cid)

    def delete_if_kept(self, cid: str) -> bool:
        """After ``run``: delete the container if the runtime kept its state; say whether it did."""
        if not (self.root / cid).exists():
            return False
        self.cmd("delete", cid)
        return True

    def create(self, cid: str) -> int:
        pidfile = self.bundle.parent / f"{cid}.pid"
        # the container keeps create's stdio: a pipe would never see EOF
        with open(self.errlog, "w") as err:
            argv = self.argv("create", "--bundle", str(self.bundle), "--pid-file", str(pidfile), cid)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
            rc = wait_blocking(proc, TIMEOUT)
        if rc != 0:
            raise BenchError(f"{self.name} create: rc={rc}\n{self.errlog.read_text()}")
        pid = int(pidfile.read_text())
        pidfile.unlink()
        self.live[cid] = pid
        return pid

    def start(self, cid: str) -> None:
        self.cmd("start", cid)

    def wait_exit(self, cid: str) -> None:
        """Reap the container's init: the create process exited, so it is our child (subreaper)."""
        pid = self.live[cid]
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                got, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not ours after all: wait until it is gone
                if not procs.wait_gone({pid}, TIMEOUT):
                    return
                raise BenchError(f"{self.name}: init {pid} of {cid} did not exit") from None
            if got == pid:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: init {pid} of {cid} did not exit")
            time.sleep(0.002)

    def delete(self, cid: str) -> None:
        self.cmd("delete", cid)
        del self.live[cid]

    def delete_again(self, cid: str) -> None:
        """The shim's second ``delete --force`` of a container already deleted."""
        self.cmd("delete", "--force", cid)

    def kill(self, cid: str) -> None:
        self.cmd("kill", cid, "KILL")

    def cleanup(self) -> list[str]:
        problems = []
        for cid, pid in list(self.live.items()):
            res = run(self.argv("delete", "--force", cid), timeout=TIMEOUT)
            if res.returncode != 0:
                problems.append(f"{self.name} delete --force {cid}: {describe(res)}")
            procs.kill_all({pid})
            procs.wait_gone({pid}, 5.0)
        self.live.clear()
        return problems


def write_config(bundle: Path, args: Sequence[str], cgroups_path: str) -> None:
    """``runc spec``'s config, not a terminal, running *args* in cgroup *cgroups_path*."""
    cfg = json.loads((bundle / "config.json.orig").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["linux"]["cgroupsPath"] = cgroups_path
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Series:
    """Timings of one case, ms, per runtime."""

    vals: dict[str, list[float]] = field(default_factory=dict)

    def add(self, rt: str, v: float) -> None:
        self.vals.setdefault(rt, []).append(v)

    def med(self, rt: str) -> float | None:
        v = self.vals.get(rt)
        return median(v) if v else None

    def cell(self, rt: str) -> str:
        v = self.vals.get(rt)
        return f"{median(v):7.0f} / {p90(v):5.0f}" if v else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=20, help="timed runs per runtime and case")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--quiet", type=float, default=0.5, help="idle: seconds without a CPU tick")
    ap.add_argument("--no-direct", action="store_true", help="containerd only")
    ap.add_argument(
        "--runsc-py",
        metavar="BINARY",
        default=RUNTIMES["runsc-py"],
        help="the runsc-py to measure (default: the repository's .venv/bin/runsc-py)",
    )
    opts = ap.parse_args(argv)

    if os.geteuid() != 0:
        raise SystemExit("needs root (containerd, cgroups)")
    runtimes: dict[str, str] = {}
    for name, binary in {**RUNTIMES, "runsc-py": opts.runsc_py and os.path.abspath(opts.runsc_py)}.items():
        if not binary or not os.access(binary, os.X_OK):
            raise SystemExit(f"runtime {name}: {binary!r} is not an executable")
        runtimes[name] = binary
    require_tool("runc")
    # the shims and the direct containers' inits stay below us, and get reaped by us
    procs.become_subreaper()

    # short: containerd's sockets live in there (sun_path is 108 bytes)
    work = Path(tempfile.mkdtemp(prefix="robench", dir="/tmp"))
    daemon = Containerd(work)
    direct_cg = f"/runsc-bench-{work.name}"
    directs: dict[str, Direct] = {}
    ctrs: dict[str, Ctr] = {}
    problems: list[str] = []
    t_start = time.monotonic()
    try:
        image = build_busybox_image(work / "img")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        daemon.start()
        daemon.import_image(image)
        ctrs = {name: Ctr(daemon, name, binary) for name, binary in runtimes.items()}

        bundle = work / "bundle"
        bundle.mkdir()
        build_busybox_rootfs(bundle / "rootfs")
        checked(run(["runc", "spec", "--bundle", str(bundle)]), "runc spec")
        (bundle / "config.json").rename(bundle / "config.json.orig")
        directs = {n: Direct(n, b, work, bundle) for n, b in runtimes.items()}
        setup_s = time.monotonic() - t_start

        # ---- start-up
        ctr_run = Series()
        d_run = Series()
        steps = {k: Series() for k in (*STEPS, "total")}
        kept_after_run: dict[str, int] = {}
        for i in range(-opts.warmup, opts.reps):
            for name in runtimes:
                cid = f"{SHORT[name]}-true-{i + opts.warmup}"
                ms = timed(ctr_run_true, ctrs[name], cid)
                if i >= 0:
                    ctr_run.add(name, ms)
                reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        if not opts.no_direct:
            for i in range(-opts.warmup, opts.reps):
                for name, d in directs.items():
                    cid = f"{SHORT[name]}-run-{i + opts.warmup}"
                    write_config(bundle, ["true"], f"{direct_cg}/{cid}")
                    ms = timed(d.run_fg, cid)
                    if i >= 0:
                        d_run.add(name, ms)
                    if d.delete_if_kept(cid):  # untimed
                        kept_after_run[name] = kept_after_run.get(name, 0) + 1
                    cid = f"{SHORT[name]}-life-{i + opts.warmup}"
                    write_config(bundle, ["true"], f"{direct_cg}/{cid}")
                    shim_calls = (d.create, d.start, d.wait_exit, d.delete, d.delete_again)
                    t = {k: timed(fn, cid) for k, fn in zip(STEPS, shim_calls, strict=True)}
                    t["total"] = sum(t.values())
                    if i >= 0:
                        for k, v in t.items():
                            steps[k].add(name, v)
                    reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        start_s = time.monotonic() - t_start - setup_s

        # ---- idle memory
        mem: dict[tuple[str, str], list[ProcMem]] = {}
        for name in runtimes:
            c = ctrs[name]
            cid = f"{SHORT[name]}-idle"
            checked(c.run(cid, ["sleep", "1000"], "-d"), f"{name} ctr run -d")
            task = daemon.tasks().get(cid)
            if task is None or task[1] != "RUNNING":
                raise BenchError(f"{name}: task {cid} is {task}")
            pids = wait_idle(f"{daemon.cgroup_parent}/{cid}", opts.quiet)
            mem[("ctr run -d", name)] = measure_memory(pids, task[0], name)
            problems += c.cleanup()
            reap_zombie_children(keep=LIVE_DAEMON_PIDS)
            if opts.no_direct:
                continue
            d = directs[name]
            cid = f"{SHORT[name]}-idle"
            write_config(bundle, ["sleep", "1000"], f"{direct_cg}/{cid}")
            pid = d.create(cid)
            d.start(cid)
            pids = wait_idle(f"{direct_cg}/{cid}", opts.quiet)
            mem[("create+start", name)] = measure_memory(pids, pid, name)
            d.kill(cid)
            d.wait_exit(cid)
            d.delete(cid)
            reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        mem_s = time.monotonic() - t_start - setup_s - start_s
    finally:
        for c in ctrs.values():
            try:
                problems += c.cleanup()
            except AssertionError as e:
                problems.append(str(e))
        for d in directs.values():
            problems += d.cleanup()
        problems += daemon.stop()
        left = remove_cgroup_tree(direct_cg)
        if left:
            rel = sorted({Path(p).relative_to(Path(p).parents[1]).as_posix() for p in left})
            problems.append(f"direct runs left cgroups (removed now): {', '.join(rel)}")
        reap_zombie_children(keep=LIVE_DAEMON_PIDS)
        shutil.rmtree(work, ignore_errors=True)

    # ---- report
    names = list(runtimes)
    ref, box = names[0], names[-1]
    load = os.getloadavg()
    print(
        f"OCI runtimes: start-up and idle memory. reps={opts.reps} warmup={opts.warmup} "
        f"cpus={os.cpu_count()} loadavg={load[0]:.2f} (shared machine: absolute numbers are noisy, "
        "compare ratios)"
    )
    for name, binary in runtimes.items():
        print(f"  {name}: {binary}")
    print(f"  took: setup {setup_s:.1f} s, start-up {start_s:.1f} s, memory {mem_s:.1f} s")
    print()
    rows: list[tuple[str, ...]] = []
    head = ("start-up, ms (median / p90)", *names, f"{box}/{ref}")

    def row(label: str, s: Series, with_ratio: bool = True) -> None:
        r = ratio(s.med(box), s.med(ref)) if with_ratio else ""
        rows.append((label, *(s.cell(n) for n in names), r))

    row("ctr run --rm IMG true", ctr_run)
    if not opts.no_direct:
        row("BIN run (direct, foreground)", d_run)
        row("BIN: the shim's calls, in a row", steps["total"])
        for k, label in STEPS.items():
            row(f"  {label}", steps[k], k != "exit")  # exit: ~0 ms, not a cost
        over = []
        for n in names:
            a, b = ctr_run.med(n), steps["total"].med(n)
            over.append(f"{a - b:7.0f}" if a is not None and b is not None else "n/a")
        rows.append(("containerd+shim+ctr (median diff)", *over, ""))
    table(head, rows)
    for name, count in kept_after_run.items():
        print(
            f"note: `{name} run` kept the stopped container (state, cgroup) in {count} of "
            f"{opts.reps + opts.warmup} runs, until a `delete` (untimed here)"
        )

    print()
    head = ("idle `sleep 1000`, kB", "pid", "process", "RSS", "PSS", "USS")
    totals: dict[tuple[str, str], tuple[int, int, int]] = {}
    rows = []
    for (how, name), pm in mem.items():
        for p in pm:
            kb = (f"{p.rss:,}", f"{p.pss:,}", f"{p.uss:,}")
            rows.append((f"{how} {name}: {p.role}", str(p.pid), p.cmd, *kb))
        tot = (sum(p.rss for p in pm), sum(p.pss for p in pm), sum(p.uss for p in pm))
        totals[(how, name)] = tot
        rows.append((f"{how} {name}: total ({len(pm)} processes)", "", "", *(f"{t:,}" for t in tot)))
    table(head, rows)
    print()
    head = ("idle memory total, kB", *(f"{n} {m}" for n in names for m in ("RSS", "PSS", "USS")),
            *(f"{m} {box}/{ref}" for m in ("RSS", "PSS", "USS")))  # fmt: skip
    rows = []
    for how in dict.fromkeys(h for h, _ in mem):
        cells = [f"{t:,}" for n in names for t in totals[(how, n)]]
        rs = [ratio(float(totals[(how, box)][i]), float(totals[(how, ref)][i])) for i in range(3)]
        rows.append((how, *cells, *rs))
    table(head, rows)
    if problems:
        print("\ncleanup complaints:\n" + "\n".join(problems))
        return 1
    return 0


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        sys.exit(f"benchmark failed: {e}")
