"""memfd_create(2): an anonymous tmpfs file of the sentry's.

The file lives on a private tmpfs instance that is never mounted (as Linux's memfds live
on an internal shm mount), so it has no name in any directory: ``/proc/PID/fd`` shows
``/memfd:NAME (deleted)``, it is as big as what is written, and ``MAP_SHARED`` mappings
share its pages like any tmpfs file's (its host memfd).  File sealing is not emulated:
``MFD_ALLOW_SEALING`` is ``EINVAL``, and the file reports ``F_SEAL_SEAL`` as a memfd made
without that flag does.  ``MFD_HUGETLB`` is ``EINVAL`` (no hugetlbfs).
"""

from __future__ import annotations

import errno
from typing import Any, Optional, Tuple

from sentry.abi.linux.errors import LinuxError, err
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem
from sentry.fsimpl.tmpfs.regular_file import TmpfsFile
from sentry.syscalls.linux.args import SyscallArgs
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry

MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB = 0x1, 0x2, 0x4
MFD_NOEXEC_SEAL, MFD_EXEC = 0x8, 0x10
_NAME_MAX = 249  # NAME_MAX - strlen("memfd:")
F_SEAL_SEAL = 0x1

_FS: Optional[Tuple[TmpfsFilesystem, Mount]] = None


def _memfs() -> Tuple[TmpfsFilesystem, Mount]:
    global _FS
    if _FS is None:
        fs = TmpfsFilesystem()
        _FS = (fs, Mount(fs, Dentry(b"", None, fs.root_inode()), None, None, False,
                         "memfd", ""))
    return _FS


def is_memfd(d: Any) -> bool:
    vd = getattr(d, "vd", None)
    return vd is not None and _FS is not None and vd.mount is _FS[1]


def memfd_create(t: Any, a: SyscallArgs) -> int:
    """memfd_create(2)."""
    flags = a.uint(1)
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC):
        raise err(errno.EINVAL)
    if flags & (MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL):
        raise err(errno.EINVAL)
    try:
        name = t.mem.read_cstring(a[0], _NAME_MAX)
    except LinuxError as e:
        raise err(errno.EINVAL if e.errno == errno.ENAMETOOLONG else e.errno) from None
    if not t.fdtable.free_below_limit(1):
        raise err(errno.EMFILE)
    fs, mount = _memfs()
    c = t.creds
    inode = TmpfsFile(fs, 0o777, c.euid, c.egid)
    label = b"memfd:" + name + b" (deleted)"
    vd = VirtualDentry(mount, Dentry(label, None, inode))
    desc = inode.open(t, vd, abi.O_RDWR | abi.O_LARGEFILE)
    desc.anon_name = b"/" + label  # /proc/PID/fd/N and maps show Linux's text
    return int(t.fdtable.install(desc, bool(flags & MFD_CLOEXEC)))
