/* file_io.c -- open/read/write/pread/pwrite/lseek/fstat/readv/writev/
 * ftruncate/O_APPEND/O_EXCL/dup family/fcntl. Usage: file_io WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/sendfile.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <mqueue.h>
#include <sys/socket.h>
#include <sys/random.h>

static void show_read(const char *label, int fd, size_t n)
{
    char buf[256];
    if (n > sizeof buf - 1)
        n = sizeof buf - 1;
    errno = 0;
    ssize_t r = read(fd, buf, n);
    if (r < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    printf("%s: %zd \"", label, r);
    for (ssize_t i = 0; i < r; i++)
        printf(buf[i] >= 32 && buf[i] < 127 ? "%c" : "\\x%02x", (unsigned char)buf[i]);
    printf("\"\n");
}

static long fsize(int fd)
{
    struct stat st;
    return fstat(fd, &st) ? -1 : (long)st.st_size;
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    umask(022);
    int fd = open("f", O_CREAT | O_WRONLY | O_TRUNC, 0666);
    R("open creat", fd);
    R("write", write(fd, "hello world\n", 12));
    R("read on O_WRONLY", read(fd, (char[4]){0}, 4));
    R("close", close(fd));
    R("close again", close(fd));

    fd = open("f", O_RDONLY);
    R("open rdonly", fd);
    show_read("read 5", fd, 5);
    R("lseek cur", lseek(fd, 0, SEEK_CUR));
    R("lseek end", lseek(fd, 0, SEEK_END));
    R("lseek set 6", lseek(fd, 6, SEEK_SET));
    show_read("read rest", fd, 100);
    show_read("read at eof", fd, 100);
    R("lseek negative", lseek(fd, -100, SEEK_SET));
    R("lseek bad whence", lseek(fd, 0, 42));
    R("write on O_RDONLY", write(fd, "x", 1));
    char pb[16] = {0};
    R("pread 5 at 6", pread(fd, pb, 5, 6));
    printf("pread data: %s\n", pb);
    R("offset after pread", lseek(fd, 0, SEEK_CUR));
    R("pread negative offset", pread(fd, pb, 5, -1));

    struct stat st;
    R("fstat", fstat(fd, &st));
    T("S_ISREG", S_ISREG(st.st_mode));
    printf("mode: %o\n", st.st_mode & 07777);
    R("st_size", st.st_size);
    R("st_nlink", st.st_nlink);
    R("st_uid", st.st_uid);
    R("st_gid", st.st_gid);
    close(fd);

    fd = open("f", O_RDWR);
    R("pwrite at 100", pwrite(fd, "END", 3, 100));
    R("size after pwrite", fsize(fd));
    R("offset after pwrite", lseek(fd, 0, SEEK_CUR));
    char hole[8];
    R("pread hole", pread(fd, hole, 8, 50));
    T("hole is zeros", !memcmp(hole, "\0\0\0\0\0\0\0\0", 8));
    R("ftruncate 3", ftruncate(fd, 3));
    R("size after ftruncate", fsize(fd));
    R("ftruncate negative", ftruncate(fd, -1));
    R("truncate path 10", truncate("f", 10));
    R("size after truncate", fsize(fd));
    R("lseek set 0", lseek(fd, 0, SEEK_SET));
    show_read("read truncated", fd, 100);

    struct iovec wv[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
    R("lseek 0 for writev", lseek(fd, 0, SEEK_SET));
    R("writev", writev(fd, wv, 3));
    char r1[2], r2[4], r3[10];
    struct iovec rv[3] = {{r1, 2}, {r2, 4}, {r3, 10}};
    R("lseek 0 for readv", lseek(fd, 0, SEEK_SET));
    R("readv", readv(fd, rv, 3));
    printf("readv parts: %.2s|%.4s|%.4s\n", r1, r2, r3);
    R("writev iovcnt -1", writev(fd, wv, -1));
    R("preadv at 2", preadv(fd, rv, 2, 2));
    printf("preadv parts: %.2s|%.4s\n", r1, r2);
    R("fsync", fsync(fd));
    R("fdatasync", fdatasync(fd));
    close(fd);

    R("O_EXCL on existing", open("f", O_CREAT | O_EXCL | O_WRONLY, 0600));
    int e = open("g", O_CREAT | O_EXCL | O_WRONLY, 0600);
    R("O_EXCL new", e);
    fstat(e, &st);
    printf("g mode: %o\n", st.st_mode & 07777);
    close(e);
    R("open missing", open("missing", O_RDONLY));
    R("open missing dir component", open("nodir/x", O_RDONLY));
    R("open file as dir", open("f/x", O_RDONLY));
    R("O_DIRECTORY on file", open("f", O_RDONLY | O_DIRECTORY));

    fd = open("app", O_CREAT | O_WRONLY | O_APPEND, 0644);
    R("open append", fd);
    R("write 1", write(fd, "one\n", 4));
    R("lseek 0 on append", lseek(fd, 0, SEEK_SET));
    R("write 2", write(fd, "two\n", 4));
    R("append offset", lseek(fd, 0, SEEK_CUR));
    int fl = fcntl(fd, F_GETFL);
    T("F_GETFL O_APPEND", fl & O_APPEND);
    T("F_GETFL O_WRONLY", (fl & O_ACCMODE) == O_WRONLY);
    R("F_SETFL clear append+nonblock", fcntl(fd, F_SETFL, O_NONBLOCK));
    fl = fcntl(fd, F_GETFL);
    T("F_GETFL O_APPEND after clear", fl & O_APPEND);
    T("F_GETFL O_NONBLOCK", fl & O_NONBLOCK);
    R("lseek 0 after clear", lseek(fd, 0, SEEK_SET));
    R("overwrite", write(fd, "ONE\n", 4));
    close(fd);
    fd = open("app", O_RDONLY);
    show_read("app content", fd, 100);

    /* dup family: fds 0-2 are the only ones open here besides fd */
    int d = dup(fd);
    R("dup", d);
    R("lseek via fd", lseek(fd, 2, SEEK_SET));
    R("offset shared via dup", lseek(d, 0, SEEK_CUR));
    R("dup2 to 10", dup2(fd, 10));
    R("dup2 same fd", dup2(fd, fd));
    R("dup2 bad old", dup2(77, 11));
    R("dup3 to 11 cloexec", dup3(fd, 11, O_CLOEXEC));
    R("F_GETFD 11", fcntl(11, F_GETFD));
    R("F_GETFD 10", fcntl(10, F_GETFD));
    R("dup3 same fd", dup3(fd, fd, 0));
    R("dup3 bad flags", dup3(fd, 12, 0x1));
    R("F_DUPFD 20", fcntl(fd, F_DUPFD, 20));
    R("F_DUPFD 20 again", fcntl(fd, F_DUPFD, 20));
    int c = fcntl(fd, F_DUPFD_CLOEXEC, 30);
    R("F_DUPFD_CLOEXEC 30", c);
    R("F_GETFD 30", fcntl(c, F_GETFD));
    R("F_SETFD 30 0", fcntl(c, F_SETFD, 0));
    R("F_GETFD 30 after", fcntl(c, F_GETFD));
    R("dup lowest", dup(fd));
    R("fcntl bad cmd", fcntl(fd, 9999));
    R("fcntl bad fd", fcntl(99, F_GETFD));
    for (int i = 3; i < 40; i++)
        close(i);

    /* O_TRUNC, O_CREAT mode with umask, openat, directories */
    fd = open("f", O_WRONLY | O_TRUNC);
    R("size after O_TRUNC", fsize(fd));
    close(fd);
    R("mkdir dir", mkdir("dir", 0777));
    int dfd = open("dir", O_RDONLY | O_DIRECTORY);
    R("open dir", dfd);
    R("read on dir", read(dfd, (char[8]){0}, 8));
    R("open dir O_WRONLY", open("dir", O_WRONLY));
    int af = openat(dfd, "inner", O_CREAT | O_RDWR, 0640);
    R("openat relative", af);
    R("write inner", write(af, "in", 2));
    close(af);
    R("fstatat inner", fstatat(dfd, "inner", &st, 0));
    printf("inner mode: %o size %ld\n", st.st_mode & 07777, (long)st.st_size);
    R("openat bad dirfd", openat(99, "inner", O_RDONLY));
    R("openat dirfd of file", openat(0, "inner", O_RDONLY) >= 0 ? 0 : -1);
    close(dfd);

    /* big file round trip */
    fd = open("big", O_CREAT | O_RDWR | O_TRUNC, 0644);
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7 + i / 4096);
    R("write 1MiB", write(fd, big, sizeof big));
    R("lseek 0", lseek(fd, 0, SEEK_SET));
    static char back[1 << 20];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, back + got, sizeof back - got)) > 0)
        got += r;
    R("read back bytes", got);
    T("content equal", !memcmp(big, back, sizeof big));
    close(fd);

    /* devices */
    fd = open("/dev/null", O_RDWR);
    R("read /dev/null", read(fd, back, 10));
    R("write /dev/null", write(fd, "xyz", 3));
    /* write_null never reads the bytes: only vfs_write's range check and clamp count */
    R("write /dev/null from an unmapped address", write(fd, (void *)0x10000, 10));
    R("write /dev/null, 3 GiB from there", write(fd, (void *)0x10000, 3UL << 30));
    R("write /dev/null past the user address space", write(fd, (void *)0x7ffffff00000UL, 2UL << 20));
    R("write /dev/null, nothing", write(fd, NULL, 0));
    /* and every other write: write_iter_null counts what import_iovec let through */
    R("pwrite /dev/null from an unmapped address", pwrite(fd, (void *)0x10000, 8UL << 20, 5));
    R("pwrite /dev/null at a negative offset", pwrite(fd, "x", 1, -1));
    struct iovec nv[3] = {{(void *)0x10000, 8UL << 20}, {NULL, 0}, {(void *)0x20000, 3UL << 30}};
    R("writev /dev/null from unmapped addresses", writev(fd, nv, 3));
    R("pwritev /dev/null from unmapped addresses", pwritev(fd, nv, 2, 0));
    R("pwritev2 /dev/null from unmapped addresses", pwritev2(fd, nv, 2, -1, RWF_HIPRI));
    nv[0].iov_base = (void *)0x7ffffff00000UL;
    R("writev /dev/null past the user address space", writev(fd, nv, 1));
    /* one segment is clamped to MAX_RW_COUNT before its range check (import_ubuf) */
    struct iovec one = {(void *)0x7fff00000000UL, 4UL << 30};
    R("writev /dev/null, one huge segment high up", writev(fd, &one, 1));
    /* a negative length is EINVAL before any address is checked (copy_iovec_from_user) */
    struct iovec neg[2] = {{(void *)0x7ffffff00000UL, 8UL << 20}, {(void *)0x10000, -1UL}};
    R("writev /dev/null, a bad address then a negative length", writev(fd, neg, 2));
    R("pwritev2 /dev/null RWF_NOWAIT", pwritev2(fd, nv + 1, 1, -1, RWF_NOWAIT));
    /* rw_verify_area: an offset range past the largest file offset, any file */
    R("pwrite /dev/null near the largest offset", pwrite(fd, "0123456789", 10, 0x7ffffffffffffffaL));
    R("pread /dev/null near the largest offset", pread(fd, back, 10, 0x7ffffffffffffffaL));
    struct iovec ten = {"0123456789", 10};
    R("pwritev /dev/null near the largest offset", pwritev(fd, &ten, 1, 0x7ffffffffffffffaL));
    close(fd);
    fd = open("f", O_RDWR);
    R("pwrite a file near the largest offset", pwrite(fd, "0123456789", 10, 0x7ffffffffffffffaL));
    R("pread a file near the largest offset", pread(fd, back, 10, 0x7ffffffffffffffaL));
    R("preadv a file near the largest offset", preadv(fd, &ten, 1, 0x7ffffffffffffffaL));
    close(fd);
    /* ... and at the file offset (read, write, readv, writev, sendfile): a memfd's
     * offset may go that far (MAX_LFS_FILESIZE), an ext4 file's not */
    fd = memfd_create("near", 0);
    R("lseek a memfd near the largest offset", lseek(fd, 0x7ffffffffffffffaL, SEEK_SET) > 0);
    R("write at that offset", write(fd, "0123456789", 10));
    R("read at that offset", read(fd, back, 10));
    R("writev at that offset", writev(fd, &ten, 1));
    R("readv at that offset", readv(fd, &ten, 1));
    R("pwritev2 at that offset", pwritev2(fd, &ten, 1, -1, 0));
    R("preadv2 at that offset", preadv2(fd, &ten, 1, -1, 0));
    /* the range before the flags (kiocb_set_rw_flags) */
    R("pwritev2 at that offset, RWF_NOWAIT", pwritev2(fd, &ten, 1, -1, RWF_NOWAIT));
    R("preadv2 at that offset, an unknown flag", preadv2(fd, &ten, 1, -1, 0x10000));
    R("write up to the largest offset", write(fd, "01234", 5));
    R("sendfile from it", sendfile(fd, fd, NULL, 10));
    {
        int out = open("f", O_RDWR);
        R("sendfile from it into a file", sendfile(out, fd, NULL, 10));
        off_t at = 0x7ffffffffffffffaL;
        R("sendfile from a memfd at an offset near the largest", sendfile(out, fd, &at, 10));
        /* do_sendfile's order: the offset pointer, the input (EBADF, ESPIPE, its
         * range), then the output (EBADF, its range) */
        R("sendfile to a bad fd from it", sendfile(999, fd, NULL, 10));
        R("sendfile, a bad offset pointer and bad fds", sendfile(999, 998, (off_t *)8, 10));
        int q[2];
        MUST(pipe(q));
        off_t zero = 0;
        R("sendfile from a pipe at an offset", sendfile(out, q[0], &zero, 10));
        R("sendfile from a pipe at an offset, nothing", sendfile(out, q[0], &zero, 0));
        R("sendfile to a bad fd from a pipe at an offset", sendfile(999, q[0], &zero, 10));
        int in = open("three", O_RDWR | O_CREAT | O_TRUNC, 0644);
        MUST(write(in, "abc", 3));
        MUST(lseek(in, 0, SEEK_SET));
        R("sendfile into a memfd near the largest offset", sendfile(fd, in, NULL, 10));
        R("sendfile into it, nothing", sendfile(fd, in, NULL, 0));
        /* O_APPEND: EINVAL into a file, nothing to a pipe */
        int app = open("three", O_WRONLY | O_APPEND);
        R("sendfile into an O_APPEND file", sendfile(app, in, NULL, 3));
        int zero_fd = open("/dev/zero", O_RDONLY);
        R("sendfile from /dev/zero into a file", sendfile(in, zero_fd, NULL, 8));
        R("sendfile from a pipe into a file", sendfile(in, q[0], NULL, 8));
        close(zero_fd);
        MUST(fcntl(q[1], F_SETFL, O_APPEND));
        R("sendfile into an O_APPEND pipe", sendfile(q[1], in, NULL, 3));
        close(app);
        close(in);
        close(q[0]);
        close(q[1]);
        close(out);
    }
    close(fd);
    fd = open("/dev/zero", O_WRONLY);
    R("write /dev/zero from an unmapped address", write(fd, (void *)0x10000, 4096));
    close(fd);
    /* write_full: ENOSPC without reading the bytes; no write_iter, so no RWF flags */
    fd = open("/dev/full", O_WRONLY);
    R("write /dev/full", write(fd, "x", 1));
    R("write /dev/full from an unmapped address", write(fd, (void *)0x10000, 4096));
    R("write /dev/full, nothing", write(fd, "x", 0));
    R("pwrite /dev/full from an unmapped address", pwrite(fd, (void *)0x10000, 10, 0));
    struct iovec fv[2] = {{(void *)0x10000, 10}, {"x", 1}};
    R("writev /dev/full from an unmapped address", writev(fd, fv, 2));
    R("writev /dev/full, nothing", writev(fd, fv, 0));
    R("pwritev2 /dev/full RWF_HIPRI", pwritev2(fd, fv, 2, -1, RWF_HIPRI));
    R("pwritev2 /dev/full RWF_APPEND", pwritev2(fd, fv, 2, -1, RWF_APPEND));
    R("pwritev2 /dev/full RWF_DSYNC", pwritev2(fd, fv, 2, 0, RWF_DSYNC));
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    memset(back, 1, 16);
    R("read /dev/zero", read(fd, back, 16));
    T("zeros", !memcmp(back, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
    close(fd);
    int p[2];
    MUST(pipe(p));
    R("lseek on pipe", lseek(p[0], 0, SEEK_SET));
    R("pread on pipe", pread(p[0], back, 1, 0));
    R("pread on pipe near the largest offset", pread(p[0], back, 10, 0x7ffffffffffffffaL));
    {
        /* nothing to write is 0 before the pipe is asked: no EPIPE, no SIGPIPE */
        int q[2];
        MUST(pipe(q));
        close(q[0]);
        struct iovec z = {back, 0};
        R("writev of nothing to a pipe without a reader", writev(q[1], &z, 1));
        R("write of nothing to a pipe without a reader", write(q[1], back, 0));
        close(q[1]);
    }

    /* sparse files: a byte written at 3 GiB costs a page, not 3 GiB */
    fd = open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0600);
    MUST(fd);
    off_t far = 3LL << 30;
    R("pwrite at 3 GiB", pwrite(fd, "Z", 1, far));
    struct stat sst;
    MUST(fstat(fd, &sst));
    printf("size: %lld\n", (long long)sst.st_size);
    T("few blocks allocated", sst.st_blocks < 1024);
    char z = 1;
    R("pread in the hole", pread(fd, &z, 1, 1LL << 30));
    R("hole reads zero", z);
    R("pread the byte", pread(fd, &z, 1, far));
    printf("byte: %c\n", z);
    R("ftruncate to 4 KiB", ftruncate(fd, 4096));
    MUST(fstat(fd, &sst));
    printf("size after truncate: %lld\n", (long long)sst.st_size);
    R("SEEK_END", lseek(fd, 0, SEEK_END));
    close(fd);
    unlink("sparse");

    /* a file without pread/pwrite (FMODE_PREAD: pipes, anonymous inodes) is ESPIPE
     * before the fd's access mode is looked at; an offset of -1 (preadv2) is readv's */
    {
        int pp[2];
        MUST(pipe(pp));
        char c;
        struct iovec one = {&c, 1};
        R("pread of a pipe's write end", pread(pp[1], &c, 1, 0));
        R("pwrite of a pipe's read end", pwrite(pp[0], "x", 1, 0));
        R("preadv of a pipe's write end", preadv(pp[1], &one, 1, 0));
        R("pwritev2 at 0 of a pipe's read end", pwritev2(pp[0], &one, 1, 0, 0));
        R("preadv2 at -1 of a pipe's write end", preadv2(pp[1], &one, 1, -1, 0));
        R("pread of an fd not open", pread(pp[1] + 100, &c, 1, 0));
        close(pp[0]);
        close(pp[1]);
        /* a pidfd and a message queue have pread and pwrite (dentry_open): EINVAL
         * (nothing to read, no write operation), the status line at the offset, EBADF
         * for the access mode the queue was not opened for */
        int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        MUST(pfd);
        R("pread of a pidfd", pread(pfd, &c, 1, 0));
        R("pwrite of a pidfd", pwrite(pfd, "x", 1, 0));
        R("pwritev of a pidfd", pwritev(pfd, &one, 1, 0));
        close(pfd);
        /* (a name of its own: the native run shares the host's queues; none printed) */
        struct mq_attr attr = {0, 4, 16, 0};
        unsigned r;
        char qname[32];
        MUST(getrandom(&r, sizeof r, 0));
        snprintf(qname, sizeof qname, "/runsc-test-%08x-io", r);
        mqd_t q = mq_open(qname, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
        MUST(q);
        mqd_t qw = mq_open(qname, O_WRONLY);
        MUST(qw);
        mqd_t qr = mq_open(qname, O_RDONLY);
        MUST(qr);
        MUST(mq_unlink(qname));
        char line[8] = {0};
        R("pread of a message queue at 2", pread(q, line, 5, 2));
        printf("  read: %s\n", line);
        R("  its file position after", lseek(q, 0, SEEK_CUR));
        R("pread of a message queue opened write-only", pread(qw, &c, 1, 0));
        R("pwrite of a message queue", pwrite(q, "x", 1, 0));
        R("pwrite of a message queue opened write-only", pwrite(qw, "x", 1, 0));
        R("pwritev2 at 0 of a message queue", pwritev2(q, &one, 1, 0, 0));
        R("pwrite of a message queue opened read-only", pwrite(qr, "x", 1, 0));
        /* its fstat shows a regular file, and it has no mmap */
        R("mmap MAP_PRIVATE of a message queue",
          mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, q, 0) == MAP_FAILED ? -1 : 0);
        R("mmap MAP_SHARED of a message queue",
          mmap(NULL, 4096, PROT_READ, MAP_SHARED, q, 0) == MAP_FAILED ? -1 : 0);
        mq_close(q);
        mq_close(qr);
        mq_close(qw);
        /* fadvise: ESPIPE for a pipe only; a socket's advice is checked and does nothing */
        int fp[2], fs2[2];
        MUST(pipe(fp));
        MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, fs2));
        int opath = open(".", O_PATH);
        MUST(opath);
        R("fadvise of a pipe", posix_fadvise(fp[0], 0, 0, POSIX_FADV_NORMAL));
        R("fadvise of a socket", posix_fadvise(fs2[0], 0, 0, POSIX_FADV_WILLNEED));
        R("fadvise of a socket, bad advice", posix_fadvise(fs2[0], 0, 0, 99));
        R("fadvise of an O_PATH fd", posix_fadvise(opath, 0, 0, POSIX_FADV_NORMAL));
        close(fp[0]);
        close(fp[1]);
        close(fs2[0]);
        close(fs2[1]);
        close(opath);
        struct stat so;
        MUST(fstat(1, &so));
        if (S_ISFIFO(so.st_mode))
            R("pread of stdout, a pipe", pread(1, &c, 1, 0));
        else
            printf("stdout is no pipe here\n");
    }
    return 0;
}
