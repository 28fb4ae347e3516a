"""Metrics of the patterns: notification fetch-back delay, deferred read age and pending flags, External
Service call duration and circuit state, inbound file records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.brokers.sqlite import SqliteBroker
from interlink.adapters.http import ClientPolicy, HttpExternalServices
from interlink.adapters.stores.memory import MemoryStore
from interlink.core.external import ExternalService
from interlink.observability.metrics import disable_metrics, enable_metrics, prometheus_text
from interlink.patterns.inbound_file.declarations import FileLimits
from interlink.ports.broker import Broker, OutgoingMessage, Subscription
from interlink.runtime import DomainRuntime, Settings
from interlink.runtime.gauges import StoreGauges
from interlink.testing.fakes import FakeExternalServices
from interlink.testing.waiting import wait_until
from tests.faults.apps.inbound_app import write_entries
from tests.support import ecst_app as ecst
from tests.support.metrics_workload import parse, total
from tests.support.notifications import loans, notification, payload, pricing
from tests.unit.test_inbound_ingestion import MIXED, Ledger
from tests.unit.test_notification import PATH, Harness, StepClock, harness_for

SUBSCRIPTION = "customer.CustomerChanged"


@pytest.fixture(autouse=True)
def metrics_on() -> Iterator[None]:
    """Metrics recorded into a fresh meter provider for each test."""
    disable_metrics()
    enable_metrics()
    yield
    disable_metrics()


@pytest.fixture
async def eager() -> AsyncIterator[Harness]:
    """The loans domain: an eager notification subscription."""
    async for harness in harness_for(loans):
        yield harness


@pytest.fixture
async def stale() -> AsyncIterator[Harness]:
    """The pricing domain: deferred, serving stale copies when the source is down."""
    async for harness in harness_for(pricing):
        yield harness


def scraped() -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return parse(prometheus_text().decode())


async def test_an_eager_notification_records_its_fetch_back_delay(eager: Harness) -> None:
    """Versions 1 and 2 in one batch: one fetch (answering 2) updates the copy, one fetch-back delay; the
    second and a late third notification fetch and update nothing, and record nothing."""
    eager.fake.set("customer", PATH, payload("42", "Ada", 2))
    await eager.publish(notification("42", 1), notification("42", 2))
    await eager.pump()
    await eager.publish(notification("42", 1))  # older than the copy: nothing fetched, nothing updated
    await eager.pump()
    found = scraped()
    delays = total(
        found, "interlink_notification_fetch_delay_seconds_count", messaging_consumer_group_name=SUBSCRIPTION
    )
    assert delays == eager.fetches() == 1


async def test_deferred_reads_record_the_age_of_the_copy_served(stale: Harness) -> None:
    """A fresh read, a current read and a stale read (source down) each record the age of what they served;
    the sampler counts the pending flag left behind."""
    await stale.publish(notification("42", 1))
    await stale.pump()
    stale.fake.set("customer", PATH, payload("42", "Ada", 1))
    assert await stale.runtime.query(stale.consumer.customer_name, id="42") == "Ada"  # fetched: fresh
    assert await stale.runtime.query(stale.consumer.customer_name, id="42") == "Ada"  # not pending: current
    await stale.publish(notification("42", 2))
    await stale.pump()
    stale.fake.fail("customer", PATH, 503, times=None)
    assert await stale.runtime.query(stale.consumer.customer_name, id="42") == "Ada (stale)"
    await StoreGauges([stale.runtime], 60).sample()
    found = scraped()
    for outcome in ("fresh", "current", "stale"):
        count = total(found, "interlink_deferred_read_age_seconds_count", interlink_outcome=outcome)
        assert count == 1, outcome
    assert total(found, "interlink_deferred_read_age_seconds_sum", interlink_outcome="fresh") == 0
    assert total(found, "interlink_deferred_pending", messaging_consumer_group_name=SUBSCRIPTION) == 1
    assert total(found, "interlink_deferred_oldest_age_seconds", messaging_consumer_group_name=SUBSCRIPTION) >= 0


async def test_external_service_calls_record_their_duration_and_the_circuit_state() -> None:
    """Two failing calls open a circuit of threshold 2: two durations labelled 503, the circuit state 2 (open)."""
    service = ExternalService("customer", resource="/customers/{id}", translate=lambda raw: raw, retries=0)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async def no_wait(seconds: float) -> None:
        return None

    client = HttpExternalServices([service], base_urls={"customer": "http://customer.test"}, environ={},
                                  transport=httpx.MockTransport(answer), policy=ClientPolicy(failure_threshold=2),
                                  sleep=no_wait)  # fmt: skip
    async with client:
        assert total(scraped(), "interlink_external_service_circuit_state") == 0
        for _ in range(2):
            with pytest.raises(Exception, match="503"):
                await client.get(service, "/customers/1", {})
        found = scraped()
    labels = {"interlink_external_service_name": "customer"}
    assert total(found, "interlink_external_service_duration_seconds_count", **labels,
                 http_response_status_code="503") == 2  # fmt: skip
    assert total(found, "interlink_external_service_circuit_state", **labels) == 2


async def test_inbound_file_records_are_counted_accepted_and_rejected(tmp_path: Path) -> None:
    """A file of 10 good rows and 6 bad ones, in batches of 4: 10 accepted and 6 rejected records counted."""
    async with MemoryStore(domain="ledger") as store:
        ledger = Ledger(tmp_path, store, batch_size=4, limits=FileLimits(max_field_chars=200))
        write_entries(ledger.dir / "entries-1.csv", 10, extra=MIXED)
        report = await ledger.ingest("entries-1.csv")
    found = scraped()
    labels = {"interlink_domain": "ledger", "interlink_file_source": "entries"}
    assert total(found, "interlink_file_records_total", **labels, interlink_outcome="accepted") == report.accepted == 10
    assert total(found, "interlink_file_records_total", **labels, interlink_outcome="rejected") == report.rejected == 6


async def test_the_consumer_lag_is_sampled_from_the_broker() -> None:
    """Three notifications waiting: the sampled lag of the subscription is 3; once handled and acked, 0."""
    fake = FakeExternalServices(policy=ClientPolicy(cooldown=0))
    fake.set("customer", PATH, payload("42", "Ada", 3))
    settings = Settings(fetch_wait=0.05, relay_poll_interval=0.05, redrive_interval=None)
    async with MemoryBroker() as broker, MemoryStore(domain=loans.domain.name) as store:
        runtime = DomainRuntime(loans.domain, store, broker, settings, external=fake)
        await runtime.prepare()  # subscribed, nothing consumed yet
        await broker.publish([notification("42", v) for v in (1, 2, 3)])
        gauges = StoreGauges([runtime], 60)
        labels = {"messaging_consumer_group_name": runtime.subscription.name, "messaging_system": "memory"}
        await gauges.sample()
        assert total(scraped(), "interlink_consumer_lag", **labels) == 3
        await runtime.start()
        try:
            await wait_until(lambda: runtime.consumers[0].stats.processed == 3, 10, what="the three handled")
            await gauges.sample()
            assert total(scraped(), "interlink_consumer_lag", **labels) == 0
        finally:
            await runtime.stop()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_broker_counts_what_waits_for_a_subscription_until_acked(kind: str, tmp_path: Path) -> None:
    """backlog(): 2 published messages wait (in flight too) until acked; the embedded and memory brokers agree."""
    broker: Broker = MemoryBroker() if kind == "memory" else SqliteBroker(f"sqlite:///{tmp_path}/bus.db")
    async with broker:
        await broker.subscribe(Subscription("s", ("c",), frozenset({"t"})))
        await broker.publish([OutgoingMessage(f"m{i}", "c", "t", b"{}") for i in range(2)])
        assert await broker.backlog("s") == 2
        deliveries = await broker.fetch("s", 10, 0.5)
        assert await broker.backlog("s") == 2
        await broker.ack(deliveries)
        assert await broker.backlog("s") == 0


async def test_staleness_is_measured_on_the_runtimes_clock() -> None:
    """On a stopped clock shared by producer and replica, the replica lag is 0, whatever the wall clock says."""
    clock = StepClock()
    settings = Settings(fetch_wait=0.05, relay_poll_interval=0.05, service_urls={"loan-api": "http://127.0.0.1:9"})
    async with MemoryBroker() as broker, MemoryStore(domain="loan-request") as a, MemoryStore(domain="credit") as b:
        producer = DomainRuntime(ecst.loans, a, broker, settings, clock=clock)
        replica = DomainRuntime(ecst.credit, b, broker, settings, clock=clock)
        await replica.start()
        await producer.start()
        try:
            await producer.execute(ecst.change_loan, {"id": "L1", "amount": "10", "status": "new"})
            await wait_until(lambda: replica.consumers[0].stats.processed == 1, 10, what="the copy applied")
        finally:
            await producer.stop()
            await replica.stop()
    found = scraped()
    assert total(found, "interlink_replica_lag_seconds_count") == 1
    assert total(found, "interlink_replica_lag_seconds_sum") == 0
