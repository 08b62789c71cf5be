/* proc_stat.c -- what ps reads: the state of the reader itself (R) and of a blocked child
 * (S) in /proc/PID/stat and status; start times (stat field 22, clock ticks since boot)
 * against /proc/stat btime and /proc/uptime (ps dates a process btime + start/HZ); and
 * the size of the address space, VmSize = stat's vsize = statm's size = the mappings
 * /proc/self/maps lists (but [vsyscall], which is no mapping of the process); link counts
 * of proc directories (2 and their subdirectories; the root's also counts every process of
 * the system, sysctl directories 1) and the size of /proc/PID/fd (its open fds). */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char buf[1 << 16];

static const char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    MUST(fd);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    MUST(r);
    close(fd);
    buf[n] = 0;
    return buf;
}

/* field i (1-based, as proc(5)) of a /proc/PID/stat text */
static unsigned long long stat_field(const char *text, int i)
{
    const char *p = strrchr(text, ')');
    int f = 2;
    while (p && f < i) {
        p = strchr(p + 1, ' ');
        f++;
    }
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static char stat_state(const char *text)
{
    const char *p = strrchr(text, ')');
    return p ? p[2] : '?';
}

static long status_kb(const char *key)
{
    const char *p = strstr(slurp("/proc/self/status"), key);
    return p ? strtol(p + strlen(key) + 1, NULL, 10) : -1;
}

/* entries of a directory (not . and ..), and how many of them are directories */
static int entries(const char *path, int *dirs)
{
    DIR *d = opendir(path);
    MUST(d ? 0 : -1);
    int n = 0;
    *dirs = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (e->d_type == DT_DIR)
            (*dirs)++;
    }
    closedir(d);
    return n;
}

static void links(void)
{
    struct stat st;
    int dirs;
    char path[64];

    MUST(stat("/proc", &st));
    entries("/proc", &dirs);
    T("proc root nlink counts subdirectories and processes", st.st_nlink >= (nlink_t)(2 + dirs));
    MUST(stat("/proc/self", &st));
    entries("/proc/self", &dirs);
    T("/proc/self nlink is 2 + subdirectories", st.st_nlink == (nlink_t)(2 + dirs));
    MUST(stat("/proc/self/task", &st));
    int threads = entries("/proc/self/task", &dirs);
    printf("task nlink - threads: %ld\n", (long)st.st_nlink - threads);
    snprintf(path, sizeof path, "/proc/self/task/%d", getpid());
    MUST(stat(path, &st));
    entries(path, &dirs);
    T("task/TID nlink is 2 + subdirectories", st.st_nlink == (nlink_t)(2 + dirs));
    MUST(stat("/proc/sys", &st));
    printf("/proc/sys nlink: %ld\n", (long)st.st_nlink);
    MUST(stat("/proc/sys/kernel", &st));
    printf("/proc/sys/kernel nlink: %ld\n", (long)st.st_nlink);
    MUST(stat("/proc/sysvipc", &st));
    printf("/proc/sysvipc nlink: %ld\n", (long)st.st_nlink);

    int extra = open("/dev/null", O_RDONLY);
    MUST(extra);
    MUST(stat("/proc/self/fd", &st));
    long size = (long)st.st_size;
    int fds = entries("/proc/self/fd", &dirs) - 1; /* less the listing's own fd */
    T("/proc/self/fd size is its open fds", size == fds);
    printf("/proc/self/fd nlink: %ld\n", (long)st.st_nlink);
    close(extra);
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    out_init();
    double t0 = now_real();
    long hz = sysconf(_SC_CLK_TCK);

    printf("own stat state: %c\n", stat_state(slurp("/proc/self/stat")));
    T("own status state running", strstr(slurp("/proc/self/status"), "State:\tR (running)") != NULL);

    int p[2];
    MUST(pipe(p));
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        char x;
        close(p[1]);
        MUST(read(p[0], &x, 1));
        _exit(0);
    }
    close(p[0]);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    /* the child blocks in read at once; wait (bounded) until it is there */
    char st = '?';
    for (int i = 0; i < 2000 && (st = stat_state(slurp(path))) != 'S'; i++)
        usleep(5000);
    printf("blocked child state: %c\n", st);
    MUST(write(p[1], "x", 1));
    MUST(waitpid(c, NULL, 0));

    const char *s = strstr(slurp("/proc/stat"), "\nbtime ");
    long long btime = s ? strtoll(s + 7, NULL, 10) : 0;
    double uptime = strtod(slurp("/proc/uptime"), NULL);
    double start = (double)stat_field(slurp("/proc/self/stat"), 22) / (double)hz;
    double t1 = now_real();
    /* btime is whole seconds: btime + uptime is now, less than a second early */
    T("btime + uptime is now", btime + uptime > t0 - 1.5 && btime + uptime < t1 + 0.5);
    T("start time not after uptime", start <= uptime + 0.01);
    /* this process started before t0 and (the test runs it at once) not long before */
    double began = (double)btime + start;
    T("btime + start time is this process's start", began < t1 + 0.5 && began > t0 - 60);

    /* sizes: nothing below maps or unmaps memory (static buffers, stdout set up) */
    long vmsize = status_kb("VmSize:");
    unsigned long long vsize = stat_field(slurp("/proc/self/stat"), 23);
    unsigned long long statm_pages = strtoull(slurp("/proc/self/statm"), NULL, 10);
    unsigned long long mapped = 0;
    slurp("/proc/self/maps");
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned long long lo, hi;
        if (sscanf(line, "%llx-%llx", &lo, &hi) != 2)
            break;
        char *eol = strchr(line, '\n');
        char save = eol ? *eol : 0;
        if (eol)
            *eol = 0;
        if (!strstr(line, "[vsyscall]"))
            mapped += hi - lo;
        if (eol)
            *eol = save;
    }
    T("VmSize is stat vsize", (unsigned long long)vmsize * 1024 == vsize);
    T("VmSize is statm size", (unsigned long long)vmsize * 1024 == statm_pages * 4096);
    T("VmSize is what maps lists", (unsigned long long)vmsize * 1024 == mapped);
    T("VmPeak at least VmSize", status_kb("VmPeak:") >= vmsize);
    links();
    return 0;
}
