"""OCI runtime spec handling: read a bundle's config.json, validate it, build a BootConfig.

config.json comes from whoever can write the bundle, so it is treated as hostile input: size
capped, strict UTF-8, nesting bounded by the JSON parser's recursion limit, every field
type-checked before use. Each problem is an :class:`~runsc_py.errors.InvalidSpec` whose one-line
message names the field. Fields that ask for something this runtime cannot do are refused
(:class:`~runsc_py.errors.Unsupported`) instead of being silently dropped; fields that have no
meaning inside a user-space kernel are logged at debug level.
"""

from __future__ import annotations

import copy
import errno
import os
import posixpath
import stat
from collections.abc import Mapping, Sequence
from sentry.records import dataclass, field

from runsc_py import jsonc, launch
from runsc_py.container.hostns import HostNamespaces
from runsc_py.errors import InvalidSpec, Unsupported, quote
from runsc_py.hooks import Hook
from runsc_py.log import logger
from sentry.abi.linux import capability
from sentry.config import BootConfig, Capabilities, DeviceSpec, MountSpec
from sentry.fsimpl.proc import sysctl as sysctls
from sentry.vfs import mount_options

TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import Any, NoReturn

OCI_VERSION = "1.1.0"
CONFIG_NAME = "config.json"
MAX_CONFIG_SIZE = 4 * 1024 * 1024
HOST_NAME_MAX = 64
# (uid_t)-1 means "unchanged" to setresuid(2) and friends, so it is not a valid identity.
MAX_ID = 2**32 - 2

# Mount types of the host's cgroup hierarchies: the sandbox gets its own cgroup there, read
# only (sentry.fsimpl.proc.cgroupfs: cgroup v2 whatever the host has, as /proc/PID/cgroup
# says), with the sandbox's limits.
CGROUP_MOUNT_TYPES = frozenset({"cgroup", "cgroup2"})

# Fields that describe host-kernel confinement of the container's processes. The sentry is the
# workload's kernel, so they do not apply as written; logged so a reader of the debug log knows.
_NOT_APPLIED_PROCESS = (
    "apparmorProfile",
    "selinuxLabel",
    "ioPriority",
    "scheduler",
)
_NOT_APPLIED_LINUX = (
    "seccomp",
    "rootfsPropagation",
    "mountLabel",
    "personality",
    "intelRdt",
    "timeOffsets",
)
_HOOK_KINDS = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)


def _hook(value: object, where: str) -> Hook:
    h = _object(value, where)
    path = _absolute(_required(h, "path", f"{where}.path"), f"{where}.path")
    args = _string_list(h["args"], f"{where}.args") if "args" in h else [path]
    env = validate_env(_string_list(h["env"], f"{where}.env"), f"{where}.env") if "env" in h else []
    timeout = None
    if "timeout" in h:
        t = h["timeout"]
        if not isinstance(t, int) or isinstance(t, bool) or t <= 0:
            _fail(f"{where}.timeout", "must be a positive integer (seconds)")
        timeout = t
    return Hook(path=path, args=args, env=env, timeout=timeout)


def _namespaces(value: object) -> HostNamespaces:
    """Check ``linux.namespaces``; return what the sandbox process does with its network
    and UTS namespaces (:mod:`runsc_py.container.hostns`).

    Every sandbox has its own pid/ipc/mount/cgroup namespaces inside the sentry, so a path
    for those is not joined (logged).
    """
    out = HostNamespaces()
    seen: set[str] = set()
    for i, ns in enumerate(_list(value, "linux.namespaces")):
        where = f"linux.namespaces[{i}]"
        ns = _object(ns, where)
        kind = _string(_required(ns, "type", f"{where}.type"), f"{where}.type")
        if kind not in _NAMESPACE_TYPES:
            _fail(f"{where}.type", f"unknown namespace type {quote(kind)}")
        if kind in seen:
            _fail(f"{where}.type", f"namespace type {quote(kind)} given twice")
        seen.add(kind)
        path = _absolute(ns["path"], f"{where}.path") if "path" in ns else ""
        if kind == "network":
            out.network = path
        elif kind == "uts":
            out.uts = path
        elif path:
            logger.debug("%s: the sandbox keeps its own %s namespace, %s not joined",
                         where, kind, path)
    return out


_NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


@dataclass
class BundleSpec:
    """The validated parts of a bundle's config.json that the runtime acts on.

    Paths are absolute on the host (``rootfs``, bind ``source``) or in the sandbox
    (``cwd``, mount destinations).
    """

    bundle: str
    config_path: str
    oci_version: str
    args: list[str]
    env: list[str]
    cwd: str
    uid: int
    gid: int
    additional_gids: list[int]
    hostname: str | None
    rootfs: str
    root_readonly: bool
    mounts: list[MountSpec]
    annotations: dict[str, str] = field(default_factory=dict)
    cgroups_path: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    terminal: bool = False
    console_size: tuple[int, int] | None = None
    # hooks[kind] in config order (runtime-spec config.md "POSIX-platform Hooks").
    hooks: dict[str, list[Hook]] = field(default_factory=dict)
    # The sandbox process's network and UTS namespaces (runsc_py.container.hostns).
    host_namespaces: HostNamespaces = field(default_factory=HostNamespaces)
    umask: int | None = None
    # process.capabilities; absent in config.json: none at all (what runc then gives).
    capabilities: Capabilities = field(default_factory=Capabilities)
    no_new_privileges: bool = False
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    oom_score_adj: int | None = None
    uid_map: list[tuple[int, int, int]] | None = None
    gid_map: list[tuple[int, int, int]] | None = None
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    sysctl: dict[str, str] = field(default_factory=dict)
    devices: list[DeviceSpec] = field(default_factory=list)

    def boot_config(self, container_id: str) -> BootConfig:
        """The sentry's view: rootfs as an overlay so the bundle is never modified."""
        cfg = BootConfig(
            argv=list(self.args),
            env=list(self.env),
            cwd=self.cwd,
            uid=self.uid,
            gid=self.gid,
            additional_gids=list(self.additional_gids),
            root_path=self.rootfs,
            root_readonly=self.root_readonly,
            overlay=True,
            mounts=copy.deepcopy(self.mounts),
            stdio=(0, 1, 2),
            container_id=container_id,
        )
        if self.hostname is not None:
            cfg.hostname = self.hostname
        cfg.capabilities = copy.copy(self.capabilities)
        cfg.no_new_privileges = self.no_new_privileges
        if self.umask is not None:
            cfg.umask = self.umask
        cfg.rlimits = [(r, s, h) for r, (s, h) in self.rlimits.items() if r != RLIMIT_NOFILE]
        if RLIMIT_NOFILE in self.rlimits:
            cfg.nofile = self.rlimits[RLIMIT_NOFILE]
        cfg.oom_score_adj = self.oom_score_adj
        if self.uid_map is not None:
            cfg.uid_map = list(self.uid_map)
        if self.gid_map is not None:
            cfg.gid_map = list(self.gid_map)
        cfg.masked_paths = list(self.masked_paths)
        cfg.readonly_paths = list(self.readonly_paths)
        cfg.sysctl = dict(self.sysctl)
        cfg.devices = copy.deepcopy(self.devices)
        # The cgroup's limits are the sentry's too: it counts tasks itself (EAGAIN at the
        # pids limit, with or without a pids cgroup) and bounds what it holds in memory.
        pids = (self.resources.get("pids") or {}).get("limit")
        if pids is not None:
            cfg.pids_limit = int(pids) if pids > 0 else 0
        mem = (self.resources.get("memory") or {}).get("limit")
        if mem is not None and mem > 0:
            cfg.memory_limit = int(mem)
        cpu = self.resources.get("cpu") or {}
        cfg.cpu_quota, cfg.cpu_period, cfg.cpu_shares = (
            cpu.get("quota"), cpu.get("period"), cpu.get("shares"))
        if _wants_tmp_tmpfs(self.rootfs, self.mounts):
            cfg.mounts.insert(0, MountSpec(destination="/tmp", type="tmpfs", source="tmpfs"))
        return cfg


def _wants_tmp_tmpfs(rootfs: str, mounts: list[MountSpec]) -> bool:
    """Whether a container gets a private tmpfs at ``/tmp`` (gVisor's rule).

    Yes unless config.json mounts something at ``/tmp`` itself, or the image's ``/tmp``
    holds files (a tmpfs would hide them) or is not a plain directory. A read-only root
    then still has a writable ``/tmp``, in memory, as programs expect.
    """
    if any(os.path.normpath(m.destination) == "/tmp" for m in mounts):
        return False
    path = os.path.join(rootfs, "tmp")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _fail(where: str, msg: str) -> NoReturn:
    raise InvalidSpec(f"{where}: {msg}")


def _required(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        _fail(where, "missing")
    return obj[key]


def _check_text(value: str, where: str, *, host_bytes: bool = False) -> str:
    """Refuse NUL (unrepresentable in execve and paths) and, unless the string came from the
    host as undecodable bytes (``host_bytes``: PEP 383 surrogate escapes), lone surrogates."""
    if "\0" in value:
        _fail(where, "contains a NUL byte")
    try:
        value.encode("utf-8", "surrogateescape" if host_bytes else "strict")
    except UnicodeEncodeError:
        _fail(where, "is not valid Unicode (lone surrogate escape)")
    return value


def _string(
    value: object, where: str, *, nonempty: bool = False, host_bytes: bool = False
) -> str:
    if not isinstance(value, str):
        _fail(where, f"must be a string, not {_json_type(value)}")
    if nonempty and not value:
        _fail(where, "must not be empty")
    return _check_text(value, where, host_bytes=host_bytes)


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        _fail(where, f"must be true or false, not {_json_type(value)}")
    return value


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(where, f"must be an object, not {_json_type(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(where, f"must be a list, not {_json_type(value)}")
    return value


def _string_list(value: object, where: str) -> list[str]:
    return [
        _string(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where))
    ]


def _id(value: object, where: str) -> int:
    # bool is an int subclass in Python but never a valid JSON number here.
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(where, f"must be an integer, not {_json_type(value)}")
    if not 0 <= value <= MAX_ID:
        _fail(where, f"must be between 0 and {MAX_ID}, not {value}")
    return value


def _absolute(value: object, where: str, *, host_bytes: bool = False) -> str:
    path = _string(value, where, nonempty=True, host_bytes=host_bytes)
    if not path.startswith("/"):
        _fail(where, f"must be an absolute path, not {quote(path)}")
    return path


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def read_config(path: str) -> dict[str, Any]:
    """Read and parse config.json without trusting its size, type or encoding.

    :raises InvalidSpec: missing, not a regular file, larger than :data:`MAX_CONFIG_SIZE`,
        not UTF-8, not JSON, nested too deeply, or not a JSON object.
    """
    try:
        # O_NONBLOCK: a FIFO planted as config.json must not hang the runtime.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise InvalidSpec(f"{path} does not exist") from None
    except OSError as e:
        raise InvalidSpec(f"cannot open {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidSpec(f"{path} is not a regular file")
        if st.st_size > MAX_CONFIG_SIZE:
            raise InvalidSpec(f"{path} is larger than {MAX_CONFIG_SIZE} bytes")
        chunks: list[bytes] = []
        total = 0
        # Read past the size fstat reported: the file may be growing under us.
        while total <= MAX_CONFIG_SIZE:
            chunk = os.read(fd, MAX_CONFIG_SIZE + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > MAX_CONFIG_SIZE:
            raise InvalidSpec(f"{path} is larger than {MAX_CONFIG_SIZE} bytes")
    except OSError as e:
        raise InvalidSpec(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)
    return parse_config(b"".join(chunks))


def parse_config(data: bytes) -> dict[str, Any]:
    """Parse config.json bytes into a dict.

    :raises InvalidSpec: not UTF-8, not JSON, nested too deeply, or not an object.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidSpec(f"{CONFIG_NAME}: not valid UTF-8 at byte {e.start}") from None
    try:
        obj = jsonc.loads(text)
    except RecursionError:
        raise InvalidSpec(f"{CONFIG_NAME}: malformed JSON: nested too deeply") from None
    except ValueError as e:
        from json import JSONDecodeError  # (an error path: jsonc imported json for it)

        if isinstance(e, JSONDecodeError):
            raise InvalidSpec(f"{CONFIG_NAME}: malformed JSON: {e.msg} at line {e.lineno} "
                              f"column {e.colno}") from None
        # e.g. an integer literal longer than CPython's int conversion limit.
        raise InvalidSpec(f"{CONFIG_NAME}: malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidSpec(
            f"{CONFIG_NAME}: must be a JSON object, not {_json_type(obj)}"
        )
    return obj


def validate_env(
    entries: Sequence[str], where: str, *, host_bytes: bool = False
) -> list[str]:
    """Check ``KEY=value`` strings (key non-empty, no NUL).

    :param host_bytes: entries come from the host (argv, os.environ) and may carry PEP 383
        surrogate escapes for bytes that are not UTF-8.
    :raises InvalidSpec: a malformed entry.
    """
    out = []
    for i, entry in enumerate(entries):
        _check_text(entry, f"{where}[{i}]", host_bytes=host_bytes)
        key, sep, _ = entry.partition("=")
        if not sep or not key:
            _fail(f"{where}[{i}]", f"must be KEY=value, not {quote(entry)}")
        out.append(entry)
    return out


def validate_hostname(value: object, where: str) -> str:
    """A hostname the sentry can report from uname(2).

    :raises InvalidSpec: not a string, contains NUL, or longer than HOST_NAME_MAX bytes.
    """
    name = _string(value, where)
    if len(name.encode("utf-8")) > HOST_NAME_MAX:
        _fail(where, f"longer than {HOST_NAME_MAX} bytes")
    return name


def _split_ro(options: list[str]) -> tuple[bool, list[str]]:
    readonly = False
    rest = []
    for opt in options:
        # mount(8) semantics: the last of ro/rw wins.
        if opt == "ro":
            readonly = True
        elif opt == "rw":
            readonly = False
        else:
            rest.append(opt)
    return readonly, rest


#: A bind mount's option naming its file access policy (:class:`sentry.config.MountSpec`);
#: runsc-py's own, taken out before the options reach the mount.
FILE_ACCESS_OPTION = "runsc-py.file-access="


def _file_access(options: list[str], where: str) -> tuple[str, list[str]]:
    """The policy a bind mount's options name (default ``shared``) and the other options."""
    policy = "shared"
    rest = []
    for opt in options:
        if opt.startswith(FILE_ACCESS_OPTION):
            policy = opt[len(FILE_ACCESS_OPTION):]
            if policy not in ("shared", "exclusive"):
                _fail(where, f"{quote(opt)}: the file access policy is shared or exclusive")
        else:
            rest.append(opt)
    return policy, rest


def _mount(value: object, i: int, bundle: str) -> MountSpec | None:
    where = f"mounts[{i}]"
    m = _object(value, where)
    raw_dest = _absolute(
        _required(m, "destination", f"{where}.destination"), f"{where}.destination"
    )
    dest = posixpath.normpath(raw_dest)
    if dest.startswith("//"):
        dest = "/" + dest.lstrip("/")
    if dest == "/":
        _fail(f"{where}.destination", "cannot mount over /")
    options = _string_list(m.get("options", []), f"{where}.options")
    mtype = _string(m["type"], f"{where}.type") if "type" in m else ""
    source = _string(m["source"], f"{where}.source") if "source" in m else ""
    readonly, rest = _split_ro(options)

    # runc treats any mount with a bind option as a bind mount, whatever its type says
    # (docker writes "type": "bind", containerd "type": "none" or omits it).
    if "bind" in options or "rbind" in options or mtype == "bind":
        if not source:
            _fail(f"{where}.source", "a bind mount needs a source")
        host = source if source.startswith("/") else os.path.join(bundle, source)
        host = os.path.abspath(host)
        if not os.path.exists(host):
            _fail(f"{where}.source", f"{quote(host)} does not exist")
        rest = [o for o in rest if o not in ("bind", "rbind")]
        file_access, rest = _file_access(rest, f"{where}.options")
        if not mount_options.has_flag_options(options):
            # runc remounts a bind mount only to set flags; without any, it keeps those of
            # the host mount it copies (a nosuid host mount stays nosuid inside).
            readonly, inherited = _host_mount_flags(host)
            rest = inherited + rest
        return MountSpec(
            destination=dest, type="bind", source=host, readonly=readonly, options=rest,
            file_access=file_access,
        )
    if not mtype:
        _fail(f"{where}.type", "missing (and no bind option)")
    if mtype in CGROUP_MOUNT_TYPES:
        logger.debug("mount %s of type %s: the sandbox's own cgroup (cgroup2, read-only)",
                     dest, mtype)
        # (a cgroup v1 mount's controller names are its data: not the sandbox's cgroup's)
        rest = [o for o in rest if mount_options.has_flag_options([o])]
        return MountSpec(destination=dest, type="cgroup2", source=source, readonly=True,
                         options=rest)
    if mtype == "tmpfs":
        # The OCI /dev tmpfs is where runc populates device nodes; the sentry has its own /dev.
        kind = "dev" if dest == "/dev" else "tmpfs"
        try:
            mount_options.TmpfsSettings(mount_options.parse(rest).data)
        except ValueError as e:
            _fail(f"{where}.options", str(e))
        return MountSpec(
            destination=dest, type=kind, source=source, readonly=readonly, options=rest
        )
    if mtype in ("proc", "sysfs", "devpts", "mqueue"):
        return MountSpec(
            destination=dest, type=mtype, source=source, readonly=readonly, options=rest
        )
    raise Unsupported(f"{where}.type: unsupported mount type {quote(mtype)}")


def _host_mount_flags(path: str) -> tuple[bool, list[str]]:
    """Whether the host mount holding *path* is read-only, and its other per-mount flags
    as mount options (statvfs)."""
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        return False, []
    out = [name for bit, name in ((os.ST_NOSUID, "nosuid"), (os.ST_NODEV, "nodev"),
                                  (os.ST_NOEXEC, "noexec"), (os.ST_NOATIME, "noatime"),
                                  (os.ST_NODIRATIME, "nodiratime")) if flags & bit]
    if not flags & (os.ST_NOATIME | os.ST_RELATIME):
        out.append("strictatime")
    return bool(flags & os.ST_RDONLY), out


_CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
#: RLIMIT_* names (config.json's "type") → resource numbers.
RLIMITS = {name: num for num, name in enumerate((
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
))}
RLIMIT_NOFILE = RLIMITS["RLIMIT_NOFILE"]
#: The sandbox's fs.nr_open: the largest RLIMIT_NOFILE it takes.
NR_OPEN = 1 << 20
U64_MAX = 2**64 - 1


def _capabilities(value: object, where: str) -> Capabilities:
    """``process.capabilities``: names to masks.  Unknown names are skipped with a
    warning (runc: "ignoring unknown or unavailable capabilities"); sets runc could not
    apply (capset(2) would refuse them) are refused here."""
    caps = Capabilities()
    if value is None:
        return caps
    obj = _object(value, where)
    unknown: list[str] = []
    for name in _CAP_SETS:
        raw = obj.get(name)
        names = [] if raw is None else _string_list(raw, f"{where}.{name}")
        mask, bad = capability.mask_of(names)
        unknown += [b for b in bad if b not in unknown]
        setattr(caps, name, mask)
    if unknown:
        logger.warning("%s: ignoring unknown or unavailable capabilities: %s", where,
                       " ".join(quote(u) for u in unknown))
    for sub, sup in (("effective", "permitted"), ("inheritable", "bounding")):
        extra = getattr(caps, sub) & ~getattr(caps, sup)
        if extra:
            listed = ", ".join(capability.NAMES[c]
                               for c in range(capability.CAP_LAST_CAP + 1) if extra >> c & 1)
            _fail(f"{where}.{sub}", f"{listed} not in {where}.{sup} (capset(2) refuses "
                                    "such sets)")
    return caps


def _uint64(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(where, f"must be an integer, not {_json_type(value)}")
    if not 0 <= value <= U64_MAX:
        _fail(where, f"must be between 0 and {U64_MAX}, not {value}")
    return value


def _rlimits(value: object, where: str) -> dict[int, tuple[int, int]]:
    """``process.rlimits``: resource → (soft, hard); a later entry of a type wins, as
    runc applies them in order."""
    out: dict[int, tuple[int, int]] = {}
    for i, item in enumerate(_list(value, where)):
        w = f"{where}[{i}]"
        r = _object(item, w)
        kind = _string(_required(r, "type", f"{w}.type"), f"{w}.type")
        if kind not in RLIMITS:
            _fail(f"{w}.type", f"wrong rlimit value: {kind}")
        soft = _uint64(_required(r, "soft", f"{w}.soft"), f"{w}.soft")
        hard = _uint64(_required(r, "hard", f"{w}.hard"), f"{w}.hard")
        if soft > hard:
            _fail(w, f"{kind}: soft limit {soft} is above the hard limit {hard}")
        if RLIMITS[kind] == RLIMIT_NOFILE and hard > NR_OPEN:
            _fail(w, f"{kind}: hard limit {hard} is above fs.nr_open ({NR_OPEN})")
        out[RLIMITS[kind]] = (soft, hard)
    return out


def _oom_score_adj(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(where, f"must be an integer, not {_json_type(value)}")
    if not -1000 <= value <= 1000:
        _fail(where, f"must be between -1000 and 1000, not {value}")
    return value


def _note_not_applied(
    section: Mapping[str, Any], keys: Sequence[str], prefix: str
) -> None:
    for key in keys:
        if key in section:
            logger.debug(
                "%s.%s not applied: the sentry is the workload's kernel", prefix, key
            )


@dataclass
class ProcessSpec:
    """A validated OCI ``process`` object (config.json's, or ``exec --process``'s)."""

    args: list[str]
    env: list[str]
    cwd: str
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    umask: int | None = None
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # rows, columns
    # None: not given (an exec then gets the container's, as with runc exec).
    capabilities: Capabilities | None = None
    no_new_privileges: bool | None = None
    rlimits: dict[int, tuple[int, int]] | None = None
    oom_score_adj: int | None = None

    def to_control(self) -> dict[str, Any]:
        """What the sentry's control server takes for ``exec``."""
        out: dict[str, Any] = {
            "argv": self.args,
            "env": self.env,
            "cwd": self.cwd,
            "uid": self.uid,
            "gid": self.gid,
            "additional_gids": self.additional_gids,
            "umask": 0o022 if self.umask is None else self.umask,
        }
        if self.capabilities is not None:
            out["capabilities"] = {s: getattr(self.capabilities, s) for s in _CAP_SETS}
        if self.no_new_privileges is not None:
            out["no_new_privileges"] = self.no_new_privileges
        if self.rlimits is not None:
            out["rlimits"] = [[r, s, h] for r, (s, h) in self.rlimits.items()
                              if r != RLIMIT_NOFILE]
            if RLIMIT_NOFILE in self.rlimits:
                out["nofile"] = list(self.rlimits[RLIMIT_NOFILE])
        if self.oom_score_adj is not None:
            out["oom_score_adj"] = self.oom_score_adj
        return out


def validate_process(value: object, where: str) -> ProcessSpec:
    """Check an OCI ``process`` object.

    :raises InvalidSpec: a field is missing, of the wrong type or out of range.
    """
    proc = _object(value, where)
    terminal = "terminal" in proc and _bool(proc["terminal"], f"{where}.terminal")
    args = _string_list(_required(proc, "args", f"{where}.args"), f"{where}.args")
    if not args:
        _fail(f"{where}.args", "must not be empty")
    if not args[0]:
        _fail(f"{where}.args[0]", "must not be empty")
    env = validate_env(_string_list(proc.get("env", []), f"{where}.env"), f"{where}.env")
    cwd = _absolute(_required(proc, "cwd", f"{where}.cwd"), f"{where}.cwd")
    out = ProcessSpec(args=args, env=env, cwd=cwd, terminal=terminal)
    if proc.get("consoleSize") is not None:
        size = _object(proc["consoleSize"], f"{where}.consoleSize")
        out.console_size = (
            _id(_required(size, "height", f"{where}.consoleSize.height"),
                f"{where}.consoleSize.height"),
            _id(_required(size, "width", f"{where}.consoleSize.width"),
                f"{where}.consoleSize.width"),
        )
    if "user" in proc:
        user = _object(proc["user"], f"{where}.user")
        out.uid = _id(_required(user, "uid", f"{where}.user.uid"), f"{where}.user.uid")
        out.gid = _id(_required(user, "gid", f"{where}.user.gid"), f"{where}.user.gid")
        out.additional_gids = [
            _id(g, f"{where}.user.additionalGids[{i}]")
            for i, g in enumerate(
                _list(user.get("additionalGids", []), f"{where}.user.additionalGids")
            )
        ]
        if "umask" in user:
            out.umask = _id(user["umask"], f"{where}.user.umask") & 0o777
    if "capabilities" in proc:
        out.capabilities = _capabilities(proc["capabilities"], f"{where}.capabilities")
    if "noNewPrivileges" in proc:
        out.no_new_privileges = _bool(proc["noNewPrivileges"], f"{where}.noNewPrivileges")
    if proc.get("rlimits") is not None:
        out.rlimits = _rlimits(proc["rlimits"], f"{where}.rlimits")
    if proc.get("oomScoreAdj") is not None:
        out.oom_score_adj = _oom_score_adj(proc["oomScoreAdj"], f"{where}.oomScoreAdj")
    _note_not_applied(proc, _NOT_APPLIED_PROCESS, where)
    return out


def validate(spec: dict[str, Any], bundle: str, config_path: str) -> BundleSpec:
    """Check a parsed config.json against what the runtime needs.

    :param bundle: absolute bundle directory (relative paths in the spec are resolved in it).
    :raises InvalidSpec: a field is missing, of the wrong type or out of range; the rootfs or a
        bind source does not exist.
    :raises Unsupported: the spec asks for something not implemented (terminal, hooks,
        an unknown mount type).
    """
    try:
        return _validate(spec, bundle, config_path)
    except Unsupported as e:
        raise Unsupported(f"{CONFIG_NAME}: {e.msg}") from None
    except InvalidSpec as e:
        raise InvalidSpec(f"{CONFIG_NAME}: {e.msg}") from None


def _validate(spec: dict[str, Any], bundle: str, config_path: str) -> BundleSpec:
    version = _string(
        _required(spec, "ociVersion", "ociVersion"), "ociVersion", nonempty=True
    )
    process = validate_process(_required(spec, "process", "process"), "process")
    terminal, console_size = process.terminal, process.console_size
    args, env, cwd = process.args, process.env, process.cwd
    uid, gid, groups = process.uid, process.gid, process.additional_gids

    root = _object(_required(spec, "root", "root"), "root")
    root_path = _string(
        _required(root, "path", "root.path"), "root.path", nonempty=True
    )
    readonly = _bool(root["readonly"], "root.readonly") if "readonly" in root else False
    rootfs = os.path.abspath(os.path.join(bundle, root_path))
    try:
        st = os.stat(rootfs)
    except FileNotFoundError:
        _fail("root.path", f"rootfs {quote(rootfs)} does not exist")
    except OSError as e:
        _fail("root.path", f"rootfs {quote(rootfs)}: {e.strerror}")
    if not stat.S_ISDIR(st.st_mode):
        _fail("root.path", f"rootfs {quote(rootfs)} is not a directory")

    hostname = (
        validate_hostname(spec["hostname"], "hostname") if "hostname" in spec else None
    )

    mounts: list[MountSpec] = []
    for i, m in enumerate(_list(spec.get("mounts", []), "mounts")):
        ms = _mount(m, i, bundle)
        if ms is not None:
            mounts.append(ms)

    annotations: dict[str, str] = {}
    for key, value in _object(spec.get("annotations", {}), "annotations").items():
        _check_text(key, "annotations")
        annotations[key] = _string(value, f"annotations[{quote(key)}]")

    hooks: dict[str, list[Hook]] = {}
    hooks_obj = _object(spec.get("hooks", {}), "hooks")
    for kind in _HOOK_KINDS:
        if kind in hooks_obj:
            hooks[kind] = [
                _hook(h, f"hooks.{kind}[{i}]")
                for i, h in enumerate(_list(hooks_obj[kind], f"hooks.{kind}"))
            ]

    cgroups_path: str | None = None
    resources: dict[str, Any] = {}
    host_ns = HostNamespaces()
    view = _LinuxView()
    if "linux" in spec:
        linux = _object(spec["linux"], "linux")
        _note_not_applied(linux, _NOT_APPLIED_LINUX, "linux")
        if "cgroupsPath" in linux:
            cgroups_path = _string(linux["cgroupsPath"], "linux.cgroupsPath")
        if "resources" in linux:
            resources = validate_resources(linux["resources"], "linux.resources")
        if "namespaces" in linux:
            host_ns = _namespaces(linux["namespaces"])
        view = _linux_view(linux, host_ns)
    host_ns.hostname = hostname

    return BundleSpec(
        bundle=bundle,
        config_path=config_path,
        oci_version=version,
        args=args,
        env=env,
        cwd=cwd,
        uid=uid,
        gid=gid,
        additional_gids=groups,
        hostname=hostname,
        rootfs=rootfs,
        root_readonly=readonly,
        mounts=mounts,
        annotations=annotations,
        cgroups_path=cgroups_path,
        resources=resources,
        terminal=terminal,
        console_size=console_size,
        hooks=hooks,
        host_namespaces=host_ns,
        umask=process.umask,
        capabilities=process.capabilities or Capabilities(),
        no_new_privileges=bool(process.no_new_privileges),
        rlimits=process.rlimits or {},
        oom_score_adj=process.oom_score_adj,
        uid_map=view.uid_map,
        gid_map=view.gid_map,
        masked_paths=view.masked_paths,
        readonly_paths=view.readonly_paths,
        sysctl=view.sysctl,
        devices=view.devices,
    )


@dataclass
class _LinuxView:
    """The parts of ``linux`` that make the sandbox's view (see :func:`_linux_view`)."""

    uid_map: list[tuple[int, int, int]] | None = None
    gid_map: list[tuple[int, int, int]] | None = None
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    sysctl: dict[str, str] = field(default_factory=dict)
    devices: list[DeviceSpec] = field(default_factory=list)


def _linux_view(linux: dict[str, Any], host_ns: HostNamespaces) -> _LinuxView:
    """``linux.uidMappings``/``gidMappings``, ``maskedPaths``, ``readonlyPaths``,
    ``sysctl`` and ``devices``, checked as runc checks them."""
    view = _LinuxView()
    kinds = {ns.get("type") for ns in linux.get("namespaces") or [] if isinstance(ns, dict)}
    maps = {key: _id_mappings(linux[key], f"linux.{key}")
            for key in ("uidMappings", "gidMappings") if linux.get(key)}
    if "user" in kinds:
        for key, what in (("uidMappings", "uid"), ("gidMappings", "gid")):
            if key not in maps:
                _fail(f"linux.{key}", f"User namespaces enabled, but no {what} mappings found.")
        view.uid_map, view.gid_map = maps["uidMappings"], maps["gidMappings"]
    elif maps:
        # runc too: without a user namespace the mappings mean nothing.
        logger.debug("linux.uidMappings/gidMappings ignored: no user namespace")
    for key, attr in (("maskedPaths", "masked_paths"), ("readonlyPaths", "readonly_paths")):
        if linux.get(key) is not None:
            setattr(view, attr, [_absolute(p, f"linux.{key}[{i}]")
                                 for i, p in enumerate(_list(linux[key], f"linux.{key}"))])
    if linux.get("sysctl") is not None:
        view.sysctl = _sysctl(linux["sysctl"], kinds, host_ns)
    if linux.get("devices") is not None:
        view.devices = [_device(d, f"linux.devices[{i}]")
                        for i, d in enumerate(_list(linux["devices"], "linux.devices"))]
    return view


def _id_mappings(value: object, where: str) -> list[tuple[int, int, int]]:
    out = []
    for i, item in enumerate(_list(value, where)):
        w = f"{where}[{i}]"
        m = _object(item, w)
        cid = _id(_required(m, "containerID", f"{w}.containerID"), f"{w}.containerID")
        hid = _id(_required(m, "hostID", f"{w}.hostID"), f"{w}.hostID")
        size = _uint64(_required(m, "size", f"{w}.size"), f"{w}.size")
        if not 1 <= size <= 2**32 - 1 or cid + size > 2**32 or hid + size > 2**32:
            _fail(w, f"size {size} does not fit the id range")
        out.append((cid, hid, size))
    return out


def _sysctl(value: object, kinds: set[Any], host_ns: HostNamespaces) -> dict[str, str]:
    """``linux.sysctl``: runc's rule for which keys (:func:`sysctls.check_allowed`), and
    each value as the kernel would take it."""
    out: dict[str, str] = {}
    for raw_key, raw in _object(value, "linux.sysctl").items():
        where = f"linux.sysctl[{quote(raw_key)}]"
        _check_text(raw_key, where)
        text = _string(raw, where)
        key = sysctls.normalize(raw_key)
        try:
            sysctls.check_allowed(key, ipc="ipc" in kinds, uts="uts" in kinds,
                                  netns=host_ns.network is not None)
        except sysctls.SysctlError as e:
            _fail("linux.sysctl", str(e))
        out[key] = text
    try:
        sysctls.sysctl_table(out)
    except sysctls.SysctlError as e:
        _fail("linux.sysctl", str(e))
    return out


def _device(value: object, where: str) -> DeviceSpec:
    """One ``linux.devices`` entry: a FIFO, or a character device the sentry emulates."""
    from sentry.fsimpl.dev.dev import DEVICES

    d = _object(value, where)
    path = _absolute(_required(d, "path", f"{where}.path"), f"{where}.path")
    kind = _string(_required(d, "type", f"{where}.type"), f"{where}.type")
    if kind not in ("c", "u", "b", "p"):
        _fail(f"{where}.type", f"unknown device type {quote(kind)}")
    dev = DeviceSpec(path=posixpath.normpath(path), kind="p" if kind == "p" else "c")
    if kind != "p":
        dev.major = _id(_required(d, "major", f"{where}.major"), f"{where}.major")
        dev.minor = _id(_required(d, "minor", f"{where}.minor"), f"{where}.minor")
        if kind == "b" or (dev.major, dev.minor) not in DEVICES:
            raise Unsupported(
                f"{where}: device {path} ({kind} {dev.major}:{dev.minor}) is not one the "
                "sandbox emulates (it has "
                + ", ".join(f"c {a}:{b}" for a, b in sorted(DEVICES)) + ")")
    if d.get("fileMode") is not None:
        dev.mode = _id(d["fileMode"], f"{where}.fileMode") & 0o7777
    if d.get("uid") is not None:
        dev.uid = _id(d["uid"], f"{where}.uid")
    if d.get("gid") is not None:
        dev.gid = _id(d["gid"], f"{where}.gid")
    return dev


# linux.resources fields applied to the cgroup (runtime-spec config-linux.md), each an
# integer (cpus/mems: strings).
_RESOURCE_INTS = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness"),
    "cpu": ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod"),
    "pids": ("limit",),
}


def validate_resources(value: object, where: str) -> dict[str, Any]:
    """Check ``linux.resources`` (or ``update``'s JSON): the parts that are applied must
    have the spec's types; the rest (devices, blockIO, hugepage, network) is kept as is.

    :raises InvalidSpec: a value of the wrong type.
    """
    res = _object(value, where)
    for section, keys in _RESOURCE_INTS.items():
        if section not in res or res[section] is None:
            continue
        sec = _object(res[section], f"{where}.{section}")
        for key in keys:
            v = sec.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                _fail(f"{where}.{section}.{key}", f"must be an integer, not {_json_type(v)}")
        if section == "cpu":
            for key in ("cpus", "mems"):
                if sec.get(key) is not None:
                    _string(sec[key], f"{where}.cpu.{key}")
    return res


def load_bundle(bundle: str) -> BundleSpec:
    """Read and validate ``<bundle>/config.json``.

    :raises InvalidSpec: the bundle or its config is missing or invalid.
    :raises Unsupported: the config asks for something not implemented.
    """
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise InvalidSpec(f"bundle {quote(bundle)} is not a directory")
    config_path = os.path.join(bundle, CONFIG_NAME)
    return validate(read_config(config_path), bundle, config_path)


def host_root_config(
    argv: Sequence[str],
    *,
    env: Sequence[str],
    cwd: str,
    uid: int,
    gid: int,
    hostname: str,
    container_id: str,
) -> BootConfig:
    """The BootConfig of ``do``: the host's / as an in-memory overlay, fresh proc, dev, sys.

    ``/tmp`` stays the host's, seen through the overlay like the rest of ``/`` (the host's
    is not empty, so gVisor's rule mounts no tmpfs there either), so a caller's cwd or
    files under it are there; writes still stay in sentry memory.

    :raises InvalidSpec: a malformed environment entry, cwd or hostname.
    """
    if not argv:
        raise InvalidSpec("no command given")
    for i, arg in enumerate(argv):
        _check_text(arg, f"command argument {i}", host_bytes=True)
    return BootConfig(
        argv=list(argv),
        env=validate_env(list(env), "environment", host_bytes=True),
        cwd=_absolute(cwd, "--cwd", host_bytes=True),
        uid=_id(uid, "--uid"),
        gid=_id(gid, "--gid"),
        hostname=validate_hostname(hostname, "--hostname"),
        root_path="/",
        root_readonly=False,
        overlay=True,
        mounts=[
            MountSpec(destination="/proc", type="proc"),
            MountSpec(destination="/dev", type="dev"),
            MountSpec(destination="/sys", type="sysfs"),
            MountSpec(destination="/sys/fs/cgroup", type="cgroup2",
                      options=["nosuid", "nodev", "noexec", "relatime"]),
        ],
        stdio=(0, 1, 2),
        container_id=container_id,
        exit_on_unhandled_signal=True,
        # Like a command run by the caller: its open-files limit (not the one this
        # process raised for the sentry and the gofer).
        nofile=launch.caller_nofile(),
    )


def default_spec() -> dict[str, Any]:
    """The config.json ``spec`` writes: runc's template, adjusted for this runtime.

    ``terminal`` is false because there is no console support; the hostname is fixed so the
    sandbox does not learn the host's.
    """
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                kind: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                for kind in ("bounding", "effective", "permitted", "ambient")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runsc-py",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": [
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [
                {"type": ns}
                for ns in ("pid", "network", "ipc", "uts", "mount", "cgroup")
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def write_default_spec(bundle: str) -> str:
    """Create ``<bundle>/config.json`` from :func:`default_spec`, never overwriting.

    :returns: the path written.
    :raises InvalidSpec: the bundle is not a directory or config.json already exists.
    """
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, CONFIG_NAME)
    if not os.path.isdir(bundle):
        raise InvalidSpec(f"bundle {quote(bundle)} is not a directory")
    data = (jsonc.dumps(default_spec(), indent=2) + "\n").encode("utf-8")
    try:
        # O_EXCL closes the race with another writer; O_NOFOLLOW refuses a dangling symlink.
        fd = os.open(
            path,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
        )
    except FileExistsError:
        raise InvalidSpec(f"{path} already exists; remove it first") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidSpec(f"{path} already exists; remove it first") from None
        raise InvalidSpec(f"cannot create {path}: {e.strerror}") from None
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        os.close(fd)
        os.unlink(path)
        raise InvalidSpec(f"cannot write {path}: {e.strerror}") from None
    os.close(fd)
    return path
