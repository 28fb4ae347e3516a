"""Metrics over real brokers: the known workload on SQLite stores and RabbitMQ, scraped and parsed; the
backlog each broker reports for the consumer lag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.observability.metrics import disable_metrics, enable_metrics, prometheus_text
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_broker
from interlink.runtime.gauges import StoreGauges
from interlink.testing.waiting import wait_until
from tests.support.metrics_workload import (
    CONSUMED,
    DOMAINS,
    LOANS,
    REPLIES,
    SAGAS,
    SENT,
    parse,
    run_workload,
    total,
)


@pytest.fixture
def metrics_on() -> Iterator[None]:
    """Metrics recorded into a fresh meter provider for this test only."""
    disable_metrics()
    enable_metrics()
    yield
    disable_metrics()


@pytest.mark.parametrize("broker_url", ["rabbitmq"], indirect=True)
async def test_exact_counts_over_rabbitmq(metrics_on: None, broker_url: str, tmp_path: Path) -> None:
    """Sent, consumed, dead letters and saga states are exact over RabbitMQ; the replica lag is populated."""
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url=broker_url, fetch_wait=0.05,
        relay_poll_interval=0.05, service_urls={"loan-api": "http://127.0.0.1:9"},
    )  # fmt: skip
    async with Runtime(DOMAINS, settings) as runtime:
        await run_workload(runtime)
        await StoreGauges(runtime._runtimes.values(), 60).sample()
    found = parse(prometheus_text().decode())
    assert total(found, "messaging_client_sent_messages_total", messaging_system="rabbitmq") == SENT
    assert total(found, "messaging_client_consumed_messages_total", messaging_system="rabbitmq") == CONSUMED
    assert total(found, "interlink_dead_letters_total", messaging_consumer_group_name="audit") == 1
    for state, count in SAGAS.items():
        assert total(found, "interlink_saga_transitions_total", interlink_saga_state=state) == count, state
    assert total(found, "interlink_replica_lag_seconds_count") == LOANS + 1
    assert total(found, "interlink_command_confirmation_latency_seconds_count") == REPLIES
    assert total(found, "interlink_sagas", interlink_saga_state="failed") == 1
    lag = {"messaging_system": "rabbitmq", "messaging_consumer_group_name": "audit"}
    assert [v for n, labels, v in found["interlink_consumer_lag"] if labels.items() >= lag.items()] == [0]


@pytest.mark.parametrize("broker_url", ["embedded", "rabbitmq", "nats"], indirect=True)
async def test_a_broker_reports_the_backlog_of_a_subscription(broker_url: str) -> None:
    """backlog(): two published messages wait for a subscription; once fetched and acked, none (the consumer
    lag gauge reads this)."""
    async with open_broker(broker_url) as broker:
        await broker.subscribe(Subscription("lagging", ("shop.events",), frozenset({"shop.ItemChanged"})))
        await broker.publish([OutgoingMessage(f"m{i}", "shop.events", "shop.ItemChanged", b"{}") for i in range(2)])
        assert await wait_until(lambda: _backlog_is(broker, 2), 10, what="a backlog of 2")
        deliveries: list[Delivery] = []
        while len(deliveries) < 2:
            deliveries += await broker.fetch("lagging", 10, 1.0)
        await broker.ack(deliveries)
        assert await wait_until(lambda: _backlog_is(broker, 0), 10, what="no backlog")


async def _backlog_is(broker: Broker, expected: int) -> bool:
    return await broker.backlog("lagging") == expected
