/* dirs.c -- mkdir/rmdir/rename/unlink/symlink/readlink/link/getdents64/
 * chdir/getcwd/fchdir/access. Usage: dirs WORKDIR */
#include "check.h"
#include "dirent64.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* sorted "name/type" listing of a directory through raw getdents64 */
static void listing(const char *label, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    char *names[256];
    int n = 0;
    char buf[1024]; /* small: forces several getdents64 calls */
    long r;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            char t = d->d_type == DT_DIR ? 'd' : d->d_type == DT_REG ? 'f'
                   : d->d_type == DT_LNK ? 'l' : d->d_type == DT_UNKNOWN ? '?' : 'o';
            if (n < 256 && asprintf(&names[n], "%s/%c", d->d_name, t) > 0)
                n++;
            off += d->d_reclen;
        }
    }
    if (r < 0)
        printf("%s getdents64: -1 %s\n", label, en(errno));
    qsort(names, n, sizeof names[0], cmpstr);
    printf("%s:", label);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    close(fd);
}

static char start[PATH_MAX];

static void cwd(const char *label)
{
    char b[PATH_MAX];
    if (!getcwd(b, sizeof b)) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    size_t l = strlen(start);
    printf("%s: %s\n", label, !strncmp(b, start, l) ? (b[l] ? b + l : "<start>") : b);
}

static void touch(const char *p, mode_t m)
{
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, m);
    MUST(fd);
    MUST(write(fd, p, strlen(p)));
    close(fd);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    umask(022);
    MUST(getcwd(start, sizeof start) ? 0 : -1);
    R("mkdir d", mkdir("d", 0777));
    R("mkdir d again", mkdir("d", 0777));
    R("mkdir no parent", mkdir("nope/a/b", 0777));
    R("mkdir d/sub", mkdir("d/sub", 0700));
    struct stat st;
    R("stat d/sub", stat("d/sub", &st));
    printf("d/sub mode: %o dir %d\n", st.st_mode & 07777, S_ISDIR(st.st_mode));
    touch("d/f1", 0644);
    touch("d/f2", 0600);
    touch("d/sub/inner", 0644);
    R("symlink d/ln -> f1", symlink("f1", "d/ln"));
    R("symlink existing", symlink("f1", "d/ln"));
    R("symlink dangling", symlink("nowhere", "d/dangling"));
    R("link d/hard", link("d/f1", "d/hard"));
    R("link existing", link("d/f1", "d/hard"));
    R("link dir", link("d/sub", "d/sublink"));
    R("stat d/f1", stat("d/f1", &st));
    R("nlink f1", st.st_nlink);
    R("stat d (nlink)", stat("d", &st));
    R("nlink d", st.st_nlink);
    listing("ls d", "d");
    for (int i = 0; i < 40; i++) { /* enough entries for several getdents64 calls */
        char p[64];
        snprintf(p, sizeof p, "d/sub/entry-with-a-longish-name-%02d", i);
        touch(p, 0644);
    }
    listing("ls d/sub", "d/sub");

    char lb[64] = {0};
    R("readlink d/ln", readlink("d/ln", lb, sizeof lb - 1));
    printf("readlink target: %s\n", lb);
    memset(lb, 0, sizeof lb);
    R("readlink short buffer", readlink("d/ln", lb, 1));
    printf("readlink short: %s\n", lb);
    R("readlink regular file", readlink("d/f1", lb, sizeof lb));
    R("readlink missing", readlink("d/missing", lb, sizeof lb));
    R("lstat d/ln", lstat("d/ln", &st));
    T("lstat is link", S_ISLNK(st.st_mode));
    R("lstat size", st.st_size);
    R("stat d/ln", stat("d/ln", &st));
    T("stat follows", S_ISREG(st.st_mode));
    R("stat dangling", stat("d/dangling", &st));
    R("lstat dangling", lstat("d/dangling", &st));
    R("symlink loop a", symlink("loopb", "d/loopa"));
    R("symlink loop b", symlink("loopa", "d/loopb"));
    R("open loop", open("d/loopa", O_RDONLY));
    R("open O_NOFOLLOW link", open("d/ln", O_RDONLY | O_NOFOLLOW));
    /* do_open's O_DIRECTORY check comes before may_open's ELOOP of a symlink */
    R("open O_NOFOLLOW|O_DIRECTORY link", open("d/ln", O_RDONLY | O_NOFOLLOW | O_DIRECTORY));
    R("symlink to a directory", symlink(".", "d/lndir"));
    R("open O_NOFOLLOW|O_DIRECTORY link to a directory",
      open("d/lndir", O_RDONLY | O_NOFOLLOW | O_DIRECTORY));
    R("unlink the link to a directory", unlink("d/lndir"));
    R("open trailing slash on file", open("d/f1/", O_RDONLY));
    R("open empty path", open("", O_RDONLY));
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    R("open long name", open(longname, O_RDONLY));

    R("rename f2 -> f3", rename("d/f2", "d/f3"));
    R("rename missing", rename("d/f2", "d/f4"));
    R("rename onto existing file", rename("d/f3", "d/hard"));
    R("stat f1 nlink after overwrite", stat("d/f1", &st) ? -1 : (long)st.st_nlink);
    R("rename dir into itself", rename("d/sub", "d/sub/x"));
    R("mkdir d/empty", mkdir("d/empty", 0755));
    R("rename dir over nonempty dir", rename("d/empty", "d/sub"));
    R("rename file over dir", rename("d/f1", "d/empty"));
    R("rename dir over file", rename("d/empty", "d/f1"));
    R("rename dir over empty dir", rename("d/sub", "d/empty"));
    R("renameat2 NOREPLACE", syscall(SYS_renameat2, AT_FDCWD, "d/f1", AT_FDCWD, "d/ln", 1));
    R("renameat2 EXCHANGE", syscall(SYS_renameat2, AT_FDCWD, "d/f1", AT_FDCWD, "d/hard", 2));
    R("readlink after exchange", readlink("d/f1", lb, sizeof lb));
    listing("ls d after renames", "d");

    R("unlink dir", unlink("d/empty"));
    R("rmdir nonempty", rmdir("d/empty"));
    R("rmdir file", rmdir("d/f1"));
    R("rmdir dot", rmdir("d/empty/."));
    R("rmdir missing", rmdir("d/nothing"));
    R("unlink symlink", unlink("d/ln"));
    R("stat f1 after unlinking link", stat("d/f1", &st));
    R("unlinkat file", unlinkat(AT_FDCWD, "d/hard", 0));
    R("unlinkat AT_REMOVEDIR on file", unlinkat(AT_FDCWD, "d/f1", AT_REMOVEDIR));
    R("mkdirat", mkdirat(AT_FDCWD, "d/m", 0751));
    R("unlinkat AT_REMOVEDIR", unlinkat(AT_FDCWD, "d/m", AT_REMOVEDIR));
    listing("ls d final", "d");

    cwd("cwd start");
    int startfd = open(".", O_RDONLY | O_DIRECTORY);
    R("chdir d", chdir("d"));
    cwd("cwd after chdir");
    R("chdir file", chdir("f1"));
    R("chdir missing", chdir("missing"));
    R("chdir ..", chdir(".."));
    cwd("cwd after ..");
    R("mkdir d/gone", mkdir("d/gone", 0755));
    R("fchdir into d/gone", fchdir(open("d/gone", O_RDONLY | O_DIRECTORY)));
    cwd("cwd after fchdir");
    R("rmdir own cwd from inside", rmdir("../gone"));
    char b[PATH_MAX];
    T("getcwd of removed dir fails or is marked",
      getcwd(b, sizeof b) == NULL || strstr(b, "(deleted)") != NULL);
    R("create in removed cwd", open("x", O_CREAT | O_WRONLY, 0644));
    R("fchdir back", fchdir(startfd));
    cwd("cwd after fchdir back");
    R("fchdir bad fd", fchdir(99));
    R("fchdir to file", fchdir(open("d/f1", O_RDONLY)));
    R("raw getcwd size 1", syscall(SYS_getcwd, b, 1));

    R("access F_OK", access("d/f1", F_OK));
    R("access missing", access("d/missing", F_OK));
    R("access R_OK|W_OK", access("d/f1", R_OK | W_OK));
    R("access X_OK on 0644 file", access("d/f1", X_OK));
    R("chmod 0755", chmod("d/f1", 0755));
    R("access X_OK on 0755 file", access("d/f1", X_OK));
    R("access bad mode", access("d/f1", 0x40));
    R("faccessat dir X_OK", faccessat(AT_FDCWD, "d", X_OK, 0));

    R("chdir /", chdir("/"));
    R("chdir .. at root", chdir(".."));
    cwd("cwd at root");
    R("stat /.. is /", stat("/..", &st));
    struct stat rs;
    stat("/", &rs);
    T("/.. same inode as /", st.st_ino == rs.st_ino && st.st_dev == rs.st_dev);
    return 0;
}
