/* scm.c -- ancillary data of unix sockets: SCM_RIGHTS of every file kind the sandbox
 * has (the receiver gets the same open file description), what a short control
 * buffer or a full fd table does (MSG_CTRUNC, the rest closed), MSG_CMSG_CLOEXEC,
 * MSG_PEEK, where a stream read stops, datagrams by name, the errors of a bad
 * control buffer, SCM_CREDENTIALS and SO_PASSCRED, SO_PEERCRED of a socketpair,
 * garbage cycles of sockets in flight, ETOOMANYREFS, sendmmsg/recvmmsg. */
#include "check.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>

/* send "data" with the fds in fds[0..n) as one SCM_RIGHTS message */
static ssize_t send_fds(int s, const char *data, size_t len, const int *fds, int n)
{
    char ctl[CMSG_SPACE(sizeof(int) * 256)];
    struct iovec io = {(void *)data, len};
    struct msghdr m = {0};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    if (n > 0) {
        memset(ctl, 0, sizeof ctl);
        m.msg_control = ctl;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    }
    return sendmsg(s, &m, 0);
}

struct got {
    ssize_t r;
    int err;
    int nfds;
    int fds[256];
    int flags;
    size_t ctl_len;
    int ncred;
    struct ucred cred;
    char data[256];
};

/* recvmsg with a control buffer of ctl_room bytes; the fds and credentials found */
static struct got recv_fds(int s, size_t want, size_t ctl_room, int flags)
{
    struct got g;
    memset(&g, 0, sizeof g);
    char ctl[8192];
    memset(ctl, 0x5a, sizeof ctl);
    struct iovec io = {g.data, want};
    struct msghdr m = {0};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = ctl_room ? ctl : NULL;
    m.msg_controllen = ctl_room;
    errno = 0;
    g.r = recvmsg(s, &m, flags);
    g.err = errno;
    if (g.r < 0)
        return g;
    g.flags = m.msg_flags;
    g.ctl_len = m.msg_controllen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(g.fds + g.nfds, CMSG_DATA(c), k * sizeof(int));
            g.nfds += k;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            memcpy(&g.cred, CMSG_DATA(c), sizeof g.cred);
            g.ncred++;
        }
    }
    return g;
}

static void show(const char *label, struct got *g)
{
    if (g->r < 0) {
        printf("%s: -1 %s\n", label, en(g->err));
        return;
    }
    printf("%s: %zd \"%.*s\" fds %d%s%s ctl %zu\n", label, g->r, (int)g->r, g->data, g->nfds,
           g->flags & MSG_CTRUNC ? " CTRUNC" : "", g->flags & MSG_TRUNC ? " TRUNC" : "",
           g->ctl_len);
}

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* the same open file description: a flag set on one shows on the other */
static int same_description(int a, int b)
{
    int fa = fcntl(a, F_GETFL), fb = fcntl(b, F_GETFL);
    if (fa < 0 || fb < 0)
        return 0;
    MUST(fcntl(a, F_SETFL, fa ^ O_NONBLOCK));
    int same = (fcntl(b, F_GETFL) & O_NONBLOCK) != (fb & O_NONBLOCK);
    MUST(fcntl(a, F_SETFL, fa));
    return same;
}

static void kinds(void)
{
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    int p[2], sp[2];
    MUST(pipe(p));
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    int reg = open("regular", O_RDWR | O_CREAT | O_TRUNC, 0644);
    MUST(reg);
    MUST(write(reg, "0123456789", 10));
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    MUST(bind(tcp, (struct sockaddr *)&sin, sizeof sin));
    MUST(listen(tcp, 1));
    struct {
        const char *name;
        int fd;
    } k[] = {
        {"regular", reg},
        {"directory", open(".", O_RDONLY | O_DIRECTORY)},
        {"O_PATH", open("regular", O_PATH)},
        {"pipe read end", p[0]},
        {"pipe write end", p[1]},
        {"unix socket", sp[0]},
        {"tcp socket", tcp},
        {"eventfd", eventfd(3, 0)},
        {"epoll", epoll_create1(0)},
        {"timerfd", timerfd_create(CLOCK_MONOTONIC, 0)},
        {"memfd", memfd_create("m", 0)},
        {"/dev/null", open("/dev/null", O_RDWR)},
        {"/proc file", open("/proc/self/status", O_RDONLY)},
    };
    char label[128];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        MUST(k[i].fd);
        snprintf(label, sizeof label, "pass %s", k[i].name);
        R(label, send_fds(sv[0], "k", 1, &k[i].fd, 1));
        struct got g = recv_fds(sv[1], 8, 256, 0);
        show(label, &g);
        if (g.nfds != 1)
            continue;
        struct stat a, b;
        MUST(fstat(k[i].fd, &a));
        MUST(fstat(g.fds[0], &b));
        snprintf(label, sizeof label, "%s: same file", k[i].name);
        T(label, a.st_dev == b.st_dev && a.st_ino == b.st_ino);
        snprintf(label, sizeof label, "%s: same description", k[i].name);
        T(label, k[i].fd == k[i].fd && (fcntl(k[i].fd, F_GETFL) & O_PATH ? 1 :
                                        same_description(k[i].fd, g.fds[0])));
        snprintf(label, sizeof label, "%s: new fd number", k[i].name);
        T(label, g.fds[0] != k[i].fd);
        close(g.fds[0]);
    }
    /* the offset is the description's: a seek through the passed fd shows here */
    R("send regular again", send_fds(sv[0], "r", 1, &reg, 1));
    struct got g = recv_fds(sv[1], 8, 256, 0);
    R("lseek passed fd", lseek(g.fds[0], 3, SEEK_SET));
    R("offset seen by sender", lseek(reg, 0, SEEK_CUR));
    close(g.fds[0]);
    /* a pipe end passed, the original closed: the passed one is the pipe */
    R("send pipe write end", send_fds(sv[0], "w", 1, &p[1], 1));
    close(p[1]);
    g = recv_fds(sv[1], 8, 256, 0);
    R("write through passed pipe end", write(g.fds[0], "via", 3));
    close(g.fds[0]);
    char buf[8] = {0};
    R("read the pipe", read(p[0], buf, sizeof buf));
    printf("pipe data: %s\n", buf);
    R("pipe at EOF once every write end is closed", read(p[0], buf, sizeof buf));
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (k[i].fd != p[1])
            close(k[i].fd);
    close(sv[0]);
    close(sv[1]);
}

static void truncation(void)
{
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int three[3];
    for (int i = 0; i < 3; i++)
        MUST(three[i] = open("/dev/null", O_RDONLY));
    int base = open_fds();

    R("send 3 fds", send_fds(sv[0], "abc", 3, three, 3));
    struct got g = recv_fds(sv[1], 8, CMSG_SPACE(sizeof(int)), 0);
    show("recv, room for 1", &g);
    R("fds open after (delta)", open_fds() - base);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);

    R("send 3 fds", send_fds(sv[0], "abc", 3, three, 3));
    g = recv_fds(sv[1], 8, 0, 0);
    show("recv, no control buffer", &g);
    R("fds open after (delta)", open_fds() - base);

    R("send 3 fds", send_fds(sv[0], "abc", 3, three, 3));
    g = recv_fds(sv[1], 8, sizeof(struct cmsghdr), 0);
    show("recv, a header's room", &g);

    R("send 3 fds", send_fds(sv[0], "abc", 3, three, 3));
    char buf[8];
    R("read() drops them", read(sv[1], buf, sizeof buf));
    R("fds open after (delta)", open_fds() - base);

    R("send 3 fds", send_fds(sv[0], "abc", 3, three, 3));
    g = recv_fds(sv[1], 2, 256, 0);
    show("recv 2 of 3 bytes", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);

    /* MSG_CMSG_CLOEXEC */
    R("send 1 fd", send_fds(sv[0], "c", 1, three, 1));
    g = recv_fds(sv[1], 8, 256, MSG_CMSG_CLOEXEC);
    show("recv MSG_CMSG_CLOEXEC", &g);
    R("FD_CLOEXEC", fcntl(g.fds[0], F_GETFD));
    close(g.fds[0]);
    R("send 1 fd", send_fds(sv[0], "c", 1, three, 1));
    g = recv_fds(sv[1], 8, 256, 0);
    R("FD_CLOEXEC without", fcntl(g.fds[0], F_GETFD));
    close(g.fds[0]);

    /* MSG_PEEK installs the fds and leaves them in flight */
    R("send 2 fds", send_fds(sv[0], "pk", 2, three, 2));
    g = recv_fds(sv[1], 8, 256, MSG_PEEK);
    show("peek", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    g = recv_fds(sv[1], 8, 256, 0);
    show("recv after peek", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);

    /* a full fd table: as many as fit, the rest closed */
    struct rlimit old, lim;
    MUST(getrlimit(RLIMIT_NOFILE, &old));
    int hi = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            hi = fd;
    int base_hi_open = open_fds();
    lim.rlim_cur = hi + 2;
    lim.rlim_max = old.rlim_max;
    R("send 3 fds", send_fds(sv[0], "abc", 3, three, 3));
    MUST(setrlimit(RLIMIT_NOFILE, &lim));
    g = recv_fds(sv[1], 8, 256, 0);
    MUST(setrlimit(RLIMIT_NOFILE, &old));
    printf("recv, a full table: %zd\n", g.r);
    int room = hi + 2 - base_hi_open;
    T("  installed as many as the table had room for", g.nfds == (room < 3 ? room : 3));
    T("  CTRUNC when it had room for fewer", !!(g.flags & MSG_CTRUNC) == (room < 3));
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    R("fds open after (delta)", open_fds() - base);

    /* errors */
    int bad = 999;
    R("send a closed fd", send_fds(sv[0], "x", 1, &bad, 1));
    int many[254];
    for (int i = 0; i < 254; i++)
        many[i] = three[0];
    R("send 253 fds", send_fds(sv[0], "x", 1, many, 253));
    g = recv_fds(sv[1], 8, 8192, 0);
    show("recv 253", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    R("send 254 fds", send_fds(sv[0], "x", 1, many, 254));
    {
        char ctl[64] = {0};
        struct iovec io = {"x", 1};
        struct msghdr m = {0};
        m.msg_iov = &io;
        m.msg_iovlen = 1;
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = 8;
        R("cmsg_len too small", sendmsg(sv[0], &m, 0));
        c->cmsg_len = 65;
        R("cmsg_len past the buffer", sendmsg(sv[0], &m, 0));
        m.msg_controllen = CMSG_SPACE(4);
        c->cmsg_len = CMSG_LEN(4);
        c->cmsg_type = 77;
        R("unknown SOL_SOCKET type", sendmsg(sv[0], &m, 0));
        c->cmsg_level = 99;
        R("another level is ignored", sendmsg(sv[0], &m, 0));
        g = recv_fds(sv[1], 8, 256, 0);
        show("recv it", &g);
        m.msg_controllen = 200000;
        R("control buffer past optmem_max", sendmsg(sv[0], &m, 0));
        /* two SCM_RIGHTS messages in one control buffer combine */
        m.msg_controllen = 2 * CMSG_SPACE(sizeof(int));
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &three[0], sizeof(int));
        c = CMSG_NXTHDR(&m, c);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &three[1], sizeof(int));
        R("two SCM_RIGHTS headers", sendmsg(sv[0], &m, 0));
        g = recv_fds(sv[1], 8, 256, 0);
        show("recv them", &g);
        for (int i = 0; i < g.nfds; i++)
            close(g.fds[i]);
    }
    for (int i = 0; i < 3; i++)
        close(three[i]);
    close(sv[0]);
    close(sv[1]);
}

static void stream_boundaries(void)
{
    int sv[2], n;
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    MUST(n = open("/dev/null", O_RDONLY));
    R("send ab + fd", send_fds(sv[0], "ab", 2, &n, 1));
    R("send cd", send_fds(sv[0], "cd", 2, NULL, 0));
    struct got g = recv_fds(sv[1], 10, 256, 0);
    show("stream read stops after the fd's part", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    g = recv_fds(sv[1], 10, 256, 0);
    show("then the rest", &g);
    R("send xy", send_fds(sv[0], "xy", 2, NULL, 0));
    R("send zw + fd", send_fds(sv[0], "zw", 2, &n, 1));
    R("send tail", send_fds(sv[0], "tail", 4, NULL, 0));
    g = recv_fds(sv[1], 10, 256, 0);
    show("glued up to the fd's part", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    g = recv_fds(sv[1], 10, 256, 0);
    show("then the tail", &g);
    R("send abcd + fd", send_fds(sv[0], "abcd", 4, &n, 1));
    g = recv_fds(sv[1], 1, 256, 0);
    show("1 byte takes the fd", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    g = recv_fds(sv[1], 10, 256, 0);
    show("rest without it", &g);
    R("send empty + fd", send_fds(sv[0], "", 0, &n, 1));
    MUST(fcntl(sv[1], F_SETFL, O_NONBLOCK));
    g = recv_fds(sv[1], 10, 256, 0);
    show("an empty stream send carries nothing", &g);
    /* the socket closed after sending: the fd still arrives */
    R("send + fd, then close", send_fds(sv[0], "e", 1, &n, 1));
    close(sv[0]);
    g = recv_fds(sv[1], 10, 256, 0);
    show("recv after the sender closed", &g);
    for (int i = 0; i < g.nfds; i++)
        close(g.fds[i]);
    g = recv_fds(sv[1], 10, 256, 0);
    show("then EOF", &g);
    close(sv[1]);
    close(n);
}

static void by_name(void)
{
    int a = socket(AF_UNIX, SOCK_DGRAM, 0), b = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, "dgram.sock");
    MUST(bind(b, (struct sockaddr *)&sa, sizeof sa));
    int p[2];
    MUST(pipe(p));
    char ctl[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec io = {"n", 1};
    struct msghdr m = {0};
    m.msg_name = &sa;
    m.msg_namelen = sizeof sa;
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    R("sendmsg by name + fd", sendmsg(a, &m, 0));
    close(p[1]);
    struct got g = recv_fds(b, 8, 256, 0);
    show("recv by name", &g);
    R("write through it", write(g.fds[0], "ok", 2));
    close(g.fds[0]);
    char buf[4] = {0};
    R("read", read(p[0], buf, 4));
    R("EOF", read(p[0], buf, 4));
    close(p[0]);
    /* the queue of a socket not connected back to the sender: max_dgram_qlen */
    MUST(fcntl(a, F_SETFL, O_NONBLOCK));
    int sent = 0;
    while (sendto(a, "q", 1, 0, (struct sockaddr *)&sa, sizeof sa) == 1 && sent < 1000)
        sent++;
    printf("datagrams queued before %s: %d\n", en(errno), sent);
    close(a);
    close(b);
    unlink("dgram.sock");
}

static void credentials(void)
{
    int sv[2], on = 1;
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    struct got g;
    R("send, nobody passes credentials", send(sv[0], "a", 1, 0));
    MUST(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    int v = 0;
    socklen_t vl = sizeof v;
    R("getsockopt SO_PASSCRED", getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &vl));
    printf("SO_PASSCRED: %d\n", v);
    g = recv_fds(sv[1], 8, 256, 0);
    show("recv", &g);
    printf("  creds %d: pid %d uid %u gid %u\n", g.ncred, g.cred.pid, g.cred.uid, g.cred.gid);
    R("send, the receiver passes credentials", send(sv[0], "b", 1, 0));
    g = recv_fds(sv[1], 8, 256, 0);
    show("recv", &g);
    printf("  creds %d: pid is mine %s uid %u gid %u\n", g.ncred, g.cred.pid == getpid() ? "yes" : "no",
           g.cred.uid, g.cred.gid);
    R("send b again", send(sv[0], "b", 1, 0));
    g = recv_fds(sv[1], 8, 16, 0);
    show("recv, room for a header", &g);
    printf("  creds %d\n", g.ncred);
    R("send b again", send(sv[0], "b", 1, 0));
    g = recv_fds(sv[1], 8, 0, 0);
    show("recv, no control buffer", &g);

    /* explicit SCM_CREDENTIALS */
    struct {
        const char *label;
        pid_t pid;
        uid_t uid;
        gid_t gid;
    } cases[] = {
        {"own credentials", 0, 0, 0},
        {"pid 1 (root may)", 1, 0, 0},
        {"uid 1234 (root may)", 0, 1234, 0},
        {"a pid that does not exist", 999999, 0, 0},
        {"uid -1", 0, (uid_t)-1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ctl[CMSG_SPACE(sizeof(struct ucred))] = {0};
        struct iovec io = {"c", 1};
        struct msghdr m = {0};
        m.msg_iov = &io;
        m.msg_iovlen = 1;
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
        struct ucred u = {cases[i].pid ? cases[i].pid : getpid(), cases[i].uid, cases[i].gid};
        memcpy(CMSG_DATA(c), &u, sizeof u);
        R(cases[i].label, sendmsg(sv[0], &m, 0));
        if (errno)
            continue;
        g = recv_fds(sv[1], 8, 256, 0);
        printf("  creds %d: pid %s uid %u gid %u\n", g.ncred,
               g.cred.pid == getpid() ? "mine" : g.cred.pid == 1 ? "1" : "other", g.cred.uid,
               g.cred.gid);
    }
    {
        char ctl[CMSG_SPACE(8)] = {0};
        struct iovec io = {"c", 1};
        struct msghdr m = {0};
        m.msg_iov = &io;
        m.msg_iovlen = 1;
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(8);
        R("SCM_CREDENTIALS of the wrong size", sendmsg(sv[0], &m, 0));
    }
    close(sv[0]);
    close(sv[1]);

    /* a stream: credentials per writer, never glued across writers */
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    MUST(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    R("parent writes", write(sv[0], "pp", 2));
    pid_t child = fork();
    MUST(child);
    if (child == 0) {
        if (write(sv[0], "cc", 2) != 2)
            _exit(1);
        _exit(0);
    }
    int st;
    MUST(waitpid(child, &st, 0));
    g = recv_fds(sv[1], 10, 256, 0);
    show("stream with SO_PASSCRED", &g);
    printf("  from %s\n", g.cred.pid == getpid() ? "me" : "another");
    g = recv_fds(sv[1], 10, 256, 0);
    show("then", &g);
    printf("  from %s\n", g.cred.pid == getpid() ? "me" : g.cred.pid == child ? "the child" : "?");
    close(sv[0]);
    g = recv_fds(sv[1], 10, 256, 0);
    show("EOF with SO_PASSCRED", &g);
    printf("  creds %d: pid %d uid %u gid %u\n", g.ncred, g.cred.pid, g.cred.uid, g.cred.gid);
    close(sv[1]);

    /* SO_PEERCRED of a socketpair: its creator, for both ends, even after a fork */
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    pid_t me = getpid();
    child = fork();
    MUST(child);
    if (child == 0) {
        struct ucred u;
        socklen_t ul = sizeof u;
        if (getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &u, &ul) < 0)
            _exit(2);
        _exit(u.pid == me ? 0 : 1);
    }
    MUST(waitpid(child, &st, 0));
    printf("SO_PEERCRED in a child is the creator: %s\n",
           WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
    close(sv[0]);
    close(sv[1]);
}

/* Linux collects garbage asynchronously, and skips a collection while one runs: poll,
 * and close another unix socket (which starts one) between tries */
static int collected(int fd, int tries)
{
    struct pollfd pf = {fd, POLLIN, 0};
    for (int i = 0; i < tries; i++) {
        if (poll(&pf, 1, 100) == 1)
            return 1;
        int sv[2];
        MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
        close(sv[0]);
        close(sv[1]);
    }
    return 0;
}

static void garbage(void)
{
    /* a socket that only a message in its own queue holds, holding a pipe's write end:
     * once collected, the pipe reads EOF */
    int sv[2], p[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    MUST(pipe(p));
    R("pass the pipe's write end", send_fds(sv[0], "p", 1, &p[1], 1));
    R("pass the receiving socket to itself", send_fds(sv[0], "s", 1, &sv[1], 1));
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    T("the cycle is collected", collected(p[0], 100));
    char c;
    R("pipe EOF", read(p[0], &c, 1));
    close(p[0]);

    /* a cycle of two pairs, each holding the other's receiving end */
    int a[2], b[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, a));
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, b));
    MUST(pipe(p));
    R("a carries b's receiver", send_fds(a[0], "x", 1, &b[1], 1));
    R("b carries a's receiver", send_fds(b[0], "y", 1, &a[1], 1));
    R("a carries the pipe", send_fds(a[0], "z", 1, &p[1], 1));
    close(p[1]);
    close(a[0]);
    close(b[0]);
    close(a[1]);
    pf.fd = p[0];
    R("still reachable through b[1]: poll", poll(&pf, 1, 100));
    close(b[1]);
    T("then collected", collected(p[0], 100));
    R("pipe EOF", read(p[0], &c, 1));
    close(p[0]);

    /* a long chain, each socket carrying the next: freed without a deep recursion */
    MUST(pipe(p));
    int prev[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, prev));
    MUST(send_fds(prev[0], "t", 1, &p[1], 1));
    close(p[1]);
    close(prev[0]);
    for (int i = 0; i < 3000; i++) {
        int nx[2];
        MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, nx));
        MUST(send_fds(nx[0], "c", 1, &prev[1], 1));
        close(prev[1]);
        close(nx[0]);
        prev[1] = nx[1];
    }
    close(prev[1]);
    T("a chain of 3000 freed", collected(p[0], 100));
    R("pipe EOF", read(p[0], &c, 1));
    close(p[0]);
}

static void too_many(void)
{
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    pid_t child = fork();
    MUST(child);
    if (child == 0) {
        struct rlimit lim = {16, 16};
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        int n = open("/dev/null", O_RDONLY), sent = 0;
        while (send_fds(sv[0], "m", 1, &n, 1) == 1 && sent < 100)
            sent++;
        printf("unprivileged: %d fds in flight, then %s\n", sent, en(errno));
        _exit(0);
    }
    int st;
    MUST(waitpid(child, &st, 0));
    R("child exit", WEXITSTATUS(st));
    close(sv[0]);
    close(sv[1]);
}

static void mmsg(void)
{
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    struct mmsghdr out[3];
    struct iovec oio[3] = {{"one", 3}, {"two!", 4}, {"three", 5}};
    memset(out, 0, sizeof out);
    for (int i = 0; i < 3; i++) {
        out[i].msg_hdr.msg_iov = &oio[i];
        out[i].msg_hdr.msg_iovlen = 1;
    }
    R("sendmmsg 3", sendmmsg(sv[0], out, 3, 0));
    printf("msg_len: %u %u %u\n", out[0].msg_len, out[1].msg_len, out[2].msg_len);
    struct mmsghdr in[5];
    char bufs[5][8];
    struct iovec iio[5];
    memset(in, 0, sizeof in);
    for (int i = 0; i < 5; i++) {
        iio[i].iov_base = bufs[i];
        iio[i].iov_len = 4;
        in[i].msg_hdr.msg_iov = &iio[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    R("recvmmsg up to 5, MSG_DONTWAIT", recvmmsg(sv[1], in, 5, MSG_DONTWAIT, NULL));
    for (int i = 0; i < 3; i++)
        printf("  %d: %u \"%.*s\"%s\n", i, in[i].msg_len, (int)(in[i].msg_len < 4 ? in[i].msg_len : 4),
               bufs[i], in[i].msg_hdr.msg_flags & MSG_TRUNC ? " TRUNC" : "");
    R("recvmmsg nothing there", recvmmsg(sv[1], in, 5, MSG_DONTWAIT, NULL));
    R("send 2", sendmmsg(sv[0], out, 2, 0));
    R("recvmmsg MSG_WAITFORONE", recvmmsg(sv[1], in, 5, MSG_WAITFORONE, NULL));
    close(sv[0]);
    R("sendmmsg to a closed peer", sendmmsg(sv[1], out, 2, MSG_NOSIGNAL));
    close(sv[1]);
}

static void from_child(void)
{
    /* the usual use: a child opens a file and hands it to its parent */
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    pid_t child = fork();
    MUST(child);
    if (child == 0) {
        close(sv[0]);
        int f = open("from-child", O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (f < 0 || write(f, "child wrote", 11) != 11)
            _exit(1);
        _exit(send_fds(sv[1], "f", 1, &f, 1) == 1 ? 0 : 1);
    }
    close(sv[1]);
    int st;
    MUST(waitpid(child, &st, 0));
    R("child", WEXITSTATUS(st));
    struct got g = recv_fds(sv[0], 8, 256, 0);
    show("from the child", &g);
    R("offset of the child's description", lseek(g.fds[0], 0, SEEK_CUR));
    char buf[16] = {0};
    R("pread", pread(g.fds[0], buf, sizeof buf, 0));
    printf("  %s\n", buf);
    close(g.fds[0]);
    close(sv[0]);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    kinds();
    truncation();
    stream_boundaries();
    by_name();
    credentials();
    garbage();
    too_many();
    mmsg();
    from_child();
    return 0;
}
