/* stack.c -- the main thread's stack, as exec leaves it: one [stack] mapping holding the
 * caller's frame, small at first (VmStk) and grown by the kernel on use, up to
 * RLIMIT_STACK (a deeper recursion is SIGSEGV); with arguments too big for the first
 * pages it is still one [stack] holding them. */
#include "check.h"
#include <sys/resource.h>
#include <sys/wait.h>

static char buf[1 << 16];

static const char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static long status_kb(const char *key)
{
    const char *p = strstr(slurp("/proc/self/status"), key);
    return p ? strtol(p + strlen(key) + 1, NULL, 10) : -1;
}

/* how many [stack] lines maps has, and whether one holds addr */
static void stack_lines(const char *label, void *addr)
{
    int n = 0, holds = 0;
    slurp("/proc/self/maps");
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        if (!strstr(l, "[stack]"))
            continue;
        unsigned long lo, hi;
        n++;
        if (sscanf(l, "%lx-%lx", &lo, &hi) == 2 && lo <= (unsigned long)addr &&
            (unsigned long)addr < hi)
            holds = 1;
    }
    printf("%s: %d [stack], holds the frame: %s\n", label, n, holds ? "yes" : "no");
}

static long recurse(long depth)
{
    volatile char frame[4096];
    frame[0] = (char)depth;
    if (depth <= 1)
        return frame[0];
    return recurse(depth - 1) + frame[0];
}

int main(int argc, char **argv)
{
    out_init();
    int here;
    if (argc > 2 && strcmp(argv[2], "big") == 0) {
        stack_lines("with 256 KiB of arguments", &here);
        T("last argument intact", strlen(argv[argc - 1]) == 4095);
        return 0;
    }
    stack_lines("at start", &here);
    T("VmStk small at start", status_kb("VmStk:") < 1024);
    struct rlimit rl;
    MUST(getrlimit(RLIMIT_STACK, &rl));
    if (rl.rlim_cur < (8UL << 20)) {
        rl.rlim_cur = 8UL << 20;
        MUST(setrlimit(RLIMIT_STACK, &rl));
    }
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        struct rlimit small = {1 << 20, rl.rlim_max};
        MUST(setrlimit(RLIMIT_STACK, &small));
        recurse(1024);  /* 4 MiB: past the limit */
        _exit(0);
    }
    show_wait("4 MiB of recursion with RLIMIT_STACK 1 MiB", c);

    recurse(1536);
    printf("6 MiB of recursion: ok\n");
    T("VmStk grew", status_kb("VmStk:") >= 6 * 1024);
    stack_lines("after the recursion", &here);

    c = fork();
    MUST(c);
    if (c == 0) {
        static char *args[70];
        static char arg[4096];
        memset(arg, 'a', sizeof arg - 1);
        args[0] = argv[0];
        args[1] = argc > 1 ? argv[1] : ".";
        args[2] = "big";
        for (int i = 3; i < 67; i++)
            args[i] = arg;
        execv("/proc/self/exe", args);
        _exit(127);
    }
    show_wait("exec with big arguments", c);
    return 0;
}
