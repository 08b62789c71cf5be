/* Resource limits seen from inside the sandbox (tests/security/test_limits.py).
 *
 *   limits forkbomb   every process forks until a fork fails; then the bomb is killed
 *                     and a fork + exec of echo must work again
 *   limits threads    one process starts threads until pthread_create fails
 *   limits nofile     past fs.nr_open is EPERM even for root; then as nobody: open fds
 *                     until EMFILE, raise the soft limit to the hard one and go on;
 *                     above the hard limit is EPERM
 *   limits restarted N  N forks, each reaped, while a sibling keeps sending the forker
 *                     a handled signal (some forks are restarted: ERESTARTNOINTR); at
 *                     most three tasks at once, so under a limit of 3 none may fail
 *   limits orphans N  N rounds of a process whose second thread keeps forking while
 *                     its first ends the process (exit_group after a delay that varies
 *                     from round to round), so that the forking thread is often killed
 *                     at its fork event with its child made; stops at the first fork of
 *                     its own that fails; then waits for a line on stdin (the test
 *                     counts the host's processes meanwhile)
 *
 * Each prints what failed and how, then "ok" lines; the exit status is 0 unless a step
 * went wrong.  Never run it outside a sandbox: the bomb is bounded only by the limits.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int count_procs(void) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9') n++;
    closedir(d);
    return n;
}

static int run_echo(void) {
    pid_t c = fork();
    int st;
    if (c < 0) { printf("fork after the bomb: %s\n", strerror(errno)); return 1; }
    if (c == 0) {
        execl("/bin/echo", "echo", "ok after", NULL);
        _exit(127);
    }
    if (waitpid(c, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    return 0;
}

static int forkbomb(void) {
    int p[2];
    if (pipe(p)) return 1;
    pid_t root = fork();
    if (root < 0) return 1;
    if (root == 0) {
        setpgid(0, 0);
        close(p[0]);
        for (;;) {
            pid_t c = fork();
            if (c < 0) {
                char e = errno == EAGAIN ? 'A' : 'X';
                if (write(p[1], &e, 1) < 0) _exit(1);
                for (;;) pause();
            }
            /* parent and child both go on forking */
        }
    }
    setpgid(root, root);
    close(p[1]);
    char e = 0;
    if (read(p[0], &e, 1) != 1) return 1;
    /* give the bomb a moment to fill every slot */
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    printf("fork failed: %s\n", e == 'A' ? "EAGAIN" : "other");
    printf("processes: %d\n", count_procs());
    fflush(stdout);
    /* kill the group until nothing is left (a child forked while the signal went out
       is killed by the next round), reaping what is reparented to us */
    for (;;) {
        kill(-root, SIGKILL);
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r < 0 && errno == ECHILD) break;
        if (r == 0) {
            ts.tv_nsec = 1000 * 1000;
            nanosleep(&ts, NULL);
        }
    }
    printf("processes after: %d\n", count_procs());
    fflush(stdout);
    return run_echo();
}

static void *idle(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static int threads(void) {
    int n = 0, rc;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    for (;;) {
        pthread_t t;
        rc = pthread_create(&t, &a, idle, NULL);
        if (rc) break;
        n++;
    }
    printf("pthread_create failed: %s after %d threads\n", rc == EAGAIN ? "EAGAIN" : strerror(rc), n);
    return 0;
}

static volatile long signals_seen;
static void count_signal(int sig) { (void)sig; signals_seen++; }

static int restarted(int n) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL)) return 1;
    pid_t me = getpid();
    pid_t s = fork();
    if (s < 0) return 1;
    if (s == 0)
        for (;;) kill(me, SIGUSR1);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        if (p < 0) { failed++; continue; }
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {}
    }
    kill(s, SIGKILL);
    waitpid(s, NULL, 0);
    printf("forks %d failed %d%s\n", n, failed, signals_seen ? "" : " (no signal came)");
    return 0;
}

static void *fork_loop(void *arg) {
    (void)arg;
    for (;;) {
        pid_t c = fork();
        if (c == 0) _exit(0);
        if (c > 0) waitpid(c, NULL, 0);
    }
    return NULL;
}

static int orphans(int rounds) {
    int r;
    for (r = 0; r < rounds; r++) {
        pid_t p = fork();
        if (p < 0) {
            printf("fork failed: %s after %d rounds\n", errno == EAGAIN ? "EAGAIN" : strerror(errno), r);
            break;
        }
        if (p == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, fork_loop, NULL)) _exit(3);
            struct timespec ts = {0, (r % 20) * 50000L};
            nanosleep(&ts, NULL);
            syscall(SYS_exit_group, 0);
        }
        waitpid(p, NULL, 0);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ; /* children of the forking thread, reparented to us when it died */
    }
    if (r == rounds) printf("%d rounds\n", rounds);
    char line[16];
    return fgets(line, sizeof line, stdin) ? 0 : 1;
}

static int open_until_fail(int *n) {
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) return errno;
        (*n)++;
    }
}

static int nofile(void) {
    /* not even root goes past fs.nr_open */
    struct rlimit huge = {(1 << 20) + 1, (1 << 20) + 1};
    printf("root above nr_open: %s\n",
           setrlimit(RLIMIT_NOFILE, &huge) < 0 && errno == EPERM ? "EPERM" : "other");
    /* an unprivileged process: no CAP_SYS_RESOURCE to raise a hard limit */
    if (getuid() == 0 && (setgid(65534) || setuid(65534))) return 1;
    /* small limits, so that the test opens few files (lowering needs no privilege) */
    struct rlimit r = {200, 400};
    if (setrlimit(RLIMIT_NOFILE, &r)) { printf("lower: %s\n", strerror(errno)); return 1; }
    int n = 0, e = open_until_fail(&n);
    printf("open: %s at soft limit %llu (%d opened)\n", e == EMFILE ? "EMFILE" : strerror(e),
           (unsigned long long)r.rlim_cur, n);
    int pfd[2];
    printf("pipe: %s\n", pipe(pfd) < 0 && errno == EMFILE ? "EMFILE" : "other");
    printf("dup: %s\n", dup(0) < 0 && errno == EMFILE ? "EMFILE" : "other");
    struct rlimit up = {r.rlim_max, r.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up)) { printf("raise to hard: %s\n", strerror(errno)); return 1; }
    e = open_until_fail(&n);
    printf("open: %s at hard limit %llu (%d opened)\n", e == EMFILE ? "EMFILE" : strerror(e),
           (unsigned long long)r.rlim_max, n);
    struct rlimit above = {r.rlim_max + 1, r.rlim_max + 1};
    printf("above hard: %s\n", setrlimit(RLIMIT_NOFILE, &above) < 0 && errno == EPERM ? "EPERM" : "other");
    printf("above nr_open: %s\n", setrlimit(RLIMIT_NOFILE, &huge) < 0 && errno == EPERM ? "EPERM" : "other");
    for (int fd = 3; fd < n + 3; fd++) close(fd);
    int fd = open("/dev/null", O_RDONLY);
    printf("after close: %s\n", fd >= 0 ? "ok" : strerror(errno));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "forkbomb")) return forkbomb();
    if (!strcmp(argv[1], "threads")) return threads();
    if (!strcmp(argv[1], "nofile")) return nofile();
    if (!strcmp(argv[1], "orphans") && argc > 2) return orphans(atoi(argv[2]));
    if (!strcmp(argv[1], "restarted") && argc > 2) return restarted(atoi(argv[2]));
    return 2;
}
