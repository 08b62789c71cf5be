"""The master end of a pty (an open of ``/dev/ptmx`` or ``/dev/pts/ptmx``).

The master's own settings are a raw line (Linux gives the master tty ``c_lflag`` 0),
so it reads what the replica wrote (after the replica's output processing) and the
echoes, as they are.  Its writes are the replica's input.  Once every replica
description is closed, a read returns what is left and then fails with ``EIO``, and
poll reports ``POLLHUP``; writes are still taken (a reopened replica reads them).
Closing it hangs the replica up and removes ``/dev/pts/N``.
"""

from __future__ import annotations

import errno

from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.devpts.terminal import Terminal
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT, EVENT_PRI, WaitQueue
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable

_RDNORM, _WRNORM = 0x040, 0x100


class MasterFileDescription(FileDescription):
    """The master of one pty.

    :param on_release: called once the description's last reference went (the devpts
        instance frees the index and removes the node).
    """

    stream = True
    positional = False
    pollable = True

    def __init__(self, term: Terminal, vd: Any, inode: Any, flags: int,
                 on_release: Callable[[Terminal], None]) -> None:
        super().__init__(vd, inode, flags)
        self.term = term
        self._on_release = on_release

    def wait_queue(self) -> WaitQueue:
        return self.term.master_queue

    def _block(self, mask: int) -> None:
        if self.nonblocking:
            raise err(errno.EAGAIN)
        raise WouldBlock([(self.term.master_queue, mask)])

    def read(self, t: Any, n: int) -> bytes:
        term = self.term
        if n == 0:
            return b""
        if term.packet:
            if term.pktstatus:
                status, term.pktstatus = term.pktstatus, 0
                return bytes((status,))
            data = term.ld.read_output(n - 1)
            if data:
                return b"\0" + data
        else:
            data = term.ld.read_output(n)
            if data:
                return data
        if term.replica_closed:
            raise err(errno.EIO)
        self._block(EVENT_IN)
        raise AssertionError("unreachable")

    def unread(self, t: Any, data: bytes) -> None:
        if self.term.packet and data[:1] == b"\0":
            data = data[1:]
        self.term.ld.unread_output(data)

    def write(self, t: Any, data: bytes) -> int:
        term = self.term
        if not data:
            return 0
        k = 0 if term.master_stopped else term.ld.receive(data)
        if k == 0:
            self._block(EVENT_OUT)
        return k

    def readiness(self, mask: int) -> int:
        term = self.term
        r = 0
        if term.ld.obuf:
            r |= EVENT_IN | _RDNORM
        if term.packet and term.pktstatus:
            r |= EVENT_IN | _RDNORM | EVENT_PRI
        if term.ld.input_room() > 0 and not term.master_stopped:
            r |= EVENT_OUT | _WRNORM
        if term.replica_closed:
            r |= EVENT_HUP
        return r & (mask | EVENT_HUP | EVENT_ERR)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        return self.term.ioctl(t, self, cmd, arg, master=True)

    def fdinfo(self) -> bytes:
        # Linux's pty master shows its index (tty-index) in fdinfo.
        return b"tty-index:\t%d\n" % self.term.index

    def release(self) -> None:
        self.term.hangup()
        self._on_release(self.term)

