/* The proc connector: listen, then fork/exec/exit a child and print the events of our own
 * processes with relative names (P us, C the child, G its child).  "watch SECS": listen
 * that long and print how many events (not acks) arrived: in a sandbox with no other
 * process, any would be someone else's. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t P, C, G;

static const char *who(pid_t p)
{
    if (p == P) return "P";
    if (p == C && C) return "C";
    if (p == G && G) return "G";
    return NULL;
}

static int ctl(int fd, int op)
{
    struct { struct nlmsghdr n; struct cn_msg c; uint32_t op; } __attribute__((packed)) m;
    memset(&m, 0, sizeof m);
    m.n.nlmsg_len = sizeof m;
    m.n.nlmsg_type = NLMSG_DONE;
    m.n.nlmsg_pid = getpid();
    m.c.id.idx = CN_IDX_PROC;
    m.c.id.val = CN_VAL_PROC;
    m.c.seq = 77;
    m.c.ack = 77;
    m.c.len = sizeof(uint32_t);
    m.op = op;
    return send(fd, &m, sizeof m, 0);
}

/* One event; returns 1 when it was C's exit. */
static int show(struct nlmsghdr *h, int *acks)
{
    struct cn_msg *c = NLMSG_DATA(h);
    struct proc_event *e = (struct proc_event *)c->data;
    if (c->id.idx != CN_IDX_PROC || c->len != sizeof *e || h->nlmsg_type != NLMSG_DONE)
        return 0;
    switch ((int)e->what) {
    case PROC_EVENT_NONE:
        if (c->ack == 78 && !*acks) {
            printf("ack err %u ack %u\n", e->event_data.ack.err, c->ack);
            *acks = 1;
        }
        break;
    case PROC_EVENT_FORK: {
        const char *p = who(e->event_data.fork.parent_tgid);
        const char *ch = who(e->event_data.fork.child_pid);
        if (!ch && p && G == 0 && strcmp(p, "C") == 0 && e->event_data.fork.child_pid == e->event_data.fork.child_tgid)
            ch = "G?";
        if (p && ch)
            printf("fork %s -> %s (tid==tgid %d)\n", p, ch,
                   e->event_data.fork.child_pid == e->event_data.fork.child_tgid);
        break;
    }
    case PROC_EVENT_EXEC:
        if (who(e->event_data.exec.process_pid))
            printf("exec %s\n", who(e->event_data.exec.process_pid));
        break;
    case PROC_EVENT_UID:
        if (who(e->event_data.id.process_pid))
            printf("uid %s r %u e %u\n", who(e->event_data.id.process_pid),
                   e->event_data.id.r.ruid, e->event_data.id.e.euid);
        break;
    case PROC_EVENT_GID:
        if (who(e->event_data.id.process_pid))
            printf("gid %s r %u e %u\n", who(e->event_data.id.process_pid),
                   e->event_data.id.r.rgid, e->event_data.id.e.egid);
        break;
    case PROC_EVENT_SID:
        if (who(e->event_data.sid.process_pid))
            printf("sid %s\n", who(e->event_data.sid.process_pid));
        break;
    case PROC_EVENT_COMM:
        if (who(e->event_data.comm.process_pid))
            printf("comm %s %.16s\n", who(e->event_data.comm.process_pid), e->event_data.comm.comm);
        break;
    case PROC_EVENT_EXIT: {
        const char *w = who(e->event_data.exit.process_pid);
        if (w)
            printf("exit %s code %#x signal %d parent %s\n", w, e->event_data.exit.exit_code,
                   (int)e->event_data.exit.exit_signal,
                   who(e->event_data.exit.parent_pid) ? who(e->event_data.exit.parent_pid) : "?");
        if (w && strcmp(w, "C") == 0)
            return 1;
        break;
    }
    }
    return 0;
}

static int watch(int fd, int secs)
{
    char buf[8192];
    int events = 0, acks = 0;
    time_t end = time(NULL) + secs;
    printf("listening\n");
    fflush(stdout);
    while (time(NULL) < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 200) <= 0)
            continue;
        int n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            continue;
        struct proc_event *e = (struct proc_event *)((struct cn_msg *)NLMSG_DATA((struct nlmsghdr *)buf))->data;
        if (e->what == PROC_EVENT_NONE)
            acks++;
        else
            events++;
    }
    printf("events: %d\n", events);
    return 0;
}

int main(int argc, char **argv)
{
    P = getpid();
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0) { printf("socket: %s\n", strerrorname_np(errno)); return 1; }
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { printf("bind: %s\n", strerrorname_np(errno)); return 1; }
    if (ctl(fd, PROC_CN_MCAST_LISTEN) < 0) { printf("listen: %s\n", strerrorname_np(errno)); return 1; }
    if (argc > 2 && strcmp(argv[1], "watch") == 0)
        return watch(fd, atoi(argv[2]));

    int pfd[2];
    if (pipe(pfd) < 0) return 1;
    C = fork();
    if (C == 0) {
        char go;
        close(pfd[1]);
        read(pfd[0], &go, 1);  /* the parent knows our pid before anything happens */
        pid_t g = fork();
        if (g == 0)
            _exit(3);
        waitpid(g, NULL, 0);
        prctl(PR_SET_NAME, "kid");
        setsid();
        if (setgid(1234) < 0 || setuid(4321) < 0)
            _exit(98);
        execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
        _exit(99);
    }
    close(pfd[0]);
    write(pfd[1], "x", 1);
    close(pfd[1]);
    int st;
    waitpid(C, &st, 0);
    printf("child status %#x\n", st);

    char buf[8192];
    int acks = 0, done = 0;
    /* Until C's exit or 10 s: natively every process of the host makes events, and on a
     * busy host (a test suite) a bound on messages ran out before ours arrived. */
    time_t deadline = time(NULL) + 10;
    while (!done && time(NULL) < deadline) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0)
            continue;
        int n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS) printf("ENOBUFS\n");
            continue;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            struct proc_event *e = (struct proc_event *)((struct cn_msg *)NLMSG_DATA(h))->data;
            if (e->what == PROC_EVENT_FORK && who(e->event_data.fork.parent_tgid) && e->event_data.fork.parent_tgid == C)
                G = e->event_data.fork.child_tgid;
            done |= show(h, &acks);
        }
    }
    ctl(fd, PROC_CN_MCAST_IGNORE);
    close(fd);
    return 0;
}
