"""Extended attributes: the VFS's checks (Linux's ``fs/xattr.c``) and an in-memory store.

The syscalls (:mod:`sentry.syscalls.linux.sys_xattr`) decode their arguments and call
:func:`get`, :func:`list_names`, :func:`set` and :func:`remove` with the file's
:class:`~sentry.vfs.dentry.VirtualDentry` (or, for an anonymous description, its inode).
These make every check that does not depend on the file system, in Linux's order:

- ``EROFS`` for a change on a read-only mount (``mnt_want_write``);
- ``security.capability``: a value of any other layout than a v2 or v3 header is
  ``EINVAL``, and setting one needs ``CAP_SETFCAP`` (``cap_convert_nscap``);
- ``xattr_permission``: a change needs mapped owner ids (``EPERM``); ``trusted.*``
  needs ``CAP_SYS_ADMIN`` (``EPERM`` for a change, ``ENODATA`` for a read); ``user.*``
  exists only on regular files and directories (``EPERM``/``ENODATA`` on others) and
  in a sticky directory only its owner (or ``CAP_FOWNER``) may change it; then, except
  for ``security.*`` and ``system.*``, read or write permission (``EACCES``);
- ``security.*`` other than ``security.capability`` may be changed only with
  ``CAP_SYS_ADMIN`` (``cap_inode_setxattr``/``cap_inode_removexattr``; the capability
  attribute's removal needs ``CAP_SETFCAP``), and v3 file capabilities of the sandbox's
  root read as v2 (``cap_inode_getsecurity``); they are kept, never applied at ``execve``;
- listing hides ``trusted.*`` from a caller without ``CAP_SYS_ADMIN``.

Capabilities are the sandbox's (its user namespace), never the host's.  Then the inode
decides (:class:`~sentry.vfs.inode.Inode` ``getxattr`` …): which namespaces its file
system keeps, the flags, the limits.  A success raises ``IN_ATTRIB``.

:class:`SimpleXattrs` is Linux's ``simple_xattrs``: the attributes of one in-memory
inode (tmpfs), listed in the order Linux's tmpfs lists them (its red-black tree walked
from the first node with a reversed comparison: descending byte order).
"""

from __future__ import annotations

import errno
import struct

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, err
from sentry.vfs import fsnotify
from sentry.vfs import permissions as perm

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional
    from sentry.vfs.dentry import VirtualDentry
    from sentry.vfs.inode import Inode

XATTR_CREATE = 1
XATTR_REPLACE = 2
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536

USER = b"user."
TRUSTED = b"trusted."
SECURITY = b"security."
SYSTEM = b"system."
CAPS = b"security.capability"
POSIX_ACLS = (b"system.posix_acl_access", b"system.posix_acl_default")

# include/uapi/linux/capability.h: the two layouts security.capability may have.
_VFS_CAP_REVISION_MASK = 0xFF000000
_VFS_CAP_REVISION_2, _XATTR_CAPS_SZ_2 = 0x02000000, 20
_VFS_CAP_REVISION_3, _XATTR_CAPS_SZ_3 = 0x03000000, 24
_VFS_CAP_FLAGS_EFFECTIVE = 0x000001

#: What one attribute costs in Linux's accounting (``simple_xattr_space``: "40" for the
#: object, then the name and the value).
XATTR_OVERHEAD = 40


def space(name: bytes, size: int) -> int:
    """The memory *name* with a value of *size* bytes counts for (``simple_xattr_space``)."""
    return XATTR_OVERHEAD + len(name) + size


def resolve(name: bytes, prefixes: tuple) -> None:
    """The file system's handler lookup (``xattr_resolve_name``) for one that keeps the
    namespaces *prefixes*.  :raises LinuxError: ``EINVAL`` for a bare prefix
    (``user.``), ``EOPNOTSUPP`` for a namespace it does not keep."""
    for p in prefixes:
        if name.startswith(p):
            if len(name) == len(p):
                raise err(errno.EINVAL)
            return
    raise err(errno.EOPNOTSUPP)


def refused(t: Any, call: str, name: bytes) -> LinuxError:
    """``EOPNOTSUPP`` for a change Linux's file system would make and the sandbox's does not
    (POSIX ACLs; security labels of host files), counted for the compat report as the call
    and the attribute's namespace (``setxattr system.*``)."""
    if t is not None:
        space_name = name.split(b".", 1)[0].decode(errors="replace")
        t.kernel.note_unsupported(t, "xattr", f"{call} {space_name}.*")
    return err(errno.EOPNOTSUPP)


class SimpleXattrs:
    """The extended attributes of one in-memory inode (``simple_xattrs``)."""

    __slots__ = ("_attrs",)

    def __init__(self) -> None:
        self._attrs: Dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._attrs)

    def get(self, name: bytes) -> bytes:
        """:raises LinuxError: ``ENODATA``."""
        v = self._attrs.get(name)
        if v is None:
            raise err(errno.ENODATA)
        return v

    def lookup(self, name: bytes) -> Optional[bytes]:
        return self._attrs.get(name)

    def set(self, name: bytes, value: Optional[bytes], flags: int) -> Optional[bytes]:
        """Set (*value* None: remove) *name*; returns the value it replaced or removed.

        :raises LinuxError: ``EEXIST`` (``XATTR_CREATE``), ``ENODATA`` (``XATTR_REPLACE``,
            or a removal, of a missing name).
        """
        old = self._attrs.get(name)
        if old is not None:
            if flags & XATTR_CREATE:
                raise err(errno.EEXIST)
        elif flags & XATTR_REPLACE:
            raise err(errno.ENODATA)
        if value is None:
            self._attrs.pop(name, None)
        else:
            self._attrs[name] = bytes(value)
        return old

    def names(self) -> List[bytes]:
        """Every name, in Linux's tmpfs order (descending bytes)."""
        return sorted(self._attrs, reverse=True)

    def items(self) -> List[tuple]:
        return list(self._attrs.items())


# ---------------------------------------------------------------- the VFS's checks


class _Anonymous:
    """An anonymous description without an inode: no type bits, as an anonymous inode."""

    mode = 0o600
    uid = gid = 0
    ids_mapped = True
    is_dir = is_reg = False

    def getxattr(self, t: Any, name: bytes) -> bytes:
        raise err(errno.EOPNOTSUPP)

    def listxattr(self, t: Any) -> List[bytes]:
        return []

    def setxattr(self, t: Any, name: bytes, value: bytes, flags: int) -> None:
        raise err(errno.EOPNOTSUPP)

    def removexattr(self, t: Any, name: bytes) -> None:
        raise err(errno.EOPNOTSUPP)


ANONYMOUS = _Anonymous()


def _creds(t: Any) -> Any:
    from sentry.vfs.vfs import creds_of

    return creds_of(t)


def permission(t: Any, inode: Any, name: bytes, want: int) -> None:
    """``xattr_permission``: may *t* read (``MAY_READ``) or change (``MAY_WRITE``) *name*
    of *inode*.  :raises LinuxError: ``EPERM``, ``ENODATA``, ``EACCES``."""
    creds = _creds(t)
    write = bool(want & perm.MAY_WRITE)
    if write and not inode.ids_mapped:
        raise err(errno.EPERM)
    if name.startswith(SECURITY) or name.startswith(SYSTEM):
        return
    if name.startswith(TRUSTED):
        if not creds.capable(cap.CAP_SYS_ADMIN):
            raise err(errno.EPERM if write else errno.ENODATA)
        return
    if name.startswith(USER):
        mode = inode.mode
        kind = mode & 0o170000
        if kind not in (0o100000, 0o040000):
            raise err(errno.EPERM if write else errno.ENODATA)
        if (write and kind == 0o040000 and mode & 0o1000
                and not perm.is_owner_or_root(creds, inode)):
            raise err(errno.EPERM)
    perm.check(creds, inode, want)


def _check_caps_value(t: Any, inode: Any, value: bytes) -> None:
    """``cap_convert_nscap``: only a v2 or v3 header, set with ``CAP_SETFCAP``."""
    size = len(value)
    magic = struct.unpack_from("<I", value)[0] if size >= 4 else 0
    rev = magic & _VFS_CAP_REVISION_MASK
    if not (size == _XATTR_CAPS_SZ_2 and rev == _VFS_CAP_REVISION_2
            or size == _XATTR_CAPS_SZ_3 and rev == _VFS_CAP_REVISION_3):
        raise err(errno.EINVAL)
    if not (inode.ids_mapped and _creds(t).capable(cap.CAP_SETFCAP)):
        raise err(errno.EPERM)


def _security_change(t: Any, inode: Any, name: bytes, removing: bool) -> None:
    """``cap_inode_setxattr``/``cap_inode_removexattr`` (commoncap, the LSM every kernel
    has): a security label other than file capabilities needs ``CAP_SYS_ADMIN``."""
    if not name.startswith(SECURITY):
        return
    creds = _creds(t)
    if name == CAPS:
        if removing and not (inode.ids_mapped and creds.capable(cap.CAP_SETFCAP)):
            raise err(errno.EPERM)
        return
    if not creds.capable(cap.CAP_SYS_ADMIN):
        raise err(errno.EPERM)


def _writable(vd: Optional["VirtualDentry"]) -> None:
    if vd is not None and (vd.mount.readonly or vd.mount.fs.readonly):
        raise err(errno.EROFS)


def _changed(vd: Optional["VirtualDentry"]) -> None:
    if vd is not None and fsnotify.active:
        fsnotify.xattr_changed(vd.dentry)


def get(t: Any, vd: Optional["VirtualDentry"], inode: "Inode", name: bytes) -> bytes:
    """getxattr(2) of *name* (its value, whole).  :raises LinuxError: see the module
    docstring; ``ENODATA`` if the file has no such attribute."""
    permission(t, inode, name, perm.MAY_READ)
    value = inode.getxattr(t, name)
    if name == CAPS:
        value = _caps_as_read(value)
    return value


def _caps_as_read(value: bytes) -> bytes:
    """``cap_inode_getsecurity``: v3 file capabilities whose root is the sandbox's root
    (rootid 0) read as v2, as the kernel shows them in the namespace they belong to."""
    if len(value) == _XATTR_CAPS_SZ_3:
        magic, rootid = struct.unpack_from("<I", value)[0], struct.unpack_from("<I", value, 20)[0]
        if magic & _VFS_CAP_REVISION_MASK == _VFS_CAP_REVISION_3 and rootid == 0:
            v2 = _VFS_CAP_REVISION_2 | (magic & _VFS_CAP_FLAGS_EFFECTIVE)
            return struct.pack("<I", v2) + value[4:_XATTR_CAPS_SZ_2]
    return value


def list_names(t: Any, inode: "Inode") -> List[bytes]:
    """listxattr(2): the names *t* may see (no permission is needed to list)."""
    names = inode.listxattr(t)
    if not _creds(t).capable(cap.CAP_SYS_ADMIN):
        names = [n for n in names if not n.startswith(TRUSTED)]
    return names


def set(t: Any, vd: Optional["VirtualDentry"], inode: "Inode", name: bytes, value: bytes,
        flags: int) -> None:
    """setxattr(2) (the caller checked the flags, the name and the size)."""
    _writable(vd)
    if value and name == CAPS:
        _check_caps_value(t, inode, value)
    permission(t, inode, name, perm.MAY_WRITE)
    _security_change(t, inode, name, False)
    inode.setxattr(t, name, value, flags)
    _changed(vd)


def remove(t: Any, vd: Optional["VirtualDentry"], inode: "Inode", name: bytes) -> None:
    """removexattr(2)."""
    _writable(vd)
    permission(t, inode, name, perm.MAY_WRITE)
    _security_change(t, inode, name, True)
    inode.removexattr(t, name)
    _changed(vd)


def copy_all(t: Any, src: "Inode", dst: "Inode") -> None:
    """Give *dst* every attribute of *src* that *src*'s file system reports (an overlay
    copy-up, as ``ovl_copy_xattr``; made with the sentry's privileges, like overlayfs
    with its mounter's).  A namespace *dst* does not keep is left out.

    :raises LinuxError: ``ENOSPC`` when *dst*'s file system has no room left.
    """
    for name in src.listxattr(None):
        try:
            value = src.getxattr(None, name)
        except LinuxError as e:
            if e.errno == errno.ENODATA:
                continue  # gone since it was listed
            raise
        try:
            dst.setxattr(None, name, value, 0)
        except LinuxError as e:
            if e.errno != errno.EOPNOTSUPP:
                raise


__all__ = [
    "ANONYMOUS", "SimpleXattrs", "XATTR_CREATE", "XATTR_LIST_MAX", "XATTR_NAME_MAX",
    "XATTR_REPLACE", "XATTR_SIZE_MAX", "copy_all", "get", "list_names", "permission",
    "refused", "remove", "resolve", "set", "space",
]
