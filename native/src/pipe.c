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
 * The bytes are kept in order in one buffer (buf[head .. head + size)), grown up to the
 * capacity as they come and freed whenever the pipe is empty; the slots only count.
 * The sentry is single-threaded: no locks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define PAGE 4096u
#define DEFAULT_CAP 65536u

static struct rt_acct acct = { INT64_MAX / 2, 0, 0 };

struct rt_acct *rt_acct(void) { return &acct; }

int rt_acct_charge(int64_t n)
{
    if (n > 0 && acct.used + n > acct.limit) return 0;
    acct.used += n;
    if (acct.used > acct.peak) acct.peak = acct.used;
    return 1;
}

int rt_acct_room(int64_t n)
{
    return n <= 0 || acct.used + n <= acct.limit;
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
    acct.used -= (int64_t)p->nslots * PAGE;
    free(p->buf);
    free(p->slots);
    free(p);
}

static inline uint32_t *slot_at(struct rt_pipe *p, uint32_t i)
{
    return &p->slots[(p->s_head + i) % p->s_cap];
}

/* Room for the slot ring of the capacity (cap / PAGE entries; at least the occupied
 * ones), keeping their order. */
static int slots_fit(struct rt_pipe *p, uint32_t want)
{
    if (want < p->nslots) want = p->nslots;
    if (want == p->s_cap) return 0;
    uint32_t *n = malloc((size_t)(want ? want : 1) * sizeof *n);
    if (!n) return -ENOMEM;
    for (uint32_t i = 0; i < p->nslots; i++) n[i] = *slot_at(p, i);
    free(p->slots);
    p->slots = n;
    p->s_cap = want;
    p->s_head = 0;
    return 0;
}

/* Room in the buffer for n more bytes at its end (the caller checked they fit the
 * capacity's slots). */
static int buf_room(struct rt_pipe *p, uint32_t n)
{
    uint64_t need = (uint64_t)p->size + n;
    if (p->head + need <= p->alloc) return 0;
    if (need <= p->alloc) {
        memmove(p->buf, p->buf + p->head, p->size);
        p->head = 0;
        return 0;
    }
    uint64_t a = p->alloc ? (uint64_t)p->alloc * 2 : 16384;
    while (a < need) a *= 2;
    if (a > (uint64_t)p->cap + PAGE) a = need;  /* (an unpop can pass cap by < a page) */
    if (p->head) {
        memmove(p->buf, p->buf + p->head, p->size);
        p->head = 0;
    }
    unsigned char *b = realloc(p->buf, a);
    if (!b) return -ENOMEM;
    p->buf = b;
    p->alloc = (uint32_t)a;
    return 0;
}

static inline int pipe_full(const struct rt_pipe *p) { return p->nslots >= p->cap / PAGE; }

/* New slots for bytes done..n of a write, the first taking up to first bytes and each
 * other a page, while slots are free and the account takes a page; the count stored in
 * all (the caller adds the bytes). */
static uint32_t fill(struct rt_pipe *p, uint32_t n, uint32_t done, uint32_t first)
{
    uint32_t take = first;
    while (done < n && !pipe_full(p)) {
        if (p->s_cap < p->cap / PAGE && slots_fit(p, p->cap / PAGE) < 0) break;
        if (!rt_acct_charge(PAGE)) break;
        uint32_t k = n - done < take ? n - done : take;
        *slot_at(p, p->nslots++) = k;
        done += k;
        take = PAGE;
    }
    return done;
}

uint32_t rt_pipe_push(struct rt_pipe *p, const void *data, uint32_t n, int64_t file_off)
{
    uint32_t done = 0;
    /* room for what can go in: the last slot's tail and the free slots (a file's pages:
     * the free slots from its offset's place in its page) */
    uint32_t most = file_off < 0 ? rt_pipe_free_bytes(p) : rt_pipe_page_room(p, (uint64_t)file_off);
    if (!most || buf_room(p, n < most ? n : most) < 0) return 0;
    if (file_off < 0) {
        /* pipe_write: the sub-page remainder into the last slot if it fits there whole */
        uint32_t part = n & (PAGE - 1);
        if (part && p->nslots && p->tail_merge) {
            uint32_t *last = slot_at(p, p->nslots - 1);
            if (*last + part <= PAGE) {
                *last += part;
                done = part;
            }
        }
        done = fill(p, n, done, PAGE);
    } else {
        /* a regular file's pages, spliced: a new slot per file page */
        done = fill(p, n, 0, PAGE - (uint32_t)(file_off % PAGE));
    }
    if (done) {
        memcpy(p->buf + p->head + p->size, data, done);
        p->size += done;
        p->tail_merge = file_off < 0;
    }
    return done;
}

uint32_t rt_pipe_fits(const struct rt_pipe *p, uint32_t n)
{
    /* What rt_pipe_push(p, n bytes, -1) would store whole: the merged remainder, then a
     * slot a page for the rest, each free and each a page the account takes. */
    uint32_t rest = n;
    uint32_t part = n & (PAGE - 1);
    if (part && p->nslots && p->tail_merge
        && p->slots[(p->s_head + p->nslots - 1) % p->s_cap] + part <= PAGE)
        rest -= part;
    uint64_t slots = (rest + PAGE - 1) / PAGE;
    return p->nslots + slots <= p->cap / PAGE
        && (slots == 0 || acct.used + (int64_t)(slots * PAGE) <= acct.limit);
}

uint32_t rt_pipe_peek(const struct rt_pipe *p, void *out, uint32_t n)
{
    uint32_t k = n < p->size ? n : p->size;
    if (k) memcpy(out, p->buf + p->head, k);
    return k;
}

uint32_t rt_pipe_pop(struct rt_pipe *p, void *out, uint32_t n)
{
    uint32_t k = n < p->size ? n : p->size;
    if (out && k) memcpy(out, p->buf + p->head, k);
    p->head += k;
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
    if (!p->size) {
        free(p->buf);
        p->buf = NULL;
        p->head = p->alloc = 0;
    }
    return k;
}

int rt_pipe_unpop(struct rt_pipe *p, const void *data, uint32_t n)
{
    /* Bytes just popped go back in front (their copy-out failed); the last slot, and
     * so tail_merge, stays what it was. */
    if (!n) return 0;
    if (p->head < n) {
        if (buf_room(p, n) < 0) return -ENOMEM;
        if (p->size) memmove(p->buf + n, p->buf + p->head, p->size);
        p->head = n;
    }
    p->head -= n;
    memcpy(p->buf + p->head, data, n);
    p->size += n;
    if (p->nslots && *slot_at(p, 0) + n <= PAGE) {
        *slot_at(p, 0) += n;
        return 0;
    }
    uint32_t want = p->nslots + (n + PAGE - 1) / PAGE;
    if (want > p->s_cap && slots_fit(p, want) < 0) return -ENOMEM;
    for (uint32_t left = n; left;) {
        uint32_t c = left % PAGE ? left % PAGE : PAGE;
        p->s_head = (p->s_head + p->s_cap - 1) % p->s_cap;
        p->slots[p->s_head] = c;
        p->nslots++;
        acct.used += PAGE;
        if (acct.used > acct.peak) acct.peak = acct.used;
        left -= c;
    }
    return 0;
}

void rt_pipe_discard(struct rt_pipe *p)
{
    acct.used -= (int64_t)p->nslots * PAGE;
    p->nslots = p->s_head = 0;
    p->size = p->head = p->alloc = 0;
    free(p->buf);
    p->buf = NULL;
    p->tail_merge = 1;
    p->cap = DEFAULT_CAP;
}

int rt_pipe_resize(struct rt_pipe *p, uint32_t cap)
{
    if (cap < PAGE || cap / PAGE < p->nslots) return -EBUSY;
    p->cap = cap;
    return p->s_cap > cap / PAGE ? slots_fit(p, cap / PAGE) : 0;
}

uint32_t rt_pipe_free_bytes(const struct rt_pipe *p)
{
    uint32_t tail = 0;
    if (p->nslots && p->tail_merge)
        tail = PAGE - p->slots[(p->s_head + p->nslots - 1) % p->s_cap];
    uint32_t slots = p->cap / PAGE;
    return tail + (slots > p->nslots ? (slots - p->nslots) * PAGE : 0);
}

uint32_t rt_pipe_page_room(const struct rt_pipe *p, uint64_t file_off)
{
    uint32_t slots = p->cap / PAGE;
    if (slots <= p->nslots) return 0;
    return (slots - p->nslots) * PAGE - (uint32_t)(file_off % PAGE);
}
