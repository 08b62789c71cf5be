/*
 * ptrace_siginfo.c -- PTRACE_GETSIGINFO/PTRACE_SETSIGINFO at every kind of stop, and a
 * PTRACE_INTERRUPT of a tracee that is already stopped.
 *
 * Linux gives a syscall, event or seized group stop ptrace_do_notify's siginfo (the
 * stop's signal, its exit code, the tracee's own pid and real uid); a group stop reported
 * to a tracer that attached has none (EINVAL both ways: how gdb tells a group stop from a
 * signal's). An interrupt asked while the tracee is stopped stops it again as soon as it
 * is resumed, before any signal pending meanwhile. The tracees run as uid 1000, so
 * that a uid the sandbox does not show would differ.
 */
#include "check.h"
#include <poll.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

static pid_t tracee;

/* the siginfo of the stop: its fields relative to the tracee, or the error */
static void info(const char *label)
{
    siginfo_t si;
    memset(&si, 0x55, sizeof si);
    errno = 0;
    if (ptrace(PTRACE_GETSIGINFO, tracee, 0, &si) < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    const char *pid = si.si_pid == tracee ? "tracee" : si.si_pid == getpid() ? "tracer"
                      : si.si_pid == 0 ? "0" : "other";
    printf("%s: signo=%d code=%#x errno=%d pid=%s uid=%d\n", label, si.si_signo, si.si_code,
           si.si_errno, pid, (int)si.si_uid);
}

/* the stop: its signal and event, and at a syscall stop which call it is */
static void stopped(const char *label)
{
    int st;
    MUST(waitpid(tracee, &st, __WALL));
    if (!WIFSTOPPED(st)) {
        printf("%s: status %#x\n", label, st);
        return;
    }
    printf("%s: stopped sig=%d event=%d", label, WSTOPSIG(st), st >> 16);
    struct user_regs_struct r;
    if ((WSTOPSIG(st) & 0x7f) == SIGTRAP && !(st >> 16) &&
        ptrace(PTRACE_GETREGS, tracee, 0, &r) == 0) {
        long nr = (long)r.orig_rax;
        printf(" call=%s", nr == SYS_getppid ? "getppid" : nr == SYS_clone ? "clone"
               : nr == SYS_rt_sigprocmask ? "rt_sigprocmask" : nr == SYS_tgkill ? "tgkill"
               : "other");
    }
    printf("\n");
}

/* resume the tracee with *req* and *sig*, and show its next stop and that stop's siginfo */
static void step(int req, int sig, const char *label)
{
    char l[96];
    MUST(ptrace(req, tracee, 0, sig));
    stopped(label);
    snprintf(l, sizeof l, "%s info", label);
    info(l);
}

/* PTRACE_SETSIGINFO of a SIGUSR2 with *code*, and what GETSIGINFO gives then */
static void set_info(const char *label, int code)
{
    siginfo_t si;
    char l[96];
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = code;
    R(label, ptrace(PTRACE_SETSIGINFO, tracee, 0, &si));
    snprintf(l, sizeof l, "%s then", label);
    info(l);
}

static pid_t child(void (*body)(void))
{
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
            _exit(98);
        body();
        _exit(0);
    }
    usleep(50000);
    return c;
}

static void sleeper(void)
{
    for (;;)
        pause();
}

static void syscaller(void)
{
    raise(SIGSTOP);
    getppid();
    getppid();
    getppid();
    getppid();
    pid_t c = fork();
    if (c == 0)
        _exit(3);
    waitpid(c, NULL, 0);
    _exit(7);
}

static int out[2];

static void stops_then_says(void)
{
    raise(SIGSTOP);
    if (write(out[1], "resumed", 7) != 7)
        _exit(97);
    _exit(3);
}

/* what the tracee wrote within 200 ms ("" for nothing) */
static void said(const char *label)
{
    char buf[16] = "";
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    if (poll(&p, 1, 200) == 1 && read(out[0], buf, sizeof buf - 1) < 0)
        strcpy(buf, "?");
    printf("%s: \"%s\"\n", label, buf);
}

/* the tracee's state letter in /proc/PID/stat */
static void state(const char *label)
{
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tracee);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    char *p = strrchr(buf, ')');
    printf("%s: state %c\n", label, p && p[1] ? p[2] : '?');
}

static void end(void)
{
    kill(tracee, SIGKILL);
    while (waitpid(tracee, NULL, __WALL) > 0)
        ;
}

int main(void)
{
    out_init();

    /* Attached: the attach's SIGSTOP, then the group stop it becomes, then a signal. */
    tracee = child(sleeper);
    MUST(ptrace(PTRACE_ATTACH, tracee, 0, 0));
    stopped("attach");
    info("attach stop info");
    step(PTRACE_CONT, SIGSTOP, "attach group stop");
    set_info("attach group stop setsiginfo", SI_USER);
    MUST(kill(tracee, SIGUSR1));
    step(PTRACE_CONT, 0, "attach usr1");
    end();

    /* Attached to a process already stopped: its group stop first, then the attach's
     * SIGSTOP when resumed; detached, it is still stopped until a SIGCONT. */
    MUST(pipe(out));
    tracee = child(stops_then_says);
    state("stopped");
    step(PTRACE_ATTACH, 0, "attach to stopped");
    state("traced");
    step(PTRACE_CONT, 0, "resumed there");
    MUST(ptrace(PTRACE_DETACH, tracee, 0, 0));
    said("detached");
    state("detached");
    MUST(kill(tracee, SIGCONT));
    said("continued");
    int status;
    MUST(waitpid(tracee, &status, 0));
    printf("its exit: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    /* Seized: a signal stop, the group stop, the end of a listened stop, interrupts. */
    tracee = child(sleeper);
    MUST(ptrace(PTRACE_SEIZE, tracee, 0, 0));
    MUST(kill(tracee, SIGSTOP));
    stopped("seize stop signal");
    info("seize stop signal info");
    step(PTRACE_CONT, SIGSTOP, "seize group stop");
    /* PTRACE_LISTEN needs the stop's siginfo to say PTRACE_EVENT_STOP. */
    set_info("seize group stop setsiginfo", 42);
    R("listen with another code", ptrace(PTRACE_LISTEN, tracee, 0, 0));
    set_info("seize group stop setsiginfo back", SIGSTOP | PTRACE_EVENT_STOP << 8);
    R("listen", ptrace(PTRACE_LISTEN, tracee, 0, 0));
    MUST(kill(tracee, SIGCONT));
    stopped("listen cont");
    info("listen cont info");
    /* An interrupt of a stopped tracee: its stop comes first, then the SIGCONT's. */
    R("interrupt stopped", ptrace(PTRACE_INTERRUPT, tracee, 0, 0));
    R("interrupt again", ptrace(PTRACE_INTERRUPT, tracee, 0, 0));
    step(PTRACE_CONT, 0, "after interrupt");
    step(PTRACE_CONT, 0, "then");
    /* An interrupt of a running tracee, for comparison. */
    MUST(ptrace(PTRACE_CONT, tracee, 0, 0));
    usleep(20000);
    R("interrupt running", ptrace(PTRACE_INTERRUPT, tracee, 0, 0));
    stopped("interrupt running stop");
    info("interrupt running info");
    /* Its siginfo says PTRACE_EVENT_STOP too: it may listen, and stays stopped. */
    R("listen at interrupt stop", ptrace(PTRACE_LISTEN, tracee, 0, 0));
    usleep(20000);
    int st;
    R("no stop while listening", waitpid(tracee, &st, __WALL | WNOHANG));
    end();

    /* Syscall stops (with and without TRACESYSGOOD) and fork, exec-less exit events. */
    tracee = child(syscaller);
    MUST(ptrace(PTRACE_SEIZE, tracee, 0,
                PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXIT));
    stopped("syscaller group stop");  /* it stopped itself before the seize */
    step(PTRACE_SYSCALL, SIGSTOP, "syscall entry");  /* (no signal at a group stop) */
    set_info("syscall entry setsiginfo", SI_USER);
    MUST(ptrace(PTRACE_SETOPTIONS, tracee, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXIT));
    step(PTRACE_SYSCALL, 0, "syscall exit");
    /* An interrupt at a syscall exit stop: the tracee stops for it on its way out. */
    R("interrupt at syscall stop", ptrace(PTRACE_INTERRUPT, tracee, 0, 0));
    step(PTRACE_SYSCALL, 0, "after interrupt at syscall stop");
    step(PTRACE_SYSCALL, 0, "next entry");
    MUST(ptrace(PTRACE_SYSCALL, tracee, 0, 0));
    stopped("next exit");
    /* An interrupt at a syscall-entry stop: the call runs first; its exit stop ends the
     * interrupt under PTRACE_SYSCALL, and under PTRACE_CONT the tracee stops for it
     * on its way out of the call. */
    step(PTRACE_SYSCALL, 0, "third entry");
    R("interrupt at entry", ptrace(PTRACE_INTERRUPT, tracee, 0, 0));
    step(PTRACE_SYSCALL, 0, "third exit");
    step(PTRACE_SYSCALL, 0, "fourth entry");
    R("interrupt at entry, then cont", ptrace(PTRACE_INTERRUPT, tracee, 0, 0));
    step(PTRACE_CONT, 0, "after the call");
    step(PTRACE_CONT, 0, "fork event");
    unsigned long msg = 0;
    MUST(ptrace(PTRACE_GETEVENTMSG, tracee, 0, &msg));
    pid_t grandchild = (pid_t)msg;
    MUST(waitpid(grandchild, &st, __WALL));  /* its first stop */
    MUST(ptrace(PTRACE_DETACH, grandchild, 0, 0));
    MUST(ptrace(PTRACE_CONT, tracee, 0, 0));
    for (;;) {  /* the grandchild's SIGCHLD, then the exit event */
        MUST(waitpid(tracee, &st, __WALL));
        if (st >> 16)
            break;
        printf("signal stop: sig=%d\n", WSTOPSIG(st));
        info("signal stop info");
        MUST(ptrace(PTRACE_CONT, tracee, 0, WSTOPSIG(st)));
    }
    printf("exit event: sig=%d event=%d\n", WSTOPSIG(st), st >> 16);
    info("exit event info");
    MUST(ptrace(PTRACE_CONT, tracee, 0, 0));
    MUST(waitpid(tracee, &st, __WALL));
    printf("exited: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
