/* xattr.c -- extended attributes: setxattr/getxattr/listxattr/removexattr and their l and
 * f forms; XATTR_CREATE/XATTR_REPLACE, size 0 queries, ERANGE for a small buffer, E2BIG
 * past 64 KiB, names (empty, too long, bare prefix, unknown namespace), user.* only on
 * regular files and directories, permissions (a user without write access, a sticky
 * directory, trusted.* and security.* without CAP_SYS_ADMIN), file capabilities' layout,
 * ctime, O_PATH and pipe descriptions, proc.  On a new file of the work directory
 * (natively ext4, in the sandbox the overlay's in-memory upper layer: lists are printed
 * sorted, values stay small), on a host file never written (the test program itself:
 * the overlay's lower layer, read through the gofer) and on /dev/shm (tmpfs on both
 * sides: 64 KiB values, the list in tmpfs's own order). */
#include "check.h"
#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/xattr.h>

#define BIG 65536

static char buf[BIG + 16];

/* "label: name1 name2 ..." from a listxattr buffer, sorted unless raw */
static void show_list(const char *label, const char *list, long n, int raw)
{
    const char *names[128];
    int count = 0;
    if (n < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    for (long off = 0; off < n && count < 128; off += (long)strlen(list + off) + 1)
        names[count++] = list + off;
    for (int i = 0; !raw && i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(names[j], names[i]) < 0) {
                const char *x = names[i];
                names[i] = names[j];
                names[j] = x;
            }
    printf("%s: %ld [", label, n);
    for (int i = 0; i < count; i++)
        printf("%s%s", i ? " " : "", names[i]);
    printf("]\n");
}

static void list_path(const char *label, const char *path, int raw)
{
    char l[4096];
    errno = 0;
    show_list(label, l, listxattr(path, l, sizeof l), raw);
}

/* "label: N value" or "label: -1 ENAME" */
static void get_path(const char *label, const char *path, const char *name)
{
    char v[256];
    errno = 0;
    long n = getxattr(path, name, v, sizeof v - 1);
    if (n < 0) {
        printf("%s: -1 %s\n", label, en(errno));
        return;
    }
    v[n] = 0;
    printf("%s: %ld '%s'\n", label, n, v);
}

static long long ctime_ns(const char *path)
{
    struct stat st;
    MUST(stat(path, &st));
    return st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
}

static void drop_sys_admin(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    MUST(syscall(SYS_capget, &h, d));
    d[0].effective &= ~(1u << CAP_SYS_ADMIN);
    MUST(syscall(SYS_capset, &h, d));
}

static unsigned long path_hash(const char *s)
{
    unsigned long h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

/* set, get, list and remove on a new regular file at path */
static void basics(const char *p, const char *what)
{
    char l[64];
#define L(s) (snprintf(l, sizeof l, "%s %s", what, s), l)
    R(L("list empty"), listxattr(p, NULL, 0));
    R(L("get missing"), getxattr(p, "user.a", buf, 10));
    R(L("set user.a"), setxattr(p, "user.a", "one", 3, 0));
    R(L("get size 0"), getxattr(p, "user.a", NULL, 0));
    R(L("get small buffer"), getxattr(p, "user.a", buf, 2));
    get_path(L("get user.a"), p, "user.a");
    R(L("create existing"), setxattr(p, "user.a", "two", 3, XATTR_CREATE));
    R(L("replace missing"), setxattr(p, "user.b", "two", 3, XATTR_REPLACE));
    R(L("replace existing"), setxattr(p, "user.a", "two", 3, XATTR_REPLACE));
    get_path(L("get replaced"), p, "user.a");
    R(L("create new"), setxattr(p, "user.b", "b", 1, XATTR_CREATE));
    R(L("set empty value"), setxattr(p, "user.empty", "", 0, 0));
    R(L("set empty, NULL"), setxattr(p, "user.null", NULL, 0, 0));
    get_path(L("get empty"), p, "user.empty");
    memset(buf, 'v', 1000);
    R(L("set 1000 bytes"), setxattr(p, "user.k", buf, 1000, 0));
    R(L("get 1000 bytes"), getxattr(p, "user.k", buf, sizeof buf));
    R(L("list size"), listxattr(p, NULL, 0));
    R(L("list small buffer"), listxattr(p, buf, 5));
    list_path(L("list"), p, 0);
    R(L("remove"), removexattr(p, "user.b"));
    R(L("remove again"), removexattr(p, "user.b"));
    R(L("get removed"), getxattr(p, "user.b", buf, 10));
    R(L("remove null"), removexattr(p, "user.null"));
    R(L("remove k"), removexattr(p, "user.k"));
    list_path(L("list after"), p, 0);
#undef L
}

int main(int argc, char **argv)
{
    enter_workdir(argc, argv);
    unsigned long run_id = path_hash(argv[1]);
    int fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644);
    MUST(fd);
    basics("f", "file");

    /* arguments: flags, name and size are checked before the path */
    R("flags 3", setxattr("missing", "user.a", "v", 1, 3));
    R("flags 3 fd", fsetxattr(fd, "user.a", "v", 1, 3));
    R("empty name", setxattr("missing", "", "v", 1, 0));
    R("empty name get", getxattr("f", "", buf, 10));
    R("empty name remove", removexattr("f", ""));
    char name[300];
    memset(name, 'n', sizeof name);
    memcpy(name, "user.", 5);
    name[255] = 0;
    R("name of 255", setxattr("f", name, "v", 1, 0));
    R("name of 255 get", getxattr("f", name, buf, 10));
    R("name of 255 remove", removexattr("f", name));
    name[255] = 'n';
    name[256] = 0;
    R("name of 256", setxattr("missing", name, "v", 1, 0));
    R("name of 256 get", getxattr("f", name, buf, 10));
    R("size 65537", setxattr("missing", "user.a", buf, BIG + 1, 0));
    R("size 65537 fd", fsetxattr(fd, "user.a", buf, BIG + 1, 0));
    R("missing file", setxattr("missing", "user.a", "v", 1, 0));
    R("missing file get", getxattr("missing", "user.a", buf, 10));
    R("missing file list", listxattr("missing", NULL, 0));
    /* (raw calls: glibc's declarations refuse these pointers at compile time) */
    R("NULL value", syscall(SYS_setxattr, "f", "user.a", NULL, 5, 0));
    R("bad name pointer", syscall(SYS_setxattr, "f", 8L, "v", 1, 0));
    R("bad buffer", syscall(SYS_getxattr, "f", "user.a", 8L, 10));
    R("bare user.", setxattr("f", "user.", "v", 1, 0));
    R("bare user. get", getxattr("f", "user.", buf, 10));
    R("bare trusted. get", getxattr("f", "trusted.", buf, 10));
    R("unknown namespace", setxattr("f", "other.a", "v", 1, 0));
    R("unknown namespace get", getxattr("f", "other.a", buf, 10));
    R("unknown namespace remove", removexattr("f", "other.a"));
    R("system.foo", setxattr("f", "system.foo", "v", 1, 0));
    R("acl get", getxattr("f", "system.posix_acl_access", buf, sizeof buf));
    R("acl remove", removexattr("f", "system.posix_acl_access"));

    /* ctime: a change updates it, a failed one does not */
    long long c0 = ctime_ns("f");
    msleep(20);
    R("set for ctime", setxattr("f", "user.c", "c", 1, 0));
    long long c1 = ctime_ns("f");
    T("ctime changed by set", c1 > c0);
    msleep(20);
    R("failed set", setxattr("f", "user.c", "c", 1, XATTR_CREATE));
    T("ctime kept by a failed set", ctime_ns("f") == c1);
    msleep(20);
    R("remove for ctime", removexattr("f", "user.c"));
    T("ctime changed by remove", ctime_ns("f") > c1);

    /* descriptions: read-only is enough; O_PATH is EBADF */
    int ro = open("f", O_RDONLY);
    MUST(ro);
    R("fsetxattr", fsetxattr(ro, "user.fd", "fd", 2, 0));
    R("fgetxattr", fgetxattr(ro, "user.fd", buf, sizeof buf));
    R("flistxattr", flistxattr(ro, NULL, 0));
    R("fremovexattr", fremovexattr(ro, "user.fd"));
    R("fgetxattr bad fd", fgetxattr(99, "user.fd", buf, sizeof buf));
    int path = open("f", O_PATH);
    MUST(path);
    R("O_PATH fgetxattr", fgetxattr(path, "user.a", buf, sizeof buf));
    R("O_PATH fsetxattr", fsetxattr(path, "user.a", "v", 1, 0));
    R("O_PATH flistxattr", flistxattr(path, NULL, 0));
    R("O_PATH fremovexattr", fremovexattr(path, "user.a"));
    int pfd[2];
    MUST(pipe(pfd));
    R("pipe get user", fgetxattr(pfd[0], "user.a", buf, sizeof buf));
    R("pipe get trusted", fgetxattr(pfd[0], "trusted.a", buf, sizeof buf));
    R("pipe set user", fsetxattr(pfd[0], "user.a", "v", 1, 0));
    R("pipe list", flistxattr(pfd[0], NULL, 0));
    R("proc get", getxattr("/proc/self/status", "user.a", buf, sizeof buf));
    R("proc set", setxattr("/proc/self/status", "user.a", "v", 1, 0));
    R("proc list", listxattr("/proc/self/status", NULL, 0));

    /* user.* only on regular files and directories */
    MUST(mkfifo("fifo", 0644));
    MUST(symlink("f", "ln"));
    MUST(mkdir("d", 0755));
    R("fifo set user", setxattr("fifo", "user.a", "v", 1, 0));
    R("fifo get user", getxattr("fifo", "user.a", buf, 10));
    R("fifo remove user", removexattr("fifo", "user.a"));
    R("symlink lset user", lsetxattr("ln", "user.a", "v", 1, 0));
    R("symlink lget user", lgetxattr("ln", "user.a", buf, 10));
    R("symlink llist", llistxattr("ln", NULL, 0));
    R("symlink set follows", setxattr("ln", "user.via", "l", 1, 0));
    get_path("symlink target got it", "f", "user.via");
    R("dir set user", setxattr("d", "user.dir", "d", 1, 0));
    list_path("dir list", "d", 0);

    /* trusted.* and security.* (root with CAP_SYS_ADMIN) */
    R("set trusted", setxattr("f", "trusted.t", "t", 1, 0));
    R("set security", setxattr("f", "security.s", "s", 1, 0));
    R("set trusted on fifo", setxattr("fifo", "trusted.t", "t", 1, 0));
    R("caps junk", setxattr("f", "security.capability", "junk", 4, 0));
    uint32_t caps[5] = {0x02000001u, 0, 0, 0, 0};
    R("caps short", setxattr("f", "security.capability", caps, 19, 0));
    list_path("list with privileged", "f", 0);

    pid_t pid = fork();
    MUST(pid);
    if (pid == 0) {
        drop_sys_admin();
        R("child get trusted", getxattr("f", "trusted.t", buf, 10));
        R("child set trusted", setxattr("f", "trusted.t", "u", 1, 0));
        R("child remove trusted", removexattr("f", "trusted.t"));
        R("child set security", setxattr("f", "security.s", "u", 1, 0));
        R("child get security", getxattr("f", "security.s", buf, 10));
        list_path("child list", "f", 0);
        _exit(0);
    }
    show_wait("child without CAP_SYS_ADMIN", pid);

    /* another user: read and write permission, sticky directories */
    MUST(mkdir("sticky", 0777));
    MUST(chmod("sticky", 01777));
    MUST(mkdir("open", 0777));
    MUST(chmod("open", 0777));
    MUST(chmod("d", 0777));
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        MUST(setresgid(65534, 65534, 65534));
        MUST(setresuid(65534, 65534, 65534));
        get_path("user get readable", "f", "user.a");
        R("user set no write", setxattr("f", "user.a", "u", 1, 0));
        R("user remove no write", removexattr("f", "user.a"));
        list_path("user list", "f", 0);
        R("user set sticky dir", setxattr("sticky", "user.a", "u", 1, 0));
        R("user set open dir", setxattr("open", "user.a", "u", 1, 0));
        R("user set security", setxattr("open", "security.s", "u", 1, 0));
        R("user set trusted", setxattr("open", "trusted.t", "u", 1, 0));
        _exit(0);
    }
    show_wait("user 65534", pid);
    MUST(chmod("f", 0600));
    pid = fork();
    MUST(pid);
    if (pid == 0) {
        MUST(setresuid(65534, 65534, 65534));
        R("user get unreadable", getxattr("f", "user.a", buf, 10));
        R("user list unreadable", listxattr("f", NULL, 0));
        R("user get security unreadable", getxattr("f", "security.s", buf, 10));
        _exit(0);
    }
    show_wait("user 65534 again", pid);
    get_path("owner sees sticky dir", "sticky", "user.a");
    get_path("owner sees open dir", "open", "user.a");

    /* a host file never written: the program itself */
    R("host file list", listxattr(argv[0], NULL, 0));
    R("host file get", getxattr(argv[0], "user.none", buf, 10));
    R("host file get trusted", getxattr(argv[0], "trusted.none", buf, 10));

    /* /dev/shm: tmpfs natively and in the sandbox */
    char shm[96];
    snprintf(shm, sizeof shm, "/dev/shm/xattr-test-%lx", run_id);
    int sh = open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
    MUST(sh);
    basics(shm, "shm");
    memset(buf, 'x', BIG);
    R("shm set 64 KiB", setxattr(shm, "user.big", buf, BIG, 0));
    memset(buf, 0, BIG);
    R("shm get 64 KiB", getxattr(shm, "user.big", buf, BIG + 16));
    T("shm 64 KiB intact", buf[0] == 'x' && buf[BIG - 1] == 'x');
    R("shm get 64 KiB small", getxattr(shm, "user.big", buf, BIG - 1));
    R("shm remove big", removexattr(shm, "user.big"));
    const char *order[] = {"user.m", "user.zz", "user.b1", "user.b", "user.Z", "trusted.q",
                           "security.s", "user.aa"};
    for (unsigned i = 0; i < sizeof order / sizeof *order; i++)
        MUST(setxattr(shm, order[i], "o", 1, 0));
    list_path("shm list order", shm, 1);
    R("shm caps v2", setxattr(shm, "security.capability", caps, 20, 0));
    R("shm caps get", getxattr(shm, "security.capability", buf, sizeof buf));
    uint32_t caps3[6] = {0x03000001u, 0, 0, 0, 0, 0};
    R("shm caps v3 of root", setxattr(shm, "security.capability", caps3, 24, 0));
    R("shm caps v3 read as v2", getxattr(shm, "security.capability", buf, sizeof buf));
    caps3[5] = 1000;
    R("shm caps v3 of 1000", setxattr(shm, "security.capability", caps3, 24, 0));
    R("shm caps v3 stays v3", getxattr(shm, "security.capability", buf, sizeof buf));
    char sock_path[108];
    snprintf(sock_path, sizeof sock_path, "/dev/shm/xattr-sock-%lx", run_id);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    MUST(s);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    MUST(bind(s, (struct sockaddr *)&sa, sizeof sa));
    R("socket set user", setxattr(sock_path, "user.a", "v", 1, 0));
    R("socket set trusted", setxattr(sock_path, "trusted.a", "v", 1, 0));
    list_path("socket list", sock_path, 1);
    MUST(unlink(sock_path));
    MUST(unlink(shm));
    close(s);
    close(sh);
    return 0;
}
