/* Asks for things Linux does and the sandbox refuses: the inode flags of a regular file
 * (FS_IOC_GETFLAGS), a read lease on a file (fcntl F_SETLEASE), a POSIX ACL (the
 * system.posix_acl_access extended attribute), a child in a new user namespace (clone
 * CLONE_NEWUSER). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    int f = open(argv[1], O_RDONLY);
    int d = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (f < 0 || d < 0) { perror("open"); return 2; }
    long flags = 0;
    int r = ioctl(f, FS_IOC_GETFLAGS, &flags);
    printf("FS_IOC_GETFLAGS: %s\n", r < 0 ? strerror(errno) : "ok");
    r = fcntl(f, F_SETLEASE, F_RDLCK);
    printf("F_SETLEASE: %s\n", r < 0 ? strerror(errno) : "ok");
    /* An ACL that says what the mode says (user rw, group r, other r): version 2, then
     * (tag, permissions, id) entries. */
    struct { uint32_t version; struct { uint16_t tag, perm; uint32_t id; } e[3]; } acl = {
        2, {{0x01, 6, 0xffffffff}, {0x04, 4, 0xffffffff}, {0x20, 4, 0xffffffff}}};
    r = setxattr(argv[1], "system.posix_acl_access", &acl, sizeof acl, 0);
    printf("setxattr: %s\n", r < 0 ? strerror(errno) : "ok");
    fflush(stdout);
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    printf("clone CLONE_NEWUSER: %s\n", pid < 0 ? strerror(errno) : "ok");
    return 0;
}
