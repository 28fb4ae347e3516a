"""Interlink: service domains of a bank, integrated through six patterns with delivery guarantees."""

from interlink.core import (
    Aggregate,
    Command,
    Context,
    Domain,
    Event,
    NotificationEvent,
    PrivateEvent,
    PublicEvent,
    Replica,
    StateTransferEvent,
)

__all__ = [
    "Aggregate",
    "Command",
    "Context",
    "Domain",
    "Event",
    "NotificationEvent",
    "PrivateEvent",
    "PublicEvent",
    "Replica",
    "StateTransferEvent",
]
__version__ = "0.1.0"
