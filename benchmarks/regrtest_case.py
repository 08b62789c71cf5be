"""Run one CPython regression-test module as a ``compat suite`` case.

``python3 regrtest_case.py test_x`` runs ``python3 -m test test_x`` with the same interpreter
and exits with its status, except that a module regrtest skipped as a whole (exit 0, "1 test
skipped") exits 77, the suite runner's skip.
"""

from __future__ import annotations

import re
import subprocess
import sys


def main() -> int:
    proc = subprocess.run([sys.executable, "-m", "test", *sys.argv[1:]], stdout=subprocess.PIPE)
    out = proc.stdout.decode(errors="replace")
    sys.stdout.write(out)
    sys.stdout.flush()
    if proc.returncode == 0 and re.search(r"^1 test skipped:", out, re.M) and not re.search(
        r"^1 test OK", out, re.M
    ):
        return 77
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
