#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
# Test-only Debian packages: the container engines of tests/clients and the tools that build
# their image without a registry; the servers tests/workloads runs in the sandbox; trinity,
# which benchmarks/fuzz.py runs inside the sandbox (never on the host); CPython's test suite
# and stress-ng, which benchmarks/compat_scores.py scores the sandbox with.
TEST_PKGS=(containerd runc umoci skopeo podman containernetworking-plugins docker.io
           nginx-light redis-server nodejs curl trinity libpython3.11-testsuite stress-ng)
missing=()
for p in "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Setup after them: they may update Debian's interpreter (libpython3.11-testsuite needs
# its exact version), and setup builds against the one it finds.
bash scripts/setup.sh
.venv/bin/ruff check sentry gofer runsc_py native tests benchmarks scripts
.venv/bin/mypy
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
