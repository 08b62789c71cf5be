"""Compile the C test programs with the host compiler (``cc``; build-essential)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CC = shutil.which("cc") or shutil.which("gcc") or "cc"
CFLAGS = [
    "-O0",
    "-g",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-std=gnu11",
    "-pthread",
]


def compile_c(src: Path, out_dir: Path, *, static: bool = False, extra: list[str] | None = None) -> Path:
    """Compile *src* into *out_dir*; return the executable's path.

    :raises AssertionError: with the compiler's output, if compilation fails.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / (src.stem + ("-static" if static else "-dyn"))
    argv = [
        CC,
        *CFLAGS,
        *(extra or []),
        *(["-static"] if static else []),
        "-o",
        str(exe),
        str(src),
    ]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"compile failed: {' '.join(argv)}\n{proc.stderr[-4000:]}"
    return exe
