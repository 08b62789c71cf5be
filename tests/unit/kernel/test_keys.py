"""sentry.kernel.keys: keyrings per task across clone, exec and exit, possession and
permissions, quotas, and collection of keys nothing refers to."""

from __future__ import annotations

import errno
from typing import Any, Dict

import pytest
from sentry.abi.linux.errors import LinuxError
from sentry.kernel import keys
from sentry.kernel.credentials import Credentials


class _Kernel:
    def __init__(self) -> None:
        self.tasks: Dict[int, Any] = {}
        self.sysctl: Dict[str, str] = {}


class _Task:
    def __init__(self, kernel: _Kernel, tid: int, uid: int = 0) -> None:
        self.kernel = kernel
        self.creds = Credentials(uid, uid, uid, uid, uid, uid, uid, uid)
        self.keyrings: Any = None
        kernel.tasks[tid] = self


def _errno(fn: Any, *args: Any) -> int:
    with pytest.raises(LinuxError) as e:
        fn(*args)
    return e.value.errno


def _add(t: _Task, ring: keys.Key, desc: bytes) -> keys.Key:
    s = keys.service(t.kernel)
    k = s.alloc("user", desc, t.creds.fsuid, t.creds.fsgid, 0x3F010000)
    s.link(ring, k)
    return k


def test_special_keyrings_are_made_on_demand() -> None:
    k = _Kernel()
    t = _Task(k, 1)
    assert _errno(keys.lookup, t, keys.PROCESS_KEYRING, 0, keys.NEED_VIEW) == errno.ENOKEY
    proc, possessed = keys.lookup(t, keys.PROCESS_KEYRING, keys.LOOKUP_CREATE, keys.NEED_VIEW)
    assert possessed and proc.description == b"_pid" and proc.perm == 0x3F010000
    # Without a session keyring, -3 installs the user session keyring; with create, a
    # new anonymous one replaces it.
    ses, _ = keys.lookup(t, keys.SESSION_KEYRING, 0, keys.NEED_VIEW)
    assert ses.description == b"_uid_ses.0" and ses.uid_keyring
    new, _ = keys.lookup(t, keys.SESSION_KEYRING, keys.LOOKUP_CREATE, keys.NEED_VIEW)
    assert new.description == b"_ses" and new is not ses
    assert _errno(keys.lookup, t, keys.GROUP_KEYRING, 0, keys.NEED_VIEW) == errno.EINVAL


def test_clone_exec_exit() -> None:
    k = _Kernel()
    parent = _Task(k, 1)
    keys.join_session(parent, None)
    proc, _ = keys.lookup(parent, keys.PROCESS_KEYRING, keys.LOOKUP_CREATE, keys.NEED_VIEW)
    thr, _ = keys.lookup(parent, keys.THREAD_KEYRING, keys.LOOKUP_CREATE, keys.NEED_VIEW)
    child, thread = _Task(k, 2), _Task(k, 3)
    keys.on_clone(parent, child, thread=False)
    keys.on_clone(parent, thread, thread=True)
    assert child.keyrings.session is parent.keyrings.session
    assert child.keyrings.process is None and child.keyrings.thread is None
    assert thread.keyrings.process is proc
    assert thread.keyrings.thread is not None and thread.keyrings.thread is not thr
    keys.on_exec(parent)
    assert parent.keyrings.process is None and parent.keyrings.thread is None
    assert parent.keyrings.session is not None


def test_possession_gives_the_possessor_bits() -> None:
    k = _Kernel()
    owner, other = _Task(k, 1), _Task(k, 2, uid=1000)
    ses = keys.join_session(owner, None)
    key = _add(owner, ses, b"k")
    assert keys.possessed(owner, key)
    assert keys.permitted(owner, key, True, keys.NEED_READ)
    # Another user who does not possess it: the others' byte (nothing).
    keys.join_session(other, None)
    assert not keys.possessed(other, key)
    assert _errno(keys.lookup, other, key.serial, 0, keys.NEED_VIEW) == errno.EACCES
    # Reachable only through a keyring it may not search: not possessed.
    ring = keys.service(k).alloc("keyring", b"r", 0, 0, keys.KEY_POS_VIEW)
    keys.service(k).link(ses, ring)
    inner = _add(owner, ring, b"inner")
    assert not keys.possessed(owner, inner)


def test_unlink_goes_by_type_and_description() -> None:
    k = _Kernel()
    t = _Task(k, 1)
    ses = keys.join_session(t, None)
    old = _add(t, ses, b"k")
    new = _add(t, ses, b"k")  # replaces old's link
    assert list(ses.links) == [new.serial]
    keys.service(k).unlink(ses, old)
    assert not ses.links


def test_quota_and_collection() -> None:
    k = _Kernel()
    t = _Task(k, 1, uid=1000)
    s = keys.service(k)
    ses = keys.join_session(t, None)  # counts, may pass the quota
    made = []
    with pytest.raises(LinuxError) as e:
        while True:
            made.append(_add(t, ses, b"q%d" % len(made)))
    assert e.value.errno == errno.EDQUOT and len(made) == 199
    s.clear(ses)
    # Not collected yet: serials still name the keys, the quota is still used ...
    assert made[0].serial in s.keys and s.user(1000).nkeys == 200
    # ... until the next creation collects them first.
    _add(t, ses, b"x0")
    assert made[0].serial not in s.keys and s.user(1000).nkeys == 2
    # A key collected at the next creation after its last link went.
    key = _add(t, ses, b"x")
    s.unlink(ses, key)
    assert key.serial in s.keys
    _add(t, ses, b"y")
    assert key.serial not in s.keys
    # The task's exit lets its session keyring go too.
    keys.on_exit(t)
    del k.tasks[1]
    s.gc()
    assert not s.keys


def test_root_quota_comes_from_the_sysctl() -> None:
    k = _Kernel()
    k.sysctl["kernel.keys.root_maxkeys"] = "3"
    t = _Task(k, 1)
    ses = keys.join_session(t, None)
    _add(t, ses, b"a")
    _add(t, ses, b"b")
    assert _errno(_add, t, ses, b"c") == errno.EDQUOT


def test_keys_are_charged_to_the_memory_account(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentry.kernel.memacct import ACCOUNT

    k = _Kernel()
    t = _Task(k, 1)
    base = ACCOUNT.used
    ses = keys.join_session(t, None)
    key = _add(t, ses, b"k")
    assert ACCOUNT.used > base + 2 * keys.KEY_COST
    monkeypatch.setattr(ACCOUNT, "limit", ACCOUNT.used)
    assert _errno(_add, t, ses, b"more") == errno.ENOMEM
    keys.service(k).invalidate(key)
    keys.on_exit(t)
    del k.tasks[1]
    keys.service(k).gc()
    assert ACCOUNT.used == base
