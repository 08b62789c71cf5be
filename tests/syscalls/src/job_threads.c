/*
 * job_threads.c -- job-control stops of multithreaded children, as their parent's
 * wait(WUNTRACED/WCONTINUED) sees them.
 *
 * The kernel reports a group stop to the parent once every thread took part in it
 * (SIGNAL_STOP_STOPPED), and a SIGCHLD of another child's stop ends (and restarts) a
 * wait for one that has not finished stopping.  The sentry booked the stop at its
 * first thread's and let the host's wait run, which then blocked, got restarted by
 * another child's SIGCHLD and parked for ever (a stop already taken as reported).  A
 * thread born into a pending stop whose first stop came before its creator's clone event
 * was let run out of it, uncounted.
 *
 *   group: three children of two extra threads each in one process group get SIGSTOP,
 *          SIGCONT, SIGTSTP, SIGKILL through the group, the parent waiting for each
 *          child in turn;
 *   churn: a child whose threads come and go (a thread made and joined in a loop) is
 *          stopped and continued: a stop that a thread's exit completes, and threads
 *          made while it is pending (they join it);
 *   orphaned: SIGTSTP and SIGTTIN without a handler do not stop a process of an orphaned
 *          process group (get_signal), SIGSTOP does; in a group of its own with its
 *          parent in the same session, SIGTSTP stops it.  The host's groups are not the
 *          sandbox's, so the sentry decides;
 *   and, found by a review: a process whose main thread exited (the stop was waited
 *   for from it for ever); a thread blocked in a call the sentry holds (a pipe read:
 *   it never reached the stop); a zombie child older than a stopped one (the host
 *   reports the zombie first, the stop was taken as reported); a process group left
 *   orphaned with a stopped member by its parent's exit (kill_orphaned_pgrp: SIGHUP,
 *   SIGCONT).
 */
#include "check.h"
#include <poll.h>
#include <pthread.h>

#define KIDS 3
#define ROUNDS 40

static void *sleeper(void *a)
{
    (void)a;
    for (;;)
        pause();
    return 0;
}

static void *brief(void *a)
{
    return a;
}

static int status_is(int st, int sig)
{
    if (sig == SIGCONT)
        return WIFCONTINUED(st);
    if (sig == SIGKILL)
        return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    return WIFSTOPPED(st) && WSTOPSIG(st) == sig;
}

static int group(void)
{
    int bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pid_t c[KIDS], pg = 0;
        for (int i = 0; i < KIDS; i++) {
            MUST(c[i] = fork());
            if (c[i] == 0) {
                pthread_t th;
                pthread_create(&th, 0, sleeper, 0);
                pthread_create(&th, 0, sleeper, 0);
                for (;;)
                    pause();
            }
            MUST(setpgid(c[i], pg));
            if (!pg)
                pg = c[i];
        }
        int sigs[] = {SIGSTOP, SIGCONT, SIGTSTP, SIGCONT, SIGKILL};
        for (unsigned s = 0; s < sizeof sigs / sizeof *sigs; s++) {
            int opt = sigs[s] == SIGCONT ? WCONTINUED : sigs[s] == SIGKILL ? 0 : WUNTRACED, st;
            MUST(kill(-pg, sigs[s]));
            for (int i = 0; i < KIDS; i++)
                if (waitpid(c[i], &st, opt) != c[i] || !status_is(st, sigs[s]))
                    bad++;
        }
    }
    return bad;
}

static int churn(void)
{
    int bad = 0, st;
    pid_t c;
    MUST(c = fork());
    if (c == 0) {
        for (;;) {
            pthread_t th;
            if (pthread_create(&th, 0, brief, 0) == 0)
                pthread_join(th, 0);
        }
    }
    MUST(setpgid(c, c)); /* (its parent's group may be orphaned: SIGTSTP would not stop) */
    for (int r = 0; r < 4 * ROUNDS; r++) {
        MUST(kill(c, r & 1 ? SIGTSTP : SIGSTOP));
        if (waitpid(c, &st, WUNTRACED) != c || !status_is(st, r & 1 ? SIGTSTP : SIGSTOP))
            bad++;
        MUST(kill(c, SIGCONT));
        if (waitpid(c, &st, WCONTINUED) != c || !WIFCONTINUED(st))
            bad++;
    }
    MUST(kill(c, SIGKILL));
    if (waitpid(c, &st, 0) != c || !status_is(st, SIGKILL))
        bad++;
    return bad;
}

static int ticks[2];

static void tick(int sig)
{
    (void)sig;
    if (write(ticks[1], "t", 1) < 0)
        _exit(3);
}

/* Whether *sig* stops a child of this process in process group *pg* (0: this one's):
   the signal, then a real-time one whose handler answers (taken after *sig*, the lower
   number, if both are pending); stopped if no answer came. */
static int stops(int sig, int own_group)
{
    pid_t g;
    int st;
    char b;
    MUST(pipe(ticks));
    MUST(g = fork());
    if (g == 0) {
        signal(SIGRTMIN, tick);
        for (;;)
            pause();
    }
    if (own_group)
        MUST(setpgid(g, g));
    usleep(20000); /* (its handler installed) */
    MUST(kill(g, sig));
    MUST(kill(g, SIGRTMIN));
    struct pollfd p = {ticks[0], POLLIN, 0};
    /* (a stopped child never answers: 2 s, where a running one answers at once) */
    int answered = poll(&p, 1, 2000) == 1 && read(ticks[0], &b, 1) == 1;
    int stopped = waitpid(g, &st, WUNTRACED | WNOHANG) == g && WIFSTOPPED(st);
    kill(g, SIGKILL);
    waitpid(g, &st, 0);
    close(ticks[0]);
    close(ticks[1]);
    return stopped && !answered;
}

static void orphaned(void)
{
    pid_t c;
    int st;
    MUST(c = fork());
    if (c == 0) {
        /* a session and group of its own: its children in it have no parent in another
           group of the session (orphaned); one in a group of its own has (this one) */
        MUST(setsid());
        T("orphaned group: SIGTSTP stops", stops(SIGTSTP, 0));
        T("orphaned group: SIGTTIN stops", stops(SIGTTIN, 0));
        T("orphaned group: SIGSTOP stops", stops(SIGSTOP, 0));
        T("group of its own: SIGTSTP stops", stops(SIGTSTP, 1));
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(c, &st, 0));
}

static void *main_gone(void *a)
{
    (void)a;
    for (;;)
        pause();
    return 0;
}

static int rd_pipe[2];

static void *reader(void *a)
{
    char b;
    (void)a;
    printf("reader: read %zd\n", read(rd_pipe[0], &b, 1));
    return 0;
}

/* SIGSTOP then SIGCONT to *c*, each reported to this parent */
static void stop_and_continue(const char *what, pid_t c)
{
    int st;
    char label[96];
    usleep(100000);
    MUST(kill(c, SIGSTOP));
    snprintf(label, sizeof label, "%s: stop reported", what);
    R(label, waitpid(c, &st, WUNTRACED) == c && status_is(st, SIGSTOP));
    MUST(kill(c, SIGCONT));
    snprintf(label, sizeof label, "%s: continue reported", what);
    R(label, waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st));
}

static void leader_gone_and_reader(void)
{
    int st;
    pid_t c;
    MUST(c = fork());
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, 0, main_gone, 0);
        pthread_exit(0);
    }
    stop_and_continue("main thread exited", c);
    MUST(kill(c, SIGKILL));
    R("main thread exited: killed", waitpid(c, &st, 0) == c && status_is(st, SIGKILL));

    MUST(pipe(rd_pipe));
    MUST(c = fork());
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, 0, reader, 0);
        pthread_join(th, 0);
        _exit(0);
    }
    stop_and_continue("thread in read", c);
    MUST(write(rd_pipe[1], "x", 1));
    R("thread in read: its read restarted", waitpid(c, &st, 0) == c && WIFEXITED(st));
    close(rd_pipe[0]);
    close(rd_pipe[1]);
}

static void zombie_then_stopped(void)
{
    int st;
    pid_t z, x;
    MUST(z = fork());
    if (z == 0)
        _exit(3);
    MUST(x = fork());
    if (x == 0) {
        for (;;)
            pause();
    }
    usleep(100000);
    MUST(kill(x, SIGSTOP));
    usleep(100000);
    pid_t w = waitpid(-1, &st, WUNTRACED);
    R("older zombie first", w == z && WIFEXITED(st) && WEXITSTATUS(st) == 3);
    w = waitpid(-1, &st, WUNTRACED);
    R("then the stop", w == x && status_is(st, SIGSTOP));
    MUST(kill(x, SIGKILL));
    MUST(waitpid(x, &st, 0));
}

static int hup_pipe[2];

static void note_signal(int sig)
{
    char b = (char)sig;
    if (write(hup_pipe[1], &b, 1) < 0)
        _exit(4);
}

static void orphaned_by_exit(void)
{
    pid_t s;
    int st;
    MUST(pipe(hup_pipe));
    MUST(s = fork());
    if (s == 0) {
        /* a session of its own; its child p leaves a grandchild stopped in a group of
           its own, which p's exit orphans */
        MUST(setsid());
        pid_t p;
        MUST(p = fork());
        if (p == 0) {
            pid_t c;
            MUST(c = fork());
            if (c == 0) {
                signal(SIGHUP, note_signal);
                signal(SIGCONT, note_signal);
                setpgid(0, 0);
                raise(SIGSTOP);
                usleep(300000); /* (continued, its handlers run: then it goes) */
                _exit(0);
            }
            MUST(waitpid(c, &st, WUNTRACED));
            _exit(0);
        }
        MUST(waitpid(p, &st, 0));
        char b;
        int hup = 0, cont = 0;
        for (int i = 0; i < 2; i++) {
            struct pollfd pf = {hup_pipe[0], POLLIN, 0};
            if (poll(&pf, 1, 5000) != 1 || read(hup_pipe[0], &b, 1) != 1)
                break;
            hup += b == SIGHUP;
            cont += b == SIGCONT;
        }
        printf("orphaned by its parent's exit: SIGHUP %d SIGCONT %d\n", hup, cont);
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(s, &st, 0));
    close(hup_pipe[0]);
    close(hup_pipe[1]);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    R("group: wrong or missing reports", group());
    R("churn: wrong or missing reports", churn());
    /* a stopped child's stop is reported once; WNOHANG finds nothing more */
    pid_t c;
    int st;
    MUST(c = fork());
    if (c == 0) {
        pthread_t th;
        pthread_create(&th, 0, sleeper, 0);
        for (;;)
            pause();
    }
    MUST(kill(c, SIGSTOP));
    R("stop reported", waitpid(c, &st, WUNTRACED) == c && status_is(st, SIGSTOP));
    R("reported once", waitpid(c, &st, WUNTRACED | WNOHANG));
    MUST(kill(c, SIGCONT));
    R("continue reported", waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st));
    R("continue reported once", waitpid(c, &st, WCONTINUED | WNOHANG));
    MUST(kill(c, SIGKILL));
    R("killed", waitpid(c, &st, 0) == c && status_is(st, SIGKILL));
    R("no child left", waitpid(-1, &st, WNOHANG));
    orphaned();
    leader_gone_and_reader();
    zombie_then_stopped();
    orphaned_by_exit();
    while (wait(NULL) > 0) /* (the orphaned grandchild, init's now, once it is gone) */
        ;
    return 0;
}
