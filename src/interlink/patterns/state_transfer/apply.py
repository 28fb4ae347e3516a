"""Applying a fat event to a replica: newer versions win, tombstones keep their version.

This is the whole consistency argument of a replica, so it lives in one function. A record is replaced
only by a strictly newer version of the producer's aggregate, so:

- a duplicate (same version) or a late, older event is a no-op;
- a delete leaves a tombstone holding the delete's version, so an update older than the delete that
  arrives afterwards cannot resurrect the copy;
- any interleaving of the same events ends on the newest state, whatever the order of arrival.

That makes the replica convergent under at-least-once delivery and reordering, and lets a rebuild
(:mod:`.rebuild`) overlap with live events without coordination.
"""

from __future__ import annotations

from interlink.delivery.unit_of_work import UnitOfWork
from interlink.patterns.state_transfer.declarations import ReplicaSpec, StateTransferEvent

__all__ = ["apply_state"]


async def apply_state(uow: UnitOfWork, spec: ReplicaSpec, event: StateTransferEvent) -> bool:
    """Stage ``event`` on ``spec``'s replica when it is newer than the copy; True when it was staged."""
    current = await uow.load(spec.model, event.id)
    stored = current.version if current is not None else 0
    if event.version <= stored:
        return False
    uow.stage_copy(spec.copy_of(event), stored)
    return True
