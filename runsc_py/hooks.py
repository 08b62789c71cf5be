"""OCI hooks (runtime-spec config.md, "POSIX-platform Hooks").

A hook is a host program run by the runtime with the container's state JSON on its stdin.
When each kind runs, and what its failure does:

- ``prestart``, ``createRuntime``: during ``create``, once the sandbox process exists (its
  pid is the state's, its network namespace the container's: docker's
  ``libnetwork-setkey`` configures ``/proc/PID/ns/net``) and before init may run. Failure:
  the container is destroyed and ``create`` fails.
- ``createContainer``: right after; ``startContainer``: during ``start``, before init runs.
  runc runs these inside the container's namespaces; here those are the sentry's own, which
  host programs cannot enter, so they run on the host in the sandbox's network namespace
  (the one container namespace that is a host one). Failure: as for createRuntime.
- ``poststart``: after init was released, before ``start`` returns. Failure is logged; the
  container keeps running (runc).
- ``poststop``: by ``delete``, after the sandbox is gone. Failure is logged (runc).

Each hook gets exactly its ``env`` (nothing inherited), ``args`` as its argv, and is killed
when its ``timeout`` (seconds) passes.
"""

from __future__ import annotations

import os

from runsc_py import jsonc
from runsc_py.errors import UserError
from runsc_py.log import logger
from sentry.records import dataclass

TYPE_CHECKING = False  # (typing: see sentry.records)

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterable, Mapping

# Output of a failing hook kept for its error message.
_OUTPUT_LIMIT = 4096


@dataclass
class Hook:
    """One OCI hook: ``path`` run with ``args`` (argv, argv[0] included) and ``env``.

    Here, not with the rest of config.json's checks (:mod:`runsc_py.spec`), because every
    state load makes them: ``start`` and ``delete`` need not load the spec (and the
    sentry's configuration under it); and :mod:`subprocess` is imported only when a hook
    runs."""

    path: str
    args: list[str]
    env: list[str]
    timeout: int | None = None


class HookError(UserError):
    """A hook failed (non-zero exit, killed, timed out, could not be started)."""


def run_hooks(
    kind: str,
    hooks: Mapping[str, list[Hook]],
    state: Mapping[str, object],
    *,
    netns_pid: int | None = None,
) -> None:
    """Run every hook of *kind* in order; the first failure stops the rest.

    :param state: the OCI state given on each hook's stdin.
    :param netns_pid: run the hooks in this process's network namespace.
    :raises HookError: a hook failed.
    """
    data = jsonc.dumps(state).encode()
    for i, hook in enumerate(hooks.get(kind, ())):
        logger.debug("running %s hook #%d: %s", kind, i, hook.path)
        _run_one(kind, i, hook, data, netns_pid)


def run_hooks_logged(
    kind: str, hooks: Mapping[str, list[Hook]], state: Mapping[str, object]
) -> None:
    """Run every hook of *kind*; a failure is logged and the next hook still runs
    (``poststart``, ``poststop``)."""
    data = jsonc.dumps(state).encode()
    for i, hook in enumerate(hooks.get(kind, ())):
        try:
            _run_one(kind, i, hook, data, None)
        except HookError as e:
            logger.warning("%s", e)


def _run_one(kind: str, i: int, hook: Hook, data: bytes, netns_pid: int | None) -> None:
    import subprocess

    from runsc_py.container import hostns

    what = f"error running {kind} hook #{i} ({hook.path})"
    netns_fd = _open_netns(netns_pid) if netns_pid is not None else None

    import resource  # (here, as subprocess: only a container with hooks needs them)

    from runsc_py import launch

    # The hook gets the caller's open-files limit, not the one this process raised for
    # the sentry and the gofer (launch._raise_nofile), as Go's os/exec gives runc's.
    nofile = launch.raised_from()

    def in_child() -> None:  # before exec
        if netns_fd is not None:
            hostns.setns(netns_fd, hostns.CLONE_NEWNET)
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    try:
        proc = subprocess.Popen(
            list(hook.args) or [hook.path],
            executable=hook.path,
            env=_env(hook.env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",
            close_fds=True,
            start_new_session=True,
            preexec_fn=in_child if netns_fd is not None or nofile is not None else None,
        )
    except OSError as e:
        raise HookError(f"{what}: {e.strerror}") from None
    finally:
        if netns_fd is not None:
            os.close(netns_fd)
    try:
        out, err = proc.communicate(data, timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise HookError(f"{what}: timeout after {hook.timeout}s") from None
    except BaseException:
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        if proc.returncode < 0:
            import signal

            why = f"killed by signal {signal.Signals(-proc.returncode).name}"
        else:
            why = f"exit status {proc.returncode}"
        raise HookError(
            f"{what}: {why}, stdout: {_text(out)}, stderr: {_text(err)}"
        )


def _env(entries: Iterable[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


def _open_netns(pid: int) -> int:
    try:
        return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise HookError(f"cannot open the sandbox's network namespace: {e.strerror}") from None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the hook and what it started (its own session), then reap it."""
    import signal
    import subprocess

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass  # a process it left in another session holds its pipes
    proc.wait()


def _text(data: bytes) -> str:
    return data[:_OUTPUT_LIMIT].decode("utf-8", "replace").strip()
