/* mmap_validate.c -- the order of mmap(2)'s checks of a file mapping's flags: the mapping
 * type (none, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, an unknown one), the flags
 * MAP_SHARED_VALIDATE refuses (EOPNOTSUPP: a bit no mapping knows, MAP_SYNC on a file
 * that is not DAX) and MAP_SHARED ignores, MAP_HUGETLB on a file not of hugetlbfs, the
 * other flags a file mapping takes, each against the access the fd's mode gives
 * (read-only, write-only, read-write) and the protection asked for; on a memfd, a
 * read-only file of the root, /dev/zero, and /dev/null, /dev/full and /proc files, which
 * have no mmap (ENODEV, or EIO for proc_create's files; PROT_EXEC EPERM); and, before all
 * of these, a fixed address past the address space, unaligned or over a mapping
 * (MAP_FIXED_NOREPLACE), then an offset past what the file takes (a character device:
 * ULONG_MAX); all 64 bits of the flags.  (Not on a file of the work directory: what MAP_SYNC gets there is its
 * file system's, ext4 or tmpfs.) */
#include "check.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define MAP_UNKNOWN_BIT 0x400 /* no mapping flag on x86-64 */

static void try_map(const char *what, int fd, int prot, int flags)
{
    char l[160];
    snprintf(l, sizeof l, "%s prot %d flags %#x", what, prot, flags);
    errno = 0;
    void *p = mmap(NULL, 4096, prot, flags, fd, 0);
    if (p == MAP_FAILED) {
        printf("%s: -1 %s\n", l, en(errno));
        return;
    }
    printf("%s: ok\n", l);
    munmap(p, 4096);
}

/* mmap through syscall(2): the flags are an unsigned long */
static void try_raw(const char *what, const char *label, void *addr, size_t len, int prot,
                    unsigned long flags, int fd, off_t off)
{
    errno = 0;
    void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED) {
        printf("%s %s: -1 %s\n", what, label, en(errno));
        return;
    }
    printf("%s %s: ok\n", what, label);
    if (p != addr)
        munmap(p, len);
}

/* the address is checked before anything about the file (__get_unmapped_area and
 * MAP_FIXED_NOREPLACE's overlap), then the offset the file takes (file_mmap_ok: up to
 * ULONG_MAX for a character device), the type, the flags, the access */
static void order_cases(const char *what, int fd, char *taken)
{
    static const int rw = PROT_READ | PROT_WRITE;
    try_raw(what, "noreplace over a mapping, shared write", taken, 4096, rw,
            MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    try_raw(what, "noreplace over a mapping, bad type", taken, 4096, PROT_READ,
            0x0f | MAP_FIXED_NOREPLACE, fd, 0);
    try_raw(what, "noreplace over a mapping, unknown flag", taken, 4096, PROT_READ,
            MAP_SHARED_VALIDATE | MAP_UNKNOWN_BIT | MAP_FIXED_NOREPLACE, fd, 0);
    try_raw(what, "fixed unaligned, shared write", taken + 1, 4096, rw,
            MAP_SHARED | MAP_FIXED, fd, 0);
    try_raw(what, "fixed past the address space, shared write", (void *)0x7ffffffff000UL,
            8192, rw, MAP_SHARED | MAP_FIXED, fd, 0);
    try_raw(what, "fixed past the address space, bad type", (void *)0x7ffffffff000UL,
            8192, PROT_READ, 0x0f | MAP_FIXED, fd, 0);
    try_raw(what, "validate, bit 32", NULL, 4096, PROT_READ,
            MAP_SHARED_VALIDATE | (1UL << 32), fd, 0);
    try_raw(what, "validate, bit 32, write", NULL, 4096, rw,
            MAP_SHARED_VALIDATE | (1UL << 32), fd, 0);
    try_raw(what, "shared, bit 32", NULL, 4096, PROT_READ, MAP_SHARED | (1UL << 32), fd, 0);
    try_raw(what, "growsdown private", NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_GROWSDOWN,
            fd, 0);
    try_raw(what, "offset near 2^64", NULL, 4096, PROT_READ, MAP_PRIVATE, fd,
            (off_t)0xfffffffffffff000UL);
    try_raw(what, "offset near 2^64, shared write", NULL, 4096, rw, MAP_SHARED, fd,
            (off_t)0xfffffffffffff000UL);
    try_raw(what, "offset 2^62", NULL, 4096, PROT_READ, MAP_PRIVATE, fd,
            (off_t)1 << 62);
}

static const int types[] = {0, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, 0x0f};
static const int extras[] = {0, MAP_UNKNOWN_BIT, MAP_SYNC, MAP_HUGETLB,
                             MAP_NORESERVE | MAP_POPULATE, MAP_32BIT, MAP_STACK,
                             MAP_SYNC | MAP_UNKNOWN_BIT};
static const int prots[] = {PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE, PROT_NONE};

static char *taken; /* a page mapped for the whole run */

/* with_sync 0: not MAP_SYNC, whose answer is the file system's (a file of the root: ext4
 * natively takes it, and refuses it after the access checks; the sandbox's root is an
 * overlay, and overlayfs takes none) */
static void all_of(const char *what, int fd, int with_sync)
{
    char l[96];
    order_cases(what, fd, taken);
    for (unsigned t = 0; t < sizeof types / sizeof *types; t++)
        for (unsigned e = 0; e < sizeof extras / sizeof *extras; e++)
            for (unsigned p = 0; p < sizeof prots / sizeof *prots; p++) {
                if (!with_sync && (extras[e] & MAP_SYNC))
                    continue;
                snprintf(l, sizeof l, "%s", what);
                try_map(l, fd, prots[p], types[t] | extras[e]);
            }
}

static void all(const char *what, int fd)
{
    all_of(what, fd, 1);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    taken = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(taken == MAP_FAILED ? -1 : 0);
    static const struct { const char *name; int mode; } modes[] = {
        {"ro", O_RDONLY}, {"wo", O_WRONLY}, {"rw", O_RDWR}};
    char what[64], path[64];
    int mfd = memfd_create("validate", 0);
    MUST(mfd);
    MUST(ftruncate(mfd, 8192));
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
    for (unsigned m = 0; m < 3; m++) {
        int fd = open(path, modes[m].mode);
        MUST(fd);
        snprintf(what, sizeof what, "memfd %s", modes[m].name);
        all(what, fd);
        close(fd);
    }
    close(mfd);
    int root = open("/etc/passwd", O_RDONLY);
    MUST(root);
    all_of("root ro", root, 0);
    close(root);
    for (unsigned m = 0; m < 3; m++) {
        int fd = open("/dev/zero", modes[m].mode);
        MUST(fd);
        snprintf(what, sizeof what, "zero %s", modes[m].name);
        all(what, fd);
        close(fd);
    }
    int null = open("/dev/null", O_RDWR);
    MUST(null);
    all("null rw", null);
    close(null);
    int full = open("/dev/full", O_RDWR);
    MUST(full);
    all("full rw", full);
    close(full);
    /* the kernel's internal file systems run nothing (PROT_EXEC EPERM, before their
     * missing mmap's ENODEV); a socket's ENODEV is its own mmap's, after
     * MAP_GROWSDOWN's EINVAL; a fixed mapping above the host's mmap_min_addr (4096 on
     * these machines) is no EPERM */
    int pp[2], sp[2];
    MUST(pipe(pp));
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    int ev = eventfd(0, 0);
    MUST(ev);
    struct { const char *name; int fd; } pseudo[] = {
        {"pipe read end", pp[0]}, {"unix socket", sp[0]}, {"eventfd", ev}};
    for (unsigned i = 0; i < sizeof pseudo / sizeof *pseudo; i++) {
        snprintf(what, sizeof what, "%s", pseudo[i].name);
        try_map(what, pseudo[i].fd, PROT_READ, MAP_PRIVATE);
        try_map(what, pseudo[i].fd, PROT_READ | PROT_EXEC, MAP_PRIVATE);
        try_map(what, pseudo[i].fd, PROT_READ, MAP_PRIVATE | MAP_GROWSDOWN);
        close(pseudo[i].fd);
    }
    close(pp[1]);
    close(sp[1]);
    int z = open("/dev/zero", O_RDONLY);
    MUST(z);
    /* as a user without CAP_SYS_RAWIO, at 0x2000: above the host's mmap_min_addr */
    pid_t child = fork_as(1000);
    if (child == 0) {
        try_raw("zero", "fixed at 0x2000 by a user", (void *)0x2000UL, 4096, PROT_READ,
                MAP_PRIVATE | MAP_FIXED_NOREPLACE, z, 0);
        /* MAP_LOCKED without CAP_IPC_LOCK: past RLIMIT_MEMLOCK EAGAIN, with a limit of 0
         * EPERM, both before the access checks */
        struct rlimit rl = {8192, 8192};
        MUST(setrlimit(RLIMIT_MEMLOCK, &rl));
        try_raw("zero", "locked past the limit, shared write", NULL, 16384,
                PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, z, 0);
        try_raw("zero", "locked within the limit", NULL, 4096, PROT_READ,
                MAP_PRIVATE | MAP_LOCKED, z, 0);
        rl.rlim_cur = rl.rlim_max = 0;
        MUST(setrlimit(RLIMIT_MEMLOCK, &rl));
        try_raw("zero", "locked with a limit of 0, bad type", NULL, 4096, PROT_READ,
                0x0f | MAP_LOCKED, z, 0);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    close(z);
    /* a process's file and a sysctl have no mmap (ENODEV); proc_create's files have
     * proc_reg_mmap, with nothing to call (EIO); procfs runs nothing (PROT_EXEC EPERM) */
    static const char *procs[] = {"/proc/self/status", "/proc/self/maps",
                                  "/proc/sys/kernel/ostype", "/proc/meminfo",
                                  "/proc/version", "/proc/uptime"};
    for (unsigned i = 0; i < sizeof procs / sizeof *procs; i++) {
        int proc = open(procs[i], O_RDONLY);
        MUST(proc);
        snprintf(what, sizeof what, "proc %s", procs[i]);
        if (i == 0) {
            all(what, proc);
        } else {
            try_map(what, proc, PROT_READ, MAP_PRIVATE);
            try_map(what, proc, PROT_READ | PROT_EXEC, MAP_PRIVATE);
            try_map(what, proc, PROT_READ, MAP_SHARED);
            try_map(what, proc, PROT_READ, MAP_PRIVATE | MAP_GROWSDOWN);
        }
        close(proc);
    }
    return 0;
}
