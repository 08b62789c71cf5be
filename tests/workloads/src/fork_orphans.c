/* fork_orphans.c ROUNDS -- in each round a process whose second thread keeps forking
 * (each child only exits, its parent waits for it) ends itself with exit_group after a
 * delay that varies from round to round: the forking thread is often killed at its fork
 * event, or before it stops there, with its new child made.  Then the program says
 * "done" and waits for a line on stdin (the test looks at the host's processes
 * meanwhile). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *maker(void *arg)
{
    (void)arg;
    for (;;) {
        pid_t c = fork();
        if (c == 0)
            _exit(0);
        if (c > 0)
            waitpid(c, NULL, 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    for (int r = 0; r < rounds; r++) {
        pid_t p = fork();
        if (p < 0) {
            perror("fork");
            return 1;
        }
        if (p == 0) {
            pthread_t th;
            pthread_create(&th, NULL, maker, NULL);
            struct timespec ts = {0, (r % 20) * 50000L};
            nanosleep(&ts, NULL);
            syscall(SYS_exit_group, 0);
        }
        waitpid(p, NULL, 0);
    }
    printf("done %d\n", rounds);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 2;
    return 0;
}
