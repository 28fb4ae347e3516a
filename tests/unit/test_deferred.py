"""State Change Notification with deferred update: pending flags, ctx.fresh, single flight, source down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from interlink.core.external import ExternalService
from interlink.exceptions import NotFoundError
from interlink.patterns.deferred_update import FreshReads
from interlink.patterns.notification import subscription_figures
from interlink.patterns.notification.declarations import SourceUnavailable
from interlink.patterns.notification.records import ResourceSync, sync_records
from tests.support.notifications import notification, payload, pricing, scoring
from tests.unit.test_notification import PATH, Harness, harness_for

SUBSCRIPTION = "customer.CustomerChanged"


@pytest.fixture
async def stale() -> AsyncIterator[Harness]:
    """The pricing domain: deferred, serving stale copies when the source is down."""
    async for harness in harness_for(pricing):
        yield harness


@pytest.fixture
async def strict() -> AsyncIterator[Harness]:
    """The scoring domain: deferred, failing when the source is down."""
    async for harness in harness_for(scoring):
        yield harness


async def name_of(h: Harness, id: str = "42") -> str:
    return await h.runtime.query(h.consumer.customer_name, id=id)


async def flag(h: Harness, id: str = "42") -> tuple[bool, int, int]:
    """(pending, notified, applied) of the resource's ~pending record."""
    stored = await h.runtime.store.load(sync_records(SUBSCRIPTION).kind, id)
    assert stored is not None
    record = ResourceSync.model_validate_json(stored.data)
    return record.pending, record.notified, record.applied


async def test_notification_only_raises_a_pending_flag(stale: Harness) -> None:
    """A deferred notification fetches nothing: it records the flag with the highest version notified."""
    await stale.publish(notification("42", 2), notification("42", 1))
    await stale.pump()
    assert stale.fetches() == 0
    assert await flag(stale) == (True, 2, 0)
    assert await stale.copy("42") is None


async def test_hundred_notifications_then_one_query_make_one_fetch(stale: Harness) -> None:
    """100 notifications of one customer, then a query: one fetch, the fresh name, the flag cleared."""
    await stale.publish(*(notification("42", v) for v in range(1, 101)))
    await stale.pump()
    stale.fake.set("customer", PATH, payload("42", "Ada", 100))
    assert await name_of(stale) == "Ada"
    assert stale.fetches() == 1
    assert await flag(stale) == (False, 100, 100)
    assert await name_of(stale) == "Ada"  # no longer pending: read locally
    assert stale.fetches() == 1
    fresh = stale.runtime.part(FreshReads)
    assert fresh is not None
    await fresh.reads.flush()
    figures = await subscription_figures(stale.runtime.store, pricing.domain.notifications[SUBSCRIPTION])
    assert (figures.received, figures.fetches, figures.served, figures.pending) == (100, 1, 2, 0)


class Gated:
    """External services that hold every GET until ``gate`` opens (to make two reads overlap)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = 0

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        self.waiting += 1
        await self.gate.wait()
        return await self.inner.get(service, path, headers)


async def test_two_concurrent_queries_make_one_fetch(stale: Harness) -> None:
    """Two queries of one pending customer at once: one fetch, both get the fresh copy."""
    gated = Gated(stale.fake)
    stale.runtime.external = gated
    fresh = stale.runtime.part(FreshReads)
    assert fresh is not None
    fresh.reads._external = gated
    await stale.publish(notification("42", 1))
    await stale.pump()
    stale.fake.set("customer", PATH, payload("42", "Ada", 1))
    first = asyncio.create_task(name_of(stale))
    second = asyncio.create_task(name_of(stale))
    for _ in range(50):  # let both queries reach the fetch (or the flight they share)
        await asyncio.sleep(0)
    assert gated.waiting == 1
    gated.gate.set()
    assert list(await asyncio.gather(first, second)) == ["Ada", "Ada"]
    assert stale.fetches() == 1


async def test_source_down_serves_the_stale_copy_marked_stale(stale: Harness) -> None:
    """Policy "stale": with the source down, the query gets the old copy and ctx.stale is set."""
    await stale.publish(notification("42", 1))
    await stale.pump()
    stale.fake.set("customer", PATH, payload("42", "Ada", 1))
    assert await name_of(stale) == "Ada"
    await stale.publish(notification("42", 2))
    await stale.pump()
    stale.fake.fail("customer", PATH, 503, times=None)
    assert await name_of(stale) == "Ada (stale)"
    assert (await flag(stale))[0] is True  # still pending: the next read tries again


async def test_source_down_without_a_copy_is_source_unavailable(stale: Harness) -> None:
    """Policy "stale" with nothing local to serve: SourceUnavailable, not a misleading not-found."""
    await stale.publish(notification("42", 1))
    await stale.pump()
    stale.fake.fail("customer", PATH, 503, times=None)
    with pytest.raises(SourceUnavailable, match="no local copy"):
        await name_of(stale)


async def test_source_down_fails_with_policy_fail(strict: Harness) -> None:
    """Policy "fail": the query raises SourceUnavailable naming the resource; the flag stays."""
    await strict.publish(notification("42", 1))
    await strict.pump()
    strict.fake.set("customer", PATH, payload("42", "Ada", 1))
    assert await name_of(strict) == "Ada"
    await strict.publish(notification("42", 2))
    await strict.pump()
    strict.fake.fail("customer", PATH, 503, times=None)
    with pytest.raises(SourceUnavailable, match="'42' has an update pending"):
        await name_of(strict)
    assert (await flag(strict))[0] is True


async def test_gone_on_read_runs_the_gone_command(stale: Harness) -> None:
    """A pending customer the source no longer knows (404): gone runs, the copy is removed, not found."""
    await stale.publish(notification("42", 1))
    await stale.pump()
    stale.fake.set("customer", PATH, payload("42", "Ada", 1))
    assert await name_of(stale) == "Ada"
    stale.fake.fail("customer", PATH, 404, times=None)  # the source forgot the customer
    await stale.publish(notification("42", 2))
    await stale.pump()
    with pytest.raises(NotFoundError):
        await name_of(stale)
    assert await stale.copy("42") is None
    assert (await flag(stale))[0] is False


async def test_pending_counters_count_flags_and_their_age(stale: Harness) -> None:
    """Two pending customers: pending 2, and the oldest flag's time is recorded."""
    await stale.publish(notification("1", 1), notification("2", 1), notification("2", 2))
    await stale.pump()
    figures = await subscription_figures(stale.runtime.store, pricing.domain.notifications[SUBSCRIPTION])
    assert (figures.received, figures.pending, figures.fetches) == (3, 2, 0)
    assert figures.oldest_pending is not None


async def test_a_cancelled_read_does_not_cancel_the_shared_fetch(stale: Harness) -> None:
    """Of two reads sharing one fetch, the first is cancelled: the second still gets the fresh copy."""
    gated = Gated(stale.fake)
    fresh = stale.runtime.part(FreshReads)
    assert fresh is not None
    fresh.reads._external = gated
    await stale.publish(notification("42", 1))
    await stale.pump()
    stale.fake.set("customer", PATH, payload("42", "Ada", 1))
    first = asyncio.create_task(name_of(stale))
    second = asyncio.create_task(name_of(stale))
    for _ in range(50):
        await asyncio.sleep(0)
    first.cancel()
    gated.gate.set()
    assert await second == "Ada"
    assert first.cancelled()
    assert stale.fetches() == 1
