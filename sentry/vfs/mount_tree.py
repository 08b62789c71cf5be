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
- ``dev``: the sentry's ``/dev`` with a tmpfs on ``<dest>/shm``;
- ``sysfs``: for now an empty read-only tmpfs reported as ``sysfs`` (programs
  that probe /sys find nothing rather than the host's);
- ``devpts``: an empty read-only tmpfs reported as ``devpts`` (no pty emulation
  here yet); ``mqueue``: an empty tmpfs reported as ``mqueue``.

A destination missing in the file system below is created as a mount point:
in the overlay's upper layer (sentry memory) when that is writable, else as a
sentry-only mount-point dentry (as runc would create it).
"""

from __future__ import annotations

import os
import stat as _st
from typing import Any

from sentry.fsimpl.dev.dev import DevFilesystem
from sentry.fsimpl.gofer.filesystem import GoferFilesystem
from sentry.fsimpl.overlay.filesystem import OverlayFilesystem
from sentry.fsimpl.tmpfs.filesystem import TmpfsFilesystem
from sentry.vfs import abi
from sentry.vfs.vfs import VirtualFilesystem


#: What /proc/mounts shows as the source of a gofer mount (gVisor shows the same): the
#: host path behind it is none of the workload's business.
GOFER_SOURCE = "none"


class SysFilesystem(TmpfsFilesystem):
    """Placeholder ``/sys``: empty and read-only."""

    fstype = "sysfs"
    magic = abi.SYSFS_MAGIC


class DevptsFilesystem(TmpfsFilesystem):
    """Placeholder ``/dev/pts``: empty and read-only."""

    fstype = "devpts"
    magic = 0x1CD1


class MqueueFilesystem(TmpfsFilesystem):
    """Placeholder ``/dev/mqueue``: an empty tmpfs."""

    fstype = "mqueue"
    magic = 0x19800202


class MountError(Exception):
    """The boot configuration asks for a mount the sentry cannot make."""


def build_mount_tree(cfg: Any, gofer: Any, kernel: Any) -> VirtualFilesystem:
    """The :class:`VirtualFilesystem` for *cfg* (see the module docstring).

    :param gofer: a connected :class:`gofer.client.GoferClient` (``version`` done).
    :param kernel: the sentry kernel (procfs reads ``thread_groups``,
        ``hostname``, ``host_task_status``, ``host_file`` from it).
    :raises MountError: unknown mount type or an impossible destination.
    """
    vfs = VirtualFilesystem()
    if cfg.root_readonly:
        lower = GoferFilesystem(gofer, 0, readonly=True, source=cfg.root_path)
        vfs.mount(lower, None, readonly=True, source=GOFER_SOURCE)
    elif cfg.overlay:
        lower = GoferFilesystem(gofer, 0, readonly=True, source=cfg.root_path)
        vfs.mount(OverlayFilesystem(lower), None, source="overlay")
    else:
        vfs.mount(GoferFilesystem(gofer, 0, readonly=False, source=cfg.root_path), None,
                  source=GOFER_SOURCE)
    bind_index = 1
    for m in cfg.mounts:
        dest = os.fsencode(m.destination)
        if not dest.startswith(b"/"):
            raise MountError(f"mount destination {m.destination!r} is not absolute")
        try:
            if m.type == "bind":
                fs: Any = GoferFilesystem(gofer, bind_index, readonly=m.readonly, source=m.source)
                bind_index += 1
                is_dir = _st.S_ISDIR(fs.root_inode().mode)
                at = vfs.ensure_mountpoint(None, dest, directory=is_dir)
                vfs.mount(fs, at, readonly=m.readonly, source=GOFER_SOURCE)
                continue
            at = vfs.ensure_mountpoint(None, dest)
            if m.type == "tmpfs":
                vfs.mount(TmpfsFilesystem(), at, readonly=m.readonly, source="tmpfs")
            elif m.type == "proc":
                from sentry.fsimpl.proc.filesystem import ProcFilesystem

                vfs.mount(ProcFilesystem(kernel, vfs), at, readonly=m.readonly, source="proc")
            elif m.type == "dev":
                dm = vfs.mount(DevFilesystem(), at, readonly=m.readonly, source="tmpfs",
                               options="mode=755")
                shm_at = vfs.ensure_mountpoint(None, dest.rstrip(b"/") + b"/shm")
                assert shm_at.mount is dm
                vfs.mount(TmpfsFilesystem(), shm_at, source="shm")
            elif m.type == "sysfs":
                vfs.mount(SysFilesystem(readonly=True, root_mode=0o555), at, readonly=True,
                          source="sysfs")
            elif m.type == "devpts":
                vfs.mount(DevptsFilesystem(readonly=True, root_mode=0o755), at, readonly=True,
                          source="devpts")
            elif m.type == "mqueue":
                vfs.mount(MqueueFilesystem(), at, readonly=m.readonly, source="mqueue")
            else:
                raise MountError(f"unsupported mount type {m.type!r} at {m.destination}")
        except OSError as e:
            raise MountError(f"cannot mount {m.destination}: {e}") from None
        except MountError:
            raise
        except Exception as e:
            if getattr(e, "errno", None) is None:
                raise
            raise MountError(f"cannot mount {m.destination}: {os.strerror(e.errno)}") from None  # type: ignore[attr-defined]
    return vfs
