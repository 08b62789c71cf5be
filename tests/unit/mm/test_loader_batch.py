"""The loader's mapping of an exec's images: in two batched stops, and the same mappings
one call at a time when no batch can be made or one of its calls fails."""

from __future__ import annotations

import errno
from typing import List, Optional, Tuple

from sentry.loader import elf
from sentry.loader import loader as L

PROT_R, PROT_RX, PROT_RW = 1, 5, 3


def _image(etype: int, lent_at: int, segs: List[Tuple[int, int, int, int, int]],
           name: bytes) -> L.Image:
    """segs: (flags, offset, vaddr, filesz, memsz)"""
    loads = [elf.Segment(elf.PT_LOAD, f, o, v, fs, ms, 0x1000) for f, o, v, fs, ms in segs]
    info = elf.ElfInfo(etype, loads[0].vaddr, 64, 56, len(loads), loads, None)
    data = [b"\x01" * s.filesz for s in loads]
    return L.Image(name, info, data, -1, ("dev", name.decode()), lent_at)


# PF_R = 4, PF_W = 2, PF_X = 1: a program with text, rodata and data + bss (the data
# segment's file part ends inside a page, so padzero writes the rest of that page)
PROG = [(4, 0, 0, 0x800, 0x800), (5, 0x1000, 0x1000, 0x2000, 0x2000),
        (6, 0x3000, 0x4000, 0x234, 0x5000)]
INTERP = [(4, 0, 0, 0x1000, 0x1000), (5, 0x1000, 0x1000, 0x3000, 0x3000),
          (6, 0x4000, 0x5000, 0x100, 0x2000)]


class FakeInjector(L.Injector):
    """Records every call and write; mmap with a hint of 0 picks 0x7f0000000000, a call
    from *fail_fd* fails with EBADF (a lent fd that is not the file), batches are refused
    when *batches* is False."""

    def __init__(self, batches: bool = True, fail_fd: int = -1) -> None:
        super().__init__(1, 0x7E0000001002, lambda pid: -1, self._one, self._write,
                         self._batch if batches else None)
        self.table = 0x7FFFF000
        self.fail_fd = fail_fd
        self.log: List[Tuple[str, Tuple[int, ...]]] = []
        self.writes: List[Tuple[int, int]] = []

    def _result(self, c: Tuple[int, ...]) -> int:
        nr, args = c[0], list(c[1:]) + [0] * (7 - len(c))
        if nr != L.SYS_MMAP:
            return 0
        if args[4] == self.fail_fd and args[4] >= 0:
            return -errno.EBADF
        return args[0] or 0x7F0000000000

    def _one(self, pid: int, gadget: int, nr: int, args: tuple) -> Tuple[int, int]:
        self.log.append(("one", (nr, *args)))
        if nr < 0:
            return 0, 0
        r = self._result((nr, *args))
        return (r & 0xFFFFFFFFFFFFFFFF), 0

    def _batch(self, pid: int, entry: int, table: int,
               calls: List[Tuple[int, ...]]) -> Tuple[List[int], int]:
        assert entry == 0x7E0000001040 and table % 64 == 0 and table < self.table
        out = []
        for c in calls:
            if out and (out[-1] & (1 << 63)):
                out.append(L.NOT_RUN)
                continue
            self.log.append(("batch", tuple(c)))
            out.append(self._result(tuple(c)) & 0xFFFFFFFFFFFFFFFF)
        self.log.append(("stop", ()))
        return out, 0

    def _write(self, addr: int, data: bytes) -> None:
        self.writes.append((addr, len(data)))

    def write(self, addr: int, data: bytes) -> None:  # the copy path's /proc/PID/mem
        self.writes.append((addr, len(data)))


def _maps(inj: FakeInjector) -> List[Tuple[int, ...]]:
    """The mmaps made, in order, whichever way."""
    return [c for kind, c in inj.log if kind != "stop" and c and c[0] == L.SYS_MMAP]


def _run(inj: FakeInjector, fail: Optional[int] = None) -> Tuple[List[int], dict]:
    prog = _image(elf.ET_DYN, L.LEND_MAIN, PROG, b"/bin/prog")
    interp = _image(elf.ET_DYN, L.LEND_INTERP, INTERP, b"/lib/ld.so")
    names: dict = {}
    mapped: list = []
    biases = L._map_images(inj, [(prog, L.ET_DYN_BASE), (interp, 0)], mapped, names)
    return biases, names


def test_two_stops_make_the_same_mappings_as_one_call_at_a_time():
    batched, slow = FakeInjector(), FakeInjector(batches=False)
    b1, n1 = _run(batched)
    b2, n2 = _run(slow)
    assert b1 == b2 == [L.ET_DYN_BASE, 0x7F0000000000]
    assert n1 == n2 == {("dev", "/bin/prog"): "/bin/prog", ("dev", "/lib/ld.so"): "/lib/ld.so"}
    # the same mmaps (both reservations come first when batched: the second batch needs
    # both addresses)
    assert sorted(_maps(batched)) == sorted(_maps(slow))
    # two stops, no single call (not even the one leaving the exec's return path)
    assert [k for k, _ in batched.log].count("stop") == 2
    assert not [k for k, _ in batched.log if k == "one"]
    assert slow.log[0] == ("one", (-1,))
    # padzero of the data segments, after their mmaps, in both
    assert batched.writes == slow.writes == [(L.ET_DYN_BASE + 0x4234, 0x1000 - 0x234),
                                            (0x7F0000000000 + 0x5100, 0x1000 - 0x100)]


def test_a_failed_lent_mmap_maps_that_image_again_and_copies_it():
    inj = FakeInjector(fail_fd=L.LEND_INTERP)
    biases, names = _run(inj)
    assert biases == [L.ET_DYN_BASE, 0x7F0000000000]
    # the program from its fd; the interpreter tried once more from its fd, then copied
    assert names == {("dev", "/bin/prog"): "/bin/prog"}
    singles = [c for k, c in inj.log if k == "one"]
    assert singles[0][0] == L.SYS_MMAP and singles[0][5] == L.LEND_INTERP  # no (-1,)
    copied = [c for c in singles[1:] if c[0] == L.SYS_MMAP and c[5] == (1 << 64) - 1]
    assert [(c[1], c[2]) for c in copied] == [
        (0x7F0000000000, 0x1000), (0x7F0000001000, 0x3000), (0x7F0000005000, 0x2000)]
    assert (0x7F0000000000, 0x1000) in inj.writes


def test_a_failed_reservation_is_the_execs_error():
    class NoRoom(FakeInjector):
        def _result(self, c):
            return -errno.ENOMEM if c[0] == L.SYS_MMAP and c[1] == 0 else super()._result(c)

    for batches in (True, False):
        try:
            _run(NoRoom(batches=batches))
        except L.LinuxError as e:
            assert e.errno == errno.ENOMEM
        else:
            raise AssertionError("no error")


def test_no_table_no_batch():
    inj = FakeInjector()
    inj.table = 0
    _run(inj)
    assert "batch" not in [k for k, _ in inj.log]
