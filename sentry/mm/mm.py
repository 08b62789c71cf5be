"""A thread group's address space as the sentry books it.

Anonymous memory and file mappings are the host's: the sentry lends a host fd
of the file (sys_mm, the loader).  It records what ``/proc/PID/maps`` needs to
name each mapping without showing a host path: the host (dev, ino) of every
file fd it lent, and the address ranges of what the loader made itself (the
stack, segments copied from files that have no host fd).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Tuple
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import ThreadGroup

# (start, end, prot, path, file offset)
if TYPE_CHECKING:  # (an annotation only)
    Mapping = Tuple[int, int, int, str, int]
STUB_BASE = 0x7E0000000000
STUB_END = 0x7E0000002000
#: How /proc/PID/maps names an AIO ring (sentry.kernel.aio), as Linux's aio file.
AIO_RING_NAME = "/[aio] (deleted)"
AIO_RING_STRIDE = 1 << 32
#: How it names shared anonymous memory (a shared mapping of /dev/zero too).
_SHARED_ZERO = "/dev/zero (deleted)"


def host_mapped(t: "Any", lo: int, hi: int, readable: bool = False) -> bool:
    """Whether [lo, hi) is covered by *t*'s process's mappings (*readable*: each one
    readable), from the host's ``/proc/PID/maps``: one read whatever the range's size,
    where looking at each page, or copying the range, kept the sentry busy for seconds."""
    if lo >= hi:
        return True
    try:
        maps = t.kernel.host_file(f"{t.tg.host_tgid}/maps")
    except OSError:
        return False
    cur = lo
    for line in maps.splitlines():
        span, _, rest = line.partition(b" ")
        start, _, end = span.partition(b"-")
        a, b = int(start, 16), int(end, 16)
        if b <= cur:
            continue
        if a > cur or (readable and not rest.startswith(b"r")):
            return False
        cur = b
        if cur >= hi:
            return True
    return False


def host_file_key(dev: int, ino: int) -> Tuple[str, str]:
    """A host file's identity as /proc/PID/maps prints it: ("maj:min", "ino")."""
    return f"{os.major(dev):02x}:{os.minor(dev):02x}", str(ino)


class AddressSpace:
    def __init__(self, kernel: "Kernel", tg: "ThreadGroup") -> None:
        self.kernel = kernel
        self.tg = tg
        self.mappings: List[Mapping] = []
        # File mappings run on the host: the host's (dev, ino) of each fd the
        # sentry lent → the sandbox path, to name them in /proc/PID/maps.  Shared
        # with a forked child until either side adds a name (copy on write).
        self.file_names: Dict[Tuple[str, str], str] = {}
        self._names_shared = False
        # Native AIO contexts (sentry.kernel.aio.AioTable), made by the first io_setup;
        # per address space as Linux's ioctx_table: a forked child starts without.
        self.aio: Any = None

    def fork(self, tg: "ThreadGroup") -> "AddressSpace":
        child = AddressSpace(self.kernel, tg)
        # Both lists are replaced, never changed in place (add, remove, reset).
        child.mappings = self.mappings
        child.file_names = self.file_names
        child._names_shared = self._names_shared = True
        return child

    def reset(self, mappings: List[Mapping], names: Dict[Tuple[str, str], str]) -> None:
        """A new image: forget the old mappings and names."""
        self.mappings = list(mappings)
        self.file_names = dict(names)
        self._names_shared = False
        self.drop_aio()

    def release(self) -> None:
        self.drop_aio()

    def drop_aio(self) -> None:
        """Destroy the AIO contexts (``exit_aio``: at exec and at exit)."""
        table, self.aio = self.aio, None
        if table is not None:
            table.release()

    def name_host_file(self, host_fd: int, name: str) -> None:
        """Name the mappings of host fd *host_fd* (lent to the task) *name* in /proc/PID/maps."""
        st = os.fstat(host_fd)
        self.name_host_key(st.st_dev, st.st_ino, name)

    def name_host_key(self, dev: int, ino: int, name: str) -> None:
        """Name the mappings of the host file (*dev*, *ino*) *name* in /proc/PID/maps."""
        key = host_file_key(dev, ino)
        if self.file_names.get(key) == name:
            return
        if self._names_shared:
            self.file_names = dict(self.file_names)
            self._names_shared = False
        self.file_names[key] = name

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

    def _own_stack(self) -> bool:
        """Whether the loader mapped a stack of its own (arguments too big for the host's)."""
        return any(m[3] == "[stack]" for m in self.mappings)

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
            if parts[3] == "00:01" and host_name == _SHARED_ZERO:
                # Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, a shared mapping of
                # /dev/zero): an object of the kernel's internal shmem mount, which Linux
                # names so; nothing else there is (SysV segments and memfds have names of
                # their own).
                name, off = _SHARED_ZERO, int(parts[2], 16)
            elif parts[4] != "0":
                # A file mapping runs on the host: named by the file's host identity
                # (never the host's path).
                known = self.file_names.get((parts[3], parts[4]))
                name, off = (known, int(parts[2], 16)) if known is not None else ("", 0)
                if known == AIO_RING_NAME:
                    # The rings share a memfd, 4 GiB apart; on Linux each is its own file.
                    off &= AIO_RING_STRIDE - 1
            elif parts[1].endswith("s"):
                name, off = "", 0  # shared anonymous memory
            else:
                name, off = self._name_for(lo, hi)
            if host_name in ("[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[heap]") or (
                    host_name == "[stack]" and not self._own_stack()):
                name, off = host_name, 0  # [stack]: the host's, which the loader used
            elif not name:
                off = 0
            ino = "0"
            dev = "00:00"
            lines.append(f"{lo:08x}-{hi:08x} {parts[1]} {off:08x} {dev} {ino}"
                         + (f" {' ' * 17}{name}" if name else ""))
        return ("\n".join(lines) + "\n").encode() if lines else b""
