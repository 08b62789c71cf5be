/* Dies of a real SIGSEGV (a forced signal kills even a namespace's init). */
#include <stdio.h>

int main(void)
{
    printf("before\n");
    fflush(stdout);
    *(volatile int *)0 = 1;
    return 0;
}
