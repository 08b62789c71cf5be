/*
 * Pipes the sandbox was given: its stdout (a pipe in the harness) and, when the harness
 * feeds it one, its stdin. These are host pipes the sentry holds, not its own, and a
 * container engine gives every container such stdio. Checked: F_GETPIPE_SZ and
 * F_SETPIPE_SZ, splice from a file (of the work directory, a host file the sandbox's
 * gofer opened, and a memfd, the sandbox's own), from a sandbox pipe and from stdin into
 * stdout, into files and into a sandbox pipe, tee of each kind of pair, vmsplice into
 * stdout and out of stdin, and the errors (offsets on a pipe, an O_APPEND output, the
 * access modes, the end of input); terminal requests on stdio that is no terminal.
 *
 * What goes into stdout shows in the output, between the report lines: the same bytes
 * natively and in the sandbox. A file spliced into stdout is never written again: its
 * pages are in the pipe (Linux splices page references), and a later write would show
 * in them before the reader got there. With stdin not a pipe (the harness's /dev/null),
 * the stdin half says so and is skipped.
 */
#include "check.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>

static void line(const char *s)
{
    fflush(stdout);
    if (write(1, s, strlen(s)) < 0)
        exit(98);
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0)
        return 99;
    setvbuf(stdout, NULL, _IONBF, 0);
    struct stat st;
    MUST(fstat(1, &st));
    T("stdout is a pipe", S_ISFIFO(st.st_mode));
    if (!S_ISFIFO(st.st_mode))
        return 0;

    R("F_GETPIPE_SZ stdout", fcntl(1, F_GETPIPE_SZ));
    R("F_SETPIPE_SZ stdout 8192", fcntl(1, F_SETPIPE_SZ, 8192));
    R("F_GETPIPE_SZ stdout after", fcntl(1, F_GETPIPE_SZ));
    R("F_SETPIPE_SZ stdout 1 (one page)", fcntl(1, F_SETPIPE_SZ, 1));
    R("F_SETPIPE_SZ stdout 0", fcntl(1, F_SETPIPE_SZ, 0));
    R("F_SETPIPE_SZ stdout -1", fcntl(1, F_SETPIPE_SZ, -1));
    R("F_SETPIPE_SZ stdout 65536", fcntl(1, F_SETPIPE_SZ, 65536));
    R("F_GETPIPE_SZ of stdin (a pipe only in the second run)", fcntl(0, F_GETPIPE_SZ) > 0);
    /* no terminal: isatty(3), a terminal's size and its foreground group are ENOTTY */
    struct winsize ws;
    struct termios tio;
    int avail = -1;
    for (int fd = 0; fd <= 2; fd++) {
        char l[64];
        snprintf(l, sizeof l, "TCGETS fd %d", fd);
        R(l, ioctl(fd, TCGETS, &tio));
        snprintf(l, sizeof l, "TIOCGWINSZ fd %d", fd);
        R(l, ioctl(fd, TIOCGWINSZ, &ws));
        snprintf(l, sizeof l, "TIOCGPGRP fd %d", fd);
        R(l, ioctl(fd, TIOCGPGRP, &avail));
    }
    R("FIONREAD stdout (what it holds: the reader's pace)", ioctl(1, FIONREAD, &avail));

    int f;
    MUST(f = open("data", O_CREAT | O_RDWR | O_TRUNC, 0600));
    MUST(write(f, "0123456789abcdef\n", 17));
    loff_t off = 10;
    R("splice a file at 10 into stdout", splice(f, &off, 1, NULL, 7, 0));
    printf("offset then: %lld\n", (long long)off);
    MUST(lseek(f, 3, SEEK_SET));
    R("splice a file at its offset into stdout", splice(f, NULL, 1, NULL, 4, 0));
    R("the file's offset", lseek(f, 0, SEEK_CUR));
    line("\n");
    loff_t bad = 0;
    R("splice into stdout with an offset on it", splice(f, NULL, 1, &bad, 4, 0));
    off = 0;
    R("sendfile a file into stdout", sendfile(1, f, &off, 5));
    line("\n");
    int m;
    MUST(m = memfd_create("host_pipes", 0));
    MUST(write(m, "memfd bytes\n", 12));
    off = 6;
    R("splice a memfd at 6 into stdout", splice(m, &off, 1, NULL, 100, 0));
    printf("offset then: %lld\n", (long long)off);
    MUST(lseek(m, 0, SEEK_SET));
    R("splice a memfd at its offset into stdout", splice(m, NULL, 1, NULL, 6, 0));
    R("the memfd's offset", lseek(m, 0, SEEK_CUR));
    line("\n");

    int p[2];
    MUST(pipe(p));
    MUST(write(p[1], "from a pipe\n", 12));
    R("tee a sandbox pipe into stdout", tee(p[0], 1, 5, 0));
    line("\n");
    R("splice a sandbox pipe into stdout", splice(p[0], NULL, 1, NULL, 100, 0));
    R("what is left in the sandbox pipe", splice(p[0], NULL, 1, NULL, 100, SPLICE_F_NONBLOCK));

    struct iovec v[2] = {{"vm", 2}, {"splice\n", 7}};
    R("vmsplice into stdout", vmsplice(1, v, 2, 0));
    R("vmsplice of no segments", vmsplice(1, v, 0, 0));
    R("tee from stdout (a write end)", tee(1, p[1], 4, 0));
    R("tee from a sandbox pipe's write end", tee(p[1], 1, 4, 0));
    R("tee into stdout from a file", tee(f, 1, 4, 0));

    MUST(fstat(0, &st));
    if (!S_ISFIFO(st.st_mode)) {
        printf("stdin is not a pipe\n");
        return 0;
    }
    /* stdin: "hello world, and more to read from the host pipe\n" */
    R("F_GETPIPE_SZ stdin", fcntl(0, F_GETPIPE_SZ));
    R("tee stdin into stdout", tee(0, 1, 6, 0));
    line("\n");
    int q[2];
    MUST(pipe(q));
    char b[64] = {0};
    R("tee stdin into a sandbox pipe", tee(0, q[1], 3, 0));
    R("read it back", read(q[0], b, sizeof b));
    printf("got: %s\n", b);
    R("splice stdin into stdout", splice(0, NULL, 1, NULL, 6, 0));
    line("\n");
    int g;
    MUST(g = open("from_stdin", O_CREAT | O_RDWR | O_TRUNC, 0600));
    R("splice stdin with an offset on it", splice(0, &bad, g, NULL, 4, 0));
    off = 0;
    R("splice stdin into a file at 0", splice(0, NULL, g, &off, 4, 0));
    printf("offset then: %lld\n", (long long)off);
    memset(b, 0, sizeof b);
    MUST(pread(g, b, 6, 0));
    printf("the file starts: %s\n", b);
    int m2;  /* (not m, whose pages may still be in stdout) */
    MUST(m2 = memfd_create("host_pipes_2", 0));
    MUST(write(m2, "0123456789\n", 11));
    MUST(lseek(m2, 7, SEEK_SET));
    off = 2;
    R("splice stdin into a memfd at 2", splice(0, NULL, m2, &off, 3, 0));
    R("splice stdin into a memfd at its offset", splice(0, NULL, m2, NULL, 2, 0));
    R("the memfd's offset", lseek(m2, 0, SEEK_CUR));
    memset(b, 0, sizeof b);
    MUST(pread(m2, b, 12, 0));
    printf("the memfd holds: %s", b);
    /* a write that fails takes nothing from stdin: the next splice gets those bytes */
    int sealed;
    MUST(sealed = memfd_create("sealed", MFD_ALLOW_SEALING));
    MUST(fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE));
    R("splice stdin into a write-sealed memfd", splice(0, NULL, sealed, NULL, 3, 0));
    memset(b, 0, sizeof b);
    R("splice stdin into a sandbox pipe", splice(0, NULL, q[1], NULL, 5, 0));
    R("read it back", read(q[0], b, sizeof b));
    printf("got: %s\n", b);
    int ap;
    MUST(ap = open("appended", O_CREAT | O_WRONLY | O_APPEND, 0600));
    R("splice stdin into an O_APPEND file", splice(0, NULL, ap, NULL, 4, 0));
    char rb[8] = {0};
    struct iovec r = {rb, 5};
    R("vmsplice out of stdin", vmsplice(0, &r, 1, 0));
    printf("got: %s\n", rb);
    memset(b, 0, sizeof b);
    R("read the rest of stdin", read(0, b, sizeof b));
    printf("rest: %s", b);
    R("splice stdin at its end", splice(0, NULL, 1, NULL, 10, 0));
    R("tee stdin at its end", tee(0, 1, 10, 0));
    return 0;
}
