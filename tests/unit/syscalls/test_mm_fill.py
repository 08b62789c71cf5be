"""Filling a file mapping through ``/proc/PID/mem`` (sys_mm.fill_mem, host_task_exiting).

Invariant: the sentry never spins on a task's memory that is gone.  A task killed
after its traced ``mmap`` returned has no address space left; writing to its mem fd
then writes 0 bytes, for ever, and the loop that retried short writes kept the sentry
(and so the whole sandbox) busy without end.
"""

from __future__ import annotations

import ctypes
import os
import signal

import pytest

from sentry.syscalls.linux.sys_mm import fill_mem, host_task_exiting


@pytest.fixture
def procfd():
    fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    yield fd
    os.close(fd)


@pytest.fixture
def deadline():
    def expired(_sig, _frame):
        raise TimeoutError("fill_mem did not return")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_fills_own_memory() -> None:
    buf = ctypes.create_string_buffer(3 * 4096)
    data = bytes(range(256)) * 40
    fd = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
    try:
        fill_mem(fd, ctypes.addressof(buf), data)
    finally:
        os.close(fd)
    assert buf.raw[: len(data)] == data


def test_memory_of_an_exited_task_is_an_error_not_a_loop(procfd, deadline) -> None:
    buf = ctypes.create_string_buffer(4096)
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    fd = os.open(f"{pid}/mem", os.O_RDWR | os.O_CLOEXEC, dir_fd=procfd)
    try:
        assert not host_task_exiting(procfd, pid)
        os.kill(pid, signal.SIGKILL)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # a zombie: its memory is gone
        assert host_task_exiting(procfd, pid)
        with pytest.raises(OSError):
            fill_mem(fd, ctypes.addressof(buf), b"x" * 100)
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    assert host_task_exiting(procfd, pid)  # reaped: no such task


def test_a_write_of_nothing_is_an_error(monkeypatch, deadline) -> None:
    calls = []

    def nothing(fd: int, data: bytes, off: int) -> int:
        calls.append(off)
        return 0

    monkeypatch.setattr(os, "pwrite", nothing)
    with pytest.raises(OSError):
        fill_mem(-1, 0x1000, b"abc")
    assert calls == [0x1000]
