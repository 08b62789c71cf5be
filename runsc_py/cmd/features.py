"""``features``: what this runtime implements, in the runtime-spec's features.json shape."""

from __future__ import annotations

import json

import click

from runsc_py.container.state import OCI_VERSION

# Options the sandbox's mount table acts on; others are accepted and ignored.
MOUNT_OPTIONS = ("bind", "rbind", "ro", "rw")


@click.command("features")
def features() -> None:
    """Print the features document (runtime-spec features.md)."""
    doc = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": list(MOUNT_OPTIONS),
        "linux": {
            # Namespaces the sandbox has (all of them are the sentry's own view, except
            # network, which may be a path to join).
            "namespaces": ["mount", "pid", "network", "ipc", "uts"],
            "capabilities": [],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {
            "io.github.runsc-py.sandbox": "user-space kernel (sentry) with a gofer",
        },
    }
    click.echo(json.dumps(doc, indent=2))
