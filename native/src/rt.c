/* runsc-py native runtime.
 *
 * - rt_spawn_task: start a task, the sandbox's first (fresh namespaces, empty
 *   root) or one joining it (exec), with its own seccomp filter and
 *   user-notification listener, and exec of the stub.
 * - rt_next_event: the event loop.  One epoll over the seccomp listener, a
 *   signalfd(SIGCHLD) for ptrace events and the sentry's host fds.  Trapped
 *   syscalls with a C fast handler are answered here; everything else is
 *   returned to Python.  cffi releases the GIL around every call.
 * - ptrace, register and memory helpers, syscall injection.
 *
 * The sentry is single-threaded: every function here runs on the loop thread,
 * so the tables need no locks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <time.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef PTRACE_EVENT_SECCOMP
#define PTRACE_EVENT_SECCOMP 7
#endif

/* The host fd under which every workload process holds the stub image. */
#define STUB_FD 1000

/* ------------------------------------------------------------ task start */

static int write_all(int fd, const void *b, size_t n)
{
    const char *p = b;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r; n -= (size_t)r;
    }
    return 0;
}

/* A system call without libc, for what a task runs between its clone and its exec
 * (child_setup).  A task made with CLONE_VM shares the caller's memory, thread-local
 * storage included: libc's errno and its thread descriptor (which read and write
 * update around a blocking call) are the caller's, and rt_spawn_begin's caller goes
 * on running while the task sets itself up.  Returns -errno on failure. */
static inline long rsys(long nr, long a1, long a2, long a3, long a4, long a5)
{
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

#define RSYS(nr, a1, a2, a3, a4, a5) \
    rsys((nr), (long)(a1), (long)(a2), (long)(a3), (long)(a4), (long)(a5))

/* End the task with exit status code (100+step: which step failed). */
static __attribute__((noreturn)) void child_exit(int code)
{
    for (;;) RSYS(SYS_exit_group, code, 0, 0, 0, 0);
}

static int child_write_all(int fd, const void *b, size_t n)
{
    const char *p = b;
    while (n) {
        long r = RSYS(SYS_write, fd, p, n, 0, 0);
        if (r == -EINTR) continue;
        if (r <= 0) return -1;
        p += r; n -= (size_t)r;
    }
    return 0;
}

/* Give up every host privilege for good: the workload's host process runs as
 * host_id:host_id (an id no host user has, see Kernel.host_id), in no
 * supplementary group, with empty capability sets, bounding set included, so
 * a process that got past the filter holds nothing root would.  The sandbox's
 * own credentials are the sentry's books, not these.  The caller has done
 * everything that needs privilege (mounts, pivot_root, setns); the sentry,
 * host root, still traces it and sets its limits from outside.  Raw
 * syscalls: the child of a raw clone must not go through libc's setxid
 * broadcast to other threads. */
static void drop_privileges(unsigned int host_id)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    if (host_id == 0) child_exit(125);
    /* The bounding set first (dropping needs CAP_SETPCAP): past the last
     * capability the kernel knows, PR_CAPBSET_DROP says EINVAL. */
    for (int cap = 0; cap < 64; cap++) {
        long r = RSYS(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
        if (r == 0) continue;
        if (r == -EINVAL) break;
        child_exit(125);
    }
    if (RSYS(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) child_exit(126);
    if (RSYS(SYS_setgroups, 0, NULL, 0, 0, 0) < 0) child_exit(127);
    if (RSYS(SYS_setresgid, host_id, host_id, host_id, 0, 0) < 0) child_exit(128);
    /* Leaving uid 0 clears the permitted, effective and ambient sets; the
     * inheritable one stays, so capset empties all three. */
    if (RSYS(SYS_setresuid, host_id, host_id, host_id, 0, 0) < 0) child_exit(129);
    memset(data, 0, sizeof data);
    if (RSYS(SYS_capset, &hdr, data, 0, 0, 0) < 0) child_exit(130);
    /* No way back. */
    if (RSYS(SYS_setresuid, 0, 0, 0, 0, 0) == 0 || RSYS(SYS_setresgid, 0, 0, 0, 0, 0) == 0)
        child_exit(131);
}

/* Runs in the child between clone and exec: system calls through rsys only (no
 * libc call that could touch errno or the thread descriptor; memset writes only
 * the child's stack).  Exit codes 100+step say which step failed (rt_spawn_end
 * reports them). */
static void child_setup(int syncfd, int stub_fd, struct sock_fprog *prog, int joined,
                        unsigned int host_id, int early_drop, int ackfd)
{
    static const char *const dirs[] = {"/mnt", "/tmp", "/run", "/var", NULL};
    char c;
    int i;
    long r;

    if (RSYS(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_exit(101);
    /* A host process group of its own: a terminal's ^C reaches the sentry only,
     * which passes it to the sandbox's foreground group (Kernel._terminal_signal). */
    if (RSYS(SYS_setpgid, 0, 0, 0, 0, 0) < 0) child_exit(117);
    /* The workload starts like a container's init: default dispositions (the
     * sentry, a Python process, ignores SIGPIPE, and ignored signals survive
     * exec) and an empty mask (the sentry blocks SIGCHLD for its signalfd).
     * The kernel's sigaction: handler, flags, restorer, mask (8 bytes). */
    struct { unsigned long handler, flags, restorer, mask; } dfl = {0, 0, 0, 0};
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            RSYS(SYS_rt_sigaction, sig, &dfl, NULL, 8, 0);
    unsigned long none = 0;
    if (RSYS(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8, 0) < 0) child_exit(116);
    if (early_drop) {
        /* Made by the supervisor for a sentry that has confined itself: the
         * sentry, host_id without capabilities, can seize only a process of
         * its own uid that is dumpable. */
        drop_privileges(host_id);
        if (RSYS(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) child_exit(118);
        /* A change of credentials clears the parent-death signal. */
        if (RSYS(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_exit(101);
        /* Only now may the sentry try to seize it. */
        if (child_write_all(ackfd, "d", 1) < 0) child_exit(119);
    }
    /* Wait until the sentry has attached; EOF means it died. */
    while ((r = RSYS(SYS_read, syncfd, &c, 1, 0, 0)) == -EINTR) {}
    if (r != 1) child_exit(102);
    /* A process joining a running sandbox already has its empty root (setns
     * into init's mount namespace made it the root and the cwd). */
    if (joined) goto root_done;
    if (RSYS(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_exit(103);
    for (i = 0; dirs[i]; i++)
        if (RSYS(SYS_mount, "none", dirs[i], "tmpfs", MS_NOSUID | MS_NODEV,
                 "size=4k,mode=0555") == 0)
            break;
    if (!dirs[i]) child_exit(104);
    if (RSYS(SYS_chdir, dirs[i], 0, 0, 0, 0) < 0) child_exit(105);
    if (RSYS(SYS_pivot_root, ".", ".", 0, 0, 0) < 0) child_exit(106);
    if (RSYS(SYS_umount2, ".", MNT_DETACH, 0, 0, 0) < 0) child_exit(107);
    if (RSYS(SYS_chdir, "/", 0, 0, 0, 0) < 0) child_exit(108);
    if (RSYS(SYS_mount, "none", "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
             NULL) < 0)
        child_exit(109);
root_done:
    if (RSYS(SYS_dup2, stub_fd, STUB_FD, 0, 0, 0) < 0) child_exit(110);
    if (RSYS(SYS_close_range, 0, STUB_FD - 1, 0, 0, 0) < 0) child_exit(111);
    if (RSYS(SYS_close_range, STUB_FD + 1, ~0U, 0, 0, 0) < 0) child_exit(112);
    if (!early_drop) {
        drop_privileges(host_id);
        if (RSYS(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_exit(101);
    }
    if (RSYS(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_exit(113);
    long lfd = RSYS(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                    prog, 0, 0);
    if (lfd < 0) child_exit(114);
    /* The filter traces execveat: the sentry sees this stop, takes the
     * listener from r9 with pidfd_getfd, and lets the exec of the stub run.
     * (execveat has five arguments; r9 is this task's, read by the sentry.) */
    register long r9 __asm__("r9") = lfd;
    long ret;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = AT_EMPTY_PATH;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_execveat), "D"((long)STUB_FD), "S"(""), "d"(0L),
                       "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    (void)ret;
    child_exit(115);
}

/* The namespaces a joining process enters, in this order: the pid namespace
 * applies to its children only, the mount namespace comes last (it changes
 * root and cwd). */
static const int join_types[RT_JOIN_NS] = {
    CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWNS,
};

struct child_args {
    int syncfd, stub_fd, early_drop, ackfd;
    struct sock_fprog *prog;
    unsigned int host_id;
    struct sock_fprog fprog;        /* the filter, copied: see spawn_child */
    struct sock_filter insns[];
};

static int child_main(void *arg)
{
    struct child_args *a = arg;
    child_setup(a->syncfd, a->stub_fd, a->prog, 0, a->host_id, a->early_drop, a->ackfd);
    return 0;  /* not reached */
}

/* The mapping of a task made with CLONE_VM (spawn_child) until its exec: its arguments
 * and a copy of its filter (at most BPF_MAXINSNS instructions) at the low end, its stack
 * (at least CHILD_STACK) above them. */
#define CHILD_STACK (64 * 1024)
#define CHILD_MAP (CHILD_STACK + 36 * 1024)

/* Start a task: in fresh namespaces (nsflags), or, when join_fds is given, in
 * the namespaces of a running sandbox (pid, ipc, uts, net, mnt fds), as a
 * child of the caller all the same: an intermediate process enters the
 * namespaces and makes the task with CLONE_PARENT, so the task is the
 * sentry's child inside the sandbox's pid namespace (its getppid() is 0
 * there, like a runc exec'd process). */
static int spawn_child(int nsflags, const int *join_fds, int syncfd, int stub_fd,
                       struct sock_fprog *prog, unsigned int host_id, int early_drop,
                       int ackfd, void **out_stack)
{
    *out_stack = NULL;
    if (!join_fds) {
        /* CLONE_VM: the child runs in the caller's memory, on a stack of its own, until
         * its exec of the stub; a fork would copy the page tables of the whole sentry
         * (tens of MB: most of the clone's time), its exec tear the copy down, and every
         * page the sentry writes afterwards take a copy-on-write fault.  Not CLONE_VFORK:
         * the caller must seize the child while it waits on syncfd.  child_setup touches
         * nothing of the caller's but what it is given (read-only) and makes raw calls or
         * libc wrappers that set only errno, and only when it then exits. */
        if (prog->len > BPF_MAXINSNS) return -EINVAL;
        void *stack = mmap(NULL, CHILD_MAP, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) return -errno;
        /* The arguments at the stack's far end, the filter with them: this frame (and,
         * with rt_spawn_begin, the caller's copy of the filter) may be gone when the
         * child reads them. */
        struct child_args *a = stack;
        *a = (struct child_args){syncfd, stub_fd, early_drop, ackfd, &a->fprog, host_id,
                                 {prog->len, a->insns}};
        memcpy(a->insns, prog->filter, prog->len * sizeof(struct sock_filter));
        /* Every signal blocked until child_setup has set the default dispositions (then
         * it unblocks them): a handler of the caller's (Python's) run by the child would
         * write to the caller's memory. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int pid = clone(child_main, (char *)stack + CHILD_MAP, CLONE_VM | nsflags | SIGCHLD, a);
        int err = -errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid < 0) {
            munmap(stack, CHILD_MAP);
            return err;
        }
        *out_stack = stack;
        return pid;
    }
    int pp[2], mid, st, task = -1;
    if (pipe2(pp, O_CLOEXEC) < 0) return -errno;
    mid = (int)syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
    if (mid < 0) { int err = -errno; close(pp[0]); close(pp[1]); return err; }
    if (mid == 0) {
        close(pp[0]);
        for (int i = 0; i < RT_JOIN_NS; i++)
            if (setns(join_fds[i], join_types[i]) < 0) _exit(120 + i);
        int pid = (int)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0, 0, 0, 0);
        if (pid == 0) { close(pp[1]); child_setup(syncfd, stub_fd, prog, 1, host_id, early_drop, ackfd); }
        if (pid < 0 || write_all(pp[1], &pid, sizeof pid) < 0) _exit(119);
        _exit(0);
    }
    close(pp[1]);
    if (read(pp[0], &task, sizeof task) != sizeof task) task = -1;
    close(pp[0]);
    while (waitpid(mid, &st, __WALL) < 0 && errno == EINTR) {}
    if (task <= 0)
        return WIFEXITED(st) && WEXITSTATUS(st) ? -(1000 + WEXITSTATUS(st)) : -EPROTO;
    return task;
}

static int set_rlimits(int pid, const uint64_t *rlimits, int nrlimits, int *out_bad_rlimit)
{
    *out_bad_rlimit = -1;
    for (int i = 0; i < nrlimits; i++) {
        struct rlimit64 lim = {rlimits[3 * i + 1], rlimits[3 * i + 2]};
        if (prlimit64(pid, (int)rlimits[3 * i], &lim, NULL) < 0) {
            *out_bad_rlimit = i;
            return -errno;
        }
    }
    return 0;
}

#define SEIZE_OPTIONS (PTRACE_O_EXITKILL | PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | \
                       PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC)

/* The tracer's half, once the child is seized: let it go on, take its
 * listener at the execveat stop, and leave it at the exec event of the stub.
 * Closes syncfd; on failure kills the child. */
static int attach_wait(int pid, int *out_listener);

/* Let the seized task go on (its setup, the exec of the stub) and wait for it there. */
static int attach_tail(int pid, int syncfd, int *out_listener)
{
    int err = write_all(syncfd, "g", 1) < 0 ? -EIO : 0;
    close(syncfd);
    if (err < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, __WALL);
        return err;
    }
    return attach_wait(pid, out_listener);
}

/* Wait for a seized task that was let go on at its two stops: its execveat of the stub
 * (the filter's listener taken from it) and the exec event.  On failure it is killed
 * and reaped. */
static int attach_wait(int pid, int *out_listener)
{
    int st, err;
    struct user_regs_struct regs;

    /* 1: the execveat seccomp stop. */
    if (waitpid(pid, &st, __WALL) != pid) { err = -errno; goto fail; }
    if (!WIFSTOPPED(st) || (st >> 8) != (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
        err = WIFEXITED(st) ? -(1000 + WEXITSTATUS(st)) : -EPROTO;
        goto fail;
    }
    if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0) { err = -errno; goto fail; }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) { err = -errno; goto fail; }
    int lfd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)regs.r9, 0);
    err = -errno;
    close(pidfd);
    if (lfd < 0) goto fail;
    /* Same-CPU hand-off between the workload and the sentry. */
    if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0) {
        err = -errno; close(lfd); goto fail;
    }
    if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) { err = -errno; close(lfd); goto fail; }
    /* 2: the exec event of the stub; the loader takes it from here. */
    if (waitpid(pid, &st, __WALL) != pid) { err = -errno; close(lfd); goto fail; }
    if (!WIFSTOPPED(st) || (st >> 8) != (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
        err = WIFEXITED(st) ? -(1000 + WEXITSTATUS(st)) : -EPROTO;
        close(lfd);
        goto fail;
    }
    *out_listener = lfd;
    return 0;
fail:
    kill(pid, SIGKILL);
    waitpid(pid, NULL, __WALL);
    return err;
}

int rt_spawn_task(int stub_fd, const void *bpf, int bpf_len, int nsflags, const int *join_fds,
                  unsigned int host_id, const uint64_t *rlimits, int nrlimits,
                  int *out_pid, int *out_listener, int *out_bad_rlimit)
{
    void *stack;
    int err = rt_spawn_begin(stub_fd, bpf, bpf_len, nsflags, join_fds, host_id, rlimits,
                             nrlimits, out_pid, &stack, out_bad_rlimit);
    if (err < 0) return err;
    return rt_spawn_end(*out_pid, stack, out_listener);
}

int rt_spawn_begin(int stub_fd, const void *bpf, int bpf_len, int nsflags, const int *join_fds,
                   unsigned int host_id, const uint64_t *rlimits, int nrlimits,
                   int *out_pid, void **out_stack, int *out_bad_rlimit)
{
    struct sock_fprog prog;
    int sync[2], pid, err;
    void *stack;

    *out_bad_rlimit = -1;
    *out_stack = NULL;
    if (bpf_len <= 0 || bpf_len % (int)sizeof(struct sock_filter)) return -EINVAL;
    prog.len = (unsigned short)(bpf_len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)bpf;
    if (pipe2(sync, O_CLOEXEC) < 0) return -errno;

    pid = spawn_child(nsflags, join_fds, sync[0], stub_fd, &prog, host_id, 0, -1, &stack);
    close(sync[0]);
    if (pid < 0) { close(sync[1]); return pid; }
    if (ptrace(PTRACE_SEIZE, pid, 0, SEIZE_OPTIONS) < 0) {
        err = -errno;
        goto fail;
    }
    /* Resource limits (resource, soft, hard triples) go on while the child is
     * still root like the sentry: once it has dropped to host_id, a prlimit on
     * it would need CAP_SYS_RESOURCE in the sentry. */
    err = set_rlimits(pid, rlimits, nrlimits, out_bad_rlimit);
    if (err < 0) goto fail;
    err = write_all(sync[1], "g", 1) < 0 ? -EIO : 0;
    if (err < 0) goto fail;
    close(sync[1]);
    *out_pid = pid;
    *out_stack = stack;
    return 0;
fail:
    close(sync[1]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, __WALL);
    if (stack) munmap(stack, CHILD_MAP);
    return err;
}

int rt_spawn_end(int pid, void *stack, int *out_listener)
{
    int err = attach_wait(pid, out_listener);
    /* The child has exec'd (its own memory now) or is dead and reaped. */
    if (stack) munmap(stack, CHILD_MAP);
    return err;
}

void rt_spawn_abandon(int pid, void *stack)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, __WALL);
    if (stack) munmap(stack, CHILD_MAP);
}

/* The supervisor's half of starting a task that joins a running sandbox
 * (exec) for a sentry that has confined itself: the task is the caller's
 * child, already host_id and dumpable, with its resource limits, waiting on
 * *out_sync for the sentry to seize it (rt_spawn_attach). */
int rt_spawn_prepare(int stub_fd, const void *bpf, int bpf_len, const int *join_fds,
                     unsigned int host_id, const uint64_t *rlimits, int nrlimits,
                     int *out_pid, int *out_sync, int *out_bad_rlimit)
{
    struct sock_fprog prog;
    int sync[2], ack[2], pid, err;
    char c;
    ssize_t n;

    *out_bad_rlimit = -1;
    if (!join_fds) return -EINVAL;
    if (bpf_len <= 0 || bpf_len % (int)sizeof(struct sock_filter)) return -EINVAL;
    prog.len = (unsigned short)(bpf_len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)bpf;
    if (pipe2(sync, O_CLOEXEC) < 0) return -errno;
    if (pipe2(ack, O_CLOEXEC) < 0) { err = -errno; close(sync[0]); close(sync[1]); return err; }
    void *stack;
    pid = spawn_child(0, join_fds, sync[0], stub_fd, &prog, host_id, 1, ack[1], &stack);
    close(sync[0]);
    close(ack[1]);
    if (pid < 0) { close(ack[0]); close(sync[1]); return pid; }
    /* The sentry may seize it once it has dropped to host_id (EOF: it died). */
    while ((n = read(ack[0], &c, 1)) < 0 && errno == EINTR) {}
    close(ack[0]);
    if (n != 1) {
        close(sync[1]); kill(pid, SIGKILL);
        if (waitpid(pid, &err, __WALL) == pid && WIFEXITED(err) && WEXITSTATUS(err))
            return -(1000 + WEXITSTATUS(err));
        return -EPROTO;
    }
    err = set_rlimits(pid, rlimits, nrlimits, out_bad_rlimit);
    if (err < 0) {
        close(sync[1]); kill(pid, SIGKILL); waitpid(pid, NULL, __WALL);
        return err;
    }
    *out_pid = pid;
    *out_sync = sync[1];
    return 0;
}

/* The sentry's half: seize the task rt_spawn_prepare made, let it go on
 * (closes syncfd) and take its listener; the task is then stopped at the exec
 * event of the stub, as after rt_spawn_task. */
int rt_spawn_attach(int pid, int syncfd, int *out_listener)
{
    if (ptrace(PTRACE_SEIZE, pid, 0, SEIZE_OPTIONS) < 0) {
        int err = -errno;
        close(syncfd);
        kill(pid, SIGKILL);
        return err;
    }
    return attach_tail(pid, syncfd, out_listener);
}

/* ------------------------------------------------------------ fast tables */

#define SC_STAT 144                 /* struct stat on x86-64 */
#define TASK_SLOTS 65536            /* open addressing, host tids */
/* exe: readlink("/proc/self/exe")'s answer for the task, while neither stat cache
 * generation has moved since Python gave it (rt_task_set_exe); NULL: Python answers. */
struct task_slot {
    int32_t host;
    struct rt_task_info info;
    char *exe;
    uint32_t exe_len, exe_gen, exe_ngen;
};
static struct task_slot tasks[TASK_SLOTS];

#define MAX_FDT 4096
#define FDT_SIZE 1024
/* dev/uid/gid: what the sandbox's fstat shows instead of the host's (the
 * sentry's device number, the sandbox owner); the rest is the host fd's. */
/* A kept directory's getdents64 records, shared by its entry in the stat cache and
 * every fd C opened it at (refs). */
struct dirc_recs {
    uint32_t refs, len;
    unsigned char data[];
};

static void recs_unref(struct dirc_recs *r)
{
    if (r && --r->refs == 0) free(r);
}

/* RT_FD_DIRC: a directory C opened (sc_open_dir), which Python has no description of yet:
 * its getdents64 records, where the reader is, and what Python needs to make the
 * description when it must (rt_dirc_info). */
#define DIRC_FDS RT_DIRC_FDS       /* fds one such description may have (dups in C) */
struct dirc {
    uint64_t serial;               /* its entry in the opened ring */
    int32_t tid;                   /* the host tid of the task that opened it */
    int32_t flags;                 /* the open's flags */
    uint32_t pos, index;           /* the next record's offset and index */
    int32_t plen;
    char *path;
    struct dirc_recs *recs;
    /* the fds it is open at (F_DUPFD in C shares it), with their close-on-exec flag */
    int32_t nfds;
    struct { int32_t fd, cloexec; } fds[DIRC_FDS];
};
/* RT_FD_FILEC: a regular file C re-opened from a host fd kept for its path (sc_open_file),
 * which Python has no description of yet: the key the fd goes back under when C closes
 * it, and what Python needs to make the description when it must (rt_filec_info). */
struct filec {
    uint64_t serial;               /* its entry in the opened ring */
    uint64_t base, ino;
    int32_t tid, flags, plen;
    uint32_t gen, mode;            /* (the device and owner fstat shows: the slot's) */
    char *path;
};
struct fd_slot {
    int32_t host_fd; int32_t kinds; uint64_t dev; uint32_t uid, gid;
    /* RT_FD_BLOB/RT_FD_EOF: the stat answer Python made, valid in stat-cache
     * generation blob_gen only (a directory of the trusted lower layer), and its mount's
     * id (statx) */
    uint32_t blob_gen; uint32_t blob_mnt;
    unsigned char *blob;
    struct dirc *dc;               /* RT_FD_DIRC only */
    struct filec *fc;              /* RT_FD_FILEC only (its host fd is C's until Python
                                      makes the description) */
    /* RT_FD_BLOB: the stat cache's key prefix of the directory ("/a/b/", base with the
     * search-all bit of the tasks it was made for), valid in generation dkey_gen only: a
     * path relative to this fd is looked up as prefix + path (sc_path) */
    char *dkey;
    uint64_t dkey_base;
    uint32_t dkey_len, dkey_gen;
    struct rt_pipe *pipe;          /* RT_FD_PIPE_R/W only (Python's Pipe owns it) */
    const int32_t *nonblock;       /* RT_FD_PIPE_R/W: the description's O_NONBLOCK (its
                                      PipeDescription owns it), NULL: unknown */
};
static struct fd_slot *fdts[MAX_FDT];
/* Slots each table has: grown to the highest fd mirrored (64 at first, doubling up to
 * FDT_SIZE), so a process with a few fds costs a few KiB, not 24 (a fork bomb's
 * thousands of tables were most of the sentry's memory). */
static int fdt_cap[MAX_FDT];
/* Which fds below FDT_SIZE each table has open (Python's and C's), and its RLIMIT_NOFILE
 * (0: unknown, C opens nothing in it): C's open takes the lowest free one, as Linux. */
static uint64_t *fdt_used[MAX_FDT];
static int fdt_limit[MAX_FDT];

#define CLOSED_RING 256
static struct { int fdt, fd; } closed_ring[CLOSED_RING];
static unsigned closed_head, closed_tail;
/* Directories and files C opened, in order, for Python to make descriptions of before it handles
 * anything (rt_opened_pop); an entry whose slot no longer has its serial was closed in C
 * meanwhile and is skipped. */
#define OPENED_RING 256
static struct { int fdt, fd; uint64_t serial; } opened_ring[OPENED_RING];
static unsigned opened_head, opened_tail;
/* Take C's open *serial* back off the ring if it is the last entry there (it was closed
 * before Python saw it: the common open, read, close). */
static void opened_unpush(uint64_t serial)
{
    unsigned last = (opened_head - 1) % OPENED_RING;
    if (opened_head != opened_tail && opened_ring[last].serial == serial) opened_head--;
}
/* File mappings C lent a host fd for (fast_mmap), for Python to name in the task's
 * /proc/PID/maps before it handles anything else (rt_mapped_pop): by the description at
 * (fdt, fd), Python's (its closes come after), or, for a file C re-opened (which may
 * never get a description: ld.so opens, maps and closes a library in C), by the path it
 * was opened by, kept here. */
#define MAPPED_RING 256
static struct {
    int32_t tid, fdt, fd, flags, plen;
    uint32_t gen;
    uint64_t base, hdev, hino, serial;
    char *path;                    /* a file C re-opened: its open's path; NULL: Python's */
} mapped_ring[MAPPED_RING];
static unsigned mapped_head, mapped_tail;
/* A file C re-opens may be mapped PROT_EXEC by C: no mount a file C re-opens may be on is
 * noexec (Python's rt_filec_mapx; off: such maps are Python's, which refuses them) */
static int filec_mapx;
static uint64_t dirc_serial;
static int dirc_on;                /* C may open directories, re-open files and answer
                                      reads parked on pipes: nothing watches with inotify
                                      (rt_dirc_enable) */
static int posix_locks;            /* a classic record lock was set (rt_posix_locks) */
static void reopen_forget(uint64_t ino);
static void ahead_forget(uint64_t ino);
static const char *ahead_names;      /* the names the file expected next was found in
                                        (fetching ahead: ahead_next starts there) */

static unsigned char fast_on[512];
static uint64_t n_fast, n_slow;
/* Calls the fast handlers answered, by number (the compat report's counts). */
static uint64_t n_fast_nr[512];
/* The gofer requests C sent itself (its Tfetch) for the calls of each number, and the ns
 * C waited for their replies (the compat report's GOFER columns: rt_stat_gofer_nr).  A
 * fetch asked ahead counts for the open that asked it, and so does the wait for its reply
 * when C reads it (Python's handler time holds its own wait). */
static uint64_t n_gofer_nr[512], gofer_ns_nr[512];
static int call_nr = -1;             /* the number of the call rt_next_event serves in C */
/* ... and its notification (listener -1: a call of the tests' rt_fast_call, which C never
 * parks) */
static int call_listener = -1;
static uint64_t call_id;

static struct task_slot *task_find(int host, int create)
{
    unsigned h = ((unsigned)host * 2654435761u) & (TASK_SLOTS - 1);
    struct task_slot *tomb = NULL;
    for (unsigned i = 0; i < TASK_SLOTS; i++) {
        struct task_slot *s = &tasks[(h + i) & (TASK_SLOTS - 1)];
        if (s->host == host) return s;
        if (s->host == -1 && !tomb) tomb = s;
        if (s->host == 0) {
            if (!create) return NULL;
            return tomb ? tomb : s;
        }
    }
    return create ? tomb : NULL;
}

int rt_task_set(int host_tid, int tid, int tgid, int ppid, int fdt)
{
    struct task_slot *s;
    if (host_tid <= 0) return -EINVAL;
    s = task_find(host_tid, 1);
    if (!s) return -ENOSPC;
    if (s->host != host_tid) {        /* a new slot: no stat cache until rt_task_set_fs */
        free(s->exe);
        s->exe = NULL;
        s->info.cwd_key = 0;
        s->info.root_ok = 0;
        s->info.search_all = 0;
        s->info.ids_ok = 0;           /* and getuid & co. go to Python until rt_task_set_ids */
        s->info.access_ok = 0;        /* (its access(2) answers too) */
        s->info.stack_ok = 0;         /* and prlimit64 until rt_task_set_stack_limit */
        s->info.sa_ok = 0;            /* and rt_sigaction queries until rt_task_set_sa_forced */
    }
    s->host = host_tid;
    s->info.tid = tid; s->info.tgid = tgid; s->info.ppid = ppid; s->info.fdt = fdt;
    return 0;
}

int rt_task_set_fs(int host_tid, uint64_t cwd_key, int root_ok, int search_all)
{
    struct task_slot *s = task_find(host_tid, 0);
    if (!s) return -ENOENT;
    s->info.cwd_key = cwd_key;
    s->info.root_ok = root_ok;
    s->info.search_all = search_all;
    return 0;
}

/* The task's real and effective ids, for getuid/geteuid/getgid/getegid, and whether its
 * access(2) permission questions are C's with the capabilities access_caps
 * (RT_ACCESS_DAC_*; sc_access): set at every change Python makes to them (Credentials'
 * fields, a task's new credentials; Kernel._sync_ids says when access_ok holds: its real
 * ids are its effective and file-system ones, it has no supplementary group but its own,
 * and the capabilities access(2) uses are its effective set, so that the stat cache's
 * walk, made with those, is access's too). */
int rt_task_set_ids(int host_tid, uint32_t uid, uint32_t euid, uint32_t gid, uint32_t egid,
                    int access_ok, uint32_t access_caps)
{
    struct task_slot *s = task_find(host_tid, 0);
    if (!s) return -ENOENT;
    s->info.uid = uid; s->info.euid = euid; s->info.gid = gid; s->info.egid = egid;
    s->info.ids_ok = 1;
    s->info.access_ok = access_ok;
    s->info.access_caps = access_caps;
    return 0;
}

/* The task's process's RLIMIT_STACK as the sandbox's books have it (sys_process's
 * get_rlimit), for prlimit64(0, RLIMIT_STACK, NULL, old), which glibc makes at every
 * program's start: set when a task is registered and at each change of the limit. */
int rt_task_set_stack_limit(int host_tid, uint64_t cur, uint64_t max)
{
    struct task_slot *s = task_find(host_tid, 0);
    if (!s) return -ENOENT;
    s->info.stack_cur = cur;
    s->info.stack_max = max;
    s->info.stack_ok = 1;
    return 0;
}

/* The signals whose handler the sentry installed with a forced SA_RESTART and keeps a
 * copy of (sys_signal.sigaction_stop): a query of one of those is Python's, any other
 * the host answers; and those whose handler the workload gave SA_RESTART itself (restart,
 * tg.sa_restart). Set at registration and at every change of the process's sets. */
int rt_task_set_sa_forced(int host_tid, uint64_t mask, uint64_t restart)
{
    struct task_slot *s = task_find(host_tid, 0);
    if (!s) return -ENOENT;
    s->info.sa_forced = mask;
    s->info.sa_restart = restart;
    s->info.sa_ok = 1;
    return 0;
}

int rt_task_del(int host_tid)
{
    struct task_slot *s = task_find(host_tid, 0);
    if (!s) return -ENOENT;
    s->host = -1;   /* tombstone keeps probe chains intact */
    free(s->exe);
    s->exe = NULL;
    return 0;
}

static void dkey_free(struct fd_slot *s)
{
    free(s->dkey);
    s->dkey = NULL;
    s->dkey_len = 0;
}

/* The slot of fd no longer holds its directory: the directory is freed with its last fd
 * (and taken off the opened ring if it was the last open there). */
static void dirc_free(struct fd_slot *s, int fd)
{
    struct dirc *dc = s->dc;
    if (!dc) return;
    s->dc = NULL;
    for (int i = 0; i < dc->nfds; i++)
        if (dc->fds[i].fd == fd) {
            dc->fds[i] = dc->fds[--dc->nfds];
            break;
        }
    if (dc->nfds > 0) return;
    opened_unpush(dc->serial);
    free(dc->path);
    recs_unref(dc->recs);
    free(dc);
}

static int *dirc_cloexec(struct dirc *dc, int fd)
{
    for (int i = 0; i < dc->nfds; i++)
        if (dc->fds[i].fd == fd) return &dc->fds[i].cloexec;
    return NULL;
}

/* The slot of fd no longer holds the file C re-opened: its entry goes off the opened ring
 * if it is the last one there.  give_back: C closes it (the host fd goes back under its
 * key, at offset 0, or is closed); else Python has taken the host fd (its description
 * owns it now) or closes it itself. */
static void filec_free(struct fd_slot *s, int give_back)
{
    struct filec *fc = s->fc;
    if (!fc) return;
    s->fc = NULL;
    opened_unpush(fc->serial);
    if (give_back) {
        if (lseek(s->host_fd, 0, SEEK_SET) != 0
            || !rt_reopen_put(fc->base, (fc->flags & O_NOFOLLOW) != 0, fc->path, fc->plen,
                              fc->gen, s->host_fd, fc->ino, fc->mode, s->dev, s->uid, s->gid))
            close(s->host_fd);
    }
    free(fc->path);
    free(fc);
}

static void fd_used_set(int fdt, int fd, int on)
{
    if (fd < 0 || fd >= FDT_SIZE) return;
    if (!fdt_used[fdt]) {
        if (!on || !(fdt_used[fdt] = calloc(FDT_SIZE / 64, sizeof(uint64_t)))) return;
    }
    if (on) fdt_used[fdt][fd / 64] |= 1ULL << (fd % 64);
    else fdt_used[fdt][fd / 64] &= ~(1ULL << (fd % 64));
}

/* Python's table has fd open (on) or not: kept for C's opens (fd_lowest_free) */
int rt_fd_used(int fdt, int fd, int on)
{
    if (fdt < 0 || fdt >= MAX_FDT || fd < 0) return -EINVAL;
    fd_used_set(fdt, fd, on);
    return 0;
}

/* The table's RLIMIT_NOFILE (0: C opens nothing in it) */
int rt_fdt_set_limit(int fdt, int limit)
{
    if (fdt < 0 || fdt >= MAX_FDT || limit < 0) return -EINVAL;
    fdt_limit[fdt] = limit;
    return 0;
}

/* The lowest fd >= from that the table has free, below its limit (and FDT_SIZE); -1 */
static int fd_lowest_free_from(int fdt, int from)
{
    int lim = fdt_limit[fdt] < FDT_SIZE ? fdt_limit[fdt] : FDT_SIZE;
    const uint64_t *u = fdt_used[fdt];
    if (from < 0 || from >= lim) return -1;
    if (!u) return from;
    for (int w = from / 64; w * 64 < lim; w++) {
        uint64_t free_bits = ~u[w];
        if (w == from / 64) free_bits &= ~0ULL << (from % 64);
        if (!free_bits) continue;
        int fd = w * 64 + __builtin_ctzll(free_bits);
        return fd < lim ? fd : -1;
    }
    return -1;
}

static int fd_lowest_free(int fdt)
{
    return fd_lowest_free_from(fdt, 0);
}

/* fd's slot: a host fd's kinds, or a pipe's (p) */
static int slot_set(int fdt, int fd, int host_fd, int kinds, uint64_t dev, uint32_t uid,
                    uint32_t gid, struct rt_pipe *p)
{
    if (fdt < 0 || fdt >= MAX_FDT || fd < 0) return -EINVAL;
    if (fd >= FDT_SIZE) return 0;   /* served by Python */
    if (!fdts[fdt] || fd >= fdt_cap[fdt]) {
        int cap = fdt_cap[fdt] ? fdt_cap[fdt] : 64;
        while (cap <= fd) cap *= 2;
        struct fd_slot *grown = realloc(fdts[fdt], (size_t)cap * sizeof(struct fd_slot));
        if (!grown) return -ENOMEM;
        memset(grown + fdt_cap[fdt], 0, (size_t)(cap - fdt_cap[fdt]) * sizeof(struct fd_slot));
        fdts[fdt] = grown;
        fdt_cap[fdt] = cap;
    }
    dirc_free(&fdts[fdt][fd], fd);
    filec_free(&fdts[fdt][fd], 0);
    dkey_free(&fdts[fdt][fd]);
    fdts[fdt][fd].host_fd = host_fd;
    fdts[fdt][fd].kinds = kinds;
    fdts[fdt][fd].dev = dev;
    fdts[fdt][fd].uid = uid;
    fdts[fdt][fd].gid = gid;
    fdts[fdt][fd].blob_gen = 0;
    fdts[fdt][fd].pipe = p;
    fdts[fdt][fd].nonblock = NULL;
    return 0;
}

int rt_fd_set(int fdt, int fd, int host_fd, int kinds, uint64_t dev, uint32_t uid, uint32_t gid)
{
    if (kinds & (RT_FD_PIPE_R | RT_FD_PIPE_W)) return -EINVAL;  /* (rt_fd_set_pipe's) */
    return slot_set(fdt, fd, host_fd, kinds, dev, uid, gid, NULL);
}

int rt_fd_set_pipe(int fdt, int fd, struct rt_pipe *p, int kinds, const int32_t *nonblock)
{
    if (!p || kinds & ~(RT_FD_PIPE_R | RT_FD_PIPE_W)) return -EINVAL;
    int r = slot_set(fdt, fd, -1, kinds, 0, 0, 0, p);
    if (r == 0 && fd < fdt_cap[fdt]) fdts[fdt][fd].nonblock = nonblock;
    return r;
}

static struct fd_slot *fd_slot_of(int fdt, int fd)
{
    if (fdt < 0 || fdt >= MAX_FDT || fd < 0 || fd >= fdt_cap[fdt] || !fdts[fdt]) return NULL;
    return &fdts[fdt][fd];
}

/* The stat answer of a RT_FD_BLOB slot, for generation gen, and its mount's id. */
int rt_fd_set_blob(int fdt, int fd, const void *st, uint32_t gen, uint32_t mnt_id)
{
    struct fd_slot *s = fd_slot_of(fdt, fd);
    if (!s || !(s->kinds & RT_FD_BLOB)) return 0;
    if (!s->blob && !(s->blob = malloc(SC_STAT))) return -ENOMEM;
    memcpy(s->blob, st, SC_STAT);
    s->blob_gen = gen;
    s->blob_mnt = mnt_id;
    return 1;
}

/* The key prefix of the directory at (fdt, fd) (a RT_FD_BLOB slot), valid in generation
 * gen: paths relative to it are then looked up in the stat cache. */
int rt_fd_set_dir_key(int fdt, int fd, uint64_t base, const char *prefix, int plen,
                      uint32_t gen)
{
    struct fd_slot *s = fd_slot_of(fdt, fd);
    if (!s || !(s->kinds & RT_FD_BLOB) || plen <= 0 || plen >= 4000 || prefix[plen - 1] != '/'
        || prefix[0] != '/')
        return 0;
    char *k = malloc((size_t)plen);
    if (!k) return -ENOMEM;
    memcpy(k, prefix, (size_t)plen);
    dkey_free(s);
    s->dkey = k;
    s->dkey_len = (uint32_t)plen;
    s->dkey_base = base;
    s->dkey_gen = gen;
    return 1;
}

/* Turn RT_FD_EOF on or off for a RT_FD_BLOB slot (its description's offset is at the end
 * of its listing: getdents64 returns 0). */
int rt_fd_set_eof(int fdt, int fd, int on)
{
    struct fd_slot *s = fd_slot_of(fdt, fd);
    if (!s || !(s->kinds & RT_FD_BLOB)) return 0;
    if (on) s->kinds |= RT_FD_EOF;
    else s->kinds &= ~RT_FD_EOF;
    return 1;
}

int rt_fd_clear(int fdt, int fd)
{
    struct fd_slot *s = fd_slot_of(fdt, fd);
    if (!s) return 0;
    dirc_free(s, fd);
    filec_free(s, 0);
    dkey_free(s);
    s->kinds = 0;
    s->host_fd = 0;
    s->blob_gen = 0;
    s->pipe = NULL;
    s->nonblock = NULL;
    return 0;
}

int rt_fdt_clear(int fdt)
{
    if (fdt < 0 || fdt >= MAX_FDT) return -EINVAL;
    for (int i = 0; fdts[fdt] && i < fdt_cap[fdt]; i++) {
        free(fdts[fdt][i].blob);
        if (fdts[fdt][i].fc) {      /* a file no description took: nobody else closes it */
            filec_free(&fdts[fdt][i], 0);
            close(fdts[fdt][i].host_fd);
        }
        dirc_free(&fdts[fdt][i], i);
        dkey_free(&fdts[fdt][i]);
    }
    free(fdts[fdt]);
    fdts[fdt] = NULL;
    fdt_cap[fdt] = 0;
    free(fdt_used[fdt]);
    fdt_used[fdt] = NULL;
    fdt_limit[fdt] = 0;
    return 0;
}

/* Queue what C opened at (fdt, fd) as *serial* (the callers checked there is room). */
static void opened_push(int fdt, int fd, uint64_t serial)
{
    unsigned i = opened_head++ % OPENED_RING;
    opened_ring[i].fdt = fdt;
    opened_ring[i].fd = fd;
    opened_ring[i].serial = serial;
}

/* The next mapping C lent a host fd for (fast_mmap): the task's host tid, the fd table
 * and fd, the host file's device and inode (what /proc/PID/maps prints), and for a file C
 * re-opened the path its open named (into path[4096]; *base, *flags and *gen as in
 * rt_filec_info).  Returns 0 if there is none, else 1 + the path's length (1: none, the
 * description at (fdt, fd) is Python's). */
int rt_mapped_pop(int *tid, int *fdt, int *fd, uint64_t *hdev, uint64_t *hino, char *path,
                  uint64_t *base, int *flags, uint32_t *gen)
{
    if (mapped_head == mapped_tail) return 0;
    unsigned i = mapped_tail++ % MAPPED_RING;
    int plen = mapped_ring[i].path ? mapped_ring[i].plen : 0;
    *tid = mapped_ring[i].tid;
    *fdt = mapped_ring[i].fdt;
    *fd = mapped_ring[i].fd;
    *hdev = mapped_ring[i].hdev;
    *hino = mapped_ring[i].hino;
    *base = mapped_ring[i].base;
    *flags = mapped_ring[i].flags;
    *gen = mapped_ring[i].gen;
    if (plen) memcpy(path, mapped_ring[i].path, (size_t)plen);
    free(mapped_ring[i].path);
    mapped_ring[i].path = NULL;
    return 1 + plen;
}

void rt_filec_mapx(int on)
{
    filec_mapx = on != 0;
}

/* The next directory or file C opened, in order (rt_dirc_info or rt_filec_info tells
 * whether it is still open) */
int rt_opened_pop(int *fdt, int *fd, uint64_t *serial)
{
    if (opened_head == opened_tail) return 0;
    unsigned i = opened_tail++ % OPENED_RING;
    *fdt = opened_ring[i].fdt;
    *fd = opened_ring[i].fd;
    *serial = opened_ring[i].serial;
    return 1;
}

/* What Python needs to make the description of the directory C opened in table fdt as
 * its entry *serial*: the opener's host tid, the path (into path[4096]), the open's
 * flags, the index of the next entry, whether its reader is at the end of the records
 * (*at_end), and the fds it is open at with their close-on-exec flags (fds[DIRC_FDS],
 * cloexec[DIRC_FDS], *nfds).  Returns the path's length, 0 if it is open at no fd any
 * more (closed in C since: nothing to make). */
int rt_dirc_info(int fdt, uint64_t serial, int *tid, char *path, int *flags, uint32_t *index,
                 int *at_end, int *fds, int *cloexec, int *nfds)
{
    if (fdt < 0 || fdt >= MAX_FDT || !fdts[fdt]) return 0;
    struct dirc *dc = NULL;
    for (int i = 0; i < fdt_cap[fdt] && !dc; i++)
        if (fdts[fdt][i].dc && fdts[fdt][i].dc->serial == serial) dc = fdts[fdt][i].dc;
    if (!dc) return 0;
    *tid = dc->tid;
    memcpy(path, dc->path, (size_t)dc->plen);
    *flags = dc->flags;
    *index = dc->index;
    *at_end = dc->pos >= dc->recs->len;
    *nfds = dc->nfds;
    for (int i = 0; i < dc->nfds; i++) {
        fds[i] = dc->fds[i].fd;
        cloexec[i] = dc->fds[i].cloexec;
    }
    return dc->plen;
}

void rt_dirc_enable(int on) { dirc_on = on != 0; }

/* A process of the sandbox set a classic (POSIX) record lock: from now on a close of a fd
 * Python never saw (a file C re-opened, a directory C opened) is Python's too, since any
 * close of a file drops the closing process's locks on it (locks.release_owner). */
void rt_posix_locks(void) { posix_locks = 1; }

/* What Python needs to make the description of the file C re-opened at (fdt, fd) as its
 * entry *serial*: the opener's host tid, the path (into path[4096]), the open's flags, the
 * host fd (the description takes it), the key's base and generation and the file's inode
 * number.  Returns the
 * path's length, 0 if that fd no longer holds it (closed in C since). */
int rt_filec_info(int fdt, int fd, uint64_t serial, int *tid, char *path, int *flags,
                  int *host_fd, uint64_t *base, uint32_t *gen, uint64_t *ino)
{
    struct fd_slot *s = fd_slot_of(fdt, fd);
    if (!s || !s->fc || s->fc->serial != serial) return 0;
    struct filec *fc = s->fc;
    *tid = fc->tid;
    memcpy(path, fc->path, (size_t)fc->plen);
    *flags = fc->flags;
    *host_fd = s->host_fd;
    *base = fc->base;
    *gen = fc->gen;
    *ino = fc->ino;
    return fc->plen;
}

int rt_closed_pop(int *fdt, int *fd)
{
    if (closed_head == closed_tail) return 0;
    *fdt = closed_ring[closed_tail % CLOSED_RING].fdt;
    *fd = closed_ring[closed_tail % CLOSED_RING].fd;
    closed_tail++;
    return 1;
}

void rt_set_fast(int nr, int on)
{
    if (nr >= 0 && nr < 512) fast_on[nr] = (unsigned char)(on != 0);
}

uint64_t rt_stat_fast(void) { return n_fast; }
uint64_t rt_stat_slow(void) { return n_slow; }

int rt_stat_fast_nr(uint64_t *out, int n)
{
    if (n > 512) n = 512;
    if (n > 0) memcpy(out, n_fast_nr, (size_t)n * sizeof *out);
    return n < 0 ? 0 : n;
}

int rt_stat_gofer_nr(uint64_t *requests, uint64_t *ns, int n)
{
    if (n > 512) n = 512;
    if (n <= 0) return 0;
    memcpy(requests, n_gofer_nr, (size_t)n * sizeof *requests);
    memcpy(ns, gofer_ns_nr, (size_t)n * sizeof *ns);
    return n;
}

/* ------------------------------------------------------------ stat cache
 * newfstatat, statx and readlink results Python computed for paths whose answer
 * cannot change until the sentry changes something (sentry/vfs/statcache.py decides
 * which): the struct stat or statx bytes, a symlink's target, or a negative errno; and
 * the names of listed directories (RT_SC_DIR, sc_absent).  Keyed by (base, nofollow,
 * path): base 0 for an absolute path, else the cwd key of the task (rt_task_set_fs), with
 * bit 63 set for tasks that may search any directory.
 * Every entry carries the generation it was made in; rt_statcache_bump (any
 * change to names, attributes or mounts) makes every entry stale at once.
 * Eight ways a set: a new entry takes a stale or empty way of its set, else the one
 * used least recently.  (Direct-mapped, a tree walk's later listings evicted about a
 * quarter of the answers an earlier listing had handed over before they were asked:
 * os.walk of /usr/share/doc sent ~300 of its lstats to Python.) */

#define SC_SLOTS 32768
#define SC_WAYS 8
#define SC_STATX 256                /* struct statx */
struct sc_entry {
    uint64_t hash, base;
    uint32_t gen, len;
    uint32_t ngen;                  /* an ENOENT's of no known directory: stale once
                                       sc_ngen moves */
    uint32_t dslot, dgen;           /* an ENOENT whose directory is known: stale once
                                       sc_dgen[dslot - 1] moves, not sc_ngen (0: none) */
    int32_t err, key;               /* key: nofollow | kind << 1 (RT_SC_STAT/RT_SC_STATX) */
    uint32_t used;                  /* sc_clock when last put or found */
    uint32_t vlen;                  /* RT_SC_LINK: the target's length; RT_SC_DIR: names' */
    uint32_t cap;                   /* path's allocation */
    char *path;
    char *names;                    /* RT_SC_DIR: every name of the directory, each NUL-ended */
    unsigned char st[SC_STATX];
};
/* The entries are a pool, handed out in order; the table proper is SC_SLOTS ways in sets
 * of SC_WAYS (a hash picks the set), each way holding its entry's hash's top half and pool
 * slot (+1; 0: none yet), which it keeps for good once it has one.  So the answers of a
 * directory, put together, land on a few neighbouring pages of the pool rather than on
 * ~100 random ones of a 5 MiB table, each touched first at a page fault (~3 us on these
 * VMs: ~2,600 of them, 8 ms, in a git status); and a lookup reads one set's ways (one
 * cache line) and only the entry whose hash matches.
 *
 * Neither is left to fault a page at a time (sc_alloc, sc_pool_grow): a fresh page was
 * read before it was written (a lookup or the new entry's fields), two faults of ~1 us
 * each, and a listing's answers land in random sets: the first listing of 67 entries took
 * ~106 faults and ~175 us, python3 -I -c pass ~280 of them.  The ways (256 KiB) are
 * populated at once (~35 us) and the pool SC_POOL_CHUNK at a time as it is handed out
 * (MADV_POPULATE_WRITE, ~0.5 us a page). */
struct sc_way { uint32_t tag, slot; };
static inline uint32_t sc_tag(uint64_t h) { return (uint32_t)(h >> 32); }
static struct sc_entry *sc;
static struct sc_way *sc_ways;
static uint32_t sc_pool_used;
#define SC_POOL_CHUNK (64 << 10)
static size_t sc_pool_ready;       /* bytes of the pool populated so far */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* The pool's pages up to the entry just handed out populated, SC_POOL_CHUNK at a time (a
 * kernel without MADV_POPULATE_WRITE: they fault in as before) */
static void sc_pool_grow(void)
{
    size_t need = (size_t)sc_pool_used * sizeof *sc;
    if (need <= sc_pool_ready) return;
    size_t total = (size_t)SC_SLOTS * sizeof *sc;
    size_t len = need - sc_pool_ready + SC_POOL_CHUNK - 1;
    len -= len % SC_POOL_CHUNK;
    if (len > total - sc_pool_ready) len = total - sc_pool_ready;
    madvise((char *)sc + sc_pool_ready, len, MADV_POPULATE_WRITE);
    sc_pool_ready += len;
}
/* Each pool entry's file, by inode number: a stat or statx answer's, a listed
 * directory's (RT_SC_DIR, RT_SC_DIRC; SC_ANY_INO if Python did not say which); 0 for an
 * error or a readlink answer.  rt_statcache_forget scans these, 8 bytes an entry rather
 * than the entries' ~350. */
static uint64_t *sc_inos;
#define SC_ANY_INO UINT64_MAX
static uint32_t sc_gen = 1, sc_clock;
/* Moves when a name appears or goes (rt_statcache_appeared, rt_statcache_removed,
 * rt_statcache_bump_missing): the ENOENT answers of no known directory and the
 * /proc/self/exe answers depend on it (see statcache.appeared and removed for why the
 * answers about files that exist do not). */
static uint32_t sc_ngen = 1;
/* Per directory (by a hash of its inode number; two that share a slot share its
 * generation, which only makes more answers stale): moves when a name appears in it
 * (rt_statcache_appeared).  A kept ENOENT whose lookup failed in a known directory
 * depends on that directory's slot only: a compiler's temporary files, a build's outputs
 * and git's index.lock no longer throw away the missing headers, the include paths'
 * absent entries and every .gitignore the walks found missing. */
#define SC_DGEN 4096
static uint32_t sc_dgen[SC_DGEN];
static inline uint32_t sc_dslot(uint64_t ino)
{
    return (uint32_t)((ino * 0x9E3779B97F4A7C15ULL) >> 52);  /* 0 .. SC_DGEN - 1 */
}

/* An answer is live in its generation; an ENOENT one only until a name appears (in its
 * directory, if known).  Any other error kept is a readlink's EINVAL, about a file that
 * exists (it is kept only with that file's inode number, which forget drops): a
 * compiler's realpath of every include directory asked them again after each temporary
 * file it made. */
static inline int sc_live(const struct sc_entry *e)
{
    if (e->gen != sc_gen) return 0;
    if (e->err != -ENOENT) return 1;
    return e->dslot ? sc_dgen[e->dslot - 1] == e->dgen : e->ngen == sc_ngen;
}
/* Bytes of every RT_SC_DIR entry's names: at most SC_NAMES_BUDGET (a workload listing many
 * directories gets no more negative answers, not more sentry memory). */
#define SC_NAMES_MAX 16384
#define SC_NAMES_BUDGET (4 << 20)
static size_t sc_names_bytes;
static uint64_t sc_hits;

static inline struct sc_way *sc_set(uint64_t h)
{
    return &sc_ways[(h & (SC_SLOTS / SC_WAYS - 1)) * SC_WAYS];
}

/* The live entry of (h, base, key, path), or NULL */
static struct sc_entry *sc_find(uint64_t h, uint64_t base, int key, const char *path, int len)
{
    struct sc_way *set = sc_set(h);
    for (int i = 0; i < SC_WAYS; i++) {
        if (!set[i].slot || set[i].tag != sc_tag(h)) continue;
        struct sc_entry *e = &sc[set[i].slot - 1];
        if (e->hash == h && sc_live(e) && e->base == base && e->key == key && e->len == (uint32_t)len
            && memcmp(e->path, path, (size_t)len) == 0)
            return e;
    }
    return NULL;
}

/* The way a new entry of hash h takes: one whose entry is stale, else one with none yet
 * (it gets the pool's next), else the least recently used */
static struct sc_way *sc_victim(uint64_t h)
{
    struct sc_way *set = sc_set(h), *empty = NULL, *old = NULL;
    for (int i = 0; i < SC_WAYS; i++) {
        if (!set[i].slot) {
            if (!empty) empty = &set[i];
            continue;
        }
        const struct sc_entry *e = &sc[set[i].slot - 1];
        if (!sc_live(e)) return &set[i];
        if (!old || (int32_t)(e->used - sc[old->slot - 1].used) < 0) old = &set[i];
    }
    if (empty) {
        empty->slot = ++sc_pool_used;  /* at most one per way: never past SC_SLOTS */
        sc_pool_grow();
    }
    return empty ? empty : old;
}

/* Whether a kept stat (or statx) answer is a symlink's */
static int sc_is_link(const struct sc_entry *e, int kind)
{
    uint32_t mode;
    if (kind == RT_SC_STAT) {
        memcpy(&mode, e->st + offsetof(struct stat, st_mode), sizeof mode);
    } else {
        uint16_t m;
        memcpy(&m, e->st + offsetof(struct statx, stx_mode), sizeof m);
        mode = m;
    }
    return S_ISLNK(mode);
}

static uint64_t sc_hash(uint64_t base, int key, const char *p, size_t n)
{
    uint64_t h = (1469598103934665603ULL ^ base) * 1099511628211ULL ^ (uint64_t)key;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* The live answer of (kind, base, nofollow, path): a stat or statx that follows the last
 * component may be its lstat's, kept for a file that is no symlink (the walk to the
 * last component is the same either way; a listing keeps only that one). */
static struct sc_entry *sc_get(int kind, uint64_t base, int nofollow, const char *path, int len)
{
    int key = nofollow | kind << 1;
    struct sc_entry *e = sc_find(sc_hash(base, key, path, (size_t)len), base, key, path, len);
    if (e || nofollow || (kind != RT_SC_STAT && kind != RT_SC_STATX)) return e;
    key |= 1;
    e = sc_find(sc_hash(base, key, path, (size_t)len), base, key, path, len);
    return e && !e->err && !sc_is_link(e, kind) ? e : NULL;
}

/* readlink of a path with no answer of its own but an lstat answer that is no symlink's:
 * EINVAL, as the walk to the last component is lstat's (a listing keeps only that) */
static int sc_not_link(uint64_t base, const char *path, int len)
{
    struct sc_entry *e = sc_get(RT_SC_STAT, base, 1, path, len);
    if (!e || e->err || sc_is_link(e, RT_SC_STAT)) return 0;
    e->used = ++sc_clock;
    return 1;
}

void rt_statcache_bump(void) { sc_gen++; }
void rt_statcache_bump_missing(void)
{
    sc_ngen++;
    for (int i = 0; i < SC_DGEN; i++) sc_dgen[i]++;  /* every directory's ENOENTs too */
}

void rt_statcache_appeared(uint64_t dir_ino)
{
    sc_dgen[sc_dslot(dir_ino)]++;
    sc_ngen++;  /* the ENOENTs of no known directory, and the /proc/self/exe answers */
}

void rt_statcache_removed(uint64_t ino)
{
    sc_ngen++;  /* a removed program's /proc/self/exe says " (deleted)" */
    rt_statcache_forget(ino);
}

/* The sentry is about to change the file *ino* (the overlay copies it up: from now on
 * its attributes, and a directory's names, change without a bump; statcache.forget):
 * every kept answer about it goes, the others stay.  That is its stat and statx answers
 * under every path (another name of it, a symlink followed to it), its listing (the
 * names, the entries C opens it with; and every listing whose directory is not known),
 * and the fstat answer of every fd C answers it for. */
void rt_statcache_forget(uint64_t ino)
{
    if (sc) {
        for (uint32_t i = 0; i < sc_pool_used; i++)
            if (sc_inos[i] == ino || sc_inos[i] == SC_ANY_INO) {
                sc[i].gen = sc_gen - 1;    /* stale: sc_gen only moves on */
                sc_inos[i] = 0;
            }
    }
    for (int fdt = 0; fdt < MAX_FDT; fdt++) {
        struct fd_slot *s = fdts[fdt];
        if (!s) continue;
        for (int fd = 0; fd < fdt_cap[fdt]; fd++) {
            uint64_t st_ino;
            /* a file C re-opened stays open on the lower file, as an open fd does over a
             * copy-up, but its close no longer keeps the fd for the path */
            if (s[fd].fc && s[fd].fc->ino == ino) s[fd].fc->gen = sc_gen - 1;
            if (!s[fd].blob || s[fd].blob_gen != sc_gen) continue;
            memcpy(&st_ino, s[fd].blob + offsetof(struct stat, st_ino), sizeof st_ino);
            if (st_ino == ino) s[fd].blob_gen = sc_gen - 1;
        }
    }
    reopen_forget(ino);
}
uint32_t rt_statcache_gen(void) { return sc_gen; }
uint64_t rt_statcache_hits(void) { return sc_hits; }

static int sc_alloc(void);

/* readlink("/proc/self/exe")'s answer for the task, as Python made it in generation
 * *gen* (len 0: none).  Any change of names or mounts since (either generation) leaves
 * it to Python again; so does a chroot (root_ok).  Returns 1 if kept. */
int rt_task_set_exe(int host_tid, const char *path, int len, uint32_t gen)
{
    struct task_slot *s = task_find(host_tid, 0);
    if (!s) return -ENOENT;
    free(s->exe);
    s->exe = NULL;
    if (len <= 0 || len > 4096 || gen != sc_gen) return 0;
    /* the table too: no path is looked up before it exists (sc_path), and a workload that
     * stats nothing (a shell's loop of execs) would leave every readlink to Python */
    if (sc_alloc()) return -ENOMEM;
    if (!(s->exe = malloc((size_t)len))) return -ENOMEM;
    memcpy(s->exe, path, (size_t)len);
    s->exe_len = (uint32_t)len;
    s->exe_gen = gen;
    s->exe_ngen = sc_ngen;
    return 1;
}

/* Bytes of every RT_SC_DIRC entry (a directory's entries as the gofer sent them): at
 * most SC_DIRC_BUDGET. */
#define SC_DIRC_BUDGET (32 << 20)
/* An RT_SC_DIRC entry's names: this head, then the entries (dirc_put) */
struct dirc_head {
    unsigned char st[SC_STAT];
    uint64_t ino, parent_ino, dev, mnt_id;
    uint32_t count, wire_len, filled_gen, filled_statx;
    uint32_t scan;                 /* where rt_statcache_put_dirc_child looks first: after
                                      the entry it found last (a fetch's listings come
                                      in the parent's order) */
    struct dirc_recs *recs;        /* made at the first open */
};
/* Statx answers are wanted too (a program of the sandbox used statx: statcache.keep) */
static int sc_statx_wanted;
void rt_statcache_want_statx(void) { sc_statx_wanted = 1; }
#define SCRATCH (1 << 20)          /* the scratch buffer; also the most entries kept */
#define USER_END 0x7ffffffff000ULL  /* TASK_SIZE_MAX (x86-64, 4-level paging): access_ok */
#define MAX_RW_COUNT 0x7ffff000ULL  /* what one read or write moves at most */
#define MAX_IO (4ULL << 20)          /* sys_file.MAX_IO: what the sentry moves in one call */
static size_t sc_dirc_bytes;

static void sc_drop_names(struct sc_entry *e)
{
    if (e->names) {
        if (e->key >> 1 == RT_SC_DIRC) {
            sc_dirc_bytes -= e->vlen;
            recs_unref(((struct dirc_head *)e->names)->recs);
        } else {
            sc_names_bytes -= e->vlen;
        }
        if (e->names == ahead_names) ahead_names = NULL;
        free(e->names);
        e->names = NULL;
    }
}

/* The table, made at the first answer: the sets populated, the pool populated as it is
 * handed out (sc_pool_grow); both zero-filled, page-aligned mappings.  0, or -ENOMEM. */
static int sc_alloc(void)
{
    if (sc) return 0;
    void *ways = mmap(NULL, SC_SLOTS * sizeof *sc_ways, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    void *pool = ways == MAP_FAILED ? MAP_FAILED
        : mmap(NULL, SC_SLOTS * sizeof *sc, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sc_inos = pool == MAP_FAILED ? NULL : calloc(SC_SLOTS, sizeof *sc_inos);
    if (!sc_inos) {
        if (pool != MAP_FAILED) munmap(pool, SC_SLOTS * sizeof *sc);
        if (ways != MAP_FAILED) munmap(ways, SC_SLOTS * sizeof *sc_ways);
        return -ENOMEM;
    }
    sc_ways = ways;
    sc = pool;
    return 0;
}

static struct sc_entry *sc_slot(int kind, uint64_t base, int nofollow, const char *path, int len)
{
    if (sc_alloc()) return NULL;
    int key = (nofollow != 0) | kind << 1;
    uint64_t h = sc_hash(base, key, path, (size_t)len);
    struct sc_entry *e = sc_find(h, base, key, path, len);
    if (!e) {
        struct sc_way *w = sc_victim(h);
        w->tag = sc_tag(h);
        e = &sc[w->slot - 1];
    }
    if (!e->path || e->cap < (uint32_t)len) {
        /* in steps of 64: a pool entry takes paths of other lengths without a realloc each */
        uint32_t cap = ((uint32_t)len + 64) & ~63u;
        char *p = realloc(e->path, cap);
        if (!p) return NULL;
        e->path = p;
        e->cap = cap;
    }
    sc_drop_names(e);
    memcpy(e->path, path, (size_t)len);
    e->hash = h; e->base = base; e->len = (uint32_t)len;
    e->key = key; e->used = ++sc_clock;
    return e;
}

/* *err_ino*: for an ENOENT, the inode number of the directory its lookup failed in; for
 * another error (a readlink's EINVAL), the file's; 0: not known. */
static int sc_put(int kind, uint64_t base, int nofollow, const char *path, int len,
                  const void *v, uint32_t vlen, int err, uint32_t gen, uint64_t err_ino)
{
    if (len <= 0 || len >= 4096 || gen != sc_gen || vlen > SC_STATX) return 0;
    if (err && err != -ENOENT && !err_ino) return 0;  /* nothing would drop it */
    struct sc_entry *e = sc_slot(kind, base, nofollow, path, len);
    if (!e) return -ENOMEM;
    e->gen = gen; e->err = err; e->ngen = sc_ngen;
    e->dslot = e->dgen = 0;
    e->vlen = err ? 0 : vlen;
    if (!err) memcpy(e->st, v, vlen);
    uint64_t ino = 0;
    if (!err && kind == RT_SC_STAT)
        memcpy(&ino, e->st + offsetof(struct stat, st_ino), sizeof ino);
    else if (!err && kind == RT_SC_STATX)
        memcpy(&ino, e->st + offsetof(struct statx, stx_ino), sizeof ino);
    else if (err == -ENOENT && err_ino) {
        uint32_t d = sc_dslot(err_ino);
        e->dslot = d + 1;
        e->dgen = sc_dgen[d];
    } else if (err) {
        ino = err_ino;   /* about a file that exists: forget drops it */
    }
    sc_inos[e - sc] = ino;
    return 1;
}

/* A directory whose whole listing Python has (a trusted one everyone may search, as for
 * the other answers): *prefix* walks to it ("" the cwd, else ending in "/"), *names*
 * holds every name, each NUL-ended; *ino* is its inode number (0: not known, and then
 * rt_statcache_forget of any file drops it).  A path through it whose next component is
 * not there is ENOENT (sc_absent), for stat, readlink and open alike. */
int rt_statcache_put_dir(uint64_t base, const char *prefix, int len, const char *names,
                         int names_len, uint32_t gen, uint64_t ino)
{
    if (len < 0 || len >= 4096 || (len && prefix[len - 1] != '/') || gen != sc_gen
        || names_len < 0 || names_len > SC_NAMES_MAX
        || (names_len && names[names_len - 1] != 0))
        return 0;
    if (sc_names_bytes + (size_t)names_len > SC_NAMES_BUDGET && sc) {
        /* the names of stale entries go first (a bump leaves every entry stale) */
        for (uint32_t i = 0; i < sc_pool_used; i++)
            if (sc[i].gen != sc_gen) sc_drop_names(&sc[i]);
    }
    if (sc_names_bytes + (size_t)names_len > SC_NAMES_BUDGET) return 0;
    char *copy = malloc(names_len ? (size_t)names_len : 1);
    if (!copy) return -ENOMEM;
    struct sc_entry *e = sc_slot(RT_SC_DIR, base, 0, prefix, len);
    if (!e) {
        free(copy);
        return -ENOMEM;
    }
    memcpy(copy, names, (size_t)names_len);
    e->names = copy;
    e->vlen = (uint32_t)names_len;
    sc_names_bytes += (size_t)names_len;
    e->gen = gen; e->err = 0;
    sc_inos[e - sc] = ino ? ino : SC_ANY_INO;
    return 1;
}

/* A listed directory's answers in one call (statcache._fill; its per-answer twin is
 * rt_statcache_put): *n* entries named in *names* (each NUL-ended, also handed to
 * rt_statcache_put_dir), under *prefix* (as put_dir's).  Entry i with has[i] gets the
 * lstat answer stats[i] (and statxs[i] if statxs is not NULL), and the stat answer of
 * entry follow[i] (itself; the end of a symlink's chain of links to siblings,
 * statcache.sibling_end; -1: none, the walk goes to Python); *ino* the directory's (put_dir's).  Returns put_dir's result. */
int rt_statcache_put_listing(uint64_t base, const char *prefix, int plen, const char *names,
                             int names_len, int n, const unsigned char *stats,
                             const unsigned char *statxs, const int32_t *follow,
                             const unsigned char *has, uint32_t gen, uint64_t ino)
{
    if (plen < 0 || plen >= 4096 || gen != sc_gen || n < 0 || names_len < 0) return 0;
    char path[4096];
    memcpy(path, prefix, (size_t)plen);
    const char *p = names, *end = names + names_len;
    for (int i = 0; i < n && p < end; i++) {
        size_t l = strnlen(p, (size_t)(end - p));
        if (p + l >= end) break;    /* not NUL-ended */
        if (has[i] && (size_t)plen + l < sizeof path) {
            int len = plen + (int)l;
            memcpy(path + plen, p, l);
            int r = sc_put(RT_SC_STAT, base, 1, path, len, stats + (size_t)i * SC_STAT, SC_STAT,
                           0, gen, 0);
            if (r < 0) return r;
            if (statxs)
                sc_put(RT_SC_STATX, base, 1, path, len, statxs + (size_t)i * SC_STATX, SC_STATX,
                       0, gen, 0);
            int f = follow[i];
            /* a file that is no symlink: its lstat answer is its stat answer too (sc_get) */
            if (f >= 0 && f < n && f != i && has[f]) {
                sc_put(RT_SC_STAT, base, 0, path, len, stats + (size_t)f * SC_STAT, SC_STAT, 0,
                       gen, 0);
                if (statxs)
                    sc_put(RT_SC_STATX, base, 0, path, len, statxs + (size_t)f * SC_STATX,
                           SC_STATX, 0, gen, 0);
            }
        }
        p += l + 1;
    }
    return rt_statcache_put_dir(base, prefix, plen, names, names_len, gen, ino);
}

/* A gofer Stat on the wire (gofer/protocol.py Stat.STRUCT "<QQIQIIQqqqqqq") */
#define WIRE_STAT 92

static uint64_t wire_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t wire_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t wire_u16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Python's divmod by 10^9 (floor: a time before 1970 has a negative second, positive ns) */
static struct timespec wire_ts(int64_t ns)
{
    int64_t s = ns / 1000000000, r = ns % 1000000000;
    if (r < 0) { r += 1000000000; s--; }
    return (struct timespec){.tv_sec = s, .tv_nsec = r};
}

/* The stat of a wire entry (a Stat: kind 1 or 2) as the sandbox sees it */
static void wire_stat(const unsigned char *w, uint64_t dev, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = dev;
    st->st_ino = wire_u64(w + 8);
    st->st_mode = wire_u32(w + 16);
    st->st_nlink = wire_u64(w + 20);
    st->st_uid = wire_u32(w + 28);
    st->st_gid = wire_u32(w + 32);
    st->st_rdev = wire_u64(w + 36);
    st->st_size = (off_t)wire_u64(w + 44);
    st->st_blksize = (blksize_t)wire_u64(w + 52);
    st->st_blocks = (blkcnt_t)wire_u64(w + 60);
    st->st_atim = wire_ts((int64_t)wire_u64(w + 68));
    st->st_mtim = wire_ts((int64_t)wire_u64(w + 76));
    st->st_ctim = wire_ts((int64_t)wire_u64(w + 84));
}

struct wire_entry {
    const char *name, *target;
    uint16_t len, tlen;
    uint8_t kind, keep;
    struct stat st;
};

static int wire_find(const struct wire_entry *e, const int32_t *tab, uint32_t mask,
                     const char *name, size_t len)
{
    uint64_t h = sc_hash(0, 0, name, len);
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (tab[i] < 0) return -1;
        const struct wire_entry *c = &e[tab[i]];
        if (c->len == len && memcmp(c->name, name, len) == 0) return tab[i];
    }
}

/* A trusted directory's listing as the gofer sent it (gofer/protocol.py's stat entries,
 * without their count: per entry a kind byte, a u16 name length, the name, then an inode
 * number (kind 0: a mount point, whose attributes only a walk may give) or a Stat and,
 * kind 2, a symlink's u16-long target).  Each entry's lstat answer as the sandbox's
 * newfstatat gives it (the file system's device *dev*, the host's owner: a file system
 * without an id mapping) and, for a symlink that leads through up to SC_SIBLING_HOPS links
 * to siblings to one that is no symlink, its stat answer, and a symlink's readlink answer, under *prefix* (as rt_statcache_put_listing's);
 * then the names
 * (rt_statcache_put_dir).  *skip*: names (each NUL-ended) not to keep (the sandbox
 * mounted something there).  Returns the number of entries, or -EINVAL if the listing
 * does not parse or holds more than *max* entries (statcache._fill's twin, which it
 * replaces for such file systems).  put_wire_statx: the statx answers as well, with
 * the mount's id *mnt_id* (abi.pack_statx's: every basic field, no btime).  *ino*: the
 * directory's inode number (put_dir's). */
static int put_wire(uint64_t base, const char *prefix, int plen,
                    const unsigned char *wire, uint32_t wire_len, int max,
                    uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                    int statx, uint64_t mnt_id, uint64_t ino);

/* How many symlinks to siblings a kept stat answer follows at most (statcache.py's
 * SIBLING_HOPS) */
#define SC_SIBLING_HOPS 8

/* Whether a listing entry's name is a file name: no NUL, no "/", not "." or ".." (a
 * gofer that sends one is broken or hostile, and "dir/.." kept as an answer would name
 * the wrong file) */
static int wire_name_ok(const char *name, int len)
{
    return !memchr(name, 0, (size_t)len) && !memchr(name, '/', (size_t)len)
        && !(name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')));
}

int rt_statcache_put_wire(uint64_t base, const char *prefix, int plen,
                          const unsigned char *wire, uint32_t wire_len, int max,
                          uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                          uint64_t ino)
{
    return put_wire(base, prefix, plen, wire, wire_len, max, dev, skip, skip_len, gen, 0, 0,
                    ino);
}

int rt_statcache_put_wire_statx(uint64_t base, const char *prefix, int plen,
                                const unsigned char *wire, uint32_t wire_len, int max,
                                uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                                uint64_t mnt_id, uint64_t ino)
{
    return put_wire(base, prefix, plen, wire, wire_len, max, dev, skip, skip_len, gen, 1,
                    mnt_id, ino);
}

/* struct statx of a struct stat, as abi.pack_statx packs it */
static void statx_of(const struct stat *st, uint64_t mnt_id, unsigned char out[SC_STATX])
{
    uint32_t u32;
    uint64_t u64;
    memset(out, 0, SC_STATX);
#define PUT32(off, v) (u32 = (uint32_t)(v), memcpy(out + (off), &u32, 4))
#define PUT64(off, v) (u64 = (uint64_t)(v), memcpy(out + (off), &u64, 8))
    PUT32(0, 0x7ffu | 0x1000u);    /* STATX_BASIC_STATS | STATX_MNT_ID */
    PUT32(4, st->st_blksize);
    PUT32(16, st->st_nlink);
    PUT32(20, st->st_uid);
    PUT32(24, st->st_gid);
    uint16_t mode = (uint16_t)st->st_mode;
    memcpy(out + 28, &mode, 2);
    PUT64(32, st->st_ino);
    PUT64(40, st->st_size);
    PUT64(48, st->st_blocks);
    const struct timespec *ts[4] = {&st->st_atim, NULL, &st->st_ctim, &st->st_mtim};
    for (int i = 0; i < 4; i++) {
        if (!ts[i]) continue;      /* btime: not known, 0 */
        PUT64(64 + 16 * i, ts[i]->tv_sec);
        PUT32(72 + 16 * i, ts[i]->tv_nsec);
    }
    PUT32(128, major(st->st_rdev));
    PUT32(132, minor(st->st_rdev));
    PUT32(136, major(st->st_dev));
    PUT32(140, minor(st->st_dev));
    PUT64(144, mnt_id);
#undef PUT32
#undef PUT64
}

static int put_wire(uint64_t base, const char *prefix, int plen,
                    const unsigned char *wire, uint32_t wire_len, int max,
                    uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                    int statx, uint64_t mnt_id, uint64_t ino)
{
    if (plen < 0 || plen >= 4096 || (plen && prefix[plen - 1] != '/') || max <= 0
        || max > 65536 || skip_len < 0 || (skip_len && skip[skip_len - 1] != 0))
        return -EINVAL;
    if (gen != sc_gen) return 0;
    struct wire_entry *e = malloc((size_t)max * sizeof *e);
    if (!e) return -ENOMEM;
    int n = 0, links = 0, rc = 0;
    size_t names_len = 0;
    for (uint32_t off = 0; off < wire_len;) {
        if (n == max || wire_len - off < 3) { rc = -EINVAL; goto out; }
        struct wire_entry *x = &e[n];
        x->kind = wire[off];
        x->len = wire_u16(wire + off + 1);
        off += 3;
        if (x->kind > 2 || x->len == 0 || wire_len - off < x->len) { rc = -EINVAL; goto out; }
        x->name = (const char *)wire + off;
        if (!wire_name_ok(x->name, x->len)) { rc = -EINVAL; goto out; }
        off += x->len;
        x->target = NULL;
        x->tlen = 0;
        x->keep = 0;
        if (x->kind == 0) {
            if (wire_len - off < 8) { rc = -EINVAL; goto out; }
            off += 8;
        } else {
            if (wire_len - off < WIRE_STAT) { rc = -EINVAL; goto out; }
            struct stat *st = &x->st;
            wire_stat(wire + off, dev, st);
            off += WIRE_STAT;
            if (x->kind == 2) {
                if (wire_len - off < 2) { rc = -EINVAL; goto out; }
                x->tlen = wire_u16(wire + off);
                off += 2;
                if (wire_len - off < x->tlen || !S_ISLNK(st->st_mode)) { rc = -EINVAL; goto out; }
                x->target = (const char *)wire + off;
                off += x->tlen;
                links++;
            }
            x->keep = 1;
            for (const char *p = skip, *end = skip + skip_len; p < end; p += strlen(p) + 1)
                if (strlen(p) == x->len && memcmp(p, x->name, x->len) == 0) x->keep = 0;
        }
        names_len += (size_t)x->len + 1;
        n++;
    }
    /* a symlink to a sibling: the sibling's index by name */
    int32_t *tab = NULL;
    uint32_t mask = 0;
    if (links) {
        uint32_t size = 16;
        while (size < 2 * (uint32_t)n) size *= 2;
        mask = size - 1;
        if (!(tab = malloc(size * sizeof *tab))) { rc = -ENOMEM; goto out; }
        memset(tab, 0xff, size * sizeof *tab);
        for (int i = 0; i < n; i++) {
            uint64_t h = sc_hash(0, 0, e[i].name, e[i].len);
            uint32_t j = (uint32_t)h & mask;
            while (tab[j] >= 0) j = (j + 1) & mask;
            tab[j] = i;
        }
    }
    char path[4096];
    memcpy(path, prefix, (size_t)plen);
    for (int i = 0; i < n; i++) {
        struct wire_entry *x = &e[i];
        if (!x->keep || (size_t)plen + x->len >= sizeof path) continue;
        int len = plen + x->len;
        memcpy(path + plen, x->name, x->len);
        int r = sc_put(RT_SC_STAT, base, 1, path, len, &x->st, SC_STAT, 0, gen, 0);
        if (r < 0) { rc = r; free(tab); goto out; }
        if (x->target && x->tlen)    /* readlink's answer (a target of up to 256 bytes) */
            sc_put(RT_SC_LINK, base, 1, path, len, x->target, x->tlen, 0, gen, 0);
        unsigned char sx[SC_STATX];
        if (statx) {
            statx_of(&x->st, mnt_id, sx);
            sc_put(RT_SC_STATX, base, 1, path, len, sx, SC_STATX, 0, gen, 0);
        }
        if (x->target && x->tlen && !memchr(x->target, '/', x->tlen)) {
            /* a chain of links to kept siblings, to one that is no link
             * (statcache.sibling_end) */
            int j = i;
            for (int hops = 0; j >= 0 && S_ISLNK(e[j].st.st_mode); hops++) {
                const struct wire_entry *y = &e[j];
                j = hops < SC_SIBLING_HOPS && y->tlen && !memchr(y->target, '/', y->tlen)
                    ? wire_find(e, tab, mask, y->target, y->tlen) : -1;
                if (j >= 0 && !e[j].keep) j = -1;
            }
            if (j >= 0) {
                sc_put(RT_SC_STAT, base, 0, path, len, &e[j].st, SC_STAT, 0, gen, 0);
                if (statx) {
                    statx_of(&e[j].st, mnt_id, sx);
                    sc_put(RT_SC_STATX, base, 0, path, len, sx, SC_STATX, 0, gen, 0);
                }
            }
        }
    }
    free(tab);
    if (names_len <= SC_NAMES_MAX) {
        char *names = malloc(names_len ? names_len : 1);
        if (!names) { rc = -ENOMEM; goto out; }
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            memcpy(names + at, e[i].name, e[i].len);
            at += e[i].len;
            names[at++] = 0;
        }
        rt_statcache_put_dir(base, prefix, plen, names, (int)names_len, gen, ino);
        free(names);
    }
    rc = n;
out:
    free(e);
    return rc;
}

/* ---- directories C may open (RT_SC_DIRC)
 * A trusted directory of the lower layer, not copied up, that everyone may read and
 * search, with no mount at or below it: under its path (no trailing "/"; "" for the cwd,
 * a parent only), its struct stat, its and its parent's inode numbers, and its entries
 * as the gofer sent them.  An open of that path (O_RDONLY, O_DIRECTORY and the flags
 * that change nothing for a directory) is served in C (sc_open_dir): a fd, records for
 * getdents64 made from the entries, the entries' stat answers handed over as a listing
 * of Python's would.  Python puts directories it listed (rt_statcache_put_dirc), the
 * directory a tree fetch started from, and those the fetch brought below it
 * (rt_statcache_put_dirc_child: C takes the child's attributes from the parent's
 * entries).  A stat that misses under one puts its entries' answers too (sc_fill_parent). */

static int dirc_put(uint64_t base, const char *path, int plen, const void *st,
                    uint64_t ino, uint64_t parent_ino, uint64_t dev, uint64_t mnt_id,
                    const unsigned char *wire, uint32_t wire_len, int count, uint32_t gen,
                    int filled)
{
    uint32_t mode;
    memcpy(&mode, (const unsigned char *)st + offsetof(struct stat, st_mode), sizeof mode);
    if (plen < 0 || plen >= 4000 || (plen > 1 && path[plen - 1] == '/') || gen != sc_gen
        || count < 0 || count > 65536 || wire_len > SCRATCH || !S_ISDIR(mode)
        || (mode & 0555) != 0555)
        return 0;
    size_t size = sizeof(struct dirc_head) + wire_len;
    if (sc_dirc_bytes + size > SC_DIRC_BUDGET && sc) {
        for (uint32_t i = 0; i < sc_pool_used; i++)
            if (sc[i].gen != sc_gen && sc[i].key >> 1 == RT_SC_DIRC) sc_drop_names(&sc[i]);
    }
    if (sc_dirc_bytes + size > SC_DIRC_BUDGET) return 0;
    unsigned char *blob = malloc(size);
    if (!blob) return -ENOMEM;
    struct dirc_head *h = (struct dirc_head *)blob;
    memcpy(h->st, st, SC_STAT);
    h->ino = ino;
    h->parent_ino = parent_ino;
    h->dev = dev;
    h->mnt_id = mnt_id;
    h->count = (uint32_t)count;
    h->wire_len = wire_len;
    h->filled_gen = filled ? gen : 0;
    h->filled_statx = filled ? (uint32_t)sc_statx_wanted : 0;
    h->scan = 0;
    h->recs = NULL;
    memcpy(blob + sizeof *h, wire, wire_len);
    struct sc_entry *e = sc_slot(RT_SC_DIRC, base, 0, path, plen);
    if (!e) {
        free(blob);
        return -ENOMEM;
    }
    e->names = (char *)blob;
    e->vlen = (uint32_t)size;
    sc_dirc_bytes += size;
    e->gen = gen; e->err = 0;
    sc_inos[e - sc] = ino ? ino : SC_ANY_INO;
    return 1;
}

/* A directory Python listed: *st* its struct stat (its st_ino is "."'s), parent_ino
 * "..'s", *wire* its entries (count of them), dev the device and mnt_id the mount id its
 * entries' answers show; *filled*: Python put its entries' answers under this path in
 * this generation already (with statx's, if wanted), which C's open or a stat under it
 * then need not put again (dirc_fill). */
int rt_statcache_put_dirc(uint64_t base, const char *path, int plen, const void *st,
                          uint64_t parent_ino, uint64_t dev, uint64_t mnt_id,
                          const unsigned char *wire, uint32_t wire_len, int count, uint32_t gen,
                          int filled)
{
    uint64_t ino;
    memcpy(&ino, (const unsigned char *)st + offsetof(struct stat, st_ino), sizeof ino);
    return dirc_put(base, path, plen, st, ino, parent_ino, dev, mnt_id, wire, wire_len, count,
                    gen, filled);
}

/* The next wire entry at *off*: its kind, name (a file name of 1 to 255 bytes:
 * wire_name_ok) and (kind 1, 2) Stat; the offset after it, or 0 if it does not parse. */
static uint32_t wire_next(const unsigned char *wire, uint32_t wire_len, uint32_t off, int *kind,
                          const char **name, int *nlen, const unsigned char **stat,
                          uint64_t *ino)
{
    if (wire_len - off < 3) return 0;
    *kind = wire[off];
    *nlen = wire_u16(wire + off + 1);
    off += 3;
    if (*kind > 2 || *nlen == 0 || *nlen > 255 || wire_len - off < (uint32_t)*nlen) return 0;
    *name = (const char *)wire + off;
    if (!wire_name_ok(*name, *nlen)) return 0;
    off += (uint32_t)*nlen;
    if (*kind == 0) {
        if (wire_len - off < 8) return 0;
        *stat = NULL;
        *ino = wire_u64(wire + off);
        return off + 8;
    }
    if (wire_len - off < WIRE_STAT) return 0;
    *stat = wire + off;
    *ino = wire_u64(wire + off + 8);
    off += WIRE_STAT;
    if (*kind == 2) {
        if (wire_len - off < 2) return 0;
        uint32_t tlen = wire_u16(wire + off);
        off += 2;
        if (wire_len - off < tlen) return 0;
        off += tlen;
    }
    return off;
}

/* A subdirectory *name* of the directory kept under *parent* (a tree fetch brought its
 * entries): kept under parent/name with its attributes from the parent's entries, if
 * it is a directory everyone may read and search.  Returns 1 if kept. */
int rt_statcache_put_dirc_child(uint64_t base, const char *parent, int plen, const char *name,
                                int nlen, const unsigned char *wire, uint32_t wire_len,
                                int count, uint32_t gen)
{
    if (plen < 0 || plen >= 4000 || nlen <= 0 || nlen > 255 || gen != sc_gen || !sc) return 0;
    struct sc_entry *pe = sc_get(RT_SC_DIRC, base, 0, parent, plen);
    if (!pe || !pe->names) return 0;
    struct dirc_head *ph = (struct dirc_head *)pe->names;
    const unsigned char *pw = (const unsigned char *)pe->names + sizeof *ph;
    int kind, l;
    const char *n;
    const unsigned char *w;
    uint64_t ino;
    /* from where the last one was found to the end, then from the start: a fetch's
     * listings come in the parent's order, so a walk below /usr/share/doc's 920 entries
     * reads each once, not half of them each time */
    uint32_t start = ph->scan < ph->wire_len ? ph->scan : 0, off = start;
    for (uint32_t end = ph->wire_len;;) {
        if (off >= end) {
            if (!start || end == start) return 0;   /* came round: not there */
            off = 0;
            end = start;
            continue;
        }
        off = wire_next(pw, ph->wire_len, off, &kind, &n, &l, &w, &ino);
        if (!off) return 0;
        if (l != nlen || memcmp(n, name, (size_t)nlen) != 0) continue;
        if (kind != 1) return 0;
        ph->scan = off;
        struct stat st;
        wire_stat(w, ph->dev, &st);
        char path[4096];
        int len = 0;
        if (plen && !(plen == 1 && parent[0] == '/')) {
            memcpy(path, parent, (size_t)plen);
            len = plen;
            path[len++] = '/';
        } else if (plen) {
            path[len++] = '/';
        }
        memcpy(path + len, name, (size_t)nlen);
        len += nlen;
        uint64_t parent_ino = ph->ino, dev = ph->dev, mnt_id = ph->mnt_id;
        return dirc_put(base, path, len, &st, ino, parent_ino, dev, mnt_id, wire, wire_len,
                        count, gen, 0);
    }
    return 0;
}

/* Whether a directory rt_statcache_put_dir described lies on *path* with the component
 * after it missing: the path is ENOENT.  "." and ".." components and "//" end the
 * search (their prefixes are never keys). */
static int sc_absent(uint64_t base, const char *path, int len)
{
    if (!sc) return 0;
    for (int at = path[0] == '/' ? 1 : 0; at < len;) {
        /* [0, at) is a candidate prefix ("" or ending in '/'); the component follows */
        int end = at;
        while (end < len && path[end] != '/') end++;
        int n = end - at;
        const char *comp = path + at;
        if (n == 0 || (n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.'))
            return 0;
        struct sc_entry *e = sc_get(RT_SC_DIR, base, 0, path, at);
        if (e && e->names) {
            int found = 0;
            for (const char *p = e->names, *stop = e->names + e->vlen; p < stop;) {
                size_t l = strlen(p);
                if (l == (size_t)n && memcmp(p, comp, (size_t)n) == 0) {
                    found = 1;
                    break;
                }
                p += l + 1;
            }
            if (!found) {
                e->used = ++sc_clock;
                return 1;
            }
        }
        at = end + 1;
    }
    return 0;
}

int rt_statcache_put(int kind, uint64_t base, int nofollow, const char *path, int len,
                     const void *st, int err, uint32_t gen, uint64_t err_ino)
{
    if (kind != RT_SC_STAT && kind != RT_SC_STATX) return 0;
    return sc_put(kind, base, nofollow, path, len, st, kind == RT_SC_STATX ? SC_STATX : SC_STAT,
                  err, gen, err_ino);
}

/* readlink/readlinkat of a path (the last component not followed): its target (up to
 * 256 bytes; a longer one is not kept), or -EINVAL (not a symlink), -ENOENT */
int rt_statcache_put_link(uint64_t base, const char *path, int len, const void *target,
                          int tlen, int err, uint32_t gen, uint64_t err_ino)
{
    if (tlen < 0) return 0;
    return sc_put(RT_SC_LINK, base, 1, path, len, target, (uint32_t)tlen, err, gen, err_ino);
}

/* The length of *path*'s directory prefix: up to and with its last '/' (0: none). */
static int dir_prefix_len(const char *path, int len)
{
    while (len > 0 && path[len - 1] != '/') len--;
    return len;
}

/* A path argument read from the task (up to a NUL; page by page, so that a string
 * ending just before an unmapped page reads).  Returns its length, or -1: unreadable
 * or longer than PATH_MAX (Python says how). */
static int read_path(uint32_t pid, uint64_t addr, char *buf)
{
    size_t got = 0;
    while (got < 4096) {
        /* most paths are short: 256 bytes first (not past the page: one that ends just
         * before an unmapped page reads), then page by page */
        size_t chunk = 4096 - ((addr + got) & 4095);
        if (got == 0 && chunk > 256) chunk = 256;
        if (chunk > 4096 - got) chunk = 4096 - got;
        if (rt_mem_read((int)pid, addr + got, buf + got, chunk) != (int64_t)chunk) return -1;
        char *nul = memchr(buf + got, 0, chunk);
        if (nul) return (int)(nul - buf);
        got += chunk;
    }
    return -1;
}

/* open/openat of a path the stat cache knows is missing (sc_absent): ENOENT, with flags
 * that cannot create or fail otherwise first; anything else: Python. */
#define SC_OPEN_FLAGS (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_DIRECTORY | O_NOFOLLOW \
                       | O_NOATIME | O_CLOEXEC | 0100000 /* the kernel's O_LARGEFILE */ | O_NOCTTY \
                       | O_TRUNC)

/* The path argument of a call the cache may answer, into path[4096], and its key's base:
 * 0 for an absolute path, the cwd key for one relative to AT_FDCWD; with bit 63 for a
 * task that may search any directory (answers that searched directories closed to others
 * are kept for such tasks only: statcache.py).  Returns the length, 0: Python answers. */
static struct fd_slot *fd_find(const struct rt_task_info *t, uint64_t fdarg, int kind);

static int sc_path(uint32_t pid, const struct rt_task_info *t, int dirfd, uint64_t path_addr,
                   char *path, uint64_t *base)
{
    if (!sc || !t->root_ok) return 0;
    int len = read_path(pid, path_addr, path);
    if (len <= 0) return 0;
    if (path[0] == '/') *base = 0;
    else if (dirfd == AT_FDCWD && t->cwd_key) *base = t->cwd_key;
    else if (dirfd >= 0) {
        /* relative to a directory fd whose key Python left (fts: find, du, tar) */
        struct fd_slot *f = fd_find(t, (uint64_t)dirfd, RT_FD_BLOB);
        if (!f || !f->dkey || f->dkey_gen != sc_gen || (f->dkey_base >> 63) != (t->search_all != 0)
            || f->dkey_len + (uint32_t)len >= 4096)
            return 0;
        memmove(path + f->dkey_len, path, (size_t)len + 1);
        memcpy(path, f->dkey, f->dkey_len);
        *base = f->dkey_base;
        return len + (int)f->dkey_len;
    } else return 0;
    if (t->search_all) *base |= 1ULL << 63;
    return len;
}

static int sc_open_dir(uint32_t pid, const struct rt_task_info *t, const char *path, int len,
                       uint64_t base, int flags, int64_t *ret);
static int sc_fill_parent(uint64_t base, const char *path, int len);

/* sc_get, and again once the listing of the path's directory went in if it had not
 * (sc_fill_parent) */
static struct sc_entry *sc_get_or_fill(int kind, uint64_t base, int nofollow, const char *path,
                                       int len)
{
    struct sc_entry *e = sc_get(kind, base, nofollow, path, len);
    if (!e && sc_fill_parent(base, path, len)) e = sc_get(kind, base, nofollow, path, len);
    return e;
}

/* ---- files C re-opens (RT_FD_FILEC)
 * A read-only host fd of a file of the trusted lower layer, kept under the key of the
 * path a read-only open found it by (base, nofollow, path) in one generation: Python
 * puts it there when it releases such a description (GoferFileDescription.release: the
 * open's walk was one the stat cache could keep, statcache.reopen_key), and C when it
 * closes a file it re-opened.  An open of that key in that generation is then C's
 * (sc_open_file): the same file (a mount bumps; a copy-up, an unlink and a rename of
 * or over the file forget its fds: reopen_forget), which everyone may read (mode 0444 at
 * least, as the fd's slot was put).  Nothing is re-opened while inotify or dnotify watch
 * (dirc_on).  REOPEN_SLOTS fds at most (the sentry's host fds): a put into a full probe
 * window closes the fd of a stale entry there, else the oldest. */
#define REOPEN_SLOTS 1024
#define REOPEN_PROBE 8
/* At most this many kept at once (rt_reopen_cap: the sentry's share of its RLIMIT_NOFILE
 * for them, statcache.kept_fds_budget). */
static int reopen_cap = REOPEN_SLOTS;
#define REOPEN_KEY 15                /* sc_hash's key argument for these keys */
struct reopen {
    uint64_t hash, base, ino, dev, stamp;
    uint32_t gen, mode, uid, gid;
    int32_t fd, len, nofollow;
    char *path;                      /* NULL: a free slot */
};
static struct reopen reopens[REOPEN_SLOTS];
static uint64_t reopen_clock;
static int reopen_count;

static void reopen_drop(struct reopen *r, int close_fd)
{
    if (close_fd) close(r->fd);
    free(r->path);
    r->path = NULL;
    reopen_count--;
}

static struct reopen *reopen_find(uint64_t h, uint64_t base, int nofollow, const char *path,
                                  int len)
{
    for (int i = 0; i < REOPEN_PROBE; i++) {
        struct reopen *r = &reopens[(h + (uint64_t)i) % REOPEN_SLOTS];
        if (r->path && r->hash == h && r->base == base && r->nofollow == nofollow
            && r->len == len && memcmp(r->path, path, (size_t)len) == 0)
            return r;
    }
    return NULL;
}

/* Keep fd under the key (Python's release, C's close); 0 (the caller keeps it): another
 * generation, a mode not everyone may read, or no memory. */
int rt_reopen_put(uint64_t base, int nofollow, const char *path, int len, uint32_t gen,
                  int fd, uint64_t ino, uint32_t mode, uint64_t dev, uint32_t uid, uint32_t gid)
{
    if (gen != sc_gen || fd < 0 || len <= 0 || len >= 4096 || !S_ISREG(mode)
        || (mode & 0444) != 0444)
        return 0;
    char *copy = malloc((size_t)len);
    if (!copy) return 0;
    memcpy(copy, path, (size_t)len);
    nofollow = nofollow != 0;
    uint64_t h = sc_hash(base, REOPEN_KEY | nofollow << 4, path, (size_t)len);
    struct reopen *r = reopen_find(h, base, nofollow, path, len);
    if (r) {
        reopen_drop(r, 1);          /* two opens of one key closed: one is enough */
    } else {
        struct reopen *stale = NULL, *oldest = NULL;
        for (int i = 0; i < REOPEN_PROBE && !r; i++) {
            struct reopen *c = &reopens[(h + (uint64_t)i) % REOPEN_SLOTS];
            if (!c->path) r = c;
            else if (c->gen != sc_gen && !stale) stale = c;
            else if (!oldest || c->stamp < oldest->stamp) oldest = c;
        }
        if (!r || reopen_count >= reopen_cap) {
            /* Room is made: a stale or the oldest entry goes, the window's (full when
             * no slot was free), or at the cap the table's (a cap below the slots
             * leaves most windows with a free slot). */
            struct reopen *victim = stale ? stale : oldest;
            if (!victim)
                for (int i = 0; i < REOPEN_SLOTS; i++) {
                    struct reopen *c = &reopens[i];
                    if (c->path && (!victim || c->stamp < victim->stamp)) victim = c;
                }
            if (!victim) {                  /* a cap of 0 */
                free(copy);
                return 0;
            }
            reopen_drop(victim, 1);
            if (!r) r = victim;
        }
    }
    r->hash = h; r->base = base; r->nofollow = nofollow; r->len = len; r->path = copy;
    r->gen = gen; r->fd = fd; r->ino = ino; r->mode = mode; r->dev = dev;
    r->uid = uid; r->gid = gid; r->stamp = ++reopen_clock;
    reopen_count++;
    return 1;
}

/* Keep at most n fds (0: none) from now on; those over it are closed. */
void rt_reopen_cap(int n)
{
    reopen_cap = n < 0 ? 0 : n > REOPEN_SLOTS ? REOPEN_SLOTS : n;
    for (int i = 0; reopen_count > reopen_cap && i < REOPEN_SLOTS; i++)
        if (reopens[i].path) reopen_drop(&reopens[i], 1);
}

/* The fd kept under the key in generation gen (out of the table: the caller owns it), or
 * -1; *out gets the entry's fields. */
static int reopen_take(uint64_t base, int nofollow, const char *path, int len, uint32_t gen,
                       struct reopen *out)
{
    if (!reopen_count || len <= 0) return -1;
    nofollow = nofollow != 0;
    uint64_t h = sc_hash(base, REOPEN_KEY | nofollow << 4, path, (size_t)len);
    struct reopen *r = reopen_find(h, base, nofollow, path, len);
    if (!r) return -1;
    if (r->gen != gen) {
        reopen_drop(r, 1);
        return -1;
    }
    *out = *r;
    reopen_drop(r, 0);
    return out->fd;
}

static void reopen_forget(uint64_t ino)
{
    for (int i = 0; reopen_count && i < REOPEN_SLOTS; i++)
        if (reopens[i].path && reopens[i].ino == ino) reopen_drop(&reopens[i], 1);
    ahead_forget(ino);
}

/* Python opens the key itself (flags C leaves to it, --strace): the kept fd, -1 if none. */
int rt_reopen_take(uint64_t base, int nofollow, const char *path, int len, uint32_t gen)
{
    struct reopen r;
    if (gen != sc_gen) return -1;
    rt_fetch_settle();              /* (the file asked ahead may be this one) */
    return reopen_take(base, nofollow, path, len, gen, &r);
}

/* ---- files C fetches from the gofer (Tfetch)
 * A read-only open C would re-open (sc_open_file) but has no fd kept for: if the stat cache
 * has the path's answer (its own, or from its directory's listing: sc_get_or_fill), a
 * regular file everyone may read, of the trusted lower layer of the sandbox's root
 * (fetch_dev), C asks the gofer for it itself, in one round trip on the sentry's channel
 * (which is idle whenever C runs, unless a Treadtree reply streams on it: rt_fetch_pause,
 * or the reply to C's own fetch ahead is not read yet: rt_fetch_settle), and installs the
 * fd as a re-open's.  The path it asks for is the
 * lower layer's below its root handle: an absolute one (or relative to a directory fd
 * whose key is one), or one relative to a place (cwd key) Python said where it is
 * (rt_fetch_place: git's .git/HEAD, config, refs).  The gofer opens it with no symlink
 * followed and no mount crossed, and C keeps the fd only if it is the file the answer
 * describes (inode, mode, size, mtime, ctime): a path the sandbox resolves differently (a
 * symlink on the way: ELOOP, a ".." after one) is Python's as before, and a key that
 * failed for good is not asked again in this generation.  (fetch_dev does not tell the
 * overlay's layers apart, which show one device: the cache keeps no answer about a file
 * copied up, and an upper file's inode number is above any the gofer gives.)  The
 * messages' layout is gofer/protocol.py's Tfetch and Rfetch (ARCHITECTURE.md, "Files C
 * fetches"). */
#define FETCH_TFETCH 46
#define FETCH_RFETCH 47
#define FETCH_RERROR 255
#define FETCH_KEY 14               /* sc_hash's key argument for failed fetches */
#define FETCH_DIR_KEY 13           /* and for directories below which every fetch fails */
#define FETCH_FAILS 1024
#define FETCH_POLL_NS 200000        /* poll for the reply at most this long before sleeping */
static int fetch_sock = -1;         /* the gofer channel; -1: C fetches nothing */
static int fetch_is_broken;         /* the channel said what no Tfetch reply is: rt_fetch_broken */
/* How long the next wait polls: doubled after a reply that came within FETCH_POLL_NS,
 * halved after one that did not (gofer.protocol.Spin's rule: polling only pays while the
 * gofer has a CPU of its own) */
static int64_t fetch_poll_ns = FETCH_POLL_NS;
static uint32_t fetch_root;         /* the handle of the root's lower layer's root */
static uint64_t fetch_dev;          /* that file system's st_dev in the sandbox */
static int fetch_paused;
static uint64_t fetch_count, fetch_failures;
static struct { uint64_t hash; uint32_t gen; } fetch_failed[FETCH_FAILS];
/* Where the places (cwd keys: statcache.place_key) are, for the paths relative to them:
 * rt_fetch_place.  A place renamed since gives a path to nothing, or to another file,
 * which the check of the fd refuses. */
#define FETCH_PLACES 64
static struct { uint64_t key; int len; char *path; } fetch_places[FETCH_PLACES];
static int64_t mono_ns(void);

/* A fetch asked for: the key, the stat answer it was asked by, and the keys under which
 * a failure is remembered (fetch_fail). */
struct fetch_ask {
    uint64_t h, dh;
    int dlen, nr;                    /* nr: the call's that asked (-1: none) */
    uint32_t gen;
    struct stat st;
};

/* Fetching ahead (ahead_ask, below) */
static struct fetch_ask ahead;       /* the fetch whose reply is not read yet */
static int ahead_pending;
static struct { uint64_t base; int nofollow, len; char path[4096]; } ahead_key;  /* its key */
static uint64_t ahead_pred;          /* the key (FETCH_KEY hash) expected next; 0: none */
static uint64_t ahead_last;          /* the key fetched ahead last */
static int ahead_in_order;           /* the last open was in listing order */
static uint32_t ahead_at;            /* where in ahead_names the file expected next is */
static uint64_t ahead_asked, ahead_used;  /* fetched ahead; of those, opened next (tests) */

/* Fetch through *sock* (the sentry's gofer channel) files of the file system whose root
 * is *root_handle* and whose files show *dev* as their device; sock -1: no more. */
void rt_fetch_setup(int sock, uint32_t root_handle, uint64_t dev)
{
    if (sock >= 0 && sock == fetch_sock) rt_fetch_settle();  /* (the same channel again) */
    if (sock >= 0) {                /* (a channel of its own: tests make several) */
        fetch_is_broken = 0;
        fetch_poll_ns = FETCH_POLL_NS;
    }
    ahead_pending = 0;              /* (a reply on another channel is not read) */
    ahead_pred = ahead_last = 0;
    ahead_in_order = 0;
    ahead_names = NULL;
    fetch_sock = sock;
    fetch_root = root_handle;
    fetch_dev = dev;
}

/* The place *key* (a cwd key) is the directory *path* (absolute, from the root the
 * fetched files are beneath); len 0: forget it.  Any other path is no place: ignored. */
void rt_fetch_place(uint64_t key, const char *path, int len)
{
    unsigned i = (unsigned)(key % FETCH_PLACES);
    if (len > 0 && (len >= 4096 || path[0] != '/')) return;
    if (len <= 0 && fetch_places[i].key != key) return;  /* (another place's slot) */
    free(fetch_places[i].path);
    fetch_places[i].path = NULL;
    fetch_places[i].key = 0;
    if (len <= 0) return;
    char *copy = malloc((size_t)len);
    if (!copy) return;
    memcpy(copy, path, (size_t)len);
    fetch_places[i].key = key;
    fetch_places[i].path = copy;
    fetch_places[i].len = len;
}

/* A reply streams on the channel (Treadtree): no fetch until it ended. */
void rt_fetch_pause(int paused) { fetch_paused = paused != 0; }

/* How many fetches gave a fd, and how many did not. */
uint64_t rt_fetch_count(int failures) { return failures ? fetch_failures : fetch_count; }

/* Whether a reply C read was no Tfetch's (a gofer that is broken or hostile): C fetches
 * nothing more, and Python's client takes the channel as broken (boot._fetch_in_c), since
 * what it reads next may not be its own reply. */
int rt_fetch_broken(void) { return fetch_is_broken; }

static void le16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint32_t v) { le16(p, v); le16(p + 2, v >> 16); }

/* A key that failed for good in this generation (fetch_fail), not asked again */
static int fetch_failed_before(uint64_t h)
{
    unsigned slot = (unsigned)(h % FETCH_FAILS);
    return fetch_failed[slot].hash == h && fetch_failed[slot].gen == sc_gen;
}

static void fetch_fail(uint64_t h)
{
    unsigned slot = (unsigned)(h % FETCH_FAILS);
    fetch_failed[slot].hash = h;
    fetch_failed[slot].gen = sc_gen;
}

/* The channel said something a Tfetch's reply cannot be: nothing is fetched from now on
 * (rt_fetch_broken). */
static void fetch_broken(void)
{
    fetch_sock = -1;
    fetch_is_broken = 1;
}

/* One datagram of the channel into buf (at most len bytes) and the one fd it may carry
 * (*fd, -1 if none; *lost: it carried one this process could not take, its RLIMIT_NOFILE
 * reached); its length, -1 if the channel failed or the datagram was cut short or
 * carried more than one fd (closed). */
static int fetch_recv(unsigned char *buf, int len, int *fd, int *lost, int64_t *waited)
{
    union { struct cmsghdr h; char space[CMSG_SPACE(4 * sizeof(int))]; } c;
    struct iovec iov = {buf, (size_t)len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.space,
                       .msg_controllen = sizeof c.space};
    int64_t start = mono_ns(), deadline = start + fetch_poll_ns;
    ssize_t n;
    for (;;) {
        int polling = mono_ns() < deadline;
        m.msg_controllen = sizeof c.space;
        n = recvmsg(fetch_sock, &m, MSG_CMSG_CLOEXEC | (polling ? MSG_DONTWAIT : 0));
        if (n >= 0) break;
        if (errno == EINTR || (polling && errno == EAGAIN)) continue;
        break;
    }
    *waited = mono_ns() - start;
    if (n < 0) return -1;
    if (*waited <= FETCH_POLL_NS)
        fetch_poll_ns = fetch_poll_ns * 2 > FETCH_POLL_NS ? FETCH_POLL_NS
                      : fetch_poll_ns * 2 < 10000 ? 10000 : fetch_poll_ns * 2;
    else
        fetch_poll_ns /= 2;
    *fd = -1;
    int extra = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(h) + i * sizeof(int), sizeof f);
            if (*fd < 0) *fd = f;
            else { close(f); extra = 1; }
        }
    }
    *lost = *fd < 0 && (m.msg_flags & MSG_CTRUNC);
    if (extra || (m.msg_flags & MSG_TRUNC) || (*fd >= 0 && (m.msg_flags & MSG_CTRUNC))) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
        return -1;
    }
    return (int)n;
}

/* The names of the absolute *path* (len bytes) joined by single slashes into out (4096
 * bytes), "." left out and ".." taking the name before it off (at the root: nothing),
 * as Tfetch wants them; their length, 0 if none are left.  Not how the sandbox resolves
 * ".." after a symlink: the gofer then opens another file, which the check of its inode
 * refuses (gcc's libraries are found by /usr/lib/gcc/x86_64-linux-gnu/12/../../../...). */
static int fetch_names(char *out, const char *path, int len)
{
    int n = 0, i = 0;
    while (i < len) {
        while (i < len && path[i] == '/') i++;
        int start = i;
        while (i < len && path[i] != '/') i++;
        int k = i - start;
        if (k == 0 || (k == 1 && path[start] == '.')) continue;
        if (k == 2 && path[start] == '.' && path[start + 1] == '.') {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;                 /* the slash before it */
            continue;
        }
        if (n + (n > 0) + k >= 4096) return 0;
        if (n > 0) out[n++] = '/';
        memcpy(out + n, path + start, (size_t)k);
        n += k;
    }
    return n;
}

/* Whether a directory on the path (up to a ".."), or its last name when the open follows
 * it, is a symlink the cache has an answer for: the gofer follows none (ld.so's
 * /lib/x86_64-linux-gnu/... with /lib -> usr/lib, a library's soname), so the fetch would
 * fail, a round trip for nothing.  (Only answers kept already: filling a directory's
 * listing for each name on the way would cost more than the round trip.) */
static int fetch_through_link(uint64_t base, int nofollow, const char *path, int len)
{
    struct sc_entry *e;
    for (int i = 1; i < len; i++) {
        if (path[i] != '/' || path[i - 1] == '/') continue;
        int start = dir_prefix_len(path, i - 1);
        if (i - start == 2 && path[start] == '.' && path[start + 1] == '.') return 0;
        e = sc_get(RT_SC_STAT, base, 1, path, i);
        if (e && !e->err && sc_is_link(e, RT_SC_STAT)) return 1;
    }
    e = nofollow ? NULL : sc_get(RT_SC_STAT, base, 1, path, len);
    return e && !e->err && sc_is_link(e, RT_SC_STAT);
}

/* An errno of the gofer's that holds for the path for as long as the lower layer does
 * (the rest, EMFILE, ENOMEM, EIO..., may not hold at the next open) */
static int fetch_lasting(uint32_t err)
{
    return err == ELOOP || err == ENOENT || err == EXDEV || err == EACCES || err == ENOTDIR
        || err == ENAMETOOLONG || err == EINVAL;
}

/* Whether C fetches a file of this answer whose key hashes to *h*: a regular file
 * everyone may read, of the fetched file system, whose fetch did not fail for good in
 * this generation. */
static int fetch_wanted(const struct stat *st, uint64_t h)
{
    return S_ISREG(st->st_mode) && (st->st_mode & 0444) == 0444 && st->st_dev == fetch_dev
           && !fetch_failed_before(h);
}

/* Ask the gofer for the path's file (Tfetch, not waiting for the reply): 0 if asked, -1
 * if C does not (no answer for it, not a regular file everyone may read of the fetched
 * file system, a key that failed before, a symlink on the way, no place for a relative
 * path) or the send failed.  *a* gets what fetch_answer checks the reply by. */
static int fetch_ask(uint64_t base, int nofollow, const char *path, int len,
                     struct fetch_ask *a)
{
    if (fetch_sock < 0 || fetch_paused || len <= 0 || len >= 4096) return -1;
    /* a relative path is fetched from its place's (joined below, once it is asked for) */
    int place = -1;
    if (path[0] != '/') {
        uint64_t key = base & ~(1ULL << 63);
        unsigned i = (unsigned)(key % FETCH_PLACES);
        if (!key || fetch_places[i].key != key || !fetch_places[i].path
            || fetch_places[i].len + 1 + len >= 4096)
            return -1;
        place = (int)i;
    } else if (base & ~(1ULL << 63)) {
        return -1;
    }
    struct sc_entry *e = sc_get_or_fill(RT_SC_STAT, base, nofollow, path, len);
    if (!e || e->err) return -1;
    e->used = ++sc_clock;
    memcpy(&a->st, e->st, sizeof a->st);
    a->h = sc_hash(base, FETCH_KEY | nofollow << 4, path, (size_t)len);
    if (!fetch_wanted(&a->st, a->h)) return -1;
    /* below a directory on another host mount every fetch fails (EXDEV: the gofer's clone
     * of its mounts never changes; /home on a partition of its own under a do root) */
    int dlen = dir_prefix_len(path, len);
    a->dh = dlen ? sc_hash(base, FETCH_DIR_KEY, path, (size_t)dlen) : 0;
    if (dlen && fetch_failed_before(a->dh)) return -1;
    if (fetch_through_link(base, nofollow, path, len)) {
        fetch_fail(a->h);
        return -1;
    }
    /* the path from the root: an absolute one, else the place's and the relative one */
    const char *from_root = path;
    int rootlen = len;
    char joined[4096];
    if (place >= 0) {
        int plen = fetch_places[place].len;
        memcpy(joined, fetch_places[place].path, (size_t)plen);
        joined[plen] = '/';
        memcpy(joined + plen + 1, path, (size_t)len);
        from_root = joined;
        rootlen = plen + 1 + len;
    }
    /* header (id, 0: no CPU said), handle, flags, the path (u16 length, bytes) */
    unsigned char req[14 + 4096];
    int rlen = fetch_names((char *)req + 14, from_root, rootlen);
    if (rlen <= 0) return -1;
    int cpu = sched_getcpu();
    le16(req, FETCH_TFETCH);
    le16(req + 2, cpu >= 0 && cpu < 0xFFFF ? (uint32_t)cpu + 1 : 0);  /* keep_off's hint */
    le32(req + 4, fetch_root);
    le32(req + 8, nofollow ? O_NOFOLLOW : 0);
    le16(req + 12, (uint32_t)rlen);
    ssize_t sent;
    do sent = send(fetch_sock, req, (size_t)(14 + rlen), MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent != 14 + rlen) return -1;    /* (a datagram goes whole or not at all) */
    a->dlen = dlen;
    a->gen = sc_gen;
    a->nr = call_nr;
    if (call_nr >= 0) n_gofer_nr[call_nr]++;
    return 0;
}

/* The reply to what fetch_ask asked (*a*): the host fd (the caller owns it), -1 if none
 * came (an error, remembered if it lasts; another file than the answer's; the sentry
 * out of fds; a reply no Tfetch has: fetch_broken).  *out* gets a re-open entry's
 * fields. */
static int fetch_answer(const struct fetch_ask *a, struct reopen *out)
{
    unsigned char rep[4 + WIRE_STAT + 4];
    int fd = -1, lost = 0;
    int64_t waited = 0;
    int n = fetch_recv(rep, (int)sizeof rep, &fd, &lost, &waited);
    /* (a wait while Python serves a call, its request's settle, is Python's time) */
    if (a->nr >= 0 && call_nr >= 0) gofer_ns_nr[a->nr] += (uint64_t)waited;
    uint32_t id = n >= 4 ? wire_u16(rep) : 0;
    if (lost && n == 4 + WIRE_STAT && id == FETCH_RFETCH) {
        fetch_failures++;                 /* out of fds: Python's open says so */
        return -1;
    }
    if (n == 8 && id == FETCH_RERROR && fd < 0 && wire_u16(rep + 2) == 0) {
        uint32_t err = wire_u32(rep + 4);
        if (a->gen == sc_gen) {           /* (a failure of a generation gone says nothing) */
            if (fetch_lasting(err)) fetch_fail(a->h);  /* (ELOOP, EXDEV, a file the host changed...) */
            if (err == EXDEV && a->dlen) fetch_fail(a->dh);
        }
        fetch_failures++;
        return -1;
    }
    if (n != 4 + WIRE_STAT || id != FETCH_RFETCH || wire_u16(rep + 2) || fd < 0) {
        if (fd >= 0) close(fd);
        fetch_broken();
        return -1;
    }
    const struct stat *st = &a->st;
    struct stat got;
    wire_stat(rep + 4, st->st_dev, &got);
    if (got.st_ino != st->st_ino || got.st_mode != st->st_mode || got.st_size != st->st_size
        || got.st_mtim.tv_sec != st->st_mtim.tv_sec || got.st_mtim.tv_nsec != st->st_mtim.tv_nsec
        || got.st_ctim.tv_sec != st->st_ctim.tv_sec || got.st_ctim.tv_nsec != st->st_ctim.tv_nsec) {
        close(fd);                        /* another file than the answer's */
        if (a->gen == sc_gen) fetch_fail(a->h);
        fetch_failures++;
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->gen = a->gen; out->fd = fd; out->ino = st->st_ino; out->mode = st->st_mode;
    out->dev = st->st_dev; out->uid = st->st_uid; out->gid = st->st_gid;
    fetch_count++;
    return fd;
}

/* The host fd of the path's file, fetched now (the caller owns it), -1 if C does not or
 * cannot; *out gets a re-open entry's fields. */
static int sc_fetch(uint64_t base, int nofollow, const char *path, int len, struct reopen *out)
{
    struct fetch_ask a;
    if (fetch_ask(base, nofollow, path, len, &a) < 0) return -1;
    return fetch_answer(&a, out);
}

/* ---- fetching ahead
 * A program that reads a directory's files one after another in its listing's order
 * (tar, cp -r, grep -r: each file opened, read and closed) opens the next regular file
 * of that listing next.  Once an open C served is of the file that came after the one it
 * served before (ahead_next), C asks the gofer for the file after it too (ahead_ask) and
 * goes on without waiting: the gofer opens it on its own CPU while the task reads this
 * one, and the reply is read before anything else uses the channel (rt_fetch_settle: the
 * next open C serves, Python's next request), its fd kept as a re-open's under its key
 * (in the generation it was asked in: a change since leaves it unused).  An open of
 * another file stops it until the order shows again: a program opening files in another
 * order (importlib's .pyc files) costs the gofer nothing more. */
#define AHEAD_SCAN 16                /* names after the file looked at for the next one */
#define AHEAD_FIND 512               /* names searched for the file itself */

/* The file *ino* may change without a bump from now on (a copy-up) or lost a name: the
 * reply to a fetch of it asked ahead is not kept (as reopen_forget drops a kept one). */
static void ahead_forget(uint64_t ino)
{
    if (ahead_pending && ahead.st.st_ino == ino) ahead.gen = sc_gen - 1;
}

/* Read the reply to the fetch asked ahead, if any: its fd kept for the re-open.  Returns
 * rt_fetch_broken's answer (Python's requests ask both in one call). */
int rt_fetch_settle(void)
{
    if (!ahead_pending) return fetch_is_broken;
    ahead_pending = 0;
    struct reopen r;
    int fd = fetch_answer(&ahead, &r);
    if (fd < 0) return fetch_is_broken;
    if (!rt_reopen_put(ahead_key.base, ahead_key.nofollow, ahead_key.path, ahead_key.len,
                       r.gen, fd, r.ino, r.mode, r.dev, r.uid, r.gid))
        close(fd);                        /* (a change since: its key means nothing now) */
    return fetch_is_broken;
}

uint64_t rt_fetch_ahead_count(int used) { return used ? ahead_used : ahead_asked; }

/* Whether the stat cache's answer for (base, nofollow, path) is a file C would fetch: a
 * regular file everyone may read, of the fetched file system, no symlink (an open
 * following one is Python's: fetch_through_link), not failed before (a file Python
 * opens is no C open, and would break the order).  Answers kept only: filling them from
 * the directory's listing would put its names again, freeing the ones ahead_next is
 * reading. */
static int ahead_regular(uint64_t base, int nofollow, const char *path, int len, uint64_t *h)
{
    /* (the lstat answer of a file that is no symlink is its stat answer too) */
    struct sc_entry *e = sc_get(RT_SC_STAT, base, 1, path, len);
    if (!e || e->err) return 0;
    struct stat st;
    memcpy(&st, e->st, sizeof st);
    uint64_t key = sc_hash(base, FETCH_KEY | nofollow << 4, path, (size_t)len);
    if (!fetch_wanted(&st, key)) return 0;
    *h = key;
    return 1;
}

/* The candidate name *cand* (l bytes) after the directory prefix already in out (dlen
 * bytes): its path's length if it is a file C would fetch (*h: its key's hash), 0 if
 * not, -1 if the path would be too long. */
static int ahead_cand(uint64_t base, int nofollow, char *out, int dlen, const char *cand,
                      size_t l, uint64_t *h)
{
    if ((size_t)dlen + l >= 4096) return -1;
    memcpy(out + dlen, cand, l);
    return ahead_regular(base, nofollow, out, dlen + (int)l, h) ? dlen + (int)l : 0;
}

/* The path (into out, 4096 bytes) of the regular file C would fetch that comes after the
 * file *path* names in its directory's listing (the stat cache's names of it), and its
 * key's hash (*h*); its length, 0 if none is near (anything else in between is passed
 * over, up to AHEAD_SCAN names).  *first* (if not NULL): no such file comes before it (of
 * AHEAD_SCAN names: a scan in listing order starts a directory with it). */
static int ahead_next(uint64_t base, int nofollow, const char *path, int len, char *out,
                      uint64_t *h, int *first)
{
    int dlen = dir_prefix_len(path, len);  /* (0: a name in the cwd, prefix "") */
    struct sc_entry *d = sc_get(RT_SC_DIR, base, 0, path, dlen);
    if (!d || !d->names) return 0;
    const char *name = path + dlen, *p = d->names, *stop = d->names + d->vlen;
    size_t nlen = (size_t)(len - dlen);
    int before = first != NULL;           /* every name before it is no such file */
    memcpy(out, path, (size_t)dlen);
    const char *at = d->names == ahead_names ? d->names + ahead_at : NULL;
    if (at && at + nlen < stop && (at == d->names || at[-1] == 0) && at[nlen] == 0
        && memcmp(at, name, nlen) == 0) {
        p = at + nlen + 1;                /* the name expected: where the last search left */
        before = 0;
    } else {
        for (int i = 0;; i++) {           /* the file's own name */
            if (p >= stop || i >= AHEAD_FIND) return 0;
            size_t l = strlen(p);
            const char *cand = p;
            p += l + 1;
            if (l == nlen && memcmp(cand, name, nlen) == 0) break;
            if (before && (i >= AHEAD_SCAN || ahead_cand(base, nofollow, out, dlen, cand, l, h)))
                before = 0;
        }
    }
    if (first) *first = before;
    for (int i = 0; i < AHEAD_SCAN && p < stop; i++) {
        size_t l = strlen(p);
        const char *cand = p;
        p += l + 1;
        int clen = ahead_cand(base, nofollow, out, dlen, cand, l, h);
        if (clen > 0) {
            ahead_names = d->names;       /* (the next search starts at this name) */
            ahead_at = (uint32_t)(cand - d->names);
            return clen;
        }
    }
    return 0;
}

/* An open C served of (base, nofollow, path) (any reply fetched ahead read already): if
 * it is in listing order (the file expected next, or the first file of a directory while
 * opens go in that order), ask for the one after it ahead. */
static void ahead_ask(uint64_t base, int nofollow, const char *path, int len)
{
    if (fetch_sock < 0) return;
    uint64_t h = sc_hash(base, FETCH_KEY | nofollow << 4, path, (size_t)len);
    int expected = ahead_pred && h == ahead_pred;
    if (expected && h == ahead_last) ahead_used++;
    char next[4096];
    uint64_t nh = 0;
    int first = 0;                        /* (asked only where it decides the order) */
    int nlen = ahead_next(base, nofollow, path, len, next, &nh,
                          !expected && ahead_in_order ? &first : NULL);
    ahead_pred = nlen ? nh : 0;
    ahead_in_order = expected || first;
    if (!nlen || !ahead_in_order) return;
    struct reopen *kept = reopen_find(sc_hash(base, REOPEN_KEY | nofollow << 4, next,
                                              (size_t)nlen), base, nofollow, next, nlen);
    if (kept && kept->gen == sc_gen) return;  /* (a fd is kept for it already) */
    if (fetch_ask(base, nofollow, next, nlen, &ahead) == 0) {
        ahead_pending = 1;
        ahead_key.base = base;
        ahead_key.nofollow = nofollow;
        ahead_key.len = nlen;
        memcpy(ahead_key.path, next, (size_t)nlen);
        ahead_last = ahead_pred;
        ahead_asked++;
    }
}

/* (O_NONBLOCK changes nothing for a regular file but the description's status flags,
 * which Python's description takes from the open's: tar opens each file with it) */
#define FILEC_OPEN_FLAGS (O_CLOEXEC | 0100000 | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK)

/* open of a key a host fd is kept under (read-only, no flag but those above): a fd in the
 * task's table (the lowest free, under its RLIMIT_NOFILE) on that host fd, which Python
 * makes a description for only when it handles something (rt_opened_pop,
 * rt_filec_info).  0: Python opens it. */
static int sc_open_file(uint32_t pid, const struct rt_task_info *t, const char *path, int len,
                        uint64_t base, int flags, int64_t *ret)
{
    struct reopen r;
    if (!dirc_on || (!reopen_count && fetch_sock < 0) || (flags & ~FILEC_OPEN_FLAGS)
        || path[len - 1] == '/' || t->fdt < 0 || t->fdt >= MAX_FDT
        || opened_head - opened_tail >= OPENED_RING)
        return 0;
    int fd = fd_lowest_free(t->fdt);
    if (fd < 0) return 0;
    int nofollow = (flags & O_NOFOLLOW) != 0;
    rt_fetch_settle();                    /* (the reply of a fetch ahead may be this file's) */
    int hfd = reopen_take(base, nofollow, path, len, sc_gen, &r);
    if (hfd < 0) hfd = sc_fetch(base, nofollow, path, len, &r);
    if (hfd < 0) return 0;
    ahead_ask(base, nofollow, path, len);
    struct filec *fc = calloc(1, sizeof *fc);
    if (!fc || !(fc->path = malloc((size_t)len))
        || rt_fd_set(t->fdt, fd, hfd, RT_FD_READ | RT_FD_SEEK | RT_FD_STAT | RT_FD_NOTTY
                                      | RT_FD_FILEC | RT_FD_MAP | (filec_mapx ? RT_FD_MAPX : 0),
                     r.dev, r.uid, r.gid) < 0) {
        if (fc) free(fc->path);
        free(fc);
        if (!rt_reopen_put(base, nofollow, path, len, r.gen, hfd, r.ino, r.mode, r.dev, r.uid,
                        r.gid))
            close(hfd);
        return 0;
    }
    memcpy(fc->path, path, (size_t)len);
    fc->plen = len;
    fc->tid = (int32_t)pid;
    fc->flags = flags;
    fc->base = base;
    fc->gen = r.gen;
    fc->ino = r.ino;
    fc->mode = r.mode;
    fc->serial = ++dirc_serial;
    fdts[t->fdt][fd].fc = fc;
    fd_used_set(t->fdt, fd, 1);
    opened_push(t->fdt, fd, fc->serial);
    sc_hits++;
    *ret = fd;
    return 1;
}

/* open/openat: a kept directory (sc_open_dir), or a path the cache knows is missing */
static int sc_open(uint32_t pid, const struct rt_task_info *t, int dirfd,
                   uint64_t path_addr, int flags, int64_t *ret)
{
    char path[4096];
    uint64_t base;
    if ((flags & ~SC_OPEN_FLAGS) || (flags & O_ACCMODE) == O_ACCMODE) return 0;
    int len = sc_path(pid, t, dirfd, path_addr, path, &base);
    if (!len) return 0;
    /* "dir/" names the directory "dir" (opendir of a path with a trailing slash: git's
     * untracked-file scan); the key of a kept one has none */
    int dlen = len;
    while (dlen > 1 && path[dlen - 1] == '/') dlen--;
    if (sc_open_dir(pid, t, path, dlen, base, flags, ret)) return 1;
    if (sc_open_file(pid, t, path, len, base, flags, ret)) return 1;
    if (!sc_absent(base, path, len)) return 0;
    *ret = -ENOENT;
    sc_hits++;
    return 1;
}

/* access/faccessat/faccessat2 from the cache: ENOENT for a path it knows is missing (as
 * sc_absent or a kept -ENOENT), 0 for F_OK of a path it kept a stat answer for (the walk
 * Python made for it found the file with the task's search permission), and R_OK/X_OK
 * from that answer's mode and owner, for a task whose access_ok holds (permissions.
 * mode_allows with use_real, sys_stat._access's twin). Without AT_EACCESS, access walks
 * the whole path with the real ids and access's capabilities (access_override_creds),
 * which are the stat walk's only while access_ok holds: Python's otherwise (a real uid
 * that may not search a directory the effective one may gets EACCES there, not the kept
 * answer or ENOENT). W_OK (a read-only mount, a running program), a flag but for F_OK's
 * AT_EACCESS, AT_EMPTY_PATH: Python. */
static int sc_access(uint32_t pid, const struct rt_task_info *t, int dirfd,
                     uint64_t path_addr, int mode, int flags, int64_t *ret)
{
    char path[4096];
    uint64_t base;
    if (mode & ~7 || flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW)) return 0;
    if (!t->access_ok && !(flags & AT_EACCESS)) return 0;
    int len = sc_path(pid, t, dirfd, path_addr, path, &base);
    if (!len) return 0;
    int nofollow = (flags & AT_SYMLINK_NOFOLLOW) != 0;
    struct sc_entry *e = sc_get_or_fill(RT_SC_STAT, base, nofollow, path, len);
    if (e) {
        if (!e->err && mode) {
            if (!t->access_ok || flags || mode & W_OK) return 0;
            uint32_t fmode, fuid, fgid;
            memcpy(&fmode, e->st + offsetof(struct stat, st_mode), sizeof fmode);
            memcpy(&fuid, e->st + offsetof(struct stat, st_uid), sizeof fuid);
            memcpy(&fgid, e->st + offsetof(struct stat, st_gid), sizeof fgid);
            /* the overflow id: the owner may be unmapped, where no capability overrides */
            if (fuid == 65534 || fgid == 65534) return 0;
            uint32_t bits = t->uid == fuid ? fmode >> 6 & 7
                          : t->gid == fgid ? fmode >> 3 & 7 : fmode & 7;
            int ok = ((uint32_t)mode & ~bits) == 0;
            if (!ok) {
                int override = t->access_caps & RT_ACCESS_DAC_OVERRIDE;
                int read_search = t->access_caps & RT_ACCESS_DAC_READ_SEARCH;
                if (S_ISDIR(fmode))
                    ok = override || read_search;         /* (no W_OK here) */
                else if (mode == R_OK && read_search)
                    ok = 1;
                else
                    ok = override && (!(mode & X_OK) || (fmode & 0111));
            }
            *ret = ok ? 0 : -EACCES;
        } else {
            *ret = e->err;
        }
        e->used = ++sc_clock;
    } else if (sc_absent(base, path, len)) {
        *ret = -ENOENT;
    } else {
        return 0;
    }
    sc_hits++;
    return 1;
}

/* newfstatat/statx/readlink from the cache; 0: not there (Python answers and may fill
 * it).  bufsiz: readlink's (positive), else unused. */
static int sc_lookup(uint32_t pid, const struct rt_task_info *t, int kind, int dirfd,
                     uint64_t path_addr, int nofollow, uint64_t buf, int bufsiz, int64_t *ret)
{
    char path[4096];
    uint64_t base;
    int len = sc_path(pid, t, dirfd, path_addr, path, &base);
    if (!len) return 0;
    if (kind == RT_SC_LINK && len == 14 && memcmp(path, "/proc/self/exe", 14) == 0) {
        struct task_slot *ts = task_find((int)pid, 0);
        if (!ts || !ts->exe || ts->exe_gen != sc_gen || ts->exe_ngen != sc_ngen)
            return 0;  /* (a removed program's link says " (deleted)") */
        int n = (int)ts->exe_len < bufsiz ? (int)ts->exe_len : bufsiz;
        *ret = rt_mem_write((int)pid, buf, ts->exe, (uint64_t)n) == n ? n : -EFAULT;
        sc_hits++;
        return 1;
    }
    struct sc_entry *e = sc_get_or_fill(kind, base, nofollow, path, len);
    if (!e) {
        if (kind == RT_SC_LINK && sc_not_link(base, path, len))
            *ret = -EINVAL;
        else if (sc_absent(base, path, len))
            *ret = -ENOENT;
        else
            return 0;
        sc_hits++;
        return 1;
    }
    e->used = ++sc_clock;
    if (e->err) {
        *ret = e->err;
    } else if (kind == RT_SC_LINK) {
        /* readlink: up to bufsiz bytes of the target, no NUL; the count */
        int n = (int)e->vlen < bufsiz ? (int)e->vlen : bufsiz;
        *ret = rt_mem_write((int)pid, buf, e->st, (uint64_t)n) == n ? n : -EFAULT;
    } else {
        int size = kind == RT_SC_STATX ? SC_STATX : SC_STAT;
        *ret = rt_mem_write((int)pid, buf, e->st, (uint64_t)size) == size ? 0 : -EFAULT;
    }
    sc_hits++;
    return 1;
}

/* ------------------------------------------------------------ memory */

int64_t rt_mem_read(int pid, uint64_t addr, void *buf, uint64_t n)
{
    struct iovec l = {buf, n}, r = {(void *)(uintptr_t)addr, n};
    ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);
    return got < 0 ? -errno : got;
}

int64_t rt_mem_write(int pid, uint64_t addr, const void *buf, uint64_t n)
{
    struct iovec l = {(void *)buf, n}, r = {(void *)(uintptr_t)addr, n};
    ssize_t put = process_vm_writev(pid, &l, 1, &r, 1, 0);
    return put < 0 ? -errno : put;
}

/* argv/envp of an execve: the NULL-terminated array of string pointers at addr, each
 * string copied to out (with its NUL) in order; *count gets how many.  Every page is
 * read once (strv_page), so the strings are one snapshot whatever another thread
 * writes meanwhile, as memory.py's TaskMemory.read_string_array (its Python twin, same
 * errors in the same order): -EFAULT for an unreadable pointer or string, -E2BIG for a
 * string longer than max_str or once the strings, their NULs and their pointers pass
 * max_total bytes (execve's errors); -ENOSPC if out (out_cap) is too small; -ENOMEM
 * past 1,536 distinct pages (strings scattered one per page: the sentry's memory for one
 * execve stays bounded, 6 MiB).  Returns the bytes written to out. */
#define STRV_SLOTS 2048   /* max_total (2 MiB) of strings and pointers spans ~520 pages */
struct strv_page { uint64_t page; int len; char *data; };
struct strv { int pid; int n; struct strv_page slot[STRV_SLOTS]; };

static struct strv_page *strv_page(struct strv *v, uint64_t page)
{
    unsigned h = (unsigned)(page >> 12) % STRV_SLOTS;
    for (unsigned i = 0; i < STRV_SLOTS; i++) {
        struct strv_page *p = &v->slot[(h + i) % STRV_SLOTS];
        if (p->data && p->page == page) return p;
        if (!p->data) {
            if (v->n >= STRV_SLOTS * 3 / 4 || !(p->data = malloc(4096))) return NULL;
            v->n++;
            p->page = page;
            /* what is readable of the page (0: nothing, a fault on use) */
            int64_t got = page ? rt_mem_read(v->pid, page, p->data, 4096) : -EFAULT;
            p->len = got < 0 ? 0 : (int)got;
            return p;
        }
    }
    return NULL;
}

static int strv_u64(struct strv *v, uint64_t a, uint64_t *out)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) {
        struct strv_page *p = strv_page(v, (a + i) & ~4095ULL);
        if (!p) return -ENOMEM;
        if ((int)((a + i) & 4095) >= p->len) return -EFAULT;
        b[i] = (unsigned char)p->data[(a + i) & 4095];
    }
    memcpy(out, b, 8);
    return 0;
}

int64_t rt_read_strv(int pid, uint64_t addr, uint64_t max_total, uint64_t max_str,
                     char *out, uint64_t out_cap, uint32_t *count)
{
    struct strv *v = calloc(1, sizeof *v);
    int64_t ret = 0;
    uint64_t total = 0, used = 0;
    *count = 0;
    if (!v) return -ENOMEM;
    v->pid = pid;
    while (addr) {
        uint64_t sp;
        int e = strv_u64(v, addr, &sp);
        if (e) { ret = e; goto out; }
        if (!sp) break;
        uint64_t len = 0, a = sp;
        for (;;) {
            struct strv_page *p = strv_page(v, a & ~4095ULL);
            if (!p) { ret = -ENOMEM; goto out; }
            int off = (int)(a & 4095);
            if (off >= p->len) { ret = -EFAULT; goto out; }
            char *nul = memchr(p->data + off, 0, (size_t)(p->len - off));
            uint64_t take = nul ? (uint64_t)(nul - (p->data + off)) : (uint64_t)(p->len - off);
            if (used + len + take + 1 > out_cap) {
                /* keep the Python twin's error order: only a string that fits max_str
                 * and max_total makes a bigger buffer worth asking for */
                if (len + take <= max_str && total + len + take + 9 <= max_total) {
                    ret = -ENOSPC;
                    goto out;
                }
            } else {
                memcpy(out + used + len, p->data + off, take);
            }
            len += take;
            if (len > max_str) { ret = -E2BIG; goto out; }
            if (nul) break;
            if (p->len < 4096) { ret = -EFAULT; goto out; }
            a = (a & ~4095ULL) + 4096;
        }
        total += len + 1 + 8;
        if (total > max_total) { ret = -E2BIG; goto out; }
        out[used + len] = 0;
        used += len + 1;
        (*count)++;
        addr += 8;
    }
    ret = (int64_t)used;
out:
    for (int i = 0; i < STRV_SLOTS; i++) free(v->slot[i].data);
    free(v);
    return ret;
}

/* ------------------------------------------------------------ fast handlers
 * Each has a Python twin in sentry/syscalls/linux (same semantics; the tests
 * run both).  A handler returns 0 to hand the call to Python. */

static char *scratch;

static struct fd_slot *fd_find(const struct rt_task_info *t, uint64_t fdarg, int kind)
{
    int fd = (int)fdarg;     /* the kernel reads an int */
    if (t->fdt < 0 || t->fdt >= MAX_FDT || !fdts[t->fdt] || fd < 0 || fd >= fdt_cap[t->fdt])
        return NULL;
    struct fd_slot *s = &fdts[t->fdt][fd];
    return (s->kinds & kind) ? s : NULL;
}

/* fstat of a RT_FD_BLOB slot: the answer Python left, while nothing has changed since */
static int blob_stat(uint32_t pid, struct fd_slot *f, uint64_t buf, int64_t *ret)
{
    if (!f->blob || f->blob_gen != sc_gen) return 0;
    *ret = rt_mem_write((int)pid, buf, f->blob, SC_STAT) == SC_STAT ? 0 : -EFAULT;
    return 1;
}

/* statx(fd, "", AT_EMPTY_PATH) of a RT_FD_BLOB slot: its stat answer as statx packs it
 * (sys_stat.statx: the description's stat, its mount's id) */
static int blob_statx(uint32_t pid, const struct rt_task_info *t, uint64_t fdarg, uint64_t buf,
                      int64_t *ret)
{
    struct fd_slot *f = fd_find(t, fdarg, RT_FD_BLOB);
    if (!f || !f->blob || f->blob_gen != sc_gen) return 0;
    struct stat st;
    unsigned char sx[SC_STATX];
    memcpy(&st, f->blob, sizeof st);
    statx_of(&st, f->blob_mnt, sx);
    *ret = rt_mem_write((int)pid, buf, sx, SC_STATX) == SC_STATX ? 0 : -EFAULT;
    return 1;
}

/* getxattr/lgetxattr of an attribute no file of the trusted lower layer has (the sentry
 * shows their user.* ones only: GoferInode.getxattr): ENODATA for a path with a kept
 * stat answer (the same walk, and such a file).  Other names, and paths the cache does
 * not know: Python. */
static int sc_xattr_absent(uint32_t pid, const struct rt_task_info *t, uint64_t path_addr,
                           uint64_t name_addr, int nofollow, int64_t *ret)
{
    static const char *const absent[] = {"security.selinux", "security.capability",
                                         "system.posix_acl_access", "system.posix_acl_default"};
    char name[32];
    int64_t got = rt_mem_read((int)pid, name_addr, name, sizeof name);
    if (got <= 0) return 0;
    const char *nul = memchr(name, 0, (size_t)got);
    if (!nul) return 0;
    int known = 0;
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (strcmp(name, absent[i]) == 0) known = 1;
    if (!known) return 0;
    char path[4096];
    uint64_t base;
    int len = sc_path(pid, t, AT_FDCWD, path_addr, path, &base);
    if (!len) return 0;
    struct sc_entry *e = sc_get(RT_SC_STAT, base, nofollow, path, len);
    if (!e || e->err) return 0;
    e->used = ++sc_clock;
    *ret = -ENODATA;
    sc_hits++;
    return 1;
}

/* fstat of a fd: the answer Python left (a trusted directory), or the host fd's with the
 * sandbox's device and owner; 0: Python answers */
static int fd_stat(uint32_t pid, const struct rt_task_info *t, uint64_t fdarg, uint64_t buf,
                   int64_t *ret)
{
    struct fd_slot *f;
    struct stat st;
    if ((f = fd_find(t, fdarg, RT_FD_BLOB)))
        return blob_stat(pid, f, buf, ret);
    if (!(f = fd_find(t, fdarg, RT_FD_STAT))) return 0;
    if (fstat(f->host_fd, &st) < 0) { *ret = -errno; return 1; }
    st.st_dev = f->dev;
    st.st_uid = f->uid;
    st.st_gid = f->gid;
    *ret = rt_mem_write((int)pid, buf, &st, sizeof st) == (int64_t)sizeof st ? 0 : -EFAULT;
    return 1;
}

/* copy r bytes of scratch out; on a fault undo the offset change */
static int64_t copy_out_read(uint32_t pid, uint64_t addr, int host_fd, ssize_t r, int undo)
{
    if (r <= 0) return r;
    int64_t w = rt_mem_write((int)pid, addr, scratch, (uint64_t)r);
    if (w == r) return r;
    if (w < 0) w = 0;
    if (undo) lseek(host_fd, -(off_t)(r - w), SEEK_CUR);
    return w > 0 ? w : -EFAULT;
}

/* getdents64 records of ".", ".." and a kept directory's entries: d_off is the index of
 * the next record, as Python's (sys_fs.getdents64); NULL if they do not parse. */
static struct dirc_recs *dirc_records(const struct dirc_head *h, const unsigned char *wire)
{
    size_t cap = 2 * 32 + (size_t)h->count * 24 + h->wire_len, len = 0;
    struct dirc_recs *recs = malloc(sizeof *recs + cap);
    if (!recs) return NULL;
    unsigned char *out = recs->data;
    uint64_t idx = 0;
    int kind, l;
    const char *n;
    const unsigned char *w;
    uint64_t ino;
    for (uint32_t off = 0, i = 0; i < h->count + 2; i++) {
        uint8_t type = DT_DIR;
        if (i == 0) { n = "."; l = 1; ino = h->ino; }
        else if (i == 1) { n = ".."; l = 2; ino = h->parent_ino; }
        else {
            if (off >= h->wire_len
                || !(off = wire_next(wire, h->wire_len, off, &kind, &n, &l, &w, &ino))) {
                free(recs);
                return NULL;
            }
            if (kind) type = (uint8_t)((wire_u32(w + 16) & S_IFMT) >> 12);
        }
        uint16_t reclen = (uint16_t)((19 + l + 8) & ~7);
        if (len + reclen > cap) {
            free(recs);
            return NULL;
        }
        int64_t next = (int64_t)++idx;
        unsigned char *r = out + len;
        memset(r, 0, reclen);
        memcpy(r, &ino, 8);
        memcpy(r + 8, &next, 8);
        memcpy(r + 16, &reclen, 2);
        r[18] = type;
        memcpy(r + 19, n, (size_t)l);
        len += reclen;
    }
    recs->refs = 1;
    recs->len = (uint32_t)len;
    return recs;
}

#define DIRC_OPEN_FLAGS (O_DIRECTORY | O_NONBLOCK | O_CLOEXEC | 0100000 | O_NOCTTY | O_NOFOLLOW)

/* Hand over the answers of the entries of the directory kept in *e* (RT_SC_DIRC) under
 * *prefix* (its path and a "/", or "" for the cwd) if they did not go over in this
 * generation (and with statx's, once those are wanted): what Python's listing would
 * have put (put_wire).  Returns 1 if it put them (0 for a listing that does not parse,
 * which is not tried again in this generation). */
static int dirc_fill(struct sc_entry *e, uint64_t base, const char *prefix, int plen)
{
    struct dirc_head *h = (struct dirc_head *)e->names;
    if (h->filled_gen == sc_gen && h->filled_statx == (uint32_t)sc_statx_wanted) return 0;
    /* the entries' answers, from a copy: putting them may reuse e */
    h->filled_gen = sc_gen;
    h->filled_statx = (uint32_t)sc_statx_wanted;
    uint32_t wire_len = h->wire_len, count = h->count;
    uint64_t dev = h->dev, mnt_id = h->mnt_id, ino = h->ino;
    memcpy(scratch, e->names + sizeof *h, wire_len);
    return put_wire(base, prefix, plen, (unsigned char *)scratch, wire_len,
                    count ? (int)count : 1, dev, "", 0, sc_gen, sc_statx_wanted, mnt_id,
                    ino) >= 0;   /* (a listing that does not parse: not again) */
}

/* Directories with more entries are not filled by a lookup of one of them (the twin of
 * statcache.PREFILL_MAX): a stat of one file would push out the answers of others. */
#define SC_FILL_MAX 1024

/* A path with no answer whose directory C keeps (RT_SC_DIRC: a tree fetch brought it, or
 * Python listed it) with its entries' answers not yet handed over: hand them over, as
 * Python's stat of one of them or C's open of the directory would (git status stats
 * each directory's files in turn: the first of each was Python's, ~110 us).  1 if it
 * did: look again. */
static int sc_fill_parent(uint64_t base, const char *path, int len)
{
    int cut = dir_prefix_len(path, len);
    /* the last component's prefix: "" (the cwd's), "/" or "dir/"; "a//b", "a/", ... never
     * name a kept directory's entry by its key */
    if (cut == len || (cut > 1 && path[cut - 2] == '/')) return 0;
    int dlen = cut > 1 ? cut - 1 : cut;
    struct sc_entry *e = sc_get(RT_SC_DIRC, base, 0, path, dlen);
    if (!e || !e->names || ((struct dirc_head *)e->names)->count > SC_FILL_MAX) return 0;
    e->used = ++sc_clock;
    return dirc_fill(e, base, path, cut);   /* (put_wire reads the prefix, keeps nothing) */
}

/* open of a directory kept under (base, path) (RT_SC_DIRC), read-only: a fd in the
 * task's table (the lowest free, under its RLIMIT_NOFILE), which Python makes a
 * description for only when it handles something (rt_opened_pop, rt_dirc_info); the
 * entries' stat answers are handed over once a generation.  0: Python opens it. */
static int sc_open_dir(uint32_t pid, const struct rt_task_info *t, const char *path, int len,
                       uint64_t base, int flags, int64_t *ret)
{
    if (!dirc_on || (flags & ~DIRC_OPEN_FLAGS) || (flags & O_ACCMODE) != O_RDONLY
        || t->fdt < 0 || t->fdt >= MAX_FDT || opened_head - opened_tail >= OPENED_RING)
        return 0;
    struct sc_entry *e = sc_get(RT_SC_DIRC, base, 0, path, len);
    if (!e || !e->names) return 0;
    struct dirc_head *h = (struct dirc_head *)e->names;
    int fd = fd_lowest_free(t->fdt);
    if (fd < 0) return 0;
    if (!h->recs && !(h->recs = dirc_records(h, (unsigned char *)e->names + sizeof *h)))
        return 0;
    struct dirc *dc = calloc(1, sizeof *dc);
    if (!dc || !(dc->path = malloc((size_t)len))) {
        free(dc);
        return 0;
    }
    memcpy(dc->path, path, (size_t)len);
    dc->plen = len;
    dc->tid = (int32_t)pid;
    dc->flags = flags;
    dc->serial = ++dirc_serial;
    dc->nfds = 1;
    dc->fds[0].fd = fd;
    dc->fds[0].cloexec = (flags & O_CLOEXEC) != 0;
    if (rt_fd_set(t->fdt, fd, 0, RT_FD_BLOB | RT_FD_NOTTY | RT_FD_DIRC, 0, 0, 0) < 0
        || rt_fd_set_blob(t->fdt, fd, h->st, sc_gen, (uint32_t)h->mnt_id) != 1) {
        rt_fd_clear(t->fdt, fd);
        free(dc->path);
        free(dc);
        return 0;
    }
    dc->recs = h->recs;
    dc->recs->refs++;
    fdts[t->fdt][fd].dc = dc;
    /* its prefix (a kept path is shorter than 4000): the key of paths relative to the fd,
     * and its entries' answers' */
    char prefix[4000];
    int plen = len;
    memcpy(prefix, path, (size_t)len);
    if (!(len == 1 && path[0] == '/')) prefix[plen++] = '/';
    if (path[0] == '/') rt_fd_set_dir_key(t->fdt, fd, base, prefix, plen, sc_gen);
    fd_used_set(t->fdt, fd, 1);
    opened_push(t->fdt, fd, dc->serial);
    e->used = ++sc_clock;
    dirc_fill(e, base, prefix, plen);
    sc_hits++;
    *ret = fd;
    return 1;
}

/* getdents64 of a directory C opened: whole records from where the reader is */
static int dirc_getdents(uint32_t pid, struct fd_slot *f, uint64_t buf, uint64_t count,
                         int64_t *ret)
{
    struct dirc *dc = f->dc;
    const unsigned char *recs = dc->recs->data;
    uint32_t end = dc->pos, index = dc->index, total = dc->recs->len;
    while (end < total) {
        uint16_t reclen;
        memcpy(&reclen, recs + end + 16, 2);
        if ((uint64_t)(end - dc->pos) + reclen > count) break;
        end += reclen;
        index++;
    }
    if (end == dc->pos) {
        *ret = dc->pos < total ? -EINVAL : 0;
        return 1;
    }
    uint32_t n = end - dc->pos;
    if (rt_mem_write((int)pid, buf, recs + dc->pos, n) != (int64_t)n) {
        *ret = -EFAULT;
        return 1;
    }
    dc->pos = end;
    dc->index = index;
    *ret = n;
    return 1;
}

/* fcntl of a directory C opened (fts asks F_GETFL, sets FD_CLOEXEC and dups the fd):
 * F_GETFD/F_SETFD from the fd's own flag, F_GETFL as the description's flags
 * (FileDescription: the open's flags and O_LARGEFILE, without the open-time ones),
 * F_DUPFD/F_DUPFD_CLOEXEC a new fd sharing the reader (the lowest free from the
 * argument, under the limit).  Anything else, or a dup C cannot make: Python. */
static int dirc_fcntl(const struct rt_task_info *t, int fd, struct fd_slot *f, int cmd,
                      uint64_t arg, int64_t *ret)
{
    struct dirc *dc = f->dc;
    int *cx = dirc_cloexec(dc, fd);
    if (!cx) return 0;
    switch (cmd) {
    case F_GETFD: *ret = *cx ? FD_CLOEXEC : 0; return 1;
    case F_SETFD: *cx = ((int)arg & FD_CLOEXEC) != 0; *ret = 0; return 1;
    case F_GETFL:
        *ret = (dc->flags | 0100000) & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
        return 1;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        int minfd = (int)arg;
        if (minfd < 0 || dc->nfds >= DIRC_FDS) return 0;
        int nfd = fd_lowest_free_from(t->fdt, minfd);
        if (nfd < 0) return 0;
        unsigned char st[SC_STAT];
        memcpy(st, f->blob, SC_STAT);
        uint32_t gen = f->blob_gen, mnt = f->blob_mnt;
        char key[4000];
        uint32_t klen = f->dkey && f->dkey_len < sizeof key ? f->dkey_len : 0;
        uint64_t kbase = f->dkey_base, kgen = f->dkey_gen;
        if (klen) memcpy(key, f->dkey, klen);
        /* (rt_fd_set may move the table: f is not used after it) */
        if (rt_fd_set(t->fdt, nfd, 0, RT_FD_BLOB | RT_FD_NOTTY | RT_FD_DIRC, 0, 0, 0) < 0
            || rt_fd_set_blob(t->fdt, nfd, st, gen, mnt) != 1) {
            rt_fd_clear(t->fdt, nfd);
            return 0;
        }
        if (klen) rt_fd_set_dir_key(t->fdt, nfd, kbase, key, (int)klen, (uint32_t)kgen);
        fdts[t->fdt][nfd].dc = dc;
        dc->fds[dc->nfds].fd = nfd;
        dc->fds[dc->nfds].cloexec = cmd == F_DUPFD_CLOEXEC;
        dc->nfds++;
        fd_used_set(t->fdt, nfd, 1);
        *ret = nfd;
        return 1;
    }
    }
    return 0;
}

/* ------------------------------------------------------------ pipes
 * read, write, and sendfile of a gofer file into it, of a sandbox pipe (native/src/pipe.c)
 * that nothing waits on or watches (its wait queue has no subscriber: no one to wake, no
 * epoll event or SIGIO to make), and only what Python would do whole without waiting:
 * bytes to read, room for all of a write, a reader at the other end.  Anything else
 * (empty, full, no reader, a fault, a count of 0) changes nothing here and is Python's
 * (sys_file.read, write, sendfile and sentry/fsimpl/pipe/pipe.py, the twins). */
/* A read parked on a pipe (Python parked it and asked, rt_pipe_wait) is answered here when
 * C puts bytes in: Python learns it from the ring below before it handles anything, and
 * drops its parked call.  One whose notification is gone (the task killed) is only
 * forgotten (PIPE_GONE), its bytes left in the pipe; one that C cannot answer otherwise
 * (a fault, inotify watching: dirc_on) is handed back (PIPE_KICKED): C returns to Python
 * at once, which retries the read as for any wake-up.  (Before a thread group execs,
 * Python takes its other threads' reads back: the host ends them, and the leader's task
 * id may run the new program before the sentry hears of it.) */
#define PIPE_DONE 256
#define PIPE_ANSWERED 0
#define PIPE_KICKED 1
#define PIPE_GONE 2
static struct { uint64_t id, done; int32_t listener, kicked; } pipe_done[PIPE_DONE];
static unsigned pipe_done_head, pipe_done_tail;
static int pipe_kicked;

int rt_pipe_wait(struct rt_pipe *p, int listener, uint64_t id, int pid, uint64_t addr,
                 uint64_t n)
{
    if (p->w_on) return -EBUSY;
    p->w_on = 1;
    p->w_listener = listener;
    p->w_id = id;
    p->w_pid = (uint32_t)pid;
    p->w_addr = addr;
    p->w_n = n < MAX_IO ? n : MAX_IO;
    return 0;
}

int rt_pipe_wait_write(struct rt_pipe *p, int listener, uint64_t id, int pid, int nr, int fd,
                       uint64_t a1, uint64_t a2, uint64_t a3)
{
    if (nr != SYS_write && nr != SYS_sendfile) return -EINVAL;
    if (p->wr_on) return -EBUSY;
    p->wr_on = 1;
    p->wr_listener = listener;
    p->wr_id = id;
    p->wr_pid = (uint32_t)pid;
    p->wr_nr = nr;
    p->wr_fd = fd;
    p->wr_a[0] = a1;
    p->wr_a[1] = a2;
    p->wr_a[2] = a3;
    return 0;
}

int64_t rt_pipe_unwait(struct rt_pipe *p, int listener, uint64_t id)
{
    if (p->w_on && p->w_id == id && p->w_listener == listener) {
        p->w_on = 0;
        return -1;
    }
    if (p->wr_on && p->wr_id == id && p->wr_listener == listener) {
        p->wr_on = 0;
        return p->wr_nr == SYS_write ? (int64_t)p->wr_a[2] : 0;
    }
    return -1;
}

int rt_pipe_done_pop(int *listener, uint64_t *id, int *kicked, uint64_t *done)
{
    if (pipe_done_head == pipe_done_tail) return 0;
    unsigned i = pipe_done_tail++ % PIPE_DONE;
    *listener = pipe_done[i].listener;
    *id = pipe_done[i].id;
    *kicked = pipe_done[i].kicked;
    *done = pipe_done[i].done;
    return 1;
}

/* Whether C may change p: nothing but parked calls of its own wait on it, and the ring
 * has room to tell Python of those. */
static int pipe_unwatched(const struct rt_pipe *p)
{
    return !p->watched && pipe_done_head - pipe_done_tail + (unsigned)p->w_on
                          + (unsigned)p->wr_on <= PIPE_DONE;
}

/* done: a write's bytes that went (Python's args.done, for a call handed back) */
static void pipe_done_push(int listener, uint64_t id, int end, uint64_t done)
{
    if (end == PIPE_KICKED) pipe_kicked = 1;
    unsigned i = pipe_done_head++ % PIPE_DONE;
    pipe_done[i].id = id;
    pipe_done[i].done = done;
    pipe_done[i].listener = listener;
    pipe_done[i].kicked = end;
}

/* Bytes just went into p: answer its parked read with them (copied out, answered, then
 * taken), or hand it back to Python. */
static void pipe_wake(struct rt_pipe *p)
{
    if (!p->w_on) return;
    p->w_on = 0;
    int end = PIPE_KICKED;
    if (!rt_notif_id_valid(p->w_listener, p->w_id)) {
        end = PIPE_GONE;
    } else if (dirc_on) {
        uint32_t k = rt_pipe_copy_to(p, (int)p->w_pid, p->w_addr, (uint32_t)p->w_n);
        if (k && rt_respond(p->w_listener, p->w_id, k, 0, 0) == 0) {
            rt_pipe_pop(p, NULL, k);
            end = PIPE_ANSWERED;
        } else if (k) {
            end = PIPE_GONE;     /* (killed since: its bytes stay for another reader) */
        }
    }
    pipe_done_push(p->w_listener, p->w_id, end, 0);
}

/* access_ok: the range [addr, addr + n) ends inside the user address space */
static inline int user_range_ok(uint64_t addr, uint64_t n)
{
    return addr + n >= addr && addr + n <= USER_END;
}

static void pipe_room(struct rt_pipe *p);

/* ---- calls C parks itself
 * A read of an empty pipe, a write or sendfile into a full one, that Python would park
 * (blocking, the other end open, nothing else that could end it otherwise) C parks
 * itself in the pipe's wait slots (w_*, wr_*: as rt_pipe_wait and rt_pipe_wait_write
 * would) and answers nothing; Python makes its parked call (Dispatcher.adopt, from
 * rt_parked_pop) before it handles anything else, so that a signal, an exec or an exit
 * finds it.  Only for the call rt_next_event serves (call_listener), a description whose
 * O_NONBLOCK C knows (nonblock), and while nothing watches the pipe. */
#define PARKED_MAX 256
static struct parked_call {
    int32_t listener, nr;
    uint32_t pid;
    uint64_t id, args[6], done;
    struct rt_pipe *pipe;
} parked_calls[PARKED_MAX];
static unsigned parked_head, parked_tail;

int rt_parked_pop(int *listener, uint64_t *id, uint32_t *pid, int *nr, uint64_t *args,
                  uint64_t *done, struct rt_pipe **pipe)
{
    if (parked_head == parked_tail) return 0;
    struct parked_call *c = &parked_calls[parked_tail++ % PARKED_MAX];
    *listener = c->listener;
    *id = c->id;
    *pid = c->pid;
    *nr = c->nr;
    memcpy(args, c->args, sizeof c->args);
    *done = c->done;
    *pipe = c->pipe;
    return 1;
}

/* Whether C may park the call it serves on p: blocking, and room in both rings (the
 * parked call's, and the done ring for the wait slot it takes). */
static int may_park(const struct rt_pipe *p, const int32_t *nonblock)
{
    return call_listener >= 0 && nonblock && !*nonblock && dirc_on && !p->watched
           && parked_head - parked_tail < PARKED_MAX
           && pipe_done_head - pipe_done_tail + (unsigned)p->w_on + (unsigned)p->wr_on
              < PIPE_DONE;
}

/* done: the bytes of a write that went before it parked */
static int park(struct rt_pipe *p, uint32_t pid, int nr, const uint64_t *a, uint64_t done)
{
    struct parked_call *c = &parked_calls[parked_head++ % PARKED_MAX];
    c->pipe = p;
    c->listener = call_listener;
    c->id = call_id;
    c->pid = pid;
    c->nr = nr;
    memcpy(c->args, a, sizeof c->args);
    c->done = done;
    return RT_FAST_PARKED;
}

static int pipe_read(uint32_t pid, struct rt_pipe *p, const int32_t *nonblock, const uint64_t *a,
                     int64_t *ret)
{
    uint64_t buf = a[1], n = a[2];
    if (!pipe_unwatched(p) || !user_range_ok(buf, n)) return 0;
    if (!p->size) {
        /* empty: a blocking read with a writer left waits (PipeDescription.read) */
        if (!n || p->writers <= 0 || !may_park(p, nonblock)
            || rt_pipe_wait(p, call_listener, call_id, (int)pid, buf, n) < 0)
            return 0;
        return park(p, pid, SYS_read, a, 0);
    }
    uint32_t k = rt_pipe_pop_to(p, (int)pid, buf, n < MAX_IO ? (uint32_t)n : (uint32_t)MAX_IO);
    if (!k) return 0;            /* (a fault: nothing taken) */
    *ret = k;
    pipe_room(p);
    return 1;
}

/* Park a write (buf, n: what is left of it; done: what went) or a sendfile (a1 input fd,
 * a3 count) that found p full, as Python's would park (PipeDescription._store,
 * stream_write, sendfile's wait for room). */
static int park_writer(uint32_t pid, struct rt_pipe *p, const int32_t *nonblock, int nr,
                       const uint64_t *a, uint64_t buf, uint64_t n, uint64_t done)
{
    if (p->readers <= 0 || p->nslots < p->cap / 4096 || !may_park(p, nonblock)
        || rt_pipe_wait_write(p, call_listener, call_id, (int)pid, nr, (int)a[0],
                              nr == SYS_write ? buf : a[1], nr == SYS_write ? n : a[2],
                              nr == SYS_write ? done : a[3]) < 0)
        return 0;
    return park(p, pid, nr, a, done);
}

/* Put what fits of n bytes at buf in p, while it fits (a reader parked in C may take
 * some meanwhile; once: one pass, as a nonblocking write makes): the count, -1 if the
 * first bytes could not be read. */
static int64_t write_some(uint32_t pid, struct rt_pipe *p, uint64_t buf, uint64_t n, int once)
{
    uint64_t put = 0;
    for (int pass = 0; put < n && !(once && pass); pass++) {
        uint64_t left = n - put;
        uint32_t k = rt_pipe_push_room(p, left > MAX_IO ? (uint32_t)MAX_IO : (uint32_t)left, -1);
        if (!k || k > SCRATCH) break;
        if (rt_mem_read((int)pid, buf + put, scratch, k) != (int64_t)k
            || rt_pipe_push(p, scratch, k, -1) != k)
            return put ? (int64_t)put : -1;   /* (a fault, or out of memory: none of it) */
        put += k;
        pipe_wake(p);
    }
    return (int64_t)put;
}

static int pipe_write(uint32_t pid, struct rt_pipe *p, const int32_t *nonblock, const uint64_t *a,
                      int64_t *ret)
{
    uint64_t buf = a[1], n = a[2];
    if (!pipe_unwatched(p) || p->readers <= 0 || !n || !user_range_ok(buf, n))
        return 0;
    if (n > MAX_IO) n = MAX_IO;          /* (sys_file._io_count) */
    uint32_t room = rt_pipe_push_room(p, (uint32_t)n, -1);
    if (!room) return park_writer(pid, p, nonblock, SYS_write, a, buf, n, 0);
    if (room < n) {
        /* Linux's pipe_write: a blocking write of more than PIPE_BUF bytes puts what fits
         * and waits for room for the rest (one of at most PIPE_BUF waits for room for all
         * of it: Python's); a nonblocking one returns what went */
        int blocking = nonblock && !*nonblock;
        if (!nonblock || n <= 4096 || (blocking && (p->wr_on || !may_park(p, nonblock))))
            return 0;
        int64_t k = write_some(pid, p, buf, n, !blocking);
        if (k <= 0) return 0;
        if ((uint64_t)k < n && blocking && p->nslots >= p->cap / 4096) {
            rt_pipe_wait_write(p, call_listener, call_id, (int)pid, SYS_write, (int)a[0],
                               buf + (uint64_t)k, n - (uint64_t)k, (uint64_t)k);
            return park(p, pid, SYS_write, a, (uint64_t)k);
        }
        *ret = k;                        /* (or the account is spent: what went) */
        return 1;
    }
    if (n > SCRATCH) return 0;
    if (rt_mem_read((int)pid, buf, scratch, n) != (int64_t)n) return 0;
    if (rt_pipe_push(p, scratch, (uint32_t)n, -1) != n) return 0;  /* (out of memory: none) */
    pipe_wake(p);
    *ret = (int64_t)n;
    return 1;
}

/* sendfile(pipe, file, NULL, count): a regular file's bytes from its offset, a slot per
 * file page and only what the free slots take (splice_file_to_pipe, filemap_splice_read) */
static int pipe_sendfile(uint32_t pid, const struct rt_task_info *t, struct rt_pipe *p,
                         const int32_t *nonblock, const uint64_t *a, int64_t *ret)
{
    struct fd_slot *in = fd_find(t, a[1], RT_FD_READ);
    uint64_t count = a[3];
    if (!in || (in->kinds & (RT_FD_SEEK | RT_FD_NOTTY)) != (RT_FD_SEEK | RT_FD_NOTTY) || a[2]
        || !count || count > (1ULL << 40) || !pipe_unwatched(p) || p->readers <= 0)
        return 0;
    off_t pos = lseek(in->host_fd, 0, SEEK_CUR);
    /* (past the largest offset: rw_verify_area's EINVAL, Python's) */
    if (pos < 0 || (uint64_t)pos > (uint64_t)INT64_MAX - count) return 0;
    uint64_t take = rt_pipe_page_room(p, (uint64_t)pos);
    if (!take) return park_writer(pid, p, nonblock, SYS_sendfile, a, 0, 0, 0);   /* (full) */
    if (count < take) take = count;
    if (take > SCRATCH || !rt_pipe_fits(p, (uint32_t)take, pos)) return 0;
    /* (read moves the offset first: a pipe changed is a call answered) */
    ssize_t r = read(in->host_fd, scratch, take);
    if (r < 0) return 0;
    if (r && rt_pipe_push(p, scratch, (uint32_t)r, pos) != (uint32_t)r) {
        lseek(in->host_fd, pos, SEEK_SET);   /* (out of memory: nothing went) */
        return 0;
    }
    if (r) pipe_wake(p);
    *ret = r;
    return 1;
}

/* A read just took bytes out of p: go on with its parked write or sendfile, if there is
 * room now, as the fast path makes them: a sendfile takes what the room takes and is
 * answered; a write puts what fits of its rest (the first of its bytes go in before it
 * is answered, as Linux's pipe_write puts them) and is answered once all of it went,
 * else waits on; then Python is told.  What C would not make it hands back to Python
 * (no reader left: EPIPE and SIGPIPE; a fault; the memory account spent; an input C
 * does not read; inotify watching), with the bytes of a write that went. */
static void pipe_room(struct rt_pipe *p)
{
    /* (still full; once it is not, a free slot takes a write of at most PIPE_BUF whole) */
    if (!p->wr_on || p->nslots >= p->cap / 4096) return;
    uint64_t buf = p->wr_a[0], left = p->wr_a[1], done = p->wr_a[2];
    p->wr_on = 0;
    int end = PIPE_KICKED, answer = 0;
    int64_t ret = 0;
    struct task_slot *ts;
    if (!rt_notif_id_valid(p->wr_listener, p->wr_id)) {
        end = PIPE_GONE;
    } else if (dirc_on && p->readers > 0 && (ts = task_find((int)p->wr_pid, 0))) {
        if (p->wr_nr == SYS_write) {
            /* what fits of the rest; the call ends when all of it went */
            int64_t k = write_some(p->wr_pid, p, buf, left, 0);
            if (k > 0) {
                done += (uint64_t)k;
                /* full again: it waits on for the rest, unless its description turned
                 * nonblocking meanwhile (Linux's pipe_write looks each time: what went);
                 * its fd closed or another file there since is Python's */
                struct fd_slot *f = (uint64_t)k < left && p->nslots >= p->cap / 4096
                    ? fd_find(&ts->info, (uint64_t)(uint32_t)p->wr_fd, RT_FD_PIPE_W) : NULL;
                if ((uint64_t)k == left || (f && f->pipe == p && f->nonblock && *f->nonblock)) {
                    answer = 1;
                    ret = (int64_t)done;
                } else if (f && f->pipe == p && f->nonblock) {
                    p->wr_on = 1;
                    p->wr_a[0] = buf + (uint64_t)k;
                    p->wr_a[1] = left - (uint64_t)k;
                    p->wr_a[2] = done;
                    return;
                }
            }
        } else {
            uint64_t a[6] = {0, p->wr_a[0], 0, p->wr_a[2], 0, 0};
            answer = pipe_sendfile(p->wr_pid, &ts->info, p, NULL, a, &ret);
        }
        if (answer)
            end = rt_respond(p->wr_listener, p->wr_id, ret, 0, 0) == 0 ? PIPE_ANSWERED : PIPE_GONE;
    }
    pipe_done_push(p->wr_listener, p->wr_id, end, p->wr_nr == SYS_write ? done : 0);
}

/* mmap(2) of a file (the filter notifies no anonymous one) whose slot's host fd is the one
 * sys_mm.mmap_file would lend (RT_FD_MAP: a gofer regular file; RT_FD_MAPX: PROT_EXEC
 * too): after the checks Python makes before the host's (a length, an aligned offset, a
 * mapping type; a readable description, a writable one for a shared writable mapping, no
 * noexec mount for PROT_EXEC, not the numbers of the stub and of a program an exec lends),
 * that host fd goes into the task at the fd's number (SECCOMP_IOCTL_NOTIF_ADDFD,
 * close-on-exec, unless kcmp says it is there already: ld.so maps a library with four or
 * five mmaps of one fd) and the host runs the unchanged call.  Python names the mapping
 * (rt_mapped_pop).  Anything else, or a failure, is Python's, which fails or does the same. */
/* The flags MAP_SHARED_VALIDATE takes on x86-64 (LEGACY_MAP_MASK; sys_mm._VALIDATE_MASK's
 * twin): one with any other bit is Python's, which says EOPNOTSUPP where Linux does, before
 * the access checks (MAP_SYNC: when the host file's file system does not take it). */
#define VALIDATE_MASK (0x0fULL | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x3F800 | 0x40000 \
                       | 0x7C000000ULL)

static int fast_mmap(uint32_t pid, const struct rt_task_info *t, const uint64_t *a)
{
    uint64_t len = a[1], off = a[5];
    uint32_t prot = (uint32_t)a[2], kind = (uint32_t)a[3] & (MAP_SHARED | MAP_PRIVATE);
    int fd = (int)a[4];
    struct fd_slot *f;
    struct stat st;
    char *path = NULL;
    if (len == 0 || (off & 4095) || kind == 0 || fd < 0 || fd >= STUB_FD
        || ((a[3] & 3) == 3 && (a[3] & ~VALIDATE_MASK))
        || mapped_head - mapped_tail >= MAPPED_RING
        || !(f = fd_find(t, a[4], RT_FD_MAP)) || !(f->kinds & RT_FD_READ)
        /* a file C re-opened is named by what its path names from the opener's place
         * (cwd, root), which nothing changed since: no Python call came in between, or
         * it would have a description by now.  Another task's place may differ. */
        || (f->fc && f->fc->tid != (int32_t)pid)
        || ((prot & PROT_EXEC) && !(f->kinds & RT_FD_MAPX))
        || (kind != MAP_PRIVATE && (prot & PROT_WRITE) && !(f->kinds & RT_FD_WRITE))
        || fstat(f->host_fd, &st) < 0)
        return 0;
    /* The same fd mapped again by the same task, its last mapping not named yet: that name
     * is this one's (the fd's file cannot change without Python seeing it first) */
    uint64_t serial = f->fc ? f->fc->serial : 0;
    unsigned last = (mapped_head - 1) % MAPPED_RING;
    int again = mapped_head != mapped_tail && mapped_ring[last].tid == (int32_t)pid
                && mapped_ring[last].fdt == t->fdt && mapped_ring[last].fd == fd
                && mapped_ring[last].serial == serial && mapped_ring[last].hdev == st.st_dev
                && mapped_ring[last].hino == st.st_ino;
    if (f->fc && !again && !(path = malloc((size_t)f->fc->plen))) return 0;
    if (syscall(SYS_kcmp, (pid_t)pid, getpid(), KCMP_FILE, fd, f->host_fd) != 0) {
        struct seccomp_notif_addfd ad = {
            .id = call_id, .flags = SECCOMP_ADDFD_FLAG_SETFD, .srcfd = (uint32_t)f->host_fd,
            .newfd = (uint32_t)fd, .newfd_flags = O_CLOEXEC,
        };
        if (ioctl(call_listener, SECCOMP_IOCTL_NOTIF_ADDFD, &ad) < 0) {
            free(path);
            return 0;
        }
    }
    if (again) return RT_FAST_CONTINUE;
    unsigned i = mapped_head++ % MAPPED_RING;
    mapped_ring[i].plen = 0;
    mapped_ring[i].serial = serial;
    mapped_ring[i].tid = (int32_t)pid;
    mapped_ring[i].fdt = t->fdt;
    mapped_ring[i].fd = fd;
    mapped_ring[i].hdev = st.st_dev;
    mapped_ring[i].hino = st.st_ino;
    mapped_ring[i].path = path;
    if (path) {
        memcpy(path, f->fc->path, (size_t)f->fc->plen);
        mapped_ring[i].plen = f->fc->plen;
        mapped_ring[i].base = f->fc->base;
        mapped_ring[i].flags = f->fc->flags;
        mapped_ring[i].gen = f->fc->gen;
    }
    return RT_FAST_CONTINUE;
}

int rt_fast_call(uint32_t pid, int nr, const uint64_t *a, int64_t *ret)
{
    struct task_slot *ts = task_find((int)pid, 0);
    struct fd_slot *f;
    ssize_t r;
    if (!ts) return 0;
    const struct rt_task_info *t = &ts->info;
    if (!scratch && !(scratch = malloc(SCRATCH))) return 0;

    switch (nr) {
    case SYS_getpid: *ret = t->tgid; return 1;
    case SYS_gettid: *ret = t->tid; return 1;
    case SYS_getppid: *ret = t->ppid; return 1;
    case SYS_getuid: if (!t->ids_ok) return 0; *ret = t->uid; return 1;
    case SYS_geteuid: if (!t->ids_ok) return 0; *ret = t->euid; return 1;
    case SYS_getgid: if (!t->ids_ok) return 0; *ret = t->gid; return 1;
    case SYS_getegid: if (!t->ids_ok) return 0; *ret = t->egid; return 1;
    case SYS_rt_sigaction: {
        /* A query (no new action: the filter notifies only those) is the host's to answer
         * (CONTINUE), unless the sentry keeps that handler's copy and there is an old
         * buffer (sys_signal.rt_sigaction). */
        uint32_t sig = (uint32_t)a[0];
        if (!t->sa_ok || a[1] != 0) return 0;
        if (sig >= 1 && sig <= 64 && a[2] && (t->sa_forced >> (sig - 1) & 1)) return 0;
        return RT_FAST_CONTINUE;
    }
    case SYS_prlimit64: {
        /* Only the query of its own RLIMIT_STACK (the caller's pid or 0, no new limit). */
        int32_t who = (int32_t)a[0];
        if (!t->stack_ok || (uint32_t)a[1] != RLIMIT_STACK || a[2] != 0 || a[3] == 0
            || (who != 0 && who != t->tgid))
            return 0;
        uint64_t lim[2] = { t->stack_cur, t->stack_max };
        *ret = rt_mem_write((int)pid, a[3], lim, sizeof lim) == (int64_t)sizeof lim ? 0 : -EFAULT;
        return 1;
    }
    case SYS_mmap:
        return fast_mmap(pid, t, a);
    case SYS_read:
        if (!(f = fd_find(t, a[0], RT_FD_PIPE_R | RT_FD_READ))) return 0;
        if (f->kinds & RT_FD_PIPE_R) return pipe_read(pid, f->pipe, f->nonblock, a, ret);
        if (a[2] > SCRATCH) return 0;
        r = read(f->host_fd, scratch, a[2]);
        if (r < 0) { if (errno == EAGAIN || errno == EINTR) return 0; *ret = -errno; return 1; }
        *ret = copy_out_read(pid, a[1], f->host_fd, r, 1);
        return 1;
    case SYS_pread64:
        if (!(f = fd_find(t, a[0], RT_FD_READ)) || a[2] > SCRATCH) return 0;
        r = pread(f->host_fd, scratch, a[2], (off_t)a[3]);
        if (r < 0) { if (errno == EAGAIN || errno == EINTR) return 0; *ret = -errno; return 1; }
        *ret = copy_out_read(pid, a[1], f->host_fd, r, 0);
        return 1;
    case SYS_sendfile:
        if (!(f = fd_find(t, a[0], RT_FD_PIPE_W))) return 0;
        return pipe_sendfile(pid, t, f->pipe, f->nonblock, a, ret);
    case SYS_write: {
        if (!(f = fd_find(t, a[0], RT_FD_PIPE_W | RT_FD_NULL | RT_FD_WRITE))) return 0;
        if (f->kinds & RT_FD_PIPE_W) return pipe_write(pid, f->pipe, f->nonblock, a, ret);
        if (f->kinds & RT_FD_NULL) {
            /* write_null: vfs_write's range check and clamp, and the bytes never read
             * (sys_file.write's twin) */
            if (!user_range_ok(a[1], a[2])) *ret = -EFAULT;
            else *ret = (int64_t)(a[2] < MAX_RW_COUNT ? a[2] : MAX_RW_COUNT);
            return 1;
        }
        if (a[2] > SCRATCH) return 0;
        if (a[2] == 0) { *ret = 0; return 1; }
        int64_t got = rt_mem_read((int)pid, a[1], scratch, a[2]);
        if (got <= 0) { *ret = -EFAULT; return 1; }
        r = write(f->host_fd, scratch, (size_t)got);
        /* EPIPE: Python raises SIGPIPE in the task as well. */
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == EPIPE) return 0;
            *ret = -errno;
            return 1;
        }
        *ret = r;
        return 1;
    }
    case SYS_lseek:
        if (!(f = fd_find(t, a[0], RT_FD_SEEK))) return 0;
        r = lseek(f->host_fd, (off_t)a[1], (int)a[2]);
        *ret = r < 0 ? -errno : r;
        return 1;
    case SYS_fstat:
        return fd_stat(pid, t, a[0], a[1], ret);
    case SYS_newfstatat: {
        /* glibc's fstat is fstatat(fd, "", AT_EMPTY_PATH): the same as SYS_fstat */
        if ((int)a[3] == AT_EMPTY_PATH) {
            char c;
            if (rt_mem_read((int)pid, a[1], &c, 1) != 1 || c != 0) return 0;
            return fd_stat(pid, t, a[0], a[2], ret);
        }
        if ((int)a[3] & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)) return 0;
        return sc_lookup(pid, t, RT_SC_STAT, (int)a[0], a[1], ((int)a[3] & AT_SYMLINK_NOFOLLOW) != 0,
                         a[2], 0, ret);
    }
    case SYS_statx:
        /* statx(dirfd, path, flags, mask, buf): the answer does not depend on the mask
         * (every basic field, always); reserved mask bits and other flags: Python. */
        if (((int)a[2] & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE
            || ((uint32_t)a[3] & STATX__RESERVED))
            return 0;
        if ((int)a[2] & AT_EMPTY_PATH) {
            /* statx(fd, "", AT_EMPTY_PATH): ls reads a directory's inode number so */
            char c;
            if ((int)a[2] & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT
                              | AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC)
                || rt_mem_read((int)pid, a[1], &c, 1) != 1 || c != 0)
                return 0;
            return blob_statx(pid, t, a[0], a[4], ret);
        }
        if ((int)a[2] & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_FORCE_SYNC
                          | AT_STATX_DONT_SYNC))
            return 0;
        return sc_lookup(pid, t, RT_SC_STATX, (int)a[0], a[1], ((int)a[2] & AT_SYMLINK_NOFOLLOW) != 0,
                         a[4], 0, ret);
    case SYS_open:
        return sc_open(pid, t, AT_FDCWD, a[0], (int)a[1], ret);
    case SYS_openat:
        return sc_open(pid, t, (int)a[0], a[1], (int)a[2], ret);
    case SYS_access:
        return sc_access(pid, t, AT_FDCWD, a[0], (int)a[1], 0, ret);
    case SYS_faccessat:
        return sc_access(pid, t, (int)a[0], a[1], (int)a[2], 0, ret);
    case SYS_faccessat2:
        return sc_access(pid, t, (int)a[0], a[1], (int)a[2], (int)a[3], ret);
    case SYS_readlink:
        /* readlink(path, buf, bufsiz); bufsiz <= 0 is Python's EINVAL */
        if ((int)a[2] <= 0) return 0;
        return sc_lookup(pid, t, RT_SC_LINK, AT_FDCWD, a[0], 1, a[1], (int)a[2], ret);
    case SYS_readlinkat:
        if ((int)a[3] <= 0) return 0;
        return sc_lookup(pid, t, RT_SC_LINK, (int)a[0], a[1], 1, a[2], (int)a[3], ret);
    case SYS_fcntl:
        if (!(f = fd_find(t, a[0], RT_FD_DIRC)) || !f->blob) return 0;
        return dirc_fcntl(t, (int)a[0], f, (int)a[1], a[2], ret);
    case SYS_getxattr:
        return sc_xattr_absent(pid, t, a[0], a[1], 0, ret);
    case SYS_lgetxattr:
        return sc_xattr_absent(pid, t, a[0], a[1], 1, ret);
    case SYS_ioctl:
        /* isatty(3) and a terminal's size on a regular file or directory: ENOTTY, as
         * Linux answers any terminal request on them (the other requests: Python) */
        if (((uint32_t)a[1] != TCGETS && (uint32_t)a[1] != TIOCGWINSZ)
            || !fd_find(t, a[0], RT_FD_NOTTY)) return 0;
        *ret = -ENOTTY;
        return 1;
    case SYS_getdents64:
        if ((f = fd_find(t, a[0], RT_FD_DIRC))) return dirc_getdents(pid, f, a[1], a[2], ret);
        /* a trusted directory read to its end: 0 until Python moves the offset */
        if (!(f = fd_find(t, a[0], RT_FD_EOF)) || f->blob_gen != sc_gen) return 0;
        *ret = 0;
        return 1;
    case SYS_close: {
        /* A directory C opened: Python never had it, so nothing is left to release but
         * the slot (and, with its last fd, the directory and the ring's entry if it is
         * the last one: the common open, read, close).  Any other: its description (and
         * host fd) is released by Python, which drains the ring before it handles
         * anything else. */
        if (!(f = fd_find(t, a[0], ~0))) return 0;
        if (f->kinds & (RT_FD_FILEC | RT_FD_DIRC)) {
            if (posix_locks) return 0;   /* it may release record locks: Python */
            filec_free(f, 1);            /* a file's host fd goes back under its key */
        } else {
            if (!(f->kinds & (RT_FD_READ | RT_FD_WRITE | RT_FD_SEEK | RT_FD_STAT | RT_FD_BLOB)))
                return 0;
            if (closed_head - closed_tail >= CLOSED_RING) return 0;
            closed_ring[closed_head % CLOSED_RING].fdt = t->fdt;
            closed_ring[closed_head % CLOSED_RING].fd = (int)a[0];
            closed_head++;
        }
        rt_fd_clear(t->fdt, (int)a[0]);
        fd_used_set(t->fdt, (int)a[0], 0);
        *ret = 0;
        return 1;
    }
    }
    return 0;
}

/* ------------------------------------------------------------ loop */

static int ep = -1, sigfd = -1, reap_pending;
static struct epoll_event evq[64];
static int evq_n, evq_i;

/* Tracees' wait statuses, taken from the host a batch at a time: every stop or exit
 * there is to report when the batch is taken, handed out in that order before the host
 * is asked again.  The host's waitpid(-1) reports the tracee attached last first (its
 * list of tracees is last in, first out), so one that stops again as soon as it is
 * resumed (a loop of forks refused at the pids limit, of execs of a missing file) got
 * every turn, and an older tracee's exec or clone waited behind it: for seconds, or
 * for ever beside a few of them.  A wait for one tracee takes its status from here
 * first (wq_take): the host reports a status once. */
#define WQ_MAX 256
static struct { int pid, st; } wq[WQ_MAX];
static int wq_n, wq_i;

/* The first status queued for *pid* (-1: any), taken out of the queue; 0 if none. */
static int wq_take(int pid, int *st)
{
    for (int i = wq_i; i < wq_n; i++) {
        if (pid != -1 && wq[i].pid != pid) continue;
        int w = wq[i].pid;
        *st = wq[i].st;
        memmove(&wq[i], &wq[i + 1], (size_t)(wq_n - i - 1) * sizeof wq[0]);
        wq_n--;
        return w;
    }
    return 0;
}

/* Every task started by rt_spawn_task has its own filter and so its own
 * listener (an exec'd process cannot share init's): tokens TOK_LISTENER - i. */
#define MAX_LISTENERS 1024
static int listeners[MAX_LISTENERS];
static int n_listeners;

#define TOK_SIGCHLD (~0ULL)
#define TOK_LISTENER (~0ULL - 1)
#define IS_LISTENER_TOK(t) ((t) <= TOK_LISTENER && (t) > TOK_LISTENER - MAX_LISTENERS)

int rt_loop_init(void)
{
    sigset_t set;
    struct epoll_event e;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -errno;
    if (sigfd < 0 && (sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) return -errno;
    if (ep < 0 && (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) return -errno;
    e.events = EPOLLIN;
    e.data.u64 = TOK_SIGCHLD;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sigfd, &e) < 0 && errno != EEXIST) return -errno;
    for (int i = 0; i < MAX_LISTENERS; i++) listeners[i] = -1;
    n_listeners = 0;
    /* The table is 4 MB of zero pages nothing has touched in a new sentry: clearing
     * them (again) cost ~2 ms of every start in page faults. */
    static int inited;
    if (inited) {
        for (int i = 0; i < TASK_SLOTS; i++) free(tasks[i].exe);
        memset(tasks, 0, sizeof tasks);
    }
    inited = 1;
    reap_pending = 1;
    wq_n = wq_i = 0;
    return 0;
}

/* Serve a listener from now on.  The loop closes it when the kernel reports
 * it hung up (every task under its filter is gone). */
int rt_loop_add_listener(int lfd)
{
    int i;
    for (i = 0; i < MAX_LISTENERS && listeners[i] >= 0; i++) {}
    if (i == MAX_LISTENERS) return -EMFILE;
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = TOK_LISTENER - (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) < 0) return -errno;
    listeners[i] = lfd;
    if (i >= n_listeners) n_listeners = i + 1;
    return 0;
}

int rt_loop_add_fd(int fd, uint32_t events, uint64_t token)
{
    struct epoll_event e = {.events = events, .data.u64 = token};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

int rt_loop_mod_fd(int fd, uint32_t events, uint64_t token)
{
    struct epoll_event e = {.events = events, .data.u64 = token};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) < 0 ? -errno : 0;
}

#define IS_FD_TOK(t) ((t) >> 32 == 0 || (t) >> 32 == RT_TOK_WATCH >> 32)

int rt_loop_del_fd(int fd)
{
    /* Drop the queued events of this fd (its token is the fd, with RT_TOK_WATCH for
     * the kernel's watch_host_fd), and only those: host fds are watched
     * edge-triggered, so another fd's event dropped here would never come back. */
    for (int i = evq_i; i < evq_n; i++)
        if (IS_FD_TOK(evq[i].data.u64) && (uint32_t)evq[i].data.u64 == (uint32_t)fd)
            evq[i].events = 0;
    return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* The readiness edges of watched host fds (tokens with RT_TOK_WATCH) that already
 * happened, taken out of the loop's queue now, up to max of them: the ones queued,
 * then the ones the host has for us meanwhile.  A loopback send makes its peer
 * readable before it returns, but the loop reports that edge only after the
 * notifications that were queued ahead of it: a wait that looks at readiness the
 * sentry was told of (epoll) takes these first, or it would see one of two sockets
 * that are both ready.  Other events (listeners, SIGCHLD, fds of other handlers)
 * stay queued in order; a listener already queued is not queued twice (it is
 * level-triggered, and a second NOTIF_RECV with nothing pending would block). */
int rt_loop_take_watched(uint64_t *tokens, uint32_t *events, int max)
{
    struct epoll_event fresh[64];
    int k = 0, n;
    if (evq_i > 0) {
        memmove(evq, evq + evq_i, (size_t)(evq_n - evq_i) * sizeof evq[0]);
        evq_n -= evq_i;
        evq_i = 0;
    }
    n = evq_n < 64 ? epoll_wait(ep, fresh, 64 - evq_n, 0) : 0;
    for (int i = 0; i < n; i++) {
        uint64_t t = fresh[i].data.u64;
        int dup = 0;
        if (!(t & RT_TOK_WATCH) || !IS_FD_TOK(t))
            for (int j = 0; j < evq_n && !dup; j++)
                dup = evq[j].data.u64 == t && evq[j].events;
        if (!dup)
            evq[evq_n++] = fresh[i];
    }
    for (int i = 0; i < evq_n && k < max; i++) {
        uint64_t t = evq[i].data.u64;
        if (evq[i].events && IS_FD_TOK(t) && (t & RT_TOK_WATCH)) {
            tokens[k] = t;
            events[k++] = evq[i].events;
            evq[i].events = 0;
        }
    }
    return k;
}

int rt_respond(int lfd, uint64_t id, int64_t val, int32_t error, uint32_t flags)
{
    struct seccomp_notif_resp resp = {.id = id, .val = val, .error = error, .flags = flags};
    if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return -errno;
    return 0;
}

int rt_addfd(int lfd, uint64_t id, int srcfd, int newfd, uint32_t newfd_flags)
{
    struct seccomp_notif_addfd a = {
        .id = id, .flags = SECCOMP_ADDFD_FLAG_SETFD, .srcfd = (uint32_t)srcfd,
        .newfd = (uint32_t)newfd, .newfd_flags = newfd_flags,
    };
    int r = ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    return r < 0 ? -errno : r;
}

int rt_notif_id_valid(int lfd, uint64_t id)
{
    return ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int rt_getcpu(void)
{
    int cpu = sched_getcpu();
    return cpu < 0 ? -errno : cpu;
}

/* Fast calls one rt_next_event answers at most before it returns to Python anyway,
 * whatever the deadline: a workload making nothing but fast calls (a getpid spin)
 * still lets the Python loop take its turn that often. */
#define FAST_BURST 4096

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* C may resume the seccomp stops sigaction_stop_c takes: no task of the sandbox has been
 * traced by another (its tracer decides how its stops resume) and it is not paused (its
 * stops wait for the resume): rt_stops_plain, Python's. */
static int stops_plain;

void rt_stops_plain(int on)
{
    stops_plain = on != 0;
}

/* The RET_TRACE stop of an rt_sigaction(sig, act, oact, 8) whose new action is SIG_DFL or
 * SIG_IGN, of a signal the sentry keeps nothing about (no handler copy of its own, not
 * the workload's SA_RESTART, not SIGCHLD, whose SA_NOCLDSTOP it keeps): all
 * sys_signal.sigaction_stop would do is resume it (PTRACE_CONT) for the host to run the
 * call as asked.  A shell's child sets six such before its exec.  1: done. */
static int sigaction_stop_c(int w, int st)
{
    struct user_regs_struct regs;
    uint64_t handler;
    if (!stops_plain || !WIFSTOPPED(st) || (st >> 8) != (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)))
        return 0;
    struct task_slot *ts = task_find(w, 0);
    if (!ts || !ts->info.sa_ok || ptrace(PTRACE_GETREGS, w, 0, &regs) < 0
        || regs.orig_rax != SYS_rt_sigaction)
        return 0;
    uint32_t sig = (uint32_t)regs.rdi;
    if (sig < 1 || sig > 64 || sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD
        || regs.r10 != 8 || !regs.rsi
        || ((ts->info.sa_forced | ts->info.sa_restart) >> (sig - 1) & 1)
        || rt_mem_read(w, regs.rsi, &handler, sizeof handler) != (int64_t)sizeof handler
        || handler > 1 /* SIG_IGN */ || ptrace(PTRACE_CONT, w, 0, 0) < 0)
        return 0;
    n_fast++;
    n_fast_nr[SYS_rt_sigaction]++;
    return 1;
}

/* timeout_ms is a deadline (the sentry's next timer), not an idle time: it is
 * reported as RT_EV_TIMEOUT when it passes, also while fast calls keep coming. */
int rt_next_event(struct rt_event *ev, int timeout_ms)
{
    struct seccomp_notif req;
    int st, burst = 0;
    int64_t deadline = timeout_ms >= 0 ? mono_ns() + (int64_t)timeout_ms * 1000000 : 0;
    for (;;) {
        if (wq_i == wq_n && reap_pending) {
            int w;
            wq_i = wq_n = 0;
            while (wq_n < WQ_MAX && (w = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
                wq[wq_n].pid = w;
                wq[wq_n].st = st;
                wq_n++;
            }
            if (wq_n < WQ_MAX) reap_pending = 0;
        }
        if (wq_i < wq_n) {
            int w = wq[wq_i].pid;
            st = wq[wq_i].st;
            wq_i++;
            if (sigaction_stop_c(w, st)) {
                /* (a loop of them lets the timers and Python run, as fast calls do) */
                if (++burst >= FAST_BURST || (timeout_ms >= 0 && mono_ns() >= deadline)) {
                    ev->kind = RT_EV_TIMEOUT;
                    return 0;
                }
                continue;
            }
            ev->kind = RT_EV_PTRACE; ev->wpid = w; ev->wstatus = st;
            return 0;
        }
        if (evq_i < evq_n) {
            struct epoll_event *e = &evq[evq_i++];
            if (!e->events) continue;
            if (e->data.u64 == TOK_SIGCHLD) {
                /* SIGCHLD is coalesced: one siginfo is pending at most, so one read
                 * of a few empties the signalfd (a second read, EAGAIN, cost a
                 * syscall per ptrace stop: ~8 per fork+exec) */
                struct signalfd_siginfo si[4];
                while (read(sigfd, si, sizeof si) == (ssize_t)sizeof si) {}
                reap_pending = 1;
                continue;
            }
            if (IS_LISTENER_TOK(e->data.u64)) {
                int slot = (int)(TOK_LISTENER - e->data.u64), listener = listeners[slot];
                if (listener < 0) continue;
                if (!(e->events & EPOLLIN) && (e->events & (EPOLLHUP | EPOLLERR))) {
                    /* No task is left under this filter. */
                    epoll_ctl(ep, EPOLL_CTL_DEL, listener, NULL);
                    close(listener);
                    listeners[slot] = -1;
                    continue;
                }
                memset(&req, 0, sizeof req);
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
                    if (errno == EINTR || errno == ENOENT || errno == EAGAIN) continue;
                    ev->kind = RT_EV_ERROR; ev->err = errno;
                    return 0;
                }
                if (req.data.nr >= 0 && req.data.nr < 512 && fast_on[req.data.nr]) {
                    int64_t ret = 0;
                    call_nr = req.data.nr;  /* (the fetches it makes count for it) */
                    call_listener = listener;
                    call_id = req.id;
                    int fast = rt_fast_call(req.pid, req.data.nr,
                                            (const uint64_t *)req.data.args, &ret);
                    call_nr = call_listener = -1;
                    if (fast) {
                        n_fast++;
                        n_fast_nr[req.data.nr]++;
                        /* (RT_FAST_PARKED: answered later, by pipe_wake or pipe_room, or
                         * by Python) */
                        if (fast != RT_FAST_PARKED) {
                            struct seccomp_notif_resp resp = {.id = req.id};
                            if (fast == RT_FAST_CONTINUE)
                                resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                            else if (ret < 0) resp.error = (int32_t)ret;
                            else resp.val = ret;
                            /* ENOENT: the task died meanwhile; nothing to answer. */
                            ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
                        }
                        /* A close was queued: Python releases the description now, not
                         * at the next event, which may never come if what the workload
                         * waits for is that release (the peer of a socket parked for its
                         * FIN, while this thread waits in a host futex). */
                        /* A parked read C could not answer: Python retries it now. */
                        if (++burst >= FAST_BURST || closed_head != closed_tail || pipe_kicked
                            || (timeout_ms >= 0 && mono_ns() >= deadline)) {
                            pipe_kicked = 0;
                            ev->kind = RT_EV_TIMEOUT;
                            return 0;
                        }
                        continue;
                    }
                }
                n_slow++;
                ev->kind = RT_EV_NOTIF;
                ev->listener = listener;
                ev->id = req.id; ev->pid = req.pid; ev->nr = req.data.nr;
                ev->arch = req.data.arch; ev->ip = req.data.instruction_pointer;
                memcpy(ev->args, req.data.args, sizeof ev->args);
                return 0;
            }
            ev->kind = RT_EV_FD; ev->token = e->data.u64; ev->events = e->events;
            return 0;
        }
        evq_i = evq_n = 0;
        int wait_ms = timeout_ms;
        if (timeout_ms >= 0) {
            int64_t left = deadline - mono_ns();
            wait_ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        }
        int n = epoll_wait(ep, evq, 64, wait_ms);
        if (n < 0) {
            /* A signal for the sentry itself: let Python run its handler. */
            if (errno == EINTR) { ev->kind = RT_EV_TIMEOUT; return 0; }
            ev->kind = RT_EV_ERROR; ev->err = errno;
            return 0;
        }
        if (n == 0) { ev->kind = RT_EV_TIMEOUT; return 0; }
        evq_n = n;
    }
}

int64_t rt_tee(int fd_in, int fd_out, uint64_t len, unsigned int flags)
{
    ssize_t r = tee(fd_in, fd_out, (size_t)len, flags);
    return r < 0 ? -errno : r;
}

/* ------------------------------------------------------------ ptrace */

int rt_seize(int pid, int options)
{
    return ptrace(PTRACE_SEIZE, pid, 0, options) < 0 ? -errno : 0;
}

int rt_cont(int pid, int sig)
{
    return ptrace(PTRACE_CONT, pid, 0, sig) < 0 ? -errno : 0;
}

int rt_listen(int pid)
{
    return ptrace(PTRACE_LISTEN, pid, 0, 0) < 0 ? -errno : 0;
}

int rt_interrupt(int pid)
{
    return ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0 ? -errno : 0;
}

int rt_singlestep(int pid, int sig)
{
    return ptrace(PTRACE_SINGLESTEP, pid, 0, sig) < 0 ? -errno : 0;
}

int rt_getsigmask(int pid, uint64_t *mask)
{
    return ptrace(PTRACE_GETSIGMASK, pid, sizeof *mask, mask) < 0 ? -errno : 0;
}

int rt_setsigmask(int pid, uint64_t mask)
{
    return ptrace(PTRACE_SETSIGMASK, pid, sizeof mask, &mask) < 0 ? -errno : 0;
}

int rt_sigqueue_raw(int tgid, int tid, int sig, const void *info128)
{
    return syscall(SYS_rt_tgsigqueueinfo, tgid, tid, sig, info128) < 0 ? -errno : 0;
}

int rt_syscall_cont(int pid, int sig)
{
    return ptrace(PTRACE_SYSCALL, pid, 0, sig) < 0 ? -errno : 0;
}

int rt_getregs(int pid, uint64_t *r)
{
    _Static_assert(sizeof(struct user_regs_struct) == 27 * 8, "user_regs_struct");
    return ptrace(PTRACE_GETREGS, pid, 0, r) < 0 ? -errno : 0;
}

int rt_setregs(int pid, const uint64_t *r)
{
    return ptrace(PTRACE_SETREGS, pid, 0, r) < 0 ? -errno : 0;
}

long rt_geteventmsg(int pid)
{
    unsigned long msg = 0;
    if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) < 0) return -errno;
    return (long)msg;
}

int rt_getsiginfo(int pid, void *buf)
{
    return ptrace(PTRACE_GETSIGINFO, pid, 0, buf) < 0 ? -errno : 0;
}

int rt_fallocate(int fd, int mode, int64_t off, int64_t len)
{
    return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

int rt_setsiginfo(int pid, const void *buf)
{
    return ptrace(PTRACE_SETSIGINFO, pid, 0, buf) < 0 ? -errno : 0;
}

/* Any ptrace request, as the raw syscall takes it: the PEEK requests store the word at
 * *data instead of returning it.  The sentry makes a workload tracer's requests with it
 * (sentry/kernel/ptrace.py), on its own tracees and with its own buffers. */
long rt_ptrace(int req, int pid, uint64_t addr, uint64_t data)
{
    long r = syscall(SYS_ptrace, req, pid, addr, data);
    return r < 0 ? -errno : r;
}

/* waitpid for one tracee the sentry just resumed and is about to wait for.
 * On these VMs a sleeping process on another vCPU takes ~35 us to wake, so
 * poll with WNOHANG for up to WAIT_SPIN_NS first: a tracee that only runs a
 * syscall to its next stop is back within a few microseconds.  Not when the
 * tracee may run only on the CPU the sentry is on (the CPU hold,
 * sentry/kernel/cpuhold.py: an exec's injected calls, a new child's; or a task
 * pinned there by its own affinity, or a host with one CPU): polling then keeps
 * it from running until the poll ends (an exec's batch of mmaps took ~60 us of
 * the sentry's CPU, ~9 us sleeping at once).  One sched_getaffinity a wait says
 * so.  sched_yield between polls would let it run, but beside a CPU-bound
 * neighbour hands the CPU to that for its whole slice (200 fork+exec beside two
 * busy loops, a series of its own: 0.45 -> 0.90 s). */
#define WAIT_SPIN_NS 100000L

static int held_with_sentry(int pid)
{
    cpu_set_t set;
    int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(pid, sizeof set, &set) < 0) return 0;
    return CPU_COUNT(&set) == 1 && CPU_ISSET(cpu, &set);
}

static int wait_tracee(int pid, int *status, int flags)
{
    int q = wq_take(pid, status);
    if (q) return q;
    if (!(flags & WNOHANG) && !held_with_sentry(pid)) {
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            int w = waitpid(pid, status, flags | WNOHANG | __WALL);
            if (w != 0) return w;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > WAIT_SPIN_NS)
                break;
        }
    }
    return waitpid(pid, status, flags | __WALL);
}

int rt_waitpid(int pid, int *status, int flags)
{
    int w = wait_tracee(pid, status, flags);
    return w < 0 ? -errno : w;
}

/* Wait for a running task to stop at the int3 after the stub's syscall; signals that stop
 * it on the way are suppressed, the last one in *other_sig. */
static int wait_int3(int pid, int *other_sig)
{
    int st;
    for (;;) {
        if (wait_tracee(pid, &st, 0) != pid) return -errno;
        if (!WIFSTOPPED(st)) return -ESRCH;
        int sig = WSTOPSIG(st);
        if (sig == SIGTRAP && (st >> 16) == 0) return 0;
        if ((st >> 16) == 0 && other_sig) *other_sig = sig;
        if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) return -errno;
    }
}

/* Let a stopped task run to the int3 (wait_int3). */
static int run_to_int3(int pid, int *other_sig)
{
    if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) return -errno;
    return wait_int3(pid, other_sig);
}

/* Point a stopped task at the stub's batch loop over the n entries at *table* (stub.S). */
static int aim_batch(int pid, uint64_t batch_entry, uint64_t table, int n)
{
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, pid, 0, &r) < 0) return -errno;
    r.rip = batch_entry;
    r.orig_rax = (uint64_t)-1;
    r.r12 = table;
    r.r13 = (uint64_t)n;
    r.r15 = 1;
    return ptrace(PTRACE_SETREGS, pid, 0, &r) < 0 ? -errno : 0;
}

/* Run one host syscall in a ptrace-stopped task (which must be outside any
 * syscall: a signal-delivery stop).  nr < 0: only run to the int3 after the
 * gadget's syscall, leaving a syscall-exit context.  Signals that arrive
 * meanwhile are suppressed and the last one reported in *other_sig. */
int rt_inject(int pid, uint64_t gadget, int64_t nr, const uint64_t *a, int64_t *result,
              int *other_sig)
{
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, pid, 0, &r) < 0) return -errno;
    r.r15 = 0;                    /* one call, not a batch (stub.S) */
    if (nr < 0) {
        r.rip = gadget + 2;       /* on to the int3 */
    } else {
        r.rip = gadget;
        r.rax = (uint64_t)nr;
        r.orig_rax = (uint64_t)-1;
        r.rdi = a[0]; r.rsi = a[1]; r.rdx = a[2]; r.r10 = a[3]; r.r8 = a[4]; r.r9 = a[5];
    }
    if (ptrace(PTRACE_SETREGS, pid, 0, &r) < 0) return -errno;
    int e = run_to_int3(pid, other_sig);
    if (e < 0) return e;
    if (ptrace(PTRACE_GETREGS, pid, 0, &r) < 0) return -errno;
    if (result) *result = (int64_t)r.rax;
    return 0;
}

/* Run the n calls of *entries* (8 words each: nr, six arguments, a result slot the caller
 * filled with a value no call returns) in a stopped task in one stop: the table is
 * written at *table* in the task's memory, the stub's batch loop (stub.S) makes the calls
 * through the gadget's syscall instruction, up to the first error, and the result slots
 * are read back into *entries*.  Starting from a syscall-exit stop (the exec event) is
 * as good as from the int3: the loop loads rax itself, and orig_rax = -1 keeps the
 * kernel from restarting anything on the way out.  Returns 0 or -errno (nothing ran:
 * the table could not be written). */
int rt_inject_batch(int pid, uint64_t batch_entry, uint64_t table, uint64_t *entries, int n,
                    int *other_sig)
{
    uint64_t bytes = (uint64_t)n * 64;
    if (n <= 0 || n > 64) return -EINVAL;
    if (rt_mem_write(pid, table, entries, bytes) != (int64_t)bytes) return -EFAULT;
    int e = aim_batch(pid, batch_entry, table, n);
    if (e < 0 || (e = run_to_int3(pid, other_sig)) < 0) return e;
    if (rt_mem_read(pid, table, entries, bytes) != (int64_t)bytes) return -EFAULT;
    return 0;
}

/* Lend host fds to a task stopped at its exec event whose exec was not notified (a process
 * the sentry spawned: its first exec is the stub's own).  Through the stub's batch loop
 * (from the exec event as from an int3) it makes one call *nr*, which its filter notifies
 * on *listener*; at that notification the fds are installed at *targets* (not
 * close-on-exec, as at an exec's lend) and the call answered 0, then the task runs to the
 * int3.  The task is its listener's only one (it was just made), so the notification is
 * its own; anything else is answered -ENOSYS and nothing is lent.  Returns how many fds
 * were installed (they go in order: the first failure ends it) or -errno. */
int rt_inject_lend(int pid, int listener, uint64_t batch_entry, uint64_t table, int64_t nr,
                   const int *fds, const int *targets, int n, int *other_sig)
{
    uint64_t entry[8] = {(uint64_t)nr, 0, 0, 0, 0, 0, 0, (uint64_t)-1};
    int st, lent = -EPROTO, answered = 0;
    if (rt_mem_write(pid, table, entry, sizeof entry) != (int64_t)sizeof entry) return -EFAULT;
    int e = aim_batch(pid, batch_entry, table, 1);
    if (e < 0) return e;
    if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) return -errno;
    int64_t deadline = mono_ns() + 5000000000LL;
    while (!answered) {
        /* The call's notification; a stop on the way (a signal) is suppressed, as an
         * inject's. */
        int w = wq_take(pid, &st);
        if (!w) w = waitpid(pid, &st, WNOHANG | __WALL);
        if (w < 0) return -errno;
        if (w == pid) {
            if (!WIFSTOPPED(st)) return -ESRCH;
            if ((st >> 16) == 0 && other_sig) *other_sig = WSTOPSIG(st);
            if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) return -errno;
            continue;
        }
        struct pollfd pfd = {.fd = listener, .events = POLLIN};
        int pr = poll(&pfd, 1, 10);
        if (pr < 0 && errno != EINTR) return -errno;
        if (pr <= 0 || !(pfd.revents & POLLIN)) {
            if (pr > 0 && (pfd.revents & (POLLHUP | POLLERR))) return -ESRCH;
            if (mono_ns() > deadline) return -ETIMEDOUT;
            continue;
        }
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
            if (errno == EINTR || errno == ENOENT) continue;
            return -errno;
        }
        struct seccomp_notif_resp resp = {.id = req.id, .val = 0, .error = 0, .flags = 0};
        if ((int)req.pid != pid || req.data.nr != nr) {
            resp.error = -ENOSYS;
        } else {
            lent = 0;
            for (int i = 0; i < n; i++) {
                if (rt_addfd(listener, req.id, fds[i], targets[i], 0) < 0) break;
                lent++;
            }
        }
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return -errno;
        answered = 1;
    }
    e = wait_int3(pid, other_sig);  /* the answer let it run on */
    return e < 0 ? e : lent;
}

int rt_pidfd_getfd(int pid, int targetfd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return -errno;
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, targetfd, 0);
    int err = errno;
    close(pidfd);
    return fd < 0 ? -err : fd;
}

int rt_tgkill(int tgid, int tid, int sig)
{
    return syscall(SYS_tgkill, tgid, tid, sig) < 0 ? -errno : 0;
}

int rt_sigqueue(int tgid, int tid, int sig, int code, int spid, int suid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = code;
    si.si_pid = spid;
    si.si_uid = (uid_t)suid;
    return syscall(SYS_rt_tgsigqueueinfo, tgid, tid, sig, &si) < 0 ? -errno : 0;
}
