"""End to end through a Runtime on every store x broker pair: atomic commands, one effect, order.

Two small domains: ``order`` changes orders and emits ``OrderChanged`` (carrying the order's version),
``shipping`` records on a ``Shipment`` every version it is told about, in the order it handles them. A
version recorded twice shows an event applied twice; versions out of order show a reordering.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.exceptions import BusinessRuleError, ConcurrencyError
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends

order = Domain("order")
shipping = Domain("shipping")


@order.aggregate
class Order(Aggregate):
    """An order and its amount."""

    amount: int


@order.event
class OrderChanged(PublicEvent):
    """An order was created or changed; ``version`` is the order's version after the change."""

    order_id: str
    version: int
    amount: int


class ChangeOrder(BaseModel):
    """Input of change_order; ``fail_after_emit`` makes the command raise after it saved and emitted."""

    id: str
    amount: int
    fail_after_emit: bool = False


@order.command
async def change_order(ctx: Context, data: ChangeOrder) -> Order:
    """Create or change an order and emit OrderChanged; optionally fail after that."""
    current = await ctx.find(Order, data.id) or Order(id=data.id, amount=data.amount)
    current.amount = data.amount
    await ctx.save(current)
    ctx.emit(OrderChanged(order_id=current.id, version=current.version, amount=current.amount), about=current)
    if data.fail_after_emit:
        raise BusinessRuleError(f"order {data.id} refused after it was saved and emitted")
    return current


@shipping.aggregate
class Shipment(Aggregate):
    """Every order version shipping was told about, in the order it handled them."""

    versions: list[int] = []


class RecordChange(BaseModel):
    """Input of record_change."""

    order_id: str
    version: int


@shipping.command
async def record_change(ctx: Context, data: RecordChange) -> None:
    """Append the version to the order's shipment (a second application appends it twice)."""
    shipment = await ctx.find(Shipment, data.order_id) or Shipment(id=data.order_id)
    shipment.versions = [*shipment.versions, data.version]
    await ctx.save(shipment)


@shipping.on(OrderChanged)
async def order_changed(ctx: Context, event: OrderChanged) -> None:
    """Record the change through a command."""
    await ctx.execute(record_change, {"order_id": event.order_id, "version": event.version})


@pytest.fixture
async def landscape(backends: Backends) -> AsyncIterator[Runtime]:
    """Both domains in one running Runtime on the pair's store (a database per domain) and broker."""
    settings = Settings(
        store_url=backends.store,
        broker_url=backends.broker,
        relay_poll_interval=0.1,
        fetch_wait=0.1,
    )
    async with Runtime([order, shipping], settings) as runtime:
        yield runtime


async def versions_seen(rt: Runtime, order_id: str) -> list[int]:
    """The versions of an order that shipping handled, in handling order ([] before the first)."""
    stored = await rt["shipping"].store.load("Shipment", order_id)
    return list(json.loads(stored.data)["versions"]) if stored else []


@pytest.fixture
async def idle_orders(store_url: str) -> AsyncIterator[DomainRuntime]:
    """The order domain on each store with no relay running, so the outbox keeps what commits."""
    async with open_store(store_url, "order") as store, MemoryBroker() as broker:
        yield DomainRuntime(order, store, broker)


async def test_outbox_holds_the_events_of_committed_commands_only(idle_orders: DomainRuntime) -> None:
    """Commands that save and emit, then raise, leave neither their aggregate change nor an outbox row."""
    store = idle_orders.store
    await idle_orders.execute(change_order, {"id": "O-kept", "amount": 10})
    assert (await store.outbox_status()).pending == 1
    with pytest.raises(BusinessRuleError):
        await idle_orders.execute(change_order, {"id": "O-new", "amount": 1, "fail_after_emit": True})
    with pytest.raises(BusinessRuleError):
        await idle_orders.execute(change_order, {"id": "O-kept", "amount": 99, "fail_after_emit": True})
    assert await store.load("Order", "O-new") is None
    kept = await store.load("Order", "O-kept")
    assert kept is not None
    assert (kept.version, json.loads(kept.data)["amount"]) == (1, 10)
    assert (await store.outbox_status()).pending == 1
    (row,) = await store.outbox_batch(10)
    assert json.loads(row.message.body)["data"] == {"order_id": "O-kept", "version": 1, "amount": 10}


async def test_commands_that_lose_a_commit_race_emit_nothing(idle_orders: DomainRuntime) -> None:
    """Ten concurrent changes of one order: one outbox event per command that committed, in commit order."""
    results = await asyncio.gather(
        *(idle_orders.execute(change_order, {"id": "O-race", "amount": i}) for i in range(10)),
        return_exceptions=True,
    )
    committed = sorted((r for r in results if isinstance(r, Order)), key=lambda o: o.version)
    failed = [r for r in results if not isinstance(r, Order)]
    assert committed
    assert all(isinstance(r, ConcurrencyError) for r in failed), failed
    assert [o.version for o in committed] == list(range(1, len(committed) + 1))
    stored = await idle_orders.store.load("Order", "O-race")
    assert stored is not None
    assert stored.version == len(committed)
    rows = await idle_orders.store.outbox_batch(100)
    assert [json.loads(row.message.body)["data"] for row in rows] == [
        {"order_id": "O-race", "version": o.version, "amount": o.amount} for o in committed
    ]


async def test_failed_command_commits_neither_its_writes_nor_its_events(landscape: Runtime) -> None:
    """With relay and consumer running, events of failed commands never reach the other domain."""
    orders = landscape["order"]
    await orders.execute(change_order, {"id": "O-kept", "amount": 10})
    with pytest.raises(BusinessRuleError):
        await orders.execute(change_order, {"id": "O-new", "amount": 1, "fail_after_emit": True})
    with pytest.raises(BusinessRuleError):
        await orders.execute(change_order, {"id": "O-kept", "amount": 99, "fail_after_emit": True})

    assert await orders.store.load("Order", "O-new") is None
    kept = await orders.store.load("Order", "O-kept")
    assert kept is not None
    assert (kept.version, json.loads(kept.data)["amount"]) == (1, 10)
    # A later command's event gets through; the failed ones never existed for the other domain.
    await orders.execute(change_order, {"id": "O-after", "amount": 3})
    stats = landscape["shipping"].consumers[0].stats
    await wait_until(lambda: stats.processed >= 2, timeout=20, what="2 events handled")
    await wait_until(lambda: orders.relay.published >= 2, timeout=20, what="2 events relayed")
    assert (orders.relay.published, stats.processed, stats.dead_lettered) == (2, 2, 0)
    assert (await orders.store.outbox_status()).pending == 0
    assert await versions_seen(landscape, "O-kept") == [1]
    assert await versions_seen(landscape, "O-after") == [1]
    assert await versions_seen(landscape, "O-new") == []


async def test_committed_command_event_is_applied_once_by_the_other_domain(landscape: Runtime) -> None:
    """20 committed commands: 20 events relayed, and each applied by shipping exactly once."""
    orders, shipments = landscape["order"], landscape["shipping"]
    ids = [f"O{i:02d}" for i in range(20)]
    for i, id in enumerate(ids):
        await orders.execute(change_order, {"id": id, "amount": i})
    stats = shipments.consumers[0].stats
    await wait_until(lambda: stats.processed >= len(ids), timeout=20, what="20 events handled")
    # The relay counts a batch once the broker confirmed it and the outbox forgot it.
    await wait_until(lambda: orders.relay.published >= len(ids), timeout=20, what="20 events relayed")
    assert orders.relay.published == len(ids)
    assert (await orders.store.outbox_status()).pending == 0
    assert {id: await versions_seen(landscape, id) for id in ids} == {id: [1] for id in ids}
    assert (stats.processed, stats.duplicates, stats.retried, stats.dead_lettered) == (20, 0, 0, 0)
    assert await shipments.store.dead_letters() == []


async def test_changes_of_one_aggregate_are_handled_in_version_order(landscape: Runtime) -> None:
    """50 successive changes of one order reach shipping's handler in version order, each once."""
    orders = landscape["order"]
    for amount in range(50):
        await orders.execute(change_order, {"id": "O-busy", "amount": amount})

    async def fifty_handled() -> list[int] | None:
        seen = await versions_seen(landscape, "O-busy")
        return seen if len(seen) >= 50 else None

    assert await wait_until(fifty_handled, timeout=30, what="50 changes handled") == list(range(1, 51))
