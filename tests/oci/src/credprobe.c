/* What a program's credentials let it do, for tests/oci/test_config_view.py.
 *
 *   credprobe ids        ids, AT_SECURE, no_new_privs and capget's sets
 *   credprobe setuid     setuid(65534), then ids
 *   credprobe kill       kill a child that became uid 65534 (needs CAP_KILL)
 *   credprobe bind PORT  bind a TCP socket to 0.0.0.0:PORT (below 1024: CAP_NET_BIND_SERVICE)
 *   credprobe access PATH...  access(2) of each with X_OK, R_OK and W_OK
 *
 * Every result is printed (errors as strerror text), so the same static binary run under
 * runc and under runsc-py gives comparable output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *result(int r) { return r == 0 ? "ok" : strerror(errno); }

static void ids(void) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    int r = (int)syscall(SYS_capget, &h, d);
    printf("uid=%d euid=%d gid=%d egid=%d secure=%lu nnp=%d\n", (int)getuid(), (int)geteuid(),
           (int)getgid(), (int)getegid(), getauxval(AT_SECURE),
           prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    printf("capget=%s eff=%08x%08x prm=%08x%08x inh=%08x%08x\n", result(r), d[1].effective,
           d[0].effective, d[1].permitted, d[0].permitted, d[1].inheritable, d[0].inheritable);
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "ids";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(cmd, "ids")) {
        ids();
    } else if (!strcmp(cmd, "access")) {
        for (int i = 2; i < argc; i++) {
            int x = access(argv[i], X_OK);
            printf("%s X_OK=%s", argv[i], result(x));
            int r = access(argv[i], R_OK);
            printf(" R_OK=%s", result(r));
            int w = access(argv[i], W_OK);
            printf(" W_OK=%s\n", result(w));
        }
    } else if (!strcmp(cmd, "setuid")) {
        printf("setuid=%s\n", result(setuid(65534)));
        ids();
    } else if (!strcmp(cmd, "kill")) {
        int p[2];
        if (pipe(p)) return 1;
        pid_t pid = fork();
        if (pid == 0) {
            int r = setresuid(65534, 65534, 65534);
            char c = r == 0 ? 'y' : 'n';
            if (write(p[1], &c, 1) != 1) _exit(3);
            alarm(2);
            pause();
            _exit(0);
        }
        char c = 0;
        if (read(p[0], &c, 1) != 1) return 1;
        printf("child-setresuid=%s\n", c == 'y' ? "ok" : "failed");
        printf("kill=%s\n", result(kill(pid, SIGTERM)));
        int st;
        waitpid(pid, &st, 0);
        printf("child=%s\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
    } else if (!strcmp(cmd, "bind") && argc > 2) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
        printf("bind %s=%s\n", argv[2],
               s < 0 ? strerror(errno) : result(bind(s, (struct sockaddr *)&sin, sizeof sin)));
    } else {
        fprintf(stderr, "unknown command %s\n", cmd);
        return 2;
    }
    return 0;
}
