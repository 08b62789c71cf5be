/* rt_sigaction with a new action of SIG_DFL or SIG_IGN (in the sandbox a ptrace stop the
 * C path resumes itself when the sentry keeps nothing about the signal), against native:
 * the old action each set shows (after a default, an ignore, a handler with and without
 * SA_RESTART, SIGCHLD's SA_NOCLDSTOP), what the disposition then does (an ignored signal
 * raised, a default one killing a child), a set by another thread, a long run of sets,
 * the errors (signal number, SIGKILL/SIGSTOP, size, an unreadable action, one whose handler
 * is readable and the rest not), and what a forked child and an exec'd program inherit. */
#include "check.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

struct ksigaction {
    uint64_t handler, flags, restorer, mask;
};

static void h(int s) { (void)s; }

static long ksa(int sig, const struct ksigaction *act, struct ksigaction *old, long size)
{
    return syscall(SYS_rt_sigaction, sig, act, old, size);
}

static const char *kind(uint64_t handler)
{
    return handler == 0 ? "default" : handler == 1 ? "ignore" : "handler";
}

/* set sig to handler (0 default, 1 ignore, else h with flags) and show the old action */
static void set(const char *label, int sig, uint64_t handler, uint64_t flags)
{
    struct ksigaction a = {handler, flags | 0x04000000 /* SA_RESTORER */, 0, 0}, o;
    if (handler > 1)
        a.handler = (uint64_t)(uintptr_t)h;
    struct sigaction tmp;
    sigaction(SIGSEGV, NULL, &tmp); /* (glibc's restorer, for a handler) */
    a.restorer = (uint64_t)(uintptr_t)tmp.sa_restorer;
    memset(&o, 0x5a, sizeof o);
    long r = ksa(sig, &a, &o, 8);
    if (r < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    printf("%s: was %s restart=%d nocldstop=%d mask=%llx\n", label, kind(o.handler),
           (o.flags & SA_RESTART) != 0, (o.flags & SA_NOCLDSTOP) != 0,
           (unsigned long long)o.mask);
}

static void *thread_sets(void *arg)
{
    (void)arg;
    set("thread sets USR2 ignore", SIGUSR2, 1, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 2 && strcmp(argv[2], "exec") == 0) {
        /* the exec'd program: an ignored signal stays ignored, a handler is reset */
        struct ksigaction o;
        ksa(SIGUSR1, NULL, &o, 8);
        printf("after exec USR1: %s\n", kind(o.handler));
        ksa(SIGTERM, NULL, &o, 8);
        printf("after exec TERM: %s\n", kind(o.handler));
        return 0;
    }

    int sigs[] = {SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGPIPE, 40};
    char l[96];
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        snprintf(l, sizeof l, "sig %d ignore", sigs[i]);
        set(l, sigs[i], 1, 0);
        snprintf(l, sizeof l, "sig %d ignore again", sigs[i]);
        set(l, sigs[i], 1, SA_RESTART);
        snprintf(l, sizeof l, "sig %d default", sigs[i]);
        set(l, sigs[i], 0, 0);
    }

    /* over handlers: without SA_RESTART (the sandbox's host holds it with it), with it */
    set("INT handler", SIGINT, 2, 0);
    set("INT default over handler", SIGINT, 0, 0);
    set("INT ignore after", SIGINT, 1, 0);
    set("QUIT handler restart", SIGQUIT, 2, SA_RESTART);
    set("QUIT ignore over handler", SIGQUIT, 1, 0);
    set("QUIT default after", SIGQUIT, 0, 0);
    set("CHLD nocldstop", SIGCHLD, 0, SA_NOCLDSTOP);
    set("CHLD default", SIGCHLD, 0, 0);
    set("CHLD ignore", SIGCHLD, 1, 0);
    set("CHLD default again", SIGCHLD, 0, 0);

    /* what the dispositions do */
    set("USR1 ignore", SIGUSR1, 1, 0);
    R("raise ignored USR1", raise(SIGUSR1));
    set("USR1 default", SIGUSR1, 0, 0);
    pid_t pid = fork();
    MUST(pid);
    if (pid == 0) {
        raise(SIGUSR1);
        _exit(0);
    }
    int st;
    MUST(waitpid(pid, &st, 0));
    T("child killed by USR1", WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1);

    /* another thread's set is the process's */
    pthread_t th;
    MUST(pthread_create(&th, NULL, thread_sets, NULL) == 0 ? 0 : -1);
    pthread_join(th, NULL);
    set("USR2 default after the thread", SIGUSR2, 0, 0);

    /* many in a row */
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        struct ksigaction a = {i & 1, 0x04000000, 0, 0}, o;
        if (ksa(SIGHUP, &a, &o, 8) != 0 || o.handler != (uint64_t)((i + 1) & 1) * (i > 0))
            bad++;
    }
    printf("3000 sets, unexpected: %d\n", bad);

    /* errors */
    struct ksigaction dfl = {0, 0, 0, 0};
    R("signal 0", ksa(0, &dfl, NULL, 8));
    R("signal 65", ksa(65, &dfl, NULL, 8));
    R("KILL default", ksa(SIGKILL, &dfl, NULL, 8));
    R("STOP ignore", ksa(SIGSTOP, &(struct ksigaction){1, 0, 0, 0}, NULL, 8));
    R("size 16", ksa(SIGUSR1, &dfl, NULL, 16));
    R("size 0", ksa(SIGUSR1, &dfl, NULL, 0));
    R("unreadable action", ksa(SIGUSR1, (void *)8, NULL, 8));
    R("unwritable old", ksa(SIGUSR1, &dfl, (void *)8, 8));
    char *pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(pages == MAP_FAILED ? -1 : 0);
    MUST(mprotect(pages + 4096, 4096, PROT_NONE));
    struct ksigaction *edge = (void *)(pages + 4096 - 8); /* the handler readable only */
    edge->handler = 1;
    R("action cut by a page", ksa(SIGUSR1, edge, NULL, 8));
    set("USR1 after the cut one", SIGUSR1, 0, 0);

    /* inherited: a child, and the program it execs */
    set("USR1 ignore for the child", SIGUSR1, 1, 0);
    set("TERM handler for the child", SIGTERM, 2, SA_RESTART);
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        set("child USR1 ignore again", SIGUSR1, 1, 0);
        set("child TERM default", SIGTERM, 0, 0);
        set("child TERM handler", SIGTERM, 2, 0);
        execl("/proc/self/exe", argv[0], argv[1], "exec", (char *)NULL);
        _exit(98);
    }
    MUST(waitpid(pid, &st, 0));
    T("exec'd child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    set("parent TERM default", SIGTERM, 0, 0);
    return 0;
}
