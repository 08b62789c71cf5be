"""The structs mirrored between native/include/rt.h and the cffi cdef agree."""

from __future__ import annotations

import ctypes

from sentry._native import ffi  # type: ignore[import-not-found]


class _Event(ctypes.Structure):
    # Written from rt.h by hand: if either side changes, this test fails.
    _fields_ = [
        ("kind", ctypes.c_int32), ("err", ctypes.c_int32),
        ("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("nr", ctypes.c_int32),
        ("arch", ctypes.c_uint32), ("listener", ctypes.c_int32),
        ("ip", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6),
        ("wpid", ctypes.c_int32), ("wstatus", ctypes.c_int32),
        ("token", ctypes.c_uint64), ("events", ctypes.c_uint32), ("_pad2", ctypes.c_uint32),
    ]


def test_rt_event_layout() -> None:
    assert ffi.sizeof("struct rt_event") == ctypes.sizeof(_Event)
    for name, *_ in _Event._fields_:
        assert ffi.offsetof("struct rt_event", name) == getattr(_Event, name).offset, name


def test_user_regs_is_27_words() -> None:
    # rt_getregs copies struct user_regs_struct into uint64_t[27]; the C side
    # has a _Static_assert, this checks the Python index constants agree.
    from sentry.platform.hybrid import native as N

    assert (N.R15, N.ORIG_RAX, N.RIP, N.RSP, N.GS) == (0, 15, 16, 19, 26)
