"""The ``--version`` text, in runc's three-line shape (go-runc and podman parse it)."""

from __future__ import annotations

import os
import re

from runsc_py import __version__
from runsc_py.container.state import OCI_VERSION

_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _git_dir() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    candidate = os.path.join(os.path.dirname(here), ".git")
    return candidate if os.path.isdir(candidate) else None


def git_commit() -> str | None:
    """The checked-out commit of the source tree this package runs from, read from ``.git``
    directly (no git binary needed), or None for an installed copy or an unborn branch."""
    git = _git_dir()
    if git is None:
        return None
    try:
        with open(os.path.join(git, "HEAD"), encoding="ascii") as f:
            head = f.read().strip()
        if _SHA_RE.fullmatch(head):
            return head
        if not head.startswith("ref: "):
            return None
        ref = head[5:]
        ref_path = os.path.normpath(os.path.join(git, ref))
        if ref_path.startswith(git + os.sep) and os.path.isfile(ref_path):
            with open(ref_path, encoding="ascii") as f:
                sha = f.read().strip()
            return sha if _SHA_RE.fullmatch(sha) else None
        packed = os.path.join(git, "packed-refs")
        if os.path.isfile(packed):
            with open(packed, encoding="ascii", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if (
                        len(parts) == 2
                        and parts[1] == ref
                        and _SHA_RE.fullmatch(parts[0])
                    ):
                        return parts[0]
    except OSError:
        return None
    return None


def version_text() -> str:
    """runc's shape exactly: go-runc (containerd) and podman read the version from the
    first line's ``runc version`` prefix; the runtime's own name follows the number."""
    return "\n".join(
        [
            f"runc version {__version__} (runsc-py)",
            f"commit: {git_commit() or 'unknown'}",
            f"spec: {OCI_VERSION}",
        ]
    )
