/* enosys.c -- unknown syscall numbers must fail with ENOSYS and the process
 * must go on (design §7.2). syscall(1000) is made three times: the sentry
 * logs it once. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void try(long nr)
{
    errno = 0;
    long r = syscall(nr, 1, 2, 3, 4, 5, 6);
    printf("syscall(%ld): %ld %s\n", nr, r, r < 0 ? strerrorname_np(errno) : "-");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    try(1000);
    try(1000);
    try(1000);
    try(999999);
    printf("still alive: pid %d\n", getpid());
    return 0;
}
