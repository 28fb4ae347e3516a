"""The domain model and its registry: no I/O here, only what a team declares."""

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock, SystemClock
from interlink.core.context import Context, Role, Session
from interlink.core.domain import Domain
from interlink.core.external import ExternalService, ExternalServices
from interlink.core.messages import Command, Event, Message, NotificationEvent, PrivateEvent, PublicEvent
from interlink.core.state_transfer import Replica, ReplicaSpec, StateTransferEvent

__all__ = [
    "Aggregate",
    "Clock",
    "Command",
    "Context",
    "Domain",
    "Event",
    "ExternalService",
    "ExternalServices",
    "Message",
    "NotificationEvent",
    "PrivateEvent",
    "PublicEvent",
    "Replica",
    "ReplicaSpec",
    "Role",
    "Session",
    "StateTransferEvent",
    "SystemClock",
]
