"""Interlink: service domains of a bank, integrated through six patterns with delivery guarantees.

Everything a domain's code imports comes from here; the test kit is :mod:`interlink.testing`
(``Landscape``), the runtime :mod:`interlink.runtime`.
"""

from interlink.core import (
    Aggregate,
    Command,
    CommandRejected,
    Context,
    Domain,
    Event,
    ExternalService,
    Indexed,
    NotificationEvent,
    PrivateEvent,
    PublicEvent,
    Replica,
    Reply,
    SagaState,
    SagaStatus,
    StateTransferEvent,
    Step,
)
from interlink.core.inbound import (
    CsvFormat,
    FileLimits,
    FixedField,
    FixedWidthFormat,
    JsonLinesFormat,
    RejectLimit,
)
from interlink.core.pagination import Page
from interlink.core.retry import RetryPolicy
from interlink.exceptions import BusinessRuleError, InvalidInput, NotFoundError

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
__version__ = "0.1.0"
