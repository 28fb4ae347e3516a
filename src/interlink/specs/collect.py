"""From a domain's declarations to the neutral specification model.

Two collectors belong to no pattern: the events a domain emits and its plain ``@domain.on`` handlers. Every
other one comes from a pattern (:attr:`interlink.patterns.pattern.Pattern.collectors`): a function that
reads a domain's declarations and adds channels, operations, links or routes to its
:class:`~interlink.specs.model.DomainSpec`. A new pattern brings its collectors with it.
"""

from __future__ import annotations

from collections.abc import Callable

from interlink.core.domain import Domain
from interlink.core.messages import Event
from interlink.specs.model import (
    STATE_CHANGE_NOTIFICATION,
    DomainSpec,
    MessageSpec,
    Operation,
    events_channel,
    operation_id,
    summary_of,
)

__all__ = ["COLLECTORS", "Collector", "collect", "collectors", "events_channel"]

Collector = Callable[[Domain, DomainSpec], None]


def _emitted_pattern(event: type[Event]) -> str | None:
    # A public event tells the others something changed; what they do with it is theirs to declare.
    return event.__pattern__ or (STATE_CHANGE_NOTIFICATION if event.public else None)


def emitted_events(domain: Domain, spec: DomainSpec) -> None:
    """Every event the domain declares is published on its events channel."""
    if not domain.events:
        return
    address = events_channel(domain.name)
    spec.channel(address, f"The domain events of {domain.name}, public and private.")
    for name, event in domain.events.items():
        pattern = _emitted_pattern(event)
        message = MessageSpec(event.message_type(), event, pattern, summary_of(event))
        spec.operations.append(
            Operation(operation_id(domain.name, "emit", name), "send", address, (message,), pattern, summary_of(event))
        )


def _subscribed_pattern(domain: Domain, event: type[Event]) -> str | None:
    # A plain ``@domain.on`` handler is a subscription to an event: it runs some code of the subscriber with
    # the event's data, and nothing in the declaration says what that code does with it (reads the publisher
    # back, keeps the carried state, starts a process of its own...). So it is drawn as an event, under the
    # pattern its publisher declared only when the event's class declares one (a state transfer or a
    # notification event). The patterns' own declarations say the rest (``on_notification``, ``deferred``,
    # ``replica``...). Guessing from the subscriber's external services mislabelled every handler of a
    # domain that also reads someone's API.
    return None if event.owner() == domain.name else event.__subscribed_pattern__


def event_handlers(domain: Domain, spec: DomainSpec) -> None:
    """Every ``@domain.on`` handler subscribes to its event's owner's events channel."""
    for handler in domain.handlers:
        event = handler.event_type
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        pattern = _subscribed_pattern(domain, event)
        message = MessageSpec(event.message_type(), event, pattern, summary_of(event))
        summary = (handler.func.__doc__ or "").strip().split("\n")[0]
        peer = owner if owner != domain.name else None
        spec.operations.append(
            Operation(
                operation_id(domain.name, "on", handler.name),
                "receive",
                address,
                (message,),
                pattern,
                summary,
                peer=peer,
            )
        )


#: The collectors of no pattern, run first; extra ones may be appended (tests, extensions).
COLLECTORS: list[Collector] = [emitted_events, event_handlers]


def collectors() -> list[Collector]:
    """Every collector, in order: the ones of no pattern, then each pattern's, in the registration order."""
    # The registration list imports every pattern, and some build on the documents this module feeds.
    from interlink.patterns.registry import PATTERNS

    return [*COLLECTORS, *(c for pattern in PATTERNS for c in pattern.collectors)]


def collect(domain: Domain) -> DomainSpec:
    """The specification model of one domain."""
    spec = DomainSpec(domain.name, domain.description, domain.version, domain.contact, domain.license)
    for collector in collectors():
        collector(domain, spec)
    return spec
