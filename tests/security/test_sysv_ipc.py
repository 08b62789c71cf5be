"""System V IPC stays inside the sandbox (design §7.5, §7.8): the sentry implements it, so
nothing a workload makes reaches the host's IPC namespace, nothing outlives the sandbox,
and two sandboxes do not share keys.

Run: ``python3 -m pytest tests/security/test_sysv_ipc.py``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from helpers.runner import BASE_ENV, runsc

SRC = Path(__file__).resolve().parent / "src" / "sysv_leave.c"


def _host_keys() -> set[int]:
    keys = set()
    for kind in ("shm", "sem", "msg"):
        for line in Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]:
            keys.add(int(line.split()[0]))
    return keys


def test_objects_neither_reach_the_host_nor_outlive_the_sandbox(runsc_root, c_program, tmp_path):
    """§7.5: a workload's shm/sem/msg objects are the sandbox's only; left unremoved, they
    are gone with it, and a second sandbox does not find them under the same key."""
    exe = c_program(SRC)
    key = 0x5A000000 | secrets.randbits(24)
    for _ in range(2):
        res = runsc(["do", "--", str(exe), hex(key)], root=runsc_root, env=BASE_ENV,
                    cwd=tmp_path, timeout=60)
        assert res.rc == 0, res.describe()
        assert res.stdout.splitlines() == ["before: shm ENOENT sem ENOENT msg ENOENT", "made"], \
            res.describe()
        assert key not in _host_keys()
