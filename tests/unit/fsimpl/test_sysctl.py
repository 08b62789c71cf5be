"""The sandbox's namespaced sysctls (sentry/fsimpl/proc/sysctl.py): runc's rule for which
keys a config may set, and values parsed as the kernel's proc handlers parse them."""

from __future__ import annotations

import pytest

from sentry.fsimpl.proc import sysctl


@pytest.mark.parametrize(("key", "ok"), [
    ("kernel.shmmax", True), ("fs.mqueue.msg_max", True), ("net.ipv4.ip_forward", True),
    ("kernel.domainname", True), ("kernel.hostname", False), ("kernel.panic", False),
    ("vm.swappiness", False),
])  # fmt: skip
def test_which_keys_runc_allows(key: str, ok: bool) -> None:
    if ok:
        sysctl.check_allowed(key, ipc=True, uts=True, netns=True)
    else:
        with pytest.raises(sysctl.SysctlError):
            sysctl.check_allowed(key, ipc=True, uts=True, netns=True)


def test_namespace_conditions_use_runcs_words() -> None:
    with pytest.raises(sysctl.SysctlError, match="not allowed in the hosts ipc namespace"):
        sysctl.check_allowed("kernel.sem", ipc=False, uts=True, netns=True)
    with pytest.raises(sysctl.SysctlError, match="not allowed in host network namespace"):
        sysctl.check_allowed("net.core.somaxconn", ipc=True, uts=True, netns=False)


def test_values_are_shown_as_the_kernel_shows_them() -> None:
    t = sysctl.sysctl_table({"kernel.sem": "250  32000 32\n128", "net.ipv4.ip_forward": "0x1",
                             "kernel.msgmax": "010"})
    assert t["kernel.sem"] == "250\t32000\t32\t128"
    assert t["net.ipv4.ip_forward"] == "1" and t["kernel.msgmax"] == "8"
    assert t["net.ipv4.ping_group_range"] == "1\t0"  # a fresh namespace's default
    # A vector written in part keeps the rest; an empty range disables ping sockets.
    assert sysctl.parse("kernel.sem", "1", t["kernel.sem"]) == "1\t32000\t32\t128"
    assert sysctl.parse("net.ipv4.ping_group_range", "10 5") == "1\t0"


@pytest.mark.parametrize(("key", "value"), [
    ("net.ipv4.ip_forward", "yes"), ("fs.mqueue.msg_max", "0"), ("kernel.sem", "1 2 3 4 5"),
    ("net.ipv4.ip_local_port_range", "2000 1000"), ("net.nope", "1"),
])  # fmt: skip
def test_values_the_kernel_refuses(key: str, value: str) -> None:
    with pytest.raises(sysctl.SysctlError):
        sysctl.sysctl_table({key: value})


def test_privileged_ports_may_not_overlap_the_local_range() -> None:
    sysctl.sysctl_table({"net.ipv4.ip_unprivileged_port_start": "32768"})
    with pytest.raises(sysctl.SysctlError):
        sysctl.sysctl_table({"net.ipv4.ip_unprivileged_port_start": "40000"})
    table = sysctl.sysctl_table({})
    with pytest.raises(sysctl.SysctlError):
        sysctl.writer(table, "net.ipv4.ip_local_port_range")("100 200")
    assert table["net.ipv4.ip_local_port_range"] == "32768\t60999"
