"""Pattern 5 in the specification model: the producer's fat events come in, and the consumer keeps the
fields it reads of them (``x-interlink-fields-read``)."""

from __future__ import annotations

from interlink.core.domain import Domain
from interlink.patterns.state_transfer.declarations import replicas_of
from interlink.specs.model import (
    FIELDS_READ,
    STATE_TRANSFER,
    DomainSpec,
    MessageSpec,
    Operation,
    events_channel,
    operation_id,
    summary_of,
)

__all__ = ["replicas"]


def replicas(domain: Domain, spec: DomainSpec) -> None:
    """Every replica receives its event on the producer's events channel, applying only versions newer than
    its copy's."""
    for replica in replicas_of(domain).values():
        event = replica.event
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        message = MessageSpec(event.message_type(), event, STATE_TRANSFER, summary_of(event))
        read = replica.fields_read
        summary = f"keeps the replica {replica.name!r} ({replica.model.__name__}: {', '.join(read)}) from the event"
        extensions = {"x-interlink-replica": replica.name, FIELDS_READ: read}
        spec.operations.append(
            Operation(
                operation_id(domain.name, "replica", replica.name), "receive", address, (message,),
                STATE_TRANSFER, summary, peer=owner, extensions=extensions,
            )
        )  # fmt: skip
