/* faults.c -- how a process ends that faults with no handler that can take the fault:
 * none installed, the signal blocked or ignored (a fault's signal is forced), its own code
 * unmapped under it (stress-ng's vm-segv: the next instruction faults), its stack
 * unmapped, its whole address space unmapped; its parent's wait reports the signal.  And
 * one that a handler does take (it jumps back out). */
#include "check.h"
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static void null_store(void)
{
    *(volatile int *)0 = 1;
}

static void child_plain(void) { null_store(); }
static void child_blocked(void) { mask_signal(SIG_BLOCK, SIGSEGV); null_store(); }
static void child_ignored(void) { signal(SIGSEGV, SIG_IGN); null_store(); }

static void child_bus(void)
{
    /* past the end of a one-page file mapping: SIGBUS */
    FILE *f = tmpfile();
    if (!f || ftruncate(fileno(f), 4096) < 0)
        _exit(2);
    volatile char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    if (p == MAP_FAILED)
        _exit(3);
    (void)p[4096];
}

/* page-aligned, alone on its page: unmapping it takes nothing else away */
__attribute__((noinline, aligned(4096))) static void unmap_self(void)
{
    uintptr_t a = (uintptr_t)unmap_self & ~(uintptr_t)4095;
    syscall(SYS_munmap, a, 4096);
}
static void child_unmap_code(void) { mask_signal(SIG_BLOCK, SIGSEGV); unmap_self(); }

static void child_unmap_stack(void)
{
    volatile char here = 0;
    uintptr_t a = (uintptr_t)&here & ~(uintptr_t)4095;
    syscall(SYS_munmap, a - 4096, 3 * 4096);
}

static void child_unmap_all(void)
{
    mask_signal(SIG_BLOCK, SIGSEGV);
    size_t len = (~(size_t)0) ^ ((~(size_t)0) >> 1);
    while (len > 4096) {
        syscall(SYS_munmap, 0, len - 4096);
        len >>= 1;
    }
}

static sigjmp_buf back;
static void segv_handler(int s) { (void)s; siglongjmp(back, 1); }

static void child_handled(void)
{
    set_handler(SIGSEGV, segv_handler, 0);
    for (int i = 0; i < 3; i++)
        if (sigsetjmp(back, 1) == 0)
            null_store();
    _exit(7);
}

static void run(const char *label, void (*f)(void))
{
    fflush(stdout);
    pid_t p = fork();
    MUST(p);
    if (p == 0) {
        f();
        _exit(1); /* survived */
    }
    show_wait(label, p);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    for (int i = 0; i < 2; i++) {
        run("no handler", child_plain);
        run("blocked", child_blocked);
        run("ignored", child_ignored);
        run("bus error", child_bus);
        run("own code unmapped", child_unmap_code);
        run("stack unmapped", child_unmap_stack);
        run("everything unmapped", child_unmap_all);
        run("handled three times", child_handled);
    }
    return 0;
}
