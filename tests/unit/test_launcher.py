"""scripts/launcher.py: the ``runsc-py`` launcher starts the interpreter without ``site``
and puts on ``sys.path`` what ``site`` would have added."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _launcher():  # the script, imported as a module
    spec = importlib.util.spec_from_file_location("launcher", REPO / "scripts" / "launcher.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_site_paths_are_what_site_adds() -> None:
    launcher = _launcher()
    paths = launcher.site_paths(sys.executable)
    # the interpreter's own site-packages (click, cffi, python-ptrace) and, for an editable
    # install, the checkout; nothing the interpreter has without site
    purelib = subprocess.run([sys.executable, "-E", "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert purelib in paths
    bare = subprocess.run([sys.executable, "-E", "-S", "-c", "import sys; print(sys.path)"],
                          capture_output=True, text=True, check=True).stdout
    assert not any(repr(p) in bare for p in paths)


def test_written_launcher_starts_without_site(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    if not (venv / "pyvenv.cfg").is_file():
        venv = REPO / ".venv"
    script = venv / "bin" / "runsc-py"
    head = script.read_text().splitlines()[0]
    assert head == f"#!{venv / 'bin' / 'python'} -S", head
    # what it runs: the entry point, with the modules found through the paths it adds
    probe = script.read_text().replace(
        "from runsc_py.launch import entry\nsys.exit(entry())\n",
        "import runsc_py.launch, click\nprint('site' in sys.modules, sys.flags.no_site)\n")
    assert probe != script.read_text()
    p = tmp_path / "probe"
    p.write_text(probe)
    p.chmod(0o755)
    out = subprocess.run([str(p)], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.split() == ["False", "1"]
