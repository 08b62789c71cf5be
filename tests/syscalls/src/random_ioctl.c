/* random_ioctl.c -- random(4)'s ioctls on /dev/random and /dev/urandom: the entropy
 * count, the requests that take CAP_SYS_ADMIN (as root and as uid 1000), their argument
 * checks (a buffer far too long or not readable throughout), what the VFS answers first
 * (FIOQSIZE, FIGETBSZ, FIFREEZE, FITHAW), and EINVAL for anything else (a terminal
 * request: isatty(3) says EINVAL, not ENOTTY); /dev/null and /dev/zero have no ioctl
 * (ENOTTY).  When its stdin is the host's
 * /dev/random or /dev/urandom (tests/workloads/test_stdio.py), the same of it. */
#include "check.h"
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

static void requests(const char *who, int fd)
{
    char l[96];
    int n = -1;
    struct {
        int count, len;
        char buf[8];
    } ent = {8, 8, "abcdefg"};
    int neg_count[2] = {-1, 4}, neg_len[2] = {0, -5}, past[2] = {0, 1 << 20};
#define Q(label, expr)                                                   \
    do {                                                                 \
        snprintf(l, sizeof l, "%s %s", who, label);                      \
        R(l, expr);                                                      \
    } while (0)
    Q("RNDGETENTCNT", ioctl(fd, RNDGETENTCNT, &n));
    snprintf(l, sizeof l, "%s entropy count", who);
    R(l, n);
    Q("RNDGETENTCNT to NULL", ioctl(fd, RNDGETENTCNT, NULL));
    Q("RNDADDTOENTCNT 0", ioctl(fd, RNDADDTOENTCNT, &(int){0}));
    Q("RNDADDTOENTCNT -1", ioctl(fd, RNDADDTOENTCNT, &(int){-1}));
    Q("RNDADDTOENTCNT from NULL", ioctl(fd, RNDADDTOENTCNT, NULL));
    Q("RNDADDENTROPY", ioctl(fd, RNDADDENTROPY, &ent));
    Q("RNDADDENTROPY count -1", ioctl(fd, RNDADDENTROPY, neg_count));
    Q("RNDADDENTROPY len -5", ioctl(fd, RNDADDENTROPY, neg_len));
    Q("RNDADDENTROPY len past the buffer", ioctl(fd, RNDADDENTROPY, past));
    Q("RNDADDENTROPY from NULL", ioctl(fd, RNDADDENTROPY, NULL));
    Q("RNDZAPENTCNT", ioctl(fd, RNDZAPENTCNT, 0));
    Q("RNDCLEARPOOL", ioctl(fd, RNDCLEARPOOL, 0));
    Q("RNDRESEEDCRNG", ioctl(fd, RNDRESEEDCRNG, 0));
    Q("RNDGETPOOL (gone)", ioctl(fd, _IOR('R', 0x02, int[2]), &n));
    Q("an unknown 'R' request", ioctl(fd, _IO('R', 0x20), 0));
    /* a large buffer: readable throughout, its last page not, far too long */
    size_t big = 4 << 20;
    char *m = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(m == MAP_FAILED ? -1 : 0);
    int *head = (int *)m;
    head[0] = 0;
    head[1] = (int)(big - 4096 - 8);
    Q("RNDADDENTROPY of 4 MiB", ioctl(fd, RNDADDENTROPY, head));
    MUST(mprotect(m + big - 4096, 4096, PROT_NONE));
    head[1] = (int)(big - 8);
    Q("RNDADDENTROPY into a page not readable", ioctl(fd, RNDADDENTROPY, head));
    head[1] = 0x7ffff001;
    Q("RNDADDENTROPY past MAX_RW_COUNT", ioctl(fd, RNDADDENTROPY, head));
    munmap(m, big);
    /* what the VFS answers before random(4) sees the request */
    long long q = -1;
    Q("FIOQSIZE", ioctl(fd, FIOQSIZE, &q));
    n = -1;
    Q("FIGETBSZ", ioctl(fd, FIGETBSZ, &n));
    snprintf(l, sizeof l, "%s block size", who);
    R(l, n);
    Q("FIGETBSZ to NULL", ioctl(fd, FIGETBSZ, NULL));
    Q("FIFREEZE", ioctl(fd, FIFREEZE, 0));
    Q("FITHAW", ioctl(fd, FITHAW, 0));
#undef Q
}

static void generic(const char *who, int fd)
{
    struct termios tio;
    int n;
    char l[96];
    snprintf(l, sizeof l, "%s TCGETS", who);
    R(l, ioctl(fd, TCGETS, &tio));
    snprintf(l, sizeof l, "%s isatty", who);
    errno = 0;
    int tty = isatty(fd);
    printf("%s: %d %s\n", l, tty, en(errno));
    snprintf(l, sizeof l, "%s FIONREAD", who);
    R(l, ioctl(fd, FIONREAD, &n));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    static const char *const devs[] = {"/dev/random", "/dev/urandom", "/dev/null", "/dev/zero"};
    for (int i = 0; i < 4; i++) {
        int fd = open(devs[i], O_RDONLY);
        MUST(fd);
        generic(devs[i], fd);
        if (i < 2)
            requests(devs[i], fd);
        close(fd);
    }
    struct stat st;
    int stdin_random = fstat(0, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1
                       && (minor(st.st_rdev) == 8 || minor(st.st_rdev) == 9);
    if (stdin_random) {
        generic("stdin", 0);
        requests("stdin", 0);
    }
    int fd = open("/dev/urandom", O_RDONLY);
    MUST(fd);
    pid_t c = fork_as(1000);
    if (c == 0) {
        requests("uid 1000", fd);
        if (stdin_random)
            requests("uid 1000 stdin", 0);
        fflush(stdout);
        _exit(0);
    }
    show_wait("uid 1000", c);
    return 0;
}
