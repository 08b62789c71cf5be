"""Taking pending signals off a thread's host queues for the sentry (signalfd reads).

Signals are host signals (ARCHITECTURE.md): what is pending on a sandbox thread is
pending on its host thread, in its own queue (``SigPnd`` of ``/proc/TID/status``) or its
process's shared one (``ShdPnd``).  A signalfd read takes them with Linux's
``dequeue_signal(current, mask)``: the thread's own queue first, then the shared one;
synchronous faults first, then the lowest number; real-time signals in the order they
were queued, each with its own siginfo.  On the host only the thread itself can do that,
so the sentry has it do so:

1. the read handler calls :func:`start`: ``PTRACE_INTERRUPT`` asks for a
   ``PTRACE_EVENT_STOP``, and the call is answered with ``-ERESTARTNOINTR`` (should
   nothing else happen, the read restarts and decides again);
2. that stop comes on the thread's way back to user mode, before it takes any signal
   (``get_signal`` runs job-control traps first).  There :func:`_at_stop` blocks every
   signal (none is delivered meanwhile) and has the thread run, at the stub's
   ``syscall`` instruction, ``rt_sigtimedwait(mask, info, {0, 0})`` once per record that
   fits (the same ``dequeue_signal``), each to its syscall-exit stop
   (``PTRACE_SYSCALL``; the stub's ``int3`` would raise a SIGTRAP, and ``force_sig``
   resets an ignored one to ``SIG_DFL``).  Each siginfo becomes a ``struct
   signalfd_siginfo``, with the siginfo the sandbox sent where the host lost it
   (:meth:`Kernel.sandbox_siginfo`), and is copied out.  A last ``rt_sigprocmask``
   restores the thread's mask (the host recomputes what is pending for it, which
   ``PTRACE_SETSIGMASK`` does not), and the thread leaves with the byte count as the
   read's result.

The stop is checked to be the one asked for (the read's number, ``-ERESTARTNOINTR`` in
``rax``); anything else (the thread was stopped for something else first, another thread
took the signals meanwhile) lets the read restart.
"""

from __future__ import annotations

import errno
import os
import _signal as signal
import struct
import time

from sentry import logger
from sentry.abi.linux.errors import ERESTARTNOINTR, LinuxError

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, NoReturn, Optional, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

SYS_RT_SIGPROCMASK, SYS_RT_SIGTIMEDWAIT = 14, 128
SIG_SETMASK = 2
SIGTRAP = 5
U64 = (1 << 64) - 1
#: ``struct signalfd_siginfo`` (and ``siginfo_t``) size.
SIGINFO_SIZE = 128
#: The stub's gadget: ``syscall`` (then ``int3``).
_SYSCALL_INSN = b"\x0f\x05"
#: Synchronous faults: forced even while every signal is blocked.
_FAULTS = frozenset((signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE,
                     signal.SIGTRAP, signal.SIGSYS))
#: How long a thread may take to reach the stub's syscall, and how many group stops
#: may come first, before the sentry takes the stub for broken.
_STUB_TIMEOUT = 1.0
_MAX_OTHER_STOPS = 64

log = logger.get("sentry")


def _bits(*sigs: int) -> int:
    return sum(1 << (s - 1) for s in sigs)


# SIGCHLD, SIGCONT, SIGURG, SIGWINCH: ignored when their action is SIG_DFL.
_IGNORED_BY_DEFAULT = _bits(17, 18, 23, 28)
# Every signal whose default action is not to ignore or stop (real-time ones included).
_KILLS_BY_DEFAULT = U64 & ~(_IGNORED_BY_DEFAULT | _bits(19, 20, 21, 22))


def _status_bits(status: Dict[str, str], field: str) -> int:
    try:
        return int(status.get(field, "0"), 16)
    except ValueError:
        return 0


def takeable(k: "Kernel", t: "Task", mask: int) -> int:
    """The signals of *mask* a dequeue by *t* would take now.

    Those pending on the host, less what Linux would never have queued: a traced
    thread's host queues even an unblocked signal that is ignored (``SIG_IGN``, or
    ``SIG_DFL`` of SIGCHLD and the like), for the tracer, and drops it at delivery;
    and an unblocked signal whose default action kills ends the process before any
    read could see it (the pid namespace's init is never sent one).
    """
    st = k.host_task_status(t.host_tid)
    pending = _status_bits(st, "SigPnd") | _status_bits(st, "ShdPnd")
    blocked, ign = _status_bits(st, "SigBlk"), _status_bits(st, "SigIgn")
    dfl = ~(ign | _status_bits(st, "SigCgt"))
    excluded = ~blocked & (ign | (dfl & (_IGNORED_BY_DEFAULT | _KILLS_BY_DEFAULT)))
    return pending & mask & ~excluded & U64


class Destination:
    """Where a read's records go: the buffer segments (one for ``read``, the iovecs of
    ``readv``), written record by record."""

    def __init__(self, t: "Task", segments: Any) -> None:
        self.t = t
        self.segments = [(base, ln) for base, ln in segments if ln]

    def slot(self, off: int) -> Optional[int]:
        """The address of bytes [off, off + 128) if they are contiguous."""
        for base, ln in self.segments:
            if off < ln:
                return base + off if off + SIGINFO_SIZE <= ln else None
            off -= ln
        return None

    def write_at(self, off: int, data: bytes) -> None:
        """:raises LinuxError: ``EFAULT`` (some bytes may have been written)."""
        for base, ln in self.segments:
            if not data:
                return
            if off >= ln:
                off -= ln
                continue
            chunk = data[: ln - off]
            self.t.mem.write(base + off, chunk)
            data = data[len(chunk):]
            off = 0


class _Request:
    __slots__ = ("nr", "mask", "count", "dest", "convert")

    def __init__(self, nr: int, mask: int, count: int, dest: Destination,
                 convert: Callable[[bytes], bytes]) -> None:
        self.nr = nr
        self.mask = mask
        self.count = count
        self.dest = dest
        self.convert = convert


def start(t: "Task", mask: int, count: int, dest: Destination,
          convert: Callable[[bytes], bytes]) -> LinuxError:
    """Steer *t*, whose read is being served, to a stop where up to *count* signals of
    *mask* are taken, each ``convert``\\ ed (from a ``siginfo_t``) to a record written to
    *dest*; returns the error the handler raises now (``ERESTARTNOINTR``).
    """
    from sentry.platform.hybrid import native as N

    nr = t.syscall_args.nr
    if N.interrupt(t.host_tid) == 0:
        req = _Request(nr, mask, count, dest, convert)
        t.stop_hook = lambda task: _at_stop(task, req)
    return LinuxError(ERESTARTNOINTR)


def _at_stop(t: "Task", req: _Request) -> bool:
    """The thread's interrupt stop: take the signals if it is the read's (True)."""
    from sentry.platform.hybrid import native as N

    k = t.kernel
    pid = t.host_tid
    try:
        regs = N.getregs(pid)
    except OSError:
        return True  # gone; its exit is on the way
    if regs[N.ORIG_RAX] != req.nr or regs[N.RAX] != (-ERESTARTNOINTR) & U64:
        return False  # another stop (the read already restarted): not ours
    mask = takeable(k, t, req.mask)
    if not mask:
        N.cont(pid, 0)  # taken meanwhile: the read restarts
        return True
    try:
        total, err = _dequeue(t, req, mask, regs)
    except OSError:
        return True  # the thread died meanwhile
    if total:
        regs[N.RAX] = total
    elif err:
        regs[N.RAX] = (-err) & U64
    else:
        # Nothing after all: restart the read, as the kernel would have done for
        # ERESTARTNOINTR had the thread not left the syscall's return path.
        regs[N.RIP] -= 2
        regs[N.RAX] = regs[N.ORIG_RAX]
    N.setregs(pid, regs)
    k.resume_after_stop(t)
    if k.cfg.strace:
        k.strace_raw(t, f"signalfd read: {total or -err or 'restart'}")
    return True


def _call(t: "Task", regs: List[int], nr: int, *args: int) -> int:
    """Run host syscall *nr* in *t* at the stub's ``syscall``, to its exit stop.

    The stub's page is in the workload's address space, which the workload may unmap,
    protect or map over (``munmap``/``mprotect``/``mmap`` pass to the host).  So the
    instruction is checked first, every stop must be the syscall's, at the instruction
    after it, and the thread must get there in time: a thread that faults there or
    spins instead has broken its image, and its process is killed as a fault there
    would kill it, rather than the sentry waiting for it forever.

    :raises OSError: the thread died, or it broke the stub and its process was killed.
    """
    from sentry.platform.hybrid import native as N

    pid = t.host_tid
    gadget = t.kernel.gadget
    try:
        intact = t.mem.read(gadget, 2) == _SYSCALL_INSN
    except LinuxError:
        intact = False
    if not intact:
        _stub_broken(t, "its syscall instruction is gone")
    r = list(regs)
    r[N.RIP] = gadget
    r[N.RAX] = nr
    r[N.ORIG_RAX] = U64  # not in a syscall: no restart on the way out
    for i, v in zip((N.RDI, N.RSI, N.RDX, N.R10, N.R8, N.R9), args, strict=False):
        r[i] = v
    N.setregs(pid, r)
    for _ in ("entry", "exit"):
        N.syscall_cont(pid, 0)
        for _stops in range(_MAX_OTHER_STOPS):
            status = _wait_stop(t)
            sig = os.WSTOPSIG(status)
            if sig in (SIGTRAP, SIGTRAP | 0x80) and status >> 16 == 0:
                # (marked when the thread is a workload tracer's tracee: sentry.kernel.ptrace)
                # A syscall stop, or the SIGTRAP of an int3 mapped over the stub:
                # only the former is after the syscall instruction.
                if N.getregs(pid)[N.RIP] != gadget + len(_SYSCALL_INSN):
                    _stub_broken(t, "a trap instead of its syscall")
                break  # the syscall stop (every signal is blocked)
            if sig in _FAULTS or status >> 16:
                _stub_broken(t, f"signal {sig} instead of its syscall")
            # SIGSTOP's group stop, which blocking cannot hold off: sent again once
            # the thread is on its way (Kernel.resume_after_stop's list).
            t.requeue_signals.append(sig)
            N.syscall_cont(pid, 0)
        else:
            _stub_broken(t, "no syscall stop")
    ret = N.getregs(pid)[N.RAX]
    return ret - (1 << 64) if ret >> 63 else ret


def _wait_stop(t: "Task") -> int:
    """The next stop of *t*; a thread that does not stop in time is interrupted.

    :raises OSError: it died.
    """
    from sentry.platform.hybrid import native as N

    pid = t.host_tid
    deadline = time.monotonic() + _STUB_TIMEOUT
    while True:
        w, status = N.waitpid(pid, os.WNOHANG)
        if w == 0 and time.monotonic() < deadline:
            continue  # rt_waitpid polls ~100 µs per call: the stop comes within one
        if w == 0:
            N.interrupt(pid)  # a PTRACE_EVENT_STOP, which the caller refuses
            _w, status = N.waitpid(pid)
        if not os.WIFSTOPPED(status):
            t.kernel.handle_wait_status(pid, status)
            raise OSError(errno.ESRCH, "thread gone")
        return status


def _stub_broken(t: "Task", why: str) -> NoReturn:
    """The workload changed the stub's page: kill its process (the sentry cannot run
    the call, and the thread was left somewhere it cannot come back from)."""
    log.warning("killing %r: %s at the stub's syscall", t, why)
    try:
        os.kill(t.tg.host_tgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    raise OSError(errno.ESRCH, "stub broken")


def _dequeue(t: "Task", req: _Request, mask: int, regs: List[int]) -> Tuple[int, int]:
    """Up to ``req.count`` records out: (bytes written, errno if none)."""
    from sentry.platform.hybrid import native as N

    k = t.kernel
    pid = t.host_tid
    # Below the red zone: free at a syscall.  Used when a record's place in the
    # buffer is split between iovecs, and for the mask restored at the end.
    scratch = (regs[N.RSP] - 128 - 2 * SIGINFO_SIZE) & ~15
    own = N.getsigmask(pid)
    N.setsigmask(pid, U64)
    total, err = 0, 0
    try:
        for i in range(req.count):
            off = i * SIGINFO_SIZE
            slot = req.dest.slot(off)
            if slot is None:
                slot = scratch
            # The set, then a zero timeout; the siginfo comes back over both (the
            # call reads its arguments before it writes).
            try:
                t.mem.write(slot, struct.pack("<Qqq", mask, 0, 0))
            except LinuxError as e:
                err = e.errno
                break
            ret = _call(t, regs, SYS_RT_SIGTIMEDWAIT, slot, slot, slot + 8, 8)
            if ret <= 0:
                if -ret != errno.EAGAIN:  # EAGAIN: nothing more pending
                    err = -ret
                break
            try:
                host = t.mem.read(slot, SIGINFO_SIZE)
            except LinuxError as e:
                err = e.errno
                break
            info = k.sandbox_siginfo(t, ret, host) or host
            try:
                req.dest.write_at(off, req.convert(info))
            except LinuxError as e:
                err = e.errno  # the signal is lost, as on Linux (dequeued, then the copy failed)
                break
            total += SIGINFO_SIZE
    finally:
        _restore_mask(t, regs, own, scratch)
    return total, err


def _restore_mask(t: "Task", regs: List[int], own: int, scratch: int) -> None:
    """The thread's own mask again, by ``rt_sigprocmask`` in the thread, so that the host
    marks a signal it now lets through as pending (``recalc_sigpending``)."""
    from sentry.platform.hybrid import native as N

    try:
        t.mem.write(scratch, struct.pack("<Q", own))
        if _call(t, regs, SYS_RT_SIGPROCMASK, SIG_SETMASK, scratch, 0, 8) == 0:
            return
    except LinuxError:
        pass
    # No stack room: the mask at least (a signal it lets through waits for the
    # thread's next wake-up).
    N.setsigmask(t.host_tid, own)
