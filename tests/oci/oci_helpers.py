"""Shared helpers of the OCI CLI tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentry.config import BootConfig

REPO = Path(__file__).resolve().parents[2]


def minimal_config() -> dict[str, Any]:
    return {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/true"],
            "env": ["PATH=/bin"],
            "cwd": "/",
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "box",
    }


class FakeSandbox:
    """Records each BootConfig handed to run_sandbox and returns ``status`` (or runs
    ``action``, which may raise, to stand for a sentry that fails).

    ``run`` calls it in a child process (lifecycle._SandboxProcess), so each call is
    appended to a file (*record*) as well, and :attr:`calls` reads them back from it."""

    def __init__(self, record: Path) -> None:
        self.status = 0
        self.action: Callable[[BootConfig], Any] | None = None
        self._record = record

    @property
    def calls(self) -> list[BootConfig]:
        if not self._record.exists():
            return []
        out = []
        with open(self._record, "rb") as f:
            while True:
                try:
                    out.append(pickle.load(f))
                except EOFError:
                    return out

    def __call__(
        self,
        cfg: BootConfig,
        on_ready: Callable[[], None] | None = None,
        on_started: Callable[[], None] | None = None,
        gofer: Any = None,
    ) -> int:
        with open(self._record, "ab") as f:
            pickle.dump(cfg, f)
        # As the sentry does: ready once init exists, then (run) started.
        if on_ready is not None:
            on_ready()
        if on_started is not None:
            on_started()
        if self.action is not None:
            result = self.action(cfg)
            if result is not None:
                return int(result)
        return self.status


class FakeCgroup:
    """Stands for :class:`runsc_py.cgroups.Cgroup` where the sandbox is the test process."""

    def __init__(self, path: str) -> None:
        self.path = path

    def create(self) -> None:
        pass

    def apply(self, resources: dict[str, Any]) -> None:
        pass

    def join_self(self) -> Callable[[list[int]], None]:
        return lambda pids: None

    def destroy(self) -> None:
        pass


def run_subprocess(
    *args: str, fake_status: int | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real program in a child; with *fake_status*, sentry.boot is replaced by a
    stand-in returning it (the child cannot be monkeypatched from here)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if fake_status is None:
        argv = [sys.executable, "-m", "runsc_py", *args]
    else:
        code = (
            "import sys, types\n"
            "m = types.ModuleType('sentry.boot')\n"
            "m.run_sandbox = lambda cfg, *cbs, gofer=None: "
            f"[*(c() for c in cbs if c), {int(fake_status)}][-1]\n"
            "sys.modules['sentry.boot'] = m\n"
            "from runsc_py.cli import main\n"
            "main(prog_name='runsc-py')\n"
        )
        argv = [sys.executable, "-c", code, *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=str(cwd or REPO),
        timeout=60,
    )


def record_container(
    root: Path,
    cid: str,
    pid: int,
    start: int | None,
    status: str = "running",
    bundle: str = "/bundle",
) -> None:
    """A state record of container *cid* in *root* whose process is *pid* (started at
    *start*), as create leaves one (no sandbox behind it)."""
    from runsc_py.container.state import ContainerState, StateStore

    store = StateStore(str(root))
    store.create(
        ContainerState(
            id=cid,
            bundle=bundle,
            rootfs=bundle + "/rootfs",
            status=status,
            pid=pid,
            created="2024-01-02T03:04:05.000000+00:00",
            sandbox_pid=pid,
            sandbox_start_time=start,
            control_socket=store.control_socket(cid),
            annotations={"k": "v"},
        )
    )
