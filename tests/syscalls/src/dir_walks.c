/* dir_walks.c -- tree walks of directories the sandbox cannot change by itself (the host's
 * /usr/share/doc and /usr/lib: the read-only lower layer), which the C fast path opens,
 * reads and closes itself once a listing or a tree walk's fetch brought them: walks by
 * absolute and relative paths with buffers of several sizes, each twice, and one that
 * statx'es every entry and asks for its SELinux label and ACL as ls -l does (their
 * answers then come from C as well), and fts's way (find, du, tar: openat and fstatat
 * relative to a directory's fd and a dup of it); then what a
 * program may do with such a directory's fd after the open: fstat, a partial read then
 * lseek, dup, fork, fcntl, fchdir, openat beneath it, /proc/self/fd, read, bad buffers,
 * the lowest free fd around other fds and RLIMIT_NOFILE, a change made elsewhere.
 * Usage: dir_walks WORKDIR */
#include "check.h"
#include "dirent64.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

static long gd(int fd, void *buf, size_t n)
{
    return syscall(SYS_getdents64, fd, buf, n);
}

/* A walk's account: entries, directories, a digest of every "path/name/type" (summed,
 * so the order of the directories' entries does not matter), entries whose d_ino is not
 * their lstat's, and errors. */
struct walk {
    long entries, dirs, bad_ino, errors;
    unsigned long sum;
};

static unsigned long hash(const char *dir, const char *name, unsigned type)
{
    unsigned long h = 5381;
    for (const char *c = dir; *c; c++)
        h = h * 33 + (unsigned char)*c;
    h = h * 33 + '/';
    for (const char *c = name; *c; c++)
        h = h * 33 + (unsigned char)*c;
    return h * 33 + type;
}

/* Count a record of dir's in w; 0 for "." and "..", which are no entries */
static int account(struct walk *w, const char *dir, const struct linux_dirent64 *d)
{
    if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
        return 0;
    w->entries++;
    w->sum += hash(dir, d->d_name, d->d_type);
    return 1;
}

/* statx instead of lstat for each entry (coreutils' ls does): its answers must be lstat's */
static int use_statx;

static int entry_ino(const char *p, unsigned long long *ino)
{
    struct stat st;
    if (!use_statx) {
        if (lstat(p, &st) < 0)
            return -1;
        *ino = st.st_ino;
        return 0;
    }
    struct statx sx;
    char value[256];
    if (statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0 || lstat(p, &st) < 0)
        return -1;
    /* and the attributes ls -l asks for: none (ENODATA) */
    if (lgetxattr(p, "security.selinux", value, sizeof value) >= 0 || errno != ENODATA
        || getxattr(p, "system.posix_acl_access", NULL, 0) >= 0 || errno != ENODATA)
        return -1;
    if (sx.stx_ino != st.st_ino || sx.stx_mode != st.st_mode
        || sx.stx_size != (unsigned long long)st.st_size || sx.stx_nlink != st.st_nlink
        || sx.stx_mtime.tv_sec != st.st_mtim.tv_sec
        || sx.stx_mtime.tv_nsec != (unsigned)st.st_mtim.tv_nsec || sx.stx_uid != st.st_uid
        || !(sx.stx_mask & STATX_INO))
        return -1;
    *ino = sx.stx_ino;
    return 0;
}

static void walk(const char *dir, size_t bufsize, struct walk *w)
{
    char buf[32768];
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        w->errors++;
        return;
    }
    w->dirs++;
    char *subs[4096];
    int nsubs = 0;
    long r;
    while ((r = gd(fd, buf, bufsize)) > 0) {
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            off += d->d_reclen;
            if (!account(w, dir, d))
                continue;
            char p[4096];
            unsigned long long ino;
            snprintf(p, sizeof p, "%s/%s", dir, d->d_name);
            if (entry_ino(p, &ino) < 0 || ino != d->d_ino)
                w->bad_ino++;
            if (d->d_type == DT_DIR && nsubs < 4096)
                subs[nsubs++] = strdup(p);
        }
    }
    if (r < 0)
        w->errors++;
    close(fd);
    for (int i = 0; i < nsubs; i++) {
        walk(subs[i], bufsize, w);
        free(subs[i]);
    }
}

/* fts's way (find, du, tar): each directory opened relative to its parent's fd, read
 * through that fd, its entries stat'ed relative to a dup of it */
static void walk_at(int parent, const char *name, const char *dir, struct walk *w)
{
    char buf[32768];
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        w->errors++;
        return;
    }
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    w->dirs++;
    char *subs[4096];
    int nsubs = 0;
    long r;
    while ((r = gd(fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            off += d->d_reclen;
            if (!account(w, dir, d))
                continue;
            struct stat st;
            if (fstatat(dup_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_ino != d->d_ino)
                w->bad_ino++;
            if (d->d_type == DT_DIR && nsubs < 4096)
                subs[nsubs++] = strdup(d->d_name);
        }
    }
    if (r < 0 || dup_fd < 0)
        w->errors++;
    for (int i = 0; i < nsubs; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
        walk_at(fd, subs[i], p, w);
        free(subs[i]);
    }
    close(dup_fd);
    close(fd);
}

static void report(const char *label, const char *dir, size_t bufsize)
{
    struct walk a = {0}, b = {0};
    char l[256];
    walk(dir, bufsize ? bufsize : 8192, &a);  /* 0: the second walk is fts's */
    if (bufsize)
        walk(dir, bufsize, &b);
    else
        walk_at(AT_FDCWD, dir, dir, &b);
    snprintf(l, sizeof l, "%s: entries", label);
    R(l, a.entries);
    snprintf(l, sizeof l, "%s: directories", label);
    R(l, a.dirs);
    snprintf(l, sizeof l, "%s: digest", label);
    printf("%s: %lx\n", l, a.sum);
    snprintf(l, sizeof l, "%s: d_ino is lstat's", label);
    T(l, a.bad_ino == 0);
    snprintf(l, sizeof l, "%s: errors", label);
    R(l, a.errors);
    snprintf(l, sizeof l, "%s: again the same", label);
    T(l, a.entries == b.entries && a.dirs == b.dirs && a.sum == b.sum && !b.bad_ino
             && !b.errors);
}

/* Entries left to read in fd (a whole read from where it is) */
static long rest_of(int fd)
{
    char buf[32768];
    long r, n = 0;
    while ((r = gd(fd, buf, sizeof buf)) > 0)
        for (long off = 0; off < r; n++)
            off += ((struct linux_dirent64 *)(buf + off))->d_reclen;
    return r < 0 ? r : n;
}

/* Entries of the first read of n bytes */
static long first_of(int fd, size_t n)
{
    char buf[32768];
    long r = gd(fd, buf, n), c = 0;
    if (r < 0)
        return r;
    for (long off = 0; off < r; c++)
        off += ((struct linux_dirent64 *)(buf + off))->d_reclen;
    return c;
}

int main(int argc, char **argv)
{
    const char *work = argc > 1 ? argv[1] : ".";
    const char *doc = "/usr/share/doc";
    char buf[4096];
    int fd, fd2;

    setvbuf(stdout, NULL, _IOLBF, 0);
    report("doc 32k", doc, 32768);
    report("doc 4k", doc, 4096);
    report("doc 600", doc, 600);
    report("lib python 8k", "/usr/lib/python3.11/email", 8192);
    MUST(chdir("/usr/share"));
    report("relative doc", "doc", 8192);
    MUST(chdir(work));
    use_statx = 1;
    report("doc with statx", doc, 8192);
    use_statx = 0;
    report("doc relative to fds, as fts", doc, 0);

    /* a directory the walks listed: what a program may do with its fd */
    char dir[4096] = "";
    {
        int d;
        MUST(d = open(doc, O_RDONLY | O_DIRECTORY));
        long r;
        while (!*dir && (r = gd(d, buf, sizeof buf)) > 0)
            for (long off = 0; off < r;) {
                struct linux_dirent64 *e = (void *)(buf + off);
                off += e->d_reclen;
                char p[4096];
                struct stat st;
                snprintf(p, sizeof p, "%s/%s", doc, e->d_name);
                /* one with a few entries: the tests below read part of it */
                if (e->d_type == DT_DIR && e->d_name[0] != '.' && !stat(p, &st)
                    && st.st_nlink >= 2) {
                    int f = open(p, O_RDONLY | O_DIRECTORY);
                    if (f >= 0) {
                        if (rest_of(f) >= 6)
                            snprintf(dir, sizeof dir, "%s", p);
                        close(f);
                    }
                }
            }
        close(d);
    }
    T("picked a directory", *dir);
    MUST(fd = open(dir, O_RDONLY | O_DIRECTORY));
    long total = rest_of(fd);
    close(fd);
    R("its entries", total);

    struct stat a, b;
    MUST(fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    OK("fstat", fstat(fd, &a));
    OK("stat", stat(dir, &b));
    T("fstat is stat's", a.st_ino == b.st_ino && a.st_mode == b.st_mode && a.st_dev == b.st_dev
                              && a.st_nlink == b.st_nlink && a.st_uid == b.st_uid
                              && a.st_size == b.st_size && a.st_mtime == b.st_mtime);
    R("F_GETFD", fcntl(fd, F_GETFD));
    R("F_GETFL", fcntl(fd, F_GETFL) & ~0100000 /* O_LARGEFILE: not on every build */);
    R("read", read(fd, buf, sizeof buf));
    R("count 10", gd(fd, buf, 10));
    R("unmapped buffer", gd(fd, (void *)1, sizeof buf));
    T("a first part", first_of(fd, 3 * 24) > 0);
    R("lseek 0", lseek(fd, 0, SEEK_SET));
    T("then everything", rest_of(fd) == total);
    R("then 0", gd(fd, buf, sizeof buf));
    close(fd);

    MUST(fd = open(dir, O_RDONLY | O_DIRECTORY));
    long part = first_of(fd, 3 * 24);
    T("a first part", part > 0);
    MUST(fd2 = dup(fd));
    T("dup shares the offset", part + rest_of(fd2) == total);
    R("the dup'd fd at its end", gd(fd, buf, sizeof buf));
    close(fd2);
    close(fd);

    /* fcntl's dup (fts's): a second fd sharing the offset, its own close-on-exec */
    MUST(fd = open(dir, O_RDONLY | O_DIRECTORY));
    part = first_of(fd, 3 * 24);
    R("F_DUPFD_CLOEXEC from 10", fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 10));
    R("its F_GETFD", fcntl(fd2, F_GETFD));
    R("the original's F_GETFD", fcntl(fd, F_GETFD));
    R("F_SETFD on the dup", fcntl(fd2, F_SETFD, 0));
    R("its F_GETFD then", fcntl(fd2, F_GETFD));
    R("F_GETFL of the dup", fcntl(fd2, F_GETFL) & ~0100000);
    T("F_DUPFD shares the offset", part + rest_of(fd2) == total);
    R("the original at its end", gd(fd, buf, sizeof buf));
    close(fd2);
    close(fd);

    int p[2];
    MUST(pipe(p));
    MUST(fd = open(dir, O_RDONLY | O_DIRECTORY));
    part = first_of(fd, 3 * 24);
    pid_t pid = fork();
    if (pid == 0) {
        long c = rest_of(fd);
        (void)!write(p[1], &c, sizeof c);
        _exit(0);
    }
    long child = -1;
    MUST(read(p[0], &child, sizeof child));
    waitpid(pid, NULL, 0);
    T("fork shares the offset", part + child == total);
    R("the parent at the end", gd(fd, buf, sizeof buf));
    close(fd);
    close(p[0]);
    close(p[1]);

    /* the lowest free fd, around fds Python and C opened */
    int f1, f2, f3, pp[2];
    R("open 1", f1 = open(dir, O_RDONLY | O_DIRECTORY));
    R("open 2", f2 = open(doc, O_RDONLY | O_DIRECTORY));
    MUST(pipe(pp));
    R("pipe", pp[0]);
    R("open 3", f3 = open(dir, O_RDONLY | O_DIRECTORY));
    R("close 2", close(f2));
    R("reopen takes 2's", open(dir, O_RDONLY | O_DIRECTORY));
    R("close pipe read end", close(pp[0]));
    R("then the pipe's", open(dir, O_RDONLY | O_DIRECTORY));
    R("dup2 over a directory", dup2(pp[1], f3));
    R("close 1", close(f1));
    R("close 1 again", close(f1));
    char link[4096], want[4096];
    snprintf(want, sizeof want, "/proc/self/fd/%d", f2);
    ssize_t n = readlink(want, link, sizeof link - 1);
    T("/proc/self/fd names it", n > 0 && (link[n] = 0, !strcmp(link, dir)));

    /* beneath its fd: openat, fchdir */
    MUST(fd = open(doc, O_RDONLY | O_DIRECTORY));
    const char *base = dir + strlen(doc) + 1;
    OK("openat beneath", fd2 = openat(fd, base, O_RDONLY | O_DIRECTORY));
    T("openat beneath reads it", fd2 >= 0 && rest_of(fd2) == total);
    close(fd2);
    OK("fchdir", fchdir(fd));
    OK("relative open after fchdir", fd2 = open(base, O_RDONLY | O_DIRECTORY));
    T("and it reads", fd2 >= 0 && rest_of(fd2) == total);
    close(fd2);
    close(fd);
    MUST(chdir(work));

    /* other flags: a write open, O_PATH, a trailing slash, a file as a directory */
    R("O_WRONLY", open(dir, O_WRONLY));
    OK("O_PATH", fd = open(dir, O_PATH | O_DIRECTORY));
    R("O_PATH getdents", gd(fd, buf, sizeof buf));
    close(fd);
    char slash[4200];
    snprintf(slash, sizeof slash, "%s/", dir);
    OK("trailing slash", fd = open(slash, O_RDONLY | O_DIRECTORY));
    T("trailing slash reads it", fd >= 0 && rest_of(fd) == total);
    close(fd);
    R("a file with O_DIRECTORY", open("/usr/share/doc/../../bin/sh", O_RDONLY | O_DIRECTORY));

    /* RLIMIT_NOFILE: as many as fit below it */
    struct rlimit old, lim;
    MUST(getrlimit(RLIMIT_NOFILE, &old));
    lim = old;
    lim.rlim_cur = 16;
    MUST(setrlimit(RLIMIT_NOFILE, &lim));
    int opened = 0, last = 0, e = 0;
    for (int i = 0; i < 32; i++) {
        int f = open(dir, O_RDONLY | O_DIRECTORY);
        if (f < 0) {
            e = errno;
            break;
        }
        last = f;
        opened++;
    }
    R("opened below the limit", opened);
    R("the last fd", last);
    printf("then: %s\n", en(e));
    for (int f = 3; f <= last; f++)
        close(f);
    MUST(setrlimit(RLIMIT_NOFILE, &old));

    /* a change the sandbox makes elsewhere between two walks */
    char made[4200];
    snprintf(made, sizeof made, "%s/made", work);
    OK("mkdir elsewhere", mkdir(made, 0755));
    report("doc after a change", doc, 8192);
    return 0;
}
