"""The sandbox's processes start with the caller's nice value and SCHED_BATCH/IDLE policy,
as a native process does and as runc's container process does (it inherits runc's; OCI has
no field)."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.bundle import edit_config
from helpers.runner import BASE_ENV, run, run_native, runsc_argv, runsc_global_flags

# getpriority as the program sees it, then a child's under a further nice -n 3.
SCRIPT = "nice; nice -n 3 nice"
# The same for a bundle, whose busybox has no nice applet: getpriority, then a
# forked child's after nice(3).
NICE_C = r"""
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
    printf("%d\n", getpriority(PRIO_PROCESS, 0));
    fflush(stdout);
    if (fork() == 0) {
        nice(3);
        printf("%d\n", getpriority(PRIO_PROCESS, 0));
        return 0;
    }
    wait(NULL);
    return 0;
}
"""


def _niced(root: Path, args: list[str]) -> list[str]:
    return ["nice", "-n", "5", *runsc_argv(), *runsc_global_flags(root=root), *args]


def test_do_inherits_the_callers_nice(sandbox, runsc_root: Path) -> None:
    native = run_native(["nice", "-n", "5", "sh", "-c", SCRIPT])
    assert native.stdout.split() == ["5", "8"], native.describe()
    if sandbox.native_only:
        return
    boxed = run(_niced(runsc_root, ["do", "--", "sh", "-c", SCRIPT]), timeout=60)
    assert boxed.rc == 0, boxed.describe()
    assert boxed.stdout.split() == native.stdout.split(), boxed.describe()


def test_bundle_inherits_the_callers_nice(sandbox, runsc_root: Path, busybox_bundle: Path,
                                          c_program, tmp_path: Path) -> None:
    if sandbox.native_only:
        return
    src = tmp_path / "nice.c"
    src.write_text(NICE_C)
    shutil.copy(c_program(src, static=True), busybox_bundle / "rootfs" / "nice_probe")
    edit_config(busybox_bundle, args=["/nice_probe"])
    try:
        res = run(_niced(runsc_root, ["run", "--bundle", str(busybox_bundle), "nice1"]),
                  timeout=60, env=BASE_ENV)
    finally:
        run([*runsc_argv(), *runsc_global_flags(root=runsc_root), "delete", "--force", "nice1"],
            env=BASE_ENV)
    assert res.rc == 0, res.describe()
    assert res.stdout.split() == ["5", "8"], res.describe()


def test_do_inherits_the_callers_batch_policy(sandbox, runsc_root: Path) -> None:
    script = "chrt -p $$ | sed -n 's/.*policy: //p'"
    native = run_native(["chrt", "-b", "0", "sh", "-c", script])
    assert native.stdout.split() == ["SCHED_BATCH"], native.describe()
    if sandbox.native_only:
        return
    boxed = run(["chrt", "-b", "0", *runsc_argv(), *runsc_global_flags(root=runsc_root),
                 "do", "--", "sh", "-c", script], timeout=60)
    assert boxed.rc == 0, boxed.describe()
    assert boxed.stdout.split() == native.stdout.split(), boxed.describe()
