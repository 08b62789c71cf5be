/* errors.c -- hostile arguments: bad pointers (EFAULT), bad fds (EBADF),
 * unknown syscall numbers (ENOSYS), huge and negative lengths. The sandbox
 * must give the same errors and survive. Usage: errors WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    MUST(fd);
    MUST(write(fd, "0123456789", 10));
    MUST(lseek(fd, 0, SEEK_SET));
    /* a page with no access at all, and a read-only page */
    char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(none == MAP_FAILED ? -1 : 0);
    MUST(ro == MAP_FAILED ? -1 : 0);
    void *volatile bad = (void *)1;
    void *volatile kern = (void *)0xffffffffff600000UL; /* kernel half */
    struct stat st;

    R("read into NULL+1", syscall(SYS_read, fd, bad, 10));
    R("read into PROT_NONE", syscall(SYS_read, fd, none, 10));
    R("read into read-only page", syscall(SYS_read, fd, ro, 10));
    R("read into kernel address", syscall(SYS_read, fd, kern, 10));
    R("offset unchanged after EFAULT", lseek(fd, 0, SEEK_CUR));
    R("write from NULL+1", syscall(SYS_write, fd, bad, 10));
    R("write from PROT_NONE", syscall(SYS_write, fd, none, 10));
    R("pread into bad", syscall(SYS_pread64, fd, bad, 4, 0));
    R("pwrite from bad", syscall(SYS_pwrite64, fd, bad, 4, 0));
    R("stat bad path", syscall(SYS_stat, bad, &st));
    R("stat bad buffer", syscall(SYS_stat, "f", bad));
    R("stat read-only buffer", syscall(SYS_stat, "f", ro));
    R("fstat bad buffer", syscall(SYS_fstat, fd, bad));
    R("open bad path", syscall(SYS_open, bad, O_RDONLY));
    R("openat PROT_NONE path", syscall(SYS_openat, AT_FDCWD, none, O_RDONLY));
    R("mkdir bad path", syscall(SYS_mkdir, bad, 0755));
    R("readlink bad buffer", syscall(SYS_readlink, "/proc/self/exe", bad, 100));
    R("getcwd bad buffer", syscall(SYS_getcwd, bad, 100));
    R("pipe bad array", syscall(SYS_pipe, bad));
    R("pipe2 read-only array", syscall(SYS_pipe2, ro, 0));
    R("readv bad iov", syscall(SYS_readv, fd, bad, 2));
    struct iovec iov[2] = {{bad, 5}, {bad, 5}};
    R("writev bad base", syscall(SYS_writev, fd, iov, 2));
    R("uname bad buffer", syscall(SYS_uname, bad));
    R("clock_gettime bad buffer", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, bad));
    R("rt_sigaction bad act", syscall(SYS_rt_sigaction, SIGUSR1, bad, NULL, 8));
    R("poll bad fds", syscall(SYS_poll, bad, 1, 0));
    R("execve bad path", syscall(SYS_execve, bad, NULL, NULL));
    R("chdir bad path", syscall(SYS_chdir, bad));
    R("unlink bad path", syscall(SYS_unlink, bad));

    R("read fd -1", read(-1, &st, 1));
    R("read fd 999", read(999, &st, 1));
    R("write fd 1000000", write(1000000, "x", 1));
    R("close fd 999", close(999));
    R("fstat fd -5", fstat(-5, &st));
    R("lseek fd 999", lseek(999, 0, SEEK_SET));
    R("dup fd 999", dup(999));
    R("dup2 to negative", dup2(fd, -1));
    R("dup2 to huge", dup2(fd, INT_MAX));
    R("fchdir fd 999", fchdir(999));
    R("openat fd 999", openat(999, "f", O_RDONLY));
    R("getdents64 fd 999", syscall(SYS_getdents64, 999, &st, sizeof st));

    R("syscall(1000)", syscall(1000));
    R("syscall(548)", syscall(548));
    R("syscall(100000)", syscall(100000));
    R("syscall(-1)", syscall(-1));

    char buf[64];
    R("read SIZE_MAX", read(fd, buf, SIZE_MAX));
    R("read SSIZE_MAX", read(fd, buf, SSIZE_MAX));
    R("write SIZE_MAX", write(fd, buf, SIZE_MAX));
    R("pread negative offset", pread(fd, buf, 4, -4));
    R("lseek huge negative", lseek(fd, LONG_MIN, SEEK_SET));
    R("writev iovcnt 1025", writev(fd, iov, 1025));
    R("writev iovcnt -1", writev(fd, iov, -1));
    struct iovec huge[2] = {{buf, SSIZE_MAX}, {buf, SSIZE_MAX}};
    R("writev total overflow", writev(fd, huge, 2));
    R("mmap huge length", (long)mmap(NULL, (size_t)1 << 62, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    R("mmap zero length", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == -1 ? -1 : 0);
    R("mmap bad fd", (long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 0) == -1 ? -1 : 0);
    R("munmap unaligned", munmap((char *)ro + 1, 10));
    R("getcwd size 0", syscall(SYS_getcwd, buf, 0));
    R("readlink bufsiz 0", syscall(SYS_readlink, "/proc/self/exe", buf, 0));
    R("readlink bufsiz -1", syscall(SYS_readlink, "/proc/self/exe", buf, -1));
    R("poll nfds huge", syscall(SYS_poll, buf, 1UL << 40, 0));
    R("select nfds negative", syscall(SYS_select, -1, NULL, NULL, NULL, NULL));
    char longpath[PATH_MAX + 100];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    R("open path > PATH_MAX", open(longpath, O_RDONLY));
    R("kill pid INT_MIN", kill(INT_MIN, SIGUSR1));
    R("sched_yield still works", sched_yield());
    R("getpid still works", getpid());
    return 0;
}
