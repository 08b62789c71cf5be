"""``compat CMD``: one command natively and sandboxed, compared.

Real runs through the CLI: a command that behaves the same (exit 0); a C program asking for
an ioctl and an fcntl command the sandbox does not implement (both refused variants appear,
with the program as their binary); per-syscall counts that include the calls the C fast path
answers; a death by signal on both sides; the default pid normalisation and a user rule;
the JSON schema; the self-contained HTML page; could-not-run exit codes; ``compat suite``
reaching the suite command.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from helpers.runner import BASE_ENV, Result, runsc

ENV = dict(BASE_ENV)


def compat(args: list[str], root: Path, cwd: Path, **kw: Any) -> Result:
    return runsc(["compat", *args], root=root, env=ENV, cwd=cwd, timeout=120, **kw)


def compat_json(args: list[str], root: Path, cwd: Path, **kw: Any) -> tuple[int, dict[str, Any]]:
    res = compat(["--json", *args], root, cwd, **kw)
    assert res.stdout.strip(), res.describe()
    return res.rc, json.loads(res.stdout)


def test_same_command_is_same_and_counts_its_syscalls(runsc_root: Path, tmp_path: Path) -> None:
    script = "echo hello; echo oops >&2; /bin/true; exit 0"
    rc, r = compat_json(["--", "sh", "-c", script], runsc_root, tmp_path)
    assert rc == 0, r
    assert r["schema"] == 1 and r["verdict"] == "same" and r["reasons"] == []
    assert r["command"] == ["sh", "-c", script]
    for side in ("native", "sandbox"):
        assert r[side]["exit_code"] == 0 and r[side]["signal"] is None, r[side]
        assert r[side]["timed_out"] is False
    assert r["output"]["stdout"] == {"same": True, "diff": "", "native_bytes": 6,
                                     "sandbox_bytes": 6}
    assert r["output"]["stderr"]["same"] is True
    by_name = {s["name"]: s for s in r["syscalls"]}
    # sh writes "hello" and "oops" and runs /bin/true: an execve, served at a ptrace stop.
    assert by_name["write"]["count"] >= 2 and by_name["write"]["family"] == "file"
    assert by_name["execve"]["count"] >= 1 and by_name["execve"]["family"] == "process"
    for s in r["syscalls"]:
        assert set(s) == {"nr", "name", "family", "count", "fast", "sentry_us",
                          "gofer_requests", "gofer_us", "support", "policy", "note"}
        assert s["count"] >= s["fast"] >= 0 and s["count"] > 0 and s["sentry_us"] >= 0
        # the gofer's round trips are part of the sentry's time on the same calls
        assert s["gofer_us"] <= s["sentry_us"], s
    assert r["totals"]["calls"] == sum(s["count"] for s in r["syscalls"])
    # the sentry's time: an exec is served in Python (its trap, its event), and adds up
    assert by_name["execve"]["sentry_us"] > 0
    assert r["totals"]["sentry_us"] == sum(s["sentry_us"] for s in r["syscalls"])
    # sh's first exec of /bin/true walks to it and opens it through the gofer (the mount
    # tree's requests at boot are no call's)
    assert by_name["execve"]["gofer_requests"] > 0, by_name["execve"]
    assert by_name["execve"]["gofer_us"] > 0, by_name["execve"]
    assert by_name["write"]["gofer_requests"] == 0, by_name["write"]  # (to a pipe)
    assert r["unsupported"] == []
    assert "futex" in r["not_counted"]  # the host runs it without a stop
    fams = {f["family"] for f in r["families"]}
    assert {"file", "process"} <= fams


def test_unsupported_ioctl_and_fcntl_are_reported_with_their_binary(
    runsc_root: Path, tmp_path: Path, c_program: Any
) -> None:
    exe = c_program("tests/compat/src/compat_refused.c")
    target = tmp_path / "file"
    target.write_text("x")
    res = compat(["--", str(exe), str(target), str(tmp_path)], runsc_root, tmp_path)
    assert res.rc == 1, res.describe()
    assert res.stdout.startswith("compat: DIFFERS"), res.describe()
    # Missing pieces come first: the refused variants table before the syscall table.
    assert res.stdout.index("FS_IOC_GETFLAGS") < res.stdout.index("Every syscall")

    rc, r = compat_json(["--", str(exe), str(target), str(tmp_path)], runsc_root, tmp_path)
    assert rc == 1 and r["verdict"] == "differs"
    found = {(u["family"], u["detail"].split(" ")[0]): u for u in r["unsupported"]}
    ioctl = found[("ioctl", "FS_IOC_GETFLAGS")]
    assert ioctl["binary"] == str(exe) and ioctl["count"] == 1
    assert ioctl["detail"].endswith("on regular file"), ioctl
    fcntl = found[("fcntl", "F_SETLEASE")]
    assert fcntl["binary"] == str(exe) and fcntl["count"] == 1
    assert found[("xattr", "setxattr")]["detail"] == "setxattr system.*"
    assert found[("clone", "namespace")]["detail"] == "namespace flags CLONE_NEWUSER"
    assert any("unsupported variant" in why for why in r["reasons"]), r["reasons"]
    # Natively both calls work (the program says so); the sandbox's output says otherwise.
    assert "+FS_IOC_GETFLAGS: Inappropriate ioctl for device" in r["output"]["stdout"]["diff"]


NET_SCRIPT = """
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ttl = [(socket.IPPROTO_IP, socket.IP_TTL, struct.pack("i", 5))]
for what, call in (("SIOCSIFMTU", lambda: fcntl.ioctl(s, 0x8922, struct.pack("16si20x", b"lo", 65000))),
                   ("IP_TTL cmsg", lambda: s.sendmsg([b"x"], ttl, 0, ("127.0.0.1", 9)))):
    try:
        call()
        print(what, "ok")
    except OSError as e:
        print(what, e.strerror)
"""


def test_refused_network_changes_are_reported(runsc_root: Path, tmp_path: Path) -> None:
    """As root (CAP_NET_ADMIN) Linux changes the run's own network namespace; the sandbox
    refuses (EPERM, EOPNOTSUPP), and says so."""
    py = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    ip = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
    assert ip, "iproute2's ip is needed"
    script = f'"{py}" -c "$0"; "{ip}" link set lo mtu 65001; echo ip $?'
    rc, r = compat_json(["--", "sh", "-c", script, NET_SCRIPT], runsc_root, tmp_path)
    assert rc == 1 and r["verdict"] == "differs", r
    found = {(u["family"], u["detail"]): u["binary"] for u in r["unsupported"]}
    assert found.get(("ioctl", "SIOCSIFMTU (0x8922): changes the network")) == os.path.realpath(py)
    assert found.get(("sendmsg", "IPPROTO_IP control message type 2 on AF_INET")) \
        == os.path.realpath(py)
    assert found.get(("netlink", "RTM_NEWLINK")) == os.path.realpath(ip), found
    assert "-SIOCSIFMTU ok" in r["output"]["stdout"]["diff"]


def _syscall(r: dict[str, Any], name: str) -> Any:
    """The report *r*'s entry for the call *name*."""
    return next(s for s in r["syscalls"] if s["name"] == name)


def test_fast_path_calls_are_counted(runsc_root: Path, tmp_path: Path, c_program: Any) -> None:
    exe = c_program("tests/compat/src/compat_getppid.c")
    for python_only in (False, True):
        rc, r = compat_json(["--", str(exe), "300"], runsc_root, tmp_path, python_only=python_only)
        assert rc == 0, r
        getppid = _syscall(r, "getppid")
        assert getppid["count"] >= 300, getppid
        if python_only:
            assert getppid["fast"] == 0 and getppid["sentry_us"] > 0, getppid
        else:
            assert getppid["fast"] >= 300, getppid


def test_proc_self_exe_is_answered_in_c_before_any_stat(runsc_root: Path,
                                                         tmp_path: Path) -> None:
    """busybox reads /proc/self/exe at every start; the C fast path answers it from the
    task's slot, which each exec sets, even in a sandbox that has stat'ed nothing yet (no
    PWD: the shell only asks getcwd) and so holds no other answer."""
    script = "i=0; while [ $i -lt 20 ]; do /bin/busybox true; i=$((i + 1)); done"
    assert "PWD" not in ENV
    rc, r = compat_json(["--", "/bin/busybox", "sh", "-c", script], runsc_root, tmp_path)
    assert rc == 0, r
    readlink = _syscall(r, "readlink")
    assert readlink["count"] >= 21 and readlink["fast"] >= 20, readlink


def _python_call(script: str, name: str, runsc_root: Path, tmp_path: Path) -> Any:
    """The report's entry for call *name* of ``python3 -I -c script`` in a sandbox."""
    rc, r = compat_json(["--", sys.executable, "-I", "-c", script], runsc_root, tmp_path)
    assert rc == 0, r
    return _syscall(r, name)


def test_readlink_of_a_file_that_is_no_symlink_stays_in_c_after_a_new_name(
        runsc_root: Path, tmp_path: Path) -> None:
    """readlink's EINVAL for a lower-layer directory is about a file that exists: a name
    appearing (a compiler's temporary file) leaves it kept, as it leaves a stat's answer;
    only ENOENT answers go."""
    d = tmp_path / "dir"
    d.mkdir()
    script = ("import os\n"
              "def ask():\n"
              "    try:\n"
              f"        os.readlink('{d}')\n"
              "    except OSError:\n"
              "        pass\n"
              "ask()\n"
              "for i in range(20):\n"
              f"    open('{tmp_path}/new%d' % i, 'w').close()\n"
              "    ask()\n")
    readlink = _python_call(script, "readlink", runsc_root, tmp_path)
    assert readlink["count"] >= 21 and readlink["fast"] >= 20, readlink


def test_a_files_truncation_and_chmod_keep_the_other_answers(runsc_root: Path,
                                                             tmp_path: Path) -> None:
    """A regular file's setattr (open with O_TRUNC, chmod) changes only that file, whose
    copy-up forgot its own answers: the answers about other files stay in C (an F_OK
    access here, which C answers from a stat's)."""
    kept = tmp_path / "kept"
    kept.write_text("x")
    out = tmp_path / "out"
    out.write_text("lower layer")
    script = ("import os\n"
              f"os.access('{kept}', os.F_OK)\n"
              "for i in range(20):\n"
              f"    open('{out}', 'w').close()\n"
              f"    os.chmod('{out}', 0o600 + i % 2)\n"
              f"    os.access('{kept}', os.F_OK)\n"
              f"assert os.stat('{out}').st_mode & 0o777 == 0o601 and os.stat('{out}').st_size == 0\n")
    access = _python_call(script, "access", runsc_root, tmp_path)
    assert access["count"] >= 21 and access["fast"] >= 20, access


def test_opens_of_missing_names_are_answered_in_c_after_the_first(runsc_root: Path,
                                                                  tmp_path: Path) -> None:
    """An open of a name a listed lower-layer directory has not got is ENOENT in C once
    Python answered one such open there (the directory's names went to the stat cache, as
    for a stat's ENOENT): gcc's include path search, Python's and ld.so's candidates."""
    d = tmp_path / "few"
    d.mkdir()
    (d / "here").write_text("x")
    script = ("import os\n"
              "for i in range(50):\n"
              "    try:\n"
              f"        os.open('{d}/m%d' % i, os.O_RDONLY)\n"
              "    except FileNotFoundError:\n"
              "        pass\n")
    openat = _python_call(script, "openat", runsc_root, tmp_path)
    assert openat["fast"] >= 49, openat


def test_a_fetched_directorys_first_stat_is_answered_in_c(runsc_root: Path, tmp_path: Path,
                                                          c_program: Any) -> None:
    """Small leaf directories stat'ed one after another (git status): once three were
    listed, their siblings' listings are fetched ahead and kept for C, which hands a
    directory's answers over at the first stat under it; only the first few directories'
    first stats are Python's. (A file system whose leaf directories have a link count
    other than 2, btrfs, fetches nothing ahead: each directory's first stat is Python's.)"""
    exe = c_program("tests/compat/src/compat_leaf_stats.c")
    top = tmp_path / "top"
    for d in range(16):
        for f in range(4):
            (top / f"d{d:02d}").mkdir(parents=True, exist_ok=True)
            (top / f"d{d:02d}" / f"f{f}").write_text("x")
    in_python = 8 if os.stat(top / "d00").st_nlink == 2 else 16
    rc, r = compat_json(["--", str(exe), str(top), "16", "4"], runsc_root, tmp_path)
    assert rc == 0 and r["output"]["stdout"]["same"], r["output"]
    lstat = _syscall(r, "newfstatat")
    assert lstat["count"] >= 64 and lstat["count"] - lstat["fast"] <= in_python, lstat


def test_death_by_signal_on_both_sides(runsc_root: Path, tmp_path: Path, c_program: Any) -> None:
    exe = c_program("tests/compat/src/compat_segv.c")
    rc, r = compat_json(["--", str(exe)], runsc_root, tmp_path)
    for side in ("native", "sandbox"):
        assert r[side]["signal"] == 11 and r[side]["signal_name"] == "SIGSEGV", r[side]
        assert r[side]["exit_code"] is None
    assert rc == 0 and r["verdict"] == "same", r["reasons"]


PID_SCRIPT = 'echo "child pid $(od -An -N4 -tu4 /dev/urandom | tr -d " ")"; echo done'


def test_default_normalisation_hides_pids(runsc_root: Path, tmp_path: Path) -> None:
    """A pid-like value that differs from run to run: equal after the default rules,
    different without them."""
    rc, r = compat_json(["--", "sh", "-c", PID_SCRIPT], runsc_root, tmp_path)
    assert rc == 0 and r["output"]["stdout"]["same"], r["output"]
    assert any(n["name"] == "pid" for n in r["normalize"])

    rc, r = compat_json(["--no-default-normalize", "--", "sh", "-c", PID_SCRIPT], runsc_root, tmp_path)
    assert rc == 1 and r["verdict"] == "differs" and r["normalize"] == []
    assert r["reasons"] == ["stdout differs"], r["reasons"]
    assert "-child pid " in r["output"]["stdout"]["diff"]


def test_ps_shows_the_processes_as_natively(runsc_root: Path, tmp_path: Path) -> None:
    """procps ps of the run's own processes: init leads a session (as a container's init,
    natively too), ps itself is running (R) and init sleeping in wait (S), the same process
    groups, sessions and terminal; nothing refused (get_mempolicy passes to the host)."""
    ps = shutil.which("ps", path="/usr/bin:/bin")
    assert ps, "procps' ps is needed"
    script = f'"{ps}" -o pid,ppid,pgid,sid,tty,stat,cmd; true'
    rc, r = compat_json(["--", "sh", "-c", script], runsc_root, tmp_path)
    assert rc == 0 and r["verdict"] == "same", r
    assert r["unsupported"] == [], r["unsupported"]
    assert r["output"]["stdout"]["same"], r["output"]["stdout"]


SS_SCRIPT = """
import socket, subprocess
a = socket.socket(); a.bind(("127.0.0.1", 8123)); a.listen(7)
b = socket.socket(socket.AF_INET6); b.bind(("::", 8124)); b.listen(3)
v = socket.socket(socket.AF_INET6); v.bind(("::1", 8126)); v.listen(1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 8125))
c = socket.socket(); c.bind(("127.0.0.1", 8130)); c.connect(("127.0.0.1", 8123))
s, _ = a.accept()
for args, shown in ((["-tln"], ":8123 "), (["-tn"], ":8130 "), (["-uan"], ":8125 "),
                     (["-ta"], ":8124 "), (["-4tln"], ":8123 "), (["-6tln"], "[::1]:8126 "),
                     (["-tlnp"], '"python3"')):
    out = subprocess.run(["ss", *args], capture_output=True, text=True)
    print(" ".join(args), out.returncode, out.stderr)
    print("\\n".join(sorted(out.stdout.splitlines())))
    assert shown in out.stdout, (args, "not listed")
"""


def test_ss_lists_the_sandbox_sockets_as_natively(runsc_root: Path, tmp_path: Path) -> None:
    """iproute2's ss over NETLINK_SOCK_DIAG, in a network namespace of the run's own: TCP
    listeners (backlog, v6only), established connections, UDP, per family and state, and
    the owning process; nothing refused."""
    ss = shutil.which("ss", path="/usr/sbin:/sbin:/usr/bin:/bin")
    assert ss, "iproute2's ss is needed"
    py = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    rc, r = compat_json(["--network", "none", "--", py, "-c", SS_SCRIPT], runsc_root, tmp_path)
    assert r["native"]["exit_code"] == 0, r["native"]  # ss listed each socket natively
    assert rc == 0 and r["verdict"] == "same", r
    assert r["unsupported"] == [], r["unsupported"]


def test_default_rules() -> None:
    from runsc_py.compat.report import compile_rules, normalize

    rules = compile_rules([], True)
    text = ("pid 1712345678 PPid:\t3 /proc/42/status sshd[77]: at 2026-12-04T03:17:24.5+00:00\n"
            "Fri Dec  4 03:17:24 UTC 2026|-rw-r--r-- 1 root root 9 Dec  4 03:17 f|took 0.25s\n")
    assert normalize(text, rules) == (
        "pid <pid> PPid:\t<pid> /proc/<pid>/status sshd[<pid>]: at <date>\n"
        "<date>|-rw-r--r-- 1 root root 9 <date> f|took <duration>\n")
    assert normalize(text, compile_rules([], False)) == text


def test_user_normalisation_rule(runsc_root: Path, tmp_path: Path) -> None:
    script = 'echo "token $(od -An -N8 -tx8 /dev/urandom | tr -d " ")"'
    rc, r = compat_json(["--normalize", r"token [0-9a-f]+", "sh", "-c", script], runsc_root, tmp_path)
    assert rc == 0 and r["verdict"] == "same", r["output"]
    assert r["normalize"][-1] == {"name": "user-1", "pattern": "token [0-9a-f]+",
                                  "replacement": "<*>"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_html_page_is_self_contained(runsc_root: Path, tmp_path: Path, c_program: Any) -> None:
    exe = c_program("tests/compat/src/compat_refused.c")
    target = tmp_path / "file"
    target.write_text("x")
    page = tmp_path / "report.html"
    res = compat(["--html", str(page), "--", str(exe), str(target), str(tmp_path)],
                 runsc_root, tmp_path)
    assert res.rc == 1, res.describe()
    text = page.read_text()
    assert "http://" not in text and "https://" not in text
    parser = _Page()
    parser.feed(text)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not [a for a in parser.attrs if a[0] in ("src", "href")]
    assert "svg" in parser.tags and parser.tags.count("rect") >= 1  # the family chart
    assert text.index("DIFFERS") < text.index("FS_IOC_GETFLAGS") < text.index("Every syscall")
    assert "<style>" in text


def test_timeout_keeps_the_sandbox_counts(runsc_root: Path, tmp_path: Path) -> None:
    rc, r = compat_json(["--timeout", "1.5", "--", "sh", "-c", "/bin/true; exec sleep 30"],
                        runsc_root, tmp_path)
    assert rc == 1 and r["reasons"][0] == "both runs timed out after 1.5s", r["reasons"]
    assert r["native"]["timed_out"] and r["sandbox"]["timed_out"]
    # The sentry ended the sandbox on SIGTERM and wrote what it had counted.
    execve = next(x for x in r["syscalls"] if x["name"] == "execve")
    assert execve["count"] >= 2, execve


def test_could_not_run_exit_codes(runsc_root: Path, tmp_path: Path) -> None:
    res = compat(["--", "/nonexistent/program"], runsc_root, tmp_path)
    assert res.rc == 3, res.describe()
    assert "COULD NOT RUN" in res.stdout and "not found" in res.stdout
    rc, r = compat_json(["no-such-command-anywhere"], runsc_root, tmp_path)
    assert rc == 3 and r["verdict"] == "could not run", r
    # The native run works, the sandbox refuses to start (do's own error is the reason).
    rc, r = compat_json(["--memory-limit", "lots", "--", "true"], runsc_root, tmp_path)
    assert rc == 3 and r["verdict"] == "could not run", r
    assert r["reasons"][0].startswith("sandbox: ") and "lots" in r["reasons"][0], r
    # A usage error stays click's 2.
    res = compat(["--timeout", "-1", "--", "true"], runsc_root, tmp_path)
    assert res.rc == 2, res.describe()


def test_the_command_keeps_its_own_options(runsc_root: Path, tmp_path: Path) -> None:
    """-h, --json and a -- after CMD are CMD's arguments."""
    argv = ["sh", "-c", 'echo "$@"', "sh", "--", "-h", "--json"]
    rc, r = compat_json(["--", *argv], runsc_root, tmp_path)
    assert rc == 0 and r["command"] == argv and r["verdict"] == "same", r
    assert r["output"]["stdout"]["native_bytes"] == len("-- -h --json\n")


def test_suite_is_the_suite_command(runsc_root: Path, tmp_path: Path) -> None:
    res = compat(["suite", "--help"], runsc_root, tmp_path)
    assert res.rc == 0 and "conformance suite" in res.stdout, res.describe()
    res = compat(["--help"], runsc_root, tmp_path)
    assert res.rc == 0 and "suite" in res.stdout and "CMD" in res.stdout, res.describe()
