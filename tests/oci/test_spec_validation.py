"""Invariant 8 (bad input to the CLI): every invalid or hostile config.json gives one line
naming the problem, a non-zero exit, no sandbox start, and nothing left under --root."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.oci.oci_helpers import FakeSandbox, minimal_config


def _with(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or, with value ``...``, delete) a dotted path in the config."""

    def mutate(cfg: dict[str, Any]) -> None:
        keys = path.split(".")
        node = cfg
        for key in keys[:-1]:
            node = node[key]
        if value is ...:
            del node[keys[-1]]
        else:
            node[keys[-1]] = copy.deepcopy(value)

    return mutate


def _mount(m: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _with("mounts", [m])


CASES = [
    ("ociVersion missing", _with("ociVersion", ...), "ociVersion: missing"),
    ("ociVersion int", _with("ociVersion", 1), "ociVersion: must be a string"),
    ("process missing", _with("process", ...), "process: missing"),
    ("process list", _with("process", []), "process: must be an object"),
    ("args missing", _with("process.args", ...), "process.args: missing"),
    ("args empty", _with("process.args", []), "process.args: must not be empty"),
    (
        "args not strings",
        _with("process.args", ["sh", 1]),
        "process.args[1]: must be a string",
    ),
    ("args0 empty", _with("process.args", [""]), "process.args[0]: must not be empty"),
    (
        "args NUL",
        _with("process.args", ["a\u0000b"]),
        "process.args[0]: contains a NUL byte",
    ),
    (
        "args surrogate",
        _with("process.args", ["\udc80"]),
        "process.args[0]: is not valid Unicode",
    ),
    ("env not list", _with("process.env", "PATH=/"), "process.env: must be a list"),
    (
        "env no equals",
        _with("process.env", ["PATH"]),
        "process.env[0]: must be KEY=value",
    ),
    (
        "env empty key",
        _with("process.env", ["=x"]),
        "process.env[0]: must be KEY=value",
    ),
    ("cwd missing", _with("process.cwd", ...), "process.cwd: missing"),
    (
        "cwd relative",
        _with("process.cwd", "tmp"),
        "process.cwd: must be an absolute path",
    ),
    (
        "uid negative",
        _with("process.user.uid", -1),
        "process.user.uid: must be between",
    ),
    (
        "uid string",
        _with("process.user.uid", "0"),
        "process.user.uid: must be an integer",
    ),
    (
        "uid bool",
        _with("process.user.uid", True),
        "process.user.uid: must be an integer",
    ),
    (
        "uid float",
        _with("process.user.uid", 1.5),
        "process.user.uid: must be an integer",
    ),
    (
        "uid too big",
        _with("process.user.uid", 2**32 - 1),
        "process.user.uid: must be between",
    ),
    ("gid missing", _with("process.user.gid", ...), "process.user.gid: missing"),
    (
        "groups",
        _with("process.user.additionalGids", ["a"]),
        "process.user.additionalGids[0]: must be an integer",
    ),
    (
        "terminal",
        _with("process.terminal", True),
        "process.terminal: run in the foreground has no terminal of its own",
    ),
    (
        "terminal type",
        _with("process.terminal", "no"),
        "process.terminal: must be true or false",
    ),
    ("root missing", _with("root", ...), "root: missing"),
    ("root.path int", _with("root.path", 3), "root.path: must be a string"),
    (
        "root.readonly",
        _with("root.readonly", "yes"),
        "root.readonly: must be true or false",
    ),
    ("rootfs missing", _with("root.path", "nope"), "root.path: rootfs"),
    ("hostname int", _with("hostname", 5), "hostname: must be a string"),
    ("hostname long", _with("hostname", "h" * 65), "hostname: longer than 64 bytes"),
    ("mounts not list", _with("mounts", {}), "mounts: must be a list"),
    ("mount not object", _with("mounts", ["/x"]), "mounts[0]: must be an object"),
    (
        "mount dest relative",
        _mount({"destination": "x", "type": "tmpfs"}),
        "mounts[0].destination: must be an absolute path",
    ),
    (
        "mount over root",
        _mount({"destination": "/", "type": "tmpfs"}),
        "mounts[0].destination: cannot mount over /",
    ),
    (
        "mount over root dots",
        _mount({"destination": "/a/..", "type": "tmpfs"}),
        "mounts[0].destination: cannot mount over /",
    ),
    (
        "mount type unknown",
        _mount({"destination": "/x", "type": "ext4", "source": "/dev/sda"}),
        'mounts[0].type: unsupported mount type "ext4"',
    ),
    ("mount type missing", _mount({"destination": "/x"}), "mounts[0].type: missing"),
    (
        "bind source missing",
        _mount({"destination": "/x", "type": "bind"}),
        "mounts[0].source: a bind mount needs a source",
    ),
    (
        "bind source absent",
        _mount(
            {
                "destination": "/x",
                "type": "none",
                "source": "/nonexistent-q",
                "options": ["rbind"],
            }
        ),
        "mounts[0].source:",
    ),
    (
        "mount options",
        _mount({"destination": "/x", "type": "tmpfs", "options": "ro"}),
        "mounts[0].options: must be a list",
    ),
    (
        "annotations",
        _with("annotations", {"a": 1}),
        'annotations["a"]: must be a string',
    ),
    (
        "hook path",
        _with("hooks", {"prestart": [{"path": "bin/true"}]}),
        "hooks.prestart[0].path: must be an absolute path",
    ),
    (
        "hook timeout",
        _with("hooks", {"poststop": [{"path": "/bin/true", "timeout": 0}]}),
        "hooks.poststop[0].timeout: must be a positive integer",
    ),
    (
        "namespace type",
        _with("linux", {"namespaces": [{"type": "net"}]}),
        'linux.namespaces[0].type: unknown namespace type "net"',
    ),
    ("linux not object", _with("linux", []), "linux: must be an object"),
    # process fields that make the sandbox's view (tests/oci/test_config_view.py)
    ("caps not object", _with("process.capabilities", []),
     "process.capabilities: must be an object"),
    ("caps set not list", _with("process.capabilities", {"bounding": "CAP_KILL"}),
     "process.capabilities.bounding: must be a list"),
    ("caps name not string", _with("process.capabilities", {"effective": [1]}),
     "process.capabilities.effective[0]: must be a string"),
    ("caps effective not permitted",
     _with("process.capabilities", {"effective": ["CAP_KILL"], "permitted": []}),
     "process.capabilities.effective: CAP_KILL not in process.capabilities.permitted"),
    ("nnp not bool", _with("process.noNewPrivileges", "yes"),
     "process.noNewPrivileges: must be true or false"),
    ("rlimits not list", _with("process.rlimits", {}), "process.rlimits: must be a list"),
    ("rlimit type unknown", _with("process.rlimits", [{"type": "X", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type: wrong rlimit value: X"),
    ("rlimit soft string",
     _with("process.rlimits", [{"type": "RLIMIT_CPU", "soft": "1", "hard": 1}]),
     "process.rlimits[0].soft: must be an integer"),
    ("rlimit negative",
     _with("process.rlimits", [{"type": "RLIMIT_CPU", "soft": -1, "hard": 1}]),
     "process.rlimits[0].soft: must be between 0 and"),
    ("rlimit above u64",
     _with("process.rlimits", [{"type": "RLIMIT_CPU", "soft": 1, "hard": 2**64}]),
     "process.rlimits[0].hard: must be between 0 and"),
    ("rlimit soft above hard",
     _with("process.rlimits", [{"type": "RLIMIT_CPU", "soft": 2, "hard": 1}]),
     "soft limit 2 is above the hard limit 1"),
    ("nofile above nr_open",
     _with("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2**21}]),
     "above fs.nr_open"),
    ("oom out of range", _with("process.oomScoreAdj", 1001),
     "process.oomScoreAdj: must be between -1000 and 1000"),
    ("oom bool", _with("process.oomScoreAdj", True), "process.oomScoreAdj: must be an integer"),
    ("masked not list", _with("linux", {"maskedPaths": "/x"}),
     "linux.maskedPaths: must be a list"),
    ("readonly relative", _with("linux", {"readonlyPaths": ["x"]}),
     "linux.readonlyPaths[0]: must be an absolute path"),
    ("sysctl not object", _with("linux", {"sysctl": []}), "linux.sysctl: must be an object"),
    ("sysctl value not string",
     _with("linux", {"sysctl": {"kernel.shmmax": 1}, "namespaces": [{"type": "ipc"}]}),
     "must be a string"),
    ("sysctl host ipc", _with("linux", {"sysctl": {"kernel.shmmax": "1"}}),
     'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'),
    ("sysctl host net", _with("linux", {"sysctl": {"net.core.somaxconn": "1"}}),
     'sysctl "net.core.somaxconn" not allowed in host network namespace'),
    ("device type", _with("linux", {"devices": [{"path": "/dev/x", "type": "q"}]}),
     'linux.devices[0].type: unknown device type "q"'),
    ("device no major", _with("linux", {"devices": [{"path": "/dev/x", "type": "c"}]}),
     "linux.devices[0].major: missing"),
    ("userns without uid map",
     _with("linux", {"namespaces": [{"type": "user"}],
                     "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
     "linux.uidMappings: User namespaces enabled, but no uid mappings found."),
    ("mapping without size",
     _with("linux", {"namespaces": [{"type": "user"}],
                     "uidMappings": [{"containerID": 0, "hostID": 1000}],
                     "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
     "linux.uidMappings[0].size: missing"),
    ("tmpfs size not a size",
     _mount({"destination": "/t", "type": "tmpfs", "options": ["size=abc"]}),
     "mounts[0].options: tmpfs option 'size=abc' has a bad value"),
    ("tmpfs unknown option",
     _mount({"destination": "/t", "type": "tmpfs", "options": ["bogus=1"]}),
     "tmpfs takes no option 'bogus=1'"),
]


def _assert_refused(
    result: Result, root: Path, fake: FakeSandbox, expected: str
) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("runsc-py: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert list(root.iterdir()) == []
    assert fake.calls == []
    return lines[0]


@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_field(
    name: str,
    mutate: Callable[[dict[str, Any]], None],
    expected: str,
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = minimal_config()
    mutate(cfg)
    bundle = make_bundle(cfg)
    result = cli("run", "--bundle", str(bundle), "c1")
    line = _assert_refused(result, root, fake_sandbox, expected)
    assert line.startswith("runsc-py: config.json: ")


def test_rootfs_not_directory(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle(rootfs=False)
    (bundle / "rootfs").write_text("not a dir")
    _assert_refused(
        cli("run", "-b", str(bundle), "c1"), root, fake_sandbox, "is not a directory"
    )


def test_missing_rootfs(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle(rootfs=False)
    line = _assert_refused(
        cli("run", "-b", str(bundle), "c1"), root, fake_sandbox, "does not exist"
    )
    assert str(bundle / "rootfs") in line


@pytest.mark.parametrize(
    "raw,expected",
    [
        (b"{", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object, not a list"),
        (b'"x"', "must be a JSON object, not a string"),
        (b'{"ociVersion": "1.1.0"}\xff', "not valid UTF-8 at byte 23"),
        (b"\xfe\xff{}", "not valid UTF-8"),
        (b"[" * 200000 + b"]" * 200000, "nested too deeply"),
        (b'{"a": ' + b"1" * 5000 + b"}", "malformed JSON"),
        (b'{"ociVersion": NaN}', "ociVersion: must be a string"),
    ],
    ids=[
        "truncated",
        "empty",
        "list",
        "string",
        "bad utf8",
        "utf16 bom",
        "deep",
        "bigint",
        "nan",
    ],
)
def test_hostile_bytes(
    raw: bytes,
    expected: str,
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    bundle = make_bundle(raw=raw)
    _assert_refused(cli("run", "-b", str(bundle), "c1"), root, fake_sandbox, expected)


def test_too_large(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = json.dumps(minimal_config()).encode()
    raw = cfg + b" " * (4 * 1024 * 1024 + 1 - len(cfg))
    bundle = make_bundle(raw=raw)
    _assert_refused(
        cli("run", "-b", str(bundle), "c1"), root, fake_sandbox, "larger than"
    )


def test_exactly_at_limit_is_accepted(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = json.dumps(minimal_config()).encode()
    bundle = make_bundle(raw=cfg + b" " * (4 * 1024 * 1024 - len(cfg)))
    assert cli("run", "-b", str(bundle), "c1").exit_code == 0
    assert len(fake_sandbox.calls) == 1


def test_fifo_does_not_hang(
    cli: Callable[..., Result], tmp_path: Path, root: Path, fake_sandbox: FakeSandbox
) -> None:
    bundle = tmp_path / "fifo-bundle"
    (bundle / "rootfs").mkdir(parents=True)
    os.mkfifo(bundle / "config.json")
    _assert_refused(
        cli("run", "-b", str(bundle), "c1"), root, fake_sandbox, "is not a regular file"
    )


def test_missing_config(
    cli: Callable[..., Result], tmp_path: Path, root: Path, fake_sandbox: FakeSandbox
) -> None:
    (tmp_path / "empty").mkdir()
    _assert_refused(
        cli("run", "-b", str(tmp_path / "empty"), "c1"),
        root,
        fake_sandbox,
        "config.json does not exist",
    )


def test_missing_bundle(
    cli: Callable[..., Result], tmp_path: Path, root: Path, fake_sandbox: FakeSandbox
) -> None:
    _assert_refused(
        cli("run", "-b", str(tmp_path / "nope"), "c1"),
        root,
        fake_sandbox,
        "is not a directory",
    )


def test_control_characters_stay_on_one_line(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    root: Path,
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = minimal_config()
    cfg["mounts"] = [{"destination": "/x", "type": "evil\n\x1b[2Jtype"}]
    line = _assert_refused(
        cli("run", "-b", str(make_bundle(cfg)), "c1"),
        root,
        fake_sandbox,
        "unsupported mount type",
    )
    assert "\x1b" not in line
    assert "\\n" in line


def test_bind_source_relative_to_bundle(
    cli: Callable[..., Result],
    make_bundle: Callable[..., Path],
    fake_sandbox: FakeSandbox,
) -> None:
    cfg = minimal_config()
    cfg["mounts"] = [
        {
            "destination": "/data",
            "type": "none",
            "source": "data",
            "options": ["rbind", "ro"],
        },
        {
            "destination": "/rw",
            "type": "bind",
            "source": "data",
            "options": ["ro", "rw"],
        },
    ]
    bundle = make_bundle(cfg)
    (bundle / "data").mkdir()
    result = cli("run", "-b", str(bundle), "c1")
    assert result.exit_code == 0, result.output
    mounts = [m for m in fake_sandbox.calls[0].mounts if m.destination != "/tmp"]
    assert [(m.destination, m.type, m.source, m.readonly) for m in mounts] == [
        ("/data", "bind", str(bundle / "data"), True),
        ("/rw", "bind", str(bundle / "data"), False),
    ]
    assert mounts[0].options == []
