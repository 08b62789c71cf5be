"""Differential syscall tests: each ``src/*.c`` program runs natively and in the sandbox.

Each program exercises one syscall family and prints one deterministic line per check (see
``src/check.h``). It is compiled with ``cc -O0`` twice (dynamic and static, the latter never
touches ld.so), run natively as pid 1 of a fresh pid namespace (``unshare --pid --fork
--mount-proc``, so that pid values and pid-1 semantics are those of the sandbox), then in the
sandbox (``runsc-py do``) in the same, freshly emptied work directory; exit status and stdout
must be identical. The ``python`` variant runs with ``--python-only`` (C fast path off).

Run: ``python3 -m pytest tests/syscalls`` (``--native-only`` checks the native half only).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent / "src"
PROGRAMS = sorted(p.stem for p in SRC.glob("*.c"))
VARIANTS = ["dyn", "static", "dyn-python-only"]


def _fresh(d: Path) -> Path:
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    return d


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("prog", PROGRAMS)
def test_program_matches_native(prog, variant, c_program, sandbox, tmp_path):
    from helpers.runner import run_native

    exe = c_program(SRC / f"{prog}.c", static=variant == "static")
    work = tmp_path / "work"
    cmd = [str(exe), str(work)]

    native = run_native(cmd, cwd=_fresh(work))
    assert native.rc == 0 and "FATAL" not in native.stdout, (
        f"native run of {prog} is broken:\n{native.describe()}"
    )
    assert native.stdout.count("\n") > 5

    boxed = sandbox.do(cmd, cwd=_fresh(work), python_only=variant.endswith("python-only"), timeout=30)
    assert boxed.rc == native.rc, f"exit status differs\n{boxed.describe()}"
    assert boxed.stdout.splitlines() == native.stdout.splitlines(), boxed.stderr[-3000:]


#: What host_pipes.c reads from its stdin when it is a pipe.
HOST_PIPE_INPUT = b"hello world, and more to read from the host pipe\n"


@pytest.mark.parametrize("variant", VARIANTS)
def test_host_pipes_with_stdin_a_pipe(variant, c_program, sandbox, tmp_path):
    """host_pipes.c again, its stdin a pipe with bytes in it (its stdin half runs): the
    sandbox's stdin and stdout are then both pipes it was given, as under an engine."""
    from helpers.runner import run_native

    exe = c_program(SRC / "host_pipes.c", static=variant == "static")
    work = tmp_path / "work"
    cmd = [str(exe), str(work)]
    native = run_native(cmd, cwd=_fresh(work), input=HOST_PIPE_INPUT)
    assert native.rc == 0 and "stdin is not a pipe" not in native.stdout, native.describe()
    assert "rest: " in native.stdout
    boxed = sandbox.do(cmd, cwd=_fresh(work), input=HOST_PIPE_INPUT,
                       python_only=variant.endswith("python-only"), timeout=30)
    assert boxed.rc == native.rc, f"exit status differs\n{boxed.describe()}"
    assert boxed.stdout.splitlines() == native.stdout.splitlines(), boxed.stderr[-3000:]
