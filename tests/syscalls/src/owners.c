/* owners.c -- chown/fchown/lchown/fchownat: -1 leaves an id alone, ids of 2^31
 * and above are ids like any other, lchown and AT_SYMLINK_NOFOLLOW act on the
 * link, AT_EMPTY_PATH on the fd, chown clears set-user-ID/set-group-ID, and a
 * non-root owner may only change the group to one of its own. (Run as root.) */
#include "check.h"
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void ids(const char *label, const char *path, int follow)
{
    struct stat st;
    int r = follow ? stat(path, &st) : lstat(path, &st);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: uid %u gid %u mode %o\n", label, (unsigned)st.st_uid, (unsigned)st.st_gid,
               (unsigned)(st.st_mode & 07777));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    MUST(fd);
    MUST(symlink("f", "link"));

    R("chown 1000:1001", chown("f", 1000, 1001));
    ids("after chown", "f", 1);
    R("chown -1:-1", chown("f", (uid_t)-1, (gid_t)-1));
    ids("unchanged", "f", 1);
    R("chown -1:2000", chown("f", (uid_t)-1, 2000));
    ids("gid only", "f", 1);
    R("chown 2^31", chown("f", 2147483648u, 2147483649u));
    ids("large ids", "f", 1);
    R("chown 4294967294", chown("f", 4294967294u, 4294967294u));
    ids("largest ids", "f", 1);
    R("fchown 7:8", fchown(fd, 7, 8));
    ids("after fchown", "f", 1);
    R("lchown link 9:9", lchown("link", 9, 9));
    ids("link itself", "link", 0);
    ids("target untouched", "f", 1);
    R("fchownat nofollow", fchownat(AT_FDCWD, "link", 11, 11, AT_SYMLINK_NOFOLLOW));
    ids("link after fchownat", "link", 0);
    R("fchownat follow", fchownat(AT_FDCWD, "link", 12, 12, 0));
    ids("target after fchownat", "f", 1);
    R("fchownat empty path", fchownat(fd, "", 13, 13, AT_EMPTY_PATH));
    ids("after empty path", "f", 1);
    R("fchownat bad flags", fchownat(AT_FDCWD, "f", 1, 1, 0x4));
    R("chown missing", chown("nope", 1, 1));
    R("fchown bad fd", fchown(99, 1, 1));

    /* chown clears set-user-ID, and set-group-ID of a group-executable file */
    MUST(fchmod(fd, 06755));
    R("chown a setuid file", chown("f", 0, 0));
    ids("set-ids cleared", "f", 1);
    MUST(fchmod(fd, 02745));
    R("chown a setgid, not group-executable file", chown("f", 0, 0));
    ids("setgid kept", "f", 1);
    MUST(mkdir("d", 02755));
    R("chown a setgid directory", chown("d", 5, 5));
    ids("directory after chown", "d", 1);

    /* a non-root owner */
    MUST(chown("f", 1000, 1000));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        gid_t groups[] = {1000, 1002};
        if (setgroups(2, groups) || setgid(1000) || setuid(1000))
            _exit(99);
        R("owner: chown to another user", chown("f", 1001, -1));
        R("owner: chgrp to a supplementary group", chown("f", -1, 1002));
        R("owner: chgrp to a foreign group", chown("f", -1, 1003));
        R("owner: chown to itself", chown("f", 1000, -1));
        R("not owner: chown", chown("d", -1, -1));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    R("child status", WEXITSTATUS(st));
    ids("after the owner's changes", "f", 1);
    return 0;
}
