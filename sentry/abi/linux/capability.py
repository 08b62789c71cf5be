"""Capabilities: numbers, names and the sets of ``include/uapi/linux/capability.h``."""

from __future__ import annotations


TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Iterable, List, Tuple

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_LINUX_IMMUTABLE = 9
CAP_NET_BIND_SERVICE = 10
CAP_NET_BROADCAST = 11
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_IPC_LOCK = 14
CAP_IPC_OWNER = 15
CAP_SYS_MODULE = 16
CAP_SYS_RAWIO = 17
CAP_SYS_CHROOT = 18
CAP_SYS_PTRACE = 19
CAP_SYS_PACCT = 20
CAP_SYS_ADMIN = 21
CAP_SYS_BOOT = 22
CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24
CAP_SYS_TIME = 25
CAP_SYS_TTY_CONFIG = 26
CAP_MKNOD = 27
CAP_LEASE = 28
CAP_AUDIT_WRITE = 29
CAP_AUDIT_CONTROL = 30
CAP_SETFCAP = 31
CAP_MAC_OVERRIDE = 32
CAP_MAC_ADMIN = 33
CAP_SYSLOG = 34
CAP_WAKE_ALARM = 35
CAP_BLOCK_SUSPEND = 36
CAP_AUDIT_READ = 37
CAP_PERFMON = 38
CAP_BPF = 39
CAP_CHECKPOINT_RESTORE = 40

#: The highest capability of the kernel the sandbox reports (6.1).
CAP_LAST_CAP = CAP_CHECKPOINT_RESTORE
ALL_CAPS = (1 << (CAP_LAST_CAP + 1)) - 1

#: Number → "CAP_NAME", as config.json and libcap spell them.
NAMES = {num: f"CAP_{name}" for num, name in enumerate((
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
))}
BY_NAME = {name: num for num, name in NAMES.items()}

#: What a change of fsuid away from (back to) 0 drops from (raises into) the effective
#: set (``CAP_FS_SET``, include/linux/capability.h).
FS_SET = sum(1 << c for c in (CAP_CHOWN, CAP_MKNOD, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                              CAP_FOWNER, CAP_FSETID, CAP_MAC_OVERRIDE))

# capget/capset header versions.
LINUX_CAPABILITY_VERSION_1 = 0x19980330
LINUX_CAPABILITY_VERSION_2 = 0x20071026
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Securebits (include/uapi/linux/securebits.h): each bit, and its lock one above it.
SECURE_NOROOT = 0
SECURE_NO_SETUID_FIXUP = 2
SECURE_KEEP_CAPS = 4
SECURE_NO_CAP_AMBIENT_RAISE = 6
SECBIT_NOROOT = 1 << SECURE_NOROOT
SECBIT_NO_SETUID_FIXUP = 1 << SECURE_NO_SETUID_FIXUP
SECBIT_KEEP_CAPS = 1 << SECURE_KEEP_CAPS
SECBIT_NO_CAP_AMBIENT_RAISE = 1 << SECURE_NO_CAP_AMBIENT_RAISE
SECURE_ALL_BITS = (SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS
                   | SECBIT_NO_CAP_AMBIENT_RAISE)
SECURE_ALL_LOCKS = SECURE_ALL_BITS << 1


def valid(cap: int) -> bool:
    """``cap_valid``: a capability number this kernel knows."""
    return 0 <= cap <= CAP_LAST_CAP


def mask_of(names: Iterable[str]) -> Tuple[int, List[str]]:
    """The set named by *names* (``"CAP_CHOWN"`` …) and the names that are not capabilities."""
    mask = 0
    unknown = []
    for name in names:
        num = BY_NAME.get(name)
        if num is None:
            unknown.append(name)
        else:
            mask |= 1 << num
    return mask, unknown


def hex16(mask: int) -> str:
    """A set as ``/proc/PID/status`` prints it."""
    return f"{mask:016x}"
