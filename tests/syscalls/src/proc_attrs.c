/* proc_attrs.c -- per-task attributes: personality (query, set, inherited by fork, kept
 * by exec), syslog without CAP_SYSLOG/CAP_SYS_ADMIN (every action EPERM with
 * dmesg_restrict 1) and the argument checks that come first with them, ioprio_get/set
 * (unset, classes, levels, inheritance; not by pgrp or user, which natively
 * reach processes outside the test), sched_getattr/setattr
 * (sizes, E2BIG, flags, nice, KEEP_*, RESET_ON_FORK), get_robust_list of the caller, a
 * child, a missing pid and, after the child drops its ids, of root (EPERM). */
#include "check.h"
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#include <stdint.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

struct attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t prio;
    uint64_t runtime, deadline, period;
    uint32_t umin, umax;
};

static long getattr(pid_t pid, struct attr *a, unsigned size)
{
    return syscall(SYS_sched_getattr, pid, a, size, 0);
}

static long setattr(pid_t pid, struct attr *a) { return syscall(SYS_sched_setattr, pid, a, 0); }

static void show_attr(const char *label, pid_t pid)
{
    struct attr a;
    memset(&a, 0xab, sizeof a);
    long r = getattr(pid, &a, sizeof a);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: size %u policy %u flags %llu nice %d prio %u\n", label, a.size, a.policy,
               (unsigned long long)a.flags, a.nice, a.prio);
}

#define IOPRIO(c, l) (((c) << 13) | (l))
static long ioget(int which, int who) { return syscall(SYS_ioprio_get, which, who); }
static long ioset(int which, int who, int p) { return syscall(SYS_ioprio_set, which, who, p); }

static void drop_syslog_caps(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    MUST(syscall(SYS_capget, &h, d));
    d[0].effective &= ~(1u << CAP_SYS_ADMIN);
    d[1].effective &= ~(1u << (CAP_SYSLOG - 32));
    MUST(syscall(SYS_capset, &h, d));
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[2], "exec") == 0) {
        out_init();
        R("exec: personality kept", personality(0xffffffff));
        return 0;
    }
    enter_workdir(argc, argv);

    /* personality */
    R("personality query", personality(0xffffffff));
    R("set ADDR_NO_RANDOMIZE", personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    R("query", personality(0xffffffff));
    pid_t p = fork();
    if (p == 0) {
        R("child: inherited", personality(0xffffffff));
        fflush(stdout);
        _exit(0);
    }
    int st;
    MUST(waitpid(p, &st, 0));
    p = fork();
    if (p == 0) {
        execl("/proc/self/exe", argv[0], argv[1], "exec", (char *)NULL);
        _exit(99);
    }
    MUST(waitpid(p, &st, 0));
    R("exec child status", st);
    R("set SHORT_INODE|WHOLE_SECONDS", personality(PER_LINUX | SHORT_INODE | WHOLE_SECONDS));
    R("back to PER_LINUX", personality(PER_LINUX));
    R("query", personality(0xffffffff));

    /* ioprio */
    R("ioprio_get self (unset)", ioget(1, 0));
    R("ioprio_set BE 3", ioset(1, 0, IOPRIO(2, 3)));
    R("ioprio_get", ioget(1, 0));
    R("ioprio_get by pid", ioget(1, getpid()));
    R("ioprio_set IDLE", ioset(1, 0, IOPRIO(3, 0)));
    R("ioprio_get", ioget(1, 0));
    R("ioprio_set NONE", ioset(1, 0, IOPRIO(0, 0)));
    R("ioprio_get (unset again)", ioget(1, 0));
    R("ioprio_set NONE level 1", ioset(1, 0, IOPRIO(0, 1)));
    R("ioprio_set class 4", ioset(1, 0, IOPRIO(4, 0)));
    R("ioprio_set class 7", ioset(1, 0, IOPRIO(7, 0)));
    R("ioprio_set which 9", ioset(9, 0, IOPRIO(2, 0)));
    R("ioprio_get which 9", ioget(9, 0));
    R("ioprio_get no pid", ioget(1, 999999));
    R("ioprio_set no pid", ioset(1, 999999, IOPRIO(2, 0)));
    MUST(setpriority(PRIO_PROCESS, 0, 10));
    R("ioprio_get after nice 10", ioget(1, 0));
    MUST(setpriority(PRIO_PROCESS, 0, 0));
    R("ioprio_set BE 6", ioset(1, 0, IOPRIO(2, 6)));
    R("ioprio_get", ioget(1, 0));
    p = fork();
    if (p == 0) {
        R("child: ioprio inherited", ioget(1, 0));
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(p, &st, 0));
    R("ioprio_set RT 0 as root", ioset(1, 0, IOPRIO(1, 0)));
    R("ioprio_get", ioget(1, 0));
    MUST(ioset(1, 0, IOPRIO(0, 0)));

    /* sched_getattr/sched_setattr */
    show_attr("getattr self", 0);
    struct attr a;
    R("getattr size 47", getattr(0, &a, 47));
    R("getattr size 4097", getattr(0, &a, 4097));
    R("getattr flags 1", syscall(SYS_sched_getattr, 0, &a, sizeof a, 1));
    R("getattr NULL", getattr(0, NULL, sizeof a));
    R("getattr pid -1", getattr(-1, &a, sizeof a));
    R("getattr no pid", getattr(999999, &a, sizeof a));
    memset(&a, 0xab, sizeof a);
    R("getattr size 48", getattr(0, &a, 48));
    R("size field", a.size);
    T("byte 48 untouched", ((unsigned char *)&a)[48] == 0xab);
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.policy = SCHED_BATCH;
    a.nice = 5;
    R("setattr BATCH nice 5", setattr(0, &a));
    show_attr("getattr", 0);
    R("getpriority", getpriority(PRIO_PROCESS, 0));
    R("sched_getscheduler", sched_getscheduler(0));
    a.policy = SCHED_OTHER;
    a.nice = 100;
    R("setattr nice 100 (clamped)", setattr(0, &a));
    show_attr("getattr", 0);
    a.flags = 0x08 | 0x10; /* KEEP_POLICY | KEEP_PARAMS */
    a.policy = SCHED_IDLE;
    a.nice = 0;
    R("setattr KEEP_*", setattr(0, &a));
    show_attr("getattr", 0);
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.flags = 1; /* RESET_ON_FORK */
    a.nice = -5;
    R("setattr RESET_ON_FORK nice -5", setattr(0, &a));
    show_attr("getattr", 0);
    p = fork();
    if (p == 0) {
        show_attr("child: getattr", 0);
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(p, &st, 0));
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    R("setattr back to normal", setattr(0, &a));
    show_attr("getattr", 0);
    a.policy = 99;
    R("setattr policy 99", setattr(0, &a));
    a.policy = (uint32_t)-1;
    R("setattr policy -1", setattr(0, &a));
    a.policy = SCHED_OTHER;
    a.prio = 5;
    R("setattr OTHER prio 5", setattr(0, &a));
    a.prio = 0;
    a.flags = 0x100;
    R("setattr flags 0x100", setattr(0, &a));
    a.flags = 0;
    a.policy = SCHED_FIFO;
    R("setattr FIFO prio 0", setattr(0, &a));
    a.policy = SCHED_DEADLINE;
    R("setattr DEADLINE zero", setattr(0, &a));
    a.policy = SCHED_OTHER;
    a.size = 40;
    R("setattr size 40", setattr(0, &a));
    R("size written back", a.size);
    struct {
        struct attr a;
        char extra[8];
    } big;
    memset(&big, 0, sizeof big);
    big.a.size = sizeof big;
    R("setattr bigger, zero tail", setattr(0, &big.a));
    big.a.size = sizeof big;
    big.extra[3] = 1;
    R("setattr bigger, nonzero tail", setattr(0, &big.a));
    R("size written back", big.a.size);
    memset(&a, 0, sizeof a);
    a.size = 0;
    R("setattr size 0 (VER0)", setattr(0, &a));
    R("setattr NULL", setattr(0, NULL));
    R("setattr flags arg", syscall(SYS_sched_setattr, 0, &a, 1));
    a.size = sizeof a;
    R("setattr no pid", setattr(999999, &a));

    /* get_robust_list */
    void *head;
    size_t len;
    MUST(syscall(SYS_get_robust_list, 0, &head, &len));
    R("own len", len);
    T("own head set (by glibc)", head != NULL);
    R("no pid", syscall(SYS_get_robust_list, 999999, &head, &len));
    R("EFAULT", syscall(SYS_get_robust_list, 0, (void *)8, &len));
    int pfd[2], qfd[2];
    MUST(pipe(pfd));
    MUST(pipe(qfd));
    pid_t parent = getpid();
    p = fork();
    if (p == 0) {
        char c;
        void *h;
        size_t l;
        R("child: parent's", syscall(SYS_get_robust_list, parent, &h, &l));
        MUST(setresgid(1000, 1000, 1000));
        MUST(setresuid(1000, 1000, 1000));
        R("child: parent's as uid 1000", syscall(SYS_get_robust_list, parent, &h, &l));
        fflush(stdout);
        MUST(write(qfd[1], "x", 1));
        MUST(read(pfd[0], &c, 1));
        _exit(0);
    }
    char c;
    MUST(read(qfd[0], &c, 1));
    void *ch;
    R("child's", syscall(SYS_get_robust_list, p, &ch, &len));
    T("child's head is ours (fork)", ch == head);
    MUST(write(pfd[1], "x", 1));
    MUST(waitpid(p, &st, 0));

    /* syslog: argument checks need the privilege first */
    p = fork();
    if (p == 0) {
        drop_syslog_caps();
        char buf[64];
        R("syslog SIZE_BUFFER", syscall(SYS_syslog, 10, NULL, 0));
        R("syslog READ_ALL", syscall(SYS_syslog, 3, buf, sizeof buf));
        R("syslog OPEN", syscall(SYS_syslog, 1, NULL, 0));
        R("syslog bad action", syscall(SYS_syslog, 77, NULL, 0));
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(p, &st, 0));
    R("syslog CLOSE", syscall(SYS_syslog, 0, NULL, 0));
    R("syslog OPEN", syscall(SYS_syslog, 1, NULL, 0));
    R("syslog READ NULL", syscall(SYS_syslog, 2, NULL, 10));
    R("syslog READ_ALL len -1", syscall(SYS_syslog, 3, &c, -1));
    R("syslog CONSOLE_LEVEL 0", syscall(SYS_syslog, 8, NULL, 0));
    R("syslog CONSOLE_LEVEL 9", syscall(SYS_syslog, 8, NULL, 9));
    R("syslog bad action", syscall(SYS_syslog, 77, NULL, 0));
    T("syslog SIZE_BUFFER > 0", syscall(SYS_syslog, 10, NULL, 0) > 0);
    return 0;
}
