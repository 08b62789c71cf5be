"""memfd_create(2) and file seals (``fcntl`` ``F_ADD_SEALS``/``F_GET_SEALS``).

A memfd is a file of a private tmpfs instance that is never mounted (as Linux's memfds live
on an internal shm mount), so it has no name in any directory: ``/proc/PID/fd`` shows
``/memfd:NAME (deleted)``, it is as big as what is written, and ``MAP_SHARED`` mappings
share its pages like any tmpfs file's (its host memfd).

Seals follow Linux 6.x (``mm/memfd.c``): a memfd made without ``MFD_ALLOW_SEALING``
starts with ``F_SEAL_SEAL``, as every other tmpfs file does; ``MFD_NOEXEC_SEAL`` makes the
mode 0666 and adds ``F_SEAL_EXEC`` and, on this kernel, allows further seals;
``MFD_EXEC`` (the default: the sandbox's ``vm.memfd_noexec`` is 0) keeps 0777.  The seals
themselves are enforced by the file (:class:`~sentry.fsimpl.tmpfs.regular_file.TmpfsFile`)
and, for mappings, by the host memfd that carries them.  ``MFD_HUGETLB`` is ``EINVAL``
(no hugetlbfs).
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem
from sentry.fsimpl.tmpfs.regular_file import F_SEAL_EXEC, F_SEAL_SEAL, TmpfsFile
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry, kern_mount
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, StatFS

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB = 0x1, 0x2, 0x4
MFD_NOEXEC_SEAL, MFD_EXEC = 0x8, 0x10
_NAME_MAX = 249  # NAME_MAX - strlen("memfd:")


class MemfdFilesystem(TmpfsFilesystem):
    """Where memfd_create's files live: Linux's internal shmem mount, which has no size or
    inode limit of its own, so its statfs counts nothing (the sandbox's memory account
    still bounds what the files hold)."""

    def statfs(self, t: Any) -> StatFS:
        return Filesystem.statfs(self, t)


_FS: Optional[Tuple[TmpfsFilesystem, Mount]] = None


def _memfs() -> Tuple[TmpfsFilesystem, Mount]:
    global _FS
    if _FS is None:
        fs = MemfdFilesystem()
        _FS = (fs, kern_mount(fs, fs.root_inode(), "memfd"))
    return _FS


def is_memfd(d: Any) -> bool:
    vd = getattr(d, "vd", None)
    return vd is not None and _FS is not None and vd.mount is _FS[1]


def memfd_create(t: Any, a: SyscallArgs) -> int:
    """memfd_create(2)."""
    flags = a.uint(1)
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC):
        raise err(errno.EINVAL)
    if flags & MFD_HUGETLB or flags & MFD_EXEC and flags & MFD_NOEXEC_SEAL:
        raise err(errno.EINVAL)
    try:
        name = t.mem.read_cstring(a[0], _NAME_MAX)
    except LinuxError as e:
        raise err(errno.EINVAL if e.errno == errno.ENAMETOOLONG else e.errno) from None
    if not t.fdtable.free_below_limit(1):
        raise err(errno.EMFILE)
    fs, mount = _memfs()
    c = t.creds
    inode = TmpfsFile(fs, 0o666 if flags & MFD_NOEXEC_SEAL else 0o777, c.euid, c.egid)
    inode.nlink = 0  # it never had a name (fstat says 0 links)
    if flags & MFD_NOEXEC_SEAL:
        inode.seals = F_SEAL_EXEC
    elif flags & MFD_ALLOW_SEALING:
        inode.seals = 0
    label = b"memfd:" + name + b" (deleted)"
    vd = VirtualDentry(mount, Dentry(label, None, inode))
    desc = inode.open(t, vd, abi.O_RDWR | abi.O_LARGEFILE)
    desc.anon_name = b"/" + label  # /proc/PID/fd/N and maps show Linux's text
    return int(t.fdtable.install(desc, bool(flags & MFD_CLOEXEC)))


def _shmem_file(d: FileDescription) -> Optional[TmpfsFile]:
    """The tmpfs file behind *d* if Linux would call it a shmem file (a memfd, or a
    file of a tmpfs mount: not the overlay's upper layer, which stands for a disk)."""
    inode = d.inode
    if not isinstance(inode, TmpfsFile) or d.vd is None:
        return None
    return inode if isinstance(d.vd.mount.fs, TmpfsFilesystem) else None


def get_seals(d: FileDescription) -> int:
    """``fcntl(F_GET_SEALS)`` (fcntl refused an O_PATH fd).  :raises LinuxError: ``EINVAL``
    for a file that is not shmem."""
    inode = _shmem_file(d)
    if inode is None:
        raise err(errno.EINVAL)
    return inode.seals


def add_seals(d: FileDescription, seals: int) -> int:
    """``fcntl(F_ADD_SEALS)``: Linux checks the access mode first (``EPERM``, even for a
    file that takes no seals), then the seals and the file (``EINVAL``).  (fcntl refused an
    O_PATH fd.)"""
    if not d.writable():
        raise err(errno.EPERM)
    inode = _shmem_file(d)
    if seals & ~0x3F or inode is None:
        raise err(errno.EINVAL)
    inode.add_seals(seals)
    return 0


__all__ = ["F_SEAL_SEAL", "add_seals", "get_seals", "is_memfd", "memfd_create"]
