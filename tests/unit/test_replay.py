"""The replayer on its own: duplicates, letters that are gone, and letters parked under a name of their own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id
from interlink.ports.store import ChangeSet, DeadLetter, InboxMark
from interlink.runtime import DomainRuntime
from interlink.runtime.backends import open_store
from interlink.runtime.replay import LetterFilter, Replayer, find_letters, register_replayer, unregister_replayer

source = Domain("source")
sink = Domain("sink")


@source.event
class Happened(PublicEvent):
    """Something happened."""

    key: str


@sink.aggregate
class Count(Aggregate):
    """How many times a key's event was applied."""

    applied: int = 0


class CountInput(BaseModel):
    """Input of count."""

    id: str


@sink.command
async def count(ctx: Context, data: CountInput) -> None:
    """Count one application."""
    found = await ctx.find(Count, data.id) or Count(id=data.id)
    found.applied += 1
    await ctx.save(found)


#: Set by a test: while the handler runs, another process's consumer commits the same message first.
RIVAL: list[Callable[[str], Awaitable[None]]] = []


@sink.on(Happened)
async def happened(ctx: Context, event: Happened) -> None:
    """Count the event."""
    await ctx.execute(count, {"id": event.key})
    for rival in RIVAL:
        assert ctx.causation_id is not None
        await rival(ctx.causation_id)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[DomainRuntime]:
    """Sink on a SQLite store, prepared (not started), on an in-memory broker."""
    store = open_store(f"sqlite:///{tmp_path}/{{domain}}.db", "sink")
    async with MemoryBroker("memory://") as broker:
        rt = DomainRuntime(sink, store, broker)
        await rt.prepare()
        try:
            yield rt
        finally:
            await rt.stop()


async def park(rt: DomainRuntime, key: str, subscription: str = "sink", error: str = "RuntimeError: bug") -> DeadLetter:
    """Park the envelope of Happened(key) as if its handler had failed."""
    envelope = Envelope(
        id=new_message_id(), source="source", type=Happened.message_type(), time=datetime.now(UTC), data={"key": key}
    )
    letter = DeadLetter(subscription, envelope.id, envelope.type, envelope.encode(), error, 3, datetime.now(UTC))
    await rt.store.commit([ChangeSet(dead_letters=[letter])])
    (stored,) = [d for d in await rt.store.dead_letters() if d.message_id == envelope.id]
    return stored


async def applied(rt: DomainRuntime, key: str) -> int:
    """How many times Happened(key) was applied."""
    found = await rt.store.load("Count", key)
    return int(json.loads(found.data)["applied"]) if found else 0


async def test_replay_applies_once_and_a_second_replay_finds_the_letter_gone(runtime: DomainRuntime) -> None:
    """The first replay applies the message and removes the letter; the next one says the letter is gone."""
    letter = await park(runtime, "a")
    assert letter.id is not None
    assert await Replayer(runtime).replay(letter.id) == "replayed"
    assert await Replayer(runtime).replay(letter.id) == "gone"
    assert await applied(runtime, "a") == 1
    assert await runtime.store.dead_letters() == []
    assert await runtime.store.seen("sink", [letter.message_id]) == {letter.message_id}


async def test_replay_of_a_message_the_inbox_holds_only_removes_the_letter(runtime: DomainRuntime) -> None:
    """A message processed meanwhile (its inbox mark committed) is not applied again; its letter goes."""
    letter = await park(runtime, "b")
    assert letter.id is not None
    await runtime.store.commit([ChangeSet(inbox=[InboxMark("sink", letter.message_id)])])
    assert await Replayer(runtime).replay(letter.id) == "processed"
    assert await applied(runtime, "b") == 0
    assert await runtime.store.dead_letters() == []


async def test_replay_that_loses_the_race_to_a_consumer_removes_the_letter_and_applies_nothing(
    runtime: DomainRuntime,
) -> None:
    """A consumer commits the message (effect and inbox mark) while the replay handles it: the replay's commit
    conflicts, nothing of it lands, and looking again it finds the message processed and removes the letter."""
    letter = await park(runtime, "r")
    assert letter.id is not None

    async def consumer_wins(message_id: str) -> None:
        # What a running consumer commits for a redelivery of the same message: its effect and its mark.
        uow = UnitOfWork(sink, runtime.store, runtime.clock)
        uow.stage_save(Count(id="r", applied=1))
        change = uow.changes()
        change.inbox.append(InboxMark("sink", message_id))
        await runtime.store.commit([change])

    RIVAL.append(consumer_wins)
    try:
        assert await Replayer(runtime).replay(letter.id) == "processed"
    finally:
        RIVAL.clear()
    assert await applied(runtime, "r") == 1
    assert await runtime.store.dead_letters() == []


async def test_a_registered_replayer_takes_the_letters_of_its_subscription(runtime: DomainRuntime) -> None:
    """Letters parked under a registered name go to its handler, which removes them with what it does."""
    refused = await park(runtime, "c", subscription="~refused", error="BrokerError: refused")
    ordinary = await park(runtime, "d")
    taken: list[int] = []

    async def back_to_the_outbox(rt: DomainRuntime, letter: DeadLetter) -> None:
        assert letter.id is not None
        taken.append(letter.id)
        message = OutgoingMessage(letter.message_id, "source.events", letter.message_type, letter.body)
        await rt.committer.commit(ChangeSet(outbox=[message], resolved_dead_letters=[letter.id]))

    register_replayer("~refused", back_to_the_outbox)
    try:
        assert refused.id is not None
        assert ordinary.id is not None
        assert await Replayer(runtime).replay(refused.id) == "replayed"
        assert await Replayer(runtime).replay(ordinary.id) == "replayed"
    finally:
        unregister_replayer("~refused")
    assert taken == [refused.id]
    assert (await runtime.store.outbox_status()).pending == 1
    assert await applied(runtime, "c") == 0
    assert await applied(runtime, "d") == 1
    assert await runtime.store.dead_letters() == []


async def test_find_letters_filters_by_subscription_and_error_past_one_page(runtime: DomainRuntime) -> None:
    """Selections see every parked letter (more than one page), by subscription and error text."""
    for i in range(7):
        await park(runtime, f"k{i}", error="RuntimeError: bug" if i % 2 else "ValueError: Other Thing")
    await park(runtime, "z", subscription="elsewhere")
    every = await find_letters(runtime.store, LetterFilter(), page=2)
    assert len(every) == 8
    assert [d.id for d in every] == sorted(d.id for d in every if d.id is not None)
    assert len(await find_letters(runtime.store, LetterFilter(subscription="sink"), page=2)) == 7
    assert len(await find_letters(runtime.store, LetterFilter(error_contains="other thing"), page=3)) == 4
    assert len(await find_letters(runtime.store, LetterFilter("elsewhere", "bug"), page=2)) == 1
