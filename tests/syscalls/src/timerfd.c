/* timerfd.c -- timerfd_create/settime/gettime: clocks and flags, argument errors in
 * Linux's order, one-shot and periodic expirations counted by read (generous timing:
 * only counts in wide ranges are printed), absolute times in the past, gettime's
 * re-arm of a periodic timer, settime's old value and its reset of unread ticks,
 * EAGAIN with TFD_NONBLOCK, blocking reads and poll/epoll readiness (one EPOLLET event
 * per expiration that is read, not per period), TFD_IOC_SET_TICKS, fork, fdinfo. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#define MS 1000000L
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int settime(int fd, int flags, long value_ns, long interval_ns, struct itimerspec *old)
{
    struct itimerspec its = {
        .it_interval = {interval_ns / 1000000000L, interval_ns % 1000000000L},
        .it_value = {value_ns / 1000000000L, value_ns % 1000000000L},
    };
    return timerfd_settime(fd, flags, &its, old);
}

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static uint64_t rd(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, 8) != 8)
        return (uint64_t)-1;
    return v;
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
        if (strncmp(line, "mnt_id", 6) != 0 && strncmp(line, "ino", 3) != 0)
            printf("%s: %s\n", label, line);
}

static int epoll_wait_n(int ep, int timeout)
{
    struct epoll_event ev[4];
    return epoll_wait(ep, ev, 4, timeout);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int clocks[] = {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        char l[32];
        snprintf(l, sizeof l, "create clock %d", clocks[i]);
        errno = 0;
        int fd = timerfd_create(clocks[i], 0);
        if (fd < 0)
            printf("%s: -1 %s\n", l, en(errno));
        else
            printf("%s: ok\n", l);
        if (fd >= 0)
            close(fd);
    }
    R("create bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
    R("create O_APPEND", timerfd_create(CLOCK_MONOTONIC, O_APPEND));
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    MUST(t);
    T("TFD_CLOEXEC", fcntl(t, F_GETFD) & FD_CLOEXEC);
    printf("F_GETFL: %o\n", fcntl(t, F_GETFL));
    char link[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", t);
    ssize_t ln = readlink(path, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    printf("fd link: %s\n", link);
    show_fdinfo("fresh", t);

    struct itimerspec g, old;
    R("gettime fresh", timerfd_gettime(t, &g));
    printf("fresh: value %lld interval %lld\n", ns(g.it_value), ns(g.it_interval));
    R("gettime bad fd", timerfd_gettime(999, &g));
    int e = eventfd(0, 0);
    R("gettime eventfd", timerfd_gettime(e, &g));
    R("gettime NULL", syscall(SYS_timerfd_gettime, t, NULL));
    R("settime bad flags", settime(t, 4, MS, 0, NULL));
    R("settime bad flags, bad fd", settime(999, 4, MS, 0, NULL));
    struct itimerspec badv = {{0, 0}, {0, 1000000000L}};
    R("settime value nsec 1e9", timerfd_settime(t, 0, &badv, NULL));
    struct itimerspec badi = {{0, -1}, {1, 0}};
    R("settime interval nsec -1", timerfd_settime(t, 0, &badi, NULL));
    struct itimerspec negs = {{0, 0}, {-1, 0}};
    R("settime negative seconds", timerfd_settime(t, 0, &negs, NULL));
    R("settime eventfd", settime(e, 0, MS, 0, NULL));
    R("settime bad fd", settime(999, 0, MS, 0, NULL));
    R("settime NULL", syscall(SYS_timerfd_settime, t, 0, NULL, NULL));
    struct itimerspec off = {{0, 0}, {0, 0}};
    R("settime bad old pointer", syscall(SYS_timerfd_settime, t, 0, &off, (void *)8));
    MUST(timerfd_gettime(t, &g));
    printf("after the faulting old pointer: value %lld\n", ns(g.it_value));
    char small[4];
    R("read 4 bytes", read(t, small, 4));
    uint64_t v = 1;
    R("write", write(t, &v, 8));
    R("lseek", lseek(t, 5, SEEK_SET));
    R("pread", pread(t, &v, 8, 0));

    /* one-shot, relative */
    MUST(fcntl(t, F_SETFL, O_NONBLOCK));
    R("settime 100ms one-shot", settime(t, 0, 100 * MS, 0, NULL));
    R("read before expiry (nonblock)", read(t, &v, 8));
    MUST(timerfd_gettime(t, &g));
    T("gettime: 0 < value <= 100ms", ns(g.it_value) > 0 && ns(g.it_value) <= 100 * MS);
    printf("one-shot interval %lld\n", ns(g.it_interval));
    struct pollfd pf = {t, POLLIN | POLLOUT, 0};
    R("poll before expiry", poll(&pf, 1, 0));
    R("poll until expiry", poll(&pf, 1, 5000));
    printf("revents %s%s\n", pf.revents & POLLIN ? "IN" : "", pf.revents & POLLOUT ? " OUT" : "");
    R("read after expiry", (long)rd(t));
    R("read again (nonblock)", read(t, &v, 8));
    MUST(timerfd_gettime(t, &g));
    printf("expired one-shot: value %lld interval %lld\n", ns(g.it_value), ns(g.it_interval));

    /* blocking read */
    MUST(fcntl(t, F_SETFL, 0));
    R("settime 50ms", settime(t, 0, 50 * MS, 0, NULL));
    R("blocking read", (long)rd(t));

    /* periodic: 20ms, read after ~250ms */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    R("settime periodic 20ms", settime(t, 0, 20 * MS, 20 * MS, NULL));
    msleep(250);
    uint64_t ticks = rd(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long el = ns(t1) - ns(t0);
    T("periodic ticks match the time passed", (long long)ticks >= el / (20 * MS) - 2 &&
      (long long)ticks <= el / (20 * MS) + 1);
    T("periodic ticks >= 10", ticks >= 10);
    MUST(timerfd_gettime(t, &g));
    T("re-armed: 0 < value <= 20ms", ns(g.it_value) > 0 && ns(g.it_value) <= 20 * MS);
    printf("periodic interval %lld\n", ns(g.it_interval));
    /* gettime after expirations re-arms and keeps their count */
    msleep(70);
    MUST(timerfd_gettime(t, &g));
    T("gettime after expiries: 0 < value <= 20ms", ns(g.it_value) > 0 && ns(g.it_value) <= 20 * MS);
    msleep(50);
    ticks = rd(t);
    T("ticks kept across gettime (>= 5)", ticks >= 5 && ticks <= 8);

    /* settime returns the old setting and drops unread ticks */
    msleep(50);
    R("settime 10s, old wanted", settime(t, 0, 10000 * MS, 0, &old));
    T("old value in (0, 20ms]", ns(old.it_value) > 0 && ns(old.it_value) <= 20 * MS);
    printf("old interval %lld\n", ns(old.it_interval));
    MUST(fcntl(t, F_SETFL, O_NONBLOCK));
    R("unread ticks dropped", read(t, &v, 8));
    R("disarm, interval kept", settime(t, 0, 0, 3000 * MS, &old));
    T("old value about 10s", ns(old.it_value) > 9000 * MS && ns(old.it_value) <= 10000 * MS);
    MUST(timerfd_gettime(t, &g));
    printf("disarmed: value %lld interval %lld\n", ns(g.it_value), ns(g.it_interval));
    show_fdinfo("disarmed", t);

    /* absolute: in the past with a period counts every period since */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec abs = {{0, 10 * MS}, {now.tv_sec - 1, now.tv_nsec}};
    R("absolute, 1s ago, 10ms period", timerfd_settime(t, TFD_TIMER_ABSTIME, &abs, NULL));
    ticks = rd(t);
    T("about 100 ticks at once", ticks >= 100 && ticks <= 115);
    clock_gettime(CLOCK_MONOTONIC, &now);
    abs = (struct itimerspec){{0, 0}, {now.tv_sec - 5, 0}};
    R("absolute one-shot in the past", timerfd_settime(t, TFD_TIMER_ABSTIME, &abs, NULL));
    R("fires at once", (long)rd(t));
    /* absolute on the other clocks */
    int clk[] = {CLOCK_REALTIME, CLOCK_BOOTTIME};
    for (int i = 0; i < 2; i++) {
        int fd = timerfd_create(clk[i], 0);
        MUST(fd);
        clock_gettime(clk[i], &now);
        long long target = ns(now) + 80 * MS;
        struct itimerspec a2 = {{0, 0}, {target / 1000000000LL, target % 1000000000LL}};
        R(i ? "BOOTTIME absolute +80ms" : "REALTIME absolute +80ms",
          timerfd_settime(fd, TFD_TIMER_ABSTIME | (i ? 0 : TFD_TIMER_CANCEL_ON_SET), &a2, NULL));
        if (!i)
            printf("fdinfo settime flags: %s\n", "see below");
        uint64_t n = rd(fd);
        clock_gettime(clk[i], &now);
        printf("absolute read %llu, on time: %s\n", (unsigned long long)n,
               ns(now) >= target ? "yes" : "no");
        if (!i) {
            clock_gettime(clk[i], &now);
            a2.it_value.tv_sec = now.tv_sec + 100;
            MUST(timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &a2, NULL));
            char p2[64], b2[512];
            snprintf(p2, sizeof p2, "/proc/self/fdinfo/%d", fd);
            int f = open(p2, O_RDONLY);
            ssize_t k = read(f, b2, sizeof b2 - 1);
            close(f);
            b2[k > 0 ? k : 0] = 0;
            char *s = strstr(b2, "settime flags");
            if (s) {
                *strchr(s, '\n') = 0;
                printf("%s\n", s);
            }
        }
        close(fd);
    }

    /* epoll: level, and edge (one event per expiration that gets read) */
    int ep = epoll_create1(0);
    struct epoll_event eev = {.events = EPOLLIN | EPOLLET, .data.u64 = 1};
    MUST(epoll_ctl(ep, EPOLL_CTL_ADD, t, &eev));
    R("periodic 30ms", settime(t, 0, 30 * MS, 30 * MS, NULL));
    R("ET wait for the first expiry", epoll_wait_n(ep, 5000));
    msleep(100);
    R("ET, more periods passed, nothing read", epoll_wait_n(ep, 0));
    ticks = rd(t);
    T("read counts them (>= 3)", ticks >= 3);
    R("ET wait after the read", epoll_wait_n(ep, 5000));
    R("ET again", epoll_wait_n(ep, 0));
    eev.events = EPOLLIN;
    MUST(epoll_ctl(ep, EPOLL_CTL_MOD, t, &eev));
    R("LT with ticks unread", epoll_wait_n(ep, 0));
    R("LT again", epoll_wait_n(ep, 0));
    rd(t);
    R("LT after read", epoll_wait_n(ep, 0));
    R("disarm", settime(t, 0, 0, 0, NULL));
    R("LT disarmed", epoll_wait_n(ep, 50));

    /* TFD_IOC_SET_TICKS */
    uint64_t set = 5;
    R("SET_TICKS 5", ioctl(t, TFD_IOC_SET_TICKS, &set));
    R("LT after SET_TICKS", epoll_wait_n(ep, 0));
    R("read", (long)rd(t));
    set = 0;
    R("SET_TICKS 0", ioctl(t, TFD_IOC_SET_TICKS, &set));
    R("ioctl unknown", ioctl(t, 0x5401, &set));

    /* fork: a child waits on the shared timer */
    MUST(fcntl(t, F_SETFL, 0));
    R("settime 80ms", settime(t, 0, 80 * MS, 0, NULL));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0)
        _exit(rd(t) == 1 ? 0 : 1);
    int st;
    MUST(waitpid(c, &st, 0));
    R("child read the expiry", WEXITSTATUS(st));
    MUST(fcntl(t, F_SETFL, O_NONBLOCK));
    R("nothing left for the parent", read(t, &v, 8));

    /* a timer that is closed while armed just goes away */
    int t2 = timerfd_create(CLOCK_MONOTONIC, 0);
    MUST(settime(t2, 0, 10 * MS, 10 * MS, NULL));
    close(t2);
    msleep(30);
    close(ep);
    close(e);
    close(t);
    printf("done\n");
    return 0;
}
