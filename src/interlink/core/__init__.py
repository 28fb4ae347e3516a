"""What every pattern shares: the domain model and its registry, with no I/O and no pattern in it."""

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock, SystemClock
from interlink.core.context import Context, Role, Session
from interlink.core.domain import Domain
from interlink.core.external import ExternalService, ExternalServices
from interlink.core.indexed import Indexed
from interlink.core.messages import Command, Event, Message, NotificationEvent, PrivateEvent, PublicEvent

__all__ = [
    "Aggregate",
    "Clock",
    "Command",
    "Context",
    "Domain",
    "Event",
    "ExternalService",
    "ExternalServices",
    "Indexed",
    "Message",
    "NotificationEvent",
    "PrivateEvent",
    "PublicEvent",
    "Role",
    "Session",
    "SystemClock",
]
