"""Seccomp programs computed at install time: ``python -m sentry.precompute``.

``scripts/setup.sh`` runs it after installing; it writes :data:`gofer.bpf.CACHE` with every
filter a sandbox installs, each with the key of what it was built from (:mod:`gofer.bpf`):

- ``workload``: the workload's filter (:func:`sentry.platform.hybrid.filter.build_filter`),
  keyed on that module's source and the syscall table's rows it reads;
- ``sentry-args``, ``sentry-allow``: the sentry's own (:func:`sentry.confine.build_filters`),
  keyed on :mod:`sentry.confine`'s source;
- ``gofer-3-ro``, ``gofer-3-rw``: the gofer's, for its channel at fd 3
  (:func:`gofer.filter.export_bpf`), keyed on :mod:`gofer.filter`'s source.

At start the sentry and the gofer take a program from the cache when its key is the one
computed now, else build it with libseccomp as before (and import ``pyseccomp`` only then).
"""

from __future__ import annotations

import functools
import os
import sys

import sentry
from gofer import bpf

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, Dict, Tuple

#: The workload filter's builder, read for its key without importing it (it imports
#: pyseccomp).
_WORKLOAD_BUILDER = os.path.join(os.path.dirname(os.path.abspath(sentry.__file__)),
                                 "platform", "hybrid", "filter.py")


def _build_workload() -> bytes:
    from sentry.platform.hybrid.filter import build_filter

    return build_filter()


def workload_key() -> str:
    """The key of the workload filter: its builder's source, every table row it reads and
    the host fd numbers its prefixes let mmap (the loader's, shmat's)."""
    from sentry.loader.loader import LEND_FDS, SHM_LEND_FD
    from sentry.syscalls.linux import linux64

    rows = [(e.nr, e.policy, e.deny_errno, e.arg_check, e.else_policy, e.else_check)
            for e in linux64.TABLE if e is not None]
    return bpf.key(bpf.source(_WORKLOAD_BUILDER), repr((rows, LEND_FDS, SHM_LEND_FD)))


@functools.lru_cache(maxsize=None)
def workload_filter() -> bytes:
    """The classic-BPF program every workload process runs under (looked up once per
    process: its key, the builder's source and ~450 table rows, takes ~1 ms, and boot
    asks twice)."""
    return bpf.program("workload", workload_key(), _build_workload)


def programs() -> Dict[str, Tuple[str, Callable[[], bytes]]]:
    """Every cached program: name -> (key, how to build it)."""
    from gofer import filter as gofer_filter
    from gofer.launch import CHILD_SOCK_FD
    from sentry import confine

    out: Dict[str, Tuple[str, Callable[[], bytes]]] = {
        "workload": (workload_key(), _build_workload),
    }
    for name, (k, build) in confine.program_builders().items():
        out[name] = (k, build)
    for writable in (False, True):
        out[gofer_filter.program_name(CHILD_SOCK_FD, writable)] = (
            gofer_filter.program_key(CHILD_SOCK_FD, writable),
            functools.partial(gofer_filter.export_bpf, CHILD_SOCK_FD, writable),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Build every program with libseccomp and write the cache (``--out FILE``: elsewhere)."""
    args = sys.argv[1:] if argv is None else argv
    path = args[1] if len(args) == 2 and args[0] == "--out" else bpf.CACHE
    built = {name: (k, build()) for name, (k, build) in programs().items()}
    bpf.write_cache(built, path)
    if path == bpf.CACHE:
        from runsc_py import codebundle

        codebundle.build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
