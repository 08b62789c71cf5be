"""Forking a sentry before the sentry is imported (:func:`sentry.supervisor.prestart`).

The prestarted sentry imports the sentry on one CPU while its parent goes on with its own
work on the other (``do``'s CLI, the sandbox process of ``run`` and ``create``), and every
import made before the fork is one the sentry waits for.  So this module imports nothing
of the sentry's: the child imports :mod:`sentry.supervisor` itself, and the parent takes
it with :func:`sentry.supervisor.adopt_prestarted`."""

from __future__ import annotations

import gc
import os
import _socket as socket
import sys

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple


def fork() -> Optional[Tuple[int, socket.socket]]:
    """Fork a sentry that imports the sentry and waits for its work
    (``supervisor.prestarted_main``); its pid and this process's end of its socket, or
    None if it cannot be forked."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    me = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    # What both processes hold now leaves the parent's collections (each would write to
    # every object's header, copying the pages the child shares: copy-on-write).
    gc.freeze()
    try:
        pid = os.fork()
    except OSError:
        parent.close()
        child.close()
        return None
    if pid == 0:
        try:
            # No collection until boot ends (sentry.boot freezes what it made and turns
            # it on): the imports and boot make little garbage, and full collections
            # walked all they made (do -- /bin/true 56.5 -> 53.7 ms with launch.entry's).
            gc.disable()
            parent.close()
            from sentry.supervisor import prestarted_main

            prestarted_main(child, me)  # never returns
        finally:
            os._exit(1)
    child.close()
    return pid, parent
