/*
 * keys.c -- add_key(2), request_key(2), keyctl(2) through raw syscall(2).
 *
 * Natively this touches the host's real keyrings, so it works only in a session keyring
 * of its own (joined first, under a unique name) and the process and thread keyrings,
 * invalidates what it made, and prints no serial number: only whether two serials are
 * the same, and descriptions with the unique name left out.
 */
#include "check.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

#define THREAD_KR (-1)
#define PROCESS_KR (-2)
#define SESSION_KR (-3)
#define USER_KR (-4)
#define USER_SESSION_KR (-5)
#define GROUP_KR (-6)

enum {
    GET_KEYRING_ID = 0, JOIN = 1, UPDATE = 2, REVOKE = 3, CHOWN = 4, SETPERM = 5,
    DESCRIBE = 6, CLEAR = 7, LINK = 8, UNLINK = 9, SEARCH = 10, READ = 11,
    SET_REQKEY = 14, SET_TIMEOUT = 15, INVALIDATE = 21, MOVE = 30,
};

static long add_key(const char *type, const char *desc, const void *p, size_t n, int ring)
{
    return syscall(SYS_add_key, type, desc, p, n, ring);
}

static long request_key(const char *type, const char *desc, const char *callout, int ring)
{
    return syscall(SYS_request_key, type, desc, callout, ring);
}

static long kc(int cmd, long a, long b, long c, long d)
{
    return syscall(SYS_keyctl, cmd, a, b, c, d);
}

/* "label: type;uid;gid;perm;" with the description, or "label: -1 ENAME" */
static void describe(const char *label, long id, int show_desc)
{
    char buf[512];
    errno = 0;
    long n = kc(DESCRIBE, id, (long)buf, sizeof buf, 0);
    if (n < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    if (!show_desc) {
        char *semi = strrchr(buf, ';');
        if (semi)
            semi[1] = 0;
    }
    printf("%s: %ld %s\n", label, show_desc ? n : 0L, buf);
}

static void same(const char *label, long a, long b)
{
    T(label, a > 0 && a == b);
}

static long session, thread_kr;

static void *thread_main(void *arg)
{
    long proc = (long)arg;
    same("thread process keyring shared", kc(GET_KEYRING_ID, PROCESS_KR, 0, 0, 0), proc);
    same("thread session shared", kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), session);
    /* A thread cloned by one that has a thread keyring gets a new one. */
    long own = kc(GET_KEYRING_ID, THREAD_KR, 0, 0, 0);
    T("thread keyring of a new thread is its own", own > 0 && own != thread_kr);
    return NULL;
}

/* Keyrings are per thread (struct cred): one made, or joined, by another thread of the
 * process after this one was cloned is not this one's. */
static volatile int go;
static long made_proc;

static void *old_thread_main(void *arg)
{
    (void)arg;
    while (!go)
        usleep(1000);
    R("older thread process keyring", kc(GET_KEYRING_ID, PROCESS_KR, 0, 0, 0));
    same("older thread session unchanged", kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), session);
    return NULL;
}

static void per_thread_child(void)
{
    pthread_t th;
    pthread_create(&th, NULL, old_thread_main, NULL);
    usleep(10000);
    made_proc = kc(GET_KEYRING_ID, PROCESS_KR, 1, 0, 0);
    T("process keyring made after the thread", made_proc > 0);
    long s = kc(JOIN, 0, 0, 0, 0);
    T("new session after the thread", s > 0 && s != session);
    go = 1;
    pthread_join(th, NULL);
    OK("invalidate its session", kc(INVALIDATE, s, 0, 0, 0));
}

static void unprivileged_child(long parent_key)
{
    /* A user with no keys: its quota, and keys it does not possess. */
    MUST(setresgid(54321, 54321, 54321));
    MUST(setresuid(54321, 54321, 54321));
    describe("child describe possessed other-user key", parent_key, 1);
    OK("child join anonymous session", kc(JOIN, 0, 0, 0, 0));
    describe("child describe session", SESSION_KR, 1);
    describe("child describe unpossessed key", parent_key, 1);
    char b[16];
    R("child read unpossessed key", kc(READ, parent_key, (long)b, sizeof b, 0));
    R("child search key elsewhere", kc(SEARCH, parent_key, (long)"user", (long)"k", 0));
    describe("child user keyring", USER_KR, 1);
    describe("child user session keyring", USER_SESSION_KR, 1);
    R("child big payload (byte quota)",
      add_key("user", "big", calloc(1, 30000), 30000, SESSION_KR) > 0 ? 0 : -1);
    R("child 20000-byte payload (byte quota)",
      add_key("user", "big", calloc(1, 20000), 20000, SESSION_KR) > 0 ? 0 : -1);
    int made = 0, e = 0;
    for (int i = 0; i < 300; i++) {
        char d[16];
        snprintf(d, sizeof d, "q%d", i);
        if (add_key("user", d, "x", 1, SESSION_KR) < 0) {
            e = errno;
            break;
        }
        made++;
    }
    printf("child keys before quota: %d %s\n", made, e ? en(e) : "none");
    OK("child clear session", kc(CLEAR, SESSION_KR, 0, 0, 0));
    usleep(300000); /* Linux collects the unlinked keys soon after, not at once */
    OK("child key after clear", add_key("user", "again", "x", 1, SESSION_KR));
    OK("child invalidate session", kc(INVALIDATE, kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), 0, 0, 0));
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[2], "exec") == 0) {
        out_init();
        same("exec keeps session", kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), atol(argv[3]));
        R("exec process keyring", kc(GET_KEYRING_ID, PROCESS_KR, 0, 0, 0));
        R("exec thread keyring", kc(GET_KEYRING_ID, THREAD_KR, 0, 0, 0));
        return 0;
    }
    enter_workdir(argc, argv);

    char name[64];
    int fd = open("/dev/urandom", O_RDONLY);
    uint64_t rnd = 0;
    MUST(fd);
    MUST(read(fd, &rnd, sizeof rnd));
    close(fd);
    snprintf(name, sizeof name, "keys.c.%016llx", (unsigned long long)rnd);

    session = kc(JOIN, (long)name, 0, 0, 0);
    MUST(session);
    same("session is the joined keyring", kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), session);
    /* Its user bits do not let others search it (find_keyring_by_name): another one. */
    long again = kc(JOIN, (long)name, 0, 0, 0);
    T("join again by name makes another", again > 0 && again != session);
    same("the new one is the session", kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), again);
    OK("invalidate the first", kc(INVALIDATE, session, 0, 0, 0));
    session = again;
    describe("describe named session", SESSION_KR, 0);

    /* Special keyrings. */
    R("process keyring not yet", kc(GET_KEYRING_ID, PROCESS_KR, 0, 0, 0));
    R("thread keyring not yet", kc(GET_KEYRING_ID, THREAD_KR, 0, 0, 0));
    long proc = kc(GET_KEYRING_ID, PROCESS_KR, 1, 0, 0);
    T("process keyring made", proc > 0);
    same("process keyring again", kc(GET_KEYRING_ID, PROCESS_KR, 0, 0, 0), proc);
    long thr = kc(GET_KEYRING_ID, THREAD_KR, 1, 0, 0);
    T("thread keyring made", thr > 0 && thr != proc);
    thread_kr = thr;
    describe("describe process keyring", PROCESS_KR, 1);
    describe("describe thread keyring", THREAD_KR, 1);
    R("group keyring", kc(GET_KEYRING_ID, GROUP_KR, 1, 0, 0));
    R("id 0", kc(GET_KEYRING_ID, 0, 0, 0, 0));
    R("id -100", kc(GET_KEYRING_ID, -100, 0, 0, 0));
    R("reqkey auth key", kc(GET_KEYRING_ID, -7, 0, 0, 0));
    R("requestor keyring", kc(GET_KEYRING_ID, -8, 0, 0, 0));
    R("unknown serial", kc(GET_KEYRING_ID, 0x7ffffff0, 0, 0, 0));

    /* add_key. */
    long k = add_key("user", "k", "hello", 5, SESSION_KR);
    T("add user key", k > 0);
    describe("describe user key", k, 1);
    char buf[64];
    memset(buf, 0, sizeof buf);
    R("read", kc(READ, k, (long)buf, sizeof buf, 0));
    printf("read data: %s\n", buf);
    memset(buf, 'Z', sizeof buf);
    R("read short buffer", kc(READ, k, (long)buf, 3, 0));
    printf("short buffer: %.5s\n", buf);
    R("read length only", kc(READ, k, 0, 0, 0));
    same("add again updates", add_key("user", "k", "world!", 6, SESSION_KR), k);
    memset(buf, 0, sizeof buf);
    R("read updated", kc(READ, k, (long)buf, sizeof buf, 0));
    printf("read data: %s\n", buf);
    R("add empty description", add_key("user", "", "x", 1, SESSION_KR));
    R("add no description", add_key("user", NULL, "x", 1, SESSION_KR));
    R("add dot keyring", add_key("keyring", ".x", NULL, 0, SESSION_KR));
    R("add dot type", add_key(".user", "x", "x", 1, SESSION_KR));
    R("add empty type", add_key("", "x", "x", 1, SESSION_KR));
    R("add long type", add_key("0123456789012345678901234567890123456789", "x", "x", 1,
                               SESSION_KR));
    R("add unknown type", add_key("nosuchtype", "x", "x", 1, SESSION_KR));
    R("add empty payload", add_key("user", "x", "", 0, SESSION_KR));
    R("add huge plen", add_key("user", "x", "x", (size_t)-1, SESSION_KR));
    R("add 32768 payload", add_key("user", "x", calloc(1, 32768), 32768, SESSION_KR));
    char *longdesc = malloc(5000);
    memset(longdesc, 'd', 4999);
    longdesc[4999] = 0;
    R("add long description", add_key("user", longdesc, "x", 1, SESSION_KR));
    longdesc[4095] = 0;
    R("add 4095-byte description", add_key("user", longdesc, "x", 1, SESSION_KR) > 0 ? 0 : -1);
    R("add keyring with payload", add_key("keyring", "kr", "x", 1, SESSION_KR));
    R("add into a user key", add_key("user", "x", "x", 1, k));
    R("add into group keyring", add_key("user", "x", "x", 1, GROUP_KR));
    R("add into bad id", add_key("user", "x", "x", 1, -100));
    R("add bad payload pointer", add_key("user", "x", (void *)8, 4, SESSION_KR));

    /* logon keys. */
    R("logon without colon", add_key("logon", "nocolon", "x", 1, SESSION_KR));
    R("logon with leading colon", add_key("logon", ":x", "x", 1, SESSION_KR));
    long lk = add_key("logon", "svc:pw", "secret", 6, SESSION_KR);
    T("logon key", lk > 0);
    describe("describe logon", lk, 1);
    R("read logon", kc(READ, lk, (long)buf, sizeof buf, 0));
    OK("update logon", kc(UPDATE, lk, (long)"new", 3, 0));

    /* Keyrings. */
    long ra = add_key("keyring", "ra", NULL, 0, SESSION_KR);
    long rb = add_key("keyring", "rb", NULL, 0, ra);
    T("nested keyrings", ra > 0 && rb > 0);
    describe("describe keyring", ra, 1);
    R("link cycle", kc(LINK, ra, rb, 0, 0));
    R("link into itself", kc(LINK, ra, ra, 0, 0));
    R("link into a user key", kc(LINK, k, k, 0, 0));
    OK("link key into rb", kc(LINK, k, rb, 0, 0));
    OK("link again", kc(LINK, k, rb, 0, 0));
    R("read keyring length", kc(READ, rb, 0, 0, 0));
    R("update keyring", kc(UPDATE, ra, (long)"x", 1, 0));
    same("search session finds nested", kc(SEARCH, SESSION_KR, (long)"user", (long)"k", 0), k);
    same("search rb", kc(SEARCH, rb, (long)"user", (long)"k", 0), k);
    R("search missing", kc(SEARCH, SESSION_KR, (long)"user", (long)"nope", 0));
    R("search unknown type", kc(SEARCH, SESSION_KR, (long)"nosuchtype", (long)"k", 0));
    R("search a user key", kc(SEARCH, k, (long)"user", (long)"k", 0));
    same("search and link into process", kc(SEARCH, ra, (long)"user", (long)"k", PROCESS_KR), k);
    same("search keyring by type", kc(SEARCH, SESSION_KR, (long)"keyring", (long)"rb", 0), rb);
    OK("unlink from rb", kc(UNLINK, k, rb, 0, 0));
    R("unlink again", kc(UNLINK, k, rb, 0, 0));
    R("unlink from a user key", kc(UNLINK, k, k, 0, 0));
    OK("move to thread keyring", kc(MOVE, k, PROCESS_KR, THREAD_KR, 0));
    R("move from where it is not", kc(MOVE, k, PROCESS_KR, THREAD_KR, 0));
    R("move bad flags", kc(MOVE, k, THREAD_KR, PROCESS_KR, 2));
    OK("move back", kc(MOVE, k, THREAD_KR, PROCESS_KR, 1));
    R("read process keyring length", kc(READ, PROCESS_KR, 0, 0, 0));

    /* request_key. */
    same("request_key finds", request_key("user", "k", NULL, 0), k);
    R("request_key missing", request_key("user", "missing", NULL, 0));
    R("request_key unknown type", request_key("nosuchtype", "k", NULL, 0));
    R("request_key bad dest", request_key("user", "k", NULL, -100));
    longdesc[4095] = 'd';
    R("request_key long description", request_key("user", longdesc, NULL, 0));
    R("request_key other type", request_key("user", "svc:pw", NULL, THREAD_KR));
    /* No /sbin/request-key: the helper cannot run, and a negative key stays behind. */
    R("request_key with callout", request_key("user", "nohelper", "info", PROCESS_KR));
    R("request_key meets the negative key", request_key("user", "nohelper", "info", 0));
    R("search meets the negative key", kc(SEARCH, PROCESS_KR, (long)"user", (long)"nohelper", 0));
    R("request_key keyring with callout", request_key("keyring", "kr", "info", 0));
    long nk = add_key("user", "nohelper", "p", 1, PROCESS_KR);
    T("add makes the negative key positive", nk > 0);
    same("request_key finds it now", request_key("user", "nohelper", "info", 0), nk);
    OK("invalidate it", kc(INVALIDATE, nk, 0, 0, 0));
    same("request_key logon", request_key("logon", "svc:pw", NULL, THREAD_KR), lk);
    same("linked by request_key", kc(SEARCH, THREAD_KR, (long)"logon", (long)"svc:pw", 0), lk);

    /* Permissions, ownership. */
    R("setperm bad bits", kc(SETPERM, k, 0x40000000, 0, 0));
    OK("chown nothing", kc(CHOWN, k, -1, -1, 0));
    OK("chown gid", kc(CHOWN, k, -1, 5, 0));
    describe("describe after chown", k, 1);
    OK("setperm view+search+setattr", kc(SETPERM, k, 0x29000000, 0, 0));
    R("read possessed without read perm", kc(READ, k, (long)buf, sizeof buf, 0));
    R("update without write perm", kc(UPDATE, k, (long)"x", 1, 0));
    R("add over it without write perm", add_key("user", "k", "x", 1, SESSION_KR));
    OK("setperm back", kc(SETPERM, k, 0x3f010000, 0, 0));
    OK("chown gid back", kc(CHOWN, k, -1, 0, 0));

    /* Timeouts. */
    long tk = add_key("user", "timed", "t", 1, PROCESS_KR);
    OK("set timeout", kc(SET_TIMEOUT, tk, 1, 0, 0));
    sleep(2);
    R("read expired", kc(READ, tk, (long)buf, sizeof buf, 0));
    describe("describe expired", tk, 1);
    R("search expired", kc(SEARCH, PROCESS_KR, (long)"user", (long)"timed", 0));
    R("request_key expired", request_key("user", "timed", NULL, 0));
    R("set timeout on expired", kc(SET_TIMEOUT, tk, 10, 0, 0));
    same("add updates the expired key", add_key("user", "timed", "u", 1, PROCESS_KR), tk);
    R("read after update", kc(READ, tk, (long)buf, sizeof buf, 0));
    OK("set timeout 0", kc(SET_TIMEOUT, tk, 0, 0, 0));

    /* Revocation, invalidation. */
    long rk = add_key("user", "rev", "r", 1, PROCESS_KR);
    OK("revoke", kc(REVOKE, rk, 0, 0, 0));
    R("read revoked", kc(READ, rk, (long)buf, sizeof buf, 0));
    describe("describe revoked", rk, 1);
    R("revoke again", kc(REVOKE, rk, 0, 0, 0));
    R("update revoked", kc(UPDATE, rk, (long)"x", 1, 0));
    R("search revoked", kc(SEARCH, PROCESS_KR, (long)"user", (long)"rev", 0));
    R("invalidate revoked", kc(INVALIDATE, rk, 0, 0, 0));
    long rk2 = add_key("user", "rev", "r2", 1, PROCESS_KR);
    T("add replaces a revoked key", rk2 > 0 && rk2 != rk);
    /* Unlinking goes by type and description: the new key's link goes. */
    OK("unlink revoked", kc(UNLINK, rk, PROCESS_KR, 0, 0));
    R("search the replacement", kc(SEARCH, PROCESS_KR, (long)"user", (long)"rev", 0));
    long ik = add_key("user", "inv", "i", 1, PROCESS_KR);
    OK("invalidate", kc(INVALIDATE, ik, 0, 0, 0));
    describe("describe invalidated", ik, 1);

    /* Default request_key keyring. */
    R("reqkey default", kc(SET_REQKEY, -1, 0, 0, 0));
    R("reqkey set process", kc(SET_REQKEY, 2, 0, 0, 0));
    R("reqkey now", kc(SET_REQKEY, -1, 0, 0, 0));
    R("reqkey group", kc(SET_REQKEY, 6, 0, 0, 0));
    R("reqkey bad", kc(SET_REQKEY, 9, 0, 0, 0));
    R("reqkey back", kc(SET_REQKEY, 0, 0, 0, 0));

    R("unknown command", kc(999, 0, 0, 0, 0));

    /* Threads, fork, exec. */
    pthread_t th;
    pthread_create(&th, NULL, thread_main, (void *)proc);
    pthread_join(th, NULL);
    pid_t pid = fork();
    MUST(pid);
    if (pid == 0) {
        same("fork child session shared", kc(GET_KEYRING_ID, SESSION_KR, 0, 0, 0), session);
        R("fork child process keyring", kc(GET_KEYRING_ID, PROCESS_KR, 0, 0, 0));
        R("fork child thread keyring", kc(GET_KEYRING_ID, THREAD_KR, 0, 0, 0));
        R("fork child request_key via session", request_key("user", "k", NULL, 0) > 0 ? 0 : -1);
        same("fork child search session", kc(SEARCH, SESSION_KR, (long)"user", (long)"k", 0), k);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        char s[32];
        snprintf(s, sizeof s, "%ld", session);
        execl("/proc/self/exe", argv[0], argv[1], "exec", s, (char *)NULL);
        _exit(99);
    }
    waitpid(pid, &st, 0);
    printf("exec child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        per_thread_child();
        _exit(0);
    }
    waitpid(pid, &st, 0);
    printf("per-thread child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        unprivileged_child(k);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    printf("unprivileged child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* Clean up what this made (natively: the host's keys). */
    OK("clear process keyring", kc(CLEAR, PROCESS_KR, 0, 0, 0));
    R("read cleared keyring", kc(READ, PROCESS_KR, 0, 0, 0));
    OK("invalidate key", kc(INVALIDATE, k, 0, 0, 0));
    OK("invalidate logon", kc(INVALIDATE, lk, 0, 0, 0));
    OK("invalidate rb", kc(INVALIDATE, rb, 0, 0, 0));
    OK("invalidate ra", kc(INVALIDATE, ra, 0, 0, 0));
    OK("invalidate thread keyring", kc(INVALIDATE, THREAD_KR, 0, 0, 0));
    OK("clear session", kc(CLEAR, SESSION_KR, 0, 0, 0));
    OK("invalidate session", kc(INVALIDATE, session, 0, 0, 0));
    return 0;
}
