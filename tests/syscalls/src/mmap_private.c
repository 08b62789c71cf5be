/* mmap_private.c -- MAP_PRIVATE file mappings: copy-on-write (the process's
 * stores never reach the file, nor another mapping or process), pages not yet
 * written show later writes to the file, a private PROT_WRITE mapping through a
 * read-only fd (and no shared writable one), zeros after the end of the file
 * and SIGBUS past its last page, the program's own file (served by the gofer in
 * the sandbox), a forked child mapping the same file, ETXTBSY for the running
 * program, names in /proc/self/maps. */
#include "check.h"
#include <fcntl.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

static sigjmp_buf jb;

static void on_bus(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

/* whether /proc/self/maps has a line starting at addr naming a file ending in suffix */
static int maps_names(void *addr, const char *suffix)
{
    char want[32], line[512];
    snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        line[strcspn(line, "\n")] = 0;
        size_t n = strlen(line), k = strlen(suffix);
        found = n >= k && strcmp(line + n - k, suffix) == 0;
    }
    fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    char buf[4096];

    /* the program's own file, read-only */
    int self = open(argv[0], O_RDONLY);
    MUST(self);
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, self, 0);
    T("private rw map of a read-only fd", m != MAP_FAILED);
    if (m == MAP_FAILED)
        return 1;
    T("maps the ELF header", memcmp(m, "\177ELF", 4) == 0);
    m[0] = 'X';
    T("store seen in the mapping", m[0] == 'X');
    R("pread", pread(self, buf, 4, 0));
    T("file unchanged", memcmp(buf, "\177ELF", 4) == 0);
    char *m2 = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, self, 0);
    T("second mapping unchanged", m2 != MAP_FAILED && m2[0] == 0x7f);
    T("maps names the program", maps_names(m, strrchr(argv[0], '/')));
    errno = 0;
    void *sw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self, 0);
    printf("shared rw map of a read-only fd: %s\n", sw == MAP_FAILED ? en(errno) : "mapped");
    char *sr = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self, 0);
    T("shared ro map", sr != MAP_FAILED);
    R("mprotect it writable", mprotect(sr, 4096, PROT_READ | PROT_WRITE));
    R("open the running program for writing", open(argv[0], O_WRONLY));

    /* a child maps the same file and writes; the parent's mappings keep the file */
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        char *cm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, self, 0);
        if (cm == MAP_FAILED || cm[1] != 'E')
            _exit(3);
        cm[1] = 'Y';
        m[1] = 'Z'; /* the parent's mapping, copied at fork */
        _exit(cm[1] == 'Y' && m[0] == 'X' ? 0 : 4);
    }
    int st;
    MUST(waitpid(c, &st, 0));
    R("child status", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    T("parent mapping kept its own store", m[0] == 'X' && m[1] == 'E');
    T("second mapping still the file", m2[0] == 0x7f && m2[1] == 'E');
    char *m3 = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, self, 0);
    T("new mapping is the file", m3 != MAP_FAILED && memcmp(m3, "\177ELF", 4) == 0);

    /* a file the program writes */
    int fd = open("private_file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    MUST(fd);
    memset(buf, 'A', sizeof buf);
    MUST(write(fd, buf, 4096));
    MUST(write(fd, buf, 4096));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    T("private map of a rw file", p != MAP_FAILED);
    if (p == MAP_FAILED)
        return 1;
    p[4096] = 'C';
    R("pwrite page 0", pwrite(fd, "BBBB", 4, 0));
    T("unwritten page shows the write", p[0] == 'B');
    R("pwrite page 1", pwrite(fd, "DDDD", 4, 4096));
    T("written page keeps its own", p[4096] == 'C');
    R("pread page 1", pread(fd, buf, 4, 4096));
    T("file has the pwrite, not the store", memcmp(buf, "DDDD", 4) == 0);
    T("maps names the file", maps_names(p, "/private_file"));

    /* past the end of the file */
    MUST(ftruncate(fd, 100));
    char *e = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    T("map past the end", e != MAP_FAILED);
    int zeros = 1;
    for (int i = 100; i < 4096; i++)
        zeros &= e[i] == 0;
    T("zeros after the end in the last page", zeros);
    set_handler(SIGBUS, on_bus, 0);
    volatile int bus = 0;
    if (sigsetjmp(jb, 1) == 0) {
        volatile char x = e[4096];
        (void)x;
    } else {
        bus = 1;
    }
    T("SIGBUS past the last page", bus);

    /* errors */
    R("length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0);
    R("unaligned offset", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 1) == MAP_FAILED ? -1 : 0);
    R("bad fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED ? -1 : 0);
    int wo = open("private_file", O_WRONLY);
    MUST(wo);
    R("write-only fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wo, 0) == MAP_FAILED ? -1 : 0);
    int pfd[2];
    MUST(pipe(pfd));
    R("pipe", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, pfd[0], 0) == MAP_FAILED ? -1 : 0);
    return 0;
}
