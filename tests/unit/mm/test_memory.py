"""TaskMemory.read_string_array (argv/envp at execve): strings and pointers across page
boundaries, each page copied once, the errors Linux gives.  Each case runs on the Python
reader (FakeMemory) and on the C one (HostMemory: rt_read_strv, reading this process's own
memory), which must agree."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
from typing import Callable, Iterator

import pytest

from sentry.abi.linux.errors import LinuxError
from sentry.mm.memory import MAX_ARG_STRLEN, FakeMemory, TaskMemory
from sentry.platform.hybrid.memory import HostMemory

PAGE = 4096


class CountingMemory(FakeMemory):
    def __init__(self, size: int) -> None:
        super().__init__(size=size, base=0x10000)
        self.reads = 0

    def read(self, addr: int, n: int) -> bytes:
        self.reads += 1
        return super().read(addr, n)


class LiveMemory(HostMemory):
    """*size* bytes of this process's memory, followed by an unreadable page; read through
    process_vm_readv as a workload's is."""

    def __init__(self, size: int) -> None:
        super().__init__(os.getpid())
        self.map = mmap.mmap(-1, size + PAGE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        assert libc.mprotect(self.base + size, PAGE, 0) == 0  # PROT_NONE: the end

    def write(self, addr: int, data: bytes) -> None:
        off = addr - self.base
        self.map[off:off + len(data)] = data


Memory = Callable[[int], TaskMemory]


@pytest.fixture(params=["python", "c"])
def memory(request: pytest.FixtureRequest) -> Iterator[Memory]:
    made: list = []

    def make(size: int) -> TaskMemory:
        m = CountingMemory(size) if request.param == "python" else LiveMemory(size)
        made.append(m)
        return m

    yield make
    for m in made:
        if isinstance(m, LiveMemory):
            m.map.close()


def _place(mem: TaskMemory, ptrs_at: int, strings_at: int, strings: list) -> None:
    ptrs = []
    at = strings_at
    for s in strings:
        mem.write(at, s + b"\0")
        ptrs.append(at)
        at += len(s) + 1
    mem.write(ptrs_at, struct.pack(f"<{len(ptrs) + 1}Q", *ptrs, 0))


def _errno(fn: Callable[[], object]) -> int:
    with pytest.raises(LinuxError) as e:
        fn()
    return e.value.errno


def test_strings_and_pointers_across_pages(memory: Memory) -> None:
    mem = memory(8 * PAGE)
    base = mem.base  # type: ignore[attr-defined]
    strings = [b"A" * 3000, b"B" * 2000, b"", b"x=y"]
    # the pointer array straddles a page end; the second string crosses one
    _place(mem, base + PAGE - 12, base + 3 * PAGE - 500, strings)
    if isinstance(mem, CountingMemory):
        mem.reads = 0
    assert mem.read_string_array(base + PAGE - 12) == strings
    if isinstance(mem, CountingMemory):
        assert mem.reads <= 5  # each page once: 2 of pointers, 3 of strings
    assert mem.read_string_array(0) == []
    _place(mem, base, base + 64, [])
    assert mem.read_string_array(base) == []


def test_many_strings(memory: Memory) -> None:
    """More than the C reader's first buffer (16 KiB): it asks again with a bigger one."""
    mem = memory(64 * PAGE)
    base = mem.base  # type: ignore[attr-defined]
    strings = [b"V%05d=" % i + b"v" * (i % 300) for i in range(1000)]
    _place(mem, base, base + 2 * PAGE, strings)
    assert sum(len(s) + 1 for s in strings) > 65536
    assert mem.read_string_array(base) == strings


def test_errors(memory: Memory) -> None:
    mem = memory(4 * PAGE)
    base = mem.base  # type: ignore[attr-defined]
    mem.write(base, struct.pack("<2Q", 0x1234, 0))
    assert _errno(lambda: mem.read_string_array(base)) == errno.EFAULT  # a pointer to nothing
    mem.write(base + 4 * PAGE - 3, b"abc")  # no NUL before the end of memory
    mem.write(base, struct.pack("<2Q", base + 4 * PAGE - 3, 0))
    assert _errno(lambda: mem.read_string_array(base)) == errno.EFAULT
    # the array runs off the end
    assert _errno(lambda: mem.read_string_array(base + 4 * PAGE - 4)) == errno.EFAULT
    _place(mem, base, base + 64, [b"a" * 100, b"b" * 100])
    assert _errno(lambda: mem.read_string_array(base, max_total=150)) == errno.E2BIG
    assert mem.read_string_array(base, max_total=218) == [b"a" * 100, b"b" * 100]
    assert _errno(lambda: mem.read_string_array(base, max_total=217)) == errno.E2BIG


def test_longest_string(memory: Memory) -> None:
    mem = memory(MAX_ARG_STRLEN + 3 * PAGE)
    base = mem.base  # type: ignore[attr-defined]
    _place(mem, base, base + PAGE, [b"s" * MAX_ARG_STRLEN])
    assert mem.read_string_array(base) == [b"s" * MAX_ARG_STRLEN]
    _place(mem, base, base + PAGE, [b"s" * (MAX_ARG_STRLEN + 1)])
    assert _errno(lambda: mem.read_string_array(base)) == errno.E2BIG  # as execve(2)
    assert _errno(lambda: mem.read_string_array(base, max_total=100)) == errno.E2BIG
    # too long is found before a fault past MAX_ARG_STRLEN, as Linux's strnlen_user
    mem.write(base + PAGE, b"s" * (MAX_ARG_STRLEN + 2 * PAGE))
    assert _errno(lambda: mem.read_string_array(base)) == errno.E2BIG
    # but a fault within it is a fault
    _place(mem, base, base + 3 * PAGE + MAX_ARG_STRLEN - 100, [b"t"])
    mem.write(base + 3 * PAGE + MAX_ARG_STRLEN - 100, b"t" * 100)
    assert _errno(lambda: mem.read_string_array(base)) == errno.EFAULT
