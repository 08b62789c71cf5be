/* siginfo.c -- what a SA_SIGINFO handler learns about the sender: kill
 * (SI_USER), tgkill (SI_TKILL) and sigqueue (SI_QUEUE, with its value) from
 * another process, queued real-time signals each with their own siginfo,
 * SIGPIPE (SI_USER from the writer itself), SIGALRM of an interval timer
 * (SI_KERNEL), and a signal to ourselves. */
#include "check.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#define MAXREC 8
static volatile sig_atomic_t nrec;
static struct {
    int signo, code, pid, uid, value;
} rec[MAXREC];

static void h(int s, siginfo_t *si, void *u)
{
    (void)u;
    if (nrec < MAXREC) {
        rec[nrec].signo = s;
        rec[nrec].code = si->si_code;
        rec[nrec].pid = si->si_pid;
        rec[nrec].uid = si->si_uid;
        rec[nrec].value = si->si_value.sival_int;
    }
    nrec++;
}

static void catch(int sig)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    MUST(sigaction(sig, &sa, NULL));
}

static const char *code_name(int c)
{
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TKILL: return "SI_TKILL";
    case SI_TIMER: return "SI_TIMER";
    default: return "other";
    }
}

/* print record i; "sender" is "child", "self" or "none" (si_pid 0) */
static void show(const char *label, int i, pid_t child)
{
    const char *who = rec[i].pid == 0 ? "none"
                      : rec[i].pid == child ? "child"
                      : rec[i].pid == getpid() ? "self"
                                               : "other";
    printf("%s: sig %d %s from %s uid %s value %d\n", label, rec[i].signo, code_name(rec[i].code), who,
           rec[i].uid == (int)getuid() ? "same" : "other", rec[i].value);
}

/* run fn in a child, wait for it, then for the handler to have run n times */
static pid_t in_child(void (*fn)(pid_t), int n)
{
    pid_t parent = getpid();
    long before = nrec;
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        fn(parent);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    for (int i = 0; i < 200 && nrec < before + n; i++)
        msleep(5);
    return c;
}

static void do_kill(pid_t p) { kill(p, SIGUSR1); }
static void do_tgkill(pid_t p) { syscall(SYS_tgkill, p, p, SIGUSR2); }
static void do_sigqueue(pid_t p) { sigqueue(p, SIGUSR1, (union sigval){.sival_int = 42}); }
static void do_rt_burst(pid_t p)
{
    for (int i = 1; i <= 3; i++)
        sigqueue(p, SIGRTMIN + 1, (union sigval){.sival_int = i});
    kill(p, SIGRTMIN + 1);
}

int main(void)
{
    out_init();
    catch(SIGUSR1);
    catch(SIGUSR2);
    catch(SIGRTMIN + 1);
    catch(SIGPIPE);
    catch(SIGALRM);
    pid_t c;

    c = in_child(do_kill, 1);
    show("kill from child", 0, c);
    c = in_child(do_tgkill, 1);
    show("tgkill from child", 1, c);
    c = in_child(do_sigqueue, 1);
    show("sigqueue from child", 2, c);

    /* real-time signals queue, each with its own siginfo, delivered in order */
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN + 1);
    MUST(sigprocmask(SIG_BLOCK, &rt, NULL));
    c = in_child(do_rt_burst, 0);
    R("RT handler runs while blocked", nrec - 3);
    MUST(sigprocmask(SIG_UNBLOCK, &rt, NULL));
    R("RT deliveries", nrec - 3);
    for (int i = 3; i < 7 && i < nrec; i++)
        show("RT from child", i, c);

    nrec = 0;
    kill(getpid(), SIGUSR1);
    show("kill self", 0, 0);

    int p[2];
    MUST(pipe(p));
    close(p[0]);
    R("write without reader", write(p[1], "x", 1));
    show("SIGPIPE", 1, 0);
    close(p[1]);

    struct itimerval it = {{0, 0}, {0, 20000}};
    MUST(setitimer(ITIMER_REAL, &it, NULL));
    for (int i = 0; i < 200 && nrec < 3; i++)
        msleep(5);
    show("SIGALRM", 2, 0);
    return 0;
}
