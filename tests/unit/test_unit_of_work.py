"""The unit of work over the in-memory store: identity map, staged writes, and the envelopes it builds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from interlink import Context, Domain
from interlink.adapters.stores.memory import MemoryStore
from interlink.core import Aggregate, Command, PublicEvent, Role
from interlink.delivery.unit_of_work import Overlay, UnitOfWork
from interlink.exceptions import ConcurrencyError, RuleViolation
from interlink.ports.envelope import Envelope
from interlink.ports.store import AggregateWrite, ChangeSet, Store

PARENT_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

accounts = Domain("accounts")


@accounts.aggregate
class Account(Aggregate):
    owner: str
    balance: int = 0


@accounts.event
class AccountOpened(PublicEvent):
    account_id: str


@accounts.event
class BalanceChanged(PublicEvent):
    account_id: str
    balance: int


class SendLetter(Command):
    text: str


class FixedClock:
    """A clock that always tells the same time."""

    def now(self) -> datetime:
        return NOW


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    """A private in-memory store for the accounts domain."""
    async with MemoryStore("memory://", domain="accounts") as store:
        yield store


def unit(store: Store, *, overlay: Overlay | None = None, traceparent: str | None = None) -> UnitOfWork:
    return UnitOfWork(accounts, store, FixedClock(), overlay=overlay, traceparent=traceparent)


def command_context(uow: UnitOfWork, causation_id: str | None = "msg-0") -> Context:
    return Context(
        accounts,
        uow,
        Role.COMMAND,
        name="open",
        clock=FixedClock(),
        correlation_id="corr-1",
        causation_id=causation_id,
    )


async def existing(store: Store, account: Account) -> None:
    """Put an account in the store at version 1, as a command would have."""
    uow = unit(store)
    await command_context(uow).save(account)
    await store.commit([uow.changes()])


def envelopes(change: ChangeSet) -> list[Envelope]:
    return [Envelope.decode(m.body) for m in change.outbox]


async def test_two_loads_give_the_same_object(store: Store) -> None:
    """Within one unit of work, loading an aggregate twice gives the very same object."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    first = await uow.load(Account, "a-1")
    assert first is not None
    assert await uow.load(Account, "a-1") is first
    assert (first.owner, first.version) == ("ann", 1)


async def test_missing_aggregate_loads_as_none(store: Store) -> None:
    """An aggregate that is not stored loads as None, twice."""
    uow = unit(store)
    assert await uow.load(Account, "nobody") is None
    assert await uow.load(Account, "nobody") is None


async def test_saved_object_is_what_later_loads_return(store: Store) -> None:
    """After a save, a load in the same unit of work returns the saved object."""
    uow = unit(store)
    account = Account(id="a-1", owner="ann")
    await command_context(uow).save(account)
    assert await uow.load(Account, "a-1") is account


async def test_load_as_another_class_is_refused(store: Store) -> None:
    """Loading under one aggregate name as a different class raises RuleViolation."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    await uow.load(Account, "a-1")

    class Impostor(Aggregate):
        __aggregate_name__ = "Account"
        owner: str
        balance: int

    with pytest.raises(RuleViolation, match="was loaded as Account, not Impostor"):
        await uow.load(Impostor, "a-1")


async def test_nothing_is_written_before_commit(store: Store) -> None:
    """Saving stages the write; the store sees nothing until the change set is committed."""
    uow = unit(store)
    await command_context(uow).save(Account(id="a-1", owner="ann"))
    assert await store.load("Account", "a-1") is None
    await store.commit([uow.changes()])
    stored = await store.load("Account", "a-1")
    assert stored is not None
    assert stored.version == 1


async def test_save_raises_the_version_by_one(store: Store) -> None:
    """A save raises the object's version by one and stages one write from the loaded version."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    account = await uow.load(Account, "a-1")
    assert account is not None
    account.balance = 10
    await command_context(uow).save(account)
    assert account.version == 2
    (write,) = uow.writes
    assert (write.kind, write.id, write.expected_version, write.new_version) == ("Account", "a-1", 1, 2)
    assert Account.model_validate_json(write.data or "") == account


async def test_two_saves_give_one_merged_write(store: Store) -> None:
    """Two saves of one aggregate give one write, from the loaded version to the final one, final data."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    ctx = command_context(uow)
    account = await uow.load(Account, "a-1")
    assert account is not None
    account.balance = 10
    await ctx.save(account)
    account.balance = 25
    await ctx.save(account)
    assert account.version == 3
    assert uow.writes == [AggregateWrite("Account", "a-1", 1, 3, account.model_dump_json())]
    await store.commit([uow.changes()])
    reread = await unit(store).load(Account, "a-1")
    assert reread == account


async def test_saving_a_stale_copy_in_one_unit_raises(store: Store) -> None:
    """Saving a copy taken before the aggregate was saved in the same unit of work raises ConcurrencyError."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    ctx = command_context(uow)
    account = await uow.load(Account, "a-1")
    assert account is not None
    stale = account.model_copy()
    await ctx.save(account)
    with pytest.raises(ConcurrencyError, match="save the object you loaded"):
        await ctx.save(stale)
    assert uow.writes[0].new_version == 2


async def test_saving_an_object_someone_else_changed_raises(store: Store) -> None:
    """A unit of work saving an aggregate another one changed since it was loaded fails at commit."""
    await existing(store, Account(id="a-1", owner="ann"))
    slow, fast = unit(store), unit(store)
    slow_account = await slow.load(Account, "a-1")
    fast_account = await fast.load(Account, "a-1")
    assert slow_account is not None
    assert fast_account is not None
    await command_context(fast).save(fast_account)
    await store.commit([fast.changes()])
    await command_context(slow).save(slow_account)
    with pytest.raises(ConcurrencyError):
        await store.commit([slow.changes()])
    stored = await store.load("Account", "a-1")
    assert stored is not None
    assert stored.version == 2


async def test_creating_what_exists_raises_at_commit(store: Store) -> None:
    """Saving a new object whose id is taken fails at commit with ConcurrencyError."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    await command_context(uow).save(Account(id="a-1", owner="impostor"))
    with pytest.raises(ConcurrencyError):
        await store.commit([uow.changes()])


async def test_create_and_delete_in_one_unit_writes_nothing(store: Store) -> None:
    """An aggregate created and deleted in one unit of work leaves no write and nothing in the store."""
    uow = unit(store)
    ctx = command_context(uow)
    account = Account(id="a-1", owner="ann")
    await ctx.save(account)
    await ctx.delete(account)
    assert uow.writes == []
    assert await uow.load(Account, "a-1") is None
    await store.commit([uow.changes()])
    assert await store.load("Account", "a-1") is None


async def test_delete_of_a_loaded_aggregate(store: Store) -> None:
    """Deleting a loaded aggregate stages a delete at its version; later loads in the unit see None."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    account = await uow.load(Account, "a-1")
    assert account is not None
    await command_context(uow).delete(account)
    assert [(w.expected_version, w.data) for w in uow.writes] == [(1, None)]
    assert await uow.load(Account, "a-1") is None
    await store.commit([uow.changes()])
    assert await store.load("Account", "a-1") is None


async def test_delete_of_a_never_saved_aggregate_raises(store: Store) -> None:
    """Deleting an aggregate that was never saved raises ConcurrencyError."""
    uow = unit(store)
    with pytest.raises(ConcurrencyError, match="never saved"):
        await command_context(uow).delete(Account(id="a-1", owner="ann"))


async def test_event_envelope_carries_the_context(store: Store) -> None:
    """An emitted event's envelope has type, source, subject, version, correlation, causation and trace."""
    uow = unit(store, traceparent=PARENT_TRACE)
    ctx = command_context(uow)
    account = Account(id="a-1", owner="ann")
    await ctx.save(account)
    ctx.emit(AccountOpened(account_id="a-1"), about=account)
    (envelope,) = envelopes(uow.changes())
    assert envelope.type == "accounts.AccountOpened"
    assert envelope.source == "accounts"
    assert envelope.subject == "a-1"
    assert envelope.aggregateversion == 1
    assert envelope.correlationid == "corr-1"
    assert envelope.causationid == "msg-0"
    assert envelope.time == NOW
    assert envelope.data == {"account_id": "a-1"}
    assert envelope.channel == "accounts.events"
    assert envelope.traceparent is not None
    version, trace_id, span_id, flags = envelope.traceparent.split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span_id != "00f067aa0ba902b7"


async def test_outbox_message_is_routed_like_its_envelope(store: Store) -> None:
    """The outbox message carries the envelope's id, channel, type and ordering key."""
    uow = unit(store)
    ctx = command_context(uow)
    account = Account(id="a-1", owner="ann")
    await ctx.save(account)
    ctx.emit(AccountOpened(account_id="a-1"), about=account)
    (message,) = uow.changes().outbox
    envelope = Envelope.decode(message.body)
    assert (message.message_id, message.channel, message.type, message.ordering_key) == (
        envelope.id,
        envelope.channel,
        envelope.type,
        envelope.ordering_key,
    )


async def test_event_version_is_the_final_one(store: Store) -> None:
    """An event emitted before the save, or before a second save, reports the aggregate's final version."""
    await existing(store, Account(id="a-1", owner="ann"))
    uow = unit(store)
    ctx = command_context(uow)
    account = await uow.load(Account, "a-1")
    assert account is not None
    ctx.emit(BalanceChanged(account_id="a-1", balance=5), about=account)
    account.balance = 5
    await ctx.save(account)
    ctx.emit(BalanceChanged(account_id="a-1", balance=7), about=account)
    account.balance = 7
    await ctx.save(account)
    sent = envelopes(uow.changes())
    assert [(e.type, e.aggregateversion) for e in sent] == [("accounts.BalanceChanged", 3)] * 2
    assert [e.data["balance"] for e in sent] == [5, 7]


async def test_events_keep_emit_order_and_get_distinct_ids(store: Store) -> None:
    """Several events of one unit of work go to the outbox in emit order, each with its own id."""
    uow = unit(store)
    ctx = command_context(uow)
    account = Account(id="a-1", owner="ann")
    await ctx.save(account)
    ctx.emit(AccountOpened(account_id="a-1"), about=account)
    for balance in (1, 2, 3):
        ctx.emit(BalanceChanged(account_id="a-1", balance=balance), about=account)
    sent = envelopes(uow.changes())
    assert [e.data.get("balance") for e in sent] == [None, 1, 2, 3]
    assert len({e.id for e in sent}) == 4


async def test_event_without_subject_or_trace(store: Store) -> None:
    """An event about no aggregate has no subject or version; without a parent trace a new trace starts."""
    uow = unit(store)
    ctx = command_context(uow, causation_id=None)
    ctx.emit(AccountOpened(account_id="a-1"))
    (envelope,) = envelopes(uow.changes())
    assert (envelope.subject, envelope.aggregateversion, envelope.causationid) == (None, None, None)
    assert envelope.traceparent is not None
    assert envelope.traceparent.startswith("00-")


async def test_sent_command_envelope(store: Store) -> None:
    """A command sent to another domain is typed and routed to that domain, with a reply channel."""
    uow = unit(store)
    command_context(uow).send(SendLetter(text="hello"), to="letters")
    (envelope,) = envelopes(uow.changes())
    assert envelope.type == "letters.SendLetter"
    assert envelope.targetdomain == "letters"
    assert envelope.replyto == "accounts.replies"
    assert envelope.channel == "letters.commands"
    assert envelope.data == {"text": "hello"}


async def test_changes_commit_writes_and_outbox_together(store: Store) -> None:
    """The change set of a unit of work commits its aggregates and its outbox rows."""
    uow = unit(store)
    ctx = command_context(uow)
    account = Account(id="a-1", owner="ann")
    await ctx.save(account)
    ctx.emit(AccountOpened(account_id="a-1"), about=account)
    await store.commit([uow.changes()])
    assert await store.load("Account", "a-1") is not None
    assert [r.message.type for r in await store.outbox_batch(10)] == ["accounts.AccountOpened"]


async def test_overlay_shows_earlier_staged_writes(store: Store) -> None:
    """A later unit of work reading through an overlay sees what an earlier one staged but did not commit."""
    await existing(store, Account(id="a-1", owner="ann"))
    overlay = Overlay()
    first = unit(store, overlay=overlay)
    ctx = command_context(first)
    account = await first.load(Account, "a-1")
    assert account is not None
    account.balance = 50
    await ctx.save(account)
    await ctx.save(Account(id="a-2", owner="bob"))
    first_change = first.changes()
    overlay.absorb(first_change)

    second = unit(store, overlay=overlay)
    seen = await second.load(Account, "a-1")
    assert seen is not None
    assert (seen.balance, seen.version) == (50, 2)
    created = await second.load(Account, "a-2")
    assert created is not None
    assert created.version == 1
    seen.balance = 60
    await command_context(second).save(seen)
    assert second.writes == [AggregateWrite("Account", "a-1", 2, 3, seen.model_dump_json())]

    second_change = second.changes()
    assert second_change.depends_on == [first_change], "the second read what the first staged"
    await store.commit([first_change, second_change])
    stored = await unit(store).load(Account, "a-1")
    assert stored is not None
    assert (stored.balance, stored.version) == (60, 3)


async def test_overlay_shows_earlier_deletes(store: Store) -> None:
    """An aggregate deleted by an earlier unit of work of the batch loads as None in a later one."""
    await existing(store, Account(id="a-1", owner="ann"))
    overlay = Overlay()
    first = unit(store, overlay=overlay)
    account = await first.load(Account, "a-1")
    assert account is not None
    await command_context(first).delete(account)
    overlay.absorb(first.changes())
    assert await unit(store, overlay=overlay).load(Account, "a-1") is None


async def test_without_overlay_staged_writes_are_invisible(store: Store) -> None:
    """Without the overlay, another unit of work reads the store, not what is staged elsewhere."""
    await existing(store, Account(id="a-1", owner="ann"))
    first = unit(store)
    account = await first.load(Account, "a-1")
    assert account is not None
    account.balance = 50
    await command_context(first).save(account)
    other = await unit(store).load(Account, "a-1")
    assert other is not None
    assert (other.balance, other.version) == (0, 1)
