"""/proc/sys entries that are the sandbox's own, not the host's: the inotify and key
limits the sentry enforces, and no user namespaces (a sandbox makes none)."""

from __future__ import annotations


def test_sandbox_limits_show_in_proc_sys(sandbox):
    if sandbox.native_only:
        return  # the host's own limits: nothing to compare with
    from sentry.fsimpl.inotify import inotify
    from sentry.kernel import keys

    files = {
        "fs/inotify/max_user_instances": inotify.MAX_USER_INSTANCES,
        "fs/inotify/max_user_watches": inotify.MAX_USER_WATCHES,
        "fs/inotify/max_queued_events": inotify.MAX_QUEUED_EVENTS,
        "user/max_user_namespaces": 0,
        **{f"kernel/keys/{k}": v for k, v in keys.DEFAULT_LIMITS.items()},
    }
    script = "; ".join(f"echo {name} $(cat /proc/sys/{name})" for name in files)
    res = sandbox.do(["/bin/sh", "-c", script])
    assert res.rc == 0, res.describe()
    got = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert got == {name: str(v) for name, v in files.items()}, res.describe()
