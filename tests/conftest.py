"""Fixtures of the end-to-end suites: tests/workloads, tests/syscalls, tests/security.

Fixtures:

- ``runsc_root``: a fresh, short ``--root`` directory (unix-socket paths must stay short). At
  teardown the test fails if anything is left in it or if any process the test started is
  still alive (the pytest process is a child subreaper, so every process the runtime started is
  its descendant); leftovers are then killed and the directory removed.
- ``sandbox``: a :class:`Sandbox` bound to ``runsc_root``: ``.do(cmd, ...)`` (do mode),
  ``.run_bundle(bundle, args)`` (``run --bundle``), ``.cli(args)`` (any other command).
- ``busybox_rootfs`` (session): the busybox rootfs template (needs Debian's ``busybox-static``;
  the fixture fails, it never installs anything).
- ``busybox_bundle``: an OCI bundle in the test's tmp dir: a copy of the template as ``rootfs``
  plus ``runsc-py spec`` 's config.json, edited (terminal off, env, hostname, writable root).
- ``native_rootfs``: another copy of the template for the chroot native reference.
- ``c_program`` (session): ``c_program("tests/syscalls/src/x.c", static=False) -> Path``,
  compiled once per session with ``cc -O0``.

Option ``--native-only``: a self-check of the harness, never a way to pass. Every sandboxed run
is replaced by a second native run, so differential tests check that the native half works and
is deterministic, and that the normalisation is right. Sandbox-only assertions then fail.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import procs
from helpers.bundle import (
    BUNDLE_ENV,
    HOSTNAME,
    build_busybox_rootfs,
    copy_rootfs,
    load_config,
    make_bundle,
    run_chroot_native,
)
from helpers.cbuild import compile_c
from helpers.runner import (
    Result,
    run_bundle,
    run_native,
    run_sandbox,
    runsc,
)

TESTS = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--native-only",
        action="store_true",
        help="harness self-check: run the native reference in place of the sandbox",
    )


def pytest_configure(config: pytest.Config) -> None:
    procs.become_subreaper()
    _default_terminal_signals()


def _default_terminal_signals() -> None:
    """Un-ignore SIGINT, SIGQUIT and SIGHUP if the suite was started with them ignored (a
    background job of a non-interactive shell ignores SIGINT and SIGQUIT, nohup SIGHUP).
    Ignored dispositions survive exec, so every native reference would inherit them (a ^C
    sent to a native `sh -i`'s foreground job would stop nothing), while a sandbox's init
    starts from the defaults."""
    import signal

    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                          else signal.SIG_DFL)


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("--native-only"):
        return "NATIVE-ONLY SELF-CHECK: the sandbox is NOT exercised by this run"
    return None


@pytest.fixture
def native_only(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--native-only"))


@pytest.fixture
def runsc_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="rr", dir="/tmp"))
    before = procs.descendants(os.getpid())
    try:
        yield root
        leftovers = procs.descendants(os.getpid()) - before
        leftovers = procs.wait_gone(leftovers, 5.0)
        left_files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        assert not leftovers, "processes left running after the test:\n" + procs.describe(leftovers)
        assert not left_files, f"--root {root} not empty after the test: {left_files}"
    finally:
        procs.kill_all(procs.descendants(os.getpid()) - before)
        procs.wait_gone(procs.descendants(os.getpid()) - before, 5.0)
        procs.reap_orphans()
        shutil.rmtree(root, ignore_errors=True)


#: What :meth:`Sandbox.python_on_trees` puts before its program: ``in_child(fn, uid,
#: gid)`` runs fn() in a forked child (as uid and gid if given) and waits for it, what it
#: printed coming before what the parent prints next.
TREE_PRELUDE = """\
import os as _os, sys as _sys

def in_child(fn, uid=None, gid=None, groups=None):
    _sys.stdout.flush()
    pid = _os.fork()
    if pid == 0:
        if groups is not None:
            _os.setgroups(groups)
        if gid is not None:
            _os.setgid(gid)
        if uid is not None:
            _os.setuid(uid)
        fn()
        _sys.stdout.flush()  # os._exit would drop what the child printed
        _os._exit(0)
    _os.waitpid(pid, 0)

"""


class Sandbox:
    """The system under test, bound to one ``--root``; see the module docstring."""

    def __init__(self, root: Path, native_only: bool, scratch: Path) -> None:
        self.root = root
        self.native_only = native_only
        self._scratch = scratch
        self._n = 0

    def do(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        input: str | bytes | None = None,
        timeout: float | None = None,
        python_only: bool = False,
    ) -> Result:
        if self.native_only:
            return run_native(cmd, env=env, cwd=cwd, input=input, timeout=timeout)
        return run_sandbox(
            cmd,
            root=self.root,
            env=env,
            cwd=cwd,
            input=input,
            timeout=timeout,
            python_only=python_only,
        )

    def python_on_trees(
        self,
        program: str,
        make_tree: Callable[[Path], Path],
        scratch: Path,
        *,
        python_only: bool = False,
        timeout: float = 120,
    ) -> tuple[str, str, Path]:
        """A differential run of the Python *program*, whose argument is a tree's path:
        natively on one copy of the tree *make_tree* builds below *scratch*, in the sandbox
        on another.  Both must exit 0; returns their outputs (each tree's path written
        ``TREE``) and the sandbox's tree (the native one is removed).  The program may call
        ``in_child(fn, uid=None, gid=None, groups=None)`` (:data:`TREE_PRELUDE`)."""
        import subprocess

        prog = scratch / "prog.py"
        prog.write_text(TREE_PRELUDE + program)
        native_tree = make_tree(scratch / "native")
        boxed_tree = make_tree(scratch / "boxed")
        native = subprocess.run([sys.executable, "-I", str(prog), str(native_tree)],
                                capture_output=True, text=True, timeout=timeout)
        assert native.returncode == 0, native.stderr
        res = self.do(["/usr/bin/python3", "-I", str(prog), str(boxed_tree)], timeout=timeout,
                      python_only=python_only)
        assert res.rc == 0, res.describe()
        shutil.rmtree(native_tree)
        return (native.stdout.replace(str(native_tree), "TREE"),
                res.stdout.replace(str(boxed_tree), "TREE"), boxed_tree)

    def run_bundle(
        self,
        bundle: Path,
        args: Sequence[str] | None = None,
        *,
        container_id: str = "t1",
        timeout: float | None = None,
        python_only: bool = False,
        input: str | bytes | None = None,
    ) -> Result:
        if self.native_only:
            from helpers.bundle import edit_config

            cfg = edit_config(bundle, args=args) if args is not None else load_config(bundle)
            self._n += 1
            rootfs = copy_rootfs(bundle / cfg["root"]["path"], self._scratch / f"selfcheck{self._n}")
            return run_chroot_native(
                rootfs,
                cfg["process"]["args"],
                env=cfg["process"]["env"],
                hostname=cfg.get("hostname", HOSTNAME),
                timeout=timeout,
                input=input,
            )
        return run_bundle(
            bundle,
            args,
            root=self.root,
            container_id=container_id,
            timeout=timeout,
            python_only=python_only,
            input=input,
        )

    def cli(self, args: Sequence[str], **kw: object) -> Result:
        return runsc(args, root=self.root, **kw)  # type: ignore[arg-type]


@pytest.fixture
def sandbox(runsc_root: Path, native_only: bool, tmp_path: Path) -> Sandbox:
    return Sandbox(runsc_root, native_only, tmp_path)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("busybox") / "rootfs"
    try:
        return build_busybox_rootfs(dest)
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def busybox_bundle(busybox_rootfs: Path, tmp_path: Path, native_only: bool) -> Path:
    bundle = tmp_path / "bundle"
    if native_only:
        # no runsc-py at all in the self-check: a minimal config of the same shape
        bundle.mkdir()
        copy_rootfs(busybox_rootfs, bundle / "rootfs")
        cfg = {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "args": ["sh"],
                "env": BUNDLE_ENV,
                "cwd": "/",
            },
            "root": {"path": "rootfs", "readonly": False},
            "hostname": HOSTNAME,
        }
        (bundle / "config.json").write_text(json.dumps(cfg))
        return bundle
    return make_bundle(bundle, busybox_rootfs)


@pytest.fixture
def native_rootfs(busybox_rootfs: Path, tmp_path: Path) -> Path:
    return copy_rootfs(busybox_rootfs, tmp_path / "native-rootfs")


@pytest.fixture(scope="session")
def c_program(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    out = tmp_path_factory.mktemp("cbin")
    cache: dict[tuple[str, bool], Path] = {}

    def build(src: str | Path, *, static: bool = False) -> Path:
        path = Path(src)
        if not path.is_absolute():
            path = TESTS.parent / path
        key = (str(path), static)
        if key not in cache:
            cache[key] = compile_c(path, out, static=static)
        return cache[key]

    return build
