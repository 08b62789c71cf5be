"""Design §5/§7.1: the host fds the loader lends an exec (the program at host fd 1001, its
interpreter at 1002, read-only) are good for nothing but the mapping they were lent for.

A program exec'd in the sandbox (so its image was mapped from lent fds) makes calls both
normally and by jumping to the stub's gadget (``syscall; int3`` at a fixed address: the one
call a filter exception lets through from there is a file mmap of fd 1001/1002). It may
map its own program read-only or privately; nothing writable, no other call on those host
fds (each is the sentry's, on the sandbox fd table, where 1001 is not open), and a sandbox
fd 1001 it opens itself maps its own file, not the lent one.
"""

from __future__ import annotations

import textwrap

PROBE = textwrap.dedent(r"""
    #define _GNU_SOURCE
    #include <errno.h>
    #include <fcntl.h>
    #include <setjmp.h>
    #include <signal.h>
    #include <stdio.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <sys/stat.h>
    #include <sys/syscall.h>
    #include <ucontext.h>
    #include <unistd.h>

    #define GADGET 0x7e0000001002UL /* the stub's syscall (r15 = 0: then int3) */
    #define BATCH 0x7e0000001040UL  /* the stub's batch loop */
    static sigjmp_buf jb;
    static volatile long trap_rax;

    static void on_trap(int sig, siginfo_t *si, void *ucv)
    {
        (void)sig; (void)si;
        trap_rax = ((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RAX];
        siglongjmp(jb, 1);
    }

    /* a syscall made from the gadget's address; its int3 brings us back */
    static long gadget(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
    {
        if (sigsetjmp(jb, 1) == 0) {
            register long r10 __asm__("r10") = a3;
            register long r8 __asm__("r8") = a4;
            register long r9 __asm__("r9") = a5;
            register long r15 __asm__("r15") = 0;
            __asm__ volatile("call *%[g]"
                             :: [g] "r"(GADGET), "a"(nr), "D"(a0), "S"(a1), "d"(a2),
                                "r"(r10), "r"(r8), "r"(r9), "r"(r15)
                             : "rcx", "r11", "memory");
            return -99999;
        }
        return trap_rax;
    }

    /* the stub's batch loop over n entries (nr, six arguments, result); its int3 brings
     * us back */
    static void batch(long (*table)[8], long n)
    {
        if (sigsetjmp(jb, 1) == 0) {
            register long r12 __asm__("r12") = (long)table;
            register long r13 __asm__("r13") = n;
            register long r15 __asm__("r15") = 1;
            __asm__ volatile("call *%[g]"
                             :: [g] "r"(BATCH), "r"(r12), "r"(r13), "r"(r15)
                             : "rax", "rdi", "rsi", "rdx", "r10", "r8", "r9", "rcx", "r11",
                               "memory");
        }
    }

    static void show(const char *what, long r)
    {
        if (r < 0 && r > -4096)
            printf("%s: -%s\n", what, strerrorname_np((int)-r));
        else
            printf("%s: ok\n", what);
    }

    int main(int argc, char **argv)
    {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_trap;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigaction(SIGTRAP, &sa, NULL);
        char buf[64];
        struct stat st;

        long m = gadget(SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, 1001, 0);
        show("gadget mmap shared ro 1001", m);
        if (m > 0) {
            printf("it maps: %s\n", memcmp((void *)m, "\177ELF", 4) == 0 ? "an ELF" : "?");
            show("mprotect it writable", mprotect((void *)m, 4096, PROT_READ | PROT_WRITE) ? -errno : 0);
        }
        show("gadget mmap shared rw 1001",
             gadget(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 1001, 0));
        long p = gadget(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, 1001, 0);
        show("gadget mmap private rw 1001", p);
        if (p > 0)
            *(volatile char *)p = 'X'; /* copy-on-write: the program file is not written */
        show("gadget mmap private 1000", gadget(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 1000, 0));
        show("gadget mmap private 1003", gadget(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 1003, 0));
        show("gadget read 1001", gadget(SYS_read, 1001, (long)buf, sizeof buf, 0, 0, 0));
        show("gadget pread 1001", gadget(SYS_pread64, 1001, (long)buf, sizeof buf, 0, 0, 0));
        show("gadget write 1001", gadget(SYS_write, 1001, (long)"x", 1, 0, 0, 0));
        show("gadget fstat 1001", gadget(SYS_fstat, 1001, (long)&st, 0, 0, 0, 0));
        show("gadget dup 1001", gadget(SYS_dup, 1001, 0, 0, 0, 0, 0));
        show("gadget fchmod 1001", gadget(SYS_fchmod, 1001, 0777, 0, 0, 0, 0));
        show("gadget ftruncate 1002", gadget(SYS_ftruncate, 1002, 0, 0, 0, 0, 0));
        /* the batch loop is the gadget's syscall too: no more than the gadget gives */
        long table[3][8] = {
            {SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, 1001, 0, 7},
            {SYS_read, 1001, (long)buf, sizeof buf, 0, 0, 0, 7},
            {SYS_getpid, 0, 0, 0, 0, 0, 0, 7},
        };
        batch(table, 3);
        show("batch mmap private 1001", table[0][7]);
        show("batch read 1001", table[1][7]);
        printf("batch after an error: %s\n", table[2][7] == 7 ? "not run" : "run");
        table[0][6] = 0; table[0][3] = PROT_READ | PROT_WRITE; table[0][4] = MAP_SHARED;
        table[0][7] = 7;
        batch(table, 1);
        show("batch mmap shared rw 1001", table[0][7]);
        show("read 1001", read(1001, buf, sizeof buf) < 0 ? -errno : 0);
        show("fstat 1002", fstat(1002, &st) < 0 ? -errno : 0);
        show("mmap 1001", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 1001, 0) == MAP_FAILED ? -errno : 0);

        /* the sandbox's own fd 1001 maps the sandbox's file */
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0 || dup2(fd, 1001) != 1001)
            return 2;
        char *own = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 1001, 0);
        printf("own fd 1001 maps: %s\n", own == MAP_FAILED ? "failed" : own);
        return 0;
    }
""")


def test_lent_fds_serve_only_their_mapping(sandbox, c_program, tmp_path):
    if sandbox.native_only:
        return
    src = tmp_path / "probe.c"
    src.write_text(PROBE)
    probe = c_program(src)
    data = tmp_path / "data"
    data.write_text("sandbox file\0")
    before = probe.read_bytes()
    # Run by sh, so the probe's exec is the loader's (init's own image is copied).
    res = sandbox.do(["/bin/sh", "-c", '"$0" "$1"; exit $?', str(probe), str(data)], timeout=60)
    assert res.rc == 0, res.describe()
    assert res.stdout.splitlines() == [
        "gadget mmap shared ro 1001: ok",
        "it maps: an ELF",
        "mprotect it writable: -EACCES",
        "gadget mmap shared rw 1001: -EACCES",
        "gadget mmap private rw 1001: ok",
        "gadget mmap private 1000: -EBADF",
        "gadget mmap private 1003: -EBADF",
        "gadget read 1001: -EBADF",
        "gadget pread 1001: -EBADF",
        "gadget write 1001: -EBADF",
        "gadget fstat 1001: -EBADF",
        "gadget dup 1001: -EBADF",
        "gadget fchmod 1001: -EBADF",
        "gadget ftruncate 1002: -EBADF",
        "batch mmap private 1001: ok",
        "batch read 1001: -EBADF",
        "batch after an error: not run",
        "batch mmap shared rw 1001: -EACCES",
        "read 1001: -EBADF",
        "fstat 1002: -EBADF",
        "mmap 1001: -EBADF",
        "own fd 1001 maps: sandbox file",
    ], res.describe()
    assert probe.read_bytes() == before


def test_init_is_mapped_from_its_file_too(tmp_path):
    """A sandbox's first program (its exec is the stub's own, no notification before it)
    is lent as well: its host mappings are of the program and ld.so, read-only, not
    anonymous copies; and fd 1001/1002 of its host process are those files."""
    import os
    import subprocess
    import time

    from helpers import procs
    from helpers.runner import BASE_ENV, runsc_argv

    sleep = os.path.realpath("/bin/sleep")
    cli = subprocess.Popen([*runsc_argv(), "--root", str(tmp_path / "state"), "do", "--",
                            sleep, "60"], env=BASE_ENV, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        maps, fds = "", {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sleep not in maps:
            tree = procs.descendants(cli.pid) | {cli.pid}
            for pid in tree:
                if procs.tracer_of(pid) not in tree:
                    continue
                try:
                    maps = open(f"/proc/{pid}/maps").read()
                    fds = {n: os.readlink(f"/proc/{pid}/fd/{n}") for n in (1001, 1002)}
                except OSError:
                    continue
            time.sleep(0.05)
        text = [ln for ln in maps.splitlines() if ln.split()[1].endswith("xp")]
        assert any(ln.endswith(sleep) for ln in text), maps
        assert any("ld-linux" in ln for ln in text), maps
        assert fds[1001] == sleep and "ld-linux" in fds[1002], fds
    finally:
        procs.stop_cli(cli)
