"""What a sandboxed Python program reports of its CPU affinity, for the tests that check
the CPU hold (sentry.kernel.cpuhold) never shows: the prelude of such a program."""

PRELUDE = r'''
import os, sys, threading

def status_cpus(pid="self"):
    """Cpus_allowed_list of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        return next(l.split()[1] for l in f if l.startswith("Cpus_allowed_list:"))

def in_child(report):
    """What a forked child reports (report()), through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, repr(report()).encode())
        os._exit(0)
    os.close(w)
    got = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return got

def thread_cpus():
    """A new thread's affinity."""
    out = []
    t = threading.Thread(target=lambda: out.append(sorted(os.sched_getaffinity(0))))
    t.start()
    t.join()
    return repr(out[0])

def fork_cpus():
    """A forked child's affinity and status list."""
    return in_child(lambda: (sorted(os.sched_getaffinity(0)), status_cpus()))
'''


def check_report(lines: list[str], want: dict[str, str]) -> None:
    """Check such a program's output: a "start" line, then "KIND GOT" lines, each GOT
    the one *want* has for its KIND and every KIND there, then an "end" line equal to
    the start line."""
    seen = set()
    for line in lines[1:-1]:
        kind, got = line.split(" ", 1)
        assert got == want[kind], line
        seen.add(kind)
    assert seen == set(want)
    assert lines[-1] == lines[0].replace("start", "end", 1)
