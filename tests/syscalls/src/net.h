/*
 * net.h -- helpers of the differential programs that use epoll and loopback TCP.
 */
#ifndef NET_H
#define NET_H
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* "IN|OUT|..." for an epoll event mask, "0" for none */
static inline const char *evname(uint32_t e)
{
    static char b[160];
    b[0] = 0;
    static const struct { uint32_t bit; const char *n; } names[] = {
        {EPOLLIN, "IN"}, {EPOLLPRI, "PRI"}, {EPOLLOUT, "OUT"}, {EPOLLERR, "ERR"},
        {EPOLLHUP, "HUP"}, {EPOLLRDNORM, "RDNORM"}, {EPOLLRDBAND, "RDBAND"},
        {EPOLLWRNORM, "WRNORM"}, {EPOLLWRBAND, "WRBAND"}, {EPOLLRDHUP, "RDHUP"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (e & names[i].bit) {
            strcat(b, b[0] ? "|" : "");
            strcat(b, names[i].n);
        }
    if (!b[0])
        strcpy(b, "0");
    return b;
}

/* a TCP socket listening on a free loopback port, its address in *a */
static inline int listener(struct sockaddr_in *a)
{
    socklen_t len = sizeof *a;
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int l = socket(AF_INET, SOCK_STREAM, 0);
    MUST(l);
    MUST(bind(l, (struct sockaddr *)a, sizeof *a));
    MUST(getsockname(l, (struct sockaddr *)a, &len));
    MUST(listen(l, 16));
    return l;
}

#endif
