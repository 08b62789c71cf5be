/* ptrace.c -- ptrace(2) between the program's own processes: stress-ng's vm-segv
 * pattern (PTRACE_TRACEME, a SIGSTOP to itself, the parent's plain waitpid, syscall
 * stops until the child, having unmapped its whole address space, stops with
 * SIGSEGV), the stops a tracer sees and how it resumes them (a signal delivered,
 * suppressed, a syscall replaced at its entry stop), memory and registers of a
 * stopped tracee, syscall-entry/-exit pairs around calls the sandbox serves at a
 * ptrace stop of its own (rt_sigaction with an old action, fork), fork and exec
 * events, SEIZE/INTERRUPT/ATTACH/DETACH of a process that is not a child, its
 * exit as its tracer sees it, and PTRACE_O_EXITKILL. */
#include "check.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <linux/ptrace.h>

static volatile long word = 5;
static const char *self_exe;

/* waitpid that a handled signal cannot cut short */
static pid_t wait_st(pid_t pid, int *st, int flags)
{
    pid_t r;
    while ((r = waitpid(pid, st, flags)) < 0 && errno == EINTR)
        ;
    return r;
}

/* TracerPid of /proc/PID/status */
static int tracer_pid(pid_t pid)
{
    char path[64], line[256];
    int tp = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "TracerPid: %d", &tp) == 1)
            break;
    fclose(f);
    return tp;
}

static const char *describe(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(st));
    else if (WIFSTOPPED(st) && st >> 16)
        snprintf(buf, sizeof buf, "stopped %#x event %d", WSTOPSIG(st), st >> 16);
    else if (WIFSTOPPED(st))
        snprintf(buf, sizeof buf, "stopped %#x", WSTOPSIG(st));
    else
        snprintf(buf, sizeof buf, "status %#x", st);
    return buf;
}

static void show_st(const char *label, pid_t pid, int flags)
{
    int st = 0;
    pid_t r = wait_st(pid, &st, flags);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %s%s\n", label, describe(st), r == pid || pid <= 0 ? "" : " (other pid)");
}

/* stress-ng's vm_unmap_child: unmap everything below the top half, then fault */
static void unmap_all(void)
{
    size_t len = (~(size_t)0) ^ ((~(size_t)0) >> 1);
    while (len > 4096) {
        syscall(SYS_munmap, 0, len - 4096);
        len >>= 1;
    }
}

/* 1. the vm-segv stressor's loop, once per way it ends the child */
static void vm_segv(int kill_it)
{
    int fd[2];
    MUST(pipe(fd));
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        int msg = 0x271efb9c;
        close(fd[0]);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        kill(getpid(), SIGSTOP);
        if (write(fd[1], &msg, sizeof msg) != sizeof msg)
            _exit(2);
        mask_signal(SIG_BLOCK, SIGSEGV); /* a blocked fault still kills */
        unmap_all();
        _exit(1);
    }
    close(fd[1]);
    int st = 0, syscalls = 0;
    MUST(wait_st(c, &st, 0));
    printf("vm-segv first: %s\n", describe(st));
    OK("vm-segv setoptions", ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD));
    for (;;) {
        MUST(ptrace(PTRACE_SYSCALL, c, 0, 0));
        MUST(wait_st(c, &st, 0));
        if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            syscalls++;
            continue;
        }
        break;
    }
    printf("vm-segv end: %s after syscall stops: %s\n", describe(st), syscalls > 10 ? "yes" : "no");
    int msg = 0;
    T("vm-segv child said it started", read(fd[0], &msg, sizeof msg) == sizeof msg && msg == 0x271efb9c);
    close(fd[0]);
    if (kill_it) {
        kill(c, SIGTERM);
        kill(c, SIGKILL);
    } else {
        MUST(ptrace(PTRACE_CONT, c, 0, WSTOPSIG(st)));
    }
    show_st(kill_it ? "vm-segv killed" : "vm-segv fault delivered", c, 0);
}

/* 2. stops, siginfo, memory and registers of a TRACEME child */
static void traceme(void)
{
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
        long r = syscall(SYS_getppid); /* the tracer turns it into getpid */
        if (r != syscall(SYS_getpid))
            _exit(90);
        raise(SIGUSR1); /* suppressed by the tracer */
        raise(SIGUSR2); /* replaced by SIGTERM */
        _exit((int)word);
    }
    int st;
    show_st("traceme stop", c, 0);
    T("tracer pid is the parent", tracer_pid(c) == getpid());
    T("the parent is not traced", tracer_pid(getpid()) == 0);
    siginfo_t si;
    OK("getsiginfo", ptrace(PTRACE_GETSIGINFO, c, 0, &si));
    printf("siginfo: signo %d code %d from the child %s\n", si.si_signo, si.si_code,
           si.si_pid == c ? "yes" : "no");
    errno = 0;
    long w = ptrace(PTRACE_PEEKDATA, c, (void *)&word, 0);
    printf("peekdata: %ld %s\n", w, errno ? en(errno) : "");
    OK("pokedata", ptrace(PTRACE_POKEDATA, c, (void *)&word, (void *)42));
    errno = 0;
    ptrace(PTRACE_PEEKDATA, c, (void *)8, 0);
    printf("peekdata at 8: %s\n", en(errno));
    R("cont with a bad signal", ptrace(PTRACE_CONT, c, 0, 100));
    R("peek of a non-tracee", ptrace(PTRACE_PEEKDATA, getpid(), (void *)&word, 0) == -1 && errno ? -1 : 0);
    OK("setoptions", ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD));
    R("setoptions bad", ptrace(PTRACE_SETOPTIONS, c, 0, 0x40000000));
    /* to the entry of getppid (getpid ran to its exit already: the stop came at its end) */
    MUST(ptrace(PTRACE_SYSCALL, c, 0, 0));
    show_st("entry stop", c, 0);
    struct user_regs_struct regs;
    OK("getregs", ptrace(PTRACE_GETREGS, c, 0, &regs));
    printf("entry nr: %llu rax is -ENOSYS: %s\n", regs.orig_rax, (long)regs.rax == -ENOSYS ? "yes" : "no");
    errno = 0;
    long nr = ptrace(PTRACE_PEEKUSER, c, (void *)offsetof(struct user_regs_struct, orig_rax), 0);
    printf("peekuser orig_rax: %ld %s\n", nr, errno ? en(errno) : "");
    regs.orig_rax = SYS_getpid;
    OK("setregs", ptrace(PTRACE_SETREGS, c, 0, &regs));
    MUST(ptrace(PTRACE_SYSCALL, c, 0, 0));
    show_st("exit stop", c, 0);
    OK("getregs", ptrace(PTRACE_GETREGS, c, 0, &regs));
    printf("exit nr %llu ret is the child: %s\n", regs.orig_rax, (pid_t)regs.rax == c ? "yes" : "no");
    OK("getsiginfo", ptrace(PTRACE_GETSIGINFO, c, 0, &si));
    printf("syscall stop siginfo: signo %d code %#x\n", si.si_signo, si.si_code);
    struct ptrace_syscall_info info;
    R("syscall info", ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof info, &info));
    printf("syscall info op %d rval is the child %s\n", info.op, info.exit.rval == c ? "yes" : "no");
    MUST(ptrace(PTRACE_CONT, c, 0, 0));
    show_st("raise stop", c, 0);
    MUST(ptrace(PTRACE_CONT, c, 0, 0)); /* SIGUSR1 suppressed */
    show_st("raise stop", c, 0);
    MUST(ptrace(PTRACE_CONT, c, 0, SIGTERM));
    show_st("replaced signal", c, 0);
    (void)st;
}

/* 3. syscall stops pair up around calls the sandbox runs at a stop of its own */
static void syscall_pairs(void)
{
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        struct sigaction sa = {0}, old;
        sa.sa_handler = SIG_IGN;
        /* No SIGCHLD stop, nor a wait4 it interrupts (in the sandbox one arriving before
         * the sentry takes the call shows as an interrupted call and its restart). */
        mask_signal(SIG_BLOCK, SIGCHLD);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        syscall(SYS_getppid);
        syscall(SYS_rt_sigaction, SIGUSR1, &sa, &old, 8);
        syscall(SYS_rt_sigaction, SIGUSR2, &sa, NULL, 8);
        pid_t g = (pid_t)syscall(SYS_fork);
        if (g == 0)
            syscall(SYS_exit_group, 0);
        syscall(SYS_wait4, g, NULL, 0, NULL);
        syscall(SYS_exit_group, 4);
    }
    int st;
    MUST(wait_st(c, &st, 0));
    MUST(ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD));
    char seq[512] = "";
    for (;;) {
        MUST(ptrace(PTRACE_SYSCALL, c, 0, 0));
        MUST(wait_st(c, &st, 0));
        if (!WIFSTOPPED(st))
            break;
        if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
            printf("pairs: unexpected stop %s\n", describe(st));
            continue;
        }
        struct ptrace_syscall_info info;
        if (ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof info, &info) < 0)
            break;
        char one[32];
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
            snprintf(one, sizeof one, "%llu>", info.entry.nr);
        else
            snprintf(one, sizeof one, "<%lld ", info.exit.rval > 0 ? 1 : info.exit.rval);
        if (strlen(seq) + strlen(one) < sizeof seq - 1)
            strcat(seq, one);
    }
    /* skip glibc's raise (it blocks signals around the kill): from getppid on */
    char *from = strstr(seq, "110>");
    printf("syscall stops: %s\n", from ? from : seq);
    printf("pairs end: %s\n", describe(st));
}

/* 4. fork and exec events; the auto-attached grandchild */
static void events(void)
{
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pid_t g = fork();
        if (g == 0)
            _exit(7);
        int gst = 0;
        if (wait_st(g, &gst, 0) != g || !WIFEXITED(gst) || WEXITSTATUS(gst) != 7)
            _exit(91);
        execl(self_exe, self_exe, "-", "exit3", (char *)NULL);
        _exit(92);
    }
    int st;
    show_st("events stop", c, 0);
    OK("events setoptions", ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC));
    MUST(ptrace(PTRACE_CONT, c, 0, 0));
    show_st("fork event", c, 0);
    unsigned long msg = 0;
    OK("geteventmsg", ptrace(PTRACE_GETEVENTMSG, c, 0, &msg));
    pid_t g = (pid_t)msg;
    show_st("grandchild first stop", g, __WALL);
    T("grandchild traced", ptrace(PTRACE_PEEKDATA, g, (void *)&word, 0) == 5);
    MUST(ptrace(PTRACE_CONT, g, 0, 0));
    MUST(ptrace(PTRACE_CONT, c, 0, 0));
    /* the grandchild's exit reaches its tracer, not only its parent */
    show_st("grandchild exit (tracer)", g, __WALL);
    /* the grandchild's SIGCHLD (its timing is the scheduler's) goes on; then the exec */
    for (;;) {
        MUST(wait_st(c, &st, 0));
        if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGCHLD)
            break;
        MUST(ptrace(PTRACE_CONT, c, 0, SIGCHLD));
    }
    printf("exec event: %s\n", describe(st));
    OK("geteventmsg", ptrace(PTRACE_GETEVENTMSG, c, 0, &msg));
    T("exec event message is the child", (pid_t)msg == c);
    MUST(ptrace(PTRACE_CONT, c, 0, 0));
    show_st("events end", c, 0);
    /* without PTRACE_O_TRACEEXEC: a SIGTRAP after the exec */
    c = fork();
    MUST(c);
    if (c == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execl(self_exe, self_exe, "-", "exit3", (char *)NULL);
        _exit(92);
    }
    show_st("exec sigtrap", c, 0);
    MUST(ptrace(PTRACE_CONT, c, 0, 0));
    show_st("exec end", c, 0);
    (void)st;
}

/* 5. a tracer that is not the parent: SEIZE, INTERRUPT, ATTACH, DETACH, exits */
static void others(void)
{
    int go[2];
    MUST(pipe(go));
    pid_t s = fork();
    MUST(s);
    if (s == 0) {
        char b;
        close(go[1]);
        if (read(go[0], &b, 1) != 1) /* parked in the sandbox: an interrupt ends it */
            _exit(93);
        for (;;)
            pause();
    }
    close(go[0]);
    pid_t tr = fork();
    MUST(tr);
    if (tr == 0) {
        int st;
        R("tracer waits with nothing", waitpid(-1, &st, WNOHANG));
        R("seize", ptrace(PTRACE_SEIZE, s, 0, PTRACE_O_TRACESYSGOOD));
        R("seize again", ptrace(PTRACE_SEIZE, s, 0, 0));
        R("getregs while running", ptrace(PTRACE_GETREGS, s, 0, &st));
        R("wait nohang", waitpid(s, &st, WNOHANG | __WALL));
        R("interrupt", ptrace(PTRACE_INTERRUPT, s, 0, 0));
        show_st("interrupt stop", s, __WALL);
        R("detach", ptrace(PTRACE_DETACH, s, 0, 0));
        R("attach", ptrace(PTRACE_ATTACH, s, 0, 0));
        show_st("attach stop", s, __WALL);
        R("cont", ptrace(PTRACE_CONT, s, 0, 0));
        if (write(go[1], "x", 1) != 1)
            _exit(94);
        kill(s, SIGKILL);
        show_st("tracee exit (tracer)", s, __WALL);
        R("then", waitpid(-1, &st, WNOHANG | __WALL));
        _exit(0);
    }
    show_wait("tracer", tr);
    show_wait("tracee exit (parent)", s);
    close(go[1]);

    /* PTRACE_O_EXITKILL: the tracee goes with its tracer */
    s = fork();
    MUST(s);
    if (s == 0) {
        for (;;)
            pause();
    }
    tr = fork();
    MUST(tr);
    if (tr == 0) {
        if (ptrace(PTRACE_SEIZE, s, 0, PTRACE_O_EXITKILL) < 0)
            _exit(95);
        _exit(0);
    }
    show_wait("exitkill tracer", tr);
    show_wait("exitkill tracee", s);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[2], "exit3") == 0)
        _exit(3);
    enter_workdir(argc, argv);
    self_exe = "/proc/self/exe";
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        self_exe = exe;
    }
    vm_segv(1);
    vm_segv(0);
    traceme();
    syscall_pairs();
    events();
    others();
    return 0;
}
