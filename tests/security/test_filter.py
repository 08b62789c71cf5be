"""Design §7.1: only allowlisted syscalls reach the host without a stop.

The allowed set is derived from the BPF program runsc-py installs
(``sentry.platform.hybrid.filter.build_filter()``) by interpreting it (``helpers.bpf``) for every
syscall number with every argument value, and compared with the one table
(``sentry.syscalls.linux.linux64.host_allowlist()``) and with what ``runsc-py syscalls --host``
prints. Foreign ABIs (x32 numbers, i386 arch) must be killed. The interpreter itself is checked
against filters built with pyseccomp (libseccomp), whose semantics are known.

Run: ``python3 -m pytest tests/security/test_filter.py``.
"""

from __future__ import annotations

import errno
import json
import sys
import tempfile

import pyseccomp
import pytest
from helpers import bpf
from helpers.runner import REPO, runsc

NR_MAX = 548  # amd64 syscall numbers 0..547


def _sentry_import():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from sentry.platform.hybrid.filter import build_filter
    from sentry.syscalls.linux.linux64 import host_allowlist

    return build_filter, host_allowlist


def _export(f: pyseccomp.SyscallFilter) -> bytes:
    with tempfile.TemporaryFile() as t:
        f.export_bpf(t)
        t.seek(0)
        return t.read()


# ---------------------------------------------------------------- the interpreter itself


def _sample_filter() -> bytes:
    f = pyseccomp.SyscallFilter(pyseccomp.ERRNO(errno.EPERM))
    f.add_rule(pyseccomp.ALLOW, "getpid")
    f.add_rule(pyseccomp.ALLOW, "mmap", pyseccomp.Arg(3, pyseccomp.MASKED_EQ, 0x20, 0x20))
    f.add_rule(pyseccomp.ALLOW, "write", pyseccomp.Arg(0, pyseccomp.EQ, 1))
    f.add_rule(pyseccomp.ALLOW, "kill", pyseccomp.Arg(1, pyseccomp.GT, 0x1_0000_0000))
    f.add_rule(pyseccomp.KILL_PROCESS, "ptrace")
    f.add_rule(pyseccomp.NOTIFY, "read")
    f.add_rule(pyseccomp.TRACE(7), "execve")
    return _export(f)


def test_interpreter_concrete_on_libseccomp_filter():
    prog = _sample_filter()
    run = lambda nr, *args: bpf.run(prog, bpf.seccomp_data(nr, args=args))  # noqa: E731
    assert bpf.action(run(39)) == bpf.SECCOMP_RET_ALLOW  # getpid
    assert run(40) == bpf.SECCOMP_RET_ERRNO | errno.EPERM  # sendfile: default
    assert bpf.action(run(9, 0, 4096, 3, 0x22)) == bpf.SECCOMP_RET_ALLOW  # mmap anon
    assert bpf.action(run(9, 0, 4096, 3, 0x02)) == bpf.SECCOMP_RET_ERRNO  # mmap file
    assert bpf.action(run(1, 1)) == bpf.SECCOMP_RET_ALLOW  # write(1)
    assert bpf.action(run(1, 2)) == bpf.SECCOMP_RET_ERRNO  # write(2)
    assert bpf.action(run(1, 1 | 1 << 32)) == bpf.SECCOMP_RET_ERRNO  # high word checked
    assert bpf.action(run(62, 0, 0x2_0000_0000)) == bpf.SECCOMP_RET_ALLOW  # kill, big arg
    assert bpf.action(run(62, 0, 5)) == bpf.SECCOMP_RET_ERRNO
    assert run(101) == bpf.SECCOMP_RET_KILL_PROCESS  # ptrace
    assert run(0) == bpf.SECCOMP_RET_USER_NOTIF  # read
    assert run(59) == bpf.SECCOMP_RET_TRACE | 7  # execve
    foreign = bpf.run(prog, bpf.seccomp_data(39, arch=bpf.AUDIT_ARCH_I386))
    assert bpf.action(foreign) != bpf.SECCOMP_RET_ALLOW


def test_interpreter_symbolic_on_libseccomp_filter():
    prog = _sample_filter()
    assert bpf.allowed_set(prog, range(NR_MAX)) == {39, 9, 1, 62}
    assert {bpf.action(r) for r in bpf.actions_for(prog, 9)} == {
        bpf.SECCOMP_RET_ALLOW,
        bpf.SECCOMP_RET_ERRNO,
    }
    assert bpf.actions_for(prog, 39) == {bpf.SECCOMP_RET_ALLOW}
    assert bpf.actions_for(prog, 101) == {bpf.SECCOMP_RET_KILL_PROCESS}
    assert bpf.actions_for(prog, 0) == {bpf.SECCOMP_RET_USER_NOTIF}


def test_interpreter_agrees_with_concrete_runs_on_random_args():
    import random

    prog = _sample_filter()
    rnd = random.Random(1)
    for _ in range(2000):
        nr = rnd.choice([0, 1, 9, 39, 40, 59, 62, 101, rnd.randrange(NR_MAX)])
        args = [rnd.choice([0, 1, 0x20, 0x22, 1 << 33, rnd.getrandbits(64)]) for _ in range(6)]
        ret = bpf.run(prog, bpf.seccomp_data(nr, args=args))
        assert ret in bpf.actions_for(prog, nr), (nr, args, hex(ret))


def test_interpreter_rejects_malformed_programs():
    with pytest.raises(bpf.BPFError):
        bpf.parse(b"\x00" * 7)
    jump_out = bpf.assemble([(bpf.JMP | bpf.JA, 0, 0, 5)])
    with pytest.raises(bpf.BPFError):
        bpf.run(jump_out, bpf.seccomp_data(0))
    odd_load = bpf.assemble([(bpf.LD | bpf.W | bpf.ABS, 0, 0, 2), (bpf.RET, 0, 0, 0)])
    with pytest.raises(bpf.BPFError):
        bpf.run(odd_load, bpf.seccomp_data(0))


# ---------------------------------------------------------------- runsc-py's filter


def _allowed_only_at_gadget(prog: bytes, nr: int, fd_off: int) -> bool:
    """Every path on which the filter allows *nr* requires the stub gadget's return
    address and the shmat lend fd in the argument at *fd_off* (and some path does)."""
    from sentry.platform.hybrid.filter import GADGET_RETURN
    from sentry.loader.loader import SHM_LEND_FD

    need = {(8, GADGET_RETURN & 0xFFFFFFFF), (12, GADGET_RETURN >> 32), (fd_off, SHM_LEND_FD)}
    paths = [cons for ret, cons in bpf._paths(bpf.parse(prog), nr, bpf.AUDIT_ARCH_X86_64)
             if bpf.action(ret) == bpf.SECCOMP_RET_ALLOW]
    return bool(paths) and all(
        need <= {(off, b) for off, _m, op, b, taken in cons if op == bpf.JEQ and taken}
        for cons in paths)


def test_shm_lend_close_only_at_gadget():
    """§7.1: the close and the file mmap shmat's stop runs pass for its lent fd at the
    gadget only."""
    build_filter, _ = _sentry_import()
    from sentry.platform.hybrid.filter import GADGET_RETURN
    from sentry.loader.loader import SHM_LEND_FD

    prog = build_filter()
    allow = bpf.SECCOMP_RET_ALLOW
    at = bpf.run(prog, bpf.seccomp_data(3, ip=GADGET_RETURN, args=[SHM_LEND_FD]))
    assert bpf.action(at) == allow
    for ip, fd in ((GADGET_RETURN, 5), (GADGET_RETURN + 2, SHM_LEND_FD), (0x401000, SHM_LEND_FD)):
        assert bpf.action(bpf.run(prog, bpf.seccomp_data(3, ip=ip, args=[fd]))) != allow
    # The mmap of the lent fd (a file mapping: no MAP_ANONYMOUS) likewise.
    mmap_args = [0, 4096, 3, 1, SHM_LEND_FD, 0]
    assert bpf.action(bpf.run(prog, bpf.seccomp_data(9, ip=GADGET_RETURN, args=mmap_args))) == allow
    assert bpf.action(bpf.run(prog, bpf.seccomp_data(9, ip=0x401000, args=mmap_args))) != allow


def test_allowlist_equals_installed_filter():
    """§7.1: the set of syscalls the installed filter ALLOWs (for some arguments) is exactly
    the table's host allowlist, and each entry's name matches its number."""
    build_filter, host_allowlist = _sentry_import()
    prog = build_filter()
    assert isinstance(prog, bytes) and len(prog) % 8 == 0 and prog
    insns = bpf.parse(prog)
    assert len(insns) <= 4096, "BPF_MAXINSNS exceeded: the kernel would refuse the filter"

    entries = list(host_allowlist())
    table = {e.nr: e.name for e in entries}
    assert len(table) == len(entries), "duplicate numbers in the host allowlist"
    for nr, name in table.items():
        assert pyseccomp.resolve_syscall(pyseccomp.Arch.X86_64, nr).decode() == name, (nr, name)

    allowed = bpf.allowed_set(prog, range(NR_MAX))
    # close passes only where shmat's stop runs it: at the stub's gadget, on the fd the
    # sentry lent there (sys_ipc); not a call the workload's own code gets.
    assert _allowed_only_at_gadget(prog, 3, 16)
    allowed.discard(3)
    extra = {n: pyseccomp.resolve_syscall(pyseccomp.Arch.X86_64, n) for n in allowed - set(table)}
    missing = {n: table[n] for n in set(table) - allowed}
    assert not extra, f"filter lets through syscalls the allowlist does not declare: {extra}"
    assert not missing, f"allowlisted syscalls the filter does not let through: {missing}"
    # nothing beyond the table's range is allowed either
    assert not bpf.allowed_set(prog, range(NR_MAX, 1100))


def test_filter_kills_foreign_abis():
    """§5/§7.1: x32 numbers and the i386 entry point are killed, never served or allowed."""
    build_filter, _ = _sentry_import()
    insns = bpf.parse(build_filter())
    for nr in range(NR_MAX):
        x32 = bpf.actions_for(insns, nr | bpf.X32_SYSCALL_BIT)
        assert x32 == {bpf.SECCOMP_RET_KILL_PROCESS}, (nr, [bpf.action_name(r) for r in x32])
        i386 = bpf.actions_for(insns, nr, bpf.AUDIT_ARCH_I386)
        assert i386 == {bpf.SECCOMP_RET_KILL_PROCESS}, (nr, [bpf.action_name(r) for r in i386])


def test_filter_traps_everything_else():
    """§4/§5: every syscall not allowed goes to the sentry (USER_NOTIF, or TRACE for the ones
    needing register control) or is refused (ERRNO); nothing else."""
    build_filter, _ = _sentry_import()
    insns = bpf.parse(build_filter())
    ok = {bpf.SECCOMP_RET_ALLOW, bpf.SECCOMP_RET_USER_NOTIF, bpf.SECCOMP_RET_TRACE}
    ok.add(bpf.SECCOMP_RET_ERRNO)
    for nr in range(NR_MAX):
        acts = {bpf.action(r) for r in bpf.actions_for(insns, nr)}
        assert acts <= ok, (nr, [bpf.action_name(a) for a in acts])
    assert {bpf.action(r) for r in bpf.actions_for(insns, 39)} == {bpf.SECCOMP_RET_USER_NOTIF}


def test_deny_rows_answer_their_errno():
    """§5: a denied call gets its row's errno from the filter, whatever its arguments:
    ``EPERM``, and ``EACCES`` for ``perf_event_open`` (what a host whose
    ``perf_event_paranoid`` forbids it answers; trinity retries any other errno for ever)."""
    build_filter, _ = _sentry_import()
    from sentry.syscalls.linux import linux64

    insns = bpf.parse(build_filter())
    denied = [e for e in linux64.TABLE if e is not None and e.policy == linux64.DENY]
    assert denied
    for e in denied:
        want = {bpf.SECCOMP_RET_ERRNO | e.deny_errno}
        assert bpf.actions_for(insns, e.nr) == want, e.name
    perf = linux64.entry(linux64.NUMBERS["perf_event_open"])
    assert perf is not None and perf.deny_errno == errno.EACCES
    assert bpf.actions_for(insns, perf.nr) == {bpf.SECCOMP_RET_ERRNO | errno.EACCES}


def _names(obj) -> set[str]:
    out: set[str] = set()
    if isinstance(obj, dict):
        if isinstance(obj.get("name"), str):
            out.add(obj["name"])
        for v in obj.values():
            if isinstance(v, dict | list):
                out |= _names(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= _names(v) if isinstance(v, dict | list) else ({v} if isinstance(v, str) else set())
    return out


def test_cli_prints_the_same_allowlist():
    """§7.1: the allowlist printed by ``runsc-py syscalls --host`` is the table's."""
    _, host_allowlist = _sentry_import()
    res = runsc(["syscalls", "--host", "--format", "json"], timeout=60)
    assert res.rc == 0, res.describe()
    printed = _names(json.loads(res.stdout))
    assert printed == {e.name for e in host_allowlist()}
