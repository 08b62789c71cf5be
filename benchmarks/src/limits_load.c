/* The loads of benchmarks/limits.py, run inside the sandbox.  Each does its work, prints
 * "READY <detail>" and waits for a line on stdin (the benchmark reads the sentry's memory
 * meanwhile), then undoes what it can and exits.
 *
 *   limits_load files N DIR     create N empty files in DIR (100 subdirectories)
 *   limits_load parked N        N threads, each blocked in read(2) on one pipe
 *   limits_load churn N         N children (with a thread each) made and reaped in turn
 *   limits_load walk N DIR [T]  stat every entry under DIR, again and again, and as
 *                               many lookups of names that do not exist, until N
 *                               lookups were made (first T files made there, as above)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void wait_line(void) {
    char buf[64];
    if (read(0, buf, sizeof buf) < 0) perror("read stdin");
}

/* n empty files in 100 subdirectories of dir; the count made */
static long make_files(long n, const char *dir) {
    char path[4096];
    for (int d = 0; d < 100; d++) {
        snprintf(path, sizeof path, "%s/d%d", dir, d);
        if (mkdir(path, 0755) && errno != EEXIST) { perror(path); return 0; }
    }
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/d%ld/file-with-a-name-of-some-length-%ld", dir, i % 100, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) { fprintf(stderr, "%s: %s\n", path, strerror(errno)); return i; }
        close(fd);
    }
    return n;
}

static int files(long n, const char *dir) {
    long made = make_files(n, dir);
    printf("READY %ld files\n", made);
    fflush(stdout);
    wait_line();
    return 0;
}

static int pipefd[2];

static void *reader(void *arg) {
    char c;
    (void)arg;
    if (read(pipefd[0], &c, 1) != 1) perror("read");
    return NULL;
}

static int parked(long n) {
    if (pipe(pipefd)) return 1;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    pthread_t *t = calloc(n, sizeof *t);
    long made = 0;
    for (; made < n; made++) {
        int rc = pthread_create(&t[made], &a, reader, NULL);
        if (rc) { fprintf(stderr, "pthread_create: %s\n", strerror(rc)); break; }
    }
    usleep(500 * 1000);  /* let the last ones reach their read */
    printf("READY %ld parked reads\n", made);
    fflush(stdout);
    wait_line();
    /* one byte per reader releases every one of them */
    char *ones = calloc(made, 1);
    long off = 0;
    while (off < made) {
        ssize_t w = write(pipefd[1], ones + off, made - off);
        if (w < 0) { perror("write"); return 1; }
        off += w;
    }
    for (long i = 0; i < made; i++) pthread_join(t[i], NULL);
    return 0;
}

/* n children made and reaped one after another, each running a thread too */
static void *nothing(void *arg) { return arg; }

static int churn(long n) {
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) { perror("fork"); return 1; }
        if (c == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, nothing, NULL) == 0) pthread_join(t, NULL);
            _exit(0);
        }
        if (waitpid(c, NULL, 0) < 0) { perror("waitpid"); return 1; }
    }
    printf("READY %ld processes made and reaped\n", n);
    fflush(stdout);
    wait_line();
    return 0;
}

static long lookups;

static void walk(const char *dir, long limit) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;
    if (!d) return;
    while ((e = readdir(d)) != NULL && lookups < limit) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        lookups++;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) walk(path, limit);
        /* and a name that is not there */
        snprintf(path, sizeof path, "%s/%s.missing%ld", dir, e->d_name, lookups);
        lookups++;
        lstat(path, &st);
    }
    closedir(d);
}

static int walks(long n, const char *dir, long tree) {
    int rounds = 0;
    if (tree && make_files(tree, dir) != tree) return 1;
    while (lookups < n) {
        long before = lookups;
        walk(dir, n);
        rounds++;
        if (lookups == before) break;
    }
    printf("READY %ld lookups in %d walks\n", lookups, rounds);
    fflush(stdout);
    wait_line();
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "files") && argc > 3) return files(n, argv[3]);
    if (!strcmp(argv[1], "parked")) return parked(n);
    if (!strcmp(argv[1], "churn")) return churn(n);
    if (!strcmp(argv[1], "walk") && argc > 3) return walks(n, argv[3], argc > 4 ? atol(argv[4]) : 0);
    return 2;
}
