"""The compat recorder (sentry/kernel/compat.py) and the handlers that feed it."""

from __future__ import annotations

import errno
import logging

from sentry.kernel import compat
from sentry.kernel.compat import CompatRecorder
from sentry.syscalls.linux import sys_file, sys_pipe, sys_process, sys_socket
from sentry.vfs import abi

AT = abi.AT_FDCWD


def test_counts_merge_the_fast_path_counts() -> None:
    r = CompatRecorder()
    for nr in (39, 39, 59, 1000, -1):
        r.count(nr)
    fast = [0] * 512
    fast[39], fast[0] = 5, 3
    calls = r.report(fast)["syscalls"]
    assert calls == {
        "0": {"count": 3, "fast": 3},       # answered in C only
        "39": {"count": 7, "fast": 5},      # both
        "59": {"count": 1, "fast": 0},
        "1000": {"count": 1, "fast": 0},    # past the list: ENOSYS, still counted
        "-1": {"count": 1, "fast": 0},
    }


def test_times_are_reported_once_asked_for() -> None:
    r = CompatRecorder()
    r.count(39)
    assert "sentry_us" not in r.report([])["syscalls"]["39"]  # not timed: no field
    r.time_calls()
    assert r.timing
    r.add_time(39, 0.0015)
    r.add_time(39, 0.0005)
    r.add_time(1000, 0.000002)
    r.count(1000)
    fast = [0] * 512
    fast[0] = 4
    calls = r.report(fast)["syscalls"]
    zero = {"gofer_requests": 0, "gofer_us": 0}
    assert calls["39"] == {"count": 1, "fast": 0, "sentry_us": 2000, **zero}
    assert calls["1000"] == {"count": 1, "fast": 0, "sentry_us": 2, **zero}
    assert calls["0"] == {"count": 4, "fast": 4, "sentry_us": 0, **zero}  # C's: not timed


class _Gofer:
    """What the recorder reads of a gofer client: its requests and their round trips."""

    requests = 0
    round_trips = 0.0


def test_gofer_requests_are_added_to_the_calls_that_made_them() -> None:
    r = CompatRecorder()
    r.time_calls()
    g = _Gofer()
    for nr, requests, seconds in ((257, 2, 0.0003), (257, 1, 0.0001), (39, 0, 0.0)):
        r.count(nr)
        mark = r.mark(g)
        g.requests += requests
        g.round_trips += seconds
        r.timed(nr, g, mark)
    r.count(217)  # a wait for a Treadtree reply an earlier call asked for: no request
    mark = r.mark(g)
    g.round_trips += 0.0002
    r.timed(217, g, mark)
    r.count(0)
    r.timed(0, None, r.mark(None))  # no gofer yet (boot): the time only
    calls = r.report([])["syscalls"]
    assert (calls["257"]["gofer_requests"], calls["257"]["gofer_us"]) == (3, 400)
    assert (calls["217"]["gofer_requests"], calls["217"]["gofer_us"]) == (0, 200)
    assert (calls["39"]["gofer_requests"], calls["39"]["gofer_us"]) == (0, 0)
    assert (calls["0"]["gofer_requests"], calls["0"]["gofer_us"]) == (0, 0)


def test_a_variant_is_counted_per_binary_and_logged_once(caplog) -> None:
    r = CompatRecorder()
    with caplog.at_level(logging.WARNING, logger="sentry"):
        assert r.note(b"/bin/a", "fcntl", "F_NOTIFY") is True
        assert r.note("/bin/a", "fcntl", "F_NOTIFY") is False
        assert r.note("/bin/b", "fcntl", "F_NOTIFY") is True
    assert [m.getMessage() for m in caplog.records] == [
        "unsupported fcntl F_NOTIFY by /bin/a", "unsupported fcntl F_NOTIFY by /bin/b"]
    assert r.report([])["unsupported"] == [
        {"family": "fcntl", "detail": "F_NOTIFY", "binary": "/bin/a", "count": 2},
        {"family": "fcntl", "detail": "F_NOTIFY", "binary": "/bin/b", "count": 1},
    ]


def test_names() -> None:
    assert compat.ioctl_name(0x80086601) == "FS_IOC_GETFLAGS (0x80086601)"
    # _IOR('f', 99, 8): unnamed, decoded from the _IOC bits
    assert compat.ioctl_name(0x80086663) == "_IOR('f', 99, 8) (0x80086663)"
    assert compat.ioctl_name(0x4B00) == "_IO('K', 0) (0x4b00)"
    assert compat.fcntl_name(1026) == "F_NOTIFY" and compat.fcntl_name(7777) == "cmd 7777"
    assert compat.prctl_name(0x59616D61) == "PR_SET_PTRACER"
    assert compat.socket_name(17, 3, 768) == "AF_PACKET SOCK_RAW protocol 768"
    assert compat.sockopt_name(6, 99, 2) == "IPPROTO_TCP option 99 on AF_INET"


def _notes(env) -> list[tuple[str, str]]:
    return [(u["family"], u["detail"]) for u in env.kernel.compat.report([])["unsupported"]]


def test_handlers_note_what_they_do_not_implement(env) -> None:
    fd = env.call(sys_file.openat, AT, env.put(b"/tmp/f"), abi.O_RDWR | abi.O_CREAT, 0o600)
    assert fd >= 0
    buf = env.alloc(64)
    # isatty(3) on a file: ENOTTY on Linux too, so not a gap.
    assert env.call(sys_file.ioctl, fd, 0x5401, buf) == -errno.ENOTTY
    assert _notes(env) == []
    assert env.call(sys_file.ioctl, fd, 0x80086601, buf) == -errno.ENOTTY
    assert env.call(sys_file.fcntl, fd, 1024, 0) == -errno.EINVAL  # F_SETLEASE F_RDLCK
    assert env.call(sys_process.prctl, 0x59616D61, 0) == -errno.EINVAL
    assert env.call(sys_socket.socket, 17, 3, 0x0300) == -errno.EAFNOSUPPORT
    assert sorted(_notes(env)) == [
        ("fcntl", "F_SETLEASE"),
        ("ioctl", "FS_IOC_GETFLAGS (0x80086601) on regular file"),
        ("prctl", "PR_SET_PTRACER"),
        ("socket", "AF_PACKET SOCK_RAW protocol 768"),
    ]


def test_pipes_and_plain_devices_are_not_gaps(env) -> None:
    fds = env.alloc(8)
    assert env.call(sys_pipe.pipe2, fds, 0) == 0
    r = int.from_bytes(env.t.mem.read(fds, 4), "little")
    assert env.call(sys_file.ioctl, r, 0x80086601, env.alloc(8)) == -errno.ENOTTY
    null = env.call(sys_file.openat, AT, env.put(b"/dev/null"), abi.O_RDONLY, 0)
    assert env.call(sys_file.ioctl, null, 0x80086601, env.alloc(8)) == -errno.ENOTTY
    assert _notes(env) == []


def test_c_gofer_requests_are_added_to_their_calls() -> None:
    """C's own fetches (rt_stat_gofer_nr: requests and ns waited, by number) add to the
    calls' gofer columns and, the wait, to their time; not shown untimed."""
    r = CompatRecorder()
    r.count(257)
    r.add_time(257, 0.001)
    fast = [0] * 512
    fast[257] = 9
    c_requests, c_ns = [0] * 512, [0] * 512
    c_requests[257], c_ns[257] = 7, 3_000_000
    assert "gofer_requests" not in r.report(fast, (c_requests, c_ns))["syscalls"]["257"]
    r.time_calls()
    calls = r.report(fast, (c_requests, c_ns))["syscalls"]
    assert calls["257"] == {"count": 10, "fast": 9, "sentry_us": 4000, "gofer_requests": 7,
                            "gofer_us": 3000}


def test_a_call_c_parked_and_handed_back_counts_once() -> None:
    """A read C parked on a pipe (and counted) whose fd no longer holds that pipe when
    Python adopts it is served as any call, without a second count."""
    from types import SimpleNamespace

    from sentry.abi.linux.errors import err
    from sentry.kernel.dispatch import Dispatcher

    class _FDs:
        def lookup(self, fd: int) -> None:
            return None  # (closed by another thread since C parked the read)

        def get(self, fd: int) -> None:
            raise err(errno.EBADF)

    kernel = SimpleNamespace(cfg=SimpleNamespace(strace=False), compat=CompatRecorder(),
                             tasks={})
    answers = []
    d = Dispatcher(kernel, lambda *a: answers.append(a) or 0)  # type: ignore[arg-type]
    d.pipe_unwait = lambda cbuf, listener, notif_id: 0
    t = SimpleNamespace(tg=SimpleNamespace(listener=7), fdtable=_FDs(), pending_clone=None,
                        host_tid=123, syscall_args=None)
    kernel.tasks[123] = t
    d.adopt(7, 99, 123, 0, (5, 0x1000, 16, 0, 0, 0), 0, object())
    assert answers == [(7, 99, 0, -errno.EBADF, 0)]
    assert kernel.compat.counts[0] == 0  # (C's count is the call's one)
