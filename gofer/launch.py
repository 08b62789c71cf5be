"""Start a gofer by forking the calling process: the sandbox's supervisor, just before it
starts the sentry (``sentry.boot.run_sandbox``).

A fresh interpreter (:func:`gofer.server.spawn`, ``python3 -m gofer``) costs ~40 ms of
interpreter start-up and its own imports before the gofer can serve; the sentry's first
file request waits for that.  A fork costs ~1 ms, and the gofer imports its server while
the sentry imports its kernel, on the other CPU.  The supervisor forks it rather than the
sentry: every page the sentry wrote after forking it was copied first (~640 copy-on-write
faults during boot, ~3 us each on these VMs), and the sentry waited for it to die at the
end; the supervisor does nothing with its own pages meanwhile.

What the child could inherit and must not keep: fds (every one above 2 but the channel is
closed, stdin too, as :func:`~gofer.server.spawn` does), the caller's signal dispositions
and mask (reset as ``posix_spawn`` does), its profiler hook, and its objects: the CLI's
parsed configuration, which the sentry will give the gofer's client anyway.  Objects
inherited from the caller are frozen (``gc.freeze``): none is ever collected here, so no
finalizer closes a number that names one of the gofer's own fds by then; the child ends
with ``os._exit``, never the interpreter's clean-up (which would flush the caller's log
handlers to closed fds, a call the filter kills).

This module imports nothing heavy: the server is imported by the child, after the fork.
"""

from __future__ import annotations

import gc
import os
import _signal as signal
import _socket as socket
import sys

#: The channel's fd number in the gofer, as in a spawned one.
CHILD_SOCK_FD = 3
#: What the gofer's end may have queued, unread, before its sends block (the kernel
#: doubles the value for its own bookkeeping: 4 MiB).  A Treadtree reply streams its
#: listings faster than the sentry takes them, and the default (``net.core.wmem_default``,
#: 208 KiB: ~116 of /usr/share/doc's ~520 messages) stopped the gofer while the walk
#: caught up: a request the walk then made (a symlink's target outside the tree) waited
#: for the rest of the reply to be produced (~10 ms) rather than read (~2 ms).  A whole
#: reply of the largest budget fits; it is kernel memory bounded per sandbox.
CHANNEL_SNDBUF = 2 << 20
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def channel() -> tuple[socket.socket, socket.socket]:
    """The sentry's end and the gofer's end of a new channel, the gofer's with a send
    buffer of :data:`CHANNEL_SNDBUF` (past ``net.core.wmem_max`` with CAP_NET_ADMIN;
    without it, as much as the host allows)."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        child.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, CHANNEL_SNDBUF)
    except PermissionError:
        child.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHANNEL_SNDBUF)
    return parent, child


#: The forked gofer's process name (``/proc/PID/comm``, at most 15 bytes).
COMM = "runsc-py-gofer"


def fork(roots: list[tuple[str, bool]],
         oom_score_adj: int | None = None) -> tuple[int, socket.socket]:
    """Start a gofer serving ``roots`` (host path, read-only) in a child of this process;
    root i is ``attach(i)``.  As :func:`gofer.server.spawn`: returns (pid, the caller's
    end of the channel); the caller reaps the pid; the gofer dies with the calling thread
    (PR_SET_PDEATHSIG) and exits when the channel closes.  *oom_score_adj*: the sandbox's
    (``process.oomScoreAdj``), which the gofer takes as its own if the host lets it.

    Call it while this process is single-threaded.

    :raises OSError: if the process cannot be started.
    """
    specs = [f"{os.fspath(path)}:{'ro' if readonly else 'rw'}" for path, readonly in roots]
    parent, child = channel()
    me = os.getpid()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
    except BaseException:
        parent.close()
        child.close()
        raise
    if pid == 0:
        _child(child.fileno(), specs, me, oom_score_adj)  # never returns
    child.close()
    return pid, parent


def _child(fd: int, specs: list[str], parent_pid: int, oom_score_adj: int | None) -> None:
    status = 1
    try:
        sys.setprofile(None)
        gc.freeze()
        gc.enable()  # (a parent that was importing may have had it off)
        if oom_score_adj is not None:
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write(str(oom_score_adj))
            except OSError:
                pass  # the host refused a lower one: the sentry logs it for the sandbox
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        # Its own process group: a terminal's ^C for the sandbox is not the gofer's.
        os.setpgid(0, 0)
        # Its command line is the CLI's; ps and the tests tell it by its name.
        with open("/proc/self/comm", "w") as f:
            f.write(COMM)
        if fd != CHILD_SOCK_FD:
            os.dup2(fd, CHILD_SOCK_FD)
        # The gofer has no use for the caller's stdin (it may be a terminal).
        os.close(0)
        from gofer.server import run

        status = run(CHILD_SOCK_FD, specs, parent_pid)
    except BaseException as e:  # noqa: BLE001 - this process must end here
        try:
            sys.stderr.write(f"gofer: start-up failed: {type(e).__name__}: {e}\n")
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(status)
