/* statfs.c -- fstatfs of the files that live on no mounted file system: the internal
 * mounts of pipes, sockets, anonymous inodes and memfds (their magic, no counts, and
 * ST_VALID alone: no mount option, not even relatime), and of what the sandbox was given
 * (stdout a pipe, stdin /dev/null: the host object's answer). Usage: statfs WORKDIR */
#include "check.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/vfs.h>
#include <netinet/in.h>

static void show(const char *label, int fd, int counts)
{
    struct statfs s;
    if (fd < 0 || fstatfs(fd, &s) < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    printf("%s: type %lx bsize %ld namelen %ld frsize %ld flags %lx", label, (long)s.f_type,
           (long)s.f_bsize, (long)s.f_namelen, (long)s.f_frsize, (long)s.f_flags);
    if (counts)
        printf(" blocks %ld bfree %ld files %ld ffree %ld", (long)s.f_blocks, (long)s.f_bfree,
               (long)s.f_files, (long)s.f_ffree);
    printf("\n");
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int p[2], sv[2];
    MUST(pipe(p));
    MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    show("stdin (/dev/null)", 0, 0);
    show("stdout (a pipe)", 1, 1);
    show("pipe", p[0], 1);
    show("pipe write end", p[1], 1);
    show("unix socket", sv[0], 1);
    show("tcp socket", socket(AF_INET, SOCK_STREAM, 0), 1);
    show("udp socket", socket(AF_INET, SOCK_DGRAM, 0), 1);
    show("eventfd", eventfd(0, 0), 1);
    show("epoll", epoll_create1(0), 1);
    show("timerfd", timerfd_create(CLOCK_MONOTONIC, 0), 1);
    show("signalfd", signalfd(-1, &m, 0), 1);
    show("inotify", inotify_init1(0), 1);
    int mfd = memfd_create("m", 0);
    show("memfd", mfd, 1);
    MUST(ftruncate(mfd, 1 << 20));
    show("memfd of 1 MiB", mfd, 1);
    return 0;
}
