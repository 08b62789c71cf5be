"""The line discipline of a pty (Linux's ``n_tty``), without the kernel around it.

A :class:`LineDiscipline` holds one terminal's settings and both directions of its data:

- *input* (master writes, replica reads): the master's bytes wait in :attr:`flip`
  (the tty flip buffer, at most :data:`FLIP_MAX` bytes) until the replica's read buffer
  (:attr:`rbuf`, at most :data:`N_TTY_BUF_SIZE` - 1 bytes, as ``n_tty``) has room; each
  byte is processed on the way (``ISTRIP``, ``ICRNL``/``INLCR``/``IGNCR``, ``IXON``
  start/stop, ``ISIG`` signal characters, canonical editing with ``VERASE``/``VKILL``/
  ``VWERASE``/``VLNEXT``/``VREPRINT`` and the line ends ``\\n``/``VEOL``/``VEOL2``/
  ``VEOF``, echo with ``ECHOCTL``/``ECHOE``/``ECHOK``/``ECHOKE``/``ECHONL``/``ECHOPRT``);
- *output* (replica writes and echoes, master reads): bytes after output processing
  (``OPOST``: ``ONLCR``, ``OCRNL``, ``ONOCR``, ``ONLRET``, ``OLCUC``, ``XTABS``) in
  :attr:`obuf`, at most :data:`OUT_MAX` bytes; echoes that do not fit wait in
  :attr:`echo_pending` (at most :data:`N_TTY_BUF_SIZE`).

Canonical lines: :attr:`rflags` marks, byte for byte, the ends of complete lines in
:attr:`rbuf`; ``VEOF`` ends a line as a marked NUL that a read drops (``__DISABLED_CHAR``),
so ``^D`` at the start of a line reads as end of file.  A line holds at most 4095 bytes
plus its end; past that, as ``n_tty``, each new byte replaces the last one.

Every bound above is Linux's, so a workload cannot make the sentry hold more than
~70 KiB per direction and pty.  Nothing here blocks: callers see what fits and park.

The owner supplies :attr:`on_signal` (``ISIG``: the signal for the foreground process
group) and :attr:`on_flush` (``ISIG`` without ``NOFLSH`` discarded the input and what
the master had not read yet: packet mode reports it).  Single-threaded, no locks.
"""

from __future__ import annotations

import time

from sentry.abi.linux import tty as T

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, Optional

#: n_tty's read buffer (a canonical line holds at most N_TTY_BUF_SIZE - 1 bytes).
N_TTY_BUF_SIZE = 4096
#: The tty layer's flip buffer limit per port (TTYB_DEFAULT_MEM_LIMIT).
FLIP_MAX = 65536
#: What the replica's writes and echoes may queue for the master.
OUT_MAX = 65536
#: A master read returns at most what n_tty's read buffer holds.
MASTER_READ_MAX = N_TTY_BUF_SIZE - 1

SIGINT, SIGQUIT, SIGTSTP = 2, 3, 20

_INPUT_PROCESSING = (T.ISTRIP | T.IUCLC | T.IXON | T.ICRNL | T.INLCR | T.IGNCR | T.PARMRK
                     | T.IXANY)
#: Bytes output processing may change or count differently (the control characters and
#: DEL) as 0, the others as 1: a write's are found by one translate and finds (no re).
_OUTPUT_SPECIAL = bytes(0 if b < 0x20 or b == 0x7F else 1 for b in range(256))
_UTF8_CONT = bytes(range(0x80, 0xC0))


def iscntrl(c: int) -> bool:
    """The kernel's ``iscntrl`` (lib/ctype.c: 0-31 and 127; 128-159 are nothing)."""
    return c < 32 or c == 127


def isalnum(c: int) -> bool:
    """The kernel's ``isalnum`` on Latin-1 (lib/ctype.c)."""
    if c < 128:
        return chr(c).isalnum()
    return c >= 192 and c not in (215, 247)


class LineDiscipline:
    """``n_tty`` for one pty; see the module docstring."""

    def __init__(self) -> None:
        self.termios = T.Termios()
        # Input: raw bytes from the master, then the replica's read buffer.
        self.flip = bytearray()
        self.rbuf = bytearray()
        self.rflags = bytearray()  # 1 at the end of each complete canonical line
        self.push = False           # the last line end came from switching to ICANON
        self.line_partly_read = False  # a read took part of the first line already
        self.lnext = False
        self._processing = False
        self.erasing = False        # ECHOPRT: inside "\...": a "/" closes it
        # Output towards the master.
        self.obuf = bytearray()
        self.echo_pending = bytearray()
        self.column = 0
        self.canon_column = 0
        self.stopped = False        # output stopped (IXON ^S, TCOOFF)
        self.last_input = 0.0       # monotonic time of the last byte into rbuf (VTIME)
        self.on_signal: Callable[[int], None] = lambda sig: None
        self.on_flush: Callable[[], None] = lambda: None
        #: Called when output (or echo) was queued for the master, and when input room
        #: appeared or input became readable: the owner notifies wait queues.
        self.on_output: Callable[[], None] = lambda: None
        self.on_input: Callable[[], None] = lambda: None

    # -- flags ---------------------------------------------------------------
    @property
    def icanon(self) -> bool:
        return bool(self.termios.lflag & T.ICANON)

    def _l(self, flag: int) -> bool:
        return bool(self.termios.lflag & flag)

    def _i(self, flag: int) -> bool:
        return bool(self.termios.iflag & flag)

    def _o(self, flag: int) -> bool:
        return bool(self.termios.oflag & flag)

    def _cc(self, i: int) -> int:
        """Control character *i*; ``-1`` when disabled (``_POSIX_VDISABLE`` is 0)."""
        c = self.termios.cc[i]
        return c if c else -1

    # -- settings --------------------------------------------------------------
    def set_termios(self, new: T.Termios) -> None:
        """``TCSETS``: switching ``ICANON`` re-reads the buffer as ``n_tty_set_termios``
        does (on: what is buffered becomes one complete line; off: all of it readable)."""
        old = self.termios
        self.termios = new
        if (old.lflag ^ new.lflag) & (T.ICANON | T.EXTPROC):
            self.rflags = bytearray(len(self.rbuf))
            self.line_partly_read = False
            self.push = False
            if new.lflag & T.ICANON and self.rbuf:
                self.rflags[-1] = 1
                self.push = True
            self.erasing = False
            self.lnext = False
        if old.iflag & T.IXON and not new.iflag & T.IXON and self.stopped:
            self.start_output()
        self.process_input()
        self.on_input()

    # -- input (master -> replica) ---------------------------------------------
    def input_room(self) -> int:
        """How many bytes a master write may queue now (``pty_write_room``)."""
        return FLIP_MAX - len(self.flip)

    def receive(self, data: bytes) -> int:
        """A master write: queue what fits and process it; returns the count taken."""
        k = min(len(data), self.input_room())
        if k:
            self.flip += data[:k]
            self.process_input()
            self.on_input()
        return k

    def process_input(self) -> None:
        """Move bytes from the flip buffer into the read buffer while there is room
        (``n_tty_receive_buf_common``)."""
        if self._processing:
            return  # a flush inside the loop: the loop goes on with the room it made
        self._processing = True
        try:
            self._process_input()
        finally:
            self._processing = False
        self._flush_echoes()

    def _process_input(self) -> None:
        while self.flip:
            room = N_TTY_BUF_SIZE - len(self.rbuf) - 1
            if self._i(T.PARMRK):
                room = (room + 2) // 3 - 1 if room > 0 else room
            if room <= 0:
                # A canonical line that fills the buffer: keep taking bytes so that
                # erase and the line end still work; each replaces the last one.
                overflow = self.icanon and 1 not in self.rflags
                if not overflow:
                    break
                if room < 0:
                    del self.rbuf[-1:]
                    del self.rflags[-1:]
                room = 1
            chunk = bytes(self.flip[:room])
            del self.flip[:room]
            if self._raw_input():
                self.rbuf += chunk
                self.rflags += bytes(len(chunk))
                self.last_input = time.monotonic()
                continue
            for c in chunk:
                self._receive_char(c)
            self._flush_echoes()

    def _raw_input(self) -> bool:
        """No input processing at all (``cfmakeraw``): bytes go in as they are."""
        return (not self.lnext and not self.termios.lflag & (T.ISIG | T.ICANON | T.ECHO)
                and not self.termios.iflag & _INPUT_PROCESSING)

    def _receive_char(self, c: int) -> None:
        tio = self.termios
        if tio.iflag & T.ISTRIP:
            c &= 0x7F
        if tio.iflag & T.IUCLC and tio.lflag & T.IEXTEN and 65 <= c <= 90:
            c += 32
        if self.lnext:
            self.lnext = False
            self._ordinary(c)
        elif c:
            self._special(c)
        else:
            self._ordinary(c)

    def _ordinary(self, c: int, raw_newline: bool = False) -> None:
        """``n_tty_receive_char``: echo and queue a byte without special meaning.

        :param raw_newline: a ``\\r`` that ``ICRNL`` made a newline outside canonical
            mode: echoed as a newline, not as ``^J``.
        """
        if self.stopped and self._i(T.IXON) and self._i(T.IXANY):
            self.start_output()
        if self._l(T.ECHO):
            self._finish_erasing()
            if raw_newline and c == 10:
                self._echo_raw(b"\n")
            else:
                if self._at_line_start():
                    self.canon_column = self.column
                self._echo_char(c)
        if c == 0o377 and self._i(T.PARMRK):
            self._put(c)
        self._put(c)

    def _special(self, c: int) -> None:
        """``n_tty_receive_char_special`` (a byte that may mean something; not NUL,
        which stands for a disabled character)."""
        cc = self._cc
        orig = c
        if self._i(T.IXON):
            if c == cc(T.VSTART):
                self.start_output()
                return
            if c == cc(T.VSTOP):
                self.stop_output()
                return
        if self._l(T.ISIG):
            sig = {cc(T.VINTR): SIGINT, cc(T.VQUIT): SIGQUIT, cc(T.VSUSP): SIGTSTP}.get(c)
            if sig is not None:
                self._isig(sig, c)
                return
        if self.stopped and self._i(T.IXON) and self._i(T.IXANY):
            self.start_output()
        if c == 13:
            if self._i(T.IGNCR):
                return
            if self._i(T.ICRNL):
                c = 10
        elif c == 10 and self._i(T.INLCR):
            c = 13
        if self.icanon:
            iexten = self._l(T.IEXTEN)
            if c == cc(T.VERASE) or c == cc(T.VKILL) or (c == cc(T.VWERASE) and iexten):
                self._eraser(c)
                return
            if c == cc(T.VLNEXT) and iexten:
                self.lnext = True
                if self._l(T.ECHO):
                    self._finish_erasing()
                    if self._l(T.ECHOCTL):
                        self._echo_raw(b"^\b")
                return
            if c == cc(T.VREPRINT) and self._l(T.ECHO) and iexten:
                start = self._line_start()
                self._finish_erasing()
                self._echo_char(c)
                self._echo_raw(b"\n")
                for x in self.rbuf[start:]:
                    self._echo_char(x)
                return
            if c == 10:
                if self._l(T.ECHO) or self._l(T.ECHONL):
                    self._echo_raw(b"\n")
                self._end_line(c)
                return
            if c == cc(T.VEOF):
                self._end_line(0)
                return
            if c == cc(T.VEOL) or (c == cc(T.VEOL2) and iexten):
                if self._l(T.ECHO):
                    if self._at_line_start():
                        self.canon_column = self.column
                    self._echo_char(c)
                if c == 0o377 and self._i(T.PARMRK):
                    self._put(c)
                self._end_line(c)
                return
        self._ordinary(c, raw_newline=orig == 13)

    def _put(self, c: int, end: bool = False) -> None:
        self.rbuf.append(c)
        self.rflags.append(1 if end else 0)
        self.last_input = time.monotonic()

    def _end_line(self, c: int) -> None:
        self._put(c, end=True)

    def _line_start(self) -> int:
        """Index in :attr:`rbuf` where the line being edited starts (canon_head)."""
        i = self.rflags.rfind(1)
        return i + 1

    def _at_line_start(self) -> bool:
        return self._line_start() == len(self.rbuf)

    def _isig(self, sig: int, c: int) -> None:
        """A signal character: signal the foreground group; flush unless ``NOFLSH``."""
        self.on_signal(sig)
        if not self._l(T.NOFLSH):
            self.echo_pending.clear()
            self.flush_output()
            self.flush_input()
            self.on_flush()
        if self._i(T.IXON):
            self.start_output()
        if self._l(T.ECHO):
            self._echo_char(c)

    def _eraser(self, c: int) -> None:
        """``VERASE``/``VWERASE``/``VKILL`` in canonical mode (n_tty's ``eraser``)."""
        start = self._line_start()
        if len(self.rbuf) == start:
            return
        cc = self._cc
        echo = self._l(T.ECHO)
        if c == cc(T.VERASE):
            kind = "erase"
        elif c == cc(T.VWERASE):
            kind = "werase"
        else:
            if not echo:
                self._truncate(start)
                return
            if not (self._l(T.ECHOK) and self._l(T.ECHOKE) and self._l(T.ECHOE)):
                self._truncate(start)
                self._finish_erasing()
                self._echo_char(c)
                if self._l(T.ECHOK):
                    self._echo_raw(b"\n")
                return
            kind = "kill"
        utf8 = self._i(T.IUTF8)
        seen_alnums = 0
        while len(self.rbuf) > start:
            head = len(self.rbuf)
            while True:
                head -= 1
                ch = self.rbuf[head]
                if not (utf8 and (ch & 0xC0) == 0x80) or head == start:
                    break
            if utf8 and (ch & 0xC0) == 0x80:
                break  # do not erase part of a character
            if kind == "werase":
                if isalnum(ch) or ch == 95:
                    seen_alnums += 1
                elif seen_alnums:
                    break
            erased = bytes(self.rbuf[head:])
            self._truncate(head)
            if echo:
                self._echo_erase(ch, erased, kind, start)
            if kind == "erase":
                break
        if len(self.rbuf) == start and echo:
            self._finish_erasing()

    def _echo_erase(self, ch: int, erased: bytes, kind: str, start: int) -> None:
        if self._l(T.ECHOPRT):
            if not self.erasing:
                self._echo_raw(b"\\")
                self.erasing = True
            self._echo_char(ch)
            for x in erased[1:]:
                self._echo_raw(bytes((x,)))
                self.column = max(0, self.column - 1)
        elif kind == "erase" and not self._l(T.ECHOE):
            self._echo_char(self.termios.cc[T.VERASE])
        elif ch == 9:
            # Columns the line used since its start or the previous tab.
            n, after_tab = 0, False
            for x in reversed(self.rbuf[start:]):
                if x == 9:
                    after_tab = True
                    break
                if iscntrl(x):
                    if self._l(T.ECHOCTL):
                        n += 2
                elif not (self._i(T.IUTF8) and (x & 0xC0) == 0x80):
                    n += 1
            if not after_tab:
                n += self.canon_column
            back = 8 - (n & 7)
            self._echo_out(b"\b" * back)
            self.column = max(0, self.column - back)
        else:
            if iscntrl(ch) and self._l(T.ECHOCTL):
                self._echo_raw(b"\b \b")
            if not iscntrl(ch) or self._l(T.ECHOCTL):
                self._echo_raw(b"\b \b")

    def _truncate(self, n: int) -> None:
        del self.rbuf[n:]
        del self.rflags[n:]

    def _finish_erasing(self) -> None:
        if self.erasing:
            self._echo_raw(b"/")
            self.erasing = False

    # -- echo ----------------------------------------------------------------
    def _echo_char(self, c: int) -> None:
        """``echo_char``: a control character as ``^X`` with ``ECHOCTL`` (not tab)."""
        if self._l(T.ECHOCTL) and iscntrl(c) and c != 9:
            self._echo_out(bytes((94, c ^ 0o100)))
            self.column += 2
        else:
            self._echo_raw(bytes((c,)))

    def _echo_raw(self, data: bytes) -> None:
        """Echo bytes through output processing (``process_echoes``)."""
        if self.termios.oflag & T.OPOST:
            data = self._opost(data)
        self._echo_out(data)

    def _echo_out(self, data: bytes) -> None:
        self.echo_pending += data
        if len(self.echo_pending) > N_TTY_BUF_SIZE:
            del self.echo_pending[: len(self.echo_pending) - N_TTY_BUF_SIZE]

    def _flush_echoes(self) -> None:
        """Move pending echoes to the master's side as far as there is room."""
        if not self.echo_pending or self.stopped:
            return
        k = min(len(self.echo_pending), OUT_MAX - len(self.obuf))
        if k > 0:
            self.obuf += self.echo_pending[:k]
            del self.echo_pending[:k]
            self.on_output()

    # -- reading the input -------------------------------------------------------
    def input_available(self, for_poll: bool = False) -> int:
        """Bytes a replica read could take now (canonical: up to the first line end,
        0 if no line is complete); for poll, non-canonical ``VMIN`` counts
        (``input_available_p``)."""
        if self.icanon:
            i = self.rflags.find(1)
            return i + 1 if i >= 0 else 0
        n = len(self.rbuf)
        if for_poll:
            vmin, vtime = self.termios.cc[T.VMIN], self.termios.cc[T.VTIME]
            amt = vmin if vmin and not vtime else 1
            return n if n >= amt else 0
        return n

    def read_input(self, n: int) -> Optional[bytes]:
        """A canonical replica read: the bytes of (part of) the first complete line,
        its end-of-file marker dropped; ``None`` if no line is complete (the caller
        waits).  ``b""`` is end of file (``VEOF`` at the start of a line)."""
        while True:
            i = self.rflags.find(1)
            if i < 0:
                return None
            eof = self.rbuf[i] == 0 and not self.push
            take = min(n, i + 1)
            data = bytes(self.rbuf[:take])
            line_done = take == i + 1
            if line_done and eof:
                data = data[:-1]
            if line_done and eof and not data and self.line_partly_read:
                # The rest of a partly read line was only its EOF: skip it (eof_push).
                self._consume(take)
                self.line_partly_read = False
                continue
            self._consume(take)
            if line_done:
                self.push = False
                self.line_partly_read = False
            else:
                self.line_partly_read = True
                # A read that filled the buffer right before an EOF end skips it
                # (canon_skip_eof).
                if self.rflags[:1] == b"\x01" and self.rbuf[0] == 0 and not self.push:
                    self._consume(1)
                    self.line_partly_read = False
            return data

    def read_raw(self, n: int) -> bytes:
        """A non-canonical replica read of up to *n* buffered bytes."""
        data = bytes(self.rbuf[:n])
        self._consume(len(data))
        return data

    def _consume(self, k: int) -> None:
        if not k:
            return
        del self.rbuf[:k]
        del self.rflags[:k]
        self.process_input()
        self.on_input()

    def unread_input(self, data: bytes) -> None:
        """Give back bytes a replica read could not copy out (they stay first)."""
        if data:
            self.rbuf[:0] = data
            self.rflags[:0] = bytes(len(data))
            self.on_input()

    def flush_input(self) -> None:
        """``TCIFLUSH`` on the replica (and ``ISIG``): drop the read buffer (n_tty's
        ``reset_buffer_flags``); bytes still in the flip buffer stay."""
        self.rbuf.clear()
        self.rflags.clear()
        self.push = self.line_partly_read = self.lnext = self.erasing = False
        self.process_input()
        self.on_input()

    def flush_pending_input(self) -> None:
        """``TCOFLUSH`` on the master: everything the replica has not read yet."""
        self.flip.clear()
        self.flush_input()

    # -- output (replica -> master) ---------------------------------------------
    def output_room(self) -> int:
        return 0 if self.stopped else OUT_MAX - len(self.obuf)

    def write_output(self, data: bytes) -> int:
        """A replica write: output processing into the master's queue as far as it
        fits; returns the count of *data* taken (``n_tty_write`` / ``pty_write``)."""
        self._flush_echoes()
        room = self.output_room()
        if room <= 0 or not data:
            return 0
        if not self.termios.oflag & T.OPOST:
            k = min(room, len(data))
            self.obuf += data[:k]
            self.on_output()
            return k
        taken = 0
        out = bytearray()
        n = len(data)
        marks = data.translate(_OUTPUT_SPECIAL)
        while taken < n:
            end = marks.find(0, taken)
            if end < 0:
                end = n
            if end > taken:
                # Printable bytes: copied as they are (OLCUC aside), one column each.
                seg = data[taken : min(end, taken + room - len(out))]
                if not seg:
                    break
                if self.termios.oflag & T.OLCUC:
                    seg = seg.upper()
                out += seg
                taken += len(seg)
                cols = len(seg)
                if self.termios.iflag & T.IUTF8:
                    cols -= len(seg) - len(seg.translate(None, _UTF8_CONT))
                self.column += cols
                if taken < end:
                    break
                continue
            piece = self._output_char(data[taken], room - len(out))
            if piece is None:
                break
            out += piece
            taken += 1
        if out:
            self.obuf += out
            self.on_output()
        return taken

    def _opost(self, data: bytes) -> bytes:
        out = bytearray()
        for c in data:
            piece = self._output_char(c, 1 << 30)
            if piece is not None:
                out += piece
        return bytes(out)

    def _output_char(self, c: int, space: int) -> Optional[bytes]:
        """``do_output_char``: the bytes for *c*, or ``None`` if they do not fit."""
        if space <= 0:
            return None
        o = self.termios.oflag
        if c == 10:
            if o & T.ONLRET:
                self.column = 0
            if o & T.ONLCR:
                if space < 2:
                    return None
                self.canon_column = self.column = 0
                return b"\r\n"
            self.canon_column = self.column
        elif c == 13:
            if o & T.ONOCR and self.column == 0:
                return b""
            if o & T.OCRNL:
                c = 10
                if o & T.ONLRET:
                    self.canon_column = self.column = 0
            else:
                self.canon_column = self.column = 0
        elif c == 9:
            spaces = 8 - (self.column & 7)
            if o & T.TABDLY == T.XTABS:
                if space < spaces:
                    return None
                self.column += spaces
                return b" " * spaces
            self.column += spaces
        elif c == 8:
            if self.column > 0:
                self.column -= 1
        elif not iscntrl(c):
            if o & T.OLCUC and 97 <= c <= 122:
                c -= 32
            if not (self.termios.iflag & T.IUTF8 and (c & 0xC0) == 0x80):
                self.column += 1
        return bytes((c,))

    def read_output(self, n: int) -> bytes:
        """A master read: up to *n* queued bytes (at most :data:`MASTER_READ_MAX`)."""
        data = bytes(self.obuf[: min(n, MASTER_READ_MAX)])
        if data:
            del self.obuf[: len(data)]
            self._flush_echoes()
            self.on_output()
        return data

    def unread_output(self, data: bytes) -> None:
        if data:
            self.obuf[:0] = data
            self.on_output()

    def flush_output(self) -> None:
        """Drop what the master has not read (``pty_flush_buffer`` of the replica)."""
        self.obuf.clear()
        self.on_output()

    # -- flow control --------------------------------------------------------------
    def stop_output(self) -> None:
        self.stopped = True

    def start_output(self) -> None:
        if self.stopped:
            self.stopped = False
            self._flush_echoes()
            self.on_output()
