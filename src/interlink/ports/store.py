"""The store port: aggregates, outbox, inbox and dead letters of one domain, committed together.

A unit of work reads through :meth:`Store.load` and :meth:`Store.seen`, stages every change in memory,
then hands one or more :class:`ChangeSet` to :meth:`Store.commit`, which applies them in one database
transaction: aggregate writes (checked against their expected version), outbox rows, inbox marks and
dead letters. Commit or nothing.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

from interlink.exceptions import ConcurrencyError, StoreError
from interlink.ports.broker import OutgoingMessage

__all__ = [
    "AggregateWrite",
    "ChangeSet",
    "DeadLetter",
    "InboxMark",
    "OutboxRow",
    "OutboxStatus",
    "Store",
    "StoredAggregate",
    "merge_writes",
]

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class StoredAggregate:
    """An aggregate's JSON document and version as stored."""

    data: str
    version: int


@dataclass(frozen=True)
class AggregateWrite:
    """Write (or, with ``data`` None, delete) an aggregate if it is still at ``expected_version``."""

    kind: str
    id: str
    expected_version: int
    new_version: int
    data: str | None


@dataclass(frozen=True)
class InboxMark:
    """This subscription has processed this message; its effects commit with the mark."""

    subscription: str
    message_id: str


@dataclass(frozen=True)
class DeadLetter:
    """A message parked after it failed, with the reason; it can be listed and replayed."""

    subscription: str
    message_id: str
    message_type: str
    body: bytes
    error: str
    attempts: int
    failed_at: datetime
    id: int | None = None


@dataclass
class ChangeSet:
    """Everything one command or one message's handling changes, committed atomically."""

    writes: list[AggregateWrite] = field(default_factory=list)
    outbox: list[OutgoingMessage] = field(default_factory=list)
    inbox: list[InboxMark] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    resolved_dead_letters: list[int] = field(default_factory=list)
    #: Change sets of the same batch whose staged (uncommitted) state this one read. If one of them fails
    #: to commit, this one must not commit either: it decided on state that never existed.
    depends_on: list[ChangeSet] = field(default_factory=list, repr=False, compare=False)
    #: Set by the committer when this change set could not be committed.
    failed: bool = field(default=False, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.writes or self.outbox or self.inbox or self.dead_letters or self.resolved_dead_letters)


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
                merged[key] = AggregateWrite(w.kind, w.id, prior.expected_version, w.new_version, w.data)
    return list(merged.values())


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

        Raises ConcurrencyError when an aggregate is not at its expected version and DuplicateMessage when
        an inbox mark exists already.
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

    async def relay_batch(self, limit: int, publish: Callable[[list[OutgoingMessage]], Awaitable[None]]) -> int:
        """Hand the oldest pending rows (up to ``limit``) to ``publish``; remove them once it returns.

        ``publish`` returns only after the broker confirmed every message; if it raises, the rows stay.
        Returns how many rows were published. Adapters whose databases serve several relay processes at
        once override this to claim the rows exclusively for the duration of the publish.
        """
        self._check()
        rows = await self.outbox_batch(limit)
        if rows:
            await publish([row.message for row in rows])
            await self.mark_sent([row.seq for row in rows])
        return len(rows)

    async def watch_outbox(self, wake: Callable[[], None]) -> None:  # noqa: B027 - optional, not abstract
        """Arrange for ``wake()`` to be called when another process commits outbox rows.

        The default does nothing: the relay falls back to its poll interval. A database with
        notifications (PostgreSQL LISTEN/NOTIFY) overrides it.
        """

    @abc.abstractmethod
    async def outbox_status(self) -> OutboxStatus:
        """Pending rows and the age of the oldest."""

    @abc.abstractmethod
    async def dead_letters(self, subscription: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Parked messages, oldest first."""

    @abc.abstractmethod
    async def dead_letter(self, id: int) -> DeadLetter | None:
        """One parked message by its id."""
