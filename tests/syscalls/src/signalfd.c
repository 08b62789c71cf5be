/* signalfd.c -- signalfd/signalfd4: argument checks, what the file looks like (fstat,
 * /proc fd and fdinfo, flags), reads of blocked signals with their siginfo (kill,
 * raise, sigqueue with a value, SIGCHLD of a child's exit, SIGPIPE, SIGALRM, signals
 * from another process), several records in one read, the order of standard and
 * real-time signals, mask updates, EAGAIN and EINVAL, blocking reads woken by a
 * signal, poll/select/epoll readiness (nested too, and the fork quirk signalfd(2)
 * documents), the child's own signals after fork, a thread's own signals,
 * inheritance across exec, and signals that are not blocked (delivered as usual, or taken by a read in progress,
 * or fatal). */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define SSI sizeof(struct signalfd_siginfo)

static pid_t child_pid;

static const char *code_name(int c)
{
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TKILL: return "SI_TKILL";
    case CLD_EXITED: return "CLD_EXITED";
    default: return "other";
    }
}

static const char *sig_name(int s)
{
    static char buf[16];
    if (s >= SIGRTMIN && s <= SIGRTMAX) {
        snprintf(buf, sizeof buf, "RTMIN+%d", s - SIGRTMIN);
        return buf;
    }
    const char *n = sigabbrev_np(s);
    return n ? n : "?";
}

static const char *who(uint32_t pid)
{
    if (pid == 0) return "none";
    if ((pid_t)pid == getpid()) return "self";
    if ((pid_t)pid == getppid()) return "parent";
    if ((pid_t)pid == child_pid) return "child";
    return "other";
}

static void show_rec(const char *label, const struct signalfd_siginfo *s)
{
    printf("%s: %s %s from %s uid %s", label, sig_name(s->ssi_signo), code_name(s->ssi_code),
           who(s->ssi_pid), s->ssi_uid == getuid() ? "same" : "other");
    if (s->ssi_code == SI_QUEUE)
        printf(" int %d ptr %llu", s->ssi_int, (unsigned long long)s->ssi_ptr);
    if (s->ssi_signo == SIGCHLD)
        printf(" status %d", s->ssi_status);
    printf("\n");
}

/* one read of up to n records; prints the count and each record */
static int rd(const char *label, int fd, int n)
{
    struct signalfd_siginfo s[8];
    memset(s, 0xaa, sizeof s);
    errno = 0;
    ssize_t r = read(fd, s, n * SSI);
    if (r < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return 0;
    }
    printf("%s: %zd bytes\n", label, r);
    for (int i = 0; i < r / (ssize_t)SSI; i++)
        show_rec(label, &s[i]);
    return r / SSI;
}

static void show_fdinfo(const char *label, int fd)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int f = open(path, O_RDONLY);
    MUST(f);
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    buf[n > 0 ? n : 0] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "mnt_id", 6) != 0 && strncmp(line, "ino", 3) != 0)
            printf("%s: %s\n", label, line);
}

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDNORM, 0};
    int r = poll(&p, 1, 0);
    return r > 0 ? p.revents : r;
}

static int ep_ready(int ep, int timeout)
{
    struct epoll_event ev[4];
    int r = epoll_wait(ep, ev, 4, timeout);
    return r > 0 ? (int)(r * 1000 + ev[0].events) : r;
}

static sigset_t set_of(int a, int b, int c)
{
    sigset_t s;
    sigemptyset(&s);
    if (a) sigaddset(&s, a);
    if (b) sigaddset(&s, b);
    if (c) sigaddset(&s, c);
    return s;
}

static void block(int a, int b, int c)
{
    sigset_t s = set_of(a, b, c);
    MUST(sigprocmask(SIG_BLOCK, &s, NULL));
}

static void unblock(int a, int b, int c)
{
    sigset_t s = set_of(a, b, c);
    MUST(sigprocmask(SIG_UNBLOCK, &s, NULL));
}

static pid_t spawn(void (*fn)(pid_t))
{
    pid_t parent = getpid();
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        fn(parent);
        _exit(0);
    }
    child_pid = c;
    return c;
}

static int reap(pid_t c)
{
    int st = 0;
    MUST(waitpid(c, &st, 0));
    return st;
}

static void do_kill_usr1(pid_t p) { kill(p, SIGUSR1); }
static void do_two(pid_t p)
{
    kill(p, SIGUSR1);
    sigqueue(p, SIGUSR2, (union sigval){.sival_int = 7});
}
static void do_late_usr1(pid_t p)
{
    msleep(100);
    kill(p, SIGUSR1);
}
static void do_rt(pid_t p)
{
    sigqueue(p, SIGRTMIN + 2, (union sigval){.sival_int = 1});
    sigqueue(p, SIGRTMIN + 1, (union sigval){.sival_int = 2});
    sigqueue(p, SIGRTMIN + 1, (union sigval){.sival_int = 3});
    kill(p, SIGRTMIN + 2);
    sigqueue(p, SIGRTMIN + 1, (union sigval){.sival_int = 4});
}
static void do_exit3(pid_t p)
{
    (void)p;
    _exit(3);
}

static volatile sig_atomic_t handled;
static void on_sig(int s)
{
    (void)s;
    handled++;
}

static int thread_fd;
static struct signalfd_siginfo thread_got;
static void *reader_thread(void *arg)
{
    (void)arg;
    if (read(thread_fd, &thread_got, SSI) != (ssize_t)SSI)
        memset(&thread_got, 0, SSI);
    return NULL;
}

/* the exec'd image: read the signalfd it inherited */
static int exec_side(char **argv)
{
    out_init();
    int fd = atoi(argv[3]);
    int cfd = atoi(argv[4]);
    T("exec: inherited fd is a signalfd", readable(fd) == POLLIN);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    rd("exec: read inherited", fd, 4);
    fcntl(fd, F_SETFL, fl);
    R("exec: cloexec signalfd", fcntl(cfd, F_GETFD));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[2], "exec") == 0)
        return exec_side(argv);
    enter_workdir(argc, argv);
    sigset_t m = set_of(SIGUSR1, SIGUSR2, 0);

    /* -- arguments ------------------------------------------------------------- */
    R("sizemask 4", syscall(SYS_signalfd4, -1, &m, 4, 0));
    R("sizemask 16", syscall(SYS_signalfd, -1, &m, 16));
    R("bad mask pointer", syscall(SYS_signalfd4, -1, NULL, 8, 0));
    R("bad flags", syscall(SYS_signalfd4, -1, &m, 8, 1));
    R("bad flags O_APPEND", syscall(SYS_signalfd4, -1, &m, 8, O_APPEND));
    R("fd -2", syscall(SYS_signalfd4, -2, &m, 8, 0));
    R("fd not open", syscall(SYS_signalfd4, 900, &m, 8, 0));
    int p[2];
    MUST(pipe(p));
    R("fd a pipe", syscall(SYS_signalfd4, p[0], &m, 8, 0));
    close(p[0]);
    close(p[1]);

    /* -- the file ---------------------------------------------------------------- */
    sigset_t mk = set_of(SIGUSR1, SIGKILL, SIGSTOP);
    int fd = syscall(SYS_signalfd, -1, &mk, 8);
    MUST(fd);
    printf("F_GETFL: %o\n", fcntl(fd, F_GETFL));
    T("not cloexec", !(fcntl(fd, F_GETFD) & FD_CLOEXEC));
    show_fdinfo("fdinfo (KILL, STOP dropped)", fd);
    struct stat st;
    MUST(fstat(fd, &st));
    printf("fstat: mode %o size %lld nlink %ld\n", st.st_mode, (long long)st.st_size,
           (long)st.st_nlink);
    char link[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t ln = readlink(path, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    printf("fd link: %s\n", link);
    R("reopen through /proc", open(path, O_RDONLY));
    R("write", write(fd, "x", 1));
    R("lseek", lseek(fd, 0, SEEK_CUR));
    char b[256];
    R("pread", pread(fd, b, sizeof b, 0));
    int fn = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
    MUST(fn);
    printf("F_GETFL nonblock: %o\n", fcntl(fn, F_GETFL));
    T("cloexec", fcntl(fn, F_GETFD) & FD_CLOEXEC);
    R("update returns the fd", signalfd(fd, &m, 0));
    show_fdinfo("fdinfo after update", fd);
    R("update with SFD_NONBLOCK", signalfd(fd, &m, SFD_NONBLOCK));
    printf("F_GETFL after update: %o\n", fcntl(fd, F_GETFL));
    int on = 1;
    R("FIOASYNC", ioctl(fd, FIOASYNC, &on));
    R("F_SETFL O_ASYNC", fcntl(fd, F_SETFL, O_ASYNC));
    printf("F_GETFL after O_ASYNC: %o\n", fcntl(fd, F_GETFL));
    R("FIONREAD", ioctl(fd, FIONREAD, &on));

    /* -- reads of blocked signals -------------------------------------------------- */
    block(SIGUSR1, SIGUSR2, 0);
    R("read 127 bytes", read(fn, b, 127));
    R("read nothing pending", read(fn, b, sizeof b));
    T("poll nothing pending", readable(fn) == 0);
    raise(SIGUSR1);
    printf("poll after raise: %x\n", readable(fn));
    R("read 127 bytes pending", read(fn, b, 127));
    rd("raise", fn, 2);
    sigset_t pend;
    sigpending(&pend);
    T("consumed", !sigismember(&pend, SIGUSR1));
    T("poll after read", readable(fn) == 0);
    kill(getpid(), SIGUSR2);
    rd("kill self", fn, 2);
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 42});
    rd("sigqueue self", fn, 2);
    raise(SIGUSR2);
    raise(SIGUSR1);
    raise(SIGUSR1);
    rd("two in one read", fn, 4);
    raise(SIGUSR2);
    raise(SIGUSR1);
    rd("room for one", fn, 1);
    rd("then the other", fn, 1);
    raise(SIGUSR1);
    struct signalfd_siginfo s2[2];
    struct iovec iov[2] = {{s2, 64}, {(char *)s2 + 64, 64}};
    R("readv split record", readv(fn, iov, 2));
    show_rec("readv", s2);
    int d = dup(fn);
    raise(SIGUSR2);
    rd("through a dup", d, 1);
    close(d);
    raise(SIGUSR1);
    rd("blocking fd with a signal pending", fd, 1);
    signal(SIGTRAP, SIG_IGN);
    raise(SIGUSR2);
    rd("with SIGTRAP ignored", fn, 1);
    struct sigaction sa;
    MUST(sigaction(SIGTRAP, NULL, &sa));
    T("SIGTRAP still ignored", sa.sa_handler == SIG_IGN);
    signal(SIGTRAP, SIG_DFL);

    /* -- mask updates ------------------------------------------------------------------- */
    sigset_t only2 = set_of(SIGUSR2, 0, 0);
    R("update to USR2", signalfd(fn, &only2, 0));
    raise(SIGUSR1);
    R("USR1 no longer read", read(fn, b, sizeof b));
    T("poll USR1 only", readable(fn) == 0);
    show_fdinfo("fdinfo USR2", fn);
    R("update to USR1 USR2", signalfd(fn, &m, 0));
    rd("USR1 read again", fn, 2);
    sigset_t none;
    sigemptyset(&none);
    R("empty mask", signalfd(fn, &none, 0));
    raise(SIGUSR2);
    R("empty mask read", read(fn, b, sizeof b));
    R("update back", signalfd(fn, &m, 0));
    rd("after update back", fn, 2);

    /* -- other senders ------------------------------------------------------------------- */
    pid_t c = spawn(do_kill_usr1);
    reap(c);
    rd("kill from child", fn, 2);
    c = spawn(do_two);
    reap(c);
    rd("kill and sigqueue from child", fn, 4);
    block(SIGRTMIN + 1, SIGRTMIN + 2, 0);
    sigset_t rt = set_of(SIGRTMIN + 1, SIGRTMIN + 2, SIGUSR1);
    int frt = signalfd(-1, &rt, SFD_NONBLOCK);
    MUST(frt);
    c = spawn(do_rt);
    reap(c);
    raise(SIGUSR1);
    rd("real-time order", frt, 8);
    rd("real-time drained", frt, 8);
    close(frt);

    block(SIGCHLD, 0, 0);
    sigset_t chld = set_of(SIGCHLD, 0, 0);
    int fc = signalfd(-1, &chld, 0);
    MUST(fc);
    c = spawn(do_exit3);
    rd("SIGCHLD", fc, 2);
    printf("exit status: %d\n", WEXITSTATUS(reap(c)));
    close(fc);
    unblock(SIGCHLD, 0, 0);

    block(SIGPIPE, SIGALRM, 0);
    sigset_t pa = set_of(SIGPIPE, SIGALRM, 0);
    int fpa = signalfd(-1, &pa, 0);
    MUST(fpa);
    MUST(pipe(p));
    close(p[0]);
    R("write without reader", write(p[1], "x", 1));
    close(p[1]);
    rd("SIGPIPE", fpa, 2);
    struct itimerval it = {{0, 0}, {0, 30000}};
    MUST(setitimer(ITIMER_REAL, &it, NULL));
    rd("SIGALRM (blocking read)", fpa, 2);
    close(fpa);

    /* -- blocking reads and waits ------------------------------------------------------ */
    c = spawn(do_late_usr1);
    rd("blocking read woken", fd, 2);
    reap(c);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    R("F_SETFL O_NONBLOCK read", read(fd, b, sizeof b));
    fcntl(fd, F_SETFL, 0);
    set_handler(SIGHUP, on_sig, SA_RESTART);
    handled = 0;
    c = spawn(do_late_usr1);
    {
        /* a caught signal outside the mask runs its handler; the read restarts */
        pid_t h = fork();
        MUST(h);
        if (h == 0) {
            msleep(50);
            kill(getppid(), SIGHUP);
            _exit(0);
        }
        rd("read across a handler", fd, 2);
        reap(h);
        printf("handler ran: %d\n", handled);
    }
    reap(c);

    /* -- poll, select, epoll --------------------------------------------------------------- */
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(fn, &rs);
    struct timeval tv = {0, 0};
    R("select nothing", select(fn + 1, &rs, NULL, NULL, &tv));
    raise(SIGUSR2);
    FD_ZERO(&rs);
    FD_SET(fn, &rs);
    R("select pending", select(fn + 1, &rs, NULL, NULL, &tv));
    int ep = epoll_create1(0);
    MUST(ep);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    R("epoll add with one pending", epoll_ctl(ep, EPOLL_CTL_ADD, fn, &ev));
    R("epoll ready", ep_ready(ep, 0));
    rd("drain", fn, 2);
    R("epoll after read", ep_ready(ep, 0));
    raise(SIGUSR1);
    R("epoll after raise", ep_ready(ep, 0));
    R("epoll level-triggered", ep_ready(ep, 0));
    rd("drain", fn, 2);
    R("epoll drained", ep_ready(ep, 0));
    int ep2 = epoll_create1(0);
    MUST(ep2);
    struct epoll_event ev2 = {.events = EPOLLIN, .data.u32 = 2};
    MUST(epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev2));
    R("nested nothing", ep_ready(ep2, 0));
    c = spawn(do_late_usr1);
    R("nested blocking wait", ep_ready(ep2, 5000));
    reap(c);
    R("inner", ep_ready(ep, 0));
    rd("drain", fn, 2);
    R("nested drained", ep_ready(ep2, 0));
    int ep3 = epoll_create1(0);
    MUST(ep3);
    struct epoll_event ev3 = {.events = EPOLLIN | EPOLLET, .data.u32 = 3};
    MUST(epoll_ctl(ep3, EPOLL_CTL_ADD, fn, &ev3));
    raise(SIGUSR1);
    R("edge-triggered", ep_ready(ep3, 0));
    R("edge-triggered again", ep_ready(ep3, 0));
    raise(SIGUSR2);
    R("edge-triggered, a new signal", ep_ready(ep3, 0));
    rd("drain", fn, 4);
    close(ep3);

    /* -- fork: the child reads its own signals ---------------------------------------- */
    sigset_t m2 = set_of(SIGUSR2, 0, 0);
    int fq = signalfd(-1, &m2, SFD_NONBLOCK);
    MUST(fq);
    int epq = epoll_create1(0);
    MUST(epq);
    struct epoll_event evq = {.events = EPOLLIN, .data.u32 = 5};
    MUST(epoll_ctl(epq, EPOLL_CTL_ADD, fq, &evq));
    raise(SIGUSR1);
    R("epoll of a USR2 signalfd, USR1 pending", ep_ready(epq, 0));
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        R("child: parent's pending not seen", read(fn, b, sizeof b));
        T("child: poll nothing", readable(fn) == 0);
        raise(SIGUSR2);
        printf("child: poll own: %x\n", readable(fn));
        /* the set hears of the signals of the process that added the fd, the parent */
        R("child: epoll, added by the parent", ep_ready(epq, 0));
        int cep = epoll_create1(0);
        struct epoll_event cev = {.events = EPOLLIN, .data.u32 = 4};
        MUST(epoll_ctl(cep, EPOLL_CTL_ADD, fq, &cev));
        R("child: own epoll", ep_ready(cep, 0));
        rd("child: read own", fn, 2);
        fflush(stdout);
        _exit(5);
    }
    child_pid = c;
    printf("child exit: %d\n", WEXITSTATUS(reap(c)));
    rd("parent: still its own", fn, 2);
    raise(SIGUSR2);
    R("parent: epoll", ep_ready(epq, 0));
    rd("drain", fn, 2);
    close(epq);
    close(fq);
    close(ep2);
    close(ep);

    /* -- threads: a thread reads the signals sent to it -------------------------------- */
    thread_fd = fd;
    pthread_t th;
    MUST(pthread_create(&th, NULL, reader_thread, NULL) ? -1 : 0);
    msleep(50);
    T("main: poll, nothing for it", readable(fd) == 0);
    pthread_kill(th, SIGUSR1);
    pthread_join(th, NULL);
    show_rec("thread read", &thread_got);
    T("main: poll after", readable(fd) == 0);

    /* -- exec --------------------------------------------------------------------------- */
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        raise(SIGUSR2);
        char a3[16], a4[16];
        snprintf(a3, sizeof a3, "%d", fd);
        int cl = signalfd(-1, &m, SFD_CLOEXEC);
        snprintf(a4, sizeof a4, "%d", cl);
        char *args[] = {argv[0], argv[1], "exec", a3, a4, NULL};
        execv("/proc/self/exe", args);
        _exit(98);
    }
    printf("exec child exit: %d\n", WEXITSTATUS(reap(c)));

    /* -- signals that are not blocked ---------------------------------------------------- */
    unblock(SIGUSR1, SIGUSR2, 0);
    set_handler(SIGUSR1, on_sig, SA_RESTART);
    handled = 0;
    raise(SIGUSR1);
    printf("unblocked raise: handler %d\n", handled);
    R("unblocked raise: read", read(fn, b, sizeof b));
    {
        /* a read in progress takes an unblocked caught signal of its mask before the
           handler would run (a late read gets the blocked SIGUSR2 sent after it) */
        int got = 0, tries = 0;
        for (; tries < 5 && got != SIGUSR1; tries++) {
            block(SIGUSR2, 0, 0);
            handled = 0;
            fflush(stdout);
            pid_t k = fork();
            MUST(k);
            if (k == 0) {
                msleep(150);
                kill(getppid(), SIGUSR1);
                msleep(300);
                kill(getppid(), SIGUSR2);
                _exit(0);
            }
            struct signalfd_siginfo s;
            if (read(fd, &s, sizeof s) == (ssize_t)SSI)
                got = s.ssi_signo;
            kill(k, SIGKILL);
            reap(k);
            sigpending(&pend);
            if (sigismember(&pend, SIGUSR2))
                read(fn, b, sizeof b);
            unblock(SIGUSR2, 0, 0);
        }
        printf("read in progress takes it: %s handler %d\n", sig_name(got), handled);
    }
    signal(SIGCHLD, SIG_DFL);
    sigset_t cm = set_of(SIGCHLD, SIGUSR1, 0);
    int fch = signalfd(-1, &cm, SFD_NONBLOCK);
    MUST(fch);
    c = spawn(do_exit3);
    reap(c);
    R("unblocked SIGCHLD (ignored) not read", read(fch, b, sizeof b));
    close(fch);
    {
        /* an unblocked signal that kills by default kills a reader */
        fflush(stdout);
        pid_t k = fork();
        MUST(k);
        if (k == 0) {
            sigset_t tm = set_of(SIGTERM, 0, 0);
            int tf = signalfd(-1, &tm, 0);
            struct signalfd_siginfo s;
            read(tf, &s, sizeof s);
            _exit(0);
        }
        msleep(100);
        kill(k, SIGTERM);
        int ws = reap(k);
        printf("reader killed: %s\n", WIFSIGNALED(ws) ? sig_name(WTERMSIG(ws)) : "no");
    }
    close(fn);
    close(fd);
    return 0;
}
