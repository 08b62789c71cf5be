/* stat the files of DIR/d00 .. DIR/dNN one directory after another, as git status does
 * with a repository's files in index order: prints how many were found. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    if (argc < 4) return 2;
    int dirs = atoi(argv[2]), files = atoi(argv[3]), found = 0;
    char path[4096];
    struct stat st;
    for (int d = 0; d < dirs; d++)
        for (int f = 0; f < files; f++) {
            snprintf(path, sizeof path, "%s/d%02d/f%d", argv[1], d, f);
            found += lstat(path, &st) == 0;
        }
    printf("found %d\n", found);
    return 0;
}
