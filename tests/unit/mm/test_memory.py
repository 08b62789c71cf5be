"""TaskMemory.read_string_array (argv/envp at execve): strings and pointers across page
boundaries, each page copied once, the errors Linux gives."""

from __future__ import annotations

import errno
import struct

import pytest

from sentry.abi.linux.errors import LinuxError
from sentry.mm.memory import MAX_ARG_STRLEN, FakeMemory

BASE = 0x10000


class CountingMemory(FakeMemory):
    def __init__(self) -> None:
        super().__init__(size=8 * 4096, base=BASE)
        self.reads = 0

    def read(self, addr: int, n: int) -> bytes:
        self.reads += 1
        return super().read(addr, n)


def _place(mem: FakeMemory, ptrs_at: int, strings_at: int, strings: list) -> None:
    ptrs = []
    at = strings_at
    for s in strings:
        mem.write(at, s + b"\0")
        ptrs.append(at)
        at += len(s) + 1
    mem.write(ptrs_at, struct.pack(f"<{len(ptrs) + 1}Q", *ptrs, 0))


def test_strings_and_pointers_across_pages():
    mem = CountingMemory()
    strings = [b"A" * 3000, b"B" * 2000, b"", b"x=y"]
    # the pointer array straddles a page end; the second string crosses one
    _place(mem, BASE + 4096 - 12, BASE + 3 * 4096 - 500, strings)
    mem.reads = 0
    assert mem.read_string_array(BASE + 4096 - 12) == strings
    assert mem.reads <= 5  # each page once: 2 of pointers, 3 of strings
    assert mem.read_string_array(0) == []


def test_errors():
    mem = FakeMemory(size=4 * 4096, base=BASE)
    mem.write(BASE, struct.pack("<2Q", 0x1234, 0))
    with pytest.raises(LinuxError) as e:
        mem.read_string_array(BASE)  # a pointer to nothing
    assert e.value.errno == errno.EFAULT
    mem.write(BASE + 4 * 4096 - 3, b"abc")  # no NUL before the end of memory
    mem.write(BASE, struct.pack("<2Q", BASE + 4 * 4096 - 3, 0))
    with pytest.raises(LinuxError) as e:
        mem.read_string_array(BASE)
    assert e.value.errno == errno.EFAULT
    with pytest.raises(LinuxError) as e:
        mem.read_string_array(BASE + 4 * 4096 - 4)  # the array runs off the end
    assert e.value.errno == errno.EFAULT
    _place(mem, BASE, BASE + 64, [b"a" * 100, b"b" * 100])
    with pytest.raises(LinuxError) as e:
        mem.read_string_array(BASE, max_total=150)
    assert e.value.errno == errno.E2BIG


def test_longest_string():
    mem = FakeMemory(size=MAX_ARG_STRLEN + 3 * 4096, base=BASE)
    _place(mem, BASE, BASE + 4096, [b"s" * MAX_ARG_STRLEN])
    assert mem.read_string_array(BASE) == [b"s" * MAX_ARG_STRLEN]
    _place(mem, BASE, BASE + 4096, [b"s" * (MAX_ARG_STRLEN + 1)])
    with pytest.raises(LinuxError) as e:
        mem.read_string_array(BASE)
    assert e.value.errno == errno.ENAMETOOLONG
