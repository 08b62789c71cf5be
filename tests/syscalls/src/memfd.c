/* memfd.c -- memfd_create(2) and file seals (fcntl F_ADD_SEALS/F_GET_SEALS):
 * MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL/MFD_EXEC, each seal against write, pwrite,
 * writev, ftruncate, fallocate, chmod and mmap; F_SEAL_WRITE against writable
 * shared mappings (EBUSY, also one held by another process); mappings that
 * try to get around a seal (mprotect, a read-only fd's mapping, MADV_REMOVE);
 * seals of files that are not memfds. */
#include "check.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define PG 4096

static long seals(int fd) { return fcntl(fd, F_GET_SEALS); }
static long add(int fd, int s) { return fcntl(fd, F_ADD_SEALS, s); }

static long map_ok(void *p) { return p == MAP_FAILED ? -1 : 0; }

static int mode_of(int fd)
{
    struct stat st;
    MUST(fstat(fd, &st));
    return st.st_mode & 07777;
}

static long size_of(int fd)
{
    struct stat st;
    MUST(fstat(fd, &st));
    return st.st_size;
}

/* a read-only description of the same file, as /proc/self/fd gives it */
static int reopen(int fd, int flags)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return open(p, flags);
}

/* a name unique to this run's work directory (the same natively and in the sandbox) */
static unsigned long path_hash(const char *s)
{
    unsigned long h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    unsigned long run_id = path_hash(argv[1]);
    char buf[3 * PG];
    memset(buf, 'b', sizeof buf);

    /* without MFD_ALLOW_SEALING: F_SEAL_SEAL, nothing more */
    int plain = memfd_create("plain", 0);
    MUST(plain);
    struct stat pst;
    MUST(fstat(plain, &pst));
    R("plain links", pst.st_nlink); /* never linked: 0 */
    R("plain seals", seals(plain));
    R("plain add write", add(plain, F_SEAL_WRITE));
    R("plain add none", add(plain, 0));
    printf("plain mode: %o\n", mode_of(plain));

    /* flags */
    R("exec|noexec_seal", memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL));
    R("unknown flag", memfd_create("x", 0x100));
    int ex = memfd_create("ex", MFD_EXEC | MFD_ALLOW_SEALING);
    MUST(ex);
    R("exec seals", seals(ex));
    printf("exec mode: %o\n", mode_of(ex));

    /* MFD_NOEXEC_SEAL: 0666, F_SEAL_EXEC, and further seals allowed */
    int nx = memfd_create("nx", MFD_NOEXEC_SEAL);
    MUST(nx);
    R("noexec seals", seals(nx));
    printf("noexec mode: %o\n", mode_of(nx));
    R("noexec chmod +x", fchmod(nx, 0755));
    R("noexec chmod 0644", fchmod(nx, 0644));
    printf("noexec mode after: %o\n", mode_of(nx));
    R("noexec add grow", add(nx, F_SEAL_GROW));
    R("noexec seals after", seals(nx));

    /* F_SEAL_EXEC on an executable memfd also seals writing */
    R("exec add exec", add(ex, F_SEAL_EXEC));
    R("exec seals after", seals(ex));
    R("exec write", write(ex, "x", 1));
    R("exec chmod", fchmod(ex, 0666));
    int ex2 = memfd_create("ex2", MFD_ALLOW_SEALING);
    MUST(ex2);
    MUST(ftruncate(ex2, PG));
    char *exm = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ex2, 0);
    R("exec seal, writable mapping", add(ex2, F_SEAL_EXEC));
    R("exec seal refused: seals", seals(ex2));
    MUST(munmap(exm, PG));

    /* MFD_ALLOW_SEALING */
    int s = memfd_create("s", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    MUST(s);
    R("sealable seals", seals(s));
    R("add unknown seal", add(s, 0x40));
    R("add none", add(s, 0));
    R("fd cloexec", fcntl(s, F_GETFD));

    /* F_SEAL_GROW: growth stops at the first page that would grow the file */
    MUST(ftruncate(s, 5000));
    R("add grow", add(s, F_SEAL_GROW));
    R("grow: pwrite inside", pwrite(s, "abc", 3, 10));
    R("grow: pwrite past end", pwrite(s, buf, 20, 4990));
    R("grow: pwrite 8000 at 0", pwrite(s, buf, 8000, 0));
    R("grow: pwrite 8000 at 100", pwrite(s, buf, 8000, 100));
    MUST(lseek(s, 0, SEEK_END));
    R("grow: append", write(s, "x", 1));
    R("grow: ftruncate up", ftruncate(s, 6000));
    R("grow: ftruncate down", ftruncate(s, 4500));
    R("grow: ftruncate same", ftruncate(s, 4500));
    R("grow: fallocate past end", fallocate(s, 0, 0, 10000));
    R("grow: fallocate keep_size past end", fallocate(s, FALLOC_FL_KEEP_SIZE, 0, 10000));
    R("grow: fallocate inside", fallocate(s, 0, 0, 100));
    R("grow: size", size_of(s));

    /* F_SEAL_SHRINK */
    R("add shrink", add(s, F_SEAL_SHRINK));
    R("shrink: ftruncate down", ftruncate(s, 100));
    R("shrink: punch hole", fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2));
    R("shrink: seals", seals(s));

    /* F_SEAL_WRITE */
    MUST(pwrite(s, "hello", 5, 0));
    R("add write", add(s, F_SEAL_WRITE));
    R("write: write", write(s, "x", 1));
    R("write: write 0 bytes", write(s, "x", 0));
    R("write: pwrite", pwrite(s, "x", 1, 0));
    struct iovec iov = {"xy", 2};
    R("write: writev", writev(s, &iov, 1));
    R("write: punch hole", fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2));
    char *m;
    R("write: mmap shared rw",
      map_ok(m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0)));
    R("write: mmap shared ro", map_ok(m = mmap(NULL, PG, PROT_READ, MAP_SHARED, s, 0)));
    R("write: mprotect shared to rw", mprotect(m, PG, PROT_READ | PROT_WRITE));
    R("write: madvise remove", madvise(m, PG, MADV_REMOVE));
    printf("write: mapping reads: %.5s\n", m);
    char *pm;
    R("write: mmap private rw",
      map_ok(pm = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, s, 0)));
    pm[0] = 'P';
    char got[8] = {0};
    R("write: pread", pread(s, got, 5, 0));
    printf("write: file still: %s\n", got);
    R("add seal", add(s, F_SEAL_SEAL));
    R("sealed: add more", add(s, F_SEAL_FUTURE_WRITE));
    R("sealed: add none", add(s, 0));
    R("sealed: seals", seals(s));

    /* F_SEAL_WRITE needs no writable shared mapping anywhere: EBUSY */
    int w = memfd_create("w", MFD_ALLOW_SEALING);
    MUST(w);
    MUST(ftruncate(w, PG));
    char *wm = mmap(NULL, PG, PROT_READ, MAP_SHARED, w, 0);
    R("read-only map of rw fd: add write", add(w, F_SEAL_WRITE));
    MUST(munmap(wm, PG));
    wm = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, w, 0);
    R("private map: add write", add(w, F_SEAL_WRITE));
    R("private map: seals", seals(w));
    MUST(munmap(wm, PG));

    int w2 = memfd_create("w2", MFD_ALLOW_SEALING);
    MUST(w2);
    MUST(ftruncate(w2, PG));
    int pfd[2], qfd[2];
    MUST(pipe(pfd));
    MUST(pipe(qfd));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        char *cm = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, w2, 0);
        if (cm != MAP_FAILED)
            strcpy(cm, "child");
        MUST(write(pfd[1], "m", 1));
        char x;
        MUST(read(qfd[0], &x, 1));
        _exit(0);
    }
    char x;
    MUST(read(pfd[0], &x, 1));
    R("child's rw mapping: add write", add(w2, F_SEAL_WRITE));
    MUST(write(qfd[1], "q", 1));
    waitpid(c, NULL, 0);
    R("child gone: add write", add(w2, F_SEAL_WRITE));
    memset(got, 0, sizeof got);
    MUST(pread(w2, got, 5, 0));
    printf("child wrote: %s\n", got);

    /* F_SEAL_FUTURE_WRITE: a mapping made before keeps writing, nothing new can */
    int fw = memfd_create("fw", MFD_ALLOW_SEALING);
    MUST(fw);
    MUST(ftruncate(fw, PG));
    char *old;
    R("future_write: old mapping",
      map_ok(old = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0)));
    R("add future_write", add(fw, F_SEAL_FUTURE_WRITE));
    strcpy(old, "still");
    memset(got, 0, sizeof got);
    R("future_write: pread", pread(fw, got, 5, 0));
    printf("future_write: old mapping wrote: %s\n", got);
    R("future_write: write", write(fw, "x", 1));
    R("future_write: ftruncate", ftruncate(fw, 2 * PG));
    R("future_write: mmap shared rw", map_ok(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED,
                                                  fw, 0)));
    char *nm;
    R("future_write: mmap shared ro", map_ok(nm = mmap(NULL, PG, PROT_READ, MAP_SHARED, fw, 0)));
    R("future_write: mprotect to rw", mprotect(nm, PG, PROT_READ | PROT_WRITE));
    R("future_write: madvise remove on old", madvise(old, PG, MADV_REMOVE));
    R("future_write: add write (old mapping)", add(fw, F_SEAL_WRITE));
    MUST(munmap(old, PG));
    R("future_write: add write (unmapped)", add(fw, F_SEAL_WRITE));
    R("future_write: seals", seals(fw));

    /* a read-only description: seals readable, not addable; its mapping stays read-only */
    int u = memfd_create("u", MFD_ALLOW_SEALING);
    MUST(u);
    MUST(ftruncate(u, PG));
    MUST(pwrite(u, "orig", 4, 0));
    int ro = reopen(u, O_RDONLY);
    MUST(ro);
    R("ro: seals", seals(ro));
    R("ro: add write", add(ro, F_SEAL_WRITE));
    R("ro: add unknown", add(ro, 0x40));
    R("ro: write", write(ro, "x", 1));
    R("ro: mmap shared rw", map_ok(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0)));
    char *rm;
    R("ro: mmap shared ro", map_ok(rm = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0)));
    R("ro: mprotect to rw", mprotect(rm, PG, PROT_READ | PROT_WRITE));
    R("ro map: add write", add(u, F_SEAL_WRITE));
    memset(got, 0, sizeof got);
    MUST(pread(u, got, 4, 0));
    printf("ro: file: %s\n", got);
    int rw = reopen(u, O_RDWR);
    MUST(rw);
    R("reopened rw: add shrink", add(rw, F_SEAL_SHRINK));
    R("reopened rw: seals of first", seals(u));

    /* seals of other files */
    int reg = open("regular", O_RDWR | O_CREAT, 0600);
    MUST(reg);
    R("regular file: seals", seals(reg));
    R("regular file: add", add(reg, F_SEAL_WRITE));
    int regro = open("regular", O_RDONLY);
    MUST(regro);
    R("regular file ro: add", add(regro, F_SEAL_WRITE));
    R("regular file ro: add unknown", add(regro, 0x40));
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/memfd-test-%lx", run_id);
    int sh = open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
    MUST(sh);
    MUST(unlink(shm));
    R("tmpfs file: seals", seals(sh));
    R("tmpfs file: add", add(sh, F_SEAL_WRITE));
    MUST(ftruncate(sh, PG));
    int shro = reopen(sh, O_RDONLY);
    MUST(shro);
    char *shm_m;
    R("tmpfs file ro: mmap shared ro",
      map_ok(shm_m = mmap(NULL, PG, PROT_READ, MAP_SHARED, shro, 0)));
    R("tmpfs file ro: mprotect to rw", mprotect(shm_m, PG, PROT_READ | PROT_WRITE));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    MUST(dir);
    R("directory: seals", seals(dir));
    int p[2];
    MUST(pipe(p));
    R("pipe: seals", seals(p[0]));
    R("pipe: add", add(p[1], F_SEAL_WRITE));
    int path = open("regular", O_PATH);
    MUST(path);
    R("O_PATH: seals", seals(path));
    return 0;
}
