"""Invariant 5 (design §7): host kernel state is never served.

A root whose mount tree contains the host's /proc or /sys (the host's `/` in
`do` mode) must not let the sandbox read host processes through the gofer.
"""

from __future__ import annotations

import errno
from typing import Callable

import pytest

from gofer.client import GoferClient


@pytest.mark.parametrize("name", [b"proc", b"sys"])
def test_kernel_fs_under_a_root_is_refused(start_gofer: Callable, name: bytes) -> None:
    g = start_gofer(("/", True))
    c: GoferClient = g.client
    root, _ = c.attach(0)
    with pytest.raises(OSError) as e:
        c.walk(root, [name])
    assert e.value.errno == errno.EACCES
    with pytest.raises(OSError) as e:
        c.walk(root, [name, b"self"])
    assert e.value.errno == errno.EACCES


def test_ordinary_mount_crossing_still_works(start_gofer: Callable) -> None:
    # /usr and /etc are plain directories (or plain file systems): walks go on.
    g = start_gofer(("/", True))
    c: GoferClient = g.client
    root, _ = c.attach(0)
    got = c.walk(root, [b"usr", b"bin"])
    assert len(got) == 2


def test_kernel_fs_as_a_root_is_refused() -> None:
    from gofer.server import spawn

    pid, sock = spawn([("/proc", True)])
    try:
        c = GoferClient(sock)
        with pytest.raises(OSError):
            c.version()
            c.attach(0)
    finally:
        sock.close()
        import os
        os.waitpid(pid, 0)
