"""Busybox workloads: the same ``sh -c`` script in an OCI bundle and natively.

The sandbox half is ``runsc-py run --bundle`` of a busybox-static rootfs. The native half is
the same argv in a copy of the same rootfs under ``chroot``, as pid 1 of a fresh pid namespace
with its own /proc, the config's hostname and environment (``helpers.bundle``). Exit status,
stdout and stderr must be identical; scripts avoid printing what may legitimately differ (raw
pids other than ``$$``, real times, directory sizes, block counts).

Run: ``python3 -m pytest tests/workloads/test_busybox.py`` (needs Debian's busybox-static).
"""

from __future__ import annotations

import pytest
from helpers.bundle import run_chroot_native
from helpers.normalize import ps_commands

TREE = r"""
set -e
mkdir -p /tmp/t/a/b/c /tmp/t/empty
echo hello > /tmp/t/a/one.txt
printf 'line1\nline2\nline3\n' > /tmp/t/a/b/two.txt
seq 1 100 > /tmp/t/a/b/c/nums
: > /tmp/t/zero
ln -s a/one.txt /tmp/t/link
chmod 600 /tmp/t/a/b/two.txt
chmod 751 /tmp/t/a/b/c
for p in /tmp/t/a/one.txt /tmp/t/a/b/two.txt /tmp/t/a/b/c/nums /tmp/t/zero \
         /tmp/t/a/b/c /tmp/t/a/b /tmp/t/a /tmp/t/empty /tmp/t /tmp; do
  touch -d '2020-01-02 03:04:05' "$p"
done
touch -h -d '2021-05-06 07:08:09' /tmp/t/link
set +e
"""

# ls -la without what differs between file systems: "total" (blocks) and directory sizes
LS = r"""ls -la @PATH@ | awk '$1 == "total" {next} $1 ~ /^d/ {$5 = "DIR"} {print}'"""

SCRIPTS: dict[str, str] = {
    "pipeline": r"""
echo "b a c a b a" | tr ' ' '\n' | sort | uniq -c | sort -rn | head -2
seq 1 1000 | grep 7 | wc -l
seq 1 20 | awk '{s += $1} END {print s}'
printf 'x\ny\n' | cat - /etc/group | wc -l
yes | head -3
echo pipestatus; false | true; echo $?
""",
    "redirections": r"""
cd /tmp
echo one > f
echo two >> f
cat < f
ls /nonexistent 2>&1 | head -1
ls /nonexistent > out 2>&1; echo rc=$?; cat out
exec 3> g
echo three >&3
exec 3>&-
cat g
cat f g > h 2>/dev/null
wc -l < h
echo err >&2
{ echo a; echo b >&2; } 2>&1 | sort
echo nul > /dev/null; cat /dev/null | wc -c
head -c 8 /dev/zero | od -An -tx1
""",
    "subshells": r"""
x=1; (x=2; echo in $x); echo out $x
echo $(echo nested $(echo deep))
{ echo group; echo two; } | wc -l
y=$( (exit 4) ; echo $? ); echo sub rc $y
(cd /tmp && pwd); pwd
echo "$(( 6 * 7 ))" $((1 << 10))
""",
    "background_wait": r"""
sleep 0.2 & a=$!
(exit 7) & b=$!
wait $b; echo b=$?
wait $a; echo a=$?
for i in 1 2 3; do (echo job $i > /tmp/j$i) & done
wait
cat /tmp/j1 /tmp/j2 /tmp/j3
(sleep 5; echo should-not-print) & k=$!
# (whether ash's wait says "Terminated" depends on when it reaps the job: natively too)
kill $k; wait $k 2>/dev/null; echo killed=$?
""",
    "loops": r"""
for i in 1 2 3; do echo for $i; done
i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo while $i; done
until [ $i -eq 0 ]; do i=$((i-1)); done; echo until $i
for w in apple banana cherry; do case $w in a*) echo A $w;; b*) echo B $w;; *) echo other $w;; esac; done
f() { echo func "$@"; return 3; }; f x y; echo ret=$?
set -- p q r; echo "$#" "$2" "$*"; shift; echo "$@"
for i in $(seq 5); do [ $i -eq 2 ] && continue; [ $i -eq 4 ] && break; echo n $i; done
""",
    "trap": r"""
trap 'echo got USR1' USR1
kill -USR1 $$
echo after
sh -c 'trap "echo child got TERM; exit 3" TERM; kill -TERM $$; sleep 1; echo not reached'
echo child rc=$?
sh -c 'trap "echo child exit trap" EXIT; exit 5'
echo rc=$?
trap - USR1
trap 'echo exiting' EXIT
""",
    "heredoc": """
cat <<EOF
hello $HOME
$(echo cmd subst)
EOF
cat <<'EOF'
literal $HOME $(not run)
EOF
cat <<-EOF
\tindented
\tEOF
wc -l <<EOF
a
b
EOF
""",
    "tree_ls_stat_find": TREE
    + LS.replace("@PATH@", "/tmp/t")
    + "\n"
    + LS.replace("@PATH@", "/tmp/t/a/b")
    + r"""
stat -c '%n %s %a %A %F %U %G %h %Y' /tmp/t/a/one.txt /tmp/t/a/b/two.txt /tmp/t/zero
stat -c '%n %a %F %U %Y' /tmp/t/link
stat -L -c '%n %s %F' /tmp/t/link
stat -c '%n %a %F %h %Y' /tmp/t/a/b/c
find /tmp/t | sort
find /tmp/t -type f -name '*.txt' | sort
find /tmp/t -type d | sort
find /tmp/t -type l
find /tmp/t -size +0 -type f | sort
readlink /tmp/t/link
cat /tmp/t/link
""",
    "file_applets": TREE
    + r"""
cd /tmp/t
cp a/one.txt copy.txt && cat copy.txt
cp -r a a2 && find a2 | sort
mv copy.txt moved.txt && ls moved.txt && ! ls copy.txt 2>/dev/null
ln -s /tmp/t/a/b/two.txt abs-link && cat abs-link
ln a/one.txt hard && stat -c '%h' a/one.txt
rm -r a2 && ! ls a2 2>/dev/null && echo a2 gone
mkdir -p x/y/z && rmdir -p x/y/z 2>/dev/null; ls -d x 2>&1
rm hard moved.txt abs-link
rm -r a && echo removed a
ls -1 /tmp/t
rm /tmp/t/nothing; echo rm-missing=$?
mkdir /tmp/t/zero; echo mkdir-over-file=$?
""",
    "text_applets": r"""
seq 1 50 > /tmp/n
head -n 3 /tmp/n; tail -n 2 /tmp/n
sort -rn /tmp/n | head -3
printf 'b\na\nb\nc\n' | sort -u
grep -c 1 /tmp/n; grep -v '[0-8]' /tmp/n; grep -iE '^(4|5)0$' /tmp/n
echo 'a:b:c' | cut -d: -f2,3
echo hello world | sed 's/world/there/; s/^h/H/'
echo 'x y z' | awk '{print $3, NF}'
echo abc | tr a-c A-C
printf '1\n1\n2\n' | uniq -c
seq 1 5 | xargs echo args:
expr 3 + 4; basename /a/b/c.txt .txt; dirname /a/b/c.txt
seq 1 1000 | md5sum; seq 1 1000 | sha256sum
printf 'hi' | base64
printf '%05d|%-4s|%x\n' 42 ab 255
wc -c /tmp/n; wc -w /tmp/n
cat -n /etc/group | head -2
""",
    "identity": r"""
env | sort
id; id -u; id -g; id -un; id -gn; whoami
uname -s; uname -n; uname -m
hostname
echo $$
cut -d' ' -f1,4 /proc/self/stat
cut -d' ' -f1 /proc/1/stat
pwd
umask
""",
    "exit_codes": r"""
sh -c 'exit 3'; echo exit3=$?
sh -c 'kill -9 $$'; echo killed9=$?
sh -c 'kill -TERM $$'; echo killedTERM=$?
false; echo false=$?
nonexistent-command 2>/dev/null; echo notfound=$?
/tmp 2>/dev/null; echo notexec=$?
exit 42
""",
}

PYTHON_ONLY = ["pipeline", "trap", "background_wait", "tree_ls_stat_find"]
CASES = [pytest.param(name, False, id=name) for name in SCRIPTS] + [
    pytest.param(name, True, id=f"{name}-python-only") for name in PYTHON_ONLY
]


def _both(sandbox, busybox_bundle, native_rootfs, args, python_only=False):
    native = run_chroot_native(native_rootfs, args)
    boxed = sandbox.run_bundle(busybox_bundle, args, python_only=python_only)
    return native, boxed


@pytest.mark.parametrize(("name", "python_only"), CASES)
def test_script_matches_native(name, python_only, sandbox, busybox_bundle, native_rootfs):
    args = ["sh", "-c", SCRIPTS[name]]
    native, boxed = _both(sandbox, busybox_bundle, native_rootfs, args, python_only)
    assert native.stdout.strip(), f"native half printed nothing:\n{native.describe()}"
    assert (boxed.rc, boxed.stdout) == (native.rc, native.stdout), boxed.describe()
    assert boxed.stderr == native.stderr


@pytest.mark.parametrize(
    ("script", "expected_rc"),
    [("exit 3", 3), ("true", 0), ("false", 1), ("sh -c 'kill -9 $$'; exit $?", 137)],
)
def test_exit_status_propagates(script, expected_rc, sandbox, busybox_bundle, native_rootfs):
    """``run`` exits with the container's status (a shell whose child was killed by
    SIGKILL returns 128+9 itself). ``sh -c 'sh -c "kill -9 $$"'`` would not do: busybox sh
    execs the last command of ``-c`` in place, so the inner shell is pid 1 and immune."""
    native, boxed = _both(sandbox, busybox_bundle, native_rootfs, ["sh", "-c", script])
    assert native.rc == expected_rc
    assert boxed.rc == expected_rc, boxed.describe()


def test_kill_9_self_as_init_is_ignored(sandbox, busybox_bundle, native_rootfs):
    """Linux's pid-1 rule: SIGKILL from inside the namespace to init (no handler) is
    dropped, so ``kill -9 $$`` in the container's first shell does nothing."""
    args = ["sh", "-c", "kill -9 $$; echo survived"]
    native, boxed = _both(sandbox, busybox_bundle, native_rootfs, args)
    assert (native.rc, native.stdout) == (0, "survived\n")
    assert (boxed.rc, boxed.stdout) == (native.rc, native.stdout), boxed.describe()


@pytest.mark.parametrize("python_only", [False, True], ids=["c", "python-only"])
def test_ps_shows_only_the_sandbox(python_only, sandbox, busybox_bundle, native_rootfs):
    script = "sleep 2 & sleep 3 & sleep 0.3; ps -o pid,args; kill %1 %2 2>/dev/null; wait"
    args = ["sh", "-c", script]
    native, boxed = _both(sandbox, busybox_bundle, native_rootfs, args, python_only)
    n_pids, n_cmds = ps_commands(native.stdout)
    b_pids, b_cmds = ps_commands(boxed.stdout)
    assert 1 in n_pids and len(n_cmds) == 4, native.describe()
    assert boxed.rc == native.rc, boxed.describe()
    assert 1 in b_pids, boxed.describe()
    assert b_cmds == n_cmds, boxed.describe()
