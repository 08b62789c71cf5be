"""Capability sets across execve, set*uid and permission checks
(sentry/kernel/credentials.py, sentry/vfs/permissions.py).

Expected values are what Linux gives (commoncap.c), checked against runc containers by
tests/oci/test_config_view.py; here each rule is pinned on its own.
"""

from __future__ import annotations

import pytest

from sentry.abi.linux import capability as cap
from sentry.kernel.credentials import Credentials, exec_credentials, fix_setfsuid, fix_setuid
from sentry.vfs import permissions as perm

DOCKER = cap.mask_of([
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
])[0]  # fmt: skip
CHOWN = 1 << cap.CAP_CHOWN
KILL = 1 << cap.CAP_KILL


def creds(uid: int, *, bnd: int = DOCKER, prm: int = 0, eff: int = 0, inh: int = 0,
          amb: int = 0) -> Credentials:
    return Credentials(uid, uid, uid, uid, uid, uid, uid, uid, [], cap_inheritable=inh,
                       cap_permitted=prm, cap_effective=eff, cap_bounding=bnd, cap_ambient=amb)


def sets(c: Credentials) -> tuple[int, int, int, int, int]:
    return c.inheritable, c.permitted, c.effective, c.bounding, c.ambient


def test_docker_sets_for_root_survive_exec() -> None:
    new, secure = exec_credentials(creds(0, prm=DOCKER, eff=DOCKER), 0o755, 0, 0,
                                   nosuid=False, no_new_privs=True)
    assert sets(new) == (0, DOCKER, DOCKER, DOCKER, 0) and not secure


def test_root_exec_gets_the_bounding_set_unless_no_new_privs() -> None:
    old = creds(0, prm=CHOWN, eff=CHOWN)
    new, _ = exec_credentials(old, 0o755, 0, 0, nosuid=False, no_new_privs=False)
    assert (new.permitted, new.effective) == (DOCKER, DOCKER)
    # no_new_privs: no more than the task had (runc shows CapEff 1 for this config).
    new, _ = exec_credentials(old, 0o755, 0, 0, nosuid=False, no_new_privs=True)
    assert (new.permitted, new.effective) == (CHOWN, CHOWN)


def test_non_root_keeps_only_ambient() -> None:
    old = creds(1000, prm=CHOWN | KILL, eff=CHOWN | KILL, inh=CHOWN | KILL, amb=KILL)
    new, secure = exec_credentials(old, 0o755, 0, 0, nosuid=False, no_new_privs=True)
    assert sets(new) == (CHOWN | KILL, KILL, KILL, DOCKER, KILL) and not secure


@pytest.mark.parametrize(("nosuid", "nnp", "euid", "eff", "secure"), [
    (False, False, 0, DOCKER, True),
    (True, False, 1000, 0, False),
    (False, True, 1000, 0, False),
])  # fmt: skip
def test_setuid_root_program(nosuid: bool, nnp: bool, euid: int, eff: int, secure: bool) -> None:
    new, sec = exec_credentials(creds(1000), 0o4755, 0, 0, nosuid=nosuid, no_new_privs=nnp)
    assert (new.uid, new.euid, new.suid, new.fsuid) == (1000, euid, euid, euid)
    assert (new.effective, sec) == (eff, secure)


def test_setuid_root_program_under_an_unprivileged_tracer() -> None:
    """LSM_UNSAFE_PTRACE: a tracer without CAP_SYS_PTRACE makes the exec gain nothing; the
    set-user-ID bit still counts for a task that could setuid anyway (CAP_SETUID)."""
    new, sec = exec_credentials(creds(1000), 0o4755, 0, 0, nosuid=False, no_new_privs=False,
                                unsafe_ptrace=True)
    assert (new.euid, new.suid, new.effective, new.permitted, sec) == (1000, 1000, 0, 0, True)
    setuid = 1 << cap.CAP_SETUID
    new, _ = exec_credentials(creds(1000, prm=setuid, eff=setuid), 0o4755, 0, 0, nosuid=False,
                              no_new_privs=False, unsafe_ptrace=True)
    assert (new.euid, new.permitted) == (0, setuid)


def test_setgid_needs_group_execute() -> None:
    new, secure = exec_credentials(creds(1000), 0o2755, 0, 50, nosuid=False,
                                   no_new_privs=False)
    assert (new.egid, new.sgid, new.fsgid, secure) == (50, 50, 50, True)
    # Set-group-ID without group execute is mandatory locking's mark, not a privilege.
    new, _ = exec_credentials(creds(1000), 0o2745, 0, 50, nosuid=False, no_new_privs=False)
    assert new.egid == 1000


def test_leaving_uid_0_drops_capabilities_unless_keepcaps() -> None:
    for keep in (False, True):
        c = creds(0, prm=DOCKER, eff=DOCKER, amb=0)
        c.securebits = cap.SECBIT_KEEP_CAPS if keep else 0
        old = c.copy()
        c.uid = c.euid = c.suid = c.fsuid = 1000
        fix_setuid(c, old)
        assert c.effective == 0
        assert c.permitted == (DOCKER if keep else 0)


def test_seteuid_back_to_0_restores_effective() -> None:
    c = creds(0, prm=DOCKER, eff=DOCKER)
    old = c.copy()
    c.euid = c.fsuid = 1000
    fix_setuid(c, old)
    assert (c.permitted, c.effective) == (DOCKER, 0)
    old = c.copy()
    c.euid = c.fsuid = 0
    fix_setuid(c, old)
    assert c.effective == DOCKER


def test_setfsuid_drops_the_fs_capabilities() -> None:
    c = creds(0, prm=DOCKER, eff=DOCKER)
    c.fsuid = 1000
    fix_setfsuid(c, 0)
    assert c.effective == DOCKER & ~cap.FS_SET
    assert not c.capable(cap.CAP_DAC_OVERRIDE) and c.capable(cap.CAP_KILL)
    c.fsuid = 0
    fix_setfsuid(c, 1000)
    assert c.effective == DOCKER


@pytest.mark.parametrize(("caps", "mode", "want", "allowed"), [
    (DOCKER, 0o600, perm.MAY_READ | perm.MAY_WRITE, True),        # DAC_OVERRIDE
    (0, 0o600, perm.MAY_READ, False),
    (1 << cap.CAP_DAC_READ_SEARCH, 0o600, perm.MAY_READ, True),
    (1 << cap.CAP_DAC_READ_SEARCH, 0o600, perm.MAY_WRITE, False),
    (DOCKER, 0o600, perm.MAY_EXEC, False),                          # no execute bit at all
    (DOCKER, 0o610, perm.MAY_EXEC, True),
])  # fmt: skip
def test_permission_overrides(caps: int, mode: int, want: int, allowed: bool) -> None:
    c = creds(0, prm=caps, eff=caps)
    assert perm.mode_allows(c, 0o100000 | mode, 5, 5, want) is allowed
    # A file whose owner is not mapped (a user namespace): no override at all.
    assert perm.mode_allows(c, 0o100000 | mode, 5, 5, want, mapped=False) is False


def test_do_mode_root_has_every_capability() -> None:
    root, user = Credentials(), Credentials(1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000)
    assert root.effective == root.permitted == root.bounding == cap.ALL_CAPS
    assert user.effective == user.permitted == 0 and user.bounding == cap.ALL_CAPS
