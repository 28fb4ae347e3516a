"""Interlink: service domains of a bank, integrated through six patterns with delivery guarantees.

Everything a domain's code imports comes from here; the test kit is :mod:`interlink.testing`
(``Landscape``), the runtime :mod:`interlink.runtime`.
"""

from interlink.core import (
    Aggregate,
    Command,
    Event,
    ExternalService,
    Indexed,
    NotificationEvent,
    PrivateEvent,
    PublicEvent,
)
from interlink.core.pagination import Page
from interlink.core.retry import RetryPolicy
from interlink.exceptions import BusinessRuleError, InvalidInput, NotFoundError
from interlink.patterns.command_events.declarations import CommandRejected, Reply
from interlink.patterns.command_events.sagas import SagaState, SagaStatus, Step
from interlink.patterns.inbound_file.declarations import (
    CsvFormat,
    FileLimits,
    FixedField,
    FixedWidthFormat,
    JsonLinesFormat,
    RejectLimit,
)
from interlink.patterns.registry import Context, Domain
from interlink.patterns.state_transfer.declarations import Replica, StateTransferEvent
from interlink.version import __version__ as __version__

__all__ = [
    "Aggregate",
    "BusinessRuleError",
    "Command",
    "CommandRejected",
    "Context",
    "CsvFormat",
    "Domain",
    "Event",
    "ExternalService",
    "FileLimits",
    "FixedField",
    "FixedWidthFormat",
    "Indexed",
    "InvalidInput",
    "JsonLinesFormat",
    "NotFoundError",
    "NotificationEvent",
    "Page",
    "PrivateEvent",
    "PublicEvent",
    "RejectLimit",
    "Replica",
    "Reply",
    "RetryPolicy",
    "SagaState",
    "SagaStatus",
    "StateTransferEvent",
    "Step",
]
