"""The gofer server: the only process that touches the container's files on the host.

Start-up (:func:`main`, run as ``python3 -m gofer``): arm PR_SET_PDEATHSIG, close
every inherited fd but the channel, take a detached clone of each root's mount
tree (``open_tree``) with nosuid/nodev (and rdonly for read-only roots) set on
the clone, then unshare the mount and network namespaces and chroot into an
empty read-only tmpfs that has no host directory at all (``fsmount``), keep only
the capabilities it uses and install its seccomp filter (:mod:`gofer.filter`).
After :func:`confine` returns, the process can reach host files only through its
root fds, and every lookup is ``openat2`` of a single component beneath a handle
with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS.  Everything
it will ever import is imported before that: a lazy import after it would be a
path lookup, which the filter answers by killing the process.

Serving (:class:`GoferServer`): single-threaded, one request at a time.  A
handle names a :class:`_Node` (an O_PATH fd plus the parent node and name it
was found under, so it can be re-opened for I/O by name and checked with fstat
against the handle's inode).  Nodes are reference counted: one count per
client handle and one per child node, so a parent's fd outlives its handle
while a child still needs it.  Everything runs in the one thread; there are no
locks.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import select
import _signal as signal
import _socket as socket
import stat
import struct
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence

from gofer import filter as gofer_filter
from gofer import linux
from gofer.launch import channel
from gofer.protocol import (
    MAX_MESSAGE,
    MSG_CMSG_CLOEXEC,
    MSG_DONTWAIT,
    MSG_TRUNCATED,
    MAX_WALK,
    NAME_MAX,
    WALKOPEN_OR_WALK,
    WALKOPEN_SIBLINGS,
    SIBLING_HOPS,
    sibling_target,
    message_id,
    PATH_MAX,
    PROTOCOL_VERSION,
    Rlistalong,
    Tlistalong,
    dir_blocks,
    SERVER_SPIN,
    Spin,
    Message,
    MsgId,
    ProtocolError,
    Rattach,
    Rclose,
    Rcreate,
    Rerror,
    Rlink,
    Rmkdir,
    Ropen,
    Rreaddir,
    Rreadlink,
    Rrename,
    Rsetattr,
    Rstat,
    Rstatfs,
    Rsymlink,
    Runlink,
    Rversion,
    Rwalk,
    Rgetxattr,
    Rlistxattr,
    Rremovexattr,
    Rsetxattr,
    Stat,
    Tattach,
    Tclose,
    Tclosemany,
    Tcreate,
    Tlink,
    Tmkdir,
    Topen,
    Treaddir,
    Treaddirstat,
    PackedEntries,
    Rreaddirstat,
    Rreadtree,
    Treadtree,
    Twalkopen,
    Rwalkopen,
    Tfetch,
    Rfetch,
    Tlistxattrs,
    Rlistxattrs,
    Treadlink,
    Trename,
    Tsetattr,
    Tstat,
    Tstatfs,
    Tsymlink,
    Tunlink,
    Tversion,
    Twalk,
    Tgetxattr,
    Tlistxattr,
    Tremovexattr,
    Tsetxattr,
    XATTR_CREATE,
    XATTR_LIST_MAX,
    XATTR_NAME_MAX,
    XATTR_REPLACE,
    XATTR_SIZE_MAX,
    XATTR_USER_PREFIX,
    decode,
    encode,
    recvmsg_polling,
    sender_cpu,
)

try:
    # The listing loop in C (native/src/listing.c), for Treaddirstat and Treadtree, and
    # openat2.
    from sentry._native import ffi as _nffi
    from sentry._native import lib as _nlib
except ImportError:  # a build without the extension: the Python loop, ctypes' openat2
    _nffi = _nlib = None


def _openat2(dirfd: int, name: bytes, flags: int, resolve: int, mode: int = 0) -> int:
    """:func:`gofer.linux.openat2`, through the native module when there is one (a
    direct call: ~0.6 us against ctypes' ~2 us, and a walk opens a name at a time)."""
    if _nlib is None:
        return linux.openat2(dirfd, name, flags, resolve, mode)
    fd = _nlib.rt_openat2(dirfd, name, flags, resolve, mode)
    if fd < 0:
        raise OSError(-fd, os.strerror(-fd))
    return int(fd)


#: A listing's batches: (name, Stat or a mount point's inode number) entries, or the same
#: already packed by the C loop.
_Batch = list[tuple[bytes, Stat | int]] | PackedEntries

RESOLVE = linux.RESOLVE_BENEATH | linux.RESOLVE_NO_MAGICLINKS | linux.RESOLVE_NO_SYMLINKS
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK keeps a FIFO swapped in under a name from blocking the open; it is
# cleared again once fstat has shown the fd is the handle's regular file or dir.
_IO_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK
# A directory opened only to be listed by this process, beneath a parent fd by a name or
# names (Treaddirstat's one open, Treadtree's visits): no mount crossed, so no file system
# the name-at-a-time walk would have checked (_refuse_kernel_fs) is reached.
_LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _IO_FLAGS
_LIST_RESOLVE = RESOLVE | linux.RESOLVE_NO_XDEV
_OPEN_ALLOWED = (os.O_ACCMODE | os.O_TRUNC | os.O_APPEND | os.O_DIRECTORY | os.O_CLOEXEC
                 | os.O_NOFOLLOW | os.O_NOCTTY | os.O_LARGEFILE)
_CREATE_ALLOWED = (os.O_ACCMODE | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
                   | os.O_NOCTTY | os.O_LARGEFILE | os.O_CREAT | os.O_EXCL)
_ANC_SPACE = socket.CMSG_SPACE(64 * 4)
#: How often a stream looks for a request to answer between its messages (seconds).
_STREAM_LOOK = 100e-6
_DIRENT_HEAD = struct.Struct("<QqHB")
# Room left in a readdir batch for the header and the batch's own fields.
_READDIR_BUDGET = MAX_MESSAGE - 64
#: Most entries one Treadtree reply carries (the client asks for fewer), and the longest
#: path below the requested directory it descends to (encoded: 2 bytes a name).
_TREE_BUDGET_MAX = 16384
#: Most entries a Tlistalong lists after its first directory (each of those is a small
#: directory by dir_blocks, but sizes and link counts say little on some file systems).
_ALONG_ENTRIES = 4096
_TREE_PATH_MAX = 4096


# File systems that expose the host kernel's state rather than files: the gofer
# never serves them, even when a root's mount tree contains them (the host's
# /proc, /sys, ... under a `do` root). The sandbox has its own /proc and /dev.
KERNEL_FS_MAGICS = frozenset({
    0x9FA0,        # proc
    0x62656572,    # sysfs
    0x1CD1,        # devpts
    0x64626720,    # debugfs
    0x73636673,    # securityfs
    0x27E0EB,      # cgroup
    0x63677270,    # cgroup2
    0x74726163,    # tracefs
    0xCAFE4A11,    # bpf
    0x62656570,    # configfs
    0xDE5E81E4,    # efivarfs
    0x65735543,    # fusectl
    0x19800202,    # mqueue
    0x6E736673,    # nsfs
    0x67596969,    # binfmt_misc
    0x42494E4D,    # binfmt_misc (BINFMTFS_MAGIC)
    0x50495045,    # pipefs
    0x534F434B,    # sockfs
})


def _refuse_kernel_fs(fd: int) -> None:
    """:raises OSError: EACCES if *fd* is on a kernel-state file system."""
    if linux.fstatfs(fd).f_type in KERNEL_FS_MAGICS:
        raise _err(errno.EACCES)


class _Node:
    """One looked-up inode: an O_PATH fd and how to find it again by name."""

    __slots__ = ("fd", "key", "name", "parent", "refs", "root")

    def __init__(self, fd: int, parent: _Node | None, name: bytes, root: int,
                 key: tuple[int, int]) -> None:
        self.fd = fd
        self.parent = parent
        self.name = name
        self.root = root
        self.key = key
        self.refs = 0


class _Reply:
    """A handler's answer when it is more than one message or carries an fd, which goes
    with the last message (*msgs* a list then).  *msgs* may be made while they are sent
    (a generator: Treadtree streams); *done* runs once they were, or could not be.  A
    *stream*'s messages may have other requests' replies between them
    (GoferServer._send)."""

    __slots__ = ("msgs", "fd", "done", "stream", "fd_at")

    def __init__(self, msgs: Iterable[Message], fd: int = -1,
                 done: Callable[[], None] | None = None, stream: bool = False) -> None:
        self.msgs = msgs
        self.fd = fd
        self.done = done
        self.stream = stream
        self.fd_at = -1  # the message the fd goes with: the last
        if fd >= 0:
            assert isinstance(msgs, list)
            self.fd_at = len(msgs) - 1


_Handler = Callable[[Message], Message | _Reply]


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _check_name(name: bytes) -> None:
    # '..' is the sentry's business (its own mount tree and chroot); the gofer
    # only ever steps one real component down.
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise _err(errno.EINVAL)
    if len(name) > NAME_MAX:
        raise _err(errno.ENAMETOOLONG)


def _report_bug(e: BaseException, what: str = "request failed (a bug)") -> None:
    """Print an exception and where it came from on stderr.

    Not :func:`traceback.print_exc`: its source lines come from linecache, which
    stats and opens the source files by path, and the filter kills a confined
    gofer for that.
    """
    lines = [f"gofer: {what}:\n"]
    tb = e.__traceback__
    while tb is not None:  # traceback.walk_tb, without importing traceback's linecache
        code = tb.tb_frame.f_code
        lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
        tb = tb.tb_next
    lines.append(f"{type(e).__name__}: {e}\n")
    sys.stderr.write("".join(lines))
    sys.stderr.flush()


def report_without_sources() -> None:
    """Make the interpreter's own reports (an uncaught exception, a warning) read no file.

    Its default hooks print the source line of each frame, looked up by path, which
    a confined gofer may not do; these print file names and line numbers only.
    """

    def excepthook(_type: type[BaseException], e: BaseException, _tb: object) -> None:
        _report_bug(e, "uncaught exception")

    def showwarning(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, file: object = None, line: str | None = None) -> None:
        sys.stderr.write(f"gofer: {filename}:{lineno}: {category.__name__}: {message}\n")
        sys.stderr.flush()

    sys.excepthook = excepthook
    warnings.showwarning = showwarning


def _ns_to_timespec(ns: int | None) -> tuple[int, int]:
    if ns is None:
        return (0, linux.UTIME_OMIT)
    if ns == -1:
        return (0, linux.UTIME_NOW)
    sec, nsec = divmod(ns, 1_000_000_000)
    return (sec, nsec)


class GoferServer:
    """Serves one channel over roots that are already open.

    :param sock: the server's end of a SOCK_SEQPACKET socketpair.
    :param roots: (directory fd, read-only) per root index.
    :param files: for a root that is one regular file (a file bind mount), its name in
        that root's directory; the root is then the file, and the directory (never
        handed out) only the way to re-open it by name.
    """

    def __init__(self, sock: socket.socket, roots: list[tuple[int, bool]],
                 files: Sequence[bytes | None] = (), cpus: frozenset[int] = frozenset(),
                 set_cpus: Callable[[int, frozenset[int]], None] = os.sched_setaffinity
                 ) -> None:
        self._sock = sock
        # The CPUs the gofer may move between (none if it has one), and the one it keeps
        # off (keep_off).
        self._cpus = cpus if len(cpus) > 1 else frozenset()
        self._set_cpus = set_cpus
        self._off = -1
        self._readonly = [ro for _, ro in roots]
        self._roots: list[_Node] = []
        self._nodes: set[_Node] = set()
        self._handles: dict[int, _Node] = {}
        self._next_handle = 1
        self._versioned = False
        self._dirent_buf = ctypes.create_string_buffer(65536)
        for i, (fd, _) in enumerate(roots):
            st = os.fstat(fd)
            node = self._new_node(fd, None, b".", i, (st.st_dev, st.st_ino))
            node.refs = 1  # held by the server for its whole life
            name = files[i] if i < len(files) else None
            if name is not None:
                node.refs = 0  # held through its file
                file_fd = _openat2(fd, name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, RESOLVE)
                st = os.fstat(file_fd)
                if not stat.S_ISREG(st.st_mode):
                    raise _err(errno.EACCES)
                node = self._new_node(file_fd, node, name, i, (st.st_dev, st.st_ino))
                node.refs = 1
            self._roots.append(node)
        self._handlers: dict[int, _Handler] = {
            MsgId.TVERSION: self._version,
            MsgId.TATTACH: self._attach,
            MsgId.TWALK: self._walk,
            MsgId.TSTAT: self._stat,
            MsgId.TOPEN: self._open,
            MsgId.TREADLINK: self._readlink,
            MsgId.TREADDIR: self._readdir,
            MsgId.TCREATE: self._create,
            MsgId.TMKDIR: self._mkdir,
            MsgId.TSYMLINK: self._symlink,
            MsgId.TLINK: self._link,
            MsgId.TUNLINK: self._unlink,
            MsgId.TRENAME: self._rename,
            MsgId.TSETATTR: self._setattr,
            MsgId.TSTATFS: self._statfs,
            MsgId.TCLOSE: self._close,
            MsgId.TCLOSEMANY: self._close_many,
            MsgId.TREADDIRSTAT: self._readdirstat,
            MsgId.TWALKOPEN: self._walkopen,
            MsgId.TFETCH: self._fetch,
            MsgId.TLISTXATTRS: self._listxattrs,
            MsgId.TLISTXATTR: self._listxattr,
            MsgId.TGETXATTR: self._getxattr,
            MsgId.TSETXATTR: self._setxattr,
            MsgId.TREMOVEXATTR: self._removexattr,
            MsgId.TREADTREE: self._readtree,
            MsgId.TLISTALONG: self._listalong,
        }

    # ---- the loop -----------------------------------------------------------

    def serve(self) -> int:
        """Answer requests until the client hangs up; returns the exit status."""
        spin = Spin(SERVER_SPIN)
        while True:
            try:
                data, anc, flags, _ = recvmsg_polling(
                    self._sock, MAX_MESSAGE, _ANC_SPACE, MSG_CMSG_CLOEXEC, spin
                )
            except (ConnectionResetError, BrokenPipeError):
                return 0
            except OSError as e:
                print(f"gofer: channel receive failed: {e}", file=sys.stderr)
                return 1
            if not self._answer(data, anc, flags):
                return 0

    def _answer(self, data: bytes, anc: list[tuple[int, int, bytes]], flags: int,
                between: bool = False) -> bool:
        """Answer the request just received (*between*: between two messages of a stream,
        where another Treadtree is EBUSY); False if the client hung up."""
        received_fds = self._close_received_fds(anc)
        if not data and not received_fds and self._peer_gone():
            return False
        if received_fds or flags & MSG_TRUNCATED:
            reply: Message | _Reply = Rerror(errno.EINVAL)
        elif between and message_id(data) == MsgId.TREADTREE:
            reply = Rerror(errno.EBUSY)
        else:
            reply = self.dispatch(data)
        return self._send(reply)

    def keep_off(self, cpu: int) -> None:
        """Run on the CPUs the gofer may use but *cpu*, the one the sentry said it is on
        (each request's header; -1: not said), when that leaves any.

        A request wakes the gofer, and the host tends to wake it on the sender's CPU,
        where it then competes with the sentry (which polls for the reply, and is held
        there with the task it serves: sentry.kernel.cpuhold; ARCHITECTURE.md, "The
        gofer keeps off the sentry's CPU").  A call only when the CPU named changes,
        whatever the host answered the last time."""
        if cpu == self._off or cpu < 0 or cpu not in self._cpus:
            return
        self._off = cpu
        try:
            self._set_cpus(0, self._cpus - {cpu})
        except OSError:
            pass  # a cpuset changed under the gofer: it stays where it may

    def _peer_gone(self) -> bool:
        # A 0-byte read is both EOF and an empty datagram on SOCK_SEQPACKET;
        # only a hang-up sets POLLRDHUP.
        p = select.poll()
        p.register(self._sock, select.POLLRDHUP)
        return any(ev & (select.POLLRDHUP | select.POLLHUP) for _, ev in p.poll(0))

    @staticmethod
    def _close_received_fds(anc: list[tuple[int, int, bytes]]) -> bool:
        # The client has no reason to send fds; close any so a hostile one
        # cannot fill the fd table.
        got = False
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                n = len(payload) // 4
                for fd in struct.unpack(f"<{n}i", payload[: n * 4]):
                    got = True
                    os.close(fd)
        return got

    def _send(self, reply: Message | _Reply) -> bool:
        if isinstance(reply, Message):
            reply = _Reply([reply])
        try:
            next_look = time.perf_counter() + _STREAM_LOOK if reply.stream else 0.0
            for i, msg in enumerate(reply.msgs):
                # (before a message, not after one: after the last, a request is the
                # next stream's own, which would otherwise be EBUSY)
                if reply.stream and i > 0 and time.perf_counter() >= next_look:
                    if not self._serve_between():
                        return False
                    next_look = time.perf_counter() + _STREAM_LOOK
                try:
                    data = encode(msg)
                except ProtocolError:
                    if reply.stream:  # (ended as a stream ends: an error would read as
                        # the reply to a request served in between)
                        self._sock.sendmsg([encode(Rreadtree([], [], True, True))])
                        break
                    data = encode(Rerror(errno.EIO))
                if i == reply.fd_at:
                    self._sock.sendmsg(
                        [data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("<i", reply.fd))]
                    )
                else:
                    self._sock.sendmsg([data])
        except (BrokenPipeError, ConnectionResetError):
            return False
        except OSError as e:
            # The reply cannot be delivered, so the client can no longer tell
            # which reply is whose: the channel is lost either way.
            print(f"gofer: channel send failed: {e}", file=sys.stderr)
            return False
        finally:
            if reply.fd >= 0:
                os.close(reply.fd)
            if reply.done is not None:
                reply.done()
        return True

    def _serve_between(self) -> bool:
        """Between two messages of a stream (a Treadtree's reply, tens of ms of listing):
        answer a request that came meanwhile, so that it does not wait for the stream's
        end (the client reads the stream's messages that come before its reply on the
        side, by their type: gofer.client.GoferClient._recv_data).  Another Treadtree is
        EBUSY.  False if the client hung up."""
        try:
            data, anc, flags, _ = self._sock.recvmsg(MAX_MESSAGE, _ANC_SPACE,
                                                     MSG_CMSG_CLOEXEC | MSG_DONTWAIT)
        except BlockingIOError:
            return True
        return self._answer(data, anc, flags, between=True)

    def dispatch(self, data: bytes) -> Message | _Reply:
        """Decode one request and run its handler; never raises."""
        try:
            msg = decode(data)
        except ProtocolError:
            return Rerror(errno.EINVAL)
        handler = self._handlers.get(msg.MSG_ID)
        if handler is None:
            return Rerror(errno.EINVAL)
        if not self._versioned and msg.MSG_ID != MsgId.TVERSION:
            return Rerror(errno.EPROTO)
        self.keep_off(sender_cpu(data))
        try:
            return handler(msg)
        except OSError as e:
            return Rerror(e.errno or errno.EIO)
        except (ValueError, OverflowError):
            # Embedded NULs, out-of-range numbers: bad arguments, not bugs.
            return Rerror(errno.EINVAL)
        except Exception as e:  # noqa: BLE001 - a handler bug fails one request, not the gofer
            _report_bug(e)
            return Rerror(errno.EIO)

    # ---- nodes and handles --------------------------------------------------

    def _new_node(self, fd: int, parent: _Node | None, name: bytes, root: int,
                  key: tuple[int, int]) -> _Node:
        node = _Node(fd, parent, name, root, key)
        if parent is not None:
            parent.refs += 1
        self._nodes.add(node)
        return node

    def _decref(self, node: _Node | None) -> None:
        while node is not None:
            node.refs -= 1
            if node.refs > 0:
                return
            self._nodes.discard(node)
            os.close(node.fd)
            node = node.parent

    def _register(self, node: _Node) -> int:
        while self._next_handle in self._handles or self._next_handle == 0:
            self._next_handle = (self._next_handle + 1) & 0xFFFFFFFF
        h = self._next_handle
        self._next_handle = (h + 1) & 0xFFFFFFFF
        node.refs += 1
        self._handles[h] = node
        return h

    def _get(self, handle: int) -> _Node:
        node = self._handles.get(handle)
        if node is None:
            raise _err(errno.EBADF)
        return node

    def _writable(self, node: _Node) -> None:
        if self._readonly[node.root]:
            raise _err(errno.EROFS)

    def _lookup(self, parent: _Node, name: bytes) -> tuple[_Node, os.stat_result]:
        """A new node for ``name`` beneath ``parent``; a symlink is not followed."""
        fd = _openat2(parent.fd, name, _PATH_FLAGS, RESOLVE)
        try:
            st = os.fstat(fd)
            if st.st_dev != parent.key[0] and stat.S_ISDIR(st.st_mode):
                _refuse_kernel_fs(fd)
        except BaseException:
            os.close(fd)
            raise
        return self._new_node(fd, parent, name, parent.root, (st.st_dev, st.st_ino)), st

    def _reopen(self, node: _Node, flags: int, mode: int | None = None,
                listing: bool = False) -> int:
        """An I/O fd for the node's regular file or directory, checked to be that inode
        (*mode*: the node's, if the caller has it).  *listing*: a directory's fd this
        process lists and closes (O_NONBLOCK, which getdents ignores, is left on).

        :raises OSError: ELOOP for a symlink, EACCES for anything that is not a
            regular file or directory, ESTALE if the name is gone or now names
            another inode.
        """
        return self._reopen_stat(node, flags, mode, listing)[0]

    def _reopen_stat(self, node: _Node, flags: int, mode: int | None = None,
                     listing: bool = False) -> tuple[int, os.stat_result]:
        """:meth:`_reopen`, and the opened fd's attributes (its identity check's)."""
        if mode is None:
            mode = os.fstat(node.fd).st_mode
        if stat.S_ISLNK(mode):
            raise _err(errno.ELOOP)
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise _err(errno.EACCES)
        if node.parent is None:
            fd = _openat2(node.fd, b".", flags | _IO_FLAGS, RESOLVE)
        else:
            try:
                fd = _openat2(node.parent.fd, node.name, flags | _IO_FLAGS, RESOLVE)
            except OSError as e:
                # A name that went away or now names something else (a symlink
                # gives ELOOP, or ENOTDIR with O_DIRECTORY) means the handle is stale.
                if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR) and self._moved(node):
                    raise _err(errno.ESTALE) from None
                raise
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != node.key:
                raise _err(errno.ESTALE)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise _err(errno.EACCES)
            if not listing:
                fl = fcntl.fcntl(fd, fcntl.F_GETFL)
                fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    @staticmethod
    def _moved(node: _Node) -> bool:
        """Whether the node's parent+name no longer names the node's inode."""
        assert node.parent is not None
        try:
            st = os.stat(node.name, dir_fd=node.parent.fd, follow_symlinks=False)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != node.key

    def _new_entry(self, parent: _Node, name: bytes, want: Callable[[int], bool],
                   uid: int, gid: int) -> tuple[int, Stat]:
        """Register a just-created entry, chown it, and return (handle, Stat).

        On failure the entry is removed again, as long as the name still names
        an inode of the expected type.
        """
        try:
            node, st = self._lookup(parent, name)
        except BaseException:
            self._remove_created(parent, name, lambda st: want(st.st_mode))
            raise
        node.refs += 1  # held until registered or abandoned below
        try:
            if not want(st.st_mode):
                raise _err(errno.ESTALE)
            linux.fchown_path_fd(node.fd, uid, gid)
            st = os.fstat(node.fd)
            handle = self._register(node)
        except BaseException:
            self._remove_created(parent, name, lambda st: want(st.st_mode))
            self._decref(node)
            raise
        self._decref(node)
        return handle, Stat.from_os(st)

    @staticmethod
    def _remove_created(parent: _Node, name: bytes,
                        is_it: Callable[[os.stat_result], bool]) -> None:
        """Remove *name*, a new entry a request made and then failed, if it is still the
        entry made (*is_it* of its lstat).  Between the stat and the removal another
        process could put a file there: no call removes a name only if it is a given
        inode, and the window is a syscall's."""
        try:
            st = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
            mode = st.st_mode
            if is_it(st):
                if stat.S_ISDIR(mode):
                    os.rmdir(name, dir_fd=parent.fd)
                else:
                    os.unlink(name, dir_fd=parent.fd)
        except OSError:
            pass

    # ---- handlers -----------------------------------------------------------

    def _version(self, msg: Message) -> Message:
        assert isinstance(msg, Tversion)
        if msg.version != PROTOCOL_VERSION:
            raise _err(errno.EPROTONOSUPPORT)
        self._versioned = True
        return Rversion(PROTOCOL_VERSION, MAX_MESSAGE)

    def _attach(self, msg: Message) -> Message:
        assert isinstance(msg, Tattach)
        if msg.root >= len(self._roots):
            raise _err(errno.ENOENT)
        node = self._roots[msg.root]
        return Rattach(self._register(node), Stat.from_os(os.fstat(node.fd)))

    def _walk(self, msg: Message) -> Message:
        assert isinstance(msg, Twalk)
        cur = self._get(msg.handle)
        for name in msg.names:
            _check_name(name)
        entries: list[tuple[int, Stat]] = []
        for i, name in enumerate(msg.names):
            try:
                node, st = self._lookup(cur, name)
            except OSError as e:
                # A later name that is not there ends the walk (the entries so far are
                # the answer); any other failure of a name fails the whole walk with its
                # errno (the handles it made are closed): the sentry walks from a handle
                # above a directory and the name in one request, and a name it may not
                # reach (EACCES: a kernel file system's mount point) is no missing one.
                # Out of fds is no answer about the name either: the caller may ask again
                # once it freed some.
                if i > 0 and e.errno == errno.ENOENT:
                    break
                for h, _ in entries:
                    self._close_handle(h)
                raise
            entries.append((self._register(node), self._walked_stat(node, st)))
            if not stat.S_ISDIR(st.st_mode):
                break
            cur = node
        return Rwalk(entries)

    @staticmethod
    def _walked_stat(node: _Node, st: os.stat_result) -> Stat:
        """A walked name's attributes for Rwalk, with a symlink's target (read through
        the very O_PATH fd the node holds, as :meth:`_readlink`; empty if that fails)."""
        out = Stat.from_os(st)
        if stat.S_ISLNK(st.st_mode):
            try:
                out.target = os.readlink(b"", dir_fd=node.fd)
            except OSError:
                out.target = None
        return out

    def _stat(self, msg: Message) -> Message:
        assert isinstance(msg, Tstat)
        return Rstat(Stat.from_os(os.fstat(self._get(msg.handle).fd)))

    def _open(self, msg: Message) -> _Reply:
        assert isinstance(msg, Topen)
        node = self._get(msg.handle)
        flags = msg.flags
        if flags & ~_OPEN_ALLOWED or flags & os.O_ACCMODE == os.O_ACCMODE:
            raise _err(errno.EINVAL)
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            self._writable(node)
        return _Reply([Ropen()], self._reopen(node, flags))

    def _walk_unregistered(self, node: _Node, names: list[bytes]) -> _Node:
        """The node ``names`` walk to beneath ``node`` (``node`` itself for ``[]``), the
        nodes walked through unregistered: the caller registers the last one or frees it
        with :meth:`_release_walked`."""
        return self._walk_unregistered_stat(node, names)[0]

    def _walk_unregistered_stat(self, node: _Node, names: list[bytes]
                                ) -> tuple[_Node, os.stat_result | None]:
        """:meth:`_walk_unregistered`, and the last node's attributes as its lookup found
        them (None for ``[]``)."""
        for name in names:
            _check_name(name)
        cur, st = node, None
        try:
            for name in names:
                cur, st = self._lookup(cur, name)
        except BaseException:
            self._release_walked(node, cur)
            raise
        return cur, st

    @staticmethod
    def _open_dir_beneath(start: _Node, names: list[bytes]) -> int:
        """The directory *names* walk to beneath *start*, opened for listing in one
        ``openat2`` (as a Treadtree's visits: no symlink, no mount crossed, so no
        file system the walk would have to check on the way); -1 if that open fails for
        any reason, and the caller walks a name at a time (:meth:`_walk_unregistered`),
        which checks what the one open would not and gives the walk's own error.  A
        listing of 50 entries four names down: 47 -> 35 us of the gofer, 76 -> 58 us a
        round trip."""
        for name in names:
            _check_name(name)
        try:
            return _openat2(start.fd, b"/".join(names), _LIST_FLAGS, _LIST_RESOLVE)
        except OSError:
            return -1

    def _release_walked(self, start: _Node, end: _Node) -> None:
        if end is not start:
            self._decref_unregistered(end)

    def _walkopen(self, msg: Message) -> _Reply:
        assert isinstance(msg, Twalkopen)
        parent = self._get(msg.handle)
        flags = msg.flags & ~(WALKOPEN_OR_WALK | WALKOPEN_SIBLINGS)
        or_walk = msg.flags & WALKOPEN_OR_WALK
        siblings = msg.flags & WALKOPEN_SIBLINGS
        if not msg.names or flags & ~_OPEN_ALLOWED or flags & os.O_ACCMODE == os.O_ACCMODE:
            raise _err(errno.EINVAL)
        if (or_walk and flags & (os.O_ACCMODE | os.O_TRUNC)) or (siblings and not or_walk):
            raise _err(errno.EINVAL)
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            self._writable(parent)
        node, st = self._walk_unregistered_stat(parent, msg.names)
        assert st is not None  # (names is not empty)
        if not or_walk:
            try:
                fd, st = self._reopen_stat(node, flags, st.st_mode)
            except BaseException:
                self._release_walked(parent, node)
                raise
            return _Reply([Rwalkopen(self._register(node), Stat.from_os(st))], fd)
        try:
            first, fd, target = self._opened_or_walked(node, flags, st)
        except BaseException:  # (a bug: the node is registered last)
            self._release_walked(parent, node)
            raise
        if fd >= 0:
            return _Reply([first], fd)
        if siblings and sibling_target(target):
            assert node.parent is not None  # (names is not empty)
            return self._sibling_hops(node.parent, first, target, flags)
        return _Reply([first])

    def _opened_or_walked(self, node: _Node, flags: int, st: os.stat_result,
                          ) -> tuple[Message, int, bytes | None]:
        """WALKOPEN_OR_WALK's answer for the walked *node* (*st*: its lookup's), which
        it registers: an Rwalkopen and the fd if it is a regular file everyone may read
        and it opens; else an Rwalk of it (the open that follows gets the error), no fd
        (-1), and its symlink target if it is one.  Raises no OSError."""
        if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
            try:
                fd, st = self._reopen_stat(node, flags, st.st_mode)
            except OSError:
                pass
            else:
                return Rwalkopen(self._register(node), Stat.from_os(st)), fd, None
        walked = self._walked_stat(node, st)  # (an unreadable link's target: None)
        return Rwalk([(self._register(node), walked)]), -1, walked.target

    def _sibling_hops(self, directory: _Node, first: Message, target: bytes,
                      flags: int) -> _Reply:
        """WALKOPEN_SIBLINGS: after *first* (the walked symlink), what its *target* names
        in *directory*, walked or opened as WALKOPEN_OR_WALK says, and on through further
        links to siblings, up to SIBLING_HOPS messages more; a failed lookup is the last
        one (Rerror).  The client reads one more message after each walked link whose
        target :func:`sibling_target` accepts, until SIBLING_HOPS came."""
        msgs: list[Message] = [first]
        for _ in range(SIBLING_HOPS):
            try:
                child, st = self._lookup(directory, target)
            except OSError as e:
                msgs.append(Rerror(e.errno or errno.EIO))
                break
            msg, fd, next_target = self._opened_or_walked(child, flags, st)
            msgs.append(msg)
            if fd >= 0:
                return _Reply(msgs, fd)
            if not sibling_target(next_target):
                break
            assert next_target is not None
            target = next_target
        return _Reply(msgs)

    def _fetch(self, msg: Message) -> _Reply:
        """Tfetch: the regular file a path names beneath the handle, opened read-only (as
        a listing's walk: no symlink followed, no mount crossed, nothing registered), if
        its mode lets everyone read it (0444, what C asks a fetch for, rt.c ``sc_fetch``:
        the gofer opens nothing no sandbox user may read, and no FIFO, device or socket).
        The path is looked up ``O_PATH`` and checked first, then opened and checked to be
        that inode (as :meth:`_reopen`: a name swapped between the two is refused)."""
        assert isinstance(msg, Tfetch)
        start = self._get(msg.handle)
        if msg.flags & ~os.O_NOFOLLOW or len(msg.path) >= PATH_MAX:
            raise _err(errno.EINVAL)
        for name in msg.path.split(b"/"):  # (an empty path is one empty name: EINVAL)
            _check_name(name)
        pfd = _openat2(start.fd, msg.path, _PATH_FLAGS, _LIST_RESOLVE)
        try:
            st = os.fstat(pfd)
        finally:
            os.close(pfd)
        if stat.S_ISLNK(st.st_mode):
            raise _err(errno.ELOOP)  # (O_PATH | O_NOFOLLOW gave the link itself)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o444 != 0o444:
            raise _err(errno.EACCES)
        fd = _openat2(start.fd, msg.path, os.O_RDONLY | _IO_FLAGS, _LIST_RESOLVE)
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(
                    now.st_mode):
                raise _err(errno.ESTALE)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return _Reply([Rfetch(Stat.from_os(now))], fd)

    def _readlink(self, msg: Message) -> Message:
        assert isinstance(msg, Treadlink)
        node = self._get(msg.handle)
        if not stat.S_ISLNK(os.fstat(node.fd).st_mode):
            raise _err(errno.EINVAL)
        # readlinkat(fd, "") reads the very symlink the O_PATH handle holds,
        # so there is no window in which the name could be swapped.
        target = os.readlink(b"", dir_fd=node.fd)
        return Rreadlink(target)

    def _readdir(self, msg: Message) -> _Reply:
        assert isinstance(msg, Treaddir)
        fd = self._open_for_listing(self._get(msg.handle))
        try:
            entries = self._read_entries(fd)
        finally:
            os.close(fd)
        msgs: list[Message] = []
        batch: list[tuple[bytes, int, int]] = []
        size = 0
        for ent in entries:
            esize = Rreaddir.ENTRY_OVERHEAD + len(ent[0])
            if batch and size + esize > _READDIR_BUDGET:
                msgs.append(Rreaddir(batch, False))
                batch, size = [], 0
            batch.append(ent)
            size += esize
        msgs.append(Rreaddir(batch, True))
        return _Reply(msgs)

    def _readdirstat(self, msg: Message) -> _Reply:
        assert isinstance(msg, Treaddirstat)
        fd, dev = self._listing_fd(self._get(msg.handle), msg.names)
        try:
            return _listing_reply(self._entry_batches(fd, dev, _READDIR_BUDGET))
        finally:
            os.close(fd)

    def _listing_fd(self, start: _Node, names: list[bytes]) -> tuple[int, int]:
        """The directory *names* walk to beneath *start*, opened for listing (the caller
        closes it), and its device: in one ``openat2`` if it can, else walked a name at
        a time, which gives the walk's own error."""
        if names:
            fd = self._open_dir_beneath(start, names)
            if fd >= 0:
                try:
                    return fd, os.fstat(fd).st_dev
                except BaseException:
                    os.close(fd)
                    raise
        node = self._walk_unregistered(start, names)
        try:
            return self._open_for_listing(node), node.key[0]
        finally:
            self._release_walked(start, node)

    def _listalong(self, msg: Message) -> _Reply:
        """Tlistalong: the first directory's listing as Treaddirstat's, then each small
        directory along (see the message) opened beneath the one before (one name, no
        symlink, no mount crossed: what a Treadtree's visits open) and listed, until one
        is not there, is no such directory, is on another device, takes more than one
        block, cannot be listed, or the entries listed after the first reach
        _ALONG_ENTRIES (a file system whose directory sizes say little: the reply is
        built whole before it is sent)."""
        assert isinstance(msg, Tlistalong)
        for name in msg.along:
            _check_name(name)
        fd, dev = self._listing_fd(self._get(msg.handle), msg.names)
        listings = []
        try:
            listings.append(self._entry_batches(fd, dev, _READDIR_BUDGET))
            left = _ALONG_ENTRIES
            for name in msg.along:
                if left <= 0:
                    break
                try:
                    nfd = _openat2(fd, name, _LIST_FLAGS, _LIST_RESOLVE)
                except OSError:
                    break
                old, fd = fd, nfd
                os.close(old)
                try:
                    st = os.fstat(fd)
                    if st.st_dev != dev or dir_blocks(st.st_size, st.st_nlink) > 1:
                        break
                    batches = self._entry_batches(fd, dev, _READDIR_BUDGET)
                except OSError:
                    break
                listings.append(batches)
                left -= sum(len(b) for b in batches)
        finally:
            os.close(fd)
        msgs: list[Message] = [Rlistalong(len(listings))]
        for batches in listings:
            msgs.extend(_listing_reply(batches).msgs)
        return _Reply(msgs)

    def _open_for_listing(self, node: _Node) -> int:
        """The node's directory opened for this process to list and close.

        :raises OSError: ENOTDIR for anything else, or the re-open's error.
        """
        mode = os.fstat(node.fd).st_mode
        if not stat.S_ISDIR(mode):
            raise _err(errno.ENOTDIR)
        return self._reopen(node, os.O_RDONLY | os.O_DIRECTORY, mode, listing=True)

    def _entry_batches(self, fd: int, dev: int, budget: int) -> list[_Batch]:
        """The entries of the directory open as *fd* on the device *dev* with their lstat
        attributes (a mount point's only its inode number), in batches of at most *budget*
        encoded bytes (at least one): by the C loop (packed), or
        :meth:`_entry_batches_py`, its twin."""
        if _nlib is None or self.python_listing:
            return list(self._entry_batches_py(fd, dev, budget))
        assert _nffi is not None
        listing = _nffi.new("struct rt_listing *")
        err = _nlib.rt_list_stat(fd, dev, listing)
        if err < 0:
            raise OSError(-err, os.strerror(-err))
        try:
            count = listing.count
            data = _nffi.unpack(listing.data, listing.len) if listing.len else b""
            # (each entry's end, only to cut a listing past the budget into batches)
            ends = _nffi.unpack(listing.ends, count) if count and len(data) > budget else []
            subdirs = (_nffi.unpack(listing.subdirs, listing.subdirs_len).split(b"\0")[:-1]
                       if listing.subdirs_len else [])
        finally:
            _nlib.rt_listing_free(listing)
        if len(data) <= budget:  # (most directories: no loop over the entries)
            return [PackedEntries(count, data, subdirs)]
        # Batches of at most *budget* bytes (at least one entry each), as the twin's.
        batches: list[_Batch] = []
        start = first = 0
        for i, end in enumerate(ends):
            if i > first and end - start > budget:
                prev = ends[i - 1]
                batches.append(PackedEntries(i - first, data[start:prev], []))
                start, first = prev, i
        batches.append(PackedEntries(len(ends) - first, data[start:], []))
        # The subdirectories go with the first batch (the order of a Treadtree's visits).
        assert isinstance(batches[0], PackedEntries)
        batches[0].subdirs = subdirs
        return batches

    #: Tests set it to compare the two listing loops.
    python_listing = False

    def _entry_batches_py(self, fd: int, dev: int, budget: int,
                          ) -> list[list[tuple[bytes, Stat | int]]]:
        """The Python twin of the C listing loop."""
        batches: list[list[tuple[bytes, Stat | int]]] = []
        batch: list[tuple[bytes, Stat | int]] = []
        size = 0
        for name, ino, _ in self._read_entries(fd):
            try:
                st: Stat | int = Stat.from_os(os.stat(name, dir_fd=fd, follow_symlinks=False))
            except FileNotFoundError:
                continue  # removed since it was listed
            assert isinstance(st, Stat)
            esize = Rreaddirstat.ENTRY_OVERHEAD + len(name)
            if st.dev != dev and stat.S_ISDIR(st.mode):
                st = ino  # a mount point: only a walk decides whether it is served
            elif stat.S_ISLNK(st.mode):
                # The target too: a walk through the link needs it next (one round
                # trip saved per link; readlinkat's answer is the link's, not a path).
                try:
                    st.target = os.readlink(name, dir_fd=fd)
                except OSError:
                    pass  # replaced since: the client reads it when it needs it
                else:
                    esize += 2 + len(st.target)
            if batch and size + esize > budget:
                batches.append(batch)
                batch, size = [], 0
            batch.append((name, st))
            size += esize
        batches.append(batch)
        return batches

    def _readtree(self, msg: Message) -> _Reply:
        assert isinstance(msg, Treadtree)
        start = self._get(msg.handle)
        for name in msg.subdirs:
            _check_name(name)
        node = self._walk_unregistered(start, msg.names)
        node.refs += 1  # held until the reply was sent (_Reply.done)
        try:
            if not stat.S_ISDIR(os.fstat(node.fd).st_mode):
                raise _err(errno.ENOTDIR)
        except BaseException:
            self._decref(node)
            raise
        # Streamed: each directory's batches go out as it is listed, so the client takes
        # the first listings while the rest are being made.
        msgs = self._tree_messages(node, msg.subdirs, min(msg.budget, _TREE_BUDGET_MAX))

        def done() -> None:
            msgs.close()  # a reply cut short: the visits' fds close
            self._decref(node)

        return _Reply(msgs, done=done, stream=True)

    def _tree_messages(self, node: _Node, subdirs: list[bytes], budget: int,
                       ) -> Generator[Message, None, None]:
        left = [budget]
        try:
            for name in subdirs:
                if left[0] <= 0:
                    break
                yield from self._tree_visit(node.fd, node.key[0], name, [name], len(name) + 2,
                                            left)
        except Exception as e:  # noqa: BLE001 - a bug ends the listing, not the gofer
            _report_bug(e)
        yield Rreadtree([], [], True, True)

    def _tree_visit(self, parent_fd: int, dev: int, name: bytes, path: list[bytes],
                    path_bytes: int, left: list[int]) -> Iterator[Message]:
        """Treadtree's depth-first step: list the directory *name* beneath *parent_fd*
        (on the device *dev*, no mount crossed: RESOLVE_NO_XDEV), then its
        subdirectories while the budget (*left*, entries) lasts.  Nothing is registered:
        the directory's own fd is the next level's parent.  Whatever cannot be listed is
        left out: the client asks for it on its own and gets the error then."""
        try:
            fd = _openat2(parent_fd, name, _LIST_FLAGS, _LIST_RESOLVE)
        except OSError:
            return
        try:
            try:
                batches = self._entry_batches(fd, dev, _READDIR_BUDGET - path_bytes)
            except OSError:
                return
            for i, batch in enumerate(batches):
                left[0] -= len(batch)
                yield Rreadtree(path, batch, i == len(batches) - 1, False)
            if len(path) >= MAX_WALK:
                return
            for sub in _subdirs(batches):
                if left[0] <= 0:
                    return
                if path_bytes + len(sub) + 2 <= _TREE_PATH_MAX:
                    yield from self._tree_visit(fd, dev, sub, path + [sub],
                                                path_bytes + len(sub) + 2, left)
        finally:
            os.close(fd)

    def _read_entries(self, fd: int) -> list[tuple[bytes, int, int]]:
        buf = self._dirent_buf
        out: list[tuple[bytes, int, int]] = []
        while True:
            n = linux.getdents64(fd, buf)
            if n == 0:
                return out
            data = buf.raw[:n]
            off = 0
            while off < n:
                ino, _, reclen, dtype = _DIRENT_HEAD.unpack_from(data, off)
                start = off + _DIRENT_HEAD.size
                end = data.index(b"\0", start, off + reclen)
                name = data[start:end]
                off += reclen
                if name in (b".", b".."):
                    continue
                if dtype == linux.DT_UNKNOWN:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    dtype = stat.S_IFMT(st.st_mode) >> 12
                out.append((name, ino, dtype))

    def _create(self, msg: Message) -> _Reply:
        assert isinstance(msg, Tcreate)
        parent = self._get(msg.dir_handle)
        _check_name(msg.name)
        flags = msg.flags
        if flags & ~_CREATE_ALLOWED or flags & os.O_ACCMODE == os.O_ACCMODE:
            raise _err(errno.EINVAL)
        self._writable(parent)
        mode = msg.mode & 0o7777
        fd = _openat2(
            parent.fd, msg.name,
            flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY,
            RESOLVE, mode,
        )
        try:
            handle, st = self._new_entry(parent, msg.name, stat.S_ISREG, msg.uid, msg.gid)
            created = os.fstat(fd)
            if (created.st_dev, created.st_ino) != (st.dev, st.ino):
                self._close_handle(handle)
                raise _err(errno.ESTALE)
            if mode & (stat.S_ISUID | stat.S_ISGID):
                # chown of a regular file clears its set-id bits; put them back.
                os.fchmod(fd, mode)
                st = Stat.from_os(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return _Reply([Rcreate(handle, st)], fd)

    def _mkdir(self, msg: Message) -> Message:
        assert isinstance(msg, Tmkdir)
        parent = self._get(msg.dir_handle)
        _check_name(msg.name)
        self._writable(parent)
        os.mkdir(msg.name, msg.mode & 0o7777, dir_fd=parent.fd)
        handle, st = self._new_entry(parent, msg.name, stat.S_ISDIR, msg.uid, msg.gid)
        return Rmkdir(handle, st)

    def _symlink(self, msg: Message) -> Message:
        assert isinstance(msg, Tsymlink)
        parent = self._get(msg.dir_handle)
        _check_name(msg.name)
        if not msg.target or b"\0" in msg.target:
            raise _err(errno.ENOENT if not msg.target else errno.EINVAL)
        if len(msg.target) >= PATH_MAX:
            raise _err(errno.ENAMETOOLONG)
        self._writable(parent)
        os.symlink(msg.target, msg.name, dir_fd=parent.fd)
        handle, st = self._new_entry(parent, msg.name, stat.S_ISLNK, msg.uid, msg.gid)
        return Rsymlink(handle, st)

    def _link(self, msg: Message) -> Message:
        assert isinstance(msg, Tlink)
        parent = self._get(msg.dir_handle)
        target = self._get(msg.target_handle)
        _check_name(msg.name)
        if target.root != parent.root:
            raise _err(errno.EXDEV)
        self._writable(parent)
        if target.parent is None or stat.S_ISDIR(os.fstat(target.fd).st_mode):
            raise _err(errno.EPERM)
        cur = os.stat(target.name, dir_fd=target.parent.fd, follow_symlinks=False)
        if (cur.st_dev, cur.st_ino) != target.key:
            raise _err(errno.ESTALE)
        # flags 0: a symlink target is linked itself, never followed.
        linux.linkat(target.parent.fd, target.name, parent.fd, msg.name, 0)
        try:
            node, st = self._lookup(parent, msg.name)
        except OSError:
            # (out of fds, say: the request fails, so the link must not stay, as a
            # create's, mkdir's or symlink's new entry does not)
            self._remove_created(parent, msg.name,
                                 lambda st: (st.st_dev, st.st_ino) == target.key)
            raise
        if (st.st_dev, st.st_ino) != target.key:
            self._decref_unregistered(node)
            os.unlink(msg.name, dir_fd=parent.fd)
            raise _err(errno.ESTALE)
        return Rlink(self._register(node), Stat.from_os(st))

    def _decref_unregistered(self, node: _Node) -> None:
        node.refs += 1
        self._decref(node)

    def _unlink(self, msg: Message) -> Message:
        assert isinstance(msg, Tunlink)
        parent = self._get(msg.dir_handle)
        _check_name(msg.name)
        if msg.flags not in (0, linux.AT_REMOVEDIR):
            raise _err(errno.EINVAL)
        self._writable(parent)
        if msg.flags == linux.AT_REMOVEDIR:
            os.rmdir(msg.name, dir_fd=parent.fd)
        else:
            os.unlink(msg.name, dir_fd=parent.fd)
        return Runlink()

    def _rename(self, msg: Message) -> Message:
        assert isinstance(msg, Trename)
        old_dir = self._get(msg.old_dir)
        new_dir = self._get(msg.new_dir)
        _check_name(msg.old_name)
        _check_name(msg.new_name)
        allowed = linux.RENAME_NOREPLACE | linux.RENAME_EXCHANGE
        if msg.flags & ~allowed or msg.flags == allowed:
            raise _err(errno.EINVAL)
        # Linux checks for a mount crossing before the mount's read-only flag.
        if old_dir.root != new_dir.root:
            raise _err(errno.EXDEV)
        self._writable(old_dir)
        linux.renameat2(old_dir.fd, msg.old_name, new_dir.fd, msg.new_name, msg.flags)
        self._renamed(old_dir, msg.old_name, new_dir, msg.new_name,
                      bool(msg.flags & linux.RENAME_EXCHANGE))
        return Rrename()

    def _renamed(self, old_dir: _Node, old_name: bytes, new_dir: _Node, new_name: bytes,
                 exchange: bool) -> None:
        """Point live nodes at the names their inodes now have."""
        moved = [n for n in self._nodes
                 if n.parent is not None and n.parent.key == old_dir.key and n.name == old_name]
        swapped = []
        if exchange:
            swapped = [n for n in self._nodes
                       if n.parent is not None and n.parent.key == new_dir.key
                       and n.name == new_name]
        for nodes, dest, name in ((moved, new_dir, new_name), (swapped, old_dir, old_name)):
            for n in nodes:
                dest.refs += 1
                old_parent = n.parent
                n.parent = dest
                n.name = name
                self._decref(old_parent)

    def _setattr(self, msg: Message) -> Message:
        assert isinstance(msg, Tsetattr)
        node = self._get(msg.handle)
        fields = (msg.mode, msg.uid, msg.gid, msg.size, msg.atime_ns, msg.mtime_ns)
        if all(v is None for v in fields):
            return Rsetattr()
        self._writable(node)
        mode = os.fstat(node.fd).st_mode
        if msg.mode is not None and stat.S_ISLNK(mode):
            raise _err(errno.EOPNOTSUPP)
        # Size first, times last: truncation and chown both touch the times,
        # and chown of a regular file clears set-id bits the mode may set.
        if msg.size is not None:
            if stat.S_ISDIR(mode):
                raise _err(errno.EISDIR)
            if not stat.S_ISREG(mode):
                raise _err(errno.EINVAL)
            fd = self._reopen(node, os.O_WRONLY)
            try:
                os.ftruncate(fd, msg.size)
            finally:
                os.close(fd)
        if msg.uid is not None or msg.gid is not None:
            linux.fchown_path_fd(node.fd, -1 if msg.uid is None else msg.uid,
                                 -1 if msg.gid is None else msg.gid)
        if msg.mode is not None:
            linux.fchmod_path_fd(node.fd, msg.mode & 0o7777)
        if msg.atime_ns is not None or msg.mtime_ns is not None:
            linux.utimens_path_fd(node.fd, _ns_to_timespec(msg.atime_ns),
                                  _ns_to_timespec(msg.mtime_ns))
        return Rsetattr()

    # ---- extended attributes: user.* only (see gofer.protocol) ------------------

    @staticmethod
    def _user_xattr(name: bytes) -> bool:
        """Whether *name* is one the gofer serves: ``user.`` and more, no NUL."""
        if len(name) > XATTR_NAME_MAX or b"\0" in name:
            raise _err(errno.ERANGE)
        return name.startswith(XATTR_USER_PREFIX) and len(name) > len(XATTR_USER_PREFIX)

    def _xattr_fd(self, node: _Node) -> int:
        """An fd the f*xattr calls take for the node's regular file or directory (its
        O_PATH handle is EBADF to them; the chroot has no /proc/self/fd to reach it by)."""
        return self._reopen(node, os.O_RDONLY)

    def _listxattr(self, msg: Message) -> Message:
        assert isinstance(msg, Tlistxattr)
        start = self._get(msg.handle)
        node = self._walk_unregistered(start, msg.names)
        try:
            return Rlistxattr(self._user_xattrs(node))
        finally:
            self._release_walked(start, node)

    def _user_xattrs(self, node: _Node) -> list[bytes]:
        """The ``user.*`` attribute names of the node's regular file or directory."""
        fd = self._xattr_fd(node)
        try:
            names = [os.fsencode(n) for n in os.listxattr(fd)]
        finally:
            os.close(fd)
        names = [n for n in names if n.startswith(XATTR_USER_PREFIX)]
        if sum(len(n) + 1 for n in names) > XATTR_LIST_MAX:
            raise _err(errno.E2BIG)
        return names

    def _listxattrs(self, msg: Message) -> Message:
        """Tlistxattrs: Tlistxattr's answer for each file the walk passes (each walked node
        holds its parent, so the chain is there until the last one is released)."""
        assert isinstance(msg, Tlistxattrs)
        start = self._get(msg.handle)
        if not msg.names:
            raise _err(errno.EINVAL)
        node = self._walk_unregistered(start, msg.names)
        try:
            chain: list[_Node] = []
            cur = node  # (one new node a name, each its predecessor's child)
            for _ in msg.names:
                chain.append(cur)
                assert cur.parent is not None
                cur = cur.parent
            lists, size = [], 0
            for n in reversed(chain):
                names = self._user_xattrs(n)
                size += 2 + sum(2 + len(x) for x in names)
                if size > XATTR_LIST_MAX:
                    raise _err(errno.E2BIG)  # (before the rest are listed)
                lists.append(names)
        finally:
            self._release_walked(start, node)
        return Rlistxattrs(lists)

    def _getxattr(self, msg: Message) -> Message:
        assert isinstance(msg, Tgetxattr)
        node = self._get(msg.handle)
        if not self._user_xattr(msg.name):
            raise _err(errno.ENODATA)
        fd = self._xattr_fd(node)
        try:
            return Rgetxattr(os.getxattr(fd, msg.name))
        finally:
            os.close(fd)

    def _setxattr(self, msg: Message) -> Message:
        assert isinstance(msg, Tsetxattr)
        node = self._get(msg.handle)
        if msg.flags & ~(XATTR_CREATE | XATTR_REPLACE):
            raise _err(errno.EINVAL)
        if not self._user_xattr(msg.name):
            raise _err(errno.EOPNOTSUPP)
        if len(msg.value) > XATTR_SIZE_MAX:
            raise _err(errno.E2BIG)
        self._writable(node)
        fd = self._xattr_fd(node)
        try:
            os.setxattr(fd, msg.name, msg.value, msg.flags)
        finally:
            os.close(fd)
        return Rsetxattr()

    def _removexattr(self, msg: Message) -> Message:
        assert isinstance(msg, Tremovexattr)
        node = self._get(msg.handle)
        if not self._user_xattr(msg.name):
            raise _err(errno.EOPNOTSUPP)
        self._writable(node)
        fd = self._xattr_fd(node)
        try:
            os.removexattr(fd, msg.name)
        finally:
            os.close(fd)
        return Rremovexattr()

    def _statfs(self, msg: Message) -> Message:
        assert isinstance(msg, Tstatfs)
        s = linux.fstatfs(self._get(msg.handle).fd)
        return Rstatfs(s.f_type, s.f_bsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files,
                       s.f_ffree, s.f_namelen, s.f_frsize, s.f_flags)

    def _close(self, msg: Message) -> Message:
        assert isinstance(msg, Tclose)
        self._get(msg.handle)
        self._close_handle(msg.handle)
        return Rclose()

    def _close_many(self, msg: Message) -> Message:
        """Close every handle named; EBADF (after closing the others) if one is not open."""
        assert isinstance(msg, Tclosemany)
        unknown = False
        for handle in msg.handles:
            if handle in self._handles:
                self._close_handle(handle)
            else:
                unknown = True
        if unknown:
            raise _err(errno.EBADF)
        return Rclose()

    def _close_handle(self, handle: int) -> None:
        self._decref(self._handles.pop(handle))


# ---- process start-up -------------------------------------------------------


def confine(roots: list[tuple[bytes, bool]], channel_fd: int) -> list[tuple[int, bytes | None]]:
    """Open the roots, then cut this process off from every other host path and call.

    Returns one directory fd per root: a detached clone of the mount tree at
    that path, nosuid and nodev (device nodes cannot be opened even if a check
    above is wrong), read-only at the mount level for read-only roots.  A root
    that is a regular file (a file bind mount: /etc/resolv.conf, /etc/hosts) is
    its directory's clone and its name there (:class:`GoferServer`'s *files*).
    Last, the process keeps only :data:`gofer.filter.KEEP_CAPS` and installs the
    seccomp filter, whose channel rows name *channel_fd*; with no writable root,
    only what reads need of both.

    :raises OSError: if any step fails; the caller must then exit (EINVAL: a
        root is neither a directory nor a regular file).
    """
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    writable = any(not readonly for _, readonly in roots)
    # Now, while files can be read: the install-time cache, or libseccomp.
    program = gofer_filter.program(channel_fd, writable)
    fds: list[tuple[int, bytes | None]] = []
    for path, readonly in roots:
        name: bytes | None = None
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            path, name = os.path.split(os.path.realpath(path))
        elif not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EINVAL, "not a directory or a regular file", path)
        dfd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _refuse_kernel_fs(dfd)
            fd = linux.open_tree_clone(dfd)
        finally:
            os.close(dfd)
        attrs = linux.MOUNT_ATTR_NOSUID | linux.MOUNT_ATTR_NODEV
        if readonly:
            attrs |= linux.MOUNT_ATTR_RDONLY
        linux.mount_setattr_recursive(fd, attrs)
        fds.append((fd, name))
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWNET)
    linux.mount(None, b"/", None, linux.MS_REC | linux.MS_PRIVATE)
    empty = linux.fsmount_tmpfs(
        b"4k",
        linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID | linux.MOUNT_ATTR_NODEV
        | linux.MOUNT_ATTR_NOEXEC,
    )
    os.fchdir(empty)
    os.chroot(".")
    os.chdir("/")
    os.close(empty)
    gofer_filter.drop_capabilities(writable)
    gofer_filter.install(program)
    return fds


def _parse_root(spec: str) -> tuple[bytes, bool]:
    path, sep, mode = spec.rpartition(":")
    if sep and mode in ("ro", "rw"):
        return os.fsencode(path), mode == "ro"
    return os.fsencode(spec), False


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python3 -m gofer``; returns the exit status."""
    import argparse  # here: the sentry, which forks the gofer, imports this module

    parser = argparse.ArgumentParser(prog="gofer")
    parser.add_argument("--sock-fd", type=int, required=True)
    parser.add_argument("--root", action="append", required=True, metavar="PATH[:ro]")
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    return run(args.sock_fd, args.root, args.parent_pid)


def run(sock_fd: int, root_specs: list[str], parent_pid: int) -> int:
    """Serve the channel *sock_fd* (every other fd above 2 is closed) for the roots
    ``PATH[:ro]`` until it closes; returns the exit status.  What ``python3 -m gofer``
    runs, and a gofer forked from the sentry (:func:`gofer.launch.fork`)."""
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent may have died before PDEATHSIG was armed.
    if parent_pid and os.getppid() != parent_pid:
        return 1
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, 1 << 20)
    sock = socket.socket(fileno=sock_fd)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_SEQPACKET:
        print("gofer: --sock-fd is not a unix seqpacket socket", file=sys.stderr)
        return 2
    os.umask(0)  # the sentry applies the workload's umask itself
    # No Python-level signal handler: running one ends in rt_sigreturn, and the
    # KeyboardInterrupt traceback reads source files; the filter allows neither.
    # The gofer is in a process group of its own, so no terminal sends it SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    report_without_sources()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cpus = frozenset(os.sched_getaffinity(0))  # (before the filter, which refuses it)
    # Closed here rather than by the interpreter's clean-up, whose warning about an
    # unclosed socket would call getsockname/getpeername.
    try:
        try:
            root_fds = confine([_parse_root(r) for r in root_specs], sock_fd)
        except OSError as e:
            print(f"gofer: confinement failed: {e}", file=sys.stderr)
            return 1
        roots = [(fd, _parse_root(spec)[1])
                 for (fd, _), spec in zip(root_fds, root_specs, strict=True)]
        try:
            server = GoferServer(sock, roots, [name for _, name in root_fds], cpus)
        except OSError as e:
            print(f"gofer: bad root: {e}", file=sys.stderr)
            return 1
        return server.serve()
    finally:
        sock.close()


# The channel's fd number in the gofer; dup2 in the spawn clears its CLOEXEC.
_CHILD_SOCK_FD = 3


def spawn(roots: list[tuple[str, bool]]) -> tuple[int, socket.socket]:
    """Start a gofer serving ``roots`` (host path, read-only); root i is ``attach(i)``.

    Returns (pid, the sentry's end of the channel).  The caller reaps the pid.
    The gofer dies with the thread that called this (PR_SET_PDEATHSIG tracks the
    creating thread) and exits when the channel is closed.

    :raises OSError: if the process cannot be started.
    """
    parent, child = channel()
    argv = [sys.executable, "-P", "-s", "-m", "gofer", "--sock-fd", str(_CHILD_SOCK_FD),
            "--parent-pid", str(os.getpid())]
    for path, readonly in roots:
        argv += ["--root", f"{os.fspath(path)}:{'ro' if readonly else 'rw'}"]
    env = {"PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    actions: list[tuple[int, ...]] = []
    try:
        if child.fileno() == _CHILD_SOCK_FD:
            os.set_inheritable(child.fileno(), True)
        else:
            actions.append((os.POSIX_SPAWN_DUP2, child.fileno(), _CHILD_SOCK_FD))
        # The gofer has no use for the caller's stdin (it may be a terminal).
        actions.append((os.POSIX_SPAWN_CLOSE, 0))
        pid = os.posix_spawn(
            sys.executable, argv, env,
            file_actions=actions,
            setsigmask=(),
            setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
            # Its own process group: a terminal's ^C for the sandbox is not the gofer's.
            setpgroup=0,
        )
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return pid, parent


def _listing_reply(batches: list[_Batch]) -> _Reply:
    """A Treaddirstat's reply: one Rreaddirstat a batch, the last marked."""
    return _Reply([Rreaddirstat(b, i == len(batches) - 1) for i, b in enumerate(batches)])


def _subdirs(batches: list[_Batch]) -> Iterator[bytes]:
    """The names of a listing's subdirectories on its own device, in listing order."""
    for batch in batches:
        if isinstance(batch, PackedEntries):
            yield from batch.subdirs
            continue
        for name, st in batch:
            if isinstance(st, Stat) and stat.S_ISDIR(st.mode):
                yield name
