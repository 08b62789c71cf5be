"""The caller's stdio, donated to the workload, behaves as natively when it is a regular
file: re-opening it through /dev/stdout truncates or appends to the caller's file, and
/dev/stdin reads the caller's input file (do mode, compared with the same shell natively);
when it is the host's /dev/urandom, its ioctls are random(4)'s (isatty(3) says EINVAL)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.runner import BASE_ENV, UNSHARE, runsc_argv

RANDOM_IOCTL = Path(__file__).resolve().parents[1] / "syscalls" / "src" / "random_ioctl.c"
SCRIPT = "echo first > /dev/stdout; echo second >> /dev/stdout; cat /dev/stdin; wc -c < /dev/stdin"


def _run(argv: list[str], tmp_path: Path, name: str) -> tuple[int, str]:
    inp = tmp_path / "in.txt"
    inp.write_text("input line\n")
    out = tmp_path / name
    out.write_text("previous content that must be truncated\n")
    with open(inp) as i, open(out, "r+") as o:
        rc = subprocess.run(argv, stdin=i, stdout=o, env=BASE_ENV, cwd=tmp_path, timeout=60).returncode
    return rc, out.read_text()


def test_regular_file_stdio_matches_native(runsc_root, tmp_path: Path):
    native_argv = [UNSHARE, "--pid", "--fork", "--mount-proc", "--", "/bin/sh", "-c", SCRIPT]
    native = _run(native_argv, tmp_path, "native.txt")
    boxed = _run(runsc_argv() + ["--root", str(runsc_root), "do", "--", "/bin/sh", "-c", SCRIPT],
                 tmp_path, "boxed.txt")
    assert native[0] == 0
    assert boxed == native


def test_urandom_stdin_ioctls_match_native(runsc_root, c_program, tmp_path: Path):
    exe = c_program(RANDOM_IOCTL)
    work = tmp_path / "work"
    work.mkdir()
    out = []
    for argv in ([UNSHARE, "--pid", "--fork", "--mount-proc", "--", str(exe), str(work)],
                 runsc_argv() + ["--root", str(runsc_root), "do", "--", str(exe), str(work)]):
        with open("/dev/urandom", "rb") as i:
            proc = subprocess.run(argv, stdin=i, capture_output=True, text=True, env=BASE_ENV,
                                  cwd=work, timeout=60)
        out.append((proc.returncode, proc.stdout))
    assert out[0][0] == 0 and "stdin TCGETS: -1 EINVAL" in out[0][1], out[0]
    assert out[1] == out[0]
