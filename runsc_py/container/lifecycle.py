"""Container lifecycle operations behind the commands: create and start, run in the
foreground, state, list, kill, ps, delete. ``run`` and ``do`` share :func:`run_foreground`.

After ``create`` the sandbox process (the supervisor: parent of the sentry, the gofer and
every workload process) outlives the CLI: it is the pid in ``--pid-file`` and exits with the
workload's status. Later commands reach it through its control socket (:mod:`.control`).
"""

from __future__ import annotations

import gc
import os
import sys

# The C modules: signal.py's enums import enum, functools and collections, ~3 ms of every
# command that starts nothing (start, kill, delete, state); no contextlib (the context
# managers here are classes) and no importlib at import, for the same reason.
import _signal as signal

from runsc_py.cgroups import Cgroup, cgroup_path
# runsc_py.container.control (and socket with it) is imported by the functions that talk
# to a sandbox: delete, state and list, which a shim runs for every container, need neither.
from runsc_py.container import process
from runsc_py.container.state import (
    CREATED,
    CREATING,
    PAUSED,
    RUNNING,
    STOPPED,
    ContainerState,
    CorruptState,
    StateStore,
    validate_id,
)
from runsc_py.errors import (
    ContainerNotFound,
    StateError,
    UserError,
    WrongState,
    one_line,
    quote,
)
from runsc_py import log
from runsc_py.hooks import run_hooks, run_hooks_logged
from runsc_py.log import logger, rfc3339

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:  # annotations only: delete, kill, state need not load the spec
    from collections.abc import Callable
    from typing import Any

    from runsc_py.container.hostns import HostNamespaces
    from runsc_py.hooks import Hook
    from sentry.config import BootConfig

    RunSandbox = Callable[..., int]


def sandbox_entry() -> tuple[RunSandbox, tuple[type[Exception], ...]]:
    """The sentry's entry point and the exception types it raises for user-caused start
    failures (``sentry.boot.BootError``, if defined).

    Imported only when a sandbox is about to start, so that the other commands never load
    the sentry.
    """
    import importlib

    module = importlib.import_module("sentry.boot")
    entry: RunSandbox = module.run_sandbox
    boot_error = getattr(module, "BootError", None)
    if isinstance(boot_error, type) and issubclass(boot_error, Exception):
        return entry, (boot_error,)
    return entry, ()


def write_pid_file(path: str, pid: int) -> str:
    """Write *pid* to *path* atomically (a reader never sees a partial number), as runc does.

    :returns: the absolute path written.
    :raises StateError: it cannot be written.
    """
    path = os.path.abspath(path)
    tmp = os.path.join(
        os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}"
    )
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
            0o644,
        )
        try:
            os.write(fd, str(pid).encode("ascii"))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateError(f"cannot write pid file {path}: {e.strerror}") from None
    return path


def _unlink_quietly(path: str | None) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except OSError as e:
        logger.debug("cannot remove %s: %s", path, e.strerror)


_TERMINATING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


class _StartAborted(BaseException):
    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def _abort_start(signo: int, _frame: object) -> None:
    raise _StartAborted(signo)


class _signals_abort_start:  # noqa: N801 - used as a function: with _signals_abort_start()
    """Until the sentry takes the terminating signals over (when the workload starts), one
    of them aborts the start: the state is removed and the status is 128+N, as for a
    command interrupted before it ran. Left to the default action, it would kill this
    process and leave the state directory behind."""

    def __enter__(self) -> None:
        self.previous = {sig: signal.signal(sig, _abort_start) for sig in _TERMINATING}

    def __exit__(self, *exc: object) -> None:
        for sig, h in self.previous.items():
            signal.signal(sig, h)


def run_foreground(
    root: str,
    cfg: BootConfig,
    *,
    bundle: str,
    config_path: str | None,
    annotations: dict[str, str],
    pid_file: str | None,
    keep_when_stopped: bool,
    hooks: dict[str, list[Hook]] | None = None,
    namespaces: HostNamespaces | None = None,
    cgroup: tuple[str | None, dict[str, Any]] | None = None,
) -> int:
    """Record the container, then run the sandbox in the foreground until the workload exits.

    Without a cgroup (``do``) this process is the sandbox process; with one (``run``, ``do
    --memory-limit``) the sandbox process is a child of this one (:class:`_SandboxProcess`
    says why). Either way the sandbox process's pid is the container's, and this process
    exits with the workload's status. Any failure before the sandbox starts leaves no state
    directory and no pid file behind.

    :param keep_when_stopped: leave the state (status ``stopped``, exit status recorded) for a
        later ``delete`` (which runs the poststop hooks); otherwise remove it once the
        sandbox has exited.
    :param hooks: config.json's hooks: init is held until the ones before start have run.
    :param namespaces: the host namespaces to enter (:mod:`.hostns`).
    :param cgroup: (``linux.cgroupsPath``, ``linux.resources``): the sandbox process is
        moved into that cgroup before it starts the sandbox, as create's is (``delete``
        removes it; without *keep_when_stopped*, this function does).
    :returns: the workload's exit status (128+N if it was killed by signal N).
    :raises UserError: invalid id, id in use, state or pid file not writable, or the sentry
        refused the configuration.
    """
    container_id = validate_id(cfg.container_id)
    with _signals_abort_start():
        store = StateStore(root)
        state = _new_state(store, cfg, CREATED, bundle, config_path, annotations)
        state.hooks = dict(hooks or {})
        cg = Cgroup(cgroup_path(cgroup[0], container_id)) if cgroup is not None else None
        state.cgroup_path = cg.path if cg is not None else None
        written: str | None = None

        def before_start() -> None:
            for kind in _CREATE_HOOKS:
                run_hooks(kind, state.hooks, _hook_state(state, CREATING))
            run_hooks("startContainer", state.hooks, _hook_state(state, CREATED))

        def started() -> None:
            with store.locked(container_id) as locked:
                locked.state.status = RUNNING
                locked.state.started = rfc3339()
                locked.save()
            run_hooks_logged("poststart", state.hooks, _hook_state(state, RUNNING))

        cfg.hold_init = True
        child: _SandboxProcess | None = None
        run_sandbox: RunSandbox | None = None
        boot_errors: tuple[type[Exception], ...] = ()
        if cg is not None:
            # A sentry forked before this cgroup existed (runsc_py.launch) would have
            # its memory charged outside it: the sandbox process, in the cgroup by then,
            # prestarts one instead.
            supervisor = sys.modules.get("sentry.supervisor")
            if supervisor is not None:
                supervisor.discard_prestarted()

            def sandbox() -> int:
                with _prestarted_sentry(cg) as moved:
                    entry, errors = sandbox_entry()
                    _be_sandbox_process(state, os.getpid())
                    _enter_namespaces(cfg, namespaces)
                    try:
                        gofer = _early_gofer(cfg, moved)
                        return entry(cfg, before_start, started, gofer=gofer)
                    except errors as e:
                        # Reported as what it is to the user, whether its class pickles
                        # or not.
                        raise UserError(str(e)) from None

            child = _SandboxProcess(sandbox)
            _be_sandbox_process(state, child.pid)
        else:
            run_sandbox, boot_errors = sandbox_entry()
        try:
            store.create(state)
        except BaseException:
            if child is not None:
                child.abandon()
            raise
        try:
            if cg is not None and child is not None:
                cg.create()
                cg.apply(cgroup[1] if cgroup is not None else {})
                # (the child joins it itself: _prestarted_sentry)
            else:
                _enter_namespaces(cfg, namespaces)
            if pid_file is not None:
                written = write_pid_file(pid_file, state.pid)
            logger.debug("container %s: starting sandbox in process %d", container_id, state.pid)
            if child is not None:
                status: object = child.run()
            else:
                assert run_sandbox is not None
                status = run_sandbox(cfg, before_start, started)
            # The workload is gone; the bookkeeping below is not to be cut short.
            for sig in _TERMINATING:
                signal.signal(sig, signal.SIG_IGN)
        except BaseException as e:
            # No exit status to report: the sandbox never started or the sentry failed; a
            # half-recorded container would only confuse the next create of this id.
            if child is not None:
                child.abandon()
            if cg is not None:
                cg.destroy()
            store.discard(container_id)
            _unlink_quietly(written)
            if isinstance(e, _StartAborted):
                logger.debug("container %s: start aborted by signal %d", container_id, e.signo)
                return 128 + e.signo
            if isinstance(e, boot_errors):
                raise UserError(str(e)) from None
            raise
        if cg is not None and not keep_when_stopped:
            cg.destroy()
        if (
            not isinstance(status, int)
            or isinstance(status, bool)
            or not 0 <= status <= 255
        ):
            store.discard(container_id)
            raise RuntimeError(f"run_sandbox returned {status!r}, not an exit status 0-255")
        logger.debug("container %s: exited with status %d", container_id, status)
        if keep_when_stopped:
            try:
                with store.locked(container_id) as locked:
                    locked.state.status = STOPPED
                    locked.state.exit_status = status
                    locked.state.finished = rfc3339()
                    locked.save()
            except ContainerNotFound:
                logger.debug("container %s: state removed while it ran", container_id)
        else:
            run_hooks_logged("poststop", state.hooks, _hook_state(state, STOPPED))
            store.discard(container_id)
        return status


class _prestarted_sentry:  # noqa: N801 - used as a function: with _prestarted_sentry()
    """In the sandbox process: join the container's cgroup *cg*, then fork the
    sentry first, so that it imports the sentry while this process imports what starts
    the sandbox (:func:`sandbox_entry`) and makes the gofer
    (:func:`sentry.supervisor.prestart`: ``supervisor.run`` hands it its work); stopped
    if the start fails before that.  The sentry is forked once this process is in every
    hierarchy that counts or limits it (its memory is the container's).  The moves that
    wait for an RCU grace period and limit nothing (a hybrid host's v2 hierarchy:
    :meth:`Cgroup.join_self`) are left to the function the ``with`` gives, which makes
    them for this process, the sentry and the processes it is given (the gofer:
    :func:`_early_gofer`), while the sentry imports."""

    def __init__(self, cg: Cgroup) -> None:
        self.cg = cg

    def __enter__(self) -> Callable[[list[int]], None]:
        from sentry import prestart as early

        rest = self.cg.join_self()
        forked = early.fork()
        from sentry import supervisor

        self.supervisor = supervisor
        if forked is not None:
            supervisor.adopt_prestarted(*forked)
        mine = [forked[0]] if forked is not None else []

        def moved(pids: list[int]) -> None:
            rest(mine + pids)

        return moved

    def __exit__(self, *exc: object) -> None:
        self.supervisor.discard_prestarted()  # not handed over: the start failed


def _early_gofer(cfg: BootConfig, moved: Callable[[list[int]], None]) -> Any:
    """In the sandbox process, in its namespaces: start the gofer now, while the
    prestarted sentry imports (it served its first request ~8 ms after its fork; started
    by ``run_sandbox`` it was, for ~3 ms of them, what the sentry waited for), then make
    the cgroup moves left (*moved*, from :class:`_prestarted_sentry`) for the sandbox
    process, its sentry and the gofer.  Returns the gofer for ``run_sandbox``.

    :raises BootError: as ``run_sandbox`` (a mount source does not exist).
    """
    start_gofer = getattr(sys.modules["sentry.boot"], "start_gofer", None)
    if start_gofer is None:  # a stand-in sentry (tests): it starts nothing
        moved([])
        return None
    gofer = start_gofer(cfg)
    try:
        moved([gofer.pid])
    except BaseException:
        gofer.end()
        raise
    return gofer


def _be_sandbox_process(state: ContainerState, pid: int) -> None:
    """*pid* is the container's sandbox process (and its pid)."""
    state.pid = state.sandbox_pid = pid
    state.sandbox_start_time = process.start_time(pid)


#: si_code of a signal the kernel sent: a terminal's to its foreground process group.
_SI_KERNEL = 0x80
#: Most bytes the sandbox process reports (less than a pipe holds: it reports before it
#: exits, and the run process reads once it has).
_REPORT_MAX = 60000


class _SandboxProcess:
    """The sandbox process of a foreground container with a cgroup: a child of the run
    process, as runc's init is of ``runc run``.

    It must be in the container's cgroup (what it starts is born there), and the cgroup
    can be removed only once no process is left in it.  When the run process was the
    sandbox process it joined the cgroup and had to leave it again at the end, and each
    move between cgroups waits for an RCU grace period (the cgroup v2 hierarchy's at
    least, whatever the file written: 8-28 ms for the leave here, of a ~190 ms ``run``).
    Now the run process stays where it is: the child joins the cgroup itself before it
    starts the sandbox (:class:`_prestarted_sentry`), and the run process removes the
    cgroup once the child has exited.

    The child waits for :meth:`run` before it runs its *body*; it dies with the run
    process (``PDEATHSIG``), which passes the terminating signals it gets on to it (not
    a terminal's: the child, in the same foreground group, has its own copy).  What the
    body returns, or raises, comes back pickled and is returned, or raised, by
    :meth:`run`, so that the caller's handling of a sandbox in its own process holds.
    """

    def __init__(self, body: Callable[[], object]) -> None:
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except BaseException:
            for fd in (go_r, go_w, report_r, report_w):
                os.close(fd)
            raise
        if pid == 0:
            os.close(go_w)
            os.close(report_r)
            _sandbox_process_main(go_r, report_w, parent, body)  # never returns
        os.close(go_r)
        os.close(report_w)
        self.pid = pid
        self._go = go_w
        self._report = report_r
        self._status: int | None = None  # its wait status, once reaped

    def run(self) -> object:
        """Let the child run its body and wait for it; what the body returned (or the
        status the child died with, if it said nothing).

        :raises BaseException: what the body raised.
        """
        gc.enable()  # off while the command imported (runsc_py.launch.entry)
        mask = {*_TERMINATING, signal.SIGCHLD}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, mask)
        try:
            os.write(self._go, b"g")
            self._close_go()
            while not self._reap(os.WNOHANG):
                info = signal.sigwaitinfo(mask)
                if info.si_signo != signal.SIGCHLD and info.si_code != _SI_KERNEL:
                    os.kill(self.pid, info.si_signo)  # not reaped: still its pid
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return self._outcome()

    def abandon(self) -> None:
        """Kill the child (whether it started or not) and reap it; never raises."""
        self._close_go()
        if self._status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(0)
        if self._report >= 0:
            os.close(self._report)
            self._report = -1

    def _close_go(self) -> None:
        if self._go >= 0:
            os.close(self._go)
            self._go = -1

    def _reap(self, flags: int) -> bool:
        if self._status is None:
            try:
                pid, st = os.waitpid(self.pid, flags)
            except ChildProcessError:
                pid, st = self.pid, 0
            if pid == 0:
                return False
            self._status = st
        return True

    def _outcome(self) -> object:
        import pickle

        chunks = []
        while chunk := os.read(self._report, 65536):
            chunks.append(chunk)
        os.close(self._report)
        self._report = -1
        if chunks:
            kind, value = pickle.loads(b"".join(chunks))
            if kind == "raise":
                raise value
            return value
        code = os.waitstatus_to_exitcode(self._status or 0)
        return 128 - code if code < 0 else code


def _sandbox_process_main(go: int, report: int, parent: int, body: Callable[[], object]) -> None:
    """The child of :class:`_SandboxProcess`: wait for the go, run *body*, report."""
    import pickle

    outcome: tuple[str, object]
    try:
        try:
            from gofer import linux

            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent or os.read(go, 1) != b"g":
                os._exit(1)  # the run process died, or gave up before the start
            os.close(go)
            outcome = ("return", body())
        except BaseException as e:  # noqa: BLE001 - reported to the run process
            if not isinstance(e, (UserError, _StartAborted)):
                logger.debug("sandbox process failed", exc_info=True)
            outcome = ("raise", e)
        try:
            data = pickle.dumps(outcome)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            data = b""
        if not data or len(data) > _REPORT_MAX:
            what = outcome[1]
            text = f"{type(what).__name__}: {one_line(str(what))[:1000]}"
            data = pickle.dumps(("raise", RuntimeError(f"the sandbox process: {text}")))
        view = memoryview(data)
        while view:
            view = view[os.write(report, view):]
    finally:
        log.flush_stdio()
        log.close()
        os._exit(0)


# Run by create, in this order (runtime-spec: prestart is the deprecated createRuntime and
# runs first).
_CREATE_HOOKS = ("prestart", "createRuntime", "createContainer")


def _hook_state(st: ContainerState, status: str) -> dict[str, object]:
    """The state a hook reads on stdin (runtime-spec runtime.md "State")."""
    return {
        "ociVersion": st.oci_state()["ociVersion"],
        "id": st.id,
        "status": status,
        "pid": 0 if status == STOPPED else st.pid,
        "bundle": st.bundle,
        "annotations": dict(st.annotations),
    }


def state(root: str, container_id: str) -> dict[str, object]:
    """The OCI state of one container.

    :raises ContainerNotFound: no such container.
    """
    store = StateStore(root)
    return store.load(container_id).oci_state(store.owner(container_id))


def list_states(root: str) -> list[tuple[ContainerState, dict[str, object]]]:
    """Every container under *root*, with its OCI state."""
    store = StateStore(root)
    return [(s, s.oci_state(store.owner(s.id))) for s in store.list()]


def delete(root: str, container_id: str, force: bool) -> None:
    """Remove a stopped container; with *force*, kill a running one first.

    A ``created`` container is killed without *force*, as runc does.

    :raises ContainerNotFound: no such container (never with *force*).
    :raises WrongState: it is running (or paused) and *force* is not set.
    """
    store = StateStore(root)
    try:
        with store.locked(container_id) as locked:
            st = locked.state
            status = st.current_status()
            if status != STOPPED:
                if status not in (CREATED, CREATING) and not force:
                    raise WrongState(
                        f"cannot delete container {container_id} that is not stopped: {status}"
                    )
                logger.debug(
                    "container %s: killing sandbox process %d",
                    container_id,
                    st.sandbox_pid,
                )
                process.kill_and_wait(st.sandbox_pid, st.sandbox_start_time)
            if st.cgroup_path is not None:
                Cgroup(st.cgroup_path).destroy()
            run_hooks_logged("poststop", st.hooks, _hook_state(st, STOPPED))
            locked.destroy()
    except ContainerNotFound:
        if force:
            return
        raise
    except CorruptState as e:
        if not force:
            raise StateError(f"{e}; delete --force removes it") from None
        logger.debug("removing unreadable state of %s: %s", quote(container_id), e)
        store.remove_unreadable(container_id)


def _new_state(
    store: StateStore,
    cfg: BootConfig,
    status: str,
    bundle: str,
    config_path: str | None,
    annotations: dict[str, str],
) -> ContainerState:
    """The first state of a container whose sandbox process is, for now, this one."""
    me = os.getpid()
    return ContainerState(
        id=cfg.container_id,
        bundle=bundle,
        rootfs=cfg.root_path,
        status=status,
        pid=me,
        created=rfc3339(),
        sandbox_pid=me,
        sandbox_start_time=process.start_time(me),
        control_socket=store.control_socket(cfg.container_id),
        config_path=config_path,
        annotations=dict(annotations),
    )


def create(
    root: str,
    cfg: BootConfig,
    *,
    bundle: str,
    config_path: str | None,
    annotations: dict[str, str],
    pid_file: str | None,
    cgroups_path: str | None = None,
    resources: dict[str, Any] | None = None,
    console: tuple[str, tuple[int, int] | None] | None = None,
    hooks: dict[str, list[Hook]] | None = None,
    namespaces: HostNamespaces | None = None,
) -> int:
    """Start the sandbox process with init loaded and held before its first instruction.

    The sandbox process is a child of this one (so it inherits the container's stdio and is
    reaped by whoever reaps this process's orphans: containerd's shim and conmon are
    subreapers), in a session of its own. Returns once init exists and the control socket
    listens, or the sandbox failed: then nothing is left behind.

    The prestart, createRuntime and createContainer hooks run once the sandbox process
    exists (its host namespaces are *namespaces*: :mod:`.hostns`); the others are kept
    in the state for start and delete.

    :returns: the sandbox process's pid.
    :raises UserError: invalid id, id in use, state or pid file not writable, the sentry
        refused the configuration (its one-line reason), or a hook failed.
    """
    container_id = validate_id(cfg.container_id)
    store = StateStore(root)
    cg = Cgroup(cgroup_path(cgroups_path, container_id))
    with _signals_abort_start():
        state = _new_state(store, cfg, CREATING, bundle, config_path, annotations)
        state.cgroup_path = cg.path
        state.hooks = dict(hooks or {})
        store.create(state)
        child = -1
        written: str | None = None
        try:
            cg.create()
            cg.apply(resources or {})
            cfg.hold_init = True
            cfg.control_socket = state.control_socket
            replica = None
            if console is not None:
                from runsc_py.console import open_console

                replica = open_console(*console)
            if replica is not None:
                cfg.stdio = (replica, replica, replica)
            try:
                child, failure = _fork_sandbox(cfg, cg, namespaces)
            finally:
                if replica is not None:
                    os.close(replica)
            if failure is not None:
                raise UserError(failure)
            with store.locked(container_id) as locked:
                locked.state.pid = child
                locked.state.sandbox_pid = child
                locked.state.sandbox_start_time = process.start_time(child)
                locked.save()
                for kind in _CREATE_HOOKS:
                    # createContainer runs where the container is (its network namespace).
                    run_hooks(kind, state.hooks, _hook_state(locked.state, CREATING),
                              netns_pid=child if kind == "createContainer" else None)
            if pid_file is not None:
                written = write_pid_file(pid_file, child)
            with store.locked(container_id) as locked:
                locked.state.status = CREATED
                locked.save()
        except BaseException as e:
            if child > 0:
                process.kill_and_wait(child, None)
                _reap_quietly(child)
            cg.destroy()
            store.discard(container_id)
            _unlink_quietly(written)
            if isinstance(e, _StartAborted):
                raise UserError(f"create aborted by signal {e.signo}", 128 + e.signo) from None
            raise
        logger.debug("container %s: sandbox process %d created", container_id, child)
        return child


def _reap_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _fork_sandbox(
    cfg: BootConfig, cg: Cgroup, namespaces: HostNamespaces | None
) -> tuple[int, str | None]:
    """Fork the sandbox process; wait until it is ready or has failed.

    :returns: its pid, and None or the one-line reason it failed (it has exited then).
    """
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the sandbox process; never returns
        os.close(r)
        _sandbox_main(cfg, cg, namespaces, w)
    os.close(w)
    chunks = []
    with open(r, "rb") as f:
        while chunk := f.read(4096):
            chunks.append(chunk)
    report = b"".join(chunks).decode("utf-8", "replace")
    if report == "ok":
        return pid, None
    _reap_quietly(pid)
    return pid, report or "the sandbox process exited during start"


def _sandbox_main(
    cfg: BootConfig,
    cg: Cgroup,
    namespaces: HostNamespaces | None,
    ready_fd: int,
) -> None:
    status = 1
    reported = False
    boot_errors: tuple[type[Exception], ...] = ()

    def ready() -> None:
        nonlocal reported
        os.write(ready_fd, b"ok")
        os.close(ready_fd)
        reported = True

    try:
        # Its own session: the caller's terminal and process group signals are not its.
        os.setsid()
        if cfg.stdio[0] != 0:  # a console: the session's controlling terminal
            from runsc_py.console import make_controlling

            make_controlling(cfg.stdio[0])
            # The workload's stdio is the console; the CLI's own (which runc's clients
            # read to its end: containerd's shim reads create's output until EOF) is not
            # the sandbox's to keep.
            _stdio_to_devnull()
        # Everything it starts (sentry, gofer, workload) is born in the container's
        # cgroup, or moved there with it.
        with _prestarted_sentry(cg) as moved:
            run_sandbox, boot_errors = sandbox_entry()
            _enter_namespaces(cfg, namespaces)
            gofer = _early_gofer(cfg, moved)
            for sig in _TERMINATING:
                signal.signal(sig, signal.SIG_DFL)
            status = run_sandbox(cfg, ready, gofer=gofer)
    except BaseException as e:  # noqa: BLE001 - the child must always exit here
        if not reported:
            msg = str(e) if isinstance(e, (UserError, *boot_errors)) else (
                f"internal error: {type(e).__name__}: {e}"
            )
            logger.debug("sandbox process failed", exc_info=True)
            try:
                os.write(ready_fd, msg.encode("utf-8", "replace")[:4000] or b"failed")
            except OSError:
                pass
        else:
            logger.error("sandbox failed: %s", e, exc_info=True)
        status = 1 if not isinstance(e, SystemExit) else int(e.code or 0)
    finally:
        log.close()
        os._exit(status)


def _enter_namespaces(cfg: BootConfig, namespaces: HostNamespaces | None) -> None:
    """The sandbox process enters its host namespaces; the hostname may come from a
    joined UTS namespace (a CRI pod's)."""
    if namespaces is not None:
        hostname = namespaces.enter()
        if hostname is not None:
            cfg.hostname = hostname


def _stdio_to_devnull() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _live_state(root: str, container_id: str) -> tuple[StateStore, ContainerState, str]:
    store = StateStore(root)
    st = store.load(container_id)
    return store, st, st.current_status()


def start(root: str, container_id: str) -> None:
    """Let a created container's init run.

    :raises WrongState: it is not ``created``.
    """
    store = StateStore(root)
    with store.locked(container_id) as locked:
        st = locked.state
        status = st.current_status()
        if status == STOPPED:
            raise WrongState("cannot start a container that has stopped")
        if status != CREATED:
            raise WrongState(f"cannot start an already {status} container")
        try:
            run_hooks("startContainer", st.hooks, _hook_state(st, CREATED), netns_pid=st.pid)
        except UserError:
            # runtime-spec: a failed startContainer hook stops the container.
            process.kill_and_wait(st.sandbox_pid, st.sandbox_start_time)
            raise
        # The bookkeeping first: once init runs, the caller (docker sets the terminal's
        # size when start returns) should hear back at once, as from runc's start.
        st.status = RUNNING
        st.started = rfc3339()
        locked.save()
        try:
            from runsc_py.container import control

            control.request(st.control_socket, container_id, {"cmd": "start"})
        except BaseException:
            st.status = CREATED
            st.started = None
            locked.save()
            raise
        run_hooks_logged("poststart", st.hooks, _hook_state(st, RUNNING))


def kill(root: str, container_id: str, signo: int, all_: bool) -> None:
    """Send *signo* to the container's init (or, with *all_*, to every process).

    :raises WrongState: it is not running (runc's "container not running").
    """
    _store, st, status = _live_state(root, container_id)
    if status in (STOPPED, CREATING):
        raise WrongState("container not running")
    from runsc_py.container import control

    control.request(
        st.control_socket, container_id, {"cmd": "signal", "signo": signo, "all": all_}
    )


def pause(root: str, container_id: str, paused: bool) -> None:
    """Stop (or continue) every workload thread; the sentry does it (``Kernel.pause``).

    :raises WrongState: pause of a container that is not running, resume of one that is
        not paused (runc's words).
    """
    store = StateStore(root)
    with store.locked(container_id) as locked:
        st = locked.state
        status = st.current_status()
        if paused and status != RUNNING:
            raise WrongState("container not running")
        if not paused and status != PAUSED:
            raise WrongState("container not paused")
        from runsc_py.container import control

        control.request(
            st.control_socket, container_id, {"cmd": "pause" if paused else "resume"}
        )
        st.status = PAUSED if paused else RUNNING
        locked.save()


def stats(root: str, container_id: str) -> dict[str, Any]:
    """cpu, memory and pids of the container's cgroup (``events --stats``'s data)."""
    _store, st, status = _live_state(root, container_id)
    if status == STOPPED:
        raise WrongState("container not running")
    return Cgroup(st.cgroup_path).stats() if st.cgroup_path else {}


def update(root: str, container_id: str, resources: dict[str, Any]) -> None:
    """Apply new ``linux.resources`` to the container's cgroup."""
    _store, st, status = _live_state(root, container_id)
    if status == STOPPED:
        raise WrongState("container not running")
    if st.cgroup_path is None:
        raise WrongState("container has no cgroup")
    Cgroup(st.cgroup_path).apply(resources)


def ps(root: str, container_id: str) -> list[dict[str, object]]:
    """The container's processes (from the sentry's process table)."""
    _store, st, status = _live_state(root, container_id)
    if status in (STOPPED, CREATING):
        raise WrongState("container not running")
    from runsc_py.container import control

    reply = control.request(st.control_socket, container_id, {"cmd": "ps"})
    procs = reply.get("processes")
    return procs if isinstance(procs, list) else []
