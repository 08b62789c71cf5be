/* runsc-py native: the sandbox's pipe buffers and the memory account they are charged to.
 *
 * A pipe's bytes live here, not in Python, so that the C fast path (rt.c "pipes") can
 * serve read, write and sendfile of a pipe no one waits on, and Python's Pipe
 * (sentry/fsimpl/pipe/pipe.py) uses the same buffer through these functions for
 * everything else: one state, two callers, as a gofer file's host fd.
 *
 * Fullness is Linux's (fs/pipe.c): the buffer is a ring of page-sized slots (cap / 4 KiB
 * of them); a write fills new slots after merging its sub-page remainder into the last
 * slot if it fits there whole; splice and sendfile put a file's bytes a slot per file page,
 * which no later write adds to (tail_merge); a read frees a slot once it is drained.  Each
 * occupied slot is a page of the sandbox's memory account (struct rt_acct), as Linux
 * charges pipe pages to the memory cgroup.
 *
 * The bytes are kept in a ring buffer, grown by doubling as they come (never past what the
 * slots hold), halved when a read leaves it a quarter full and freed when the pipe is
 * empty; the slot ring grows as slots are used.  So the sentry holds about what the
 * account charges, whatever the capacity.  A write's memory is found before anything
 * changes (push_plan): one that cannot get it stores nothing.  The sentry is
 * single-threaded: no locks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "rt.h"

#define PAGE 4096u
#define DEFAULT_CAP 65536u

static struct rt_acct acct = { INT64_MAX / 2, 0, 0 };

struct rt_acct *rt_acct(void) { return &acct; }

/* Count n bytes the caller found room for (push_plan), or give them back. */
static void acct_add(int64_t n)
{
    acct.used += n;
    if (acct.used > acct.peak) acct.peak = acct.used;
}

struct rt_pipe *rt_pipe_new(void)
{
    struct rt_pipe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cap = DEFAULT_CAP;
    p->tail_merge = 1;
    return p;
}

void rt_pipe_free(struct rt_pipe *p)
{
    if (!p) return;
    rt_pipe_discard(p);
    free(p);
}

static inline uint32_t *slot_at(const struct rt_pipe *p, uint32_t i)
{
    return &p->slots[(p->s_head + i) % p->s_cap];
}

/* The room a write may add to the last slot (none for a file's page). */
static inline uint32_t tail_room(const struct rt_pipe *p)
{
    return p->nslots && p->tail_merge ? PAGE - *slot_at(p, p->nslots - 1) : 0;
}

/* The slots left (none while a shrink left more in use than the capacity holds). */
static inline uint32_t free_slots(const struct rt_pipe *p)
{
    return p->cap / PAGE > p->nslots ? p->cap / PAGE - p->nslots : 0;
}

/* What a ring of cur entries grows to for need: doubled (from first), not past most,
 * never short of need. */
static uint64_t grown(uint64_t cur, uint64_t first, uint64_t most, uint64_t need)
{
    uint64_t a = cur ? cur * 2 : first;
    if (a > most) a = most;
    return a < need ? need : a;
}

/* The slot ring holding want entries (not fewer than the occupied ones), their order kept. */
static int slots_resize(struct rt_pipe *p, uint32_t want)
{
    if (want < p->nslots) want = p->nslots;
    uint32_t *n = want ? malloc((size_t)want * sizeof *n) : NULL;
    if (want && !n) return -ENOMEM;
    for (uint32_t i = 0; i < p->nslots; i++) n[i] = *slot_at(p, i);
    free(p->slots);
    p->slots = n;
    p->s_cap = want;
    p->s_head = 0;
    return 0;
}

/* Room in the slot ring for k more entries: it grows by doubling, to the capacity's
 * slot count (an unpop may pass it by one). */
static int slots_room(struct rt_pipe *p, uint32_t k)
{
    uint64_t need = (uint64_t)p->nslots + k;
    return need <= p->s_cap ? 0 : slots_resize(p, (uint32_t)grown(p->s_cap, 16, p->cap / PAGE, need));
}

/* The bytes are a ring: buf[head ..] and on from buf[0] past the end (alloc bytes). */
static void ring_out(const struct rt_pipe *p, unsigned char *out, uint32_t k)
{
    uint32_t first = p->alloc - p->head < k ? p->alloc - p->head : k;
    memcpy(out, p->buf + p->head, first);
    memcpy(out + first, p->buf, k - first);
}

static void ring_in(struct rt_pipe *p, uint32_t at, const unsigned char *data, uint32_t k)
{
    at %= p->alloc;
    uint32_t first = p->alloc - at < k ? p->alloc - at : k;
    memcpy(p->buf + at, data, first);
    memcpy(p->buf, data + first, k - first);
}

/* A buffer of a bytes with the pipe's bytes at its start (a 0: none, none held). */
static int buf_resize(struct rt_pipe *p, uint64_t a)
{
    unsigned char *b = NULL;
    if (a && !(b = malloc(a))) return -ENOMEM;
    if (p->size) ring_out(p, b, p->size);
    free(p->buf);
    p->buf = b;
    p->alloc = (uint32_t)a;
    p->head = 0;
    return 0;
}

/* Room in the buffer for n more bytes: it grows by doubling (from 16 KiB), never past
 * what the pipe can hold (its slots' bytes; an unpop puts back only what was there). */
static int buf_room(struct rt_pipe *p, uint32_t n)
{
    uint64_t need = (uint64_t)p->size + n;
    uint64_t most = (uint64_t)(p->nslots > p->cap / PAGE ? p->nslots : p->cap / PAGE) * PAGE;
    return need <= p->alloc ? 0 : buf_resize(p, grown(p->alloc, 16384, most, need));
}

/* After a read: an empty pipe holds no buffer, one a quarter full at most half of it,
 * and its slot ring likewise (what the account charges is the occupied slots' pages: the
 * sentry's memory must not stay far larger, a reader that keeps a byte in a 1 MiB pipe
 * would hold 1 MiB).  (If a smaller one cannot be had, the larger one stays.) */
static void buf_trim(struct rt_pipe *p)
{
    if (!p->size) {
        buf_resize(p, 0);
    } else if (p->alloc > 16384 && p->size <= p->alloc / 4) {
        uint64_t a = (uint64_t)p->size * 2 < 16384 ? 16384 : (uint64_t)p->size * 2;
        buf_resize(p, a);
    }
    if (p->s_cap > 64 && p->nslots <= p->s_cap / 4)
        slots_resize(p, p->nslots * 2 < 16 ? 16 : p->nslots * 2);
}

/* What a write of n bytes (file_off < 0) or a regular file's n bytes from file_off stores
 * now: the remainder merged into the last slot (*merge: its bytes), then a new slot a page
 * (the first of a file's up to its page's end) while slots are free and the account
 * takes a page (*slots: how many).  Nothing changes. */
static uint32_t push_plan(const struct rt_pipe *p, uint32_t n, int64_t file_off,
                          uint32_t *merge, uint32_t *slots)
{
    uint32_t done = 0, take = PAGE;
    *merge = *slots = 0;
    if (file_off < 0) {
        uint32_t part = n & (PAGE - 1);
        if (part && part <= tail_room(p))
            done = *merge = part;
    } else {
        take = PAGE - (uint32_t)(file_off % PAGE);
    }
    int64_t room = acct.limit - acct.used;
    uint32_t left = free_slots(p);
    while (done < n && *slots < left && room >= (int64_t)PAGE) {
        done += n - done < take ? n - done : take;
        take = PAGE;
        ++*slots;
        room -= PAGE;
    }
    return done;
}

uint32_t rt_pipe_push(struct rt_pipe *p, const void *data, uint32_t n, int64_t file_off)
{
    uint32_t merge, slots;
    uint32_t done = push_plan(p, n, file_off, &merge, &slots);
    /* room first: a write that cannot get its memory changes nothing */
    if (!done || buf_room(p, done) < 0 || slots_room(p, slots) < 0) return 0;
    uint32_t take = file_off < 0 ? PAGE : PAGE - (uint32_t)(file_off % PAGE);
    if (merge) *slot_at(p, p->nslots - 1) += merge;
    for (uint32_t put = merge; put < done; take = PAGE) {
        uint32_t k = done - put < take ? done - put : take;
        acct_add(PAGE);
        *slot_at(p, p->nslots++) = k;
        put += k;
    }
    ring_in(p, (uint32_t)((uint64_t)p->head + p->size), data, done);
    p->size += done;
    p->tail_merge = file_off < 0;
    return done;
}

uint32_t rt_pipe_fits(const struct rt_pipe *p, uint32_t n, int64_t file_off)
{
    uint32_t merge, slots;
    return push_plan(p, n, file_off, &merge, &slots) == n;
}

uint32_t rt_pipe_push_room(const struct rt_pipe *p, uint32_t n, int64_t file_off)
{
    uint32_t merge, slots;
    return push_plan(p, n, file_off, &merge, &slots);
}

uint32_t rt_pipe_peek(const struct rt_pipe *p, void *out, uint32_t n)
{
    uint32_t k = n < p->size ? n : p->size;
    if (k) ring_out(p, out, k);
    return k;
}

/* Take k bytes off the front, freeing the slots drained. */
static void pop_bytes(struct rt_pipe *p, uint32_t k)
{
    p->head = k ? (uint32_t)(((uint64_t)p->head + k) % p->alloc) : p->head;
    p->size -= k;
    for (uint32_t left = k; left;) {
        uint32_t *first = slot_at(p, 0);
        if (*first <= left) {
            left -= *first;
            p->s_head = (p->s_head + 1) % p->s_cap;
            p->nslots--;
            acct.used -= PAGE;
        } else {
            *first -= left;
            left = 0;
        }
    }
    buf_trim(p);
}

uint32_t rt_pipe_pop(struct rt_pipe *p, void *out, uint32_t n)
{
    uint32_t k = n < p->size ? n : p->size;
    if (out && k) ring_out(p, out, k);
    pop_bytes(p, k);
    return k;
}

uint32_t rt_pipe_copy_to(const struct rt_pipe *p, int pid, uint64_t addr, uint32_t n)
{
    uint32_t k = n < p->size ? n : p->size;
    if (!k) return 0;
    uint32_t first = p->alloc - p->head < k ? p->alloc - p->head : k;
    struct iovec l[2] = {{p->buf + p->head, first}, {p->buf, k - first}};
    struct iovec r = {(void *)(uintptr_t)addr, k};
    return process_vm_writev(pid, l, k > first ? 2 : 1, &r, 1, 0) == (ssize_t)k ? k : 0;
}

uint32_t rt_pipe_pop_to(struct rt_pipe *p, int pid, uint64_t addr, uint32_t n)
{
    uint32_t k = rt_pipe_copy_to(p, pid, addr, n);
    if (k) pop_bytes(p, k);
    return k;
}

int rt_pipe_unpop(struct rt_pipe *p, const void *data, uint32_t n)
{
    /* Bytes just popped go back in front (their copy-out failed); the last slot, and
     * so tail_merge, stays what it was. */
    if (!n) return 0;
    int merge = p->nslots && *slot_at(p, 0) + n <= PAGE;
    uint32_t slots = merge ? 0 : (n + PAGE - 1) / PAGE;
    if (buf_room(p, n) < 0 || slots_room(p, slots) < 0) return -ENOMEM;
    p->head = (uint32_t)(((uint64_t)p->head + p->alloc - n % p->alloc) % p->alloc);
    ring_in(p, p->head, data, n);
    p->size += n;
    if (merge) {
        *slot_at(p, 0) += n;
        return 0;
    }
    for (uint32_t left = n; left;) {
        uint32_t c = left % PAGE ? left % PAGE : PAGE;
        p->s_head = (p->s_head + p->s_cap - 1) % p->s_cap;
        p->slots[p->s_head] = c;
        p->nslots++;
        acct_add(PAGE);
        left -= c;
    }
    return 0;
}

void rt_pipe_discard(struct rt_pipe *p)
{
    acct.used -= (int64_t)p->nslots * PAGE;
    p->nslots = p->size = 0;
    buf_resize(p, 0);
    slots_resize(p, 0);
    p->tail_merge = 1;
    p->cap = DEFAULT_CAP;
}

int rt_pipe_resize(struct rt_pipe *p, uint32_t cap)
{
    /* (the slot ring grows as slots are used, and keeps its size when the capacity
     * shrinks: nothing to allocate) */
    if (cap < PAGE || cap / PAGE < p->nslots) return -EBUSY;
    p->cap = cap;
    return 0;
}

uint32_t rt_pipe_free_bytes(const struct rt_pipe *p)
{
    return tail_room(p) + free_slots(p) * PAGE;
}

uint32_t rt_pipe_page_room(const struct rt_pipe *p, uint64_t file_off)
{
    uint32_t slots = free_slots(p);
    return slots ? slots * PAGE - (uint32_t)(file_off % PAGE) : 0;
}
