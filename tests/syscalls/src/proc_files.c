/* proc_files.c -- /proc files programs read at start-up: global sysctls the host
 * enforces (their values), a process's session (its mode) and personality (set, and
 * inherited by a child). Usage: proc_files WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/personality.h>
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
    };
    for (unsigned i = 0; i < sizeof sys / sizeof *sys; i++)
        show_mode(sys[i], 0); /* (read-only in the sandbox: their modes are not Linux's) */
    T("core_pattern readable", access("/proc/sys/kernel/core_pattern", R_OK) == 0);
    struct stat st;
    R("sessionid", stat("/proc/self/sessionid", &st));
    printf("sessionid mode %o\n", st.st_mode & 07777); /* (its value: the login's) */
    show("/proc/self/personality");
    R("personality ADDR_NO_RANDOMIZE", personality(ADDR_NO_RANDOMIZE) >= 0);
    show("/proc/self/personality");
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        show("/proc/self/personality");
        fflush(stdout);
        _exit(0);
    }
    int ws;
    MUST(waitpid(c, &ws, 0));
    return 0;
}
