/*
 * floor_notif.c -- the floor of a seccomp user-notification sandbox: a
 * minimal C supervisor that runs a program under a filter sending getppid
 * and pread64 to it (everything else allowed), with
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP so hand-offs stay on one CPU.
 *
 *   getppid  -> answered with the supervisor's pid (the real parent)
 *   pread64  -> pread on the supervisor's own fd of FILE, then
 *               process_vm_writev into the workload's buffer
 *
 * This is what a sentry's C fast path can at best approach; runsc-py's
 * benchmarks report their ratios against it (design §8).
 *
 * Usage: floor_notif [-f FILE] -- PROG ARGS...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define DIE(what)                                                          \
    do {                                                                   \
        fprintf(stderr, "floor_notif: %s: %s\n", what, strerror(errno));   \
        exit(2);                                                           \
    } while (0)

static int install_filter(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pread64, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        DIE("PR_SET_NO_NEW_PRIVS");
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0)
        DIE("seccomp");
    return (int)fd;
}

static void send_fd(int sock, int fd)
{
    char c = 'f';
    struct iovec iov = {&c, 1};
    char ctl[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    if (sendmsg(sock, &m, 0) != 1)
        DIE("sendmsg");
}

static int recv_fd(int sock)
{
    char c;
    struct iovec iov = {&c, 1};
    char ctl[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    if (recvmsg(sock, &m, 0) != 1)
        DIE("recvmsg");
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
    return fd;
}

static void on_chld(int s) { (void)s; }

int main(int argc, char **argv)
{
    const char *file = NULL;
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "-f")) {
        file = argv[i + 1];
        i += 2;
    }
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    if (i >= argc) {
        fprintf(stderr, "usage: floor_notif [-f FILE] -- PROG ARGS...\n");
        return 2;
    }
    int filefd = file ? open(file, O_RDONLY) : -1;
    if (file && filefd < 0)
        DIE("open FILE");
    struct sigaction sa = {0};
    sa.sa_handler = on_chld; /* no SA_RESTART: NOTIF_RECV returns EINTR on exit */
    sigaction(SIGCHLD, &sa, NULL);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
        DIE("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        DIE("fork");
    if (pid == 0) {
        close(sp[0]);
        int fd = install_filter();
        send_fd(sp[1], fd);
        close(fd);
        char go;
        if (read(sp[1], &go, 1) != 1)
            _exit(2);
        close(sp[1]);
        execvp(argv[i], argv + i);
        _exit(127);
    }
    close(sp[1]);
    int nfd = recv_fd(sp[0]);
    if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP))
        DIE("SECCOMP_IOCTL_NOTIF_SET_FLAGS(SYNC_WAKE_UP)");
    if (write(sp[0], "g", 1) != 1)
        DIE("write go");
    static char buf[1 << 16];
    for (;;) {
        struct seccomp_notif req;
        struct seccomp_notif_resp resp;
        memset(&req, 0, sizeof req);
        if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
            if (errno == EINTR || errno == ENOENT) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                continue;
            }
            DIE("NOTIF_RECV");
        }
        resp.id = req.id;
        resp.flags = 0;
        resp.error = 0;
        resp.val = 0;
        if (req.data.nr == SYS_getppid) {
            resp.val = getpid();
        } else if (req.data.nr == SYS_pread64 && filefd >= 0) {
            size_t len = req.data.args[2] < sizeof buf ? req.data.args[2] : sizeof buf;
            ssize_t n = pread(filefd, buf, len, (off_t)req.data.args[3]);
            if (n < 0) {
                resp.error = -errno;
            } else {
                struct iovec l = {buf, (size_t)n};
                struct iovec r = {(void *)req.data.args[1], (size_t)n};
                ssize_t w = process_vm_writev(req.pid, &l, 1, &r, 1, 0);
                if (w < 0)
                    resp.error = -EFAULT;
                else
                    resp.val = w;
            }
        } else {
            resp.error = -ENOSYS;
        }
        if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) && errno != ENOENT)
            DIE("NOTIF_SEND");
    }
}
