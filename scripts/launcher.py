"""Write the ``runsc-py`` launcher over the console script pip made (scripts/setup.sh).

pip's script starts the interpreter with the ``site`` module, which finds the virtualenv's
site-packages and runs its ``.pth`` files (setuptools' distutils shim among them) on every
start: ~0.9 ms of a cheap command, ~2 ms of ``do`` (engines run four to six commands per
container).  The launcher starts it without ``site`` (``-S``) and puts on ``sys.path`` what
``site`` would have added, found now: the same entry point, the same modules.

Usage: ``python scripts/launcher.py VENV`` (the virtualenv's interpreter runs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = "import json, sys; print(json.dumps(sys.path[1:]))"

TEMPLATE = """#!{python} -S
# runsc-py, written by scripts/launcher.py over pip's console script: the same entry
# point, started without the site module (its paths are below).
import sys
sys.path.extend({paths!r})
from runsc_py.launch import entry
sys.exit(entry())
"""


def site_paths(python: str) -> list[str]:
    """What the ``site`` module adds to *python*'s ``sys.path``, in its order (the
    environment's PYTHON* variables ignored: ``-E``)."""

    def path(*flags: str) -> list[str]:
        out = subprocess.run([python, "-E", *flags, "-c", PROBE], capture_output=True,
                             text=True, check=True, cwd="/")
        return list(json.loads(out.stdout))

    without = set(path("-S"))
    return [p for p in path() if p not in without]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    venv = os.path.abspath(argv[0])
    python = os.path.join(venv, "bin", "python")
    paths = site_paths(python)
    # (what the console script imports must come from those paths, or the launcher would
    # fail at the first command: checked now)
    subprocess.run([python, "-E", "-S", "-c",
                    f"import sys; sys.path.extend({paths!r}); import runsc_py.launch"],
                   check=True, cwd="/")
    target = os.path.join(venv, "bin", "runsc-py")
    tmp = target + ".new"
    with open(tmp, "w") as f:
        f.write(TEMPLATE.format(python=python, paths=paths))
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
