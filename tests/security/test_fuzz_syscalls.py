"""Design §7 (the workload is hostile): the whole syscall surface under fire.

``tests/security/src/fuzz.c`` runs every syscall number (and numbers past the table)
from several threads with hostile arguments, a thread rewriting the argument memory
meanwhile, risky calls in forked children (see its header). Invariants checked here:

- the sentry never crashes or hangs: the sandbox exits with the fuzzer's own status
  (0, "fuzz ok") within the timeout, with no "internal error" and no traceback in the
  debug log (a handler that raised is a sentry bug even though the call got -EFAULT);
- every answer is a value or an errno Linux could give (the fuzzer checks each one and
  exits 1 with "IMPOSSIBLE ..." otherwise, 2 with "HANG ..." for a call or a worker
  that stops making progress);
- the host shows no side effect: the canary tree the fuzzer aims paths at is unchanged,
  no name the fuzzer creates appears on the host (its work directory is made in the
  sandbox's view of the test's directory), and no process is left (``runsc_root``).

The seeds are fixed, so a failure reproduces (up to thread interleaving) with
``runsc-py do -- fuzz SEED CALLS THREADS CANARY``. ``benchmarks/fuzz.py`` runs 10^6 calls
and Debian's trinity inside the sandbox. The cases in ``src/fuzz_regress.c`` are what
the fuzzer found, one regression test each.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import bpf
from helpers.runner import BASE_ENV, runsc, runsc_argv

SRC = Path(__file__).resolve().parent / "src"

#: 2 x 50,000 calls: the suite's 10^5.
SEEDS = (0x5EED1, 0x5EED2)
CALLS = 50_000
THREADS = 4


def implemented_numbers() -> str:
    """What the sandbox implements (an ENOSYS from one of these is counted apart)."""
    from sentry.syscalls.linux import linux64

    return ",".join(str(e.nr) for e in linux64.TABLE
                    if e is not None and e.handler is not None and e.support != linux64.UNSUPPORTED)


def make_canary(root: Path) -> Path:
    canary = root / "canary"
    (canary / "sub").mkdir(parents=True)
    (canary / "file").write_text("the host's file\n")
    (canary / "sub" / "inner").write_text("inner\n")
    (canary / "link").symlink_to("file")
    os.chmod(canary / "file", 0o644)
    return canary


def snapshot(top: Path) -> dict[str, tuple]:
    """Every entry below *top* (and *top*): type, mode, owner, size, mtime, content hash."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in [".", *dirnames, *filenames]:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = ""
            if p.is_symlink():
                digest = os.readlink(p)
            elif p.is_file():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[str(p.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                            st.st_mtime_ns, st.st_nlink, digest)
    return out


#: Names the fuzzer makes (its work directory, its files): none may reach the host.
FUZZ_NAMES = ("fuzz-wd.", "f0", "f1", "d0", "l0", "loop", "fifo0", "new0", "new1", "sock0")


def fuzz_droppings(*dirs: Path) -> list[str]:
    return [str(d / n) for d in dirs for n in os.listdir(d) if n.startswith(FUZZ_NAMES)]


def check_log(log: Path) -> None:
    text = log.read_text(errors="replace") if log.exists() else ""
    assert "Traceback" not in text, text[text.index("Traceback") - 2000:][:6000]
    assert "internal error" not in text, text[-4000:]


@pytest.mark.parametrize("seed", SEEDS)
def test_fuzz_every_syscall(seed, runsc_root, c_program, tmp_path):
    exe = c_program(SRC / "fuzz.c")
    canary = make_canary(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    before = snapshot(canary)
    tmp_before = set(os.listdir("/tmp"))
    log = tmp_path / "debug.log"
    t0 = time.monotonic()
    res = runsc(["do", "--", str(exe), str(seed), str(CALLS), str(THREADS), str(canary),
                 implemented_numbers()],
                root=runsc_root, env=BASE_ENV, cwd=work, timeout=240, debug_log=str(log))
    took = time.monotonic() - t0
    summary = res.stdout.splitlines()[:1]
    assert res.rc == 0 and "fuzz ok" in res.stdout, (
        res.describe()[-6000:] + f"\n(reproduce: runsc-py do -- fuzz {seed} {CALLS} {THREADS} CANARY)")
    assert "internal error" not in res.stderr, res.stderr[-4000:]
    check_log(log)
    assert snapshot(canary) == before, "the host's canary tree changed"
    assert not fuzz_droppings(work, canary, Path("/tmp")), fuzz_droppings(work, canary, Path("/tmp"))
    new_in_tmp = set(os.listdir("/tmp")) - tmp_before
    assert not [n for n in new_in_tmp if n.startswith(FUZZ_NAMES)], new_in_tmp
    print(summary, f"{took:.1f}s")


def test_filter_answers_nr_minus_one_itself():
    """-1 is "no syscall" to the kernel, which restarts nothing for it: a notification
    a signal interrupted would hand ERESTARTSYS to the workload, so the filter answers."""
    from sentry.platform.hybrid.filter import build_filter

    prog = build_filter()
    assert bpf.run(prog, bpf.seccomp_data(-1)) == bpf.SECCOMP_RET_ERRNO | 38  # ENOSYS
    assert bpf.run(prog, bpf.seccomp_data(-1, arch=bpf.AUDIT_ARCH_I386)) == bpf.SECCOMP_RET_ERRNO | 38
    assert bpf.action(bpf.run(prog, bpf.seccomp_data(-2))) == bpf.SECCOMP_RET_KILL_PROCESS  # x32 bit
    assert bpf.run(prog, bpf.seccomp_data(0)) == bpf.SECCOMP_RET_USER_NOTIF


@pytest.mark.parametrize("case", ["far-timers", "stub", "nr-minus-1", "forks"])
def test_fuzz_regression(case, runsc_root, c_program, tmp_path):
    exe = c_program(SRC / "fuzz_regress.c")
    log = tmp_path / "debug.log"
    res = runsc(["do", "--", str(exe), case], root=runsc_root, env=BASE_ENV, cwd=tmp_path,
                timeout=120, debug_log=str(log))
    assert res.rc == 0 and f"ok {case}" in res.stdout, res.describe()
    check_log(log)


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_ends_an_idle_sandbox_with_children(attempt, runsc_root, c_program, tmp_path):
    """SIGTERM to ``do`` ends the sandbox at once, whenever it lands: the sentry's loop must
    not sleep through a signal that came just before its wait (it did, about 1 in 6).
    Init has a zombie and live children, which die with it."""
    exe = c_program(SRC / "fuzz_regress.c")
    argv = runsc_argv() + ["--root", str(runsc_root), "do", "--", str(exe), "zombie"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=BASE_ENV,
                            cwd=tmp_path, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"waiting"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert rc == 128 + signal.SIGTERM, (rc, proc.stderr.read() if proc.stderr else b"")
