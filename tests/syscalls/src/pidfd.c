/* pidfd.c -- pidfd_open (flags, errors, fdinfo, poll/epoll at exit and reap),
 * pidfd_send_signal (scopes, siginfo rules, permissions; an fd of /proc/PID
 * names the process too, other fds are EBADF), pidfd_getfd, and
 * waitid(P_PIDFD). Usage: pidfd WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/sched.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int popen_(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static int psend(int fd, int sig, siginfo_t *i, unsigned f)
{
    return syscall(SYS_pidfd_send_signal, fd, sig, i, f);
}
static int pgetfd(int pfd, int fd, unsigned f) { return syscall(SYS_pidfd_getfd, pfd, fd, f); }

/* the value of the "Pid:" line of /proc/self/fdinfo/FD (-99: none) */
static long fdinfo_pid(int fd)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY);
    if (f < 0)
        return -99;
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "Pid:\t");
    return p ? strtol(p + 5, NULL, 10) : -99;
}

static int poll_in(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, ms);
    return r <= 0 ? r : p.revents;
}

static volatile sig_atomic_t got_sig, got_code, got_val, got_pid;

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_val = si->si_value.sival_int;
    got_pid = si->si_pid;
}

static volatile pid_t thr_tid, thr_got;
static int thr_pipe[2];

static void on_thr(int sig)
{
    (void)sig;
    thr_got = gettid();
}

static void *thr_main(void *arg)
{
    (void)arg;
    char x;
    thr_tid = gettid();
    while (read(thr_pipe[0], &x, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* pidfd_send_signal on an fd of /proc/PID (Linux's tgid_pidfd_to_pid); only a
 * /proc/PID directory: not task/TID, O_PATH, files or other kinds */
static void proc_pid_fds(void)
{
    char path[64];
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        for (;;)
            pause();
    }
    snprintf(path, sizeof path, "/proc/%d", c);
    int dfd = open(path, O_RDONLY | O_DIRECTORY);
    MUST(dfd);
    int opath = open(path, O_PATH | O_DIRECTORY);
    MUST(opath);
    R("proc fd sig 0", psend(dfd, 0, NULL, 0));
    R("proc fd bad flags", psend(dfd, 0, NULL, 8));
    R("proc fd two scopes", psend(dfd, 0, NULL, 3));
    R("proc fd thread scope", psend(dfd, 0, NULL, 1));
    R("proc fd O_PATH", psend(opath, 0, NULL, 0));
    R("proc fd getfd", pgetfd(dfd, 0, 0));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    R("proc fd waitid", waitid(P_PIDFD, dfd, &si, WEXITED | WNOHANG));
    R("proc fd SIGTERM", psend(dfd, SIGTERM, NULL, 0));
    memset(&si, 0, sizeof si);
    /* a zombie still takes signal 0 and SIGKILL without effect */
    MUST(waitid(P_PID, c, &si, WEXITED | WNOWAIT));
    printf("proc fd child: %d %d\n", si.si_code == CLD_KILLED, si.si_status);
    R("proc fd zombie sig 0", psend(dfd, 0, NULL, 0));
    R("proc fd zombie SIGKILL", psend(dfd, SIGKILL, NULL, 0));
    MUST(waitpid(c, NULL, 0));
    R("proc fd reaped", psend(dfd, 0, NULL, 0));
    close(dfd);
    close(opath);

    int self_dir = open("/proc/self", O_RDONLY | O_DIRECTORY);
    MUST(self_dir);
    R("proc self fd sig 0", psend(self_dir, 0, NULL, 0));
    close(self_dir);
    snprintf(path, sizeof path, "/proc/%d/task/%d", getpid(), getpid());
    int task_dir = open(path, O_RDONLY | O_DIRECTORY);
    MUST(task_dir);
    R("proc task fd", psend(task_dir, 0, NULL, 0));
    close(task_dir);
    snprintf(path, sizeof path, "/proc/%d/stat", getpid());
    int file = open(path, O_RDONLY);
    MUST(file);
    R("proc file fd", psend(file, 0, NULL, 0));
    R("proc file fd bad flags", psend(file, 0, NULL, 8));
    close(file);
    int root = open("/proc", O_RDONLY | O_DIRECTORY);
    MUST(root);
    R("proc root fd", psend(root, 0, NULL, 0));
    close(root);
    R("closed fd", psend(root, 0, NULL, 0));
    R("negative fd", psend(-1, 0, NULL, 0));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int p[2];
    siginfo_t si;

    /* pidfd_open: flags and errors */
    int self = popen_(getpid(), 0);
    R("open self", self >= 0 ? 0 : -1);
    T("cloexec", fcntl(self, F_GETFD) == FD_CLOEXEC);
    T("fl rdwr", (fcntl(self, F_GETFL) & O_ACCMODE) == O_RDWR);
    T("fdinfo self", fdinfo_pid(self) == getpid());
    R("open 0", popen_(0, 0));
    R("open -1", popen_(-1, 0));
    R("open bad flag", popen_(getpid(), 1));
    R("open nonexistent", popen_(77777, 0));
    char b[8];
    R("read pidfd", read(self, b, 8));
    R("poll self", poll_in(self, 0));
    int nb = popen_(getpid(), PIDFD_NONBLOCK);
    T("nonblock fl", fcntl(nb, F_GETFL) & O_NONBLOCK);
    int th = popen_(getpid(), PIDFD_THREAD);
    T("thread fl", th >= 0 && (fcntl(th, F_GETFL) & O_EXCL));
    close(nb);
    close(th);

    /* a child: poll, epoll, argument checks, exit, waitid, reap */
    MUST(pipe(p));
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        char x;
        close(p[1]);
        read(p[0], &x, 1);
        _exit(0);
    }
    close(p[0]);
    int cfd = popen_(c, 0);
    R("open child", cfd >= 0 ? 0 : -1);
    T("fdinfo child", fdinfo_pid(cfd) == c);
    R("poll live child", poll_in(cfd, 0));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    R("epoll add", epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev));
    R("epoll live", epoll_wait(ep, &ev, 1, 0));
    R("getfd zombie-to-be flags", pgetfd(cfd, 0, 1));
    R("getfd not pidfd", pgetfd(p[1], 0, 0));
    R("send not pidfd", psend(p[1], 0, NULL, 0));
    R("send bad fd", psend(99, 0, NULL, 0));
    R("send bad flags", psend(cfd, 0, NULL, 8));
    R("send two scopes", psend(cfd, 0, NULL, 3));
    R("send sig 0", psend(cfd, 0, NULL, 0));
    R("send sig 65", psend(cfd, 65, NULL, 0));
    R("waitid nonblock", ({
        int q = popen_(c, PIDFD_NONBLOCK);
        int r = waitid(P_PIDFD, q, &si, WEXITED);
        int e = errno;
        close(q);
        errno = e;
        r;
    }));
    memset(&si, 0, sizeof si);
    R("waitid wnohang", waitid(P_PIDFD, cfd, &si, WEXITED | WNOHANG));
    T("wnohang pid 0", si.si_pid == 0);
    close(p[1]);
    R("poll exit", poll_in(cfd, 5000));
    memset(&ev, 0, sizeof ev);
    R("epoll exit", epoll_wait(ep, &ev, 1, 5000));
    T("epoll data", ev.data.u32 == 7 && (ev.events & EPOLLIN));
    R("send zombie", psend(cfd, SIGTERM, NULL, 0));
    R("getfd zombie", pgetfd(cfd, 0, 0));
    T("fdinfo zombie", fdinfo_pid(cfd) == c);
    memset(&si, 0, sizeof si);
    R("waitid nowait", waitid(P_PIDFD, cfd, &si, WEXITED | WNOWAIT));
    R("waitid", waitid(P_PIDFD, cfd, &si, WEXITED));
    T("waitid pid", si.si_pid == c);
    printf("waitid code/status: %d %d\n", si.si_code, si.si_status);
    R("waitid again", waitid(P_PIDFD, cfd, &si, WEXITED));
    {
        struct pollfd pf = {cfd, POLLIN, 0};
        R("poll reaped", poll(&pf, 1, 0));
        printf("poll reaped revents: %#x\n", pf.revents);
    }
    T("fdinfo reaped -1", fdinfo_pid(cfd) == -1);
    R("send reaped", psend(cfd, 0, NULL, 0));
    R("getfd reaped", pgetfd(cfd, 0, 0));
    R("open reaped", popen_(c, 0));
    R("waitid self", waitid(P_PIDFD, self, &si, WEXITED | WNOHANG));
    R("waitid not pidfd", waitid(P_PIDFD, ep, &si, WEXITED | WNOHANG));
    R("waitid neg", waitid(P_PIDFD, -1, &si, WEXITED | WNOHANG));
    close(cfd);
    close(ep);

    /* pidfd_send_signal: default siginfo, a caller's siginfo, self */
    int q[2];
    MUST(pipe(p));
    MUST(pipe(q));
    c = fork();
    MUST(c);
    if (c == 0) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_info;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGRTMIN, &sa, NULL);
        write(q[1], "r", 1);
        for (int i = 0; i < 2; i++) {
            while (!got_sig)
                pause();
            char line[64];
            int n = snprintf(line, sizeof line, "%d %d %d %d;", got_sig == SIGUSR1,
                             got_code, got_val, got_pid == getppid());
            got_sig = 0;
            write(q[1], line, n);
        }
        _exit(0);
    }
    char x;
    MUST(read(q[0], &x, 1));
    cfd = popen_(c, 0);
    R("send usr1", psend(cfd, SIGUSR1, NULL, 0));
    char line[128] = {0};
    ssize_t n = read(q[0], line, sizeof line - 1);
    line[n > 0 ? n : 0] = 0;
    printf("child got: %s\n", line);
    memset(&si, 0, sizeof si);
    si.si_signo = SIGRTMIN;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_value.sival_int = 42;
    R("send info mismatch", psend(cfd, SIGUSR1, &si, 0));
    si.si_code = SI_USER;
    R("send info SI_USER", psend(cfd, SIGRTMIN, &si, 0));
    si.si_code = SI_TKILL;
    R("send info SI_TKILL", psend(cfd, SIGRTMIN, &si, 0));
    si.si_code = SI_QUEUE;
    R("send info bad ptr", psend(cfd, SIGRTMIN, (siginfo_t *)8, 0));
    R("send info queue", psend(cfd, SIGRTMIN, &si, 0));
    memset(line, 0, sizeof line);
    n = read(q[0], line, sizeof line - 1);
    line[n > 0 ? n : 0] = 0;
    printf("child got: %s\n", line);
    MUST(waitpid(c, NULL, 0));
    close(cfd);
    close(q[0]);
    close(q[1]);
    close(p[0]);
    close(p[1]);

    /* to oneself: a siginfo with SI_USER is allowed */
    struct sigaction sa = {0};
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    MUST(sigaction(SIGUSR2, &sa, NULL));
    got_sig = 0;
    R("send self", psend(self, SIGUSR2, NULL, 0));
    printf("self got: %d code %d pid %d\n", got_sig == SIGUSR2, got_code, got_pid == getpid());
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = SI_USER;
    si.si_pid = getpid();
    got_sig = 0;
    R("send self SI_USER info", psend(self, SIGUSR2, &si, 0));
    printf("self got: %d code %d\n", got_sig == SIGUSR2, got_code);
    got_sig = 0;
    R("send self thread scope", psend(self, SIGUSR2, NULL, 1));
    printf("self got: %d code %d\n", got_sig == SIGUSR2, got_code);

    /* process-group scope: the group the pid leads */
    c = fork();
    MUST(c);
    if (c == 0) {
        setpgid(0, 0);
        for (;;)
            pause();
    }
    pid_t c2 = fork();
    MUST(c2);
    if (c2 == 0) {
        for (;;)
            pause();
    }
    cfd = popen_(c, 0);
    int cfd2 = popen_(c2, 0);
    while (getpgid(c) != c)
        msleep(1);
    R("send pgrp not leader", psend(cfd2, SIGTERM, NULL, 4));
    R("send pgrp", psend(cfd, SIGTERM, NULL, 4));
    int st;
    MUST(waitpid(c, &st, 0));
    T("pgrp killed", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    R("send thread scope", psend(cfd2, SIGKILL, NULL, 1));
    MUST(waitpid(c2, &st, 0));
    T("thread scope killed", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(cfd);
    close(cfd2);

    /* pidfd_getfd */
    MUST(pipe(p));
    MUST(pipe(q));
    c = fork();
    MUST(c);
    if (c == 0) {
        int f = open("shared.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
        write(f, "hello pidfd", 11);
        lseek(f, 6, SEEK_SET);
        dup2(f, 42);
        close(f);
        write(q[1], "r", 1);
        read(p[0], &x, 1);
        /* the offset the parent moved is this process's too */
        char rb[8] = {0};
        int k = read(42, rb, 5);
        write(q[1], rb, k > 0 ? k : 0);
        read(p[0], &x, 1);
        _exit(0);
    }
    MUST(read(q[0], &x, 1));
    cfd = popen_(c, 0);
    int got = pgetfd(cfd, 42, 0);
    R("getfd", got >= 0 ? 0 : -1);
    T("getfd cloexec", fcntl(got, F_GETFD) == FD_CLOEXEC);
    char rb[16] = {0};
    R("getfd read", read(got, rb, 3));
    printf("getfd data: %s\n", rb);
    R("getfd closed fd", pgetfd(cfd, 43, 0));
    R("getfd neg fd", pgetfd(cfd, -1, 0));
    write(p[1], "g", 1);
    memset(rb, 0, sizeof rb);
    R("child read", read(q[0], rb, 5));
    printf("child data: %s\n", rb);
    /* a process of another uid may not take the parent's files, nor signal it */
    pid_t g = fork();
    MUST(g);
    if (g == 0) {
        int pp = popen_(getppid(), 0);
        MUST(setresgid(1000, 1000, 1000));
        MUST(setresuid(1000, 1000, 1000));
        R("unpriv getfd", pgetfd(pp, 0, 0));
        R("unpriv send", psend(pp, SIGUSR2, NULL, 0));
        R("unpriv send 0", psend(pp, 0, NULL, 0));
        int me = popen_(getpid(), 0);
        R("unpriv getfd self", pgetfd(me, 0, 0) >= 0 ? 0 : -1);
        _exit(0);
    }
    MUST(waitpid(g, NULL, 0));
    write(p[1], "g", 1);
    MUST(waitpid(c, NULL, 0));
    close(got);
    close(cfd);

    /* a thread: only PIDFD_THREAD names it; thread-directed signals; readable at its exit */
    MUST(pipe(thr_pipe));
    set_handler(SIGUSR1, on_thr, 0);
    pthread_t th_;
    MUST(-pthread_create(&th_, NULL, thr_main, NULL));
    while (!thr_tid)
        msleep(1);
    R("thread open", popen_(thr_tid, 0));
    int tfd = popen_(thr_tid, PIDFD_THREAD);
    R("thread open PIDFD_THREAD", tfd >= 0 ? 0 : -1);
    T("thread fdinfo", fdinfo_pid(tfd) == thr_tid);
    R("thread poll live", poll_in(tfd, 0));
    R("thread send", psend(tfd, SIGUSR1, NULL, 0));
    while (!thr_got)
        msleep(1);
    T("thread got it", thr_got == thr_tid);
    R("thread getfd", pgetfd(tfd, thr_pipe[1], 0) >= 0 ? 0 : -1);
    R("thread waitid", waitid(P_PIDFD, tfd, &si, WEXITED | WNOHANG));
    write(thr_pipe[1], "x", 1);
    pthread_join(th_, NULL);
    {
        struct pollfd pf = {tfd, POLLIN, 0};
        R("thread poll exit", poll(&pf, 1, 5000));
        T("thread poll in", pf.revents & POLLIN); /* HUP too once released: racy */
        msleep(100);
        pf.revents = 0;
        R("thread poll released", poll(&pf, 1, 0));
        printf("thread poll released revents: %#x\n", pf.revents);
    }
    R("thread send gone", psend(tfd, 0, NULL, 0));
    R("thread open gone", popen_(thr_tid, PIDFD_THREAD));
    int leader_t = popen_(getpid(), PIDFD_THREAD);
    R("leader thread pidfd poll", poll_in(leader_t, 0));
    close(leader_t);
    close(tfd);
    close(thr_pipe[0]);
    close(thr_pipe[1]);

    /* CLONE_PIDFD: clone3's pidfd field and clone(2)'s parent_tid slot */
    int pfd = -1;
    struct clone_args ca = {0};
    ca.flags = CLONE_PIDFD;
    ca.pidfd = (unsigned long)&pfd;
    ca.exit_signal = SIGCHLD;
    c = syscall(SYS_clone3, &ca, sizeof ca);
    if (c == 0)
        _exit(5);
    R("clone3 pidfd", c > 0 && pfd >= 0 ? 0 : -1);
    T("clone3 pidfd cloexec", fcntl(pfd, F_GETFD) == FD_CLOEXEC);
    T("clone3 pidfd pid", fdinfo_pid(pfd) == c);
    R("clone3 poll", poll_in(pfd, 5000));
    memset(&si, 0, sizeof si);
    R("clone3 waitid", waitid(P_PIDFD, pfd, &si, WEXITED));
    printf("clone3 child: %d %d\n", si.si_pid == c, si.si_status);
    close(pfd);
    pfd = -1;
    c = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pfd, 0, 0);
    if (c == 0)
        _exit(6);
    R("clone pidfd", c > 0 && pfd >= 0 ? 0 : -1);
    T("clone pidfd pid", fdinfo_pid(pfd) == c);
    memset(&si, 0, sizeof si);
    R("clone waitid", waitid(P_PIDFD, pfd, &si, WEXITED));
    printf("clone child: %d %d\n", si.si_pid == c, si.si_status);
    close(pfd);
    R("clone pidfd+settid", syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0,
                                    &pfd, 0, 0));
    R("clone pidfd+detached", syscall(SYS_clone, CLONE_PIDFD | CLONE_DETACHED | SIGCHLD, 0,
                                      &pfd, 0, 0));
    ca.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
    ca.parent_tid = ca.pidfd;
    R("clone3 pidfd=parent_tid", syscall(SYS_clone3, &ca, sizeof ca));
    proc_pid_fds();
    puts("done");
    return 0;
}
