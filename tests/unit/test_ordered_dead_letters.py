"""Order-preserving dead letters on the in-memory store and broker, and the cases the broker matrix cannot
stage on demand: a whole aggregate in one batch, a redelivered held message, a release cut short."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.operations import Operations
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id
from interlink.ports.store import HELD, RELEASED, ChangeSet
from interlink.runtime import DomainRuntime, Runtime
from interlink.runtime.replay import Replayer
from interlink.testing.waiting import wait_until
from tests.support.ordered_ledger import (
    accounts,
    applied,
    discarded,
    ledger,
    of,
    parked_behind,
    post,
    refused,
    replayed,
    settings,
)

MEMORY = settings("memory://", "memory://")


async def test_replay_releases_in_order_on_the_memory_broker() -> None:
    """The replay scenario of the broker matrix, on the in-memory store and broker."""
    await replayed("memory://", "memory://")


async def test_discard_releases_in_order_on_the_memory_broker() -> None:
    """The discard scenario of the broker matrix, on the in-memory store and broker."""
    await discarded("memory://", "memory://")


async def test_a_held_letter_that_fails_in_its_turn_blocks_the_rest() -> None:
    """Replaying A2 releases A3, which fails now: A3 stays first with its reason, A4 still waits behind it."""
    async with Runtime([accounts, ledger], MEMORY) as rt:
        first, third, fourth = await parked_behind(rt)
        refused.clear()
        refused.add(("A", 3))
        assert first.id is not None
        await Replayer(rt["ledger"]).replay(first.id)
        assert of("A") == [1, 2]
        letters = await rt["ledger"].store.dead_letters()
        assert [(d.id, d.error_class) for d in letters] == [(third.id, "permanent"), (fourth.id, HELD)]
        assert "posting A#3 refused" in letters[0].error
        refused.clear()
        assert third.id is not None
        await Replayer(rt["ledger"]).replay(third.id)
        assert of("A") == [1, 2, 3, 4]


async def test_a_release_cut_short_is_resumed_by_the_runtime() -> None:
    """A2 removed but nothing handled (a crash right after): A3 is left released, and the redrive round
    hands A3 then A4 over; a second round (or replay) finds nothing to do twice."""
    async with Runtime([accounts, ledger], MEMORY) as rt:
        first, *_ = await parked_behind(rt)
        store = rt["ledger"].store
        assert first.id is not None
        await rt["ledger"].committer.commit(ChangeSet(resolved_dead_letters=[first.id]))
        assert [d.error_class for d in await store.dead_letters()] == [RELEASED, HELD]
        redrive = rt["ledger"].redrive
        assert redrive is not None
        assert await redrive.round() == 1
        assert of("A") == [1, 3, 4]
        assert await store.dead_letters() == []
        assert await redrive.round() == 0


async def test_held_messages_of_one_batch_and_a_later_one() -> None:
    """With the whole aggregate in one batch, the messages after the parked one wait; so does one sent later."""
    async with Runtime([accounts, ledger], MEMORY) as rt:
        await parked_behind(rt)
        await rt["accounts"].execute(post, {"account_id": "A", "seq": 5})
        store = rt["ledger"].store

        async def five() -> bool:
            return [d.error_class for d in await store.dead_letters()] == ["permanent", HELD, HELD, HELD]

        await wait_until(five, timeout=10, what="A5 held too")
        assert of("A") == [1]


def _posting(account: str, seq: int) -> OutgoingMessage:
    envelope = Envelope(
        id=new_message_id(),
        source="accounts",
        type="accounts.Posted",
        subject=account,
        time=datetime.now(UTC),
        data={"account_id": account, "seq": seq},
    )
    return OutgoingMessage(envelope.id, envelope.channel, envelope.type, envelope.encode(), envelope.ordering_key)


async def test_one_batch_holds_what_follows_a_parked_message_and_a_redelivery_keeps_its_place() -> None:
    """In one batch, A3 and A4 wait behind A2 while B flows; A3 delivered again is acked, its letter unchanged."""
    refused.clear()
    applied.clear()
    refused.add(("A", 2))
    broker = MemoryBroker()
    runtime = DomainRuntime(ledger, MemoryStore(domain="ledger"), broker, MEMORY)
    await broker.connect()
    await runtime.prepare()
    try:
        messages = [_posting("A", 1), _posting("A", 2), _posting("B", 1), _posting("A", 3), _posting("A", 4)]
        await broker.publish([*messages, _posting("B", 2)])
        (consumer,) = runtime.consumers
        batch = await broker.fetch(runtime.subscription.name, 100, 0.1)
        assert len(batch) == 6
        await consumer.process(batch)
        assert applied == [("A", 1), ("B", 1), ("B", 2)]
        assert (consumer.stats.held, consumer.stats.dead_lettered) == (2, 1)
        letters = await runtime.store.dead_letters()
        assert [(d.message_id, d.error_class) for d in letters] == [
            (messages[1].message_id, "permanent"),
            (messages[3].message_id, HELD),
            (messages[4].message_id, HELD),
        ]
        await broker.publish([messages[3]])  # A3 again, as after a crash before its ack
        await consumer.process(await broker.fetch(runtime.subscription.name, 100, 0.1))
        assert await runtime.store.dead_letters() == letters
        assert await broker.fetch(runtime.subscription.name, 100, 0.01) == []
    finally:
        await runtime.stop()
        await broker.close()


async def test_a_transient_letter_redriven_releases_its_aggregate() -> None:
    """A2 parked after a transient budget: once its source is back, the redrive round applies A2, A3, A4."""
    async with Runtime([accounts, ledger], MEMORY) as rt:
        first, *_ = await parked_behind(rt)
        await rt["ledger"].committer.commit(ChangeSet(dead_letters=[replace(first, id=None, error_class="transient")]))
        refused.clear()
        redrive = rt["ledger"].redrive
        assert redrive is not None
        assert await redrive.round() == 1
        assert of("A") == [1, 2, 3, 4]
        assert await rt["ledger"].store.dead_letters() == []


async def test_discard_through_the_replayer_releases_at_once() -> None:
    """Replayer.discard removes A2 and hands A3 then A4 to the handler before it returns."""
    async with Runtime([accounts, ledger], MEMORY) as rt:
        first, *_ = await parked_behind(rt)
        assert first.id is not None
        await Replayer(rt["ledger"]).discard([first.id])
        assert of("A") == [1, 3, 4]
        assert await rt["ledger"].store.dead_letters() == []


async def test_discard_through_operations_releases_at_once_and_is_audited() -> None:
    """Operations.discard removes A2, hands A3 then A4 to the handler before it returns, and audits the drop."""
    async with Runtime([accounts, ledger], MEMORY) as rt:
        first, *_ = await parked_behind(rt)
        assert first.id is not None
        ops = Operations(ledger, rt["ledger"].store)
        assert await ops.discard([first.id], actor="ops", reason="bad posting") == 1
        await ops.close()
        assert of("A") == [1, 3, 4]
        assert await rt["ledger"].store.dead_letters() == []
        assert [e.action for e in await ops.audit()] == ["dead_letter.discard"]
