"""System identity: uname, hostname, sysinfo."""

from __future__ import annotations

import errno
import struct
import time

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

SYSNAME = b"Linux"
RELEASE = b"6.1.0-runsc-py"
VERSION = b"#1 SMP PREEMPT_DYNAMIC runsc-py"
MACHINE = b"x86_64"
HOST_NAME_MAX = 64


def _field(s: bytes) -> bytes:
    return s[:64].ljust(65, b"\0")


def uname(t: "Task", a: "SyscallArgs") -> int:
    """uname(2)."""
    k = t.kernel
    data = b"".join(_field(x) for x in (SYSNAME, k.hostname.encode(), RELEASE, VERSION, MACHINE,
                                         k.domainname.encode()))
    t.mem.write(a[0], data)
    return 0


def _setname(t: "Task", a: "SyscallArgs") -> str:
    n = a.int(1)
    if not 0 <= n <= HOST_NAME_MAX:
        raise err(errno.EINVAL)
    if not t.creds.capable(cap.CAP_SYS_ADMIN):
        raise err(errno.EPERM)
    return t.mem.read(a[0], n).decode("latin-1")


def sethostname(t: "Task", a: "SyscallArgs") -> int:
    """sethostname(2)."""
    t.kernel.hostname = _setname(t, a)
    return 0


def setdomainname(t: "Task", a: "SyscallArgs") -> int:
    """setdomainname(2)."""
    t.kernel.domainname = _setname(t, a)
    return 0


def sysinfo(t: "Task", a: "SyscallArgs") -> int:
    """sysinfo(2): memory from the host, uptime and process count from the sandbox."""
    k = t.kernel
    mem = {}
    for line in k.host_file("meminfo").decode().splitlines():
        key, _, v = line.partition(":")
        parts = v.split()
        if parts:
            mem[key] = int(parts[0]) * 1024
    loads = k.host_file("loadavg").split()[:3]
    la = [int(float(x) * 65536) for x in loads]
    uptime = int(time.monotonic() - k.boot_time)
    procs = min(0xFFFF, sum(len(tg.tasks) for tg in k.thread_groups.values()))
    data = struct.pack(
        "<q3QQQQQQQHHIQQI",
        uptime, *la, mem.get("MemTotal", 0), mem.get("MemFree", 0), mem.get("Shmem", 0),
        mem.get("Buffers", 0), mem.get("SwapTotal", 0), mem.get("SwapFree", 0),
        procs, 0, 0, 0, 0, 1,
    )
    t.mem.write(a[0], data.ljust(112, b"\0"))
    return 0


# personality(2): the persona (low byte) and the flags the sandbox keeps.
PER_LINUX, PER_BSD = 0x0000, 0x0006
ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT = 0x0040000, 0x0200000
SHORT_INODE, WHOLE_SECONDS = 0x1000000, 0x2000000
READ_IMPLIES_EXEC, MMAP_PAGE_ZERO = 0x0400000, 0x0100000
# What a set-ID exec clears (include/uapi/linux/personality.h PER_CLEAR_ON_SETID).
PER_CLEAR_ON_SETID = READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO
_PERSONAS = (PER_LINUX, PER_BSD)
# Flags that change nothing here or only the layout choice (the loader's layout is
# fixed anyway); those the host would have to honour (READ_IMPLIES_EXEC, the address
# limits, MMAP_PAGE_ZERO, UNAME26, STICKY_TIMEOUTS) are refused.
_PERSONALITY_FLAGS = ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | SHORT_INODE | WHOLE_SECONDS


def personality(t: "Task", a: "SyscallArgs") -> int:
    """personality(2): ``0xffffffff`` reads the calling thread's; a persona the sandbox
    does not run is ``EINVAL`` (as gVisor); the old value otherwise."""
    persona = a.uint(0)
    old = t.personality
    if persona == 0xFFFFFFFF:
        return old
    if persona & 0xFF not in _PERSONAS or persona & ~0xFF & ~_PERSONALITY_FLAGS:
        raise err(errno.EINVAL)
    t.personality = persona
    return old


# syslog(2) actions (include/linux/syslog.h).
SYSLOG_ACTION_CLOSE, SYSLOG_ACTION_OPEN, SYSLOG_ACTION_READ = 0, 1, 2
SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_READ_CLEAR, SYSLOG_ACTION_CLEAR = 3, 4, 5
SYSLOG_ACTION_CONSOLE_OFF, SYSLOG_ACTION_CONSOLE_ON, SYSLOG_ACTION_CONSOLE_LEVEL = 6, 7, 8
SYSLOG_ACTION_SIZE_UNREAD, SYSLOG_ACTION_SIZE_BUFFER = 9, 10
# The size of the (empty) kernel log buffer the sandbox reports: Linux's default
# (1 << CONFIG_LOG_BUF_SHIFT, 17 on x86_64 defconfig).
LOG_BUF_LEN = 1 << 17


def syslog(t: "Task", a: "SyscallArgs") -> int:
    """syslog(2): the sandbox's kernel log, which is empty.

    Permission as Linux with ``kernel.dmesg_restrict`` = 1 (the sandbox's, as Debian's
    and most distributions' default): every action needs ``CAP_SYSLOG`` (or
    ``CAP_SYS_ADMIN``) in the sandbox's credentials.  A blocking ``READ`` of the empty
    log would wait for ever on Linux; here it returns 0 bytes.
    """
    action, buf, length = a.int(0), a[1], a.int(2)
    if not (t.creds.capable(cap.CAP_SYSLOG) or t.creds.capable(cap.CAP_SYS_ADMIN)):
        raise err(errno.EPERM)
    if action in (SYSLOG_ACTION_CLOSE, SYSLOG_ACTION_OPEN, SYSLOG_ACTION_CLEAR,
                  SYSLOG_ACTION_CONSOLE_OFF, SYSLOG_ACTION_CONSOLE_ON,
                  SYSLOG_ACTION_SIZE_UNREAD):
        return 0
    if action in (SYSLOG_ACTION_READ, SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_READ_CLEAR):
        if not buf or length < 0:
            raise err(errno.EINVAL)
        return 0
    if action == SYSLOG_ACTION_CONSOLE_LEVEL:
        if not 1 <= length <= 8:
            raise err(errno.EINVAL)
        return 0
    if action == SYSLOG_ACTION_SIZE_BUFFER:
        return LOG_BUF_LEN
    raise err(errno.EINVAL)
