/* sysv_ipc.c -- System V IPC: semaphore sets (semget/semop/semtimedop/semctl: values,
 * blocking waits woken by another process, GETNCNT/GETZCNT, EIDRM, EINTR, SEM_UNDO at
 * exit, IPC_NOWAIT, the timeout), message queues (msgget/msgsnd/msgrcv/msgctl: type
 * selection, MSG_EXCEPT, MSG_NOERROR, MSG_COPY, E2BIG, a full queue that blocks), shared memory
 * (shmget/shmat/shmdt/shmctl: pages shared across fork, nattch, address rules,
 * SHM_RDONLY, removal while attached), keys, IPC_CREAT|IPC_EXCL, and permissions for
 * an unprivileged process. */
#include "check.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/random.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

/* Keys of this run: random, since native runs share the host's IPC namespace and may run
 * side by side (no key is printed). */
static int KEY_SEM, KEY_MSG, KEY_SHM, KEY_NONE;

static void pick_keys(void)
{
    unsigned r;
    MUST(getrandom(&r, sizeof r, 0));
    int base = 0x10000000 | (int)(r & 0x0fffff00);
    KEY_SEM = base + 1;
    KEY_MSG = base + 2;
    KEY_SHM = base + 3;
    KEY_NONE = base + 0xff;
}

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static void on_usr1(int sig) { (void)sig; }

/* the child's exit status, as "exit N" or "signal N" */
/* exit with the errno of a failed call (0 on success) */
#define CHILD_RESULT(expr) _exit((expr) < 0 ? errno : 0)

static void drop_privileges(void)
{
    MUST(setresgid(1000, 1000, 1000));
    MUST(setresuid(1000, 1000, 1000));
}

/* the columns *cols* (0-based) of the /proc/sysvipc/<file> line of *key* (times vary) */
static void show_proc(const char *file, int key, const char *cols)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s: -1 %s\n", path, en(errno));
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (atoi(line) != key) /* the header reads as key 0 */
            continue;
        printf("%s:", path);
        char *save, *tok = strtok_r(line, " \n", &save);
        for (int i = 0; tok; i++, tok = strtok_r(NULL, " \n", &save))
            if (strchr(cols, 'a' + i))
                printf(" %s", i == 0 ? "key" : i == 1 ? "id" : tok);
        printf("\n");
    }
    fclose(f);
}

/* wait (up to 5 s) until *want* threads wait on semaphore *num* (GETNCNT/GETZCNT) */
static void wait_count(int id, int num, int cmd, int want)
{
    for (int i = 0; i < 500 && semctl(id, num, cmd) != want; i++)
        msleep(10);
}

/* signal *pid* until it exits (a signal that comes before it blocks just runs the handler) */
static void kill_until_exit(const char *label, pid_t pid, int sig)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0) {
        kill(pid, sig);
        msleep(20);
    }
    MUST(r);
    if (WIFEXITED(st))
        printf("%s: exit %d\n", label, WEXITSTATUS(st));
    else
        printf("%s: signal %d\n", label, WTERMSIG(st));
}

static void sems(void)
{
    int id;
    MUST(id = semget(IPC_PRIVATE, 3, 0600));
    R("semget nsems 0", semget(IPC_PRIVATE, 0, 0600));
    R("semget nsems huge", semget(IPC_PRIVATE, 100000, 0600));
    R("semget no key", semget(KEY_NONE, 1, 0600));

    int old = semget(KEY_SEM, 0, 0);
    if (old >= 0)
        semctl(old, 0, IPC_RMID);
    int kid;
    MUST(kid = semget(KEY_SEM, 2, IPC_CREAT | IPC_EXCL | 0640));
    R("semget excl again", semget(KEY_SEM, 2, IPC_CREAT | IPC_EXCL | 0640));
    T("semget same key", semget(KEY_SEM, 1, 0) == kid);
    T("semget creat existing", semget(KEY_SEM, 2, IPC_CREAT | 0600) == kid);
    R("semget more sems", semget(KEY_SEM, 3, 0));

    union semun u;
    u.val = 5;
    R("setval", semctl(id, 0, SETVAL, u));
    R("getval", semctl(id, 0, GETVAL));
    u.val = 40000;
    R("setval range", semctl(id, 0, SETVAL, u));
    u.val = -1;
    R("setval negative", semctl(id, 1, SETVAL, u));
    R("getval bad num", semctl(id, 7, GETVAL));
    T("getpid", semctl(id, 0, GETPID) == getpid());
    unsigned short all[3] = {1, 2, 3}, got[3] = {0};
    u.array = all;
    R("setall", semctl(id, 0, SETALL, u));
    u.array = got;
    R("getall", semctl(id, 0, GETALL, u));
    printf("getall values: %d %d %d\n", got[0], got[1], got[2]);

    struct sembuf op[2] = {{0, -1, IPC_NOWAIT}, {1, 1, 0}};
    R("semop two", semop(id, op, 2));
    R("semop then", semctl(id, 0, GETVAL) * 10 + semctl(id, 1, GETVAL));
    struct sembuf down2 = {0, -2, IPC_NOWAIT};
    R("semop nowait", semop(id, &down2, 1));
    T("semop nowait no change", semctl(id, 0, GETVAL) == 0 && semctl(id, 1, GETVAL) == 3);
    struct sembuf bad = {5, 1, 0};
    R("semop bad num", semop(id, &bad, 1));
    R("semop zero ops", semop(id, op, 0));
    static struct sembuf many[600];
    R("semop too many", semop(id, many, 600));
    struct sembuf zero = {1, 0, 0};
    struct timespec ts = {0, 50 * 1000000L};
    R("semtimedop timeout", semtimedop(id, &zero, 1, &ts));
    struct timespec badts = {0, 2000000000L};
    R("semtimedop bad timespec", semtimedop(id, &zero, 1, &badts));
    struct sembuf big = {1, 32767, 0};
    R("semop range", semop(id, &big, 1));
    struct sembuf seq[2] = {{2, 1, 0}, {2, -2, IPC_NOWAIT}};
    R("semop sequential", semop(id, seq, 2));  /* 3+1-2 >= 0 */
    R("semop sequential value", semctl(id, 2, GETVAL));

    /* a blocked decrement, woken by another process */
    u.val = 0;
    MUST(semctl(id, 0, SETVAL, u));
    pid_t c = fork();
    if (c == 0) {
        struct sembuf d = {0, -1, 0};
        CHILD_RESULT(semop(id, &d, 1));
    }
    wait_count(id, 0, GETNCNT, 1);
    R("getncnt", semctl(id, 0, GETNCNT));
    R("getzcnt", semctl(id, 0, GETZCNT));
    struct sembuf up = {0, 1, 0};
    R("semop wake", semop(id, &up, 1));
    show_wait("blocked decrement", c);
    R("after wake", semctl(id, 0, GETVAL));
    R("getncnt after", semctl(id, 0, GETNCNT));

    /* wait for zero */
    u.val = 2;
    MUST(semctl(id, 1, SETVAL, u));
    c = fork();
    if (c == 0) {
        struct sembuf z = {1, 0, 0};
        CHILD_RESULT(semop(id, &z, 1));
    }
    wait_count(id, 1, GETZCNT, 1);
    R("getzcnt waiting", semctl(id, 1, GETZCNT));
    struct sembuf dn2 = {1, -2, 0};
    R("semop to zero", semop(id, &dn2, 1));
    show_wait("wait for zero", c);

    /* a signal ends the wait with EINTR, SA_RESTART or not */
    for (int restart = 0; restart < 2; restart++) {
        set_handler(SIGUSR1, on_usr1, restart ? SA_RESTART : 0);
        c = fork();
        if (c == 0) {
            struct sembuf d = {0, -1, 0};
            CHILD_RESULT(semop(id, &d, 1));
        }
        wait_count(id, 0, GETNCNT, 1);
        kill_until_exit(restart ? "eintr sa_restart" : "eintr", c, SIGUSR1);
    }
    signal(SIGUSR1, SIG_DFL);

    /* SEM_UNDO: the adjustment is undone when the process exits */
    u.val = 3;
    MUST(semctl(id, 2, SETVAL, u));
    c = fork();
    if (c == 0) {
        struct sembuf a[2] = {{2, 4, SEM_UNDO}, {2, -1, SEM_UNDO}};
        MUST(semop(id, a, 2));
        _exit(semctl(id, 2, GETVAL));
    }
    show_wait("undo child saw", c);
    R("undo after exit", semctl(id, 2, GETVAL));
    c = fork();
    if (c == 0) {
        struct sembuf a = {2, -3, SEM_UNDO};
        MUST(semop(id, &a, 1));
        union semun v = {.val = 1};
        MUST(semctl(id, 2, SETVAL, v)); /* SETVAL clears the adjustment */
        _exit(0);
    }
    show_wait("undo cleared", c);
    R("undo cleared value", semctl(id, 2, GETVAL));

    /* IPC_STAT / IPC_SET */
    struct semid_ds ds;
    u.buf = &ds;
    R("ipc_stat", semctl(kid, 0, IPC_STAT, u));
    printf("stat nsems %lu mode %o uid %u cuid %u key %s\n", (unsigned long)ds.sem_nsems,
           ds.sem_perm.mode, ds.sem_perm.uid, ds.sem_perm.cuid,
           ds.sem_perm.__key == KEY_SEM ? "same" : "other");
    ds.sem_perm.mode = 0604;
    R("ipc_set", semctl(kid, 0, IPC_SET, u));
    MUST(semctl(kid, 0, IPC_STAT, u));
    printf("stat mode after set %o\n", ds.sem_perm.mode);
    show_proc("sem", KEY_SEM, "abcdefgh");
    struct seminfo si;
    u.__buf = &si;
    OK("ipc_info", semctl(0, 0, IPC_INFO, u));
    printf("seminfo semmsl %d semopm %d semvmx %d\n", si.semmsl, si.semopm, si.semvmx);

    /* an unprivileged process */
    c = fork();
    if (c == 0) {
        drop_privileges();
        int e1 = semget(KEY_SEM, 1, 0) == kid ? 0 : 1;
        int e2 = semget(KEY_SEM, 1, 0600) < 0 ? errno : 0;
        int e3 = semctl(kid, 0, GETVAL) < 0 ? errno : 0;       /* r for others: 4 */
        union semun v = {.val = 1};
        int e4 = semctl(kid, 0, SETVAL, v) < 0 ? errno : 0;
        int e5 = semctl(kid, 0, IPC_RMID) < 0 ? errno : 0;
        printf("unprivileged: %d %s %s %s %s\n", e1, en(e2), en(e3), en(e4), en(e5));
        fflush(stdout);
        _exit(0);
    }
    show_wait("unprivileged", c);

    /* removal wakes waiters with EIDRM */
    c = fork();
    if (c == 0) {
        struct sembuf d = {0, -5, 0};
        CHILD_RESULT(semop(id, &d, 1));
    }
    wait_count(id, 0, GETNCNT, 1);
    R("rmid", semctl(id, 0, IPC_RMID));
    show_wait("waiter after rmid", c);
    R("getval after rmid", semctl(id, 0, GETVAL));
    R("rmid key", semctl(kid, 0, IPC_RMID));
    R("semget key after rmid", semget(KEY_SEM, 1, 0));
}

struct msg {
    long mtype;
    char text[64];
};

static void snd(int q, long type, const char *text)
{
    struct msg m = {type, {0}};
    strcpy(m.text, text);
    MUST(msgsnd(q, &m, strlen(text), 0));
}

static void rcv(const char *label, int q, long type, int flags, size_t sz)
{
    struct msg m = {0, {0}};
    errno = 0;
    ssize_t n = msgrcv(q, &m, sz, type, flags);
    if (n < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: %zd type %ld '%.*s'\n", label, n, m.mtype, (int)n, m.text);
}

static void msgs(void)
{
    int q;
    MUST(q = msgget(IPC_PRIVATE, 0600));
    snd(q, 3, "three");
    snd(q, 1, "one-a");
    snd(q, 2, "two");
    snd(q, 1, "one-b");
    struct msqid_ds ds;
    R("msg stat", msgctl(q, IPC_STAT, &ds));
    printf("qnum %lu cbytes %lu qbytes %lu lspid %d lrpid %d\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes, ds.msg_lspid,
           ds.msg_lrpid);
    /* MSG_COPY: a copy of the message at an index, left in the queue */
    rcv("copy 0", q, 0, MSG_COPY | IPC_NOWAIT, 64);
    rcv("copy 3", q, 3, MSG_COPY | IPC_NOWAIT, 64);
    rcv("copy 4", q, 4, MSG_COPY | IPC_NOWAIT, 64);
    rcv("copy -1", q, -1, MSG_COPY | IPC_NOWAIT, 64);
    rcv("copy waiting", q, 0, MSG_COPY, 64);
    rcv("copy except", q, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT, 64);
    rcv("copy e2big", q, 0, MSG_COPY | IPC_NOWAIT, 2);
    rcv("copy noerror short", q, 0, MSG_COPY | MSG_NOERROR | IPC_NOWAIT, 2);
    rcv("copy noerror", q, 1, MSG_COPY | MSG_NOERROR | IPC_NOWAIT, 64);
    rcv("copy bad id", q + 1, 0, MSG_COPY | IPC_NOWAIT, 64);
    R("copy unreadable buffer", msgrcv(q, (void *)16, 64, 0, MSG_COPY | IPC_NOWAIT));
    MUST(msgctl(q, IPC_STAT, &ds));
    printf("after copies: qnum %lu cbytes %lu lrpid %d\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes, ds.msg_lrpid);
    rcv("rcv type 1", q, 1, 0, 64);
    rcv("rcv type -2", q, -2, 0, 64);
    rcv("rcv except 2", q, 2, MSG_EXCEPT, 64);
    rcv("rcv e2big", q, 0, 0, 2);
    rcv("rcv noerror", q, 0, MSG_NOERROR, 2);
    rcv("rcv empty nowait", q, 0, IPC_NOWAIT, 64);
    rcv("rcv none of type", q, 9, IPC_NOWAIT, 64);
    struct msg m = {0, "x"};
    R("snd type 0", msgsnd(q, &m, 1, 0));
    m.mtype = 1;
    R("snd too big", msgsnd(q, &m, 100000, 0));
    R("snd bad id", msgsnd(q + 1, &m, 1, 0));
    R("rcv bad size", msgrcv(q, &m, -1, 0, 0));
    MUST(msgctl(q, IPC_STAT, &ds));
    printf("after: qnum %lu cbytes %lu lrpid %d\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes, ds.msg_lrpid);

    /* a blocked receive, woken by a send */
    pid_t c = fork();
    if (c == 0) {
        struct msg r;
        ssize_t n = msgrcv(q, &r, sizeof r.text, 7, 0);
        _exit(n < 0 ? 100 + errno : (int)n * 10 + (int)r.mtype);
    }
    msleep(100);
    snd(q, 5, "other");
    snd(q, 7, "seven");
    show_wait("blocked receive", c);
    rcv("left", q, 0, IPC_NOWAIT, 64);

    /* a full queue: the send blocks until a receive makes room */
    ds.msg_qbytes = 10;
    R("set qbytes", msgctl(q, IPC_SET, &ds));
    snd(q, 1, "12345678");
    strcpy(m.text, "abcdefgh");
    R("snd full nowait", msgsnd(q, &m, 8, IPC_NOWAIT));
    c = fork();
    if (c == 0)
        CHILD_RESULT(msgsnd(q, &m, 8, 0));
    msleep(100);
    rcv("make room", q, 0, 0, 64);
    show_wait("blocked send", c);
    rcv("sent after room", q, 0, IPC_NOWAIT, 64);

    /* keys, and removal waking a receiver with EIDRM */
    int old = msgget(KEY_MSG, 0);
    if (old >= 0)
        msgctl(old, IPC_RMID, NULL);
    int k;
    MUST(k = msgget(KEY_MSG, IPC_CREAT | IPC_EXCL | 0600));
    R("msgget excl", msgget(KEY_MSG, IPC_CREAT | IPC_EXCL | 0600));
    T("msgget same", msgget(KEY_MSG, 0) == k);
    snd(k, 4, "proc");
    show_proc("msg", KEY_MSG, "abcdefghijk");
    rcv("proc drain", k, 0, 0, 64);
    c = fork();
    if (c == 0) {
        drop_privileges();
        struct msg r;
        int e1 = msgget(KEY_MSG, 0400) < 0 ? errno : 0;
        int e2 = msgrcv(k, &r, 8, 0, IPC_NOWAIT) < 0 ? errno : 0;
        int e3 = msgctl(k, IPC_RMID, NULL) < 0 ? errno : 0;
        int e4 = msgrcv(k, &r, 8, 0, MSG_COPY | IPC_NOWAIT) < 0 ? errno : 0;
        printf("msg unprivileged: %s %s %s %s\n", en(e1), en(e2), en(e3), en(e4));
        fflush(stdout);
        _exit(0);
    }
    show_wait("msg unprivileged", c);
    c = fork();
    if (c == 0) {
        struct msg r;
        CHILD_RESULT(msgrcv(k, &r, 8, 0, 0));
    }
    msleep(300); /* (nothing counts a queue's waiters) */
    R("msg rmid", msgctl(k, IPC_RMID, NULL));
    show_wait("receiver after rmid", c);
    R("msg stat after rmid", msgctl(k, IPC_STAT, &ds));
    struct msginfo mi;
    OK("msg info", msgctl(0, IPC_INFO, (struct msqid_ds *)&mi));
    printf("msginfo msgmax %d msgmnb %d\n", mi.msgmax, mi.msgmnb);
    R("msg rmid private", msgctl(q, IPC_RMID, NULL));
}

static int nattch(int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0)
        return -errno;
    return (int)ds.shm_nattch;
}

static void show_maps_line(const char *label, const void *addr, int key)
{
    char expect[40];
    snprintf(expect, sizeof expect, "/SYSV%08x (deleted)\n", key);
    char line[512], want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)(uintptr_t)addr);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0) {
            char *perms = strchr(line, ' ') + 1, *name = strstr(line, "/SYSV");
            printf("%s: %.4s %s\n", label, perms,
                   !name ? "(no name)" : strcmp(name, expect) ? name : "/SYSV<key> (deleted)");
        }
    fclose(f);
}

static void shm(void)
{
    int id;
    MUST(id = shmget(IPC_PRIVATE, 10000, 0600));
    struct shmid_ds ds;
    R("shm stat", shmctl(id, IPC_STAT, &ds));
    printf("segsz %zu nattch %lu cpid %d mode %o\n", ds.shm_segsz, (unsigned long)ds.shm_nattch,
           ds.shm_cpid, ds.shm_perm.mode);
    R("shmget size 0", shmget(IPC_PRIVATE, 0, 0600));

    char *p = shmat(id, NULL, 0);
    T("shmat", p != (void *)-1);
    T("shmat page aligned", ((uintptr_t)p & 4095) == 0);
    T("zero filled", p[0] == 0 && p[9999] == 0 && p[12287] == 0);
    R("nattch one", nattch(id));
    strcpy(p, "parent");
    pid_t c = fork();
    if (c == 0) {
        int n = nattch(id);
        char *q = shmat(id, NULL, 0);
        if (q == (void *)-1)
            _exit(100 + errno);
        int ok = strcmp(q, "parent") == 0;
        strcpy(q + 100, "child");
        _exit(ok * 10 + n);
    }
    show_wait("child attach", c);
    printf("child wrote: %s\n", p + 100);
    R("nattch after child", nattch(id));
    T("stat lpid", (shmctl(id, IPC_STAT, &ds), ds.shm_lpid) == c);

    /* address rules */
    R("shmat unaligned", (long)shmat(id, p + 1, 0) == -1 ? -1 : 0);
    R("shmat remap null", (long)shmat(id, NULL, SHM_REMAP) == -1 ? -1 : 0);
    R("shmat overlap", (long)shmat(id, p, 0) == -1 ? -1 : 0);
    char *area = mmap(NULL, 5 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(area == MAP_FAILED ? -1 : 0);
    R("shmat over a mapping", (long)shmat(id, area + 4096, 0) == -1 ? -1 : 0);
    MUST(munmap(area, 5 * 4096));
    char *r = shmat(id, area + 4096 + 17, SHM_RND);
    T("shmat rnd", r == area + 4096);
    T("shmat rnd sees data", r != (void *)-1 && strcmp(r, "parent") == 0);
    char *rr = shmat(id, area + 4096, SHM_REMAP | SHM_RDONLY);
    T("shmat remap", rr == area + 4096);
    R("mprotect rdonly write", mprotect(rr, 4096, PROT_READ | PROT_WRITE));
    R("nattch three", nattch(id));
    R("shmdt", shmdt(rr));
    R("shmdt again", shmdt(rr));
    R("shmdt not attached", shmdt(area));
    R("shmdt unaligned", shmdt(p + 1));
    R("nattch two", nattch(id));

    /* keys */
    int old = shmget(KEY_SHM, 0, 0);
    if (old >= 0)
        shmctl(old, IPC_RMID, NULL);
    int k;
    MUST(k = shmget(KEY_SHM, 8192, IPC_CREAT | IPC_EXCL | 0640));
    R("shmget excl", shmget(KEY_SHM, 8192, IPC_CREAT | IPC_EXCL | 0640));
    R("shmget bigger", shmget(KEY_SHM, 9000, 0));
    T("shmget smaller", shmget(KEY_SHM, 100, 0) == k);
    c = fork();
    if (c == 0) {
        drop_privileges();
        int e1 = (long)shmat(k, NULL, 0) == -1 ? errno : 0;
        int e2 = (long)shmat(k, NULL, SHM_RDONLY) == -1 ? errno : 0;  /* group only */
        int e3 = shmctl(k, IPC_RMID, NULL) < 0 ? errno : 0;
        printf("shm unprivileged: %s %s %s\n", en(e1), en(e2), en(e3));
        fflush(stdout);
        _exit(0);
    }
    show_wait("shm unprivileged", c);
    char *kp = shmat(k, NULL, SHM_RDONLY);
    show_maps_line("maps of an attach", kp, KEY_SHM);
    show_proc("shm", KEY_SHM, "abcdefghijkopq");
    R("shmdt key", shmdt(kp));
    R("shm rmid key", shmctl(k, IPC_RMID, NULL));
    R("shm stat removed", shmctl(k, IPC_STAT, &ds));

    /* removal while attached: the segment lives on until its last detach */
    R("shm rmid attached", shmctl(id, IPC_RMID, NULL));
    R("shm stat dest", shmctl(id, IPC_STAT, &ds));
    printf("dest mode %o key %d nattch %lu\n", ds.shm_perm.mode, ds.shm_perm.__key,
           (unsigned long)ds.shm_nattch);
    T("data still there", strcmp(p, "parent") == 0);
    R("shmdt last", shmdt(p));
    R("shmdt rnd", shmdt(r));
    R("shm stat gone", shmctl(id, IPC_STAT, &ds));

    /* detached by exit and by munmap */
    MUST(id = shmget(IPC_PRIVATE, 4096, 0600));
    c = fork();
    if (c == 0) {
        MUST((long)shmat(id, NULL, 0));
        _exit(nattch(id));
    }
    show_wait("child attached then exited", c);
    R("nattch after exit", nattch(id));
    p = shmat(id, NULL, 0);
    MUST(munmap(p, 4096));
    R("nattch after munmap", nattch(id));
    R("shm rmid", shmctl(id, IPC_RMID, NULL));
    R("shm gone", nattch(id));

    /* removed while a child holds the only attachment: gone when the child exits */
    MUST(id = shmget(IPC_PRIVATE, 4096, 0600));
    int up[2], down[2];
    MUST(pipe(up));
    MUST(pipe(down));
    c = fork();
    if (c == 0) {
        char *q = shmat(id, NULL, 0);
        char b;
        MUST(write(up[1], "a", 1));
        MUST(read(down[0], &b, 1));  /* wait until the parent removed it */
        q[0] = 1;
        _exit(0);
    }
    char b1;
    MUST(read(up[0], &b1, 1));
    R("rmid held by child", shmctl(id, IPC_RMID, NULL));
    R("nattch held by child", nattch(id));
    MUST(write(down[1], "b", 1));
    show_wait("holder exits", c);
    R("stat after holder exit", nattch(id));
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    struct shminfo info;
    OK("shm info", shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
    printf("shminfo shmmin %lu shmseg %lu\n", info.shmmin, info.shmseg);
}

static int thr_shm, thr_sem;

static void *thread_body(void *arg)
{
    long fails = 0;
    for (int i = 0; i < 40; i++) {
        char *p = shmat(thr_shm, NULL, 0);
        if (p == (void *)-1) {
            fails++;
            continue;
        }
        p[(long)arg] = 1;
        struct sembuf up = {0, 1, 0};
        if (semop(thr_sem, &up, 1) < 0 || shmdt(p) < 0)
            fails++;
    }
    return (void *)fails;
}

/* threads attaching, detaching and counting at once */
static void threads(void)
{
    MUST(thr_shm = shmget(IPC_PRIVATE, 4096, 0600));
    MUST(thr_sem = semget(IPC_PRIVATE, 1, 0600));
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        MUST(-pthread_create(&th[i], NULL, thread_body, (void *)i));
    long fails = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        fails += (long)r;
    }
    char *p = shmat(thr_shm, NULL, SHM_RDONLY);
    printf("threads: fails %ld sem %d marks %d%d%d%d nattch %d\n", fails,
           semctl(thr_sem, 0, GETVAL), p[0], p[1], p[2], p[3], nattch(thr_shm));
    MUST(shmdt(p));
    MUST(shmctl(thr_shm, IPC_RMID, NULL));
    MUST(semctl(thr_sem, 0, IPC_RMID));
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    pick_keys();
    sems();
    msgs();
    shm();
    threads();
    return 0;
}
