"""Design §7.6: the sentry survives hostile syscall arguments.

Forked children make a few thousand calls with bad pointers, huge lengths and
negative values (tests/security/src/fuzz_args.c, deterministic seeds); whatever
happens to them, the sandbox must keep answering (the parent prints "alive 1"),
the sentry must not fail (exit status 0, no "internal error"), and the
debug log must hold no handler traceback (a sentry bug answered -EFAULT).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.runner import BASE_ENV, runsc

SRC = Path(__file__).resolve().parent / "src" / "fuzz_args.c"


@pytest.mark.parametrize("seed", [1, 0xC0FFEE, 424242])
def test_hostile_arguments_do_not_break_the_sentry(seed, runsc_root, c_program, tmp_path):
    exe = c_program(SRC)
    log = tmp_path / "debug.log"
    res = runsc(["do", "--", str(exe), str(seed), "12"], root=runsc_root, env=BASE_ENV,
                cwd=tmp_path, timeout=120, debug_log=str(log))
    assert res.rc == 0 and res.stdout.strip() == "alive 1", res.describe()
    assert "internal error" not in res.stderr
    text = log.read_text() if log.exists() else ""
    assert "Traceback" not in text, text[-4000:]
