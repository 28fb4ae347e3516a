"""What the operations facade hands its clients (CLI, console): read-only views, JSON-ready (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AuditEntry",
    "DeadLetterGroup",
    "DeadLetterView",
    "DomainStatus",
    "FileStatus",
    "Outcome",
    "ReplicaStatus",
    "SagaTimeline",
    "SagaView",
    "TimelineEntry",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeadLetterGroup(_View):
    """Parked letters that failed the same way: same subscription, message type, exception and top frame."""

    fingerprint: str
    subscription: str
    message_type: str
    error_name: str
    top_frame: str | None
    error_class: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    #: The error of the most recent letter of the group.
    sample_error: str
    #: The ids of the group's letters, oldest first.
    letter_ids: list[int]


class DeadLetterView(_View):
    """One parked letter: its envelope (without data), error, traceback, attempts and payload."""

    id: int
    fingerprint: str
    subscription: str
    message_id: str
    message_type: str
    error: str
    error_class: str | None
    attempts: int
    failed_at: datetime
    top_frame: str | None
    traceback: str | None
    #: The CloudEvents attributes (None when the body is no envelope).
    envelope: dict[str, Any] | None
    #: The message's data; None when masked or not JSON.
    payload: dict[str, Any] | None
    #: The raw body, when it is not a CloudEvents envelope (and not masked).
    body: str | None = None
    masked: bool = False

    def mask(self) -> DeadLetterView:
        """This view without the payload (for readers not allowed to see message contents)."""
        return self.model_copy(update={"payload": None, "body": None, "masked": True})


class Outcome(_View):
    """What a replay did to one letter: ``replayed`` (handled now), ``processed`` (its message was handled
    already: only the letter was removed), ``gone`` (no such letter any more), ``failed`` (it failed again
    and stays parked; ``error`` says why)."""

    letter_id: int
    outcome: Literal["replayed", "processed", "gone", "failed"]
    error: str | None = None


class SagaView(_View):
    """One saga in a list: where it is and how old it is."""

    id: str
    name: str
    status: str
    #: The step it is at, counted from 1, of ``steps`` (None when the domain no longer declares the saga).
    step: int
    steps: int | None
    started_at: datetime
    deadline: datetime
    age_seconds: float
    awaiting: str | None
    reason: str | None


class TimelineEntry(_View):
    """One line of a saga's timeline; ``kind`` is step, reply, compensation, timeout, operator or other."""

    at: datetime
    step: int
    kind: str
    what: str
    detail: str | None = None


class SagaTimeline(_View):
    """One saga in full: its view, its data, its declared steps and what happened, oldest first."""

    saga: SagaView
    data: dict[str, Any]
    #: The declared steps: command type, target domain, compensating command type (None when there is none).
    steps: list[dict[str, str | None]]
    entries: list[TimelineEntry]
    #: The request it waits for (command type, target, deadline), when one is outstanding.
    outstanding: dict[str, Any] | None


class AuditEntry(_View):
    """One operator action: who, when, what, to which target, why, and the state before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str
    before: Any
    after: Any


class ReplicaStatus(_View):
    """One replica the domain keeps, how many copies it holds, and the type of the fat event feeding it (its
    lag is the feed's messages not applied yet: see :func:`interlink.operations.flows.replica_lag`)."""

    name: str
    copies: int
    feed: str | None = None


class FileStatus(_View):
    """One inbound file still being ingested (or failed): how far it got."""

    file_id: str
    source: str
    name: str
    state: str
    #: Records whose outcome is committed (the checkpoint), of which accepted and rejected.
    records: int
    accepted: int
    rejected: int
    claimed_at: datetime
    #: The file's size in bytes, and the worker holding it.
    size: int | None = None
    owner: str | None = None


class DomainStatus(_View):
    """The health of one domain as an operator sees it."""

    domain: str
    outbox_pending: int
    #: Age in seconds of the oldest outbox row not yet published (None: the outbox is empty).
    outbox_oldest_age: float | None
    dead_letters: int
    dead_letter_groups: int
    #: Resources flagged by deferred updates and not fetched yet, summed over the domain's deferred subscriptions.
    pending_deferred: int
    replicas: list[ReplicaStatus]
    files_in_progress: list[FileStatus]
    sagas_running: int
    sagas_failed: int
    #: Messages waiting at the broker for the domain's subscription (None: no broker given, or it cannot tell).
    consumer_lag: int | None
