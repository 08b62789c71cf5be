/* rw2.c -- preadv2/pwritev2: offsets (given, -1 = the file position, which moves, and
 * < -1), each RWF_* flag Linux takes on a regular file and a pipe (HIPRI, DSYNC, SYNC,
 * APPEND and NOAPPEND against O_APPEND, NOWAIT: EAGAIN on an empty pipe, EINVAL for a
 * buffered file write), unknown flags, APPEND|NOAPPEND, zero-length vectors (no flag
 * check), ESPIPE, EBADF; EOPNOTSUPP for a flag but HIPRI on a file with a plain read or
 * write only (a directory, /proc/self/stat, /dev/full's write). */
#include "check.h"
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif

static long prv2(int fd, void *buf, size_t n, long off, int flags)
{
    struct iovec v = {buf, n};
    return syscall(SYS_preadv2, fd, &v, 1, off, 0, flags);
}

static long pwv2(int fd, const char *s, long off, int flags)
{
    struct iovec v = {(void *)s, strlen(s)};
    return syscall(SYS_pwritev2, fd, &v, 1, off, 0, flags);
}

static void show(const char *label, int fd)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    printf("%s: \"%s\" pos %ld\n", label, buf, (long)lseek(fd, 0, SEEK_CUR));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    char buf[64];
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    MUST(fd);
    R("pwritev2 at 0", pwv2(fd, "hello world", 0, 0));
    show("file", fd);
    R("pwritev2 at -1", pwv2(fd, "ABC", -1, 0));
    show("file", fd);
    R("pwritev2 at -1 again", pwv2(fd, "DEF", -1, 0));
    show("file", fd);
    R("pwritev2 at -2", pwv2(fd, "x", -2, 0));
    R("pwritev2 HIPRI", pwv2(fd, "h", 1, RWF_HIPRI));
    R("pwritev2 DSYNC", pwv2(fd, "d", 2, RWF_DSYNC));
    R("pwritev2 SYNC", pwv2(fd, "s", 3, RWF_SYNC));
    show("file", fd);
    R("pwritev2 APPEND at 0", pwv2(fd, "+app", 0, RWF_APPEND));
    show("file", fd);
    R("pwritev2 APPEND at -1", pwv2(fd, "+cur", -1, RWF_APPEND));
    show("file", fd);
    R("pwritev2 APPEND|NOAPPEND", pwv2(fd, "x", 0, RWF_APPEND | RWF_NOAPPEND));
    R("pwritev2 NOWAIT on a file", pwv2(fd, "x", 0, RWF_NOWAIT));
    R("pwritev2 flag 0x100", pwv2(fd, "x", 0, 0x100));
    R("pwritev2 flag 0x100, empty", pwv2(fd, "", 0, 0x100));
    int fa = open("f", O_RDWR | O_APPEND);
    MUST(fa);
    R("O_APPEND pwritev2 at 0", pwv2(fa, "<a>", 0, 0));
    R("O_APPEND pwritev2 NOAPPEND at 0", pwv2(fa, "N", 0, RWF_NOAPPEND));
    show("file", fd);
    R("fcntl still O_APPEND", (fcntl(fa, F_GETFL) & O_APPEND) != 0);
    close(fa);

    memset(buf, 0, sizeof buf);
    R("preadv2 at 6", prv2(fd, buf, 5, 6, 0));
    printf("read: %s\n", buf);
    MUST(lseek(fd, 2, SEEK_SET));
    memset(buf, 0, sizeof buf);
    R("preadv2 at -1", prv2(fd, buf, 4, -1, 0));
    printf("read: %s pos %ld\n", buf, (long)lseek(fd, 0, SEEK_CUR));
    R("preadv2 HIPRI", prv2(fd, buf, 4, 0, RWF_HIPRI));
    R("preadv2 NOWAIT", prv2(fd, buf, 4, 0, RWF_NOWAIT));
    R("preadv2 DSYNC|SYNC", prv2(fd, buf, 4, 0, RWF_DSYNC | RWF_SYNC));
    R("preadv2 APPEND", prv2(fd, buf, 4, 0, RWF_APPEND));
    R("preadv2 APPEND|NOAPPEND", prv2(fd, buf, 4, 0, RWF_APPEND | RWF_NOAPPEND));
    R("preadv2 flag 0x100", prv2(fd, buf, 4, 0, 0x100));
    R("preadv2 flag 0x100, empty", prv2(fd, buf, 0, 0, 0x100));
    R("preadv2 at -2", prv2(fd, buf, 4, -2, 0));
    R("preadv2 bad fd", prv2(99, buf, 4, 0, 0));
    int wo = open("f", O_WRONLY);
    R("preadv2 write-only fd", prv2(wo, buf, 4, 0, 0));
    R("pwritev2 read-only", pwv2(open("f", O_RDONLY), "x", 0, 0));
    close(wo);

    /* files with a plain read or write only (do_loop_readv_writev): no flag but HIPRI */
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    MUST(dfd);
    R("dir: preadv2", prv2(dfd, buf, 4, 0, 0));
    R("dir: preadv2 HIPRI", prv2(dfd, buf, 4, 0, RWF_HIPRI));
    R("dir: preadv2 NOWAIT", prv2(dfd, buf, 4, 0, RWF_NOWAIT));
    R("dir: preadv2 DSYNC at -1", prv2(dfd, buf, 4, -1, RWF_DSYNC));
    close(dfd);
    int pf = open("/proc/self/stat", O_RDONLY);
    MUST(pf);
    R("/proc/self/stat: preadv2 HIPRI", prv2(pf, buf, 4, 0, RWF_HIPRI));
    R("/proc/self/stat: preadv2 NOWAIT", prv2(pf, buf, 4, 0, RWF_NOWAIT));
    R("/proc/self/stat: preadv2 SYNC", prv2(pf, buf, 4, 0, RWF_SYNC));
    close(pf);
    /* no read or write at all (FMODE_CAN_READ/WRITE): EINVAL, whatever the flags */
    int ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0), efd = eventfd(0, 0);
    MUST(ep); MUST(tfd); MUST(efd);
    R("epoll: preadv2 NOWAIT", prv2(ep, buf, 4, -1, RWF_NOWAIT));
    R("epoll: preadv2", prv2(ep, buf, 4, -1, 0));
    R("epoll: pwritev2 DSYNC", pwv2(ep, "12345678", -1, RWF_DSYNC));
    R("timerfd: pwritev2 DSYNC", pwv2(tfd, "12345678", -1, RWF_DSYNC));
    R("eventfd: pwritev2 NOWAIT", pwv2(efd, "12345678", -1, RWF_NOWAIT));
    close(ep); close(tfd); close(efd);
    int full = open("/dev/full", O_WRONLY);
    MUST(full);
    R("/dev/full: pwritev2 HIPRI", pwv2(full, "x", -1, RWF_HIPRI));
    R("/dev/full: pwritev2 DSYNC", pwv2(full, "x", -1, RWF_DSYNC));
    close(full);

    int p[2];
    MUST(pipe(p));
    R("pipe: preadv2 NOWAIT empty", prv2(p[0], buf, 4, -1, RWF_NOWAIT));
    R("pipe: still blocking", (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
    R("pipe: pwritev2 -1", pwv2(p[1], "pipe", -1, 0));
    R("pipe: pwritev2 NOWAIT", pwv2(p[1], "!", -1, RWF_NOWAIT));
    R("pipe: preadv2 at 0", prv2(p[0], buf, 4, 0, 0));
    R("pipe: preadv2 at 0, empty", prv2(p[0], buf, 0, 0, 0));
    memset(buf, 0, sizeof buf);
    R("pipe: preadv2 NOWAIT", prv2(p[0], buf, 10, -1, RWF_NOWAIT));
    printf("read: %s\n", buf);
    return 0;
}
