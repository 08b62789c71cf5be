/* fd_attrs.c -- fchmod, fchown and futimens of files that live on no mounted file system:
 * a pipe's and a unix socket's own inode takes them (fstat shows the new mode, owner and
 * times), the inode every anonymous file shares (eventfd, epoll, timerfd, signalfd,
 * inotify) takes none (EOPNOTSUPP); ftruncate and lseek of them. Usage: fd_attrs WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

static void attrs(const char *label, int fd)
{
    char l[128];
    struct timespec ts[2] = {{1000, 5}, {2000, 7}};
    struct stat st;
    snprintf(l, sizeof l, "%s fchmod", label);
    R(l, fchmod(fd, 0640));
    snprintf(l, sizeof l, "%s fchown", label);
    R(l, fchown(fd, 0, 0));
    snprintf(l, sizeof l, "%s futimens", label);
    R(l, futimens(fd, ts));
    snprintf(l, sizeof l, "%s ftruncate", label);
    R(l, ftruncate(fd, 0));
    MUST(fstat(fd, &st));
    printf("%s: mode %o uid %d\n", label, st.st_mode, st.st_uid);
    if (st.st_mtim.tv_sec == 2000)
        printf("%s: times %ld.%ld %ld.%ld\n", label, (long)st.st_atim.tv_sec,
               st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int p[2], sv[2];
    MUST(pipe(p));
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct stat st;
    MUST(fstat(p[0], &st));
    printf("pipe: mode %o\n", st.st_mode);
    MUST(fstat(sv[0], &st));
    printf("unix socket: mode %o\n", st.st_mode);
    attrs("pipe read end", p[0]);
    MUST(fstat(p[1], &st)); /* the other end: the same inode */
    printf("pipe write end: mode %o, mtime %ld\n", st.st_mode, (long)st.st_mtim.tv_sec);
    attrs("unix socket", sv[0]);
    MUST(fstat(sv[1], &st)); /* its peer: an inode of its own */
    printf("peer: mode %o\n", st.st_mode);
    R("pipe lseek", lseek(p[0], 0, SEEK_CUR));
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    int ev = eventfd(0, 0), ep = epoll_create1(0), tf = timerfd_create(CLOCK_MONOTONIC, 0),
        sf = signalfd(-1, &m, 0), in = inotify_init1(0);
    MUST(ev); MUST(ep); MUST(tf); MUST(sf); MUST(in);
    attrs("eventfd", ev);
    attrs("epoll", ep);
    attrs("timerfd", tf);
    attrs("signalfd", sf);
    attrs("inotify", in);
    return 0;
}
