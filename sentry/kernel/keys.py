"""The sandbox's key service: add_key(2), request_key(2), keyctl(2) (``security/keys/``).

Every key lives here, in the sentry; the host's keyrings are never used (they are the
host kernel's, shared by every container on it).  Ownership: the :class:`KeyService` (one
per kernel, :func:`service`) owns every key by serial and the per-user state (quota,
user keyrings); a task's :class:`TaskKeyrings` (``Task.keyrings``, Linux keeps them in
``struct cred``) refers to its thread, process and session keyrings; a keyring refers to
the keys linked in it.  A key nothing refers to any more (no task's keyring, no user
keyring, no link) is destroyed by :meth:`KeyService.gc`, which runs, as Linux's
garbage collector does some time later, at the next key creation: until then its serial
still names it.

What is Linux's: serials (random, positive, unique), the types ``user``, ``logon`` and
``keyring``, permissions (possessor/user/group/other bytes, ``key_task_permission``,
possession as keys reachable from the caller's thread, process and session keyrings
through searchable keyrings), expiry and revocation, the special keyrings and when
they are made, the per-user quotas (``kernel.keys.*`` sysctls: 200 keys and 20000 bytes,
root 1000000 and 25000000), and a keyring's 4 bytes of quota per link.
"""

from __future__ import annotations

import errno
import os
import time

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError, err
from sentry.kernel.memacct import ACCOUNT

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Set
    from sentry.kernel.task import Task

# Permission bits (include/uapi/linux/keyctl.h, linux/key.h).
KEY_POS_VIEW, KEY_POS_READ, KEY_POS_WRITE = 0x01000000, 0x02000000, 0x04000000
KEY_POS_SEARCH, KEY_POS_LINK, KEY_POS_SETATTR = 0x08000000, 0x10000000, 0x20000000
KEY_POS_ALL = 0x3F000000
KEY_USR_VIEW, KEY_USR_READ, KEY_USR_WRITE = 0x00010000, 0x00020000, 0x00040000
KEY_USR_SEARCH, KEY_USR_LINK, KEY_USR_SETATTR = 0x00080000, 0x00100000, 0x00200000
KEY_USR_ALL = 0x003F0000
KEY_GRP_ALL = 0x00003F00
KEY_OTH_ALL = 0x0000003F
PERM_MASK = KEY_POS_ALL | KEY_USR_ALL | KEY_GRP_ALL | KEY_OTH_ALL

# What a call needs of a key (key_need_perm).
NEED_VIEW, NEED_READ, NEED_WRITE, NEED_SEARCH, NEED_LINK, NEED_SETATTR = 1, 2, 4, 8, 16, 32
NEED_UNLINK = 0x100     # no check on the key (the keyring's WRITE is what counts)
DEFER_PERM = 0x200      # the caller checks (KEY_DEFER_PERM_CHECK)

# lookup_user_key's flags.
LOOKUP_CREATE, LOOKUP_PARTIAL = 1, 2

# Special ids.
THREAD_KEYRING, PROCESS_KEYRING, SESSION_KEYRING = -1, -2, -3
USER_KEYRING, USER_SESSION_KEYRING, GROUP_KEYRING = -4, -5, -6
REQKEY_AUTH_KEY, REQUESTOR_KEYRING = -7, -8

# KEYCTL_SET_REQKEY_KEYRING values.
REQKEY_DEFL_NO_CHANGE, REQKEY_DEFL_DEFAULT, REQKEY_DEFL_THREAD = -1, 0, 1
REQKEY_DEFL_PROCESS, REQKEY_DEFL_SESSION, REQKEY_DEFL_USER = 2, 3, 4
REQKEY_DEFL_USER_SESSION, REQKEY_DEFL_GROUP, REQKEY_DEFL_REQUESTOR = 5, 6, 7

MAX_DESC = 4096          # KEY_MAX_DESC_SIZE (with the NUL)
MAX_USER_PAYLOAD = 32767
MAX_DEPTH = 6            # KEYRING_SEARCH_MAX_DEPTH
LINK_BYTES = 4           # KEYQUOTA_LINK_BYTES
NEGATIVE_TIMEOUT = 60    # key_negative_timeout (seconds)
# What a key costs the sentry besides its quota bytes (the object, its serial's entry),
# charged to the sandbox's memory account: root's quota alone would let a workload make
# a million keys.
KEY_COST = 512

# kernel.keys.* sysctl defaults.
DEFAULT_LIMITS = {"maxkeys": 200, "maxbytes": 20000,
                  "root_maxkeys": 1000000, "root_maxbytes": 25000000}

TYPES = ("user", "logon", "keyring")


class Key:
    """One key (``struct key``): a ``user`` or ``logon`` payload, or a keyring's links."""

    __slots__ = ("serial", "type", "description", "uid", "gid", "perm", "payload", "links",
                 "expiry", "revoked", "dead", "owner", "quotalen", "uid_keyring", "negative")

    def __init__(self, serial: int, ktype: str, description: bytes, uid: int, gid: int,
                 perm: int, owner: "KeyUser") -> None:
        self.serial = serial
        self.type = ktype
        self.description = description
        self.uid, self.gid, self.perm = uid, gid, perm
        self.payload = b""
        # A keyring's links by serial, in link order (the search order).
        self.links: Dict[int, "Key"] = {}
        self.expiry = 0         # wall-clock second it expires at; 0: never
        self.revoked = False
        self.dead = False       # invalidated or destroyed: its serial names nothing
        self.owner = owner      # whose quota it counts in
        self.quotalen = 0
        self.uid_keyring = False
        # A negative key's error (request_key's failed construction), else 0.
        self.negative = 0

    @property
    def is_keyring(self) -> bool:
        return self.type == "keyring"

    def expired(self, now: Optional[int] = None) -> bool:
        """Linux counts whole seconds of wall-clock time (``ktime_get_real_seconds``)."""
        return bool(self.expiry) and (now if now is not None else int(time.time())) >= self.expiry

    def validate(self) -> None:
        """``key_validate``: EKEYREVOKED, EKEYEXPIRED or ENOKEY for a key no longer usable."""
        if self.dead:
            raise err(errno.ENOKEY)
        if self.revoked:
            raise err(errno.EKEYREVOKED)
        if self.expired():
            raise err(errno.EKEYEXPIRED)


class KeyUser:
    """Per-uid state (``struct key_user`` and the user's keyrings)."""

    __slots__ = ("uid", "nkeys", "nbytes", "user_keyring", "session_keyring")

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.nkeys = 0
        self.nbytes = 0
        self.user_keyring: Optional[Key] = None
        self.session_keyring: Optional[Key] = None


class TaskKeyrings:
    """A task's keyrings (Linux's ``cred->thread_keyring``, ``process_keyring``,
    ``session_keyring``, ``jit_keyring``): per thread, the process keyring shared with the
    threads cloned after it was made, the session keyring inherited by every child."""

    __slots__ = ("thread", "process", "session", "reqkey_default")

    def __init__(self) -> None:
        self.thread: Optional[Key] = None
        self.process: Optional[Key] = None
        self.session: Optional[Key] = None
        self.reqkey_default = REQKEY_DEFL_DEFAULT

    def roots(self) -> List[Key]:
        return [k for k in (self.thread, self.process, self.session) if k is not None]


class KeyService:
    """The sandbox's keys (one per kernel)."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.keys: Dict[int, Key] = {}
        self.users: Dict[int, KeyUser] = {}
        # Keyrings joinable by name (keyring_name_list), in creation order.
        self.named: List[Key] = []
        self.dirty = False

    # -- limits and quota ----------------------------------------------------------

    def limit(self, name: str) -> int:
        table = getattr(self.kernel, "sysctl", None) or {}
        try:
            return int(table.get(f"kernel.keys.{name}", DEFAULT_LIMITS[name]))
        except (TypeError, ValueError):
            return DEFAULT_LIMITS[name]

    def _limits(self, uid: int) -> tuple:
        if uid == 0:
            return self.limit("root_maxkeys"), self.limit("root_maxbytes")
        return self.limit("maxkeys"), self.limit("maxbytes")

    def user(self, uid: int) -> KeyUser:
        u = self.users.get(uid)
        if u is None:
            u = self.users[uid] = KeyUser(uid)
        return u

    def reserve(self, key: Key, quotalen: int) -> None:
        """``key_payload_reserve``: charge the change of *key*'s size to its owner (and to
        the sandbox's memory account).

        :raises LinuxError: EDQUOT past the owner's byte quota, ENOMEM past the account.
        """
        delta = quotalen - key.quotalen
        u = key.owner
        if delta > 0 and u.nbytes + delta > self._limits(u.uid)[1]:
            raise err(errno.EDQUOT)
        if delta > 0 and not ACCOUNT.charge(delta):
            raise err(errno.ENOMEM)
        if delta < 0:
            ACCOUNT.uncharge(-delta)
        u.nbytes += delta
        key.quotalen = quotalen

    # -- keys ----------------------------------------------------------------------

    def alloc(self, ktype: str, description: bytes, uid: int, gid: int, perm: int,
              overrun: bool = False) -> Key:
        """``key_alloc``: a new key charged to *uid* (``overrun``: the kernel's own keyrings,
        which may pass the quota).

        :raises LinuxError: EDQUOT past the user's key or byte quota, ENOMEM past the
            sandbox's memory account.
        """
        if self.dirty:
            self.gc()
        u = self.user(uid)
        quotalen = len(description) + 1
        maxkeys, maxbytes = self._limits(uid)
        if not overrun and (u.nkeys + 1 > maxkeys or u.nbytes + quotalen > maxbytes):
            raise err(errno.EDQUOT)
        if not ACCOUNT.charge(KEY_COST + quotalen):
            raise err(errno.ENOMEM)
        while True:
            serial = int.from_bytes(os.urandom(4), "little") >> 1
            if serial >= 3 and serial not in self.keys:
                break
        key = Key(serial, ktype, description, uid, gid, perm, u)
        key.quotalen = quotalen
        u.nkeys += 1
        u.nbytes += quotalen
        self.keys[serial] = key
        if ktype == "keyring" and description and not description.startswith(b"."):
            self.named.append(key)
        return key

    def new_keyring(self, description: bytes, uid: int, gid: int, perm: int,
                    overrun: bool = False) -> Key:
        return self.alloc("keyring", description, uid, gid, perm, overrun)

    def destroy(self, key: Key) -> None:
        if key.dead and key.serial not in self.keys:
            return
        key.dead = True
        self.keys.pop(key.serial, None)
        ACCOUNT.uncharge(KEY_COST + key.quotalen)
        key.owner.nkeys -= 1
        key.owner.nbytes -= key.quotalen
        key.quotalen = 0
        key.links.clear()
        if key in self.named:
            self.named.remove(key)

    def invalidate(self, key: Key) -> None:
        """``key_invalidate``: unlinked from every keyring and gone."""
        for k in list(self.keys.values()):
            if k.is_keyring and key.serial in k.links:
                self.unlink(k, key)
        self.destroy(key)
        self.dirty = True

    def link(self, keyring: Key, key: Key) -> None:
        """``key_link``: link *key* into *keyring* (replacing one of the same type and
        description).

        :raises LinuxError: ENOTDIR (not a keyring), EDEADLK (a keyring cycle), ELOOP (too
            deep), EDQUOT (the keyring's owner's byte quota).
        """
        if not keyring.is_keyring:
            raise err(errno.ENOTDIR)
        if key.is_keyring:
            if key is keyring or self._reaches(key, keyring, 0):
                raise err(errno.EDEADLK)
            if self._depth(key) + self._height(keyring) > MAX_DEPTH:
                raise err(errno.ELOOP)
        if key.serial in keyring.links:
            return
        old = next((k for k in keyring.links.values()
                    if k.type == key.type and k.description == key.description), None)
        if old is not None:
            del keyring.links[old.serial]
            keyring.links[key.serial] = key
            self.dirty = True
            return
        self.reserve(keyring, keyring.quotalen + LINK_BYTES)
        keyring.links[key.serial] = key

    def unlink(self, keyring: Key, key: Key) -> None:
        """``key_unlink``.

        :raises LinuxError: ENOTDIR, ENOENT (not linked there).
        """
        if not keyring.is_keyring:
            raise err(errno.ENOTDIR)
        # By type and description (the keyring's index key), not by the key itself: a
        # key that replaced *key* there is the one unlinked.
        same = next((k for k in keyring.links.values()
                     if k.type == key.type and k.description == key.description), None)
        if same is None:
            raise err(errno.ENOENT)
        del keyring.links[same.serial]
        self.reserve(keyring, max(keyring.quotalen - LINK_BYTES, 0))
        self.dirty = True

    def clear(self, keyring: Key) -> None:
        if not keyring.is_keyring:
            raise err(errno.ENOTDIR)
        n = len(keyring.links)
        keyring.links.clear()
        self.reserve(keyring, max(keyring.quotalen - LINK_BYTES * n, 0))
        self.dirty = True

    def _reaches(self, src: Key, target: Key, depth: int) -> bool:
        if depth > MAX_DEPTH:
            return False
        for k in src.links.values():
            if k is target or (k.is_keyring and self._reaches(k, target, depth + 1)):
                return True
        return False

    def _depth(self, keyring: Key) -> int:
        """How many keyrings deep the tree under *keyring* goes (1: no nested keyring)."""
        sub = [self._depth(k) for k in keyring.links.values() if k.is_keyring]
        return 1 + (max(sub) if sub else 0)

    def _height(self, keyring: Key) -> int:
        """How many keyrings lead down to *keyring* at most (1: none)."""
        best = 1
        for k in self.keys.values():
            if k.is_keyring and keyring.serial in k.links and k is not keyring:
                best = max(best, 1 + self._height(k))
                if best > MAX_DEPTH:
                    break
        return best

    # -- garbage collection -----------------------------------------------------------

    def roots(self) -> Iterable[Key]:
        for t in list(self.kernel.tasks.values()):
            kr = getattr(t, "keyrings", None)
            if kr is not None:
                yield from kr.roots()
        for u in self.users.values():
            if u.user_keyring is not None:
                yield u.user_keyring
            if u.session_keyring is not None:
                yield u.session_keyring

    def gc(self) -> None:
        """Destroy every key nothing refers to (Linux's ``key_garbage_collector``)."""
        self.dirty = False
        live: Set[int] = set()
        stack = list(self.roots())
        while stack:
            k = stack.pop()
            if k.serial in live or k.dead:
                continue
            live.add(k.serial)
            stack.extend(k.links.values())
        for k in [k for s, k in self.keys.items() if s not in live]:
            self.destroy(k)

    # -- the special keyrings ------------------------------------------------------------

    def user_keyrings(self, uid: int) -> KeyUser:
        """``look_up_user_keyrings``: the user keyring ``_uid.N`` and user session keyring
        ``_uid_ses.N`` (the first linked into the second), made on first use."""
        u = self.user(uid)
        if u.user_keyring is None or u.session_keyring is None:
            perm = (KEY_POS_ALL & ~KEY_POS_SETATTR) | KEY_USR_ALL
            # No group: gid -1 (shown as the overflow gid).
            ur = self.new_keyring(b"_uid.%d" % uid, uid, -1, perm, overrun=True)
            ur.uid_keyring = True
            us = self.new_keyring(b"_uid_ses.%d" % uid, uid, -1, perm, overrun=True)
            us.uid_keyring = True
            self.link(us, ur)
            u.user_keyring, u.session_keyring = ur, us
        return u


_SERVICE_ATTR = "_key_service"


def service(kernel: Any) -> KeyService:
    s = getattr(kernel, _SERVICE_ATTR, None)
    if s is None:
        s = KeyService(kernel)
        setattr(kernel, _SERVICE_ATTR, s)
    return s


def rings(t: "Task") -> TaskKeyrings:
    kr = t.keyrings
    if kr is None:
        kr = t.keyrings = TaskKeyrings()
    return kr


# -- task life cycle (called by the kernel) --------------------------------------------

def on_clone(parent: "Task", child: "Task", thread: bool) -> None:
    """``copy_creds``: the child keeps the session keyring, a thread the process keyring
    too; neither gets the thread keyring."""
    p = parent.keyrings
    if p is None:
        return
    kr = TaskKeyrings()
    kr.session = p.session
    kr.process = p.process if thread else None
    kr.reqkey_default = p.reqkey_default
    child.keyrings = kr
    if thread and p.thread is not None:
        # A thread cloned by one with a thread keyring gets one of its own at once.
        _install(child, "thread")


def on_exec(t: "Task") -> None:
    """``prepare_exec_creds``: a new program has no thread or process keyring."""
    kr = t.keyrings
    if kr is not None and (kr.thread is not None or kr.process is not None):
        kr.thread = kr.process = None
        service(t.kernel).dirty = True


def on_exit(t: "Task") -> None:
    """The task's references go with it (collected at the next key creation)."""
    if t.keyrings is not None:
        t.keyrings = None
        s = getattr(t.kernel, _SERVICE_ATTR, None)
        if s is not None:
            s.dirty = True


# -- permissions and possession --------------------------------------------------------

def permitted(t: "Task", key: Key, possessed: bool, need: int) -> bool:
    """``key_task_permission``: the owner's, group's or others' byte, plus the
    possessor's for a possessed key."""
    c = t.creds
    if key.uid == c.fsuid:
        kperm = key.perm >> 16
    elif key.perm & KEY_GRP_ALL and key.gid >= 0 and (key.gid == c.fsgid
                                                        or key.gid in c.groups):
        kperm = key.perm >> 8
    else:
        kperm = key.perm
    if possessed:
        kperm |= key.perm >> 24
    return kperm & need & 0x3F == need


def _search_roots(t: "Task") -> List[Key]:
    """The keyrings a search starts from, in order: the caller's thread and process
    keyrings, then its session keyring, or its user session keyring without one."""
    kr = rings(t)
    tops = [k for k in (kr.thread, kr.process) if k is not None]
    if kr.session is not None:
        tops.append(kr.session)
    else:
        u = service(t.kernel).users.get(t.creds.uid)
        if u is not None and u.session_keyring is not None:
            tops.append(u.session_keyring)
    return tops


def possessed(t: "Task", key: Key) -> bool:
    """Whether *key* is reachable from the caller's thread, process and session (else
    user session) keyrings through keyrings it may search, and searchable itself
    (``search_process_keyrings_rcu`` looking for that key)."""
    tops = _search_roots(t)
    seen: Set[int] = set()

    def walk(ring: Key, depth: int) -> bool:
        if ring.serial in seen or depth > MAX_DEPTH:
            return False
        seen.add(ring.serial)
        nested = []
        for k in ring.links.values():
            if k is key and permitted(t, k, True, NEED_SEARCH):
                return True
            if k.is_keyring:
                nested.append(k)
        for k in nested:
            if permitted(t, k, True, NEED_SEARCH) and walk(k, depth + 1):
                return True
        return False

    for top in tops:
        if not permitted(t, top, True, NEED_SEARCH):
            continue
        if top is key or walk(top, 1):
            return True
    return False


def search(t: "Task", keyring: Key, is_possessed: bool, ktype: str, desc: bytes,
           skip_expired: bool = False) -> Key:
    """``keyring_search_rcu`` with state checks: the first key of *ktype* and *desc* in
    *keyring* or the keyrings under it the caller may search.

    :raises LinuxError: EAGAIN when nothing matches; else the reason the last match was
        passed over: EKEYEXPIRED, EKEYREVOKED, EACCES, or ENOKEY for a negative key.
    """
    if not keyring.is_keyring:
        raise err(errno.ENOTDIR)
    if not permitted(t, keyring, is_possessed, NEED_SEARCH):
        raise err(errno.EACCES)
    result = [errno.EAGAIN]
    now = int(time.time())
    seen: Set[int] = set()

    def walk(ring: Key, depth: int) -> Optional[Key]:
        if ring.serial in seen or depth > MAX_DEPTH:
            return None
        seen.add(ring.serial)
        nested = []
        for k in ring.links.values():
            if k.type == ktype and k.description == desc and not k.dead:
                if k.revoked:
                    result[0] = errno.EKEYREVOKED
                    continue
                if k.expired(now):
                    if not skip_expired:
                        result[0] = errno.EKEYEXPIRED
                    continue
                if not permitted(t, k, is_possessed, NEED_SEARCH):
                    result[0] = errno.EACCES
                    continue
                if k.negative:
                    result[0] = k.negative
                    continue
                return k
            if k.is_keyring:
                nested.append(k)
        for k in nested:
            if k.revoked or k.expired(now) or not permitted(t, k, is_possessed, NEED_SEARCH):
                continue
            found = walk(k, depth + 1)
            if found is not None:
                return found
        return None

    found = walk(keyring, 1)
    if found is None:
        raise err(result[0])
    return found


def search_process_keyrings(t: "Task", ktype: str, desc: bytes) -> Key:
    """``search_process_keyrings_rcu``: the thread, process and session (else user
    session) keyrings in that order.

    :raises LinuxError: as Linux ranks the failures: ENOKEY (a negative key) before
        EAGAIN (nothing found in a keyring searched) before any other error.
    """
    tops = _search_roots(t)
    ret = 0
    other = errno.EAGAIN
    for top in tops:
        try:
            return search(t, top, True, ktype, desc, skip_expired=True)
        except LinuxError as e:
            if e.errno == errno.EAGAIN:
                if not ret:
                    ret = errno.EAGAIN
            elif e.errno == errno.ENOKEY:
                ret = errno.ENOKEY
            else:
                other = e.errno
    raise err(ret or other)


# -- lookup_user_key ---------------------------------------------------------------------

def _install(t: "Task", which: str) -> Key:
    s = service(t.kernel)
    kr = rings(t)
    c = t.creds
    name = {"thread": b"_tid", "process": b"_pid"}[which]
    key = s.new_keyring(name, c.fsuid, c.fsgid, KEY_POS_ALL | KEY_USR_VIEW, overrun=True)
    setattr(kr, which, key)
    return key


def join_session(t: "Task", name: Optional[bytes]) -> Key:
    """``join_session_keyring``: a new anonymous ``_ses`` keyring, or the keyring called
    *name* the caller may search (made when there is none)."""
    s = service(t.kernel)
    kr = rings(t)
    c = t.creds
    if name is None:
        key = s.new_keyring(b"_ses", c.fsuid, c.fsgid,
                            KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ, overrun=True)
        kr.session = key
        return key
    for k in s.named:
        if (k.description == name and not k.revoked and not k.dead and not k.uid_keyring
                and permitted(t, k, False, NEED_SEARCH)):
            kr.session = k
            return k
    key = s.new_keyring(name, c.fsuid, c.fsgid,
                        KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_LINK)
    kr.session = key
    return key


def lookup(t: "Task", kid: int, flags: int, need: int) -> "tuple[Key, bool]":
    """``lookup_user_key``: the key *kid* names for the caller and whether it possesses it.

    :raises LinuxError: EINVAL (a bad id), ENOKEY (no such key, or a special keyring not
        made and not asked to be), EKEYREVOKED/EKEYEXPIRED (unless the check is deferred
        or the key is only to be unlinked), EACCES (permission).
    """
    s = service(t.kernel)
    kr = rings(t)
    c = t.creds
    is_possessed = True
    if kid == THREAD_KEYRING:
        key = kr.thread
        if key is None:
            if not flags & LOOKUP_CREATE:
                raise err(errno.ENOKEY)
            key = _install(t, "thread")
    elif kid == PROCESS_KEYRING:
        key = kr.process
        if key is None:
            if not flags & LOOKUP_CREATE:
                raise err(errno.ENOKEY)
            key = _install(t, "process")
    elif kid == SESSION_KEYRING:
        if kr.session is None:
            if flags & LOOKUP_CREATE:
                join_session(t, None)
            else:
                kr.session = s.user_keyrings(c.uid).session_keyring
        elif kr.session.uid_keyring and flags & LOOKUP_CREATE:
            join_session(t, None)
        key = kr.session
    elif kid == USER_KEYRING:
        key = s.user_keyrings(c.uid).user_keyring
    elif kid == USER_SESSION_KEYRING:
        key = s.user_keyrings(c.uid).session_keyring
    elif kid in (REQKEY_AUTH_KEY, REQUESTOR_KEYRING):
        # No request_key upcall ever runs, so there is never an authorisation key.
        raise err(errno.ENOKEY)
    elif kid < 1:
        raise err(errno.EINVAL)
    else:
        key = s.keys.get(kid)
        if key is None or key.dead:
            raise err(errno.ENOKEY)
        is_possessed = possessed(t, key)
    assert key is not None
    if need != NEED_UNLINK:
        if not flags & LOOKUP_PARTIAL:
            if need != DEFER_PERM:
                if key.negative:  # wait_for_key_construction: the key's error
                    raise err(key.negative)
                key.validate()
        elif need != DEFER_PERM:
            key.validate()
    if need not in (NEED_UNLINK, DEFER_PERM) and not permitted(t, key, is_possessed, need):
        raise err(errno.EACCES)
    return key, is_possessed


def capable_admin(t: "Task") -> bool:
    return t.creds.capable(cap.CAP_SYS_ADMIN)


# -- /proc/keys, /proc/key-users ----------------------------------------------------------

def _timeout(key: Key, now: int) -> bytes:
    if not key.expiry:
        return b"perm"
    left = key.expiry - now
    if left <= 0:
        return b"expd"
    for limit, div, unit in ((60, 1, b"s"), (3600, 60, b"m"), (86400, 3600, b"h"),
                             (604800, 86400, b"d")):
        if left < limit:
            return b"%d%s" % (left // div, unit)
    return b"%dw" % (left // 604800)


def _usage(s: KeyService) -> Dict[int, int]:
    """References to each key: links, tasks' keyrings, users' keyrings (Linux's refcount
    also counts transient holders, which the sentry has none of between calls)."""
    n: Dict[int, int] = {}
    for root in s.roots():
        n[root.serial] = n.get(root.serial, 0) + 1
    for k in s.keys.values():
        for serial in k.links:
            n[serial] = n.get(serial, 0) + 1
    return n


def proc_keys(kernel: Any, reader: Optional["Task"]) -> bytes:
    """``/proc/keys`` (``proc_keys_show``): the keys the reader may view."""
    s = service(kernel)
    if reader is None:
        return b""
    now = int(time.time())
    usage = _usage(s)
    out = []
    for serial in sorted(s.keys):
        key = s.keys[serial]
        is_possessed = bool(key.perm & KEY_POS_VIEW) and possessed(reader, key)
        if not permitted(reader, key, is_possessed, NEED_VIEW):
            continue
        flags = (b"I" + (b"R" if key.revoked else b"-") + b"-Q-"
                 + (b"N" if key.negative else b"-") + b"-")
        gid = key.gid if key.gid >= 0 else 65534
        if key.is_keyring:
            tail = b": %d" % len(key.links) if key.links else b": empty"
        elif key.negative:
            tail = b""
        else:
            tail = b": %d" % len(key.payload)
        out.append(b"%08x %s %5d %4s %08x %5d %5d %-9.9s %s%s\n" % (
            serial, flags, usage.get(serial, 0), _timeout(key, now), key.perm, key.uid, gid,
            key.type.encode(), key.description, tail))
    return b"".join(out)


def proc_key_users(kernel: Any) -> bytes:
    """``/proc/key-users``: per user, keys and bytes against the quota."""
    s = service(kernel)
    out = []
    for uid in sorted(s.users):
        u = s.users[uid]
        if not u.nkeys:
            continue
        maxkeys, maxbytes = s._limits(uid)
        out.append(b"%5d: %5d %d/%d %d/%d %d/%d\n" % (
            uid, u.nkeys, u.nkeys, u.nkeys, u.nkeys, maxkeys, u.nbytes, maxbytes))
    return b"".join(out)
