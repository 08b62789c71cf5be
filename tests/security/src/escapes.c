/* escapes.c -- one named probe per way out of a container; each prints
 *
 *     NAME: ESCAPED (what it got)      the attempt worked
 *     NAME: blocked (ERRNO or why)     it did not
 *
 * Usage: escapes TOKEN SECRET_ABS HOST_PID HANDLE EXPECT_UID BLKDEV
 *        escapes --handle PATH        (print PATH's file handle, for HANDLE)
 *
 * TOKEN is the content of a secret file that lies next to the container's root
 * directory, at SECRET_ABS on the host ("../secret.txt" seen from the root).
 * The container has /planted-abs -> SECRET_ABS, /planted-rel -> ../secret.txt,
 * /inside.txt, at /data a bind mount of a host directory that lies next to
 * the secret too, holding up -> ../secret.txt, and at /ro a read-only bind
 * mount of another one, holding file.txt. HOST_PID is a process outside the container,
 * HANDLE the hex file handle of the secret ("-" for none), EXPECT_UID the uid
 * the container's config gives, BLKDEV "major:minor" of the disk holding it.
 *
 * Every probe runs in a child process of its own (a chroot or a killed
 * process must not change the next probe) and reports through a pipe; a child
 * killed by a signal is "blocked (killed by SIG...)". Probes that could change
 * the host clean up after themselves (a mknod'ed node is unlinked, a key is
 * revoked, a mount is unmounted) and run, natively, only in a scratch copy of
 * a root file system inside a private mount namespace. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static const char *token, *secret_abs, *handle_hex;
static pid_t host_pid, init_pid, init_ppid;
static uid_t expect_uid;
static unsigned blk_major, blk_minor;
static char self_exe[4096];
static int report_fd = -1;

/* ------------------------------------------------------------ reporting */

static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    if (write(report_fd, buf, n) < 0)
        _exit(3);
}

static const char *ename(int e)
{
    const char *s = e ? strerrorname_np(e) : "no error";
    return s ? s : "?";
}

#define ESCAPED(...) do { say("ESCAPED ("); say(__VA_ARGS__); say(")"); return; } while (0)
#define BLOCKED(...) do { say("blocked ("); say(__VA_ARGS__); say(")"); return; } while (0)

/* ------------------------------------------------------------ helpers */

/* 1 if PATH opens and holds TOKEN; else 0 with errno set (0: it opened but
 * held something else). */
static int holds_secret(int dirfd, const char *path)
{
    char buf[4096];
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return 0;
    }
    buf[n] = 0;
    errno = 0;
    return strstr(buf, token) != NULL;
}

static int fd_holds_secret(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0)
        return 0;
    buf[n] = 0;
    errno = 0;
    return strstr(buf, token) != NULL;
}

/* Try each path; ESCAPED on the first that reads the secret. */
static void try_paths(int dirfd, const char *const *paths)
{
    int last = 0;
    for (; *paths; paths++) {
        if (holds_secret(dirfd, *paths))
            ESCAPED("read the secret through %s", *paths);
        last = errno;
    }
    BLOCKED("%s", ename(last));
}

static char *cat(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(stpcpy(s, a), b);
    return s;
}

static void mkdirs(const char *p) { mkdir(p, 0755); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ path escapes */

static void p_dotdot(void)
{
    const char *p[] = {"/../secret.txt", "/../../../../../../../../secret.txt",
                       "/tmp/../../secret.txt", "..//..//secret.txt", NULL};
    chdir("/");
    try_paths(AT_FDCWD, p);
}

static void p_dotdot_cwd(void)
{
    const char *p[] = {"../../../../../../secret.txt", "../secret.txt", NULL};
    chdir("/tmp");
    try_paths(AT_FDCWD, p);
}

static void p_abs_symlink(void)
{
    const char *p[] = {"/planted-abs", "/tmp/esc-abs", NULL};
    symlink(secret_abs, "/tmp/esc-abs");
    try_paths(AT_FDCWD, p);
}

static void p_rel_symlink(void)
{
    const char *p[] = {"/planted-rel", "/tmp/esc-rel", "/tmp/esc-up/secret.txt",
                       "/tmp/esc-up/../secret.txt", "/tmp/esc-deep/a/b/../../../secret.txt", NULL};
    symlink("../../../../../../../../secret.txt", "/tmp/esc-rel");
    symlink("/..", "/tmp/esc-up");
    mkdirs("/tmp/esc-deep");
    symlink("../../../../..", "/tmp/esc-deep/a");
    try_paths(AT_FDCWD, p);
}

static void p_bind_mount_dotdot(void)
{
    /* /data is a bind mount of a host directory next to the secret, with
     * data/up -> ../secret.txt in it */
    const char *p[] = {"/data/../secret.txt", "/data/../../secret.txt", "/data/up",
                       "/data/./up/../secret.txt", NULL};
    chdir("/data");
    if (holds_secret(AT_FDCWD, "../secret.txt") || holds_secret(AT_FDCWD, "up"))
        ESCAPED("from a cwd in the bind mount");
    try_paths(AT_FDCWD, p);
}

static void p_ro_bind_write(void)
{
    /* /ro is a read-only bind mount of a host directory holding file.txt */
    const char *f = "/ro/file.txt";
    int fd = open(f, O_WRONLY | O_APPEND);
    if (fd >= 0 && write(fd, "x", 1) == 1)
        ESCAPED("wrote %s", f);
    int e = errno;
    int rfd = open(f, O_RDONLY), pfd = open(f, O_PATH);
    char a[64], b[64];
    snprintf(a, sizeof a, "/proc/self/fd/%d", rfd);
    snprintf(b, sizeof b, "/proc/self/fd/%d", pfd);
    const char *reopen[] = {a, b, NULL};
    for (const char *const *p = reopen; *p; p++) {
        fd = open(*p, O_RDWR | O_APPEND);
        if (fd >= 0 && write(fd, "x", 1) == 1)
            ESCAPED("wrote %s through %s", f, *p);
    }
    /* a shared mapping of the read-only file, made writable */
    char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, rfd, 0);
    if (m != MAP_FAILED && mprotect(m, 4096, PROT_READ | PROT_WRITE) == 0) {
        m[0] = 'X';
        msync(m, 4096, MS_SYNC);
        ESCAPED("wrote %s through a shared mapping", f);
    }
    if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0) != MAP_FAILED)
        ESCAPED("mapped %s shared and writable", f);
    if (truncate(f, 0) == 0)
        ESCAPED("truncated %s", f);
    if (chmod(f, 0666) == 0)
        ESCAPED("chmod %s", f);
    if (unlink(f) == 0)
        ESCAPED("removed %s", f);
    if (rename(f, "/ro/moved") == 0)
        ESCAPED("renamed %s", f);
    if (mkdir("/ro/newdir", 0755) == 0)
        ESCAPED("made /ro/newdir");
    /* a root that may mount can make it writable again */
    if (mount(NULL, "/ro", NULL, MS_REMOUNT | MS_BIND, NULL) == 0) {
        fd = open(f, O_WRONLY | O_APPEND);
        if (fd >= 0 && write(fd, "x", 1) == 1)
            ESCAPED("remounted /ro writable and wrote %s", f);
    }
    BLOCKED("%s", ename(e));
}

static void p_foreign_procfs(void)
{
    /* a procfs of the host mounted somewhere under the root (ESCAPES_HOSTPROC):
     * its magic links lead anywhere, its pids are the host's */
    const char *hp = getenv("ESCAPES_HOSTPROC");
    if (!hp)
        BLOCKED("no host procfs given");
    char a[4096], b[4096], c[256];
    snprintf(a, sizeof a, "%s/%d/root%s", hp, host_pid, secret_abs);
    snprintf(b, sizeof b, "%s/1/root%s", hp, secret_abs);
    const char *p[] = {a, b, NULL};
    for (const char *const *q = p; *q; q++)
        if (holds_secret(AT_FDCWD, *q))
            ESCAPED("read the secret through %s", *q);
    int e = errno;
    snprintf(c, sizeof c, "%s/%d/status", hp, host_pid);
    if (holds_secret(AT_FDCWD, c) || errno == 0)
        ESCAPED("read %s", c);
    BLOCKED("%s", ename(e));
}

static void p_proc_self_root(void)
{
    const char *p[] = {"/proc/self/root/../secret.txt", "/proc/self/root/../../secret.txt",
                       cat("/proc/self/root", secret_abs), "/proc/thread-self/root/../secret.txt",
                       NULL};
    try_paths(AT_FDCWD, p);
}

static void p_proc_pid_root(void)
{
    /* a host process's root is the host's (natively, with the host's /proc);
     * /proc/1 is the pid namespace's init */
    char root[64], cwd[64];
    snprintf(root, sizeof root, "/proc/%d/root", host_pid);
    snprintf(cwd, sizeof cwd, "/proc/%d/cwd", host_pid);
    const char *p[] = {cat(root, secret_abs), cat(cwd, "/../secret.txt"),
                       cat("/proc/1/root", secret_abs), "/proc/1/root/../secret.txt",
                       cat("/proc/1/cwd", secret_abs), NULL};
    try_paths(AT_FDCWD, p);
}

static void p_proc_cwd(void)
{
    char a[64];
    chdir("/tmp");
    snprintf(a, sizeof a, "/proc/%d/cwd/../../secret.txt", getpid());
    const char *p[] = {"/proc/self/cwd/../../secret.txt", "/proc/self/cwd/../secret.txt", a, NULL};
    try_paths(AT_FDCWD, p);
}

static void p_proc_fd_magic(void)
{
    char a[64], b[64];
    int root = open("/", O_PATH | O_DIRECTORY);
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY);
    snprintf(a, sizeof a, "/proc/self/fd/%d/../secret.txt", root);
    snprintf(b, sizeof b, "/proc/self/fd/%d/../../secret.txt", tmp);
    const char *p[] = {a, b, NULL};
    if (holds_secret(root, "../secret.txt") || holds_secret(tmp, "../../secret.txt"))
        ESCAPED("openat(dirfd, ../secret.txt)");
    try_paths(AT_FDCWD, p);
}

static void p_openat2(void)
{
    const char *p[] = {"/../secret.txt", "/planted-abs", "/proc/self/root/../secret.txt", NULL};
    int last = 0;
    for (const char *const *q = p; *q; q++) {
        struct open_how how = {.flags = O_RDONLY};
        int fd = syscall(SYS_openat2, AT_FDCWD, *q, &how, sizeof how);
        if (fd >= 0 && fd_holds_secret(fd))
            ESCAPED("openat2 of %s", *q);
        last = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
    }
    BLOCKED("%s", ename(last));
}

static void p_hardlink(void)
{
    const char *src[] = {"/planted-abs", "/planted-rel", "/../secret.txt",
                         "/proc/self/root/../secret.txt", NULL};
    int last = 0;
    for (const char *const *q = src; *q; q++) {
        unlink("/tmp/esc-hl");
        if (linkat(AT_FDCWD, *q, AT_FDCWD, "/tmp/esc-hl", AT_SYMLINK_FOLLOW) == 0) {
            if (holds_secret(AT_FDCWD, "/tmp/esc-hl"))
                ESCAPED("hard link to %s", *q);
        }
        last = errno;
    }
    /* a hard link made from an fd opened through a magic link */
    int fd = open("/inside.txt", O_RDONLY);
    char a[64];
    snprintf(a, sizeof a, "/proc/self/fd/%d/../secret.txt", fd);
    if (linkat(AT_FDCWD, a, AT_FDCWD, "/tmp/esc-hl2", AT_SYMLINK_FOLLOW) == 0 &&
        holds_secret(AT_FDCWD, "/tmp/esc-hl2"))
        ESCAPED("hard link to %s", a);
    BLOCKED("%s", ename(last));
}

static void p_chroot_dotdot(void)
{
    /* the classic: chroot into a subdirectory while the cwd stays above it, then
     * climb: the cwd is no longer below the process root */
    mkdirs("/tmp/esc-jail");
    chdir("/");
    if (chroot("/tmp/esc-jail") < 0)
        BLOCKED("chroot: %s", ename(errno));
    for (int i = 0; i < 64; i++)
        chdir("..");
    if (chroot(".") < 0)
        BLOCKED("chroot .: %s", ename(errno));
    const char *p[] = {secret_abs, "secret.txt", "../secret.txt", NULL};
    try_paths(AT_FDCWD, p);
}

static void p_chroot_fd(void)
{
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    mkdirs("/tmp/esc-jail2");
    if (chroot("/tmp/esc-jail2") < 0)
        BLOCKED("chroot: %s", ename(errno));
    if (fchdir(fd) < 0)
        BLOCKED("fchdir: %s", ename(errno));
    for (int i = 0; i < 64; i++)
        chdir("..");
    const char *p[] = {cat(".", secret_abs), "secret.txt", "../secret.txt", NULL};
    try_paths(AT_FDCWD, p);
}

/* a thread flips a name between harmless and escaping targets while the
 * probe opens it: a check of the path and its use must be one step */
struct flip { const char *name; const char *tmp; const char *a; const char *b; int dirs; volatile int stop; };

static void *flipper(void *arg)
{
    struct flip *f = arg;
    for (unsigned i = 0; !f->stop; i++) {
        const char *target = i & 1 ? f->b : f->a;
        if (f->dirs && !(i & 1)) {
            mkdir(f->tmp, 0755);
            char inner[256];
            snprintf(inner, sizeof inner, "%s/secret.txt", f->tmp);
            int fd = open(inner, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                write(fd, "decoy\n", 6);
                close(fd);
            }
        } else {
            symlink(target, f->tmp);
        }
        if (f->dirs) {
            /* exchange keeps the name present at every moment */
            if (syscall(SYS_renameat2, AT_FDCWD, f->tmp, AT_FDCWD, f->name, 2 /* EXCHANGE */) < 0)
                rename(f->tmp, f->name);
            char inner[256];
            snprintf(inner, sizeof inner, "%s/secret.txt", f->tmp);
            unlink(inner);
            rmdir(f->tmp);
            unlink(f->tmp);
        } else {
            rename(f->tmp, f->name);
        }
    }
    return NULL;
}

static void race(struct flip *f, const char *path, double seconds)
{
    pthread_t th;
    long tries = 0, opened = 0;
    pthread_create(&th, NULL, flipper, f);
    double end = now() + seconds;
    int got = 0;
    while (now() < end && !got) {
        for (int i = 0; i < 20 && !got; i++, tries++) {
            got = holds_secret(AT_FDCWD, path);
            opened += errno == 0;
        }
    }
    f->stop = 1;
    pthread_join(th, NULL);
    if (got)
        ESCAPED("read the secret through %s after %ld tries", path, tries);
    if (!opened)
        BLOCKED("%ld tries, none opened", tries);
    BLOCKED("%ld tries, %ld opened the harmless target, none the secret", tries, opened);
}

static void p_race_symlink_swap(void)
{
    mkdirs("/tmp/esc-race");
    struct flip f = {"/tmp/esc-race/link", "/tmp/esc-race/tmp", "/inside.txt", secret_abs, 0, 0};
    symlink("/inside.txt", f.name);
    race(&f, f.name, 0.7);
}

static void p_race_dir_swap(void)
{
    /* /tmp/esc-race2/d is a real directory, then a symlink to the
     * host directory of the secret, then a directory again */
    mkdirs("/tmp/esc-race2");
    char *dir = strdup(secret_abs);
    *strrchr(dir, '/') = 0;
    struct flip f = {"/tmp/esc-race2/d", "/tmp/esc-race2/t", NULL, dir, 1, 0};
    mkdirs(f.name);
    race(&f, "/tmp/esc-race2/d/secret.txt", 0.7);
}

static void *mover(void *arg)
{
    volatile int *stop = arg;
    while (!*stop) {
        rename("/tmp/esc-race3/a/b", "/tmp/esc-race3/b");
        rename("/tmp/esc-race3/b", "/tmp/esc-race3/a/b");
    }
    return NULL;
}

static void p_race_rename_dotdot(void)
{
    /* a directory moved up and back while a walk climbs out of it by ".." */
    mkdirs("/tmp/esc-race3");
    mkdirs("/tmp/esc-race3/a");
    mkdirs("/tmp/esc-race3/a/b");
    mkdirs("/tmp/esc-race3/a/b/c");
    volatile int stop = 0;
    pthread_t th;
    pthread_create(&th, NULL, mover, (void *)&stop);
    const char *path = "/tmp/esc-race3/a/b/c/../../../../../../../secret.txt";
    int got = 0;
    long tries = 0;
    int dfd = -1;
    double end = now() + 0.7;
    while (now() < end && !got) {
        got = holds_secret(AT_FDCWD, path);
        if (!got) {
            /* also from a directory fd that the move takes along */
            if (dfd < 0)
                dfd = open("/tmp/esc-race3/a/b/c", O_PATH | O_DIRECTORY);
            if (dfd >= 0)
                got = holds_secret(dfd, "../../../../../../../../secret.txt");
        }
        tries++;
    }
    stop = 1;
    pthread_join(th, NULL);
    if (got)
        ESCAPED("after %ld tries", tries);
    BLOCKED("%ld tries", tries);
}

static char flip_buf[256];

static void *arg_flipper(void *arg)
{
    volatile int *stop = arg;
    char other[256];
    snprintf(other, sizeof other, "%s", secret_abs);
    for (unsigned i = 0; !*stop; i++) {
        /* the path a call reads from memory changes under it */
        const char *src = i & 1 ? other : "/inside.txt";
        memcpy(flip_buf, src, strlen(src) + 1);
    }
    return NULL;
}

static void p_race_arg_flip(void)
{
    /* the path argument itself changes in memory while the call runs: it
     * must be read once, and resolved where it was read */
    volatile int stop = 0;
    pthread_t th;
    strcpy(flip_buf, "/inside.txt");
    pthread_create(&th, NULL, arg_flipper, (void *)&stop);
    long tries = 0;
    int got = 0;
    double end = now() + 0.5;
    while (now() < end && !got) {
        got = holds_secret(AT_FDCWD, flip_buf) || holds_secret(AT_FDCWD, "/planted-abs");
        tries++;
    }
    stop = 1;
    pthread_join(th, NULL);
    if (got)
        ESCAPED("after %ld tries", tries);
    BLOCKED("%ld tries", tries);
}

static void p_mount(void)
{
    mkdirs("/tmp/esc-mnt");
    if (mount("none", "/tmp/esc-mnt", "tmpfs", 0, "size=64k") == 0) {
        umount2("/tmp/esc-mnt", MNT_DETACH);
        ESCAPED("mounted a tmpfs");
    }
    if (mount("/", "/tmp/esc-mnt", NULL, MS_BIND, NULL) == 0) {
        umount2("/tmp/esc-mnt", MNT_DETACH);
        ESCAPED("bind-mounted /");
    }
    BLOCKED("%s", ename(errno));
}

/* ------------------------------------------------------------ host surfaces */

static void fd_result(const char *what, long fd)
{
    if (fd >= 0) {
        close(fd);
        ESCAPED("%s gave fd %ld", what, fd);
    }
    BLOCKED("%s", ename(errno));
}

static void p_host_unix_socket(void)
{
    /* a listening host socket in the bind-mounted directory (the docker.sock
     * mistake), and one in the host's abstract namespace */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/data/host.sock");
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
        ESCAPED("connected to the host's /data/host.sock");
    int e = errno;
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(a.sun_path, 0, sizeof a.sun_path);
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "esc-%s", token);
    if (connect(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n) == 0)
        ESCAPED("connected to the host's abstract socket");
    BLOCKED("path %s, abstract %s", ename(e), ename(errno));
}

static void p_host_loopback(void)
{
    /* a TCP listener on the host's 127.0.0.1 (ESCAPES_TCP_PORT) */
    const char *port = getenv("ESCAPES_TCP_PORT");
    if (!port)
        BLOCKED("no port given");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
        ESCAPED("connected to the host's 127.0.0.1:%s", port);
    BLOCKED("%s", ename(errno));
}

/* One request through an io_uring: its CQE's res (-errno on failure to submit). */
struct uring {
    int fd;
    struct io_uring_params p;
    unsigned char *rings;
    struct io_uring_sqe *sqes;
};

static int uring_do(struct uring *u, const struct io_uring_sqe *sqe)
{
    volatile unsigned *sq_tail = (unsigned *)(u->rings + u->p.sq_off.tail);
    volatile unsigned *cq_head = (unsigned *)(u->rings + u->p.cq_off.head);
    volatile unsigned *cq_tail = (unsigned *)(u->rings + u->p.cq_off.tail);
    unsigned tail = *sq_tail, idx = tail & (u->p.sq_entries - 1);
    u->sqes[idx] = *sqe;
    ((unsigned *)(u->rings + u->p.sq_off.array))[idx] = idx;
    __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
    if (syscall(SYS_io_uring_enter, u->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
        return -errno;
    unsigned head = *cq_head;
    if (head == *cq_tail)
        return -EAGAIN;
    struct io_uring_cqe *c = (struct io_uring_cqe *)(u->rings + u->p.cq_off.cqes);
    int res = c[head & (u->p.cq_entries - 1)].res;
    __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
    return res;
}

/* 1 if the ring's READ of fd gets bytes holding TOKEN (want_token) or any bytes. */
static int uring_read(struct uring *u, int fd, int want_token)
{
    char buf[4096] = {0};
    struct io_uring_sqe s = {.opcode = IORING_OP_READ, .fd = fd};
    s.addr = (uintptr_t)buf;
    s.len = sizeof buf - 1;
    int n = uring_do(u, &s);
    if (n <= 0)
        return 0;
    return want_token ? strstr(buf, token) != NULL : 1;
}

static void p_io_uring(void)
{
    /* The host kernel's io_uring must be out of reach; an io_uring the sandbox serves may
     * exist, so the probe tries to get out *through* the ring: OPENAT of the secret by
     * paths the other probes use (the host's /proc/PID/root among them) and READ of
     * what opened, then READ of host fds that the process's own fd table lacks (the
     * stub's 1000..1003, which only the host kernel's io_uring would find). */
    struct uring u;
    memset(&u, 0, sizeof u);
    u.fd = syscall(SYS_io_uring_setup, 4, &u.p);
    if (u.fd < 0)
        BLOCKED("io_uring_setup %s", ename(errno));
    size_t sz = u.p.sq_off.array + u.p.sq_entries * 4;
    size_t cqsz = u.p.cq_off.cqes + u.p.cq_entries * sizeof(struct io_uring_cqe);
    u.rings = mmap(NULL, sz > cqsz ? sz : cqsz, PROT_READ | PROT_WRITE, MAP_SHARED, u.fd,
                   IORING_OFF_SQ_RING);
    u.sqes = mmap(NULL, u.p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                  MAP_SHARED, u.fd, IORING_OFF_SQES);
    if (u.rings == MAP_FAILED || u.sqes == MAP_FAILED)
        BLOCKED("mmap of the rings %s", ename(errno));
    /* (Paths that climb out of the root: in do mode the host's tree is the sandbox's
     * root, so the secret's own path, or /proc/1/root's, is no escape there.) */
    char a[4096];
    snprintf(a, sizeof a, "/proc/%d/root%s", host_pid, secret_abs);
    const char *paths[] = {"/../secret.txt", "/../../../../../../../../secret.txt",
                           "/proc/self/root/../secret.txt", a, NULL};
    int last = 0;
    for (const char *const *q = paths; *q; q++) {
        struct io_uring_sqe s = {.opcode = IORING_OP_OPENAT, .fd = AT_FDCWD};
        s.addr = (uintptr_t)*q;
        s.open_flags = O_RDONLY;
        int fd = uring_do(&u, &s);
        if (fd < 0) {
            last = -fd;
            continue;
        }
        int got = uring_read(&u, fd, 1);
        close(fd);
        if (got)
            ESCAPED("read the secret through an io_uring OPENAT of %s", *q);
    }
    for (int fd = 1000; fd <= 1003; fd++) {
        char c;
        errno = 0;
        if (read(fd, &c, 0) < 0 && errno == EBADF && uring_read(&u, fd, 0))
            ESCAPED("an io_uring READ of fd %d, which this process does not have", fd);
    }
    BLOCKED("ring served; openat %s, fds 1000-1003 EBADF", ename(last));
}

static void p_bpf(void)
{
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    fd_result("BPF_MAP_CREATE", syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a));
}

static void p_perf_event_open(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    a.disabled = 1;
    fd_result("perf_event_open", syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
}

static void p_userfaultfd(void)
{
    fd_result("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
}

static void p_name_to_handle_at(void)
{
    struct { struct file_handle h; unsigned char b[128]; } fh;
    int mnt;
    fh.h.handle_bytes = 128;
    if (syscall(SYS_name_to_handle_at, AT_FDCWD, "/inside.txt", &fh.h, &mnt, 0) == 0)
        ESCAPED("handle type %d, %u bytes", fh.h.handle_type, fh.h.handle_bytes);
    BLOCKED("%s", ename(errno));
}

static void p_open_by_handle_at(void)
{
    /* "shocker": a file handle names an inode of the whole file system,
     * whatever the caller's root */
    struct { struct file_handle h; unsigned char b[128]; } fh;
    int type;
    unsigned n = 0;
    if (!strcmp(handle_hex, "-") || sscanf(handle_hex, "%d:", &type) != 1) {
        int mnt;
        fh.h.handle_bytes = 128;
        if (syscall(SYS_name_to_handle_at, AT_FDCWD, "/inside.txt", &fh.h, &mnt, 0) < 0)
            BLOCKED("no handle to try: %s", ename(errno));
    } else {
        const char *hex = strchr(handle_hex, ':') + 1;
        for (; hex[0] && hex[1] && n < 128; hex += 2, n++)
            sscanf(hex, "%2hhx", &fh.h.f_handle[n]);
        fh.h.handle_type = type;
        fh.h.handle_bytes = n;
    }
    int root = open("/", O_RDONLY | O_DIRECTORY);
    int fd = syscall(SYS_open_by_handle_at, root, &fh.h, O_RDONLY);
    if (fd < 0)
        BLOCKED("%s", ename(errno));
    if (fd_holds_secret(fd))
        ESCAPED("read the secret by its handle");
    ESCAPED("opened an inode by handle");
}

/* The host's keyrings: the test plants a key in root's user keyring on the host (the
 * kernel's, shared by every process of uid 0 in the initial user namespace); finding it
 * is reaching them. The sandbox's keys are its sentry's own (add_key works there). */
static void p_keyrings(void)
{
    long id = syscall(SYS_keyctl, 10 /* KEYCTL_SEARCH */, -4 /* user keyring */, "user",
                      "runsc-py-escprobe", 0);
    if (id >= 0)
        ESCAPED("found the host's key %ld in the user keyring", id);
    int e = errno;
    long own = syscall(SYS_add_key, "user", "escprobe", "x", 1, -2 /* process keyring */);
    if (own >= 0) {
        syscall(SYS_keyctl, 3 /* KEYCTL_REVOKE */, own);
        syscall(SYS_keyctl, 9 /* KEYCTL_UNLINK */, own, -2);
    }
    BLOCKED("search %s (a key of its own: %s)", ename(e), own >= 0 ? "made" : ename(errno));
}

static void p_module_loading(void)
{
    static const char junk[64] = "not a module";
    if (syscall(SYS_init_module, junk, sizeof junk, "") == 0)
        ESCAPED("init_module accepted junk?");
    int e1 = errno;
    int fd = open("/dev/null", O_RDONLY);
    syscall(SYS_finit_module, fd, "", 0);
    int e2 = errno;
    syscall(SYS_delete_module, "escprobe_none", O_NONBLOCK);
    int e3 = errno;
    /* the module loader answered (a bad image, no such module): it is reachable */
    int reached = (e1 != EPERM && e1 != ENOSYS) || (e2 != EPERM && e2 != ENOSYS && e2 != EBADF) ||
                  (e3 != EPERM && e3 != ENOSYS);
    if (reached)
        ESCAPED("the loader answered: init %s, finit %s, delete %s", ename(e1), ename(e2), ename(e3));
    BLOCKED("init %s, finit %s, delete %s", ename(e1), ename(e2), ename(e3));
}

static void p_raw_devices(void)
{
    const char *devs[] = {"/dev/kmsg", "/dev/mem", "/dev/port", "/dev/vda", "/dev/sda",
                          "/dev/nvme0n1", "/dev/kvm", "/dev/loop-control", NULL};
    int last = ENOENT;
    for (const char *const *d = devs; *d; d++) {
        int fd = open(*d, O_RDONLY | O_NONBLOCK);
        if (fd >= 0) {
            close(fd);
            ESCAPED("opened %s", *d);
        }
        if (errno != ENOENT)
            last = errno;
    }
    BLOCKED("%s", ename(last));
}

static void p_proc_kernel_files(void)
{
    /* the host kernel's memory, log and magic keys: opened only (a read of
     * /proc/kmsg would take messages from the host's log reader); kcore and
     * kallsyms are read, which changes nothing */
    const char *open_only[] = {"/proc/kmsg", "/proc/sysrq-trigger", NULL};
    int last = ENOENT;
    char buf[64];
    int fd = open("/proc/kcore", O_RDONLY);
    if (fd >= 0 && read(fd, buf, sizeof buf) > 0)
        ESCAPED("read /proc/kcore");
    if (fd < 0 && errno != ENOENT)
        last = errno;
    fd = open("/proc/kallsyms", O_RDONLY);
    if (fd >= 0 && read(fd, buf, 16) == 16 && strncmp(buf, "0000000000000000", 16))
        ESCAPED("kernel addresses in /proc/kallsyms");
    for (const char *const *f = open_only; *f; f++) {
        fd = open(*f, (strcmp(*f, "/proc/kmsg") ? O_WRONLY : O_RDONLY) | O_NONBLOCK);
        if (fd >= 0) {
            close(fd);
            ESCAPED("opened %s", *f);
        }
        if (errno != ENOENT)
            last = errno;
    }
    BLOCKED("%s", ename(last));
}

static void p_planted_device(void)
{
    /* a host device node (1:11, the kernel log) in the bind-mounted directory */
    static char buf[8192]; /* /dev/kmsg: EINVAL for a record longer than this */
    int fd = open("/data/kmsg-node", O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        BLOCKED("%s", ename(errno));
    if (read(fd, buf, sizeof buf) > 0)
        ESCAPED("read the host kernel log through /data/kmsg-node");
    BLOCKED("opened, read %s", ename(errno));
}

static void p_mknod(void)
{
    /* the host's kernel log (1:11) and the disk, made in the scratch /tmp */
    const char *node = "/tmp/esc-node";
    unlink(node);
    int e1 = 0, e2 = 0;
    static char buf[8192];
    if (mknod(node, S_IFCHR | 0600, makedev(1, 11)) == 0) {
        int fd = open(node, O_RDONLY | O_NONBLOCK);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        unlink(node);
        if (n > 0)
            ESCAPED("read the host kernel log through a 1:11 node");
        e1 = errno;
    } else {
        e1 = errno;
    }
    if (mknod(node, S_IFBLK | 0600, makedev(blk_major, blk_minor)) == 0) {
        int fd = open(node, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        unlink(node);
        if (n > 0)
            ESCAPED("read the host disk %u:%u through a node", blk_major, blk_minor);
        e2 = errno;
    } else {
        e2 = errno;
    }
    BLOCKED("char %s, block %s", ename(e1), ename(e2));
}

static void p_raw_socket(void)
{
    int s = socket(AF_PACKET, SOCK_RAW, 0);
    if (s >= 0) {
        close(s);
        ESCAPED("AF_PACKET socket");
    }
    int e = errno;
    s = socket(AF_INET, SOCK_RAW, 1);
    if (s >= 0) {
        close(s);
        ESCAPED("raw ICMP socket");
    }
    BLOCKED("packet %s, inet raw %s", ename(e), ename(errno));
}

static void p_ioperm(void)
{
    if (ioperm(0x80, 1, 1) == 0) {
        ioperm(0x80, 1, 0);
        ESCAPED("I/O port 0x80 permitted");
    }
    BLOCKED("%s", ename(errno));
}

static void p_modify_ldt(void)
{
    /* reading the LDT: the way to 16- and 32-bit code segments */
    char buf[64];
    long r = syscall(SYS_modify_ldt, 0, buf, sizeof buf);
    if (r >= 0)
        ESCAPED("modify_ldt read %ld bytes", r);
    BLOCKED("%s", ename(errno));
}

static void p_swap(void)
{
    /* a name that does not exist: the host answers ENOENT if it gets the call */
    if (swapoff("/tmp/esc-no-such-swap") == 0)
        ESCAPED("swapoff succeeded?");
    if (errno != EPERM && errno != ENOSYS)
        ESCAPED("swapoff reached the host: %s", ename(errno));
    BLOCKED("%s", ename(errno));
}

static pid_t sleeper(void)
{
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    return c;
}

/* A child that has asked to be traced and stopped itself (0: it could not). */
static pid_t traced_child(void)
{
    pid_t c = fork();
    if (c == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
            _exit(3);
        kill(getpid(), SIGSTOP);
        long r = syscall(SYS_getppid); /* its tracer may turn this into another call */
        _exit(r == 0 ? 0 : errno == EPERM ? 1 : 2);
    }
    int st = 0;
    if (c < 0 || waitpid(c, &st, 0) != c || !WIFSTOPPED(st)) {
        if (c > 0) {
            kill(c, SIGKILL);
            waitpid(c, NULL, 0);
        }
        return 0;
    }
    return c;
}

static void p_ptrace(void)
{
    /* ptrace is the sandbox's own (its processes trace each other), so the probe is the
     * classic way past a seccomp filter with it: the tracer turns its child's harmless
     * call, at the call's syscall-entry stop, into one the sandbox forbids; the filter
     * must judge the call that runs. */
    pid_t c = traced_child();
    if (!c)
        BLOCKED("no traced child: %s", ename(errno));
    int st = 0, rewritten = 0;
    while (!rewritten) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_SYSCALL, c, 0, 0) < 0 || waitpid(c, &st, 0) != c || !WIFSTOPPED(st)
            || ptrace(PTRACE_GETREGS, c, 0, &regs) < 0)
            break;
        if (regs.orig_rax == SYS_getppid && (long)regs.rax == -ENOSYS) {
            regs.orig_rax = SYS_unshare;
            regs.rdi = CLONE_NEWNS;
            rewritten = ptrace(PTRACE_SETREGS, c, 0, &regs) == 0;
        }
    }
    ptrace(PTRACE_CONT, c, 0, 0);
    waitpid(c, &st, 0);
    if (rewritten && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        ESCAPED("a traced child's getppid rewritten into unshare(CLONE_NEWNS) ran");
    BLOCKED("%s, the child's status %#x", rewritten ? "rewritten" : "not rewritten", st);
}

static void p_ptrace_poke_stub(void)
{
    /* where the sandbox's host stub lies, in a traced child (nothing there natively) */
    pid_t c = traced_child();
    if (!c)
        BLOCKED("no traced child: %s", ename(errno));
    errno = 0;
    long r = ptrace(PTRACE_POKETEXT, c, (void *)0x7e0000001000, (void *)0xccccccccccccccccL);
    int e = errno;
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    if (r == 0)
        ESCAPED("wrote at 0x7e0000001000 in a traced child");
    BLOCKED("%s", ename(e));
}

static void p_process_vm(void)
{
    static long word = 0x5eed;
    pid_t c = sleeper();
    long got = 0;
    struct iovec l = {&got, sizeof got}, r = {&word, sizeof word};
    ssize_t n = process_vm_readv(c, &l, 1, &r, 1, 0);
    int e = errno;
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    if (n == sizeof got)
        ESCAPED("read a child's memory");
    BLOCKED("%s", ename(e));
}

static void p_namespaces(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        ESCAPED("unshare(CLONE_NEWNS)");
    int e = errno;
    if (unshare(CLONE_NEWUSER) == 0)
        ESCAPED("unshare(CLONE_NEWUSER)");
    BLOCKED("newns %s, newuser %s", ename(e), ename(errno));
}

/* ------------------------------------------------------------ foreign ABIs */

static void p_abi_int80(void)
{
    long r;
    /* eax = 20: getpid in the i386 table */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    if (r > 0)
        ESCAPED("ia32 getpid returned %ld", r);
    BLOCKED("returned %ld", r);
}

static void p_abi_x32(void)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(0x40000000L | 39) : "rcx", "r11", "memory");
    if (r > 0)
        ESCAPED("x32 getpid returned %ld", r);
    BLOCKED("%s", r < 0 ? ename(-r) : "returned 0");
}

/* ------------------------------------------------------------ /proc/self/mem */

__attribute__((noinline)) static int victim(void)
{
    __asm__ volatile("" ::: "memory");
    return 1;
}

static void p_proc_mem_text(void)
{
    /* mov eax, 2; ret */
    static const unsigned char code[] = {0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3};
    int fd = open("/proc/self/mem", O_RDWR);
    if (fd < 0)
        BLOCKED("open: %s", ename(errno));
    int (*volatile fn)(void) = victim;
    if (pwrite(fd, code, sizeof code, (off_t)(uintptr_t)fn) != sizeof code)
        BLOCKED("pwrite: %s", ename(errno));
    if (fn() == 2)
        ESCAPED("rewrote read-only text");
    BLOCKED("the write did not reach the text");
}

static void p_proc_mem_stub(void)
{
    /* where the sandbox's host stub lies (nothing there natively) */
    static const unsigned char code[] = {0xcc};
    int fd = open("/proc/self/mem", O_RDWR);
    if (fd < 0)
        BLOCKED("open: %s", ename(errno));
    if (pwrite(fd, code, 1, (off_t)0x7e0000001000) == 1)
        ESCAPED("wrote at 0x7e0000001000");
    BLOCKED("pwrite: %s", ename(errno));
}

static void p_stub_fd_takeover(void)
{
    /* the sandbox's host stub image is host fd 1000 of every workload
     * process: a shared mapping of a sandbox fd 1000 must not put another
     * file there, which the host would then run at the next execve */
    int fd = memfd_create("esc-stub", 0);
    static const char junk[4096] = "\x7f" "ELF not really";
    if (fd < 0 || write(fd, junk, sizeof junk) != sizeof junk || dup2(fd, 1000) < 0)
        BLOCKED("setup: %s", ename(errno));
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, 1000, 0);
    int e = m == MAP_FAILED ? errno : 0;
    pid_t c = fork();
    if (c == 0) {
        execl(self_exe, self_exe, "--exit", NULL);
        _exit(errno);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 42)
        ESCAPED("execve after mapping fd 1000: status %#x", st);
    BLOCKED("execve still runs the program (mmap %s)", ename(e));
}

/* ------------------------------------------------------------ running executables */

static void exe_open(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd >= 0)
        ESCAPED("opened %s for writing", path);
    BLOCKED("%s", ename(errno));
}

static void p_exe_proc(void) { exe_open("/proc/self/exe", O_WRONLY); }
static void p_exe_path(void) { exe_open(self_exe, O_WRONLY); }
static void p_exe_path_trunc(void) { exe_open(self_exe, O_WRONLY | O_TRUNC); }
static void p_exe_path_rdwr(void) { exe_open(self_exe, O_RDWR); }

static void p_exe_path_rdonly_trunc(void) { exe_open(self_exe, O_RDONLY | O_TRUNC); }

static void p_exe_hardlink(void)
{
    /* another name of the same file */
    char other[4200];
    snprintf(other, sizeof other, "%s-link", self_exe);
    unlink(other);
    if (link(self_exe, other) < 0)
        BLOCKED("link: %s", ename(errno));
    int fd = open(other, O_WRONLY);
    int e = errno;
    unlink(other);
    if (fd >= 0)
        ESCAPED("opened %s for writing", other);
    BLOCKED("%s", ename(e));
}

static void p_exe_copy_hardlink(void)
{
    /* a copy run by another process, written through a hard link made before
     * it ran, in the writable bind mount when there is one (files served by
     * the gofer) */
    const char *dir = access("/data", W_OK) == 0 ? "/data" : "/tmp";
    char copy[64], other[64];
    snprintf(copy, sizeof copy, "%s/esc-prog", dir);
    snprintf(other, sizeof other, "%s/esc-prog-link", dir);
    unlink(copy);
    unlink(other);
    int in = open(self_exe, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        write(out, buf, n);
    close(in);
    close(out);
    if (link(copy, other) < 0)
        BLOCKED("link: %s", ename(errno));
    int pfd[2];
    pipe(pfd);
    pid_t c = fork();
    if (c == 0) {
        dup2(pfd[1], 3);
        execl(copy, copy, "--wait", NULL);
        _exit(127);
    }
    close(pfd[1]);
    char ch;
    int ran = read(pfd[0], &ch, 1) == 1;
    int fd = open(other, O_WRONLY);
    int e = errno;
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    unlink(copy);
    unlink(other);
    if (!ran)
        BLOCKED("the copy did not run");
    if (fd >= 0)
        ESCAPED("opened %s for writing while %s ran", other, copy);
    BLOCKED("%s", ename(e));
}

static void p_exe_truncate(void)
{
    if (truncate(self_exe, 0) == 0)
        ESCAPED("truncated %s", self_exe);
    BLOCKED("%s", ename(errno));
}

static void p_exe_other_task(void)
{
    /* a copy of this program run by another process is busy while it runs,
     * and writable again once it has exited */
    const char *copy = "/tmp/esc-copy";
    int in = open(self_exe, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        write(out, buf, n);
    close(in);
    close(out);
    int pfd[2];
    pipe(pfd);
    pid_t c = fork();
    if (c == 0) {
        dup2(pfd[1], 3);
        execl(copy, copy, "--wait", NULL);
        _exit(127);
    }
    close(pfd[1]);
    char ch;
    read(pfd[0], &ch, 1); /* the copy runs */
    int fd = open(copy, O_WRONLY);
    int e = errno;
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    if (fd >= 0)
        ESCAPED("opened the running copy for writing");
    int after = open(copy, O_WRONLY);
    if (after < 0)
        BLOCKED("%s; still %s after it exited", ename(e), ename(errno));
    BLOCKED("%s", ename(e));
}

static void p_exe_exec_busy(void)
{
    /* the other way round: a file open for writing cannot be run */
    const char *copy = "/tmp/esc-copy2";
    int in = open(self_exe, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        write(out, buf, n);
    close(in);
    pid_t c = fork();
    if (c == 0) {
        execl(copy, copy, "--exit", NULL);
        _exit(errno);
    }
    int st = 0;
    waitpid(c, &st, 0);
    close(out);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 42)
        ESCAPED("ran a file open for writing");
    BLOCKED("%s", WIFEXITED(st) ? ename(WEXITSTATUS(st)) : "killed");
}

/* ------------------------------------------------------------ donated stdio */

static void p_stdin_reopen(void)
{
    /* stdin is a host file handed over read-only: re-opening it through
     * /proc/self/fd must not give write access */
    struct stat st;
    if (fstat(0, &st) < 0 || !S_ISREG(st.st_mode))
        BLOCKED("stdin is not a file");
    const char *paths[] = {"/proc/self/fd/0", "/dev/stdin", NULL};
    int last = 0;
    for (const char *const *p = paths; *p; p++) {
        int fd = open(*p, O_WRONLY | O_APPEND);
        if (fd >= 0 && write(fd, "escaped\n", 8) == 8)
            ESCAPED("appended to the read-only stdin through %s", *p);
        last = errno;
    }
    BLOCKED("%s", ename(last));
}

/* ------------------------------------------------------------ identities */

static void p_host_pid_getpid(void)
{
    if (init_pid != 1)
        ESCAPED("the first process is pid %d", init_pid);
    BLOCKED("pid 1");
}

static void p_host_ppid(void)
{
    /* the first process's parent is outside the pid namespace: 0 */
    if (init_ppid != 0)
        ESCAPED("the first process's parent is pid %d", init_ppid);
    BLOCKED("ppid 0");
}

static void p_host_paths(void)
{
    /* where the container's files lie on the host */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", secret_abs);
    *strrchr(dir, '/') = 0;
    const char *files[] = {"/proc/self/mountinfo", "/proc/self/mounts", "/proc/self/cgroup",
                           "/proc/self/maps", "/proc/1/mountinfo", NULL};
    for (const char *const *f = files; *f; f++) {
        static char buf[1 << 20];
        int fd = open(*f, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n, len = 0;
        while (len < (ssize_t)sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
            len += n;
        close(fd);
        buf[len] = 0;
        for (ssize_t i = 0; i < len; i++)
            if (!buf[i])
                buf[i] = ' ';
        if (strstr(buf, dir))
            ESCAPED("%s names %s", *f, dir);
    }
    BLOCKED("no host path in /proc/self");
}

static void p_host_pid_proc(void)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d", host_pid);
    struct stat st;
    if (stat(p, &st) == 0)
        ESCAPED("%s exists", p);
    int e = errno;
    int count = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)))
        count += de->d_name[0] >= '1' && de->d_name[0] <= '9';
    if (count > 16)
        ESCAPED("%d processes in /proc", count);
    BLOCKED("%s, %d processes in /proc", ename(e), count);
}

static void p_host_pid_kill(void)
{
    if (kill(host_pid, 0) == 0)
        ESCAPED("kill(%d, 0) succeeded", host_pid);
    int e = errno;
    if (getpriority(PRIO_PROCESS, host_pid) != -1 || errno == 0)
        ESCAPED("getpriority of %d", host_pid);
    BLOCKED("%s", ename(e));
}

static void p_host_pid_calls(void)
{
    /* every call that names a process, on a host pid (read-only ones) */
    struct rlimit rl;
    cpu_set_t set;
    struct sched_param sp;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    long r;
    if ((r = syscall(SYS_pidfd_open, host_pid, 0)) >= 0)
        ESCAPED("pidfd_open(%d)", host_pid);
    if (syscall(SYS_tgkill, host_pid, host_pid, 0) == 0)
        ESCAPED("tgkill(%d, 0)", host_pid);
    if (syscall(SYS_rt_sigqueueinfo, host_pid, 0, &si) == 0)
        ESCAPED("rt_sigqueueinfo(%d, 0)", host_pid);
    if (prlimit(host_pid, RLIMIT_NOFILE, NULL, &rl) == 0)
        ESCAPED("prlimit(%d)", host_pid);
    if (sched_getaffinity(host_pid, sizeof set, &set) == 0)
        ESCAPED("sched_getaffinity(%d)", host_pid);
    if (sched_getparam(host_pid, &sp) == 0)
        ESCAPED("sched_getparam(%d)", host_pid);
    if (getpgid(host_pid) >= 0)
        ESCAPED("getpgid(%d)", host_pid);
    if (getsid(host_pid) >= 0)
        ESCAPED("getsid(%d)", host_pid);
    if (syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, host_pid) >= 0)
        ESCAPED("ioprio_get(%d)", host_pid);
    BLOCKED("%s", ename(errno));
}

static void p_host_uid(void)
{
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    if (r != expect_uid || e != expect_uid || s != expect_uid)
        ESCAPED("uids %u %u %u", r, e, s);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned a, b, c, d;
        if (sscanf(line, "Uid: %u %u %u %u", &a, &b, &c, &d) == 4 &&
            (a != expect_uid || b != expect_uid || c != expect_uid || d != expect_uid))
            ESCAPED("status Uid %u %u %u %u", a, b, c, d);
    }
    int fd = open("/tmp/esc-owned", O_WRONLY | O_CREAT, 0600);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid != expect_uid)
        ESCAPED("a new file belongs to %u", st.st_uid);
    BLOCKED("uid %u everywhere", r);
}

/* ------------------------------------------------------------ driver */

struct probe { const char *name; void (*fn)(void); };

static const struct probe PROBES[] = {
    {"path-dotdot", p_dotdot},
    {"path-dotdot-cwd", p_dotdot_cwd},
    {"path-abs-symlink", p_abs_symlink},
    {"path-rel-symlink", p_rel_symlink},
    {"path-bind-mount-dotdot", p_bind_mount_dotdot},
    {"path-ro-bind-write", p_ro_bind_write},
    {"path-foreign-procfs", p_foreign_procfs},
    {"path-proc-self-root", p_proc_self_root},
    {"path-proc-pid-root", p_proc_pid_root},
    {"path-proc-cwd", p_proc_cwd},
    {"path-proc-fd-magic", p_proc_fd_magic},
    {"path-openat2", p_openat2},
    {"path-hardlink", p_hardlink},
    {"path-chroot-dotdot", p_chroot_dotdot},
    {"path-chroot-fd", p_chroot_fd},
    {"path-race-symlink-swap", p_race_symlink_swap},
    {"path-race-dir-swap", p_race_dir_swap},
    {"path-race-rename-dotdot", p_race_rename_dotdot},
    {"path-race-arg-flip", p_race_arg_flip},
    {"surface-mount", p_mount},
    {"surface-host-unix-socket", p_host_unix_socket},
    {"surface-host-loopback", p_host_loopback},
    {"surface-io-uring", p_io_uring},
    {"surface-bpf", p_bpf},
    {"surface-perf-event-open", p_perf_event_open},
    {"surface-userfaultfd", p_userfaultfd},
    {"surface-name-to-handle-at", p_name_to_handle_at},
    {"surface-open-by-handle-at", p_open_by_handle_at},
    {"surface-keyrings", p_keyrings},
    {"surface-module-loading", p_module_loading},
    {"surface-raw-devices", p_raw_devices},
    {"surface-proc-kernel-files", p_proc_kernel_files},
    {"surface-planted-device", p_planted_device},
    {"surface-mknod", p_mknod},
    {"surface-raw-socket", p_raw_socket},
    {"surface-ioperm", p_ioperm},
    {"surface-modify-ldt", p_modify_ldt},
    {"surface-swap", p_swap},
    {"surface-ptrace", p_ptrace},
    {"surface-process-vm", p_process_vm},
    {"surface-namespaces", p_namespaces},
    {"abi-int80", p_abi_int80},
    {"abi-x32", p_abi_x32},
    {"mem-proc-self-mem-text", p_proc_mem_text},
    {"mem-proc-self-mem-stub", p_proc_mem_stub},
    {"mem-ptrace-poke-stub", p_ptrace_poke_stub},
    {"mem-stub-fd-takeover", p_stub_fd_takeover},
    {"exe-proc-self-exe", p_exe_proc},
    {"exe-path", p_exe_path},
    {"exe-path-trunc", p_exe_path_trunc},
    {"exe-path-rdwr", p_exe_path_rdwr},
    {"exe-path-rdonly-trunc", p_exe_path_rdonly_trunc},
    {"exe-truncate", p_exe_truncate},
    {"exe-hardlink", p_exe_hardlink},
    {"exe-other-task", p_exe_other_task},
    {"exe-copy-hardlink", p_exe_copy_hardlink},
    {"exe-exec-busy", p_exe_exec_busy},
    {"stdio-reopen-stdin-for-writing", p_stdin_reopen},
    {"id-host-pid-getpid", p_host_pid_getpid},
    {"id-host-ppid", p_host_ppid},
    {"id-host-pid-proc", p_host_pid_proc},
    {"id-host-paths", p_host_paths},
    {"id-host-pid-kill", p_host_pid_kill},
    {"id-host-pid-calls", p_host_pid_calls},
    {"id-host-uid", p_host_uid},
};

static void run_probe(const struct probe *p)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        printf("%s: error (pipe %s)\n", p->name, ename(errno));
        return;
    }
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        report_fd = pfd[1];
        alarm(20);
        p->fn();
        _exit(0);
    }
    close(pfd[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += n;
    buf[len] = 0;
    close(pfd[0]);
    int st = 0;
    waitpid(c, &st, 0);
    if (len)
        printf("%s: %s\n", p->name, buf);
    else if (WIFSIGNALED(st))
        printf("%s: blocked (killed by %s)\n", p->name, sigabbrev_np(WTERMSIG(st)) ?: "?");
    else
        printf("%s: error (no report, status %#x)\n", p->name, st);
    fflush(stdout);
}

static int print_handle(const char *path)
{
    struct { struct file_handle h; unsigned char b[128]; } fh;
    int mnt;
    fh.h.handle_bytes = 128;
    if (syscall(SYS_name_to_handle_at, AT_FDCWD, path, &fh.h, &mnt, 0) < 0) {
        printf("-\n");
        return 0;
    }
    printf("%d:", fh.h.handle_type);
    for (unsigned i = 0; i < fh.h.handle_bytes; i++)
        printf("%02x", fh.h.f_handle[i]);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--handle"))
        return print_handle(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "--exit"))
        return 42;
    if (argc == 2 && !strcmp(argv[1], "--wait")) {
        /* exe-other-task's copy: say it runs, then wait to be killed */
        write(3, "r", 1);
        for (;;)
            pause();
    }
    if (argc != 7) {
        fprintf(stderr, "usage: escapes TOKEN SECRET_ABS HOST_PID HANDLE EXPECT_UID BLKDEV\n");
        return 2;
    }
    token = argv[1];
    secret_abs = argv[2];
    host_pid = atoi(argv[3]);
    handle_hex = argv[4];
    expect_uid = (uid_t)atol(argv[5]);
    if (sscanf(argv[6], "%u:%u", &blk_major, &blk_minor) != 2)
        return 2;
    init_pid = getpid();
    init_ppid = getppid();
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n > 0)
        self_exe[n] = 0;
    else
        snprintf(self_exe, sizeof self_exe, "%s", argv[0]);
    signal(SIGPIPE, SIG_IGN);
    /* ESCAPES_ONLY: a space-separated list of name prefixes */
    const char *only = getenv("ESCAPES_ONLY");
    for (size_t i = 0; i < sizeof PROBES / sizeof *PROBES; i++) {
        int run = !only;
        for (const char *o = only; o && *o && !run; o += strcspn(o, " "), o += strspn(o, " "))
            run = !strncmp(PROBES[i].name, o, strcspn(o, " "));
        if (run)
            run_probe(&PROBES[i]);
    }
    printf("done\n");
    return 0;
}
