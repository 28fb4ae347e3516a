"""Retry by error class: the classification, the time budget of transient failures on a controllable
clock, and what the consumer does with each class (park at once, park after N, wait for a circuit)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.http import ClientPolicy
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.retry import FailureLedger, RetryPolicy, classify, retry_after
from interlink.exceptions import (
    BrokerUnavailable,
    BusinessRuleError,
    ConcurrencyError,
    ConfigurationError,
    ExternalServiceError,
    InvalidInput,
    InvalidPayload,
    MalformedMessage,
    NotFoundError,
    StoreUnavailable,
    UnknownMessageType,
)
from interlink.patterns.notification.declarations import ReadLag, SourceUnavailable
from interlink.ports.broker import Delivery, OutgoingMessage
from interlink.ports.envelope import Envelope
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.fakes import FakeExternalServices
from tests.support.notifications import loans, notification, payload


def _validation_error() -> ValidationError:
    class Model(BaseModel):
        n: int

    try:
        Model.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError("validated")


def _circuit_open(remaining: float) -> SourceUnavailable:
    cause = ExternalServiceError("customer", "http://c/customers/1", "circuit open", retry_after=remaining)
    try:
        raise SourceUnavailable(f"source unavailable: {cause}") from cause
    except SourceUnavailable as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (StoreUnavailable("connection lost"), "transient"),
        (BrokerUnavailable("connection refused"), "transient"),
        (SourceUnavailable("source unavailable"), "transient"),
        (ReadLag("older version"), "transient"),
        (_circuit_open(12.0), "transient"),
        (ExternalServiceError("c", "u", "circuit open"), "transient"),
        (ExternalServiceError("c", "u", "Service Unavailable", status=503), "transient"),
        (ExternalServiceError("c", "u", "Too Many Requests", status=429), "transient"),
        (TimeoutError(), "transient"),
        (InvalidPayload("bad data"), "permanent"),
        (UnknownMessageType("no handler"), "permanent"),
        (MalformedMessage("not JSON"), "permanent"),
        (BusinessRuleError("refused"), "permanent"),
        (InvalidInput("bad cursor"), "permanent"),
        (_validation_error(), "permanent"),
        (ExternalServiceError("c", "u", "Bad Request", status=400), "poison"),
        (ConcurrencyError("moved on"), "poison"),
        (NotFoundError("Thing", "1"), "poison"),
        (RuntimeError("bug"), "poison"),
        (KeyError("x"), "poison"),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, BaseException) else str(x),
)
def test_each_error_has_its_class(error: BaseException, expected: str) -> None:
    """Outages and timeouts are transient, bad messages and refusals permanent, anything else poison."""
    assert classify(error) == expected


def test_retry_after_is_found_along_the_cause_chain() -> None:
    """An open circuit's remaining time travels with the SourceUnavailable raised from it."""
    assert retry_after(_circuit_open(12.5)) == 12.5
    assert retry_after(RuntimeError("no hint")) is None


def test_transient_failures_retry_until_the_budget_is_spent_whatever_their_number() -> None:
    """A thousand transient failures within the budget are retried; the first one past it parks."""
    ledger, policy = FailureLedger(), RetryPolicy(max_attempts=3, budget=600.0)
    outage = StoreUnavailable("down")
    verdicts = [ledger.judge("m1", outage, policy, now=i * 0.5) for i in range(1000)]  # 0 .. 499.5 s
    assert not any(v.park for v in verdicts)
    assert {v.error_class for v in verdicts} == {"transient"}
    assert ledger.judge("m1", outage, policy, now=599.9).park is False
    last = ledger.judge("m1", outage, policy, now=600.0)
    assert (last.park, last.error_class, last.attempts) == (True, "transient", 1002)


def test_transient_failures_never_use_up_the_poison_attempts() -> None:
    """After many transient failures, a handler failure is still the message's first of N."""
    ledger, policy = FailureLedger(), RetryPolicy(max_attempts=3)
    for i in range(50):
        ledger.judge("m1", _circuit_open(1.0), policy, now=float(i))
    verdicts = [ledger.judge("m1", RuntimeError("bug"), policy, now=60.0 + i) for i in range(3)]
    assert [(v.error_class, v.attempts, v.park) for v in verdicts] == [
        ("poison", 1, False),
        ("poison", 2, False),
        ("poison", 3, True),
    ]


def test_a_permanent_error_parks_at_the_first_failure() -> None:
    """A permanent error is parked at once, attempt 1, with nothing retried."""
    verdict = FailureLedger().judge("m1", InvalidPayload("no"), RetryPolicy(max_attempts=5), now=0.0)
    assert (verdict.park, verdict.error_class, verdict.attempts) == (True, "permanent", 1)


def test_an_open_circuit_delays_the_retry_until_its_trial_call() -> None:
    """A call refused by an open circuit is retried no earlier than the circuit's remaining open time."""
    ledger, policy = FailureLedger(), RetryPolicy(base_delay=0.1, max_delay=0.2)
    delays = [ledger.judge(f"m{i}", _circuit_open(25.0), policy, now=0.0).delay for i in range(200)]
    assert min(delays) >= 25.0
    assert max(delays) <= 25.0 + 0.1  # plus at most one first backoff of jitter
    assert len(set(delays)) > 150  # spread, so the messages do not all meet the half-open circuit at once


def test_a_settled_message_starts_afresh() -> None:
    """Once processed (or parked), a message's failures are forgotten."""
    ledger, policy = FailureLedger(), RetryPolicy(max_attempts=2)
    assert ledger.judge("m1", RuntimeError("x"), policy, now=0.0).attempts == 1
    ledger.settled("m1")
    assert ledger.judge("m1", RuntimeError("x"), policy, now=1.0).attempts == 1
    assert len(ledger) == 1


# -- the consumer, on the memory store and broker ------------------------------------------------------

ticker = Domain("ticker")


@ticker.event
class Ticked(PublicEvent):
    """A tick; ``fail`` says how the sink's handler should fail."""

    n: int
    fail: str = ""


sink = Domain("sink")
strict_sink = Domain("strict-sink")


@sink.aggregate
class Tally(Aggregate):
    """The ticks counted."""

    count: int = 0


class FakeFlakyState:
    """How the handlers fail, set by the test."""

    store_down = False


class AddTick(BaseModel):
    """Input of add_tick."""

    n: int


async def add_tick(ctx: Context, data: AddTick) -> None:
    """Count one tick."""
    tally = await ctx.find(Tally, "all") or Tally(id="all")
    tally.count += 1
    await ctx.save(tally)


sink.command(add_tick)
strict_sink.aggregate(Tally)
strict_sink.command(add_tick)


async def _count(ctx: Context, event: Ticked) -> None:
    if event.fail == "poison":
        raise RuntimeError(f"tick {event.n} breaks the handler")
    if event.fail == "permanent":
        raise BusinessRuleError(f"tick {event.n} is refused")
    if FakeFlakyState.store_down:
        raise StoreUnavailable("connection was closed (injected)")
    await ctx.execute(add_tick, {"n": event.n})


@sink.on(Ticked)
async def count(ctx: Context, event: Ticked) -> None:
    """Count a tick, or fail as the tick asks."""
    await _count(ctx, event)


@strict_sink.on(Ticked, retry=RetryPolicy(max_attempts=2, base_delay=0, max_delay=0))
async def count_strictly(ctx: Context, event: Ticked) -> None:
    """The same, under a declared policy of two attempts."""
    await _count(ctx, event)


def tick(n: int, fail: str = "") -> OutgoingMessage:
    """A Ticked message ready to publish."""
    envelope = Envelope(
        id=uuid.uuid4().hex, source="ticker", type=Ticked.message_type(), subject=str(n),
        time=datetime.now(UTC), data={"n": n, "fail": fail},
    )  # fmt: skip
    return OutgoingMessage.of(envelope)


class FakeRecordingBroker(MemoryBroker):
    """A memory broker that records the delay of every retry, and hands it back at once."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[float] = []

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        self.delays.append(delay)
        await super()._retry(delivery, 0.0)


class StepClock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class Rig:
    """A consumer runtime of one domain on the memory store and a recording broker; the test pumps."""

    runtime: DomainRuntime
    broker: FakeRecordingBroker
    clock: StepClock

    async def step(self) -> int:
        """Fetch and process one batch; returns its size."""
        deliveries = await self.broker.fetch(self.runtime.subscription.name, 100, 0.01)
        if deliveries:
            await self.runtime.consumers[0].process(deliveries)
        return len(deliveries)

    async def letters(self) -> list[tuple[str, str | None, int]]:
        """(error, class, attempts) of every dead letter."""
        return [(d.error, d.error_class, d.attempts) for d in await self.runtime.store.dead_letters()]


async def rig_for(domain: Domain, policy: RetryPolicy, external: FakeExternalServices | None = None) -> Rig:
    clock = StepClock()
    broker = FakeRecordingBroker()
    await broker.connect()
    store = MemoryStore("memory://", domain=domain.name)
    runtime = DomainRuntime(domain, store, broker, Settings(retry=policy), clock=clock, external=external)
    await runtime.prepare()
    return Rig(runtime, broker, clock)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """The sink with five attempts and no backoff."""
    rig = await rig_for(sink, RetryPolicy(max_attempts=5, base_delay=0, max_delay=0, budget=60))
    yield rig
    await rig.runtime.store.close()
    await rig.broker.close()


async def test_a_permanent_error_is_parked_at_attempt_1_with_its_reason(rig: Rig) -> None:
    """A business refusal is parked at once (class permanent, attempt 1); a good tick beside it counts."""
    await rig.broker.publish([tick(1, "permanent"), tick(2)])
    assert await rig.step() == 2
    assert await rig.step() == 0  # nothing handed back
    assert await rig.letters() == [("BusinessRuleError: tick 1 is refused", "permanent", 1)]
    assert rig.broker.delays == []
    stored = await rig.runtime.store.load(Tally.aggregate_name(), "all")
    assert stored is not None
    assert stored.version == 1


async def test_a_poison_error_is_parked_after_n_attempts(rig: Rig) -> None:
    """A handler that keeps failing is retried four times, then parked with class poison, attempts 5."""
    await rig.broker.publish([tick(1, "poison")])
    while await rig.step():
        pass
    assert await rig.letters() == [("RuntimeError: tick 1 breaks the handler", "poison", 5)]
    assert len(rig.broker.delays) == 4


async def test_a_declared_policy_wins_over_the_runtime_default() -> None:
    """retry=RetryPolicy(max_attempts=2) on the handler parks after two attempts, not the default five."""
    rig = await rig_for(strict_sink, RetryPolicy(max_attempts=5, base_delay=0, max_delay=0))
    try:
        await rig.broker.publish([tick(1, "poison")])
        while await rig.step():
            pass
        assert [(c, a) for _, c, a in await rig.letters()] == [("poison", 2)]
    finally:
        await rig.runtime.store.close()
        await rig.broker.close()


async def test_store_outage_is_retried_on_the_budget_then_parked_as_transient(rig: Rig) -> None:
    """Thirty failed deliveries in a store outage park nothing; once the budget is spent it is parked as
    transient; the broker's delivery count is never held against it."""
    FakeFlakyState.store_down = True
    try:
        await rig.broker.publish([tick(1)])
        for _ in range(30):
            assert await rig.step() == 1
            rig.clock.at += timedelta(seconds=1)
        assert await rig.letters() == []
        rig.clock.at += timedelta(seconds=30)
        await rig.step()
        assert [(c, a) for _, c, a in await rig.letters()] == [("transient", 31)]
    finally:
        FakeFlakyState.store_down = False


async def test_a_restarted_consumer_does_not_hold_earlier_deliveries_against_a_message(rig: Rig) -> None:
    """A delivery with a broker count of 40 (an outage before a restart) that fails in its handler is at
    its first attempt, not parked."""
    await rig.broker.publish([tick(1, "poison")])
    (delivery,) = await rig.broker.fetch(rig.runtime.subscription.name, 10, 0.01)
    delivery.attempt = 40
    await rig.runtime.consumers[0].process([delivery])
    assert await rig.letters() == []
    assert rig.runtime.consumers[0].stats.failures == {"poison": 1}


def test_two_handlers_of_one_event_may_not_declare_different_policies() -> None:
    """retry= of two handlers of one event must agree: they run in one delivery."""
    domain = Domain("twice")

    @domain.on(Ticked, retry=RetryPolicy(max_attempts=2))
    async def first(ctx: Context, event: Ticked) -> None:
        """One handler."""

    with pytest.raises(ConfigurationError, match="two different retry policies"):

        @domain.on(Ticked, retry=RetryPolicy(max_attempts=3))
        async def second(ctx: Context, event: Ticked) -> None:
            """Another handler."""


# -- an open circuit, with the real HTTP adapter behind FakeExternalServices -----------------------------


class Monotonic:
    """Monotonic seconds for the circuit breakers, moved by the test."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


async def test_an_open_circuit_does_not_use_up_attempts_and_waits_for_the_trial_call() -> None:
    """Five notifications while the source is down: the circuit opens, every retry waits at least until its
    trial call, no attempt is used up; when the source is back all five apply, none is parked."""
    monotonic = Monotonic()
    fake = FakeExternalServices(policy=ClientPolicy(failure_threshold=2, cooldown=30.0), clock=monotonic)
    rig = await rig_for(loans.domain, RetryPolicy(max_attempts=2, base_delay=0, max_delay=0), external=fake)
    ids = [str(i) for i in range(5)]
    try:
        for id in ids:
            fake.fail("customer", f"/customers/{id}", None, times=None)  # connection refused
        await rig.broker.publish([notification(id, 1) for id in ids])
        for _ in range(10):  # ten rounds while the circuit stays open: far more than two attempts each
            assert await rig.step() == 5
        assert fake.circuit("customer").state == "open"
        assert await rig.letters() == []
        refused = rig.broker.delays[2:]  # the first two failures opened the circuit
        assert len(refused) == 48
        assert min(refused) >= 30.0 - 1e-6
        # The source is back and the cooldown over: the trial call succeeds and closes the circuit.
        fake._failures.clear()
        for id in ids:
            fake.set("customer", f"/customers/{id}", payload(id, f"name {id}", 1))
        monotonic.at += 30.0
        while await rig.step():
            pass
        assert await rig.letters() == []
        for id in ids:
            stored = await rig.runtime.store.load(loans.copy.aggregate_name(), id)
            assert stored is not None
        stats = rig.runtime.consumers[0].stats
        assert (stats.processed, stats.failures) == (5, {"transient": 50})
    finally:
        await rig.runtime.store.close()
        await rig.broker.close()


async def test_refusals_of_an_open_circuit_say_how_long_until_its_trial_call() -> None:
    """A failure that leaves the circuit closed asks for nothing; the one that opens it for the whole cooldown;
    later refusals for what remains of it; a 503 with Retry-After for that."""
    monotonic = Monotonic()
    fake = FakeExternalServices(policy=ClientPolicy(failure_threshold=2, cooldown=30.0), clock=monotonic)
    fake.fail("customer", "/customers/1", 503, times=2)
    fake.fail("customer", "/customers/2", 503, times=1, retry_after=7)
    service = loans.service
    raised = []
    for _ in range(2):
        with pytest.raises(ExternalServiceError) as caught:
            await fake.get(service, "/customers/1", {})
        raised.append(caught.value)
    assert [(e.reason, e.retry_after) for e in raised] == [("Service Unavailable", None), ("Service Unavailable", 30.0)]
    monotonic.at += 12.0
    with pytest.raises(ExternalServiceError) as refused:
        await fake.get(service, "/customers/1", {})
    assert (refused.value.reason, refused.value.retry_after, refused.value.transient) == ("circuit open", 18.0, True)
    monotonic.at += 18.0  # half-open: the trial call goes through and closes the circuit
    fake.set("customer", "/customers/1", payload("1", "Ada", 1))
    assert (await fake.get(service, "/customers/1", {}))["name"] == "Ada"
    with pytest.raises(ExternalServiceError) as told:
        await fake.get(service, "/customers/2", {})
    assert (told.value.status, told.value.retry_after) == (503, 7.0)
    await fake.close()
