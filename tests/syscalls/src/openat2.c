/* openat2.c -- struct open_how checks (sizes, unknown bits, mode and flag
 * rules) and the RESOLVE_* flags: NO_XDEV, NO_MAGICLINKS, NO_SYMLINKS, BENEATH,
 * IN_ROOT, CACHED. Usage: openat2 WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static long o2(int dfd, const char *p, unsigned long long flags, unsigned long long mode,
               unsigned long long resolve)
{
    struct open_how h = {.flags = flags, .mode = mode, .resolve = resolve};
    return syscall(SYS_openat2, dfd, p, &h, sizeof h);
}

/* open with openat2 and report "label: <first bytes>" or the error; closes */
static void rd(const char *label, int dfd, const char *p, unsigned long long resolve)
{
    errno = 0;
    long fd = o2(dfd, p, O_RDONLY, 0, resolve);
    if (fd < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    char b[16] = {0};
    ssize_t n = read(fd, b, sizeof b - 1);
    printf("%s: read %zd %s\n", label, n, n > 0 ? b : "");
    close(fd);
}

static void cl(long fd)
{
    if (fd >= 0)
        close(fd);
}

#define RC(label, expr)                                                  \
    do {                                                                 \
        errno = 0;                                                       \
        long fd_ = (expr);                                               \
        if (fd_ < 0)                                                     \
            printf("%s: -1 %s\n", (label), en(errno));                   \
        else                                                             \
            printf("%s: ok\n", (label));                                 \
        cl(fd_);                                                         \
    } while (0)

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    MUST(mkdir("d", 0755));
    int f = open("d/f", O_WRONLY | O_CREAT, 0644);
    MUST(f);
    MUST(write(f, "inside", 6));
    close(f);
    f = open("outside", O_WRONLY | O_CREAT, 0644);
    MUST(f);
    MUST(write(f, "outside", 7));
    close(f);
    MUST(symlink("f", "d/rel"));
    MUST(symlink("../outside", "d/up"));
    MUST(symlink("/", "d/root"));
    MUST(symlink("../created", "d/dangling"));
    int d = open("d", O_RDONLY | O_DIRECTORY);
    MUST(d);

    /* struct open_how */
    struct {
        struct open_how h;
        char extra[16];
    } big = {{O_RDONLY, 0, 0}, {0}};
    R("size 0", syscall(SYS_openat2, AT_FDCWD, "d/f", &big, 0));
    R("size 23", syscall(SYS_openat2, AT_FDCWD, "d/f", &big, 23));
    R("size 4097", syscall(SYS_openat2, AT_FDCWD, "d/f", &big, 4097));
    RC("size 40 zero tail", syscall(SYS_openat2, AT_FDCWD, "d/f", &big, 40));
    big.extra[9] = 1;
    R("size 40 nonzero tail", syscall(SYS_openat2, AT_FDCWD, "d/f", &big, 40));
    R("how NULL", syscall(SYS_openat2, AT_FDCWD, "d/f", NULL, 24));
    RC("plain", o2(AT_FDCWD, "d/f", O_RDONLY, 0, 0));
    R("empty path", o2(AT_FDCWD, "", O_RDONLY, 0, 0));
    R("empty path bad fd", o2(99, "", O_RDONLY, 0, 0));
    R("unknown flag", o2(AT_FDCWD, "d/f", 1ULL << 40, 0, 0));
    R("unknown flag 0x40000000", o2(AT_FDCWD, "d/f", 0x40000000, 0, 0));
    R("unknown resolve", o2(AT_FDCWD, "d/f", O_RDONLY, 0, 0x40));
    R("beneath+in_root", o2(AT_FDCWD, "d/f", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT));
    R("mode without create", o2(AT_FDCWD, "d/f", O_RDONLY, 0644, 0));
    R("mode bad bits", o2(AT_FDCWD, "d/g", O_RDWR | O_CREAT, 010644, 0));
    R("directory+creat", o2(AT_FDCWD, "d/g", O_RDWR | O_CREAT | O_DIRECTORY, 0644, 0));
    R("path+rdwr", o2(AT_FDCWD, "d/f", O_PATH | O_RDWR, 0, 0));
    RC("path+nofollow", o2(AT_FDCWD, "d/rel", O_PATH | O_NOFOLLOW, 0, 0));
    R("tmpfile rdonly", o2(AT_FDCWD, "d", O_TMPFILE | O_RDONLY, 0600, 0));
    R("cached+creat", o2(AT_FDCWD, "d/g", O_RDWR | O_CREAT, 0644, RESOLVE_CACHED));
    R("cached+trunc", o2(AT_FDCWD, "d/f", O_RDWR | O_TRUNC, 0, RESOLVE_CACHED));
    {
        errno = 0;
        long fd = o2(AT_FDCWD, "d/f", O_RDONLY, 0, RESOLVE_CACHED);
        T("cached ok or EAGAIN", fd >= 0 || errno == EAGAIN);
        cl(fd);
    }
    {
        long fd = o2(AT_FDCWD, "d/f", O_RDONLY | O_CLOEXEC, 0, 0);
        T("cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
        T("largefile", fcntl(fd, F_GETFL) & O_LARGEFILE);
        cl(fd);
    }

    /* NO_SYMLINKS, NO_MAGICLINKS */
    rd("rel", AT_FDCWD, "d/rel", 0);
    rd("rel no_symlinks", AT_FDCWD, "d/rel", RESOLVE_NO_SYMLINKS);
    rd("rel no_magiclinks", AT_FDCWD, "d/rel", RESOLVE_NO_MAGICLINKS);
    RC("rel nofollow path no_symlinks",
       o2(AT_FDCWD, "d/rel", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS));
    R("rel nofollow no_symlinks", o2(AT_FDCWD, "d/rel", O_RDONLY | O_NOFOLLOW, 0,
                                     RESOLVE_NO_SYMLINKS));
    char magic[64];
    snprintf(magic, sizeof magic, "/proc/self/fd/%d", d);
    RC("magic", o2(AT_FDCWD, magic, O_RDONLY, 0, 0));
    R("magic no_magiclinks", o2(AT_FDCWD, magic, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS));
    R("magic no_symlinks", o2(AT_FDCWD, magic, O_RDONLY, 0, RESOLVE_NO_SYMLINKS));
    RC("magic nofollow path no_magiclinks",
       o2(AT_FDCWD, magic, O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_MAGICLINKS));
    RC("proc self no_magiclinks", o2(AT_FDCWD, "/proc/self/status", O_RDONLY, 0,
                                     RESOLVE_NO_MAGICLINKS));
    int proc = open("/proc", O_RDONLY | O_DIRECTORY);
    MUST(proc);
    snprintf(magic, sizeof magic, "self/fd/%d", d);
    R("magic beneath", o2(proc, magic, O_RDONLY, 0, RESOLVE_BENEATH));
    R("magic in_root", o2(proc, magic, O_RDONLY, 0, RESOLVE_IN_ROOT));
    RC("proc beneath", o2(proc, "self/status", O_RDONLY, 0, RESOLVE_BENEATH));

    /* NO_XDEV */
    int root = open("/", O_RDONLY | O_DIRECTORY);
    MUST(root);
    R("xdev into proc", o2(root, "proc", O_RDONLY, 0, RESOLVE_NO_XDEV));
    R("xdev into proc path", o2(root, "proc", O_PATH, 0, RESOLVE_NO_XDEV));
    R("xdev abs proc", o2(AT_FDCWD, "/proc/self/status", O_RDONLY, 0, RESOLVE_NO_XDEV));
    R("xdev out of proc", o2(proc, "..", O_RDONLY, 0, RESOLVE_NO_XDEV));
    RC("xdev within proc", o2(proc, "self/status", O_RDONLY, 0, RESOLVE_NO_XDEV));
    RC("xdev proc itself", o2(proc, ".", O_RDONLY, 0, RESOLVE_NO_XDEV));
    rd("xdev same mount", AT_FDCWD, "d/../d/rel", RESOLVE_NO_XDEV);
    R("xdev magic", o2(AT_FDCWD, "/proc/self/cwd", O_RDONLY, 0, RESOLVE_NO_XDEV));

    /* BENEATH */
    rd("beneath", d, "f", RESOLVE_BENEATH);
    rd("beneath dotdot inside", d, "../d/f", RESOLVE_BENEATH);
    rd("beneath cwd dotdot inside", AT_FDCWD, "d/../outside", RESOLVE_BENEATH);
    rd("beneath dotdot out", d, "../outside", RESOLVE_BENEATH);
    rd("beneath symlink out", d, "up", RESOLVE_BENEATH);
    rd("beneath cwd symlink in", AT_FDCWD, "d/up", RESOLVE_BENEATH);
    rd("beneath absolute", d, "/etc/passwd", RESOLVE_BENEATH);
    rd("beneath absolute bad fd", 99, "/etc/passwd", RESOLVE_BENEATH);
    rd("beneath abs symlink", d, "root/etc/passwd", RESOLVE_BENEATH);
    rd("beneath dot", d, ".", RESOLVE_BENEATH);
    R("beneath dotdot dir", o2(d, "..", O_RDONLY, 0, RESOLVE_BENEATH));
    RC("beneath create", o2(d, "new", O_RDWR | O_CREAT, 0600, RESOLVE_BENEATH));
    R("beneath create via symlink out", o2(d, "dangling", O_RDWR | O_CREAT, 0600,
                                           RESOLVE_BENEATH));
    T("not created", access("created", F_OK) != 0);
    R("beneath create abs", o2(d, "/x", O_RDWR | O_CREAT, 0600, RESOLVE_BENEATH));

    /* IN_ROOT */
    rd("in_root", d, "f", RESOLVE_IN_ROOT);
    rd("in_root absolute", d, "/f", RESOLVE_IN_ROOT);
    rd("in_root dotdot", d, "../../../f", RESOLVE_IN_ROOT);
    rd("in_root abs symlink", d, "root/f", RESOLVE_IN_ROOT);
    rd("in_root symlink up", d, "up", RESOLVE_IN_ROOT);
    rd("in_root symlink rel", d, "rel", RESOLVE_IN_ROOT);
    R("in_root file dirfd", o2(open("d/f", O_RDONLY), "/f", O_RDONLY, 0, RESOLVE_IN_ROOT));
    RC("in_root create via symlink", o2(d, "dangling", O_RDWR | O_CREAT, 0600,
                                        RESOLVE_IN_ROOT));
    T("created in d", access("d/created", F_OK) == 0 && access("created", F_OK) != 0);
    R("in_root create abs", o2(d, "/made", O_RDWR | O_CREAT | O_EXCL, 0600, RESOLVE_IN_ROOT) >= 0
                                ? 0 : -1);
    T("made in d", access("d/made", F_OK) == 0);
    puts("done");
    return 0;
}
