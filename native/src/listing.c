/* runsc-py native: the gofer's directory listing with attributes (Treaddirstat, Treadtree).
 *
 * The gofer lstat()s every entry of a directory it lists (and reads a symlink's target),
 * so that the sentry answers later lookups and stats without asking; in Python that loop
 * cost ~6 us an entry (/usr/bin: 1,100 entries, 7 ms), on the critical path of the first
 * run of any program.  Here it is the same system calls and the wire form of
 * gofer/protocol.py's _pack_stat_entries, built in one pass; gofer/server.py keeps the
 * Python loop as the twin (tests/unit/gofer compares them) and for a build without this.
 *
 * Only calls the gofer's seccomp filter allows: getdents64 on the fd it opened for the
 * listing, fstatat and readlinkat of a name beneath it (never following a link), and
 * malloc's memory calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt.h"

struct growbuf {
    char *p;
    uint64_t len, cap;
};

static int gb_reserve(struct growbuf *b, uint64_t more)
{
    if (b->len + more <= b->cap) return 0;
    uint64_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put(struct growbuf *b, const void *v, uint64_t n)
{
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void put_u16(struct growbuf *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(struct growbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct growbuf *b, uint64_t v) { put(b, &v, 8); }

static int64_t ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* gofer/protocol.py Stat.STRUCT, "<QQIQIIQqqqqqq" (92 bytes) */
#define STAT_WIRE 92
static void put_stat(struct growbuf *b, const struct stat *st)
{
    put_u64(b, (uint64_t)st->st_dev);
    put_u64(b, (uint64_t)st->st_ino);
    put_u32(b, (uint32_t)st->st_mode);
    put_u64(b, (uint64_t)st->st_nlink);
    put_u32(b, (uint32_t)st->st_uid);
    put_u32(b, (uint32_t)st->st_gid);
    put_u64(b, (uint64_t)st->st_rdev);
    put_u64(b, (uint64_t)st->st_size);
    put_u64(b, (uint64_t)st->st_blksize);
    put_u64(b, (uint64_t)st->st_blocks);
    put_u64(b, (uint64_t)ns(&st->st_atim));
    put_u64(b, (uint64_t)ns(&st->st_mtim));
    put_u64(b, (uint64_t)ns(&st->st_ctim));
}

struct dirent64_head {
    uint64_t d_ino;
    int64_t d_off;
    uint16_t d_reclen;
    uint8_t d_type;
    char d_name[];
};

/* openat2(2) for the gofer's opens (ctypes' call costs ~1.4 us more, and a walk makes one
 * a name): the new fd, or -errno. */
int rt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve, uint64_t mode)
{
    struct { uint64_t flags, mode, resolve; } how = {flags, mode, resolve};
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

void rt_listing_free(struct rt_listing *l)
{
    free(l->data);
    free(l->ends);
    free(l->subdirs);
    memset(l, 0, sizeof *l);
}

int rt_list_stat(int fd, uint64_t dev, struct rt_listing *out)
{
    struct growbuf data = {0}, ends = {0}, subdirs = {0};
    char buf[65536], target[PATH_MAX];
    int err = 0;
    memset(out, 0, sizeof *out);
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) { err = -errno; goto fail; }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64_head *d = (struct dirent64_head *)(buf + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            size_t nlen = strnlen(name, d->d_reclen - offsetof(struct dirent64_head, d_name));
            if ((nlen == 1 && name[0] == '.') || (nlen == 2 && name[0] == '.' && name[1] == '.'))
                continue;
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT) continue;  /* removed since it was listed */
                err = -errno;
                goto fail;
            }
            ssize_t tlen = -1;
            if (S_ISLNK(st.st_mode)) {
                /* the target too: a walk through the link needs it next */
                tlen = readlinkat(fd, name, target, sizeof target);
                if (tlen >= (ssize_t)sizeof target) tlen = -1;  /* cannot be: PATH_MAX */
            }
            if ((err = gb_reserve(&data, 1 + 2 + nlen + STAT_WIRE + 2 + sizeof target)) ||
                (err = gb_reserve(&ends, 4)) || (err = gb_reserve(&subdirs, nlen + 1)))
                goto fail;
            if (S_ISDIR(st.st_mode) && (uint64_t)st.st_dev != dev) {
                /* a mount point: only a walk decides whether it is served */
                put(&data, "\0", 1);
                put_u16(&data, (uint16_t)nlen);
                put(&data, name, nlen);
                put_u64(&data, d->d_ino);
            } else {
                put(&data, tlen >= 0 ? "\2" : "\1", 1);
                put_u16(&data, (uint16_t)nlen);
                put(&data, name, nlen);
                put_stat(&data, &st);
                if (tlen >= 0) {
                    put_u16(&data, (uint16_t)tlen);
                    put(&data, target, (uint64_t)tlen);
                }
                if (S_ISDIR(st.st_mode)) {
                    put(&subdirs, name, nlen);
                    put(&subdirs, "", 1);
                }
            }
            if (data.len > UINT32_MAX) { err = -E2BIG; goto fail; }
            put_u32(&ends, (uint32_t)data.len);
        }
    }
    out->data = data.p;
    out->len = data.len;
    out->ends = (uint32_t *)ends.p;
    out->count = (uint32_t)(ends.len / 4);
    out->subdirs = subdirs.p;
    out->subdirs_len = subdirs.len;
    return 0;
fail:
    free(data.p);
    free(ends.p);
    free(subdirs.p);
    return err;
}
