"""stress-ng's key stressor in the sandbox: the sentry's key service, not the host's keyrings.

Every call it makes (add_key with bad types, descriptions and sizes, request_key, keyctl
DESCRIBE/UPDATE/READ/SEARCH/CHOWN/SETPERM/LINK/UNLINK/REVOKE/INVALIDATE/SET_TIMEOUT/CLEAR/
GET_SECURITY/CAPABILITIES) gets Linux's answer, so its run passes as it does natively.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_sandbox


@pytest.mark.skipif(shutil.which("stress-ng", path=BASE_ENV["PATH"]) is None,
                    reason="stress-ng is not installed")
def test_stress_ng_key_stressor(runsc_root: Path, tmp_path: Path) -> None:
    res = run_sandbox(["stress-ng", "--key", "1", "-t", "3"], root=runsc_root, env=BASE_ENV,
                      cwd=tmp_path, timeout=120)
    assert res.rc == 0, res.describe()
    assert "successful run completed" in res.stdout + res.stderr, res.describe()
    assert "fail" not in res.stdout + res.stderr, res.describe()
