/* proc_files.c -- /proc files programs read at start-up: global sysctls the host
 * enforces (their values), the sandbox's inotify and key limits, a process's login uid,
 * session, core dump filter, personality and timer slack (set by prctl, inherited by a
 * child), and each file's mode. Usage: proc_files WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>

static void show_mode(const char *path, int with_mode)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: -1 %s\n", path, en(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
    struct stat st;
    MUST(stat(path, &st));
    if (with_mode)
        printf("%s: \"%s\" mode %o\n", path, buf, st.st_mode & 07777);
    else
        printf("%s: \"%s\"\n", path, buf);
}

static void show(const char *path)
{
    show_mode(path, 1);
}

int main(int argc, char **argv)
{
    workdir_arg(argc, argv);
    const char *sys[] = {
        "/proc/sys/kernel/threads-max", "/proc/sys/kernel/randomize_va_space",
        "/proc/sys/kernel/perf_event_paranoid", "/proc/sys/vm/swappiness",
        "/proc/sys/vm/mmap_min_addr", "/proc/sys/fs/file-max",
        "/proc/sys/fs/inotify/max_user_instances", "/proc/sys/fs/inotify/max_queued_events",
        "/proc/sys/kernel/keys/maxkeys", "/proc/sys/kernel/keys/maxbytes",
        "/proc/sys/kernel/keys/root_maxkeys", "/proc/sys/kernel/keys/root_maxbytes",
    };
    for (unsigned i = 0; i < sizeof sys / sizeof *sys; i++)
        show_mode(sys[i], 0); /* (read-only in the sandbox: their modes are not Linux's) */
    T("core_pattern readable", access("/proc/sys/kernel/core_pattern", R_OK) == 0);
    show("/proc/self/loginuid");
    show("/proc/self/sessionid");
    show("/proc/self/coredump_filter");
    show("/proc/self/personality");
    show("/proc/self/timerslack_ns");
    R("set timer slack", prctl(PR_SET_TIMERSLACK, 777, 0, 0, 0));
    show("/proc/self/timerslack_ns");
    R("personality ADDR_NO_RANDOMIZE", personality(ADDR_NO_RANDOMIZE) >= 0);
    show("/proc/self/personality");
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        show("/proc/self/timerslack_ns");
        R("child resets its slack", prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0));
        show("/proc/self/timerslack_ns"); /* its default: the parent's at the fork */
        show("/proc/self/personality");
        fflush(stdout);
        _exit(0);
    }
    int st;
    MUST(waitpid(c, &st, 0));
    R("reset", prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0));
    show("/proc/self/timerslack_ns");
    return 0;
}
