/* sched.c -- scheduling policy and priority calls, nice values (inherited by a
 * child; only root lowers them), CPU affinity of the caller and of another
 * process, the CPU-time interval timers (ITIMER_VIRTUAL/ITIMER_PROF), and
 * posix_fadvise. (Run as root.) */
#include "check.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t n_vt, n_prof;
static void h_vt(int s) { (void)s; n_vt++; }
static void h_prof(int s) { (void)s; n_prof++; }

static void burn_until(volatile sig_atomic_t *flag)
{
    volatile unsigned long x = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!*flag) {
        x++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 5)
            break;
    }
}

int main(void)
{
    out_init();
    struct sched_param sp = {0};
    R("getscheduler", sched_getscheduler(0));
    R("priority max FIFO", sched_get_priority_max(SCHED_FIFO));
    R("priority min RR", sched_get_priority_min(SCHED_RR));
    R("priority max OTHER", sched_get_priority_max(SCHED_OTHER));
    R("priority min BATCH", sched_get_priority_min(SCHED_BATCH));
    R("priority max bad policy", sched_get_priority_max(42));
    R("setscheduler BATCH", sched_setscheduler(0, SCHED_BATCH, &sp));
    R("getscheduler after", sched_getscheduler(0));
    R("setscheduler FIFO priority 0", sched_setscheduler(0, SCHED_FIFO, &sp));
    sp.sched_priority = 5;
    R("setscheduler OTHER priority 5", sched_setscheduler(0, SCHED_OTHER, &sp));
    sp.sched_priority = 0;
    R("setscheduler back to OTHER", sched_setscheduler(0, SCHED_OTHER, &sp));
    R("getparam", sched_getparam(0, &sp));
    R("priority", sp.sched_priority);
    R("getscheduler no such pid", sched_getscheduler(99999));
    R("getscheduler negative pid", sched_getscheduler(-1));

    errno = 0;
    R("getpriority", getpriority(PRIO_PROCESS, 0));
    R("setpriority 5", setpriority(PRIO_PROCESS, 0, 5));
    R("getpriority after", getpriority(PRIO_PROCESS, 0));
    R("setpriority bad which", setpriority(7, 0, 1));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        R("child inherits nice", getpriority(PRIO_PROCESS, 0));
        if (setgid(1000) || setuid(1000))
            _exit(99);
        R("non-root raises nice", setpriority(PRIO_PROCESS, 0, 10));
        R("non-root lowers nice", setpriority(PRIO_PROCESS, 0, 2));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    R("child status", WEXITSTATUS(st));
    R("root lowers nice", setpriority(PRIO_PROCESS, 0, -1));
    R("getpriority", getpriority(PRIO_PROCESS, 0));
    R("getpriority of the child's group", getpriority(PRIO_PGRP, 0));

    /* affinity: the caller's own, then another process's */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    R("setaffinity cpu0", sched_setaffinity(0, sizeof set, &set));
    CPU_ZERO(&set);
    R("getaffinity (bytes > 0)", sched_getaffinity(0, sizeof set, &set) == 0 ? 1 : -1);
    R("cpus", CPU_COUNT(&set));
    T("cpu0", CPU_ISSET(0, &set));
    CPU_ZERO(&set);
    R("setaffinity empty", sched_setaffinity(0, sizeof set, &set));
    int p[2];
    MUST(pipe(p));
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        char b;
        (void)!read(p[0], &b, 1);
        _exit(0);
    }
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    R("setaffinity of a child", sched_setaffinity(c, sizeof set, &set));
    CPU_ZERO(&set);
    MUST(sched_getaffinity(c, sizeof set, &set));
    R("child's cpus", CPU_COUNT(&set));
    R("setaffinity no such pid", sched_setaffinity(99999, sizeof set, &set));
    (void)!write(p[1], "x", 1);
    waitpid(c, NULL, 0);

    /* CPU-time interval timers */
    signal(SIGVTALRM, h_vt);
    signal(SIGPROF, h_prof);
    struct itimerval it = {{0, 0}, {0, 20000}}, old;
    R("setitimer VIRTUAL", setitimer(ITIMER_VIRTUAL, &it, NULL));
    burn_until(&n_vt);
    R("SIGVTALRM", n_vt);
    R("setitimer PROF", setitimer(ITIMER_PROF, &it, NULL));
    R("getitimer PROF", getitimer(ITIMER_PROF, &old));
    T("PROF armed", old.it_value.tv_sec == 0 && old.it_value.tv_usec > 0);
    burn_until(&n_prof);
    R("SIGPROF", n_prof);
    R("getitimer PROF after", getitimer(ITIMER_PROF, &old));
    T("PROF disarmed", old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);
    R("setitimer bad which", setitimer(9, &it, NULL));

    /* posix_fadvise returns the error number */
    int fd = open("/proc/self/exe", O_RDONLY);
    MUST(fd);
    printf("fadvise file: %d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
    printf("fadvise bad advice: %d\n", posix_fadvise(fd, 0, 0, 99));
    printf("fadvise pipe: %d\n", posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL));
    printf("fadvise bad fd: %d\n", posix_fadvise(77, 0, 0, POSIX_FADV_NORMAL));
    return 0;
}
