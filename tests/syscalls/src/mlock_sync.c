/* mlock_sync.c -- mlock2/mlockall/munlockall (flags, RLIMIT_MEMLOCK for a process without
 * CAP_IPC_LOCK, MCL_FUTURE refusing a mapping past the limit), readahead (fd checks,
 * non-regular files) and sync_file_range (flags, range, EBADF/ESPIPE). */
#include "check.h"
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void unprivileged_locks(void)
{
    /* the rules for a process without CAP_IPC_LOCK, the same natively and on the host */
    MUST(setresgid(1000, 1000, 1000));
    MUST(setresuid(1000, 1000, 1000));
    char *p = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(p == MAP_FAILED ? -1 : 0);
    struct rlimit rl = {4 * 4096, 4 * 4096};
    MUST(setrlimit(RLIMIT_MEMLOCK, &rl));
    R("mlock2 within limit", mlock2(p, 2 * 4096, 0));
    R("mlock2 onfault", mlock2(p + 2 * 4096, 4096, MLOCK_ONFAULT));
    R("mlock2 past limit", mlock2(p, 8 * 4096, 0));
    R("mlockall current past limit", mlockall(MCL_CURRENT));
    R("munlockall", munlockall());
    R("mlockall future", mlockall(MCL_FUTURE));
    void *big = mmap(NULL, 64 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap past limit under MCL_FUTURE: %s\n", big == MAP_FAILED ? en(errno) : "ok");
    R("munlockall again", munlockall());
    big = mmap(NULL, 64 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap after munlockall: %s\n", big == MAP_FAILED ? en(errno) : "ok");
    rl.rlim_cur = 0;
    MUST(setrlimit(RLIMIT_MEMLOCK, &rl));
    R("mlock2 limit 0", mlock2(p, 4096, 0));
    R("mlockall limit 0", mlockall(MCL_CURRENT));
    R("munlockall limit 0", munlockall());
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(p == MAP_FAILED ? -1 : 0);
    R("mlock2 bad flags", mlock2(p, 4096, 2));
    R("mlockall 0", mlockall(0));
    R("mlockall onfault alone", mlockall(MCL_ONFAULT));
    R("mlockall bad flag", mlockall(MCL_CURRENT | 8));
    R("munlock", munlock(p, 4096));
    pid_t c = fork();
    if (c == 0)
        unprivileged_locks();
    show_wait("unprivileged", c);

    int fd;
    MUST(fd = open("f", O_RDWR | O_CREAT, 0644));
    static char buf[3 * 4096];
    memset(buf, 'x', sizeof buf);
    MUST(write(fd, buf, sizeof buf));
    int ro, wo, path, pipes[2], ev, sv[2], dir, null;
    MUST(ro = open("f", O_RDONLY));
    MUST(wo = open("f", O_WRONLY));
    MUST(path = open("f", O_PATH));
    MUST(pipe(pipes));
    MUST(ev = eventfd(0, 0));
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    MUST(dir = open(".", O_RDONLY | O_DIRECTORY));
    MUST(null = open("/dev/null", O_RDWR));

    R("readahead", readahead(fd, 0, 4096));
    R("readahead past end", readahead(ro, 1 << 20, 1 << 20));
    R("readahead zero", readahead(ro, 0, 0));
    R("readahead write-only", readahead(wo, 0, 4096));
    R("readahead O_PATH", readahead(path, 0, 4096));
    R("readahead closed", readahead(999, 0, 4096));
    R("readahead pipe", readahead(pipes[0], 0, 4096));
    R("readahead eventfd", readahead(ev, 0, 4096));
    R("readahead socket", readahead(sv[0], 0, 4096));
    R("readahead dir", readahead(dir, 0, 4096));
    R("readahead dev null", readahead(null, 0, 4096));

    R("sfr write", sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WRITE));
    R("sfr all flags", sync_file_range(fd, 0, 0, 7));
    R("sfr none", sync_file_range(fd, 4096, 100, 0));
    R("sfr read-only fd", sync_file_range(ro, 0, 0, SYNC_FILE_RANGE_WRITE));
    R("sfr bad flags", sync_file_range(fd, 0, 0, 8));
    R("sfr negative offset", sync_file_range(fd, -1, 0, 0));
    R("sfr negative length", sync_file_range(fd, 0, -5, 0));
    R("sfr overflow", sync_file_range(fd, 0x7fffffffffff0000LL, 0x20000, 0));
    R("sfr bad flags on closed", sync_file_range(999, 0, 0, 8));
    R("sfr bad flags on pipe", sync_file_range(pipes[1], 0, 0, 8));
    R("sfr negative offset on pipe", sync_file_range(pipes[1], -1, 0, 0));
    R("sfr closed", sync_file_range(999, 0, 0, 0));
    R("sfr O_PATH", sync_file_range(path, 0, 0, 0));
    R("sfr pipe", sync_file_range(pipes[1], 0, 0, SYNC_FILE_RANGE_WRITE));
    R("sfr eventfd", sync_file_range(ev, 0, 0, 0));
    R("sfr socket", sync_file_range(sv[0], 0, 0, 0));
    R("sfr dir", sync_file_range(dir, 0, 0, SYNC_FILE_RANGE_WRITE));
    R("sfr dev null", sync_file_range(null, 0, 0, 0));
    return 0;
}
