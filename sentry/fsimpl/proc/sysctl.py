"""The sandbox's own namespaced sysctls: ``linux.sysctl`` and ``/proc/sys``.

Linux keeps some sysctls per namespace: the IPC ones (``kernel.shm*``, ``kernel.msg*``,
``kernel.sem``, ``fs.mqueue.*``), the network ones (``net.*``) and the UTS ones
(``kernel.hostname``, ``kernel.domainname``).  runc lets config.json set exactly those
(the IPC ones only with an ipc namespace, ``net.*`` only with a network namespace of
the container's own, ``kernel.hostname`` never: it has its own field) and writes them
into the container's ``/proc/sys``.

The sandbox keeps them as values of its own, with the defaults of a fresh namespace of
the kernel version it reports (never the host's current ones): :data:`NAMESPACED` lists
those it has, with how the kernel parses each (``proc_dointvec`` and friends: whitespace
separated integers, in C's bases, within a range).  Reading ``/proc/sys/...`` shows them;
a write (if ``/proc/sys`` is not mounted read-only) changes them.  They are the
sandbox's view: the emulated network stack and IPC do not consult them (see
ARCHITECTURE.md).
"""

from __future__ import annotations

from runsc_py import jsonc
from sentry.records import dataclass

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
ULONG_MAX = 2**64 - 1
IPCMNI = 32768


@dataclass(frozen=True)
class Kind:
    """How a sysctl's value is parsed: *count* integers in [*lo*, *hi*]."""

    count: int = 1
    lo: int = INT_MIN
    hi: int = INT_MAX


INT = Kind()
UINT = Kind(lo=0)
ULONG = Kind(lo=0, hi=ULONG_MAX)
BOOL = Kind(lo=0, hi=1)
U8 = Kind(lo=0, hi=255)
PORT_RANGE = Kind(2, 1, 65535)
GID_RANGE = Kind(2, 0, INT_MAX)
PORT = Kind(lo=0, hi=65535)

#: key → (kind, default); ``None`` kind: a string (the UTS names).
NAMESPACED: Dict[str, tuple] = {
    # ipc (ipc/ipc_sysctl.c, ipc/mq_sysctl.c)
    "kernel.shmmax": (ULONG, "18446744073692774399"),
    "kernel.shmall": (ULONG, "18446744073692774399"),
    "kernel.shmmni": (Kind(lo=0, hi=IPCMNI), "4096"),
    "kernel.shm_rmid_forced": (BOOL, "0"),
    "kernel.msgmax": (UINT, "8192"),
    "kernel.msgmnb": (UINT, "16384"),
    "kernel.msgmni": (Kind(lo=0, hi=IPCMNI), "32000"),
    "kernel.sem": (Kind(4, 0, INT_MAX), "32000\t1024000000\t500\t32000"),
    "fs.mqueue.queues_max": (UINT, "256"),
    "fs.mqueue.msg_max": (Kind(lo=1, hi=65536), "10"),
    "fs.mqueue.msgsize_max": (Kind(lo=128, hi=16777216), "8192"),
    "fs.mqueue.msg_default": (Kind(lo=1, hi=65536), "10"),
    "fs.mqueue.msgsize_default": (Kind(lo=128, hi=16777216), "8192"),
    # uts
    "kernel.domainname": (None, "(none)"),
    # net (a fresh network namespace)
    "net.core.somaxconn": (UINT, "4096"),
    "net.ipv4.ip_forward": (INT, "0"),
    "net.ipv4.ip_local_port_range": (PORT_RANGE, "32768\t60999"),
    "net.ipv4.ip_unprivileged_port_start": (PORT, "1024"),
    "net.ipv4.ping_group_range": (GID_RANGE, "1\t0"),
    "net.ipv4.ip_nonlocal_bind": (BOOL, "0"),
    "net.ipv4.ip_default_ttl": (Kind(lo=1, hi=255), "64"),
    "net.ipv4.icmp_echo_ignore_all": (BOOL, "0"),
    "net.ipv4.tcp_syncookies": (U8, "1"),
    "net.ipv4.tcp_keepalive_time": (UINT, "7200"),
    "net.ipv4.tcp_keepalive_intvl": (UINT, "75"),
    "net.ipv4.tcp_keepalive_probes": (U8, "9"),
    "net.ipv4.tcp_fin_timeout": (UINT, "60"),
    "net.ipv4.tcp_tw_reuse": (Kind(lo=0, hi=2), "2"),
    "net.ipv4.tcp_timestamps": (Kind(lo=0, hi=2), "1"),
    "net.ipv4.tcp_sack": (BOOL, "1"),
    "net.ipv4.tcp_window_scaling": (BOOL, "1"),
    "net.ipv4.tcp_mtu_probing": (Kind(lo=0, hi=2), "0"),
    "net.ipv4.tcp_slow_start_after_idle": (BOOL, "1"),
    "net.ipv4.tcp_retries2": (U8, "15"),
    "net.ipv4.tcp_ecn": (Kind(lo=0, hi=2), "2"),
    "net.ipv4.conf.all.forwarding": (INT, "0"),
    "net.ipv4.conf.default.forwarding": (INT, "0"),
    "net.ipv4.conf.all.route_localnet": (INT, "0"),
    "net.ipv4.conf.default.route_localnet": (INT, "0"),
    "net.ipv4.conf.all.rp_filter": (Kind(lo=0, hi=2), "0"),
    "net.ipv4.conf.default.rp_filter": (Kind(lo=0, hi=2), "0"),
    "net.ipv6.conf.all.disable_ipv6": (INT, "0"),
    "net.ipv6.conf.default.disable_ipv6": (INT, "0"),
    "net.ipv6.conf.all.forwarding": (INT, "0"),
    "net.ipv6.conf.default.forwarding": (INT, "0"),
}

#: runc's list of IPC sysctls besides ``fs.mqueue.*`` (libcontainer/configs/validate).
_IPC = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})


class SysctlError(ValueError):
    """A sysctl config.json may not set, or a value the kernel would refuse."""


def _q(s: str) -> str:
    """Quoted as runc quotes (Go's %q)."""
    return jsonc.dumps(s)


def normalize(key: str) -> str:
    """``net/ipv4/ip_forward`` → ``net.ipv4.ip_forward`` (both spellings are sysctl(8)'s)."""
    return key.replace("/", ".") if "/" in key else key


def check_allowed(key: str, *, ipc: bool, uts: bool, netns: bool) -> None:
    """runc's rule for which sysctls a container may set.

    :param ipc: / :param uts: / :param netns: config.json gives the container an ipc,
        uts, network namespace of its own.
    :raises SysctlError: with runc's words.
    """
    if key in _IPC or key.startswith("fs.mqueue."):
        if not ipc:
            raise SysctlError(f"sysctl {_q(key)} is not allowed in the hosts ipc namespace")
        return
    if key.startswith("net."):
        if not netns:
            raise SysctlError(f"sysctl {_q(key)} not allowed in host network namespace")
        return
    if uts and key == "kernel.domainname":
        return
    if uts and key == "kernel.hostname":
        raise SysctlError(f"sysctl {_q(key)} is not allowed as it conflicts with the OCI "
                          '"hostname" field')
    raise SysctlError(f"sysctl {_q(key)} is not in a separate kernel namespace")


def _parse_int(word: str) -> int:
    """An integer as ``proc_get_long`` reads one (base 0: ``0x`` hex, leading 0 octal)."""
    neg = word.startswith("-")
    w = word[1:] if neg else word
    if w[:2].lower() == "0x":
        n = int(w[2:], 16)
    elif len(w) > 1 and w.startswith("0"):
        n = int(w[1:], 8)
    else:
        n = int(w, 10)
    return -n if neg else n


def parse(key: str, value: str, current: Optional[str] = None) -> str:
    """The value of *key* after writing *value* to it, as ``/proc/sys`` shows it
    (without the newline).

    :param current: the value now (a vector written in part keeps the rest).
    :raises SysctlError: *key* is not one the sandbox has, or the kernel would refuse
        *value* (``EINVAL``).
    """
    entry = NAMESPACED.get(key)
    if entry is None:
        path = "/proc/sys/" + key.replace(".", "/")
        raise SysctlError(f"sysctl {_q(key)} is not one the sandbox has (no {path})")
    kind, default = entry
    if kind is None:
        text = value.rstrip("\n")
        if "\0" in text or len(text.encode()) > 64:
            raise SysctlError(f"sysctl {_q(key)}: invalid value {_q(value)}")
        return text
    words = value.split()
    if not words:
        return current if current is not None else default
    if len(words) > kind.count:
        raise SysctlError(f"sysctl {_q(key)}: invalid value {_q(value)}")
    try:
        nums = [_parse_int(w) for w in words]
    except ValueError:
        raise SysctlError(f"sysctl {_q(key)}: invalid value {_q(value)}") from None
    if any(not kind.lo <= n <= kind.hi for n in nums):
        raise SysctlError(f"sysctl {_q(key)}: value {_q(value)} out of range")
    old = (current if current is not None else default).split("\t")
    out = [str(n) for n in nums] + old[len(nums):]
    if key == "net.ipv4.ip_local_port_range" and int(out[1]) < int(out[0]):
        raise SysctlError(f"sysctl {_q(key)}: invalid range {_q(value)}")
    if key == "net.ipv4.ping_group_range" and int(out[1]) < int(out[0]):
        out = ["1", "0"]  # an empty range disables ICMP sockets (ipv4_ping_group_range)
    return "\t".join(out)


def sysctl_table(overrides: Dict[str, str]) -> Dict[str, str]:
    """Every namespaced sysctl's value: the defaults with *overrides* (validated keys)."""
    table = {k: default for k, (_kind, default) in NAMESPACED.items()}
    for key, value in overrides.items():
        table[key] = parse(key, value, table.get(key))
    _check_ports(table)
    return table


def _check_ports(table: Dict[str, str]) -> None:
    """The local port range may not start below the unprivileged port start
    (``ipv4_local_port_range`` / ``ipv4_privileged_ports``)."""
    low = int(table["net.ipv4.ip_local_port_range"].split("\t")[0])
    if low < int(table["net.ipv4.ip_unprivileged_port_start"]):
        raise SysctlError('sysctl "net.ipv4.ip_unprivileged_port_start" must not be above '
                          'the start of "net.ipv4.ip_local_port_range"')


def writer(table: Dict[str, str], key: str) -> Callable[[str], None]:
    """What a write to ``/proc/sys/<key>`` does (:raises SysctlError: ``EINVAL``)."""

    def write(value: str) -> None:
        new = dict(table)
        new[key] = parse(key, value, table[key])
        _check_ports(new)
        table[key] = new[key]

    return write


def keys_under(table: Dict[str, str], prefix: str) -> List[str]:
    """The keys of *table* whose dotted name starts with *prefix* + ``.``."""
    return [k for k in table if k.startswith(prefix + ".")]
