/* process.c -- fork, vfork+exec, wait4/waitid statuses, execve errors, argv
 * and envp passing (and bad, unterminated, too long, too many strings), #! scripts,
 * pthreads with futex join, exit_group from a thread, orphan reparenting to pid 1.
 * Usage: process WORKDIR (argv[0] must be an absolute path: the program re-executes
 * itself). */
#include "check.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static void show_status(const char *label, int st)
{
    if (WIFEXITED(st))
        printf("%s: exited %d\n", label, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: signaled %d\n", label, WTERMSIG(st));
    else
        printf("%s: other %#x\n", label, st);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *adder(void *arg)
{
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return (void *)((long)arg * 2);
}

static void *exiter(void *arg)
{
    (void)arg;
    msleep(50);
    exit(5); /* exit_group: takes the whole process down */
}

static int child_mode(int argc, char **argv)
{
    out_init();
    printf("  exec'd child argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("  argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++)
        printf("  env %s\n", *e);
    return 42;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--child"))
        return child_mode(argc, argv);
    enter_workdir(argc, argv);
    int st;

    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0)
        _exit(3);
    T("wait4 returns pid", wait4(c, &st, 0, NULL) == c);
    show_status("exit 3", st);
    R("wait with no children", wait(&st));

    fflush(stdout);
    c = fork();
    if (c == 0) {
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    waitpid(c, &st, 0);
    show_status("self SIGKILL", st);
    fflush(stdout);
    c = fork();
    if (c == 0)
        abort();
    waitpid(c, &st, 0);
    show_status("abort", st);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        *(volatile int *)8 = 1;
        _exit(0);
    }
    waitpid(c, &st, 0);
    show_status("segfault", st);

    fflush(stdout);
    c = fork();
    if (c == 0) {
        msleep(100);
        _exit(9);
    }
    R("WNOHANG while running", waitpid(c, &st, WNOHANG));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    R("waitid WNOWAIT", waitid(P_PID, c, &si, WEXITED | WNOWAIT));
    T("waitid si_pid", si.si_pid == c);
    T("waitid CLD_EXITED", si.si_code == CLD_EXITED);
    R("waitid si_status", si.si_status);
    R("kill zombie with 0", kill(c, 0));
    memset(&si, 0, sizeof si);
    R("waitid again", waitid(P_ALL, 0, &si, WEXITED));
    R("waitid si_status again", si.si_status);
    R("waitid no children", waitid(P_ALL, 0, &si, WEXITED));
    R("waitid bad options", waitid(P_ALL, 0, &si, 0));

    /* vfork + execve of ourselves with argv/envp */
    char *cargv[] = {argv[0], "--child", "arg with spaces", "", "last", NULL};
    char *cenv[] = {"FOO=bar", "EMPTY=", "X=1=2", NULL};
    fflush(stdout);
    c = vfork();
    if (c == 0) {
        execve(argv[0], cargv, cenv);
        _exit(127);
    }
    waitpid(c, &st, 0);
    show_status("vfork+execve", st);

    /* execve failures, reported by the child through its exit status */
    static const char *paths[] = {"missing-file", "plain", "adir", "script", "badinterp"};
    int fd = open("plain", O_CREAT | O_WRONLY, 0644);
    MUST(write(fd, "not a program\n", 14));
    close(fd);
    MUST(mkdir("adir", 0755));
    fd = open("script", O_CREAT | O_WRONLY, 0755);
    MUST(write(fd, "#!/bin/sh\necho script ran: $1\nexit 4\n", 36));
    close(fd);
    fd = open("badinterp", O_CREAT | O_WRONLY, 0755);
    MUST(write(fd, "#!/nonexistent/interp\n", 22));
    close(fd);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        fflush(stdout);
        c = fork();
        if (c == 0) {
            char *a[] = {(char *)paths[i], "hello", NULL};
            execve(paths[i], a, environ);
            _exit(100 + errno);
        }
        waitpid(c, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) >= 100)
            printf("execve %s: -1 %s\n", paths[i], en(WEXITSTATUS(st) - 100));
        else
            show_status(paths[i], st);
    }
    R("execve NULL path", syscall(SYS_execve, NULL, cargv, cenv));
    /* argument lists Linux refuses before it looks at the program */
    char *bad = (char *)1;
    char *bad_arg[] = {argv[0], bad, NULL};
    R("execve bad argv string", syscall(SYS_execve, argv[0], bad_arg, cenv));
    R("execve bad argv array", syscall(SYS_execve, argv[0], (char **)8, cenv));
    char *bad_env[] = {"K=v", bad, NULL};
    R("execve bad envp string", syscall(SYS_execve, argv[0], cargv, bad_env));
    char *open_end = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
    MUST(open_end == MAP_FAILED ? -1 : 0);
    MUST(munmap(open_end + 4096, 4096));
    memset(open_end, 'y', 4096);  /* no NUL before the unmapped page */
    char *unterminated[] = {argv[0], open_end, NULL};
    R("execve unterminated argv string", syscall(SYS_execve, argv[0], unterminated, cenv));
    char *long_arg = malloc(200001);
    MUST(long_arg ? 0 : -1);
    memset(long_arg, 'x', 200000);  /* past MAX_ARG_STRLEN (128 KiB) */
    long_arg[200000] = 0;
    char *too_long[] = {argv[0], long_arg, NULL};
    R("execve argv string too long", syscall(SYS_execve, argv[0], too_long, cenv));
    size_t n_many = 400000;  /* 4.4 MB of strings and pointers: past any limit */
    char **many = malloc((n_many + 2) * sizeof *many);
    MUST(many ? 0 : -1);
    many[0] = argv[0];
    for (size_t i = 1; i <= n_many; i++)
        many[i] = "0123456789";
    many[n_many + 1] = NULL;
    R("execve argv too big", syscall(SYS_execve, argv[0], many, cenv));
    free(many);
    free(long_arg);
    munmap(open_end, 4096);

    /* threads */
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        MUST(-pthread_create(&t[i], NULL, adder, (void *)i));
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        void *ret;
        MUST(-pthread_join(t[i], &ret));
        sum += (long)ret;
    }
    R("threads counter", counter);
    R("threads join values", sum);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        pthread_t x;
        pthread_create(&x, NULL, exiter, NULL);
        for (;;)
            pause();
    }
    waitpid(c, &st, 0);
    show_status("exit from a thread", st);

    /* process groups, names */
    fflush(stdout);
    c = fork();
    if (c == 0) {
        if (setpgid(0, 0))
            _exit(1);
        _exit(getpgrp() == getpid() ? 0 : 2);
    }
    waitpid(c, &st, 0);
    show_status("setpgid own group", st);
    R("PR_SET_NAME", prctl(PR_SET_NAME, "proc-test"));
    char name[17] = {0};
    R("PR_GET_NAME", prctl(PR_GET_NAME, name));
    printf("name: %s\n", name);
    fd = open("/proc/self/comm", O_RDONLY);
    memset(name, 0, sizeof name);
    R("read /proc/self/comm", read(fd, name, 16));
    printf("comm: %s", name);
    close(fd);

    /* orphan: a grandchild outlives its parent and is reparented to pid 1 (us) */
    int p[2];
    MUST(pipe(p));
    fflush(stdout);
    c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) {
            pid_t orig = getppid();
            for (int i = 0; i < 500 && getppid() == orig; i++)
                msleep(10);
            pid_t np = getppid();
            (void)!write(p[1], &np, sizeof np);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(c, NULL, 0);
    pid_t np = -1;
    MUST(read(p[0], &np, sizeof np));
    R("orphan's new parent", np);
    R("reap orphan", waitpid(-1, &st, 0) > 0 ? 0 : -1);
    show_status("orphan status", st);

    struct rlimit rl;
    R("getrlimit NOFILE", getrlimit(RLIMIT_NOFILE, &rl));

    /* rlim_t is unsigned: 2^64-2 is a (huge) finite limit, not an error */
    struct rlimit as0, big = {RLIM_INFINITY - 1, RLIM_INFINITY - 1}, back;
    MUST(getrlimit(RLIMIT_AS, &as0));
    R("setrlimit AS to 2^64-2", setrlimit(RLIMIT_AS, &big));
    MUST(getrlimit(RLIMIT_AS, &back));
    T("AS reads back 2^64-2", back.rlim_cur == RLIM_INFINITY - 1 && back.rlim_max == RLIM_INFINITY - 1);
    R("setrlimit AS back", setrlimit(RLIMIT_AS, &as0));

    /* RLIMIT_NOFILE bounds fd numbers, not the count of open fds: fds above a
     * lowered limit stay, and a new one takes the lowest free number below it */
    int hi[30];
    for (int i = 0; i < 30; i++)
        MUST(hi[i] = open("/dev/null", O_RDONLY));
    for (int i = 0; i < 15; i++)
        close(hi[i]);
    struct rlimit low = {20, rl.rlim_max};
    R("lower NOFILE to 20", setrlimit(RLIMIT_NOFILE, &low));
    int o = open("/dev/null", O_RDONLY);
    T("open below the limit with fds above it", o >= 0 && o < 20);
    int pp[2];
    R("pipe below the limit", pipe(pp));
    R("dup2 to the limit", dup2(o, 20));
    R("F_DUPFD from the limit", fcntl(o, F_DUPFD, 20));
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    printf("EMFILE once full: %s\n", en(errno));
    T("filled up to the limit", n > 0);
    fflush(stdout);
    pid_t ch = fork();
    MUST(ch);
    if (ch == 0) {
        /* the fds above the limit are still usable, and survive exec */
        char b;
        _exit(read(hi[29], &b, 1) == 0 ? 0 : 1);
    }
    waitpid(ch, &st, 0);
    show_status("fd above the limit readable in a child", st);
    setrlimit(RLIMIT_NOFILE, &rl);
    return 0;
}
