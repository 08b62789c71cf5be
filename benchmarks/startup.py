#!/usr/bin/env python3
"""Container start-up, runsc-py against runc, the comparison of issue 8 in one table.

Run on demand as root: ``python3 benchmarks/startup.py`` (about a minute on an idle 2-vCPU
VM; ``python3 benchmarks/run.py --only startup`` runs it too). Cases, each rep interleaved
across runtimes so that host noise hits all alike (only ratios measured in one run mean
anything, design §8):

- ``run`` + ``delete`` of a busybox bundle running ``true`` (``delete`` only if the runtime
  kept the state: runc's foreground ``run`` removes it itself);
- ``create`` + ``start`` + the init's exit + ``delete`` (the OCI lifecycle, as a shim runs it);
- ``do -- /bin/true`` (runsc-py only: the sandbox over the host's root).

Median and p90 wall time of ``--reps`` after ``--warmup``, and each median over runc's
``run`` + ``delete``. ``--runsc-py NAME=BINARY`` (repeatable) measures other builds in the
same run (any runc-compatible executable); the default is the repository's.
Nothing is left behind: containers are deleted, the cgroups and the directory removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from oci import (  # noqa: E402
    RUNTIMES,
    BenchError,
    Direct,
    build_busybox_rootfs,
    checked,
    median,
    p90,
    procs,
    reap_zombie_children,
    remove_cgroup_tree,
    require_tool,
    run,
    timed,
    write_config,
)

CASES = ("run+delete", "create+start+delete", "do /bin/true")


def do_true(d: Direct) -> None:
    res = subprocess.run(
        [d.binary, "--root", str(d.root), "do", "--", "/bin/true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if res.returncode != 0:
        raise BenchError(f"{d.name} do: rc={res.returncode} {res.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=15, help="timed runs per runtime and case")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    ap.add_argument(
        "--runsc-py",
        action="append",
        default=[],
        metavar="NAME=BINARY",
        help="a runsc-py build to measure (repeatable; default: the repository's)",
    )
    opts = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root (cgroups)")
    require_tool("runc")
    runtimes = {"runc": RUNTIMES["runc"]}
    for item in opts.runsc_py or [f"runsc-py={RUNTIMES['runsc-py']}"]:
        name, _, binary = item.partition("=")
        binary = os.path.abspath(binary)
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"{name}: {binary!r} is not an executable")
        runtimes[name] = binary
    procs.become_subreaper()

    work = Path(tempfile.mkdtemp(prefix="rsstart", dir="/tmp"))
    cg = f"/runsc-bench-{work.name}"
    directs: dict[str, Direct] = {}
    vals: dict[tuple[str, str], list[float]] = {}
    problems: list[str] = []
    try:
        bundle = work / "bundle"
        bundle.mkdir()
        build_busybox_rootfs(bundle / "rootfs")
        checked(run(["runc", "spec", "--bundle", str(bundle)]), "runc spec")
        (bundle / "config.json").rename(bundle / "config.json.orig")
        directs = {n: Direct(n, b, work, bundle) for n, b in runtimes.items()}
        for i in range(-opts.warmup, opts.reps):
            for k, (name, d) in enumerate(directs.items()):
                cid = f"r{k}-{i + opts.warmup}"
                write_config(bundle, ["true"], f"{cg}/{cid}")
                t0 = time.perf_counter()
                d.run_fg(cid)
                d.delete_if_kept(cid)
                got = {"run+delete": (time.perf_counter() - t0) * 1e3}
                cid = f"l{k}-{i + opts.warmup}"
                write_config(bundle, ["true"], f"{cg}/{cid}")
                got["create+start+delete"] = sum(
                    timed(fn, cid) for fn in (d.create, d.start, d.wait_exit, d.delete)
                )
                if name != "runc":
                    got["do /bin/true"] = timed(do_true, d)
                reap_zombie_children()
                if i >= 0:
                    for case, ms in got.items():
                        vals.setdefault((case, name), []).append(ms)
    finally:
        for d in directs.values():
            problems += d.cleanup()
        remove_cgroup_tree(cg)
        shutil.rmtree(work, ignore_errors=True)

    base = median(vals[("run+delete", "runc")])
    print(f"start-up, ms: median / p90 of {opts.reps} reps; ratio = median / runc run+delete")
    print(f"{'case':22} {'runtime':12} {'median':>8} {'p90':>8} {'ratio':>7}")
    for case in CASES:
        for name in runtimes:
            v = vals.get((case, name))
            if v:
                print(f"{case:22} {name:12} {median(v):8.1f} {p90(v):8.1f} {median(v) / base:6.2f}x")
    for p in problems:
        print("problem:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
