"""The replica end of a pty (``/dev/pts/N``, ``TIOCGPTPEER``, ``/dev/tty``).

Reads follow ``n_tty_read``: canonical mode returns (part of) one complete line;
otherwise ``VMIN``/``VTIME`` decide (both 0: what is there, at once; ``VMIN`` only: at
least that many; ``VTIME`` only: a timeout for the first byte; both: an inter-byte
timer once a byte came).  After the master closed (hang-up) a read returns 0 and
everything else fails with ``EIO`` (``TIOCSPGRP``: ``ENOTTY``), as ``hung_up_tty_fops``.
Blocked calls park on the terminal's replica queue.
"""

from __future__ import annotations

import errno
import _signal as signal
import time
import weakref

from sentry.abi.linux import tty as T
from sentry.abi.linux.errors import WouldBlock, err
from sentry.fsimpl.devpts.terminal import Terminal
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT, WaitQueue
from sentry.vfs.file import FileDescription

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

_RDNORM, _WRNORM = 0x040, 0x100
_HUNG_UP = EVENT_IN | EVENT_OUT | EVENT_ERR | EVENT_HUP | _RDNORM | _WRNORM

# task → (the read call, its deadline): a VTIME-only read times out from its first run.
_DEADLINES: "weakref.WeakKeyDictionary[Any, Tuple[Any, float]]" = weakref.WeakKeyDictionary()


class ReplicaFileDescription(FileDescription):
    """One open of a pty's replica."""

    stream = True
    positional = False
    pollable = True

    def __init__(self, term: Terminal, vd: Any, inode: Any, flags: int) -> None:
        super().__init__(vd, inode, flags)
        self.term = term

    @classmethod
    def open(cls, t: Any, term: Terminal, vd: Any, inode: Any, flags: int
             ) -> "ReplicaFileDescription":
        """Open the replica of *term* at *vd* (a controlling terminal for a session
        leader without one, unless ``O_NOCTTY``).

        :raises LinuxError: see :meth:`Terminal.open_replica`.
        """
        term.open_replica(t, flags)
        desc = cls(term, vd, inode, flags)
        if t is not None:
            term.maybe_set_ctty(t, flags, desc.readable())
        return desc

    def wait_queue(self) -> WaitQueue:
        return self.term.replica_queue

    def _block(self, mask: int, deadline: Optional[float] = None) -> None:
        if self.nonblocking:
            raise err(errno.EAGAIN)
        raise WouldBlock([(self.term.replica_queue, mask)], deadline=deadline)

    def read(self, t: Any, n: int) -> bytes:
        term = self.term
        if term.hung_up:
            return b""
        term.job_control(t, signal.SIGTTIN)
        ld = term.ld
        if n == 0:
            return b""
        if ld.icanon:
            data = ld.read_input(n)
            if data is not None:
                return data
            self._block(EVENT_IN)
        vmin, vtime = ld.termios.cc[T.VMIN], ld.termios.cc[T.VTIME]
        avail = len(ld.rbuf)
        if vmin == 0 and vtime == 0:
            return ld.read_raw(n)
        if vmin == 0:
            if avail:
                _DEADLINES.pop(t, None)
                return ld.read_raw(n)
            if self.nonblocking:
                raise err(errno.EAGAIN)
            a = getattr(t, "syscall_args", None)
            prev = _DEADLINES.get(t)
            if prev is None or prev[0] is not a:
                prev = (a, time.monotonic() + vtime / 10)
                _DEADLINES[t] = prev
            if time.monotonic() >= prev[1]:
                _DEADLINES.pop(t, None)
                return b""
            self._block(EVENT_IN, prev[1])
        if avail >= min(vmin, n) or (avail and self.nonblocking):
            return ld.read_raw(n)
        if avail and vtime:
            deadline = ld.last_input + vtime / 10
            if time.monotonic() >= deadline:
                return ld.read_raw(n)
            self._block(EVENT_IN, deadline)
        self._block(EVENT_IN)
        raise AssertionError("unreachable")

    def unread(self, t: Any, data: bytes) -> None:
        ld = self.term.ld
        if data:
            ld.unread_input(data)
            if ld.icanon:
                ld.rflags[len(data) - 1] = 1

    def write(self, t: Any, data: bytes) -> int:
        term = self.term
        if term.hung_up:
            raise err(errno.EIO)
        if term.ld.termios.lflag & T.TOSTOP:
            term.job_control(t, signal.SIGTTOU)
        if not data:
            return 0
        k = term.ld.write_output(data)
        if k == 0:
            self._block(EVENT_OUT)
        return k

    def readiness(self, mask: int) -> int:
        term = self.term
        if term.hung_up:
            return _HUNG_UP & (mask | EVENT_HUP | EVENT_ERR)
        r = 0
        if term.ld.input_available(for_poll=True):
            r |= EVENT_IN | _RDNORM
        if term.ld.output_room() > 0:
            r |= EVENT_OUT | _WRNORM
        return r & (mask | EVENT_HUP | EVENT_ERR)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        return self.term.ioctl(t, self, cmd, arg, master=False)

    def release(self) -> None:
        self.term.close_replica()
