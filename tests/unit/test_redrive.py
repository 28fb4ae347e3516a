"""Redrive: notifications parked after their transient budget are handled again once the source answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.http import ClientPolicy
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.retry import RetryPolicy
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.fakes import FakeExternalServices
from interlink.testing.waiting import wait_until
from tests.support.notifications import Consumer, consumer, loans, notification, payload

POLICY = RetryPolicy(max_attempts=5, base_delay=0, max_delay=0, budget=60)
#: The same subscription, with redrive turned off in its declaration.
kept_parked = consumer(
    "kept-parked", "eager", retry=RetryPolicy(max_attempts=5, base_delay=0, max_delay=0, budget=60, redrive=False)
)
IDS = ["1", "2", "3"]


class StepClock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class Parked:
    """A consumer runtime whose notifications were parked as transient while its source was down."""

    runtime: DomainRuntime
    fake: FakeExternalServices
    consumer: Consumer

    async def copies(self) -> dict[str, int]:
        found = {}
        for id in IDS:
            stored = await self.runtime.store.load(self.consumer.copy.aggregate_name(), id)
            if stored is not None:
                found[id] = json.loads(stored.data)["source_version"]
        return found

    def calls(self) -> int:
        return len(self.fake.calls)


async def park_while_down(which: Consumer) -> AsyncIterator[Parked]:
    """Three notifications fail (connection refused) past their budget: parked as transient."""
    clock = StepClock()
    fake = FakeExternalServices(policy=ClientPolicy(failure_threshold=1, cooldown=0))
    async with MemoryStore("memory://", domain=which.domain.name) as store, MemoryBroker() as broker:
        settings = Settings(retry=POLICY)
        runtime = DomainRuntime(which.domain, store, broker, settings, external=fake, clock=clock)
        await runtime.prepare()
        for id in IDS:
            fake.fail("customer", f"/customers/{id}", None, times=None)
        await broker.publish([notification(id, 1) for id in IDS])
        for _ in range(2):
            deliveries = await broker.fetch(runtime.subscription.name, 10, 0.05)
            await runtime.consumers[0].process(deliveries)
            clock.at += timedelta(seconds=POLICY.budget)
        letters = await store.dead_letters()
        assert [(d.error_class, "source unavailable" in d.error) for d in letters] == [("transient", True)] * 3
        yield Parked(runtime, fake, which)


@pytest.fixture
async def parked() -> AsyncIterator[Parked]:
    """The eager loans subscription, its three notifications parked."""
    async for p in park_while_down(loans):
        yield p


async def test_redrive_leaves_letters_parked_while_the_source_is_down(parked: Parked) -> None:
    """A round while the source still refuses: one call (the probe) for the three letters, nothing removed."""
    assert parked.runtime.redrive is not None
    before = parked.calls()
    assert await parked.runtime.redrive.round() == 0
    assert parked.calls() - before == 1
    assert len(await parked.runtime.store.dead_letters()) == 3


async def test_redrive_applies_the_parked_notifications_once_the_source_answers(parked: Parked) -> None:
    """The source answers again: one round applies all three and removes their letters; a second does nothing."""
    assert parked.runtime.redrive is not None
    parked.fake._failures.clear()
    for id in IDS:
        parked.fake.set("customer", f"/customers/{id}", payload(id, f"name {id}", 1))
    assert await parked.runtime.redrive.round() == 3
    assert await parked.copies() == dict.fromkeys(IDS, 1)
    assert await parked.runtime.store.dead_letters() == []
    assert await parked.runtime.redrive.round() == 0


async def test_redrive_reclassifies_a_letter_that_now_fails_for_another_reason(parked: Parked) -> None:
    """A source that answers 400 for one resource: that letter stays, now poison, and is not tried again."""
    assert parked.runtime.redrive is not None
    parked.fake._failures.clear()
    for id in IDS:
        parked.fake.set("customer", f"/customers/{id}", payload(id, f"name {id}", 1))
    parked.fake.fail("customer", "/customers/2", 400, times=None)
    assert await parked.runtime.redrive.round() == 2
    (letter,) = await parked.runtime.store.dead_letters()
    assert (letter.error_class, "Bad Request" in letter.error) == ("poison", True)
    before = parked.calls()
    assert await parked.runtime.redrive.round() == 0
    assert parked.calls() == before


async def test_a_subscription_can_opt_out_of_redrive() -> None:
    """retry=RetryPolicy(redrive=False): the letters stay parked although the source answers."""
    async for p in park_while_down(kept_parked):
        assert p.runtime.redrive is not None
        p.fake._failures.clear()
        for id in IDS:
            p.fake.set("customer", f"/customers/{id}", payload(id, f"name {id}", 1))
        assert await p.runtime.redrive.round() == 0
        assert len(await p.runtime.store.dead_letters()) == 3
        assert await p.copies() == {}


async def test_the_runtime_redrives_in_the_background(parked: Parked) -> None:
    """Started with a short redrive interval, the runtime's own task applies the parked letters."""
    parked.fake._failures.clear()
    for id in IDS:
        parked.fake.set("customer", f"/customers/{id}", payload(id, f"name {id}", 1))
    redrive = parked.runtime.redrive
    assert redrive is not None
    redrive.interval = 0.05
    task = asyncio.create_task(redrive.run())
    try:
        await wait_until(lambda: redrive.redriven == 3, timeout=10, what="three letters redriven")
    finally:
        redrive.stop()
        await task
    assert await parked.copies() == dict.fromkeys(IDS, 1)
