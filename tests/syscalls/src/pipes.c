/* pipes.c -- pipe2, blocking reads from a child writer, EOF, EPIPE/SIGPIPE
 * (handler, SIG_IGN, default), poll and select with timeouts, FIONREAD,
 * capacity, re-opening a pipe through /proc/self/fd. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/wait.h>

static volatile sig_atomic_t got_pipe;
static void on_pipe(int s) { (void)s; got_pipe++; }

static void show_poll(const char *label, int fd, short events, int timeout)
{
    struct pollfd p = {fd, events, 0};
    errno = 0;
    int r = poll(&p, 1, timeout);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %d revents=%s%s%s%s%s\n", label, r, p.revents & POLLIN ? "IN " : "",
               p.revents & POLLOUT ? "OUT " : "", p.revents & POLLHUP ? "HUP " : "",
               p.revents & POLLERR ? "ERR " : "", p.revents & POLLNVAL ? "NVAL " : "");
}

int main(void)
{
    out_init();
    int p[2];
    R("pipe2 O_CLOEXEC", pipe2(p, O_CLOEXEC));
    T("read end cloexec", fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    T("write end cloexec", fcntl(p[1], F_GETFD) & FD_CLOEXEC);
    T("read end O_RDONLY", (fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY);
    T("write end O_WRONLY", (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY);
    R("pipe2 bad flags", pipe2(p + 0, 0x1234) < 0 ? -1 : 0);
    R("write 5", write(p[1], "hello", 5));
    int avail = -1;
    R("FIONREAD", ioctl(p[0], FIONREAD, &avail));
    R("available", avail);
    char buf[70000];
    R("read 100", read(p[0], buf, 100));
    R("write on read end", write(p[0], "x", 1));
    R("read on write end", read(p[1], buf, 1));
    close(p[0]);
    close(p[1]);

    R("pipe2 O_NONBLOCK", pipe2(p, O_NONBLOCK));
    R("nonblocking empty read", read(p[0], buf, 10));
    R("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));
    long total = 0, r;
    while ((r = write(p[1], buf, 4096)) > 0)
        total += r;
    printf("filled: %ld then %s\n", total, en(errno));
    show_poll("poll full write end", p[1], POLLOUT, 0);
    show_poll("poll full read end", p[0], POLLIN, 0);
    close(p[0]);
    close(p[1]);

    /* blocking read from a child writer, then EOF */
    MUST(pipe(p));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        close(p[0]);
        msleep(100);
        if (write(p[1], "from child", 10) != 10)
            _exit(1);
        msleep(50);
        _exit(0);
    }
    close(p[1]);
    show_poll("poll empty, 20ms", p[0], POLLIN, 20);
    memset(buf, 0, 20);
    R("blocking read", read(p[0], buf, 20));
    printf("data: %s\n", buf);
    R("read at EOF", read(p[0], buf, 20));
    show_poll("poll after writer exit", p[0], POLLIN, 1000);
    waitpid(c, NULL, 0);
    close(p[0]);

    /* 1 MiB through a pipe between processes */
    MUST(pipe(p));
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        close(p[0]);
        static char big[1 << 20];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (char)(i % 251);
        size_t off = 0;
        while (off < sizeof big) {
            ssize_t w = write(p[1], big + off, sizeof big - off);
            if (w <= 0)
                _exit(1);
            off += w;
        }
        _exit(0);
    }
    close(p[1]);
    unsigned long sum = 0, n = 0;
    while ((r = read(p[0], buf, sizeof buf)) > 0)
        for (long i = 0; i < r; i++, n++)
            sum = sum * 31 + (unsigned char)buf[i] + (n % 251 == (unsigned char)buf[i]);
    printf("1MiB transfer: %lu bytes sum %lu\n", n, sum);
    int st;
    waitpid(c, &st, 0);
    R("writer status", WEXITSTATUS(st));
    close(p[0]);

    /* EPIPE with a handler, with SIG_IGN, with the default action */
    struct sigaction sa = {0};
    sa.sa_handler = on_pipe;
    sigaction(SIGPIPE, &sa, NULL);
    MUST(pipe(p));
    close(p[0]);
    R("write no reader (handler)", write(p[1], "x", 1));
    R("SIGPIPE handler ran", got_pipe);
    show_poll("poll write end, no reader", p[1], POLLOUT, 0);
    close(p[1]);
    signal(SIGPIPE, SIG_IGN);
    MUST(pipe(p));
    close(p[0]);
    R("write no reader (SIG_IGN)", write(p[1], "x", 1));
    R("handler count unchanged", got_pipe);
    close(p[1]);
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        signal(SIGPIPE, SIG_DFL);
        int q[2];
        if (pipe(q))
            _exit(1);
        close(q[0]);
        (void)!write(q[1], "x", 1);
        _exit(0);
    }
    waitpid(c, &st, 0);
    T("child killed by SIGPIPE", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);

    /* poll: HUP on read end after writer closes, with data still buffered */
    MUST(pipe(p));
    (void)!write(p[1], "ab", 2);
    close(p[1]);
    show_poll("poll data+hup", p[0], POLLIN, 0);
    R("read remaining", read(p[0], buf, 10));
    show_poll("poll hup only", p[0], POLLIN, 0);
    close(p[0]);
    show_poll("poll closed fd", p[0], POLLIN, 0);
    R("poll nfds too big", poll(NULL, 1 << 30, 0));
    R("poll timeout no fds", poll(NULL, 0, 30));

    /* select */
    MUST(pipe(p));
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 30000};
    R("select empty 30ms", select(p[0] + 1, &rs, NULL, NULL, &tv));
    T("select cleared set", !FD_ISSET(p[0], &rs));
    (void)!write(p[1], "z", 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    FD_ZERO(&ws);
    FD_SET(p[1], &ws);
    tv = (struct timeval){1, 0};
    R("select readable+writable", select(p[1] + 1, &rs, &ws, NULL, &tv));
    T("select read set", FD_ISSET(p[0], &rs));
    T("select write set", FD_ISSET(p[1], &ws));
    FD_ZERO(&rs);
    FD_SET(50, &rs);
    tv = (struct timeval){0, 0};
    R("select bad fd", select(51, &rs, NULL, NULL, &tv));
    R("select negative nfds", select(-1, NULL, NULL, NULL, &tv));
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        (void)!write(p[1], "later", 5);
        _exit(0);
    }
    read(p[0], buf, 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv = (struct timeval){5, 0};
    R("select wakes on child write", select(p[0] + 1, &rs, NULL, NULL, &tv));
    waitpid(c, NULL, 0);

    /* Re-opening a pipe through /proc/self/fd (/dev/stdin of `echo x | cat /dev/stdin`):
     * on pipefs fifo_open never waits for the other side nor says ENXIO. */
    int q[2];
    MUST(pipe(q));
    char path[64];
    (void)!write(q[1], "abc", 3);
    snprintf(path, sizeof path, "/proc/self/fd/%d", q[0]);
    int r2 = open(path, O_RDONLY | O_CLOEXEC);
    R("reopen read end", r2 >= 0 ? 0 : -1);
    R("read through it", read(r2, buf, sizeof buf));
    close(q[1]);
    int r3 = open(path, O_RDONLY | O_CLOEXEC);  /* no writer left: no wait either */
    R("reopen read end, no writer", r3 >= 0 ? 0 : -1);
    R("read EOF", read(r3, buf, sizeof buf));
    show_poll("poll reopened, no writer", r3, POLLIN, 0);
    int q2[2];
    MUST(pipe(q2));
    close(q2[0]);
    snprintf(path, sizeof path, "/proc/self/fd/%d", q2[1]);
    int w2 = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);  /* no reader: not ENXIO */
    R("reopen write end nonblock, no reader", w2 >= 0 ? 0 : -1);
    signal(SIGPIPE, SIG_IGN);
    R("write there", write(w2, "x", 1));
    int q3[2];
    MUST(pipe(q3));
    snprintf(path, sizeof path, "/proc/self/fd/%d", q3[1]);
    int w3 = open(path, O_WRONLY | O_CLOEXEC);
    R("reopen write end", w3 >= 0 ? 0 : -1);
    R("write through it", write(w3, "xyz", 3));
    R("read it from the first end", read(q3[0], buf, sizeof buf));
    return 0;
}
