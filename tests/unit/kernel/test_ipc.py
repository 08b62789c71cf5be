"""System V IPC books (sentry/kernel/ipc.py) and the queue rules of sys_ipc and mqueue,
without a tracee; the differential programs sysv_ipc.c and posix_mq.c check the calls."""

from __future__ import annotations

import errno
from types import SimpleNamespace

import pytest

from sentry.abi.linux import capability as cap
from sentry.abi.linux.errors import LinuxError
from sentry.fsimpl.mqueue.mqueue import MessageQueue
from sentry.kernel import ipc
from sentry.kernel.credentials import Credentials
from sentry.syscalls.linux.sys_ipc import MSG_EXCEPT, _pick


def _task(uid: int = 1000, gid: int = 1000, groups=(), caps: int = 0):
    c = Credentials(uid=uid, gid=gid, euid=uid, egid=gid, suid=uid, sgid=gid, fsuid=uid,
                    fsgid=gid, groups=list(groups), cap_permitted=caps, cap_effective=caps)
    return SimpleNamespace(creds=c)


class _Obj:
    def __init__(self, key: int) -> None:
        self.perm = ipc.Perm(key, _task(), 0o600)


def test_ids_take_the_lowest_free_index_and_a_new_sequence():
    reg = ipc.Registry()
    a, b = _Obj(0), _Obj(42)
    reg.add(a, 10)
    reg.add(b, 10)
    assert (a.perm.id, b.perm.id) == (0, 1)
    assert reg.by_key[42] is b and reg.find(1) is b
    reg.remove(a)
    with pytest.raises(LinuxError) as e:
        reg.find(0)
    assert e.value.errno == errno.EINVAL
    c = _Obj(0)
    reg.add(c, 10)
    assert c.perm.index == 0 and c.perm.id == ipc.SEQ_MULTIPLIER  # sequence 1
    with pytest.raises(LinuxError):
        reg.find(0)  # the old id names nothing any more
    assert reg.at(0) is c and reg.max_index() == 1


def test_limit_and_key_forgetting():
    reg = ipc.Registry()
    reg.add(_Obj(1), 1)
    with pytest.raises(LinuxError) as e:
        reg.add(_Obj(2), 1)
    assert e.value.errno == errno.ENOSPC
    obj = reg.by_key[1]
    reg.forget_key(obj)
    assert 1 not in reg.by_key and obj.perm.key == ipc.IPC_PRIVATE and reg.find(0) is obj


@pytest.mark.parametrize("who,mode,flag,ok", [
    (dict(uid=1000), 0o600, 0o600, True),          # owner
    (dict(uid=1001, gid=5), 0o600, 0o400, False),  # other, no bits
    (dict(uid=1001, gid=1000), 0o640, 0o400, True),  # group read
    (dict(uid=1001, gid=1000), 0o640, 0o200, False),
    (dict(uid=1001, gid=5, groups=[1000]), 0o640, 0o040, True),  # supplementary group
    (dict(uid=1001, gid=5), 0o604, 0o004, True),   # other read
    (dict(uid=1001), 0o600, 0, True),              # nothing asked
    (dict(uid=1001, caps=1 << cap.CAP_IPC_OWNER), 0o600, 0o600, True),
])
def test_ipcperms(who, mode, flag, ok):
    owner = ipc.Perm(0, _task(uid=1000, gid=1000), mode)
    assert ipc.ipcperms(_task(**who), owner, flag) is ok


def test_owner_or_admin():
    p = ipc.Perm(0, _task(uid=1000), 0o600)
    assert ipc.owner_or_admin(_task(uid=1000), p)
    assert not ipc.owner_or_admin(_task(uid=1001), p)
    assert ipc.owner_or_admin(_task(uid=1001, caps=1 << cap.CAP_SYS_ADMIN), p)
    ipc.set_perm(p, 1001, 7, 0o7640)
    assert (p.uid, p.gid, p.mode, p.cuid) == (1001, 7, 0o640, 1000)
    assert ipc.owner_or_admin(_task(uid=1001), p)


def test_msgrcv_type_selection():
    q = SimpleNamespace(msgs=[(3, b"a"), (1, b"b"), (2, b"c"), (1, b"d")])
    assert _pick(q, 0, 0) == 0
    assert _pick(q, 1, 0) == 1
    assert _pick(q, 1, MSG_EXCEPT) == 0
    assert _pick(q, -2, 0) == 1      # the lowest type <= 2, first of them
    assert _pick(q, -9, 0) == 1
    assert _pick(q, 7, 0) == -1
    assert _pick(SimpleNamespace(msgs=[]), 0, 0) == -1


def test_posix_queue_order_and_charge():
    from sentry.kernel.memacct import ACCOUNT

    before = ACCOUNT.used
    mq = MessageQueue(b"q", 0, 0, 0o600, 4, 16)
    for data, prio in ((b"l1", 1), (b"h", 5), (b"l2", 1), (b"z", 0)):
        assert mq.put(data, prio)
    assert mq.full() and mq.qsize == 6
    assert [mq.take() for _ in range(3)] == [(b"h", 5), (b"l1", 1), (b"l2", 1)]
    assert ACCOUNT.used > before
    del mq  # the last message's charge goes with the queue
    assert ACCOUNT.used == before
