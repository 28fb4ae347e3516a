"""Pattern 5 as the rest of the framework sees it: its collector and its part in a running domain."""

from __future__ import annotations

from collections.abc import Sequence

from interlink.patterns.pattern import Host, Part, Pattern
from interlink.patterns.state_transfer.declarations import replicas_of
from interlink.patterns.state_transfer.dispatcher import ReplicaDispatcher
from interlink.patterns.state_transfer.spec import replicas
from interlink.specs.model import STATE_TRANSFER

__all__ = ["PATTERN", "Replicas"]


class Replicas(Part):
    """In one domain: the dispatcher that keeps its replicas from the producers' fat events (it runs the
    plain handlers of those events too, after the copy is updated)."""

    def __init__(self, host: Host) -> None:
        domain = host.domain
        self.dispatchers = (ReplicaDispatcher(domain, host.clock),)
        self.absorbs = frozenset(spec.event for spec in replicas_of(domain).values())
        self.kept = tuple(spec.model for spec in replicas_of(domain).values())


def _parts(host: Host) -> Sequence[Part]:
    return [Replicas(host)] if replicas_of(host.domain) else []


PATTERN = Pattern(
    STATE_TRANSFER,
    "Event-Carried State Transfer",
    collectors=(replicas,),
    parts=_parts,
    commands="interlink.patterns.state_transfer.cli:register",
)
