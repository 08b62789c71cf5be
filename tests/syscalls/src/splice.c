/* splice.c -- splice(2), tee(2), vmsplice(2): pipe to file and back with and without
 * offsets, pipe to pipe, sockets on either side, tee leaving its input, vmsplice both
 * ways, the waits that SPLICE_F_NONBLOCK or O_NONBLOCK turn into EAGAIN, end of file,
 * EPIPE, and the argument errors. */
#include "check.h"
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/sendfile.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <stdint.h>

static void show_pipe(const char *label, int rfd)
{
    char buf[128] = {0};
    int n = 0;
    MUST(ioctl(rfd, FIONREAD, &n));
    ssize_t r = n ? read(rfd, buf, sizeof buf - 1) : 0;
    printf("%s: %zd \"%s\"\n", label, r, buf);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    int p[2], q[2];
    MUST(pipe(p));
    MUST(pipe(q));
    int f = open("file", O_RDWR | O_CREAT | O_TRUNC, 0644);
    MUST(f);
    MUST(write(f, "0123456789abcdef", 16));

    /* file -> pipe */
    loff_t off = 4;
    R("file->pipe at offset 4, 6 bytes", splice(f, &off, p[1], NULL, 6, 0));
    R("  offset after", off);
    R("  file offset unchanged", lseek(f, 0, SEEK_CUR));
    show_pipe("  pipe holds", p[0]);
    MUST(lseek(f, 10, SEEK_SET));
    R("file->pipe at the file offset", splice(f, NULL, p[1], NULL, 100, 0));
    R("  file offset after", lseek(f, 0, SEEK_CUR));
    R("file->pipe at EOF", splice(f, NULL, p[1], NULL, 100, 0));
    show_pipe("  pipe holds", p[0]);

    /* pipe -> file */
    MUST(write(p[1], "XYZ", 3));
    off = 2;
    R("pipe->file at offset 2", splice(p[0], NULL, f, &off, 10, 0));
    R("  offset after", off);
    char buf[32] = {0};
    MUST(pread(f, buf, 16, 0));
    printf("  file: %s\n", buf);
    MUST(write(p[1], "tail", 4));
    MUST(lseek(f, 0, SEEK_END));
    R("pipe->file at the file offset, fewer than asked", splice(p[0], NULL, f, NULL, 10, 0));
    R("  file size", lseek(f, 0, SEEK_END));

    /* pipe -> pipe, tee */
    MUST(write(p[1], "through", 7));
    R("tee", tee(p[0], q[1], 100, 0));
    show_pipe("  copy", q[0]);
    R("pipe->pipe", splice(p[0], NULL, q[1], NULL, 4, 0));
    show_pipe("  moved", q[0]);
    show_pipe("  left", p[0]);

    /* nonblocking waits and end of file */
    R("empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, f, NULL, 10, SPLICE_F_NONBLOCK));
    R("tee from an empty pipe, SPLICE_F_NONBLOCK", tee(p[0], q[1], 10, SPLICE_F_NONBLOCK));
    MUST(fcntl(q[1], F_SETFL, O_NONBLOCK));
    int filled = 0;
    while (write(q[1], "................................", 32) > 0)
        filled++;
    R("file->full pipe, O_NONBLOCK pipe", splice(f, &(loff_t){0}, q[1], NULL, 10, 0));
    MUST(fcntl(q[1], F_SETFL, 0));
    R("file->full pipe, SPLICE_F_NONBLOCK", splice(f, &(loff_t){0}, q[1], NULL, 10,
                                                   SPLICE_F_NONBLOCK));
    close(q[0]);
    R("to a pipe without readers", splice(f, &(loff_t){0}, q[1], NULL, 10, 0));
    close(q[1]);
    MUST(pipe(q));
    close(q[1]);
    R("from a pipe without writers", splice(q[0], NULL, f, NULL, 10, 0));
    close(q[0]);

    /* sockets */
    int sv[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    MUST(write(p[1], "to the socket", 13));
    R("pipe->socket", splice(p[0], NULL, sv[0], NULL, 100, 0));
    memset(buf, 0, sizeof buf);
    R("  socket reads", read(sv[1], buf, sizeof buf));
    printf("  %s\n", buf);
    MUST(write(sv[1], "from the socket", 15));
    R("socket->pipe", splice(sv[0], NULL, p[1], NULL, 100, 0));
    show_pipe("  pipe holds", p[0]);
    R("empty socket->pipe, SPLICE_F_NONBLOCK", splice(sv[0], NULL, p[1], NULL, 100,
                                                      SPLICE_F_NONBLOCK));
    R("offset for a socket", splice(sv[0], &(loff_t){0}, p[1], NULL, 100, 0));

    /* vmsplice */
    struct iovec iov[2] = {{"vm", 2}, {"splice", 6}};
    R("vmsplice into a pipe", vmsplice(p[1], iov, 2, 0));
    char a[3] = {0}, b[16] = {0};
    struct iovec out[2] = {{a, 2}, {b, sizeof b - 1}};
    R("vmsplice out of a pipe", vmsplice(p[0], out, 2, 0));
    printf("  %s|%s\n", a, b);
    R("vmsplice from an empty pipe, nonblocking", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
    R("vmsplice on a file", vmsplice(f, iov, 2, 0));

    /* errors */
    int g = open("other", O_RDWR | O_CREAT, 0644);
    MUST(g);
    R("neither end a pipe", splice(f, NULL, g, NULL, 10, 0));
    R("offset for a pipe", splice(p[0], &(loff_t){0}, f, NULL, 10, 0));
    R("bad flags", splice(p[0], NULL, f, NULL, 10, 0x100));
    R("a closed fd", splice(99, NULL, p[1], NULL, 10, 0));
    R("into the read end", splice(f, &(loff_t){0}, p[0], NULL, 10, 0));
    int ap = open("append", O_WRONLY | O_CREAT | O_APPEND, 0644);
    MUST(write(p[1], "x", 1));
    R("to an O_APPEND file", splice(p[0], NULL, ap, NULL, 10, 0));
    R("the same pipe", splice(p[0], NULL, p[1], NULL, 10, 0));
    R("tee of the same pipe", tee(p[0], p[1], 10, 0));
    R("tee from a file", tee(f, p[1], 10, 0));
    R("length 0", splice(p[0], NULL, f, NULL, 0, 0));

    /* sendfile into a pipe: a file larger than the pipe goes in a pipe's worth at a
     * time, the file offset (or the offset given) moving by what went in */
    int big = open("big", O_RDWR | O_CREAT | O_TRUNC, 0644);
    MUST(big);
    static char block[4096];
    for (int i = 0; i < 75; i++) {  /* 300 KiB, each block numbered */
        memset(block, 'a' + i % 26, sizeof block);
        MUST(write(big, block, sizeof block));
    }
    MUST(lseek(big, 1000, SEEK_SET));
    int s[2], n_ready = 0;
    MUST(pipe2(s, O_NONBLOCK));
    long total = 0;
    for (int round = 0; round < 6; round++) {
        ssize_t n = sendfile(s[1], big, NULL, 300 * 1024);
        printf("sendfile round %d: %zd, file offset %ld\n", round, n, (long)lseek(big, 0, SEEK_CUR));
        if (n <= 0)
            break;
        static char sink[65536];
        ssize_t got = 0, r;
        while ((r = read(s[0], sink + got, sizeof sink - got)) > 0)
            got += r;
        long sum = 0;
        for (ssize_t i = 0; i < got; i++)
            sum += sink[i];
        printf("  read back %zd, byte sum %ld, first '%c'\n", got, sum, got ? sink[0] : '-');
        total += got;
    }
    while (write(s[1], block, sizeof block) > 0)
        ;
    R("sendfile into a full nonblocking pipe", sendfile(s[1], big, NULL, 4096));
    R("  file offset unchanged", lseek(big, 0, SEEK_CUR));
    while (read(s[0], block, sizeof block) > 0)
        ;
    off = 4096 * 74 + 100;
    R("sendfile at an offset", sendfile(s[1], big, &off, 10000));
    R("  offset after", off);
    printf("sent in all %ld\n", total);

    /* a file's pages spliced in are slots of their own that a write does not add to:
     * 15 slots and most of a 16th from a file, then a byte written: the pipe is full */
    loff_t at = 0;
    R("splice a file's 16 pages less 100 bytes", splice(big, &at, s[1], NULL, 16 * 4096 - 100, 0));
    R("  a byte written after them", write(s[1], "x", 1));
    R("  FIONREAD", (ioctl(s[0], FIONREAD, &n_ready), n_ready));
    while (read(s[0], block, sizeof block) > 0)
        ;
    at = 10;
    R("splice from an unaligned offset into an empty pipe", splice(big, &at, s[1], NULL, 300 * 1024, 0));
    R("  offset after", at);
    R("  a page written after them", write(s[1], block, 4096));
    while (read(s[0], block, sizeof block) > 0)
        ;

    /* a read that faults puts the bytes back, the last slot still a file page's */
    for (int i = 0; i < 15; i++)
        MUST(write(s[1], block, 4096));
    at = 0;
    R("15 pages written, then 100 bytes of a file spliced", splice(big, &at, s[1], NULL, 100, 0));
    R("  a read into an unmapped buffer", read(s[0], (void *)0x10000, 65536));
    R("  FIONREAD after it", (ioctl(s[0], FIONREAD, &n_ready), n_ready));
    R("  a byte written after the file's page", write(s[1], "x", 1));
    while (read(s[0], block, sizeof block) > 0)
        ;

    /* sendfile into a pipe no one reads: EPIPE, the file offset where it was */
    MUST(lseek(big, 5, SEEK_SET));
    close(s[0]);
    R("sendfile into a pipe without a reader", sendfile(s[1], big, NULL, 100));
    R("  file offset", lseek(big, 0, SEEK_CUR));

    /* sendfile from a socket into a pipe moves only what fits (splice_file_to_pipe: the
     * pipe's room bounds the read); the rest stays in the socket, in order.  A pipe no one
     * reads: EPIPE before the socket gives up anything. */
    {
        int u[2], w[2];
        MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
        MUST(pipe2(w, O_NONBLOCK));
        MUST(fcntl(w[1], F_SETPIPE_SZ, 4096));
        MUST(fcntl(u[0], F_SETFL, O_NONBLOCK));  /* a lost byte: EAGAIN, not a hang */
        static char pattern[20000], back[20000];
        for (int i = 0; i < (int)sizeof pattern; i++)
            pattern[i] = (char)(i * 7 + i / 251);
        MUST(write(u[1], pattern, sizeof pattern));
        ssize_t first = sendfile(w[1], u[0], NULL, sizeof pattern);
        printf("sendfile socket->one-page pipe: %s\n",
               first > 0 && first <= 4096 ? "at most a page" : "more, or nothing");
        int left = 0;
        MUST(ioctl(u[0], FIONREAD, &left));
        T("  the socket keeps the rest", left == (int)sizeof pattern - first);
        size_t got = 0;
        for (int round = 0; round < 1000 && got < sizeof back; round++) {
            ssize_t r;
            while ((r = read(w[0], back + got, sizeof back - got)) > 0)
                got += (size_t)r;
            if (got < sizeof back && sendfile(w[1], u[0], NULL, sizeof pattern) <= 0)
                break;
        }
        printf("  all %zu bytes through in order: %s\n", sizeof pattern,
               got == sizeof back && memcmp(back, pattern, sizeof back) == 0 ? "yes" : "no");
        MUST(fcntl(u[0], F_SETFL, 0));
        R("sendfile from an empty blocking socket into a nonblocking pipe",
          sendfile(w[1], u[0], NULL, 100));
        MUST(write(u[1], "kept", 4));
        /* inputs Linux cannot splice from (no splice_read: eventfd, timerfd, /dev/null)
         * are EINVAL, never read; a pipe, /dev/zero and a datagram socket are read.  All
         * nonblocking: a read where Linux reads nothing shows as a difference, not a hang */
        int pp[2], ev = eventfd(5, EFD_NONBLOCK), tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        int nul = open("/dev/null", O_RDONLY), zero = open("/dev/zero", O_RDONLY);
        int dg[2];
        MUST(pipe(pp));
        MUST(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, dg));
        MUST(write(pp[1], "piped", 5));
        MUST(write(dg[1], "datagram", 8));
        R("sendfile from a pipe into a pipe", sendfile(w[1], pp[0], NULL, 8));
        R("sendfile from an eventfd into a pipe", sendfile(w[1], ev, NULL, 8));
        R("sendfile from an unarmed timerfd into a pipe", sendfile(w[1], tf, NULL, 8));
        R("sendfile from /dev/null into a pipe", sendfile(w[1], nul, NULL, 8));
        R("sendfile from /dev/zero into a pipe", sendfile(w[1], zero, NULL, 8));
        drain_nonblocking(w[0]);
        R("sendfile from a unix datagram socket into a pipe", sendfile(w[1], dg[0], NULL, 100));
        drain_nonblocking(w[0]);
        R("sendfile from a datagram socket into a file", sendfile(f, dg[0], NULL, 100));
        R("splice from an eventfd at an offset", splice(ev, &(loff_t){0}, w[1], NULL, 8, 0));
        R("splice from an eventfd into a pipe", splice(ev, NULL, w[1], NULL, 8, 0));
        uint64_t counter = 0;
        R("  the eventfd's counter is read whole after", read(ev, &counter, 8));
        printf("  counter %llu\n", (unsigned long long)counter);
        drain_nonblocking(w[0]);
        close(w[0]);
        R("sendfile from a socket into a pipe without a reader",
          sendfile(w[1], u[0], NULL, 100));
        MUST(ioctl(u[0], FIONREAD, &left));
        R("  the socket still holds", left);
        R("sendfile of nothing into a pipe without a reader", sendfile(w[1], u[0], NULL, 0));
        close(w[1]);
        close(u[0]);
        close(u[1]);
        close(pp[0]);
        close(pp[1]);
        close(dg[0]);
        close(dg[1]);
        close(ev);
        close(tf);
        close(nul);
        close(zero);
    }

    /* do_splice's checks: nothing to move is 0 before anything else; O_APPEND only for a
     * file written from a pipe; the file side's range (rw_verify_area) at its offset */
    {
        int a[2], b[2];
        MUST(pipe(a));
        MUST(pipe(b));
        R("splice of nothing between bad fds", splice(998, NULL, 999, NULL, 0, 0));
        MUST(fcntl(b[1], F_SETFL, O_APPEND));
        MUST(write(a[1], "xyz", 3));
        R("splice into an O_APPEND pipe from a pipe", splice(a[0], NULL, b[1], NULL, 3, 0));
        at = 0;
        R("splice into an O_APPEND pipe from a file", splice(f, &at, b[1], NULL, 3, 0));
        int m = memfd_create("near", 0);
        MUST(write(m, "abc", 3));
        MUST(lseek(m, 0x7ffffffffffffffaL, SEEK_SET));
        MUST(write(a[1], "0123456789", 10));
        R("splice from a pipe into a memfd near the largest offset",
          splice(a[0], NULL, m, NULL, 10, 0));
        loff_t near = 0x7ffffffffffffffaL;
        R("  at an offset near it", splice(a[0], NULL, m, &near, 10, 0));
        R("splice from a memfd near the largest offset into a pipe",
          splice(m, NULL, b[1], NULL, 10, 0));
        R("  at an offset near it", splice(m, &near, b[1], NULL, 10, 0));
        close(b[0]);  /* the range first: EINVAL, not EPIPE */
        R("  into a pipe without a reader", splice(m, NULL, b[1], NULL, 10, 0));
        int app = memfd_create("app", 0);
        MUST(fcntl(app, F_SETFL, O_APPEND));
        R("splice from a pipe into an O_APPEND file", splice(a[0], NULL, app, NULL, 10, 0));
        close(app);
        close(m);
        close(a[0]);
        close(a[1]);
        close(b[1]);
    }
    return 0;
}
