/* removed_dir.c -- a lower-layer directory removed while it is the cwd, a missing name
 * looked for in it (open, stat: ENOENT), then a directory made again at its path and a
 * file made in it: found by its absolute path (the removed directory's names must not
 * answer for the new one). Usage: removed_dir WORKDIR (empty, made before the run) */
#include "check.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    const char *wd = workdir_arg(argc, argv);
    static char y[PATH_MAX];
    snprintf(y, sizeof y, "%s/y", wd);
    struct stat st;
    MUST(chdir(wd));
    R("rmdir the cwd", rmdir(wd));
    int fd = open("x", O_RDONLY | O_CLOEXEC);
    R("open in the removed cwd", fd < 0 ? -1 : 0);
    R("stat in the removed cwd", stat("x", &st));
    R("access in the removed cwd", access("x", F_OK));
    R("mkdir it again", mkdir(wd, 0755));
    fd = open(y, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    R("create a file in it", fd < 0 ? -1 : 0);
    close(fd);
    R("stat the file", stat(y, &st) == 0 ? (long)(st.st_mode & S_IFMT) >> 12 : -1);
    fd = open(y, O_RDONLY | O_CLOEXEC);
    R("open the file", fd < 0 ? -1 : 0);
    close(fd);
    R("access the file", access(y, F_OK));
    R("stat in the removed cwd again", stat("y", &st));
    return 0;
}
