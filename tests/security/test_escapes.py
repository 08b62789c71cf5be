"""The escape suite (design §5, §7.1, §7.4, §7.5): one named probe per way out of a container.

``src/escapes.c`` runs each probe in a child process of its own and prints one line per probe,
``NAME: ESCAPED (...)`` or ``NAME: blocked (...)``:

- path escapes towards a secret file that lies next to the container's root directory:
  ``..`` beyond ``/`` and beyond a bind mount's root, absolute and relative symlinks (planted
  in the image and made at run time), ``/proc/self/root``, ``/proc/PID/root`` and ``cwd``,
  ``/proc/self/fd`` magic links and directory fds, ``openat2`` without ``RESOLVE_*`` flags,
  hard links, ``chroot`` + ``chdir ..`` and ``chroot`` + ``fchdir``, writes to a read-only bind
  mount (also through ``/proc/self/fd`` re-opens, and after a remount), a procfs of the host
  mounted under the root (do mode: the gofer must not serve it), and races between a
  path's check and its use from another thread (a symlink swapped by ``rename``, a directory
  exchanged with a symlink, a directory moved while a walk climbs out of it);
- forbidden host surfaces: ``mount``, io_uring (the sandbox serves rings of its own: the
  probe tries to read the secret through an io_uring ``OPENAT``, and host fds the process's
  fd table lacks through its ``READ``), bpf, ``perf_event_open``, userfaultfd,
  ``name_to_handle_at``/``open_by_handle_at`` (reading the secret by its file handle),
  the host's keyrings (a key the test planted in root's user keyring), module loading, raw
  devices, ``mknod`` of a device, raw sockets, ``ioperm``,
  ``ptrace`` past the filter (ptrace between the sandbox's processes is its own: the probe
  rewrites a traced child's call at its syscall-entry stop into ``unshare``),
  ``process_vm_readv``, namespaces, a listening host unix socket in a bind
  mount and in the abstract namespace, a TCP listener on the host's loopback, ``/proc/kcore``
  and its kin, a host device node in a bind mount;
- foreign ABIs (ia32 ``int 0x80``, x32);
- ``/proc/self/mem`` writes to read-only text and to where the sandbox's stub lies, and a
  tracer's ``PTRACE_POKETEXT`` there;
- writing a running program (``/proc/self/exe``, its path with ``O_WRONLY``, ``O_RDWR``,
  ``O_TRUNC``, ``truncate``; a copy another process runs; running a file open for
  writing): ``ETXTBSY`` as on Linux;
- a host file handed over read-only as stdin, re-opened for writing through
  ``/proc/self/fd/0`` or ``/dev/stdin``;
- host identities: the first process's pid and parent, a host pid in ``/proc`` or to ``kill``,
  the uid, host paths in ``/proc/self`` (mountinfo, mounts, cgroup, maps).

The program first runs natively, as root, in a chroot of a scratch copy of the same rootfs
with the host's ``/proc`` and ``/dev`` and the same bind mount in it (a private mount
namespace, no pid namespace: what a runtime that only chroots would give): the table it
prints shows which probes escape there, so each probe is a real attempt. Then it runs in the
sandbox (``runsc-py run`` of a bundle of that rootfs, uid 0 with every capability, the
strongest workload a config can ask for) and every probe must be blocked; the running-program
probes must fail with ``ETXTBSY`` in both. A ``do``-mode run repeats the probes that do not
need the bundle's layout. Probes that could change the host clean up (a node they make is
unlinked, a key revoked, a mount unmounted) and, natively, act only on the scratch copy.

Run: ``python3 -m pytest tests/security/test_escapes.py -s`` (as root; needs cc and
busybox-static; ``-s`` prints the table).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.runner import BASE_ENV, UNSHARE, Result, run, runsc_argv

SRC = Path(__file__).resolve().parent / "src" / "escapes.c"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
LINE = re.compile(r"^([a-z0-9-]+): (ESCAPED|blocked|error) \((.*)\)$")

# The probes the do-mode run repeats: those that need no planted rootfs or secret.
DO_MODE = "path-foreign-procfs surface- abi- mem- exe- stdio- id-"

_NATIVE = r"""set -e
R=$1; D=$2; shift 2
mount --bind /proc "$R/proc"
mount --bind /dev "$R/dev"
mount --bind "$D" "$R/data"
mount --bind "$D.ro" "$R/ro"
mount -o remount,bind,ro "$R/ro"
exec CHROOT "$R" "$@"
""".replace("CHROOT", CHROOT)

ALL_CAPS = [
    f"CAP_{c}" for c in (
        "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
        "CHECKPOINT_RESTORE"
    ).split()
]


def _run_with_stdin(argv: list[str], stdin: Path, env: dict[str, str], cwd: Path | None = None,
                    timeout: float = 60) -> Result:
    """*argv* with the file *stdin* (opened read-only) as its standard input."""
    with stdin.open("rb") as f:
        proc = subprocess.Popen(argv, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    rc = proc.returncode
    return Result(128 - rc if rc < 0 else rc, out.decode(errors="replace"),
                  err.decode(errors="replace"))


def _parse(res: Result) -> dict[str, tuple[str, str]]:
    """``{probe: (ESCAPED|blocked|error, detail)}``; the run must have reached its end."""
    assert res.stdout.endswith("done\n"), f"the probes did not all run:\n{res.describe()}"
    out = {}
    for line in res.stdout.splitlines()[:-1]:
        m = LINE.match(line)
        assert m, f"unexpected line {line!r}:\n{res.describe()}"
        out[m[1]] = (m[2], m[3])
    return out


def _plant(rootfs: Path, secret: Path, data: Path, exe: Path) -> socket.socket:
    """The container's image for the probes (see escapes.c) and the host side of /data,
    with a listening host socket in it; returns that socket."""
    (rootfs / "inside.txt").write_text("inside\n")
    (rootfs / "planted-abs").symlink_to(secret)
    (rootfs / "planted-rel").symlink_to("../secret.txt")
    (rootfs / "data").mkdir()
    data.mkdir()
    (data / "up").symlink_to("../secret.txt")
    os.mknod(data / "kmsg-node", 0o600 | stat.S_IFCHR, os.makedev(1, 11))  # the host's log
    (rootfs / "ro").mkdir()
    ro = data.with_name(data.name + ".ro")  # the read-only bind mount's source
    ro.mkdir()
    (ro / "file.txt").write_text("read-only\n")
    shutil.copy2(exe, rootfs / "escapes")
    return _listen(socket.AF_UNIX, str(data / "host.sock"))


def _listen(family: int, addr: object) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind(addr)
    s.listen(8)
    return s


@pytest.fixture
def host_key() -> Iterator[None]:
    """A key in root's user keyring on the host, which surface-keyrings looks for: found
    natively (same uid, same kernel), never in the sandbox (its keys are the sentry's).
    Invalidated at the end."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    sys_add_key, sys_keyctl = 248, 250
    key = libc.syscall(sys_add_key, b"user", b"runsc-py-escprobe", b"host", 4,
                       ctypes.c_long(-4))  # KEY_SPEC_USER_KEYRING
    assert key > 0, os.strerror(ctypes.get_errno())
    # KEYCTL_SETPERM: the owner (not only a possessor) may find and read it
    libc.syscall(sys_keyctl, 5, ctypes.c_long(key), ctypes.c_ulong(0x3F3F0000))
    try:
        yield
    finally:
        libc.syscall(sys_keyctl, 21, ctypes.c_long(key))  # KEYCTL_INVALIDATE


@pytest.fixture
def host_sockets(tmp_path: Path) -> Iterator[list[socket.socket]]:
    """Host listeners the probes try to reach (closed at the end of the test); the device
    nodes the test made are removed then too."""
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()
    for node in tmp_path.rglob("kmsg-node"):
        node.unlink()


def _probe_args(exe: Path, token: str, secret: Path) -> list[str]:
    handle = run([str(exe), "--handle", str(secret)]).stdout.strip() or "-"
    dev = os.stat(secret).st_dev
    return [token, str(secret), str(os.getpid()), handle, "0",
            f"{os.major(dev)}:{os.minor(dev)}"]


def _table(native: dict[str, tuple[str, str]], boxed: dict[str, tuple[str, str]]) -> str:
    width = max(map(len, native))
    rows = [f"{'probe':<{width}}  {'host (root, chroot)':<50} sandbox"]
    for name, (verdict, detail) in native.items():
        if name not in boxed:
            continue
        got = boxed[name]
        native_col = f"{verdict} ({detail})"
        rows.append(f"{name:<{width}}  {native_col:<50.50} {got[0]} ({got[1]})")
    return "\n".join(rows)


def _check_sandboxed(native: dict[str, tuple[str, str]], boxed: dict[str, tuple[str, str]],
                     what: str) -> None:
    escaped = {n: v for n, v in boxed.items() if v[0] != "blocked"}
    assert not escaped, f"{what}: probes not blocked: {escaped}\n{_table(native, boxed)}"
    for name, (_, detail) in boxed.items():
        if name.startswith("exe-"):
            # Linux's answer to writing a running program
            assert detail == "ETXTBSY", f"{what}: {name}: {detail}\n{_table(native, boxed)}"


@pytest.fixture(scope="module")
def escapes_exe(c_program) -> Path:
    return c_program(SRC, static=True)


def test_escape_probes_escape_natively_and_are_blocked_in_the_sandbox(
    sandbox, busybox_bundle, native_rootfs, escapes_exe, tmp_path, host_sockets, host_key
):
    """§7.1, §7.4, §7.5: every probe that escapes a root chroot on the host is blocked in
    the sandbox, as is every other; a running program cannot be written (ETXTBSY)."""
    if os.geteuid() != 0:
        pytest.skip("the native half runs as root (chroot, mounts in a private namespace)")
    token = secrets.token_hex(16)
    # the host's loopback and abstract unix namespace, which the sandbox must not reach
    host_sockets.append(_listen(socket.AF_INET, ("127.0.0.1", 0)))
    host_sockets.append(_listen(socket.AF_UNIX, f"\0esc-{token}"))
    port = str(host_sockets[0].getsockname()[1])

    # natively: the rootfs copy at tmp_path/native-rootfs, the secret and /data's source
    # next to it
    n_secret, n_data = tmp_path / "secret.txt", tmp_path / "native-data"
    n_secret.write_text(token + "\n")
    host_sockets.append(_plant(native_rootfs, n_secret, n_data, escapes_exe))
    argv = [UNSHARE, "--mount", "--propagation", "private", "/bin/sh", "-c", _NATIVE,
            "native", str(native_rootfs), str(n_data), "/escapes",
            *_probe_args(escapes_exe, token, n_secret)]  # fmt: skip
    victim = tmp_path / "stdin.txt"  # handed over read-only as stdin
    victim.write_text("stdin\n")
    env = dict(BASE_ENV, ESCAPES_TCP_PORT=port, ESCAPES_HOSTPROC="/proc")
    native = _parse(_run_with_stdin(argv, victim, env))
    assert not [n for n, v in native.items() if v[0] == "error"], native
    escaped = sorted(n for n, v in native.items() if v[0] == "ESCAPED")
    # The probes are real: as root in a chroot most of them get out, but for the path
    # walks the kernel confines and the running-program ones (ETXTBSY is Linux's answer).
    # Which ones exactly depends on the host kernel: CONFIG_MODULES, ioperm, sysctls such
    # as io_uring_disabled.
    attempts = [n for n in native if not n.startswith("exe-")]
    assert len(escaped) * 2 >= len(attempts), f"few probes escape natively:\n{native}"
    assert "path-chroot-dotdot" in escaped, native["path-chroot-dotdot"]
    # Linux refuses to write a running program (ETXTBSY). On a host kernel that does not,
    # only this comparison is lost: the sandbox is still held to Linux's rule below.
    native_exe = {n: v for n, v in native.items() if n.startswith("exe-")}
    if any(v[0] == "ESCAPED" for v in native_exe.values()):
        print(f"this host kernel lets a running program be written: {native_exe}")
    else:
        assert all(v == ("blocked", "ETXTBSY") for v in native_exe.values()), native_exe
    assert native["stdio-reopen-stdin-for-writing"][0] == "ESCAPED", native

    # in the sandbox: the bundle's rootfs, its secret and /data's source next to it
    secret, data = busybox_bundle / "secret.txt", busybox_bundle / "data"
    secret.write_text(token + "\n")
    host_sockets.append(_plant(busybox_bundle / "rootfs", secret, data, escapes_exe))
    exe_hash = hashlib.sha256((busybox_bundle / "rootfs" / "escapes").read_bytes()).digest()
    cfg = json.loads((busybox_bundle / "config.json").read_text())
    cfg["process"]["args"] = ["/escapes", *_probe_args(escapes_exe, token, secret)]
    cfg["process"]["user"] = {"uid": 0, "gid": 0}
    cfg["process"]["env"] = [*cfg["process"]["env"], f"ESCAPES_TCP_PORT={port}"]
    cfg["process"]["capabilities"] = {s: ALL_CAPS for s in ("bounding", "effective", "permitted")}
    cfg["mounts"] = [m for m in cfg.get("mounts", []) if m["destination"] not in ("/data", "/ro")] + [
        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "rw"]},
        {"destination": "/ro", "type": "bind", "source": f"{data}.ro", "options": ["rbind", "ro"]},
    ]
    (busybox_bundle / "config.json").write_text(json.dumps(cfg))
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    boxed = _parse(res)
    assert boxed.keys() == native.keys(), res.describe()
    print("\n" + _table(native, boxed))  # shown with -s, -rP or on failure
    _check_sandboxed(native, boxed, "run")
    assert secret.read_text() == token + "\n"
    assert sorted(p.name for p in Path(f"{data}.ro").iterdir()) == ["file.txt"]
    assert Path(f"{data}.ro/file.txt").read_text() == "read-only\n"
    assert hashlib.sha256((busybox_bundle / "rootfs" / "escapes").read_bytes()).digest() == exe_hash

    # do mode: the host's root read-only below an in-memory overlay
    work = tmp_path / "do"
    work.mkdir()
    exe = work / "escapes"
    shutil.copy2(escapes_exe, exe)
    # with a procfs of the host's mounted under the root, where the gofer must not serve it
    hostproc = work / "hostproc"
    hostproc.mkdir()
    env = {"PATH": "/usr/bin:/bin", "ESCAPES_ONLY": DO_MODE, "ESCAPES_TCP_PORT": port,
           "ESCAPES_HOSTPROC": str(hostproc)}
    victim.write_text("stdin\n")
    argv = [UNSHARE, "--mount", "--propagation", "private", "/bin/sh", "-c",
            'mount -t proc proc "$0" && exec "$@"', str(hostproc),
            *runsc_argv(), "--root", str(sandbox.root), "do", "--", str(exe),
            *_probe_args(escapes_exe, token, secret)]  # fmt: skip
    res = _run_with_stdin(argv, victim, env, cwd=work)
    do_boxed = _parse(res)
    assert len(do_boxed) > 20, res.describe()
    print("\ndo mode:\n" + _table(native, do_boxed))
    _check_sandboxed(native, do_boxed, "do")
    assert exe.read_bytes() == escapes_exe.read_bytes()
    assert victim.read_text() == "stdin\n"
