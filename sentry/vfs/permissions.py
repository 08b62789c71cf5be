"""Discretionary access checks (fs/namei.c ``generic_permission``).

The sandbox credentials (``t.creds``) decide, never the host's.  The mode bits
for the fs uid/gid come first; then ``CAP_DAC_READ_SEARCH`` allows reading any
file and reading and searching any directory, and ``CAP_DAC_OVERRIDE`` allows
anything except executing a file with no execute bit at all.
"""

from __future__ import annotations

import errno
import stat as _st

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import err

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4


def in_group(creds: Any, gid: int) -> bool:
    """True if *gid* is the task's fs gid or one of its supplementary groups."""
    return gid == creds.fsgid or gid in creds.groups


def mode_allows(creds: Any, mode: int, uid: int, gid: int, want: int, use_real: bool = False,
                mapped: bool = True) -> bool:
    """Whether *creds* may access a file with *mode*/*uid*/*gid* for *want* (MAY_* bits).

    :param use_real: use the real uid/gid (``access(2)`` without ``AT_EACCESS``), and
        the permitted set for root, no capability otherwise (``do_faccessat``).
    :param mapped: the file's owner and group are mapped ids (``Inode.ids_mapped``);
        if not, no capability overrides (``capable_wrt_inode_uidgid``).
    """
    if want == 0:
        return True
    if use_real:
        fsuid, fsgid = creds.uid, creds.gid
        caps = access_caps(creds)
    else:
        fsuid, fsgid = creds.fsuid, creds.fsgid
        caps = creds.effective
    if fsuid == uid:
        bits = (mode >> 6) & 7
    elif gid == fsgid or gid in creds.groups:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    if want & ~bits == 0:
        return True
    if not mapped:
        return False
    read_search = caps >> cap.CAP_DAC_READ_SEARCH & 1
    override = caps >> cap.CAP_DAC_OVERRIDE & 1
    if _st.S_ISDIR(mode):
        return bool(override or (read_search and not want & MAY_WRITE))
    if want == MAY_READ and read_search:
        return True
    return bool(override and (not want & MAY_EXEC or mode & 0o111))


def access_caps(creds: Any) -> int:
    """The capabilities access(2) checks with (``access_override_creds``): the permitted
    set for a real uid 0, none otherwise; the effective set unchanged under
    ``SECBIT_NO_SETUID_FIXUP``."""
    if creds.securebits & cap.SECBIT_NO_SETUID_FIXUP:
        return creds.effective
    return creds.permitted if creds.uid == 0 else 0


def access_creds(creds: Any) -> Any:
    """The credentials access(2) without ``AT_EACCESS`` walks the path and checks the file
    with (``access_override_creds``): the real uid and gid as the file-system ones and
    :func:`access_caps` as the effective set; *creds* itself when those are its own."""
    caps = access_caps(creds)
    if creds.fsuid == creds.uid and creds.fsgid == creds.gid and creds.effective == caps:
        return creds
    return creds.copy(fsuid=creds.uid, fsgid=creds.gid, cap_effective=caps)


def check(creds: Any, inode: Any, want: int, use_real: bool = False) -> None:
    """:raises LinuxError: ``EACCES`` unless *creds* may access *inode* for *want*."""
    if not mode_allows(creds, inode.mode, inode.uid, inode.gid, want, use_real,
                       inode.ids_mapped):
        raise err(errno.EACCES)


def is_owner_or_root(creds: Any, inode: Any) -> bool:
    """``inode_owner_or_capable``: the fs uid owns the file, or has ``CAP_FOWNER`` (and
    the file's ids are mapped)."""
    return creds.fsuid == inode.uid or (inode.ids_mapped and creds.capable(cap.CAP_FOWNER))
