/* inotify.c -- inotify(7): the instance as a file (flags, read sizes, FIONREAD,
 * poll/epoll, a blocking read woken by another process), inotify_add_watch and
 * inotify_rm_watch with their errors and mask flags (IN_MASK_ADD, IN_MASK_CREATE,
 * IN_ONESHOT, IN_EXCL_UNLINK, IN_ONLYDIR, IN_DONT_FOLLOW), the events of file
 * operations on a watched directory and on a watched file in it -- run once in
 * the work directory (the container's root file system) and once in a tmpfs
 * directory under /dev/shm -- coalescing, and queue overflow. Cookies are
 * printed as c1, c2, ... in order of appearance. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static int ifd;
static unsigned cookies[64];
static int ncookies;

static const char *const names[] = {
    "ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN", "MOVED_FROM",
    "MOVED_TO", "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF", "?", "UNMOUNT",
    "Q_OVERFLOW", "IGNORED"};

static int cookie_id(unsigned c)
{
    for (int i = 0; i < ncookies; i++)
        if (cookies[i] == c)
            return i + 1;
    if (ncookies < 64)
        cookies[ncookies++] = c;
    return ncookies;
}

static void print_event(const struct inotify_event *e)
{
    printf("  wd=%d", e->wd);
    for (int i = 0; i < 16; i++)
        if (e->mask & (1u << i))
            printf(" %s", names[i]);
    if (e->mask & IN_ISDIR)
        printf(" ISDIR");
    if (e->cookie)
        printf(" c%d", cookie_id(e->cookie));
    if (e->len)
        printf(" len=%u name=%s", e->len, e->name);
    printf("\n");
}

/* print and consume every queued event (ifd is non-blocking) */
static void drain(const char *what)
{
    char buf[8192] __attribute__((aligned(8)));
    printf("-- %s\n", what);
    for (;;) {
        ssize_t n = read(ifd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (void *)p;
            print_event(e);
            p += sizeof *e + e->len;
        }
    }
}

static int queued(int fd)
{
    int q = -1;
    MUST(ioctl(fd, FIONREAD, &q));
    return q;
}

static void touch(const char *p)
{
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    MUST(fd);
    MUST(close(fd));
}

/* the events of file operations in directory base (absolute) */
static void scenario(const char *base)
{
    char d[512], f[600], g[600], sub[600], h[600], lnk[600];  /* base is short */
    snprintf(d, sizeof d, "%s/watched", base);
    snprintf(f, sizeof f, "%s/f", d);
    snprintf(g, sizeof g, "%s/g", d);
    snprintf(sub, sizeof sub, "%s/sub", d);
    snprintf(h, sizeof h, "%s/elsewhere", base);
    snprintf(lnk, sizeof lnk, "%s/lnk", d);
    MUST(mkdir(d, 0755));
    MUST(mkdir(h, 0755));
    ncookies = 0;
    char buf[64];

    int wd = inotify_add_watch(ifd, d, IN_ALL_EVENTS);
    R("watch dir", wd);
    int wh = inotify_add_watch(ifd, h, IN_ALL_EVENTS);
    R("watch other dir", wh);
    char dot[1024];
    snprintf(dot, sizeof dot, "%s/.", d);
    R("same dir again: same wd", inotify_add_watch(ifd, dot, IN_ALL_EVENTS));

    int fd = open(f, O_CREAT | O_RDWR, 0644);
    MUST(fd);
    drain("create");
    R("watch file", inotify_add_watch(ifd, f, IN_ALL_EVENTS));
    MUST(write(fd, "abc", 3));
    MUST(write(fd, "abc", 3));
    drain("two writes");
    MUST(pread(fd, buf, 3, 0));
    drain("pread");
    MUST(pread(fd, buf, 3, 100));
    drain("pread at EOF");
    MUST(write(fd, "", 0));
    drain("write of 0 bytes");
    struct iovec iov = {buf, 0};
    MUST(readv(fd, &iov, 1));
    drain("readv of 0 bytes");
    MUST(writev(fd, &iov, 1));
    drain("writev of 0 bytes");
    MUST(ftruncate(fd, 1));
    drain("ftruncate");
    MUST(fallocate(fd, 0, 0, 100));
    drain("fallocate");
    MUST(fchmod(fd, 0600));
    drain("fchmod");
    MUST(fchown(fd, getuid(), -1));
    drain("fchown");
    MUST(fchown(fd, -1, -1));
    drain("fchown -1 -1");
    struct timespec ts[2] = {{1, 0}, {2, 0}};
    MUST(futimens(fd, ts));
    drain("futimens both");
    ts[1].tv_nsec = UTIME_OMIT;
    MUST(futimens(fd, ts));
    drain("futimens atime");
    ts[1].tv_nsec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    MUST(futimens(fd, ts));
    drain("futimens mtime");
    int dupfd = dup(fd);
    MUST(close(dupfd));
    drain("close of a dup");
    MUST(close(fd));
    drain("close");
    fd = open(f, O_RDWR | O_TRUNC);
    MUST(fd);
    MUST(close(fd));
    drain("open O_TRUNC, close");
    fd = open(f, O_RDONLY);
    MUST(fd);
    MUST(close(fd));
    drain("open O_RDONLY, close");
    fd = open(f, O_PATH);
    MUST(fd);
    MUST(close(fd));
    drain("O_PATH open, close");
    MUST(truncate(f, 10));
    drain("truncate by path");
    MUST(chmod(f, 0640));
    drain("chmod by path");

    /* the directory itself */
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    MUST(dfd);
    char dents[4096];
    MUST(syscall(SYS_getdents64, dfd, dents, sizeof dents));
    R("getdents into 1 byte", syscall(SYS_getdents64, dfd, dents, 1));
    MUST(close(dfd));
    drain("open, getdents, close the directory");
    MUST(mkdir(sub, 0755));
    int wsub = inotify_add_watch(ifd, sub, IN_ALL_EVENTS);
    R("watch subdir", wsub);
    drain("mkdir");
    MUST(symlink("f", lnk));
    drain("symlink");
    R("watch a symlink, followed", inotify_add_watch(ifd, lnk, IN_ALL_EVENTS));
    int wl = inotify_add_watch(ifd, lnk, IN_ALL_EVENTS | IN_DONT_FOLLOW);
    R("watch a symlink itself", wl);
    R("IN_ONLYDIR on a symlink to a file", inotify_add_watch(ifd, lnk, IN_MODIFY | IN_ONLYDIR));
    MUST(unlink(lnk));
    drain("unlink the watched symlink");

    /* names come and go */
    MUST(rename(f, g));
    drain("rename in the directory");
    MUST(link(g, f));
    drain("link");
    MUST(unlink(f));
    drain("unlink one of two links");
    char moved[1024];
    snprintf(moved, sizeof moved, "%s/g", h);
    MUST(rename(g, moved));
    drain("rename to another watched directory");
    MUST(rename(moved, g));
    drain("rename back");
    char subfile[1024];
    snprintf(subfile, sizeof subfile, "%s/x", sub);
    touch(subfile);
    drain("create in the subdirectory");
    MUST(unlink(subfile));
    drain("unlink in the subdirectory");
    char sub2[1024];
    snprintf(sub2, sizeof sub2, "%s/sub2", h);
    MUST(rename(sub, sub2));
    drain("rename a watched directory away");
    MUST(rmdir(sub2));
    drain("rmdir the watched directory");
    touch(f);
    drain("create f again");
    R("renameat2 exchange", syscall(SYS_renameat2, AT_FDCWD, f, AT_FDCWD, g, RENAME_EXCHANGE));
    drain("exchange f and g");

    /* the last name goes while the file is open: IN_DELETE_SELF at the last close */
    int wg = inotify_add_watch(ifd, g, IN_ALL_EVENTS);
    R("watch g", wg);
    fd = open(g, O_RDONLY);
    MUST(fd);
    MUST(unlink(g));
    drain("unlink g while open");
    MUST(read(fd, buf, 1) >= 0 ? 0 : -1);
    MUST(close(fd));
    drain("close unlinked g");
    R("rm_watch of an ended watch", inotify_rm_watch(ifd, wg));

    /* rename over a watched file */
    int wf = inotify_add_watch(ifd, f, IN_ALL_EVENTS);
    R("watch f", wf);
    touch(g);
    drain("create g");
    MUST(rename(g, f));
    drain("rename g over watched f");
    MUST(unlink(f));
    drain("unlink f");

    /* mask flags */
    touch(f);
    wf = inotify_add_watch(ifd, f, IN_MODIFY | IN_ONESHOT);
    R("oneshot watch", wf);
    fd = open(f, O_WRONLY);
    MUST(fd);
    drain("open with a oneshot watch on the file");
    MUST(write(fd, "x", 1));
    MUST(write(fd, "x", 1));
    drain("two writes, oneshot");
    R("rm_watch of the oneshot watch", inotify_rm_watch(ifd, wf));
    R("IN_MASK_CREATE on a watched dir", inotify_add_watch(ifd, d, IN_MODIFY | IN_MASK_CREATE));
    R("replace the mask", inotify_add_watch(ifd, d, IN_MODIFY));
    MUST(write(fd, "x", 1));
    MUST(fchmod(fd, 0644));
    drain("write and chmod, dir watches IN_MODIFY");
    R("IN_MASK_ADD", inotify_add_watch(ifd, d, IN_ATTRIB | IN_MASK_ADD));
    MUST(write(fd, "x", 1));
    MUST(fchmod(fd, 0600));
    drain("write and chmod, dir watches IN_MODIFY|IN_ATTRIB");
    R("IN_EXCL_UNLINK", inotify_add_watch(ifd, d, IN_ALL_EVENTS | IN_EXCL_UNLINK));
    MUST(unlink(f));
    MUST(write(fd, "x", 1));
    MUST(close(fd));
    drain("unlink, write, close with IN_EXCL_UNLINK");

    /* coalescing: only an event equal to the last one queued is dropped */
    touch(f);
    R("dir watches IN_MODIFY|IN_ACCESS", inotify_add_watch(ifd, d, IN_MODIFY | IN_ACCESS));
    fd = open(f, O_RDWR);
    MUST(fd);
    MUST(write(fd, "a", 1));
    MUST(write(fd, "a", 1));
    MUST(pread(fd, buf, 1, 0));
    MUST(write(fd, "a", 1));
    off_t off = 0;
    int fd2 = open(g, O_CREAT | O_RDWR, 0600);
    MUST(fd2);
    MUST(sendfile(fd2, fd, &off, 2));
    loff_t i = 0, j = 0;
    MUST(copy_file_range(fd, &i, fd2, &j, 2, 0));
    MUST(close(fd2));
    MUST(close(fd));
    drain("writes, a read, sendfile, copy_file_range");
    MUST(unlink(f));
    MUST(unlink(g));

    /* the end of the watched directories */
    R("rm_watch the other dir", inotify_rm_watch(ifd, wh));
    MUST(rmdir(h));
    drain("rm_watch, then rmdir that dir");
    R("dir watches everything", inotify_add_watch(ifd, d, IN_ALL_EVENTS));
    MUST(rmdir(d));
    drain("rmdir the watched directory");
    R("rm_watch after IN_IGNORED", inotify_rm_watch(ifd, wd));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    char cwd[512];
    MUST(getcwd(cwd, sizeof cwd) ? 0 : -1);

    /* the instance as a file */
    R("inotify_init1 bad flag", inotify_init1(1));
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    MUST(ifd);
    R("F_GETFL", fcntl(ifd, F_GETFL) & ~O_LARGEFILE);
    R("F_GETFD", fcntl(ifd, F_GETFD));
    int blk = inotify_init();
    MUST(blk);
    R("inotify_init F_GETFL", fcntl(blk, F_GETFL) & ~O_LARGEFILE);
    R("inotify_init F_GETFD", fcntl(blk, F_GETFD));
    char path[64], link[128] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", ifd);
    R("readlink", readlink(path, link, sizeof link - 1));
    printf("link: %s\n", link);
    struct stat st;
    MUST(fstat(ifd, &st));
    printf("mode: %o size: %ld\n", st.st_mode, (long)st.st_size);
    R("write", write(ifd, "x", 1));
    R("lseek", lseek(ifd, 0, SEEK_CUR));
    char small[64];
    R("pread", pread(ifd, small, sizeof small, 0));
    R("read with nothing queued", read(ifd, small, sizeof small));
    R("FIONREAD empty", queued(ifd));

    /* inotify_add_watch's checks */
    R("add_watch bad fd", inotify_add_watch(999, ".", IN_ALL_EVENTS));
    R("add_watch on a non-inotify fd", inotify_add_watch(1, ".", IN_ALL_EVENTS));
    R("add_watch IN_MASK_ADD|IN_MASK_CREATE",
      inotify_add_watch(ifd, ".", IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
    R("add_watch unknown bit", inotify_add_watch(ifd, ".", IN_MODIFY | 0x1000));
    R("add_watch mask 0", inotify_add_watch(ifd, ".", 0));
    R("add_watch missing path", inotify_add_watch(ifd, "missing", IN_ALL_EVENTS));
    R("add_watch empty path", inotify_add_watch(ifd, "", IN_ALL_EVENTS));
    touch("plain");
    R("add_watch IN_ONLYDIR on a file", inotify_add_watch(ifd, "plain", IN_MODIFY | IN_ONLYDIR));
    R("rm_watch unknown wd", inotify_rm_watch(ifd, 12345));
    R("rm_watch on a non-inotify fd", inotify_rm_watch(1, 1));
    R("rm_watch bad fd", inotify_rm_watch(999, 1));

    /* reading: sizes, FIONREAD, poll, epoll */
    int w = inotify_add_watch(ifd, "plain", IN_OPEN | IN_CLOSE);
    R("watch plain", w);
    int ep = epoll_create1(0);
    MUST(ep);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    R("epoll_ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, ifd, &ev));
    struct pollfd pfd = {ifd, POLLIN | POLLOUT, 0};
    R("poll empty", poll(&pfd, 1, 0));
    R("epoll_wait empty", epoll_wait(ep, &ev, 1, 0));
    touch("plain");
    R("poll ready", poll(&pfd, 1, 0));
    printf("revents: %x\n", pfd.revents);
    R("epoll_wait ready", epoll_wait(ep, &ev, 1, 0));
    printf("epoll events: %x data %u\n", ev.events, ev.data.u32);
    R("FIONREAD two events", queued(ifd));
    R("read into 15 bytes", read(ifd, small, 15));
    R("read into 16 bytes", read(ifd, small, 16));
    R("read into 31 bytes", read(ifd, small, 31));
    R("FIONREAD one left", queued(ifd));
    R("read the last", read(ifd, small, sizeof small));
    R("poll drained", poll(&pfd, 1, 0));
    char fdinfo[4096] = {0};
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ifd);
    int fi = open(path, O_RDONLY);
    MUST(fi);
    MUST(read(fi, fdinfo, sizeof fdinfo - 1));
    MUST(close(fi));
    T("fdinfo shows the watch", strstr(fdinfo, "inotify wd:1 ") != NULL &&
                                    strstr(fdinfo, " mask:38 ignored_mask:0") != NULL);
    R("rm_watch plain", inotify_rm_watch(ifd, w));
    struct inotify_event *e = (void *)small;
    R("read IN_IGNORED", read(ifd, small, sizeof small));
    printf("wd %d mask %x len %u\n", e->wd, e->mask, e->len);

    /* a blocking read is woken by another process's change */
    R("watch plain for the blocking read", inotify_add_watch(blk, "plain", IN_MODIFY));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        msleep(100);
        int fd = open("plain", O_WRONLY);
        MUST(write(fd, "x", 1));
        _exit(0);
    }
    R("blocking read", read(blk, small, sizeof small));
    printf("wd %d mask %x\n", e->wd, e->mask);
    waitpid(c, NULL, 0);
    MUST(close(blk));

    /* a file the sandbox did not write (this program: the container's root file
     * system below the sandbox's changes), opened before and after the watch */
    int early = open("/proc/self/exe", O_RDONLY);
    MUST(early);
    int wx = inotify_add_watch(ifd, "/proc/self/exe", IN_OPEN | IN_ACCESS | IN_CLOSE);
    R("watch this program", wx);
    MUST(read(early, small, 16));
    MUST(lseek(early, 0, SEEK_SET));
    MUST(close(early));
    int late = open("/proc/self/exe", O_RDONLY);
    MUST(late);
    MUST(read(late, small, 16));
    MUST(fstat(late, &st));
    MUST(read(late, small, 16));
    MUST(close(late));
    R("rm_watch this program", inotify_rm_watch(ifd, wx));
    drain("read this program");

    /* events on the container's root file system, then on a tmpfs */
    printf("== work directory\n");
    scenario(cwd);
    char shm[128];
    unsigned long hsh = 5381;
    for (const char *p = argv[1]; *p; p++)
        hsh = hsh * 33 + (unsigned char)*p;
    snprintf(shm, sizeof shm, "/dev/shm/inotify-test-%lx", hsh);
    MUST(mkdir(shm, 0755));
    printf("== tmpfs\n");
    scenario(shm);
    MUST(rmdir(shm));

    /* overflow: max_queued_events events, then one IN_Q_OVERFLOW, then nothing */
    int o = inotify_init1(IN_NONBLOCK);
    MUST(o);
    R("watch for overflow", inotify_add_watch(o, ".", IN_OPEN | IN_CLOSE_NOWRITE));
    for (int k = 0; k < 9000; k++) {
        int x = open(".", O_RDONLY);
        MUST(x);
        MUST(close(x));
    }
    R("FIONREAD full", queued(o));
    static char big[65536] __attribute__((aligned(8)));
    long count = 0, overflows = 0, pos_of_overflow = -1;
    ssize_t n;
    while ((n = read(o, big, sizeof big)) > 0) {
        for (char *p = big; p < big + n;) {
            struct inotify_event *q = (void *)p;
            count++;
            if (q->mask & IN_Q_OVERFLOW) {
                overflows++;
                pos_of_overflow = count;
                printf("overflow event: wd %d mask %x len %u\n", q->wd, q->mask, q->len);
            }
            p += sizeof *q + q->len;
        }
    }
    printf("events %ld overflows %ld at %ld\n", count, overflows, pos_of_overflow);
    int x = open(".", O_RDONLY);
    MUST(x);
    MUST(close(x));
    R("FIONREAD after the drain", queued(o));
    return 0;
}
