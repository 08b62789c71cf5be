/*
 * fsync, fdatasync, sync_file_range and fallocate across the kinds of files, and the
 * positioned calls of a donated host file.
 *
 * Linux's fsync is EINVAL for a file whose operations have no fsync: pipes, sockets,
 * character devices, the anonymous files (eventfd, epoll, timerfd, signalfd, inotify,
 * pidfd), ptys, procfs's files and directories, sysfs's directories and message queues.
 * Files of file systems (regular files, their directories, memfds, tmpfs, sysfs's
 * files) have one. sync_file_range checks the inode's type instead (ESPIPE unless a
 * regular file, a directory, a block device or a symlink) and never asks for fsync.
 *
 * The harness runs this with stdin /dev/null (read-write) and stdout a pipe: the
 * sandbox's fds 0 and 1 are then host files it was given, whose pread, lseek and fsync
 * are the host file's own.
 */
#include "check.h"
#include <fcntl.h>
#include <mqueue.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/uio.h>

/* the three syncs of fd, then close it (fd < 0: the open failed, said once) */
static void syncs(const char *what, int fd)
{
    char l[160];
    if (fd < 0) {
        printf("%s: open -1 %s\n", what, en(errno));
        return;
    }
    snprintf(l, sizeof l, "fsync %s", what);
    R(l, fsync(fd));
    snprintf(l, sizeof l, "fdatasync %s", what);
    R(l, fdatasync(fd));
    snprintf(l, sizeof l, "sync_file_range WRITE %s", what);
    R(l, sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0)
        return 99;
    int p[2], s[2];
    MUST(pipe(p));
    syncs("a pipe's read end", p[0]);
    syncs("a pipe's write end", p[1]);
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
    syncs("a unix socket", s[0]);
    close(s[1]);
    syncs("an inet socket", socket(AF_INET, SOCK_DGRAM, 0));
    syncs("an eventfd", eventfd(0, 0));
    syncs("an epoll", epoll_create1(0));
    syncs("a timerfd", timerfd_create(CLOCK_MONOTONIC, 0));
    sigset_t none;
    sigemptyset(&none);
    syncs("a signalfd", signalfd(-1, &none, 0));
    syncs("an inotify", inotify_init1(0));
    syncs("a memfd", memfd_create("f", 0));
    syncs("/dev/null", open("/dev/null", O_RDWR));
    syncs("/dev/zero", open("/dev/zero", O_RDONLY));
    syncs("/dev/full", open("/dev/full", O_WRONLY));
    syncs("/dev/urandom", open("/dev/urandom", O_RDONLY));
    syncs("/dev/ptmx", open("/dev/ptmx", O_RDWR | O_NOCTTY));
    syncs("/dev", open("/dev", O_RDONLY | O_DIRECTORY));
    syncs("/proc/self/status", open("/proc/self/status", O_RDONLY));
    syncs("/proc", open("/proc", O_RDONLY | O_DIRECTORY));
    syncs("/proc/self/fd", open("/proc/self/fd", O_RDONLY | O_DIRECTORY));
    syncs("/proc/sys/kernel/hostname", open("/proc/sys/kernel/hostname", O_RDONLY));
    syncs("/sys", open("/sys", O_RDONLY | O_DIRECTORY));
    syncs("/sys/devices/system/cpu/online", open("/sys/devices/system/cpu/online", O_RDONLY));
    syncs("/", open("/", O_RDONLY | O_DIRECTORY));
    syncs("/etc/passwd", open("/etc/passwd", O_RDONLY));
    syncs("a new file", open("new", O_CREAT | O_RDWR, 0600));
    syncs("the work directory", open(".", O_RDONLY | O_DIRECTORY));
    R("fsync of an O_PATH fd", fsync(open(".", O_PATH)));
    R("fsync of no fd", fsync(999));

    /* a message queue: a regular file of its own file system, without fsync (a random
     * name: native runs share the host's queues and may run side by side) */
    char qname[40];
    unsigned rnd;
    MUST(getrandom(&rnd, sizeof rnd, 0));
    snprintf(qname, sizeof qname, "/runsc-test-fsync-%08x", rnd);
    mqd_t q = mq_open(qname, O_CREAT | O_EXCL | O_RDWR, 0640, NULL);
    MUST(q);
    struct stat st;
    MUST(fstat(q, &st));
    printf("queue: mode %o, size %ld, links %ld\n", st.st_mode, (long)st.st_size, (long)st.st_nlink);
    MUST(mq_send(q, "hello", 5, 1));
    MUST(fstat(q, &st));
    printf("queue after a message: size %ld\n", (long)st.st_size);
    syncs("a message queue", q);
    mq_unlink(qname);

    /* fallocate: ESPIPE for any FIFO, ENODEV for other files that are not regular */
    MUST(pipe(p));
    R("fallocate a pipe", fallocate(p[1], 0, 0, 10));
    close(p[0]);
    close(p[1]);
    int null = open("/dev/null", O_RDWR);
    R("fallocate /dev/null", fallocate(null, 0, 0, 10));
    close(null);
    R("fallocate the stdout pipe", fallocate(1, 0, 0, 10));

    /* pwritev2's RWF_DSYNC on a file without fsync: written, nothing synced */
    MUST(pipe(p));
    struct iovec v = {"ab", 2};
    R("pwritev2 RWF_DSYNC to a pipe", pwritev2(p[1], &v, 1, -1, RWF_DSYNC));
    R("pwritev2 RWF_SYNC to /dev/null", pwritev2(open("/dev/null", O_WRONLY), &v, 1, -1, RWF_SYNC));
    close(p[0]);
    close(p[1]);

    /* the donated stdin: /dev/null (the harness's), a host character device */
    char b[16];
    struct iovec rv = {b, sizeof b};
    MUST(fstat(0, &st));
    T("stdin is /dev/null", S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
        R("pread stdin", pread(0, b, sizeof b, 0));
        R("pread stdin far out", pread(0, b, sizeof b, 1L << 40));
        R("pread stdin at -1", pread(0, b, sizeof b, -1));
        R("preadv stdin", preadv(0, &rv, 1, 7));
        R("pwrite stdin", pwrite(0, "xy", 2, 3));
        R("pwritev stdin", pwritev(0, &v, 1, 3));
        R("lseek stdin SEEK_SET 5", lseek(0, 5, SEEK_SET));
        R("lseek stdin SEEK_END -3", lseek(0, -3, SEEK_END));
        R("lseek stdin SEEK_CUR", lseek(0, 0, SEEK_CUR));
        R("lseek stdin whence 9", lseek(0, 0, 9));
        R("fsync stdin", fsync(0));
        R("fdatasync stdin", fdatasync(0));
        R("sync_file_range stdin", sync_file_range(0, 0, 0, 0));
    }
    /* the donated stdout: a pipe */
    MUST(fstat(1, &st));
    T("stdout is a pipe", S_ISFIFO(st.st_mode));
    if (S_ISFIFO(st.st_mode)) {
        R("pwrite stdout", pwrite(1, "", 0, 0));
        R("lseek stdout", lseek(1, 0, SEEK_CUR));
        R("fsync stdout", fsync(1));
        R("fdatasync stdout", fdatasync(1));
        R("sync_file_range stdout", sync_file_range(1, 0, 0, 0));
    }
    fflush(stdout);
    return 0;
}
