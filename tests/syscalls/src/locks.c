/* locks.c -- POSIX record locks (F_SETLK/F_SETLKW/F_GETLK) conflicting across
 * fork, the close-drops-all-locks quirk, OFD locks, flock. Usage: locks WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

static struct flock fl(short type, off_t start, off_t len)
{
    struct flock f;
    memset(&f, 0, sizeof f);
    f.l_type = type;
    f.l_whence = SEEK_SET;
    f.l_start = start;
    f.l_len = len;
    return f;
}

static int p2c[2], c2p[2];

/* run one lock operation in the child and report its result here */
static void child_try(const char *label, int cmd, short type, off_t start, off_t len, int reopen)
{
    struct { long r; int e; short type; long start, len; int pid_is_parent; } res;
    pid_t parent = getpid();
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        int fd = reopen ? open("lockfile", O_RDWR) : 3;
        struct flock f = fl(type, start, len);
        errno = 0;
        res.r = fcntl(fd, cmd, &f);
        res.e = errno;
        res.type = f.l_type;
        res.start = f.l_start;
        res.len = f.l_len;
        res.pid_is_parent = f.l_pid == parent ? 1 : f.l_pid == -1 ? -1 : 0;
        (void)!write(c2p[1], &res, sizeof res);
        _exit(0);
    }
    MUST(read(c2p[0], &res, sizeof res));
    waitpid(c, NULL, 0);
    if (res.r < 0)
        printf("%s: -1 %s\n", label, en(res.e));
    else if (cmd == F_GETLK || cmd == F_OFD_GETLK)
        printf("%s: type=%s start=%ld len=%ld owner=%s\n", label,
               res.type == F_UNLCK ? "UNLCK" : res.type == F_WRLCK ? "WRLCK" : "RDLCK",
               res.start, res.len,
               res.pid_is_parent == 1 ? "parent" : res.pid_is_parent == -1 ? "-1" : "other");
    else
        printf("%s: %ld\n", label, res.r);
}

static void child_flock(const char *label, int op, int reopen)
{
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        int fd = reopen ? open("lockfile", O_RDWR) : 3;
        int r = flock(fd, op);
        int e = errno;
        _exit(r == 0 ? 0 : 100 + e);
    }
    int st;
    waitpid(c, &st, 0);
    if (WEXITSTATUS(st) >= 100)
        printf("%s: -1 %s\n", label, en(WEXITSTATUS(st) - 100));
    else
        printf("%s: 0\n", label);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    MUST(pipe(p2c));
    MUST(pipe(c2p));
    for (int i = 3; i < 8; i++) /* keep fd 3 free for the lock file */
        if (i != p2c[0] && i != p2c[1] && i != c2p[0] && i != c2p[1])
            close(i);
    int fd = open("lockfile", O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd != 3) {
        MUST(dup2(fd, 3));
        close(fd);
        fd = 3;
    }
    MUST(write(fd, "0123456789abcdef", 16));

    struct flock f = fl(F_WRLCK, 0, 10);
    R("parent F_SETLK write 0-9", fcntl(fd, F_SETLK, &f));
    child_try("child F_SETLK write 0-9", F_SETLK, F_WRLCK, 0, 10, 1);
    child_try("child F_SETLK write 5-14", F_SETLK, F_WRLCK, 5, 10, 1);
    child_try("child F_SETLK write 10-19", F_SETLK, F_WRLCK, 10, 10, 1);
    child_try("child F_SETLK read 0-0", F_SETLK, F_RDLCK, 0, 1, 1);
    child_try("child F_GETLK write 3-3", F_GETLK, F_WRLCK, 3, 1, 1);
    child_try("child F_GETLK write 12-", F_GETLK, F_WRLCK, 12, 0, 1);
    child_try("child inherited fd F_SETLK", F_SETLK, F_WRLCK, 0, 10, 0);
    f = fl(F_WRLCK, 0, 10);
    R("parent relock own region", fcntl(fd, F_SETLK, &f));
    f = fl(F_RDLCK, 0, 5);
    R("parent downgrade 0-4 to read", fcntl(fd, F_SETLK, &f));
    child_try("child read 0-4 after downgrade", F_SETLK, F_RDLCK, 0, 5, 1);
    child_try("child write 0-4 after downgrade", F_SETLK, F_WRLCK, 0, 5, 1);
    child_try("child GETLK 5-9 still write", F_GETLK, F_WRLCK, 5, 5, 1);
    f = fl(F_UNLCK, 0, 0);
    R("parent unlock all", fcntl(fd, F_SETLK, &f));
    child_try("child write 0-9 after unlock", F_SETLK, F_WRLCK, 0, 10, 1);
    child_try("child GETLK after unlock", F_GETLK, F_WRLCK, 0, 0, 1);

    /* closing ANY fd of the file drops the process's POSIX locks */
    f = fl(F_WRLCK, 0, 0);
    R("parent lock whole file", fcntl(fd, F_SETLK, &f));
    int other = open("lockfile", O_RDONLY);
    close(other);
    child_try("child lock after parent closed another fd", F_SETLK, F_WRLCK, 0, 0, 1);

    /* F_SETLKW waits for the holder */
    f = fl(F_WRLCK, 0, 0);
    R("parent lock again", fcntl(fd, F_SETLK, &f));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int cfd = open("lockfile", O_RDWR);
        struct flock g = fl(F_WRLCK, 0, 0);
        char go = 'w';
        (void)!write(c2p[1], &go, 1);
        int r = fcntl(cfd, F_SETLKW, &g);
        go = r == 0 ? 'L' : 'E';
        (void)!write(c2p[1], &go, 1);
        _exit(0);
    }
    char ch;
    MUST(read(c2p[0], &ch, 1));
    msleep(100);
    f = fl(F_UNLCK, 0, 0);
    R("parent unlock for waiter", fcntl(fd, F_SETLK, &f));
    MUST(read(c2p[0], &ch, 1));
    printf("waiter got lock: %c\n", ch);
    waitpid(c, NULL, 0);
    R("bad lock type", fcntl(fd, F_SETLK, &(struct flock){.l_type = 77}));
    int rdonly = open("lockfile", O_RDONLY);
    f = fl(F_WRLCK, 0, 1);
    R("write lock on O_RDONLY fd", fcntl(rdonly, F_SETLK, &f));
    close(rdonly); /* drops parent locks (none held) */

    /* OFD locks: owned by the open file description */
    int a = open("lockfile", O_RDWR), b = open("lockfile", O_RDWR);
    f = fl(F_WRLCK, 0, 10);
    R("OFD lock on a", fcntl(a, F_OFD_SETLK, &f));
    f = fl(F_WRLCK, 0, 10);
    R("OFD lock on b (same process)", fcntl(b, F_OFD_SETLK, &f));
    f = fl(F_WRLCK, 0, 10);
    R("OFD getlk on b", fcntl(b, F_OFD_GETLK, &f));
    printf("OFD getlk: type=%s pid=%d\n", f.l_type == F_WRLCK ? "WRLCK" : "other", f.l_pid);
    int a2 = dup(a);
    f = fl(F_WRLCK, 0, 10);
    R("OFD lock via dup of a", fcntl(a2, F_OFD_SETLK, &f));
    close(a2);
    f = fl(F_WRLCK, 0, 10);
    R("OFD still held after closing dup", fcntl(b, F_OFD_SETLK, &f));
    f = fl(F_WRLCK, 0, 10);
    f.l_pid = 5;
    R("OFD with nonzero l_pid", fcntl(a, F_OFD_SETLK, &f));
    child_try("child POSIX lock vs OFD", F_SETLK, F_WRLCK, 0, 1, 1);
    close(a);
    f = fl(F_WRLCK, 0, 10);
    R("OFD on b after closing a", fcntl(b, F_OFD_SETLK, &f));
    close(b);

    /* flock */
    R("flock EX", flock(fd, LOCK_EX));
    child_flock("child flock EX|NB new open", LOCK_EX | LOCK_NB, 1);
    child_flock("child flock EX|NB inherited fd", LOCK_EX | LOCK_NB, 0);
    R("flock SH (convert)", flock(fd, LOCK_SH));
    child_flock("child flock SH|NB new open", LOCK_SH | LOCK_NB, 1);
    child_flock("child flock EX|NB new open vs SH", LOCK_EX | LOCK_NB, 1);
    R("flock UN", flock(fd, LOCK_UN));
    child_flock("child flock EX|NB after UN", LOCK_EX | LOCK_NB, 1);
    R("flock bad op", flock(fd, 0x40));
    R("flock bad fd", flock(999, LOCK_EX));
    int x = open("lockfile", O_RDWR);
    R("flock EX on second open", flock(x, LOCK_EX | LOCK_NB));
    R("flock EX|NB on first open (same process)", flock(fd, LOCK_EX | LOCK_NB));
    close(x);
    R("flock after closing holder", flock(fd, LOCK_EX | LOCK_NB));
    return 0;
}
