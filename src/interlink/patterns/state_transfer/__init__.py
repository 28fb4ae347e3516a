"""Pattern 5, Event-Carried State Transfer: a producer's fat events keep a consumer's local copy.

The producer declares a :class:`~.declarations.StateTransferEvent`; the consumer declares
``domain.replica(Event, model=...)`` and reads with ``ctx.replica`` (:mod:`.verbs`).
:class:`ReplicaDispatcher` applies each event by version (:mod:`.apply`); :class:`ReplicaRebuild` fills a
new or damaged replica from the producer's API while live events keep flowing (:mod:`.rebuild`).
"""

from interlink.patterns.state_transfer.advice import ReplicaAdvice, ReplicaFigures, advise_replica, replica_figures
from interlink.patterns.state_transfer.apply import apply_state
from interlink.patterns.state_transfer.dispatcher import ReplicaDispatcher
from interlink.patterns.state_transfer.rebuild import RebuildReport, ReplicaRebuild

__all__ = [
    "RebuildReport",
    "ReplicaAdvice",
    "ReplicaDispatcher",
    "ReplicaFigures",
    "ReplicaRebuild",
    "advise_replica",
    "apply_state",
    "replica_figures",
]
