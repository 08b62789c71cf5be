"""cffi build script (out-of-line API mode) for ``sentry._native``.

Only :mod:`sentry.platform.hybrid.native` imports the result.  The cdef mirrors
``native/include/rt.h``; ``tests/native`` checks the struct layout.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef(
    """
    #define RT_EV_NOTIF 1
    #define RT_EV_PTRACE 2
    #define RT_EV_FD 3
    #define RT_EV_TIMEOUT 4
    #define RT_EV_ERROR 5
    #define RT_FD_READ 1
    #define RT_FD_WRITE 2
    #define RT_FD_SEEK 4
    #define RT_FD_STAT 8
    #define RT_FD_BLOB 16
    #define RT_FD_EOF 32
    #define RT_FD_NOTTY 64
    #define RT_FD_DIRC 128
    #define RT_FD_NULL 256
    #define RT_FD_FILEC 512
    #define RT_FD_PIPE_R 1024
    #define RT_FD_PIPE_W 2048
    #define RT_FD_MAP 4096
    #define RT_FD_MAPX 8192
    struct rt_pipe {
        uint32_t size; uint32_t cap; uint32_t nslots; int32_t tail_merge;
        int32_t readers; int32_t writers; int32_t watched;
        unsigned char *buf; uint32_t head, alloc; uint32_t *slots; uint32_t s_head, s_cap;
        int32_t w_on, w_listener; uint32_t w_pid, w_pad; uint64_t w_id, w_addr, w_n;
        int32_t wr_on, wr_listener; uint32_t wr_pid; int32_t wr_nr, wr_fd, wr_pad;
        uint64_t wr_id, wr_a[3];
    };
    struct rt_acct { int64_t limit, used, peak; };
    struct rt_acct *rt_acct(void);
    struct rt_pipe *rt_pipe_new(void);
    void rt_pipe_free(struct rt_pipe *p);
    uint32_t rt_pipe_push(struct rt_pipe *p, const void *data, uint32_t n, int64_t file_off);
    uint32_t rt_pipe_fits(const struct rt_pipe *p, uint32_t n, int64_t file_off);
    uint32_t rt_pipe_peek(const struct rt_pipe *p, void *out, uint32_t n);
    uint32_t rt_pipe_pop(struct rt_pipe *p, void *out, uint32_t n);
    int rt_pipe_unpop(struct rt_pipe *p, const void *data, uint32_t n);
    void rt_pipe_discard(struct rt_pipe *p);
    int rt_pipe_resize(struct rt_pipe *p, uint32_t cap);
    uint32_t rt_pipe_free_bytes(const struct rt_pipe *p);
    uint32_t rt_pipe_page_room(const struct rt_pipe *p, uint64_t file_off);
    int rt_pipe_wait(struct rt_pipe *p, int listener, uint64_t id, int pid, uint64_t addr,
                     uint64_t n);
    int rt_pipe_wait_write(struct rt_pipe *p, int listener, uint64_t id, int pid, int nr, int fd,
                           uint64_t a1, uint64_t a2, uint64_t a3);
    int64_t rt_pipe_unwait(struct rt_pipe *p, int listener, uint64_t id);
    int rt_pipe_done_pop(int *listener, uint64_t *id, int *kicked, uint64_t *done);
    struct rt_event {
        int32_t kind; int32_t err;
        uint64_t id; uint32_t pid; int32_t nr; uint32_t arch; int32_t listener;
        uint64_t ip; uint64_t args[6];
        int32_t wpid; int32_t wstatus;
        uint64_t token; uint32_t events; uint32_t _pad2;
    };
    #define RT_JOIN_NS 5
    int rt_spawn_task(int stub_fd, const void *bpf, int bpf_len, int nsflags,
                      const int *join_fds, unsigned int host_id,
                      const uint64_t *rlimits, int nrlimits, int *out_pid,
                      int *out_listener, int *out_bad_rlimit);
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
    int rt_loop_init(void);
    int rt_loop_add_listener(int listener);
    int rt_loop_add_fd(int fd, uint32_t events, uint64_t token);
    int rt_loop_mod_fd(int fd, uint32_t events, uint64_t token);
    int rt_loop_del_fd(int fd);
    #define RT_TOK_WATCH 4294967296
    int rt_loop_take_watched(uint64_t *tokens, uint32_t *events, int max);
    int rt_next_event(struct rt_event *ev, int timeout_ms);
    int rt_respond(int listener, uint64_t id, int64_t val, int32_t error, uint32_t flags);
    int rt_notif_id_valid(int listener, uint64_t id);
    int rt_getcpu(void);
    int rt_addfd(int listener, uint64_t id, int srcfd, int newfd, uint32_t newfd_flags);
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
    int rt_fd_set_dir_key(int fdt, int fd, uint64_t base, const char *prefix, int plen,
                          uint32_t gen);
    int rt_fd_set_eof(int fdt, int fd, int on);
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
    #define RT_SC_STAT 0
    #define RT_SC_STATX 1
    int rt_statcache_put(int kind, uint64_t base, int nofollow, const char *path, int len,
                         const void *st, int err, uint32_t gen, uint64_t err_ino);
    int rt_statcache_put_link(uint64_t base, const char *path, int len, const void *target,
                              int tlen, int err, uint32_t gen, uint64_t err_ino);
    int rt_statcache_put_dir(uint64_t base, const char *prefix, int len, const char *names,
                             int names_len, uint32_t gen, uint64_t ino);
    int rt_fd_set(int fdt, int fd, int host_fd, int kinds, uint64_t dev, uint32_t uid, uint32_t gid);
    int rt_fd_clear(int fdt, int fd);
    int rt_fd_set_pipe(int fdt, int fd, struct rt_pipe *p, int kinds, const int32_t *nonblock);
    int rt_fdt_clear(int fdt);
    int rt_closed_pop(int *fdt, int *fd);
    int rt_statcache_put_dirc(uint64_t base, const char *path, int plen, const void *st,
                              uint64_t parent_ino, uint64_t dev, uint64_t mnt_id,
                              const unsigned char *wire, uint32_t wire_len, int count,
                              uint32_t gen, int filled);
    int rt_statcache_put_wire_statx(uint64_t base, const char *prefix, int plen,
                                    const unsigned char *wire, uint32_t wire_len, int max,
                                    uint64_t dev, const char *skip, int skip_len, uint32_t gen,
                                    uint64_t mnt_id, uint64_t ino);
    void rt_statcache_want_statx(void);
    int rt_statcache_put_dirc_child(uint64_t base, const char *parent, int plen,
                                    const char *name, int nlen, const unsigned char *wire,
                                    uint32_t wire_len, int count, uint32_t gen);
    void rt_dirc_enable(int on);
    void rt_posix_locks(void);
    int rt_fd_used(int fdt, int fd, int on);
    int rt_fdt_set_limit(int fdt, int limit);
    int rt_opened_pop(int *fdt, int *fd, uint64_t *serial);
    int rt_mapped_pop(int *tid, int *fdt, int *fd, uint64_t *hdev, uint64_t *hino, char *path,
                      uint64_t *base, int *flags, uint32_t *gen);
    void rt_filec_mapx(int on);
    #define RT_DIRC_FDS 8
    int rt_dirc_info(int fdt, uint64_t serial, int *tid, char *path, int *flags,
                     uint32_t *index, int *at_end, int *fds, int *cloexec, int *nfds);
    void rt_reopen_cap(int n);
    void rt_fetch_setup(int sock, uint32_t root_handle, uint64_t dev);
    void rt_fetch_pause(int paused);
    int rt_fetch_broken(void);
    void rt_fetch_place(uint64_t key, const char *path, int len);
    uint64_t rt_fetch_count(int failures);
    int rt_fetch_settle(void);
    uint64_t rt_fetch_ahead_count(int used);
    int rt_reopen_put(uint64_t base, int nofollow, const char *path, int len, uint32_t gen,
                      int fd, uint64_t ino, uint32_t mode, uint64_t dev, uint32_t uid,
                      uint32_t gid);
    int rt_reopen_take(uint64_t base, int nofollow, const char *path, int len, uint32_t gen);
    int rt_filec_info(int fdt, int fd, uint64_t serial, int *tid, char *path, int *flags,
                      int *host_fd, uint64_t *base, uint32_t *gen, uint64_t *ino);
    uint64_t rt_stat_fast(void);
    uint64_t rt_stat_slow(void);
    int rt_stat_fast_nr(uint64_t *out, int n);
    int rt_stat_gofer_nr(uint64_t *requests, uint64_t *ns, int n);
    int rt_fast_call(uint32_t pid, int nr, const uint64_t *args, int64_t *ret);
    #define RT_FAST_CONTINUE 2
    #define RT_FAST_PARKED 3
    int rt_parked_pop(int *listener, uint64_t *id, uint32_t *pid, int *nr, uint64_t *args,
                      uint64_t *done, struct rt_pipe **pipe);
    int64_t rt_mem_read(int pid, uint64_t addr, void *buf, uint64_t n);
    int64_t rt_mem_write(int pid, uint64_t addr, const void *buf, uint64_t n);
    int64_t rt_read_strv(int pid, uint64_t addr, uint64_t max_total, uint64_t max_str,
                         char *out, uint64_t out_cap, uint32_t *count);
    int rt_seize(int pid, int options);
    int rt_cont(int pid, int sig);
    int64_t rt_tee(int fd_in, int fd_out, uint64_t len, unsigned int flags);
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
    struct rt_listing {
        char *data; uint64_t len; uint32_t *ends; uint32_t count; uint32_t _pad;
        char *subdirs; uint64_t subdirs_len;
    };
    int rt_list_stat(int fd, uint64_t dev, struct rt_listing *out);
    void rt_listing_free(struct rt_listing *l);
    int rt_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve, uint64_t mode);
    int rt_tgkill(int tgid, int tid, int sig);
    int rt_sigqueue(int tgid, int tid, int sig, int code, int spid, int suid);
    """
)
ffibuilder.set_source(
    "sentry._native",
    '#include "rt.h"',
    sources=[str(Path("native/src/rt.c")), str(Path("native/src/listing.c")),
             str(Path("native/src/pipe.c"))],
    include_dirs=[str(Path("native/include"))],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
