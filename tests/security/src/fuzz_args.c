/* fuzz_args.c SEED ROUNDS -- hostile arguments to the syscalls the sentry
 * emulates: bad, huge and unaligned pointers, huge lengths, negative fds and
 * flags, from forked children (so a child that breaks itself does not stop the
 * run). The parent then checks the sandbox still answers and prints "alive".
 * Calls that would block forever, end or signal other processes, exec or fork
 * are left out: they are not about argument decoding. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const long calls[] = {
    SYS_read, SYS_write, SYS_open, SYS_close, SYS_stat, SYS_fstat, SYS_lstat, SYS_poll,
    SYS_lseek, SYS_ioctl, SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev, SYS_access,
    SYS_pipe, SYS_select, SYS_dup, SYS_dup2, SYS_getpid, SYS_socketpair, SYS_getsockopt,
    SYS_setsockopt, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_shutdown,
    SYS_uname, SYS_fcntl, SYS_flock, SYS_fsync, SYS_truncate, SYS_ftruncate, SYS_getdents,
    SYS_getcwd, SYS_chdir, SYS_fchdir, SYS_rename, SYS_mkdir, SYS_rmdir, SYS_creat, SYS_link,
    SYS_unlink, SYS_symlink, SYS_readlink, SYS_chmod, SYS_fchmod, SYS_chown, SYS_umask,
    SYS_getrlimit, SYS_getrusage, SYS_sysinfo, SYS_times, SYS_getuid, SYS_setuid,
    SYS_getgroups, SYS_setgroups, SYS_setresuid, SYS_getresuid, SYS_capget, SYS_prctl,
    SYS_setrlimit, SYS_sethostname, SYS_getdents64, SYS_openat, SYS_mkdirat, SYS_newfstatat,
    SYS_unlinkat, SYS_renameat, SYS_linkat, SYS_symlinkat, SYS_readlinkat, SYS_fchmodat,
    SYS_faccessat, SYS_pselect6, SYS_ppoll, SYS_utimensat, SYS_dup3, SYS_pipe2, SYS_preadv,
    SYS_pwritev, SYS_prlimit64, SYS_renameat2, SYS_statx, SYS_getxattr, SYS_lgetxattr,
    SYS_listxattr, SYS_sched_getaffinity, SYS_getitimer, SYS_setitimer, SYS_alarm,
    SYS_sendfile, SYS_copy_file_range, SYS_close_range, SYS_faccessat2, SYS_mmap,
    SYS_rt_sigqueueinfo, 1000, 0x1fff,
};

static uint64_t state;
static uint64_t rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

static uint64_t arg(char *buf)
{
    switch (rnd() % 12) {
    case 0: return 0;
    case 1: return 1;
    case 2: return (uint64_t)-1;
    case 3: return 0x7fffffffffffULL;
    case 4: return 0xffffffffff600000ULL;
    case 5: return (uint64_t)(uintptr_t)buf + (rnd() % 4096);
    case 6: return (uint64_t)(uintptr_t)buf + 4096 - (rnd() % 8);  /* runs into PROT_NONE */
    case 7: return rnd() % 64;                                    /* small fd/flag */
    case 8: return (uint64_t)(int64_t)-(int64_t)(rnd() % 200);     /* negative */
    case 9: return 1ULL << (rnd() % 64);
    case 10: return rnd();
    default: return (uint64_t)(uintptr_t)"/tmp/fuzz-target";
    }
}

int main(int argc, char **argv)
{
    state = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    int ncalls = sizeof calls / sizeof calls[0];
    for (int r = 0; r < rounds; r++) {
        uint64_t seed = rnd();
        pid_t c = fork();
        if (c == 0) {
            state = seed | 1;
            alarm(3);
            /* what the calls write goes nowhere; what they read is empty */
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            /* a page of data followed by an inaccessible page */
            char *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            mprotect(buf + 4096, 4096, PROT_NONE);
            for (int i = 0; i < 300; i++) {
                memset(buf, (int)rnd(), 64);
                long nr = calls[rnd() % ncalls];
                uint64_t a[6];
                for (int k = 0; k < 6; k++) a[k] = arg(buf);
                if (nr == SYS_read || nr == SYS_pread64 || nr == SYS_readv || nr == SYS_recvfrom ||
                    nr == SYS_recvmsg || nr == SYS_preadv)
                    a[0] = 3 + rnd() % 4;  /* never stdin: reading it would wait */
                if (nr == SYS_poll || nr == SYS_ppoll || nr == SYS_select || nr == SYS_pselect6)
                    a[2] = 0, a[4] = 0;   /* no infinite timeouts */
                if (nr == SYS_alarm || nr == SYS_setitimer)
                    continue;             /* keep our own alarm */
                syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            }
            _exit(0);
        }
        int st;
        waitpid(c, &st, 0);
    }
    printf("alive %d\n", getpid());
    return 0;
}
