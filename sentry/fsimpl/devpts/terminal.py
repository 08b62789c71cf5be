"""A pty pair's shared state, controlling terminals and job control (tty_io.c, tty_jobctrl.c).

A :class:`Terminal` is the replica tty of one pty: its line discipline, window size,
lock, open counts, and the session and foreground process group it is the
controlling terminal of.  The master and every replica description (``/dev/pts/N``,
``TIOCGPTPEER``, ``/dev/tty``) act on the same object, as Linux's pty ioctls on the
master act on the replica (``tty_pair_get_tty``).

Controlling terminals (:func:`ctty_of`): a table per kernel from session id to its
terminal, filled by ``TIOCSCTTY`` or by a session leader without one opening a replica
without ``O_NOCTTY``, and emptied when the terminal hangs up (its master closes: the
session leader gets ``SIGHUP`` and ``SIGCONT``), when the leader exits (``SIGHUP`` to
the foreground group) or gives it up (``TIOCNOTTY``: ``SIGHUP`` and ``SIGCONT`` to the
foreground group), or when the last replica description closes.  Linux keeps the
terminal per process and copies it at fork; keyed by session this is the same for
every process forked after the session got it.

Job control (:meth:`Terminal.job_control`, ``__tty_check_change``): a process of a
background group of the session that reads its controlling terminal, or writes it
with ``TOSTOP``, or changes its settings, gets its group signalled (``SIGTTIN``/
``SIGTTOU``) and the call restarts after the stop; ignored or blocked, the read fails
with ``EIO`` and the write goes on; an orphaned group gets ``EIO``.

Signals from the terminal carry ``SI_KERNEL`` and follow the pid-namespace init rule
(``Kernel.signal_group``).  Single-threaded, no locks.
"""

from __future__ import annotations

import errno
import os
import _signal as signal
import struct
import weakref

from sentry.abi.linux import tty as T
from sentry.abi.linux.capability import CAP_SYS_ADMIN
from sentry.abi.linux.errors import ERESTARTSYS, LinuxError, err
from sentry.fsimpl.devpts.line_discipline import FLIP_MAX, OUT_MAX, LineDiscipline
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT, EVENT_PRI, WaitQueue

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Set
    from sentry.vfs.dentry import Mount
    from sentry.vfs.inode import Inode

SI_KERNEL = 0x80
#: The replica's device major (UNIX98_PTY_SLAVE_MAJOR).
PTS_MAJOR = 136

# kernel → {session id: its controlling terminal}
_CTTYS: "weakref.WeakKeyDictionary[Any, Dict[int, Terminal]]" = weakref.WeakKeyDictionary()
# Session leaders whose exit the table watches (so the hook is added once).
_WATCHED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _cttys(kernel: Any) -> Dict[int, "Terminal"]:
    d = _CTTYS.get(kernel)
    if d is None:
        d = _CTTYS[kernel] = {}
    return d


def ctty_of(t: Any) -> Optional["Terminal"]:
    """The controlling terminal of *t*'s process (``current->signal->tty``; none for
    the sentry's own calls)."""
    if t is None:
        return None
    term = _cttys(t.kernel).get(t.tg.sid)
    if term is None or t.tg.tgid in term.detached:
        return None
    return term


def _status_bits(t: Any, field: str) -> int:
    try:
        return int(t.kernel.host_task_status(t.host_tid).get(field, "0"), 16)
    except (ValueError, AttributeError):
        return 0


def _encode_dev(major: int, minor: int) -> int:
    """``new_encode_dev``."""
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


class Terminal:
    """One pty pair; see the module docstring.

    :ivar index: N of ``/dev/pts/N``.
    :ivar inode: the replica's node in its devpts instance.
    :ivar mount: that instance's mount (``TIOCGPTPEER`` opens the replica there).
    """

    def __init__(self, kernel: Any, index: int, inode: "Inode", mount: "Mount") -> None:
        self.kernel = kernel
        self.index = index
        self.inode = inode
        self.mount = mount
        self.ld = LineDiscipline()
        self.ld.on_signal = self._isig
        self.ld.on_flush = self._isig_flushed
        self.ld.on_input = self._input_changed
        self.ld.on_output = self._output_changed
        self.winsize = T.Winsize()
        # TIOCSLCKTRMIOS: the settings bits TCSETS* cannot change (for both sides: Linux
        # uses the replica's for a master too)
        self.termios_locked = T.Termios.locks_none()
        self.locked = True
        self.exclusive = False
        self.master_queue = WaitQueue()
        self.replica_queue = WaitQueue()
        self.replica_opens = 0
        # TTY_OTHER_CLOSED of the master: every replica description closed (reads EIO).
        self.replica_closed = False
        self.hung_up = False        # the master closed
        self.master_stopped = False  # TCOOFF on the master
        self.packet = False          # TIOCPKT
        self.pktstatus = 0
        self.session: Optional[int] = None
        self.pgrp: Optional[int] = None
        # Processes of the session that gave the terminal up (TIOCNOTTY, not leaders).
        self.detached: Set[int] = set()

    # -- readiness ---------------------------------------------------------------
    def _input_changed(self) -> None:
        self.replica_queue.notify(EVENT_IN)
        self.master_queue.notify(EVENT_OUT)

    def _output_changed(self) -> None:
        self.master_queue.notify(EVENT_IN)
        self.replica_queue.notify(EVENT_OUT)

    def _isig_flushed(self) -> None:
        self._packet_status(T.TIOCPKT_FLUSHREAD | T.TIOCPKT_FLUSHWRITE)

    def _packet_status(self, bit: int) -> None:
        if self.packet:
            self.pktstatus |= bit
            self.master_queue.notify(EVENT_IN | EVENT_PRI)

    # -- signals -------------------------------------------------------------------
    def kill_pgrp(self, pgrp: Optional[int], sig: int) -> None:
        """``kill_pgrp(pgrp, sig, 1)``: every process of the group, ``SI_KERNEL``."""
        if pgrp is None:
            return
        for tg in self.kernel.process_group(pgrp):
            self.kernel.signal_group(tg, sig, code=SI_KERNEL)

    def _isig(self, sig: int) -> None:
        self.kill_pgrp(self.pgrp, sig)

    def job_control(self, t: Any, sig: int) -> None:
        """``__tty_check_change``: may *t* read (``SIGTTIN``) or change (``SIGTTOU``) this
        terminal now?

        :raises LinuxError: ``EIO`` (an ignored ``SIGTTIN``, an orphaned group),
            ``ERESTARTSYS`` (the group was signalled; the call restarts after the
            stop) or ``EINTR`` (a handler without ``SA_RESTART`` takes the signal).
        """
        if ctty_of(t) is not self or self.pgrp is None or t.tg.pgid == self.pgrp:
            return
        bit = 1 << (sig - 1)
        if (_status_bits(t, "SigIgn") | _status_bits(t, "SigBlk")) & bit:
            if sig == signal.SIGTTIN:
                raise err(errno.EIO)
            return
        if self.kernel.pgrp_orphaned(t.tg.pgid):
            raise err(errno.EIO)
        handled = _status_bits(t, "SigCgt") & bit
        for tg in self.kernel.process_group(t.tg.pgid):
            if tg is t.tg:
                # The caller's own thread, so that its call sees the signal on return.
                self.kernel.signal_task(t, sig, code=SI_KERNEL)
            else:
                self.kernel.signal_group(tg, sig, code=SI_KERNEL)
        if handled and sig not in t.tg.sa_restart:
            raise err(errno.EINTR)
        raise err(ERESTARTSYS)

    # -- controlling terminal ------------------------------------------------------
    def set_ctty(self, t: Any) -> None:
        """``__proc_set_tty``: the terminal of *t*'s session, its group in the foreground."""
        tg = t.tg
        self.session = tg.sid
        self.pgrp = tg.pgid
        self.detached.clear()
        _cttys(self.kernel)[tg.sid] = self
        if tg not in _WATCHED:
            _WATCHED.add(tg)
            ref = weakref.ref(tg)
            kernel = self.kernel
            tg.on_exit.append(lambda status: _leader_exited(kernel, ref()))

    def maybe_set_ctty(self, t: Any, flags: int, readable: bool) -> None:
        """``tty_open_proc_set_tty``: an open without ``O_NOCTTY`` by a session leader
        that has no controlling terminal takes a terminal that is no session's."""
        if flags & os.O_NOCTTY or not readable:
            return
        tg = t.tg
        if tg.sid == tg.tgid and ctty_of(t) is None and self.session is None:
            self.set_ctty(t)

    def _clear_session(self, sid: Optional[int]) -> None:
        """``session_clear_tty``: no process of *sid* has this terminal any more."""
        if sid is None:
            return
        table = _cttys(self.kernel)
        if table.get(sid) is self:
            del table[sid]

    def disassociate(self) -> None:
        """The terminal is no session's (hang-up, the leader's exit or ``TIOCNOTTY``)."""
        self._clear_session(self.session)
        self.session = self.pgrp = None
        self.detached.clear()

    def hangup(self) -> None:
        """The master closed (``tty_vhangup`` of the replica): the session leader gets
        ``SIGHUP`` and ``SIGCONT``; every replica description reads end of file and
        fails the rest with ``EIO``."""
        if self.hung_up:
            return
        self.hung_up = True
        sid = self.session
        if sid is not None and _cttys(self.kernel).get(sid) is self:
            leader = self.kernel.thread_groups.get(sid)
            if leader is not None and leader.sid == sid and not leader.zombie:
                self.kernel.signal_group(leader, signal.SIGHUP, code=SI_KERNEL)
                self.kernel.signal_group(leader, signal.SIGCONT, code=SI_KERNEL)
        self.disassociate()
        self.replica_queue.notify()
        self.master_queue.notify()

    # -- opens and closes ----------------------------------------------------------
    def open_replica(self, t: Any, flags: int) -> None:
        """Book an open of the replica (``pty_open``, ``tty_reopen``).

        :raises LinuxError: ``EIO`` (locked, or the master is gone), ``EBUSY``
            (``TIOCEXCL`` and no ``CAP_SYS_ADMIN``).
        """
        if self.hung_up or self.locked:
            raise err(errno.EIO)
        if self.exclusive and not (t is not None and t.creds.capable(CAP_SYS_ADMIN)):
            raise err(errno.EBUSY)
        self.replica_opens += 1
        self.replica_closed = False
        self.master_queue.notify()

    def close_replica(self) -> None:
        """The last reference to a replica description went."""
        self.replica_opens -= 1
        if self.replica_opens == 0:
            # tty_release: no process keeps a terminal no one has open.
            self._clear_session(self.session)
            if not self.hung_up:
                self.replica_closed = True
                self.master_queue.notify()

    # -- ioctls ----------------------------------------------------------------------
    def ioctl(self, t: Any, desc: Any, cmd: int, arg: int, master: bool) -> int:
        """tty_ioctl(4) on either side (generic ones, ``FIONBIO``…, are the VFS's).

        :raises LinuxError: ``ENOTTY`` for an unknown request; ``EIO`` on a replica
            that hung up.
        """
        if not master and self.hung_up:
            raise err(errno.ENOTTY if cmd == T.TIOCSPGRP else errno.EIO)
        ld = self.ld
        mem = t.mem
        if cmd in (T.TCGETS, T.TCGETS2, T.TCGETA):
            tio = ld.termios
            mem.write(arg, tio.pack() if cmd == T.TCGETS else
                      tio.pack2() if cmd == T.TCGETS2 else tio.pack_termio())
            return 0
        if cmd in (T.TCSETS, T.TCSETSW, T.TCSETSF, T.TCSETS2, T.TCSETSW2, T.TCSETSF2,
                   T.TCSETA, T.TCSETAW, T.TCSETAF):
            self.job_control(t, signal.SIGTTOU)
            if cmd in (T.TCSETS, T.TCSETSW, T.TCSETSF):
                new = T.Termios.unpack(mem.read(arg, T.TERMIOS_SIZE))
            elif cmd in (T.TCSETA, T.TCSETAW, T.TCSETAF):
                new = ld.termios.with_termio(mem.read(arg, T.TERMIO_SIZE))
            else:
                new = T.Termios.unpack2(mem.read(arg, T.TERMIOS2_SIZE))
            if cmd in (T.TCSETSF, T.TCSETSF2, T.TCSETAF):
                ld.flush_input()
            ld.set_termios(new.keep_locked(ld.termios, self.termios_locked))
            return 0
        if cmd == T.TIOCGLCKTRMIOS:
            mem.write(arg, self.termios_locked.pack())
            return 0
        if cmd == T.TIOCSLCKTRMIOS:
            if not t.creds.capable(CAP_SYS_ADMIN):
                raise err(errno.EPERM)
            self.termios_locked = T.Termios.unpack(mem.read(arg, T.TERMIOS_SIZE))
            return 0
        if cmd == T.TIOCGWINSZ:
            mem.write(arg, self.winsize.pack())
            return 0
        if cmd == T.TIOCSWINSZ:
            ws = T.Winsize.unpack(mem.read(arg, T.WINSIZE_SIZE))
            if ws != self.winsize:
                self.kill_pgrp(self.pgrp, signal.SIGWINCH)
                self.winsize = ws
            return 0
        if cmd in (T.TIOCGPGRP, T.TIOCGSID):
            if not master and ctty_of(t) is not self:
                raise err(errno.ENOTTY)
            if cmd == T.TIOCGSID:
                if self.session is None:
                    raise err(errno.ENOTTY)
                mem.write_i32(arg, self.session)
            else:
                mem.write_i32(arg, self.pgrp if self.pgrp is not None else 0)
            return 0
        if cmd == T.TIOCSPGRP:
            return self._tiocspgrp(t, arg)
        if cmd == T.TIOCSCTTY:
            return self._tiocsctty(t, desc, arg)
        if cmd == T.TIOCNOTTY:
            if master or ctty_of(t) is not self:
                raise err(errno.ENOTTY)
            if t.tg.sid == t.tg.tgid:
                pgrp = self.pgrp
                self.kill_pgrp(pgrp, signal.SIGHUP)
                self.kill_pgrp(pgrp, signal.SIGCONT)
                self.disassociate()
            else:
                self.detached.add(t.tg.tgid)
            return 0
        if cmd == T.FIONREAD:
            mem.write_i32(arg, self._inq(master))
            return 0
        if cmd == T.TIOCOUTQ:
            mem.write_i32(arg, 0)  # a pty keeps nothing in a driver queue
            return 0
        if cmd == T.TCFLSH:
            if not master:
                self.job_control(t, signal.SIGTTOU)
            return self._tcflsh(arg, master)
        if cmd == T.TCXONC:
            if not master:
                self.job_control(t, signal.SIGTTOU)
            return self._tcxonc(arg, master)
        if cmd in (T.TCSBRK, T.TCSBRKP):
            if not master:
                self.job_control(t, signal.SIGTTOU)
            return 0  # nothing waits to drain; a pty has no break to send
        if cmd in (T.TIOCSBRK, T.TIOCCBRK):
            return 0
        if cmd == T.TIOCEXCL:
            self.exclusive = True
            return 0
        if cmd == T.TIOCNXCL:
            self.exclusive = False
            return 0
        if cmd == T.TIOCGEXCL:
            mem.write_i32(arg, int(self.exclusive))
            return 0
        if cmd == T.TIOCGETD:
            mem.write_i32(arg, 0)  # N_TTY
            return 0
        if cmd == T.TIOCSETD:
            if mem.read_i32(arg) != 0:
                raise err(errno.EINVAL)
            return 0
        if cmd == T.TIOCGSOFTCAR:
            mem.write_i32(arg, int(bool(ld.termios.cflag & T.CLOCAL)))
            return 0
        if cmd == T.TIOCSSOFTCAR:
            new = ld.termios.copy()
            new.cflag = (new.cflag & ~T.CLOCAL) | (T.CLOCAL if mem.read_i32(arg) else 0)
            ld.set_termios(new)
            return 0
        if cmd == T.TIOCGDEV:
            mem.write(arg, struct.pack("<I", _encode_dev(PTS_MAJOR, self.index)))
            return 0
        if cmd == T.TIOCSTI:
            if ctty_of(t) is not self and not t.creds.capable(CAP_SYS_ADMIN):
                raise err(errno.EPERM)
            ch = mem.read(arg, 1)
            # Straight to the line discipline, as receive_buf: dropped when it is full.
            if master:
                if len(ld.obuf) < OUT_MAX:
                    ld.obuf += ch  # the master's own input: what the replica writes
                    self._output_changed()
            elif len(ld.flip) < FLIP_MAX:
                ld.flip[:0] = ch
                ld.process_input()
                self._input_changed()
            return 0
        if cmd == T.TIOCVHANGUP:
            if not t.creds.capable(CAP_SYS_ADMIN):
                raise err(errno.EPERM)
            self.hangup()
            return 0
        if master:
            return self._master_ioctl(t, cmd, arg)
        if cmd == T.TIOCGPTPEER:
            raise err(errno.EIO)  # ptm_open_peer: not a master
        raise err(errno.ENOTTY)

    def _inq(self, master: bool) -> int:
        """``TIOCINQ``: what a read could return (canonical: complete lines, their
        end-of-file markers not counted)."""
        ld = self.ld
        if master:
            return len(ld.obuf)
        if not ld.icanon:
            return len(ld.rbuf)
        end = ld.rflags.rfind(1) + 1
        eofs = sum(1 for i in range(end) if ld.rflags[i] and ld.rbuf[i] == 0)
        return end - eofs

    def _tiocspgrp(self, t: Any, arg: int) -> int:
        try:
            self.job_control(t, signal.SIGTTOU)
        except LinuxError as e:
            if e.errno == errno.EIO:
                raise err(errno.ENOTTY) from None
            raise
        pgrp = t.mem.read_i32(arg)
        if pgrp < 0:
            raise err(errno.EINVAL)
        if ctty_of(t) is not self or self.session != t.tg.sid:
            raise err(errno.ENOTTY)
        # Linux takes any pid in use and asks the session of its group, else of its
        # process (session_of_pgrp).
        members = self.kernel.process_group(pgrp) if pgrp else []
        owner = members[0] if members else self.kernel.thread_groups.get(pgrp)
        if owner is None or owner.reaped:
            raise err(errno.ESRCH)
        if owner.sid != t.tg.sid:
            raise err(errno.EPERM)
        self.pgrp = pgrp
        return 0

    def _tiocsctty(self, t: Any, desc: Any, arg: int) -> int:
        tg = t.tg
        leader = tg.sid == tg.tgid
        if leader and self.session == tg.sid:
            return 0
        if not leader or ctty_of(t) is not None:
            raise err(errno.EPERM)
        admin = t.creds.capable(CAP_SYS_ADMIN)
        if self.session is not None:
            if arg == 1 and admin:
                self._clear_session(self.session)
            else:
                raise err(errno.EPERM)
        if not desc.readable() and not admin:
            raise err(errno.EPERM)
        self.set_ctty(t)
        return 0

    def _tcflsh(self, arg: int, master: bool) -> int:
        if arg not in (T.TCIFLUSH, T.TCOFLUSH, T.TCIOFLUSH):
            raise err(errno.EINVAL)
        ld = self.ld
        if arg in (T.TCIFLUSH, T.TCIOFLUSH):
            if master:
                ld.flush_output()        # the master's input is the replica's output
            else:
                ld.flush_input()
                self._packet_status(T.TIOCPKT_FLUSHREAD)
        if arg in (T.TCOFLUSH, T.TCIOFLUSH):
            if master:
                ld.flush_pending_input()  # pty_flush_buffer: the replica's input
            else:
                ld.flush_output()
                self._packet_status(T.TIOCPKT_FLUSHWRITE)
        return 0

    def _tcxonc(self, arg: int, master: bool) -> int:
        ld = self.ld
        if arg == T.TCOOFF:
            if master:
                self.master_stopped = True
            else:
                ld.stop_output()
                self._packet_status(T.TIOCPKT_STOP)
        elif arg == T.TCOON:
            if master:
                self.master_stopped = False
                self.master_queue.notify(EVENT_OUT)
            else:
                ld.start_output()
                self._packet_status(T.TIOCPKT_START)
        elif arg in (T.TCIOFF, T.TCION):
            # Send the stop or start character to the other side (tty_send_xchar); the
            # master's own settings are a new pty's.
            if master:
                ch = T.Termios().cc[T.VSTOP if arg == T.TCIOFF else T.VSTART]
                ld.receive(bytes((ch,)))
            else:
                ch = ld.termios.cc[T.VSTOP if arg == T.TCIOFF else T.VSTART]
                if ch and len(ld.obuf) < OUT_MAX:
                    ld.obuf += bytes((ch,))
                    self._output_changed()
        else:
            raise err(errno.EINVAL)
        return 0

    def _master_ioctl(self, t: Any, cmd: int, arg: int) -> int:
        """The requests only a master knows (``pty_unix98_ioctl``)."""
        mem = t.mem
        if cmd == T.TIOCGPTN:
            mem.write_i32(arg, self.index)
            return 0
        if cmd == T.TIOCSPTLCK:
            self.locked = bool(mem.read_i32(arg))
            return 0
        if cmd == T.TIOCGPTLCK:
            mem.write_i32(arg, int(self.locked))
            return 0
        if cmd == T.TIOCPKT:
            on = bool(mem.read_i32(arg))
            if on and not self.packet:
                self.pktstatus = 0
            self.packet = on
            return 0
        if cmd == T.TIOCGPKT:
            mem.write_i32(arg, int(self.packet))
            return 0
        if cmd == T.TIOCSIG:
            if arg not in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
                raise err(errno.EINVAL)
            self.kill_pgrp(self.pgrp, arg)
            return 0
        if cmd == T.TIOCGPTPEER:
            return self.open_peer(t, arg & 0xFFFFFFFF)
        raise err(errno.ENOTTY)

    def open_peer(self, t: Any, flags: int) -> int:
        """``TIOCGPTPEER``: a new replica description at ``/dev/pts/N`` of the master's
        instance, without a path lookup (so without its permission check)."""
        from sentry.fsimpl.devpts.replica import ReplicaFileDescription
        from sentry.vfs.dentry import Dentry, VirtualDentry

        if not t.fdtable.free_below_limit():
            raise err(errno.EMFILE)
        root = self.mount.root
        dentry = root.children.get(b"%d" % self.index) or Dentry(b"%d" % self.index, root,
                                                               self.inode)
        desc = ReplicaFileDescription.open(t, self, VirtualDentry(self.mount, dentry),
                                           self.inode, flags)
        try:
            return t.fdtable.install(desc, cloexec=bool(flags & os.O_CLOEXEC))
        except Exception:
            desc.decref()
            raise


def _leader_exited(kernel: Any, tg: Any) -> None:
    """``disassociate_ctty(1)`` for a session leader that exits: ``SIGHUP`` to the
    foreground group of its terminal (a pty is not hung up), which is no session's."""
    if tg is None:
        return
    term = _cttys(kernel).get(tg.tgid)
    if term is None or term.session != tg.tgid:
        return
    term.kill_pgrp(term.pgrp, signal.SIGHUP)
    term.disassociate()


def live_terminals(kernel: Any) -> List[Terminal]:
    """The controlling terminals of the kernel's sessions (tests, debugging)."""
    return list(_cttys(kernel).values())
