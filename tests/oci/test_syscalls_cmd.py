"""``syscalls``: the compatibility table and the host allowlist, from the syscall table."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from click.testing import Result


@dataclass
class Entry:
    nr: int
    name: str
    handler: Callable[..., int] | None
    policy: str
    support: str
    note: str


@pytest.fixture
def fake_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table: list[Entry | None] = [
        Entry(0, "read", None, "emulate", "full", "files, pipes"),
        None,
        Entry(
            2, "mmap", None, "pass", "partial", "anonymous only\nfile-backed: copied"
        ),
        Entry(3, "brk", None, "pass", "full", "own heap"),
        Entry(4, "bpf", None, "deny", "unsupported", ""),
    ]
    module = types.ModuleType("sentry.syscalls.linux.linux64")

    def host_allowlist() -> list[Entry]:
        return [e for e in table if e is not None and e.policy == "pass"]

    module.TABLE = table  # type: ignore[attr-defined]
    module.host_allowlist = host_allowlist  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentry.syscalls.linux.linux64", module)


def test_table(cli: Callable[..., Result], fake_table: None) -> None:
    result = cli("syscalls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NR", "NAME", "SUPPORT", "POLICY", "NOTE"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["0", "read", "full", "emulate"],
        ["2", "mmap", "partial", "pass"],
        ["3", "brk", "full", "pass"],
        ["4", "bpf", "unsupported", "deny"],
    ]
    assert lines[2].endswith("anonymous only\\nfile-backed: copied")


def test_host(cli: Callable[..., Result], fake_table: None) -> None:
    lines = cli("syscalls", "--host").stdout.splitlines()
    assert lines[0].split() == ["NR", "NAME", "NOTE"]
    assert [line.split()[:2] for line in lines[1:]] == [["2", "mmap"], ["3", "brk"]]


def test_json(cli: Callable[..., Result], fake_table: None) -> None:
    rows = json.loads(cli("syscalls", "--format", "json").stdout)
    assert rows[0] == {
        "nr": 0,
        "name": "read",
        "support": "full",
        "policy": "emulate",
        "note": "files, pipes",
    }
    assert [r["nr"] for r in rows] == [0, 2, 3, 4]
    host = json.loads(cli("syscalls", "--host", "-f", "json").stdout)
    assert host == [
        {"nr": 2, "name": "mmap", "note": "anonymous only\nfile-backed: copied"},
        {"nr": 3, "name": "brk", "note": "own heap"},
    ]
