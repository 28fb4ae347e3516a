"""From a domain's declarations to the neutral specification model.

Each kind of declaration has one collector: a function that reads the registry of a
:class:`~interlink.core.domain.Domain` and adds channels, operations, links or routes to its
:class:`~interlink.specs.model.DomainSpec`. A new kind of declaration is one more function appended to
:data:`COLLECTORS`.
"""

from __future__ import annotations

from collections.abc import Callable

from interlink.core.declarations import CommandSpec, QuerySpec
from interlink.core.domain import Domain
from interlink.core.inbound import FileIngested
from interlink.core.messages import Event, NotificationEvent
from interlink.specs.model import (
    API_EXPOSURE,
    COMMAND_EVENT,
    DEFERRED_UPDATE,
    INBOUND_FILE,
    STATE_CHANGE_NOTIFICATION,
    STATE_TRANSFER,
    DomainSpec,
    Link,
    MessageSpec,
    Operation,
    Reply,
)

__all__ = ["COLLECTORS", "Collector", "collect", "events_channel", "replies_channel"]

Collector = Callable[[Domain, DomainSpec], None]


def events_channel(owner: str) -> str:
    """Where a domain's events travel."""
    return f"{owner}.events"


def commands_channel(target: str) -> str:
    """Where the command events directed to a domain travel."""
    return f"{target}.commands"


def replies_channel(issuer: str) -> str:
    """Where the confirmations of a domain's command events come back."""
    return f"{issuer}.replies"


def _summary(cls: type) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def _emitted_pattern(event: type[Event]) -> str | None:
    if issubclass(event, FileIngested):
        return INBOUND_FILE
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
        spec.operations.append(Operation(f"emit{name}", "send", address, (message,), pattern, _summary(event)))


def _subscribed_pattern(domain: Domain, owner: str) -> str | None:
    if owner == domain.name:
        return None
    # A subscriber that reads the publisher's API back is notified; one that does not takes the state
    # from the event itself.
    return STATE_CHANGE_NOTIFICATION if owner in domain.external_services else STATE_TRANSFER


def event_handlers(domain: Domain, spec: DomainSpec) -> None:
    """Every ``@domain.on`` handler subscribes to its event's owner's events channel."""
    for handler in domain.handlers:
        event = handler.event_type
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        pattern = _subscribed_pattern(domain, owner)
        message = MessageSpec(event.message_type(), event, pattern, _summary(event))
        summary = (handler.func.__doc__ or "").strip().split("\n")[0]
        peer = owner if owner != domain.name else None
        spec.operations.append(
            Operation(f"on_{handler.name}", "receive", address, (message,), pattern, summary, peer=peer)
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
        spec.operations.append(
            Operation(f"on_{event.__name__}", "receive", address, (message,), pattern, f"{what}, {fetch}", peer=owner)
        )


def command_messages(domain: Domain, spec: DomainSpec) -> None:
    """Every command event the domain accepts arrives on its commands channel; the confirmation goes back to
    the issuer's replies channel, named by the envelope's ``replyto``."""
    if not domain.command_messages:
        return
    address = commands_channel(domain.name)
    spec.channel(address, f"The command events directed to {domain.name}.")
    reply_to = replies_channel("{issuer}")
    spec.channel(
        reply_to,
        "The confirmations of command events go back to the issuing domain's replies channel, "
        "`<issuer>.replies`, named by the command's `replyto` attribute.",
    )
    for name, command in domain.command_messages.items():
        message = MessageSpec(f"{domain.name}.{name}", command, COMMAND_EVENT, _summary(command), command=True)
        spec.operations.append(
            Operation(
                f"accept{name}", "receive", address, (message,), COMMAND_EVENT, _summary(command), reply=Reply(reply_to)
            )
        )


def dead_letters(domain: Domain, spec: DomainSpec) -> None:
    """A domain that receives messages parks those it cannot handle, after its retries, as dead letters."""
    if spec.received():
        spec.channel(
            f"{domain.name}.dead-letters",
            f"Messages {domain.name} could not handle after its retries, kept with the error in the domain's "
            "store until they are replayed (`interlink dead-letters`).",
            dead_letter=True,
        )


def http_api(domain: Domain, spec: DomainSpec) -> None:
    """Commands and queries served over HTTP (API exposure); the OpenAPI document describes them."""
    declared: list[CommandSpec | QuerySpec] = [*domain.commands.values(), *domain.queries.values()]
    spec.routes.extend(d.http for d in declared if d.http)


def external_services(domain: Domain, spec: DomainSpec) -> None:
    """Every external service is a call to another domain's (or system's) API."""
    for service in domain.external_services.values():
        spec.links.append(Link(domain.name, service.name, API_EXPOSURE, f"GET {service.resource}"))


def inbound_files(domain: Domain, spec: DomainSpec) -> None:
    """Every inbound file source delivers files from outside the landscape."""
    for source in domain.inbound_files.values():
        label = f"{source.pattern} ({source.format.kind})"
        spec.links.append(Link(f"files:{domain.name}:{source.name}", domain.name, INBOUND_FILE, label, source.name))


#: Run in order; ``dead_letters`` comes after everything that receives.
COLLECTORS: list[Collector] = [
    emitted_events,
    event_handlers,
    notifications,
    command_messages,
    http_api,
    external_services,
    inbound_files,
    dead_letters,
]


def collect(domain: Domain) -> DomainSpec:
    """The specification model of one domain."""
    spec = DomainSpec(domain.name, domain.description)
    for collector in COLLECTORS:
        collector(domain, spec)
    return spec
