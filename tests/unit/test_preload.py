"""What the sentry imports before it is confined, and what it can still import after.

``sentry.confine.preload`` imports what boot needs and leaves the other modules of the
sentry (most syscall handlers) to their first use, served from the code bundle without a
file being opened.  These tests play the confinement in a fresh interpreter: after
``preload`` no import may reach a file (a finder behind the bundle refuses every name and
``stat`` fails), and every module of the sentry and the gofer client must still import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from runsc_py import codebundle

REPO = Path(codebundle.TOP)

_PROBE = r"""
import importlib, os, posix, sys
from runsc_py import codebundle
finder = codebundle.install(sys.argv[1])
from runsc_py import launch
for name in launch._COMMON:   # the CLI's, before the fork
    importlib.import_module(name)
from sentry import confine
confine.preload()
later = list(confine._later)
before = set(sys.modules)

refused = []
class Refuse:
    def find_spec(self, name, path=None, target=None):
        refused.append(name)
        raise ImportError(f"confined: {name} would come from a file")
sys.meta_path.insert(1, Refuse())   # behind the bundle: only the bundle may serve

def no_file(*args, **kwargs):
    raise PermissionError(1, "confined")
posix.stat = os.stat = no_file
failed = []
for name in later:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{name}: {type(e).__name__}: {e}")
# The lazily resolved handlers too (each row's module and function).
from sentry.syscalls.linux import linux64
unresolved = [e.name for e in linux64.TABLE if e is not None and e.ref is not None
              and e.handler is None]
heavy = ("typing", "re", "json", "pickle", "enum", "socket", "signal", "selectors", "threading")
heavy_done = sorted(m for m in heavy if m in sys.modules)
print(repr({  # (not json: it would import json, and no file can be read here)
    "bundle": finder is not None, "later": later, "logging": "logging" in before,
    "heavy": heavy_done,
    "failed": failed, "refused": refused,
    "unresolved": unresolved, "imported_late": sorted(set(sys.modules) - before),
    "preloaded": sorted(n for n in before if n.split(".")[0] in ("sentry", "gofer")),
    "loaders": {n: type(sys.modules[n].__spec__.loader).__name__ for n in later
                if n in sys.modules},
}))
"""


def _probe(bundle: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(bundle)], cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def _all_modules() -> set[str]:
    from sentry import confine

    names = set()
    for pkg in ("sentry", "gofer"):
        names.update(confine._submodules(str(REPO / pkg), pkg))
    return {n for n in names if not n.endswith("__main__") and n not in confine._NEVER}


def test_modules_left_for_later_import_without_a_file(tmp_path):
    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))
    r = _probe(bundle)
    assert r["bundle"]
    assert r["failed"] == [] and r["refused"] == [] and r["unresolved"] == []
    # Boot's own modules are imported at once; the handler modules of calls boot does not
    # make wait for their first call, and then come from the bundle.
    later = set(r["later"])
    assert "sentry.syscalls.linux.sys_aio" in later
    assert "sentry.kernel.kernel" not in later and "gofer.client" not in later
    assert set(r["loaders"].values()) == {"BundleFinder"}
    assert later <= set(r["imported_late"]) | set(r["loaders"])
    # The standard library's logging only when a sandbox asks for a log (sentry.logger),
    # the netlink and inet sockets with a workload's first socket (sentry.kernel.proc_events).
    assert not r["logging"]
    # Nor typing, re, json, pickle, enum, socket, signal, selectors or threading, before
    # or after (what the CLI imports for both included): the sentry's annotations are
    # strings and what it names from typing is imported only under TYPE_CHECKING; JSON
    # goes through runsc_py.jsonc, the hand-over through _pickle, sockets and signals
    # through _socket and _signal (socket.py and signal.py make enums of their
    # constants), the gofer client's lock is _thread's.
    assert r["heavy"] == []
    assert "sentry.fsimpl.sock.netlink_connector" not in r["preloaded"]
    assert "sentry.fsimpl.sock.inet" not in r["preloaded"]


def test_without_a_bundle_everything_is_imported_before(tmp_path):
    r = _probe(tmp_path / "none")
    assert not r["bundle"] and r["later"] == [] and r["failed"] == []
    assert r["unresolved"] == [] and r["refused"] == []


def test_an_edited_module_is_imported_before(tmp_path):
    """A module whose source changed since the bundle was built comes from its file, so
    before confinement."""
    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))
    src = REPO / "sentry" / "syscalls" / "linux" / "sys_mq.py"
    st = src.stat()
    try:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        r = _probe(bundle)
    finally:
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "sentry.syscalls.linux.sys_mq" not in r["later"]
    assert "sentry.syscalls.linux.sys_aio" in r["later"]
    assert r["failed"] == [] and r["refused"] == []


def test_every_module_is_covered(tmp_path):
    """Every module of the sentry and the gofer client is imported before confinement or
    left for later (none forgotten)."""
    bundle = tmp_path / "code.bundle"
    codebundle.build(str(bundle))
    r = _probe(bundle)
    assert _all_modules() <= set(r["preloaded"]) | set(r["later"])
