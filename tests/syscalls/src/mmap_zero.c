/* mmap_zero.c -- mappings of /dev/zero: a private one is zero-filled anonymous memory
 * (copy-on-write in a forked child), a shared one is memory of its own that a forked
 * child shares and another mapping of the same fd does not, the offset is ignored, a
 * read-only fd's shared mapping cannot be made writable (mprotect EACCES) and its
 * private one can, a shared one grows with mremap only as far as it was made (SIGBUS
 * past it, and at a large offset), and /proc/self/maps names them and shared anonymous
 * memory. */
#include "check.h"
#include <fcntl.h>
#include <setjmp.h>
#include <sys/mman.h>

static sigjmp_buf jb;
static void on_bus(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

static void show(const char *label, void *addr)
{
    show_maps_name(label, addr, 0);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int rw = open("/dev/zero", O_RDWR), ro = open("/dev/zero", O_RDONLY);
    MUST(rw);
    MUST(ro);

    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, 0);
    T("private mapped", p != MAP_FAILED);
    T("private zeros", p[0] == 0 && p[8191] == 0);
    p[0] = 'p';
    show("private name", p);
    pid_t c = fork();
    if (c == 0) {
        printf("child sees private write: %c\n", p[0]);
        p[0] = 'c';
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("parent private after child's write: %c\n", p[0]);

    char *s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    char *s2 = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    T("shared mapped", s != MAP_FAILED && s2 != MAP_FAILED);
    s[100] = 's';
    T("another shared mapping of the fd is its own", s2[100] == 0);
    show("shared name", s);
    c = fork();
    if (c == 0) {
        printf("child sees shared write: %c\n", s[100]);
        s[101] = 'c';
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("parent sees child's shared write: %c\n", s[101]);

    signal(SIGBUS, on_bus);
    char *far = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, (off_t)1 << 40);
    T("private at offset 1 TiB mapped", far != MAP_FAILED);
    if (far != MAP_FAILED)
        T("private at offset 1 TiB zeros", far[0] == 0);
    /* a shared one's object is the mapping's size from offset 0: its page at 1 TiB is
     * past it */
    far = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, (off_t)1 << 40);
    T("shared at offset 1 TiB mapped", far != MAP_FAILED);
    show("shared at offset 1 TiB name", far);
    if (far != MAP_FAILED) {
        if (sigsetjmp(jb, 1) == 0) {
            volatile char x = far[0];
            (void)x;
            printf("shared at offset 1 TiB: read\n");
        } else {
            printf("shared at offset 1 TiB: SIGBUS\n");
        }
    }
    char *sa = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    show("shared anonymous name", sa);

    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    T("read-only shared mapped", r != MAP_FAILED);
    R("mprotect write of a read-only shared mapping", mprotect(r, 4096, PROT_READ | PROT_WRITE));
    char *rp = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 0);
    R("mprotect write of a read-only private mapping", mprotect(rp, 4096, PROT_READ | PROT_WRITE));
    R("mmap write shared of a read-only fd",
      (long)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));

    /* a shared mapping's object is as big as the mapping was made */
    char *g = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    char *g2 = mremap(g, 4096, 8192, MREMAP_MAYMOVE);
    T("mremap grew it", g2 != MAP_FAILED);
    if (sigsetjmp(jb, 1) == 0) {
        volatile char x = g2[4096];
        (void)x;
        printf("past the object: read\n");
    } else {
        printf("past the object: SIGBUS\n");
    }
    g2[0] = 'g';
    T("its first page is still there", g2[0] == 'g');
    return 0;
}
