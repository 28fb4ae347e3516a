"""How much of a state-transfer payload a consumer uses (``interlink advise`` for replicas).

A fat event carries every state field the producer declared to every consumer; a replica keeps only the
fields it reads. When a consumer reads a small share of the payload, most of what travels is waste, and
a thinner event (or a notification with a fetch of just what is needed) fits better. The changes a replica
has seen come from its records: each copy holds the producer's version, so the sum of versions is the
number of changes the producer made to the aggregates this consumer keeps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from interlink.core.state_transfer import ReplicaSpec
from interlink.ports.store import Store

__all__ = ["LOW_SHARE", "ReplicaAdvice", "ReplicaFigures", "advise_replica", "replica_figures"]

#: A consumer reading less than this share of the fields an event carries wastes most of the payload.
LOW_SHARE = 0.5


@dataclass(frozen=True)
class ReplicaFigures:
    """What a replica holds and how much of its event it reads."""

    replica: str
    event: str
    copies: int
    tombstones: int
    changes: int
    fields_read: list[str]
    fields_sent: list[str]
    mean_copy_bytes: float | None

    @property
    def share_read(self) -> float:
        """Fields read / fields sent (1.0 when the event sends no state fields)."""
        return len(self.fields_read) / len(self.fields_sent) if self.fields_sent else 1.0


@dataclass(frozen=True)
class ReplicaAdvice:
    """Keep state transfer, or carry less; with the numbers behind it."""

    figures: ReplicaFigures
    recommendation: str
    reason: str


async def replica_figures(store: Store, spec: ReplicaSpec, page: int = 1000) -> ReplicaFigures:
    """Count the replica's records in ``store``: copies, tombstones, changes seen, mean stored size."""
    copies = tombstones = changes = size = 0
    after: str | None = None
    while True:
        found = await store.list_aggregates(spec.kind, where={}, after=after, limit=page)
        for id, stored in found:
            changes += stored.version
            size += len(stored.data)
            if json.loads(stored.data).get("deleted"):
                tombstones += 1
            else:
                copies += 1
            after = id
        if len(found) < page:
            break
    total = copies + tombstones
    return ReplicaFigures(
        spec.name, spec.event.message_type(), copies, tombstones, changes, spec.fields_read, spec.fields_sent,
        size / total if total else None,
    )  # fmt: skip


def advise_replica(figures: ReplicaFigures) -> ReplicaAdvice:
    """Whether the consumer uses enough of the payload to justify carrying it in every event."""
    share = figures.share_read
    used = f"reads {len(figures.fields_read)} of the {len(figures.fields_sent)} state fields ({share:.0%})"
    if figures.changes == 0:
        return ReplicaAdvice(figures, "keep state transfer", f"no event applied yet; {used}")
    if share < LOW_SHARE:
        unused = sorted(set(figures.fields_sent) - set(figures.fields_read))
        return ReplicaAdvice(
            figures,
            "carry less",
            f"{figures.changes} changes carried {len(figures.fields_sent)} fields each, but this consumer {used}: "
            f"{unused} travel for nothing; a thinner event or a notification with a fetch of what it needs fits better",
        )
    return ReplicaAdvice(
        figures,
        "keep state transfer",
        f"{figures.changes} changes applied locally with no call back; this consumer {used}",
    )
