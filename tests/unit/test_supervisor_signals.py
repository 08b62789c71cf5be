"""The supervisor's signal forwarder thread never takes a SIGCHLD.

A SIGCHLD the host delivers to that thread trips the main thread's handler from
another CPU, and can do so while ``_Supervisor.close`` puts the old disposition
back with SIGCHLD blocked in the main thread only: CPython then finds a tripped
signal without a handler and prints "OSError: Signal 17 ignored due to race
condition" on the CLI's stderr (seen once in a differential test's stderr).
"""

import signal
import threading
import types

from sentry import supervisor


def test_forwarder_thread_blocks_sigchld() -> None:
    got = {}
    done = threading.Event()

    def forwarder(_sigs: set) -> None:
        got["blk"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])  # (this thread's mask)
        done.set()

    fake = types.SimpleNamespace(blocked=[], _forwarder=forwarder)
    # SIGCHLD unblocked here, so that the thread does not inherit the block it must make
    before = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
    try:
        supervisor._Supervisor._forward(fake, [signal.SIGUSR2])
        assert done.wait(10)
        after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert signal.SIGCHLD in got["blk"], "the forwarder may take a SIGCHLD"
    assert signal.SIGUSR2 in got["blk"], "the forwarded signal is waited for, blocked"
    # The caller keeps SIGCHLD unblocked (its handler must still run) and blocks the
    # forwarded signal, which only the forwarder takes.
    assert signal.SIGCHLD not in after
    assert signal.SIGUSR2 in after
    assert fake.blocked == [signal.SIGUSR2]
