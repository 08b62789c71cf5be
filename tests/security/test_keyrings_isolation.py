"""Keys stay inside the sandbox: the sentry implements add_key, request_key and keyctl,
so nothing a workload makes reaches the host kernel's keyrings (which every container on
the host shares: a user keyring is per host uid), nothing outlives the sandbox, and two
sandboxes do not share keys or named keyrings.

Run: ``python3 -m pytest tests/security/test_keyrings_isolation.py``.
"""

from __future__ import annotations

import ctypes
import errno
import secrets
from pathlib import Path

from helpers.runner import BASE_ENV, runsc

SRC = Path(__file__).resolve().parent / "src" / "keys_leave.c"
_libc = ctypes.CDLL(None, use_errno=True)
_SYS_KEYCTL, _KEYCTL_SEARCH = 250, 10


def _host_search(keyring: int, desc: str) -> int:
    """errno of the host's KEYCTL_SEARCH of *keyring* for a user key *desc* (0: found)."""
    r = _libc.syscall(_SYS_KEYCTL, _KEYCTL_SEARCH, ctypes.c_long(keyring), b"user",
                      desc.encode(), 0)
    return 0 if r >= 0 else ctypes.get_errno()


def test_keys_neither_reach_the_host_nor_outlive_the_sandbox(runsc_root, c_program, tmp_path):
    exe = c_program(SRC)
    desc = f"runsc-py-leak-{secrets.token_hex(8)}"
    for _ in range(2):
        res = runsc(["do", "--", str(exe), desc], root=runsc_root, env=BASE_ENV,
                    cwd=tmp_path, timeout=60)
        assert res.rc == 0, res.describe()
        assert res.stdout.splitlines() == [
            "before: request_key ENOKEY user keyring ENOKEY user session keyring ENOKEY",
            "made"], res.describe()
        # The host's user and user session keyrings of this (root) test, and every key
        # the host lets root view.
        assert _host_search(-4, desc) in (errno.ENOKEY, errno.EACCES)
        assert _host_search(-5, desc) in (errno.ENOKEY, errno.EACCES)
        assert desc not in Path("/proc/keys").read_text()
