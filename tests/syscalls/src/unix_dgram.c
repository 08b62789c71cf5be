/* unix_dgram.c -- what a unix datagram socket sees of its peer and of shutdown: a
 * socketpair end whose peer closed stays writable, the next send is ECONNREFUSED and
 * disconnects it (ENOTCONN after), what the dead peer was sent is dropped, nothing
 * reads as end of file; shutdown is the socket's own (EPIPE without SIGPIPE, a
 * non-blocking read EAGAIN); seqpacket sends raise no SIGPIPE, stream sends do;
 * shutdown of an unconnected socket succeeds. */
#include "check.h"
#include <poll.h>
#include <sys/socket.h>

static int sigpipes;
static void on_pipe(int s) { (void)s; sigpipes++; }

static void show_poll(const char *label, int fd)
{
    struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDHUP, 0};
    MUST(poll(&p, 1, 0));
    printf("%s:%s%s%s%s\n", label, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLHUP ? " HUP" : "", p.revents & POLLRDHUP ? " RDHUP" : "");
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    set_handler(SIGPIPE, on_pipe, 0);
    char b[8];
    int sv[2];

    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    R("send to the peer", send(sv[1], "x", 1, 0));
    MUST(send(sv[0], "q", 1, 0));
    close(sv[0]);
    show_poll("peer closed", sv[1]);
    R("recv what the peer sent before closing", recv(sv[1], b, sizeof b, MSG_DONTWAIT));
    R("then nothing (no EOF)", recv(sv[1], b, sizeof b, MSG_DONTWAIT));
    R("send after the peer closed", send(sv[1], "x", 1, 0));
    R("send again: disconnected", send(sv[1], "x", 1, 0));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    R("getpeername", getpeername(sv[1], (struct sockaddr *)&ss, &sl));
    show_poll("disconnected", sv[1]);
    close(sv[1]);

    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    MUST(send(sv[0], "a", 1, 0));
    close(sv[0]);
    MUST(send(sv[1], "b", 1, 0) < 0 ? 0 : -1);
    R("queued datagrams dropped with the disconnect", recv(sv[1], b, sizeof b, MSG_DONTWAIT));
    close(sv[1]);

    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    R("send on an unconnected datagram socket", send(s, "x", 1, 0));
    R("shutdown of an unconnected datagram socket", shutdown(s, SHUT_RDWR));
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    R("shutdown of an unconnected stream socket", shutdown(s, SHUT_RD));
    R("shutdown how=7", shutdown(s, 7));
    close(s);

    MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    R("shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
    R("send after own SHUT_WR", send(sv[0], "x", 1, 0));
    printf("SIGPIPEs: %d\n", sigpipes);
    R("the peer still sends", send(sv[1], "y", 1, 0));
    R("and is read", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
    show_poll("peer of a SHUT_WR end", sv[1]);
    show_poll("the SHUT_WR end", sv[0]);
    R("shutdown SHUT_RD", shutdown(sv[0], SHUT_RD));
    show_poll("both shut", sv[0]);
    R("non-blocking recv after SHUT_RD", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
    R("blocking recv after SHUT_RD", recv(sv[0], b, sizeof b, 0));
    R("send to an end that shut reading", send(sv[1], "z", 1, 0));
    printf("SIGPIPEs: %d\n", sigpipes);
    close(sv[0]);
    close(sv[1]);

    MUST(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    MUST(shutdown(sv[1], SHUT_RD));
    R("seqpacket send to an end that shut reading", send(sv[0], "x", 1, 0));
    printf("SIGPIPEs: %d\n", sigpipes);
    close(sv[1]);
    R("seqpacket send to a closed peer", send(sv[0], "x", 1, 0));
    printf("SIGPIPEs: %d\n", sigpipes);
    close(sv[0]);

    /* a peer that closes with what we sent unread: ECONNRESET, once, before the end */
    for (int type = SOCK_STREAM; type <= SOCK_SEQPACKET; type += SOCK_SEQPACKET - SOCK_STREAM) {
        const char *n = type == SOCK_STREAM ? "stream" : "seqpacket";
        char label[96];
        MUST(socketpair(AF_UNIX, type, 0, sv));
        MUST(send(sv[0], "unread", 6, 0));
        MUST(send(sv[1], "for us", 6, 0));
        close(sv[1]);
        snprintf(label, sizeof label, "%s: peer closed with our data unread", n);
        show_poll(label, sv[0]);
        R("  recv what it sent first", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
        int e = 0;
        socklen_t el = sizeof e;
        MUST(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &e, &el));
        printf("  SO_ERROR: %s\n", e ? en(e) : "0");
        show_poll("  after SO_ERROR", sv[0]);
        R("  recv", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
        close(sv[0]);
        MUST(socketpair(AF_UNIX, type, 0, sv));
        MUST(send(sv[0], "unread", 6, 0));
        close(sv[1]);
        R("  recv, the error first", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
        R("  then", recv(sv[0], b, sizeof b, MSG_DONTWAIT));
        close(sv[0]);
    }

    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    close(sv[1]);
    R("stream send to a closed peer", send(sv[0], "x", 1, 0));
    printf("SIGPIPEs: %d\n", sigpipes);
    R("with MSG_NOSIGNAL", send(sv[0], "x", 1, MSG_NOSIGNAL));
    printf("SIGPIPEs: %d\n", sigpipes);
    close(sv[0]);
    return 0;
}
