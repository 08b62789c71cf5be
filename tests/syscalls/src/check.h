/*
 * check.h -- shared reporting for the differential syscall programs.
 *
 * Every program prints one line per check, "label: value", where value is
 * deterministic: a return value that is stable (byte counts, fds, 0), "ok",
 * "yes"/"no", or "-1 ENAME" on failure. The same binary is run natively and in
 * the sandbox and the two outputs must be identical.
 */
#ifndef CHECK_H
#define CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static inline const char *en(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* report a return value: "label: N" or "label: -1 ENAME" */
#define R(label, expr)                                                   \
    do {                                                                 \
        errno = 0;                                                       \
        long r_ = (long)(expr);                                          \
        if (r_ < 0)                                                      \
            printf("%s: -1 %s\n", (label), en(errno));                   \
        else                                                             \
            printf("%s: %ld\n", (label), r_);                            \
    } while (0)

/* report success without the (unstable) value: "label: ok" */
#define OK(label, expr)                                                  \
    do {                                                                 \
        errno = 0;                                                       \
        long r_ = (long)(expr);                                          \
        if (r_ < 0)                                                      \
            printf("%s: -1 %s\n", (label), en(errno));                   \
        else                                                             \
            printf("%s: ok\n", (label));                                 \
    } while (0)

/* report a condition */
#define T(label, cond) printf("%s: %s\n", (label), (cond) ? "yes" : "no")

/* setup that must not fail */
#define MUST(expr)                                                       \
    do {                                                                 \
        if ((long)(expr) < 0) {                                          \
            printf("FATAL %s:%d: %s: %s\n", __FILE__, __LINE__, #expr,  \
                   en(errno));                                           \
            fflush(stdout);                                              \
            exit(99);                                                    \
        }                                                                \
    } while (0)

static inline void out_init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* the WORKDIR argument (a usage message and exit 2 without one), the output set up */
static inline const char *workdir_arg(int argc, char **argv)
{
    out_init();
    if (argc < 2) {
        fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
        exit(2);
    }
    return argv[1];
}

/* enter the work directory given as argv[1] (tests make a fresh empty one) */
static inline void enter_workdir(int argc, char **argv)
{
    MUST(chdir(workdir_arg(argc, argv)));
}

/* install handler h for sig with sa_flags flags and an empty sa_mask */
static inline void set_handler(int sig, void (*h)(int), int flags)
{
    struct sigaction sa = {0};
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    MUST(sigaction(sig, &sa, NULL));
}

/* sigprocmask(how) with the one signal sig */
static inline void mask_signal(int how, int sig)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    MUST(sigprocmask(how, &s, NULL));
}

/* read a nonblocking fd until it has nothing more */
static inline void drain_nonblocking(int fd)
{
    char sink[4096];
    while (read(fd, sink, sizeof sink) > 0)
        ;
}

static inline void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}
/* Print "label: NAME", the path /proc/self/maps names the mapping at addr by ("-": no
 * such line, or no name); only its last component with base. */
static inline void show_maps_name(const char *label, void *addr, int base)
{
    char want[32], line[512], name[400] = "-";
    snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        line[strcspn(line, "\n")] = 0;
        char *slash = base ? strrchr(line, '/') : strchr(line, '/');
        snprintf(name, sizeof name, "%s", slash ? slash : "-");
    }
    if (f)
        fclose(f);
    printf("%s: %s\n", label, name);
}

/* Fork a child that runs as *id* (uid and gid), stdout flushed first: 0 in the child,
 * its pid in the parent. */
static inline pid_t fork_as(unsigned id)
{
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        MUST(setgid(id));
        MUST(setuid(id));
    }
    return c;
}

/* Reap *pid* and print how it ended: "label: exit N" or "label: signal N". */
static inline void show_wait(const char *label, pid_t pid)
{
    int st, r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ; /* a handled signal may come while the parent waits */
    MUST(r);
    if (WIFEXITED(st))
        printf("%s: exit %d\n", label, WEXITSTATUS(st));
    else
        printf("%s: signal %d\n", label, WTERMSIG(st));
}
#endif
