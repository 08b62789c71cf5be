"""User namespace id mappings (``linux.uidMappings``/``gidMappings``) as the sandbox sees them.

No host user namespace is made: the sentry is the workload's kernel, so the mapping is
applied where sandbox ids meet host ones, at the gofer (a host file's owner is shown
through the mapping, unmapped ones as the overflow id 65534; a file the sandbox
creates or chowns gets the host id its sandbox id maps to), and shown in
``/proc/PID/uid_map``.  As in a user namespace, a capability does not override
permissions on a file whose owner or group is unmapped (``capable_wrt_inode_uidgid``).
"""

from __future__ import annotations


TYPE_CHECKING = False  # (typing: see sentry.records)
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

#: /proc/sys/kernel/overflowuid (and overflowgid): how an unmapped id is shown.
OVERFLOW_ID = 65534

if TYPE_CHECKING:  # (an annotation only)
    Extent = Tuple[int, int, int]


class IdMap:
    """Extents (first id inside, first id on the host, count)."""

    def __init__(self, extents: Sequence[Extent]) -> None:
        self.extents: List[Extent] = [tuple(e) for e in extents]  # type: ignore[misc]

    @property
    def identity(self) -> bool:
        return self.extents == [(0, 0, 4294967295)]

    def to_sandbox(self, host_id: int) -> Optional[int]:
        """The sandbox id of host id *host_id*, or None if it is not mapped."""
        for inside, outside, count in self.extents:
            if outside <= host_id < outside + count:
                return inside + host_id - outside
        return None

    def to_host(self, sandbox_id: int) -> Optional[int]:
        """The host id sandbox id *sandbox_id* maps to, or None."""
        for inside, outside, count in self.extents:
            if inside <= sandbox_id < inside + count:
                return outside + sandbox_id - inside
        return None
