"""File access policies of gofer mounts (gVisor's ``--file-access`` / ``--file-access-mounts``).

A bind mount is ``shared`` by default: another container (here, the test itself on the
host) may change it while the sandbox runs, and the sandbox sees every change at its next
walk (renames over a cached name, new names it looked up before, removals, chmod). With
``runsc-py.file-access=exclusive`` only the sandbox changes it: its own writes, renames
and removals show through every path at once. The root's lower layer is exclusive: its
names and attributes stay cached (checked through the counters of the gofer's requests
in the unit tests; here, through what the sandbox sees).
"""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path

import pytest

from helpers.bundle import edit_config
from helpers.runner import BASE_ENV, runsc_argv

# The script prints a marker after each step and waits for a line on stdin before the next,
# so the host changes the bind mount exactly between two steps.
SCRIPT = r"""
cd /data
cat f; ls; cat sub/h; stat -c %a f
echo step1; read x
cat f; ls; cat g 2>/dev/null || echo no-g; cat sub/h 2>/dev/null || echo no-h
stat -c %a f; cat /data/sub2/h
echo step2; read x
ls; cat f 2>/dev/null || echo no-f
echo done
"""


def _start(runsc_root: Path, bundle: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*runsc_argv(), "--root", str(runsc_root), "run", "--bundle", str(bundle), "fa1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=BASE_ENV,
        start_new_session=True, bufsize=0)  # unbuffered: select() sees every line


def _stop(proc: subprocess.Popen[bytes], runsc_root: Path) -> None:
    """Kill the sandbox if it still runs, close its pipes and delete its container."""
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()
    subprocess.run([*runsc_argv(), "--root", str(runsc_root), "delete", "--force", "fa1"],
                   env=BASE_ENV, capture_output=True)


def _until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 60) -> list[bytes]:
    assert proc.stdout is not None
    lines: list[bytes] = []
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        assert ready, f"no {marker!r} after {lines}"
        line = proc.stdout.readline()
        assert line, f"sandbox ended before {marker!r}: {lines}"
        if line.strip() == marker:
            return lines
        lines.append(line.strip())


def test_shared_bind_sees_the_host_change_it(runsc_root, busybox_bundle, tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "f").write_text("one\n")
    (data / "sub" / "h").write_text("h1\n")
    (busybox_bundle / "rootfs" / "data").mkdir(exist_ok=True)
    edit_config(busybox_bundle, args=["sh", "-c", SCRIPT], mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "rw"]},
    ])
    proc = _start(runsc_root, busybox_bundle)
    try:
        assert _until(proc, b"step1") == [b"one", b"f", b"sub", b"h1", b"644"]
        # Another writer: a new file renamed over a cached name, a name the sandbox has
        # not seen, a directory renamed away, a mode change.
        (data / "f.new").write_text("two\n")
        os.rename(data / "f.new", data / "f")
        (data / "g").write_text("gee\n")
        os.rename(data / "sub", data / "sub2")
        os.chmod(data / "f", 0o600)
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        assert _until(proc, b"step2") == [b"two", b"f", b"g", b"sub2", b"gee", b"no-h",
                                          b"600", b"h1"]
        (data / "f").unlink()
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        assert _until(proc, b"done") == [b"g", b"sub2", b"no-f"]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        _stop(proc, runsc_root)


FSTAT_PROGRAM = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
static void show(int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0) { perror("fstat"); return; }
    printf("%u %u %o %lld\n", st.st_uid, st.st_gid, st.st_mode & 07777, (long long)st.st_size);
}
int main(void) {
    char c;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = open("/data/f", O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    show(fd);
    puts("step1");
    if (read(0, &c, 1) != 1) return 1;
    show(fd);
    puts("done");
    return 0;
}
"""


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_shared_bind_fstat_sees_the_host_change_an_open_file(runsc_root, busybox_bundle,
                                                             tmp_path, c_program, mode):
    """fstat of an open file of a shared bind mount shows the host's chown, chmod and
    write of it (the C fast path's fstat substituted the owner it saw at the open, for
    good on a read-only mount: the host may change a shared one whatever the sandbox
    may do)."""
    src = tmp_path / "fstat_open.c"
    src.write_text(FSTAT_PROGRAM)
    exe = c_program(src, static=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("one\n")
    (data / "f").chmod(0o644)
    (busybox_bundle / "rootfs" / "data").mkdir(exist_ok=True)
    (busybox_bundle / "rootfs" / "fstat_open").write_bytes(exe.read_bytes())
    (busybox_bundle / "rootfs" / "fstat_open").chmod(0o755)
    edit_config(busybox_bundle, args=["/fstat_open"], mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": str(data),
         "options": ["rbind", mode]},
    ])
    proc = _start(runsc_root, busybox_bundle)
    try:
        assert _until(proc, b"step1") == [b"0 0 644 4"]
        os.chown(data / "f", 1234, 4321)
        os.chmod(data / "f", 0o600)
        with open(data / "f", "a") as f:
            f.write("two\n")
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        assert _until(proc, b"done") == [b"1234 4321 600 8"]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        _stop(proc, runsc_root)


EXCLUSIVE_SCRIPT = r"""
cd /data
cat f; ls
echo two > f.new && mv f.new f && cat /data/f && cat f
ln f hard && echo three >> hard && cat /data/f
rm f && ls && cat hard
mkdir -p d/e && mv d d2 && ls d2 && ls d 2>/dev/null || echo no-d
"""


def test_exclusive_bind_sees_its_own_changes(sandbox, busybox_bundle, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("one\n")
    (busybox_bundle / "rootfs" / "data").mkdir(exist_ok=True)
    edit_config(busybox_bundle, args=["sh", "-c", EXCLUSIVE_SCRIPT], mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": str(data),
         "options": ["rbind", "rw", "runsc-py.file-access=exclusive"]},
    ])
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == [
        "one", "f", "two", "two", "two", "three", "hard", "two", "three", "e", "no-d",
    ], res.describe()
    assert (data / "hard").read_text() == "two\nthree\n"
    assert sorted(os.listdir(data)) == ["d2", "hard"]


def test_file_access_option_is_checked(sandbox, busybox_bundle, tmp_path):
    (tmp_path / "data").mkdir()
    edit_config(busybox_bundle, args=["true"], mounts=[
        {"destination": "/data", "type": "bind", "source": str(tmp_path / "data"),
         "options": ["rbind", "runsc-py.file-access=sometimes"]},
    ])
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc != 0
    assert "file access policy is shared or exclusive" in res.stderr, res.describe()
