"""The syscall table is consistent: names match numbers, every supported entry has
a handler, policies are known, and the filter is generated from it."""

from __future__ import annotations

import importlib

import pytest

from sentry.syscalls.linux import linux64

KNOWN = {
    0: "read", 1: "write", 2: "open", 3: "close", 9: "mmap", 39: "getpid", 56: "clone",
    57: "fork", 59: "execve", 60: "exit", 61: "wait4", 62: "kill", 101: "ptrace",
    186: "gettid", 231: "exit_group", 257: "openat", 262: "newfstatat", 293: "pipe2",
    302: "prlimit64", 318: "getrandom", 322: "execveat", 332: "statx", 435: "clone3",
    439: "faccessat2",
}


@pytest.mark.parametrize("nr,name", sorted(KNOWN.items()))
def test_numbers_match_names(nr: int, name: str) -> None:
    e = linux64.TABLE[nr]
    assert e is not None and e.nr == nr and e.name == name


def test_every_row_is_at_its_number() -> None:
    for nr, e in enumerate(linux64.TABLE):
        if e is not None:
            assert e.nr == nr


def test_supported_entries_have_handlers() -> None:
    for e in linux64.TABLE:
        if e is None:
            continue
        assert e.policy in (linux64.EMULATE, linux64.PASS, linux64.OBSERVE, linux64.TRACE,
                            linux64.DENY)
        assert e.support in (linux64.FULL, linux64.PARTIAL, linux64.UNSUPPORTED)
        if e.policy in (linux64.EMULATE, linux64.OBSERVE) and e.support != linux64.UNSUPPORTED:
            assert callable(e.handler), e.name
        if e.policy in (linux64.PASS, linux64.DENY, linux64.TRACE):
            # Only a row whose argument check leaves some calls to the default (notified)
            # action has a handler: mmap's file mappings (no else rule), the execveat
            # the loader marks (notify_if).
            notified_rest = (e.arg_check is not None and (
                e.else_check is not None or e.else_policy == linux64.EMULATE)
            ) or e.notify_if is not None
            assert callable(e.handler) if notified_rest else e.handler is None, e.name


def test_every_named_handler_exists() -> None:
    # Each row names its handler (module, function); the module is imported at the
    # row's first call, and a name that does not resolve would make the call ENOSYS.
    for e in linux64.TABLE:
        if e is not None and e.ref is not None:
            mod = importlib.import_module(f"sentry.syscalls.linux.{e.ref[0]}")
            assert callable(getattr(mod, e.ref[1], None)), e.ref
            assert e.handler is getattr(mod, e.ref[1]) is linux64.handler(e.nr)


def test_numbers_outside_the_table_have_no_handler() -> None:
    # The dispatcher asks for any number a workload makes, negative ones too (a list
    # index would wrap around).
    for nr in (-1, -2, -(linux64.MAX_NR + 1), linux64.MAX_NR + 1, 1 << 40):
        assert linux64.handler(nr) is None
        assert linux64.entry(nr) is None


def test_pass_rows_are_justified() -> None:
    for e in linux64.host_allowlist():
        assert e.note, f"pass row {e.name} needs a note saying why it is safe"


def test_dangerous_calls_never_pass() -> None:
    names = {e.name for e in linux64.host_allowlist()}
    for bad in ("ptrace", "open", "openat", "execve", "kill", "bpf", "io_uring_setup",
                "process_vm_writev", "mount", "clone", "clone3", "socket", "connect"):
        assert bad not in names
