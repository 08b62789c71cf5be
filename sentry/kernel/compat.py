"""What the workload asked of the sentry: per-syscall counts and the variants it refused.

The ``compat`` command (:mod:`runsc_py.compat`) reads what :meth:`CompatRecorder.report`
returns, written at the sentry's exit by ``do --compat-report FILE``.

- Counts: the dispatcher adds one per notification it serves in Python, the seccomp stop
  one per ``trace`` call (execve, file mmap), and C keeps its own per-number count of the
  calls its fast handlers answer (``rt_stat_fast_nr``).  Calls the filter lets the host run
  (``pass`` rows) never reach the sentry and are not counted.
- Variants: a handler that refuses an option it does not implement (an ioctl request, an
  fcntl or prctl command, a socket family/type, a socket option), where Linux would have
  done it, calls :meth:`note` (through ``Kernel.note_unsupported``).  An unimplemented
  syscall number is the variant ``syscall``.  Each (family, detail, binary) is counted and
  logged once as a warning.

Always on: a list increment per call, and the refusal path is rare.

- Times (with :meth:`CompatRecorder.time_calls`, which ``--compat-report`` turns on): the
  wall time the sentry's Python spent on each number's calls: its handler (every retry
  of a parked call included, not the time parked), its traced stop, and a clone's and
  an exec's later event (the fork event for clone, clone3, fork or vfork; the exec event
  for execve).  Calls answered in C are not timed.  With them, the gofer requests the
  sentry made for each number's calls and the time it spent sending them and waiting for
  the answers (their round trips as it sees them, part of that wall time; a wait for the
  rest of a Treadtree reply an earlier call asked for counts, with no request).  C's own
  requests count too (``rt_stat_gofer_nr``: the files it fetches for an open, each
  counted for the open that asked, its wait for the reply added to that number's time and
  round trips when C waited; the rest of a call C answered is not timed).
"""

from __future__ import annotations

import os
import time

from sentry import logger

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Sequence, Tuple, Union

log = logger.get("sentry")

#: The format of :meth:`CompatRecorder.report`; bump it when a field changes meaning.
REPORT_VERSION = 1

#: Numbers counted in a list (as C's ``n_fast_nr``); others in a dict.
NR_SLOTS = 512


def _at(counts: Sequence[Any], nr: int) -> Any:
    """*counts*' entry for syscall *nr*; 0 past its end (a C table, or a number beyond it)."""
    return counts[nr] if 0 <= nr < len(counts) else 0


class CompatRecorder:
    __slots__ = ("counts", "other_counts", "variants", "timing", "times", "gofer_requests",
                 "gofer_times")

    def __init__(self) -> None:
        # Indexed by number: the calls the Python side served (the C side counts its own).
        self.counts: List[int] = [0] * NR_SLOTS
        # Numbers past that (or negative): ENOSYS, counted by number.
        self.other_counts: Dict[int, int] = {}
        self.variants: Dict[Tuple[str, str, str], int] = {}
        # Seconds of Python by number, once time_calls() was called.
        self.timing = False
        self.times: Dict[int, float] = {}
        # Gofer requests by number, and the seconds of their round trips, when timed.
        self.gofer_requests: Dict[int, int] = {}
        self.gofer_times: Dict[int, float] = {}

    def time_calls(self) -> None:
        """From now on, add up how long the sentry's Python spends on each number."""
        self.timing = True

    def add_time(self, nr: int, seconds: float) -> None:
        self.times[nr] = self.times.get(nr, 0.0) + seconds

    def add_gofer(self, nr: int, requests: int, seconds: float) -> None:
        # (seconds without a request: the call waited for the rest of a Treadtree reply
        # an earlier call asked for, which brought the listing it needed)
        if requests or seconds:
            self.gofer_requests[nr] = self.gofer_requests.get(nr, 0) + requests
            self.gofer_times[nr] = self.gofer_times.get(nr, 0.0) + seconds

    def mark(self, gofer: Any) -> Tuple[float, int, float]:
        """Where the clock and *gofer* (a ``GoferClient``, or None) stand before a timed
        piece of work on a call: for :meth:`timed`."""
        if gofer is None:
            return time.perf_counter(), 0, 0.0
        return time.perf_counter(), gofer.requests, gofer.round_trips

    def timed(self, nr: int, gofer: Any, mark: Tuple[float, int, float]) -> None:
        """Add the time since *mark*, and the gofer requests made since, to *nr*'s."""
        t0, requests, round_trips = mark
        self.add_time(nr, time.perf_counter() - t0)
        if gofer is not None:
            self.add_gofer(nr, gofer.requests - requests, gofer.round_trips - round_trips)

    def count(self, nr: int) -> None:
        if 0 <= nr < NR_SLOTS:
            self.counts[nr] += 1
        else:
            self.other_counts[nr] = self.other_counts.get(nr, 0) + 1

    def note(self, exe: Union[str, bytes], family: str, detail: str) -> bool:
        """One refused variant by the program *exe*; True the first time it is seen."""
        if isinstance(exe, bytes):
            exe = os.fsdecode(exe)
        key = (family, detail, exe)
        n = self.variants.get(key, 0)
        self.variants[key] = n + 1
        if n == 0:
            log.warning("unsupported %s %s by %s", family, detail, exe or "?")
        return n == 0

    def report(self, fast_counts: List[int],
               c_gofer: Tuple[List[int], List[int]] = ([], [])) -> Dict[str, Any]:
        """The counts (Python's plus C's *fast_counts*, by number) and the variants; timed,
        C's own gofer requests (*c_gofer*: their counts and the ns C waited for their
        replies, by number) added to the calls' (the wait to their time too)."""
        calls: Dict[str, Dict[str, int]] = {}
        for nr, n in enumerate(self.counts):
            fast = _at(fast_counts, nr)
            if n or fast:
                calls[str(nr)] = {"count": n + fast, "fast": fast}
        for nr in range(len(self.counts), len(fast_counts)):
            if fast_counts[nr]:
                calls[str(nr)] = {"count": fast_counts[nr], "fast": fast_counts[nr]}
        for nr, n in self.other_counts.items():
            calls[str(nr)] = {"count": n, "fast": 0}
        if self.timing:
            c_requests, c_ns = c_gofer
            for key, c in calls.items():
                nr = int(key)
                c_wait = _at(c_ns, nr) / 1e9
                c["sentry_us"] = round((self.times.get(nr, 0.0) + c_wait) * 1e6)
                c["gofer_requests"] = self.gofer_requests.get(nr, 0) + _at(c_requests, nr)
                c["gofer_us"] = round((self.gofer_times.get(nr, 0.0) + c_wait) * 1e6)
        variants = [
            {"family": f, "detail": d, "binary": exe, "count": n}
            for (f, d, exe), n in sorted(self.variants.items())
        ]
        return {"version": REPORT_VERSION, "syscalls": calls, "unsupported": variants}


# -- details: names for the numbers handlers refuse (only used on the refusal path) ------

_FCNTL = {
    10: "F_SETSIG", 11: "F_GETSIG", 1024: "F_SETLEASE", 1025: "F_GETLEASE",
    1026: "F_NOTIFY", 1027: "F_DUPFD_QUERY", 1028: "F_CREATED_QUERY", 1029: "F_CANCELLK",
    1035: "F_GET_RW_HINT", 1036: "F_SET_RW_HINT", 1037: "F_GET_FILE_RW_HINT",
    1038: "F_SET_FILE_RW_HINT", 15: "F_SETOWN_EX", 16: "F_GETOWN_EX",
}

_PRCTL = {
    3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE", 5: "PR_GET_UNALIGN", 6: "PR_SET_UNALIGN",
    9: "PR_GET_FPEMU", 10: "PR_SET_FPEMU", 11: "PR_GET_FPEXC", 12: "PR_SET_FPEXC",
    13: "PR_GET_TIMING", 14: "PR_SET_TIMING", 19: "PR_GET_ENDIAN", 20: "PR_SET_ENDIAN",
    21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP", 25: "PR_GET_TSC", 26: "PR_SET_TSC",
    29: "PR_SET_TIMERSLACK", 30: "PR_GET_TIMERSLACK", 31: "PR_TASK_PERF_EVENTS_DISABLE",
    32: "PR_TASK_PERF_EVENTS_ENABLE", 33: "PR_MCE_KILL", 34: "PR_MCE_KILL_GET",
    35: "PR_SET_MM", 0x59616D61: "PR_SET_PTRACER", 41: "PR_SET_THP_DISABLE",
    43: "PR_MPX_ENABLE_MANAGEMENT", 44: "PR_MPX_DISABLE_MANAGEMENT", 45: "PR_SET_FP_MODE",
    46: "PR_GET_FP_MODE", 48: "PR_SVE_SET_VL", 50: "PR_SET_SPECULATION_CTRL",
    52: "PR_GET_SPECULATION_CTRL", 53: "PR_PAC_RESET_KEYS", 54: "PR_SET_TAGGED_ADDR_CTRL",
    55: "PR_GET_TAGGED_ADDR_CTRL", 56: "PR_SET_IO_FLUSHER", 57: "PR_GET_IO_FLUSHER",
    59: "PR_SET_SYSCALL_USER_DISPATCH", 62: "PR_SCHED_CORE", 63: "PR_SME_SET_VL",
    65: "PR_SET_MDWE", 66: "PR_GET_MDWE", 67: "PR_SET_MEMORY_MERGE",
    68: "PR_GET_MEMORY_MERGE", 71: "PR_GET_AUXV", 72: "PR_SET_SHADOW_STACK_STATUS",
    0x53564D41: "PR_SET_VMA",
}

_FAMILIES = {
    0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
    9: "AF_X25", 10: "AF_INET6", 15: "AF_KEY", 16: "AF_NETLINK", 17: "AF_PACKET",
    29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 38: "AF_ALG", 40: "AF_VSOCK",
    44: "AF_XDP", 45: "AF_MCTP",
}
_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
          5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
_LEVELS = {1: "SOL_SOCKET", 0: "IPPROTO_IP", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP",
           41: "IPPROTO_IPV6", 270: "SOL_NETLINK", 132: "IPPROTO_SCTP", 263: "SOL_PACKET"}

#: Well-known ioctl requests; others are shown decoded (_IOC direction, type, nr, size).
_IOCTLS = {
    0x5401: "TCGETS", 0x5402: "TCSETS", 0x540E: "TIOCSCTTY", 0x5413: "TIOCGWINSZ",
    0x541E: "TIOCGSERIAL", 0x5415: "TIOCMGET", 0x5416: "TIOCMBIS", 0x5418: "TIOCMSET",
    0x541D: "TIOCCONS", 0x80086601: "FS_IOC_GETFLAGS", 0x40086602: "FS_IOC_SETFLAGS",
    0x80087601: "FS_IOC_GETVERSION", 0xC020660B: "FS_IOC_FIEMAP", 0x2: "FIGETBSZ",
    0x1: "FIBMAP", 0x40049409: "FICLONE", 0x4020940D: "FICLONERANGE",
    0xC0189436: "FIDEDUPERANGE", 0x80125880: "FS_IOC_FSGETXATTR",
    0x401C5820: "FS_IOC_FSSETXATTR", 0x80045A01: "FS_IOC_GETFSLABEL",
    0x80081272: "BLKGETSIZE64", 0x1260: "BLKGETSIZE", 0x127B: "BLKPBSZGET",
    0x8912: "SIOCGIFCONF", 0x8914: "SIOCSIFFLAGS", 0x8916: "SIOCSIFADDR",
    0x891C: "SIOCSIFNETMASK", 0x8922: "SIOCSIFMTU", 0x8923: "SIOCSIFNAME",
    0x8924: "SIOCSIFHWADDR", 0x890B: "SIOCADDRT", 0x890C: "SIOCDELRT",
    0x8927: "SIOCGIFHWADDR", 0x8933: "SIOCGIFINDEX",
    0x894C: "SIOCETHTOOL", 0x8B01: "SIOCGIWNAME", 0x5450: "FIONCLEX", 0x5451: "FIOCLEX",
    0x541B: "FIONREAD", 0x5421: "FIONBIO", 0x5452: "FIOASYNC", 0x4B3A: "KDSETMODE",
    0x4B3B: "KDGETMODE", 0x4B33: "KDGKBTYPE", 0x5603: "VT_GETSTATE", 0x5606: "VT_ACTIVATE",
    0x40082404: "PERF_EVENT_IOC_PERIOD", 0x541C: "TIOCLINUX",
}

_IOC_DIR = {0: "_IO", 1: "_IOW", 2: "_IOR", 3: "_IOWR"}


def ioctl_name(cmd: int) -> str:
    """``TCGETS (0x5401)``, or ``_IOR('f', 1, 8) (0x80086601)`` for an unnamed request."""
    cmd &= 0xFFFFFFFF
    name = _IOCTLS.get(cmd)
    if name is None:
        typ, nr = (cmd >> 8) & 0xFF, cmd & 0xFF
        size, d = (cmd >> 16) & 0x3FFF, cmd >> 30
        ch = repr(chr(typ)) if 0x20 < typ < 0x7F else hex(typ)
        name = f"{_IOC_DIR[d]}({ch}, {nr}" + (f", {size})" if d else ")")
    return f"{name} ({cmd:#x})"


def fcntl_name(cmd: int) -> str:
    return _FCNTL.get(cmd, f"cmd {cmd}")


def prctl_name(op: int) -> str:
    return _PRCTL.get(op, f"option {op}")


def socket_name(family: int, stype: int, proto: int) -> str:
    fam = _FAMILIES.get(family, f"family {family}")
    typ = _TYPES.get(stype & 0xF, f"type {stype & 0xF}")
    return f"{fam} {typ}" + (f" protocol {proto}" if proto else "")


_RTM = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 19: "RTM_SETLINK", 20: "RTM_NEWADDR",
        21: "RTM_DELADDR", 24: "RTM_NEWROUTE", 25: "RTM_DELROUTE", 28: "RTM_NEWNEIGH",
        29: "RTM_DELNEIGH", 32: "RTM_NEWRULE", 33: "RTM_DELRULE", 36: "RTM_NEWQDISC",
        37: "RTM_DELQDISC", 40: "RTM_NEWTFILTER", 44: "RTM_NEWTCLASS"}


def rtm_name(mtype: int) -> str:
    return _RTM.get(mtype, f"message type {mtype}")


def cmsg_name(level: int, ctype: int, family: int) -> str:
    lvl = _LEVELS.get(level, f"level {level}")
    return f"{lvl} control message type {ctype} on {_FAMILIES.get(family, f'family {family}')}"


def sockopt_name(level: int, opt: int, family: int) -> str:
    lvl = _LEVELS.get(level, f"level {level}")
    return f"{lvl} option {opt} on {_FAMILIES.get(family, f'family {family}')}"


_TERMINALS = ("MasterFileDescription", "ReplicaFileDescription")


def _is_terminal(d: Any) -> bool:
    return bool(getattr(d, "is_tty", False)) or type(d).__name__ in _TERMINALS


def file_kind(d: Any) -> str:
    """What a description is, in words (``regular file``, ``pipe``, ``EpollFileDescription``)."""
    if _is_terminal(d):
        return "terminal"
    inode = getattr(d, "inode", None)
    mode = getattr(inode, "mode", None)
    if isinstance(mode, int):
        kind = _KINDS.get(mode & 0o170000)
        if kind:
            return kind
    return type(d).__name__


_KINDS = {0o100000: "regular file", 0o040000: "directory", 0o020000: "character device",
          0o060000: "block device", 0o010000: "pipe", 0o140000: "socket"}


def ioctl_refused_by_linux(d: Any, cmd: int) -> bool:
    """Whether Linux answers ``ENOTTY`` to *cmd* on this kind of file too: a terminal
    request ('T') on anything but a terminal (isatty(3) on a file), a socket request
    (0x89xx) on anything but a socket, anything but the generic requests (which the
    handler serves) on a pipe or a character device other than a terminal or random(4)."""
    typ = (cmd >> 8) & 0xFF
    kind = file_kind(d)
    if typ == 0x54 and kind != "terminal":
        return kind != "TimerFileDescription"  # TFD_IOC_SET_TICKS is _IOW('T', 0, u64)
    if typ == 0x89:
        return kind != "socket" and not hasattr(d, "family")
    if kind == "pipe":
        return True
    if kind == "character device":
        return typ != 0x52  # random(4)'s RNDGETENTCNT ...
    return False
