"""Host process identity: a pid plus its start time, so a recycled pid is never mistaken for
(or killed as) the sandbox process it once was."""

from __future__ import annotations

import os
import select

# The C module: signal.py's enums import enum, functools and collections, ~3 ms of every
# command that kills or signals nothing.
import _signal as signal

from runsc_py.errors import StateError


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces and parentheses; it ends at the last ')'.
    return data[data.rindex(b")") + 2 :].decode("ascii", "replace").split()


def start_time(pid: int) -> int | None:
    """Start time of *pid* in clock ticks since boot (proc(5) field 22), or None if it is gone
    or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(pid: int, expected_start: int | None) -> bool:
    """Whether *pid* still runs and, when *expected_start* is known, is the same process."""
    if pid <= 0:
        return False
    current = start_time(pid)
    if current is None:
        return False
    return expected_start is None or current == expected_start


def kill_and_wait(pid: int, expected_start: int | None, timeout: float = 10.0) -> None:
    """SIGKILL the process (if it is still the recorded one) and wait until it has exited.

    The process need not be a child: a pidfd pins its identity between the check and the
    signal, and becomes readable when it exits (zombie or reaped, whoever its parent is).

    :raises StateError: it is still running after *timeout* seconds.
    """
    if pid <= 0:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if not is_alive(pid, expected_start):
            return
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            return
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            raise StateError(
                f"process {pid} did not exit within {timeout:g}s of SIGKILL"
            )
    finally:
        os.close(pidfd)
