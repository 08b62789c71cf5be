/*
 * pipe_stream.c -- bytes streamed through pipes between processes: writes of every size
 * (below, at and past PIPE_BUF, past the pipe), sendfile of a file into the pipe, reads
 * of every size, a reader that polls, a reader that is slower than its writer, and the
 * writer's SIGPIPE when the reader goes.  The sandbox serves a pipe's calls in C while
 * nothing waits on it and in Python otherwise, so a stream crosses between the two all
 * the time: a lost wake-up hangs, a byte lost or doubled changes the checksums.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
#include <sys/sendfile.h>

static off_t file_size;

static uint64_t rng = 88172645463325252ULL;
static unsigned next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)rng;
}

static const size_t sizes[] = {1, 17, 512, 4095, 4096, 4097, 5000, 8192, 65536, 70000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* FNV-1a over the stream */
static uint64_t mix(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static unsigned char wbuf[70000];

/* Writes 600 chunks of the sizes above (every third a sendfile of the file from where
 * it is, which moves its offset), then closes; returns the checksum of what it sent. */
static uint64_t produce(int w, int file, uint64_t *sent)
{
    uint64_t h = 14695981039346656037ULL;
    *sent = 0;
    for (int i = 0; i < 600; i++) {
        size_t n = sizes[next() % NSIZES];
        if (i % 3 == 2) {
            off_t at = lseek(file, 0, SEEK_CUR);
            if (at >= file_size) lseek(file, at = 0, SEEK_SET);
            ssize_t k = sendfile(w, file, NULL, n);
            if (k <= 0) return 0;
            unsigned char *back = malloc((size_t)k);
            if (pread(file, back, (size_t)k, at) != k) return 0;
            h = mix(h, back, (size_t)k);
            free(back);
            *sent += (uint64_t)k;
            continue;
        }
        for (size_t j = 0; j < n; j++) wbuf[j] = (unsigned char)next();
        size_t done = 0;
        while (done < n) {
            ssize_t k = write(w, wbuf + done, n - done);
            if (k <= 0) return 0;
            done += (size_t)k;
        }
        h = mix(h, wbuf, n);
        *sent += n;
    }
    return h;
}

/* Reads to the end, in chunks of the sizes above; with use_poll, polls before each. */
static uint64_t consume(int r, int use_poll, int slow, uint64_t *got)
{
    static unsigned char rbuf[70000];
    uint64_t h = 14695981039346656037ULL;
    *got = 0;
    for (int i = 0;; i++) {
        if (use_poll) {
            struct pollfd p = {r, POLLIN, 0};
            if (poll(&p, 1, 10000) != 1) return 0;
        }
        if (slow && i % 8 == 0) usleep(200);
        ssize_t k = read(r, rbuf, sizes[next() % NSIZES]);
        if (k < 0) return 0;
        if (k == 0) break;
        h = mix(h, rbuf, (size_t)k);
        *got += (uint64_t)k;
    }
    return h;
}

static void stream(const char *label, int file, int use_poll, int slow_reader)
{
    int p[2], res[2];
    if (pipe(p) || pipe(res)) { printf("%s: FATAL pipe\n", label); return; }
    uint64_t seed = rng;
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        close(res[0]);
        uint64_t got, h = consume(p[0], use_poll, slow_reader, &got);
        uint64_t out[2] = {h, got};
        if (write(res[1], out, sizeof out) != (ssize_t)sizeof out) _exit(2);
        _exit(0);
    }
    close(p[0]);
    close(res[1]);
    rng = seed ^ 0x5bd1e995;   /* the writer's sizes differ from the reader's */
    lseek(file, 0, SEEK_SET);
    uint64_t sent, h = produce(p[1], file, &sent);
    close(p[1]);
    uint64_t back[2] = {0, 0};
    ssize_t k = read(res[0], back, sizeof back);
    int st = 0;
    waitpid(child, &st, 0);
    close(res[0]);
    /* (how much a sendfile moves depends on how full the pipe is: only the sums match) */
    printf("%s: all read %s, same bytes %s, reader %d\n", label,
           k == (ssize_t)sizeof back && sent && back[1] == sent ? "yes" : "no",
           k == (ssize_t)sizeof back && h && back[0] == h ? "yes" : "no",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static volatile sig_atomic_t got_pipe;
static void on_pipe(int s) { (void)s; got_pipe++; }

/* A read parked on an empty pipe whose buffer goes away before bytes come: EFAULT, and the
 * bytes stay in the pipe. */
static int fault_pipe[2];
static char *fault_area;
static long fault_ret;
static int fault_errno;
static void *park_in_area(void *arg)
{
    (void)arg;
    errno = 0;
    fault_ret = read(fault_pipe[0], fault_area, 100);
    fault_errno = errno;
    return NULL;
}

/* A thread execs while the leader is parked reading a pipe, and bytes come after: the new
 * program (at the leader's task id) finds its memory untouched and the bytes in the pipe.
 * The leader reads into a global the new program has at the same address (static builds). */
static char target[100];
static char *self_path;
static int exec_pipe[2];
static void *exec_soon(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", exec_pipe[0]);
    execl(self_path, self_path, "after-exec", fd, (char *)NULL);
    return NULL;
}

static int after_exec(const char *fd_arg)
{
    int fd = atoi(fd_arg);
    usleep(500 * 1000);           /* the writer wrote at 300 ms */
    int untouched = 1;
    for (size_t i = 0; i < sizeof target; i++) untouched &= target[i] == 0;
    T("after exec: memory untouched", untouched);
    char buf[16] = {0};
    R("after exec: the bytes are in the pipe", read(fd, buf, sizeof buf));
    printf("after exec: read %s\n", buf);
    return 0;
}

int main(int argc, char **argv)
{
    out_init();
    if (argc > 2 && strcmp(argv[1], "after-exec") == 0) return after_exec(argv[2]);
    /* the input sendfile reads: this program's own file, one the sandbox did not write
     * (a file of its image, which the C path takes) */
    int file = open(argv[0], O_RDONLY);
    file_size = lseek(file, 0, SEEK_END);
    T("a file to send", file >= 0 && file_size > 8192);

    stream("plain reader", file, 0, 0);
    stream("polling reader", file, 1, 0);
    stream("slow reader", file, 0, 1);

    /* the reader goes while the writer writes: SIGPIPE and EPIPE, not a lost write */
    signal(SIGPIPE, on_pipe);
    int p[2];
    R("pipe", pipe(p));
    R("write before the reader goes", write(p[1], wbuf, 100));
    close(p[0]);
    R("write after the reader went", write(p[1], wbuf, 100));
    R("sendfile after the reader went", sendfile(p[1], file, NULL, 100));
    R("SIGPIPEs", got_pipe);
    close(p[1]);

    R("pipe for a fault", pipe(fault_pipe));
    fault_area = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t reader;
    pthread_create(&reader, NULL, park_in_area, NULL);
    usleep(100 * 1000);
    munmap(fault_area, 4096);
    R("write to the parked reader", write(fault_pipe[1], "hello", 5));
    pthread_join(reader, NULL);
    printf("read into a buffer unmapped while it waited: %ld %s\n", fault_ret,
           fault_ret < 0 ? en(fault_errno) : "");
    char left[16];
    R("the bytes stayed", read(fault_pipe[0], left, sizeof left));

    /* last: the process goes on as the program it execs */
    fflush(stdout);
    self_path = argv[0];
    R("pipe for an exec", pipe(exec_pipe));
    pid_t writer = fork();
    if (writer == 0) {
        usleep(300 * 1000);
        _exit(write(exec_pipe[1], "world", 5) == 5 ? 0 : 1);
    }
    pthread_t execer;
    pthread_create(&execer, NULL, exec_soon, NULL);
    read(exec_pipe[0], target, sizeof target);   /* parked until the exec ends it */
    printf("FATAL: the leader's read returned\n");
    return 1;
}
