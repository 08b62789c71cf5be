"""Message encoding of the sentry's netlink families against bytes built from the kernel
headers (cn_proc.h, connector.h, genetlink.h, taskstats.h) and a Linux 6.18 reply."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from sentry.abi.linux.errors import LinuxError
from sentry.fsimpl.sock import netlink_connector as cn
from sentry.fsimpl.sock import netlink_genl as genl


def test_fork_event_layout() -> None:
    got = cn.encode_event(cn.PROC_EVENT_FORK, struct.pack("<iiii", 1, 1, 5, 5), seq=9,
                          timestamp_ns=0x1122334455667788, cpu=1)
    want = (struct.pack("<IHHII", 76, 3, 0, 9, 0)          # nlmsghdr: NLMSG_DONE from port 0
            + struct.pack("<IIIIHH", 1, 1, 9, 0, 40, 0)    # cn_msg: CN_IDX_PROC/CN_VAL_PROC
            + struct.pack("<IIQ", 1, 1, 0x1122334455667788)  # what, cpu, timestamp_ns
            + struct.pack("<iiii", 1, 1, 5, 5) + bytes(8))  # fork_proc_event, union padding
    assert got == want


def test_exit_event_is_the_largest_union_member() -> None:
    data = struct.pack("<iiIIii", 7, 7, 0x300, 17, 1, 1)
    msg = cn.encode_event(cn.PROC_EVENT_EXIT, data, seq=0, timestamp_ns=0)
    assert len(msg) == 16 + 20 + 40 and msg[-24:] == data


# CTRL_CMD_NEWFAMILY's attributes as Linux 6.18 answered CTRL_CMD_GETFAMILY "TASKSTATS"
# (family id 0x1f there) and "nlctrl".
_LINUX_TASKSTATS = bytes.fromhex(
    "0e0002005441534b5354415453000000060001001f000000080003000100000008000400000000000800"
    "0500000000002c000600140001000800010001000000080002000b000000140002000800010004000000"
    "080002000a000000")
_LINUX_NLCTRL = bytes.fromhex(
    "0b0002006e6c6374726c00000600010010000000080003000200000008000400000000000800050000000000"
    "2c000600140001000800010003000000080002000e00000014000200080001000a000000080002000c000000"
    "1c0007001800010008000200100000000b0001006e6f746966790000")


def test_family_attributes_as_linux() -> None:
    ours = genl.family_attrs(genl.TASKSTATS)
    assert ours == _LINUX_TASKSTATS.replace(bytes.fromhex("060001001f000000"),
                                            bytes.fromhex("0600010013000000"))
    assert genl.family_attrs(genl.NLCTRL) == _LINUX_NLCTRL


def test_taskstats_v13_offsets() -> None:
    raw = genl.pack_taskstats({"version": 13, "ac_pid": 42, "ac_comm": b"sh", "nvcsw": 5,
                               "ac_tgid": 42, "ac_etime": 9})
    assert len(raw) == 416
    assert struct.unpack_from("<H", raw, 0)[0] == 13
    assert struct.unpack_from("<I", raw, 128)[0] == 42 and struct.unpack_from("<I", raw, 368)[0] == 42
    assert raw[80:112] == b"sh".ljust(32, b"\0")
    assert struct.unpack_from("<Q", raw, 272)[0] == 5 and struct.unpack_from("<Q", raw, 144)[0] == 9


def test_parse_attrs_stops_at_a_bad_length() -> None:
    data = genl.nla(1, b"\x05\0\0\0") + struct.pack("<HH", 2, 9) + genl.nla(2, b"x")
    assert genl.parse_attrs(data) == {1: b"\x05\0\0\0"}


class _Creds:
    def capable(self, c: int) -> bool:
        return True


class _Task:
    creds = _Creds()
    tgid = 1


def test_connector_queue_is_bounded_and_overrun_reports_enobufs() -> None:
    s = cn.ConnectorSocket(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), 2, 0, 0, 11)
    try:
        s.rcvbuf = 10 * (76 + s.SKB_OVERHEAD)
        msg = cn.encode_event(cn.PROC_EVENT_EXEC, bytes(8), seq=0)
        assert all(s.deliver(msg, 1) for _ in range(10))
        assert not s.deliver(msg, 1)
        with pytest.raises(LinuxError) as e:
            s.recv(_Task(), 4096, 0)
        assert e.value.errno == errno.ENOBUFS
        data, n, src = s.recv(_Task(), 4096, 0)
        assert data == msg and n == 76 and src == (0, 1)
        assert len(s.local) == 9
    finally:
        s.release()
