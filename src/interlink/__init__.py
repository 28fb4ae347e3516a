"""Interlink: service domains of a bank, integrated through six patterns with delivery guarantees."""

from interlink.core import (
    Aggregate,
    Command,
    CommandRejected,
    Context,
    Domain,
    Event,
    PrivateEvent,
    PublicEvent,
    Reply,
    Step,
)

__all__ = [
    "Aggregate",
    "Command",
    "CommandRejected",
    "Context",
    "Domain",
    "Event",
    "PrivateEvent",
    "PublicEvent",
    "Reply",
    "Step",
]
__version__ = "0.1.0"
