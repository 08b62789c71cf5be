"""Memory syscalls.

Anonymous memory is the host's (``pass`` rows).  Every file ``mmap`` is
notified (:func:`mmap_file`): after the checks Linux makes, the sentry installs
a host fd of the file in the task *at the sandbox fd's number*
(``SECCOMP_IOCTL_NOTIF_ADDFD`` with ``SETFD``) and lets the host run the call
unchanged (``CONTINUE``).  So a ``MAP_SHARED`` mapping shares the file's pages
with every process (futexes and semaphores in shared files need it), and a
``MAP_PRIVATE`` one is the host's copy-on-write mapping of the file: nothing is
copied, and pages the task has not written show the file as it is (as on Linux).

The host fd is the gofer's for a gofer file (its access mode is the
description's: a read-only description lends a read-only fd) and a memfd for a
tmpfs file (:meth:`TmpfsFile.shared_fd`, re-opened read-only for a read-only
description).  A regular file with neither (a /proc or host-backed file) is
mapped privately from a sealed memfd holding a copy of its bytes.  The lent fd
stays in the task's host fd table (close-on-exec) until replaced; the workload
cannot reach it, since no syscall that takes an fd runs on the host except this
mmap, which always gets the sentry's fd first.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource

from sentry import logger
from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import CONTINUE, LinuxError, err
from sentry.platform.hybrid import native as N

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

log = logger.get("sentry")

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 1, 2, 3
MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN = 0x10, 0x20, 0x100
MAP_HUGETLB, MAP_SYNC, MAP_FIXED_NOREPLACE = 0x40000, 0x80000, 0x100000
#: ``vm.mmap_min_addr``, the host's (:func:`_mmap_min_addr`, read once): a fixed mapping
#: below it is ``EPERM`` without ``CAP_SYS_RAWIO``.  (With it, the workload's host
#: process, which has no capability, is refused by the host all the same, after the
#: checks Linux makes after this one.)
_min_addr: "int | None" = None
MAP_LOCKED = 0x2000
#: Host file systems whose files take ``MAP_SYNC`` (``FOP_MMAP_SYNC``: ext4, xfs); they
#: refuse it for a file that is not DAX only after the access checks.
_MAP_SYNC_MAGICS = frozenset((0xEF53, 0x58465342))
MAP_TYPE = 0x0F
#: The flags a ``MAP_SHARED_VALIDATE`` mapping of a file takes (Linux's
#: ``LEGACY_MAP_MASK`` on x86-64: the type, ``MAP_FIXED``, ``MAP_ANONYMOUS``,
#: ``MAP_32BIT``, ``MAP_ABOVE4G``, ``MAP_GROWSDOWN``, ``MAP_DENYWRITE`` to ``MAP_STACK``,
#: ``MAP_HUGETLB``, ``MAP_UNINITIALIZED`` and the huge page size bits of ``MAP_HUGE_2MB``
#: and ``MAP_HUGE_1GB``); any other of the 64 bits (``MAP_FIXED_NOREPLACE``, an unknown
#: one; ``MAP_SYNC`` but where the file takes it: :func:`takes_map_sync`) is
#: ``EOPNOTSUPP``.
_VALIDATE_MASK = 0x0F | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x3F800 | 0x40000 | 0x7C000000
_TASK_SIZE = (1 << 47) - 4096  # x86-64's user space (4-level page tables)
_MAX_LFS_FILESIZE = (1 << 63) - 1
PAGE = 4096
_SNAPSHOT_SEALS = (fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                   | fcntl.F_SEAL_WRITE)


_libc = ctypes.CDLL(None, use_errno=True)
_SYS_KCMP, _KCMP_FILE = 312, 0


def task_holds(host_tid: int, task_fd: int, own_fd: int) -> bool:
    """Whether host fd *task_fd* of the task is already the open file behind the sentry's
    *own_fd* (``kcmp(KCMP_FILE)``): then lending it again would change nothing.  ld.so
    maps each library with four or five mmaps of one fd, and each ADDFD wakes the task.
    False when unsure (an error, a kernel without kcmp)."""
    # getpid now, not at import: the module may be imported before the sentry forks.
    return _libc.syscall(_SYS_KCMP, host_tid, os.getpid(), _KCMP_FILE, task_fd, own_fd) == 0


def _check_noexec(desc: Any, prot: int) -> None:
    """An executable mapping of a file on a ``noexec`` mount, or of a file system that
    runs nothing (procfs, pipes, sockets, anonymous files: ``SB_I_NOEXEC``), is
    ``EPERM`` (do_mmap's ``path_noexec``)."""
    if prot & PROT_EXEC and (
            (desc.vd is not None and desc.vd.mount.noexec) or desc.on_noexec_sb):
        raise err(errno.EPERM)


def takes_map_sync(desc: Any) -> bool:
    """Whether ``MAP_SHARED_VALIDATE`` takes ``MAP_SYNC`` for the file (Linux's
    ``FOP_MMAP_SYNC``): a host file's (a gofer file, a donated one) on ext4 or xfs;
    never tmpfs's."""
    fd = getattr(desc, "host_fd", None)
    if fd is None or not desc.validates_on_host:
        return False
    if desc.vd is not None and desc.vd.mount.fs.fstype == "overlay":
        return False  # (the sandbox's overlay root: overlayfs takes no MAP_SYNC)
    from gofer import linux

    try:
        return linux.fstatfs(fd).f_type in _MAP_SYNC_MAGICS
    except OSError:
        return False


def _mmap_min_addr(t: "Task") -> int:
    global _min_addr
    if _min_addr is None:
        try:
            _min_addr = int(t.kernel.host_file("sys/vm/mmap_min_addr"))
        except (OSError, ValueError):
            _min_addr = 4096
    return _min_addr


def _check_locked(t: "Task", aligned: int, flags: int) -> None:
    """``MAP_LOCKED`` without ``CAP_IPC_LOCK``: ``EPERM`` while ``RLIMIT_MEMLOCK`` is 0
    (``can_do_mlock``), ``EAGAIN`` past it with what the process has locked already
    (``mlock_future_ok``), after the address checks, before the file's."""
    if not flags & MAP_LOCKED or t.creds.capable(cap.CAP_IPC_LOCK):
        return
    from sentry.syscalls.linux.sys_process import RLIM_INFINITY, get_rlimit

    soft = get_rlimit(t, resource.RLIMIT_MEMLOCK)[0]
    if soft == 0:
        raise err(errno.EPERM)
    if soft == RLIM_INFINITY:
        return
    locked = aligned >> 12
    try:
        for line in t.kernel.host_file(f"{t.host_tid}/status").splitlines():
            if line.startswith(b"VmLck:"):
                locked += int(line.split()[1]) // 4
    except (OSError, ValueError, IndexError):
        pass
    if locked > soft >> 12:
        raise err(errno.EAGAIN)


def _check_place(t: "Task", addr: int, aligned: int, flags: int) -> None:
    """A fixed mapping's address, checked before anything about the file
    (``__get_unmapped_area``, then ``MAP_FIXED_NOREPLACE``'s overlap): past the address
    space ``ENOMEM``, not page-aligned ``EINVAL``, below ``mmap_min_addr`` ``EPERM``, over a
    mapping with ``MAP_FIXED_NOREPLACE`` ``EEXIST``."""
    if not flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        return
    if addr > _TASK_SIZE - aligned:
        raise err(errno.ENOMEM)
    if addr & (PAGE - 1):
        raise err(errno.EINVAL)
    if addr < _mmap_min_addr(t) and not t.creds.capable(cap.CAP_SYS_RAWIO):
        raise err(errno.EPERM)
    if flags & MAP_FIXED_NOREPLACE:
        try:
            maps = t.kernel.host_file(f"{t.host_tid}/maps")
        except OSError:
            return  # (the host checks it when it runs the call)
        end = addr + aligned
        for line in maps.splitlines():
            lo, _, hi = line.partition(b" ")[0].partition(b"-")
            if int(lo, 16) < end and addr < int(hi, 16):
                raise err(errno.EEXIST)


def snapshot_fd(t: "Task", desc: Any, off: int, length: int) -> int:
    """A sealed memfd holding what a private mapping of *desc* at *off* shows, for a
    regular file without a host fd of its own (a donated host file,
    ``FileDescription.mmap_copies``): its
    bytes, then zeros to the end of the mapping (as the anonymous copy this replaced).
    The caller closes it.

    :raises LinuxError: ``ENOMEM`` if the host refuses the memfd.
    """
    want = min(length, max(0, desc.stat(t).size - off))
    data = desc.pread(t, want, off) if want else b""
    fd = os.memfd_create("runsc-private-map", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, off + ((length + PAGE - 1) & ~(PAGE - 1)))
        view = memoryview(data)
        while view:
            n = os.pwrite(fd, view, off)
            view, off = view[n:], off + n
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SNAPSHOT_SEALS)
    except OSError:
        os.close(fd)
        raise err(errno.ENOMEM) from None
    return fd


def private_mapping_fd(t: "Task", desc: Any) -> int:
    """The host fd a ``MAP_PRIVATE`` mapping of *desc* is made from, owned by the
    description or its inode (the caller never closes it): the one a shared mapping
    uses, read-only for a read-only description (the gofer's fd, a tmpfs file's memfd).

    :raises LinuxError: ``ENODEV``: the file has none (:func:`snapshot_fd`).
    """
    return desc.shared_mapping_fd(t)


def mmap_file(t: "Task", a: "SyscallArgs") -> Any:
    """mmap(2) of a file, ``MAP_SHARED`` or ``MAP_PRIVATE`` (anonymous ones pass)."""
    from sentry.kernel.kernel import STUB_FD
    from sentry.loader.loader import LEND_FDS

    # The filter sends only calls without MAP_ANONYMOUS here; the host validates the
    # other flags when it runs the call.  Linux's order: the offset (sys_mmap), the fd
    # (ksys_mmap_pgoff's fget, which no O_PATH fd passes), MAP_HUGETLB of a file not of
    # hugetlbfs (none here), the length (do_mmap), a fixed address, the size the file
    # takes, the mapping type, the flags MAP_SHARED_VALIDATE does not take, the access
    # the fd gives, noexec, a file without mmap, MAP_GROWSDOWN, the file's own mmap.
    length, prot, fd, off = a[1], a.uint(2), a.int(4), a[5]
    flags = a[3]  # (unsigned long: MAP_SHARED_VALIDATE checks all 64 bits)
    kind = flags & MAP_TYPE
    if off & (PAGE - 1):
        raise err(errno.EINVAL)
    desc = t.fdtable.get(fd)
    if desc.is_path:
        raise err(errno.EBADF)
    if flags & MAP_HUGETLB:
        raise err(errno.EINVAL)
    if length == 0:
        raise err(errno.EINVAL)
    aligned = (length + PAGE - 1) & 0xFFFF_FFFF_FFFF_F000  # (64-bit: wraps to 0)
    if aligned == 0 or aligned > _TASK_SIZE:  # PAGE_ALIGN wrapped; get_unmapped_area
        raise err(errno.ENOMEM)
    _check_place(t, a[0], aligned, flags)
    _check_locked(t, aligned, flags)
    # file_mmap_ok: a regular file, a block device or a socket takes offsets up to
    # MAX_LFS_FILESIZE, anything else (a character device) up to ULONG_MAX
    mode = desc.inode.mode if desc.inode is not None else 0
    size_max = _MAX_LFS_FILESIZE if mode & 0o170000 in (0o100000, 0o060000, 0o140000) \
        else (1 << 64) - 1
    if off >> 12 > (size_max - aligned) >> 12:
        raise err(errno.EOVERFLOW)
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise err(errno.EINVAL)
    unknown = flags & ~_VALIDATE_MASK if kind == MAP_SHARED_VALIDATE else 0
    if unknown and (unknown != MAP_SYNC or not takes_map_sync(desc)):
        raise err(errno.EOPNOTSUPP)
    if not desc.readable():
        raise err(errno.EACCES)
    if kind != MAP_PRIVATE and prot & PROT_WRITE and not desc.writable():
        raise err(errno.EACCES)
    _check_noexec(desc, prot)
    if fd == STUB_FD or (fd in LEND_FDS and t.tg.pending_exec is not None):
        # That host fd number holds the stub, or (until the exec event) a program file
        # the loader lent to an exec in flight, which no other thread may replace.
        raise err(errno.ENODEV)
    host_off = desc.mmap_offset(off, length, prot)
    if host_off != off:
        return _map_elsewhere(t, a, desc, host_off)
    owned = -1
    try:
        if kind == MAP_PRIVATE:
            try:
                host_fd = private_mapping_fd(t, desc)
            except LinuxError as e:
                # (the inode's own type: a message queue's fstat shows a regular file,
                # and it has no mmap)
                if e.errno != errno.ENODEV or not desc.mmap_copies or desc.inode is None \
                        or not desc.inode.is_reg:
                    raise
                host_fd = owned = snapshot_fd(t, desc, off, length)
        else:
            host_fd = desc.shared_mapping_fd(t)
    except LinuxError as e:
        # ENODEV is a file without mmap, which Linux says before MAP_GROWSDOWN's EINVAL;
        # any other error is the file's own mmap's, after it.
        if flags & MAP_GROWSDOWN and (e.errno != errno.ENODEV or desc.mmap_refuses_late):
            raise err(errno.EINVAL) from None
        raise
    try:
        if owned >= 0 or not task_holds(t.host_tid, fd, host_fd):
            N.addfd(t.tg.listener, a.notif_id, host_fd, fd)
        mm = t.tg.mm
        if mm is not None:
            mm.name_host_file(host_fd, os.fsdecode(t.kernel.vfs.describe(t, desc)))
    except OSError as e:
        raise err(e.errno or errno.ENODEV) from None
    finally:
        if owned >= 0:
            os.close(owned)
    return CONTINUE


def _map_elsewhere(t: "Task", a: "SyscallArgs", desc: Any, host_off: int) -> int:
    """A mapping of *desc* at another offset of its host file than the one asked for
    (io_uring's ``IORING_OFF_CQ_RING`` is its SQ ring's pages): the host cannot run the
    call as it is, so the thread runs it at a ptrace stop with the host fd lent at
    ``SHM_LEND_FD`` and *host_off*, as ``shmat`` maps a segment
    (:mod:`sentry.syscalls.linux.sys_ipc`)."""
    from sentry.abi.linux.errors import ERESTARTNOINTR
    from sentry.syscalls.linux.sys_ipc import lend_for_stop

    host_fd = desc.shared_mapping_fd(t)
    lend_for_stop(t, a, host_fd)
    call, args = a.nr, (a[0], a[1], a.uint(2), a.uint(3), host_off)
    name = os.fsdecode(t.kernel.vfs.describe(t, desc))
    t.stop_hook = lambda task: _map_stop(task, call, args, host_fd, name)
    raise LinuxError(ERESTARTNOINTR)


def _map_stop(t: "Task", call: int, args: Any, host_fd: int, name: str) -> bool:
    from sentry.syscalls.linux.sys_ipc import _attach_done, _in_stop, _ns, map_lent

    def run(regs: Any) -> int:
        ret = map_lent(t, regs, *args)
        mm = t.tg.mm
        if not -4096 < ret < 0 and mm is not None:
            mm.name_host_file(host_fd, name)
        return ret

    try:
        return _in_stop(t, call, run, "mmap")
    finally:
        _attach_done(_ns(t), t)



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
