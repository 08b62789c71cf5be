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
    from typing import Any

_CONNECTOR = "sentry.fsimpl.sock.netlink_connector"


def proc_fork(parent: Any, child: Any, flags: int) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_fork(parent, child, flags)


def proc_exec(t: Any) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_exec(t)


def proc_id(t: Any, old: Any) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_id(t, old)


def proc_sid(t: Any) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_sid(t)


def proc_comm(t: Any, comm: bytes) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_comm(t, comm)


def proc_ptrace(target: Any, tracer: Any) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_ptrace(target, tracer)


def proc_exit(t: Any, status: int) -> None:
    cn = sys.modules.get(_CONNECTOR)
    if cn is not None:
        cn.proc_exit(t, status)
