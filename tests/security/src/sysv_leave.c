/* sysv_leave.c KEY -- reports whether System V objects of KEY exist, then makes a shared
 * memory segment (attached and written), a semaphore set and a message queue (with a
 * message) of KEY and exits without removing any of them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    key_t key = (key_t)strtol(argv[1], NULL, 0);
    printf("before: shm %s sem %s msg %s\n", shmget(key, 0, 0) < 0 ? strerrorname_np(errno) : "found",
           semget(key, 0, 0) < 0 ? strerrorname_np(errno) : "found",
           msgget(key, 0) < 0 ? strerrorname_np(errno) : "found");
    int shm = shmget(key, 1 << 20, IPC_CREAT | 0600);
    int sem = semget(key, 4, IPC_CREAT | 0600);
    int msg = msgget(key, IPC_CREAT | 0600);
    if (shm < 0 || sem < 0 || msg < 0)
        return 3;
    char *p = shmat(shm, NULL, 0);
    if (p == (void *)-1)
        return 4;
    memset(p, 'x', 1 << 20);
    struct {
        long type;
        char text[16];
    } m = {1, "left behind"};
    if (msgsnd(msg, &m, sizeof m.text, 0) < 0)
        return 5;
    printf("made\n");
    return 0;
}
