"""State Change Notification on a Landscape (memory store and broker, manual clock), the source played by
FakeExternalServices."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from interlink import Domain
from interlink.adapters.http import ClientPolicy
from interlink.core.messages import NotificationEvent
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import ConfigurationError
from interlink.patterns.notification import subscription_figures
from interlink.ports.broker import OutgoingMessage
from interlink.runtime import DomainRuntime, Settings
from interlink.testing import FakeExternalServices, Landscape, ManualClock
from tests.support.notifications import Consumer, Customer, CustomerChanged, loans, notification, payload

PATH = "/customers/42"


class StepClock(ManualClock):
    """A wall clock that moves only when told to (for runtimes assembled by hand in other test modules)."""


#: Seconds a failed notification waits before its next attempt (the landscape's clock moves it).
RETRY_DELAY = 1.0


class Harness:
    """One consumer domain on a Landscape, its source played by FakeExternalServices (which can lag or fail).

    Each published notification gets its first attempt at once; a failed one waits for the clock:
    :meth:`step` gives what waits its next attempt, :meth:`pump` delivers until nothing waits.
    """

    def __init__(self, consumer: Consumer, land: Landscape, fake: FakeExternalServices):
        self.consumer = consumer
        self.land = land
        self.fake = fake

    @property
    def runtime(self) -> DomainRuntime:
        return self.land[self.consumer.domain]

    async def publish(self, *messages: OutgoingMessage) -> None:
        await self.land.broker.publish(list(messages))

    async def pump(self, *, rounds: int = 50) -> None:
        """Settle, then give every retry its turn until none is left (or the message is parked)."""
        await self.land.settle()
        for _ in range(rounds):
            if self.land.broker.next_due() is None:
                return
            await self.land.advance(RETRY_DELAY)
        raise AssertionError(f"still retrying after {rounds} rounds")

    async def step(self) -> None:
        """One more attempt: the first of what was just published, else the retries due next."""
        if self.land.broker.next_due() is None:
            await self.land.settle()
        else:
            await self.land.advance(RETRY_DELAY)

    async def copy(self, id: str) -> tuple[str, int] | None:
        """(name, source version) of the consumer's copy, or None."""
        stored = await self.runtime.store.load(self.consumer.copy.aggregate_name(), id)
        if stored is None:
            return None
        doc = json.loads(stored.data)
        return doc["name"], doc["source_version"]

    def fetches(self, path: str = PATH) -> int:
        return len(self.fake.calls_to("customer", path))


async def harness_for(consumer: Consumer, max_attempts: int = 5) -> AsyncIterator[Harness]:
    """A landscape of the consumer domain alone (no redrive: a parked message stays parked)."""
    fake = FakeExternalServices(policy=ClientPolicy(cooldown=0))
    retry = RetryPolicy(max_attempts=max_attempts, base_delay=RETRY_DELAY, max_delay=RETRY_DELAY)
    settings = Settings(retry=retry, redrive_interval=None, fetch_wait=0.05)
    async with Landscape([consumer.domain], settings=settings, external={consumer.domain.name: fake}) as land:
        yield Harness(consumer, land, fake)


@pytest.fixture
async def eager() -> AsyncIterator[Harness]:
    """The loans domain: an eager notification subscription."""
    async for harness in harness_for(loans):
        yield harness


@pytest.fixture
async def patient() -> AsyncIterator[Harness]:
    """The loans domain with room for many attempts (a long outage)."""
    async for harness in harness_for(loans, max_attempts=50):
        yield harness


def test_notification_event_of_an_aggregate_is_thin() -> None:
    """NotificationEvent.of carries type, id, version and path, nothing of the state."""
    event = CustomerChanged.of(Customer(id="42", name="Ada", version=3), path=PATH)
    assert event.model_dump() == {"resource": "Customer", "id": "42", "version": 3, "path": PATH}
    assert issubclass(CustomerChanged, NotificationEvent)
    assert CustomerChanged.message_type() == "customer.CustomerChanged"


def test_declaration_mistakes_are_configuration_errors() -> None:
    """A second subscription to one event, a foreign command or service, or deferred without aggregate fail."""
    with pytest.raises(ConfigurationError, match="already subscribes"):
        loans.domain.on_notification(CustomerChanged, fetch=loans.service, command=loans.domain.commands["keep"].func)
    other = Domain("other")
    with pytest.raises(ConfigurationError, match="not a command of"):
        other.on_notification(CustomerChanged, fetch=loans.service, command=loans.domain.commands["keep"].func)


async def test_notification_fetches_and_updates_in_that_order(eager: Harness) -> None:
    """Event capture, then one fetch through the external service, then the command: the copy exists."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 1))
    await eager.publish(notification("42", 1))
    await eager.pump()
    assert await eager.copy("42") == ("Ada", 1)
    assert eager.fetches() == 1
    (call,) = eager.fake.calls_to("customer", PATH)
    assert call.headers["x-correlation-id"] == "c-42"


async def test_old_version_first_then_new_ends_on_the_new_version(eager: Harness) -> None:
    """The source answers version 1 to a notification of version 2 (read lag): retried, then applied."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 1))
    await eager.publish(notification("42", 2))
    await eager.step()  # one attempt only: the source lags
    assert await eager.copy("42") is None
    assert eager.runtime.consumers[0].stats.errors == {"ReadLag": 1}
    eager.fake.set("customer", PATH, payload("42", "Ada Lovelace", 2))
    await eager.pump()
    assert await eager.copy("42") == ("Ada Lovelace", 2)
    assert await eager.runtime.store.dead_letters() == []


async def test_source_down_for_a_while_loses_nothing(patient: Harness) -> None:
    """Ten customers notified while the source answers 503: all applied once it answers again."""
    ids = [f"c{i}" for i in range(10)]
    for id in ids:
        patient.fake.set("customer", f"/customers/{id}", payload(id, f"name {id}", 1))
        patient.fake.fail("customer", f"/customers/{id}", 503, times=3)
    await patient.publish(*(notification(id, 1) for id in ids))
    await patient.pump()
    assert {id: await patient.copy(id) for id in ids} == {id: (f"name {id}", 1) for id in ids}
    assert patient.runtime.consumers[0].stats.errors["SourceUnavailable"] == 30
    assert await patient.runtime.store.dead_letters() == []


async def test_source_down_too_long_parks_with_reason_source_unavailable() -> None:
    """Past its time budget (not after five attempts) the notification is parked as transient, with the
    reason "source unavailable"."""
    async for eager in harness_for(loans):
        eager.fake.fail("customer", PATH, 503, times=None)
        await eager.publish(notification("42", 1))
        for _ in range(10):
            await eager.step()
        assert await eager.runtime.store.dead_letters() == []
        eager.land.clock.advance(RetryPolicy().budget)
        await eager.step()
        (letter,) = await eager.runtime.store.dead_letters()
        assert "source unavailable" in letter.error
        assert (letter.error_class, letter.attempts) == ("transient", 11)


async def test_gone_runs_the_gone_command(eager: Harness) -> None:
    """A 404 from the source runs the declared gone command: the copy is removed."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 1))
    await eager.publish(notification("42", 1))
    await eager.pump()
    eager.fake.fail("customer", PATH, 404, times=None)  # the source forgot the customer
    await eager.publish(notification("42", 2))
    await eager.pump()
    assert await eager.copy("42") is None
    assert await eager.runtime.store.dead_letters() == []


async def test_repeated_notifications_in_one_batch_make_one_fetch(eager: Harness) -> None:
    """Ten notifications of one customer in one batch: one fetch of the current state, applied once."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 10))
    await eager.publish(*(notification("42", v) for v in range(1, 11)))
    await eager.pump()
    assert eager.fetches() == 1
    assert await eager.copy("42") == ("Ada", 10)
    stored = await eager.runtime.store.load(loans.copy.aggregate_name(), "42")
    assert stored is not None
    assert stored.version == 1  # the command ran once


async def test_notification_at_or_below_the_applied_version_makes_no_fetch(eager: Harness) -> None:
    """Once version 5 is applied, a late notification of version 3 (or 5 again) is not fetched."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 5))
    await eager.publish(notification("42", 5))
    await eager.pump()
    await eager.publish(notification("42", 3), notification("42", 5))
    await eager.pump()
    assert eager.fetches() == 1
    assert await eager.copy("42") == ("Ada", 5)


async def test_counters_count_notifications_and_fetches(eager: Harness) -> None:
    """The delivery counters record is written with the notifications: 3 received, 1 fetch."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 3))
    await eager.publish(*(notification("42", v) for v in (1, 2, 3)))
    await eager.pump()
    figures = await subscription_figures(eager.runtime.store, loans.domain.notifications["customer.CustomerChanged"])
    assert (figures.received, figures.fetches, figures.pending) == (3, 1, 0)
    assert figures.payload_bytes == len(json.dumps(payload("42", "Ada", 3), separators=(",", ":")))


async def test_parked_notification_replays_once_the_source_is_back() -> None:
    """A notification parked as "source unavailable" applies when replayed after the source returns."""
    async for eager in harness_for(loans):
        eager.fake.fail("customer", PATH, 503, times=2)
        eager.fake.set("customer", PATH, payload("42", "Ada", 1))
        await eager.publish(notification("42", 1))
        await eager.step()
        eager.land.clock.advance(RetryPolicy().budget)
        await eager.step()
        await replay_the_letter(eager)


async def replay_the_letter(eager: Harness) -> None:
    """Replay the one dead letter: applied, and gone."""
    (letter,) = await eager.runtime.store.dead_letters()
    assert letter.id is not None
    await eager.runtime.replay_dead_letter(letter.id)
    assert await eager.copy("42") == ("Ada", 1)
    assert await eager.runtime.store.dead_letters() == []
