"""Fixtures for the gofer tests: real gofer processes on temporary trees.

Every gofer started here is reaped at teardown (killed if it has not exited
within a few seconds of its channel closing), so a failing test leaves no
process behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from gofer_testlib import Gofer  # noqa: E402

from gofer.client import GoferClient  # noqa: E402


@pytest.fixture
def start_gofer() -> Iterator[Callable[..., Gofer]]:
    """Factory: start_gofer((path, readonly), ..., version=True) -> Gofer."""
    started: list[Gofer] = []

    def start(*roots: tuple[Path | str, bool], version: bool = True) -> Gofer:
        g = Gofer([(str(p), ro) for p, ro in roots])
        started.append(g)
        if version:
            g.client.version()
        return g

    yield start
    for g in started:
        g.stop()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree under tmp_path/root, plus tmp_path/outside beside it.

    root/
      d/            directory
      d/f           "hello\\n"
      d/e/          empty directory
      file          "0123456789"
      lnk -> d/f    relative symlink inside the root
    outside/secret  a file the gofer must never reach (mode 0600)
    """
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"hello\n")
    (root / "file").write_bytes(b"0123456789")
    os.symlink("d/f", root / "lnk")
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_bytes(b"secret\n")
    os.chmod(out / "secret", 0o600)
    return root


@pytest.fixture
def gofer(tree: Path, start_gofer: Callable[..., Gofer]) -> Gofer:
    """A gofer serving ``tree`` read-write as root 0."""
    return start_gofer((tree, False))


@pytest.fixture
def client(gofer: Gofer) -> GoferClient:
    return gofer.client
