/* signals.c -- sigaction, sigprocmask blocking/pending/unblock delivery, kill
 * to self, coalescing vs queued RT signals, SIGCHLD on child exit, EINTR with
 * and without SA_RESTART, sigsuspend, sigtimedwait, itimer, and the pid-1 rule
 * (the program is pid 1 natively and in the sandbox). signalfd has its own
 * program, signalfd.c. */
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t n_usr1, n_usr2, n_rt, n_alrm, chld_code, chld_status, n_chld;
static volatile int rt_vals[8];

static void h_usr1(int s) { (void)s; n_usr1++; }
static void h_usr2(int s) { (void)s; n_usr2++; }
static void h_alrm(int s) { (void)s; n_alrm++; }
static void h_rt(int s, siginfo_t *si, void *u)
{
    (void)s; (void)u;
    if (n_rt < 8)
        rt_vals[n_rt] = si->si_value.sival_int;
    n_rt++;
}
static void h_chld(int s, siginfo_t *si, void *u)
{
    (void)s; (void)u;
    n_chld++;
    chld_code = si->si_code;
    chld_status = si->si_status;
}



/* fork a child that sends sig to the parent after ms, then writes to fd after another ms */
static pid_t poke_later(int sig, long ms, int fd, long ms2)
{
    pid_t parent = getpid();
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        msleep(ms);
        kill(parent, sig);
        if (fd >= 0) {
            msleep(ms2);
            (void)!write(fd, "x", 1);
        }
        _exit(0);
    }
    return c;
}

int main(void)
{
    out_init();
    struct sigaction old;
    R("sigaction query SIGUSR1", sigaction(SIGUSR1, NULL, &old));
    T("SIGUSR1 default", old.sa_handler == SIG_DFL);
    R("sigaction SIGKILL", sigaction(SIGKILL, &(struct sigaction){.sa_handler = h_usr1}, NULL));
    R("sigaction bad signal", sigaction(65, &(struct sigaction){.sa_handler = h_usr1}, NULL));
    set_handler(SIGUSR1, h_usr1, 0);
    R("sigaction query after set", sigaction(SIGUSR1, NULL, &old));
    T("handler installed", old.sa_handler == h_usr1);

    R("kill self SIGUSR1", kill(getpid(), SIGUSR1));
    R("delivered before kill returned", n_usr1);
    R("raise SIGUSR1", raise(SIGUSR1));
    R("count after raise", n_usr1);
    R("kill sig 0", kill(getpid(), 0));
    R("kill bad signal", kill(getpid(), 99));
    R("kill no such pid", kill(99999, SIGUSR1));

    mask_signal(SIG_BLOCK, SIGUSR1);
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    T("mask has SIGUSR1", sigismember(&cur, SIGUSR1));
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    R("count while blocked", n_usr1);
    sigset_t pend;
    sigpending(&pend);
    T("SIGUSR1 pending", sigismember(&pend, SIGUSR1));
    T("SIGUSR2 not pending", !sigismember(&pend, SIGUSR2));
    mask_signal(SIG_UNBLOCK, SIGUSR1);
    R("count after unblock (coalesced)", n_usr1);
    sigpending(&pend);
    T("nothing pending", !sigismember(&pend, SIGUSR1));
    sigset_t all;
    sigfillset(&all);
    MUST(sigprocmask(SIG_BLOCK, &all, NULL));
    sigprocmask(SIG_BLOCK, NULL, &cur);
    T("SIGKILL cannot be blocked", !sigismember(&cur, SIGKILL));
    T("SIGSTOP cannot be blocked", !sigismember(&cur, SIGSTOP));
    MUST(sigprocmask(SIG_UNBLOCK, &all, NULL));
    R("sigprocmask bad how", sigprocmask(99, &all, NULL));

    /* queued real-time signals keep order and values */
    struct sigaction sa = {0};
    sa.sa_sigaction = h_rt;
    sa.sa_flags = SA_SIGINFO;
    MUST(sigaction(SIGRTMIN, &sa, NULL));
    mask_signal(SIG_BLOCK, SIGRTMIN);
    for (int i = 1; i <= 3; i++)
        R("sigqueue RT", sigqueue(getpid(), SIGRTMIN, (union sigval){.sival_int = i * 10}));
    R("RT count while blocked", n_rt);
    mask_signal(SIG_UNBLOCK, SIGRTMIN);
    R("RT count after unblock", n_rt);
    printf("RT values: %d %d %d\n", rt_vals[0], rt_vals[1], rt_vals[2]);

    /* SIG_IGN, and the pid-1 rule for default actions */
    signal(SIGUSR2, SIG_IGN);
    R("kill self ignored SIGUSR2", kill(getpid(), SIGUSR2));
    signal(SIGUSR2, SIG_DFL);
    R("getpid", getpid());
    R("kill self SIGTERM as init (default action)", kill(getpid(), SIGTERM));
    printf("survived SIGTERM as init: yes\n");

    /* SIGCHLD with siginfo */
    sa.sa_sigaction = h_chld;
    sa.sa_flags = SA_SIGINFO;
    MUST(sigaction(SIGCHLD, &sa, NULL));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0)
        _exit(7);
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    R("SIGCHLD count", n_chld);
    T("si_code CLD_EXITED", chld_code == CLD_EXITED);
    R("si_status", chld_status);
    signal(SIGCHLD, SIG_DFL);

    /* EINTR: a child kills us with SIGUSR2 while we block in read() */
    int p[2];
    MUST(pipe(p));
    set_handler(SIGUSR2, h_usr2, 0);
    char b;
    c = poke_later(SIGUSR2, 100, p[1], 150);
    R("read interrupted (no SA_RESTART)", read(p[0], &b, 1));
    R("SIGUSR2 handler count", n_usr2);
    R("read after interruption", read(p[0], &b, 1));
    waitpid(c, NULL, 0);
    set_handler(SIGUSR2, h_usr2, SA_RESTART);
    c = poke_later(SIGUSR2, 100, p[1], 150);
    R("read restarted (SA_RESTART)", read(p[0], &b, 1));
    R("SIGUSR2 handler count", n_usr2);
    waitpid(c, NULL, 0);

    /* nanosleep is never restarted: EINTR */
    set_handler(SIGUSR2, h_usr2, SA_RESTART);
    c = poke_later(SIGUSR2, 100, -1, 0);
    struct timespec ts = {5, 0}, rem = {0, 0};
    R("nanosleep interrupted", nanosleep(&ts, &rem));
    T("remaining time reported", rem.tv_sec > 0 && rem.tv_sec < 5);
    waitpid(c, NULL, 0);

    /* sigsuspend */
    mask_signal(SIG_BLOCK, SIGUSR1);
    c = poke_later(SIGUSR1, 50, -1, 0);
    sigset_t empty;
    sigemptyset(&empty);
    long before = n_usr1;
    R("sigsuspend", sigsuspend(&empty));
    R("sigsuspend ran handler", n_usr1 - before);
    sigprocmask(SIG_BLOCK, NULL, &cur);
    T("mask restored after sigsuspend", sigismember(&cur, SIGUSR1));
    waitpid(c, NULL, 0);

    /* sigtimedwait: pending signal, then timeout */
    kill(getpid(), SIGUSR1);
    sigset_t w;
    sigemptyset(&w);
    sigaddset(&w, SIGUSR1);
    siginfo_t si;
    R("sigtimedwait pending", sigtimedwait(&w, &si, &(struct timespec){1, 0}));
    T("si_pid is self", si.si_pid == getpid());
    R("sigtimedwait timeout", sigtimedwait(&w, &si, &(struct timespec){0, 30000000}));

    mask_signal(SIG_UNBLOCK, SIGUSR1);

    /* interval timer */
    set_handler(SIGALRM, h_alrm, 0);
    struct itimerval it = {{0, 0}, {0, 50000}};
    R("setitimer 50ms", setitimer(ITIMER_REAL, &it, NULL));
    R("pause", pause());
    R("SIGALRM count", n_alrm);
    R("alarm 0 (none pending)", alarm(0));

    /* a child killed by an unhandled signal; a child stopped and continued */
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        for (;;)
            pause();
    }
    R("kill child SIGTERM", kill(c, SIGTERM));
    waitpid(c, &st, 0);
    T("child terminated by SIGTERM", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    c = fork();
    MUST(c);
    if (c == 0) {
        for (;;)
            pause();
    }
    kill(c, SIGSTOP);
    waitpid(c, &st, WUNTRACED);
    T("child stopped by SIGSTOP", WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    T("child continued", WIFCONTINUED(st));
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    T("child killed by SIGKILL", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    return 0;
}
