"""``O_ASYNC``: ``SIGIO`` to a file description's owner when it becomes ready.

fcntl(2) ``F_SETOWN``/``F_GETOWN`` (and ``F_SETOWN_EX``/``F_GETOWN_EX``), ioctl(2)
``FIOASYNC``, ``FIOSETOWN``/``SIOCSPGRP`` and ``FIOGETOWN``/``SIOCGPGRP``, and ``O_ASYNC``
through ``F_SETFL``.  The owner (a process, or a process group as a negative number) is
kept per open file description, as Linux keeps ``f_owner``.  While ``O_ASYNC`` is set and
there is an owner, a notification of the description's wait queue that concerns it (new
data, buffer space, hang-up, error: :func:`_reasons`) sends ``SIGIO`` to the owner, with
``si_code`` ``SI_KERNEL`` as Linux's default ``send_sigio`` does.  ``F_SETSIG`` picks
another signal (0: ``SIGIO`` again), which is then sent with Linux's ``SIGPOLL`` siginfo:
``si_code`` the reason (``POLL_IN`` for new data or a pipe's writers gone, ``POLL_OUT``
for buffer space, ``POLL_ERR``, ``POLL_PRI``, ``POLL_HUP``; one signal each), ``si_band``
the reason's poll bits and ``si_fd`` the fd ``O_ASYNC`` was turned on through, as
``fasync_helper`` keeps it.
"""

from __future__ import annotations

import errno
import _signal as signal
import struct
import weakref

from sentry.abi.linux.errors import err
from sentry.kernel.waiter import EVENT_ERR, EVENT_HUP, EVENT_IN, EVENT_OUT, EVENT_PRI
from sentry.vfs import abi

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional

SI_KERNEL = 0x80
SI_SIGIO = -5
#: Signals with si_codes of their own (sig_specific_sicodes but SIGPOLL): F_SETSIG's
#: signal says SI_SIGIO instead of POLL_* for them (SIGILL, SIGTRAP, SIGBUS, SIGFPE,
#: SIGSEGV, SIGCHLD, SIGSYS).
_OWN_CODES = frozenset((4, 5, 7, 8, 11, 17, 31))
F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP = 0, 1, 2
_EVENTS = EVENT_IN | EVENT_OUT | EVENT_PRI | EVENT_ERR | EVENT_HUP


#: The reasons send_sigio's callers give, (si_code, si_band) as fs/fcntl.c's band_table.
POLL_IN, POLL_OUT, POLL_MSG = (1, 0x041), (2, 0x304), (3, 0x441)
POLL_ERR, POLL_PRI, POLL_HUP = (4, 0x008), (5, 0x082), (6, 0x018)
_NSIG = 64


class _Async:
    __slots__ = ("owner", "owner_type", "key", "kernel", "signum", "fd", "__weakref__")

    def __init__(self) -> None:
        self.owner = 0  # F_SETOWN's value: pid > 0, -pgid < 0, 0: nobody
        self.owner_type = F_OWNER_PID
        self.key: Optional[int] = None
        self.kernel: Any = None
        self.signum = 0  # F_SETSIG's value: 0 is SIGIO without siginfo
        self.fd = -1  # the fd O_ASYNC was turned on through (si_fd)


_STATE: "weakref.WeakKeyDictionary[Any, _Async]" = weakref.WeakKeyDictionary()
_HOOK = "fasync"  # this module's key in FileDescription.release_hooks


def _state(d: Any) -> _Async:
    st = _STATE.get(d)
    if st is None:
        st = _STATE[d] = _Async()
    return st


def _groups(kernel: Any, owner: int) -> List[Any]:
    """The thread groups an owner names: a process (> 0) or a process group (< 0)."""
    if owner < 0:
        return list(kernel.process_group(-owner))
    tg = kernel.thread_groups.get(owner)
    return [tg] if tg is not None and not tg.reaped and not tg.zombie else []


def get_owner(d: Any) -> int:
    """``F_GETOWN``: the owner (0: none; a process group is negative)."""
    st = _STATE.get(d)
    return st.owner if st is not None else 0


def set_owner(t: Any, d: Any, owner: int, owner_type: Optional[int] = None) -> None:
    """``F_SETOWN``: *owner* > 0 a process, < 0 a process group, 0 nobody.

    :raises LinuxError: ``EINVAL`` (INT_MIN), ``ESRCH`` (no such process or group).
    """
    if owner == -(1 << 31):
        raise err(errno.EINVAL)
    if owner and not _groups(t.kernel, owner):
        raise err(errno.ESRCH)
    st = _state(d)
    st.owner = owner
    st.owner_type = owner_type if owner_type is not None else (
        F_OWNER_PGRP if owner < 0 else F_OWNER_PID)
    st.kernel = t.kernel


def get_owner_ex(d: Any) -> bytes:
    """``F_GETOWN_EX``'s ``struct f_owner_ex``."""
    st = _STATE.get(d)
    if st is None or not st.owner:
        return struct.pack("<ii", F_OWNER_PID, 0)
    return struct.pack("<ii", st.owner_type, abs(st.owner))


def set_owner_ex(t: Any, d: Any, raw: bytes) -> None:
    """``F_SETOWN_EX``: a thread's owner is its process (signals go to the group).

    :raises LinuxError: ``EINVAL`` (unknown type), ``ESRCH``.
    """
    kind, pid = struct.unpack("<ii", raw)
    if kind not in (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP) or pid < 0:
        raise err(errno.EINVAL)
    if kind == F_OWNER_TID and pid:
        tg = next((tg for tg in t.kernel.thread_groups.values()
                   if any(x.tid == pid for x in tg.tasks)), None)
        if tg is None:
            raise err(errno.ESRCH)
        set_owner(t, d, tg.tgid, F_OWNER_TID)
        _state(d).owner_type = F_OWNER_TID
        return
    set_owner(t, d, -pid if kind == F_OWNER_PGRP else pid, kind)


def get_sig(d: Any) -> int:
    """``F_GETSIG``: the signal ``O_ASYNC`` sends (0: ``SIGIO``)."""
    st = _STATE.get(d)
    return st.signum if st is not None else 0


def set_sig(d: Any, signum: int) -> None:
    """``F_SETSIG``.  :raises LinuxError: ``EINVAL`` for no valid signal number."""
    if not 0 <= signum <= _NSIG:
        raise err(errno.EINVAL)
    _state(d).signum = signum


def set_async(t: Any, d: Any, on: bool, fd: int) -> None:
    """Turn ``O_ASYNC`` on or off for *d* (through *fd*: the ``si_fd`` of F_SETSIG's
    signals)."""
    st = _state(d)
    st.kernel = t.kernel
    if on:
        d.flags |= abi.O_ASYNC
        st.fd = fd
        if st.key is None:
            queue = d.wait_queue()
            ref = weakref.ref(d)
            st.key = queue.subscribe(_EVENTS, lambda events: _fire(ref, events))
            if d.release_hooks is None:
                d.release_hooks = {}
            d.release_hooks[_HOOK] = lambda desc: _off(desc, queue)
    else:
        d.flags &= ~abi.O_ASYNC
        if st.key is not None:
            _off(d, d.wait_queue())


def _off(d: Any, queue: Any) -> None:
    st = _STATE.get(d)
    if st is not None and st.key is not None:
        queue.unsubscribe(st.key)
        st.key = None
    if d.release_hooks:
        d.release_hooks.pop(_HOOK, None)


def _fire(ref: "weakref.ref[Any]", events: int) -> None:
    d = ref()
    if d is None:
        return
    st = _STATE.get(d)
    if st is None or not st.owner or not d.flags & abi.O_ASYNC:
        return
    reasons = _reasons(d, events)
    if reasons:
        send(st.kernel, d, reasons, st.fd)


def _reasons(d: Any, events: int) -> List[Any]:
    """The (``si_code``, ``si_band``) Linux's ``kill_fasync`` callers give for *events*
    on *d*, of those that hold now (a queue is also notified to wake its waiters: a
    FIFO's opens, a terminal's other side): a pipe's reader hears ``POLL_IN`` (data, or
    no writer left) and its writer ``POLL_OUT`` (room, or no reader left), each only its
    own (``fasync_readers``, ``fasync_writers``; a pipe the sandbox was given too);
    another file a hang-up (``POLL_HUP``) or an error alone, else each of new data,
    room and urgent data its description can use."""
    try:
        events &= d.readiness(events)
    except Exception:  # noqa: BLE001 - a file gone bad: nothing to report
        return []
    if getattr(d, "pipe", None) is not None or getattr(d, "fifo", False):
        out = []
        if d.readable() and events & (EVENT_IN | EVENT_HUP):
            out.append(POLL_IN)
        if d.writable() and events & (EVENT_OUT | EVENT_ERR):
            out.append(POLL_OUT)
        return out
    if events & EVENT_HUP:
        return [POLL_HUP]
    if events & EVENT_ERR:
        return [POLL_ERR]
    out = []
    if events & EVENT_IN and d.readable():
        out.append(POLL_IN)
    if events & EVENT_OUT and d.writable():
        out.append(POLL_OUT)
    if events & EVENT_PRI and d.readable():
        out.append(POLL_PRI)
    return out


def send(kernel: Any, d: Any, reasons: Any, fd: int) -> None:
    """``send_sigio``: the signal to *d*'s owner, once for each (``si_code``,
    ``si_band``) of *reasons* with the ``F_SETSIG`` signal and ``si_fd`` *fd*, or one
    ``SIGIO`` without one."""
    st = _STATE.get(d)
    if st is None or not st.owner:
        return
    sig = st.signum
    # a signal with codes of its own says SI_SIGIO: no POLL_* ambiguity
    infos = [struct.pack("<iiiiqi", sig, 0, SI_SIGIO if sig in _OWN_CODES else code, 0,
                         band, fd) for code, band in reasons] if sig else []
    for tg in _groups(kernel, st.owner):
        if not sig:
            kernel.signal_group(tg, signal.SIGIO, code=SI_KERNEL)
        for info in infos:
            kernel.signal_group(tg, sig, info=info)
