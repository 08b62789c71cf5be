"""rt_statcache_put_wire parses bytes a gofer sent: whatever they are, it refuses them whole
or keeps answers that parse, and never reads past them.

The gofer is less trusted than the sentry (a compromised one is in the threat model), so
the C parser of its listings is fed mutations of a valid listing (bytes changed, cut or
added, lengths rewritten) in a buffer that ends where an unreadable page starts: a read
past the end is a crash of the test process.
"""

from __future__ import annotations

import ctypes
import mmap
import random

from gofer.protocol import Stat, _pack_stat_entries
from sentry.platform.hybrid import native as N


def _listing() -> bytes:
    entries: list = []
    for i in range(40):
        st = Stat(7, 100 + i, 0o100644 if i % 3 else 0o40755, 1, 0, 0, 0, i, 4096, 1,
                  i * 10**9, i, -i)
        entries.append((b"file%02d" % i, st))
    link = Stat(7, 999, 0o120777, 1, 0, 0, 0, 6, 4096, 0, 0, 0, 0)
    link.target = b"file01"
    entries += [(b"link", link), (b"mnt", 12345)]
    return _pack_stat_entries(entries)[4:]


class _Guarded:
    """A buffer whose last byte is the last of a page followed by an unmapped-for-reading
    (PROT_NONE) page: the C side reading past the end of what it was given faults."""

    def __init__(self, size: int) -> None:
        self.pages = (size + 4095) // 4096 + 1
        self.map = mmap.mmap(-1, self.pages * 4096)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        guard = self.base + (self.pages - 1) * 4096
        assert libc.mprotect(guard, 4096, 0) == 0, ctypes.get_errno()

    def put(self, data: bytes) -> int:
        """Copy *data* to end at the guard page; its address."""
        start = (self.pages - 1) * 4096 - len(data)
        self.map[start:start + len(data)] = data
        return self.base + start


def test_mutated_listings_are_refused_or_parsed() -> None:
    good = _listing()
    gen = N.statcache_gen()
    assert N.statcache_put_wire(0, b"/wire-ok/", good, 42, 5, b"", gen)
    rnd = random.Random(1234)
    buf = _Guarded(len(good) + 4096)
    refused = kept = 0
    for i in range(3000):
        b = bytearray(good)
        for _ in range(rnd.randint(1, 6)):
            op = rnd.randrange(4)
            if op == 0 and b:  # flip a byte
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            elif op == 1 and b:  # cut
                del b[rnd.randrange(len(b)):]
            elif op == 2:  # add
                b[rnd.randrange(len(b) + 1):0] = bytes(rnd.randrange(256)
                                                       for _ in range(rnd.randint(1, 40)))
            elif b:  # a huge name or target length
                at = rnd.randrange(len(b))
                b[at:at + 2] = b"\xff\xff"
        addr = buf.put(bytes(b))
        prefix = b"/wire-%d/" % i
        r = N.lib.rt_statcache_put_wire(0, prefix, len(prefix),
                                        N.ffi.cast("const unsigned char *", addr), len(b),
                                        rnd.randint(1, 64), 5, b"", 0, gen, 0)
        assert r >= 0 or r == -22, r
        ok = r >= 0
        if ok:
            kept += 1
        else:
            refused += 1
    assert refused > 100 and kept > 10  # both ways were taken
