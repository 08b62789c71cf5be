"""Sandbox credentials: identities and capability sets, and how they change.

Everything here is the sandbox's own (from ``process.user`` and
``process.capabilities``), never the host's.  The rules are Linux's
(``kernel/cred.c``, ``security/commoncap.c``, ``fs/exec.c``):

- a privileged operation asks :meth:`Credentials.capable` (the effective set);
- ``setuid`` and friends adjust the sets as ``cap_emulate_setxuid`` does (leaving
  uid 0 drops them unless ``SECBIT_KEEP_CAPS``), ``setfsuid`` as the fs fixup does;
- :func:`exec_credentials` is ``execve``'s transition: set-user/group-ID bits
  (ignored on a ``nosuid`` mount or with ``no_new_privs``), root's privilege
  (``pP' = bounding | pI``), the ambient set, and the no_new_privs downgrade.

File capabilities (``security.capability`` xattrs) are not read: every file
counts as having none, as on a file system without them.
"""

from __future__ import annotations

from sentry.records import dataclass, field

from sentry.abi.linux import capability as cap

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

S_ISUID, S_ISGID, S_IXGRP = 0o4000, 0o2000, 0o010


#: Called with a Credentials whose effective or permitted set, a real, effective or
#: file-system id, its groups or its securebits were assigned: the C fast path answers
#: getuid & co. from a copy of the ids, and access(2) while the ids and capabilities
#: access uses are those (Kernel._sync_ids; SECBIT_NO_SETUID_FIXUP changes the latter);
#: the stat cache keys its answers by whether the task may search any directory
#: (sentry.vfs.statcache).
on_change: Optional[Callable[["Credentials"], None]] = None
_MIRRORED = frozenset({"cap_effective", "uid", "euid", "gid", "egid", "fsuid", "fsgid",
                       "groups", "cap_permitted", "securebits"})


@dataclass
class Credentials:
    """A task's identities and capability sets.

    Capability sets left ``None`` are those of a program that root, holding every
    capability, started as this user: all of them for uid 0, none otherwise, and a
    full bounding set (``do`` mode; a bundle gets what config.json says).
    """

    uid: int = 0
    gid: int = 0
    euid: int = 0
    egid: int = 0
    suid: int = 0
    sgid: int = 0
    fsuid: int = 0
    fsgid: int = 0
    groups: List[int] = field(default_factory=list)
    cap_inheritable: Optional[int] = None
    cap_permitted: Optional[int] = None
    cap_effective: Optional[int] = None
    cap_bounding: Optional[int] = None
    cap_ambient: Optional[int] = None
    securebits: int = 0

    def __post_init__(self) -> None:
        privileged = self.uid == 0 or self.euid == 0
        if self.cap_bounding is None:
            self.cap_bounding = cap.ALL_CAPS
        if self.cap_inheritable is None:
            self.cap_inheritable = 0
        if self.cap_permitted is None:
            self.cap_permitted = self.cap_bounding if privileged else 0
        if self.cap_effective is None:
            self.cap_effective = self.cap_permitted if self.euid == 0 else 0
        if self.cap_ambient is None:
            self.cap_ambient = 0

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        # (not while __init__ assigns the fields, securebits last: no task has it yet)
        if name in _MIRRORED and on_change is not None and "securebits" in self.__dict__:
            on_change(self)

    # The sets are never None after __post_init__; these give them a plain int type.
    @property
    def inheritable(self) -> int:
        return self.cap_inheritable or 0

    @property
    def permitted(self) -> int:
        return self.cap_permitted or 0

    @property
    def effective(self) -> int:
        return self.cap_effective or 0

    @property
    def bounding(self) -> int:
        return self.cap_bounding or 0

    @property
    def ambient(self) -> int:
        return self.cap_ambient or 0

    def copy(self, **changes: Any) -> "Credentials":
        """A new set, the same but for *changes* (field: value).  Made directly, not
        through ``__init__`` and ``__setattr__``: no task holds it yet, so there is
        nothing to mirror (a fork and an exec make one each)."""
        new: Credentials = object.__new__(Credentials)
        d = new.__dict__
        d.update(self.__dict__)
        d["groups"] = list(self.groups)
        d.update(changes)
        return new

    @property
    def is_root(self) -> bool:
        return self.euid == 0

    def capable(self, c: int) -> bool:
        """``capable(c)``: *c* is in the effective set."""
        return bool(self.effective >> c & 1)

    def has_keep_caps(self) -> bool:
        return bool(self.securebits & cap.SECBIT_KEEP_CAPS)


def fix_setuid(new: Credentials, old: Credentials) -> None:
    """Adjust *new*'s sets after a ``set*uid`` changed its ids (``cap_emulate_setxuid``)."""
    if new.securebits & cap.SECBIT_NO_SETUID_FIXUP:
        return
    if 0 in (old.uid, old.euid, old.suid) and 0 not in (new.uid, new.euid, new.suid):
        if not new.has_keep_caps():
            new.cap_permitted = 0
            new.cap_effective = 0
        # Pre-ambient programs expect setresuid to non-root then exec to drop everything.
        new.cap_ambient = 0
    if old.euid == 0 and new.euid != 0:
        new.cap_effective = 0
    if old.euid != 0 and new.euid == 0:
        new.cap_effective = new.permitted


def fix_setfsuid(new: Credentials, old_fsuid: int) -> None:
    """Adjust *new*'s effective set after ``setfsuid`` (the fs-capability fixup)."""
    if new.securebits & cap.SECBIT_NO_SETUID_FIXUP:
        return
    if old_fsuid == 0 and new.fsuid != 0:
        new.cap_effective = new.effective & ~cap.FS_SET
    if old_fsuid != 0 and new.fsuid == 0:
        new.cap_effective = new.effective | (new.permitted & cap.FS_SET)


def exec_credentials(old: Credentials, mode: int, file_uid: int, file_gid: int, *,
                     nosuid: bool, no_new_privs: bool,
                     unsafe_ptrace: bool = False) -> Tuple[Credentials, bool]:
    """The credentials after ``execve`` of a file with *mode*, *file_uid*, *file_gid*.

    :param nosuid: the file is on a ``nosuid`` mount (its set-ID bits are ignored).
    :param no_new_privs: the task's ``no_new_privs`` (set-ID bits ignored, and no
        capability beyond the current permitted set).
    :param unsafe_ptrace: the task is traced by a tracer without ``CAP_SYS_PTRACE``
        (``LSM_UNSAFE_PTRACE``): no capability beyond the current permitted set, and the
        set-ID bits count only for a task that has ``CAP_SETUID``.
    :returns: the new credentials and ``AT_SECURE`` (a privilege-changing exec).
    """
    # bprm_fill_uid (the real ids never change)
    euid, egid = old.euid, old.egid
    if not nosuid and not no_new_privs:
        if mode & S_ISUID:
            euid = file_uid
        if mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP:
            egid = file_gid
    # cap_bprm_creds_from_file, without file capabilities.
    permitted = 0
    effective = False
    if not old.securebits & cap.SECBIT_NOROOT:
        if euid == 0 or old.uid == 0:
            permitted = old.bounding | old.inheritable
        if euid == 0:
            effective = True
    gained = permitted & ~old.permitted != 0
    is_setid = euid != old.uid or egid != old.gid
    if (is_setid or gained) and (no_new_privs or unsafe_ptrace):
        # The downgrade: no more than the task had.
        if no_new_privs or not old.capable(cap.CAP_SETUID):
            euid, egid = old.uid, old.gid
        permitted &= old.permitted
    ambient = 0 if is_setid else old.ambient
    permitted |= ambient
    new = old.copy(euid=euid, suid=euid, fsuid=euid, egid=egid, sgid=egid, fsgid=egid,
                   cap_permitted=permitted, cap_ambient=ambient,
                   cap_effective=permitted if effective else ambient,
                   securebits=old.securebits & ~cap.SECBIT_KEEP_CAPS)
    secure = is_setid or (new.uid != 0 and (effective or permitted & ~ambient != 0))
    return new, secure


def privilege_changed(new: Credentials, old: Credentials) -> bool:
    """What ``commit_creds`` treats as a change of privilege (the process stops being
    dumpable and loses its parent-death signal)."""
    return (new.euid != old.euid or new.egid != old.egid or new.fsuid != old.fsuid
            or new.fsgid != old.fsgid or new.permitted & ~old.permitted != 0)
