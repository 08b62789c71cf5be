"""Design §5 and §7.1: a syscall through a foreign ABI (the ia32 ``int 0x80`` entry,
an x32 number) never reaches the host kernel nor the sentry: the filter kills the
process (SIGSYS).  The filter test checks the BPF program; this checks the
installed filter does it to a running workload."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent / "src" / "foreign_abi.c"


@pytest.mark.parametrize("mode", ["int80", "x32"])
def test_foreign_abi_kills_the_process(mode, sandbox, c_program, tmp_path):
    exe = c_program(SRC, static=True)
    res = sandbox.do([str(exe), mode], cwd=tmp_path, timeout=30)
    assert res.stdout == "before\n", res.describe()
    assert res.rc == 128 + signal.SIGSYS, res.describe()


def test_native_abi_control(sandbox, c_program, tmp_path):
    exe = c_program(SRC, static=True)
    res = sandbox.do([str(exe), "native"], cwd=tmp_path, timeout=30)
    assert res.rc == 0 and res.stdout == "before\nreturned 1\n", res.describe()
