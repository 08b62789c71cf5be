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


def _sigblk() -> int:
    with open("/proc/thread-self/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return int(line.split()[1], 16)
    raise AssertionError("no SigBlk line")


def _bit(sig: int) -> int:
    return 1 << (sig - 1)


def test_forwarder_thread_blocks_sigchld() -> None:
    got = {}
    done = threading.Event()

    def forwarder(_sigs: set) -> None:
        got["blk"] = _sigblk()
        done.set()

    fake = types.SimpleNamespace(blocked=[], _forwarder=forwarder)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        supervisor._Supervisor._forward(fake, [signal.SIGUSR2])
        assert done.wait(10)
        after = _sigblk()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert got["blk"] & _bit(signal.SIGCHLD), "the forwarder may take a SIGCHLD"
    assert got["blk"] & _bit(signal.SIGUSR2), "the forwarded signal is waited for, blocked"
    # The caller keeps SIGCHLD as it was (its handler must still run) and blocks the
    # forwarded signal, which only the forwarder takes.
    assert not after & _bit(signal.SIGCHLD) or signal.SIGCHLD in before
    assert after & _bit(signal.SIGUSR2)
    assert fake.blocked == [signal.SIGUSR2]
