/* rt_sigaction queries (no new action) and what they show of every kind of action: the
 * defaults of all signals, a handler installed without SA_RESTART (the sandbox's host
 * holds it with SA_RESTART) and with it, unknown flag bits and SIGKILL/SIGSTOP in the mask
 * (the kernel drops them), SA_RESETHAND before and after a delivery, a forked child's view,
 * the errors (size, signal number, bad pointer) of queries of both kinds. */
#include "check.h"
#include <stdint.h>
#include <sys/syscall.h>

struct ksigaction {
    uint64_t handler, flags, restorer, mask;
};

static volatile int hits;
static void h(int s) { (void)s; hits++; }

static long ksa(int sig, const struct ksigaction *act, struct ksigaction *old, long size)
{
    return syscall(SYS_rt_sigaction, sig, act, old, size);
}

static void show(const char *label, int sig)
{
    struct ksigaction o;
    memset(&o, 0x5a, sizeof o);
    long r = ksa(sig, NULL, &o, 8);
    if (r < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    const char *what = o.handler == (uint64_t)(uintptr_t)SIG_DFL ? "dfl"
                       : o.handler == (uint64_t)(uintptr_t)SIG_IGN ? "ign"
                       : o.handler == (uint64_t)(uintptr_t)h ? "h" : "other";
    /* the restorer is libc's: only whether one is there */
    printf("%s: %s flags=%#llx restorer=%s mask=%#llx\n", label, what,
           (unsigned long long)o.flags, o.restorer ? "yes" : "no", (unsigned long long)o.mask);
}

static void install(int sig, uint64_t flags, uint64_t mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = (int)flags;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s <= 64; s++)
        if (mask >> (s - 1) & 1) sigaddset(&sa.sa_mask, s);
    if (sigaction(sig, &sa, NULL) < 0) {
        printf("install %d: -1 %s\n", sig, en(errno));
        exit(1);
    }
}

int main(void)
{
    out_init();
    /* What the caller ignored is inherited natively (nohup: SIGHUP), not by a sandbox's
     * init: start from the defaults either way. */
    for (int s = 1; s <= 64; s++) {
        struct ksigaction o, d = {0, 0, 0, 0};
        if (ksa(s, NULL, &o, 8) == 0 && o.handler == (uint64_t)(uintptr_t)SIG_IGN)
            ksa(s, &d, NULL, 8);
    }
    int dfl = 0, ign = 0;
    for (int s = 1; s <= 64; s++) {
        struct ksigaction o;
        if (ksa(s, NULL, &o, 8) < 0) {
            printf("query %d: -1 %s\n", s, en(errno));
            continue;
        }
        if (o.handler == (uint64_t)(uintptr_t)SIG_DFL) dfl++;
        else if (o.handler == (uint64_t)(uintptr_t)SIG_IGN) ign++;
    }
    printf("defaults: dfl=%d ign=%d\n", dfl, ign);

    /* no SA_RESTART (forced on the sandbox's host), unknown bits, SIGKILL/SIGSTOP masked */
    install(SIGUSR1, SA_NODEFER | 0x400 | 0x100, 1ULL << (SIGKILL - 1) | 1ULL << (SIGSTOP - 1)
                                                    | 1ULL << (SIGUSR2 - 1));
    show("usr1 no restart", SIGUSR1);
    install(SIGUSR2, SA_RESTART | SA_SIGINFO, 1ULL << (SIGINT - 1));
    show("usr2 restart", SIGUSR2);
    install(SIGHUP, SA_RESETHAND, 0);
    show("hup resethand", SIGHUP);
    install(SIGALRM, SA_RESETHAND | SA_RESTART, 0);
    show("alrm resethand restart", SIGALRM);
    raise(SIGHUP);
    raise(SIGALRM);
    printf("hits: %d\n", hits);
    show("hup after delivery", SIGHUP);
    show("alrm after delivery", SIGALRM);

    /* the workload's own replacement: a forced handler replaced by SIG_IGN, then again */
    signal(SIGUSR1, SIG_IGN);
    show("usr1 ignored", SIGUSR1);
    install(SIGUSR1, 0, 0);
    show("usr1 again", SIGUSR1);
    struct ksigaction old;
    struct ksigaction with_restart = {(uint64_t)(uintptr_t)h, SA_RESTART | 0x04000000, 0, 0};
    R("set with old", ksa(SIGUSR1, &with_restart, &old, 8));
    printf("old: flags=%#llx\n", (unsigned long long)old.flags);
    show("usr1 restart now", SIGUSR1);
    install(SIGUSR1, 0, 0);

    /* errors of queries, of a forced handler and of others */
    R("query size 4 forced", ksa(SIGUSR1, NULL, &old, 4));
    R("query size 4 other", ksa(SIGTERM, NULL, &old, 4));
    R("query bad pointer forced", ksa(SIGUSR1, NULL, (void *)1, 8));
    R("query bad pointer other", ksa(SIGTERM, NULL, (void *)1, 8));
    R("query no oact", ksa(SIGUSR1, NULL, NULL, 8));
    R("query no oact size 4", ksa(SIGUSR1, NULL, NULL, 4));
    R("query 0", ksa(0, NULL, &old, 8));
    R("query 65", ksa(65, NULL, &old, 8));
    show("query SIGKILL", SIGKILL);
    show("query SIGSTOP", SIGSTOP);

    /* a new action with the old one asked for: SIG_IGN (with flags) and SIG_DFL show as
     * set, a handler without SA_RESTART shows without it, whatever replaces it */
    struct ksigaction ign_flags = {(uint64_t)(uintptr_t)SIG_IGN, SA_RESTART | SA_NODEFER, 0, 0};
    struct ksigaction to_dfl = {(uint64_t)(uintptr_t)SIG_DFL, 0, 0, 0};
    struct ksigaction no_restart = {(uint64_t)(uintptr_t)h, SA_NODEFER, 0, 0};
    R("ignore", ksa(SIGWINCH, &ign_flags, &old, 8));
    printf("old winch: %s flags=%#llx\n", old.handler == (uint64_t)(uintptr_t)SIG_DFL ? "dfl"
           : "other", (unsigned long long)old.flags);
    R("default", ksa(SIGWINCH, &to_dfl, &old, 8));
    printf("old winch: %s flags=%#llx\n", old.handler == (uint64_t)(uintptr_t)SIG_IGN ? "ign"
           : "other", (unsigned long long)old.flags);
    R("handler", ksa(SIGWINCH, &no_restart, &old, 8));
    printf("old winch: %s\n", old.handler == (uint64_t)(uintptr_t)SIG_DFL ? "dfl" : "other");
    R("ignore again", ksa(SIGWINCH, &ign_flags, &old, 8));
    printf("old winch: %s flags=%#llx\n", old.handler == (uint64_t)(uintptr_t)h ? "handler"
           : "other", (unsigned long long)old.flags);
    R("handler, old to a bad pointer", ksa(SIGWINCH, &no_restart, (void *)1, 8));
    show("winch after", SIGWINCH);
    R("default, old to a bad pointer", ksa(SIGWINCH, &to_dfl, (void *)1, 8));
    show("winch after", SIGWINCH);

    /* a forked child inherits the actions; its exit status says it saw the same */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        show("child usr1", SIGUSR1);
        show("child usr2", SIGUSR2);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child status: %d\n", WEXITSTATUS(st));
    return 0;
}
