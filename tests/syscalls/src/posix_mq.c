/* posix_mq.c -- POSIX message queues: mq_open (names, O_CREAT|O_EXCL, attributes and their
 * limits, access modes, permissions), priorities, O_NONBLOCK, EMSGSIZE, timeouts, blocking
 * send/receive woken by another process, mq_getsetattr, mq_notify (SIGEV_SIGNAL with
 * SI_MESGQ and sigev_value, EBUSY, SIGEV_NONE), poll readiness, mq_unlink. */
#include "check.h"
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Names of this run: random, since native runs share the host's mqueue namespace and may
 * run side by side (no name is printed). */
static char MQ1[32], MQ2[32], MQ3[32], MQ4[32];

static void pick_names(void)
{
    unsigned r;
    MUST(getrandom(&r, sizeof r, 0));
    snprintf(MQ1, sizeof MQ1, "/runsc-test-%08x-1", r);
    snprintf(MQ2, sizeof MQ2, "/runsc-test-%08x-2", r);
    snprintf(MQ3, sizeof MQ3, "/runsc-test-%08x-3", r);
    snprintf(MQ4, sizeof MQ4, "/runsc-test-%08x-4", r);
}

static volatile sig_atomic_t got_code, got_value, got_pid, got_sig;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
    got_pid = si->si_pid;
}

static void rcv(const char *label, mqd_t q, size_t len)
{
    char buf[16384];
    unsigned prio = 99;
    errno = 0;
    ssize_t n = mq_receive(q, buf, len, &prio);
    if (n < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %zd prio %u '%.*s'\n", label, n, prio, (int)n, buf);
}

static void show_poll(const char *label, mqd_t q)
{
    struct pollfd p = {q, POLLIN | POLLOUT, 0};
    int r = poll(&p, 1, 0);
    printf("%s: %d%s%s\n", label, r, p.revents & POLLIN ? " IN" : "",
           p.revents & POLLOUT ? " OUT" : "");
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    pick_names();
    mq_unlink(MQ1);
    mq_unlink(MQ2);
    mq_unlink(MQ4);
    umask(022);

    R("open missing", mq_open(MQ1, O_RDWR));
    R("open bad attr without O_CREAT", syscall(SYS_mq_open, MQ1 + 1, O_RDWR, 0, (void *)8));
    R("open empty name", syscall(SYS_mq_open, "", O_RDWR | O_CREAT, 0600, NULL));
    R("open dot", syscall(SYS_mq_open, ".", O_RDWR | O_CREAT, 0600, NULL));
    R("open no slash", mq_open("runsc-test-mq", O_RDWR | O_CREAT, 0600, NULL));
    R("open inner slash", mq_open("/a/b", O_RDWR | O_CREAT, 0600, NULL));
    char longname[300];
    longname[0] = '/';
    memset(longname + 1, 'x', 298);
    longname[299] = 0;
    R("open long name", mq_open(longname, O_RDWR | O_CREAT, 0600, NULL));
    struct mq_attr bad = {0, 0, 100, 0};
    R("open maxmsg 0", mq_open(MQ1, O_RDWR | O_CREAT, 0600, &bad));
    bad.mq_maxmsg = 4;
    bad.mq_msgsize = 0;
    R("open msgsize 0", mq_open(MQ1, O_RDWR | O_CREAT, 0600, &bad));
    bad.mq_maxmsg = 100000;
    bad.mq_msgsize = 64;
    R("open maxmsg past hard limit", mq_open(MQ1, O_RDWR | O_CREAT, 0600, &bad));

    struct mq_attr attr = {0, 3, 64, 0};
    mqd_t q = mq_open(MQ1, O_RDWR | O_CREAT | O_EXCL, 0666, &attr);
    MUST(q);
    R("open excl again", mq_open(MQ1, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    R("open accmode 3", mq_open(MQ1, 3));
    mqd_t ro, wo;
    MUST(ro = mq_open(MQ1, O_RDONLY));
    MUST(wo = mq_open(MQ1, O_WRONLY | O_NONBLOCK));
    struct mq_attr got;
    R("getattr", mq_getattr(q, &got));
    printf("attr flags %ld maxmsg %ld msgsize %ld curmsgs %ld\n", got.mq_flags, got.mq_maxmsg,
           got.mq_msgsize, got.mq_curmsgs);
    mqd_t d;
    MUST(d = mq_open(MQ2, O_RDWR | O_CREAT, 0600, NULL));
    MUST(mq_getattr(d, &got));
    printf("default maxmsg %ld msgsize %ld\n", got.mq_maxmsg, got.mq_msgsize);
    mq_close(d);

    show_poll("poll empty", q);
    R("send low", mq_send(q, "low", 3, 1));
    R("send high", mq_send(q, "high", 4, 7));
    R("send low2", mq_send(wo, "low2", 4, 1));
    show_poll("poll full", q);
    R("send full nonblock", mq_send(wo, "x", 1, 0));
    struct timespec past = {1, 0};
    R("send full timeout", mq_timedsend(q, "x", 1, 0, &past));
    struct timespec badts = {0, 2000000000L};
    R("send bad timespec", mq_timedsend(q, "x", 1, 0, &badts));
    R("send bad prio", mq_send(q, "x", 1, 40000));
    R("send too long", mq_send(wo, "x", 65, 0));
    R("send on read-only", mq_send(ro, "x", 1, 0));
    R("send on non-queue", mq_send(0, "x", 1, 0));
    MUST(mq_getattr(q, &got));
    printf("curmsgs %ld\n", got.mq_curmsgs);
    rcv("receive short buffer", q, 63);
    rcv("receive 1", ro, 64);
    rcv("receive 2", q, 64);
    rcv("receive 3", q, 64);
    rcv("receive write-only", wo, 64);
    struct mq_attr nb = {O_NONBLOCK, 0, 0, 0}, old;
    R("setattr nonblock", mq_setattr(q, &nb, &old));
    printf("old flags %ld\n", old.mq_flags);
    rcv("receive empty nonblock", q, 64);
    struct mq_attr badflags = {O_NONBLOCK | O_APPEND, 0, 0, 0};
    R("setattr bad flags", mq_setattr(q, &badflags, NULL));
    nb.mq_flags = 0;
    R("setattr block", mq_setattr(q, &nb, NULL));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    char buf[64];
    R("timedreceive timeout", mq_timedreceive(q, buf, 64, NULL, &ts));

    /* a blocked receive woken by another process's send */
    pid_t c = fork();
    if (c == 0) {
        char b[64];
        unsigned p;
        ssize_t n = mq_receive(q, b, 64, &p);
        _exit(n < 0 ? 100 + errno : (int)n * 10 + (int)p);
    }
    msleep(100);
    R("send to waiter", mq_send(q, "abcd", 4, 3));
    show_wait("blocked receive", c);

    /* a blocked send woken when a receive makes room */
    for (int i = 0; i < 3; i++)
        MUST(mq_send(q, "fill", 4, i));
    c = fork();
    if (c == 0)
        _exit(mq_send(q, "late", 4, 0) < 0 ? 100 + errno : 0);
    msleep(100);
    rcv("make room", q, 64);
    show_wait("blocked send", c);
    rcv("drain 1", q, 64);
    rcv("drain 2", q, 64);
    rcv("drain 3", q, 64);

    /* a signal interrupts a blocked receive: EINTR without SA_RESTART */
    struct sigaction sa2 = {0};
    sa2.sa_sigaction = on_sig;
    sa2.sa_flags = SA_SIGINFO;
    MUST(sigaction(SIGUSR2, &sa2, NULL));
    c = fork();
    if (c == 0) {
        char b[64];
        _exit(mq_receive(q, b, 64, NULL) < 0 ? errno : 0);
    }
    /* signalled until it exits: one that comes before it blocks just runs the handler */
    int st;
    pid_t w;
    while ((w = waitpid(c, &st, WNOHANG)) == 0) {
        kill(c, SIGUSR2);
        msleep(20);
    }
    MUST(w);
    printf("receive interrupted: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    signal(SIGUSR2, SIG_DFL);

    /* mq_notify */
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO;
    MUST(sigaction(SIGUSR1, &sa, NULL));
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_value.sival_int = 4242;
    R("notify", mq_notify(q, &sev));
    R("notify again", mq_notify(q, &sev));
    struct sigevent badsev = {0};
    badsev.sigev_notify = 9;
    R("notify bad kind", mq_notify(q, &badsev));
    badsev.sigev_notify = SIGEV_SIGNAL;
    badsev.sigev_signo = 200;
    R("notify bad signal", mq_notify(q, &badsev));
    c = fork();
    if (c == 0) {
        int busy = mq_notify(q, &sev) < 0 ? errno : 0;
        mq_send(q, "ping", 4, 0);
        _exit(busy);
    }
    show_wait("notify busy, then send", c);
    for (int i = 0; i < 100 && !got_sig; i++)
        msleep(10);
    printf("notified: sig %d code %s value %d from child %s\n", got_sig,
           got_code == SI_MESGQ ? "SI_MESGQ" : "other", got_value, got_pid == c ? "yes" : "no");
    got_sig = 0;
    MUST(mq_send(q, "pong", 4, 0));  /* not empty before: no notification, and it was one-shot */
    msleep(50);
    printf("second notification: %s\n", got_sig ? "yes" : "no");
    rcv("drain ping", q, 64);
    rcv("drain pong", q, 64);
    R("notify none", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_NONE}));
    R("notify busy by none", mq_notify(q, &sev));
    R("unregister", mq_notify(q, NULL));
    R("register after unregister", mq_notify(q, &sev));
    R("unregister again", mq_notify(q, NULL));
    R("unregister nothing", mq_notify(q, NULL));

    /* permissions of an unprivileged process (the queue is 0644 after the umask) */
    c = fork();
    if (c == 0) {
        MUST(setresgid(1000, 1000, 1000));
        MUST(setresuid(1000, 1000, 1000));
        int e1 = mq_open(MQ1, O_RDONLY) < 0 ? errno : 0;
        int e2 = mq_open(MQ1, O_WRONLY) < 0 ? errno : 0;
        struct mq_attr big = {0, 20, 64, 0};
        int e3 = mq_open(MQ3, O_RDWR | O_CREAT, 0600, &big) < 0 ? errno : 0;
        int e4 = mq_unlink(MQ1) < 0 ? errno : 0;
        mqd_t own = mq_open(MQ4, O_RDWR | O_CREAT, 0600, NULL);
        int e5 = own < 0 ? errno : 0;
        int e6 = mq_unlink(MQ4) < 0 ? errno : 0;
        printf("unprivileged: %s %s %s %s own %s %s\n", en(e1), en(e2), en(e3), en(e4),
               en(e5), en(e6));
        fflush(stdout);
        _exit(0);
    }
    show_wait("unprivileged", c);

    R("unlink", mq_unlink(MQ1));
    R("unlink again", mq_unlink(MQ1));
    R("open after unlink", mq_open(MQ1, O_RDWR));
    R("send after unlink", mq_send(q, "still", 5, 0));
    rcv("receive after unlink", q, 64);
    R("close", mq_close(q));
    R("close again", mq_close(q));
    R("unlink 2", mq_unlink(MQ2));
    return 0;
}
