"""A fork's CPU hold (sentry.kernel.cpuhold) is invisible to the workload.

At a fork the sentry holds the parent and the child on its own CPU: the child until it
has run for a moment, the parent beside it, and the parent again once the child exits.
Nothing either can see or hand on shows it: whatever the parent does while its child is
held (look at its own or the child's mask or /proc status, fork again, start a thread),
and after the child exits, every mask is the program's own."""

from __future__ import annotations

import os

from tests.helpers.cpu_checks import PRELUDE, check_report
from tests.helpers.runner import runsc

PROGRAM = PRELUDE + r'''
mask = lambda pid=0: repr(sorted(os.sched_getaffinity(pid)))
CHECKS = [
    ("affinity", lambda kid: mask()),
    ("status", lambda kid: status_cpus()),
    ("fork", lambda kid: fork_cpus()),
    ("thread", lambda kid: thread_cpus()),
    ("kid-affinity", lambda kid: mask(kid)),
    ("kid-status", lambda kid: status_cpus(kid)),
]
print("start", mask(), status_cpus())
# A loop of forks whose children only exit: the hold goes back to the parent at each
# exit; then the parent's mask, its status and a child's are its own.
for i in range(20):
    kid = os.fork()
    if kid == 0:
        os._exit(0)
    os.waitpid(kid, 0)
print("affinity", mask())
print("status", status_cpus())
print("fork", fork_cpus())
for i in range(4 * len(CHECKS)):
    kind, check = CHECKS[i % len(CHECKS)]
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    kid = os.fork()
    if kid == 0:
        os.close(go_w)
        os.read(go_r, 1)  # held meanwhile, unless something ended the hold
        os.write(out_w, mask().encode())
        os._exit(0)
    os.close(go_r)
    os.close(out_w)
    during = (i // len(CHECKS)) % 2  # the parent's check while its child lives, or after
    if during:
        print(kind, check(kid))
    os.close(go_w)
    print("child", os.read(out_r, 4096).decode())
    os.close(out_r)
    os.waitpid(kid, 0)
    if not during:
        print(kind, check(os.getpid()))  # (the child is gone: "kid" checks look at itself)
print("end", mask(), status_cpus())
'''


def test_a_fork_loop_keeps_the_programs_cpus(runsc_root, tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    log = tmp_path / "debug.log"
    res = runsc(["--debug", "do", "--", "/usr/bin/python3", "-I", str(prog)],
                root=runsc_root, debug_log=str(log), timeout=120)
    assert res.rc == 0, res.describe()
    lines = res.stdout.splitlines()
    mine = repr(sorted(os.sched_getaffinity(0)))
    assert lines[0].startswith(f"start {mine} ")
    listed = lines[0].split()[-1]
    want = {"affinity": mine, "status": listed, "fork": repr((eval(mine), listed)),
            "thread": mine, "kid-affinity": mine, "kid-status": listed, "child": mine}
    check_report(lines, want)
    text = log.read_text()
    if len(eval(mine)) < 2:
        assert "cpu hold:" not in text  # one CPU: nothing to hold
        return
    assert "cpu hold:" in text
    # A look at the parent's own mask or status ended a hold it was in beside its child;
    # a child's exit gave the hold back to its parent.
    assert "cpu hold ends: affinity" in text and "cpu hold ends: /proc status" in text
    assert "cpu hold: back to host thread" in text
