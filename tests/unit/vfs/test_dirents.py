"""getdents64's records (sentry.vfs.abi.pack_dirents64) against the layout of
``struct linux_dirent64``: d_ino, d_off (the next entry's index), d_reclen (8-aligned, at
least one NUL after the name), d_type, the name."""

from __future__ import annotations

import struct

from sentry.vfs import abi


def _record(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    reclen = (19 + len(name) + 1 + 7) // 8 * 8
    return struct.pack("<QqHB", ino, off, reclen, dtype) + name + bytes(reclen - 19 - len(name))


def test_records_and_what_fits() -> None:
    names = [b".", b"..", b"a", b"x" * 4, b"y" * 5, b"z" * 12, b"w" * 255]
    entries = [(1000 + i, 4 if i < 2 else 8, n) for i, n in enumerate(names)]
    want = [_record(ino, i + 1, dt, n) for i, (ino, dt, n) in enumerate(entries)]
    assert [len(r) for r in want[:6]] == [24, 24, 24, 24, 32, 32]
    assert abi.pack_dirents64(entries, 0, 1 << 20) == (b"".join(want), len(entries))
    # Only whole records that fit; the index after the last one packed.
    for start in range(len(entries)):
        for count in (0, 23, 24, 47, 48, 56, 80, 300, 1 << 20):
            got, end = abi.pack_dirents64(entries, start, count)
            n, used = start, 0
            while n < len(entries) and used + len(want[n]) <= count:
                used += len(want[n])
                n += 1
            assert (got, end) == (b"".join(want[start:n]), n), (start, count)
    assert abi.pack_dirents64([], 0, 100) == (b"", 0)
