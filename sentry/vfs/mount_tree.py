"""Building a sandbox's mount tree from its :class:`~sentry.config.BootConfig`.

Gofer roots: root 0 is the root file system (``cfg.root_path``); every
``bind`` mount is the next root, in the order the bind mounts appear in
``cfg.mounts``.  The caller therefore starts the gofer with::

    [(cfg.root_path, cfg.root_readonly or cfg.overlay)]
    + [(m.source, m.readonly) for m in cfg.mounts if m.type == "bind"]

(the overlay's lower layer is read-only at the gofer too).

``/``: with ``cfg.root_readonly`` the gofer root, mounted read-only (no
overlay: nothing may change); else with ``cfg.overlay`` an overlay (tmpfs in
sentry memory over the gofer root); else the gofer root read-write.

Then ``cfg.mounts`` in order:

- ``tmpfs``: a new tmpfs (mode 1777);
- ``bind``: the next gofer root (``readonly`` honoured); a file source is
  mounted on a file;
- ``proc``: procfs (:mod:`sentry.fsimpl.proc`);
- ``dev``: the sentry's ``/dev`` with a tmpfs on ``<dest>/shm`` and, unless the
  configuration mounts one there, a devpts on ``<dest>/pts`` with a host's options
  (``gid=5,mode=620,ptmxmode=000``; ``/dev/ptmx`` is then a 5:2 node, as on a
  host, rather than runc's symlink to ``pts/ptmx``);
- ``sysfs``: a read-only tmpfs reported as ``sysfs`` holding only
  ``devices/system/cpu`` (``online``, ``possible``, ``present``, ``offline`` and a
  ``cpuN`` directory each, for the CPUs of the sentry's affinity mask); programs that
  probe anything else find nothing rather than the host's;
- ``cgroup2``: the sandbox's own cgroup, read-only (:mod:`sentry.fsimpl.proc.cgroupfs`);
- ``devpts``: a new devpts instance (:mod:`sentry.fsimpl.devpts`);
  ``mqueue``: an empty tmpfs reported as ``mqueue``.

A destination missing in the file system below is created as a mount point:
in the overlay's upper layer (sentry memory) when that is writable, else as a
sentry-only mount-point dentry (as runc would create it).
"""

from __future__ import annotations

import os
import stat as _st

from sentry.abi.linux.errors import LinuxError
from sentry.fsimpl.dev.dev import DevFilesystem
from sentry.fsimpl.devpts.devpts import DevptsFilesystem
from sentry.fsimpl.gofer.filesystem import GoferFilesystem
from sentry.fsimpl.overlay.filesystem import OverlayFilesystem
from sentry.fsimpl.tmpfs.filesystem import DEFAULT_SIZE_LIMIT, TmpfsFilesystem
from sentry.kernel.idmap import IdMap
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, VirtualDentry
from sentry.vfs.inode import SetAttr
from sentry.vfs.mount_options import (
    MNT_NODEV,
    MNT_NOEXEC,
    MNT_NOSUID,
    MNT_RELATIME,
    TmpfsSettings,
)
from sentry.vfs.mount_options import parse as parse_options
from sentry.vfs.vfs import VirtualFilesystem

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Tuple


#: What /proc/mounts shows as the source of a gofer mount (gVisor shows the same): the
#: host path behind it is none of the workload's business.
GOFER_SOURCE = "none"


class SysFilesystem(TmpfsFilesystem):
    """A minimal read-only ``/sys``: only ``devices/system/cpu`` (:func:`cpu_list`)."""

    fstype = "sysfs"
    magic = abi.SYSFS_MAGIC
    dir_fsync = False  # (kernfs's directories have none; its files' is a no-op)

    def __init__(self, readonly: bool = True, root_mode: int = 0o555) -> None:
        super().__init__(readonly=readonly, root_mode=root_mode)
        from sentry.fsimpl.tmpfs.directory import TmpfsDir
        from sentry.fsimpl.tmpfs.regular_file import TmpfsFile

        d = self.root_inode()
        assert isinstance(d, TmpfsDir)
        for name in (b"devices", b"system", b"cpu"):
            sub = TmpfsDir(self, 0o755, 0, 0)
            d.add(name, sub)
            d = sub
        # The CPUs the sandbox may run on, as sched_getaffinity shows them (host
        # numbers): online, possible and present alike; none offline.  Made at boot
        # (build_mount_tree), before any task exists to hold (sentry.kernel.cpuhold).
        cpus = sorted(os.sched_getaffinity(0))
        text = affinity_list()
        for name, data in ((b"online", text), (b"possible", text), (b"present", text),
                           (b"offline", b"\n")):
            f = TmpfsFile(self, 0o444, 0, 0)
            f.write_at(0, data)
            d.add(name, f)
        for n in cpus:
            d.add(b"cpu%d" % n, TmpfsDir(self, 0o755, 0, 0))


def affinity_list() -> bytes:
    """The CPUs the sandbox may run on (the sentry's affinity mask, read at boot, before
    the CPU hold narrows it), as /sys and the cgroup's ``cpuset.cpus.effective`` list
    them."""
    return cpu_list(sorted(os.sched_getaffinity(0))).encode() + b"\n"


def cpu_list(cpus: "list[int]") -> str:
    """The kernel's cpulist format (``0-3,8,10-11``) of sorted *cpus*."""
    runs: "list[list[int]]" = []
    for n in cpus:
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


class MqueueFilesystem(TmpfsFilesystem):
    """Placeholder ``/dev/mqueue``: an empty tmpfs."""

    fstype = "mqueue"
    magic = 0x19800202


class MountError(Exception):
    """The boot configuration asks for a mount the sentry cannot make."""


#: The devpts a ``dev`` mount gets when the configuration mounts none (a host's).
HOST_DEVPTS_OPTIONS = ["gid=5", "mode=620", "ptmxmode=000"]


def build_mount_tree(cfg: Any, gofer: Any, kernel: Any) -> VirtualFilesystem:
    """The :class:`VirtualFilesystem` for *cfg* (see the module docstring).

    :param gofer: a connected :class:`gofer.client.GoferClient` (``version`` done).
    :param kernel: the sentry kernel (procfs reads ``thread_groups``,
        ``hostname``, ``host_task_status``, ``host_file`` from it).
    :raises MountError: unknown mount type or an impossible destination.
    """
    vfs = VirtualFilesystem()
    uid_map, gid_map = IdMap(cfg.uid_map), IdMap(cfg.gid_map)
    idmaps = None if uid_map.identity and gid_map.identity else (uid_map, gid_map)
    if cfg.root_readonly:
        lower = GoferFilesystem(gofer, 0, readonly=True, source=cfg.root_path, idmaps=idmaps)
        vfs.mount(lower, None, readonly=True, source=GOFER_SOURCE)
    elif cfg.overlay:
        lower = GoferFilesystem(gofer, 0, readonly=True, source=cfg.root_path, idmaps=idmaps)
        vfs.mount(OverlayFilesystem(lower), None, source="overlay")
    else:
        vfs.mount(GoferFilesystem(gofer, 0, readonly=False, source=cfg.root_path,
                                  idmaps=idmaps), None, source=GOFER_SOURCE)
    destinations = {os.path.normpath(m.destination) for m in cfg.mounts}
    bind_index = 1
    for m in cfg.mounts:
        dest = os.fsencode(m.destination)
        if not dest.startswith(b"/"):
            raise MountError(f"mount destination {m.destination!r} is not absolute")
        opts = parse_options(m.options)
        try:
            if m.type == "bind":
                fs: Any = GoferFilesystem(gofer, bind_index, readonly=m.readonly, source=m.source,
                                          idmaps=idmaps, file_access=m.file_access)
                bind_index += 1
                is_dir = _st.S_ISDIR(fs.root_inode().mode)
                at = vfs.ensure_mountpoint(None, dest, directory=is_dir)
                vfs.mount(fs, at, readonly=m.readonly, source=GOFER_SOURCE, flags=opts.flags)
                continue
            # (Looked up first only where it matters: a walk the gofer refuses, into the
            # host's /proc or /sys under a `do` root, is not cached and would be made again.)
            before = vfs.lookup_existing(dest) if m.type == "tmpfs" else None
            at = vfs.ensure_mountpoint(None, dest)
            source = m.source or m.type
            if m.type == "tmpfs":
                ts = TmpfsSettings(opts.data, default_size=DEFAULT_SIZE_LIMIT)
                # runc gives a tmpfs mounted over an existing directory that
                # directory's mode (its "mode=" shows in mountinfo all the same).
                mode = ts.mode
                if before is not None and before.inode.is_dir:
                    mode = before.inode.mode & 0o7777
                vfs.mount(TmpfsFilesystem(size_limit=ts.size, root_mode=mode,
                                          root_uid=ts.uid, root_gid=ts.gid),
                          at, readonly=m.readonly, source=source, options=ts.shown,
                          flags=opts.flags)
            elif m.type == "proc":
                from sentry.fsimpl.proc.filesystem import ProcFilesystem

                vfs.mount(ProcFilesystem(kernel, vfs), at, readonly=m.readonly, source="proc",
                          flags=opts.flags)
            elif m.type == "cgroup2":
                from sentry.fsimpl.proc.cgroupfs import CgroupFilesystem

                # Read-only whatever the options say: the sentry's limits are not the
                # workload's to change (a container's /sys/fs/cgroup is read-only too).
                vfs.mount(CgroupFilesystem(kernel, vfs), at, readonly=True, source="cgroup2",
                          flags=opts.flags)
            elif m.type == "dev":
                ts = TmpfsSettings(opts.data or ["mode=755"], default_size=64 << 20)
                pts = dest.rstrip(b"/") + b"/pts"
                own_pts = os.fsdecode(pts) not in destinations
                dm = vfs.mount(DevFilesystem(ts.mode, ts.size, ptmx_node=own_pts), at,
                               readonly=m.readonly, source=m.source or "tmpfs",
                               options=ts.shown, flags=opts.flags)
                # The sentry's /dev has a /dev/shm; config.json usually mounts its own.
                shm = dest.rstrip(b"/") + b"/shm"
                if os.fsdecode(shm) not in destinations:
                    shm_at = vfs.ensure_mountpoint(None, shm)
                    assert shm_at.mount is dm
                    vfs.mount(TmpfsFilesystem(), shm_at, source="shm",
                              flags=MNT_NOSUID | MNT_NODEV | MNT_NOEXEC | MNT_RELATIME)
                if own_pts:
                    pfs = DevptsFilesystem.from_options(HOST_DEVPTS_OPTIONS)
                    vfs.mount(pfs, vfs.ensure_mountpoint(None, pts), source="devpts",
                              options=pfs.shown_options(),
                              flags=MNT_NOSUID | MNT_NOEXEC | MNT_RELATIME)
            elif m.type == "sysfs":
                vfs.mount(SysFilesystem(readonly=True, root_mode=0o555), at, readonly=True,
                          source=source, flags=opts.flags)
            elif m.type == "devpts":
                pfs = DevptsFilesystem.from_options(m.options)
                vfs.mount(pfs, at, readonly=m.readonly, source=source,
                          options=pfs.shown_options(), flags=opts.flags)
            elif m.type == "mqueue":
                vfs.mount(MqueueFilesystem(), at, readonly=m.readonly, source=source,
                          flags=opts.flags)
            else:
                raise MountError(f"unsupported mount type {m.type!r} at {m.destination}")
        except OSError as e:
            raise MountError(f"cannot mount {m.destination}: {e}") from None
        except ValueError as e:
            raise MountError(f"cannot mount {m.destination}: {e}") from None
        except MountError:
            raise
        except Exception as e:
            if getattr(e, "errno", None) is None:
                raise
            raise MountError(f"cannot mount {m.destination}: {os.strerror(e.errno)}") from None  # type: ignore[attr-defined]
    return vfs


def apply_config_view(vfs: VirtualFilesystem, cfg: Any) -> None:
    """``linux.devices``, ``linux.maskedPaths`` and ``linux.readonlyPaths``, in runc's
    order, on the finished mount tree.  A masked or read-only path that does not exist in
    the sandbox is skipped, as runc skips one missing in the container.

    :raises MountError: a device the sentry cannot make there.
    """
    for dev in cfg.devices:
        make_device(vfs, dev)
    for path in cfg.readonly_paths:
        readonly_path(vfs, os.fsencode(path))
    for path in cfg.masked_paths:
        mask_path(vfs, os.fsencode(path))


def _pin(vd: VirtualDentry) -> None:
    """Keep the dentries from *vd* up to its mount's root in their parents' caches, so a
    mount on *vd* is found by every later walk (procfs builds fresh dentries otherwise)."""
    d = vd.dentry
    while d.parent is not None and d is not vd.mount.root:
        d.parent.children[d.name] = d
        d = d.parent


def _dev_null(vfs: VirtualFilesystem) -> Tuple[Any, Any]:
    """The ``/dev/null`` to bind over a masked file: the sandbox's (its dentry and mount,
    as runc binds the container's), or a detached device file system's."""
    vd = vfs.lookup_existing(b"/dev/null")
    if vd is not None and isinstance(vd.mount.fs, DevFilesystem):
        return vd.dentry, vd.mount
    fs = DevFilesystem()
    null = fs.root_inode().lookup(None, b"null")
    assert null is not None
    return Dentry(b"null", None, null), None


def mask_path(vfs: VirtualFilesystem, path: bytes) -> None:
    """runc's ``maskPath``: ``/dev/null`` bound over a file, an empty read-only tmpfs over a
    directory; nothing for a path that does not exist."""
    vd = vfs.lookup_existing(path)
    if vd is None:
        return
    _pin(vd)
    if vd.inode.is_dir:
        vfs.mount(TmpfsFilesystem(readonly=True, root_mode=0o1777), vd, readonly=True,
                  source="tmpfs")
        return
    null, dev_mount = _dev_null(vfs)
    if dev_mount is None:
        vfs.mount(null.inode.fs, vd, source="tmpfs", root_dentry=null)
    else:
        vfs.mount(dev_mount.fs, vd, readonly=dev_mount.readonly, source=dev_mount.source,
                  options=dev_mount.options, flags=dev_mount.flags, root_dentry=null)


def readonly_path(vfs: VirtualFilesystem, path: bytes) -> None:
    """runc's ``readonlyPath``: the place bound onto itself, read-only, with the flags of
    the mount it is in; nothing for a path that does not exist."""
    vd = vfs.lookup_existing(path)
    if vd is None:
        return
    _pin(vd)
    m = vd.mount
    vfs.mount(m.fs, vd, readonly=True, source=m.source, options=m.options, flags=m.flags,
              root_dentry=vd.dentry)


def make_device(vfs: VirtualFilesystem, dev: Any) -> None:
    """Create one ``linux.devices`` node (missing parents as 0755 directories, the mode
    as given with no umask, then the owner), as runc's ``createDeviceNode``; an existing
    file at the path is left alone, as runc leaves it.

    :raises MountError: the node's directory is not one the sentry keeps (a gofer file
        system cannot hold device nodes).
    """
    path = os.fsencode(dev.path)
    if vfs.lookup_existing(path) is not None:
        return
    parent_path, name = os.path.split(path.rstrip(b"/"))
    try:
        parent = vfs.ensure_mountpoint(None, parent_path or b"/")
        kind = abi.S_IFIFO if dev.kind == "p" else abi.S_IFCHR
        inode = parent.inode.mknod(None, name, kind | (dev.mode & 0o7777),
                                   os.makedev(dev.major, dev.minor))
        inode.setattr(None, SetAttr(uid=dev.uid, gid=dev.gid))
    except LinuxError as e:
        raise MountError(f"cannot create device {dev.path}: {os.strerror(e.errno)}") from None
