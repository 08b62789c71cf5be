"""The cyclic collector around a prestarted sentry's fork.

Start-up imports make little garbage, and each full collection walks every object made so
far; after a fork each also writes to the headers of objects both processes share, copying
their pages.  So the CLI imports the sentry's modules with the collector off, freezes what
it holds at the fork, the prestarted sentry keeps it off until boot ends, and then the
sentry (which runs for as long as its workload) collects again.  These tests check each
end of that: the fork's (in a fresh interpreter, whose child reports instead of becoming a
sentry) and the booted sentry's (its debug log's count of young collections while a
workload makes what the sentry keeps).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from helpers.runner import BASE_ENV, runsc

_PROBE = r"""
import gc, json, os
from sentry import prestart, supervisor

def report(sock, parent):
    sock.send(json.dumps({"enabled": gc.isenabled()}).encode())
    os._exit(0)

supervisor.prestarted_main = report   # the child imports it from sentry.supervisor
gc.enable()
pid, sock = prestart.fork()
child = json.loads(sock.recv(4096))
os.waitpid(pid, 0)
print(json.dumps({"child": child, "parent_enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_prestart_fork_keeps_the_collector_off_in_the_child_only() -> None:
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=repo, capture_output=True,
                         text=True, timeout=60, check=True)
    got = json.loads(out.stdout)
    assert got["child"] == {"enabled": False}
    assert got["parent_enabled"] is True
    assert got["frozen"] > 0  # what the parent held at the fork left its generations


def test_a_booted_sentry_collects_again(runsc_root: Path, tmp_path: Path) -> None:
    log = tmp_path / "debug.log"
    # 3,000 directories the sentry keeps (the overlay's upper layer, in its memory; the
    # host's /tmp is not written): their dentries and inodes are many more than the
    # 10,000 net allocations of a young collection.
    make = "mkdir -p /tmp/gc-probe && cd /tmp/gc-probe && mkdir $(seq 3000) && ls | wc -l"
    res = runsc(["do", "--", "/bin/busybox", "sh", "-c", make], root=runsc_root,
                env=BASE_ENV, timeout=300, debug_log=str(log))
    assert res.rc == 0, res.describe()
    assert res.stdout.split() == ["3000"]
    m = re.search(r"besides those the host ran; (\d+) young collections", log.read_text())
    assert m, log.read_text()[-2000:]
    assert int(m.group(1)) > 0
