/*
 * pipe_park.c -- blocking calls on pipes that wait: a read of an empty pipe, a write and a
 * sendfile into a full one.  The sandbox parks them where it serves them (in C, or in
 * Python when something else watches the pipe), and ends them from either side: bytes or
 * room that come, a signal (EINTR, or a restart under SA_RESTART), the other end closed
 * (EOF, EPIPE and SIGPIPE), the waiter killed, O_NONBLOCK turned on and off under it.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms, pipes;
static void on_alarm(int s) { (void)s; alarms++; }
static void on_pipe(int s) { (void)s; pipes++; }

static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigaction(sig, &sa, NULL);
}

static void alarm_in_ms(int ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Fills the pipe: nonblocking writes of a page until EAGAIN; the bytes it took. */
static long fill(int w)
{
    static char page[4096];
    long n = 0;
    set_nonblock(w, 1);
    for (ssize_t k; (k = write(w, page, sizeof page)) > 0;) n += k;
    set_nonblock(w, 0);
    return n;
}

/* A child that sleeps ms, then reads want bytes (whole reads of up to 65536) and exits. */
static pid_t drain_later(int r, int w, int ms, long want)
{
    pid_t c = fork();
    if (c == 0) {
        close(w);
        usleep((useconds_t)ms * 1000);
        static char buf[65536];
        long got = 0;
        while (got < want) {
            ssize_t k = read(r, buf, want - got < 65536 ? (size_t)(want - got) : 65536);
            if (k <= 0) break;
            got += k;
        }
        _exit(got == want ? 0 : 1);
    }
    return c;
}

static char big[1 << 20];
static int long_fd;
static ssize_t long_ret;
static void *long_write(void *arg)
{
    (void)arg;
    long_ret = write(long_fd, big, sizeof big);
    return NULL;
}

static int reaped(pid_t c)
{
    int st = 0;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    out_init();
    int p[2];
    char buf[256];
    handle(SIGALRM, on_alarm, 0);

    /* a read of an empty pipe, ended by a signal: EINTR */
    R("pipe", pipe(p));
    alarm_in_ms(100);
    R("read, no restart: interrupted", read(p[0], buf, sizeof buf));
    R("alarms", alarms);

    /* ... under SA_RESTART: restarted, then bytes come */
    handle(SIGALRM, on_alarm, SA_RESTART);
    pid_t c = fork();
    if (c == 0) {
        usleep(250 * 1000);
        _exit(write(p[1], "late", 4) == 4 ? 0 : 1);
    }
    alarm_in_ms(100);
    R("read, restarted: the late bytes", read(p[0], buf, sizeof buf));
    R("alarms", alarms);
    R("writer", reaped(c));

    /* the last writer goes: EOF */
    c = fork();
    if (c == 0) {
        usleep(100 * 1000);
        _exit(0);
    }
    close(p[1]);
    R("read, the last writer gone: EOF", read(p[0], buf, sizeof buf));
    R("child", reaped(c));
    close(p[0]);

    /* a write into a full pipe, ended by a signal before any of it went: EINTR */
    handle(SIGALRM, on_alarm, 0);
    R("pipe", pipe(p));
    R("filled", fill(p[1]));
    set_nonblock(p[1], 1);
    R("nonblocking write into it", write(p[1], buf, 100));
    set_nonblock(p[1], 0);
    alarm_in_ms(100);
    R("blocking write, no restart: interrupted", write(p[1], buf, 100));
    R("alarms", alarms);

    /* ... room comes: the write goes whole */
    c = drain_later(p[0], p[1], 100, 65536 + 100);
    R("blocking write, a reader drains: all of it", write(p[1], buf, 100));
    R("reader", reaped(c));

    /* a write past the pipe's size, read as it goes */
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7);
    c = drain_later(p[0], p[1], 50, 200000);
    R("a write of 200000 bytes", write(p[1], big, 200000));
    R("reader", reaped(c));

    /* a long write interrupted once some of it went: the count of what went, all of
     * which is in the pipe */
    alarm_in_ms(100);
    ssize_t part = write(p[1], big, 200000);
    R("a long write, interrupted: what went", part);
    c = drain_later(p[0], p[1], 0, part);
    R("reader of what went", reaped(c));

    /* ... and one whose reader goes midway: what went, then SIGPIPE */
    handle(SIGPIPE, on_pipe, 0);
    int q[2];
    R("pipe", pipe(q));
    c = drain_later(q[0], q[1], 50, 100000);
    close(q[0]);
    part = write(q[1], big, 200000);
    T("a long write, the reader gone midway: at least what it read", part >= 100000);
    T("... at most that and a pipe's worth", part <= 100000 + 65536);
    R("SIGPIPEs", pipes);
    R("reader", reaped(c));
    close(q[1]);

    /* a long write that waits while another thread turns O_NONBLOCK on: once the pipe is
     * full again it returns what went, all of which is in the pipe */
    R("pipe", pipe(q));
    long_fd = q[1];
    pthread_t th;
    pthread_create(&th, NULL, long_write, NULL);
    usleep(100 * 1000);
    set_nonblock(q[1], 1);
    static char chunk[4096];
    long got = read(q[0], chunk, sizeof chunk);  /* room: it goes on, finds the pipe full */
    pthread_join(th, NULL);
    T("a long write, turned nonblocking: returned part of it",
      long_ret > 0 && long_ret < (ssize_t)sizeof big);
    set_nonblock(q[0], 1);
    for (ssize_t k; (k = read(q[0], chunk, sizeof chunk)) > 0;) got += k;
    T("... all of which was read", got == long_ret);
    close(q[0]);
    close(q[1]);

    /* a nonblocking write past the pipe's size while a reader waits: one pipe's worth */
    R("pipe", pipe(q));
    c = fork();
    if (c == 0) {
        close(q[1]);
        static char all[65536];
        _exit(read(q[0], all, sizeof all) > 0 ? 0 : 1);
    }
    usleep(100 * 1000);
    set_nonblock(q[1], 1);
    R("a nonblocking write of 300000, a reader waiting", write(q[1], big, 300000));
    R("reader", reaped(c));
    close(q[0]);
    close(q[1]);

    /* sendfile of a file into the full pipe: what the room it finds takes */
    int file = open(argv[0], O_RDONLY);
    T("a file to send", file >= 0);
    R("filled", fill(p[1]));
    c = drain_later(p[0], p[1], 100, 65536);
    R("blocking sendfile, a reader drains", sendfile(p[1], file, NULL, 8192));
    R("the file's offset", lseek(file, 0, SEEK_CUR));
    R("reader", reaped(c));
    R("what it sent", read(p[0], big, sizeof big));

    /* O_NONBLOCK through a dup is the description's */
    R("filled", fill(p[1]));
    int dup_w = dup(p[1]);
    set_nonblock(dup_w, 1);
    R("write through the other fd, now nonblocking", write(p[1], buf, 1));
    set_nonblock(dup_w, 0);
    close(dup_w);
    alarm_in_ms(100);
    R("blocking again: interrupted", write(p[1], buf, 1));

    /* the reader goes while a write waits: EPIPE and SIGPIPE */
    c = fork();
    if (c == 0) {
        usleep(100 * 1000);
        _exit(0);
    }
    close(p[0]);
    R("blocking write, the last reader gone", write(p[1], buf, 100));
    R("SIGPIPEs", pipes);
    R("child", reaped(c));
    close(p[1]);

    /* a reader killed while it waits: the bytes that come later stay in the pipe */
    R("pipe", pipe(p));
    c = fork();
    if (c == 0) {
        _exit(read(p[0], buf, sizeof buf) == 4 ? 0 : 1);
    }
    usleep(100 * 1000);
    kill(c, SIGKILL);
    R("killed reader", reaped(c));
    R("write after", write(p[1], "kept", 4));
    R("read them back", read(p[0], buf, sizeof buf));

    /* two readers wait on one pipe: a byte each */
    pid_t r1 = fork();
    if (r1 == 0) _exit(read(p[0], buf, 1) == 1 ? 0 : 1);
    pid_t r2 = fork();
    if (r2 == 0) _exit(read(p[0], buf, 1) == 1 ? 0 : 1);
    usleep(100 * 1000);
    R("a byte", write(p[1], "a", 1));
    usleep(50 * 1000);
    R("another", write(p[1], "b", 1));
    R("reader 1", reaped(r1));
    R("reader 2", reaped(r2));

    /* a reader waits while another task polls the pipe: both hear the bytes */
    c = fork();
    if (c == 0) {
        _exit(read(p[0], buf, 1) == 1 ? 0 : 1);
    }
    usleep(100 * 1000);
    pid_t poller = fork();
    if (poller == 0) {
        struct pollfd pf = {p[0], POLLIN, 0};
        _exit(poll(&pf, 1, 5000) == 1 && (pf.revents & POLLIN) ? 0 : 1);
    }
    usleep(100 * 1000);
    R("bytes for them", write(p[1], "xy", 2));
    R("reader", reaped(c));
    R("poller", reaped(poller));
    return 0;
}
