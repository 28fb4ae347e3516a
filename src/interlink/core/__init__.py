"""The domain model and its registry: no I/O here, only what a team declares."""

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock, SystemClock
from interlink.core.command_events import CommandRejected, Outcome, Reply
from interlink.core.context import Context, Role, Session
from interlink.core.domain import Domain
from interlink.core.external import ExternalService, ExternalServices
from interlink.core.indexed import Indexed
from interlink.core.messages import Command, Event, Message, NotificationEvent, PrivateEvent, PublicEvent
from interlink.core.sagas import Saga, SagaState, SagaStatus, Step
from interlink.core.state_transfer import Replica, ReplicaSpec, StateTransferEvent

__all__ = [
    "Aggregate",
    "Clock",
    "Command",
    "CommandRejected",
    "Context",
    "Domain",
    "Event",
    "ExternalService",
    "ExternalServices",
    "Indexed",
    "Message",
    "NotificationEvent",
    "Outcome",
    "PrivateEvent",
    "PublicEvent",
    "Replica",
    "ReplicaSpec",
    "Reply",
    "Role",
    "Saga",
    "SagaState",
    "SagaStatus",
    "Session",
    "StateTransferEvent",
    "Step",
    "SystemClock",
]
