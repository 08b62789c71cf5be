"""devpts and the pty line discipline, without a tracee.

tests/syscalls/src/pty.c checks the behaviour against Linux; these pin down what it
cannot see: the bounds that keep a workload from growing sentry memory, number reuse,
the listing, and the hang-up of replicas when the master goes.
"""

import errno

import pytest

from sentry.abi.linux import tty as T
from sentry.abi.linux.errors import LinuxError, WouldBlock
from sentry.fsimpl.devpts import line_discipline as L
from sentry.fsimpl.devpts.devpts import DevptsFilesystem
from sentry.fsimpl.devpts.replica import ReplicaFileDescription
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry


def _errno(fn, *args):
    with pytest.raises(LinuxError) as ei:
        fn(*args)
    return ei.value.errno


def _fs(**kw):
    fs = DevptsFilesystem(**kw)
    mount = Mount(fs, Dentry(b"", None, fs.root_inode()), None, None)
    return fs, mount


def _open_master(fs, mount, flags=abi.O_RDWR):
    vd = VirtualDentry(mount, Dentry(b"ptmx", mount.root, fs.ptmx))
    return fs.ptmx.open(None, vd, flags)


def _open_replica(fs, mount, n, flags=abi.O_RDWR | abi.O_NOCTTY):
    inode = fs.root_inode().lookup(None, b"%d" % n)
    return inode.open(None, VirtualDentry(mount, Dentry(b"%d" % n, mount.root, inode)), flags)


def test_a_canonical_line_keeps_4095_bytes_and_its_end():
    ld = L.LineDiscipline()
    ld.termios.lflag &= ~T.ECHO
    assert ld.receive(b"q" * 4999 + b"\n") == 5000
    line = ld.read_input(10000)
    assert len(line) == 4096 and line.endswith(b"\n") and set(line[:-1]) == {ord("q")}


def test_input_is_bounded_by_the_flip_buffer():
    ld = L.LineDiscipline()
    ld.termios.lflag &= ~(T.ICANON | T.ECHO)
    taken = 0
    for _ in range(100):
        taken += ld.receive(b"x" * 10000)
    assert taken == L.FLIP_MAX + L.N_TTY_BUF_SIZE - 1
    assert ld.receive(b"more") == 0
    assert len(ld.rbuf) == L.N_TTY_BUF_SIZE - 1 and len(ld.flip) == L.FLIP_MAX
    # Reading makes room: the flip buffer moves on into the read buffer.
    assert len(ld.read_raw(100)) == 100
    assert ld.receive(b"yz") == 2


def test_output_and_echo_are_bounded():
    ld = L.LineDiscipline()
    assert ld.write_output(b"a" * (L.OUT_MAX + 10)) == L.OUT_MAX
    assert ld.write_output(b"b") == 0
    # Echoes that do not fit wait, at most a read buffer's worth.
    ld.receive(b"e" * 3000 + b"\n")
    ld.read_input(5000)
    ld.receive(b"f" * 3000 + b"\n")
    assert len(ld.echo_pending) <= L.N_TTY_BUF_SIZE
    assert len(ld.read_output(100)) == 100  # room again: echoes move on
    assert len(ld.obuf) == L.OUT_MAX


def test_onlcr_fast_path_counts_columns():
    ld = L.LineDiscipline()
    assert ld.write_output(b"abc\ndef") == 7
    assert bytes(ld.obuf) == b"abc\r\ndef" and ld.column == 3
    ld.termios.oflag |= T.XTABS
    ld.write_output(b"\tx")
    assert bytes(ld.obuf).endswith(b"def     x")


def test_signal_characters_call_back_and_flush():
    ld = L.LineDiscipline()
    sent = []
    ld.on_signal = sent.append
    ld.write_output(b"unread output")
    ld.receive(b"partial\x03")
    assert sent == [2] and not ld.rbuf
    assert bytes(ld.obuf) == b"^C"  # the output and the partial line's echo went
    ld.termios.lflag |= T.NOFLSH
    ld.receive(b"keep\x1c")
    assert sent == [2, 3] and bytes(ld.rbuf) == b"keep"


def test_numbers_are_reused_lowest_first_and_listed_newest_first():
    fs, mount = _fs()
    masters = [_open_master(fs, mount) for _ in range(3)]
    assert [m.term.index for m in masters] == [0, 1, 2]
    names = [n for n, _, _ in fs.root_inode().iterdir(None)]
    assert names == [b"2", b"1", b"0", b"ptmx"]
    masters[1].decref()
    assert fs.root_inode().lookup(None, b"1") is None
    again = _open_master(fs, mount)
    assert again.term.index == 1
    assert fs.root_inode().lookup(None, b"01") is None
    inode = fs.root_inode().lookup(None, b"2")
    assert inode.ino == 5 and inode.rdev == (136 << 8 | 2)


def test_the_number_of_ptys_is_bounded():
    fs, mount = _fs(max_ptys=2)
    _open_master(fs, mount)
    _open_master(fs, mount)
    assert _errno(_open_master, fs, mount) == errno.ENOSPC


def test_replicas_hang_up_when_the_master_goes():
    fs, mount = _fs()
    m = _open_master(fs, mount)
    assert _errno(_open_replica, fs, mount, 0) == errno.EIO  # locked
    m.term.locked = False
    r = _open_replica(fs, mount, 0)
    assert isinstance(r, ReplicaFileDescription)
    m.write(None, b"hi\n")
    assert r.read(None, 10) == b"hi\n"
    r.flags |= abi.O_NONBLOCK
    assert _errno(r.read, None, 10) == errno.EAGAIN
    r.flags &= ~abi.O_NONBLOCK
    with pytest.raises(WouldBlock):
        r.read(None, 10)
    m.decref()
    assert r.read(None, 10) == b""
    assert _errno(r.write, None, b"x") == errno.EIO
    assert r.readiness(0xFFFF) & 0x18 == 0x18  # POLLERR | POLLHUP
    assert fs.root_inode().lookup(None, b"0") is None


def test_master_reads_eio_once_the_replicas_are_gone_and_drained():
    fs, mount = _fs()
    m = _open_master(fs, mount)
    m.term.locked = False
    r = _open_replica(fs, mount, 0)
    r.write(None, b"bye")
    r.decref()
    assert m.read(None, 100) == b"bye"
    assert _errno(m.read, None, 100) == errno.EIO
    assert m.write(None, b"still taken") == 11


def test_termios_structs_round_trip():
    t = T.Termios()
    assert len(t.pack()) == 36 and len(t.pack2()) == 44 and len(t.pack_termio()) == 18
    back = T.Termios.unpack2(t.pack2())
    assert back == t
    t.cflag = (t.cflag & ~T.CBAUD) | 0o15  # B9600
    assert T.Termios.unpack(t.pack()).ospeed == 9600


class _Mem:
    def read(self, addr, n):
        return b"z" * n


class _Creds:
    def capable(self, cap):
        return True


class _Kernel:
    thread_groups: dict = {}

    def process_group(self, pgid):
        return []


class _TG:
    tgid = sid = pgid = 7


class _Task:
    def __init__(self):
        self.mem, self.creds, self.kernel, self.tg = _Mem(), _Creds(), _Kernel(), _TG()


def test_faked_input_is_bounded_too():
    fs, mount = _fs()
    m = _open_master(fs, mount)
    m.term.locked = False
    r = _open_replica(fs, mount, 0)
    t = _Task()
    m.term.ld.termios.lflag &= ~(T.ICANON | T.ECHO)
    for _ in range(L.FLIP_MAX + L.N_TTY_BUF_SIZE + 100):
        r.ioctl(t, T.TIOCSTI, 0)
        m.ioctl(t, T.TIOCSTI, 0)
    ld = m.term.ld
    assert len(ld.flip) == L.FLIP_MAX and len(ld.obuf) == L.OUT_MAX
    assert len(ld.rbuf) == L.N_TTY_BUF_SIZE - 1
