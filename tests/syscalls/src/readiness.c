/* readiness.c -- what poll, select and epoll report for every file kind in each
 * interesting state: pipes and FIFOs (empty, data, full, other end closed, O_RDWR,
 * no writer yet), unix stream/seqpacket/dgram sockets through their shutdown and
 * close states, listening sockets, loopback TCP (listen, connect, FIN, RST,
 * refused) and UDP, eventfd, timerfd, signalfd, epoll, inotify, memfd, regular
 * files, directories, /dev/null, /dev/zero, /proc files, ptys; then the edges of the
 * calls themselves: fds at or past nfds, POLLNVAL, EBADF, negative fds, events=0,
 * and the signal masks of ppoll/pselect6/epoll_pwait with a zero timeout; last, each
 * call blocked in a child on each kind until the parent, running meanwhile, makes the
 * fd ready. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>

#define ALL_POLL (POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | \
                  POLLWRBAND | POLLRDHUP)
#define ALL_EPOLL (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | \
                   EPOLLWRBAND | EPOLLRDHUP)

static const char *evname(uint32_t e)
{
    static char b[160];
    b[0] = 0;
    static const struct { uint32_t bit; const char *n; } names[] = {
        {POLLIN, "IN"}, {POLLPRI, "PRI"}, {POLLOUT, "OUT"}, {POLLERR, "ERR"},
        {POLLHUP, "HUP"}, {POLLNVAL, "NVAL"}, {POLLRDNORM, "RDNORM"}, {POLLRDBAND, "RDBAND"},
        {POLLWRNORM, "WRNORM"}, {POLLWRBAND, "WRBAND"}, {POLLRDHUP, "RDHUP"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (e & names[i].bit) {
            strcat(b, b[0] ? "|" : "");
            strcat(b, names[i].n);
            e &= ~names[i].bit;
        }
    if (e)
        sprintf(b + strlen(b), "%s0x%x", b[0] ? "|" : "", e);
    if (!b[0])
        strcpy(b, "0");
    return b;
}

/* "label: poll=EVENTS select=rwx epoll=EVENTS" for fd, without waiting */
static void show(const char *label, int fd)
{
    char pbuf[160], ebuf[160], sbuf[16];
    struct pollfd p = {fd, ALL_POLL, 0};
    errno = 0;
    int n = poll(&p, 1, 0);
    if (n < 0)
        snprintf(pbuf, sizeof pbuf, "-1 %s", en(errno));
    else
        snprintf(pbuf, sizeof pbuf, "%s", n ? evname((uint16_t)p.revents) : "0");

    fd_set r, w, x;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&x);
    FD_SET(fd, &r);
    FD_SET(fd, &w);
    FD_SET(fd, &x);
    struct timeval tv = {0, 0};
    errno = 0;
    n = select(fd + 1, &r, &w, &x, &tv);
    if (n < 0)
        snprintf(sbuf, sizeof sbuf, "-1 %s", en(errno));
    else
        snprintf(sbuf, sizeof sbuf, "%d%c%c%c", n, FD_ISSET(fd, &r) ? 'r' : '-',
                 FD_ISSET(fd, &w) ? 'w' : '-', FD_ISSET(fd, &x) ? 'x' : '-');

    int ep = epoll_create1(0);
    MUST(ep);
    struct epoll_event e = {.events = ALL_EPOLL, .data.u64 = 7};
    errno = 0;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        snprintf(ebuf, sizeof ebuf, "-1 %s", en(errno));
    } else {
        struct epoll_event out[2];
        n = epoll_wait(ep, out, 2, 0);
        if (n < 0)
            snprintf(ebuf, sizeof ebuf, "-1 %s", en(errno));
        else if (n == 0)
            snprintf(ebuf, sizeof ebuf, "0");
        else
            snprintf(ebuf, sizeof ebuf, "%s%s", n == 1 && out[0].data.u64 == 7 ? "" : "?",
                     evname(out[0].events));
    }
    close(ep);
    printf("%s: poll=%s select=%s epoll=%s\n", label, pbuf, sbuf, ebuf);
}

/* wait (bounded) until fd reports one of events; the state is printed by show() */
static void await(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    poll(&p, 1, 5000);
}

static void fill(int fd)
{
    static char buf[4096];
    while (write(fd, buf, sizeof buf) > 0)
        ;
    while (write(fd, buf, 1) > 0)
        ;
}

/* ------------------------------------------------------------------ pipes */
static void pipes(void)
{
    int p[2];
    static char buf[4096];
    MUST(pipe2(p, O_NONBLOCK));
    show("pipe r empty", p[0]);
    show("pipe w empty", p[1]);
    MUST(write(p[1], "hello", 5));
    show("pipe r data", p[0]);
    show("pipe w data", p[1]);
    fill(p[1]);
    show("pipe r full", p[0]);
    show("pipe w full", p[1]);
    MUST(read(p[0], buf, 100));
    show("pipe w full less 100", p[1]);
    drain_nonblocking(p[0]);
    MUST(write(p[1], "x", 1));
    close(p[1]);
    show("pipe r writer closed with data", p[0]);
    MUST(read(p[0], buf, 1));
    show("pipe r writer closed drained", p[0]);
    close(p[0]);

    /* fullness counts page slots: a full pipe takes nothing until a whole page is read */
    MUST(pipe2(p, O_NONBLOCK));
    fill(p[1]);
    static const int steps[] = {1, 99, 1000, 2995, 1};
    for (int i = 0; i < 5; i++) {
        char l[64];
        MUST(read(p[0], buf, steps[i]));
        snprintf(l, sizeof l, "pipe w full, read %d more", steps[i]);
        show(l, p[1]);
    }
    R("pipe write 1 into the freed page", write(p[1], "y", 1));
    show("pipe w full again", p[1]);
    R("pipe write 1 into a full pipe", write(p[1], "y", 1));
    close(p[0]);
    close(p[1]);
    MUST(pipe2(p, O_NONBLOCK));
    static char page[8192];
    MUST(write(p[1], "a", 1));
    MUST(write(p[1], "b", 1));
    R("F_SETPIPE_SZ one page, 2 bytes in one slot", fcntl(p[1], F_SETPIPE_SZ, 4096));
    R("write 4096 into a one-page pipe with 2 bytes", write(p[1], page, 4096));
    R("write 4094 merges", write(p[1], page, 4094));
    show("pipe w one page full", p[1]);
    R("F_SETPIPE_SZ 2 pages", fcntl(p[1], F_SETPIPE_SZ, 8192));
    R("write 1 takes a new slot", write(p[1], "c", 1));
    R("F_SETPIPE_SZ one page, 2 slots used", fcntl(p[1], F_SETPIPE_SZ, 4096));
    R("write 5000 splits", write(p[1], page, 5000));
    close(p[0]);
    close(p[1]);

    MUST(pipe2(p, O_NONBLOCK));
    close(p[0]);
    show("pipe w reader closed", p[1]);
    close(p[1]);

    MUST(pipe2(p, O_NONBLOCK));
    fill(p[1]);
    close(p[0]);
    show("pipe w full reader closed", p[1]);
    close(p[1]);

    MUST(mkfifo("fifo", 0600));
    int rw = open("fifo", O_RDWR | O_NONBLOCK);
    MUST(rw);
    show("fifo O_RDWR", rw);
    MUST(write(rw, "ab", 2));
    show("fifo O_RDWR data", rw);
    close(rw);

    int rd = open("fifo", O_RDONLY | O_NONBLOCK);
    MUST(rd);
    show("fifo reader no writer yet", rd);
    int wr = open("fifo", O_WRONLY | O_NONBLOCK);
    MUST(wr);
    show("fifo reader with writer", rd);
    show("fifo writer", wr);
    MUST(write(wr, "abc", 3));
    show("fifo reader data", rd);
    close(wr);
    show("fifo reader writer gone with data", rd);
    drain_nonblocking(rd);
    show("fifo reader writer gone", rd);
    wr = open("fifo", O_WRONLY | O_NONBLOCK);
    MUST(wr);
    show("fifo reader new writer", rd);
    close(rd);
    show("fifo writer reader gone", wr);
    close(wr);
    unlink("fifo");
}

/* ------------------------------------------------------------------ unix sockets */
static void unix_pair(int type, const char *name)
{
    char label[128], buf[64];
    int s[2];
#define L(what) (snprintf(label, sizeof label, "%s %s", name, what), label)
    MUST(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, s));
    show(L("fresh"), s[0]);
    MUST(write(s[1], "data", 4));
    show(L("data"), s[0]);
    show(L("sender of data"), s[1]);
    MUST(read(s[0], buf, sizeof buf));
    MUST(shutdown(s[1], SHUT_WR));
    show(L("peer SHUT_WR"), s[0]);
    show(L("SHUT_WR side"), s[1]);
    close(s[0]);
    close(s[1]);

    MUST(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, s));
    MUST(shutdown(s[0], SHUT_RD));
    show(L("own SHUT_RD"), s[0]);
    show(L("peer of SHUT_RD"), s[1]);
    MUST(shutdown(s[0], SHUT_WR));
    show(L("own SHUT_RDWR"), s[0]);
    show(L("peer of SHUT_RDWR"), s[1]);
    close(s[0]);
    close(s[1]);

    MUST(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, s));
    close(s[1]);
    show(L("peer closed"), s[0]);
    close(s[0]);

    MUST(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, s));
    MUST(write(s[1], "unread", 6));
    close(s[1]);
    show(L("peer closed, data for us"), s[0]);
    close(s[0]);


    MUST(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, s));
    fill(s[0]);
    show(L("send buffer full"), s[0]);
    show(L("receiver of full"), s[1]);
    close(s[0]);
    close(s[1]);
#undef L
}

static void unix_listen(int type, const char *name, const char *path)
{
    char label[128];
#define L(what) (snprintf(label, sizeof label, "%s %s", name, what), label)
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, path);
    int s = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
    MUST(s);
    show(L("unconnected"), s);
    MUST(bind(s, (struct sockaddr *)&a, sizeof a));
    show(L("bound"), s);
    MUST(listen(s, 4));
    show(L("listening"), s);
    int c = socket(AF_UNIX, type, 0);
    MUST(c);
    MUST(connect(c, (struct sockaddr *)&a, sizeof a));
    show(L("listening, pending"), s);
    show(L("connected, not accepted"), c);
    int acc = accept(s, NULL, NULL);
    MUST(acc);
    show(L("listening, accepted"), s);
    show(L("accepted"), acc);
    close(acc);
    show(L("client, accepted end closed"), c);
    close(c);
    close(s);
    unlink(path);
#undef L
}

static void unix_dgram(void)
{
    int s[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, s));
    show("unix dgram pair fresh", s[0]);
    MUST(write(s[1], "d", 1));
    show("unix dgram pair data", s[0]);
    close(s[1]);
    show("unix dgram pair peer closed with data", s[0]);
    char buf[8];
    MUST(read(s[0], buf, sizeof buf));
    show("unix dgram pair peer closed", s[0]);
    close(s[0]);

    MUST(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, s));
    MUST(shutdown(s[0], SHUT_RD));
    show("unix dgram own SHUT_RD", s[0]);
    show("unix dgram peer of SHUT_RD", s[1]);
    MUST(shutdown(s[0], SHUT_WR));
    show("unix dgram own SHUT_RDWR", s[0]);
    close(s[0]);
    close(s[1]);

    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "dg");
    int d = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    MUST(d);
    show("unix dgram unbound", d);
    MUST(bind(d, (struct sockaddr *)&a, sizeof a));
    show("unix dgram bound", d);
    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    MUST(c);
    MUST(sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof a));
    show("unix dgram bound with datagram", d);
    close(c);
    close(d);
    unlink("dg");
}

/* ------------------------------------------------------------------ inet */
static int tcp_listener(struct sockaddr_in *a)
{
    socklen_t len = sizeof *a;
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    MUST(s);
    MUST(bind(s, (struct sockaddr *)a, sizeof *a));
    MUST(getsockname(s, (struct sockaddr *)a, &len));
    MUST(listen(s, 4));
    return s;
}

static void inet(void)
{
    struct sockaddr_in a;
    int u = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    MUST(u);
    show("tcp unconnected", u);
    close(u);

    int l = tcp_listener(&a);
    show("tcp listening", l);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    MUST(c);
    MUST(connect(c, (struct sockaddr *)&a, sizeof a));
    await(l, POLLIN);
    show("tcp listening, pending", l);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    MUST(s);
    show("tcp listening, accepted", l);
    show("tcp connected", s);
    MUST(write(c, "data", 4));
    await(s, POLLIN);
    show("tcp connected data", s);
    char buf[64];
    MUST(read(s, buf, sizeof buf));
    MUST(shutdown(c, SHUT_WR));
    await(s, POLLRDHUP);
    show("tcp peer SHUT_WR", s);
    show("tcp SHUT_WR side", c);
    close(c);
    await(s, POLLRDHUP);
    show("tcp peer closed", s);
    close(s);

    /* close with unread data sends RST */
    c = socket(AF_INET, SOCK_STREAM, 0);
    MUST(c);
    MUST(connect(c, (struct sockaddr *)&a, sizeof a));
    await(l, POLLIN);
    s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    MUST(s);
    MUST(write(c, "unread", 6));
    await(s, POLLIN);
    close(s);
    await(c, POLLERR);
    show("tcp peer reset", c);
    close(c);
    close(l);

    /* a bound, not listening port refuses connections */
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof b;
    int hold = socket(AF_INET, SOCK_STREAM, 0);
    MUST(hold);
    MUST(bind(hold, (struct sockaddr *)&b, sizeof b));
    MUST(getsockname(hold, (struct sockaddr *)&b, &len));
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    MUST(c);
    errno = 0;
    int r = connect(c, (struct sockaddr *)&b, sizeof b);
    printf("nonblocking connect to closed port: %s\n",
           r == 0 ? "0" : errno == EINPROGRESS || errno == ECONNREFUSED ? "-1 EINPROGRESS or ECONNREFUSED" : en(errno));
    await(c, POLLOUT);
    show("tcp connect refused", c);
    int soerr = 0;
    len = sizeof soerr;
    MUST(getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &len));
    printf("SO_ERROR: %s\n", soerr ? en(soerr) : "0");
    show("tcp connect refused, error read", c);
    close(c);
    close(hold);

    int d = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    MUST(d);
    show("udp unbound", d);
    b = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    len = sizeof b;
    MUST(bind(d, (struct sockaddr *)&b, sizeof b));
    MUST(getsockname(d, (struct sockaddr *)&b, &len));
    show("udp bound", d);
    int e = socket(AF_INET, SOCK_DGRAM, 0);
    MUST(e);
    MUST(sendto(e, "x", 1, 0, (struct sockaddr *)&b, sizeof b));
    await(d, POLLIN);
    show("udp bound with datagram", d);
    close(e);
    close(d);
}

/* ------------------------------------------------------------------ event files */
static void event_files(void)
{
    int e = eventfd(0, EFD_NONBLOCK);
    MUST(e);
    show("eventfd 0", e);
    uint64_t v = 3;
    MUST(write(e, &v, 8));
    show("eventfd 3", e);
    v = 0xfffffffffffffffeULL - 3;
    MUST(write(e, &v, 8));
    show("eventfd max-1", e);
    MUST(read(e, &v, 8));
    show("eventfd read back to 0", e);
    close(e);

    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    MUST(t);
    show("timerfd disarmed", t);
    struct itimerspec its = {.it_value = {100, 0}};
    MUST(timerfd_settime(t, 0, &its, NULL));
    show("timerfd unexpired", t);
    its.it_value = (struct timespec){0, 1000};
    MUST(timerfd_settime(t, 0, &its, NULL));
    await(t, POLLIN);
    show("timerfd expired", t);
    MUST(read(t, &v, 8));
    show("timerfd expired and read", t);
    close(t);

    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    MUST(sigprocmask(SIG_BLOCK, &m, NULL));
    int sf = signalfd(-1, &m, SFD_NONBLOCK);
    MUST(sf);
    show("signalfd none pending", sf);
    raise(SIGUSR2);
    show("signalfd pending", sf);
    struct signalfd_siginfo si;
    MUST(read(sf, &si, sizeof si));
    show("signalfd read", sf);
    close(sf);
    MUST(sigprocmask(SIG_UNBLOCK, &m, NULL));

    int ep = epoll_create1(0);
    MUST(ep);
    show("epoll empty", ep);
    e = eventfd(0, EFD_NONBLOCK);
    MUST(e);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    MUST(epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev));
    show("epoll member not ready", ep);
    v = 1;
    MUST(write(e, &v, 8));
    show("epoll member ready", ep);
    close(e);
    close(ep);

    int in = inotify_init1(IN_NONBLOCK);
    MUST(in);
    MUST(inotify_add_watch(in, ".", IN_CREATE));
    show("inotify empty", in);
    int f = open("created", O_CREAT | O_WRONLY, 0600);
    MUST(f);
    close(f);
    show("inotify event queued", in);
    close(in);
    unlink("created");
}

/* ------------------------------------------------------------------ plain files */
static void plain_files(void)
{
    int m = memfd_create("m", 0);
    MUST(m);
    show("memfd", m);
    close(m);

    int f = open("file", O_CREAT | O_RDWR, 0600);
    MUST(f);
    show("regular file rdwr", f);
    close(f);
    f = open("file", O_RDONLY);
    MUST(f);
    show("regular file rdonly", f);
    close(f);
    f = open("file", O_WRONLY);
    MUST(f);
    show("regular file wronly", f);
    close(f);
    unlink("file");

    f = open(".", O_RDONLY | O_DIRECTORY);
    MUST(f);
    show("directory", f);
    close(f);
    f = open("/tmp", O_RDONLY | O_DIRECTORY);
    MUST(f);
    show("directory /tmp", f);
    close(f);
    f = open("/dev/null", O_RDWR);
    MUST(f);
    show("/dev/null", f);
    close(f);
    f = open("/dev/zero", O_RDONLY);
    MUST(f);
    show("/dev/zero", f);
    close(f);
    f = open("/proc/self/status", O_RDONLY);
    MUST(f);
    show("/proc/self/status", f);
    close(f);
    f = open("/proc/self/stat", O_RDONLY);
    MUST(f);
    show("/proc/self/stat", f);
    close(f);
    f = open("/proc", O_RDONLY | O_DIRECTORY);
    MUST(f);
    show("/proc directory", f);
    close(f);
    static const char *more[] = {"/proc/meminfo", "/proc/version", "/proc/self/mounts",
                                 "/proc/sys/kernel/hostname", "/dev/random", "/dev/urandom",
                                 "/dev/full", "/dev/tty"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        f = open(more[i], O_RDONLY | O_NOCTTY);
        if (f < 0) {
            printf("%s: open -1 %s\n", more[i], en(errno));
            continue;
        }
        show(more[i], f);
        close(f);
    }
}

/* ------------------------------------------------------------------ ptys */
static void ptys(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (m < 0) {
        printf("no ptmx\n");
        return;
    }
    MUST(grantpt(m));
    MUST(unlockpt(m));
    show("pty master, slave never opened", m);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_NONBLOCK);
    MUST(s);
    show("pty master", m);
    show("pty slave", s);
    MUST(write(m, "line\n", 5));
    await(s, POLLIN);
    show("pty slave with a line", s);
    drain_nonblocking(s);
    MUST(write(m, "partial", 7));
    msleep(20);
    show("pty slave with a partial line", s);
    MUST(write(s, "out", 3));
    await(m, POLLIN);
    show("pty master with output", m);
    drain_nonblocking(m);
    close(s);
    await(m, 0);
    show("pty master, slave closed", m);
    s = open(ptsname(m), O_RDWR | O_NOCTTY | O_NONBLOCK);
    MUST(s);
    close(m);
    await(s, 0);
    show("pty slave, master closed", s);
    close(s);
}

/* ------------------------------------------------------------------ blocking waits */
enum { W_POLL, W_PPOLL, W_SELECT, W_PSELECT, W_EPOLL, W_NCALLS };
static const char *wname[] = {"poll", "ppoll", "select", "pselect", "epoll_wait"};

/* block in call on fd (readable) for at most 5 s and print what ended the wait */
static void wait_readable(const char *label, int call, int fd)
{
    int n = -1;
    unsigned ev = 0;
    errno = 0;
    if (call == W_POLL || call == W_PPOLL) {
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec ts = {5, 0};
        n = call == W_POLL ? poll(&p, 1, 5000) : ppoll(&p, 1, &ts, NULL);
        ev = (uint16_t)p.revents;
    } else if (call == W_SELECT || call == W_PSELECT) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(fd, &r);
        struct timeval tv = {5, 0};
        struct timespec ts = {5, 0};
        n = call == W_SELECT ? select(fd + 1, &r, NULL, NULL, &tv)
                             : pselect(fd + 1, &r, NULL, NULL, &ts, NULL);
        ev = FD_ISSET(fd, &r) ? POLLIN : 0;
    } else {
        int ep = epoll_create1(0);
        struct epoll_event e = {.events = EPOLLIN}, out;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        n = epoll_wait(ep, &out, 1, 5000);
        ev = n > 0 ? out.events : 0;
        close(ep);
    }
    if (n < 0)
        printf("%s %s: -1 %s\n", label, wname[call], en(errno));
    else
        printf("%s %s: %d %s\n", label, wname[call], n, evname(ev));
}

/* a child blocks in each call on the read side of a kind; the parent, which the blocked
 * call must not hold up, makes it readable 30 ms later */
static void blocking(void)
{
    static const char *kinds[] = {"pipe", "eventfd", "unix stream", "tcp", "udp", "timerfd"};
    for (int k = 0; k < 6; k++) {
        for (int call = 0; call < W_NCALLS; call++) {
            int rd = -1, wr = -1, extra = -1;
            struct sockaddr_in a;
            socklen_t len = sizeof a;
            if (k == 0) {
                int p[2];
                MUST(pipe(p));
                rd = p[0], wr = p[1];
            } else if (k == 1) {
                rd = wr = eventfd(0, 0);
                MUST(rd);
            } else if (k == 2) {
                int s[2];
                MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
                rd = s[0], wr = s[1];
            } else if (k == 3) {
                extra = tcp_listener(&a);
                wr = socket(AF_INET, SOCK_STREAM, 0);
                MUST(wr);
                MUST(connect(wr, (struct sockaddr *)&a, sizeof a));
                await(extra, POLLIN);
                rd = accept(extra, NULL, NULL);
                MUST(rd);
            } else if (k == 4) {
                a = (struct sockaddr_in){.sin_family = AF_INET,
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                rd = socket(AF_INET, SOCK_DGRAM, 0);
                MUST(rd);
                MUST(bind(rd, (struct sockaddr *)&a, sizeof a));
                MUST(getsockname(rd, (struct sockaddr *)&a, &len));
                wr = socket(AF_INET, SOCK_DGRAM, 0);
                MUST(wr);
                MUST(connect(wr, (struct sockaddr *)&a, sizeof a));
            } else {
                rd = timerfd_create(CLOCK_MONOTONIC, 0);
                MUST(rd);
                struct itimerspec its = {.it_value = {0, 30 * 1000000}};
                MUST(timerfd_settime(rd, 0, &its, NULL));
            }
            pid_t c = fork();
            MUST(c);
            if (c == 0) {
                wait_readable(kinds[k], call, rd);
                fflush(stdout);
                _exit(0);
            }
            msleep(30);
            for (int i = 0; i < 100; i++)
                getppid();
            if (k == 1) {
                uint64_t one = 1;
                MUST(write(wr, &one, 8));
            } else if (k != 5) {
                MUST(write(wr, "x", 1));
            }
            int st;
            MUST(waitpid(c, &st, 0));
            close(rd);
            if (wr != rd && wr >= 0)
                close(wr);
            if (extra >= 0)
                close(extra);
        }
    }
}

/* ------------------------------------------------------------------ the calls' edges */
static volatile sig_atomic_t got;
static void on_sig(int s) { (void)s; got++; }

static void edges(void)
{
    int p[2];
    MUST(pipe(p));
    MUST(write(p[1], "x", 1));
    /* p[0] is readable; an fd at or past nfds is not looked at */
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 0};
    R("select fd == nfds", select(p[0], &r, NULL, NULL, &tv));
    T("select fd == nfds bit cleared", !FD_ISSET(p[0], &r));
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    R("select nfds 0", select(0, &r, NULL, NULL, &tv));
    T("select nfds 0 bit kept", FD_ISSET(p[0], &r));

    int closed = dup(p[0]);
    MUST(closed);
    close(closed);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    FD_SET(closed, &r);
    R("select closed fd", select(closed + 1, &r, NULL, NULL, &tv));
    T("select closed fd leaves the set", FD_ISSET(p[0], &r) && FD_ISSET(closed, &r));
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    FD_SET(closed, &r);
    R("select closed fd past nfds", select(p[0] + 1, &r, NULL, NULL, &tv));
    fd_set w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(closed, &w);
    R("select closed fd in write set", select(closed + 1, &r, &w, NULL, &tv));
    R("select negative nfds", select(-1, NULL, NULL, NULL, &tv));
    tv.tv_usec = -1;
    R("select negative timeout", select(1, NULL, NULL, NULL, &tv));
    tv.tv_usec = 0;

    struct pollfd pf[4] = {
        {p[0], POLLIN, 0x7fff},
        {-1, POLLIN, 0x7fff},
        {closed, POLLIN, 0x7fff},
        {closed, 0, 0},
    };
    R("poll ready+negative+closed+closed(0)", poll(pf, 4, 0));
    for (int i = 0; i < 4; i++)
        printf("  revents[%d]: %s\n", i, evname((uint16_t)pf[i].revents));
    struct pollfd neg = {-5, POLLIN, 0x7fff};
    R("poll negative only, timeout 10", poll(&neg, 1, 10));
    printf("  revents: %s\n", evname((uint16_t)neg.revents));
    R("poll EINVAL nfds", syscall(SYS_poll, pf, 1ul << 30, 0));

    close(p[1]);
    struct pollfd z = {p[0], 0, 0};
    R("poll events=0, writer closed with data", poll(&z, 1, 0));
    printf("  revents: %s\n", evname((uint16_t)z.revents));
    char c;
    MUST(read(p[0], &c, 1));
    z.revents = 0;
    R("poll events=0, writer closed", poll(&z, 1, 0));
    printf("  revents: %s\n", evname((uint16_t)z.revents));
    z.events = POLLOUT;
    R("poll POLLOUT only, writer closed", poll(&z, 1, 0));
    printf("  revents: %s\n", evname((uint16_t)z.revents));
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &w);
    R("select write set on hung-up read end", select(p[0] + 1, &r, &w, NULL, &tv));
    close(p[0]);

    /* epoll on files without a poll method */
    int ep = epoll_create1(0);
    MUST(ep);
    int f = open("plain", O_CREAT | O_RDWR, 0600);
    MUST(f);
    struct epoll_event ev = {.events = EPOLLIN};
    R("epoll_ctl regular file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev));
    R("epoll_ctl closed fd", epoll_ctl(ep, EPOLL_CTL_ADD, closed, &ev));
    R("epoll_ctl itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    close(f);
    unlink("plain");

    /* signal masks of the waits: SIGUSR1 blocked, pending; the call's mask unblocks it */
    set_handler(SIGUSR1, on_sig, 0);
    mask_signal(SIG_BLOCK, SIGUSR1);
    sigset_t open_mask;
    sigemptyset(&open_mask);
    MUST(pipe(p));
    struct timespec zero = {0, 0}, second = {1, 0};
    struct pollfd pr = {p[0], POLLIN, 0};
    sigset_t cur;

    raise(SIGUSR1);
    got = 0;
    R("ppoll nothing ready, timeout 0, mask opens pending", ppoll(&pr, 1, &zero, &open_mask));
    R("  handler ran", got);
    MUST(sigprocmask(SIG_BLOCK, NULL, &cur));
    T("  SIGUSR1 blocked again", sigismember(&cur, SIGUSR1));

    raise(SIGUSR1);
    got = 0;
    R("ppoll nothing ready, timeout 1s, mask opens pending", ppoll(&pr, 1, &second, &open_mask));
    R("  handler ran", got);
    T("  timeout untouched", second.tv_sec == 1 && second.tv_nsec == 0);

    MUST(write(p[1], "x", 1));
    raise(SIGUSR1);
    got = 0;
    R("ppoll ready, mask opens pending", ppoll(&pr, 1, &second, &open_mask));
    R("  handler ran", got);
    sigset_t pend;
    MUST(sigpending(&pend));
    T("  still pending", sigismember(&pend, SIGUSR1));
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    R("  handler ran once unblocked", got);
    mask_signal(SIG_BLOCK, SIGUSR1);
    MUST(read(p[0], &c, 1));

    raise(SIGUSR1);
    got = 0;
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    R("pselect nothing ready, timeout 0, mask opens pending",
      pselect(p[0] + 1, &rs, NULL, NULL, &zero, &open_mask));
    R("  handler ran", got);
    got = 0;
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    mask_signal(SIG_BLOCK, SIGUSR1);
    R("  delivered later", got);

    int ep2 = epoll_create1(0);
    MUST(ep2);
    struct epoll_event pe = {.events = EPOLLIN};
    MUST(epoll_ctl(ep2, EPOLL_CTL_ADD, p[0], &pe));
    raise(SIGUSR1);
    got = 0;
    struct epoll_event out;
    R("epoll_pwait nothing ready, timeout 0, mask opens pending",
      epoll_pwait(ep2, &out, 1, 0, &open_mask));
    R("  handler ran", got);
    got = 0;
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    mask_signal(SIG_BLOCK, SIGUSR1);
    R("  delivered later", got);
    raise(SIGUSR1);
    got = 0;
    R("epoll_pwait nothing ready, timeout 100ms, mask opens pending",
      epoll_pwait(ep2, &out, 1, 100, &open_mask));
    R("  handler ran", got);
    close(ep2);
    close(ep);
    close(p[0]);
    close(p[1]);
    mask_signal(SIG_UNBLOCK, SIGUSR1);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    pipes();
    unix_pair(SOCK_STREAM, "unix stream");
    unix_pair(SOCK_SEQPACKET, "unix seqpacket");
    unix_listen(SOCK_STREAM, "unix stream", "st");
    unix_listen(SOCK_SEQPACKET, "unix seqpacket", "sp");
    unix_dgram();
    inet();
    event_files();
    plain_files();
    edges();
    blocking();
    ptys();
    return 0;
}
