#!/usr/bin/env bash
# Set up runsc-py on a fresh Debian 12 machine (run as root): system packages,
# a virtualenv in .venv, and the project installed in it (builds the C
# extension and the stub).  Safe to run again.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

PKGS=(gcc libc6-dev libseccomp2 python3 python3-venv python3-dev busybox-static strace)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian's own interpreter (the python3 package above), not whatever "python3" is first on
# PATH: Debian builds it with profile-guided and link-time optimisation, and the sentry is
# Python (a version manager's build without them: do -- /bin/true 69.0 -> 62.6 ms, the
# imports workload 93.8 -> 87.5). PYTHON=... picks another; a .venv made from another
# interpreter is made again.
PY="${PYTHON:-/usr/bin/python3}"
PY_REAL="$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
if [ -x .venv/bin/python ] && ! grep -qx "executable = $PY_REAL" .venv/pyvenv.cfg 2>/dev/null; then
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# compat: a plain path entry in site-packages. The default editable mode installs a finder
# whose .pth imports pathlib, urllib and importlib.util into every Python start (~20 ms of
# each runsc-py command; engines run several per container).
.venv/bin/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
# .venv/bin/runsc-py: pip's console script, started without the site module (its paths
# found now): ~1 ms of every command, ~2 of a sandbox's start (scripts/launcher.py).
.venv/bin/python scripts/launcher.py .venv
# Byte-compile the project now: an editable install leaves that to the first import,
# which never happens where PYTHONDONTWRITEBYTECODE is set (every start would then
# compile the sentry's ~100 modules again, and so would every gofer).
.venv/bin/python -m compileall -q sentry gofer runsc_py >/dev/null
# Build every seccomp program now (gofer/seccomp-programs.json): each sandbox would otherwise
# build them with libseccomp again (sentry/precompute.py).
.venv/bin/python -m sentry.precompute
