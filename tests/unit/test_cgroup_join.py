"""Cgroup.join_self: which moves are made at once and which wait for the prestarted
sentry, on each kind of host (the writes recorded, not made: the real hierarchies are
exercised by tests/oci/test_lifecycle.py's test_run_joins_cgroup on this machine's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runsc_py import cgroups
from runsc_py.cgroups import Cgroup, Hierarchy


def _cgroup(tmp_path: Path, v2_controllers: str | None, v1: bool = True) -> Cgroup:
    cg = Cgroup("/ctr")
    hs = []
    if v1:
        for name in ("memory", "pids"):
            (tmp_path / name / "ctr").mkdir(parents=True)
            hs.append(Hierarchy(str(tmp_path / name), frozenset({name}), False))
    if v2_controllers is not None:
        (tmp_path / "unified" / "ctr").mkdir(parents=True)
        (tmp_path / "unified" / "ctr" / "cgroup.controllers").write_text(v2_controllers + "\n")
        hs.append(Hierarchy(str(tmp_path / "unified"), frozenset(), True))
    cg.hierarchies = hs
    return cg


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    monkeypatch.setattr(cgroups, "_write",
                        lambda path, value: got.append((str(Path(path).relative_to(tmp_path)),
                                                        value)))
    return got


def test_hybrid_host_v2_after_the_fork(tmp_path: Path, writes: list) -> None:
    """Every v1 hierarchy by "tasks" written "0" (no RCU wait); the controller-less v2
    cgroup only when the caller says, for itself and the children it names."""
    rest = _cgroup(tmp_path, "").join_self()
    assert writes == [("memory/ctr/tasks", "0"), ("pids/ctr/tasks", "0")]
    rest([4242])
    assert writes[2:] == [("unified/ctr/cgroup.procs", "0"),
                          ("unified/ctr/cgroup.procs", "4242")]


def test_v2_with_controllers_at_once(tmp_path: Path, writes: list) -> None:
    """A v2 cgroup that has controllers (memory on a pure v2 host) limits what the caller
    forks: joined before, and then there is nothing left to move."""
    rest = _cgroup(tmp_path, "cpu memory pids", v1=False).join_self()
    assert writes == [("unified/ctr/cgroup.procs", "0")]
    rest([4242])
    assert writes == [("unified/ctr/cgroup.procs", "0")]


def test_threaded_caller_joins_every_hierarchy_at_once(tmp_path: Path, writes: list,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """"tasks" would move one thread only: a caller with several joins by cgroup.procs."""
    real = cgroups.os.listdir
    monkeypatch.setattr(cgroups.os, "listdir",
                        lambda p: ["1", "2"] if p == "/proc/self/task" else real(p))
    rest = _cgroup(tmp_path, "").join_self()
    assert writes == [("memory/ctr/cgroup.procs", "0"), ("pids/ctr/cgroup.procs", "0"),
                      ("unified/ctr/cgroup.procs", "0")]
    rest([4242])
    assert len(writes) == 3


def test_unknown_v2_controllers_count_as_some(tmp_path: Path, writes: list) -> None:
    cg = _cgroup(tmp_path, "")
    (tmp_path / "unified" / "ctr" / "cgroup.controllers").unlink()
    cg.join_self()
    assert ("unified/ctr/cgroup.procs", "0") in writes
