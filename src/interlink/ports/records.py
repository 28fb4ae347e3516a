"""The records a store keeps and a unit of work hands it: plain data, no behaviour beyond checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

from interlink.exceptions import ConcurrencyError
from interlink.ports.broker import OutgoingMessage

__all__ = [
    "HELD",
    "RELEASED",
    "AggregateWrite",
    "AuditRecord",
    "ChangeSet",
    "DeadLetter",
    "DueRecord",
    "FileProgress",
    "IdempotencyRecord",
    "InboundFile",
    "InboxMark",
    "OutboxRow",
    "OutboxStatus",
    "StoredAggregate",
    "merge_writes",
]

# Versions 7 and 10 are unused; a store runs only the migrations this release has (migrations.py).
SCHEMA_VERSION = 12

#: The error class of a letter parked behind an earlier letter of its ordering key (order-preserving dead
#: letters, docs/resilience.md): it was never handled, and waits for the letters before it to go.
HELD = "held"
#: The error class of a held letter whose turn has come (the letters before it were replayed or discarded):
#: the runtime hands it to its handlers, in order, then the next one.
RELEASED = "released"


@dataclass(frozen=True)
class StoredAggregate:
    """An aggregate's JSON document and version as stored."""

    data: str
    version: int


class AggregateWrite(NamedTuple):
    """Write (or, with ``data`` None, delete) an aggregate if it is still at ``expected_version``.

    ``due_at`` (epoch seconds) is when a framework record falls due (an outstanding request's deadline):
    :meth:`~interlink.ports.store.Store.due` finds it by that time through an index. None: never due.
    """

    # A named tuple, immutable as the frozen dataclasses here: one is built per aggregate saved, and a frozen
    # dataclass takes ~0.7 us to build (a ``object.__setattr__`` per field) where a named tuple takes ~0.2.

    kind: str
    id: str
    expected_version: int
    new_version: int
    data: str | None
    due_at: float | None = None


@dataclass(frozen=True)
class DueRecord:
    """A record whose due time has passed, as :meth:`~interlink.ports.store.Store.due` finds it."""

    id: str
    due_at: float
    record: StoredAggregate


@dataclass(frozen=True)
class InboxMark:
    """This subscription has processed this message; its effects commit with the mark."""

    subscription: str
    message_id: str


@dataclass(frozen=True)
class DeadLetter:
    """A message parked after it failed, with the reason; it can be listed and replayed.

    ``error_class`` says why it was parked: ``transient`` (an outage outlasted the retry budget: the
    runtime redrives it once the cause is gone), ``permanent`` (it can never succeed as it is) or
    ``poison`` (its handler kept failing). None for letters parked before schema version 5.
    ``attempts`` counts the failures of that class. ``traceback`` (the formatted traceback of the last
    failure) and ``top_frame`` (``file:function`` where it was raised) since schema version 10; None before,
    and for letters parked without an exception (a message the broker refused).

    ``ordering_key`` (since schema version 11) is set on the letters of a subscription with order-preserving
    dead letters: the letters of one key form a queue by ``id``, whose first letter blocks the others
    (``held``, then ``released`` when their turn comes).
    """

    subscription: str
    message_id: str
    message_type: str
    body: bytes
    error: str
    attempts: int
    failed_at: datetime
    id: int | None = None
    error_class: str | None = None
    ordering_key: str | None = None
    traceback: str | None = None
    top_frame: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One operator action, as the append-only audit log keeps it (since schema version 10).

    ``action`` names what was done (``dead_letter.replay``, ``saga.abandon``, ...), ``target`` what it was done
    to; ``before`` and ``after`` are JSON documents of the state the action changed (None when there is none).
    """

    actor: str
    action: str
    target: str
    reason: str
    at: datetime
    before: str | None = None
    after: str | None = None
    id: int | None = None


@dataclass
class ChangeSet:
    """Everything one command or one message's handling changes, committed atomically."""

    writes: list[AggregateWrite] = field(default_factory=list)
    outbox: list[OutgoingMessage] = field(default_factory=list)
    inbox: list[InboxMark] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    resolved_dead_letters: list[int] = field(default_factory=list)
    #: Outbox rows the broker confirmed, removed in the same transaction as the rest.
    outbox_sent: list[int] = field(default_factory=list)
    #: The HTTP response of a command run under an Idempotency-Key, stored with its effects.
    idempotency: IdempotencyRecord | None = None
    #: How far an inbound file got, committed with the effects of the records it covers.
    file_progress: FileProgress | None = None
    #: Operator actions recorded in the append-only audit log with the change they made.
    audit: list[AuditRecord] = field(default_factory=list)
    #: Change sets of the same batch whose staged (uncommitted) state this one read. If one of them fails
    #: to commit, this one must not commit either: it decided on state that never existed.
    depends_on: list[ChangeSet] = field(default_factory=list, repr=False, compare=False)
    #: Set by the committer when this change set could not be committed.
    failed: bool = field(default=False, repr=False, compare=False)
    #: Run by the committer once this change set committed (metrics that must count only what committed).
    after_commit: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(
            self.writes
            or self.outbox
            or self.inbox
            or self.dead_letters
            or self.resolved_dead_letters
            or self.outbox_sent
            or self.idempotency
            or self.file_progress
            or self.audit
        )


@dataclass(frozen=True)
class OutboxRow:
    """A message waiting in the outbox; ``seq`` orders them."""

    seq: int
    message: OutgoingMessage


@dataclass(frozen=True)
class OutboxStatus:
    """How far the relay is behind."""

    pending: int
    oldest_pending: datetime | None


def merge_writes(changes: Sequence[ChangeSet]) -> list[AggregateWrite]:
    """Fold successive writes of one aggregate into one, checking that each continues the previous.

    A create followed by a delete folds into nothing. A delete followed by a re-create is refused as a
    conflict: the committer then commits the two change sets one at a time, which works.
    """
    merged: dict[tuple[str, str], AggregateWrite] = {}
    for change in changes:
        for w in change.writes:
            key = (w.kind, w.id)
            prior = merged.get(key)
            if prior is None:
                merged[key] = w
                continue
            if prior.data is None or prior.new_version != w.expected_version:
                raise ConcurrencyError(
                    f"{w.kind} {w.id!r}: a write expects version {w.expected_version} but the one "
                    f"before it in this commit leaves "
                    + ("it deleted" if prior.data is None else f"version {prior.new_version}")
                )
            if prior.expected_version == 0 and w.data is None:
                del merged[key]  # created and deleted within one commit: nothing to write
            else:
                merged[key] = AggregateWrite(w.kind, w.id, prior.expected_version, w.new_version, w.data, w.due_at)
    return list(merged.values())


@dataclass(frozen=True)
class IdempotencyRecord:
    """A command request made under an ``Idempotency-Key``: claimed while it runs, then its response.

    ``fingerprint`` identifies the request (method, path, body): the same key with another fingerprint
    is a client error, not a retry.
    """

    key: str
    fingerprint: str
    state: Literal["pending", "done"]
    created_at: float
    status: int | None = None
    response: str | None = None


@dataclass(frozen=True)
class InboundFile:
    """An inbound file claimed by one worker (``owner``) until ``lease_until``, and how far it got.

    ``checkpoint`` is the number of the last record whose outcome (accepted or rejected) is committed;
    ``rejects_bytes`` the length of its rejects file at that point. A ``forced`` claim may repeat content
    ingested before; otherwise a source holds one claim per ``sha256``.
    """

    file_id: str
    source: str
    name: str
    sha256: str
    size: int
    owner: str
    forced: bool = False
    state: Literal["processing", "archived", "failed"] = "processing"
    checkpoint: int = 0
    accepted: int = 0
    rejected: int = 0
    rejects_bytes: int = 0
    lease_until: float = 0.0
    claimed_at: float = 0.0
    #: The result report (JSON) of a finished file.
    report: str | None = None


@dataclass(frozen=True)
class FileProgress:
    """Move an inbound file's checkpoint from ``after`` to ``checkpoint``, if ``owner`` still holds it there.

    Committed in the transaction of the records it covers, so a record's effects and the checkpoint past
    it exist together or not at all. A ``state`` other than processing finishes the file with ``report``.
    """

    file_id: str
    owner: str
    after: int
    checkpoint: int
    accepted: int
    rejected: int
    rejects_bytes: int
    lease_until: float
    state: Literal["processing", "archived", "failed"] = "processing"
    report: str | None = None
