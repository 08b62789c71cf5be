"""Terminal ABI: ioctl numbers, termios flags and structs (asm-generic/termbits.h,
asm-generic/ioctls.h, tty_ioctl(4)).

The kernel's ``struct termios`` is 36 bytes (four flag words, ``c_line``, 19 control
characters); ``struct termios2`` adds the input and output speeds (44 bytes); the old
``struct termio`` has 16-bit flags and 8 control characters.  glibc's own 60-byte
``struct termios`` never crosses the syscall boundary.
"""

from __future__ import annotations

import struct
from sentry.records import dataclass, field

# -- ioctl numbers ------------------------------------------------------------
TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TCGETA, TCSETA, TCSETAW, TCSETAF = 0x5405, 0x5406, 0x5407, 0x5408
TCSBRK, TCXONC, TCFLSH = 0x5409, 0x540A, 0x540B
TIOCEXCL, TIOCNXCL, TIOCSCTTY = 0x540C, 0x540D, 0x540E
TIOCGPGRP, TIOCSPGRP, TIOCOUTQ, TIOCSTI = 0x540F, 0x5410, 0x5411, 0x5412
TIOCGWINSZ, TIOCSWINSZ = 0x5413, 0x5414
TIOCGSOFTCAR, TIOCSSOFTCAR = 0x5419, 0x541A
FIONREAD = TIOCINQ = 0x541B
TIOCPKT, TIOCNOTTY, TIOCSETD, TIOCGETD = 0x5420, 0x5422, 0x5423, 0x5424
TCSBRKP, TIOCSBRK, TIOCCBRK, TIOCGSID = 0x5425, 0x5427, 0x5428, 0x5429
TCGETS2, TCSETS2, TCSETSW2, TCSETSF2 = 0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D
TIOCGPTN, TIOCSPTLCK, TIOCGDEV = 0x80045430, 0x40045431, 0x80045432
TIOCSIG, TIOCVHANGUP, TIOCGPKT, TIOCGPTLCK = 0x40045436, 0x5437, 0x80045438, 0x80045439
TIOCGEXCL, TIOCGPTPEER = 0x80045440, 0x5441
TIOCGLCKTRMIOS, TIOCSLCKTRMIOS = 0x5456, 0x5457

# TCFLSH / TCXONC arguments.
TCIFLUSH, TCOFLUSH, TCIOFLUSH = 0, 1, 2
TCOOFF, TCOON, TCIOFF, TCION = 0, 1, 2, 3

# TIOCPKT status bits (the byte before each master read in packet mode).
TIOCPKT_DATA, TIOCPKT_FLUSHREAD, TIOCPKT_FLUSHWRITE = 0, 1, 2
TIOCPKT_STOP, TIOCPKT_START = 4, 8

# -- c_iflag -------------------------------------------------------------------
IGNBRK, BRKINT, IGNPAR, PARMRK, INPCK, ISTRIP = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
INLCR, IGNCR, ICRNL, IUCLC, IXON, IXANY = 0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000
IXOFF, IMAXBEL, IUTF8 = 0o10000, 0o20000, 0o40000
# -- c_oflag -------------------------------------------------------------------
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
TABDLY, XTABS = 0o14000, 0o14000
# -- c_cflag -------------------------------------------------------------------
CBAUD, BOTHER, CSIZE, CS8, CREAD, CLOCAL = 0o10017, 0o10000, 0o60, 0o60, 0o200, 0o4000
CIBAUD_SHIFT = 16
B38400 = 0o17
# -- c_lflag -------------------------------------------------------------------
ISIG, ICANON, XCASE, ECHO, ECHOE, ECHOK = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
ECHONL, NOFLSH, TOSTOP, ECHOCTL, ECHOPRT, ECHOKE = 0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000
FLUSHO, PENDIN, IEXTEN, EXTPROC = 0o10000, 0o40000, 0o100000, 0o200000

# -- c_cc indices ----------------------------------------------------------------
VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN, VSWTC = range(8)
VSTART, VSTOP, VSUSP, VEOL, VREPRINT, VDISCARD, VWERASE, VLNEXT, VEOL2 = range(8, 17)
NCCS = 19

#: Speeds of the ``B0``..``B38400`` and ``B57600``..``B4000000`` codes (tty_baudrate.c).
_BAUD = [0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400,
         0, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000,
         2000000, 2500000, 3000000, 3500000, 4000000]


def baud_of(code: int, given: int) -> int:
    """The speed a ``CBAUD`` *code* stands for (``BOTHER``: the *given* one)."""
    if code == BOTHER:
        return given
    i = (code & 0o17) + (16 if code & BOTHER else 0)
    return _BAUD[i] if i < len(_BAUD) else 0


_TERMIOS = struct.Struct("<IIIIB19s")
_TERMIOS2 = struct.Struct("<IIIIB19sII")
_TERMIO = struct.Struct("<HHHHB8sx")
_WINSIZE = struct.Struct("<HHHH")
TERMIOS_SIZE, TERMIOS2_SIZE, TERMIO_SIZE = _TERMIOS.size, _TERMIOS2.size, _TERMIO.size
WINSIZE_SIZE = _WINSIZE.size


def _default_cc() -> bytearray:
    # INIT_C_CC (include/linux/tty.h): ^C ^\ ^? ^U ^D, TIME 0, MIN 1, SWTC 0, ^Q ^S ^Z,
    # EOL 0, ^R ^O ^W ^V, EOL2 0.
    return bytearray(b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00\x00\x00")


@dataclass
class Termios:
    """A terminal's settings (the kernel's ``struct ktermios``).

    The defaults are a new pty's (``tty_std_termios`` as the pty driver sets them):
    ``ICRNL|IXON``, ``OPOST|ONLCR``, ``B38400|CS8|CREAD``,
    ``ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN``, 38400 baud.
    """

    iflag: int = ICRNL | IXON
    oflag: int = OPOST | ONLCR
    cflag: int = B38400 | CS8 | CREAD
    lflag: int = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
    line: int = 0
    cc: bytearray = field(default_factory=_default_cc)
    ispeed: int = 38400
    ospeed: int = 38400

    @classmethod
    def locks_none(cls) -> "Termios":
        """A new terminal's ``termios_locked``: nothing locked."""
        return cls(0, 0, 0, 0, 0, bytearray(NCCS), 0, 0)

    def keep_locked(self, old: "Termios", locked: "Termios") -> "Termios":
        """These settings with what *locked* locks taken from *old* (``tty_set_termios``'s
        ``unset_locked_termios``: flag bits set in *locked*, a non-zero ``c_line`` or
        control character keep their old values; speeds are not locked)."""
        new = self.copy()
        for name in ("iflag", "oflag", "cflag", "lflag"):
            lk = getattr(locked, name)
            setattr(new, name, (getattr(self, name) & ~lk) | (getattr(old, name) & lk))
        if locked.line:
            new.line = old.line
        for i in range(NCCS):
            if locked.cc[i]:
                new.cc[i] = old.cc[i]
        return new

    def copy(self) -> "Termios":
        return Termios(self.iflag, self.oflag, self.cflag, self.lflag, self.line,
                       bytearray(self.cc), self.ispeed, self.ospeed)

    def pack(self) -> bytes:
        return _TERMIOS.pack(self.iflag, self.oflag, self.cflag, self.lflag, self.line,
                             bytes(self.cc))

    def pack2(self) -> bytes:
        return _TERMIOS2.pack(self.iflag, self.oflag, self.cflag, self.lflag, self.line,
                              bytes(self.cc), self.ispeed, self.ospeed)

    def pack_termio(self) -> bytes:
        return _TERMIO.pack(self.iflag & 0xFFFF, self.oflag & 0xFFFF, self.cflag & 0xFFFF,
                            self.lflag & 0xFFFF, self.line, bytes(self.cc[:8]))

    @classmethod
    def unpack(cls, raw: bytes) -> "Termios":
        """A ``struct termios``; the speeds follow the ``CBAUD`` codes (``set_termios``)."""
        i, o, c, lf, line, cc = _TERMIOS.unpack(raw)
        t = cls(i, o, c, lf, line, bytearray(cc))
        t._speeds_from_cflag(0, 0)
        return t

    @classmethod
    def unpack2(cls, raw: bytes) -> "Termios":
        """A ``struct termios2``: ``BOTHER`` codes keep the given speeds."""
        i, o, c, lf, line, cc, isp, osp = _TERMIOS2.unpack(raw)
        t = cls(i, o, c, lf, line, bytearray(cc))
        t._speeds_from_cflag(isp, osp)
        return t

    def with_termio(self, raw: bytes) -> "Termios":
        """``TCSETA``: the low 16 bits of each flag word and the first 8 characters
        replaced (the kernel's ``user_termio_to_kernel_termios``)."""
        i, o, c, lf, line, cc = _TERMIO.unpack(raw)
        t = self.copy()
        t.iflag = (t.iflag & 0xFFFF0000) | i
        t.oflag = (t.oflag & 0xFFFF0000) | o
        t.cflag = (t.cflag & 0xFFFF0000) | c
        t.lflag = (t.lflag & 0xFFFF0000) | lf
        t.line = line
        t.cc[:8] = cc
        t._speeds_from_cflag(0, 0)
        return t

    def _speeds_from_cflag(self, isp: int, osp: int) -> None:
        self.ospeed = baud_of(self.cflag & CBAUD, osp)
        icode = (self.cflag >> CIBAUD_SHIFT) & CBAUD
        self.ispeed = baud_of(icode, isp) if icode else self.ospeed


@dataclass
class Winsize:
    """``struct winsize`` (all zero on a new pty)."""

    row: int = 0
    col: int = 0
    xpixel: int = 0
    ypixel: int = 0

    def pack(self) -> bytes:
        return _WINSIZE.pack(self.row, self.col, self.xpixel, self.ypixel)

    @classmethod
    def unpack(cls, raw: bytes) -> "Winsize":
        return cls(*_WINSIZE.unpack(raw))
