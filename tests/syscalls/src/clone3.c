/* clone3.c -- clone3(2): glibc's threads and posix_spawn over it, a raw fork and vfork,
 * CLONE_PARENT_SETTID/CHILD_SETTID, the registers the call leaves as they were in
 * parent and child, and its argument errors (size, exit_signal, CSIGNAL bits in flags,
 * stack without a size, exit_signal with CLONE_THREAD, a bigger struct with fields set). */
#include "check.h"
#include <linux/sched.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static void *twice(void *a) { return (void *)((long)a * 2); }

static long clone3_raw(struct clone_args *ca, size_t size)
{
    return syscall(SYS_clone3, ca, size);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    void *res;
    pthread_t th;
    MUST(pthread_create(&th, NULL, twice, (void *)21) == 0 ? 0 : -1);
    MUST(pthread_join(th, &res) == 0 ? 0 : -1);
    R("a glibc thread's result", (long)res);

    pid_t pid;
    char *sargv[] = {"/bin/true", NULL};
    int st;
    R("posix_spawn", posix_spawn(&pid, "/bin/true", NULL, NULL, sargv, environ));
    MUST(waitpid(pid, &st, 0));
    R("  its exit status", WEXITSTATUS(st));

    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    long c = clone3_raw(&ca, sizeof ca);
    if (c == 0)
        _exit(7);
    MUST(c);
    MUST(waitpid(c, &st, 0));
    R("a raw clone3 fork: exit status", WEXITSTATUS(st));

    pid_t ptid = 0, ctid = 0;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PARENT_SETTID | CLONE_CHILD_SETTID;
    ca.parent_tid = (uintptr_t)&ptid;
    ca.child_tid = (uintptr_t)&ctid;
    ca.exit_signal = SIGCHLD;
    c = clone3_raw(&ca, sizeof ca);
    if (c == 0)
        _exit(ctid == getpid() ? 0 : 1);
    MUST(c);
    MUST(waitpid(c, &st, 0));
    T("CLONE_PARENT_SETTID wrote the child's pid", ptid == c);
    T("CLONE_CHILD_SETTID wrote it in the child", WEXITSTATUS(st) == 0);

    /* the kernel keeps every register but rax, rcx and r11 across a syscall */
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    long rdi = (long)&ca, rsi = sizeof ca, rdx = 0x1234, ret = SYS_clone3;
    register long r10 asm("r10") = 0x1010;
    register long r8 asm("r8") = 0x808;
    register long r9 asm("r9") = 0x909;
    asm volatile("syscall"
                 : "+a"(ret), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+r"(r10), "+r"(r8), "+r"(r9)
                 :
                 : "rcx", "r11", "memory");
    int kept = rdi == (long)&ca && rsi == sizeof ca && rdx == 0x1234 && r10 == 0x1010 &&
               r8 == 0x808 && r9 == 0x909;
    if (ret == 0)
        _exit(kept ? 0 : 1);
    MUST(ret);
    T("registers kept in the parent", kept);
    MUST(waitpid(ret, &st, 0));
    T("registers kept in the child", WEXITSTATUS(st) == 0);

    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    R("size below CLONE_ARGS_SIZE_VER0", clone3_raw(&ca, 32));
    R("NULL args", syscall(SYS_clone3, NULL, sizeof ca));
    ca.exit_signal = 0x1ff;
    R("exit_signal out of range", clone3_raw(&ca, sizeof ca));
    ca.exit_signal = SIGCHLD;
    ca.flags = SIGCHLD;
    R("CSIGNAL bits in flags", clone3_raw(&ca, sizeof ca));
    ca.flags = 0;
    ca.stack = 0x1000;
    R("a stack without a size", clone3_raw(&ca, sizeof ca));
    ca.stack = 0;
    ca.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
    R("exit_signal with CLONE_THREAD", clone3_raw(&ca, sizeof ca));
    ca.flags = 0;
    ca.flags = CLONE_SIGHAND;
    ca.exit_signal = SIGCHLD;
    R("CLONE_SIGHAND without CLONE_VM", clone3_raw(&ca, sizeof ca));
    char big[sizeof ca + 16];
    memset(big, 0, sizeof big);
    memcpy(big, &ca, sizeof ca);
    ((struct clone_args *)big)->flags = 0;
    big[sizeof ca + 3] = 1;
    R("a bigger struct with a field set", syscall(SYS_clone3, big, sizeof big));
    return 0;
}
