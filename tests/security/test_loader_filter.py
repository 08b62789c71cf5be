"""Design §7.1: the two exceptions the loader adds to the workload's filter are exactly what
ARCHITECTURE.md says ("The stub and the loader"), checked on the installed program:

- a file ``mmap`` passes without a stop only from the stub gadget's return address, only for
  host fds 1001/1002 (the fds an exec lends), only on x86_64; every other file mmap is
  notified (the sentry installs its own fd first);
- ``execveat`` is traced, except with the loader's mark in its sixth argument: notified.

And the gadget address the filter names is the stub's own ``syscall; int3``.
"""

from __future__ import annotations

import sys

from helpers import bpf
from helpers.runner import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sentry.loader import elf  # noqa: E402
from sentry.loader.loader import BATCH_OFFSET, LEND_FDS, LEND_MARK  # noqa: E402
from sentry.platform.hybrid.filter import GADGET_RETURN, build_filter  # noqa: E402

MMAP, EXECVEAT = 9, 322
MAP_PRIVATE, MAP_SHARED, MAP_ANONYMOUS = 0x02, 0x01, 0x20


def _act(prog: bytes, nr: int, args, ip: int = 0, arch: int = bpf.AUDIT_ARCH_X86_64) -> int:
    return bpf.action(bpf.run(prog, bpf.seccomp_data(nr, arch=arch, ip=ip, args=args)))


def test_lent_fd_mmap_passes_only_from_the_gadget():
    prog = build_filter()
    for fd in LEND_FDS:
        for flags in (MAP_PRIVATE, MAP_SHARED):
            args = (0, 4096, 1, flags, fd, 0)
            assert _act(prog, MMAP, args, GADGET_RETURN) == bpf.SECCOMP_RET_ALLOW
            # the kernel reads the fd as an unsigned int: a high word changes nothing
            assert _act(prog, MMAP, (0, 4096, 1, flags, fd | 7 << 32, 0),
                        GADGET_RETURN) == bpf.SECCOMP_RET_ALLOW
            assert _act(prog, MMAP, args, GADGET_RETURN + 8) == bpf.SECCOMP_RET_USER_NOTIF
            assert _act(prog, MMAP, args, GADGET_RETURN | 1 << 40) == bpf.SECCOMP_RET_USER_NOTIF
            assert _act(prog, MMAP, args, 0x401000) == bpf.SECCOMP_RET_USER_NOTIF
            foreign = _act(prog, MMAP, args, GADGET_RETURN, bpf.AUDIT_ARCH_I386)
            assert foreign == bpf.SECCOMP_RET_KILL_PROCESS
    for fd in (0, 3, 1000, 1004, 1001 + (1 << 16)):  # 1003: System V shm's own exception
        args = (0, 4096, 1, MAP_PRIVATE, fd, 0)
        assert _act(prog, MMAP, args, GADGET_RETURN) == bpf.SECCOMP_RET_USER_NOTIF, fd
    # other calls from the gadget are what they are anywhere else
    assert _act(prog, 0, (1001, 0, 16), GADGET_RETURN) == bpf.SECCOMP_RET_USER_NOTIF  # read
    assert _act(prog, 3, (1001,), GADGET_RETURN) == bpf.SECCOMP_RET_USER_NOTIF  # close
    assert _act(prog, MMAP, (0, 4096, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                0x401000) == bpf.SECCOMP_RET_ALLOW


def test_marked_execveat_is_notified():
    prog = build_filter()
    base = (1000, 0x1000, 0, 0, 0x1000)
    assert _act(prog, EXECVEAT, base + (LEND_MARK,)) == bpf.SECCOMP_RET_USER_NOTIF
    for r9 in (0, 5, LEND_MARK ^ 1, LEND_MARK & 0xFFFFFFFF, LEND_MARK ^ (1 << 63)):
        assert bpf.action(bpf.run(prog, bpf.seccomp_data(EXECVEAT, args=base + (r9,)))) \
            == bpf.SECCOMP_RET_TRACE, hex(r9)


def test_gadget_is_the_stubs():
    data = (REPO / "sentry" / "stub.bin").read_bytes()
    info = elf.parse(data[:64], lambda off, n: data[off:off + n])
    code = b""
    for s in info.loads:
        if s.vaddr <= info.entry < s.vaddr + s.filesz:
            code = data[s.offset + info.entry - s.vaddr:]
    # ud2; syscall; test %r15,%r15 -- the filter's address is the one after the syscall
    assert code[:7] == b"\x0f\x0b\x0f\x05\x4d\x85\xff"
    assert info.entry + 4 == GADGET_RETURN
    # the batch loop (loader.BATCH_OFFSET): mov (%r12),%rax first, back to the syscall last
    assert code[BATCH_OFFSET:BATCH_OFFSET + 4] == b"\x49\x8b\x04\x24"
    back = BATCH_OFFSET + 0x22 + 2 + int.from_bytes(code[BATCH_OFFSET + 0x23:][:1], "little",
                                                     signed=True)
    assert code[BATCH_OFFSET + 0x22] == 0xEB and back == 2
