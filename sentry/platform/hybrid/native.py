"""The only module that touches the cffi extension ``sentry._native``.

Everything else calls these thin wrappers, which turn negative errno returns
into ``OSError``.  ``RUNSC_PY_PYTHON_ONLY=1`` (or ``BootConfig.python_only``)
turns the C fast handlers off; the loop itself is always C.
"""

from __future__ import annotations

import errno
import os

from sentry._native import ffi, lib  # type: ignore[import-not-found]

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Iterable, List, Optional, Sequence, Tuple

    #: A call C parked on a pipe (rt_parked_pop): (listener, notification id, host tid,
    #: number, arguments, for a write the bytes of it that went, the pipe's buffer)
    ParkedCall = Tuple[int, int, int, int, Tuple[int, int, int, int, int, int], int, Any]

EV_NOTIF = lib.RT_EV_NOTIF
EV_PTRACE = lib.RT_EV_PTRACE
EV_FD = lib.RT_EV_FD
EV_TIMEOUT = lib.RT_EV_TIMEOUT
EV_ERROR = lib.RT_EV_ERROR
FD_READ, FD_WRITE, FD_SEEK, FD_STAT = lib.RT_FD_READ, lib.RT_FD_WRITE, lib.RT_FD_SEEK, lib.RT_FD_STAT
FD_BLOB, FD_EOF, FD_NOTTY = lib.RT_FD_BLOB, lib.RT_FD_EOF, lib.RT_FD_NOTTY
FD_DIRC = lib.RT_FD_DIRC
FD_NULL = lib.RT_FD_NULL
FD_PIPE_R, FD_PIPE_W = lib.RT_FD_PIPE_R, lib.RT_FD_PIPE_W
FD_MAP, FD_MAPX = lib.RT_FD_MAP, lib.RT_FD_MAPX

# struct user_regs_struct indexes (x86_64)
R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8, RAX, RCX, RDX, RSI, RDI, ORIG_RAX, RIP, CS, \
    EFLAGS, RSP, SS, FS_BASE, GS_BASE, DS, ES, FS, GS = range(27)


def _check(ret: int) -> int:
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


class RlimitError(OSError):
    """The host refused a resource limit for a new task (``index`` in the list given)."""

    def __init__(self, err: int, index: int) -> None:
        super().__init__(err, os.strerror(err))
        self.index = index


def spawn_task(stub_fd: int, bpf: bytes, nsflags: int, host_id: int,
               join_fds: Optional[Sequence[int]] = None,
               rlimits: Sequence[Tuple[int, int, int]] = ()) -> Tuple[int, int]:
    """Start a task in fresh namespaces (*nsflags*), or in a running sandbox's namespaces
    (*join_fds*: its pid, ipc, uts, net and mnt namespace fds), as the caller's child,
    with resource limits *rlimits* (resource, soft, hard; unsigned), running as host uid
    and gid *host_id* with no capabilities.

    :returns: (host pid, listener fd), the task stopped at the exec event of the stub.
    :raises RlimitError: the host refused one of *rlimits*.
    """
    pid = ffi.new("int *")
    lfd = ffi.new("int *")
    bad = ffi.new("int *")
    join = ffi.NULL
    if join_fds is not None:
        if len(join_fds) != lib.RT_JOIN_NS:
            raise ValueError("join_fds: pid, ipc, uts, net, mnt")
        join = ffi.new("int[]", list(join_fds))
    lims = ffi.new("uint64_t[]", [v for lim in rlimits for v in lim] or [0])
    ret = lib.rt_spawn_task(stub_fd, bpf, len(bpf), nsflags, join, host_id, lims,
                            len(rlimits), pid, lfd, bad)
    if ret < 0 and bad[0] >= 0:
        raise RlimitError(-ret, bad[0])
    _check_spawned(ret)
    return pid[0], lfd[0]


def _check_spawned(ret: int) -> None:
    """:raises OSError: the task's setup failed at step -ret-1000 (it exited with
    100+step), or the call failed with errno -ret."""
    if ret <= -1000:
        raise OSError(0, f"sandbox child setup failed at step {-ret - 1000}")
    _check(ret)


class Spawning:
    """A task :func:`spawn_begin` started, setting itself up until :func:`spawn_end`."""

    __slots__ = ("pid", "_stack")

    def __init__(self, pid: int, stack: Any) -> None:
        self.pid = pid
        self._stack = stack

    def _take(self) -> Any:
        stack, self._stack = self._stack, None
        if stack is None:
            raise ValueError("spawn already ended")
        return stack


def spawn_begin(stub_fd: int, bpf: bytes, nsflags: int, host_id: int,
                rlimits: Sequence[Tuple[int, int, int]] = ()) -> Spawning:
    """:func:`spawn_task`'s first half, for a task in fresh namespaces: the task is
    made, seized, given its resource limits and let go on with its setup (its root, its
    filter, the stub's exec) while the caller does something else; :func:`spawn_end`
    waits for it, :func:`spawn_abandon` kills it.

    :raises RlimitError: the host refused one of *rlimits* (nothing is left running).
    """
    pid = ffi.new("int *")
    stack = ffi.new("void **")
    bad = ffi.new("int *")
    lims = ffi.new("uint64_t[]", [v for lim in rlimits for v in lim] or [0])
    ret = lib.rt_spawn_begin(stub_fd, bpf, len(bpf), nsflags, ffi.NULL, host_id, lims,
                             len(rlimits), pid, stack, bad)
    if ret < 0 and bad[0] >= 0:
        raise RlimitError(-ret, bad[0])
    _check(ret)
    return Spawning(pid[0], stack[0])


def spawn_end(task: Spawning) -> int:
    """Wait until the task of :func:`spawn_begin` is stopped at the exec event of the
    stub, as :func:`spawn_task` returns it; its listener fd.

    :raises OSError: its setup failed (it is dead and reaped then).
    """
    lfd = ffi.new("int *")
    _check_spawned(lib.rt_spawn_end(task.pid, task._take(), lfd))
    return int(lfd[0])


def spawn_abandon(task: Spawning) -> None:
    """Kill the task of :func:`spawn_begin` and reap it."""
    lib.rt_spawn_abandon(task.pid, task._take())


def spawn_prepare(stub_fd: int, bpf: bytes, host_id: int, join_fds: Sequence[int],
                  rlimits: Sequence[Tuple[int, int, int]] = ()) -> Tuple[int, int]:
    """The supervisor's half of :func:`spawn_task` for a process joining a running
    sandbox (*join_fds*) whose sentry has confined itself: the task is the caller's child,
    runs as host uid and gid *host_id*, dumpable, with *rlimits*, and waits until
    :func:`spawn_attach` (in the sentry) seizes it.

    :returns: (host pid, the fd that lets it go on).
    :raises RlimitError: the host refused one of *rlimits*.
    """
    pid = ffi.new("int *")
    sync = ffi.new("int *")
    bad = ffi.new("int *")
    if len(join_fds) != lib.RT_JOIN_NS:
        raise ValueError("join_fds: pid, ipc, uts, net, mnt")
    join = ffi.new("int[]", list(join_fds))
    lims = ffi.new("uint64_t[]", [v for lim in rlimits for v in lim] or [0])
    ret = lib.rt_spawn_prepare(stub_fd, bpf, len(bpf), join, host_id, lims, len(rlimits),
                               pid, sync, bad)
    if ret < 0 and bad[0] >= 0:
        raise RlimitError(-ret, bad[0])
    _check_spawned(ret)
    return pid[0], sync[0]


def spawn_attach(pid: int, sync_fd: int) -> int:
    """Seize the task :func:`spawn_prepare` made and let it go on (*sync_fd* is closed).

    :returns: its listener fd; the task is stopped at the exec event of the stub.
    """
    lfd = ffi.new("int *")
    _check_spawned(lib.rt_spawn_attach(pid, sync_fd, lfd))
    return lfd[0]


class Loop:
    """The C event loop."""

    def __init__(self) -> None:
        _check(lib.rt_loop_init())
        self.ev = ffi.new("struct rt_event *")
        self._tokens = ffi.new("uint64_t[64]")
        self._events = ffi.new("uint32_t[64]")

    @staticmethod
    def add_listener(listener: int) -> None:
        """Serve *listener* (a task's seccomp notification fd); the loop owns it from now on."""
        _check(lib.rt_loop_add_listener(listener))

    def next_event(self, timeout_ms: int) -> "ffi.CData":
        lib.rt_next_event(self.ev, timeout_ms)
        return self.ev

    @staticmethod
    def add_fd(fd: int, events: int, token: int) -> None:
        _check(lib.rt_loop_add_fd(fd, events, token))

    @staticmethod
    def del_fd(fd: int) -> None:
        lib.rt_loop_del_fd(fd)

    #: Token bit of a watched host fd (:meth:`take_watched`); the fd is the low 32 bits.
    TOK_WATCH = int(lib.RT_TOK_WATCH)

    def take_watched(self) -> List[Tuple[int, int]]:
        """(token, events) of the readiness edges of watched host fds that already
        happened (queued, or pending in the host's epoll), taken out of the loop now."""
        n = lib.rt_loop_take_watched(self._tokens, self._events, 64)
        return [(self._tokens[i], self._events[i]) for i in range(n)]


def respond(listener: int, notif_id: int, val: int, error: int, flags: int = 0) -> int:
    """Answer a notification; returns 0 or -errno (ENOENT: the task is gone)."""
    return int(lib.rt_respond(listener, notif_id, val, error, flags))


def addfd(listener: int, notif_id: int, srcfd: int, newfd: int, cloexec: bool = True) -> int:
    """SECCOMP_IOCTL_NOTIF_ADDFD: install the sentry's *srcfd* as *newfd* in the notifying task."""
    return _check(lib.rt_addfd(listener, notif_id, srcfd, newfd,
                               os.O_CLOEXEC if cloexec else 0))


def set_fast(nr: int, on: bool) -> None:
    lib.rt_set_fast(nr, 1 if on else 0)


def task_set(host_tid: int, tid: int, tgid: int, ppid: int, fdt: int) -> None:
    _check(lib.rt_task_set(host_tid, tid, tgid, ppid, fdt))


def task_del(host_tid: int) -> None:
    lib.rt_task_del(host_tid)


def task_set_ids(host_tid: int, uid: int, euid: int, gid: int, egid: int,
                 access_ok: bool = False, access_caps: int = 0) -> None:
    """A task's real and effective ids, which C gives getuid/geteuid/getgid/getegid, and
    whether C answers its access(2) permission questions, with the capabilities those use
    (RT_ACCESS_DAC_OVERRIDE 1, RT_ACCESS_DAC_READ_SEARCH 2)."""
    lib.rt_task_set_ids(host_tid, uid, euid, gid, egid, int(access_ok), access_caps)


def task_set_stack_limit(host_tid: int, cur: int, max_: int) -> None:
    """A task's process's RLIMIT_STACK (the sandbox's books), which C gives
    ``prlimit64(0, RLIMIT_STACK, NULL, old)``."""
    lib.rt_task_set_stack_limit(host_tid, cur, max_)


def _sig_mask(sigs: Iterable[int]) -> int:
    mask = 0
    for sig in sigs:
        if 1 <= sig <= 64:
            mask |= 1 << (sig - 1)
    return mask


def task_set_sa_forced(host_tid: int, sigs: Iterable[int], restart: Iterable[int]) -> None:
    """The signals whose handler copy the sentry keeps (a query of one is Python's; C has
    the host answer any other: ``rt_sigaction(sig, NULL, old)``), and those whose handler
    has the workload's own ``SA_RESTART`` (*restart*): C resumes the stop of an
    ``rt_sigaction`` to ``SIG_DFL`` or ``SIG_IGN`` of a signal in neither itself."""
    lib.rt_task_set_sa_forced(host_tid, _sig_mask(sigs), _sig_mask(restart))


def stops_plain(on: bool) -> None:
    """Whether C may resume the stops it would resume as Python does (no task was traced by
    another, the sandbox is not paused)."""
    lib.rt_stops_plain(1 if on else 0)


def task_set_fs(host_tid: int, cwd_key: int, root_ok: bool, search_all: bool) -> None:
    """The stat cache's view of a task's root, cwd and whether it may search any directory
    (rt.c ``rt_task_set_fs``)."""
    lib.rt_task_set_fs(host_tid, cwd_key, 1 if root_ok else 0, 1 if search_all else 0)


def fd_set_blob(fdt: int, fd: int, st: bytes, gen: int, mnt_id: int) -> None:
    """The fstat answer of a FD_BLOB slot, valid in stat-cache generation *gen*, and its
    mount's id (statx)."""
    lib.rt_fd_set_blob(fdt, fd, st, gen, mnt_id)


def fd_set_dir_key(fdt: int, fd: int, base: int, prefix: bytes, gen: int) -> None:
    """The stat cache's key (*base*, *prefix*: an absolute path ending in "/") of the
    directory at a FD_BLOB slot, valid in generation *gen*: C looks paths relative to
    that fd up under it (newfstatat(fd, name), openat(fd, name) ...)."""
    if lib.rt_fd_set_dir_key(fdt, fd, base, prefix, len(prefix), gen) == -errno.ENOMEM:
        raise MemoryError("fd key")


def fd_set_eof(fdt: int, fd: int, on: bool) -> None:
    """getdents64 of a FD_BLOB slot returns 0 (on) or goes to Python (off)."""
    lib.rt_fd_set_eof(fdt, fd, 1 if on else 0)


def statcache_want_statx() -> None:
    """A program of the sandbox used statx: the answers C hands over from listings
    include statx's from now on."""
    lib.rt_statcache_want_statx()


def statcache_bump() -> None:
    lib.rt_statcache_bump()


def statcache_bump_missing() -> None:
    lib.rt_statcache_bump_missing()


def task_set_exe(host_tid: int, target: bytes, gen: int) -> None:
    """readlink("/proc/self/exe")'s answer for the task, made in generation *gen*
    (``b""``: none, Python answers)."""
    lib.rt_task_set_exe(host_tid, target, len(target), gen)


def statcache_gen() -> int:
    return int(lib.rt_statcache_gen())


def statcache_hits() -> int:
    return int(lib.rt_statcache_hits())


#: Answer kinds of the stat cache (rt.h RT_SC_*): struct stat, struct statx, a symlink's
#: target (readlink; the last component never followed).
SC_STAT, SC_STATX, SC_LINK = 0, 1, 2


def statcache_put(kind: int, base: int, nofollow: bool, path: bytes, st: Optional[bytes],
                  error: int, gen: int, err_ino: int = 0) -> None:
    """*err_ino*: for an ``ENOENT``, the inode number of the directory the lookup failed
    in (the answer then stays until a name appears there: :func:`statcache_appeared`);
    for another error, the file's (:func:`statcache_forget` drops it); 0: not known."""
    if kind == SC_LINK:
        lib.rt_statcache_put_link(base, path, len(path), st if st is not None else ffi.NULL,
                                  len(st) if st is not None else 0, error, gen, err_ino)
        return
    lib.rt_statcache_put(kind, base, 1 if nofollow else 0, path, len(path),
                         st if st is not None else ffi.NULL, error, gen, err_ino)


def statcache_put_dir(base: int, prefix: bytes, names: bytes, gen: int, ino: int = 0) -> None:
    """Every name of the directory *prefix* walks to ("" the cwd, else ending in "/"),
    each NUL-ended: a path through it whose next component is not there is ENOENT.
    *ino*: the directory's inode number (:func:`statcache_forget`; 0: not known)."""
    lib.rt_statcache_put_dir(base, prefix, len(prefix), names, len(names), gen, ino)


def statcache_forget(ino: int) -> None:
    """Every kept answer about the file *ino* goes (rt_statcache_forget): the overlay is
    about to copy it up."""
    lib.rt_statcache_forget(ino)


def statcache_appeared(dir_ino: int) -> None:
    """A name appeared in the directory *dir_ino* (rt_statcache_appeared): the kept
    ``ENOENT``s whose lookup failed there go, and those of no known directory."""
    lib.rt_statcache_appeared(dir_ino)


def statcache_removed(ino: int) -> None:
    """A lower-layer name of the file *ino* (no directory, no symlink) went
    (rt_statcache_removed): the answers about it go, and every kept error but ENOENT."""
    lib.rt_statcache_removed(ino)


def statcache_put_wire(base: int, prefix: bytes, wire: bytes, n: int, dev: int, skip: bytes,
                       gen: int, mnt_id: Optional[int] = None, ino: int = 0) -> bool:
    """A listed directory's answers, and its names, straight from the *n* entries the gofer
    sent (*wire*: gofer.protocol's stat entries, without their count) of a file system
    without an id mapping whose device is *dev*; *skip*: names not to keep (each
    NUL-ended).  With *mnt_id* the statx answers too (that mount's id in them).  *ino*: the
    directory's inode number (:func:`statcache_put_dir`).  False if the entries do not
    parse (statcache._fill's Python loop then)."""
    if mnt_id is None:
        r = lib.rt_statcache_put_wire(base, prefix, len(prefix), wire, len(wire), max(n, 1),
                                      dev, skip, len(skip), gen, ino)
    else:
        r = lib.rt_statcache_put_wire_statx(base, prefix, len(prefix), wire, len(wire),
                                            max(n, 1), dev, skip, len(skip), gen, mnt_id, ino)
    if r == -errno.ENOMEM:
        raise MemoryError("stat cache")
    return r >= 0


def statcache_put_listing(base: int, prefix: bytes, names: bytes, n: int, stats: bytes,
                          statxs: Optional[bytes], follow: bytes, has: bytes, gen: int,
                          ino: int = 0) -> None:
    """A listed directory's answers in one call (rt_statcache_put_listing): *n* entries
    named in *names* (each NUL-ended); entry i has its lstat answer at ``stats[144*i:]``
    (and statx's at ``statxs[256*i:]``) if ``has[i]``, and the stat answer of entry
    ``follow[i]`` (native int32 each; -1: none); then :func:`statcache_put_dir` (with
    *ino*)."""
    lib.rt_statcache_put_listing(base, prefix, len(prefix), names, len(names), n, stats,
                                 statxs if statxs is not None else ffi.NULL,
                                 ffi.from_buffer("int32_t[]", follow), has, gen, ino)


def fd_set(fdt: int, fd: int, host_fd: int, kinds: int, dev: int = 0, uid: int = 0,
           gid: int = 0) -> None:
    _check(lib.rt_fd_set(fdt, fd, host_fd, kinds, dev, uid, gid))


def fd_set_pipe(fdt: int, fd: int, pipe: Any, kinds: int, nonblock: Any = None) -> None:
    """The fd is an end of the sandbox pipe *pipe* (:func:`pipe_new`'s): ``FD_PIPE_R``
    and/or ``FD_PIPE_W``; *nonblock*: its description's O_NONBLOCK (:func:`flag_cell`),
    which C reads to park its blocking calls itself (None: it parks none)."""
    _check(lib.rt_fd_set_pipe(fdt, fd, pipe, kinds, ffi.NULL if nonblock is None else nonblock))


def flag_cell() -> Any:
    """An ``int32_t`` both sides read (0 at first): it lives as long as the object
    returned."""
    return ffi.new("int32_t *")


_pk_listener = ffi.new("int *")
_pk_id = ffi.new("uint64_t *")
_pk_pid = ffi.new("uint32_t *")
_pk_nr = ffi.new("int *")
_pk_args = ffi.new("uint64_t[6]")
_pk_done = ffi.new("uint64_t *")
_pk_pipe = ffi.new("struct rt_pipe **")


def parked_pop() -> Optional["ParkedCall"]:
    """The next call C parked on a pipe itself, or None."""
    if not lib.rt_parked_pop(_pk_listener, _pk_id, _pk_pid, _pk_nr, _pk_args, _pk_done,
                             _pk_pipe):
        return None
    a = _pk_args
    return (_pk_listener[0], _pk_id[0], _pk_pid[0], _pk_nr[0],
            (a[0], a[1], a[2], a[3], a[4], a[5]), _pk_done[0], _pk_pipe[0])


# ---- sandbox pipes' buffers (native/src/pipe.c): sentry/fsimpl/pipe/pipe.py's Pipe
def acct() -> Any:
    """The sandbox's memory account's numbers (``struct rt_acct``: limit, used, peak),
    which C's pipe path charges too."""
    return lib.rt_acct()


def pipe_new() -> Any:
    """A new empty pipe buffer (``struct rt_pipe *``: Python reads size, cap and nslots,
    and sets readers and watched); freed, its pages given back, with the last reference."""
    p = lib.rt_pipe_new()
    if p == ffi.NULL:
        raise MemoryError("pipe buffer")
    return ffi.gc(p, lib.rt_pipe_free)


def pipe_push(p: Any, data: bytes, file_off: int = -1) -> int:
    """Store what fits of *data* (``file_off`` >= 0: a regular file's bytes from there,
    a slot per file page); the count stored."""
    return int(lib.rt_pipe_push(p, ffi.from_buffer(data), len(data), file_off)) if data else 0


def pipe_pop(p: Any, n: int, keep: bool = False) -> bytes:
    """Take up to *n* bytes from the front (*keep*: only look at them)."""
    k = min(n, p.size)
    if k <= 0:
        return b""
    out = bytearray(k)
    (lib.rt_pipe_peek if keep else lib.rt_pipe_pop)(p, ffi.from_buffer(out), k)
    return bytes(out)


def pipe_unpop(p: Any, data: bytes) -> None:
    """Put bytes just popped back in front.  :raises OSError: ``ENOMEM`` (the sentry's
    own memory: a buffer trimmed by the pop could not be had again)."""
    if data:
        _check(lib.rt_pipe_unpop(p, ffi.from_buffer(data), len(data)))


def pipe_wait(p: Any, listener: int, notif_id: int, pid: int, addr: int, n: int) -> bool:
    """A read(2) of *n* bytes into *addr* by host task *pid* (notification *notif_id* on
    *listener*) is parked on the pipe: C answers it when it puts bytes in.  False if
    another one is (Python's alone)."""
    return lib.rt_pipe_wait(p, listener, notif_id, pid, addr, n) == 0


def pipe_wait_write(p: Any, listener: int, notif_id: int, pid: int, nr: int, fd: int,
                    a1: int, a2: int, a3: int) -> bool:
    """A write(2) (*nr* 1: fd, *a1* buffer, *a2* count) or sendfile(2) (*nr* 40: fd, *a1*
    input fd, *a2* NULL, *a3* count) by host task *pid* is parked on the full pipe: C
    completes it when its reads make room, or hands it back.  False if another one is
    (Python's alone)."""
    return lib.rt_pipe_wait_write(p, listener, notif_id, pid, nr, fd, a1, a2, a3) == 0


def pipe_unwait(p: Any, listener: int, notif_id: int) -> int:
    """Python ends that wait itself: the bytes of a write that went meanwhile (C puts the
    rest of a long one in as room comes), 0 for a sendfile, -1 for a read or none."""
    return int(lib.rt_pipe_unwait(p, listener, notif_id))


_done_listener = ffi.new("int *")
_done_id = ffi.new("uint64_t *")
_done_kicked = ffi.new("int *")
_done_done = ffi.new("uint64_t *")


def pipe_waits_ended() -> List[Tuple[int, int, bool, int]]:
    """The parked calls C ended since: (listener, notification id, handed back: Python
    retries it, else C answered it or found its notification gone; a write's bytes that
    went)."""
    out = []
    while lib.rt_pipe_done_pop(_done_listener, _done_id, _done_kicked, _done_done):
        out.append((_done_listener[0], _done_id[0], _done_kicked[0] == 1, int(_done_done[0])))
    return out


def pipe_discard(p: Any) -> None:
    lib.rt_pipe_discard(p)


def pipe_resize(p: Any, cap: int) -> None:
    _check(lib.rt_pipe_resize(p, cap))


def pipe_free_bytes(p: Any) -> int:
    return int(lib.rt_pipe_free_bytes(p))


def pipe_page_room(p: Any, file_off: int) -> int:
    return int(lib.rt_pipe_page_room(p, file_off))


def fd_clear(fdt: int, fd: int) -> None:
    lib.rt_fd_clear(fdt, fd)


def fdt_clear(fdt: int) -> None:
    lib.rt_fdt_clear(fdt)


_closed_fdt = ffi.new("int *")
_closed_fd = ffi.new("int *")


def closed_pop() -> Optional[Tuple[int, int]]:
    if lib.rt_closed_pop(_closed_fdt, _closed_fd):
        return _closed_fdt[0], _closed_fd[0]
    return None


def fd_used(fdt: int, fd: int, on: bool) -> None:
    """Python's table *fdt* has *fd* open (on) or not (C's opens take the lowest free)."""
    lib.rt_fd_used(fdt, fd, 1 if on else 0)


def fdt_set_limit(fdt: int, limit: int) -> None:
    """The table's RLIMIT_NOFILE; 0: C opens nothing in it."""
    lib.rt_fdt_set_limit(fdt, limit)


def dirc_enable(on: bool) -> None:
    """Whether C may open the directories kept for it (rt.c ``sc_open_dir``)."""
    lib.rt_dirc_enable(1 if on else 0)


_opened_serial = ffi.new("uint64_t *")


def opened_pop() -> Optional[Tuple[int, int, int]]:
    """The next directory or file C opened: (fd table, fd, serial), in order; None: no
    more."""
    if lib.rt_opened_pop(_closed_fdt, _closed_fd, _opened_serial):
        return _closed_fdt[0], _closed_fd[0], int(_opened_serial[0])
    return None


_dirc_tid = ffi.new("int *")
_dirc_flags = ffi.new("int *")
_dirc_index = ffi.new("uint32_t *")
_dirc_at_end = ffi.new("int *")
_dirc_path = ffi.new("char[4096]")
_dirc_fds = ffi.new("int[]", lib.RT_DIRC_FDS)
_dirc_cloexec = ffi.new("int[]", lib.RT_DIRC_FDS)
_dirc_nfds = ffi.new("int *")


def dirc_info(fdt: int, serial: int,
              ) -> Optional[Tuple[int, bytes, int, int, bool, List[Tuple[int, bool]]]]:
    """(opener's host tid, path, open flags, index of the next entry, whether its reader
    is at the end, [(fd, close-on-exec) it is open at]) of the directory C opened in table
    *fdt* as *serial*; None if C closed it at every fd since."""
    n = lib.rt_dirc_info(fdt, serial, _dirc_tid, _dirc_path, _dirc_flags, _dirc_index,
                         _dirc_at_end, _dirc_fds, _dirc_cloexec, _dirc_nfds)
    if n <= 0:
        return None
    fds = [(_dirc_fds[i], bool(_dirc_cloexec[i])) for i in range(_dirc_nfds[0])]
    return (_dirc_tid[0], ffi.unpack(_dirc_path, n), _dirc_flags[0], int(_dirc_index[0]),
            bool(_dirc_at_end[0]), fds)


def reopen_put(base: int, nofollow: bool, path: bytes, gen: int, fd: int, ino: int,
               mode: int, dev: int, uid: int, gid: int) -> bool:
    """Keep the read-only host *fd* of a trusted lower-layer file under the key its open
    found it by, in generation *gen*, for C to re-open (rt.c ``sc_open_file``): C owns it
    then.  False: not kept (another generation, a mode not everyone may read): the caller
    still owns it."""
    return lib.rt_reopen_put(base, 1 if nofollow else 0, path, len(path), gen, fd, ino, mode,
                             dev, uid, gid) == 1


def reopen_cap(n: int) -> None:
    """Keep at most *n* host fds for re-opens (those over it are closed now)."""
    lib.rt_reopen_cap(n)


def fetch_setup(sock: int, root_handle: int, dev: int) -> None:
    """Let C fetch the files of the gofer file system whose root is *root_handle* (its
    files' device: *dev*) itself, through the channel *sock* (rt.c ``sc_fetch``); -1:
    no more."""
    lib.rt_fetch_setup(sock, root_handle, dev)


def fetch_place(key: int, path: bytes) -> None:
    """The place *key* (a cwd key) is the directory *path* (absolute, from the fetched
    file system's root): C fetches paths relative to it too."""
    lib.rt_fetch_place(key, path, len(path))


def fetch_pause(paused: bool) -> None:
    """A reply streams on the gofer channel (or no longer does): C fetches nothing then."""
    lib.rt_fetch_pause(1 if paused else 0)


def fetch_broken() -> bool:
    """Whether C read a reply that was no Tfetch's (and fetches nothing more)."""
    return bool(lib.rt_fetch_broken())


def fetch_count(failures: bool = False) -> int:
    """How many fetches C made that gave a fd (*failures*: that did not)."""
    return int(lib.rt_fetch_count(1 if failures else 0))


def fetch_settle() -> bool:
    """Read the reply to the fetch C asked ahead, if any (before anything else uses the
    channel: each of Python's requests); :func:`fetch_broken`'s answer."""
    return bool(lib.rt_fetch_settle())


def fetch_ahead_count(used: bool = False) -> int:
    """How many files C fetched ahead (*used*: of those, how many were opened next)."""
    return int(lib.rt_fetch_ahead_count(1 if used else 0))


def reopen_take(base: int, nofollow: bool, path: bytes, gen: int) -> int:
    """The host fd kept under the key (the caller owns it now), -1 if none."""
    return lib.rt_reopen_take(base, 1 if nofollow else 0, path, len(path), gen)


_filec_host_fd = ffi.new("int *")
_filec_base = ffi.new("uint64_t *")
_filec_gen = ffi.new("uint32_t *")
_filec_ino = ffi.new("uint64_t *")


def filec_info(fdt: int, fd: int, serial: int,
               ) -> Optional[Tuple[int, bytes, int, int, int, int, int]]:
    """(opener's host tid, path, open flags, host fd, key base, generation, inode number)
    of the file C re-opened at *fd* of table *fdt* as *serial*; None if that fd no longer
    holds it."""
    n = lib.rt_filec_info(fdt, fd, serial, _dirc_tid, _dirc_path, _dirc_flags, _filec_host_fd,
                          _filec_base, _filec_gen, _filec_ino)
    if n <= 0:
        return None
    return (_dirc_tid[0], ffi.unpack(_dirc_path, n), _dirc_flags[0], _filec_host_fd[0],
            int(_filec_base[0]), int(_filec_gen[0]), int(_filec_ino[0]))


_mapped_hdev = ffi.new("uint64_t *")
_mapped_hino = ffi.new("uint64_t *")


def mapped_pop() -> Optional[Tuple[int, int, int, int, int, Optional[bytes], int, int, int]]:
    """The next file mapping C lent a host fd for, in order: (host tid, fd table, fd, host
    device, host inode, the path C re-opened the file by or None (then the description at
    that fd is Python's), that open's key base, flags and generation); None: no more."""
    n = lib.rt_mapped_pop(_dirc_tid, _closed_fdt, _closed_fd, _mapped_hdev, _mapped_hino,
                          _dirc_path, _filec_base, _dirc_flags, _filec_gen)
    if n == 0:
        return None
    return (_dirc_tid[0], _closed_fdt[0], _closed_fd[0], int(_mapped_hdev[0]),
            int(_mapped_hino[0]), ffi.unpack(_dirc_path, n - 1) if n > 1 else None,
            int(_filec_base[0]), _dirc_flags[0], int(_filec_gen[0]))


def filec_mapx(on: bool) -> None:
    """Whether C may map a file it re-opened with ``PROT_EXEC`` (no mount such a file may
    be on is ``noexec``)."""
    lib.rt_filec_mapx(1 if on else 0)


def posix_locks() -> None:
    """A classic record lock was set: C leaves closes of fds Python never saw to Python
    (rt.c ``rt_posix_locks``)."""
    lib.rt_posix_locks()


def statcache_put_dirc(base: int, path: bytes, st: bytes, parent_ino: int, dev: int,
                       mnt_id: int, wire: bytes, n: int, gen: int, filled: bool = False) -> bool:
    """A listed directory C may open (rt.c ``sc_open_dir``) under (base, *path*): its
    ``struct stat`` *st*, ``..``'s inode number, its *n* entries as the gofer sent them
    (*wire*) and the device and mount id their answers show; *filled*: its entries'
    answers went over under this path in generation *gen* already.  True if kept."""
    r = lib.rt_statcache_put_dirc(base, path, len(path), st, parent_ino, dev, mnt_id, wire,
                                  len(wire), n, gen, int(filled))
    if r == -errno.ENOMEM:
        raise MemoryError("stat cache")
    return r > 0


def statcache_put_dirc_child(base: int, parent: bytes, name: bytes, wire: bytes, n: int,
                             gen: int) -> bool:
    """The subdirectory *name* of the directory kept under (base, *parent*), with its *n*
    entries (*wire*): kept too if it is one C may open.  True if kept."""
    r = lib.rt_statcache_put_dirc_child(base, parent, len(parent), name, len(name), wire,
                                        len(wire), n, gen)
    if r == -errno.ENOMEM:
        raise MemoryError("stat cache")
    return r > 0


def fast_stats() -> Tuple[int, int]:
    return int(lib.rt_stat_fast()), int(lib.rt_stat_slow())


def fast_counts() -> List[int]:
    """The calls the C fast handlers answered, indexed by syscall number."""
    buf = ffi.new("uint64_t[512]")
    n = lib.rt_stat_fast_nr(buf, 512)
    return [int(buf[i]) for i in range(n)]


def gofer_counts() -> Tuple[List[int], List[int]]:
    """The gofer requests C sent itself for the calls of each number (its fetches of a
    file for an open) and the ns it waited for their replies, indexed by number."""
    reqs, ns = ffi.new("uint64_t[512]"), ffi.new("uint64_t[512]")
    n = lib.rt_stat_gofer_nr(reqs, ns, 512)
    return [int(reqs[i]) for i in range(n)], [int(ns[i]) for i in range(n)]


def fast_call(pid: int, nr: int, args: Sequence[int]) -> Optional[Any]:
    """Run the C fast handler without answering (tests compare it with the Python twin):
    its return value, ``CONTINUE`` (the host runs the call), or None (Python's)."""
    a = ffi.new("uint64_t[6]", [x & 0xFFFFFFFFFFFFFFFF for x in args])
    ret = ffi.new("int64_t *")
    handled = lib.rt_fast_call(pid, nr, a, ret)
    if handled == lib.RT_FAST_CONTINUE:
        from sentry.abi.linux.errors import CONTINUE

        return CONTINUE
    if handled:
        return int(ret[0])
    return None


def mem_read(pid: int, addr: int, n: int) -> bytes:
    buf = ffi.new("char[]", n) if n else ffi.new("char[1]")
    got = lib.rt_mem_read(pid, addr, buf, n)
    _check(got)
    return ffi.unpack(buf, got)


def read_strv(pid: int, addr: int, max_total: int, max_str: int) -> List[bytes]:
    """argv/envp at *addr* (rt_read_strv: every page copied once).

    :raises OSError: EFAULT, E2BIG (as ``TaskMemory.read_string_array``).
    """
    count = ffi.new("uint32_t *")
    cap = min(max_total, _STRV_FIRST)
    while True:
        buf = ffi.new("char[]", cap)
        n = lib.rt_read_strv(pid, addr, max_total, max_str, buf, cap, count)
        if n != -errno.ENOSPC or cap >= max_total:
            break
        cap = max_total
    _check(n)
    return ffi.unpack(buf, n).split(b"\0")[:count[0]]


#: The first buffer read_strv offers (an environment larger than this is read again).
_STRV_FIRST = 16384


def mem_write(pid: int, addr: int, data: bytes) -> int:
    return _check(lib.rt_mem_write(pid, addr, data, len(data)))


def cont(pid: int, sig: int = 0) -> int:
    return int(lib.rt_cont(pid, sig))


def tee(fd_in: int, fd_out: int, n: int, flags: int) -> int:
    """tee(2) between two host pipes the sentry holds: the count, or -errno."""
    return int(lib.rt_tee(fd_in, fd_out, n, flags))


def listen(pid: int) -> int:
    """PTRACE_LISTEN: leave a group-stopped tracee stopped, still reporting events."""
    return int(lib.rt_listen(pid))


def getcpu() -> int:
    """The CPU this thread runs on now (``sched_getcpu``); -1 if the host does not say."""
    cpu = int(lib.rt_getcpu())
    return cpu if cpu >= 0 else -1


def interrupt(pid: int) -> int:
    """PTRACE_INTERRUPT: a ``PTRACE_EVENT_STOP`` at the tracee's next return to user mode."""
    return int(lib.rt_interrupt(pid))


def singlestep(pid: int, sig: int = 0) -> int:
    """PTRACE_SINGLESTEP; with a signal, the tracee stops again at its handler's first instruction."""
    return int(lib.rt_singlestep(pid, sig))


def getsigmask(pid: int) -> int:
    """The blocked-signal mask of a stopped tracee (bit ``signo - 1``)."""
    m = ffi.new("uint64_t *")
    _check(lib.rt_getsigmask(pid, m))
    return int(m[0])


def setsigmask(pid: int, mask: int) -> None:
    _check(lib.rt_setsigmask(pid, mask & 0xFFFFFFFFFFFFFFFF))


def sigqueue(tgid: int, tid: int, sig: int, info: bytes) -> int:
    """rt_tgsigqueueinfo with a prepared 128-byte siginfo (si_code must be < 0)."""
    return int(lib.rt_sigqueue_raw(tgid, tid, sig, info))


def syscall_cont(pid: int, sig: int = 0) -> int:
    return int(lib.rt_syscall_cont(pid, sig))


def getregs(pid: int) -> List[int]:
    r = ffi.new("uint64_t[27]")
    _check(lib.rt_getregs(pid, r))
    return list(r)


def setregs(pid: int, regs: Sequence[int]) -> None:
    r = ffi.new("uint64_t[27]", [x & 0xFFFFFFFFFFFFFFFF for x in regs])
    _check(lib.rt_setregs(pid, r))


def geteventmsg(pid: int) -> int:
    return _check(lib.rt_geteventmsg(pid))


def getsiginfo(pid: int) -> bytes:
    buf = ffi.new("char[128]")
    _check(lib.rt_getsiginfo(pid, buf))
    return ffi.unpack(buf, 128)


def ptrace(req: int, pid: int, addr: int = 0, data: int = 0) -> int:
    """A ptrace request with plain values (the raw syscall's result).

    :raises OSError: the host's errno.
    """
    return _check(int(lib.rt_ptrace(req, pid, addr & 0xFFFFFFFFFFFFFFFF,
                                    data & 0xFFFFFFFFFFFFFFFF)))


def ptrace_get(req: int, pid: int, addr: int, size: int) -> Tuple[int, bytes]:
    """A ptrace request that writes up to *size* bytes at ``data``: (result, the bytes)."""
    buf = ffi.new("char[]", max(size, 1))
    ret = _check(int(lib.rt_ptrace(req, pid, addr & 0xFFFFFFFFFFFFFFFF,
                                   int(ffi.cast("uintptr_t", buf)))))
    return ret, ffi.unpack(buf, size)


def ptrace_set(req: int, pid: int, addr: int, data: bytes) -> int:
    """A ptrace request that reads *data* at ``data``."""
    buf = ffi.new("char[]", data or b"\0")
    return _check(int(lib.rt_ptrace(req, pid, addr & 0xFFFFFFFFFFFFFFFF,
                                    int(ffi.cast("uintptr_t", buf)))))


def ptrace_regset(req: int, pid: int, nt: int, data: bytes) -> bytes:
    """PTRACE_GETREGSET/SETREGSET of note type *nt* through an iovec over *data* (its
    length is the room); returns the bytes the host left there, cut to its ``iov_len``."""
    buf = ffi.new("char[]", data or b"\0")
    iov = ffi.new("uint64_t[2]", [int(ffi.cast("uintptr_t", buf)), len(data)])
    _check(int(lib.rt_ptrace(req, pid, nt, int(ffi.cast("uintptr_t", iov)))))
    return ffi.unpack(buf, int(iov[1]))


def fallocate(fd: int, mode: int, off: int, length: int) -> None:
    """fallocate(2) with a mode (Python's os.posix_fallocate has none)."""
    _check(lib.rt_fallocate(fd, mode, off, length))


def setsiginfo(pid: int, info: bytes) -> None:
    """PTRACE_SETSIGINFO at a signal-delivery stop: the siginfo the handler gets."""
    buf = ffi.new("char[128]", info[:128].ljust(128, b"\0"))
    _check(lib.rt_setsiginfo(pid, buf))


def inject(pid: int, gadget: int, nr: int, args: Sequence[int] = (0, 0, 0, 0, 0, 0)) -> Tuple[int, int]:
    """Run host syscall *nr* in a stopped task; returns (raw rax, last suppressed signal)."""
    a = ffi.new("uint64_t[6]", [x & 0xFFFFFFFFFFFFFFFF for x in list(args) + [0] * (6 - len(args))])
    res = ffi.new("int64_t *")
    sig = ffi.new("int *")
    _check(lib.rt_inject(pid, gadget, nr, a, res, sig))
    return int(res[0]), int(sig[0])


#: The result slot of a batch entry that did not run (no call returns it: not an errno,
#: and no mmap result, which is page-aligned).
BATCH_NOT_RUN = (1 << 63) - 1


def inject_batch(pid: int, entry: int, table: int,
                 calls: Sequence[Sequence[int]]) -> Tuple[List[int], int]:
    """Run *calls* ((nr, arg0, ...) each) in a stopped task in one stop, through the stub's
    batch loop at *entry*, their table written at *table* in the task; returns the raw
    results (:data:`BATCH_NOT_RUN` for a call after the first that failed) and the last
    suppressed signal."""
    words: List[int] = []
    for c in calls:
        a = [x & 0xFFFFFFFFFFFFFFFF for x in c]
        words += a + [0] * (7 - len(a)) + [BATCH_NOT_RUN]
    buf = ffi.new("uint64_t[]", words)
    sig = ffi.new("int *")
    _check(lib.rt_inject_batch(pid, entry, table, buf, len(calls), sig))
    return [int(buf[8 * i + 7]) for i in range(len(calls))], int(sig[0])


def inject_lend(pid: int, listener: int, entry: int, table: int, nr: int, fds: Sequence[int],
                targets: Sequence[int]) -> Tuple[int, int]:
    """Install host *fds* at *targets* in a task stopped at its exec event, at the
    notification of call *nr* it makes through the stub's batch loop at *entry* (its one
    entry written at *table*); returns how many went in (in order) and the last
    suppressed signal."""
    f = ffi.new("int[]", list(fds))
    to = ffi.new("int[]", list(targets))
    sig = ffi.new("int *")
    n = _check(lib.rt_inject_lend(pid, listener, entry, table, nr, f, to, len(fds), sig))
    return n, int(sig[0])


def waitpid(pid: int, flags: int = 0) -> Tuple[int, int]:
    st = ffi.new("int *")
    w = _check(lib.rt_waitpid(pid, st, flags))
    return w, st[0]


def pidfd_getfd(pid: int, fd: int) -> int:
    return _check(lib.rt_pidfd_getfd(pid, fd))


def tgkill(tgid: int, tid: int, sig: int) -> int:
    return int(lib.rt_tgkill(tgid, tid, sig))
