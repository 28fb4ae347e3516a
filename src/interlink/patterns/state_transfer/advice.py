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
from typing import Any

from interlink.delivery.read_tally import read_count
from interlink.patterns.state_transfer.declarations import ReplicaSpec
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
    #: Reads of the copies through ctx.replica / replicas / get / find / list (None: not measured).
    reads: int | None = None

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
    #: What switching would change; "" when keeping.
    effect: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The advice as JSON: figures not measured are null."""
        f = self.figures
        return {
            "integration": f.replica,
            "kind": "replica",
            "in_use": "state transfer",
            "fits": self.recommendation,
            "switch": self.recommendation != "keep state transfer",
            "figures": {
                "changes": f.changes,
                "reads": f.reads,
                "copies": f.copies,
                "tombstones": f.tombstones,
                "fields_read": f.fields_read,
                "fields_sent": f.fields_sent,
                "mean_copy_bytes": f.mean_copy_bytes,
            },
            "why": self.reason,
            "effect_of_switching": self.effect or None,
        }


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
    reads = await read_count(store, spec.kind)
    return ReplicaFigures(
        spec.name, spec.event.message_type(), copies, tombstones, changes, spec.fields_read, spec.fields_sent,
        size / total if total else None, reads.reads if reads is not None else None,
    )  # fmt: skip


def advise_replica(figures: ReplicaFigures) -> ReplicaAdvice:
    """Whether the consumer uses enough of the payload to justify carrying it in every event."""
    share = figures.share_read
    used = f"reads {len(figures.fields_read)} of the {len(figures.fields_sent)} state fields ({share:.0%})"
    reads = f"{figures.reads} reads" if figures.reads is not None else "reads not measured"
    if figures.changes == 0:
        return ReplicaAdvice(figures, "keep state transfer", f"no event applied yet; {used}")
    if share < LOW_SHARE:
        unused = sorted(set(figures.fields_sent) - set(figures.fields_read))
        return ReplicaAdvice(
            figures,
            "carry less",
            f"{figures.changes} changes carried {len(figures.fields_sent)} fields each ({reads}), but this consumer "
            f"{used}: {unused} travel for nothing; a thinner event or a notification with a fetch of what it "
            "needs fits better",
            f"{len(unused)} of {len(figures.fields_sent)} fields no longer carried in each of {figures.changes} "
            "events (bytes saved not measured: event sizes are not recorded); staleness: none added with a "
            "thinner event, a fetch per change with a notification",
        )
    return ReplicaAdvice(
        figures,
        "keep state transfer",
        f"{figures.changes} changes applied locally with no call back ({reads}); this consumer {used}",
    )
