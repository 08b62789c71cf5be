/* runsc-py native runtime: trap/dispatch loop, task start, ptrace and memory
 * helpers, C fast handlers.  The cdef in native/sentry_native_build.py mirrors
 * the declarations marked "cffi" below; tests/native checks sizes/offsets. */
#ifndef RUNSC_PY_RT_H
#define RUNSC_PY_RT_H

#include <stdint.h>

/* cffi: event kinds returned by rt_next_event */
#define RT_EV_NOTIF   1   /* a trapped syscall Python must answer */
#define RT_EV_PTRACE  2   /* a waitpid() status of a tracee (or any child) */
#define RT_EV_FD      3   /* a registered host fd is ready */
#define RT_EV_TIMEOUT 4
#define RT_EV_ERROR   5   /* err holds errno */

/* cffi */
struct rt_event {
    int32_t kind;
    int32_t err;
    /* RT_EV_NOTIF */
    uint64_t id;
    uint32_t pid;          /* host tid, in the sentry's pid namespace */
    int32_t nr;
    uint32_t arch;
    int32_t listener;      /* the listener fd to answer on */
    uint64_t ip;
    uint64_t args[6];
    /* RT_EV_PTRACE */
    int32_t wpid;
    int32_t wstatus;
    /* RT_EV_FD */
    uint64_t token;
    uint32_t events;
    uint32_t _pad2;
};

/* cffi: the fast path's view of one sandbox thread */
struct rt_task_info {
    int32_t tid, tgid, ppid;
    int32_t fdt;           /* fd table id, -1: none */
    uint64_t cwd_key;      /* the stat cache's key of its cwd (rt_task_set_fs) */
    int32_t root_ok;       /* its root is the sandbox's: the stat cache may answer */
    int32_t search_all;    /* may search any directory (CAP_DAC_*): the cache's key has it */
    int32_t ids_ok;        /* uid..egid hold the task's (rt_task_set_ids): getuid & co. */
    uint32_t uid, euid, gid, egid;
    int32_t stack_ok;      /* stack_cur/max hold its RLIMIT_STACK (rt_task_set_stack_limit) */
    int32_t sa_ok;         /* sa_forced holds its process's (rt_task_set_sa_forced) */
    uint64_t stack_cur, stack_max;
    uint64_t sa_forced;    /* bit sig-1: the sentry keeps that handler's copy (SA_RESTART) */
    uint64_t sa_restart;   /* bit sig-1: the workload's handler has its own SA_RESTART */
    int32_t access_ok;     /* access(2)'s permission question is C's (rt_task_set_ids) */
    uint32_t access_caps;  /* the capabilities access(2) uses: RT_ACCESS_DAC_* */
};

/* access_caps: the capabilities access(2) uses (permissions.access_caps) */
#define RT_ACCESS_DAC_OVERRIDE    1
#define RT_ACCESS_DAC_READ_SEARCH 2

/* fd kinds the C fast path serves (Python marks them) */
#define RT_FD_READ   1     /* read/pread64 go to the host fd */
#define RT_FD_WRITE  2     /* write goes to the host fd */
#define RT_FD_SEEK   4     /* lseek goes to the host fd */
#define RT_FD_STAT   8     /* fstat is the host fd's fstat */
#define RT_FD_BLOB  16     /* fstat is a stat answer Python left (rt_fd_set_blob) */
#define RT_FD_EOF   32     /* getdents64 returns 0 (a listing read to its end) */
#define RT_FD_NOTTY 64     /* terminal ioctls are ENOTTY (with RT_FD_SEEK: a regular file) */
#define RT_FD_DIRC 128     /* a directory C opened: getdents64 from its records, close in C */
#define RT_FD_NULL 256     /* write swallows the bytes unread: /dev/null, /dev/zero */
#define RT_FD_FILEC 512    /* a regular file C re-opened from a kept host fd (sc_open_file) */
#define RT_FD_PIPE_R 1024  /* a sandbox pipe's read end: read from its buffer (rt_fd_set_pipe) */
#define RT_FD_PIPE_W 2048  /* its write end: write, and sendfile of a gofer file into it */
#define RT_FD_MAP 4096     /* mmap lends the host fd (a gofer regular file: sys_mm.mmap_file's) */
#define RT_FD_MAPX 8192    /* ... with PROT_EXEC too (not on a noexec mount) */

/* cffi: a sandbox pipe's buffer (native/src/pipe.c); Python's Pipe holds one.  Python reads
 * the first three fields and sets readers and watched; the rest is pipe.c's. */
struct rt_pipe {
    uint32_t size;         /* bytes held */
    uint32_t cap;          /* capacity: a power-of-two number of pages (F_SETPIPE_SZ) */
    uint32_t nslots;       /* occupied slots (pages of the ring) */
    int32_t tail_merge;    /* a write may add to the last slot (not a file's page) */
    int32_t readers;       /* descriptions that read it (Python's count) */
    int32_t writers;       /* descriptions that write it (Python's count) */
    int32_t watched;       /* its wait queue has subscribers: C leaves its calls to Python */
    unsigned char *buf;    /* the bytes: a ring of alloc bytes from head; NULL while empty */
    uint32_t head, alloc;
    uint32_t *slots;       /* ring of each occupied slot's byte count */
    uint32_t s_head, s_cap;
    /* a read(2) parked on the pipe, which C completes when it puts bytes in
     * (rt_pipe_wait: rt.c) */
    int32_t w_on, w_listener;
    uint32_t w_pid, w_pad;
    uint64_t w_id, w_addr, w_n;
    /* a write(2) or sendfile(2) parked on the full pipe, which C completes when its
     * reads make room (rt_pipe_wait_write: rt.c); wr_a: a write's rest (where, how
     * long) and the bytes of it that went, a sendfile's arguments 1-3 */
    int32_t wr_on, wr_listener;
    uint32_t wr_pid;
    int32_t wr_nr, wr_fd, wr_pad;
    uint64_t wr_id, wr_a[3];
};
/* cffi: the sandbox's memory account (sentry/kernel/memacct.py's ACCOUNT keeps its
 * numbers here, so that C charges pipe pages to the same account) */
struct rt_acct {
    int64_t limit, used, peak;
};
struct rt_acct *rt_acct(void);
struct rt_pipe *rt_pipe_new(void);
void rt_pipe_free(struct rt_pipe *p);
/* store what fits of n bytes (file_off < 0: a write; else a regular file's bytes from
 * file_off, spliced: a slot per file page); the count stored */
uint32_t rt_pipe_push(struct rt_pipe *p, const void *data, uint32_t n, int64_t file_off);
/* whether n bytes go in whole (slots and account; file_off as rt_pipe_push's) */
uint32_t rt_pipe_fits(const struct rt_pipe *p, uint32_t n, int64_t file_off);
/* how much of n bytes a push would store now (rt_pipe_push's count, nothing stored) */
uint32_t rt_pipe_push_room(const struct rt_pipe *p, uint32_t n, int64_t file_off);
uint32_t rt_pipe_peek(const struct rt_pipe *p, void *out, uint32_t n);
uint32_t rt_pipe_pop(struct rt_pipe *p, void *out, uint32_t n);
/* pop up to n bytes into process pid's memory at addr: the count, 0 (nothing taken) if
 * they could not all be written there */
uint32_t rt_pipe_pop_to(struct rt_pipe *p, int pid, uint64_t addr, uint32_t n);
/* the same, leaving them in the pipe */
uint32_t rt_pipe_copy_to(const struct rt_pipe *p, int pid, uint64_t addr, uint32_t n);
/* A read(2) of n bytes into addr by host task pid, notification id on listener, parked on
 * the pipe (Python's): C answers it when it puts bytes in and tells Python
 * (rt_pipe_done_pop).  -EBUSY: one is parked already (Python's alone then). */
int rt_pipe_wait(struct rt_pipe *p, int listener, uint64_t id, int pid, uint64_t addr,
                 uint64_t n);
/* A write(fd, buf, count) (nr SYS_write; fd the call's, a1 where in buf what is left of it starts,
 * a2 its length, a3 the bytes that went before it parked, which the answer adds) or a
 * sendfile(fd, a1 in_fd, a2 NULL, a3 count) (nr SYS_sendfile) by host task pid, parked
 * on the pipe because it was full (Python's): C completes it when one of its reads makes
 * room, as its fast path would have, and tells Python (rt_pipe_done_pop); what it cannot
 * complete once there is room it hands back.  -EBUSY: one is parked already; -EINVAL:
 * another call. */
int rt_pipe_wait_write(struct rt_pipe *p, int listener, uint64_t id, int pid, int nr, int fd,
                       uint64_t a1, uint64_t a2, uint64_t a3);
/* Python ended that wait (a read's or a write's) itself (its call answered otherwise,
 * or gone): a write's bytes that went (C puts the rest of a long one in as room comes),
 * 0 for a sendfile's, -1 for a read's or none */
int64_t rt_pipe_unwait(struct rt_pipe *p, int listener, uint64_t id);
/* The next wait C ended: its listener and id, and how (*kicked: 0 answered; 1 handed
 * back, Python retries the call: a fault, no reader left, a write C does not make;
 * 2 its notification gone, nothing to answer); *done: a write's bytes that went.
 * 0: none. */
int rt_pipe_done_pop(int *listener, uint64_t *id, int *kicked, uint64_t *done);
int rt_pipe_unpop(struct rt_pipe *p, const void *data, uint32_t n);
void rt_pipe_discard(struct rt_pipe *p);
int rt_pipe_resize(struct rt_pipe *p, uint32_t cap);
uint32_t rt_pipe_free_bytes(const struct rt_pipe *p);
uint32_t rt_pipe_page_room(const struct rt_pipe *p, uint64_t file_off);

/* task start: fresh namespaces (nsflags), or join_fds = the sandbox's pid,
 * ipc, uts, net and mnt namespace fds (NULL for fresh ones); the task runs as
 * host uid/gid host_id with no capabilities, after its resource limits
 * (nrlimits resource, soft, hard triples) are set; *out_bad_rlimit is the
 * index of one the host refused (the error is returned). */
#define RT_JOIN_NS 5
int rt_spawn_task(int stub_fd, const void *bpf, int bpf_len, int nsflags,
                  const int *join_fds, unsigned int host_id,
                  const uint64_t *rlimits, int nrlimits, int *out_pid,
                  int *out_listener, int *out_bad_rlimit);
/* rt_spawn_task in two halves: between them the task sets itself up (namespaces,
 * root, filter, the stub's exec) while the caller goes on; *out_stack is what
 * rt_spawn_end (or rt_spawn_abandon, which kills and reaps it) releases. */
int rt_spawn_begin(int stub_fd, const void *bpf, int bpf_len, int nsflags,
                   const int *join_fds, unsigned int host_id,
                   const uint64_t *rlimits, int nrlimits, int *out_pid,
                   void **out_stack, int *out_bad_rlimit);
int rt_spawn_end(int pid, void *stack, int *out_listener);
void rt_spawn_abandon(int pid, void *stack);
int rt_spawn_prepare(int stub_fd, const void *bpf, int bpf_len, const int *join_fds,
                     unsigned int host_id, const uint64_t *rlimits, int nrlimits,
                     int *out_pid, int *out_sync, int *out_bad_rlimit);
int rt_spawn_attach(int pid, int syncfd, int *out_listener);

/* loop */
int rt_loop_init(void);
int rt_loop_add_listener(int listener);
int rt_loop_add_fd(int fd, uint32_t events, uint64_t token);
int rt_loop_mod_fd(int fd, uint32_t events, uint64_t token);
int rt_loop_del_fd(int fd);
/* cffi: token bit of host fds watched for the sandbox (their fd is the low 32 bits) */
#define RT_TOK_WATCH (1ULL << 32)
int rt_loop_take_watched(uint64_t *tokens, uint32_t *events, int max);
int rt_next_event(struct rt_event *ev, int timeout_ms);
int rt_respond(int listener, uint64_t id, int64_t val, int32_t error, uint32_t flags);
int rt_notif_id_valid(int listener, uint64_t id);
/* The CPU the calling thread runs on (sched_getcpu), -errno if unknown. */
int rt_getcpu(void);
int rt_addfd(int listener, uint64_t id, int srcfd, int newfd, uint32_t newfd_flags);

/* fast path tables */
void rt_set_fast(int nr, int on);
int rt_task_set(int host_tid, int tid, int tgid, int ppid, int fdt);
int rt_task_del(int host_tid);
int rt_task_set_fs(int host_tid, uint64_t cwd_key, int root_ok, int search_all);
int rt_task_set_ids(int host_tid, uint32_t uid, uint32_t euid, uint32_t gid, uint32_t egid,
                    int access_ok, uint32_t access_caps);
int rt_task_set_stack_limit(int host_tid, uint64_t cur, uint64_t max);
int rt_task_set_sa_forced(int host_tid, uint64_t mask, uint64_t restart);
void rt_stops_plain(int on);
int rt_fd_set_blob(int fdt, int fd, const void *st, uint32_t gen, uint32_t mnt_id);
int rt_fd_set_eof(int fdt, int fd, int on);
int rt_fd_set_dir_key(int fdt, int fd, uint64_t base, const char *prefix, int plen,
                      uint32_t gen);

/* the newfstatat/statx cache (rt.c "stat cache"; sentry/vfs/statcache.py fills it) */
void rt_statcache_bump(void);
void rt_statcache_bump_missing(void);
void rt_statcache_forget(uint64_t ino);
void rt_statcache_removed(uint64_t ino);
void rt_statcache_appeared(uint64_t dir_ino);
int rt_task_set_exe(int host_tid, const char *path, int len, uint32_t gen);
int rt_statcache_put_listing(uint64_t base, const char *prefix, int plen, const char *names,
                             int names_len, int n, const unsigned char *stats,
                             const unsigned char *statxs, const int32_t *follow,
                             const unsigned char *has, uint32_t gen, uint64_t ino);
int rt_statcache_put_wire(uint64_t base, const char *prefix, int plen,
                          const unsigned char *wire, uint32_t wire_len, int max,
                          uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                          uint64_t ino);
uint32_t rt_statcache_gen(void);
uint64_t rt_statcache_hits(void);
#define RT_SC_STAT  0     /* struct stat (newfstatat) */
#define RT_SC_STATX 1     /* struct statx */
#define RT_SC_LINK  2     /* a symlink's target (readlink) */
#define RT_SC_DIR   3     /* the names of a directory whose whole listing Python has */
#define RT_SC_DIRC  4     /* a directory C may open (its entries as the gofer sent them) */
int rt_statcache_put_dirc(uint64_t base, const char *path, int plen, const void *st,
                          uint64_t parent_ino, uint64_t dev, uint64_t mnt_id,
                          const unsigned char *wire, uint32_t wire_len, int count, uint32_t gen,
                          int filled);
int rt_statcache_put_wire_statx(uint64_t base, const char *prefix, int plen,
                                const unsigned char *wire, uint32_t wire_len, int max,
                                uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                                uint64_t mnt_id, uint64_t ino);
void rt_statcache_want_statx(void);
int rt_statcache_put_dirc_child(uint64_t base, const char *parent, int plen, const char *name,
                                int nlen, const unsigned char *wire, uint32_t wire_len,
                                int count, uint32_t gen);
void rt_dirc_enable(int on);
void rt_posix_locks(void);
int rt_fd_used(int fdt, int fd, int on);
int rt_fdt_set_limit(int fdt, int limit);
int rt_opened_pop(int *fdt, int *fd, uint64_t *serial);
#define RT_DIRC_FDS 8
int rt_dirc_info(int fdt, uint64_t serial, int *tid, char *path, int *flags, uint32_t *index,
                 int *at_end, int *fds, int *cloexec, int *nfds);
void rt_reopen_cap(int n);
void rt_fetch_setup(int sock, uint32_t root_handle, uint64_t dev);
void rt_fetch_pause(int paused);
int rt_fetch_broken(void);
void rt_fetch_place(uint64_t key, const char *path, int len);
uint64_t rt_fetch_count(int failures);
int rt_fetch_settle(void);
uint64_t rt_fetch_ahead_count(int used);
int rt_reopen_put(uint64_t base, int nofollow, const char *path, int len, uint32_t gen,
                  int fd, uint64_t ino, uint32_t mode, uint64_t dev, uint32_t uid, uint32_t gid);
int rt_reopen_take(uint64_t base, int nofollow, const char *path, int len, uint32_t gen);
int rt_filec_info(int fdt, int fd, uint64_t serial, int *tid, char *path, int *flags,
                  int *host_fd, uint64_t *base, uint32_t *gen, uint64_t *ino);
int rt_statcache_put(int kind, uint64_t base, int nofollow, const char *path, int len,
                     const void *st, int err, uint32_t gen, uint64_t err_ino);
int rt_statcache_put_link(uint64_t base, const char *path, int len, const void *target,
                          int tlen, int err, uint32_t gen, uint64_t err_ino);
int rt_statcache_put_dir(uint64_t base, const char *prefix, int len, const char *names,
                         int names_len, uint32_t gen, uint64_t ino);
int rt_fd_set(int fdt, int fd, int host_fd, int kinds, uint64_t dev, uint32_t uid, uint32_t gid);
int rt_fd_clear(int fdt, int fd);
/* the fd is a sandbox pipe's end (kinds: RT_FD_PIPE_R and/or RT_FD_PIPE_W) */
/* nonblock: the description's O_NONBLOCK, which Python keeps (0 or 1; NULL: C parks
 * none of its calls) */
int rt_fd_set_pipe(int fdt, int fd, struct rt_pipe *p, int kinds, const int32_t *nonblock);
int rt_fdt_clear(int fdt);
int rt_closed_pop(int *fdt, int *fd);
uint64_t rt_stat_fast(void);
uint64_t rt_stat_slow(void);
int rt_stat_fast_nr(uint64_t *out, int n);
int rt_stat_gofer_nr(uint64_t *requests, uint64_t *ns, int n);
/* run one C fast handler on a notification-like request, without answering:
 * returns 1 and sets *ret when handled, RT_FAST_CONTINUE when the host is to run the
 * call (SECCOMP_USER_NOTIF_FLAG_CONTINUE), 0 when it is Python's (tests compare with the
 * Python twin) */
#define RT_FAST_CONTINUE 2
/* (rt_next_event only: C parked the call on a pipe, rt_parked_pop tells Python) */
#define RT_FAST_PARKED 3
int rt_fast_call(uint32_t pid, int nr, const uint64_t *args, int64_t *ret);
/* The next call C parked on a pipe itself (a read of an empty one, a write or sendfile
 * into a full one, as Python would have): its listener, notification id, host task, number
 * and arguments, for a write the bytes of it that went (the rest waits for room), and the
 * pipe; Python makes its parked call before it handles anything else (Dispatcher.adopt).
 * 0: none. */
int rt_parked_pop(int *listener, uint64_t *id, uint32_t *pid, int *nr, uint64_t *args,
                  uint64_t *done, struct rt_pipe **pipe);

/* memory */
int64_t rt_mem_read(int pid, uint64_t addr, void *buf, uint64_t n);
int64_t rt_mem_write(int pid, uint64_t addr, const void *buf, uint64_t n);
int64_t rt_read_strv(int pid, uint64_t addr, uint64_t max_total, uint64_t max_str,
                     char *out, uint64_t out_cap, uint32_t *count);

/* tee(2) between two of the sentry's host pipes: the count, or -errno */
int64_t rt_tee(int fd_in, int fd_out, uint64_t len, unsigned int flags);

/* ptrace */
int rt_seize(int pid, int options);
int rt_cont(int pid, int sig);
int rt_syscall_cont(int pid, int sig);
int rt_listen(int pid);
int rt_interrupt(int pid);
int rt_singlestep(int pid, int sig);
int rt_getsigmask(int pid, uint64_t *mask);
int rt_setsigmask(int pid, uint64_t mask);
int rt_sigqueue_raw(int tgid, int tid, int sig, const void *info128);
int rt_getregs(int pid, uint64_t *regs27);
int rt_setregs(int pid, const uint64_t *regs27);
long rt_geteventmsg(int pid);
int rt_getsiginfo(int pid, void *buf128);
int rt_setsiginfo(int pid, const void *buf128);
long rt_ptrace(int req, int pid, uint64_t addr, uint64_t data);
int rt_fallocate(int fd, int mode, int64_t off, int64_t len);
int rt_inject(int pid, uint64_t gadget, int64_t nr, const uint64_t *args6, int64_t *result,
              int *other_sig);
int rt_inject_batch(int pid, uint64_t batch_entry, uint64_t table, uint64_t *entries, int n,
                    int *other_sig);
int rt_inject_lend(int pid, int listener, uint64_t batch_entry, uint64_t table, int64_t nr,
                   const int *fds, const int *targets, int n, int *other_sig);
int rt_waitpid(int pid, int *status, int flags);
int rt_pidfd_getfd(int pid, int targetfd);
int rt_tgkill(int tgid, int tid, int sig);
int rt_sigqueue(int tgid, int tid, int sig, int code, int spid, int suid);

/* cffi: the gofer's listing with attributes (native/src/listing.c): the entries of a
 * directory packed as gofer/protocol.py's _pack_stat_entries body, each entry's end offset
 * in data, and the names of its subdirectories on the listed device, each NUL-ended. */
struct rt_listing {
    char *data;
    uint64_t len;
    uint32_t *ends;
    uint32_t count;
    uint32_t _pad;
    char *subdirs;
    uint64_t subdirs_len;
};
int rt_list_stat(int fd, uint64_t dev, struct rt_listing *out);
void rt_listing_free(struct rt_listing *l);
/* openat2(2) with the open_how fields as arguments: the new fd or -errno (the gofer's
 * opens, listing.c). */
int rt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve, uint64_t mode);

#endif
