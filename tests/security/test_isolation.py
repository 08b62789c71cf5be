"""Security invariants of design §7 checked end to end through the CLI.

Each test names the invariant it protects. Every test uses the ``runsc_root`` fixture, which
also fails the test if a process the runtime started outlives it or if ``--root`` is not left
empty. Escape tests also run the same attempts natively under ``chroot`` to show that the
attempts themselves are sound (a correct confinement refuses them natively too).

Run: ``python3 -m pytest tests/security`` (needs busybox-static and cc).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import procs
from helpers.bundle import edit_config, run_chroot_native
from helpers.normalize import ps_commands
from helpers.runner import BASE_ENV, run_native, runsc, runsc_argv

SRC = Path(__file__).resolve().parent / "src"


def _numeric(listing: str) -> set[int]:
    return {int(x) for x in listing.split() if x.isdigit()}


# ---------------------------------------------------------------- §7.5 identities


def test_proc_and_ps_show_only_sandbox_pids_do_mode(sandbox, tmp_path):
    """§7.5: the workload sees only its own pids (init is 1); no host process, like the test
    process itself, is visible in /proc."""
    script = "sleep 3 & sleep 0.2; ls /proc; echo ---; cat /proc/1/cmdline | tr '\\0' ' '; kill $!"
    cmd = ["/bin/sh", "-c", script]
    res = sandbox.do(cmd, cwd=tmp_path)
    assert res.rc == 0, res.describe()
    listing, _, init_cmd = res.stdout.partition("---")
    pids = _numeric(listing)
    assert 1 in pids, res.describe()
    assert os.getpid() not in pids and os.getppid() not in pids
    assert max(pids) < 50, f"host-looking pids in the sandbox's /proc: {sorted(pids)}"
    assert len(pids) <= 4, f"more processes than the workload has: {sorted(pids)}"
    assert init_cmd.strip().startswith("/bin/sh -c"), init_cmd
    # the same view natively in a fresh pid namespace: the check itself is sound
    native = run_native(cmd, cwd=tmp_path)
    assert _numeric(native.stdout.partition("---")[0]) == pids


def test_ps_in_bundle_lists_only_the_container(sandbox, busybox_bundle):
    """§7.5: ``ps`` in a container shows the container's processes only, init is pid 1."""
    res = sandbox.run_bundle(busybox_bundle, ["sh", "-c", "ps -o pid,args; echo ---; ls /proc"])
    assert res.rc == 0, res.describe()
    pids, cmds = ps_commands(res.stdout.split("\n---\n")[0])
    assert 1 in pids and len(cmds) == 2, res.describe()
    assert all("sh -c" in c or c.startswith("ps") for c in cmds), cmds
    assert os.getpid() not in _numeric(res.stdout)


def test_hostname_is_the_configs(sandbox, busybox_bundle):
    """§7.5: the hostname is the container's (config.json), not the host's."""
    edit_config(busybox_bundle, hostname="sbx-" + secrets.token_hex(3))
    name = json.loads((busybox_bundle / "config.json").read_text())["hostname"]
    res = sandbox.run_bundle(
        busybox_bundle, ["sh", "-c", "hostname; uname -n; cat /proc/sys/kernel/hostname"]
    )
    assert res.rc == 0, res.describe()
    assert res.stdout.split() == [name, name, name]


# ---------------------------------------------------------------- do mode writes


def test_do_mode_writes_never_reach_the_host(sandbox, tmp_path):
    """§1/§6 (root filesystem) and §7.3: in do mode the host is read-only below an in-memory
    overlay: writes, creations, renames and removals are seen inside, never on the host."""
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "keep").write_text("original\n")
    (d / "victim").write_text("victim\n")
    (d / "sub").mkdir()
    (d / "sub" / "inner").write_text("inner\n")
    before = {p: (p.stat().st_mode, p.read_text() if p.is_file() else None) for p in d.rglob("*")}
    script = f"""
    set -e
    cd {d}
    echo changed > keep
    echo appended >> victim
    rm victim
    echo new > created
    mkdir newdir
    mv sub moved
    rm -r moved
    chmod 000 keep
    ln -s /etc/passwd planted
    cat keep created
    ls
    """
    res = sandbox.do(["/bin/sh", "-c", script], cwd=tmp_path)
    assert res.rc == 0, res.describe()
    assert res.stdout.split() == ["changed", "new", "created", "keep", "newdir", "planted"]
    after = {p: (p.stat().st_mode, p.read_text() if p.is_file() else None) for p in d.rglob("*")}
    assert after == before, "the sandbox changed the host file system"


# ---------------------------------------------------------------- §7.2 fail closed


def _traced_descendant(root_pid: int) -> tuple[int, int] | None:
    tree = procs.descendants(root_pid) | {root_pid}
    for pid in tree:
        tracer = procs.tracer_of(pid)
        if tracer and tracer in tree:
            return pid, tracer
    return None


def test_killing_the_sentry_kills_every_workload_process(runsc_root):
    """§7.2: if the sentry dies (kill -9), every workload process dies with it within 5 s;
    nothing is left running un-trapped."""
    argv = runsc_argv() + ["--root", str(runsc_root), "do", "--", "/bin/sh", "-c", "sleep 100 & sleep 100"]
    cli = subprocess.Popen(
        argv,
        env=BASE_ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline and cli.poll() is None:
            found = _traced_descendant(cli.pid)
            if found is None or len(procs.descendants(cli.pid)) < 3:
                found = None
                time.sleep(0.1)
        assert cli.poll() is None, f"runsc-py exited early: {cli.stderr.read().decode()[-2000:]}"
        assert found is not None, (
            "no ptrace-traced workload process under runsc-py after 30 s:\n"
            + procs.describe(procs.descendants(cli.pid))
        )
        _workload, sentry = found
        everything = (procs.descendants(cli.pid) | {cli.pid}) - {sentry}
        os.kill(sentry, signal.SIGKILL)
        left = procs.wait_gone(everything, 5.0)
        assert not left, "still alive 5 s after the sentry was killed:\n" + procs.describe(left)
        assert cli.wait(5) != 0
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
        # The killed sandbox's state stays (stopped) until deleted, as with runc.
        for entry in runsc_root.iterdir():
            runsc(["delete", "--force", entry.name], root=runsc_root, env=BASE_ENV, timeout=30)


def test_unknown_syscall_is_enosys_and_logged_once(sandbox, c_program, tmp_path, runsc_root):
    """§7.2/§5: an unknown syscall number returns ENOSYS (the workload goes on), and is logged
    once as "unsupported syscall N"."""
    exe = c_program(SRC / "enosys.c", static=True)
    native = run_native([str(exe)])
    assert native.rc == 0 and native.stdout.count("ENOSYS") == 4, native.describe()
    log = tmp_path / "debug.log"
    res = runsc(["do", "--", str(exe)], root=runsc_root, debug_log=str(log), cwd=tmp_path, env=BASE_ENV)
    assert (res.rc, res.stdout) == (native.rc, native.stdout), res.describe()
    text = log.read_text() if log.exists() else ""
    assert len(re.findall(r"unsupported syscall 1000\b", text)) == 1, text[-3000:]


# ---------------------------------------------------------------- §7.4 gofer confinement


def _plant(rootfs: Path, secret_path: Path) -> None:
    (rootfs / "abs").symlink_to(secret_path)  # absolute host path
    (rootfs / "rel").symlink_to("../../../../../../../../" + secret_path.name)
    (rootfs / "up").symlink_to("..")
    (rootfs / "hostroot").symlink_to("/")
    (rootfs / "tmp" / "deep").mkdir()
    (rootfs / "tmp" / "deep" / "back").symlink_to("../../../../..")


ESCAPES = r"""
cat /inside.txt
cat /../secret.txt
cat /../../../secret.txt
cd /tmp/deep && cat ../../../../../secret.txt; cd /
cat /abs /rel /up/secret.txt /up/up/secret.txt /hostroot/../secret.txt
cat /tmp/deep/back/secret.txt /tmp/deep/back/../secret.txt
cat /proc/self/root/../secret.txt /proc/self/root/../../secret.txt
cat /proc/1/cwd/../secret.txt /proc/1/root/../secret.txt
cd /proc/self/root/.. && cat secret.txt; cd /
exec 3< /
cat /proc/self/fd/3/../secret.txt /proc/$$/fd/3/../../secret.txt
cat SECRET_ABS
ls -a / /.. /up /hostroot /proc/self/root/..
echo end
"""


def test_rootfs_escape_attempts_fail(sandbox, busybox_bundle, native_rootfs, tmp_path):
    """§7.4: the gofer cannot be led outside the rootfs by `..` chains, absolute or relative
    symlinks planted in the rootfs, /proc/self/root/.., /proc/1/cwd/.., or /proc/self/fd magic
    links; a secret file next to the rootfs stays unreadable."""
    token, inside = secrets.token_hex(16), secrets.token_hex(16)
    secret = busybox_bundle / "secret.txt"
    secret.write_text(token + "\n")
    (tmp_path / "secret.txt").write_text(token + "\n")  # next to native-rootfs too
    (busybox_bundle / "rootfs" / "inside.txt").write_text(inside + "\n")
    (native_rootfs / "inside.txt").write_text(inside + "\n")
    _plant(busybox_bundle / "rootfs", secret)
    _plant(native_rootfs, secret)
    args = ["sh", "-c", ESCAPES.replace("SECRET_ABS", str(secret))]

    native = run_chroot_native(native_rootfs, args)
    assert inside in native.stdout and "end" in native.stdout, native.describe()
    assert token not in native.stdout + native.stderr, "the attempt escapes even natively"

    res = sandbox.run_bundle(busybox_bundle, args)
    assert inside in res.stdout and "end" in res.stdout, res.describe()
    assert token not in res.stdout + res.stderr, "secret outside the rootfs was read:\n" + res.describe()
    assert secret.read_text() == token + "\n"


def test_mount_table_names_no_host_path(sandbox, busybox_bundle, tmp_path):
    """§7.4: the sandbox's mount table does not reveal where the rootfs or a bind mount's
    source lives on the host (gofer mounts read ``none``, as in gVisor)."""
    data = tmp_path / "bind-source-dir"
    data.mkdir()
    edit_config(busybox_bundle, mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "ro"]},
    ])
    res = sandbox.run_bundle(busybox_bundle, ["sh", "-c", "cat /proc/mounts /proc/self/mountinfo"])
    assert res.rc == 0, res.describe()
    assert " /data " in res.stdout, res.describe()
    for host_path in (str(busybox_bundle), str(data), str(tmp_path)):
        assert host_path not in res.stdout, f"{host_path} leaks:\n{res.stdout}"


def test_device_nodes_in_the_rootfs_are_not_opened(sandbox, busybox_bundle):
    """§7.4: the gofer refuses device nodes found in the image (a planted char device must not
    give access to the host device); the container's own /dev/zero still works."""
    os.mknod(busybox_bundle / "rootfs" / "evil", 0o666 | 0o020000, os.makedev(1, 5))
    script = "head -c 4 /evil 2>/dev/null | wc -c; head -c 4 /dev/zero | wc -c"
    res = sandbox.run_bundle(busybox_bundle, ["sh", "-c", script])
    assert res.stdout.split() == ["0", "4"], res.describe()


# ---------------------------------------------------------------- §7.8 bad CLI input


def _assert_clean_error(res, what: str) -> None:
    lines = res.stderr.strip().splitlines()
    assert res.rc != 0, f"{what}: exit status 0\n{res.describe()}"
    assert len(lines) == 1, f"{what}: not a one-line error\n{res.describe()}"
    assert "Traceback" not in res.stderr


def _cfg(process: object = None, root: object = None) -> str:
    cfg: dict[str, object] = {"ociVersion": "1.0.2", "root": root or {"path": "rootfs"}}
    if process is not None:
        cfg["process"] = process
    return json.dumps(cfg)


BAD_CONFIGS = {
    "not_json": "{ this is not json",
    "args_not_list": _cfg({"args": "sh", "cwd": "/"}),
    "no_process": _cfg(),
    "empty_args": _cfg({"args": [], "cwd": "/"}),
    "relative_cwd": _cfg({"args": ["sh"], "cwd": "rel"}),
    "root_not_object": _cfg({"args": ["sh"], "cwd": "/"}, root=5),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_malformed_config_is_a_clean_error(name, sandbox, busybox_bundle, runsc_root):
    """§7.8: an invalid config.json gives one line on stderr, a non-zero exit, an empty
    --root and no process left (the fixture checks the last two)."""
    (busybox_bundle / "config.json").write_text(BAD_CONFIGS[name])
    res = sandbox.cli(["run", "--bundle", str(busybox_bundle), "bad1"], env=BASE_ENV)
    _assert_clean_error(res, name)


def test_missing_rootfs_is_a_clean_error(sandbox, busybox_bundle, runsc_root):
    """§7.8: a bundle whose rootfs does not exist is refused cleanly."""
    import shutil

    shutil.rmtree(busybox_bundle / "rootfs")
    res = sandbox.cli(["run", "--bundle", str(busybox_bundle), "bad2"], env=BASE_ENV)
    _assert_clean_error(res, "missing rootfs")


@pytest.mark.parametrize("verb", [["state"], ["delete"]])
def test_unknown_container_id_is_a_clean_error(verb, sandbox):
    """§7.8: an unknown id gives a one-line error and a non-zero exit."""
    res = sandbox.cli([*verb, "no-such-container"], env=BASE_ENV)
    _assert_clean_error(res, " ".join(verb))


def test_force_delete_of_unknown_id_succeeds_like_runc(sandbox):
    """§7.8 / runc compatibility: ``delete --force`` of an id that does not exist is not an
    error in runc (containerd relies on it for cleanup) and leaves nothing behind."""
    res = sandbox.cli(["delete", "--force", "no-such-container"], env=BASE_ENV)
    assert res.rc == 0, res.describe()


def test_duplicate_id_is_refused_and_original_survives(sandbox, busybox_bundle, runsc_root):
    """§7.8 (wrong state): a second container with a live id is refused cleanly and the first
    keeps running to completion."""
    argv = runsc_argv() + ["--root", str(runsc_root), "run", "--bundle", str(busybox_bundle), "dup"]
    edit_config(busybox_bundle, args=["sh", "-c", "sleep 1.5; echo first-done"])
    first = subprocess.Popen(argv, env=BASE_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and first.poll() is None:
            if runsc(["state", "dup"], root=runsc_root, env=BASE_ENV, timeout=30).rc == 0:
                break
            time.sleep(0.05)
        res = sandbox.cli(["run", "--bundle", str(busybox_bundle), "dup"], env=BASE_ENV)
        _assert_clean_error(res, "duplicate id")
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0 and out.decode() == "first-done\n", err.decode()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        runsc(["delete", "--force", "dup"], root=runsc_root, env=BASE_ENV, timeout=30)
