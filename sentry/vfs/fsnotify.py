"""File events of the VFS, for inotify (Linux's ``fs/notify``, ``include/linux/fsnotify.h``).

A :class:`Watch` (Linux's inode mark) ties a listener, the *group* (an inotify
instance, :mod:`sentry.fsimpl.inotify.inotify`), to an inode: the inode's
``watches`` list holds it, and it holds the dentry it was added through, so that
dentry and its inode object stay cached and every later walk to the file finds
the same inode (gofer and overlay inodes are otherwise rebuilt on lookup).

Where events come from, so that every file system has them without code of its
own:

- the :class:`~sentry.vfs.vfs.VirtualFilesystem` operations: ``IN_CREATE``
  (create, mkdir, mknod, symlink, link), ``IN_DELETE``/``IN_DELETE_SELF``
  (unlink, rmdir, a rename that replaces), ``IN_MOVED_FROM``/``IN_MOVED_TO``
  with one cookie and ``IN_MOVE_SELF`` (rename), ``IN_ATTRIB``/``IN_MODIFY``/
  ``IN_ACCESS`` from a metadata change as ``fsnotify_change`` maps it, ``IN_OPEN``
  (and ``IN_MODIFY`` for ``O_TRUNC``) from :meth:`VirtualFilesystem.open_vd`;
  ``IN_ATTRIB`` from an extended attribute set or removed (:mod:`sentry.vfs.xattr`);
- the read and write family of syscalls and ``getdents`` (``IN_ACCESS``,
  ``IN_MODIFY``), with Linux's rules for zero-length transfers;
- :meth:`FileDescription.decref <sentry.vfs.file.FileDescription.decref>` at the
  last reference of a description opened by path (``IN_CLOSE_WRITE``/``NOWRITE``).

An event on a file goes to its directory's watches, with the name, and then to
its own, without (``fsnotify_parent``); the ``*_SELF`` events only to its own.
``IN_DELETE_SELF`` comes when the last name is gone and no description opened
by path is left (Linux: when the last dentry reference goes), then the watch
ends with ``IN_IGNORED``.

Cost: :data:`active` counts the watches of the sandbox; every hook tests it
first, so without a watch a read or write pays one global lookup.  Each path
open and last close also counts the inode's open descriptions
(``Inode.opens``), which ``IN_DELETE_SELF`` needs.
"""

from __future__ import annotations

import itertools

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional
    from sentry.vfs.dentry import Dentry
    from sentry.vfs.file import FileDescription
    from sentry.vfs.inode import Inode, SetAttr

IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_MASK_CREATE = 0x10000000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000
IN_ONESHOT = 0x80000000
IN_ALL_EVENTS = 0x00000FFF

#: Watches in the sandbox; 0 turns every hook into one test.
active = 0
#: Called with the new state when :data:`active` turns non-zero or zero again (the C
#: fast path, which serves reads and writes of host-backed files without events,
#: stands aside for path-opened files while there are watches).
on_active_change: Optional[Callable[[bool], None]] = None

_cookies = itertools.count(1)


class Watch:
    """One group's interest in one inode (``struct inotify_inode_mark``).

    :ivar mask: the event bits (``IN_ALL_EVENTS``) plus ``IN_ONESHOT`` and
        ``IN_EXCL_UNLINK``.
    """

    __slots__ = ("group", "wd", "mask", "inode", "dentry")

    def __init__(self, group: Any, wd: int, mask: int, inode: "Inode", dentry: "Dentry") -> None:
        self.group = group
        self.wd = wd
        self.mask = mask
        self.inode = inode
        self.dentry = dentry


def attach(w: Watch) -> None:
    """Start delivering *w*'s inode's events to its group."""
    global active
    inode = w.inode
    if inode.watches is None:
        inode.watches = []
    inode.watches.append(w)
    active += 1
    if active == 1 and on_active_change is not None:
        on_active_change(True)


def detach(w: Watch, ignored: bool = True) -> None:
    """End *w*; its group hears ``IN_IGNORED`` unless *ignored* is false (the group
    itself is going away)."""
    global active
    watches = w.inode.watches
    if watches is None or w not in watches:
        return
    watches.remove(w)
    if not watches:
        w.inode.watches = None
    active -= 1
    if active == 0 and on_active_change is not None:
        on_active_change(False)
    w.group.watch_ended(w, ignored)


def _send(watches: List[Watch], mask: int, cookie: int, name: bytes, unlinked: bool) -> None:
    for w in list(watches):
        if not w.mask & mask & IN_ALL_EVENTS:
            continue
        if unlinked and w.mask & IN_EXCL_UNLINK:
            continue
        w.group.deliver(w.wd, mask, cookie, name)
        if w.mask & IN_ONESHOT:
            detach(w)


def _event(dentry: Optional["Dentry"], inode: "Inode", mask: int, path: bool = False) -> None:
    """An event on *inode*, reached as *dentry*: to its directory's watches with the
    name, then to its own (``fsnotify_parent``).  *path*: a file event, which
    ``IN_EXCL_UNLINK`` drops once the name is gone."""
    if inode.is_dir:
        mask |= IN_ISDIR
    unlinked = path and dentry is not None and dentry.dead
    parent = dentry.parent if dentry is not None else None
    if parent is not None and parent.inode.watches:
        _send(parent.inode.watches, mask, 0, dentry.name, unlinked)  # type: ignore[union-attr]
    if inode.watches:
        _send(inode.watches, mask, 0, b"", unlinked)


def _self_event(inode: "Inode", mask: int) -> None:
    # (Linux reports IN_MOVE_SELF/IN_DELETE_SELF of a directory without IN_ISDIR.)
    if inode.watches:
        _send(inode.watches, mask, 0, b"", False)


def _dir_event(parent: "Dentry", mask: int, name: bytes, cookie: int = 0) -> None:
    watches = parent.inode.watches
    if watches:
        _send(watches, mask, cookie, name, False)


def _delete_self(inode: "Inode") -> None:
    inode.delete_pending = False
    if inode.watches:
        _self_event(inode, IN_DELETE_SELF)
        for w in list(inode.watches or ()):
            detach(w)


def _gone(inode: "Inode", is_dir: bool) -> None:
    """*inode* lost a name: if it was the last, ``IN_DELETE_SELF`` now or at the last
    close."""
    if not inode.watches:
        return
    if not is_dir:
        try:
            if inode.stat().nlink > 0:
                return
        except Exception:  # noqa: BLE001 - a file system that cannot say: gone
            pass
    if inode.opens > 0:
        inode.delete_pending = True
    else:
        _delete_self(inode)


# ------------------------------------------------------------------ hooks
def file_event(d: "FileDescription", mask: int) -> None:
    """An event on an open file (``fsnotify_access``/``fsnotify_modify``)."""
    inode = d.notify_inode
    if inode is not None and d.vd is not None:
        _event(d.vd.dentry, inode, mask, path=True)


def opened(d: "FileDescription", inode: "Inode", truncated: bool) -> None:
    """A path open made *d* (``IN_OPEN``, then ``IN_MODIFY`` if ``O_TRUNC`` cut it).

    Always called: it counts the inode's open descriptions."""
    if d.notify_inode is None:  # (a file whose open hands out one shared description)
        d.notify_inode = inode
        inode.opens += 1
    if active:
        file_event(d, IN_OPEN)
        if truncated and active:
            file_event(d, IN_MODIFY)


def closed(d: "FileDescription") -> None:
    """The last reference of a path-opened description went."""
    inode = d.notify_inode
    assert inode is not None
    inode.opens -= 1
    if active:
        file_event(d, IN_CLOSE_WRITE if d.writable() else IN_CLOSE_NOWRITE)
        if inode.delete_pending and inode.opens == 0:
            _delete_self(inode)


def attr_changed(dentry: "Dentry", attr: "SetAttr") -> None:
    """A metadata change, mapped as ``fsnotify_change`` does: owner, mode or both
    times: ``IN_ATTRIB``; size or mtime alone: ``IN_MODIFY``; atime alone: ``IN_ACCESS``."""
    mask = 0
    if attr.uid is not None or attr.gid is not None or attr.mode is not None:
        mask |= IN_ATTRIB
    if attr.size is not None:
        mask |= IN_MODIFY
    if attr.atime_ns is not None and attr.mtime_ns is not None:
        mask |= IN_ATTRIB
    elif attr.atime_ns is not None:
        mask |= IN_ACCESS
    elif attr.mtime_ns is not None:
        mask |= IN_MODIFY
    if mask:
        _event(dentry, dentry.inode, mask)


def xattr_changed(dentry: "Dentry") -> None:
    """An extended attribute was set or removed (``fsnotify_xattr``): ``IN_ATTRIB``."""
    _event(dentry, dentry.inode, IN_ATTRIB)


def created(parent: "Dentry", name: bytes, inode: "Inode") -> None:
    """*name* was made in *parent* (create, mkdir, mknod, symlink)."""
    _dir_event(parent, IN_CREATE | (IN_ISDIR if inode.is_dir else 0), name)


def linked(parent: "Dentry", name: bytes, inode: "Inode") -> None:
    """A hard link *name* to *inode*: its link count changed, then a name appeared."""
    _self_event(inode, IN_ATTRIB)
    _dir_event(parent, IN_CREATE, name)


def removed(parent: "Dentry", name: bytes, inode: "Inode", is_dir: bool) -> None:
    """unlink/rmdir of *name*: ``IN_ATTRIB`` (a file's link count), ``IN_DELETE_SELF``
    if that was its last name and nothing holds it open, then ``IN_DELETE``."""
    if not is_dir:
        _self_event(inode, IN_ATTRIB)
    _gone(inode, is_dir)
    _dir_event(parent, IN_DELETE | (IN_ISDIR if is_dir else 0), name)


def moved(old_parent: "Dentry", old_name: bytes, new_parent: "Dentry", new_name: bytes,
          inode: "Inode", replaced: Optional["Inode"], exchange: bool) -> None:
    """rename: ``IN_MOVED_FROM``/``IN_MOVED_TO`` with one cookie, the replaced file's
    ``IN_ATTRIB``, ``IN_MOVE_SELF``, then the replaced file's end (``fsnotify_move``)."""
    isdir = IN_ISDIR if inode.is_dir else 0
    cookie = next(_cookies)
    _dir_event(old_parent, IN_MOVED_FROM | isdir, old_name, cookie)
    _dir_event(new_parent, IN_MOVED_TO | isdir, new_name, cookie)
    if replaced is not None and not exchange:
        _self_event(replaced, IN_ATTRIB)
    _self_event(inode, IN_MOVE_SELF)
    if replaced is None:
        return
    if exchange:
        isdir = IN_ISDIR if replaced.is_dir else 0
        cookie = next(_cookies)
        _dir_event(new_parent, IN_MOVED_FROM | isdir, new_name, cookie)
        _dir_event(old_parent, IN_MOVED_TO | isdir, old_name, cookie)
        _self_event(replaced, IN_MOVE_SELF)
    else:
        _gone(replaced, replaced.is_dir)
