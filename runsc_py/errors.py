"""Errors a user can cause, each with the exit status the CLI returns for it.

Everything raised here is reported as one line on stderr (``runsc-py: <msg>``) and in the
``--log`` file; anything else reaching the top of the CLI is a bug and exits with
:data:`EXIT_INTERNAL`.
"""

from __future__ import annotations

from runsc_py import jsonc


# runc uses 1 for every runtime error; clients (containerd, podman) only test for non-zero.
EXIT_USER = 1
EXIT_INTERNAL = 2


def quote(value: object) -> str:
    """Render a value taken from user input so that it cannot break the one-line message.

    JSON string escaping turns newlines and terminal control characters into visible escapes.
    """
    if isinstance(value, str):
        return jsonc.dumps(value, ensure_ascii=False)
    return jsonc.dumps(value, ensure_ascii=False, default=repr)[:200]


def one_line(msg: str) -> str:
    """Escape line breaks so a message is always exactly one line."""
    return msg.replace("\r", "\\r").replace("\n", "\\n")


class UserError(Exception):
    """An error caused by the user's input or the host's state, not by a bug.

    :param msg: one line, without the ``runsc-py:`` prefix.
    :param exit_code: the CLI's exit status.
    """

    def __init__(self, msg: str, exit_code: int = EXIT_USER) -> None:
        super().__init__(one_line(msg))
        self.msg = one_line(msg)
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.msg


class InvalidSpec(UserError):
    """config.json is unreadable, malformed, or asks for something invalid."""


class Unsupported(UserError):
    """A valid request this runtime does not implement; refused rather than ignored."""


class InvalidID(UserError):
    """A container id outside runc's rules."""


class ContainerExists(UserError):
    """The id is already in use under ``--root``."""


class ContainerNotFound(UserError):
    """No container with this id under ``--root``."""


class WrongState(UserError):
    """The container is in a state that does not allow the operation."""


class StateError(UserError):
    """The state directory cannot be created, read or written."""
