/* Asks for two things Linux does and the sandbox refuses: the inode flags of a regular
 * file (FS_IOC_GETFLAGS) and directory notification (fcntl F_NOTIFY). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
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
    r = fcntl(d, F_NOTIFY, DN_MODIFY);
    printf("F_NOTIFY: %s\n", r < 0 ? strerror(errno) : "ok");
    return 0;
}
