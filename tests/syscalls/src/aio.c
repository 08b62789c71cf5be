/* aio.c -- Linux native AIO through raw syscalls (no libaio): io_setup's checks and
 * limits, the ring it maps (header fields, ids, size), io_submit of reads, writes,
 * vectored I/O, fsync, poll and each of their checks, IOCB_FLAG_RESFD eventfd counts,
 * io_getevents with min_nr and timeouts, reaping from the ring in user space, io_cancel,
 * io_pgetevents's mask, reads and writes that block io_submit (woken, or ended by a
 * signal), io_destroy (the ring unmapped, a parked waiter woken), contexts a forked child
 * does not inherit, and a ring the program unmapped itself. */
#include "check.h"
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>

struct aio_ring {
    unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
    struct io_event io_events[];
};

struct aio_sigset {
    const sigset_t *sigmask;
    size_t sigsetsize;
};

static long io_setup(unsigned nr, aio_context_t *ctxp) { return syscall(SYS_io_setup, nr, ctxp); }
static long io_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long io_submit(aio_context_t ctx, long nr, struct iocb **iocbpp)
{
    return syscall(SYS_io_submit, ctx, nr, iocbpp);
}
static long io_cancel(aio_context_t ctx, struct iocb *cb, struct io_event *ev)
{
    return syscall(SYS_io_cancel, ctx, cb, ev);
}
static long io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *ev,
                         struct timespec *ts)
{
    return syscall(SYS_io_getevents, ctx, min_nr, nr, ev, ts);
}
static long io_pgetevents(aio_context_t ctx, long min_nr, long nr, struct io_event *ev,
                          struct timespec *ts, struct aio_sigset *sig)
{
    return syscall(SYS_io_pgetevents, ctx, min_nr, nr, ev, ts, sig);
}

static aio_context_t ctx;
static struct io_event ev[16];
static struct timespec zero = {0, 0};
static volatile int alarms;

static void on_alarm(int sig) { alarms++; }

/* a SIGALRM in ms milliseconds */
static void alarm_in(long ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    MUST(setitimer(ITIMER_REAL, &it, NULL));
}

static void prep(struct iocb *cb, int op, int fd, const void *buf, long n, long long off)
{
    memset(cb, 0, sizeof *cb);
    cb->aio_lio_opcode = op;
    cb->aio_fildes = fd;
    cb->aio_buf = (uintptr_t)buf;
    cb->aio_nbytes = n;
    cb->aio_offset = off;
}

static long submit1(struct iocb *cb)
{
    struct iocb *p[1] = {cb};
    return io_submit(ctx, 1, p);
}

/* the result of an event: a count, or -ENAME */
static void show_res(const char *label, long long res)
{
    if (res < 0)
        printf("%s: res -%s\n", label, en((int)-res));
    else
        printf("%s: res %lld\n", label, res);
}

/* submit one request and reap its event: "label: res N" */
static void one(const char *label, struct iocb *cb)
{
    errno = 0;
    long r = submit1(cb);
    if (r != 1) {
        printf("%s: submit -1 %s\n", label, en(errno));
        return;
    }
    long n = io_getevents(ctx, 1, 1, ev, NULL);
    if (n != 1) {
        printf("%s: getevents %ld %s\n", label, n, en(errno));
        return;
    }
    if (ev[0].obj != (uintptr_t)cb || ev[0].data != cb->aio_data)
        printf("%s: wrong event\n", label);
    show_res(label, ev[0].res);
}

static long read_long(const char *path)
{
    char buf[64] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atol(buf) : -1;
}

static void show_ring(const char *label, aio_context_t c)
{
    struct aio_ring *r = (struct aio_ring *)c;
    printf("%s: id %u nr %u head %u tail %u magic %#x compat %u incompat %u header %u\n", label,
           r->id, r->nr, r->head, r->tail, r->magic, r->compat_features, r->incompat_features,
           r->header_length);
}

/* the /proc/self/maps lines of the rings: perms, offset, name */
static void show_maps(const char *label)
{
    char line[512];
    FILE *m = fopen("/proc/self/maps", "r");
    if (!m)
        return;
    int n = 0;
    while (fgets(line, sizeof line, m)) {
        if (!strstr(line, "[aio]"))
            continue;
        char perms[8], off[32];
        sscanf(line, "%*s %7s %31s", perms, off);
        char *name = strchr(line, '/');
        printf("%s: %s %s %s", label, perms, off, name ? name : "?\n");
        n++;
    }
    fclose(m);
    printf("%s: %d rings\n", label, n);
}

static void *waiter(void *arg)
{
    long r = io_getevents(*(aio_context_t *)arg, 1, 1, ev + 8, NULL);
    return (void *)(r < 0 ? (long)-errno : r);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    set_handler(SIGALRM, on_alarm, 0);

    /* -- io_setup ------------------------------------------------------------ */
    R("setup nr 0", io_setup(0, &ctx));
    ctx = 1;
    R("setup *ctxp not 0", io_setup(1, &ctx));
    ctx = 0;
    R("setup bad ctxp", io_setup(1, (aio_context_t *)8));
    R("setup nr 0 bad ctxp", io_setup(0, (aio_context_t *)8));
    R("setup nr INT_MAX", io_setup(INT_MAX, &ctx));
    R("setup nr 2^31", io_setup(0x80000000u, &ctx));
    long max_nr = read_long("/proc/sys/fs/aio-max-nr");
    T("aio-max-nr readable", max_nr > 0);
    R("setup over aio-max-nr", io_setup((unsigned)max_nr + 1, &ctx));
    R("setup 8", io_setup(8, &ctx));
    T("ctx is a page address", ctx && ctx % 4096 == 0);
    show_ring("ring", ctx);
    aio_context_t ctx2 = 0;
    R("setup 200", io_setup(200, &ctx2));
    show_ring("ring 2", ctx2);
    T("ring 2 elsewhere", ctx2 != ctx);
    show_maps("maps");
    T("aio-nr readable", read_long("/proc/sys/fs/aio-nr") >= 0);

    /* -- io_submit's checks --------------------------------------------------- */
    int f = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    MUST(f);
    int ro = open("data", O_RDONLY), wo = open("data", O_WRONLY), pa = open("data", O_PATH);
    MUST(ro);
    MUST(wo);
    MUST(pa);
    int dir = open(".", O_RDONLY | O_DIRECTORY), ep = epoll_create1(0), efd = eventfd(0, 0);
    MUST(dir);
    MUST(ep);
    MUST(efd);
    char buf[64], buf2[64];
    struct iocb cb, cb2, cb3;
    struct iocb *cbs[3] = {&cb, &cb2, &cb3};
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    R("submit nr -1", io_submit(ctx, -1, cbs));
    R("submit bad ctx", io_submit(12345, 1, cbs));
    R("submit ctx 0", io_submit(0, 1, cbs));
    R("submit nr 0", io_submit(ctx, 0, cbs));
    R("submit iocbpp NULL", io_submit(ctx, 1, NULL));
    struct iocb *bad[1] = {(struct iocb *)8};
    R("submit iocb bad", io_submit(ctx, 1, bad));
    cb.aio_reserved2 = 1;
    R("reserved2 set", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, f, buf, -1, 0);
    R("nbytes negative", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, 999, buf, 4, 0);
    R("bad fd", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, pa, buf, 4, 0);
    R("O_PATH fd", submit1(&cb));
    prep(&cb, 99, f, buf, 4, 0);
    R("bad opcode", submit1(&cb));
    prep(&cb, IOCB_CMD_NOOP, f, buf, 4, 0);
    R("NOOP", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    cb.aio_flags = IOCB_FLAG_RESFD;
    cb.aio_resfd = f;
    R("resfd not an eventfd", submit1(&cb));
    cb.aio_resfd = 999;
    R("resfd bad", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, wo, buf, 4, 0);
    R("read on O_WRONLY", submit1(&cb));
    prep(&cb, IOCB_CMD_PWRITE, ro, "x", 1, 0);
    R("write on O_RDONLY", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, -1);
    R("negative offset", submit1(&cb));
    prep(&cb, IOCB_CMD_PWRITE, f, "abc", 3, 0x7ffffffffffffffeLL);
    R("offset overflow", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, f, (void *)0xffffffffffff0000UL, 4, 0);
    R("kernel buffer", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    cb.aio_rw_flags = 0x10000;
    R("unknown rw flag", submit1(&cb));
    cb.aio_rw_flags = RWF_APPEND | RWF_NOAPPEND;
    R("RWF_APPEND|RWF_NOAPPEND", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, dir, buf, 4, 0);
    R("read a directory", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, ep, buf, 4, 0);
    R("read an epoll fd", submit1(&cb));
    /* Only a file with read_iter (write_iter) is taken: aio_read's EINVAL otherwise */
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    MUST(pidfd);
    prep(&cb, IOCB_CMD_PREAD, pidfd, buf, 8, 0);
    R("read a pidfd", submit1(&cb));
    prep(&cb, IOCB_CMD_PWRITE, pidfd, buf, 8, 0);
    R("write a pidfd", submit1(&cb));
    close(pidfd);
    char qname[40];
    unsigned rnd;
    MUST(getrandom(&rnd, sizeof rnd, 0));
    snprintf(qname, sizeof qname, "/runsc-test-aio-%08x", rnd);  /* (the host's queues) */
    mqd_t q = mq_open(qname, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
    MUST(q);
    prep(&cb, IOCB_CMD_PREAD, q, buf, 64, 0);
    R("read a message queue (its status line has read only)", submit1(&cb));
    prep(&cb, IOCB_CMD_PWRITE, q, "x", 1, 0);
    R("write a message queue", submit1(&cb));
    mq_close(q);
    mq_unlink(qname);
    uint64_t one8 = 1;
    prep(&cb, IOCB_CMD_PWRITE, efd, &one8, 8, 0);
    R("write an eventfd (write only, no write_iter)", submit1(&cb));
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0), full = open("/dev/full", O_WRONLY);
    MUST(tfd);
    MUST(full);
    prep(&cb, IOCB_CMD_PWRITE, tfd, &one8, 8, 0);
    R("write a timerfd (no write)", submit1(&cb));
    prep(&cb, IOCB_CMD_PWRITE, full, "x", 1, 0);
    R("write /dev/full (write only)", submit1(&cb));
    close(tfd);
    close(full);
    int pst = open("/proc/self/status", O_RDONLY), pmi = open("/proc/self/mountinfo", O_RDONLY),
        ost = open("/proc/sys/kernel/ostype", O_RDONLY);
    MUST(pst);
    MUST(pmi);
    MUST(ost);
    prep(&cb, IOCB_CMD_PREAD, pst, buf, 64, 0);
    R("read /proc/self/status (seq_read only)", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, pmi, buf, 8, 0);
    one("read /proc/self/mountinfo (seq_read_iter)", &cb);
    prep(&cb, IOCB_CMD_PREAD, ost, buf, 64, 0);
    one("read /proc/sys/kernel/ostype (a sysctl)", &cb);
    close(pst);
    close(pmi);
    close(ost);
    prep(&cb, IOCB_CMD_PREADV, f, buf, 2000, 0);
    R("preadv 2000 segments", submit1(&cb));
    prep(&cb, IOCB_CMD_PREADV, f, (void *)8, 1, 0);
    R("preadv bad iovec", submit1(&cb));
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    prep(&cb2, IOCB_CMD_PREAD, 999, buf, 4, 0);
    R("good then bad", io_submit(ctx, 2, cbs));
    R("its event", io_getevents(ctx, 1, 16, ev, &zero));
    struct iocb *bad_first[2] = {&cb2, &cb};
    R("bad then good", io_submit(ctx, 2, bad_first));
    R("nothing queued", io_getevents(ctx, 0, 16, ev, &zero));

    /* -- reads and writes ---------------------------------------------------------- */
    prep(&cb, IOCB_CMD_PWRITE, f, "0123456789hello world", 21, 0);
    cb.aio_data = 0x1234;
    cb.aio_key = 77;
    one("pwrite", &cb);
    printf("aio_key after submit: %u\n", cb.aio_key);
    printf("event data: %#llx\n", (unsigned long long)ev[0].data);
    memset(buf, 0, sizeof buf);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 5, 16);
    one("pread", &cb);
    printf("pread data: %s\n", buf);
    struct iovec wv[2] = {{"abc", 3}, {"defg", 4}};
    prep(&cb, IOCB_CMD_PWRITEV, f, wv, 2, 30);
    one("pwritev", &cb);
    memset(buf, 0, sizeof buf);
    memset(buf2, 0, sizeof buf2);
    struct iovec rv[2] = {{buf, 2}, {buf2, 8}};
    prep(&cb, IOCB_CMD_PREADV, f, rv, 2, 30);
    one("preadv", &cb);
    printf("preadv data: %s %s\n", buf, buf2);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 8, 100);
    one("read past the end", &cb);
    prep(&cb, IOCB_CMD_PREAD, f, NULL, 8, 0);
    one("read into NULL", &cb);
    prep(&cb, IOCB_CMD_PWRITE, f, NULL, 8, 0);
    one("write from NULL", &cb);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 0, 0);
    one("read 0 bytes", &cb);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    cb.aio_rw_flags = RWF_NOWAIT;
    one("RWF_NOWAIT read", &cb);
    prep(&cb, IOCB_CMD_PWRITE, f, "AP", 2, 0);
    cb.aio_rw_flags = RWF_APPEND;
    one("RWF_APPEND write", &cb);
    int ap = open("data", O_WRONLY | O_APPEND);
    MUST(ap);
    prep(&cb, IOCB_CMD_PWRITE, ap, "ZZ", 2, 0);
    one("O_APPEND write at 0", &cb);
    struct stat st;
    MUST(fstat(f, &st));
    printf("size: %lld\n", (long long)st.st_size);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 37);
    one("read the tail", &cb);
    printf("tail: %.4s\n", buf);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 1, 0);
    cb.aio_flags = 0x4;
    one("unknown aio_flags", &cb);

    /* three at once: completed in order */
    prep(&cb, IOCB_CMD_PREAD, f, buf, 1, 0);
    prep(&cb2, IOCB_CMD_PREAD, f, buf2, 2, 0);
    prep(&cb3, IOCB_CMD_PREAD, ro, buf2 + 8, 3, 0);
    cb.aio_data = 1, cb2.aio_data = 2, cb3.aio_data = 3;
    R("submit 3", io_submit(ctx, 3, cbs));
    R("getevents min 4 of 3", io_getevents(ctx, 4, 3, ev, &zero));
    R("getevents min -1", io_getevents(ctx, -1, 3, ev, &zero));
    R("getevents bad ctx", io_getevents(12345, 0, 3, ev, &zero));
    R("getevents bad timeout", io_getevents(ctx, 0, 3, ev, (struct timespec *)8));
    R("getevents to a bad buffer", io_getevents(ctx, 1, 3, (struct io_event *)8, &zero));
    R("getevents 1 of 3", io_getevents(ctx, 1, 1, ev, NULL));
    printf("first: data %llu res %lld\n", (unsigned long long)ev[0].data, (long long)ev[0].res);
    R("getevents the rest", io_getevents(ctx, 0, 16, ev, &zero));
    printf("then: data %llu res %lld, data %llu res %lld\n", (unsigned long long)ev[0].data,
           (long long)ev[0].res, (unsigned long long)ev[1].data, (long long)ev[1].res);

    /* fsync */
    prep(&cb, IOCB_CMD_FSYNC, f, NULL, 0, 0);
    one("fsync", &cb);
    prep(&cb, IOCB_CMD_FDSYNC, ro, NULL, 0, 0);
    one("fdatasync on O_RDONLY", &cb);
    prep(&cb, IOCB_CMD_FSYNC, dir, NULL, 0, 0);
    one("fsync a directory", &cb);
    prep(&cb, IOCB_CMD_FSYNC, f, buf, 0, 0);
    R("fsync with a buffer", submit1(&cb));
    prep(&cb, IOCB_CMD_FSYNC, f, NULL, 0, 8);
    R("fsync with an offset", submit1(&cb));
    prep(&cb, IOCB_CMD_FSYNC, efd, NULL, 0, 0);
    R("fsync an eventfd", submit1(&cb));
    int p[2];
    MUST(pipe(p));
    prep(&cb, IOCB_CMD_FSYNC, p[0], NULL, 0, 0);
    R("fsync a pipe", submit1(&cb));
    int null = open("/dev/null", O_RDWR);
    MUST(null);
    prep(&cb, IOCB_CMD_FSYNC, null, NULL, 0, 0);
    R("fsync /dev/null", submit1(&cb));
    int status = open("/proc/self/status", O_RDONLY);
    MUST(status);
    prep(&cb, IOCB_CMD_FSYNC, status, NULL, 0, 0);
    R("fsync a procfs file (a regular file without fsync)", submit1(&cb));
    int memfd = memfd_create("aio", 0);
    MUST(memfd);
    prep(&cb, IOCB_CMD_FDSYNC, memfd, NULL, 0, 0);
    one("fdatasync a memfd", &cb);

    /* eventfd counts completions */
    prep(&cb, IOCB_CMD_PWRITE, f, "a", 1, 0);
    prep(&cb2, IOCB_CMD_PWRITE, f, "b", 1, 1);
    prep(&cb3, IOCB_CMD_PREAD, f, buf, 1, 0);
    cb.aio_flags = cb2.aio_flags = cb3.aio_flags = IOCB_FLAG_RESFD;
    cb.aio_resfd = cb2.aio_resfd = cb3.aio_resfd = efd;
    R("submit 3 with resfd", io_submit(ctx, 3, cbs));
    uint64_t count = 0;
    R("eventfd read", read(efd, &count, 8));
    printf("eventfd count: %llu\n", (unsigned long long)count);
    R("their events", io_getevents(ctx, 3, 3, ev, NULL));

    /* -- the ring ------------------------------------------------------------------------ */
    struct aio_ring *ring = (struct aio_ring *)ctx;
    prep(&cb, IOCB_CMD_PREAD, f, buf, 2, 0);
    prep(&cb2, IOCB_CMD_PREAD, f, buf, 3, 0);
    cb.aio_data = 41, cb2.aio_data = 42;
    R("submit 2", io_submit(ctx, 2, cbs));
    printf("ring: %u events\n", (ring->tail + ring->nr - ring->head) % ring->nr);
    struct io_event *e = &ring->io_events[ring->head];
    printf("ring event: data %llu res %lld obj ok %s\n", (unsigned long long)e->data,
           (long long)e->res, e->obj == (uintptr_t)&cb ? "yes" : "no");
    ring->head = (ring->head + 1) % ring->nr; /* reaped in user space */
    R("getevents after one reaped by hand", io_getevents(ctx, 0, 16, ev, &zero));
    printf("event: data %llu res %lld\n", (unsigned long long)ev[0].data, (long long)ev[0].res);
    T("head at tail", ring->head == ring->tail);
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    R("submit", submit1(&cb));
    ring->head = ring->tail; /* all reaped by hand */
    R("getevents when the ring is empty", io_getevents(ctx, 0, 16, ev, &zero));

    /* -- waiting ------------------------------------------------------------------------- */
    struct timespec t20 = {0, 20000000}, t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    R("getevents 20 ms", io_getevents(ctx, 1, 1, ev, &t20));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    T("waited", (t1.tv_sec - t0.tv_sec) * 1000000000L + t1.tv_nsec - t0.tv_nsec >= 15000000);
    struct timespec t3 = {3, 0};
    alarm_in(100);
    R("getevents ended by a signal", io_getevents(ctx, 1, 1, ev, &t3));
    set_handler(SIGALRM, on_alarm, SA_RESTART);
    alarm_in(100);
    R("getevents ended by a SA_RESTART signal", io_getevents(ctx, 1, 1, ev, &t3));
    set_handler(SIGALRM, on_alarm, 0);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    struct aio_sigset sig = {&all, 7};
    R("pgetevents sigsetsize 7", io_pgetevents(ctx, 1, 1, ev, &t3, &sig));
    sig.sigsetsize = 8;
    struct timespec t300 = {0, 300000000};
    alarms = 0;
    alarm_in(100);
    R("pgetevents, SIGALRM masked", io_pgetevents(ctx, 1, 1, ev, &t300, &sig));
    printf("alarms after: %d\n", alarms);
    sig.sigmask = &none;
    alarm_in(100);
    R("pgetevents, SIGALRM open", io_pgetevents(ctx, 1, 1, ev, &t3, &sig));
    R("pgetevents without a mask", io_pgetevents(ctx, 0, 1, ev, &zero, NULL));

    /* -- poll ---------------------------------------------------------------------------- */
    prep(&cb, IOCB_CMD_POLL, f, (void *)(POLLIN | POLLOUT | POLLPRI), 0, 0);
    one("poll a file", &cb);
    prep(&cb, IOCB_CMD_POLL, p[0], (void *)POLLIN, 0, 8);
    R("poll with an offset", submit1(&cb));
    prep(&cb, IOCB_CMD_POLL, p[0], (void *)0x10000, 0, 0);
    R("poll events over 16 bits", submit1(&cb));
    prep(&cb, IOCB_CMD_POLL, p[0], (void *)POLLIN, 0, 0);
    cb.aio_data = 7;
    R("poll an empty pipe", submit1(&cb));
    R("not yet", io_getevents(ctx, 0, 1, ev, &zero));
    MUST(write(p[1], "x", 1));
    R("after a write", io_getevents(ctx, 1, 1, ev, &t3));
    T("POLLIN", ev[0].res & POLLIN);
    MUST(read(p[0], buf, 1));
    R("poll the pipe again", submit1(&cb));
    R("cancel it", io_cancel(ctx, &cb, ev));
    R("its event", io_getevents(ctx, 1, 1, ev, &t3));
    show_res("cancelled poll", ev[0].res);
    R("cancel it again", io_cancel(ctx, &cb, ev));
    prep(&cb2, IOCB_CMD_PREAD, f, buf, 1, 0);
    one("a read", &cb2);
    R("cancel a done read", io_cancel(ctx, &cb2, ev));
    cb2.aio_key = 5;
    R("cancel, key not 0", io_cancel(ctx, &cb2, ev));
    R("cancel, bad iocb", io_cancel(ctx, (struct iocb *)8, ev));
    R("cancel, bad ctx", io_cancel(12345, &cb, ev));
    /* a poll done while the process waits, by a write of a child */
    prep(&cb, IOCB_CMD_POLL, p[0], (void *)POLLIN, 0, 0);
    cb.aio_flags = IOCB_FLAG_RESFD;
    cb.aio_resfd = efd;
    R("poll, resfd", submit1(&cb));
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        msleep(50);
        if (write(p[1], "y", 1) != 1)
            _exit(1);
        _exit(0);
    }
    R("woken by the child's write", io_getevents(ctx, 1, 1, ev, &t3));
    T("POLLIN", ev[0].res & POLLIN);
    show_wait("child", c);
    R("eventfd read", read(efd, &count, 8));
    printf("eventfd count: %llu\n", (unsigned long long)count);
    MUST(read(p[0], buf, 1));

    /* -- requests that block io_submit --------------------------------------------------- */
    prep(&cb, IOCB_CMD_PREAD, p[0], buf, 16, 5);
    alarm_in(100);
    R("read of an empty pipe, then a signal", submit1(&cb));
    R("its event", io_getevents(ctx, 1, 1, ev, &zero));
    show_res("read of an empty pipe", ev[0].res);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(50);
        if (write(p[1], "hello", 5) != 5)
            _exit(1);
        _exit(0);
    }
    memset(buf, 0, sizeof buf);
    R("read of an empty pipe, then a write", submit1(&cb));
    R("its event", io_getevents(ctx, 1, 1, ev, &zero));
    show_res("read of a pipe", ev[0].res);
    printf("read: %s\n", buf);
    show_wait("child", c);
    MUST(fcntl(p[1], F_SETPIPE_SZ, 4096));
    static char big[10000];
    prep(&cb, IOCB_CMD_PWRITE, p[1], big, sizeof big, 0);
    alarm_in(100);
    R("write to a full pipe, then a signal", submit1(&cb));
    R("its event", io_getevents(ctx, 1, 1, ev, &zero));
    show_res("write to a full pipe", ev[0].res);
    uint64_t three = 3;
    MUST(write(efd, &three, 8));
    prep(&cb, IOCB_CMD_PREAD, efd, &count, 8, 0);
    one("read an eventfd", &cb);
    printf("eventfd value: %llu\n", (unsigned long long)count);
    MUST(fcntl(p[0], F_SETFL, O_NONBLOCK));
    while (read(p[0], big, sizeof big) > 0)
        ;
    prep(&cb, IOCB_CMD_PREAD, p[0], buf, 4, 0);
    one("read of an empty O_NONBLOCK pipe", &cb);
    MUST(close(p[0]));
    signal(SIGPIPE, SIG_IGN);
    prep(&cb, IOCB_CMD_PWRITE, p[1], "x", 1, 0);
    one("write to a pipe without readers", &cb);

    /* -- fork, unmap, destroy ----------------------------------------------------------- */
    c = fork();
    MUST(c);
    if (c == 0) {
        prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
        R("child: submit to the parent's context", submit1(&cb));
        R("child: getevents", io_getevents(ctx, 0, 1, ev, &zero));
        R("child: destroy", io_destroy(ctx));
        T("child: the ring is still mapped", ring->magic == 0xa10a10a1);
        aio_context_t own = 0;
        R("child: a context of its own", io_setup(1, &own));
        show_ring("child ring", own);
        R("child: destroy it", io_destroy(own));
        _exit(0);
    }
    show_wait("child", c);
    R("munmap ring 2", munmap((void *)ctx2, 4096));
    prep(&cb, IOCB_CMD_PREAD, f, buf, 4, 0);
    R("submit to the unmapped ring", io_submit(ctx2, 1, cbs));
    R("destroy the unmapped ring", io_destroy(ctx2));
    pthread_t th;
    MUST(-pthread_create(&th, NULL, waiter, &ctx));
    msleep(50);
    R("destroy", io_destroy(ctx));
    void *wr = NULL;
    pthread_join(th, &wr);
    long w = (long)wr;
    printf("waiter: %s\n", w < 0 ? en((int)-w) : "events");
    R("destroy again", io_destroy(ctx));
    R("submit after destroy", io_submit(ctx, 1, cbs));
    R("getevents after destroy", io_getevents(ctx, 0, 1, ev, &zero));
    R("msync of the ring", msync((void *)ctx, 4096, MS_ASYNC));
    aio_context_t ctx3 = 0;
    R("setup again", io_setup(1, &ctx3));
    show_ring("ring 3", ctx3);
    R("destroy it", io_destroy(ctx3));
    show_maps("maps at the end");
    return 0;
}
