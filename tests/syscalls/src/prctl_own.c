/* prctl_own.c -- the prctl settings of a thread's or process's own that touch nothing
 * else: timer slack (set, reset to the default with 0, inherited by a child), THP
 * disabling, the TSC mode, the machine-check kill policy, speculation control. */
#include "check.h"
#include <sys/prctl.h>

int main(void)
{
    out_init();
    int v = -1;
    R("GET_TIMERSLACK", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
    R("SET_TIMERSLACK 1000", prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0));
    R("GET_TIMERSLACK set", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
    fflush(stdout);
    pid_t c = fork();
    MUST(c);
    if (c == 0) {
        R("child GET_TIMERSLACK", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
        fflush(stdout);
        _exit(0);
    }
    int st;
    MUST(waitpid(c, &st, 0));
    R("SET_TIMERSLACK 0", prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0));
    R("GET_TIMERSLACK reset", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
    R("GET_THP_DISABLE", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
    R("SET_THP_DISABLE 1", prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
    R("GET_THP_DISABLE set", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
    R("SET_THP_DISABLE bad", prctl(PR_SET_THP_DISABLE, 1, 1, 0, 0));
    R("GET_TSC", prctl(PR_GET_TSC, &v, 0, 0, 0));
    R("tsc mode", v);
    R("SET_TSC 7", prctl(PR_SET_TSC, 7, 0, 0, 0));
    R("MCE_KILL_GET", prctl(PR_MCE_KILL_GET, 0, 0, 0, 0));
    R("MCE_KILL SET EARLY", prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0));
    R("MCE_KILL_GET set", prctl(PR_MCE_KILL_GET, 0, 0, 0, 0));
    R("GET_SPECULATION_CTRL bad", prctl(PR_GET_SPECULATION_CTRL, 99, 0, 0, 0));
    long sb = prctl(PR_GET_SPECULATION_CTRL, PR_SPEC_STORE_BYPASS, 0, 0, 0);
    T("GET_SPECULATION_CTRL store bypass answers", sb >= 0);
    return 0;
}
