"""Retention at run time: the domain runtime prunes old records in the background, and refuses at start-up an
inbox window the broker's redelivery window outlasts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.brokers.nats.broker import NatsBroker
from interlink.adapters.brokers.rabbitmq.broker import RabbitMqBroker
from interlink.adapters.brokers.redis.broker import RedisBroker
from interlink.adapters.brokers.sqlite import SqliteBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.exceptions import ConfigurationError
from interlink.ports.broker import Broker
from interlink.ports.store import AggregateWrite, ChangeSet, InboxMark, Retained
from interlink.runtime import DomainRuntime, Settings
from interlink.runtime.settings import Retention
from interlink.testing.fakes import FakeExternalServices
from interlink.testing.waiting import wait_until
from tests.support.notifications import loans

MARKS = 2_500


def _record(kind: str, id: str, **fields: str) -> AggregateWrite:
    return AggregateWrite(kind, id, 0, 1, json.dumps(fields))


async def test_the_runtime_prunes_old_records_in_the_background(tmp_path: Path) -> None:
    """Old inbox marks (in several batches), a stored reply, an ended saga and a stopped process's counters go;
    a running saga stays."""
    domain = loans.domain
    async with SqliteStore(f"sqlite:///{tmp_path}/loans.db", domain=domain.name) as store, MemoryBroker() as broker:
        old = [InboxMark(domain.name, f"m-{n}") for n in range(MARKS)]
        writes = [
            _record("~reply", "cmd-1", outcome="confirmed"),
            _record("~saga", "s-ended", status="compensated"),
            _record("~saga", "s-running", status="running"),
            _record(loans.copy.aggregate_name(), "c-1", status="completed"),
            _record("~counters:loans.customers", "delivery-stopped"),
        ]
        await store.commit([ChangeSet(inbox=old, writes=writes)])
        retention = Retention(
            inbox=0.01, idempotency=0.01, replies=0.01, sagas=0.01, counters=0.01, interval=0.02, batch=1000
        )
        runtime = DomainRuntime(domain, store, broker, Settings(retention=retention), external=FakeExternalServices())
        assert runtime.pruner is not None
        await runtime.start()
        try:
            await wait_until(
                lambda: runtime.pruner and runtime.pruner.pruned[Retained.INBOX] == MARKS, 10, what="prune"
            )
            await wait_until(lambda: runtime.pruner and runtime.pruner.pruned[Retained.SAGA] == 1, 10, what="saga")
            await wait_until(lambda: runtime.pruner and runtime.pruner.pruned[Retained.REPLY] == 1, 10, what="reply")
            await wait_until(
                lambda: runtime.pruner and runtime.pruner.pruned[Retained.COUNTERS] == 1, 10, what="counters"
            )
            assert await store.seen(domain.name, [m.message_id for m in old]) == set()
            assert await store.load("~reply", "cmd-1") is None
            assert await store.load("~saga", "s-ended") is None
            assert await store.load("~saga", "s-running") is not None
            assert await store.load(loans.copy.aggregate_name(), "c-1") is not None
        finally:
            await runtime.stop()
        assert runtime.pruner.pruned[Retained.SAGA] == 1


def test_no_interval_means_no_pruner() -> None:
    """With the prune interval off, the runtime has no pruner; by default it has one."""
    assert _runtime(MemoryBroker(), Retention(interval=None)).pruner is None
    assert _runtime(MemoryBroker(), Retention()).pruner is not None


@pytest.mark.parametrize(
    "broker",
    [
        SqliteBroker("sqlite:///unused-broker.db?dedupe_window=3600"),
        RedisBroker("redis://127.0.0.1:6379?dedupe_window=3600"),
        NatsBroker("nats://127.0.0.1:4222?dedupe_window=3600"),
    ],
    ids=["sqlite", "redis", "nats"],
)
def test_an_inbox_window_within_the_brokers_redelivery_window_is_refused(broker: Broker) -> None:
    """An inbox kept 30 min on a broker that may redeliver for an hour is refused, naming both windows."""
    with pytest.raises(ConfigurationError, match=r"inbox retention \(1800 s\).*redelivery window.*\(3600 s"):
        _runtime(broker, Retention(inbox=1800))
    with pytest.raises(ConfigurationError, match="inbox retention"):
        _runtime(broker, Retention(inbox=3600))
    # Longer than the broker's window: accepted.
    assert _runtime(broker, Retention(inbox=3601)).pruner is not None


def test_a_broker_that_cannot_tell_accepts_any_inbox_window() -> None:
    """RabbitMQ and the memory broker declare no redelivery window: any inbox window is accepted."""
    for broker in (RabbitMqBroker("amqp://guest:guest@127.0.0.1:5672/"), MemoryBroker()):
        assert broker.redelivery_window is None
        assert _runtime(broker, Retention(inbox=1)).pruner is not None


def test_retention_windows_must_be_positive() -> None:
    """A zero or negative window, interval or batch is a ConfigurationError."""
    for bad in ({"inbox": 0}, {"sagas": -1}, {"interval": 0}, {"batch": 0}):
        with pytest.raises(ConfigurationError):
            Retention(**bad)


def _runtime(broker: Broker, retention: Retention) -> DomainRuntime:
    store = MemoryStore(domain=loans.domain.name)
    return DomainRuntime(loans.domain, store, broker, Settings(retention=retention), external=FakeExternalServices())


async def test_the_runtime_logs_the_retention_of_every_framework_record(caplog: pytest.LogCaptureFixture) -> None:
    """At start a domain runtime logs how long each kind of framework record is kept, pruned or not."""
    caplog.set_level("INFO", logger="interlink.retention")
    retention = Retention(counters=None, interval=60)
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(
            loans.domain, MemoryStore(domain=loans.domain.name), broker, Settings(retention=retention),
            external=FakeExternalServices(),
        )  # fmt: skip
        await runtime.start()
        try:
            await wait_until(lambda: runtime.pruner and runtime.pruner.rounds, 10, what="a round")
        finally:
            await runtime.stop()
    logged = caplog.text
    assert f"retention {loans.domain.name} (pruned every 1m, 1000 rows per batch)" in logged
    for shown in (
        "inbox marks: 7d",
        "ended sagas (~saga): 30d",
        "counters (~counters:*), since last written: for good",
        "outstanding requests (~request): until replied or timed out",
        "inbound files: for good",
    ):
        assert shown in logged, shown
