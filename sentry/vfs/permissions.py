"""Discretionary access checks (fs/namei.c ``generic_permission``).

The sandbox credentials (``t.creds``) decide, never the host's.  A task with
``fsuid`` 0 stands for a holder of ``CAP_DAC_OVERRIDE`` and
``CAP_DAC_READ_SEARCH``: it may read and write anything and search any
directory, and may execute a file if any execute bit is set.
"""

from __future__ import annotations

import errno
import stat as _st
from typing import Any

from sentry.abi.linux.errors import err

MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4


def in_group(creds: Any, gid: int) -> bool:
    """True if *gid* is the task's fs gid or one of its supplementary groups."""
    return gid == creds.fsgid or gid in creds.groups


def mode_allows(creds: Any, mode: int, uid: int, gid: int, want: int, use_real: bool = False) -> bool:
    """Whether *creds* may access a file with *mode*/*uid*/*gid* for *want* (MAY_* bits).

    :param use_real: use the real uid/gid (``access(2)`` without ``AT_EACCESS``).
    """
    if want == 0:
        return True
    fsuid = creds.uid if use_real else creds.fsuid
    fsgid = creds.gid if use_real else creds.fsgid
    if fsuid == uid:
        bits = (mode >> 6) & 7
    elif gid == fsgid or gid in creds.groups:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    if want & ~bits == 0:
        return True
    if fsuid == 0:
        if not want & MAY_EXEC or _st.S_ISDIR(mode):
            return True
        return bool(mode & 0o111)
    return False


def check(creds: Any, inode: Any, want: int, use_real: bool = False) -> None:
    """:raises LinuxError: ``EACCES`` unless *creds* may access *inode* for *want*."""
    if not mode_allows(creds, inode.mode, inode.uid, inode.gid, want, use_real):
        raise err(errno.EACCES)


def is_owner_or_root(creds: Any, inode: Any) -> bool:
    """``inode_owner_or_capable``: the fs uid owns the file, or is root."""
    return creds.fsuid == 0 or creds.fsuid == inode.uid
