"""Access to a task's address space from the sentry.

:class:`TaskMemory` is what handlers use (``t.mem``).  The live implementation
(:class:`sentry.platform.hybrid.memory.HostMemory`) copies with
``process_vm_readv``/``process_vm_writev`` (one copy, no ptrace stop);
:class:`FakeMemory` backs unit tests with a bytearray.

Every read is a copy: a handler decodes the bytes it got and never reads the
same workload memory twice for one decision (design invariant 7).
"""

from __future__ import annotations

import abc
import struct

from sentry.abi.linux.errors import err
import errno

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Dict, List

# Longest path a handler will copy (PATH_MAX) and longest argv/envp string.
PATH_MAX = 4096
MAX_ARG_STRLEN = 131072


class TaskMemory(abc.ABC):
    """Abstract task memory.  All methods raise ``LinuxError(EFAULT)`` on a bad address."""

    @abc.abstractmethod
    def read(self, addr: int, n: int) -> bytes:
        """*n* bytes at *addr*."""

    @abc.abstractmethod
    def write(self, addr: int, data: bytes) -> None:
        """Write *data* at *addr*."""

    def read_partial(self, addr: int, n: int) -> bytes:
        """Read up to *n* bytes, stopping at the first unreadable page (may return b'')."""
        try:
            return self.read(addr, n)
        except Exception:
            out = bytearray()
            while n > 0:
                step = min(n, 4096 - (addr & 4095))
                try:
                    out += self.read(addr, step)
                except Exception:
                    break
                addr += step
                n -= step
            return bytes(out)

    def read_cstring(self, addr: int, maxlen: int = PATH_MAX) -> bytes:
        """The NUL-terminated string at *addr*, without the NUL.

        :raises LinuxError: EFAULT for a bad pointer, ENAMETOOLONG past *maxlen*.
        """
        if addr == 0:
            raise err(errno.EFAULT)
        out = bytearray()
        while len(out) <= maxlen:
            # Read to the end of the page, so we never touch a page past the NUL.
            chunk_len = 4096 - (addr & 4095)
            chunk = self.read_partial(addr, chunk_len)
            if not chunk:
                raise err(errno.EFAULT)
            i = chunk.find(b"\0")
            if i >= 0:
                out += chunk[:i]
                if len(out) > maxlen:
                    break
                return bytes(out)
            out += chunk
            addr += len(chunk)
            if len(chunk) < chunk_len:
                raise err(errno.EFAULT)
        raise err(errno.ENAMETOOLONG)

    def read_u64(self, addr: int) -> int:
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def read_u32(self, addr: int) -> int:
        return struct.unpack("<I", self.read(addr, 4))[0]

    def read_i32(self, addr: int) -> int:
        return struct.unpack("<i", self.read(addr, 4))[0]

    def write_u64(self, addr: int, v: int) -> None:
        self.write(addr, struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF))

    def write_i32(self, addr: int, v: int) -> None:
        self.write(addr, struct.pack("<i", v))

    def read_string_array(self, addr: int, max_total: int = 2 * 1024 * 1024) -> List[bytes]:
        """A NULL-terminated array of string pointers (argv/envp). NULL *addr* is empty.

        Each page is copied once (argv and envp strings sit side by side on the stack:
        a string or a pointer per copy made an execve of a shell's environment cost
        80 copies), so the strings are one snapshot whatever another thread writes.

        :raises LinuxError: EFAULT; E2BIG for a string longer than ``MAX_ARG_STRLEN``
            (found as the string is read: before a fault past that length) or past
            *max_total* bytes of strings, their NULs and pointers, as execve(2).
        """
        out: List[bytes] = []
        if addr == 0:
            return out
        pages: Dict[int, bytes] = {}

        def page(p: int) -> bytes:
            b = pages.get(p)
            if b is None:
                b = pages[p] = self.read_partial(p, 4096)
            return b

        def u64(a: int) -> int:
            p, off = a & ~4095, a & 4095
            b = page(p)[off:off + 8]
            if len(b) < 8 and off + 8 > 4096:
                b += page(p + 4096)[:off + 8 - 4096]
            if len(b) != 8:
                raise err(errno.EFAULT)
            return int.from_bytes(b, "little")

        def cstring(a: int) -> bytes:
            if a == 0:
                raise err(errno.EFAULT)
            buf = bytearray()
            while len(buf) <= MAX_ARG_STRLEN:
                p, off = a & ~4095, a & 4095
                b = page(p)
                if off >= len(b):
                    raise err(errno.EFAULT)
                i = b.find(b"\0", off)
                if i >= 0:
                    buf += b[off:i]
                    if len(buf) > MAX_ARG_STRLEN:
                        break
                    return bytes(buf)
                buf += b[off:]
                if len(b) < 4096:
                    raise err(errno.EFAULT)
                a = p + 4096
            raise err(errno.E2BIG)

        total = 0
        while True:
            p = u64(addr)
            if p == 0:
                return out
            s = cstring(p)
            total += len(s) + 1 + 8
            if total > max_total:
                raise err(errno.E2BIG)
            out.append(s)
            addr += 8


class FakeMemory(TaskMemory):
    """A flat bytearray at base address *base*, for unit tests."""

    def __init__(self, size: int = 1 << 20, base: int = 0x10000) -> None:
        self.buf = bytearray(size)
        self.base = base

    def _off(self, addr: int, n: int) -> int:
        off = addr - self.base
        if addr == 0 or off < 0 or off + n > len(self.buf) or n < 0:
            raise err(errno.EFAULT)
        return off

    def read(self, addr: int, n: int) -> bytes:
        off = self._off(addr, n)
        return bytes(self.buf[off : off + n])

    def write(self, addr: int, data: bytes) -> None:
        off = self._off(addr, len(data))
        self.buf[off : off + len(data)] = data
