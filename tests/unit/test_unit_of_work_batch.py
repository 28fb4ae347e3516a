"""The unit of work's batch shortcuts: ``collect`` into a batch's change set, the version set on save, and a
command input validated once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from interlink import Context, Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.core import Aggregate, PublicEvent, Role
from interlink.delivery.unit_of_work import Overlay, UnitOfWork
from interlink.exceptions import MessageTooLarge
from interlink.ports.envelope import Envelope
from interlink.ports.store import ChangeSet, Store
from interlink.runtime import DomainRuntime

ledger = Domain("ledger")


@ledger.aggregate
class Entry(Aggregate):
    amount: int


@ledger.aggregate
class Capped(Aggregate):
    """An aggregate whose model validator looks at its version: it must still run when the version is set."""

    checked: ClassVar[list[int]] = []

    @model_validator(mode="after")
    def _at_most_two(self) -> Capped:
        Capped.checked.append(self.version)
        if self.version > 2:
            raise ValueError("a capped entry changes at most twice")
        return self


@ledger.event
class EntryMade(PublicEvent):
    entry_id: str
    note: str = ""


class MakeEntry(BaseModel):
    id: str
    amount: int


received: list[MakeEntry] = []


@ledger.command
async def make_entry(ctx: Context, data: MakeEntry) -> Entry:
    received.append(data)
    entry = Entry(id=data.id, amount=data.amount)
    await ctx.save(entry)
    return entry


class FixedClock:
    """A clock that always tells the same time."""

    def now(self) -> datetime:
        return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    """A private in-memory store for the ledger domain."""
    async with MemoryStore("memory://", domain="ledger") as store:
        yield store


def context(uow: UnitOfWork) -> Context:
    return Context(ledger, uow, Role.COMMAND, name="make", clock=FixedClock(), correlation_id="corr-1")


async def test_collect_adds_a_unit_to_its_batch_and_its_overlay(store: Store) -> None:
    """collect() puts the writes, outbox rows and callbacks in the batch's change set; a later unit of the batch
    reads the write through the overlay; the batch commits as one."""
    overlay, batch = Overlay(), ChangeSet()
    first = UnitOfWork(ledger, store, FixedClock(), overlay=overlay)
    ctx = context(first)
    entry = Entry(id="e-1", amount=5)
    await ctx.save(entry)
    ctx.emit(EntryMade(entry_id="e-1"), about=entry)
    first.on_commit(lambda: None)
    first.collect(batch, overlay)
    assert [(w.id, w.new_version) for w in batch.writes] == [("e-1", 1)]
    assert len(batch.outbox) == 1
    assert len(batch.after_commit) == 1
    assert Envelope.decode(batch.outbox[0].body).aggregateversion == 1

    second = UnitOfWork(ledger, store, FixedClock(), overlay=overlay)
    seen = await second.load(Entry, "e-1")
    assert seen is not None
    assert (seen.amount, seen.version) == (5, 1)
    seen.amount = 7
    await context(second).save(seen)
    second.collect(batch, overlay)
    assert [(w.id, w.expected_version, w.new_version) for w in batch.writes] == [("e-1", 0, 1), ("e-1", 1, 2)]
    await store.commit([batch])
    stored = await store.load("Entry", "e-1")
    assert stored is not None
    assert stored.version == 2


async def test_collect_adds_nothing_when_a_message_is_too_large(store: Store) -> None:
    """A unit whose message is over the broker's limit raises MessageTooLarge and leaves the batch as it was."""
    overlay, batch = Overlay(), ChangeSet()
    uow = UnitOfWork(ledger, store, FixedClock(), overlay=overlay, max_message_size=200)
    ctx = context(uow)
    await ctx.save(Entry(id="e-1", amount=1))
    ctx.emit(EntryMade(entry_id="e-1", note="x" * 500))
    with pytest.raises(MessageTooLarge):
        uow.collect(batch, overlay)
    assert not batch
    assert overlay.get(("Entry", "e-1")) is None


async def test_save_sets_the_version_as_an_assignment_would(store: Store) -> None:
    """The version set on save is in the object, its fields set and its JSON, as ``entry.version = 1`` does."""
    uow = UnitOfWork(ledger, store, FixedClock())
    entry = Entry(id="e-1", amount=3)
    await context(uow).save(entry)
    assert entry.version == 1
    assert "version" in entry.model_fields_set
    (write,) = uow.writes
    assert write.data == entry.model_dump_json()
    assert Entry.model_validate_json(write.data) == entry


async def test_save_still_runs_a_model_validator(store: Store) -> None:
    """An aggregate with a model validator gets it run when save sets its version, and may refuse it."""
    Capped.checked.clear()
    uow = UnitOfWork(ledger, store, FixedClock())
    capped = Capped(id="c-1", version=2)
    with pytest.raises(ValidationError, match="at most twice"):
        await context(uow).save(capped)
    assert Capped.checked == [2, 3]


async def test_execute_passes_an_input_instance_on_and_validates_a_mapping(store: Store) -> None:
    """DomainRuntime.execute hands a command the input model instance it was given (validated already);
    a mapping is validated, and a bad one refused."""
    received.clear()
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(ledger, store, broker)
        given = MakeEntry(id="e-1", amount=1)
        await runtime.execute(make_entry, given)
        await runtime.execute(make_entry, {"id": "e-2", "amount": "2"})
        with pytest.raises(ValidationError):
            await runtime.execute(make_entry, {"id": "e-3", "amount": "two"})
    assert received[0] is given
    assert received[1] == MakeEntry(id="e-2", amount=2)
