"""dnotify: fcntl(2) ``F_NOTIFY``, a signal when a directory's entries change.

Linux's ``fs/notify/dnotify``: ``F_NOTIFY`` on a directory's description asks for
``SIGIO`` when something happens to an entry of that directory: ``DN_ACCESS`` (read),
``DN_MODIFY`` (written), ``DN_CREATE`` (created, linked or moved in), ``DN_DELETE``
(removed or moved out), ``DN_RENAME`` (renamed), ``DN_ATTRIB`` (attributes changed).
The description's owner becomes the calling process (``__f_setown``); without
``DN_MULTISHOT`` the request ends at the first signal. Another ``F_NOTIFY`` through the same
description adds to its mask; a mask of 0 ends it.

Built on :mod:`sentry.vfs.fsnotify`: each request is a watch of the directory's inode
whose group sends the signal (the events with a name, i.e. on the directory's entries, as
dnotify's ``FS_EVENT_ON_CHILD``). The signal is ``SIGIO`` with ``si_code`` ``SI_KERNEL``,
or the description's ``F_SETSIG`` signal with ``si_code`` ``POLL_MSG`` and ``si_fd`` the fd
``F_NOTIFY`` was asked through (:func:`sentry.vfs.fasync.send`).
A request ends when its description is released; Linux ends it at any close of a
descriptor of that description by the process that owns the request (``dnotify_flush``).
"""

from __future__ import annotations

import errno
import weakref

from sentry.abi.linux.errors import err
from sentry.vfs import fasync, fsnotify

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

DN_ACCESS = 0x00000001
DN_MODIFY = 0x00000002
DN_CREATE = 0x00000004
DN_DELETE = 0x00000008
DN_RENAME = 0x00000010
DN_ATTRIB = 0x00000020
DN_MULTISHOT = 0x80000000
_DN_ALL = DN_ACCESS | DN_MODIFY | DN_CREATE | DN_DELETE | DN_RENAME | DN_ATTRIB

#: The inotify events each dnotify bit stands for (Linux's convert_arg).
_EVENTS = {
    DN_ACCESS: fsnotify.IN_ACCESS,
    DN_MODIFY: fsnotify.IN_MODIFY,
    DN_CREATE: fsnotify.IN_CREATE | fsnotify.IN_MOVED_TO,
    DN_DELETE: fsnotify.IN_DELETE | fsnotify.IN_MOVED_FROM,
    DN_RENAME: fsnotify.IN_MOVED_FROM | fsnotify.IN_MOVED_TO,
    DN_ATTRIB: fsnotify.IN_ATTRIB,
}
_HOOK = "dnotify"  # this module's key in FileDescription.release_hooks


def _in_mask(dn_mask: int) -> int:
    mask = 0
    for bit, events in _EVENTS.items():
        if dn_mask & bit:
            mask |= events
    return mask


class _Request:
    """One description's dnotify request: the group of its fsnotify watch."""

    __slots__ = ("desc", "kernel", "mask", "watch", "fd")

    def __init__(self, desc: Any, kernel: Any, mask: int, fd: int) -> None:
        self.desc = desc
        self.kernel = kernel
        self.mask = mask  # DN_* bits, DN_MULTISHOT included
        self.watch: Any = None
        self.fd = fd  # the fd F_NOTIFY was asked through (si_fd)

    def deliver(self, wd: int, mask: int, cookie: int, name: bytes) -> None:
        if not name:
            return  # an event of the directory itself: dnotify hears its entries only
        fasync.send(self.kernel, self.desc, [fasync.POLL_MSG], self.fd)
        if not self.mask & DN_MULTISHOT:
            end(self.desc)

    def watch_ended(self, w: Any, ignored: bool) -> None:
        pass  # (dnotify has no IN_IGNORED to report)


#: Each description's request, while it has one.
_REQUESTS: "weakref.WeakKeyDictionary[Any, _Request]" = weakref.WeakKeyDictionary()


def end(desc: Any) -> None:
    """End *desc*'s request, if it has one (also its release hook)."""
    req = _REQUESTS.pop(desc, None)
    if req is None:
        return
    if desc.release_hooks:
        desc.release_hooks.pop(_HOOK, None)
    fsnotify.detach(req.watch, ignored=False)


def notify(t: Any, desc: Any, arg: int, fd: int) -> None:
    """``F_NOTIFY`` with *arg* (``DN_*`` bits) on the description *desc* (through *fd*).

    :raises LinuxError: ``ENOTDIR`` for a file that is not a directory (or a description
        opened without a path).
    """
    arg &= 0xFFFFFFFF
    if not arg & ~DN_MULTISHOT:
        end(desc)
        return
    inode = getattr(desc, "inode", None)
    vd = getattr(desc, "vd", None)
    if inode is None or vd is None or not inode.is_dir or vd.dentry.inode is not inode:
        raise err(errno.ENOTDIR)
    fasync.set_owner(t, desc, t.tgid)
    req = _REQUESTS.get(desc)
    if req is not None:
        fsnotify.detach(req.watch, ignored=False)
        req.mask |= arg
        req.fd = fd
    else:
        req = _REQUESTS[desc] = _Request(desc, t.kernel, arg, fd)
        if desc.release_hooks is None:
            desc.release_hooks = {}
        desc.release_hooks[_HOOK] = end
    req.watch = fsnotify.Watch(req, 0, _in_mask(req.mask & _DN_ALL), inode, vd.dentry)
    fsnotify.attach(req.watch)
