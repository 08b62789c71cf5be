/* unix_sockopt.c -- setsockopt/getsockopt on unix sockets: the SOL_SOCKET options
 * Linux accepts for them (kept, with no effect), the checks it makes first (an int
 * at least, readable) and the errno of everything else; privileged values as root
 * and after setuid to an unprivileged user. */
#include "check.h"
#include <sys/socket.h>
#include <sys/wait.h>

static int sv[2];

static void set_int(const char *label, int level, int opt, int val)
{
    R(label, setsockopt(sv[0], level, opt, &val, sizeof val));
}

static void get_int(const char *label, int opt)
{
    int v = -1;
    socklen_t n = sizeof v;
    errno = 0;
    if (getsockopt(sv[0], SOL_SOCKET, opt, &v, &n) < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %d (len %u)\n", label, v, n);
}

static void privileged(const char *who)
{
    char l[96];
    snprintf(l, sizeof l, "%s SO_DEBUG 1", who);
    set_int(l, SOL_SOCKET, SO_DEBUG, 1);
    snprintf(l, sizeof l, "%s SO_PRIORITY 7", who);
    set_int(l, SOL_SOCKET, SO_PRIORITY, 7);
    snprintf(l, sizeof l, "%s SO_MARK 5", who);
    set_int(l, SOL_SOCKET, SO_MARK, 5);
}

int main(void)
{
    out_init();
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int one = 1;

    R("SOL_IP option", setsockopt(sv[0], 0 /* SOL_IP */, 1, &one, sizeof one));
    R("SOL_TCP option", setsockopt(sv[0], 6 /* SOL_TCP */, 1, &one, sizeof one));
    R("optlen 1", setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &one, 1));
    R("optlen 1, NULL", setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, NULL, 1));
    R("optlen 4, NULL", setsockopt(sv[0], SOL_SOCKET, SO_DONTROUTE, NULL, 4));
    R("unknown option", setsockopt(sv[0], SOL_SOCKET, 9999, &one, sizeof one));
    R("unknown option, optlen 0", setsockopt(sv[0], SOL_SOCKET, 9999, &one, 0));

    set_int("SO_DONTROUTE 1", SOL_SOCKET, SO_DONTROUTE, 1);
    get_int("SO_DONTROUTE", SO_DONTROUTE);
    set_int("SO_NO_CHECK 7", SOL_SOCKET, SO_NO_CHECK, 7);
    get_int("SO_NO_CHECK", SO_NO_CHECK);
    set_int("SO_SELECT_ERR_QUEUE 1", SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1);
    get_int("SO_SELECT_ERR_QUEUE", SO_SELECT_ERR_QUEUE);
    set_int("SO_PRIORITY 3", SOL_SOCKET, SO_PRIORITY, 3);
    get_int("SO_PRIORITY", SO_PRIORITY);
    get_int("SO_DEBUG before", SO_DEBUG);

    struct linger lg = {.l_onoff = 1, .l_linger = 5}, got;
    R("SO_LINGER short", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, 4));
    R("SO_LINGER {1, 5}", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    socklen_t n = sizeof got;
    MUST(getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &got, &n));
    printf("SO_LINGER: %d %d (len %u)\n", got.l_onoff, got.l_linger, n);
    lg.l_onoff = 0;
    lg.l_linger = 9;
    R("SO_LINGER {0, 9}", setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    n = sizeof got;
    MUST(getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &got, &n));
    printf("SO_LINGER off: %d %d (len %u)\n", got.l_onoff, got.l_linger, n);

    privileged("root");
    get_int("root SO_DEBUG", SO_DEBUG);
    get_int("root SO_PRIORITY", SO_PRIORITY);
    get_int("root SO_MARK", SO_MARK);

    /* Linux's defaults of options a unix socket has without setting them */
    get_int("SO_RCVLOWAT", SO_RCVLOWAT);
    get_int("SO_SNDLOWAT", SO_SNDLOWAT);
    get_int("SO_PASSSEC", SO_PASSSEC);
    get_int("SO_OOBINLINE", SO_OOBINLINE);
    get_int("SO_TIMESTAMP", SO_TIMESTAMP);
    get_int("SO_TIMESTAMPNS", SO_TIMESTAMPNS);
    get_int("SO_PEEK_OFF", SO_PEEK_OFF);
    get_int("SO_BUSY_POLL", SO_BUSY_POLL);
    get_int("SO_INCOMING_CPU", SO_INCOMING_CPU);
    get_int("SO_ZEROCOPY", SO_ZEROCOPY);
    set_int("SO_PASSSEC 1", SOL_SOCKET, SO_PASSSEC, 1);
    get_int("SO_PASSSEC set", SO_PASSSEC);
    set_int("SO_OOBINLINE 1", SOL_SOCKET, SO_OOBINLINE, 1);
    get_int("SO_OOBINLINE set", SO_OOBINLINE);
    set_int("SO_INCOMING_CPU 1", SOL_SOCKET, SO_INCOMING_CPU, 1);
    get_int("SO_INCOMING_CPU set", SO_INCOMING_CPU);
    set_int("SO_BUSY_POLL -1", SOL_SOCKET, SO_BUSY_POLL, -1);
    set_int("root SO_BUSY_POLL 50", SOL_SOCKET, SO_BUSY_POLL, 50);
    get_int("SO_BUSY_POLL set", SO_BUSY_POLL);
    set_int("SO_ZEROCOPY 1", SOL_SOCKET, SO_ZEROCOPY, 1);
    set_int("SO_SNDLOWAT 1", SOL_SOCKET, SO_SNDLOWAT, 1);

    pid_t c = fork_as(65534);
    if (c == 0) {
        privileged("nobody");
        set_int("nobody SO_DEBUG 0", SOL_SOCKET, SO_DEBUG, 0);
        set_int("nobody SO_PRIORITY 6", SOL_SOCKET, SO_PRIORITY, 6);
        set_int("nobody SO_BUSY_POLL 100", SOL_SOCKET, SO_BUSY_POLL, 100);
        set_int("nobody SO_BUSY_POLL 10", SOL_SOCKET, SO_BUSY_POLL, 10);
        fflush(stdout);
        _exit(0);
    }
    int st;
    MUST(waitpid(c, &st, 0));
    T("child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return 0;
}
