/* io_uring.c -- io_uring through raw syscalls (no liburing): io_uring_setup's checks
 * (entries, CLAMP, CQSIZE, reserved fields, unknown flags), the ring layout it reports
 * (io_sqring_offsets/io_cqring_offsets, ring masks and sizes), the mappings (SQ ring at
 * IORING_OFF_SQ_RING, the same pages at IORING_OFF_CQ_RING, SQEs at IORING_OFF_SQES, an
 * unknown offset, the maps name), NOP, READ/WRITE/READV/WRITEV at offsets of a file and at
 * the file position (offset -1), of pipes (waiting for them), FSYNC, FALLOCATE, FADVISE, MADVISE, STATX,
 * OPENAT, CLOSE, SYNC_FILE_RANGE, SETXATTR/GETXATTR, an unknown opcode, IOSQE_FIXED_FILE without
 * registered files, a linked chain cut by a failure, IORING_REGISTER_PROBE, a wait for
 * min_complete that a signal ends, a full CQ ring (the overflow kept, as NODROP), a forked
 * child using its parent's ring, and io_uring_enter on a file that is not a ring. */
#include "check.h"
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/stat.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#define FEATS (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE | \
               IORING_FEAT_RW_CUR_POS | IORING_FEAT_CUR_PERSONALITY)

static long setup(unsigned entries, struct io_uring_params *p)
{
    return syscall(SYS_io_uring_setup, entries, p);
}
static long enter(int fd, unsigned submit, unsigned min, unsigned flags, void *sig, size_t sz)
{
    return syscall(SYS_io_uring_enter, fd, submit, min, flags, sig, sz);
}
static long reg(int fd, unsigned op, void *arg, unsigned nr)
{
    return syscall(SYS_io_uring_register, fd, op, arg, nr);
}

struct ring {
    int fd;
    struct io_uring_params p;
    unsigned char *sq, *cq;
    struct io_uring_sqe *sqes;
    size_t sz;
};

static struct ring R;

#define U32(base, off) (*(volatile unsigned *)((base) + (off)))

static void ring_open(struct ring *r, unsigned entries, unsigned flags, unsigned cq)
{
    memset(&r->p, 0, sizeof r->p);
    r->p.flags = flags;
    r->p.cq_entries = cq;
    MUST(r->fd = setup(entries, &r->p));
    size_t sq_sz = r->p.sq_off.array + r->p.sq_entries * 4;
    size_t cq_sz = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct io_uring_cqe);
    r->sz = sq_sz > cq_sz ? sq_sz : cq_sz;
    r->sq = mmap(NULL, r->sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                 IORING_OFF_SQ_RING);
    MUST(r->sq == MAP_FAILED ? -1 : 0);
    r->cq = r->sq;
    r->sqes = mmap(NULL, r->p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    MUST(r->sqes == MAP_FAILED ? -1 : 0);
}

static void ring_close(struct ring *r)
{
    munmap(r->sqes, r->p.sq_entries * sizeof(struct io_uring_sqe));
    munmap(r->sq, r->sz);
    close(r->fd);
}

/* the next SQE, zeroed, placed in the array (not yet published) */
static struct io_uring_sqe *get_sqe(struct ring *r, unsigned *tail)
{
    unsigned mask = U32(r->sq, r->p.sq_off.ring_mask);
    unsigned idx = *tail & mask;
    struct io_uring_sqe *s = &r->sqes[idx];
    memset(s, 0, sizeof *s);
    ((unsigned *)(r->sq + r->p.sq_off.array))[idx] = idx;
    (*tail)++;
    return s;
}

/* a request, the rest zero: opcode, fd, buffer and length, offset, user_data */
static struct io_uring_sqe sqe_of(int op, int fd, const void *addr, unsigned len,
                                  unsigned long long off, unsigned long long ud)
{
    struct io_uring_sqe s;
    memset(&s, 0, sizeof s);
    s.opcode = op;
    s.fd = fd;
    s.addr = (uintptr_t)addr;
    s.len = len;
    s.off = off;
    s.user_data = ud;
    return s;
}

static void publish(struct ring *r, unsigned tail)
{
    __atomic_store_n((unsigned *)(r->sq + r->p.sq_off.tail), tail, __ATOMIC_RELEASE);
}

static unsigned sq_tail(struct ring *r) { return U32(r->sq, r->p.sq_off.tail); }

static void show_res(const char *label, int res)
{
    if (res < 0)
        printf("%s: res -%s\n", label, en(-res));
    else
        printf("%s: res %d\n", label, res);
}

/* every CQE in the ring, printed and reaped */
static int reap(struct ring *r, const char *label)
{
    unsigned head = U32(r->cq, r->p.cq_off.head);
    unsigned tail = __atomic_load_n((unsigned *)(r->cq + r->p.cq_off.tail), __ATOMIC_ACQUIRE);
    unsigned mask = U32(r->cq, r->p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(r->cq + r->p.cq_off.cqes);
    int n = 0;
    char l[128];
    for (; head != tail; head++, n++) {
        struct io_uring_cqe *c = &cqes[head & mask];
        snprintf(l, sizeof l, "%s cqe %d data %llu flags %u", label, n,
                 (unsigned long long)c->user_data, c->flags);
        show_res(l, c->res);
    }
    __atomic_store_n((unsigned *)(r->cq + r->p.cq_off.head), head, __ATOMIC_RELEASE);
    return n;
}

/* submit the SQEs prepared up to tail, wait for all, print them */
static void run(struct ring *r, const char *label, unsigned tail, unsigned n)
{
    publish(r, tail);
    errno = 0;
    long k = enter(r->fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0);
    if (k < 0)
        printf("%s: enter -1 %s\n", label, en(errno));
    else
        printf("%s: enter %ld\n", label, k);
    reap(r, label);
}

static void one(const char *label, struct io_uring_sqe *tmpl)
{
    unsigned tail = sq_tail(&R);
    struct io_uring_sqe *s = get_sqe(&R, &tail);
    *s = *tmpl;
    run(&R, label, tail, 1);
}

static void setup_checks(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    R("setup 0", setup(0, &p));
    memset(&p, 0, sizeof p);
    R("setup 32769", setup(32769, &p));
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CLAMP;
    long fd = setup(40000, &p);
    R("setup clamp", fd < 0 ? fd : 0);
    printf("clamp sq %u cq %u\n", p.sq_entries, p.cq_entries);
    if (fd >= 0)
        close(fd);
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 2;
    R("cqsize below sq", setup(4, &p));
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE;
    R("cqsize 0", setup(4, &p));
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 100;
    fd = setup(3, &p);
    R("cqsize 100", fd < 0 ? fd : 0);
    printf("cqsize sq %u cq %u\n", p.sq_entries, p.cq_entries);
    if (fd >= 0)
        close(fd);
    memset(&p, 0, sizeof p);
    p.resv[1] = 1;
    R("resv", setup(4, &p));
    memset(&p, 0, sizeof p);
    p.sq_thread_idle = 5;
    fd = setup(4, &p);
    R("sq_thread_idle without sqpoll", fd < 0 ? fd : 0);
    if (fd >= 0)
        close(fd);
    memset(&p, 0, sizeof p);
    p.flags = 1u << 30;
    R("unknown flag", setup(4, &p));
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_TASKRUN_FLAG;
    R("taskrun flag alone", setup(4, &p));
    R("params NULL", setup(4, NULL));
    memset(&p, 0, sizeof p);
    fd = setup(5, &p);
    R("setup 5", fd < 0 ? fd : 0);
    printf("entries sq %u cq %u features %#x\n", p.sq_entries, p.cq_entries, p.features & FEATS);
    printf("sq_off head %u tail %u mask %u entries %u flags %u dropped %u array %u resv1 %u "
           "resv2 %llu\n", p.sq_off.head, p.sq_off.tail, p.sq_off.ring_mask,
           p.sq_off.ring_entries, p.sq_off.flags, p.sq_off.dropped, p.sq_off.array,
           p.sq_off.resv1, (unsigned long long)p.sq_off.resv2);
    printf("cq_off head %u tail %u mask %u entries %u overflow %u cqes %u flags %u resv1 %u "
           "resv2 %llu\n", p.cq_off.head, p.cq_off.tail, p.cq_off.ring_mask,
           p.cq_off.ring_entries, p.cq_off.overflow, p.cq_off.cqes, p.cq_off.flags,
           p.cq_off.resv1, (unsigned long long)p.cq_off.resv2);
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
        printf("fd flags %#x cloexec %d\n", fl & O_ACCMODE, fdfl & FD_CLOEXEC);
        char link[64] = {0}, path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
        R("readlink", readlink(path, link, sizeof link - 1));
        printf("link %s\n", link);
        R("read ring fd", read(fd, link, 8));
        R("lseek ring fd", lseek(fd, 0, SEEK_SET));
        /* a mapping at an offset that is no region, and one longer than the SQEs */
        void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0x18000000);
        R("mmap no region", m == MAP_FAILED ? -1 : 0);
        m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
        R("mmap exec", m == MAP_FAILED ? -1 : 0);
        close(fd);
    }
}

static void layout_checks(void)
{
    printf("ring mask sq %u cq %u entries sq %u cq %u\n", U32(R.sq, R.p.sq_off.ring_mask),
           U32(R.cq, R.p.cq_off.ring_mask), U32(R.sq, R.p.sq_off.ring_entries),
           U32(R.cq, R.p.cq_off.ring_entries));
    printf("heads sq %u %u cq %u %u flags %u dropped %u overflow %u\n", U32(R.sq, R.p.sq_off.head),
           U32(R.sq, R.p.sq_off.tail), U32(R.cq, R.p.cq_off.head), U32(R.cq, R.p.cq_off.tail),
           U32(R.sq, R.p.sq_off.flags), U32(R.sq, R.p.sq_off.dropped),
           U32(R.cq, R.p.cq_off.overflow));
    /* the CQ ring mapped on its own shows the same pages */
    unsigned char *cq = mmap(NULL, R.sz, PROT_READ, MAP_SHARED, R.fd, IORING_OFF_CQ_RING);
    R("mmap cq ring", cq == MAP_FAILED ? -1 : 0);
    if (cq != MAP_FAILED) {
        T("cq ring same entries", U32(cq, R.p.cq_off.ring_entries) == R.p.cq_entries);
        munmap(cq, R.sz);
    }
    char line[512];
    FILE *m = fopen("/proc/self/maps", "r");
    int n = 0;
    while (m && fgets(line, sizeof line, m))
        if (strstr(line, "io_uring")) {
            char *name = strrchr(line, ' ');
            printf("maps %d %.4s %s", n++, strchr(line, ' ') + 1, name ? name + 1 : "?\n");
        }
    if (m)
        fclose(m);
}

static void io_checks(int fd)
{
    struct io_uring_sqe s;
    char buf[64], a[8] = "AAAAAAA", b[8] = "bbbbbbb";
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_NOP;
    s.user_data = 7;
    one("nop", &s);

    s = sqe_of(IORING_OP_WRITE, fd, "hello, ring", 11, 100, 1);
    one("write at 100", &s);
    printf("file size %ld\n", (long)lseek(fd, 0, SEEK_END));
    lseek(fd, 0, SEEK_SET);

    memset(buf, 0, sizeof buf);
    s = sqe_of(IORING_OP_READ, fd, buf, 20, 100, 2);
    one("read at 100", &s);
    printf("read data %s\n", buf);

    struct iovec iov[2] = {{a, 3}, {b, 4}};
    s = sqe_of(IORING_OP_WRITEV, fd, iov, 2, 4, 3);
    one("writev at 4", &s);

    char x[4] = {0}, y[8] = {0};
    struct iovec riov[2] = {{x, 3}, {y, 6}};
    s = sqe_of(IORING_OP_READV, fd, riov, 2, 4, 4);
    one("readv at 4", &s);
    printf("readv data %.3s|%.6s\n", x, y);

    /* offset -1: the file position, which moves */
    lseek(fd, 2, SEEK_SET);
    s = sqe_of(IORING_OP_WRITE, fd, "ZZ", 2, -1ULL, 5);
    one("write at pos", &s);
    printf("pos after %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    s = sqe_of(IORING_OP_READ, fd, buf, 5, -1ULL, 0);
    one("read at pos", &s);
    printf("pos after %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* at the file position, its range is checked as read(2)'s (rw_verify_area): a
     * memfd may lseek near the largest offset */
    {
        int m = memfd_create("near", 0);
        MUST(m);
        MUST(write(m, "abc", 3));
        MUST(lseek(m, 0x7ffffffffffffffaL, SEEK_SET));
        s = sqe_of(IORING_OP_READ, m, buf, 10, -1ULL, 0);
        one("read at a position near the largest offset", &s);
        s = sqe_of(IORING_OP_WRITE, m, "0123456789", 10, -1ULL, 0);
        one("write at a position near the largest offset", &s);
        struct iovec far[1] = {{buf, 10}};
        s = sqe_of(IORING_OP_READV, m, far, 1, -1ULL, 0);
        one("readv at a position near the largest offset", &s);
        printf("memfd position after %ld\n", (long)lseek(m, 0, SEEK_CUR));
        close(m);
        /* a pipe has no position, but an offset given is checked (rw_verify_area) */
        int pp[2];
        MUST(pipe(pp));
        MUST(write(pp[1], "pipe", 4));
        s = sqe_of(IORING_OP_READ, pp[0], buf, 4, 1ULL << 63, 0);
        one("read of a pipe at offset 2^63", &s);
        s = sqe_of(IORING_OP_READ, pp[0], buf, 4, 0x7ffffffffffffffeULL, 0);
        one("read of a pipe at an offset near the largest", &s);
        s = sqe_of(IORING_OP_READ, pp[0], buf, 4, 12345, 0);
        one("read of a pipe at offset 12345", &s);
        close(pp[0]);
        close(pp[1]);
    }

    s = sqe_of(IORING_OP_READ, 999, buf, 5, 0, 0);
    one("read bad fd", &s);
    s = sqe_of(IORING_OP_READ, fd, (void *)16, 5, 0, 0);
    one("read efault", &s);

    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_FSYNC;
    s.fd = fd;
    one("fsync", &s);
    s.fsync_flags = IORING_FSYNC_DATASYNC;
    one("fdatasync", &s);
    s.fsync_flags = 8;
    one("fsync bad flags", &s);
    {
        int pp[2];
        MUST(pipe(pp));
        memset(&s, 0, sizeof s);
        s.opcode = IORING_OP_FSYNC;
        s.fd = pp[1];
        one("fsync a pipe", &s);
        close(pp[0]);
        close(pp[1]);
        int st = open("/proc/self/status", O_RDONLY);
        MUST(st);
        s.fd = st;
        one("fsync a procfs file", &s);
        close(st);
        /* a file without read_iter/write_iter is read or written through its read/write */
        int dir = open(".", O_RDONLY | O_DIRECTORY), efd = eventfd(2, EFD_NONBLOCK);
        MUST(dir);
        MUST(efd);
        uint64_t v = 5;
        s = sqe_of(IORING_OP_READ, dir, buf, 16, 0, 0);
        one("read a directory", &s);
        s = sqe_of(IORING_OP_WRITE, efd, &v, 8, 0, 0);
        one("write an eventfd (write only)", &s);
        s = sqe_of(IORING_OP_READ, efd, &v, 8, 0, 0);
        one("read an eventfd", &s);
        printf("eventfd value: %llu\n", (unsigned long long)v);
        close(dir);
        close(efd);
    }

    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_FALLOCATE;
    s.fd = fd;
    s.off = 0;
    s.addr = 8192; /* length */
    s.len = 0;     /* mode */
    one("fallocate", &s);
    printf("file size %ld\n", (long)lseek(fd, 0, SEEK_END));
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_FADVISE;
    s.fd = fd;
    s.len = 4096;
    s.fadvise_advice = POSIX_FADV_NORMAL;
    one("fadvise", &s);
    s.fadvise_advice = 77;
    one("fadvise bad", &s);

    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_SYNC_FILE_RANGE;
    s.fd = fd;
    s.off = 0;
    s.len = 4096;
    s.sync_range_flags = 2;
    one("sync_file_range", &s);

    struct statx stx;
    memset(&stx, 0, sizeof stx);
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_STATX;
    s.fd = AT_FDCWD;
    s.addr = (uintptr_t)"f";
    s.addr2 = (uintptr_t)&stx;
    s.len = STATX_SIZE;
    one("statx", &s);
    printf("statx size %llu mode %o\n", (unsigned long long)stx.stx_size, stx.stx_mode);
    s.addr = (uintptr_t)"nope";
    one("statx missing", &s);

    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_OPENAT;
    s.fd = AT_FDCWD;
    s.addr = (uintptr_t)"g";
    s.open_flags = O_CREAT | O_RDWR;
    s.len = 0600;
    unsigned tail = sq_tail(&R);
    *get_sqe(&R, &tail) = s;
    publish(&R, tail);
    MUST(enter(R.fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0));
    unsigned head = U32(R.cq, R.p.cq_off.head);
    struct io_uring_cqe *c =
        &((struct io_uring_cqe *)(R.cq + R.p.cq_off.cqes))[head & (R.p.cq_entries - 1)];
    int nfd = c->res;
    U32(R.cq, R.p.cq_off.head) = head + 1;
    printf("openat: %s\n", nfd >= 0 ? "fd" : en(-nfd));
    if (nfd >= 0) {
        printf("openat cloexec %d\n", fcntl(nfd, F_GETFD) & FD_CLOEXEC);
        struct stat st;
        R("openat fstat", fstat(nfd, &st));
        memset(&s, 0, sizeof s);
        s.opcode = IORING_OP_CLOSE;
        s.fd = nfd;
        one("close", &s);
        R("closed fd", fcntl(nfd, F_GETFD));
    }
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_CLOSE;
    s.fd = R.fd;
    one("close ring fd", &s);
    s.fd = 999;
    one("close bad fd", &s);

    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_SETXATTR;
    s.addr = (uintptr_t)"user.ring";
    s.off = (uintptr_t)"v1";
    s.len = 2;
    s.addr3 = (uintptr_t)"f";
    s.xattr_flags = XATTR_CREATE;
    one("setxattr", &s);
    one("setxattr again", &s);
    memset(buf, 0, sizeof buf);
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_GETXATTR;
    s.addr = (uintptr_t)"user.ring";
    s.off = (uintptr_t)buf;
    s.len = sizeof buf;
    s.addr3 = (uintptr_t)"f";
    one("getxattr", &s);
    printf("getxattr value %s\n", buf);
    s.addr = (uintptr_t)"user.none";
    one("getxattr missing", &s);

    /* madvise's hints: a mapped page, an unaligned address, a hole */
    char *pg = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(pg == MAP_FAILED ? -1 : 0);
    munmap(pg + 4096, 4096);
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_MADVISE;
    s.addr = (uintptr_t)pg;
    s.len = 4096;
    s.fadvise_advice = MADV_NORMAL;
    one("madvise", &s);
    s.fadvise_advice = MADV_WILLNEED;
    s.addr = (uintptr_t)pg + 8192;
    one("madvise willneed", &s);
    s.addr = (uintptr_t)pg + 1;
    one("madvise unaligned", &s);
    s.addr = (uintptr_t)pg;
    s.len = 3 * 4096;
    one("madvise over a hole", &s);
    munmap(pg, 3 * 4096);
    /* a large reservation nothing can read (PROT_NONE): mapped all the same */
    char *big = mmap(NULL, 1UL << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    MUST(big == MAP_FAILED ? -1 : 0);
    s.addr = (uintptr_t)big;
    s.len = 1U << 30;
    s.fadvise_advice = MADV_RANDOM;
    one("madvise of 1 GiB PROT_NONE", &s);
    munmap(big, 1UL << 30);

    /* pipes: a read of what is there, a write (an empty one's read would wait, even
     * O_NONBLOCK: 6.18 arms a poll and completes it when data comes) */
    int pfd[2];
    MUST(pipe2(pfd, O_NONBLOCK));
    MUST(write(pfd[1], "pipe", 4));
    memset(buf, 0, sizeof buf);
    s = sqe_of(IORING_OP_READ, pfd[0], buf, 16, 0, 0);
    one("read pipe", &s);
    printf("pipe data %s\n", buf);
    s.opcode = IORING_OP_WRITE;
    s.fd = pfd[1];
    s.addr = (uintptr_t)"xy";
    s.len = 2;
    one("write pipe", &s);
    close(pfd[0]);
    close(pfd[1]);

    /* an opcode past the last: EINVAL, and the submission stops there */
    memset(&s, 0, sizeof s);
    s.opcode = 250;
    s.user_data = 9;
    one("unknown opcode", &s);
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_NOP;
    s.flags = 1u << 7; /* no such IOSQE flag */
    one("unknown sqe flag", &s);
    memset(&s, 0, sizeof s);
    s.opcode = IORING_OP_READ;
    s.fd = 0;
    s.flags = IOSQE_FIXED_FILE;
    s.addr = (uintptr_t)buf;
    s.len = 1;
    one("fixed file unregistered", &s);
}

/* queue a request: opcode, fd, buffer and length, offset, flags, user_data */
static struct io_uring_sqe *prep(struct ring *r, unsigned *tail, int op, int fd, void *addr,
                                 unsigned len, unsigned long long off, unsigned flags,
                                 unsigned long long ud)
{
    struct io_uring_sqe *s = get_sqe(r, tail);
    *s = sqe_of(op, fd, addr, len, off, ud);
    s->flags = flags;
    return s;
}

static void chain_checks(int fd)
{
    char buf[16];
    unsigned tail = sq_tail(&R);
    prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, IOSQE_IO_LINK, 11);
    prep(&R, &tail, IORING_OP_READ, 999, buf, 4, 0, IOSQE_IO_LINK, 12);
    prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, IOSQE_IO_LINK, 13);
    prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, 0, 14);
    prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, 0, 15);
    run(&R, "chain", tail, 5);

    /* a hard link goes on after a failure */
    tail = sq_tail(&R);
    prep(&R, &tail, IORING_OP_READ, 999, buf, 4, 0, IOSQE_IO_HARDLINK, 21);
    prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, 0, 22);
    run(&R, "hardlink", tail, 2);

    /* a short read breaks a soft link */
    tail = sq_tail(&R);
    prep(&R, &tail, IORING_OP_READ, fd, buf, 16, 8190, IOSQE_IO_LINK, 31);
    prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, 0, 32);
    run(&R, "short read link", tail, 2);

    /* submit fewer than prepared: the rest wait */
    tail = sq_tail(&R);
    for (int i = 0; i < 3; i++)
        prep(&R, &tail, IORING_OP_NOP, 0, NULL, 0, 0, 0, 50 + i);
    publish(&R, tail);
    R("submit 2 of 3", enter(R.fd, 2, 0, 0, NULL, 0));
    printf("sq head %u tail %u\n", U32(R.sq, R.p.sq_off.head), U32(R.sq, R.p.sq_off.tail));
    R("submit rest", enter(R.fd, 5, 0, 0, NULL, 0));
    reap(&R, "partial");
    R("submit nothing", enter(R.fd, 0, 0, 0, NULL, 0));
    /* a bad index in the array: dropped */
    tail = sq_tail(&R);
    get_sqe(&R, &tail)->opcode = IORING_OP_NOP;
    ((unsigned *)(R.sq + R.p.sq_off.array))[(tail - 1) & (R.p.sq_entries - 1)] = 1000;
    publish(&R, tail);
    R("bad index", enter(R.fd, 1, 0, 0, NULL, 0));
    printf("dropped %u\n", U32(R.sq, R.p.sq_off.dropped));
    reap(&R, "bad index");
}

/* drain and async (on a ring of their own: Linux defers what follows a drain) */
static void drain_checks(void)
{
    struct ring d;
    ring_open(&d, 2, 0, 0);
    unsigned tail = sq_tail(&d);
    struct io_uring_sqe *s = get_sqe(&d, &tail);
    s->opcode = IORING_OP_NOP;
    s->flags = IOSQE_IO_DRAIN | IOSQE_ASYNC;
    s->user_data = 41;
    run(&d, "drain async", tail, 1);
    ring_close(&d);
}

/* requests on a pipe that is not ready wait for it (an armed poll): the enter goes on */
static void poll_checks(void)
{
    for (int nb = 0; nb < 2; nb++) {
        int p[2];
        char buf[8] = {0};
        MUST(pipe2(p, nb ? O_NONBLOCK : 0));
        unsigned tail = sq_tail(&R);
        struct io_uring_sqe *s = get_sqe(&R, &tail);
        s->opcode = IORING_OP_READ;
        s->fd = p[0];
        s->addr = (uintptr_t)buf;
        s->len = 4;
        s->user_data = 71;
        s->flags = IOSQE_IO_LINK;
        s = get_sqe(&R, &tail);
        s->opcode = IORING_OP_NOP;
        s->user_data = 72;
        s = get_sqe(&R, &tail);
        s->opcode = IORING_OP_NOP;
        s->user_data = 73;
        publish(&R, tail);
        R(nb ? "nonblocking pipe submit" : "pipe submit", enter(R.fd, 3, 0, 0, NULL, 0));
        reap(&R, "before the write");
        /* the pipe's read end closed meanwhile: the request holds its file */
        int rfd = p[0];
        MUST(dup2(p[1], 100));
        close(rfd);
        MUST(write(p[1], "late", 4));
        R("wait", enter(R.fd, 0, 2, IORING_ENTER_GETEVENTS, NULL, 0));
        reap(&R, "after the write");
        printf("polled data %s\n", buf);
        close(p[1]);
        close(100);
    }
    /* end of file: done at once */
    int p[2];
    char buf[8];
    MUST(pipe(p));
    close(p[1]);
    struct io_uring_sqe s;
    s = sqe_of(IORING_OP_READ, p[0], buf, 4, 0, 0);
    one("read at eof", &s);
    close(p[0]);
}

static void on_alarm(int sig) { (void)sig; }

static void wait_checks(void)
{
    struct itimerval it = {{0, 0}, {0, 100000}};
    set_handler(SIGALRM, on_alarm, 0);
    MUST(setitimer(ITIMER_REAL, &it, NULL));
    R("wait interrupted", enter(R.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0));
    /* a blocked SIGALRM through the enter's mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    MUST(setitimer(ITIMER_REAL, &it, NULL));
    R("wait masked sigsz bad", enter(R.fd, 0, 1, IORING_ENTER_GETEVENTS, &set, 4));
    mask_signal(SIG_BLOCK, SIGALRM);
    sigemptyset(&set);
    R("wait unmasked by sig", enter(R.fd, 0, 1, IORING_ENTER_GETEVENTS, &set, 8));
    mask_signal(SIG_UNBLOCK, SIGALRM);
    /* a child completes NOPs on the shared ring while the parent waits */
    pid_t pid = fork();
    if (pid == 0) {
        msleep(50);
        unsigned tail = sq_tail(&R);
        for (int i = 0; i < 2; i++) {
            struct io_uring_sqe *s = get_sqe(&R, &tail);
            s->opcode = IORING_OP_NOP;
            s->user_data = 60 + i;
        }
        publish(&R, tail);
        _exit(enter(R.fd, 2, 0, 0, NULL, 0) == 2 ? 0 : 1);
    }
    R("wait for child's", enter(R.fd, 0, 2, IORING_ENTER_GETEVENTS, NULL, 0));
    show_wait("child", pid);
    reap(&R, "child");
    R("enter bad flags", enter(R.fd, 0, 0, 1u << 20, NULL, 0));
    R("enter not a ring", enter(1, 0, 0, 0, NULL, 0));
    R("enter bad fd", enter(999, 0, 0, 0, NULL, 0));
}

static void overflow_checks(void)
{
    struct ring o;
    ring_open(&o, 2, 0, 0); /* 2 SQEs, 4 CQEs */
    unsigned tail = sq_tail(&o);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2; i++) {
            struct io_uring_sqe *s = get_sqe(&o, &tail);
            s->opcode = IORING_OP_NOP;
            s->user_data = 100 + round * 2 + i;
        }
        publish(&o, tail);
        R("overflow submit", enter(o.fd, 2, 0, 0, NULL, 0));
    }
    printf("overflow sq flags %u overflow %u cq tail %u\n",
           U32(o.sq, o.p.sq_off.flags) & IORING_SQ_CQ_OVERFLOW, U32(o.cq, o.p.cq_off.overflow),
           U32(o.cq, o.p.cq_off.tail));
    reap(&o, "overflow first");
    R("overflow flush", enter(o.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0));
    printf("overflow sq flags %u\n", U32(o.sq, o.p.sq_off.flags) & IORING_SQ_CQ_OVERFLOW);
    reap(&o, "overflow rest");
    ring_close(&o);
}

static void probe_checks(void)
{
    static const int ops[] = {IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
                              IORING_OP_SYNC_FILE_RANGE, IORING_OP_FALLOCATE, IORING_OP_OPENAT,
                              IORING_OP_CLOSE, IORING_OP_STATX, IORING_OP_READ, IORING_OP_WRITE,
                              IORING_OP_FADVISE, IORING_OP_MADVISE, IORING_OP_SETXATTR,
                              IORING_OP_GETXATTR};
    size_t sz = sizeof(struct io_uring_probe) + 300 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *p = calloc(1, sz);
    R("probe", reg(R.fd, IORING_REGISTER_PROBE, p, 256));
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        printf("probe op %d: %d\n", ops[i], p->ops[ops[i]].flags & IO_URING_OP_SUPPORTED);
    printf("probe op 250: %d\n", p->ops[250].flags & IO_URING_OP_SUPPORTED);
    R("probe again (not zeroed)", reg(R.fd, IORING_REGISTER_PROBE, p, 256));
    memset(p, 0, sz);
    R("probe 300", reg(R.fd, IORING_REGISTER_PROBE, p, 300));
    R("probe 256 (clamped)", reg(R.fd, IORING_REGISTER_PROBE, p, 256));
    R("probe NULL", reg(R.fd, IORING_REGISTER_PROBE, NULL, 4));
    R("register unknown", reg(R.fd, 200, NULL, 0));
    R("register not a ring", reg(1, IORING_REGISTER_PROBE, p, 4));
    free(p);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    setup_checks();
    ring_open(&R, 8, 0, 0);
    layout_checks();
    int fd;
    MUST(fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644));
    io_checks(fd);
    chain_checks(fd);
    poll_checks();
    wait_checks();
    overflow_checks();
    drain_checks();
    probe_checks();
    ring_close(&R);
    close(fd);
    printf("done\n");
    return 0;
}
