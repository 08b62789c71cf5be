/* mmap_lend.c -- file mappings made by lending the file's host fd to the task (in the
 * sandbox: by the C fast path for a gofer file, a re-opened one included, which may never
 * get a description of Python's): the name /proc/self/maps shows for each (the canonical
 * path, through a symlinked directory), ld.so's pattern of several mappings of one fd,
 * PROT_EXEC, the checks made before the host's (a length of 0, an unaligned offset, no
 * mapping type, a shared writable mapping of a read-only fd, a write-only fd, a bad fd),
 * a dup, a fd number closed and reused for another file, a forked child's mapping, a
 * shared writable mapping of a file of the work directory, a file opened by a relative
 * path mapped by a process that shares the fd table but not the cwd, a fd inherited across
 * an exec mapped by the new program, and the order of the errors. */
#include "check.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>

static void show(const char *label, void *addr)
{
    show_maps_name(label, addr, 0);
}

/* map fd's first page (prot), show its name, check it holds an ELF header, unmap */
static void map_show(const char *label, int fd, int prot, int flags, off_t off)
{
    char l[96];
    void *p = mmap(NULL, 4096, prot, flags, fd, off);
    if (p == MAP_FAILED) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    show(label, p);
    if (off == 0) {
        snprintf(l, sizeof l, "%s elf", label);
        T(l, memcmp(p, "\177ELF", 4) == 0);
    }
    munmap(p, 4096);
}

/* clone(CLONE_FILES) child: its own cwd; maps the fd the parent opened as soon as it
 * is told (sh[0] the fd, sh[1] go, sh[2] done: shared memory, no syscall between the
 * parent's open and this mmap) */
static int files_child(void *arg)
{
    volatile int *sh = arg;
    if (chdir("/usr/bin") < 0)
        _exit(3);
    sh[3] = 1; /* ready */
    while (!__atomic_load_n(&sh[1], __ATOMIC_ACQUIRE))
        ;
    map_show("mapped by a fd-sharing child with another cwd", sh[0], PROT_READ, MAP_PRIVATE, 0);
    __atomic_store_n(&sh[2], 1, __ATOMIC_RELEASE);
    _exit(0);
}

static void reopen_rounds(const char *path)
{
    char l[96];
    for (int i = 1; i <= 3; i++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        MUST(fd);
        /* as ld.so: the whole file, then segments of it at fixed addresses within */
        void *all = mmap(NULL, 4 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        MUST(all == MAP_FAILED ? -1 : 0);
        snprintf(l, sizeof l, "round %d whole", i);
        show(l, all);
        void *text = mmap((char *)all + 4096, 4096, PROT_READ | PROT_EXEC,
                          MAP_PRIVATE | MAP_FIXED, fd, 4096);
        snprintf(l, sizeof l, "round %d text", i);
        if (text == MAP_FAILED)
            printf("%s: -1 %s\n", l, en(errno));
        else
            show(l, text);
        void *data = mmap((char *)all + 2 * 4096, 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_FIXED, fd, 8192);
        snprintf(l, sizeof l, "round %d data", i);
        if (data == MAP_FAILED) {
            printf("%s: -1 %s\n", l, en(errno));
        } else {
            show(l, data);
            ((char *)data)[0] ^= 1; /* copy on write: never reaches the file */
        }
        munmap(all, 4 * 4096);
        close(fd);
    }
}

int main(int argc, char **argv)
{
    char l[96];
    if (argc > 3 && strcmp(argv[2], "exec") == 0) {
        /* the new program: map the fd it inherited */
        map_show("after exec", atoi(argv[3]), PROT_READ | PROT_EXEC, MAP_PRIVATE, 0);
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    /* a file re-opened by one process, by a path relative to its cwd, mapped by another
     * that shares its fd table but not its cwd: named by what the opener opened */
    volatile int *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    MUST(sh == MAP_FAILED ? -1 : 0);
    static char stack[65536];
    MUST(chdir("/usr/lib/x86_64-linux-gnu"));
    pid_t pid = clone(files_child, stack + sizeof stack, CLONE_FILES | SIGCHLD, (void *)sh);
    MUST(pid);
    while (!__atomic_load_n(&sh[3], __ATOMIC_ACQUIRE))
        ;
    for (int i = 0; i < 2; i++)
        close(open("libc.so.6", O_RDONLY));
    int rel = open("libc.so.6", O_RDONLY);
    MUST(rel);
    sh[0] = rel;
    __atomic_store_n(&sh[1], 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&sh[2], __ATOMIC_ACQUIRE))
        ;
    int st;
    MUST(waitpid(pid, &st, 0));
    T("fd-sharing child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(rel);
    MUST(chdir(argv[1]));

    reopen_rounds("/bin/true");
    reopen_rounds("/usr/lib/x86_64-linux-gnu/libc.so.6");

    /* the checks before the host's, on a re-opened file */
    for (int i = 0; i < 2; i++)
        close(open("/bin/true", O_RDONLY));
    int fd = open("/bin/true", O_RDONLY);
    MUST(fd);
    errno = 0;
    R("length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0);
    R("unaligned offset", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED ? -1 : 0);
    R("no mapping type", mmap(NULL, 4096, PROT_READ, 0, fd, 0) == MAP_FAILED ? -1 : 0);
    R("shared writable of read-only",
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
    map_show("shared read-only", fd, PROT_READ, MAP_SHARED, 0);
    map_show("shared validate", fd, PROT_READ, MAP_SHARED_VALIDATE, 0);
    map_show("private writable of read-only", fd, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
    R("bad fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED ? -1 : 0);
    R("fd -1", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED ? -1 : 0);
    /* Linux's order: the offset, the fd, the length, the file's size limit, the type */
    R("bad fd, length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED ? -1 : 0);
    R("bad fd, no type", mmap(NULL, 4096, PROT_READ, 0, 999, 0) == MAP_FAILED ? -1 : 0);
    R("bad fd, unaligned", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 1) == MAP_FAILED ? -1 : 0);
    int op = open("/bin/true", O_PATH);
    MUST(op);
    R("O_PATH fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, op, 0) == MAP_FAILED ? -1 : 0);
    close(op);
    R("huge offset, shared writable of read-only",
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)0x7ffffffffffff000LL)
      == MAP_FAILED ? -1 : 0);
    R("huge length", mmap(NULL, ~0UL - 100, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0);
    R("length past user space, no type",
      mmap(NULL, 1UL << 48, PROT_READ, 0, fd, 0) == MAP_FAILED ? -1 : 0);
    R("type 7", mmap(NULL, 4096, PROT_READ, 7, fd, 0) == MAP_FAILED ? -1 : 0);
    int d = dup(fd);
    MUST(d);
    map_show("dup", d, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0);
    close(d);

    /* a number closed and reused for another file at once */
    close(fd);
    close(open("/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY));
    int fd2 = open("/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY);
    T("same number again", fd2 == fd);
    map_show("reused number", fd2, PROT_READ, MAP_PRIVATE, 0);

    /* a forked child maps it too */
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        map_show("child", fd2, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0);
        _exit(0);
    }
    MUST(waitpid(pid, &st, 0));
    T("child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    map_show("parent after child", fd2, PROT_READ, MAP_PRIVATE, 0);
    close(fd2);

    /* a write-only fd, and a shared writable mapping of a file of the work directory */
    int w = open("file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    MUST(w);
    MUST(ftruncate(w, 4096));
    R("write-only fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, w, 0) == MAP_FAILED ? -1 : 0);
    close(w);
    for (int i = 0; i < 2; i++) {
        int rw = open("file", O_RDWR);
        MUST(rw);
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
        snprintf(l, sizeof l, "shared writable %d", i);
        if (p == MAP_FAILED) {
            printf("%s: -1 %s\n", l, en(errno));
        } else {
            char buf[8] = {0};
            memcpy(p, i ? "second" : "first", i ? 7 : 6);
            MUST(msync(p, 4096, MS_SYNC));
            MUST(pread(rw, buf, sizeof buf - 1, 0));
            printf("%s: %s\n", l, buf);
            snprintf(l, sizeof l, "shared writable %d name", i);
            show_maps_name(l, p, 1); /* (the work directory's path is the test's) */
            munmap(p, 4096);
        }
        close(rw);
    }

    /* a fd inherited across an exec, mapped by the new program */
    for (int i = 0; i < 2; i++)
        close(open("/bin/true", O_RDONLY));
    int keep = open("/bin/true", O_RDONLY);
    MUST(keep);
    map_show("before exec", keep, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0);
    char num[16];
    snprintf(num, sizeof num, "%d", keep);
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], argv[1], "exec", num, (char *)NULL);
        _exit(98);
    }
    MUST(waitpid(pid, &st, 0));
    T("exec'd child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return 0;
}
