"""/proc/PID/ns: a link per namespace, ``type:[inode]``, which two processes of a sandbox
share, and which opens a file whose inode number is the namespace's (no read)."""

from __future__ import annotations

import re

PROGRAM = r'''
import errno, os, stat
names = sorted(os.listdir("/proc/self/ns"))
print("names", " ".join(names))
mine = {n: os.readlink(f"/proc/self/ns/{n}") for n in names}
for n in names:
    st = os.stat(f"/proc/self/ns/{n}")
    kind, ino = mine[n][:-1].split(":[")
    print(n, kind, st.st_ino == int(ino), oct(stat.S_IMODE(st.st_mode)), stat.S_ISREG(st.st_mode))
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, repr({n: os.readlink(f"/proc/self/ns/{n}") for n in names}).encode())
    os._exit(0)
os.waitpid(pid, 0)
print("a child shares them", eval(os.read(r, 65536)) == mine)
print("through its pid", {n: os.readlink(f"/proc/{os.getpid()}/ns/{n}") for n in names} == mine)
fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
try:
    os.read(fd, 10)
except OSError as e:
    print("read", errno.errorcode[e.errno])
os.close(fd)
print("dir mode", oct(stat.S_IMODE(os.lstat("/proc/self/ns").st_mode)))
'''


def test_proc_ns_links(sandbox, tmp_path):
    prog = tmp_path / "ns.py"
    prog.write_text(PROGRAM)
    res = sandbox.do(["/usr/bin/python3", "-I", str(prog)])
    assert res.rc == 0, res.describe()
    lines = res.stdout.splitlines()
    assert lines[0] == ("names cgroup ipc mnt net pid pid_for_children time "
                        "time_for_children user uts"), res.describe()
    for line in lines[1:11]:
        name, kind, same_ino, mode, regular = line.split()
        assert kind == re.sub(r"_for_children$", "", name), line
        assert (same_ino, mode, regular) == ("True", "0o444", "True"), line
    assert lines[11:] == ["a child shares them True", "through its pid True", "read EINVAL",
                          "dir mode 0o511"], res.describe()
