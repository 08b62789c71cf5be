/* dir_reads.c -- getdents64 of directories the sandbox cannot change by itself (the
 * host's /usr/bin and /etc: the read-only lower layer, whose listings pre-fill the C
 * fast path's stat answers): several calls a listing, buffers too small or unmapped,
 * offsets shared by dup and fork, lseek to 0 and to a d_off, the end, a change elsewhere
 * in the middle of a listing, and O_PATH; then stat, lstat, readlink and access of every
 * entry of a listed directory (files, symlinks to siblings and to elsewhere, directories).
 * Usage: dir_reads WORKDIR */
#include "check.h"
#include "dirent64.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define MAXN 8192
static char *names[MAXN];
static int nnames;

static void forget(void)
{
    for (int i = 0; i < nnames; i++)
        free(names[i]);
    nnames = 0;
}

static long gd(int fd, char *buf, size_t n)
{
    return syscall(SYS_getdents64, fd, buf, n);
}

/* Read fd to its end with buf of size n, keeping "name/type" of each entry; the number
 * of entries, or -errno. Each entry's d_ino must be its lstat's (checked: *ino_ok). */
static long read_all(int fd, size_t n, const char *dir, int *ino_ok)
{
    char buf[32768];
    long r, count = 0;
    while ((r = gd(fd, buf, n)) > 0) {
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            if (nnames < MAXN && asprintf(&names[nnames], "%s/%u", d->d_name, d->d_type) > 0)
                nnames++;
            if (ino_ok && strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
                char p[4096];
                struct stat st;
                snprintf(p, sizeof p, "%s/%s", dir, d->d_name);
                if (lstat(p, &st) < 0 || st.st_ino != d->d_ino)
                    *ino_ok = 0;
            }
            off += d->d_reclen;
            count++;
        }
    }
    return r < 0 ? -errno : count;
}

/* a digest of the sorted names: equal natively and in the sandbox */
static unsigned long digest(void)
{
    unsigned long h = 5381;
    qsort(names, nnames, sizeof names[0], cmpstr);
    for (int i = 0; i < nnames; i++) {
        if (i && !strcmp(names[i], names[i - 1]))
            h = h * 33 + 7; /* a name read twice */
        for (const char *c = names[i]; *c; c++)
            h = h * 33 + (unsigned char)*c;
    }
    return h;
}

static void whole(const char *label, const char *dir, size_t n)
{
    int fd, ok = 1;
    char l[128];
    MUST(fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    forget();
    long c = read_all(fd, n, dir, &ok);
    snprintf(l, sizeof l, "%s entries", label);
    T(l, c > 2);
    snprintf(l, sizeof l, "%s digest", label);
    printf("%s: %lx\n", l, digest());
    snprintf(l, sizeof l, "%s d_ino is lstat's", label);
    T(l, ok);
    snprintf(l, sizeof l, "%s then 0", label);
    char buf[4096];
    R(l, gd(fd, buf, sizeof buf));
    R(l, gd(fd, buf, sizeof buf));
    close(fd);
}

int main(int argc, char **argv)
{
    const char *work = argc > 1 ? argv[1] : ".";
    char buf[4096];
    int fd, fd2;

    setvbuf(stdout, NULL, _IOLBF, 0);
    whole("/usr/bin 32k", "/usr/bin", 32768);
    whole("/usr/bin 1k", "/usr/bin", 1024);
    whole("/etc 600", "/etc", 600);
    unsigned long full;
    long total;
    MUST(fd = open("/usr/bin", O_RDONLY | O_DIRECTORY));
    forget();
    total = read_all(fd, sizeof buf, "", NULL);
    full = digest();
    close(fd);

    /* too small for one entry, or nothing; an unmapped buffer; the offset stays */
    MUST(fd = open("/usr/bin", O_RDONLY | O_DIRECTORY));
    R("count 10", gd(fd, buf, 10));
    R("count 0", gd(fd, buf, 0));
    R("unmapped buffer", gd(fd, (char *)1, sizeof buf));
    forget();
    T("then everything", read_all(fd, sizeof buf, "", NULL) == total && digest() == full);
    close(fd);

    /* dup and fork share the offset */
    MUST(fd = open("/usr/bin", O_RDONLY | O_DIRECTORY));
    MUST(fd2 = dup(fd));
    forget();
    long part = gd(fd, buf, 1024);
    long first = 0;
    for (long off = 0; off < part; first++) {
        struct linux_dirent64 *d = (void *)(buf + off);
        if (nnames < MAXN && asprintf(&names[nnames], "%s/%u", d->d_name, d->d_type) > 0)
            nnames++;
        off += d->d_reclen;
    }
    long rest = read_all(fd2, sizeof buf, "", NULL);
    T("dup shares the offset", first + rest == total && digest() == full);
    close(fd2);
    R("dup'd fd at its end too", gd(fd, buf, sizeof buf));
    close(fd);

    int p[2];
    MUST(pipe(p));
    MUST(fd = open("/usr/bin", O_RDONLY | O_DIRECTORY));
    pid_t pid = fork();
    if (pid == 0) {
        forget();
        long c = read_all(fd, 1024, "", NULL);
        (void)!write(p[1], &c, sizeof c);
        _exit(0);
    }
    long child;
    MUST(read(p[0], &child, sizeof child));
    waitpid(pid, NULL, 0);
    forget();
    T("fork shares the offset (parent at the end)", read_all(fd, 1024, "", NULL) == 0);
    T("fork: the child read it all", child == total);

    /* lseek: back to 0, to a d_off, past the end */
    R("lseek 0", lseek(fd, 0, SEEK_SET));
    forget();
    T("rewound: everything again", read_all(fd, sizeof buf, "", NULL) == total && digest() == full);
    R("lseek 0 again", lseek(fd, 0, SEEK_SET));
    long r = gd(fd, buf, sizeof buf);
    struct linux_dirent64 *d3 = NULL;
    long off = 0;
    for (int i = 0; off < r && i < 3; i++) {
        d3 = (void *)(buf + off);
        off += d3->d_reclen;
    }
    char after[512] = "", again[512] = "";
    if (off < r)
        snprintf(after, sizeof after, "%s", ((struct linux_dirent64 *)(buf + off))->d_name);
    T("lseek to a d_off", d3 && lseek(fd, d3->d_off, SEEK_SET) == d3->d_off);
    r = gd(fd, buf, sizeof buf);
    if (r > 0)
        snprintf(again, sizeof again, "%s", ((struct linux_dirent64 *)buf)->d_name);
    T("reads on from the next entry", r > 0 && *after && !strcmp(after, again));
    close(fd);

    /* a change made by the sandbox in the middle of a listing (elsewhere): the rest
     * of the listing is the same */
    MUST(fd = open("/usr/bin", O_RDONLY | O_DIRECTORY));
    forget();
    part = gd(fd, buf, 2048);
    first = 0;
    for (long o = 0; o < part; first++) {
        struct linux_dirent64 *d = (void *)(buf + o);
        if (nnames < MAXN && asprintf(&names[nnames], "%s/%u", d->d_name, d->d_type) > 0)
            nnames++;
        o += d->d_reclen;
    }
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/made", work);
    OK("mkdir elsewhere", mkdir(sub, 0755));
    rest = read_all(fd, sizeof buf, "", NULL);
    T("the rest after a change", first + rest == total && digest() == full);
    close(fd);

    /* the work directory itself: empty, then with what was made in it */
    MUST(fd = open(work, O_RDONLY | O_DIRECTORY));
    forget();
    R("work dir entries", read_all(fd, sizeof buf, "", NULL));
    R("work dir lseek 0", lseek(fd, 0, SEEK_SET));
    snprintf(sub, sizeof sub, "%s/file", work);
    int f;
    MUST(f = open(sub, O_CREAT | O_WRONLY, 0644));
    close(f);
    forget();
    R("work dir entries after a create", read_all(fd, sizeof buf, "", NULL));
    printf("work dir digest: %lx\n", digest());
    close(fd);

    /* O_PATH: no reads */
    MUST(fd = open("/usr/bin", O_PATH | O_DIRECTORY));
    R("O_PATH getdents64", gd(fd, buf, sizeof buf));
    close(fd);
    /* fstat of an open directory, between reads */
    struct stat a, b;
    MUST(fd = open("/etc", O_RDONLY | O_DIRECTORY));
    MUST(gd(fd, buf, 1024));
    MUST(fstat(fd, &a));
    MUST(stat("/etc", &b));
    T("fstat between reads is stat's", a.st_ino == b.st_ino && a.st_mode == b.st_mode);
    close(fd);
    forget();

    /* every entry of listed directories: stat follows a symlink, lstat does not, and
     * access(F_OK) and faccessat(AT_SYMLINK_NOFOLLOW) agree with them */
    const char *listed[] = {"/usr/bin", "/usr/lib/x86_64-linux-gnu", "/etc", "/etc/alternatives",
                            "/usr/share/doc"};
    for (unsigned k = 0; k < sizeof listed / sizeof listed[0]; k++) {
        char l[160];
        unsigned long h = 5381;
        int links = 0, dirs = 0, agree = 1;
        struct stat dir;
        MUST(stat(listed[k], &dir));
        MUST(fd = open(listed[k], O_RDONLY | O_DIRECTORY));
        forget();
        read_all(fd, sizeof buf, "", NULL);
        close(fd);
        qsort(names, nnames, sizeof names[0], cmpstr);
        for (int i = 0; i < nnames; i++) {
            char p[4096], *slash = strrchr(names[i], '/');
            struct stat st, lst;
            *slash = 0;
            snprintf(p, sizeof p, "%s/%s", listed[k], names[i]);
            *slash = '/';
            int rs = stat(p, &st), rl = lstat(p, &lst);
            int rs2 = stat(p, &a); /* again: from what the first one left */
            /* (a symlink into /proc, /etc/mtab: its inode numbers are the sandbox's own) */
            unsigned long ino = rs == 0 && st.st_dev == dir.st_dev ? st.st_ino : 0;
            h = h * 33 + (rs < 0 ? (unsigned long)errno : ino ^ st.st_mode
                          ^ (unsigned long)st.st_size << 7 ^ st.st_nlink << 3);
            h = h * 33 + (rl < 0 ? (unsigned long)errno : (unsigned long)lst.st_ino ^ lst.st_mode);
            /* readlink: EINVAL for what is no symlink (the C fast path from the lstat
             * answer the listing left), a symlink's target */
            char target[4096];
            ssize_t tl = readlink(p, target, sizeof target);
            h = h * 33 + (tl < 0 ? (unsigned long)errno : (unsigned long)tl);
            for (ssize_t j = 0; j < tl; j++) h = h * 33 + (unsigned char)target[j];
            if (rl == 0 && S_ISLNK(lst.st_mode)) links++;
            if (rs == 0 && S_ISDIR(st.st_mode)) dirs++;
            if ((rs == 0) != (rs2 == 0) || (rs == 0 && (a.st_ino != st.st_ino
                                                        || a.st_mode != st.st_mode)))
                agree = 0;
            if ((access(p, F_OK) == 0) != (rs == 0)) agree = 0;
            if ((faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0) != (rl == 0)) agree = 0;
        }
        snprintf(l, sizeof l, "%s: stat and lstat of each entry", listed[k]);
        printf("%s: %lx\n", l, h);
        snprintf(l, sizeof l, "%s: symlinks among them", listed[k]);
        T(l, links > 0);
        snprintf(l, sizeof l, "%s: directories among them", listed[k]);
        T(l, dirs > 0);
        snprintf(l, sizeof l, "%s: stat twice, access agree", listed[k]);
        T(l, agree);
    }
    forget();
    return 0;
}
