/* new_names.c -- names that appear and go after their absence was seen: stat, lstat,
 * access, open and readlink of a missing name (and of a path through it) asked again
 * once it is created, made a directory, a symlink, a hard link, removed, renamed; by
 * absolute and relative paths, in a directory the first creation copies up and in one
 * that is copied up already. Usage: new_names WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static char P[PATH_MAX];
static const char *at(const char *wd, const char *rel)
{
    snprintf(P, sizeof P, "%s/%s", wd, rel);
    return P;
}

static void look(const char *label, const char *path)
{
    struct stat st;
    char b[64], l[160];
    snprintf(l, sizeof l, "%s stat", label);
    R(l, stat(path, &st) == 0 ? (long)(st.st_mode & S_IFMT) >> 12 : -1);
    snprintf(l, sizeof l, "%s lstat", label);
    R(l, lstat(path, &st) == 0 ? (S_ISDIR(st.st_mode) ? 1 : (long)st.st_size) : -1); /* (dir sizes differ: tmpfs) */
    snprintf(l, sizeof l, "%s access", label);
    R(l, access(path, F_OK));
    snprintf(l, sizeof l, "%s readlink", label);
    R(l, readlink(path, b, sizeof b));
    snprintf(l, sizeof l, "%s open", label);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO too */
    R(l, fd < 0 ? -1 : 0);
    if (fd >= 0)
        close(fd);
}

int main(int argc, char **argv)
{
    const char *wd = workdir_arg(argc, argv);
    static char d[PATH_MAX];
    snprintf(d, sizeof d, "%s/d", wd);
    /* missing, then the first creation (the work directory is copied up) */
    look("before mkdir d", d);
    look("before mkdir d/a", at(wd, "d/a"));
    R("mkdir d", mkdir(d, 0755));
    look("after mkdir d", d);
    look("d/a missing", at(wd, "d/a"));
    look("d/b/c missing", at(wd, "d/b/c"));
    /* d is copied up now: later names appear in it */
    int fd = open(at(wd, "d/a"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    R("create d/a", fd < 0 ? -1 : 0);
    R("write d/a", write(fd, "hello", 5));
    close(fd);
    look("d/a created", at(wd, "d/a"));
    look("d/b/c still missing", at(wd, "d/b/c"));
    R("mkdir d/b", mkdir(at(wd, "d/b"), 0755));
    look("d/b/c after mkdir d/b", at(wd, "d/b/c"));
    fd = open(at(wd, "d/b/c"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    R("create d/b/c", fd < 0 ? -1 : 0);
    close(fd);
    look("d/b/c created", at(wd, "d/b/c"));
    look("d/l missing", at(wd, "d/l"));
    R("symlink d/l", symlink("a", at(wd, "d/l")));
    look("d/l created", at(wd, "d/l"));
    look("d/h missing", at(wd, "d/h"));
    static char a[PATH_MAX];
    snprintf(a, sizeof a, "%s/d/a", wd);
    R("link d/h", link(a, at(wd, "d/h")));
    look("d/h created", at(wd, "d/h"));
    look("d/a after link", a);
    R("mknod d/f", mknod(at(wd, "d/f"), S_IFIFO | 0600, 0));
    look("d/f created", at(wd, "d/f"));
    /* removed, made again, renamed */
    R("unlink d/a", unlink(a));
    look("d/a unlinked", a);
    look("d/h after unlink of d/a", at(wd, "d/h"));
    fd = open(a, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    R("create d/a again", fd < 0 ? -1 : 0);
    close(fd);
    look("d/a again", a);
    static char c[PATH_MAX];
    snprintf(c, sizeof c, "%s/d/b/c", wd);
    R("rename d/b/c d/e", rename(c, at(wd, "d/e")));
    look("d/b/c renamed", c);
    look("d/e renamed", at(wd, "d/e"));
    R("rmdir d/b", rmdir(at(wd, "d/b")));
    look("d/b removed", at(wd, "d/b"));
    /* relative names, from inside d */
    R("chdir d", chdir(d));
    look("rel x missing", "x");
    look("rel y/z missing", "y/z");
    fd = open("x", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    R("create rel x", fd < 0 ? -1 : 0);
    close(fd);
    look("rel x created", "x");
    R("mkdir rel y", mkdir("y", 0700));
    R("symlink rel y/z", symlink("../x", "y/z"));
    look("rel y/z created", "y/z");
    R("unlink rel x", unlink("x"));
    look("rel y/z dangling", "y/z");
    return 0;
}
