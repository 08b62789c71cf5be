"""ELF64 (x86_64) headers: just what the loader needs."""

from __future__ import annotations

import errno
import struct
from sentry.records import dataclass

from sentry.abi.linux.errors import err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import List, Optional

ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62
PT_LOAD, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 3, 6, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")


@dataclass
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def prot(self) -> int:
        p = 0
        if self.flags & PF_R:
            p |= PROT_READ
        if self.flags & PF_W:
            p |= PROT_WRITE
        if self.flags & PF_X:
            p |= PROT_EXEC
        return p


@dataclass
class ElfInfo:
    type: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    segments: List[Segment]
    interp: Optional[bytes]

    @property
    def loads(self) -> List[Segment]:
        return [s for s in self.segments if s.type == PT_LOAD]


def parse(head: bytes, read_at) -> ElfInfo:
    """Parse an ELF image whose first bytes are *head*; ``read_at(off, n)`` reads more.

    :raises LinuxError: ENOEXEC for anything this loader cannot run.
    """
    if len(head) < _EHDR.size or head[:4] != b"\x7fELF":
        raise err(errno.ENOEXEC)
    (ident, etype, machine, _ver, entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum,
     _shentsize, _shnum, _shstrndx) = _EHDR.unpack_from(head)
    if ident[4] != 2 or ident[5] != 1 or machine != EM_X86_64 or etype not in (ET_EXEC, ET_DYN):
        raise err(errno.ENOEXEC)
    if phentsize != _PHDR.size or not 0 < phnum <= 256:
        raise err(errno.ENOEXEC)
    raw = read_at(phoff, phnum * phentsize)
    if len(raw) != phnum * phentsize:
        raise err(errno.ENOEXEC)
    segs: List[Segment] = []
    interp: Optional[bytes] = None
    for i in range(phnum):
        ptype, pflags, off, vaddr, _paddr, filesz, memsz, align = _PHDR.unpack_from(raw, i * _PHDR.size)
        segs.append(Segment(ptype, pflags, off, vaddr, filesz, memsz, align))
        if ptype == PT_INTERP:
            if not 1 < filesz <= 4096:
                raise err(errno.ENOEXEC)
            interp = read_at(off, filesz).split(b"\0", 1)[0]
    loads = [s for s in segs if s.type == PT_LOAD]
    if not loads:
        raise err(errno.ENOEXEC)
    for s in loads:
        if s.filesz > s.memsz or (s.vaddr - s.offset) % 4096 or s.vaddr + s.memsz >= 1 << 47:
            raise err(errno.ENOEXEC)
    return ElfInfo(etype, entry, phoff, phentsize, phnum, segs, interp)
