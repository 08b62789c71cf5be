"""/sys/devices/system/cpu in the sandbox: the CPUs it may run on (its affinity mask, as
sched_getaffinity reports), read-only, with only entries a native /sys has too."""

from __future__ import annotations

import os

from helpers.runner import run_native
from sentry.vfs.mount_tree import cpu_list

CPU = "/sys/devices/system/cpu"
SCRIPT = f"cat {CPU}/online {CPU}/possible {CPU}/present; echo --; ls {CPU}"


def _split(out: str) -> tuple[list[str], set[str]]:
    lists, _, names = out.partition("--\n")
    return lists.split(), set(names.split())


def test_cpu_lists_and_entries(sandbox) -> None:
    native = run_native(["sh", "-c", SCRIPT])
    assert native.rc == 0, native.describe()
    n_lists, n_names = _split(native.stdout)
    boxed = sandbox.do(["sh", "-c", SCRIPT], timeout=60)
    assert boxed.rc == 0, boxed.describe()
    b_lists, b_names = _split(boxed.stdout)
    mine = cpu_list(sorted(os.sched_getaffinity(0)))
    if not sandbox.native_only:
        assert b_lists == [mine] * 3, boxed.describe()
    if n_lists == [mine] * 3:  # this process may use every CPU the host has
        assert b_lists == n_lists, boxed.describe()
    assert b_names <= n_names, b_names - n_names
    assert {"online", "possible", "present"} <= b_names
    assert {n for n in b_names if n[3:].isdigit()} == {f"cpu{c}" for c in os.sched_getaffinity(0)}


def test_cpu_tree_is_read_only(sandbox) -> None:
    if sandbox.native_only:
        return
    res = sandbox.do(["sh", "-c", f"echo 0 > {CPU}/online || echo refused; mkdir {CPU}/x || echo refused"],
                     timeout=60)
    assert res.stdout.split() == ["refused", "refused"], res.describe()
