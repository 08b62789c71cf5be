"""Memory syscalls.

Anonymous memory is the host's (``pass`` rows).  A file ``mmap`` is traced
(``RET_TRACE``, one ptrace stop): the sentry checks the descriptor, reads the
file's bytes through the VFS, rewrites the call into an anonymous private
mapping with the requested protection, lets the host run it, and writes the
bytes in through ``/proc/PID/mem`` (which can write read-only pages).  So a
private mapping never names a host file.

``MAP_SHARED`` of a file is notified (:func:`mmap_shared`): after the checks
Linux makes, the sentry installs the file's host fd in the task *at the
sandbox fd's number* (``SECCOMP_IOCTL_NOTIF_ADDFD`` with ``SETFD``) and lets
the host run the call unchanged (``CONTINUE``), so every process mapping the
file shares its pages, as futexes and semaphores in shared files need.  The
host fd is the gofer's for a gofer file (its access mode is the sandbox's) and
a memfd for a tmpfs file (:meth:`TmpfsFile.shared_fd`).  It stays in the
task's host fd table (close-on-exec) until replaced; the workload cannot reach
it, since no syscall that takes an fd runs on the host except this mmap.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, Any, List

from sentry.abi.linux.errors import CONTINUE, LinuxError, err
from sentry.platform.hybrid import native as N

if TYPE_CHECKING:
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

log = logging.getLogger("sentry")

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 1, 2, 3
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20
PAGE = 4096
U64 = (1 << 64) - 1


def _check_noexec(desc: Any, prot: int) -> None:
    """An executable mapping of a file on a ``noexec`` mount is ``EPERM`` (do_mmap)."""
    if prot & PROT_EXEC and desc.vd is not None and desc.vd.mount.noexec:
        raise err(errno.EPERM)


def _file_bytes(t: "Task", fd: int, length: int, off: int, prot: int, flags: int) -> tuple:
    if length == 0 or off & (PAGE - 1) or off < 0:
        raise err(errno.EINVAL)
    kind = flags & MAP_SHARED_VALIDATE
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise err(errno.EINVAL)
    desc = t.fdtable.get(fd)
    if not desc.readable():
        raise err(errno.EACCES)
    _check_noexec(desc, prot)
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


def mmap_shared(t: "Task", a: "SyscallArgs") -> Any:
    """mmap(2) of a file with ``MAP_SHARED`` (anonymous and private ones never come here)."""
    from sentry.kernel.kernel import STUB_FD

    # The filter sends only MAP_SHARED/MAP_SHARED_VALIDATE without MAP_ANONYMOUS here;
    # the host validates the other flags when it runs the call.
    length, prot, fd, off = a[1], a.uint(2), a.int(4), a[5]
    if length == 0 or off & (PAGE - 1):
        raise err(errno.EINVAL)
    desc = t.fdtable.get(fd)
    if not desc.readable():
        raise err(errno.EACCES)
    if prot & PROT_WRITE and not desc.writable():
        raise err(errno.EACCES)
    _check_noexec(desc, prot)
    host_fd = desc.shared_mapping_fd(t)
    if fd == STUB_FD:
        raise err(errno.ENODEV)  # that host fd number holds the stub
    try:
        N.addfd(t.tg.listener, a.notif_id, host_fd, fd)
    except OSError as e:
        raise err(e.errno or errno.ENODEV) from None
    mm = t.tg.mm
    if mm is not None:
        try:
            st = os.fstat(host_fd)
            key = (f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}", str(st.st_ino))
            mm.shared_names[key] = os.fsdecode(t.kernel.vfs.describe(t, desc))
        except OSError:
            pass
    return CONTINUE


def fill_mem(fd_mem: int, addr: int, data: bytes) -> None:
    """Write all of *data* at *addr* through a ``/proc/PID/mem`` fd.

    A write of 0 bytes means the address space is gone (the task was killed after its
    call returned: ``mem_rw`` finds no users left); it would be 0 again for ever, so it is
    an error, not a reason to try again.

    :raises OSError: the write failed or stopped short.
    """
    view = memoryview(data)
    while view:
        n = os.pwrite(fd_mem, view, addr)
        if n <= 0:
            raise OSError(errno.EIO, f"{len(view)} bytes left unwritten at {addr:#x}")
        view = view[n:]
        addr += n


def host_task_exiting(procfd: int, pid: int) -> bool:
    """Whether host task *pid* is gone or on its way out (``PF_EXITING`` in its stat).

    A task killed (SIGKILL) while the sentry held it stopped exits as soon as it is
    let go of, and its memory goes with it.
    """
    try:
        fd = os.open(f"{pid}/stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=procfd)
        try:
            stat = os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError:
        return True
    fields = stat[stat.rfind(b")") + 2:].split()
    return len(fields) < 7 or fields[0] in (b"Z", b"X") or bool(int(fields[6]) & _PF_EXITING)


_PF_EXITING = 0x4


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
            fill_mem(fd_mem, res, data)
        except OSError as e:
            if not host_task_exiting(k.procfd, pid):
                log.error("filling a file mapping of %r at %#x failed: %s", t, res, e)
        if mm is not None:
            mm.add((res, res + ((length + PAGE - 1) & ~(PAGE - 1)), prot, path, off))
    k.resume_after_stop(t)
