/* exit_race.c -- processes one of whose threads keeps making children or threads (raw
 * clone3 like a fork, pthread_create, vfork, fork, clone3 with CLONE_PIDFD) while another
 * ends the process (exit_group) after a varying delay: in the sandbox the maker is often
 * killed while the sentry handles its clone's ptrace stop or event, which must end that
 * process only (it stopped the whole sandbox: ProcessLookupError). */
#include "check.h"
#include <linux/sched.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

static int kind;
static void *nothing(void *a) { return a; }
static void *maker(void *a)
{
    (void)a;
    for (;;) {
        if (kind == 0) {
            struct clone_args ca;
            memset(&ca, 0, sizeof ca);
            ca.exit_signal = SIGCHLD;
            long c = syscall(SYS_clone3, &ca, sizeof ca);
            if (c == 0) _exit(0);
        } else if (kind == 1) {
            pthread_t th;
            if (pthread_create(&th, NULL, nothing, NULL) == 0) pthread_detach(th);
        } else if (kind == 2) {
            pid_t p = vfork();
            if (p == 0) _exit(0);
        } else if (kind == 4) {
            pid_t p = fork();
            if (p == 0) _exit(0);
        } else { /* 3 */
            int pfd;
            struct clone_args ca;
            memset(&ca, 0, sizeof ca);
            ca.flags = CLONE_PIDFD;
            ca.pidfd = (uintptr_t)&pfd;
            ca.exit_signal = SIGCHLD;
            long c = syscall(SYS_clone3, &ca, sizeof ca);
            if (c == 0) _exit(0);
            if (c > 0) close(pfd);
        }
    }
    return NULL;
}

int main(void)
{
    static const char *const names[] = {"clone3", "pthread_create", "vfork", "clone3 pidfd",
                                        "fork"};
    setvbuf(stdout, NULL, _IONBF, 0);
    for (kind = 0; kind < 5; kind++) {
        int ok = 0, other = 0;
        for (int i = 0; i < 25; i++) {
            pid_t p = fork();
            MUST(p);
            if (p == 0) {
                pthread_t th;
                pthread_create(&th, NULL, maker, NULL);
                usleep(100 + (i * 7919) % 3000);
                syscall(SYS_exit_group, 5);
            }
            int st;
            while (waitpid(p, &st, 0) < 0 && errno == EINTR)
                ;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 5)
                ok++;
            else
                other++;
            while (waitpid(-1, &st, WNOHANG) > 0)
                ;
        }
        printf("%s maker, ended by exit_group 5: %d, otherwise: %d\n", names[kind], ok, other);
    }
    printf("the sandbox is still there: yes\n");
    return 0;
}
