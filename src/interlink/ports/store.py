"""The store port: aggregates, outbox, inbox and dead letters of one domain, committed together.

A unit of work reads through :meth:`Store.load` and :meth:`Store.seen`, stages every change in memory,
then hands one or more :class:`ChangeSet` to :meth:`Store.commit`, which applies them in one database
transaction: aggregate writes (checked against their expected version), outbox rows, inbox marks and
dead letters. Commit or nothing.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Self

from interlink.exceptions import StoreError
from interlink.ports.broker import OutgoingMessage
from interlink.ports.records import (
    HELD,
    RELEASED,
    SCHEMA_VERSION,
    AggregateWrite,
    AuditRecord,
    ChangeSet,
    DeadLetter,
    DueRecord,
    FileProgress,
    IdempotencyRecord,
    InboundFile,
    InboxMark,
    OutboxRow,
    OutboxStatus,
    StoredAggregate,
    merge_writes,
)

__all__ = [
    "COUNTERS_PREFIX",
    "HELD",
    "RELEASED",
    "SCHEMA_VERSION",
    "AggregateWrite",
    "AuditRecord",
    "ChangeSet",
    "DeadLetter",
    "DueRecord",
    "FieldValue",
    "FileProgress",
    "IdempotencyRecord",
    "InboundFile",
    "InboxMark",
    "OutboxRow",
    "OutboxStatus",
    "Retained",
    "Store",
    "StoredAggregate",
    "merge_writes",
]


FieldValue = str | int | bool | None


class Retained(enum.StrEnum):
    """The framework records kept for a retention window, then pruned (docs/retention.md).

    ``inbox``: inbox marks, by the time the message was handled; ``idempotency``: Idempotency-Key records, by
    the time of the request; ``reply``: stored command replies (``~reply``), by their last write; ``saga``:
    ended sagas (completed, compensated, failed), by their last write. A running saga is never pruned.
    ``counters``: counter records (``~counters:*``: a notification subscription's counters, the read counts of
    kept copies, the flow counts of the console's rates) not written for the window, i.e. of a process that
    stopped: a live process writes its own with every notification or flush. ``audit``: entries
    of the operators' audit log, by the time of the action (a long window: it is evidence).
    """

    INBOX = "inbox"
    IDEMPOTENCY = "idempotency"
    REPLY = "reply"
    SAGA = "saga"
    COUNTERS = "counters"
    AUDIT = "audit"


#: The kinds of notification counters start with this (``~counters:<subscription>``).
COUNTERS_PREFIX = "~counters:"


_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Store(abc.ABC):
    """Base class of store adapters; one instance serves one domain (its own data, shared with no one)."""

    scheme: str = ""
    #: True when one URL can serve several domains and the adapter keeps their data apart by itself.
    domain_scoped: bool = False

    def __init__(self, url: str, *, domain: str) -> None:
        self.url = url
        self.domain = domain
        self._connected = False

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection pool and create (or check) the schema; idempotent."""
        if not self._connected:
            await self._connect()
            self._connected = True

    async def close(self) -> None:
        """Release connections."""
        if self._connected:
            self._connected = False
            await self._close()

    def _check(self) -> None:
        if not self._connected:
            raise StoreError(f"{type(self).__name__} is not connected: call connect() first")

    async def commit(self, changes: Sequence[ChangeSet]) -> None:
        """Apply every change set in one transaction, or none of them.

        Raises ConcurrencyError when an aggregate is not at its expected version (or a file's progress does
        not continue from its stored checkpoint under its owner) and DuplicateMessage when an inbox mark
        exists already.

        Dead letters with an ``ordering_key`` queue by id per (subscription, key): a ``held`` letter for a
        message parked already leaves its row as it is (a redelivery keeps its place and state), and once
        the commit has parked or removed letters of a key, the first letter of that key, if ``held``,
        becomes ``released`` (in the same transaction, so its turn is never lost).
        """
        self._check()
        if any(changes):
            await self._commit(changes)

    @abc.abstractmethod
    async def _connect(self) -> None: ...
    @abc.abstractmethod
    async def _close(self) -> None: ...
    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

    @abc.abstractmethod
    async def _commit(self, changes: Sequence[ChangeSet]) -> None: ...
    @abc.abstractmethod
    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        """The stored aggregate, read outside any write transaction."""

    @abc.abstractmethod
    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        """Which of these message ids the subscription's inbox already holds."""

    @abc.abstractmethod
    async def outbox_batch(self, limit: int) -> list[OutboxRow]:
        """The oldest unsent outbox rows, in commit order."""

    @abc.abstractmethod
    async def mark_sent(self, seqs: Sequence[int]) -> None:
        """The broker confirmed these rows: remove them from the outbox."""

    async def relay_batch(
        self,
        limit: int,
        publish: Callable[[list[OutgoingMessage]], Awaitable[None]],
        confirm: Callable[[list[int]], Awaitable[None]] | None = None,
    ) -> int:
        """Hand the oldest pending rows (up to ``limit``) to ``publish``; remove them once it returns.

        ``publish`` returns only after the broker confirmed every message; if it raises, the rows stay.
        ``confirm`` removes the published rows (default :meth:`mark_sent`; the relay passes one that rides
        along with the next group commit, saving a transaction). Returns how many rows were published.
        Adapters whose databases serve several relay processes at once override this to claim the rows
        exclusively for the duration of the publish (and then ignore ``confirm``).
        """
        self._check()
        rows = await self.outbox_batch(limit)
        if rows:
            await publish([row.message for row in rows])
            await (confirm or self.mark_sent)([row.seq for row in rows])
        return len(rows)

    async def park_outbox(self, letter: DeadLetter) -> bool:
        """Move the outbox row of ``letter.message_id`` to the dead letters as ``letter``, in one transaction.

        For a message the broker refuses for good: the rows behind it can go on. Returns False (and parks
        nothing) when no such row is pending any more (another relay parked or sent it meanwhile).
        """
        self._check()
        return await self._park_outbox(letter)

    @abc.abstractmethod
    async def _park_outbox(self, letter: DeadLetter) -> bool: ...

    async def watch_outbox(self, wake: Callable[[], None]) -> None:  # noqa: B027 - optional, not abstract
        """Arrange for ``wake()`` to be called when another process commits outbox rows.

        The default does nothing: the relay falls back to its poll interval. A database with
        notifications (PostgreSQL LISTEN/NOTIFY) overrides it.
        """

    @abc.abstractmethod
    async def outbox_status(self) -> OutboxStatus:
        """Pending rows and the age of the oldest."""

    @abc.abstractmethod
    async def dead_letters(
        self, subscription: str | None = None, limit: int = 100, *, error_class: str | None = None
    ) -> list[DeadLetter]:
        """Parked messages, oldest first; of one subscription and one error class when given."""

    @abc.abstractmethod
    async def dead_letter(self, id: int) -> DeadLetter | None:
        """One parked message by its id."""

    @abc.abstractmethod
    async def parked_keys(self, subscription: str, keys: Sequence[str]) -> set[str]:
        """Which of these ordering keys have a letter parked under ``subscription`` (one index lookup)."""

    @abc.abstractmethod
    async def letters_of_key(self, subscription: str, key: str, limit: int = 100) -> list[DeadLetter]:
        """The letters parked under ``subscription`` with this ordering key, in their order (by id)."""

    @abc.abstractmethod
    async def audit_entries(self, limit: int = 100, *, before: int | None = None) -> list[AuditRecord]:
        """The operators' audit log, newest first; only entries with an id below ``before`` when given.

        Entries are appended with :attr:`ChangeSet.audit`; no port method changes or removes one (only
        :meth:`prune`, past the audit retention).
        """

    async def list_aggregates(
        self, kind: str, *, where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[tuple[str, StoredAggregate]]:
        """Aggregates of a kind whose top-level fields equal ``where``, by id, starting after ``after``.

        A field given to :meth:`ensure_query_indexes` for the kind is read through its index (SQL stores); any
        other field is compared on every aggregate of the kind (``ctx.list`` refuses those, docs/queries.md).
        """
        self._check()
        for name in where:
            if not _FIELD.match(name):
                raise StoreError(f"cannot filter on {name!r}: not a field name")
        return await self._list_aggregates(kind, where=where, after=after, limit=limit)

    async def ensure_query_indexes(self, fields: Mapping[str, Sequence[str]]) -> list[str]:
        """Keep an index for each declared query field (``fields``: kind -> field names; see
        :func:`interlink.core.indexed.declared_indexes`), creating the missing ones; returns the statements it
        ran (none when every index exists). A store without indexes (in memory) does nothing."""
        self._check()
        for kind, names in fields.items():
            for name in names:
                if not _FIELD.match(name):
                    raise StoreError(f"cannot index {kind}.{name}: not a field name")
        return await self._ensure_query_indexes(fields)

    async def _ensure_query_indexes(self, fields: Mapping[str, Sequence[str]]) -> list[str]:
        return []

    @abc.abstractmethod
    async def _list_aggregates(
        self, kind: str, *, where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[tuple[str, StoredAggregate]]: ...

    @abc.abstractmethod
    async def claim_idempotency(self, key: str, fingerprint: str, lease: float) -> IdempotencyRecord | None:
        """Claim ``key`` for a request; None when claimed (no record, or a pending one not renewed for
        ``lease`` seconds, left by a dead process), else the record that holds it (pending, or done with its
        response). A pending record's ``created_at`` is the time of its claim or last renewal."""

    @abc.abstractmethod
    async def renew_idempotency(self, key: str, fingerprint: str) -> bool:
        """Renew a pending claim of ``key`` for this request (its lease restarts now); False when there is
        no pending claim with this fingerprint any more (the response is committed, or the claim is gone)."""

    @abc.abstractmethod
    async def release_idempotency(self, key: str) -> None:
        """Drop a pending claim (the command failed), so a retry may run it."""

    async def prune(self, kind: Retained, older_than: float, limit: int) -> int:
        """Delete up to ``limit`` records of ``kind`` last written before ``older_than`` (epoch seconds).

        One short transaction, reaching the rows through an index: call it again until it returns less than
        ``limit``. Returns how many were deleted.
        """
        self._check()
        if limit < 1:
            raise StoreError(f"prune limit must be positive, got {limit}")
        return await self._prune(Retained(kind), older_than, limit)

    async def teardown(self) -> list[str]:
        """Delete this domain's framework tables (and a schema of its own once empty), data included; returns
        what it removed. Needs no :meth:`connect`, so a store refused at connect can be removed too."""
        return await self._teardown()

    async def _teardown(self) -> list[str]:
        raise StoreError(f"{type(self).__name__} cannot tear down what it created")

    @abc.abstractmethod
    async def _prune(self, kind: Retained, older_than: float, limit: int) -> int: ...

    async def due(self, kind: str, now: float, limit: int) -> list[DueRecord]:
        """Up to ``limit`` records of ``kind`` whose due time (``AggregateWrite.due_at``) is at or before
        ``now`` (epoch seconds), earliest first.

        Found through the (kind, due_at) index: the cost depends on ``limit``, not on how many records wait.
        """
        self._check()
        if limit < 1:
            raise StoreError(f"due limit must be positive, got {limit}")
        return await self._due(kind, now, limit)

    @abc.abstractmethod
    async def _due(self, kind: str, now: float, limit: int) -> list[DueRecord]: ...

    @abc.abstractmethod
    async def claim_file(self, file: InboundFile, lease: float, *, replace_owner: str | None = None) -> InboundFile:
        """Claim an inbound file for ``file.owner`` for ``lease`` seconds; returns the record that now holds it.

        That is ``file`` itself when nothing held its id nor (unless ``forced``) its content; the stored
        record, taken over by ``file.owner``, when it is still processing and its owner is ``file.owner``, its
        lease ran out, or its owner is ``replace_owner`` (known dead); otherwise the record that holds it:
        another live owner's, or a finished one with the same content (a duplicate).
        """

    @abc.abstractmethod
    async def inbound_file(self, file_id: str) -> InboundFile | None:
        """The record of one inbound file, or None."""

    async def unfinished_files(self, limit: int = 100) -> list[InboundFile]:
        """Inbound files not archived (still processing, or failed), oldest claim first.

        The default reads none; the stores that keep inbound files override it.
        """
        self._check()
        return []
