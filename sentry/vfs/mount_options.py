"""Mount options as config.json spells them, and how ``/proc/PID/mountinfo`` shows them.

:func:`parse` splits an OCI mount's ``options`` the way runc's ``parseMountOptions``
does: per-mount flags (``nosuid``, ``nodev``, ``noexec``, the atime ones,
``nosymfollow``), which the VFS enforces and ``mountinfo`` shows; options with no
meaning for a mount tree the sentry builds once and never shares (``bind``/``rbind``,
propagation such as ``rprivate``, ``remount``, ``defaults``, superblock flags such
as ``sync`` or ``lazytime``), which are dropped; and everything else, the file
system's own data (``mode=755``, ``size=64m``, ``gid=5`` …), handed to the file
system.  ``ro``/``rw`` are split off earlier (:attr:`sentry.config.MountSpec.readonly`).
"""

from __future__ import annotations

from sentry.records import dataclass, field
import os

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional

# Per-mount flags (include/linux/mount.h MNT_*).
MNT_NOSUID = 0x01
MNT_NODEV = 0x02
MNT_NOEXEC = 0x04
MNT_NOATIME = 0x08
MNT_NODIRATIME = 0x10
MNT_RELATIME = 0x20
MNT_NOSYMFOLLOW = 0x80

ATIME_MASK = MNT_NOATIME | MNT_NODIRATIME | MNT_RELATIME

#: option → (flags it sets, flags it clears), runc's table for the per-mount ones.
_FLAGS = {
    "nosuid": (MNT_NOSUID, 0), "suid": (0, MNT_NOSUID),
    "nodev": (MNT_NODEV, 0), "dev": (0, MNT_NODEV),
    "noexec": (MNT_NOEXEC, 0), "exec": (0, MNT_NOEXEC),
    "nodiratime": (MNT_NODIRATIME, 0), "diratime": (0, MNT_NODIRATIME),
    "nosymfollow": (MNT_NOSYMFOLLOW, 0), "symfollow": (0, MNT_NOSYMFOLLOW),
}
#: Options that change nothing in the sandbox's mount tree (see the module docstring).
IGNORED = frozenset({
    "bind", "rbind", "remount", "defaults", "private", "rprivate", "shared", "rshared",
    "slave", "rslave", "unbindable", "runbindable", "async", "sync", "dirsync", "mand",
    "nomand", "lazytime", "nolazytime", "iversion", "noiversion", "silent", "loud", "acl",
    "noacl", "tmpcopyup", "norelatime",
})
_ATIME = ("atime", "noatime", "relatime", "strictatime", "nostrictatime")

#: Per-mount flag → how mountinfo spells it, in the kernel's order (fs/proc_namespace.c).
SHOWN = ((MNT_NOSUID, "nosuid"), (MNT_NODEV, "nodev"), (MNT_NOEXEC, "noexec"),
         (MNT_NOATIME, "noatime"), (MNT_NODIRATIME, "nodiratime"),
         (MNT_RELATIME, "relatime"), (MNT_NOSYMFOLLOW, "nosymfollow"))


@dataclass
class MountOptions:
    """The parts of a mount's options: per-mount ``flags`` and the file system's ``data``."""

    flags: int = MNT_RELATIME
    data: List[str] = field(default_factory=list)

    def datum(self, key: str) -> Optional[str]:
        """The value of ``key=value`` in ``data`` (the last one given), or None."""
        out = None
        for d in self.data:
            k, sep, v = d.partition("=")
            if sep and k == key:
                out = v
        return out


def has_flag_options(options: Iterable[str]) -> bool:
    """Whether *options* set any per-mount flag (runc then remounts a bind mount with
    exactly those flags; without, the bind keeps the flags of the mount it copies)."""
    return any(o in _FLAGS or o in _ATIME or o in ("ro", "rw") for o in options)


def parse(options: Iterable[str]) -> MountOptions:
    """Split OCI mount *options* (``ro``/``rw`` already removed) into flags and data."""
    flags = 0
    noatime = strict = False
    data: List[str] = []
    for opt in options:
        if opt in _FLAGS:
            on, off = _FLAGS[opt]
            flags = (flags | on) & ~off
        elif opt == "noatime":
            noatime = True
        elif opt == "atime":
            noatime = False
        elif opt == "strictatime":
            strict = True
        elif opt == "nostrictatime":
            strict = False
        elif opt == "relatime" or opt in IGNORED:
            continue
        else:
            data.append(opt)
    # Linux's default is relatime; strictatime clears both relatime and noatime.
    if strict:
        pass
    elif noatime:
        flags |= MNT_NOATIME
    else:
        flags |= MNT_RELATIME
    return MountOptions(flags, data)


def show(readonly: bool, flags: int) -> str:
    """The per-mount options column: ``rw,nosuid,nodev,relatime``."""
    return ",".join(["ro" if readonly else "rw"] + [n for f, n in SHOWN if flags & f])


def number(value: str) -> int:
    """An unsigned number as the kernel's option parsers read one (C bases: ``0x`` hex,
    a leading ``0`` octal).  :raises ValueError: not one."""
    v = value.strip()
    if v[:2].lower() == "0x":
        return int(v[2:], 16)
    if len(v) > 1 and v.startswith("0"):
        return int(v[1:], 8)
    if not v.isdigit():
        raise ValueError(value)
    return int(v, 10)


def parse_size(value: str, total_memory: int) -> int:
    """A tmpfs ``size=`` in bytes: a number with an optional k/m/g/t/p/e suffix, or a
    percentage of *total_memory*; rounded up to whole pages.

    :raises ValueError: not a size.
    """
    v = value.strip()
    if v.endswith("%"):
        n = number(v[:-1]) * total_memory // 100
    else:
        mult = 1
        suffix = v[-1:].lower()
        if suffix in "kmgtpe" and suffix:
            mult = 1024 ** ("kmgtpe".index(suffix) + 1)
            v = v[:-1]
        n = number(v) * mult
    if n < 0:
        raise ValueError(value)
    return (n + 4095) // 4096 * 4096


#: tmpfs options the kernel takes (mm/shmem.c); the ones with no meaning in the sentry
#: (memory policy, huge pages, inode width, swap) are accepted and have no effect.
TMPFS_OPTIONS = frozenset({"size", "nr_blocks", "nr_inodes", "mode", "uid", "gid", "huge",
                           "mpol", "inode32", "inode64", "noswap"})


class TmpfsSettings:
    """A tmpfs's data options: size limit, root mode/owner, and how mountinfo shows them.

    :raises ValueError: an option tmpfs does not take, or a malformed value.
    """

    def __init__(self, data: List[str], default_mode: int = 0o1777,
                 default_size: int = 0) -> None:
        self.size = default_size
        self.mode, self.uid, self.gid = default_mode, 0, 0
        shown: Dict[str, str] = {}
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        for d in data:
            key, _, value = d.partition("=")
            if key not in TMPFS_OPTIONS:
                raise ValueError(f"tmpfs takes no option {d!r}")
            try:
                self._take(key, value, total, shown)
            except ValueError:
                raise ValueError(f"tmpfs option {d!r} has a bad value") from None
        if self.mode != 0o1777:
            shown["mode"] = f"{self.mode:03o}"
        if self.uid:
            shown["uid"] = str(self.uid)
        if self.gid:
            shown["gid"] = str(self.gid)
        order = ("size", "nr_inodes", "mode", "uid", "gid", "inode64")  # shmem_show_options
        self.shown = ",".join(k + ("=" + shown[k] if shown[k] else "") for k in order
                              if k in shown)

    def _take(self, key: str, value: str, total: int, shown: Dict[str, str]) -> None:
        """Apply one ``key=value`` option.  :raises ValueError: a malformed value."""
        if key == "size":
            self.size = parse_size(value, total)
            shown["size"] = f"{self.size // 1024}k"
        elif key == "nr_blocks":
            self.size = number(value) * 4096
            shown["size"] = f"{self.size // 1024}k"
        elif key == "nr_inodes":
            shown["nr_inodes"] = str(number(value))
        elif key == "mode":
            self.mode = int(value, 8) & 0o7777
        elif key == "uid":
            self.uid = number(value)
        elif key == "gid":
            self.gid = number(value)
        elif key == "inode64":
            shown["inode64"] = ""
