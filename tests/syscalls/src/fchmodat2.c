/* fchmodat2.c -- fchmodat2 (Linux 6.6): flags, AT_SYMLINK_NOFOLLOW on symlinks
 * and files, AT_EMPTY_PATH on plain and O_PATH fds, permission order; chmod of
 * a symlink through its O_PATH fd. Usage: fchmodat2 WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static long fcm2(int dfd, const char *p, mode_t m, int flags)
{
    return syscall(SYS_fchmodat2, dfd, p, m, flags);
}

static void mode_of(const char *label, const char *p)
{
    struct stat st;
    if (lstat(p, &st) < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %o\n", label, (unsigned)(st.st_mode & 07777));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    umask(0);
    int f = open("f", O_WRONLY | O_CREAT, 0644);
    MUST(f);
    close(f);
    MUST(symlink("f", "link"));
    MUST(symlink("missing", "dangling"));
    MUST(mkdir("d", 0755));

    R("plain", fcm2(AT_FDCWD, "f", 0600, 0));
    mode_of("f", "f");
    R("bad flag", fcm2(AT_FDCWD, "f", 0600, 0x8));
    R("follow flag", fcm2(AT_FDCWD, "f", 0600, AT_SYMLINK_FOLLOW));
    R("through link", fcm2(AT_FDCWD, "link", 0640, 0));
    mode_of("f via link", "f");
    R("nofollow link", fcm2(AT_FDCWD, "link", 0600, AT_SYMLINK_NOFOLLOW));
    mode_of("f after nofollow", "f");
    R("nofollow file", fcm2(AT_FDCWD, "f", 0604, AT_SYMLINK_NOFOLLOW));
    mode_of("f nofollow file", "f");
    R("nofollow dangling", fcm2(AT_FDCWD, "dangling", 0600, AT_SYMLINK_NOFOLLOW));
    R("follow dangling", fcm2(AT_FDCWD, "dangling", 0600, 0));
    R("nofollow dir", fcm2(AT_FDCWD, "d", 0700, AT_SYMLINK_NOFOLLOW));
    mode_of("d", "d");
    R("missing", fcm2(AT_FDCWD, "nope", 0600, 0));
    R("empty no flag", fcm2(AT_FDCWD, "", 0600, 0));
    int fd = open("f", O_RDONLY);
    R("empty path fd", fcm2(fd, "", 0611, AT_EMPTY_PATH));
    mode_of("f empty", "f");
    close(fd);
    fd = open("f", O_PATH);
    R("empty path O_PATH", fcm2(fd, "", 0622, AT_EMPTY_PATH));
    mode_of("f O_PATH", "f");
    R("fchmod O_PATH", fchmod(fd, 0600));
    close(fd);
    fd = open("link", O_PATH | O_NOFOLLOW);
    R("empty path symlink", fcm2(fd, "", 0600, AT_EMPTY_PATH));
    R("empty path symlink nofollow", fcm2(fd, "", 0600, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
    close(fd);
    R("empty cwd", fcm2(AT_FDCWD, "", 0755, AT_EMPTY_PATH));
    mode_of("cwd", ".");
    R("bad fd", fcm2(99, "f", 0600, 0));
    R("old fchmodat nofollow", fchmodat(AT_FDCWD, "f", 0600, AT_SYMLINK_NOFOLLOW));
    mode_of("f old", "f");
    R("suid bits", fcm2(AT_FDCWD, "f", 07777, 0));
    mode_of("f suid", "f");

    /* another uid: EOPNOTSUPP for a symlink comes before the owner check */
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        MUST(setresgid(1000, 1000, 1000));
        MUST(setresuid(1000, 1000, 1000));
        R("other uid file", fcm2(AT_FDCWD, "f", 0600, 0));
        R("other uid symlink nofollow", fcm2(AT_FDCWD, "link", 0600, AT_SYMLINK_NOFOLLOW));
        _exit(0);
    }
    MUST(waitpid(c, NULL, 0));
    puts("done");
    return 0;
}
