/* fuzz.c SEED CALLS THREADS [CANARY_DIR [NO_ENOSYS_LIST]]
 *
 * The sandbox's syscall surface under fire (design §7: the workload is hostile; the
 * sentry never crashes, never hangs, answers every call as Linux could).
 *
 * THREADS threads each loop: pick any syscall number (0..462, the holes between, a
 * few past the end), build arguments from pools (fds of every kind, valid buffers,
 * unmapped and read-only memory, the last bytes before a guard page, the sandbox's
 * stub, the vDSO, our own text, kernel and non-canonical addresses, unaligned
 * pointers, huge and negative lengths, structures full of fds and pointers), run it
 * and check the answer: a value, or -errno with errno 1..133, plus what the call's
 * contract says (an fd below 2^20, a count no larger than asked, 0 for calls that
 * return 0, ...).  Meanwhile a scribbler thread rewrites the shared argument
 * memory and flips a page's protection (memory changing under the call), and the
 * worker's main thread is a watchdog: it rebuilds the fd pool (racing the calls
 * that use it) and interrupts any call that blocks longer than a few ms with a
 * signal (no SA_RESTART, so a parked call must end with EINTR or a value).
 *
 * Calls that would hurt the fuzzer itself (its memory map, signal handlers, masks,
 * credentials, cwd/root, limits; exit, exec, fork, clone, rt_sigreturn) run in
 * short-lived forked children, a batch of random calls each, killed after a
 * timeout; some batches first sabotage the sandbox's stub page (unmap it, make it
 * inaccessible, or map a spinning loop over it) before asking for things the
 * sentry does with it.  futex is left out: the host runs it (the sentry never sees
 * it) and a wait without timeout is restarted by the host's SA_RESTART.
 *
 * Process tree: pid 1 is the monitor; it forks a worker, restarts it if something
 * a call did killed it (counted), stops when CALLS calls are done.  Results
 * are counted in shared memory.  Exit status: 0 and a summary; 1 and "IMPOSSIBLE
 * ..." for an answer Linux could not give; 2 and "HANG ..." when a call or the
 * whole worker stops making progress for 20 s.  A number in NO_ENOSYS_LIST
 * (comma-separated: what the sandbox implements) answering ENOSYS is counted and
 * listed, not fatal.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NR_MAX 1024          /* counters for numbers 0..1023; others share slot 1023 */
#define MAX_THREADS 16
#define STUB 0x7e0000001000ULL
#define ARENA (64 << 10)
#define NPOOL 48
#define POOL_BASE 100
#define WATCH_SIGNAL SIGUSR2

/* ------------------------------------------------------------ shared state */

struct slot {                 /* one fuzz thread's current call, for hang reports */
    _Atomic uint64_t seq;     /* odd while in a call */
    _Atomic uint64_t start_ns;
    _Atomic long nr;
    _Atomic uint64_t a[6];
    _Atomic int tid;
    _Atomic int child;        /* a child batch being waited for, and since when */
    _Atomic uint64_t child_start;
};

struct shared {
    _Atomic uint64_t calls, child_batches, child_calls, worker_restarts, interrupts;
    _Atomic uint64_t per_nr[NR_MAX], ok_nr[NR_MAX], enosys_nr[NR_MAX];
    _Atomic uint32_t errs[NR_MAX][134];
    _Atomic int bad;
    char report[2048];
    struct slot slots[MAX_THREADS];
};

static struct shared *sh;
static uint64_t target;
static int nthreads;
static uint64_t seed0;
static const char *canary = "/nonexistent-canary";
static unsigned char no_enosys[NR_MAX];

/* ------------------------------------------------------------ raw syscalls */

static inline long raw6(long n, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    long ret;
    register uint64_t r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* fork/vfork/clone/clone3: a new task leaves at once with exit(2), touching no
 * memory (it may share ours, run on a garbage stack or with a garbage TLS). */
static inline long raw6_spawn(long n, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    long ret;
    register uint64_t r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "ud2\n"
                     "1:"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ randomness */

struct rng { uint64_t s; };
static uint64_t rnd(struct rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return (x ^ (x >> 31)) | 1;
}
#define PICK(r, arr) ((arr)[rnd(r) % (sizeof(arr) / sizeof((arr)[0]))])

/* ------------------------------------------------------------ memory pools */

static char *shared_area;     /* scribbled while calls use it */
static char *guard_end;       /* the first byte of a PROT_NONE page after shared_area */
static char *ro_page;         /* PROT_READ, a known pattern: no call may change it */
static char *flap_page;       /* the scribbler toggles it RW/NONE and remaps it */
static char *hole;            /* unmapped */
static uint64_t vdso;
static unsigned char text_copy[256];
static char *paths[64];
static int npaths;

static const uint64_t kernelish[] = {
    0xffffffff81000000ULL, 0xffff888000000000ULL, 0xffffffffff600000ULL, /* vsyscall */
    0x0000800000000000ULL, 0x8000000000000000ULL, (uint64_t)-1, (uint64_t)-4096,
    0x00007ffffffff000ULL, 0x00007fffffffffffULL, 1, 4095, 0x10000,
};

static char *arena_of(int thread);
static char *arenas[MAX_THREADS + 1];
static char *arena_of(int thread) { return arenas[thread]; }

/* A pointer: mostly valid memory, else one of the hostile kinds. */
static uint64_t ptr(struct rng *r, char *arena)
{
    switch (rnd(r) % 20) {
    case 0: case 1: case 2: case 3: case 4: return (uint64_t)(arena + rnd(r) % (ARENA - 512));
    case 5: case 6: return (uint64_t)(shared_area + rnd(r) % ARENA);
    case 7: return (uint64_t)(guard_end - 1 - rnd(r) % 16);          /* runs into the guard */
    case 8: return (uint64_t)ro_page + rnd(r) % 4096;
    case 9: return (uint64_t)flap_page + rnd(r) % 4096;
    case 10: return 0;
    case 11: return (uint64_t)hole + rnd(r) % 8192;
    case 12: return STUB + (rnd(r) % 2 ? rnd(r) % 8 : rnd(r) % 8192) - (rnd(r) % 4 == 0 ? 4096 : 0);
    case 13: return vdso ? vdso + rnd(r) % 8192 : 0;
    case 14: return (uint64_t)(uintptr_t)&ptr + rnd(r) % 256;        /* our own text */
    case 15: return PICK(r, kernelish);
    case 16: return (uint64_t)(arena + 1 + rnd(r) % 7);               /* unaligned */
    case 17: return (uint64_t)(uintptr_t)paths[rnd(r) % npaths];
    case 18: return rnd(r);
    default: return (uint64_t)(arena + ARENA - 1 - rnd(r) % 64);        /* the arena's last bytes */
    }
}

static uint64_t length(struct rng *r)
{
    static const uint64_t l[] = {
        0, 1, 2, 7, 8, 16, 64, 100, 128, 256, 4096, 4097, ARENA, ARENA + 1, 1 << 20, 0x7ffff000,
        1ULL << 31, 1ULL << 32, 0xffffffffULL, (uint64_t)-1, (uint64_t)-4096, 1ULL << 62,
    };
    return rnd(r) % 3 ? rnd(r) % 600 : PICK(r, l);
}

static int pool_fd(struct rng *r)
{
    switch (rnd(r) % 16) {
    case 0: return (int)(rnd(r) % 8);                /* 0..7: stdio and whatever is there */
    case 1: return -1 - (int)(rnd(r) % 3);           /* -1, -2, -3 */
    case 2: return PICK(r, ((const int[]){-100 /*AT_FDCWD*/, 1000 /*the stub's host fd number*/,
                                          1023, 1024, 65535, 1 << 20, 0x7fffffff, -0x7fffffff - 1}));
    default: return POOL_BASE + (int)(rnd(r) % NPOOL);
    }
}

static uint64_t small_int(struct rng *r)
{
    switch (rnd(r) % 6) {
    case 0: return 0;
    case 1: return rnd(r) % 4;
    case 2: return rnd(r) % 64;
    case 3: return 1ULL << (rnd(r) % 64);
    case 4: return (uint64_t)-(int64_t)(rnd(r) % 8);
    default: return rnd(r) & (rnd(r) % 2 ? 0xffffffffULL : 0xfffULL);
    }
}

/* Fill n bytes at p with words a structure could hold: fds, pointers, lengths, junk. */
static void fill_struct(struct rng *r, char *arena, char *p, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        switch (rnd(r) % 8) {
        case 0: v = 0; break;
        case 1: v = (uint64_t)(uint32_t)pool_fd(r) | ((uint64_t)(uint32_t)pool_fd(r) << 32); break;
        case 2: v = ptr(r, arena); break;
        case 3: v = length(r); break;
        case 4: v = small_int(r); break;
        case 5: v = rnd(r) % 2000000; break;   /* a small time */
        default: v = rnd(r); break;
        }
        memcpy(p + i, &v, 8);
    }
}

/* A place for a structure: mostly the thread's own arena, sometimes the scribbled one. */
static char *struct_place(struct rng *r, char *arena, size_t n)
{
    if (rnd(r) % 6 == 0) return shared_area + rnd(r) % (ARENA - n);
    if (rnd(r) % 16 == 0) return guard_end - (rnd(r) % n + 1);   /* cut by the guard page */
    return arena + 4096 + (rnd(r) % 8) * 2048 + (rnd(r) % 4 == 0 ? rnd(r) % 8 : 0);
}

static uint64_t iovec_arr(struct rng *r, char *arena, int *cnt)
{
    int n = (int)(rnd(r) % 5) + (rnd(r) % 16 == 0 ? 1100 : 0);
    size_t sz = (size_t)n * sizeof(struct iovec);
    if (sz > 1000) sz = 1000, n = 62;   /* within one struct place; the count may lie */
    struct iovec *v = (struct iovec *)struct_place(r, arena, sz ? sz : 16);
    for (int i = 0; i < n && (char *)(v + i + 1) <= guard_end; i++) {
        if ((char *)(v + i + 1) > arena + ARENA && (char *)v >= arena) break;
        v[i].iov_base = (void *)ptr(r, arena);
        v[i].iov_len = rnd(r) % 3 ? rnd(r) % 512 : length(r);
    }
    *cnt = rnd(r) % 8 == 0 ? (int)small_int(r) : n;
    return (uint64_t)v;
}

static uint64_t sockaddr_ptr(struct rng *r, char *arena, uint64_t *len)
{
    char *p = struct_place(r, arena, 128);
    if ((uintptr_t)p + 128 > (uintptr_t)guard_end && (uintptr_t)p < (uintptr_t)guard_end) {
        *len = length(r);
        return (uint64_t)p;
    }
    memset(p, 0, 128);
    switch (rnd(r) % 7) {
    case 0: {
        struct sockaddr_un *u = (struct sockaddr_un *)p;
        u->sun_family = AF_UNIX;
        if (rnd(r) % 2) snprintf(u->sun_path + 1, 100, "fuzz-%d", (int)(rnd(r) % 4));  /* abstract */
        else snprintf(u->sun_path, 100, "%s", rnd(r) % 2 ? "sock0" : paths[rnd(r) % npaths]);
        *len = rnd(r) % 4 ? sizeof(sa_family_t) + strlen(u->sun_path + (u->sun_path[0] ? 0 : 1)) + 1
                          : rnd(r) % 130;
        break;
    }
    case 1: {
        struct sockaddr_in *in = (struct sockaddr_in *)p;
        in->sin_family = AF_INET;
        in->sin_port = htons(rnd(r) % 2 ? 0 : (uint16_t)(40000 + rnd(r) % 16));
        in->sin_addr.s_addr = rnd(r) % 4 ? htonl(INADDR_LOOPBACK) : (uint32_t)rnd(r);
        *len = rnd(r) % 4 ? sizeof *in : rnd(r) % 32;
        break;
    }
    case 2: {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)p;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)(40000 + rnd(r) % 16));
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_scope_id = (uint32_t)small_int(r);
        *len = rnd(r) % 4 ? sizeof *in6 : rnd(r) % 40;
        break;
    }
    case 3: {
        struct sockaddr_nl *nl = (struct sockaddr_nl *)p;
        nl->nl_family = AF_NETLINK;
        nl->nl_pid = (uint32_t)small_int(r);
        nl->nl_groups = (uint32_t)rnd(r);
        *len = sizeof *nl;
        break;
    }
    default:
        fill_struct(r, arena, p, 128);
        *(uint16_t *)p = (uint16_t)(rnd(r) % 50);
        *len = rnd(r) % 2 ? rnd(r) % 130 : length(r);
        break;
    }
    return (uint64_t)p;
}

static uint64_t msghdr_ptr(struct rng *r, char *arena)
{
    struct msghdr *m = (struct msghdr *)struct_place(r, arena, sizeof(struct msghdr));
    if ((char *)(m + 1) > guard_end && (char *)m < guard_end) return (uint64_t)m;
    uint64_t nl;
    int cnt;
    m->msg_name = rnd(r) % 3 ? NULL : (void *)sockaddr_ptr(r, arena, &nl);
    m->msg_namelen = m->msg_name ? (socklen_t)nl : 0;
    m->msg_iov = (struct iovec *)iovec_arr(r, arena, &cnt);
    m->msg_iovlen = (size_t)cnt;
    m->msg_flags = (int)small_int(r);
    if (rnd(r) % 3 == 0) {
        /* SCM_RIGHTS with pool fds, SCM_CREDENTIALS, or a garbage header */
        char *c = arena + 1024 + rnd(r) % 8;
        struct cmsghdr *h = (struct cmsghdr *)c;
        int kind = (int)(rnd(r) % 3);
        if (kind == 0) {
            int n = (int)(rnd(r) % 6);
            h->cmsg_len = CMSG_LEN(n * sizeof(int));
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            for (int i = 0; i < n; i++) ((int *)CMSG_DATA(h))[i] = pool_fd(r);
        } else if (kind == 1) {
            h->cmsg_len = CMSG_LEN(sizeof(struct ucred));
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_CREDENTIALS;
            struct ucred *u = (struct ucred *)CMSG_DATA(h);
            u->pid = (pid_t)small_int(r); u->uid = (uid_t)small_int(r); u->gid = (gid_t)small_int(r);
        } else {
            fill_struct(r, arena, c, 64);
        }
        m->msg_control = c;
        m->msg_controllen = rnd(r) % 4 ? h->cmsg_len : length(r);
    } else {
        m->msg_control = rnd(r) % 4 ? NULL : (void *)ptr(r, arena);
        m->msg_controllen = m->msg_control ? length(r) : 0;
    }
    return (uint64_t)m;
}

static uint64_t timeout_ptr(struct rng *r, char *arena)
{
    if (rnd(r) % 10 == 0) return ptr(r, arena);
    struct timespec *ts = (struct timespec *)(arena + 3000 + (rnd(r) % 4) * 16);
    ts->tv_sec = rnd(r) % 16 == 0 ? -1 : 0;
    ts->tv_nsec = rnd(r) % 8 == 0 ? 1000000000L + (long)(rnd(r) % 10) : (long)(rnd(r) % 2000000);
    return (uint64_t)ts;
}

static uint64_t pollfds(struct rng *r, char *arena, uint64_t *n)
{
    struct pollfd_ { int fd; short ev, rev; } *p = (void *)struct_place(r, arena, 16 * 8);
    int cnt = (int)(rnd(r) % 16);
    for (int i = 0; i < cnt && (char *)(p + i + 1) <= guard_end; i++) {
        if ((char *)(p + i + 1) > arena + ARENA && (char *)p >= arena) break;
        p[i].fd = pool_fd(r);
        p[i].ev = (short)rnd(r);
        p[i].rev = (short)rnd(r);
    }
    *n = rnd(r) % 8 ? (uint64_t)cnt : small_int(r);
    return (uint64_t)p;
}

static uint64_t argv_ptr(struct rng *r, char *arena)
{
    if (rnd(r) % 6 == 0) return ptr(r, arena);
    uint64_t *v = (uint64_t *)(arena + 2048 + (rnd(r) % 4) * 8);
    int n = (int)(rnd(r) % 6);
    for (int i = 0; i < n; i++) v[i] = rnd(r) % 4 ? (uint64_t)(uintptr_t)paths[rnd(r) % npaths] : ptr(r, arena);
    v[n] = rnd(r) % 8 ? 0 : rnd(r);
    return (uint64_t)v;
}

/* ------------------------------------------------------------ argument signatures
 * f fd, p path, b buffer, n length, i flags/int, o offset, v iovec (count next),
 * m msghdr, s sockaddr (length next), L pointer to a socklen, t timespec (short),
 * T timeout in ms, q pollfd array (count next), k sigset, K 8, P pid, S signal,
 * r structure, a argv, x anything. */
static const char *sigs[NR_MAX] = {
    [SYS_read] = "fbn", [SYS_write] = "fbn", [SYS_open] = "pii", [SYS_close] = "f",
    [SYS_stat] = "pb", [SYS_fstat] = "fb", [SYS_lstat] = "pb", [SYS_poll] = "qT",
    [SYS_lseek] = "foi", [SYS_mmap] = "xniifo", [SYS_mprotect] = "bni", [SYS_munmap] = "bn",
    [SYS_rt_sigaction] = "SrbK", [SYS_rt_sigprocmask] = "ikbK", [SYS_ioctl] = "fib",
    [SYS_pread64] = "fbno", [SYS_pwrite64] = "fbno", [SYS_readv] = "fv", [SYS_writev] = "fv",
    [SYS_access] = "pi", [SYS_pipe] = "b", [SYS_select] = "nbbbt", [SYS_mremap] = "bnnib",
    [SYS_msync] = "bni", [SYS_mincore] = "bnb", [SYS_madvise] = "bni", [SYS_dup] = "f",
    [SYS_dup2] = "ff", [SYS_nanosleep] = "tb", [SYS_getitimer] = "ib", [SYS_alarm] = "i",
    [SYS_setitimer] = "irb", [SYS_sendfile] = "ffbn", [SYS_socket] = "iii", [SYS_connect] = "fs",
    [SYS_accept] = "fbL", [SYS_sendto] = "fbnis", [SYS_recvfrom] = "fbnibL",
    [SYS_sendmsg] = "fmi", [SYS_recvmsg] = "fmi", [SYS_shutdown] = "fi", [SYS_bind] = "fs",
    [SYS_listen] = "fi", [SYS_getsockname] = "fbL", [SYS_getpeername] = "fbL",
    [SYS_socketpair] = "iiib", [SYS_setsockopt] = "fiibn", [SYS_getsockopt] = "fiibL",
    [SYS_clone] = "ibbbb", [SYS_execve] = "paa", [SYS_exit] = "i", [SYS_wait4] = "Pbib",
    [SYS_kill] = "PS", [SYS_uname] = "b", [SYS_fcntl] = "fix", [SYS_flock] = "fi",
    [SYS_fsync] = "f", [SYS_fdatasync] = "f", [SYS_truncate] = "po", [SYS_ftruncate] = "fo",
    [SYS_getdents] = "fbn", [SYS_getcwd] = "bn", [SYS_chdir] = "p", [SYS_fchdir] = "f",
    [SYS_rename] = "pp", [SYS_mkdir] = "pi", [SYS_rmdir] = "p", [SYS_creat] = "pi",
    [SYS_link] = "pp", [SYS_unlink] = "p", [SYS_symlink] = "pp", [SYS_readlink] = "pbn",
    [SYS_chmod] = "pi", [SYS_fchmod] = "fi", [SYS_chown] = "pii", [SYS_fchown] = "fii",
    [SYS_lchown] = "pii", [SYS_umask] = "i", [SYS_gettimeofday] = "bb", [SYS_getrlimit] = "ib",
    [SYS_getrusage] = "ib", [SYS_sysinfo] = "b", [SYS_times] = "b", [SYS_ptrace] = "iPbb",
    [SYS_syslog] = "ibn", [SYS_setpgid] = "PP", [SYS_getpgid] = "P", [SYS_getsid] = "P",
    [SYS_setgroups] = "nb", [SYS_getgroups] = "nb", [SYS_capget] = "rb", [SYS_capset] = "rr",
    [SYS_rt_sigpending] = "bK", [SYS_rt_sigtimedwait] = "kbtK", [SYS_rt_sigqueueinfo] = "PSr",
    [SYS_rt_sigsuspend] = "kK", [SYS_sigaltstack] = "rb", [SYS_utime] = "pr", [SYS_mknod] = "pii",
    [SYS_statfs] = "pb", [SYS_fstatfs] = "fb", [SYS_getpriority] = "iP", [SYS_setpriority] = "iPi",
    [SYS_sched_setparam] = "Pr", [SYS_sched_getparam] = "Pb", [SYS_sched_setscheduler] = "Pir",
    [SYS_sched_getscheduler] = "P", [SYS_sched_rr_get_interval] = "Pb", [SYS_prctl] = "iiiii",
    [SYS_arch_prctl] = "ib", [SYS_setrlimit] = "ir", [SYS_chroot] = "p", [SYS_sethostname] = "bn",
    [SYS_setdomainname] = "bn", [SYS_gettid] = "", [SYS_setxattr] = "ppbni", [SYS_lsetxattr] = "ppbni",
    [SYS_fsetxattr] = "fpbni", [SYS_getxattr] = "ppbn", [SYS_lgetxattr] = "ppbn",
    [SYS_fgetxattr] = "fpbn", [SYS_listxattr] = "pbn", [SYS_llistxattr] = "pbn", [SYS_flistxattr] = "fbn",
    [SYS_removexattr] = "pp", [SYS_lremovexattr] = "pp", [SYS_fremovexattr] = "fp", [SYS_tkill] = "PS",
    [SYS_sched_setaffinity] = "Pnb", [SYS_sched_getaffinity] = "Pnb", [SYS_epoll_create] = "i",
    [SYS_getdents64] = "fbn", [SYS_set_tid_address] = "b", [SYS_fadvise64] = "fooi",
    [SYS_timer_create] = "irb", [SYS_clock_gettime] = "ib", [SYS_clock_getres] = "ib",
    [SYS_clock_nanosleep] = "iitb", [SYS_epoll_wait] = "fbiT", [SYS_epoll_ctl] = "fifr",
    [SYS_tgkill] = "PPS", [SYS_utimes] = "pr", [SYS_waitid] = "iPbir", [SYS_inotify_add_watch] = "fpi",
    [SYS_inotify_rm_watch] = "fi", [SYS_openat] = "fpii", [SYS_mkdirat] = "fpi", [SYS_mknodat] = "fpii",
    [SYS_fchownat] = "fpiii", [SYS_futimesat] = "fpr", [SYS_newfstatat] = "fpbi", [SYS_unlinkat] = "fpi",
    [SYS_renameat] = "fpfp", [SYS_linkat] = "fpfpi", [SYS_symlinkat] = "pfp", [SYS_readlinkat] = "fpbn",
    [SYS_fchmodat] = "fpi", [SYS_faccessat] = "fpi", [SYS_pselect6] = "nbbbtr", [SYS_ppoll] = "qtkK",
    [SYS_splice] = "fbfbni", [SYS_tee] = "ffni", [SYS_sync_file_range] = "fooi", [SYS_vmsplice] = "fvi",
    [SYS_utimensat] = "fpri", [SYS_epoll_pwait] = "fbiTkK", [SYS_signalfd] = "fkK",
    [SYS_timerfd_create] = "ii", [SYS_eventfd] = "i", [SYS_fallocate] = "fioo",
    [SYS_timerfd_settime] = "firb", [SYS_timerfd_gettime] = "fb", [SYS_accept4] = "fbLi",
    [SYS_signalfd4] = "fkKi", [SYS_eventfd2] = "ii", [SYS_epoll_create1] = "i", [SYS_dup3] = "ffi",
    [SYS_pipe2] = "bi", [SYS_inotify_init1] = "i", [SYS_preadv] = "fvoo", [SYS_pwritev] = "fvoo",
    [SYS_rt_tgsigqueueinfo] = "PPSr", [SYS_recvmmsg] = "fbnit", [SYS_prlimit64] = "Pirb",
    [SYS_syncfs] = "f", [SYS_sendmmsg] = "fbni", [SYS_getcpu] = "bbb", [SYS_renameat2] = "fpfpi",
    [SYS_getrandom] = "bni", [SYS_memfd_create] = "pi", [SYS_execveat] = "fpaai", [SYS_copy_file_range] = "fbfbni",
    [SYS_preadv2] = "fvooi", [SYS_pwritev2] = "fvooi", [SYS_statx] = "fpiib", [SYS_rseq] = "bnii",
    [SYS_pidfd_open] = "Pi", [SYS_clone3] = "rn", [SYS_close_range] = "ffi", [SYS_openat2] = "fprn",
    [SYS_faccessat2] = "fpii", [SYS_epoll_pwait2] = "fbitkK", [452 /* fchmodat2 */] = "fpii",
    [SYS_sched_setattr] = "Pri", [SYS_sched_getattr] = "Pbni", [SYS_membarrier] = "iii",
    [SYS_mlock] = "bn", [SYS_munlock] = "bn", [SYS_mlockall] = "i", [SYS_set_robust_list] = "bn",
    [SYS_brk] = "b", [SYS_pidfd_send_signal] = "fSri", [SYS_name_to_handle_at] = "fpbbi",
};

static uint64_t gen(struct rng *r, char *arena, char t, uint64_t *next)
{
    if (rnd(r) % 12 == 0 && t != 'T' && t != 't') {   /* any type, any value */
        switch (rnd(r) % 4) {
        case 0: return ptr(r, arena);
        case 1: return length(r);
        case 2: return (uint64_t)(int64_t)pool_fd(r);
        default: return small_int(r);
        }
    }
    switch (t) {
    case 'f': return (uint64_t)(int64_t)pool_fd(r);
    case 'p': return rnd(r) % 8 ? (uint64_t)(uintptr_t)paths[rnd(r) % npaths] : ptr(r, arena);
    case 'b': return ptr(r, arena);
    case 'n': return length(r);
    case 'i': return small_int(r);
    case 'o': return rnd(r) % 3 ? rnd(r) % 70000 : length(r);
    case 'v': { int c; uint64_t v = iovec_arr(r, arena, &c); *next = (uint64_t)c; return v; }
    case 'm': return msghdr_ptr(r, arena);
    case 's': return sockaddr_ptr(r, arena, next);
    case 'L': {
        if (rnd(r) % 6 == 0) return ptr(r, arena);
        uint32_t *l = (uint32_t *)(arena + 2500 + (rnd(r) % 4) * 4);
        *l = rnd(r) % 4 ? (uint32_t)(rnd(r) % 200) : (uint32_t)length(r);
        return (uint64_t)l;
    }
    case 't': return rnd(r) % 12 == 0 ? 0 : timeout_ptr(r, arena);
    case 'T': return rnd(r) % 12 == 0 ? (uint64_t)-1 : rnd(r) % 3;
    case 'q': return pollfds(r, arena, next);
    case 'k': {
        if (rnd(r) % 6 == 0) return ptr(r, arena);
        uint64_t *s = (uint64_t *)(arena + 2600 + (rnd(r) % 4) * 8);
        *s = rnd(r) % 2 ? rnd(r) : 0;
        return (uint64_t)s;
    }
    case 'K': return rnd(r) % 6 ? 8 : small_int(r);
    case 'P': {
        static const int64_t p[] = {0, -1, 1, 2, 3, 99999, -2, 0x7fffffff, -0x7fffffff - 1, 4194304};
        return rnd(r) % 2 ? (uint64_t)p[rnd(r) % 10] : (uint64_t)getpid() + rnd(r) % 8;
    }
    case 'S': return rnd(r) % 8 ? rnd(r) % 66 : small_int(r);
    case 'r': {
        if (rnd(r) % 8 == 0) return ptr(r, arena);
        char *p = struct_place(r, arena, 256);
        if (p + 256 <= guard_end || p >= guard_end) fill_struct(r, arena, p, 256);
        return (uint64_t)p;
    }
    case 'a': return argv_ptr(r, arena);
    default: {
        switch (rnd(r) % 5) {
        case 0: return ptr(r, arena);
        case 1: return length(r);
        case 2: return (uint64_t)(int64_t)pool_fd(r);
        case 3: return small_int(r);
        default: return rnd(r);
        }
    }
    }
}

/* ------------------------------------------------------------ classification */

/* Run only in forked children: they change what the fuzzer itself relies on. */
static int risky(long nr)
{
    switch (nr) {
    case SYS_mprotect: case SYS_munmap: case SYS_brk: case SYS_rt_sigaction:
    case SYS_rt_sigprocmask: case SYS_rt_sigreturn: case SYS_mremap: case SYS_madvise:
    case SYS_shmat: case SYS_shmdt: case SYS_clone: case SYS_fork: case SYS_vfork:
    case SYS_execve: case SYS_exit: case SYS_setuid: case SYS_setgid: case SYS_setreuid:
    case SYS_setregid: case SYS_setgroups: case SYS_setresuid: case SYS_setresgid:
    case SYS_setfsuid: case SYS_setfsgid: case SYS_capset: case SYS_rt_sigsuspend:
    case SYS_sigaltstack: case SYS_personality: case SYS_setpriority:
    case SYS_sched_setparam: case SYS_sched_setscheduler: case SYS_mlock: case SYS_munlock:
    case SYS_mlockall: case SYS_munlockall: case SYS_prctl: case SYS_arch_prctl:
    case SYS_setrlimit: case SYS_chroot: case SYS_chdir: case SYS_fchdir:
    case SYS_set_tid_address: case SYS_exit_group: case SYS_set_robust_list:
    case SYS_prlimit64: case SYS_execveat: case SYS_rseq: case SYS_clone3:
    case SYS_remap_file_pages: case SYS_pkey_mprotect: case SYS_sched_setattr:
    case SYS_unshare: case SYS_setns: case SYS_seccomp: case SYS_close_range:
    case 453 /* map_shadow_stack */: case 462 /* mseal */: case SYS_sched_setaffinity:
    case SYS_ptrace: case SYS_process_vm_readv: case SYS_process_vm_writev:
        return 1;
    }
    return 0;
}

static int spawns(long nr)
{
    return nr == SYS_clone || nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone3;
}

/* Kept out, with why: futex is the host's (never the sentry's) and, with the
 * SA_RESTART the sandbox adds to handlers, a wait without timeout is not
 * interruptible by the watchdog; the others only end or replace the run. */
static int excluded(long nr)
{
    return nr == SYS_futex;
}

static long pick_nr(struct rng *r)
{
    uint64_t x = rnd(r) % 100;
    if (x < 95) return (long)(rnd(r) % 463);
    /* nothing with the x32 bit (0x40000000, so no negative number but -1, which the
     * kernel treats apart): the filter kills such a call (a foreign ABI, design §5) */
    static const long beyond[] = {463, 470, 511, 512, 530, 547, 548, 600, 1000, 0x1fff, 0xffff, 0x3fffffff, -1};
    return PICK(r, beyond);
}

/* Clamp what would hurt the host or wedge the run (not the sentry's argument
 * checking, which still sees every other value). */
static void sanitize(struct rng *r, long nr, uint64_t *a, int in_child)
{
    int sig_arg = -1;
    switch (nr) {
    case SYS_mmap:
        if (!in_child) a[3] &= ~(uint64_t)(MAP_FIXED | MAP_FIXED_NOREPLACE);
        if (a[1] > (64 << 20)) a[3] &= ~(uint64_t)(MAP_POPULATE | MAP_LOCKED);
        break;
    case SYS_mremap:
        break;
    case SYS_kill: case SYS_tkill: sig_arg = 1; break;
    case SYS_tgkill: sig_arg = 2; break;
    case SYS_rt_sigqueueinfo: sig_arg = 1; break;
    case SYS_rt_tgsigqueueinfo: sig_arg = 2; break;
    case SYS_pidfd_send_signal: sig_arg = 1; break;
    case SYS_prlimit64: case SYS_setpriority: case SYS_sched_setscheduler:
    case SYS_sched_setparam: case SYS_sched_setattr:
        a[nr == SYS_setpriority ? 1 : 0] = 0;   /* only ourselves */
        break;
    case SYS_ptrace:   /* on the host (a native run) these would write into the worker */
        a[1] = 0;
        break;
    case SYS_process_vm_readv: case SYS_process_vm_writev:
        a[0] = 0;
        break;
    case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2:
        /* a mask may block the watchdog's signal: bounded waits then */
        if (nr == SYS_ppoll) a[2] = timeout_ptr(r, arenas[MAX_THREADS]);
        if (nr == SYS_pselect6) a[4] = timeout_ptr(r, arenas[MAX_THREADS]);
        if (nr == SYS_epoll_pwait) a[3] = rnd(r) % 3;
        if (nr == SYS_epoll_pwait2) a[3] = timeout_ptr(r, arenas[MAX_THREADS]);
        break;
    case SYS_rt_sigtimedwait:
        a[2] = timeout_ptr(r, arenas[MAX_THREADS]);
        break;
    case SYS_wait4: case SYS_waitid:
        break;
    case SYS_reboot:
        a[0] = 0;   /* never the magic: denied in the sandbox, and natively too */
        break;
    }
    if (sig_arg >= 0) {
        /* never SIGKILL/SIGSTOP: those end or freeze whichever process they reach */
        uint64_t s = a[sig_arg] & 0xffffffff;
        if (s == SIGKILL || s == SIGSTOP || s == 32 || s == 33) a[sig_arg] = SIGURG;   /* 32, 33: glibc's own */
    }
    if (nr == SYS_kill && (int)a[0] == -1 && !in_child) a[0] = 0;
}

/* ------------------------------------------------------------ checking */

static int returns_fd(long nr)
{
    switch (nr) {
    case SYS_open: case SYS_openat: case SYS_creat: case SYS_dup: case SYS_socket:
    case SYS_accept: case SYS_accept4: case SYS_epoll_create: case SYS_epoll_create1:
    case SYS_eventfd: case SYS_eventfd2: case SYS_timerfd_create: case SYS_signalfd:
    case SYS_signalfd4: case SYS_inotify_init: case SYS_inotify_init1: case SYS_memfd_create:
    case SYS_pidfd_open: case SYS_openat2: case SYS_userfaultfd: case SYS_perf_event_open:
    case SYS_fanotify_init: case SYS_open_by_handle_at:
        return 1;
    }
    return 0;
}

/* 0 on success, nothing else */
static int returns_zero(long nr)
{
    switch (nr) {
    case SYS_close: case SYS_stat: case SYS_fstat: case SYS_lstat: case SYS_access:
    case SYS_pipe: case SYS_pipe2: case SYS_shutdown: case SYS_bind: case SYS_listen:
    case SYS_connect: case SYS_getsockname: case SYS_getpeername: case SYS_socketpair:
    case SYS_setsockopt: case SYS_getsockopt: case SYS_flock: case SYS_fsync:
    case SYS_fdatasync: case SYS_truncate: case SYS_ftruncate: case SYS_chdir: case SYS_fchdir:
    case SYS_rename: case SYS_mkdir: case SYS_rmdir: case SYS_link: case SYS_unlink:
    case SYS_symlink: case SYS_chmod: case SYS_fchmod: case SYS_chown: case SYS_fchown:
    case SYS_lchown: case SYS_getrlimit: case SYS_getrusage: case SYS_sysinfo:
    case SYS_uname: case SYS_kill: case SYS_tkill: case SYS_tgkill: case SYS_setpgid:
    case SYS_statfs: case SYS_fstatfs: case SYS_mknod: case SYS_mknodat: case SYS_mkdirat:
    case SYS_unlinkat: case SYS_renameat: case SYS_renameat2: case SYS_linkat:
    case SYS_symlinkat: case SYS_fchmodat: case SYS_fchownat: case SYS_faccessat:
    case SYS_faccessat2: case SYS_newfstatat: case SYS_statx: case SYS_utimensat:
    case SYS_futimesat: case SYS_utime: case SYS_utimes: case SYS_epoll_ctl:
    case SYS_timerfd_settime: case SYS_timerfd_gettime: case SYS_fallocate:
    case SYS_fadvise64: case SYS_sethostname: case SYS_setdomainname: case SYS_setrlimit:
    case SYS_prlimit64: case SYS_rt_sigqueueinfo: case SYS_rt_tgsigqueueinfo:
    case SYS_setxattr: case SYS_lsetxattr: case SYS_fsetxattr: case SYS_removexattr:
    case SYS_lremovexattr: case SYS_fremovexattr: case SYS_inotify_rm_watch:
    case SYS_close_range: case SYS_syncfs: case SYS_clock_gettime: case SYS_clock_getres:
    case SYS_gettimeofday: case SYS_nanosleep: case SYS_getitimer: case SYS_setitimer:
    case SYS_sched_yield: case SYS_capget: case SYS_sched_getparam:
    case SYS_sched_rr_get_interval: case SYS_rt_sigpending: case SYS_sigaltstack:
    case SYS_setgroups:
        return 1;
    }
    return 0;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&sh->bad, &expected, 1)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->report, sizeof sh->report, fmt, ap);
    va_end(ap);
}

static void check(long nr, const uint64_t *a, long ret)
{
    int slot = nr >= 0 && nr < NR_MAX ? (int)nr : NR_MAX - 1;
    atomic_fetch_add_explicit(&sh->per_nr[slot], 1, memory_order_relaxed);
    const char *why = NULL;
    if (ret < 0 && ret >= -4095) {
        long e = -ret;
        if (e > 133) why = "errno Linux never returns to user space";
        else {
            atomic_fetch_add_explicit(&sh->errs[slot][e], 1, memory_order_relaxed);
            if (e == ENOSYS && no_enosys[slot])
                atomic_fetch_add_explicit(&sh->enosys_nr[slot], 1, memory_order_relaxed);
        }
    } else {
        atomic_fetch_add_explicit(&sh->ok_nr[slot], 1, memory_order_relaxed);
        if (ret < 0 && nr != SYS_ptrace && nr != SYS_lseek)
            why = "negative value outside the errno range";
        else if (returns_fd(nr) && ret >= (1 << 20)) why = "fd past the largest table";
        else if ((nr == SYS_dup2 || nr == SYS_dup3) && ret != (long)(int)a[1]) why = "dup2/dup3 answered another fd";
        else if (returns_zero(nr) && ret != 0) why = "nonzero success of a call that returns 0";
        else if ((nr == SYS_read || nr == SYS_write || nr == SYS_pread64 || nr == SYS_pwrite64 ||
                  nr == SYS_recvfrom || nr == SYS_sendto || nr == SYS_getdents || nr == SYS_getdents64) &&
                 (uint64_t)ret > (nr == SYS_getdents || nr == SYS_getdents64 ? (uint32_t)a[2] : a[2]))
            why = "more bytes than asked";
        else if ((nr == SYS_getrandom || nr == SYS_getcwd) && (uint64_t)ret > a[1]) why = "more bytes than asked";
        else if (nr == SYS_readlink && ret > (long)(int)a[2]) why = "more bytes than asked";
        else if (nr == SYS_readlinkat && ret > (long)(int)a[3]) why = "more bytes than asked";
        else if ((nr == SYS_sendfile || nr == SYS_splice || nr == SYS_tee || nr == SYS_copy_file_range) &&
                 (uint64_t)ret > a[nr == SYS_tee ? 2 : nr == SYS_sendfile ? 3 : 4])
            why = "more bytes than asked";
        else if ((nr == SYS_poll || nr == SYS_ppoll) && (uint64_t)ret > (uint32_t)a[1] && (uint64_t)ret > a[1])
            why = "more ready fds than given";
        else if ((nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_epoll_pwait2) && ret > (long)(int)a[2])
            why = "more events than maxevents";
        else if ((nr == SYS_getpid || nr == SYS_gettid || nr == SYS_getppid || nr == SYS_getpgrp ||
                  nr == SYS_getsid || nr == SYS_getpgid || nr == SYS_wait4 || nr == SYS_setsid) &&
                 ret > (1 << 22))
            why = "pid past pid_max";
        else if (nr == SYS_umask && ret > 0777) why = "umask out of range";
        else if (nr == SYS_getpriority && (ret < 1 || ret > 40)) why = "priority out of range";
        else if ((nr == SYS_mmap || nr == SYS_mremap) && ((ret & 4095) || (uint64_t)ret >= (1ULL << 47)))
            why = "mapping address not a user page";
    }
    if (why) {
        report("IMPOSSIBLE nr=%ld ret=%ld (%s) args=%#lx %#lx %#lx %#lx %#lx %#lx", nr, ret, why,
               a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}

/* after a successful call: keep the pool and the address space as they were */
static void tidy(long nr, const uint64_t *a, long ret)
{
    if (ret < 0) return;
    if (returns_fd(nr) && ret >= 3 && (ret < POOL_BASE || ret >= POOL_BASE + NPOOL)) close((int)ret);
    if ((nr == SYS_pipe || nr == SYS_pipe2 || nr == SYS_socketpair)) {
        /* two fds written to memory we may share: close only plausible ones */
        const int *fds = (const int *)(nr == SYS_socketpair ? a[3] : a[0]);
        if ((const char *)fds >= arenas[0] && (const char *)fds < arenas[0] + (MAX_THREADS + 1) * (size_t)ARENA)
            for (int i = 0; i < 2; i++)
                if (fds[i] >= 3 && (fds[i] < POOL_BASE || fds[i] >= POOL_BASE + NPOOL) && fds[i] < 4096) close(fds[i]);
    }
    if (nr == SYS_mmap) munmap((void *)ret, a[1]);
}

/* ------------------------------------------------------------ the fd pool */

static int abstract_n;

static void put(int slot, int fd)
{
    if (fd < 0) return;
    if (fd != POOL_BASE + slot) {
        dup2(fd, POOL_BASE + slot);
        close(fd);
    }
}

/* Every open is non-blocking: the fuzz may have renamed a FIFO over a file's name, and
 * the watchdog that rebuilds the pool must never wait. */
static void pool_build(void)
{
    int s = 0, p[2], sv[2];
    put(s++, open("f0", O_RDWR | O_CREAT | O_NONBLOCK, 0644));
    put(s++, open("f1", O_RDONLY | O_CREAT | O_NONBLOCK, 0644));
    put(s++, open("f0", O_WRONLY | O_APPEND | O_NONBLOCK));
    put(s++, open("f0", O_PATH));
    put(s++, open(".", O_RDONLY | O_DIRECTORY));
    put(s++, open("/", O_RDONLY | O_DIRECTORY));
    put(s++, open("/proc/self", O_RDONLY | O_DIRECTORY));
    if (pipe(p) == 0) { put(s, p[0]); put(s + 1, p[1]); }
    s += 2;
    if (pipe2(p, O_NONBLOCK) == 0) { put(s, p[0]); put(s + 1, p[1]); }
    s += 2;
    put(s++, open("fifo0", O_RDWR | O_NONBLOCK));
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) { put(s, sv[0]); put(s + 1, sv[1]); }
    s += 2;
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0) { put(s, sv[0]); put(s + 1, sv[1]); }
    s += 2;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) == 0) { put(s, sv[0]); put(s + 1, sv[1]); }
    s += 2;
    {   /* a listening unix socket (abstract name) */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_un u = {.sun_family = AF_UNIX};
        int n = snprintf(u.sun_path + 1, sizeof u.sun_path - 1, "fuzz-l-%d-%d", getpid(), abstract_n++);
        if (fd >= 0 && bind(fd, (struct sockaddr *)&u, (socklen_t)(sizeof(sa_family_t) + 1 + n)) == 0) listen(fd, 4);
        put(s++, fd);
    }
    put(s++, socket(AF_INET, SOCK_STREAM, 0));
    {   /* a TCP listener and a connected pair on loopback */
        int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof in;
        int c = -1, acc = -1;
        if (l >= 0 && bind(l, (struct sockaddr *)&in, sizeof in) == 0 && listen(l, 4) == 0 &&
            getsockname(l, (struct sockaddr *)&in, &len) == 0) {
            c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c >= 0 && (connect(c, (struct sockaddr *)&in, sizeof in) == 0 || errno == EINPROGRESS)) {
                for (int i = 0; i < 100 && acc < 0; i++) {
                    acc = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                    if (acc < 0) usleep(100);
                }
            }
        }
        put(s++, l);
        put(s++, c);
        put(s++, acc);
    }
    put(s++, socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
    put(s++, socket(AF_INET6, SOCK_STREAM, 0));
    put(s++, socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    put(s++, eventfd(0, 0));
    put(s++, eventfd(1, EFD_SEMAPHORE | EFD_NONBLOCK));
    {
        int t = timerfd_create(CLOCK_MONOTONIC, 0);
        struct itimerspec its = {{0, 1000000}, {0, 1000000}};
        if (t >= 0) timerfd_settime(t, 0, &its, NULL);
        put(s++, t);
    }
    {
        int ep = epoll_create1(0), ep2 = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 7; i < s; i++) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | (i % 3 ? EPOLLET : 0), .data.u64 = (uint64_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, POOL_BASE + i, &ev);
        }
        put(s++, ep);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(ep2, EPOLL_CTL_ADD, POOL_BASE + s - 1, &ev);
        put(s++, ep2);
    }
    {
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGUSR1);
        sigaddset(&m, SIGWINCH);
        sigaddset(&m, SIGRTMIN + 3);
        put(s++, signalfd(-1, &m, SFD_NONBLOCK));
    }
    {
        int in = inotify_init1(IN_NONBLOCK);
        if (in >= 0) inotify_add_watch(in, ".", IN_ALL_EVENTS);
        put(s++, in);
    }
    {
        int m = memfd_create("fuzz", MFD_ALLOW_SEALING);
        if (m >= 0 && ftruncate(m, 8192) != 0) { close(m); m = -1; }
        put(s++, m);
    }
    put(s++, open("/dev/null", O_RDWR));
    put(s++, open("/dev/zero", O_RDWR));
    put(s++, open("/dev/urandom", O_RDONLY));
    put(s++, open("/dev/full", O_WRONLY));
    put(s++, open("/proc/self/status", O_RDONLY));
    put(s++, open("/proc/self/maps", O_RDONLY));
    {
        int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK), n = 0, zero = 0, pts = -1;
        char name[64];
        if (m >= 0 && ioctl(m, TIOCSPTLCK, &zero) == 0 && ioctl(m, TIOCGPTN, &n) == 0) {
            snprintf(name, sizeof name, "/dev/pts/%d", n);
            pts = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK);
        }
        put(s++, m);
        put(s++, pts);
    }
    {
        char path[512];
        snprintf(path, sizeof path, "%s/file", canary);
        put(s++, open(path, O_RDONLY | O_NONBLOCK));                  /* a host file, read through the gofer */
        put(s++, open(canary, O_RDONLY | O_DIRECTORY));
    }
    put(s++, open("/etc/hostname", O_RDONLY | O_NONBLOCK));
    put(s++, open("/proc/self/exe", O_RDONLY));
    put(s++, dup(0));                                   /* the caller's stdin, donated */
    put(s++, (int)syscall(SYS_pidfd_open, getpid(), 0));
    if (s > NPOOL) {
        fprintf(stderr, "pool overflow %d\n", s);
        _exit(9);
    }
}

/* ------------------------------------------------------------ files and paths */

static void make_files(void)
{
    static const char elf_hdr[] = "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\2\0\76\0\1\0\0\0";
    int fd;
    mkdir("d0", 0755);
    close(open("d0/x", O_CREAT | O_WRONLY, 0644));
    if ((fd = open("f0", O_CREAT | O_WRONLY | O_TRUNC, 0644)) >= 0) {
        char b[8192];
        for (size_t i = 0; i < sizeof b; i++) b[i] = (char)i;
        if (write(fd, b, sizeof b) < 0) {}
        close(fd);
    }
    symlink("f0", "l0");
    symlink("loop", "loop");
    mkfifo("fifo0", 0644);
    if ((fd = open("s0", O_CREAT | O_WRONLY | O_TRUNC, 0755)) >= 0) {
        if (write(fd, "#!/nonexistent/interp\n", 22) < 0) {}
        close(fd);
    }
    if ((fd = open("s1", O_CREAT | O_WRONLY | O_TRUNC, 0755)) >= 0) {
        if (write(fd, "#!./s1 x\n", 9) < 0) {}   /* a #! loop */
        close(fd);
    }
    /* ELF files with broken headers for the loader */
    for (int k = 0; k < 4; k++) {
        char name[8], b[512];
        struct rng r = {mix(seed0 + 77 + (uint64_t)k)};
        snprintf(name, sizeof name, "e%d", k);
        memset(b, 0, sizeof b);
        memcpy(b, elf_hdr, sizeof elf_hdr - 1);
        for (int i = 24; i < (int)sizeof b; i++) b[i] = (char)(rnd(&r) % 4 ? 0 : rnd(&r));
        *(uint64_t *)(b + 32) = k % 2 ? 64 : rnd(&r);       /* e_phoff */
        *(uint16_t *)(b + 54) = 56;                         /* e_phentsize */
        *(uint16_t *)(b + 56) = (uint16_t)(k == 3 ? 0xffff : 1 + k);   /* e_phnum */
        if ((fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0755)) >= 0) {
            if (write(fd, b, sizeof b) < 0) {}
            close(fd);
        }
    }
}

static void make_paths(void)
{
    static const char *fixed[] = {
        "f0", "f1", "d0", "d0/x", "l0", "loop", "fifo0", "s0", "s1", "e0", "e1", "e2", "e3",
        "", ".", "..", "/", "f0/", "d0/../d0/./x", "new0", "new1", "d0/new2", "sock0",
        "/proc/self/fd/100", "/proc/self/exe", "/proc/self/status",
        "/proc/1/root", "/proc/self/cwd/f0", "/proc/self/task", "/dev/null", "/dev/ptmx",
        "/dev/pts/0", "/dev/tty", "/sys", "/etc/passwd", "/tmp", "/nonexistent/x",
        "/proc/sys/kernel/hostname", "/dev/shm", "/proc/self/fd/0",
    };
    /* in a mapping of their own: calls may write over them (they are buffers too) */
    char *area = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *p = area;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        paths[npaths++] = p;
        p += sprintf(p, "%s", fixed[i]) + 1;
    }
    static const char *under[] = {"", "/file", "/sub", "/sub/inner", "/link", "/new", "/sub/../file"};
    for (size_t i = 0; i < sizeof under / sizeof under[0]; i++) {
        paths[npaths++] = p;
        p += snprintf(p, 1024, "%s%s", canary, under[i]) + 1;
    }
    paths[npaths++] = p;                      /* longer than PATH_MAX */
    for (int i = 0; i < 4998; i += 2) p[i] = 'a', p[i + 1] = '/';
    p[4998] = 0;
    p += 5000;
    paths[npaths++] = p;                      /* a component longer than NAME_MAX */
    memset(p, 'c', 299);
    p[299] = 0;
}

/* ------------------------------------------------------------ threads */

static volatile int stop_all;
static __thread int faults;   /* fault signals since this thread's last call */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    /* rt_sigqueueinfo can forge any siginfo, so a fault is only taken as real when it
     * comes back again and again (a faulting instruction is re-run after the handler) */
    if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP) &&
        si->si_code > 0 && ++faults > 1000)
        _exit(70 + sig);
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;      /* no SA_RESTART: a parked call must end */
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    for (int s = 1; s < 65; s++) {
        if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD) continue;
        sigaction(s, &sa, NULL);
    }
}

static uint64_t run_one(struct rng *r, char *arena, long nr, uint64_t *a, int in_child)
{
    const char *sg = nr >= 0 && nr < NR_MAX && sigs[nr] ? sigs[nr] : "xxxxxx";
    uint64_t next = 0;
    int have_next = 0;
    for (int i = 0; i < 6; i++) {
        if (have_next) { a[i] = next; have_next = 0; continue; }
        char t = sg[0] && (size_t)i < strlen(sg) ? sg[i] : (sg[0] ? 'x' : 'x');
        next = (uint64_t)-1;
        a[i] = gen(r, arena, t, &next);
        if ((t == 'v' || t == 's' || t == 'q') && next != (uint64_t)-1) have_next = 1;
    }
    sanitize(r, nr, a, in_child);
    if (spawns(nr)) return (uint64_t)raw6_spawn(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    return (uint64_t)raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* The stub is the sandbox's: break it, then ask for what the sentry runs through it. */
static void sabotage_stub(struct rng *r)
{
    switch (rnd(r) % 5) {
    case 0: raw6(SYS_munmap, STUB, 4096, 0, 0, 0, 0); break;
    case 1: raw6(SYS_mprotect, STUB, 4096, PROT_NONE, 0, 0, 0); break;
    default: {
        static const unsigned char fill[][2] = {{0xeb, 0xfe} /* jmp . */, {0xcc, 0xcc}, {0x0f, 0x0b}};
        const unsigned char *f = fill[rnd(r) % 3];
        long m = raw6(SYS_mmap, STUB & ~4095ULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0);
        if (m >= 0)
            for (int i = 0; i < 4096; i += 2) memcpy((char *)m + i, f, 2);
        break;
    }
    }
    /* a pending signal read through a signalfd: the sentry dequeues it by making the
     * thread run rt_sigtimedwait at the stub */
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    raw6(SYS_rt_sigprocmask, SIG_BLOCK, (uint64_t)&m, 0, 8, 0, 0);
    int sfd = (int)raw6(SYS_signalfd4, (uint64_t)-1, (uint64_t)&m, 8, 0, 0, 0);
    raw6(SYS_kill, (uint64_t)getpid(), SIGUSR1, 0, 0, 0, 0);
    char buf[128];
    raw6(SYS_read, (uint64_t)sfd, (uint64_t)buf, sizeof buf, 0, 0, 0);
}

static void child_batch(uint64_t seed, char *arena)
{
    struct rng r = {mix(seed)};
    munmap((char *)sh - 4096, ((sizeof *sh + 4095) & ~(size_t)4095) + 2 * 4096);   /* the worker's */
    if (rnd(&r) % 8 == 0) sabotage_stub(&r);
    int n = 1 + (int)(rnd(&r) % 12);
    for (int i = 0; i < n; i++) {
        long nr = rnd(&r) % 3 ? pick_nr(&r) : (long)PICK(&r, ((const long[]){
            SYS_mprotect, SYS_munmap, SYS_brk, SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_mremap,
            SYS_madvise, SYS_clone, SYS_fork, SYS_vfork, SYS_execve, SYS_setuid, SYS_setresuid,
            SYS_setgroups, SYS_capset, SYS_prctl, SYS_arch_prctl, SYS_setrlimit, SYS_chroot,
            SYS_chdir, SYS_fchdir, SYS_prlimit64, SYS_execveat, SYS_clone3, SYS_close_range,
            SYS_sigaltstack, SYS_rseq, SYS_set_robust_list, SYS_exit_group, SYS_mmap}));
        if (excluded(nr)) continue;
        uint64_t a[6];
        run_one(&r, arena, nr, a, 1);
    }
    raw6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
}

struct targ { int idx; };

static void *fuzz_thread(void *p)
{
    int idx = ((struct targ *)p)->idx;
    struct slot *sl = &sh->slots[idx];
    char *arena = arena_of(idx);
    struct rng r = {mix(seed0 * 1000003ULL + (uint64_t)idx * 7919ULL +
                        atomic_load(&sh->worker_restarts) * 104729ULL)};
    atomic_store(&sl->tid, (int)syscall(SYS_gettid));
    while (!stop_all && atomic_load(&sh->calls) < target && !atomic_load(&sh->bad)) {
        long nr = pick_nr(&r);
        if (excluded(nr)) continue;
        if (risky(nr) && rnd(&r) % 4) continue;   /* a fork per batch: fewer of them */
        if (risky(nr) || rnd(&r) % 256 == 0) {
            uint64_t cseed = rnd(&r);
            pid_t c = fork();
            if (c == 0) child_batch(cseed, arena);
            if (c > 0) {
                /* the watchdog kills it if it takes too long */
                atomic_fetch_add(&sh->child_batches, 1);
                atomic_store(&sl->child_start, now_ns());
                atomic_store(&sl->child, c);
                int st;
                while (waitpid(c, &st, __WALL) < 0 && errno == EINTR) {}
                atomic_store(&sl->child, 0);
            }
            continue;
        }
        uint64_t a[6];
        for (int i = 0; i < 6; i++) a[i] = 0;
        atomic_store(&sl->nr, nr);
        atomic_store(&sl->start_ns, now_ns());
        atomic_fetch_add(&sl->seq, 1);
        long ret = (long)run_one(&r, arena, nr, a, 0);
        atomic_fetch_add(&sl->seq, 1);
        faults = 0;
        for (int i = 0; i < 6; i++) atomic_store(&sl->a[i], a[i]);
        check(nr, a, ret);
        tidy(nr, a, ret);
        uint64_t c = atomic_fetch_add(&sh->calls, 1);
        if (c % 512 == 0) {
            /* nothing may write the read-only page or our text */
            for (int i = 0; i < 4096; i++)
                if (ro_page[i] != (char)0xA5) { report("IMPOSSIBLE read-only page changed (after nr=%ld)", nr); break; }
            if (memcmp((void *)(uintptr_t)&ptr, text_copy, sizeof text_copy))
                report("IMPOSSIBLE our text changed (after nr=%ld)", nr);
        }
    }
    return NULL;
}

static void *scribbler(void *p)
{
    (void)p;
    struct rng r = {mix(seed0 ^ 0x5c5c5c)};
    while (!stop_all) {
        for (int i = 0; i < 64; i++) {
            uint64_t v;
            switch (rnd(&r) % 4) {
            case 0: v = rnd(&r); break;
            case 1: v = ptr(&r, arenas[MAX_THREADS]); break;
            case 2: v = (uint64_t)(uint32_t)pool_fd(&r); break;
            default: v = length(&r); break;
            }
            size_t off = (rnd(&r) % (ARENA / 8)) * 8;
            __atomic_store_n((uint64_t *)(shared_area + off), v, __ATOMIC_RELAXED);
        }
        switch (rnd(&r) % 8) {
        case 0: mprotect(flap_page, 4096, PROT_NONE); break;
        case 1: mprotect(flap_page, 4096, PROT_READ); break;
        case 2: mprotect(flap_page, 4096, PROT_READ | PROT_WRITE); break;
        case 3:
            mmap(flap_page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            break;
        default: break;
        }
        sched_yield();
    }
    return NULL;
}

static int worker(void)
{
    /* A worker that died in a call (a signal it could not take, on_signal's _exit) left
     * its slot's seq odd: the next one's would then read "in a call" between calls and
     * "idle" in one, and a thread blocked in pause() would never get the watchdog's
     * signal.  A child batch it was waiting for is ended here, as the watchdog would. */
    for (int i = 0; i < nthreads; i++) {
        struct slot *sl = &sh->slots[i];
        atomic_store(&sl->seq, (atomic_load(&sl->seq) + 1) & ~(uint64_t)1);
        int c = atomic_exchange(&sl->child, 0);
        if (c > 0) kill(c, SIGKILL);
    }
    install_handlers();
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
    pool_build();
    pthread_t th[MAX_THREADS], sc;
    struct targ ta[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
        ta[i].idx = i;
        pthread_create(&th[i], NULL, fuzz_thread, &ta[i]);
    }
    pthread_create(&sc, NULL, scribbler, NULL);
    uint64_t last_build = now_ns();
    while (atomic_load(&sh->calls) < target && !atomic_load(&sh->bad)) {
        usleep(500);
        uint64_t t = now_ns();
        for (int i = 0; i < nthreads; i++) {
            struct slot *sl = &sh->slots[i];
            int c = atomic_load(&sl->child);
            if (c > 0 && (int64_t)(t - atomic_load(&sl->child_start)) > 300000000LL) kill(c, SIGKILL);
            uint64_t seq = atomic_load(&sl->seq);
            if (!(seq & 1)) continue;
            int64_t in_call = (int64_t)(t - atomic_load(&sl->start_ns));   /* may be < 0 */
            if (in_call > 20LL * 1000000000LL && atomic_load(&sl->seq) == seq) {
                report("HANG nr=%ld did not return in 20 s despite signals every few ms",
                       atomic_load(&sl->nr));
                break;
            }
            if (in_call > 1000000LL) {
                syscall(SYS_tgkill, getpid(), atomic_load(&sl->tid), WATCH_SIGNAL);
                atomic_fetch_add(&sh->interrupts, 1);
            }
        }
        if (t - last_build > 300000000ULL) {
            pool_build();   /* racing the calls that use the old fds */
            last_build = t;
        }
    }
    stop_all = 1;
    for (int round = 0; round < 2000; round++) {
        int busy = 0;
        for (int i = 0; i < nthreads; i++) {
            int c = atomic_load(&sh->slots[i].child);
            if (c > 0) kill(c, SIGKILL);
        }
        for (int i = 0; i < nthreads; i++)
            if (atomic_load(&sh->slots[i].seq) & 1) {
                busy = 1;
                syscall(SYS_tgkill, getpid(), atomic_load(&sh->slots[i].tid), WATCH_SIGNAL);
            }
        if (!busy) break;
        usleep(5000);
    }
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    pthread_join(sc, NULL);
    return atomic_load(&sh->bad) ? 3 : 0;
}

/* ------------------------------------------------------------ the monitor */

static void summary(double secs)
{
    uint64_t calls = atomic_load(&sh->calls);
    int distinct = 0;
    for (int i = 0; i < NR_MAX; i++) distinct += sh->per_nr[i] != 0;
    printf("calls=%lu seconds=%.2f calls_per_s=%.0f distinct_nrs=%d child_batches=%lu "
           "worker_restarts=%lu interrupts=%lu\n",
           (unsigned long)calls, secs, secs > 0 ? (double)calls / secs : 0.0, distinct,
           (unsigned long)sh->child_batches, (unsigned long)sh->worker_restarts,
           (unsigned long)sh->interrupts);
    for (int i = 0; i < NR_MAX; i++) {
        if (!sh->per_nr[i]) continue;
        printf("nr %d calls %lu ok %lu", i, (unsigned long)sh->per_nr[i], (unsigned long)sh->ok_nr[i]);
        for (int e = 1; e < 134; e++)
            if (sh->errs[i][e]) printf(" e%d:%u", e, sh->errs[i][e]);
        printf("\n");
    }
    for (int i = 0; i < NR_MAX; i++)
        if (sh->enosys_nr[i]) printf("ENOSYS from implemented nr %d: %lu\n", i, (unsigned long)sh->enosys_nr[i]);
}

int main(int argc, char **argv)
{
    if (argc < 4) return 0;   /* e.g. a fuzzed exec of a mutated copy of us */
    seed0 = strtoull(argv[1], NULL, 0);
    target = strtoull(argv[2], NULL, 0);
    nthreads = atoi(argv[3]);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    if (argc > 4) canary = argv[4];
    if (argc > 5) {
        for (char *s = argv[5]; *s;) {
            long n = strtol(s, &s, 10);
            if (n >= 0 && n < NR_MAX) no_enosys[n] = 1;
            if (*s == ',') s++;
            else if (*s) break;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Inaccessible pages around everything: a call writing on past the end of a buffer
     * (getrandom, read with a huge length) must fault, not reach the counters. */
    size_t shsz = (sizeof *sh + 4095) & ~(size_t)4095;
    char *shm = mmap(NULL, shsz + 2 * 4096, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *big = mmap(NULL, (MAX_THREADS + 1) * (size_t)ARENA + ARENA + 4 * 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED || big == MAP_FAILED) return 10;
    sh = (struct shared *)(shm + 4096);
    mprotect(sh, shsz, PROT_READ | PROT_WRITE);
    for (int i = 0; i <= MAX_THREADS; i++) arenas[i] = big + (size_t)i * ARENA;
    shared_area = big + (MAX_THREADS + 1) * (size_t)ARENA;
    guard_end = shared_area + ARENA;
    mprotect(guard_end, 4096, PROT_NONE);
    ro_page = guard_end + 4096;
    memset(ro_page, 0xA5, 4096);
    mprotect(ro_page, 4096, PROT_READ);
    flap_page = ro_page + 4096;
    mprotect(flap_page + 4096, 4096, PROT_NONE);
    hole = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 8192);
    vdso = getauxval(AT_SYSINFO_EHDR);
    memcpy(text_copy, (void *)(uintptr_t)&ptr, sizeof text_copy);

    char wd[64];
    snprintf(wd, sizeof wd, "fuzz-wd.%d", getpid());
    mkdir(wd, 0755);
    if (chdir(wd) != 0) { perror("chdir"); return 10; }
    make_files();
    make_paths();

    struct sigaction ign = {.sa_handler = SIG_IGN};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    for (int s = 1; s < 65; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) sigaction(s, &sa, NULL);
    (void)ign;

    uint64_t t0 = now_ns(), last_calls = 0, last_progress = now_ns();
    int rc = 0;
    while (atomic_load(&sh->calls) < target && !atomic_load(&sh->bad)) {
        pid_t w = fork();
        if (w == 0) _exit(worker());
        if (w < 0) { perror("fork"); return 10; }
        for (;;) {
            int st;
            pid_t got = waitpid(-1, &st, WNOHANG | __WALL);
            if (got == w) {
                if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3)) break;
                atomic_fetch_add(&sh->worker_restarts, 1);
                fprintf(stderr, "worker %d ended: %s %d; restarting\n", w,
                        WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                break;
            }
            if (got > 0) continue;   /* an orphan of a child batch */
            uint64_t c = atomic_load(&sh->calls), t = now_ns();
            if (c != last_calls) last_calls = c, last_progress = t;
            else if (t - last_progress > 20ULL * 1000000000ULL && !atomic_load(&sh->bad)) {
                report("HANG no call finished in 20 s (worker %d)", w);
                kill(w, SIGKILL);
            }
            if (atomic_load(&sh->bad) && t - last_progress > 25ULL * 1000000000ULL) break;
            usleep(got < 0 && errno == ECHILD ? 1000 : 5000);
        }
        if (atomic_load(&sh->worker_restarts) > 200) { report("HANG worker keeps dying"); break; }
    }
    /* nothing of ours may outlive the run; as the namespace's init, kill(-1) reaches all */
    if (getpid() == 1) kill(-1, SIGKILL);
    while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {}
    double secs = (double)(now_ns() - t0) / 1e9;
    summary(secs);
    if (atomic_load(&sh->bad)) {
        printf("%s\n", sh->report);
        const char *r = sh->report;
        rc = strncmp(r, "HANG", 4) == 0 ? 2 : 1;
        for (int i = 0; i < nthreads; i++) {
            struct slot *sl = &sh->slots[i];
            printf("thread %d: in_call=%d nr=%ld\n", i, (int)(sl->seq & 1), (long)sl->nr);
        }
    } else {
        printf("fuzz ok\n");
    }
    return rc;
}
