"""Key management: add_key(2), request_key(2), keyctl(2) (:mod:`sentry.kernel.keys`).

The keys are the sentry's: nothing here reaches the host's keyrings.  The checks and
their order follow ``security/keys/keyctl.c``; ``request_key`` never makes an upcall
(Linux without ``/sbin/request-key``: ENOKEY when no keyring of the caller has the key).
"""

from __future__ import annotations

import errno
import struct
import time

from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel import keys as K
from sentry.kernel.keys import Key

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Optional
    from sentry.kernel.task import Task
    from sentry.syscalls.linux.args import SyscallArgs

# keyctl commands.
(GET_KEYRING_ID, JOIN_SESSION_KEYRING, UPDATE, REVOKE, CHOWN, SETPERM, DESCRIBE, CLEAR,
 LINK, UNLINK, SEARCH, READ, INSTANTIATE, NEGATE, SET_REQKEY_KEYRING, SET_TIMEOUT,
 ASSUME_AUTHORITY, GET_SECURITY, SESSION_TO_PARENT, REJECT, INSTANTIATE_IOV, INVALIDATE,
 GET_PERSISTENT) = range(23)
MOVE, CAPABILITIES = 30, 31
KEYCTL_MOVE_EXCL = 1

# KEYCTL_CAPABILITIES: CAPS0_CAPABILITIES | CAPS0_INVALIDATE | CAPS0_MOVE;
# CAPS1_NS_KEYRING_NAME | CAPS1_NS_KEY_TAG.
_CAPS = bytes([0x01 | 0x20 | 0x80, 0x01 | 0x02])

_MAX_ADD_PAYLOAD = 1024 * 1024 - 1
_PAGE = 4096


def _type(t: "Task", addr: int) -> str:
    """``key_get_type_from_user``.

    :raises LinuxError: EFAULT, EINVAL (empty or 32 bytes or more), EPERM (a ``.`` type).
    """
    raw = t.mem.read_partial(addr, 32) if addr else b""
    if not raw:
        raise err(errno.EFAULT)
    i = raw.find(b"\0")
    if i < 0:
        if len(raw) < 32:
            raise err(errno.EFAULT)
        raise err(errno.EINVAL)
    if i == 0:
        raise err(errno.EINVAL)
    if raw[0:1] == b".":
        raise err(errno.EPERM)
    return raw[:i].decode("latin-1")


def _strndup(t: "Task", addr: int, n: int) -> bytes:
    """``strndup_user(addr, n)``: EFAULT, or EINVAL for a string of *n* bytes or more."""
    if not addr:
        raise err(errno.EFAULT)
    out = bytearray()
    while len(out) < n:
        step = min(_PAGE - (addr & (_PAGE - 1)), n - len(out))
        chunk = t.mem.read_partial(addr, step)
        if not chunk:
            raise err(errno.EFAULT)
        i = chunk.find(b"\0")
        if i >= 0:
            return bytes(out + chunk[:i])
        out += chunk
        addr += len(chunk)
        if len(chunk) < step:
            raise err(errno.EFAULT)
    raise err(errno.EINVAL)


def _known(ktype: str, missing: int) -> None:
    if ktype not in K.TYPES:
        raise err(missing)


def _vet(ktype: str, desc: bytes, payload: Optional[bytes]) -> None:
    """The types' ``preparse`` and ``vet_description``."""
    if ktype in ("user", "logon"):
        if not payload or len(payload) > K.MAX_USER_PAYLOAD:
            raise err(errno.EINVAL)
        if ktype == "logon":
            i = desc.find(b":")
            if i <= 0:
                raise err(errno.EINVAL)
    elif ktype == "keyring" and payload:
        raise err(errno.EINVAL)


def _default_perm(ktype: str) -> int:
    perm = K.KEY_POS_VIEW | K.KEY_POS_SEARCH | K.KEY_POS_LINK | K.KEY_POS_SETATTR
    perm |= K.KEY_USR_VIEW
    if ktype != "logon":
        perm |= K.KEY_POS_READ  # the type can be read
    perm |= K.KEY_POS_WRITE     # keyrings, and types that can be updated
    return perm


def add_key(t: "Task", a: "SyscallArgs") -> int:
    """add_key(2)."""
    plen = a[3]
    if plen > _MAX_ADD_PAYLOAD:
        raise err(errno.EINVAL)
    ktype = _type(t, a[0])
    desc: Optional[bytes] = None
    if a[1]:
        desc = _strndup(t, a[1], K.MAX_DESC) or None
        if desc is not None and desc.startswith(b".") and ktype.startswith("keyring"):
            raise err(errno.EPERM)
    payload = t.mem.read(a[2], plen) if plen else None
    ring, ring_possessed = K.lookup(t, a.int(4), K.LOOKUP_CREATE, K.NEED_WRITE)
    _known(ktype, errno.ENODEV)
    if not ring.is_keyring:
        raise err(errno.ENOTDIR)
    _vet(ktype, desc or b"", payload)
    if desc is None:
        raise err(errno.EINVAL)
    s = K.service(t.kernel)
    if ktype != "keyring":
        old = next((k for k in ring.links.values() if k.type == ktype
                    and k.description == desc and not k.revoked and not k.dead), None)
        if old is not None:
            # __key_update: the key found is updated in place.
            if not K.permitted(t, old, ring_possessed, K.NEED_WRITE):
                raise err(errno.EACCES)
            _update(s, old, payload or b"")
            return old.serial
    c = t.creds
    key = s.alloc(ktype, desc, c.fsuid, c.fsgid, _default_perm(ktype))
    try:
        if payload:
            s.reserve(key, key.quotalen + len(payload))
            key.payload = payload
        s.link(ring, key)
    except Exception:
        s.destroy(key)
        raise
    return key.serial


def _update(s: K.KeyService, key: Key, payload: bytes) -> None:
    """``user_update``: the new payload, and no expiry any more."""
    s.reserve(key, len(key.description) + 1 + len(payload))
    key.payload = payload
    key.expiry = 0
    key.negative = 0


def request_key(t: "Task", a: "SyscallArgs") -> int:
    """request_key(2)."""
    ktype = _type(t, a[0])
    desc = _strndup(t, a[1], K.MAX_DESC)
    callout = _strndup(t, a[2], _PAGE) if a[2] else None
    dest: Optional[Key] = None
    if a.int(3):
        dest, _ = K.lookup(t, a.int(3), K.LOOKUP_CREATE, K.NEED_WRITE)
    _known(ktype, errno.ENOKEY)
    if ktype == "keyring" and callout is not None:
        # A keyring cannot be constructed (it has no request_key support).
        raise err(errno.EPERM)
    try:
        key = K.search_process_keyrings(t, ktype, desc)
    except LinuxError as e:
        if e.errno != errno.EAGAIN:
            raise
        if callout is None:
            raise err(errno.ENOKEY) from None
        _construct_failed(t, ktype, desc, dest)
        raise err(errno.ENOENT) from None
    if dest is not None:
        K.service(t.kernel).link(dest, key)
    return key.serial


def _construct_failed(t: "Task", ktype: str, desc: bytes, dest: Optional[Key]) -> None:
    """What Linux leaves when it cannot run ``/sbin/request-key`` (``ENOENT``): a negative
    key, linked into the destination keyring, that answers ``ENOKEY`` for 60 seconds."""
    s = K.service(t.kernel)
    if dest is None:
        dest = _default_dest(t)
    c = t.creds
    key = s.alloc(ktype, desc, c.fsuid, c.fsgid, _default_perm(ktype))
    key.negative = errno.ENOKEY
    key.expiry = int(time.time()) + K.NEGATIVE_TIMEOUT
    try:
        s.link(dest, key)
    except LinuxError:
        s.destroy(key)
        raise


def _default_dest(t: "Task") -> Key:
    """``construct_get_dest_keyring`` for the caller's request_key default."""
    kr = K.rings(t)
    d = kr.reqkey_default
    s = K.service(t.kernel)
    if d in (K.REQKEY_DEFL_DEFAULT, K.REQKEY_DEFL_REQUESTOR, K.REQKEY_DEFL_THREAD) \
            and kr.thread is not None:
        return kr.thread
    if d in (K.REQKEY_DEFL_DEFAULT, K.REQKEY_DEFL_REQUESTOR, K.REQKEY_DEFL_THREAD,
             K.REQKEY_DEFL_PROCESS) and kr.process is not None:
        return kr.process
    if d in (K.REQKEY_DEFL_DEFAULT, K.REQKEY_DEFL_REQUESTOR, K.REQKEY_DEFL_THREAD,
             K.REQKEY_DEFL_PROCESS, K.REQKEY_DEFL_SESSION) and kr.session is not None:
        return kr.session
    u = s.user_keyrings(t.creds.uid)
    if d == K.REQKEY_DEFL_USER:
        assert u.user_keyring is not None
        return u.user_keyring
    assert u.session_keyring is not None
    return u.session_keyring


def keyctl(t: "Task", a: "SyscallArgs") -> int:
    """keyctl(2)."""
    cmd = a.int(0)
    handler = _COMMANDS.get(cmd)
    if handler is None:
        raise err(errno.EOPNOTSUPP)
    return handler(t, a)


def _get_keyring_id(t: "Task", a: "SyscallArgs") -> int:
    flags = K.LOOKUP_CREATE if a.int(2) else 0
    key, _ = K.lookup(t, a.int(1), flags, K.DEFER_PERM)
    return key.serial


def _join(t: "Task", a: "SyscallArgs") -> int:
    name = _strndup(t, a[1], K.MAX_DESC) if a[1] else None
    return K.join_session(t, name).serial


def _kupdate(t: "Task", a: "SyscallArgs") -> int:
    plen = a[3]
    if plen > _PAGE:
        raise err(errno.EINVAL)
    payload = t.mem.read(a[2], plen) if plen else b""
    key, _ = K.lookup(t, a.int(1), 0, K.NEED_WRITE)
    if key.is_keyring:
        raise err(errno.EOPNOTSUPP)
    _vet(key.type, key.description, payload)
    _update(K.service(t.kernel), key, payload)
    return 0


def _revoke(t: "Task", a: "SyscallArgs") -> int:
    try:
        key, _ = K.lookup(t, a.int(1), 0, K.NEED_WRITE)
    except LinuxError as e:
        if e.errno != errno.EACCES:
            raise
        key, _ = K.lookup(t, a.int(1), 0, K.NEED_SETATTR)
    key.revoked = True
    if key.is_keyring:
        K.service(t.kernel).clear(key)
    return 0


def _chown(t: "Task", a: "SyscallArgs") -> int:
    uid, gid = a.uint(2), a.uint(3)
    if uid == 0xFFFFFFFF and gid == 0xFFFFFFFF:
        return 0
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_CREATE | K.LOOKUP_PARTIAL, K.NEED_SETATTR)
    c = t.creds
    if not K.capable_admin(t):
        if uid != 0xFFFFFFFF and key.uid != uid:
            raise err(errno.EACCES)
        if gid != 0xFFFFFFFF and gid != key.gid and gid != c.fsgid and gid not in c.groups:
            raise err(errno.EACCES)
    s = K.service(t.kernel)
    if uid != 0xFFFFFFFF and uid != key.uid:
        new = s.user(uid)
        maxkeys, maxbytes = s._limits(uid)
        if new.nkeys + 1 > maxkeys or new.nbytes + key.quotalen > maxbytes:
            raise err(errno.EDQUOT)
        key.owner.nkeys -= 1
        key.owner.nbytes -= key.quotalen
        new.nkeys += 1
        new.nbytes += key.quotalen
        key.owner = new
        key.uid = uid
    if gid != 0xFFFFFFFF:
        key.gid = gid
    return 0


def _setperm(t: "Task", a: "SyscallArgs") -> int:
    perm = a.uint(2)
    if perm & ~K.PERM_MASK:
        raise err(errno.EINVAL)
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_CREATE | K.LOOKUP_PARTIAL, K.NEED_SETATTR)
    if not (K.capable_admin(t) or key.uid == t.creds.fsuid):
        raise err(errno.EACCES)
    key.perm = perm
    return 0


def _describe(t: "Task", a: "SyscallArgs") -> int:
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_PARTIAL, K.NEED_VIEW)
    gid = key.gid if key.gid >= 0 else 65534  # from_kgid_munged: the overflow gid
    info = b"%s;%d;%d;%08x;%s\0" % (key.type.encode(), key.uid, gid, key.perm,
                                    key.description)
    if a[2] and a[3] >= len(info):
        t.mem.write(a[2], info)
    return len(info)


def _clear(t: "Task", a: "SyscallArgs") -> int:
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_CREATE, K.NEED_WRITE)
    K.service(t.kernel).clear(key)
    return 0


def _link(t: "Task", a: "SyscallArgs") -> int:
    ring, _ = K.lookup(t, a.int(2), K.LOOKUP_CREATE, K.NEED_WRITE)
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_CREATE, K.NEED_LINK)
    K.service(t.kernel).link(ring, key)
    return 0


def _unlink(t: "Task", a: "SyscallArgs") -> int:
    ring, _ = K.lookup(t, a.int(2), 0, K.NEED_WRITE)
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_PARTIAL, K.NEED_UNLINK)
    K.service(t.kernel).unlink(ring, key)
    return 0


def _move(t: "Task", a: "SyscallArgs") -> int:
    flags = a.uint(4)
    if flags & ~KEYCTL_MOVE_EXCL:
        raise err(errno.EINVAL)
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_CREATE, K.NEED_LINK)
    src, _ = K.lookup(t, a.int(2), 0, K.NEED_WRITE)
    dst, _ = K.lookup(t, a.int(3), K.LOOKUP_CREATE, K.NEED_WRITE)
    if not src.is_keyring or not dst.is_keyring:
        raise err(errno.ENOTDIR)
    if key.serial not in src.links:
        raise err(errno.ENOENT)
    if src is dst:
        return 0
    if flags & KEYCTL_MOVE_EXCL and any(
            k.type == key.type and k.description == key.description
            for k in dst.links.values()):
        raise err(errno.EEXIST)
    s = K.service(t.kernel)
    s.link(dst, key)
    s.unlink(src, key)
    return 0


def _search(t: "Task", a: "SyscallArgs") -> int:
    ktype = _type(t, a[2])
    desc = _strndup(t, a[3], K.MAX_DESC)
    ring, ring_possessed = K.lookup(t, a.int(1), 0, K.NEED_SEARCH)
    dest: Optional[Key] = None
    if a.int(4):
        dest, _ = K.lookup(t, a.int(4), K.LOOKUP_CREATE, K.NEED_WRITE)
    _known(ktype, errno.ENOKEY)
    try:
        key = K.search(t, ring, ring_possessed, ktype, desc)
    except LinuxError as e:
        if e.errno == errno.EAGAIN:
            raise err(errno.ENOKEY) from None
        raise
    if dest is not None:
        if not K.permitted(t, key, ring_possessed, K.NEED_LINK):
            raise err(errno.EACCES)
        K.service(t.kernel).link(dest, key)
    return key.serial


def _read(t: "Task", a: "SyscallArgs") -> int:
    try:
        key, is_possessed = K.lookup(t, a.int(1), 0, K.DEFER_PERM)
    except LinuxError:
        raise err(errno.ENOKEY) from None
    if not K.permitted(t, key, is_possessed, K.NEED_READ) and not is_possessed:
        raise err(errno.EACCES)
    if key.type == "logon":
        raise err(errno.EOPNOTSUPP)
    key.validate()
    if key.is_keyring:
        data = b"".join(struct.pack("<i", s) for s in key.links)
    else:
        data = key.payload
    buf, buflen = a[2], a[3]
    if buf and buflen and len(data) <= buflen:
        t.mem.write(buf, data)
    return len(data)


def _set_reqkey(t: "Task", a: "SyscallArgs") -> int:
    kr = K.rings(t)
    old = kr.reqkey_default
    v = a.int(1)
    if v == K.REQKEY_DEFL_NO_CHANGE:
        return old
    if v == K.REQKEY_DEFL_THREAD:
        if kr.thread is None:
            K.lookup(t, K.THREAD_KEYRING, K.LOOKUP_CREATE, K.DEFER_PERM)
    elif v == K.REQKEY_DEFL_PROCESS:
        if kr.process is None:
            K.lookup(t, K.PROCESS_KEYRING, K.LOOKUP_CREATE, K.DEFER_PERM)
    elif v not in (K.REQKEY_DEFL_DEFAULT, K.REQKEY_DEFL_SESSION, K.REQKEY_DEFL_USER,
                   K.REQKEY_DEFL_USER_SESSION, K.REQKEY_DEFL_REQUESTOR):
        raise err(errno.EINVAL)
    kr.reqkey_default = v
    return old


def _set_timeout(t: "Task", a: "SyscallArgs") -> int:
    timeout = a.uint(2)
    key, _ = K.lookup(t, a.int(1), K.LOOKUP_CREATE | K.LOOKUP_PARTIAL, K.NEED_SETATTR)
    key.expiry = int(time.time()) + timeout if timeout else 0
    return 0


def _invalidate(t: "Task", a: "SyscallArgs") -> int:
    key, _ = K.lookup(t, a.int(1), 0, K.NEED_SEARCH)
    K.service(t.kernel).invalidate(key)
    return 0


def _get_security(t: "Task", a: "SyscallArgs") -> int:
    K.lookup(t, a.int(1), K.LOOKUP_PARTIAL, K.NEED_VIEW)
    if a[2] and a[3] > 0:
        t.mem.write(a[2], b"\0")  # no security module labels keys
    return 1


def _no_authority(t: "Task", a: "SyscallArgs") -> int:
    # INSTANTIATE, NEGATE, REJECT, INSTANTIATE_IOV: only a request_key upcall's helper
    # holds the authority, and there is never one.
    raise err(errno.EPERM)


def _assume_authority(t: "Task", a: "SyscallArgs") -> int:
    if a.int(1) < 0:
        raise err(errno.EINVAL)
    if a.int(1) == 0:
        return 0
    raise err(errno.ENOKEY)


def _session_to_parent(t: "Task", a: "SyscallArgs") -> int:
    """The parent's session keyring becomes the caller's (Linux does it at the parent's
    next return to user space; here at once)."""
    kr = K.rings(t)
    if kr.session is None:
        K.lookup(t, K.SESSION_KEYRING, 0, K.DEFER_PERM)
    parent = t.tg.parent
    if parent is None or len(parent.tasks) != 1 or len(t.tg.tasks) != 1:
        raise err(errno.EPERM)
    pt = next(iter(parent.tasks.values()))
    c, pc = t.creds, pt.creds
    if not (pc.uid == pc.euid == pc.suid == c.euid and pc.gid == pc.egid == pc.sgid == c.egid):
        raise err(errno.EPERM)
    K.rings(pt).session = kr.session
    K.service(t.kernel).dirty = True
    return 0


def _capabilities(t: "Task", a: "SyscallArgs") -> int:
    if a[1] and a[2]:
        t.mem.write(a[1], _CAPS[:min(a[2], len(_CAPS))])
    return len(_CAPS)


def _unsupported(t: "Task", a: "SyscallArgs") -> int:
    # GET_PERSISTENT, DH_COMPUTE, PKEY_*, RESTRICT_KEYRING, WATCH_KEY: as a kernel
    # built without them.
    raise err(errno.EOPNOTSUPP)


_COMMANDS = {
    GET_KEYRING_ID: _get_keyring_id, JOIN_SESSION_KEYRING: _join, UPDATE: _kupdate,
    REVOKE: _revoke, CHOWN: _chown, SETPERM: _setperm, DESCRIBE: _describe, CLEAR: _clear,
    LINK: _link, UNLINK: _unlink, SEARCH: _search, READ: _read,
    INSTANTIATE: _no_authority, NEGATE: _no_authority, REJECT: _no_authority,
    INSTANTIATE_IOV: _no_authority, SET_REQKEY_KEYRING: _set_reqkey,
    SET_TIMEOUT: _set_timeout, ASSUME_AUTHORITY: _assume_authority,
    GET_SECURITY: _get_security, SESSION_TO_PARENT: _session_to_parent,
    INVALIDATE: _invalidate, GET_PERSISTENT: _unsupported, MOVE: _move,
    CAPABILITIES: _capabilities,
}
