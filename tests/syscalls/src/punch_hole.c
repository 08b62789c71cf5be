/* punch_hole.c -- fallocate(FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE) on a memfd:
 * the punched range reads back as zeros (partial pages zeroed, whole pages
 * freed: st_blocks drops), the size stays, punching past the end is a no-op;
 * the same once the file is mapped shared (a mapping sees the hole) or
 * privately (copied pages keep their data; truncation discards them, as
 * stress-ng's memfd stressor checks); modes without KEEP_SIZE. */
#include "check.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PG 4096
#define PUNCH (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)

static long blocks(int fd)
{
    struct stat st;
    MUST(fstat(fd, &st));
    return st.st_blocks;
}

static long size_of(int fd)
{
    struct stat st;
    MUST(fstat(fd, &st));
    return st.st_size;
}

/* "z" for all zeros, "A" for all 'A', "mixed" otherwise */
static const char *range(int fd, off_t off, size_t n)
{
    static char buf[4 * PG];
    ssize_t got = pread(fd, buf, n, off);
    if (got != (ssize_t)n)
        return "short";
    int zeros = 0, as = 0;
    for (size_t i = 0; i < n; i++) {
        zeros += buf[i] == 0;
        as += buf[i] == 'A';
    }
    return zeros == (int)n ? "z" : as == (int)n ? "A" : "mixed";
}

static int filled(int pages)
{
    static char a[4 * PG];
    memset(a, 'A', sizeof a);
    int fd = memfd_create("punch", 0);
    MUST(fd);
    MUST(write(fd, a, (size_t)pages * PG));
    return fd;
}

static void punch_checks(const char *tag, int fd)
{
    char l[64];
#define L(s) (snprintf(l, sizeof l, "%s %s", tag, s), l)
    R(L("punch partial"), fallocate(fd, PUNCH, 100, 200));
    printf("%s before: %s\n", tag, range(fd, 0, 100));
    printf("%s hole: %s\n", tag, range(fd, 100, 200));
    printf("%s after: %s\n", tag, range(fd, 300, PG - 300));
    R(L("punch page"), fallocate(fd, PUNCH, PG, PG));
    printf("%s page: %s\n", tag, range(fd, PG, PG));
    printf("%s next page: %s\n", tag, range(fd, 2 * PG, PG));
    R(L("punch tail past end"), fallocate(fd, PUNCH, 3 * PG + 10, 100 * PG));
    printf("%s tail: %s\n", tag, range(fd, 3 * PG + 10, PG - 10));
    R(L("size"), size_of(fd));
    R(L("punch past end"), fallocate(fd, PUNCH, 100 * PG, PG));
    R(L("size after"), size_of(fd));
    R(L("punch without keep_size"), fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, PG));
    R(L("punch length 0"), fallocate(fd, PUNCH, 0, 0));
#undef L
}

int main(void)
{
    /* data held by the file itself */
    int fd = filled(4);
    R("dense blocks", blocks(fd));
    punch_checks("dense", fd);
    R("dense blocks after", blocks(fd)); /* the whole page is freed, partial ones stay */
    close(fd);

    /* a shared mapping sees the hole, and a hole punched through the mapping's pages */
    fd = filled(4);
    volatile char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    MUST(m == MAP_FAILED ? -1 : 0);
    R("shared blocks", blocks(fd));
    punch_checks("shared", fd);
    T("map sees partial hole", m[99] == 'A' && m[100] == 0 && m[299] == 0 && m[300] == 'A');
    T("map sees page hole", m[PG] == 0 && m[2 * PG - 1] == 0 && m[2 * PG] == 'A');
    R("shared blocks after", blocks(fd));
    m[PG + 5] = 'B'; /* writing into the hole allocates it again */
    printf("refilled: %s\n", range(fd, PG + 5, 1));
    R("shared blocks refilled", blocks(fd));
    munmap((void *)m, 4 * PG);
    close(fd);

    /* a private mapping: pages it copied keep their data across a punch,
     * pages it did not copy show the hole */
    fd = filled(2);
    volatile char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    MUST(p == MAP_FAILED ? -1 : 0);
    p[0] = 'P';
    R("private punch", fallocate(fd, PUNCH, 0, 2 * PG));
    T("private copied page kept", p[0] == 'P' && p[1] == 'A');
    T("private other page sees hole", p[PG] == 0);
    munmap((void *)p, 2 * PG);
    close(fd);

    /* truncation discards a private mapping's copies past the new end
     * (stress-ng memfd: "data mismatch in zero'd second page") */
    fd = memfd_create("zap", 0);
    MUST(fd);
    MUST(ftruncate(fd, 2 * PG));
    uint64_t *b = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    MUST(b == MAP_FAILED ? -1 : 0);
    for (int i = 0; i < 2 * PG / 8; i++)
        b[i] = 0x0123456789abcdefULL;
    R("shrink", ftruncate(fd, PG));
    R("regrow", ftruncate(fd, 2 * PG));
    T("private first page kept", b[0] == 0x0123456789abcdefULL && b[PG / 8 - 1] == 0x0123456789abcdefULL);
    T("private second page zero", b[PG / 8] == 0 && b[2 * PG / 8 - 1] == 0);
    munmap(b, 2 * PG);
    close(fd);
    return 0;
}
