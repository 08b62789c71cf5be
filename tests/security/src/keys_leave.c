/* keys_leave.c DESC: look for a key and a named keyring called DESC, then make them in
 * the user, user session, session and process keyrings and leave them there. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static const char *en(long r)
{
    return r < 0 ? strerrorname_np(errno) : "found";
}

int main(int argc, char **argv)
{
    const char *d = argv[1];
    long r = syscall(SYS_request_key, "user", d, NULL, 0);
    printf("before: request_key %s", en(r));
    r = syscall(SYS_keyctl, 10 /* SEARCH */, -4 /* @u */, "user", d, 0);
    printf(" user keyring %s", en(r));
    r = syscall(SYS_keyctl, 10, -5 /* @us */, "user", d, 0);
    printf(" user session keyring %s\n", en(r));
    int ok = syscall(SYS_add_key, "user", d, "x", 1, -4) > 0
        && syscall(SYS_add_key, "user", d, "x", 1, -5) > 0
        && syscall(SYS_keyctl, 1 /* JOIN */, d) > 0
        && syscall(SYS_add_key, "user", d, "x", 1, -3) > 0
        && syscall(SYS_add_key, "user", d, "x", 1, -2) > 0;
    printf(ok ? "made\n" : "failed: %s\n", strerrorname_np(errno));
    return 0;
}
