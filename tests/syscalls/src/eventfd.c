/* eventfd.c -- eventfd/eventfd2: flags, the 8-byte read/write rules, counter and
 * semaphore modes, the overflow limit (EAGAIN, or a write that blocks until a read
 * makes room), blocking reads woken by another process, poll/select readiness,
 * sharing across fork, fdinfo, what an anonymous inode looks like. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static void show_poll(const char *label, int fd)
{
    struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM, 0};
    int r = poll(&p, 1, 0);
    printf("%s: %d%s%s%s%s%s\n", label, r, p.revents & POLLIN ? " IN" : "",
           p.revents & POLLOUT ? " OUT" : "", p.revents & POLLERR ? " ERR" : "",
           p.revents & POLLRDNORM ? " RDNORM" : "", p.revents & POLLWRNORM ? " WRNORM" : "");
}

static void show_fdinfo(const char *label, int fd)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY);
    MUST(f);
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    buf[n > 0 ? n : 0] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "eventfd-id", 10) != 0 && strncmp(line, "mnt_id", 6) != 0 &&
            strncmp(line, "ino", 3) != 0)
            printf("%s: %s\n", label, line);
}

static uint64_t rd(int fd, const char *label)
{
    uint64_t v = 0;
    errno = 0;
    ssize_t r = read(fd, &v, sizeof v);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %zd value %llu\n", label, r, (unsigned long long)v);
    return v;
}

static ssize_t wr(int fd, uint64_t v) { return write(fd, &v, sizeof v); }

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    R("eventfd2 bad flags", eventfd(0, 0x4));
    R("eventfd2 bad flags 2", eventfd(0, O_APPEND));
    int e = eventfd(0, 0);
    MUST(e);
    printf("F_GETFL: %o\n", fcntl(e, F_GETFL));
    T("not cloexec", !(fcntl(e, F_GETFD) & FD_CLOEXEC));
    int ec = eventfd(5, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
    MUST(ec);
    printf("F_GETFL nonblock: %o\n", fcntl(ec, F_GETFL));
    T("cloexec", fcntl(ec, F_GETFD) & FD_CLOEXEC);
    int old = syscall(SYS_eventfd, 7);
    MUST(old);
    rd(old, "eventfd(7) read");
    close(old);

    struct stat st;
    MUST(fstat(e, &st));
    printf("fstat: mode %o size %lld nlink %ld blksize %ld\n", st.st_mode, (long long)st.st_size,
           (long)st.st_nlink, (long)st.st_blksize);
    char link[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", e);
    ssize_t ln = readlink(path, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    printf("fd link: %s\n", link);
    R("reopen through /proc", open(path, O_RDWR));
    show_fdinfo("fdinfo", e);
    show_fdinfo("fdinfo sem", ec);

    char small[4];
    uint64_t v = 1;
    R("read 4 bytes", read(e, small, 4));
    R("write 4 bytes", write(e, &v, 4));
    R("write max", wr(e, 0xffffffffffffffffULL));
    R("pread", pread(e, &v, 8, 0));
    R("pwrite", pwrite(e, &v, 8, 0));
    R("lseek", lseek(e, 10, SEEK_SET));
    int avail = -1;
    R("FIONREAD", ioctl(e, FIONREAD, &avail));
    R("write bad pointer", syscall(SYS_write, e, (void *)8, 8));

    show_poll("poll at 0", e);
    R("write 3", wr(e, 3));
    R("write 4", wr(e, 4));
    char big[16] = {0};
    uint64_t ten = 10;
    memcpy(big, &ten, 8);
    R("write 16 bytes", write(e, big, 16));
    show_poll("poll at 7", e);
    show_fdinfo("fdinfo at 7", e);
    uint64_t two[2] = {0, 0};
    R("read 16 bytes", read(e, two, 16));
    printf("value %llu, rest %llu\n", (unsigned long long)two[0], (unsigned long long)two[1]);
    MUST(fcntl(e, F_SETFL, O_NONBLOCK));
    rd(e, "read at 0, O_NONBLOCK");
    R("write 0", wr(e, 0));
    rd(e, "read after writing 0");
    R("write 2", wr(e, 2));
    uint32_t a = 0, b = 0;
    struct iovec iov[2] = {{&a, 4}, {&b, 4}};
    R("readv 4+4", readv(e, iov, 2));
    printf("readv halves %u %u\n", a, b);

    /* semaphore mode: one at a time */
    rd(ec, "sem read 1");
    rd(ec, "sem read 2");
    R("sem write 2", wr(ec, 2));
    for (int i = 0; i < 5; i++) {
        char l[32];
        snprintf(l, sizeof l, "sem read %d", i + 3);
        rd(ec, l);
    }

    /* the limit: 0xfffffffffffffffe */
    R("write 0xfffffffffffffffe", wr(e, 0xfffffffffffffffeULL));
    show_poll("poll at the maximum", e);
    R("write 1 more (nonblock)", wr(e, 1));
    R("write 0 at the maximum", wr(e, 0));
    rd(e, "read the maximum");
    R("write 0xfffffffffffffffd", wr(e, 0xfffffffffffffffdULL));
    show_poll("poll one below the maximum", e);
    R("write 1 more", wr(e, 1));
    R("write 1 beyond", wr(e, 1));
    rd(e, "read");

    /* a blocking write waits for a read (in another process) */
    MUST(fcntl(e, F_SETFL, 0));
    R("fill", wr(e, 0xfffffffffffffff0ULL));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        uint64_t x;
        if (read(e, &x, 8) != 8)
            _exit(1);
        _exit(x == 0xfffffffffffffff0ULL ? 0 : 2);
    }
    R("blocking write", wr(e, 0x20));
    int stt;
    MUST(waitpid(c, &stt, 0));
    R("reader status", WEXITSTATUS(stt));
    rd(e, "after the blocking write");

    /* a blocking read woken by another process's write; the counter is shared */
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        _exit(wr(e, 42) == 8 ? 0 : 1);
    }
    rd(e, "blocking read");
    MUST(waitpid(c, &stt, 0));
    R("writer status", WEXITSTATUS(stt));

    /* select sees the same */
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(e, &r);
    FD_SET(e, &w);
    struct timeval tv = {0, 0};
    R("select at 0", select(e + 1, &r, &w, NULL, &tv));
    printf("select readable %d writable %d\n", FD_ISSET(e, &r), FD_ISSET(e, &w));
    MUST(wr(e, 1));
    FD_ZERO(&r);
    FD_SET(e, &r);
    R("select at 1", select(e + 1, &r, NULL, NULL, NULL));

    /* a poll that waits for a write from a child */
    rd(e, "drain");
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        _exit(wr(e, 9) == 8 ? 0 : 1);
    }
    struct pollfd pf = {e, POLLIN, 0};
    R("poll waits for the child", poll(&pf, 1, 5000));
    MUST(waitpid(c, &stt, 0));
    rd(e, "read after poll");
    close(e);
    close(ec);
    return 0;
}
