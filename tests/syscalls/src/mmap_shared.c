/* mmap_shared.c -- MAP_SHARED file mappings: pages shared between processes
 * and coherent with read/write/ftruncate, a futex in a shared file, POSIX
 * semaphores (/dev/shm), a read-only shared mapping of an existing file, the
 * access checks (EACCES), files that cannot be mapped (ENODEV), and the name
 * in /proc/self/maps. */
#include "check.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static long futex(int *uaddr, int op, int val)
{
    return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    int fd = open("shared_file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    MUST(fd);
    MUST(ftruncate(fd, 8192));
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T("mmap shared rw", m != MAP_FAILED);
    if (m == MAP_FAILED)
        return 1;

    /* a child's store is seen by the parent, through the mapping and read() */
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        strcpy(m, "from child");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("parent sees: %s\n", m);
    char buf[64] = {0};
    R("pread sees the store", pread(fd, buf, 10, 0));
    printf("pread: %s\n", buf);

    /* write() is seen through the mapping */
    R("pwrite", pwrite(fd, "WRITTEN", 7, 100));
    printf("mapping at 100: %.7s\n", m + 100);

    /* the file grows and shrinks under the mapping */
    MUST(ftruncate(fd, 16384));
    struct stat st;
    MUST(fstat(fd, &st));
    R("size after ftruncate", st.st_size);
    m[5000] = 'Z';
    R("pread at 5000", pread(fd, buf, 1, 5000));
    printf("byte at 5000: %c\n", buf[0]);
    R("msync", msync(m, 8192, MS_SYNC));

    /* a futex in the shared file wakes a waiter in another process */
    int *word = (int *)(m + 4096);
    *word = 0;
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == 0)
            futex(word, FUTEX_WAIT, 0);
        _exit(*word);
    }
    msleep(50);
    __atomic_store_n(word, 9, __ATOMIC_SEQ_CST);
    futex(word, FUTEX_WAKE, 1);
    int status;
    waitpid(c, &status, 0);
    R("futex waiter exit status", WEXITSTATUS(status));
    MUST(munmap(m, 8192));

    /* access checks */
    int ro = open("shared_file", O_RDONLY);
    MUST(ro);
    R("shared PROT_WRITE on O_RDONLY", mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED ? -1 : 0);
    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    T("shared PROT_READ on O_RDONLY", r != MAP_FAILED);
    if (r != MAP_FAILED)
        printf("read-only view: %s\n", r);
    int wo = open("shared_file", O_WRONLY);
    R("shared on O_WRONLY", mmap(NULL, 4096, PROT_READ, MAP_SHARED, wo, 0) == MAP_FAILED ? -1 : 0);
    int ap = open("shared_file", O_RDWR | O_APPEND);
    R("shared PROT_WRITE on O_APPEND (allowed)", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ap, 0) == MAP_FAILED ? -1 : 0);
    R("shared bad offset", mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 100) == MAP_FAILED ? -1 : 0);
    R("shared zero length", mmap(NULL, 0, PROT_READ, MAP_SHARED, ro, 0) == MAP_FAILED ? -1 : 0);
    R("shared bad fd", mmap(NULL, 4096, PROT_READ, MAP_SHARED, 77, 0) == MAP_FAILED ? -1 : 0);
    int p[2];
    MUST(pipe(p));
    R("shared pipe", mmap(NULL, 4096, PROT_READ, MAP_SHARED, p[0], 0) == MAP_FAILED ? -1 : 0);
    int pf = open("/proc/self/status", O_RDONLY);
    R("shared proc file", mmap(NULL, 4096, PROT_READ, MAP_SHARED, pf, 0) == MAP_FAILED ? -1 : 0);

    /* /proc/self/maps names the file */
    char maps[65536];
    int mf = open("/proc/self/maps", O_RDONLY);
    ssize_t n = 0, k;
    while ((k = read(mf, maps + n, sizeof maps - 1 - n)) > 0)
        n += k;
    maps[n] = 0;
    T("maps names the shared file", strstr(maps, "/shared_file") != NULL);

    /* an existing file mapped shared read-only */
    int h = open("/etc/hostname", O_RDONLY);
    MUST(h);
    MUST(fstat(h, &st));
    char *hm = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, h, 0);
    T("existing file mapped", hm != MAP_FAILED);
    MUST(pread(h, buf, st.st_size < 63 ? st.st_size : 63, 0));
    T("same bytes as read()", hm != MAP_FAILED && memcmp(hm, buf, st.st_size < 63 ? st.st_size : 63) == 0);

    /* POSIX semaphores live in shared files under /dev/shm */
    char name[64];
    snprintf(name, sizeof name, "/runsc-py-test-%d", (int)getpid());
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    T("sem_open", s != SEM_FAILED);
    fflush(stdout);
    c = fork();
    MUST(c);
    if (c == 0) {
        msleep(50);
        sem_post(s);
        _exit(0);
    }
    R("sem_wait woken by the child", sem_wait(s));
    waitpid(c, NULL, 0);
    R("sem_unlink", sem_unlink(name));

    /* once the descriptor is closed, its number reaches no file (the host fd the
     * sandbox lent the task for the mapping is not the workload's to use) */
    MUST(close(fd));
    R("shared mmap of a closed fd", mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
    R("private mmap of a closed fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0);
    R("fcntl of a closed fd", fcntl(fd, F_GETFD));
    R("read of a closed fd", read(fd, buf, 1));
    unlink("shared_file");
    return 0;
}
