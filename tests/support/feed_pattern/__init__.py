"""A made-up seventh pattern, "Audit Feed", built the way the six are: one package and one Pattern object.

A domain declares ``feed(domain, Event)``: every such event published by another domain is kept as a
:class:`FeedEntry` in the declaring domain's store, in the transaction of the message's inbox mark. A
background part counts its rounds (and ``tick()``s). Its collector puts the subscription in the documents, so
the landscape draws the arrow. Nothing outside this package names it: a test appends :data:`PATTERN` to the
registration list, and the runtime, the specifications and the test kit pick it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from interlink.core.aggregate import Aggregate
from interlink.core.domain import Domain
from interlink.core.messages import Event
from interlink.delivery.dispatch import Dispatcher, read_event
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import UnknownMessageType
from interlink.patterns.pattern import Host, Part, Pattern
from interlink.ports.envelope import Envelope
from interlink.specs.model import DomainSpec, MessageSpec, Operation, events_channel, operation_id, summary_of

__all__ = ["NAME", "PATTERN", "FeedEntry", "feed"]

#: The pattern's name in the documents (``x-interlink-pattern``).
NAME = "audit-feed"


@dataclass(frozen=True)
class FeedSpec:
    """One declared feed: the event kept."""

    event: type[Event]


class FeedEntry(Aggregate):
    """An event kept by the feed: its CloudEvents type and the id of the message that carried it."""

    type: str
    message_id: str
    #: How many times the message reached the dispatcher: 1, as the inbox drops redeliveries.
    deliveries: int = 1


def feed(domain: Domain, event: type[Event]) -> FeedSpec:
    """Declare that ``domain`` keeps every ``event`` in its feed (the pattern's one verb)."""
    spec = FeedSpec(event)
    domain.declarations.setdefault(NAME, []).append(spec)
    return spec


def _feeds(domain: Domain) -> list[FeedSpec]:
    return list(domain.declarations.get(NAME, []))


class FeedDispatcher(Dispatcher):
    """Keeps each fed event as a FeedEntry, through the message's unit of work."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self._routes = {spec.event.message_type(): spec for spec in _feeds(domain)}

    def types(self) -> dict[str, str]:
        return {t: events_channel(spec.event.owner()) for t, spec in self._routes.items()}

    async def dispatch(self, envelope: Envelope, uow: UnitOfWork) -> None:
        spec = self._routes.get(envelope.type)
        if spec is None:
            raise UnknownMessageType(f"{self.domain.name!r} feeds no {envelope.type!r}")
        read_event(self.domain, envelope, spec.event)  # a payload that does not fit is refused, as elsewhere
        entry = await uow.load(FeedEntry, envelope.id)
        if entry is None:
            entry = FeedEntry(id=envelope.id, type=envelope.type, message_id=envelope.id, deliveries=0)
        entry.deliveries += 1
        uow.stage_save(entry)


class Feed(Part):
    """The feed's part of a running domain: its dispatcher, and a background round counter."""

    needs = "the audit feed"

    def __init__(self, host: Host) -> None:
        self.dispatchers = (FeedDispatcher(host.domain),)
        self.readied = self.started = self.stopped = self.flushed = self.ticks = 0

    async def ready(self) -> None:
        self.readied += 1

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    async def flush(self) -> None:
        self.flushed += 1

    async def tick(self) -> int:
        self.ticks += 1
        return 0


def _parts(host: Host) -> Sequence[Part]:
    return [Feed(host)] if _feeds(host.domain) else []


def feeds(domain: Domain, spec: DomainSpec) -> None:
    """Every feed receives its event on the producer's events channel."""
    for declared in _feeds(domain):
        event = declared.event
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        message = MessageSpec(event.message_type(), event, NAME, summary_of(event))
        spec.operations.append(
            Operation(
                operation_id(domain.name, "feed", event.__name__), "receive", address, (message,), NAME,
                "keeps the event in the audit feed", peer=owner,
            )
        )  # fmt: skip


PATTERN = Pattern(NAME, "Audit Feed", collectors=(feeds,), parts=_parts)
