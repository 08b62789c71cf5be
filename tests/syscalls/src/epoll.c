/* epoll.c -- epoll_create/create1/ctl/wait/pwait/pwait2: argument errors in Linux's
 * order, level vs edge triggering on a pipe, EPOLLONESHOT and its re-arm by MOD,
 * the "interest is (description, fd)" rule after dup/close, nested sets and ELOOP
 * and the nesting depth, readiness of every file kind, maxevents and the ready
 * list's order, a faulting event buffer, fork sharing a set, blocking waits woken
 * by another process, signals (EINTR whatever SA_RESTART says, the pwait mask),
 * timeouts, fdinfo. */
#include "check.h"
#include "net.h"
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define ANON_INODE_FS_MAGIC 0x09041934

/* epoll_wait and print "label: n [data events] ..." */
static int wait_show(const char *label, int ep, int max, int timeout)
{
    struct epoll_event ev[16];
    errno = 0;
    int n = epoll_wait(ep, ev, max, timeout);
    if (n < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return n;
    }
    printf("%s: %d", label, n);
    for (int i = 0; i < n; i++)
        printf(" [%llu %s]", (unsigned long long)ev[i].data.u64, evname(ev[i].events));
    printf("\n");
    return n;
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &e);
}

/* the "tfd events data" part of each line of /proc/self/fdinfo/<ep>, by tfd (Linux lists
 * them in the order of the files' kernel addresses) */
static void show_fdinfo(const char *label, int ep)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
    int f = open(path, O_RDONLY);
    MUST(f);
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    buf[n > 0 ? n : 0] = 0;
    struct { int tfd; unsigned ev; unsigned long long data; } items[32];
    int k = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (k < 32 && sscanf(line, "tfd: %d events: %x data: %llx", &items[k].tfd, &items[k].ev,
                             &items[k].data) == 3)
            k++;
        else if (strncmp(line, "flags:", 6) == 0)
            printf("%s: %s\n", label, line);
    }
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (items[j].tfd < items[i].tfd || (items[j].tfd == items[i].tfd && items[j].data < items[i].data)) {
                __typeof__(items[0]) x = items[i];
                items[i] = items[j];
                items[j] = x;
            }
    for (int i = 0; i < k; i++)
        printf("%s: tfd %d events %x data %llx\n", label, items[i].tfd, items[i].ev, items[i].data);
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int s) { (void)s; got_usr1++; }

static void errors(void)
{
    int p[2];
    MUST(pipe(p));
    R("epoll_create(0)", epoll_create(0));
    R("epoll_create(-1)", epoll_create(-1));
    R("epoll_create1(bad flag)", epoll_create1(1));
    int ep = epoll_create(1);
    MUST(ep);
    T("epoll_create not cloexec", !(fcntl(ep, F_GETFD) & FD_CLOEXEC));
    int epc = epoll_create1(EPOLL_CLOEXEC);
    MUST(epc);
    T("EPOLL_CLOEXEC sets FD_CLOEXEC", fcntl(epc, F_GETFD) & FD_CLOEXEC);
    printf("F_GETFL: %o\n", fcntl(ep, F_GETFL));

    struct stat st;
    MUST(fstat(ep, &st));
    printf("fstat mode: %o size %lld nlink %ld\n", st.st_mode, (long long)st.st_size,
           (long)st.st_nlink);
    struct stat st2;
    int ev = eventfd(0, 0);
    MUST(fstat(ev, &st2));
    T("same inode as an eventfd", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev);
    struct statfs sf;
    MUST(fstatfs(ep, &sf));
    T("fstatfs anon_inodefs", sf.f_type == ANON_INODE_FS_MAGIC);
    char link[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ep);
    ssize_t ln = readlink(path, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    printf("fd link: %s\n", link);
    R("reopen through /proc", open(path, O_RDONLY));
    char c[16];
    R("read epoll fd", read(ep, c, 8));
    R("write epoll fd", write(ep, c, 8));
    R("pread epoll fd", pread(ep, c, 8, 0));
    R("lseek epoll fd", lseek(ep, 100, SEEK_SET));
    R("ioctl unknown", ioctl(ep, 0x1234, 0));

    int reg = open("regular", O_CREAT | O_RDWR, 0600);
    MUST(reg);
    MUST(mkdir("dir", 0700));
    int dir = open("dir", O_RDONLY | O_DIRECTORY);
    int opath = open("dir", O_PATH);
    int null = open("/dev/null", O_RDWR);
    int urnd = open("/dev/urandom", O_RDONLY);
    int rnd = open("/dev/random", O_RDONLY);
    int sp[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));

    R("ctl bad epfd", ctl(999, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    R("ctl bad fd", ctl(ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0));
    R("ctl regular file", ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0));
    R("ctl directory", ctl(ep, EPOLL_CTL_ADD, dir, EPOLLIN, 0));
    R("ctl O_PATH fd", ctl(ep, EPOLL_CTL_ADD, opath, EPOLLIN, 0));
    R("ctl O_PATH epfd", ctl(opath, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    R("ctl /dev/null", ctl(ep, EPOLL_CTL_ADD, null, EPOLLIN, 0));
    R("ctl /dev/urandom", ctl(ep, EPOLL_CTL_ADD, urnd, EPOLLIN, 0));
    R("ctl /dev/random", ctl(ep, EPOLL_CTL_ADD, rnd, EPOLLIN, 0));
    R("ctl regular file as epfd", ctl(reg, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    R("ctl pipe as epfd", ctl(p[1], EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    R("ctl epoll into itself", ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
    R("ctl regular file into itself", ctl(reg, EPOLL_CTL_ADD, reg, EPOLLIN, 0));
    R("ctl add pipe", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    R("ctl add twice", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLOUT, 0));
    R("ctl mod absent", ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 0));
    R("ctl del absent", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    R("ctl bad op", ctl(ep, 7, p[0], EPOLLIN, 0));
    R("ctl bad op, absent fd", ctl(ep, 0, p[1], EPOLLIN, 0));
    R("ctl add NULL event", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], NULL));
    R("ctl add bad event pointer", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (void *)8));
    R("ctl del NULL event", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    R("ctl del again", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    R("ctl exclusive with MOD", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0));
    R("ctl exclusive with RDHUP", ctl(ep, EPOLL_CTL_ADD, sp[0], EPOLLIN | EPOLLRDHUP | EPOLLEXCLUSIVE, 0));
    R("ctl exclusive with ONESHOT", ctl(ep, EPOLL_CTL_ADD, sp[0], EPOLLIN | EPOLLONESHOT | EPOLLEXCLUSIVE, 0));
    R("ctl exclusive epoll target", ctl(ep, EPOLL_CTL_ADD, epc, EPOLLIN | EPOLLEXCLUSIVE, 0));
    R("ctl exclusive ok", ctl(ep, EPOLL_CTL_ADD, sp[0], EPOLLIN | EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE, 5));
    R("ctl mod of an exclusive item", ctl(ep, EPOLL_CTL_MOD, sp[0], EPOLLIN, 5));
    R("ctl del of an exclusive item", epoll_ctl(ep, EPOLL_CTL_DEL, sp[0], NULL));
    R("ctl wakeup", ctl(ep, EPOLL_CTL_ADD, sp[1], EPOLLIN | EPOLLWAKEUP, 6));
    R("ctl all event bits", ctl(ep, EPOLL_CTL_ADD, p[0], 0x0fffffff, 7));
    show_fdinfo("fdinfo", ep);

    struct epoll_event out[4];
    R("wait maxevents 0", epoll_wait(ep, out, 0, 0));
    R("wait maxevents -1", syscall(SYS_epoll_wait, ep, out, -1, 0));
    R("wait maxevents huge", syscall(SYS_epoll_wait, ep, out, 0x7fffffff / 12 + 1, 0));
    R("wait bad fd", epoll_wait(999, out, 4, 0));
    R("wait on a pipe", epoll_wait(p[0], out, 4, 0));
    R("wait kernel buffer", epoll_wait(ep, (void *)0xffffffffff600000UL, 4, 0));
    R("wait timeout 0, nothing ready", epoll_wait(epc, out, 4, 0));
    sigset_t ss;
    sigemptyset(&ss);
    R("pwait bad sigsetsize", syscall(SYS_epoll_pwait, epc, out, 4, 0, &ss, 4));
    R("pwait bad sigsetsize before bad fd", syscall(SYS_epoll_pwait, 999, out, 4, 0, &ss, 4));
    struct timespec bad = {0, 1000000000};
    R("pwait2 bad timespec", syscall(SYS_epoll_pwait2, epc, out, 4, &bad, NULL, 8));
    struct timespec neg = {-1, 0};
    R("pwait2 negative timespec", syscall(SYS_epoll_pwait2, epc, out, 4, &neg, NULL, 8));
    struct timespec zero = {0, 0};
    R("pwait2 zero timespec", syscall(SYS_epoll_pwait2, epc, out, 4, &zero, NULL, 8));
    close(reg);
    close(dir);
    close(opath);
    close(null);
    close(urnd);
    close(rnd);
    close(sp[0]);
    close(sp[1]);
    close(ev);
    close(ep);
    close(epc);
    close(p[0]);
    close(p[1]);
}

static void level_edge(void)
{
    int p[2];
    MUST(pipe(p));
    int lt = epoll_create1(0), et = epoll_create1(0);
    MUST(ctl(lt, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    MUST(ctl(et, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 2));
    wait_show("LT empty", lt, 4, 0);
    wait_show("ET empty", et, 4, 0);
    MUST(write(p[1], "abcd", 4));
    wait_show("LT after write", lt, 4, 0);
    wait_show("LT again", lt, 4, 0);
    wait_show("ET after write", et, 4, 0);
    wait_show("ET again", et, 4, 0);
    char b[8];
    MUST(read(p[0], b, 2));
    wait_show("LT after partial read", lt, 4, 0);
    wait_show("ET after partial read", et, 4, 0);
    MUST(write(p[1], "e", 1));
    wait_show("ET after a second write (not drained)", et, 4, 0);
    wait_show("ET again", et, 4, 0);
    MUST(read(p[0], b, 8));
    wait_show("LT drained", lt, 4, 0);
    wait_show("ET drained", et, 4, 0);

    /* the write end: OUT, then ERR when the reader goes */
    MUST(ctl(lt, EPOLL_CTL_ADD, p[1], EPOLLOUT, 3));
    MUST(ctl(et, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLET, 4));
    wait_show("LT write end", lt, 4, 0);
    wait_show("ET write end", et, 4, 0);
    wait_show("ET write end again", et, 4, 0);
    MUST(write(p[1], "x", 1));
    wait_show("ET write end after a write", et, 4, 0);
    MUST(read(p[0], b, 1));
    wait_show("ET write end after a read", et, 4, 0);
    int r2 = dup(p[0]);
    close(p[0]);
    wait_show("LT reader fd closed, dup alive", lt, 4, 0);
    close(r2);
    wait_show("LT readers gone", lt, 4, 0);
    wait_show("ET readers gone", et, 4, 0);
    close(p[1]);
    wait_show("LT all closed", lt, 4, 0);

    /* the read end sees HUP when the writer goes */
    MUST(pipe(p));
    MUST(ctl(lt, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLRDHUP, 5));
    MUST(ctl(et, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 6));
    MUST(write(p[1], "z", 1));
    close(p[1]);
    wait_show("LT writer gone with data", lt, 4, 0);
    wait_show("ET writer gone with data", et, 4, 0);
    MUST(read(p[0], b, 1));
    wait_show("LT writer gone, drained", lt, 4, 0);
    wait_show("ET writer gone, drained", et, 4, 0);
    close(p[0]);
    close(lt);
    close(et);
}

static void oneshot(void)
{
    int p[2];
    MUST(pipe(p));
    int ep = epoll_create1(0);
    MUST(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLONESHOT, 9));
    MUST(write(p[1], "a", 1));
    wait_show("ONESHOT first", ep, 4, 0);
    wait_show("ONESHOT disabled", ep, 4, 0);
    MUST(write(p[1], "b", 1));
    wait_show("ONESHOT disabled after a write", ep, 4, 0);
    show_fdinfo("ONESHOT fdinfo", ep);
    R("ONESHOT add again", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 9));
    R("ONESHOT MOD re-arms", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 10));
    wait_show("ONESHOT after MOD", ep, 4, 0);
    wait_show("ONESHOT disabled again", ep, 4, 0);
    R("ONESHOT MOD to level", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 11));
    wait_show("level after MOD", ep, 4, 0);
    wait_show("level again", ep, 4, 0);
    R("MOD to OUT only", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLOUT, 12));
    wait_show("read end, OUT asked", ep, 4, 0);
    R("MOD to ET", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 13));
    wait_show("ET|ONESHOT after MOD (data there)", ep, 4, 0);
    MUST(write(p[1], "c", 1));
    wait_show("ET|ONESHOT disabled", ep, 4, 0);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void dup_close_rule(void)
{
    int p[2];
    MUST(pipe(p));
    int ep = epoll_create1(0);
    int d = dup(p[0]);
    R("add fd", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 100));
    R("add its dup", ctl(ep, EPOLL_CTL_ADD, d, EPOLLIN, 200));
    MUST(write(p[1], "a", 1));
    wait_show("both fds reported", ep, 4, 0);
    int saved = p[0];
    close(p[0]);
    wait_show("closed fd still reported", ep, 4, 0);
    R("del closed fd", epoll_ctl(ep, EPOLL_CTL_DEL, saved, NULL));
    R("del the dup", epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL));
    wait_show("after del of the dup", ep, 4, 0);
    /* a new file at the old number is another key */
    int e = eventfd(1, 0);
    printf("eventfd got the old number: %s\n", e == saved ? "yes" : "no");
    R("add new file at the old number", ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN, 300));
    wait_show("old entry and new one", ep, 4, 0);
    R("del at the old number removes the new one", epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));
    wait_show("old entry stays", ep, 4, 0);
    close(d);
    wait_show("last reference closed: gone", ep, 4, 0);
    close(e);
    close(p[1]);

    /* close_range and dup2 over the number are closes too */
    MUST(pipe(p));
    MUST(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 400));
    MUST(write(p[1], "x", 1));
    int hi = fcntl(p[0], F_DUPFD, 50);
    MUST(hi);
    MUST(syscall(SYS_close_range, p[0], p[0], 0));
    wait_show("close_range of one fd, dup above", ep, 4, 0);
    int other[2];
    MUST(pipe(other));
    MUST(dup2(other[0], hi));
    wait_show("dup2 replaced the last reference", ep, 4, 0);
    close(other[0]);
    close(other[1]);
    close(hi);
    close(p[1]);

    /* the epoll set itself: a dup'd epoll fd is the same set */
    int ep2 = dup(ep);
    MUST(pipe(p));
    MUST(ctl(ep2, EPOLL_CTL_ADD, p[1], EPOLLOUT, 500));
    wait_show("added through a dup of the epoll fd", ep, 4, 0);
    close(ep);
    wait_show("epoll fd closed, dup alive", ep2, 4, 0);
    close(ep2);
    close(p[0]);
    close(p[1]);
}

static void nested(void)
{
    int p[2];
    MUST(pipe(p));
    int inner = epoll_create1(0), outer = epoll_create1(0);
    MUST(ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    R("add inner to outer", ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2));
    R("add outer to inner (loop)", ctl(inner, EPOLL_CTL_ADD, outer, EPOLLIN, 3));
    struct pollfd pf = {inner, POLLIN, 0};
    R("poll inner, empty", poll(&pf, 1, 0));
    wait_show("outer, empty", outer, 4, 0);
    MUST(write(p[1], "a", 1));
    pf.revents = 0;
    R("poll inner, data", poll(&pf, 1, 0));
    printf("poll inner revents: %s\n", evname(pf.revents));
    wait_show("outer, data", outer, 4, 0);
    wait_show("inner, data", inner, 4, 0);
    char b[4];
    MUST(read(p[0], b, 1));
    wait_show("outer, drained", outer, 4, 0);

    /* edge-triggered outer: one event per new inner event */
    int eto = epoll_create1(0);
    MUST(ctl(eto, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLET, 4));
    wait_show("ET outer, empty", eto, 4, 0);
    MUST(write(p[1], "b", 1));
    wait_show("ET outer after a write", eto, 4, 0);
    wait_show("ET outer again", eto, 4, 0);
    MUST(write(p[1], "c", 1));
    wait_show("ET outer after a second write", eto, 4, 0);
    MUST(read(p[0], b, 4));

    /* loops and depth: a chain e[0] <- e[1] <- ... (e[i+1] watches e[i]) */
    int e[8];
    for (int i = 0; i < 8; i++)
        MUST(e[i] = epoll_create1(0));
    MUST(ctl(e[0], EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    for (int i = 1; i < 8; i++) {
        char l[64];
        snprintf(l, sizeof l, "chain link %d", i);
        R(l, ctl(e[i], EPOLL_CTL_ADD, e[i - 1], EPOLLIN, i));
    }
    R("loop to the bottom", ctl(e[0], EPOLL_CTL_ADD, e[3], EPOLLIN, 9));
    R("loop of two", ctl(e[1], EPOLL_CTL_ADD, e[2], EPOLLIN, 9));
    MUST(write(p[1], "d", 1));
    wait_show("top of the chain", e[4], 4, 0);
    /* depth counted upwards too: e[4] is watched 0 levels up; a set above it */
    int top = epoll_create1(0), top2 = epoll_create1(0);
    R("one more above the top", ctl(top, EPOLL_CTL_ADD, e[4], EPOLLIN, 0));
    R("a new set below a full chain", ctl(e[0], EPOLL_CTL_ADD, top2, EPOLLIN, 0));
    int lone = epoll_create1(0), lone2 = epoll_create1(0);
    R("lone set into the chain's middle", ctl(e[2], EPOLL_CTL_ADD, lone, EPOLLIN, 0));
    R("set below the lone one", ctl(lone, EPOLL_CTL_ADD, lone2, EPOLLIN, 0));
    R("del link 3", epoll_ctl(e[3], EPOLL_CTL_DEL, e[2], NULL));
    R("the set above now fits", ctl(top, EPOLL_CTL_ADD, e[4], EPOLLIN, 0));
    /* diamond: two paths to one set are no loop */
    int a = epoll_create1(0), b1 = epoll_create1(0), b2 = epoll_create1(0), c = epoll_create1(0);
    R("diamond 1", ctl(b1, EPOLL_CTL_ADD, a, EPOLLIN, 0));
    R("diamond 2", ctl(b2, EPOLL_CTL_ADD, a, EPOLLIN, 0));
    R("diamond 3", ctl(c, EPOLL_CTL_ADD, b1, EPOLLIN, 0));
    R("diamond 4", ctl(c, EPOLL_CTL_ADD, b2, EPOLLIN, 0));
    R("diamond closing a loop", ctl(a, EPOLL_CTL_ADD, c, EPOLLIN, 0));
    /* closing a watched epoll set removes it from its watchers */
    MUST(ctl(a, EPOLL_CTL_ADD, p[0], EPOLLIN, 7));
    wait_show("diamond top", c, 4, 0);
    close(b1);
    wait_show("diamond top, one side closed", c, 4, 0);
    close(b2);
    wait_show("diamond top, both sides closed", c, 4, 0);
    MUST(read(p[0], b, 4));
    for (int i = 0; i < 8; i++)
        close(e[i]);
    close(top);
    close(top2);
    close(lone);
    close(lone2);
    close(a);
    close(c);
    close(inner);
    close(outer);
    close(eto);
    close(p[0]);
    close(p[1]);
}

static void kinds(void)
{
    int ep = epoll_create1(0);
    int e = eventfd(0, EFD_NONBLOCK);
    MUST(ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLOUT, 1));
    wait_show("eventfd 0", ep, 4, 0);
    uint64_t v = 3;
    MUST(write(e, &v, 8));
    wait_show("eventfd 3", ep, 4, 0);
    v = 0xfffffffffffffffeULL - 3;
    MUST(write(e, &v, 8));
    wait_show("eventfd at its maximum", ep, 4, 0);
    MUST(read(e, &v, 8));
    MUST(epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));

    /* EPOLLET on an eventfd: every write is an event, even of 0 */
    MUST(ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN | EPOLLET, 2));
    v = 1;
    MUST(write(e, &v, 8));
    wait_show("ET eventfd write", ep, 4, 0);
    wait_show("ET eventfd again", ep, 4, 0);
    v = 0;
    MUST(write(e, &v, 8));
    wait_show("ET eventfd after writing 0", ep, 4, 0);
    MUST(epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL));
    close(e);

    int sp[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    MUST(ctl(ep, EPOLL_CTL_ADD, sp[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, 3));
    wait_show("socket idle", ep, 4, 0);
    MUST(write(sp[1], "hi", 2));
    wait_show("socket data", ep, 4, 0);
    MUST(shutdown(sp[1], SHUT_WR));
    wait_show("socket peer SHUT_WR", ep, 4, 0);
    close(sp[1]);
    wait_show("socket peer closed", ep, 4, 0);
    close(sp[0]);
    wait_show("socket closed: gone", ep, 4, 0);

    int dg[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg));
    MUST(ctl(ep, EPOLL_CTL_ADD, dg[1], EPOLLIN | EPOLLET, 4));
    MUST(send(dg[0], "m1", 2, 0));
    MUST(send(dg[0], "m2", 2, 0));
    wait_show("dgram two messages, ET", ep, 4, 0);
    char b[8];
    MUST(recv(dg[1], b, 8, 0));
    wait_show("dgram one read, ET", ep, 4, 0);
    close(dg[0]);
    close(dg[1]);

    /* the poll bits beyond IN/OUT that pipes and sockets report */
    int pp[2], ss[2];
    MUST(pipe(pp));
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, ss));
    MUST(write(pp[1], "x", 1));
    MUST(write(ss[1], "x", 1));
    short all = POLLIN | POLLRDNORM | POLLRDBAND | POLLOUT | POLLWRNORM | POLLWRBAND | POLLPRI;
    struct pollfd pr[4] = {{pp[0], all, 0}, {pp[1], all, 0}, {ss[0], all, 0}, {ss[1], all, 0}};
    R("poll pipe and socket ends", poll(pr, 4, 0));
    for (int i = 0; i < 4; i++)
        printf("poll bits %d: %s\n", i, evname(pr[i].revents));
    MUST(ctl(ep, EPOLL_CTL_ADD, ss[0], EPOLLRDNORM | EPOLLWRNORM | EPOLLWRBAND, 6));
    wait_show("socket NORM bits only", ep, 4, 0);
    close(pp[0]);
    close(pp[1]);
    close(ss[0]);
    close(ss[1]);

    int rnd = open("/dev/random", O_RDONLY);
    MUST(ctl(ep, EPOLL_CTL_ADD, rnd, EPOLLIN, 5));
    wait_show("/dev/random", ep, 4, 0);
    close(rnd);
    close(ep);
}

static void order_and_max(void)
{
    int ep = epoll_create1(0);
    int p[4][2];
    for (int i = 0; i < 4; i++) {
        MUST(pipe(p[i]));
        MUST(ctl(ep, EPOLL_CTL_ADD, p[i][0], EPOLLIN, 10 + i));
    }
    /* ready in the order the writes come */
    MUST(write(p[2][1], "a", 1));
    MUST(write(p[0][1], "a", 1));
    MUST(write(p[3][1], "a", 1));
    wait_show("max 1", ep, 1, 0);
    wait_show("max 1", ep, 1, 0);
    wait_show("max 2", ep, 2, 0);
    wait_show("max 4", ep, 4, 0);
    MUST(write(p[1][1], "a", 1));
    wait_show("a new one goes last", ep, 4, 0);
    char b[2];
    MUST(read(p[0][0], b, 1));
    wait_show("a drained one drops out", ep, 4, 0);

    /* a buffer that faults: EFAULT, and the events stay */
    R("wait into NULL", syscall(SYS_epoll_wait, ep, NULL, 4, 0));
    wait_show("events kept", ep, 4, 0);
    /* room for one event before an unmapped page: one delivered, the rest kept */
    char *pg = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(pg == MAP_FAILED ? -1 : 0);
    MUST(munmap(pg + 4096, 4096));
    struct epoll_event *edge = (struct epoll_event *)(pg + 4096 - sizeof(struct epoll_event));
    errno = 0;
    int n = epoll_wait(ep, edge, 4, 0);
    printf("wait across an unmapped page: %d %s data %llu\n", n, n < 0 ? en(errno) : "",
           n > 0 ? (unsigned long long)edge[0].data.u64 : 0ULL);
    wait_show("after the short copy", ep, 4, 0);
    munmap(pg, 4096);
    for (int i = 0; i < 4; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
    close(ep);
}

static void processes(void)
{
    int p[2], q[2];
    MUST(pipe(p));
    MUST(pipe(q));
    int ep = epoll_create1(0);
    MUST(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        /* the child shares the set: what it adds, the parent sees */
        if (ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 2) < 0)
            _exit(1);
        msleep(100);
        if (write(q[1], "q", 1) != 1)
            _exit(2);
        msleep(100);
        if (write(p[1], "p", 1) != 1)
            _exit(3);
        _exit(0);
    }
    wait_show("blocking wait woken by the child", ep, 4, -1);
    char b[4];
    MUST(read(q[0], b, 1));
    wait_show("second blocking wait", ep, 4, 5000);
    int st;
    MUST(waitpid(c, &st, 0));
    R("child status", WEXITSTATUS(st));
    show_fdinfo("shared set", ep);
    MUST(read(p[0], b, 1));

    /* a blocking wait with a timeout that passes */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    R("wait 60ms, nothing", epoll_wait(ep, (struct epoll_event[1]){}, 1, 60));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    T("waited about 60ms", ms >= 55 && ms < 2000);
    struct timespec ts = {0, 60000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    R("pwait2 60ms, nothing", syscall(SYS_epoll_pwait2, ep, (struct epoll_event[1]){}, 1, &ts, NULL, 8));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    T("pwait2 waited about 60ms", ms >= 55 && ms < 2000);

    /* signals: EINTR even with SA_RESTART */
    set_handler(SIGUSR1, on_usr1, SA_RESTART);
    pid_t me = getpid();
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        kill(me, SIGUSR1);
        _exit(0);
    }
    got_usr1 = 0;
    R("wait interrupted (SA_RESTART)", epoll_wait(ep, (struct epoll_event[1]){}, 1, 5000));
    R("handler ran", got_usr1);
    waitpid(c, NULL, 0);

    /* epoll_pwait: SIGUSR1 blocked, the call's mask lets it in for the wait only */
    mask_signal(SIG_BLOCK, SIGUSR1);
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        kill(me, SIGUSR1);
        _exit(0);
    }
    sigset_t empty;
    sigemptyset(&empty);
    got_usr1 = 0;
    R("pwait with an empty mask", epoll_pwait(ep, (struct epoll_event[1]){}, 1, 5000, &empty));
    R("handler ran in pwait", got_usr1);
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    T("SIGUSR1 blocked again after pwait", sigismember(&now, SIGUSR1));
    waitpid(c, NULL, 0);

    /* pending before the call: pwait returns EINTR at once */
    kill(me, SIGUSR1);
    got_usr1 = 0;
    R("pwait with a signal pending", epoll_pwait(ep, (struct epoll_event[1]){}, 1, 5000, &empty));
    R("handler ran", got_usr1);
    /* ...but not with events ready or a zero timeout */
    kill(me, SIGUSR1);
    got_usr1 = 0;
    R("pwait, pending, timeout 0", epoll_pwait(ep, (struct epoll_event[1]){}, 1, 0, &empty));
    R("handler did not run yet", got_usr1);
    MUST(write(p[1], "p", 1));
    R("pwait, pending, event ready", epoll_pwait(ep, (struct epoll_event[1]){}, 1, 5000, &empty));
    R("handler still not run", got_usr1);
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    R("handler ran at unblock", got_usr1);
    MUST(read(p[0], b, 1));

    /* a wait whose mask blocks the signal goes on */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        kill(me, SIGUSR1);
        msleep(100);
        if (write(p[1], "p", 1) != 1)
            _exit(1);
        _exit(0);
    }
    got_usr1 = 0;
    R("pwait with SIGUSR1 masked", epoll_pwait(ep, (struct epoll_event[1]){}, 1, 5000, &usr1));
    R("handler ran after pwait", got_usr1);
    waitpid(c, NULL, 0);
    MUST(read(p[0], b, 1));

    /* CLOEXEC and exec: the set survives exec without it */
    int keep = epoll_create1(0), gone = epoll_create1(EPOLL_CLOEXEC);
    MUST(ctl(keep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        char a1[16], a2[16];
        snprintf(a1, sizeof a1, "%d", keep);
        snprintf(a2, sizeof a2, "%d", gone);
        execl("/proc/self/exe", "epoll", "--exec-check", a1, a2, (char *)NULL);
        _exit(127);
    }
    MUST(waitpid(c, &st, 0));
    R("exec'd child status", WEXITSTATUS(st));
    close(keep);
    close(gone);
    close(ep);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

static int exec_check(char **argv)
{
    int keep = atoi(argv[2]), gone = atoi(argv[3]);
    char l[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", keep);
    ssize_t n = readlink(path, l, sizeof l - 1);
    l[n > 0 ? n : 0] = 0;
    printf("after exec, kept fd: %s\n", l);
    R("after exec, cloexec fd", fcntl(gone, F_GETFD));
    show_fdinfo("after exec", keep);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--exec-check") == 0) {
        out_init();
        return exec_check(argv);
    }
    enter_workdir(argc, argv);
    errors();
    level_edge();
    oneshot();
    dup_close_rule();
    nested();
    kinds();
    order_and_max();
    processes();
    return 0;
}
