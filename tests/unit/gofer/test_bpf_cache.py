"""The install-time cache of seccomp programs (gofer/bpf.py, sentry/precompute.py): a program
comes from it only when it was built from the tables as they are now, and is then the very
program libseccomp builds (invariant 1: the filter actually installed is the tables')."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gofer import bpf
from gofer import filter as gofer_filter
from sentry import confine, precompute

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache written by ``python -m sentry.precompute --out``, read instead of the real one."""
    path = tmp_path / "programs.json"
    subprocess.run([sys.executable, "-m", "sentry.precompute", "--out", str(path)],
                   cwd=REPO, check=True, timeout=120)
    monkeypatch.setattr(bpf, "CACHE", str(path))
    monkeypatch.setattr(bpf, "_entries", None)
    precompute.workload_filter.cache_clear()  # looked up once per process
    yield path
    precompute.workload_filter.cache_clear()


def _fresh() -> dict[str, bytes]:
    return {name: build() for name, (_key, build) in precompute.programs().items()}


def test_cached_programs_are_what_libseccomp_builds(cache: Path):
    fresh = _fresh()
    assert set(json.loads(cache.read_text())) == set(fresh)
    assert precompute.workload_filter() == fresh["workload"]
    assert confine.filter_programs() == [fresh["sentry-args"], fresh["sentry-allow"]]
    for writable in (False, True):
        name = gofer_filter.program_name(3, writable)
        assert gofer_filter.program(3, writable) == fresh[name]
        assert fresh[name] == gofer_filter.export_bpf(3, writable)


def test_a_stale_program_is_never_used(cache: Path, monkeypatch: pytest.MonkeyPatch):
    """A cache built from other tables (here: a program swapped in, its key kept as is
    for another input) is ignored: the key no longer matches, libseccomp builds it."""
    data = json.loads(cache.read_text())
    wrong = data["gofer-3-rw"]["bpf"]
    data["gofer-3-ro"]["bpf"] = wrong  # right key, wrong program: would be used
    data["workload"]["key"] += " changed"  # changed table: must not be
    data["workload"]["bpf"] = wrong
    cache.write_text(json.dumps(data))
    monkeypatch.setattr(bpf, "_entries", None)
    precompute.workload_filter.cache_clear()
    assert precompute.workload_filter() == _fresh()["workload"]
    assert gofer_filter.program(3, False).hex() == wrong  # what the cache says, keyed right


def test_without_cache_or_source_programs_are_built(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(bpf, "CACHE", str(tmp_path / "missing.json"))
    monkeypatch.setattr(bpf, "_entries", None)
    assert gofer_filter.program(3, True) == gofer_filter.export_bpf(3, True)
    assert bpf.source(str(tmp_path / "gone.py")) is None
    assert bpf.key("a", None) == ""
    assert bpf.program("workload", "", lambda: b"built") == b"built"
    assert bpf.key("ab", "c") != bpf.key("a", "bc")


def test_load_refuses_what_is_not_a_program():
    for prog in (b"", b"x" * 7, b"\0" * 8 * 4097):
        with pytest.raises(OSError):
            bpf.load(prog)


def test_a_loaded_cached_program_filters(cache: Path):
    """The raw load installs what it is given: a child loading the read-only gofer's
    program is killed by SIGSYS for a call the program refuses (mkdirat)."""
    prog = gofer_filter.program(3, False)
    pid = os.fork()
    if pid == 0:
        try:
            import ctypes

            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            bpf.load(prog)
            os.mkdir("x", dir_fd=3)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 31
