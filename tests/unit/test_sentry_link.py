"""The sentry's link to its supervisor: ``signals`` does not wait for its answer, which
the next request reads first, so answers stay paired with their requests; an end that
closes with an answer unread is the end of the link for the other, not an error."""

from __future__ import annotations

import _socket as socket
import os

import pytest

from sentry import supervisor
from sentry.supervisor import SentryFailed, SentryLink, _recv, _send


@pytest.fixture
def link():
    sentry_end, supervisor_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sentry_end.settimeout(5)  # a request that waits for an answer nobody sends fails
    yield SentryLink(sentry_end), supervisor_end
    sentry_end.close()
    supervisor_end.close()


def test_signals_returns_before_its_answer_and_ready_reads_it_first(link):
    lk, sup = link
    lk.signals([15, 1])  # nothing answers yet: it must not wait
    assert _recv(sup) == ({"op": "signals", "sigs": [15, 1]}, [])
    _send(sup, {})  # the answer to signals
    r, w = os.pipe()
    try:
        _send(sup, {"got": "ready"})  # ready's, sent ahead here: read in order
        lk.ready(r, b"\x01", 7, [w] * 5)
        msg, fds = _recv(sup)
        assert msg == {"op": "ready", "bpf": "01", "host_id": 7} and len(fds) == 6
        for fd in fds:
            os.close(fd)
        # nothing is left unread on either side
        sup.setblocking(False)
        with pytest.raises(BlockingIOError):
            sup.recv(1)
        _send(sup, {"pid": 42})
        assert lk._ask({"op": "x"})[0] == {"pid": 42}
    finally:
        os.close(r)
        os.close(w)


def test_an_error_answer_to_signals_is_raised_by_the_next_request(link):
    lk, sup = link
    lk.signals([15])
    _send(sup, {"error": "cannot forward"})
    with pytest.raises(SentryFailed, match="cannot forward"):
        lk.started()
    assert _recv(sup)[0]["op"] == "signals"


def test_catch_up_reads_what_is_owed_and_a_reset_link_still_gives_what_was_sent(link):
    lk, sup = link
    lk.signals([15])
    _send(sup, {})
    lk.catch_up()
    lk.catch_up()  # nothing owed: returns at once
    assert _recv(sup)[0] == {"op": "signals", "sigs": [15]}
    # An end that sent a message and closed with an answer unread: the other's next
    # receive fails with ECONNRESET (a sequenced-packet socket) before it can read that
    # message; _recv receives again, which gives the message, then the end of the link.
    _send(lk.sock, {"op": "boot_error", "msg": "no such program"})
    _send(sup, {})
    lk.sock.close()
    assert supervisor._recv(sup) == ({"op": "boot_error", "msg": "no such program"}, [])
    assert supervisor._recv(sup) == (None, [])


class _Failed(Exception):
    pass


def test_a_sentry_failing_after_signals_reads_the_answer_before_it_exits():
    """A sentry that fails after signals reports it, then waits for the answer it owes
    before it exits (the link ends cleanly, not with ECONNRESET)."""
    import time

    sentry_end, sup = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        sup.close()

        def body(lk):
            lk.signals([15])
            raise _Failed("no such program")

        supervisor._sentry_main(body, SentryLink(sentry_end), me, _Failed)  # exits
    sentry_end.close()
    sup.settimeout(10)
    try:
        assert _recv(sup)[0] == {"op": "signals", "sigs": [15]}
        assert _recv(sup)[0] == {"op": "boot_error", "msg": "no such program"}
        time.sleep(0.2)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # still waiting for its answer
        _send(sup, {})
        assert _recv(sup) == (None, [])
    finally:
        sup.close()
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
