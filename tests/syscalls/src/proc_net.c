/*
 * proc_net.c -- /proc/net (a link to self/net) and /proc/PID/net: the network
 * namespace's files, and the socket tables' rows of the caller's own sockets.
 *
 * Natively the program runs in the host's network namespace, the sandbox in one of
 * its own: only what both must show is printed (the lo interface, the tables' headers,
 * and each of this program's sockets' rows found by the socket's inode: its local
 * address, state, owner and queues), never what the namespace holds besides.  The
 * unix sockets are the sandbox's own (made from the sentry's): /proc/net/unix's rows of
 * this program's, by inode, or by name for a connection not accepted yet (inode 0).
 */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stddef.h>

static char buf[1 << 20];

static const char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    buf[0] = 0;
    if (fd < 0)
        return buf;
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    buf[n] = 0;
    close(fd);
    return buf;
}

static unsigned long ino_of(int fd)
{
    struct stat st;
    MUST(fstat(fd, &st));
    return st.st_ino;
}

/* The row of the socket of inode *want* in table *path*, as "local state tx:rx uid" (the
   address as the kernel prints it, the port checked against *port*), or "none". */
static void row_of(const char *label, const char *path, unsigned long want, unsigned port)
{
    slurp(path);
    char *line = strchr(buf, '\n');
    while (line && *++line) {
        char local[64], remote[64], queues[32], timer[32];
        unsigned st, uid, retr, tmo;
        unsigned long ino;
        int sl;
        if (sscanf(line, "%d: %63s %63s %X %31s %31s %X %u %u %lu", &sl, local, remote, &st,
                   queues, timer, &retr, &uid, &tmo, &ino) == 10 && ino == want) {
            char *colon = strchr(local, ':');
            unsigned got = colon ? (unsigned)strtoul(colon + 1, NULL, 16) : 0;
            if (colon)
                *colon = 0;
            printf("%s: local %s port %s state %02X queues %s uid %u\n", label, local,
                   got == port ? "ok" : "wrong", st, queues, uid);
            return;
        }
        line = strchr(line, '\n');
    }
    printf("%s: none\n", label);
}

static void row(const char *label, const char *path, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    MUST(getsockname(fd, (struct sockaddr *)&ss, &len));
    unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                   : ((struct sockaddr_in6 *)&ss)->sin6_port);
    row_of(label, path, ino_of(fd), port);
}

/* The /proc/net/unix row of the socket of inode *want* (or, with *want* 0, the one named
   *name*), without its kernel address. */
static void unix_row(const char *label, unsigned long want, const char *name)
{
    slurp("/proc/net/unix");
    char *line = strchr(buf, '\n');
    while (line && *++line) {
        unsigned refs, proto, flags, type, st;
        unsigned long ino;
        char path[128] = "";
        int at = 0;
        int n = sscanf(line, "%*[0-9a-f]: %X %X %X %X %X %lu%n", &refs, &proto, &flags, &type,
                       &st, &ino, &at);
        if (n == 6 && line[at] == ' ')
            sscanf(line + at + 1, "%127[^\n]", path);
        if (n == 6 && ino == want && (want || (name && strcmp(path, name) == 0))) {
            printf("%s: refs %u proto %u flags %05X type %04X state %02X inode %s path '%s'\n",
                   label, refs, proto, flags, type, st, ino ? "ok" : "0", path);
            return;
        }
        line = strchr(line, '\n');
    }
    printf("%s: none\n", label);
}

static int tcp_listener(int family, const char *addr, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    int s;
    MUST(s = socket(family, SOCK_STREAM, 0));
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, addr, &a->sin_addr);
        *len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        *len = sizeof *a;
    }
    MUST(bind(s, (struct sockaddr *)ss, *len));
    MUST(listen(s, 4));
    MUST(getsockname(s, (struct sockaddr *)ss, len));
    return s;
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    char link[64] = {0};
    R("readlink /proc/net", readlink("/proc/net", link, sizeof link - 1));
    printf("/proc/net -> %s\n", link);
    struct stat st;
    R("stat /proc/self/net is a directory", stat("/proc/self/net", &st) == 0 && S_ISDIR(st.st_mode));
    printf("/proc/self/net mode: %o\n", st.st_mode & 07777);
    slurp("/proc/net/dev");
    T("dev: header", strncmp(buf, "Inter-|   Receive", 17) == 0);
    T("dev: lo", strstr(buf, "\n    lo:") != NULL);
    slurp("/proc/1/net/dev");
    T("/proc/1/net/dev: lo", strstr(buf, "\n    lo:") != NULL);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/net/dev", (int)gettid());
    slurp(path);
    T("/proc/self/task/TID/net/dev: lo", strstr(buf, "\n    lo:") != NULL);
    slurp("/proc/net/if_inet6");
    T("if_inet6: ::1 on lo", strstr(buf, "00000000000000000000000000000001 01 80 10 80       lo") != NULL);
    slurp("/proc/net/snmp");
    T("snmp: Ip first", strncmp(buf, "Ip: Forwarding DefaultTTL", 25) == 0);
    slurp("/proc/net/route");
    T("route: header", strncmp(buf, "Iface\tDestination\tGateway", 25) == 0);

    /* the tables' headers, padding included */
    const char *tables[] = {"/proc/net/tcp", "/proc/net/udp", "/proc/net/tcp6", "/proc/net/udp6"};
    for (unsigned i = 0; i < 4; i++) {
        slurp(tables[i]);
        char *nl = strchr(buf, '\n');
        size_t n = nl ? (size_t)(nl - buf) : strlen(buf);
        while (n && buf[n - 1] == ' ')
            n--;
        printf("%s header: %zu chars then padded to %zu: %.*s\n", tables[i], n,
               nl ? (size_t)(nl - buf) : 0, (int)n, buf);
    }

    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int l = tcp_listener(AF_INET, "127.0.0.1", &ss, &len);
    int c;
    MUST(c = socket(AF_INET, SOCK_STREAM, 0));
    MUST(connect(c, (struct sockaddr *)&ss, len));
    int a;
    MUST(a = accept(l, NULL, NULL));
    MUST(write(c, "hello", 5));
    usleep(50000);
    row("tcp listener row", "/proc/net/tcp", l);
    row("tcp accepted row (5 bytes unread)", "/proc/net/tcp", a);
    row("tcp listener in tcp6", "/proc/net/tcp6", l);
    int l6 = tcp_listener(AF_INET6, "::1", &ss, &len);
    row("tcp6 listener row", "/proc/net/tcp6", l6);
    int u;
    MUST(u = socket(AF_INET, SOCK_DGRAM, 0));
    row("udp unbound", "/proc/net/udp", u);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    MUST(bind(u, (struct sockaddr *)&ua, sizeof ua));
    row("udp bound row", "/proc/net/udp", u);
    unsigned long lino = ino_of(l);
    close(l);
    row_of("tcp listener closed", "/proc/net/tcp", lino, 0);

    /* unix sockets */
    slurp("/proc/net/unix");
    printf("unix header: %.*s\n", (int)(strchr(buf, '\n') - buf), buf);
    int sp[2], dp[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, dp));
    unix_row("stream pair", ino_of(sp[0]), NULL);
    unix_row("datagram pair", ino_of(dp[1]), NULL);
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "lsock"};
    int ul, uc, ua2, ab, ud;
    MUST(ul = socket(AF_UNIX, SOCK_STREAM, 0));
    MUST(bind(ul, (struct sockaddr *)&un, sizeof un));
    MUST(listen(ul, 4));
    unix_row("listener", ino_of(ul), NULL);
    MUST(uc = socket(AF_UNIX, SOCK_STREAM, 0));
    MUST(connect(uc, (struct sockaddr *)&un, sizeof un));
    unix_row("connected client", ino_of(uc), NULL);
    unix_row("connection not accepted", 0, "lsock");
    MUST(ua2 = accept(ul, NULL, NULL));
    unix_row("accepted connection", ino_of(ua2), NULL);
    struct sockaddr_un an = {.sun_family = AF_UNIX};
    memcpy(an.sun_path, "\0abs\0x", 6);
    MUST(ab = socket(AF_UNIX, SOCK_SEQPACKET, 0));
    MUST(bind(ab, (struct sockaddr *)&an, offsetof(struct sockaddr_un, sun_path) + 6));
    unix_row("abstract seqpacket", ino_of(ab), NULL);
    MUST(ud = socket(AF_UNIX, SOCK_DGRAM, 0));
    unix_row("unbound datagram", ino_of(ud), NULL);
    unsigned long udino = ino_of(ud);
    close(ud);
    unix_row("closed", udino, NULL);
    /* references: one per socket whose peer or destination it is */
    struct sockaddr_un dn = {.sun_family = AF_UNIX, .sun_path = "dsock"};
    int ds, dc1, dc2;
    MUST(ds = socket(AF_UNIX, SOCK_DGRAM, 0));
    MUST(bind(ds, (struct sockaddr *)&dn, sizeof dn));
    MUST(dc1 = socket(AF_UNIX, SOCK_DGRAM, 0));
    MUST(connect(dc1, (struct sockaddr *)&dn, sizeof dn));
    MUST(dc2 = socket(AF_UNIX, SOCK_DGRAM, 0));
    MUST(connect(dc2, (struct sockaddr *)&dn, sizeof dn));
    unix_row("datagram destination of two", ino_of(ds), NULL);
    unix_row("datagram connected to it", ino_of(dc1), NULL);
    close(sp[1]);
    unix_row("stream pair, the other end closed", ino_of(sp[0]), NULL);
    /* a socket() refused for want of an fd leaves no row */
    slurp("/proc/net/unix");
    int before = 0, after = 0;
    for (char *q = buf; (q = strchr(q, '\n')); q++)
        before++;
    struct rlimit rl, low;
    MUST(getrlimit(RLIMIT_NOFILE, &rl));
    int top;
    MUST(top = dup(0));
    close(top);
    low.rlim_cur = top;
    low.rlim_max = rl.rlim_max;
    MUST(setrlimit(RLIMIT_NOFILE, &low));
    int refused = 0;
    for (int i = 0; i < 100; i++)
        if (socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EMFILE)
            refused++;
    MUST(setrlimit(RLIMIT_NOFILE, &rl));
    R("sockets refused (EMFILE)", refused);
    slurp("/proc/net/unix");
    for (char *q = buf; (q = strchr(q, '\n')); q++)
        after++;
    R("rows added by them", after - before);

    /* a socket of another user: its owner's uid */
    pid_t p = fork_as(1000);
    if (p == 0) {
        int s;
        MUST(s = socket(AF_INET, SOCK_DGRAM, 0));
        struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        MUST(bind(s, (struct sockaddr *)&b, sizeof b));
        row("uid 1000's udp row", "/proc/net/udp", s);
        _exit(0);
    }
    show_wait("child", p);
    return 0;
}
