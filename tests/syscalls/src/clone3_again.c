/* clone3 started again or refused (in the sandbox a clone3 is rewritten into a clone at
 * its ptrace stop, and both threads get the registers it took back): a process creating
 * threads (pthread_create's clone3) while another stops and continues it (a stop before
 * the host ran the clone starts it again), clone3 with CLONE_PIDFD under signals whose
 * handler makes a call (the pidfd of each child is there), and the calls that follow a
 * clone3 the host refuses (CLONE_PARENT from a pid namespace's init: EINVAL). */
#include "check.h"
#include <linux/sched.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

static void *nothing(void *arg)
{
    return arg;
}

static volatile int hups, usr1s;
static void on_hup(int s)
{
    (void)s;
    hups++;
}

/* a handler that makes a call the sandbox serves in Python (before the interrupted
 * clone3 starts again, which has to be booked again then) */
static void on_usr1(int s)
{
    (void)s;
    struct utsname u;
    usr1s++;
    syscall(SYS_uname, &u);
}

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IONBF, 0);
    MUST(chdir(argv[1]));

    /* threads made while stopped and continued, until told to stop */
    volatile int *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                              -1, 0);
    MUST(done == MAP_FAILED ? -1 : 0);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        long made = 0;
        while (!__atomic_load_n(done, __ATOMIC_ACQUIRE)) {
            pthread_t th;
            void *ret;
            if (pthread_create(&th, NULL, nothing, (void *)7L) != 0
                || pthread_join(th, &ret) != 0 || ret != (void *)7L)
                _exit(2);
            made++;
        }
        _exit(made > 0 ? 0 : 3);
    }
    int stops = 0, conts = 0, st;
    usleep(2000);
    for (int i = 0; i < 40; i++) {
        kill(c, SIGSTOP);
        if (waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st))
            stops++;
        kill(c, SIGCONT);
        if (waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st))
            conts++;
        usleep(1000 + 137 * (i % 7));
    }
    __atomic_store_n(done, 1, __ATOMIC_RELEASE);
    MUST(waitpid(c, &st, 0));
    printf("stopped %d continued %d\n", stops, conts);
    T("thread maker exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (WIFSIGNALED(st))
        printf("thread maker killed by %d\n", WTERMSIG(st));

    /* clone3 with CLONE_PIDFD while a sibling keeps signalling: each child's pidfd is
     * there, however often the call started again */
    struct sigaction su;
    memset(&su, 0, sizeof su);
    su.sa_handler = on_usr1;
    su.sa_flags = SA_RESTART;
    MUST(sigaction(SIGUSR1, &su, NULL));
    *done = 0;
    pid_t me = getpid(), k = fork();
    MUST(k);
    if (k == 0) {
        while (!__atomic_load_n(done, __ATOMIC_ACQUIRE)) {
            kill(me, SIGUSR1);
            usleep(100);
        }
        _exit(0);
    }
    int no_pidfd = 0, failed = 0;
    for (int i = 0; i < 1000; i++) {
        int pfd = -7;
        struct clone_args cp;
        memset(&cp, 0, sizeof cp);
        cp.flags = CLONE_PIDFD;
        cp.pidfd = (uintptr_t)&pfd;
        cp.exit_signal = SIGCHLD;
        long child = syscall(SYS_clone3, &cp, sizeof cp);
        if (child == 0)
            _exit(0);
        if (child < 0) {
            failed++;
            continue;
        }
        if (pfd < 0)
            no_pidfd++;
        else
            close(pfd);
        while (waitpid(child, &st, 0) < 0 && errno == EINTR)
            ;
    }
    __atomic_store_n(done, 1, __ATOMIC_RELEASE);
    MUST(waitpid(k, &st, 0));
    T("signalled meanwhile", usr1s > 0);
    printf("clone3 CLONE_PIDFD: failed %d, without a pidfd %d\n", failed, no_pidfd);

    /* a clone3 the host refuses, then the calls after it */
    printf("pid is 1: %s\n", getpid() == 1 ? "yes" : "no");
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PARENT;
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0)
        _exit(0);
    printf("clone3 CLONE_PARENT: %s\n", r < 0 ? en(errno) : "a child");
    struct {
        uint64_t handler, flags, restorer, mask;
    } ign = {1, 0, 0, 0}, old;
    R("rt_sigaction USR1 ignore", syscall(SYS_rt_sigaction, SIGUSR1, &ign, &old, 8));
    R("rt_sigaction USR2 ignore", syscall(SYS_rt_sigaction, SIGUSR2, &ign, &old, 8));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hup;
    R("sigaction HUP handler", sigaction(SIGHUP, &sa, NULL));
    R("raise HUP", raise(SIGHUP));
    printf("HUP handled: %d\n", hups);
    pthread_t th;
    void *ret;
    R("pthread_create after", pthread_create(&th, NULL, nothing, (void *)9L));
    R("pthread_join after", pthread_join(th, &ret));
    T("thread returned its argument", ret == (void *)9L);
    return 0;
}
