"""``/dev``: a tmpfs with the sentry's character devices.

Contents: ``null`` (1:3), ``zero`` (1:5), ``full`` (1:7), ``random`` (1:8),
``urandom`` (1:9), ``tty`` (5:0: the opener's controlling terminal, a pty's
replica; ``ENXIO`` without one), the symlinks ``fd`` → ``/proc/self/fd`` and
``stdin``/``stdout``/``stderr`` → ``/proc/self/fd/0..2``, ``ptmx`` (the symlink
``pts/ptmx`` as runc makes it, or a 5:2 node as devtmpfs has it: both give a new
pty of the devpts mounted on ``pts``), and the directories ``pts/`` and ``shm/``
(``/dev/pts`` and ``/dev/shm`` get their own mounts from
:func:`sentry.vfs.mount_tree.build_mount_tree`).

``zero``, ``full`` and the random devices serve at most :data:`MAX_READ`
bytes per read (a short read, which callers handle) so a huge read cannot
make the sentry allocate without bound.
"""

from __future__ import annotations

import errno
import os
import weakref

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err
from sentry.fsimpl.tmpfs.directory import TmpfsDir
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem
from sentry.fsimpl.tmpfs.tmpfs import TmpfsSpecial, TmpfsSymlink
from sentry.mm.mm import host_mapped
from sentry.vfs import abi
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Inode

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Tuple

MAX_READ = 1 << 20

# random(4)'s requests (include/uapi/linux/random.h).
RNDGETENTCNT = 0x80045200
RNDADDTOENTCNT = 0x40045201
RNDADDENTROPY = 0x40085203
RNDZAPENTCNT = 0x5204
RNDCLEARPOOL = 0x5206
RNDRESEEDCRNG = 0x5207
#: The input pool's entropy count once it is ready (``POOL_READY_BITS``): what Linux
#: says from boot on (the sandbox's bytes come from the host's pool, ready by then).
POOL_READY_BITS = 256
#: The longest read or write Linux makes (``MAX_RW_COUNT``): a longer RNDADDENTROPY
#: buffer is cut to it, and then fails for not being taken whole.
MAX_RW_COUNT = 0x7FFFF000
# Requests do_vfs_ioctl answers for any file before its driver sees them.


class _CharDevice(FileDescription):
    """Common part: seekable to nowhere (``lseek`` returns 0 like Linux)."""

    def seek(self, t: Any, off: int, whence: int) -> int:
        return 0

    def pread(self, t: Any, n: int, off: int) -> bytes:
        return self.read(t, n)

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        return self.write(t, data)


class NullDevice(_CharDevice):
    """``/dev/null``: EOF on read, swallows writes."""

    swallows_writes = True
    splice_read = False  # (null_fops has none)

    def read(self, t: Any, n: int) -> bytes:
        return b""

    def write(self, t: Any, data: bytes) -> int:
        return len(data)


class ZeroDevice(_CharDevice):
    """``/dev/zero``: zeros; writes are swallowed; a mapping is the host's /dev/zero's
    (``mmap_zero``: private anonymous memory, or shared memory of its own for
    ``MAP_SHARED``), read-only for a read-only description as a file's (no
    ``mprotect(PROT_WRITE)`` of its shared mapping)."""

    swallows_writes = True

    def read(self, t: Any, n: int) -> bytes:
        return bytes(min(n, MAX_READ))

    def write(self, t: Any, data: bytes) -> int:
        return len(data)

    def shared_mapping_fd(self, t: Any) -> int:
        fd = t.kernel.zero_fds[1 if self.writable() else 0]
        if fd < 0:
            raise err(errno.ENODEV)
        return int(fd)


class FullDevice(ZeroDevice):
    """``/dev/full``: zeros; writes fail with ``ENOSPC`` (``write_fails``: sys_file never
    reads their bytes)."""

    swallows_writes = False
    write_fails = errno.ENOSPC
    write_iter = False  # (full_fops: write only)

    def shared_mapping_fd(self, t: Any) -> int:
        raise err(errno.ENODEV)  # (full_fops has no mmap)

    def write(self, t: Any, data: bytes) -> int:
        raise err(errno.ENOSPC)


class RandomDevice(_CharDevice):
    """``/dev/random`` and ``/dev/urandom`` (never block, like Linux ≥ 5.6)."""

    @property
    def pollable(self) -> bool:  # type: ignore[override]
        # Linux gives /dev/random a poll operation and /dev/urandom none.
        return os.minor(getattr(self.inode, "rdev", 0)) == 8

    def readiness(self, mask: int) -> int:
        # random_poll: IN|RDNORM once the pool is ready (always, here); urandom has no
        # poll operation, so DEFAULT_POLLMASK.
        return mask & (0x001 | 0x040) if self.pollable else super().readiness(mask)

    def read(self, t: Any, n: int) -> bytes:
        return os.urandom(min(n, MAX_READ))

    def write(self, t: Any, data: bytes) -> int:
        return len(data)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        return random_ioctl(t, cmd, arg)


def random_ioctl(t: Any, cmd: int, arg: int) -> int:
    """random(4)'s ``random_ioctl`` (the sentry's devices, a donated host one), after
    the requests Linux's ``do_vfs_ioctl`` answers first for any file
    (``sys_file.ioctl``): the entropy count; crediting or adding entropy, zapping the
    count, clearing the pool and reseeding take ``CAP_SYS_ADMIN`` and change nothing
    (the bytes are the host's, as a write's are); anything else, a terminal's request
    included (isatty(3)), is ``EINVAL``."""
    if cmd == RNDGETENTCNT:
        t.mem.write_i32(arg, POOL_READY_BITS)
        return 0
    if cmd not in (RNDADDTOENTCNT, RNDADDENTROPY, RNDZAPENTCNT, RNDCLEARPOOL, RNDRESEEDCRNG):
        raise err(errno.EINVAL)
    if not t.creds.capable(cap.CAP_SYS_ADMIN):
        raise err(errno.EPERM)
    if cmd in (RNDADDTOENTCNT, RNDADDENTROPY) and t.mem.read_i32(arg) < 0:
        raise err(errno.EINVAL)
    if cmd == RNDADDENTROPY:
        # The buffer must be readable whole (a negative length is a huge one, and past
        # MAX_RW_COUNT it is cut and then not taken whole: EFAULT).  Linux mixes it in on
        # the caller's time; the sentry's is every task's, so it reads a small one and
        # looks a large one up in the host's maps instead of copying it.
        n = t.mem.read_i32(arg + 4)
        if n < 0 or n > MAX_RW_COUNT:
            raise err(errno.EFAULT)
        if n <= MAX_READ:
            t.mem.read(arg + 8, n)
        elif not host_mapped(t, arg + 8, arg + 8 + n, readable=True):
            raise err(errno.EFAULT)
    return 0


def _tty(t: Any, inode: Inode, vd: Any, flags: int) -> FileDescription:
    """``/dev/tty``: a new description of the caller's controlling terminal (never
    made one by this open)."""
    from sentry.fsimpl.devpts.replica import ReplicaFileDescription
    from sentry.fsimpl.devpts.terminal import ctty_of

    term = ctty_of(t) if t is not None else None
    if term is None:
        raise err(errno.ENXIO)
    return ReplicaFileDescription.open(t, term, vd, inode, flags | os.O_NOCTTY)


def _ptmx(t: Any, inode: Inode, vd: Any, flags: int) -> FileDescription:
    from sentry.fsimpl.devpts.devpts import open_ptmx_device

    return open_ptmx_device(t, inode, vd, flags)


def _simple(cls: type) -> Callable[[Any, Inode, Any, int], FileDescription]:
    def opener(t: Any, inode: Inode, vd: Any, flags: int) -> FileDescription:
        return cls(vd, inode, flags)

    return opener


#: (major, minor) → opener(t, inode, vd, flags).
DEVICES: Dict[Tuple[int, int], Callable[[Any, Inode, Any, int], FileDescription]] = {
    (1, 3): _simple(NullDevice),
    (1, 5): _simple(ZeroDevice),
    (1, 7): _simple(FullDevice),
    (1, 8): _simple(RandomDevice),
    (1, 9): _simple(RandomDevice),
    (5, 0): _tty,
    (5, 2): _ptmx,
}


class DevFilesystem(TmpfsFilesystem):
    """The sentry's ``/dev`` (a tmpfs, *root_mode* and *size_limit* as its options say)."""

    fstype = "tmpfs"

    def __init__(self, root_mode: int = 0o755, size_limit: int = 64 << 20,
                 ptmx_node: bool = False) -> None:
        """:param ptmx_node: ``ptmx`` is a 5:2 node (0666), not a symlink."""
        super().__init__(root_mode=root_mode, size_limit=size_limit)
        root = self.root_inode()
        assert isinstance(root, TmpfsDir)
        for name, (major, minor) in (
            (b"null", (1, 3)), (b"zero", (1, 5)), (b"full", (1, 7)),
            (b"random", (1, 8)), (b"urandom", (1, 9)), (b"tty", (5, 0)),
        ):
            root.add(name, TmpfsSpecial(self, abi.S_IFCHR | 0o666, 0, 0, os.makedev(major, minor)))
        for name, target in (
            (b"fd", b"/proc/self/fd"), (b"stdin", b"/proc/self/fd/0"),
            (b"stdout", b"/proc/self/fd/1"), (b"stderr", b"/proc/self/fd/2"),
        ):
            root.add(name, TmpfsSymlink(self, target, 0, 0))
        if ptmx_node:
            root.add(b"ptmx", TmpfsSpecial(self, abi.S_IFCHR | 0o666, 0, 0, os.makedev(5, 2)))
        else:
            root.add(b"ptmx", TmpfsSymlink(self, b"pts/ptmx", 0, 0))
        root.add(b"pts", TmpfsDir(self, 0o755, 0, 0))
        root.add(b"shm", TmpfsDir(self, 0o1777, 0, 0))
        DevFilesystem.instances.add(self)

    #: Every /dev of this sentry (one sandbox per process), for :meth:`add_console`.
    instances: "weakref.WeakSet[DevFilesystem]" = weakref.WeakSet()

    def add_console(self, inode: Inode) -> None:
        """Show the sandbox's console (the donated terminal's inode) as ``console``.

        runc binds the container's pty there; ``ttyname(3)`` finds the terminal of fd 0
        by reading ``/proc/self/fd/0`` (``/dev/console``) and comparing the node's
        device and inode numbers with ``fstat(0)``'s, which this inode's are.
        """
        root = self.root_inode()
        assert isinstance(root, TmpfsDir)
        if root.lookup(None, b"console") is None:
            root.add(b"console", inode)


def open_device(t: Any, inode: Any, vd: Any, flags: int) -> FileDescription:
    """Open a character device node of a sentry file system: the emulated device with its
    numbers, ``ENXIO`` (no driver) for any other."""
    opener = DEVICES.get((os.major(inode.rdev), os.minor(inode.rdev)))
    if opener is None:
        raise err(errno.ENXIO)
    return opener(t, inode, vd, flags)
