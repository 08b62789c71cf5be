"""A thread group's address space as the sentry books it.

Anonymous memory is managed by the host (``pass`` policy); the sentry records
what it mapped itself (the loader's segments, the stack, emulated file
mappings) so that ``/proc/PID/maps`` can name them, and keeps the
``/proc/PID/mem`` fd used to write file bytes into read-only mappings.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import ThreadGroup

# (start, end, prot, path, file offset)
Mapping = Tuple[int, int, int, str, int]
STUB_BASE = 0x7E0000000000
STUB_END = 0x7E0000002000


class AddressSpace:
    def __init__(self, kernel: "Kernel", tg: "ThreadGroup") -> None:
        self.kernel = kernel
        self.tg = tg
        self.mappings: List[Mapping] = []
        self.mem_fd: Optional[int] = None
        # Shared file mappings run on the host: the host's (dev, ino) of the
        # mapped fd → the sandbox path, to name them in /proc/PID/maps.
        self.shared_names: Dict[Tuple[str, str], str] = {}

    def fork(self, tg: "ThreadGroup") -> "AddressSpace":
        child = AddressSpace(self.kernel, tg)
        child.mappings = list(self.mappings)
        child.shared_names = dict(self.shared_names)
        return child

    def reset(self, mappings: List[Mapping], mem_fd: int) -> None:
        """A new image: forget the old mappings, keep the new image's mem fd."""
        if self.mem_fd is not None:
            os.close(self.mem_fd)
        self.mappings = list(mappings)
        self.mem_fd = mem_fd

    def release(self) -> None:
        if self.mem_fd is not None:
            os.close(self.mem_fd)
            self.mem_fd = None

    def add(self, m: Mapping) -> None:
        start, end = m[0], m[1]
        self.remove(start, end)
        self.mappings.append(m)

    def remove(self, start: int, end: int) -> None:
        out: List[Mapping] = []
        for s, e, p, path, off in self.mappings:
            if e <= start or s >= end:
                out.append((s, e, p, path, off))
                continue
            if s < start:
                out.append((s, start, p, path, off))
            if e > end:
                out.append((end, e, p, path, off + (end - s)))
        self.mappings = out

    def _name_for(self, start: int, end: int) -> Tuple[str, int]:
        for s, e, _p, path, off in self.mappings:
            if s <= start and end <= e:
                return path, off + (start - s)
        return "", 0

    def maps_text(self) -> bytes:
        """``/proc/PID/maps``: the host's layout, with sandbox names, without the stub."""
        leader = self.tg.leader
        if leader is None:
            return b""
        try:
            raw = self.kernel.host_file(f"{leader.host_tid}/maps").decode("utf-8", "replace")
        except OSError:
            return b""
        lines = []
        for line in raw.splitlines():
            parts = line.split(None, 5)
            if len(parts) < 5:
                continue
            lo_s, _, hi_s = parts[0].partition("-")
            lo, hi = int(lo_s, 16), int(hi_s, 16)
            if STUB_BASE <= lo < STUB_END:
                continue
            host_name = parts[5] if len(parts) > 5 else ""
            if parts[1].endswith("s"):
                # A shared mapping runs on the host: named by the file's host
                # identity (never the host's path; a shared anonymous one has none).
                shared = self.shared_names.get((parts[3], parts[4])) if parts[4] != "0" else None
                name, off = (shared, int(parts[2], 16)) if shared is not None else ("", 0)
            else:
                name, off = self._name_for(lo, hi)
            if host_name in ("[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[heap]"):
                name, off = host_name, 0
            elif not name:
                off = 0
            ino = "0"
            dev = "00:00"
            lines.append(f"{lo:08x}-{hi:08x} {parts[1]} {off:08x} {dev} {ino}"
                         + (f" {' ' * 17}{name}" if name else ""))
        return ("\n".join(lines) + "\n").encode() if lines else b""
