"""The kernel's calls to the process events connector (``cn_proc``: fork, exec, exit, id,
sid, comm and ptrace events), which cost nothing until a workload makes a
``NETLINK_CONNECTOR`` socket.

The events' messages and the sockets that get them are
:mod:`sentry.fsimpl.sock.netlink_connector`'s.  It imports the netlink and inet sockets,
~2 ms of every boot when the kernel imported it to make these calls; now it is imported
with the first connector socket (from the code bundle, confined or not), and until then
no socket can be listening: each call here is one dictionary lookup."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable

_CONNECTOR = "sentry.fsimpl.sock.netlink_connector"


def _passed_on(name: str) -> Callable[..., None]:
    """The call *name* of the connector module, made only if it has been imported."""
    def call(*args: Any) -> None:
        cn = sys.modules.get(_CONNECTOR)
        if cn is not None:
            getattr(cn, name)(*args)

    call.__name__ = call.__qualname__ = name
    return call


# copy_process, exec_binprm, commit_creds, setsid, prctl(PR_SET_NAME), ptrace attach and
# detach, do_exit: each takes the arguments of the connector's function of that name.
proc_fork = _passed_on("proc_fork")
proc_exec = _passed_on("proc_exec")
proc_id = _passed_on("proc_id")
proc_sid = _passed_on("proc_sid")
proc_comm = _passed_on("proc_comm")
proc_ptrace = _passed_on("proc_ptrace")
proc_exit = _passed_on("proc_exit")
