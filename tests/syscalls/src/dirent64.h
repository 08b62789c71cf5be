/*
 * dirent64.h -- what the programs that call getdents64 directly share: the record
 * the kernel writes (glibc does not declare it) and a qsort comparison of names.
 */
#ifndef DIRENT64_H
#define DIRENT64_H
#include <string.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* qsort() of char * names */
static inline int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
#endif
