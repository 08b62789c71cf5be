/* fuzz_regress.c CASE -- what the syscall fuzzer (fuzz.c) found, one case each.
 *
 *   far-timers  alarm/setitimer/timerfd deadlines decades away: the sentry's event
 *               loop once passed the wait in ms to a 32-bit int and died.
 *   stub        the workload breaks the stub page (unmap, PROT_NONE, a spin loop or
 *               traps mapped over it), then reads a pending signal from a signalfd,
 *               which the sentry serves by running rt_sigtimedwait at the stub's
 *               syscall: it once waited forever (or looped on the fault).  Now the
 *               process is killed; the test's parent sees SIGKILL and goes on.
 *   nr-minus-1  syscall(-1) while signals keep coming: a notification for it that a
 *               signal ended before the sentry answered came back as ERESTARTSYS
 *               (512), since the kernel restarts nothing for "no syscall".
 *   zombie      init keeps an unreaped child and three live ones and waits; the test
 *               ends the sandbox from outside (SIGTERM), which must end it at once: a
 *               signal that reached the sentry just before its loop's epoll_wait used
 *               to wait for the next event (about 1 in 6 times here).  The children
 *               die with init, as the sentry's tracees (their exits wait for its wait
 *               while the dying init waits for them).
 *   forks       5000 forks, one after the other, with host-backed fds open (stdio):
 *               each child's fd table took a new id for the C fast path's mirror,
 *               never given back, and past 4095 the sentry died at the next fork.
 * Prints "ok CASE" when the sandbox is still answering. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define STUB 0x7e0000001000ULL

static int far_timers(void)
{
    alarm(0xfffffffbu);   /* ~136 years */
    struct itimerval it = {{0, 0}, {0x7fffffffffffLL, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec ts = {{0, 0}, {0x7fffffffffffLL, 0}};
    timerfd_settime(t, 0, &ts, NULL);
    for (int i = 0; i < 100; i++) getppid();   /* the loop waits between them */
    usleep(20000);
    return getpid() == 1 ? 0 : 1;
}

static void break_stub_then_read_signal(int how)
{
    switch (how) {
    case 0: munmap((void *)STUB, 4096); break;
    case 1: mprotect((void *)STUB, 4096, PROT_NONE); break;
    default: {
        static const unsigned char fill[][2] = {{0xeb, 0xfe} /* jmp . */, {0xcc, 0xcc} /* int3 */,
                                                {0x0f, 0x0b} /* ud2 */};
        char *m = mmap((void *)STUB, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (m == MAP_FAILED) _exit(3);
        for (int i = 0; i < 4096; i += 2) memcpy(m + i, fill[how - 2], 2);
        break;
    }
    }
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigprocmask(SIG_BLOCK, &m, NULL);
    int fd = signalfd(-1, &m, 0);
    kill(getpid(), SIGUSR1);
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    /* Not reached in the sandbox (killed); natively the read just works. */
    _exit(n == (ssize_t)sizeof si ? 0 : 4);
}

static int stub(void)
{
    for (int how = 0; how < 5; how++) {
        pid_t c = fork();
        if (c == 0) break_stub_then_read_signal(how);
        int st;
        if (waitpid(c, &st, 0) != c) return 1;
        int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        int native_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!killed && !native_ok) {
            printf("stub case %d: status %#x\n", how, st);
            return 1;
        }
    }
    return getppid() == 0 || getpid() > 0 ? 0 : 1;
}

static volatile int done;
static void on_usr1(int s) { (void)s; }

static void *minus_one(void *p)
{
    long *bad = p;
    for (int i = 0; i < 20000; i++) {
        long r = syscall(-1L);
        if (r != -1 || errno != ENOSYS) (*bad)++;
    }
    done = 1;
    return NULL;
}

static int nr_minus_1(void)
{
    struct sigaction sa = {.sa_handler = on_usr1};   /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    long bad = 0;
    pthread_t th;
    pthread_create(&th, NULL, minus_one, &bad);
    while (!done) {
        pthread_kill(th, SIGUSR1);
        usleep(50);
    }
    pthread_join(th, NULL);
    if (bad) printf("syscall(-1) answered other than ENOSYS %ld times\n", bad);
    return bad != 0;
}

static int zombie(void)
{
    pid_t c = fork();
    if (c == 0) _exit(0);   /* never reaped */
    for (int i = 0; i < 3; i++)
        if (fork() == 0) {  /* alive when init is killed, so they die with it */
            pause();
            _exit(0);
        }
    printf("waiting\n");
    fflush(stdout);
    pause();
    return 0;
}

static int forks(void)
{
    for (int i = 0; i < 5000; i++) {
        pid_t c = fork();
        if (c == 0) _exit(0);
        if (c < 0 || waitpid(c, NULL, 0) != c) {
            printf("fork %d failed\n", i);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    int rc;
    if (!strcmp(c, "far-timers")) rc = far_timers();
    else if (!strcmp(c, "stub")) rc = stub();
    else if (!strcmp(c, "nr-minus-1")) rc = nr_minus_1();
    else if (!strcmp(c, "zombie")) rc = zombie();
    else if (!strcmp(c, "forks")) rc = forks();
    else return 2;
    if (rc == 0) printf("ok %s\n", c);
    return rc;
}
