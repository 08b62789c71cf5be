"""Fixtures for the OCI CLI tests: a state root, bundles, and a stand-in for the sentry."""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

# The tests import the repository's packages whatever pytest's import mode and cwd.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from runsc_py.cli import main  # noqa: E402
from runsc_py.container import hostns, lifecycle  # noqa: E402
from tests.oci.oci_helpers import FakeCgroup, FakeSandbox, minimal_config  # noqa: E402


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    counter = [0]

    def make(
        config: dict[str, Any] | None = None,
        *,
        rootfs: bool = True,
        raw: bytes | None = None,
    ) -> Path:
        counter[0] += 1
        bundle = tmp_path / f"bundle{counter[0]}"
        bundle.mkdir()
        if rootfs:
            (bundle / "rootfs").mkdir()
        if raw is not None:
            (bundle / "config.json").write_bytes(raw)
        else:
            cfg = minimal_config() if config is None else config
            (bundle / "config.json").write_text(json.dumps(cfg))
        return bundle

    return make


@pytest.fixture
def cli(root: Path) -> Iterator[Callable[..., Result]]:
    """Invoke the CLI in-process with ``--root`` set to the test's root (global flags may
    follow in *args* only if they precede the verb).

    ``do`` and ``run`` put the calling process into the sandbox's network and UTS
    namespaces (``hostns.Namespaces.enter``): the test process goes back to its own after
    the test (it stayed in a loopback-only one, where the proc connector and any later
    native network test saw another network)."""
    own = {ns: os.open(f"/proc/self/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
           for ns in ("net", "uts")}

    def invoke(*args: str, root_dir: Path | None = None) -> Result:
        base = ["--root", str(root_dir if root_dir is not None else root)]
        return CliRunner().invoke(main, [*base, *args], catch_exceptions=False)

    try:
        yield invoke
    finally:
        for ns, flag in (("net", hostns.CLONE_NEWNET), ("uts", hostns.CLONE_NEWUTS)):
            hostns.setns(own[ns], flag)
            os.close(own[ns])


@pytest.fixture
def fake_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeSandbox:
    """Stand in for ``sentry.boot`` (a whole module, so the tests do not depend on the
    sentry's own imports) with a recording ``run_sandbox``."""
    fake = FakeSandbox(tmp_path / "fake-sandbox-calls")
    module = types.ModuleType("sentry.boot")
    module.run_sandbox = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentry.boot", module)
    # No cgroup of the host's: the sandbox process is the test process or its child.
    monkeypatch.setattr(lifecycle, "Cgroup", FakeCgroup)
    return fake
