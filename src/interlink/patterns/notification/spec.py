"""Patterns 3 and 4 in the specification model: a thin event in, then a fetch of the resource from the
publisher's API (at once, or at the next read that needs it)."""

from __future__ import annotations

from interlink.core.domain import Domain
from interlink.patterns.notification.declarations import notifications_of
from interlink.specs.model import (
    DEFERRED_UPDATE,
    FETCH,
    STATE_CHANGE_NOTIFICATION,
    DomainSpec,
    MessageSpec,
    Operation,
    events_channel,
    operation_id,
    summary_of,
)

__all__ = ["notifications"]


def notifications(domain: Domain, spec: DomainSpec) -> None:
    """Every ``on_notification`` / ``deferred`` subscription receives its event on the publisher's events
    channel, and names the resource it fetches (``x-interlink-fetch``)."""
    for notification in notifications_of(domain).values():
        event = notification.event_type
        owner = event.owner()
        address = events_channel(owner)
        spec.channel(address, f"The domain events of {owner}.")
        pattern = DEFERRED_UPDATE if notification.deferred else STATE_CHANGE_NOTIFICATION
        message = MessageSpec(event.message_type(), event, pattern, summary_of(event))
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
