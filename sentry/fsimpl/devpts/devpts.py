"""devpts: the sandbox's pseudo-terminal file system (``/dev/pts``), one instance per
mount as with ``newinstance`` (every sandbox has its own numbers).

Contents (Linux's layout): the root (inode 1, 0755), ``ptmx`` (inode 2, char 5:2,
``ptmxmode``), and ``N`` (inode N+3, char 136:N) for every pty whose master is open,
newest first in a listing.  Opening ``ptmx`` makes a new pty (a
:class:`~sentry.fsimpl.devpts.master.MasterFileDescription`) with the lowest free
number; its replica node is owned by the opener (or the ``uid=``/``gid=`` options) with
mode ``mode=`` (default 0600), and goes when the master closes.  At most
:data:`MAX_PTYS` ptys exist at once (``kernel.pty.max`` less the reserve Linux keeps
for the initial instance), so with :mod:`~sentry.fsimpl.devpts.line_discipline`'s
bounds a workload holds at most ~136 KiB of sentry memory per pty.

The sentry's ``/dev/ptmx`` (char 5:2) opens the devpts instance mounted on ``pts``
next to it, as Linux's ``ptmx_open`` finds it (:func:`open_ptmx_device`).
"""

from __future__ import annotations

import errno
import os

from sentry.abi.linux.errors import err
from sentry.fsimpl.devpts.master import MasterFileDescription
from sentry.fsimpl.devpts.replica import ReplicaFileDescription
from sentry.fsimpl.devpts.terminal import PTS_MAJOR, Terminal
from sentry.vfs import abi
from sentry.vfs.dentry import VirtualDentry
from sentry.vfs.file import DirectoryDescription, FileDescription
from sentry.vfs.inode import DirEntry, Filesystem, Inode, SimpleStatMixin
from sentry.vfs.mount_options import parse as parse_options

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

DEVPTS_SUPER_MAGIC = 0x1CD1
#: kernel.pty.max (4096) less kernel.pty.reserve (1024), what a new instance may have.
MAX_PTYS = 3072
PTMX_RDEV = os.makedev(5, 2)


class DevptsFilesystem(Filesystem):
    """One devpts instance.

    :param mode: permission bits of new replica nodes.
    :param ptmxmode: permission bits of ``ptmx``.
    :param uid: owner of new replica nodes (``None``: the opener's fsuid).
    :param gid: group of new replica nodes (``None``: the opener's fsgid).
    """

    fstype = "devpts"
    magic = DEVPTS_SUPER_MAGIC
    block_size = 1024
    # Nodes come and go with their masters: every walk asks the root.
    cache_dentries = False

    def __init__(self, mode: int = 0o600, ptmxmode: int = 0, uid: Optional[int] = None,
                 gid: Optional[int] = None, max_ptys: int = MAX_PTYS) -> None:
        super().__init__()
        self.mode = mode & 0o7777
        self.ptmxmode = ptmxmode & 0o7777
        self.uid = uid
        self.gid = gid
        self.max_ptys = min(max_ptys, MAX_PTYS)
        self.terminals: Dict[int, Terminal] = {}
        self._root = DevptsRoot(self)
        self.ptmx = PtmxInode(self)

    @classmethod
    def from_options(cls, options: List[str]) -> "DevptsFilesystem":
        """An instance with devpts's mount options (``mode``, ``ptmxmode``, ``uid``,
        ``gid``, ``max``; ``newinstance`` is what every sandbox mount is anyway).

        :raises ValueError: a malformed number.
        """
        opts = parse_options(options)

        def num(key: str, base: int) -> Optional[int]:
            v = opts.datum(key)
            return None if v is None else int(v, base)

        mode = num("mode", 8)
        return cls(mode=0o600 if mode is None else mode, ptmxmode=num("ptmxmode", 8) or 0,
                   uid=num("uid", 10), gid=num("gid", 10), max_ptys=num("max", 10) or MAX_PTYS)

    def shown_options(self) -> str:
        """The options ``/proc/mounts`` shows (``devpts_show_options``)."""
        out = [f"uid={self.uid}"] if self.uid is not None else []
        out += [f"gid={self.gid}"] if self.gid is not None else []
        out += [f"mode={self.mode:03o}", f"ptmxmode={self.ptmxmode:03o}"]
        if self.max_ptys < MAX_PTYS:
            out.append(f"max={self.max_ptys}")
        return ",".join(out)

    def root_inode(self) -> Inode:
        return self._root

    # -- ptys ------------------------------------------------------------------------
    def open_master(self, t: Any, mount: Any, vd: VirtualDentry, inode: Inode,
                    flags: int) -> FileDescription:
        """A new pty; the master's description is opened at *vd* (the node opened).

        :raises LinuxError: ``ENOSPC`` (no free number).
        """
        if len(self.terminals) >= self.max_ptys:
            raise err(errno.ENOSPC)
        index = 0
        while index in self.terminals:
            index += 1
        creds = getattr(t, "creds", None)
        uid = self.uid if self.uid is not None else (creds.fsuid if creds else 0)
        gid = self.gid if self.gid is not None else (creds.fsgid if creds else 0)
        node = ReplicaInode(self, index, uid, gid)
        term = Terminal(getattr(t, "kernel", None), index, node, mount)
        node.term = term
        self.terminals[index] = term
        return MasterFileDescription(term, vd, inode, flags, self._master_closed)

    def _master_closed(self, term: Terminal) -> None:
        if self.terminals.get(term.index) is term:
            del self.terminals[term.index]


class _DevptsInode(SimpleStatMixin, Inode):
    fs: DevptsFilesystem

    def __init__(self, fs: DevptsFilesystem, ino: int, mode: int, uid: int, gid: int,
                 rdev: int = 0) -> None:
        Inode.__init__(self, fs, ino, mode, uid, gid)
        self.nlink = 1
        self.rdev = rdev
        self._init_times()

    def setattr(self, t: Any, attr: Any) -> None:
        if attr.size is not None:
            raise err(errno.EINVAL)
        self.apply_setattr(attr)


class DevptsRoot(_DevptsInode):
    """The instance's root directory: ``ptmx`` and the live replicas."""

    def __init__(self, fs: DevptsFilesystem) -> None:
        super().__init__(fs, 1, abi.S_IFDIR | 0o755, 0, 0)
        self.nlink = 2

    def lookup(self, t: Any, name: bytes) -> Optional[Inode]:
        if name == b"ptmx":
            return self.fs.ptmx
        if name.isdigit() and (name == b"0" or not name.startswith(b"0")):
            term = self.fs.terminals.get(int(name))
            return term.inode if term is not None else None
        return None

    def iterdir(self, t: Any) -> List[DirEntry]:
        out: List[DirEntry] = [(b"%d" % i, term.inode.ino, abi.DT_CHR)
                               for i, term in reversed(list(self.fs.terminals.items()))]
        out.append((b"ptmx", self.fs.ptmx.ino, abi.DT_CHR))
        return out

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return DirectoryDescription(vd, self, flags)


class PtmxInode(_DevptsInode):
    """``ptmx``: every open makes a new pty of this instance."""

    def __init__(self, fs: DevptsFilesystem) -> None:
        super().__init__(fs, 2, abi.S_IFCHR | fs.ptmxmode, 0, 0, PTMX_RDEV)

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return self.fs.open_master(t, vd.mount, vd, self, flags)


class ReplicaInode(_DevptsInode):
    """``N``: the replica of pty N."""

    term: Terminal

    def __init__(self, fs: DevptsFilesystem, index: int, uid: int, gid: int) -> None:
        super().__init__(fs, index + 3, abi.S_IFCHR | fs.mode, uid, gid,
                         os.makedev(PTS_MAJOR, index))

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        return ReplicaFileDescription.open(t, self.term, vd, self, flags)


def open_ptmx_device(t: Any, inode: Inode, vd: Any, flags: int) -> FileDescription:
    """Open a ``/dev/ptmx`` node (char 5:2) outside devpts: a new pty of the devpts
    instance mounted on ``pts`` in the node's directory (``devpts_ptmx_path``).

    :raises LinuxError: ``ENODEV`` if there is none.
    """
    vfs = getattr(getattr(t, "kernel", None), "vfs", None)
    parent = vd.dentry.parent if vd is not None else None
    if vfs is None or parent is None:
        raise err(errno.ENODEV)
    path, _ = vfs.path_of(VirtualDentry(vd.mount, parent), vfs.root())
    pts = vfs.lookup_existing(path.rstrip(b"/") + b"/pts")
    if pts is None or not isinstance(pts.mount.fs, DevptsFilesystem) or (
            pts.dentry is not pts.mount.root):
        raise err(errno.ENODEV)
    return pts.mount.fs.open_master(t, pts.mount, vd, inode, flags)
