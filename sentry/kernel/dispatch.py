"""Running handlers for trapped syscalls: answer, park, retry, interrupt.

A trapped syscall is a seccomp notification: the thread sleeps in the host
kernel until the sentry answers.  :class:`Dispatcher` runs the table's handler;
the result becomes the answer, or the call is *parked* (the handler raised
:class:`WouldBlock`) and retried when a wait queue fires, its deadline passes,
or answered with a restart code when a signal interrupts it.

Answer kinds a handler may return besides an int: :data:`CONTINUE` (let the
host run the call with its original registers; ``observe`` policy).
"""

from __future__ import annotations

import errno
import time

from sentry import logger
from sentry.abi.linux.errors import ERESTARTSYS, LinuxError, WouldBlock, _Continue
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT
from sentry.syscalls.linux import linux64
from sentry.syscalls.linux.args import SyscallArgs

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

log = logger.get("sentry")

SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1




class Parked:
    """One parked syscall."""

    __slots__ = ("task", "notif_id", "args", "handler", "keys", "deadline", "restart", "ready",
                 "interrupted", "signo", "signals", "sigmask", "on_interrupt", "c_pipe")

    def __init__(self, task: "Task", notif_id: int, args: SyscallArgs,
                 handler: Callable[..., int]) -> None:
        self.task = task
        self.notif_id = notif_id
        self.args = args
        self.handler = handler
        self.keys: List[Any] = []
        self.deadline: Optional[float] = None
        self.restart = 0
        self.ready = False
        # A signal came while the call was ready to be retried: the retry goes
        # first (Linux completes a wait whose event is there), then the signal.
        self.interrupted = False
        self.signo = 0
        # Host signals that came while it was ready, decided if the retry parks again
        # (Kernel.after_signal).
        self.signals: Optional[List[int]] = None
        # ppoll/pselect6: the mask that decides which signals end the wait.
        self.sigmask: Optional[int] = None
        self.on_interrupt: Optional[Callable[[], None]] = None
        # The pipe C may end this call in (Dispatcher._c_may_end): a read when it puts
        # bytes in, a write or sendfile when its reads make room.
        self.c_pipe: Any = None


class Dispatcher:
    def __init__(self, kernel: "Kernel",
                 respond: Callable[[int, int, int, int, int], int]) -> None:
        self.kernel = kernel
        self._respond = respond
        self.ready: List[Parked] = []
        self.timed: Dict[int, Parked] = {}
        self._out_of_fds: Set[str] = set()  # handlers that met the sentry's EMFILE
        self.strace = kernel.cfg.strace
        # The task whose handler is running (Linux's ``current``): files whose
        # readiness depends on who asks (signalfd) read it.  None between calls.
        self.current: Optional["Task"] = None
        # C answers a read parked on a pipe when it puts bytes in, and completes a write
        # or sendfile parked on a full one when its reads make room (rt.c "pipes"): the
        # kernel sets these when C's fast path is on.  pipe_wait(buf, listener, notif id,
        # host tid, address, count) and pipe_wait_write(buf, listener, notif id, host
        # tid, nr, fd, args 1-3) -> whether C took it; pipe_unwait(buf, listener, notif
        # id) -> a write's bytes that went.
        self.pipe_wait: Optional[Callable[..., bool]] = None
        self.pipe_wait_write: Optional[Callable[..., bool]] = None
        self.pipe_unwait: Optional[Callable[[Any, int, int], int]] = None
        self.c_waits: Dict[Tuple[int, int], Parked] = {}

    # -- answering --------------------------------------------------------

    def answer(self, t: "Task", notif_id: int, nr: int, ret: int, args: SyscallArgs) -> None:
        if self.strace:
            self.kernel.strace_log(t, nr, args, ret)
        if isinstance(ret, _Continue):
            self._respond(t.tg.listener, notif_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        elif ret < 0:
            self._respond(t.tg.listener, notif_id, 0, ret, 0)
        else:
            self._respond(t.tg.listener, notif_id, ret, 0, 0)

    # -- running ----------------------------------------------------------

    def syscall(self, t: "Task", notif_id: int, nr: int, raw: tuple,
                counted: bool = False) -> None:
        """Serve the notification *notif_id* of *t*, call *nr* with *raw* arguments
        (*counted*: C counted it already, parking it first)."""
        if t.pending_clone is not None:
            # Its clone failed on the host (no fork event came): it holds no pid.
            t.pending_clone = None
        if not counted:
            self.kernel.compat.count(nr)
        args = SyscallArgs(nr, raw)
        args.notif_id = notif_id
        handler = linux64.handler(nr)
        if handler is None:
            self._unsupported(t, nr)
            self.answer(t, notif_id, nr, -errno.ENOSYS, args)
            return
        if self.kernel.compat.timing:
            self._run_timed(t, notif_id, args, handler)
        else:
            self._run(t, notif_id, args, handler)

    def _run_timed(self, t: "Task", notif_id: int, args: SyscallArgs,
                   handler: Callable[..., int]) -> None:
        """:meth:`_run`, its time (and its gofer requests') added to the compat report's
        (``--compat-report``)."""
        compat, gofer = self.kernel.compat, self.kernel.gofer
        mark = compat.mark(gofer)
        self._run(t, notif_id, args, handler)
        compat.timed(args.nr, gofer, mark)

    def _run(self, t: "Task", notif_id: int, args: SyscallArgs,
             handler: Callable[..., int]) -> None:
        # The call being served (descriptions that keep per-call state, e.g. a socket's
        # timeout deadline, read it).
        t.syscall_args = args
        self.current = t
        try:
            ret = handler(t, args)
        except LinuxError as ex:
            ret = -ex.errno
            # The shared instance would keep this call's frames (its descriptions,
            # inodes, buffers) alive until the next raise of the same errno: an
            # unlinked file's data would stay charged after its last close.
            ex.__traceback__ = None
        except WouldBlock as wb:
            self.current = None
            self._park(t, notif_id, args, handler, wb)
            return
        except Exception as ex:
            name = getattr(handler, "__name__", str(handler))
            if isinstance(ex, OSError) and ex.errno in (errno.EMFILE, errno.ENFILE):
                # The sentry's own fd table is full (the host fds it holds for the
                # sandbox: files, sockets, memfds): the call fails as Linux's does out
                # of kernel memory, whichever host call of the handler met it.  Said
                # once a handler: a sentry leaking fds would show here.
                if name not in self._out_of_fds:
                    self._out_of_fds.add(name)
                    log.warning("%s: the sentry is out of host fds (ENOMEM)", name)
                ret = -errno.ENOMEM
            else:  # a sentry bug: fail this call only
                log.exception("handler %s failed for %r", name, t)
                ret = -errno.EFAULT
        self.current = None
        self.answer(t, notif_id, args.nr, ret, args)

    def _park(self, t: "Task", notif_id: int, args: SyscallArgs,
              handler: Callable[..., int], wb: WouldBlock, c_holds: bool = False) -> None:
        """Park the call *wb* ended (*c_holds*: one C parked on ``wb.pipe`` itself)."""
        p = Parked(t, notif_id, args, handler)
        p.restart = wb.restart
        p.deadline = wb.deadline
        p.sigmask = wb.sigmask
        p.on_interrupt = wb.on_interrupt
        for q, mask in wb.queues:
            def wake(events: int, p: Parked = p) -> None:
                self._wake(p)
            p.keys.append((q, q.subscribe(mask, wake)))
        if wb.pipe is not None and self.pipe_wait is not None and p.deadline is None \
                and len(p.keys) == 1 and (c_holds or self._c_may_end(t, p, wb.pipe)):
            p.c_pipe = wb.pipe
            wb.pipe.queue.c_waiter(p.keys[0][1])
            self.c_waits[(t.tg.listener, notif_id)] = p
        if p.deadline is not None:
            self.timed[id(p)] = p
        t.parked = p
        if self.strace:
            self.kernel.strace_log(t, args.nr, args, None)
        if p.sigmask is not None and self.kernel.pending_acts(t, p.sigmask):
            # A signal the call's mask unblocks was already pending.
            self.interrupt(t, 0)
        elif t.tg.stopping and not t.group_stop:
            self.interrupt(t, 0, stopping=True)  # (its process is stopping: no sleep now)

    def _c_may_end(self, t: "Task", p: Parked, pipe: Any) -> bool:
        """Hand the call *p* parked on *pipe* to C, if it is one C completes: a ``read``
        (when C puts bytes in), the rest of a ``write`` or a ``sendfile`` without an
        offset (when its reads make room).  Whether C took it."""
        assert self.pipe_wait is not None and self.pipe_wait_write is not None
        a, listener = p.args, t.tg.listener
        if a.nr == 0:
            return self.pipe_wait(pipe.cbuf, listener, p.notif_id, t.host_tid, a[1], a[2])
        from sentry.syscalls.linux.sys_file import MAX_IO  # (loaded: its handler parked it)

        total = min(a[2], MAX_IO)  # (_io_count's)
        if a.nr == 1 and total > a.done:
            # (what is left of it: stream_write keeps what went before it parked in done,
            # which C's answer adds)
            return self.pipe_wait_write(pipe.cbuf, listener, p.notif_id, t.host_tid, a.nr,
                                        a.int(0), a[1] + a.done, total - a.done, a.done)
        if a.nr == 40 and a[2] == 0:
            return self.pipe_wait_write(pipe.cbuf, listener, p.notif_id, t.host_tid, a.nr,
                                        a.int(0), a[1], a[2], a[3])
        return False

    def adopt(self, listener: int, notif_id: int, host_tid: int, nr: int,
              raw: Tuple[int, int, int, int, int, int], done: int, cbuf: Any) -> None:
        """A call C parked on the pipe *cbuf* itself (rt.c ``park``, ``rt_parked_pop``)
        becomes the parked call its handler would have made: a read waiting for bytes,
        a write or sendfile for room (a write with *done*, the bytes of it that went, as
        ``stream_write`` keeps them), which C ends as those Python hands it
        (:meth:`_c_may_end`).  The loop adopts them before it handles anything else,
        first of all before the closes C queued after them."""
        t = self.kernel.tasks.get(host_tid)
        desc = t.fdtable.lookup(raw[0] & 0xFFFFFFFF) if t is not None else None
        pipe = getattr(desc, "pipe", None)
        if t is None or pipe is None or pipe.cbuf != cbuf:
            # (C parks only a task Python knows, at an end of that pipe, which only
            # Python closes): taken back from C, then answered as any call, or with the
            # count of a write's bytes that went
            assert self.pipe_unwait is not None
            done = max(done, self.pipe_unwait(cbuf, listener, notif_id))
            if done > 0:
                self._respond(listener, notif_id, done, 0, 0)
            elif t is None:
                self._respond(listener, notif_id, 0, -errno.ENOSYS, 0)
            else:
                self.syscall(t, notif_id, nr, raw, counted=True)
            return
        args = SyscallArgs(nr, raw)
        args.notif_id = notif_id
        args.done = done
        handler = linux64.handler(nr)
        assert handler is not None
        # (what read, _store and sendfile's ready_or_block raise)
        wb = WouldBlock([(pipe.queue, EVENT_IN | EVENT_HUP if nr == 0 else
                          EVENT_OUT | EVENT_ERR if nr == 1 else EVENT_OUT)])
        wb.pipe = pipe
        t.syscall_args = args  # (as _run leaves it for a call that parks)
        self._park(t, notif_id, args, handler, wb, c_holds=True)

    def _wake(self, p: Parked) -> None:
        if not p.ready:
            p.ready = True
            self.ready.append(p)

    def pipe_waits_ended(self, ended: Iterable[Tuple[int, int, bool, int]]) -> None:
        """Calls parked on pipes that C ended, (listener, notif id, kicked, a write's
        bytes that went): answered or its notification gone (drop the parked call), or
        handed back (*kicked*: retry it, as on a wake-up, from where C left it).  The loop
        applies them before it handles anything else."""
        for listener, notif_id, kicked, done in ended:
            p = self.c_waits.pop((listener, notif_id), None)
            if p is None:
                continue
            p.c_pipe = None
            p.args.done = max(p.args.done, done)
            if kicked:
                self._wake(p)
            else:
                self._unpark(p)

    def take_back_from_c(self, t: "Task") -> None:
        """*t*'s parked call is no longer C's to end (a thread of its group is about to
        exec: the host ends *t*, and the leader's task id may run the new program before
        the sentry hears of it); Python's, as any parked call."""
        if t.parked is not None:
            self._c_release(t.parked)

    def _c_release(self, p: Parked) -> None:
        """Take *p* back from C, if C may answer it."""
        if p.c_pipe is None:
            return
        assert self.pipe_unwait is not None
        # (a write's bytes that went meanwhile: the answer to a signal counts them)
        p.args.done = max(p.args.done, self.pipe_unwait(p.c_pipe.cbuf, p.task.tg.listener,
                                                        p.notif_id))
        self.c_waits.pop((p.task.tg.listener, p.notif_id), None)
        p.c_pipe.queue.c_waiter(p.keys[0][1], False)
        p.c_pipe = None

    def _unpark(self, p: Parked) -> None:
        self._c_release(p)
        for q, key in p.keys:
            q.unsubscribe(key)
        p.keys = []
        self.timed.pop(id(p), None)
        if p.task.parked is p:
            p.task.parked = None

    def run_ready(self) -> None:
        """Retry parked calls whose queues fired or whose deadline passed."""
        if self.timed:
            now = time.monotonic()
            for p in list(self.timed.values()):
                if p.deadline is not None and p.deadline <= now and not p.ready:
                    p.ready = True
                    p.args.timed_out = True
                    self.ready.append(p)
        while self.ready:
            batch, self.ready = self.ready, []
            for p in batch:
                if p.task.parked is not p:
                    continue
                self._unpark(p)
                p.ready = False
                p.args.attempt += 1
                if self.kernel.compat.timing:
                    self._run_timed(p.task, p.notif_id, p.args, p.handler)
                else:
                    self._run(p.task, p.notif_id, p.args, p.handler)
                again = p.task.parked
                if again is not None and again.notif_id == p.notif_id:
                    if p.interrupted:
                        self.interrupt(p.task, p.signo)
                    for signo in p.signals or ():
                        if p.task.parked is not again:
                            break  # ended by the interruption
                        self.kernel.signal_acts(p.task, signo)

    def next_deadline(self) -> Optional[float]:
        ds = [p.deadline for p in self.timed.values() if p.deadline is not None]
        return min(ds) if ds else None

    def interrupt(self, t: "Task", signo: int = 0, stopping: bool = False) -> bool:
        """A handled signal is pending on *t*: end its parked call with the restart code.

        The host runs every workload handler with ``SA_RESTART`` (see
        :mod:`sentry.syscalls.linux.sys_signal`), so a call that Linux would restart
        only under ``SA_RESTART`` gets ``EINTR`` here unless the workload asked for it.

        *stopping*: a group stop is under way in *t*'s process instead.  The call ends
        as the stop's wake-up ends an interruptible sleep on Linux, so that its host
        thread reaches the stop (the seccomp notification it waits in takes no signal
        but SIGKILL): it restarts after the continue, and one that never restarts fails
        with EINTR (epoll_wait, semop, ...: signal(7) says so of stops too).  No handler
        runs, so a ppoll's mask needs no steering.
        """
        p = t.parked
        if p is None:
            return False
        if p.ready:
            p.interrupted = True
            p.signo = signo
            return True
        self._unpark(p)
        if p.on_interrupt is not None:
            try:
                p.on_interrupt()
            except LinuxError:
                pass  # Linux ignores a failed write-back too
        if p.args.done:
            # A stream write that moved some bytes returns their count (so do
            # io_submit and io_getevents: the requests submitted, the events taken).
            self.answer(t, p.notif_id, p.args.nr, p.args.done, p.args)
            return True
        if p.sigmask is not None and not stopping:
            # ppoll/pselect6: the host must run the handler under the call's
            # mask, then restore the thread's own; the kernel steers the thread
            # there, and the call restarts if no handler runs after all.
            self.kernel.end_wait_with_mask(t, p.sigmask)
            self.answer(t, p.notif_id, p.args.nr, -p.restart, p.args)
            return True
        code = p.restart
        if code == ERESTARTSYS and signo and signo not in t.tg.sa_restart:
            code = errno.EINTR
        self.answer(t, p.notif_id, p.args.nr, -code, p.args)
        return True

    def drop(self, t: "Task") -> None:
        """*t* is gone: forget its parked call."""
        if t.parked is not None:
            self._unpark(t.parked)

    def _unsupported(self, t: "Task", nr: int) -> None:
        name = linux64.NAMES.get(nr)
        detail = f"{nr} ({name})" if name else str(nr)
        if self.kernel.note_unsupported(t, "syscall", detail):
            self.kernel.counters["unsupported"] = self.kernel.counters.get("unsupported", 0) + 1
