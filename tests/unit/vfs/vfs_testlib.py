"""Fakes for VFS, fsimpl and file-syscall unit tests (no tracee, no gofer process).

- :class:`FakeGofer`: the :class:`gofer.client.GoferClient` methods over real
  host directories (handles are paths; fine for tests, never for the sentry).
- :class:`FakeKernel` and :func:`make_task`: the parts of the kernel and task
  the VFS and handlers use.
- :class:`Env`: a sandbox-like setup (mount tree from a BootConfig) with a
  bump allocator in :class:`FakeMemory` and :meth:`Env.call` to run handlers.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gofer.protocol import (
    MAX_ALONG,
    SIBLING_HOPS,
    Listing,
    Stat,
    _pack_stat_entries,
    dir_blocks,
    sibling_target,
)
from sentry.abi.linux.errors import LinuxError
from sentry.config import BootConfig, MountSpec
from sentry.kernel.compat import CompatRecorder
from sentry.kernel.task import Credentials, Task, ThreadGroup
from sentry.mm.memory import FakeMemory
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs.fdtable import FDTable
from sentry.vfs.fscontext import FSContext
from sentry.vfs.mount_tree import build_mount_tree


@dataclass
class GStat:
    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "GStat":
        return cls(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                   st.st_rdev, st.st_size, st.st_blksize, st.st_blocks, st.st_atime_ns,
                   st.st_mtime_ns, st.st_ctime_ns)


def listing_of(entries: List[Tuple[bytes, Any]]) -> Listing:
    """*entries* (name, GStat or inode number) as the real client gives a listing: packed
    as the gofer sends them, in a :class:`gofer.protocol.Listing`."""
    wire = _pack_stat_entries([
        (n, st if isinstance(st, int) else Stat(
            st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.size, st.blksize,
            st.blocks, st.atime_ns, st.mtime_ns, st.ctime_ns))
        for n, st in entries
    ])
    return Listing(len(entries), wire[4:])


class FakeTreeFetch:
    """gofer.client.TreeFetch for FakeGofer: the listings, all there."""

    def __init__(self, results: Dict[Tuple[bytes, ...], List[Tuple[bytes, Any]]]) -> None:
        self.results = results
        self.arrived = list(results)  # (what _fetched_below reads)
        self.done, self.error = True, None

    def take(self, path: Tuple[bytes, ...]) -> Optional[List[Tuple[bytes, Any]]]:
        return self.results.pop(path, None)

    def take_listing(self, path: Tuple[bytes, ...]) -> Optional[Listing]:
        got = self.take(path)
        return listing_of(got) if got is not None else None

    def drop(self, path: Tuple[bytes, ...]) -> None:
        self.results.pop(path, None)
        if path in self.arrived:
            self.arrived.remove(path)

    def wait(self) -> None:
        pass


class FakeGofer:
    """GoferClient look-alike over host directories; root i is ``roots[i]``."""

    def __init__(self, roots: List[Tuple[str, bool]]) -> None:
        self.roots = roots
        self.handles: Dict[int, Tuple[str, bool]] = {}
        self._next = 0
        self.calls: List[str] = []

    def _h(self, path: str, ro: bool) -> int:
        self._next += 1
        self.handles[self._next] = (path, ro)
        return self._next

    def _p(self, h: int) -> Tuple[str, bool]:
        if h not in self.handles:
            raise OSError(errno.EBADF, "bad handle")
        return self.handles[h]

    def _rw(self, h: int) -> str:
        p, ro = self._p(h)
        if ro:
            raise OSError(errno.EROFS, "read-only")
        return p

    def attach(self, i: int) -> Tuple[int, GStat]:
        self.calls.append("attach")
        path, ro = self.roots[i]
        return self._h(path, ro), GStat.of(os.lstat(path))

    def walk(self, h: int, names: List[bytes]) -> List[Tuple[int, GStat]]:
        self.calls.append("walk")
        path, ro = self._p(h)
        out = []
        for n in names:
            if not n or n in (b".", b"..") or b"/" in n:
                raise OSError(errno.EINVAL, "bad name")
            path = os.path.join(path, os.fsdecode(n))
            try:
                st = os.lstat(path)
            except OSError:
                if not out:
                    raise
                return out
            out.append((self._h(path, ro), GStat.of(st)))
            if not stat.S_ISDIR(st.st_mode):
                break
        return out

    def stat(self, h: int) -> GStat:
        return GStat.of(os.lstat(self._p(h)[0]))

    def open(self, h: int, flags: int) -> int:
        path, ro = self._p(h)
        if ro and (flags & os.O_ACCMODE or flags & os.O_TRUNC):
            raise OSError(errno.EROFS, "read-only")
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)

    def readlink(self, h: int) -> bytes:
        return os.fsencode(os.readlink(self._p(h)[0]))

    def readdir(self, h: int) -> List[Tuple[bytes, int, int]]:
        self.calls.append("readdir")
        out = []
        with os.scandir(self._p(h)[0]) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                out.append((os.fsencode(e.name), e.inode(), (st.st_mode >> 12) & 0xF))
        return out

    def readdirstat(self, h: int, names: Optional[List[bytes]] = None,
                    ) -> List[Tuple[bytes, Any]]:
        self.calls.append("readdirstat")
        path = self._p(h)[0]
        for n in names or []:
            path = os.path.join(path, os.fsdecode(n))
        with os.scandir(path) as it:
            return [(os.fsencode(e.name), GStat.of(e.stat(follow_symlinks=False))) for e in it]

    def listing(self, h: int, names: Optional[List[bytes]] = None) -> Listing:
        return listing_of(self.readdirstat(h, names))

    def listing_along(self, h: int, names: List[bytes], along: List[bytes]) -> List[Listing]:
        """As GoferClient.listing_along: the listing, then each directory along while it
        is one of at most one block reached without a symlink on the same device."""
        out = [self.listing(h, names)]
        path = os.path.join(self._p(h)[0], *(os.fsdecode(n) for n in names))
        dev = os.stat(path).st_dev
        for n in along[:MAX_ALONG]:
            path = os.path.join(path, os.fsdecode(n))
            try:
                st = os.lstat(path)
            except OSError:
                break
            if (not stat.S_ISDIR(st.st_mode) or st.st_dev != dev
                    or dir_blocks(st.st_size, st.st_nlink) > 1):
                break
            out.append(listing_of(self.readdirstat(h, [*names, *along[:len(out)]])))
        return out

    def listing_fetch(self, h: int, names: List[bytes], name: bytes,
                      ) -> Tuple[Listing, Optional[Tuple[GStat, int]]]:
        """As GoferClient.listing_fetch: the listing, and *name* opened read-only if it is
        a regular file everyone may read (else None)."""
        listing = self.listing(h, names)
        self.calls.append("fetch")
        path = os.path.join(self._p(h)[0], *(os.fsdecode(n) for n in names), os.fsdecode(name))
        try:
            st = os.lstat(path)
        except OSError:
            return listing, None
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o444 != 0o444:
            return listing, None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        return listing, (GStat.of(os.fstat(fd)), fd)

    def readtree_start(self, h: int, names: List[bytes], subdirs: List[bytes],
                       budget: int) -> "FakeTreeFetch":
        """As GoferClient.readtree_start: a fetch whose reply has all come."""
        return FakeTreeFetch(self.readtree(h, names, subdirs, budget))

    def readtree(self, h: int, names: List[bytes], subdirs: List[bytes], budget: int,
                 ) -> Dict[Tuple[bytes, ...], List[Tuple[bytes, Any]]]:
        self.calls.append("readtree")
        out: Dict[Tuple[bytes, ...], List[Tuple[bytes, Any]]] = {}
        left = [budget]

        def visit(rel: Tuple[bytes, ...]) -> None:
            n_calls = len(self.calls)
            try:
                entries = self.readdirstat(h, list(names) + list(rel))
            except OSError:
                return
            finally:
                del self.calls[n_calls:]
            out[rel] = entries
            left[0] -= len(entries)
            for n, st in entries:
                if left[0] > 0 and stat.S_ISDIR(st.mode):
                    visit(rel + (n,))

        for n in subdirs:
            if left[0] > 0:
                visit((n,))
        return out

    def walk_or_open(self, h: int, name: bytes, flags: int, via: Sequence[bytes] = (),
                     ) -> Tuple[int, GStat, int]:
        """As GoferClient.walk_or_open: a regular file everyone may read walked to and
        opened, anything else (or a failed open) walked to only (fd -1); only it gets a
        handle."""
        n_calls = len(self.calls)
        walked = self.walk(h, [*via, name])
        for extra, _ in walked[:len(via)]:
            self.close(extra)
        if len(walked) <= len(via):
            raise OSError(errno.ENOENT, "not there")
        wh, st = walked[len(via)]
        del self.calls[n_calls:]
        self.calls.append("walk_or_open")
        if stat.S_ISREG(st.mode) and st.mode & stat.S_IROTH:
            try:
                fd = self.open(wh, flags)
                return wh, GStat.of(os.fstat(fd)), fd
            except OSError:
                pass
        return wh, st, -1

    def walk_or_open_siblings(self, h: int, name: bytes, flags: int, via: Sequence[bytes] = (),
                              ) -> Tuple[int, GStat, int, List[Tuple[bytes, int, GStat, int]]]:
        """As GoferClient.walk_or_open_siblings: walk_or_open, and the targets of a chain
        of symlinks to siblings the same way (up to SIBLING_HOPS)."""
        wh, st, fd = first = self.walk_or_open(h, name, flags, via)
        n_calls = len(self.calls)
        hops: List[Tuple[bytes, int, GStat, int]] = []
        while fd < 0 and stat.S_ISLNK(st.mode) and len(hops) < SIBLING_HOPS:
            target = os.fsencode(os.readlink(self._p(wh)[0]))
            if not sibling_target(target):
                break
            try:
                wh, st, fd = self.walk_or_open(h, target, flags, via)
            except OSError:
                break
            hops.append((target, wh, st, fd))
        del self.calls[n_calls:]
        return first[0], first[1], first[2], hops

    def walk_and_open_siblings(self, h: int, via: Sequence[bytes], name: bytes, flags: int,
                               ) -> Tuple[List[Tuple[int, GStat]], Any]:
        """As GoferClient.walk_and_open_siblings: the walk of *via*, and
        walk_or_open_siblings of *name* below it or its error."""
        entries = self.walk(h, list(via))
        try:
            return entries, self.walk_or_open_siblings(h, name, flags, via)
        except OSError as e:
            return entries, e

    def walkopen(self, h: int, names: List[bytes], flags: int) -> Tuple[int, GStat, int]:
        self.calls.append("walkopen")
        path, ro = self._p(h)
        for n in names:
            path = os.path.join(path, os.fsdecode(n))
        wh = self._h(path, ro)
        fd = self.open(wh, flags)
        return wh, GStat.of(os.fstat(fd)), fd

    def create(self, h: int, name: bytes, flags: int, mode: int, uid: int,
               gid: int) -> Tuple[int, GStat, int]:
        path = os.path.join(self._rw(h), os.fsdecode(name))
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        return self._h(path, False), GStat.of(os.fstat(fd)), fd

    def mkdir(self, h: int, name: bytes, mode: int, uid: int, gid: int) -> Tuple[int, GStat]:
        path = os.path.join(self._rw(h), os.fsdecode(name))
        os.mkdir(path, mode)
        return self._h(path, False), GStat.of(os.lstat(path))

    def symlink(self, h: int, name: bytes, target: bytes, uid: int, gid: int) -> Tuple[int, GStat]:
        path = os.path.join(self._rw(h), os.fsdecode(name))
        os.symlink(target, path)
        return self._h(path, False), GStat.of(os.lstat(path))

    def link(self, h: int, name: bytes, target: int) -> Tuple[int, GStat]:
        path = os.path.join(self._rw(h), os.fsdecode(name))
        os.link(self._p(target)[0], path, follow_symlinks=False)
        return self._h(path, False), GStat.of(os.lstat(path))

    def unlink(self, h: int, name: bytes, flags: int = 0) -> None:
        path = os.path.join(self._rw(h), os.fsdecode(name))
        if flags:
            os.rmdir(path)
        else:
            os.unlink(path)

    def rename(self, od: int, on: bytes, nd: int, nn: bytes, flags: int = 0) -> None:
        if flags:
            raise OSError(errno.EINVAL, "flags")
        os.rename(os.path.join(self._rw(od), os.fsdecode(on)),
                  os.path.join(self._rw(nd), os.fsdecode(nn)))

    def setattr(self, h: int, mode: Optional[int] = None, uid: Optional[int] = None,
                gid: Optional[int] = None, size: Optional[int] = None,
                atime_ns: Optional[int] = None, mtime_ns: Optional[int] = None) -> None:
        path = self._rw(h)
        if mode is not None:
            os.chmod(path, mode, follow_symlinks=False)
        if uid is not None or gid is not None:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid,
                     follow_symlinks=False)
        if size is not None:
            os.truncate(path, size)
        if atime_ns is not None or mtime_ns is not None:
            st = os.lstat(path)
            os.utime(path, ns=(atime_ns if atime_ns is not None else st.st_atime_ns,
                               mtime_ns if mtime_ns is not None else st.st_mtime_ns),
                     follow_symlinks=False)

    # Extended attributes: user.* only, as the gofer serves them.
    def listxattr(self, h: int, names: Optional[List[bytes]] = None) -> List[bytes]:
        self.calls.append("listxattr")
        path = self._p(h)[0]
        for n in names or []:
            path = os.path.join(path, os.fsdecode(n))
        return [os.fsencode(n) for n in os.listxattr(path) if n.startswith("user.")]

    def listxattrs(self, h: int, names: List[bytes]) -> List[List[bytes]]:
        self.calls.append("listxattrs")
        if not names:
            raise OSError(errno.EINVAL, "no names")
        path, out = self._p(h)[0], []
        for n in names:
            path = os.path.join(path, os.fsdecode(n))
            out.append([os.fsencode(x) for x in os.listxattr(path) if x.startswith("user.")])
        return out

    def getxattr(self, h: int, name: bytes) -> bytes:
        self.calls.append("getxattr")
        if not name.startswith(b"user."):
            raise OSError(errno.ENODATA, "not served")
        return os.getxattr(self._p(h)[0], name)

    def setxattr(self, h: int, name: bytes, value: bytes, flags: int = 0) -> None:
        if not name.startswith(b"user."):
            raise OSError(errno.EOPNOTSUPP, "not served")
        os.setxattr(self._rw(h), name, value, flags)

    def removexattr(self, h: int, name: bytes) -> None:
        if not name.startswith(b"user."):
            raise OSError(errno.EOPNOTSUPP, "not served")
        os.removexattr(self._rw(h), name)

    def statfs(self, h: int) -> Dict[str, int]:
        s = os.statvfs(self._p(h)[0])
        return {"f_type": 0xEF53, "f_bsize": s.f_bsize, "f_blocks": s.f_blocks,
                "f_bfree": s.f_bfree, "f_bavail": s.f_bavail, "f_files": s.f_files,
                "f_ffree": s.f_ffree, "f_namelen": s.f_namemax, "f_frsize": s.f_frsize,
                "f_flags": s.f_flag}

    def close(self, h: int) -> None:
        self.handles.pop(h, None)


class FakeKernel:
    """What the VFS, procfs and file handlers use of the kernel."""

    def __init__(self, hostname: str = "sandbox") -> None:
        self.vfs: Any = None
        self.hostname = hostname
        self.thread_groups: Dict[int, ThreadGroup] = {}
        self.signals: List[Tuple[int, int]] = []
        self.compat = CompatRecorder()

    def note_unsupported(self, t: Any, family: str, detail: str) -> bool:
        return self.compat.note(t.tg.exe_path, family, detail)

    def signal_task(self, t: Any, signo: int, sender: Any = None, info: Any = None,
                    code: Any = None) -> None:
        self.signals.append((t.tid, signo))

    def host_task_status(self, host_tid: int) -> Dict[str, str]:
        return {"State": "S (sleeping)", "SigBlk": "0000000000000000", "SigIgn": "0000000000001000",
                "SigCgt": "0000000000000000", "SigPnd": "0000000000000000",
                "ShdPnd": "0000000000000000", "VmRSS": "1234 kB", "VmSize": "5678 kB"}

    def host_file(self, name: str) -> bytes:
        return {"meminfo": b"MemTotal:  1000 kB\nMemFree:  500 kB\n",
                "cpuinfo": b"processor\t: 0\nmodel name\t: Fake\n\n",
                "loadavg": b"0.10 0.20 0.30 1/100 4242\n",
                "uptime": b"100.00 50.00\n",
                "stat": b"cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\nctxt 99\nbtime 1\n"
                        b"processes 5\nprocs_running 1\nprocs_blocked 0\n"}[name]


class Env:
    """A booted-like sandbox over host directories, with one task."""

    def __init__(self, root: str, mounts: Optional[List[MountSpec]] = None, overlay: bool = True,
                 root_readonly: bool = False, uid: int = 0, gid: int = 0) -> None:
        mounts = mounts or []
        cfg = BootConfig(argv=["/bin/true"], env=[], root_path=root, overlay=overlay,
                         root_readonly=root_readonly, mounts=mounts)
        roots = [(root, overlay or root_readonly)]
        roots += [(m.source, m.readonly) for m in mounts if m.type == "bind"]
        self.gofer = FakeGofer(roots)
        self.kernel = FakeKernel()
        self.vfs = build_mount_tree(cfg, self.gofer, self.kernel)
        self.kernel.vfs = self.vfs
        self.t = make_task(self.kernel, self.vfs, uid=uid, gid=gid)
        self._brk = self.t.mem.base + 0x1000

    def alloc(self, n: int) -> int:
        addr = self._brk
        self._brk += (n + 15) & ~15
        return addr

    def put(self, data: bytes) -> int:
        addr = self.alloc(len(data) + 1)
        self.t.mem.write(addr, data + b"\0")
        return addr

    def call(self, fn: Any, *args: int, t: Any = None) -> int:
        """Run handler *fn*; ``-errno`` on LinuxError (WouldBlock propagates)."""
        raw = tuple((list(args) + [0] * 6)[:6])
        a = SyscallArgs(0, tuple(x & 0xFFFFFFFFFFFFFFFF for x in raw))  # type: ignore[arg-type]
        try:
            return fn(t or self.t, a)
        except LinuxError as e:
            return -e.errno


def make_task(kernel: FakeKernel, vfs: Any, tid: int = 1, uid: int = 0, gid: int = 0,
              tg: Optional[ThreadGroup] = None) -> Task:
    """A task with a fresh fd table, the VFS root as root and cwd, and FakeMemory."""
    if tg is None:
        tg = ThreadGroup(kernel, tid, 1000 + tid)  # type: ignore[arg-type]
        kernel.thread_groups[tid] = tg
    creds = Credentials(uid, gid, uid, gid, uid, gid, uid, gid, [])
    root = vfs.root()
    t = Task(kernel, tg, tid, 1000 + tid, creds, FDTable(), FSContext(root, root),  # type: ignore[arg-type]
             FakeMemory(1 << 20))
    tg.tasks[tid] = t
    return t


def errno_of(fn: Any, *args: Any, **kw: Any) -> int:
    """The errno *fn* raises as LinuxError (0 if it returns)."""
    try:
        fn(*args, **kw)
    except LinuxError as e:
        return e.errno
    return 0
