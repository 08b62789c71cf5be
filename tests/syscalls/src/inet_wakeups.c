/* inet_wakeups.c -- threads blocked in a read of a loopback TCP connection must wake
 * when the peer's data or end of stream comes: request/response exchanges between a
 * server thread and the main thread over many short connections, each ended by the
 * client's close() (or shutdown) while the server thread is blocked reading it and the
 * main thread then waits for it in pthread_join (a futex the host serves, so nothing
 * else reaches the sandbox); a close of a socket shared with a child process, whose
 * copy keeps the connection open until the child closes it too. */
#include "check.h"
#include "net.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* the server end of one connection: answer each 4-byte request with its first byte,
 * count the bytes until end of stream */
struct conn { int fd; long got; };

static void *serve(void *arg)
{
    struct conn *c = arg;
    char buf[4];
    ssize_t r;
    c->got = 0;
    while ((r = read(c->fd, buf, sizeof buf)) > 0) {
        c->got += r;
        if (write(c->fd, buf, 1) != 1)
            break;
    }
    if (r < 0)
        c->got = -errno;
    return NULL;
}

/* rounds connections of n exchanges each, ended by close (how 0) or shutdown (1) */
static void exchanges(int l, const struct sockaddr_in *a, int rounds, int n, int how,
                      const char *label)
{
    long total = 0, replies = 0;
    for (int i = 0; i < rounds; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        MUST(c);
        MUST(connect(c, (const struct sockaddr *)a, sizeof *a));
        MUST(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
        struct conn s = {accept(l, NULL, NULL), 0};
        MUST(s.fd);
        MUST(setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
        pthread_t th;
        MUST(-pthread_create(&th, NULL, serve, &s));
        for (int k = 0; k < n; k++) {
            char req[4] = {(char)('a' + k % 26), 'x', 'y', 'z'}, rep;
            MUST(write(c, req, sizeof req));
            if (read(c, &rep, 1) == 1 && rep == req[0])
                replies++;
        }
        /* the server thread is (or soon will be) blocked reading again */
        if (how)
            MUST(shutdown(c, SHUT_WR));
        else
            MUST(close(c));
        MUST(-pthread_join(th, NULL));
        if (how)
            MUST(close(c));
        total += s.got;
        MUST(close(s.fd));
    }
    printf("%s: %ld bytes served, %ld replies\n", label, total, replies);
}

/* the client socket is shared with a child: the server sees end of stream only once
 * both have closed it, the parent last */
static void shared_with_child(int l, const struct sockaddr_in *a)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    MUST(c);
    MUST(connect(c, (const struct sockaddr *)a, sizeof *a));
    struct conn s = {accept(l, NULL, NULL), 0};
    MUST(s.fd);
    pthread_t th;
    MUST(-pthread_create(&th, NULL, serve, &s));
    int p[2];
    MUST(pipe(p));
    pid_t pid = fork();
    MUST(pid);
    if (pid == 0) {
        char x;
        close(p[1]);
        if (write(c, "kid!", 4) != 4)
            _exit(1);
        close(c);
        _exit(read(p[0], &x, 1) == 0 ? 0 : 2);
    }
    close(p[0]);
    char rep;
    R("reply to the child's request", read(c, &rep, 1));
    int st;
    close(p[1]);
    MUST(waitpid(pid, &st, 0));
    R("child status", WEXITSTATUS(st));
    MUST(write(c, "dad!", 4));
    R("reply to the parent's request", read(c, &rep, 1));
    MUST(close(c));
    MUST(-pthread_join(th, NULL));
    R("bytes served on the shared connection", s.got);
    close(s.fd);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    struct sockaddr_in a;
    int l = listener(&a);
    exchanges(l, &a, 1, 1, 0, "one exchange, close");
    exchanges(l, &a, 1, 1, 1, "one exchange, shutdown");
    exchanges(l, &a, 30, 5, 0, "30 connections of 5 exchanges, close");
    exchanges(l, &a, 30, 5, 1, "30 connections of 5 exchanges, shutdown");
    exchanges(l, &a, 200, 1, 0, "200 connections of 1 exchange, close");
    shared_with_child(l, &a);
    close(l);
    return 0;
}
