"""procfs: synthetic directories, files and symlinks generated from sentry state.

Every lookup builds fresh inodes (``cache_dentries`` is false): processes come
and go, and what a file shows depends on who reads it (``/proc/self``).  File
contents are generated when the file is opened and served from that
snapshot.  Inode numbers are stable per path for the life of the sandbox.

Only sandbox state is shown: thread groups from ``kernel.thread_groups``,
sandbox pids and credentials; host facts pass through
``kernel.host_file``/``kernel.host_task_status`` filtered to what does not
identify the host's processes.  The contents live in :mod:`.proc`.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import err
from sentry.vfs import abi
from sentry.vfs.dentry import VirtualDentry
from sentry.vfs.file import DEFAULT_POLLMASK, DirectoryDescription, FileDescription
from sentry.vfs.inode import DirEntry, Filesystem, Inode, Stat, StatFS, now_ns

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

    #: name → factory of the child inode.
    Children = Dict[bytes, Callable[[], Inode]]
else:  # (other modules import the name)
    Children = dict


def _inside(extents: Any) -> int:
    from sentry.kernel.idmap import OVERFLOW_ID, IdMap

    if not extents:
        return 0
    inside = IdMap(extents).to_sandbox(0)
    return OVERFLOW_ID if inside is None else inside



#: ProcDir.lookup_one's answer for a name that is surely not there.
ABSENT = object()

class ProcFilesystem(Filesystem):
    """One procfs instance.

    :param kernel: the sentry kernel (``thread_groups``, ``hostname``,
        ``host_file``, ``host_task_status``).
    :param vfs: the sandbox VFS (paths of fds, cwd, mounts).
    """

    fstype = "proc"
    magic = abi.PROC_SUPER_MAGIC
    block_size = 1024
    cache_dentries = False
    dir_fsync = False
    sb_noexec = True

    def __init__(self, kernel: Any, vfs: Any) -> None:
        super().__init__(readonly=False)
        self.kernel = kernel
        self.vfs = vfs
        self._inos: Dict[bytes, int] = {}
        self.t0 = now_ns()
        # The owner of the kernel's own entries: host root, through linux.uidMappings
        # (the overflow id when they leave it unmapped, as in a user namespace).
        self.global_root = (_inside(getattr(kernel, "uid_map", None)),
                            _inside(getattr(kernel, "gid_map", None)))
        self._root = self._make_root()

    def _make_root(self) -> "ProcDir":
        from sentry.fsimpl.proc.proc import root_children, root_lookup

        return ProcDir(self, b"/", lambda t: root_children(self, t),
                       lookup_one=lambda t, name: root_lookup(self, t, name))

    def ino_for(self, path: bytes) -> int:
        """A stable inode number for *path*."""
        ino = self._inos.get(path)
        if ino is None:
            ino = self._inos[path] = self.next_ino()
        return ino

    def root_inode(self) -> Inode:
        return self._root

    def statfs(self, t: Any) -> StatFS:
        return StatFS(type=self.magic, fsid=self.dev)


class ProcInode(Inode):
    """Common part: fixed mode, owner, and the file system's creation time."""

    fs: ProcFilesystem

    def __init__(self, fs: ProcFilesystem, path: bytes, mode: int, uid: Optional[int] = None,
                 gid: Optional[int] = None) -> None:
        # No owner given: the kernel's (global root), as the sandbox's id mapping shows it.
        ruid, rgid = fs.global_root
        super().__init__(fs, fs.ino_for(path), mode, ruid if uid is None else uid,
                         rgid if gid is None else gid)
        self.path = path

    def _size(self) -> int:
        return 0

    def _nlink(self) -> int:
        return 2 if self.is_dir else 1

    def setattr(self, t: Any, attr: Any) -> None:
        """``proc_setattr``: a mode or owner change is ``EPERM``; the truncation of an
        ``open(O_TRUNC)`` (``echo 1 > /proc/...``) does nothing."""
        if attr.mode is not None or attr.uid is not None or attr.gid is not None:
            raise err(errno.EPERM)

    def stat(self) -> Stat:
        t0 = self.fs.t0
        return Stat(
            dev=self.fs.dev, ino=self.ino, mode=self.mode, nlink=self._nlink(),
            uid=self.uid, gid=self.gid, rdev=0, size=self._size(), blksize=1024, blocks=0,
            atime_ns=t0, mtime_ns=t0, ctime_ns=t0,
        )


class ProcDir(ProcInode):
    """A directory whose entries come from ``children(t)``.

    Its link count is Linux's for a proc directory: 2 and one for each subdirectory (the
    root's is ``proc_root``'s subdirectories and the number of processes; ``/proc/PID`` and
    ``task/TID`` count their directory entries, ``task`` the threads), unless *nlink* is given
    (sysctl directories have 1).  *size*, if given, is the size ``stat`` shows (``fd``: the
    number of open descriptors, as Linux since 6.2).
    """

    def __init__(
        self, fs: ProcFilesystem, path: bytes, children: Callable[[Any], Children],
        mode: int = 0o555, uid: Optional[int] = None, gid: Optional[int] = None,
        nlink: Optional[int] = None, size: Optional[Callable[[], int]] = None,
        lookup_one: Optional[Callable[[Any, bytes], Any]] = None,
    ) -> None:
        super().__init__(fs, path, abi.S_IFDIR | mode, uid, gid)
        self.children = children
        # (t, name) -> an entry's factory, ABSENT, or None: ask children (a lookup that
        # need not make the whole listing).
        self.lookup_one = lookup_one
        # /proc/PID: the thread group it shows (see proc.pid_dir).
        self.process: Any = None
        self._fixed_nlink = nlink
        self._size_of = size

    def _nlink(self) -> int:
        if self._fixed_nlink is not None:
            return self._fixed_nlink
        return 2 + sum(1 for f in self.children(None).values() if f().is_dir)

    def _size(self) -> int:
        return self._size_of() if self._size_of is not None else 0

    def lookup(self, t: Any, name: bytes) -> Optional[Inode]:
        f = self.lookup_one(t, name) if self.lookup_one is not None else None
        if f is ABSENT:
            return None
        if f is None:
            f = self.children(t).get(name)
        return f() if f is not None else None

    def iterdir(self, t: Any) -> List[DirEntry]:
        out = []
        for name, f in self.children(t).items():
            i = f()
            out.append((name, i.ino, abi.dtype_of_mode(i.mode)))
        return out

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return DirectoryDescription(vd, self, flags)


class ProcFile(ProcInode):
    """A read-only file with generated contents (``content(t)``)."""

    def __init__(
        self, fs: ProcFilesystem, path: bytes, content: Callable[[Any], bytes],
        mode: int = 0o444, uid: Optional[int] = None, gid: Optional[int] = None,
        check: Optional[Callable[[Any], None]] = None,
        write: Optional[Callable[[Any, bytes], int]] = None,
        poll: Optional[int] = None, read_iter: bool = False,
    ) -> None:
        super().__init__(fs, path, abi.S_IFREG | mode, uid, gid)
        self.content = content
        self.check = check
        self.write = write
        # The events of the file's poll operation (None: it has none, so epoll_ctl
        # refuses it): Linux's proc_create entries and sysctls have one
        # (DEFAULT_POLLMASK), /proc/PID/mounts its own, other /proc/PID files none.
        self.poll = poll
        # Read through read_iter (seq_read_iter: proc_create entries, sysctls,
        # /proc/PID/mounts and mountinfo; a sysctl's write through write_iter too), not
        # only read (the other /proc/PID files): AIO refuses the others.
        self.read_iter = read_iter

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        if self.check is not None:
            self.check(t)
        return ProcFileDescription(vd, self, flags, self.content, t, self.write)


class ProcFileDescription(FileDescription):
    """An open proc file: contents generated when read, as Linux's seq_file does.

    A read at offset 0 generates the contents afresh (``lseek(fd, 0)`` then
    ``read`` is how monitors refresh ``/proc/loadavg`` or ``/proc/PID/stat``,
    and a file opened before an ``exec`` shows the new image); reads further on
    continue in the same generation, so one file read in chunks is consistent.
    """

    def __init__(self, vd: Any, inode: Inode, flags: int, content: Callable[[Any], bytes],
                 opener: Any, write: Optional[Callable[[Any, bytes], int]] = None) -> None:
        super().__init__(vd, inode, flags)
        self._content = content
        self._opener = opener
        self._write = write
        self.data: Optional[bytes] = None
        self._poll: Optional[int] = getattr(inode, "poll", None)
        self.pollable = self._poll is not None
        self.read_iter = getattr(inode, "read_iter", False)
        self.write_iter = self.read_iter and write is not None

    def readiness(self, mask: int) -> int:
        return mask & (DEFAULT_POLLMASK if self._poll is None else self._poll)

    def _at(self, t: Any, off: int) -> bytes:
        if self.data is None or off == 0:
            self.data = self._content(t if t is not None else self._opener)
        return self.data

    def read(self, t: Any, n: int) -> bytes:
        out = self._at(t, self.offset)[self.offset : self.offset + n]
        self.offset += len(out)
        return out

    def unread(self, t: Any, data: bytes) -> None:
        self.offset -= len(data)

    def pread(self, t: Any, n: int, off: int) -> bytes:
        return self._at(t, off)[off : off + n]

    def seek(self, t: Any, off: int, whence: int) -> int:
        return self.generic_seek(off, whence)

    def size(self) -> int:
        return len(self._at(None, -1))

    def write(self, t: Any, data: bytes) -> int:
        """A write to a file that takes one (a tunable such as ``oom_score_adj``): the
        whole buffer is one value, as the kernel's ``proc_write`` handlers parse it."""
        if self._write is None:
            raise err(errno.EINVAL)
        return self._write(t if t is not None else self._opener, data)

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        return self.write(t, data)

    def shared_mapping_fd(self, t: Any) -> int:
        """None to map: a process's files and the sysctls have no ``mmap`` (``ENODEV``,
        before ``MAP_GROWSDOWN``'s check); the rest (``proc_create``'s: /proc/meminfo,
        /proc/sysvipc/shm, ...) go through ``proc_reg_mmap``, which has no ``proc_mmap``
        to call (``EIO``)."""
        path = getattr(self.inode, "path", b"")
        first = path.split(b"/", 2)[1] if path.count(b"/") else b""
        raise err(errno.ENODEV if first.isdigit() or first == b"sys" else errno.EIO)


class ProcSymlink(ProcInode):
    """A symlink with a generated target; ``jump(t)`` makes it a magic link."""

    def __init__(
        self, fs: ProcFilesystem, path: bytes, target: Callable[[Any], bytes],
        jump: Optional[Callable[[Any], Optional[VirtualDentry]]] = None,
        uid: Optional[int] = None, gid: Optional[int] = None,
        check: Optional[Callable[[Any], None]] = None,
    ) -> None:
        super().__init__(fs, path, abi.S_IFLNK | 0o777, uid, gid)
        self.target = target
        self.jump = jump
        self.check = check

    def readlink(self, t: Any) -> bytes:
        if self.check is not None:
            self.check(t)
        return self.target(t)

    def get_link(self, t: Any) -> Optional[VirtualDentry]:
        if self.jump is None:
            return None
        if self.check is not None:
            self.check(t)
        vd = self.jump(t)
        if vd is None:
            raise err(errno.ENOENT)
        return vd
