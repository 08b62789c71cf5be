/* dnotify.c -- fcntl(2) F_NOTIFY: SIGIO when a directory's entries change.
 * Each DN_* event (create, modify, access, attrib, delete, rename) on an entry of the
 * watched directory, and nothing for events outside it (a subdirectory's entries, another
 * directory); DN_MULTISHOT against a one-shot request; masks added by a second F_NOTIFY;
 * mask 0 ending it; the owner it sets; ENOTDIR for a regular file; the request ending
 * with its descriptor's close. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

static volatile sig_atomic_t hits, last_code;

static void on_sigio(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    hits++;
    last_code = si->si_code;
}

/* the signals since the last call */
static int took(void)
{
    int n = hits;
    hits = 0;
    return n;
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    MUST(fd);
    close(fd);
}

int main(int argc, char **argv)
{
    MUST(chdir(argc > 1 ? argv[1] : "."));
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigio;
    sa.sa_flags = SA_SIGINFO;
    MUST(sigaction(SIGIO, &sa, NULL));
    MUST(mkdir("d", 0755));
    MUST(mkdir("d/sub", 0755));
    MUST(mkdir("other", 0755));
    touch("d/a");
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    MUST(dfd);

    R("notify create multishot", fcntl(dfd, F_NOTIFY, DN_CREATE | DN_MULTISHOT));
    R("owner is me", fcntl(dfd, F_GETOWN) == getpid());
    touch("d/b");
    R("create: signals", took());
    T("create: si_code SI_KERNEL", last_code == SI_KERNEL);
    MUST(mkdir("d/c", 0755));
    R("mkdir: signals", took());
    MUST(link("d/a", "d/a2"));
    R("link: signals", took());
    MUST(rename("other", "d/moved-in"));
    R("move in: signals", took());
    touch("d/sub/deeper");
    R("entry of a subdirectory: signals", took());
    touch("elsewhere");
    R("another directory: signals", took());
    int w = open("d/a", O_WRONLY);
    MUST(w);
    MUST(write(w, "x", 1));
    R("write without DN_MODIFY: signals", took());

    R("add DN_MODIFY", fcntl(dfd, F_NOTIFY, DN_MODIFY | DN_MULTISHOT));
    MUST(write(w, "y", 1));
    R("write: signals", took());
    touch("d/e");
    R("create still on: signals", took());
    close(w);

    R("end (mask 0)", fcntl(dfd, F_NOTIFY, 0));
    touch("d/f");
    R("after the end: signals", took());

    R("one-shot delete", fcntl(dfd, F_NOTIFY, DN_DELETE));
    MUST(unlink("d/b"));
    R("unlink: signals", took());
    MUST(unlink("d/e"));
    R("second unlink: signals", took());

    R("attrib", fcntl(dfd, F_NOTIFY, DN_ATTRIB | DN_MULTISHOT));
    MUST(chmod("d/a", 0600));
    R("chmod of an entry: signals", took());
    R("end attrib", fcntl(dfd, F_NOTIFY, 0));

    R("rename", fcntl(dfd, F_NOTIFY, DN_RENAME | DN_MULTISHOT));
    MUST(rename("d/a2", "d/a3"));
    R("rename within: signals", took());
    R("end rename", fcntl(dfd, F_NOTIFY, 0));

    R("access", fcntl(dfd, F_NOTIFY, DN_ACCESS | DN_MULTISHOT));
    int r = open("d/a", O_RDONLY);
    MUST(r);
    char buf[8];
    MUST(read(r, buf, sizeof buf));
    R("read: signals", took());
    close(r);

    MUST(close(dfd));
    touch("d/g");
    MUST(unlink("d/g"));
    R("after close: signals", took());

    int f = open("d/a", O_RDONLY);
    MUST(f);
    R("regular file", fcntl(f, F_NOTIFY, DN_CREATE));
    R("regular file, mask 0", fcntl(f, F_NOTIFY, 0));
    close(f);
    return 0;
}
