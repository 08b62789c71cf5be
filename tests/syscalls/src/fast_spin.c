/* fast_spin.c -- timers and timeouts still fire while the workload makes nothing
 * but calls the sentry answers on its fast path (a getpid spin, as a fuzzer's
 * lock loop does): the sentry must not serve such a stream without ever looking
 * at its timers. Every wait is bounded by the vDSO clock, so a missed timer
 * shows as "no" instead of a hang. */
#include "check.h"
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/time.h>

static volatile sig_atomic_t fired;
static volatile int stop_spin;

static void on_alarm(int sig)
{
    (void)sig;
    fired = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spin on getpid until the flag is set or 10 s have passed. */
static int spin_until_fired(void)
{
    double end = now() + 10;
    while (!fired && now() < end)
        syscall(SYS_getpid);
    return fired;
}

static void *spinner(void *arg)
{
    (void)arg;
    double end = now() + 10;
    while (!stop_spin && now() < end)
        syscall(SYS_getpid);
    return NULL;
}

int main(void)
{
    out_init();
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    MUST(sigaction(SIGALRM, &sa, NULL));

    fired = 0;
    alarm(1);
    T("alarm fires during a getpid spin", spin_until_fired());

    fired = 0;
    struct itimerval it = {.it_value = {.tv_usec = 200000}};
    MUST(setitimer(ITIMER_REAL, &it, NULL));
    T("setitimer fires during a getpid spin", spin_until_fired());

    /* A call parked in the sentry times out while another thread spins. */
    int p[2];
    MUST(pipe(p));
    pthread_t t;
    MUST(-pthread_create(&t, NULL, spinner, NULL));
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    double t0 = now();
    R("poll 300 ms beside a getpid spin", poll(&pfd, 1, 300));
    T("poll returned within 5 s", now() - t0 < 5);

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    MUST(sigprocmask(SIG_BLOCK, &usr1, NULL));
    struct timespec ts = {.tv_nsec = 200000000};
    t0 = now();
    R("sigtimedwait 200 ms beside a getpid spin", sigtimedwait(&usr1, NULL, &ts));
    T("sigtimedwait returned within 5 s", now() - t0 < 5);
    stop_spin = 1;
    MUST(-pthread_join(t, NULL));
    return 0;
}
