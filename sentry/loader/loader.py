"""execve: build a program image in a task.

Three steps, because the host exec of the stub sits between them:

1. :func:`prepare` runs at the ``execve`` trap, with the old image still alive:
   it resolves the file through the VFS (``#!`` scripts up to 4 levels), parses
   the ELF and its interpreter (headers parsed once per sandbox: :func:`_parse`),
   and takes a host fd of each file to map it from (the gofer's read-only fd, a
   tmpfs file's memfd); a file without one has its segments' bytes read here.
   Any error is the ``execve`` result and the old image keeps running.
2. :func:`lend` runs at the notification of the ``execveat`` of the stub that the
   sentry rewrote the call into (marked with :data:`LEND_MARK`): it installs those
   host fds in the task at :data:`LEND_FDS` (``SECCOMP_IOCTL_NOTIF_ADDFD``, not
   close-on-exec, so they survive the host exec).
3. :func:`apply` runs at the ``PTRACE_EVENT_EXEC`` stop of the stub, in the
   fresh host address space: it maps each segment from the lent fd with an
   injected file ``mmap`` (``MAP_PRIVATE|MAP_FIXED``: copy-on-write, as the
   kernel's ELF loader does), zeroes the bss tail of the last file page and maps
   anonymous pages for the rest; a file that was not lent is copied instead
   (anonymous mappings written through ``/proc/PID/mem``, which can write
   read-only pages).  Then it builds the stack (argv, envp, auxv) and sets the
   registers.  No workload path is ever resolved by the host kernel.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from collections import OrderedDict
from itertools import accumulate
from sentry.records import dataclass, field

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel.credentials import Credentials, exec_credentials
from sentry.loader import elf
from sentry.mm.mm import host_file_key

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple
    from sentry.kernel.task import Task

PAGE = 4096
STACK_SIZE = 8 << 20
ET_DYN_BASE = 0x555555554000

AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_SYSINFO_EHDR, AT_MINSIGSTKSZ = 23, 25, 26, 31, 33, 51

SYS_MMAP, SYS_MPROTECT, SYS_MUNMAP = 9, 10, 11
SYS_GETPPID = 110
MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x10, 0x20, 0x4000
MAP_GROWSDOWN = 0x100

#: Host fd numbers (beside the stub's 1000) at which an exec's program and its
#: interpreter are lent to the task, from the rewritten execveat to the exec event.
LEND_MAIN, LEND_INTERP = 1001, 1002
LEND_FDS = (LEND_MAIN, LEND_INTERP)
#: The host fd number a segment's memfd is lent at, for the one mmap of a shmat (and
#: AIO's ring): :mod:`sentry.syscalls.linux.sys_ipc`'s, here with the loader's because
#: the workload filter lets mmap use both (:func:`sentry.precompute.workload_key` reads
#: them at every boot, without importing the IPC calls).
SHM_LEND_FD = 1003
#: The stub's batch loop (native/stub/stub.S ``rt_batch``): its offset from the stub's
#: first byte, and the most calls one batch makes.
BATCH_OFFSET = 0x40
BATCH_MAX = 64
#: A batch result slot whose call did not run (native.BATCH_NOT_RUN).
NOT_RUN = (1 << 63) - 1
#: (pid, batch entry, table address, calls) -> (raw results, last suppressed signal)
if TYPE_CHECKING:  # (an annotation only)
    BatchInject = Callable[[int, int, int, List[Tuple[int, ...]]], Tuple[List[int], int]]
#: The sixth register (unused by execveat) of the execveat the sentry rewrites an
#: execve into when it lends fds: the filter notifies that call instead of
#: tracing it, so that SECCOMP_IOCTL_NOTIF_ADDFD can reach the task.
LEND_MARK = 0x6C656E642D667573


def _pd(x: int) -> int:
    return x & ~(PAGE - 1)


def _pu(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


@dataclass
class Image:
    """One ELF object to map: its headers, and the host fd to map it from (the
    plan's own duplicate, -1 if the file has none) or else the bytes of each PT_LOAD."""

    path: bytes
    info: elf.ElfInfo
    data: Optional[List[bytes]]
    host_fd: int = -1
    host_key: Tuple[str, str] = ("", "")
    lent_at: int = -1  # the host fd number in the task, once lent

    def close(self) -> None:
        fd, self.host_fd = self.host_fd, -1
        if fd >= 0:
            os.close(fd)

    def segment_bytes(self) -> List[bytes]:
        """The PT_LOAD bytes (read from the host fd if they were not read at prepare).

        :raises LinuxError: ``EIO`` if the file is shorter than its headers say.
        """
        if self.data is None:
            data = []
            for s in self.info.loads:
                b = os.pread(self.host_fd, s.filesz, s.offset) if s.filesz else b""
                if len(b) != s.filesz:
                    raise err(errno.EIO)
                data.append(b)
            self.data = data
        return self.data


@dataclass
class ExecPlan:
    path: bytes                   # absolute sandbox path of the executable (for /proc/pid/exe)
    argv: List[bytes]
    envp: List[bytes]
    main: Image
    interp: Optional[Image]
    execfn: bytes
    mapped: List[Tuple[int, int, int, str, int]] = field(default_factory=list)
    # The host (dev, ino) of each file mapped from a lent fd → its sandbox path.
    names: Dict[Tuple[str, str], str] = field(default_factory=dict)
    # The credentials after the exec (set-ID bits, capabilities), and AT_SECURE.
    creds: Optional[Credentials] = None
    secure: bool = False
    # Where the executable is (a VirtualDentry): the plan holds its inode's
    # deny_write_access, which the process takes over at the exec (Linux's
    # mm->exe_file); whoever drops the plan gives it back (release_exe).
    exe_vd: Any = None
    # The call that asked for it (execve or execveat: the compat report's times).
    nr: int = 59

    def release_exe(self) -> None:
        """Give back the executable's deny_write_access and the host fds (a plan that
        is not run)."""
        vd, self.exe_vd = self.exe_vd, None
        if vd is not None:
            vd.dentry.inode.allow_write_access()
        self.close_fds()

    def images(self) -> List[Image]:
        return [self.main] if self.interp is None else [self.main, self.interp]

    def close_fds(self) -> None:
        for img in self.images():
            img.close()

    def to_lend(self) -> List[Tuple[Image, int]]:
        """Each image that has a host fd, with the task's fd number it is lent at."""
        return [(img, at) for img, at in zip(self.images(), LEND_FDS, strict=False)
                if img.host_fd >= 0]


#: Parsed ELF headers by the bytes of the file's first page (which hold the ELF
#: header, the program headers and PT_INTERP in every linker's output): the
#: loader reads that page at each exec anyway (for ``#!``), and a key made of the
#: bytes the parse used cannot go stale, whichever path or layer changed the file.
_ELF_CACHE: "OrderedDict[bytes, elf.ElfInfo]" = OrderedDict()
_ELF_CACHE_SIZE = 64
HEAD = 4096


def _parse(t: "Task", desc: Any, head: bytes) -> elf.ElfInfo:
    """The ELF headers of the file *desc*, whose first bytes are *head*.

    :raises LinuxError: ``ENOEXEC`` (see :func:`elf.parse`).
    """
    info = _ELF_CACHE.get(head)
    if info is not None:
        _ELF_CACHE.move_to_end(head)
        return info
    inside = True

    def read_at(off: int, n: int) -> bytes:
        nonlocal inside
        if off + n <= len(head):
            return head[off:off + n]
        inside = False
        return desc.pread(t, n, off)

    info = elf.parse(head, read_at)
    if inside:
        _ELF_CACHE[head] = info
        if len(_ELF_CACHE) > _ELF_CACHE_SIZE:
            _ELF_CACHE.popitem(last=False)
    return info


def _read_image(t: "Task", desc: Any, path: bytes, head: bytes) -> Image:
    from sentry.syscalls.linux.sys_mm import private_mapping_fd

    info = _parse(t, desc, head)
    try:
        fd = private_mapping_fd(t, desc)
        dup = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except (LinuxError, OSError):
        dup = -1
    if dup >= 0:
        try:
            st = os.fstat(dup)
        except OSError:
            os.close(dup)
            raise err(errno.EIO) from None
        return Image(path, info, None, dup, host_file_key(st.st_dev, st.st_ino))
    data = []
    for s in info.loads:
        b = desc.pread(t, s.filesz, s.offset) if s.filesz else b""
        if len(b) != s.filesz:
            raise err(errno.EIO)
        data.append(b)
    return Image(path, info, data)


def prepare(t: "Task", path: bytes, argv: List[bytes], envp: List[bytes],
            open_exec: Callable[["Task", bytes], Tuple[Any, bytes]]) -> ExecPlan:
    """Resolve and read everything execve needs; raises ``LinuxError`` like execve would.

    *open_exec* opens an executable through the VFS: ``(description, absolute path)``.
    """
    if not path:
        raise err(errno.ENOENT)
    execfn = path
    for _depth in range(5):
        desc, abspath = open_exec(t, path)
        try:
            page = desc.pread(t, HEAD, 0)
            head = page[:256]  # BINPRM_BUF_SIZE
            if head[:2] == b"#!":
                line = head[2:].split(b"\n", 1)[0]
                if b"\n" not in head[2:] and len(head) == 256:
                    raise err(errno.ENOEXEC)
                parts = line.strip(b" \t").split(None, 1)
                if not parts:
                    raise err(errno.ENOEXEC)
                interp = parts[0]
                new_argv = [interp]
                if len(parts) > 1:
                    new_argv.append(parts[1].strip(b" \t"))
                new_argv.append(path)
                argv = new_argv + argv[1:]
                path = interp
                continue
            main = _read_image(t, desc, abspath, page)
            try:
                creds, secure = _exec_creds(t, desc)
            except BaseException:
                main.close()
                raise
            exe_vd = desc.vd
        finally:
            release = getattr(desc, "decref", None)
            if release is not None:
                release()
        interp_img = None
        if main.info.interp is not None:
            try:
                idesc, ipath = open_exec(t, main.info.interp)
                try:
                    interp_img = _read_image(t, idesc, ipath, idesc.pread(t, HEAD, 0))
                finally:
                    release = getattr(idesc, "decref", None)
                    if release is not None:
                        release()
                if interp_img.info.interp is not None:
                    interp_img.close()
                    raise err(errno.ELIBBAD)
            except BaseException:
                main.close()
                raise
        # The program (not a #! script, not ld.so) stays unwritable while it runs.
        if exe_vd is not None:
            exe_vd.dentry.inode.deny_write_access()
        return ExecPlan(abspath, argv, envp, main, interp_img, execfn, creds=creds,
                        secure=secure, exe_vd=exe_vd)
    raise err(errno.ELOOP)


def _exec_creds(t: "Task", desc: Any) -> Tuple[Credentials, bool]:
    """The credentials the program in *desc* runs with (its set-ID bits count unless its
    mount is ``nosuid``, the task has ``no_new_privs`` or a tracer that could not trace
    the privileged program; a script's own bits never do,
    as on Linux: *desc* is the ELF file, the interpreter of any ``#!`` chain)."""
    inode = desc.inode
    mount = desc.vd.mount if desc.vd is not None else None
    # A tracer without CAP_SYS_PTRACE could take over a program its tracee makes
    # privileged (ptracer_capable).
    tracer = t.ptrace.tracer if t.ptrace is not None else None
    return exec_credentials(t.creds, inode.mode, inode.uid, inode.gid,
                            nosuid=mount is not None and mount.nosuid,
                            no_new_privs=t.no_new_privs,
                            unsafe_ptrace=tracer is not None
                            and not tracer.creds.capable(cap.CAP_SYS_PTRACE))


def lend(t: "Task", plan: ExecPlan, notif_id: int) -> None:
    """At the notification of the rewritten execveat: install the plan's host fds in the
    task at :data:`LEND_FDS` (not close-on-exec: they must survive the host exec).  A
    file the host refuses to take is copied at the exec event instead."""
    from sentry.platform.hybrid import native as N
    from sentry.syscalls.linux.sys_mm import task_holds

    for img, at in plan.to_lend():
        try:
            if not task_holds(t.host_tid, at, img.host_fd):
                N.addfd(t.tg.listener, notif_id, img.host_fd, at, cloexec=False)
            img.lent_at = at
        except OSError:
            img.lent_at = -1


def held_already(t: "Task", held: List[Tuple[Image, int]]) -> bool:
    """At the exec trap of a task whose fd table no other process shares: whether it holds
    every file a plan would lend (*held*: its ``to_lend()``) at its number already (a
    shell running the same program again: its child inherited the shell's own program at
    1001), which marks them lent.
    Then the rewritten execveat needs no notification (~75 us of a fork+exec's ~0.7 ms of
    sentry): nothing can put a file that maps at those numbers before the exec event
    (``mmap_file`` refuses them while an exec is in flight, a pidfd does not map), as
    between :func:`lend` and the exec."""
    from sentry.syscalls.linux.sys_mm import task_holds

    if not all(task_holds(t.host_tid, at, img.host_fd) for img, at in held):
        return False
    for img, at in held:
        img.lent_at = at
    return True


def lend_at_exec_event(t: "Task", plan: ExecPlan, gadget: int,
                       inject_lend: Callable[..., Tuple[int, int]],
                       poke: Callable[[int, bytes], None]) -> int:
    """Lend the plan's host fds to a process the sentry just started, stopped at the exec
    event of the stub (an exec no notification came before, so :func:`lend` had no
    chance): the task makes one call its filter notifies (``getppid``, through the stub's
    batch loop), and at that notification the fds go in at :data:`LEND_FDS` as at an
    exec's.  What could not be lent is copied by :func:`apply`, as before.  Returns a
    signal that came meanwhile (held back, as an inject's), or 0."""
    from sentry.platform.hybrid import native as N

    lend = plan.to_lend()
    if not lend:
        return 0
    pid = t.host_tid
    table = (N.getregs(pid)[N.RSP] - 256 - 64) & ~63
    try:
        n, sig = inject_lend(pid, t.tg.listener, gadget - 2 + BATCH_OFFSET, table, SYS_GETPPID,
                             [img.host_fd for img, _ in lend], [at for _, at in lend])
    except OSError:
        return 0
    poke(table, bytes(64))
    for img, at in lend[:n]:
        img.lent_at = at
    return sig


class Injector:
    """Host syscalls in a ptrace-stopped task, and writes to its memory: through
    ``process_vm_writev`` where the pages are writable, else through ``/proc/PID/mem``
    (opened on first use), which can write read-only pages."""

    def __init__(self, pid: int, gadget: int, open_mem: Callable[[int], int],
                 inject: Callable[[int, int, int, tuple], Tuple[int, int]],
                 poke: Callable[[int, bytes], None],
                 inject_batch: Optional[BatchInject] = None) -> None:
        self.pid = pid
        self.gadget = gadget
        self._open_mem = open_mem
        self.mem_fd = -1
        self._inject = inject
        self._inject_batch = inject_batch
        self.poke = poke
        self.signals: List[int] = []
        #: Where a batch's table goes in the task (below the stub's stack pointer), 0:
        #: nowhere (calls are made one at a time); the bytes a batch wrote there.
        self.table = 0
        self.table_used = 0
        #: Whether the task left the exec syscall's return path (:meth:`leave_exec`).
        self.clean = False

    def leave_exec(self) -> None:
        """Leave the exec syscall's return path, so that single calls start clean (a batch
        does not need it: its loop loads every register it uses)."""
        if not self.clean:
            self.call(-1)
            self.clean = True

    def batch(self, calls: List[Tuple[int, ...]]) -> Optional[List[int]]:
        """Make *calls* ((nr, args...) each) in one stop: the results (a negative errno for
        the first that failed, :data:`NOT_RUN` for the ones after it), or None if no
        batch can be made here (nothing ran: make them one at a time)."""
        if self._inject_batch is None or not self.table or not calls or len(calls) > BATCH_MAX:
            return None
        table = (self.table - 64 * len(calls)) & ~63
        try:
            raw, sig = self._inject_batch(self.pid, self.gadget - 2 + BATCH_OFFSET, table, calls)
        except OSError:
            return None  # the table could not be written (a small RLIMIT_STACK)
        self.clean = True
        self.table_used = max(self.table_used, self.table - table)
        if sig:
            self.signals.append(sig)
        out = []
        for ret in raw:
            if ret == NOT_RUN:
                out.append(NOT_RUN)
            elif -4096 < ret < 0 or ret >= (1 << 63):
                e = -ret if ret < 0 else (1 << 64) - ret
                out.append(-(e if e < 4096 else errno.ENOMEM))
            else:
                out.append(ret)
        return out

    def call(self, nr: int, *args: int) -> int:
        ret, sig = self._inject(self.pid, self.gadget, nr, args)
        if sig:
            self.signals.append(sig)
        if -4096 < ret < 0 or ret >= (1 << 63):
            e = -ret if ret < 0 else (1 << 64) - ret
            raise err(e if e < 4096 else errno.ENOMEM)
        return ret

    def mmap(self, addr: int, length: int, prot: int, flags: int) -> int:
        return self.call(SYS_MMAP, addr, length, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS,
                         (1 << 64) - 1, 0)

    def write(self, addr: int, data: bytes) -> None:
        """Write *data* at *addr*, read-only pages included."""
        if self.mem_fd < 0:
            self.mem_fd = self._open_mem(self.pid)
        view = memoryview(data)
        while view:
            n = os.pwrite(self.mem_fd, view, addr)
            if n <= 0:
                raise err(errno.EFAULT)
            view = view[n:]
            addr += n

    def close(self) -> None:
        fd, self.mem_fd = self.mem_fd, -1
        if fd >= 0:
            os.close(fd)


def _span(img: Image) -> Tuple[int, int]:
    """The page range of *img*'s PT_LOAD segments, before the load bias."""
    loads = img.info.loads
    return _pd(loads[0].vaddr), max(_pu(s.vaddr + s.memsz) for s in loads)


def _reserve_call(img: Image, base_hint: int) -> Optional[Tuple[int, ...]]:
    """The mmap reserving a position-independent image's whole span (so that its
    segments keep their layout), None for one with fixed addresses."""
    if img.info.type != elf.ET_DYN:
        return None
    lo, hi = _span(img)
    return (SYS_MMAP, base_hint, hi - lo, 0, MAP_NORESERVE | MAP_PRIVATE | MAP_ANONYMOUS,
            (1 << 64) - 1, 0)


def _map_images(inj: Injector, images: List[Tuple[Image, int]],
                mapped: List[Tuple[int, int, int, str, int]],
                names: Dict[Tuple[str, str], str]) -> List[int]:
    """Map each (image, base hint); returns their load biases.

    When every image is lent, in two stops rather than a stop a call: one batch reserves
    the position-independent images' spans, one maps every segment (the second needs the
    first's addresses).  An image whose segments could not all be mapped that way is
    mapped again one call at a time (:func:`_map_image`), as is everything when no batch
    can be made."""
    biases: List[Optional[int]] = [None] * len(images)
    if all(img.lent_at >= 0 for img, _ in images):
        reserve = [_reserve_call(img, hint) for img, hint in images]
        wanted = [c for c in reserve if c is not None]
        got = inj.batch(wanted) if wanted else []
        if got is not None:
            it = iter(got)
            for i, (img, _) in enumerate(images):
                if reserve[i] is None:
                    biases[i] = 0
                    continue
                ret = next(it)
                if ret == NOT_RUN or ret < 0:
                    raise err(-ret if ret != NOT_RUN else errno.ENOMEM)
                biases[i] = ret - _span(img)[0]
            plans = [_fd_calls(img, b) for (img, _), b in zip(images, biases, strict=True)
                     if b is not None]
            calls = [c for p, _ in plans for c in p]
            done = inj.batch(calls) if calls else []
            if done is not None:
                at = 0
                for i, ((img, _), (p, pokes)) in enumerate(zip(images, plans, strict=True)):
                    ok = all(r != NOT_RUN and r >= 0 for r in done[at:at + len(p)])
                    at += len(p)
                    if ok:
                        for addr, zeros in pokes:
                            inj.poke(addr, zeros)
                        names[img.host_key] = os.fsdecode(img.path)
                    else:
                        bias = biases[i]
                        assert bias is not None
                        inj.leave_exec()
                        _map_fixed(inj, img, bias, mapped, names)
                return [b or 0 for b in biases]
    inj.leave_exec()
    out = []
    for i, (img, hint) in enumerate(images):
        b = biases[i]
        out.append(_map_image(inj, img, hint, mapped, names) if b is None
                   else _map_fixed(inj, img, b, mapped, names))
    return out


def _map_image(inj: Injector, img: Image, base_hint: int,
               mapped: List[Tuple[int, int, int, str, int]],
               names: Dict[Tuple[str, str], str]) -> int:
    """Map *img*, one call at a time; returns the load bias."""
    reserve = _reserve_call(img, base_hint)
    bias = 0
    if reserve is not None:
        bias = inj.call(*reserve) - _span(img)[0]
    return _map_fixed(inj, img, bias, mapped, names)


def _map_fixed(inj: Injector, img: Image, bias: int,
               mapped: List[Tuple[int, int, int, str, int]],
               names: Dict[Tuple[str, str], str]) -> int:
    """Map *img*'s segments at *bias* (its span reserved), one call at a time: from the
    lent fd, else copied; returns *bias*."""
    loads = img.info.loads
    if img.lent_at >= 0:
        try:
            _map_from_fd(inj, img, bias)
            names[img.host_key] = os.fsdecode(img.path)
            return bias
        except LinuxError:
            # The lent fd is not the file (a thread raced the exec with a pidfd at that
            # number): copy the bytes over whatever got mapped.
            img.lent_at = -1
    for s, data in zip(loads, img.segment_bytes(), strict=True):
        seg_lo = _pd(s.vaddr + bias)
        seg_hi = _pu(s.vaddr + s.memsz + bias)
        inj.mmap(seg_lo, seg_hi - seg_lo, s.prot, MAP_FIXED)
        if data:
            inj.write(s.vaddr + bias, data)
        mapped.append((seg_lo, seg_hi, s.prot, os.fsdecode(img.path), _pd(s.offset)))
    return bias


def _fd_calls(img: Image, bias: int) -> Tuple[List[Tuple[int, ...]], List[Tuple[int, bytes]]]:
    """The mmaps of *img*'s segments from the fd lent at ``img.lent_at``, as
    fs/binfmt_elf.c's ``elf_load``: the file pages copy-on-write and anonymous pages up to
    ``p_memsz``; and the writes to make after them: the rest of the last file page after
    ``p_filesz`` zeroed if the segment is writable (``padzero``)."""
    calls: List[Tuple[int, ...]] = []
    pokes: List[Tuple[int, bytes]] = []
    anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
    for s in img.info.loads:
        seg_lo = _pd(s.vaddr + bias)
        file_end = s.vaddr + bias + s.filesz
        map_end = _pu(file_end) if s.filesz else seg_lo
        seg_hi = _pu(s.vaddr + bias + s.memsz)
        if map_end > seg_lo:
            calls.append((SYS_MMAP, seg_lo, map_end - seg_lo, s.prot, MAP_PRIVATE | MAP_FIXED,
                          img.lent_at, _pd(s.offset)))
        if s.memsz > s.filesz:
            if s.filesz and file_end & (PAGE - 1) and s.prot & elf.PROT_WRITE:
                pokes.append((file_end, bytes(PAGE - (file_end & (PAGE - 1)))))
            if seg_hi > map_end:
                calls.append((SYS_MMAP, map_end, seg_hi - map_end, s.prot, anon,
                              (1 << 64) - 1, 0))
    return calls, pokes


def _map_from_fd(inj: Injector, img: Image, bias: int) -> None:
    """:func:`_fd_calls`'s mmaps, one call at a time, then its writes."""
    calls, pokes = _fd_calls(img, bias)
    for c in calls:
        inj.call(*c)
    for addr, zeros in pokes:
        inj.poke(addr, zeros)


def _auxv_from_stub(mem_read: Callable[[int, int], bytes], rsp: int) -> dict:
    """The kernel's auxv for the stub (vDSO address, hwcaps): copied to the new image."""
    raw = mem_read(rsp, 4096)
    words = struct.unpack(f"<{len(raw) // 8}Q", raw[: len(raw) // 8 * 8])
    argc = words[0]
    i = 1 + argc + 1
    while i < len(words) and words[i] != 0:
        i += 1
    i += 1
    aux = {}
    while i + 1 < len(words) and words[i] != AT_NULL:
        aux[words[i]] = words[i + 1]
        i += 2
    return aux


#: What Linux's exec (``setup_arg_pages``) maps of a new stack below its arguments at
#: least, when RLIMIT_STACK allows.
_STACK_EXPAND = 128 << 10


def _host_stack(t: "Task", sp: int, stub_aux: dict,
                mem_read: Callable[[int, int], bytes]) -> Optional[Tuple[int, int]]:
    """Bounds within the host's ``[stack]`` mapping holding *sp* (the stub's stack).

    Its end is known without ``/proc/PID/maps``: exec puts the file name (``AT_EXECFN``)
    first, ending one pointer below the mapping's end, and maps at least
    :data:`_STACK_EXPAND` below the end; a byte read there says it did (RLIMIT_STACK may
    be lower).  Reading ``maps`` took ~65 us an exec here (a new process's proc entries
    are made on their first lookup), a tenth of what a fork and exec of a shell's
    command costs the sentry; it stays the answer whenever the shortcut does not hold."""
    fn = stub_aux.get(AT_EXECFN, 0)
    if fn > sp:
        try:
            name = mem_read(fn, 64)
            end = name.find(b"\0")
            top = fn + end + 1 + 8
            if end > 0 and not top % PAGE and top - _STACK_EXPAND <= sp < top:
                mem_read(top - _STACK_EXPAND, 1)
                return top - _STACK_EXPAND, top
        except OSError:
            pass
    try:
        raw = t.kernel.host_file(f"{t.host_tid}/maps")
    except (OSError, AttributeError):
        return None
    for line in raw.splitlines():
        if line.endswith(b"[stack]"):
            lo, _, hi = line.split(b" ", 1)[0].partition(b"-")
            bounds = (int(lo, 16), int(hi, 16))
            return bounds if bounds[0] <= sp < bounds[1] else None
    return None


def apply(t: "Task", plan: ExecPlan, inj: Injector, regs: List[int],
          mem_read: Callable[[int, int], bytes], rand16: bytes) -> List[int]:
    """Build the image in the stopped task; returns the registers to start it with."""
    from sentry.platform.hybrid import native as N

    stub_aux = _auxv_from_stub(mem_read, regs[N.RSP])
    # A batch's table goes below the stub's stack pointer (its stack, emptied below).
    inj.table = (regs[N.RSP] - 256) & ~63
    mapped = plan.mapped
    names = plan.names
    images = [(plan.main, ET_DYN_BASE)]
    if plan.interp is not None:
        images.append((plan.interp, 0))
    biases = _map_images(inj, images, mapped, names)
    main_bias = biases[0]
    info = plan.main.info
    entry = info.entry + main_bias
    interp_bias = 0
    if plan.interp is not None:
        interp_bias = biases[1]
        start_ip = plan.interp.info.entry + interp_bias
    else:
        start_ip = entry
    if inj.table_used:
        inj.poke(inj.table - inj.table_used, bytes(inj.table_used))
    phdr = None
    for s in info.segments:
        if s.type == elf.PT_PHDR:
            phdr = s.vaddr + main_bias
    if phdr is None:
        for s in info.loads:
            if s.offset <= info.phoff < s.offset + s.filesz:
                phdr = s.vaddr + (info.phoff - s.offset) + main_bias
                break
    creds = t.creds

    # Strings at the top of the stack, then the pointer block below them: the random
    # bytes at offset 0, then the platform, execfn, argv and envp strings (their offsets
    # summed from their lengths, the strings joined once into the one write below).
    argv, envp = plan.argv, plan.envp
    head = b"".join((rand16, b"x86_64\0", plan.execfn, b"\0"))
    platform_at, execfn_at = len(rand16), len(rand16) + 7
    arg_at = list(accumulate([len(head)] + [len(a) + 1 for a in argv]))
    env_at = list(accumulate([arg_at.pop()] + [len(e) + 1 for e in envp]))
    blob_len = env_at.pop()
    # The stack: the host's own stack of the stub's exec (a grows-down mapping the host
    # extends up to the process's RLIMIT_STACK, as Linux's), emptied, when the strings and
    # the pointer block fit in it; else a fixed mapping of 8 MiB.
    need = blob_len + 64 + 8 * (3 + len(argv) + len(envp) + 2 * 24)  # 24 > auxv
    host = _host_stack(t, regs[N.RSP], stub_aux, mem_read)
    if host is not None and host[1] - host[0] >= need:
        stack_lo, top = host
        # Only the kernel's exec wrote it, above the stub's sp (the stub never runs): the
        # write below zeros that, and leaves the pages below untouched (not resident, as a
        # native stack's).
        used = max(stack_lo, regs[N.RSP] & ~(PAGE - 1))
        own_stack = False
    else:
        stack_lo = inj.mmap(0, STACK_SIZE, elf.PROT_READ | elf.PROT_WRITE, MAP_NORESERVE)
        top = stack_lo + STACK_SIZE
        used = top  # a fresh mapping: zero already
        own_stack = True
    strings_at = (top - blob_len - 16) & ~15

    aux = [
        AT_PHDR, phdr or 0, AT_PHENT, info.phentsize, AT_PHNUM, info.phnum,
        AT_PAGESZ, PAGE, AT_BASE, interp_bias if plan.interp else 0, AT_FLAGS, 0,
        AT_ENTRY, entry, AT_UID, creds.uid, AT_EUID, creds.euid, AT_GID, creds.gid,
        AT_EGID, creds.egid, AT_SECURE, int(plan.secure), AT_RANDOM, strings_at,
        AT_HWCAP, stub_aux.get(AT_HWCAP, 0), AT_HWCAP2, stub_aux.get(AT_HWCAP2, 0),
        AT_CLKTCK, 100, AT_PLATFORM, strings_at + platform_at,
        AT_EXECFN, strings_at + execfn_at,
    ]
    if AT_SYSINFO_EHDR in stub_aux:
        aux += (AT_SYSINFO_EHDR, stub_aux[AT_SYSINFO_EHDR])
    if AT_MINSIGSTKSZ in stub_aux:
        aux += (AT_MINSIGSTKSZ, stub_aux[AT_MINSIGSTKSZ])
    aux += (AT_NULL, 0)
    t.tg.auxv = struct.pack(f"<{len(aux)}Q", *aux)
    block = struct.pack(f"<{3 + len(arg_at) + len(env_at)}Q{len(aux) * 8}s", len(argv),
                        *[strings_at + o for o in arg_at], 0,
                        *[strings_at + o for o in env_at], 0, t.tg.auxv)
    sp = (strings_at - len(block)) & ~15
    # One write from the lower of the pointer block and the stub's stack page to the top:
    # zeros up to the block, the block, zeros up to the strings, the strings, zeros.
    lo = min(sp, used)
    inj.poke(lo, b"".join((bytes(sp - lo), block, bytes(strings_at - sp - len(block)), head,
                           b"\0".join(argv), b"\0" if argv else b"",
                           b"\0".join(envp), b"\0" if envp else b"",
                           bytes(top - strings_at - blob_len))))
    if own_stack:
        mapped.append((stack_lo, top, elf.PROT_READ | elf.PROT_WRITE, "[stack]", 0))

    new = [0] * 27
    for k in (N.CS, N.SS, N.DS, N.ES, N.FS, N.GS):
        new[k] = regs[k]
    new[N.EFLAGS] = 0x202
    new[N.RIP] = start_ip
    new[N.RSP] = sp
    new[N.ORIG_RAX] = (1 << 64) - 1
    return new
