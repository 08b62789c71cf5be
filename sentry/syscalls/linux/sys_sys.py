"""System identity: uname, hostname, sysinfo."""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err

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
