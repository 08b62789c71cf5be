"""Conformance scores of the sandbox (not a test: it takes long). Root, Debian 12.

    python3 benchmarks/compat_scores.py cpython [--modules core|all|test_a,test_b] [--out DIR]
    python3 benchmarks/compat_scores.py stress [--out DIR]
    python3 benchmarks/compat_scores.py ctests [--out DIR]
    python3 benchmarks/compat_scores.py report [--out DIR]     # markdown of all three

Each part writes a list file and runs ``compat suite --list`` on it (niced) with a state file
in DIR (default ``/tmp/runsc-py-compat``), so an interrupted run resumes where it stopped and a
bigger selection reuses what a smaller one finished; then it prints the report and saves it
as JSON beside the state.

- ``cpython``: CPython's own regression tests (Debian's ``libpython3.11-testsuite``), one
  module a case, run by the system ``/usr/bin/python3.11`` both natively and sandboxed through
  ``regrtest_case.py`` (a module regrtest skips as a whole is a skip). ``core`` is a
  representative subset of the modules that exercise the OS (files, processes, signals,
  sockets, terminals, memory) and the interpreter's everyday libraries; ``all`` is every
  module of ``--list-tests``, ``core`` first.
- ``stress``: stress-ng's stressors of the classes os, filesystem, interrupt and scheduler, one
  at a time, one worker, three seconds (``stress-ng --NAME 1 -t 3``); a stressor "runs" when it
  exits 0. :data:`STRESS_SKIP` lists the ones never started, and why.
- ``ctests``: the project's differential C programs (``tests/syscalls/src``), compiled with
  ``cc``, each run in a fresh work directory; a sandboxed run passes when its exit status is 0
  and its stdout is the native one's (``--compare-stdout``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = "/usr/bin/python3.11"

CPYTHON_CORE = """
test_os test_posix test_posixpath test_genericpath test_shutil test_tempfile test_glob
test_fnmatch test_pathlib test_stat test_fileio test_file test_fcntl test_select
test_selectors test_poll test_epoll test_signal test_subprocess test_threading test_thread
test_threading_local test_socketserver test_pty test_mmap test_resource test_pwd test_grp
test_time test_sched test_getpass test_wait3 test_wait4 test_fork1 test_popen test_sys
test_faulthandler test_tracemalloc test_platform test_sysconfig test_site test_cmd_line
test_cmd_line_script test_import test_compileall test_py_compile test_linecache test_json
test_re test_zlib test_gzip test_bz2 test_lzma test_tarfile test_zipfile test_sqlite3
test_hashlib test_random test_math test_bisect test_heapq test_collections test_itertools
test_functools test_dict test_list test_set test_bytes test_struct test_array test_base64
test_binascii test_csv test_argparse test_shlex test_filecmp test_fileinput test_dbm
test_mailbox test_uuid test_getopt test_logging test_unicode_file test_fstring test_pickle
""".split()

# stress-ng stressors never started (they could harm the host or other users of it, or
# fill memory or disk); from stress-ng(1).
STRESS_SKIP = {
    "apparmor": "loads AppArmor profiles",
    "bad-ioctl": "ioctls on the host's device nodes as root",
    "bigheap": "grows the heap until memory runs out",
    "bind-mount": "mounts",
    "binderfs": "mounts binderfs",
    "brk": "grows the heap until memory runs out",
    "copy-file": "large files on disk",
    "cpu-online": "takes CPUs offline",
    "cyclic": "real-time scheduling starves other processes",
    "dev": "ioctls on the host's device nodes",
    "dev-shm": "fills /dev/shm",
    "dirdeep": "creates directories until the filesystem refuses",
    "dirmany": "creates files until the filesystem refuses",
    "efivar": "reads EFI variables",
    "fallocate": "large files on disk",
    "fsize": "grows a file to the file-size limit",
    "hdd": "writes a gigabyte to disk",
    "icmp-flood": "floods the network",
    "idle-page": "writes /sys/kernel/mm/page_idle",
    "iomix": "large files on disk",
    "kvm": "creates virtual machines",
    "loadavg": "thousands of busy threads",
    "loop": "attaches loop devices",
    "madvise": "MADV_HWPOISON as root poisons pages",
    "malloc": "allocates until memory runs out",
    "memhotplug": "takes memory offline",
    "mlock": "locks memory",
    "mlockmany": "locks memory",
    "mmaphuge": "huge pages",
    "numa": "migrates pages between nodes",
    "oom-pipe": "fills memory until the OOM killer runs",
    "opcode": "executes random instructions natively",
    "pageswap": "swaps pages",
    "pci": "reads PCI configuration space",
    "quota": "quota control",
    "race-sched": "real-time scheduling races",
    "ramfs": "mounts",
    "rawpkt": "raw packets on the host network",
    "rawsock": "raw sockets on the host network",
    "rawudp": "raw sockets on the host network",
    "readahead": "large files on disk",
    "reboot": "calls reboot(2)",
    "resources": "consumes every kind of resource",
    "revio": "large files on disk",
    "rtc": "sets RTC alarms",
    "schedpolicy": "real-time scheduling starves other processes",
    "seek": "large files on disk",
    "set": "settimeofday and other system settings",
    "softlockup": "real-time scheduling to provoke soft lockups",
    "swap": "swapon/swapoff",
    "sync-file": "large files on disk",
    "sysfs": "reads and writes sysfs",
    "sysinval": "invalid arguments to every syscall, natively, as root",
    "tlb-shootdown": "cross-CPU interrupts that slow other processes",
    "tmpfs": "fills a tmpfs",
    "tun": "creates network devices",
    "udp-flood": "floods the network",
    "umount": "mounts",
    "vm": "allocates until memory runs out",
    "watchdog": "opens /dev/watchdog (can reboot the machine)",
}
STRESS_CLASSES = ("os", "filesystem", "interrupt", "scheduler")


def run_suite(out: Path, part: str, list_lines: list[str], args: argparse.Namespace,
              extra: Sequence[str] = ()) -> int:
    out.mkdir(parents=True, exist_ok=True)
    lst = out / f"{part}.list"
    lst.write_text("\n".join(list_lines) + "\n")
    state = out / f"{part}.state.jsonl"
    cmd = [
        "nice", "-n", "10", sys.executable, "-c",
        "from runsc_py.compat.suite import suite; suite(prog_name='compat suite')",
        "--list", str(lst), "--state", str(state), "--timeout", str(args.timeout),
        "--jobs", str(args.jobs), *extra,
    ]
    print("+", shlex.join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=REPO)
    if rc in (0, 1):
        # again from the state alone (nothing left to run), for the machine-readable copy
        js = subprocess.run(cmd + ["--json"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, check=False)
        (out / f"{part}.json").write_bytes(js.stdout)
    return rc


def cpython(args: argparse.Namespace) -> int:
    if not Path("/usr/lib/python3.11/test/regrtest.py").exists():
        sys.exit("needs Debian's libpython3.11-testsuite")
    if args.modules == "core":
        mods = CPYTHON_CORE
    elif args.modules == "all":
        listed = subprocess.run([PYTHON, "-m", "test", "--list-tests"], stdout=subprocess.PIPE,
                                text=True, check=True).stdout.split()
        mods = CPYTHON_CORE + [m for m in listed if m not in CPYTHON_CORE]
    else:
        mods = args.modules.split(",")
    adapter = REPO / "benchmarks" / "regrtest_case.py"
    lines = [shlex.join([PYTHON, str(adapter), m]) for m in mods]
    return run_suite(args.out, "cpython", lines, args)


def stressors() -> list[str]:
    names: set[str] = set()
    for cls in STRESS_CLASSES:
        text = subprocess.run(["stress-ng", "--class", f"{cls}?"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False).stdout
        m = re.search(r"stressors:(.*)", text)
        if m:
            names.update(m.group(1).split())
    return sorted(names)


def stress(args: argparse.Namespace) -> int:
    names = stressors()
    if not names:
        sys.exit("needs stress-ng")
    print(f"{len(names)} stressors in {', '.join(STRESS_CLASSES)}; skipped "
          f"{len(set(names) & set(STRESS_SKIP))}:")
    for n in sorted(set(names) & set(STRESS_SKIP)):
        print(f"  {n}: {STRESS_SKIP[n]}")
    lines = [f"stress-ng --{n} 1 -t 3" for n in names if n not in STRESS_SKIP]
    return run_suite(args.out, "stress", lines, args)


def ctests(args: argparse.Namespace) -> int:
    bindir = args.out / "ctests-bin"
    bindir.mkdir(parents=True, exist_ok=True)
    lines = []
    for src in sorted((REPO / "tests" / "syscalls" / "src").glob("*.c")):
        exe = bindir / src.stem
        subprocess.run(["cc", "-O0", "-std=gnu11", "-pthread", "-o", str(exe), str(src)],
                       check=True)
        lines.append(shlex.join([str(exe), "."]))
    return run_suite(args.out, "ctests", lines, args, ["--compare-stdout"])


def report(args: argparse.Namespace) -> int:
    """Markdown of every part in DIR, from its state alone: the units both runs finished
    (a part interrupted at a deadline is reported as far as it got)."""
    for part in ("cpython", "stress", "ctests"):
        state = args.out / f"{part}.state.jsonl"
        if not state.exists():
            continue
        runs: dict[str, set[str]] = {}
        for line in state.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            runs.setdefault(rec["source"], set()).add(rec["mode"])
        done = [src for src, modes in runs.items() if modes == {"native", "sandbox"}]
        lst = args.out / f"{part}.done.list"
        lst.write_text("\n".join(done) + "\n")
        cmd = [sys.executable, "-c", "from runsc_py.compat.suite import suite; suite()",
               "--list", str(lst), "--state", str(state), "--json",
               *(["--compare-stdout"] if part == "ctests" else [])]
        out = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             check=False).stdout
        rep = json.loads(out)
        t = rep["total"]
        short = {s["source"]: _short(s["source"]) for s in rep["sources"]}
        print(f"\n## {part}: {t['cases']} cases\n")
        print("| | cases | pass natively | pass sandboxed | sandboxed, of the native passes |")
        print("|---|---|---|---|---|")
        print(f"| total | {t['cases']} | {t['native_pass']} ({_pc(t['native_rate'])}) | "
              f"{t['sandbox_pass']} ({_pc(t['sandbox_rate'])}) | "
              f"{t['native_pass_sandbox_pass']}/{t['native_pass']} "
              f"({_pc(t['sandbox_rate_of_native_pass'])}) |")
        print(f"\nskipped natively: {t['native_skip']}; pass only sandboxed: "
              f"{t['sandbox_only_pass']}\n")
        print("Work list (passes natively, not sandboxed):\n")
        for w in rep["work_list"]:
            print(f"- `{_short(w['case'])}`: {w['sandbox']} — {w['reason'][:200]}")
        print(f"\nRan: {' '.join(sorted(short.values()))}")
    return 0


def _short(source: str) -> str:
    """test_os for a regrtest line, the stressor for a stress-ng one, the program's name."""
    words = shlex.split(source)
    if "regrtest_case.py" in source:
        return words[-1]
    if words[0] == "stress-ng":
        return words[1].lstrip("-")
    return Path(words[0]).name


def _pc(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", choices=["cpython", "stress", "ctests", "report"])
    ap.add_argument("--out", type=Path, default=Path("/tmp/runsc-py-compat"))
    ap.add_argument("--modules", default="core", help="core, all, or a comma-separated list")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    if args.part == "stress" and args.timeout == 600.0:
        args.timeout = 60.0
    parts = {"cpython": cpython, "stress": stress, "ctests": ctests, "report": report}
    return parts[args.part](args)


if __name__ == "__main__":
    sys.exit(main())
