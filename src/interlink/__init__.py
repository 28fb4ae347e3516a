"""Interlink: service domains of a bank, integrated through six patterns with delivery guarantees."""

from interlink.core import (
    Aggregate,
    Command,
    CommandRejected,
    Context,
    Domain,
    Event,
    Indexed,
    NotificationEvent,
    PrivateEvent,
    PublicEvent,
    Replica,
    Reply,
    StateTransferEvent,
    Step,
)

__all__ = [
    "Aggregate",
    "Command",
    "CommandRejected",
    "Context",
    "Domain",
    "Event",
    "Indexed",
    "NotificationEvent",
    "PrivateEvent",
    "PublicEvent",
    "Replica",
    "Reply",
    "StateTransferEvent",
    "Step",
]
__version__ = "0.1.0"
