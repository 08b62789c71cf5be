"""execve and file mmap from the file's host fd: a changed program runs its new content
(the loader's ELF header cache), whichever path changed it; /proc/PID/maps names what the
loader and mmap map from lent fds by sandbox paths, never host ones; PROT_EXEC of a
``noexec`` mount's file stays EPERM (and its exec EACCES).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from helpers.bundle import edit_config, load_config
from helpers.runner import BASE_ENV, run_native, runsc

EXIT_SRC = "int main(void) { return %d; }\n"

MAPPER_SRC = textwrap.dedent(r"""
    #include <fcntl.h>
    #include <stdio.h>
    #include <sys/mman.h>
    /* map argv[1] privately, then print /proc/self/maps */
    int main(int argc, char **argv)
    {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
            return 2;
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            fputs(line, stdout);
        return 0;
    }
""")

REWRITE = textwrap.dedent("""\
    cp "$1/three" "$1/p"; "$1/p"; echo "a=$?"
    cat "$1/four" > "$1/p"; "$1/p"; echo "b=$?"
    ln "$1/p" "$1/h"; cat "$1/three" > "$1/h"; "$1/p"; echo "c=$?"
    cp "$1/four" "$1/new"; mv "$1/new" "$1/p"; "$1/p"; echo "d=$?"
""")


def _programs(c_program, tmp_path: Path, dest: Path) -> None:
    for n, name in ((3, "three"), (4, "four")):
        src = tmp_path / f"{name}.c"
        src.write_text(EXIT_SRC % n)
        (dest / name).write_bytes(c_program(src, static=True).read_bytes())
        (dest / name).chmod(0o755)


def test_rewritten_program_runs_new_content(sandbox, c_program, tmp_path):
    """A program rewritten in place, through a hard link, or replaced by rename runs what
    it holds now (the sandbox side writes the overlay's memory; natively the disk)."""
    work = tmp_path / "work"
    work.mkdir()
    _programs(c_program, tmp_path, work)
    cmd = ["/bin/sh", "-c", REWRITE, "sh", str(work)]
    native = run_native(cmd)
    assert native.stdout == "a=3\nb=4\nc=3\nd=4\n", native.describe()
    for name in ("p", "h"):
        (work / name).unlink()
    boxed = sandbox.do(cmd, timeout=60)
    assert (boxed.rc, boxed.stdout) == (native.rc, native.stdout), boxed.describe()


HELD = textwrap.dedent("""\
    "$1/true"; echo "a=$?"
    "$1/three"; echo "b=$?"
    "$1/false"; echo "c=$?"
    "$1/three"; echo "d=$?"
""")


def test_exec_of_a_held_program_lends_nothing(runsc_root, c_program, tmp_path):
    """busybox sh's children inherit busybox at the lent fd: their exec of a busybox
    applet lends nothing (no notified execveat, which ``--strace`` logs) and runs
    busybox; a different program is lent and runs its own code, and so is it again after
    (the shell never held it)."""
    work = tmp_path / "work"
    work.mkdir()
    _programs(c_program, tmp_path, work)
    for applet in ("true", "false"):
        (work / applet).symlink_to("/bin/busybox")
    cmd = ["/bin/busybox", "sh", "-c", HELD, "sh", str(work)]
    native = run_native(cmd)
    assert native.stdout == "a=0\nb=3\nc=1\nd=3\n", native.describe()
    log = tmp_path / "debug.log"
    res = runsc(["--strace", "do", "--", *cmd], root=runsc_root, env=BASE_ENV, timeout=60,
                debug_log=str(log))
    assert (res.rc, res.stdout) == (native.rc, native.stdout), res.describe()
    execs = [line for line in log.read_text().splitlines() if "] execve" in line]
    kinds = ["lend" if "execveat(1000" in line else line.split("/")[-1].split("'")[0]
             for line in execs]
    assert kinds == ["true", "three", "lend", "false", "three", "lend"], "\n".join(execs)


def test_bind_mounts_and_maps_names(sandbox, c_program, busybox_bundle, tmp_path):
    """One host directory bind-mounted twice: a program changed through one mount runs
    its new content through the other (gofer files, the loader maps them from the gofer's
    fd); /proc/PID/maps names the program, a private mapping and busybox by sandbox paths
    and never shows a host path."""
    data = tmp_path / "data"
    data.mkdir()
    _programs(c_program, tmp_path, data)
    mapper_src = tmp_path / "mapper.c"
    mapper_src.write_text(MAPPER_SRC)
    (data / "mapper").write_bytes(c_program(mapper_src, static=True).read_bytes())
    (data / "mapper").chmod(0o755)
    (busybox_bundle / "rootfs" / "a").mkdir(exist_ok=True)
    (busybox_bundle / "rootfs" / "b").mkdir(exist_ok=True)
    script = textwrap.dedent("""\
        cp /a/three /a/p; /b/p; echo "a=$?"
        cat /a/four > /a/p; /b/p; echo "b=$?"
        cat /b/three > /a/p; /a/p; echo "c=$?"
        /b/mapper /a/four > /tmp/maps; echo "mapper=$?"
        cat /proc/self/maps >> /tmp/maps
        cat /tmp/maps
    """)
    edit_config(
        busybox_bundle,
        args=["sh", "-c", script],
        env=["PATH=/bin"],
        cwd="/",
        mounts=[
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/a", "type": "bind", "source": str(data), "options": ["rbind", "rw"]},
            {"destination": "/b", "type": "bind", "source": str(data), "options": ["rbind", "rw"]},
        ],
    )
    assert load_config(busybox_bundle)["mounts"][2]["source"] == str(data)
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    lines = res.stdout.splitlines()
    assert lines[:4] == ["a=3", "b=4", "c=3", "mapper=0"], res.describe()
    maps = "\n".join(lines[4:])
    assert str(tmp_path) not in maps and str(busybox_bundle) not in maps, maps
    names = {line.split()[-1] for line in lines[4:] if len(line.split()) >= 6}
    if not sandbox.native_only:
        # the mapper (exec'd by sh: mapped from the lent fd), its private mapping of
        # /a/four, and cat (busybox)
        assert {"/b/mapper", "/a/four", "/bin/busybox"} <= names, json.dumps(sorted(names))


PROT_SRC = textwrap.dedent(r"""
    #include <errno.h>
    #include <fcntl.h>
    #include <stdio.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <unistd.h>
    /* open each file three times (a file of a trusted mount is re-opened by the sandbox's
     * C path from the second time on) and map it readable, then executable */
    int main(int argc, char **argv)
    {
        for (int a = 1; a < argc; a++)
            for (int i = 0; i < 3; i++) {
                int fd = open(argv[a], O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    return 2;
                void *r = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
                void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
                int e = errno;
                printf("%s %d read %s exec %s\n", argv[a], i, r == MAP_FAILED ? "no" : "ok",
                       x == MAP_FAILED ? strerror(e) : "ok");
                close(fd);
            }
        return 0;
    }
""")


def test_noexec_bind_mount_maps_nothing_executable(sandbox, c_program, busybox_bundle, tmp_path):
    """A file of a ``noexec`` bind mount maps readable but not executable (EPERM, do_mmap),
    also once the sandbox re-opens it itself (the mount read-only and exclusive: trusted),
    while the same file through a mount without ``noexec`` maps executable."""
    data = tmp_path / "data"
    data.mkdir()
    src = tmp_path / "prot.c"
    src.write_text(PROT_SRC)
    (data / "prot").write_bytes(c_program(src, static=True).read_bytes())
    (data / "prot").chmod(0o755)
    (busybox_bundle / "rootfs" / "x").mkdir(exist_ok=True)
    (busybox_bundle / "rootfs" / "n").mkdir(exist_ok=True)
    trusted = ["rbind", "ro", "runsc-py.file-access=exclusive"]
    edit_config(
        busybox_bundle,
        args=["/x/prot", "/n/prot", "/x/prot"],  # (the program, then the files it maps)
        env=["PATH=/bin"],
        cwd="/",
        mounts=[
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/x", "type": "bind", "source": str(data), "options": trusted},
            {"destination": "/n", "type": "bind", "source": str(data),
             "options": [*trusted, "noexec"]},
        ],
    )  # fmt: skip
    res = sandbox.run_bundle(busybox_bundle, timeout=60)
    assert res.rc == 0, res.describe()
    want = [f"/n/prot {i} read ok exec Operation not permitted" for i in range(3)]
    assert res.stdout.splitlines() == [*want, *(f"/x/prot {i} read ok exec ok" for i in range(3))
                                       ], res.describe()


NOEXEC = textwrap.dedent("""\
    import mmap, os, shutil, subprocess
    shutil.copy("/bin/true", "/dev/shm/t")
    os.chmod("/dev/shm/t", 0o755)
    fd = os.open("/dev/shm/t", os.O_RDONLY)
    for name, prot in (("read", mmap.PROT_READ), ("exec", mmap.PROT_READ | mmap.PROT_EXEC)):
        for flags in (mmap.MAP_PRIVATE, mmap.MAP_SHARED):
            try:
                m = mmap.mmap(fd, 4096, flags, prot)
                print(name, flags, "mapped", m[:4])
            except OSError as e:
                print(name, flags, "errno", e.errno)
    try:
        subprocess.run(["/dev/shm/t"])
        print("exec ran")
    except OSError as e:
        print("exec errno", e.errno)
    os.unlink("/dev/shm/t")
""")


def test_noexec_mount(sandbox):
    """The sandbox's /dev/shm is ``noexec``: a file there maps readable, not executable
    (EPERM, do_mmap), and does not exec (EACCES)."""
    if sandbox.native_only:
        return
    res = sandbox.do(["/usr/bin/python3", "-I", "-c", NOEXEC], timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == [
        "read 2 mapped b'\\x7fELF'",
        "read 1 mapped b'\\x7fELF'",
        "exec 2 errno 1",
        "exec 1 errno 1",
        "exec errno 13",
    ], res.describe()
