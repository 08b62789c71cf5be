"""Inet sockets in the sandbox: TCP and UDP over IPv4 and IPv6 (host sockets the sentry holds,
in the sandbox's network namespace).

Differential: the same Debian ``/usr/bin/python3`` script natively and under ``runsc-py do``
(its default network: a namespace of its own with loopback up) prints the same lines. Then a
server in the sandbox is reached from outside it: with ``--network host`` from the host, and
with ``--network none`` from a process that joins the sandbox's network namespace.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import procs
from helpers.runner import BASE_ENV, run_native, run_sandbox, runsc_argv, runsc_global_flags

SYSTEM_PYTHON = "/usr/bin/python3"

SCRIPT = textwrap.dedent(r'''
    import errno, select, socket, struct, threading

    def echo_server(family, host):
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        print("reuseaddr", srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0)
        srv.bind((host, 0))
        srv.listen(8)
        print("acceptconn", srv.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        def serve():
            for _ in range(2):
                c, _addr = srv.accept()
                while True:
                    data = c.recv(7)
                    if not data:
                        break
                    c.sendall(data.upper())
                c.close()
        th = threading.Thread(target=serve)
        th.start()
        return srv, th

    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        srv, th = echo_server(family, host)
        addr = srv.getsockname()
        print("bound", addr[0], addr[1] > 0)
        for _ in range(2):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            print("nodelay", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            c.connect(addr)
            print("peer", c.getpeername()[:2] == addr[:2], c.getsockname()[0])
            c.sendall(b"hello, " * 300)
            got = b""
            while len(got) < 2100:
                got += c.recv(4096)
            print("echo", len(got), got[:7])
            print("peek", c.send(b"x"), c.recv(1, socket.MSG_PEEK), c.recv(1))
            c.shutdown(socket.SHUT_WR)
            print("eof", c.recv(10))
            c.close()
        th.join()
        srv.close()

    # UDP: addresses both ways, truncation, MSG_TRUNC
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        a = socket.socket(family, socket.SOCK_DGRAM)
        a.bind((host, 0))
        b = socket.socket(family, socket.SOCK_DGRAM)
        b.bind((host, 0))
        b.sendto(b"datagram-1", a.getsockname())
        data, src = a.recvfrom(100)
        print("udp", data, src[:2] == b.getsockname()[:2])
        b.sendto(b"0123456789", a.getsockname())
        print("udp trunc", a.recv(4))
        b.sendto(b"0123456789", a.getsockname())
        print("udp msg_trunc", len(a.recv(4, socket.MSG_TRUNC)))
        b.sendto(b"abcdef", a.getsockname())
        data, anc, flags, src = a.recvmsg(3)
        print("recvmsg", data, flags & socket.MSG_TRUNC != 0, src[:2] == b.getsockname()[:2])
        a.connect(b.getsockname())
        a.send(b"connected")
        print("udp connected", b.recv(100))

    # non-blocking connect to a closed port, then a blocking one
    s = socket.socket()
    s.setblocking(False)
    print("nb connect", s.connect_ex(("127.0.0.1", 1)) in (errno.EINPROGRESS, errno.ECONNREFUSED))
    select.select([], [s], [], 5)
    print("so_error", errno.errorcode[s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)])
    try:
        socket.create_connection(("127.0.0.1", 1))
    except OSError as e:
        print("refused", errno.errorcode[e.errno])

    # SO_RCVTIMEO: a blocking recv times out with EAGAIN
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.socket()
    c.connect(srv.getsockname())
    peer, _ = srv.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("qq", 0, 200000))
    print("rcvtimeo", struct.unpack("qq", c.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)))
    try:
        c.recv(10)
    except OSError as e:
        print("timed out", errno.errorcode[e.errno])
    # EPIPE once the peer is gone
    peer.close()
    try:
        for _ in range(100):
            c.send(b"x" * 1000)
    except OSError as e:
        print("send after close", errno.errorcode[e.errno])
    print("type", c.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE),
          c.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN))
    for bad in ((socket.SOL_SOCKET, 999), (socket.IPPROTO_IP, 45)):
        try:
            c.getsockopt(*bad)
        except OSError as e:
            print("option", bad, errno.errorcode[e.errno])
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).bind(("127.0.0.1", srv.getsockname()[1]))
    except OSError as e:
        print("bind in use", errno.errorcode[e.errno])
''')


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "inet.py"
    path.write_text(SCRIPT)
    return path


def test_inet_differential(script: Path, runsc_root: Path) -> None:
    argv = [SYSTEM_PYTHON, "-I", str(script)]
    native = run_native(argv, env=BASE_ENV, cwd="/")
    assert native.rc == 0, native.describe()
    sandbox = run_sandbox(argv, root=runsc_root, env=BASE_ENV, cwd="/")
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout
    # Sanity of the reference itself.
    for line in ("echo 2100 b'HELLO, '", "refused ECONNREFUSED", "timed out EAGAIN",
                 "send after close EPIPE", "option (1, 999) ENOPROTOOPT"):
        assert line in native.stdout, native.stdout


SERVER = textwrap.dedent('''
    import socket, sys
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    print(srv.getsockname()[1], flush=True)
    for _ in range(2):
        c, _ = srv.accept()
        c.sendall(b"served-from-sandbox " + c.recv(100))
        c.close()
''')


def _start_server(runsc_root: Path, tmp_path: Path, network: str) -> tuple[subprocess.Popen[str], int]:
    path = tmp_path / "server.py"
    path.write_text(SERVER)
    argv = [*runsc_argv(), *runsc_global_flags(root=runsc_root), "do", "--network", network,
            "--", SYSTEM_PYTHON, "-I", str(path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=BASE_ENV, cwd="/",
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"server printed {line!r}"
    return proc, int(line)


def _ask(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"ping")
        return c.recv(100)


def _stop(proc: subprocess.Popen[str]) -> None:
    try:
        proc.wait(15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def test_server_reached_from_the_host(runsc_root: Path, tmp_path: Path) -> None:
    proc, port = _start_server(runsc_root, tmp_path, "host")
    try:
        assert _ask(port) == b"served-from-sandbox ping"
        assert _ask(port) == b"served-from-sandbox ping"
    finally:
        _stop(proc)
    assert proc.returncode == 0


def test_server_in_own_namespace(runsc_root: Path, tmp_path: Path) -> None:
    """--network none: the host's loopback does not reach it; a process in the sandbox's
    network namespace (/proc/PID/ns/net of the sandbox process) does."""
    proc, port = _start_server(runsc_root, tmp_path, "none")
    try:
        assert os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        with pytest.raises(ConnectionRefusedError):
            _ask(port)
        for _ in range(2):
            r, w = os.pipe()
            child = os.fork()
            if child == 0:  # join the sandbox's namespace, then connect
                try:
                    os.close(r)
                    libc = ctypes.CDLL(None, use_errno=True)
                    fd = os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY)
                    if libc.setns(fd, 0x40000000) != 0:
                        os._exit(3)
                    os.write(w, _ask(port))
                    os._exit(0)
                except BaseException:
                    os._exit(4)
            os.close(w)
            with os.fdopen(r, "rb") as f:
                got = f.read()
            _pid, status = os.waitpid(child, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert got == b"served-from-sandbox ping"
    finally:
        _stop(proc)
    assert proc.returncode == 0
    assert not procs.alive(proc.pid)


NETLINK_SCRIPT = textwrap.dedent(r'''
    import errno, fcntl, os, socket, struct, subprocess

    def run(*argv):
        p = subprocess.run(argv, capture_output=True, text=True)
        print("$", " ".join(argv), "->", p.returncode)
        print(p.stdout, end="")
        print(p.stderr, end="")

    print("if_nameindex", socket.if_nameindex())
    print("if_nametoindex", socket.if_nametoindex("lo"))
    run("ip", "-o", "link")
    run("ip", "-o", "addr")
    run("ip", "route")
    run("ip", "-6", "route")
    # Changing the network needs CAP_NET_ADMIN: without it (bounding set), EPERM.
    run("setpriv", "--bounding-set=-net_admin", "ip", "link", "set", "lo", "mtu", "1000")
    run("setpriv", "--bounding-set=-net_admin", "ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
    run("ip", "-o", "addr")

    # A raw RTM_GETLINK dump: replies carry the socket's own port id and the request's seq.
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    nl.bind((0, 0))
    port = nl.getsockname()[0]
    print("autobound to our pid", port == os.getpid(), "peer", nl.getpeername())
    req = struct.pack("<IHHII", 32, 18, 0x301, 7, 0) + struct.pack("<BxHiII", 0, 0, 0, 0, 0)
    nl.send(req)
    msgs = []
    while True:
        data, src = nl.recvfrom(65536)
        print("from", src)
        off, done = 0, False
        while off < len(data):
            ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", data, off)
            msgs.append((typ, seq, pid == port))
            done = done or typ == 3
            off += (ln + 3) & ~3
        if done:
            break
    print("dump", msgs)
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE).bind((port, 0))
    except OSError as e:
        print("same port", errno.errorcode[e.errno])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r = fcntl.ioctl(s, 0x8915, struct.pack("16s24x", b"lo"))  # SIOCGIFADDR
    print("SIOCGIFADDR lo", socket.inet_ntoa(r[20:24]))
''')


def test_netlink_differential(tmp_path: Path, runsc_root: Path) -> None:
    """Reading the network through route netlink and netdevice ioctls (glibc, iproute2, a
    raw dump), natively in a fresh network namespace vs in the sandbox's own; changing it
    without CAP_NET_ADMIN fails in both."""
    for tool in ("ip", "setpriv", "unshare"):
        assert shutil.which(tool, path=BASE_ENV["PATH"]), f"{tool} is not installed"
    path = tmp_path / "netlink.py"
    path.write_text(NETLINK_SCRIPT)
    native = run_native(["unshare", "-n", "sh", "-c",
                         f"ip link set lo up && exec {SYSTEM_PYTHON} -I {path}"],
                        env=BASE_ENV, cwd="/")
    assert native.rc == 0, native.describe()
    assert "RTNETLINK answers: Operation not permitted" in native.stdout, native.stdout
    assert "inet 127.0.0.1/8" in native.stdout
    sandbox = run_sandbox([SYSTEM_PYTHON, "-I", str(path)], root=runsc_root, env=BASE_ENV,
                          cwd="/")
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout


def test_netlink_limits(runsc_root: Path) -> None:
    """What the sandbox does not offer fails as a kernel without it: other netlink
    protocols, messages to anyone but the kernel, changes even with CAP_NET_ADMIN."""
    script = textwrap.dedent(r'''
        import errno, socket, struct
        for proto in (15, 9, 7):  # uevents, audit, xfrm (generic and the connector are served)
            try:
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
            except OSError as e:
                print(proto, errno.errorcode[e.errno])
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        for dest in ((1, 0), (0, 1)):
            try:
                nl.sendto(b"\0" * 16, dest)
            except OSError as e:
                print("to", dest, errno.errorcode[e.errno])
        # RTM_NEWLINK with an ack request: the answer is an NLMSG_ERROR -EPERM echoing it
        req = struct.pack("<IHHII", 32, 16, 0x5, 9, 0) + bytes(16)
        print("sent", nl.send(req))
        data = nl.recv(100)
        ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", data)
        print("reply", typ, seq, struct.unpack_from("<i", data, 16)[0], len(data))
    ''')
    res = run_sandbox([SYSTEM_PYTHON, "-I", "-c", script], root=runsc_root, env=BASE_ENV,
                      cwd="/")
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == [
        "15 EPROTONOSUPPORT", "9 EPROTONOSUPPORT", "7 EPROTONOSUPPORT",
        "to (1, 0) EPERM", "to (0, 1) EPERM", "sent 32", "reply 2 9 -1 52",
    ]
