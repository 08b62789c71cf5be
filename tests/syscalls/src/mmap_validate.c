/* mmap_validate.c -- the order of mmap(2)'s checks of a file mapping's flags: the mapping
 * type (none, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, an unknown one), the flags
 * MAP_SHARED_VALIDATE refuses (EOPNOTSUPP: a bit no mapping knows, MAP_SYNC on a file
 * that is not DAX) and MAP_SHARED ignores, MAP_HUGETLB on a file not of hugetlbfs, the
 * other flags a file mapping takes, each against the access the fd's mode gives
 * (read-only, write-only, read-write) and the protection asked for; on a memfd, a
 * read-only file of the root, /dev/zero, and /dev/null, /dev/full and a /proc file, which
 * have no mmap (ENODEV, a private mapping too).  (Not on a file of the work directory: what MAP_SYNC gets there is its
 * file system's, ext4 or tmpfs.) */
#include "check.h"
#include <fcntl.h>
#include <sys/mman.h>

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

static const int types[] = {0, MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, 0x0f};
static const int extras[] = {0, MAP_UNKNOWN_BIT, MAP_SYNC, MAP_HUGETLB,
                             MAP_NORESERVE | MAP_POPULATE, MAP_32BIT, MAP_STACK,
                             MAP_SYNC | MAP_UNKNOWN_BIT};
static const int prots[] = {PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE, PROT_NONE};

static void all(const char *what, int fd)
{
    char l[96];
    for (unsigned t = 0; t < sizeof types / sizeof *types; t++)
        for (unsigned e = 0; e < sizeof extras / sizeof *extras; e++)
            for (unsigned p = 0; p < sizeof prots / sizeof *prots; p++) {
                snprintf(l, sizeof l, "%s", what);
                try_map(l, fd, prots[p], types[t] | extras[e]);
            }
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
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
    all("root ro", root);
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
    int proc = open("/proc/self/status", O_RDONLY);
    MUST(proc);
    all("proc ro", proc);
    close(proc);
    return 0;
}
