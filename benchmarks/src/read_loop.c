/* read_loop.c -- N pread64 of 4 KiB at offset 0 of FILE (raw syscall), timed
 * inside the program. Prints "ns_per_call=X n=N". Usage: read_loop FILE N */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline long sys4(long nr, long a0, long a1, long a2, long a3)
{
    long ret;
    register long r10 __asm__("r10") = a3;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10)
                     : "rcx", "r11", "memory");
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
    if (argc < 3) {
        fprintf(stderr, "usage: read_loop FILE N\n");
        return 2;
    }
    long n = atol(argv[2]);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 2;
    }
    static char buf[4096];
    long bad = 0;
    for (long i = 0; i < n / 10; i++)
        sys4(SYS_pread64, fd, (long)buf, sizeof buf, 0);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        bad += sys4(SYS_pread64, fd, (long)buf, sizeof buf, 0) != sizeof buf;
    double t1 = now_ns();
    long sum = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        sum += (unsigned char)buf[i];
    syscall(SYS_getppid, 0x646f6e65L); /* DONE mark for the floor supervisor */
    printf("ns_per_call=%.1f n=%ld errors=%ld sum=%ld\n", (t1 - t0) / n, n, bad, sum);
    return bad != 0;
}
