"""Boot a sandbox: gofer, mount tree, first task, event loop.

:func:`run_sandbox` is what the CLI calls.  It runs the sentry in the calling
process and returns the exit status (the workload's, or 128+N when it was
killed by signal N).  Host resources the sentry takes at boot, before it serves
any syscall (listed in ARCHITECTURE.md): a ``/proc`` directory fd (to read
``status``/``maps`` of its own tracees and open their ``mem``), the caller's
stdio, the stub image as a sealed memfd, and the gofer's socket.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import gc
import os
import select
import _signal as signal
import stat
import sys

from runsc_py import jsonc
from sentry import logger
from sentry.config import BootConfig

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

log = logger.get("sentry")


def _gofer_gone(pid: int, _events: int) -> None:
    """The gofer's end of its socket closed: it died (it never closes it while serving).
    The sandbox stops as if its init had been killed (status 137)."""
    from sentry.kernel.kernel import SandboxExit

    log.error("the gofer (host pid %d) is gone; stopping the sandbox", pid)
    try:
        sys.stderr.write(f"runsc-py: the gofer (pid {pid}) died; the sandbox is stopped\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    raise SandboxExit(128 + signal.SIGKILL)


class BootError(Exception):
    """A user-caused failure to start the sandbox (one line, non-zero exit)."""


F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8


def _stub_memfd() -> Tuple[int, int]:
    """The stub as a sealed memfd, and its gadget address."""
    # A plain read next to this module: importlib.resources would import zipfile,
    # tempfile and pathlib into every sandbox process for one file of a non-zip package.
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub.bin"), "rb") as f:
        data = f.read()
    entry = int.from_bytes(data[24:32], "little")
    fd = os.memfd_create("runsc-py-stub", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
    return fd, entry + 2


def _setup_logging(cfg: BootConfig) -> Optional[Any]:
    """The sentry's log as *cfg* asks (:mod:`sentry.logger`): without a log, nothing is
    written and :mod:`logging` is not imported; with one, its handler (a
    ``logging.Handler``, removed at the end)."""
    if not (cfg.debug or cfg.debug_log or cfg.strace):
        # The sentry's messages never go to the workload's stderr unless asked for.
        logger.set_threshold(logger.OFF)
        return None
    import logging

    log = logging.getLogger("sentry")
    handler: logging.Handler
    if cfg.debug_log:
        handler = logging.FileHandler(cfg.debug_log)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    level = logger.DEBUG if cfg.debug else logger.INFO
    log.setLevel(level)
    log.propagate = False
    logger.set_threshold(level)
    return handler


def _lookup_path(vfs, t, argv0: str, env: List[str]) -> bytes:
    """Resolve the program like execvp in the container (runc does the same)."""
    if "/" in argv0:
        return argv0.encode()
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        cand = (d or ".").rstrip("/") + "/" + argv0
        try:
            desc, _ = vfs.open_exec(t, cand.encode())
        except Exception:
            continue
        desc.decref()
        return cand.encode()
    raise BootError(f"executable file not found in $PATH: {argv0!r}")


class Gofer:
    """The sandbox's gofer, a child of this process (:func:`start_gofer`): its pid, this
    process's end of its channel and a pidfd of it."""

    def __init__(self, pid: int, sock: Any, pidfd: int) -> None:
        self.pid, self.sock, self.pidfd = pid, sock, pidfd

    def end(self) -> None:
        """Close this end of the channel and kill and reap the gofer (it has ended
        already if the sentry closed its own end)."""
        self.sock.close()
        _end_gofer(self.pidfd)


def start_gofer(cfg: BootConfig) -> Gofer:
    """Start the gofer that serves *cfg*'s root and bind mounts.  The gofer is this
    process's child, not the sentry's (gofer.launch says why); the sentry asks for its
    channel (SentryLink.gofer) and closes it when it exits, which ends the gofer while
    the sentry ends too.  Called by :func:`run_sandbox`, or earlier by a caller that has
    something to wait for meanwhile (the sandbox process of ``run`` and ``create``: its
    cgroup's v2 move, runsc_py.cgroups.Cgroup.join_self), which passes it on.

    :raises BootError: a mount source does not exist.
    """
    from gofer.launch import fork

    roots = [(cfg.root_path, True if cfg.overlay else cfg.root_readonly)]
    roots += [(m.source, m.readonly) for m in cfg.mounts if m.type == "bind"]
    for src, _ro in roots:
        if not os.path.exists(src):
            raise BootError(f"mount source {src!r} does not exist")
    pid, sock = fork(roots, cfg.oom_score_adj)
    try:
        pidfd = os.pidfd_open(pid)  # before anything could reap it
    except OSError:
        sock.close()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return Gofer(pid, sock, pidfd)


def run_sandbox(cfg: BootConfig, on_ready: Optional[Callable[[], None]] = None,
                on_started: Optional[Callable[[], None]] = None,
                gofer: Optional[Gofer] = None) -> int:
    """Run one sandbox to completion; returns its exit status.

    With ``cfg.hold_init`` (``create``) init is loaded but held before its first
    instruction until the control server's ``start``.  *on_ready* is called once init
    exists and the control socket (``cfg.control_socket``) listens.  With *on_started*
    (``run``'s hooks) a held init is released right after *on_ready*, then it is called.
    *gofer*: one :func:`start_gofer` started for *cfg* (this function ends it); None:
    this function starts it.

    This process stays on the host side as the supervisor; the sentry is its child and
    confines itself once the workload may run (:mod:`sentry.supervisor`,
    :mod:`sentry.confine`).  The callbacks run here, in the supervisor.

    :raises BootError: the workload could not be started (bad cwd, missing program ...).
    """
    from sentry import supervisor

    if gofer is None:
        gofer = start_gofer(cfg)
    try:
        body: Callable[[Any], int] = functools.partial(_run_sentry, cfg, on_started is not None)
        if cfg.profile:
            body = functools.partial(_profiled, cfg.profile, body)
        return supervisor.run(body, on_ready, on_started, BootError,
                              keep_fds=sorted({0, 1, 2, *cfg.stdio}),
                              gofer=(gofer.pid, gofer.sock))
    finally:
        gofer.end()


def _end_gofer(pidfd: int) -> None:
    """Kill the gofer (it has ended already if the sentry closed its channel) and reap it,
    unless the supervisor's SIGCHLD handler did (a pidfd: no other process can be hit)."""
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
    except ChildProcessError:
        pass
    finally:
        os.close(pidfd)


def _profiled(path: str, body: Callable[[Any], int], link: Any) -> int:
    """Run the sentry's *body* under cProfile and write its statistics (pstats' format) to
    *path* when it returns.  The file is opened now: once confined, the sentry can open
    no path, but it may write to an fd it holds."""
    import cProfile
    import marshal

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise BootError(f"--profile {path}: {e.strerror}") from None
    prof = cProfile.Profile()
    try:
        return prof.runcall(body, link)
    finally:
        prof.create_stats()
        data = memoryview(marshal.dumps(prof.stats))  # what Profile.dump_stats writes
        while data:
            data = data[os.write(fd, data):]
        os.close(fd)


def _open_report(path: Optional[str], flag: str) -> Optional[int]:
    if not path:
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise BootError(f"{flag} {path}: {e.strerror}") from None


def _write_report(fd: int, kernel: Any, status: int, fast_counts: List[int],
                  c_gofer: Tuple[List[int], List[int]]) -> None:
    """The compat report (:meth:`sentry.kernel.compat.CompatRecorder.report`) and how
    init ended: ``exit_code`` or ``signal`` (from its wait status, or the fatal signal
    the sentry gave its thread group)."""
    report = kernel.compat.report(fast_counts, c_gofer)
    raw = kernel.exit_status
    init_tg = kernel.init_tg
    signo = getattr(init_tg, "fatal_signal", 0) or 0
    if not signo and raw is not None and os.WIFSIGNALED(raw):
        signo = os.WTERMSIG(raw)
    exit_code = None
    if not signo and raw is not None and os.WIFEXITED(raw):
        exit_code = os.WEXITSTATUS(raw)
    report.update(status=status, exit_code=exit_code, signal=signo or None)
    data = memoryview(jsonc.dumps(report).encode())
    while data:
        data = data[os.write(fd, data):]


def _start_failed(cfg: BootConfig, e: Exception) -> Exception:
    """What starting init's process or program raising *e* is to the caller: a
    :class:`BootError` saying why, or *e* itself (a bug, not the workload's doing)."""
    from sentry.kernel.kernel import ProcessSetupError

    if isinstance(e, ProcessSetupError):
        return BootError(f"cannot start {cfg.argv[0]!r}: {e.strerror}")
    en = getattr(e, "errno", None)
    if isinstance(e, OSError) and en not in (errno.EACCES, errno.ENOENT, errno.ENOEXEC):
        return e
    if en:
        return BootError(f"cannot start {cfg.argv[0]!r}: {os.strerror(en)}")
    return e


def _fetch_in_c(kernel: Any, vfs: Any, gofer: Any, native: Any) -> None:
    """Let C open the root's files it has stat answers for but no kept fd itself, with a
    Tfetch of its own on the gofer channel (rt.c ``sc_fetch``): when the root is a
    trusted gofer file system (read-only, exclusive), or the overlay's lower layer is
    one.  Not while a Treadtree reply streams on the channel."""
    from sentry.fsimpl.gofer.filesystem import GoferFilesystem
    from sentry.vfs import statcache

    if kernel.python_only or not statcache.enabled():
        return
    top = vfs.root()
    fs = top.mount.fs
    lower = getattr(fs, "lower", fs)
    if not isinstance(lower, GoferFilesystem) or not lower.trusted:
        return
    handle = getattr(lower.root_inode(), "handle", None)
    if handle is None:
        return
    native.fetch_setup(gofer.fileno(), handle, lower.dev)

    def new_place(key: int, root: Any, cwd: Any) -> None:
        # (the sandbox's root and a cwd on its own mount: the path is the lower layer's)
        if root == top and cwd.mount is top.mount and not cwd.dentry.dead:
            path, reachable = vfs.path_of(cwd, root)
            if reachable:
                native.fetch_place(key, path)

    statcache.on_new_place(new_place)
    stream, request = gofer.on_stream, gofer.on_request

    def on_stream(started: bool) -> None:
        native.fetch_pause(started)
        if stream is not None:
            stream(started)

    def on_request() -> None:
        # (before each of Python's requests: the channel is one for both sides, and the
        # reply to a fetch C asked ahead comes first)
        if native.fetch_settle() and not gofer.broken:
            log.error("the gofer answered a Tfetch with what no Tfetch reply is: the "
                      "channel is taken as broken")
            gofer.broken = True
        elif gofer.broken:
            native.fetch_setup(-1, 0, 0)
        if request is not None:
            request()

    gofer.on_stream, gofer.on_request = on_stream, on_request
    native.fetch_pause(gofer.streaming)  # (a listing the mount tree asked for may stream)


def _host_zero() -> Tuple[int, int]:
    """The host's /dev/zero, read-only and read-write ((-1, -1) if it cannot be opened):
    what a mapping of the sandbox's /dev/zero maps (``ZeroDevice.shared_mapping_fd``),
    so that the host makes it as Linux does, anonymous or (``MAP_SHARED``) shared memory
    of its own."""
    try:
        ro = os.open("/dev/zero", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1, -1
    try:
        return ro, os.open("/dev/zero", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        os.close(ro)
        return -1, -1


def _run_sentry(cfg: BootConfig, release: bool, link: Any) -> int:
    """The sentry: boot the sandbox, tell the supervisor (*link*,
    :class:`sentry.supervisor.SentryLink`) when init is ready and, with *release*, let it
    run and say it started; confine this process; serve the workload until it exits."""
    handler = _setup_logging(cfg)
    if not cfg.argv:
        raise BootError("no command to run")
    # Opened now: once confined, the sentry can open no path.
    report_fd = _open_report(cfg.compat_report, "--compat-report")
    # Before init exists, so that it inherits it (the gofer took it when it started).
    oom_score_adj, host_oom = _own_oom_score_adj(cfg.oom_score_adj)
    # The gofer the supervisor started imports its server and confines itself while the
    # sentry imports its kernel.
    gofer_pid, sock = link.gofer()
    from sentry.confine import confine_sentry, preload

    # Everything the confined sentry may import, while the gofer starts up.
    preload()
    if logger.enabled(logger.INFO):
        from runsc_py import codebundle

        log.info("imports: %s", codebundle.summary())
    from gofer.client import GoferClient
    from sentry.kernel.kernel import Kernel, ProcessSetup
    from sentry.kernel.task import Task, ThreadGroup
    from sentry.mm.memory import FakeMemory
    from sentry.precompute import workload_filter
    from sentry.vfs.fscontext import FSContext
    from sentry.fsimpl.proc.sysctl import sysctl_table
    from sentry.vfs.mount_tree import MountError, apply_config_view, build_mount_tree
    procfd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    zero_fds = _host_zero()
    stub_fd, gadget = _stub_memfd()
    kernel = Kernel(cfg)
    if report_fd is not None:
        kernel.compat.time_calls()  # the report says where the sentry's time went
    kernel.sandbox_pid = os.getppid()
    kernel.procfd = procfd
    kernel.zero_fds = zero_fds
    kernel.host_oom_floor = host_oom
    kernel.sysctl = sysctl_table(cfg.sysctl)
    kernel.domainname = kernel.sysctl.pop("kernel.domainname")
    old_handlers = {}
    control: Any = None
    wakeup: Optional[Tuple[int, int]] = None
    try:
        setup = ProcessSetup(
            no_new_privs=cfg.no_new_privileges, rlimits=list(cfg.rlimits),
            oom_score_adj=oom_score_adj,
            oom_score_adj_min=oom_score_adj if cfg.oom_score_adj is not None
            else min(oom_score_adj, 0),
        )
        kernel.init_setup = setup
        # init's host process sets itself up (namespaces, root, filter, the stub's exec)
        # while the gofer does; its program is loaded once the mount tree is there.
        try:
            kernel.spawn_init(stub_fd, gadget, workload_filter(), setup)
        except Exception as e:
            raise _start_failed(cfg, e) from None
        gofer = GoferClient(sock)
        gofer.version()
        gofer.timing = kernel.compat.timing  # (the compat report's round trips)
        kernel.gofer = gofer
        gofer.on_stream = kernel.cpu_hold.stream
        gofer.on_request = kernel.cpu_hold.request
        from sentry.platform.hybrid import native

        gofer.cpu = native.getcpu
        vfs = build_mount_tree(cfg, gofer, kernel)
        try:
            apply_config_view(vfs, cfg)
        except MountError as e:
            raise BootError(str(e)) from None
        kernel.vfs = vfs
        kernel.open_exec = vfs.open_exec
        _fetch_in_c(kernel, vfs, gofer, native)
        creds = process_credentials(cfg.uid, cfg.gid, cfg.additional_gids, cfg.capabilities)
        root = vfs.root()
        fs = FSContext(root, root, cfg.umask)
        # A task-shaped context for boot-time lookups (cwd, PATH), before any task exists.
        boot_tg = ThreadGroup(kernel, 0, 0)
        boot_task = Task(kernel, boot_tg, 0, 0, creds, None, fs, FakeMemory(16))
        try:
            cwd = vfs.resolve(boot_task, -100, cfg.cwd.encode(), follow=True)
            vfs.chdir(boot_task, cwd)
        except Exception as e:
            raise BootError(f"chdir to cwd ({cfg.cwd!r}) set in config.json failed: "
                            f"{getattr(e, 'strerror', None) or _errname(e)}") from None
        path = _lookup_path(vfs, boot_task, cfg.argv[0], cfg.env)
        fdtable, stdio_descs = _fd_table(kernel, cfg.stdio)
        tty = bool(cfg.stdio) and os.isatty(cfg.stdio[0])
        kernel.console = next((d for d in stdio_descs if getattr(d, "is_tty", False)), None)
        if kernel.console is not None:
            from sentry.fsimpl.dev.dev import DevFilesystem

            for devfs in list(DevFilesystem.instances):
                devfs.add_console(kernel.console.inode)
        tty_signals = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH)
        host_signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
        for sig in host_signals + (tty_signals[2:] if kernel.console is not None else ()):
            # The workload's host processes are in a process group of their own, so a
            # terminal's signals (^C, ^\, ^Z, a resize) reach only the sentry, which
            # gives them to the sandbox's foreground process group of that terminal; a
            # kill(1) of the sentry is the sandbox's (its init's).
            from_tty = tty and sig in tty_signals
            old_handlers[sig] = signal.signal(sig, functools.partial(_on_host_signal, kernel, from_tty))
        link.signals(list(old_handlers))
        try:
            kernel.start_init(stub_fd, gadget, workload_filter(), creds, fdtable, fs,
                              [a.encode() for a in cfg.argv], [e.encode() for e in cfg.env],
                              path, hold=cfg.hold_init, setup=setup)
        except Exception as e:
            raise _start_failed(cfg, e) from None
        for desc in stdio_descs:
            desc.watch(kernel)
        wakeup = _signal_wakeup(kernel)
        # The gofer is the sandbox's only way to its files: if it dies, so does the sandbox
        # (rather than running on with every file operation failing).
        kernel.add_fd_handler(sock.fileno(), select.EPOLLRDHUP,
                              functools.partial(_gofer_gone, gofer_pid))
        if cfg.control_socket:
            from sentry.control.server import ControlServer
            control = ControlServer(kernel, cfg.control_socket,
                                    functools.partial(_start_exec, kernel, creds))
        link.ready(stub_fd, kernel.bpf, kernel.host_id, kernel.ns_fds)
        if release:
            if cfg.hold_init:
                kernel.release_init()
            link.started()
        # From here on the workload runs: the sentry gives up the host (and starts exec'd
        # processes through the supervisor).
        confine_sentry(kernel, link)
        early, kernel.early_host_signals = kernel.early_host_signals, []
        for signo in early:
            kernel.host_signal(signo, False)
        # The cyclic collector: what boot made (modules, the syscall table, the mount
        # tree) lives as long as the sentry, so it leaves the collector's generations;
        # and a young collection every 10,000 allocations instead of 700, since each one
        # traverses the walk's dentries, inodes and listings that survive it (os.walk
        # of a 50k-file tree: 122 collections, 36 ms, before; 7, 9 ms, now).
        gc.freeze()
        gc.set_threshold(10000, 10, 10)
        gc.enable()  # off since a prestarted sentry's fork (sentry.prestart)
        young = gc.get_stats()[0]["collections"]
        status = kernel.run()
        fast, slow = native.fast_stats()
        log.info("exit status %d; the sentry answered %d workload syscalls (%d on the C fast "
                 "path, which fetched %d files from the gofer itself, %d asked for in vain, "
                 "%d ahead of their open, %d of those opened next), besides those the host "
                 "ran; %d young collections", status, fast + slow, fast, native.fetch_count(),
                 native.fetch_count(failures=True), native.fetch_ahead_count(),
                 native.fetch_ahead_count(used=True), gc.get_stats()[0]["collections"] - young)
        if report_fd is not None:
            _write_report(report_fd, kernel, status, native.fast_counts(),
                          native.gofer_counts())
        return status
    finally:
        if report_fd is not None:
            os.close(report_fd)
        if wakeup is not None:
            signal.set_wakeup_fd(-1)
            os.close(wakeup[0])
            os.close(wakeup[1])
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
        if control is not None:
            control.close()
        kernel.shutdown()
        # The gofer ends when its channel closes, while this process ends (the supervisor,
        # its parent, reaps it).
        try:
            sock.close()
        except OSError:
            pass
        os.close(stub_fd)
        os.close(procfd)
        for fd in zero_fds:
            if fd >= 0:
                os.close(fd)
        if handler is not None:
            import logging

            logging.getLogger("sentry").removeHandler(handler)
            handler.close()


def process_credentials(uid: int, gid: int, groups: List[int], caps: Any) -> Any:
    """The credentials a process starts with, before its program's execve (which turns
    them into what it runs with: :func:`sentry.kernel.credentials.exec_credentials`):
    ``process.user`` and, as runc applies them, ``process.capabilities`` (an ambient
    capability needs to be permitted and inheritable, else runc skips it)."""
    from sentry.kernel.credentials import Credentials

    if caps is None:
        return Credentials(uid, gid, uid, gid, uid, gid, uid, gid, list(groups))
    return Credentials(uid, gid, uid, gid, uid, gid, uid, gid, list(groups),
                       cap_inheritable=caps.inheritable, cap_permitted=caps.permitted,
                       cap_effective=caps.effective, cap_bounding=caps.bounding,
                       cap_ambient=caps.ambient & caps.permitted & caps.inheritable)


def _own_oom_score_adj(value: Optional[int]) -> Tuple[int, int]:
    """Give the sandbox process ``process.oomScoreAdj`` (the gofer and every workload
    process inherit it).  Returns the sandbox's value and the host's.  The host may refuse a value
    below the current one (no ``CAP_SYS_RESOURCE``): the sandbox's own view keeps the
    configured value, the host keeps its own, and the log says so."""
    path = "/proc/self/oom_score_adj"
    if value is not None:
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as e:
            log.warning("oom_score_adj %d not applied to the sandbox's host processes: %s",
                        value, e.strerror)
    try:
        with open(path) as f:
            current = int(f.read())
    except (OSError, ValueError):
        current = 0
    return (current if value is None else value), current


def _fd_table(kernel, stdio, nofile: Optional[Tuple[int, int]] = None) -> Tuple[Any, List[Any]]:
    """A new process's fd table with the donated host fds *stdio* as 0, 1, 2, and
    RLIMIT_NOFILE *nofile* (default: the container's)."""
    from sentry.platform.hybrid.fastfd import FastFDTable

    soft, hard = nofile or kernel.cfg.nofile or (1024, 1024)
    fdtable = FastFDTable(kernel, limit=min(soft, 1 << 20))
    fdtable.hard_limit = min(hard, 1 << 20)
    descs = []
    for i, hfd in enumerate(stdio):
        desc = kernel_stdio(kernel, hfd)
        if desc is not None:
            fdtable.install_at(i, desc)
            descs.append(desc)
    return fdtable, descs


def _start_exec(kernel, init_creds, process: Dict[str, Any], fds: List[int]):
    """Start the process an ``exec`` asked for (:mod:`sentry.control.server`).

    *process* is what the CLI validated: ``argv``, ``env``, ``cwd``, ``uid``, ``gid``,
    ``additional_gids``, ``umask`` and, when the exec gives them (else the container's,
    as runc does), ``capabilities`` (masks by set name), ``no_new_privileges``,
    ``rlimits`` ([resource, soft, hard]), ``nofile`` ([soft, hard]), ``oom_score_adj``;
    *fds* its stdio (the sentry keeps its own copies).

    :raises OSError: the cwd or the program cannot be used (errno as chdir/execve).
    """
    from sentry.config import Capabilities
    from sentry.kernel.kernel import ProcessSetup, ProcessSetupError
    from sentry.kernel.task import Task, ThreadGroup
    from sentry.mm.memory import FakeMemory
    from sentry.vfs.fscontext import FSContext

    cfg = kernel.cfg
    argv = [str(a) for a in process["argv"]]
    env = [str(e) for e in process["env"]]
    uid, gid = int(process["uid"]), int(process["gid"])
    caps = cfg.capabilities
    if isinstance(process.get("capabilities"), dict):
        caps = Capabilities(**{k: int(v) for k, v in process["capabilities"].items()
                               if k in ("bounding", "effective", "permitted", "inheritable",
                                        "ambient")})
    creds = process_credentials(uid, gid, [int(g) for g in process.get("additional_gids", [])],
                                caps)
    base = kernel.init_setup or ProcessSetup()
    setup = ProcessSetup(
        no_new_privs=bool(process.get("no_new_privileges", cfg.no_new_privileges)),
        rlimits=[(int(r), int(s), int(h)) for r, s, h in process.get("rlimits", cfg.rlimits)],
        oom_score_adj=int(process.get("oom_score_adj", base.oom_score_adj)),
        oom_score_adj_min=base.oom_score_adj_min,
        nice=int(process["nice"]) if process.get("nice") is not None else None,
    )
    vfs = kernel.vfs
    root = vfs.root()
    fs = FSContext(root, root, int(process.get("umask", 0o022)))
    probe = Task(kernel, ThreadGroup(kernel, 0, 0), 0, 0, creds, None, fs, FakeMemory(16))
    try:
        vfs.chdir(probe, vfs.resolve(probe, -100, str(process["cwd"]).encode(), follow=True))
    except OSError:
        raise
    except Exception as e:
        raise OSError(getattr(e, "errno", errno.ENOENT), f"cwd {process['cwd']!r}") from None
    try:
        path = _lookup_path(vfs, probe, argv[0], env)
    except BootError:
        raise OSError(errno.ENOENT, f"executable file not found in $PATH: {argv[0]!r}") from None
    nofile = process.get("nofile")
    fdtable, descs = _fd_table(kernel, fds, (int(nofile[0]), int(nofile[1])) if nofile else None)
    try:
        tg = kernel.spawn_process(creds, fdtable, fs, [a.encode() for a in argv],
                                  [e.encode() for e in env], path, setup)
    except ProcessSetupError:
        fdtable.release_all()
        raise
    except Exception as e:
        fdtable.release_all()
        en = getattr(e, "errno", None)
        if isinstance(e, OSError) or en:
            raise OSError(en or errno.EIO, os.strerror(en or errno.EIO)) from None
        raise
    for desc in descs:
        desc.watch(kernel)
    return tg


def _on_host_signal(kernel, from_tty: bool, signo: int, _frame: object) -> None:
    kernel.host_signal(signo, from_tty)


def _signal_wakeup(kernel) -> Tuple[int, int]:
    """Make a host signal end the loop's wait.

    Python runs a signal handler only between bytecodes; a signal that lands after the
    loop last looked and before its ``epoll_wait`` starts would wait for the next event
    (forever, in an idle sandbox: a SIGTERM that does nothing).  Python's C-level handler
    writes the signal number to the wakeup fd, which is in the loop's epoll set.
    """
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def drain(_events: int) -> None:
        try:
            while os.read(r, 512):
                pass
        except BlockingIOError:
            pass

    kernel.add_fd_handler(r, select.EPOLLIN, drain)
    return r, w


def _errname(e: Exception) -> str:
    en = getattr(e, "errno", None)
    return os.strerror(en) if en else str(e)


def kernel_stdio(kernel, host_fd: int):
    """A description for a donated stdio fd, made safe for the single-threaded sentry.

    Pipes and terminals are re-opened through ``/proc/self/fd`` (a new open file
    description of the same object) so the sentry can make its copy non-blocking
    without changing the caller's.  Regular files keep the caller's description,
    so offsets are shared as with a real fork.
    """
    from sentry.fsimpl.host.host import HostFileDescription

    try:
        st = os.fstat(host_fd)
    except OSError:
        return None
    mode = st.st_mode
    acc = fcntl.fcntl(host_fd, fcntl.F_GETFL) & os.O_ACCMODE
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        try:
            fd = os.open(f"/proc/self/fd/{host_fd}", acc | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError:
            fd = os.dup(host_fd)
    else:
        fd = fcntl.fcntl(host_fd, fcntl.F_DUPFD_CLOEXEC, 0)
    return HostFileDescription.for_stdio(kernel, fd, acc)
