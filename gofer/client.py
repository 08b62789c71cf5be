"""The sentry's side of the gofer protocol.

Every method sends one request and waits for its reply (one request in flight
per channel; a lock makes that hold if the caller ever has threads).  Failures
come back as :class:`OSError` with the errno the server reported; a reply that
does not fit the protocol raises EPROTO and leaves the channel unusable, since
the two ends can no longer agree on where a message starts.  Host fds received
from the gofer are close-on-exec and owned by the caller.
"""

from __future__ import annotations

import array
import errno
import os
import _socket as socket
import stat
import _thread
import time
from collections.abc import Callable, Sequence

from gofer.protocol import (
    MAX_TREE_SUBDIRS,
    MSG_CMSG_CLOEXEC,
    MSG_DONTWAIT,
    MSG_TRUNC,
    MSG_TRUNCATED,
    PATH_MAX,
    Listing,
    MsgId,
    message_id,
    PackedEntries,
    unpack_entries,
    unpack_readdirstat_batch,
    unpack_readtree_batch,
    CLIENT_SPIN,
    Spin,
    MAX_MESSAGE,
    MAX_ALONG,
    MAX_WALK,
    MAX_CLOSE,
    WALKOPEN_OR_WALK,
    WALKOPEN_SIBLINGS,
    SIBLING_HOPS,
    sibling_target,
    PROTOCOL_VERSION,
    Message,
    ProtocolError,
    Rattach,
    Rclose,
    Rcreate,
    Rerror,
    Rlink,
    Rmkdir,
    Ropen,
    Rreaddir,
    Rlistalong,
    Rreaddirstat,
    Rreadtree,
    Rreadlink,
    Rrename,
    Rsetattr,
    Rstat,
    Rstatfs,
    Rsymlink,
    Runlink,
    Rversion,
    Rwalk,
    Rwalkopen,
    Rfetch,
    Rlistxattrs,
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
    Treadtree,
    Treadlink,
    Trename,
    Tsetattr,
    Tstat,
    Tstatfs,
    Tsymlink,
    Tunlink,
    Tversion,
    Twalk,
    Twalkopen,
    Tfetch,
    Tlistalong,
    Tlistxattrs,
    Tgetxattr,
    Tlistxattr,
    Tremovexattr,
    Tsetxattr,
    decode,
    encode,
    recvmsg_polling,
)

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:  # (annotations only)
    from typing import TypeVar
    R = TypeVar("R", bound=Message)
    T = TypeVar("T")
_ANC_SPACE = socket.CMSG_SPACE(4 * 4)


def _oserror(code: int, what: str) -> OSError:
    return OSError(code, f"gofer {what}: {os.strerror(code)}")


class FdLost(OSError):
    """ENFILE: the reply's fd could not be received (GoferClient._lost_fd)."""


class TreeFetch:
    """A Treadtree reply as it comes (:meth:`GoferClient.readtree_start`): ``results``
    maps each directory's path below the requested one to its entries once its last batch
    came, as they came (:class:`PackedEntries`: the sentry hands most of them on to its C
    side undecoded); :meth:`take` decodes one.  ``done`` once the reply ended (or failed:
    what came stays)."""

    def __init__(self, client: GoferClient) -> None:
        self._client = client
        self.results: dict[tuple[bytes, ...], PackedEntries] = {}
        self._partial: dict[tuple[bytes, ...], list] = {}  # [count, [entries' bytes]]
        self._drop: tuple[bytes, ...] | None = None  # a listing the asker has (drop)
        self.done = False
        self.error: OSError | None = None  # the request's, or the channel's
        self.tops: set[bytes] = set()  # the named subdirectories whose listings came
        self.arrived: list[tuple[bytes, ...]] = []  # each listing's path (not drop's), as it came
        self.handed = 0  # how many of them the sentry has handed on (statcache)
        # Once its first message came, the gofer answers other requests between its
        # messages (their replies come among them: GoferClient._recv_data).
        self.started = False

    def take(self, path: tuple[bytes, ...]) -> list[tuple[bytes, Stat | int]] | None:
        """The listing of *path* (removed from :attr:`results`), reading the reply until
        it is there; None if the reply does not have it.

        :raises OSError: ``EPROTO`` if its entries are malformed (the channel is broken).
        """
        return self._take(path, unpack_entries)

    def take_listing(self, path: tuple[bytes, ...]) -> Listing | None:
        """:meth:`take`'s listing as a :class:`gofer.protocol.Listing` (each entry decoded
        at its first use)."""
        return self._take(path, Listing)

    def _take(self, path: tuple[bytes, ...], make: Callable[[int, bytes], T]) -> T | None:
        if path not in self.results and not self.done:
            with self._client._lock:
                while path not in self.results and not self.done:
                    self._read_one()
        got = self.results.pop(path, None)
        if got is None:
            return None
        try:
            return make(got.count, got.body)
        except ProtocolError:
            self._client._broken = True
            raise _oserror(errno.EPROTO, "sent a malformed reply") from None

    def drop(self, path: tuple[bytes, ...]) -> None:
        """Keep no listing of *path*, which the asker has already: it is dropped when it
        comes, and is not in :attr:`arrived` (called before any of the reply is read)."""
        self._drop = path

    def poll(self) -> None:
        """Read what of the reply has come, without waiting for more."""
        if not self.done:
            with self._client._lock:
                while not self.done and self._read_one(wait=False):
                    pass

    def wait(self) -> None:
        """Read the reply to its end."""
        if not self.done:
            with self._client._lock:
                self._read_to_end()

    def _read_to_end(self) -> None:
        while not self.done:
            self._read_one()

    def _read_one(self, wait: bool = True) -> bool:
        """One message of the reply (the caller holds the client's lock); False if
        *wait* is false and none has come."""
        got = self._client._recv_datagram(wait)
        if got is None:
            return False
        self._take_datagram(*got)
        return True

    def _take_datagram(self, data: bytes, fds: list[int]) -> None:
        """One message of the reply, read (the caller holds the client's lock)."""
        c = self._client
        self.started = True
        try:
            for fd in fds:  # a listing carries none
                os.close(fd)
            try:
                batch = unpack_readtree_batch(data)
            except ProtocolError:
                c._broken = True
                raise _oserror(errno.EPROTO, "sent a malformed reply") from None
            if batch is None:  # an error, or a reply of another type
                c._expect("Treadtree", Rreadtree, c._decode(data, []), [], False)
                raise _oserror(errno.EPROTO, "Treadtree got an unexpected reply")
        except OSError as e:
            self.error = e
            self._end()
            return
        path, count, wire, last, done = batch
        if done:
            self._end()
            return
        key = tuple(path)
        part = self._partial.get(key)
        if part is None:
            part = self._partial[key] = [0, []]
        part[0] += count
        part[1].append(wire)
        if last:
            del self._partial[key]
            if len(key) == 1:
                self.tops.add(key[0])
            if key == self._drop:
                return
            self.results[key] = PackedEntries(part[0], b"".join(part[1]), [])
            self.arrived.append(key)

    def _end(self) -> None:
        was_done, self.done = self.done, True
        self._partial.clear()
        if self._client._tree is self:
            self._client._tree = None
        hook = self._client.on_stream
        if not was_done and hook is not None:
            hook(False)


class GoferClient:
    """A connection to one gofer over a SOCK_SEQPACKET socket.

    :param sock: the sentry's end of the channel (from :func:`gofer.server.spawn`).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = _thread.allocate_lock()  # (threading.Lock; threading is ~0.7 ms)
        self._broken = False
        self._fds_lost = False  # the last reply came with fds this process could not take
        self._spin = Spin(CLIENT_SPIN)
        # A Treadtree whose reply is still coming (readtree_start): the gofer answers
        # other requests between its messages, which _recv_data hands to it as they come.
        self._tree: TreeFetch | None = None
        # The sentry's hooks (sentry.kernel.cpuhold: the task the gofer works for keeps
        # the sentry's CPU meanwhile): on_stream(True) when a Treadtree's reply starts
        # coming, on_stream(False) when it ended; on_request() before each request.
        self.on_stream: Callable[[bool], None] | None = None
        self.on_request: Callable[[], None] | None = None
        # The CPU this process is on (-1: unknown), said in each request's header so that
        # the gofer keeps off it (gofer.server.GoferServer.keep_off); None: not said.
        self.cpu: Callable[[], int] | None = None
        # Requests sent; with *timing* (the sentry's compat report), also the seconds
        # spent sending them and waiting for what came back (their round trips).
        self.requests = 0
        self.timing = False
        self.round_trips = 0.0

    @property
    def broken(self) -> bool:
        """Whether the channel is out of step (every request fails with EPROTO)."""
        return self._broken

    @broken.setter
    def broken(self, value: bool) -> None:
        # (the sentry's C side read what no reply of its own request is)
        self._broken = self._broken or value

    @property
    def streaming(self) -> bool:
        """Whether a Treadtree reply is still coming (readtree_start)."""
        return self._tree is not None

    def fileno(self) -> int:
        """The channel's fd (the sentry's C side sends its own Tfetch on it)."""
        return self._sock.fileno()

    # ---- transport ----------------------------------------------------------

    def _recv_data(self) -> tuple[bytes, list[int]]:
        """The next datagram of a reply, not decoded, and the fds that came with it.
        While a Treadtree's reply streams, its messages come among the replies to other
        requests (the gofer answers those in between): they are handed to it as they
        come (the stream itself reads with :meth:`_recv_datagram`)."""
        while True:
            got = self._recv_datagram(True)
            assert got is not None
            tree = self._tree
            if tree is None or message_id(got[0]) != MsgId.RREADTREE:
                return got
            tree._take_datagram(*got)

    def _recv_datagram(self, wait: bool) -> tuple[bytes, list[int]] | None:
        """The next datagram and its fds; None if *wait* is false and none has come."""
        if wait:
            t0 = time.perf_counter() if self.timing else 0.0
            data, anc, flags, _ = recvmsg_polling(self._sock, MAX_MESSAGE, _ANC_SPACE,
                                                  MSG_CMSG_CLOEXEC, self._spin)
            if self.timing:
                self.round_trips += time.perf_counter() - t0
        else:
            try:
                data, anc, flags, _ = self._sock.recvmsg(
                    MAX_MESSAGE, _ANC_SPACE, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)
            except BlockingIOError:
                return None
        fds: list[int] = []
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
                fds.extend(a)
        if not data and not fds:
            self._broken = True
            raise _oserror(errno.ECONNRESET, "closed the channel")
        if flags & MSG_TRUNCATED:
            for fd in fds:
                os.close(fd)
            if flags & MSG_TRUNC or fds:  # cut short, or more fds than any reply has
                self._broken = True
                raise _oserror(errno.EPROTO, "sent a malformed reply")
            # MSG_CTRUNC with no fd received: this process could not take the fd (its
            # RLIMIT_NOFILE); the reply itself is whole (_expect).
            self._fds_lost = True
            return data, []
        self._fds_lost = False
        return data, fds

    def _decode(self, data: bytes, fds: list[int]) -> Message:
        try:
            return decode(data)
        except ProtocolError:
            for fd in fds:
                os.close(fd)
            self._broken = True
            raise _oserror(errno.EPROTO, "sent a malformed reply") from None

    def _recv(self) -> tuple[Message, list[int]]:
        """The next message and the fds that came with it."""
        data, fds = self._recv_data()
        return self._decode(data, fds), fds

    def _expect(self, what: str, rtype: type[R], msg: Message, fds: list[int],
                want_fd: bool) -> tuple[R, int]:
        """Check a reply's type; returns it and its fd (-1 if none)."""
        fd = -1
        if want_fd and fds and isinstance(msg, rtype):
            fd = fds.pop(0)
        for extra in fds:
            os.close(extra)
        if want_fd and fd < 0 and self._fds_lost and isinstance(msg, rtype):
            raise self._lost_fd(what, msg)
        if isinstance(msg, Rerror):
            raise _oserror(msg.errno, what)
        if not isinstance(msg, rtype) or (want_fd and fd < 0):
            if fd >= 0:
                os.close(fd)
            self._broken = True
            raise _oserror(errno.EPROTO, f"{what} got an unexpected reply")
        return msg, fd

    def _lost_fd(self, what: str, msg: Message) -> OSError:
        """A reply whose fd this process could not receive (its fd table is full): the
        handle the gofer made with it is closed, and the request fails with ENFILE while
        the channel stays usable (it broke, and every later request failed with EPROTO).
        Called with the lock held."""
        handle = getattr(msg, "handle", 0)
        if handle:
            try:
                self._send(Tclose(handle))
                reply, fds = self._recv()
                self._expect("Tclose", Rclose, reply, fds, False)
            except OSError:
                pass  # (a broken channel says so at the next request)
        return FdLost(errno.ENFILE, f"gofer {what}: no fd left to receive the file's")

    def _send(self, req: Message) -> None:
        if self.on_request is not None:
            self.on_request()
        tree = self._tree
        if tree is not None and not tree.started:
            # (its first message tells it from an error reply to the Treadtree, which
            # would come before the reply to this request)
            tree._read_one()
        if self._broken:
            raise _oserror(errno.EPROTO, "channel is unusable after a protocol error")
        try:
            data = encode(req, -1 if self.cpu is None else self.cpu())
        except ProtocolError:
            raise _oserror(errno.EINVAL, f"{type(req).__name__} argument out of range") from None
        self.requests += 1
        if self.timing:
            t0 = time.perf_counter()
            self._sock.sendmsg([data])
            self.round_trips += time.perf_counter() - t0
        else:
            self._sock.sendmsg([data])

    def _call(self, req: Message, rtype: type[R]) -> R:
        with self._lock:
            self._send(req)
            msg, fds = self._recv()
            return self._expect(type(req).__name__, rtype, msg, fds, False)[0]

    def _call_fd(self, req: Message, rtype: type[R]) -> tuple[R, int]:
        with self._lock:
            self._send(req)
            msg, fds = self._recv()
            return self._expect(type(req).__name__, rtype, msg, fds, True)

    # ---- operations ---------------------------------------------------------

    def version(self) -> int:
        """Negotiate the protocol; must be the first call.  Returns the server's version.

        :raises OSError: EPROTONOSUPPORT if the server speaks another version.
        """
        return self._call(Tversion(PROTOCOL_VERSION), Rversion).version

    def attach(self, root_index: int) -> tuple[int, Stat]:
        """A handle on root ``root_index``.

        :raises OSError: ENOENT for a root index the gofer does not serve.
        """
        r = self._call(Tattach(root_index), Rattach)
        return r.handle, r.stat

    def walk(self, handle: int, names: list[bytes]) -> list[tuple[int, Stat]]:
        """Look up ``names`` one component at a time beneath ``handle``.

        The result is the longest prefix that could be walked: it stops before a
        missing component (after the first), after a symlink (returned, not followed) and
        after a non-directory.  Every returned handle must be closed.

        :raises OSError: if the first name is missing (ENOENT), or any name cannot be
            walked for another reason (its errno: the handles walked are closed);
            EINVAL if any name is empty, '.', '..' or contains '/'.
        """
        remaining = [os.fsencode(n) for n in names]
        out: list[tuple[int, Stat]] = []
        cur = handle
        while True:
            chunk = remaining[:MAX_WALK]
            try:
                entries = self._call(Twalk(cur, chunk), Rwalk).entries
            except OSError as e:
                # (a later chunk's first name: missing ends the walk, as in one chunk)
                if out and e.errno == errno.ENOENT:
                    return out
                if out and not self._broken:
                    self.close_many([h for h, _ in out])
                raise
            out.extend(entries)
            if len(entries) < len(chunk) or len(remaining) <= MAX_WALK:
                return out
            if not stat.S_ISDIR(entries[-1][1].mode):
                return out
            remaining = remaining[MAX_WALK:]
            cur = entries[-1][0]

    def stat(self, handle: int) -> Stat:
        """Attributes of ``handle``'s inode (a symlink's own)."""
        return self._call(Tstat(handle), Rstat).stat

    def open(self, handle: int, flags: int) -> int:
        """A host fd for I/O on a regular file or directory (O_DIRECTORY for getdents).

        :raises OSError: ELOOP for a symlink, EACCES for devices, FIFOs and
            sockets, EROFS for write access or O_TRUNC on a read-only root.
        """
        return self._call_fd(Topen(handle, flags), Ropen)[1]

    def readlink(self, handle: int) -> bytes:
        """The target of the symlink ``handle``; EINVAL if it is not a symlink."""
        return self._call(Treadlink(handle), Rreadlink).target

    def readdir(self, handle: int) -> list[tuple[bytes, int, int]]:
        """(name, inode, d_type) of every entry but '.' and '..'."""
        with self._lock:
            self._send(Treaddir(handle))
            return self._batches("Treaddir", Rreaddir)

    def readdirstat(self, handle: int, names: list[bytes] | None = None,
                    ) -> list[tuple[bytes, Stat | int]]:
        """(name, lstat attributes) of every entry but '.' and '..' of the directory
        ``names`` (at most MAX_WALK; default none) walk to beneath ``handle``, in one
        request.  Where only a walk may describe an entry (a mount point) its inode
        number stands instead of attributes; entries removed while listing are left out."""
        return self._listed(handle, names, unpack_entries)

    def listing(self, handle: int, names: list[bytes] | None = None) -> Listing:
        """:meth:`readdirstat`'s entries as a :class:`gofer.protocol.Listing`: checked,
        indexed by name, each decoded at its first use."""
        return self._listed(handle, names, Listing)

    def _listed(self, handle: int, names: list[bytes] | None,
                make: Callable[[int, bytes], T]) -> T:
        """A Treaddirstat's entries, its Rreaddirstat batches read raw and joined, given
        to *make* (count, entries)."""
        with self._lock:
            self._send(Treaddirstat(handle, [os.fsencode(n) for n in names or []]))
            return self._read_listing(make)

    def _read_listing(self, make: Callable[[int, bytes], T]) -> T:
        """The reply to a Treaddirstat just sent (the caller holds the lock): its batches
        read raw and joined, given to *make* (count, entries)."""
        count, wire = 0, []
        while True:
            data, fds = self._recv_data()
            try:
                batch = unpack_readdirstat_batch(data)
            except ProtocolError:
                batch = None
            if batch is None:  # an error, another reply, or a malformed one
                self._expect("Treaddirstat", Rreaddirstat, self._decode(data, fds), fds,
                             False)
                self._broken = True
                raise _oserror(errno.EPROTO, "Treaddirstat got an unexpected reply")
            for fd in fds:  # a listing carries none
                os.close(fd)
            count += batch[0]
            wire.append(batch[1])
            if batch[2]:
                break
        try:
            return make(count, b"".join(wire))
        except ProtocolError:
            self._broken = True
            raise _oserror(errno.EPROTO, "sent a malformed reply") from None

    def listing_along(self, handle: int, names: list[bytes], along: list[bytes],
                      ) -> list[Listing]:
        """:meth:`listing` of the directory *names* walk to beneath *handle*, then of each
        directory the names *along* (the first MAX_ALONG) go down to from it while the
        gofer lists them (small directories, no symlink, no mount crossed:
        ``Tlistalong``), in one round trip: the listings in order, at least the first."""
        along = [os.fsencode(n) for n in along[:MAX_ALONG]]
        with self._lock:
            self._send(Tlistalong(handle, [os.fsencode(n) for n in names], along))
            msg, fds = self._recv()
            count = self._expect("Tlistalong", Rlistalong, msg, fds, False)[0].count
            if count > 1 + len(along):
                self._broken = True
                raise _oserror(errno.EPROTO, "Tlistalong got more listings than it asked")
            try:
                return [self._read_listing(Listing) for _ in range(count)]
            except OSError:
                # (an error among the listings, which the gofer never sends: the rest of
                # them would read as other requests' replies)
                self._broken = True
                raise

    def listing_fetch(self, handle: int, names: list[bytes], name: bytes,
                      ) -> tuple[Listing, tuple[Stat, int] | None]:
        """:meth:`listing` of the directory *names* walk to beneath *handle*, and
        :meth:`fetch` of its entry *name*, in one round trip (both requests sent before
        either reply is read): the listing, and the fetched file's (Stat, fd) or None if
        the fetch failed (not a regular file everyone may read, not there...).  An open
        of a file in a directory not listed yet: the listing and then the open were two
        round trips."""
        path = b"/".join([*names, name])
        if len(path) >= PATH_MAX:
            return self.listing(handle, names), None
        with self._lock:
            self._send(Treaddirstat(handle, list(names)))
            try:
                self._send(Tfetch(handle, 0, path))
            except OSError:
                if self._broken:
                    raise
                return self._read_listing(Listing), None  # (not sent: no reply comes)
            try:
                listing = self._read_listing(Listing)
            except OSError:
                if not self._broken:  # (read in its turn: the channel stays in step)
                    got = self._fetch_reply()
                    if got is not None:
                        os.close(got[1])
                raise
            return listing, self._fetch_reply()

    def _fetch_reply(self) -> tuple[Stat, int] | None:
        """A Tfetch's reply, sent after another request's (the caller holds the lock):
        (Stat, fd), or None if it failed (EPROTO raised if the channel broke)."""
        msg, fds = self._recv()
        try:
            r, fd = self._expect("Tfetch", Rfetch, msg, fds, True)
        except OSError:
            if self._broken:
                raise
            return None
        return r.stat, fd

    def _batches(self, what: str, rtype: type[R]) -> list:
        """The entries of a reply that comes in batches until one marked ``last``."""
        out: list = []
        while True:
            msg, fds = self._recv()
            batch = self._expect(what, rtype, msg, fds, False)[0]
            out.extend(batch.entries)  # type: ignore[attr-defined]
            if batch.last:  # type: ignore[attr-defined]
                return out

    def readtree(self, handle: int, names: list[bytes], subdirs: list[bytes], budget: int,
                 ) -> dict[tuple[bytes, ...], list[tuple[bytes, Stat | int]]]:
        """The listings with attributes (as :meth:`readdirstat`) of the subdirectories
        *subdirs* of the directory *names* walk to beneath *handle* and of the directories
        below them, depth first, until about *budget* entries came: a dict from each
        listed directory's path below that directory (a tuple of names) to its entries,
        in one round trip.  Directories that could not be listed are absent."""
        fetch = self.readtree_start(handle, names, subdirs, budget)
        with self._lock:
            fetch._read_to_end()
        if fetch.error is not None:
            raise fetch.error
        out = {}
        for path in list(fetch.results):
            got = fetch.take(path)
            assert got is not None
            out[path] = got
        return out

    def readtree_start(self, handle: int, names: list[bytes], subdirs: list[bytes],
                       budget: int) -> TreeFetch:
        """Send :meth:`readtree`'s request and return at once: the listings are read as
        they are asked for (:meth:`TreeFetch.take`), in the order the gofer sends them,
        while it goes on with the next.  Another request does not wait for the rest: the
        gofer answers it between two of the reply's messages, and the messages that came
        before its answer are kept for the fetch (:meth:`_recv_data`)."""
        if len(subdirs) > MAX_TREE_SUBDIRS:
            raise _oserror(errno.EINVAL, "too many subdirectories in one readtree")
        with self._lock:
            if self._tree is not None:  # (one stream at a time: the gofer says EBUSY)
                self._tree._read_to_end()
            self._send(Treadtree(handle, [os.fsencode(n) for n in names], subdirs, budget))
            fetch = self._tree = TreeFetch(self)
        if self.on_stream is not None:
            self.on_stream(True)
        return fetch

    def walkopen(self, handle: int, names: list[bytes], flags: int) -> tuple[int, Stat, int]:
        """Walk ``names`` (1 to MAX_WALK) beneath ``handle`` and open the last one for I/O
        (as :meth:`open`) in one round trip; returns its (handle, Stat, fd)."""
        r, fd = self._call_fd(Twalkopen(handle, [os.fsencode(n) for n in names], flags),
                              Rwalkopen)
        return r.handle, r.stat, fd

    def fetch(self, handle: int, path: bytes, flags: int = 0) -> tuple[Stat, int]:
        """The regular file *path* (names joined by ``/``) beneath ``handle`` opened
        read-only, if everyone may read it, in one round trip without a handle
        (Tfetch; what the sentry's C side sends for a file its stat cache knows):
        its (Stat, fd).  *flags*: ``O_NOFOLLOW`` or 0."""
        r, fd = self._call_fd(Tfetch(handle, flags, os.fsencode(path)), Rfetch)
        return r.stat, fd

    def walk_or_open(self, handle: int, name: bytes, flags: int, via: Sequence[bytes] = (),
                     ) -> tuple[int, Stat, int]:
        """Walk ``name`` beneath ``handle`` (below the directories *via* names from it) and
        open it for I/O if it is a regular file everyone may read, in one round trip
        (Twalkopen with :data:`WALKOPEN_OR_WALK`); returns its (handle, Stat, fd), the fd
        -1 for anything else (walked only, as :meth:`walk`).  Only *name* gets a handle."""
        with self._lock:
            self._send(Twalkopen(handle, [*via, name], flags | WALKOPEN_OR_WALK))
            return self._walk_or_open_reply()

    def walk_or_open_siblings(self, handle: int, name: bytes, flags: int,
                              via: Sequence[bytes] = (),
                              ) -> tuple[int, Stat, int, list[tuple[bytes, int, Stat, int]]]:
        """:meth:`walk_or_open`, and if *name* is a symlink to a sibling (its target one
        name), what that names walked to or opened the same way in the same round trip,
        on through links to siblings up to SIBLING_HOPS (WALKOPEN_SIBLINGS): *name*'s
        (handle, Stat, fd) and, in order, each link's target's (name, handle, Stat, fd);
        a target that could not be looked up ends them."""
        with self._lock:
            self._send(Twalkopen(handle, [*via, name], flags | WALKOPEN_OR_WALK
                                 | WALKOPEN_SIBLINGS))
            return self._siblings_reply()

    def _siblings_reply(self) -> tuple[int, Stat, int, list[tuple[bytes, int, Stat, int]]]:
        """The reply to a Twalkopen with WALKOPEN_SIBLINGS, read (the caller holds the
        lock): :meth:`walk_or_open_siblings`'s answer."""
        h, st, fd = self._walk_or_open_reply()
        hops: list[tuple[bytes, int, Stat, int]] = []
        # (only a walked symlink's Stat has a target; an opened file, which comes
        # with the one fd, ends the chain)
        target = st.target
        while sibling_target(target) and len(hops) < SIBLING_HOPS:
            try:
                hh, hst, hfd = self._walk_or_open_reply()
            except OSError:
                if self._broken:
                    raise
                break  # (the gofer's error for the target: the last message)
            hops.append((target, hh, hst, hfd))
            target = hst.target
        return h, st, fd, hops

    def walk_and_open_siblings(
            self, handle: int, via: Sequence[bytes], name: bytes, flags: int,
    ) -> tuple[list[tuple[int, Stat]],
               tuple[int, Stat, int, list[tuple[bytes, int, Stat, int]]] | OSError]:
        """:meth:`walk` of the directories *via* names beneath *handle* (a handle for each)
        and :meth:`walk_or_open_siblings` of *name* below them, both sent before either
        reply is read: one round trip where the walk for the directory's handle and then
        the open were two (an open's first name looked up in a directory that is not
        listed, reached through others without a handle: /usr/bin's programs, the C
        library's locale and gconv files).  The walk's entries, and the open's answer or
        its error (the caller adopts the entries either way; a Twalkopen that cannot
        be encoded is not sent, and its error is that local EINVAL).  The walk's error
        is raised, once the open's reply was read and what it brought given back."""
        via = [os.fsencode(n) for n in via]
        with self._lock:
            self._send(Twalk(handle, via))
            try:
                self._send(Twalkopen(handle, [*via, name], flags | WALKOPEN_OR_WALK
                                     | WALKOPEN_SIBLINGS))
            except OSError as e:
                if self._broken:
                    raise
                msg, fds = self._recv()  # (not sent: the walk's reply alone comes)
                entries = self._expect("Twalk", Rwalk, msg, fds, False)[0].entries
                return entries, e
            try:
                msg, fds = self._recv()
                entries = self._expect("Twalk", Rwalk, msg, fds, False)[0].entries
            except OSError:
                if self._broken:
                    raise
                try:  # (read in its turn: the channel stays in step)
                    h, _, fd, hops = self._siblings_reply()
                    self._give_back([h, *(hh for _, hh, _, _ in hops)],
                                    [fd, *(hfd for _, _, _, hfd in hops)])
                except OSError:
                    if self._broken:
                        raise
                raise  # (the walk's error)
            try:
                return entries, self._siblings_reply()
            except OSError as e:
                if self._broken:
                    raise
                return entries, e

    def _give_back(self, handles: list[int], fds: list[int]) -> None:
        """Close *fds* (-1: none) and the gofer's *handles* (the caller holds the lock)."""
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        self._close_many_locked(handles)

    def _walk_or_open_reply(self) -> tuple[int, Stat, int]:
        """A WALKOPEN_OR_WALK reply's (handle, Stat, fd), read (the caller holds the lock)."""
        msg, fds = self._recv()
        if not isinstance(msg, Rwalk):
            r, fd = self._expect("Twalkopen", Rwalkopen, msg, fds, True)
            if not stat.S_ISREG(r.stat.mode):  # (only a regular file is opened)
                os.close(fd)
                self._broken = True
                raise _oserror(errno.EPROTO, "Twalkopen opened what is no regular file")
            return r.handle, r.stat, fd
        w = self._expect("Twalkopen", Rwalk, msg, fds, False)[0]
        if len(w.entries) != 1:
            self._broken = True
            raise _oserror(errno.EPROTO, "Twalkopen got an unexpected reply")
        (h, st), = w.entries
        return h, st, -1

    def create(self, dir_handle: int, name: bytes, flags: int, mode: int, uid: int,
               gid: int) -> tuple[int, Stat, int]:
        """Create a regular file (O_CREAT|O_EXCL) owned by uid:gid; returns (handle, Stat, fd)."""
        try:
            r, fd = self._call_fd(Tcreate(dir_handle, os.fsencode(name), flags, mode, uid,
                                          gid), Rcreate)
        except FdLost:
            # Created, but no fd to show for it: gone again, as if never made (Linux
            # takes the fd before it creates anything).
            try:
                self.unlink(dir_handle, name)
            except OSError:
                pass
            raise
        return r.handle, r.stat, fd

    def mkdir(self, dir_handle: int, name: bytes, mode: int, uid: int,
              gid: int) -> tuple[int, Stat]:
        r = self._call(Tmkdir(dir_handle, os.fsencode(name), mode, uid, gid), Rmkdir)
        return r.handle, r.stat

    def symlink(self, dir_handle: int, name: bytes, target: bytes, uid: int,
                gid: int) -> tuple[int, Stat]:
        r = self._call(
            Tsymlink(dir_handle, os.fsencode(name), os.fsencode(target), uid, gid), Rsymlink
        )
        return r.handle, r.stat

    def link(self, dir_handle: int, name: bytes, target_handle: int) -> tuple[int, Stat]:
        """Hard-link ``target_handle``'s inode as ``name`` (a symlink is linked, not followed)."""
        r = self._call(Tlink(dir_handle, os.fsencode(name), target_handle), Rlink)
        return r.handle, r.stat

    def unlink(self, dir_handle: int, name: bytes, flags: int = 0) -> None:
        """Remove ``name``; ``flags`` is 0 or AT_REMOVEDIR."""
        self._call(Tunlink(dir_handle, os.fsencode(name), flags), Runlink)

    def rename(self, old_dir: int, old_name: bytes, new_dir: int, new_name: bytes,
               flags: int = 0) -> None:
        """renameat2(2); ``flags`` may be RENAME_NOREPLACE or RENAME_EXCHANGE."""
        self._call(
            Trename(old_dir, os.fsencode(old_name), new_dir, os.fsencode(new_name), flags),
            Rrename,
        )

    def setattr(self, handle: int, mode: int | None = None, uid: int | None = None,
                gid: int | None = None, size: int | None = None,
                atime_ns: int | None = None, mtime_ns: int | None = None) -> None:
        """Change the given attributes; a time of -1 means now.

        :raises OSError: EOPNOTSUPP for a mode on a symlink; EROFS on a read-only root.
        """
        self._call(Tsetattr(handle, mode, uid, gid, size, atime_ns, mtime_ns), Rsetattr)

    def listxattr(self, handle: int, names: list[bytes] | None = None) -> list[bytes]:
        """The ``user.*`` extended attributes' names of the regular file or directory
        ``names`` (default none) walk to beneath ``handle``; the walk registers no handles.
        The gofer lists no other namespace."""
        return self._call(Tlistxattr(handle, [os.fsencode(n) for n in names or []]),
                          Rlistxattr).names

    def listxattrs(self, handle: int, names: list[bytes]) -> list[list[bytes]]:
        """:meth:`listxattr` of each file ``names`` walk through beneath ``handle``
        (``names[:1]`` to ``names``), in one round trip."""
        lists = self._call(Tlistxattrs(handle, [os.fsencode(n) for n in names]),
                           Rlistxattrs).lists
        if len(lists) != len(names):
            raise _oserror(errno.EPROTO, "Tlistxattrs got a list for another number of names")
        return lists

    def getxattr(self, handle: int, name: bytes) -> bytes:
        """The value of the ``user.*`` attribute *name* of ``handle``'s regular file or
        directory.  :raises OSError: ENODATA if it has none (or for another namespace)."""
        return self._call(Tgetxattr(handle, name), Rgetxattr).value

    def setxattr(self, handle: int, name: bytes, value: bytes, flags: int = 0) -> None:
        """Set the ``user.*`` attribute *name*; ``flags`` XATTR_CREATE or XATTR_REPLACE.

        :raises OSError: EOPNOTSUPP for another namespace, EROFS on a read-only root,
            the host's EEXIST, ENODATA, ENOSPC …
        """
        self._call(Tsetxattr(handle, name, value, flags), Rsetxattr)

    def removexattr(self, handle: int, name: bytes) -> None:
        """Remove the ``user.*`` attribute *name*.  :raises OSError: as :meth:`setxattr`."""
        self._call(Tremovexattr(handle, name), Rremovexattr)

    def statfs(self, handle: int) -> dict[str, int]:
        """statfs(2) of the file system holding ``handle``."""
        return self._call(Tstatfs(handle), Rstatfs).as_dict()

    def close(self, handle: int) -> None:
        """Release ``handle``."""
        self._call(Tclose(handle), Rclose)

    def close_many(self, handles: list[int]) -> None:
        """Release ``handles``, MAX_CLOSE per round trip.

        :raises OSError: EBADF if one was not open (the others are closed all the same).
        """
        with self._lock:
            self._close_many_locked(handles)

    def _close_many_locked(self, handles: list[int]) -> None:
        """:meth:`close_many`, the caller holding the lock."""
        for i in range(0, len(handles), MAX_CLOSE):
            self._send(Tclosemany(handles[i:i + MAX_CLOSE]))
            msg, fds = self._recv()
            self._expect("Tclosemany", Rclose, msg, fds, False)
