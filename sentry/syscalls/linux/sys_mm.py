"""Memory syscalls.

Anonymous memory is the host's (``pass`` rows).  A file ``mmap`` is traced
(``RET_TRACE``, one ptrace stop): the sentry checks the descriptor, reads the
file's bytes through the VFS, rewrites the call into an anonymous private
mapping with the requested protection, lets the host run it, and writes the
bytes in through ``/proc/PID/mem`` (which can write read-only pages).  So a
mapping never names a host file.  ``MAP_SHARED`` of a file is served as a
private copy when it cannot be written through (read-only), and refused with
``ENODEV`` when it could (shared writable file mappings are not supported yet).
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, List

from sentry.abi.linux.errors import LinuxError, err
from sentry.platform.hybrid import native as N

if TYPE_CHECKING:
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

log = logging.getLogger("sentry")

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 1, 2, 3
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20
PAGE = 4096
U64 = (1 << 64) - 1


def _file_bytes(t: "Task", fd: int, length: int, off: int, prot: int, flags: int) -> tuple:
    if length == 0 or off & (PAGE - 1) or off < 0:
        raise err(errno.EINVAL)
    kind = flags & MAP_SHARED_VALIDATE
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise err(errno.EINVAL)
    desc = t.fdtable.get(fd)
    if not desc.readable():
        raise err(errno.EACCES)
    if kind != MAP_PRIVATE and prot & PROT_WRITE:
        if not desc.writable():
            raise err(errno.EACCES)
        raise err(errno.ENODEV)
    st = desc.stat(t)
    import stat as _stat
    if not _stat.S_ISREG(st.mode):
        raise err(errno.ENODEV)
    want = min(length, max(0, st.size - off))
    data = desc.pread(t, want, off) if want else b""
    return data, os.fsdecode(t.kernel.vfs.describe(t, desc))


def file_mmap_stop(k: "Kernel", t: "Task", regs: List[int]) -> None:
    """The traced ``mmap`` of a file: run it as an anonymous mapping filled by the sentry."""
    pid = t.host_tid
    length, prot, flags = regs[N.RSI], regs[N.RDX] & 0xFFFFFFFF, regs[N.R10]
    fd = regs[N.R8] & 0xFFFFFFFF
    fd = fd - (1 << 32) if fd >> 31 else fd
    off = regs[N.R9]
    try:
        data, path = _file_bytes(t, fd, length, off, prot, flags & 0xFFFFFFFF)
    except LinuxError as e:
        regs[N.ORIG_RAX] = U64
        regs[N.RAX] = (-e.errno) & U64
        N.setregs(pid, regs)
        N.cont(pid, 0)
        return
    regs[N.R10] = (flags & ~MAP_SHARED_VALIDATE) | MAP_PRIVATE | MAP_ANONYMOUS
    regs[N.R8] = U64
    regs[N.R9] = 0
    N.setregs(pid, regs)
    res = k.run_to_syscall_exit(t)
    if res is None:
        return
    if res < (1 << 63) and data:
        mm = t.tg.mm
        try:
            fd_mem = mm.mem_fd if mm is not None and mm.mem_fd is not None else k.open_mem(pid)
            view = memoryview(data)
            pos = res
            while view:
                n = os.pwrite(fd_mem, view, pos)
                view = view[n:]
                pos += n
        except OSError:
            log.exception("filling a file mapping of %r failed", t)
        if mm is not None:
            mm.add((res, res + ((length + PAGE - 1) & ~(PAGE - 1)), prot, path, off))
    k.resume_after_stop(t)
