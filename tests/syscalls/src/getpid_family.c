/* getpid_family.c -- getpid/getppid/gettid/getpgid consistency, in threads
 * and children. Runs as pid 1 natively (unshare --pid) and in the sandbox. */
#include "check.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static pid_t main_pid;

static void *thr(void *arg)
{
    (void)arg;
    T("thread getpid==main getpid", getpid() == main_pid);
    T("thread gettid!=getpid", syscall(SYS_gettid) != getpid());
    T("thread getppid==main getppid", getppid() == (pid_t)syscall(SYS_getppid));
    return NULL;
}

int main(void)
{
    out_init();
    main_pid = getpid();
    R("getpid", getpid());
    R("getppid", getppid());
    T("raw getpid==getpid", syscall(SYS_getpid) == getpid());
    T("raw getppid==getppid", syscall(SYS_getppid) == getppid());
    T("gettid==getpid in main thread", syscall(SYS_gettid) == getpid());
    T("getpgid(0)==getpgrp()", getpgid(0) == getpgrp());
    T("getpgid(self)==getpgid(0)", getpgid(getpid()) == getpgid(0));
    T("getsid(0)==getsid(self)", getsid(0) == getsid(getpid()));
    R("getpgid(no such pid)", getpgid(99999));
    R("getsid(no such pid)", getsid(99999));

    pthread_t t;
    MUST(-pthread_create(&t, NULL, thr, NULL));
    MUST(-pthread_join(t, NULL));

    fflush(stdout);
    int p[2];
    MUST(pipe(p));
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        char buf[4] = {0};
        buf[0] = getppid() == main_pid;
        buf[1] = getpid() != main_pid;
        buf[2] = syscall(SYS_gettid) == getpid();
        buf[3] = getpgrp() == getpgid(main_pid);
        if (write(p[1], buf, 4) != 4)
            _exit(1);
        _exit(0);
    }
    char buf[4];
    MUST(read(p[0], buf, 4));
    T("child getppid==parent getpid", buf[0]);
    T("child getpid!=parent getpid", buf[1]);
    T("child gettid==child getpid", buf[2]);
    T("child inherits process group", buf[3]);
    R("child pid", c);
    int st;
    T("wait4 returns the child", wait4(c, &st, 0, NULL) == c);
    R("child status", WEXITSTATUS(st));
    pid_t c2 = fork();
    MUST(c2);
    if (c2 == 0)
        _exit(0);
    R("second child pid", c2);
    MUST(waitpid(c2, NULL, 0));
    return 0;
}
