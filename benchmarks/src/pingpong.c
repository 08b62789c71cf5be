/* pingpong.c -- 1-byte ping-pong between two processes (fork), timed inside
 * the parent with the vDSO clock. Prints "ns_per_rt=X n=N errors=E".
 * Usage: pingpong unix|tcp N
 *   unix: socketpair(AF_UNIX, SOCK_STREAM)
 *   tcp:  127.0.0.1, an ephemeral port, TCP_NODELAY on both ends
 * Each round trip: the parent writes 1 byte and reads 1 byte back; the child
 * reads 1 byte and writes it back, until EOF. Plain blocking read/write. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("setsockopt TCP_NODELAY");
}

static void echo(int fd)
{
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r == 0)
            _exit(0);
        if (r != 1 || write(fd, &c, 1) != 1)
            _exit(3);
    }
}

static long ping(int fd, long n)
{
    long bad = 0;
    for (long i = 0; i < n; i++) {
        char c = (char)i, d = 0;
        if (write(fd, &c, 1) != 1 || read(fd, &d, 1) != 1)
            return bad + n - i;
        bad += d != c;
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "unix") && strcmp(argv[1], "tcp"))) {
        fprintf(stderr, "usage: pingpong unix|tcp N\n");
        return 2;
    }
    long n = atol(argv[2]);
    int fd;
    pid_t pid;
    if (!strcmp(argv[1], "unix")) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            die("socketpair");
        pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(sv[0]);
            echo(sv[1]);
        }
        close(sv[1]);
        fd = sv[0];
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof sa;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
            getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
            die("listen");
        pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(lfd);
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
                die("connect");
            nodelay(c);
            echo(c);
        }
        fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            die("accept");
        close(lfd);
        nodelay(fd);
    }
    long bad = ping(fd, n / 10 + 1); /* warm-up */
    double t0 = now_ns();
    bad += ping(fd, n);
    double t1 = now_ns();
    close(fd);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        bad++;
    printf("ns_per_rt=%.1f n=%ld errors=%ld\n", (t1 - t0) / n, n, bad);
    return bad != 0;
}
