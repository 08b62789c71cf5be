"""Unix sockets bound to a path or an abstract name, natively vs sandboxed: bind makes a
socket node, listen/accept/connect, names both ways, SO_PEERCRED, seqpacket boundaries,
the errors of a taken name, a removed node, a regular file, a wrong type, autobind, and
Python's multiprocessing Manager (a unix-socket server process); datagrams sent by name."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_native, run_sandbox

SCRIPT = textwrap.dedent('''
    import errno, multiprocessing, os, socket, struct, tempfile, threading
    d = tempfile.mkdtemp()
    path = os.path.join(d, "s.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(path)
    srv.listen(4)
    print("node", oct(os.stat(path).st_mode & 0o170000), srv.getsockname() == path)
    print("acceptconn", srv.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    def serve():
        c, addr = srv.accept()
        pid, uid, gid = struct.unpack("iII", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        c.sendall(c.recv(100).upper() + b" %d %r" % (pid == os.getpid(), addr))
        c.close()
    th = threading.Thread(target=serve)
    th.start()
    cl = socket.socket(socket.AF_UNIX)
    cl.connect(path)
    print("peer", cl.getpeername() == path, repr(cl.getsockname()))
    cl.sendall(b"hi unix")
    print(cl.recv(100), cl.recv(100))
    th.join()
    for what, call in (
        ("bind again", lambda: socket.socket(socket.AF_UNIX).bind(path)),
        ("unlinked", lambda: (os.unlink(path), socket.socket(socket.AF_UNIX).connect(path))),
        ("regular", lambda: (open(path, "w").close(), socket.socket(socket.AF_UNIX).connect(path))),
        ("path wrong type", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).connect(path)),
    ):
        try:
            call()
            print(what, "ok")
        except OSError as e:
            print(what, errno.errorcode[e.errno])
    a = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.bind("\\0runsc-test-abstract")
    a.listen(1)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.connect("\\0runsc-test-abstract")
    c, _ = a.accept()
    b.send(b"m1")
    b.send(b"m2")
    print(c.recv(10), c.recv(10), a.getsockname())
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect("\\0runsc-test-abstract")
    except OSError as e:
        print("abstract wrong type", errno.errorcode[e.errno])
    b.close()
    print("eof", c.recv(10))
    auto = socket.socket(socket.AF_UNIX)
    auto.bind("")
    print("autobind", len(auto.getsockname()), auto.getsockname()[:1])
    with multiprocessing.Manager() as m:
        shared = m.list([1, 2])
        shared.append(3)
        print("manager", list(shared))
''')


@pytest.mark.parametrize("python_only", [False, True], ids=["fast", "python-only"])
def test_unix_sockets_differential(runsc_root: Path, tmp_path: Path, python_only: bool) -> None:
    script = tmp_path / "unix.py"
    script.write_text(SCRIPT)
    argv = ["/usr/bin/python3", "-I", str(script)]
    env = {**BASE_ENV, "TMPDIR": str(tmp_path)}  # mkdtemp's place: cleaned with tmp_path
    # The native run in a network namespace of its own: abstract names are per namespace.
    native = run_native(["unshare", "--net", *argv], env=env, cwd=tmp_path)
    assert native.rc == 0, native.describe()
    assert "manager [1, 2, 3]" in native.stdout
    sandbox = run_sandbox(argv, root=runsc_root, env=env, cwd=tmp_path,
                          python_only=python_only)
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout


DGRAM_SCRIPT = textwrap.dedent('''
    import errno, os, socket, tempfile
    d = tempfile.mkdtemp()
    srvp, clip = os.path.join(d, "srv"), os.path.join(d, "cli")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(srvp)
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    cli.bind(clip)
    cli.sendto(b"dgram one", srvp)
    data, src = srv.recvfrom(100)
    print(data, src == clip)
    srv.sendto(b"reply", src)
    print(cli.recvfrom(100)[0])
    anon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anon.sendto(b"from unnamed", srvp)
    print(srv.recvfrom(100))
    cli.connect(srvp)
    cli.send(b"connected send")
    print(srv.recv(100), cli.getpeername() == srvp)
    try:
        anon.sendto(b"not its peer", clip)
    except OSError as e:
        print("to a connected socket", errno.errorcode[e.errno])
    cli.sendto(b"x" * 10, srvp)
    print("trunc", len(srv.recv(4)))
    cli.sendmsg([b"via ", b"sendmsg"], [], 0, srvp)
    m = srv.recvmsg(100)
    print(m[0], m[3] == clip)
    a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.bind("\\0runsc-test-dgram")
    anon.sendto(b"abstract", "\\0runsc-test-dgram")
    print(a.recv(100))
    try:
        anon.sendto(b"x", os.path.join(d, "nope"))
    except OSError as e:
        print("no such name", errno.errorcode[e.errno])
    srv.close()
    try:
        cli.send(b"gone")
    except OSError as e:
        print("receiver closed", errno.errorcode[e.errno])
    b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.bind(os.path.join(d, "b"))
    b.setblocking(False)
    try:
        b.recv(10)
    except OSError as e:
        print("empty", errno.errorcode[e.errno])
''')


@pytest.mark.parametrize("python_only", [False, True], ids=["fast", "python-only"])
def test_unix_datagrams_by_name(runsc_root: Path, tmp_path: Path, python_only: bool) -> None:
    script = tmp_path / "dgram.py"
    script.write_text(DGRAM_SCRIPT)
    argv = ["/usr/bin/python3", "-I", str(script)]
    env = {**BASE_ENV, "TMPDIR": str(tmp_path)}
    native = run_native(["unshare", "--net", *argv], env=env, cwd=tmp_path)
    assert native.rc == 0, native.describe()
    assert "receiver closed ECONNREFUSED" in native.stdout
    sandbox = run_sandbox(argv, root=runsc_root, env=env, cwd=tmp_path, python_only=python_only)
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout
