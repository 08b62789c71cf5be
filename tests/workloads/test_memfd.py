"""memfd_create natively vs sandboxed: the /proc link text, writes, a MAP_SHARED mapping
seen through the fd and from a child, CLOEXEC, the seals of a memfd made without
MFD_ALLOW_SEALING, and a name over 249 bytes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_native, run_sandbox

SCRIPT = textwrap.dedent('''
    import fcntl, mmap, os
    fd = os.memfd_create("buf", os.MFD_CLOEXEC)
    print("link", os.readlink(f"/proc/self/fd/{fd}"))
    os.write(fd, b"hello memfd")
    os.ftruncate(fd, 4096)
    m = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
    m[0:5] = b"HELLO"
    print(os.pread(fd, 11, 0))
    print("size", os.fstat(fd).st_size, "cloexec", bool(fcntl.fcntl(fd, fcntl.F_GETFD) & 1))
    print("seals", fcntl.fcntl(fd, 1034))
    for call in (lambda: fcntl.fcntl(fd, 1033, 8), lambda: os.memfd_create("x" * 250),
                 lambda: fcntl.fcntl(0, 1034)):
        try:
            call()
        except OSError as e:
            print("error", e.errno)
    pid = os.fork()
    if pid == 0:
        m[5:6] = b"!"
        os._exit(0)
    os.waitpid(pid, 0)
    print(os.pread(fd, 6, 0))
''')


@pytest.mark.parametrize("python_only", [False, True], ids=["fast", "python-only"])
def test_memfd_differential(runsc_root: Path, tmp_path: Path, python_only: bool) -> None:
    script = tmp_path / "memfd.py"
    script.write_text(SCRIPT)
    argv = ["/usr/bin/python3", "-I", str(script)]
    native = run_native(argv, env=BASE_ENV, cwd=tmp_path)
    assert native.rc == 0, native.describe()
    assert "link /memfd:buf (deleted)" in native.stdout
    sandbox = run_sandbox(argv, root=runsc_root, env=BASE_ENV, cwd=tmp_path,
                          python_only=python_only)
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout
