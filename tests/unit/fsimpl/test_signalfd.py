"""signalfd descriptions, their syscalls and the record conversion, without a tracee.

The differential program (tests/syscalls/src/signalfd.c) checks reads against Linux;
these pin down what it cannot reach directly: every siginfo layout of
``signalfd_copyinfo``, which pending signals count as readable, records split over
iovecs, and the argument checks' order.
"""

import errno
import struct
from types import SimpleNamespace

import pytest

from sentry.abi.linux.errors import WouldBlock
from sentry.fsimpl.signalfd import signalfd as S
from sentry.kernel import signal_dequeue as D
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT
from sentry.syscalls.linux import sys_file, sys_signalfd
from sentry.vfs import abi

SIGUSR1, SIGUSR2, SIGCHLD, SIGTERM, SIGKILL, SIGSTOP = 10, 12, 17, 15, 9, 19


def bit(*sigs):
    return sum(1 << (s - 1) for s in sigs)


def siginfo(signo, code, tail=b""):
    return (struct.pack("<iii4x", signo, 0, code) + tail).ljust(128, b"\0")


def fields(rec):
    names = ("signo errno code pid uid fd tid band overrun trapno status int ptr utime stime "
             "addr addr_lsb pad2 syscall call_addr arch").split()
    return dict(zip(names, S._SSI.unpack(rec), strict=True))


@pytest.mark.parametrize("sig, code, layout", [
    (SIGUSR1, 0, S.SIL_KILL),            # SI_USER
    (SIGUSR1, 0x80, S.SIL_KILL),         # SI_KERNEL
    (SIGUSR1, -1, S.SIL_RT),             # SI_QUEUE
    (SIGUSR1, -6, S.SIL_RT),             # SI_TKILL
    (SIGUSR1, -2, S.SIL_TIMER),
    (SIGUSR1, -5, S.SIL_POLL),           # SI_SIGIO
    (11, 1, S.SIL_FAULT),                # SEGV_MAPERR
    (7, 4, S.SIL_FAULT_MCEERR),          # BUS_MCEERR_AR
    (SIGCHLD, 1, S.SIL_CHLD),            # CLD_EXITED
    (31, 1, S.SIL_SYS),                  # SYS_SECCOMP
    (29, 1, S.SIL_POLL),                 # POLL_IN
    (SIGUSR1, 3, S.SIL_POLL),            # a positive code a signal does not own, <= NSIGPOLL
    (SIGUSR1, 7, S.SIL_KILL),            # ... above it
    (SIGCHLD, 7, S.SIL_KILL),
])
def test_siginfo_layout(sig, code, layout):
    assert S.siginfo_layout(sig, code) == layout


def test_records_carry_their_layout_only():
    q = fields(S.signalfd_siginfo(siginfo(SIGUSR1, -1, struct.pack("<iIQ", 7, 1000, 42))))
    assert (q["signo"], q["code"], q["pid"], q["uid"], q["int"], q["ptr"]) == (
        SIGUSR1, -1, 7, 1000, 42, 42)
    k = fields(S.signalfd_siginfo(siginfo(SIGUSR1, 0, struct.pack("<iIQ", 7, 1000, 42))))
    assert (k["pid"], k["uid"], k["int"], k["ptr"]) == (7, 1000, 0, 0)
    c = fields(S.signalfd_siginfo(siginfo(SIGCHLD, 1, struct.pack("<iIi4xQQ", 9, 0, 3, 11, 12))))
    assert (c["pid"], c["status"], c["utime"], c["stime"], c["int"]) == (9, 3, 11, 12, 0)
    f = fields(S.signalfd_siginfo(siginfo(11, 1, struct.pack("<Q", 0xdead000))))
    assert (f["addr"], f["pid"]) == (0xdead000, 0)
    m = fields(S.signalfd_siginfo(siginfo(7, 4, struct.pack("<QH", 0x1000, 12))))
    assert (m["addr"], m["addr_lsb"]) == (0x1000, 12)
    t = fields(S.signalfd_siginfo(siginfo(SIGUSR1, -2, struct.pack("<iIQ", 5, 2, 99))))
    assert (t["tid"], t["overrun"], t["ptr"], t["int"], t["pid"]) == (5, 2, 99, 99, 0)
    p = fields(S.signalfd_siginfo(siginfo(29, 1, struct.pack("<qi", (1 << 33) | 0x41, 6))))
    assert (p["band"], p["fd"]) == (0x41, 6)  # ssi_band is 32 bits
    s = fields(S.signalfd_siginfo(siginfo(31, 1, struct.pack("<QiI", 0x401000, 39, 0xC000003E))))
    assert (s["call_addr"], s["syscall"], s["arch"]) == (0x401000, 39, 0xC000003E)
    assert len(S.signalfd_siginfo(siginfo(SIGUSR1, 0))) == 128


def status(pnd=0, shd=0, blk=0, ign=0, cgt=0):
    return {"SigPnd": "%016x" % pnd, "ShdPnd": "%016x" % shd, "SigBlk": "%016x" % blk,
            "SigIgn": "%016x" % ign, "SigCgt": "%016x" % cgt}


def fake_kernel(st):
    return SimpleNamespace(host_task_status=lambda tid: st)


def test_takeable_is_what_linux_would_have_queued():
    t = SimpleNamespace(host_tid=1)
    everything = (1 << 64) - 1
    # Blocked: own and shared queues alike, whatever the disposition.
    st = status(pnd=bit(SIGUSR1), shd=bit(SIGCHLD, SIGTERM), blk=bit(SIGUSR1, SIGCHLD, SIGTERM))
    assert D.takeable(fake_kernel(st), t, everything) == bit(SIGUSR1, SIGCHLD, SIGTERM)
    assert D.takeable(fake_kernel(st), t, bit(SIGCHLD)) == bit(SIGCHLD)
    # Unblocked and caught: pending until delivered, a read may take it.
    st = status(pnd=bit(SIGUSR1), cgt=bit(SIGUSR1))
    assert D.takeable(fake_kernel(st), t, everything) == bit(SIGUSR1)
    # Unblocked and ignored (SIG_IGN, or SIG_DFL of SIGCHLD): only a tracer's host queues it.
    st = status(pnd=bit(SIGUSR1, SIGCHLD), ign=bit(SIGUSR1))
    assert D.takeable(fake_kernel(st), t, everything) == 0
    # Unblocked, default action kills: the process dies first.
    st = status(pnd=bit(SIGTERM, 34))
    assert D.takeable(fake_kernel(st), t, everything) == 0
    # Unblocked stop signals are read (SIGTSTP).
    st = status(pnd=bit(20))
    assert D.takeable(fake_kernel(st), t, everything) == bit(20)


def test_destination_splits_records_over_iovecs(env):
    a, b = env.alloc(64), env.alloc(256)
    dest = D.Destination(env.t, [(a, 64), (b, 0), (b, 256)])
    assert dest.slot(0) is None  # split: the injection uses the stack
    assert dest.slot(128) == b + 64
    assert dest.slot(256) is None  # past the end
    rec = bytes(range(128))
    dest.write_at(0, rec)
    assert env.t.mem.read(a, 64) + env.t.mem.read(b, 64) == rec
    dest.write_at(128, rec)
    assert env.t.mem.read(b + 64, 128) == rec


def served(handler):
    """*handler* as the dispatcher runs it (the call being served recorded on the task)."""
    def run(t, a):
        t.syscall_args = a
        return handler(t, a)
    return run


@pytest.fixture
def kenv(env):
    """*env* with the kernel parts a signalfd uses, and the task's status settable."""
    st = status()
    env.kernel.host_task_status = lambda tid: st
    env.kernel.dispatcher = SimpleNamespace(current=None)
    env.kernel.signalfd_notify = lambda tg: tg.signalfd_queue.notify(EVENT_IN)
    env.status = st
    return env


def test_description(kenv):
    t = kenv.t
    d = S.SignalFileDescription(kenv.kernel, bit(SIGUSR1, SIGKILL, SIGSTOP), S.SFD_NONBLOCK)
    assert d.mask == bit(SIGUSR1)
    assert d.fdinfo() == b"sigmask:\t0000000000000200\n"
    assert d.anon_name == b"anon_inode:[signalfd]"
    assert d.flags == abi.O_RDWR | abi.O_NONBLOCK
    assert not d.has_fasync
    # Nobody current: nothing ready, a private queue.
    kenv.status.update(status(pnd=bit(SIGUSR1), blk=bit(SIGUSR1)))
    assert d.readiness(EVENT_IN) == 0
    assert d.wait_queue() is not t.tg.signalfd_queue
    kenv.kernel.dispatcher.current = t
    assert d.wait_queue() is t.tg.signalfd_queue
    assert d.readiness(EVENT_IN | EVENT_OUT) == EVENT_IN
    assert d.readiness(EVENT_OUT) == 0
    kenv.status.update(status(pnd=bit(SIGUSR2), blk=bit(SIGUSR2)))
    assert d.readiness(EVENT_IN) == 0
    woken = []
    t.tg.signalfd_queue.subscribe(EVENT_IN, woken.append)
    d.set_mask(t, bit(SIGUSR2, SIGKILL))
    assert d.mask == bit(SIGUSR2) and woken == [EVENT_IN]
    assert d.readiness(EVENT_IN) == EVENT_IN


def test_read_checks_then_waits(kenv):
    t = kenv.t
    buf = kenv.alloc(256)
    d = S.SignalFileDescription(kenv.kernel, bit(SIGUSR1), 0)
    fd = t.fdtable.install(d, False)
    def read(n):
        return kenv.call(served(sys_file.read), fd, buf, n)

    assert read(127) == -errno.EINVAL
    with pytest.raises(WouldBlock) as wb:
        read(128)
    assert wb.value.queues == [(t.tg.signalfd_queue, EVENT_IN)]
    d.flags |= abi.O_NONBLOCK
    assert read(128) == -errno.EAGAIN
    assert kenv.call(sys_file.write, fd, buf, 8) == -errno.EINVAL


def test_signalfd_argument_order(kenv):
    t = kenv.t
    m = kenv.put(struct.pack("<Q", bit(SIGUSR1)))
    call = kenv.call
    assert call(sys_signalfd.signalfd4, -1, m, 4, 0) == -errno.EINVAL
    assert call(sys_signalfd.signalfd4, -1, 0, 8, 0xFFFF) == -errno.EFAULT  # mask before flags
    assert call(sys_signalfd.signalfd4, -1, m, 8, 1) == -errno.EINVAL
    assert call(sys_signalfd.signalfd4, 77, m, 8, 1) == -errno.EINVAL  # flags before the fd
    assert call(sys_signalfd.signalfd4, 77, m, 8, 0) == -errno.EBADF
    assert call(sys_signalfd.signalfd4, -2, m, 8, 0) == -errno.EBADF
    fd = call(sys_signalfd.signalfd4, -1, m, 8, S.SFD_CLOEXEC | S.SFD_NONBLOCK)
    assert fd >= 0 and t.fdtable.get_cloexec(fd)
    d = t.fdtable.get(fd)
    assert isinstance(d, S.SignalFileDescription) and d.nonblocking
    m2 = kenv.put(struct.pack("<Q", bit(SIGUSR2, SIGSTOP)))
    assert call(sys_signalfd.signalfd, fd, m2, 8) == fd
    assert d.mask == bit(SIGUSR2)
    other = call(sys_signalfd.signalfd, -1, m, 8)
    assert not t.fdtable.get_cloexec(other) and not t.fdtable.get(other).nonblocking
    assert call(sys_signalfd.signalfd4, other, m, 8, S.SFD_NONBLOCK) == other
    assert not t.fdtable.get(other).nonblocking  # an update never changes the flags
