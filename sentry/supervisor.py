"""The sandbox process and its sentry: two processes, so that the sentry can confine itself.

The process the caller knows (the pid of ``create``, ``run`` and ``do``; the pid file's) is
the *supervisor*.  It forks the sentry at once and, from then on, does only what needs the
host after the sentry has given it up:

- runs the caller's callbacks (``on_ready``: create's hooks; ``on_started``: the state
  file, poststart hooks) when the sentry asks, and, once the sentry has exited, returns its
  status to the caller (which records it, runs poststop hooks, removes the cgroup);
- starts the processes ``exec`` adds (:func:`sentry.platform.hybrid.native.spawn_prepare`):
  entering the sandbox's namespaces needs privileges the sentry no longer has.  It holds
  the stub, the workload's filter and the namespace fds the sentry gave it while it was
  still trusted (before the workload ran one instruction); a request names only resource
  limits, so a compromised sentry can get no more than another workload process;
- passes on the host signals the sentry takes (``kill`` of the sandbox process), except
  those a terminal sent to its whole foreground group, which the sentry already got;
- reaps the processes it started once the sentry (their tracer) has seen them exit.

If the supervisor dies the sentry does (parent-death signal), and with it every workload
process; if the sentry dies the supervisor returns 128+its signal.  The two talk over a
seqpacket socket pair: one JSON object per message, fds alongside (:class:`SentryLink`).
"""

from __future__ import annotations

import array
import errno
import gc
import fcntl
import os
import select
import _signal as signal
import _socket as socket
import stat
import sys

from runsc_py import jsonc
from sentry import logger

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

log = logger.get("sentry")

_MAX_FDS = 8
SI_KERNEL = 0x80

if TYPE_CHECKING:  # (an annotation only)
    Body = Callable[["SentryLink"], int]


class SentryFailed(Exception):
    """The sentry failed before the workload ran (not a user error)."""


def _send(sock: socket.socket, msg: Dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = jsonc.dumps(msg).encode()
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
    sock.sendmsg([data], anc)


def _recv(sock: socket.socket) -> Tuple[Optional[Dict[str, Any]], List[int]]:
    """One message and its fds; (None, []) at end of file.  An end closed with a message
    of ours unread makes the reader's next receive fail once with ``ECONNRESET`` (a
    sequenced-packet socket; a sentry killed, or exited, right after a request), before
    what it had sent: the receive is made again, which returns that, then end of file."""
    from sentry.control.server import recv_message

    try:
        return recv_message(sock, _MAX_FDS)
    except ConnectionResetError:
        return recv_message(sock, _MAX_FDS)


class SentryLink:
    """The sentry's end: requests to the supervisor, each answered in order.  All but
    :meth:`signals` wait for their answer; its answer (the supervisor's work for it, ~1 ms
    of a start, goes on while the sentry starts init) is read, and an error in it raised,
    by the next request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._unread = 0  # answers to requests sent without waiting, not read yet

    def _reply(self) -> Tuple[Dict[str, Any], List[int]]:
        reply, rfds = _recv(self.sock)
        if reply is None:
            raise OSError("the supervisor is gone")
        if "error" in reply:
            for fd in rfds:
                os.close(fd)
            raise SentryFailed(reply["error"])
        return reply, rfds

    def catch_up(self) -> None:
        """Read the answers of the requests sent without waiting (they carry no fds): the
        sentry does before it exits, so that the supervisor reads the end of the link,
        not ``ECONNRESET`` first."""
        while self._unread:
            self._unread -= 1
            for fd in self._reply()[1]:
                os.close(fd)

    def _post(self, msg: Dict[str, Any]) -> None:
        self.catch_up()
        _send(self.sock, msg)
        self._unread += 1

    def call(self, msg: Dict[str, Any], fds: Sequence[int] = ()) -> Tuple[Dict[str, Any], List[int]]:
        self.catch_up()
        _send(self.sock, msg, fds)
        return self._reply()

    def ready(self, stub_fd: int, bpf: bytes, host_id: int, ns_fds: Sequence[int]) -> None:
        """Init exists (held) and the control socket listens: hand over what exec needs
        and run the caller's ``on_ready``.  Returns once it ran (and, before it, what
        :meth:`signals` asked for)."""
        self.call({"op": "ready", "bpf": bpf.hex(), "host_id": host_id}, [stub_fd, *ns_fds])

    def started(self) -> None:
        """Init runs: the caller's ``on_started`` (state, poststart hooks) runs before the
        sentry serves it."""
        self.call({"op": "started"})

    def signals(self, sigs: Sequence[int]) -> None:
        """The sentry handles *sigs* now: the supervisor passes them on, by the time
        :meth:`ready` returns (before init may run)."""
        self._post({"op": "signals", "sigs": list(sigs)})

    def _ask(self, msg: Dict[str, Any], fds: Sequence[int] = ()) -> Tuple[Dict[str, Any], List[int]]:
        """A request the supervisor answers with a result or an errno.

        :raises OSError: with the host's errno (RlimitError for a refused limit).
        """
        from sentry.platform.hybrid import native as N

        self.catch_up()
        _send(self.sock, msg, fds)
        reply, rfds = _recv(self.sock)
        if reply is None:
            raise OSError(errno.EIO, "the supervisor is gone")
        if "errno" in reply:
            for fd in rfds:
                os.close(fd)
            if reply.get("bad", -1) >= 0:
                raise N.RlimitError(reply["errno"], reply["bad"])
            raise OSError(reply["errno"], reply.get("msg") or os.strerror(reply["errno"]))
        return reply, rfds

    def gofer(self) -> Tuple[int, socket.socket]:
        """The gofer the supervisor started for this sandbox: (its host pid, the sentry's
        end of its channel).  Given once."""
        reply, fds = self._ask({"op": "gofer"})
        return int(reply["pid"]), socket.socket(fileno=fds[0])

    def spawn(self, rlimits: Sequence[Tuple[int, int, int]]) -> Tuple[int, int]:
        """A process joining the sandbox (see :func:`~sentry.platform.hybrid.native.spawn_prepare`).

        :returns: (host pid, sync fd).
        """
        reply, fds = self._ask({"op": "spawn", "rlimits": [list(r) for r in rlimits]})
        return reply["pid"], fds[0]

    def reopen(self, fd: int, flags: int) -> int:
        """A new open file description of what *fd* (a pipe, terminal or regular file
        the caller donated) is, with *flags*: the supervisor opens it, as the caller's
        uid the confined sentry no longer has (EACCES beyond *fd*'s own access)."""
        return self._ask({"op": "reopen", "flags": flags}, [fd])[1][0]

    def failed(self, kind: str, msg: str) -> None:
        try:
            _send(self.sock, {"op": kind, "msg": msg})
        except OSError:
            pass


class _Prestarted:
    """A sentry forked before the CLI parsed its command (:func:`prestart`)."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock


_prestarted: Optional[_Prestarted] = None


def prestart() -> None:
    """Fork the sentry now, at the very start of a command that will run a sandbox in
    this process, so that it imports the sentry on the other CPU while this process
    imports the CLI and prepares the container (``do``) or imports what it needs to start
    the sandbox (the sandbox process of ``run`` and ``create``,
    :mod:`runsc_py.container.lifecycle`); :func:`run` then gives it its work instead of
    forking.

    It is forked before this process has opened anything or changed any of its
    attributes, so it holds less than a sentry forked by :func:`run`; it is told at
    :func:`run` what to become: its fds (the same ``keep_fds``), the network and UTS
    namespaces this process is in by then (fds it joins), and the work (pickled *body*).
    A command that does not get that far calls :func:`discard_prestarted`; if this
    process dies, it dies (``PDEATHSIG``, and the end of its socket).  Only from a
    process in the sandbox's cgroup already, if it has one: what the sentry allocated
    before joining it would stay charged outside.
    """
    from sentry import prestart as early

    forked = early.fork()
    if forked is not None:
        adopt_prestarted(*forked)


def adopt_prestarted(pid: int, sock: socket.socket) -> None:
    """Take the sentry :func:`sentry.prestart.fork` forked as this process's prestarted
    sentry (what :func:`prestart` does, for a caller that forked it before importing
    this module)."""
    global _prestarted
    _prestarted = _Prestarted(pid, sock)


def discard_prestarted() -> None:
    """Stop a sentry :func:`prestart` made that no :func:`run` used, and reap it."""
    global _prestarted
    pre, _prestarted = _prestarted, None
    if pre is None:
        return
    pre.sock.close()
    try:
        os.kill(pre.pid, signal.SIGKILL)
        os.waitpid(pre.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


_GO_MAX = 1 << 20


def prestarted_main(sock: socket.socket, parent: int) -> None:
    """The prestarted sentry until :func:`run` hands it its work."""
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        from gofer import linux

        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        from sentry.confine import import_more, preload

        preload()
        # The rest of the sentry while the work has not come (what is left is imported at
        # its first use).
        import_more(lambda: bool(select.select([sock], [], [], 0)[0]))

        fds = array.array("i")
        data, anc, _flags, _addr = sock.recvmsg(_GO_MAX, socket.CMSG_SPACE(2 * fds.itemsize))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if not data or len(fds) != 2:
            os._exit(0)
        import _pickle  # (pickle.py, the same functions, imports re)

        body, boot_error, keep = _pickle.loads(data)
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for fd, nstype in zip(fds, (_CLONE_NEWNET, _CLONE_NEWUTS), strict=True):
            if libc.setns(fd, nstype) != 0:
                os._exit(1)
            os.close(fd)
        _drop_fds(set(keep) | {sock.fileno()})
    except BaseException:  # noqa: BLE001 - this process must end here
        os._exit(1)
    _sentry_main(body, SentryLink(sock), parent, boot_error)


_CLONE_NEWNET, _CLONE_NEWUTS = 0x40000000, 0x04000000


def _hand_over(pre: _Prestarted, body: Body, boot_error: type, keep_fds: Sequence[int]) -> bool:
    """Give the prestarted sentry its work: it becomes what :func:`run`'s fork would be."""
    import _pickle

    try:
        data = _pickle.dumps((body, boot_error, sorted(set(keep_fds))))
    except Exception:  # noqa: BLE001 - not picklable: fork as usual
        return False
    if len(data) > _GO_MAX:
        return False
    fds = [os.open(f"/proc/self/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in ("net", "uts")]
    try:
        _send_raw(pre.sock, data, fds)
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)
    return True


def _send_raw(sock: socket.socket, data: bytes, fds: Sequence[int]) -> None:
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())])


def run(body: Body, on_ready: Optional[Callable[[], None]],
        on_started: Optional[Callable[[], None]], boot_error: type,
        keep_fds: Sequence[int] = (0, 1, 2),
        gofer: Optional[Tuple[int, socket.socket]] = None) -> int:
    """Fork the sentry, which runs *body*; serve it until it exits.

    The sentry keeps only *keep_fds* of this process's fds (the rest point to
    ``/dev/null`` there): a pipe the caller waits to see closed (create's report) is
    the caller's business, and the sentry holds nothing it was not given.  *gofer*:
    (pid, channel) of the gofer the caller started, whose channel the sentry asks for
    (:meth:`SentryLink.gofer`); this process's end of it is closed once given.

    :returns: the sentry's exit status (128+N if it was killed by signal N).
    :raises boot_error: the sentry reported a user-caused start failure.
    :raises SentryFailed: it failed otherwise before the workload ran.
    Whatever *on_ready* or *on_started* raise is raised here, the sentry killed.
    """
    global _prestarted
    pre, _prestarted = _prestarted, None
    if pre is not None and _hand_over(pre, body, boot_error, keep_fds):
        pid, parent = pre.pid, pre.sock
    else:
        if pre is not None:
            _prestarted = pre
            discard_prestarted()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        me = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            parent.close()
            _drop_fds(set(keep_fds) | {child.fileno()})
            _sentry_main(body, SentryLink(child), me, boot_error)
        child.close()
    gc.enable()  # off while the command imported (runsc_py.launch.entry)
    sup = _Supervisor(pid, parent, on_ready, on_started, gofer)
    try:
        return sup.serve(boot_error)
    finally:
        sup.close()


def _drop_fds(keep: set) -> None:
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd in keep or fd == null:
                continue
            try:
                # dup2, not close: an object still holding the number cannot reach a
                # file opened later under it.
                os.dup2(null, fd, inheritable=False)
            except OSError:
                pass
    finally:
        os.close(null)


def _sentry_main(body: Body, link: SentryLink, parent: int, boot_error: type) -> None:
    status = 1
    try:
        # The sentry's terminating signals are the supervisor's until it takes them.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        from gofer import linux

        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        status = body(link)
    except BaseException as e:  # noqa: BLE001 - this process must end here
        if isinstance(e, boot_error):
            link.failed("boot_error", str(e))
        elif isinstance(e, SystemExit):
            status = e.code if isinstance(e.code, int) else 1
        else:
            log.error("sentry failed", exc_info=True)
            link.failed("failed", f"{type(e).__name__}: {e}")
        status = status if isinstance(e, SystemExit) else 1
    finally:
        try:
            link.catch_up()  # (long answered by now: no reset of the link at the exit)
        except BaseException:  # noqa: BLE001 - this process must end here
            pass
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


_REOPEN_FLAGS = os.O_ACCMODE | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _reopen(fd: int, flags: Any) -> Tuple[Dict[str, Any], List[int]]:
    """Open what *fd* is again with *flags*: only a pipe, terminal or regular file, not
    an O_PATH fd, and never more access than *fd* has (the sentry asks for what the
    workload opens through /dev/stdout, /proc/self/fd/N ...)."""
    if fd < 0 or not isinstance(flags, int) or flags & ~_REOPEN_FLAGS:
        return {"errno": errno.EINVAL}, []
    st = os.fstat(fd)
    have = fcntl.fcntl(fd, fcntl.F_GETFL)
    if have & getattr(os, "O_PATH", 0o10000000) or not (
            stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return {"errno": errno.ENXIO}, []
    acc, have_acc = flags & os.O_ACCMODE, have & os.O_ACCMODE
    if acc == 3 or (acc != os.O_WRONLY and have_acc == os.O_WRONLY) or (
            acc != os.O_RDONLY and have_acc == os.O_RDONLY):
        return {"errno": errno.EACCES}, []
    return {}, [os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)]


class _Supervisor:
    def __init__(self, pid: int, sock: socket.socket, on_ready: Optional[Callable[[], None]],
                 on_started: Optional[Callable[[], None]],
                 gofer: Optional[Tuple[int, socket.socket]] = None) -> None:
        self.pid = pid
        self.sock = sock
        self.gofer = gofer
        self.on_ready = on_ready
        self.on_started = on_started
        self.status: Optional[int] = None
        self.stub_fd = -1
        self.ns_fds: List[int] = []
        self.bpf = b""
        self.host_id = 0
        self.blocked: List[int] = []
        self.old_chld: Any = None
        self.closed = False

    # -- the loop ---------------------------------------------------------

    def serve(self, boot_error: type) -> int:
        self.old_chld = signal.signal(signal.SIGCHLD, self._on_chld)
        failure: Optional[Tuple[str, str]] = None
        done = False
        try:
            while True:
                msg, fds = _recv(self.sock)
                if msg is None:
                    break
                op = msg.get("op")
                if op in ("boot_error", "failed"):
                    failure = (op, str(msg.get("msg", "")))
                    continue
                try:
                    reply, rfds = self._handle(op, msg, fds)
                except OSError as e:
                    reply, rfds = {"errno": e.errno or 5, "msg": e.strerror,
                                   "bad": getattr(e, "index", -1)}, []
                try:
                    _send(self.sock, reply, rfds)
                except OSError:
                    pass
                finally:
                    for fd in rfds:
                        os.close(fd)
            done = True
        finally:
            if not done:
                # on_ready/on_started raised, or a signal aborted the start.
                self._kill()
                self._wait(quiet=True)
        status = self._wait()
        if failure is not None:
            if failure[0] == "boot_error":
                raise boot_error(failure[1])
            raise SentryFailed(failure[1])
        return status

    def _handle(self, op: Any, msg: Dict[str, Any], fds: List[int]) -> Tuple[Dict[str, Any], List[int]]:
        if op == "ready":
            if self.stub_fd >= 0 or len(fds) != 6:
                for fd in fds:
                    os.close(fd)
                return {"error": "bad ready message"}, []
            self.stub_fd, self.ns_fds = fds[0], fds[1:]
            self.bpf = bytes.fromhex(msg["bpf"])
            self.host_id = int(msg["host_id"])
            if self.on_ready is not None:
                self.on_ready()
            return {}, []
        if op == "reopen":
            try:
                return _reopen(fds[0] if len(fds) == 1 else -1, msg.get("flags"))
            finally:
                for fd in fds:
                    os.close(fd)
        for fd in fds:
            os.close(fd)
        if op == "started":
            if self.on_started is not None:
                self.on_started()
            return {}, []
        if op == "signals":
            self._forward([int(s) for s in msg.get("sigs", ())])
            return {}, []
        if op == "spawn":
            return self._spawn(msg.get("rlimits", []))
        if op == "gofer":
            gofer, self.gofer = self.gofer, None
            if gofer is None:
                return {"errno": errno.EBADF, "msg": "no gofer to give"}, []
            # Detached: serve() closes the fd once sent, and the socket object must not.
            return {"pid": gofer[0]}, [gofer[1].detach()]
        return {"error": f"unknown request {op!r}"}, []

    def _spawn(self, raw: Any) -> Tuple[Dict[str, Any], List[int]]:
        from sentry.platform.hybrid import native as N

        if self.stub_fd < 0:
            return {"errno": 1, "msg": "not ready"}, []
        rlimits: List[Tuple[int, int, int]] = []
        for item in raw if isinstance(raw, list) else ():
            res, soft, hard = (int(v) for v in item)
            if not (0 <= res < 16 and 0 <= soft < 1 << 64 and 0 <= hard < 1 << 64):
                return {"errno": 22, "msg": "bad resource limit"}, []
            rlimits.append((res, soft, hard))
        pid, sync = N.spawn_prepare(self.stub_fd, self.bpf, self.host_id, self.ns_fds, rlimits)
        return {"pid": pid}, [sync]

    # -- signals and children ---------------------------------------------

    def _forward(self, sigs: List[int]) -> None:
        """Pass *sigs* on to the sentry from now on, but not the ones a terminal sent to its
        foreground group (the sentry, in that group too, has its own copy)."""
        sigs = [s for s in sigs if s not in self.blocked]
        if not sigs:
            return
        self.blocked += sigs
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        import threading  # (here: the sentry imports this module too, and needs no threads)

        # Born with SIGCHLD blocked too: the host could deliver one to this thread, whose
        # trip of the main thread's handler may then land while close() puts the old
        # disposition back, which the interpreter reports as "OSError: Signal 17 ignored
        # due to race condition" wherever the main thread is (close's own block is only
        # the main thread's).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            threading.Thread(target=self._forwarder, args=(set(sigs),), daemon=True,
                             name="signals").start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _forwarder(self, sigs: set) -> None:
        while True:
            info = signal.sigwaitinfo(sigs)
            if self.closed:
                return  # the sentry is reaped: its pid may be someone else's now
            if info.si_code == SI_KERNEL:
                continue
            try:
                os.kill(self.pid, info.si_signo)
            except OSError:
                return

    def _on_chld(self, _signo: int, _frame: Any) -> None:
        self._reap(0)

    def _reap(self, flags: int) -> None:
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG | flags)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.status, self.closed = os.waitstatus_to_exitcode(st), True

    def _kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _wait(self, quiet: bool = False) -> int:
        while self.status is None:
            try:
                pid, st = os.waitpid(self.pid, 0)
            except ChildProcessError:
                break
            if pid == self.pid:
                self.status, self.closed = os.waitstatus_to_exitcode(st), True
        self._reap(0)
        st = self.status if self.status is not None else 1
        if st < 0 and not quiet:
            sys.stderr.write(f"runsc-py: the sentry was killed by signal {-st}; "
                             "the sandbox is stopped\n")
        return 128 - st if st < 0 else st

    def close(self) -> None:
        self.closed = True
        # SIGCHLD blocked while its handler goes back: one that came just before would
        # otherwise find the old disposition when the interpreter gets to it and raise
        # "OSError: Signal 17 ignored due to race condition" wherever the caller was by
        # then (the handler of one that came first runs as the block returns; one that
        # comes during it stays pending, then goes with the restored disposition).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            signal.signal(signal.SIGCHLD, self.old_chld)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if self.blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.blocked)
        for fd in [self.stub_fd, *self.ns_fds]:
            if fd >= 0:
                os.close(fd)
        self.sock.close()
