"""Do mode with the host's dynamically linked programs, and Debian's /usr/bin/python3.

``runsc-py do -- CMD`` runs CMD against the host's root filesystem (read-only, writes kept in
memory) with the caller's stdio, cwd and environment. The native reference is the same command
as pid 1 of a fresh pid namespace with its own /proc (``helpers.runner.run_native``), in the same
cwd with the same environment and stdin. Exit status and stdout must be identical, and stderr
too unless a case says otherwise.

The Python cases use Debian's ``/usr/bin/python3`` in isolated mode (``-I``), not the pyenv
interpreter that runs pytest.

Run: ``python3 -m pytest tests/workloads/test_do_host.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, run_native

SYSTEM_PYTHON = "/usr/bin/python3"

HOST_CASES: dict[str, dict] = {
    "ls_la": {"cmd": ["/bin/ls", "-la", "/usr/share/doc/coreutils"]},
    "env": {"cmd": ["/usr/bin/env"], "env": {"RUNSC_TEST_VAR": "a b=c", "EMPTY": ""}},
    "sort_stdin": {
        "cmd": ["sort", "-n", "-r"],
        "input": "".join(f"{(i * 7919) % 1000}\n" for i in range(2000)),
    },
    "find_sort_head": {"cmd": ["/bin/sh", "-c", "find /usr/share/doc/bash -type f | sort | head"]},
    "os_release": {"cmd": ["cat", "/etc/os-release"]},
    "limits_and_ids": {"cmd": ["/bin/sh", "-c", "ulimit -n; ulimit -Hn; ulimit -s; id; umask"]},
    "stat_md5": {
        "cmd": [
            "/bin/sh",
            "-c",
            "stat -c '%n %s %F %a %U' /etc/os-release /usr/bin /bin/ls;"
            " md5sum /bin/ls; readlink -f /proc/self/exe",
        ]
    },
    "shell_builtins": {
        "cmd": [
            "/bin/sh",
            "-c",
            "cd /usr/share && pwd && echo $PWD; ls | head -3; echo $$;"
            " (exit 3); echo rc=$?; x=$(echo sub); echo $x; exit 7",
        ]
    },
    "cwd_carried": {"cmd": ["/bin/pwd"], "cwd": "/usr/share/doc"},
    # A proc file is generated when read: opened by the shell's child before exec, read by
    # the program it became.
    "proc_read_after_exec": {"cmd": ["/bin/sh", "-c", "xargs -0 -n1 echo < /proc/self/cmdline"]},
    # The root and /etc as the host has them (sizes, links, times of merged directories);
    # /dev, /proc, /sys are the sandbox's own, /tmp changes under concurrent tests.
    "ls_root_etc": {
        "cmd": [
            "/bin/sh",
            "-c",
            # --ignore, not grep: /proc's link count (the host's process count) would
            # widen ls's columns natively.
            "ls -la --ignore=dev --ignore=proc --ignore=sys --ignore=tmp / | grep -v '^total';"
            " ls -la /etc; stat -c '%n %s %h %Y' / /etc /usr",
        ]
    },
    "missing_command": {"cmd": ["/bin/sh", "-c", "/no/such/program; echo rc=$?"]},
}
HOST_PYTHON_ONLY = ["ls_la", "sort_stdin", "shell_builtins"]

PY_SCRIPTS: dict[str, str] = {
    "proc_self_files": """
        import struct
        raw = open("/proc/self/auxv", "rb").read()
        aux = dict(struct.iter_unpack("<QQ", raw))
        # page size, uid, euid, gid, secure, clock ticks: the same as the kernel's
        print([aux.get(k) for k in (6, 11, 12, 13, 23, 17)], raw[-16:] == bytes(16))
        print(len(open("/proc/self/statm").read().split()))
        print(all(int(x) >= 0 for x in open("/proc/self/statm").read().split()))
    """,
    "os_basics": """
        import os, sys
        print("pid", os.getpid(), "ppid", os.getppid())
        print("cwd", os.getcwd())
        print("argv", sys.argv[1:])
        print("env", sorted(k for k in os.environ if k.startswith("RUNSC_")))
        print("RUNSC_X", os.environ.get("RUNSC_X"))
        print("flags", sys.flags.isolated, sys.executable)
        print("listdir", sorted(os.listdir("/usr/share/doc/bash"))[:5])
        st = os.stat("/etc/os-release")
        print("stat", st.st_size, oct(st.st_mode))
        print("uname", os.uname().sysname, os.uname().machine)
        print("ids", os.getuid(), os.geteuid(), os.getgid())
    """,
    "threads_subprocess_signals": """
        import os, signal, subprocess, threading, time
        res = []
        def w(i):
            res.append(subprocess.run(["/bin/sh", "-c", f"exit {i}"]).returncode)
        ts = [threading.Thread(target=w, args=(i,)) for i in range(6)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        print("codes", sorted(res))
        signal.signal(signal.SIGALRM, lambda s, f: print("alarm"))
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        time.sleep(0.2)
        p = subprocess.Popen(["sleep", "5"])
        time.sleep(0.1)
        p.terminate()
        print("terminated", p.wait())
    """,
    "json": """
        import json
        data = {"a": [1, 2.5, None, True], "b": {"c": "\\u00e9"}, "n": 10**20}
        s = json.dumps(data, sort_keys=True)
        print(s)
        print(json.loads(s) == data)
    """,
    "subprocess": """
        import subprocess
        print(subprocess.check_output(["/bin/echo", "hi", "there"]).decode(), end="")
        p1 = subprocess.Popen(["/bin/echo", "a b c"], stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["tr", "a-z", "A-Z"], stdin=p1.stdout,
                              stdout=subprocess.PIPE)
        p1.stdout.close()
        print(p2.communicate()[0].decode(), end="")
        print("p1", p1.wait(), "p2", p2.returncode)
        print("rc", subprocess.run(["sh", "-c", "exit 5"]).returncode)
        r = subprocess.run(["sh", "-c", "kill -TERM $$"])
        print("signal rc", r.returncode)
        r = subprocess.run(["cat"], input=b"x" * 200000, capture_output=True)
        print("cat bytes", len(r.stdout))
        try:
            subprocess.run(["/no/such/binary"])
        except FileNotFoundError as e:
            print("missing", e.errno)
    """,
    "threading": """
        import threading
        out, lock = [], threading.Lock()
        def work(n):
            for i in range(1000):
                with lock:
                    out.append((n, i))
        ts = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print(len(out), sorted(set(n for n, _ in out)))
        print(all(out.count((n, 999)) == 1 for n in range(4)))
        ev = threading.Event()
        threading.Timer(0.05, ev.set).start()
        print("event", ev.wait(5))
    """,
    "tempfile_pathlib": """
        import os, tempfile, pathlib
        with tempfile.NamedTemporaryFile("w+", dir="/tmp", delete=False) as f:
            f.write("line1\\nline2\\n")
            name = f.name
        print(pathlib.Path(name).read_text().splitlines())
        os.unlink(name)
        print("exists after unlink", os.path.exists(name))
        with tempfile.TemporaryDirectory() as d:
            p = pathlib.Path(d)
            for n in ("b.txt", "a.txt", "c.log"):
                (p / n).write_text(n)
            (p / "sub").mkdir()
            (p / "sub" / "d.txt").write_text("d")
            print(sorted(x.name for x in p.glob("*.txt")))
            print(sorted(str(x.relative_to(p)) for x in p.rglob("*.txt")))
        print(sorted(x.name for x in pathlib.Path("/usr/share/doc/bash").glob("*"))[:4])
        print(pathlib.Path("/etc/os-release").read_text().splitlines()[0])
    """,
    "socketpair": """
        import socket, os
        a, b = socket.socketpair()
        a.sendall(b"ping")
        print(b.recv(10))
        b.sendall(b"pong" * 1000)
        got = b""
        while len(got) < 4000:
            got += a.recv(65536)
        print(len(got), got[:8])
        pid = os.fork()
        if pid == 0:
            a.close()
            b.sendall(b"from child")
            os._exit(0)
        b.close()
        print(a.recv(100))
        print(os.waitpid(pid, 0)[1])
        print(a.recv(100))
    """,
}
PY_PYTHON_ONLY = ["os_basics", "subprocess", "socketpair", "threads_subprocess_signals"]


def _env(extra: dict | None) -> dict[str, str]:
    env = dict(BASE_ENV)
    env.update(extra or {})
    return env


def _compare(native, boxed, *, check_stderr: bool = True) -> None:
    assert native.stdout.strip(), f"native half printed nothing:\n{native.describe()}"
    assert (boxed.rc, boxed.stdout) == (native.rc, native.stdout), boxed.describe()
    if check_stderr:
        assert boxed.stderr == native.stderr


@pytest.mark.parametrize(
    ("name", "python_only"),
    [pytest.param(n, False, id=n) for n in HOST_CASES]
    + [pytest.param(n, True, id=f"{n}-python-only") for n in HOST_PYTHON_ONLY],
)
def test_host_program_matches_native(name, python_only, sandbox, tmp_path):
    case = HOST_CASES[name]
    kw = {
        "env": _env(case.get("env")),
        "cwd": case.get("cwd", str(tmp_path)),
        "input": case.get("input"),
    }
    native = run_native(case["cmd"], **kw)
    boxed = sandbox.do(case["cmd"], python_only=python_only, **kw)
    _compare(native, boxed)


@pytest.mark.parametrize(
    ("name", "python_only"),
    [pytest.param(n, False, id=n) for n in PY_SCRIPTS]
    + [pytest.param(n, True, id=f"{n}-python-only") for n in PY_PYTHON_ONLY],
)
def test_system_python_matches_native(name, python_only, sandbox, tmp_path):
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} missing: install Debian's python3", pytrace=False)
    cmd = [SYSTEM_PYTHON, "-I", "-c", textwrap.dedent(PY_SCRIPTS[name]), "arg1", "a b"]
    kw = {"env": _env({"RUNSC_X": "42"}), "cwd": str(tmp_path)}
    native = run_native(cmd, **kw)
    assert native.rc == 0, native.describe()
    boxed = sandbox.do(cmd, python_only=python_only, **kw)
    _compare(native, boxed)


def test_do_first_process_is_pid_1(sandbox, tmp_path):
    """In do mode the workload's first process is pid 1 with parent 0, as natively in a
    fresh pid namespace."""
    cmd = [SYSTEM_PYTHON, "-I", "-c", "import os; print(os.getpid(), os.getppid())"]
    native = run_native(cmd, cwd=tmp_path)
    assert native.stdout == "1 0\n"
    boxed = sandbox.do(cmd, cwd=tmp_path)
    assert (boxed.rc, boxed.stdout) == (0, "1 0\n"), boxed.describe()
