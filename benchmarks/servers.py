#!/usr/bin/env python3
"""runsc-py against native on network servers: nginx and redis throughput, socket ping-pong latency.

Run on demand as root, never in CI: ``.venv/bin/python benchmarks/servers.py`` (or
``.venv/bin/python benchmarks/run.py --only servers``; a default run takes about 2 minutes on a
2-vCPU VM). Needs Debian's ``nginx-light``, ``redis-server``, ``redis-tools``, ``wrk`` and
``gcc`` (``apt-get install wrk``: the one scripts/test.sh does not install). Native and sandbox
are measured in the same run; only the sandbox/native ratios are meant to be compared across
runs (design §8). The load average at the start and the end is printed: the numbers move with
what else the machine runs.

- **nginx**, requests/second: ``worker_processes 1``, ``access_log off``, a 128-byte static
  file on 127.0.0.1 (a free port), natively and as ``runsc-py do --network host -- nginx -c
  CONF``. The load comes from outside the sandbox, the same for both: ``wrk -t1 -cC -dDs``
  (HTTP/1.1 keep-alive, C connections; ``keepalive_requests`` is high enough that no
  connection is closed during a run), after a 1 s warm-up; median of ``--reps`` runs. Then
  again with ``open_file_cache max=64`` (nginx no longer opens, stats and closes the file for
  every request), which shows what the sandbox's per-request file opens cost.
- **redis**, requests/second of SET and GET: ``redis-benchmark -q -t get,set -n N`` (its
  default 50 connections) against ``redis-server`` natively, in ``runsc-py do --network
  host`` and in ``runsc-py --python-only do --network host`` (the C fast path off); median of
  ``--reps``.
- **ping-pong**, ns per round trip of one byte each way with blocking read/write between two
  processes (``src/pingpong.c``, built static with gcc into the temporary directory): a unix
  ``socketpair`` and TCP over loopback (``TCP_NODELAY``), both ends in the sandbox; native,
  ``runsc-py do`` and ``runsc-py --python-only do``; median of ``--reps`` with the range of
  the runs. The sandbox's socketpair is the sentry's own (Python) object, so the C fast path
  does not apply to it; a TCP socket is a host socket, whose read/write the C path serves.
  Each also on one CPU (``taskset -c 0``; in the sandbox's case the sentry and the gofer too):
  on a VM a wake-up on the other, idle, CPU costs tens of microseconds and varies from run to
  run, so the free-running native number is noisy; the pinned one is not.

What limits the sandbox: for each server row, the CPU time used during the measurement by the
server side (native: the server's processes; sandbox: the sentry, the gofer, the workload's
processes) and by the load generator, as a share of one CPU and per request (the sentry is one
Python thread: near 100% it is the limit). ``--profile`` (default; ``--no-profile`` skips it)
repeats a short run of each under ``runsc-py --strace --debug-log FILE`` (which turns the C
fast path off) and counts the workload's trapped syscalls per request / round trip; the last
section divides the sentry's CPU per request by that count. If a load generator fails or times
out against a sandboxed server, the row says so with the server's state (does it answer a new
connection, which syscall each workload thread is in, the port's sockets with unread bytes)
and a PROBLEM line gives the commands to reproduce it; nothing is retried.

gVisor's published reference points (its performance guide) are printed in the header: redis
~0.5x native, Node.js HTTP ~0.4x native. Everything started is stopped by pid (nginx SIGQUIT,
redis SIGTERM; the sandbox forwards either to its workload; SIGKILL to the server's own session
after 15 s, reported); this process is a child subreaper, so anything left behind is found,
killed by pid and reported, as is a port still accepting connections. The temporary directory
(configs, runsc-py ``--root``, logs, the ping-pong binary) is removed. Options: ``--reps``,
``--duration``, ``--connections``, ``--requests``, ``--scale`` (ping-pong iterations),
``--only nginx,redis,pingpong``, ``--no-profile``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers.runner import BASE_ENV, runsc_argv  # noqa: E402

#: Seconds to wait for a server to answer its first request, and to stop after its signal.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36
REFERENCE = "gVisor's published reference points: redis ~0.5x native, Node.js HTTP ~0.4x native"
#: Which Debian package provides each tool.
TOOLS = {
    "nginx": ("nginx", "wrk"),
    "redis": ("redis-server", "redis-benchmark"),
    "pingpong": ("gcc", "taskset"),
}
PACKAGES = {"nginx": "nginx-light", "wrk": "wrk", "redis-server": "redis-server",
            "redis-benchmark": "redis-tools", "gcc": "gcc",
            "taskset": "util-linux"}


T = TypeVar("T")


class BenchError(RuntimeError):
    pass


def tool(name: str) -> str:
    path = shutil.which(name, path=BASE_ENV["PATH"])
    if not path:
        raise BenchError(f"{name} is not installed: apt-get install {PACKAGES[name]}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- processes and their CPU time -------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, utime+stime seconds) of *pid*, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                kids.setdefault(st[0], []).append(int(d))
    return kids


def descendants(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Server:
    """A server started in its own session; *sandboxed* if it runs under ``runsc-py do``."""

    name: str
    argv: list[str]
    sandboxed: bool
    stop_signal: signal.Signals
    ready: Callable[[], bool]
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    roles: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=BASE_ENV, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} before serving: "
                                 f"{self.log_tail()}")
            if self.ready():
                self.roles = self.role_map()
                return
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])[-300:]

    def role_map(self) -> dict[int, str]:
        """Host pid -> "sentry" / "gofer" / "workload" (sandbox) or "server" (native)."""
        assert self.proc
        roles = {}
        for p in descendants(self.proc.pid):
            if not self.sandboxed:
                roles[p] = "server"
            elif p == self.proc.pid:
                roles[p] = "sentry"
            elif "-m gofer" in _cmdline(p):
                roles[p] = "gofer"
            else:
                roles[p] = "workload"
        return roles

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each role (processes started since are picked up too)."""
        assert self.proc
        for p in descendants(self.proc.pid):
            if p not in self.roles:
                self.roles[p] = "workload" if self.sandboxed else "server"
        out: dict[str, float] = {}
        for p, role in self.roles.items():
            st = _stat(p)
            if st:
                out[role] = out.get(role, 0.0) + st[1]
        return out

    def diagnose(self) -> str:
        """What a stalled server is doing: does it answer a new connection, which syscall each
        workload thread is in (host view: a trapped call waits in the host kernel until the
        sentry answers it), and the port's sockets with queued bytes (``ss``)."""
        if self.proc is None or self.proc.poll() is not None:
            return f"exited: {self.log_tail()}"
        try:
            from ptrace.syscall.names import SYSCALL_NAMES as names
        except ImportError:
            names = {}
        parts = ["answers a new connection" if self.ready() else "does NOT answer a new connection"]
        calls: Counter[str] = Counter()
        for p, role in self.role_map().items():
            for task in Path(f"/proc/{p}/task").glob("*") if role in ("workload", "server") else ():
                try:
                    first = (task / "syscall").read_text().split()[0]
                except (OSError, IndexError):
                    continue
                calls[names.get(int(first), first) if first.lstrip("-").isdigit() else first] += 1
        parts.append("threads in: " + ", ".join(f"{k} x{v}" for k, v in calls.most_common()))
        if self.sandboxed:
            try:
                wchan = Path(f"/proc/{self.proc.pid}/wchan").read_text()
                state = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                parts.append(f"sentry state {state} wchan {wchan or '-'}")
            except OSError:
                pass
        before = self.queued_sockets()
        time.sleep(1)
        still = [r for r in self.queued_sockets() if r in before]
        parts.append(f"{len(still)} sockets of the port with bytes (or a FIN, or connections to accept) "
                     "queued and unread for 1 s" + (": " + "; ".join(still[:6]) if still else ""))
        return "; ".join(parts)

    def queued_sockets(self) -> list[str]:
        """``ss`` lines (state recv-q send-q local peer) of the port's sockets with queued data."""
        try:
            ss = subprocess.run(["ss", "-tanH", f"( sport = :{self.port} or dport = :{self.port} )"],
                                capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        rows = [r.split() for r in ss.splitlines()]
        return [" ".join(r[:5]) for r in rows
                if len(r) >= 5 and (r[1] != "0" or (r[2] != "0" and r[0] != "LISTEN"))]

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.problems.append(f"{self.name} did not stop within {STOP_TIMEOUT:.0f} s of "
                                     f"{self.stop_signal.name}: SIGKILL to it and its descendants")
                for p in descendants(proc.pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.wait()
        rc = proc.returncode
        if rc not in (0, -self.stop_signal, 128 + self.stop_signal):
            self.problems.append(f"{self.name} exited with {rc}: {self.log_tail()}")


@dataclass
class Window:
    """CPU time used while the load generator ran: by role on the server side, by the client."""

    requests: int
    wall: float
    cpu: dict[str, float]
    client: float

    def share(self, role: str) -> float:
        return self.cpu.get(role, 0.0) / self.wall

    def per_request_us(self, role: str | None = None) -> float:
        used = sum(self.cpu.values()) if role is None else self.cpu.get(role, 0.0)
        return used / self.requests * 1e6 if self.requests else 0.0

    def note(self) -> str:
        order = ("server", "sentry", "gofer", "workload")
        parts = [f"{role} {100 * self.share(role):.0f}%" for role in order if role in self.cpu]
        sentry = f", sentry {self.per_request_us('sentry'):.0f}" if "sentry" in self.cpu else ""
        return (f"CPU: {', '.join(parts)}, client {100 * self.client / self.wall:.0f}%; "
                f"us/req: server side {self.per_request_us():.0f}{sentry}")


def measure_window(server: Server, load: Callable[[], tuple[T, int]]) -> tuple[T, Window]:
    """Run *load* (the load generator; returns (its result, requests it made)); return its
    result and the CPU time the server side and the client used meanwhile."""
    before = server.cpu()
    t0, ru0 = time.monotonic(), os.times()
    value, requests = load()
    wall, ru1 = time.monotonic() - t0, os.times()
    after = server.cpu()
    cpu = {role: after[role] - before.get(role, 0.0) for role in after}
    client = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
    return value, Window(requests, wall, cpu, client)


# --- the runs -----------------------------------------------------------------------------------


def run_cmd(argv: Sequence[str], timeout: float) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, env=BASE_ENV,
                              timeout=timeout, start_new_session=True, check=False)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"timeout after {timeout:.0f} s: {' '.join(argv)}") from e
    if proc.returncode:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(f"rc={proc.returncode} from {Path(argv[0]).name}: {msg[-1] if msg else ''}")
    return proc.stdout


@dataclass
class Row:
    case: str
    value: float | str
    unit: str
    native: float | str | None = None  # the native value this row is compared to
    note: str = ""


def shown(argv: Sequence[str]) -> str:
    """*argv* as a shell command, ``runsc-py`` for however runsc-py is started here."""
    prefix = runsc_argv()
    if list(argv[: len(prefix)]) == prefix:
        argv = ["runsc-py", *argv[len(prefix) :]]
    return shlex.join(argv)


def fmt(v: float | str, unit: str) -> str:
    return f"{v:,.0f} {unit}" if isinstance(v, float) else "n/a"


def ratio(a: float | str, b: float | str | None) -> str:
    return f"{a / b:.3f}x" if isinstance(a, float) and isinstance(b, float) and b else "-"


class Bench:
    def __init__(self, opts: argparse.Namespace, work: Path) -> None:
        self.opts = opts
        self.work = work
        self.root = work / "runsc-root"
        self.root.mkdir()
        self.rows: list[Row] = []
        self.profile: list[str] = []
        self.windows: dict[str, Window] = {}  # sandboxed server cases: their median run's CPU
        self.calls: dict[str, float] = {}  # the same cases: trapped calls per request (--strace)
        self.pingpongs: dict[tuple[str, str, bool], float] = {}  # (mode, way, pinned) -> ns/rt
        self.pp_calls: dict[str, float] = {}  # mode -> trapped calls per round trip (--strace)
        self.problems: list[str] = []
        self.ports: list[int] = []

    def sandbox(self, *, python_only: bool = False, network_host: bool = False,
                debug_log: Path | None = None) -> list[str]:
        argv = runsc_argv() + ["--root", str(self.root)]
        if debug_log:
            argv += ["--strace", "--debug-log", str(debug_log)]
        if python_only:
            argv.append("--python-only")
        return argv + ["do"] + (["--network", "host"] if network_host else []) + ["--"]

    def with_server(self, server: Server, body: Callable[[Server], T]) -> T:
        self.ports.append(server.port)
        try:
            server.start()
            try:
                return body(server)
            except BenchError as e:
                raise BenchError(f"{e} [server state: {server.diagnose()}]") from None
        finally:
            server.stop()
            self.problems.extend(server.problems)
            self.problems.extend(f"after {server.name}: {p}" for p in leftovers())

    # nginx ----------------------------------------------------------------------------------

    def nginx_server(self, label: str, sandboxed: bool, *, cache: bool = False, python_only: bool = False,
                     debug_log: Path | None = None) -> tuple[Server, str]:
        port = free_port()
        d = self.work / f"nginx-{label}"
        (d / "www").mkdir(parents=True)
        (d / "www" / "index.html").write_text(("x" * 127) + "\n")
        conf = d / "nginx.conf"
        conf.write_text(textwrap.dedent(f"""
            user root;
            daemon off;
            master_process on;
            worker_processes 1;
            pid {d}/nginx.pid;
            error_log {d}/error.log warn;
            events {{ worker_connections 1024; }}
            http {{
              access_log off;
              {"open_file_cache max=64;" if cache else ""}
              keepalive_requests 100000000;
              keepalive_timeout 60s;
              client_body_temp_path {d}/body;
              proxy_temp_path {d}/proxy;
              fastcgi_temp_path {d}/fastcgi;
              uwsgi_temp_path {d}/uwsgi;
              scgi_temp_path {d}/scgi;
              server {{ listen 127.0.0.1:{port}; root {d}/www; }}
            }}
        """))
        cmd = [tool("nginx"), "-c", str(conf), "-e", str(d / "error.log")]
        if sandboxed:
            cmd = self.sandbox(network_host=True, python_only=python_only, debug_log=debug_log) + cmd
        url = f"http://127.0.0.1:{port}/index.html"

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                    return s.recv(64).startswith(b"HTTP/1.1 200")
            except OSError:
                return False

        return Server(f"nginx ({label})", cmd, sandboxed, signal.SIGQUIT, ready, d / "server.log", port), url

    def wrk(self, url: str, seconds: int) -> tuple[float, int]:
        """(requests/second, requests) of one wrk run; errors raise."""
        c = self.opts.connections
        out = run_cmd([tool("wrk"), "-t1", f"-c{c}", f"-d{seconds}s", "--timeout", "10s", url],
                      timeout=seconds + 60)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total = re.search(r"(\d+) requests in", out)
        if not rps or not total:
            raise BenchError(f"unexpected wrk output: {out[-200:]!r}")
        errs = [m.group(0) for m in re.finditer(r"(Non-2xx or 3xx responses|Socket errors):.*", out)]
        if errs:
            raise BenchError(f"wrk: {'; '.join(errs)}")
        if int(total.group(1)) == 0:
            raise BenchError("wrk: no request answered (stalled under load?)")
        return float(rps.group(1)), int(total.group(1))

    def nginx(self) -> None:
        for cache in (False, True):
            title = "nginx" + (" open_file_cache" if cache else "")
            native: float | str | None = None
            for label, sandboxed in (("native", False), ("sandbox", True)):
                server, url = self.nginx_server(f"{label}-{int(cache)}", sandboxed, cache=cache)
                windows: list[tuple[float, Window]] = []

                def body(server: Server, url: str = url, windows: list[tuple[float, Window]] = windows,
                         ) -> float:
                    self.wrk(url, 1)  # warm-up
                    for _ in range(self.opts.reps):
                        windows.append(measure_window(server, lambda: self.wrk(url, self.opts.duration)))
                    return statistics.median(rps for rps, _ in windows)

                try:
                    v: float | str = self.with_server(server, body)
                except BenchError as e:
                    v = f"failed: {e}"
                    if sandboxed:
                        c, d = self.opts.connections, self.opts.duration
                        self.problems.append(f"{title} sandbox: {e}; reproduce: {shown(server.argv)} then: "
                                             f"wrk -t1 -c{c} -d{d}s {url}")
                native = v if not sandboxed else native
                window = sorted(windows, key=lambda w: w[0])[len(windows) // 2][1] if windows else None
                if window and sandboxed:
                    self.windows[title] = window
                self.rows.append(Row(f"{title} {label} (wrk -c{self.opts.connections})", v, "req/s", native,
                                     window.note() if window else ""))

    def nginx_profile(self) -> None:
        for cache in (False, True):
            title = "nginx" + (" open_file_cache" if cache else "")
            log = self.work / f"nginx-strace-{int(cache)}.log"
            server, url = self.nginx_server(f"strace-{int(cache)}", True, cache=cache, debug_log=log)

            def body(server: Server, log: Path = log, url: str = url, title: str = title) -> None:
                self.wrk(url, 1)
                start = log.stat().st_size
                _, total = self.wrk(url, 2)
                time.sleep(0.2)
                text, self.calls[title] = count_calls(log, start, total, f"{title}, per request (wrk 2 s)")
                self.profile.append(text)

            try:
                self.with_server(server, body)
            except BenchError as e:
                self.profile.append(f"{title} strace run failed: {e}")

    # redis ----------------------------------------------------------------------------------

    def redis_server(self, label: str, sandboxed: bool, *, python_only: bool = False,
                     debug_log: Path | None = None) -> tuple[Server, int]:
        port = free_port()
        d = self.work / f"redis-{label}"
        d.mkdir()
        cmd = [tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(d), "--logfile", str(d / "redis.log")]
        if sandboxed:
            cmd = self.sandbox(network_host=True, python_only=python_only, debug_log=debug_log) + cmd

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        return Server(f"redis-server ({label})", cmd, sandboxed, signal.SIGTERM, ready, d / "server.log",
                      port), port

    def redis_bench(self, port: int, n: int) -> dict[str, float]:
        out = run_cmd([tool("redis-benchmark"), "-h", "127.0.0.1", "-p", str(port), "-q",
                       "-t", "get,set", "-n", str(n)], timeout=30 + n / 2000)
        got = {m.group(1): float(m.group(2))
               for m in re.finditer(r"^\s*(SET|GET): ([\d.]+) requests per second", out.replace("\r", "\n"),
                                    re.M)}
        if set(got) != {"SET", "GET"}:
            raise BenchError(f"unexpected redis-benchmark output: {out[-200:]!r}")
        return got

    def redis(self) -> None:
        results: dict[str, dict[str, float | str]] = {}
        windows: dict[str, Window] = {}
        ways = (("native", False, False), ("sandbox", True, False), ("sandbox Python", True, True))
        for label, sandboxed, python_only in ways:
            server, port = self.redis_server(label.replace(" ", "-"), sandboxed, python_only=python_only)

            def body(server: Server, port: int = port, label: str = label) -> dict[str, float | str]:
                self.redis_bench(port, 2000)  # warm-up
                runs: list[dict[str, float]] = []
                for i in range(self.opts.reps):
                    got, window = measure_window(
                        server, lambda: (self.redis_bench(port, self.opts.requests), 2 * self.opts.requests))
                    runs.append(got)
                    if i == self.opts.reps // 2:
                        windows[label] = window
                return {t: statistics.median(r[t] for r in runs) for t in ("SET", "GET")}

            try:
                results[label] = self.with_server(server, body)
            except BenchError as e:
                results[label] = {"SET": f"failed: {e}", "GET": "failed (see SET)"}
                if sandboxed:
                    self.problems.append(f"redis {label}: {e}; reproduce: {shown(server.argv)} then: "
                                         f"redis-benchmark -p {port} -q -t get,set -n {self.opts.requests}")
        for label, sandboxed, _ in ways:
            if sandboxed and label in windows:
                self.windows[label.replace("sandbox", "redis")] = windows[label]
        for t in ("SET", "GET"):
            for label, _, _ in ways:
                note = windows[label].note() if t == "SET" and label in windows else ""
                self.rows.append(Row(f"redis {t} {label} (-n {self.opts.requests})", results[label][t],
                                     "req/s", results["native"][t], note))

    def redis_profile(self) -> None:
        log = self.work / "redis-strace.log"
        server, port = self.redis_server("strace", True, debug_log=log)

        def body(server: Server) -> None:
            start = log.stat().st_size
            n = 2000
            self.redis_bench(port, n)
            time.sleep(0.2)
            title = f"redis, per request (redis-benchmark -n {n}: SET+GET)"
            text, calls = count_calls(log, start, 2 * n, title)
            self.profile.append(text)
            self.calls["redis"] = self.calls["redis Python"] = calls

        try:
            self.with_server(server, body)
        except BenchError as e:
            self.profile.append(f"redis strace run failed: {e}")

    # ping-pong ------------------------------------------------------------------------------

    def build_pingpong(self) -> Path:
        exe = self.work / "pingpong"
        argv = [tool("gcc"), "-static", "-O2", "-Wall", "-o", str(exe), str(HERE / "src" / "pingpong.c")]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise BenchError(f"compile failed: {' '.join(argv)}: {proc.stderr.strip()[-300:]}")
        return exe

    def pingpong_once(self, prefix: list[str], exe: Path, mode: str, n: int) -> float:
        out = run_cmd(prefix + [str(exe), mode, str(n)], timeout=120)
        m = re.search(r"ns_per_rt=([\d.]+) n=\d+ errors=(\d+)", out)
        if not m:
            raise BenchError(f"unexpected pingpong output: {out[-200:]!r}")
        if m.group(2) != "0":
            raise BenchError(f"pingpong: {m.group(2)} wrong replies")
        return float(m.group(1))

    def pingpong(self) -> None:
        try:
            exe = self.build_pingpong()
        except BenchError as e:
            self.rows.append(Row("ping-pong", f"failed: {e}", ""))
            return
        taskset = [tool("taskset"), "-c", "0"]
        ways: list[tuple[str, list[str], int]] = [
            ("native", [], 50_000),
            ("sandbox C", self.sandbox(), 5_000),
            ("sandbox Python", self.sandbox(python_only=True), 4_000),
        ]
        for mode, title in (("unix", "unix socketpair"), ("tcp", "TCP loopback")):
            for pinned in (False, True):
                nat: float | str | None = None
                for label, prefix, n in ways:
                    argv = [*taskset, *prefix] if pinned else prefix
                    k = max(100, int(n * self.opts.scale))
                    note = ""
                    try:
                        vals = [self.pingpong_once(argv, exe, mode, k) for _ in range(self.opts.reps)]
                        v: float | str = statistics.median(vals)
                        note = f"runs {min(vals) / 1e3:,.1f}..{max(vals) / 1e3:,.1f} us"
                    except BenchError as e:
                        v = f"failed: {e}"
                        if prefix:
                            src = HERE / "src" / "pingpong.c"
                            self.problems.append(
                                f"ping-pong {mode} {label}: {e}; reproduce: gcc -static -O2 -o /tmp/pingpong "
                                f"{src} && {shown([*argv, '/tmp/pingpong', mode, str(k)])}")
                    if label == "native":
                        nat = v
                    if isinstance(v, float):
                        self.pingpongs[(mode, label, pinned)] = v
                    where = ", 1 CPU" if pinned else ""
                    self.rows.append(Row(f"ping-pong {title} {label} (n={k}{where})", v, "ns/rt", nat, note))
                    self.problems.extend(f"after ping-pong {mode} {label}: {p}" for p in leftovers())
        if self.opts.profile:
            for mode in ("unix", "tcp"):
                log = self.work / f"pingpong-{mode}.log"
                n = 1000
                try:
                    self.pingpong_once(self.sandbox(debug_log=log), exe, mode, n)
                    text, self.pp_calls[mode] = count_calls(log, 0, n + n // 10 + 1,
                                                            f"ping-pong {mode}, per round trip (n={n})")
                    self.profile.append(text)
                except BenchError as e:
                    self.profile.append(f"ping-pong {mode} strace run failed: {e}")

    # the table ------------------------------------------------------------------------------

    def print(self, load0: tuple[float, float, float]) -> None:
        load = os.getloadavg()
        print(f"runsc-py server benchmarks: reps={self.opts.reps} duration={self.opts.duration}s "
              f"connections={self.opts.connections} requests={self.opts.requests} scale={self.opts.scale} "
              f"cpus={os.cpu_count()} loadavg={load0[0]:.2f} at start, {load[0]:.2f} at end")
        print(f"{REFERENCE}; here x native is sandbox/native (throughput: higher is better, "
              "latency: lower is better)")
        head = ("case", "value (median)", "x native", "")
        table = [(r.case, fmt(r.value, r.unit), "" if r.native is None else ratio(r.value, r.native),
                  r.value if isinstance(r.value, str) else r.note) for r in self.rows]
        widths = [max(len(t[i]) for t in [head, *table]) for i in range(3)]
        print("  ".join(h.ljust(w) for h, w in zip(head[:3], widths, strict=True)))
        print("-" * (sum(widths) + 4))
        for t in table:
            line = "  ".join(c.ljust(w) for c, w in zip(t[:3], widths, strict=True))
            print(f"{line}  {t[3]}" if t[3] else line)
        if self.profile:
            print("Trapped syscalls of the sandboxed workload (runsc-py --strace, C fast path off; "
                  "'+N parked' = calls that waited, then re-ran):")
            for p in self.profile:
                print(f"  {p}")
        limits = self.limits()
        if limits:
            print("What limits the sandbox (servers: CPU of the median run, calls per request from the "
                  "--strace run):")
            for line in limits:
                print(f"  {line}")
        for p in self.problems:
            print(f"PROBLEM: {p}")

    def limits(self) -> list[str]:
        out = []
        for case, w in self.windows.items():
            line = (f"{case}: sentry {100 * w.share('sentry'):.0f}% of a CPU, "
                    f"{w.per_request_us('sentry'):.0f} us of sentry CPU per request")
            calls = self.calls.get(case)
            if calls:
                per_call = w.per_request_us("sentry") / calls
                line += f", {calls:.1f} trapped calls per request: ~{per_call:.0f} us of sentry CPU per call"
            if w.share("gofer") >= 0.1:
                line += (f"; gofer {100 * w.share('gofer'):.0f}% of a CPU "
                         f"({w.per_request_us('gofer'):.0f} us per request: file opens)")
            out.append(line)
        for (mode, way, pinned), v in self.pingpongs.items():
            nat = self.pingpongs.get((mode, "native", pinned))
            calls = self.pp_calls.get(mode)
            if way != "native" and pinned and nat and calls:
                extra = (v - nat) / 1e3
                out.append(f"ping-pong {mode} {way} (1 CPU): {extra:.1f} us per round trip over native "
                           f"for {calls:.0f} trapped calls: ~{extra / calls:.1f} us per call")
        return out


LINE = re.compile(r" INFO \[\s*\d+\] (\w+)\(.*\) = (.*)$")


def count_calls(log: Path, start: int, units: int, title: str) -> tuple[str, float]:
    """Trapped syscalls in *log* from byte *start*, per unit (request or round trip): a line
    for the table and the number of calls (not counting parks) per unit."""
    with log.open("rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    done: Counter[str] = Counter()
    parked: Counter[str] = Counter()
    for line in text.splitlines():
        m = LINE.search(line)
        if m:
            (parked if m.group(2).endswith("(parked)") else done)[m.group(1)] += 1
    total = sum(done.values())
    if not total or not units:
        return f"{title}: no syscall lines in the log", 0.0
    top = ", ".join(f"{name} {c / units:.2f}"
                    + (f" (+{parked[name] / units:.2f} parked)" if parked[name] else "")
                    for name, c in done.most_common(8) if c / units >= 0.01)
    parks = sum(parked.values()) / units
    return f"{title}: {total / units:.1f} calls + {parks:.1f} parked: {top}", total / units


def leftovers() -> list[str]:
    """Describe, kill (by pid) and reap every child of this process: as a subreaper it inherits
    whatever a server or the sandbox left behind (every command it ran itself was waited for)."""
    found = []
    for p in _children_map().get(os.getpid(), []):
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "?"
        if state == "Z":
            found.append(f"process {p} outlived the command that started it (exited since)")
        else:
            found.append(f"leftover process {p} (state {state}): {_cmdline(p)[:120]} -- killed")
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(p, 0)
        except ChildProcessError:
            pass
    return found


def port_leftovers(ports: Sequence[int]) -> list[str]:
    """Ports of ours on which something still accepts connections."""
    found = []
    for port in ports:
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                found.append(f"port {port} still accepts connections")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per cell (median)")
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--requests", type=int, default=20000, help="redis-benchmark -n")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the ping-pong iteration counts")
    ap.add_argument("--only", default="nginx,redis,pingpong")
    ap.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                    help="count trapped syscalls per request in a short --strace run")
    opts = ap.parse_args()
    only = [x for x in ("nginx", "redis", "pingpong") if x in opts.only.split(",")]
    unknown = set(opts.only.split(",")) - set(TOOLS)
    if unknown or not only:
        ap.error(f"--only: unknown {sorted(unknown)}; choose from {','.join(TOOLS)}")
    missing = []
    for part in only:
        for t in TOOLS[part]:
            try:
                tool(t)
            except BenchError as e:
                missing.append(str(e))
    if missing:
        raise SystemExit("servers.py: " + "; ".join(missing))
    if os.geteuid() != 0:
        raise SystemExit("servers.py: run as root (nginx 'user root', the sandbox)")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    load0 = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="rbench-servers"))
    bench = Bench(opts, work)
    try:
        if "nginx" in only:
            bench.nginx()
        if "redis" in only:
            bench.redis()
        if "pingpong" in only:
            bench.pingpong()
        if opts.profile:
            if "nginx" in only:
                bench.nginx_profile()
            if "redis" in only:
                bench.redis_profile()
    finally:
        bench.problems.extend(leftovers())
        bench.problems.extend(port_leftovers(bench.ports))
        shutil.rmtree(work, ignore_errors=True)
    bench.print(load0)
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
