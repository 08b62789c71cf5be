"""Real servers in the sandbox (Debian's nginx-light, redis-server, nodejs, Python), each
served and asked from inside one ``runsc-py do`` sandbox (its own network namespace with
loopback), plus ``O_ASYNC``/``SIGIO`` as nginx's master uses it, natively and sandboxed.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_native, run_sandbox

SYSTEM_PYTHON = "/usr/bin/python3"


def _tool(name: str) -> str:
    path = shutil.which(name, path=BASE_ENV["PATH"])
    assert path, f"{name} is not installed (scripts/test.sh installs it)"
    return path


def _sandbox_sh(runsc_root: Path, script: str, cwd: Path) -> str:
    res = run_sandbox(["/bin/sh", "-c", script], root=runsc_root, env=BASE_ENV, cwd=cwd,
                      timeout=90)
    assert res.rc == 0, res.describe()
    return res.stdout


# Wait for a server: up to ~6 s of attempts.
RETRY = "for i in $(seq 1 30); do {probe} && break; sleep 0.2; done"


def test_nginx_static_file(runsc_root: Path, tmp_path: Path) -> None:
    _tool("nginx")
    _tool("curl")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from nginx\n")
    (tmp_path / "nginx.conf").write_text(textwrap.dedent(f"""
        daemon off;
        master_process on;
        user root;
        worker_processes 2;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log warn;
        events {{ worker_connections 64; }}
        http {{
          access_log off;
          client_body_temp_path {tmp_path}/body;
          proxy_temp_path {tmp_path}/proxy;
          fastcgi_temp_path {tmp_path}/fastcgi;
          uwsgi_temp_path {tmp_path}/uwsgi;
          scgi_temp_path {tmp_path}/scgi;
          server {{ listen 127.0.0.1:8089; listen [::1]:8089; root {www}; }}
        }}
    """))
    probe = "curl -sf http://127.0.0.1:8089/ >/dev/null"
    out = _sandbox_sh(runsc_root, f"""
        nginx -c {tmp_path}/nginx.conf &
        {RETRY.format(probe=probe)}
        curl -s http://127.0.0.1:8089/
        curl -s -g 'http://[::1]:8089/'
        curl -s -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:8089/missing
        for i in 1 2 3 4 5 6 7 8 9 10; do curl -s http://127.0.0.1:8089/; done | sort | uniq -c
        kill -QUIT $(cat {tmp_path}/nginx.pid)
        wait
    """, tmp_path)
    lines = [line.strip() for line in out.splitlines()]
    assert lines == ["hello from nginx", "hello from nginx", "404", "10 hello from nginx"], out


def test_redis(runsc_root: Path, tmp_path: Path) -> None:
    _tool("redis-server")
    probe = "redis-cli -p 6390 ping >/dev/null 2>&1"
    out = _sandbox_sh(runsc_root, f"""
        redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no --dir {tmp_path} \\
            --logfile {tmp_path}/redis.log &
        {RETRY.format(probe=probe)}
        redis-cli -p 6390 set greeting hello
        redis-cli -p 6390 get greeting
        redis-cli -p 6390 incrby n 41 >/dev/null; redis-cli -p 6390 incr n
        redis-cli -p 6390 rpush l a b c >/dev/null; redis-cli -p 6390 lrange l 0 -1
        redis-cli -p 6390 shutdown nosave
        wait
    """, tmp_path)
    assert out.split() == ["OK", "hello", "42", "a", "b", "c"], out


def test_node_http(runsc_root: Path, tmp_path: Path) -> None:
    _tool("node")
    (tmp_path / "http.js").write_text(textwrap.dedent("""
        const http = require('http');
        const srv = http.createServer((req, res) => res.end('node says ' + req.url));
        srv.listen(0, '127.0.0.1', async () => {
          const port = srv.address().port;
          for (const path of ['/a', '/b']) {
            const body = await new Promise((ok) => http.get({host: '127.0.0.1', port, path},
              (res) => { let b = ''; res.on('data', (d) => b += d);
                         res.on('end', () => ok(res.statusCode + ' ' + b)); }));
            console.log(body);
          }
          srv.close();
        });
    """))
    out = _sandbox_sh(runsc_root, f"node {tmp_path}/http.js", tmp_path)
    assert out == "200 node says /a\n200 node says /b\n"


PYTHON_SERVERS = textwrap.dedent('''
    import asyncio, http.server, os, selectors, socket, socketserver, threading, urllib.request

    async def tcp_and_unix():
        async def upper(r, w):
            w.write((await r.read(100)).upper())
            await w.drain()
            w.close()
        srv = await asyncio.start_server(upper, "127.0.0.1", 0)
        r, w = await asyncio.open_connection(*srv.sockets[0].getsockname()[:2])
        w.write(b"asyncio tcp")
        print(await r.read(100))
        w.close()
        srv.close()
        a, b = socket.socketpair()
        r, w = await asyncio.open_connection(sock=a)
        b.sendall(b"over a socketpair")
        print(await r.read(100))
        w.close()
        b.close()

    asyncio.run(tcp_and_unix())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    os.chdir(os.environ["WWW"])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/file.txt" % httpd.server_address[1]
    print(urllib.request.urlopen(url).read())
    httpd.shutdown()

    class Echo(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(self.request.recv(100)[::-1])

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as ss:
        threading.Thread(target=ss.serve_forever, daemon=True).start()
        with socket.create_connection(ss.server_address) as c:
            c.sendall(b"socketserver")
            print(c.recv(100))
        ss.shutdown()

    sel = selectors.DefaultSelector()
    print(type(sel).__name__)
    l = socket.socket()
    l.bind(("127.0.0.1", 0))
    l.listen()
    l.setblocking(False)
    sel.register(l, selectors.EVENT_READ)
    c = socket.create_connection(l.getsockname())
    print([key.fileobj is l for key, ev in sel.select(5)])
''')


def test_python_servers_differential(runsc_root: Path, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("served by http.server\n")
    script = tmp_path / "servers.py"
    script.write_text(PYTHON_SERVERS)
    env = {**BASE_ENV, "WWW": str(tmp_path)}
    argv = [SYSTEM_PYTHON, "-I", str(script)]
    native = run_native(argv, env=env, cwd=tmp_path)
    assert native.rc == 0, native.describe()
    assert "EpollSelector" in native.stdout
    sandbox = run_sandbox(argv, root=runsc_root, env=env, cwd=tmp_path)
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout


MULTIPROCESSING_SCRIPT = textwrap.dedent('''
    import asyncio, multiprocessing as mp, os, socket

    def square(d, k):
        d[k] = k * k

    async def unix_server(path):
        async def echo(r, w):
            w.write(b"unix: " + await r.read(100))
            await w.drain()
            w.close()
        srv = await asyncio.start_unix_server(echo, path)
        r, w = await asyncio.open_unix_connection(path)
        w.write(b"asyncio")
        print(await r.read(100))
        w.close()
        srv.close()
        await srv.wait_closed()

    if __name__ == "__main__":
        asyncio.run(unix_server(os.path.join(os.environ["WWW"], "asyncio.sock")))
        # A Manager: a server process reached over a unix socket.
        with mp.Manager() as m:
            d = m.dict()
            ps = [mp.Process(target=square, args=(d, i)) for i in range(3)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            print("manager", sorted(d.items()), [p.exitcode for p in ps])
        # forkserver: every worker's pipes reach it over a unix socket with SCM_RIGHTS.
        with mp.get_context("forkserver").Pool(2) as pool:
            print("forkserver pool", pool.map(abs, [-1, -2, 3]))
        a, b = socket.socketpair()
        r, w = os.pipe()
        socket.send_fds(a, [b"fd"], [w])
        msg, fds, flags, addr = socket.recv_fds(b, 10, 1)
        os.write(fds[0], b"through a passed fd")
        os.close(fds[0])
        os.close(w)
        print(msg, os.read(r, 100), os.read(r, 100))
''')


def test_python_multiprocessing_differential(runsc_root: Path, tmp_path: Path) -> None:
    """Unix sockets by path and SCM_RIGHTS as Python's standard library uses them."""
    script = tmp_path / "mp.py"
    script.write_text(MULTIPROCESSING_SCRIPT)
    env = {**BASE_ENV, "WWW": str(tmp_path)}
    argv = [SYSTEM_PYTHON, "-I", str(script)]
    native = run_native(argv, env=env, cwd=tmp_path)
    assert native.rc == 0, native.describe()
    assert "forkserver pool [1, 2, 3]" in native.stdout
    sandbox = run_sandbox(argv, root=runsc_root, env=env, cwd=tmp_path, timeout=120)
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout


SIGIO_SCRIPT = textwrap.dedent('''
    import fcntl, os, signal, socket, struct, termios
    got = []
    signal.signal(signal.SIGIO, lambda *a: got.append("SIGIO"))
    a, b = socket.socketpair()
    print("owner before", fcntl.fcntl(a, fcntl.F_GETOWN))
    fcntl.fcntl(a, fcntl.F_SETOWN, os.getpid())
    print("owner", fcntl.fcntl(a, fcntl.F_GETOWN) == os.getpid())
    fcntl.ioctl(a, termios.FIOASYNC, struct.pack("i", 1))
    print("O_ASYNC", bool(fcntl.fcntl(a, fcntl.F_GETFL) & os.O_ASYNC))
    b.send(b"x")
    if not got:
        signal.sigtimedwait([signal.SIGALRM], 0.5)  # an interruptible wait for SIGIO
    print("signals", got[:1])
    fcntl.fcntl(a, fcntl.F_SETFL, fcntl.fcntl(a, fcntl.F_GETFL) & ~os.O_ASYNC)
    print("O_ASYNC after", bool(fcntl.fcntl(a, fcntl.F_GETFL) & os.O_ASYNC))
    try:
        fcntl.fcntl(a, fcntl.F_SETOWN, 999999)
    except OSError as e:
        print("no such owner", e.errno)
''')


@pytest.mark.parametrize("python_only", [False, True], ids=["fast", "python-only"])
def test_sigio_differential(runsc_root: Path, tmp_path: Path, python_only: bool) -> None:
    script = tmp_path / "sigio.py"
    script.write_text(SIGIO_SCRIPT)
    argv = [SYSTEM_PYTHON, "-I", str(script)]
    native = run_native(argv, env=BASE_ENV, cwd=tmp_path)
    assert native.rc == 0, native.describe()
    assert "signals ['SIGIO']" in native.stdout, native.stdout
    sandbox = run_sandbox(argv, root=runsc_root, env=BASE_ENV, cwd=tmp_path,
                          python_only=python_only)
    assert sandbox.rc == 0, sandbox.describe()
    assert sandbox.stdout == native.stdout


# Many connections closed at once while the server's level-triggered epoll watches them:
# every EOF must be reported. (The event loop once dropped the queued events of every host
# fd when one was closed; host sockets are watched edge-triggered, so those never came back.)
LOST_WAKEUPS = textwrap.dedent("""
    import os, select, socket, sys
    K, ROUNDS = 50, 30
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(512); srv.setblocking(False)
    port = srv.getsockname()[1]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        for _ in range(ROUNDS):
            cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(K)]
            for c in cs: c.sendall(b"ping")
            for c in cs: c.recv(4)
            for c in cs: c.close()
            os.write(w, b"r")
        os._exit(0)
    os.close(w)
    ep = select.epoll(); ep.register(srv.fileno(), select.EPOLLIN); ep.register(r, select.EPOLLIN)
    conns, done, closed = {}, 0, 0
    while done < ROUNDS or conns:
        evs = ep.poll(5)
        if not evs:
            print("lost wakeup: round", done, "open", len(conns)); os.kill(pid, 9); break
        for fd, ev in evs:
            if fd == srv.fileno():
                while True:
                    try: c, _ = srv.accept()
                    except BlockingIOError: break
                    c.setblocking(False); conns[c.fileno()] = c; ep.register(c.fileno(), select.EPOLLIN)
            elif fd == r:
                done += len(os.read(r, 100))
            else:
                c = conns[fd]
                if c.recv(100): c.sendall(b"pong")
                else: ep.unregister(fd); del conns[fd]; c.close(); closed += 1
    os.waitpid(pid, 0)
    print("EOFs reported", closed)
""")


@pytest.mark.parametrize("python_only", [False, True], ids=["fast", "python-only"])
def test_no_lost_wakeups(runsc_root: Path, tmp_path: Path, python_only: bool) -> None:
    script = tmp_path / "eofs.py"
    script.write_text(LOST_WAKEUPS)
    res = run_sandbox([SYSTEM_PYTHON, "-I", str(script)], root=runsc_root, env=BASE_ENV,
                      cwd=tmp_path, python_only=python_only, timeout=120)
    assert (res.rc, res.stdout) == (0, "EOFs reported 1500\n"), res.describe()
