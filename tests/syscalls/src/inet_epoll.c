/* inet_epoll.c -- epoll over loopback TCP pairs: what a wait reports right after
 * sends on both ends (a loopback send makes its peer readable before it returns, so
 * both ends are ready at once), edge- and level-triggered, after a wait that timed
 * out, through poll/select on the epoll fd and a nested set; then the edges that
 * follow reads and more sends, and DEL/MOD (CPython's test_epoll
 * test_control_and_wait); last, many pairs in a row, each expected to report both. */
#include "check.h"
#include "net.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

/* epoll_wait, then "label: n [data events] ..." sorted by data (two sockets that
 * become ready together may be listed in either order) */
static int wait_show(const char *label, int ep, int timeout)
{
    struct epoll_event ev[8];
    errno = 0;
    int n = epoll_wait(ep, ev, 8, timeout);
    if (n < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return n;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ev[j].data.u64 < ev[i].data.u64) {
                struct epoll_event x = ev[i];
                ev[i] = ev[j];
                ev[j] = x;
            }
    printf("%s: %d", label, n);
    for (int i = 0; i < n; i++)
        printf(" [%llu %s]", (unsigned long long)ev[i].data.u64, evname(ev[i].events));
    printf("\n");
    return n;
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &e);
}

/* a connected pair as CPython's test makes it: a non-blocking connect, then accept;
 * no Nagle delay, so every send reaches the peer before it returns */
static void pair(int l, const struct sockaddr_in *a, int *c, int *s)
{
    int one = 1;
    *c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    MUST(*c);
    if (connect(*c, (const struct sockaddr *)a, sizeof *a) == 0 || errno != EINPROGRESS)
        MUST(-1);
    *s = accept(l, NULL, NULL);
    MUST(*s);
    MUST(setsockopt(*c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    MUST(setsockopt(*s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
}

static void drain(int fd)
{
    char buf[256];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

static void control_and_wait(int l, const struct sockaddr_in *a)
{
    int c, s;
    pair(l, a, &c, &s);
    int ep = epoll_create1(0);
    MUST(ep);
    MUST(ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT | EPOLLET, 1));
    MUST(ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLOUT | EPOLLET, 2));
    wait_show("et connected", ep, 1000);
    wait_show("et nothing new", ep, 20);
    MUST(send(c, "Hello!", 6, 0));
    MUST(send(s, "world!!!", 8, 0));
    wait_show("et after both sends", ep, 1000);
    wait_show("et nothing new after sends", ep, 0);
    drain(s);
    drain(c);
    wait_show("et after reads", ep, 0);
    MUST(send(c, "again", 5, 0));
    wait_show("et after one send", ep, 1000);
    MUST(ctl(ep, EPOLL_CTL_DEL, c, 0, 0));
    MUST(ctl(ep, EPOLL_CTL_MOD, s, EPOLLOUT, 1));
    wait_show("del and mod", ep, 1000);
    close(ep);
    close(c);
    close(s);
}

static void level(int l, const struct sockaddr_in *a)
{
    int c, s;
    pair(l, a, &c, &s);
    int ep = epoll_create1(0);
    MUST(ep);
    MUST(ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN, 1));
    MUST(ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN, 2));
    wait_show("lt idle", ep, 0);
    MUST(send(c, "ping", 4, 0));
    MUST(send(s, "pong", 4, 0));
    wait_show("lt after both sends", ep, 0);
    wait_show("lt again", ep, 0);

    /* poll and select on the epoll fd, and a set watching this one */
    int outer = epoll_create1(0);
    MUST(outer);
    MUST(ctl(outer, EPOLL_CTL_ADD, ep, EPOLLIN, 9));
    drain(s);
    drain(c);
    wait_show("lt after reads", ep, 0);
    struct pollfd p = {ep, POLLIN, 0};
    R("poll on the set, idle", poll(&p, 1, 0));
    MUST(send(s, "x", 1, 0));
    p.revents = 0;
    R("poll on the set after a send", poll(&p, 1, 0));
    printf("poll revents: %s\n", evname((uint16_t)p.revents));
    drain(c);
    MUST(send(c, "y", 1, 0));
    fd_set r;
    FD_ZERO(&r);
    FD_SET(ep, &r);
    struct timeval tv = {0, 0};
    R("select on the set after a send", select(ep + 1, &r, NULL, NULL, &tv));
    drain(s);
    MUST(send(c, "z", 1, 0));
    wait_show("outer set after a send", outer, 0);
    close(outer);
    close(ep);
    close(c);
    close(s);
}

/* each pair: sends on both ends, one wait must report both */
static void many(int l, const struct sockaddr_in *a)
{
    int both = 0, rounds = 40;
    for (int i = 0; i < rounds; i++) {
        int c, s;
        pair(l, a, &c, &s);
        int ep = epoll_create1(0);
        MUST(ep);
        MUST(ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLET, 1));
        MUST(ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLET, 2));
        MUST(send(c, "a", 1, 0));
        MUST(send(s, "b", 1, 0));
        struct epoll_event ev[4];
        int n = epoll_wait(ep, ev, 4, 1000);
        both += n == 2;
        close(ep);
        close(c);
        close(s);
    }
    printf("pairs with both ends reported by one wait: %d of %d\n", both, rounds);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    struct sockaddr_in a;
    int l = listener(&a);
    control_and_wait(l, &a);
    level(l, &a);
    many(l, &a);
    close(l);
    return 0;
}
