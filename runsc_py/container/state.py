"""Container state under ``--root``: one directory per container.

Layout of ``<root>/<id>/``:

- ``state.json``: :class:`ContainerState` (OCI state fields at the top level, this runtime's
  own under ``"runsc_py"``). Replaced atomically (write + rename), so readers need no lock.
- ``lock``: every read-modify-write and the removal hold ``flock(LOCK_EX)`` on it.
- ``control.sock``: reserved for the sentry's control server (create/start/exec/kill).

Creating the directory with ``mkdir`` is what claims an id, so two concurrent creates of the
same id cannot both succeed. Removal unlinks ``state.json`` first: a process that was waiting
for the lock then finds no state and reports the container as gone.
"""

from __future__ import annotations

import builtins
from sentry import records
import errno
import fcntl
import os
import pwd
from sentry.records import dataclass, field

from runsc_py import jsonc
from runsc_py.container import process
from runsc_py.errors import (
    ContainerExists,
    ContainerNotFound,
    InvalidID,
    StateError,
    quote,
)
from runsc_py.hooks import Hook
from runsc_py.log import logger

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.1.0"
DEFAULT_ROOT = "/run/runsc-py"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
CONTROL_SOCKET = "control.sock"
STATE_VERSION = 1
MAX_STATE_SIZE = 16 * 1024 * 1024
MAX_ID_LENGTH = 255

# runc's rule is ^[\w+-\.]+$ in Go syntax: \w is ASCII there, and "+-\." is the range
# '+'..'.', which also admits ','.  (A set, not a regular expression: re is ~1 ms of every
# command.)
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+,-.")

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
STATUSES = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)


class CorruptState(StateError):
    """state.json exists but cannot be parsed; only ``delete --force`` can clear it."""


def validate_id(container_id: str) -> str:
    """Check a container id against runc's rules (it becomes a directory name).

    :raises InvalidID: empty, too long, ``.``/``..``, or a character outside ``[\\w+,.-]``.
    """
    if (
        not container_id
        or len(container_id) > MAX_ID_LENGTH
        or container_id in (".", "..")
        or not _ID_CHARS.issuperset(container_id)
    ):
        raise InvalidID(f"invalid container id {quote(container_id)}")
    return container_id


@dataclass
class ContainerState:
    """What ``state.json`` records about one container.

    :param pid: the OCI ``pid``: the process whose exit status is the container's (the
        sandbox process; for ``run`` and ``do``, the CLI process itself).
    :param sandbox_pid: the process hosting the sentry; killing it ends every task inside.
    :param sandbox_start_time: its start time (proc(5) field 22), to detect pid reuse.
    :param control_socket: where the sentry's control server listens (reserved).
    :param config_path: the bundle's config.json, or None for ``do``.
    :param exit_status: the container's exit status once stopped (128+N for signal N).
    """

    id: str
    bundle: str
    rootfs: str
    status: str
    pid: int
    created: str
    sandbox_pid: int
    sandbox_start_time: int | None
    control_socket: str
    config_path: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    exit_status: int | None = None
    started: str | None = None
    finished: str | None = None
    cgroup_path: str | None = None
    # config.json's hooks as given at create (startContainer, poststart and poststop run
    # later, from the config the container was created with).
    hooks: dict[str, list[Hook]] = field(default_factory=dict)

    def current_status(self) -> str:
        """The status, corrected for a sandbox process that died without recording it."""
        if self.status == STOPPED:
            return STOPPED
        if not process.is_alive(self.sandbox_pid, self.sandbox_start_time):
            return STOPPED
        return self.status

    def oci_state(self, owner: str = "") -> dict[str, Any]:
        """The state as ``runc state`` prints it (OCI state plus rootfs, created, owner)."""
        status = self.current_status()
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": 0 if status == STOPPED else self.pid,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": owner,
            "annotations": dict(self.annotations),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": self.status,
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": dict(self.annotations),
            "created": self.created,
            "rootfs": self.rootfs,
            "runsc_py": {
                "version": STATE_VERSION,
                "sandbox_pid": self.sandbox_pid,
                "sandbox_start_time": self.sandbox_start_time,
                "control_socket": self.control_socket,
                "config_path": self.config_path,
                "exit_status": self.exit_status,
                "started": self.started,
                "finished": self.finished,
                "cgroup_path": self.cgroup_path,
                "hooks": {
                    kind: [records.asdict(h) for h in hooks]
                    for kind, hooks in self.hooks.items()
                },
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> ContainerState:
        """:raises ValueError, TypeError: not a state this version wrote."""
        if not isinstance(data, dict) or not isinstance(data.get("runsc_py"), dict):
            raise TypeError("not a state object")
        own = data["runsc_py"]
        if own.get("version") != STATE_VERSION:
            raise ValueError(
                f"state version {own.get('version')!r} is not {STATE_VERSION}"
            )
        state = cls(
            id=_typed(data, "id", str),
            bundle=_typed(data, "bundle", str),
            rootfs=_typed(data, "rootfs", str),
            status=_typed(data, "status", str),
            pid=_typed(data, "pid", int),
            created=_typed(data, "created", str),
            annotations=_typed(data, "annotations", dict),
            sandbox_pid=_typed(own, "sandbox_pid", int),
            sandbox_start_time=_typed(own, "sandbox_start_time", int, optional=True),
            control_socket=_typed(own, "control_socket", str),
            config_path=_typed(own, "config_path", str, optional=True),
            exit_status=_typed(own, "exit_status", int, optional=True),
            started=_typed(own, "started", str, optional=True),
            finished=_typed(own, "finished", str, optional=True),
            cgroup_path=_typed(own, "cgroup_path", str, optional=True),
            hooks={
                kind: [Hook(**h) for h in hooks]
                for kind, hooks in (_typed(own, "hooks", dict, optional=True) or {}).items()
            },
        )
        if state.status not in STATUSES:
            raise ValueError(f"unknown status {state.status!r}")
        return state


def _typed(obj: dict[str, Any], key: str, kind: type, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"field {key!r} is not a {kind.__name__}")
    return value


class LockedState:
    """A container's state with its lock held; only valid inside :meth:`StateStore.locked`."""

    def __init__(self, store: StateStore, state: ContainerState) -> None:
        self.store = store
        self.state = state

    def save(self) -> None:
        """:raises StateError: the state file cannot be written."""
        self.store._write(self.state)

    def destroy(self) -> None:
        """Remove the container's directory.

        :raises StateError: it cannot be removed.
        """
        self.store._remove_dir(self.state.id)


class StateStore:
    """The containers under one ``--root`` directory."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, container_id: str, name: str = "") -> str:
        """:raises InvalidID: *container_id* could escape the root."""
        base = os.path.join(self.root, validate_id(container_id))
        return os.path.join(base, name) if name else base

    def control_socket(self, container_id: str) -> str:
        return self.path(container_id, CONTROL_SOCKET)

    def create(self, state: ContainerState) -> None:
        """Claim ``state.id`` and write its first state.

        :raises ContainerExists: the id is taken.
        :raises StateError: the root or the container directory cannot be created.
        """
        directory = self.path(state.id)
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        except OSError as e:
            raise StateError(
                f"cannot create state root {self.root}: {e.strerror}"
            ) from None
        try:
            os.mkdir(directory, 0o711)
        except FileExistsError:
            raise ContainerExists(f"container with id exists: {state.id}") from None
        except OSError as e:
            raise StateError(
                f"cannot create state directory {directory}: {e.strerror}"
            ) from None
        try:
            fd = os.open(
                os.path.join(directory, LOCK_FILE),
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._write(state)
            finally:
                os.close(fd)
        except BaseException:
            _remove_tree(directory)
            raise

    def load(self, container_id: str) -> ContainerState:
        """Read a container's state without locking (writes are atomic renames).

        :raises InvalidID: malformed id.
        :raises ContainerNotFound: no such container.
        :raises CorruptState: the state file is unreadable.
        """
        path = self.path(container_id, STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_STATE_SIZE + 1)
        except FileNotFoundError:
            raise ContainerNotFound(
                f"container {quote(container_id)} does not exist"
            ) from None
        except NotADirectoryError:
            raise ContainerNotFound(
                f"container {quote(container_id)} does not exist"
            ) from None
        except OSError as e:
            raise StateError(f"cannot read {path}: {e.strerror}") from None
        try:
            if len(data) > MAX_STATE_SIZE:
                raise ValueError("too large")
            state = ContainerState.from_json(jsonc.loads(data.decode("utf-8")))
            if state.id != container_id:
                raise ValueError(f"it names container {state.id!r}")
        except (ValueError, TypeError, RecursionError) as e:
            raise CorruptState(
                f"state of container {container_id} is corrupt: {e}"
            ) from None
        return state

    def locked(self, container_id: str) -> _Locked:
        """``with store.locked(id) as locked``: hold the container's lock and give its
        current state for the block.

        :raises ContainerNotFound: no such container (or it was removed while waiting).
        :raises CorruptState: the state file is unreadable.
        """
        return _Locked(self, container_id)

    def remove_unreadable(self, container_id: str) -> None:
        """Remove a container directory whose state cannot be read (``delete --force``).

        :raises StateError: it cannot be removed.
        """
        lock_path = self.path(container_id, LOCK_FILE)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            fd = -1
        try:
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._remove_dir(container_id)
        finally:
            if fd >= 0:
                os.close(fd)

    def discard(self, container_id: str) -> None:
        """Remove a container's directory after a failed start; never raises."""
        try:
            self._remove_dir(container_id)
        except (StateError, OSError) as e:
            logger.error("cannot remove state of %s: %s", container_id, e)

    def list(self) -> builtins.list[ContainerState]:
        """Every readable container state, sorted by id; unreadable ones are logged."""
        try:
            names = sorted(os.listdir(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as e:
            raise StateError(f"cannot list {self.root}: {e.strerror}") from None
        states = []
        for name in names:
            try:
                states.append(self.load(name))
            except ContainerNotFound:
                continue
            except (InvalidID, StateError) as e:
                logger.debug("skipping %s in %s: %s", quote(name), self.root, e)
        return states

    def owner(self, container_id: str) -> str:
        """The user owning the container's directory, as runc reports it."""
        try:
            uid = os.stat(self.path(container_id)).st_uid
        except OSError:
            return ""
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"#{uid}"

    def _write(self, state: ContainerState) -> None:
        path = self.path(state.id, STATE_FILE)
        tmp = path + ".tmp"
        data = jsonc.dumps(state.to_json(), indent=2).encode("ascii") + b"\n"
        try:
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as e:
            raise StateError(f"cannot write {path}: {e.strerror}") from None

    def _remove_dir(self, container_id: str) -> None:
        directory = self.path(container_id)
        try:
            os.unlink(os.path.join(directory, STATE_FILE))
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno != errno.ENOTDIR:
                raise StateError(
                    f"cannot remove state of {container_id}: {e.strerror}"
                ) from None
        errors = _remove_tree(directory)
        if errors and os.path.lexists(directory):
            raise StateError(f"cannot remove {directory}: {errors[0]}")


def _remove_tree(directory: str) -> list[str]:
    """Remove *directory* and everything in it, never following a symlink (each level is
    opened with ``O_NOFOLLOW`` and read and emptied through its fd, as ``shutil.rmtree``
    does); returns what could not be removed, as ``"PATH: error"``.

    Not ``shutil``: importing it (with zlib, bz2 and lzma) was ~1.7 ms of every ``do``,
    ``run`` and ``delete``, for a directory of two or three files.
    """
    errors: list[str] = []

    def empty(dir_fd: int, path: str) -> None:
        try:
            entries = list(os.scandir(dir_fd))
        except OSError as e:
            errors.append(f"{path}: {e}")
            return
        for entry in entries:
            sub = os.path.join(path, entry.name)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                try:
                    fd = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as e:
                    errors.append(f"{sub}: {e}")
                    continue
                try:
                    empty(fd, sub)
                finally:
                    os.close(fd)
                try:
                    os.rmdir(entry.name, dir_fd=dir_fd)
                except OSError as e:
                    errors.append(f"{sub}: {e}")
                continue
            try:
                os.unlink(entry.name, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            except OSError as e:
                errors.append(f"{sub}: {e}")

    try:
        top = os.open(directory, _DIR_FLAGS)
    except FileNotFoundError:
        return errors
    except OSError as e:
        if e.errno not in (errno.ENOTDIR, errno.ELOOP):  # a symlink or a file instead
            return [f"{directory}: {e}"]
        try:
            os.unlink(directory)
        except OSError as e2:
            errors.append(f"{directory}: {e2}")
        return errors
    try:
        empty(top, directory)
    finally:
        os.close(top)
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError as e:
        errors.append(f"{directory}: {e}")
    return errors


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Locked:
    """:meth:`StateStore.locked`'s context manager (a class, not contextlib's decorator:
    the CLI's cheap commands do not import contextlib, functools and collections)."""

    def __init__(self, store: StateStore, container_id: str) -> None:
        self.store = store
        self.container_id = container_id
        self._fd = -1

    def __enter__(self) -> LockedState:
        lock_path = self.store.path(self.container_id, LOCK_FILE)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotFound(
                f"container {quote(self.container_id)} does not exist"
            ) from None
        except OSError as e:
            raise StateError(f"cannot open {lock_path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self.store.load(self.container_id)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return LockedState(self.store, state)

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
        self._fd = -1
