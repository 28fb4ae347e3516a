"""From a domain's declarations to the neutral specification model.

Each kind of declaration has one collector: a function that reads the registry of a
:class:`~interlink.core.domain.Domain` and adds channels, operations, links or routes to its
:class:`~interlink.specs.model.DomainSpec`. A new kind of declaration is one more function appended to
:data:`COLLECTORS`.
"""

from __future__ import annotations

from collections.abc import Callable

from interlink.core.command_events import replies_channel
from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain
from interlink.core.inbound import FileIngested
from interlink.core.messages import Event, NotificationEvent
from interlink.core.state_transfer import StateTransferEvent
from interlink.specs.command_events import command_messages, commands_channel, reply_handlers, sagas
from interlink.specs.model import (
    API_EXPOSURE,
    DEFERRED_UPDATE,
    INBOUND_FILE,
    STATE_CHANGE_NOTIFICATION,
    STATE_TRANSFER,
    DomainSpec,
    Link,
    MessageSpec,
    Operation,
    operation_id,
)

__all__ = [
    "COLLECTORS",
    "FETCH",
    "FIELDS_READ",
    "Collector",
    "collect",
    "commands_channel",
    "events_channel",
    "replies_channel",
]

#: The extension of a replica's operation listing the fields of the producer's event it keeps.
FIELDS_READ = "x-interlink-fields-read"
#: The extension of a notification's operation naming the resource it fetches from the producer's API.
FETCH = "x-interlink-fetch"

Collector = Callable[[Domain, DomainSpec], None]


def events_channel(owner: str) -> str:
    """Where a domain's events travel."""
    return f"{owner}.events"


def _summary(cls: type) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def _emitted_pattern(event: type[Event]) -> str | None:
    if issubclass(event, FileIngested):
        return INBOUND_FILE
    if issubclass(event, StateTransferEvent):
        return STATE_TRANSFER
    if issubclass(event, NotificationEvent):
        return STATE_CHANGE_NOTIFICATION
    # A public event tells the others something changed; what they do with it is theirs to declare.
    return STATE_CHANGE_NOTIFICATION if event.public else None


def emitted_events(domain: Domain, spec: DomainSpec) -> None:
    """Every event the domain declares is published on its events channel."""
    if not domain.events:
        return
    address = events_channel(domain.name)
    spec.channel(address, f"The domain events of {domain.name}, public and private.")
    for name, event in domain.events.items():
        pattern = _emitted_pattern(event)
        message = MessageSpec(event.message_type(), event, pattern, _summary(event))
        spec.operations.append(
            Operation(operation_id(domain.name, "emit", name), "send", address, (message,), pattern, _summary(event))
        )


def _subscribed_pattern(domain: Domain, event: type[Event]) -> str | None:
    # A plain ``@domain.on`` handler is a subscription to an event: it runs some code of the subscriber with
    # the event's data, and nothing in the declaration says what that code does with it (reads the publisher
    # back, keeps the carried state, starts a process of its own...). So it is drawn as an event, under the
    # pattern its publisher declared only when the event's class declares one (a state transfer or a
    # notification event). The declared forms say the rest: ``on_notification`` / ``deferred`` (see
    # :func:`notifications`) and ``replica`` (see :func:`replicas`). Guessing from the subscriber's external
    # services mislabelled every handler of a domain that also reads someone's API.
    if event.owner() == domain.name or not issubclass(event, (StateTransferEvent, NotificationEvent)):
        return None
    return _emitted_pattern(event)


def event_handlers(domain: Domain, spec: DomainSpec) -> None:
    """Every ``@domain.on`` handler subscribes to its event's owner's events channel."""
    for handler in domain.handlers:
        event = handler.event_type
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        pattern = _subscribed_pattern(domain, event)
        message = MessageSpec(event.message_type(), event, pattern, _summary(event))
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


def notifications(domain: Domain, spec: DomainSpec) -> None:
    """Every ``on_notification`` / ``deferred`` subscription: a thin event in, then a fetch of the resource
    from the publisher's API (at once, or at the next read that needs it)."""
    for notification in domain.notifications.values():
        event = notification.event_type
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        pattern = DEFERRED_UPDATE if notification.deferred else STATE_CHANGE_NOTIFICATION
        message = MessageSpec(event.message_type(), event, pattern, _summary(event))
        fetch = f"then GET {notification.fetch.resource} through {notification.fetch.name!r}"
        what = "flags the resource as pending" if notification.deferred else "fetches the resource at once"
        reads = {FETCH: {"service": notification.fetch.name, "resource": notification.fetch.resource}}
        spec.operations.append(
            Operation(
                operation_id(domain.name, "on", event.__name__), "receive", address, (message,), pattern,
                f"{what}, {fetch}", peer=owner,
                extensions=reads,
            )
        )  # fmt: skip


def replicas(domain: Domain, spec: DomainSpec) -> None:
    """Every replica: the producer's fat events come in, and the domain keeps the fields it reads of them
    (``x-interlink-fields-read``), applying only versions newer than its copy's."""
    for replica in domain.replicas.values():
        event = replica.event
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        message = MessageSpec(event.message_type(), event, STATE_TRANSFER, _summary(event))
        read = replica.fields_read
        summary = f"keeps the replica {replica.name!r} ({replica.model.__name__}: {', '.join(read)}) from the event"
        extensions = {"x-interlink-replica": replica.name, FIELDS_READ: read}
        spec.operations.append(
            Operation(
                operation_id(domain.name, "replica", replica.name), "receive", address, (message,),
                STATE_TRANSFER, summary, peer=owner, extensions=extensions,
            )
        )  # fmt: skip


def http_api(domain: Domain, spec: DomainSpec) -> None:
    """Commands and queries served over HTTP (API exposure); the OpenAPI document describes them."""
    declared: list[CommandSpec | QuerySpec] = [*domain.commands.values(), *domain.queries.values()]
    spec.routes.extend(d.http for d in declared if d.http)


def external_services(domain: Domain, spec: DomainSpec) -> None:
    """Every external service is a call to another domain's (or system's) API. One that a notification
    fetches from, or a replica is rebuilt from, is the API of that event's producer, whatever its name."""
    producers = {n.fetch.name: n.event_type.owner() for n in domain.notifications.values()}
    producers |= {r.source.name: r.event.owner() for r in domain.replicas.values() if r.source is not None}
    for service in domain.external_services.values():
        provider = producers.get(service.name, service.name)
        spec.links.append(Link(domain.name, provider, API_EXPOSURE, f"GET {service.resource}"))


def inbound_files(domain: Domain, spec: DomainSpec) -> None:
    """Every inbound file source delivers files from outside the landscape."""
    for source in domain.inbound_files.values():
        label = f"{source.pattern} ({source.format.kind})"
        spec.links.append(Link(f"files:{domain.name}:{source.name}", domain.name, INBOUND_FILE, label, source.name))


#: Run in order.
COLLECTORS: list[Collector] = [
    emitted_events,
    event_handlers,
    notifications,
    replicas,
    command_messages,
    reply_handlers,
    sagas,
    http_api,
    external_services,
    inbound_files,
]


def collect(domain: Domain) -> DomainSpec:
    """The specification model of one domain."""
    spec = DomainSpec(domain.name, domain.description, domain.version, domain.contact, domain.license)
    for collector in COLLECTORS:
        collector(domain, spec)
    return spec
