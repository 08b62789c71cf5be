/* sigio.c -- F_SETSIG/F_GETSIG: O_ASYNC's signal and SIGPOLL siginfo (si_code the reason,
 * si_band its poll bits, si_fd the fd O_ASYNC was set through) for a pipe's reader and
 * writer (each hears only its own: data for the reader, room for the writer, the other
 * end's close) and a unix socket; F_SETSIG 0 is SIGIO again (SI_KERNEL); bad numbers;
 * dnotify's signal (POLL_MSG); F_GETLEASE with no lease. Usage: sigio WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* What the handler saw: each signal's reason, band and fd (SA_SIGINFO) */
static struct { int sig, code, fd; long band; } seen[64];
static volatile int nseen;

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (nseen < 64) {
        seen[nseen].sig = sig;
        seen[nseen].code = si->si_code;
        seen[nseen].band = si->si_band;
        seen[nseen].fd = si->si_fd;
        nseen++;
    }
}

/* let the blocked signals in, then print each kind seen once (RT signals queue one per
 * event; how many events a fill makes is the pipe's business) */
static void stage(const char *label, int rt)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, rt);
    sigaddset(&s, SIGIO);
    nseen = 0;
    MUST(sigprocmask(SIG_UNBLOCK, &s, NULL));
    MUST(sigprocmask(SIG_BLOCK, &s, NULL));
    printf("%s:", label);
    for (int i = 0; i < nseen; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= seen[j].sig == seen[i].sig && seen[j].code == seen[i].code
                   && seen[j].fd == seen[i].fd;
        if (dup)
            continue;
        printf(" [%s code %d", seen[i].sig == SIGIO ? "SIGIO" : seen[i].sig == rt ? "rt" : "other",
               seen[i].code);
        if (seen[i].code > 0 && seen[i].code < 0x80)
            printf(" band %lx fd %d", seen[i].band, seen[i].fd);
        printf("]");
    }
    printf("%s\n", nseen ? "" : " none");
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int rt = SIGRTMIN + 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    MUST(sigaction(rt, &sa, NULL));
    MUST(sigaction(SIGIO, &sa, NULL));
    mask_signal(SIG_BLOCK, rt);
    mask_signal(SIG_BLOCK, SIGIO);
    int p[2];
    MUST(pipe(p));
    MUST(dup2(p[0], 20));
    MUST(dup2(p[1], 21));
    R("F_GETSIG fresh", fcntl(20, F_GETSIG));
    R("F_SETSIG 65", fcntl(20, F_SETSIG, 65));
    R("F_SETSIG -1", fcntl(20, F_SETSIG, -1));
    R("F_SETSIG 1<<32 | 10", syscall(SYS_fcntl, 20, F_SETSIG, (1UL << 32) | 10));
    int opath = open(".", O_PATH);
    MUST(opath);
    R("O_PATH F_SETSIG", fcntl(opath, F_SETSIG, rt));
    R("O_PATH F_GETSIG", fcntl(opath, F_GETSIG));
    R("O_PATH F_GETLEASE", fcntl(opath, F_GETLEASE));
    R("O_PATH F_SETOWN", fcntl(opath, F_SETOWN, getpid()));
    R("O_PATH F_GETOWN", fcntl(opath, F_GETOWN));
    R("O_PATH F_NOTIFY", fcntl(opath, F_NOTIFY, DN_CREATE));
    R("O_PATH F_GETPIPE_SZ", fcntl(opath, F_GETPIPE_SZ));
    R("O_PATH F_GET_SEALS", fcntl(opath, F_GET_SEALS));
    struct flock fl = {.l_type = 9, .l_whence = SEEK_SET};
    R("O_PATH F_GETLK, a bad type", fcntl(opath, F_GETLK, &fl));
    R("O_PATH F_GETFD", fcntl(opath, F_GETFD));
    R("O_PATH F_SETFD", fcntl(opath, F_SETFD, FD_CLOEXEC));
    R("O_PATH F_GETFL", fcntl(opath, F_GETFL));
    int dupped = fcntl(opath, F_DUPFD_CLOEXEC, 50);
    R("O_PATH F_DUPFD_CLOEXEC", dupped);
    close(dupped);
    close(opath);
    R("F_SETSIG rt", fcntl(20, F_SETSIG, rt) == 0);
    R("F_GETSIG rt", fcntl(20, F_GETSIG) == rt);
    R("F_GETSIG through the other fd", fcntl(p[0], F_GETSIG) == rt);
    R("F_SETOWN", fcntl(20, F_SETOWN, getpid()));
    R("O_ASYNC", fcntl(20, F_SETFL, O_ASYNC));
    R("write", write(21, "abc", 3));
    stage("reader after a write", rt);

    /* the write end: POLL_OUT once a read empties a full pipe */
    R("writer F_SETSIG", fcntl(21, F_SETSIG, rt));
    R("writer F_SETOWN", fcntl(21, F_SETOWN, getpid()));
    R("writer O_ASYNC", fcntl(21, F_SETFL, O_ASYNC | O_NONBLOCK));
    char buf[65536];
    memset(buf, 'x', sizeof buf);
    long n = 0, k;
    while ((k = write(21, buf, sizeof buf)) > 0)
        n += k;
    stage("after filling", rt);
    MUST(fcntl(20, F_SETFL, 0)); /* the reader says no more */
    while (n > 0) {
        k = read(20, buf, n < (long)sizeof buf ? n : (long)sizeof buf);
        if (k <= 0)
            break;
        n -= k;
    }
    R("drained", read(p[0], buf, 3)); /* the first three bytes */
    stage("after the reads", rt);

    /* F_SETSIG 0: plain SIGIO */
    R("F_SETSIG 0", fcntl(21, F_SETSIG, 0));
    R("F_SETFL O_ASYNC reader", fcntl(20, F_SETFL, O_ASYNC));
    R("F_SETSIG 0 reader", fcntl(20, F_SETSIG, 0));
    R("write again", write(21, "d", 1));
    stage("after F_SETSIG 0", rt);

    /* a unix socket */
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    MUST(dup2(sv[0], 30));
    R("socket F_SETSIG", fcntl(30, F_SETSIG, rt));
    R("socket F_SETOWN", fcntl(30, F_SETOWN, getpid()));
    R("socket O_ASYNC", fcntl(30, F_SETFL, O_ASYNC));
    R("send", write(sv[1], "ping", 4));
    stage("socket after a send", rt);

    /* dnotify's signal */
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    MUST(dfd);
    MUST(dup2(dfd, 40));
    R("dnotify F_SETSIG", fcntl(40, F_SETSIG, rt));
    R("F_NOTIFY", fcntl(40, F_NOTIFY, DN_CREATE));
    int f = open("new", O_CREAT | O_WRONLY, 0644);
    MUST(f);
    stage("dnotify after a create", rt);

    /* the pipe's last writer goes: its reader hears POLL_IN (EOF to read) */
    R("reader F_SETSIG again", fcntl(20, F_SETSIG, rt));
    close(21);
    close(p[1]);
    stage("reader after its writers closed", rt);
    /* the socket's peer goes: a hang-up */
    close(sv[1]);
    stage("socket after its peer closed", rt);

    /* a signal with si_codes of its own says SI_SIGIO */
    int q[2];
    MUST(pipe(q));
    R("SIGCHLD F_SETSIG", fcntl(q[0], F_SETSIG, SIGCHLD));
    R("SIGCHLD F_SETOWN", fcntl(q[0], F_SETOWN, getpid()));
    R("SIGCHLD O_ASYNC", fcntl(q[0], F_SETFL, O_ASYNC));
    mask_signal(SIG_BLOCK, SIGCHLD);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    MUST(sigaction(SIGCHLD, &sa, NULL));
    R("write q", write(q[1], "x", 1));
    nseen = 0;
    mask_signal(SIG_UNBLOCK, SIGCHLD);
    mask_signal(SIG_BLOCK, SIGCHLD);
    for (int i = 0; i < nseen; i++)
        printf("SIGCHLD by F_SETSIG: code %d band %lx fd %d\n", seen[i].code, seen[i].band,
               seen[i].fd);

    /* no lease is held */
    R("F_GETLEASE file", fcntl(f, F_GETLEASE));
    R("F_GETLEASE pipe", fcntl(20, F_GETLEASE));
    return 0;
}
