#!/usr/bin/env python3
"""runsc-py benchmarks: trapped-syscall cost against its own floor, and real workloads.

Run on demand, never in CI: ``python3 benchmarks/run.py`` prints one table (default run well
under 3 minutes on a 2-vCPU VM). Every ratio is taken in the same run (design §8):

- getppid and 4 KiB pread64, ns/call, four ways: native; the *floor* (``src/floor_notif.c``, a
  minimal C seccomp user-notification supervisor with SYNC_WAKE_UP answering the calls itself);
  ``runsc-py do`` (C fast path); ``runsc-py --python-only do``. Targets: sandbox-C/floor <= 1.3,
  sandbox-Python/floor <= 3.
- ``/usr/bin/python3 -I -c pass`` start-up, native vs ``runsc-py do`` (median wall time).
- a busybox sh loop of 200 fork+exec of busybox ``true``, native vs ``runsc-py do``.

The loop programs time themselves inside the workload (vDSO clock) and are static, so the
dynamic loader's own syscalls are not in the way. Options: ``--reps`` (median of), ``--scale``
(multiplies every N), ``--only getppid,read,python,fork``.

``--only oci`` (not in the default: root, containerd, about 50 s) runs ``oci.py``:
container start-up and idle memory of runsc-py vs runc, through containerd and alone.
``--only startup`` (not in the default: root, about a minute) runs ``startup.py``: issue 8's
start-up comparison (run+delete, create+start+delete, do) against runc, one table.
``--only servers`` (not in the default: root, nginx, redis, wrk, about 2 minutes) runs
``servers.py``: nginx and redis throughput and socket ping-pong latency, sandbox vs native.
``--only fuzz`` (not in the default: about 5 minutes) runs ``fuzz.py``: 10^6 fuzzed syscalls
and Debian's trinity inside the sandbox; it prints calls/s and any invariant that broke.
``--only files`` (not in the default: about 5 minutes) runs ``files.py``: file-heavy programs
(tree walks, imports, tar, gcc, git status) and start-up, native vs proot vs ``runsc-py do``,
with a cProfile of the sentry on the slowest.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.runner import BASE_ENV, runsc_argv  # noqa: E402

CC = shutil.which("cc") or "cc"
SYSTEM_PYTHON = "/usr/bin/python3"
BUSYBOX = "/bin/busybox"
TIMEOUT = 300


class BenchError(RuntimeError):
    pass


def build(out: Path) -> dict[str, Path]:
    exes = {}
    for name, static in (("getppid_loop", True), ("read_loop", True), ("floor_notif", False)):
        exe = out / name
        argv = [CC, "-O2", "-Wall", "-o", str(exe), str(HERE / "src" / f"{name}.c")]
        if static:
            argv.insert(1, "-static")
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"compile failed: {' '.join(argv)}\n{proc.stderr}")
        exes[name] = exe
    return exes


def _run(argv: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=BASE_ENV,
            cwd=cwd,
            timeout=TIMEOUT,
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"timeout: {argv[:6]}") from e
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(f"rc={proc.returncode}: {msg[-1] if msg else ''}"[:70])
    return proc.stdout


def ns_per_call(argv: list[str], cwd: Path, reps: int) -> float:
    vals = []
    for _ in range(reps):
        out = _run(argv, cwd)
        m = re.search(r"ns_per_call=([\d.]+) n=\d+ errors=(\d+)", out)
        if not m:
            raise BenchError(f"unexpected output: {out[:100]!r}")
        if m.group(2) != "0":
            raise BenchError(f"{m.group(2)} wrong results")
        vals.append(float(m.group(1)))
    return statistics.median(vals)


def wall(argv: list[str], cwd: Path, reps: int) -> float:
    vals = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _run(argv, cwd)
        vals.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(vals)


def sandbox(root: Path, python_only: bool = False) -> list[str]:
    return runsc_argv() + ["--root", str(root)] + (["--python-only"] if python_only else []) + ["do", "--"]


def measure(fn, *a) -> float | str:
    try:
        return fn(*a)
    except BenchError as e:
        return f"n/a ({e})"


def fmt(v: float | str, unit: str) -> str:
    return f"{v:,.0f} {unit}" if isinstance(v, float) else v


def ratio(a: float | str, b: float | str) -> str:
    return f"{a / b:.2f}x" if isinstance(a, float) and isinstance(b, float) and b else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per cell (median)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every iteration count")
    ap.add_argument("--only", default="getppid,read,python,fork")
    opts = ap.parse_args()
    only = set(opts.only.split(","))
    for name in ("oci", "startup", "servers", "fuzz", "files"):  # their own tables and options
        if name in only:
            rc = subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False).returncode
            only.discard(name)
            if rc or not only:
                return rc

    def n(x: int) -> str:
        return str(max(100, int(x * opts.scale)))

    work = Path(tempfile.mkdtemp(prefix="rbench"))
    root = work / "root"
    root.mkdir()
    try:
        exes = build(work)
        data = work / "data4k"
        data.write_bytes(os.urandom(8192))
        rows: list[tuple[str, str, str, str, str]] = []
        targets: list[str] = []

        def trapped(name, loop_args_for, nat_n, floor_n, c_n, py_n, floor_extra):
            nat = measure(ns_per_call, [*loop_args_for(nat_n)], work, opts.reps)
            floor = measure(
                ns_per_call,
                [str(exes["floor_notif"]), *floor_extra, "--", *loop_args_for(floor_n)],
                work,
                opts.reps,
            )
            c = measure(ns_per_call, sandbox(root) + loop_args_for(c_n), work, opts.reps)
            py = measure(ns_per_call, sandbox(root, True) + loop_args_for(py_n), work, opts.reps)
            rows.append((f"{name} native", fmt(nat, "ns"), "1.00x", "", ""))
            rows.append((f"{name} floor (C notif)", fmt(floor, "ns"), ratio(floor, nat), "1.00x", ""))
            rows.append((f"{name} sandbox C", fmt(c, "ns"), ratio(c, nat), ratio(c, floor), "<= 1.3x"))
            rows.append((f"{name} sandbox Python", fmt(py, "ns"), ratio(py, nat), ratio(py, floor), "<= 3x"))
            for label, v, lim in (("C", c, 1.3), ("Python", py, 3.0)):
                if isinstance(v, float) and isinstance(floor, float):
                    ok = v / floor <= lim
                    targets.append(f"{name} sandbox {label}/floor {v / floor:.2f} (target <= {lim}): "
                                   + ("met" if ok else "MISSED"))  # fmt: skip

        if "getppid" in only:
            trapped(
                "getppid",
                lambda k: [str(exes["getppid_loop"]), k],
                n(2_000_000),
                n(100_000),
                n(50_000),
                n(10_000),
                [],
            )
        if "read" in only:
            trapped(
                "pread 4KiB",
                lambda k: [str(exes["read_loop"]), str(data), k],
                n(500_000),
                n(50_000),
                n(30_000),
                n(5_000),
                ["-f", str(data)],
            )
        if "python" in only and Path(SYSTEM_PYTHON).exists():
            cmd = [SYSTEM_PYTHON, "-I", "-c", "pass"]
            reps = max(5, opts.reps * 3)
            nat = measure(wall, cmd, work, reps)
            box = measure(wall, sandbox(root) + cmd, work, reps)
            rows.append(("python3 -c pass native", fmt(nat, "ms"), "1.00x", "", ""))
            rows.append(("python3 -c pass sandbox", fmt(box, "ms"), ratio(box, nat), "", ""))
        if "fork" in only and Path(BUSYBOX).exists():
            bb = work / "bb"
            bb.mkdir()
            (bb / "true").symlink_to(BUSYBOX)
            script = f"for i in $(seq 200); do {bb}/true; done"
            cmd = [BUSYBOX, "sh", "-c", script]
            nat = measure(wall, cmd, work, opts.reps)
            box = measure(wall, sandbox(root) + cmd, work, opts.reps)
            rows.append(("sh: 200 fork+exec native", fmt(nat, "ms"), "1.00x", "", ""))
            rows.append(("sh: 200 fork+exec sandbox", fmt(box, "ms"), ratio(box, nat), "", ""))

        head = ("case", "value (median)", "x native", "x floor", "target")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
        load = os.getloadavg()
        print(f"runsc-py benchmarks: reps={opts.reps} scale={opts.scale} cpus={os.cpu_count()} "
              f"loadavg={load[0]:.2f}")  # fmt: skip
        print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        print("-" * (sum(widths) + 8))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        for t in targets:
            print(t)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
