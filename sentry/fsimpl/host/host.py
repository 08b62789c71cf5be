"""Descriptions wrapping a host fd donated to the sandbox (the caller's stdio).

The lead hands over a host fd that is safe to use without blocking the sentry:
either a regular file, or a pipe/socket/tty with ``O_NONBLOCK`` set on the
sentry's copy.  A read or write that gets ``EAGAIN`` from the host parks the
call on :meth:`HostFileDescription.host_wait_queue` (unless the *sandbox*
description is ``O_NONBLOCK``: then ``EAGAIN``).  The event loop registers
:attr:`host_fd` with epoll and calls ``host_wait_queue().notify(events)`` when
it becomes ready.

Terminal ioctls forwarded to the host fd: ``TCGETS``, ``TCSETS``/``TCSETSW``/
``TCSETSF``, ``TIOCGWINSZ``, ``TIOCSWINSZ``, ``FIONREAD``.  The foreground
process group (``TIOCGPGRP``/``TIOCSPGRP``) and ``TIOCGSID`` are kept in the
sentry in sandbox pids (the host's must not leak); job-control signals from
the terminal are not emulated.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import _signal as signal
import stat as _st
import struct

from sentry.abi.linux.errors import WouldBlock, err
from sentry.kernel.waiter import EVENT_IN, EVENT_OUT, WaitQueue
from sentry.vfs import abi
from sentry.vfs.dentry import Dentry, Mount, VirtualDentry, kern_mount
from sentry.vfs.file import FileDescription
from sentry.vfs.inode import Filesystem, Inode, Stat, StatFS

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
_FIGETBSZ = 0x2
TIOCGSID = 0x5429
# The kernel's struct termios (asm-generic/termbits.h: 4 flags, c_line, 19 c_cc) is 36
# bytes; glibc's 60-byte one never crosses the syscall boundary. Writing 60 smashed
# tcgetattr's stack.
_TERMIOS_SIZE = 36
# Terminal (device number) → the sandbox's foreground process group on it. One sandbox
# per sentry process, so a module-level table is the sandbox's.
_FG_PGRP: Dict[int, int] = {}
_WINSZ_SIZE = 8


class HostFilesystem(Filesystem):
    """The pseudo file system of donated host fds (device number only)."""

    fstype = "host"

    def root_inode(self) -> Inode:
        raise err(errno.ENOENT)


_HOSTFS: Optional[HostFilesystem] = None


def _hostfs() -> HostFilesystem:
    global _HOSTFS
    if _HOSTFS is None:
        _HOSTFS = HostFilesystem()
    return _HOSTFS


def _host(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except BlockingIOError:
        raise
    except OSError as e:
        raise err(e.errno or errno.EIO) from None


class HostInode(Inode):
    """The inode of a donated fd: attributes from ``fstat`` of the host fd."""

    def __init__(self, fd: int) -> None:
        st = os.fstat(fd)
        super().__init__(_hostfs(), st.st_ino, st.st_mode, 0, 0)
        self.fd = fd
        # What the caller handed over.  A re-open is done by the sentry, whose host
        # credentials would get it any access to the file: it gets only this one.
        self.access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE

    def block_size(self) -> int:
        """The host file system's (a terminal's devpts says 1024), asked of the host."""
        try:
            return struct.unpack("<i", fcntl.ioctl(self.fd, _FIGETBSZ, bytes(4)))[0]
        except OSError:
            return 4096

    def _may(self, acc: int) -> None:
        """:raises LinuxError: ``EACCES`` for access the donated fd does not have."""
        if (acc != os.O_WRONLY and self.access == os.O_WRONLY) or (
                acc != os.O_RDONLY and self.access == os.O_RDONLY):
            raise err(errno.EACCES)

    def open(self, t: Any, vd: Any, flags: int) -> FileDescription:
        """Re-open (``/proc/<pid>/fd/N``, ``/dev/stdout``): a new open file description.

        As on Linux, re-opening gives its own offset and status flags (``>>`` must
        not make the original append, ``< /dev/stdin`` starts at 0), so the sentry
        re-opens its own fd through the host's procfs (``self/fd/N`` under the
        ``/proc`` fd it took at boot) rather than dup'ing it.  Pipes and terminals
        are opened non-blocking on the host, as the donated originals are.  Only
        with the donated fd's own access (``EACCES`` otherwise): the sentry's host
        credentials must not turn a read-only stdin into a writable host file.
        """
        acc = flags & os.O_ACCMODE
        self._may(acc)
        host_flags = acc | (flags & os.O_APPEND) | os.O_CLOEXEC | os.O_NOCTTY
        if _st.S_ISFIFO(self.mode) or _st.S_ISCHR(self.mode):
            host_flags |= os.O_NONBLOCK
        if _st.S_ISSOCK(self.mode):
            raise err(errno.ENXIO)  # Linux cannot re-open a socket either
        kernel = getattr(t, "kernel", None)
        procfd = getattr(kernel, "procfd", -1)
        reopen = getattr(kernel, "reopen", None)
        if reopen is not None:
            # A confined sentry may not open the caller's file (another uid): the
            # supervisor does, within this fd's own access.
            fd = _host(reopen, self.fd, host_flags)
        elif procfd >= 0:
            fd = _host(lambda: os.open(f"self/fd/{self.fd}", host_flags, dir_fd=procfd))
        else:
            fd = _host(os.dup, self.fd)  # no kernel (unit tests): same file, shared offset
        desc = HostFileDescription(fd, self.uid, self.gid)
        desc.flags = (desc.flags & ~os.O_ACCMODE) | acc | (flags & abi.O_NONBLOCK) | (flags & os.O_APPEND)
        if t is not None and getattr(t.kernel, "loop", None) is not None:
            desc.watch(t.kernel)
        return desc

    def setattr(self, t: Any, attr: Any) -> None:
        """Size and times go to the donated file (the caller handed it over, as a
        shell redirection does: ``> /dev/stdout`` truncates it natively too); owner
        and mode stay the host's business (``EPERM``)."""
        if attr.mode is not None or attr.uid is not None or attr.gid is not None:
            raise err(errno.EPERM)
        if attr.size is not None:
            self._may(os.O_WRONLY)
            _host(os.ftruncate, self.fd, attr.size)
        if attr.atime_ns is not None or attr.mtime_ns is not None:
            st = _host(os.fstat, self.fd)
            times = (attr.atime_ns if attr.atime_ns is not None else st.st_atime_ns,
                     attr.mtime_ns if attr.mtime_ns is not None else st.st_mtime_ns)
            _host(lambda: os.utime(self.fd, ns=times))

    def stat(self) -> Stat:
        st = _host(os.fstat, self.fd)
        return Stat(
            dev=self.fs.dev, ino=st.st_ino, mode=st.st_mode, nlink=st.st_nlink, uid=self.uid,
            gid=self.gid, rdev=st.st_rdev, size=st.st_size, blksize=st.st_blksize,
            blocks=st.st_blocks, atime_ns=st.st_atime_ns, mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
        )


_HOST_MOUNT: Optional[Mount] = None


def anon_vd(inode: Inode, name: bytes) -> VirtualDentry:
    """A place for a donated fd's inode, so ``/proc/<pid>/fd/N`` can be reopened."""
    global _HOST_MOUNT
    fs = _hostfs()
    if _HOST_MOUNT is None:
        _HOST_MOUNT = kern_mount(fs, inode, "host")
    return VirtualDentry(_HOST_MOUNT, Dentry(name, None, inode))


class HostFileDescription(FileDescription):
    """A donated host fd.  The sentry owns the fd and closes it on release.

    :param fd: the sentry's host fd.
    :param uid: owner reported by ``fstat`` (the sandbox user; the host's ids must not show).
    """

    host_offset = True
    mmap_copies = True
    validates_on_host = True
    #: The host's /dev/random or /dev/urandom (1:8, 1:9): its ioctls are random(4)'s.
    random = False

    def __init__(self, fd: int, uid: int = 0, gid: int = 0) -> None:
        inode = HostInode(fd)
        inode.uid, inode.gid = uid, gid
        acc = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        host_flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        super().__init__(None, inode, acc | (host_flags & os.O_APPEND))
        self.host_fd = fd
        self._fd = fd
        self._hq = WaitQueue()
        self.watcher: Any = None
        self._pollable: Optional[bool] = None
        mode = inode.mode
        self.seekable = _st.S_ISREG(mode) or _st.S_ISBLK(mode)
        self.is_tty = os.isatty(fd)
        self.fifo = _st.S_ISFIFO(mode)  # (a pipe: splice, tee and F_GETPIPE_SZ take it)
        self.stream = self.fifo or _st.S_ISSOCK(mode) or self.is_tty
        self.positional = not self.stream  # (stream_open, nonseekable_open, sockets)
        # A host file system's file or directory; the host says EINVAL for the others.
        self.fsync_op = self.seekable or _st.S_ISDIR(mode)
        self._rdev = os.fstat(fd).st_rdev if self.is_tty else 0
        rdev = os.fstat(fd).st_rdev if _st.S_ISCHR(mode) and not self.is_tty else 0
        self.random = os.major(rdev) == 1 and os.minor(rdev) in (8, 9)
        if _st.S_ISFIFO(mode):
            self.anon_name = b"pipe:[%d]" % inode.ino
        elif _st.S_ISSOCK(mode):
            self.anon_name = b"socket:[%d]" % inode.ino
        elif self.is_tty:
            self.anon_name = b"/dev/console"
        else:
            self.anon_name = b"host:[%d]" % inode.ino

    @property
    def fg_pgrp(self) -> Optional[int]:
        """The sandbox's foreground process group of this terminal (``TIOCSPGRP``),
        shared by every description of the same terminal, as it is the tty's."""
        return _FG_PGRP.get(self._rdev) if self.is_tty else None

    @fg_pgrp.setter
    def fg_pgrp(self, pgrp: Optional[int]) -> None:
        if pgrp is None:
            _FG_PGRP.pop(self._rdev, None)
        else:
            _FG_PGRP[self._rdev] = pgrp

    @classmethod
    def for_stdio(cls, kernel: Any, fd: int, acc: int) -> "HostFileDescription":
        """A description for a donated stdio fd (the sentry's copy *fd*, access mode *acc*).

        The owner ``fstat`` reports is the sandbox's user (``kernel.cfg.uid/gid``).
        """
        cfg = getattr(kernel, "cfg", None)
        desc = cls(fd, getattr(cfg, "uid", 0), getattr(cfg, "gid", 0))
        desc.flags = (desc.flags & ~os.O_ACCMODE) | (acc & os.O_ACCMODE)
        return desc

    @property
    def pollable(self) -> bool:  # type: ignore[override]
        """Whether the host file has a poll operation (epoll takes it), asked of the host."""
        if self._pollable is None:
            ep = select.epoll()
            try:
                ep.register(self._fd, 0)
                self._pollable = True
            except OSError:
                self._pollable = False
            finally:
                ep.close()
        return self._pollable

    def watch(self, kernel: Any) -> None:
        """Have *kernel*'s event loop notify :meth:`host_wait_queue` on readiness edges."""
        kernel.watch_host_fd(self._fd, self._hq)
        self.watcher = kernel

    def host_wait_queue(self) -> WaitQueue:
        """The queue the event loop notifies when :attr:`host_fd` becomes ready."""
        return self._hq

    def wait_queue(self) -> WaitQueue:
        return self._hq

    def _block(self, mask: int) -> None:
        if self.nonblocking:
            raise err(errno.EAGAIN)
        raise WouldBlock([(self._hq, mask)])

    def read(self, t: Any, n: int) -> bytes:
        try:
            return _host(os.read, self._fd, n)
        except BlockingIOError:
            self._block(EVENT_IN)
            raise AssertionError("unreachable") from None

    def write(self, t: Any, data: bytes) -> int:
        try:
            return _host(os.write, self._fd, data)
        except BlockingIOError:
            self._block(EVENT_OUT)
            raise AssertionError("unreachable") from None
        except Exception as e:
            if getattr(e, "errno", None) == errno.EPIPE and t is not None:
                t.kernel.signal_task(t, signal.SIGPIPE, sender=t)
            raise

    def unread(self, t: Any, data: bytes) -> None:
        if self.seekable and data:
            _host(os.lseek, self._fd, -len(data), os.SEEK_CUR)

    # Positioned I/O and seeking are the host file's own: a pipe, a socket or a terminal
    # says ESPIPE (the handlers said so first for the positioned calls), a character
    # device such as /dev/null reads 0 bytes at any offset and seeks to 0.
    def pread(self, t: Any, n: int, off: int) -> bytes:
        try:
            return _host(os.pread, self._fd, n, off)
        except BlockingIOError:
            self._block(EVENT_IN)
            raise AssertionError("unreachable") from None

    def pwrite(self, t: Any, data: bytes, off: int) -> int:
        try:
            return _host(os.pwrite, self._fd, data, off)
        except BlockingIOError:
            self._block(EVENT_OUT)
            raise AssertionError("unreachable") from None

    def seek(self, t: Any, off: int, whence: int) -> int:
        return _host(os.lseek, self._fd, off, whence)

    @property  # type: ignore[override]
    def offset(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR) if self.seekable else 0

    @offset.setter
    def offset(self, v: int) -> None:
        if self.seekable:
            os.lseek(self._fd, v, os.SEEK_SET)

    def get_pipe_size(self) -> int:
        """``F_GETPIPE_SZ`` of a host pipe: the host's (``EBADF`` for any other file)."""
        if not self.fifo:
            raise err(errno.EBADF)
        return int(_host(fcntl.fcntl, self._fd, fcntl.F_GETPIPE_SZ))

    def set_pipe_size(self, t: Any, size: int) -> int:
        """``F_SETPIPE_SZ`` of a host pipe: the sandbox's checks (its task's
        ``CAP_SYS_RESOURCE``, not the sentry's), then the host's (``EBUSY``)."""
        if not self.fifo:
            raise err(errno.EBADF)
        from sentry.fsimpl.pipe.pipe import pipe_size_for

        return int(_host(fcntl.fcntl, self._fd, fcntl.F_SETPIPE_SZ, pipe_size_for(t, size)))

    def readiness(self, mask: int) -> int:
        p = select.poll()
        p.register(self._fd, mask & 0xFFFF)
        ev = 0
        for _, e in p.poll(0):
            ev |= e
        return ev & (mask | 0x18)

    def own_statfs(self) -> Optional[StatFS]:
        """The host's answer for the object itself (a pipe is pipefs's, a socket sockfs's,
        a terminal devpts's, a file its file system's), with the sandbox's fsid."""
        from gofer import linux  # (loaded in every sentry: confine.empty_root)

        assert self.host_fd is not None and self.inode is not None
        try:
            v = linux.fstatfs(self.host_fd)
        except OSError as e:
            raise err(e.errno or errno.EIO) from None
        return StatFS(type=v.f_type, bsize=v.f_bsize, blocks=v.f_blocks, bfree=v.f_bfree,
                      bavail=v.f_bavail, files=v.f_files, ffree=v.f_ffree,
                      fsid=self.inode.fs.dev, namelen=v.f_namelen, frsize=v.f_frsize,
                      flags=v.f_flags)

    def truncate(self, t: Any, size: int) -> None:
        if not _st.S_ISREG(self.inode.mode if self.inode else 0):
            raise err(errno.EINVAL)
        _host(os.ftruncate, self._fd, size)

    def fsync(self, t: Any) -> None:
        super().fsync(t)
        _host(os.fsync, self._fd)

    def ioctl(self, t: Any, cmd: int, arg: int) -> int:
        if cmd == FIONREAD:
            buf = _host(fcntl.ioctl, self._fd, FIONREAD, b"\0" * 4)
            t.mem.write(arg, buf)
            return 0
        if not self.is_tty:
            if self.random:
                from sentry.fsimpl.dev.dev import random_ioctl

                return random_ioctl(t, cmd, arg)
            raise err(errno.ENOTTY)
        if cmd == TCGETS:
            t.mem.write(arg, _host(fcntl.ioctl, self._fd, TCGETS, b"\0" * _TERMIOS_SIZE))
            return 0
        if cmd in (TCSETS, TCSETSW, TCSETSF):
            _host(fcntl.ioctl, self._fd, cmd, t.mem.read(arg, _TERMIOS_SIZE))
            return 0
        if cmd == TIOCGWINSZ:
            t.mem.write(arg, _host(fcntl.ioctl, self._fd, TIOCGWINSZ, b"\0" * _WINSZ_SIZE))
            return 0
        if cmd == TIOCSWINSZ:
            _host(fcntl.ioctl, self._fd, TIOCSWINSZ, t.mem.read(arg, _WINSZ_SIZE))
            return 0
        if cmd == TIOCGPGRP:
            t.mem.write_i32(arg, self.fg_pgrp if self.fg_pgrp is not None else t.tg.pgid)
            return 0
        if cmd == TIOCSPGRP:
            pgrp = t.mem.read_i32(arg)
            if pgrp < 0:
                raise err(errno.EINVAL)
            self.fg_pgrp = pgrp
            return 0
        if cmd == TIOCGSID:
            t.mem.write_i32(arg, t.tg.sid)
            return 0
        raise err(errno.ENOTTY)

    def set_status_flags(self, flags: int) -> None:
        # O_NONBLOCK is the sandbox's view only; the host fd stays non-blocking.
        super().set_status_flags(flags)
        cur = _host(fcntl.fcntl, self._fd, fcntl.F_GETFL)
        want = (cur & ~os.O_APPEND) | (os.O_APPEND if self.flags & abi.O_APPEND else 0)
        if want != cur:
            _host(fcntl.fcntl, self._fd, fcntl.F_SETFL, want)

    def release(self) -> None:
        # Stop the event loop's readiness watch before the fd number can be reused.
        if self.watcher is not None:
            self.watcher.unwatch_host_fd(self._fd)
            self.watcher = None
        try:
            os.close(self._fd)
        except OSError:
            pass
