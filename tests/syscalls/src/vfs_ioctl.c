/*
 * vfs_ioctl.c -- the requests Linux's do_vfs_ioctl answers for any file, before the
 * file's own ioctl: FIOQSIZE (the bytes a regular file, directory or symlink holds,
 * inode_get_bytes; ENOTTY for others), FIGETBSZ (the file system's s_blocksize: 1024
 * for procfs and devpts, the page size for the others here), FIFREEZE/FITHAW
 * (CAP_SYS_ADMIN first).  The sandbox answered ENOTTY to all of them but on random(4).
 * And st_blocks of a sparse file: the pages written (partial ones too), not the pages
 * its size spans (a dense tmpfs file counted every page up to its length).
 *
 * Files in the work directory are on the host's file system natively and in the
 * sandbox's overlay tmpfs: only what both must say is printed of them (a value after
 * fsync: ext4 allocates delayed blocks then).  FIFREEZE is only tried without the
 * capability: natively it would freeze the host's file system.
 */
#include "check.h"
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

static void qsize(const char *what, int fd, int value)
{
    long long q = -1;
    errno = 0;
    int r = ioctl(fd, FIOQSIZE, &q);
    if (r < 0)
        printf("%s FIOQSIZE: -1 %s\n", what, en(errno));
    else if (value)
        printf("%s FIOQSIZE: %lld\n", what, q);
    else
        printf("%s FIOQSIZE: %s\n", what, q >= 0 ? "ok" : "negative");
}

static void bsize(const char *what, int fd)
{
    int b = -1;
    errno = 0;
    int r = ioctl(fd, FIGETBSZ, &b);
    if (r < 0)
        printf("%s FIGETBSZ: -1 %s\n", what, en(errno));
    else
        printf("%s FIGETBSZ: %d\n", what, b);
}

static void both(const char *what, int fd)
{
    qsize(what, fd, 1);
    bsize(what, fd);
}

static long blocks(int fd)
{
    struct stat st;
    MUST(fsync(fd));
    MUST(fstat(fd, &st));
    return st.st_blocks;
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int fd;
    char page[6000];
    memset(page, 'x', sizeof page);

    MUST(fd = open("sparse", O_RDWR | O_CREAT, 0644));
    MUST(ftruncate(fd, 100000));
    MUST(pwrite(fd, "x", 1, 50000));
    R("sparse file (truncated, one byte written) st_blocks", blocks(fd));
    qsize("sparse file", fd, 0);
    bsize("sparse file", fd);
    MUST(pwrite(fd, page, sizeof page, 200000)); /* a write past the end: a hole before */
    R("sparse file (a write past its end) st_blocks", blocks(fd));
    close(fd);
    /* the pages written count, partial ones included; a truncate allocates none */
    MUST(fd = open("steps", O_RDWR | O_CREAT, 0644));
    MUST(ftruncate(fd, 4000));
    R("truncated to 4000 st_blocks", blocks(fd));
    MUST(pwrite(fd, "x", 1, 0));
    MUST(ftruncate(fd, 6000));
    R("a byte written, truncated to 6000 st_blocks", blocks(fd));
    MUST(ftruncate(fd, 10000));
    R("truncated to 10000 st_blocks", blocks(fd));
    MUST(pwrite(fd, "y", 1, 9000));
    R("a byte written at 9000 st_blocks", blocks(fd));
    MUST(ftruncate(fd, 9002));
    R("truncated to 9002 st_blocks", blocks(fd));
    MUST(ftruncate(fd, 3000));
    R("truncated to 3000 st_blocks", blocks(fd));
    MUST(ftruncate(fd, 100000));
    MUST(fallocate(fd, 0, 20000, 10000));
    R("fallocate of 20000+10000 st_blocks", blocks(fd));
    char z[4] = {1, 1, 1, 1};
    MUST(pread(fd, z, 4, 50000));
    T("a hole reads zeros", !z[0] && !z[1] && !z[2] && !z[3]);
    char *map = mmap(NULL, 100000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T("mapped shared, data kept", map != MAP_FAILED && map[0] == 'x');
    R("mapped st_blocks", blocks(fd));
    map[60000] = 'z';
    MUST(msync(map, 100000, MS_SYNC));
    R("a page written through the mapping st_blocks", blocks(fd));
    munmap(map, 100000);
    close(fd);
    MUST(fd = open("full", O_RDWR | O_CREAT, 0644));
    MUST(write(fd, page, sizeof page));
    R("full file st_blocks", blocks(fd));
    qsize("full file", fd, 0);
    close(fd);
    MUST(mkdir("d", 0755));
    MUST(fd = open("d", O_RDONLY | O_DIRECTORY));
    qsize("directory", fd, 0);
    bsize("directory", fd);
    close(fd);
    MUST(symlink("full", "ln"));
    MUST(fd = open("ln", O_PATH | O_NOFOLLOW));
    both("symlink (O_PATH)", fd);
    close(fd);

    MUST(fd = open("/etc/passwd", O_RDONLY));
    both("/etc/passwd", fd);
    close(fd);
    MUST(fd = open("/dev/null", O_RDONLY));
    both("/dev/null", fd);
    close(fd);
    MUST(fd = open("/proc/self/status", O_RDONLY));
    both("/proc/self/status", fd);
    close(fd);
    MUST(fd = open("/proc", O_RDONLY | O_DIRECTORY));
    both("/proc", fd);
    close(fd);
    int p[2];
    MUST(pipe(p));
    both("pipe", p[0]);
    int s[2];
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
    both("socket", s[0]);
    MUST(fd = eventfd(0, 0));
    both("eventfd", fd);
    close(fd);
    MUST(fd = memfd_create("m", 0));
    MUST(ftruncate(fd, 8192));
    both("memfd (truncated)", fd);
    MUST(pwrite(fd, "x", 1, 0));
    both("memfd (a page written)", fd);
    close(fd);
    int m;
    MUST(m = posix_openpt(O_RDWR | O_NOCTTY));
    MUST(unlockpt(m));
    MUST(fd = open(ptsname(m), O_RDWR | O_NOCTTY));
    both("pty replica", fd);
    close(fd);
    close(m);

    MUST(fd = open("full", O_RDONLY));
    R("FITHAW (root, not frozen)", ioctl(fd, FITHAW, 0));
    pid_t c = fork_as(1000);
    if (c == 0) {
        R("FIFREEZE (uid 1000)", ioctl(fd, FIFREEZE, 0));
        R("FITHAW (uid 1000)", ioctl(fd, FITHAW, 0));
        _exit(0);
    }
    show_wait("child", c);
    return 0;
}
