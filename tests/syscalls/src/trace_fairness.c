/* trace_fairness.c -- processes that stop again as soon as they go on must not keep an
 * older one from going on.  Spinners (three per CPU, each kept on one) exec a missing
 * file in a loop, each exec one of the sandbox's ptrace stops; an older process execs
 * itself ROUNDS times meanwhile, and a third forks and reaps children.  The host reports
 * the most recently traced stop first, and the sentry used to take one stop a turn from
 * it: the spinners got every turn and the older ones never went on (20 execs beside six
 * spinners had not ended after two minutes; natively ~0.1 s). */
#include "check.h"
#include <sched.h>

#define ROUNDS 20
#define MAX_SPINNERS 24

static pid_t start_gated(int gate, void (*run)(const char *), const char *self)
{
    pid_t p = fork();
    MUST(p);
    if (p == 0) {
        char c;
        if (read(gate, &c, 1) != 1)
            _exit(98);
        run(self);
        _exit(0);
    }
    return p;
}

static void exec_chain(const char *self)
{
    char n[16];
    snprintf(n, sizeof n, "%d", ROUNDS);
    execl(self, self, "--chain", n, (char *)NULL);
    _exit(127);
}

static void fork_loop(const char *self)
{
    (void)self;
    for (int i = 0; i < ROUNDS; i++) {
        pid_t c = fork();
        if (c < 0)
            _exit(1);
        if (c == 0)
            _exit(7);
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
            _exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--chain")) {
        int left = atoi(argv[2]);
        if (left > 0) {
            char n[16];
            snprintf(n, sizeof n, "%d", left - 1);
            execl(argv[0], argv[0], "--chain", n, (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    enter_workdir(argc, argv);
    int gate[2];
    MUST(pipe(gate));
    /* The older processes first: the spinners are traced after them. */
    pid_t chain = start_gated(gate[0], exec_chain, argv[0]);
    pid_t forker = start_gated(gate[0], fork_loop, argv[0]);
    close(gate[0]);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(ncpu > 0 ? ncpu : 1) * 3;
    if (n > MAX_SPINNERS)
        n = MAX_SPINNERS;
    pid_t spinners[MAX_SPINNERS];
    for (int i = 0; i < n; i++) {
        spinners[i] = fork();
        MUST(spinners[i]);
        if (spinners[i] == 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(i % (ncpu > 0 ? ncpu : 1), &set);
            sched_setaffinity(0, sizeof set, &set);
            char *av[] = {"missing", NULL};
            for (;;)
                execve("/nonexistent/missing", av, av);
        }
    }
    msleep(20); /* the spinners spin */
    MUST(write(gate[1], "gg", 2));
    close(gate[1]);
    show_wait("20 execs of itself beside spinners", chain);
    show_wait("20 forks and waits beside spinners", forker);
    for (int i = 0; i < n; i++)
        MUST(kill(spinners[i], SIGKILL));
    for (int i = 0; i < n; i++) {
        int st;
        T("spinner killed", waitpid(spinners[i], &st, 0) == spinners[i] && WIFSIGNALED(st)
                                && WTERMSIG(st) == SIGKILL);
    }
    /* a missing file's exec fails with ENOENT all along */
    char *av[] = {"missing", NULL};
    R("exec of a missing file", execve("/nonexistent/missing", av, av));
    printf("done\n");
    return 0;
}
