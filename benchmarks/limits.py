#!/usr/bin/env python3
"""How much the sentry's own memory grows with what a workload makes it hold.

Run on demand (root; about 15 minutes, 10 of them the lookups through the gofer, at
~2 ms each): ``python3 benchmarks/limits.py``.  Each load runs in
``runsc-py do`` (``src/limits_load.c``), stops when its work is done, and the sentry's
``VmRSS``/``VmHWM`` (the host's ``/proc/PID/status`` of the sentry, the tracer of the
workload) are read then:

- ``idle``: nothing (the baseline every other line is compared with);
- ``files``: 100,000 empty files in a sentry tmpfs (``/dev/shm``), and 100,000 in the
  root overlay's upper layer (``/var/tmp``);
- ``parked``: 10,000 threads each blocked in ``read(2)`` on an empty pipe: 10,000 calls
  parked in the sentry (``--pids-limit`` raised to let the threads exist);
- ``churn``: 10^3 and 4*10^3 short-lived children (a thread each) made and reaped one
  after another: the same memory both times, as nothing of a reaped process stays;
- ``walk``: stat of every entry under ``/usr/include`` (gofer files, seen through the
  overlay) plus one lookup of a missing name beside each, again and again, until 5*10^4
  and until 2*10^5 lookups: the same memory both times, as the dentry cache keeps
  ``DENTRY_CACHE_SIZE`` unused dentries per file system and missing names are not
  cached; and the same over a tmpfs tree of 10^4 files until 10^6 lookups (the tree's
  own cost is the ``files`` line's; lookups add nothing).

Options: ``--only idle,files,parked,churn,walk``, ``--scale`` (multiplies every N).
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.runner import BASE_ENV, runsc_argv  # noqa: E402

CC = shutil.which("cc") or "cc"
TIMEOUT = 900


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def sentry_of(cli_pid: int) -> int:
    """The sentry: the tracer of the workload processes under *cli_pid*."""
    kids = _children()
    todo, seen = [cli_pid], []
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo += kids.get(pid, [])
    for pid in seen:
        try:
            tracer = int(_status(pid).get("TracerPid", "0"))
        except OSError:
            continue
        if tracer:
            return tracer
    raise RuntimeError("no traced workload process found")


def kib(value: str) -> int:
    return int(value.split()[0])


def measure(exe: Path, root: str, flags: list[str], args: list[str]) -> tuple[str, int, int, float]:
    """Run one load; return (its READY line, VmRSS KiB, VmHWM KiB, seconds to READY)."""
    argv = [*runsc_argv(), "--root", root, "do", *flags, "--", str(exe), *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=BASE_ENV, cwd="/", start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        if not ready:
            raise RuntimeError(f"{args}: no READY in {TIMEOUT} s")
        line = proc.stdout.readline().decode().strip()
        took = time.monotonic() - t0
        if not line.startswith("READY"):
            raise RuntimeError(f"{args}: {line!r}")
        st = _status(sentry_of(proc.pid))
        proc.stdin.write(b"\n")
        proc.stdin.close()
        proc.wait(TIMEOUT)
        return line[6:], kib(st["VmRSS"]), kib(st["VmHWM"]), took
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="idle,files,parked,churn,walk")
    ap.add_argument("--scale", type=float, default=1.0)
    opts = ap.parse_args()
    only = set(opts.only.split(","))

    def n(x: int) -> int:
        return max(1, int(x * opts.scale))

    tmp = Path(tempfile.mkdtemp(prefix="rlim", dir="/tmp"))
    try:
        exe = tmp / "limits_load"
        subprocess.run([CC, "-O2", "-Wall", "-pthread", "-o", str(exe),
                        str(HERE / "src" / "limits_load.c")], check=True)
        exe.chmod(0o755)
        tmp.chmod(0o755)
        root = str(tmp / "root")
        os.mkdir(root)
        loads: list[tuple[str, list[str], list[str], int]] = []
        if "idle" in only:
            loads.append(("idle", [], ["files", "0", "/dev/shm"], 0))
        if "files" in only:
            loads.append(("files in /dev/shm (tmpfs)", [], ["files", str(n(100000)), "/dev/shm"],
                          n(100000)))
            loads.append(("files in /var/tmp (overlay upper)", [],
                          ["files", str(n(100000)), "/var/tmp"], n(100000)))
        if "parked" in only:
            k = n(10000)
            loads.append(("parked read(2) calls", ["--pids-limit", str(k + 100)],
                          ["parked", str(k)], k))
        if "churn" in only:
            for k in (n(1000), n(4000)):
                loads.append(("process churn", [], ["churn", str(k)], k))
        if "walk" in only:
            # Through the gofer a lookup is a round trip or more (~1 ms here): 5*10^4 and
            # 2*10^5 of them (walks of a tree four times the dentry cache and more), 10^6
            # in a tmpfs tree of 10^4 files.
            for k in (n(50000), n(200000)):
                loads.append(("lookups under /usr/include (gofer)", [],
                              ["walk", str(k), "/usr/include"], k))
            k = n(1000000)
            loads.append(("lookups in a tmpfs tree", [],
                          ["walk", str(k), "/dev/shm", str(n(10000))], k))
        base = None
        print(f"{'load':36} {'detail':32} {'VmRSS MiB':>10} {'VmHWM MiB':>10} "
              f"{'B/item':>8} {'s':>6}")
        for name, flags, args, count in loads:
            detail, rss, hwm, took = measure(exe, root, flags, args)
            if name == "idle":
                base = rss
            per = (f"{(hwm - base) * 1024 / count:8.0f}" if base is not None and count
                   else " " * 8)
            print(f"{name:36} {detail:32} {rss / 1024:10.1f} {hwm / 1024:10.1f} {per} {took:6.1f}",
                  flush=True)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
