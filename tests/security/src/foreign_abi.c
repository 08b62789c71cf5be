/* foreign_abi.c MODE -- make one syscall through a foreign ABI and report if it
 * returned. MODE "int80": getpid through the 32-bit `int 0x80` entry (ia32);
 * MODE "x32": getpid with the x32 bit set in the number; MODE "native": the
 * same call through the normal entry (control: must return). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long r = -1;
    const char *mode = argc > 1 ? argv[1] : "native";
    printf("before\n");
    fflush(stdout);
    if (!strcmp(mode, "int80")) {
        /* eax = 20: getpid in the i386 table */
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    } else if (!strcmp(mode, "x32")) {
        __asm__ volatile("syscall" : "=a"(r) : "a"(0x40000000L | 39) : "rcx", "r11", "memory");
    } else {
        __asm__ volatile("syscall" : "=a"(r) : "a"(39L) : "rcx", "r11", "memory");
    }
    printf("returned %ld\n", r);
    return 0;
}
