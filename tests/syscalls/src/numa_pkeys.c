/* numa_pkeys.c -- memory protection keys (pkey_alloc/pkey_free/pkey_mprotect: the answers of a
 * host with or without PKU) and NUMA memory policies (set_mempolicy/get_mempolicy/mbind/
 * set_mempolicy_home_node: modes, mode flags, node masks, EINVAL/EFAULT, a VMA's policy,
 * inheritance by a child). Raw syscalls: the C library has no wrappers for all of them. */
#include "check.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_NODE (1 << 0)
#define MPOL_F_ADDR (1 << 1)
#define MPOL_F_MEMS_ALLOWED (1 << 2)
#define MPOL_MF_STRICT (1 << 0)
#define MAXNODE 1024

static unsigned long mask[MAXNODE / 64];

static long getpol(int *mode, unsigned long maxnode, void *addr, unsigned long flags)
{
    memset(mask, 0, sizeof mask);
    return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static void show_policy(const char *label, void *addr, unsigned long flags)
{
    int mode = -1;
    long r = getpol(&mode, MAXNODE, addr, flags);
    if (r < 0)
        printf("%s: -1 %s\n", label, en(errno));
    else
        printf("%s: mode %d mask %#lx\n", label, mode, mask[0]);
}

static void pkeys(void)
{
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(p == MAP_FAILED ? -1 : 0);
    R("pkey_alloc bad flags", syscall(SYS_pkey_alloc, 1, 0));
    R("pkey_alloc bad rights", syscall(SYS_pkey_alloc, 0, 4));
    long k;
    R("pkey_alloc", k = syscall(SYS_pkey_alloc, 0, 0));
    R("pkey_alloc again", syscall(SYS_pkey_alloc, 0, 1));
    R("pkey_mprotect key -1", syscall(SYS_pkey_mprotect, p, 4096, PROT_READ, -1));
    R("pkey_mprotect key 99", syscall(SYS_pkey_mprotect, p, 4096, PROT_READ, 99));
    R("pkey_mprotect allocated key", syscall(SYS_pkey_mprotect, p, 4096, PROT_READ, k));
    R("pkey_mprotect bad prot", syscall(SYS_pkey_mprotect, p, 4096, 0x100, -1));
    R("pkey_free allocated key", syscall(SYS_pkey_free, k));
    R("pkey_free 15", syscall(SYS_pkey_free, 15));
    R("pkey_free -1", syscall(SYS_pkey_free, -1));
    MUST(munmap(p, 4096));
}

int main(void)
{
    out_init();
    pkeys();
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        printf("child:\n");
        pkeys();
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(c, NULL, 0));

    int mode = -1;
    show_policy("initial policy", NULL, 0);
    show_policy("mems allowed", NULL, MPOL_F_MEMS_ALLOWED);
    R("get_mempolicy maxnode 0", syscall(SYS_get_mempolicy, &mode, mask, 0, NULL, 0));
    R("get_mempolicy no outputs", syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
    R("get_mempolicy bad flags", syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0x40));
    R("get_mempolicy mode EFAULT", syscall(SYS_get_mempolicy, (void *)8, NULL, 0, NULL, 0));
    R("get_mempolicy mask EFAULT", syscall(SYS_get_mempolicy, &mode, (void *)8, MAXNODE, NULL, 0));
    R("get_mempolicy ADDR without address flag", syscall(SYS_get_mempolicy, &mode, NULL, 0, mask, 0));
    R("get_mempolicy ADDR unmapped", syscall(SYS_get_mempolicy, &mode, NULL, 0, (void *)4096, MPOL_F_ADDR));
    R("get_mempolicy MEMS_ALLOWED with ADDR", syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL,
                                                     MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR));

    unsigned long node0 = 1, none = 0, far = 1UL << 63;
    R("set_mempolicy bad mode", syscall(SYS_set_mempolicy, 42, &node0, 64));
    R("set_mempolicy BIND empty", syscall(SYS_set_mempolicy, MPOL_BIND, &none, 64));
    R("set_mempolicy BIND node 63", syscall(SYS_set_mempolicy, MPOL_BIND, &far, 64));
    R("set_mempolicy DEFAULT with nodes", syscall(SYS_set_mempolicy, MPOL_DEFAULT, &node0, 64));
    R("set_mempolicy both node flags", syscall(SYS_set_mempolicy,
                                               MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, &node0, 64));
    R("set_mempolicy mask EFAULT", syscall(SYS_set_mempolicy, MPOL_BIND, (void *)8, 64));
    R("set_mempolicy LOCAL with nodes", syscall(SYS_set_mempolicy, MPOL_LOCAL, &node0, 64));
    R("set_mempolicy PREFERRED empty", syscall(SYS_set_mempolicy, MPOL_PREFERRED, NULL, 0));
    show_policy("after PREFERRED empty", NULL, 0);
    R("set_mempolicy INTERLEAVE node 0", syscall(SYS_set_mempolicy, MPOL_INTERLEAVE, &node0, 64));
    show_policy("after INTERLEAVE", NULL, 0);
    R("set_mempolicy BIND static node 0", syscall(SYS_set_mempolicy, MPOL_BIND | MPOL_F_STATIC_NODES,
                                                  &node0, 64));
    show_policy("after BIND static", NULL, 0);

    c = fork();
    MUST(c);
    if (c == 0) {
        show_policy("child inherits", NULL, 0);
        fflush(stdout);
        _exit(0);
    }
    MUST(waitpid(c, NULL, 0));

    char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MUST(p == MAP_FAILED ? -1 : 0);
    show_policy("mapping policy before mbind", p, MPOL_F_ADDR);
    R("mbind PREFERRED node 0", syscall(SYS_mbind, p, 2 * 4096, MPOL_PREFERRED, &node0, 64, 0));
    show_policy("mapping policy after mbind", p, MPOL_F_ADDR);
    show_policy("next page's policy", p + 2 * 4096, MPOL_F_ADDR);
    R("mbind unaligned", syscall(SYS_mbind, p + 1, 4096, MPOL_BIND, &node0, 64, 0));
    R("mbind bad flags", syscall(SYS_mbind, p, 4096, MPOL_BIND, &node0, 64, 0x100));
    R("mbind unmapped", syscall(SYS_mbind, (void *)4096, 4096, MPOL_BIND, &node0, 64, 0));
    R("mbind BIND strict", syscall(SYS_mbind, p, 4096, MPOL_BIND, &node0, 64, MPOL_MF_STRICT));
    R("home node flags", syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 1));
    R("home node bad node", syscall(SYS_set_mempolicy_home_node, p, 4096, 4096, 0));
    R("home node on BIND", syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 0));
    p[0] = 1;
    mode = -1;
    R("node of a touched page", syscall(SYS_get_mempolicy, &mode, NULL, 0, p, MPOL_F_NODE | MPOL_F_ADDR));
    printf("node: %d\n", mode);
    R("set_mempolicy back to DEFAULT", syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0));
    show_policy("final policy", NULL, 0);
    return 0;
}
