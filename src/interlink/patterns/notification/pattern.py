"""Pattern 3 as the rest of the framework sees it: its collector and its part in a running domain."""

from __future__ import annotations

from collections.abc import Sequence

from interlink.patterns.notification.declarations import notifications_of
from interlink.patterns.notification.dispatcher import NotificationDispatcher
from interlink.patterns.notification.spec import notifications
from interlink.patterns.pattern import Host, Part, Pattern
from interlink.specs.model import STATE_CHANGE_NOTIFICATION

__all__ = ["PATTERN", "Notifications"]


class Notifications(Part):
    """In one domain: the dispatcher that captures its notification subscriptions, eager or deferred."""

    def __init__(self, host: Host) -> None:
        domain = host.domain
        self.dispatchers = (NotificationDispatcher(domain, host.clock),)
        self.kept = tuple(s.aggregate for s in notifications_of(domain).values() if s.aggregate is not None)


def _parts(host: Host) -> Sequence[Part]:
    return [Notifications(host)] if notifications_of(host.domain) else []


PATTERN = Pattern(STATE_CHANGE_NOTIFICATION, "State Change Notification", collectors=(notifications,), parts=_parts)
