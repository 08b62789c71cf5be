/* Generic netlink: nlctrl resolves TASKSTATS, and TASKSTATS_CMD_GET of this process. */
#include "check.h"
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <stdint.h>
#include <sys/socket.h>

struct req { struct nlmsghdr n; struct genlmsghdr g; char buf[256]; };
static char rep[8192];

static int send_cmd(int fd, int type, int cmd, int atype, const void *data, int len, int flags)
{
    struct req r;
    memset(&r, 0, sizeof r);
    r.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    r.n.nlmsg_type = type;
    r.n.nlmsg_flags = NLM_F_REQUEST | flags;
    r.n.nlmsg_seq = 42;
    r.g.cmd = cmd;
    r.g.version = 1;
    if (atype) {
        struct nlattr *na = (struct nlattr *)((char *)&r + r.n.nlmsg_len);
        na->nla_type = atype;
        na->nla_len = NLA_HDRLEN + len;
        memcpy((char *)na + NLA_HDRLEN, data, len);
        r.n.nlmsg_len += NLA_ALIGN(na->nla_len);
    }
    return send(fd, &r, r.n.nlmsg_len, 0);
}

static struct nlattr *find(char *p, int len, int type)
{
    while (len >= NLA_HDRLEN) {
        struct nlattr *na = (struct nlattr *)p;
        if (na->nla_len < NLA_HDRLEN) break;
        if ((na->nla_type & NLA_TYPE_MASK) == type) return na;
        p += NLA_ALIGN(na->nla_len);
        len -= NLA_ALIGN(na->nla_len);
    }
    return NULL;
}

#define GATTRS(n) ((char *)NLMSG_DATA(n) + GENL_HDRLEN)
#define GLEN(n) ((int)((n)->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN)))

static int error_of(struct nlmsghdr *n)
{
    return n->nlmsg_type == NLMSG_ERROR ? ((struct nlmsgerr *)NLMSG_DATA(n))->error : 1;
}

static void stats_of(int fd, int fam, int attr, uint32_t id, const char *what)
{
    char label[64];
    snprintf(label, sizeof label, "%s send", what);
    R(label, send_cmd(fd, fam, TASKSTATS_CMD_GET, attr, &id, 4, 0) > 0 ? 0 : -1);
    int n = recv(fd, rep, sizeof rep, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)rep;
    snprintf(label, sizeof label, "%s reply", what);
    T(label, n > 0 && NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == fam && h->nlmsg_seq == 42);
    struct genlmsghdr *g = NLMSG_DATA(h);
    printf("%s cmd: %d version: %d\n", what, g->cmd, g->version);
    int aggr = attr == TASKSTATS_CMD_ATTR_PID ? TASKSTATS_TYPE_AGGR_PID : TASKSTATS_TYPE_AGGR_TGID;
    struct nlattr *a = find(GATTRS(h), GLEN(h), aggr);
    T("aggr nest", a != NULL);
    if (!a) return;
    struct nlattr *p = find((char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN,
                            attr == TASKSTATS_CMD_ATTR_PID ? TASKSTATS_TYPE_PID : TASKSTATS_TYPE_TGID);
    struct nlattr *s = find((char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN, TASKSTATS_TYPE_STATS);
    T("id attr is the id asked", p && *(uint32_t *)((char *)p + NLA_HDRLEN) == id);
    T("stats attr", s && s->nla_len >= NLA_HDRLEN + sizeof(struct taskstats));
    if (!s) return;
    struct taskstats ts;
    memcpy(&ts, (char *)s + NLA_HDRLEN, sizeof ts);
    T("version >= 13", ts.version >= 13);
    if (attr == TASKSTATS_CMD_ATTR_PID) {
        T("ac_pid is getpid", ts.ac_pid == (uint32_t)getpid());
        T("ac_tgid is getpid", ts.ac_tgid == (uint32_t)getpid());
        printf("ac_ppid: %u\n", ts.ac_ppid);
        printf("ac_uid: %u ac_gid: %u\n", ts.ac_uid, ts.ac_gid);
        printf("ac_comm: %s\n", ts.ac_comm);
        T("ac_btime is recent", ts.ac_btime > 1600000000u && ts.ac_btime <= (uint32_t)time(NULL));
        T("ac_etime below a minute", ts.ac_etime < 60000000ull);
        T("ac_minflt counted", ts.ac_minflt > 0);
    } else {
        T("tgid ac_pid zero", ts.ac_pid == 0);
        T("tgid ac_etime below a minute", ts.ac_etime < 60000000ull);
    }
}

int main(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    MUST(fd);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    OK("bind", bind(fd, (struct sockaddr *)&sa, sizeof sa));
    socklen_t sl = sizeof sa;
    OK("getsockname", getsockname(fd, (struct sockaddr *)&sa, &sl));
    T("port is pid", sa.nl_pid == (uint32_t)getpid());

    /* nlctrl: TASKSTATS */
    R("getfamily send", send_cmd(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME,
                                  "TASKSTATS", 10, 0) > 0 ? 0 : -1);
    int n = recv(fd, rep, sizeof rep, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)rep;
    T("getfamily reply", n > 0 && NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == GENL_ID_CTRL);
    printf("getfamily cmd: %d nlmsg_pid is port: %s\n", ((struct genlmsghdr *)NLMSG_DATA(h))->cmd,
           h->nlmsg_pid == sa.nl_pid ? "yes" : "no");
    struct nlattr *first = (struct nlattr *)GATTRS(h);
    printf("first attr: %d\n", first->nla_type);
    struct nlattr *a = find(GATTRS(h), GLEN(h), CTRL_ATTR_FAMILY_ID);
    MUST(a ? 0 : -1);
    int fam = *(uint16_t *)((char *)a + NLA_HDRLEN);
    T("family id dynamic", fam > GENL_ID_CTRL);
    a = find(GATTRS(h), GLEN(h), CTRL_ATTR_VERSION);
    printf("family version: %u\n", a ? *(uint32_t *)((char *)a + NLA_HDRLEN) : 0);
    a = find(GATTRS(h), GLEN(h), CTRL_ATTR_HDRSIZE);
    printf("family hdrsize: %u\n", a ? *(uint32_t *)((char *)a + NLA_HDRLEN) : 99);
    a = find(GATTRS(h), GLEN(h), CTRL_ATTR_OPS);
    if (a) {
        char *p = (char *)a + NLA_HDRLEN;
        int left = a->nla_len - NLA_HDRLEN;
        while (left >= NLA_HDRLEN) {
            struct nlattr *op = (struct nlattr *)p;
            struct nlattr *id = find(p + NLA_HDRLEN, op->nla_len - NLA_HDRLEN, CTRL_ATTR_OP_ID);
            struct nlattr *fl = find(p + NLA_HDRLEN, op->nla_len - NLA_HDRLEN, CTRL_ATTR_OP_FLAGS);
            printf("op %d: cmd %u flags %#x\n", op->nla_type, id ? *(uint32_t *)((char *)id + 4) : 0,
                   fl ? *(uint32_t *)((char *)fl + 4) : 0);
            p += NLA_ALIGN(op->nla_len);
            left -= NLA_ALIGN(op->nla_len);
        }
    }

    /* unknown family names: ENOENT, the request echoed */
    send_cmd(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, "NOSUCHFAM", 10, 0);
    n = recv(fd, rep, sizeof rep, 0);
    printf("unknown family: %d len %d\n", error_of(h), n);
    /* nlctrl by name */
    send_cmd(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, "nlctrl", 7, 0);
    n = recv(fd, rep, sizeof rep, 0);
    a = find(GATTRS(h), GLEN(h), CTRL_ATTR_FAMILY_ID);
    printf("nlctrl id: %#x\n", a ? *(uint16_t *)((char *)a + NLA_HDRLEN) : 0);

    stats_of(fd, fam, TASKSTATS_CMD_ATTR_PID, getpid(), "pid");
    stats_of(fd, fam, TASKSTATS_CMD_ATTR_TGID, getpid(), "tgid");

    /* a pid nobody has: ESRCH */
    uint32_t nobody = 4000000;
    send_cmd(fd, fam, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_PID, &nobody, 4, 0);
    n = recv(fd, rep, sizeof rep, 0);
    printf("unknown pid: %d len %d\n", error_of(h), n);
    /* no attribute: EINVAL; unknown command: EOPNOTSUPP; unknown family id: ENOENT */
    send_cmd(fd, fam, TASKSTATS_CMD_GET, 0, NULL, 0, 0);
    n = recv(fd, rep, sizeof rep, 0);
    printf("no attribute: %d\n", error_of(h));
    send_cmd(fd, fam, 9, 0, NULL, 0, 0);
    n = recv(fd, rep, sizeof rep, 0);
    printf("unknown command: %d\n", error_of(h));
    send_cmd(fd, 0x7ff, 1, 0, NULL, 0, 0);
    n = recv(fd, rep, sizeof rep, 0);
    printf("unknown family id: %d\n", error_of(h));
    /* NLM_F_ACK: the reply, then an ack capped to the header */
    uint32_t me = getpid();
    send_cmd(fd, fam, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_PID, &me, 4, NLM_F_ACK);
    n = recv(fd, rep, sizeof rep, 0);
    T("acked reply", h->nlmsg_type == fam);
    n = recv(fd, rep, sizeof rep, 0);
    printf("ack: %d flags %#x len %d\n", error_of(h), h->nlmsg_flags, n);

    /* a child's stats */
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    uint32_t cid = c;
    send_cmd(fd, fam, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_PID, &cid, 4, 0);
    n = recv(fd, rep, sizeof rep, 0);
    a = find(GATTRS(h), GLEN(h), TASKSTATS_TYPE_AGGR_PID);
    struct nlattr *s = a ? find((char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN, TASKSTATS_TYPE_STATS) : NULL;
    if (s) {
        struct taskstats *ts = (struct taskstats *)((char *)s + NLA_HDRLEN);
        T("child ac_pid", ts->ac_pid == cid);
        T("child ac_ppid is us", ts->ac_ppid == (uint32_t)getpid());
    } else {
        printf("child stats: missing\n");
    }
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    OK("close", close(fd));
    return 0;
}
