"""The caller's stdio, donated to the workload, behaves as natively when it is a regular
file: re-opening it through /dev/stdout truncates or appends to the caller's file, and
/dev/stdin reads the caller's input file (do mode, compared with the same shell natively)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.runner import BASE_ENV, UNSHARE, runsc_argv

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
