"""Metrics: a known workload on the memory backends, scraped from /metrics and parsed; the hooks when off."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from interlink.exceptions import ConfigurationError
from interlink.observability.metrics import INSTRUMENTS, disable_metrics, enable_metrics, hooks, prometheus_text
from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import Runtime, Settings
from interlink.runtime.gauges import StoreGauges
from interlink.runtime.http import api_for
from tests.support.metrics_workload import (
    CONSUMED,
    DOMAINS,
    FAILED_REPLIES,
    LOANS,
    REPLIES,
    SAGAS,
    SENT,
    parse,
    run_workload,
    total,
)

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
SETTINGS = dict(fetch_wait=0.05, relay_poll_interval=0.05)
URLS = {"loan-api": "http://127.0.0.1:9"}  # declared for rebuilds, never called here


@pytest.fixture
def metrics_on() -> Iterator[None]:
    """Metrics recorded into a fresh meter provider for this test only."""
    disable_metrics()
    enable_metrics()
    yield
    disable_metrics()


async def test_a_known_workload_scraped_from_metrics_gives_exact_counts(metrics_on: None) -> None:
    """After 6 fat events (one parked) and three sagas, /metrics counts exactly what was sent, consumed, parked
    and how the sagas went, and the replica lag and confirmation latency histograms are populated."""
    runtime = Runtime(DOMAINS, Settings(store_url="memory://", broker_url="memory://", service_urls=URLS, **SETTINGS))  # type: ignore[arg-type]
    async with runtime:
        await run_workload(runtime)
        await StoreGauges(runtime._runtimes.values(), 60).sample()
        app = api_for(runtime._runtimes, ApiSettings())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = parse(response.text)
    system = {"messaging_system": "memory"}
    assert total(found, "messaging_client_sent_messages_total", **system) == SENT
    assert total(found, "messaging_client_sent_messages_total", messaging_destination_name="loan-request.events") == 6
    assert total(found, "messaging_client_consumed_messages_total", **system) == CONSUMED
    assert total(found, "messaging_client_consumed_messages_total", messaging_consumer_group_name="audit") == 6
    assert total(found, "interlink_dead_letters_total") == 1
    assert total(found, "interlink_dead_letters_total", messaging_consumer_group_name="audit",
                 interlink_error_class="permanent", error_type="InvalidPayload") == 1  # fmt: skip
    assert total(found, "interlink_messages_processed_total", interlink_outcome="success") == CONSUMED - 1
    assert total(found, "messaging_process_duration_seconds_count") == CONSUMED
    for state, count in SAGAS.items():
        assert total(found, "interlink_saga_transitions_total", interlink_saga_state=state) == count, state
    assert total(found, "interlink_sagas", interlink_saga_state="running") == 0
    assert total(found, "interlink_sagas", interlink_saga_state="failed") == 1
    assert total(found, "interlink_outbox_depth") == 0
    assert total(found, "interlink_replica_lag_seconds_count", interlink_replica_name="loans") == LOANS + 1
    assert total(found, "interlink_command_confirmation_latency_seconds_count") == REPLIES
    assert (
        total(found, "interlink_command_confirmation_latency_seconds_count", interlink_outcome="failed")
        == FAILED_REPLIES
    )


def test_every_instrument_is_documented_with_its_unit_and_attributes() -> None:
    """docs/observability.md names every metric, its kind and unit, and each of its attributes."""
    text = (DOCS / "observability.md").read_text()
    for spec in INSTRUMENTS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{spec.name}` |")), None)
        assert row is not None, spec.name
        assert f"| {spec.kind} | `{spec.unit}` |" in row, spec.name
        for attribute in spec.attributes:
            assert f"`{attribute}`" in row, (spec.name, attribute)


def test_the_example_alerting_rules_are_valid_yaml_naming_exported_metrics() -> None:
    """docs/alerts.yaml parses as a Prometheus rule file whose expressions use exported metric names."""
    rules = yaml.safe_load((DOCS / "alerts.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {"InterlinkDeadLetters", "InterlinkOutboxStuck", "InterlinkReplicaLag",
                                            "InterlinkSagaFailed"}  # fmt: skip
    assert all(a["expr"].startswith(("interlink_", "sum", "histogram_quantile", "increase", "max")) for a in alerts)


def test_hooks_record_nothing_while_metrics_are_off() -> None:
    """With no recorder installed, the hooks return at once and hand out a shared no-op context."""
    disable_metrics()
    assert hooks.recorder() is None
    assert hooks.publishing("memory", []) is hooks.processing("memory", "x")
    hooks.consumed("memory", "x", 3)
    hooks.dead_lettered("d", "x", "poison", "ValueError: no")


_WITHOUT_SDK = """
import asyncio, sys
# As if interlink[otel] were not installed (the API may still come with another package).
sys.modules.update(dict.fromkeys(["opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client"]))
from interlink.cli.metrics import start_metrics
from interlink.exceptions import ConfigurationError
from interlink.observability.metrics import hooks, metrics_available
from interlink.runtime import Runtime, Settings
from tests.support.metrics_workload import DOMAINS, run_workload

assert not metrics_available()
start_metrics(None)  # metrics simply stay off
assert hooks.recorder() is None
try:
    start_metrics("127.0.0.1:9")
except ConfigurationError as exc:
    assert "interlink[otel]" in str(exc), exc
else:
    raise AssertionError("--metrics without the SDK must fail")

async def main() -> None:
    settings = Settings(store_url="memory://", broker_url="memory://", fetch_wait=0.05, relay_poll_interval=0.05,
                        service_urls={"loan-api": "http://127.0.0.1:9"})
    async with Runtime(DOMAINS, settings) as runtime:
        await run_workload(runtime)

asyncio.run(main())
print("ok")
"""


def test_without_the_sdk_the_workload_runs_and_metrics_stay_off() -> None:
    """With the OpenTelemetry SDK and exporter unimportable, the workload runs, metrics stay off, and
    --metrics fails naming the extra to install."""
    done = subprocess.run([sys.executable, "-c", _WITHOUT_SDK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_metrics_go_to_a_meter_provider_of_the_callers_own() -> None:
    """enable_metrics(provider) records into that provider (an OTLP exporter's, say); no Prometheus text then."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    disable_metrics()
    reader = InMemoryMetricReader()
    enable_metrics(MeterProvider(metric_readers=[reader]))
    try:
        hooks.consumed("nats", "loans", 3)
        with pytest.raises(ConfigurationError, match="enable_metrics"):
            prometheus_text()
        data = reader.get_metrics_data()
    finally:
        disable_metrics()
    assert data is not None
    points = {
        metric.name: [(dict(p.attributes or {}), getattr(p, "value", None)) for p in metric.data.data_points]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    ((attributes, value),) = points["messaging.client.consumed.messages"]
    assert value == 3
    assert attributes["messaging.system"] == "nats"
    assert attributes["messaging.consumer.group.name"] == "loans"
