/* pty.c -- pseudo-terminals: posix_openpt/grantpt/unlockpt/ptsname, the lock,
 * TIOCGPTN/TIOCGPTPEER, names (ttyname, /proc/self/fd, stat of /dev/pts/N),
 * termios defaults, canonical input (erase, kill, word erase, EOF, partial reads),
 * echo (ECHOCTL, ECHONL, off), ONLCR, raw mode with VMIN/VTIME, ISIG ^C to the
 * foreground group, TIOCSWINSZ -> SIGWINCH, job control (SIGTTIN, SIGTTOU with
 * TOSTOP), TIOCSCTTY/TIOCNOTTY rules, hang-ups and EIO after closes, poll
 * readiness, FIONREAD/TCFLSH, packet mode, forkpty with its session.
 *
 * Pty numbers and device owners depend on the host, so only their relations are
 * printed.  Natively a pty moves bytes through work queues, so every read of the
 * master waits for what it expects (or for the line to go quiet). */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

struct kt2 { /* the kernel's struct termios2 */
    unsigned c_iflag, c_oflag, c_cflag, c_lflag;
    unsigned char c_line, c_cc[19];
    unsigned c_ispeed, c_ospeed;
};

static volatile sig_atomic_t n_int, n_winch, n_hup, n_cont;
static void h_int(int s) { (void)s; n_int++; }
static void h_winch(int s) { (void)s; n_winch++; }
static void h_hup(int s) { (void)s; n_hup++; }
static void h_cont(int s) { (void)s; n_cont++; }

/* print bytes with C-style escapes */
static void show(const char *label, const char *b, long n)
{
    printf("%s: %ld \"", label, n);
    for (long i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c == '\n') printf("\\n");
        else if (c == '\r') printf("\\r");
        else if (c == '\\') printf("\\\\");
        else if (c == '"') printf("\\\"");
        else if (c < 32 || c >= 127) printf("\\x%02x", c);
        else putchar(c);
    }
    printf("\"\n");
}

/* read fd until nothing more comes for idle_ms (at most 5 s); returns the count */
static long drain(int fd, char *buf, long cap, int idle_ms)
{
    long n = 0;
    for (int rounds = 0; rounds < 200 && n < cap; rounds++) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, idle_ms);
        if (r <= 0 || !(p.revents & POLLIN))
            break;
        long k = read(fd, buf + n, cap - n);
        if (k <= 0)
            break;
        n += k;
    }
    return n;
}

/* read fd until marker shows up, EOF/EIO, or 10 s */
static long until(int fd, char *buf, long cap, const char *marker)
{
    long n = 0;
    buf[0] = 0;
    for (int rounds = 0; rounds < 1000 && n < cap - 1; rounds++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0)
            break;
        long k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += k;
        buf[n] = 0;
        if (marker && strstr(buf, marker))
            break;
    }
    return n;
}

static void show_poll(const char *label, int fd, short events, int timeout)
{
    struct pollfd p = {fd, events, 0};
    errno = 0;
    int r = poll(&p, 1, timeout);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %d revents=%s%s%s%s%s\n", label, r, p.revents & POLLIN ? "IN " : "",
               p.revents & POLLOUT ? "OUT " : "", p.revents & POLLHUP ? "HUP " : "",
               p.revents & POLLERR ? "ERR " : "", p.revents & POLLPRI ? "PRI " : "");
}

static int new_pty(int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    MUST(m);
    MUST(grantpt(m));
    MUST(unlockpt(m));
    MUST(*slave = open(ptsname(m), O_RDWR | O_NOCTTY));
    return m;
}

/* write s to the master, then show what one read of the slave returns */
static void line_in(const char *label, int m, int s, const char *in, int cap)
{
    char buf[256];
    MUST(write(m, in, strlen(in)));
    long k = read(s, buf, cap);
    if (k < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        show(label, buf, k);
}

static void names(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    R("posix_openpt", m >= 0 ? 0 : -1);
    int lock = -1;
    R("TIOCGPTLCK new", ioctl(m, TIOCGPTLCK, &lock));
    R("locked", lock);
    R("grantpt", grantpt(m));
    char *name = ptsname(m);
    T("ptsname under /dev/pts/", name && strncmp(name, "/dev/pts/", 9) == 0);
    char path[64];
    snprintf(path, sizeof path, "%s", name);
    int n = -1;
    R("TIOCGPTN", ioctl(m, TIOCGPTN, &n));
    char want[64];
    snprintf(want, sizeof want, "/dev/pts/%d", n);
    T("ptsname is /dev/pts/TIOCGPTN", strcmp(want, path) == 0);
    R("open locked replica", open(path, O_RDWR | O_NOCTTY));
    R("TIOCGPTPEER locked", ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY));
    R("unlockpt", unlockpt(m));
    R("TIOCGPTLCK unlocked", ioctl(m, TIOCGPTLCK, &lock));
    R("locked", lock);
    int s = open(path, O_RDWR | O_NOCTTY);
    R("open replica", s >= 0 ? 0 : -1);
    struct stat st, st2;
    MUST(fstat(s, &st));
    T("replica is a char device", S_ISCHR(st.st_mode));
    T("replica major 136", major(st.st_rdev) == 136);
    T("replica minor is TIOCGPTN", (int)minor(st.st_rdev) == n);
    T("replica owned by the opener", st.st_uid == geteuid());
    MUST(stat(path, &st2));
    T("stat path is the same inode", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev);
    MUST(fstat(m, &st2));
    T("master is char 5:2", S_ISCHR(st2.st_mode) && major(st2.st_rdev) == 5 && minor(st2.st_rdev) == 2);
    char *tn = ttyname(s);
    T("ttyname of replica", tn && strcmp(tn, path) == 0);
    R("ttyname of master", ttyname(m) ? 0 : -1);
    char link[128] = {0}, proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", s);
    MUST(readlink(proc, link, sizeof link - 1));
    T("/proc/self/fd of replica", strcmp(link, path) == 0);
    memset(link, 0, sizeof link);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", m);
    MUST(readlink(proc, link, sizeof link - 1));
    T("/proc/self/fd of master is a ptmx", strcmp(link, "/dev/ptmx") == 0 || strcmp(link, "/dev/pts/ptmx") == 0);
    R("isatty master", isatty(m));
    R("isatty replica", isatty(s));
    R("TIOCGPTN on replica", ioctl(s, TIOCGPTN, &n));
    R("TIOCSPTLCK on replica", ioctl(s, TIOCSPTLCK, &lock));
    int peer = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    R("TIOCGPTPEER", peer >= 0 ? 0 : -1);
    T("peer cloexec", fcntl(peer, F_GETFD) & FD_CLOEXEC);
    tn = ttyname(peer);
    T("ttyname of peer", tn && strcmp(tn, path) == 0);
    R("TIOCGPTPEER on replica", ioctl(s, TIOCGPTPEER, O_RDWR));
    R("lseek replica", lseek(s, 0, SEEK_SET));
    R("pread replica", pread(s, link, 1, 0));
    R("unknown ioctl", ioctl(s, 0x54ff, 0));
    int ld = -1;
    R("TIOCGETD", ioctl(s, TIOCGETD, &ld));
    R("line discipline", ld);
    int found = 0;
    char num[16];
    snprintf(num, sizeof num, "%d", n);
    {
        int dfd = open("/dev/pts", O_RDONLY | O_DIRECTORY);
        char dbuf[4096];
        long k;
        while ((k = syscall(SYS_getdents64, dfd, dbuf, sizeof dbuf)) > 0)
            for (long off = 0; off < k;) {
                unsigned short reclen = *(unsigned short *)(dbuf + off + 16);
                const char *nm = dbuf + off + 19;
                if (strcmp(nm, num) == 0)
                    found = 1;
                if (strcmp(nm, "ptmx") == 0)
                    found |= 2;
                off += reclen;
            }
        close(dfd);
    }
    R("/dev/pts lists N and ptmx", found);
    close(peer);
    close(s);
    R("stat after replica closes", stat(path, &st2));
    close(m);
    R("stat after master closes", stat(path, &st2));
    R("open after master closes", open(path, O_RDWR));
}

static void defaults(void)
{
    int s, m = new_pty(&s);
    struct termios t;
    R("tcgetattr replica", tcgetattr(s, &t));
    printf("iflag=%o oflag=%o cflag=%o lflag=%o\n", t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag);
    printf("cc:");
    for (int i = 0; i < 17; i++)
        printf(" %d", t.c_cc[i]);
    printf("\n");
    R("ospeed", cfgetospeed(&t) == B38400);
    struct termios tm;
    R("tcgetattr master", tcgetattr(m, &tm));
    T("master shows the replica's", memcmp(&t.c_iflag, &tm.c_iflag, 16) == 0);
    struct kt2 k2;
    R("TCGETS2", ioctl(s, 0x802C542A /* TCGETS2 */, &k2));
    printf("speeds %u %u\n", k2.c_ispeed, k2.c_ospeed);
    struct winsize ws;
    R("TIOCGWINSZ", ioctl(s, TIOCGWINSZ, &ws));
    printf("winsize %d %d %d %d\n", ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel);
    /* a change through the master shows on the replica */
    t.c_lflag &= ~ECHO;
    cfsetospeed(&t, B9600);
    R("tcsetattr on master", tcsetattr(m, TCSANOW, &t));
    R("tcgetattr replica", tcgetattr(s, &tm));
    T("ECHO off on replica", !(tm.c_lflag & ECHO));
    R("ospeed 9600", cfgetospeed(&tm) == B9600);
    R("TCGETS2 after", ioctl(s, 0x802C542A /* TCGETS2 */, &k2));
    printf("speeds %u %u\n", k2.c_ispeed, k2.c_ospeed);
    R("tcsetattr TCSADRAIN", tcsetattr(s, TCSADRAIN, &t));
    R("tcsetattr TCSAFLUSH", tcsetattr(s, TCSAFLUSH, &t));
    R("tcdrain", tcdrain(s));
    R("tcsendbreak", tcsendbreak(s, 0));
    R("tcflush bad", tcflush(s, 7));
    R("tcflow TCOOFF", tcflow(s, TCOOFF));
    R("tcflow TCOON", tcflow(s, TCOON));
    close(s);
    close(m);
}

static void canonical(void)
{
    int s, m = new_pty(&s);
    char buf[512];
    line_in("erase", m, s, "abc\x7f" "d\n", 100);
    line_in("kill", m, s, "xyz\x15ok\n", 100);
    line_in("word erase", m, s, "one two\x17three\n", 100);
    line_in("eof ends a line", m, s, "line\x04", 100);
    line_in("eof at start", m, s, "\x04", 100);
    line_in("cr becomes nl", m, s, "cr\r", 100);
    line_in("partial read 3", m, s, "abcdef\n", 3);
    long k = read(s, buf, 100);
    show("rest of the line", buf, k);
    line_in("two lines, first", m, s, "l1\nl2\n", 100);
    k = read(s, buf, 100);
    show("two lines, second", buf, k);
    line_in("exact fill before eof", m, s, "xyz\x04", 3);
    line_in("next after skipped eof", m, s, "next\n", 100);
    line_in("literal next", m, s, "a\x16\x7f" "b\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("echo", buf, k);

    /* a long line: 4095 bytes and the end; the excess is dropped */
    static char big[5000];
    memset(big, 'q', sizeof big);
    big[4999] = '\n';
    fcntl(m, F_SETFL, O_NONBLOCK);
    long w = write(m, big, sizeof big);
    R("long line written", w);
    long total = 0;
    static char rb[8192];
    k = read(s, rb, sizeof rb);
    R("long line read", k);
    T("long line ends with newline", k > 0 && rb[k - 1] == '\n');
    total += k;
    (void)total;
    fcntl(m, F_SETFL, 0);
    drain(m, rb, sizeof rb, 300);

    /* nonblocking read of a partial line */
    MUST(write(m, "part", 4));
    fcntl(s, F_SETFL, O_NONBLOCK);
    msleep(100);
    R("nonblocking read, partial line", read(s, buf, 100));
    show_poll("poll partial line", s, POLLIN, 100);
    int q = -1;
    R("FIONREAD partial line", ioctl(s, FIONREAD, &q));
    R("queued", q);
    MUST(write(m, "\n", 1));
    show_poll("poll complete line", s, POLLIN, 1000);
    R("FIONREAD complete line", ioctl(s, FIONREAD, &q));
    R("queued", q);
    R("TCFLSH TCIFLUSH", ioctl(s, TCFLSH, TCIFLUSH));
    R("FIONREAD after flush", ioctl(s, FIONREAD, &q));
    R("queued", q);
    R("read after flush", read(s, buf, 100));
    fcntl(s, F_SETFL, 0);
    drain(m, buf, sizeof buf, 300);
    close(s);
    close(m);
}

static void echo_and_output(void)
{
    int s, m = new_pty(&s);
    char buf[512];
    struct termios t;
    MUST(write(s, "a\nb\tc", 5));
    long k = drain(m, buf, sizeof buf, 300);
    show("ONLCR", buf, k);
    MUST(tcgetattr(s, &t));
    t.c_oflag &= ~ONLCR;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(s, "a\nb", 3));
    k = drain(m, buf, sizeof buf, 300);
    show("no ONLCR", buf, k);
    t.c_oflag |= ONLCR | OCRNL;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(s, "x\ry", 3));
    k = drain(m, buf, sizeof buf, 300);
    show("OCRNL", buf, k);
    t.c_oflag &= ~(OCRNL | OPOST);
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(s, "p\nq", 3));
    k = drain(m, buf, sizeof buf, 300);
    show("no OPOST", buf, k);
    t.c_oflag |= OPOST | ONLCR;
    MUST(tcsetattr(s, TCSANOW, &t));

    line_in("ctl chars", m, s, "\x01\x1b[A\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("ECHOCTL echo", buf, k);
    t.c_lflag &= ~ECHOCTL;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("no ECHOCTL", m, s, "\x01z\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("plain echo", buf, k);
    t.c_lflag |= ECHOCTL;
    t.c_lflag &= ~ECHOE;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("no ECHOE", m, s, "ab\x7f\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("erase echoed as ^?", buf, k);
    t.c_lflag |= ECHOE;
    t.c_lflag &= ~ECHOKE;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("no ECHOKE", m, s, "ab\x15" "c\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("kill echo with ECHOK", buf, k);
    t.c_lflag |= ECHOKE;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("tab erase", m, s, "ab\t\x7fz\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("tab erase echo", buf, k);
    t.c_lflag &= ~ECHO;
    t.c_lflag |= ECHONL;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("ECHONL", m, s, "quiet\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("ECHONL echo", buf, k);
    t.c_lflag &= ~ECHONL;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("no echo", m, s, "silent\n", 100);
    k = drain(m, buf, sizeof buf, 300);
    show("nothing echoed", buf, k);
    close(s);
    close(m);
}

/* the rarer editing and output flags */
static void more_editing(void)
{
    int s, m = new_pty(&s);
    char buf[512];
    struct termios t;
    line_in("reprint", m, s, "ab\x12" "c\n", 100);
    MUST(tcgetattr(s, &t));
    t.c_lflag |= ECHOPRT;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("ECHOPRT", m, s, "abc\x7f\x7f" "d\n", 100);
    t.c_lflag &= ~ECHOPRT;
    t.c_iflag |= IUTF8;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("IUTF8 erase", m, s, "a\xc3\xa9\xe2\x82\xac\x7f\x7f" "b\n", 100);
    t.c_iflag &= ~IUTF8;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("byte erase", m, s, "a\xc3\xa9\x7f" "b\n", 100);
    line_in("word erase after punctuation", m, s, "foo.bar  \x17x\n", 100);
    line_in("high bytes", m, s, "\xc4\x81\x9b\n", 100);
    t.c_cc[VEOL] = ';';
    t.c_cc[VEOL2] = '#';
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("VEOL", m, s, "x;y#", 100);
    long k = read(s, buf, 100);
    show("VEOL2", buf, k);
    t.c_cc[VEOL] = t.c_cc[VEOL2] = 0;
    t.c_iflag |= ISTRIP;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("ISTRIP", m, s, "\xe1" "b\n", 100);
    t.c_iflag &= ~ISTRIP;
    t.c_iflag |= INLCR | IGNCR;
    MUST(tcsetattr(s, TCSANOW, &t));
    line_in("INLCR IGNCR", m, s, "a\rb\n\x04", 100);
    t.c_iflag &= ~(INLCR | IGNCR);
    t.c_lflag &= ~ICANON;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(m, "a\nb\r", 4));
    show_poll("poll non-canonical", s, POLLIN, 1000);
    msleep(50);
    k = read(s, buf, 100);
    show("non-canonical newline", buf, k);
    k = drain(m, buf, sizeof buf, 300);
    show("echo so far", buf, k);
    t.c_lflag |= ICANON;
    t.c_oflag |= XTABS | OLCUC;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(s, "ab\tc\n", 5));
    k = drain(m, buf, sizeof buf, 300);
    show("XTABS OLCUC", buf, k);
    t.c_oflag &= ~(XTABS | OLCUC);
    t.c_oflag |= ONOCR | ONLRET;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(s, "\rq\r\n", 4));
    k = drain(m, buf, sizeof buf, 300);
    show("ONOCR ONLRET", buf, k);
    /* ^S stops the replica's output (a nonblocking write: EAGAIN), ^Q starts it */
    MUST(write(m, "\x13", 1));
    msleep(100);
    fcntl(s, F_SETFL, O_NONBLOCK);
    R("write while stopped", write(s, "held", 4));
    fcntl(s, F_SETFL, 0);
    MUST(write(m, "\x11", 1));
    msleep(100);
    R("write after start", write(s, "go", 2));
    k = drain(m, buf, sizeof buf, 300);
    show("after start", buf, k);
    MUST(write(m, "zz\x1c", 3));
    k = drain(m, buf, sizeof buf, 300);
    show("quit echo", buf, k);
    close(s);
    close(m);
}

static void raw_mode(void)
{
    int s, m = new_pty(&s);
    char buf[256];
    struct termios t;
    MUST(tcgetattr(s, &t));
    cfmakeraw(&t);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    MUST(tcsetattr(s, TCSANOW, &t));
    R("raw MIN=0 TIME=0, empty", read(s, buf, 10));
    fcntl(s, F_SETFL, O_NONBLOCK);
    R("raw MIN=0 TIME=0, empty, nonblocking", read(s, buf, 10));
    fcntl(s, F_SETFL, 0);
    MUST(write(m, "r\x03\x7f\r\n", 5));
    show_poll("poll raw input", s, POLLIN, 1000);
    long k = read(s, buf, 100);
    show("raw bytes", buf, k);
    R("nothing echoed in raw mode", drain(m, buf, sizeof buf, 200));

    t.c_cc[VMIN] = 2;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(m, "1", 1));
    show_poll("poll MIN=2 one byte", s, POLLIN, 200);
    MUST(write(m, "2", 1));
    show_poll("poll MIN=2 two bytes", s, POLLIN, 1000);
    k = read(s, buf, 100);
    show("MIN=2 read", buf, k);
    fcntl(s, F_SETFL, O_NONBLOCK);
    MUST(write(m, "3", 1));
    msleep(100);
    k = read(s, buf, 100);
    show("MIN=2 nonblocking, one byte", buf, k);
    R("MIN=2 nonblocking, empty", read(s, buf, 100));
    fcntl(s, F_SETFL, 0);

    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 2;
    MUST(tcsetattr(s, TCSANOW, &t));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    R("MIN=0 TIME=2, empty", read(s, buf, 10));
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    T("waited about 0.2 s", ms >= 150 && ms < 2000);

    t.c_cc[VMIN] = 5;
    t.c_cc[VTIME] = 1;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(m, "ab", 2));
    k = read(s, buf, 100);
    show("MIN=5 TIME=1, two bytes then quiet", buf, k);

    /* switching back to canonical: what is buffered becomes a line */
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    MUST(tcsetattr(s, TCSANOW, &t));
    MUST(write(m, "buffered", 8));
    show_poll("poll raw buffered", s, POLLIN, 1000);
    MUST(tcgetattr(s, &t));
    t.c_lflag |= ICANON;
    MUST(tcsetattr(s, TCSANOW, &t));
    k = read(s, buf, 100);
    show("canonical again", buf, k);
    close(s);
    close(m);
}

/* A session leader with the replica as controlling terminal. Returns the master;
 * *child is its pid. The child runs body(fd) with the replica as 0/1/2. */
static int leader(pid_t *child, int (*body)(void), int *keep)
{
    int s, m = new_pty(&s);
    char path[64];
    snprintf(path, sizeof path, "%s", ptsname(m));
    *keep = s; /* until the child has it open: the master reads EIO while no one has */
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        close(m);
        close(s);
        if (setsid() < 0)
            _exit(90);
        int fd = open(path, O_RDWR); /* no O_NOCTTY: becomes the controlling terminal */
        if (fd < 0)
            _exit(91);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
        _exit(body());
    }
    *child = c;
    return m;
}

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

static int ctty_body(void)
{
    char b[128];
    snprintf(b, sizeof b, "sid-is-me=%d pgrp-is-me=%d tty-sid-is-me=%d\n", getsid(0) == getpid(),
             tcgetpgrp(0) == getpgrp(), tcgetsid(0) == getpid());
    say(b);
    int fd = open("/dev/tty", O_RDWR);
    snprintf(b, sizeof b, "dev-tty=%d same-pty=%d\n", fd >= 0,
             fd >= 0 && ttyname(fd) && strcmp(ttyname(fd), "/dev/tty") == 0);
    say(b);
    snprintf(b, sizeof b, "TIOCSCTTY again=%d\n", ioctl(0, TIOCSCTTY, 0));
    say(b);
    int s2, m2 = new_pty(&s2);
    errno = 0;
    int r = ioctl(s2, TIOCSCTTY, 0);
    snprintf(b, sizeof b, "TIOCSCTTY second terminal=%d %s\n", r, r ? en(errno) : "");
    say(b);
    int pg = 0;
    r = ioctl(s2, TIOCGPGRP, &pg);
    snprintf(b, sizeof b, "TIOCGPGRP not ours=%d %s\n", r, r ? en(errno) : "");
    say(b);
    r = ioctl(m2, TIOCGPGRP, &pg);
    snprintf(b, sizeof b, "TIOCGPGRP master of none=%d pgrp=%d\n", r, pg);
    say(b);
    r = ioctl(m2, TIOCGSID, &pg);
    snprintf(b, sizeof b, "TIOCGSID master of none=%d %s\n", r, r ? en(errno) : "");
    say(b);
    pid_t gc = fork();
    if (gc == 0) {
        errno = 0;
        int rr = ioctl(s2, TIOCSCTTY, 0);
        _exit(rr == -1 && errno == EPERM ? 7 : 8);
    }
    int st;
    waitpid(gc, &st, 0);
    snprintf(b, sizeof b, "TIOCSCTTY by a non-leader: %s\n", WEXITSTATUS(st) == 7 ? "EPERM" : "?");
    say(b);
    r = tcsetpgrp(0, 99999);
    snprintf(b, sizeof b, "tcsetpgrp no such group=%d %s\n", r, r ? en(errno) : "");
    say(b);
    r = tcsetpgrp(0, 1);
    snprintf(b, sizeof b, "tcsetpgrp other session=%d %s\n", r, r ? en(errno) : "");
    say(b);
    say("END\n");
    return 0;
}

static void h_alrm(int s) { (void)s; }

static int isig_body(void)
{
    set_handler(SIGINT, h_int, 0);
    set_handler(SIGALRM, h_alrm, 0); /* in case ^C came before the read */
    alarm(5);
    say("ready\n");
    char b[96];
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    errno = 0;
    long k = read(0, b, sizeof b);
    int e = errno;
    clock_gettime(CLOCK_MONOTONIC, &z);
    alarm(0);
    snprintf(b, sizeof b, "read=%ld %s n_int=%d soon=%d\n", k, k < 0 ? en(e) : "", n_int,
             z.tv_sec - a.tv_sec < 3);
    say(b);
    fcntl(0, F_SETFL, O_NONBLOCK);
    k = read(0, b, sizeof b);
    snprintf(b, sizeof b, "partial line flushed=%d\n", k == -1 && errno == EAGAIN);
    say(b);
    say("END\n");
    return 0;
}

static int winch_body(void)
{
    set_handler(SIGWINCH, h_winch, SA_RESTART);
    say("ready\n");
    while (n_winch < 1)
        msleep(5);
    struct winsize ws;
    ioctl(0, TIOCGWINSZ, &ws);
    char b[80];
    snprintf(b, sizeof b, "winch 1: %d x %d\n", ws.ws_row, ws.ws_col);
    say(b);
    while (n_winch < 2)
        msleep(5);
    ioctl(0, TIOCGWINSZ, &ws);
    snprintf(b, sizeof b, "winch 2: %d x %d\n", ws.ws_row, ws.ws_col);
    say(b);
    say("END\n");
    return 0;
}

/* a background process group of the session reads and writes its terminal */
static int jobs_body(void)
{
    char b[128];
    int st;
    for (int round = 0; round < 4; round++) {
        pid_t gc = fork();
        if (gc == 0) {
            setpgid(0, 0);
            char x[8];
            if (round == 0) {
                signal(SIGTTIN, SIG_IGN);
                errno = 0;
                long k = read(0, x, 1);
                _exit(k == -1 && errno == EIO ? 10 : 11);
            }
            if (round == 1) {
                (void)!read(0, x, 1); /* stopped by SIGTTIN */
                _exit(12);
            }
            if (round == 2) {
                long k = write(1, "", 0);
                k = write(1, "bg write ok\n", 12);
                _exit(k == 12 ? 13 : 14);
            }
            struct termios t;
            tcgetattr(0, &t);
            t.c_lflag |= TOSTOP;
            signal(SIGTTOU, SIG_IGN);
            int r = tcsetattr(0, TCSANOW, &t); /* allowed: SIGTTOU ignored */
            signal(SIGTTOU, SIG_DFL);
            if (r == 0)
                (void)!write(1, "x", 1); /* stopped by SIGTTOU */
            _exit(15);
        }
        setpgid(gc, gc);
        waitpid(gc, &st, WUNTRACED);
        if (WIFSTOPPED(st)) {
            snprintf(b, sizeof b, "round %d: stopped by %s\n", round, sigabbrev_np(WSTOPSIG(st)));
            kill(gc, SIGKILL);
            waitpid(gc, &st, 0);
        } else {
            snprintf(b, sizeof b, "round %d: exit %d\n", round, WEXITSTATUS(st));
        }
        say(b);
    }
    struct termios t;
    tcgetattr(0, &t);
    t.c_lflag &= ~TOSTOP;
    tcsetattr(0, TCSANOW, &t);
    /* give the foreground to another group: the leader is in the background now */
    pid_t gc = fork();
    if (gc == 0) {
        setpgid(0, 0);
        while (tcgetpgrp(0) != getpgrp())
            msleep(5);
        char x[64];
        long k = read(0, x, sizeof x);
        _exit(k == 4 && memcmp(x, "fg!\n", 4) == 0 ? 20 : 21);
    }
    setpgid(gc, gc);
    signal(SIGTTOU, SIG_IGN);
    int r = tcsetpgrp(0, gc);
    signal(SIGTTOU, SIG_DFL);
    snprintf(b, sizeof b, "tcsetpgrp to child=%d fg-is-child=%d\n", r, tcgetpgrp(0) == gc);
    say(b);
    say("GO\n");
    waitpid(gc, &st, 0);
    signal(SIGTTOU, SIG_IGN);
    tcsetpgrp(0, getpgrp());
    snprintf(b, sizeof b, "foreground child read: exit %d\n", WEXITSTATUS(st));
    say(b);
    say("END\n");
    return 0;
}

static int hup_body(void)
{
    set_handler(SIGHUP, h_hup, 0);
    set_handler(SIGCONT, h_cont, 0);
    say("ready\n");
    for (int i = 0; i < 400 && !(n_hup && n_cont); i++)
        msleep(10);
    char x[4];
    long k = read(0, x, 1);
    long w = write(0, "x", 1);
    int e2 = errno;
    int fd = open("/dev/tty", O_RDWR);
    int e3 = errno;
    return (n_hup ? 1 : 0) | (n_cont ? 2 : 0) | (k == 0 ? 4 : 0) | (w == -1 && e2 == EIO ? 8 : 0) |
           (fd == -1 && e3 == ENXIO ? 16 : 0);
}

/* the leader exits: its foreground group (here a child of it) gets SIGHUP */
static int exit_body(void)
{
    int p[2];
    if (pipe(p) < 0)
        return 1;
    pid_t gc = fork();
    if (gc == 0) {
        set_handler(SIGHUP, h_hup, 0);
        close(p[0]);
        close(p[1]);
        say("child ready\n");
        for (int i = 0; i < 500 && !n_hup; i++)
            msleep(10);
        _exit(n_hup ? 33 : 34);
    }
    close(p[1]);
    char x;
    (void)!read(p[0], &x, 1); /* EOF: the child's handler is in place */
    return 0;
}

static int notty_body(void)
{
    signal(SIGHUP, SIG_IGN);
    char b[96];
    errno = 0;
    int r = ioctl(0, TIOCNOTTY);
    snprintf(b, sizeof b, "TIOCNOTTY=%d\n", r);
    say(b);
    errno = 0;
    r = tcgetpgrp(0);
    snprintf(b, sizeof b, "tcgetpgrp after=%d %s\n", r, r < 0 ? en(errno) : "");
    say(b);
    r = open("/dev/tty", O_RDWR);
    snprintf(b, sizeof b, "open /dev/tty after=%d %s\n", r < 0 ? -1 : 0, r < 0 ? en(errno) : "");
    say(b);
    r = ioctl(0, TIOCSCTTY, 0);
    snprintf(b, sizeof b, "TIOCSCTTY again=%d tcgetsid-is-me=%d\n", r, tcgetsid(0) == getpid());
    say(b);
    say("END\n");
    return 0;
}

static void run_leader(const char *label, int (*body)(void), void (*drive)(int m, pid_t c))
{
    pid_t c;
    int keep;
    int m = leader(&c, body, &keep);
    char buf[2048];
    if (drive)
        drive(m, c);
    long k = until(m, buf, sizeof buf, "END\r\n");
    show(label, buf, k);
    int st;
    waitpid(c, &st, 0);
    close(keep);
    printf("%s exit: %d\n", label, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    close(m);
}

static void drive_isig(int m, pid_t c)
{
    char buf[256];
    long k = until(m, buf, sizeof buf, "ready\r\n");
    show("isig child", buf, k);
    int pg = 0;
    R("TIOCGPGRP on master", ioctl(m, TIOCGPGRP, &pg));
    T("foreground is the child's group", pg == c);
    int sid = 0;
    R("TIOCGSID on master", ioctl(m, TIOCGSID, &sid));
    T("session is the child's", sid == c);
    msleep(300); /* the child is in its read by now */
    MUST(write(m, "abc\x03", 4));
}

static void drive_winch(int m, pid_t c)
{
    char buf[256];
    long k = until(m, buf, sizeof buf, "ready\r\n");
    show("winch child", buf, k);
    struct winsize ws = {24, 80, 0, 0};
    R("TIOCSWINSZ 24x80", ioctl(m, TIOCSWINSZ, &ws));
    k = until(m, buf, sizeof buf, "80\r\n");
    msleep(100);
    R("TIOCSWINSZ same", ioctl(m, TIOCSWINSZ, &ws));
    msleep(100);
    ws.ws_row = 50;
    ws.ws_col = 132;
    R("TIOCSWINSZ 50x132", ioctl(m, TIOCSWINSZ, &ws));
    show("winch so far", buf, k);
}

static void drive_jobs(int m, pid_t c)
{
    char buf[1024];
    long k = until(m, buf, sizeof buf, "GO\r\n");
    show("jobs child", buf, k);
    MUST(write(m, "fg!\n", 4));
}

static void hangups(void)
{
    /* the master sees EIO once every replica is closed and drained */
    int s, m = new_pty(&s);
    char buf[256];
    show_poll("poll new master", m, POLLIN | POLLOUT, 0);
    MUST(write(s, "bye\n", 4));
    close(s);
    long k = until(m, buf, sizeof buf, "bye\r\n");
    show("data before EIO", buf, k);
    R("master read, replica closed", read(m, buf, 10));
    show_poll("poll master, replica closed", m, POLLIN | POLLOUT, 0);
    R("master write, replica closed", write(m, "zz\n", 3));
    s = open(ptsname(m), O_RDWR | O_NOCTTY);
    R("reopen replica", s >= 0 ? 0 : -1);
    k = read(s, buf, 100);
    show("written while closed", buf, k);
    drain(m, buf, sizeof buf, 300);
    int s2 = dup(s);
    close(m);
    show_poll("poll replica, master closed", s, POLLIN | POLLOUT, 0);
    R("replica read, master closed", read(s, buf, 10));
    R("replica write, master closed", write(s, "x", 1));
    struct termios t;
    R("tcgetattr, master closed", tcgetattr(s, &t));
    int pg;
    R("TIOCSPGRP, master closed", ioctl(s2, TIOCSPGRP, &pg));
    R("FIONBIO, master closed", ioctl(s2, FIONBIO, &(int){1}));
    close(s);
    close(s2);

    /* the session leader gets SIGHUP and SIGCONT when the master closes */
    pid_t c;
    int keep;
    m = leader(&c, hup_body, &keep);
    k = until(m, buf, sizeof buf, "ready\r\n");
    show("hup child", buf, k);
    close(keep);
    close(m);
    int st;
    waitpid(c, &st, 0);
    printf("hup child: SIGHUP=%d SIGCONT=%d read-0=%d write-EIO=%d no-ctty=%d\n",
           WEXITSTATUS(st) & 1, !!(WEXITSTATUS(st) & 2), !!(WEXITSTATUS(st) & 4),
           !!(WEXITSTATUS(st) & 8), !!(WEXITSTATUS(st) & 16));

    /* the session leader exits: SIGHUP to the foreground group; its orphan comes to us */
    m = leader(&c, exit_body, &keep);
    k = until(m, buf, sizeof buf, "child ready\r\n");
    show("exit child", buf, k);
    waitpid(c, &st, 0);
    R("leader exit", WEXITSTATUS(st));
    pid_t orphan = wait(&st);
    R("orphan reaped", orphan > 0 ? 0 : -1);
    R("orphan got SIGHUP", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    pg = -1;
    R("TIOCGPGRP on master after", ioctl(m, TIOCGPGRP, &pg));
    R("foreground after", pg);
    R("TIOCGSID on master after", ioctl(m, TIOCGSID, &pg));
    close(keep);
    close(m);
}

static void packet(void)
{
    int s, m = new_pty(&s);
    char buf[64];
    int on = 1;
    R("TIOCPKT on", ioctl(m, TIOCPKT, &on));
    int got = -1;
    R("TIOCGPKT", ioctl(m, TIOCGPKT, &got));
    R("packet mode", got);
    R("TIOCPKT on replica", ioctl(s, TIOCPKT, &on));
    MUST(write(s, "x", 1));
    show_poll("poll packet data", m, POLLIN, 1000);
    long k = read(m, buf, sizeof buf);
    show("packet data", buf, k);
    R("TCFLSH replica", tcflush(s, TCIOFLUSH));
    show_poll("poll packet status", m, POLLIN | POLLPRI, 1000);
    k = read(m, buf, sizeof buf);
    show("packet status", buf, k);
    close(s);
    close(m);
}

static void with_forkpty(void)
{
    int m;
    char name[64];
    fflush(stdout);
    pid_t c = forkpty(&m, name, NULL, NULL);
    MUST(c);
    if (c == 0) {
        char b[200];
        char *tn = ttyname(0);
        snprintf(b, sizeof b, "leader=%d fg=%d tty=%s\n", getsid(0) == getpid(),
                 tcgetpgrp(0) == getpgrp(), tn ? tn : "none");
        say(b);
        char line[64];
        long k = read(0, line, sizeof line);
        snprintf(b, sizeof b, "got %ld\n", k);
        say(b);
        _exit(5);
    }
    char buf[512];
    long k = until(m, buf, sizeof buf, "\r\n");
    char want[128];
    snprintf(want, sizeof want, "leader=1 fg=1 tty=%s\r\n", name);
    T("forkpty child sees its terminal", strcmp(buf, want) == 0);
    MUST(write(m, "input\n", 6));
    k = until(m, buf, sizeof buf, "got 6\r\n");
    show("forkpty child", buf, k);
    int st;
    waitpid(c, &st, 0);
    R("forkpty exit", WEXITSTATUS(st));
    k = until(m, buf, sizeof buf, NULL);
    show("left after exit", buf, k);
    R("read after child exit", read(m, buf, 10));
    close(m);
}

/* TIOCGLCKTRMIOS/TIOCSLCKTRMIOS: locked bits and control characters keep their values
 * through TCSETS, on either side (the master's are the replica's); EPERM without
 * CAP_SYS_ADMIN. (The kernel's struct termios, without speeds.) */
static void locked_settings(void)
{
    int s, m = new_pty(&s);
    struct termios lk, t;
    memset(&lk, 0x55, sizeof lk);
    R("TIOCGLCKTRMIOS new", ioctl(s, TIOCGLCKTRMIOS, &lk));
    printf("locked %o %o %o %o line %d cc0 %d\n", lk.c_iflag, lk.c_oflag, lk.c_cflag,
           lk.c_lflag, lk.c_line, lk.c_cc[0]);
    memset(&lk, 0, sizeof lk);
    lk.c_lflag = ECHO;
    lk.c_cc[VINTR] = 1;
    R("TIOCSLCKTRMIOS on master", ioctl(m, TIOCSLCKTRMIOS, &lk));
    R("tcgetattr", tcgetattr(s, &t));
    t.c_lflag &= ~(ECHO | ICANON);
    t.c_cc[VINTR] = 7;
    t.c_cc[VQUIT] = 8;
    R("tcsetattr", tcsetattr(s, TCSANOW, &t));
    R("tcgetattr again", tcgetattr(s, &t));
    printf("ECHO %d ICANON %d VINTR %d VQUIT %d\n", !!(t.c_lflag & ECHO),
           !!(t.c_lflag & ICANON), t.c_cc[VINTR], t.c_cc[VQUIT]);
    memset(&lk, 0x55, sizeof lk);
    R("TIOCGLCKTRMIOS replica", ioctl(s, TIOCGLCKTRMIOS, &lk));
    printf("locked lflag %o cc0 %d\n", lk.c_lflag, lk.c_cc[VINTR]);
    R("TIOCGLCKTRMIOS bad buffer", ioctl(s, TIOCGLCKTRMIOS, (void *)8));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setuid(65534) < 0) _exit(1);
        R("TIOCSLCKTRMIOS unprivileged", ioctl(s, TIOCSLCKTRMIOS, &lk));
        R("TIOCGLCKTRMIOS unprivileged", ioctl(s, TIOCGLCKTRMIOS, &lk));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    memset(&lk, 0, sizeof lk);
    R("unlock", ioctl(s, TIOCSLCKTRMIOS, &lk));
    t.c_lflag &= ~ECHO;
    R("tcsetattr unlocked", tcsetattr(s, TCSANOW, &t));
    R("tcgetattr unlocked", tcgetattr(s, &t));
    printf("ECHO %d\n", !!(t.c_lflag & ECHO));
    close(s);
    close(m);
}

int main(void)
{
    out_init();
    signal(SIGHUP, SIG_IGN);
    names();
    defaults();
    locked_settings();
    canonical();
    echo_and_output();
    more_editing();
    raw_mode();
    run_leader("ctty", ctty_body, NULL);
    run_leader("isig", isig_body, drive_isig);
    run_leader("winch", winch_body, drive_winch);
    run_leader("jobs", jobs_body, drive_jobs);
    run_leader("notty", notty_body, NULL);
    hangups();
    packet();
    with_forkpty();
    return 0;
}
