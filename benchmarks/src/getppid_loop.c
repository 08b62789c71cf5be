/* getppid_loop.c -- N raw getppid syscalls (inline `syscall`, no libc), timed
 * inside the program with the vDSO clock. Prints "ns_per_call=X n=N".
 * Usage: getppid_loop N */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

static inline long sys1(long nr, long a0)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a0) : "rcx", "r11", "memory");
    return ret;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long bad = 0;
    for (long i = 0; i < n / 10; i++) /* warm-up */
        sys1(SYS_getppid, 0);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        bad += sys1(SYS_getppid, 0) < 0;
    double t1 = now_ns();
    sys1(SYS_getppid, 0x646f6e65L); /* DONE mark for the floor supervisor */
    printf("ns_per_call=%.1f n=%ld errors=%ld\n", (t1 - t0) / n, n, bad);
    return bad != 0;
}
