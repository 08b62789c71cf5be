/* getppid N times: answered by the C fast path unless --python-only. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100;
    long sum = 0;
    for (long i = 0; i < n; i++) sum += syscall(SYS_getppid);
    printf("ppid sum %ld\n", sum);
    return 0;
}
