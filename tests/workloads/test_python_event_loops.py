"""Python's event loops on the sandbox's epoll, eventfd and timerfd (Debian's python3).

``selectors.DefaultSelector`` is an ``EpollSelector`` and ``asyncio`` runs on it, so these
scripts drive epoll from a real runtime: readiness of sockets and pipes, modify/unregister,
a wait woken by another thread, stream echo over a socketpair, timers, ``add_reader``, a
subprocess through pipes, a signal through asyncio's wakeup fd; ``os.eventfd`` and a timerfd
through ctypes. Each runs natively (pid 1 of a fresh pid namespace) and in the sandbox, with
the C fast path and without; stdout and the exit status must match.

Run: ``python3 -m pytest tests/workloads/test_python_event_loops.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_native

SYSTEM_PYTHON = "/usr/bin/python3"

SCRIPTS = {
    "selectors": """
        import os, selectors, socket, threading, time
        sel = selectors.DefaultSelector()
        print(type(sel).__name__)
        a, b = socket.socketpair()
        r, w = os.pipe()
        sel.register(a, selectors.EVENT_READ, "sock")
        sel.register(r, selectors.EVENT_READ, "pipe")
        print("idle", sel.select(0))
        b.send(b"x")
        os.write(w, b"y")
        print("ready", sorted(k.data for k, ev in sel.select(1)))
        a.recv(1)
        print("after recv", [k.data for k, ev in sel.select(0)])
        sel.modify(a, selectors.EVENT_READ | selectors.EVENT_WRITE, "sock-rw")
        print("writable", sorted((k.data, ev) for k, ev in sel.select(0)))
        sel.unregister(r)
        os.read(r, 1)
        sel.modify(a, selectors.EVENT_READ, "sock")
        threading.Timer(0.05, b.send, (b"later",)).start()
        t0 = time.monotonic()
        print("woken by a thread", [k.data for k, ev in sel.select(5)], time.monotonic() - t0 < 4)
        print("timeout", sel.select(0.05))
        b.close()
        print("peer closed", [(k.data, ev) for k, ev in sel.select(1)], a.recv(10), a.recv(10))
        sel.close()
        ev = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_SEMAPHORE)
        os.eventfd_write(ev, 3)
        print("eventfd", [os.eventfd_read(ev) for _ in range(3)])
        try:
            os.eventfd_read(ev)
        except BlockingIOError:
            print("eventfd empty: EAGAIN")
        ep = selectors.EpollSelector()
        ep.register(ev, selectors.EVENT_READ)
        threading.Timer(0.05, os.eventfd_write, (ev, 7)).start()
        print("eventfd woke epoll", len(ep.select(5)), os.eventfd_read(ev))
    """,
    "asyncio": """
        import asyncio, os, signal, socket

        async def echo(reader, writer):
            while data := await reader.read(100):
                writer.write(data.upper())
                await writer.drain()
            writer.close()

        async def main():
            loop = asyncio.get_running_loop()
            s1, s2 = socket.socketpair()
            server = asyncio.create_task(echo(*await asyncio.open_connection(sock=s1)))
            reader, writer = await asyncio.open_connection(sock=s2)
            for word in (b"hello", b"epoll", b"world"):
                writer.write(word)
                await writer.drain()
                print(await reader.read(100))
            writer.write(b"x" * 300000)
            await writer.drain()
            n = 0
            while n < 300000:
                n += len(await reader.read(65536))
            print("bulk", n)
            writer.write_eof()
            print("eof", await reader.read(100))
            await server
            writer.close()
            order = []
            loop.call_later(0.05, order.append, "b")
            loop.call_later(0.01, order.append, "a")
            await asyncio.sleep(0.1)
            print("timers", order)
            try:
                await asyncio.wait_for(asyncio.sleep(10), 0.05)
            except asyncio.TimeoutError:
                print("wait_for timed out")
            r, w = os.pipe()
            got = loop.create_future()
            loop.add_reader(r, lambda: got.set_result(os.read(r, 10)))
            loop.call_later(0.02, os.write, w, b"piped")
            print("reader", await got)
            loop.remove_reader(r)
            proc = await asyncio.create_subprocess_exec(
                "/bin/echo", "from child", stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            print("subprocess", out, proc.returncode)
            ev = asyncio.Event()
            loop.add_signal_handler(signal.SIGUSR1, ev.set)
            loop.call_later(0.02, os.kill, os.getpid(), signal.SIGUSR1)
            await asyncio.wait_for(ev.wait(), 5)
            print("signal handled")

        asyncio.run(main())
    """,
    "timerfd_ctypes": """
        import ctypes, os, select, struct, time
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.timerfd_create(1, os.O_NONBLOCK)  # CLOCK_MONOTONIC, TFD_NONBLOCK
        spec = struct.pack("qqqq", 0, 30_000_000, 0, 30_000_000)  # every 30 ms
        print("settime", libc.timerfd_settime(fd, 0, spec, None))
        ep = select.epoll()
        ep.register(fd, select.EPOLLIN)
        t0 = time.monotonic()
        n = 0
        while n < 5:
            for _ in ep.poll(5):
                n += struct.unpack("Q", os.read(fd, 8))[0]
        print("five expirations", n >= 5, 0.1 < time.monotonic() - t0 < 4)
        try:
            os.read(fd, 8)
        except BlockingIOError:
            print("nothing due: EAGAIN")
    """,
}


def _run(name: str, python_only: bool, sandbox, tmp_path) -> None:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} missing: install Debian's python3", pytrace=False)
    cmd = [SYSTEM_PYTHON, "-I", "-c", textwrap.dedent(SCRIPTS[name])]
    kw = {"env": dict(BASE_ENV), "cwd": str(tmp_path)}
    native = run_native(cmd, **kw)
    assert native.rc == 0 and native.stdout.strip(), native.describe()
    boxed = sandbox.do(cmd, python_only=python_only, timeout=60, **kw)
    assert (boxed.rc, boxed.stdout) == (native.rc, native.stdout), boxed.describe()


@pytest.mark.parametrize("python_only", [False, True], ids=["c-fast-path", "python-only"])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_python_event_loop_matches_native(name, python_only, sandbox, tmp_path):
    _run(name, python_only, sandbox, tmp_path)
