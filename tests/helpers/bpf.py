"""A classic-BPF interpreter for seccomp programs, concrete and symbolic.

Used to derive, from the filter runsc-py actually installs, which syscalls reach the host without
a stop (design §7.1). The program is the kernel's ``struct sock_filter`` array (8 bytes per
instruction: ``u16 code; u8 jt; u8 jf; u32 k``, native endianness) run over
``struct seccomp_data`` (``int nr; u32 arch; u64 instruction_pointer; u64 args[6]``).

:func:`run` executes the program on concrete data. :func:`actions_for` explores every path for a
given (nr, arch) with the instruction pointer and the six arguments unknown, so a syscall allowed
only for some arguments (``mmap`` with ``MAP_ANONYMOUS``) still counts as allowed; a path is kept
only if a witness value satisfying its branch conditions is found.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF

ACTION_NAMES = {
    SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS",
    SECCOMP_RET_KILL_THREAD: "KILL_THREAD",
    SECCOMP_RET_TRAP: "TRAP",
    SECCOMP_RET_ERRNO: "ERRNO",
    SECCOMP_RET_USER_NOTIF: "USER_NOTIF",
    SECCOMP_RET_TRACE: "TRACE",
    SECCOMP_RET_LOG: "LOG",
    SECCOMP_RET_ALLOW: "ALLOW",
}

# instruction classes and fields (linux/bpf_common.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0,
)  # fmt: skip
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
SRC_K, SRC_X = 0x00, 0x08
RVAL_K, RVAL_X, RVAL_A = 0x00, 0x08, 0x10
TAX, TXA = 0x00, 0x80

SECCOMP_DATA_SIZE = 64
M32 = 0xFFFFFFFF
MAX_STEPS = 1_000_000


class BPFError(ValueError):
    """The program is malformed or does something seccomp would reject."""


@dataclass(frozen=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int


def parse(prog: bytes) -> list[Insn]:
    if len(prog) % 8 or not prog:
        raise BPFError(f"program length {len(prog)} is not a positive multiple of 8")
    return [Insn(*struct.unpack_from("=HBBI", prog, off)) for off in range(0, len(prog), 8)]


def assemble(insns: Iterable[tuple[int, int, int, int]]) -> bytes:
    return b"".join(struct.pack("=HBBI", *i) for i in insns)


def seccomp_data(nr: int, arch: int = AUDIT_ARCH_X86_64, ip: int = 0, args: Iterable[int] = ()) -> bytes:
    a = list(args) + [0] * 6
    return struct.pack("=iIQ6Q", _s32(nr), arch, ip, *[x & 0xFFFFFFFFFFFFFFFF for x in a[:6]])


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def action(ret: int) -> int:
    """The action part of a return value (``SECCOMP_RET_ACTION_FULL``)."""
    return ret & SECCOMP_RET_ACTION_FULL


def action_name(ret: int) -> str:
    return ACTION_NAMES.get(action(ret), hex(action(ret)))


def _alu(op: int, a: int, b: int) -> int:
    if op == ADD:
        return (a + b) & M32
    if op == SUB:
        return (a - b) & M32
    if op == MUL:
        return (a * b) & M32
    if op == DIV:
        if b == 0:
            raise BPFError("division by zero")
        return a // b
    if op == MOD:
        if b == 0:
            raise BPFError("modulo by zero")
        return a % b
    if op == OR:
        return a | b
    if op == AND:
        return a & b
    if op == XOR:
        return a ^ b
    if op == LSH:
        return (a << b) & M32 if b < 32 else 0
    if op == RSH:
        return a >> b if b < 32 else 0
    if op == NEG:
        return (-a) & M32
    raise BPFError(f"bad ALU op {op:#x}")


def _jump(op: int, a: int, b: int) -> bool:
    if op == JEQ:
        return a == b
    if op == JGT:
        return a > b
    if op == JGE:
        return a >= b
    if op == JSET:
        return bool(a & b)
    raise BPFError(f"bad JMP op {op:#x}")


def _load_word(data: bytes, off: int) -> int:
    if off % 4 or off < 0 or off + 4 > len(data):
        raise BPFError(f"bad load offset {off}")
    return int(struct.unpack_from("=I", data, off)[0])


def run(prog: bytes | list[Insn], data: bytes) -> int:
    """Execute the program on *data* (a ``struct seccomp_data``); return the 32-bit result."""
    insns = parse(prog) if isinstance(prog, bytes) else prog
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(MAX_STEPS):
        if not 0 <= pc < len(insns):
            raise BPFError(f"pc {pc} out of range")
        ins = insns[pc]
        cls, code, k = ins.code & 7, ins.code, ins.k
        pc += 1
        if cls == LD:
            mode = code & 0xE0
            if mode == IMM:
                a = k
            elif mode == ABS:
                if code & 0x18 != W:
                    raise BPFError("seccomp allows only 32-bit loads")
                a = _load_word(data, k)
            elif mode == MEM:
                a = mem[k & 15]
            elif mode == LEN:
                a = len(data)
            else:
                raise BPFError(f"unsupported LD mode {mode:#x}")
        elif cls == LDX:
            mode = code & 0xE0
            if mode == IMM:
                x = k
            elif mode == MEM:
                x = mem[k & 15]
            elif mode == LEN:
                x = len(data)
            else:
                raise BPFError(f"unsupported LDX mode {mode:#x}")
        elif cls == ST:
            mem[k & 15] = a
        elif cls == STX:
            mem[k & 15] = x
        elif cls == ALU:
            op = code & 0xF0
            a = _alu(op, a, x if code & SRC_X else k)
        elif cls == JMP:
            op = code & 0xF0
            if op == JA:
                pc += k
            else:
                pc += ins.jt if _jump(op, a, x if code & SRC_X else k) else ins.jf
        elif cls == RET:
            rv = code & 0x18
            return (a if rv == RVAL_A else x if rv == RVAL_X else k) & M32
        else:  # MISC
            if code & 0xF8 == TAX:
                x = a
            else:
                a = x
    raise BPFError("step limit exceeded (loop?)")


# ---------------------------------------------------------------- symbolic exploration


@dataclass(frozen=True)
class _Sym:
    """(word of seccomp_data at *off*) & *mask*; off < 0 means an opaque unknown value."""

    off: int
    mask: int = M32


_Val = int | _Sym
_Constraint = tuple[int, int, int, int, bool]  # (off, mask, op, k, taken)


def _holds(value: int, c: _Constraint) -> bool:
    _off, mask, op, k, taken = c
    return _jump(op, value & mask, k) == taken


def _witness(cons: list[_Constraint]) -> int | None:
    forced = 0
    for _off, mask, op, k, taken in cons:
        if op == JEQ and taken:
            forced |= k & mask
        if op == JSET and taken:
            forced |= k & mask
    cands = {0, M32, forced}
    for _off, mask, _op, k, _t in cons:
        for v in (k, k + 1, k - 1, k & mask, (~k) & M32):
            v &= M32
            cands.update({v, v | forced, (v & ~forced) | forced})
    for v in sorted(cands):
        if all(_holds(v, c) for c in cons):
            return v
    return None


def _feasible(cons: list[_Constraint]) -> bool:
    by_off: dict[int, list[_Constraint]] = {}
    for c in cons:
        by_off.setdefault(c[0], []).append(c)
    return all(_witness(cs) is not None for cs in by_off.values())


def _paths(insns: list[Insn], nr: int, arch: int) -> Iterator[tuple[int, list[_Constraint]]]:
    concrete = {0: nr & M32, 4: arch & M32}
    steps = 0
    # state: pc, A, X, mem, constraints
    stack: list[tuple[int, _Val, _Val, tuple[_Val, ...], list[_Constraint]]] = [(0, 0, 0, (0,) * 16, [])]
    while stack:
        pc, a, x, mem, cons = stack.pop()
        while True:
            steps += 1
            if steps > MAX_STEPS:
                raise BPFError("exploration step limit exceeded")
            if not 0 <= pc < len(insns):
                raise BPFError(f"pc {pc} out of range")
            ins = insns[pc]
            cls, code, k = ins.code & 7, ins.code, ins.k
            pc += 1
            if cls == LD:
                mode = code & 0xE0
                if mode == IMM:
                    a = k
                elif mode == ABS:
                    if code & 0x18 != W or k % 4 or k + 4 > SECCOMP_DATA_SIZE:
                        raise BPFError(f"bad load at {pc - 1}")
                    a = concrete[k] if k in concrete else _Sym(k)
                elif mode == MEM:
                    a = mem[k & 15]
                elif mode == LEN:
                    a = SECCOMP_DATA_SIZE
                else:
                    raise BPFError(f"unsupported LD mode {mode:#x}")
            elif cls == LDX:
                mode = code & 0xE0
                if mode == IMM:
                    x = k
                elif mode == MEM:
                    x = mem[k & 15]
                elif mode == LEN:
                    x = SECCOMP_DATA_SIZE
                else:
                    raise BPFError(f"unsupported LDX mode {mode:#x}")
            elif cls in (ST, STX):
                m = list(mem)
                m[k & 15] = a if cls == ST else x
                mem = tuple(m)
            elif cls == ALU:
                op = code & 0xF0
                b = x if code & SRC_X else k
                if isinstance(a, int) and isinstance(b, int):
                    a = _alu(op, a, b)
                elif op == AND and isinstance(a, _Sym) and isinstance(b, int) and a.off >= 0:
                    a = _Sym(a.off, a.mask & b)
                else:
                    a = _Sym(-1)
            elif cls == JMP:
                op = code & 0xF0
                if op == JA:
                    pc += k
                    continue
                b = x if code & SRC_X else k
                if isinstance(a, int) and isinstance(b, int):
                    pc += ins.jt if _jump(op, a, b) else ins.jf
                    continue
                # data-dependent branch: follow both sides that can hold
                sides = []
                for taken in (True, False):
                    if isinstance(a, _Sym) and a.off >= 0 and isinstance(b, int):
                        ncons = cons + [(a.off, a.mask, op, b, taken)]
                        if not _feasible(ncons):
                            continue
                    else:
                        ncons = cons
                    sides.append((pc + (ins.jt if taken else ins.jf), ncons))
                if not sides:
                    break
                for npc, ncons in sides[1:]:
                    stack.append((npc, a, x, mem, ncons))
                pc, cons = sides[0]
            elif cls == RET:
                rv = code & 0x18
                val = a if rv == RVAL_A else x if rv == RVAL_X else k
                if isinstance(val, _Sym):
                    raise BPFError("return of a data-dependent value")
                yield val & M32, cons
                break
            else:
                if code & 0xF8 == TAX:
                    x = a
                else:
                    a = x


def actions_for(prog: bytes | list[Insn], nr: int, arch: int = AUDIT_ARCH_X86_64) -> set[int]:
    """Every return value the program can give for (*nr*, *arch*), over all ip/argument values."""
    insns = parse(prog) if isinstance(prog, bytes) else prog
    return {ret for ret, _cons in _paths(insns, nr, arch)}


def allowed_set(prog: bytes, nrs: Iterable[int], arch: int = AUDIT_ARCH_X86_64) -> set[int]:
    """Numbers for which some arguments make the program return ``SECCOMP_RET_ALLOW``."""
    insns = parse(prog)
    return {nr for nr in nrs if any(action(r) == SECCOMP_RET_ALLOW for r in actions_for(insns, nr, arch))}
