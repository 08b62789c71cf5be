"""The workload's seccomp filter, generated from the syscall table.

- ``pass`` rows → ``SECCOMP_RET_ALLOW`` (with the row's argument check, if any);
- ``trace`` rows → ``SECCOMP_RET_TRACE`` (a ptrace stop for the sentry), or notified
  for the one argument value the row names (``notify_if``: the rewritten execveat);
- ``deny`` rows → ``SECCOMP_RET_ERRNO`` with the row's errno (``EPERM`` mostly);
- everything else, including numbers the table does not know →
  ``SECCOMP_RET_USER_NOTIF`` (the sentry answers, ``-ENOSYS`` if unsupported);
- a foreign architecture (``int 0x80``, ia32) or an x32 number → ``KILL_PROCESS``;
- number -1 → ``SECCOMP_RET_ERRNO(ENOSYS)``, before anything else (see :func:`build_filter`).
"""

from __future__ import annotations

import errno
import struct

import pyseccomp as sc

from sentry.syscalls.linux import linux64

X32_SYSCALL_BIT = 0x40000000
_SECCOMP_RET_ERRNO = 0x00050000

# ``if (nr == -1) return ERRNO(ENOSYS)`` as ``struct sock_filter``s (code, jt, jf, k):
# ld [0] (seccomp_data.nr); jeq #-1, 0, 1; ret #ERRNO|ENOSYS.
_NR_MINUS_ONE = b"".join(struct.pack("=HBBI", *insn) for insn in (
    (0x20, 0, 0, 0),
    (0x15, 0, 1, 0xFFFFFFFF),
    (0x06, 0, 0, _SECCOMP_RET_ERRNO | errno.ENOSYS),
))


#: Where the stub's gadget (``syscall; int3``) returns to: the instruction pointer the
#: kernel reports for a call the sentry injects (the stub is linked at 0x7e0000001000,
#: ``ud2`` first).
GADGET_RETURN = 0x7E0000001004
_AUDIT_ARCH_X86_64 = 0xC000003E
_SYS_MMAP = 9
_SYS_CLOSE = 3


def _loader_mmap_prefix() -> bytes:
    """``if (arch == x86_64 && nr == mmap && ip == GADGET_RETURN && (int)fd in LEND_FDS)
    return ALLOW``: the loader's injected file mmaps of the fds it lent.

    Without it they would be notified, and the sentry, which injected them, waits for
    the task.  The workload can make the same call by jumping to the gadget; then it maps
    the program or interpreter it exec'd, from a read-only fd (see ARCHITECTURE.md).  The
    kernel's mmap reads the fd as an ``unsigned int``, so the low word is the one checked.
    """
    from sentry.loader.loader import LEND_FDS

    lo, hi = GADGET_RETURN & 0xFFFFFFFF, GADGET_RETURN >> 32
    a, b = LEND_FDS
    prog = (
        (0x20, 0, 0, 4),                         # ld [4]: arch
        (0x15, 0, 10, _AUDIT_ARCH_X86_64),
        (0x20, 0, 0, 0),                         # ld [0]: nr
        (0x15, 0, 8, _SYS_MMAP),
        (0x20, 0, 0, 8),                         # ld [8]: instruction_pointer, low word
        (0x15, 0, 6, lo),
        (0x20, 0, 0, 12),                        # high word
        (0x15, 0, 4, hi),
        (0x20, 0, 0, 48),                        # ld [48]: args[4] (fd), low word
        (0x15, 1, 0, a),
        (0x15, 0, 1, b),
        (0x06, 0, 0, 0x7FFF0000),                # ret ALLOW
    )
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


def _shm_lend_prefix() -> bytes:
    """``if (arch == x86_64 && ip == GADGET_RETURN && ((nr == mmap && (int)fd ==
    SHM_LEND_FD) || (nr == close && (int)fd == SHM_LEND_FD))) return ALLOW``: the mmap and
    close a ``shmat`` has the thread run at the stub's gadget (sys_ipc).

    The fd is there only while the sentry holds the thread in that stop; another thread
    of the process jumping to the gadget then could map the segment the attaching thread
    was allowed to, with the access it was allowed.
    """
    from sentry.loader.loader import SHM_LEND_FD

    lo, hi = GADGET_RETURN & 0xFFFFFFFF, GADGET_RETURN >> 32
    prog = (
        (0x20, 0, 0, 4),                         # 0 ld [4]: arch
        (0x15, 0, 12, _AUDIT_ARCH_X86_64),       # 1
        (0x20, 0, 0, 8),                         # 2 ld [8]: instruction_pointer low
        (0x15, 0, 10, lo),                       # 3
        (0x20, 0, 0, 12),                        # 4 high word
        (0x15, 0, 8, hi),                        # 5
        (0x20, 0, 0, 0),                         # 6 ld [0]: nr
        (0x15, 0, 2, _SYS_MMAP),                 # 7 mmap? else 10
        (0x20, 0, 0, 48),                        # 8 ld [48]: args[4] (fd), low word
        (0x15, 3, 4, SHM_LEND_FD),               # 9 → 13 allow, else 14
        (0x15, 0, 3, _SYS_CLOSE),                # 10 close? else 14
        (0x20, 0, 0, 16),                        # 11 ld [16]: args[0] (fd), low word
        (0x15, 0, 1, SHM_LEND_FD),               # 12
        (0x06, 0, 0, 0x7FFF0000),                # 13 ret ALLOW
    )
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


def _action(policy: str, deny_errno: int = errno.EPERM) -> int:
    if policy == linux64.PASS:
        return sc.ALLOW
    if policy == linux64.TRACE:
        return sc.TRACE(0)
    if policy == linux64.DENY:
        return sc.ERRNO(deny_errno)
    return sc.NOTIFY


def build_filter() -> bytes:
    """The classic-BPF program (array of ``struct sock_filter``) the workload runs under."""
    f = sc.SyscallFilter(sc.NOTIFY)
    # Only x86_64 is in the filter; libseccomp kills any other arch and x32 numbers
    # with the bad-arch action.
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    # A binary search on the number (libseccomp's level 2) rather than its default chain
    # of comparisons: every notified call is the chain's default, so it ran ~108
    # instructions before it was notified.
    f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    for e in linux64.TABLE:
        if e is None:
            continue
        act = _action(e.policy, e.deny_errno)
        if act == sc.NOTIFY and e.policy != linux64.DENY:
            continue  # the default action
        if e.notify_if is not None:
            # Traced unless the argument holds the value; then the default: notified.
            idx, val = e.notify_if
            f.add_rule(act, e.nr, sc.Arg(idx, sc.NE, val))
        elif e.arg_check is not None:
            idx, mask, val = e.arg_check
            f.add_rule(act, e.nr, sc.Arg(idx, sc.MASKED_EQ, mask, val))
            other = _action(e.else_policy)
            if other != sc.NOTIFY:
                idx, mask, val = e.else_check or (idx, mask, (~val) & mask)
                f.add_rule(other, e.nr, sc.Arg(idx, sc.MASKED_EQ, mask, val))
        else:
            f.add_rule(act, e.nr)
    import tempfile  # here: a program from the install-time cache needs none of it

    with tempfile.TemporaryFile() as tf:
        f.export_bpf(tf)
        tf.seek(0)
        # Number -1 is "no syscall" to the kernel: a notification for it that a signal
        # interrupts before the sentry answers is not restarted, and ERESTARTSYS (512)
        # would reach the workload, so it is answered here as Linux answers it (on any
        # architecture).  libseccomp takes no rule for a negative number; BPF jumps are
        # relative, so the program can go first.
        return _NR_MINUS_ONE + _loader_mmap_prefix() + _shm_lend_prefix() + tf.read()
