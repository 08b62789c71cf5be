/* streams.c -- blocking writes larger than a stream's buffer (pipe write and
 * writev, socketpair send) sleep until all is written; a signal that ends
 * such a write midway gets the partial count, with or without SA_RESTART;
 * recv/recvmsg with MSG_WAITALL wait for the whole count (partial at EOF or
 * on a signal);
 * ppoll and pselect6 install their signal mask for the wait only: a signal
 * the mask unblocks ends the wait with EINTR and its handler runs, one it
 * blocks does not, and the thread's own mask is back afterwards. */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define BIG (1 << 20)
static char big[BIG];
static volatile sig_atomic_t n_usr1, n_usr2, mask_in_handler_has_usr2, usr1_blocked_in_handler;

static void h_usr1(int s)
{
    (void)s;
    n_usr1++;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    /* the handler runs under the call's mask plus its own signal */
    mask_in_handler_has_usr2 = sigismember(&cur, SIGUSR2);
    usr1_blocked_in_handler = sigismember(&cur, SIGUSR1);
}
static void h_usr2(int s) { (void)s; n_usr2++; }



static int blocked(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

/* a child that drains fd slowly and reports the byte count and checksum */
static pid_t drainer(int fd, int other)
{
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        close(other);
        msleep(50);
        static char buf[8192];
        unsigned long n = 0, sum = 0;
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = 0; i < r; i++, n++)
                sum += (unsigned char)buf[i] == (unsigned char)(n % 251);
        printf("  drained %lu bytes, %lu in order\n", n, sum);
        _exit(0);
    }
    return c;
}

/* a child that sends sig to the parent after ms, then (fd >= 0) writes a byte to fd
 * after another ms2 */
static pid_t poke_then_write(int sig, long ms, int fd, long ms2)
{
    pid_t parent = getpid();
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        msleep(ms);
        kill(parent, sig);
        if (fd >= 0) {
            msleep(ms2);
            (void)!write(fd, "x", 1);
        }
        _exit(0);
    }
    return c;
}

static pid_t poke(int sig, long ms) { return poke_then_write(sig, ms, -1, 0); }

int main(void)
{
    out_init();
    for (int i = 0; i < BIG; i++)
        big[i] = (char)(i % 251);
    int p[2], st;
    pid_t c;

    /* one blocking write of 1 MiB into a 64 KiB pipe */
    MUST(pipe(p));
    c = drainer(p[0], p[1]);
    close(p[0]);
    R("pipe write 1MiB in one call", write(p[1], big, BIG));
    close(p[1]);
    waitpid(c, &st, 0);

    /* the same through writev, two segments */
    MUST(pipe(p));
    c = drainer(p[0], p[1]);
    close(p[0]);
    struct iovec iov[2] = {{big, 300000}, {big + 300000, BIG - 300000}};
    R("pipe writev 1MiB in one call", writev(p[1], iov, 2));
    close(p[1]);
    waitpid(c, &st, 0);

    /* a stream socketpair */
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    c = drainer(sv[1], sv[0]);
    close(sv[1]);
    R("socketpair send 1MiB in one call", send(sv[0], big, BIG, 0));
    close(sv[0]);
    waitpid(c, &st, 0);

    /* MSG_WAITALL: the whole count from three sends */
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        for (int i = 0; i < 3; i++) {
            msleep(30);
            (void)!send(sv[1], big + i * 1000, 1000, 0);
        }
        msleep(30);
        (void)!send(sv[1], big, 10, 0);
        _exit(0);
    }
    close(sv[1]);
    static char rb[4000];
    R("recv MSG_WAITALL 3000", recv(sv[0], rb, 3000, MSG_WAITALL));
    T("bytes in order", memcmp(rb, big, 3000) == 0);
    struct iovec riov[2] = {{rb, 4}, {rb + 4, 100}};
    struct msghdr mh = {.msg_iov = riov, .msg_iovlen = 2};
    R("recvmsg MSG_WAITALL at EOF", recvmsg(sv[0], &mh, MSG_WAITALL));
    T("bytes in order", memcmp(rb, big, 10) == 0);
    waitpid(c, NULL, 0);
    close(sv[0]);

    /* MSG_WAITALL ended by a signal: what arrived so far */
    set_handler(SIGUSR1, h_usr1, SA_RESTART);
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fflush(stdout);
    pid_t parent = getpid();
    c = fork();
    MUST(c);
    if (c == 0) {
        (void)!send(sv[1], big, 700, 0);
        msleep(100);
        kill(parent, SIGUSR1);
        msleep(100);
        _exit(0);
    }
    R("recv MSG_WAITALL interrupted", recv(sv[0], rb, 3000, MSG_WAITALL));
    waitpid(c, NULL, 0);
    close(sv[0]);
    close(sv[1]);
    n_usr1 = 0;

    /* a signal ends a blocked big write: the partial count, not EINTR */
    set_handler(SIGUSR1, h_usr1, 0);
    MUST(pipe(p));
    c = poke(SIGUSR1, 100);
    R("pipe write interrupted (no SA_RESTART)", write(p[1], big, 200000));
    R("handler ran", n_usr1);
    waitpid(c, NULL, 0);
    close(p[0]);
    close(p[1]);
    set_handler(SIGUSR1, h_usr1, SA_RESTART);
    MUST(pipe(p));
    c = poke(SIGUSR1, 100);
    R("pipe write interrupted (SA_RESTART)", write(p[1], big, 200000));
    R("handler ran", n_usr1);
    waitpid(c, NULL, 0);
    close(p[0]);
    close(p[1]);

    /* a big write to a pipe whose reader goes away midway: the partial count */
    MUST(pipe(p));
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        close(p[1]);
        msleep(100);
        _exit(0);
    }
    close(p[0]);
    R("pipe write, reader exits midway", write(p[1], big, 200000));
    R("then EPIPE", write(p[1], big, 1));
    waitpid(c, NULL, 0);
    close(p[1]);
    signal(SIGPIPE, SIG_DFL);

    /* ppoll: SIGUSR1 blocked by the thread, unblocked by the call's mask */
    n_usr1 = 0;
    set_handler(SIGUSR1, h_usr1, 0);
    set_handler(SIGUSR2, h_usr2, 0);
    mask_signal(SIG_BLOCK, SIGUSR1);
    MUST(pipe(p));
    struct pollfd pf = {p[0], POLLIN, 0};
    sigset_t only_usr2;
    sigemptyset(&only_usr2);
    sigaddset(&only_usr2, SIGUSR2);
    c = poke(SIGUSR1, 100);
    R("ppoll ended by a signal its mask unblocks", ppoll(&pf, 1, &(struct timespec){5, 0}, &only_usr2));
    R("handler ran", n_usr1);
    T("handler ran under the call's mask", mask_in_handler_has_usr2);
    T("handler blocked its own signal", usr1_blocked_in_handler);
    T("thread's mask back (SIGUSR1 blocked)", blocked(SIGUSR1));
    T("thread's mask back (SIGUSR2 not blocked)", !blocked(SIGUSR2));
    waitpid(c, NULL, 0);

    /* the signal was already pending when ppoll began */
    kill(getpid(), SIGUSR1);
    R("handler not run while blocked", n_usr1);
    R("ppoll with a pending signal its mask unblocks",
      ppoll(&pf, 1, &(struct timespec){5, 0}, &only_usr2));
    R("handler ran", n_usr1);
    T("thread's mask back", blocked(SIGUSR1) && !blocked(SIGUSR2));

    /* ready descriptors win over a pending signal: no EINTR, the signal stays pending */
    MUST(write(p[1], "d", 1));
    kill(getpid(), SIGUSR1);
    R("ppoll with data and a pending signal", ppoll(&pf, 1, &(struct timespec){5, 0}, &only_usr2));
    R("handler not run", n_usr1);
    sigset_t pend;
    sigpending(&pend);
    T("signal still pending", sigismember(&pend, SIGUSR1));
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    R("handler ran once unblocked", n_usr1);
    char ch;
    MUST(read(p[0], &ch, 1));

    /* a signal the call's mask blocks does not end the wait */
    sigset_t mask2;
    sigemptyset(&mask2);
    sigaddset(&mask2, SIGUSR2);
    c = poke_then_write(SIGUSR2, 50, p[1], 100);
    R("ppoll not ended by a signal its mask blocks", ppoll(&pf, 1, &(struct timespec){5, 0}, &mask2));
    R("SIGUSR2 delivered after ppoll returned", n_usr2);
    waitpid(c, NULL, 0);
    MUST(read(p[0], &ch, 1));

    /* pselect6, same as the first ppoll case */
    mask_signal(SIG_BLOCK, SIGUSR1);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    long before = n_usr1;
    c = poke(SIGUSR1, 100);
    R("pselect ended by a signal its mask unblocks",
      pselect(p[0] + 1, &rs, NULL, NULL, &(struct timespec){5, 0}, &only_usr2));
    R("handler ran", n_usr1 - before);
    T("thread's mask back", blocked(SIGUSR1) && !blocked(SIGUSR2));
    waitpid(c, NULL, 0);

    /* select ended by a signal: EINTR, and the timeval holds the time left */
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {2, 0};
    c = poke(SIGUSR1, 100);
    R("select interrupted", select(p[0] + 1, &rs, NULL, NULL, &tv));
    T("timeval holds the time left", tv.tv_sec == 1 && tv.tv_usec > 0);
    waitpid(c, NULL, 0);

    /* a fatal signal the call's mask unblocks kills the waiter */
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        mask_signal(SIG_BLOCK, SIGTERM);
        sigset_t none;
        sigemptyset(&none);
        struct pollfd q = {p[0], POLLIN, 0};
        kill(getpid(), SIGTERM);
        ppoll(&q, 1, &(struct timespec){5, 0}, &none);
        _exit(0);
    }
    waitpid(c, &st, 0);
    T("child killed by SIGTERM in ppoll", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    close(p[0]);
    close(p[1]);
    return 0;
}
